//! The receiving side of a channel: inflating with bounds, reading frames into a screen,
//! and errors, never panics, for whatever a peer sends.

use flate2::{Decompress, FlushDecompress, Status};

use super::format::{
    WireError, KIND_END, KIND_INPUT, KIND_ROWS, KIND_SCREEN, MAX_INFLATED, MAX_INPUT, VERSION,
};
use crate::share::screen::{
    clean_cell_text, clean_title, is_zero_width, Cell, Colour, Style, TermScreen, ALL_ATTRS,
    MAX_SIZE, WIDE, WIDE_CONTINUATION,
};

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

/// A cursor over one frame's bytes; running off the end is an error.
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

/// Reads the state into `screen`; returns who holds control (`None`: the sharer).
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

/// Reads one row's runs into row `row` of `screen`.
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
