//! The rules that fit the video pump's output to its bitrate, as plain values with the time
//! passed in: how many pictures to send and at what size ([`Ladder`], [`frame_stride`],
//! [`half_size`]), and when the encoder is too far ahead of its bitrate ([`FrameDropper`]).

use std::collections::VecDeque;
use std::time::Instant;

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
    recent: VecDeque<bool>,
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
    drained: Option<Instant>,
}

impl FrameDropper {
    /// Whether the next picture should be dropped, at `bitrate` bits a second.
    pub fn full(&mut self, now: Instant, bitrate: u32) -> bool {
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

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::{frame_stride, half_size, FrameDropper, Ladder, Rung};

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
        assert!(!half_size(200_000, 640, 480, 30.0));
        assert!(half_size(170_000, 640, 480, 30.0));
        assert_eq!(frame_stride(80_000, 320, 240, 30.0), 2);
        assert!(!half_size(10_000, 300, 200, 30.0), "too small to halve");
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
