//! A real graphical terminal to test pixels in: an Xvfb of the test's own, its screen
//! captured with `xwd` and read through ffmpeg, and the pieces to compare what a terminal
//! shows with the picture it was sent.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use termmeet::media::frame::psnr;

/// The screen of the test's X server.
pub const SCREEN: (usize, usize) = (800, 600);

/// A process stopped when dropped, so nothing outlives a failed test: asked first (so that
/// an X server removes its lock file), killed if it has not gone within two seconds.
pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        if let Some(pid) = rustix::process::Pid::from_raw(self.0.id() as i32) {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
            let deadline = Instant::now() + Duration::from_secs(2);
            while Instant::now() < deadline && matches!(self.0.try_wait(), Ok(None)) {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The next display number a test of this process tries, so that tests running at once do
/// not race for the same one.
static NEXT_DISPLAY: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(150);

/// Starts Xvfb on a free display from :150; gives the display and the process.
pub fn xvfb() -> (String, Killed) {
    for _ in 0..100 {
        // Each try takes a number no other test of this process takes.
        let n = NEXT_DISPLAY.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
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
        let mut server = Killed(child);
        let deadline = Instant::now() + Duration::from_secs(15);
        // Up once a client can read its screen, and it is ours: another process's server
        // on the same display makes ours exit.
        while server.0.try_wait().ok().flatten().is_none()
            && !Command::new("xwd")
                .args(["-root", "-silent", "-display", &format!(":{n}")])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        {
            assert!(Instant::now() < deadline, "Xvfb :{n} did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        std::thread::sleep(Duration::from_millis(300));
        if server.0.try_wait().ok().flatten().is_some() {
            continue;
        }
        return (format!(":{n}"), server);
    }
    panic!("no free X display in a hundred tries from :150");
}

/// The clip's first frame area-averaged to `w` x `h` pixels (`h` even), as RGB: what a
/// perfect terminal would show in that place.
pub fn reference(clip: &Path, w: usize, h: usize) -> Vec<u8> {
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
pub fn screenshot(display: &str, dir: &Path) -> Vec<u8> {
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
pub fn rgb_of(file: &Path) -> Vec<u8> {
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

/// The part of the screen at `[w, h, x, y]`.
pub fn crop(screen: &[u8], [w, h, x, y]: [usize; 4]) -> Vec<u8> {
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

pub fn still(dir: &Path) -> PathBuf {
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

/// Where the log says a tile's picture is, in screen pixels (width, height, x, y), from its
/// cell and the cell size it says.
pub fn picture_in_log(log: &str) -> Option<[usize; 4]> {
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

/// `termmeet play CLIP ARGS` in the terminal `open` gives for a command: the screen while it
/// plays (a few), the picture's place from its statistics (width, height, x, y), and the
/// statistics.
pub fn play_in(
    display: &str,
    dir: &Path,
    clip: &Path,
    args: &str,
    open: impl FnOnce(&str) -> Command,
) -> (Vec<Vec<u8>>, [usize; 4], String) {
    let stats = dir.join("stats.txt");
    let _ = std::fs::remove_file(&stats);
    let command = format!(
        "exec {} play {} --repeat 300 --colors truecolor --stats {args} 2> {}",
        env!("CARGO_BIN_EXE_termmeet"),
        clip.display(),
        stats.display()
    );
    let xterm = open(&command)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the terminal (scripts/setup.sh test installs xterm and kitty)");
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
            "nothing drawn in the terminal ({args}); play said:\n{}",
            std::fs::read_to_string(&stats).unwrap_or_default()
        );
        if let Some(status) = xterm.0.try_wait().unwrap() {
            panic!(
                "the terminal ended ({status}) before drawing ({args}); play said:\n{}",
                std::fs::read_to_string(&stats).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    // Three screenshots a moment apart: a terminal busy with the other tests may show one
    // half drawn.
    let mut screens = Vec::new();
    for _ in 0..3 {
        std::thread::sleep(Duration::from_millis(400));
        screens.push(screenshot(display, dir));
    }
    // play ends by itself (300 frames at 30 a second); the terminal closes with it.
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
    (screens, picture, text)
}
/// The closest any of `screens` comes at `place` to `clip`'s first frame (PSNR, dB).
pub fn best_psnr(screens: &[Vec<u8>], mut place: [usize; 4], clip: &Path) -> f64 {
    place[1] &= !1;
    let reference = reference(clip, place[0], place[1]);
    screens
        .iter()
        .map(|s| psnr(&crop(s, place), &reference))
        .fold(0.0, f64::max)
}

/// A meeting of two: a peer whose camera is `clip`'s still, and `termmeet join` in the
/// terminal `open` gives for a command. Waits until its log says `expect` and where the
/// peer's picture is, and gives the closest the tile came to the still (PSNR, dB) over the
/// screenshots of a few seconds.
pub fn meeting_tile_psnr(
    display: &str,
    dir: &Path,
    clip: &Path,
    expect: &str,
    open: impl FnOnce(&str) -> Command,
) -> f64 {
    use termmeet::call::mesh::Mesh;
    use termmeet::media::y4m::Y4mSource;
    use termmeet::media::VideoSource;
    crate::common::block_on(async {
        let server = crate::common::TestServer::start().await;
        let url = server.url();
        // A peer whose camera is the still, at its size and a bitrate it looks good at.
        let mut config = crate::common::participant(&url, "pixels", "still", None);
        config.camera =
            Some(Box::new(Y4mSource::open(clip, true).unwrap()) as Box<dyn VideoSource>);
        config.video_size = (640, 480);
        config.bitrate = 2_000_000;
        let (_peer, _task) = Mesh::start(config);
        let log = dir.join("join.log");
        let command = format!(
            "exec {} join pixels --server {url} --name viewer --camera none --mic none --speaker none --colors truecolor --log-file {}",
            env!("CARGO_BIN_EXE_termmeet"),
            log.display()
        );
        let terminal = open(&command)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the terminal (scripts/setup.sh test installs xterm and kitty)");
        let _terminal = Killed(terminal);
        // Asking the terminal finds its pixels, and the peer's picture is placed.
        let deadline = Instant::now() + Duration::from_secs(60);
        let place = loop {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if let (true, Some(place)) = (text.contains(expect), picture_in_log(&text)) {
                break place;
            }
            assert!(
                Instant::now() < deadline,
                "no picture placed as {expect:?} says; the log says:\n{text}"
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
        };
        assert!(
            place[0] >= 300 && place[1] >= 200,
            "a small picture: {place:?}"
        );
        // The decoded still settles within a few seconds, and a terminal that took its
        // size late moves the tile once: the best of the screenshots taken over them, each
        // where the log says the picture is then, is what the tile shows.
        let mut best = 0.0f64;
        for _ in 0..20 {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            let mut at = picture_in_log(&text).unwrap_or(place);
            at[1] &= !1;
            let reference = reference(clip, at[0], at[1]);
            let shown = crop(&screenshot(display, dir), at);
            best = best.max(psnr(&shown, &reference));
            if best >= 30.0 {
                break;
            }
        }
        if best < 30.0 {
            // Why, in the client's words: where it placed the picture, and whether it went
            // to cells for a slow terminal.
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            for line in text.lines().filter(|l| l.contains("pixels")) {
                eprintln!("{line}");
            }
        }
        best
    })
}

/// What a pixel test works in: a directory of its own with the still in it, an X server,
/// and one of the two scenario slots (a terminal drawing in software OpenGL is heavy, and
/// the network scenarios' timings should not share the cores with it); the directory goes
/// when dropped.
pub struct Stage {
    pub dir: PathBuf,
    pub clip: PathBuf,
    pub display: String,
    _xvfb: Killed,
    _slot: crate::common::turns::Slot,
}

impl Stage {
    /// A stage for the test `name`.
    pub fn new(name: &str) -> Stage {
        let slot = crate::common::turns::Slot::take();
        let dir = std::env::temp_dir().join(format!("termmeet-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let clip = still(&dir);
        let (display, xvfb) = xvfb();
        Stage {
            dir,
            clip,
            display,
            _xvfb: xvfb,
            _slot: slot,
        }
    }

    /// `termmeet play` of the still in the terminal `open` gives, with `--graphics auto`
    /// (whose statistics must say `expect`) and then with half blocks: the closest each came
    /// to the still (PSNR, dB).
    pub fn auto_and_half_blocks(&self, expect: &str, open: impl Fn(&str) -> Command) -> (f64, f64) {
        let mut scores = Vec::new();
        for args in ["--graphics auto", "--cells half --graphics off"] {
            let (screens, place, stats) =
                play_in(&self.display, &self.dir, &self.clip, args, &open);
            assert!(
                args != "--graphics auto" || stats.contains(expect),
                "auto should find what {expect:?} says:\n{stats}"
            );
            assert!(
                place[0] >= 200 && place[1] >= 150,
                "{args}: a small picture: {place:?}"
            );
            scores.push(best_psnr(&screens, place, &self.clip));
        }
        (scores[0], scores[1])
    }

    /// [`meeting_tile_psnr`] on this stage.
    pub fn meeting(&self, expect: &str, open: impl FnOnce(&str) -> Command) -> f64 {
        meeting_tile_psnr(&self.display, &self.dir, &self.clip, expect, open)
    }
}

impl Drop for Stage {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // Kept for a look: the last screenshot and the client's log.
            eprintln!("the screenshot and log are kept in {}", self.dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}
