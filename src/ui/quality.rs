//! The quality panel: per peer, the quality level in colour, RTT, loss, bitrate, frame rate
//! and the path (host, srflx, relay).

use ratatui::layout::Rect;
use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::{panel_block, safe};
use crate::app::App;
use crate::headless::script::Quality;

fn colour(q: Quality) -> Color {
    match q {
        Quality::Excellent => Color::Green,
        Quality::Good => Color::LightGreen,
        Quality::Poor => Color::Yellow,
        Quality::Disconnected => Color::Red,
    }
}

/// Draws the quality panel.
pub fn draw(frame: &mut Frame<'_>, area: Rect, app: &App, focused: bool) {
    let mut lines = Vec::new();
    for p in app.meeting.peers.values() {
        lines.push(Line::from(vec![
            Span::raw(format!("{} ", safe(&p.info.name))),
            Span::styled(p.quality.as_str(), Style::default().fg(colour(p.quality))),
            Span::styled(
                format!(" {}", p.connection),
                Style::default().fg(Color::DarkGray),
            ),
        ]));
        lines.push(Line::styled(
            format!(
                " {:.0}ms {:.1}% {:.0}kb/s {:.0}fps {}",
                p.rtt_ms,
                p.loss_pct,
                p.bitrate_kbps,
                p.video_fps(),
                if p.path.is_empty() { "-" } else { &p.path }
            ),
            Style::default().fg(Color::Gray),
        ));
    }
    if lines.is_empty() {
        lines.push(Line::styled(
            "no connections yet",
            Style::default().fg(Color::DarkGray),
        ));
    }
    frame.render_widget(
        Paragraph::new(lines).block(panel_block("quality", focused)),
        area,
    );
}
