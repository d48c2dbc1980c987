//! The loudness of a piece of sound, for meters and for telling who speaks.

/// RMS level of some samples, 0 to 1 of full scale.
pub fn audio_level(samples: &[i16]) -> f32 {
    if samples.is_empty() {
        return 0.0;
    }
    let energy: f64 = samples
        .iter()
        .map(|&s| (f64::from(s) / 32768.0).powi(2))
        .sum::<f64>()
        / samples.len() as f64;
    energy.sqrt() as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audio_levels() {
        assert_eq!(audio_level(&[]), 0.0);
        assert_eq!(audio_level(&[0; 960]), 0.0);
        let loud: Vec<i16> = (0..960)
            .map(|n| if n % 2 == 0 { 16384 } else { -16384 })
            .collect();
        assert!((audio_level(&loud) - 0.5).abs() < 1e-6);
        let hiss: Vec<i16> = (0..960)
            .map(|n| if n % 2 == 0 { 300 } else { -300 })
            .collect();
        // Under the level at which a participant counts as speaking (0.02).
        assert!(audio_level(&hiss) < 0.02);
    }
}
