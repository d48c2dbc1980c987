//! Turning received RTP into pictures and sound. Video: packets ordered and held by the
//! [`VideoJitter`] until whole pictures with intact references come out, which are
//! depacketized and decoded. Audio: the [`AudioJitter`] plays packets out on a 20 ms clock;
//! lost ones are rebuilt from the next packet's FEC or concealed.

use std::time::{Duration, Instant};

use bytes::Bytes;
use rtc::rtp::codec::h264::H264Packet;
use rtc::rtp::packetizer::Depacketizer;

use super::jitter::{AudioJitter, AudioJitterStats, AudioSlot, VideoJitter, VideoJitterStats};
use crate::media::h264::{DecodedFrame, H264Decoder};
use crate::media::opus_codec::OpusDecoder;
use crate::media::MediaError;

/// Below this level (RMS of full scale) a played slot counts as quiet: catching up may skip
/// the next ones.
pub const QUIET_LEVEL: f32 = 0.003;

/// Orders, reassembles and decodes one H.264 RTP stream.
pub struct VideoReceiver {
    jitter: VideoJitter,
    depacketizer: H264Packet,
    decoder: H264Decoder,
}

impl VideoReceiver {
    /// A receiver with a fresh decoder, waiting for a keyframe.
    pub fn new() -> Result<VideoReceiver, MediaError> {
        Ok(VideoReceiver {
            jitter: VideoJitter::new(),
            depacketizer: H264Packet::default(),
            decoder: H264Decoder::new()?,
        })
    }

    /// Takes one RTP packet arriving at `now`.
    pub fn push(&mut self, seq: u16, timestamp: u32, marker: bool, payload: Bytes, now: Instant) {
        self.jitter.push(seq, timestamp, marker, payload, now);
    }

    /// Decodes every picture that is ready by `now`.
    pub fn pop(&mut self, now: Instant) -> Vec<DecodedFrame> {
        let mut out = Vec::new();
        while let Some(unit) = self.jitter.pop(now) {
            let mut annex_b = Vec::new();
            let mut whole = true;
            for payload in &unit.payloads {
                match self.depacketizer.depacketize(payload) {
                    Ok(bytes) => annex_b.extend_from_slice(&bytes),
                    Err(_) => whole = false,
                }
            }
            if !whole {
                self.jitter.lost_reference();
                continue;
            }
            match self.decoder.decode(&annex_b) {
                Ok(Some(frame)) => out.push(frame),
                Ok(None) => {}
                Err(e) => {
                    tracing::debug!("undecodable picture: {e}");
                    self.jitter.lost_reference();
                }
            }
        }
        out
    }

    /// Whether a keyframe is needed before anything can be shown (the caller sends a PLI).
    pub fn needs_keyframe(&self) -> bool {
        self.jitter.needs_keyframe
    }

    /// When to call [`VideoReceiver::pop`] again if no packet comes first.
    pub fn deadline(&self) -> Option<Instant> {
        self.jitter.deadline()
    }

    /// Tells the buffer the path's round trip, jitter and loss (a fraction), from which it
    /// sets how long to wait for a resend.
    pub fn set_path(&mut self, rtt: Duration, jitter: Duration, loss: f64) {
        self.jitter.set_path(rtt, jitter, loss);
    }

    /// How long a missing packet is waited for.
    pub fn wait(&self) -> Duration {
        self.jitter.wait()
    }

    /// The buffer's figures.
    pub fn stats(&self) -> VideoJitterStats {
        self.jitter.stats
    }
}

/// Plays one Opus RTP stream out, rebuilding or concealing lost packets.
pub struct AudioReceiver {
    jitter: AudioJitter,
    decoder: OpusDecoder,
}

impl AudioReceiver {
    /// A receiver with a fresh decoder.
    pub fn new() -> Result<AudioReceiver, MediaError> {
        Ok(AudioReceiver {
            jitter: AudioJitter::new(),
            decoder: OpusDecoder::new()?,
        })
    }

    /// Takes one RTP packet arriving at `now`.
    pub fn push(&mut self, seq: u16, payload: Bytes, now: Instant) {
        self.jitter.push(seq, payload, now);
    }

    /// The sound due by `now`, 48 kHz mono.
    pub fn pull(&mut self, now: Instant) -> Vec<i16> {
        let mut out = Vec::new();
        for slot in self.jitter.pull(now) {
            match slot {
                AudioSlot::Packet(p) => match self.decoder.decode(&p) {
                    Ok(samples) => {
                        self.jitter
                            .heard(crate::media::level::audio_level(&samples) < QUIET_LEVEL);
                        out.extend(samples);
                    }
                    Err(e) => {
                        tracing::debug!("undecodable Opus packet: {e}");
                        out.extend(self.decoder.conceal(None));
                    }
                },
                AudioSlot::Fec(next) => out.extend(self.decoder.conceal(Some(&next))),
                AudioSlot::Conceal => out.extend(self.decoder.conceal(None)),
                AudioSlot::Skip(p) => {
                    let _ = self.decoder.decode(&p);
                }
            }
        }
        out
    }

    /// When the next 20 ms are due, while the sender is sending.
    pub fn deadline(&self) -> Option<Instant> {
        self.jitter.deadline()
    }

    /// The buffer's figures.
    pub fn stats(&self) -> AudioJitterStats {
        self.jitter.stats
    }
}
