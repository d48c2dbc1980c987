//! Playing remote audio: one jitter buffer per stream, mixed here into the speaker.
//!
//! A [`JitterBuffer`] starts playing once it holds 60 ms and drops its oldest audio when it
//! holds more than 200 ms, so delay stays bounded when packets arrive in bursts. The rodio
//! output lives on its own thread and plays one source, the mix of every stream added as a
//! [`RemoteAudio`] handle; the mix also goes to the echo canceller as its far end.

use std::collections::VecDeque;
use std::num::NonZero;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::Duration;

use cpal::traits::DeviceTrait;

use super::device::find_device;
use super::frame::SAMPLE_RATE;
use super::processing::FarEnd;
use super::resample::Resampler;
use super::soundlink::{self, SoundLink, THIN_RATE};
use super::stream_errors::StreamErrors;
use super::MediaError;

/// Samples in 60 ms at 48 kHz: the buffer starts playing at this fill.
pub const START_SAMPLES: usize = SAMPLE_RATE as usize * 60 / 1000;
/// Samples in 200 ms: above this the oldest audio is dropped.
pub const MAX_SAMPLES: usize = SAMPLE_RATE as usize * 200 / 1000;

/// A per-stream jitter buffer of 48 kHz mono samples.
#[derive(Debug, Default)]
pub struct JitterBuffer {
    samples: VecDeque<i16>,
    /// Whether it is playing (filled to the start level since the last underrun).
    playing: bool,
    /// Samples dropped for being over the limit.
    pub dropped: u64,
    /// Times it ran dry while playing.
    pub underruns: u64,
}

impl JitterBuffer {
    /// Adds decoded audio; drops the oldest samples beyond 200 ms.
    pub fn push(&mut self, samples: &[i16]) {
        self.samples.extend(samples);
        if self.samples.len() > MAX_SAMPLES {
            let extra = self.samples.len() - MAX_SAMPLES;
            self.samples.drain(..extra);
            self.dropped += extra as u64;
        }
        if !self.playing && self.samples.len() >= START_SAMPLES {
            self.playing = true;
        }
    }

    /// Fills `out` with the next samples, or silence while buffering.
    pub fn pull(&mut self, out: &mut [f32]) {
        let mut written = 0;
        if self.playing {
            for slot in out.iter_mut() {
                match self.samples.pop_front() {
                    Some(s) => {
                        *slot = s as f32 / i16::MAX as f32;
                        written += 1;
                    }
                    None => break,
                }
            }
            if written < out.len() {
                self.playing = false;
                self.underruns += 1;
            }
        }
        out[written..].iter_mut().for_each(|s| *s = 0.0);
    }

    /// Samples held now.
    pub fn len(&self) -> usize {
        self.samples.len()
    }

    /// Whether it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// Whether it is playing rather than filling.
    pub fn is_playing(&self) -> bool {
        self.playing
    }
}

/// What a stream's handle and its mixer input share.
#[derive(Debug, Default)]
struct StreamShared {
    buffer: Mutex<JitterBuffer>,
    /// Volume as f32 bits (1.0 is unchanged).
    volume: AtomicU32,
    /// Set when the handle is dropped: the mixer input ends.
    closed: AtomicBool,
    /// Recent level (RMS of the last pull, f32 bits) for "who is speaking".
    level: AtomicU32,
}

/// The sending end of one remote stream: push decoded audio into it.
pub struct RemoteAudio {
    shared: Arc<StreamShared>,
}

impl RemoteAudio {
    /// Queues decoded 48 kHz mono samples.
    pub fn push(&self, samples: &[i16]) {
        if let Ok(mut b) = self.shared.buffer.lock() {
            b.push(samples);
        }
    }

    /// Sets the volume (0 mutes, 1 is unchanged, up to 4).
    pub fn set_volume(&self, volume: f32) {
        self.shared
            .volume
            .store(volume.clamp(0.0, 4.0).to_bits(), Ordering::Relaxed);
    }

    /// The stream's recent loudness, 0 to 1.
    pub fn level(&self) -> f32 {
        f32::from_bits(self.shared.level.load(Ordering::Relaxed))
    }

    /// Samples waiting in the jitter buffer.
    pub fn buffered(&self) -> usize {
        self.shared.buffer.lock().map(|b| b.len()).unwrap_or(0)
    }
}

impl Drop for RemoteAudio {
    fn drop(&mut self) {
        self.shared.closed.store(true, Ordering::Relaxed);
    }
}

/// Every stream, mixed, as one rodio source: each 10 ms it pulls 10 ms from every stream's
/// jitter buffer at 48 kHz, adds them up, hands the sum to the echo canceller's [`FarEnd`]
/// (so its reference is exactly what is played), and resamples it here (rubato) to the
/// speaker's rate when that is not 48 kHz, so rodio's own converter, a linear
/// interpolation, has nothing to do.
struct MixSource {
    streams: Arc<Mutex<Vec<Arc<StreamShared>>>>,
    far_end: Arc<FarEnd>,
    /// One stream's 10 ms at 48 kHz, as pulled.
    pulled: Vec<f32>,
    /// The sum of every stream's 10 ms.
    mixed: Vec<f32>,
    /// What goes out, at `rate`.
    chunk: Vec<f32>,
    pos: usize,
    rate: u32,
    resampler: Option<Resampler>,
}

impl MixSource {
    fn new(
        streams: Arc<Mutex<Vec<Arc<StreamShared>>>>,
        far_end: Arc<FarEnd>,
        rate: u32,
    ) -> MixSource {
        let resampler = (rate != SAMPLE_RATE).then(|| Resampler::new(SAMPLE_RATE, rate));
        MixSource {
            streams,
            far_end,
            pulled: vec![0.0; 480],
            mixed: vec![0.0; 480],
            chunk: Vec::with_capacity(480),
            pos: 0,
            rate,
            resampler,
        }
    }

    /// The next 10 ms of every stream, each at its volume and its level noted, summed.
    fn mix(&mut self) {
        self.mixed.iter_mut().for_each(|s| *s = 0.0);
        let mut streams = self.streams.lock().unwrap_or_else(|p| p.into_inner());
        streams.retain(|s| !s.closed.load(Ordering::Relaxed));
        for shared in streams.iter() {
            if let Ok(mut b) = shared.buffer.lock() {
                b.pull(&mut self.pulled);
            }
            let volume = f32::from_bits(shared.volume.load(Ordering::Relaxed));
            let mut energy = 0.0f32;
            for (m, s) in self.mixed.iter_mut().zip(self.pulled.iter()) {
                let v = *s * volume;
                energy += v * v;
                *m += v;
            }
            let rms = (energy / self.pulled.len() as f32).sqrt();
            shared.level.store(rms.to_bits(), Ordering::Relaxed);
        }
        drop(streams);
        self.mixed.iter_mut().for_each(|s| *s = s.clamp(-1.0, 1.0));
        self.far_end.push(&self.mixed);
    }
}

impl Iterator for MixSource {
    type Item = f32;

    fn next(&mut self) -> Option<f32> {
        // A resampler may hold back its first chunk: a few pulls at most.
        let mut tries = 0;
        while self.pos == self.chunk.len() {
            self.mix();
            self.chunk.clear();
            match self.resampler.as_mut() {
                Some(r) => r.process(&self.mixed, &mut self.chunk),
                None => self.chunk.extend_from_slice(&self.mixed),
            }
            self.pos = 0;
            tries += 1;
            if self.chunk.is_empty() && tries >= 4 {
                self.chunk.push(0.0);
            }
        }
        let s = self.chunk[self.pos];
        self.pos += 1;
        Some(s)
    }
}

impl rodio::Source for MixSource {
    fn current_span_len(&self) -> Option<usize> {
        None
    }

    fn channels(&self) -> rodio::ChannelCount {
        NonZero::new(1).unwrap_or(NonZero::<u16>::MIN)
    }

    fn sample_rate(&self) -> rodio::SampleRate {
        NonZero::new(self.rate).unwrap_or(NonZero::<u32>::MIN)
    }

    fn total_duration(&self) -> Option<Duration> {
        None
    }
}

/// Frames a period of the thin format holds: 200 ms, two to the buffer. Through ALSA's
/// PulseAudio plugin over a 1 Mbit/s link shared with the screen, shorter buffers ran dry
/// again and again (100 ms periods: an underrun every two seconds; 150 ms: every 20 s; 200 ms:
/// none in 45 s). The price is latency at the laptop's speaker.
const THIN_PERIOD: u32 = THIN_RATE / 5;

/// The speaker as a rodio sink. Over a thin sound link 16 kHz mono 16-bit with 200 ms
/// periods; otherwise in the device's default format, which through PulseAudio is the
/// sink's own rate (the streams are resampled here, well, not by the sound server), with
/// 20 ms periods.
fn open_sink(
    device: &cpal::Device,
    thin: bool,
) -> Result<rodio::MixerDeviceSink, rodio::DeviceSinkError> {
    let mut builder = rodio::DeviceSinkBuilder::from_device(device.clone())?;
    if thin {
        builder = builder
            .with_channels(NonZero::<u16>::MIN)
            .with_sample_rate(NonZero::new(THIN_RATE).unwrap_or(NonZero::<u32>::MIN))
            .with_sample_format(cpal::SampleFormat::I16)
            .with_buffer_size(cpal::BufferSize::Fixed(THIN_PERIOD));
    } else if device
        .id()
        .is_ok_and(|id| id.host() == cpal::HostId::PipeWire)
    {
        // PipeWire converts to the sink's own rate: the mix goes at 48 kHz, unresampled
        // here, in 20 ms periods.
        builder = builder
            .with_sample_rate(NonZero::new(SAMPLE_RATE).unwrap_or(NonZero::<u32>::MIN))
            .with_buffer_size(cpal::BufferSize::Fixed(SAMPLE_RATE / 50));
    } else if device
        .id()
        .is_ok_and(|id| id.host() == cpal::HostId::PulseAudio)
    {
        // PulseAudio's own choice of buffer for a stream that asks for none is two
        // seconds: 20 ms periods, two to the buffer, as ALSA's plugin used.
        let rate = device
            .default_output_config()
            .map(|c| c.sample_rate())
            .unwrap_or(48_000);
        builder = builder.with_buffer_size(cpal::BufferSize::Fixed(rate / 50));
    }
    let mut errors = StreamErrors::new("speaker");
    builder
        .with_error_callback(move |e| errors.note(&e))
        .open_stream()
}

/// How long the speaker's buffer holds what it is given, ms: two periods. Through
/// PulseAudio's own protocol the periods are 20 ms; over a thin link [`THIN_PERIOD`]; through
/// ALSA, whose default is not asked here, about the same as PulseAudio's.
fn output_latency_ms(thin: bool) -> u32 {
    if thin {
        2 * THIN_PERIOD * 1000 / THIN_RATE
    } else {
        40
    }
}

/// Streams the mix pulls from, shared by the speaker open now and the next one.
type Streams = Arc<Mutex<Vec<Arc<StreamShared>>>>;

/// One open speaker: a rodio output on its own thread, playing the mix of every stream.
struct Output {
    name: String,
    /// The speaker's sample rate, which the mix is resampled to.
    rate: u32,
    /// Dropped to close the output.
    _stop: mpsc::Sender<()>,
}

impl Output {
    fn open(
        name: Option<&str>,
        streams: &Streams,
        far_end: &Arc<FarEnd>,
    ) -> Result<Output, MediaError> {
        let wanted = name.map(str::to_string);
        let (stop_tx, stop_rx) = mpsc::channel::<()>();
        let (ready_tx, ready_rx) = mpsc::channel();
        let (streams, far_end) = (Arc::clone(streams), Arc::clone(far_end));
        let thin = soundlink::this_sound_link() == SoundLink::Thin;
        thread::Builder::new()
            .name("playback".into())
            .spawn(move || {
                let open = || {
                    let device = find_device(wanted.as_deref(), false)?;
                    let dname = device
                        .description()
                        .map(|n| n.name().to_string())
                        .unwrap_or_else(|_| "speaker".into());
                    let mut sink = open_sink(&device, thin).map_err(|e| {
                        MediaError::Device(format!("cannot open speaker {dname:?}: {e}"))
                    })?;
                    sink.log_on_drop(false);
                    Ok((sink, dname))
                };
                // Over a thin link the finding is tried again too: cpal gives a sound server
                // 2 s to greet it, which a link busy with the screen can pass.
                let opened = if thin {
                    soundlink::open_with_retries("speaker", open)
                } else {
                    open()
                };
                match opened {
                    Ok((sink, dname)) => {
                        let config = sink.config();
                        let rate = config.sample_rate().get();
                        tracing::info!(
                            "speaker {dname:?}: {rate} Hz, {} channels, {:?}",
                            config.channel_count(),
                            config.sample_format()
                        );
                        far_end.set_output_latency_ms(output_latency_ms(thin));
                        sink.mixer().add(MixSource::new(streams, far_end, rate));
                        let _ = ready_tx.send(Ok((dname, rate)));
                        let _ = stop_rx.recv();
                        drop(sink);
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                    }
                }
            })
            .map_err(|e| MediaError::Device(format!("cannot start the playback thread: {e}")))?;
        // Over a thin link four tries of up to 2 s each, and the opening after them.
        let wait = if thin { 20 } else { 10 };
        match ready_rx.recv_timeout(Duration::from_secs(wait)) {
            Ok(Ok((name, rate))) => Ok(Output {
                name,
                rate,
                _stop: stop_tx,
            }),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(MediaError::Device(format!(
                "the speaker did not open within {wait} s"
            ))),
        }
    }
}

/// The speaker, mixing every remote stream; it can move to another speaker mid-meeting.
pub struct Playback {
    output: Mutex<Output>,
    /// The streams playing, so a new speaker takes them all.
    streams: Streams,
    /// What is played, for the microphone's echo canceller.
    far_end: Arc<FarEnd>,
}

impl Playback {
    /// Opens the speaker `name` (or the default).
    pub fn open(name: Option<&str>) -> Result<Playback, MediaError> {
        let streams = Streams::default();
        let far_end = FarEnd::new(output_latency_ms(false));
        Ok(Playback {
            output: Mutex::new(Output::open(name, &streams, &far_end)?),
            streams,
            far_end,
        })
    }

    /// What the speaker plays, 10 ms at a time, for the echo canceller.
    pub fn far_end(&self) -> Arc<FarEnd> {
        Arc::clone(&self.far_end)
    }

    /// The speaker's sample rate (the streams are resampled to it).
    pub fn rate(&self) -> u32 {
        self.output.lock().map(|o| o.rate).unwrap_or(SAMPLE_RATE)
    }

    /// The speaker's name.
    pub fn name(&self) -> String {
        self.output
            .lock()
            .map(|o| o.name.clone())
            .unwrap_or_default()
    }

    /// Moves every stream to the speaker `name` (or the default). On failure the current
    /// speaker keeps playing.
    pub fn switch(&self, name: Option<&str>) -> Result<String, MediaError> {
        let next = Output::open(name, &self.streams, &self.far_end)?;
        let opened = next.name.clone();
        // The old output closes when it is dropped here, and its mix with it.
        *self.output.lock().unwrap_or_else(|p| p.into_inner()) = next;
        Ok(opened)
    }

    /// Adds a stream to the mix; it plays until the handle is dropped.
    pub fn add_stream(&self) -> RemoteAudio {
        let shared = Arc::new(StreamShared::default());
        shared.volume.store(1.0f32.to_bits(), Ordering::Relaxed);
        self.streams
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Arc::clone(&shared));
        RemoteAudio { shared }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_at_sixty_ms_and_caps_at_two_hundred() {
        let mut b = JitterBuffer::default();
        let mut out = vec![1.0f32; 480];
        b.push(&vec![100; START_SAMPLES - 1]);
        b.pull(&mut out);
        assert!(out.iter().all(|&s| s == 0.0), "silent while filling");
        assert!(!b.is_playing());
        b.push(&[100]);
        assert!(b.is_playing());
        b.pull(&mut out);
        assert!(out.iter().all(|&s| s > 0.0));
        assert_eq!(b.len(), START_SAMPLES - 480);
        b.push(&vec![7; MAX_SAMPLES * 2]);
        assert_eq!(b.len(), MAX_SAMPLES);
        assert!(b.dropped > 0);
        // The newest audio is what is kept.
        b.pull(&mut out);
        assert!(out
            .iter()
            .all(|&s| (s - 7.0 / i16::MAX as f32).abs() < 1e-6));
    }

    #[test]
    fn underrun_goes_back_to_filling() {
        let mut b = JitterBuffer::default();
        b.push(&vec![5; START_SAMPLES]);
        let mut out = vec![0.0f32; START_SAMPLES + 10];
        b.pull(&mut out);
        assert_eq!(b.underruns, 1);
        assert!(!b.is_playing());
        assert!(out[START_SAMPLES..].iter().all(|&s| s == 0.0));
    }
}
