//! The format's constants (version, frame kinds, bounds) and its errors, read by both the
//! encoder and the decoder.

use std::time::Duration;

/// The format's version, the first byte of every message.
pub const VERSION: u8 = 1;
/// A full screen is sent at least this often (besides on join and resize).
pub const FULL_EVERY: Duration = Duration::from_secs(5);
/// The most one message may inflate to, and the longest frame.
pub const MAX_INFLATED: usize = 4 << 20;
/// The most bytes one input frame carries.
pub const MAX_INPUT: usize = 4096;
/// The longest id of a control holder.
pub(super) const MAX_HOLDER: usize = 64;

/// The first byte of a frame: a whole screen.
pub(super) const KIND_SCREEN: u8 = 1;
/// Rows that changed.
pub(super) const KIND_ROWS: u8 = 2;
/// The share stopped.
pub(super) const KIND_END: u8 = 3;
/// Keys for the sharer's program.
pub(super) const KIND_INPUT: u8 = 4;

/// What was wrong with a message from a peer.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// Another version of the format.
    #[error("terminal share format version {0} (this termmeet speaks {VERSION}): update termmeet at one end")]
    Version(u8),
    /// Not DEFLATE, or too big.
    #[error("terminal share data could not be unpacked: {0}")]
    Inflate(String),
    /// A frame that does not parse.
    #[error("bad terminal share frame: {0}")]
    Frame(&'static str),
}
