//! The per-connection message budget: a token bucket, with strikes that end a connection
//! which keeps going over. Time is passed in, so tests step it without sleeping.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// What the rate limiter says about one message.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Within budget.
    Allow,
    /// Over budget: answer `rate-limited`.
    Limited,
    /// Over budget for the third time within the strike window: close with 1008.
    Close,
}

/// A token bucket of `burst` tokens refilled at `rate` a second.
#[derive(Debug)]
pub struct RateLimiter {
    /// Tokens a second.
    rate: f64,
    /// Bucket size.
    burst: f64,
    /// Tokens now.
    tokens: f64,
    /// When `tokens` was last brought up to date.
    last: Instant,
    /// When recent `rate-limited` answers were sent, oldest first.
    strikes: VecDeque<Instant>,
}

/// Strikes within this window close the connection.
const STRIKE_WINDOW: Duration = Duration::from_secs(10);
/// How many strikes close it.
const STRIKES_TO_CLOSE: usize = 3;

impl RateLimiter {
    /// A full bucket.
    pub fn new(rate: f64, burst: f64, now: Instant) -> Self {
        RateLimiter {
            rate,
            burst,
            tokens: burst,
            last: now,
            strikes: VecDeque::new(),
        }
    }

    /// Takes one token for a message arriving at `now`.
    pub fn check(&mut self, now: Instant) -> Verdict {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return Verdict::Allow;
        }
        while self
            .strikes
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) > STRIKE_WINDOW)
        {
            self.strikes.pop_front();
        }
        self.strikes.push_back(now);
        if self.strikes.len() >= STRIKES_TO_CLOSE {
            Verdict::Close
        } else {
            Verdict::Limited
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_refill_then_strikes() {
        let t0 = Instant::now();
        let mut r = RateLimiter::new(50.0, 200.0, t0);
        for _ in 0..200 {
            assert_eq!(r.check(t0), Verdict::Allow);
        }
        assert_eq!(r.check(t0), Verdict::Limited);
        // 100 ms later, 5 tokens are back.
        let t1 = t0 + Duration::from_millis(100);
        for _ in 0..5 {
            assert_eq!(r.check(t1), Verdict::Allow);
        }
        assert_eq!(r.check(t1), Verdict::Limited);
        assert_eq!(r.check(t1), Verdict::Close);
    }

    #[test]
    fn old_strikes_expire() {
        let t0 = Instant::now();
        let mut r = RateLimiter::new(1.0, 1.0, t0);
        assert_eq!(r.check(t0), Verdict::Allow);
        assert_eq!(r.check(t0), Verdict::Limited);
        assert_eq!(r.check(t0), Verdict::Limited);
        let later = t0 + Duration::from_secs(11);
        assert_eq!(r.check(later), Verdict::Allow);
        assert_eq!(r.check(later), Verdict::Limited);
    }
}
