//! Once a second: fresh TURN credentials when due, every link's stats fetched off the
//! loop (all links at once, each within a bound, so a slow one stalls neither signaling nor
//! the others), ICE restarts that are due, links that never connected, a TURN relay that
//! gave nothing, who fell silent, and sources that stopped.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use rtc::statistics::StatsSelector;
use termmeet_signaling::protocol::{is_sfu_id, ClientMessage};
use webrtc::peer_connection::PeerConnection;

use super::MeshTask;
use crate::call::error::MeshError;
use crate::call::health::{path_of, FarEnd, NEGOTIATION_TIMEOUT, RELAY_TIMEOUT};
use crate::call::inbound::PathFigures;
use crate::call::link::selected_remote_of;
use crate::call::negotiation::Input;
use crate::call::peer::LinkState;
use crate::call::stats::{LinkSample, Path};

/// A link's stats that take longer than this to fetch are skipped for this second.
const STATS_BOUND: Duration = Duration::from_millis(800);

/// What one link's stats said, fetched off the loop.
#[derive(Debug)]
pub(super) struct LinkReading {
    sample: LinkSample,
    far_end: FarEnd,
}

impl MeshTask {
    pub(super) async fn tick(&mut self) {
        let now = Instant::now();
        if self.ice_refresh.due(now) {
            self.signaling.send(ClientMessage::RefreshIce {});
        }
        self.start_readings(now);
        let peers: Vec<String> = self.links.keys().cloned().collect();
        for peer in &peers {
            self.negotiate(peer, Input::Tick, now).await;
        }
        self.finish_switch(now).await;
        self.check_never_connected(now);
        self.check_relay(now);
        self.quiet_the_silent();
        self.watch_sources();
    }

    /// Fetches every link's stats in a task of its own, all at once, each within
    /// [`STATS_BOUND`]; they come back to [`MeshTask::on_readings`]. One fetch at a time.
    fn start_readings(&mut self, now: Instant) {
        if self.reading || self.links.is_empty() {
            return;
        }
        self.reading = true;
        let connections: Vec<(String, Arc<dyn PeerConnection>)> = self
            .links
            .iter()
            .map(|(peer, e)| (peer.clone(), Arc::clone(e.link.connection())))
            .collect();
        let tx = self.readings_tx.clone();
        tokio::spawn(async move {
            let reads = connections.into_iter().map(|(peer, pc)| async move {
                let read = async {
                    let report = pc.get_stats(now, StatsSelector::None).await;
                    LinkReading {
                        sample: LinkSample::from_report(&report),
                        far_end: selected_remote_of(&pc).await,
                    }
                };
                match tokio::time::timeout(STATS_BOUND, read).await {
                    Ok(reading) => Some((peer, reading)),
                    Err(_) => {
                        tracing::debug!(%peer, "stats took too long; skipped this second");
                        None
                    }
                }
            });
            let readings = join_all(reads).await.into_iter().flatten().collect();
            let _ = tx.send(readings);
        });
    }

    /// Turns the links' stats into the figures people see and the path the receivers'
    /// jitter buffers wait by.
    pub(super) async fn on_readings(&mut self, readings: Vec<(String, LinkReading)>) {
        self.reading = false;
        let now = Instant::now();
        let mut upload_kbps = 0.0;
        for (peer, reading) in readings {
            let shown_on = self.peers_of_link(&peer);
            let connected = self.meeting.read(|s| {
                s.peers
                    .get(&peer)
                    .is_some_and(|p| p.connection == LinkState::Connected)
            }) || (is_sfu_id(&peer)
                && self
                    .links
                    .get(&peer)
                    .is_some_and(|e| e.connect.ever_connected()));
            let relays = &self.remote_relays;
            let Some(entry) = self.links.get_mut(&peer) else {
                continue;
            };
            let mut sample = reading.sample;
            sample.path = path_of(sample.path, &sample.remote_address, &reading.far_end, |a| {
                relays.announced(&peer, a)
            });
            // The estimate comes from the controller itself: 0.21's stats report leaves
            // `target_bitrate` at 0 (see `estimate`).
            let estimate = entry.link.estimate();
            entry.link.set_rtt(sample.rtt_ms);
            let mut figures = entry.stats.push(now, sample, connected);
            upload_kbps += figures.bitrate_out_kbps;
            if is_sfu_id(&peer) {
                figures.path = Path::Sfu;
            }
            tracing::debug!(%peer, ?estimate, rtt = figures.rtt_ms, path = %figures.path, "link sample");
            let ms = |v: f64| Duration::from_secs_f64((v.max(0.0) / 1000.0).min(10.0));
            entry.path.send_replace(PathFigures {
                rtt: ms(figures.rtt_ms),
                jitter: ms(figures.jitter_ms),
                loss: figures.loss_pct / 100.0,
            });
            self.meeting.update(|s| {
                for id in &shown_on {
                    let Some(p) = s.peers.get_mut(id) else {
                        continue;
                    };
                    p.rtt_ms = figures.rtt_ms;
                    p.loss_pct = figures.loss_pct;
                    p.bitrate_kbps = figures.bitrate_kbps;
                    p.bitrate_out_kbps = figures.bitrate_out_kbps;
                    p.jitter_ms = figures.jitter_ms;
                    p.path = figures.path;
                    p.quality = figures.quality;
                }
            });
        }
        self.meeting
            .update_if(|s| std::mem::replace(&mut s.upload_kbps, upload_kbps) != upload_kbps);
    }

    /// A link that has not connected within [`NEGOTIATION_TIMEOUT`] is said once.
    fn check_never_connected(&mut self, now: Instant) {
        let never: Vec<String> = self
            .links
            .iter_mut()
            .filter_map(|(peer, e)| e.connect.never_connected(now).then(|| peer.clone()))
            .collect();
        for peer in never {
            self.error(MeshError::NeverConnected {
                name: self.name_of(&peer),
                secs: NEGOTIATION_TIMEOUT.as_secs(),
            });
        }
    }

    /// With a TURN relay configured, a link that gathered for [`RELAY_TIMEOUT`] without a
    /// relay candidate means the relay refused us or cannot be reached: said once, not left
    /// to look like a hang.
    fn check_relay(&mut self, now: Instant) {
        let turn: Vec<&str> = self
            .ice_servers
            .iter()
            .flat_map(|s| s.urls.iter())
            .filter(|u| u.starts_with("turn"))
            .map(String::as_str)
            .collect();
        let oldest = self.links.values().map(|l| l.connect.created()).min();
        if self.relay.gave_nothing(!turn.is_empty(), oldest, now) {
            let urls = turn.join(", ");
            self.error(MeshError::NoRelay {
                urls,
                secs: RELAY_TIMEOUT.as_secs(),
            });
        }
    }

    /// A peer from whom no audio came since the last tick is not speaking.
    fn quiet_the_silent(&mut self) {
        let audio_seen = &mut self.audio_seen;
        self.meeting.update_if(|s| {
            let mut changed = false;
            for (id, p) in s.peers.iter_mut() {
                let before = audio_seen.insert(id.clone(), p.audio_ms);
                if before == Some(p.audio_ms) && p.audio_level > 0.0 {
                    p.audio_level = 0.0;
                    changed = true;
                }
            }
            changed
        });
    }
}
