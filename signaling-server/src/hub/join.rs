//! `join`: the token, the room's secret, the per-address limit on new rooms and the room's
//! size are each checked in turn, then the newcomer is seated (a resume is tried first).

use std::sync::atomic::Ordering;

use super::outbox::Outbox;
use super::room::{broadcast, Link, Member, Room};
use super::{err, random_hex, Hub, HubState, Seat};
use crate::protocol::{ClientMessage, ErrorCode, PeerInfo, ProtocolError, ServerMessage, You};
use crate::token::{Role, TokenError};

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
    /// The display name, sanitised (the token's when tokens are on).
    name: String,
    /// The client software the newcomer named.
    client: Option<String>,
    /// Whether the newcomer may be host.
    may_host: bool,
    /// Whether its client can take the SFU.
    sfu: bool,
}

/// The refusal of a room opened over the per-address limit.
pub(crate) fn too_many_rooms(config: &crate::config::ServerConfig) -> ProtocolError {
    err(
        ErrorCode::TooManyConnections,
        format!(
            "this address opened {} rooms in the last minute; wait a minute or join a room that is open",
            config.max_new_rooms_per_minute
        ),
    )
}

/// The refusal of a room beyond the most the cluster (all instances on one Redis) holds.
pub(crate) fn cluster_full(config: &crate::config::ServerConfig) -> ProtocolError {
    err(
        ErrorCode::RoomFull,
        format!(
            "the servers have reached their limit of {} rooms between them; try again later",
            config.max_rooms
        ),
    )
}

/// The window of the per-address limit on new rooms.
const ROOM_OPEN_WINDOW: std::time::Duration = std::time::Duration::from_secs(60);

impl Hub {
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
            sfu,
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
            sfu,
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
        self.persist_room(&seat.room, state.rooms.get(&seat.room));
        Ok(seat)
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
            return Err(too_many_rooms(&self.config));
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
        Ok(state
            .rooms
            .entry(room_name.to_string())
            .or_insert_with(Room::new))
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
            sfu,
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
        self.before_seat(room, room_name, &name, sfu);
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
            media_mode: room.mode,
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
            sfu,
            view: None,
        });
        tracing::info!(room = %room_name, peer = %id, name = %name, "join");
        self.after_seat(room, room_name, &id);
        (
            Seat {
                room: room_name.to_string(),
                id,
            },
            resume_token,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::same_secret;

    #[test]
    fn secrets_compare_by_value_only() {
        assert!(same_secret("open sesame", "open sesame"));
        assert!(!same_secret("open sesame", "open sesamE"));
        assert!(!same_secret("", "open sesame"));
        assert!(!same_secret("open sesame and more", "open sesame"));
    }
}
