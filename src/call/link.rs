//! One WebRTC peer connection to one remote participant, with perfect negotiation.
//!
//! The event handler only forwards: every webrtc-rs callback becomes a [`LinkEvent`] on a
//! channel. The owner of the link calls its methods with what the signaling server relays.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use std::sync::atomic::{AtomicU64, Ordering};

use rtc::interceptor::Registry;
use rtc::interceptor::{BandwidthEstimator, EstimatorStats, PacketReport};
use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::configuration::interceptor_registry::{
    configure_congestion_control, register_default_interceptors, CongestionFeedback,
};
use rtc::peer_connection::configuration::setting_engine::SettingEngineBuilder;
use rtc::peer_connection::configuration::RTCConfigurationBuilder;
use rtc::peer_connection::sdp::RTCSessionDescription;
use rtc::peer_connection::transport::{RTCIceCandidateInit, RTCIceServer};
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodingParameters, RTCRtpEncodingParameters, RtpCodecKind,
};
use rtc::rtp_transceiver::PayloadType;
use termmeet_signaling::protocol::{IceCandidate, IceServer};
use tokio::sync::mpsc;
use webrtc::data_channel::{DataChannel, DataChannelEvent, RTCDataChannelInit};
use webrtc::media_stream::track_local::static_sample::TrackLocalStaticSample;
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::media_stream::track_remote::TrackRemote;
use webrtc::peer_connection::{
    PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler, RTCIceConnectionState,
    RTCPeerConnectionIceEvent, RTCPeerConnectionState,
};
use webrtc::rtp_transceiver::RtpSender;

use super::codec::media_engine;
pub use super::codec::{
    h264_codec, negotiated_payload_type, opus_codec, H264_FMTP, H264_PT, MAX_BITRATE, MIN_BITRATE,
    OPUS_PT, START_BITRATE,
};
use super::congestion::QueueController;
use super::jitter::{MAX_VIDEO_WAIT, NACK_INTERVAL};
use super::negotiation::{Action, Connection, Input, Negotiation, Problem, Step};
use super::pacer::MediaPacer;

/// UDP addresses to gather host candidates on: every IPv4 address and every routable IPv6
/// address (link-local ones need a scope and are left out) of an interface that is not down,
/// loopback included for meetings on one machine, each on a free port.
pub fn local_bind_addresses() -> Vec<String> {
    let interfaces = if_addrs::get_if_addrs().unwrap_or_else(|e| {
        tracing::warn!("cannot list network interfaces ({e}); using loopback only");
        Vec::new()
    });
    let mut out: Vec<String> = interfaces
        .iter()
        .filter(|i| i.oper_status != if_addrs::IfOperStatus::Down)
        .filter_map(|i| match i.ip() {
            std::net::IpAddr::V4(ip) => Some(format!("{ip}:0")),
            std::net::IpAddr::V6(ip) if usable_v6(&ip) => Some(format!("[{ip}]:0")),
            std::net::IpAddr::V6(_) => None,
        })
        .collect();
    if out.is_empty() {
        out.push("127.0.0.1:0".into());
    }
    out.sort();
    out.dedup();
    out
}

/// ICE servers from the command line or the config file: `stun:`/`turn:` URLs, and one user
/// name and credential for the `turn:` ones.
pub fn ice_servers_from(
    urls: &[String],
    username: Option<&str>,
    credential: Option<&str>,
) -> Result<Vec<IceServer>, String> {
    let (mut stun, mut turn) = (Vec::new(), Vec::new());
    for url in urls {
        if url.starts_with("stun:") || url.starts_with("stuns:") {
            stun.push(url.clone());
        } else if url.starts_with("turn:") || url.starts_with("turns:") {
            turn.push(url.clone());
        } else {
            return Err(format!(
                "--ice-server {url:?} must start with stun: or turn: (like turn:relay.example.org:3478)"
            ));
        }
    }
    if !turn.is_empty() && (username.is_none() || credential.is_none()) {
        return Err("a turn: server needs --turn-username and --turn-credential".into());
    }
    let mut out = Vec::new();
    if !stun.is_empty() {
        out.push(IceServer {
            urls: stun,
            username: None,
            credential: None,
            ttl: None,
        });
    }
    if !turn.is_empty() {
        out.push(IceServer {
            urls: turn,
            username: username.map(str::to_string),
            credential: credential.map(str::to_string),
            ttl: None,
        });
    }
    Ok(out)
}

/// An IPv6 address a host candidate can use without a scope id.
fn usable_v6(ip: &std::net::Ipv6Addr) -> bool {
    let link_local = ip.segments()[0] & 0xffc0 == 0xfe80;
    !link_local && !ip.is_unspecified() && !ip.is_multicast()
}

/// Whether this host can open the mDNS socket (a multicast group on 224.0.0.251). Hosts
/// without a multicast route (no default route, for one) cannot; webrtc-rs then fails the
/// whole connection, so such links go on without mDNS: they gather plain host candidates and
/// cannot resolve a browser's `.local` names, which a host without a route could not reach
/// anyway.
fn mdns_usable() -> bool {
    match rtc::mdns::MulticastSocket::new().into_std() {
        Ok(_) => true,
        Err(e) => {
            static SAID: std::sync::Once = std::sync::Once::new();
            SAID.call_once(|| {
                tracing::warn!("mDNS is unavailable on this host ({e}); going on without it");
            });
            false
        }
    }
}

/// What a link reports.
pub enum LinkEvent {
    /// A local ICE candidate to send to the remote.
    Candidate(IceCandidate),
    /// The connection state changed.
    State(RTCPeerConnectionState),
    /// The ICE connection state changed (checking, connected …), for progress shown to users.
    Ice(RTCIceConnectionState),
    /// A remote track arrived.
    Track(Arc<dyn TrackRemote>),
    /// Renegotiation is needed (a track was added or removed).
    NegotiationNeeded,
    /// The `term` data channel opened, carried a message, or closed.
    Term(TermEvent),
}

/// What happened on a link's `term` data channel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TermEvent {
    /// It opened: screens can be sent.
    Open,
    /// A message arrived.
    Message(Vec<u8>),
    /// It closed.
    Closed,
}

/// The `term` channel's label.
pub const TERM_LABEL: &str = "term";
/// The `term` channel's SCTP stream: negotiated out of band (both ends create it with this
/// id before their first offer), so it exists whoever offers first and needs no DCEP.
pub const TERM_STREAM: u16 = 0;

/// Forwards webrtc-rs callbacks into a channel.
struct Forwarder {
    peer: String,
    events: mpsc::UnboundedSender<(String, LinkEvent)>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Forwarder {
    async fn on_ice_candidate(&self, event: RTCPeerConnectionIceEvent) {
        if let Ok(init) = event.candidate.to_json() {
            let c = IceCandidate {
                candidate: init.candidate,
                sdp_mid: init.sdp_mid,
                sdp_mline_index: init.sdp_mline_index,
                username_fragment: init.username_fragment,
            };
            let _ = self
                .events
                .send((self.peer.clone(), LinkEvent::Candidate(c)));
        }
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        let _ = self
            .events
            .send((self.peer.clone(), LinkEvent::State(state)));
    }

    async fn on_ice_connection_state_change(&self, state: RTCIceConnectionState) {
        let _ = self.events.send((self.peer.clone(), LinkEvent::Ice(state)));
    }

    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        let _ = self
            .events
            .send((self.peer.clone(), LinkEvent::Track(track)));
    }

    async fn on_negotiation_needed(&self) {
        let _ = self
            .events
            .send((self.peer.clone(), LinkEvent::NegotiationNeeded));
    }
}

/// A local track on one link.
#[derive(Clone)]
pub struct LocalTrack {
    /// The track samples are written to.
    pub track: Arc<TrackLocalStaticSample>,
    /// Its sender (to remove it again).
    pub sender: Arc<dyn RtpSender>,
    /// Its SSRC.
    pub ssrc: u32,
    /// The stream id it is announced under.
    pub stream_id: String,
}

/// One peer connection and the negotiation that drives it.
pub struct PeerLink {
    /// The remote participant's id.
    pub remote: String,
    /// Whether we roll back our own offer on a collision (our id sorts lower).
    pub polite: bool,
    pc: Arc<dyn PeerConnection>,
    /// Perfect negotiation, the candidate queue and ICE restarts, as a state machine whose
    /// actions this link carries out.
    negotiation: Negotiation,
    /// The congestion controller's estimate for this link, as it publishes it.
    estimate: Estimate,
    /// The `term` data channel (shared terminals, and keys for them).
    term: Arc<dyn DataChannel>,
    /// Forwards the channel's events.
    term_events: tokio::task::JoinHandle<()>,
}

/// A congestion estimate shared between the controller (inside the interceptor chain) and the
/// mesh that sets the encoders' bitrate.
#[derive(Clone, Debug, Default)]
pub struct Estimate {
    /// Bits a second, as `f64` bits.
    target: Arc<AtomicU64>,
    /// Feedback reports the controller has taken in.
    reports: Arc<AtomicU64>,
    /// The link's round trip as last measured, milliseconds (for the pacer's resends).
    rtt: super::pacer::SharedRtt,
}

impl Estimate {
    /// The target, once the controller has had feedback to base it on.
    pub fn target(&self) -> Option<f64> {
        (self.reports.load(Ordering::Relaxed) > 0)
            .then(|| f64::from_bits(self.target.load(Ordering::Relaxed)))
    }
}

/// Wraps an estimator so its target is published after every change (the way webrtc-rs's
/// bandwidth estimation example reads it: the estimator is the one part of the loop the
/// application supplies).
struct Published<E: BandwidthEstimator> {
    inner: E,
    estimate: Estimate,
}

impl<E: BandwidthEstimator> Published<E> {
    fn new(inner: E) -> (Published<E>, Estimate) {
        let estimate = Estimate::default();
        estimate
            .target
            .store(inner.target_bitrate().to_bits(), Ordering::Relaxed);
        (
            Published {
                inner,
                estimate: estimate.clone(),
            },
            estimate,
        )
    }

    fn publish(&self) {
        self.estimate
            .target
            .store(self.inner.target_bitrate().to_bits(), Ordering::Relaxed);
    }
}

impl<E: BandwidthEstimator> BandwidthEstimator for Published<E> {
    fn on_reports(&mut self, now: Instant, reports: &[PacketReport]) {
        self.inner.on_reports(now, reports);
        // The controller logs its own figures (see `congestion`).
        self.estimate.reports.fetch_add(1, Ordering::Relaxed);
        self.publish();
    }

    fn target_bitrate(&self) -> f64 {
        self.inner.target_bitrate()
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.inner.handle_timeout(now);
        self.publish();
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.inner.poll_timeout()
    }

    fn stats(&self) -> EstimatorStats {
        self.inner.stats()
    }
}

/// What a link asks of the mesh after handling an input.
#[derive(Clone, Debug, PartialEq)]
pub enum LinkOutput {
    /// Send this offer to the remote.
    Offer(String),
    /// Send this answer to the remote.
    Answer(String),
    /// The video encoders should send a keyframe.
    Keyframe,
    /// Something went wrong that the person should hear of.
    Problem(Problem),
}

/// A link failure: which step, and what webrtc-rs said.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    /// The peer connection could not be set up.
    #[error("cannot set up the connection ({step}): {message}")]
    Setup {
        /// The step that failed.
        step: &'static str,
        /// What webrtc-rs said.
        message: String,
    },
    /// A track or transceiver could not be added or removed.
    #[error("{step}: {message}")]
    Track {
        /// The step that failed.
        step: &'static str,
        /// What webrtc-rs said.
        message: String,
    },
    /// Negotiation did not give what was asked for.
    #[error("{0}")]
    Negotiation(Problem),
}

/// A link result.
pub type LinkResult<T> = Result<T, LinkError>;

fn setup<T, E: std::fmt::Display>(step: &'static str, r: Result<T, E>) -> LinkResult<T> {
    r.map_err(|e| LinkError::Setup {
        step,
        message: e.to_string(),
    })
}

fn track_step<T, E: std::fmt::Display>(step: &'static str, r: Result<T, E>) -> LinkResult<T> {
    r.map_err(|e| LinkError::Track {
        step,
        message: e.to_string(),
    })
}

/// The negotiation's view of a connection state.
pub fn connection_of(state: RTCPeerConnectionState) -> Connection {
    match state {
        RTCPeerConnectionState::Connected => Connection::Connected,
        RTCPeerConnectionState::Disconnected => Connection::Disconnected,
        RTCPeerConnectionState::Failed => Connection::Failed,
        RTCPeerConnectionState::Closed => Connection::Closed,
        _ => Connection::Connecting,
    }
}

impl PeerLink {
    /// A new peer connection to `remote`, reporting on `events`.
    pub async fn new(
        local: &str,
        remote: &str,
        ice_servers: &[IceServer],
        bind: &[String],
        events: mpsc::UnboundedSender<(String, LinkEvent)>,
    ) -> LinkResult<PeerLink> {
        let mut engine = setup("media engine", media_engine())?;
        let registry = setup(
            "interceptors",
            register_default_interceptors(Registry::new(), &mut engine),
        )?;
        // Missing video packets are asked for again every NACK_INTERVAL, up to the longest
        // time the jitter buffer waits for them (the default asks every 100 ms, too slow for
        // a picture to be repaired before its turn).
        let registry = registry.with(
            rtc::interceptor::Slot::NackGenerator,
            rtc::interceptor::NackGeneratorBuilder::new()
                .with_interval(NACK_INTERVAL)
                .with_max_nacks_per_packet(
                    (MAX_VIDEO_WAIT.as_millis() / NACK_INTERVAL.as_millis()) as u16,
                )
                .build(),
        );
        // Congestion control is opt-in in 0.21: our queue-reading controller over TWCC (see
        // `congestion` for why not webrtc-rs's GCC), whose estimate drives the shared
        // encoders' bitrate (see the mesh's stats).
        let (controller, estimate) = Published::new(QueueController::new(
            f64::from(START_BITRATE),
            f64::from(MIN_BITRATE),
            f64::from(MAX_BITRATE),
        ));
        let registry = setup(
            "congestion control",
            configure_congestion_control(
                registry,
                controller,
                CongestionFeedback::Twcc,
                &mut engine,
            ),
        )?;
        // Our pacer in place of webrtc-rs's: audio first, resends next, video paced above the
        // estimate with a bounded wait (see `pacer`).
        let registry = registry.with(
            rtc::interceptor::Slot::Pacer,
            MediaPacer::new(estimate.rtt.clone()),
        );
        // Application-most, so every other interceptor has seen the RTCP first.
        let registry = registry.with(
            rtc::interceptor::Slot::from(14_000),
            super::rtcp::KeyframeRequestForwarder::default(),
        );
        let config = RTCConfigurationBuilder::new()
            .with_ice_servers(
                ice_servers
                    .iter()
                    .map(|s| RTCIceServer {
                        urls: s.urls.clone(),
                        username: s.username.clone().unwrap_or_default(),
                        credential: s.credential.clone().unwrap_or_default(),
                    })
                    .collect(),
            )
            .build();
        let runtime = setup(
            "runtime",
            webrtc::runtime::default_runtime().ok_or("no async runtime"),
        )?;
        let events_for_term = events.clone();
        let handler = Arc::new(Forwarder {
            peer: remote.to_string(),
            events,
        });
        let pc = PeerConnectionBuilder::new()
            .with_configuration(config)
            .with_media_engine(engine)
            // After a failure the network may have changed: gather afresh on restart.
            .with_setting_engine({
                let settings = SettingEngineBuilder::new()
                    .with_discard_local_candidates_during_ice_restart(true);
                if mdns_usable() {
                    settings.build()
                } else {
                    settings
                        .with_multicast_dns_mode(rtc::ice::mdns::MulticastDnsMode::Disabled)
                        .build()
                }
            })
            .with_interceptor_registry(registry)
            .with_handler(handler)
            .with_runtime(runtime)
            .with_udp_addrs(bind.to_vec())
            .build()
            .await;
        let pc = setup("peer connection", pc)?;
        let term = setup(
            "terminal channel",
            pc.create_data_channel(
                TERM_LABEL,
                Some(RTCDataChannelInit {
                    negotiated: Some(TERM_STREAM),
                    ..Default::default()
                }),
            )
            .await,
        )?;
        let term_events = tokio::spawn(forward_term(
            Arc::clone(&term),
            remote.to_string(),
            events_for_term,
        ));
        let negotiation = Negotiation::new(local, remote);
        Ok(PeerLink {
            term,
            term_events,
            estimate,
            remote: remote.to_string(),
            polite: negotiation.polite(),
            pc: Arc::new(pc),
            negotiation,
        })
    }

    /// Adds a local track of `kind` with its own SSRC, in stream `stream_id`.
    pub async fn add_track(
        &self,
        kind: RtpCodecKind,
        stream_id: &str,
        track_id: &str,
    ) -> LinkResult<LocalTrack> {
        let ssrc = rand::random::<u32>();
        let codec = if kind == RtpCodecKind::Video {
            h264_codec()
        } else {
            opus_codec()
        };
        let track = MediaStreamTrack::new(
            stream_id.to_string(),
            track_id.to_string(),
            track_id.to_string(),
            kind,
            vec![RTCRtpEncodingParameters {
                rtp_coding_parameters: RTCRtpCodingParameters {
                    ssrc: Some(ssrc),
                    ..Default::default()
                },
                codec,
                ..Default::default()
            }],
        );
        let track = Arc::new(track_step(
            "local track",
            TrackLocalStaticSample::new(Instant::now(), track),
        )?);
        let sender = track_step(
            "add track",
            self.pc
                .add_track(Arc::clone(&track) as Arc<dyn TrackLocal>)
                .await,
        )?;
        Ok(LocalTrack {
            track,
            sender,
            ssrc,
            stream_id: stream_id.to_string(),
        })
    }

    /// Asks to receive `kind` without sending it, so that an offer from a participant with
    /// no camera (or no microphone) still has room for the other side's track.
    pub async fn receive_only(&self, kind: RtpCodecKind) -> LinkResult<()> {
        let init = rtc::rtp_transceiver::RTCRtpTransceiverInit {
            direction: rtc::rtp_transceiver::RTCRtpTransceiverDirection::Recvonly,
            streams: Vec::new(),
            send_encodings: Vec::new(),
        };
        track_step(
            "receive-only transceiver",
            self.pc.add_transceiver_from_kind(kind, Some(init)).await,
        )
        .map(|_| ())
    }

    /// Removes a local track (screen share off).
    pub async fn remove_track(&self, track: &LocalTrack) -> LinkResult<()> {
        track_step("remove track", self.pc.remove_track(&track.sender).await)
    }

    /// The payload type negotiated for a sender.
    pub async fn payload_type(track: &LocalTrack) -> Option<PayloadType> {
        negotiated_payload_type(&track.sender).await
    }

    /// The congestion controller's estimate for this link, bits a second, once it has had
    /// feedback.
    pub fn estimate(&self) -> Option<f64> {
        self.estimate.target()
    }

    /// Tells the link's pacer the round trip as measured.
    pub fn set_rtt(&self, rtt_ms: f64) {
        self.estimate
            .rtt
            .store(rtt_ms.clamp(0.0, 10_000.0) as u64, Ordering::Relaxed);
    }

    /// The negotiation's state, for tests and progress shown to people.
    pub fn negotiation(&self) -> &Negotiation {
        &self.negotiation
    }

    /// Hands `input` to the negotiation and carries out its actions, feeding what came of
    /// each back in, until it has nothing more to do. Returns what the mesh must send or do.
    pub async fn handle(&mut self, input: Input, now: Instant) -> Vec<LinkOutput> {
        let mut out = Vec::new();
        let mut queue: VecDeque<Action> = self.negotiation.handle(input, now).into();
        // Each action gives at most one follow-up input and the state machine's chains are
        // short; the bound only guards against a mistake turning into a busy loop.
        for _ in 0..256 {
            let Some(action) = queue.pop_front() else {
                return out;
            };
            if let Some(next) = self.execute(action, &mut out).await {
                queue.extend(self.negotiation.handle(next, now));
            }
        }
        tracing::error!(peer = %self.remote, "negotiation did not settle; dropping the rest");
        out
    }

    /// Carries out one action; returns the input that reports how it went, if any.
    async fn execute(&mut self, action: Action, out: &mut Vec<LinkOutput>) -> Option<Input> {
        let failed =
            |step: Step, e: &dyn std::fmt::Display| Some(Input::Failed(step, e.to_string()));
        match action {
            Action::RestartIce => match self.pc.restart_ice().await {
                Ok(()) => None,
                Err(e) => failed(Step::RestartIce, &e),
            },
            Action::MakeOffer => match self.set_local(true).await {
                Ok(sdp) => Some(Input::OfferSet(sdp)),
                Err(e) => failed(Step::MakeOffer, &e),
            },
            Action::MakeAnswer => match self.set_local(false).await {
                Ok(sdp) => Some(Input::AnswerSet(sdp)),
                Err(e) => failed(Step::MakeAnswer, &e),
            },
            Action::Rollback => {
                let rollback = RTCSessionDescription::rollback(None);
                match rollback.map(|r| self.pc.set_local_description(r)) {
                    Ok(set) => set.await.err().and_then(|e| failed(Step::Rollback, &e)),
                    Err(e) => failed(Step::Rollback, &e),
                }
            }
            Action::SetRemoteOffer(sdp) => match RTCSessionDescription::offer(sdp) {
                Ok(d) => match self.pc.set_remote_description(d).await {
                    Ok(()) => Some(Input::RemoteSet),
                    Err(e) => failed(Step::SetRemoteOffer, &e),
                },
                Err(e) => failed(Step::SetRemoteOffer, &e),
            },
            Action::SetRemoteAnswer(sdp) => match RTCSessionDescription::answer(sdp) {
                Ok(d) => match self.pc.set_remote_description(d).await {
                    Ok(()) => Some(Input::RemoteSet),
                    Err(e) => failed(Step::SetRemoteAnswer, &e),
                },
                Err(e) => failed(Step::SetRemoteAnswer, &e),
            },
            Action::AddCandidate(c) => {
                let init = RTCIceCandidateInit {
                    candidate: c.candidate,
                    sdp_mid: c.sdp_mid,
                    sdp_mline_index: c.sdp_mline_index,
                    username_fragment: c.username_fragment,
                    ..Default::default()
                };
                match self.pc.add_ice_candidate(init).await {
                    Ok(()) => None,
                    Err(e) => failed(Step::AddCandidate, &e),
                }
            }
            Action::SendOffer(sdp) => {
                out.push(LinkOutput::Offer(sdp));
                None
            }
            Action::SendAnswer(sdp) => {
                out.push(LinkOutput::Answer(sdp));
                None
            }
            Action::RequestKeyframe => {
                out.push(LinkOutput::Keyframe);
                None
            }
            Action::Report(p) => {
                out.push(LinkOutput::Problem(p));
                None
            }
        }
    }

    /// Makes an offer (or an answer), sets it locally and returns its SDP.
    async fn set_local(&self, offer: bool) -> Result<String, webrtc::error::Error> {
        let description = if offer {
            self.pc.create_offer(None).await?
        } else {
            self.pc.create_answer(None).await?
        };
        self.pc.set_local_description(description).await?;
        Ok(self
            .pc
            .local_description()
            .await
            .map(|d| d.sdp)
            .unwrap_or_default())
    }

    /// Makes and sets an offer; returns its SDP to send (for tests that drive links alone).
    pub async fn make_offer(&mut self) -> LinkResult<String> {
        let out = self.handle(Input::Negotiate, Instant::now()).await;
        one_of(out, |o| match o {
            LinkOutput::Offer(sdp) => Some(sdp),
            _ => None,
        })
        .map(|sdp| sdp.unwrap_or_default())
    }

    /// Handles a remote offer; returns the answer's SDP, or `None` when the offer was ignored
    /// (we are impolite and collided).
    pub async fn on_offer(&mut self, sdp: String) -> LinkResult<Option<String>> {
        let out = self.handle(Input::RemoteOffer(sdp), Instant::now()).await;
        one_of(out, |o| match o {
            LinkOutput::Answer(sdp) => Some(sdp),
            _ => None,
        })
    }

    /// Handles the remote's answer.
    pub async fn on_answer(&mut self, sdp: String) -> LinkResult<()> {
        let out = self.handle(Input::RemoteAnswer(sdp), Instant::now()).await;
        one_of(out, |_| None::<()>).map(|_| ())
    }

    /// Handles a remote candidate: applied now, or queued until the remote description.
    pub async fn on_candidate(&mut self, candidate: Option<IceCandidate>) -> LinkResult<()> {
        let Some(c) = candidate else { return Ok(()) };
        let out = self.handle(Input::RemoteCandidate(c), Instant::now()).await;
        one_of(out, |_| None::<()>).map(|_| ())
    }

    /// Gives the next offer new ICE credentials.
    pub async fn restart_ice(&self) -> LinkResult<()> {
        setup("restart ICE", self.pc.restart_ice().await)
    }

    /// The `term` data channel.
    pub fn term_channel(&self) -> Arc<dyn DataChannel> {
        Arc::clone(&self.term)
    }

    /// The selected pair's remote candidate, as (type, `ADDRESS:PORT`), from the ICE
    /// transport: the stats report has no entry for a remote candidate learnt as
    /// peer-reflexive, which is how a far end's relay often first shows up.
    pub async fn selected_remote(&self) -> Option<(String, String)> {
        let sctp = self.pc.sctp().await?;
        let pair = sctp
            .transport()
            .ice_transport()
            .get_selected_candidate_pair()
            .await
            .ok()??;
        let remote = pair.remote();
        Some((
            remote.typ.to_string(),
            format!("{}:{}", remote.address, remote.port),
        ))
    }

    /// The peer connection, for stats.
    pub fn connection(&self) -> &Arc<dyn PeerConnection> {
        &self.pc
    }

    /// Closes the connection and drops our references to its tracks.
    pub async fn close(&self) {
        self.term_events.abort();
        let _ = self.term.close().await;
        for sender in self.pc.get_senders().await {
            let _ = self.pc.remove_track(&sender).await;
        }
        let _ = self.pc.close().await;
    }
}

/// Turns the `term` channel's events into link events until it closes.
async fn forward_term(
    channel: Arc<dyn DataChannel>,
    peer: String,
    events: mpsc::UnboundedSender<(String, LinkEvent)>,
) {
    while let Some(event) = channel.poll().await {
        let event = match event {
            DataChannelEvent::OnOpen => TermEvent::Open,
            DataChannelEvent::OnMessage(m) => TermEvent::Message(m.data.to_vec()),
            DataChannelEvent::OnClose => TermEvent::Closed,
            _ => continue,
        };
        let closed = event == TermEvent::Closed;
        if events.send((peer.clone(), LinkEvent::Term(event))).is_err() || closed {
            break;
        }
    }
}

/// The first output `pick` takes, or the first problem as an error.
fn one_of<T>(
    out: Vec<LinkOutput>,
    pick: impl Fn(LinkOutput) -> Option<T>,
) -> LinkResult<Option<T>> {
    let mut found = None;
    for o in out {
        if let LinkOutput::Problem(p) = o {
            return Err(LinkError::Negotiation(p));
        }
        if found.is_none() {
            found = pick(o);
        }
    }
    Ok(found)
}
