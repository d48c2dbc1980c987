//! What the hub does with each message of a joined participant (all but `join` and
//! `leave`): one method a kind of message.

use std::sync::atomic::Ordering;

use axum::extract::ws::Utf8Bytes;

use super::room::{broadcast, deliver, Room};
use super::{err, now_ms, Hub, Seat, Signal};
use crate::protocol::{
    is_sfu_id, ChatMessage, ClientMessage, ErrorCode, PeerId, ProtocolError, ServerMessage,
    CHAT_HISTORY_LEN,
};

/// `unknown-peer`, quoting (the start of) the id that was not found.
fn unknown_peer(id: &str) -> ProtocolError {
    let shown: String = id.chars().take(40).collect();
    err(
        ErrorCode::UnknownPeer,
        format!("no participant {shown:?} in this room"),
    )
}

/// An offer, answer or candidate addressed to one of the SFU's connections.
fn sfu_signal(message: &ClientMessage) -> Option<(String, Signal)> {
    let (to, signal) = match message {
        ClientMessage::Offer { to, sdp } => (to, Signal::Offer(sdp.clone())),
        ClientMessage::Answer { to, sdp } => (to, Signal::Answer(sdp.clone())),
        ClientMessage::Candidate { to, candidate } => (to, Signal::Candidate(candidate.clone())),
        _ => return None,
    };
    is_sfu_id(to).then(|| (to.clone(), signal))
}

impl Hub {
    /// Handles every message of a joined participant but `join` and `leave`: one method a
    /// kind of message.
    pub fn handle(&self, seat: &Seat, message: ClientMessage) -> Result<(), ProtocolError> {
        let mut state = self.lock();
        // Relays change nothing that a resume needs; everything else is stored (clustered).
        let stored = !matches!(
            message,
            ClientMessage::Offer { .. }
                | ClientMessage::Answer { .. }
                | ClientMessage::Candidate { .. }
                | ClientMessage::RefreshIce {}
                | ClientMessage::Ping {}
                | ClientMessage::Term { .. }
        );
        let chat = matches!(message, ClientMessage::Chat { .. });
        let result = self.handle_in_room(&mut state, seat, message);
        if result.is_ok() && stored {
            let room = state.rooms.get(&seat.room);
            if let (true, Some(line)) = (chat, room.and_then(|r| r.chat_history.back())) {
                self.persist_chat(&seat.room, line);
            }
            self.persist_room(&seat.room, room);
        }
        result
    }

    /// [`Hub::handle`] with the state locked.
    fn handle_in_room(
        &self,
        state: &mut super::HubState,
        seat: &Seat,
        message: ClientMessage,
    ) -> Result<(), ProtocolError> {
        let room = match state.rooms.get_mut(&seat.room) {
            Some(room) if room.member(&seat.id).is_some() => room,
            Some(_) => {
                return Err(err(
                    ErrorCode::NotJoined,
                    "you are no longer in the room; join again",
                ))
            }
            None => {
                return Err(err(
                    ErrorCode::NotJoined,
                    "you are no longer in a room; join again",
                ))
            }
        };
        let me = seat.id.clone();
        if let Some((to, signal)) = sfu_signal(&message) {
            return self.signal_sfu(room, &seat.room, me, to, signal);
        }
        match message {
            ClientMessage::Offer { to, sdp } => {
                self.relay_or_unknown(room, &to, ServerMessage::Offer { from: me, sdp })
            }
            ClientMessage::Answer { to, sdp } => {
                self.relay_or_unknown(room, &to, ServerMessage::Answer { from: me, sdp })
            }
            ClientMessage::Candidate { to, candidate } => self.relay_or_unknown(
                room,
                &to,
                ServerMessage::Candidate {
                    from: me,
                    candidate,
                },
            ),
            ClientMessage::MediaState { mic, cam } => {
                self.on_media_state(room, me, mic, cam);
                Ok(())
            }
            ClientMessage::ScreenShareStarted { stream_id } => {
                self.on_screen_share(room, &seat.room, me, Some(stream_id));
                Ok(())
            }
            ClientMessage::ScreenShareStopped {} => {
                self.on_screen_share(room, &seat.room, me, None);
                Ok(())
            }
            ClientMessage::RaiseHand {} => {
                self.on_raise_hand(room, me);
                Ok(())
            }
            ClientMessage::LowerHand { peer } => self.on_lower_hand(room, me, peer),
            ClientMessage::Chat { text } => self.on_chat(room, me, text),
            ClientMessage::ChatEnabled {} => self.on_chat_enabled(room, me, true),
            ClientMessage::ChatDisabled {} => self.on_chat_enabled(room, me, false),
            ClientMessage::Join { .. } => Err(err(
                ErrorCode::AlreadyJoined,
                "this connection has already joined a room",
            )),
            ClientMessage::RefreshIce {} => {
                let ice_servers = crate::turn::ice_servers_for(&self.config, &me);
                self.relay(room, &me, ServerMessage::IceServers { ice_servers });
                Ok(())
            }
            ClientMessage::View { video } => {
                self.on_view(room, &seat.room, me, video);
                Ok(())
            }
            term @ ClientMessage::Term { .. } => self.on_term(room, &me, term),
            ClientMessage::Leave {} | ClientMessage::Ping {} => Ok(()),
        }
    }

    /// Sends `message` to one member, kept for a resume while it is away.
    pub(super) fn deliver_one(&self, member: &mut super::room::Member, message: &ServerMessage) {
        let frame: Utf8Bytes = message.to_json().into();
        deliver(
            member,
            &frame,
            true,
            self.config.resume_queue,
            &self.metrics,
        );
    }

    /// Relays to one member of the room; `None` when `to` is not in it.
    fn relay(&self, room: &mut Room, to: &str, message: ServerMessage) -> Option<()> {
        let member = room.member_mut(to)?;
        self.deliver_one(member, &message);
        self.metrics
            .messages_relayed
            .fetch_add(1, Ordering::Relaxed);
        Some(())
    }

    /// Relays to `to`, or says there is no such participant.
    fn relay_or_unknown(
        &self,
        room: &mut Room,
        to: &str,
        message: ServerMessage,
    ) -> Result<(), ProtocolError> {
        self.relay(room, to, message)
            .ok_or_else(|| unknown_peer(to))
    }

    /// `term`: to one peer (keys, `sync`), or a screen stream's piece to everyone else.
    fn on_term(&self, room: &mut Room, me: &str, term: ClientMessage) -> Result<(), ProtocolError> {
        let ClientMessage::Term {
            to,
            seq,
            data,
            sync,
        } = term
        else {
            return Ok(());
        };
        let out = ServerMessage::Term {
            from: me.to_string(),
            seq,
            data,
            sync,
        };
        match to {
            // The SFU's pseudo-peers carry no terminal.
            Some(to) if is_sfu_id(&to) => Err(unknown_peer(&to)),
            Some(to) => self.relay_or_unknown(room, &to, out),
            None => {
                broadcast(room, &out, Some(me), &self.metrics);
                Ok(())
            }
        }
    }

    /// `media-state`: remembered for late joiners and told to the others.
    fn on_media_state(&self, room: &mut Room, me: PeerId, mic: bool, cam: bool) {
        if let Some(m) = room.member_mut(&me) {
            m.info.mic = mic;
            m.info.cam = cam;
        }
        let out = ServerMessage::MediaState {
            from: me.clone(),
            mic,
            cam,
        };
        broadcast(room, &out, Some(&me), &self.metrics);
    }

    /// `screen-share-started` (with its stream id) or `screen-share-stopped` (`None`).
    fn on_screen_share(&self, room: &mut Room, name: &str, me: PeerId, stream_id: Option<String>) {
        if let Some(m) = room.member_mut(&me) {
            m.info.screen = stream_id.is_some();
            m.info.screen_stream_id = stream_id.clone();
        }
        self.screen_to_sfu(room, name, &me, stream_id.clone());
        let out = match stream_id {
            Some(stream_id) => ServerMessage::ScreenShareStarted {
                from: me.clone(),
                stream_id,
            },
            None => ServerMessage::ScreenShareStopped { from: me.clone() },
        };
        broadcast(room, &out, Some(&me), &self.metrics);
    }

    /// `raise-hand`: to the end of the queue, once.
    fn on_raise_hand(&self, room: &mut Room, me: PeerId) {
        if !room.hands.contains(&me) {
            room.hands.push(me.clone());
        }
        if let Some(m) = room.member_mut(&me) {
            m.info.hand = true;
        }
        let queue = room.hands.clone();
        broadcast(
            room,
            &ServerMessage::RaiseHand { from: me, queue },
            None,
            &self.metrics,
        );
    }

    /// `lower-hand`: one's own, or anyone's by the host.
    fn on_lower_hand(
        &self,
        room: &mut Room,
        me: PeerId,
        peer: Option<PeerId>,
    ) -> Result<(), ProtocolError> {
        let target = peer.unwrap_or_else(|| me.clone());
        if target != me {
            if room.host != me {
                return Err(err(
                    ErrorCode::Forbidden,
                    "only the host can lower someone else's hand",
                ));
            }
            if room.member(&target).is_none() {
                return Err(unknown_peer(&target));
            }
        }
        room.hands.retain(|h| *h != target);
        if let Some(m) = room.member_mut(&target) {
            m.info.hand = false;
        }
        let queue = room.hands.clone();
        let out = ServerMessage::LowerHand {
            from: me,
            peer: target,
            queue,
        };
        broadcast(room, &out, None, &self.metrics);
        Ok(())
    }

    /// `chat`: numbered, kept in the history, and sent to everyone (the sender too).
    fn on_chat(&self, room: &mut Room, me: PeerId, text: String) -> Result<(), ProtocolError> {
        if !room.chat_enabled && room.host != me {
            return Err(err(ErrorCode::ChatDisabled, "the host has turned chat off"));
        }
        room.chat_seq += 1;
        let name = room
            .member(&me)
            .map(|m| m.info.name.clone())
            .unwrap_or_default();
        let chat = ChatMessage {
            from: me,
            name,
            text,
            ts: now_ms(),
            seq: room.chat_seq,
        };
        if room.chat_history.len() >= CHAT_HISTORY_LEN {
            room.chat_history.pop_front();
        }
        room.chat_history.push_back(chat.clone());
        broadcast(room, &ServerMessage::Chat(chat), None, &self.metrics);
        Ok(())
    }

    /// `chat-enabled` / `chat-disabled`, host only.
    fn on_chat_enabled(
        &self,
        room: &mut Room,
        me: PeerId,
        enabled: bool,
    ) -> Result<(), ProtocolError> {
        if room.host != me {
            return Err(err(
                ErrorCode::Forbidden,
                "only the host can turn chat on or off",
            ));
        }
        room.chat_enabled = enabled;
        let out = if enabled {
            ServerMessage::ChatEnabled { from: me }
        } else {
            ServerMessage::ChatDisabled { from: me }
        };
        broadcast(room, &out, None, &self.metrics);
        Ok(())
    }
}
