//! WAV files as an audio source: any PCM or float format, down-mixed to mono, resampled to
//! 48 kHz, looped.

use std::path::{Path, PathBuf};

use super::frame::{AudioFrame, SAMPLES_PER_FRAME, SAMPLE_RATE};
use super::resample::{downmix, resample_all, to_i16};
use super::{AudioSource, MediaError, Pacer};

/// A WAV file loaded into memory as 48 kHz mono.
pub struct WavSource {
    path: PathBuf,
    samples: Vec<i16>,
    pos: usize,
    pacer: Option<Pacer>,
}

fn bad(path: &Path, reason: impl Into<String>) -> MediaError {
    MediaError::File {
        path: path.display().to_string(),
        reason: reason.into(),
    }
}

/// Reads a whole WAV file as 48 kHz mono samples. A file cut short keeps what was read.
pub fn load_wav(path: &Path) -> Result<Vec<i16>, MediaError> {
    let mut reader = hound::WavReader::open(path)
        .map_err(|e| bad(path, format!("not a usable WAV file: {e}")))?;
    let spec = reader.spec();
    if spec.channels == 0 || spec.sample_rate == 0 {
        return Err(bad(path, "the header has no channels or no sample rate"));
    }
    let mut floats = Vec::new();
    let mut truncated = false;
    match spec.sample_format {
        hound::SampleFormat::Float => {
            for s in reader.samples::<f32>() {
                match s {
                    Ok(v) => floats.push(if v.is_finite() { v } else { 0.0 }),
                    Err(_) => {
                        truncated = true;
                        break;
                    }
                }
            }
        }
        hound::SampleFormat::Int => {
            if spec.bits_per_sample == 0 || spec.bits_per_sample > 32 {
                return Err(bad(
                    path,
                    format!("{} bits a sample is not supported", spec.bits_per_sample),
                ));
            }
            let scale = (1u64 << (spec.bits_per_sample - 1)) as f32;
            for s in reader.samples::<i32>() {
                match s {
                    Ok(v) => floats.push(v as f32 / scale),
                    Err(_) => {
                        truncated = true;
                        break;
                    }
                }
            }
        }
    }
    if truncated {
        tracing::warn!(path = %path.display(), "WAV file is cut short; using the {} samples read", floats.len());
    }
    let mono = downmix(&floats, spec.channels as usize);
    let out = resample_all(&mono, spec.sample_rate, SAMPLE_RATE);
    if out.is_empty() {
        return Err(bad(path, "the file holds no audio"));
    }
    Ok(out.into_iter().map(to_i16).collect())
}

impl WavSource {
    /// Loads `path`; `paced` makes each frame wait for its 20 ms.
    pub fn open(path: &Path, paced: bool) -> Result<WavSource, MediaError> {
        Ok(WavSource {
            path: path.to_path_buf(),
            samples: load_wav(path)?,
            pos: 0,
            pacer: paced.then(|| Pacer::new(50.0)),
        })
    }
}

impl AudioSource for WavSource {
    fn next_frame(&mut self) -> Result<AudioFrame, MediaError> {
        if let Some(p) = &mut self.pacer {
            p.wait();
        }
        let mut samples = Vec::with_capacity(SAMPLES_PER_FRAME);
        while samples.len() < SAMPLES_PER_FRAME {
            let take = (SAMPLES_PER_FRAME - samples.len()).min(self.samples.len() - self.pos);
            samples.extend_from_slice(&self.samples[self.pos..self.pos + take]);
            self.pos = (self.pos + take) % self.samples.len();
        }
        Ok(AudioFrame { samples })
    }

    fn describe(&self) -> String {
        format!("file {}", self.path.display())
    }
}

/// Writes 48 kHz mono 16-bit samples as a WAV file (for tests and tools).
pub fn write_wav(path: &Path, samples: &[i16], rate: u32, channels: u16) -> Result<(), MediaError> {
    let spec = hound::WavSpec {
        channels,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).map_err(|e| bad(path, e.to_string()))?;
    for &s in samples {
        w.write_sample(s).map_err(|e| bad(path, e.to_string()))?;
    }
    w.finalize().map_err(|e| bad(path, e.to_string()))
}
