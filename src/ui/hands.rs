//! The hands panel: the ordered queue, and where you are in it.

use ratatui::layout::Rect;
use ratatui::style::{Color, Style};
use ratatui::text::Line;
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::panel_block;
use crate::app::App;
use crate::text::safe;

/// Draws the hands panel.
pub fn draw(frame: &mut Frame<'_>, area: Rect, app: &App, focused: bool) {
    let m = &app.meeting;
    let mut lines: Vec<Line> = m
        .hands
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let name = safe(&m.name_of(id));
            if Some(id.as_str()) == app.my_id() {
                Line::styled(
                    format!("{}. {name} (you)", i + 1),
                    Style::default().fg(Color::Yellow),
                )
            } else {
                Line::from(format!("{}. {name}", i + 1))
            }
        })
        .collect();
    if let Some(k) = app.hand_position() {
        lines.push(Line::styled(
            format!("you are #{k}"),
            Style::default().fg(Color::Yellow),
        ));
    }
    if m.hands.is_empty() {
        lines.push(Line::styled(
            "no hands raised",
            Style::default().fg(Color::DarkGray),
        ));
    }
    frame.render_widget(
        Paragraph::new(lines).block(panel_block("hands", focused)),
        area,
    );
}
