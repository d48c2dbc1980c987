//! `termmeet join` and `termmeet demo`: choosing the server, opening the person's devices
//! (falling back to synthetic sources with a notice when one is missing), starting the mesh
//! and the terminal UI.

use std::sync::Arc;
use std::time::Duration;

use crate::app::App;
use crate::call::link::local_bind_addresses;
use crate::call::mesh::{Mesh, MeshCommand, MeshConfig};
use crate::headless::runner::{run_script, HeadlessOptions};
use crate::media::playback::Playback;
use crate::media::soundlink;
use crate::media::sources::{
    camera_or_pattern, mic_or_silence, screen_factory, VideoSpec, DEFAULT_BITRATE, DEFAULT_FPS,
    DEFAULT_VIDEO_SIZE,
};
use crate::signaling::JoinParams;
use crate::tls::TlsOptions;
use crate::tui::{self, DrawOptions};

/// What `join` and `demo` need.
#[derive(Clone, Debug)]
pub struct JoinOptions {
    /// The room.
    pub room: String,
    /// Signaling server URL; `None` serves a private meeting from this process.
    pub server: Option<String>,
    /// Display name.
    pub name: String,
    /// Room secret.
    pub secret: Option<String>,
    /// Join token, for a server that needs one.
    pub token: Option<String>,
    /// How to trust a `wss://` server.
    pub tls: crate::tls::TlsOptions,
    /// Keep media end to end: the room stays a mesh (no SFU) while we are in it.
    pub end_to_end: bool,
    /// Media files the device picker offers.
    pub clips: Vec<std::path::PathBuf>,
    /// Camera by index or name; `Some("none")` sends no video.
    pub camera: Option<String>,
    /// Microphone by name; `Some("none")` sends no audio.
    pub mic: Option<String>,
    /// Speaker by name; `Some("none")` plays nothing.
    pub speaker: Option<String>,
    /// The microphone's audio processing.
    pub processing: crate::media::processing::Features,
    /// X display to share.
    pub screen: Option<String>,
    /// STUN and TURN servers of our own, used besides the server's.
    pub ice_servers: Vec<termmeet_signaling::protocol::IceServer>,
    /// What `S` shares as a terminal.
    pub share: crate::share::TerminalSpec,
    /// Whether to share it from the start (`--share-terminal`).
    pub share_now: bool,
    /// Drawing options.
    pub draw: DrawOptions,
}

/// The port `termmeet join` serves its own meeting on when it is free.
pub const LOCAL_PORT: u16 = 8080;

/// Where `join` meets and how it gets in.
#[derive(Clone, Debug)]
pub struct Venue {
    /// The signaling URL.
    pub url: String,
    /// The room secret to join with.
    pub secret: Option<String>,
    /// How to trust the server.
    pub tls: TlsOptions,
    /// What others need to join, when this process serves the meeting.
    pub invite: Option<Invite>,
    /// A notice for the status bar.
    pub notice: Option<String>,
}

pub use crate::app::Invite;

/// The server named with `--server`, or a private meeting served by this process: a
/// self-signed certificate, a room secret (the one given, or a random one), on every address
/// of this machine at port 8080, or a free port when 8080 is taken.
pub async fn choose_venue(
    room: &str,
    server: Option<&str>,
    secret: Option<&str>,
    tls: &TlsOptions,
) -> anyhow::Result<Venue> {
    if let Some(url) = server {
        return Ok(Venue {
            url: url.to_string(),
            secret: secret.map(str::to_string),
            tls: tls.clone(),
            invite: None,
            notice: None,
        });
    }
    let mut notice = None;
    let listener = match tokio::net::TcpListener::bind(("0.0.0.0", LOCAL_PORT)).await {
        Ok(l) => l,
        Err(e) => {
            let who = what_listens_on(LOCAL_PORT).await;
            tracing::info!("port {LOCAL_PORT} is taken ({e}; {who}); serving on a free port");
            notice = Some(format!("port {LOCAL_PORT} is {who}; using another port"));
            tokio::net::TcpListener::bind("0.0.0.0:0").await?
        }
    };
    let secret = secret.map_or_else(random_secret, str::to_string);
    let port = listener.local_addr()?.port();
    let names = termmeet_signaling::tls::certificate_names(listener.local_addr()?, &[]);
    let tls = termmeet_signaling::tls::ServerTls::self_signed(&names)?;
    let fingerprint = tls.fingerprint().to_string();
    let config = termmeet_signaling::ServerConfig {
        room_secrets: [(room.to_string(), secret.clone())].into(),
        // This server is for this one meeting.
        max_rooms: 1,
        tls: Some(tls),
        ..termmeet_signaling::ServerConfig::default()
    };
    let server = termmeet_signaling::spawn(listener, config)?;
    let host = shared_address().unwrap_or_else(|| "127.0.0.1".into());
    // A secret of the person's own may hold anything: quoted for the shell, encoded for
    // the link.
    let quoted = crate::remote::shell_quote(&secret);
    let encoded = percent_encode(&secret);
    let invite = Invite {
        command: format!(
            "termmeet join {room} --server wss://{host}:{port}/ws --secret {quoted} --server-fingerprint {fingerprint}"
        ),
        page: format!("https://{host}:{port}/?room={room}&secret={encoded}"),
    };
    Ok(Venue {
        url: server.url(),
        secret: Some(secret),
        tls: TlsOptions {
            ca_file: None,
            fingerprint: Some(fingerprint),
        },
        invite: Some(invite),
        notice,
    })
}

/// `text` for a URL's query: unreserved characters as they are, every other byte as `%XX`.
pub fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A room secret nobody will guess: 12 characters of an alphabet without look-alikes
/// (about 60 bits), easy to read out.
pub fn random_secret() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
    let mut rng = rand::rng();
    (0..12)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

/// The address of this machine others on the network most likely reach it at: the first
/// non-loopback IPv4 address.
fn shared_address() -> Option<String> {
    local_bind_addresses()
        .into_iter()
        .filter_map(|a| a.strip_suffix(":0").map(str::to_string))
        .find(|ip| !ip.starts_with('[') && ip != "127.0.0.1")
}

/// What holds a local port, in words: another termmeet server or something else. Asked
/// once, briefly; a stranger on the port is never retried.
pub async fn what_listens_on(port: u16) -> &'static str {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let probe = async {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .ok()?;
        stream
            .write_all(b"GET /healthz HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
            .await
            .ok()?;
        let mut answer = vec![0u8; 2048];
        let n = stream.read(&mut answer).await.ok()?;
        Some(String::from_utf8_lossy(&answer[..n]).to_ascii_lowercase())
    };
    match tokio::time::timeout(Duration::from_secs(1), probe).await {
        Ok(Some(answer)) if answer.contains(termmeet_signaling::SERVER_HEADER) => {
            "held by another termmeet server"
        }
        Ok(Some(answer)) if answer.is_empty() => "held by a program that does not speak HTTP",
        Ok(Some(_)) => "held by a program that is not a termmeet server",
        _ => "taken",
    }
}

/// `termmeet join`.
pub async fn join(options: JoinOptions) -> anyhow::Result<()> {
    let venue = choose_venue(
        &options.room,
        options.server.as_deref(),
        options.secret.as_deref(),
        &options.tls,
    )
    .await?;
    let mut notices: Vec<String> = venue.notice.clone().into_iter().collect();
    let camera = camera_or_pattern(options.camera.as_deref(), &options.name, &mut notices);
    let microphone = mic_or_silence(options.mic.as_deref(), &mut notices);
    let playback = if options.speaker.as_deref() == Some("none") {
        None
    } else {
        match Playback::open(options.speaker.as_deref()) {
            Ok(p) => Some(Arc::new(p)),
            Err(e) => {
                tracing::warn!("speaker: {e}");
                notices.push("no speaker: audio is not played".into());
                None
            }
        }
    };
    // A device that failed because the sound server `PULSE_SERVER` names is away: one line
    // says why, for both. Devices that opened (through PipeWire, say) need no such line.
    let no_device = |n: &String| n.starts_with("no microphone") || n.starts_with("no speaker");
    if notices.iter().any(no_device) {
        if let Some(notice) = soundlink::sound_notice(|k| std::env::var(k).ok()) {
            notices.retain(|n| !no_device(n));
            notices.push(notice);
        }
    }
    let config = MeshConfig {
        join: JoinParams {
            url: venue.url.clone(),
            room: options.room.clone(),
            name: options.name.clone(),
            secret: venue.secret.clone(),
            token: options.token.clone(),
            tls: venue.tls.clone(),
            end_to_end: options.end_to_end,
        },
        camera,
        microphone,
        screen: Some(screen_factory(
            VideoSpec::X11(options.screen.clone()),
            options.name.clone(),
            true,
        )),
        video_size: DEFAULT_VIDEO_SIZE,
        fps: DEFAULT_FPS,
        bitrate: DEFAULT_BITRATE,
        bind: local_bind_addresses(),
        ice_servers: options.ice_servers.clone(),
        playback,
        processing: options.processing,
    };
    let (mesh, task) = Mesh::start(config);
    let mut app = App::new(&options.room);
    app.invite = venue.invite.clone();
    app.clips = options.clips.clone();
    app.share_spec = options.share.clone();
    if options.share_now {
        mesh.command(MeshCommand::ShareTerminal(Some(options.share.clone())));
        app.wait_for_own_share();
    }
    let result = tui::run(app, mesh.clone(), options.draw.clone(), notices).await;
    mesh.command(MeshCommand::Leave);
    let _ = tokio::time::timeout(Duration::from_secs(3), task).await;
    result
}

/// The script of a demo participant: chats now and then, raises a hand, may share a screen.
pub fn demo_script(name: &str, tone: u32, shares_screen: bool) -> String {
    let mut s = format!("join demo as {name}\naudio tone:{tone}\nexpect peers 2 within 60s\n");
    for round in 0..60 {
        s += "wait 6s\n";
        match (round % 4, shares_screen) {
            (0, false) => s += "hand raise\n",
            (0, true) => s += "chat I'll share my screen for a bit\nscreen on\n",
            (1, false) => s += &format!("chat hello from {name}, round {round}\n"),
            (1, true) => s += "wait 10s\nscreen off\n",
            (2, false) => s += "hand lower\n",
            (2, true) => s += "chat the test pattern carries its frame number and capture time\n",
            (3, false) if round % 8 == 3 => {
                s += "chat here is my terminal, shared as text (S shares yours)\n";
                s += "share-terminal command -v top >/dev/null && exec top -d 1 || while sleep 1; do date; done\n";
                s += "wait 15s\nshare-terminal off\n";
            }
            _ => s += "wait 2s\n",
        }
    }
    s += "leave\n";
    s
}

/// `termmeet demo`: an embedded server, two synthetic participants and you.
pub async fn demo(mut options: JoinOptions) -> anyhow::Result<()> {
    let url = termmeet_signaling::spawn_loopback(termmeet_signaling::ServerConfig::default())
        .await?
        .url();
    let headless = HeadlessOptions {
        server: url.clone(),
        video_size: (320, 240),
        fps: 15.0,
        bitrate: 400_000,
        ..HeadlessOptions::default()
    };
    for (name, tone, screen) in [("ada", 330, false), ("grace", 550, true)] {
        let script = demo_script(name, tone, screen);
        let o = headless.clone();
        tokio::spawn(async move {
            let _ = run_script(&script, &o).await;
        });
    }
    options.server = Some(url);
    options.room = "demo".into();
    join(options).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::call::mesh::MeshCommand;
    use crate::headless::script::{parse_script, Step};

    #[test]
    fn the_demo_participants_scripts_parse_and_one_shares_a_terminal() {
        for (name, screen) in [("ada", false), ("grace", true)] {
            let lines = parse_script(&demo_script(name, 440, screen)).expect("a valid script");
            let shares = lines.iter().any(|l| {
                matches!(
                    &l.step,
                    Step::Command(MeshCommand::ShareTerminal(Some(spec))) if spec.command.contains("top")
                )
            });
            assert_eq!(shares, !screen, "{name}");
        }
    }
}
