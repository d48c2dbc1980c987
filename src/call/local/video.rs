//! The video pump: a thread that takes pictures from a source, fits them to the bitrate
//! (the [`Ladder`] and the [`FrameDropper`]), encodes them with H.264 and sends them out.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::broadcast;

use super::control::{EncodedSample, Pump, PumpControl, RETRY_FAILED};
use super::ladder::{FrameDropper, Ladder, Rung};
use crate::media::h264::{EncoderSettings, H264Encoder};
use crate::media::pattern::{draw_stamp, read_stamp, Stamp};
use crate::media::{I420Frame, MediaError, RgbFrame, VideoFrame, VideoSource};

/// Forces a keyframe this often (seconds) even without a request, so a receiver that lost
/// one recovers without a round trip.
const KEYFRAME_SECONDS: f64 = 3.0;

/// Starts a video source with an H.264 encoder.
pub fn start_video(source: Box<dyn VideoSource>, fps: f64, bitrate: u32) -> Pump {
    let control = PumpControl::new(bitrate, source.describe());
    Pump::spawn("video", 8, control, move |out, ctl| {
        match VideoPump::new(source, ctl, out, fps, bitrate) {
            Ok(pump) => pump.run(),
            Err(e) => tracing::error!("video encoder: {e}"),
        }
    })
}

/// Flips a picture left to right, as a mirror shows you.
pub fn mirror(mut frame: RgbFrame) -> RgbFrame {
    let w = frame.width;
    for row in frame.data.chunks_exact_mut(w * 3) {
        for x in 0..w / 2 {
            for c in 0..3 {
                row.swap(x * 3 + c, (w - 1 - x) * 3 + c);
            }
        }
    }
    frame
}

/// The state of one video pump thread, from one captured picture to the next.
struct VideoPump {
    /// Where pictures come from; replaced when the mesh switches the source.
    source: Box<dyn VideoSource>,
    /// The controls shared with the mesh.
    ctl: Arc<PumpControl>,
    /// Where encoded pictures go out to every link.
    out: broadcast::Sender<EncodedSample>,
    /// The source's frame rate, which the encoder's budget per picture is reckoned from.
    fps: f64,
    /// The encoder, made afresh when the size sent changes.
    encoder: H264Encoder,
    /// How long one captured picture lasts.
    duration: Duration,
    /// Every how many encoded pictures one is a keyframe unasked.
    keyframe_every: u64,
    /// Pictures captured while enabled, which the stride counts.
    captured: u64,
    /// The width and height the encoder was last given.
    encoded_size: Option<(usize, usize)>,
    /// How many pictures are sent, and at what size.
    ladder: Ladder,
    /// The rung of the previous picture, to log each change once.
    last_rung: Option<Rung>,
    /// Drops pictures while the encoder is ahead of its bitrate.
    dropper: FrameDropper,
    /// Test-pattern pictures sent, numbered again as they go out.
    sent_stamps: u32,
    /// Whether the source failed on its last picture.
    failing: bool,
}

impl VideoPump {
    fn new(
        source: Box<dyn VideoSource>,
        ctl: Arc<PumpControl>,
        out: broadcast::Sender<EncodedSample>,
        fps: f64,
        bitrate: u32,
    ) -> Result<VideoPump, MediaError> {
        Ok(VideoPump {
            source,
            ctl,
            out,
            fps,
            encoder: new_encoder(bitrate, fps)?,
            duration: Duration::from_secs_f64(1.0 / fps.max(1.0)),
            keyframe_every: (fps * KEYFRAME_SECONDS).max(1.0) as u64,
            captured: 0,
            encoded_size: None,
            ladder: Ladder::default(),
            last_rung: None,
            dropper: FrameDropper::default(),
            sent_stamps: 0,
            failing: false,
        })
    }

    /// Captures, fits and sends pictures until the pump is dropped.
    fn run(mut self) {
        while self.ctl.running.load(Ordering::Relaxed) {
            self.take_switch();
            let Some(frame) = self.next_frame() else {
                continue;
            };
            if !self.ctl.enabled.load(Ordering::Relaxed) {
                if let Ok(mut p) = self.ctl.preview.lock() {
                    *p = None;
                }
                continue;
            }
            self.update_preview(&frame);
            self.send(frame);
        }
    }

    /// Takes over a source the mesh switched to; a new size restarts the encoder later.
    fn take_switch(&mut self) {
        if let Some(next) = self.ctl.take_video() {
            self.source = next;
            self.failing = false;
            self.ctl.set_failed(None);
            self.ctl.keyframe.store(true, Ordering::Relaxed);
        }
    }

    /// The source's next picture, or `None` after noting that it failed and waiting a little
    /// for it to come back (or for another source).
    fn next_frame(&mut self) -> Option<VideoFrame> {
        match self.source.next_frame() {
            Ok(f) => {
                if std::mem::take(&mut self.failing) {
                    self.ctl.set_failed(None);
                    self.ctl.keyframe.store(true, Ordering::Relaxed);
                }
                Some(f)
            }
            Err(e) => {
                self.failing = true;
                self.ctl.set_failed(Some(e.to_string()));
                thread::sleep(RETRY_FAILED);
                None
            }
        }
    }

    /// Mirrors a small copy into the self view, which needs only a few frames a second.
    fn update_preview(&self, frame: &VideoFrame) {
        if self.encoder.frames.is_multiple_of(3) {
            let small = frame.picture.fit_within(160, 120).to_rgb();
            if let Ok(mut p) = self.ctl.preview.lock() {
                *p = Some(Arc::new(mirror(small)));
            }
        }
    }

    /// Fits one captured picture to the bitrate and encodes it, unless its rung or the
    /// dropper leaves it out.
    fn send(&mut self, mut frame: VideoFrame) {
        let bitrate = self.ctl.bitrate.load(Ordering::Relaxed);
        let (w, h) = (frame.picture.width, frame.picture.height);
        let rung = self.rung(bitrate, w, h);
        let size = if rung.half {
            ((w / 2) & !1, (h / 2) & !1)
        } else {
            (w, h)
        };
        self.fit_encoder(bitrate, size, rung.stride);
        self.captured += 1;
        let keyframe_asked = || self.ctl.keyframe.load(Ordering::Relaxed);
        if !self.captured.is_multiple_of(rung.stride) && !keyframe_asked() {
            return;
        }
        if self.dropper.full(Instant::now(), bitrate) && !keyframe_asked() {
            // The encoder is over its budget (its rate control lags a cut in the bitrate by
            // a second or more): this picture waits out the excess here rather than in a
            // router's queue. For the ladder it is a picture too costly for the bitrate, as
            // one the encoder skips.
            self.ladder.encoded(bitrate, rung, true);
            return;
        }
        self.restamp(&mut frame.picture);
        if rung.half {
            frame.picture = frame.picture.fit_within(size.0, size.1);
        }
        self.encode(&frame.picture, bitrate, rung);
    }

    /// The rung for this picture, logged when it changes. Under a low estimate, fewer
    /// pictures rather than each one in mush; lower still, smaller ones (keyframes a quarter
    /// of the size get through a slow path).
    fn rung(&mut self, bitrate: u32, w: usize, h: usize) -> Rung {
        let rung = self.ladder.rung(bitrate, w, h, self.fps);
        if self.last_rung.replace(rung) != Some(rung) {
            tracing::debug!(
                stride = rung.stride,
                half = rung.half,
                bitrate,
                width = w,
                height = h,
                "video: rung changed"
            );
        }
        rung
    }

    /// Gives the encoder the size and bitrate of this picture. The encoder's rate control
    /// counts on every captured picture, so its budget per picture is scaled back up by the
    /// stride.
    fn fit_encoder(&mut self, bitrate: u32, size: (usize, usize), stride: u64) {
        if self.encoded_size.is_some_and(|s| s != size) {
            // A new size starts a new stream: a fresh encoder begins with a keyframe.
            match new_encoder(bitrate, self.fps) {
                Ok(e) => self.encoder = e,
                Err(e) => tracing::warn!("cannot restart the video encoder: {e}"),
            }
        }
        self.encoded_size = Some(size);
        self.encoder
            .set_bitrate(bitrate.saturating_mul(stride as u32));
    }

    /// Numbers a test pattern's picture again as it is sent: the pattern numbers the
    /// pictures it makes, and numbered here it counts the pictures sent, so a receiver's
    /// share of them is what the network lost.
    fn restamp(&mut self, picture: &mut I420Frame) {
        if let Some(stamp) = read_stamp(&picture.y, picture.width, picture.width, picture.height) {
            draw_stamp(
                picture,
                Stamp {
                    frame: self.sent_stamps,
                    time_ms: stamp.time_ms,
                },
            );
            self.sent_stamps = self.sent_stamps.wrapping_add(1);
        }
    }

    /// Encodes a picture (a keyframe when asked for, or when one is due) and sends it out;
    /// the ladder hears whether the encoder skipped it.
    fn encode(&mut self, picture: &I420Frame, bitrate: u32, rung: Rung) {
        if self.ctl.keyframe.swap(false, Ordering::Relaxed)
            || (self.encoder.frames > 0 && self.encoder.frames.is_multiple_of(self.keyframe_every))
        {
            self.encoder.force_keyframe();
        }
        match self.encoder.encode(picture) {
            Ok(e) if !e.data.is_empty() => {
                self.ladder.encoded(bitrate, rung, false);
                self.dropper.encoded(e.data.len());
                let _ = self.out.send(EncodedSample {
                    data: Bytes::from(e.data),
                    duration: self.duration * rung.stride as u32,
                    keyframe: e.keyframe,
                });
            }
            Ok(_) => self.ladder.encoded(bitrate, rung, true),
            Err(e) => tracing::warn!("video encoding failed: {e}"),
        }
    }
}

/// An H.264 encoder for `bitrate` at `fps`.
fn new_encoder(bitrate: u32, fps: f64) -> Result<H264Encoder, MediaError> {
    H264Encoder::new(EncoderSettings {
        bitrate_bps: bitrate,
        fps: fps as f32,
    })
}
