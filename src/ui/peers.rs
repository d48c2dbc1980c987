//! The peers panel: who is here, their mic, camera, screen and hand, the host, and who is
//! speaking.

use ratatui::layout::Rect;
use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::panel_block;
use crate::text::safe;
use crate::app::App;

/// Draws the peers panel.
pub fn draw(frame: &mut Frame<'_>, area: Rect, app: &App, focused: bool) {
    let m = &app.meeting;
    let mut lines = Vec::new();
    // Who types into the shared terminal shown, besides its sharer.
    let holder = app.shown_terminal().and_then(|t| t.terminal.holder);
    let term = |shares: bool, id: &str, spans: &mut Vec<Span<'static>>| {
        if shares {
            spans.push(Span::styled(" terminal", Style::default().fg(Color::Cyan)));
        }
        if holder.as_deref() == Some(id) {
            spans.push(Span::styled(
                " has keys",
                Style::default().fg(Color::Magenta),
            ));
        }
    };
    if let Some(me) = &m.me {
        let mut spans = vec![Span::raw(format!("{} (you)", safe(&me.name)))];
        if m.host == me.id {
            spans.push(Span::styled(" host", Style::default().fg(Color::Cyan)));
        }
        if m.mic {
            // What we send, so we can see that we are heard.
            spans.push(Span::styled(
                format!(" {}", super::level_meter(app.mic_level)),
                Style::default().fg(Color::Green),
            ));
        } else {
            spans.push(Span::styled(" mic off", Style::default().fg(Color::Red)));
        }
        if !m.cam {
            spans.push(Span::styled(" cam off", Style::default().fg(Color::Red)));
        }
        if m.screen {
            spans.push(Span::styled(" screen", Style::default().fg(Color::Cyan)));
        }
        term(m.my_terminal.is_some(), &me.id, &mut spans);
        if let Some(k) = app.hand_position() {
            spans.push(Span::styled(
                format!(" hand #{k}"),
                Style::default().fg(Color::Yellow),
            ));
        }
        lines.push(Line::from(spans));
    }
    for (id, p) in &m.peers {
        // The highlight (↑ ↓ while the panel has focus) is whom the host's `l` applies to.
        let chosen = focused && app.selected_peer.as_deref() == Some(id.as_str());
        let mut spans = vec![if chosen {
            Span::styled(
                format!("▶{}", safe(&p.info.name)),
                Style::default().fg(Color::Black).bg(Color::Yellow),
            )
        } else {
            Span::raw(safe(&p.info.name))
        }];
        if m.host == *id {
            spans.push(Span::styled(" host", Style::default().fg(Color::Cyan)));
        }
        if !p.info.mic {
            spans.push(Span::styled(" mic off", Style::default().fg(Color::Red)));
        }
        if !p.info.cam {
            spans.push(Span::styled(" cam off", Style::default().fg(Color::Red)));
        }
        if p.info.screen {
            spans.push(Span::styled(" screen", Style::default().fg(Color::Cyan)));
        }
        term(p.terminal.is_some(), id, &mut spans);
        if p.info.hand {
            spans.push(Span::styled(" hand", Style::default().fg(Color::Yellow)));
        }
        if p.info.mic {
            let colour = if p.speaking() {
                Color::Green
            } else {
                Color::DarkGray
            };
            spans.push(Span::styled(
                format!(" {}", super::level_meter(p.audio_level)),
                Style::default().fg(colour),
            ));
        }
        // Read out and compared with theirs, it shows nobody sits between the two of you.
        if let Some(code) = &p.sas {
            spans.push(Span::styled(
                format!(" code {code}"),
                Style::default().fg(Color::DarkGray),
            ));
        }
        lines.push(Line::from(spans));
    }
    if m.peers.is_empty() {
        lines.push(Line::styled(
            "waiting for peers",
            Style::default().fg(Color::DarkGray),
        ));
    }
    frame.render_widget(
        Paragraph::new(lines).block(panel_block(
            &format!("peers {}", m.peers.len() + 1),
            focused,
        )),
        area,
    );
}
