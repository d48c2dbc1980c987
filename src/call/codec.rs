//! What we send and how: H.264 constrained baseline and Opus, our payload types, the
//! bitrates congestion control works between, and which negotiated codec a sender uses.

use std::sync::Arc;

use rtc::peer_connection::configuration::media_engine::{
    MediaEngine, MIME_TYPE_H264, MIME_TYPE_OPUS,
};
use rtc::rtp_transceiver::rtp_sender::{RTCRtpCodec, RTCRtpCodecParameters, RtpCodecKind};
use rtc::rtp_transceiver::PayloadType;
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
/// The least congestion control may ask for: audio and a trickle of video.
pub const MIN_BITRATE: u32 = 60_000;
/// The least a video encoder is set to.
pub const MIN_VIDEO_BITRATE: u32 = 20_000;
/// The most congestion control may ask for (camera, screen and audio together).
pub const MAX_BITRATE: u32 = 6_000_000;

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

pub(crate) fn media_engine() -> Result<MediaEngine, webrtc::error::Error> {
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
