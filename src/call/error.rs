//! The problems the meeting tells the person about: [`MeshError`]. They say what happened;
//! the interfaces (the terminal's status bar, the headless report) say what to do about it.

use super::link::LinkError;
use super::negotiation::Problem;

/// A problem the mesh tells the person about.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MeshError {
    /// A link to a participant could not be made or changed.
    #[error("cannot connect to {name}: {source}")]
    Link {
        /// Who.
        name: String,
        /// What failed.
        source: LinkError,
    },
    /// Negotiation with a participant went wrong.
    #[error("{}", problem.of(name))]
    Negotiation {
        /// Who.
        name: String,
        /// What went wrong.
        problem: Problem,
    },
    /// The TURN relay gave no relay address.
    #[error("the TURN relay {urls} gave no relay address after {secs}s: its credentials were refused or it cannot be reached (check --turn-secret against the relay's static-auth-secret, or --turn-username/--turn-credential, and that UDP to it is open)")]
    NoRelay {
        /// The relay's URLs.
        urls: String,
        /// How long we waited.
        secs: u64,
    },
    /// A participant never connected.
    #[error("no connection with {name} after {secs}s: it never answered, or ICE failed")]
    NeverConnected {
        /// Who.
        name: String,
        /// How long we waited.
        secs: u64,
    },
    /// A message came for a participant we have no link with.
    #[error("{what} from {id}, who is not in the room")]
    UnknownPeer {
        /// The message.
        what: &'static str,
        /// The sender's id.
        id: String,
    },
    /// Sharing the screen failed.
    #[error("cannot share the screen: {0}")]
    Screen(String),
    /// A device could not be opened or changed.
    #[error("{0}")]
    Device(String),
    /// A local source (camera, microphone) stopped; it is off for everyone until it works
    /// again or another is chosen.
    #[error("the {device} stopped ({described}: {why}); it is off for everyone")]
    SourceStopped {
        /// Which: "camera" or "microphone".
        device: &'static str,
        /// What the source was.
        described: String,
        /// Why it stopped.
        why: String,
    },
    /// A local source that stopped works again; it waits to be turned on.
    #[error("the {device} works again; it stays off until turned on")]
    SourceBack {
        /// Which: "camera" or "microphone".
        device: &'static str,
    },
    /// A remote track arrived that cannot be decoded.
    #[error("cannot show or play {name}'s {what}: its decoder did not open")]
    Undecodable {
        /// Whose track.
        name: String,
        /// Which kind, and the decoder's error.
        what: String,
    },
    /// The signaling connection gave up.
    #[error("signaling stopped: {0}")]
    SignalingStopped(String),
}
