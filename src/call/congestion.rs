//! The congestion controller: how fast a link may send, from what the remote reports of every
//! packet (transport-wide feedback: when it arrived, or that it did not).
//!
//! webrtc-rs 0.21's GCC never let its delay half act on a capped uplink in our tests (its
//! estimate stayed at the ceiling while a 200 ms router queue stood), so only its loss half
//! moved, sawing between the floor and the cap: a few pictures a second and a latency of a
//! second. This controller reads the queue directly:
//!
//! - **Queueing delay.** Each packet's one-way delay (arrival on the remote's clock minus
//!   departure on ours) less the smallest seen in the last [`BASE_WINDOW`] is the time it
//!   spent in queues. The clocks' offset cancels out, and their drift over the window is
//!   far below a millisecond.
//! - **Decrease** when the smoothed queue passes [`OVERUSE_MS`] (plus the time a full packet
//!   takes to cross the path, which on a slow one is no queue): below the path's rate as
//!   measured from packets that all waited in the queue ([`QueueController::busy_rate`]), by
//!   as much as the queue is long, so that it drains within about [`DRAIN_MS`]; before there
//!   is such a measure, to 85% of what arrived over the last half second. Again, below the
//!   target itself, if the queue has not started to drain [`DRAIN_TIME`] later (an encoder
//!   over its budget).
//! - **Increase** while the queue is under [`UNDERUSE_MS`] and loss is low: slowly near the rate
//!   where the last decrease happened (until more than it has arrived without a queue for
//!   [`GREW_AFTER`]), quickly away from it, never far above what is actually being sent (a
//!   quiet encoder does not earn a target it never tested).
//! - **Loss** over a second above [`HIGH_LOSS`] lowers the target as GCC's loss half does, but
//!   not below [`LOSS_FLOOR`]: random loss (a radio link) is not congestion, and a queue that
//!   overflows has already shown as delay.
//!
//! Time is passed in, so the tests below drive it through a simulated bottleneck.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use rtc::interceptor::{BandwidthEstimator, EstimatorStats, PacketReport};

/// How long the smallest one-way delay is remembered: the delay of an empty path.
pub const BASE_WINDOW: Duration = Duration::from_secs(60);
/// A smoothed queue above this many milliseconds means the path is overused.
pub const OVERUSE_MS: f64 = 50.0;
/// Below this, the path has room to try more.
pub const UNDERUSE_MS: f64 = 20.0;
/// A full video packet on the wire, bits: on a slow path its own crossing time looks like a
/// queue, so the thresholds allow for it.
const FULL_PACKET_BITS: f64 = 1250.0 * 8.0;
/// The most crossing time allowed for (a path of 100 kbit/s).
const MAX_CROSSING_MS: f64 = 100.0;
/// Loss over the last second above which the target comes down.
pub const HIGH_LOSS: f64 = 0.10;
/// Loss alone does not take the target below this, bits a second.
pub const LOSS_FLOOR: f64 = 250_000.0;
/// Growth a second near the rate of the last decrease.
const NEAR_GROWTH: f64 = 0.08;
/// Growth a second away from it.
const FAR_GROWTH: f64 = 0.20;
/// The target grows to at most this multiple of what arrives (plus 100 kbit/s).
const APP_LIMITED_HEADROOM: f64 = 2.5;
/// How far below what arrived a decrease goes.
const BACKOFF: f64 = 0.85;
/// How long after a decrease the queue is given to drain before another.
pub const DRAIN_TIME: Duration = Duration::from_millis(1500);
/// The window over which the arriving rate is measured.
pub const RATE_WINDOW_MS: f64 = 500.0;
/// A packet that waited this long in queues arrived while the bottleneck was busy.
const BUSY_MS: f64 = 25.0;
/// The busy rate is measured over at least this long a run of such packets, ms.
pub const BUSY_SPAN_MS: f64 = 150.0;
/// After a decrease the queue is drained within about this long, ms: the target goes as far
/// below the path's rate as the queue is long, relative to this (but not below half of it).
pub const DRAIN_MS: f64 = 1000.0;
/// More than the capacity arriving this long without a queue means the path grew.
pub const GREW_AFTER: Duration = Duration::from_secs(1);
/// Feedback silent this long (an outage) starts the delay measurement afresh.
const SILENCE: Duration = Duration::from_secs(2);

/// The smallest value over a sliding window of time, kept in one-second buckets.
#[derive(Debug, Default)]
struct WindowMin {
    buckets: VecDeque<(Instant, f64)>,
}

impl WindowMin {
    fn add(&mut self, now: Instant, value: f64) {
        match self.buckets.back_mut() {
            Some((start, min))
                if now.saturating_duration_since(*start) < Duration::from_secs(1) =>
            {
                *min = min.min(value)
            }
            _ => self.buckets.push_back((now, value)),
        }
        while self
            .buckets
            .front()
            .is_some_and(|(start, _)| now.saturating_duration_since(*start) > BASE_WINDOW)
        {
            self.buckets.pop_front();
        }
    }

    fn get(&self) -> Option<f64> {
        self.buckets.iter().map(|(_, v)| *v).reduce(f64::min)
    }

    fn clear(&mut self) {
        self.buckets.clear();
    }
}

/// A delay-based decrease, and the queue since.
#[derive(Clone, Copy, Debug)]
struct Decrease {
    at: Instant,
    /// The highest smoothed queue since, milliseconds.
    peak: f64,
    /// The target it set.
    target: f64,
}

impl Decrease {
    fn new(at: Instant, queue: f64, target: f64) -> Decrease {
        Decrease {
            at,
            peak: queue,
            target,
        }
    }
}

/// A delay-first congestion controller over transport-wide feedback.
#[derive(Debug)]
pub struct QueueController {
    min: f64,
    max: f64,
    target: f64,
    /// Our departures are measured from here.
    epoch: Option<Instant>,
    /// The smallest one-way delay lately (milliseconds, clocks' offset included).
    base: WindowMin,
    /// The smoothed queueing delay, milliseconds.
    queue_ms: f64,
    /// What arrived lately: (arrival on the remote's clock in ms, bytes, the packet's own
    /// queueing delay in ms).
    arrived: VecDeque<(f64, usize, f64)>,
    /// Fates reported lately: (when reported, arrived, lost).
    fates: VecDeque<(Instant, usize, usize)>,
    /// The arriving rate at the last delay-based decrease: the path's capacity as last seen.
    capacity: Option<f64>,
    /// The last delay-based decrease.
    decreased: Option<Decrease>,
    /// Since when more than the capacity has been arriving without a queue.
    above_since: Option<Instant>,
    /// The last loss-based decrease.
    lost_at: Option<Instant>,
    /// The last feedback.
    updated: Option<Instant>,
    /// The last time the figures were logged.
    logged: Option<Instant>,
}

impl QueueController {
    /// A controller starting at `initial` bits a second, held within `min..=max`.
    pub fn new(initial: f64, min: f64, max: f64) -> QueueController {
        QueueController {
            min,
            max,
            target: initial.clamp(min, max),
            epoch: None,
            base: WindowMin::default(),
            queue_ms: 0.0,
            arrived: VecDeque::new(),
            fates: VecDeque::new(),
            capacity: None,
            decreased: None,
            above_since: None,
            lost_at: None,
            updated: None,
            logged: None,
        }
    }

    /// The smoothed queueing delay, milliseconds.
    pub fn queue_ms(&self) -> f64 {
        self.queue_ms
    }

    /// What arrived over the last [`RATE_WINDOW_MS`], bits a second, once there is enough to
    /// tell.
    pub fn arriving_rate(&self) -> Option<f64> {
        let newest = self.arrived.back()?.0;
        let oldest = self.arrived.front()?.0;
        let span = (newest - oldest).max(1.0);
        if span < RATE_WINDOW_MS / 2.0 {
            return None;
        }
        // The first packet's bytes arrived before the span began.
        let bytes: usize = self.arrived.iter().skip(1).map(|(_, b, _)| b).sum();
        Some(bytes as f64 * 8.0 * 1000.0 / span)
    }

    /// What the path carries, bits a second: the rate at which the latest packets arrived,
    /// if each of them had waited in a queue (so the bottleneck was never idle between them
    /// and its rate, not the sender's, spaced them). None until [`BUSY_SPAN_MS`] of such
    /// packets have arrived in a row.
    pub fn busy_rate(&self) -> Option<f64> {
        let newest = self.arrived.back()?.0;
        let mut oldest = newest;
        let mut bytes = 0usize;
        let mut first = 0usize;
        let mut count = 0usize;
        for (arrival, size, queue) in self.arrived.iter().rev() {
            if *queue < BUSY_MS {
                break;
            }
            bytes += size;
            first = *size;
            oldest = oldest.min(*arrival);
            count += 1;
        }
        let span = newest - oldest;
        // The oldest packet's bytes arrived before the span began.
        (span >= BUSY_SPAN_MS && count >= 6).then(|| (bytes - first) as f64 * 8.0 * 1000.0 / span)
    }

    /// The share of packets lost over the last second, once enough were reported.
    pub fn loss(&self) -> Option<f64> {
        let (arrived, lost) = self
            .fates
            .iter()
            .fold((0, 0), |(a, l), (_, fa, fl)| (a + fa, l + fl));
        (arrived + lost >= 20).then(|| lost as f64 / (arrived + lost) as f64)
    }

    fn measure(&mut self, now: Instant, reports: &[PacketReport]) -> Option<f64> {
        let epoch = *self.epoch.get_or_insert(reports[0].departure);
        let mut sum = 0.0;
        let mut count = 0usize;
        let mut lost = 0usize;
        for report in reports {
            let Some(arrival) = report.arrival.filter(|_| report.arrived) else {
                lost += 1;
                continue;
            };
            let arrival_ms = arrival.as_secs_f64() * 1000.0;
            let departure_ms = if report.departure >= epoch {
                report.departure.duration_since(epoch).as_secs_f64() * 1000.0
            } else {
                -(epoch.duration_since(report.departure).as_secs_f64() * 1000.0)
            };
            let delay = arrival_ms - departure_ms;
            self.base.add(now, delay);
            sum += delay;
            count += 1;
            let queue = self.base.get().map_or(0.0, |base| delay - base);
            self.arrived.push_back((arrival_ms, report.size, queue));
        }
        // Arrival times come in send order, not arrival order: keep the window by the newest.
        if let Some(newest) = self.arrived.iter().map(|(t, _, _)| *t).reduce(f64::max) {
            while self
                .arrived
                .front()
                .is_some_and(|(t, _, _)| newest - t > RATE_WINDOW_MS)
            {
                self.arrived.pop_front();
            }
        }
        self.fates.push_back((now, count, lost));
        while self
            .fates
            .front()
            .is_some_and(|(t, _, _)| now.saturating_duration_since(*t) > Duration::from_secs(1))
        {
            self.fates.pop_front();
        }
        let base = self.base.get()?;
        (count > 0).then(|| (sum / count as f64 - base).max(0.0))
    }

    /// Moves the target after new feedback: down while the queue builds, up while there is
    /// none and loss is low, and down for heavy loss either way.
    fn control(&mut self, now: Instant, since_last: Duration) {
        let rate = self.arriving_rate();
        let loss = self.loss().unwrap_or(0.0);
        // A full packet takes this long to cross a path this slow: delay that is no queue.
        let crossing = rate.map_or(0.0, |r| FULL_PACKET_BITS * 1000.0 / r.max(1.0));
        if self.queue_ms > OVERUSE_MS + crossing.min(MAX_CROSSING_MS) {
            self.decrease(now, rate);
        } else if self.queue_ms < UNDERUSE_MS + crossing.min(MAX_CROSSING_MS) && loss <= HIGH_LOSS {
            self.increase(now, rate, since_last);
        }
        self.lower_for_loss(now, loss);
        self.target = self.target.clamp(self.min, self.max);
    }

    /// A queue is building: the target comes below what the path carries (`rate` is what
    /// arrived over the last half second).
    fn decrease(&mut self, now: Instant, rate: Option<f64>) {
        // What arrives is what the path carries; below it, the queue drains.
        let measured = rate.unwrap_or(self.target);
        let before = self.target;
        // Packets that all waited arrived at the path's own rate: a measure of it that a
        // sender slowing down does not spoil, and that needs no waiting for the window
        // of `measured` to hold only packets sent after the path narrowed. Below it by
        // as much as the queue is long, the queue drains within about `DRAIN_MS`.
        let busy = self.busy_rate();
        if let Some(path) = busy {
            let share = (1.0 - self.queue_ms / DRAIN_MS).clamp(0.5, BACKOFF);
            self.capacity = Some(path);
            self.target = self.target.min(path * share);
        }
        match &mut self.decreased {
            Some(d) if now.saturating_duration_since(d.at) < DRAIN_TIME => {
                // The encoder has not caught up yet, so wait; but a queue still growing
                // fast, with no busy measure, says the first measure was too high (it
                // began before the path narrowed). Then a fresh one counts, down to half
                // the first decrease: a sender that has already slowed makes what
                // arrives look narrower.
                if busy.is_none() && self.queue_ms > d.peak + 20.0 {
                    self.target = self.target.min((measured * BACKOFF).max(d.target / 2.0));
                }
                d.peak = d.peak.max(self.queue_ms);
            }
            Some(d) if now.saturating_duration_since(d.at) < DRAIN_TIME * 3 => {
                if self.queue_ms >= d.peak - 20.0 {
                    // Time enough to drain, and it has not: the sender is over its own
                    // target, so the target itself comes down.
                    self.target *= BACKOFF;
                    *d = Decrease::new(now, self.queue_ms, self.target);
                }
                // Otherwise it is draining: wait.
            }
            _ => {
                // Below what arrives, or below the target itself when the sender was
                // already sending more than it (an encoder over its budget).
                if busy.is_none() {
                    self.capacity = Some(measured);
                    self.target = self.target.min(measured) * BACKOFF;
                } else {
                    // At least a step below the target, which may be what the path
                    // carries already (a sender over its target, or a queue
                    // that crept up).
                    self.target = self.target.min(before * BACKOFF);
                }
                self.decreased = Some(Decrease::new(now, self.queue_ms, self.target));
            }
        }
        if self.target < before {
            tracing::debug!(
                queue_ms = self.queue_ms,
                arriving = ?rate,
                target = self.target,
                "congestion: queue building, target lowered"
            );
        }
    }

    /// There is no queue and little loss: the target grows, slowly near the capacity last
    /// seen and quickly away from it, over the `since_last` since the previous feedback.
    fn increase(&mut self, now: Instant, rate: Option<f64>, since_last: Duration) {
        // More than the old capacity arriving without a queue for a while (not just a
        // router's burst allowance after an idle moment) means the path grew.
        let above = matches!((self.capacity, rate), (Some(c), Some(r)) if r > c * 1.15);
        if !above {
            self.above_since = None;
        } else if now.saturating_duration_since(*self.above_since.get_or_insert(now)) >= GREW_AFTER
        {
            self.capacity = None;
        }
        let growth = match self.capacity {
            Some(c) if self.target < c * 0.8 => FAR_GROWTH,
            // Near it, or past it on paper only: a target above the capacity proves
            // nothing until the sender sends it (an encoder follows a second late).
            Some(_) => NEAR_GROWTH,
            None => FAR_GROWTH,
        };
        let grown = self.target * (1.0 + growth).powf(since_last.as_secs_f64().min(0.5));
        // Not far above what is actually sent and arriving: a target never tried is a
        // guess. Far enough, though, for the video ladder to step up: an encoder sending
        // every other picture of a plain picture sends well under its bitrate, and would
        // otherwise never be given the bitrate to send them all.
        let ceiling = rate.map_or(f64::MAX, |r| r * APP_LIMITED_HEADROOM + 100_000.0);
        if grown > self.target {
            self.target = grown.min(ceiling.max(self.target));
        }
    }

    /// Loss above [`HIGH_LOSS`] lowers the target at most once a second, and not below
    /// [`LOSS_FLOOR`].
    fn lower_for_loss(&mut self, now: Instant, loss: f64) {
        if loss > HIGH_LOSS
            && self
                .lost_at
                .is_none_or(|at| now.saturating_duration_since(at) >= Duration::from_secs(1))
        {
            let lowered = (self.target * (1.0 - 0.5 * loss)).max(LOSS_FLOOR);
            if lowered < self.target {
                tracing::debug!(loss, target = lowered, "congestion: loss, target lowered");
                self.target = lowered;
                self.lost_at = Some(now);
            }
        }
    }
}

impl BandwidthEstimator for QueueController {
    fn on_reports(&mut self, now: Instant, reports: &[PacketReport]) {
        // Only packets that carried a transport-wide number can be reported on. webrtc-rs
        // hands us the others too (a stream that negotiated no TWCC: the audio to Janus,
        // whose answer takes TWCC on video only), each as "not arrived" once a later packet
        // is acknowledged, which read as three packets in four lost on the link to the SFU.
        let numbered: Vec<PacketReport>;
        let reports = if reports.iter().all(|r| r.is_twcc) {
            reports
        } else {
            numbered = reports.iter().filter(|r| r.is_twcc).cloned().collect();
            &numbered
        };
        if reports.is_empty() {
            return;
        }
        let since_last = match self.updated {
            Some(at) if now.saturating_duration_since(at) > SILENCE => {
                // After an outage the path may be another one (an ICE restart): measure it
                // afresh rather than against the old one's delay.
                self.base.clear();
                self.arrived.clear();
                self.fates.clear();
                self.epoch = None;
                self.queue_ms = 0.0;
                Duration::ZERO
            }
            Some(at) => now.saturating_duration_since(at),
            None => Duration::ZERO,
        };
        self.updated = Some(now);
        if let Some(queue) = self.measure(now, reports) {
            self.queue_ms += 0.5 * (queue - self.queue_ms);
        }
        self.control(now, since_last);
        if self
            .logged
            .is_none_or(|at| now.saturating_duration_since(at) >= Duration::from_secs(1))
        {
            self.logged = Some(now);
            tracing::debug!(
                queue_ms = self.queue_ms,
                arriving = ?self.arriving_rate(),
                loss = ?self.loss(),
                target = self.target,
                "congestion"
            );
        }
    }

    fn target_bitrate(&self) -> f64 {
        self.target
    }

    fn stats(&self) -> EstimatorStats {
        let mut stats = EstimatorStats::default();
        stats.delay_based_bitrate = Some(self.target);
        stats.packet_loss = self.loss();
        stats
    }
}

#[cfg(test)]
mod tests;
