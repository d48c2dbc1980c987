//! Converting audio to 48 kHz mono: down-mixing, and resampling with `rubato`'s FFT
//! resampler (a fixed ratio, what a device's rate to ours is), which keeps the images and
//! aliases that linear interpolation leaves (-34 dB for a 5 kHz tone at 44.1 kHz) below
//! -100 dB.

use rubato::{FftFixedIn, Resampler as _};

/// A streaming resampler from one rate to another, for one channel: any chunk sizes in,
/// the output as it becomes ready (about 10 ms of input at a time, plus the resampler's own
/// delay of a few milliseconds).
pub struct Resampler {
    /// `None` when the rates are the same.
    fft: Option<Box<FftFixedIn<f32>>>,
    /// Input waiting for a whole chunk.
    pending: Vec<f32>,
    /// The resampler's output buffer, one channel.
    buffer: Vec<Vec<f32>>,
}

impl std::fmt::Debug for Resampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resampler")
            .field("identity", &self.fft.is_none())
            .field("pending", &self.pending.len())
            .finish()
    }
}

impl Resampler {
    /// From `from` Hz to `to` Hz.
    pub fn new(from: u32, to: u32) -> Resampler {
        let fft = (from != to && from > 0 && to > 0)
            .then(|| {
                // 10 ms of input a chunk.
                let chunk = (from as usize / 100).max(1);
                FftFixedIn::<f32>::new(from as usize, to as usize, chunk, 1, 1)
                    .map_err(|e| tracing::warn!("no resampler from {from} Hz to {to} Hz: {e}"))
                    .ok()
            })
            .flatten()
            .map(Box::new);
        let buffer = vec![vec![0.0; fft.as_ref().map_or(0, |r| r.output_frames_max())]];
        Resampler {
            fft,
            pending: Vec::new(),
            buffer,
        }
    }

    /// Whether this resampler passes samples through unchanged.
    pub fn is_identity(&self) -> bool {
        self.fft.is_none()
    }

    /// Output samples the resampler holds back at the start (its filter's delay).
    pub fn delay(&self) -> usize {
        self.fft.as_ref().map_or(0, |r| r.output_delay())
    }

    /// Resamples one chunk, appending what is ready to `out`.
    pub fn process(&mut self, input: &[f32], out: &mut Vec<f32>) {
        let Some(fft) = self.fft.as_mut() else {
            out.extend_from_slice(input);
            return;
        };
        self.pending.extend_from_slice(input);
        let mut used = 0;
        while self.pending.len() - used >= fft.input_frames_next() {
            let want = fft.input_frames_next();
            match fft.process_into_buffer(
                &[&self.pending[used..used + want]],
                &mut self.buffer,
                None,
            ) {
                Ok((read, written)) => {
                    out.extend_from_slice(&self.buffer[0][..written]);
                    used += read;
                }
                Err(e) => {
                    // Cannot happen with the buffers sized as the resampler asked; drop the
                    // chunk rather than stop the sound.
                    tracing::warn!("resampling failed: {e}");
                    used += want;
                }
            }
        }
        self.pending.drain(..used);
    }

    /// The end of the stream: pushes out what is pending and what the filter holds.
    pub fn finish(&mut self, out: &mut Vec<f32>) {
        let Some(fft) = self.fft.as_mut() else {
            return;
        };
        let pending = std::mem::take(&mut self.pending);
        for input in [Some(&pending[..]), None] {
            let wave = input.map(|p| [p]);
            if let Ok((_, written)) = fft.process_partial_into_buffer(
                wave.as_ref().map(|w| &w[..]),
                &mut self.buffer,
                None,
            ) {
                out.extend_from_slice(&self.buffer[0][..written]);
            }
        }
    }
}

/// A whole recording from `from` Hz to `to` Hz, aligned (the filter's delay taken off) and
/// as long as the input in time.
pub fn resample_all(input: &[f32], from: u32, to: u32) -> Vec<f32> {
    let mut r = Resampler::new(from, to);
    if r.is_identity() {
        return input.to_vec();
    }
    let mut out = Vec::with_capacity(input.len() * to as usize / from.max(1) as usize + 1);
    r.process(input, &mut out);
    r.finish(&mut out);
    let delay = r.delay().min(out.len());
    out.drain(..delay);
    out.truncate((input.len() as u64 * u64::from(to) / u64::from(from.max(1))) as usize);
    out
}

/// Averages interleaved channels into one.
pub fn downmix(interleaved: &[f32], channels: usize) -> Vec<f32> {
    if channels <= 1 {
        return interleaved.to_vec();
    }
    interleaved
        .chunks_exact(channels)
        .map(|c| c.iter().sum::<f32>() / channels as f32)
        .collect()
}

/// A float sample to 16-bit.
pub fn to_i16(s: f32) -> i16 {
    (s.clamp(-1.0, 1.0) * i16::MAX as f32) as i16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resamples_to_the_right_length_and_keeps_a_tone() {
        let input: Vec<f32> = (0..44_100)
            .map(|i| (i as f32 * 440.0 * std::f32::consts::TAU / 44_100.0).sin())
            .collect();
        let mut r = Resampler::new(44_100, 48_000);
        let mut out = Vec::new();
        for chunk in input.chunks(1000) {
            r.process(chunk, &mut out);
        }
        // Streaming: all but the last chunk's worth and the filter's delay is out.
        assert!(out.len() > 48_000 - 1_000, "{}", out.len());
        r.finish(&mut out);
        assert!(out.len() >= 48_000, "{}", out.len());
        let whole = resample_all(&input, 44_100, 48_000);
        assert_eq!(whole.len(), 48_000);
        let pcm: Vec<i16> = whole.iter().map(|&s| to_i16(s * 0.5)).collect();
        assert!(crate::media::tone::tone_is_dominant(&pcm, 440.0));
    }

    /// A tone at `hz` sampled at `from`, resampled to 48 kHz in chunks of 480 as a device
    /// hands them over: its strongest spurious component, dB below the tone.
    fn spurious_after(from: u32, hz: f64) -> f64 {
        let input: Vec<f32> = (0..from as usize * 2)
            .map(|i| 0.5 * (i as f64 * hz * std::f64::consts::TAU / from as f64).sin() as f32)
            .collect();
        let mut r = Resampler::new(from, 48_000);
        let mut out = Vec::new();
        for chunk in input.chunks(480) {
            r.process(chunk, &mut out);
        }
        // Past the start, where the filter fills.
        crate::media::tone::spurious_db(&out[4_800..], 48_000, hz)
    }

    #[test]
    fn tones_come_out_clean_where_linear_interpolation_aliased() {
        for (from, hz) in [
            (44_100, 1_000.0),
            (44_100, 5_000.0),
            (44_100, 10_000.0),
            (16_000, 5_000.0),
        ] {
            let db = spurious_after(from, hz);
            assert!(db <= -90.0, "{hz} Hz at {from} Hz: spurious at {db:.1} dB");
        }
    }

    #[test]
    fn the_same_rate_passes_through() {
        let mut r = Resampler::new(48_000, 48_000);
        assert!(r.is_identity());
        let mut out = Vec::new();
        r.process(&[0.1, 0.2], &mut out);
        r.finish(&mut out);
        assert_eq!(out, vec![0.1, 0.2]);
    }

    #[test]
    fn downmixes() {
        assert_eq!(downmix(&[1.0, 0.0, 0.5, 0.5], 2), vec![0.5, 0.5]);
        assert_eq!(downmix(&[0.25], 1), vec![0.25]);
    }
}
