//! The mesh task: a driver that owns the meeting state, every link and every local source,
//! and holds no policy of its own. Server messages go to [`MeshState::apply`] (who is here,
//! hands, chat) and to the links' negotiation state machines; link events go to the same
//! machines; what receivers decode comes in as [`Received`] events; what comes back
//! (offers, answers, keyframe requests, problems) is carried out here. Policy lives in
//! [`super::negotiation`], [`super::health`] and [`super::stats`].
//!
//! The parts: this file (the loop, signaling, commands), [`links`] (the set of links and
//! what arrives on them), [`sources`] (our camera, microphone, screen and speaker), and
//! [`tick`] (the once-a-second look at every link's figures and health).

mod links;
mod sfu;
mod sources;
mod tick;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use termmeet_signaling::protocol::{ClientMessage, IceServer, MediaMode, ServerMessage};
use tokio::sync::mpsc;

use super::command::MeshCommand;
use super::error::MeshError;
use super::health::{AnnouncedRelays, IceRefresh, RelayWatch};
use super::inbound::{AudioTaps, Received};
use super::link::LinkEvent;
use super::local::Pump;
use super::meeting::Meeting;
use super::negotiation::{Input, KeyframeGate};
use super::setup::{MeshConfig, SourceViews};
use super::state::Roster;
use super::stats::relay_address;
use super::termshare::{TermShare, POLL as TERM_POLL};
use crate::signaling::{SignalingClient, SignalingEvent};
use links::LinkEntry;
use sources::LocalSources;
use tick::LinkReading;

/// How often the encoders' bitrate follows the congestion estimates.
const ESTIMATE_POLL: Duration = Duration::from_millis(100);
/// Keyframe requests from negotiation events (connected, answered) go out at most this often.
const KEYFRAME_DEBOUNCE: Duration = Duration::from_millis(250);

/// The mesh task's own state: the meeting, links, local sources, and the channels it drives.
struct MeshTask {
    /// The meeting as shown: this task is its only writer.
    meeting: Meeting,
    /// The last second of audio per peer.
    taps: AudioTaps,
    /// Which of each peer's sound tracks is played.
    voices: crate::call::voices::Voices,
    signaling: SignalingClient,
    /// One link per remote participant.
    links: HashMap<String, LinkEntry>,
    /// Where links report their events.
    link_tx: mpsc::UnboundedSender<(String, LinkEvent)>,
    /// Where receivers report what they decoded.
    received_tx: mpsc::UnboundedSender<(String, Received)>,
    /// Where the stats of every link, fetched off the loop, come back.
    readings_tx: mpsc::UnboundedSender<Vec<(String, LinkReading)>>,
    /// Whether a stats fetch is under way (one at a time).
    reading: bool,
    /// STUN and TURN servers: the server's (from `peers` or `ice-servers`), then our own.
    ice_servers: Vec<IceServer>,
    /// Our own STUN and TURN servers (flags, config file).
    own_ice_servers: Vec<IceServer>,
    /// When to ask the server for fresh TURN credentials, if it mints them.
    ice_refresh: IceRefresh,
    /// Whether a configured TURN relay gave us anything.
    relay: RelayWatch,
    /// The relay candidates each peer announced.
    remote_relays: AnnouncedRelays,
    /// Our camera, microphone, screen and speaker.
    sources: LocalSources,
    /// UDP addresses for new links.
    bind: Vec<String>,
    /// Debounces keyframe requests from negotiation events.
    keyframe_gate: KeyframeGate,
    /// Audio received per peer at the last stats tick, to see who fell silent.
    audio_seen: HashMap<String, u64>,
    /// Our shared terminal and every link's `term` channel.
    term: TermShare,
    /// The media mode our links follow, and a switch under way.
    mode: sfu::ModeState,
    /// The peers whose cameras are drawn, as last told to the server (`None`: everyone's).
    view: Option<Vec<String>>,
}

/// The channels the loop reads, apart from the task so that its methods can borrow it.
struct Inboxes {
    events: mpsc::UnboundedReceiver<SignalingEvent>,
    links: mpsc::UnboundedReceiver<(String, LinkEvent)>,
    received: mpsc::UnboundedReceiver<(String, Received)>,
    readings: mpsc::UnboundedReceiver<Vec<(String, LinkReading)>>,
    commands: mpsc::UnboundedReceiver<MeshCommand>,
}

/// Runs the mesh until we leave.
pub(super) async fn run(
    mut config: MeshConfig,
    camera: Option<Pump>,
    views: SourceViews,
    meeting: Meeting,
    taps: AudioTaps,
    commands: mpsc::UnboundedReceiver<MeshCommand>,
) {
    let (signaling, events) = SignalingClient::start(config.join.clone());
    let (link_tx, links) = mpsc::unbounded_channel();
    let (received_tx, received) = mpsc::unbounded_channel();
    let (readings_tx, readings) = mpsc::unbounded_channel();
    let sources = LocalSources::new(&mut config, camera, views);
    meeting.update(|s| {
        s.cam = sources.camera.is_some();
        s.mic = sources.microphone.is_some();
        s.signaling = "connecting to server…".into();
    });
    let mut task = MeshTask {
        meeting,
        taps,
        voices: Default::default(),
        signaling,
        links: HashMap::new(),
        link_tx,
        received_tx,
        readings_tx,
        reading: false,
        ice_servers: config.ice_servers.clone(),
        own_ice_servers: config.ice_servers,
        ice_refresh: IceRefresh::default(),
        relay: RelayWatch::default(),
        remote_relays: AnnouncedRelays::default(),
        sources,
        bind: config.bind,
        keyframe_gate: KeyframeGate::new(KEYFRAME_DEBOUNCE),
        audio_seen: HashMap::new(),
        term: TermShare::default(),
        mode: sfu::ModeState::default(),
        view: None,
    };
    let inboxes = Inboxes {
        events,
        links,
        received,
        readings,
        commands,
    };
    task.drive(inboxes).await;
    for (_, entry) in task.links.drain() {
        entry.close().await;
    }
    task.meeting.update(|s| s.signaling = "left".into());
}

impl MeshTask {
    /// The loop: whatever comes first, until we leave or signaling gives up for good.
    async fn drive(&mut self, mut inbox: Inboxes) {
        let mut stats = tokio::time::interval(Duration::from_secs(1));
        let mut estimates = tokio::time::interval(ESTIMATE_POLL);
        estimates.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut term_poll = tokio::time::interval(TERM_POLL);
        term_poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            // Ticks that have nothing to look at are not polled: a still meeting sleeps.
            let (linked, sharing) = (!self.links.is_empty(), self.term.sharing());
            tokio::select! {
                event = inbox.events.recv() => match event {
                    Some(SignalingEvent::Stopped { reason }) | Some(SignalingEvent::Reconnecting { reason, .. }) if reason == "left" => break,
                    Some(event) => self.on_signaling(event).await,
                    None => break,
                },
                Some((peer, event)) = inbox.links.recv() => self.on_link(peer, event).await,
                Some((peer, received)) = inbox.received.recv() => self.on_received(&peer, received),
                Some(readings) = inbox.readings.recv() => self.on_readings(readings).await,
                command = inbox.commands.recv() => match command {
                    Some(MeshCommand::Leave) | None => {
                        let end = self.term.stop(&self.meeting).await;
                        self.send_all(end);
                        self.signaling.leave();
                        break;
                    }
                    Some(c) => self.on_command(c).await,
                },
                _ = stats.tick() => self.tick().await,
                _ = estimates.tick(), if linked => self.sources.apply_estimates(&self.links),
                _ = term_poll.tick(), if sharing => {
                    let out = self.term.tick(Instant::now(), &self.meeting).await;
                    self.send_all(out);
                }
            }
        }
    }

    /// Sends each of `messages` to the server.
    fn send_all(&self, messages: Vec<ClientMessage>) {
        for m in messages {
            self.signaling.send(m);
        }
    }

    fn my_id(&self) -> String {
        self.meeting
            .read(|s| s.me.as_ref().map(|m| m.id.clone()))
            .unwrap_or_default()
    }

    fn name_of(&self, id: &str) -> String {
        self.meeting.read(|s| s.name_of(id))
    }

    fn error(&self, e: MeshError) {
        tracing::warn!("{e}");
        self.meeting.update(|s| s.push_error(e.to_string()));
    }

    async fn on_signaling(&mut self, event: SignalingEvent) {
        match event {
            SignalingEvent::Connected { resumed } => self.meeting.update(|s| {
                s.connected = true;
                s.signaling = if resumed {
                    "connected (resumed)".into()
                } else {
                    "connected".into()
                };
            }),
            SignalingEvent::Reconnecting { retry_in, reason } => self.meeting.update(|s| {
                s.connected = false;
                let secs = retry_in.as_secs_f64().ceil();
                s.signaling = format!("reconnecting in {secs}s ({reason})");
            }),
            SignalingEvent::Stopped { reason } => {
                self.meeting.update(|s| {
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
                        self.remote_relays.note(&from, address);
                    }
                    self.negotiate(&from, Input::RemoteCandidate(c), now).await;
                }
            }
            ServerMessage::Term {
                from,
                seq,
                data,
                sync,
            } => {
                let back = self
                    .term
                    .on_room(&from, seq, data, sync, &self.meeting, now);
                self.send_all(back.into_iter().collect());
            }
            ServerMessage::IceServers { ice_servers } => {
                self.set_ice_servers(ice_servers, now);
            }
            ServerMessage::Peers {
                ref ice_servers, ..
            } => {
                self.set_ice_servers(ice_servers.clone(), now);
                let roster = self.meeting.update(|s| s.apply(message));
                self.follow_roster(roster, now).await;
            }
            message => {
                let roster = self.meeting.update(|s| s.apply(message));
                self.follow_roster(roster, now).await;
            }
        }
        self.follow_mode(now).await;
    }

    /// Makes the links follow who is in the meeting.
    async fn follow_roster(&mut self, roster: Roster, now: Instant) {
        match roster {
            Roster::Unchanged => {}
            Roster::Joined(peers) => {
                for (_, entry) in self.links.drain() {
                    entry.close().await;
                }
                self.mode = sfu::ModeState::default();
                self.announce_media();
                if self.meeting.read(|s| s.media_mode) != MediaMode::Mesh {
                    // `follow_mode` makes the SFU's links.
                    return;
                }
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
                if self.meshed() {
                    self.open_link(&id).await;
                } else {
                    self.term.peer_arrived();
                }
            }
            Roster::Left(id) => {
                self.close_link(&id).await;
                self.term.peer_left(&id, &self.meeting);
            }
        }
    }

    /// Tells the room our microphone and camera state, and a screen we share: after a fresh
    /// join nobody knows them yet.
    fn announce_media(&self) {
        let (mic, cam) = self.meeting.read(|s| (s.mic, s.cam));
        self.signaling.send(ClientMessage::MediaState { mic, cam });
        if self.sources.screen.is_some() {
            self.signaling.send(ClientMessage::ScreenShareStarted {
                stream_id: self.sources.screen_stream.clone(),
            });
        }
        if self.view.is_some() {
            self.signaling.send(ClientMessage::View {
                video: self.view.clone(),
            });
        }
    }

    async fn on_command(&mut self, command: MeshCommand) {
        match command {
            MeshCommand::HandRaise => self.signaling.send(ClientMessage::RaiseHand {}),
            MeshCommand::HandLower(peer) => self.signaling.send(ClientMessage::LowerHand { peer }),
            MeshCommand::Chat(text) => self.signaling.send(ClientMessage::Chat { text }),
            MeshCommand::ChatEnabled(true) => self.signaling.send(ClientMessage::ChatEnabled {}),
            MeshCommand::ChatEnabled(false) => self.signaling.send(ClientMessage::ChatDisabled {}),
            MeshCommand::ShareTerminal(_)
            | MeshCommand::TerminalKeys { .. }
            | MeshCommand::TerminalControl(_)
            | MeshCommand::TerminalResize(..) => self.on_terminal_command(command).await,
            MeshCommand::AudioProcessing(feature, on) => {
                let processing = &self.sources.views.processing;
                processing.set(feature, on);
                let what = processing.features().describe();
                tracing::info!("audio processing: {what}");
            }
            MeshCommand::View(video) => {
                if video != self.view {
                    self.view = video.clone();
                    self.signaling.send(ClientMessage::View { video });
                }
            }
            MeshCommand::Leave => {}
            source => self.on_source_command(source).await,
        }
    }

    async fn on_terminal_command(&mut self, command: MeshCommand) {
        match command {
            MeshCommand::ShareTerminal(Some(spec)) => {
                if let Err(e) = self.term.start(&spec, &self.meeting) {
                    let notice = format!("cannot share a terminal: {e}");
                    self.meeting.update(|s| s.push_error(notice));
                }
            }
            MeshCommand::ShareTerminal(None) => {
                let end = self.term.stop(&self.meeting).await;
                self.send_all(end);
            }
            MeshCommand::TerminalKeys { to: None, bytes } => self.term.type_local(&bytes),
            MeshCommand::TerminalKeys {
                to: Some(peer),
                bytes,
            } => {
                let keys = self.term.type_remote(&peer, &bytes, &self.meeting).await;
                self.send_all(keys.into_iter().collect());
            }
            MeshCommand::TerminalControl(peer) => self.term.grant(peer, &self.meeting),
            MeshCommand::TerminalResize(cols, rows) => {
                if let Err(e) = self.term.resize(cols, rows, &self.meeting) {
                    let notice = format!("cannot resize the shared terminal: {e}");
                    self.meeting.update(|s| s.push_error(notice));
                }
            }
            _ => {}
        }
    }

    /// The server's ICE servers with ours after them; fresh credentials are asked for ahead
    /// of the earliest expiry. New links and ICE restarts use them.
    fn set_ice_servers(&mut self, from_server: Vec<IceServer>, now: Instant) {
        self.ice_refresh
            .credentials(from_server.iter().filter_map(|s| s.ttl), now);
        self.ice_servers = from_server;
        self.ice_servers
            .extend(self.own_ice_servers.iter().cloned());
    }

    fn count_offer(&self, peer: &str) {
        self.meeting.update_if(|s| {
            if let Some(p) = s.peers.get_mut(peer) {
                p.offers += 1;
            }
            false
        });
    }
}

/// Runs `open` (which may block: devices) on a blocking thread; its error as text.
async fn off_runtime<T: Send + 'static>(
    open: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, String> {
    tokio::task::spawn_blocking(open)
        .await
        .unwrap_or_else(|e| Err(format!("the device thread failed: {e}")))
}

/// What `Arc` the screen factory is shared under, so it can be called off the runtime.
type SharedScreenFactory = Arc<crate::media::sources::ScreenFactory>;
