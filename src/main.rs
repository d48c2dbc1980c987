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
    /// Measure a meeting on this machine: headless participants on loopback, reporting per
    /// receiver the frames received against sent, frame rate and glass-to-glass latency.
    BenchCall {
        /// Participants in the room.
        #[arg(long, default_value_t = 2)]
        participants: usize,
        /// Test-pattern size WxH.
        #[arg(long, default_value = "640x480", value_parser = parse_size)]
        size: (u16, u16),
        /// Frames a second.
        #[arg(long, default_value_t = 30.0)]
        fps: f64,
        /// Camera bitrate, kbit/s.
        #[arg(long, default_value_t = 1000)]
        bitrate_kbps: u32,
        /// Seconds of meeting to measure.
        #[arg(long, default_value_t = 15)]
        seconds: u64,
    },
    /// Join a meeting with no UI and follow a script (see SCRIPT.md): for tests, bots and
    /// load. Exits 0 when every `expect` held, 1 when one failed, 2 when the script or the
    /// command line could not be used.
    Headless {
        /// Signaling server.
        #[arg(long, default_value = "ws://127.0.0.1:8080/ws")]
        server: String,
        /// The script file.
        #[arg(long)]
        script: PathBuf,
        /// Write a JSON report here when the script ends.
        #[arg(long)]
        report: Option<PathBuf>,
        /// Room to join when the script has no `join` line.
        #[arg(long)]
        room: Option<String>,
        /// Name to join as when the script has no `join` line.
        #[arg(long)]
        name: Option<String>,
        /// Picture size of synthetic and camera video, WxH.
        #[arg(long, default_value = "640x480", value_parser = parse_size)]
        video_size: (u16, u16),
        /// Camera frames a second.
        #[arg(long, default_value_t = 30.0)]
        fps: f64,
        /// Camera bitrate, kbit/s.
        #[arg(long, default_value_t = 1000)]
        bitrate_kbps: u32,
        /// Log filter (error, warn, info, debug).
        #[arg(long, default_value = "warn")]
        log: String,
    },
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
        Command::BenchCall {
            participants,
            size,
            fps,
            bitrate_kbps,
            seconds,
        } => {
            let options = termmeet::headless::bench::BenchOptions {
                participants,
                size: (size.0 as usize, size.1 as usize),
                fps,
                bitrate: bitrate_kbps * 1000,
                seconds,
            };
            let runtime = tokio::runtime::Runtime::new()?;
            let (report, _) = runtime.block_on(termmeet::headless::bench::run(&options))?;
            print!("{report}");
            runtime.shutdown_timeout(std::time::Duration::from_secs(2));
            Ok(())
        }
        Command::Headless {
            server,
            script,
            report,
            room,
            name,
            video_size,
            fps,
            bitrate_kbps,
            log,
        } => {
            tracing_subscriber::fmt()
                .with_env_filter(
                    tracing_subscriber::EnvFilter::try_new(&log).unwrap_or_else(|_| "warn".into()),
                )
                .with_writer(std::io::stderr)
                .init();
            let text = match std::fs::read_to_string(&script) {
                Ok(t) => t,
                Err(e) => {
                    eprintln!("cannot read the script {}: {e}", script.display());
                    std::process::exit(2);
                }
            };
            let options = termmeet::headless::runner::HeadlessOptions {
                server,
                room,
                name,
                video_size: (video_size.0 as usize, video_size.1 as usize),
                fps,
                bitrate: bitrate_kbps * 1000,
                report,
            };
            let runtime = tokio::runtime::Runtime::new()?;
            let outcome = runtime.block_on(termmeet::headless::runner::run_script(&text, &options));
            match &outcome {
                termmeet::headless::runner::Outcome::Unusable(e) => {
                    eprintln!("{}: {e}", script.display())
                }
                termmeet::headless::runner::Outcome::Ran(r) => {
                    for s in r.steps.iter().filter(|s| !s.ok) {
                        eprintln!("line {}: {} failed: {}", s.line, s.text, s.detail);
                    }
                }
            }
            runtime.shutdown_timeout(std::time::Duration::from_secs(2));
            std::process::exit(outcome.exit_code());
        }
    }
}
