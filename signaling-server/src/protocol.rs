//! The wire protocol of `docs/protocol.md`, version 1.3: every message a client or the server sends,
//! defined once and shared by the server, the terminal client and the tests.
//!
//! Nothing here knows about sockets or tokio. [`parse_client_message`] is the only way the
//! server reads client input: it never panics and turns every problem into a [`ProtocolError`]
//! whose code is one of `docs/protocol.md`'s error table.
//!
//! The types live in submodules by what they describe; everything is re-exported here, so
//! `protocol::ClientMessage` and the rest are the paths to use.

mod client_messages;
mod code;
mod error;
mod ice;
mod parse;
mod peer;
mod schema;
mod server_messages;
mod sfu;

pub use client_messages::{ClientMessage, CLIENT_TYPES};
pub use code::ErrorCode;
pub use error::ProtocolError;
pub use ice::{IceCandidate, IceServer};
pub use parse::{check_room_name, parse_client_message};
pub use peer::{PeerId, PeerInfo, You};
pub use server_messages::{ChatMessage, ServerMessage};
pub use sfu::{is_sfu_id, MediaMode, SFU_PUBLISH, SFU_SUBSCRIBE};

pub use crate::limits::{
    CHAT_HISTORY_LEN, MAX_CHAT_CHARS, MAX_FRAME_BYTES, MAX_NAME_CHARS, MAX_ROOM_CHARS,
    MAX_TERM_DATA, PROTOCOL_VERSION,
};

#[cfg(test)]
mod tests;
