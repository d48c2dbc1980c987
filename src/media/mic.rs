//! Microphones: 48 kHz mono 20 ms frames, whatever the device's own format. With a
//! PulseAudio server (or PipeWire's PulseAudio service) the source is recorded over
//! PulseAudio's own protocol, mono, at its own rate, 10 ms at a time; with PipeWire running
//! natively, through cpal's PipeWire host at 48 kHz mono (PipeWire converts); without
//! either, through cpal's ALSA host. The stream lives on its own thread, which hands samples
//! over a channel.

use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use cpal::traits::{DeviceTrait, StreamTrait};

use super::device::{find_device, server_choice, server_device};
use super::frame::{AudioFrame, SAMPLES_PER_FRAME, SAMPLE_RATE};
use super::resample::{downmix, to_i16, Resampler};
use super::sound;
use super::soundlink::{self, SoundLink, THIN_RATE};
use super::stream_errors::StreamErrors;
use super::{AudioSource, MediaError};

/// Starts capturing from `device` in `config` with samples of type `T`, handing 48 kHz mono
/// chunks to `tx`.
fn capture<T>(
    device: &cpal::Device,
    config: cpal::StreamConfig,
    tx: mpsc::SyncSender<Vec<i16>>,
    on_error: impl FnMut(cpal::Error) + Send + 'static,
) -> Result<cpal::Stream, cpal::Error>
where
    T: cpal::SizedSample,
    f32: cpal::FromSample<T>,
{
    let channels = config.channels as usize;
    let mut resampler = Resampler::new(config.sample_rate, SAMPLE_RATE);
    let (mut floats, mut out) = (Vec::new(), Vec::new());
    device.build_input_stream(
        config,
        move |data: &[T], _: &cpal::InputCallbackInfo| {
            floats.clear();
            floats.extend(data.iter().map(|&s| cpal::Sample::to_sample::<f32>(s)));
            out.clear();
            resampler.process(&downmix(&floats, channels), &mut out);
            // A full channel means nobody reads: drop rather than block audio.
            let _ = tx.try_send(out.iter().map(|&s| to_i16(s)).collect());
        },
        on_error,
        None,
    )
}

/// A PulseAudio source recorded over PulseAudio's own protocol, the way a sound server's
/// native client does: mono (the server mixes down), at the source's own rate (or 16 kHz
/// 16-bit over a thin link), delivered every 10 ms. cpal's PulseAudio host asks for no
/// fragment size, so the server hands its record streams over two seconds at a time, which
/// the far end's jitter buffer cannot smooth; with a fixed size it stalls.
struct PulseRecording {
    _client: pulseaudio::Client,
    stream: pulseaudio::RecordStream,
}

impl Drop for PulseRecording {
    fn drop(&mut self) {
        let stream = self.stream.clone();
        let _ = futures::executor::block_on(stream.delete());
    }
}

/// Starts recording `source` (PulseAudio's name) at `rate`, handing 48 kHz mono chunks to
/// `tx`.
fn record_pulse(
    source: &str,
    rate: u32,
    thin: bool,
    tx: mpsc::SyncSender<Vec<i16>>,
) -> Result<PulseRecording, String> {
    use pulseaudio::protocol::{
        stream::{BufferAttr, StreamFlags},
        ChannelMap, ChannelPosition, RecordStreamParams, SampleFormat, SampleSpec,
    };
    let client = pulseaudio::Client::from_env(c"termmeet").map_err(|e| e.to_string())?;
    let format = if thin {
        SampleFormat::S16Le
    } else {
        SampleFormat::Float32Le
    };
    let bytes_per_sample: usize = if thin { 2 } else { 4 };
    let params = RecordStreamParams {
        sample_spec: SampleSpec {
            format,
            channels: 1,
            sample_rate: rate,
        },
        channel_map: ChannelMap::new([ChannelPosition::Mono]),
        source_name: Some(std::ffi::CString::new(source).map_err(|e| e.to_string())?),
        buffer_attr: BufferAttr {
            fragment_size: (rate as usize / 100 * bytes_per_sample) as u32,
            ..Default::default()
        },
        flags: StreamFlags {
            adjust_latency: true,
            ..Default::default()
        },
        ..Default::default()
    };
    let mut resampler = Resampler::new(rate, SAMPLE_RATE);
    let (mut floats, mut out, mut partial) = (Vec::new(), Vec::new(), Vec::<u8>::new());
    let sink = move |data: &[u8]| {
        partial.extend_from_slice(data);
        let whole = partial.len() / bytes_per_sample * bytes_per_sample;
        floats.clear();
        floats.extend(partial[..whole].chunks_exact(bytes_per_sample).map(|b| {
            if bytes_per_sample == 2 {
                f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0
            } else {
                f32::from_le_bytes([b[0], b[1], b[2], b[3]])
            }
        }));
        partial.drain(..whole);
        out.clear();
        resampler.process(&floats, &mut out);
        // A full channel means nobody reads: drop rather than block the sound server.
        let _ = tx.try_send(out.iter().map(|&s| to_i16(s)).collect());
    };
    let stream = futures::executor::block_on(client.create_record_stream(params, sink))
        .map_err(|e| e.to_string())?;
    Ok(PulseRecording {
        _client: client,
        stream,
    })
}

/// Starts capturing from a cpal `device`, handing 48 kHz mono chunks to `tx`: at 16 kHz
/// mono 16-bit over a thin sound link; at 48 kHz mono in 10 ms periods when the sound server
/// converts (`converts`, PipeWire); else in the device's own default format. Returns what
/// keeps the capture running, the device's name and the rate captured at.
fn capture_from(
    device: &cpal::Device,
    thin: bool,
    converts: bool,
    tx: mpsc::SyncSender<Vec<i16>>,
) -> Result<(Box<dyn std::any::Any>, String, u32), MediaError> {
    let dname = device
        .description()
        .map(|n| n.name().to_string())
        .unwrap_or_else(|_| "microphone".into());
    let mut rate = THIN_RATE;
    let stream = if thin {
        // 16 kHz mono 16-bit: what the link can carry.
        let config = cpal::StreamConfig {
            channels: 1,
            sample_rate: THIN_RATE,
            buffer_size: cpal::BufferSize::Default,
        };
        let stream = soundlink::open_with_retries("microphone", || {
            let mut errors = StreamErrors::new("microphone");
            capture::<i16>(device, config, tx.clone(), move |e| errors.note(&e))
        });
        if stream.is_ok() {
            tracing::info!(
                "microphone {dname:?} over a thin sound link: {THIN_RATE} Hz mono 16-bit"
            );
        }
        stream
    } else if converts {
        rate = SAMPLE_RATE;
        let config = cpal::StreamConfig {
            channels: 1,
            sample_rate: SAMPLE_RATE,
            buffer_size: cpal::BufferSize::Fixed(SAMPLE_RATE / 100),
        };
        tracing::info!("microphone {dname:?} through PipeWire: {rate} Hz mono");
        let mut errors = StreamErrors::new("microphone");
        capture::<f32>(device, config, tx, move |e| errors.note(&e))
    } else {
        let config = device.default_input_config().map_err(|e| {
            MediaError::Device(format!("microphone {dname:?} has no usable format: {e}"))
        })?;
        let config = config.config();
        rate = config.sample_rate;
        tracing::info!(
            "microphone {dname:?}: {rate} Hz, {} channels",
            config.channels
        );
        let mut errors = StreamErrors::new("microphone");
        capture::<f32>(device, config, tx, move |e| errors.note(&e))
    }
    .map_err(|e| MediaError::Device(format!("cannot open microphone {dname:?}: {e}")))?;
    stream
        .play()
        .map_err(|e| MediaError::Device(format!("cannot start microphone {dname:?}: {e}")))?;
    Ok((Box::new(stream) as Box<dyn std::any::Any>, dname, rate))
}

/// A microphone as an audio source.
pub struct MicSource {
    name: String,
    /// The rate the device captures at (resampled to 48 kHz here).
    rate: u32,
    samples: mpsc::Receiver<Vec<i16>>,
    pending: Vec<i16>,
    /// Dropped to stop the capture thread.
    _stop: mpsc::Sender<()>,
}

impl MicSource {
    /// The rate the device captures at; anything but 48 kHz is resampled here.
    pub fn device_rate(&self) -> u32 {
        self.rate
    }

    /// Opens the microphone `name` (or the default).
    pub fn open(name: Option<&str>) -> Result<MicSource, MediaError> {
        let wanted = name.map(str::to_string);
        let (tx, rx) = mpsc::sync_channel::<Vec<i16>>(64);
        let (stop_tx, stop_rx) = mpsc::channel::<()>();
        let (ready_tx, ready_rx) = mpsc::channel::<Result<(String, u32), MediaError>>();
        thread::Builder::new()
            .name("microphone".into())
            .spawn(move || {
                let thin = soundlink::this_sound_link() == SoundLink::Thin;
                // What keeps the capture running, its device's name and its rate.
                type Started = Result<(Box<dyn std::any::Any>, String, u32), MediaError>;
                let started: Started = match server_choice(wanted.as_deref(), true) {
                    Some((sound::SoundSystem::PulseAudio, chosen)) => chosen.and_then(|d| {
                        let (id, dname) = (d.id, d.description);
                        let rate = if thin {
                            THIN_RATE
                        } else {
                            d.rate.unwrap_or(SAMPLE_RATE)
                        };
                        let recording = record_pulse(&id, rate, thin, tx.clone()).map_err(|e| {
                            MediaError::Device(format!("cannot open microphone {dname:?}: {e}"))
                        })?;
                        tracing::info!("microphone {dname:?} through PulseAudio: {rate} Hz mono");
                        Ok((Box::new(recording) as Box<dyn std::any::Any>, dname, rate))
                    }),
                    // PipeWire converts to what is asked: 48 kHz mono, 10 ms at a time.
                    Some((system, chosen)) => chosen
                        .and_then(|d| server_device(system, &d, true))
                        .and_then(|device| capture_from(&device, thin, true, tx)),
                    None => find_device(wanted.as_deref(), true)
                        .and_then(|device| capture_from(&device, thin, false, tx)),
                };
                match started {
                    Ok((capture, dname, rate)) => {
                        let _ = ready_tx.send(Ok((dname, rate)));
                        // Keep the capture running until the source is dropped.
                        let _ = stop_rx.recv();
                        drop(capture);
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                    }
                }
            })
            .map_err(|e| MediaError::Device(format!("cannot start the microphone thread: {e}")))?;
        match ready_rx.recv_timeout(Duration::from_secs(10)) {
            Ok(Ok((name, rate))) => Ok(MicSource {
                name,
                rate,
                samples: rx,
                pending: Vec::new(),
                _stop: stop_tx,
            }),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(MediaError::Device(
                "the microphone did not start within 10 s".into(),
            )),
        }
    }
}

impl AudioSource for MicSource {
    fn next_frame(&mut self) -> Result<AudioFrame, MediaError> {
        while self.pending.len() < SAMPLES_PER_FRAME {
            match self.samples.recv_timeout(Duration::from_secs(2)) {
                Ok(chunk) => self.pending.extend(chunk),
                Err(_) => {
                    return Err(MediaError::Stopped(format!(
                        "microphone {:?} stopped delivering audio",
                        self.name
                    )))
                }
            }
        }
        let samples = self.pending.drain(..SAMPLES_PER_FRAME).collect();
        Ok(AudioFrame { samples })
    }

    fn describe(&self) -> String {
        format!("microphone {}", self.name)
    }

    fn capture_wait(&self) -> Option<Duration> {
        Some(Duration::from_secs_f64(
            self.pending.len() as f64 / f64::from(SAMPLE_RATE),
        ))
    }
}
