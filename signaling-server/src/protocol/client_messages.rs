//! Every message a client may send, and the `type` names of version 1.

use serde::{Deserialize, Serialize};

use super::ice::IceCandidate;
use super::peer::PeerId;

/// Every message a client may send.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum ClientMessage {
    /// Join a room (or resume a dropped session with `resume`).
    Join {
        room: String,
        name: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        secret: Option<String>,
        /// A join token (see `docs/protocol.md`, "Access").
        #[serde(default, skip_serializing_if = "Option::is_none")]
        token: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        resume: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        client: Option<String>,
        /// The client can publish to and subscribe from the SFU (1.2). A room goes through
        /// the SFU only while every participant can.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        sfu: bool,
    },
    /// An SDP offer for one peer.
    Offer { to: PeerId, sdp: String },
    /// An SDP answer for one peer.
    Answer { to: PeerId, sdp: String },
    /// An ICE candidate for one peer; `None` ends the candidates.
    Candidate {
        to: PeerId,
        candidate: Option<IceCandidate>,
    },
    /// The sender's microphone and camera state.
    MediaState { mic: bool, cam: bool },
    /// The sender started sharing a screen in the stream `stream_id`.
    ScreenShareStarted { stream_id: String },
    /// The sender stopped sharing.
    ScreenShareStopped {},
    /// Raise the sender's hand.
    RaiseHand {},
    /// Lower the sender's hand, or `peer`'s when the sender is host.
    LowerHand {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        peer: Option<PeerId>,
    },
    /// A chat message to the whole room.
    Chat { text: String },
    /// Host only: allow chat.
    ChatEnabled {},
    /// Host only: forbid chat for everyone but the host.
    ChatDisabled {},
    /// Leave at once, with no resume.
    Leave {},
    /// Application-level keepalive.
    Ping {},
    /// Asks for fresh TURN credentials (answered with `ice-servers`).
    RefreshIce {},
    /// The peers whose cameras the sender shows (1.2). Through the SFU only their camera
    /// video is sent to it; `None` means everyone's. Audio and screens always come.
    View {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        video: Option<Vec<PeerId>>,
    },
    /// A shared terminal through the server, for rooms on the SFU (1.3). Without `to`: the
    /// sender's screen stream to the room, `seq` numbering its messages (0 starts a new
    /// stream). With `to`: keys for `to`'s terminal in `data`, or `sync` to ask `to` for a
    /// new stream. `data` is base64.
    Term {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        to: Option<PeerId>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        seq: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        data: Option<String>,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        sync: bool,
    },
}

/// The `type` values a version-1 client may send.
pub const CLIENT_TYPES: [&str; 17] = [
    "join",
    "offer",
    "answer",
    "candidate",
    "media-state",
    "screen-share-started",
    "screen-share-stopped",
    "raise-hand",
    "lower-hand",
    "chat",
    "chat-enabled",
    "chat-disabled",
    "leave",
    "ping",
    "refresh-ice",
    "view",
    "term",
];

impl ClientMessage {
    /// The message's `type` on the wire.
    pub fn type_name(&self) -> &'static str {
        match self {
            ClientMessage::Join { .. } => "join",
            ClientMessage::Offer { .. } => "offer",
            ClientMessage::Answer { .. } => "answer",
            ClientMessage::Candidate { .. } => "candidate",
            ClientMessage::MediaState { .. } => "media-state",
            ClientMessage::ScreenShareStarted { .. } => "screen-share-started",
            ClientMessage::ScreenShareStopped {} => "screen-share-stopped",
            ClientMessage::RaiseHand {} => "raise-hand",
            ClientMessage::LowerHand { .. } => "lower-hand",
            ClientMessage::Chat { .. } => "chat",
            ClientMessage::ChatEnabled {} => "chat-enabled",
            ClientMessage::ChatDisabled {} => "chat-disabled",
            ClientMessage::Leave {} => "leave",
            ClientMessage::Ping {} => "ping",
            ClientMessage::RefreshIce {} => "refresh-ice",
            ClientMessage::View { .. } => "view",
            ClientMessage::Term { .. } => "term",
        }
    }

    /// The message as one JSON text frame.
    pub fn to_json(&self) -> String {
        // Serialising these plain structs to a string cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}
