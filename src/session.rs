//! `termmeet join` and `termmeet demo`: choosing the server, opening the person's devices
//! (falling back to synthetic sources with a notice when one is missing), starting the mesh
//! and the terminal UI.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::app::App;
use crate::call::link::local_bind_addresses;
use crate::call::mesh::{Mesh, MeshCommand, MeshConfig};
use crate::headless::runner::{run_script, HeadlessOptions};
use crate::media::playback::Playback;
use crate::media::sources::{
    camera_or_pattern, mic_or_silence, screen_factory, VideoSpec, DEFAULT_BITRATE, DEFAULT_FPS,
};
use crate::signaling::JoinParams;
use crate::tui::{self, DrawOptions};

/// What `join` and `demo` need.
#[derive(Clone, Debug)]
pub struct JoinOptions {
    /// The room.
    pub room: String,
    /// Signaling server URL; `None` finds or starts one.
    pub server: Option<String>,
    /// Display name.
    pub name: String,
    /// Room secret.
    pub secret: Option<String>,
    /// Camera by index or name; `Some("none")` sends no video.
    pub camera: Option<String>,
    /// Microphone by name; `Some("none")` sends no audio.
    pub mic: Option<String>,
    /// Speaker by name; `Some("none")` plays nothing.
    pub speaker: Option<String>,
    /// X display to share.
    pub screen: Option<String>,
    /// Drawing options.
    /// STUN and TURN servers of our own, used besides the server's.
    pub ice_servers: Vec<termmeet_signaling::protocol::IceServer>,
    pub draw: DrawOptions,
}

/// The default local server address.
pub const LOCAL_SERVER: &str = "127.0.0.1:8080";

/// Finds the server: the one named, else one on port 8080 here, else an embedded one that
/// others on the network can use. Returns the URL and a notice for the status bar.
pub async fn choose_server(server: Option<String>) -> anyhow::Result<(String, Option<String>)> {
    if let Some(url) = server {
        return Ok((url, None));
    }
    let local: SocketAddr = LOCAL_SERVER.parse()?;
    if tokio::time::timeout(
        Duration::from_millis(500),
        tokio::net::TcpStream::connect(local),
    )
    .await
    .is_ok_and(|r| r.is_ok())
    {
        return Ok((format!("ws://{LOCAL_SERVER}/ws"), None));
    }
    let listener = match tokio::net::TcpListener::bind("0.0.0.0:8080").await {
        Ok(l) => l,
        // Port 8080 is taken by something else: any free port will do for this machine.
        Err(_) => tokio::net::TcpListener::bind("127.0.0.1:0").await?,
    };
    let server = termmeet_signaling::spawn(listener, termmeet_signaling::ServerConfig::default())?;
    let addr = server.addr;
    let port = addr.port();
    let shared = local_bind_addresses()
        .into_iter()
        .filter_map(|a| a.strip_suffix(":0").map(str::to_string))
        .find(|ip| ip != "127.0.0.1" && addr.ip().is_unspecified());
    let notice = match shared {
        Some(ip) => format!("started a server; others join with --server ws://{ip}:{port}/ws"),
        None => format!("started a server on ws://127.0.0.1:{port}/ws"),
    };
    Ok((server.url(), Some(notice)))
}

/// `termmeet join`.
pub async fn join(options: JoinOptions) -> anyhow::Result<()> {
    let (url, server_notice) = choose_server(options.server.clone()).await?;
    let mut notices: Vec<String> = server_notice.into_iter().collect();
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
    let config = MeshConfig {
        join: JoinParams {
            url,
            room: options.room.clone(),
            name: options.name.clone(),
            secret: options.secret.clone(),
        },
        camera,
        microphone,
        screen: Some(screen_factory(
            VideoSpec::X11(options.screen.clone()),
            options.name.clone(),
            true,
        )),
        fps: DEFAULT_FPS,
        bitrate: DEFAULT_BITRATE,
        bind: local_bind_addresses(),
        ice_servers: options.ice_servers.clone(),
        playback,
    };
    let (mesh, task) = Mesh::start(config);
    let result = tui::run(
        App::new(&options.room),
        mesh.clone(),
        options.draw.clone(),
        notices,
    )
    .await;
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
