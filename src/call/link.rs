//! One WebRTC peer connection to one remote participant, with perfect negotiation.
//!
//! The event handler only forwards: every webrtc-rs callback becomes a [`LinkEvent`] on a
//! channel. The owner of the link calls its methods with what the signaling server relays.

use std::sync::Arc;
use std::time::Instant;

use rtc::interceptor::Gcc;
use rtc::interceptor::Registry;
use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::configuration::interceptor_registry::{
    configure_congestion_control, register_default_interceptors, CongestionFeedback,
};
use rtc::peer_connection::configuration::media_engine::{
    MediaEngine, MIME_TYPE_H264, MIME_TYPE_OPUS,
};
use rtc::peer_connection::configuration::RTCConfigurationBuilder;
use rtc::peer_connection::sdp::RTCSessionDescription;
use rtc::peer_connection::transport::{RTCIceCandidateInit, RTCIceServer};
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodec, RTCRtpCodecParameters, RTCRtpCodingParameters, RTCRtpEncodingParameters,
    RtpCodecKind,
};
use rtc::rtp_transceiver::PayloadType;
use termmeet_signaling::protocol::{IceCandidate, IceServer};
use tokio::sync::mpsc;
use webrtc::media_stream::track_local::static_sample::TrackLocalStaticSample;
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::media_stream::track_remote::TrackRemote;
use webrtc::peer_connection::{
    PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler, RTCIceConnectionState,
    RTCPeerConnectionIceEvent, RTCPeerConnectionState,
};
use webrtc::rtp_transceiver::RtpSender;

/// H.264 constrained baseline, packetization mode 1, as browsers send and receive it.
pub const H264_FMTP: &str =
    "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f";
/// Our payload type for H.264.
pub const H264_PT: PayloadType = 102;
/// Our payload type for Opus.
pub const OPUS_PT: PayloadType = 111;

/// Where congestion control starts, bits a second.
pub const START_BITRATE: u32 = 1_500_000;
/// The least congestion control may ask for.
pub const MIN_BITRATE: u32 = 100_000;
/// The most congestion control may ask for (camera, screen and audio together).
pub const MAX_BITRATE: u32 = 6_000_000;

/// UDP addresses to gather host candidates on: every IPv4 address of an interface that is
/// up (loopback included, for meetings on one machine), each on a free port.
pub fn local_bind_addresses() -> Vec<String> {
    let mut out = Vec::new();
    // SAFETY: getifaddrs gives a linked list we only read and then free.
    unsafe {
        let mut list: *mut libc::ifaddrs = std::ptr::null_mut();
        if libc::getifaddrs(&mut list) == 0 {
            let mut cur = list;
            while !cur.is_null() {
                let ifa = &*cur;
                let up = ifa.ifa_flags & libc::IFF_UP as u32 != 0;
                if up
                    && !ifa.ifa_addr.is_null()
                    && i32::from((*ifa.ifa_addr).sa_family) == libc::AF_INET
                {
                    let sin = &*(ifa.ifa_addr as *const libc::sockaddr_in);
                    let ip = std::net::Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
                    out.push(format!("{ip}:0"));
                }
                cur = ifa.ifa_next;
            }
            libc::freeifaddrs(list);
        }
    }
    if out.is_empty() {
        out.push("127.0.0.1:0".into());
    }
    out.sort();
    out.dedup();
    out
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
}

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

/// The codecs we offer.
pub fn h264_codec() -> RTCRtpCodec {
    RTCRtpCodec {
        mime_type: MIME_TYPE_H264.to_owned(),
        clock_rate: 90_000,
        channels: 0,
        sdp_fmtp_line: H264_FMTP.to_owned(),
        rtcp_feedback: vec![],
    }
}

/// Opus as browsers negotiate it (stereo in SDP, mono in practice).
pub fn opus_codec() -> RTCRtpCodec {
    RTCRtpCodec {
        mime_type: MIME_TYPE_OPUS.to_owned(),
        clock_rate: 48_000,
        channels: 2,
        sdp_fmtp_line: "minptime=10;useinbandfec=1".to_owned(),
        rtcp_feedback: vec![],
    }
}

fn media_engine() -> Result<MediaEngine, webrtc::error::Error> {
    let mut engine = MediaEngine::default();
    engine.register_codec(
        RTCRtpCodecParameters {
            rtp_codec: h264_codec(),
            payload_type: H264_PT,
        },
        RtpCodecKind::Video,
    )?;
    engine.register_codec(
        RTCRtpCodecParameters {
            rtp_codec: opus_codec(),
            payload_type: OPUS_PT,
        },
        RtpCodecKind::Audio,
    )?;
    Ok(engine)
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

/// The payload type to send with on `sender`: of the codecs negotiated, the one we encode
/// (H.264 constrained baseline in packetization mode 1, or Opus), not merely the first. A
/// browser's offer lists several H.264 profiles and RTX; the first is not always ours.
pub async fn negotiated_payload_type(sender: &Arc<dyn RtpSender>) -> Option<PayloadType> {
    let params = sender.get_parameters().await.ok()?;
    let codecs = &params.rtp_parameters.codecs;
    let score = |c: &RTCRtpCodecParameters| {
        let mime = c.rtp_codec.mime_type.to_ascii_lowercase();
        let fmtp = c.rtp_codec.sdp_fmtp_line.to_ascii_lowercase();
        if mime == MIME_TYPE_OPUS.to_ascii_lowercase() {
            3
        } else if mime == MIME_TYPE_H264.to_ascii_lowercase() {
            let ours =
                fmtp.contains("profile-level-id=42e01f") && fmtp.contains("packetization-mode=1");
            if ours {
                3
            } else if fmtp.contains("packetization-mode=1") {
                2
            } else {
                1
            }
        } else {
            0
        }
    };
    codecs
        .iter()
        .filter(|c| score(c) > 0)
        .max_by_key(|c| score(c))
        .map(|c| c.payload_type)
}

/// One peer connection and its negotiation state.
pub struct PeerLink {
    /// The remote participant's id.
    pub remote: String,
    /// Whether we roll back our own offer on a collision (our id sorts lower).
    pub polite: bool,
    pc: Arc<dyn PeerConnection>,
    /// Candidates that arrived before the remote description.
    pending: Vec<RTCIceCandidateInit>,
    /// Whether we are in the middle of making an offer.
    making_offer: bool,
    /// Whether we ignored the remote's colliding offer (impolite side).
    ignore_offer: bool,
    /// Whether our offer is set locally and waits for an answer (signaling state
    /// have-local-offer; 0.21 has no getter for it).
    have_local_offer: bool,
    /// Our DTLS role (`a=setup:` value) once the first exchange fixed it. 0.21 answers every
    /// offer with `setup:active`, even a re-offer on a connection where we are the DTLS server,
    /// which Chromium rejects ("Failed to set SSL role for the transport"): the answers we send
    /// later say this instead.
    dtls_setup: Option<&'static str>,
}

/// The `a=setup:` value of an SDP (the first one; bundled media share one transport).
fn sdp_setup(sdp: &str) -> Option<&str> {
    sdp.lines()
        .find_map(|l| l.trim_end().strip_prefix("a=setup:"))
}

/// `sdp` with every `a=setup:` line saying `role`.
fn with_setup(sdp: &str, role: &str) -> String {
    let mut out = String::with_capacity(sdp.len());
    for line in sdp.split_inclusive('\n') {
        if line.starts_with("a=setup:") {
            out.push_str("a=setup:");
            out.push_str(role);
            out.push_str("\r\n");
        } else {
            out.push_str(line);
        }
    }
    out
}

/// A link failure, with the step that failed.
pub type LinkResult<T> = Result<T, String>;

fn step<T, E: std::fmt::Display>(what: &str, r: Result<T, E>) -> LinkResult<T> {
    r.map_err(|e| format!("{what}: {e}"))
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
        let mut engine = step("media engine", media_engine())?;
        let registry = step(
            "interceptors",
            register_default_interceptors(Registry::new(), &mut engine),
        )?;
        // Congestion control is opt-in in 0.21: GCC over TWCC, whose estimate drives the
        // shared encoders' bitrate (see the mesh's stats).
        let gcc = Gcc::new(
            f64::from(START_BITRATE),
            f64::from(MIN_BITRATE),
            f64::from(MAX_BITRATE),
        );
        let registry = step(
            "congestion control",
            configure_congestion_control(registry, gcc, CongestionFeedback::Twcc, &mut engine),
        )?;
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
        let runtime = step(
            "runtime",
            webrtc::runtime::default_runtime().ok_or("no async runtime"),
        )?;
        let handler = Arc::new(Forwarder {
            peer: remote.to_string(),
            events,
        });
        let pc = PeerConnectionBuilder::new()
            .with_configuration(config)
            .with_media_engine(engine)
            // After a failure the network may have changed: gather afresh on restart.
            .with_setting_engine(
                rtc::peer_connection::configuration::setting_engine::SettingEngineBuilder::new()
                    .with_discard_local_candidates_during_ice_restart(true)
                    .build(),
            )
            .with_interceptor_registry(registry)
            .with_handler(handler)
            .with_runtime(runtime)
            .with_udp_addrs(bind.to_vec())
            .build()
            .await;
        let pc = step("peer connection", pc)?;
        Ok(PeerLink {
            remote: remote.to_string(),
            polite: local < remote,
            pc: Arc::new(pc),
            pending: Vec::new(),
            making_offer: false,
            ignore_offer: false,
            have_local_offer: false,
            dtls_setup: None,
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
        let track = Arc::new(step(
            "local track",
            TrackLocalStaticSample::new(Instant::now(), track),
        )?);
        let sender = step(
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
        step(
            "receive-only transceiver",
            self.pc.add_transceiver_from_kind(kind, Some(init)).await,
        )
        .map(|_| ())
    }

    /// Removes a local track (screen share off).
    pub async fn remove_track(&self, track: &LocalTrack) -> LinkResult<()> {
        step("remove track", self.pc.remove_track(&track.sender).await)
    }

    /// The payload type negotiated for a sender.
    pub async fn payload_type(track: &LocalTrack) -> Option<PayloadType> {
        negotiated_payload_type(&track.sender).await
    }

    /// Creates and sets a local offer; returns its SDP to send.
    pub async fn make_offer(&mut self) -> LinkResult<String> {
        self.making_offer = true;
        let result = async {
            let offer = step("create offer", self.pc.create_offer(None).await)?;
            step(
                "set local offer",
                self.pc.set_local_description(offer).await,
            )?;
            self.have_local_offer = true;
            let local = self
                .pc
                .local_description()
                .await
                .ok_or("no local description")?;
            Ok(local.sdp)
        }
        .await;
        self.making_offer = false;
        result
    }

    /// Handles a remote offer by perfect negotiation; returns the answer's SDP, or `None`
    /// when the offer was ignored (we are impolite and collided).
    pub async fn on_offer(&mut self, sdp: String) -> LinkResult<Option<String>> {
        let collision = self.making_offer || self.have_local_offer;
        self.ignore_offer = !self.polite && collision;
        if self.ignore_offer {
            return Ok(None);
        }
        if collision {
            let rollback = step("rollback", RTCSessionDescription::rollback(None))?;
            step(
                "roll back our offer",
                self.pc.set_local_description(rollback).await,
            )?;
            self.have_local_offer = false;
        }
        let offer = step("read offer", RTCSessionDescription::offer(sdp))?;
        step(
            "set remote offer",
            self.pc.set_remote_description(offer).await,
        )?;
        self.flush_candidates().await;
        let answer = step("create answer", self.pc.create_answer(None).await)?;
        step(
            "set local answer",
            self.pc.set_local_description(answer).await,
        )?;
        let local = self
            .pc
            .local_description()
            .await
            .ok_or("no local description")?;
        // 0.21 insists the local answer is exactly the one it made, so the role is corrected
        // only in what the remote gets; the DTLS transport, once started, never reads it again.
        Ok(Some(match self.dtls_setup {
            Some(ours) if sdp_setup(&local.sdp).is_some_and(|s| s != ours) => {
                with_setup(&local.sdp, ours)
            }
            Some(_) => local.sdp,
            None => {
                self.dtls_setup = match sdp_setup(&local.sdp) {
                    Some("passive") => Some("passive"),
                    Some(_) => Some("active"),
                    None => None,
                };
                local.sdp
            }
        }))
    }

    /// Handles the remote's answer.
    pub async fn on_answer(&mut self, sdp: String) -> LinkResult<()> {
        if self.dtls_setup.is_none() {
            // The remote's role fixes ours: the other one.
            self.dtls_setup = match sdp_setup(&sdp) {
                Some("active") => Some("passive"),
                Some("passive") => Some("active"),
                _ => None,
            };
        }
        let answer = step("read answer", RTCSessionDescription::answer(sdp))?;
        step(
            "set remote answer",
            self.pc.set_remote_description(answer).await,
        )?;
        self.have_local_offer = false;
        self.flush_candidates().await;
        Ok(())
    }

    /// Handles a remote candidate: applied now, or queued until the remote description.
    pub async fn on_candidate(&mut self, candidate: Option<IceCandidate>) -> LinkResult<()> {
        let Some(c) = candidate else { return Ok(()) };
        let init = RTCIceCandidateInit {
            candidate: c.candidate,
            sdp_mid: c.sdp_mid,
            sdp_mline_index: c.sdp_mline_index,
            username_fragment: c.username_fragment,
            ..Default::default()
        };
        if self.pc.remote_description().await.is_none() {
            self.pending.push(init);
            return Ok(());
        }
        match self.pc.add_ice_candidate(init).await {
            Ok(()) => Ok(()),
            Err(e) if self.ignore_offer => {
                tracing::debug!("candidate for an ignored offer: {e}");
                Ok(())
            }
            Err(e) => Err(format!("add candidate: {e}")),
        }
    }

    async fn flush_candidates(&mut self) {
        for c in std::mem::take(&mut self.pending) {
            if let Err(e) = self.pc.add_ice_candidate(c).await {
                tracing::debug!(peer = %self.remote, "queued candidate rejected: {e}");
            }
        }
    }

    /// Restarts ICE (after the connection failed).
    pub async fn restart_ice(&self) -> LinkResult<()> {
        step("restart ICE", self.pc.restart_ice().await)
    }

    /// The peer connection, for stats.
    pub fn connection(&self) -> &Arc<dyn PeerConnection> {
        &self.pc
    }

    /// Closes the connection and drops our references to its tracks.
    pub async fn close(&self) {
        for sender in self.pc.get_senders().await {
            let _ = self.pc.remove_track(&sender).await;
        }
        let _ = self.pc.close().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_answer_keeps_the_dtls_role_the_first_exchange_fixed() {
        let answer = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=setup:active\r\na=mid:0\r\n\
                      m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=setup:active\r\na=mid:1\r\n";
        assert_eq!(sdp_setup(answer), Some("active"));
        let fixed = with_setup(answer, "passive");
        assert_eq!(fixed.matches("a=setup:passive\r\n").count(), 2);
        assert!(!fixed.contains("active"));
        assert_eq!(fixed.len(), answer.len() + 2);
        assert_eq!(sdp_setup("v=0\r\n"), None);
    }
}
