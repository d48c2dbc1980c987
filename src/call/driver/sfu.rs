//! The room's media mode: the mesh (a link per peer) or the SFU (two links, `sfu-publish`
//! carrying our tracks up once and `sfu-subscribe` bringing everyone else down), and the
//! switch between them, make before break: the new links are made first and the old ones
//! closed only once the new ones carry media (or after [`SWITCH_LIMIT`]).
//!
//! The two SFU links are ordinary [`PeerLink`](crate::call::link::PeerLink)s with the
//! server's two pseudo-peer ids, so negotiation, ICE restarts, NACK, the jitter buffers and
//! congestion control are the mesh's own. What differs is here: which tracks each carries,
//! whose a subscribed track is (by its stream id, which the server keeps as the publisher
//! gave it), and where the subscribing link's figures go (to every peer it carries).

use std::time::{Duration, Instant};

use termmeet_signaling::protocol::{is_sfu_id, MediaMode, SFU_PUBLISH, SFU_SUBSCRIBE};

use super::MeshTask;
use crate::call::negotiation::Input;
use crate::call::peer::LinkState;

/// The old links close at the latest this long after a switch.
pub(super) const SWITCH_LIMIT: Duration = Duration::from_secs(15);
/// The old links close once the new ones have been connected this long.
const SETTLE: Duration = Duration::from_secs(2);

/// Where the room's media is, as this participant carries it.
#[derive(Debug, Default)]
pub(super) struct ModeState {
    /// The mode our links follow.
    pub(super) mode: MediaMode,
    /// When we last switched, while the old links still stand.
    switched: Option<Instant>,
    /// When the new links were first all connected, after a switch.
    settled: Option<Instant>,
}

impl MeshTask {
    /// The media mode the server last gave, followed: the new mode's links are made now,
    /// the old ones closed by [`MeshTask::finish_switch`].
    pub(super) async fn follow_mode(&mut self, now: Instant) {
        let wanted = self.meeting.read(|s| s.media_mode);
        if wanted == self.mode.mode || self.my_id().is_empty() {
            return;
        }
        tracing::info!(?wanted, "media mode");
        self.term.set_room(wanted == MediaMode::Sfu);
        self.mode = ModeState {
            mode: wanted,
            switched: Some(now),
            settled: None,
        };
        match wanted {
            MediaMode::Sfu => {
                // Through an SFU the short codes mean nothing: the SFU holds both ends.
                self.meeting.update(|s| {
                    for p in s.peers.values_mut() {
                        p.sas = None;
                    }
                });
                if !self.links.contains_key(SFU_PUBLISH) && self.open_link(SFU_PUBLISH).await {
                    self.negotiate(SFU_PUBLISH, Input::Negotiate, now).await;
                }
                // `sfu-subscribe` is made when the SFU offers it.
            }
            MediaMode::Mesh => {
                let peers: Vec<String> = self.meeting.read(|s| s.peers.keys().cloned().collect());
                for id in peers {
                    if !self.links.contains_key(&id) && self.open_link(&id).await {
                        self.negotiate(&id, Input::Negotiate, now).await;
                    }
                }
            }
        }
    }

    /// Whether `peer` should have a link of its own now.
    pub(super) fn meshed(&self) -> bool {
        self.mode.mode == MediaMode::Mesh
    }

    /// Closes the old mode's links once the new ones carry media, or at [`SWITCH_LIMIT`].
    pub(super) async fn finish_switch(&mut self, now: Instant) {
        let Some(switched) = self.mode.switched else {
            return;
        };
        let connected = |id: &str| {
            self.links
                .get(id)
                .is_some_and(|e| e.connect.ever_connected())
        };
        let new_ready = match self.mode.mode {
            MediaMode::Sfu => connected(SFU_PUBLISH) && connected(SFU_SUBSCRIBE),
            MediaMode::Mesh => self
                .links
                .keys()
                .filter(|id| !is_sfu_id(id))
                .all(|id| connected(id)),
        };
        if new_ready && self.mode.settled.is_none() {
            self.mode.settled = Some(now);
        }
        let settled = self
            .mode
            .settled
            .is_some_and(|t| now.duration_since(t) >= SETTLE);
        if !settled && now.duration_since(switched) < SWITCH_LIMIT {
            return;
        }
        let sfu = self.mode.mode == MediaMode::Sfu;
        let old: Vec<String> = self
            .links
            .keys()
            .filter(|id| is_sfu_id(id) != sfu)
            .cloned()
            .collect();
        tracing::info!(closing = old.len(), settled, "media mode switch done");
        for id in old {
            self.close_link(&id).await;
        }
        self.mode.switched = None;
    }

    /// The peer a track on the subscribing link is from: its camera stream is `cam-ID`,
    /// its screen the stream it announced.
    pub(super) fn publisher_of(&self, stream_id: &str) -> Option<String> {
        self.meeting.read(|s| {
            if let Some(id) = stream_id.strip_prefix("cam-") {
                if s.peers.contains_key(id) {
                    return Some(id.to_string());
                }
            }
            s.peers
                .iter()
                .find(|(_, p)| p.info.screen_stream_id.as_deref() == Some(stream_id))
                .map(|(id, _)| id.clone())
        })
    }

    /// The peers a link's state and figures are for: the peer itself, or every peer the
    /// subscribing link carries (those with no link of their own).
    pub(super) fn peers_of_link(&self, link: &str) -> Vec<String> {
        match link {
            SFU_SUBSCRIBE => self.meeting.read(|s| {
                s.peers
                    .keys()
                    .filter(|id| !self.links.contains_key(*id))
                    .cloned()
                    .collect()
            }),
            SFU_PUBLISH => Vec::new(),
            peer => vec![peer.to_string()],
        }
    }

    /// A link's connection state shown on the peers it is for.
    pub(super) fn show_link_state(&self, link: &str, state: LinkState) {
        let peers = self.peers_of_link(link);
        self.meeting.update(|s| {
            for id in &peers {
                if let Some(p) = s.peers.get_mut(id) {
                    p.connection = state;
                    if state != LinkState::Connected {
                        p.quality = crate::call::stats::Quality::Disconnected;
                    }
                }
            }
        });
    }
}
