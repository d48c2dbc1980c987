//! The protocol's size limits, in one place that both the message parser
//! ([`crate::protocol`]) and the sanitiser ([`crate::sanitize`]) read.

/// The protocol version this crate speaks.
pub const PROTOCOL_VERSION: u32 = 1;
/// The largest frame, and message, either side accepts (64 KiB).
pub const MAX_FRAME_BYTES: usize = 64 * 1024;
/// The longest display name, in characters, after sanitising.
pub const MAX_NAME_CHARS: usize = 32;
/// The longest room name, in characters.
pub const MAX_ROOM_CHARS: usize = 64;
/// The longest chat message, in characters, after sanitising.
pub const MAX_CHAT_CHARS: usize = 2000;
/// Most peers a `view` may name.
pub const MAX_VIEW: usize = 256;
/// The most base64 characters in one `term` message's `data` (36,000 bytes), well inside a frame.
pub const MAX_TERM_DATA: usize = 48_000;
/// How many chat messages a room keeps for late joiners.
pub const CHAT_HISTORY_LEN: usize = 100;
