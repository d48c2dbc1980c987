//! The help overlay (`?`) and the leave confirmation (`q`).

use ratatui::layout::Rect;
use ratatui::style::{Color, Style};
use ratatui::text::Line;
use ratatui::widgets::{Clear, Paragraph};
use ratatui::Frame;

use super::panel_block;
use crate::app::keys::{KeyBinding, KEYS};
use crate::app::App;
use crate::text::safe;

fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    )
}

/// Draws the help overlay: the keys, the host's while you are host, and the invitation when
/// this process serves the meeting (then the keys go two to a line, to leave it room).
pub fn draw(frame: &mut Frame<'_>, area: Rect, app: &App) {
    let mut keys = help_lines(app.is_host());
    // What the microphone's processing does, under the keys.
    if let Some(view) = &app.processing {
        let figures = view.figures().map(|f| format!(", {f}")).unwrap_or_default();
        keys.push(format!(" {}{figures}", view.describe()));
    }
    let invite = app.invite.as_ref();
    let mut width = 52u16;
    let mut lines: Vec<Line> = Vec::new();
    if let Some(invite) = invite {
        // Cut at the box's width rather than at words, so the lines are as short as they
        // can be and the whole command stays on screen.
        width = area.width.clamp(52, 110);
        let inner = usize::from(width.saturating_sub(2)).max(1);
        let cyan = Style::default().fg(Color::Cyan);
        lines.push(Line::from(" Others join this meeting with:"));
        lines.extend(chunks(&safe(&invite.command), inner).map(|l| Line::from(l).style(cyan)));
        lines.push(Line::from(" or in a browser:"));
        lines.extend(chunks(&safe(&invite.page), inner).map(|l| Line::from(l).style(cyan)));
        lines.push(Line::from(""));
    }
    // Two keys to a line when the invitation takes room or one column is too tall.
    let too_tall = lines.len() + keys.len() + 2 > usize::from(area.height);
    if invite.is_none() && too_tall {
        width = area.width.clamp(52, 110);
    }
    let column = usize::from(width.saturating_sub(2)) / 2;
    if too_tall && column >= 38 {
        for pair in keys.chunks(2) {
            let left: String = pair[0].chars().take(column).collect();
            let right = pair.get(1).map(String::as_str).unwrap_or("");
            lines.push(Line::from(format!("{left:<column$}{right}")));
        }
    } else {
        lines.extend(keys.into_iter().map(Line::from));
    }
    let height = lines.len() as u16 + 2;
    let box_area = centered(area, width, height);
    frame.render_widget(Clear, box_area);
    frame.render_widget(
        Paragraph::new(lines).block(panel_block("keys", true)),
        box_area,
    );
}

/// The key table's help lines: everyone's keys, then the host's (marked so) while we are
/// host.
fn help_lines(host: bool) -> Vec<String> {
    let line =
        |b: &KeyBinding, mark: &str| b.help.map(|what| format!(" {:<7} {what}{mark}", b.label));
    let everyone = KEYS
        .iter()
        .filter(|b| !b.host_only())
        .filter_map(|b| line(b, ""));
    let hosts = KEYS
        .iter()
        .filter(|b| host && b.host_only())
        .filter_map(|b| line(b, " (host)"));
    everyone.chain(hosts).collect()
}

/// `text` in pieces of at most `width` characters.
fn chunks(text: &str, width: usize) -> impl Iterator<Item = String> + '_ {
    let chars: Vec<char> = text.chars().collect();
    (0..chars.len().div_ceil(width)).map(move |i| {
        chars[i * width..((i + 1) * width).min(chars.len())]
            .iter()
            .collect()
    })
}

/// Draws the leave confirmation.
pub fn confirm_quit(frame: &mut Frame<'_>, area: Rect) {
    let box_area = centered(area, 36, 3);
    frame.render_widget(Clear, box_area);
    frame.render_widget(
        Paragraph::new(" Leave the meeting? y / n")
            .style(Style::default().fg(Color::Yellow))
            .block(panel_block("leave", true)),
        box_area,
    );
}
