//! What the HTTP side ([`crate::server`]) and every connection task ([`crate::conn`]) share.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::ServerConfig;
use crate::hub::Hub;
use crate::metrics::Metrics;

/// What every connection task shares.
pub struct Shared {
    /// Settings.
    pub config: Arc<ServerConfig>,
    /// Rooms.
    pub hub: Arc<Hub>,
    /// Counters.
    pub metrics: Arc<Metrics>,
    /// Cancelled when the current `serve` shuts down: connections close with 1001. A new
    /// token is put here each time `serve` starts.
    pub shutdown: std::sync::Mutex<CancellationToken>,
    /// Tracks connection tasks so shutdown can wait for their close frames.
    pub tasks: TaskTracker,
}
