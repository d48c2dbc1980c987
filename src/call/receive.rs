//! Turning received RTP into pictures and sound: H.264 access units reassembled from RTP
//! (marker bit ends a picture), decoded; Opus packets decoded, with concealment for gaps.

use bytes::Bytes;
use rtc::rtp::codec::h264::H264Packet;
use rtc::rtp::packetizer::Depacketizer;

use crate::media::h264::{DecodedFrame, H264Decoder};
use crate::media::opus_codec::OpusDecoder;
use crate::media::MediaError;

/// Reassembles and decodes one H.264 RTP stream.
pub struct VideoReceiver {
    depacketizer: H264Packet,
    decoder: H264Decoder,
    /// The access unit being assembled (Annex B).
    unit: Vec<u8>,
    /// RTP timestamp of the unit being assembled.
    unit_ts: Option<u32>,
    /// Next expected sequence number.
    next_seq: Option<u16>,
    /// Whether a packet of the current unit was lost (the unit is dropped).
    damaged: bool,
    /// Whether the decoder needs a keyframe before it can show anything.
    pub needs_keyframe: bool,
}

impl VideoReceiver {
    /// A receiver with a fresh decoder.
    pub fn new() -> Result<VideoReceiver, MediaError> {
        Ok(VideoReceiver {
            depacketizer: H264Packet::default(),
            decoder: H264Decoder::new()?,
            unit: Vec::new(),
            unit_ts: None,
            next_seq: None,
            damaged: false,
            needs_keyframe: false,
        })
    }

    /// Takes one RTP packet; returns a picture when one completes. A gap in sequence
    /// numbers drops the unit and sets `needs_keyframe` (the caller sends a PLI).
    pub fn push(
        &mut self,
        seq: u16,
        timestamp: u32,
        marker: bool,
        payload: &Bytes,
    ) -> Option<DecodedFrame> {
        let gap = self.next_seq.is_some_and(|expected| seq != expected);
        self.next_seq = Some(seq.wrapping_add(1));
        if gap {
            self.needs_keyframe = true;
        }
        if self.unit_ts != Some(timestamp) {
            // A new picture: whatever was left of the last one (no marker seen) is dropped.
            self.unit.clear();
            self.unit_ts = Some(timestamp);
            self.damaged = gap;
        } else if gap {
            self.damaged = true;
        }
        match self.depacketizer.depacketize(payload) {
            Ok(bytes) => self.unit.extend_from_slice(&bytes),
            Err(_) => self.damaged = true,
        }
        if !marker {
            return None;
        }
        let unit = std::mem::take(&mut self.unit);
        self.unit_ts = None;
        if self.damaged {
            self.damaged = false;
            return None;
        }
        match self.decoder.decode(&unit) {
            Ok(Some(frame)) => {
                self.needs_keyframe = false;
                Some(frame)
            }
            Ok(None) => None,
            Err(_) => {
                self.needs_keyframe = true;
                None
            }
        }
    }
}

/// Decodes one Opus RTP stream, concealing lost packets.
pub struct AudioReceiver {
    decoder: OpusDecoder,
    next_seq: Option<u16>,
}

impl AudioReceiver {
    /// A receiver with a fresh decoder.
    pub fn new() -> Result<AudioReceiver, MediaError> {
        Ok(AudioReceiver {
            decoder: OpusDecoder::new()?,
            next_seq: None,
        })
    }

    /// Takes one RTP packet; returns the samples it and any concealed gap before it make.
    pub fn push(&mut self, seq: u16, payload: &[u8]) -> Vec<i16> {
        let mut out = Vec::new();
        if let Some(expected) = self.next_seq {
            let gap = seq.wrapping_sub(expected);
            // Conceal short gaps only; a long one is a restart, not loss.
            if (1..=5).contains(&gap) {
                for i in 0..gap {
                    let next = (i == gap - 1).then_some(payload);
                    out.extend(self.decoder.conceal(next));
                }
            }
        }
        self.next_seq = Some(seq.wrapping_add(1));
        match self.decoder.decode(payload) {
            Ok(samples) => out.extend(samples),
            Err(e) => tracing::debug!("undecodable Opus packet: {e}"),
        }
        out
    }
}
