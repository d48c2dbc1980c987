//! One WebRTC peer connection to one remote participant, with perfect negotiation.
//!
//! The event handler only forwards: every webrtc-rs callback becomes a [`LinkEvent`] on a
//! channel. The owner of the link calls its methods with what the signaling server relays.

mod direct;
mod events;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use std::sync::atomic::Ordering;

use rtc::interceptor::Registry;
use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::configuration::interceptor_registry::{
    configure_congestion_control, register_default_interceptors, CongestionFeedback,
};
use rtc::peer_connection::configuration::media_engine::MediaEngine;
use rtc::peer_connection::configuration::setting_engine::SettingEngineBuilder;
use rtc::peer_connection::configuration::RTCConfigurationBuilder;
use rtc::peer_connection::sdp::RTCSessionDescription;
use rtc::peer_connection::transport::RTCIceCandidateInit;
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodingParameters, RTCRtpEncodingParameters, RtpCodecKind,
};
use rtc::rtp_transceiver::PayloadType;
use termmeet_signaling::protocol::IceServer;
use tokio::sync::mpsc;
use webrtc::data_channel::{DataChannel, RTCDataChannelInit};
use webrtc::media_stream::track_local::static_sample::TrackLocalStaticSample;
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::peer_connection::{PeerConnection, PeerConnectionBuilder};
use webrtc::rtp_transceiver::RtpSender;

use crate::call::codec::media_engine;
pub use crate::call::codec::{
    h264_codec, negotiated_payload_type, opus_codec, H264_FMTP, H264_PT, MAX_BITRATE, MIN_BITRATE,
    OPUS_PT, START_BITRATE,
};
use crate::call::congestion::QueueController;
use crate::call::estimate::{Estimate, Published};
pub use crate::call::ice::{ice_servers_from, local_bind_addresses};
use crate::call::ice::{mdns_usable, rtc_ice_servers};
use crate::call::jitter::{MAX_VIDEO_WAIT, NACK_INTERVAL};
use crate::call::negotiation::{Action, Input, Negotiation, Problem, Step};
use crate::call::pacer::MediaPacer;
pub use events::{
    connection_of, connection_of_state, ice_state_of, link_state_of, LinkEvent, TermEvent,
    TERM_LABEL, TERM_STREAM,
};
use events::{forward_term, Forwarder};

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

/// The interceptor chain of a link: webrtc-rs's defaults, NACKs asked for as often as the
/// video jitter buffer needs, our congestion controller over TWCC with its estimate
/// published, our pacer, and the forwarder of keyframe requests (which hands REMBs to the
/// estimate).
fn interceptors(engine: &mut MediaEngine) -> LinkResult<(Registry, Estimate)> {
    let registry = setup(
        "interceptors",
        register_default_interceptors(Registry::new(), engine),
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
        configure_congestion_control(registry, controller, CongestionFeedback::Twcc, engine),
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
        crate::call::rtcp::KeyframeRequestForwarder::new(estimate.clone()),
    );
    Ok((registry, estimate))
}

/// How a link gathers: afresh after a restart (the network may have changed), and without
/// mDNS where this host cannot open its socket.
fn settings() -> rtc::peer_connection::configuration::setting_engine::SettingEngine {
    let settings =
        SettingEngineBuilder::new().with_discard_local_candidates_during_ice_restart(true);
    if mdns_usable() {
        settings.build()
    } else {
        settings
            .with_multicast_dns_mode(rtc::ice::mdns::MulticastDnsMode::Disabled)
            .build()
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
        let (registry, estimate) = interceptors(&mut engine)?;
        let config = RTCConfigurationBuilder::new()
            .with_ice_servers(rtc_ice_servers(ice_servers))
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
            .with_setting_engine(settings())
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

    /// Gives the next offer new ICE credentials.
    pub async fn restart_ice(&self) -> LinkResult<()> {
        setup("restart ICE", self.pc.restart_ice().await)
    }

    /// The `term` data channel.
    pub fn term_channel(&self) -> Arc<dyn DataChannel> {
        Arc::clone(&self.term)
    }

    /// The selected pair's remote candidate, as (type, `ADDRESS:PORT`) (see
    /// [`selected_remote_of`]).
    pub async fn selected_remote(&self) -> Option<(String, String)> {
        selected_remote_of(&self.pc).await
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

/// The selected pair's remote candidate of a connection, as (type, `ADDRESS:PORT`), from the
/// ICE transport: the stats report has no entry for a remote candidate learnt as
/// peer-reflexive, which is how a far end's relay often first shows up.
pub async fn selected_remote_of(pc: &Arc<dyn PeerConnection>) -> Option<(String, String)> {
    let sctp = pc.sctp().await?;
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
