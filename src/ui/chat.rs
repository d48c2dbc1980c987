//! The chat panel: scrollback with times and names, and the input line.

use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use ratatui::Frame;

use super::panel_block;
use crate::app::App;
use crate::text::safe;

/// Hours and minutes of a message's time, in the local time of the offset given.
fn clock(ts_ms: u64, utc_offset_secs: i64) -> String {
    let secs = (i64::try_from(ts_ms / 1000).unwrap_or(0) + utc_offset_secs).rem_euclid(86_400);
    format!("{:02}:{:02}", secs / 3600, (secs / 60) % 60)
}

/// Draws the chat panel.
pub fn draw(frame: &mut Frame<'_>, area: Rect, app: &App, focused: bool) {
    let m = &app.meeting;
    let mut lines: Vec<Line> = Vec::new();
    for msg in m.chat.iter() {
        let mine = Some(msg.from.as_str()) == app.my_id();
        let name_style = Style::default().add_modifier(Modifier::BOLD).fg(if mine {
            Color::Cyan
        } else {
            Color::White
        });
        for (i, part) in msg.text.split('\n').enumerate() {
            let mut spans = Vec::new();
            if i == 0 {
                spans.push(Span::styled(
                    format!("{} ", clock(msg.ts, app.utc_offset_secs)),
                    Style::default().fg(Color::DarkGray),
                ));
                spans.push(Span::styled(format!("{}: ", safe(&msg.name)), name_style));
            } else {
                spans.push(Span::raw("  "));
            }
            spans.push(Span::raw(safe(part)));
            lines.push(Line::from(spans));
        }
    }
    if !m.chat_enabled {
        lines.push(Line::styled(
            "chat is turned off by the host",
            Style::default().fg(Color::Yellow),
        ));
    }
    let block = panel_block("chat", focused || app.typing());
    let inner = block.inner(area);
    frame.render_widget(block, area);
    // The input line, when typing, has the bottom row to itself.
    let (history, input) = if app.typing() && inner.height > 1 {
        (
            Rect::new(inner.x, inner.y, inner.width, inner.height - 1),
            Some(Rect::new(
                inner.x,
                inner.y + inner.height - 1,
                inner.width,
                1,
            )),
        )
    } else {
        (inner, None)
    };
    let width = history.width.max(1) as usize;
    // Keep the newest lines in view. Word wrapping can take more rows than the characters
    // alone suggest, so count with some slack and never start mid-message.
    let mut rows = 0;
    let mut start = lines.len();
    while start > 0 {
        let w = lines[start - 1].width();
        let needed = w.div_ceil(width.saturating_sub(6).max(1)).max(1);
        if rows + needed > history.height as usize {
            break;
        }
        rows += needed;
        start -= 1;
    }
    let shown: Vec<Line> = lines.split_off(start);
    frame.render_widget(Paragraph::new(shown).wrap(Wrap { trim: false }), history);
    if let Some(input) = input {
        let chars: Vec<char> = app.input.chars().collect();
        let keep = width.saturating_sub(3);
        let visible: String = chars[chars.len().saturating_sub(keep)..].iter().collect();
        let line = Line::from(vec![
            Span::styled("> ", Style::default().fg(Color::Yellow)),
            Span::raw(safe(&visible)),
            Span::raw("▏"),
        ]);
        frame.render_widget(Paragraph::new(line), input);
    }
}

#[cfg(test)]
mod tests {
    use super::clock;

    #[test]
    fn times_are_local() {
        // 2025-11-24 16:00 UTC.
        let ts = 1_764_000_000_000;
        assert_eq!(clock(ts, 0), "16:00");
        assert_eq!(clock(ts, 3600), "17:00");
        assert_eq!(clock(ts, -5 * 3600 - 1800), "10:30");
        assert_eq!(clock(ts, 9 * 3600), "01:00");
    }
}
