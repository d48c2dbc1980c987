//! The SFU's driver: rooms bigger than a mesh carried by Janus's VideoRoom plugin.
//!
//! The hub decides which rooms are on the SFU ([`crate::hub`]'s `sfu` part) and sends
//! [`RoomEvent`]s; this driver keeps one Janus session (the first `--sfu` that answers and
//! takes H.264), runs a task per room ([`room`]), routes Janus's events to the room whose
//! handle they are for, and when Janus goes, tells the hub (rooms go back to the mesh) and
//! tries again every two seconds (rooms move back when it answers).
//!
//! Participants never see Janus: they send offers, answers and candidates to `sfu-publish`
//! and `sfu-subscribe`, and the room's task carries them to Janus and back.

pub mod janus;
mod room;
pub mod sdp;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::sync::mpsc;

use crate::hub::{Hub, RoomEvent};
use janus::{Janus, JanusError, JanusEvent};
use room::{RoomInput, SfuRoom};

/// How long to wait before asking an absent Janus again.
const RETRY: Duration = Duration::from_secs(2);

/// Checks that a Janus takes rooms with H.264 (42e01f): creates such a room and removes it.
pub async fn check(url: &str) -> Result<(), JanusError> {
    let (janus, _events) = Janus::connect(url).await?;
    let result = probe(&janus).await;
    janus.destroy().await;
    result
}

async fn probe(janus: &Janus) -> Result<(), JanusError> {
    let handle = janus.attach().await?;
    let room = rand::random::<u64>() & ((1 << 53) - 1) | 1;
    let secret = format!("{:x}", rand::random::<u64>());
    let create = json!({
        "request": "create", "room": room, "secret": secret, "is_private": false,
        "videocodec": "h264", "h264_profile": "42e01f", "audiocodec": "opus",
    });
    let created = janus
        .message(handle, "creating a room with H.264", create, None)
        .await;
    let listed = janus
        .message(handle, "listing rooms", json!({"request": "list"}), None)
        .await;
    let destroy = json!({"request": "destroy", "room": room, "secret": secret});
    let _ = janus
        .message(handle, "removing the check's room", destroy, None)
        .await;
    janus.detach(handle).await;
    created?;
    // Janus lists a room only to whom it may show it; where it does, its codec must be H.264.
    let listed = listed?;
    let ours = listed.data["list"]
        .as_array()
        .and_then(|rooms| rooms.iter().find(|r| r["room"] == room));
    if let Some(codec) = ours.and_then(|r| r["videocodec"].as_str()) {
        if !codec.split(',').any(|c| c == "h264") {
            return Err(JanusError::Refused {
                what: "a room with H.264".into(),
                code: 0,
                reason: format!("its VideoRoom made the room with {codec} instead"),
            });
        }
    }
    Ok(())
}

/// Starts the driver for `hub`, on Janus at `urls`, in the background.
pub fn start(hub: Arc<Hub>, urls: Vec<String>) {
    let events = hub.sfu_events();
    tokio::spawn(run(hub, urls, events));
}

/// The first of `urls` that answers and takes H.264, tried in turn until one does.
async fn connect_any(urls: &[String]) -> (Janus, mpsc::UnboundedReceiver<JanusEvent>) {
    let mut said = false;
    loop {
        for url in urls {
            match Janus::connect(url).await {
                Ok((janus, events)) => match probe(&janus).await {
                    Ok(()) => {
                        tracing::info!(%url, "SFU: Janus is ready");
                        return (janus, events);
                    }
                    Err(e) => {
                        tracing::error!(%url, "SFU: this Janus cannot carry termmeet's rooms: {e}");
                        janus.destroy().await;
                    }
                },
                Err(e) if !said => tracing::warn!(%url, "SFU: {e}; retrying every 2s"),
                Err(_) => {}
            }
        }
        said = true;
        tokio::time::sleep(RETRY).await;
    }
}

/// The driver's loop: one Janus session at a time, until the hub goes.
async fn run(hub: Arc<Hub>, urls: Vec<String>, mut events: mpsc::UnboundedReceiver<RoomEvent>) {
    loop {
        let connecting = connect_any(&urls);
        tokio::pin!(connecting);
        // While Janus is away every room is a mesh; the hub's events say nothing to do.
        let (janus, janus_events) = loop {
            tokio::select! {
                ready = &mut connecting => break ready,
                event = events.recv() => if event.is_none() { return },
            }
        };
        hub.set_sfu_available(true, "");
        let mut session = Session::new(Arc::clone(&hub), janus);
        if !session.drive(&mut events, janus_events).await {
            return;
        }
        session.end();
        hub.set_sfu_available(
            false,
            "the SFU stopped answering; back to direct connections until it is back",
        );
        tokio::time::sleep(RETRY).await;
    }
}

/// One Janus session and the rooms on it.
struct Session {
    hub: Arc<Hub>,
    janus: Janus,
    /// Each room's task.
    rooms: HashMap<String, mpsc::UnboundedSender<RoomInput>>,
    /// Which room each handle belongs to.
    handle_rooms: HashMap<u64, String>,
    handles_tx: mpsc::UnboundedSender<(u64, Option<String>)>,
    handles: mpsc::UnboundedReceiver<(u64, Option<String>)>,
}

impl Session {
    fn new(hub: Arc<Hub>, janus: Janus) -> Session {
        let (handles_tx, handles) = mpsc::unbounded_channel();
        Session {
            hub,
            janus,
            rooms: HashMap::new(),
            handle_rooms: HashMap::new(),
            handles_tx,
            handles,
        }
    }

    /// Follows the hub and Janus until Janus goes (true) or the hub does (false).
    async fn drive(
        &mut self,
        events: &mut mpsc::UnboundedReceiver<RoomEvent>,
        mut janus_events: mpsc::UnboundedReceiver<JanusEvent>,
    ) -> bool {
        loop {
            tokio::select! {
                event = events.recv() => match event {
                    Some(event) => self.on_room_event(event),
                    None => return false,
                },
                Some((handle, room)) = self.handles.recv() => match room {
                    Some(room) => { self.handle_rooms.insert(handle, room); }
                    None => { self.handle_rooms.remove(&handle); }
                },
                event = janus_events.recv() => match event {
                    Some(JanusEvent::Handle { handle, message }) => {
                        let room = self.handle_rooms.get(&handle);
                        if let Some(tx) = room.and_then(|r| self.rooms.get(r)) {
                            let _ = tx.send(RoomInput::Janus { handle, message });
                        }
                    }
                    Some(JanusEvent::Gone) | None => {
                        tracing::warn!("SFU: the connection to Janus is gone");
                        return true;
                    }
                },
            }
        }
    }

    fn on_room_event(&mut self, event: RoomEvent) {
        let (room, input) = match event {
            RoomEvent::Open { room, members } => {
                self.open(&room, members);
                return;
            }
            RoomEvent::Close { room } => {
                if let Some(tx) = self.rooms.remove(&room) {
                    let _ = tx.send(RoomInput::Close);
                }
                return;
            }
            RoomEvent::Joined { room, peer } => (room, RoomInput::Members(vec![peer])),
            RoomEvent::Left { room, peer } => (room, RoomInput::Left(peer)),
            RoomEvent::View { room, peer, video } => (room, RoomInput::View { peer, video }),
            RoomEvent::Screen { room, peer, stream } => (room, RoomInput::Screen { peer, stream }),
            RoomEvent::Signal {
                room,
                from,
                to,
                signal,
            } => (room, RoomInput::Signal { from, to, signal }),
        };
        if let Some(tx) = self.rooms.get(&room) {
            let _ = tx.send(input);
        }
    }

    /// Starts a room's task: it creates the VideoRoom, then follows the room's inputs.
    fn open(&mut self, name: &str, members: Vec<String>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let _ = tx.send(RoomInput::Members(members));
        if let Some(old) = self.rooms.insert(name.to_string(), tx) {
            let _ = old.send(RoomInput::Close);
        }
        let (janus, hub, handles) = (
            self.janus.clone(),
            Arc::clone(&self.hub),
            self.handles_tx.clone(),
        );
        let name = name.to_string();
        tokio::spawn(async move {
            match SfuRoom::create(&name, janus, Arc::clone(&hub), handles).await {
                Ok(room) => room.run(rx).await,
                Err(e) => {
                    tracing::warn!(room = %name, "SFU: cannot open the room: {e}");
                    hub.sfu_failed(&name, &format!("the SFU could not take the room ({e})"));
                }
            }
        });
    }

    /// Janus went: every room's task stops.
    fn end(&mut self) {
        for (_, tx) in self.rooms.drain() {
            let _ = tx.send(RoomInput::Close);
        }
        self.handle_rooms.clear();
    }
}
