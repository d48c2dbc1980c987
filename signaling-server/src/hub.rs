//! Rooms and the participants in them: every rule of `docs/protocol.md` that is not about bytes
//! on a socket. Connections call in with parsed messages; the hub answers by putting
//! serialised frames into each participant's [`Outbox`].
//!
//! All state sits behind one mutex that is never held across an `.await`. Each frame is
//! serialised once, however many receivers it has.
//!
//! The rules live in submodules by the step they take: `join` (tokens, secrets, room limits,
//! seating), `resume` (a dropped participant's grace period and its return), `leave`
//! (removal and host handover) and `messages` (everything a seated participant sends).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{SystemTime, UNIX_EPOCH};

use rand::RngCore;

mod join;
mod leave;
mod messages;
mod outbox;
mod persist;
mod resume;
mod room;
mod sfu;

pub(crate) use join::{cluster_full, too_many_rooms};
pub use outbox::{Outbound, Outbox};
pub use persist::{Persist, RoomSnapshot};
pub use sfu::{RoomEvent, Signal};

use crate::config::ServerConfig;
use crate::metrics::Metrics;
use crate::protocol::{ErrorCode, PeerId, ProtocolError};
use room::Room;

/// Where a joined connection stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seat {
    /// The room's name.
    pub room: String,
    /// The participant's id.
    pub id: PeerId,
}

/// Rooms, shared by every connection.
pub struct Hub {
    /// Settings.
    config: Arc<ServerConfig>,
    /// Counters for `/metrics`.
    metrics: Arc<Metrics>,
    /// Rooms and resume tokens.
    state: Mutex<HubState>,
    /// Where room events for the SFU's driver go, once it runs.
    sfu: Mutex<Option<tokio::sync::mpsc::UnboundedSender<RoomEvent>>>,
    /// Whether the SFU can take rooms (its driver says).
    sfu_up: AtomicBool,
    /// Where room changes go to be stored, in a cluster.
    persist: Mutex<Option<tokio::sync::mpsc::UnboundedSender<persist::Persist>>>,
    /// The hub itself, for timers it starts.
    me: Weak<Hub>,
}

/// Everything behind the hub's one mutex.
#[derive(Default)]
struct HubState {
    /// Open rooms by name; a room is removed when its last participant is.
    rooms: HashMap<String, Room>,
    /// Resume token to seat, for every participant in a room.
    tokens: HashMap<String, Seat>,
    /// Source of detach epochs, so an old grace timer cannot remove a resumed participant.
    next_epoch: u64,
    /// When each address opened rooms in the last minute.
    room_opens: HashMap<std::net::IpAddr, VecDeque<std::time::Instant>>,
}

/// What [`Hub::room_summary`] tells of a room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomSummary {
    /// Display names in join order.
    pub members: Vec<String>,
    /// The hand queue by display name, first raised first.
    pub hands: Vec<String>,
    /// Chat messages kept in the history.
    pub chat_messages: usize,
}

/// A fresh random id or token of `bytes` random bytes, in lower-case hex.
fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

/// A fresh random id for a server instance in a cluster.
pub(crate) fn random_id() -> String {
    random_hex(8)
}

/// Milliseconds since the Unix epoch, for chat time stamps.
fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A protocol error for the answer to a message.
fn err(code: ErrorCode, message: impl Into<String>) -> ProtocolError {
    ProtocolError::new(code, message)
}

impl Hub {
    /// An empty hub.
    pub fn new(config: Arc<ServerConfig>, metrics: Arc<Metrics>) -> Arc<Hub> {
        Arc::new_cyclic(|me| Hub {
            config,
            metrics,
            state: Mutex::new(HubState::default()),
            sfu: Mutex::new(None),
            sfu_up: AtomicBool::new(false),
            persist: Mutex::new(None),
            me: me.clone(),
        })
    }

    /// The hub's state, locked; never held across an `.await`.
    fn lock(&self) -> MutexGuard<'_, HubState> {
        // A panic while holding the lock would be a bug; the state is still usable, so keep going.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Rooms open and participants in them, for `/metrics` and tests.
    pub fn counts(&self) -> (usize, usize) {
        let state = self.lock();
        let participants = state.rooms.values().map(|r| r.members.len()).sum();
        (state.rooms.len(), participants)
    }

    /// A room as it stands: who is in it (by name, in join order), the hand queue (by name)
    /// and the chat history's length. `None` when no such room is open.
    pub fn room_summary(&self, room: &str) -> Option<RoomSummary> {
        let state = self.lock();
        let r = state.rooms.get(room)?;
        let name = |id: &PeerId| {
            r.members
                .iter()
                .find(|m| &m.info.id == id)
                .map(|m| m.info.name.clone())
                .unwrap_or_default()
        };
        Some(RoomSummary {
            members: r.members.iter().map(|m| m.info.name.clone()).collect(),
            hands: r.hands.iter().map(name).collect(),
            chat_messages: r.chat_history.len(),
        })
    }

    /// Whether a room of this name is open here.
    pub fn has_room(&self, room: &str) -> bool {
        self.lock().rooms.contains_key(room)
    }

    /// The names of the rooms open here.
    pub fn room_names(&self) -> Vec<String> {
        self.lock().rooms.keys().cloned().collect()
    }

    /// Resume tokens held, for leak tests.
    pub fn tokens_held(&self) -> usize {
        self.lock().tokens.len()
    }
}
