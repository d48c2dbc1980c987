//! `termmeet play` as a person runs it: the real binary, a real clip, real terminal bytes.

use std::process::Command;

use termmeet::media::pattern::{PatternStyle, TestPattern};
use termmeet::media::y4m::write_y4m;

fn clip() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("termmeet-play-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("clip.y4m");
    let p = TestPattern::new(320, 240, PatternStyle::hue(3));
    let frames: Vec<_> = (0..15).map(|n| p.frame(n, 0)).collect();
    write_y4m(&path, &frames, 30).unwrap();
    path
}

#[test]
fn plays_into_a_fixed_tile_and_reports_stats() {
    let path = clip();
    let out = Command::new(env!("CARGO_BIN_EXE_termmeet"))
        .args([
            "play",
            path.to_str().unwrap(),
            "--size",
            "40x12",
            "--stats",
            "--colors",
            "truecolor",
            "--fast",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let screen = String::from_utf8_lossy(&out.stdout);
    assert!(
        screen.contains(|c| ('\u{2580}'..='\u{259f}').contains(&c)),
        "block elements drawn"
    );
    assert!(screen.contains("\x1b[38;2;"), "truecolor foreground");
    assert!(screen.contains("48;2;"), "truecolor background");
    let stats = String::from_utf8_lossy(&out.stderr);
    for want in [
        "frames drawn:        15",
        "40x12 cells",
        "bytes/frame:",
        "render time/frame:",
        "PSNR",
    ] {
        assert!(stats.contains(want), "missing {want:?} in\n{stats}");
    }

    let out = Command::new(env!("CARGO_BIN_EXE_termmeet"))
        .args([
            "play",
            path.to_str().unwrap(),
            "--size",
            "40x12",
            "--colors",
            "256",
            "--fast",
        ])
        .output()
        .unwrap();
    let screen = String::from_utf8_lossy(&out.stdout);
    assert!(
        screen.contains("38;5;") && !screen.contains("38;2;"),
        "256-colour output only"
    );
}

#[test]
fn bad_arguments_say_what_is_wrong() {
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_termmeet"))
            .args(args)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?} succeeded");
        String::from_utf8_lossy(&out.stderr).to_string()
    };
    let e = run(&["play", "/nonexistent/clip.y4m", "--size", "80x24"]);
    assert!(
        e.contains("/nonexistent/clip.y4m") && e.contains("cannot open"),
        "{e}"
    );
    let e = run(&["play", "x.y4m", "--size", "80by24"]);
    assert!(e.contains("80by24"), "{e}");
    let e = run(&["play", "x.y4m", "--colors", "lots"]);
    assert!(e.contains("truecolor, 256, 16 or mono"), "{e}");
    // `termmeet ssh` needs the command for the other side after `--`.
    let e = run(&["ssh", "me@box"]);
    assert!(
        e.contains("termmeet ssh [SSH ARGS...] HOST -- join ROOM"),
        "{e}"
    );
    let e = run(&["headless", "--script", "x", "--video-size", "3840x2160"]);
    assert!(e.contains("1920x1080"), "{e}");
    let e = run(&["play", "x.y4m", "--cells", "braille"]);
    assert!(e.contains("quadrant") && e.contains("sextant"), "{e}");
    let e = run(&["join", "room", "--cells", "dots"]);
    assert!(e.contains("half") && e.contains("quadrant"), "{e}");
    let e = run(&["play", "x.y4m", "--graphics", "pixels"]);
    assert!(
        e.contains("auto") && e.contains("kitty") && e.contains("sixel"),
        "{e}"
    );
}

/// Plays the test clip at 40x12 with `cells`, giving the screen and the PSNR reported.
fn play_with_cells(path: &std::path::Path, cells: &str) -> (String, f64) {
    let out = Command::new(env!("CARGO_BIN_EXE_termmeet"))
        .args(["play", path.to_str().unwrap(), "--size", "40x12", "--stats"])
        .args(["--colors", "truecolor", "--fast", "--tolerance", "0"])
        .args(["--cells", cells])
        .output()
        .unwrap();
    let stats = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{stats}");
    let psnr = stats
        .lines()
        .find_map(|l| l.strip_prefix("PSNR vs scaled frame:"))
        .and_then(|v| v.trim().trim_end_matches("dB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no PSNR in\n{stats}"));
    (String::from_utf8_lossy(&out.stdout).to_string(), psnr)
}

#[test]
fn pixels_by_kitty_and_sixel_go_out_as_their_protocols_say() {
    let path = clip();
    for (graphics, start, end) in [
        ("kitty", "\x1b_Ga=T,f=24", "\x1b\\"),
        ("sixel", "\x1bP0;1q", "\x1b\\"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_termmeet"))
            .args(["play", path.to_str().unwrap(), "--size", "40x12", "--stats"])
            .args(["--fast", "--graphics", graphics])
            .output()
            .unwrap();
        let stats = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{stats}");
        let screen = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            screen.matches(start).count(),
            15,
            "{graphics}: one picture a frame"
        );
        assert!(
            screen.ends_with(end),
            "{graphics}: the last picture is closed"
        );
        // 40x12 cells of 10x20 pixels, one row kept free: 400x220, the clip's 4:3 in it.
        assert!(
            stats.contains("picture:             293x220 pixels"),
            "{stats}"
        );
    }
}

#[test]
fn finer_cells_draw_their_block_elements_and_come_closer_to_the_picture() {
    let path = clip();
    let (half_screen, half) = play_with_cells(&path, "half");
    let (quad_screen, quad) = play_with_cells(&path, "quadrant");
    let (sext_screen, sext) = play_with_cells(&path, "sextant");
    let quadrants = [
        '▘', '▝', '▖', '▌', '▞', '▛', '▗', '▚', '▐', '▜', '▄', '▙', '▟',
    ];
    let sextants = |c: char| ('\u{1fb00}'..='\u{1fb3b}').contains(&c);
    assert!(
        !half_screen.contains(quadrants) && !half_screen.contains(sextants),
        "half blocks only with --cells half"
    );
    assert!(quad_screen.contains(quadrants), "quadrant blocks drawn");
    assert!(
        !quad_screen.contains(sextants),
        "no sextants unless asked for"
    );
    assert!(sext_screen.contains(sextants), "sextants drawn");
    // All are measured against the picture at two by six pixels a cell.
    assert!(
        quad >= half + 1.0 && sext >= quad + 1.0,
        "each finer kind should come at least 1 dB closer: half {half:.1} dB, \
         quadrant {quad:.1} dB, sextant {sext:.1} dB"
    );
}

#[test]
fn print_config_layers_file_and_flags() {
    let dir = std::env::temp_dir().join(format!("termmeet-cli-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("config.toml");
    std::fs::write(&file, "name = \"ada\"\ntolerance = 12\n").unwrap();
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_termmeet"))
            .args(args)
            .output()
            .unwrap()
    };
    let out = run(&["--config", file.to_str().unwrap(), "--print-config"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("name = \"ada\"") && text.contains("tolerance = 12"),
        "{text}"
    );
    let out = run(&[
        "--config",
        file.to_str().unwrap(),
        "join",
        "r",
        "--tolerance",
        "3",
        "--print-config",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("tolerance = 3") && text.contains("name = \"ada\""),
        "{text}"
    );
    std::fs::write(&file, "nmae = \"typo\"\n").unwrap();
    let out = run(&["--config", file.to_str().unwrap(), "--print-config"]);
    assert!(!out.status.success());
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(e.contains("config.toml") && e.contains("nmae"), "{e}");
}

#[test]
fn in_tmux_auto_says_what_tmux_lets_through_and_the_picture_still_draws() {
    use crate::common::tmux::Tmux;
    use std::time::{Duration, Instant};
    let path = clip();
    let stats = path.with_file_name("tmux-stats.txt");
    let _ = std::fs::remove_file(&stats);
    // tmux 3.3 answers the device attributes itself, without sixel, and drops kitty's query
    // unless allow-passthrough is on.
    let t = Tmux::start(
        "play-auto",
        &format!(
            "{} play {} --repeat 1000 --colors truecolor --stats 2> {}; sleep 60",
            env!("CARGO_BIN_EXE_termmeet"),
            path.display(),
            stats.display()
        ),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut drawn = t.capture(false);
    while !drawn.contains([
        '▀', '▄', '▌', '▐', '▘', '▝', '▖', '▗', '▚', '▞', '▙', '▛', '▜', '▟',
    ]) {
        assert!(Instant::now() < deadline, "nothing drawn in tmux:\n{drawn}");
        std::thread::sleep(Duration::from_millis(200));
        drawn = t.capture(false);
    }
    t.keys(&["q"]);
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut text = String::new();
    while !text.contains("PSNR") {
        assert!(Instant::now() < deadline, "play did not stop on q:\n{text}");
        std::thread::sleep(Duration::from_millis(200));
        text = std::fs::read_to_string(&stats).unwrap_or_default();
    }
    assert!(
        text.contains(
            "graphics:            cells: tmux lets neither kitty's graphics nor sixel through"
        ),
        "{text}"
    );
    assert!(text.contains("cells, TrueColor"), "{text}");
    // `termmeet devices` in a terminal says the same about it.
    let t = Tmux::start(
        "devices-terminal",
        &format!("{} devices; sleep 60", env!("CARGO_BIN_EXE_termmeet")),
    );
    t.wait_for(
        &[
            "This terminal (--graphics auto, --colors):",
            "graphics: cells: tmux lets neither",
        ],
        false,
        Duration::from_secs(30),
    );
}
