//! Reading one client frame: JSON, a known `type`, every field's type, then ranges and
//! sanitised text. This is the only way the server reads client input.

use super::client_messages::{ClientMessage, CLIENT_TYPES};
use super::code::ErrorCode;
use super::error::{bad_field, ProtocolError};
use super::schema::check_fields;
use crate::limits::{
    MAX_CHAT_CHARS, MAX_NAME_CHARS, MAX_ROOM_CHARS, MAX_TERM_DATA, MAX_VIEW, PROTOCOL_VERSION,
};
use crate::sanitize::{sanitize_chat_text, sanitize_name};

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
            sfu,
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
                sfu,
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
        ClientMessage::View { video: Some(video) } if video.len() > MAX_VIEW => {
            return Err(bad_field(format!(
                "field `video`: at most {MAX_VIEW} peers (got {})",
                video.len()
            )));
        }
        ClientMessage::Term {
            to,
            seq,
            data,
            sync,
        } => {
            check_term(to.as_deref(), seq, data.as_deref(), sync)?;
            ClientMessage::Term {
                to,
                seq,
                data,
                sync,
            }
        }
        other => other,
    })
}

/// A `term` message is a screen stream's piece (`seq` and `data`, no `to`), keys (`to` and
/// `data`) or a request for a new stream (`to` and `sync`), its data base64 of at most
/// [`MAX_TERM_DATA`] characters.
fn check_term(
    to: Option<&str>,
    seq: Option<u64>,
    data: Option<&str>,
    sync: bool,
) -> Result<(), ProtocolError> {
    let shape_ok = matches!(
        (to, seq, data, sync),
        (None, Some(_), Some(_), false)
            | (Some(_), None, Some(_), false)
            | (Some(_), None, None, true)
    );
    if !shape_ok {
        return Err(bad_field(
            "a `term` message is `seq` and `data` (to the room), `to` and `data` (keys), or `to` and `sync`".to_string(),
        ));
    }
    if let Some(data) = data {
        let base64 = data
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='));
        if data.is_empty() || data.len() > MAX_TERM_DATA || !base64 {
            return Err(bad_field(format!(
                "field `data`: must be 1 to {MAX_TERM_DATA} characters of base64"
            )));
        }
    }
    Ok(())
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
