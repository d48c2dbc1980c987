//! The wire protocol of `PROTOCOL.md`, version 1: every message a client or the server sends,
//! defined once and shared by the server, the terminal client and the tests.
//!
//! Nothing here knows about sockets or tokio. [`parse_client_message`] is the only way the
//! server reads client input: it never panics and turns every problem into a [`ProtocolError`]
//! whose code is one of `PROTOCOL.md`'s error table.

use serde::{Deserialize, Serialize};

use crate::sanitize::{sanitize_chat_text, sanitize_name};

pub use crate::limits::{
    CHAT_HISTORY_LEN, MAX_CHAT_CHARS, MAX_FRAME_BYTES, MAX_NAME_CHARS, MAX_ROOM_CHARS,
    PROTOCOL_VERSION,
};

/// A participant id: 16 lower-case hex characters chosen by the server.
pub type PeerId = String;

/// One ICE candidate as relayed between peers (the browser's `RTCIceCandidateInit`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct IceCandidate {
    /// The candidate line, `candidate:…`.
    pub candidate: String,
    /// The media section's id.
    #[serde(default)]
    pub sdp_mid: Option<String>,
    /// The media section's index.
    #[serde(default)]
    pub sdp_mline_index: Option<u16>,
    /// The ICE username fragment the candidate belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username_fragment: Option<String>,
}

/// A STUN or TURN server handed to clients in `peers`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct IceServer {
    /// One or more `stun:` / `turn:` URLs.
    pub urls: Vec<String>,
    /// TURN user name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// TURN credential.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
    /// Seconds the credential stays valid from when it was handed out (with a TURN secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<u64>,
}

/// What the server tells everyone about one participant.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct PeerInfo {
    /// The participant's id.
    pub id: PeerId,
    /// The sanitised display name.
    pub name: String,
    /// Whether the microphone is on.
    pub mic: bool,
    /// Whether the camera is on.
    pub cam: bool,
    /// Whether a screen is being shared.
    pub screen: bool,
    /// The WebRTC stream id of the screen track while sharing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub screen_stream_id: Option<String>,
    /// Whether the participant's hand is raised.
    pub hand: bool,
    /// Free text naming the client software.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
}

impl PeerInfo {
    /// A participant as the server first announces them: microphone and camera on, no
    /// screen, no hand, no client named.
    pub fn new(id: impl Into<PeerId>, name: impl Into<String>) -> PeerInfo {
        PeerInfo {
            id: id.into(),
            name: name.into(),
            mic: true,
            cam: true,
            screen: false,
            screen_stream_id: None,
            hand: false,
            client: None,
        }
    }
}

/// The joiner's own identity in `peers`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct You {
    /// The id the server gave this participant.
    pub id: PeerId,
    /// The display name after sanitising.
    pub name: String,
}

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
        /// A join token (see `PROTOCOL.md`, "Access").
        #[serde(default, skip_serializing_if = "Option::is_none")]
        token: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        resume: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        client: Option<String>,
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
}

/// The error codes of `PROTOCOL.md`.
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
    /// Every code, in the order of `PROTOCOL.md`'s table.
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

/// A client message that could not be used, ready to be sent back as `error`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ProtocolError {
    /// The protocol's error code.
    pub code: ErrorCode,
    /// What went wrong, quoting the bad field.
    pub message: String,
    /// The `type` of the message it answers, where known.
    pub reference: Option<String>,
}

impl ProtocolError {
    /// An error with a code and a message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ProtocolError {
            code,
            message: message.into(),
            reference: None,
        }
    }

    /// The same error, answering a message of type `reference`.
    pub fn answering(mut self, reference: &str) -> Self {
        self.reference = Some(reference.to_string());
        self
    }

    /// The `error` message to send.
    pub fn to_message(&self) -> ServerMessage {
        ServerMessage::Error {
            code: self.code,
            message: self.message.clone(),
            reference: self.reference.clone(),
        }
    }
}

/// The `type` values a version-1 client may send.
pub const CLIENT_TYPES: [&str; 15] = [
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
        }
    }

    /// The message as one JSON text frame.
    pub fn to_json(&self) -> String {
        // Serialising these plain structs to a string cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
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

/// Reads one client frame, checks every field, and sanitises names and chat text.
///
/// Never panics: deep nesting, huge numbers, wrong types and missing fields all come back
/// as a [`ProtocolError`] naming what was wrong.
pub fn parse_client_message(text: &str) -> Result<ClientMessage, ProtocolError> {
    // serde_json refuses nesting deeper than 128 levels, so hostile depth cannot overflow
    // the stack here.
    let value: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| ProtocolError::new(ErrorCode::BadJson, format!("not valid JSON: {e}")))?;
    let Some(object) = value.as_object() else {
        return Err(ProtocolError::new(
            ErrorCode::BadJson,
            "a message must be a JSON object with a string \"type\"",
        ));
    };
    let Some(kind) = object.get("type").and_then(|t| t.as_str()) else {
        return Err(ProtocolError::new(
            ErrorCode::BadJson,
            "a message must have a string \"type\"",
        ));
    };
    let kind = kind.to_string();
    if kind.is_empty() || !CLIENT_TYPES.contains(&kind.as_str()) {
        let shown: String = kind.chars().take(40).collect();
        return Err(ProtocolError::new(
            ErrorCode::UnknownType,
            format!("unknown message type {shown:?} (this server speaks protocol version {PROTOCOL_VERSION})"),
        )
        .answering(&shown));
    }
    check_fields(&kind, object).map_err(|e| e.answering(&kind))?;
    let message: ClientMessage = serde_json::from_value(value)
        .map_err(|e| ProtocolError::new(ErrorCode::BadField, e.to_string()).answering(&kind))?;
    validate(message).map_err(|e| e.answering(&kind))
}

/// The JSON type a field must have.
#[derive(Clone, Copy)]
enum FieldKind {
    Str,
    Bool,
    Index,
    /// An ICE candidate object, or `null`.
    Candidate,
}

/// Each message's fields: name, kind, required. Checked before serde so that an error can
/// always name the field (serde's tagged enums lose the path).
fn schema(kind: &str) -> &'static [(&'static str, FieldKind, bool)] {
    use FieldKind::*;
    match kind {
        "join" => &[
            ("room", Str, true),
            ("name", Str, true),
            ("secret", Str, false),
            ("resume", Str, false),
            ("client", Str, false),
        ],
        "offer" | "answer" => &[("to", Str, true), ("sdp", Str, true)],
        "candidate" => &[("to", Str, true), ("candidate", Candidate, false)],
        "media-state" => &[("mic", Bool, true), ("cam", Bool, true)],
        "screen-share-started" => &[("stream_id", Str, true)],
        "lower-hand" => &[("peer", Str, false)],
        "chat" => &[("text", Str, true)],
        _ => &[],
    }
}

const CANDIDATE_SCHEMA: &[(&str, FieldKind, bool)] = &[
    ("candidate", FieldKind::Str, true),
    ("sdp_mid", FieldKind::Str, false),
    ("sdp_mline_index", FieldKind::Index, false),
    ("username_fragment", FieldKind::Str, false),
];

fn check_fields(
    kind: &str,
    object: &serde_json::Map<String, serde_json::Value>,
) -> Result<(), ProtocolError> {
    check_object(object, schema(kind), "")
}

fn check_object(
    object: &serde_json::Map<String, serde_json::Value>,
    fields: &[(&str, FieldKind, bool)],
    prefix: &str,
) -> Result<(), ProtocolError> {
    use serde_json::Value;
    for &(name, kind, required) in fields {
        let value = object.get(name);
        let wanted = match kind {
            FieldKind::Str => "a string",
            FieldKind::Bool => "true or false",
            FieldKind::Index => "a whole number from 0 to 65535",
            FieldKind::Candidate => "a candidate object or null",
        };
        let ok = match (value, kind) {
            (None, _) => !required,
            (Some(Value::Null), _) => !required || matches!(kind, FieldKind::Candidate),
            (Some(Value::String(_)), FieldKind::Str) => true,
            (Some(Value::Bool(_)), FieldKind::Bool) => true,
            (Some(Value::Number(n)), FieldKind::Index) => {
                n.as_u64().is_some_and(|n| n <= u64::from(u16::MAX))
            }
            (Some(Value::Object(inner)), FieldKind::Candidate) => {
                check_object(inner, CANDIDATE_SCHEMA, &format!("{prefix}{name}."))?;
                true
            }
            _ => false,
        };
        if !ok {
            let got = match value {
                None => "it is missing".to_string(),
                Some(v) => format!("got {}", describe(v)),
            };
            return Err(bad_field(format!(
                "field `{prefix}{name}` must be {wanted}; {got}"
            )));
        }
    }
    Ok(())
}

/// A short description of a JSON value for error messages.
fn describe(value: &serde_json::Value) -> String {
    use serde_json::Value;
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) => format!("the string {:?}", s.chars().take(20).collect::<String>()),
        Value::Array(_) => "a list".into(),
        Value::Object(_) => "an object".into(),
    }
}

fn bad_field(message: String) -> ProtocolError {
    ProtocolError::new(ErrorCode::BadField, message)
}

/// Checks ranges and sanitises free text; the result is what the server acts on.
fn validate(message: ClientMessage) -> Result<ClientMessage, ProtocolError> {
    Ok(match message {
        ClientMessage::Join {
            room,
            name,
            secret,
            token,
            resume,
            client,
        } => {
            check_room_name(&room)?;
            let name = sanitize_name(&name).ok_or_else(|| {
                bad_field(format!(
                    "field `name`: must be 1 to {MAX_NAME_CHARS} characters after control characters and escape sequences are removed"
                ))
            })?;
            let client = client.map(|c| {
                let c = sanitize_chat_text(&c).replace('\n', " ");
                c.chars().take(64).collect::<String>()
            });
            ClientMessage::Join {
                room,
                name,
                secret,
                token,
                resume,
                client: client.filter(|c| !c.is_empty()),
            }
        }
        ClientMessage::Chat { text } => {
            let text = sanitize_chat_text(&text);
            let len = text.chars().count();
            if len == 0 || len > MAX_CHAT_CHARS {
                return Err(bad_field(format!(
                    "field `text`: must be 1 to {MAX_CHAT_CHARS} characters after control characters are removed (got {len})"
                )));
            }
            ClientMessage::Chat { text }
        }
        ClientMessage::ScreenShareStarted { stream_id } => {
            if stream_id.is_empty() || stream_id.len() > 256 {
                return Err(bad_field(
                    "field `stream_id`: must be 1 to 256 bytes".to_string(),
                ));
            }
            ClientMessage::ScreenShareStarted { stream_id }
        }
        other => other,
    })
}

/// Checks that a room name is 1 to 64 of `A-Za-z0-9._-`.
pub fn check_room_name(room: &str) -> Result<(), ProtocolError> {
    let ok_chars = room
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if room.is_empty() || room.len() > MAX_ROOM_CHARS || !ok_chars {
        let shown: String = room.chars().take(70).collect();
        return Err(bad_field(format!(
            "field `room`: {shown:?} is not a room name; use 1 to {MAX_ROOM_CHARS} of A-Z a-z 0-9 . _ -"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code_of(text: &str) -> ErrorCode {
        parse_client_message(text).unwrap_err().code
    }

    #[test]
    fn client_types_match_the_enum() {
        let samples = [
            r#"{"type":"join","room":"r","name":"n"}"#,
            r#"{"type":"offer","to":"a","sdp":"x"}"#,
            r#"{"type":"answer","to":"a","sdp":"x"}"#,
            r#"{"type":"candidate","to":"a","candidate":null}"#,
            r#"{"type":"media-state","mic":true,"cam":false}"#,
            r#"{"type":"screen-share-started","stream_id":"s"}"#,
            r#"{"type":"screen-share-stopped"}"#,
            r#"{"type":"raise-hand"}"#,
            r#"{"type":"lower-hand"}"#,
            r#"{"type":"chat","text":"hi"}"#,
            r#"{"type":"chat-enabled"}"#,
            r#"{"type":"chat-disabled"}"#,
            r#"{"type":"leave"}"#,
            r#"{"type":"ping"}"#,
        ];
        for s in samples {
            let m = parse_client_message(s).unwrap_or_else(|e| panic!("{s}: {e}"));
            assert!(CLIENT_TYPES.contains(&m.type_name()));
            // Round trip through the serialiser.
            assert_eq!(parse_client_message(&m.to_json()).unwrap(), m);
        }
    }

    #[test]
    fn errors_name_the_problem() {
        let cases = [
            ("not json", ErrorCode::BadJson),
            ("[1,2]", ErrorCode::BadJson),
            (r#"{"type":5}"#, ErrorCode::BadJson),
            (r#"{"no":"type"}"#, ErrorCode::BadJson),
            (r#"{"type":"dance"}"#, ErrorCode::UnknownType),
            (r#"{"type":""}"#, ErrorCode::UnknownType),
            (r#"{"type":"offer","to":5,"sdp":"x"}"#, ErrorCode::BadField),
            (r#"{"type":"offer","sdp":"x"}"#, ErrorCode::BadField),
            (
                r#"{"type":"join","room":"a b","name":"n"}"#,
                ErrorCode::BadField,
            ),
            (
                r#"{"type":"join","room":"r","name":"   "}"#,
                ErrorCode::BadField,
            ),
            (r#"{"type":"chat","text":"\u0007"}"#, ErrorCode::BadField),
            (
                r#"{"type":"media-state","mic":"yes","cam":true}"#,
                ErrorCode::BadField,
            ),
        ];
        for (text, code) in cases {
            assert_eq!(code_of(text), code, "{text}");
        }
        let e = parse_client_message(r#"{"type":"offer","to":5,"sdp":"x"}"#).unwrap_err();
        assert!(e.message.contains("`to`"), "{}", e.message);
        assert_eq!(e.reference.as_deref(), Some("offer"));
    }

    #[test]
    fn deep_nesting_is_bad_json_not_a_crash() {
        let deep = "[".repeat(10_000) + &"]".repeat(10_000);
        assert_eq!(code_of(&deep), ErrorCode::BadJson);
        let deep_obj = format!(
            "{{\"type\":\"chat\",\"text\":{}1{}}}",
            "[".repeat(10_000),
            "]".repeat(10_000)
        );
        assert_eq!(code_of(&deep_obj), ErrorCode::BadJson);
    }

    #[test]
    fn client_from_is_not_part_of_a_client_message() {
        let m =
            parse_client_message(r#"{"type":"offer","to":"a","sdp":"x","from":"evil"}"#).unwrap();
        assert!(!m.to_json().contains("evil"));
    }

    #[test]
    fn server_messages_round_trip() {
        let m = ServerMessage::Chat(ChatMessage {
            from: "a".into(),
            name: "n".into(),
            text: "t".into(),
            ts: 1,
            seq: 2,
        });
        let json = m.to_json();
        assert!(json.contains(r#""type":"chat""#), "{json}");
        assert_eq!(ServerMessage::parse(&json).unwrap(), m);
        let e = ProtocolError::new(ErrorCode::RoomFull, "full")
            .answering("join")
            .to_message()
            .to_json();
        assert!(e.contains(r#""ref":"join""#) && e.contains(r#""code":"room-full""#));
    }
}
