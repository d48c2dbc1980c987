//! The peers panel: who is here, their mic, camera, screen and hand, the host, and who is
//! speaking.

use ratatui::layout::Rect;
use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::panel_block;
use crate::app::App;
use crate::call::mesh::PeerState;
use crate::text::safe;
use termmeet_signaling::protocol::MediaMode;

/// Draws the peers panel.
pub fn draw(frame: &mut Frame<'_>, area: Rect, app: &App, focused: bool) {
    let m = &app.meeting;
    // Who types into the shared terminal shown, besides its sharer.
    let holder = app.shown_terminal().and_then(|t| t.terminal.holder);
    let marks = TerminalMarks {
        holder: holder.as_deref(),
    };
    let mut lines = Vec::new();
    if let Some(me) = &m.me {
        lines.push(own_line(app, &me.name, &me.id, &marks));
    }
    for (id, p) in &m.peers {
        // The highlight (↑ ↓ while the panel has focus) is whom the host's `l` applies to.
        let chosen = focused && app.selected_peer.as_deref() == Some(id.as_str());
        lines.push(peer_line(app, id, p, chosen, &marks));
    }
    if m.peers.is_empty() {
        lines.push(Line::styled(
            "waiting for peers",
            Style::default().fg(Color::DarkGray),
        ));
    }
    // Said plainly where the room is listed: the SFU decrypts what it forwards, so no
    // short code is shown either.
    let through = match m.media_mode {
        MediaMode::Sfu => " · SFU, not end to end",
        MediaMode::Mesh => "",
    };
    frame.render_widget(
        Paragraph::new(lines).block(panel_block(
            &format!("peers {}{through}", m.peers.len() + 1),
            focused,
        )),
        area,
    );
}

/// Marks for the shared terminal shown: whether someone shares one, and who holds its keys.
struct TerminalMarks<'a> {
    /// Who types into the shared terminal shown, besides its sharer.
    holder: Option<&'a str>,
}

impl TerminalMarks<'_> {
    fn push(&self, shares: bool, id: &str, spans: &mut Vec<Span<'static>>) {
        if shares {
            spans.push(Span::styled(" terminal", Style::default().fg(Color::Cyan)));
        }
        if self.holder == Some(id) {
            spans.push(Span::styled(
                " has keys",
                Style::default().fg(Color::Magenta),
            ));
        }
    }
}

/// Our own line: host, what our microphone sends, camera, screen, terminal and hand.
fn own_line(app: &App, name: &str, id: &str, marks: &TerminalMarks<'_>) -> Line<'static> {
    let m = &app.meeting;
    let mut spans = vec![Span::raw(format!("{} (you)", safe(name)))];
    if m.host == id {
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
    marks.push(m.my_terminal.is_some(), id, &mut spans);
    if let Some(k) = app.hand_position() {
        spans.push(Span::styled(
            format!(" hand #{k}"),
            Style::default().fg(Color::Yellow),
        ));
    }
    Line::from(spans)
}

/// A peer's line: name (highlighted when `chosen`), host, mic, camera, screen, terminal,
/// hand, level and safety code.
fn peer_line(
    app: &App,
    id: &str,
    p: &PeerState,
    chosen: bool,
    marks: &TerminalMarks<'_>,
) -> Line<'static> {
    let mut spans = vec![if chosen {
        Span::styled(
            format!("▶{}", safe(&p.info.name)),
            Style::default().fg(Color::Black).bg(Color::Yellow),
        )
    } else {
        Span::raw(safe(&p.info.name))
    }];
    if app.meeting.host == id {
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
    marks.push(p.terminal.is_some(), id, &mut spans);
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
    Line::from(spans)
}
