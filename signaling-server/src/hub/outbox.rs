//! The way into one connection's writer: a bounded queue, and a kick for a connection whose
//! queue is full because it stopped reading.

use std::sync::atomic::Ordering;

use axum::extract::ws::Utf8Bytes;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::metrics::Metrics;
use crate::protocol::ServerMessage;

/// One frame for a connection's writer.
#[derive(Debug)]
pub enum Outbound {
    /// A JSON text frame.
    Text(Utf8Bytes),
    /// A close frame with this code and reason; the writer stops after it.
    Close(u16, &'static str),
}

/// The way into one connection's writer.
#[derive(Clone)]
pub struct Outbox {
    /// Bounded queue to the writer task.
    tx: mpsc::Sender<Outbound>,
    /// Cancelled to drop the connection when its queue is full (it stopped reading).
    pub(super) kick: CancellationToken,
    /// Which connection this is, so a stale disconnect after a resume is ignored.
    pub(super) conn_id: u64,
}

impl Outbox {
    /// A new outbox, the receiver for the writer, and the connection's kick token.
    pub fn new(
        capacity: usize,
        conn_id: u64,
    ) -> (Outbox, mpsc::Receiver<Outbound>, CancellationToken) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let kick = CancellationToken::new();
        (
            Outbox {
                tx,
                kick: kick.clone(),
                conn_id,
            },
            rx,
            kick,
        )
    }

    /// Queues a frame without waiting. A full queue means the client is not reading: the
    /// connection is dropped rather than buffering without bound.
    pub fn push(&self, frame: Outbound, metrics: &Metrics) {
        match self.tx.try_send(frame) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                if !self.kick.is_cancelled() {
                    tracing::warn!(conn = self.conn_id, "client is not reading; dropping it");
                    metrics.slow_clients_dropped.fetch_add(1, Ordering::Relaxed);
                    self.kick.cancel();
                }
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }

    /// Waits until at least `free` slots of the queue are free (the writer caught up).
    /// Returns false if the connection's writer is gone.
    pub async fn wait_for_room(&self, free: usize) -> bool {
        if self.tx.capacity() >= free {
            return true;
        }
        self.tx
            .reserve_many(free.min(self.tx.max_capacity()))
            .await
            .is_ok()
    }

    /// Drops the connection (its reader ends as if its queue had filled).
    pub fn kick(&self) {
        self.kick.cancel();
    }

    /// Queues a server message.
    pub fn send(&self, message: &ServerMessage, metrics: &Metrics) {
        self.push(Outbound::Text(message.to_json().into()), metrics);
    }
}
