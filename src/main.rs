//! `termmeet`: the command line. Everything but argument parsing lives in the library
//! (`termmeet::commands`, a function a subcommand).

use std::path::PathBuf;

use clap::{CommandFactory, Parser, Subcommand};
use termmeet::commands::{self, Access, HeadlessRun, IceFlags, MeetingFlags};
use termmeet::config::ClientConfig;
use termmeet::media::sources::parse_picture_size;
use termmeet::play::{parse_size, PlayOptions};
use termmeet::render::{CellKind, ColorMode};

/// Checks a colour mode name, keeping the text for the config.
fn parse_colors(text: &str) -> Result<String, String> {
    text.parse::<ColorMode>().map(|_| text.to_string())
}

/// Checks a kind of cell, keeping the text for the config.
fn parse_cells(text: &str) -> Result<String, String> {
    text.parse::<CellKind>().map(|_| text.to_string())
}

/// Checks a graphics mode, keeping the text for the config.
fn parse_graphics(text: &str) -> Result<String, String> {
    text.parse::<termmeet::termcaps::Graphics>()
        .map(|_| text.to_string())
}

/// Video meetings in a terminal: your camera, microphone and screen over WebRTC, everyone
/// else drawn as block-character pixels.
#[derive(Parser)]
#[command(version)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Print the effective settings (shipped defaults, then the config file, then flags) as
    /// TOML and exit.
    #[arg(long, global = true)]
    print_config: bool,
    /// The config file (default: config.toml in the platform's config directory, e.g.
    /// ~/.config/termmeet/config.toml). It holds defaults for join's and demo's flags.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
}

/// Flags shared by `join` and `demo`.
#[derive(clap::Args, Clone)]
struct MeetingArgs {
    /// Your display name (default: your login name).
    #[arg(long)]
    name: Option<String>,
    /// Camera by number or name (see `termmeet devices`), or `none`.
    #[arg(long)]
    camera: Option<String>,
    /// Microphone by name (see `termmeet devices`), or `none`.
    #[arg(long)]
    mic: Option<String>,
    /// Speaker by name (see `termmeet devices`), or `none`.
    #[arg(long)]
    speaker: Option<String>,
    /// X display to share with `s` (default: $DISPLAY).
    #[arg(long)]
    screen: Option<String>,
    /// Colour depth: truecolor, 256, 16 or mono (default: from COLORTERM, TERM, NO_COLOR).
    #[arg(long, value_parser = parse_colors)]
    colors: Option<String>,
    /// Largest per-channel colour change that leaves a cell as drawn (saves bytes; default 8).
    #[arg(long)]
    tolerance: Option<u8>,
    /// Characters to draw video with: quadrant (four pixels a cell, the default except on
    /// the Linux console), half (two, for a font without quadrant blocks) or sextant (six,
    /// for a font with Unicode's Symbols for Legacy Computing).
    #[arg(long, value_parser = parse_cells)]
    cells: Option<String>,
    /// Video tiles as real pixels: auto (ask the terminal, the default), kitty (kitty,
    /// WezTerm, Ghostty), sixel (xterm -ti vt340, foot, mlterm) or off (cells).
    #[arg(long, value_parser = parse_graphics)]
    graphics: Option<String>,
    /// Terminal byte budget in kbit/s (over SSH): frame rate drops first, then colours.
    #[arg(long)]
    max_tty_kbps: Option<u64>,
    /// Log file (default: termmeet.log in the platform's state directory, e.g.
    /// ~/.local/state/termmeet/termmeet.log). Logs never go to the screen.
    #[arg(long)]
    log_file: Option<PathBuf>,
    /// Share a terminal as text from the start, running COMMAND through `sh -c` (without
    /// one: your $SHELL). `S` in the meeting shares one later, and stops it.
    #[arg(long, value_name = "COMMAND", num_args = 0..=1, default_missing_value = "")]
    share_terminal: Option<String>,
    /// Size of the terminal you share, COLSxROWS (default 100x30).
    #[arg(long, value_name = "COLSxROWS", value_parser = termmeet::share::host::parse_size)]
    share_size: Option<(u16, u16)>,
    #[command(flatten)]
    ice: IceArgs,
    #[command(flatten)]
    processing: ProcessingArgs,
}

/// The microphone's audio processing (for `join`, `demo` and `headless`).
#[derive(clap::Args, Clone, Default)]
struct ProcessingArgs {
    /// Echo cancellation, on or off (default on): the far end's voices are taken out of
    /// what your microphone hears, so speakers work without headphones.
    #[arg(long, value_name = "on|off")]
    echo_cancel: Option<termmeet::config::OnOff>,
    /// Noise suppression (default on, which is both): webrtc takes out steady background
    /// noise (fans, traffic, a café), both then key clicks between words too; rnnoise is
    /// RNNoise alone, which takes down every sound that is not a voice, tones and music too.
    #[arg(long, value_name = "on|off|webrtc|rnnoise|both")]
    noise_suppression: Option<termmeet::config::NoiseChoice>,
    /// Automatic gain control, on or off (default on): a quiet or distant voice is brought up
    /// to a steady level.
    #[arg(long, value_name = "on|off")]
    auto_gain: Option<termmeet::config::OnOff>,
}

/// How to get into a server that is locked (for `join` and `headless`).
#[derive(clap::Args, Clone, Default)]
struct AccessArgs {
    /// A join token from the meeting's organiser (`termmeet-signaling token`), for a server
    /// that needs one.
    #[arg(long, env = "TERMMEET_TOKEN")]
    token: Option<String>,
    /// Trust the CA certificates (PEM) in this file for a wss:// server, besides the
    /// system's.
    #[arg(long)]
    ca_file: Option<PathBuf>,
    /// Trust exactly the wss:// server certificate with this SHA-256 fingerprint (what a
    /// self-signed server prints when it starts).
    #[arg(long)]
    server_fingerprint: Option<String>,
    /// Keep media end to end: this client does not take the SFU, so a room on a server
    /// with one stays a mesh while you are in it (every other participant then sends to
    /// you directly).
    #[arg(long)]
    end_to_end: bool,
}

/// STUN and TURN servers of your own (for `join`, `demo` and `headless`).
#[derive(clap::Args, Clone, Default)]
struct IceArgs {
    /// A STUN or TURN server to use besides the ones the signaling server hands out, like
    /// turn:relay.example.org:3478. Repeat for more.
    #[arg(long = "ice-server")]
    ice_server: Vec<String>,
    /// User name for the `turn:` servers given with --ice-server.
    #[arg(long)]
    turn_username: Option<String>,
    /// Credential for the `turn:` servers given with --ice-server.
    #[arg(long)]
    turn_credential: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Join a meeting: your camera, microphone and screen, everyone else's video and sound.
    /// Keys: m mic, v camera, s screen, h hand, c chat, ? help, q leave.
    Join(JoinArgs),
    /// A meeting on this machine with nothing set up: an embedded server, two synthetic
    /// participants and you. Works without a camera or a sound card.
    Demo {
        #[command(flatten)]
        meeting: MeetingArgs,
    },
    /// Play a Y4M clip in this terminal through the meeting's renderer (q quits).
    ///
    /// With --stats, prints frames drawn, render time and bytes written per frame when it
    /// ends. When the output is not a terminal, --size sets the tile to draw into, so
    /// `termmeet play clip.y4m --size 80x24 --stats > /dev/null` measures without one.
    Play(PlayArgs),
    /// List cameras, microphones, speakers and screens, with the names that --camera, --mic,
    /// --speaker and --screen take.
    Devices,
    /// Print the shell completion script (bash, zsh, fish, elvish or powershell), e.g.
    /// `termmeet completions bash > ~/.local/share/bash-completion/completions/termmeet`.
    Completions {
        /// The shell.
        shell: termmeet_signaling::docs::Shell,
    },
    /// Write the man pages (termmeet.1 and one per subcommand, like termmeet-join.1) into DIR.
    Man {
        /// Where to write them.
        dir: PathBuf,
    },
    /// Measure a meeting on this machine: headless participants on loopback, reporting per
    /// receiver the frames received against sent, frame rate and glass-to-glass latency.
    BenchCall(BenchCallArgs),
    /// Run termmeet on another machine over SSH with this machine's sound: `termmeet ssh
    /// [SSH ARGS...] HOST -- join ROOM [ARGS]`. This machine's PulseAudio (or PipeWire-Pulse)
    /// socket is forwarded to the other machine for that termmeet's microphone and speaker.
    Ssh {
        /// The termmeet program on HOST, when it is not on the PATH there (like
        /// `~/.cargo/bin/termmeet`).
        #[arg(long, value_name = "PATH", default_value = "termmeet")]
        remote_termmeet: String,
        /// ssh's own arguments, HOST among them (like `-p 2222 me@box`), then `--`, then the
        /// termmeet command to run there (`join ROOM [ARGS]`).
        #[arg(
            required = true,
            trailing_var_arg = true,
            allow_hyphen_values = true,
            value_name = "SSH ARGS... HOST -- join ROOM [ARGS]"
        )]
        args: Vec<String>,
    },
    /// Join a meeting with no UI and follow a script (see docs/script.md): for tests, bots and
    /// load. Exits 0 when every `expect` held, 1 when one failed, 2 when the script or the
    /// command line could not be used.
    Headless(HeadlessArgs),
}

// The flags of `join`; its help text is the doc comment of `Command::Join`.
#[derive(clap::Args)]
struct JoinArgs {
    /// The room (1-64 of A-Z a-z 0-9 . _ -).
    room: String,
    /// Signaling server, like ws://meet.example.org:8080/ws. Give it more than once for the
    /// instances of one cluster: after a lost connection the next one is tried. Without it,
    /// this process serves a private meeting itself (self-signed TLS and a room secret) on
    /// port 8080, or on a free port when something else holds 8080, and shows how others
    /// join.
    #[arg(long)]
    server: Vec<String>,
    /// The room's secret, if it has one. Without --server, the meeting this starts uses
    /// it instead of a random one.
    #[arg(long)]
    secret: Option<String>,
    #[command(flatten)]
    access: AccessArgs,
    #[command(flatten)]
    meeting: MeetingArgs,
}

// The flags of `play`; its help text is the doc comment of `Command::Play`.
#[derive(clap::Args)]
struct PlayArgs {
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
    /// Characters to draw with: quadrant (four pixels a cell; the default except on the
    /// Linux console), half (two) or sextant (six, for fonts that have them).
    #[arg(long)]
    cells: Option<CellKind>,
    /// Real pixels instead of cells: auto (ask the terminal, the default), kitty (kitty's
    /// graphics protocol: kitty, WezTerm, Ghostty, Konsole), sixel (xterm -ti vt340, foot,
    /// mlterm, Windows Terminal) or off.
    #[arg(long, default_value = "auto")]
    graphics: termmeet::play::Graphics,
    /// Play the clip this many times.
    #[arg(long, default_value_t = 1)]
    repeat: u32,
    /// Draw as fast as possible instead of at the clip's frame rate.
    #[arg(long)]
    fast: bool,
}

// The flags of `bench-call`; its help text is the doc comment of `Command::BenchCall`.
#[derive(clap::Args)]
struct BenchCallArgs {
    /// Participants in the room.
    #[arg(long, default_value_t = 2)]
    participants: usize,
    /// Test-pattern size WxH (up to 1920x1080).
    #[arg(long, default_value = "640x480", value_parser = parse_picture_size)]
    size: (usize, usize),
    /// Frames a second.
    #[arg(long, default_value_t = 30.0)]
    fps: f64,
    /// Camera bitrate, kbit/s.
    #[arg(long, default_value_t = 1000)]
    bitrate_kbps: u32,
    /// Seconds of meeting to measure.
    #[arg(long, default_value_t = 15)]
    seconds: u64,
}

// The flags of `headless`; its help text is the doc comment of `Command::Headless`.
#[derive(clap::Args)]
struct HeadlessArgs {
    /// Signaling server. Give it more than once for the instances of one cluster: after a
    /// lost connection the next one is tried.
    #[arg(long, default_value = "ws://127.0.0.1:8080/ws")]
    server: Vec<String>,
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
    /// Picture size of synthetic and camera video, WxH (up to 1920x1080).
    #[arg(long, default_value = "640x480", value_parser = parse_picture_size)]
    video_size: (usize, usize),
    /// Camera frames a second.
    #[arg(long, default_value_t = 30.0)]
    fps: f64,
    /// Camera bitrate, kbit/s.
    #[arg(long, default_value_t = 1000)]
    bitrate_kbps: u32,
    /// Log filter (error, warn, info, debug).
    #[arg(long, default_value = "warn")]
    log: String,
    /// Play what the others send on this speaker (see `termmeet devices`; default: play
    /// nothing). The echo canceller hears it as its far end.
    #[arg(long)]
    speaker: Option<String>,
    #[command(flatten)]
    access: AccessArgs,
    #[command(flatten)]
    ice: IceArgs,
    #[command(flatten)]
    processing: ProcessingArgs,
}

impl MeetingArgs {
    /// What `join` and `demo` take: these flags as settings (over the config file), and the
    /// terminal to share.
    fn into_flags(
        self,
        server: Option<String>,
        config_file: Option<PathBuf>,
        access: Access,
    ) -> MeetingFlags {
        let share = termmeet::share::TerminalSpec {
            command: self.share_terminal.clone().unwrap_or_default(),
            size: self
                .share_size
                .unwrap_or(termmeet::share::host::DEFAULT_SIZE),
        };
        let flags = ClientConfig {
            server,
            name: self.name,
            camera: self.camera,
            mic: self.mic,
            speaker: self.speaker,
            screen: self.screen,
            colors: self.colors,
            tolerance: self.tolerance,
            cells: self.cells,
            graphics: self.graphics,
            max_tty_kbps: self.max_tty_kbps,
            log_file: self.log_file,
            ice_servers: (!self.ice.ice_server.is_empty()).then_some(self.ice.ice_server),
            turn_username: self.ice.turn_username,
            turn_credential: self.ice.turn_credential,
            notify: None,
            clips: None,
            echo_cancel: self.processing.echo_cancel,
            noise_suppression: self.processing.noise_suppression,
            auto_gain: self.processing.auto_gain,
        };
        MeetingFlags {
            config_file,
            flags,
            access,
            share_now: self.share_terminal.is_some(),
            share,
        }
    }
}

impl From<AccessArgs> for Access {
    fn from(a: AccessArgs) -> Access {
        Access {
            token: a.token,
            tls: termmeet::tls::TlsOptions {
                ca_file: a.ca_file,
                fingerprint: a.server_fingerprint,
            },
            end_to_end: a.end_to_end,
        }
    }
}

impl From<IceArgs> for IceFlags {
    fn from(i: IceArgs) -> IceFlags {
        IceFlags {
            servers: i.ice_server,
            turn_username: i.turn_username,
            turn_credential: i.turn_credential,
        }
    }
}

impl From<PlayArgs> for PlayOptions {
    fn from(p: PlayArgs) -> PlayOptions {
        PlayOptions {
            file: p.file,
            size: p.size,
            colors: p.colors,
            tolerance: p.tolerance,
            repeat: p.repeat,
            fast: p.fast,
            cells: p.cells.unwrap_or_else(CellKind::from_env),
            graphics: p.graphics,
        }
    }
}

impl From<BenchCallArgs> for termmeet::headless::bench::BenchOptions {
    fn from(b: BenchCallArgs) -> termmeet::headless::bench::BenchOptions {
        termmeet::headless::bench::BenchOptions {
            participants: b.participants,
            size: b.size,
            fps: b.fps,
            bitrate: b.bitrate_kbps * 1000,
            seconds: b.seconds,
        }
    }
}

impl From<HeadlessArgs> for HeadlessRun {
    fn from(h: HeadlessArgs) -> HeadlessRun {
        let processing = ClientConfig {
            echo_cancel: h.processing.echo_cancel,
            noise_suppression: h.processing.noise_suppression,
            auto_gain: h.processing.auto_gain,
            ..ClientConfig::default()
        }
        .processing();
        let access = Access::from(h.access);
        let options = termmeet::headless::runner::HeadlessOptions {
            server: h.server.join(","),
            room: h.room,
            name: h.name,
            video_size: h.video_size,
            fps: h.fps,
            bitrate: h.bitrate_kbps * 1000,
            report: h.report,
            bind: termmeet::call::link::local_bind_addresses(),
            // Filled from `ice` by `commands::headless`, which reports a bad entry.
            ice_servers: Vec::new(),
            token: access.token,
            tls: access.tls,
            end_to_end: access.end_to_end,
            speaker: h.speaker,
            processing,
        };
        HeadlessRun {
            script: h.script,
            log: h.log,
            ice: h.ice.into(),
            options,
        }
    }
}

fn main() -> anyhow::Result<()> {
    commands::prepare_remote_sound();
    let cli = Cli::parse();
    let Some(command) = cli.command else {
        if cli.print_config {
            return commands::print_config(cli.config.as_ref());
        }
        Cli::parse_from(["termmeet", "--help"]);
        return Ok(());
    };
    match command {
        Command::Join(j) => {
            let server = (!j.server.is_empty()).then(|| j.server.join(","));
            let meeting = j.meeting.into_flags(server, cli.config, j.access.into());
            commands::join(j.room, j.secret, cli.print_config, meeting)
        }
        Command::Demo { meeting } => {
            commands::demo(meeting.into_flags(None, cli.config, Access::default()))
        }
        Command::Play(p) => {
            let stats = p.stats;
            commands::play(&p.into(), stats)
        }
        Command::Ssh {
            remote_termmeet,
            args,
        } => std::process::exit(commands::ssh(&remote_termmeet, &args)?),
        Command::Completions { shell } => {
            commands::completions(Cli::command(), shell);
            Ok(())
        }
        Command::Man { dir } => commands::man(Cli::command(), &dir),
        Command::Devices => {
            commands::devices();
            Ok(())
        }
        Command::BenchCall(b) => commands::bench_call(&b.into()),
        Command::Headless(h) => std::process::exit(commands::headless(h.into())?),
    }
}
