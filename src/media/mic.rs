//! Microphones through cpal: 48 kHz mono 20 ms frames, whatever the device's own format.
//! The cpal stream lives on its own thread, which hands samples over a channel.

use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};

use super::frame::{AudioFrame, SAMPLES_PER_FRAME, SAMPLE_RATE};
use super::resample::{downmix, to_i16, Resampler};
use super::{AudioSource, MediaError};

/// A device's short name (the one `--mic` and `--speaker` take, like `pulse` or `hw:0,0`)
/// and its description.
fn device_names(d: &cpal::Device) -> (String, String) {
    let id = d.id().map(|i| i.id().to_string()).unwrap_or_default();
    let description = d
        .description()
        .map(|n| n.name().to_string())
        .unwrap_or_default();
    (
        if id.is_empty() {
            description.clone()
        } else {
            id
        },
        description,
    )
}

/// The audio devices cpal finds, inputs or outputs, as `name: description`.
pub fn list_audio_devices(inputs: bool) -> Vec<String> {
    let host = cpal::default_host();
    let devices = if inputs {
        host.input_devices()
    } else {
        host.output_devices()
    };
    match devices {
        Ok(list) => list
            .map(|d| {
                let (id, description) = device_names(&d);
                format!("{id}: {description}")
            })
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// Finds an input (or output) device: the default when `name` is `None`, else the one whose
/// short name is `name`, else the first whose description contains it (case-insensitive).
pub fn find_device(name: Option<&str>, input: bool) -> Result<cpal::Device, MediaError> {
    let host = cpal::default_host();
    let kind = if input { "microphone" } else { "speaker" };
    match name {
        None => {
            let device = if input {
                host.default_input_device()
            } else {
                host.default_output_device()
            };
            device.ok_or_else(|| {
                MediaError::Device(format!(
                    "no {kind} found; check the sound server (PulseAudio or PipeWire) is running, or run with {}",
                    if input { "--mic none" } else { "--speaker none" }
                ))
            })
        }
        Some(wanted) => {
            let devices = if input {
                host.input_devices()
            } else {
                host.output_devices()
            };
            let mut devices: Vec<cpal::Device> = devices
                .map_err(|e| MediaError::Device(format!("cannot list {kind}s: {e}")))?
                .collect();
            let needle = wanted.to_lowercase();
            let named: Vec<(String, String)> = devices.iter().map(device_names).collect();
            let hit = named
                .iter()
                .position(|(id, _)| id.to_lowercase() == needle)
                .or_else(|| {
                    named
                        .iter()
                        .position(|(_, d)| d.to_lowercase().contains(&needle))
                });
            if let Some(i) = hit {
                return Ok(devices.swap_remove(i));
            }
            let names: Vec<String> = named.into_iter().map(|(id, _)| id).collect();
            Err(MediaError::Device(format!(
                "no {kind} matching {wanted:?}; found: {}",
                if names.is_empty() {
                    "none".to_string()
                } else {
                    names.join(", ")
                }
            )))
        }
    }
}

/// A microphone as an audio source.
pub struct MicSource {
    name: String,
    samples: mpsc::Receiver<Vec<i16>>,
    pending: Vec<i16>,
    /// Dropped to stop the capture thread.
    _stop: mpsc::Sender<()>,
}

impl MicSource {
    /// Opens the microphone `name` (or the default).
    pub fn open(name: Option<&str>) -> Result<MicSource, MediaError> {
        let wanted = name.map(str::to_string);
        let (tx, rx) = mpsc::sync_channel::<Vec<i16>>(64);
        let (stop_tx, stop_rx) = mpsc::channel::<()>();
        let (ready_tx, ready_rx) = mpsc::channel::<Result<String, MediaError>>();
        thread::Builder::new()
            .name("microphone".into())
            .spawn(move || {
                let started = (|| {
                    let device = find_device(wanted.as_deref(), true)?;
                    let dname = device
                        .description()
                        .map(|n| n.name().to_string())
                        .unwrap_or_else(|_| "microphone".into());
                    let config = device.default_input_config().map_err(|e| {
                        MediaError::Device(format!(
                            "microphone {dname:?} has no usable format: {e}"
                        ))
                    })?;
                    let channels = config.channels() as usize;
                    let rate = config.sample_rate();
                    let mut resampler = Resampler::new(rate, SAMPLE_RATE);
                    let mut out = Vec::new();
                    let stream_config: cpal::StreamConfig = config.config();
                    let err_name = dname.clone();
                    let stream = device
                        .build_input_stream(
                            stream_config,
                            move |data: &[f32], _: &cpal::InputCallbackInfo| {
                                out.clear();
                                resampler.process(&downmix(data, channels), &mut out);
                                // A full channel means nobody reads: drop rather than block audio.
                                let _ = tx.try_send(out.iter().map(|&s| to_i16(s)).collect());
                            },
                            move |e| tracing::warn!("microphone {err_name:?} error: {e}"),
                            None,
                        )
                        .map_err(|e| {
                            MediaError::Device(format!("cannot open microphone {dname:?}: {e}"))
                        })?;
                    stream.play().map_err(|e| {
                        MediaError::Device(format!("cannot start microphone {dname:?}: {e}"))
                    })?;
                    Ok((stream, dname))
                })();
                match started {
                    Ok((stream, dname)) => {
                        let _ = ready_tx.send(Ok(dname));
                        // Keep the stream alive until the source is dropped.
                        let _ = stop_rx.recv();
                        drop(stream);
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                    }
                }
            })
            .map_err(|e| MediaError::Device(format!("cannot start the microphone thread: {e}")))?;
        match ready_rx.recv_timeout(Duration::from_secs(10)) {
            Ok(Ok(name)) => Ok(MicSource {
                name,
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
}
