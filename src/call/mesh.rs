//! The meeting's mesh: one [`PeerLink`] per remote participant, driven by the signaling
//! client, fed by shared local encoders, and observed through one [`MeshState`].
//!
//! The mesh task owns every link. Signaling messages, link events and commands arrive on
//! channels and are handled one at a time; receivers and writers run as their own tasks and
//! only update counters in the state.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rtc::media::Sample;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;
use rtc::statistics::report::{RTCStatsReport, RTCStatsReportEntry};
use rtc::statistics::StatsSelector;
use termmeet_signaling::protocol::{
    ChatMessage, ClientMessage, IceServer, PeerInfo, ServerMessage, You,
};
use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinHandle;
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::peer_connection::RTCPeerConnectionState;

use super::link::{LinkEvent, LocalTrack, PeerLink, MIN_BITRATE};
use super::local::{start_audio, start_video, EncodedSample, Pump};
use super::receive::{AudioReceiver, VideoReceiver};
use crate::headless::script::Quality;
use crate::media::frame::{now_ms, RgbFrame};
use crate::media::pattern::latency_ms;
use crate::media::playback::{Playback, RemoteAudio};
use crate::media::{AudioSource, VideoSource};
use crate::signaling::{JoinParams, SignalingClient, SignalingEvent};

/// Makes a screen source when sharing starts.
pub type ScreenFactory = Box<dyn Fn() -> Result<Box<dyn VideoSource>, String> + Send>;

/// What the mesh starts with.
pub struct MeshConfig {
    /// Server, room, name, secret.
    pub join: JoinParams,
    /// The camera (or a synthetic or file source); `None` sends no video.
    pub camera: Option<Box<dyn VideoSource>>,
    /// The microphone (or a tone or file); `None` sends no audio.
    pub microphone: Option<Box<dyn AudioSource>>,
    /// How to make the screen source when sharing starts.
    pub screen: Option<ScreenFactory>,
    /// Camera frame rate.
    pub fps: f64,
    /// Camera bitrate, bits a second.
    pub bitrate: u32,
    /// UDP addresses for the peer connections (see [`super::link::local_bind_addresses`]).
    pub bind: Vec<String>,
    /// Where remote audio is played; `None` plays nothing (headless).
    pub playback: Option<Arc<Playback>>,
}

/// Samples of received audio kept for tone checks (one second).
pub const RECENT_AUDIO: usize = 48_000;

/// Everything known about one remote participant.
#[derive(Clone, Debug, PartialEq)]
pub struct PeerState {
    /// What the server says about them.
    pub info: PeerInfo,
    /// Camera frames decoded.
    pub video_frames: u64,
    /// Screen frames decoded.
    pub screen_frames: u64,
    /// Milliseconds of audio decoded.
    pub audio_ms: u64,
    /// Glass-to-glass latency of each decoded test-pattern frame, ms.
    pub latencies_ms: Vec<u32>,
    /// Frame numbers of the first and last test-pattern frames decoded: the sender sent
    /// `last - first + 1` frames in between.
    pub stamp_range: Option<(u32, u32)>,
    /// The last second of decoded audio.
    pub recent_audio: VecDeque<i16>,
    /// When the last camera frame was decoded.
    pub last_video: Option<Instant>,
    /// When the first camera frame was decoded (for fps).
    pub first_video: Option<Instant>,
    /// The newest camera picture (latest wins).
    pub latest_video: Option<Arc<RgbFrame>>,
    /// The newest screen picture.
    pub latest_screen: Option<Arc<RgbFrame>>,
    /// Connection state.
    pub connection: String,
    /// ICE connection state (new, checking, connected …).
    pub ice: String,
    /// Round-trip time, ms.
    pub rtt_ms: f64,
    /// Packet loss of what we receive, percent.
    pub loss_pct: f64,
    /// Bitrate received, kbit/s.
    pub bitrate_kbps: f64,
    /// Bitrate we send to this peer, kbit/s.
    pub bitrate_out_kbps: f64,
    /// Interarrival jitter of what we receive (the worst stream), ms.
    pub jitter_ms: f64,
    /// Selected candidate pair's local type: host, srflx, relay.
    pub path: String,
    /// Quality from loss and RTT.
    pub quality: Quality,
}

impl PeerState {
    /// A peer as first seen, with nothing received yet (also for UI tests).
    pub fn new_for_tests(info: PeerInfo) -> PeerState {
        PeerState::new(info)
    }

    fn new(info: PeerInfo) -> PeerState {
        PeerState {
            info,
            video_frames: 0,
            screen_frames: 0,
            audio_ms: 0,
            latencies_ms: Vec::new(),
            stamp_range: None,
            recent_audio: VecDeque::new(),
            last_video: None,
            first_video: None,
            latest_video: None,
            latest_screen: None,
            connection: "new".into(),
            ice: "new".into(),
            rtt_ms: 0.0,
            loss_pct: 0.0,
            bitrate_kbps: 0.0,
            bitrate_out_kbps: 0.0,
            jitter_ms: 0.0,
            path: String::new(),
            quality: Quality::Disconnected,
        }
    }

    /// Camera frames a second since the first one.
    pub fn video_fps(&self) -> f64 {
        match (self.first_video, self.last_video) {
            (Some(a), Some(b)) if b > a && self.video_frames > 1 => {
                (self.video_frames - 1) as f64 / (b - a).as_secs_f64()
            }
            _ => 0.0,
        }
    }
}

/// The meeting as this participant sees it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MeshState {
    /// Who we are, once joined.
    pub me: Option<You>,
    /// The host's id.
    pub host: String,
    /// Everyone else, by id.
    pub peers: BTreeMap<String, PeerState>,
    /// The hand queue, first raised first.
    pub hands: Vec<String>,
    /// Chat, oldest first.
    pub chat: Vec<ChatMessage>,
    /// Whether chat is on.
    pub chat_enabled: bool,
    /// Participants who left: (id, name).
    pub left: Vec<(String, String)>,
    /// What we received from participants who left, by id (for reports).
    pub departed: BTreeMap<String, PeerState>,
    /// Signaling status for people ("connected", "reconnecting in 2s", …).
    pub signaling: String,
    /// Whether the signaling connection is up.
    pub connected: bool,
    /// Problems worth reporting (bad SDP from a peer, errors from the server).
    pub errors: Vec<String>,
    /// Our own mic, camera and screen state.
    pub mic: bool,
    /// Camera on.
    pub cam: bool,
    /// Screen shared.
    pub screen: bool,
}

impl MeshState {
    /// The id of the participant called `name` (present or departed).
    pub fn id_of(&self, name: &str) -> Option<String> {
        self.peers
            .iter()
            .find(|(_, p)| p.info.name == name)
            .map(|(id, _)| id.clone())
            .or_else(|| {
                self.left
                    .iter()
                    .rev()
                    .find(|(_, n)| n == name)
                    .map(|(id, _)| id.clone())
            })
    }

    /// The name of `id`, ourselves included.
    pub fn name_of(&self, id: &str) -> String {
        if self.me.as_ref().is_some_and(|m| m.id == id) {
            return self.me.as_ref().map(|m| m.name.clone()).unwrap_or_default();
        }
        self.peers
            .get(id)
            .map(|p| p.info.name.clone())
            .or_else(|| {
                self.left
                    .iter()
                    .find(|(i, _)| i == id)
                    .map(|(_, n)| n.clone())
            })
            .unwrap_or_else(|| id.to_string())
    }
}

/// Commands to the mesh, as keys and script lines give them.
#[derive(Clone, Debug, PartialEq)]
pub enum MeshCommand {
    /// Camera on or off.
    Cam(bool),
    /// Microphone on or off.
    Mic(bool),
    /// Screen share on or off.
    Screen(bool),
    /// Raise our hand.
    HandRaise,
    /// Lower our hand, or someone's (host) by id.
    HandLower(Option<String>),
    /// Send a chat message.
    Chat(String),
    /// Host: chat on or off.
    ChatEnabled(bool),
    /// Leave the meeting.
    Leave,
}

/// The handle: state to read, commands to send.
#[derive(Clone)]
pub struct Mesh {
    /// The shared state.
    pub state: Arc<Mutex<MeshState>>,
    commands: mpsc::UnboundedSender<MeshCommand>,
    /// The camera's controls (its self-view picture), when there is a camera.
    camera: Option<Arc<super::local::PumpControl>>,
}

impl Mesh {
    /// Joins and runs the mesh in the background.
    pub fn start(config: MeshConfig) -> (Mesh, JoinHandle<()>) {
        let state = Arc::new(Mutex::new(MeshState {
            mic: true,
            cam: true,
            chat_enabled: true,
            ..MeshState::default()
        }));
        let (commands, rx) = mpsc::unbounded_channel();
        let camera_pump = config
            .camera
            .map(|s| start_video(s, config.fps, config.bitrate));
        let camera = camera_pump.as_ref().map(|p| Arc::clone(&p.control));
        let config = MeshConfig {
            camera: None,
            ..config
        };
        let task = tokio::spawn(run(config, camera_pump, Arc::clone(&state), rx));
        (
            Mesh {
                state,
                commands,
                camera,
            },
            task,
        )
    }

    /// Sends a command.
    pub fn command(&self, command: MeshCommand) {
        let _ = self.commands.send(command);
    }

    /// Our own newest picture, mirrored, while the camera is on.
    pub fn self_view(&self) -> Option<Arc<RgbFrame>> {
        self.camera
            .as_ref()
            .and_then(|c| c.preview.lock().ok().and_then(|p| p.clone()))
    }

    /// Reads the state.
    pub fn read<T>(&self, f: impl FnOnce(&MeshState) -> T) -> T {
        let guard = self.state.lock().unwrap_or_else(|p| p.into_inner());
        f(&guard)
    }
}

fn lock(state: &Arc<Mutex<MeshState>>) -> std::sync::MutexGuard<'_, MeshState> {
    state.lock().unwrap_or_else(|p| p.into_inner())
}

/// Which local source a track carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Source {
    Camera,
    Microphone,
    Screen,
}

struct LinkEntry {
    link: PeerLink,
    tracks: Vec<(Source, LocalTrack, JoinHandle<()>)>,
    receivers: Vec<JoinHandle<()>>,
    last_restart: Option<Instant>,
    bytes_received: u64,
    bytes_sent: u64,
    created: Instant,
    connected_once: bool,
    timeout_reported: bool,
}

/// A link that has not connected this long is reported.
const NEGOTIATION_TIMEOUT: Duration = Duration::from_secs(20);
/// Most bits a second for a screen share.
const SCREEN_BITRATE: u32 = 1_500_000;

impl LinkEntry {
    async fn close(mut self) {
        for (_, _, writer) in self.tracks.drain(..) {
            writer.abort();
        }
        for r in self.receivers.drain(..) {
            r.abort();
        }
        self.link.close().await;
    }
}

struct MeshTask {
    state: Arc<Mutex<MeshState>>,
    signaling: SignalingClient,
    links: HashMap<String, LinkEntry>,
    link_tx: mpsc::UnboundedSender<(String, LinkEvent)>,
    ice_servers: Vec<IceServer>,
    camera: Option<Pump>,
    microphone: Option<Pump>,
    screen: Option<Pump>,
    screen_factory: Option<ScreenFactory>,
    screen_stream: String,
    /// The camera's bitrate ceiling.
    bitrate: u32,
    bind: Vec<String>,
    playback: Option<Arc<Playback>>,
    /// The video encoders a keyframe request from any receiver applies to.
    keyframe_targets: KeyframeTargets,
}

/// The video pumps' controls, shared with the receivers that hear keyframe requests.
type KeyframeTargets = Arc<Mutex<Vec<Arc<super::local::PumpControl>>>>;

fn lock_targets(
    t: &KeyframeTargets,
) -> std::sync::MutexGuard<'_, Vec<Arc<super::local::PumpControl>>> {
    t.lock().unwrap_or_else(|p| p.into_inner())
}

async fn run(
    config: MeshConfig,
    camera: Option<Pump>,
    state: Arc<Mutex<MeshState>>,
    mut commands: mpsc::UnboundedReceiver<MeshCommand>,
) {
    let (signaling, mut events) = SignalingClient::start(config.join.clone());
    let (link_tx, mut link_rx) = mpsc::unbounded_channel();
    let microphone = config.microphone.map(start_audio);
    {
        let mut s = lock(&state);
        s.cam = camera.is_some();
        s.mic = microphone.is_some();
        s.signaling = "connecting to server…".into();
    }
    let mut task = MeshTask {
        state,
        signaling,
        links: HashMap::new(),
        link_tx,
        ice_servers: Vec::new(),
        camera,
        microphone,
        screen: None,
        screen_factory: config.screen,
        screen_stream: format!("screen-{:08x}", rand::random::<u32>()),
        bitrate: config.bitrate,
        bind: config.bind,
        playback: config.playback,
        keyframe_targets: Arc::new(Mutex::new(Vec::new())),
    };
    if let Some(camera) = &task.camera {
        lock_targets(&task.keyframe_targets).push(Arc::clone(&camera.control));
    }
    let mut stats = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            event = events.recv() => match event {
                Some(SignalingEvent::Stopped { reason }) | Some(SignalingEvent::Reconnecting { reason, .. }) if reason == "left" => break,
                Some(event) => task.on_signaling(event).await,
                None => break,
            },
            Some((peer, event)) = link_rx.recv() => task.on_link(peer, event).await,
            command = commands.recv() => match command {
                Some(MeshCommand::Leave) | None => {
                    task.signaling.leave();
                    break;
                }
                Some(c) => task.on_command(c).await,
            },
            _ = stats.tick() => task.collect_stats().await,
        }
    }
    for (_, entry) in task.links.drain() {
        entry.close().await;
    }
    lock(&task.state).signaling = "left".into();
}

impl MeshTask {
    fn my_id(&self) -> String {
        lock(&self.state)
            .me
            .as_ref()
            .map(|m| m.id.clone())
            .unwrap_or_default()
    }

    fn error(&self, message: String) {
        tracing::warn!("{message}");
        lock(&self.state).errors.push(message);
    }

    async fn on_signaling(&mut self, event: SignalingEvent) {
        match event {
            SignalingEvent::Connected { resumed } => {
                let mut s = lock(&self.state);
                s.connected = true;
                s.signaling = if resumed {
                    "connected (resumed)".into()
                } else {
                    "connected".into()
                };
            }
            SignalingEvent::Reconnecting { retry_in, reason } => {
                let mut s = lock(&self.state);
                s.connected = false;
                s.signaling = format!(
                    "reconnecting in {}s ({reason})",
                    retry_in.as_secs_f64().ceil()
                );
            }
            SignalingEvent::Stopped { reason } => {
                let mut s = lock(&self.state);
                s.connected = false;
                s.signaling = format!("disconnected: {reason}");
                s.errors.push(format!("signaling stopped: {reason}"));
            }
            SignalingEvent::Message(message) => self.on_message(message).await,
        }
    }

    async fn on_message(&mut self, message: ServerMessage) {
        match message {
            ServerMessage::Peers {
                you,
                host,
                peers,
                hands,
                chat_enabled,
                chat_history,
                ice_servers,
                ..
            } => {
                let same_session = self.my_id() == you.id;
                self.ice_servers = ice_servers;
                {
                    let mut s = lock(&self.state);
                    s.me = Some(you);
                    s.host = host;
                    s.hands = hands;
                    s.chat_enabled = chat_enabled;
                    if same_session {
                        // Chat sent while we were away is not relayed to us, but it is in
                        // the history that comes with the resume.
                        let last = s.chat.iter().map(|m| m.seq).max().unwrap_or(0);
                        s.chat
                            .extend(chat_history.into_iter().filter(|m| m.seq > last));
                    } else {
                        s.chat = chat_history;
                    }
                    for p in &peers {
                        s.peers
                            .entry(p.id.clone())
                            .or_insert_with(|| PeerState::new(p.clone()))
                            .info = p.clone();
                    }
                }
                if same_session {
                    // Resumed: the peer connections never went away.
                    return;
                }
                for (_, entry) in self.links.drain() {
                    entry.close().await;
                }
                // Whoever receives `peers` offers to everyone in it.
                for p in peers {
                    if let Err(e) = self.open_link(&p.id).await {
                        self.error(format!("cannot connect to {}: {e}", p.name));
                        continue;
                    }
                    self.offer(&p.id).await;
                }
            }
            ServerMessage::PeerJoined { peer } => {
                let id = peer.id.clone();
                lock(&self.state)
                    .peers
                    .insert(id.clone(), PeerState::new(peer));
                // The peer is recorded before any of its tracks can arrive; it will offer.
                if let Err(e) = self.open_link(&id).await {
                    self.error(format!("cannot prepare a connection to {id}: {e}"));
                }
            }
            ServerMessage::PeerLeft { id } => {
                if let Some(entry) = self.links.remove(&id) {
                    entry.close().await;
                }
                let mut s = lock(&self.state);
                if let Some(p) = s.peers.remove(&id) {
                    s.left.push((id.clone(), p.info.name.clone()));
                    s.departed.insert(id.clone(), p);
                }
                s.hands.retain(|h| *h != id);
            }
            ServerMessage::Offer { from, sdp } => {
                if !self.links.contains_key(&from) {
                    if let Err(e) = self.open_link(&from).await {
                        self.error(format!("cannot answer {from}: {e}"));
                        return;
                    }
                }
                let Some(entry) = self.links.get_mut(&from) else {
                    return;
                };
                match entry.link.on_offer(sdp).await {
                    Ok(Some(answer)) => {
                        // An answer can only take up what the offer has room for: a track of
                        // ours with no m-line in it (our screen, being shared when this peer
                        // arrived and offered us camera and sound only) needs an offer of ours.
                        let left_out = entry
                            .tracks
                            .iter()
                            .any(|(_, t, _)| !answer.contains(&format!("a=ssrc:{} ", t.ssrc)));
                        self.signaling.send(ClientMessage::Answer {
                            to: from.clone(),
                            sdp: answer,
                        });
                        if left_out {
                            self.offer(&from).await;
                        }
                    }
                    Ok(None) => {}
                    Err(e) => {
                        let name = lock(&self.state).name_of(&from);
                        self.error(format!("bad offer from {name}: {e}"));
                    }
                }
            }
            ServerMessage::Answer { from, sdp } => {
                let Some(entry) = self.links.get_mut(&from) else {
                    self.error(format!("answer from {from}, to whom we made no offer"));
                    return;
                };
                if let Err(e) = entry.link.on_answer(sdp).await {
                    let name = lock(&self.state).name_of(&from);
                    self.error(format!("bad answer from {name}: {e}"));
                    return;
                }
                // A renegotiation may have added a track whose first keyframe went out before
                // the receiver was ready for it.
                self.request_keyframes();
            }
            ServerMessage::Candidate { from, candidate } => match self.links.get_mut(&from) {
                Some(entry) => {
                    if let Err(e) = entry.link.on_candidate(candidate).await {
                        self.error(format!("bad candidate from {from}: {e}"));
                    }
                }
                None => self.error(format!("candidate for unknown peer {from}")),
            },
            ServerMessage::MediaState { from, mic, cam } => {
                if let Some(p) = lock(&self.state).peers.get_mut(&from) {
                    p.info.mic = mic;
                    p.info.cam = cam;
                }
            }
            ServerMessage::ScreenShareStarted { from, stream_id } => {
                if let Some(p) = lock(&self.state).peers.get_mut(&from) {
                    p.info.screen = true;
                    p.info.screen_stream_id = Some(stream_id);
                }
            }
            ServerMessage::ScreenShareStopped { from } => {
                if let Some(p) = lock(&self.state).peers.get_mut(&from) {
                    p.info.screen = false;
                    p.latest_screen = None;
                }
            }
            ServerMessage::RaiseHand { queue, .. } | ServerMessage::LowerHand { queue, .. } => {
                let mut s = lock(&self.state);
                for (id, p) in s.peers.iter_mut() {
                    p.info.hand = queue.contains(id);
                }
                s.hands = queue;
            }
            ServerMessage::Chat(m) => lock(&self.state).chat.push(m),
            ServerMessage::ChatEnabled { .. } => lock(&self.state).chat_enabled = true,
            ServerMessage::ChatDisabled { .. } => lock(&self.state).chat_enabled = false,
            ServerMessage::Host { id } => lock(&self.state).host = id,
            ServerMessage::Error {
                code,
                message,
                reference,
            } => {
                self.error(format!(
                    "server: {code}: {message}{}",
                    reference
                        .map(|r| format!(" (answering {r})"))
                        .unwrap_or_default()
                ));
            }
            ServerMessage::Pong {} => {}
        }
    }

    /// Creates the link to `peer` with our current tracks.
    async fn open_link(&mut self, peer: &str) -> Result<(), String> {
        let me = self.my_id();
        let link = PeerLink::new(
            &me,
            peer,
            &self.ice_servers,
            &self.bind,
            self.link_tx.clone(),
        )
        .await?;
        let mut entry = LinkEntry {
            link,
            tracks: Vec::new(),
            receivers: Vec::new(),
            last_restart: None,
            bytes_received: 0,
            bytes_sent: 0,
            created: Instant::now(),
            connected_once: false,
            timeout_reported: false,
        };
        let stream = format!("cam-{me}");
        if let Some(p) = &self.camera {
            add_source(
                &mut entry,
                Source::Camera,
                RtpCodecKind::Video,
                &stream,
                "camera",
                p,
            )
            .await?;
        }
        if let Some(p) = &self.microphone {
            add_source(
                &mut entry,
                Source::Microphone,
                RtpCodecKind::Audio,
                &stream,
                "microphone",
                p,
            )
            .await?;
        }
        // Without a source of our own, still ask for the other side's camera and sound.
        if self.camera.is_none() {
            entry.link.receive_only(RtpCodecKind::Video).await?;
        }
        if self.microphone.is_none() {
            entry.link.receive_only(RtpCodecKind::Audio).await?;
        }
        if let Some(p) = &self.screen {
            add_source(
                &mut entry,
                Source::Screen,
                RtpCodecKind::Video,
                &self.screen_stream,
                "screen",
                p,
            )
            .await?;
        }
        self.links.insert(peer.to_string(), entry);
        Ok(())
    }

    async fn offer(&mut self, peer: &str) {
        let Some(entry) = self.links.get_mut(peer) else {
            return;
        };
        match entry.link.make_offer().await {
            Ok(sdp) => self.signaling.send(ClientMessage::Offer {
                to: peer.to_string(),
                sdp,
            }),
            Err(e) => self.error(format!("cannot make an offer to {peer}: {e}")),
        }
    }

    async fn on_link(&mut self, peer: String, event: LinkEvent) {
        match event {
            LinkEvent::Candidate(c) => self.signaling.send(ClientMessage::Candidate {
                to: peer,
                candidate: Some(c),
            }),
            LinkEvent::Ice(state) => {
                if let Some(p) = lock(&self.state).peers.get_mut(&peer) {
                    p.ice = state.to_string();
                }
            }
            LinkEvent::State(state) => {
                if let Some(p) = lock(&self.state).peers.get_mut(&peer) {
                    p.connection = state.to_string();
                    if state != RTCPeerConnectionState::Connected {
                        p.quality = Quality::Disconnected;
                    }
                }
                match state {
                    RTCPeerConnectionState::Connected => {
                        if let Some(entry) = self.links.get_mut(&peer) {
                            entry.connected_once = true;
                        }
                        // A new receiver needs a keyframe to start from.
                        self.request_keyframes();
                    }
                    RTCPeerConnectionState::Failed => self.restart_ice(&peer).await,
                    _ => {}
                }
            }
            LinkEvent::Track(track) => {
                let state = Arc::clone(&self.state);
                let speaker = self.playback.as_ref().map(|p| p.add_stream());
                let targets = Arc::clone(&self.keyframe_targets);
                let handle = tokio::spawn(receive(peer.clone(), track, state, speaker, targets));
                if let Some(entry) = self.links.get_mut(&peer) {
                    entry.receivers.push(handle);
                }
            }
            // Offers are made explicitly when tracks change; the first offer comes from
            // whoever received `peers`.
            LinkEvent::NegotiationNeeded => {}
        }
    }

    fn request_keyframes(&self) {
        for p in [&self.camera, &self.screen].into_iter().flatten() {
            p.control
                .keyframe
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
    }

    async fn restart_ice(&mut self, peer: &str) {
        let Some(entry) = self.links.get_mut(peer) else {
            return;
        };
        if entry
            .last_restart
            .is_some_and(|t| t.elapsed() < Duration::from_secs(5))
        {
            return;
        }
        entry.last_restart = Some(Instant::now());
        tracing::info!(peer, "connection failed; restarting ICE");
        if let Err(e) = entry.link.restart_ice().await {
            self.error(format!("ICE restart with {peer} failed: {e}"));
            return;
        }
        self.offer(peer).await;
    }

    async fn on_command(&mut self, command: MeshCommand) {
        use std::sync::atomic::Ordering;
        match command {
            MeshCommand::Cam(on) | MeshCommand::Mic(on) => {
                let camera = matches!(command, MeshCommand::Cam(_));
                let pump = if camera {
                    &self.camera
                } else {
                    &self.microphone
                };
                if let Some(p) = pump {
                    p.control.enabled.store(on, Ordering::Relaxed);
                    if on {
                        p.control.keyframe.store(true, Ordering::Relaxed);
                    }
                }
                let (mic, cam) = {
                    let mut s = lock(&self.state);
                    if camera {
                        s.cam = on && self.camera.is_some();
                    } else {
                        s.mic = on && self.microphone.is_some();
                    }
                    (s.mic, s.cam)
                };
                self.signaling.send(ClientMessage::MediaState { mic, cam });
            }
            MeshCommand::Screen(on) => self.set_screen(on).await,
            MeshCommand::HandRaise => self.signaling.send(ClientMessage::RaiseHand {}),
            MeshCommand::HandLower(peer) => self.signaling.send(ClientMessage::LowerHand { peer }),
            MeshCommand::Chat(text) => self.signaling.send(ClientMessage::Chat { text }),
            MeshCommand::ChatEnabled(true) => self.signaling.send(ClientMessage::ChatEnabled {}),
            MeshCommand::ChatEnabled(false) => self.signaling.send(ClientMessage::ChatDisabled {}),
            MeshCommand::Leave => {}
        }
    }

    async fn set_screen(&mut self, on: bool) {
        if on == self.screen.is_some() {
            return;
        }
        if on {
            let Some(factory) = &self.screen_factory else {
                self.error("no screen source to share".into());
                return;
            };
            let source = match factory() {
                Ok(s) => s,
                Err(e) => {
                    self.error(format!("cannot share the screen: {e}"));
                    return;
                }
            };
            let pump = start_video(source, 10.0, SCREEN_BITRATE);
            // Announce the stream first, so receivers can tell the screen track when it lands.
            self.signaling.send(ClientMessage::ScreenShareStarted {
                stream_id: self.screen_stream.clone(),
            });
            let peers: Vec<String> = self.links.keys().cloned().collect();
            for peer in &peers {
                if let Some(entry) = self.links.get_mut(peer) {
                    if let Err(e) = add_source(
                        entry,
                        Source::Screen,
                        RtpCodecKind::Video,
                        &self.screen_stream,
                        "screen",
                        &pump,
                    )
                    .await
                    {
                        self.error(format!("cannot add the screen for {peer}: {e}"));
                    }
                }
            }
            lock_targets(&self.keyframe_targets).push(Arc::clone(&pump.control));
            self.screen = Some(pump);
            lock(&self.state).screen = true;
            for peer in peers {
                self.offer(&peer).await;
            }
        } else {
            if let Some(old) = self.screen.take() {
                lock_targets(&self.keyframe_targets).retain(|c| !Arc::ptr_eq(c, &old.control));
            }
            let peers: Vec<String> = self.links.keys().cloned().collect();
            for peer in &peers {
                if let Some(entry) = self.links.get_mut(peer) {
                    let mut kept = Vec::new();
                    for (source, track, writer) in entry.tracks.drain(..) {
                        if source == Source::Screen {
                            writer.abort();
                            if let Err(e) = entry.link.remove_track(&track).await {
                                tracing::warn!("removing the screen track for {peer}: {e}");
                            }
                        } else {
                            kept.push((source, track, writer));
                        }
                    }
                    entry.tracks = kept;
                }
            }
            lock(&self.state).screen = false;
            self.signaling.send(ClientMessage::ScreenShareStopped {});
            for peer in peers {
                self.offer(&peer).await;
            }
        }
    }

    async fn collect_stats(&mut self) {
        let mut lowest_estimate = None::<f64>;
        let mut timeouts = Vec::new();
        for (peer, entry) in self.links.iter_mut() {
            let report = entry
                .link
                .connection()
                .get_stats(Instant::now(), StatsSelector::None)
                .await;
            let (mut rtt, mut lost, mut received, mut bytes, mut sent, mut jitter) =
                (0.0, 0i64, 0u64, 0u64, 0u64, 0.0f64);
            let mut target = None::<f64>;
            let mut local_candidate = String::new();
            for e in report.iter() {
                match e {
                    RTCStatsReportEntry::IceCandidatePair(p) if p.nominated => {
                        rtt = p.current_round_trip_time * 1000.0;
                        local_candidate = p.local_candidate_id.clone();
                    }
                    RTCStatsReportEntry::OutboundRtp(o) => {
                        sent += o.sent_rtp_stream_stats.bytes_sent;
                        if o.target_bitrate > 0.0 {
                            target = Some(
                                target.map_or(o.target_bitrate, |t: f64| t.max(o.target_bitrate)),
                            );
                        }
                    }
                    RTCStatsReportEntry::InboundRtp(s) => {
                        lost += s.received_rtp_stream_stats.packets_lost.max(0);
                        received += s.received_rtp_stream_stats.packets_received;
                        bytes += s.bytes_received;
                        // 0.21 fills `jitter` with the receiver report's field as it is,
                        // in RTP timestamp units (not seconds as its documentation says).
                        let clock = match s.received_rtp_stream_stats.rtp_stream_stats.kind {
                            RtpCodecKind::Video => 90_000.0,
                            _ => 48_000.0,
                        };
                        jitter = jitter.max(s.received_rtp_stream_stats.jitter / clock);
                    }
                    _ => {}
                }
            }
            let path = local_candidate_type(&report, &local_candidate);
            let loss = if lost + received as i64 > 0 {
                lost as f64 * 100.0 / (lost as f64 + received as f64)
            } else {
                0.0
            };
            let kbps = bytes.saturating_sub(entry.bytes_received) as f64 * 8.0 / 1000.0;
            entry.bytes_received = bytes;
            let out_kbps = sent.saturating_sub(entry.bytes_sent) as f64 * 8.0 / 1000.0;
            entry.bytes_sent = sent;
            if let Some(t) = target {
                lowest_estimate = Some(lowest_estimate.map_or(t, |l: f64| l.min(t)));
            }
            if !entry.connected_once
                && entry.created.elapsed() > NEGOTIATION_TIMEOUT
                && !entry.timeout_reported
            {
                entry.timeout_reported = true;
                let name = lock(&self.state).name_of(peer);
                timeouts.push(format!(
                    "no connection with {name} after {}s: it never answered, or ICE failed",
                    NEGOTIATION_TIMEOUT.as_secs()
                ));
            }
            let mut s = lock(&self.state);
            if let Some(p) = s.peers.get_mut(peer) {
                p.rtt_ms = rtt;
                p.loss_pct = loss;
                p.bitrate_kbps = kbps;
                p.bitrate_out_kbps = out_kbps;
                p.jitter_ms = jitter * 1000.0;
                p.path = path;
                p.quality = Quality::from_stats(p.connection == "connected", loss, rtt);
            }
        }
        for t in timeouts {
            self.error(t);
        }
        // One encoder serves every peer: it sends at the lowest rate any path can take,
        // within the configured ceiling, leaving room for audio.
        if let (Some(estimate), Some(camera)) = (lowest_estimate, &self.camera) {
            let share = if self.screen.is_some() { 0.4 } else { 0.9 };
            let rate = ((estimate * share) as u32).clamp(MIN_BITRATE, self.bitrate);
            camera
                .control
                .bitrate
                .store(rate, std::sync::atomic::Ordering::Relaxed);
            if let Some(screen) = &self.screen {
                let rate = ((estimate * 0.5) as u32).clamp(MIN_BITRATE, SCREEN_BITRATE);
                screen
                    .control
                    .bitrate
                    .store(rate, std::sync::atomic::Ordering::Relaxed);
            }
        }
    }
}

/// The type (host, srflx, prflx, relay) of the local candidate with this id. 0.21 names the
/// candidate's stats entry `RTCLocalIceCandidate_<id>` while the pair refers to it by `<id>`.
fn local_candidate_type(report: &RTCStatsReport, id: &str) -> String {
    if id.is_empty() {
        return String::new();
    }
    let prefixed = format!("RTCLocalIceCandidate_{id}");
    report
        .iter()
        .find_map(|e| match e {
            RTCStatsReportEntry::LocalCandidate(c)
                if c.stats.id == id || c.stats.id == prefixed =>
            {
                Some(c.candidate_type.to_string())
            }
            _ => None,
        })
        .unwrap_or_default()
}

/// Adds a track for a local source to a link, with a writer task feeding it.
async fn add_source(
    entry: &mut LinkEntry,
    source: Source,
    kind: RtpCodecKind,
    stream: &str,
    label: &str,
    pump: &Pump,
) -> Result<(), String> {
    let track = entry.link.add_track(kind, stream, label).await?;
    let writer = tokio::spawn(write_samples(
        pump.samples.subscribe(),
        track.track.clone(),
        track.ssrc,
        track.sender.clone(),
        pump.control.clone(),
    ));
    entry.tracks.push((source, track, writer));
    Ok(())
}

/// Writes a source's samples to one track, once its payload type is negotiated.
async fn write_samples(
    mut samples: broadcast::Receiver<EncodedSample>,
    track: Arc<webrtc::media_stream::track_local::static_sample::TrackLocalStaticSample>,
    ssrc: u32,
    sender: Arc<dyn webrtc::rtp_transceiver::RtpSender>,
    control: Arc<super::local::PumpControl>,
) {
    use webrtc::media_stream::track_local::{TrackLocal, TrackLocalEvent};
    let mut payload_type = None;
    let mut written = 0u64;
    // Until the track is bound by a negotiation, polling it ends at once: try again later.
    let mut poll_from = tokio::time::Instant::now();
    loop {
        let sample = tokio::select! {
            // Feedback about this track: a PLI or FIR from a peer that sends us nothing (so
            // has no remote track of ours to carry it) arrives here.
            event = async {
                tokio::time::sleep_until(poll_from).await;
                track.poll().await
            } => {
                match event {
                    Some(TrackLocalEvent::OnRtcpPacket(packets)) => {
                        if packets
                            .iter()
                            .any(|p| super::rtcp::is_keyframe_request(p.as_ref()))
                        {
                            control
                                .keyframe
                                .store(true, std::sync::atomic::Ordering::Relaxed);
                        }
                    }
                    None => poll_from = tokio::time::Instant::now() + Duration::from_millis(500),
                    Some(_) => {}
                }
                continue;
            }
            sample = samples.recv() => match sample {
                Ok(s) => s,
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return,
            },
        };
        // The payload type can change with every negotiation (a browser's offer picks its
        // own numbers), and rejected packets only show up in the driver's log: look it up
        // again now and then rather than once.
        written += 1;
        if payload_type.is_none() || written % 25 == 0 {
            payload_type = super::link::negotiated_payload_type(&sender).await;
        }
        let Some(pt) = payload_type else { continue };
        let sample = Sample {
            data: sample.data,
            duration: sample.duration,
            ..Sample::new(Instant::now())
        };
        if let Err(e) = track.sample_writer(ssrc, pt).write_sample(&sample).await {
            tracing::debug!("writing a sample failed: {e}");
        }
    }
}

/// Receives one remote track until it ends, counting what it decodes.
async fn receive(
    peer: String,
    track: Arc<dyn TrackRemote>,
    state: Arc<Mutex<MeshState>>,
    speaker: Option<RemoteAudio>,
    keyframe_targets: KeyframeTargets,
) {
    let kind = track.kind().await;
    let stream_id = track.stream_id().await.to_string();
    let ssrc = track.ssrcs().await.first().copied().unwrap_or(0);
    let screen = {
        let s = lock(&state);
        s.peers
            .get(&peer)
            .and_then(|p| p.info.screen_stream_id.clone())
            .is_some_and(|id| id == stream_id)
            || stream_id.starts_with("screen")
    };
    tracing::info!(%peer, ?kind, %stream_id, screen, "remote track");
    let mut video = VideoReceiver::new().ok();
    let mut audio = AudioReceiver::new().ok();
    let mut last_pli: Option<Instant> = None;
    while let Some(event) = track.poll().await {
        let packet = match event {
            TrackRemoteEvent::OnRtpPacket(packet) => packet,
            TrackRemoteEvent::OnRtcpPacket(packets) => {
                // PLI or FIR from this peer about what we send: the next frames are keyframes.
                if packets
                    .iter()
                    .any(|p| super::rtcp::is_keyframe_request(p.as_ref()))
                {
                    for control in lock_targets(&keyframe_targets).iter() {
                        control
                            .keyframe
                            .store(true, std::sync::atomic::Ordering::Relaxed);
                    }
                }
                continue;
            }
            _ => continue,
        };
        let h = &packet.header;
        if kind == RtpCodecKind::Video {
            let Some(v) = video.as_mut() else { continue };
            let decoded = v.push(h.sequence_number, h.timestamp, h.marker, &packet.payload);
            if v.needs_keyframe && last_pli.is_none_or(|t| t.elapsed() > Duration::from_millis(500))
            {
                last_pli = Some(Instant::now());
                let pli = PictureLossIndication {
                    sender_ssrc: 0,
                    media_ssrc: ssrc,
                };
                let _ = track.write_rtcp(vec![Box::new(pli)]).await;
            }
            let Some(frame) = decoded else { continue };
            let now = Instant::now();
            let mut s = lock(&state);
            let Some(p) = s.peers.get_mut(&peer) else {
                continue;
            };
            if screen {
                p.screen_frames += 1;
                p.latest_screen = Some(Arc::new(frame.rgb));
            } else {
                p.video_frames += 1;
                p.first_video.get_or_insert(now);
                p.last_video = Some(now);
                if let Some(stamp) = frame.stamp {
                    p.latencies_ms.push(latency_ms(stamp, now_ms()));
                    let (first, _) = p.stamp_range.unwrap_or((stamp.frame, stamp.frame));
                    p.stamp_range = Some((first.min(stamp.frame), stamp.frame));
                }
                p.latest_video = Some(Arc::new(frame.rgb));
            }
        } else {
            let Some(a) = audio.as_mut() else { continue };
            let samples = a.push(h.sequence_number, &packet.payload);
            if let Some(speaker) = &speaker {
                speaker.push(&samples);
            }
            let mut s = lock(&state);
            let Some(p) = s.peers.get_mut(&peer) else {
                continue;
            };
            p.audio_ms += samples.len() as u64 / 48;
            p.recent_audio.extend(samples);
            let extra = p.recent_audio.len().saturating_sub(RECENT_AUDIO);
            p.recent_audio.drain(..extra);
        }
    }
}
