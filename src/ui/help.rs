//! The help overlay (`?`) and the leave confirmation (`q`).

use ratatui::layout::Rect;
use ratatui::style::{Color, Style};
use ratatui::text::Line;
use ratatui::widgets::{Clear, Paragraph};
use ratatui::Frame;

use super::panel_block;

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

/// Draws the help overlay.
pub fn draw(frame: &mut Frame<'_>, area: Rect) {
    let lines: Vec<Line> = KEYS
        .iter()
        .map(|(k, what)| Line::from(format!(" {k:<7} {what}")))
        .collect();
    let box_area = centered(area, 44, KEYS.len() as u16 + 2);
    frame.render_widget(Clear, box_area);
    frame.render_widget(
        Paragraph::new(lines).block(panel_block("keys", true)),
        box_area,
    );
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
