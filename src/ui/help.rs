//! The help overlay (`?`) and the leave confirmation (`q`).

use ratatui::layout::Rect;
use ratatui::style::{Color, Style};
use ratatui::text::Line;
use ratatui::widgets::{Clear, Paragraph};
use ratatui::Frame;

use super::{panel_block, safe};
use crate::session::Invite;

/// Every key, as the help overlay lists them.
pub const KEYS: [(&str, &str); 14] = [
    ("m", "microphone on/off"),
    ("v", "camera on/off"),
    ("s", "share your screen on/off"),
    ("h", "raise or lower your hand"),
    ("c", "chat: type, Enter sends"),
    ("Esc", "leave the chat input"),
    ("w", "grid or speaker layout"),
    ("t", "quality panel"),
    ("p", "peers panel"),
    ("H", "hands panel"),
    ("Tab", "move focus between panels"),
    ("?", "this help"),
    ("q", "leave (asks first)"),
    ("Ctrl-C", "leave at once"),
];

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

/// Draws the help overlay, with the invitation when this process serves the meeting.
pub fn draw(frame: &mut Frame<'_>, area: Rect, invite: Option<&Invite>) {
    let mut lines: Vec<Line> = KEYS
        .iter()
        .map(|(k, what)| Line::from(format!(" {k:<7} {what}")))
        .collect();
    let mut width = 44u16;
    let mut height = KEYS.len() as u16 + 2;
    if let Some(invite) = invite {
        // Cut at the box's width rather than at words, so the lines are as short as they
        // can be and the whole command stays on screen.
        width = area.width.clamp(44, 110);
        let inner = usize::from(width.saturating_sub(2)).max(1);
        let cyan = Style::default().fg(Color::Cyan);
        lines.push(Line::from(" Others join this meeting with:"));
        lines.extend(chunks(&safe(&invite.command), inner).map(|l| Line::from(l).style(cyan)));
        lines.push(Line::from(" or in a browser:"));
        lines.extend(chunks(&safe(&invite.page), inner).map(|l| Line::from(l).style(cyan)));
        height = lines.len() as u16 + 2;
    }
    let box_area = centered(area, width, height);
    frame.render_widget(Clear, box_area);
    frame.render_widget(
        Paragraph::new(lines).block(panel_block("keys", true)),
        box_area,
    );
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
