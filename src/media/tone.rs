//! Synthetic audio (a tone, silence) and finding which tone is in a signal.

use std::f64::consts::TAU;

use super::frame::{AudioFrame, SAMPLES_PER_FRAME, SAMPLE_RATE};
use super::{AudioSource, MediaError, Pacer};

/// A sine tone, or silence when the frequency is 0.
pub struct ToneSource {
    /// Frequency in hertz.
    pub hz: f64,
    /// Peak amplitude, 0 to 1.
    pub amplitude: f64,
    phase: f64,
    pacer: Option<Pacer>,
}

impl ToneSource {
    /// A tone at `hz` (0 for silence); `paced` makes each frame wait for its 20 ms.
    pub fn new(hz: f64, paced: bool) -> ToneSource {
        ToneSource {
            hz,
            amplitude: 0.3,
            phase: 0.0,
            pacer: paced.then(|| Pacer::new(50.0)),
        }
    }

    /// The next 20 ms without waiting.
    pub fn generate(&mut self) -> AudioFrame {
        let step = TAU * self.hz / SAMPLE_RATE as f64;
        let samples = (0..SAMPLES_PER_FRAME)
            .map(|_| {
                let s = (self.phase.sin() * self.amplitude * i16::MAX as f64) as i16;
                self.phase = (self.phase + step) % TAU;
                s
            })
            .collect();
        AudioFrame { samples }
    }
}

impl AudioSource for ToneSource {
    fn next_frame(&mut self) -> Result<AudioFrame, MediaError> {
        if let Some(p) = &mut self.pacer {
            p.wait();
        }
        Ok(self.generate())
    }

    fn describe(&self) -> String {
        if self.hz == 0.0 {
            "silence".into()
        } else {
            format!("tone {} Hz", self.hz)
        }
    }
}

/// Power of one frequency in a signal (Goertzel), normalised by length.
pub fn goertzel_power(samples: &[i16], hz: f64, rate: u32) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    let coeff = 2.0 * (TAU * hz / rate as f64).cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &x in samples {
        let s0 = x as f64 / i16::MAX as f64 + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    (s1 * s1 + s2 * s2 - coeff * s1 * s2) / (samples.len() as f64).powi(2)
}

/// The strongest frequency in `samples` among 50 Hz steps from 100 Hz to 4 kHz.
pub fn dominant_frequency(samples: &[i16]) -> Option<f64> {
    (2..=80)
        .map(|k| k as f64 * 50.0)
        .map(|hz| (hz, goertzel_power(samples, hz, SAMPLE_RATE)))
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .filter(|(_, p)| *p > 1e-6)
        .map(|(hz, _)| hz)
}

/// Whether `hz` is the dominant tone: at least 10 times the power of any frequency more
/// than 60 Hz away from it (checked at 25 Hz steps from 100 Hz to 4 kHz).
pub fn tone_is_dominant(samples: &[i16], hz: f64) -> bool {
    let target = goertzel_power(samples, hz, SAMPLE_RATE);
    if target < 1e-6 {
        return false;
    }
    let strongest_other = (4..=160)
        .map(|k| k as f64 * 25.0)
        .filter(|f| (f - hz).abs() > 60.0)
        .map(|f| goertzel_power(samples, f, SAMPLE_RATE))
        .fold(0.0, f64::max);
    target > 10.0 * strongest_other
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seconds_of(mut t: ToneSource, frames: usize) -> Vec<i16> {
        (0..frames).flat_map(|_| t.generate().samples).collect()
    }

    #[test]
    fn finds_the_tone() {
        let s = seconds_of(ToneSource::new(440.0, false), 25);
        assert!(tone_is_dominant(&s, 440.0));
        assert!(!tone_is_dominant(&s, 880.0));
        assert_eq!(
            dominant_frequency(&seconds_of(ToneSource::new(1000.0, false), 25)),
            Some(1000.0)
        );
        let silence = seconds_of(ToneSource::new(0.0, false), 10);
        assert!(silence.iter().all(|&x| x == 0));
        assert!(!tone_is_dominant(&silence, 440.0));
        assert_eq!(dominant_frequency(&silence), None);
    }
}
