//! The meeting as this participant sees it ([`MeshState`]), and how each server message
//! changes it ([`MeshState::apply`]). Pure: no links, no sockets, no clock. Every list that
//! grows with the meeting is bounded, so a day-long meeting costs what a short one does, and
//! the state stays small enough to hand to the UI on every change.

use std::collections::BTreeMap;
use std::sync::Arc;

use termmeet_signaling::protocol::{ChatMessage, MediaMode, PeerInfo, ServerMessage, You};

pub use super::peer::{
    IceState, LatencyHistogram, LinkState, PeerState, SharedTerminal, SPEAKING_LEVEL,
};

/// Chat messages kept (the newest).
pub const CHAT_KEPT: usize = 1000;
/// Problems kept for the report and the status bar (the newest).
pub const ERRORS_KEPT: usize = 50;
/// Participants who left, kept for reports and `expect left` (the newest).
pub const DEPARTED_KEPT: usize = 64;

/// The meeting as this participant sees it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MeshState {
    /// Counts changes: the terminal driver takes a new copy only when it moved.
    pub version: u64,
    /// Who we are, once joined.
    pub me: Option<You>,
    /// The host's id.
    pub host: String,
    /// Everyone else, by id.
    pub peers: BTreeMap<String, PeerState>,
    /// The hand queue, first raised first.
    pub hands: Vec<String>,
    /// Chat, oldest first (the last [`CHAT_KEPT`]); shared, so a copy of the state is cheap.
    pub chat: Arc<Vec<ChatMessage>>,
    /// Whether chat is on.
    pub chat_enabled: bool,
    /// Participants who left: (id, name), the last [`DEPARTED_KEPT`].
    pub left: Vec<(String, String)>,
    /// What we received from participants who left, by id (for reports).
    pub departed: BTreeMap<String, PeerState>,
    /// Signaling status for people ("connected", "reconnecting in 2s", …).
    pub signaling: String,
    /// Whether the signaling connection is up.
    pub connected: bool,
    /// Problems worth reporting (bad SDP from a peer, errors from the server), the last
    /// [`ERRORS_KEPT`].
    pub errors: Vec<String>,
    /// Our own mic, camera and screen state.
    pub mic: bool,
    /// Camera on.
    pub cam: bool,
    /// Screen shared.
    pub screen: bool,
    /// The terminal we share, if we do.
    pub my_terminal: Option<SharedTerminal>,
    /// How the room carries media, as the server last said: a mesh, or through the SFU
    /// (where media is decrypted at the server: not end to end).
    pub media_mode: MediaMode,
    /// What we send, over every connection, kbit/s (in the mesh, a copy per peer; through
    /// the SFU, one).
    pub upload_kbps: f64,
}

/// How a server message changed who is in the meeting: what the links must follow.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Roster {
    /// Nobody came or went.
    Unchanged,
    /// A first `peers` (or one after a failed resume): connect afresh to each of these, and
    /// offer (whoever receives `peers` offers to everyone in it).
    Joined(Vec<String>),
    /// `peers` on a resume: the connections stand; these left while we were away.
    Resumed(Vec<String>),
    /// Someone arrived; they will offer.
    Arrived(String),
    /// Someone left.
    Left(String),
}

fn push_bounded<T>(list: &mut Vec<T>, item: T, max: usize) {
    list.push(item);
    if list.len() > max {
        let extra = list.len() - max;
        list.drain(..extra);
    }
}

impl MeshState {
    /// The id of the participant called `name` (present or departed).
    pub fn id_of(&self, name: &str) -> Option<String> {
        self.peers
            .iter()
            .find(|(_, p)| p.info.name == name)
            .map(|(id, _)| id.clone())
            .or_else(|| {
                self.left
                    .iter()
                    .rev()
                    .find(|(_, n)| n == name)
                    .map(|(id, _)| id.clone())
            })
    }

    /// The name of `id`, ourselves included.
    pub fn name_of(&self, id: &str) -> String {
        if let Some(me) = self.me.as_ref().filter(|m| m.id == id) {
            return me.name.clone();
        }
        self.peers
            .get(id)
            .map(|p| p.info.name.clone())
            .or_else(|| {
                self.left
                    .iter()
                    .find(|(i, _)| i == id)
                    .map(|(_, n)| n.clone())
            })
            .unwrap_or_else(|| id.to_string())
    }

    /// Records a problem (the oldest go first).
    pub fn push_error(&mut self, message: String) {
        push_bounded(&mut self.errors, message, ERRORS_KEPT);
    }

    /// Adds chat messages (the oldest go first).
    fn push_chat(&mut self, messages: impl IntoIterator<Item = ChatMessage>) {
        let chat = Arc::make_mut(&mut self.chat);
        chat.extend(messages);
        if chat.len() > CHAT_KEPT {
            let extra = chat.len() - CHAT_KEPT;
            chat.drain(..extra);
        }
    }

    /// Moves a participant to those who left, keeping their figures (not their pictures).
    fn depart(&mut self, id: &str) {
        if let Some(mut p) = self.peers.remove(id) {
            p.latest_video = None;
            p.latest_screen = None;
            push_bounded(
                &mut self.left,
                (id.to_string(), p.info.name.clone()),
                DEPARTED_KEPT,
            );
            self.departed.insert(id.to_string(), p);
            while self.departed.len() > DEPARTED_KEPT {
                let oldest = self.left.first().map(|(i, _)| i.clone());
                let gone = oldest
                    .filter(|i| self.departed.contains_key(i) && i != id)
                    .or_else(|| self.departed.keys().find(|k| *k != id).cloned());
                match gone {
                    Some(k) => self.departed.remove(&k),
                    None => break,
                };
            }
        }
        self.hands.retain(|h| h != id);
    }

    /// Applies what the server says; returns how the roster changed.
    pub fn apply(&mut self, message: ServerMessage) -> Roster {
        self.version += 1;
        match message {
            ServerMessage::Peers {
                you,
                host,
                peers,
                hands,
                chat_enabled,
                chat_history,
                media_mode,
                ..
            } => {
                self.media_mode = media_mode;
                return self.on_peers(you, host, peers, hands, chat_enabled, chat_history);
            }
            ServerMessage::PeerJoined { peer } => {
                let id = peer.id.clone();
                self.peers.insert(id.clone(), PeerState::new(peer));
                return Roster::Arrived(id);
            }
            ServerMessage::PeerLeft { id } => {
                self.depart(&id);
                return Roster::Left(id);
            }
            ServerMessage::MediaState { from, mic, cam } => {
                if let Some(p) = self.peers.get_mut(&from) {
                    p.info.mic = mic;
                    p.info.cam = cam;
                }
            }
            ServerMessage::ScreenShareStarted { from, stream_id } => {
                if let Some(p) = self.peers.get_mut(&from) {
                    p.info.screen = true;
                    p.info.screen_stream_id = Some(stream_id);
                }
            }
            ServerMessage::ScreenShareStopped { from } => {
                if let Some(p) = self.peers.get_mut(&from) {
                    p.info.screen = false;
                    p.latest_screen = None;
                }
            }
            ServerMessage::RaiseHand { queue, .. } | ServerMessage::LowerHand { queue, .. } => {
                for (id, p) in self.peers.iter_mut() {
                    p.info.hand = queue.contains(id);
                }
                self.hands = queue;
            }
            ServerMessage::Chat(m) => self.push_chat([m]),
            ServerMessage::ChatEnabled { .. } => self.chat_enabled = true,
            ServerMessage::ChatDisabled { .. } => self.chat_enabled = false,
            ServerMessage::Host { id } => self.host = id,
            ServerMessage::Error {
                code,
                message,
                reference,
            } => {
                let answering = reference
                    .map(|r| format!(" (answering {r})"))
                    .unwrap_or_default();
                self.push_error(format!("server: {code}: {message}{answering}"));
            }
            ServerMessage::MediaMode { mode, reason } => {
                self.media_mode = mode;
                if let Some(reason) = reason {
                    self.push_error(format!("server: {reason}"));
                }
            }
            ServerMessage::Offer { .. }
            | ServerMessage::Answer { .. }
            | ServerMessage::Candidate { .. }
            | ServerMessage::IceServers { .. }
            | ServerMessage::Term { .. }
            | ServerMessage::Pong {} => {}
        }
        Roster::Unchanged
    }

    fn on_peers(
        &mut self,
        you: You,
        host: String,
        peers: Vec<PeerInfo>,
        hands: Vec<String>,
        chat_enabled: bool,
        chat_history: Vec<ChatMessage>,
    ) -> Roster {
        let resumed = self.me.as_ref().is_some_and(|m| m.id == you.id);
        self.me = Some(you);
        self.host = host;
        self.chat_enabled = chat_enabled;
        if resumed {
            // Chat sent while we were away is not relayed to us, but it is in the history
            // that comes with the resume.
            let last = self.chat.iter().map(|m| m.seq).max().unwrap_or(0);
            self.push_chat(chat_history.into_iter().filter(|m| m.seq > last));
        } else {
            self.chat = Arc::new(Vec::new());
            self.push_chat(chat_history);
        }
        // Whoever is not in the list left while we were away (or before we came back).
        let gone: Vec<String> = self
            .peers
            .keys()
            .filter(|id| !peers.iter().any(|p| &p.id == *id))
            .cloned()
            .collect();
        for id in &gone {
            self.depart(id);
        }
        for p in &peers {
            self.peers
                .entry(p.id.clone())
                .or_insert_with(|| PeerState::new(p.clone()))
                .info = p.clone();
        }
        for (id, p) in self.peers.iter_mut() {
            p.info.hand = hands.contains(id);
        }
        self.hands = hands;
        if resumed {
            Roster::Resumed(gone)
        } else {
            Roster::Joined(peers.into_iter().map(|p| p.id).collect())
        }
    }
}

#[cfg(test)]
mod tests;
