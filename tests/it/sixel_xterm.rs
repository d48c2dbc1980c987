//! Sixel in a real terminal: `termmeet play --graphics auto` in Debian's xterm started as a
//! VT340 (`-ti vt340`, 256 colour registers) under an Xvfb of the test's own, where asking
//! the terminal finds sixel. The screen is
//! captured with `xwd`, cropped to where play says the picture is, and compared with the
//! frame area-averaged to the same pixels; then the same for half blocks.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use termmeet::media::frame::psnr;

/// The screen of the test's X server.
const SCREEN: (usize, usize) = (800, 600);

/// A process killed when dropped, so nothing outlives a failed test.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts Xvfb on the first free display from :150; gives the display and the process.
fn xvfb() -> (String, Killed) {
    for n in 150..250 {
        if Path::new(&format!("/tmp/.X{n}-lock")).exists()
            || Path::new(&format!("/tmp/.X11-unix/X{n}")).exists()
        {
            continue;
        }
        let screen = format!("{}x{}x24", SCREEN.0, SCREEN.1);
        let child = Command::new("Xvfb")
            .args([
                &format!(":{n}"),
                "-screen",
                "0",
                &screen,
                "-nolisten",
                "tcp",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("Xvfb (scripts/setup.sh test installs xvfb)");
        let server = Killed(child);
        let deadline = Instant::now() + Duration::from_secs(15);
        // Up once a client can read its screen.
        while !Command::new("xwd")
            .args(["-root", "-silent", "-display", &format!(":{n}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
        {
            assert!(Instant::now() < deadline, "Xvfb :{n} did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        return (format!(":{n}"), server);
    }
    panic!("no free X display between :150 and :249");
}

/// The clip's first frame area-averaged to `w` x `h` pixels (`h` even), as RGB: what a
/// perfect terminal would show in that place.
fn reference(clip: &Path, w: usize, h: usize) -> Vec<u8> {
    let frame = termmeet::media::y4m::Y4mReader::open(clip)
        .unwrap()
        .read_frame()
        .unwrap()
        .expect("a frame")
        .to_rgb();
    let place = termmeet::render::grid::Placement {
        x: 0,
        y: 0,
        width: w,
        height: h,
    };
    termmeet::render::grid::average(&frame, &place, 1, 2)
        .into_iter()
        .flatten()
        .collect()
}

/// The whole screen as RGB, through `xwd` and ffmpeg.
fn screenshot(display: &str, dir: &Path) -> Vec<u8> {
    let shot = dir.join("shot.xwd");
    let ok = Command::new("xwd")
        .args(["-root", "-silent", "-display", display, "-out"])
        .arg(&shot)
        .status()
        .expect("xwd (scripts/setup.sh test installs x11-apps)")
        .success();
    assert!(ok, "xwd failed");
    rgb_of(&shot)
}

/// An image file as RGB.
fn rgb_of(file: &Path) -> Vec<u8> {
    let out = Command::new("ffmpeg")
        .args(["-loglevel", "error", "-i"])
        .arg(file)
        .args(["-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
        .output()
        .expect("ffmpeg");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// `termmeet play CLIP ARGS` in an 80x24 xterm: the screen while it plays, the picture's
/// place from its statistics (width, height, x, y), and the statistics.
fn play_in_xterm(
    display: &str,
    dir: &Path,
    clip: &Path,
    args: &str,
) -> (Vec<u8>, [usize; 4], String) {
    let stats = dir.join("stats.txt");
    let _ = std::fs::remove_file(&stats);
    let command = format!(
        "exec {} play {} --repeat 300 --colors truecolor --stats {args} 2> {}",
        env!("CARGO_BIN_EXE_termmeet"),
        clip.display(),
        stats.display()
    );
    let xterm = Command::new("xterm")
        .args([
            "-display",
            display,
            "-ti",
            "vt340",
            "-xrm",
            "XTerm*numColorRegisters: 256",
        ])
        .args([
            "-b",
            "0",
            "-bw",
            "0",
            "-geometry",
            "80x24+0+0",
            "-bg",
            "black",
        ])
        .args([
            "-fa",
            "DejaVu Sans Mono",
            "-fs",
            "10",
            "-e",
            "sh",
            "-c",
            &command,
        ])
        .env("TERM", "xterm-256color")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("xterm (scripts/setup.sh test installs it)");
    let mut xterm = Killed(xterm);
    // Wait for the picture, then give it a moment to settle.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let lit = screenshot(display, dir)
            .chunks_exact(3)
            .filter(|p| p.iter().any(|&v| v > 40))
            .count();
        if lit > 20_000 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "nothing drawn in xterm ({args}); play said:\n{}",
            std::fs::read_to_string(&stats).unwrap_or_default()
        );
        if let Some(status) = xterm.0.try_wait().unwrap() {
            panic!(
                "xterm ended ({status}) before drawing ({args}); play said:\n{}",
                std::fs::read_to_string(&stats).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    std::thread::sleep(Duration::from_millis(700));
    let screen = screenshot(display, dir);
    // play ends by itself (300 frames at 30 a second); xterm closes with it.
    let deadline = Instant::now() + Duration::from_secs(40);
    while xterm.0.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "play did not end ({args})");
        std::thread::sleep(Duration::from_millis(200));
    }
    let text = std::fs::read_to_string(&stats).unwrap_or_default();
    let picture = text
        .lines()
        .find_map(|l| l.strip_prefix("picture:"))
        .and_then(|l| {
            let (size, at) = l.trim().split_once(" pixels at ")?;
            let (w, h) = size.split_once('x')?;
            let (x, y) = at.split_once(',')?;
            Some([w, h, x, y].map(|v| v.trim().parse::<usize>().unwrap_or(0)))
        })
        .unwrap_or_else(|| panic!("no picture place in play's statistics:\n{text}"));
    (screen, picture, text)
}

/// The part of the screen at `[w, h, x, y]`.
fn crop(screen: &[u8], [w, h, x, y]: [usize; 4]) -> Vec<u8> {
    assert!(
        x + w <= SCREEN.0 && y + h <= SCREEN.1,
        "picture off the screen"
    );
    (y..y + h)
        .flat_map(|row| {
            let start = (row * SCREEN.0 + x) * 3;
            screen[start..start + w * 3].to_vec()
        })
        .collect()
}

fn still(dir: &Path) -> PathBuf {
    let clip = dir.join("still.y4m");
    let ok = Command::new("ffmpeg")
        .args(["-loglevel", "error", "-y", "-f", "lavfi", "-i"])
        .args([
            "testsrc2=size=640x480:rate=30",
            "-frames:v",
            "1",
            "-pix_fmt",
            "yuv420p",
        ])
        .arg(&clip)
        .status()
        .unwrap()
        .success();
    assert!(ok, "ffmpeg could not make the still");
    clip
}

#[test]
fn sixel_in_xterm_comes_at_least_10_db_closer_than_half_blocks() {
    let dir = std::env::temp_dir().join(format!("termmeet-sixel-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let clip = still(&dir);
    let (display, _xvfb) = xvfb();
    let mut scores = Vec::new();
    // Sixel as `auto` finds it: xterm lists attribute 4 in its device attributes.
    for args in ["--graphics auto", "--cells half --graphics off"] {
        let (screen, mut place, stats) = play_in_xterm(&display, &dir, &clip, args);
        if args == "--graphics auto" {
            assert!(
                stats.contains("graphics:            sixel: the terminal lists sixel"),
                "auto in xterm -ti vt340 should find sixel:\n{stats}"
            );
        }
        assert!(
            place[0] >= 200 && place[1] >= 150,
            "{args}: a small picture: {place:?}"
        );
        place[1] &= !1;
        let shown = crop(&screen, place);
        scores.push(psnr(&shown, &reference(&clip, place[0], place[1])));
    }
    let _ = std::fs::remove_dir_all(&dir);
    let (sixel, half) = (scores[0], scores[1]);
    println!("xterm -ti vt340, 80x24: sixel {sixel:.1} dB, half blocks {half:.1} dB");
    assert!(
        sixel >= half + 10.0,
        "sixel {sixel:.1} dB should be at least 10 dB closer than half blocks {half:.1} dB"
    );
}

/// Where the log says a tile's picture is, in screen pixels (width, height, x, y), from its
/// cell and the cell size it says.
fn picture_in_log(log: &str) -> Option<[usize; 4]> {
    let cell = log.lines().find_map(|l| {
        let (_, rest) = l.split_once("cells of ")?;
        let (w, h) = rest.trim_end_matches(" pixels").split_once('x')?;
        Some((w.parse::<usize>().ok()?, h.parse::<usize>().ok()?))
    })?;
    let line = log.lines().rev().find(|l| l.contains("pixels at cell"))?;
    let (_, size) = line.rsplit_once(": ")?;
    let (size, at) = size.split_once(" pixels at cell ")?;
    let (w, h) = size.split_once('x')?;
    let (x, y) = at.trim().split_once(',')?;
    let n = |t: &str| t.trim().parse::<usize>().ok();
    Some([n(w)?, n(h)?, n(x)? * cell.0, n(y)? * cell.1])
}

#[test]
fn a_meeting_in_xterm_draws_its_video_tile_as_sixel_pixels() {
    use termmeet::call::mesh::Mesh;
    use termmeet::media::y4m::Y4mSource;
    use termmeet::media::VideoSource;
    let dir = std::env::temp_dir().join(format!("termmeet-sixel-meet-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let clip = still(&dir);
    let (display, _xvfb) = xvfb();
    crate::common::block_on(async {
        let server = crate::common::TestServer::start().await;
        let url = server.url();
        // A peer whose camera is the still, at its size and a bitrate it looks good at.
        let mut config = crate::common::participant(&url, "pixels", "still", None);
        config.camera =
            Some(Box::new(Y4mSource::open(&clip, true).unwrap()) as Box<dyn VideoSource>);
        config.video_size = (640, 480);
        config.bitrate = 2_000_000;
        let (_peer, _task) = Mesh::start(config);
        let log = dir.join("join.log");
        let command = format!(
            "exec {} join pixels --server {url} --name viewer --camera none --mic none --speaker none --colors truecolor --log-file {}",
            env!("CARGO_BIN_EXE_termmeet"),
            log.display()
        );
        let xterm = Command::new("xterm")
            .args(["-display", &display, "-ti", "vt340"])
            .args([
                "-xrm",
                "XTerm*numColorRegisters: 256",
                "-b",
                "0",
                "-bw",
                "0",
            ])
            .args(["-geometry", "100x34+0+0", "-bg", "black", "-fg", "white"])
            .args([
                "-fa",
                "DejaVu Sans Mono",
                "-fs",
                "10",
                "-e",
                "sh",
                "-c",
                &command,
            ])
            .env("TERM", "xterm-256color")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("xterm (scripts/setup.sh test installs it)");
        let _xterm = Killed(xterm);
        // Asking the terminal finds sixel, and the peer's picture is placed.
        let deadline = Instant::now() + Duration::from_secs(60);
        let place = loop {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if let (true, Some(place)) = (
                text.contains("video tiles as pixels: sixel: the terminal lists sixel"),
                picture_in_log(&text),
            ) {
                break place;
            }
            assert!(
                Instant::now() < deadline,
                "no sixel picture placed; the log says:\n{text}"
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
        };
        assert!(
            place[0] >= 300 && place[1] >= 200,
            "a small picture: {place:?}"
        );
        // The decoded still settles within a few seconds; the best of the screenshots
        // taken over them is what the tile shows.
        let reference = reference(&clip, place[0], place[1] & !1);
        let mut best = 0.0f64;
        for _ in 0..20 {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let mut at = place;
            at[1] &= !1;
            let shown = crop(&screenshot(&display, &dir), at);
            best = best.max(psnr(&shown, &reference));
            if best >= 30.0 {
                break;
            }
        }
        println!("a meeting's tile in xterm -ti vt340 as sixel: {best:.1} dB against the still");
        // Quadrant cells come to about 23 dB, half blocks 20 (see the test above).
        assert!(best >= 30.0, "the tile is {best:.1} dB from the still");
    });
    let _ = std::fs::remove_dir_all(&dir);
}
