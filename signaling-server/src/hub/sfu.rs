//! The hub's side of the SFU: which rooms are a mesh and which go through the SFU, the
//! switch between the two (up when a room passes `mesh_max` participants, down when it has
//! stayed at or below it for `sfu_hold`), and the events the SFU's driver ([`crate::sfu`])
//! follows. The hub knows nothing of Janus: it tells the driver what happens in rooms and
//! the driver answers through [`Hub::deliver_to`] and [`Hub::set_sfu_available`].

use std::sync::atomic::Ordering;
use std::sync::Arc;

use tokio::sync::mpsc;

use super::room::{broadcast, Room};
use super::Hub;
use crate::protocol::{IceCandidate, MediaMode, PeerId, ServerMessage};

/// How long a room's SFU side outlives its switch back to the mesh: the participants keep
/// their SFU links until their mesh links carry media, 15 s at the most.
const MESH_HANDOVER: std::time::Duration = std::time::Duration::from_secs(20);

/// What the SFU's driver hears of rooms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoomEvent {
    /// The room moved to the SFU; these are its participants.
    Open { room: String, members: Vec<PeerId> },
    /// The room went back to the mesh, or emptied: its SFU resources go.
    Close { room: String },
    /// Someone joined a room on the SFU.
    Joined { room: String, peer: PeerId },
    /// Someone left a room on the SFU.
    Left { room: String, peer: PeerId },
    /// Whose cameras a participant shows (`None`: everyone's); the rest of its
    /// subscription's video is paused.
    View {
        room: String,
        peer: PeerId,
        video: Option<Vec<PeerId>>,
    },
    /// A participant's screen share started (its stream id) or stopped: a screen's video is
    /// sent whatever the view.
    Screen {
        room: String,
        peer: PeerId,
        stream: Option<String>,
    },
    /// A participant's offer, answer or candidate for one of its SFU connections.
    Signal {
        room: String,
        from: PeerId,
        /// `sfu-publish` or `sfu-subscribe`.
        to: String,
        signal: Signal,
    },
}

/// An offer, answer or candidate a participant sent to the SFU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signal {
    Offer(String),
    Answer(String),
    Candidate(Option<IceCandidate>),
}

impl Hub {
    /// Hands the SFU's events to the caller (the SFU's driver), from now on.
    pub fn sfu_events(&self) -> mpsc::UnboundedReceiver<RoomEvent> {
        let (tx, rx) = mpsc::unbounded_channel();
        *self.sfu.lock().unwrap_or_else(|p| p.into_inner()) = Some(tx);
        rx
    }

    /// Sends an event to the SFU's driver, if there is one.
    pub(super) fn to_sfu(&self, event: RoomEvent) {
        if let Some(tx) = &*self.sfu.lock().unwrap_or_else(|p| p.into_inner()) {
            let _ = tx.send(event);
        }
    }

    /// Whether the SFU can take rooms now.
    fn sfu_up(&self) -> bool {
        self.sfu_up.load(Ordering::Relaxed)
    }

    /// The SFU came up (rooms past `mesh_max` move to it) or went down (every room on it
    /// goes back to the mesh, told `reason`).
    pub fn set_sfu_available(&self, up: bool, reason: &str) {
        self.sfu_up.store(up, Ordering::Relaxed);
        let mut state = self.lock();
        let names: Vec<String> = state.rooms.keys().cloned().collect();
        for name in names {
            let Some(room) = state.rooms.get_mut(&name) else {
                continue;
            };
            if up && room.mode.is_mesh() && self.wants_sfu(room) {
                self.switch(room, &name, MediaMode::Sfu, None, false);
            } else if !up && !room.mode.is_mesh() {
                self.switch(
                    room,
                    &name,
                    MediaMode::Mesh,
                    Some(reason.to_string()),
                    false,
                );
            }
        }
    }

    /// One room's SFU failed (`reason`): it goes back to the mesh.
    pub fn sfu_failed(&self, room_name: &str, reason: &str) {
        let mut state = self.lock();
        if let Some(room) = state.rooms.get_mut(room_name) {
            if !room.mode.is_mesh() {
                self.switch(
                    room,
                    room_name,
                    MediaMode::Mesh,
                    Some(reason.to_string()),
                    false,
                );
            }
        }
    }

    /// Moves a room to `mode`: everyone is told, the SFU's driver too. Back to the mesh
    /// with `handover`, the SFU's room stays while the participants make their mesh links;
    /// without (the SFU failed), it goes at once.
    fn switch(
        &self,
        room: &mut Room,
        name: &str,
        mode: MediaMode,
        reason: Option<String>,
        handover: bool,
    ) {
        room.mode = mode;
        room.mode_epoch += 1;
        tracing::info!(room = %name, ?mode, reason = reason.as_deref().unwrap_or("size"), "media mode");
        broadcast(
            room,
            &ServerMessage::MediaMode { mode, reason },
            None,
            &self.metrics,
        );
        match mode {
            MediaMode::Sfu => {
                self.to_sfu(RoomEvent::Open {
                    room: name.to_string(),
                    members: room.members.iter().map(|m| m.info.id.clone()).collect(),
                });
                // The new SFU room learns the views and screens the mesh kept.
                for m in &room.members {
                    self.seat_to_sfu(name, m);
                }
            }
            // Make before break: the SFU's room goes once the mesh links can be up.
            MediaMode::Mesh if handover => {
                if let Some(hub) = self.me.upgrade() {
                    let (name, epoch) = (name.to_string(), room.mode_epoch);
                    tokio::spawn(async move { hub.close_after_handover(name, epoch).await });
                }
            }
            MediaMode::Mesh => self.to_sfu(RoomEvent::Close {
                room: name.to_string(),
            }),
        }
    }

    /// Closes a room's SFU side [`MESH_HANDOVER`] after it went back to the mesh, unless it
    /// switched again meanwhile (then the driver's new room replaced the old one).
    async fn close_after_handover(self: Arc<Self>, name: String, epoch: u64) {
        tokio::time::sleep(MESH_HANDOVER).await;
        let unchanged = self
            .lock()
            .rooms
            .get(&name)
            .is_some_and(|r| r.mode_epoch == epoch && r.mode.is_mesh());
        if unchanged {
            self.to_sfu(RoomEvent::Close { room: name });
        }
    }

    /// Whether a room on the mesh should move to the SFU: it is past `mesh_max` and every
    /// participant's client can take the SFU.
    fn wants_sfu(&self, room: &Room) -> bool {
        room.members.len() > self.config.mesh_max && room.members.iter().all(|m| m.sfu)
    }

    /// Before a newcomer is seated: a room it takes past `mesh_max` moves to the SFU when
    /// everyone's client, the newcomer's too, can take it (the others are told first; the
    /// newcomer learns it from `peers`). A newcomer whose client cannot (a 1.1 client, or
    /// one that keeps media end to end) takes a room on the SFU back to the mesh.
    pub(super) fn before_seat(&self, room: &mut Room, name: &str, who: &str, sfu: bool) {
        let everyone = sfu && room.members.iter().all(|m| m.sfu);
        let past = room.members.len() + 1 > self.config.mesh_max;
        if self.sfu_up() && room.mode.is_mesh() && past && everyone {
            self.switch(room, name, MediaMode::Sfu, None, false);
        } else if !room.mode.is_mesh() && !sfu {
            let reason = format!(
                "{} joined with a client that keeps media end to end (or cannot take the SFU); the room is a mesh while they are here",
                who
            );
            self.switch(room, name, MediaMode::Mesh, Some(reason), true);
        }
    }

    /// After a newcomer is seated in a room on the SFU.
    pub(super) fn after_seat(&self, room: &Room, name: &str, peer: &str) {
        if !room.mode.is_mesh() {
            self.to_sfu(RoomEvent::Joined {
                room: name.to_string(),
                peer: peer.to_string(),
            });
        }
    }

    /// After someone left a room on the SFU: the driver hears of it, and a room back at
    /// `mesh_max` or fewer moves to the mesh if it stays there for `sfu_hold`.
    pub(super) fn after_leave(&self, room: Option<&mut Room>, name: &str, peer: &str) {
        let Some(room) = room else {
            // The room emptied.
            self.to_sfu(RoomEvent::Close {
                room: name.to_string(),
            });
            return;
        };
        if room.mode.is_mesh() {
            // The one who kept the room a mesh may have left.
            if self.sfu_up() && self.wants_sfu(room) {
                self.switch(room, name, MediaMode::Sfu, None, false);
            }
            return;
        }
        self.to_sfu(RoomEvent::Left {
            room: name.to_string(),
            peer: peer.to_string(),
        });
        if room.members.len() > self.config.mesh_max {
            return;
        }
        let (Some(hub), epoch) = (self.me.upgrade(), room.mode_epoch) else {
            return;
        };
        let name = name.to_string();
        let hold = self.config.sfu_hold;
        tokio::spawn(async move { hub.hold_then_mesh(name, epoch, hold).await });
    }

    /// Moves a room back to the mesh after `hold`, if it is still small and nothing
    /// switched it meanwhile.
    async fn hold_then_mesh(self: Arc<Self>, name: String, epoch: u64, hold: std::time::Duration) {
        tokio::time::sleep(hold).await;
        let mut state = self.lock();
        let Some(room) = state.rooms.get_mut(&name) else {
            return;
        };
        if room.mode_epoch == epoch
            && !room.mode.is_mesh()
            && room.members.len() <= self.config.mesh_max
        {
            self.switch(room, &name, MediaMode::Mesh, None, true);
        }
    }

    /// What the SFU room needs of a member besides its id: its view and its screen.
    fn seat_to_sfu(&self, name: &str, member: &super::room::Member) {
        let peer = member.info.id.clone();
        if member.view.is_some() {
            self.to_sfu(RoomEvent::View {
                room: name.to_string(),
                peer: peer.clone(),
                video: member.view.clone(),
            });
        }
        if let Some(stream) = &member.info.screen_stream_id {
            self.to_sfu(RoomEvent::Screen {
                room: name.to_string(),
                peer,
                stream: Some(stream.clone()),
            });
        }
    }

    /// `view`: kept (a room that moves to the SFU later uses it) and, on the SFU, applied.
    pub(super) fn on_view(
        &self,
        room: &mut Room,
        name: &str,
        me: PeerId,
        video: Option<Vec<PeerId>>,
    ) {
        if let Some(m) = room.member_mut(&me) {
            m.view = video.clone();
        }
        if !room.mode.is_mesh() {
            self.to_sfu(RoomEvent::View {
                room: name.to_string(),
                peer: me,
                video,
            });
        }
    }

    /// A screen share started or stopped in a room on the SFU.
    pub(super) fn screen_to_sfu(&self, room: &Room, name: &str, me: &str, stream: Option<String>) {
        if !room.mode.is_mesh() {
            self.to_sfu(RoomEvent::Screen {
                room: name.to_string(),
                peer: me.to_string(),
                stream,
            });
        }
    }

    /// A participant's offer, answer or candidate for the SFU, passed to its driver; an
    /// error when the room is a mesh.
    pub(super) fn signal_sfu(
        &self,
        room: &Room,
        name: &str,
        from: PeerId,
        to: String,
        signal: Signal,
    ) -> Result<(), crate::protocol::ProtocolError> {
        if room.mode.is_mesh() {
            return Err(super::err(
                crate::protocol::ErrorCode::UnknownPeer,
                format!("this room is a mesh now; there is no {to:?} to send to"),
            ));
        }
        self.to_sfu(RoomEvent::Signal {
            room: name.to_string(),
            from,
            to,
            signal,
        });
        Ok(())
    }

    /// Sends a message to one participant (kept for a resume if it is away); false when it
    /// is not in the room.
    pub fn deliver_to(&self, room: &str, peer: &str, message: &ServerMessage) -> bool {
        let mut state = self.lock();
        let Some(member) = state.rooms.get_mut(room).and_then(|r| r.member_mut(peer)) else {
            return false;
        };
        self.deliver_one(member, message);
        true
    }

    /// Most participants in one room (the VideoRoom's publisher limit).
    pub fn max_room_size(&self) -> usize {
        self.config.max_room_size
    }

    /// The most each participant sends up to the SFU, bits a second.
    pub fn sfu_bitrate(&self) -> u32 {
        self.config.sfu_bitrate
    }

    /// How a room carries media now (`None`: no such room).
    pub fn media_mode(&self, room: &str) -> Option<MediaMode> {
        self.lock().rooms.get(room).map(|r| r.mode)
    }
}
