//! Rooms and the participants in them: every rule of `PROTOCOL.md` that is not about bytes
//! on a socket. Connections call in with parsed messages; the hub answers by putting
//! serialised frames into each participant's [`Outbox`].
//!
//! All state sits behind one mutex that is never held across an `.await`. Each frame is
//! serialised once, however many receivers it has.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::ws::Utf8Bytes;
use rand::RngCore;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

mod messages;

use crate::config::ServerConfig;
use crate::metrics::Metrics;
use crate::protocol::{
    ChatMessage, ClientMessage, ErrorCode, PeerId, PeerInfo, ProtocolError, ServerMessage, You,
};
use crate::token::{Role, TokenError};

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
    kick: CancellationToken,
    /// Which connection this is, so a stale disconnect after a resume is ignored.
    conn_id: u64,
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

    /// Queues a server message.
    pub fn send(&self, message: &ServerMessage, metrics: &Metrics) {
        self.push(Outbound::Text(message.to_json().into()), metrics);
    }
}

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
}

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

/// Whether two secrets are equal, in a time that tells nothing of where they differ or how
/// long they are: their SHA-1 digests are compared byte by byte without stopping early.
fn same_secret(given: &str, expected: &str) -> bool {
    use sha1::{Digest, Sha1};
    let (a, b) = (
        Sha1::digest(given.as_bytes()),
        Sha1::digest(expected.as_bytes()),
    );
    a.iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

/// Who is joining, as the hub will seat them.
struct Newcomer {
    name: String,
    client: Option<String>,
    may_host: bool,
}

/// The window of the per-address limit on new rooms.
const ROOM_OPEN_WINDOW: std::time::Duration = std::time::Duration::from_secs(60);

/// What [`Hub::room_summary`] tells of a room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomSummary {
    pub members: Vec<String>,
    pub hands: Vec<String>,
    pub chat_messages: usize,
}

struct Room {
    /// Participants in join order (the host-succession order).
    members: Vec<Member>,
    /// Current host.
    host: PeerId,
    /// Raised hands, first raised first.
    hands: Vec<PeerId>,
    chat_enabled: bool,
    /// The last [`CHAT_HISTORY_LEN`] chat messages.
    chat_history: VecDeque<ChatMessage>,
    /// The last chat `seq` given out.
    chat_seq: u64,
}

struct Member {
    info: PeerInfo,
    /// Whether this participant may be host (always, unless join tokens are on and its
    /// token is a guest's).
    may_host: bool,
    resume_token: String,
    link: Link,
}

enum Link {
    /// Connected: frames go straight to the connection.
    Live(Outbox),
    /// Dropped without `leave`, within the grace period: relays wait here.
    Detached {
        epoch: u64,
        queued: VecDeque<Utf8Bytes>,
    },
}

impl Room {
    fn member(&self, id: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.info.id == id)
    }

    fn member_mut(&mut self, id: &str) -> Option<&mut Member> {
        self.members.iter_mut().find(|m| m.info.id == id)
    }
}

/// Sends one frame to one member: straight to a live connection; kept for a detached one
/// only if `keep_for_resume` (relays), up to `limit` frames.
fn deliver(
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

fn broadcast(room: &mut Room, message: &ServerMessage, except: Option<&str>, metrics: &Metrics) {
    let frame: Utf8Bytes = message.to_json().into();
    metrics.messages_broadcast.fetch_add(1, Ordering::Relaxed);
    for member in room.members.iter_mut() {
        if Some(member.info.id.as_str()) != except {
            deliver(member, &frame, false, 0, metrics);
        }
    }
}

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn err(code: ErrorCode, message: impl Into<String>) -> ProtocolError {
    ProtocolError::new(code, message)
}

impl Hub {
    /// An empty hub.
    pub fn new(config: Arc<ServerConfig>, metrics: Arc<Metrics>) -> Arc<Hub> {
        Arc::new(Hub {
            config,
            metrics,
            state: Mutex::new(HubState::default()),
        })
    }

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

    /// Resume tokens held, for leak tests.
    pub fn tokens_held(&self) -> usize {
        self.lock().tokens.len()
    }

    /// Handles `join` (or a resume) from the connection behind `outbox`.
    pub fn join(
        &self,
        outbox: &Outbox,
        message: ClientMessage,
        from: Option<std::net::IpAddr>,
    ) -> Result<Seat, ProtocolError> {
        let ClientMessage::Join {
            room: room_name,
            name,
            secret,
            token,
            resume,
            client,
        } = message
        else {
            return Err(err(ErrorCode::BadField, "expected a join message"));
        };
        // Tokens are checked on every join, a resume too; the token's name is the one used.
        let admitted = self.check_token(&room_name, token.as_deref())?;
        let may_host = admitted
            .as_ref()
            .is_none_or(|(_, role)| *role == Role::Host);
        let name = admitted.map_or(name, |(name, _)| name);
        let mut state = self.lock();
        let state = &mut *state;
        if let Some(seat) = resume
            .as_ref()
            .and_then(|token| self.try_resume(state, token, &room_name, outbox))
        {
            return Ok(seat);
        }
        self.check_secret(&room_name, secret.as_deref())?;
        let opens = match from {
            Some(ip) if !state.rooms.contains_key(&room_name) => {
                Some(self.check_room_opens(state, ip)?)
            }
            _ => None,
        };
        let room = self.room_to_join(state, &room_name)?;
        let newcomer = Newcomer {
            name,
            client,
            may_host,
        };
        let (seat, resume_token) =
            self.seat_member(room, &room_name, newcomer, outbox, resume.is_some());
        state.tokens.insert(resume_token, seat.clone());
        if let Some(ip) = opens {
            state
                .room_opens
                .entry(ip)
                .or_default()
                .push_back(std::time::Instant::now());
        }
        self.metrics.joins_total.fetch_add(1, Ordering::Relaxed);
        Ok(seat)
    }

    /// The seat behind a resume token, put back on this connection, when the token is for
    /// this room and the participant is still within its grace period.
    fn try_resume(
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

    /// With join tokens on, the name and role of a valid token for this room; a missing,
    /// forged, foreign or expired one is refused. `None` when tokens are off.
    fn check_token(
        &self,
        room_name: &str,
        token: Option<&str>,
    ) -> Result<Option<(String, Role)>, ProtocolError> {
        let Some(key) = &self.config.token_secret else {
            return Ok(None);
        };
        let bad = |why: &str| {
            err(
                ErrorCode::BadToken,
                format!("{why}; ask the organiser for a join link"),
            )
        };
        let Some(token) = token.filter(|t| !t.is_empty()) else {
            return Err(bad("this server needs a join token (`token`)"));
        };
        let claims = match crate::token::verify(key, token) {
            Ok(claims) => claims,
            Err(TokenError::Expired(at)) => {
                return Err(err(
                    ErrorCode::TokenExpired,
                    format!("the join token expired at {at} (Unix seconds); ask the organiser for a new one"),
                ))
            }
            Err(TokenError::Bad(why)) => return Err(bad(&why)),
        };
        if claims.room != room_name {
            return Err(bad(&format!(
                "the token is for another room, not {room_name:?}"
            )));
        }
        let name = crate::sanitize::sanitize_name(&claims.name)
            .ok_or_else(|| bad("the token's name is not a usable display name"))?;
        Ok(Some((name, claims.role)))
    }

    /// Refuses a room that has a secret when the right one is not given.
    fn check_secret(&self, room_name: &str, secret: Option<&str>) -> Result<(), ProtocolError> {
        match self.config.room_secrets.get(room_name) {
            Some(expected) if !secret.is_some_and(|given| same_secret(given, expected)) => {
                Err(err(
                    ErrorCode::BadSecret,
                    format!("room {room_name:?} needs the right secret; ask its organiser for it"),
                ))
            }
            _ => Ok(()),
        }
    }

    /// Whether `ip` may open one more room now (at most `max_new_rooms_per_minute`).
    fn check_room_opens(
        &self,
        state: &mut HubState,
        ip: std::net::IpAddr,
    ) -> Result<std::net::IpAddr, ProtocolError> {
        let now = std::time::Instant::now();
        let recent = |t: &std::time::Instant| now.saturating_duration_since(*t) < ROOM_OPEN_WINDOW;
        if state.room_opens.len() > 10_000 {
            state
                .room_opens
                .retain(|_, opens| opens.back().is_some_and(recent));
        }
        let opens = state.room_opens.entry(ip).or_default();
        while opens.front().is_some_and(|t| !recent(t)) {
            opens.pop_front();
        }
        if opens.len() >= self.config.max_new_rooms_per_minute {
            return Err(err(
                ErrorCode::TooManyConnections,
                format!(
                    "this address opened {} rooms in the last minute; wait a minute or join a room that is open",
                    opens.len()
                ),
            ));
        }
        Ok(ip)
    }

    /// The room a newcomer joins: the open one if it has a seat free, or a new one if the
    /// server may open another.
    fn room_to_join<'a>(
        &self,
        state: &'a mut HubState,
        room_name: &str,
    ) -> Result<&'a mut Room, ProtocolError> {
        let room_count = state.rooms.len();
        if let Some(room) = state.rooms.get(room_name) {
            if room.members.len() >= self.config.max_room_size {
                return Err(err(
                    ErrorCode::RoomFull,
                    format!(
                        "room {room_name:?} is full ({} participants); try again later or use another room",
                        self.config.max_room_size
                    ),
                ));
            }
        } else if room_count >= self.config.max_rooms {
            return Err(err(
                ErrorCode::RoomFull,
                format!(
                    "this server has reached its limit of {} rooms; try again later",
                    self.config.max_rooms
                ),
            ));
        }
        Ok(state.rooms.entry(room_name.to_string()).or_insert(Room {
            members: Vec::new(),
            host: String::new(),
            hands: Vec::new(),
            chat_enabled: true,
            chat_history: VecDeque::new(),
            chat_seq: 0,
        }))
    }

    /// Seats a newcomer: a fresh id and resume token, `peers` to them and `peer-joined` to
    /// the others. Returns the seat and its resume token.
    fn seat_member(
        &self,
        room: &mut Room,
        room_name: &str,
        newcomer: Newcomer,
        outbox: &Outbox,
        resume_failed: bool,
    ) -> (Seat, String) {
        let Newcomer {
            name,
            client,
            may_host,
        } = newcomer;
        let metrics = &self.metrics;
        let mut id = random_hex(8);
        while room.member(&id).is_some() {
            id = random_hex(8);
        }
        let resume_token = random_hex(24);
        let info = PeerInfo {
            client,
            ..PeerInfo::new(id.clone(), name.clone())
        };
        // The first who may be host is host (with tokens, a room can be without one until a
        // host's token arrives).
        let takes_host = may_host && room.member(&room.host).is_none();
        if takes_host {
            room.host = id.clone();
        }
        let peers = ServerMessage::Peers {
            you: You {
                id: id.clone(),
                name: name.clone(),
            },
            resume_token: resume_token.clone(),
            host: room.host.clone(),
            peers: room.members.iter().map(|m| m.info.clone()).collect(),
            hands: room.hands.clone(),
            chat_enabled: room.chat_enabled,
            chat_history: room.chat_history.iter().cloned().collect(),
            ice_servers: crate::turn::ice_servers_for(&self.config, &id),
            resume_failed,
        };
        outbox.send(&peers, metrics);
        broadcast(
            room,
            &ServerMessage::PeerJoined { peer: info.clone() },
            None,
            metrics,
        );
        if takes_host && !room.members.is_empty() {
            broadcast(room, &ServerMessage::Host { id: id.clone() }, None, metrics);
        }
        room.members.push(Member {
            info,
            may_host,
            resume_token: resume_token.clone(),
            link: Link::Live(outbox.clone()),
        });
        tracing::info!(room = %room_name, peer = %id, name = %name, "join");
        (
            Seat {
                room: room_name.to_string(),
                id,
            },
            resume_token,
        )
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

    /// Relays to one member of the room; `None` when `to` is not in it.
    fn relay(&self, room: &mut Room, to: &str, message: ServerMessage) -> Option<()> {
        let member = room.member_mut(to)?;
        let frame: Utf8Bytes = message.to_json().into();
        deliver(
            member,
            &frame,
            true,
            self.config.resume_queue,
            &self.metrics,
        );
        self.metrics
            .messages_relayed
            .fetch_add(1, Ordering::Relaxed);
        Some(())
    }

    /// Removes a participant now (`leave`, or its grace period ran out).
    pub fn leave(&self, seat: &Seat) {
        let mut state = self.lock();
        self.remove(&mut state, seat, "leave");
    }

    fn remove(&self, state: &mut HubState, seat: &Seat, why: &str) {
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
            state.rooms.remove(&seat.room);
            return;
        }
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
        let hub = Arc::clone(self);
        let seat = seat.clone();
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
                hub.remove(&mut state, &seat, "grace period over");
            }
        });
    }
}

#[cfg(test)]
mod secret_tests {
    use super::same_secret;

    #[test]
    fn secrets_compare_by_value_only() {
        assert!(same_secret("open sesame", "open sesame"));
        assert!(!same_secret("open sesame", "open sesamE"));
        assert!(!same_secret("", "open sesame"));
        assert!(!same_secret("open sesame and more", "open sesame"));
    }
}
