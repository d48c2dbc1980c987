//! `termmeet`: the command line. Everything but argument parsing lives in the library.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use termmeet::config::ClientConfig;
use termmeet::media::sources::parse_picture_size;
use termmeet::play::{parse_size, PlayOptions};
use termmeet::render::ColorMode;

/// Checks a colour mode name, keeping the text for the config.
fn parse_colors(text: &str) -> Result<String, String> {
    text.parse::<ColorMode>().map(|_| text.to_string())
}

/// Video meetings in a terminal: your camera, microphone and screen over WebRTC, everyone
/// else drawn as half-block pixels.
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
    /// Noise suppression, on or off (default on): steady background noise (fans, traffic,
    /// a café) is taken out.
    #[arg(long, value_name = "on|off")]
    noise_suppression: Option<termmeet::config::OnOff>,
    /// Automatic gain control, on or off (default on): a quiet or distant voice is brought up
    /// to a steady level.
    #[arg(long, value_name = "on|off")]
    auto_gain: Option<termmeet::config::OnOff>,
}

impl MeetingArgs {
    /// What `S` shares, and whether to share it from the start.
    fn terminal_share(&self) -> (termmeet::share::TerminalSpec, bool) {
        let spec = termmeet::share::TerminalSpec {
            command: self.share_terminal.clone().unwrap_or_default(),
            size: self
                .share_size
                .unwrap_or(termmeet::share::host::DEFAULT_SIZE),
        };
        (spec, self.share_terminal.is_some())
    }
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
}

impl AccessArgs {
    fn tls(&self) -> termmeet::tls::TlsOptions {
        termmeet::tls::TlsOptions {
            ca_file: self.ca_file.clone(),
            fingerprint: self.server_fingerprint.clone(),
        }
    }
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

impl IceArgs {
    fn servers(&self) -> anyhow::Result<Vec<termmeet_signaling::protocol::IceServer>> {
        termmeet::call::link::ice_servers_from(
            &self.ice_server,
            self.turn_username.as_deref(),
            self.turn_credential.as_deref(),
        )
        .map_err(|e| anyhow::anyhow!(e))
    }
}

#[derive(Subcommand)]
enum Command {
    /// Join a meeting: your camera, microphone and screen, everyone else's video and sound.
    /// Keys: m mic, v camera, s screen, h hand, c chat, ? help, q leave.
    Join {
        /// The room (1-64 of A-Z a-z 0-9 . _ -).
        room: String,
        /// Signaling server, like ws://meet.example.org:8080/ws. Without it, one on this
        /// machine's port 8080 is used, or started.
        #[arg(long)]
        server: Option<String>,
        /// The room's secret, if it has one. Without --server, the meeting this starts uses
        /// it instead of a random one.
        #[arg(long)]
        secret: Option<String>,
        #[command(flatten)]
        access: AccessArgs,
        #[command(flatten)]
        meeting: MeetingArgs,
    },
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
    BenchCall {
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
    },
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
    },
}

/// Logs go to a file, never to the terminal the UI draws on.
fn log_to_file(path: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    let path = match path {
        Some(p) => p,
        None => {
            let dirs = directories::ProjectDirs::from("", "", "termmeet").ok_or_else(|| {
                anyhow::anyhow!("no home directory for the log file; give --log-file")
            })?;
            dirs.state_dir()
                .unwrap_or(dirs.cache_dir())
                .join("termmeet.log")
        }
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .with_context(|| format!("cannot open the log file {}", path.display()))?;
    tracing_subscriber::fmt()
        .with_env_filter(
            // The `pulseaudio` crate logs every client it closes (each device listing) as
            // a reactor error; a server that really goes away shows up as a stream error.
            tracing_subscriber::EnvFilter::try_from_env("TERMMEET_LOG")
                .unwrap_or_else(|_| "info,pulseaudio::client::reactor=off".into()),
        )
        .with_ansi(false)
        .with_writer(std::sync::Mutex::new(file))
        .init();
    Ok(path)
}

/// While it lives, what libraries write to standard error (libasound's complaints on a host
/// with no sound card, say) goes to `path` instead of over the meeting; dropped, standard
/// error is as it was, so the errors we print at the end reach the person.
struct QuietStderr {
    saved: Option<std::os::fd::OwnedFd>,
}

impl QuietStderr {
    fn to(path: &std::path::Path) -> QuietStderr {
        use std::os::fd::{AsRawFd, FromRawFd};
        let Ok(file) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        else {
            return QuietStderr { saved: None };
        };
        // SAFETY: dup and dup2 on descriptors we hold; the copy of the old stderr is owned
        // by the guard and put back when it drops.
        unsafe {
            let saved = libc::dup(2);
            if saved < 0 || libc::dup2(file.as_raw_fd(), 2) < 0 {
                return QuietStderr { saved: None };
            }
            QuietStderr {
                saved: Some(std::os::fd::OwnedFd::from_raw_fd(saved)),
            }
        }
    }
}

impl Drop for QuietStderr {
    fn drop(&mut self) {
        use std::os::fd::AsRawFd;
        if let Some(saved) = &self.saved {
            // SAFETY: puts the descriptor saved in `to` back as stderr.
            unsafe {
                libc::dup2(saved.as_raw_fd(), 2);
            }
        }
    }
}

/// The login name of the user running us, from the password database.
fn login_name() -> Option<String> {
    whoami::fallible::username().ok().filter(|n| !n.is_empty())
}

/// The settings: flags over the config file over the shipped defaults.
fn effective_config(
    config_path: Option<&PathBuf>,
    flags: ClientConfig,
) -> anyhow::Result<ClientConfig> {
    let path = config_path.cloned().or_else(termmeet::config::default_path);
    let file = match &path {
        Some(p) => termmeet::config::load(p)?,
        None => ClientConfig::default(),
    };
    Ok(flags.over(file).over(termmeet::config::shipped_defaults()))
}

fn flags_of(server: Option<String>, m: &MeetingArgs) -> ClientConfig {
    ClientConfig {
        server,
        name: m.name.clone(),
        camera: m.camera.clone(),
        mic: m.mic.clone(),
        speaker: m.speaker.clone(),
        screen: m.screen.clone(),
        colors: m.colors.clone(),
        tolerance: m.tolerance,
        max_tty_kbps: m.max_tty_kbps,
        log_file: m.log_file.clone(),
        ice_servers: (!m.ice.ice_server.is_empty()).then(|| m.ice.ice_server.clone()),
        turn_username: m.ice.turn_username.clone(),
        turn_credential: m.ice.turn_credential.clone(),
        notify: None,
        clips: None,
        echo_cancel: m.processing.echo_cancel,
        noise_suppression: m.processing.noise_suppression,
        auto_gain: m.processing.auto_gain,
    }
}

fn join_options(
    room: String,
    secret: Option<String>,
    access: AccessArgs,
    c: ClientConfig,
) -> anyhow::Result<termmeet::session::JoinOptions> {
    let colors = match c.colors.as_deref() {
        None => ColorMode::from_env(),
        Some(text) => text
            .parse()
            .map_err(|e: String| anyhow::anyhow!("colors: {e}"))?,
    };
    let ice_servers = termmeet::call::link::ice_servers_from(
        c.ice_servers.as_deref().unwrap_or_default(),
        c.turn_username.as_deref(),
        c.turn_credential.as_deref(),
    )
    .map_err(|e| anyhow::anyhow!(e))?;
    let processing = c.processing();
    let name = c
        .name
        .or_else(|| std::env::var("USER").ok())
        .or_else(|| std::env::var("LOGNAME").ok())
        .or_else(login_name)
        .unwrap_or_else(|| "guest".into());
    Ok(termmeet::session::JoinOptions {
        processing,
        room,
        server: c.server,
        name,
        secret,
        token: access.token.clone(),
        tls: access.tls(),
        clips: c.clips.clone().unwrap_or_default(),
        camera: c.camera,
        mic: c.mic,
        speaker: c.speaker,
        screen: c.screen,
        ice_servers,
        share: termmeet::share::TerminalSpec::shell(),
        share_now: false,
        draw: termmeet::tui::DrawOptions {
            colors,
            tolerance: c.tolerance.unwrap_or(8),
            max_tty_kbps: c.max_tty_kbps,
            notify: c.notify.unwrap_or(false),
            // SSH does not pass COLORTERM: ask the terminal itself.
            ask_colors: c.colors.is_none() && std::env::var_os("COLORTERM").is_none(),
        },
    })
}

/// Over SSH with the laptop's sound (`PULSE_SERVER` in an SSH session), PulseAudio's client
/// library must not offer shared memory, which cannot cross the forward. Set here, before
/// any thread starts, for the ALSA plugin that loads the library later.
fn prepare_remote_sound() {
    use termmeet::media::soundlink;
    if soundlink::this_sound_link() != soundlink::SoundLink::Thin
        || std::env::var_os("PULSE_CLIENTCONFIG").is_some()
    {
        return;
    }
    let dir = directories::ProjectDirs::from("", "", "termmeet")
        .map(|d| d.state_dir().unwrap_or(d.cache_dir()).to_path_buf())
        .unwrap_or_else(std::env::temp_dir);
    match soundlink::write_remote_client_conf(&dir) {
        Ok(path) => std::env::set_var("PULSE_CLIENTCONFIG", path),
        Err(e) => eprintln!(
            "termmeet: cannot write PulseAudio's client settings in {} ({e}); the laptop's sound may refuse this client",
            dir.display()
        ),
    }
}

fn main() -> anyhow::Result<()> {
    prepare_remote_sound();
    let cli = Cli::parse();
    let Some(command) = cli.command else {
        if cli.print_config {
            let effective = effective_config(cli.config.as_ref(), ClientConfig::default())?;
            print!("{}", effective.to_toml());
            return Ok(());
        }
        Cli::parse_from(["termmeet", "--help"]);
        return Ok(());
    };
    match command {
        Command::Join {
            room,
            server,
            secret,
            access,
            meeting,
        } => {
            if let Err(e) = termmeet_signaling::protocol::check_room_name(&room) {
                anyhow::bail!("{}", e.message);
            }
            let c = effective_config(cli.config.as_ref(), flags_of(server, &meeting))?;
            if cli.print_config {
                print!("{}", c.to_toml());
                return Ok(());
            }
            let log = log_to_file(c.log_file.clone())?;
            let mut options = join_options(room, secret, access, c)?;
            (options.share, options.share_now) = meeting.terminal_share();
            let _quiet = QuietStderr::to(&log);
            let runtime = tokio::runtime::Runtime::new()?;
            let result = runtime.block_on(termmeet::session::join(options));
            runtime.shutdown_timeout(std::time::Duration::from_secs(2));
            result
        }
        Command::Demo { meeting } => {
            let c = effective_config(cli.config.as_ref(), flags_of(None, &meeting))?;
            let log = log_to_file(c.log_file.clone())?;
            let mut options = join_options("demo".into(), None, AccessArgs::default(), c)?;
            (options.share, options.share_now) = meeting.terminal_share();
            let _quiet = QuietStderr::to(&log);
            let runtime = tokio::runtime::Runtime::new()?;
            let result = runtime.block_on(termmeet::session::demo(options));
            runtime.shutdown_timeout(std::time::Duration::from_secs(2));
            result
        }
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
        Command::Ssh {
            remote_termmeet,
            args,
        } => {
            let split = args.iter().position(|a| a == "--").unwrap_or(args.len());
            let remote = args.get(split + 1..).unwrap_or_default();
            let code = termmeet::remote::run(&remote_termmeet, &args[..split], remote)?;
            std::process::exit(code);
        }
        Command::Completions { shell } => {
            use clap::CommandFactory;
            termmeet_signaling::docs::completions(Cli::command(), shell, &mut std::io::stdout());
            Ok(())
        }
        Command::Man { dir } => {
            use clap::CommandFactory;
            for page in termmeet_signaling::docs::man_pages(Cli::command(), &dir)? {
                println!("{}", page.display());
            }
            Ok(())
        }
        Command::Devices => {
            // The sound library's complaints about cards that are not there say nothing the
            // report does not.
            let report = {
                let _quiet = QuietStderr::to(std::path::Path::new("/dev/null"));
                termmeet::media::devices_report()
            };
            print!("{report}");
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
                size,
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
            speaker,
            access,
            ice,
            processing,
        } => {
            let ice_servers = match ice.servers() {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("{e}");
                    std::process::exit(2);
                }
            };
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
                video_size,
                fps,
                bitrate: bitrate_kbps * 1000,
                report,
                bind: termmeet::call::link::local_bind_addresses(),
                ice_servers,
                token: access.token.clone(),
                tls: access.tls(),
                speaker,
                processing: ClientConfig {
                    echo_cancel: processing.echo_cancel,
                    noise_suppression: processing.noise_suppression,
                    auto_gain: processing.auto_gain,
                    ..ClientConfig::default()
                }
                .processing(),
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
