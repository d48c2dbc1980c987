//! The echo canceller's test matrix, measured the way ITU-T G.168 and P.1110 measure echo
//! cancellers, in rooms of PulseAudio's (`common::echo_lab`) with termmeet's own speaker,
//! microphone and processing.
//!
//! The far end and the local talker are two synthetic voices of `espeak-ng` reading
//! different texts, or a music-like or tonal far end against the talker's voice. Each row
//! plays the same timeline:
//!
//! | seconds | who talks | measured |
//! | --- | --- | --- |
//! | 0–10 | far end alone | convergence from the start; ERLE, the median of 1 s windows from 3 s |
//! | 10–16 | both (double talk) | what the talker loses |
//! | 16–19 | local talker alone | what the talker loses with nobody else |
//! | 19.5 | the echo path gets 60 ms longer, as when a speaker's buffer changes | |
//! | 20–27 | far end alone | convergence after the change; ERLE from 23 s |
//!
//! ERLE is what the processing takes out: the microphone as it is against the microphone
//! processed, recorded at the same moments. The talker's loss in double talk compares what
//! is sent with the talker's own sound (the signal played, at the level the room gives it),
//! once the echo left in (from the ERLE) is taken off.

use crate::common::echo_lab::{self, Scene, Take, RATE};
use crate::common::turns::quiet_sound_turn;
use termmeet::media::processing::Features;
use termmeet::media::wav::load_wav;

/// The timeline's marks, seconds.
const DOUBLE_TALK: f64 = 10.0;
const LOCAL_ALONE: f64 = 16.0;
const TALKER_ENDS: f64 = 19.0;
const PATH_CHANGES: f64 = 19.5;
const FAR_AGAIN: f64 = 20.0;
const END: f64 = 27.0;

/// How much later the echo comes after the change, ms.
const DELAY_STEP_MS: u32 = 60;

/// What the far end plays.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Far {
    /// Speech (the far voice).
    Speech,
    /// A steady 440 Hz tone.
    Tone,
    /// 440 Hz in bursts of 0.12–0.45 s on noise 14 dB below.
    BurstsOnNoise,
    /// Chords changing every half second, each note with harmonics: music.
    Chords,
    /// Speech over a 100 Hz mains hum with its harmonics.
    HumUnderSpeech,
}

/// What the local talker plays.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Talker {
    /// Speech (the other voice).
    Speech,
    /// A steady 523 Hz tone: double talk with a tone as the far end, as in the report that
    /// found tonal echo barely cancelled.
    Tone,
    /// 523 Hz in bursts of 0.12–0.45 s.
    Bursts,
}

/// One row: what the far end and the talker play, and how the room echoes.
#[derive(Clone, Copy, Debug)]
struct Row {
    far: Far,
    talker: Talker,
    /// Whether noise suppression runs with the canceller (the default); without, the
    /// canceller is measured alone.
    noise: bool,
    gain_percent: u32,
    delay_ms: u32,
}

impl Row {
    /// The steady tones of the far end, Hz, measured through double talk.
    fn tones(&self) -> Vec<f64> {
        match self.far {
            Far::Speech => vec![],
            Far::Tone | Far::BurstsOnNoise => vec![440.0],
            Far::Chords => vec![261.6, 329.6, 392.0, 220.0, 174.6, 196.0, 246.9, 293.7],
            Far::HumUnderSpeech => vec![100.0, 200.0, 300.0],
        }
    }

    fn name(&self) -> String {
        let talker = match self.talker {
            Talker::Speech => String::new(),
            t => format!(" against {t:?}"),
        };
        let alone = if self.noise { "" } else { " (canceller alone)" };
        format!(
            "{:?}{talker}, echo {}% at {} ms{alone}",
            self.far, self.gain_percent, self.delay_ms
        )
    }
}

/// The rows: speech at every gain and delay (400 ms is the thin SSH sound path's), and the
/// tonal and musical far ends at 100% and 120 ms.
fn rows() -> Vec<Row> {
    let mut rows = Vec::new();
    for delay_ms in [40, 120, 250, 400] {
        for gain_percent in [50, 100, 150] {
            rows.push(Row {
                far: Far::Speech,
                talker: Talker::Speech,
                noise: true,
                gain_percent,
                delay_ms,
            });
        }
    }
    let tonal = [
        (Far::Tone, Talker::Speech),
        (Far::Tone, Talker::Tone),
        (Far::BurstsOnNoise, Talker::Speech),
        (Far::BurstsOnNoise, Talker::Bursts),
        (Far::Chords, Talker::Speech),
        (Far::HumUnderSpeech, Talker::Speech),
    ];
    for ((far, talker), noise) in tonal.into_iter().flat_map(|t| [(t, true), (t, false)]) {
        rows.push(Row {
            far,
            talker,
            noise,
            gain_percent: 100,
            delay_ms: 120,
        });
    }
    rows
}

const FAR_TEXT: &str = "The quarterly numbers came in this morning, and they look better than \
    we feared. Sales in the north held steady through the autumn, while the new office in \
    the south grew faster than any of us planned. We still have to talk about the budget \
    for next year, and about who takes over the support rota in January. Let me go through \
    the figures one at a time, and stop me if anything is unclear.";

pub(crate) const TALKER_TEXT: &str =
    "Could you share the slide with the chart again? I missed the second \
    column. Also, before we move on, I think the support rota should rotate weekly, not \
    monthly, because nobody wants a whole month of night calls. And one more thing about \
    the office: are we hiring there, or moving people?";

/// `text` read by `espeak-ng` in `voice`, at 48 kHz, normalised to -24 dBFS while it speaks.
pub(crate) fn voice(voice: &str, text: &str) -> Vec<f32> {
    let dir = std::env::temp_dir().join(format!("termmeet-voice-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    let path = dir.join(format!("{voice}-{}.wav", text.len()));
    let status = std::process::Command::new("espeak-ng")
        .args(["-v", voice, "-s", "165", "-w"])
        .arg(&path)
        .arg(text)
        .status()
        .expect("espeak-ng is installed by scripts/setup.sh test");
    assert!(status.success(), "espeak-ng {voice}: {status}");
    let samples: Vec<f32> = load_wav(&path)
        .expect("espeak-ng's WAV")
        .iter()
        .map(|&s| f32::from(s) / 32768.0)
        .collect();
    let _ = std::fs::remove_file(&path);
    normalised(samples, -24.0)
}

/// `samples` scaled so their 10 ms frames louder than -40 dB of the loudest average `db`.
pub(crate) fn normalised(mut samples: Vec<f32>, db: f64) -> Vec<f32> {
    let frames: Vec<f64> = samples.chunks(480).map(power).collect();
    let loudest = frames.iter().copied().fold(0.0, f64::max);
    let loud: Vec<f64> = frames.into_iter().filter(|&p| p > loudest * 1e-4).collect();
    let mean = loud.iter().sum::<f64>() / loud.len().max(1) as f64;
    let scale = (10f64.powf(db / 10.0) / mean.max(1e-12)).sqrt() as f32;
    samples.iter_mut().for_each(|s| *s *= scale);
    samples
}

/// Mean square.
pub(crate) fn power(x: &[f32]) -> f64 {
    x.iter().map(|&s| f64::from(s) * f64::from(s)).sum::<f64>() / x.len().max(1) as f64
}

pub(crate) fn at(seconds: f64) -> usize {
    (seconds * f64::from(RATE)) as usize
}

/// Seconds `from..to` of `x` (as far as it goes).
pub(crate) fn span(x: &[f32], from: f64, to: f64) -> &[f32] {
    &x[at(from).min(x.len())..at(to).min(x.len())]
}

/// `source` repeated to fill `from..to` seconds of `into`.
fn lay(into: &mut [f32], source: &[f32], from: f64, to: f64) {
    let (from, to) = (at(from), at(to).min(into.len()));
    for (i, s) in into[from..to].iter_mut().enumerate() {
        *s = source[i % source.len()];
    }
}

/// A small xorshift noise source in [-1, 1].
pub(crate) fn noise(seed: &mut u64) -> f32 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    ((*seed >> 40) as f64 / f64::from(1u32 << 23) - 1.0) as f32
}

fn sine(hz: f64, n: usize) -> f32 {
    (2.0 * std::f64::consts::PI * hz * n as f64 / f64::from(RATE)).sin() as f32
}

/// A tone at `hz`, amplitude 0.1, steady or in bursts of 0.12–0.45 s (and pauses as long),
/// 30 s.
fn tone_sound(hz: f64, bursts: bool) -> Vec<f32> {
    let mut seed = hz.to_bits();
    let (mut left, mut on) = (0usize, false);
    (0..at(30.0))
        .map(|i| {
            if left == 0 {
                on = !on || !bursts;
                let ms = 120 + (noise(&mut seed).abs() * 330.0) as usize;
                left = ms * RATE as usize / 1000;
            }
            left -= 1;
            if on {
                0.1 * sine(hz, i)
            } else {
                0.0
            }
        })
        .collect()
}

/// The far end's sound for `far`, 30 s.
fn far_sound(far: Far, speech: &[f32]) -> Vec<f32> {
    let n = at(30.0);
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let out: Vec<f32> = match far {
        Far::Speech => (0..n).map(|i| speech[i % speech.len()]).collect(),
        Far::Tone => tone_sound(440.0, false),
        Far::BurstsOnNoise => tone_sound(440.0, true)
            .into_iter()
            .map(|s| s + 0.025 * noise(&mut seed))
            .collect(),
        Far::Chords => {
            // C, A minor, F, G: each note with its second and third harmonics.
            let chords = [
                [261.6, 329.6, 392.0],
                [220.0, 261.6, 329.6],
                [174.6, 220.0, 261.6],
                [196.0, 246.9, 293.7],
            ];
            (0..n)
                .map(|i| {
                    let chord = chords[(i / at(0.5)) % chords.len()];
                    let fade = ((i % at(0.5)) as f32 / 480.0).min(1.0);
                    let s: f32 = chord
                        .iter()
                        .map(|&f| sine(f, i) + 0.5 * sine(2.0 * f, i) + 0.25 * sine(3.0 * f, i))
                        .sum();
                    0.03 * fade * s
                })
                .collect()
        }
        Far::HumUnderSpeech => (0..n)
            .map(|i| {
                let hum = 0.03 * sine(100.0, i) + 0.015 * sine(200.0, i) + 0.01 * sine(300.0, i);
                speech[i % speech.len()] + hum
            })
            .collect(),
    };
    normalised(out, -24.0)
}

/// The scene of `row`: the far end alone, both, the talker alone, the path change, the far
/// end alone again.
fn scene(row: &Row, far_speech: &[f32], talker_speech: &[f32]) -> Scene {
    let sound = far_sound(row.far, far_speech);
    let talker_sound = match row.talker {
        Talker::Speech => talker_speech.to_vec(),
        Talker::Tone => tone_sound(523.0, false),
        Talker::Bursts => tone_sound(523.0, true),
    };
    let mut far = vec![0.0; at(END)];
    lay(&mut far, &sound, 0.0, LOCAL_ALONE);
    lay(&mut far, &sound, FAR_AGAIN, END);
    let mut talker = vec![0.0; at(END)];
    lay(&mut talker, &talker_sound, DOUBLE_TALK, TALKER_ENDS);
    Scene {
        far,
        talker,
        gain_percent: row.gain_percent,
        delay_ms: row.delay_ms,
        delay_change: Some((PATH_CHANGES, row.delay_ms + DELAY_STEP_MS)),
        // The canceller and noise suppression, as a person runs termmeet, but the gain
        // controller: its gain is not the canceller's doing, and would blur every level.
        features: Features {
            echo: true,
            noise: row.noise,
            gain: false,
            ..Default::default()
        },
    }
}

mod measure;
mod typing;
use measure::Figures;

#[test]
fn the_echo_matrix_speech_tones_and_music_at_every_gain_and_delay() {
    let _turn = quiet_sound_turn();
    let far_speech = voice("en-us", FAR_TEXT);
    let talker_speech = voice("en-gb+f3", TALKER_TEXT);

    let rows = rows();
    let scenes: Vec<Scene> = rows
        .iter()
        .map(|r| scene(r, &far_speech, &talker_speech))
        .collect();
    // A take holds four of PulseAudio's 64 client connections, and the device lookups and
    // the path's change more: five at once.
    let mut takes: Vec<Take> = Vec::new();
    for (batch, scenes) in scenes.chunks(5).enumerate() {
        takes.extend(std::thread::scope(|s| {
            let running: Vec<_> = scenes
                .iter()
                .enumerate()
                .map(|(i, scene)| {
                    s.spawn(move || echo_lab::take(&format!("matrix{batch}x{i}"), scene))
                })
                .collect();
            running
                .into_iter()
                .map(|t| t.join().expect("a row's take"))
                .collect::<Vec<_>>()
        }));
    }
    let mut failures = Vec::new();
    eprintln!("{}", Figures::header());
    for ((row, scene), take) in rows.iter().zip(&scenes).zip(&takes) {
        let figures = Figures::of(take, &scene.talker, &row.tones());
        eprintln!("{}", figures.line(&row.name(), take));
        failures.extend(
            figures
                .shortfalls(take, row.far == Far::Speech, row.gain_percent, !row.noise)
                .into_iter()
                .map(|f| format!("{}: {f}", row.name())),
        );
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
