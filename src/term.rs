//! A ratatui backend that writes fewer bytes than the stock crossterm one: it sets only the
//! colour that changed, moves the cursor forward over short gaps with `CSI n C` instead of an
//! absolute move, and sends each frame in one write. Over SSH, bytes are frame rate.
//! Everything but `draw` is done with crossterm's commands, as its backend does.

use std::io::{self, Write};

use crossterm::{cursor, queue, terminal};
use ratatui::backend::{Backend, ClearType, WindowSize};
use ratatui::buffer::Cell;
use ratatui::layout::{Position, Size};
use ratatui::style::{Color, Modifier};

/// Counts the bytes that pass through to the terminal (for `--stats` and the status bar).
pub struct CountingWriter<W> {
    inner: W,
    count: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl<W: Write> CountingWriter<W> {
    /// Wraps `inner`; the counter goes up by every byte written.
    pub fn new(
        inner: W,
    ) -> (
        CountingWriter<W>,
        std::sync::Arc<std::sync::atomic::AtomicU64>,
    ) {
        let count = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        (
            CountingWriter {
                inner,
                count: std::sync::Arc::clone(&count),
            },
            count,
        )
    }
}

impl<W: Write> Write for CountingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.count
            .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// The byte-lean backend.
pub struct LeanBackend<W: Write> {
    writer: W,
    /// The frame being assembled, written in one go.
    out: Vec<u8>,
}

impl<W: Write> LeanBackend<W> {
    /// Wraps a writer (usually stdout).
    pub fn new(writer: W) -> LeanBackend<W> {
        LeanBackend {
            writer,
            out: Vec::with_capacity(64 * 1024),
        }
    }

    /// The writer underneath.
    pub fn writer(&self) -> &W {
        &self.writer
    }

    /// The writer underneath, for what goes out besides cells (pictures by a graphics
    /// protocol).
    pub fn writer_mut(&mut self) -> &mut W {
        &mut self.writer
    }
}

/// Appends the SGR parameters for `color` as foreground (`fg`) or background.
fn color_params(out: &mut Vec<u8>, color: Color, fg: bool) {
    let base = if fg { 30 } else { 40 };
    let named = |out: &mut Vec<u8>, n: u8, bright: bool| {
        let code = if bright {
            base + 60 + n as u32
        } else {
            base + n as u32
        };
        let _ = write!(out, "{code}");
    };
    match color {
        Color::Reset => {
            let _ = write!(out, "{}", base + 9);
        }
        Color::Black => named(out, 0, false),
        Color::Red => named(out, 1, false),
        Color::Green => named(out, 2, false),
        Color::Yellow => named(out, 3, false),
        Color::Blue => named(out, 4, false),
        Color::Magenta => named(out, 5, false),
        Color::Cyan => named(out, 6, false),
        Color::Gray => named(out, 7, false),
        Color::DarkGray => named(out, 0, true),
        Color::LightRed => named(out, 1, true),
        Color::LightGreen => named(out, 2, true),
        Color::LightYellow => named(out, 3, true),
        Color::LightBlue => named(out, 4, true),
        Color::LightMagenta => named(out, 5, true),
        Color::LightCyan => named(out, 6, true),
        Color::White => named(out, 7, true),
        Color::Indexed(i) => {
            let _ = write!(out, "{};5;{i}", base + 8);
        }
        Color::Rgb(r, g, b) => {
            let _ = write!(out, "{};2;{r};{g};{b}", base + 8);
        }
    }
}

/// SGR codes of the modifiers, in order.
const MODIFIER_CODES: [(Modifier, u8); 9] = [
    (Modifier::BOLD, 1),
    (Modifier::DIM, 2),
    (Modifier::ITALIC, 3),
    (Modifier::UNDERLINED, 4),
    (Modifier::SLOW_BLINK, 5),
    (Modifier::RAPID_BLINK, 6),
    (Modifier::REVERSED, 7),
    (Modifier::HIDDEN, 8),
    (Modifier::CROSSED_OUT, 9),
];

/// Appends the escape sequences that draw `cells`, starting from the terminal's default
/// colours with the cursor in an unknown place. Pure, for tests.
pub fn encode<'a>(out: &mut Vec<u8>, cells: impl Iterator<Item = (u16, u16, &'a Cell)>) {
    let (mut fg, mut bg, mut modifier) = (Color::Reset, Color::Reset, Modifier::empty());
    let mut cursor: Option<(u16, u16)> = None;
    let mut styled = false;
    for (x, y, cell) in cells {
        match cursor {
            Some((cx, cy)) if cy == y && cx == x => {}
            // A short forward gap on the same row: CSI n C is shorter than an absolute move.
            Some((cx, cy)) if cy == y && x > cx && x - cx < 100 => {
                let _ = write!(out, "\x1b[{}C", x - cx);
            }
            _ => {
                let _ = write!(out, "\x1b[{};{}H", y + 1, x + 1);
            }
        }
        if cell.modifier != modifier {
            // Reset, then set what this cell needs: simpler than removing one by one.
            out.extend_from_slice(b"\x1b[0m");
            fg = Color::Reset;
            bg = Color::Reset;
            for (m, code) in MODIFIER_CODES {
                if cell.modifier.contains(m) {
                    let _ = write!(out, "\x1b[{code}m");
                }
            }
            modifier = cell.modifier;
            styled = !modifier.is_empty();
        }
        let (fg_changed, bg_changed) = (cell.fg != fg, cell.bg != bg);
        if fg_changed || bg_changed {
            out.extend_from_slice(b"\x1b[");
            if fg_changed {
                color_params(out, cell.fg, true);
            }
            if fg_changed && bg_changed {
                out.push(b';');
            }
            if bg_changed {
                color_params(out, cell.bg, false);
            }
            out.push(b'm');
            fg = cell.fg;
            bg = cell.bg;
            styled = true;
        }
        let symbol = cell.symbol();
        out.extend_from_slice(symbol.as_bytes());
        // Wide symbols move the cursor two columns; let the next cell position itself.
        let width = unicode_width(symbol);
        cursor = Some((x.saturating_add(width), y));
    }
    if styled || fg != Color::Reset || bg != Color::Reset {
        out.extend_from_slice(b"\x1b[0m");
    }
}

/// Display width of a cell's symbol: 1 for everything this program draws in one cell,
/// 2 for the East Asian wide and emoji ranges.
fn unicode_width(symbol: &str) -> u16 {
    match symbol.chars().next() {
        Some(c)
            if ('\u{1100}'..='\u{115F}').contains(&c)
                || ('\u{2E80}'..='\u{A4CF}').contains(&c)
                || ('\u{AC00}'..='\u{D7A3}').contains(&c)
                || ('\u{F900}'..='\u{FAFF}').contains(&c)
                || ('\u{FE30}'..='\u{FE4F}').contains(&c)
                || ('\u{FF00}'..='\u{FF60}').contains(&c)
                || ('\u{FFE0}'..='\u{FFE6}').contains(&c)
                || ('\u{1F300}'..='\u{1FAFF}').contains(&c)
                || ('\u{20000}'..='\u{3FFFD}').contains(&c) =>
        {
            2
        }
        _ => 1,
    }
}

impl<W: Write> Backend for LeanBackend<W> {
    type Error = io::Error;

    fn draw<'a, I>(&mut self, content: I) -> io::Result<()>
    where
        I: Iterator<Item = (u16, u16, &'a Cell)>,
    {
        self.out.clear();
        encode(&mut self.out, content);
        if !self.out.is_empty() {
            self.writer.write_all(&self.out)?;
        }
        Ok(())
    }

    fn hide_cursor(&mut self) -> io::Result<()> {
        queue!(self.writer, cursor::Hide)?;
        self.writer.flush()
    }

    fn show_cursor(&mut self) -> io::Result<()> {
        queue!(self.writer, cursor::Show)?;
        self.writer.flush()
    }

    fn get_cursor_position(&mut self) -> io::Result<Position> {
        // The whole screen is ours and the cursor hidden: where it was does not matter, and
        // asking would wait for (and without an answer, fail on) a terminal that does not
        // answer position requests.
        Ok(Position::ORIGIN)
    }

    fn set_cursor_position<P: Into<Position>>(&mut self, position: P) -> io::Result<()> {
        let p = position.into();
        queue!(self.writer, cursor::MoveTo(p.x, p.y))?;
        self.writer.flush()
    }

    fn clear(&mut self) -> io::Result<()> {
        self.clear_region(ClearType::All)
    }

    fn clear_region(&mut self, clear_type: ClearType) -> io::Result<()> {
        let kind = match clear_type {
            ClearType::All => terminal::ClearType::All,
            ClearType::AfterCursor => terminal::ClearType::FromCursorDown,
            ClearType::BeforeCursor => terminal::ClearType::FromCursorUp,
            ClearType::CurrentLine => terminal::ClearType::CurrentLine,
            ClearType::UntilNewLine => terminal::ClearType::UntilNewLine,
        };
        queue!(self.writer, terminal::Clear(kind))?;
        self.writer.flush()
    }

    fn append_lines(&mut self, n: u16) -> io::Result<()> {
        for _ in 0..n {
            self.writer.write_all(b"\n")?;
        }
        self.writer.flush()
    }

    fn size(&self) -> io::Result<Size> {
        terminal::size().map(|(width, height)| Size { width, height })
    }

    fn window_size(&mut self) -> io::Result<WindowSize> {
        let (cols, rows) = terminal::size()?;
        let pixels = terminal::window_size()
            .map(|w| Size {
                width: w.width,
                height: w.height,
            })
            .unwrap_or_default();
        Ok(WindowSize {
            columns_rows: Size {
                width: cols,
                height: rows,
            },
            pixels,
        })
    }

    fn flush(&mut self) -> io::Result<()> {
        self.writer.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::buffer::Buffer;
    use ratatui::layout::Rect;

    fn encoded(cells: &[(u16, u16, Cell)]) -> String {
        let mut out = Vec::new();
        encode(&mut out, cells.iter().map(|(x, y, c)| (*x, *y, c)));
        String::from_utf8(out).unwrap()
    }

    fn cell(symbol: &str, fg: Color, bg: Color) -> Cell {
        let mut c = Cell::default();
        c.set_symbol(symbol).set_fg(fg).set_bg(bg);
        c
    }

    #[test]
    fn sets_only_what_changed() {
        let red_on_blue = cell("▀", Color::Rgb(255, 0, 0), Color::Rgb(0, 0, 255));
        let red_on_green = cell("▀", Color::Rgb(255, 0, 0), Color::Indexed(34));
        let plain = cell("a", Color::Reset, Color::Reset);
        let got = encoded(&[
            (0, 0, red_on_blue.clone()),
            (1, 0, red_on_blue),
            (2, 0, red_on_green),
            (6, 0, plain.clone()),
            (0, 3, plain),
        ]);
        assert_eq!(
            got,
            "\x1b[1;1H\x1b[38;2;255;0;0;48;2;0;0;255m▀▀\x1b[48;5;34m▀\x1b[3C\x1b[39;49ma\x1b[4;1Ha\x1b[0m"
        );
    }

    #[test]
    fn modifiers_and_named_colours() {
        let mut bold = cell("B", Color::LightRed, Color::Black);
        bold.modifier = Modifier::BOLD | Modifier::UNDERLINED;
        let got = encoded(&[(0, 0, bold), (1, 0, cell("n", Color::Gray, Color::Reset))]);
        assert_eq!(
            got,
            "\x1b[1;1H\x1b[0m\x1b[1m\x1b[4m\x1b[91;40mB\x1b[0m\x1b[37mn\x1b[0m"
        );
    }

    #[test]
    fn fewer_bytes_than_the_stock_backend() {
        // A full redraw of a two-colour striped screen, through both backends.
        let area = Rect::new(0, 0, 80, 24);
        let mut buf = Buffer::empty(area);
        for y in 0..24 {
            for x in 0..80 {
                let c = if (x / 4 + y) % 2 == 0 {
                    Color::Rgb(200, 10, 10)
                } else {
                    Color::Rgb(10, 10, 200)
                };
                buf[(x, y)]
                    .set_symbol("▀")
                    .set_fg(c)
                    .set_bg(Color::Rgb(0, 0, 0));
            }
        }
        let cells = || {
            buf.content
                .iter()
                .enumerate()
                .map(|(i, c)| ((i % 80) as u16, (i / 80) as u16, c))
        };
        let mut lean = LeanBackend::new(Vec::new());
        lean.draw(cells()).unwrap();
        let mut stock_bytes = Vec::new();
        ratatui::backend::CrosstermBackend::new(&mut stock_bytes)
            .draw(cells())
            .unwrap();
        let (l, s) = (lean.writer().len(), stock_bytes.len());
        assert!(l < s, "lean {l} bytes, stock {s}");
    }
}
