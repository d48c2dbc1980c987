//! Counters behind `/metrics`, in Prometheus' text format.

use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use crate::protocol::ErrorCode;

/// Counters shared by every connection; all updates are relaxed atomics.
#[derive(Default)]
pub struct Metrics {
    /// WebSocket connections open now.
    pub connections: AtomicI64,
    /// WebSocket connections accepted since start.
    pub connections_total: AtomicU64,
    /// Frames read from clients.
    pub messages_received: AtomicU64,
    /// Messages relayed to one peer (offer, answer, candidate).
    pub messages_relayed: AtomicU64,
    /// Messages broadcast to a room (each counted once, not per receiver).
    pub messages_broadcast: AtomicU64,
    /// Joins, resumes included.
    pub joins_total: AtomicU64,
    /// Participants removed (leave, or grace ran out).
    pub leaves_total: AtomicU64,
    /// Successful resumes.
    pub resumes_total: AtomicU64,
    /// Connections dropped because they stopped reading.
    pub slow_clients_dropped: AtomicU64,
    /// `error` messages sent, by code.
    errors: [AtomicU64; ErrorCode::ALL.len()],
}

impl Metrics {
    /// Counts one `error` sent.
    pub fn count_error(&self, code: ErrorCode) {
        self.errors[code.index()].fetch_add(1, Ordering::Relaxed);
    }

    /// How many errors of `code` were sent.
    pub fn errors(&self, code: ErrorCode) -> u64 {
        self.errors[code.index()].load(Ordering::Relaxed)
    }

    /// The Prometheus text exposition, with the room gauges read by the caller.
    pub fn render(&self, rooms: usize, participants: usize) -> String {
        let mut out = String::new();
        for (name, help, kind, value) in self.series(rooms, participants) {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP termmeet_errors_total Error messages sent, by code.\n# TYPE termmeet_errors_total counter"
        );
        for code in ErrorCode::ALL {
            let _ = writeln!(
                out,
                "termmeet_errors_total{{code=\"{code}\"}} {}",
                self.errors(code)
            );
        }
        out
    }

    /// Name, help, kind and value of each series but the errors, in the order they are
    /// written.
    fn series(
        &self,
        rooms: usize,
        participants: usize,
    ) -> [(&'static str, &'static str, &'static str, String); 11] {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed).to_string();
        [
            (
                "termmeet_connections",
                "WebSocket connections open now.",
                "gauge",
                self.connections.load(Ordering::Relaxed).to_string(),
            ),
            (
                "termmeet_connections_total",
                "WebSocket connections accepted.",
                "counter",
                load(&self.connections_total),
            ),
            (
                "termmeet_rooms",
                "Rooms open now.",
                "gauge",
                rooms.to_string(),
            ),
            (
                "termmeet_participants",
                "Participants in rooms now, those within their resume grace period included.",
                "gauge",
                participants.to_string(),
            ),
            (
                "termmeet_messages_received_total",
                "Frames read from clients.",
                "counter",
                load(&self.messages_received),
            ),
            (
                "termmeet_messages_relayed_total",
                "Offers, answers and candidates relayed to a peer.",
                "counter",
                load(&self.messages_relayed),
            ),
            (
                "termmeet_messages_broadcast_total",
                "Messages broadcast to a room.",
                "counter",
                load(&self.messages_broadcast),
            ),
            (
                "termmeet_joins_total",
                "Joins.",
                "counter",
                load(&self.joins_total),
            ),
            (
                "termmeet_leaves_total",
                "Participants removed.",
                "counter",
                load(&self.leaves_total),
            ),
            (
                "termmeet_resumes_total",
                "Sessions resumed.",
                "counter",
                load(&self.resumes_total),
            ),
            (
                "termmeet_slow_clients_dropped_total",
                "Connections dropped because their outgoing queue filled.",
                "counter",
                load(&self.slow_clients_dropped),
            ),
        ]
    }
}
