//! Converting audio to 48 kHz mono: down-mixing and linear-interpolation resampling.

/// A streaming linear resampler from any rate to another, for one channel.
#[derive(Clone, Debug)]
pub struct Resampler {
    /// Input samples per output sample.
    step: f64,
    /// Position of the next output sample, in input samples after `last`.
    pos: f64,
    /// The last input sample of the previous chunk.
    last: f32,
}

impl Resampler {
    /// From `from` Hz to `to` Hz.
    pub fn new(from: u32, to: u32) -> Resampler {
        Resampler {
            step: from.max(1) as f64 / to.max(1) as f64,
            pos: 0.0,
            last: 0.0,
        }
    }

    /// Whether this resampler passes samples through unchanged.
    pub fn is_identity(&self) -> bool {
        self.step == 1.0
    }

    /// Resamples one chunk, appending to `out`.
    pub fn process(&mut self, input: &[f32], out: &mut Vec<f32>) {
        if self.is_identity() {
            out.extend_from_slice(input);
            return;
        }
        // Sample i of the virtual stream [last, input...] is at index i.
        let at = |i: usize| if i == 0 { self.last } else { input[i - 1] };
        while self.pos + 1.0 <= input.len() as f64 {
            let i = self.pos as usize;
            let frac = (self.pos - i as f64) as f32;
            out.push(at(i) * (1.0 - frac) + at(i + 1) * frac);
            self.pos += self.step;
        }
        if let Some(&l) = input.last() {
            self.last = l;
            self.pos -= input.len() as f64;
        }
    }
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
        assert!((out.len() as i64 - 48_000).abs() <= 2, "{}", out.len());
        let pcm: Vec<i16> = out.iter().map(|&s| to_i16(s * 0.5)).collect();
        assert!(crate::media::tone::tone_is_dominant(&pcm, 440.0));
    }

    #[test]
    fn downmixes() {
        assert_eq!(downmix(&[1.0, 0.0, 0.5, 0.5], 2), vec![0.5, 0.5]);
        assert_eq!(downmix(&[0.25], 1), vec![0.25]);
    }
}
