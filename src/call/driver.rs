//! The mesh task: a driver that owns every link and no policy. Server messages go to
//! [`MeshState::apply`] (who is here, hands, chat) and to the links' negotiation state
//! machines; link events go to the same machines; what comes back (offers, answers,
//! keyframe requests, problems) is carried out here. Figures come from [`super::stats`].

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;
use rtc::statistics::StatsSelector;
use termmeet_signaling::protocol::{ClientMessage, IceServer, ServerMessage};
use termmeet_signaling::turn::REFRESH_BEFORE;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use webrtc::peer_connection::RTCPeerConnectionState;

use super::link::{connection_of, LinkError, LinkEvent, LinkOutput, PeerLink};
use super::local::{start_audio, start_video, Pump};
use super::mesh::{MeshCommand, MeshConfig, MeshError, SourceViews};
use super::negotiation::{Input, KeyframeGate};
use super::state::{MeshState, PeerState, Roster};
use super::stats::{
    lowest_estimate, relay_address, split_bitrate, LinkSample, Quality, StatsWindow, SCREEN_BITRATE,
};
use super::termshare::{TermShare, POLL as TERM_POLL};
use super::tracks::{
    add_source, lock, receive, request_keyframes, AudioTaps, KeyframeTargets, ReceiveSink,
    SentTrack, Source,
};
use crate::media::playback::Playback;
use crate::media::sources::{
    open_audio, open_video, screen_factory, AudioSpec, ScreenFactory, VideoSpec, SCREEN_FPS,
};
use crate::signaling::{SignalingClient, SignalingEvent};

/// A link and the tasks that carry its media.
struct LinkEntry {
    link: PeerLink,
    tracks: Vec<SentTrack>,
    receivers: Vec<JoinHandle<()>>,
    stats: StatsWindow,
    created: Instant,
    connected_once: bool,
    timeout_reported: bool,
}

/// A TURN relay that gave no relay candidate this long after a link started is reported.
const RELAY_TIMEOUT: Duration = Duration::from_secs(10);
/// A link that has not connected this long is reported.
const NEGOTIATION_TIMEOUT: Duration = Duration::from_secs(20);
/// How often the encoders' bitrate follows the congestion estimates.
const ESTIMATE_POLL: Duration = Duration::from_millis(100);
/// Keyframe requests from negotiation events (connected, answered) go out at most this often.
const KEYFRAME_DEBOUNCE: Duration = Duration::from_millis(250);

impl LinkEntry {
    async fn close(mut self) {
        for t in self.tracks.drain(..) {
            t.writer.abort();
        }
        for r in self.receivers.drain(..) {
            r.abort();
        }
        self.link.close().await;
    }
}

/// The mesh task's own state: links, local sources, and the channels it drives.
struct MeshTask {
    /// The meeting as shown; also written by receivers.
    state: Arc<Mutex<MeshState>>,
    /// The last second of audio per peer.
    taps: AudioTaps,
    signaling: SignalingClient,
    /// One link per remote participant.
    links: HashMap<String, LinkEntry>,
    /// Where links report their events.
    link_tx: mpsc::UnboundedSender<(String, LinkEvent)>,
    /// STUN and TURN servers: the server's (from `peers` or `ice-servers`), then our own.
    ice_servers: Vec<IceServer>,
    /// Our own STUN and TURN servers (flags, config file).
    own_ice_servers: Vec<IceServer>,
    /// When to ask the server for fresh TURN credentials, if it mints them.
    ice_refresh_at: Option<Instant>,
    /// Whether any link gathered a relay candidate (or the missing one was reported).
    relay_seen: bool,
    /// The relay candidates each peer announced, `ADDRESS:PORT`.
    remote_relays: HashMap<String, std::collections::HashSet<String>>,
    camera: Option<Pump>,
    microphone: Option<Pump>,
    screen: Option<Pump>,
    screen_factory: Option<ScreenFactory>,
    /// The stream id the screen track is announced under.
    screen_stream: String,
    /// The camera's bitrate ceiling.
    bitrate: u32,
    /// UDP addresses for new links.
    bind: Vec<String>,
    playback: Option<Arc<Playback>>,
    /// The video encoders a keyframe request from any receiver applies to.
    keyframe_targets: KeyframeTargets,
    /// Debounces keyframe requests from negotiation events.
    keyframe_gate: KeyframeGate,
    /// Audio received per peer at the last stats tick, to see who fell silent.
    audio_seen: HashMap<String, u64>,
    /// How sources opened mid-meeting are made: our name, camera size and frame rate.
    name: String,
    video_size: (usize, usize),
    fps: f64,
    /// Our sources' controls as the handle sees them (self view, level).
    views: SourceViews,
    /// Sources seen failing at the last tick (camera, microphone).
    failing: (bool, bool),
    /// Our shared terminal and every link's `term` channel.
    term: TermShare,
}

/// Runs `open` (which may block: devices) on a blocking thread; its error as text.
async fn off_runtime<T: Send + 'static>(
    open: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, String> {
    tokio::task::spawn_blocking(open)
        .await
        .unwrap_or_else(|e| Err(format!("the device thread failed: {e}")))
}

/// Runs the mesh until we leave.
pub(super) async fn run(
    config: MeshConfig,
    camera: Option<Pump>,
    views: SourceViews,
    state: Arc<Mutex<MeshState>>,
    taps: AudioTaps,
    mut commands: mpsc::UnboundedReceiver<MeshCommand>,
) {
    let (signaling, mut events) = SignalingClient::start(config.join.clone());
    let (link_tx, mut link_rx) = mpsc::unbounded_channel();
    let processing = Arc::clone(&views.processing);
    let microphone = config
        .microphone
        .map(|source| start_audio(source, Arc::clone(&processing)));
    *lock(&views.microphone) = microphone.as_ref().map(|p| Arc::clone(&p.control));
    {
        let mut s = lock(&state);
        s.cam = camera.is_some();
        s.mic = microphone.is_some();
        s.signaling = "connecting to server…".into();
    }
    let keyframe_targets = KeyframeTargets::default();
    if let Some(camera) = &camera {
        lock(&keyframe_targets).push(Arc::clone(&camera.control));
    }
    let mut task = MeshTask {
        state,
        taps,
        signaling,
        links: HashMap::new(),
        link_tx,
        ice_servers: config.ice_servers.clone(),
        own_ice_servers: config.ice_servers,
        ice_refresh_at: None,
        relay_seen: false,
        remote_relays: HashMap::new(),
        camera,
        microphone,
        screen: None,
        screen_factory: config.screen,
        screen_stream: format!("screen-{:08x}", rand::random::<u32>()),
        bitrate: config.bitrate,
        bind: config.bind,
        playback: config.playback,
        keyframe_targets,
        keyframe_gate: KeyframeGate::new(KEYFRAME_DEBOUNCE),
        audio_seen: HashMap::new(),
        name: config.join.name.clone(),
        video_size: config.video_size,
        fps: config.fps,
        views,
        failing: (false, false),
        term: TermShare::default(),
    };
    let mut stats = tokio::time::interval(Duration::from_secs(1));
    let mut estimates = tokio::time::interval(ESTIMATE_POLL);
    estimates.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut term_poll = tokio::time::interval(TERM_POLL);
    term_poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
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
                    task.term.stop(&task.state).await;
                    task.signaling.leave();
                    break;
                }
                Some(c) => task.on_command(c).await,
            },
            _ = stats.tick() => task.tick().await,
            _ = estimates.tick() => task.apply_estimates(),
            _ = term_poll.tick() => task.term.tick(Instant::now(), &task.state).await,
        }
    }
    for (_, entry) in task.links.drain() {
        entry.close().await;
    }
    task.update(|s| s.signaling = "left".into());
}

impl MeshTask {
    /// Changes the state, counting a new version.
    fn update<T>(&self, f: impl FnOnce(&mut MeshState) -> T) -> T {
        let mut s = lock(&self.state);
        s.version += 1;
        f(&mut s)
    }

    fn my_id(&self) -> String {
        lock(&self.state)
            .me
            .as_ref()
            .map(|m| m.id.clone())
            .unwrap_or_default()
    }

    fn name_of(&self, id: &str) -> String {
        lock(&self.state).name_of(id)
    }

    fn error(&self, e: MeshError) {
        tracing::warn!("{e}");
        self.update(|s| s.push_error(e.to_string()));
    }

    async fn on_signaling(&mut self, event: SignalingEvent) {
        match event {
            SignalingEvent::Connected { resumed } => self.update(|s| {
                s.connected = true;
                s.signaling = if resumed {
                    "connected (resumed)".into()
                } else {
                    "connected".into()
                };
            }),
            SignalingEvent::Reconnecting { retry_in, reason } => self.update(|s| {
                s.connected = false;
                let secs = retry_in.as_secs_f64().ceil();
                s.signaling = format!("reconnecting in {secs}s ({reason})");
            }),
            SignalingEvent::Stopped { reason } => {
                self.update(|s| {
                    s.connected = false;
                    s.signaling = format!("disconnected: {reason}");
                });
                self.error(MeshError::SignalingStopped(reason));
            }
            SignalingEvent::Message(message) => self.on_message(message).await,
        }
    }

    async fn on_message(&mut self, message: ServerMessage) {
        let now = Instant::now();
        match message {
            ServerMessage::Offer { from, sdp } => {
                if !self.links.contains_key(&from) && !self.open_link(&from).await {
                    return;
                }
                self.count_offer(&from);
                self.negotiate(&from, Input::RemoteOffer(sdp), now).await;
            }
            ServerMessage::Answer { from, sdp } => {
                self.negotiate(&from, Input::RemoteAnswer(sdp), now).await
            }
            ServerMessage::Candidate { from, candidate } => {
                if let Some(c) = candidate {
                    if let Some(address) = relay_address(&c.candidate) {
                        let relays = self.remote_relays.entry(from.clone()).or_default();
                        if relays.len() < 64 {
                            relays.insert(address);
                        }
                    }
                    self.negotiate(&from, Input::RemoteCandidate(c), now).await;
                }
            }
            ServerMessage::IceServers { ice_servers } => {
                self.set_ice_servers(ice_servers, now);
            }
            ServerMessage::Peers {
                ref ice_servers, ..
            } => {
                self.set_ice_servers(ice_servers.clone(), now);
                let roster = self.update(|s| s.apply(message));
                self.follow_roster(roster, now).await;
            }
            message => {
                let roster = self.update(|s| s.apply(message));
                self.follow_roster(roster, now).await;
            }
        }
    }

    /// Makes the links follow who is in the meeting.
    async fn follow_roster(&mut self, roster: Roster, now: Instant) {
        match roster {
            Roster::Unchanged => {}
            Roster::Joined(peers) => {
                for (_, entry) in self.links.drain() {
                    entry.close().await;
                }
                self.announce_media();
                // Whoever receives `peers` offers to everyone in it.
                for id in peers {
                    if self.open_link(&id).await {
                        self.negotiate(&id, Input::Negotiate, now).await;
                    }
                }
            }
            Roster::Resumed(gone) => {
                for id in gone {
                    self.close_link(&id).await;
                }
            }
            // The newcomer offers; its tracks arrive for a peer we already know.
            Roster::Arrived(id) => {
                self.open_link(&id).await;
            }
            Roster::Left(id) => self.close_link(&id).await,
        }
    }

    /// Tells the room our microphone and camera state, and a screen we share: after a fresh
    /// join nobody knows them yet.
    fn announce_media(&self) {
        let (mic, cam) = self.update(|s| (s.mic, s.cam));
        self.signaling.send(ClientMessage::MediaState { mic, cam });
        if self.screen.is_some() {
            self.signaling.send(ClientMessage::ScreenShareStarted {
                stream_id: self.screen_stream.clone(),
            });
        }
    }

    async fn close_link(&mut self, id: &str) {
        if let Some(entry) = self.links.remove(id) {
            entry.close().await;
        }
        self.term.remove_link(id, &self.state);
        self.audio_seen.remove(id);
        self.remote_relays.remove(id);
        lock(&self.taps).remove(id);
    }

    /// Feeds one input to a peer's negotiation and carries out what it asks.
    async fn negotiate(&mut self, peer: &str, input: Input, now: Instant) {
        let Some(entry) = self.links.get_mut(peer) else {
            let what = match input {
                Input::RemoteAnswer(_) => "an answer",
                Input::RemoteCandidate(_) => "a candidate",
                _ => "a message",
            };
            self.error(MeshError::UnknownPeer {
                what,
                id: peer.to_string(),
            });
            return;
        };
        let outputs = entry.link.handle(input, now).await;
        for output in outputs {
            match output {
                LinkOutput::Offer(sdp) => {
                    self.count_offer(peer);
                    self.signaling.send(ClientMessage::Offer {
                        to: peer.to_string(),
                        sdp,
                    })
                }
                LinkOutput::Answer(sdp) => self.send_answer(peer, sdp, now).await,
                LinkOutput::Keyframe => {
                    if self.keyframe_gate.allow(now) {
                        request_keyframes(&self.keyframe_targets);
                    }
                }
                LinkOutput::Problem(problem) => self.error(MeshError::Negotiation {
                    name: self.name_of(peer),
                    problem,
                }),
            }
        }
    }

    /// Sends an answer; then, if it left out a track of ours, offers again.
    async fn send_answer(&mut self, peer: &str, sdp: String, now: Instant) {
        // An answer can only take up what the offer has room for: a track of ours with no
        // m-line in it (our screen, shared when this peer arrived and offered us camera and
        // sound only) needs an offer of ours.
        let left_out = self.links.get(peer).is_some_and(|e| {
            e.tracks
                .iter()
                .any(|t| !sdp.contains(&format!("a=ssrc:{} ", t.track.ssrc)))
        });
        self.signaling.send(ClientMessage::Answer {
            to: peer.to_string(),
            sdp,
        });
        if left_out {
            Box::pin(self.negotiate(peer, Input::Negotiate, now)).await;
        }
    }

    /// Creates the link to `peer` with our current tracks; says so and returns false if it
    /// cannot be made.
    async fn open_link(&mut self, peer: &str) -> bool {
        match self.new_link(peer).await {
            Ok(entry) => {
                self.term.add_link(peer, entry.link.term_channel());
                self.links.insert(peer.to_string(), entry);
                true
            }
            Err(source) => {
                let name = self.name_of(peer);
                self.error(MeshError::Link { name, source });
                false
            }
        }
    }

    async fn new_link(&self, peer: &str) -> Result<LinkEntry, LinkError> {
        let me = self.my_id();
        let link = PeerLink::new(
            &me,
            peer,
            &self.ice_servers,
            &self.bind,
            self.link_tx.clone(),
        )
        .await?;
        let mut tracks = Vec::new();
        let stream = format!("cam-{me}");
        if let Some(p) = &self.camera {
            tracks.push(add_source(&link, Source::Camera, &stream, p).await?);
        }
        if let Some(p) = &self.microphone {
            tracks.push(add_source(&link, Source::Microphone, &stream, p).await?);
        }
        // Without a source of our own, still ask for the other side's camera and sound.
        if self.camera.is_none() {
            link.receive_only(RtpCodecKind::Video).await?;
        }
        if self.microphone.is_none() {
            link.receive_only(RtpCodecKind::Audio).await?;
        }
        if let Some(p) = &self.screen {
            tracks.push(add_source(&link, Source::Screen, &self.screen_stream, p).await?);
        }
        Ok(LinkEntry {
            link,
            tracks,
            receivers: Vec::new(),
            stats: StatsWindow::default(),
            created: Instant::now(),
            connected_once: false,
            timeout_reported: false,
        })
    }

    async fn on_link(&mut self, peer: String, event: LinkEvent) {
        match event {
            LinkEvent::Candidate(c) => {
                self.relay_seen |= c.candidate.contains(" typ relay");
                self.signaling.send(ClientMessage::Candidate {
                    to: peer,
                    candidate: Some(c),
                })
            }
            LinkEvent::Ice(state) => self.update(|s| {
                if let Some(p) = s.peers.get_mut(&peer) {
                    p.ice = state.to_string();
                }
            }),
            LinkEvent::State(state) => {
                self.update(|s| {
                    if let Some(p) = s.peers.get_mut(&peer) {
                        p.connection = state.to_string();
                        if state != RTCPeerConnectionState::Connected {
                            p.quality = Quality::Disconnected;
                        }
                    }
                });
                if let Some(entry) = self.links.get_mut(&peer) {
                    entry.connected_once |= state == RTCPeerConnectionState::Connected;
                }
                if state == RTCPeerConnectionState::Connected {
                    self.note_short_code(&peer).await;
                }
                let input = Input::Connection(connection_of(state));
                self.negotiate(&peer, input, Instant::now()).await;
            }
            LinkEvent::Track(track) => {
                let sink = ReceiveSink {
                    state: Arc::clone(&self.state),
                    taps: Arc::clone(&self.taps),
                    speaker: self.playback.as_ref().map(|p| p.add_stream()),
                    keyframe_targets: Arc::clone(&self.keyframe_targets),
                };
                let handle = tokio::spawn(receive(peer.clone(), track, sink));
                if let Some(entry) = self.links.get_mut(&peer) {
                    entry.receivers.push(handle);
                }
            }
            // Offers are made explicitly when tracks change; the first offer comes from
            // whoever received `peers`.
            LinkEvent::NegotiationNeeded => {}
            LinkEvent::Term(event) => self.term.on_event(&peer, event, &self.state),
        }
    }

    async fn on_command(&mut self, command: MeshCommand) {
        match command {
            MeshCommand::Cam(on) => self.set_source(Source::Camera, on),
            MeshCommand::Mic(on) => self.set_source(Source::Microphone, on),
            MeshCommand::Screen(true) => self.start_screen().await,
            MeshCommand::Screen(false) => self.stop_screen().await,
            MeshCommand::HandRaise => self.signaling.send(ClientMessage::RaiseHand {}),
            MeshCommand::HandLower(peer) => self.signaling.send(ClientMessage::LowerHand { peer }),
            MeshCommand::Chat(text) => self.signaling.send(ClientMessage::Chat { text }),
            MeshCommand::ChatEnabled(true) => self.signaling.send(ClientMessage::ChatEnabled {}),
            MeshCommand::ChatEnabled(false) => self.signaling.send(ClientMessage::ChatDisabled {}),
            MeshCommand::UseCamera(spec) => self.use_camera(spec).await,
            MeshCommand::UseMicrophone(spec) => self.use_microphone(spec).await,
            MeshCommand::UseScreen(spec) => self.use_screen(spec).await,
            MeshCommand::UseSpeaker(name) => self.use_speaker(name).await,
            MeshCommand::ShareTerminal(Some(spec)) => {
                if let Err(e) = self.term.start(&spec, &self.state) {
                    self.update(|s| s.push_error(format!("cannot share a terminal: {e}")));
                }
            }
            MeshCommand::ShareTerminal(None) => self.term.stop(&self.state).await,
            MeshCommand::TerminalKeys { to: None, bytes } => self.term.type_local(&bytes),
            MeshCommand::TerminalKeys {
                to: Some(peer),
                bytes,
            } => self.term.type_remote(&peer, &bytes, &self.state).await,
            MeshCommand::TerminalControl(peer) => self.term.grant(peer, &self.state),
            MeshCommand::TerminalResize(cols, rows) => {
                if let Err(e) = self.term.resize(cols, rows, &self.state) {
                    self.update(|s| s.push_error(e));
                }
            }
            MeshCommand::AudioProcessing(feature, on) => {
                self.views.processing.set(feature, on);
                let what = self.views.processing.features().describe();
                tracing::info!("audio processing: {what}");
            }
            MeshCommand::Leave => {}
        }
    }

    /// Camera or microphone on or off, told to the room.
    fn set_source(&self, source: Source, on: bool) {
        let pump = if source == Source::Camera {
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
        let has = pump.is_some();
        let (mic, cam) = self.update(|s| {
            if source == Source::Camera {
                s.cam = on && has;
            } else {
                s.mic = on && has;
            }
            (s.mic, s.cam)
        });
        self.signaling.send(ClientMessage::MediaState { mic, cam });
    }

    /// Feeds the camera track from `spec`: the same track, so no renegotiation, unless we
    /// had no camera at all (then a track is added).
    async fn use_camera(&mut self, spec: VideoSpec) {
        if spec == VideoSpec::None {
            return self.set_source(Source::Camera, false);
        }
        let (size, fps, name, what) = (self.video_size, self.fps, self.name.clone(), spec.clone());
        let opened = tokio::task::spawn_blocking(move || open_video(&what, size, fps, &name)).await;
        let source = match opened {
            Ok(Ok(Some(source))) => source,
            Ok(Ok(None)) => return,
            Ok(Err(e)) => return self.error(MeshError::Device(format!("cannot use {spec}: {e}"))),
            Err(e) => return self.error(MeshError::Device(format!("cannot use {spec}: {e}"))),
        };
        tracing::info!("camera: now {}", source.describe());
        match &self.camera {
            Some(pump) => pump.control.switch_video(source),
            None => {
                let pump = start_video(source, fps, self.bitrate);
                let stream = format!("cam-{}", self.my_id());
                self.attach(Source::Camera, &stream, &pump).await;
                lock(&self.keyframe_targets).push(Arc::clone(&pump.control));
                *lock(&self.views.camera) = Some(Arc::clone(&pump.control));
                self.camera = Some(pump);
                self.renegotiate_all().await;
            }
        }
        self.failing.0 = false;
        self.set_source(Source::Camera, true);
    }

    /// Feeds the microphone track from `spec` (a track is added only if we had none).
    async fn use_microphone(&mut self, spec: AudioSpec) {
        let what = spec.clone();
        let source = match off_runtime(move || open_audio(&what)).await {
            Ok(source) => source,
            Err(e) => return self.error(MeshError::Device(format!("cannot use {spec}: {e}"))),
        };
        tracing::info!("microphone: now {}", source.describe());
        match &self.microphone {
            Some(pump) => pump.control.switch_audio(source),
            None => {
                let pump = start_audio(source, Arc::clone(&self.views.processing));
                *lock(&self.views.microphone) = Some(Arc::clone(&pump.control));
                let stream = format!("cam-{}", self.my_id());
                self.attach(Source::Microphone, &stream, &pump).await;
                self.microphone = Some(pump);
                self.renegotiate_all().await;
            }
        }
        self.failing.1 = false;
        self.set_source(Source::Microphone, true);
    }

    /// Shares `spec` from now on; while sharing, the screen track switches to it at once.
    async fn use_screen(&mut self, spec: VideoSpec) {
        let factory = screen_factory(spec.clone(), self.name.clone(), false);
        if let Some(pump) = &self.screen {
            match factory() {
                Ok(opened) => {
                    if let Some(why) = opened.fallback {
                        self.update(|s| s.push_error(why));
                    }
                    pump.control.switch_video(opened.source)
                }
                Err(e) => {
                    return self.error(MeshError::Screen(format!("cannot share {spec}: {e}")))
                }
            }
        }
        self.screen_factory = Some(factory);
    }

    /// Moves remote audio to another speaker.
    async fn use_speaker(&mut self, name: Option<String>) {
        let result = match &self.playback {
            Some(playback) => {
                let playback = Arc::clone(playback);
                off_runtime(move || playback.switch(name.as_deref()).map_err(|e| e.to_string()))
                    .await
            }
            None => Err("this meeting plays no audio (started without a speaker)".into()),
        };
        match result {
            Ok(speaker) => {
                tracing::info!("speaker: now {speaker}");
                self.update(|s| s.push_error(format!("playing on {speaker}")));
            }
            Err(e) => self.error(MeshError::Device(format!("cannot change the speaker: {e}"))),
        }
    }

    /// Adds a track fed by `pump` to every link.
    async fn attach(&mut self, source: Source, stream: &str, pump: &Pump) {
        let peers: Vec<String> = self.links.keys().cloned().collect();
        for peer in &peers {
            let Some(entry) = self.links.get_mut(peer) else {
                continue;
            };
            match add_source(&entry.link, source, stream, pump).await {
                Ok(t) => entry.tracks.push(t),
                Err(source) => {
                    let name = self.name_of(peer);
                    self.error(MeshError::Link { name, source });
                }
            }
        }
    }

    async fn renegotiate_all(&mut self) {
        let peers: Vec<String> = self.links.keys().cloned().collect();
        for peer in peers {
            self.negotiate(&peer, Input::Negotiate, Instant::now())
                .await;
        }
    }

    /// A camera or microphone that stopped turns off for everyone, with a notice; one that
    /// works again is offered back.
    fn watch_sources(&mut self) {
        let failure = |pump: &Option<Pump>| pump.as_ref().and_then(|p| p.control.failure());
        for (source, what, key) in [
            (Source::Camera, "camera", 'v'),
            (Source::Microphone, "microphone", 'm'),
        ] {
            let (pump, was) = if source == Source::Camera {
                (&self.camera, self.failing.0)
            } else {
                (&self.microphone, self.failing.1)
            };
            let now = failure(pump);
            let described = pump
                .as_ref()
                .map(|p| p.control.describe())
                .unwrap_or_default();
            match (&now, was) {
                (Some(why), false) => {
                    self.error(MeshError::Device(format!(
                        "the {what} stopped ({described}: {why}); it is off for everyone; press d to choose another"
                    )));
                    self.set_source(source, false);
                }
                (None, true) => self.update(|s| {
                    s.push_error(format!("the {what} works again: press {key} to turn it on"))
                }),
                _ => {}
            }
            if source == Source::Camera {
                self.failing.0 = now.is_some();
            } else {
                self.failing.1 = now.is_some();
            }
        }
    }

    async fn start_screen(&mut self) {
        if self.screen.is_some() {
            return;
        }
        let source = match &self.screen_factory {
            Some(factory) => factory(),
            None => Err("no screen source to share".into()),
        };
        let source = match source {
            Ok(opened) => {
                // No display to capture (over SSH, say): people must know what they share.
                if let Some(why) = opened.fallback {
                    self.update(|s| s.push_error(why));
                }
                opened.source
            }
            Err(e) => return self.error(MeshError::Screen(e)),
        };
        let pump = start_video(source, SCREEN_FPS, SCREEN_BITRATE);
        // Announce the stream first, so receivers can tell the screen track when it lands.
        self.signaling.send(ClientMessage::ScreenShareStarted {
            stream_id: self.screen_stream.clone(),
        });
        let peers: Vec<String> = self.links.keys().cloned().collect();
        for peer in &peers {
            let Some(entry) = self.links.get_mut(peer) else {
                continue;
            };
            match add_source(&entry.link, Source::Screen, &self.screen_stream, &pump).await {
                Ok(t) => entry.tracks.push(t),
                Err(source) => {
                    let name = self.name_of(peer);
                    self.error(MeshError::Link { name, source });
                }
            }
        }
        lock(&self.keyframe_targets).push(Arc::clone(&pump.control));
        self.screen = Some(pump);
        self.update(|s| s.screen = true);
        for peer in peers {
            self.negotiate(&peer, Input::Negotiate, Instant::now())
                .await;
        }
    }

    async fn stop_screen(&mut self) {
        let Some(old) = self.screen.take() else {
            return;
        };
        lock(&self.keyframe_targets).retain(|c| !Arc::ptr_eq(c, &old.control));
        let peers: Vec<String> = self.links.keys().cloned().collect();
        for peer in &peers {
            let Some(entry) = self.links.get_mut(peer) else {
                continue;
            };
            let (screen, kept): (Vec<_>, Vec<_>) = entry
                .tracks
                .drain(..)
                .partition(|t| t.source == Source::Screen);
            entry.tracks = kept;
            for t in screen {
                t.writer.abort();
                if let Err(e) = entry.link.remove_track(&t.track).await {
                    tracing::warn!("removing the screen track for {peer}: {e}");
                }
            }
        }
        self.update(|s| s.screen = false);
        self.signaling.send(ClientMessage::ScreenShareStopped {});
        for peer in peers {
            self.negotiate(&peer, Input::Negotiate, Instant::now())
                .await;
        }
    }

    /// The short code of the link to `peer`, from both descriptions' fingerprints.
    async fn note_short_code(&mut self, peer: &str) {
        let Some(entry) = self.links.get(peer) else {
            return;
        };
        let pc = entry.link.connection();
        let (local, remote) = (pc.local_description().await, pc.remote_description().await);
        let code = match (local, remote) {
            (Some(l), Some(r)) => super::sas::short_code(&l.sdp, &r.sdp),
            _ => None,
        };
        if code.is_some() {
            self.update(|s| {
                if let Some(p) = s.peers.get_mut(peer) {
                    p.sas = code;
                }
            });
        }
    }

    /// With a TURN relay configured, a link that gathered for [`RELAY_TIMEOUT`] without a
    /// relay candidate means the relay refused us or cannot be reached: said once, not left
    /// to look like a hang.
    fn check_relay(&mut self, now: Instant) {
        if self.relay_seen {
            return;
        }
        let turn: Vec<&str> = self
            .ice_servers
            .iter()
            .flat_map(|s| s.urls.iter())
            .filter(|u| u.starts_with("turn"))
            .map(String::as_str)
            .collect();
        let waited = self
            .links
            .values()
            .any(|l| now.duration_since(l.created) > RELAY_TIMEOUT);
        if turn.is_empty() || !waited {
            return;
        }
        self.relay_seen = true;
        let urls = turn.join(", ");
        self.error(MeshError::NoRelay {
            urls,
            secs: RELAY_TIMEOUT.as_secs(),
        });
    }

    /// The server's ICE servers with ours after them; fresh credentials are asked for
    /// `REFRESH_BEFORE` ahead of the earliest expiry. New links and ICE restarts use them.
    fn set_ice_servers(&mut self, from_server: Vec<IceServer>, now: Instant) {
        let earliest = from_server.iter().filter_map(|s| s.ttl).min();
        self.ice_refresh_at =
            earliest.map(|ttl| now + Duration::from_secs(ttl).saturating_sub(REFRESH_BEFORE));
        self.ice_servers = from_server;
        self.ice_servers
            .extend(self.own_ice_servers.iter().cloned());
    }

    /// Once a second: figures for every link, ICE restarts that are due, links that never
    /// connected, and who fell silent.
    async fn tick(&mut self) {
        let now = Instant::now();
        if self.ice_refresh_at.is_some_and(|at| now >= at) {
            // Asked again in a minute if no answer comes.
            self.ice_refresh_at = Some(now + Duration::from_secs(60));
            self.signaling.send(ClientMessage::RefreshIce {});
        }
        let peers: Vec<String> = self.links.keys().cloned().collect();
        for peer in &peers {
            let connected = self.read_peer(peer, |p| p.connection == "connected");
            let Some(entry) = self.links.get_mut(peer) else {
                continue;
            };
            let report = entry
                .link
                .connection()
                .get_stats(now, StatsSelector::None)
                .await;
            let mut sample = LinkSample::from_report(&report);
            if sample.path != "relay" {
                // The far end's relay: by the pair's remote candidate as the ICE transport
                // knows it (peer-reflexive ones included), or by an address the peer
                // announced as its relay.
                let remote = entry.link.selected_remote().await;
                let relays = self.remote_relays.get(peer);
                let announced = |a: &str| relays.is_some_and(|r| r.contains(a));
                let far_relay = announced(&sample.remote_address)
                    || remote.is_some_and(|(kind, address)| kind == "relay" || announced(&address));
                if far_relay {
                    sample.path = "relay".into();
                }
            }
            // The estimate comes from the controller itself: 0.21's stats report leaves
            // `target_bitrate` at 0 (see `link::Estimate`).
            let estimate = entry.link.estimate();
            let rtt = sample.rtt_ms;
            entry.link.set_rtt(rtt);
            let figures = entry.stats.push(now, sample, connected);
            tracing::debug!(%peer, ?estimate, rtt, path = %figures.path, "link sample");
            let never = !entry.connected_once
                && !entry.timeout_reported
                && now.duration_since(entry.created) > NEGOTIATION_TIMEOUT;
            entry.timeout_reported |= never;
            self.update(|s| {
                if let Some(p) = s.peers.get_mut(peer) {
                    p.rtt_ms = figures.rtt_ms;
                    p.loss_pct = figures.loss_pct;
                    p.bitrate_kbps = figures.bitrate_kbps;
                    p.bitrate_out_kbps = figures.bitrate_out_kbps;
                    p.jitter_ms = figures.jitter_ms;
                    p.path = figures.path;
                    p.quality = figures.quality;
                }
            });
            if never {
                let secs = NEGOTIATION_TIMEOUT.as_secs();
                self.error(MeshError::NeverConnected {
                    name: self.name_of(peer),
                    secs,
                });
            }
            self.negotiate(peer, Input::Tick, now).await;
        }
        self.check_relay(now);
        self.quiet_the_silent();
        self.watch_sources();
    }

    /// Sets the shared encoders' bitrate from the links' congestion estimates (several times
    /// a second: an encoder told late keeps filling a queue the controller already saw).
    fn apply_estimates(&mut self) {
        let estimates = self.links.values().map(|entry| entry.link.estimate());
        if let (Some(estimate), Some(camera)) = (lowest_estimate(estimates), &self.camera) {
            let split = split_bitrate(estimate, self.bitrate, self.screen.is_some());
            let before = camera.control.bitrate.load(Ordering::Relaxed);
            if before != split.camera {
                tracing::debug!(estimate, camera = split.camera, "congestion estimate");
            }
            camera
                .control
                .bitrate
                .store(split.camera, Ordering::Relaxed);
            if let (Some(rate), Some(screen)) = (split.screen, &self.screen) {
                screen.control.bitrate.store(rate, Ordering::Relaxed);
            }
        }
    }

    fn count_offer(&self, peer: &str) {
        self.update(|s| {
            if let Some(p) = s.peers.get_mut(peer) {
                p.offers += 1;
            }
        });
    }

    fn read_peer<T: Default>(&self, peer: &str, f: impl FnOnce(&PeerState) -> T) -> T {
        lock(&self.state).peers.get(peer).map(f).unwrap_or_default()
    }

    /// A peer from whom no audio came since the last tick is not speaking.
    fn quiet_the_silent(&mut self) {
        let mut s = lock(&self.state);
        let mut changed = false;
        for (id, p) in s.peers.iter_mut() {
            let before = self.audio_seen.insert(id.clone(), p.audio_ms);
            if before == Some(p.audio_ms) && p.audio_level > 0.0 {
                p.audio_level = 0.0;
                changed = true;
            }
        }
        if changed {
            s.version += 1;
        }
    }
}
