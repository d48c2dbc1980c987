//! Every message the server sends, and the chat message it keeps in history.

use serde::{Deserialize, Serialize};

use super::code::ErrorCode;
use super::ice::{IceCandidate, IceServer};
use super::peer::{PeerId, PeerInfo, You};
use super::sfu::MediaMode;

/// A chat message as the server broadcasts it and keeps it in history.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct ChatMessage {
    /// Sender id.
    pub from: PeerId,
    /// Sender's display name when it was sent.
    pub name: String,
    /// The sanitised text.
    pub text: String,
    /// Milliseconds since the Unix epoch, stamped by the server.
    pub ts: u64,
    /// Per-room sequence number, from 1.
    pub seq: u64,
}

/// Every message the server sends.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum ServerMessage {
    /// The answer to `join`: who you are and everything about the room.
    Peers {
        you: You,
        resume_token: String,
        host: PeerId,
        peers: Vec<PeerInfo>,
        hands: Vec<PeerId>,
        chat_enabled: bool,
        chat_history: Vec<ChatMessage>,
        ice_servers: Vec<IceServer>,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        resume_failed: bool,
        /// How the room carries media (1.2); left out for the mesh.
        #[serde(default, skip_serializing_if = "MediaMode::is_mesh")]
        media_mode: MediaMode,
    },
    /// Someone joined.
    PeerJoined { peer: PeerInfo },
    /// Someone left (or their grace period ran out).
    PeerLeft { id: PeerId },
    /// A relayed offer.
    Offer { from: PeerId, sdp: String },
    /// A relayed answer.
    Answer { from: PeerId, sdp: String },
    /// A relayed candidate; `None` ends the candidates.
    Candidate {
        from: PeerId,
        candidate: Option<IceCandidate>,
    },
    /// A peer's microphone and camera state.
    MediaState { from: PeerId, mic: bool, cam: bool },
    /// A peer started sharing its screen in stream `stream_id`.
    ScreenShareStarted { from: PeerId, stream_id: String },
    /// A peer stopped sharing its screen.
    ScreenShareStopped { from: PeerId },
    /// A hand went up; `queue` is the whole ordered queue.
    RaiseHand { from: PeerId, queue: Vec<PeerId> },
    /// `from` lowered `peer`'s hand; `queue` is the whole ordered queue.
    LowerHand {
        from: PeerId,
        peer: PeerId,
        queue: Vec<PeerId>,
    },
    /// A chat message.
    Chat(ChatMessage),
    /// The host allowed chat.
    ChatEnabled { from: PeerId },
    /// The host forbade chat.
    ChatDisabled { from: PeerId },
    /// The room has a new host.
    Host { id: PeerId },
    /// Something the client sent could not be used.
    Error {
        code: ErrorCode,
        message: String,
        #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
        reference: Option<String>,
    },
    /// The answer to `ping`.
    Pong {},
    /// The answer to `refresh-ice`: the ICE servers with fresh credentials.
    IceServers { ice_servers: Vec<IceServer> },
    /// The room changes how it carries media (1.2): everyone moves to the SFU, or back to
    /// the mesh; `reason` says why when it is not the room's size (the SFU failed).
    MediaMode {
        mode: MediaMode,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// A shared terminal through the server (1.3): `from`'s screen stream (with `seq`), or
    /// keys for our terminal, or `sync`, a request for a new stream; `data` is base64.
    Term {
        from: PeerId,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        seq: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        data: Option<String>,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        sync: bool,
    },
}

impl ServerMessage {
    /// The message as one JSON text frame.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Reads a server message (the client side's parser). Unknown fields are ignored.
    pub fn parse(text: &str) -> Result<ServerMessage, serde_json::Error> {
        serde_json::from_str(text)
    }
}
