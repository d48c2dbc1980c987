//! The set of links: making one for a peer with our current tracks, feeding its
//! negotiation and carrying out what that says, what arrives on it (candidates, states,
//! tracks, the `term` channel), what its receivers decode, and tearing it down.

use std::sync::Arc;
use std::time::Instant;

use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;
use termmeet_signaling::protocol::{is_sfu_id, ClientMessage, SFU_PUBLISH, SFU_SUBSCRIBE};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::MeshTask;
use crate::call::error::MeshError;
use crate::call::health::ConnectWatch;
use crate::call::inbound::{receive, PathFigures, ReceiveSink, Received};
use crate::call::link::{link_state_of, LinkError, LinkEvent, LinkOutput, PeerLink};
use crate::call::negotiation::Input;
use crate::call::peer::LinkState;
use crate::call::stats::StatsWindow;
use crate::call::tracks::{add_source, request_keyframes, SentTrack, Source};
use crate::sync::lock;

/// A link and the tasks that carry its media.
pub(super) struct LinkEntry {
    pub(super) link: PeerLink,
    pub(super) tracks: Vec<SentTrack>,
    pub(super) receivers: Vec<JoinHandle<()>>,
    /// Recent stats samples, for loss and bitrates over a window.
    pub(super) stats: StatsWindow,
    /// Whether it ever connected, and whether its failing to was told.
    pub(super) connect: ConnectWatch,
    /// The path figures its receivers size their jitter buffers by.
    pub(super) path: watch::Sender<PathFigures>,
}

impl LinkEntry {
    fn new(link: PeerLink) -> LinkEntry {
        LinkEntry {
            link,
            tracks: Vec::new(),
            receivers: Vec::new(),
            stats: StatsWindow::default(),
            connect: ConnectWatch::new(Instant::now()),
            path: watch::Sender::new(PathFigures::default()),
        }
    }

    pub(super) async fn close(mut self) {
        for t in self.tracks.drain(..) {
            t.writer.abort();
        }
        for r in self.receivers.drain(..) {
            r.abort();
        }
        self.link.close().await;
    }
}

impl MeshTask {
    /// Creates the link to `peer` with our current tracks; says so and returns false if it
    /// cannot be made.
    pub(super) async fn open_link(&mut self, peer: &str) -> bool {
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
        if peer == SFU_SUBSCRIBE {
            // The SFU offers what it has for us; we send nothing on it.
            return Ok(LinkEntry::new(link));
        }
        let stream = format!("cam-{me}");
        let sources = &self.sources;
        if let Some(p) = &sources.camera {
            tracks.push(add_source(&link, Source::Camera, &stream, p).await?);
        }
        if let Some(p) = &sources.microphone {
            tracks.push(add_source(&link, Source::Microphone, &stream, p).await?);
        }
        // Without a source of our own, still ask for the other side's camera and sound
        // (the SFU's publishing link only sends).
        if sources.camera.is_none() && peer != SFU_PUBLISH {
            link.receive_only(RtpCodecKind::Video).await?;
        }
        if sources.microphone.is_none() && peer != SFU_PUBLISH {
            link.receive_only(RtpCodecKind::Audio).await?;
        }
        if let Some(p) = &sources.screen {
            tracks.push(add_source(&link, Source::Screen, &sources.screen_stream, p).await?);
        }
        let mut entry = LinkEntry::new(link);
        entry.tracks = tracks;
        Ok(entry)
    }

    pub(super) async fn close_link(&mut self, id: &str) {
        if let Some(entry) = self.links.remove(id) {
            entry.close().await;
        }
        self.term.remove_link(id, &self.meeting);
        self.audio_seen.remove(id);
        self.remote_relays.forget(id);
        lock(&self.taps).remove(id);
    }

    /// Feeds one input to a peer's negotiation and carries out what it asks.
    pub(super) async fn negotiate(&mut self, peer: &str, input: Input, now: Instant) {
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
                        request_keyframes(&self.sources.keyframe_targets);
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

    /// Offers again to every peer (our tracks changed); the SFU's subscribing link carries
    /// none of ours.
    pub(super) async fn renegotiate_all(&mut self) {
        let peers: Vec<String> = self
            .links
            .keys()
            .filter(|id| *id != SFU_SUBSCRIBE)
            .cloned()
            .collect();
        for peer in peers {
            self.negotiate(&peer, Input::Negotiate, Instant::now())
                .await;
        }
    }

    pub(super) async fn on_link(&mut self, peer: String, event: LinkEvent) {
        match event {
            LinkEvent::Candidate(c) => {
                self.relay.gathered(&c.candidate);
                self.signaling.send(ClientMessage::Candidate {
                    to: peer,
                    candidate: Some(c),
                })
            }
            LinkEvent::Ice(state) => self.meeting.update(|s| {
                if let Some(p) = s.peers.get_mut(&peer) {
                    p.ice = crate::call::link::ice_state_of(state);
                }
            }),
            LinkEvent::State(state) => self.on_link_state(&peer, link_state_of(state)).await,
            LinkEvent::Track(track) => {
                let link = peer;
                let peer = if link == SFU_SUBSCRIBE {
                    let stream = track.stream_id().await.to_string();
                    let Some(peer) = self.publisher_of(&stream) else {
                        tracing::warn!(%stream, "a track from the SFU for nobody in the room; ignored");
                        return;
                    };
                    peer
                } else {
                    link.clone()
                };
                let sink = ReceiveSink {
                    events: self.received_tx.clone(),
                    taps: Arc::clone(&self.taps),
                    speaker: self.sources.playback.as_ref().map(|p| p.add_stream()),
                    voices: self.voices.clone(),
                    keyframe_targets: Arc::clone(&self.sources.keyframe_targets),
                    path: self.links.get(&link).map_or_else(
                        || watch::Sender::new(PathFigures::default()).subscribe(),
                        |e| e.path.subscribe(),
                    ),
                    screen_stream: self.meeting.read(|s| {
                        s.peers
                            .get(&peer)
                            .and_then(|p| p.info.screen_stream_id.clone())
                    }),
                };
                let handle = tokio::spawn(receive(peer.clone(), track, sink));
                if let Some(entry) = self.links.get_mut(&link) {
                    entry.receivers.push(handle);
                }
            }
            // Offers are made explicitly when tracks change; the first offer comes from
            // whoever received `peers`.
            LinkEvent::NegotiationNeeded => {}
            LinkEvent::Term(event) => self.term.on_event(&peer, event, &self.meeting),
        }
    }

    async fn on_link_state(&mut self, peer: &str, state: LinkState) {
        self.show_link_state(peer, state);
        if state == LinkState::Connected {
            if let Some(entry) = self.links.get_mut(peer) {
                entry.connect.connected();
            }
            if !is_sfu_id(peer) {
                self.note_short_code(peer).await;
            }
        }
        let input = Input::Connection(crate::call::link::connection_of_state(state));
        self.negotiate(peer, input, Instant::now()).await;
    }

    /// Counts what a receiver decoded. Pictures are always worth a redraw; sound only when
    /// it changes who is speaking.
    pub(super) fn on_received(&mut self, peer: &str, received: Received) {
        let now = Instant::now();
        match received {
            Received::Picture(picture) => self.meeting.update(|s| {
                if let Some(p) = s.peers.get_mut(peer) {
                    p.count_picture(picture, now);
                }
            }),
            Received::Sound(sound) => self.meeting.update_if(|s| {
                s.peers
                    .get_mut(peer)
                    .is_some_and(|p| p.count_sound(&sound, now))
            }),
            Received::Undecodable(what) => self.error(MeshError::Undecodable {
                name: self.name_of(peer),
                what,
            }),
        }
    }

    /// Adds a track fed by `pump` to every link.
    pub(super) async fn attach(
        &mut self,
        source: Source,
        stream: &str,
        pump: &crate::call::local::Pump,
    ) {
        let peers: Vec<String> = self.links.keys().cloned().collect();
        for peer in &peers {
            let Some(entry) = self.links.get_mut(peer).filter(|_| peer != SFU_SUBSCRIBE) else {
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

    /// The short code of the link to `peer`, from both descriptions' fingerprints. Through
    /// an SFU there is none: the SFU holds the other end of every link, so a mesh link
    /// that connects after the switch does not bring one back.
    async fn note_short_code(&mut self, peer: &str) {
        let Some(entry) = self.links.get(peer).filter(|_| self.meshed()) else {
            return;
        };
        let pc = entry.link.connection();
        let (local, remote) = (pc.local_description().await, pc.remote_description().await);
        let code = match (local, remote) {
            (Some(l), Some(r)) => crate::call::sas::short_code(&l.sdp, &r.sdp),
            _ => None,
        };
        if code.is_some() {
            self.meeting.update(|s| {
                if let Some(p) = s.peers.get_mut(peer) {
                    p.sas = code;
                }
            });
        }
    }
}
