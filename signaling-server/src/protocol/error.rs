//! A client message that could not be used, and the `error` message that answers it.

use super::code::ErrorCode;
use super::server_messages::ServerMessage;

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

/// A `bad-field` error; the message names the field.
pub(super) fn bad_field(message: String) -> ProtocolError {
    ProtocolError::new(ErrorCode::BadField, message)
}
