//! The sending side of a channel: one DEFLATE stream, and the screen the other side last
//! got, so that only changed rows go out between full screens.

use std::sync::Arc;
use std::time::Instant;

use flate2::{Compress, Compression, FlushCompress};

use super::format::{
    FULL_EVERY, KIND_END, KIND_INPUT, KIND_ROWS, KIND_SCREEN, MAX_HOLDER, MAX_INPUT, VERSION,
};
use crate::share::screen::{Cell, Colour, Style, TermScreen, WIDE_CONTINUATION};

/// One side's outgoing stream on a channel: the compressor and what the other side last got.
pub struct Encoder {
    deflate: Compress,
    /// What the other side has (shared with the sharer's own copy, not cloned per link).
    sent: Option<Arc<TermScreen>>,
    sent_holder: Option<String>,
    last_full: Option<Instant>,
}

impl Default for Encoder {
    fn default() -> Encoder {
        Encoder::new()
    }
}

impl Encoder {
    /// A fresh stream (a new channel).
    pub fn new() -> Encoder {
        Encoder {
            deflate: Compress::new(Compression::new(6), false),
            sent: None,
            sent_holder: None,
            last_full: None,
        }
    }

    /// Whether [`Encoder::screen`] may have something to send: a screen other than the one
    /// sent (another copy, which may still hold the same cells), another holder, or a full
    /// screen due. Cheap: no cells are compared.
    pub fn is_due(&self, screen: &Arc<TermScreen>, holder: Option<&str>, now: Instant) -> bool {
        let holder = holder.map(|h| truncate(h, MAX_HOLDER));
        !self.sent.as_ref().is_some_and(|s| Arc::ptr_eq(s, screen))
            || self.sent_holder.as_deref() != holder
            || self.last_full.is_none_or(|t| now >= t + FULL_EVERY)
    }

    /// The message that brings the other side to `screen` with `holder` in control: a full
    /// screen the first time, after a resize and every [`FULL_EVERY`], else the rows that
    /// changed; `None` when nothing changed.
    pub fn screen(
        &mut self,
        screen: &Arc<TermScreen>,
        holder: Option<&str>,
        now: Instant,
    ) -> Option<Vec<u8>> {
        if !self.is_due(screen, holder, now) {
            return None;
        }
        let holder = holder.map(|h| truncate(h, MAX_HOLDER));
        let full_due = self.last_full.is_none_or(|t| now >= t + FULL_EVERY);
        let mut frame = Vec::with_capacity(256);
        match &self.sent {
            Some(prev) if prev.cols == screen.cols && prev.rows == screen.rows && !full_due => {
                let changed: Vec<u16> = (0..screen.rows)
                    .filter(|&r| prev.row(r) != screen.row(r))
                    .collect();
                let same_state = prev.cursor == screen.cursor
                    && prev.cursor_visible == screen.cursor_visible
                    && prev.title == screen.title
                    && self.sent_holder.as_deref() == holder;
                if changed.is_empty() && same_state {
                    return None;
                }
                frame.push(KIND_ROWS);
                put_state(&mut frame, screen, holder);
                put_u16(&mut frame, changed.len() as u16);
                for r in changed {
                    put_u16(&mut frame, r);
                    put_row(&mut frame, screen.row(r));
                }
            }
            _ => {
                frame.push(KIND_SCREEN);
                put_u16(&mut frame, screen.cols);
                put_u16(&mut frame, screen.rows);
                put_state(&mut frame, screen, holder);
                for r in 0..screen.rows {
                    put_row(&mut frame, screen.row(r));
                }
                self.last_full = Some(now);
            }
        }
        self.sent = Some(Arc::clone(screen));
        self.sent_holder = holder.map(str::to_string);
        Some(self.message(&frame))
    }

    /// The message that says the share stopped; the next screen starts afresh.
    pub fn end(&mut self) -> Vec<u8> {
        self.sent = None;
        self.sent_holder = None;
        self.last_full = None;
        self.message(&[KIND_END])
    }

    /// Keys typed by the one holding control (at most [`MAX_INPUT`] bytes a frame).
    pub fn input(&mut self, bytes: &[u8]) -> Vec<u8> {
        let bytes = &bytes[..bytes.len().min(MAX_INPUT)];
        let mut frame = vec![KIND_INPUT];
        put_u16(&mut frame, bytes.len() as u16);
        frame.extend_from_slice(bytes);
        self.message(&frame)
    }

    /// One frame as a channel message: the version byte, then the frame with its length
    /// through the stream's compressor, flushed so the other side can read it at once.
    pub(super) fn message(&mut self, frame: &[u8]) -> Vec<u8> {
        let mut plain = Vec::with_capacity(frame.len() + 4);
        plain.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        plain.extend_from_slice(frame);
        let mut out = Vec::with_capacity(plain.len() / 2 + 64);
        out.push(VERSION);
        let mut pos = 0;
        loop {
            if out.capacity() - out.len() < 64 {
                out.reserve(out.capacity().max(256));
            }
            let before = self.deflate.total_in();
            // Compressing into memory only fails on a corrupt stream state, which this
            // encoder never makes; should it happen, the bytes so far still form a valid
            // prefix the other side reports as truncated.
            if self
                .deflate
                .compress_vec(&plain[pos..], &mut out, FlushCompress::Sync)
                .is_err()
            {
                break;
            }
            pos += (self.deflate.total_in() - before) as usize;
            if pos >= plain.len() && out.len() < out.capacity() {
                break;
            }
        }
        out
    }
}

/// The longest prefix of `s` within `max` bytes that ends on a character boundary.
fn truncate(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Appends a little-endian `u16`.
pub(super) fn put_u16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// Appends the state: cursor, its visibility, the title and who holds control.
pub(super) fn put_state(out: &mut Vec<u8>, screen: &TermScreen, holder: Option<&str>) {
    put_u16(out, screen.cursor.0);
    put_u16(out, screen.cursor.1);
    out.push(u8::from(screen.cursor_visible));
    let title = truncate(&screen.title, 1024);
    put_u16(out, title.len() as u16);
    out.extend_from_slice(title.as_bytes());
    let holder = holder.unwrap_or("");
    out.push(holder.len() as u8);
    out.extend_from_slice(holder.as_bytes());
}

/// Appends a colour: default, a palette index, or RGB.
fn put_colour(out: &mut Vec<u8>, c: Colour) {
    match c {
        Colour::Default => out.push(0),
        Colour::Index(i) => out.extend_from_slice(&[1, i]),
        Colour::Rgb(r, g, b) => out.extend_from_slice(&[2, r, g, b]),
    }
}

/// Appends a row as runs of one style each.
fn put_row(out: &mut Vec<u8>, row: &[Cell]) {
    // Runs of one style; wide continuations are implied by the wide attribute.
    let mut runs: Vec<(Style, String)> = Vec::new();
    for cell in row {
        if cell.style.attrs & WIDE_CONTINUATION != 0 {
            continue;
        }
        match runs.last_mut() {
            Some((style, text)) if *style == cell.style => text.push_str(&cell.text),
            _ => runs.push((cell.style, cell.text.clone())),
        }
    }
    put_u16(out, runs.len() as u16);
    for (style, text) in runs {
        put_colour(out, style.fg);
        put_colour(out, style.bg);
        out.push(style.attrs);
        put_u16(out, text.len() as u16);
        out.extend_from_slice(text.as_bytes());
    }
}
