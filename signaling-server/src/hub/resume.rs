//! A participant who dropped without `leave`: its seat is kept for the grace period, relays
//! to it wait, and a `join` with its resume token puts it back on the new connection.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::outbox::{Outbound, Outbox};
use super::room::{Link, Room};
use super::{Hub, HubState, Seat};
use crate::protocol::{ChatMessage, PeerInfo, ServerMessage, You};

impl Hub {
    /// The seat behind a resume token, put back on this connection, when the token is for
    /// this room and the participant is still within its grace period.
    pub(super) fn try_resume(
        &self,
        state: &mut HubState,
        token: &str,
        room_name: &str,
        outbox: &Outbox,
    ) -> Option<Seat> {
        let seat = state.tokens.get(token).cloned()?;
        if seat.room != room_name {
            return None;
        }
        let room = state.rooms.get_mut(&seat.room)?;
        self.resume(room, &seat, outbox)
    }

    /// Puts a dropped participant back on a new connection: same id, no `peer-joined`, and
    /// the relays that waited are delivered after `peers`.
    fn resume(&self, room: &mut Room, seat: &Seat, outbox: &Outbox) -> Option<Seat> {
        let metrics = &self.metrics;
        let peers: Vec<PeerInfo> = room
            .members
            .iter()
            .filter(|m| m.info.id != seat.id)
            .map(|m| m.info.clone())
            .collect();
        let (host, hands, chat_enabled) =
            (room.host.clone(), room.hands.clone(), room.chat_enabled);
        let history: Vec<ChatMessage> = room.chat_history.iter().cloned().collect();
        let mode = room.mode;
        let member = room.member_mut(&seat.id)?;
        let queued = match std::mem::replace(&mut member.link, Link::Live(outbox.clone())) {
            Link::Detached { queued, .. } => queued,
            // The old connection is still open (half-open TCP): the new one takes over.
            Link::Live(old) => {
                old.kick.cancel();
                VecDeque::new()
            }
        };
        outbox.send(
            &ServerMessage::Peers {
                you: You {
                    id: member.info.id.clone(),
                    name: member.info.name.clone(),
                },
                resume_token: member.resume_token.clone(),
                host,
                peers,
                hands,
                chat_enabled,
                chat_history: history,
                ice_servers: crate::turn::ice_servers_for(&self.config, &seat.id),
                resume_failed: false,
                media_mode: mode,
            },
            metrics,
        );
        for frame in queued {
            outbox.push(Outbound::Text(frame), metrics);
        }
        metrics.resumes_total.fetch_add(1, Ordering::Relaxed);
        tracing::info!(room = %seat.room, peer = %seat.id, "resume");
        Some(seat.clone())
    }

    /// The connection `conn_id` of a participant dropped without `leave`: keep its seat for
    /// the grace period, then remove it unless it resumed.
    pub fn detach(self: &Arc<Self>, seat: &Seat, conn_id: u64) {
        let epoch = {
            let mut state = self.lock();
            state.next_epoch += 1;
            let epoch = state.next_epoch;
            let Some(member) = state
                .rooms
                .get_mut(&seat.room)
                .and_then(|r| r.member_mut(&seat.id))
            else {
                return;
            };
            match &member.link {
                Link::Live(outbox) if outbox.conn_id == conn_id => {}
                // Already detached, or resumed on a newer connection.
                _ => return,
            }
            member.link = Link::Detached {
                epoch,
                queued: VecDeque::new(),
            };
            epoch
        };
        tracing::info!(room = %seat.room, peer = %seat.id, "dropped; waiting for resume");
        self.start_grace(seat.clone(), epoch);
    }

    /// Removes the participant at `seat` after the grace period, unless it resumed (or
    /// dropped again: a newer `epoch`) by then.
    pub(super) fn start_grace(self: &Arc<Self>, seat: Seat, epoch: u64) {
        let hub = Arc::clone(self);
        let grace = self.config.grace;
        tokio::spawn(async move {
            tokio::time::sleep(grace).await;
            let mut state = hub.lock();
            let still_detached = state
                .rooms
                .get(&seat.room)
                .and_then(|r| r.member(&seat.id))
                .is_some_and(|m| matches!(m.link, Link::Detached { epoch: e, .. } if e == epoch));
            if still_detached {
                hub.remove_and_store(&mut state, &seat, "grace period over");
            }
        });
    }
}
