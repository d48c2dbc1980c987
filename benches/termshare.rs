//! A terminal shared as text, measured on recorded sessions (`benches/data/*.cast`,
//! asciicast v2, 100x30): an editing session in vim and `top` redrawing ten times a second.
//!
//! - Replay: each recording's output goes through the sharer's VT parser and the `term`
//!   channel's encoder at its recorded timing (virtual time, batched every 33 ms as a
//!   sharer does), and through a viewer's decoder. Wire bytes a second, updates a second,
//!   and whether the viewer's cells equal the sharer's after every update.
//! - Latency: two participants on loopback (an in-process server, real WebRTC); the sharer
//!   types into `cat` and the time until the viewer's screen shows each key is taken.
//! - Pixels: the same editing session in an xterm under Xvfb, captured and encoded as a
//!   screen share is (H.264 at the screen's frame rate and bitrate), when `xterm` is there
//!   (`scripts/setup.sh bench`).
//!
//! `cargo bench --bench termshare` (under `scripts/services.sh`, as `make bench` runs it).
//! `cargo bench --bench termshare -- record` records the sessions again (needs vim and top).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use termmeet::share::wire::{Decoder, Encoder};
use termmeet::share::TermScreen;

#[path = "termshare/record.rs"]
mod record;
#[path = "termshare/room.rs"]
mod room;

const SIZE: (u16, u16) = (100, 30);
/// Estimated bytes each channel message adds on the wire: an SCTP common header and DATA
/// chunk (28), a DTLS record with AES-GCM (29), UDP and IPv4 (28), and a share of the
/// peer's SACKs (8).
const PACKET_OVERHEAD: usize = 93;

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/data")
}

/// Output at seconds since the start.
type Events = Vec<(f64, Vec<u8>)>;

/// A recording.
struct Cast {
    events: Events,
}

fn read_cast(path: &Path) -> Cast {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let mut events = Vec::new();
    for line in text.lines().skip(1) {
        let v: serde_json::Value = serde_json::from_str(line).expect("a cast line is JSON");
        if v[1] == "o" {
            let t = v[0].as_f64().unwrap_or(0.0);
            events.push((t, v[2].as_str().unwrap_or("").as_bytes().to_vec()));
        }
    }
    Cast { events }
}

/// A small deterministic random number source for the synthetic sessions.
struct Lcg(u32);

impl Lcg {
    fn next(&mut self, below: u32) -> u32 {
        self.0 = self.0.wrapping_mul(1_103_515_245).wrapping_add(12345);
        (self.0 >> 16) % below
    }
}

/// htop's screen redrawn ten times a second for `seconds`: two CPU meters and memory as
/// coloured bars, a load line, and 24 processes sorted by CPU whose figures change every
/// time (so rows move as well as change), all redrawn from the top as htop does.
fn htop_like(seconds: u32) -> Cast {
    let mut rng = Lcg(3);
    let commands = [
        "cargo test --workspace",
        "rustc --crate-name termmeet",
        "chromium --headless",
        "pulseaudio --daemonize=no",
        "Xvfb :91 -screen 0",
        "sshd: dev@pts/0",
        "tmux new -s pair",
        "vim src/share/wire.rs",
        "termmeet join standup",
        "termmeet-signaling",
        "bash",
        "systemd-journald",
        "containerd",
        "node server.js",
        "postgres: writer",
        "redis-server",
        "python3 -m http.server",
        "ffmpeg -i talk.mp4",
        "rust-analyzer",
        "git fetch --all",
        "make test",
        "top",
        "less README.md",
        "ssh build-box",
    ];
    let mut events = Vec::new();
    for frame in 0..seconds * 10 {
        let mut out = String::from("\x1b[H");
        for cpu in 1..=2 {
            let busy = rng.next(100) as usize;
            let bar = busy * 40 / 100;
            let user = bar * 2 / 3;
            out += &format!(
                "\x1b[1;36m{cpu:>3}\x1b[0m[\x1b[32m{}\x1b[31m{}\x1b[0m{}\x1b[1m{busy:>5}.{}%\x1b[0m]\x1b[K\r\n",
                "|".repeat(user),
                "|".repeat(bar - user),
                " ".repeat(40 - bar),
                rng.next(10)
            );
        }
        let mem = 20 + rng.next(5) as usize;
        out += &format!(
            "\x1b[1;36mMem\x1b[0m[\x1b[32m{}\x1b[34m||\x1b[33m|||\x1b[0m{}\x1b[1m{}.{}G/24.0G\x1b[0m]\x1b[K\r\n",
            "|".repeat(mem),
            " ".repeat(35 - mem),
            3 + rng.next(2),
            rng.next(10)
        );
        out += &format!(
            "  Tasks: \x1b[1m{}\x1b[0m, {} thr; \x1b[1;32m{}\x1b[0m running   Load average: \x1b[1m{}.{:02} {}.{:02}\x1b[0m\x1b[K\r\n\r\n",
            140 + rng.next(10),
            600 + rng.next(50),
            1 + rng.next(3),
            rng.next(3),
            rng.next(100),
            rng.next(3),
            rng.next(100)
        );
        out += "\x1b[30;42m    PID USER       PRI  NI  VIRT   RES   SHR S  CPU% MEM%   TIME+  Command\x1b[K\x1b[0m\r\n";
        let mut procs: Vec<(u32, usize)> =
            (0..commands.len()).map(|i| (rng.next(1000), i)).collect();
        procs.sort_by_key(|p| std::cmp::Reverse(p.0));
        for (cpu, i) in procs {
            let state = if cpu > 500 { "\x1b[1;32mR\x1b[0m" } else { "S" };
            out += &format!(
                "{:>7} \x1b[36mdev\x1b[0m        20   0 {:>5}M {:>5}M {:>5}M {state} {:>3}.{} {:>4}.{} {:>2}:{:02}.{:02} \x1b[1m{}\x1b[0m\x1b[K\r\n",
                1000 + i * 37,
                100 + i * 13,
                20 + i * 7,
                5 + i * 3,
                cpu / 10,
                cpu % 10,
                i % 5,
                rng.next(10),
                frame / 600,
                (frame / 10) % 60,
                rng.next(100),
                commands[i]
            );
        }
        out += "\x1b[J";
        events.push((f64::from(frame) / 10.0, out.into_bytes()));
    }
    Cast { events }
}

/// What replaying a recording through the `term` channel cost.
struct Replay {
    seconds: f64,
    raw_bytes: usize,
    wire_bytes: usize,
    messages: usize,
    mismatches: usize,
    last_equal: bool,
}

/// Replays `cast` as a sharer and a viewer would see it, on virtual time: the driver looks
/// every 10 ms and sends at most every 33 ms, as `call/termshare.rs` does.
fn replay(cast: &Cast) -> Replay {
    let mut parser = vt100::Parser::new(SIZE.1, SIZE.0, 0);
    let (mut enc, mut dec) = (Encoder::new(), Decoder::new());
    let base = Instant::now();
    let end = cast.events.last().map(|e| e.0).unwrap_or(0.0);
    let (mut next, mut now) = (0, 0.0);
    let mut last_sent: Option<f64> = None;
    let mut out = Replay {
        seconds: end,
        raw_bytes: 0,
        wire_bytes: 0,
        messages: 0,
        mismatches: 0,
        last_equal: false,
    };
    let mut screen = std::sync::Arc::new(TermScreen::from_vt(parser.screen(), ""));
    let mut changed = true;
    while now <= end + 1.0 {
        while next < cast.events.len() && cast.events[next].0 <= now {
            parser.process(&cast.events[next].1);
            out.raw_bytes += cast.events[next].1.len();
            changed = true;
            next += 1;
        }
        if last_sent.is_none_or(|t| now >= t + 0.033) {
            if changed {
                screen = std::sync::Arc::new(TermScreen::from_vt(parser.screen(), ""));
                changed = false;
            }
            let at = base + Duration::from_secs_f64(now);
            if let Some(m) = enc.screen(&screen, None, at) {
                out.wire_bytes += m.len();
                out.messages += 1;
                dec.feed(&m)
                    .expect("the viewer reads what the sharer sends");
                if dec.screen() != Some(&*screen) {
                    out.mismatches += 1;
                }
                last_sent = Some(now);
            }
        }
        now += 0.010;
    }
    out.last_equal = dec.screen() == Some(&TermScreen::from_vt(parser.screen(), ""));
    out
}

/// The three sessions.
fn sessions() -> Vec<(&'static str, Cast)> {
    vec![
        (
            "typing in vim (recorded), 100x30",
            read_cast(&data_dir().join("editing-vim-100x30.cast")),
        ),
        (
            "top -d 0.1 (recorded), 100x30",
            read_cast(&data_dir().join("top-100x30.cast")),
        ),
        (
            "htop-like redraw at 10/s (generated), 100x30",
            htop_like(20),
        ),
    ]
}

fn print_replays() {
    let sessions = sessions();
    println!("| session | length | program output | wire (payload) | wire (with packet headers) | updates | viewer equal after every update |");
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    let mut mesh = Vec::new();
    for (name, cast) in &sessions {
        let r = replay(cast);
        let per_s = |b: usize| b as f64 / r.seconds / 1000.0;
        mesh.push(per_s(r.wire_bytes + r.messages * PACKET_OVERHEAD));
        println!(
            "| {name} | {:.1} s | {:.2} kB/s | {:.2} kB/s | {:.2} kB/s | {:.1}/s | {} |",
            r.seconds,
            per_s(r.raw_bytes),
            per_s(r.wire_bytes),
            per_s(r.wire_bytes + r.messages * PACKET_OVERHEAD),
            r.messages as f64 / r.seconds,
            if r.mismatches == 0 && r.last_equal {
                "yes".to_string()
            } else {
                format!("no ({} differed)", r.mismatches)
            }
        );
    }
    println!();
    println!("Through the signaling server (a room on the SFU):");
    println!();
    println!("| session | per viewer (JSON frames) | per viewer (with packet headers) | messages | sharer's upload, 12 in the room | sharer's upload in a 12-person mesh | viewer equal after every update |");
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    for ((name, cast), mesh) in sessions.iter().zip(mesh) {
        println!("{}", room::row(name, &room::replay_room(cast), mesh));
    }
}

/// Keystroke at the sharer to the key on the viewer's screen, over real WebRTC on loopback.
async fn latency() {
    use termmeet::call::mesh::{Mesh, MeshCommand, MeshConfig};
    use termmeet::share::TerminalSpec;
    let server = termmeet_signaling::spawn_loopback(termmeet_signaling::ServerConfig::default())
        .await
        .expect("an in-process server");
    let config = |name: &str| MeshConfig {
        join: termmeet::signaling::JoinParams {
            url: server.url(),
            room: "latency".into(),
            name: name.into(),
            ..Default::default()
        },
        camera: None,
        microphone: None,
        screen: None,
        video_size: (320, 240),
        fps: 15.0,
        bitrate: 200_000,
        bind: vec!["127.0.0.1:0".into()],
        ice_servers: Vec::new(),
        playback: None,
        processing: Default::default(),
    };
    let (sharer, sharer_task) = Mesh::start(config("sharer"));
    let (viewer, viewer_task) = Mesh::start(config("viewer"));
    sharer.command(MeshCommand::ShareTerminal(Some(TerminalSpec {
        command: "exec cat".into(),
        size: SIZE,
    })));
    let row_of = |m: &Mesh| {
        m.read(|s| {
            s.peers
                .values()
                .find_map(|p| p.terminal.as_ref().map(|t| t.screen.text()))
        })
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while row_of(&viewer).is_none() {
        assert!(
            Instant::now() < deadline,
            "the viewer never saw the terminal"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut samples = Vec::new();
    let mut seed = 11u32;
    for i in 0..80 {
        seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
        tokio::time::sleep(Duration::from_millis(80 + u64::from(seed >> 16) % 170)).await;
        let key = (b'a' + (i % 26) as u8) as char;
        let typed = |text: String| text.chars().filter(|c| !c.is_whitespace()).count();
        let before = typed(row_of(&viewer).unwrap_or_default());
        let t0 = Instant::now();
        sharer.command(MeshCommand::TerminalKeys {
            to: None,
            bytes: key.to_string().into_bytes(),
        });
        loop {
            let now = row_of(&viewer).unwrap_or_default();
            if typed(now) > before {
                samples.push(t0.elapsed());
                break;
            }
            assert!(t0.elapsed() < Duration::from_secs(5), "a key never arrived");
            tokio::time::sleep(Duration::from_micros(500)).await;
        }
        if i % 60 == 59 {
            sharer.command(MeshCommand::TerminalKeys {
                to: None,
                bytes: b"\r".to_vec(),
            });
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }
    samples.sort();
    let pct = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    println!(
        "keystroke at the sharer to the viewer's screen, loopback, {} keys: p50 {:.1} ms, p95 {:.1} ms, max {:.1} ms",
        samples.len(),
        pct(0.5).as_secs_f64() * 1e3,
        pct(0.95).as_secs_f64() * 1e3,
        pct(1.0).as_secs_f64() * 1e3
    );
    sharer.command(MeshCommand::Leave);
    viewer.command(MeshCommand::Leave);
    let _ = tokio::time::timeout(Duration::from_secs(5), sharer_task).await;
    let _ = tokio::time::timeout(Duration::from_secs(5), viewer_task).await;
}

/// Plays a recording to stdout at its own pace (inside the xterm).
fn play_to_stdout(path: &Path) {
    let cast = read_cast(path);
    let start = Instant::now();
    let mut out = std::io::stdout();
    for (t, bytes) in &cast.events {
        std::thread::sleep(Duration::from_secs_f64(*t).saturating_sub(start.elapsed()));
        let _ = out.write_all(bytes);
        let _ = out.flush();
    }
    std::thread::sleep(Duration::from_secs(2));
}

/// The editing session as pixels: an xterm of the same size under Xvfb, captured and
/// encoded as a screen share, and what a 100x30 tile of half blocks can show of it.
fn pixels() {
    use termmeet::call::stats::SCREEN_BITRATE;
    use termmeet::media::frame::I420Frame;
    use termmeet::media::h264::{EncoderSettings, H264Encoder};
    use termmeet::media::screen::ScreenSource;
    use termmeet::media::sources::SCREEN_FPS;
    let xterm = std::process::Command::new("sh")
        .args(["-c", "command -v xterm"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !xterm || std::env::var_os("DISPLAY").is_none() {
        println!("pixels: skipped (needs xterm and an X display: scripts/setup.sh bench, scripts/services.sh)");
        return;
    }
    let cast = data_dir().join("editing-vim-100x30.cast");
    let me = std::env::current_exe().expect("this program");
    let mut term = std::process::Command::new("xterm")
        .args(["-geometry", "100x30+0+0", "-fn", "6x13", "-e"])
        .arg(&me)
        .arg("play")
        .arg(&cast)
        .spawn()
        .expect("xterm starts");
    let mut screen = match ScreenSource::open(None, SCREEN_FPS, (1280, 720), false) {
        Ok(s) => s,
        Err(e) => {
            println!("pixels: skipped (cannot capture the screen: {e})");
            let _ = term.kill();
            let _ = term.wait();
            return;
        }
    };
    let mut encoder = H264Encoder::new(EncoderSettings {
        bitrate_bps: SCREEN_BITRATE,
        fps: SCREEN_FPS as f32,
    })
    .expect("an encoder");
    let (mut bytes, mut frames) = (0usize, 0usize);
    let start = Instant::now();
    let length = Duration::from_secs(38);
    let mut last = None;
    while start.elapsed() < length {
        let t = Instant::now();
        if let Ok(full) = screen.capture_rgb() {
            // The xterm's window: 100 columns of 6 pixels and 30 rows of 13, and its border.
            let (w, h) = (604.min(full.width) & !1, 394.min(full.height) & !1);
            let mut crop = termmeet::media::RgbFrame::solid(w, h, [0, 0, 0]);
            for y in 0..h {
                let src = &full.data[y * full.width * 3..y * full.width * 3 + w * 3];
                crop.data[y * w * 3..(y + 1) * w * 3].copy_from_slice(src);
            }
            if let Ok(e) = encoder.encode(&I420Frame::from_rgb(&crop)) {
                bytes += e.data.len();
                frames += 1;
            }
            last = Some(crop);
        }
        std::thread::sleep(Duration::from_secs_f64(1.0 / SCREEN_FPS).saturating_sub(t.elapsed()));
    }
    let _ = term.kill();
    let _ = term.wait();
    let seconds = start.elapsed().as_secs_f64();
    // What a 100x30 tile of half blocks holds of the last picture: only block characters.
    let readable = last
        .map(|frame| {
            let area = ratatui::layout::Rect::new(0, 0, SIZE.0, SIZE.1);
            let mut buf = ratatui::buffer::Buffer::empty(area);
            let mut r =
                termmeet::render::HalfBlockRenderer::new(termmeet::render::ColorMode::TrueColor, 0);
            r.render_limited(&frame, area, &mut buf, usize::MAX, 0);
            let grid: String = (0..area.height)
                .flat_map(|y| (0..area.width).map(move |x| (x, y)))
                .map(|(x, y)| buf[(x, y)].symbol().to_string())
                .collect();
            grid.chars().filter(|c| c.is_alphanumeric()).count()
        })
        .unwrap_or(0);
    println!(
        "pixels: the same session in an xterm (604x394) as a screen share: {:.1} kB/s of H.264 at {} fps ({} pictures, {:.0} kbit/s target); letters or digits a 100x30 half-block tile shows of it: {readable}",
        bytes as f64 / seconds / 1000.0,
        SCREEN_FPS,
        frames,
        f64::from(SCREEN_BITRATE) / 1000.0
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--list") {
        return;
    }
    if args.iter().any(|a| a == "record") {
        record::record_all();
        return;
    }
    if let Some(i) = args.iter().position(|a| a == "play") {
        play_to_stdout(Path::new(&args[i + 1]));
        return;
    }
    print_replays();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(latency());
    pixels();
}
