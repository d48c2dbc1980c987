//! The congestion controller's estimate, published from inside the interceptor chain to the
//! driver that sets the shared encoders' bitrate: 0.21's stats report leaves
//! `target_bitrate` at 0, so the estimator itself is wrapped to say what it decided. Beside
//! it, the most the receiver says it takes (REMB, as Janus caps its publishers): the link's
//! target is the lower of the two.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rtc::interceptor::{BandwidthEstimator, EstimatorStats, PacketReport};

use crate::sync::lock;

/// How long a receiver's REMB cap holds without another: Janus repeats its every 5 s.
pub const REMB_HOLDS: Duration = Duration::from_secs(15);

/// A congestion estimate shared between the controller (inside the interceptor chain) and the
/// mesh that sets the encoders' bitrate.
#[derive(Clone, Debug, Default)]
pub struct Estimate {
    /// Bits a second, as `f64` bits.
    pub(crate) target: Arc<AtomicU64>,
    /// Feedback reports the controller has taken in.
    pub(crate) reports: Arc<AtomicU64>,
    /// The link's round trip as last measured, milliseconds (for the pacer's resends).
    pub(crate) rtt: super::pacer::SharedRtt,
    /// The newest REMB from the receiver, bits a second, and when it came.
    pub(crate) remb: Arc<Mutex<Option<(f64, Instant)>>>,
}

impl Estimate {
    /// The target: the controller's, once it has had feedback to base it on, no higher than
    /// what the receiver last said it takes (while that holds); the receiver's cap alone
    /// before the controller has anything.
    pub fn target(&self) -> Option<f64> {
        self.target_at(Instant::now())
    }

    fn target_at(&self, now: Instant) -> Option<f64> {
        let own = (self.reports.load(Ordering::Relaxed) > 0)
            .then(|| f64::from_bits(self.target.load(Ordering::Relaxed)));
        match (own, self.remb_at(now)) {
            (Some(own), Some(cap)) => Some(own.min(cap)),
            (own, cap) => own.or(cap),
        }
    }

    /// The receiver's REMB cap, bits a second, while it holds.
    fn remb_at(&self, now: Instant) -> Option<f64> {
        lock(&self.remb)
            .filter(|(_, at)| now.saturating_duration_since(*at) < REMB_HOLDS)
            .map(|(bps, _)| bps)
    }

    /// A REMB came from the receiver: at most `bps` bits a second from now on.
    pub(crate) fn set_remb(&self, bps: f64, now: Instant) {
        if bps.is_finite() && bps > 0.0 {
            *lock(&self.remb) = Some((bps, now));
        }
    }
}

/// Wraps an estimator so its target is published after every change (the way webrtc-rs's
/// bandwidth estimation example reads it: the estimator is the one part of the loop the
/// application supplies).
pub(crate) struct Published<E: BandwidthEstimator> {
    inner: E,
    estimate: Estimate,
}

impl<E: BandwidthEstimator> Published<E> {
    pub(crate) fn new(inner: E) -> (Published<E>, Estimate) {
        let estimate = Estimate::default();
        estimate
            .target
            .store(inner.target_bitrate().to_bits(), Ordering::Relaxed);
        (
            Published {
                inner,
                estimate: estimate.clone(),
            },
            estimate,
        )
    }

    fn publish(&self) {
        self.estimate
            .target
            .store(self.inner.target_bitrate().to_bits(), Ordering::Relaxed);
    }
}

impl<E: BandwidthEstimator> BandwidthEstimator for Published<E> {
    fn on_reports(&mut self, now: Instant, reports: &[PacketReport]) {
        self.inner.on_reports(now, reports);
        // The controller logs its own figures (see `congestion`).
        self.estimate.reports.fetch_add(1, Ordering::Relaxed);
        self.publish();
    }

    fn target_bitrate(&self) -> f64 {
        self.inner.target_bitrate()
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.inner.handle_timeout(now);
        self.publish();
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.inner.poll_timeout()
    }

    fn stats(&self) -> EstimatorStats {
        self.inner.stats()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_target(bps: f64) -> Estimate {
        let e = Estimate::default();
        e.target.store(bps.to_bits(), Ordering::Relaxed);
        e.reports.store(1, Ordering::Relaxed);
        e
    }

    #[test]
    fn a_receivers_remb_caps_the_target_while_it_holds() {
        let now = Instant::now();
        let e = with_target(900_000.0);
        assert_eq!(e.target_at(now), Some(900_000.0));
        e.set_remb(300_000.0, now);
        assert_eq!(e.target_at(now + Duration::from_secs(4)), Some(300_000.0));
        // A cap above the controller's estimate changes nothing.
        e.set_remb(2_000_000.0, now);
        assert_eq!(e.target_at(now), Some(900_000.0));
        // Not repeated: it lapses, and the controller's estimate is the target again.
        e.set_remb(300_000.0, now);
        assert_eq!(e.target_at(now + REMB_HOLDS), Some(900_000.0));
    }

    #[test]
    fn before_any_feedback_the_cap_alone_is_the_target_and_nonsense_is_ignored() {
        let now = Instant::now();
        let e = Estimate::default();
        assert_eq!(e.target_at(now), None);
        e.set_remb(f64::NAN, now);
        e.set_remb(0.0, now);
        assert_eq!(e.target_at(now), None);
        e.set_remb(500_000.0, now);
        assert_eq!(e.target_at(now), Some(500_000.0));
    }
}
