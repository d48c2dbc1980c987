//! Noise that does not hold still: key clicks, a mouse, a cup set down. WebRTC's suppressor
//! learns a steady noise's spectrum over seconds and lets a 5 ms click through whole;
//! RNNoise (`nnnoiseless`, Xiph's recurrent network in Rust) judges every 10 ms band by band
//! whether it is voice, so a click between words is taken out and a voice is kept.
//!
//! It runs after the echo canceller (which needs the microphone as the room made it) and
//! works in the module's 10 ms frames. Its output is one frame late: 10 ms more delay.

use nnnoiseless::DenoiseState;

use super::CHUNK;

/// Which noise suppressors run while noise suppression is on (`--noise-suppression`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Suppressor {
    /// WebRTC's for steady noise, then RNNoise for clicks and knocks: the default.
    #[default]
    Both,
    /// WebRTC's alone: steady noise (fans, traffic); key clicks come through.
    Webrtc,
    /// RNNoise alone: every sound that is not a voice, steady noise less evenly.
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

/// Frames in a row that must count as voice to open the gate: a click alone reaches
/// [`VOICE`] now and then, a word holds it.
const VOICE_RUN: u32 = 3;

/// How long the gate stays open after the last voice, in frames: 250 ms, so words and the
/// pauses between them stay whole.
const HANGOVER_FRAMES: u32 = 25;

/// The gain while nobody speaks: 30 dB down. RNNoise takes a click only 3 dB down on its own
/// (its gains are smoothed over frames, and a click is over within one).
const FLOOR: f32 = 0.031_6;

/// How far the gain falls per sample once the hangover is over: to the floor in 40 ms.
const RELEASE_STEP: f32 = (1.0 - FLOOR) / 1920.0;

/// How far the gain rises per sample when a voice starts: fully in 2 ms.
const ATTACK_STEP: f32 = (1.0 - FLOOR) / 96.0;

/// RNNoise over the processed microphone, 10 ms at a time, and a gate that its voice
/// probability opens: what is not a voice (a click, a knock, a cough of the fan) is taken
/// 30 dB down between words, and RNNoise's own suppression works under them.
///
/// RNNoise's output is one frame behind its input, and its voice probability is the input's:
/// the gate opens for a word's first frame before that frame goes out.
pub struct TransientSuppressor {
    state: Box<DenoiseState<'static>>,
    /// The frame in, on the 16-bit scale RNNoise works on.
    input: Vec<f32>,
    output: Vec<f32>,
    /// The first frame out carries the network's fade-in, and is replaced by silence.
    started: bool,
    /// Frames in a row that counted as voice, up to now.
    voice_run: u32,
    /// Frames left before the gate starts closing.
    hangover: u32,
    gain: f32,
}
impl Default for TransientSuppressor {
    fn default() -> TransientSuppressor {
        TransientSuppressor::new()
    }
}

impl TransientSuppressor {
    /// A suppressor that has heard nothing yet.
    pub fn new() -> TransientSuppressor {
        debug_assert_eq!(DenoiseState::FRAME_SIZE, CHUNK);
        TransientSuppressor {
            state: DenoiseState::new(),
            input: vec![0.0; CHUNK],
            output: vec![0.0; CHUNK],
            started: false,
            voice_run: 0,
            hangover: 0,
            gain: FLOOR,
        }
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
        let open = self.hangover > 0;
        for (s, o) in frame.iter_mut().zip(self.output.iter()) {
            self.gain = if open {
                (self.gain + ATTACK_STEP).min(1.0)
            } else {
                (self.gain - RELEASE_STEP).max(FLOOR)
            };
            *s = if self.started {
                (self.gain * o / 32768.0).clamp(-1.0, 1.0)
            } else {
                0.0
            };
        }
        self.started = true;
        voice
    }
}
