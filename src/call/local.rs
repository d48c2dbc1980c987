//! Local media: each source runs on its own thread with its own encoder, shared by every
//! peer connection. Encoded samples go out on a broadcast channel; each link's writer task
//! subscribes. A lagging subscriber skips ahead (latest wins) instead of queueing.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::broadcast;

use super::tracks::lock;
use crate::media::h264::{EncoderSettings, H264Encoder};
use crate::media::opus_codec::OpusEncoder;
use crate::media::pattern::{draw_stamp, read_stamp, Stamp};
use crate::media::processing::{Processing, Processor};
use crate::media::{AudioSource, VideoSource};

/// One encoded frame ready for every link.
#[derive(Clone, Debug)]
pub struct EncodedSample {
    /// Annex B H.264 or one Opus packet.
    pub data: Bytes,
    /// How long it lasts.
    pub duration: Duration,
    /// Whether a decoder can start here.
    pub keyframe: bool,
}

/// Controls shared between a pump thread and the mesh.
pub struct PumpControl {
    /// Whether samples are sent (mic or camera on).
    pub enabled: AtomicBool,
    /// Set to make the next video frame a keyframe.
    pub keyframe: AtomicBool,
    /// Target bitrate, bits a second (video).
    pub bitrate: AtomicU32,
    /// Cleared to stop the thread.
    pub running: AtomicBool,
    /// The newest local picture, mirrored, for the self view (video only).
    pub preview: Mutex<Option<Arc<crate::media::RgbFrame>>>,
    /// The level of the newest 20 ms sent, 0 to 1 (audio only; 0 while muted).
    level: AtomicU32,
    /// Set when a source to switch to waits below, so the thread looks (and locks) only then.
    switch_waiting: AtomicBool,
    /// A source to switch to, taken by the thread before its next picture or 20 ms: the
    /// track and every peer connection stay as they are.
    next_video: Mutex<Option<Box<dyn VideoSource>>>,
    next_audio: Mutex<Option<Box<dyn AudioSource>>>,
    /// Why the source stopped, while the thread waits for it to come back or for another.
    failed: Mutex<Option<String>>,
    /// What the source is now.
    describe: Mutex<String>,
}

impl std::fmt::Debug for PumpControl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PumpControl")
            .field("source", &self.describe())
            .field("enabled", &self.enabled)
            .field("failed", &self.failure())
            .finish_non_exhaustive()
    }
}

impl PumpControl {
    fn new(bitrate: u32, describe: String) -> Arc<PumpControl> {
        Arc::new(PumpControl {
            enabled: AtomicBool::new(true),
            keyframe: AtomicBool::new(false),
            bitrate: AtomicU32::new(bitrate),
            running: AtomicBool::new(true),
            preview: Mutex::new(None),
            level: AtomicU32::new(0),
            switch_waiting: AtomicBool::new(false),
            next_video: Mutex::new(None),
            next_audio: Mutex::new(None),
            failed: Mutex::new(None),
            describe: Mutex::new(describe),
        })
    }

    /// Feeds the track from `source` from its next picture on (a video pump).
    pub fn switch_video(&self, source: Box<dyn VideoSource>) {
        *lock(&self.describe) = source.describe();
        *lock(&self.next_video) = Some(source);
        self.switch_waiting.store(true, Ordering::Release);
    }

    /// Feeds the track from `source` from its next 20 ms on (an audio pump).
    pub fn switch_audio(&self, source: Box<dyn AudioSource>) {
        *lock(&self.describe) = source.describe();
        *lock(&self.next_audio) = Some(source);
        self.switch_waiting.store(true, Ordering::Release);
    }

    /// Why the source stopped, if it has.
    pub fn failure(&self) -> Option<String> {
        lock(&self.failed).clone()
    }

    /// What the source is.
    pub fn describe(&self) -> String {
        lock(&self.describe).clone()
    }

    /// The level of what is sent now, 0 to 1 (audio).
    pub fn level(&self) -> f32 {
        f32::from_bits(self.level.load(Ordering::Relaxed))
    }

    /// A source waiting to take over, if any (checked without a lock most of the time).
    fn take_video(&self) -> Option<Box<dyn VideoSource>> {
        self.switch_waiting
            .swap(false, Ordering::AcqRel)
            .then(|| lock(&self.next_video).take())
            .flatten()
    }

    /// Like [`PumpControl::take_video`], for audio.
    fn take_audio(&self) -> Option<Box<dyn AudioSource>> {
        self.switch_waiting
            .swap(false, Ordering::AcqRel)
            .then(|| lock(&self.next_audio).take())
            .flatten()
    }

    /// Notes that the source failed (`Some`) or works again (`None`); logs the change.
    fn set_failed(&self, why: Option<String>) {
        let mut failed = lock(&self.failed);
        match (&*failed, &why) {
            (None, Some(e)) => tracing::warn!("{} stopped: {e}", self.describe()),
            (Some(_), None) => tracing::info!("{} works again", self.describe()),
            _ => {}
        }
        *failed = why;
    }
}

/// How long a pump waits before asking a failed source again.
const RETRY_FAILED: Duration = Duration::from_millis(200);

/// A running source: its samples and its controls. Dropping it stops the thread.
pub struct Pump {
    /// Where samples go out.
    pub samples: broadcast::Sender<EncodedSample>,
    /// Its controls.
    pub control: Arc<PumpControl>,
    /// What it is.
    pub describe: String,
}

impl Drop for Pump {
    fn drop(&mut self) {
        self.control.running.store(false, Ordering::Relaxed);
    }
}

/// Forces a keyframe this often (seconds) even without a request, so a receiver that lost
/// one recovers without a round trip.
const KEYFRAME_SECONDS: f64 = 3.0;

/// Starts a video source with an H.264 encoder.
pub fn start_video(mut source: Box<dyn VideoSource>, fps: f64, bitrate: u32) -> Pump {
    let (tx, _) = broadcast::channel(8);
    let describe = source.describe();
    let control = PumpControl::new(bitrate, describe.clone());
    let (out, ctl) = (tx.clone(), Arc::clone(&control));
    let spawned = thread::Builder::new()
        .name("video-pump".into())
        .spawn(move || {
            let mut encoder = match H264Encoder::new(EncoderSettings {
                bitrate_bps: bitrate,
                fps: fps as f32,
            }) {
                Ok(e) => e,
                Err(e) => {
                    tracing::error!("video encoder: {e}");
                    return;
                }
            };
            let duration = Duration::from_secs_f64(1.0 / fps.max(1.0));
            let keyframe_every = (fps * KEYFRAME_SECONDS).max(1.0) as u64;
            let mut captured = 0u64;
            let mut encoded_size: Option<(usize, usize)> = None;
            let mut ladder = Ladder::default();
            let mut last_rung: Option<Rung> = None;
            let mut dropper = FrameDropper::default();
            let mut sent_stamps = 0u32;
            let mut failing = false;
            while ctl.running.load(Ordering::Relaxed) {
                if let Some(next) = ctl.take_video() {
                    // Another source from here on; a new size restarts the encoder below.
                    source = next;
                    failing = false;
                    ctl.set_failed(None);
                    ctl.keyframe.store(true, Ordering::Relaxed);
                }
                let mut frame = match source.next_frame() {
                    Ok(f) => {
                        if std::mem::take(&mut failing) {
                            ctl.set_failed(None);
                            ctl.keyframe.store(true, Ordering::Relaxed);
                        }
                        f
                    }
                    Err(e) => {
                        // Wait for it to come back, or for another source.
                        failing = true;
                        ctl.set_failed(Some(e.to_string()));
                        thread::sleep(RETRY_FAILED);
                        continue;
                    }
                };
                if !ctl.enabled.load(Ordering::Relaxed) {
                    if let Ok(mut p) = ctl.preview.lock() {
                        *p = None;
                    }
                    continue;
                }
                // The self view needs only a few small frames a second.
                if encoder.frames % 3 == 0 {
                    let small = frame.picture.fit_within(160, 120).to_rgb();
                    if let Ok(mut p) = ctl.preview.lock() {
                        *p = Some(Arc::new(mirror(small)));
                    }
                }
                let bitrate = ctl.bitrate.load(Ordering::Relaxed);
                // Under a low estimate, fewer pictures rather than each one in mush; lower
                // still, smaller ones (keyframes a quarter of the size get through a slow
                // path). The encoder's rate control counts on every captured picture, so its
                // budget per picture is scaled back up.
                let (w, h) = (frame.picture.width, frame.picture.height);
                let rung = ladder.rung(bitrate, w, h, fps);
                if last_rung.replace(rung) != Some(rung) {
                    tracing::debug!(
                        stride = rung.stride,
                        half = rung.half,
                        bitrate,
                        width = w,
                        height = h,
                        "video: rung changed"
                    );
                }
                let (half, stride) = (rung.half, rung.stride);
                let (ew, eh) = if half {
                    ((w / 2) & !1, (h / 2) & !1)
                } else {
                    (w, h)
                };
                if encoded_size.is_some_and(|size| size != (ew, eh)) {
                    // A new size starts a new stream: a fresh encoder begins with a keyframe.
                    match H264Encoder::new(EncoderSettings {
                        bitrate_bps: bitrate,
                        fps: fps as f32,
                    }) {
                        Ok(e) => encoder = e,
                        Err(e) => tracing::warn!("cannot restart the video encoder: {e}"),
                    }
                }
                encoded_size = Some((ew, eh));
                encoder.set_bitrate(bitrate.saturating_mul(stride as u32));
                captured += 1;
                if !captured.is_multiple_of(stride) && !ctl.keyframe.load(Ordering::Relaxed) {
                    continue;
                }
                if dropper.full(std::time::Instant::now(), bitrate)
                    && !ctl.keyframe.load(Ordering::Relaxed)
                {
                    // The encoder is over its budget (its rate control lags a cut in the
                    // bitrate by a second or more): this picture waits out the excess here
                    // rather than in a router's queue. For the ladder it is a picture too
                    // costly for the bitrate, as one the encoder skips.
                    ladder.encoded(bitrate, rung, true);
                    continue;
                }
                // A test pattern numbers the pictures it makes; numbered again here, it counts
                // the pictures sent, so a receiver's share of them is what the network lost.
                let picture = &mut frame.picture;
                if let Some(stamp) =
                    read_stamp(&picture.y, picture.width, picture.width, picture.height)
                {
                    draw_stamp(
                        picture,
                        Stamp {
                            frame: sent_stamps,
                            time_ms: stamp.time_ms,
                        },
                    );
                    sent_stamps = sent_stamps.wrapping_add(1);
                }
                if half {
                    frame.picture = frame.picture.fit_within(ew, eh);
                }
                if ctl.keyframe.swap(false, Ordering::Relaxed)
                    || (encoder.frames > 0 && encoder.frames % keyframe_every == 0)
                {
                    encoder.force_keyframe();
                }
                match encoder.encode(&frame.picture) {
                    Ok(e) if !e.data.is_empty() => {
                        ladder.encoded(bitrate, rung, false);
                        dropper.encoded(e.data.len());
                        let _ = out.send(EncodedSample {
                            data: Bytes::from(e.data),
                            duration: duration * stride as u32,
                            keyframe: e.keyframe,
                        });
                    }
                    Ok(_) => ladder.encoded(bitrate, rung, true),
                    Err(e) => tracing::warn!("video encoding failed: {e}"),
                }
            }
        });
    if let Err(e) = spawned {
        tracing::error!("cannot start the video thread: {e}");
    }
    Pump {
        samples: tx,
        control,
        describe,
    }
}

/// Every how many captured pictures one is encoded at `bitrate` for a picture this size at
/// `fps`: all of them while there are about 0.04 bits a pixel (350 kbit/s at 640x480 and 30
/// fps), every second below that, every third below half of it, every sixth below a quarter.
pub fn frame_stride(bitrate: u32, width: usize, height: usize, fps: f64) -> u64 {
    let full = (width * height) as f64 * fps * 0.038;
    let rate = f64::from(bitrate);
    if rate >= full {
        1
    } else if rate >= full / 2.0 {
        2
    } else if rate >= full / 4.0 {
        3
    } else {
        6
    }
}

/// Whether pictures are sent at half their width and height at `bitrate`: below half of what
/// the full size needs at full rate (see [`frame_stride`]), the encoder would otherwise drop
/// to a third of the frame rate; halved, the picture needs a quarter and keeps its rate. Only
/// while the half is still at least 160 pixels wide.
pub fn half_size(bitrate: u32, width: usize, height: usize, fps: f64) -> bool {
    width >= 320 && frame_stride(bitrate, width, height, fps) > 2
}

/// Pictures the encoder must have had before its skips are judged.
const LADDER_WINDOW: usize = 30;
/// A share of skipped pictures above which the picture is too costly for its bitrate.
const LADDER_SKIPS: f64 = 0.25;
/// Full-size pictures after going up within which going down again means the full size did
/// not hold (two to four seconds).
const LADDER_SHORT_LIVED: usize = 60;

/// What the video pump sends at a bitrate: every how many captured pictures one is encoded,
/// and whether at half size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rung {
    pub stride: u64,
    pub half: bool,
}

/// The frame rate and size ladder. The bits a picture needs depend on what it shows, so the
/// rule of thumb of [`frame_stride`] is corrected by what the encoder does: when its rate
/// control (or the [`FrameDropper`] before it) skips more than a quarter of the full-size
/// pictures (noise, fast motion), the picture halves until the bitrate has grown half again,
/// as libwebrtc's quality scaler does from the quantiser.
#[derive(Debug, Default)]
pub struct Ladder {
    /// Whether each of the latest full-size pictures was skipped (by the encoder or the
    /// dropper).
    recent: std::collections::VecDeque<bool>,
    /// Halved for content until the bitrate reaches this.
    halved_below: Option<u32>,
    /// Whether the last rung given was at half size, once one was.
    was_half: Option<bool>,
    /// Full-size pictures since the picture last went up to full size.
    full_since_up: usize,
    /// Tries at the full size in a row that did not hold.
    failed_up: u32,
}

impl Ladder {
    /// The rung for `bitrate` and a captured picture of this size.
    pub fn rung(&mut self, bitrate: u32, width: usize, height: usize, fps: f64) -> Rung {
        if self.halved_below.is_some_and(|b| bitrate >= b) {
            self.halved_below = None;
        }
        let mut half =
            half_size(bitrate, width, height, fps) || (width >= 320 && self.halved_below.is_some());
        // A change of size costs a keyframe at the new size: up only with a margin, so that
        // an estimate wavering at the edge does not send one each way every second.
        if !half && self.was_half == Some(true) && half_size(bitrate / 5 * 4, width, height, fps) {
            half = true;
        }
        match (self.was_half, half) {
            (Some(false), true) if self.full_since_up < LADDER_SHORT_LIVED => {
                // Up, and down again at once: the full size's keyframe and pictures were
                // more than the path takes at this bitrate. Another try needs half again,
                // and a quarter more for each try before it that did not hold either.
                self.failed_up = self.failed_up.saturating_add(1);
                let again =
                    (f64::from(bitrate) * 1.5 * 1.25f64.powi(self.failed_up.min(5) as i32 - 1))
                        as u32;
                tracing::debug!(bitrate, again, "video: full size did not hold, halving it");
                self.halved_below = Some(self.halved_below.map_or(again, |b| b.max(again)));
            }
            (Some(true), false) => self.full_since_up = 0,
            // The size a call starts at was no try.
            (None, _) => self.full_since_up = LADDER_SHORT_LIVED,
            _ => {}
        }
        self.was_half = Some(half);
        let stride = if half {
            frame_stride(bitrate, width / 2, height / 2, fps)
        } else {
            frame_stride(bitrate, width, height, fps)
        };
        Rung { stride, half }
    }

    /// What became of a picture at `rung`: skipped (by the encoder's rate control holding the
    /// bitrate, or by the dropper) or sent.
    pub fn encoded(&mut self, bitrate: u32, rung: Rung, skipped: bool) {
        if rung.half {
            self.recent.clear();
            return;
        }
        self.full_since_up = self.full_since_up.saturating_add(1);
        if self.full_since_up == LADDER_SHORT_LIVED {
            self.failed_up = 0;
        }
        self.recent.push_back(skipped);
        if self.recent.len() > LADDER_WINDOW {
            self.recent.pop_front();
        }
        let skips = self.recent.iter().filter(|s| **s).count();
        if self.recent.len() == LADDER_WINDOW && skips as f64 > LADDER_SKIPS * LADDER_WINDOW as f64
        {
            tracing::debug!(bitrate, skips, "video: too costly at full size, halving it");
            self.halved_below = Some(bitrate.saturating_mul(3) / 2);
            self.recent.clear();
        }
    }
}

/// How much an encoder may send ahead of its bitrate before pictures are dropped, seconds of
/// that bitrate (a keyframe at a low rate fits; a second of overshoot does not).
const DROPPER_WINDOW: f64 = 0.3;

/// A leaky bucket over what the video encoder sends, as libwebrtc's frame dropper: filled by
/// each encoded picture, drained at the bitrate; while it holds more than [`DROPPER_WINDOW`]
/// of the bitrate, pictures are dropped before encoding. OpenH264's rate control takes a
/// second or more to follow a cut in the bitrate, and sends what it was budgeted before into
/// a path that has just narrowed.
#[derive(Debug, Default)]
pub struct FrameDropper {
    /// Bits in the bucket.
    level: f64,
    /// When it was last drained.
    drained: Option<std::time::Instant>,
}

impl FrameDropper {
    /// Whether the next picture should be dropped, at `bitrate` bits a second.
    pub fn full(&mut self, now: std::time::Instant, bitrate: u32) -> bool {
        let rate = f64::from(bitrate.max(1));
        if let Some(at) = self.drained {
            let secs = now.saturating_duration_since(at).as_secs_f64();
            self.level = (self.level - secs * rate).max(0.0);
        }
        self.drained = Some(now);
        self.level > rate * DROPPER_WINDOW
    }

    /// An encoded picture of `bytes` went out.
    pub fn encoded(&mut self, bytes: usize) {
        self.level += bytes as f64 * 8.0;
    }
}

/// Flips a picture left to right, as a mirror shows you.
pub fn mirror(mut frame: crate::media::RgbFrame) -> crate::media::RgbFrame {
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

/// Faults of the audio processing module after which a pump sends its audio unprocessed.
const PROCESSING_ATTEMPTS: u32 = 3;

/// Starts an audio source with an Opus encoder. A live microphone's audio goes through the
/// audio processing of `processing` first.
pub fn start_audio(mut source: Box<dyn AudioSource>, processing: Arc<Processing>) -> Pump {
    let (tx, _) = broadcast::channel(50);
    let describe = source.describe();
    let control = PumpControl::new(32_000, describe.clone());
    let (out, ctl) = (tx.clone(), Arc::clone(&control));
    let spawned = thread::Builder::new()
        .name("audio-pump".into())
        .spawn(move || {
            let mut encoder = match OpusEncoder::new(32_000) {
                Ok(e) => e,
                Err(e) => {
                    tracing::error!("audio encoder: {e}");
                    return;
                }
            };
            let mut failing = false;
            let mut processor: Option<Processor> = None;
            let mut processing_failures = 0;
            while ctl.running.load(Ordering::Relaxed) {
                if let Some(next) = ctl.take_audio() {
                    source = next;
                    failing = false;
                    ctl.set_failed(None);
                }
                let mut frame = match source.next_frame() {
                    Ok(f) => {
                        if std::mem::take(&mut failing) {
                            ctl.set_failed(None);
                        }
                        f
                    }
                    Err(e) => {
                        failing = true;
                        ctl.set_failed(Some(e.to_string()));
                        ctl.level.store(0, Ordering::Relaxed);
                        thread::sleep(RETRY_FAILED);
                        continue;
                    }
                };
                // The module runs while muted too, so it has learnt the room when the
                // microphone comes on.
                match source.capture_wait() {
                    Some(waited) if processing_failures < PROCESSING_ATTEMPTS => {
                        let p = processor
                            .get_or_insert_with(|| Processor::new(Arc::clone(&processing)));
                        let done = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                            p.process(&mut frame, waited)
                        }));
                        if done.is_err() {
                            // A fault in the module must not silence the microphone: start
                            // it afresh, and after a few faults send the audio as it is.
                            processor = None;
                            processing_failures += 1;
                            tracing::error!(
                                "audio processing failed ({processing_failures} of {PROCESSING_ATTEMPTS} tries)"
                            );
                        }
                    }
                    _ => processor = None,
                }
                if !ctl.enabled.load(Ordering::Relaxed) {
                    ctl.level.store(0, Ordering::Relaxed);
                    continue;
                }
                ctl.level.store(
                    super::tracks::audio_level(&frame.samples).to_bits(),
                    Ordering::Relaxed,
                );
                match encoder.encode(&frame) {
                    Ok(packet) => {
                        let _ = out.send(EncodedSample {
                            data: Bytes::from(packet),
                            duration: Duration::from_millis(20),
                            keyframe: false,
                        });
                    }
                    Err(e) => tracing::warn!("audio encoding failed: {e}"),
                }
            }
        });
    if let Err(e) = spawned {
        tracing::error!("cannot start the audio thread: {e}");
    }
    Pump {
        samples: tx,
        control,
        describe,
    }
}

#[cfg(test)]
mod tests {
    use super::{frame_stride, FrameDropper, Ladder, Rung};

    fn rung_of(stride: u64, half: bool) -> Rung {
        Rung { stride, half }
    }

    #[test]
    fn frame_rate_falls_before_quality_does() {
        assert_eq!(frame_stride(1_000_000, 640, 480, 30.0), 1);
        assert_eq!(frame_stride(360_000, 640, 480, 30.0), 1);
        assert_eq!(frame_stride(300_000, 640, 480, 30.0), 2);
        assert_eq!(frame_stride(100_000, 640, 480, 30.0), 3);
        assert_eq!(frame_stride(40_000, 640, 480, 30.0), 6);
        // Below half of full, the picture halves, which brings the rate back up.
        assert!(!super::half_size(200_000, 640, 480, 30.0));
        assert!(super::half_size(170_000, 640, 480, 30.0));
        assert_eq!(frame_stride(80_000, 320, 240, 30.0), 2);
        assert!(
            !super::half_size(10_000, 300, 200, 30.0),
            "too small to halve"
        );
        // A smaller picture needs less.
        assert_eq!(frame_stride(100_000, 320, 240, 30.0), 1);
    }

    #[test]
    fn the_ladder_keeps_ten_pictures_a_second_down_to_a_sixteenth_of_full() {
        let mut ladder = Ladder::default();
        let rung = |l: &mut Ladder, kbit: u32| l.rung(kbit * 1000, 640, 480, 30.0);
        assert_eq!(rung(&mut ladder, 400), rung_of(1, false));
        assert_eq!(rung(&mut ladder, 200), rung_of(2, false));
        assert_eq!(rung(&mut ladder, 120), rung_of(1, true));
        assert_eq!(rung(&mut ladder, 60), rung_of(2, true));
        assert_eq!(rung(&mut ladder, 25), rung_of(3, true));
        assert_eq!(rung(&mut ladder, 15), rung_of(6, true));
    }

    #[test]
    fn the_frame_dropper_holds_an_overshooting_encoder_to_its_bitrate() {
        use std::time::{Duration, Instant};
        let t0 = Instant::now();
        let mut dropper = FrameDropper::default();
        // 30 pictures a second of 2,500 bytes (600 kbit/s) against a bitrate of 200 kbit/s.
        let mut sent = 0usize;
        for i in 0..300u64 {
            let now = t0 + Duration::from_millis(i * 1000 / 30);
            if !dropper.full(now, 200_000) {
                dropper.encoded(2_500);
                sent += 2_500;
            }
        }
        let kbit = sent as f64 * 8.0 / 10.0 / 1000.0;
        assert!((190.0..=260.0).contains(&kbit), "{kbit} kbit/s over 10 s");
        // An encoder within its bitrate loses nothing.
        let mut dropper = FrameDropper::default();
        let dropped = (0..300u64)
            .filter(|i| {
                let full = dropper.full(t0 + Duration::from_millis(i * 1000 / 30), 200_000);
                if !full {
                    dropper.encoded(if i % 90 == 0 { 6_000 } else { 700 });
                }
                full
            })
            .count();
        assert_eq!(dropped, 0, "a keyframe now and then is no overshoot");
    }

    #[test]
    fn a_picture_the_encoder_keeps_skipping_is_halved_until_the_bitrate_grows() {
        let mut ladder = Ladder::default();
        let full = ladder.rung(200_000, 640, 480, 30.0);
        assert!(!full.half);
        // One skip in five is the encoder holding its rate: nothing changes.
        for i in 0..60 {
            ladder.encoded(200_000, full, i % 5 == 0);
        }
        assert!(!ladder.rung(200_000, 640, 480, 30.0).half);
        // One in three is a picture too costly for the bitrate.
        for i in 0..30 {
            ladder.encoded(200_000, full, i % 3 == 0);
        }
        let halved = ladder.rung(200_000, 640, 480, 30.0);
        assert_eq!(halved, rung_of(1, true));
        assert!(ladder.rung(280_000, 640, 480, 30.0).half);
        assert_eq!(
            ladder.rung(300_000, 640, 480, 30.0),
            rung_of(2, false),
            "half again as much bitrate tries the full size again"
        );
    }

    #[test]
    fn the_picture_size_does_not_flip_at_the_edge_of_a_rung() {
        let mut ladder = Ladder::default();
        let rung = |l: &mut Ladder, kbit: u32| l.rung(kbit * 1000, 640, 480, 30.0);
        // `n` full-size pictures sent at `kbit`, every `stride`th.
        let sent = |l: &mut Ladder, kbit: u32, stride: u64, n: usize| {
            (0..n).for_each(|_| l.encoded(kbit * 1000, rung_of(stride, false), false))
        };
        // Down to half size at once, after a long time at full size.
        assert!(!rung(&mut ladder, 400).half);
        sent(&mut ladder, 400, 1, 100);
        assert!(rung(&mut ladder, 170).half);
        // Just over the edge is not enough to go back up; a quarter over it is.
        assert!(rung(&mut ladder, 180).half);
        assert!(rung(&mut ladder, 210).half);
        assert_eq!(rung(&mut ladder, 220), rung_of(2, false));
        // Down again within a few full-size pictures: the full size did not hold, so the
        // next try waits for half again as much.
        sent(&mut ladder, 220, 2, 10);
        assert!(rung(&mut ladder, 170).half);
        assert!(rung(&mut ladder, 240).half);
        assert_eq!(rung(&mut ladder, 260), rung_of(2, false));
        // And again: each try that does not hold asks a quarter more for the next.
        assert!(rung(&mut ladder, 170).half);
        assert!(rung(&mut ladder, 300).half);
        assert_eq!(rung(&mut ladder, 320), rung_of(2, false));
        // Going down after holding for a while leaves no such mark.
        sent(&mut ladder, 320, 2, 100);
        assert!(rung(&mut ladder, 170).half);
        assert_eq!(rung(&mut ladder, 220), rung_of(2, false));
    }
}
