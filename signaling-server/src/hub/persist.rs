//! A room's state outside the process, for a cluster (`--redis`): after every change the
//! owner hands the room's snapshot (and each chat line) to the cluster, which stores it in
//! Redis; an instance that takes the room over after its owner stopped restores it from
//! there, every participant waiting for its resume.

use std::collections::VecDeque;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use super::room::{Link, Member, Room};
use super::{Hub, Seat};
use crate::protocol::{ChatMessage, PeerId, PeerInfo};

/// What the owner of a room asks to be stored, in the order the changes happened.
#[derive(Debug)]
pub enum Persist {
    /// The room's state but its chat, as JSON ([`RoomSnapshot`]).
    Room(String, String),
    /// One chat line, as JSON ([`ChatMessage`]).
    Chat(String, String),
    /// The room closed (its last participant left).
    Closed(String),
}

/// A room as stored: everything a resume needs but the chat history (kept as a stream).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct RoomSnapshot {
    /// The host's id (empty: none).
    pub host: PeerId,
    /// Raised hands, first raised first.
    pub hands: Vec<PeerId>,
    /// Whether chat is allowed.
    pub chat_enabled: bool,
    /// The last chat `seq` given out.
    pub chat_seq: u64,
    /// Participants in join order.
    pub members: Vec<MemberSnapshot>,
}

/// One participant as stored.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct MemberSnapshot {
    /// What everyone is told about it.
    pub info: PeerInfo,
    /// Whether it may be host.
    pub may_host: bool,
    /// Its resume token.
    pub resume_token: String,
    /// Whether its client can take the SFU.
    pub sfu: bool,
}

impl RoomSnapshot {
    /// The snapshot of `room`.
    fn of(room: &Room) -> RoomSnapshot {
        RoomSnapshot {
            host: room.host.clone(),
            hands: room.hands.clone(),
            chat_enabled: room.chat_enabled,
            chat_seq: room.chat_seq,
            members: room
                .members
                .iter()
                .map(|m| MemberSnapshot {
                    info: m.info.clone(),
                    may_host: m.may_host,
                    resume_token: m.resume_token.clone(),
                    sfu: m.sfu,
                })
                .collect(),
        }
    }
}

impl Hub {
    /// Where this hub's changes go from now on; returns the receiving end.
    pub fn persist_changes(&self) -> mpsc::UnboundedReceiver<Persist> {
        let (tx, rx) = mpsc::unbounded_channel();
        *self.persist.lock().unwrap_or_else(|p| p.into_inner()) = Some(tx);
        rx
    }

    /// Hands `change` on, when the hub is in a cluster.
    fn emit(&self, change: Persist) {
        if let Some(tx) = &*self.persist.lock().unwrap_or_else(|p| p.into_inner()) {
            let _ = tx.send(change);
        }
    }

    /// Stores the room's state as it is now (or that it closed, if it is gone).
    pub(super) fn persist_room(&self, name: &str, room: Option<&Room>) {
        if self.persist_off() {
            return;
        }
        match room {
            Some(room) => {
                let json = serde_json::to_string(&RoomSnapshot::of(room)).unwrap_or_default();
                self.emit(Persist::Room(name.to_string(), json));
            }
            None => self.emit(Persist::Closed(name.to_string())),
        }
    }

    /// Stores every room here afresh, chat included (after Redis came back, perhaps empty).
    pub fn persist_all(&self) {
        if self.persist_off() {
            return;
        }
        let state = self.lock();
        for (name, room) in &state.rooms {
            self.emit(Persist::Closed(name.clone()));
            for line in &room.chat_history {
                self.persist_chat(name, line);
            }
            self.persist_room(name, Some(room));
        }
    }

    /// Stores one chat line.
    pub(super) fn persist_chat(&self, name: &str, line: &ChatMessage) {
        if !self.persist_off() {
            let json = serde_json::to_string(line).unwrap_or_default();
            self.emit(Persist::Chat(name.to_string(), json));
        }
    }

    /// Whether nothing is stored (a lone server).
    fn persist_off(&self) -> bool {
        self.persist
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_none()
    }

    /// Opens `name` as it was stored by an instance that stopped: every participant away,
    /// waiting the grace period for its resume. Does nothing if the room is open here.
    pub fn restore(
        self: &Arc<Self>,
        name: &str,
        snapshot: RoomSnapshot,
        history: Vec<ChatMessage>,
    ) {
        let mut waiting = Vec::new();
        {
            let mut state = self.lock();
            if state.rooms.contains_key(name) || snapshot.members.is_empty() {
                return;
            }
            let mut room = Room::new();
            room.host = snapshot.host;
            room.hands = snapshot.hands;
            room.chat_enabled = snapshot.chat_enabled;
            room.chat_seq = snapshot.chat_seq;
            let keep = crate::protocol::CHAT_HISTORY_LEN;
            room.chat_history = history
                .into_iter()
                .rev()
                .take(keep)
                .rev()
                .collect::<VecDeque<_>>();
            for m in snapshot.members {
                state.next_epoch += 1;
                let epoch = state.next_epoch;
                let seat = Seat {
                    room: name.to_string(),
                    id: m.info.id.clone(),
                };
                state.tokens.insert(m.resume_token.clone(), seat.clone());
                room.members.push(Member {
                    info: m.info,
                    may_host: m.may_host,
                    resume_token: m.resume_token,
                    link: Link::Detached {
                        epoch,
                        queued: VecDeque::new(),
                    },
                    sfu: m.sfu,
                    view: None,
                });
                waiting.push((seat, epoch));
            }
            state.rooms.insert(name.to_string(), room);
        }
        tracing::info!(
            room = name,
            participants = waiting.len(),
            "room restored; waiting for its participants to resume"
        );
        for (seat, epoch) in waiting {
            self.start_grace(seat, epoch);
        }
    }
}
