//! Shared terminals on the links: our own share (a [`TerminalHost`]) sent to every peer's
//! `term` channel, the screens peers share decoded into the meeting state, and keys for a
//! terminal travelling to its sharer when, and only when, the sharer gave us control.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use webrtc::data_channel::DataChannel;

use super::link::TermEvent;
use super::meeting::Meeting;
use super::state::{MeshState, SharedTerminal};
use crate::share::wire::{Decoder, Encoder, Received, VERSION};
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
}

fn update<T>(state: &Meeting, f: impl FnOnce(&mut MeshState) -> T) -> T {
    state.update(f)
}

/// Sends `message` (a version byte and a DEFLATE chunk) in pieces webrtc-rs can read, each
/// with the version byte; the bytes sent, or `None` when the channel is gone.
async fn send(channel: &dyn DataChannel, message: &[u8]) -> Option<usize> {
    let body = message.get(1..).unwrap_or_default();
    let mut sent = 0;
    for piece in body.chunks(MAX_MESSAGE - 1) {
        let mut m = BytesMut::with_capacity(piece.len() + 1);
        m.extend_from_slice(&[VERSION]);
        m.extend_from_slice(piece);
        sent += m.len();
        if let Err(e) = channel.send(m).await {
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

    /// A link went away: its channel, its screen, and control if it held it.
    pub fn remove_link(&mut self, peer: &str, state: &Meeting) {
        self.links.remove(peer);
        if self.holder.as_deref() == Some(peer) {
            self.holder = None;
            self.publish(state);
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

    /// Stops our share: the program is ended and every viewer told.
    pub async fn stop(&mut self, state: &Meeting) {
        if self.host.take().is_none() {
            return;
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
    }

    /// Hands the keyboard to `peer`, or takes it back (`None`).
    pub fn grant(&mut self, peer: Option<String>, state: &Meeting) {
        if !self.sharing() {
            return;
        }
        self.holder = peer.filter(|p| self.links.contains_key(p));
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
    pub async fn type_remote(&mut self, peer: &str, bytes: &[u8], state: &Meeting) {
        let Some(link) = self.links.get_mut(peer) else {
            return;
        };
        if !link.open {
            tracing::debug!("keys for {peer}'s terminal not sent: the channel is not open");
            return;
        }
        let m = link.out.input(bytes);
        if let Some(n) = send(link.channel.as_ref(), &m).await {
            update(state, |s| {
                if let Some(p) = s.peers.get_mut(peer) {
                    p.terminal_bytes += n as u64;
                }
            });
        }
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
                update(state, |s| {
                    if let Some(p) = s.peers.get_mut(peer) {
                        p.terminal = None;
                    }
                });
                if self.holder.as_deref() == Some(peer) {
                    self.holder = None;
                    self.publish(state);
                }
            }
            TermEvent::Message(bytes) => {
                let received = link.inn.feed(&bytes);
                let mut input = Vec::new();
                let mut updates = 0;
                let mut problem = None;
                match received {
                    Ok(items) => {
                        for r in items {
                            match r {
                                Received::Screen | Received::Ended => updates += 1,
                                Received::Input(b) => input.push(b),
                            }
                        }
                    }
                    Err(e) if !link.reported => {
                        link.reported = true;
                        problem = Some(e.to_string());
                    }
                    Err(_) => {}
                }
                // The decoded screen is copied for the state only when a frame changed it.
                let screen = (updates > 0 || problem.is_some()).then(|| {
                    link.inn.screen().map(|s| SharedTerminal {
                        screen: Arc::new(s.clone()),
                        holder: link.inn.holder().map(str::to_string),
                        label: String::new(),
                    })
                });
                let allowed = self.host.is_some() && self.holder.as_deref() == Some(peer);
                for keys in &input {
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
                        p.terminal_bytes += bytes.len() as u64;
                        p.terminal_updates += updates;
                        if let Some(screen) = screen {
                            p.terminal = screen;
                        }
                    }
                    if let Some(e) = problem {
                        s.push_error(format!("{name}'s shared terminal cannot be shown: {e}"));
                    }
                });
            }
        }
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
    /// and ends a share whose program ended once its last screen is out.
    pub async fn tick(&mut self, now: Instant, state: &Meeting) {
        let Some(host) = &self.host else {
            return;
        };
        let exited = host.exited();
        if exited.is_none() && self.last_sent.is_some_and(|t| now < t + BATCH) {
            return;
        }
        self.send_screens(now, state).await;
        if let Some(why) = exited {
            self.stop(state).await;
            update(state, |s| {
                s.push_error(format!("your shared terminal stopped: {why}"))
            });
        }
    }

    async fn send_screens(&mut self, now: Instant, state: &Meeting) {
        self.read_host(state);
        let Some(screen) = &self.screen else {
            return;
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
    }
}
