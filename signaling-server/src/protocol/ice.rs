//! ICE as the protocol carries it: candidates relayed between peers and the STUN and TURN
//! servers handed to clients.

use serde::{Deserialize, Serialize};

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
