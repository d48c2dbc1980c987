//! Leaving a room, at once or when a grace period runs out: the seat and its resume token
//! go, the others are told, a raised hand comes down and the host passes on.

use std::sync::atomic::Ordering;

use super::room::broadcast;
use super::{Hub, HubState, Seat};
use crate::protocol::ServerMessage;

impl Hub {
    /// Removes a participant now (`leave`, or its grace period ran out).
    pub fn leave(&self, seat: &Seat) {
        let mut state = self.lock();
        self.remove_and_store(&mut state, seat, "leave");
    }

    /// [`Hub::remove`], then the room's state (or its end) stored, in a cluster.
    pub(super) fn remove_and_store(&self, state: &mut HubState, seat: &Seat, why: &str) {
        self.remove(state, seat, why);
        self.persist_room(&seat.room, state.rooms.get(&seat.room));
    }

    /// Removes a participant from its room, closing the room when it was the last; `why`
    /// goes into the log.
    pub(super) fn remove(&self, state: &mut HubState, seat: &Seat, why: &str) {
        let metrics = &self.metrics;
        let Some(room) = state.rooms.get_mut(&seat.room) else {
            return;
        };
        let Some(index) = room.members.iter().position(|m| m.info.id == seat.id) else {
            return;
        };
        let member = room.members.remove(index);
        state.tokens.remove(&member.resume_token);
        metrics.leaves_total.fetch_add(1, Ordering::Relaxed);
        tracing::info!(room = %seat.room, peer = %seat.id, why, "left");
        if room.members.is_empty() {
            let was_sfu = !room.mode.is_mesh();
            state.rooms.remove(&seat.room);
            if was_sfu {
                self.after_leave(None, &seat.room, &seat.id);
            }
            return;
        }
        self.after_leave(Some(room), &seat.room, &seat.id);
        let Some(room) = state.rooms.get_mut(&seat.room) else {
            return;
        };
        broadcast(
            room,
            &ServerMessage::PeerLeft {
                id: seat.id.clone(),
            },
            None,
            metrics,
        );
        if room.hands.contains(&seat.id) {
            room.hands.retain(|h| *h != seat.id);
            let queue = room.hands.clone();
            broadcast(
                room,
                &ServerMessage::LowerHand {
                    from: seat.id.clone(),
                    peer: seat.id.clone(),
                    queue,
                },
                None,
                metrics,
            );
        }
        if room.host == seat.id {
            // Members are kept in join order, so the first who may host is the earliest
            // joiner left; with tokens, there may be none until a host joins.
            let Some(next) = room.members.iter().find(|m| m.may_host) else {
                room.host.clear();
                return;
            };
            room.host = next.info.id.clone();
            let host = room.host.clone();
            tracing::info!(room = %seat.room, peer = %host, "new host");
            broadcast(room, &ServerMessage::Host { id: host }, None, metrics);
        }
    }
}
