//! Whether the echo canceller has the room in hand, judged from what it is given and what it
//! sends, not from its own figures: the far end's loudness, 10 ms at a time, against the
//! microphone's before and after the module.
//!
//! Where the far end's loudness explains the microphone's (at some lag up to
//! [`MAX_LAG`] frames), the speaker is heard in the room: the slope of that fit is the echo's
//! strength. The same fit on what is sent is the echo left. A local voice does not follow the
//! far end's loudness, so it barely moves either slope: double talk is no false alarm, and
//! headphones (no echo) are none either. A steady tone has no loudness to follow, so it is
//! not judged.

use std::collections::VecDeque;

/// Frames judged: the last 10 s.
const WINDOW: usize = 1000;
/// Lags tried, frames: up to 800 ms (a thin SSH sound path buffers 400 ms).
const MAX_LAG: usize = 80;
/// Far-end sound before a judgement: 10 s of frames louder than [`SOUND`].
const SOUND_FRAMES: u64 = 1000;
/// A far-end frame louder than this (mean square; -50 dBFS) is sound.
const SOUND: f32 = 1e-5;
/// The fit that says the speaker is heard in the microphone (correlation).
const HEARD: f64 = 0.5;
/// Less than this taken out, dB, and the canceller has not converged.
const CONVERGED_DB: f64 = 10.0;
/// Frames between judgements: 1 s.
const EVERY: u64 = 100;

/// What the watch found last.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct EchoJudgement {
    /// How much lower the echo is in what is sent than in the microphone, dB, while the
    /// speaker is heard in the room.
    pub taken_out_db: Option<f64>,
    /// The speaker has been heard for a while and the echo still goes out.
    pub not_converged: bool,
}

/// The loudness of the far end and of the microphone before and after the module.
#[derive(Debug, Default)]
pub struct EchoWatch {
    render: VecDeque<f32>,
    input: VecDeque<f32>,
    output: VecDeque<f32>,
    /// Render frames with sound in them, since the start.
    sound_frames: u64,
    captured: u64,
    judgement: EchoJudgement,
}

fn loudness(chunk: &[f32]) -> f32 {
    (chunk.iter().map(|s| s * s).sum::<f32>() / chunk.len().max(1) as f32).sqrt()
}

fn keep(queue: &mut VecDeque<f32>, value: f32, most: usize) {
    if queue.len() == most {
        queue.pop_front();
    }
    queue.push_back(value);
}

/// The least-squares slope and correlation of `y` on `x`.
fn fit(x: impl Iterator<Item = f32> + Clone, y: impl Iterator<Item = f32> + Clone) -> (f64, f64) {
    let n = x.clone().count().max(1) as f64;
    let mx = x.clone().map(f64::from).sum::<f64>() / n;
    let my = y.clone().map(f64::from).sum::<f64>() / n;
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in x.zip(y) {
        let (a, b) = (f64::from(a) - mx, f64::from(b) - my);
        sxy += a * b;
        sxx += a * a;
        syy += b * b;
    }
    if sxx <= 0.0 || syy <= 0.0 {
        return (0.0, 0.0);
    }
    (sxy / sxx, sxy / (sxx * syy).sqrt())
}

impl EchoWatch {
    /// A far-end frame (10 ms), as it is given to the canceller.
    pub fn render(&mut self, chunk: &[f32]) {
        let l = loudness(chunk);
        if l * l > SOUND {
            self.sound_frames += 1;
        }
        keep(&mut self.render, l, WINDOW + MAX_LAG);
    }

    /// A microphone frame (10 ms) before and after the module; judges every second.
    pub fn capture(&mut self, input: &[f32], output: &[f32]) -> EchoJudgement {
        keep(&mut self.input, loudness(input), WINDOW);
        keep(&mut self.output, loudness(output), WINDOW);
        self.captured += 1;
        if self.captured.is_multiple_of(EVERY) {
            self.judgement = self.judge();
        }
        self.judgement
    }

    fn judge(&self) -> EchoJudgement {
        let n = self.input.len();
        if n < WINDOW / 2 || self.render.len() < n + MAX_LAG {
            return EchoJudgement::default();
        }
        // The render frame heard with capture frame i, `lag` frames earlier.
        let start = self.render.len() - n;
        let best = (0..=MAX_LAG)
            .map(|lag| {
                let r = self.render.range(start - lag..start - lag + n).copied();
                (lag, fit(r, self.input.iter().copied()))
            })
            .max_by(|a, b| a.1 .1.total_cmp(&b.1 .1));
        let Some((lag, (echo, heard))) = best else {
            return EchoJudgement::default();
        };
        if heard < HEARD || echo <= 0.0 {
            return EchoJudgement::default();
        }
        let r = self.render.range(start - lag..start - lag + n).copied();
        let (left, _) = fit(r, self.output.iter().copied());
        let taken_out_db = 20.0 * (echo / left.max(echo * 1e-5)).log10();
        EchoJudgement {
            taken_out_db: Some(taken_out_db),
            not_converged: self.sound_frames >= SOUND_FRAMES && taken_out_db < CONVERGED_DB,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A far end in syllables: loud for 20 frames, quiet for 15, with some variety.
    fn far(frame: usize) -> f32 {
        let phase = frame % 35;
        if phase < 20 {
            0.1 + 0.05 * ((frame / 35) % 3) as f32
        } else {
            0.0
        }
    }

    /// `frames` of 10 ms where the microphone hears the far end `lag` frames late at `echo`,
    /// plus `talker`, and the module sends `left` of the echo (and all of the talker).
    fn run(echo: f32, left: f32, talker: impl Fn(usize) -> f32, frames: usize) -> EchoJudgement {
        let mut watch = EchoWatch::default();
        let lag = 12;
        let mut judgement = EchoJudgement::default();
        for f in 0..frames {
            watch.render(&[far(f); 480]);
            let e = if f >= lag { far(f - lag) } else { 0.0 };
            let t = talker(f);
            judgement = watch.capture(&[echo * e + t; 480], &[left * echo * e + t; 480]);
        }
        judgement
    }

    #[test]
    fn an_echo_that_goes_out_as_it_came_is_not_converged() {
        let j = run(0.8, 1.0, |_| 0.0, 2000);
        assert!(j.not_converged, "{j:?}");
        assert!(j.taken_out_db.is_some_and(|d| d.abs() < 1.0), "{j:?}");
    }

    #[test]
    fn an_echo_taken_out_is_converged_and_measured() {
        let j = run(0.8, 0.01, |_| 0.0, 2000);
        assert!(!j.not_converged, "{j:?}");
        assert!(
            j.taken_out_db.is_some_and(|d| (d - 40.0).abs() < 1.0),
            "{j:?}"
        );
    }

    #[test]
    fn no_judgement_before_ten_seconds_of_far_end_sound() {
        // 1500 frames of which 20 in 35 have sound: 857 frames, 8.6 s.
        assert!(!run(0.8, 1.0, |_| 0.0, 1500).not_converged);
    }

    #[test]
    fn headphones_and_a_local_voice_are_no_alarm() {
        // No echo at all; the person talks in a rhythm of their own.
        let voice = |f: usize| if f % 23 < 13 { 0.2 } else { 0.0 };
        let j = run(0.0, 1.0, voice, 1500);
        assert_eq!(j, EchoJudgement::default());
    }
}
