//! The real binary in a pseudo-terminal played by the test:
//! - read at only 20 kB a second, as a slow SSH link would, during two peers' video: a key
//!   is answered on screen within 300 ms, and the bytes written in any second stay within
//!   1.5 times what the reader drained;
//! - a terminal that answers no query at all (no cursor position, no device attributes),
//!   on a host with no sound server: the UI still works, and nothing from the sound library
//!   reaches the screen.
//!
//! The fake terminal answers cursor-position requests once it has read up to them, as a real
//! terminal at the end of a slow link does.

// Opening a pseudo-terminal and making it the child's controlling terminal (in
// `pre_exec`) has no safe form; the workspace denies unsafe everywhere else.
#![allow(unsafe_code)]

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::{assert_held, ran, TestServer};
use termmeet::headless::runner::{run_script, HeadlessOptions};

/// One scenario at a time: each runs three participants, and timings are the point.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Bytes a second the slow terminal reads.
const DRAIN: usize = 20_000;

fn openpty(cols: u16, rows: u16) -> (OwnedFd, OwnedFd) {
    let (mut master, mut slave) = (0, 0);
    let size = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: openpty writes two descriptors we then own; the other pointers are valid or
    // null as it allows.
    let r = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            &size,
        )
    };
    assert_eq!(r, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: both were just opened for us.
    unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) }
}

/// How the fake terminal behaves.
struct Fake {
    /// Bytes a second it reads (`None`: as fast as they come).
    drain: Option<usize>,
    /// Whether it answers cursor-position and device-attribute queries.
    answers: bool,
    /// Whether it says, when asked (XTGETTCAP), that it takes 24-bit colour.
    truecolor: bool,
    /// Environment for the program.
    env: Vec<(&'static str, &'static str)>,
}

/// What the fake terminal saw.
#[derive(Default)]
struct Seen {
    /// Everything read.
    output: Vec<u8>,
    /// When the first and the last bytes were read.
    first: Option<Instant>,
    last: Option<Instant>,
    /// When the help overlay's text was read.
    help_at: Vec<Instant>,
}

/// What a run showed.
struct PtyRun {
    /// From `?` to the help overlay on screen.
    help_latency: Option<Duration>,
    /// The program's own per-second counts: (bytes written, seconds).
    windows: Vec<(u64, f64)>,
    /// Bytes a second the terminal read, on average.
    drained: f64,
    output: Vec<u8>,
    exited_cleanly: bool,
    log: String,
}

/// Runs `termmeet join ROOM` in a pseudo-terminal played by `fake` for about `video_for`,
/// presses `?`, then leaves with `q`, `y`.
async fn run_in_pty(server: &TestServer, room: &str, fake: Fake, video_for: Duration) -> PtyRun {
    let dir = std::env::temp_dir().join(format!("termmeet-pty-{}-{room}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("viewer.log");
    let (master, slave) = openpty(100, 30);
    let slave_fd = slave.as_raw_fd();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_termmeet"));
    cmd.args(["join", room, "--server", &server.url(), "--name", "viewer"])
        .arg("--log-file")
        .arg(&log)
        .env("TERM", "xterm-256color")
        .env_remove("COLORTERM")
        .env_remove("SSH_CONNECTION")
        .env("RUST_LOG", "info");
    for (k, v) in &fake.env {
        cmd.env(k, v);
    }
    // SAFETY: between fork and exec only async-signal-safe calls: a new session with the pty
    // as its controlling terminal, and the pty as standard input, output and error.
    unsafe {
        use std::os::unix::process::CommandExt;
        cmd.pre_exec(move || {
            libc::setsid();
            libc::ioctl(slave_fd, libc::TIOCSCTTY, 0);
            for fd in 0..3 {
                libc::dup2(slave_fd, fd);
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().expect("the termmeet binary runs");
    drop(slave);

    let seen = Arc::new(Mutex::new(Seen::default()));
    let reader_file = std::fs::File::from(master.try_clone().unwrap());
    let mut input = std::fs::File::from(master);
    // Answers and typed keys both go in through the master, in order.
    let (to_input, inputs) = std::sync::mpsc::channel::<&'static [u8]>();
    let keys = to_input.clone();
    let s = Arc::clone(&seen);
    let (drain, answers, truecolor) = (fake.drain, fake.answers, fake.truecolor);
    let reader = std::thread::spawn(move || {
        let mut file = reader_file;
        let mut buf = vec![0u8; 1000];
        let deadline = Instant::now() + Duration::from_secs(90);
        let mut old: usize = 0;
        while Instant::now() < deadline {
            let n = match file.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let now = Instant::now();
            let mut s = s.lock().unwrap();
            s.output.extend_from_slice(&buf[..n]);
            s.first.get_or_insert(now);
            s.last = Some(now);
            // Occurrences that end in what was just read: each counted once, also when
            // cut in two by the reads.
            let from = old.saturating_sub(16);
            let window = &s.output[from..];
            let count = |pattern: &[u8]| {
                window
                    .windows(pattern.len())
                    .enumerate()
                    .filter(|(i, w)| *w == pattern && from + i + pattern.len() > old)
                    .count()
            };
            if truecolor && count(b"\x1bP+q") > 0 {
                let _ = to_input.send(b"\x1bP1+r524742=382F382F38\x1b\\");
            }
            if answers {
                for _ in 0..count(b"\x1b[6n") {
                    let _ = to_input.send(b"\x1b[1;1R");
                }
                if count(b"\x1b[c") > 0 {
                    let _ = to_input.send(b"\x1b[?62;22c");
                }
            }
            // A word only the help overlay shows, and shows unbroken (a space between words
            // may be skipped over when the cell already holds one).
            if count(b"Ctrl-C") > 0 {
                s.help_at.push(now);
            }
            old = s.output.len();
            drop(s);
            if let Some(rate) = drain {
                // Reading n bytes takes n / rate seconds on this link.
                std::thread::sleep(Duration::from_secs_f64(n as f64 / rate as f64));
            }
        }
    });
    let writer = std::thread::spawn(move || {
        for bytes in inputs {
            if input.write_all(bytes).is_err() {
                break;
            }
        }
    });

    tokio::time::sleep(video_for).await;
    assert!(
        seen.lock().unwrap().help_at.is_empty(),
        "help showed before it was asked for"
    );
    let pressed = Instant::now();
    let _ = keys.send(b"?");
    let deadline = Instant::now() + Duration::from_secs(10);
    let shown = loop {
        if let Some(at) = seen.lock().unwrap().help_at.first().copied() {
            break Some(at);
        }
        if Instant::now() > deadline {
            break None;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    tokio::time::sleep(Duration::from_secs(2)).await;
    let _ = keys.send(b"\x1b");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _ = keys.send(b"q");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _ = keys.send(b"y");
    let exited_cleanly = wait_exit(&mut child, Duration::from_secs(20));
    reader.join().unwrap();
    drop(keys);
    let _ = writer.join();

    let log_text = std::fs::read_to_string(&log).unwrap_or_default();
    let windows = log_text
        .lines()
        .filter_map(|l| {
            let rest = l.split("terminal: wrote ").nth(1)?;
            let (bytes, rest) = rest.split_once(" bytes in ")?;
            let secs = rest.split_once('s')?.0;
            Some((bytes.parse().ok()?, secs.parse().ok()?))
        })
        .collect();
    let seen = std::mem::take(&mut *seen.lock().unwrap());
    let secs = seen
        .last
        .zip(seen.first)
        .map_or(1.0, |(l, f)| l.duration_since(f).as_secs_f64().max(1.0));
    let _ = std::fs::remove_dir_all(&dir);
    PtyRun {
        help_latency: shown.map(|at| at.duration_since(pressed)),
        windows,
        drained: seen.output.len() as f64 / secs,
        output: seen.output,
        exited_cleanly,
        log: log_text,
    }
}

/// Two headless peers sending test-pattern video in `room` for `seconds`.
fn two_peers(
    server: &TestServer,
    room: &str,
    seconds: u64,
) -> Vec<tokio::task::JoinHandle<termmeet::headless::runner::Report>> {
    let options = HeadlessOptions {
        server: server.url(),
        video_size: (320, 240),
        fps: 15.0,
        bitrate: 300_000,
        ..HeadlessOptions::default()
    };
    ["ada", "bob"]
        .into_iter()
        .map(|name| {
            let script = format!(
                "join {room} as {name}\nexpect peers 2 within 60s\nwait {seconds}s\nleave\n"
            );
            let o = options.clone();
            tokio::spawn(async move { ran(run_script(&script, &o).await) })
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_get_through_a_slow_terminal_and_writes_follow_its_speed() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let server = TestServer::start().await;
    let peers = two_peers(&server, "slow", 25);
    let fake = Fake {
        drain: Some(DRAIN),
        answers: true,
        truecolor: false,
        env: Vec::new(),
    };
    let mut run = run_in_pty(&server, "slow", fake, Duration::from_secs(14)).await;
    println!(
        "help after {:?}; the terminal drained {:.0} B/s; per second written: {:?}",
        run.help_latency,
        run.drained,
        run.windows
            .iter()
            .map(|(b, s)| (*b as f64 / s) as u64)
            .collect::<Vec<_>>()
    );
    assert!(run.exited_cleanly, "termmeet did not leave on q, y");
    let latency = run.help_latency.expect("the help overlay never appeared");
    assert!(
        latency <= Duration::from_millis(300),
        "the help overlay took {latency:?} to get through"
    );
    assert!(
        run.windows.len() >= 10,
        "too few rate lines in the log:\n{}",
        run.log
    );
    // The first second holds the whole first screen; from then on, writes follow the reader.
    for (bytes, secs) in run.windows.iter().skip(1) {
        let rate = *bytes as f64 / secs;
        assert!(
            rate <= 1.5 * DRAIN as f64,
            "wrote {rate:.0} B/s to a terminal that drains {DRAIN} B/s"
        );
    }
    // Video was drawn, not starved: more than the first screen went out.
    assert!(
        run.output.len() > 3 * DRAIN,
        "only {} bytes drawn",
        run.output.len()
    );
    run.output.clear();
    for peer in peers {
        assert_held("peer", &peer.await.unwrap());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminal_that_answers_nothing_on_a_host_without_sound_still_works() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let server = TestServer::start().await;
    let peers = two_peers(&server, "mute", 20);
    let fake = Fake {
        drain: None,
        answers: false,
        truecolor: false,
        // No sound server: the sound library complains, on stderr if we let it.
        env: vec![("PULSE_SERVER", "unix:/nonexistent/pulse/native")],
    };
    let run = run_in_pty(&server, "mute", fake, Duration::from_secs(12)).await;
    let text = String::from_utf8_lossy(&run.output);
    assert!(
        run.exited_cleanly,
        "termmeet did not leave on q, y:\n{}",
        run.log
    );
    assert!(
        run.help_latency.is_some(),
        "no help overlay from a terminal that answers no queries"
    );
    for noise in [
        "ALSA lib",
        "cannot find card",
        "Error:",
        "could not be read",
    ] {
        assert!(!text.contains(noise), "{noise:?} reached the terminal");
    }
    // Said once, in the status bar, not sprayed over the screen: one line for the sound
    // server that is not there, in place of one for the microphone and one for the speaker.
    assert!(
        text.contains("no sound"),
        "the status bar does not say the sound is missing"
    );
    assert!(!text.contains("no microphone") && !text.contains("no speaker"));
    // The peers' video was drawn, in 256 colours: nothing said 24-bit colour.
    let video_cells = text
        .chars()
        .filter(|c| ('\u{2580}'..='\u{259f}').contains(c))
        .count();
    assert!(video_cells > 500, "no video drawn");
    assert!(text.contains("38;5;") && !text.contains("38;2;"));
    for peer in peers {
        assert_held("peer", &peer.await.unwrap());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminal_that_says_it_takes_24_bit_colour_gets_it_without_colorterm() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let server = TestServer::start().await;
    let peers = two_peers(&server, "rgb", 12);
    let fake = Fake {
        drain: None,
        answers: true,
        truecolor: true,
        env: Vec::new(),
    };
    let run = run_in_pty(&server, "rgb", fake, Duration::from_secs(6)).await;
    let text = String::from_utf8_lossy(&run.output);
    assert!(run.exited_cleanly, "{}", run.log);
    assert!(text.contains("38;2;"), "no 24-bit colour drawn");
    assert!(run.log.contains("24-bit colour"), "{}", run.log);
    for peer in peers {
        assert_held("peer", &peer.await.unwrap());
    }
}

fn wait_exit(child: &mut std::process::Child, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return status.success();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    false
}
