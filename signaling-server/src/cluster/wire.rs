//! What instances say to each other through Redis: one JSON envelope a message, published
//! on the receiving instance's channel. One instance's messages to another arrive in the
//! order they were sent, because each instance publishes from one task on one connection.

use serde::{Deserialize, Serialize};

use crate::protocol::ErrorCode;

/// The channel an instance listens on.
pub(crate) fn channel(node: &str) -> String {
    format!("tm:to:{node}")
}

/// The key that says an instance is alive; it expires unless the instance keeps it fresh.
pub(crate) fn node_key(node: &str) -> String {
    format!("tm:node:{node}")
}

/// The key naming the instance that owns a room.
pub(crate) fn owner_key(room: &str) -> String {
    format!("tm:room:{room}:owner")
}

/// One message between instances.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub(crate) struct Envelope {
    /// What it is.
    pub(crate) k: Kind,
    /// The sending instance.
    pub(crate) n: String,
    /// The connection it is about, numbered by the instance the participant is connected to.
    pub(crate) c: u64,
    /// A client's message (edge to owner) or a server frame (owner to edge), as JSON text.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub(crate) t: String,
    /// `join`: the client's address, for the per-address limit on new rooms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) ip: Option<std::net::IpAddr>,
    /// `joined`: the room and the participant's id; `refused`: the error code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) room: Option<String>,
    /// `joined`: the participant's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) id: Option<String>,
    /// `refused`: why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) code: Option<ErrorCode>,
    /// `close`: the WebSocket close code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) close: Option<u16>,
}

/// The kinds of [`Envelope`].
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Kind {
    /// Edge to owner: a `join` (`t`) from connection `c`.
    Join,
    /// Edge to owner: any other message of a seated connection.
    Msg,
    /// Edge to owner: the participant sent `leave`.
    Leave,
    /// Edge to owner: the connection dropped without `leave` (keep the seat for the grace).
    Gone,
    /// Owner to edge: seated as `id` in `room`.
    Joined,
    /// Owner to edge: the join was refused with `code` and the message `t`.
    Refused,
    /// Owner to edge: this instance does not own the room (any more); ask Redis again.
    Moved,
    /// Owner to edge: a frame for the connection.
    Frame,
    /// Owner to edge: close the connection with `close` and the reason `t`.
    Close,
    /// Owner to edge: drop the connection (it was taken over by a resume, or is too slow).
    Kick,
}

impl Envelope {
    /// An envelope of `k` from `n` about connection `c`, with text `t`.
    pub(crate) fn new(k: Kind, n: &str, c: u64, t: impl Into<String>) -> Envelope {
        Envelope {
            k,
            n: n.to_string(),
            c,
            t: t.into(),
            ip: None,
            room: None,
            id: None,
            code: None,
            close: None,
        }
    }

    /// The envelope as JSON.
    pub(crate) fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelopes_round_trip_and_stay_small() {
        let mut e = Envelope::new(Kind::Join, "n1", 7, r#"{"type":"join"}"#);
        e.ip = Some("10.0.0.1".parse().unwrap());
        let json = e.to_json();
        assert_eq!(serde_json::from_str::<Envelope>(&json).unwrap(), e);
        let frame = Envelope::new(Kind::Frame, "n2", 9, "{}").to_json();
        assert_eq!(frame, r#"{"k":"frame","n":"n2","c":9,"t":"{}"}"#);
    }
}
