//! Sound streams' errors, logged without flooding the log.

use std::time::Duration;

/// A sound stream's errors, for the log: the first of a run, then a count at most once a
/// second. A sound server that is recovering from an underrun over a slow link can fail
/// every call for a moment, hundreds of times a second.
pub struct StreamErrors {
    what: &'static str,
    since: Option<std::time::Instant>,
    unlogged: u64,
}

impl StreamErrors {
    /// Errors of the stream `what` ("speaker", "microphone").
    pub fn new(what: &'static str) -> StreamErrors {
        StreamErrors {
            what,
            since: None,
            unlogged: 0,
        }
    }

    /// One more error; logs what is due.
    pub fn note(&mut self, error: &dyn std::fmt::Display) {
        let now = std::time::Instant::now();
        match self.since {
            Some(at) if now.duration_since(at) < Duration::from_secs(1) => self.unlogged += 1,
            _ => {
                if let (Some(at), true) = (self.since, self.unlogged > 0) {
                    tracing::warn!(
                        "{}: {} more stream errors in the {:.1} s after that one",
                        self.what,
                        self.unlogged,
                        now.duration_since(at).as_secs_f64()
                    );
                }
                tracing::warn!("{} stream error: {error}", self.what);
                self.since = Some(now);
                self.unlogged = 0;
            }
        }
    }
}
