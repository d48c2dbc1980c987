//! The subcommands of the `termmeet` program, one function each; the binary only parses its
//! arguments and calls one of these.

mod logging;
mod settings;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;

use crate::config::ClientConfig;
use crate::headless::bench::BenchOptions;
use crate::headless::runner::{HeadlessOptions, Outcome};
use crate::play::PlayOptions;
use crate::share::TerminalSpec;

pub use logging::{log_to_file, log_to_stderr, QuietStderr};
pub use settings::{effective_config, join_options, Access, IceFlags};

/// What `join` and `demo` are given besides the room.
#[derive(Clone, Debug)]
pub struct MeetingFlags {
    /// `--config`: the config file, when not the platform's default one.
    pub config_file: Option<PathBuf>,
    /// The settings given as flags, over the config file.
    pub flags: ClientConfig,
    /// How to get into a locked server.
    pub access: Access,
    /// What `S` shares.
    pub share: TerminalSpec,
    /// Whether to share it from the start.
    pub share_now: bool,
}

/// What `headless` is given.
#[derive(Clone, Debug)]
pub struct HeadlessRun {
    /// The script file.
    pub script: PathBuf,
    /// The log filter.
    pub log: String,
    /// STUN and TURN servers of our own; they become `options.ice_servers`.
    pub ice: IceFlags,
    /// Everything else the runner takes.
    pub options: HeadlessOptions,
}

/// How long the runtime's remaining tasks get to finish once a command is done, so a
/// stuck one cannot keep the program from exiting.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// `--print-config` without a subcommand: the effective settings as TOML.
pub fn print_config(config_file: Option<&PathBuf>) -> anyhow::Result<()> {
    let effective = effective_config(config_file, ClientConfig::default())?;
    print!("{}", effective.to_toml());
    Ok(())
}

/// `termmeet join`: the meeting in `room`, or with `print_config`, the settings it would
/// use.
pub fn join(
    room: String,
    secret: Option<String>,
    print_config: bool,
    meeting: MeetingFlags,
) -> anyhow::Result<()> {
    if let Err(e) = termmeet_signaling::protocol::check_room_name(&room) {
        anyhow::bail!("{}", e.message);
    }
    let c = effective_config(meeting.config_file.as_ref(), meeting.flags)?;
    if print_config {
        print!("{}", c.to_toml());
        return Ok(());
    }
    let log = log_to_file(c.log_file.clone())?;
    let mut options = join_options(room, secret, meeting.access, c)?;
    (options.share, options.share_now) = (meeting.share, meeting.share_now);
    let _quiet = QuietStderr::to(&log);
    block_on(crate::session::join(options))
}

/// `termmeet demo`: a meeting on this machine with synthetic participants.
pub fn demo(meeting: MeetingFlags) -> anyhow::Result<()> {
    let c = effective_config(meeting.config_file.as_ref(), meeting.flags)?;
    let log = log_to_file(c.log_file.clone())?;
    let mut options = join_options("demo".into(), None, Access::default(), c)?;
    (options.share, options.share_now) = (meeting.share, meeting.share_now);
    let _quiet = QuietStderr::to(&log);
    block_on(crate::session::demo(options))
}

/// `termmeet play`: a clip in this terminal, with `stats` the measurements after it.
pub fn play(options: &PlayOptions, stats: bool) -> anyhow::Result<()> {
    let measured = crate::play::run(options)
        .with_context(|| format!("cannot play {}", options.file.display()))?;
    if stats {
        eprintln!("{measured}");
    }
    Ok(())
}

/// `termmeet ssh`: `args` are ssh's own, then `--`, then the termmeet command to run on the
/// other machine. Returns ssh's exit code.
pub fn ssh(remote_termmeet: &str, args: &[String]) -> anyhow::Result<i32> {
    let split = args.iter().position(|a| a == "--").unwrap_or(args.len());
    let remote = args.get(split + 1..).unwrap_or_default();
    crate::remote::run(remote_termmeet, &args[..split], remote)
}

/// `termmeet completions`: the completion script for `shell` of the program `cli` describes.
pub fn completions(cli: clap::Command, shell: termmeet_signaling::docs::Shell) {
    termmeet_signaling::docs::completions(cli, shell, &mut std::io::stdout());
}

/// `termmeet man`: the man pages of the program `cli` describes, written into `dir`, each
/// path printed.
pub fn man(cli: clap::Command, dir: &Path) -> anyhow::Result<()> {
    for page in termmeet_signaling::docs::man_pages(cli, dir)? {
        println!("{}", page.display());
    }
    Ok(())
}

/// `termmeet devices`: what the system has, with the names the flags take.
pub fn devices() {
    // The sound library's complaints about cards that are not there say nothing the
    // report does not.
    let report = {
        let _quiet = QuietStderr::to(Path::new("/dev/null"));
        crate::media::devices_report()
    };
    print!("{report}");
    if let Some(terminal) = terminal_report() {
        print!("\n{terminal}");
    }
}

/// What this terminal draws, asked of it, when `devices` runs in one: the colour depth and
/// the choice `--graphics auto` makes, with its reason.
fn terminal_report() -> Option<String> {
    use std::io::IsTerminal;
    if !(std::io::stdin().is_terminal() && std::io::stdout().is_terminal()) {
        return None;
    }
    crossterm::terminal::enable_raw_mode().ok()?;
    let tmux = crate::termcaps::in_tmux();
    let questions = crate::termcaps::Questions {
        truecolor: true,
        graphics: true,
        tmux,
    };
    let answers = crate::termcaps::ask(&questions, crate::termcaps::ANSWER_WAIT);
    let _ = crossterm::terminal::disable_raw_mode();
    let (_, why) = answers.choose(tmux);
    let colours = if answers.truecolor() {
        "24-bit (the terminal says so)".to_string()
    } else {
        format!(
            "{:?} (from COLORTERM, TERM, NO_COLOR)",
            crate::render::ColorMode::from_env()
        )
    };
    let cell = answers
        .cell_pixels()
        .map(|(w, h)| format!("\n  cell: {w}x{h} pixels"))
        .unwrap_or_default();
    Some(format!(
        "This terminal (--graphics auto, --colors):\n  graphics: {why}\n  colours: {colours}{cell}\n"
    ))
}

/// `termmeet bench-call`: a measured meeting on loopback, its report printed.
pub fn bench_call(options: &BenchOptions) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new()?;
    let (report, _) = runtime.block_on(crate::headless::bench::run(options))?;
    print!("{report}");
    runtime.shutdown_timeout(SHUTDOWN_GRACE);
    Ok(())
}

/// `termmeet headless`: runs the script and returns the exit code (0 every `expect` held,
/// 1 one failed, 2 the script or the command line could not be used), failures said on
/// standard error.
pub fn headless(run: HeadlessRun) -> anyhow::Result<i32> {
    let ice_servers = match run.ice.ice_servers() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return Ok(2);
        }
    };
    log_to_stderr(&run.log);
    let text = match std::fs::read_to_string(&run.script) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("cannot read the script {}: {e}", run.script.display());
            return Ok(2);
        }
    };
    let options = HeadlessOptions {
        ice_servers,
        ..run.options
    };
    let runtime = tokio::runtime::Runtime::new()?;
    let outcome = runtime.block_on(crate::headless::runner::run_script(&text, &options));
    match &outcome {
        Outcome::Unusable(e) => eprintln!("{}: {e}", run.script.display()),
        Outcome::Ran(r) => {
            for s in r.steps.iter().filter(|s| !s.ok) {
                eprintln!("line {}: {} failed: {}", s.line, s.text, s.detail);
            }
        }
    }
    runtime.shutdown_timeout(SHUTDOWN_GRACE);
    Ok(outcome.exit_code())
}

/// Over SSH with the laptop's sound (`PULSE_SERVER` in an SSH session), PulseAudio's client
/// library must not offer shared memory, which cannot cross the forward. To be called first
/// thing, before any thread starts, for the ALSA plugin that loads the library later.
pub fn prepare_remote_sound() {
    use crate::media::soundlink;
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

/// Runs a meeting on a fresh runtime, then gives what is left of it a moment to end.
fn block_on(meeting: impl std::future::Future<Output = anyhow::Result<()>>) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new()?;
    let result = runtime.block_on(meeting);
    runtime.shutdown_timeout(SHUTDOWN_GRACE);
    result
}
