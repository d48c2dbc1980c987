//! The device picker overlay (`d`): choices grouped by kind, the highlighted one marked.

use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Clear, Paragraph};
use ratatui::Frame;

use super::panel_block;
use crate::app::devices::DevicePicker;
use crate::text::safe;

/// Draws the picker in the middle of `area`.
pub fn draw(frame: &mut Frame<'_>, area: Rect, picker: &DevicePicker) {
    let mut lines = Vec::new();
    let mut selected_line = 0;
    if picker.choices.is_empty() {
        lines.push(Line::from(" looking for devices…"));
    }
    let mut kind = None;
    for (i, choice) in picker.choices.iter().enumerate() {
        if kind != Some(choice.kind) {
            kind = Some(choice.kind);
            lines.push(Line::styled(
                choice.kind.title(),
                Style::default()
                    .fg(Color::Cyan)
                    .add_modifier(Modifier::BOLD),
            ));
        }
        let label = safe(&choice.label);
        if i == picker.selected {
            selected_line = lines.len();
            lines.push(Line::styled(
                format!(" ▶ {label}"),
                Style::default().fg(Color::Black).bg(Color::Yellow),
            ));
        } else {
            lines.push(Line::from(format!("   {label}")));
        }
    }
    lines.push(Line::styled(
        " ↑↓ choose · ←→ next kind · Enter use · Esc close",
        Style::default().fg(Color::DarkGray),
    ));
    let width = area.width.min(60);
    let height = (lines.len() as u16 + 2).min(area.height);
    let inner = height.saturating_sub(2) as usize;
    // Keep the highlighted line in view on a short terminal.
    let scroll = selected_line.saturating_sub(inner.saturating_sub(2)) as u16;
    let box_area = Rect::new(
        area.x + area.width.saturating_sub(width) / 2,
        area.y + area.height.saturating_sub(height) / 2,
        width,
        height,
    );
    frame.render_widget(Clear, box_area);
    frame.render_widget(
        Paragraph::new(lines)
            .scroll((scroll, 0))
            .block(panel_block("devices", true)),
        box_area,
    );
}
