//! Opus at 48 kHz mono in 20 ms frames, with in-band FEC and packet-loss concealment.

use opus::{Application, Bitrate, Channels};

use super::frame::{AudioFrame, SAMPLES_PER_FRAME, SAMPLE_RATE};
use super::MediaError;

/// Largest Opus packet we produce or accept.
const MAX_PACKET: usize = 1500;

fn codec_error(what: &str, e: opus::Error) -> MediaError {
    MediaError::Codec(format!("{what}: {e}"))
}

/// An Opus encoder for voice.
pub struct OpusEncoder {
    inner: opus::Encoder,
}

impl OpusEncoder {
    /// An encoder at `bitrate_bps` with FEC on, expecting some loss.
    pub fn new(bitrate_bps: i32) -> Result<OpusEncoder, MediaError> {
        let mut inner = opus::Encoder::new(SAMPLE_RATE, Channels::Mono, Application::Voip)
            .map_err(|e| codec_error("cannot start the Opus encoder", e))?;
        inner
            .set_bitrate(Bitrate::Bits(bitrate_bps))
            .map_err(|e| codec_error("bad Opus bitrate", e))?;
        inner
            .set_inband_fec(true)
            .map_err(|e| codec_error("cannot turn Opus FEC on", e))?;
        inner
            .set_packet_loss_perc(5)
            .map_err(|e| codec_error("cannot set Opus loss", e))?;
        Ok(OpusEncoder { inner })
    }

    /// Changes the bitrate.
    pub fn set_bitrate(&mut self, bitrate_bps: i32) -> Result<(), MediaError> {
        self.inner
            .set_bitrate(Bitrate::Bits(bitrate_bps.clamp(6_000, 510_000)))
            .map_err(|e| codec_error("bad Opus bitrate", e))
    }

    /// Encodes one 20 ms frame.
    pub fn encode(&mut self, frame: &AudioFrame) -> Result<Vec<u8>, MediaError> {
        if frame.samples.len() != SAMPLES_PER_FRAME {
            return Err(MediaError::Codec(format!(
                "an audio frame must have {SAMPLES_PER_FRAME} samples, not {}",
                frame.samples.len()
            )));
        }
        self.inner
            .encode_vec(&frame.samples, MAX_PACKET)
            .map_err(|e| codec_error("Opus encoding failed", e))
    }
}

/// An Opus decoder that conceals lost packets.
pub struct OpusDecoder {
    inner: opus::Decoder,
    /// Packets that could not be decoded.
    pub errors: u64,
}

impl OpusDecoder {
    /// A new decoder.
    pub fn new() -> Result<OpusDecoder, MediaError> {
        let inner = opus::Decoder::new(SAMPLE_RATE, Channels::Mono)
            .map_err(|e| codec_error("cannot start the Opus decoder", e))?;
        Ok(OpusDecoder { inner, errors: 0 })
    }

    /// Decodes one packet into 48 kHz mono samples (20 ms for our own packets; a browser
    /// may send other durations).
    pub fn decode(&mut self, packet: &[u8]) -> Result<Vec<i16>, MediaError> {
        let mut out = vec![0i16; SAMPLE_RATE as usize * 120 / 1000];
        match self.inner.decode(packet, &mut out, false) {
            Ok(n) => {
                out.truncate(n);
                Ok(out)
            }
            Err(e) => {
                self.errors += 1;
                Err(codec_error("Opus decoding failed", e))
            }
        }
    }

    /// Makes up 20 ms for a lost packet. With the next packet in hand (`next`), recovers it
    /// from that packet's forward error correction; otherwise conceals it.
    pub fn conceal(&mut self, next: Option<&[u8]>) -> Vec<i16> {
        let mut out = vec![0i16; SAMPLES_PER_FRAME];
        let result = match next {
            Some(packet) => self.inner.decode(packet, &mut out, true),
            None => self.inner.decode(&[], &mut out, false),
        };
        match result {
            Ok(n) => out.truncate(n),
            Err(_) => out.iter_mut().for_each(|s| *s = 0),
        }
        out
    }
}
