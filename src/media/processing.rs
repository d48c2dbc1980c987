//! What a meeting room's audio needs between the microphone and the encoder: echo
//! cancellation (AEC3), noise suppression, automatic gain control (AGC2), a high-pass filter
//! and the voice detector that decides who is speaking, from `sonora`, a Rust port of
//! WebRTC's audio processing module.
//!
//! The echo canceller's far-end reference is exactly what the speaker plays: the playback
//! mixer hands each 10 ms it mixes to a [`FarEnd`] as it hands it to the speaker, and the
//! microphone's pump feeds those frames to the module before each 10 ms of microphone audio.
//! What lies between the two (the speaker's buffer, the room, the microphone's buffer) is the
//! stream delay: it is set from the buffers' sizes and the wait measured here, and AEC3's own
//! delay estimator finds the rest.
//!
//! After the module, the click suppressor (`transients`, with RNNoise's voice probability)
//! takes out key clicks between words.
//!
//! Only live microphones are processed: a tone or a file has no room and no echo.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sonora::config::{
    AdaptiveDigital, EchoCanceller, GainController2, HighPassFilter, NoiseSuppression,
    NoiseSuppressionLevel,
};
use sonora::{AudioProcessing, Config, StreamConfig};
use sonora_agc2::vad_wrapper::VoiceActivityDetectorWrapper;

use super::frame::{AudioFrame, SAMPLE_RATE};
use echo_watch::EchoWatch;
pub use transients::Suppressor;
use transients::{TransientSuppressor, Transients};

pub mod echo_watch;
pub mod transients;

/// Samples in 10 ms at 48 kHz: the module's frame.
pub const CHUNK: usize = SAMPLE_RATE as usize / 100;

/// Far-end frames kept for the echo canceller: 500 ms. More means the microphone stopped,
/// and the oldest go.
const FAR_END_FRAMES: usize = 50;

/// Speech probability over which a 10 ms frame counts as speech. White noise reaches 0.65
/// now and then; a voice stays above 0.95. (AGC2 itself trusts 0.95.)
const SPEECH_PROBABILITY: f32 = 0.9;

/// How long "speaking" lasts after the last speech frame, so words do not flicker apart.
const SPEECH_HANGOVER: Duration = Duration::from_millis(300);

/// One of the features a person turns on or off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Feature {
    /// Echo cancellation.
    Echo,
    /// Noise suppression.
    Noise,
    /// Automatic gain control.
    Gain,
}

impl Feature {
    /// Every feature, in the order they are shown.
    pub const ALL: [Feature; 3] = [Feature::Echo, Feature::Noise, Feature::Gain];

    /// The word scripts and the help use: `echo`, `noise`, `gain`.
    pub fn word(self) -> &'static str {
        match self {
            Feature::Echo => "echo",
            Feature::Noise => "noise",
            Feature::Gain => "gain",
        }
    }

    /// Parses `echo`, `noise` or `gain` (and the flags' longer names).
    pub fn parse(word: &str) -> Option<Feature> {
        match word.to_ascii_lowercase().as_str() {
            "echo" | "echo-cancel" | "aec" => Some(Feature::Echo),
            "noise" | "noise-suppression" | "ns" => Some(Feature::Noise),
            "gain" | "auto-gain" | "agc" => Some(Feature::Gain),
            _ => None,
        }
    }
}

/// Which features are on. All are, unless the person says otherwise.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Features {
    /// Echo cancellation.
    pub echo: bool,
    /// Noise suppression.
    pub noise: bool,
    /// Automatic gain control.
    pub gain: bool,
    /// Which suppressors noise suppression runs (kept while it is off, for when it is on).
    pub suppressor: Suppressor,
}

impl Default for Features {
    fn default() -> Features {
        Features {
            echo: true,
            noise: true,
            gain: true,
            suppressor: Suppressor::Both,
        }
    }
}

impl Features {
    /// Whether `feature` is on.
    pub fn get(&self, feature: Feature) -> bool {
        match feature {
            Feature::Echo => self.echo,
            Feature::Noise => self.noise,
            Feature::Gain => self.gain,
        }
    }

    /// Turns `feature` on or off.
    pub fn set(&mut self, feature: Feature, on: bool) {
        match feature {
            Feature::Echo => self.echo = on,
            Feature::Noise => self.noise = on,
            Feature::Gain => self.gain = on,
        }
    }

    /// Whether anything is on.
    pub fn any(&self) -> bool {
        self.echo || self.noise || self.gain
    }

    /// What is on, for people: "echo noise gain", or "off"; a suppressor chosen other than
    /// both is named ("noise (rnnoise)").
    pub fn describe(&self) -> String {
        if !self.any() {
            return "off".into();
        }
        Feature::ALL
            .iter()
            .filter(|f| self.get(**f))
            .map(|f| match f {
                Feature::Noise if self.suppressor != Suppressor::Both => {
                    format!("noise ({})", self.suppressor.word())
                }
                f => f.word().to_string(),
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Whether the transient stage (clicks, or RNNoise) runs after the module.
    fn transients(&self) -> bool {
        self.noise && self.suppressor.transients()
    }

    /// The module's configuration for these features. The high-pass filter runs whenever
    /// anything does (the echo canceller asks for it anyway).
    fn config(&self) -> Config {
        Config {
            high_pass_filter: self.any().then(HighPassFilter::default),
            echo_canceller: self.echo.then(EchoCanceller::default),
            // What Chromium uses for a call: about 18 dB off steady noise.
            noise_suppression: (self.noise && self.suppressor.steady()).then(|| NoiseSuppression {
                level: NoiseSuppressionLevel::High,
                ..Default::default()
            }),
            // Digital gain only: the microphone's own volume stays the person's.
            gain_controller2: self.gain.then(|| GainController2 {
                input_volume_controller: false,
                adaptive_digital: Some(AdaptiveDigital::default()),
                ..Default::default()
            }),
            ..Default::default()
        }
    }
}

/// What the module measured, for the quality panel and the headless report.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct ProcessingFigures {
    /// Whether a live microphone is being processed now.
    pub active: bool,
    /// Echo return loss enhancement, dB: how much echo the canceller takes out.
    pub erle_db: Option<f64>,
    /// Echo return loss, dB: how much quieter the echo is than what was played.
    pub erl_db: Option<f64>,
    /// The echo's delay as the canceller found it, ms.
    pub delay_ms: Option<i32>,
    /// The stream delay set from the buffers (playback plus capture), ms.
    pub stream_delay_ms: i32,
    /// Microphone time processed, ms.
    pub processed_ms: u64,
    /// Far-end time fed to the echo canceller, ms.
    pub far_end_ms: u64,
    /// How much lower the speaker's echo is in what is sent than in the microphone, dB, as
    /// measured here ([`echo_watch`]) while the speaker is heard in the room.
    pub echo_taken_out_db: Option<f64>,
    /// After 10 s of far-end sound the echo still goes out: the canceller has not converged.
    pub echo_not_converged: bool,
}

/// The settings and figures a microphone's processor shares with the meeting.
#[derive(Debug)]
pub struct Processing {
    features: Mutex<Features>,
    /// Bumped on every change, so the processor re-reads the features only then.
    generation: AtomicU32,
    figures: Mutex<ProcessingFigures>,
    /// The far end the echo canceller hears, while a speaker plays.
    far_end: Mutex<Option<Arc<FarEnd>>>,
}

impl Processing {
    /// Processing with `features` on.
    pub fn new(features: Features) -> Arc<Processing> {
        Arc::new(Processing {
            features: Mutex::new(features),
            generation: AtomicU32::new(0),
            figures: Mutex::new(ProcessingFigures::default()),
            far_end: Mutex::new(None),
        })
    }

    /// The features on now.
    pub fn features(&self) -> Features {
        *self.features.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Turns `feature` on or off, from the next 10 ms on.
    pub fn set(&self, feature: Feature, on: bool) {
        self.features
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .set(feature, on);
        self.generation.fetch_add(1, Ordering::Release);
    }

    /// What the module measured most recently.
    pub fn figures(&self) -> ProcessingFigures {
        self.figures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Gives the echo canceller the speaker's far end (`None`: nothing is played).
    pub fn set_far_end(&self, far_end: Option<Arc<FarEnd>>) {
        *self.far_end.lock().unwrap_or_else(|p| p.into_inner()) = far_end;
    }

    fn far_end(&self) -> Option<Arc<FarEnd>> {
        self.far_end
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn publish(&self, figures: ProcessingFigures) {
        *self.figures.lock().unwrap_or_else(|p| p.into_inner()) = figures;
    }
}

/// What the speaker plays, 10 ms at a time, for the echo canceller.
#[derive(Debug, Default)]
pub struct FarEnd {
    frames: Mutex<VecDeque<Vec<f32>>>,
    /// Frames the processor is done with, for `push` to fill again: the speaker's thread
    /// allocates only until there are enough.
    spare: Mutex<Vec<Vec<f32>>>,
    /// How long the speaker's buffer holds a frame before it is heard, ms.
    output_latency_ms: AtomicU32,
    /// Set while a microphone's processor takes the frames; until then nothing is kept.
    listening: AtomicBool,
}

impl FarEnd {
    /// A far end whose speaker buffers `output_latency_ms`.
    pub fn new(output_latency_ms: u32) -> Arc<FarEnd> {
        let far = FarEnd::default();
        far.output_latency_ms
            .store(output_latency_ms, Ordering::Relaxed);
        Arc::new(far)
    }

    /// Sets the speaker's buffer latency (a new speaker may buffer differently).
    pub fn set_output_latency_ms(&self, ms: u32) {
        self.output_latency_ms.store(ms, Ordering::Relaxed);
    }

    /// Hands over 10 ms (48 kHz mono, [-1, 1]) as the speaker is given it.
    pub fn push(&self, chunk: &[f32]) {
        if !self.listening.load(Ordering::Relaxed) {
            return;
        }
        let spare = self.spare.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let mut frame = spare.unwrap_or_default();
        frame.clear();
        frame.extend_from_slice(chunk);
        let mut frames = self.frames.lock().unwrap_or_else(|p| p.into_inner());
        if frames.len() >= FAR_END_FRAMES {
            frames.pop_front();
        }
        frames.push_back(frame);
    }

    /// Moves every frame waiting into `into` (which the caller has emptied).
    fn take_into(&self, into: &mut VecDeque<Vec<f32>>) {
        std::mem::swap(
            &mut *self.frames.lock().unwrap_or_else(|p| p.into_inner()),
            into,
        );
    }

    /// Frames done with, to be filled again.
    fn recycle(&self, done: impl Iterator<Item = Vec<f32>>) {
        let mut spare = self.spare.lock().unwrap_or_else(|p| p.into_inner());
        let room = FAR_END_FRAMES.saturating_sub(spare.len());
        spare.extend(done.take(room));
    }

    fn output_latency_ms(&self) -> u32 {
        self.output_latency_ms.load(Ordering::Relaxed)
    }
}

/// The module's voice detector (AGC2's recurrent network) on 48 kHz mono: whether what it
/// hears is speech, held [`SPEECH_HANGOVER`] after the last speech so words do not flicker
/// apart. It runs on what each peer sends, for who is speaking.
pub struct VoiceDetector {
    vad: VoiceActivityDetectorWrapper,
    /// Samples of a 10 ms frame not yet complete, on the S16 scale the detector works on.
    pending: Vec<f32>,
    last_speech: Option<Instant>,
}

impl Default for VoiceDetector {
    fn default() -> VoiceDetector {
        VoiceDetector::new()
    }
}

impl VoiceDetector {
    /// A detector that has heard nothing yet.
    pub fn new() -> VoiceDetector {
        VoiceDetector {
            vad: VoiceActivityDetectorWrapper::new(
                sonora_simd::detect_backend(),
                SAMPLE_RATE as i32,
            ),
            pending: Vec::with_capacity(CHUNK),
            last_speech: None,
        }
    }

    /// Listens to `samples` (48 kHz mono, in [-1, 1]); whether someone is speaking now.
    pub fn hears(&mut self, samples: impl IntoIterator<Item = f32>) -> bool {
        for s in samples {
            self.pending.push(s * 32768.0);
            if self.pending.len() == CHUNK {
                if self.vad.analyze(&self.pending) > SPEECH_PROBABILITY {
                    self.last_speech = Some(Instant::now());
                }
                self.pending.clear();
            }
        }
        self.speaking()
    }

    /// Like [`VoiceDetector::hears`], for 16-bit samples.
    pub fn hears_i16(&mut self, samples: &[i16]) -> bool {
        self.hears(samples.iter().map(|&s| f32::from(s) / 32768.0))
    }

    /// Whether speech was heard within the hangover.
    pub fn speaking(&self) -> bool {
        self.last_speech
            .is_some_and(|t| t.elapsed() < SPEECH_HANGOVER)
    }
}

/// The module at work on one microphone: give it each 20 ms before it is encoded.
pub struct Processor {
    shared: Arc<Processing>,
    apm: AudioProcessing,
    generation: u32,
    features: Features,
    /// The far end in use, so a new one (or none) is noticed.
    far_end: Option<Arc<FarEnd>>,
    input: Vec<f32>,
    output: Vec<f32>,
    /// Where the module writes the far end back (unused, but it asks for room).
    render_out: Vec<f32>,
    /// The far end's frames being fed, empty between calls.
    render_queue: VecDeque<Vec<f32>>,
    /// Whether the echo goes out, judged from outside the module.
    watch: EchoWatch,
    /// The transient stage, while it is chosen (made when first needed).
    transients: Option<TransientSuppressor>,
    figures: ProcessingFigures,
}

impl Processor {
    /// A processor with the settings in `shared`.
    pub fn new(shared: Arc<Processing>) -> Processor {
        let features = shared.features();
        let stream = StreamConfig::new(SAMPLE_RATE, 1);
        let apm = AudioProcessing::builder()
            .config(features.config())
            .capture_config(stream)
            .render_config(stream)
            .build();
        Processor {
            generation: shared.generation.load(Ordering::Acquire),
            shared,
            apm,
            features,
            far_end: None,
            input: vec![0.0; CHUNK],
            output: vec![0.0; CHUNK],
            render_out: vec![0.0; CHUNK],
            render_queue: VecDeque::with_capacity(FAR_END_FRAMES),
            watch: EchoWatch::default(),
            transients: None,
            figures: ProcessingFigures {
                active: true,
                ..Default::default()
            },
        }
    }

    /// Processes one frame in place. `waited` is how long its newest sample waited between
    /// the device and here (the capture side of the stream delay).
    pub fn process(&mut self, frame: &mut AudioFrame, waited: Duration) {
        let generation = self.shared.generation.load(Ordering::Acquire);
        if generation != self.generation {
            self.generation = generation;
            self.features = self.shared.features();
            self.apm.apply_config(self.features.config());
            if !self.features.transients() {
                self.transients = None;
            }
        }
        let far_end = self.shared.far_end();
        let same = match (&far_end, &self.far_end) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        };
        if !same {
            if let Some(old) = &self.far_end {
                old.listening.store(false, Ordering::Relaxed);
            }
            self.far_end = far_end;
        }
        // Only an echo canceller needs the far end: without one it is not even kept.
        let echo = self.features.echo;
        let far_latency = match &self.far_end {
            Some(far) => {
                far.listening.store(echo, Ordering::Relaxed);
                far.output_latency_ms()
            }
            None => 0,
        };
        // The playback side of the delay: the speaker's buffer. The capture side: the
        // microphone's own 10 ms fragment, and the wait measured since.
        let delay = far_latency as i32 + 10 + waited.as_millis().min(500) as i32;
        let _ = self.apm.set_stream_delay_ms(delay);
        self.figures.stream_delay_ms = delay;

        for chunk in frame.samples.chunks_mut(CHUNK) {
            if echo {
                if let Some(far) = &self.far_end {
                    far.take_into(&mut self.render_queue);
                    for render in &self.render_queue {
                        let out = &mut self.render_out[..render.len().min(CHUNK)];
                        if self.apm.process_render_f32(&[render], &mut [out]).is_ok() {
                            self.figures.far_end_ms += 10;
                            self.watch.render(render);
                        }
                    }
                    far.recycle(self.render_queue.drain(..));
                }
            }
            if chunk.len() == CHUNK {
                self.capture(chunk, echo);
            }
        }
        // Published every 100 ms of audio.
        if self.figures.processed_ms.is_multiple_of(100) {
            let stats = self.apm.statistics();
            self.figures.erle_db = stats.echo_return_loss_enhancement.filter(|_| echo);
            self.figures.erl_db = stats.echo_return_loss.filter(|_| echo);
            self.figures.delay_ms = stats.delay_ms.filter(|_| echo);
            self.shared.publish(self.figures.clone());
        }
    }
}

impl Processor {
    /// Processes 10 ms of microphone in place: the module, then the transient stage.
    fn capture(&mut self, chunk: &mut [i16], echo: bool) {
        for (f, s) in self.input.iter_mut().zip(chunk.iter()) {
            *f = f32::from(*s) / 32768.0;
        }
        if self
            .apm
            .process_capture_f32(&[&self.input], &mut [&mut self.output])
            .is_err()
        {
            return;
        }
        if self.features.transients() {
            let way = match self.features.suppressor {
                Suppressor::Rnnoise => Transients::Rnnoise,
                _ => Transients::Clicks,
            };
            if self.transients.as_ref().is_some_and(|t| t.way() != way) {
                self.transients = None;
            }
            self.transients
                .get_or_insert_with(|| TransientSuppressor::new(way))
                .process(&mut self.output);
        }
        for (s, f) in chunk.iter_mut().zip(self.output.iter()) {
            *s = (f * 32768.0).round().clamp(-32768.0, 32767.0) as i16;
        }
        self.watch_echo(echo);
        self.figures.processed_ms += 10;
    }

    /// Gives the watch the 10 ms just processed, and its judgement to the figures.
    fn watch_echo(&mut self, echo: bool) {
        let judged = if echo {
            self.watch.capture(&self.input, &self.output)
        } else {
            echo_watch::EchoJudgement::default()
        };
        self.figures.echo_taken_out_db = judged.taken_out_db;
        self.figures.echo_not_converged = judged.not_converged;
    }
}

impl Drop for Processor {
    fn drop(&mut self) {
        if let Some(far) = &self.far_end {
            far.listening.store(false, Ordering::Relaxed);
        }
        let mut figures = self.figures.clone();
        figures.active = false;
        self.shared.publish(figures);
    }
}

#[cfg(test)]
mod tests;
