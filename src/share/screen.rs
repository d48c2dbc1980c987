//! A terminal screen as cells: what a shared terminal sends and what a viewer draws. Built
//! from the sharer's VT parser ([`TermScreen::from_vt`]) or from the wire; never holds a
//! control character, so drawing it cannot reach anyone's real terminal.

use unicode_width::UnicodeWidthChar;

/// Largest shared terminal accepted, columns by rows.
pub const MAX_SIZE: (u16, u16) = (400, 200);
/// The longest title kept, in characters.
pub const MAX_TITLE: usize = 200;

/// A cell colour.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Colour {
    /// The terminal's own foreground or background.
    #[default]
    Default,
    /// One of the 256 palette colours.
    Index(u8),
    /// A 24-bit colour.
    Rgb(u8, u8, u8),
}

/// Bold text.
pub const BOLD: u8 = 1;
/// Dim text.
pub const DIM: u8 = 2;
/// Italic text.
pub const ITALIC: u8 = 4;
/// Underlined text.
pub const UNDERLINE: u8 = 8;
/// Foreground and background swapped.
pub const INVERSE: u8 = 16;
/// A character two columns wide (the next cell is its continuation).
pub const WIDE: u8 = 32;
/// The right half of a wide character: no text of its own.
pub const WIDE_CONTINUATION: u8 = 64;
/// Every attribute bit the wire may carry.
pub const ALL_ATTRS: u8 = 127;

/// How a cell is drawn.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Style {
    /// Foreground.
    pub fg: Colour,
    /// Background.
    pub bg: Colour,
    /// [`BOLD`], [`ITALIC`] … bits.
    pub attrs: u8,
}

/// One cell: one printable character and any combining marks after it (a blank is a
/// space; the continuation of a wide character is empty).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cell {
    /// The text.
    pub text: String,
    /// Colours and attributes.
    pub style: Style,
}

impl Default for Cell {
    fn default() -> Cell {
        Cell {
            text: " ".into(),
            style: Style::default(),
        }
    }
}

/// A whole screen: cells row by row, the cursor and the title.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TermScreen {
    /// Columns.
    pub cols: u16,
    /// Rows.
    pub rows: u16,
    /// `rows * cols` cells, row by row.
    pub cells: Vec<Cell>,
    /// Cursor row and column.
    pub cursor: (u16, u16),
    /// Whether the program shows the cursor.
    pub cursor_visible: bool,
    /// The window title the program set (plain text).
    pub title: String,
}

/// Whether `c` joins the cell before it (a combining mark, a joiner, a variation selector).
pub fn is_zero_width(c: char) -> bool {
    !c.is_control() && c.width() == Some(0)
}

/// Whether `c` may be drawn: not a control character, not a bidirectional override.
fn printable(c: char) -> bool {
    !c.is_control() && !matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// A cell's text made safe: one printable character that is not zero-width, then only
/// zero-width printable ones (at most 8); anything else becomes U+FFFD. `wide_continuation`
/// cells have no text.
pub fn clean_cell_text(text: &str, wide_continuation: bool) -> String {
    if wide_continuation {
        return String::new();
    }
    let mut chars = text.chars();
    match chars.next() {
        None => " ".into(),
        Some(first) if !printable(first) || is_zero_width(first) => "\u{fffd}".into(),
        Some(first) => {
            let mut out = String::from(first);
            for c in chars.take(8) {
                if printable(c) && is_zero_width(c) {
                    out.push(c);
                }
            }
            out
        }
    }
}

/// A title made safe: printable characters only, at most [`MAX_TITLE`].
pub fn clean_title(title: &str) -> String {
    title
        .chars()
        .filter(|c| printable(*c))
        .take(MAX_TITLE)
        .collect()
}

impl TermScreen {
    /// A blank screen of `cols` by `rows`, clamped to 1..=[`MAX_SIZE`].
    pub fn blank(cols: u16, rows: u16) -> TermScreen {
        let cols = cols.clamp(1, MAX_SIZE.0);
        let rows = rows.clamp(1, MAX_SIZE.1);
        TermScreen {
            cols,
            rows,
            cells: vec![Cell::default(); usize::from(cols) * usize::from(rows)],
            cursor: (0, 0),
            cursor_visible: true,
            title: String::new(),
        }
    }

    /// The cells of row `r`.
    pub fn row(&self, r: u16) -> &[Cell] {
        let w = usize::from(self.cols);
        let start = usize::from(r) * w;
        &self.cells[start..start + w]
    }

    /// The cell at row `r`, column `c`.
    pub fn cell(&self, r: u16, c: u16) -> Option<&Cell> {
        (r < self.rows && c < self.cols)
            .then(|| &self.cells[usize::from(r) * usize::from(self.cols) + usize::from(c)])
    }

    /// The text of row `r`, wide continuations left out and trailing blanks kept.
    pub fn row_text(&self, r: u16) -> String {
        self.row(r).iter().map(|c| c.text.as_str()).collect()
    }

    /// The whole screen as text, one line a row with trailing blanks removed.
    pub fn text(&self) -> String {
        (0..self.rows)
            .map(|r| self.row_text(r).trim_end().to_string())
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Whether `needle` appears on the screen, within a row or across rows joined by
    /// their wrapped text.
    pub fn contains(&self, needle: &str) -> bool {
        let text = self.text();
        text.contains(needle) || text.replace('\n', "").contains(needle)
    }

    /// The screen a VT parser holds, with the title the program set.
    pub fn from_vt(screen: &vt100::Screen, title: &str) -> TermScreen {
        let (rows, cols) = screen.size();
        let mut out = TermScreen::blank(cols, rows);
        for r in 0..out.rows {
            for c in 0..out.cols {
                let Some(cell) = screen.cell(r, c) else {
                    continue;
                };
                let mut attrs = 0;
                for (on, bit) in [
                    (cell.bold(), BOLD),
                    (cell.dim(), DIM),
                    (cell.italic(), ITALIC),
                    (cell.underline(), UNDERLINE),
                    (cell.inverse(), INVERSE),
                    (cell.is_wide(), WIDE),
                    (cell.is_wide_continuation(), WIDE_CONTINUATION),
                ] {
                    if on {
                        attrs |= bit;
                    }
                }
                let i = usize::from(r) * usize::from(out.cols) + usize::from(c);
                out.cells[i] = Cell {
                    text: clean_cell_text(cell.contents(), cell.is_wide_continuation()),
                    style: Style {
                        fg: colour_of(cell.fgcolor()),
                        bg: colour_of(cell.bgcolor()),
                        attrs,
                    },
                };
            }
        }
        out.fix_wide();
        let (cr, cc) = screen.cursor_position();
        out.cursor = (cr.min(out.rows - 1), cc.min(out.cols - 1));
        out.cursor_visible = !screen.hide_cursor();
        out.title = clean_title(title);
        out
    }

    /// Makes every wide character be followed by its continuation and every continuation
    /// follow a wide character (a wide character cut at the right edge becomes a blank).
    pub fn fix_wide(&mut self) {
        let w = usize::from(self.cols);
        for r in 0..usize::from(self.rows) {
            let row = &mut self.cells[r * w..(r + 1) * w];
            let mut c = 0;
            while c < w {
                let wide = row[c].style.attrs & WIDE != 0;
                if wide && c + 1 < w {
                    row[c].style.attrs &= !WIDE_CONTINUATION;
                    let style = Style {
                        attrs: (row[c].style.attrs & !WIDE) | WIDE_CONTINUATION,
                        ..row[c].style
                    };
                    row[c + 1] = Cell {
                        text: String::new(),
                        style,
                    };
                    c += 2;
                } else {
                    if wide || row[c].style.attrs & WIDE_CONTINUATION != 0 || row[c].text.is_empty()
                    {
                        row[c].text = " ".into();
                        row[c].style.attrs &= !(WIDE | WIDE_CONTINUATION);
                    }
                    c += 1;
                }
            }
        }
    }
}

fn colour_of(c: vt100::Color) -> Colour {
    match c {
        vt100::Color::Default => Colour::Default,
        vt100::Color::Idx(i) => Colour::Index(i),
        vt100::Color::Rgb(r, g, b) => Colour::Rgb(r, g, b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(bytes: &[u8]) -> TermScreen {
        let mut p = vt100::Parser::new(5, 20, 0);
        p.process(bytes);
        TermScreen::from_vt(p.screen(), "")
    }

    #[test]
    fn text_colours_and_cursor_come_from_the_parser() {
        let s = parse(b"hello \x1b[1;31mred\x1b[0m\r\n\x1b[38;2;1;2;3mrgb");
        assert_eq!(s.row_text(0).trim_end(), "hello red");
        assert_eq!(s.cell(0, 6).map(|c| c.style.fg), Some(Colour::Index(1)));
        assert_eq!(s.cell(0, 6).map(|c| c.style.attrs), Some(BOLD));
        assert_eq!(s.cell(1, 0).map(|c| c.style.fg), Some(Colour::Rgb(1, 2, 3)));
        assert_eq!(s.cursor, (1, 3));
        assert!(s.contains("red"));
    }

    #[test]
    fn wide_characters_take_two_cells() {
        let s = parse("a漢b".as_bytes());
        assert_eq!(s.cell(0, 1).map(|c| c.text.as_str()), Some("漢"));
        assert_eq!(s.cell(0, 2).map(|c| c.text.as_str()), Some(""));
        assert_eq!(s.cell(0, 3).map(|c| c.text.as_str()), Some("b"));
        assert_eq!(s.row_text(0).trim_end(), "a漢b");
    }

    #[test]
    fn cell_text_is_made_safe() {
        assert_eq!(clean_cell_text("\u{1b}", false), "\u{fffd}");
        assert_eq!(clean_cell_text("\u{301}", false), "\u{fffd}");
        assert_eq!(clean_cell_text("e\u{301}", false), "e\u{301}");
        assert_eq!(clean_cell_text("ex", false), "e");
        assert_eq!(clean_cell_text("", false), " ");
        assert_eq!(clean_title("a\u{1b}]0;x\u{7}b"), "a]0;xb");
    }
}
