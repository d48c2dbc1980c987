//! A shared terminal drawn as text cells: exact characters, colours and attributes, never
//! scaled. A tile smaller than the shared terminal shows the part around its cursor (moving
//! by half a tile at a time), and PgUp/PgDn pan it.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders};
use ratatui::Frame;

use crate::app::{App, TerminalShown};
use crate::render::ColorMode;
use crate::share::screen::{
    Colour, TermScreen, BOLD, DIM, INVERSE, ITALIC, UNDERLINE, WIDE, WIDE_CONTINUATION,
};
use crate::text::safe;

/// The first row and column shown of a `screen` in a `width` x `height` view: everything
/// when it fits or the cursor is hidden or inside the first view; else the half-tile page
/// around the cursor. Rows are then moved by `pan`.
pub fn viewport(screen: &TermScreen, width: u16, height: u16, pan: i32) -> (u16, u16) {
    // A hidden cursor (top, less) asks for nothing, and one inside the first view needs no
    // move: the screen is then shown from its top left, where people read it from.
    let axis = |size: u16, view: u16, cursor: u16| -> u16 {
        if view == 0 || size <= view || !screen.cursor_visible || cursor < view {
            return 0;
        }
        let step = (view / 2).max(1);
        let start = (cursor / step).saturating_sub(1) * step;
        start.min(size - view)
    };
    let row = axis(screen.rows, height, screen.cursor.0);
    let max_row = screen.rows.saturating_sub(height);
    let row = (i32::from(row) + pan).clamp(0, i32::from(max_row)) as u16;
    (row, axis(screen.cols, width, screen.cursor.1))
}

/// A cell colour as the terminal's colour mode shows it.
fn colour(c: Colour, mode: ColorMode) -> Color {
    match (c, mode) {
        (_, ColorMode::Mono) | (Colour::Default, _) => Color::Reset,
        (Colour::Index(i), ColorMode::TrueColor | ColorMode::Ansi256) => Color::Indexed(i),
        (Colour::Index(i), ColorMode::Ansi16) if i < 16 => Color::Indexed(i),
        (Colour::Index(i), m) => m.color(crate::render::color::palette_256(i)),
        (Colour::Rgb(r, g, b), m) => m.color([r, g, b]),
    }
}

/// Draws `screen` into `area` of `buf`, from row and column `origin`.
pub fn draw_cells(
    buf: &mut Buffer,
    area: Rect,
    screen: &TermScreen,
    origin: (u16, u16),
    mode: ColorMode,
) {
    for y in 0..area.height {
        let r = origin.0 + y;
        if r >= screen.rows {
            break;
        }
        for x in 0..area.width {
            let c = origin.1 + x;
            let Some(cell) = screen.cell(r, c) else {
                break;
            };
            let attrs = cell.style.attrs;
            let mut style = Style::default()
                .fg(colour(cell.style.fg, mode))
                .bg(colour(cell.style.bg, mode));
            for (bit, m) in [
                (BOLD, Modifier::BOLD),
                (DIM, Modifier::DIM),
                (ITALIC, Modifier::ITALIC),
                (UNDERLINE, Modifier::UNDERLINED),
                (INVERSE, Modifier::REVERSED),
            ] {
                if attrs & bit != 0 {
                    style = style.add_modifier(m);
                }
            }
            if screen.cursor_visible && screen.cursor == (r, c) {
                style = style.add_modifier(Modifier::REVERSED);
            }
            let Some(out) = buf.cell_mut((area.x + x, area.y + y)) else {
                continue;
            };
            // A wide character cut by the view's edge shows as a blank; its continuation
            // cell is left to the terminal, which draws the character across both.
            let cut = (attrs & WIDE != 0 && x + 1 >= area.width)
                || (attrs & WIDE_CONTINUATION != 0 && x == 0);
            if attrs & WIDE_CONTINUATION != 0 && !cut {
                out.reset();
                continue;
            }
            out.set_symbol(if cut { " " } else { &cell.text });
            out.set_style(style);
        }
    }
}

/// The tile's title: whose terminal, what runs, and who holds the keyboard (always shown).
fn title(app: &App, shown: &TerminalShown) -> Line<'static> {
    let m = &app.meeting;
    let me = app.my_id().unwrap_or_default().to_string();
    let (whose, sharer_is_me) = match &shown.sharer {
        None => ("your terminal".to_string(), true),
        Some(id) => (format!("{}'s terminal", safe(&m.name_of(id))), false),
    };
    let holder = match (&shown.terminal.holder, sharer_is_me) {
        (Some(h), _) if *h == me => "you".to_string(),
        (Some(h), _) => safe(&m.name_of(h)),
        (None, true) => "you".to_string(),
        (None, false) => match &shown.sharer {
            Some(id) => safe(&m.name_of(id)),
            None => String::new(),
        },
    };
    let mut spans = vec![
        Span::styled(
            format!(" {whose} "),
            Style::default().add_modifier(Modifier::BOLD),
        ),
        Span::styled(
            format!("keyboard: {holder} "),
            Style::default().fg(Color::Yellow),
        ),
    ];
    if app.terminal_focus() {
        spans.push(Span::styled(
            "typing here (Esc Esc: back to the meeting) ",
            Style::default().fg(Color::Green),
        ));
    } else if app.can_type_into(shown) {
        spans.push(Span::styled(
            "Enter: type here ",
            Style::default().fg(Color::DarkGray),
        ));
    }
    let s = &shown.terminal.screen;
    if !shown.terminal.label.is_empty() {
        spans.push(Span::raw(format!("{} ", safe(&shown.terminal.label))));
    } else if !s.title.is_empty() {
        spans.push(Span::raw(format!("{} ", safe(&s.title))));
    }
    spans.push(Span::raw(format!("{}x{} ", s.cols, s.rows)));
    Line::from(spans)
}

/// Draws the shared terminal tile.
pub fn draw(f: &mut Frame<'_>, area: Rect, app: &App, shown: &TerminalShown, mode: ColorMode) {
    let border = if app.terminal_focus() {
        Color::Green
    } else {
        Color::Cyan
    };
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(Style::default().fg(border))
        .title(title(app, shown));
    let inner = block.inner(area);
    f.render_widget(block, area);
    let screen = &shown.terminal.screen;
    let origin = viewport(screen, inner.width, inner.height, app.terminal_pan);
    draw_cells(f.buffer_mut(), inner, screen, origin, mode);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn screen(cols: u16, rows: u16, cursor: (u16, u16)) -> TermScreen {
        let mut s = TermScreen::blank(cols, rows);
        s.cursor = cursor;
        s
    }

    #[test]
    fn a_screen_that_fits_is_shown_whole() {
        assert_eq!(viewport(&screen(100, 30, (29, 99)), 100, 30, 0), (0, 0));
        assert_eq!(viewport(&screen(100, 30, (29, 99)), 120, 40, 5), (0, 0));
    }

    #[test]
    fn a_smaller_view_follows_the_cursor_and_pans() {
        let s = screen(100, 30, (25, 90));
        let (r, c) = viewport(&s, 40, 10, 0);
        assert!((r..r + 10).contains(&25), "{r}");
        assert!((c..c + 40).contains(&90), "{c}");
        assert_eq!(viewport(&s, 40, 10, -100).0, 0);
        assert_eq!(viewport(&s, 40, 10, 100).0, 20);
        // Moving the cursor within the page does not move the view.
        let s2 = screen(100, 30, (25, 91));
        assert_eq!(viewport(&s2, 40, 10, 0), (r, c));
    }

    #[test]
    fn a_wider_screen_is_shown_from_its_left_edge_unless_the_cursor_is_beyond() {
        // top, 100 columns, in a 96-column tile: its cursor hidden at the end of a line.
        let mut s = screen(100, 30, (3, 97));
        s.cursor_visible = false;
        assert_eq!(viewport(&s, 96, 30, 0), (0, 0));
        // A visible cursor within the first 96 columns needs no move either.
        let s = screen(100, 30, (3, 60));
        assert_eq!(viewport(&s, 96, 30, 0), (0, 0));
        // One beyond them does.
        let s = screen(100, 30, (3, 98));
        assert_eq!(viewport(&s, 96, 30, 0), (0, 4));
    }

    #[test]
    fn cells_are_drawn_exactly() {
        let mut p = vt100::Parser::new(3, 10, 0);
        p.process("a\x1b[31mb\x1b[0m漢".as_bytes());
        let s = TermScreen::from_vt(p.screen(), "");
        let area = Rect::new(0, 0, 10, 3);
        let mut buf = Buffer::empty(area);
        draw_cells(&mut buf, area, &s, (0, 0), ColorMode::TrueColor);
        assert_eq!(buf[(0, 0)].symbol(), "a");
        assert_eq!(buf[(1, 0)].symbol(), "b");
        assert_eq!(buf[(1, 0)].fg, Color::Indexed(1));
        assert_eq!(buf[(2, 0)].symbol(), "漢");
        // The cursor (after the wide character) is shown reversed.
        assert!(buf[(4, 0)].modifier.contains(Modifier::REVERSED));
    }
}
