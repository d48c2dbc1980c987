//! The SFU's part of the protocol (version 1.2): how a room carries media, and the two
//! participant ids that stand for the SFU's connections.

use serde::{Deserialize, Serialize};

/// The `to` (and `from`) of the offers, answers and candidates of a participant's
/// publishing connection: everything it sends goes up on it, once.
pub const SFU_PUBLISH: &str = "sfu-publish";
/// The `to` (and `from`) of the subscribing connection: everyone else's media comes down
/// on it. The SFU offers on it; the participant answers.
pub const SFU_SUBSCRIBE: &str = "sfu-subscribe";

/// Whether an id names one of the SFU's connections rather than a participant.
pub fn is_sfu_id(id: &str) -> bool {
    id == SFU_PUBLISH || id == SFU_SUBSCRIBE
}

/// How a room carries media.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum MediaMode {
    /// A peer connection between every two participants.
    #[default]
    Mesh,
    /// One publishing and one subscribing connection per participant, through the SFU.
    Sfu,
}

impl MediaMode {
    /// Whether this is the mesh (the default, left out of `peers`).
    pub fn is_mesh(&self) -> bool {
        *self == MediaMode::Mesh
    }
}
