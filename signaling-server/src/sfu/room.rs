//! One room on the SFU: its VideoRoom (a random id, secret and pin nobody outside the
//! server sees), and per participant a publishing handle (its feed) and a subscribing
//! handle that takes every other feed. It runs as one task that handles the room's events in
//! order, so a participant's offer is taken after the room exists and its candidates after
//! its offer.
//!
//! The participant speaks to `sfu-publish` and `sfu-subscribe` as to two peers (offer,
//! answer, candidate); this task turns that into Janus requests and Janus's JSEP back into
//! `offer` and `answer` from those ids.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use serde_json::{json, Value};
use tokio::sync::mpsc;

mod view;

use super::janus::{Janus, JanusError};
use super::sdp::{msids, with_msids, Msid};
use crate::hub::{Hub, Signal};
use crate::protocol::{IceCandidate, PeerId, ServerMessage, SFU_PUBLISH, SFU_SUBSCRIBE};

/// What a room's task is handed.
#[derive(Debug)]
pub enum RoomInput {
    /// Participants to make seats for.
    Members(Vec<PeerId>),
    /// Someone left.
    Left(PeerId),
    /// Whose cameras a participant shows (`None`: everyone's).
    View {
        peer: PeerId,
        video: Option<Vec<PeerId>>,
    },
    /// A participant's screen stream, or none.
    Screen {
        peer: PeerId,
        stream: Option<String>,
    },
    /// A participant's offer, answer or candidate.
    Signal {
        from: PeerId,
        to: String,
        signal: Signal,
    },
    /// Something Janus said on one of this room's handles.
    Janus { handle: u64, message: Value },
    /// The room goes: everything is taken down.
    Close,
}

/// One participant's part of the room.
#[derive(Default)]
struct Seat {
    /// Its feed id in the VideoRoom.
    feed: u64,
    /// The publishing handle, once it offered.
    publisher: Option<u64>,
    /// Whether its feed is published.
    published: bool,
    /// The subscribing handle, once there was something to take.
    subscriber: Option<u64>,
    /// Whether the subscribing connection is up (Janus's `webrtcup`). Until it is, the
    /// subscription is not offered again: a peer connection renegotiated before its DTLS
    /// is up may never start the new sections' tracks.
    subscriber_up: bool,
    /// The feeds it takes.
    subscribed: BTreeSet<u64>,
    /// An offer of ours waits for its answer: further changes wait too.
    awaiting_answer: bool,
    /// Subscriptions changed while an answer was awaited.
    update_due: bool,
    /// The subscriber's sections, by mid.
    streams: HashMap<String, view::Section>,
    /// Whose cameras it shows (`None`: everyone's).
    view: Option<BTreeSet<PeerId>>,
    /// Its subscription's sections Janus was told not to send.
    paused: BTreeSet<(String, u64, String)>,
    /// Its screen's stream id, while it shares one.
    screen: Option<String>,
}

/// A room's SFU state, held by its task.
pub struct SfuRoom {
    name: String,
    janus: Janus,
    hub: Arc<Hub>,
    /// The handle the room is created and destroyed through.
    admin: u64,
    /// The VideoRoom's id, secret and pin.
    id: u64,
    secret: String,
    pin: String,
    seats: HashMap<PeerId, Seat>,
    /// Each feed's sections as its publisher named them: mid to msid.
    feed_ids: HashMap<u64, HashMap<String, Msid>>,
    /// Where the coordinator learns which handles are this room's.
    handles: mpsc::UnboundedSender<(u64, Option<String>)>,
}

/// A random id that fits the 53 bits JavaScript (and Janus's own ids) keep exact.
fn random_id() -> u64 {
    rand::random::<u64>() & ((1 << 53) - 1) | 1
}

fn random_secret() -> String {
    (0..16)
        .map(|_| format!("{:02x}", rand::random::<u8>()))
        .collect()
}

/// Our candidate in Janus's spelling.
fn janus_candidate(c: Option<IceCandidate>) -> Option<Value> {
    c.map(|c| {
        json!({
            "candidate": c.candidate,
            "sdpMid": c.sdp_mid,
            "sdpMLineIndex": c.sdp_mline_index,
        })
    })
}

impl SfuRoom {
    /// Creates the room's VideoRoom: H.264 42e01f, Opus with FEC, no one outside the server
    /// able to join it (private, a secret and a pin).
    pub async fn create(
        name: &str,
        janus: Janus,
        hub: Arc<Hub>,
        handles: mpsc::UnboundedSender<(u64, Option<String>)>,
    ) -> Result<SfuRoom, JanusError> {
        let admin = janus.attach().await?;
        let (id, secret, pin) = (random_id(), random_secret(), random_secret());
        let request = json!({
            "request": "create",
            "room": id,
            "description": format!("termmeet {name}"),
            "secret": secret,
            "pin": pin,
            "is_private": true,
            "publishers": hub.max_room_size(),
            "videocodec": "h264",
            "h264_profile": "42e01f",
            "audiocodec": "opus",
            "opus_fec": true,
            // Sent to every publisher as REMB (every 5 s), which caps its encoders.
            "bitrate": hub.sfu_bitrate(),
            // A keyframe request to every publisher every 5 s: a subscriber whose own PLI
            // does not reach the publisher (docs/protocol.md, "Through the SFU") still
            // gets its picture back.
            "fir_freq": 5,
            "notify_joining": false,
            "transport_wide_cc_ext": true,
        });
        janus
            .message(admin, "creating the room", request, None)
            .await?;
        tracing::info!(room = %name, videoroom = id, "SFU room created");
        Ok(SfuRoom {
            name: name.to_string(),
            janus,
            hub,
            admin,
            id,
            secret,
            pin,
            seats: HashMap::new(),
            feed_ids: HashMap::new(),
            handles,
        })
    }

    /// Handles the room's inputs until it closes; then takes it down.
    pub async fn run(mut self, mut inputs: mpsc::UnboundedReceiver<RoomInput>) {
        while let Some(input) = inputs.recv().await {
            let result = match input {
                RoomInput::Members(peers) => {
                    for peer in peers {
                        self.seats.entry(peer).or_insert_with(|| Seat {
                            feed: random_id(),
                            ..Seat::default()
                        });
                    }
                    Ok(())
                }
                RoomInput::Left(peer) => self.left(&peer).await,
                RoomInput::View { peer, video } => {
                    if let Some(seat) = self.seats.get_mut(&peer) {
                        seat.view = video.map(|v| v.into_iter().collect());
                    }
                    self.apply_view(&peer).await
                }
                RoomInput::Screen { peer, stream } => {
                    if let Some(seat) = self.seats.get_mut(&peer) {
                        seat.screen = stream;
                    }
                    self.apply_views().await
                }
                RoomInput::Signal { from, to, signal } => self.signal(&from, &to, signal).await,
                RoomInput::Janus { handle, message } => self.on_janus(handle, message).await,
                RoomInput::Close => break,
            };
            if let Err(e) = result {
                if e == JanusError::Gone {
                    break;
                }
                tracing::warn!(room = %self.name, "SFU: {e}");
            }
        }
        self.take_down().await;
    }

    async fn take_down(&mut self) {
        let peers: Vec<PeerId> = self.seats.keys().cloned().collect();
        for peer in peers {
            let _ = self.left(&peer).await;
        }
        let request = json!({"request": "destroy", "room": self.id, "secret": self.secret});
        let _ = self
            .janus
            .message(self.admin, "removing the room", request, None)
            .await;
        self.janus.detach(self.admin).await;
        tracing::info!(room = %self.name, "SFU room removed");
    }

    /// A participant's signal for one of its two connections.
    async fn signal(&mut self, from: &str, to: &str, signal: Signal) -> Result<(), JanusError> {
        if !self.seats.contains_key(from) {
            self.seats.insert(
                from.to_string(),
                Seat {
                    feed: random_id(),
                    ..Seat::default()
                },
            );
        }
        match (to, signal) {
            (SFU_PUBLISH, Signal::Offer(sdp)) => self.publish(from, sdp).await,
            (SFU_SUBSCRIBE, Signal::Answer(sdp)) => self.start(from, sdp).await,
            (SFU_SUBSCRIBE, Signal::Offer(_)) => self.restart_subscriber(from).await,
            (to, Signal::Candidate(c)) => {
                let seat = &self.seats[from];
                let handle = if to == SFU_PUBLISH {
                    seat.publisher
                } else {
                    seat.subscriber
                };
                if let Some(handle) = handle {
                    self.janus.trickle(handle, janus_candidate(c));
                }
                Ok(())
            }
            (to, _) => {
                tracing::debug!(room = %self.name, peer = %from, to, "SFU: signal ignored");
                Ok(())
            }
        }
    }

    /// The offer of a participant's publishing connection: its feed joins (or is
    /// configured again), Janus's answer goes back, and everyone else takes the feed.
    async fn publish(&mut self, from: &str, sdp: String) -> Result<(), JanusError> {
        let jsep = json!({"type": "offer", "sdp": sdp});
        let seat = self.seats.get(from).map(|s| (s.feed, s.publisher));
        let Some((feed, publisher)) = seat else {
            return Ok(());
        };
        let (handle, request, what) = match publisher {
            Some(handle) => (handle, json!({"request": "configure"}), "publishing again"),
            None => {
                let handle = self.janus.attach().await?;
                let _ = self.handles.send((handle, Some(self.name.clone())));
                let request = json!({
                    "request": "joinandconfigure",
                    "ptype": "publisher",
                    "room": self.id,
                    "pin": self.pin,
                    "id": feed,
                    "display": from,
                });
                (handle, request, "publishing")
            }
        };
        if let Some(seat) = self.seats.get_mut(from) {
            seat.publisher = Some(handle);
        }
        let reply = self
            .janus
            .message(handle, what, request, Some(jsep))
            .await?;
        let Some(answer) = reply.jsep.as_ref().and_then(|j| j["sdp"].as_str()) else {
            return Err(JanusError::Malformed {
                what: what.into(),
                missing: "jsep".into(),
            });
        };
        if reply.data["video_codec"] == "none" && sdp.contains("m=video") {
            tracing::warn!(room = %self.name, peer = %from, "SFU: the publisher's video is not H.264 42e01f; it is not forwarded");
        }
        tracing::trace!(room = %self.name, peer = %from, offer = sdp, answer, "SFU: a publisher's offer and Janus's answer");
        self.feed_ids.insert(feed, msids(&sdp));
        self.hub.deliver_to(
            &self.name,
            from,
            &ServerMessage::Answer {
                from: SFU_PUBLISH.into(),
                sdp: answer.to_string(),
            },
        );
        // A first feed can be taken once its connection is up (Janus's `webrtcup`); one
        // published again (a screen added) is taken again now, for its new sections.
        if publisher.is_some() {
            self.feed_up(from).await?;
        }
        Ok(())
    }

    /// `from`'s feed is up: everyone else takes it.
    async fn feed_up(&mut self, from: &str) -> Result<(), JanusError> {
        let Some(feed) = self.seats.get_mut(from).map(|s| {
            s.published = true;
            s.feed
        }) else {
            return Ok(());
        };
        let others: Vec<PeerId> = self.seats.keys().filter(|p| *p != from).cloned().collect();
        tracing::debug!(room = %self.name, peer = %from, feed, "SFU: feed up");
        for peer in others {
            self.subscribe(&peer).await?;
        }
        Ok(())
    }

    /// Makes `peer`'s subscription take every published feed but its own: the first time by
    /// joining as a subscriber, then by `subscribe`. Janus's offer goes to the participant.
    async fn subscribe(&mut self, peer: &str) -> Result<(), JanusError> {
        let published: BTreeSet<u64> = self
            .seats
            .iter()
            .filter(|(p, s)| *p != peer && s.published)
            .map(|(_, s)| s.feed)
            .collect();
        let (missing, streams) = self.missing_streams(peer, &published);
        let Some(seat) = self.seats.get_mut(peer) else {
            return Ok(());
        };
        if streams.is_empty() {
            return Ok(());
        }
        if seat.awaiting_answer || (seat.subscriber.is_some() && !seat.subscriber_up) {
            seat.update_due = true;
            return Ok(());
        }
        let (handle, request, what) = match seat.subscriber {
            Some(handle) => (
                handle,
                json!({"request": "subscribe", "streams": streams}),
                "subscribing",
            ),
            None => {
                let handle = self.janus.attach().await?;
                let _ = self.handles.send((handle, Some(self.name.clone())));
                let request = json!({
                    "request": "join",
                    "ptype": "subscriber",
                    "room": self.id,
                    "pin": self.pin,
                    "streams": streams,
                    "use_msid": false,
                    "autoupdate": true,
                });
                (handle, request, "joining as a subscriber")
            }
        };
        let seat = self.seats.get_mut(peer).expect("looked up above");
        let first = seat.subscriber.is_none();
        seat.subscriber = Some(handle);
        seat.subscribed.extend(missing.iter().copied());
        match self.janus.message(handle, what, request, None).await {
            Ok(reply) => {
                self.offer_to(peer, &reply.data, reply.jsep.as_ref());
                Ok(())
            }
            Err(e) => {
                // Nothing was taken: the next feed that comes up tries again.
                if let Some(seat) = self.seats.get_mut(peer) {
                    missing.iter().for_each(|f| {
                        seat.subscribed.remove(f);
                    });
                    if first {
                        seat.subscriber = None;
                        seat.subscriber_up = false;
                    }
                }
                if first {
                    let _ = self.handles.send((handle, None));
                    self.janus.detach(handle).await;
                }
                Err(e)
            }
        }
    }

    /// Sends Janus's offer for a subscription to its participant, with the publishers'
    /// stream ids, and notes the sections.
    fn offer_to(&mut self, peer: &str, data: &Value, jsep: Option<&Value>) {
        let Some(seat) = self.seats.get_mut(peer) else {
            return;
        };
        if let Some(streams) = data["streams"].as_array() {
            // Janus lists the sections it took out (a publisher's screen gone) as inactive.
            seat.streams = streams
                .iter()
                .filter(|s| s["active"] != false)
                .filter_map(|s| {
                    let section = view::Section {
                        feed: s["feed_id"].as_u64()?,
                        feed_mid: s["feed_mid"].as_str()?.to_string(),
                        video: s["type"] == "video",
                    };
                    Some((s["mid"].as_str()?.to_string(), section))
                })
                .collect();
        }
        let Some(sdp) = jsep.and_then(|j| j["sdp"].as_str()) else {
            // Janus is renegotiating already; its offer comes as an event.
            return;
        };
        let ids: HashMap<String, Msid> = seat
            .streams
            .iter()
            .filter_map(|(mid, s)| {
                let id = self.feed_ids.get(&s.feed)?.get(&s.feed_mid)?;
                Some((mid.clone(), id.clone()))
            })
            .collect();
        seat.awaiting_answer = true;
        tracing::trace!(room = %self.name, %peer, streams = ?seat.streams, ids = ?ids, sdp, "SFU: offer to a subscriber");
        self.hub.deliver_to(
            &self.name,
            peer,
            &ServerMessage::Offer {
                from: SFU_SUBSCRIBE.into(),
                sdp: with_msids(sdp, &ids),
            },
        );
    }

    /// The participant's answer to a subscription offer.
    async fn start(&mut self, from: &str, sdp: String) -> Result<(), JanusError> {
        let Some(handle) = self.seats.get(from).and_then(|s| s.subscriber) else {
            return Ok(());
        };
        let jsep = json!({"type": "answer", "sdp": sdp});
        let request = json!({"request": "start"});
        let started = self
            .janus
            .message(handle, "starting the subscription", request, Some(jsep))
            .await;
        let seat = self.seats.get_mut(from).expect("looked up above");
        seat.awaiting_answer = false;
        let due = std::mem::take(&mut seat.update_due);
        tracing::debug!(room = %self.name, peer = %from, ok = started.is_ok(), due, "SFU: subscription started");
        started?;
        self.ask_keyframes(from).await;
        if due {
            self.subscribe(from).await?;
        }
        self.apply_view(from).await
    }

    /// Asks the publisher of every feed in `peer`'s subscription for a keyframe: its new
    /// sections have nothing to decode until one comes. Janus asks by itself when a
    /// subscription first starts, not when an update adds a feed, and Chromium sends a
    /// keyframe only when asked; a terminal's own keyframe requests through Janus did not
    /// reliably reach a Chromium publisher in the tests.
    async fn ask_keyframes(&mut self, peer: &str) {
        let feeds = self
            .seats
            .get(peer)
            .map(|s| s.subscribed.clone())
            .unwrap_or_default();
        let handles: Vec<u64> = self
            .seats
            .values()
            .filter(|s| feeds.contains(&s.feed))
            .filter_map(|s| s.publisher)
            .collect();
        for handle in handles {
            let request = json!({"request": "configure", "keyframe": true});
            if let Err(e) = self
                .janus
                .message(handle, "asking for a keyframe", request, None)
                .await
            {
                tracing::debug!(room = %self.name, error = %e, "SFU: keyframe request");
            }
        }
    }

    /// The participant offered on its subscribing connection (an ICE restart): Janus is the
    /// offerer there, so it is asked to restart and offer.
    async fn restart_subscriber(&mut self, from: &str) -> Result<(), JanusError> {
        let Some(handle) = self.seats.get(from).and_then(|s| s.subscriber) else {
            return Ok(());
        };
        let request = json!({"request": "configure", "restart": true});
        let reply = self
            .janus
            .message(handle, "restarting the subscription", request, None)
            .await?;
        if let Some(seat) = self.seats.get_mut(from) {
            seat.awaiting_answer = false;
        }
        self.offer_to(from, &reply.data, reply.jsep.as_ref());
        Ok(())
    }

    /// Something Janus said on its own: a subscription renegotiated (a publisher left) is
    /// offered to its participant; the rest is logged.
    async fn on_janus(&mut self, handle: u64, message: Value) -> Result<(), JanusError> {
        let owner = self
            .seats
            .iter()
            .find(|(_, s)| s.subscriber == Some(handle) || s.publisher == Some(handle))
            .map(|(p, s)| (p.clone(), s.subscriber == Some(handle)));
        let Some((peer, is_subscriber)) = owner else {
            return Ok(());
        };
        let data = &message["plugindata"]["data"];
        match message["janus"].as_str() {
            Some("event") if is_subscriber && message.get("jsep").is_some() => {
                let data = data.clone();
                self.offer_to(&peer, &data, message.get("jsep"));
            }
            Some("webrtcup") if !is_subscriber => {
                tracing::debug!(room = %self.name, %peer, "SFU: feed up");
                self.feed_up(&peer).await?;
            }
            Some("webrtcup") => {
                let due = self.seats.get_mut(&peer).is_some_and(|s| {
                    s.subscriber_up = true;
                    std::mem::take(&mut s.update_due)
                });
                tracing::debug!(room = %self.name, %peer, due, "SFU: subscription up");
                if due {
                    self.subscribe(&peer).await?;
                }
            }
            Some("hangup") => {
                tracing::info!(room = %self.name, %peer, subscriber = is_subscriber, reason = %message["reason"], "SFU: connection hung up");
            }
            Some(kind) => tracing::debug!(room = %self.name, %peer, kind, "SFU: event"),
            None => {}
        }
        Ok(())
    }

    /// Someone left: its handles go (Janus tells the others' subscriptions).
    async fn left(&mut self, peer: &str) -> Result<(), JanusError> {
        let Some(seat) = self.seats.remove(peer) else {
            return Ok(());
        };
        self.feed_ids.remove(&seat.feed);
        for other in self.seats.values_mut() {
            other.subscribed.remove(&seat.feed);
        }
        for handle in [seat.publisher, seat.subscriber].into_iter().flatten() {
            let _ = self.handles.send((handle, None));
            self.janus.detach(handle).await;
        }
        Ok(())
    }
}
