//! The send pacer, in the interceptor chain where webrtc-rs puts its own.
//!
//! webrtc-rs 0.21's pacer sends every packet through one FIFO at exactly the congestion
//! estimate, with room for 4096 packets: audio and resent packets wait behind video, and an
//! encoder a little over the estimate builds a queue of seconds (a call with a p95 latency of
//! many seconds). This one works as libwebrtc's does:
//! - audio is never held;
//! - resent video packets (NACK answers, recognised by a sequence number already sent) go
//!   before new ones, within [`RESEND_SHARE`] of the estimate, and one packet is resent at
//!   most once per round trip (see
//!   [`resend_gap`]): a receiver asks again on a timer that knows nothing of the queue its
//!   packet may be sitting in, and answering every ask multiplies the traffic on exactly the
//!   path that cannot carry it;
//! - video is paced at [`PACING_FACTOR`] times the estimate, so a keyframe spreads over a few
//!   tens of milliseconds instead of leaving in one burst, without the pacer becoming the
//!   bottleneck;
//! - nothing waits more than [`MAX_QUEUE_TIME`]: beyond it a new video packet is released
//!   (the loss that causes on a full path is what the congestion controller reacts to) and a
//!   resend is dropped (it would come after the receiver gave its picture up).

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use rtc::interceptor::{Attribute, Interceptor, Pacer as Bucket, Packet, StreamInfo, TaggedPacket};
use rtc::sansio::Protocol;
use rtc::shared::error::Error;

/// Video is paced at this multiple of the congestion estimate (libwebrtc uses 2.5; less
/// keeps a keyframe from overflowing a small bottleneck queue when the estimate is right).
pub const PACING_FACTOR: f64 = 1.5;
/// Resends may take at most this share of the congestion estimate (libwebrtc limits them
/// too): after a burst of loss, answering every NACK at once keeps the path full of repairs.
pub const RESEND_SHARE: f64 = 0.5;
/// The longest a packet waits in the pacer.
pub const MAX_QUEUE_TIME: Duration = Duration::from_millis(250);
/// The least time between two resends of one packet, whatever the round trip.
pub const MIN_RESEND_GAP: Duration = Duration::from_millis(30);

/// The least time between two resends of one packet over a path with this round trip: a
/// resend answered sooner would cross the previous one on its way.
pub fn resend_gap(rtt: Duration) -> Duration {
    (rtt + rtt / 5 + Duration::from_millis(10)).max(MIN_RESEND_GAP)
}

/// The round trip of a link as last measured, shared with the pacer (milliseconds).
pub type SharedRtt = std::sync::Arc<std::sync::atomic::AtomicU64>;
/// The estimate assumed before the congestion controller has one, bits a second.
const INITIAL_RATE: f64 = 1_000_000.0;

/// Paces video, lets audio through, puts resends first.
pub struct MediaPacer {
    bucket: Bucket,
    /// Resends' own share of the estimate.
    resend_bucket: Bucket,
    /// SSRCs of audio streams (never held).
    audio: HashSet<u32>,
    /// The highest sequence number queued per video SSRC (to recognise resends).
    highest: HashMap<u32, u16>,
    resends: VecDeque<(Instant, TaggedPacket)>,
    video: VecDeque<(Instant, TaggedPacket)>,
    /// When each recently resent packet last went (SSRC, sequence number).
    resent: HashMap<(u32, u16), Instant>,
    /// Resends refused as too soon after the last.
    pub resends_refused: u64,
    /// Resends dropped for waiting longer than [`MAX_QUEUE_TIME`].
    pub resends_dropped: u64,
    /// Video packets released for waiting longer than [`MAX_QUEUE_TIME`].
    pub overdue: u64,
    /// The link's round trip, milliseconds.
    rtt: SharedRtt,
    read_queue: VecDeque<TaggedPacket>,
    write_queue: VecDeque<TaggedPacket>,
}

impl MediaPacer {
    /// A pacer at the initial rate, reading the link's round trip from `rtt`.
    pub fn new(rtt: SharedRtt) -> MediaPacer {
        MediaPacer {
            bucket: Bucket::new(INITIAL_RATE * PACING_FACTOR),
            resend_bucket: Bucket::new(INITIAL_RATE * RESEND_SHARE),
            audio: HashSet::new(),
            highest: HashMap::new(),
            resends: VecDeque::new(),
            video: VecDeque::new(),
            resent: HashMap::new(),
            resends_refused: 0,
            resends_dropped: 0,
            overdue: 0,
            rtt,
            read_queue: VecDeque::new(),
            write_queue: VecDeque::new(),
        }
    }

    /// Packets waiting.
    pub fn queued(&self) -> usize {
        self.resends.len() + self.video.len()
    }

    fn bits(packet: &TaggedPacket) -> f64 {
        match &packet.message.packet {
            Packet::Rtp(rtp) => (rtp.payload.len() + 12 + 28) as f64 * 8.0,
            _ => 0.0,
        }
    }

    /// Whether `seq` is at or before the highest already queued for `ssrc` (a resend), and
    /// notes it otherwise.
    fn is_resend(&mut self, ssrc: u32, seq: u16) -> bool {
        match self.highest.get_mut(&ssrc) {
            Some(highest) => {
                let ahead = seq.wrapping_sub(*highest);
                if ahead == 0 || ahead >= 0x8000 {
                    true
                } else {
                    *highest = seq;
                    false
                }
            }
            None => {
                self.highest.insert(ssrc, seq);
                false
            }
        }
    }

    fn release(&mut self, now: Instant) {
        self.bucket.refill(now);
        self.resend_bucket.refill(now);
        // A resend this late comes after the receiver gave the picture up; sent anyway, a
        // burst of them floods the path that lost them.
        while self
            .resends
            .front()
            .is_some_and(|(queued, _)| now.saturating_duration_since(*queued) >= MAX_QUEUE_TIME)
        {
            self.resends.pop_front();
            self.resends_dropped += 1;
        }
        loop {
            // Resends first, within their own share of the estimate: after a burst of loss
            // they would otherwise take the whole path and leave new pictures to wait.
            let resend_bits = self.resends.front().map(|(_, head)| Self::bits(head));
            if let Some(bits) = resend_bits.filter(|&bits| {
                self.bucket.can_release(bits) && self.resend_bucket.can_release(bits)
            }) {
                if let Some((_, packet)) = self.resends.pop_front() {
                    self.resend_bucket.consume(bits);
                    self.send(packet, bits, now, false);
                    continue;
                }
            }
            let Some((queued, head)) = self.video.front() else {
                break;
            };
            let bits = Self::bits(head);
            let overdue = now.saturating_duration_since(*queued) >= MAX_QUEUE_TIME;
            if !overdue && !self.bucket.can_release(bits) {
                break;
            }
            if overdue {
                self.overdue += 1;
                if self.overdue.is_multiple_of(50) {
                    tracing::debug!(
                        overdue = self.overdue,
                        queued = self.video.len(),
                        "pacer: video released overdue"
                    );
                }
            }
            if let Some((_, packet)) = self.video.pop_front() {
                self.send(packet, bits, now, overdue);
            }
        }
    }

    /// Sends a packet the budget allowed, or (`overdue`) one that waited too long: that one
    /// takes only what budget is left. Charged in full, a queue released overdue left a debt
    /// of seconds, and every packet after it waited the whole queue limit until it was paid
    /// (a steady 250 ms on a capped uplink).
    fn send(&mut self, mut packet: TaggedPacket, bits: f64, now: Instant, overdue: bool) {
        let charge = if overdue {
            bits.min(self.bucket.budget_bits().max(0.0))
        } else {
            bits
        };
        self.bucket.consume(charge);
        // It departs now: what congestion control records must be the release instant.
        packet.now = now;
        self.write_queue.push_back(packet);
    }
}

impl Protocol<TaggedPacket, TaggedPacket, ()> for MediaPacer {
    type Rout = TaggedPacket;
    type Wout = TaggedPacket;
    type Eout = ();
    type Error = Error;
    type Time = Instant;

    fn handle_read(&mut self, msg: TaggedPacket) -> Result<(), Self::Error> {
        // The congestion controller's estimate rides on the feedback packet that produced it.
        if let Some(Attribute::TargetBitrateChanged { bits_per_second }) =
            msg.message.get(&Attribute::TargetBitrateChanged {
                bits_per_second: 0.0,
            })
        {
            self.bucket
                .set_target_bitrate(bits_per_second * PACING_FACTOR);
            self.resend_bucket
                .set_target_bitrate(bits_per_second * RESEND_SHARE);
        }
        self.read_queue.push_back(msg);
        Ok(())
    }

    fn poll_read(&mut self) -> Option<Self::Rout> {
        self.read_queue.pop_front()
    }

    fn handle_write(&mut self, msg: TaggedPacket) -> Result<(), Self::Error> {
        let (ssrc, seq) = match &msg.message.packet {
            Packet::Rtp(rtp) => (rtp.header.ssrc, rtp.header.sequence_number),
            // Control traffic is only useful fresh.
            _ => {
                self.write_queue.push_back(msg);
                return Ok(());
            }
        };
        if self.audio.contains(&ssrc) {
            self.write_queue.push_back(msg);
            return Ok(());
        }
        let now = msg.now;
        if self.is_resend(ssrc, seq) {
            let gap = resend_gap(Duration::from_millis(
                self.rtt.load(std::sync::atomic::Ordering::Relaxed),
            ));
            if self
                .resent
                .get(&(ssrc, seq))
                .is_some_and(|&t| now.saturating_duration_since(t) < gap)
            {
                self.resends_refused += 1;
                return Ok(());
            }
            if self.resent.len() > 4096 {
                self.resent
                    .retain(|_, t| now.saturating_duration_since(*t) < gap);
            }
            self.resent.insert((ssrc, seq), now);
            self.resends.push_back((now, msg));
        } else {
            self.video.push_back((now, msg));
        }
        self.release(now);
        Ok(())
    }

    fn poll_write(&mut self) -> Option<Self::Wout> {
        self.write_queue.pop_front()
    }

    fn handle_timeout(&mut self, now: Instant) -> Result<(), Self::Error> {
        self.release(now);
        Ok(())
    }

    fn poll_timeout(&mut self) -> Option<Instant> {
        // A byte more than the packet: rounding must not leave the budget a hair short at
        // the instant given, which would wake the chain again and again for nothing.
        let resend = self.resends.front().map(|(queued, head)| {
            let bits = Self::bits(head) + 8.0;
            let affordable = match (
                self.bucket.releasable_at(bits),
                self.resend_bucket.releasable_at(bits),
            ) {
                (Some(a), Some(b)) => a.max(b),
                _ => *queued + MAX_QUEUE_TIME,
            };
            affordable.min(*queued + MAX_QUEUE_TIME)
        });
        let video = self.video.front().map(|(queued, head)| {
            self.bucket
                .releasable_at(Self::bits(head) + 8.0)
                .unwrap_or(*queued + MAX_QUEUE_TIME)
                .min(*queued + MAX_QUEUE_TIME)
        });
        match (resend, video) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

impl Interceptor for MediaPacer {
    fn bind_local_stream(&mut self, info: &StreamInfo) {
        if info.mime_type.to_ascii_lowercase().starts_with("audio/") {
            self.audio.insert(info.ssrc);
        }
    }

    fn unbind_local_stream(&mut self, info: &StreamInfo) {
        self.audio.remove(&info.ssrc);
        self.highest.remove(&info.ssrc);
    }

    fn bind_remote_stream(&mut self, _info: &StreamInfo) {}

    fn unbind_remote_stream(&mut self, _info: &StreamInfo) {}
}

#[cfg(test)]
mod tests;
