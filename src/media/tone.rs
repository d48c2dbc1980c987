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

/// How far below a tone at `hz` its strongest spurious component lies, in dB (negative):
/// the largest spectral peak away from the tone (and from DC) over the tone's own, through a
/// 4-term Blackman-Harris window (sidelobes at -92 dB) and an FFT of up to 32768 samples.
/// Broadband noise spreads over thousands of bins and barely counts; images and aliases,
/// which are tones, do.
pub fn spurious_db(samples: &[f32], rate: u32, hz: f64) -> f64 {
    spurious_db_beyond(samples, rate, hz, 0.0)
}

/// [`spurious_db`] counting only components more than `guard_hz` from the tone: where a
/// resampler's images and aliases fall, leaving out the sidebands that a stream's own
/// timing (a jitter buffer catching up) puts close to it.
pub fn spurious_db_beyond(samples: &[f32], rate: u32, hz: f64, guard_hz: f64) -> f64 {
    let Some((power, bin_hz)) = spectrum(samples, rate) else {
        return 0.0;
    };
    let tone_bin = (hz / bin_hz).round() as usize;
    // The window's main lobe is four bins each side; leave a little more.
    let guard = ((guard_hz / bin_hz).round() as usize).max(6);
    let near = |k: usize| k.abs_diff(tone_bin) <= guard || k <= 6;
    let tone = peak_near(&power, tone_bin, 6);
    let spur = power
        .iter()
        .enumerate()
        .filter(|(k, _)| !near(*k))
        .map(|(_, p)| *p)
        .fold(0.0, f64::max);
    if tone <= 0.0 {
        return 0.0;
    }
    10.0 * (spur.max(1e-30) / tone).log10()
}

/// [`spurious_db_beyond`] of the signal as it usually is: the median over windows of 16384
/// samples, half overlapped. A stretch of a few milliseconds that a starved process or a
/// missed period broke spoils the one or two windows that hold it, not the figure, while a
/// resampler's images and aliases, which are in every window, still count in full.
pub fn spurious_db_steady(samples: &[f32], rate: u32, hz: f64, guard_hz: f64) -> f64 {
    const WINDOW: usize = 16_384;
    if samples.len() < 2 * WINDOW {
        return spurious_db_beyond(samples, rate, hz, guard_hz);
    }
    let mut values: Vec<f64> = (0..=samples.len() - WINDOW)
        .step_by(WINDOW / 2)
        .map(|start| spurious_db_beyond(&samples[start..start + WINDOW], rate, hz, guard_hz))
        .collect();
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// The power spectrum of up to 32768 samples (a power of two), Blackman-Harris windowed and
/// scaled so a full-scale sine peaks at 0 dB: the powers and the bin width in Hz.
fn spectrum(samples: &[f32], rate: u32) -> Option<(Vec<f64>, f64)> {
    let n = samples.len().min(32_768);
    if n < 64 {
        return None;
    }
    let n = 1usize << (usize::BITS - 1 - n.leading_zeros());
    let window = |i: usize| {
        let x = TAU * i as f64 / (n - 1) as f64;
        0.35875 - 0.48829 * x.cos() + 0.14128 * (2.0 * x).cos() - 0.01168 * (3.0 * x).cos()
    };
    let gain: f64 = (0..n).map(window).sum::<f64>() / 2.0;
    let mut spectrum: Vec<rustfft::num_complex::Complex<f64>> = samples[..n]
        .iter()
        .enumerate()
        .map(|(i, &s)| rustfft::num_complex::Complex::new(f64::from(s) * window(i), 0.0))
        .collect();
    rustfft::FftPlanner::new()
        .plan_fft_forward(n)
        .process(&mut spectrum);
    let power = spectrum[..n / 2]
        .iter()
        .map(|c| c.norm_sqr() / (gain * gain))
        .collect();
    Some((power, f64::from(rate) / n as f64))
}

/// The strongest power within `within` bins of `bin`.
fn peak_near(power: &[f64], bin: usize, within: usize) -> f64 {
    power
        .iter()
        .enumerate()
        .filter(|(k, _)| k.abs_diff(bin) <= within)
        .map(|(_, p)| *p)
        .fold(0.0, f64::max)
}

/// The level of the tone at `hz` in `samples`, dB of full scale (a full-scale sine is 0 dB;
/// silence is -200).
pub fn level_at(samples: &[f32], rate: u32, hz: f64) -> f64 {
    let Some((power, bin_hz)) = spectrum(samples, rate) else {
        return -200.0;
    };
    let peak = peak_near(&power, (hz / bin_hz).round() as usize, 4);
    10.0 * peak.max(1e-20).log10()
}

/// The level of what is not a tone between `low` and `high` Hz, dB of full scale per bin on
/// average: broadband noise, with every tone in `tones` (and its window's lobe) left out.
pub fn noise_level(samples: &[f32], rate: u32, low: f64, high: f64, tones: &[f64]) -> f64 {
    let Some((power, bin_hz)) = spectrum(samples, rate) else {
        return -200.0;
    };
    let mut sum = 0.0;
    let mut count = 0usize;
    for (k, p) in power.iter().enumerate() {
        let hz = k as f64 * bin_hz;
        if hz < low || hz > high || tones.iter().any(|t| (hz - t).abs() <= 8.0 * bin_hz) {
            continue;
        }
        sum += p;
        count += 1;
    }
    if count == 0 {
        return -200.0;
    }
    10.0 * (sum / count as f64).max(1e-20).log10()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spurious_tone_is_measured_below_the_tone() {
        let rate = 48_000.0;
        let signal: Vec<f32> = (0..48_000)
            .map(|i| {
                let t = i as f64 / rate;
                (0.5 * (TAU * 5_000.0 * t).sin() + 0.005 * (TAU * 7_000.0 * t).sin()) as f32
            })
            .collect();
        let db = spurious_db(&signal, 48_000, 5_000.0);
        assert!((-41.0..-39.0).contains(&db), "{db}");
        let clean: Vec<f32> = signal
            .iter()
            .enumerate()
            .map(|(i, _)| (0.5 * (TAU * 5_000.0 * i as f64 / rate).sin()) as f32)
            .collect();
        assert!(spurious_db(&clean, 48_000, 5_000.0) < -90.0);
    }

    #[test]
    fn a_dropout_spoils_one_window_not_the_steady_figure_but_a_spur_counts() {
        let rate = 48_000.0;
        let tone = |i: usize, spur: f64| {
            let t = i as f64 / rate;
            (0.5 * (TAU * 5_000.0 * t).sin() + spur * (TAU * 7_000.0 * t).sin()) as f32
        };
        // 2 s of a clean tone with 5 ms of silence in it, as a starved player leaves.
        let mut broken: Vec<f32> = (0..96_000).map(|i| tone(i, 0.0)).collect();
        broken[16_000..16_240].fill(0.0);
        assert!(spurious_db(&broken, 48_000, 5_000.0) > -60.0);
        let steady = spurious_db_steady(&broken, 48_000, 5_000.0, 0.0);
        assert!(steady < -90.0, "{steady}");
        // A spur that is always there counts in full.
        let spurred: Vec<f32> = (0..96_000).map(|i| tone(i, 0.005)).collect();
        let steady = spurious_db_steady(&spurred, 48_000, 5_000.0, 0.0);
        assert!((-41.0..-39.0).contains(&steady), "{steady}");
    }

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
