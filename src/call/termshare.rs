//! Shared terminals on the links: our own share (a [`TerminalHost`]) sent to every peer's
//! `term` channel, the screens peers share decoded into the meeting state, and keys for a
//! terminal travelling to its sharer when, and only when, the sharer gave us control.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use webrtc::data_channel::DataChannel;

use termmeet_signaling::protocol::ClientMessage;

use super::link::TermEvent;
use super::meeting::Meeting;
use super::state::{MeshState, SharedTerminal};
use super::termroom::{self, Incoming, RoomStream, Take};
use crate::share::wire::{pieces, Decoder, Encoder, Received};
use crate::share::{TermScreen, TerminalHost, TerminalSpec};

/// Screens go out at most this often (changes in between are batched).
pub const BATCH: Duration = Duration::from_millis(33);
/// How often the driver looks for changes.
pub const POLL: Duration = Duration::from_millis(10);
/// The largest channel message sent (webrtc-rs reads up to 16 KiB).
const MAX_MESSAGE: usize = 16_000;
/// A peer with this much unacknowledged on its channel gets no new screens until it drains
/// (it gets the changes together afterwards).
const MAX_OUTSTANDING: usize = 1 << 20;

/// One link's `term` channel.
struct TermLink {
    channel: Arc<dyn DataChannel>,
    open: bool,
    out: Encoder,
    inn: Decoder,
    /// Whether a broken stream from them was reported.
    reported: bool,
}

/// Our share and every link's channel.
#[derive(Default)]
pub(super) struct TermShare {
    host: Option<TerminalHost>,
    /// Who may type besides us: a participant id.
    holder: Option<String>,
    /// The host's version last read.
    seen: u64,
    /// Our share's screen, one copy for the state and every link's encoder.
    screen: Option<Arc<TermScreen>>,
    last_sent: Option<Instant>,
    links: HashMap<String, TermLink>,
    /// Whether the room is on the SFU: shares go through the server ([`termroom`]).
    room: bool,
    /// Our share's stream to the room, on the SFU.
    stream: RoomStream,
    /// Each sharer's stream through the server, as received.
    incoming: HashMap<String, Incoming>,
}

/// What one message of a peer's terminal stream brought.
struct Taken {
    /// Keys for our terminal.
    input: Vec<Vec<u8>>,
    /// Screens and ends.
    updates: u64,
    /// Why the stream cannot be followed, the first time.
    problem: Option<String>,
}

/// Feeds one message of a stream to its decoder.
fn take(inn: &mut Decoder, reported: &mut bool, bytes: &[u8]) -> Taken {
    let mut taken = Taken {
        input: Vec::new(),
        updates: 0,
        problem: None,
    };
    match inn.feed(bytes) {
        Ok(items) => {
            for r in items {
                match r {
                    Received::Screen | Received::Ended => taken.updates += 1,
                    Received::Input(b) => taken.input.push(b),
                }
            }
        }
        Err(e) if !*reported => {
            *reported = true;
            taken.problem = Some(e.to_string());
        }
        Err(_) => {}
    }
    taken
}

/// The screen a decoder holds, as the state shows it.
fn shown(inn: &Decoder) -> Option<SharedTerminal> {
    inn.screen().map(|s| SharedTerminal {
        screen: Arc::new(s.clone()),
        holder: inn.holder().map(str::to_string),
        label: String::new(),
    })
}

fn update<T>(state: &Meeting, f: impl FnOnce(&mut MeshState) -> T) -> T {
    state.update(f)
}

/// Sends `message` (a version byte and a DEFLATE chunk) in pieces webrtc-rs can read, each
/// with the version byte; the bytes sent, or `None` when the channel is gone.
async fn send(channel: &dyn DataChannel, message: &[u8]) -> Option<usize> {
    let mut sent = 0;
    for m in pieces(message, MAX_MESSAGE) {
        sent += m.len();
        if let Err(e) = channel.send(BytesMut::from(Bytes::from(m))).await {
            tracing::debug!("terminal channel send failed: {e}");
            return None;
        }
    }
    Some(sent)
}

impl TermShare {
    /// A new link's channel (replacing the one of an earlier link to the same peer).
    pub fn add_link(&mut self, peer: &str, channel: Arc<dyn DataChannel>) {
        self.links.insert(
            peer.to_string(),
            TermLink {
                channel,
                open: false,
                out: Encoder::new(),
                inn: Decoder::new(),
                reported: false,
            },
        );
    }

    /// A link went away: its channel, and control if it held it (unless the room, on the
    /// SFU, still carries the share to them).
    pub fn remove_link(&mut self, peer: &str, state: &Meeting) {
        self.links.remove(peer);
        if !self.room && self.holder.as_deref() == Some(peer) {
            self.holder = None;
            self.publish(state);
        }
    }

    /// `peer` left the room: their stream, and control if they held it.
    pub fn peer_left(&mut self, peer: &str, state: &Meeting) {
        self.incoming.remove(peer);
        if self.holder.as_deref() == Some(peer) {
            self.holder = None;
            self.publish(state);
        }
    }

    /// Someone arrived while the room is on the SFU: our share starts a new stream for them.
    pub fn peer_arrived(&mut self) {
        if self.room {
            self.stream.restart();
        }
    }

    /// The room moved to the SFU (`true`, shares through the server) or to the mesh.
    pub fn set_room(&mut self, on: bool) {
        self.room = on;
        self.stream = RoomStream::default();
        if !on {
            self.incoming.clear();
        }
    }

    /// Whether we share a terminal.
    pub fn sharing(&self) -> bool {
        self.host.is_some()
    }

    /// Starts sharing `spec` (replacing a share already running).
    pub fn start(&mut self, spec: &TerminalSpec, state: &Meeting) -> Result<(), String> {
        let host = TerminalHost::start(spec)?;
        tracing::info!(command = %spec.label(), size = ?spec.size, "sharing a terminal");
        self.host = Some(host);
        self.holder = None;
        self.seen = 0;
        self.screen = None;
        self.last_sent = None;
        self.read_host(state);
        Ok(())
    }

    /// Stops our share: the program is ended and every viewer told; what goes to the room.
    pub async fn stop(&mut self, state: &Meeting) -> Vec<ClientMessage> {
        if self.host.take().is_none() {
            return Vec::new();
        }
        self.holder = None;
        self.screen = None;
        for (peer, link) in &mut self.links {
            if link.open {
                let m = link.out.end();
                if let Some(n) = send(link.channel.as_ref(), &m).await {
                    update(state, |s| {
                        if let Some(p) = s.peers.get_mut(peer) {
                            p.terminal_bytes += n as u64;
                        }
                    });
                }
            }
        }
        update(state, |s| s.my_terminal = None);
        self.stream.end()
    }

    /// Hands the keyboard to `peer`, or takes it back (`None`).
    pub fn grant(&mut self, peer: Option<String>, state: &Meeting) {
        if !self.sharing() {
            return;
        }
        let here = |p: &String| {
            self.links.contains_key(p) || (self.room && state.read(|s| s.peers.contains_key(p)))
        };
        self.holder = peer.filter(here);
        self.publish(state);
    }

    /// Our own keys into our share.
    pub fn type_local(&self, bytes: &[u8]) {
        if let Some(host) = &self.host {
            host.write(bytes);
        }
    }

    /// Resizes our share; every viewer gets the new size with the next screen.
    pub fn resize(&mut self, cols: u16, rows: u16, state: &Meeting) -> Result<(), String> {
        let host = self.host.as_mut().ok_or("no terminal is shared")?;
        host.resize(cols, rows)?;
        self.read_host(state);
        Ok(())
    }

    /// Our keys for the terminal `peer` shares. The sharer types them only while it shows
    /// us as holding control (the terminal UI sends none before that; a script may, to see
    /// them refused).
    /// On the SFU they go through the server, as the message returned.
    pub async fn type_remote(
        &mut self,
        peer: &str,
        bytes: &[u8],
        state: &Meeting,
    ) -> Option<ClientMessage> {
        let link = self.links.get_mut(peer).filter(|l| l.open);
        let Some(link) = link else {
            if self.room {
                return Some(termroom::keys(peer, bytes));
            }
            tracing::debug!("keys for {peer}'s terminal not sent: the channel is not open");
            return None;
        };
        let m = link.out.input(bytes);
        if let Some(n) = send(link.channel.as_ref(), &m).await {
            update(state, |s| {
                if let Some(p) = s.peers.get_mut(peer) {
                    p.terminal_bytes += n as u64;
                }
            });
        }
        None
    }

    /// Something happened on `peer`'s channel.
    pub fn on_event(&mut self, peer: &str, event: TermEvent, state: &Meeting) {
        let Some(link) = self.links.get_mut(peer) else {
            return;
        };
        match event {
            TermEvent::Open => {
                link.open = true;
                // A late joiner gets the current screen at once.
                self.last_sent = None;
            }
            TermEvent::Closed => {
                link.open = false;
                link.out = Encoder::new();
                link.inn = Decoder::new();
                // On the SFU the room's stream goes on showing their share.
                let still = self.incoming.get(peer).and_then(|i| shown(&i.decoder));
                update(state, |s| {
                    if let Some(p) = s.peers.get_mut(peer) {
                        p.terminal = still;
                    }
                });
                if self.holder.as_deref() == Some(peer) {
                    self.holder = None;
                    self.publish(state);
                }
            }
            TermEvent::Message(bytes) => {
                let taken = take(&mut link.inn, &mut link.reported, &bytes);
                // The decoded screen is copied for the state only when a frame changed it.
                let screen =
                    (taken.updates > 0 || taken.problem.is_some()).then(|| shown(&link.inn));
                self.absorb(peer, taken, screen, bytes.len(), state);
            }
        }
    }

    /// A `term` message through the server (rooms on the SFU): `from`'s screen stream
    /// (`seq`), keys for our terminal, or `sync`, a request for a new stream of ours. What
    /// to send back: a request for a new stream of theirs.
    pub fn on_room(
        &mut self,
        from: &str,
        seq: Option<u64>,
        data: Option<String>,
        sync: bool,
        state: &Meeting,
        now: Instant,
    ) -> Option<ClientMessage> {
        if sync {
            self.stream.restart();
            return None;
        }
        let data = data?;
        let Some(seq) = seq else {
            // Keys, one stream each, which carry no screen.
            let Some(bytes) = termroom::read_keys(&data) else {
                tracing::debug!(from, "keys for our terminal that are not base64");
                return None;
            };
            let mut taken = take(&mut Decoder::new(), &mut true, &bytes);
            taken.updates = 0;
            self.absorb(from, taken, None, bytes.len(), state);
            return None;
        };
        let incoming = self.incoming.entry(from.to_string()).or_default();
        let bytes = match incoming.take(from, seq, &data, now) {
            Take::Feed(bytes) => bytes,
            Take::Skip(ask) => return ask,
        };
        let taken = take(&mut incoming.decoder, &mut incoming.reported, &bytes);
        let ask = if taken.problem.is_some() {
            incoming.broken(from, now)
        } else {
            None
        };
        let screen =
            (taken.updates > 0 || taken.problem.is_some()).then(|| shown(&incoming.decoder));
        self.absorb(from, taken, screen, bytes.len(), state);
        ask
    }

    /// What a message from `peer` brought: keys typed into our share if they hold control,
    /// their screen (when `screen` is `Some`) and the figures into the state.
    fn absorb(
        &mut self,
        peer: &str,
        taken: Taken,
        screen: Option<Option<SharedTerminal>>,
        bytes: usize,
        state: &Meeting,
    ) {
        let allowed = self.host.is_some() && self.holder.as_deref() == Some(peer);
        for keys in &taken.input {
            if allowed {
                self.type_local(keys);
            } else {
                tracing::warn!(
                    peer,
                    bytes = keys.len(),
                    "refused keys for our shared terminal: that participant does not hold control"
                );
            }
        }
        update(state, |s| {
            let name = s.name_of(peer);
            if let Some(p) = s.peers.get_mut(peer) {
                p.terminal_bytes += bytes as u64;
                p.terminal_updates += taken.updates;
                if let Some(screen) = screen {
                    p.terminal = screen;
                }
            }
            if let Some(e) = taken.problem {
                s.push_error(format!("{name}'s shared terminal cannot be shown: {e}"));
            }
        });
    }

    /// Reads our share's screen, when it changed, into the state.
    fn read_host(&mut self, state: &Meeting) {
        let Some(host) = &self.host else {
            return;
        };
        let v = host.version();
        if v == self.seen && self.screen.is_some() {
            return;
        }
        self.seen = v;
        self.screen = Some(Arc::new(host.screen()));
        self.publish(state);
    }

    /// Our share as the state shows it.
    fn publish(&self, state: &Meeting) {
        let mine = match (&self.host, &self.screen) {
            (Some(host), Some(screen)) => Some(SharedTerminal {
                screen: Arc::clone(screen),
                holder: self.holder.clone(),
                label: host.spec().label(),
            }),
            _ => None,
        };
        update(state, |s| s.my_terminal = mine);
    }

    /// Every [`POLL`]: sends what changed (at most every [`BATCH`]) to every open channel,
    /// and ends a share whose program ended once its last screen is out. What goes to the
    /// room through the server, on the SFU.
    pub async fn tick(&mut self, now: Instant, state: &Meeting) -> Vec<ClientMessage> {
        let Some(host) = &self.host else {
            return Vec::new();
        };
        let exited = host.exited();
        if exited.is_none() && self.last_sent.is_some_and(|t| now < t + BATCH) {
            return Vec::new();
        }
        let mut out = self.send_screens(now, state).await;
        if let Some(why) = exited {
            out.extend(self.stop(state).await);
            update(state, |s| {
                s.push_error(format!("your shared terminal stopped: {why}"))
            });
        }
        out
    }

    /// The room's share of a batch, on the SFU: counted for every peer it reaches there.
    fn room_screens(&mut self, now: Instant, state: &Meeting) -> Vec<ClientMessage> {
        let Some(screen) = self.screen.as_ref().filter(|_| self.room) else {
            return Vec::new();
        };
        let out = self.stream.screen(screen, self.holder.as_deref(), now);
        if !out.is_empty() {
            let n: usize = out
                .iter()
                .map(|m| match m {
                    ClientMessage::Term { data: Some(d), .. } => d.len() / 4 * 3,
                    _ => 0,
                })
                .sum();
            let links = &self.links;
            update(state, |s| {
                for (id, p) in s.peers.iter_mut() {
                    if !links.contains_key(id) {
                        p.terminal_bytes += n as u64;
                        p.terminal_updates += 1;
                    }
                }
            });
        }
        out
    }

    async fn send_screens(&mut self, now: Instant, state: &Meeting) -> Vec<ClientMessage> {
        self.read_host(state);
        let room = self.room_screens(now, state);
        let Some(screen) = &self.screen else {
            return room;
        };
        let mut sent_any = false;
        for (peer, link) in &mut self.links {
            // Only a link with something to send asks its channel how full it is.
            if !link.open || !link.out.is_due(screen, self.holder.as_deref(), now) {
                continue;
            }
            if link.channel.outstanding_bytes().await.unwrap_or(0) > MAX_OUTSTANDING {
                continue;
            }
            let Some(m) = link.out.screen(screen, self.holder.as_deref(), now) else {
                continue;
            };
            sent_any = true;
            if let Some(n) = send(link.channel.as_ref(), &m).await {
                update(state, |s| {
                    if let Some(p) = s.peers.get_mut(peer) {
                        p.terminal_bytes += n as u64;
                        p.terminal_updates += 1;
                    }
                });
            }
        }
        if sent_any {
            self.last_sent = Some(now);
        }
        room
    }
}
