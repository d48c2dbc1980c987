//! The settings a meeting runs with: flags over the config file over the shipped defaults,
//! turned into what `session::join` takes, and the name to join as.

use std::path::PathBuf;

use crate::config::ClientConfig;
use crate::render::ColorMode;
use crate::session::JoinOptions;
use crate::tls::TlsOptions;

/// How to get into a server that is locked: `--token`, `--ca-file` and
/// `--server-fingerprint`.
#[derive(Clone, Debug, Default)]
pub struct Access {
    /// A join token from the meeting's organiser.
    pub token: Option<String>,
    /// How to trust a `wss://` server.
    pub tls: TlsOptions,
    /// Keep media end to end (no SFU while we are in the room).
    pub end_to_end: bool,
}

/// STUN and TURN servers of the person's own: `--ice-server`, `--turn-username` and
/// `--turn-credential`.
#[derive(Clone, Debug, Default)]
pub struct IceFlags {
    /// Each `--ice-server`, as given.
    pub servers: Vec<String>,
    /// The user name for the `turn:` servers.
    pub turn_username: Option<String>,
    /// The credential for the `turn:` servers.
    pub turn_credential: Option<String>,
}

impl IceFlags {
    /// The servers as the links take them; an error names the entry that cannot be used.
    pub fn ice_servers(&self) -> anyhow::Result<Vec<termmeet_signaling::protocol::IceServer>> {
        crate::call::link::ice_servers_from(
            &self.servers,
            self.turn_username.as_deref(),
            self.turn_credential.as_deref(),
        )
        .map_err(|e| anyhow::anyhow!(e))
    }
}

/// The settings: flags over the config file (`config_path`, or the platform's default one)
/// over the shipped defaults.
pub fn effective_config(
    config_path: Option<&PathBuf>,
    flags: ClientConfig,
) -> anyhow::Result<ClientConfig> {
    let path = config_path.cloned().or_else(crate::config::default_path);
    let file = match &path {
        Some(p) => crate::config::load(p)?,
        None => ClientConfig::default(),
    };
    Ok(flags.over(file).over(crate::config::shipped_defaults()))
}

/// What `session::join` and `session::demo` take, from the effective settings `c`. The
/// terminal to share is the person's shell, not shared from the start, until the caller
/// says otherwise.
pub fn join_options(
    room: String,
    secret: Option<String>,
    access: Access,
    c: ClientConfig,
) -> anyhow::Result<JoinOptions> {
    let colors = match c.colors.as_deref() {
        None => ColorMode::from_env(),
        Some(text) => text
            .parse()
            .map_err(|e: String| anyhow::anyhow!("colors: {e}"))?,
    };
    let cells = match c.cells.as_deref() {
        None => crate::render::CellKind::from_env(),
        Some(text) => text
            .parse()
            .map_err(|e: String| anyhow::anyhow!("cells: {e}"))?,
    };
    let graphics = match c.graphics.as_deref() {
        None => crate::termcaps::Graphics::Auto,
        Some(text) => text
            .parse()
            .map_err(|e: String| anyhow::anyhow!("graphics: {e}"))?,
    };
    let ice_servers = crate::call::link::ice_servers_from(
        c.ice_servers.as_deref().unwrap_or_default(),
        c.turn_username.as_deref(),
        c.turn_credential.as_deref(),
    )
    .map_err(|e| anyhow::anyhow!(e))?;
    let processing = c.processing();
    let name = display_name(c.name);
    Ok(JoinOptions {
        processing,
        room,
        server: c.server,
        name,
        secret,
        token: access.token,
        tls: access.tls,
        end_to_end: access.end_to_end,
        clips: c.clips.unwrap_or_default(),
        camera: c.camera,
        mic: c.mic,
        speaker: c.speaker,
        screen: c.screen,
        ice_servers,
        share: crate::share::TerminalSpec::shell(),
        share_now: false,
        draw: crate::tui::DrawOptions {
            colors,
            tolerance: c.tolerance.unwrap_or(8),
            cells,
            graphics,
            max_tty_kbps: c.max_tty_kbps,
            notify: c.notify.unwrap_or(false),
            // SSH does not pass COLORTERM: ask the terminal itself.
            ask_colors: c.colors.is_none() && std::env::var_os("COLORTERM").is_none(),
        },
    })
}

/// The name to join as: the one given, else the login name (from the environment, then
/// the password database), else `guest`.
fn display_name(given: Option<String>) -> String {
    given
        .or_else(|| std::env::var("USER").ok())
        .or_else(|| std::env::var("LOGNAME").ok())
        .or_else(login_name)
        .unwrap_or_else(|| "guest".into())
}

/// The login name of the user running us, from the password database.
fn login_name() -> Option<String> {
    whoami::fallible::username().ok().filter(|n| !n.is_empty())
}
