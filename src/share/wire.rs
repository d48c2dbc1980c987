//! The `term` data channel's format, version 1 (written down in ARCHITECTURE.md).
//!
//! Every channel message is one version byte, then a raw DEFLATE chunk ending in a sync
//! flush. Each direction is one DEFLATE stream for the life of the channel (the dictionary
//! carries over from message to message, so a row that changed a little costs a few bytes).
//! Inflated, the stream is a sequence of frames, each a little-endian `u32` length and that
//! many bytes, whose first byte says what it is:
//!
//! | kind | frame | body |
//! | --- | --- | --- |
//! | 1 | screen | `u16` cols, `u16` rows, state, then every row |
//! | 2 | rows | state, `u16` count, then count times `u16` row index and the row |
//! | 3 | end | nothing: the share stopped |
//! | 4 | input | `u16` length and that many bytes, typed by the one holding control |
//!
//! State: `u16` cursor row, `u16` cursor column, `u8` flags (1: cursor visible), `u16`
//! length and the title (UTF-8), `u8` length and the id of who holds control (empty: the
//! sharer). A row: `u16` run count, then runs, each a style (foreground, background,
//! `u8` attributes) and a `u16` length and UTF-8 text. A colour is `0` (default), `1` and a
//! palette index, or `2` and three bytes of RGB. A run's text is its cells in order: each
//! cell one character and the zero-width ones after it; in a run with the wide attribute
//! each cell takes two columns (the continuation is not sent). All numbers little-endian.
//!
//! The format's constants and errors are in `format`, the sending side in `encoder`, the
//! receiving side in `decoder`.

mod decoder;
mod encoder;
mod format;

pub use decoder::{Decoder, Received};
pub use encoder::Encoder;
pub use format::{WireError, FULL_EVERY, MAX_INFLATED, MAX_INPUT, VERSION};

/// `message` (a version byte and a DEFLATE chunk) cut into pieces of at most `max` bytes,
/// each with the version byte: the receiver inflates them in order as one stream.
pub fn pieces(message: &[u8], max: usize) -> impl Iterator<Item = Vec<u8>> + '_ {
    let body = message.get(1..).unwrap_or_default();
    body.chunks(max.max(2) - 1).map(|piece| {
        let mut m = Vec::with_capacity(piece.len() + 1);
        m.push(VERSION);
        m.extend_from_slice(piece);
        m
    })
}

#[cfg(test)]
mod tests;
