//! Who is in a room, as the server tells it: participant ids, their state, and the joiner's
//! own identity.

use serde::{Deserialize, Serialize};

/// A participant id: 16 lower-case hex characters chosen by the server.
pub type PeerId = String;

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
