//! The error codes of `docs/protocol.md`'s table, as the wire spells them.

use serde::{Deserialize, Serialize};

/// The error codes of `docs/protocol.md`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorCode {
    /// Not a JSON object, or no string `type`.
    BadJson,
    /// A binary frame.
    BadFrame,
    /// A `type` this version does not know.
    UnknownType,
    /// A field missing, of the wrong type, or out of range.
    BadField,
    /// Anything but `join` and `ping` before `join`.
    NotJoined,
    /// A second `join` on one connection.
    AlreadyJoined,
    /// The room's secret did not match.
    BadSecret,
    /// The room (or the server) is full.
    RoomFull,
    /// `to` or `peer` is not in the sender's room.
    UnknownPeer,
    /// A host-only action by someone who is not host.
    Forbidden,
    /// Chat while chat is disabled.
    ChatDisabled,
    /// Over the allowed message rate.
    RateLimited,
    /// This address already holds the allowed number of connections.
    TooManyConnections,
    /// The server needs a join token and this one is missing, forged or for another room.
    BadToken,
    /// The join token's expiry has passed.
    TokenExpired,
}

impl ErrorCode {
    /// Every code, in the order of `docs/protocol.md`'s table.
    pub const ALL: [ErrorCode; 15] = [
        ErrorCode::BadJson,
        ErrorCode::BadFrame,
        ErrorCode::UnknownType,
        ErrorCode::BadField,
        ErrorCode::NotJoined,
        ErrorCode::AlreadyJoined,
        ErrorCode::BadSecret,
        ErrorCode::RoomFull,
        ErrorCode::UnknownPeer,
        ErrorCode::Forbidden,
        ErrorCode::ChatDisabled,
        ErrorCode::RateLimited,
        ErrorCode::BadToken,
        ErrorCode::TokenExpired,
        ErrorCode::TooManyConnections,
    ];

    /// The code as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadJson => "bad-json",
            ErrorCode::BadFrame => "bad-frame",
            ErrorCode::UnknownType => "unknown-type",
            ErrorCode::BadField => "bad-field",
            ErrorCode::NotJoined => "not-joined",
            ErrorCode::AlreadyJoined => "already-joined",
            ErrorCode::BadSecret => "bad-secret",
            ErrorCode::RoomFull => "room-full",
            ErrorCode::UnknownPeer => "unknown-peer",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::ChatDisabled => "chat-disabled",
            ErrorCode::RateLimited => "rate-limited",
            ErrorCode::TooManyConnections => "too-many-connections",
            ErrorCode::BadToken => "bad-token",
            ErrorCode::TokenExpired => "token-expired",
        }
    }

    /// Position in [`ErrorCode::ALL`], for counting.
    pub fn index(self) -> usize {
        ErrorCode::ALL.iter().position(|c| *c == self).unwrap_or(0)
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
