//! The real binary in a pseudo-terminal whose reader takes in only 20 kB a second, as a
//! slow SSH link would, during two peers' video: a key is answered on screen within 300 ms,
//! and the bytes written in any second stay within 1.5 times what the reader drained.
//! The reader plays the terminal: it answers cursor-position requests once it has read up
//! to them, as a real terminal at the end of a slow link does.

mod common;

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{assert_held, ran, TestServer};
use termmeet::headless::runner::{run_script, HeadlessOptions};

/// Bytes a second the fake terminal reads.
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

/// What the fake terminal saw.
#[derive(Default)]
struct Seen {
    /// Everything read, with when each chunk was read.
    chunks: Vec<(Instant, usize)>,
    /// When each occurrence of the help overlay's text was read.
    help_at: Vec<Instant>,
    total: usize,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_get_through_a_slow_terminal_and_writes_follow_its_speed() {
    let server = TestServer::start().await;
    let options = HeadlessOptions {
        server: server.url(),
        video_size: (320, 240),
        fps: 15.0,
        bitrate: 300_000,
        ..HeadlessOptions::default()
    };
    let script =
        |name: &str| format!("join slow as {name}\nexpect peers 2 within 60s\nwait 25s\nleave\n");
    let (a, b) = (script("ada"), script("bob"));
    let (oa, ob) = (options.clone(), options.clone());
    let ada = tokio::spawn(async move { ran(run_script(&a, &oa).await) });
    let bob = tokio::spawn(async move { ran(run_script(&b, &ob).await) });

    let dir = std::env::temp_dir().join(format!("termmeet-slow-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("viewer.log");
    let (master, slave) = openpty(100, 30);
    let slave_fd = slave.as_raw_fd();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_termmeet"));
    cmd.args([
        "join",
        "slow",
        "--server",
        &server.url(),
        "--name",
        "viewer",
    ])
    .args(["--camera", "none", "--mic", "none", "--speaker", "none"])
    .arg("--log-file")
    .arg(&log)
    .env("TERM", "xterm-256color")
    .env_remove("COLORTERM")
    .env_remove("SSH_CONNECTION")
    .env("RUST_LOG", "info");
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

    // The terminal: reads at DRAIN bytes a second, answers position requests and the
    // device-attributes query when it reaches them.
    let seen = Arc::new(Mutex::new(Seen::default()));
    let reader_file = std::fs::File::from(master.try_clone().unwrap());
    let mut answers = std::fs::File::from(master);
    // Answers and typed keys both go in through the master, in order.
    let (tx_answers, rx_answers) = std::sync::mpsc::channel::<&'static [u8]>();
    let keys = tx_answers.clone();
    let s = Arc::clone(&seen);
    let reader = std::thread::spawn(move || {
        let mut file = reader_file;
        let mut buf = vec![0u8; 1000];
        let mut tail: Vec<u8> = Vec::new();
        let started = Instant::now();
        let deadline = started + Duration::from_secs(40);
        while Instant::now() < deadline {
            let n = match file.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let now = Instant::now();
            let mut window = std::mem::take(&mut tail);
            let old = window.len();
            window.extend_from_slice(&buf[..n]);
            // Occurrences that end in what was just read: each is counted once, also when
            // it was cut in two by the reads.
            let count = |pattern: &[u8]| {
                window
                    .windows(pattern.len())
                    .enumerate()
                    .filter(|(i, w)| *w == pattern && i + pattern.len() > old)
                    .count()
            };
            for _ in 0..count(b"\x1b[6n") {
                let _ = tx_answers.send(b"\x1b[1;1R");
            }
            if count(b"\x1b[c") > 0 {
                let _ = tx_answers.send(b"\x1b[?62;22c");
            }
            {
                let mut s = s.lock().unwrap();
                s.chunks.push((now, n));
                s.total += n;
                // A word only the help overlay shows, and shows unbroken (a space between
                // words may be skipped over when the cell already holds one).
                if count(b"microphone") > 0 {
                    s.help_at.push(now);
                }
            }
            let keep = window.len().min(16);
            tail = window[window.len() - keep..].to_vec();
            // Reading n bytes takes n / DRAIN seconds on this link.
            std::thread::sleep(Duration::from_secs_f64(n as f64 / DRAIN as f64));
        }
    });
    let writer = std::thread::spawn(move || {
        for answer in rx_answers {
            if answers.write_all(answer).is_err() {
                break;
            }
        }
        answers
    });

    // Video from both peers for a while, then `?`.
    tokio::time::sleep(Duration::from_secs(14)).await;
    let before = seen.lock().unwrap().help_at.len();
    assert_eq!(before, 0, "help showed before it was asked for");
    let pressed = Instant::now();
    let _ = keys.send(b"?");
    let deadline = Instant::now() + Duration::from_secs(5);
    let shown = loop {
        if let Some(at) = seen.lock().unwrap().help_at.first().copied() {
            break Some(at);
        }
        if Instant::now() > deadline {
            break None;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let latency = shown.map(|at| at.duration_since(pressed));
    // Let it run on a little, then leave (q, y).
    tokio::time::sleep(Duration::from_secs(3)).await;
    let _ = keys.send(b"\x1b");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _ = keys.send(b"q");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _ = keys.send(b"y");
    let exited = wait_exit(&mut child, Duration::from_secs(20));
    reader.join().unwrap();
    drop(keys);
    drop(writer);

    let log_text = std::fs::read_to_string(&log).unwrap_or_default();
    let windows: Vec<(u64, f64)> = log_text
        .lines()
        .filter_map(|l| {
            let rest = l.split("terminal: wrote ").nth(1)?;
            let (bytes, rest) = rest.split_once(" bytes in ")?;
            let secs = rest.split_once('s')?.0;
            Some((bytes.parse().ok()?, secs.parse().ok()?))
        })
        .collect();
    let (total, read_secs) = {
        let seen = seen.lock().unwrap();
        let secs = seen
            .chunks
            .last()
            .zip(seen.chunks.first())
            .map_or(1.0, |(l, f)| l.0.duration_since(f.0).as_secs_f64().max(1.0));
        (seen.total, secs)
    };
    let drained = total as f64 / read_secs;
    println!(
        "help after {latency:?}; the terminal drained {drained:.0} B/s; per second written: {:?}",
        windows
            .iter()
            .map(|(b, s)| (*b as f64 / s) as u64)
            .collect::<Vec<_>>()
    );
    assert!(exited, "termmeet did not leave on q, y");
    let latency = latency.expect("the help overlay never appeared");
    assert!(
        latency <= Duration::from_millis(300),
        "the help overlay took {latency:?} to get through"
    );
    assert!(
        windows.len() >= 10,
        "too few rate lines in the log:\n{log_text}"
    );
    // The first second holds the whole first screen; from then on, writes follow the reader.
    for (bytes, secs) in windows.iter().skip(1) {
        let rate = *bytes as f64 / secs;
        assert!(
            rate <= 1.5 * DRAIN as f64,
            "wrote {rate:.0} B/s to a terminal that drains {DRAIN} B/s"
        );
    }
    // Video was drawn, not starved: more than the first screen went out.
    assert!(total > 3 * DRAIN, "only {total} bytes drawn");
    assert_held("ada", &ada.await.unwrap());
    assert_held("bob", &bob.await.unwrap());
    let _ = std::fs::remove_dir_all(&dir);
}

fn wait_exit(child: &mut std::process::Child, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    false
}
