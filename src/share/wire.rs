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

use std::sync::Arc;
use std::time::{Duration, Instant};

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

use super::screen::{
    clean_cell_text, clean_title, is_zero_width, Cell, Colour, Style, TermScreen, ALL_ATTRS,
    MAX_SIZE, WIDE, WIDE_CONTINUATION,
};

/// The format's version, the first byte of every message.
pub const VERSION: u8 = 1;
/// A full screen is sent at least this often (besides on join and resize).
pub const FULL_EVERY: Duration = Duration::from_secs(5);
/// The most one message may inflate to, and the longest frame.
pub const MAX_INFLATED: usize = 4 << 20;
/// The most bytes one input frame carries.
pub const MAX_INPUT: usize = 4096;
/// The longest id of a control holder.
const MAX_HOLDER: usize = 64;

const KIND_SCREEN: u8 = 1;
const KIND_ROWS: u8 = 2;
const KIND_END: u8 = 3;
const KIND_INPUT: u8 = 4;

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

    fn message(&mut self, frame: &[u8]) -> Vec<u8> {
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

/// What a message from a peer said.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Received {
    /// The shared screen changed (read it with [`Decoder::screen`]).
    Screen,
    /// The share stopped.
    Ended,
    /// Keys from the peer, to type into our shared terminal if it holds control.
    Input(Vec<u8>),
}

/// One side's incoming stream on a channel: the inflater and the screen it has built.
pub struct Decoder {
    inflate: Decompress,
    pending: Vec<u8>,
    screen: Option<TermScreen>,
    holder: Option<String>,
    broken: Option<WireError>,
}

impl Default for Decoder {
    fn default() -> Decoder {
        Decoder::new()
    }
}

impl Decoder {
    /// A fresh stream (a new channel).
    pub fn new() -> Decoder {
        Decoder {
            inflate: Decompress::new(false),
            pending: Vec::new(),
            screen: None,
            holder: None,
            broken: None,
        }
    }

    /// The screen the peer shares, if it shares one.
    pub fn screen(&self) -> Option<&TermScreen> {
        self.screen.as_ref()
    }

    /// Who holds control of that screen (a participant id; `None`: its sharer).
    pub fn holder(&self) -> Option<&str> {
        self.holder.as_deref()
    }

    /// Takes one channel message. After an error the stream cannot be followed any more
    /// and every later message gives the same error.
    pub fn feed(&mut self, message: &[u8]) -> Result<Vec<Received>, WireError> {
        if let Some(e) = &self.broken {
            return Err(e.clone());
        }
        let r = self.feed_inner(message);
        if let Err(e) = &r {
            self.broken = Some(e.clone());
            self.screen = None;
        }
        r
    }

    fn feed_inner(&mut self, message: &[u8]) -> Result<Vec<Received>, WireError> {
        let (&version, body) = message
            .split_first()
            .ok_or(WireError::Frame("empty message"))?;
        if version != VERSION {
            return Err(WireError::Version(version));
        }
        let mut pos = 0;
        loop {
            if self.pending.len() > MAX_INFLATED + 4 {
                return Err(WireError::Inflate("a frame over 4 MiB".into()));
            }
            if self.pending.capacity() - self.pending.len() < 256 {
                self.pending.reserve(self.pending.capacity().max(1024));
            }
            let before = self.inflate.total_in();
            let status = self
                .inflate
                .decompress_vec(&body[pos..], &mut self.pending, FlushDecompress::Sync)
                .map_err(|e| WireError::Inflate(e.to_string()))?;
            pos += (self.inflate.total_in() - before) as usize;
            if status == Status::StreamEnd {
                return Err(WireError::Inflate("the stream ended".into()));
            }
            if pos >= body.len() && self.pending.len() < self.pending.capacity() {
                break;
            }
        }
        let mut out = Vec::new();
        while self.pending.len() >= 4 {
            let len = u32::from_le_bytes([
                self.pending[0],
                self.pending[1],
                self.pending[2],
                self.pending[3],
            ]) as usize;
            if len > MAX_INFLATED {
                return Err(WireError::Frame("a frame over 4 MiB"));
            }
            if self.pending.len() < 4 + len {
                break;
            }
            let frame: Vec<u8> = self.pending.drain(..4 + len).skip(4).collect();
            out.push(self.frame(&frame)?);
        }
        Ok(out)
    }

    fn frame(&mut self, frame: &[u8]) -> Result<Received, WireError> {
        let mut r = Reader { buf: frame, pos: 0 };
        match r.u8()? {
            KIND_SCREEN => {
                let cols = r.u16()?;
                let rows = r.u16()?;
                if cols == 0 || rows == 0 || cols > MAX_SIZE.0 || rows > MAX_SIZE.1 {
                    return Err(WireError::Frame("a screen size out of bounds"));
                }
                let mut screen = TermScreen::blank(cols, rows);
                let holder = read_state(&mut r, &mut screen)?;
                for row in 0..rows {
                    read_row(&mut r, &mut screen, row)?;
                }
                r.done()?;
                self.screen = Some(screen);
                self.holder = holder;
                Ok(Received::Screen)
            }
            KIND_ROWS => {
                let mut screen = self
                    .screen
                    .take()
                    .ok_or(WireError::Frame("rows before any screen"))?;
                let holder = read_state(&mut r, &mut screen)?;
                let n = r.u16()?;
                for _ in 0..n {
                    let row = r.u16()?;
                    if row >= screen.rows {
                        return Err(WireError::Frame("a row outside the screen"));
                    }
                    read_row(&mut r, &mut screen, row)?;
                }
                r.done()?;
                self.screen = Some(screen);
                self.holder = holder;
                Ok(Received::Screen)
            }
            KIND_END => {
                self.screen = None;
                self.holder = None;
                Ok(Received::Ended)
            }
            KIND_INPUT => {
                let n = usize::from(r.u16()?);
                if n > MAX_INPUT {
                    return Err(WireError::Frame("input over 4 kB"));
                }
                let bytes = r.bytes(n)?.to_vec();
                r.done()?;
                Ok(Received::Input(bytes))
            }
            _ => Err(WireError::Frame("an unknown frame kind")),
        }
    }
}

fn truncate(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn put_u16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_state(out: &mut Vec<u8>, screen: &TermScreen, holder: Option<&str>) {
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

fn put_colour(out: &mut Vec<u8>, c: Colour) {
    match c {
        Colour::Default => out.push(0),
        Colour::Index(i) => out.extend_from_slice(&[1, i]),
        Colour::Rgb(r, g, b) => out.extend_from_slice(&[2, r, g, b]),
    }
}

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

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn bytes(&mut self, n: usize) -> Result<&[u8], WireError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or(WireError::Frame("a frame cut short"))?;
        let b = &self.buf[self.pos..end];
        self.pos = end;
        Ok(b)
    }

    fn u8(&mut self) -> Result<u8, WireError> {
        Ok(self.bytes(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, WireError> {
        let b = self.bytes(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    fn text(&mut self, n: usize) -> Result<&str, WireError> {
        std::str::from_utf8(self.bytes(n)?).map_err(|_| WireError::Frame("text that is not UTF-8"))
    }

    fn colour(&mut self) -> Result<Colour, WireError> {
        match self.u8()? {
            0 => Ok(Colour::Default),
            1 => Ok(Colour::Index(self.u8()?)),
            2 => {
                let b = self.bytes(3)?;
                Ok(Colour::Rgb(b[0], b[1], b[2]))
            }
            _ => Err(WireError::Frame("an unknown colour kind")),
        }
    }

    fn done(&self) -> Result<(), WireError> {
        if self.pos == self.buf.len() {
            Ok(())
        } else {
            Err(WireError::Frame("bytes after the end of a frame"))
        }
    }
}

fn read_state(r: &mut Reader, screen: &mut TermScreen) -> Result<Option<String>, WireError> {
    let row = r.u16()?;
    let col = r.u16()?;
    screen.cursor = (row.min(screen.rows - 1), col.min(screen.cols - 1));
    screen.cursor_visible = r.u8()? & 1 != 0;
    let n = usize::from(r.u16()?);
    screen.title = clean_title(r.text(n)?);
    let n = usize::from(r.u8()?);
    let holder = r.text(n)?;
    Ok((!holder.is_empty()).then(|| holder.to_string()))
}

fn read_row(r: &mut Reader, screen: &mut TermScreen, row: u16) -> Result<(), WireError> {
    let cols = usize::from(screen.cols);
    let mut cells: Vec<Cell> = Vec::with_capacity(cols);
    let runs = r.u16()?;
    for _ in 0..runs {
        let fg = r.colour()?;
        let bg = r.colour()?;
        let attrs = r.u8()? & ALL_ATTRS & !WIDE_CONTINUATION;
        let style = Style { fg, bg, attrs };
        let n = usize::from(r.u16()?);
        let text = r.text(n)?;
        let mut current: Option<String> = None;
        let push = |cells: &mut Vec<Cell>, text: String| {
            cells.push(Cell {
                text: clean_cell_text(&text, false),
                style,
            });
            if attrs & WIDE != 0 {
                cells.push(Cell {
                    text: String::new(),
                    style: Style {
                        attrs: (attrs & !WIDE) | WIDE_CONTINUATION,
                        ..style
                    },
                });
            }
        };
        for c in text.chars() {
            match current.as_mut() {
                Some(t) if is_zero_width(c) => t.push(c),
                _ => {
                    if let Some(t) = current.take() {
                        push(&mut cells, t);
                    }
                    current = Some(String::from(c));
                }
            }
            if cells.len() > cols {
                return Err(WireError::Frame("a row longer than the screen"));
            }
        }
        if let Some(t) = current.take() {
            push(&mut cells, t);
        }
    }
    if cells.len() != cols {
        return Err(WireError::Frame("a row of the wrong length"));
    }
    let start = usize::from(row) * cols;
    screen.cells[start..start + cols].clone_from_slice(&cells);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vt(bytes: &[u8], cols: u16, rows: u16) -> TermScreen {
        let mut p = vt100::Parser::new(rows, cols, 0);
        p.process(bytes);
        TermScreen::from_vt(p.screen(), "title")
    }

    #[test]
    fn a_screen_and_its_changes_arrive_exactly() {
        let t0 = Instant::now();
        let mut enc = Encoder::new();
        let mut dec = Decoder::new();
        let mut p = vt100::Parser::new(30, 100, 0);
        p.process("\x1b[1;32mok\x1b[0m 漢字 e\u{301} \x1b[48;5;200mbg\x1b[0m".as_bytes());
        let s = Arc::new(TermScreen::from_vt(p.screen(), "t"));
        let m = enc.screen(&s, None, t0).expect("first screen");
        assert_eq!(dec.feed(&m), Ok(vec![Received::Screen]));
        assert_eq!(dec.screen(), Some(&*s));
        assert_eq!(enc.screen(&s, None, t0), None, "nothing changed");
        let same_cells = Arc::new(TermScreen::clone(&s));
        assert_eq!(
            enc.screen(&same_cells, None, t0),
            None,
            "a copy with the same cells"
        );
        p.process(b"\r\nsecond line");
        let s2 = Arc::new(TermScreen::from_vt(p.screen(), "t"));
        let m2 = enc
            .screen(&s2, Some("bob"), t0 + Duration::from_millis(33))
            .expect("a change");
        assert!(m2.len() < m.len());
        assert_eq!(dec.feed(&m2), Ok(vec![Received::Screen]));
        assert_eq!(dec.screen(), Some(&*s2));
        assert_eq!(dec.holder(), Some("bob"));
        // A full screen again after FULL_EVERY, cheap because the dictionary has it.
        let m3 = enc.screen(&s2, Some("bob"), t0 + FULL_EVERY).expect("full");
        assert!(m3.len() < m.len(), "{} vs {}", m3.len(), m.len());
        assert_eq!(dec.feed(&m3), Ok(vec![Received::Screen]));
        assert_eq!(
            dec.feed(&enc.input(b"ls\r")),
            Ok(vec![Received::Input(b"ls\r".to_vec())])
        );
        assert_eq!(dec.feed(&enc.end()), Ok(vec![Received::Ended]));
        assert_eq!(dec.screen(), None);
    }

    #[test]
    fn a_resize_sends_the_whole_screen() {
        let t0 = Instant::now();
        let mut enc = Encoder::new();
        let mut dec = Decoder::new();
        for (cols, rows) in [(20, 5), (40, 10), (10, 3)] {
            let s = Arc::new(vt(b"abc", cols, rows));
            let m = enc.screen(&s, None, t0).expect("screen");
            dec.feed(&m).expect("decodes");
            assert_eq!(dec.screen(), Some(&*s));
        }
    }

    #[test]
    fn bad_messages_are_errors_not_panics() {
        let mut dec = Decoder::new();
        assert_eq!(dec.feed(&[]), Err(WireError::Frame("empty message")));
        let mut dec = Decoder::new();
        assert_eq!(dec.feed(&[9, 1, 2]), Err(WireError::Version(9)));
        let mut dec = Decoder::new();
        assert!(matches!(
            dec.feed(&[1, 0xff, 0xff]),
            Err(WireError::Inflate(_))
        ));
        // A rows frame with no screen before it.
        let mut enc = Encoder::new();
        let mut frame = vec![KIND_ROWS];
        put_state(&mut frame, &TermScreen::blank(2, 2), None);
        put_u16(&mut frame, 0);
        let mut dec = Decoder::new();
        assert_eq!(
            dec.feed(&enc.message(&frame)),
            Err(WireError::Frame("rows before any screen"))
        );
        // Control characters in cells arrive as placeholders.
        let mut enc = Encoder::new();
        let mut s = TermScreen::blank(3, 1);
        s.cells[0].text = "\u{1b}".into();
        let mut dec = Decoder::new();
        dec.feed(
            &enc.screen(&Arc::new(s), None, Instant::now())
                .expect("screen"),
        )
        .expect("decodes");
        assert_eq!(
            dec.screen().map(|s| s.row_text(0)),
            Some("\u{fffd}  ".into())
        );
    }

    proptest::proptest! {
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
            let mut dec = Decoder::new();
            let mut m = vec![VERSION];
            m.extend_from_slice(&bytes);
            let _ = dec.feed(&m);
        }

        #[test]
        fn random_frames_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
            let mut enc = Encoder::new();
            let mut dec = Decoder::new();
            let _ = dec.feed(&enc.message(&bytes));
        }
    }
}
