//! Typing in a meeting: key clicks, 5–10 a second at the level of speech, alone and under
//! the talker's voice, recorded in a PulseAudio room through termmeet's microphone with the
//! noise suppression on (WebRTC's suppressor and the click suppressor, the default), with
//! WebRTC's alone, with RNNoise alone, and off.
//!
//! | seconds | what the room hears |
//! | --- | --- |
//! | 0–6 | key clicks alone |
//! | 6–12 | the talker alone |
//! | 12–18 | the same words under the clicks |
//!
//! Clicks alone are measured from 1 s (the suppressors settle); the clicks under speech are
//! what the third window has over the second, which holds the same words.

use super::{at, noise, normalised, power, span, voice, TALKER_TEXT};
use crate::common::echo_lab::{self, Scene, Take};
use crate::common::turns::quiet_sound_turn;
use termmeet::media::processing::{Features, Suppressor};

const SPEECH: f64 = 6.0;
const BOTH: f64 = 12.0;
const END: f64 = 18.0;

/// Key strokes from `from` to `to` seconds, 100–200 ms apart: each a press (a 4 ms burst of
/// noise and the key's ring, 2–4.5 kHz) and a softer release 60–120 ms later.
fn clicks(into: &mut [f32], from: f64, to: f64) {
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut t = at(from);
    while t < at(to) {
        let release = at(0.06 + 0.06 * f64::from(noise(&mut seed).abs()));
        let ring = 2000.0 + 2500.0 * f64::from(noise(&mut seed).abs());
        for (start, amplitude) in [(t, 1.0f32), (t + release, 0.5)] {
            for n in 0..at(0.03) {
                let Some(s) = into.get_mut(start + n) else {
                    break;
                };
                let time = n as f64 / at(1.0) as f64;
                let burst = (-time / 0.0015).exp() as f32 * noise(&mut seed);
                let tone = ((-time / 0.008).exp()
                    * (2.0 * std::f64::consts::PI * ring * time).sin())
                    as f32;
                *s += amplitude * (burst + 0.6 * tone);
            }
        }
        t += at(0.1 + 0.1 * f64::from(noise(&mut seed).abs()));
    }
}

/// The dB that `a` is above `b`.
fn db(a: f64, b: f64) -> f64 {
    10.0 * (a.max(1e-12) / b.max(1e-12)).log10()
}

/// What one take sent: the clicks alone, the voice alone, and what the clicks added to it.
struct Heard {
    clicks: f64,
    speech: f64,
    clicks_under_speech: f64,
}

impl Heard {
    fn of(take: &Take) -> Heard {
        let x = &take.processed;
        let speech = power(span(x, SPEECH + 1.0, BOTH));
        let both = power(span(x, BOTH + 1.0, END));
        Heard {
            clicks: power(span(x, 1.0, SPEECH)),
            speech,
            clicks_under_speech: (both - speech).max(1e-12),
        }
    }
}

#[test]
fn key_clicks_are_taken_out_and_the_voice_kept() {
    let _turn = quiet_sound_turn();
    let words = voice("en-gb+f3", TALKER_TEXT);

    let mut keys = vec![0.0; at(END)];
    clicks(&mut keys, 0.0, SPEECH);
    clicks(&mut keys, BOTH, END);
    let mut keys = normalised(keys, -24.0);
    let speech_part = &words[..at(BOTH - SPEECH)];
    for window in [SPEECH, BOTH] {
        for (k, w) in keys[at(window)..].iter_mut().zip(speech_part) {
            *k += w;
        }
    }
    let choices = [
        ("noise suppression on (both)", true, Suppressor::Both),
        ("WebRTC's suppressor alone", true, Suppressor::Webrtc),
        ("RNNoise alone, gated", true, Suppressor::Rnnoise),
        ("noise suppression off", false, Suppressor::Both),
    ];
    let scenes: Vec<Scene> = choices
        .iter()
        .map(|&(_, noise, suppressor)| Scene {
            far: vec![0.0; at(END)],
            talker: keys.clone(),
            gain_percent: 100,
            delay_ms: 120,
            delay_change: None,
            features: Features {
                echo: true,
                noise,
                gain: false,
                suppressor,
            },
        })
        .collect();
    let heard: Vec<Heard> = std::thread::scope(|s| {
        let running: Vec<_> = scenes
            .iter()
            .enumerate()
            .map(|(i, scene)| s.spawn(move || echo_lab::take(&format!("typing{i}"), scene)))
            .collect();
        running
            .into_iter()
            .map(|t| Heard::of(&t.join().expect("a take")))
            .collect()
    });
    let off = &heard[choices.len() - 1];
    eprintln!(
        "| suppression | clicks alone lower by | clicks under speech lower by | voice lower by |"
    );
    eprintln!("| --- | --- | --- | --- |");
    for ((name, ..), h) in choices.iter().zip(&heard) {
        eprintln!(
            "| {name} | {:.1} dB | {:.1} dB | {:.1} dB |",
            db(off.clicks, h.clicks),
            db(off.clicks_under_speech, h.clicks_under_speech),
            db(off.speech, h.speech)
        );
    }
    let on = &heard[0];
    let lower = db(off.clicks, on.clicks);
    assert!(
        lower >= 15.0,
        "key clicks are only {lower:.1} dB lower with noise suppression on"
    );
    let voice = db(off.speech, on.speech).abs();
    assert!(
        voice <= 3.0,
        "the voice changes by {voice:.1} dB with noise suppression on"
    );
}
