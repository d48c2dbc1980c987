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
    /// The other instances serving the same rooms (`--redis`); none alone.
    pub cluster: Option<Arc<crate::cluster::Cluster>>,
    /// Open WebSocket connections per client address.
    pub per_ip: std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, usize>>,
}

/// One connection counted against its address; uncounted when dropped.
pub struct IpSlot {
    shared: Arc<Shared>,
    ip: std::net::IpAddr,
}

impl Shared {
    /// Counts a connection from `ip`, unless that address already has the most allowed.
    pub fn take_ip_slot(self: &Arc<Self>, ip: std::net::IpAddr) -> Option<IpSlot> {
        let mut per_ip = self.per_ip.lock().unwrap_or_else(|p| p.into_inner());
        let n = per_ip.entry(ip).or_default();
        if *n >= self.config.max_conns_per_ip {
            return None;
        }
        *n += 1;
        Some(IpSlot {
            shared: Arc::clone(self),
            ip,
        })
    }
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        let mut per_ip = self.shared.per_ip.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = per_ip.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                per_ip.remove(&self.ip);
            }
        }
    }
}
