//! The audio pump: a thread that takes 20 ms frames from a source, runs a live
//! microphone's through the audio processing, encodes them with Opus and sends them out.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::broadcast;

use super::control::{EncodedSample, Pump, PumpControl, RETRY_FAILED};
use crate::media::level::audio_level;
use crate::media::opus_codec::OpusEncoder;
use crate::media::processing::{Processing, Processor};
use crate::media::{AudioFrame, AudioSource};

/// Faults of the audio processing module after which a pump sends its audio unprocessed.
const PROCESSING_ATTEMPTS: u32 = 3;

/// The Opus bitrate, bits a second.
const AUDIO_BITRATE: i32 = 32_000;

/// Starts an audio source with an Opus encoder. A live microphone's audio goes through the
/// audio processing of `processing` first.
pub fn start_audio(source: Box<dyn AudioSource>, processing: Arc<Processing>) -> Pump {
    let control = PumpControl::new(AUDIO_BITRATE as u32, source.describe());
    Pump::spawn(
        "audio",
        50,
        control,
        move |out, ctl| match OpusEncoder::new(AUDIO_BITRATE) {
            Ok(encoder) => AudioPump {
                source,
                ctl,
                out,
                encoder,
                failing: false,
                processing: ProcessingRun::new(processing),
            }
            .run(),
            Err(e) => tracing::error!("audio encoder: {e}"),
        },
    )
}

/// The state of one audio pump thread, from one 20 ms frame to the next.
struct AudioPump {
    /// Where frames come from; replaced when the mesh switches the source.
    source: Box<dyn AudioSource>,
    /// The controls shared with the mesh.
    ctl: Arc<PumpControl>,
    /// Where encoded packets go out to every link.
    out: broadcast::Sender<EncodedSample>,
    /// The Opus encoder.
    encoder: OpusEncoder,
    /// Whether the source failed on its last frame.
    failing: bool,
    /// The audio processing of a live microphone.
    processing: ProcessingRun,
}

impl AudioPump {
    /// Captures, processes and sends frames until the pump is dropped.
    fn run(mut self) {
        while self.ctl.running.load(Ordering::Relaxed) {
            if let Some(next) = self.ctl.take_audio() {
                self.source = next;
                self.failing = false;
                self.ctl.set_failed(None);
            }
            let Some(mut frame) = self.next_frame() else {
                continue;
            };
            // The module runs while muted too, so it has learnt the room when the
            // microphone comes on.
            self.processing
                .process(&mut frame, self.source.capture_wait());
            if !self.ctl.enabled.load(Ordering::Relaxed) {
                self.ctl.level.store(0, Ordering::Relaxed);
                continue;
            }
            self.send(&frame);
        }
    }

    /// The source's next frame, or `None` after noting that it failed and waiting a little
    /// for it to come back (or for another source).
    fn next_frame(&mut self) -> Option<AudioFrame> {
        match self.source.next_frame() {
            Ok(f) => {
                if std::mem::take(&mut self.failing) {
                    self.ctl.set_failed(None);
                }
                Some(f)
            }
            Err(e) => {
                self.failing = true;
                self.ctl.set_failed(Some(e.to_string()));
                self.ctl.level.store(0, Ordering::Relaxed);
                thread::sleep(RETRY_FAILED);
                None
            }
        }
    }

    /// Keeps the level of the frame for the meters, then encodes and sends it.
    fn send(&mut self, frame: &AudioFrame) {
        self.ctl
            .level
            .store(audio_level(&frame.samples).to_bits(), Ordering::Relaxed);
        match self.encoder.encode(frame) {
            Ok(packet) => {
                let _ = self.out.send(EncodedSample {
                    data: Bytes::from(packet),
                    duration: Duration::from_millis(20),
                    keyframe: false,
                });
            }
            Err(e) => tracing::warn!("audio encoding failed: {e}"),
        }
    }
}

/// The audio processing as one pump runs it: started on the first frame of a live
/// microphone, dropped for a source that is not one, and restarted after a fault until
/// [`PROCESSING_ATTEMPTS`] faults have happened.
struct ProcessingRun {
    /// What every processor of the meeting shares (features, figures, the far end).
    shared: Arc<Processing>,
    /// The running processor, while the source is a live microphone.
    processor: Option<Processor>,
    /// Faults so far.
    failures: u32,
}

impl ProcessingRun {
    fn new(shared: Arc<Processing>) -> ProcessingRun {
        ProcessingRun {
            shared,
            processor: None,
            failures: 0,
        }
    }

    /// Processes `frame` in place when it came from a live microphone (`waited` is how long
    /// it waited in the capture buffer).
    fn process(&mut self, frame: &mut AudioFrame, waited: Option<Duration>) {
        match waited {
            Some(waited) if self.failures < PROCESSING_ATTEMPTS => {
                let shared = &self.shared;
                let p = self
                    .processor
                    .get_or_insert_with(|| Processor::new(Arc::clone(shared)));
                let done = catch_unwind(AssertUnwindSafe(|| p.process(frame, waited)));
                if done.is_err() {
                    // A fault in the module must not silence the microphone: start it
                    // afresh, and after a few faults send the audio as it is.
                    self.processor = None;
                    self.failures += 1;
                    tracing::error!(
                        "audio processing failed ({} of {PROCESSING_ATTEMPTS} tries)",
                        self.failures
                    );
                }
            }
            _ => self.processor = None,
        }
    }
}
