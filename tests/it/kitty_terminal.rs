//! Kitty's graphics protocol in a real kitty: Debian's `kitty` under an Xvfb of the test's
//! own, drawing with Mesa's software OpenGL (`LIBGL_ALWAYS_SOFTWARE`). `termmeet play
//! --graphics auto` finds kitty by its query image and comes far closer to the picture than
//! half blocks in the same window; a meeting's video tile in kitty shows the peer's still.

use std::process::Command;

use crate::common::xscreen::Stage;

/// kitty with no config of the person's, `width` x `height` pixels at the top left of
/// `display` (no window manager places it elsewhere), black, running `command` through
/// `sh -c`.
fn kitty(display: &str, (width, height): (u32, u32), command: &str) -> Command {
    let mut kitty = Command::new("kitty");
    kitty
        .args(["--config", "NONE"])
        .args(["-o", "font_family=DejaVu Sans Mono", "-o", "font_size=10"])
        .args(["-o", "remember_window_size=no"])
        .args(["-o", &format!("initial_window_width={width}")])
        .args(["-o", &format!("initial_window_height={height}")])
        .args(["-o", "background=#000000", "-o", "foreground=#ffffff"])
        .args([
            "-o",
            "window_padding_width=0",
            "-o",
            "placement_strategy=top-left",
        ])
        .args(["sh", "-c", command])
        .env("DISPLAY", display)
        .env("LIBGL_ALWAYS_SOFTWARE", "1")
        .env_remove("TMUX");
    kitty
}

#[test]
fn kitty_graphics_in_kitty_come_at_least_10_db_closer_than_half_blocks() {
    let stage = Stage::new("kitty");
    let (kitty, half) = stage.auto_and_half_blocks(
        "graphics:            kitty: the terminal answered kitty's",
        |c| kitty(&stage.display, (640, 480), c),
    );
    println!("kitty: kitty's graphics {kitty:.1} dB, half blocks {half:.1} dB");
    assert!(
        kitty >= half + 10.0,
        "kitty's graphics {kitty:.1} dB should be at least 10 dB closer than half blocks {half:.1} dB"
    );
}

#[test]
fn a_meeting_in_kitty_draws_its_video_tile_by_kittys_graphics() {
    let stage = Stage::new("kitty-meet");
    let best = stage.meeting(
        "video tiles as pixels: kitty: the terminal answered kitty's graphics query",
        // Small enough that kitty drawing in software keeps up with the pictures on a
        // loaded machine (below five a second termmeet would draw cells, rightly).
        |c| kitty(&stage.display, (640, 440), c),
    );
    println!("a meeting's tile in kitty by kitty's graphics: {best:.1} dB against the still");
    assert!(best >= 30.0, "the tile is {best:.1} dB from the still");
}
