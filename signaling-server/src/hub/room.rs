//! One room as the hub keeps it (members in join order, host, hands, chat), and delivery of
//! frames to its members, live or waiting for a resume.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;

use axum::extract::ws::Utf8Bytes;

use super::outbox::{Outbound, Outbox};
use crate::metrics::Metrics;
use crate::protocol::{ChatMessage, MediaMode, PeerId, PeerInfo, ServerMessage};

/// A room with its participants; it exists while it has at least one.
pub(super) struct Room {
    /// Participants in join order (the host-succession order).
    pub(super) members: Vec<Member>,
    /// Current host.
    pub(super) host: PeerId,
    /// Raised hands, first raised first.
    pub(super) hands: Vec<PeerId>,
    /// Whether chat is allowed (the host can turn it off for everyone but itself).
    pub(super) chat_enabled: bool,
    /// The last [`CHAT_HISTORY_LEN`](crate::protocol::CHAT_HISTORY_LEN) chat messages.
    pub(super) chat_history: VecDeque<ChatMessage>,
    /// The last chat `seq` given out.
    pub(super) chat_seq: u64,
    /// How the room carries media.
    pub(super) mode: MediaMode,
    /// Counts switches, so a timer set before one does nothing after it.
    pub(super) mode_epoch: u64,
}

/// One participant of a room.
pub(super) struct Member {
    /// What everyone is told about the participant.
    pub(super) info: PeerInfo,
    /// Whether this participant may be host (always, unless join tokens are on and its
    /// token is a guest's).
    pub(super) may_host: bool,
    /// The token that puts this participant back on a new connection.
    pub(super) resume_token: String,
    /// Where the participant's frames go.
    pub(super) link: Link,
    /// Whether its client can take the SFU (it said so in `join`).
    pub(super) sfu: bool,
    /// The peers whose cameras it shows (`view`); `None`: everyone's.
    pub(super) view: Option<Vec<PeerId>>,
}

/// A participant's connection, or the frames waiting for it to come back.
pub(super) enum Link {
    /// Connected: frames go straight to the connection.
    Live(Outbox),
    /// Dropped without `leave`, within the grace period: relays wait here.
    Detached {
        /// Which detach this is, so that an older grace timer leaves a resumed seat alone.
        epoch: u64,
        /// Relays waiting for the resume, oldest first.
        queued: VecDeque<Utf8Bytes>,
    },
}

impl Room {
    /// A room about to get its first participant: no host yet, chat on.
    pub(super) fn new() -> Room {
        Room {
            members: Vec::new(),
            host: String::new(),
            hands: Vec::new(),
            chat_enabled: true,
            chat_history: VecDeque::new(),
            chat_seq: 0,
            mode: MediaMode::Mesh,
            mode_epoch: 0,
        }
    }

    /// The member with this id.
    pub(super) fn member(&self, id: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.info.id == id)
    }

    /// The member with this id, to change.
    pub(super) fn member_mut(&mut self, id: &str) -> Option<&mut Member> {
        self.members.iter_mut().find(|m| m.info.id == id)
    }
}

/// Sends one frame to one member: straight to a live connection; kept for a detached one
/// only if `keep_for_resume` (relays), up to `limit` frames.
pub(super) fn deliver(
    member: &mut Member,
    frame: &Utf8Bytes,
    keep_for_resume: bool,
    limit: usize,
    metrics: &Metrics,
) {
    match &mut member.link {
        Link::Live(outbox) => outbox.push(Outbound::Text(frame.clone()), metrics),
        Link::Detached { queued, .. } if keep_for_resume => {
            if queued.len() >= limit {
                queued.pop_front();
            }
            queued.push_back(frame.clone());
        }
        Link::Detached { .. } => {}
    }
}

/// Sends one message, serialised once, to every member but `except`; detached members miss
/// it (a resume gets the room's state afresh in `peers`).
pub(super) fn broadcast(
    room: &mut Room,
    message: &ServerMessage,
    except: Option<&str>,
    metrics: &Metrics,
) {
    let frame: Utf8Bytes = message.to_json().into();
    metrics.messages_broadcast.fetch_add(1, Ordering::Relaxed);
    for member in room.members.iter_mut() {
        if Some(member.info.id.as_str()) != except {
            deliver(member, &frame, false, 0, metrics);
        }
    }
}
