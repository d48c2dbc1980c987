//! The quality panel: per peer, the quality level in colour, RTT, loss, jitter, bitrate in
//! and out, frame rate and the path (host, srflx, relay); concealed audio and video freezes
//! when there were any; and what the microphone's sound processing does.

use ratatui::layout::Rect;
use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::panel_block;
use crate::app::App;
use crate::call::stats::Quality;
use crate::text::safe;

fn colour(q: Quality) -> Color {
    match q {
        Quality::Excellent => Color::Green,
        Quality::Good => Color::LightGreen,
        Quality::Poor => Color::Yellow,
        Quality::Disconnected => Color::Red,
    }
}

/// What the network cost this peer's media, when it cost anything: the share of their audio
/// concealed over the last 5 s, and how many times their video froze.
pub fn hurt(p: &crate::call::state::PeerState) -> String {
    let mut out = String::new();
    if p.concealed_recent_pct >= 0.5 {
        out.push_str(&format!(" {:.0}% concealed", p.concealed_recent_pct));
    }
    if p.freezes > 0 {
        let s = if p.freezes == 1 { "" } else { "s" };
        out.push_str(&format!(" {} freeze{s}", p.freezes));
    }
    out
}

/// Draws the quality panel.
pub fn draw(frame: &mut Frame<'_>, area: Rect, app: &App, focused: bool) {
    let mut lines = Vec::new();
    let row = |a: &str, b: &str, c: &str, d: &str, e: &str, f: &str| {
        format!(" {a:>4} {b:>5} {c:>4} {d:>4} {e:>4} {f:>3}")
    };
    if !app.meeting.peers.is_empty() {
        lines.push(Line::styled(
            row("rtt", "loss", "jit", "↓kb", "↑kb", "fps"),
            Style::default().fg(Color::DarkGray),
        ));
    }
    for p in app.meeting.peers.values() {
        lines.push(Line::from(vec![
            Span::raw(format!("{} ", safe(&p.info.name))),
            Span::styled(p.quality.as_str(), Style::default().fg(colour(p.quality))),
            Span::styled(
                if p.path.as_str().is_empty() {
                    String::new()
                } else {
                    format!(" {}", p.path)
                },
                Style::default().fg(Color::DarkGray),
            ),
            Span::styled(hurt(p), Style::default().fg(Color::Yellow)),
        ]));
        lines.push(Line::styled(
            row(
                &format!("{:.0}ms", p.rtt_ms),
                &format!("{:.1}%", p.loss_pct),
                &format!("{:.0}ms", p.jitter_ms),
                &format!("{:.0}", p.bitrate_kbps),
                &format!("{:.0}", p.bitrate_out_kbps),
                &format!("{:.0}", p.video_fps()),
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
    if let Some(view) = &app.processing {
        let colour = if !view.features.any() {
            Color::Yellow
        } else {
            Color::DarkGray
        };
        lines.push(Line::styled(view.describe(), Style::default().fg(colour)));
        if let Some(figures) = view.figures() {
            lines.push(Line::styled(figures, Style::default().fg(colour)));
        }
    }
    frame.render_widget(
        Paragraph::new(lines).block(panel_block("quality", focused)),
        area,
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::call::state::PeerState;
    use termmeet_signaling::protocol::PeerInfo;

    #[test]
    fn concealment_and_freezes_show_only_when_there_were_any() {
        let mut p = PeerState::new_for_tests(PeerInfo::new("b", "bob"));
        assert_eq!(hurt(&p), "");
        p.concealed_pct = 20.0;
        p.concealed_recent_pct = 3.4;
        p.freezes = 1;
        assert_eq!(hurt(&p), " 3% concealed 1 freeze");
        p.freezes = 4;
        assert_eq!(hurt(&p), " 3% concealed 4 freezes");
    }
}
