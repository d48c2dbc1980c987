//! The congestion controller's estimate, published from inside the interceptor chain to the
//! driver that sets the shared encoders' bitrate: 0.21's stats report leaves
//! `target_bitrate` at 0, so the estimator itself is wrapped to say what it decided.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use rtc::interceptor::{BandwidthEstimator, EstimatorStats, PacketReport};

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
}

impl Estimate {
    /// The target, once the controller has had feedback to base it on.
    pub fn target(&self) -> Option<f64> {
        (self.reports.load(Ordering::Relaxed) > 0)
            .then(|| f64::from_bits(self.target.load(Ordering::Relaxed)))
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
