//! Sixel in a real terminal: `termmeet play --graphics auto` in Debian's xterm started as a
//! VT340 (`-ti vt340`, 256 colour registers) under an Xvfb of the test's own, where asking
//! the terminal finds sixel. The screen is captured with `xwd`, cropped to where play says
//! the picture is, and compared with the frame area-averaged to the same pixels; then the
//! same for half blocks. And a meeting's video tile in the same xterm, as sixel pixels.

use std::process::Command;

use crate::common::xscreen::Stage;

/// Debian's xterm as a VT340 with 256 colour registers, `cols` x `rows` at the top left of
/// `display`, running `command` through `sh -c`.
fn xterm(display: &str, (cols, rows): (u16, u16), command: &str) -> Command {
    let mut xterm = Command::new("xterm");
    xterm
        .args(["-display", display, "-ti", "vt340"])
        .args([
            "-xrm",
            "XTerm*numColorRegisters: 256",
            "-b",
            "0",
            "-bw",
            "0",
        ])
        .args(["-geometry", &format!("{cols}x{rows}+0+0")])
        .args(["-bg", "black", "-fg", "white"])
        .args([
            "-fa",
            "DejaVu Sans Mono",
            "-fs",
            "10",
            "-e",
            "sh",
            "-c",
            command,
        ])
        .env("TERM", "xterm-256color");
    xterm
}

#[test]
fn sixel_in_xterm_comes_at_least_10_db_closer_than_half_blocks() {
    let stage = Stage::new("sixel");
    // Sixel as `auto` finds it: xterm lists attribute 4 in its device attributes.
    let (sixel, half) = stage.auto_and_half_blocks(
        "graphics:            sixel: the terminal lists sixel",
        |c| xterm(&stage.display, (80, 24), c),
    );
    println!("xterm -ti vt340, 80x24: sixel {sixel:.1} dB, half blocks {half:.1} dB");
    assert!(
        sixel >= half + 10.0,
        "sixel {sixel:.1} dB should be at least 10 dB closer than half blocks {half:.1} dB"
    );
}

#[test]
fn a_meeting_in_xterm_draws_its_video_tile_as_sixel_pixels() {
    let stage = Stage::new("sixel-meet");
    let best = stage.meeting(
        "video tiles as pixels: sixel: the terminal lists sixel",
        |c| xterm(&stage.display, (100, 34), c),
    );
    println!("a meeting's tile in xterm -ti vt340 as sixel: {best:.1} dB against the still");
    // Quadrant cells come to about 23 dB, half blocks 20 (see the test above).
    assert!(best >= 30.0, "the tile is {best:.1} dB from the still");
}
