//! Noise that does not hold still: key clicks, a mouse, a cup set down. WebRTC's suppressor
//! learns a steady noise's spectrum over seconds and lets a 5 ms click through whole, and
//! RNNoise (`nnnoiseless`, Xiph's recurrent network in Rust) takes one only 3 dB down: its
//! band gains are smoothed over frames, and a click is over within one.
//!
//! [`TransientSuppressor`] runs after the echo canceller (which needs the microphone as the
//! room made it), in the module's 10 ms frames, one frame late (10 ms more delay). Both of
//! its ways use RNNoise's voice probability, which knows a voice from a click:
//!
//! - **clicks** (the default, after WebRTC's suppressor): in 1 ms blocks, a block 10 dB over
//!   the quiet level before it that does not last (10 to 20 ms on, 6 dB down or more), while
//!   that frame and the next are not both a voice and no words are held, starts 50 ms
//!   at 30 dB down. Steady sound (a fan, a tone, a held note) makes no such onset and is left
//!   as it is; so is a voice.
//! - **rnnoise** (`--noise-suppression rnnoise`): RNNoise's own output, and a gate its voice
//!   probability opens, 30 dB down between words: everything that is not a voice.

use nnnoiseless::DenoiseState;

use super::CHUNK;

/// Which noise suppressors run while noise suppression is on (`--noise-suppression`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Suppressor {
    /// WebRTC's for steady noise, then the click suppressor for key clicks and knocks
    /// between words: the default.
    #[default]
    Both,
    /// WebRTC's alone: steady noise (fans, traffic); key clicks come through.
    Webrtc,
    /// RNNoise alone, gated by its voice probability: every sound that is not a voice goes
    /// down, a steady tone or an instrument too.
    Rnnoise,
}

impl Suppressor {
    /// The word the flag and the config file use.
    pub fn word(self) -> &'static str {
        match self {
            Suppressor::Both => "both",
            Suppressor::Webrtc => "webrtc",
            Suppressor::Rnnoise => "rnnoise",
        }
    }

    /// Parses `both`, `webrtc` (also `steady`) or `rnnoise`.
    pub fn parse(word: &str) -> Option<Suppressor> {
        match word.to_ascii_lowercase().as_str() {
            "both" => Some(Suppressor::Both),
            "webrtc" | "steady" => Some(Suppressor::Webrtc),
            "rnnoise" => Some(Suppressor::Rnnoise),
            _ => None,
        }
    }

    pub(super) fn steady(self) -> bool {
        self != Suppressor::Rnnoise
    }

    pub(super) fn transients(self) -> bool {
        self != Suppressor::Webrtc
    }
}

/// RNNoise's voice probability over which a frame counts as voice.
const VOICE: f32 = 0.8;

/// Frames in a row that must count as voice to hold the words: a click alone reaches
/// [`VOICE`] now and then, a word holds it.
const VOICE_RUN: u32 = 3;

/// How long words are held after the last voice, in frames: 250 ms, so words and the pauses
/// between them stay whole.
const HANGOVER_FRAMES: u32 = 25;

/// The gain of what is taken down: 30 dB.
const FLOOR: f32 = 0.031_6;

/// How far the gate's gain falls per sample once the hangover is over: to the floor in 40 ms.
const RELEASE_STEP: f32 = (1.0 - FLOOR) / 1920.0;

/// How far a gain rises per sample when it opens: fully in 2 ms.
const ATTACK_STEP: f32 = (1.0 - FLOOR) / 96.0;

/// The click suppressor's block: 1 ms.
const BLOCK: usize = 48;

/// A block this much louder than the quiet level (power, 10 dB) is an onset.
const ONSET: f32 = 10.0;

/// Blocks quieter than this (power, -70 dBFS) are no onset, whatever came before.
const QUIET: f32 = 1e-7;

/// How long a click is taken down from its onset, blocks: 50 ms (a key's press and ring).
const CLICK_BLOCKS: u32 = 50;

/// An onset whose sound 10 to 20 ms on is at least this share of its power (-6 dB) lasts:
/// a key's ring has fallen 10 dB or more by then, a voice has not.
const LASTS: f32 = 0.25;

/// How fast the quiet level follows a louder sound, per block (it falls at once).
const FLOOR_RISE: f32 = 0.002;

/// How [`TransientSuppressor`] works.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transients {
    /// Onsets that are not a voice taken down.
    Clicks,
    /// RNNoise's output, gated by its voice probability.
    Rnnoise,
}

/// Key clicks and other sound that is not a voice, taken out of the processed microphone 10 ms
/// at a time (see the module's header).
pub struct TransientSuppressor {
    way: Transients,
    state: Box<DenoiseState<'static>>,
    /// The frame in, on the 16-bit scale RNNoise works on.
    input: Vec<f32>,
    output: Vec<f32>,
    /// The clicks' way: the frame before, going out now that the one after it is heard.
    held: Vec<f32>,
    /// How likely the frame held is voice.
    held_voice: f32,
    /// The first frame out carries the network's fade-in (or nothing yet), and is silence.
    started: bool,
    /// Frames in a row that counted as voice, up to now.
    voice_run: u32,
    /// Frames left before the words held end.
    hangover: u32,
    /// The quiet level of 1 ms blocks (power).
    quiet: f32,
    /// Blocks left of the click being taken down.
    click: u32,
    gain: f32,
}

impl TransientSuppressor {
    /// A suppressor that has heard nothing yet.
    pub fn new(way: Transients) -> TransientSuppressor {
        debug_assert_eq!(DenoiseState::FRAME_SIZE, CHUNK);
        TransientSuppressor {
            way,
            state: DenoiseState::new(),
            input: vec![0.0; CHUNK],
            output: vec![0.0; CHUNK],
            held: vec![0.0; CHUNK],
            held_voice: 0.0,
            started: false,
            voice_run: 0,
            hangover: 0,
            quiet: QUIET,
            click: 0,
            gain: match way {
                Transients::Clicks => 1.0,
                Transients::Rnnoise => FLOOR,
            },
        }
    }

    /// How it works.
    pub fn way(&self) -> Transients {
        self.way
    }

    /// Suppresses 10 ms (48 kHz mono in [-1, 1]) in place; a frame of another length is left
    /// as it is. Returns how likely the frame RNNoise just heard is voice.
    pub fn process(&mut self, frame: &mut [f32]) -> f32 {
        if frame.len() != CHUNK {
            return 0.0;
        }
        for (i, s) in self.input.iter_mut().zip(frame.iter()) {
            *i = s * 32768.0;
        }
        let voice = self.state.process_frame(&mut self.output, &self.input);
        self.voice_run = if voice > VOICE { self.voice_run + 1 } else { 0 };
        if self.voice_run >= VOICE_RUN {
            self.hangover = HANGOVER_FRAMES;
        } else {
            self.hangover = self.hangover.saturating_sub(1);
        }
        match self.way {
            Transients::Clicks => self.clicks(frame, voice),
            Transients::Rnnoise => self.gate(frame),
        }
        if !self.started {
            frame.fill(0.0);
            self.started = true;
        }
        voice
    }

    /// The clicks' way: `frame` goes out as the frame before, its onsets taken down unless
    /// they last (the 5 ms that end the frame after stay within 6 dB: a voice or a note,
    /// not a click), or it and the frame after (`voice`) both are a voice, or words are held.
    fn clicks(&mut self, frame: &mut [f32], voice: f32) {
        std::mem::swap(&mut self.held, &mut self.output);
        self.held.copy_from_slice(frame);
        frame.copy_from_slice(&self.output);
        let words = self.hangover > 0 || (voice > VOICE && self.held_voice > VOICE);
        self.held_voice = voice;
        if words {
            self.click = 0;
        }
        // The 5 ms that end the frame after: 10 to 20 ms after an onset in this frame.
        let ahead = power(&self.held[CHUNK / 2..]);
        for block in frame.chunks_mut(BLOCK) {
            let power = power(block);
            let onset = power > QUIET && power > ONSET * self.quiet;
            if onset && !words && ahead < power * LASTS {
                self.click = CLICK_BLOCKS;
            }
            self.quiet = if power < self.quiet {
                power.max(QUIET)
            } else {
                self.quiet + (power - self.quiet) * FLOOR_RISE
            };
            let down = self.click > 0;
            self.click = self.click.saturating_sub(1);
            for s in block.iter_mut() {
                self.gain = if down {
                    FLOOR
                } else {
                    (self.gain + ATTACK_STEP).min(1.0)
                };
                *s *= self.gain;
            }
        }
    }

    /// RNNoise's way: its output, gated while no voice is held.
    fn gate(&mut self, frame: &mut [f32]) {
        let open = self.hangover > 0;
        for (s, o) in frame.iter_mut().zip(self.output.iter()) {
            self.gain = if open {
                (self.gain + ATTACK_STEP).min(1.0)
            } else {
                (self.gain - RELEASE_STEP).max(FLOOR)
            };
            *s = (self.gain * o / 32768.0).clamp(-1.0, 1.0);
        }
    }
}

/// Mean square.
fn power(x: &[f32]) -> f32 {
    x.iter().map(|s| s * s).sum::<f32>() / x.len().max(1) as f32
}
