//! `termmeet`: the command line. Everything but argument parsing lives in the library.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use termmeet::play::{parse_size, PlayOptions};
use termmeet::render::ColorMode;

/// Video meetings in a terminal: your camera, microphone and screen over WebRTC, everyone
/// else drawn as half-block pixels.
#[derive(Parser)]
#[command(version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Play a Y4M clip in this terminal through the meeting's renderer (q quits).
    ///
    /// With --stats, prints frames drawn, render time and bytes written per frame when it
    /// ends. When the output is not a terminal, --size sets the tile to draw into, so
    /// `termmeet play clip.y4m --size 80x24 --stats > /dev/null` measures without one.
    Play {
        /// The clip (YUV4MPEG2, 4:2:0), e.g. from `ffmpeg -i in.mp4 -pix_fmt yuv420p clip.y4m`.
        file: PathBuf,
        /// Print measurements when playback ends.
        #[arg(long)]
        stats: bool,
        /// Tile size COLSxROWS (default: the whole terminal, or 80x24 when not a terminal).
        #[arg(long, value_parser = parse_size)]
        size: Option<(u16, u16)>,
        /// Colour depth: truecolor, 256, 16 or mono (default: from COLORTERM, TERM, NO_COLOR).
        #[arg(long)]
        colors: Option<ColorMode>,
        /// Largest per-channel colour change that leaves a cell as drawn (saves bytes).
        #[arg(long, default_value_t = 8)]
        tolerance: u8,
        /// Play the clip this many times.
        #[arg(long, default_value_t = 1)]
        repeat: u32,
        /// Draw as fast as possible instead of at the clip's frame rate.
        #[arg(long)]
        fast: bool,
    },
    /// List cameras, microphones, speakers and screens, with the names that --camera, --mic,
    /// --speaker and --screen take.
    Devices,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Play {
            file,
            stats,
            size,
            colors,
            tolerance,
            repeat,
            fast,
        } => {
            let options = PlayOptions {
                file,
                size,
                colors,
                tolerance,
                repeat,
                fast,
            };
            let measured = termmeet::play::run(&options)
                .with_context(|| format!("cannot play {}", options.file.display()))?;
            if stats {
                eprintln!("{measured}");
            }
            Ok(())
        }
        Command::Devices => {
            print!("{}", termmeet::media::devices_report());
            Ok(())
        }
    }
}
