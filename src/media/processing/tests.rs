use super::*;
use crate::media::frame::SAMPLES_PER_FRAME;
use crate::media::tone::level_at;

/// A sine at `hz`, amplitude `amp`, from sample `from`.
fn sine(hz: f64, amp: f64, from: usize, n: usize) -> Vec<f32> {
    (from..from + n)
        .map(|i| {
            (amp * (2.0 * std::f64::consts::PI * hz * i as f64 / f64::from(SAMPLE_RATE)).sin())
                as f32
        })
        .collect()
}

/// Plays a 440 Hz far end into a room that echoes it 60 ms later, 20 dB down, and a
/// talker at 523 Hz joins in after three seconds; what is sent in the last second.
fn echoing_room(features: Features) -> (Vec<f32>, ProcessingFigures) {
    let shared = Processing::new(features);
    let far = FarEnd::new(40);
    shared.set_far_end(Some(Arc::clone(&far)));
    let mut processor = Processor::new(Arc::clone(&shared));
    let delay = SAMPLE_RATE as usize * 60 / 1000;
    let seconds = 8;
    let played = sine(440.0, 0.5, 0, SAMPLE_RATE as usize * seconds + delay);
    let talker = sine(523.0, 0.1, 0, SAMPLE_RATE as usize * seconds);
    // The far end talks alone for the first three seconds, as at the start of a call:
    // the canceller learns the room before anyone talks over it.
    let talks_from = SAMPLE_RATE as usize * 3;
    let mut sent = Vec::new();
    for n in 0..seconds * 50 {
        let at = n * SAMPLES_PER_FRAME;
        // The speaker gets the next 20 ms as the microphone hears what came 60 ms ago.
        far.push(&played[at + delay..at + delay + CHUNK]);
        far.push(&played[at + delay + CHUNK..at + delay + 2 * CHUNK]);
        let samples = (0..SAMPLES_PER_FRAME)
            .map(|i| {
                let echo = played[at + i] * 0.1;
                let near = if at + i >= talks_from {
                    talker[at + i]
                } else {
                    0.0
                };
                ((echo + near) * 32768.0) as i16
            })
            .collect();
        let mut frame = AudioFrame { samples };
        processor.process(&mut frame, Duration::ZERO);
        sent.extend(frame.samples.iter().map(|&s| f32::from(s) / 32768.0));
    }
    let last = sent.split_off(sent.len() - SAMPLE_RATE as usize);
    (last, shared.figures())
}

#[test]
fn the_echo_of_what_is_played_goes_and_the_talker_stays() {
    let echo_only = Features {
        echo: true,
        noise: false,
        gain: false,
        ..Default::default()
    };
    let off = Features {
        echo: false,
        noise: false,
        gain: false,
        ..Default::default()
    };
    let (on_audio, figures) = echoing_room(echo_only);
    let (off_audio, _) = echoing_room(off);
    let echo_drop = level_at(&off_audio, 48_000, 440.0) - level_at(&on_audio, 48_000, 440.0);
    let talker_change = level_at(&on_audio, 48_000, 523.0) - level_at(&off_audio, 48_000, 523.0);
    eprintln!("echo down {echo_drop:.1} dB, talker {talker_change:+.1} dB, {figures:?}");
    assert!(echo_drop >= 25.0, "echo only {echo_drop:.1} dB down");
    assert!(talker_change.abs() <= 6.0, "talker {talker_change:+.1} dB");
    assert!(figures.erle_db.is_some(), "{figures:?}");
}

#[test]
fn a_quiet_voice_is_brought_up() {
    let shared = Processing::new(Features {
        echo: false,
        noise: false,
        gain: true,
        ..Default::default()
    });
    let mut processor = Processor::new(Arc::clone(&shared));
    // A distant voice: 440 Hz at -40 dBFS in syllables of 300 ms with pauses of 200 ms.
    let quiet: Vec<f32> = sine(440.0, 0.01, 0, SAMPLE_RATE as usize * 8)
        .into_iter()
        .enumerate()
        .map(|(i, s)| if i % 24_000 < 14_400 { s } else { 0.0 })
        .collect();
    let mut sent = Vec::new();
    for frame in quiet.chunks(SAMPLES_PER_FRAME) {
        let samples = frame.iter().map(|s| (s * 32768.0) as i16).collect();
        let mut frame = AudioFrame { samples };
        processor.process(&mut frame, Duration::ZERO);
        sent.extend(frame.samples.iter().map(|&s| f32::from(s) / 32768.0));
    }
    let last = &sent[sent.len() - SAMPLE_RATE as usize..];
    let before = level_at(&quiet[..SAMPLE_RATE as usize], 48_000, 440.0);
    let after = level_at(last, 48_000, 440.0);
    eprintln!("a voice at {before:.1} dBFS is sent at {after:.1} dBFS");
    assert!(after - before >= 10.0, "{before:.1} -> {after:.1} dBFS");
    assert!(after < -1.0, "not clipped: {after:.1} dBFS");
}

#[test]
fn features_parse_and_describe() {
    assert_eq!(Feature::parse("echo"), Some(Feature::Echo));
    assert_eq!(Feature::parse("noise-suppression"), Some(Feature::Noise));
    assert_eq!(Feature::parse("AGC"), Some(Feature::Gain));
    assert_eq!(Feature::parse("reverb"), None);
    let mut f = Features::default();
    assert_eq!(f.describe(), "echo noise gain");
    f.set(Feature::Noise, false);
    assert_eq!(f.describe(), "echo gain");
    f.echo = false;
    f.gain = false;
    assert_eq!(f.describe(), "off");
    let webrtc = Features {
        suppressor: Suppressor::Webrtc,
        ..Features::default()
    };
    assert_eq!(webrtc.describe(), "echo noise (webrtc) gain");
    assert_eq!(Suppressor::parse("steady"), Some(Suppressor::Webrtc));
    assert_eq!(Suppressor::parse("RNNoise"), Some(Suppressor::Rnnoise));
    assert_eq!(Suppressor::parse("krisp"), None);
}

/// Key clicks with no voice go far down either way (the voice is kept: echo_matrix::typing),
/// and a steady tone is left as it is by the click suppressor.
#[test]
fn clicks_alone_go_down_and_a_steady_tone_stays() {
    let mut seed = 7u64;
    let mut noise = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed >> 40) as f32 / (1u32 << 23) as f32 - 1.0
    };
    // A click (2 ms of noise, decaying) every 150 ms, 3 s.
    let clicks: Vec<f32> = (0..3 * SAMPLE_RATE as usize)
        .map(|n| {
            let t = (n % 7200) as f32 / SAMPLE_RATE as f32;
            0.5 * (-t / 0.002).exp() * noise()
        })
        .collect();
    let tone = sine(440.0, 0.1, 0, 3 * SAMPLE_RATE as usize);
    let power = |x: &[f32]| x.iter().map(|s| s * s).sum::<f32>() / x.len() as f32;
    let through = |way, x: &[f32]| {
        let mut out = x.to_vec();
        let mut suppressor = transients::TransientSuppressor::new(way);
        out.chunks_mut(CHUNK).for_each(|c| {
            suppressor.process(c);
        });
        10.0 * (power(&x[48_000..]) / power(&out[48_000..])).log10()
    };
    for way in [
        transients::Transients::Clicks,
        transients::Transients::Rnnoise,
    ] {
        let lower = through(way, &clicks);
        assert!(lower >= 15.0, "{way:?}: clicks only {lower:.1} dB lower");
    }
    let tone_lower = through(transients::Transients::Clicks, &tone);
    assert!(
        tone_lower.abs() < 0.5,
        "a steady tone {tone_lower:.1} dB lower"
    );
}
