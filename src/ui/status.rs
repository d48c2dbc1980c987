//! The status bar: room, our mic/camera/screen, signaling state, terminal bytes a second,
//! notices and key hints.

use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use crate::text::safe;
use crate::app::App;

fn flag(on: bool, name: &str) -> Span<'static> {
    if on {
        Span::styled(
            format!(" {name} "),
            Style::default().fg(Color::Black).bg(Color::Green),
        )
    } else {
        Span::styled(
            format!(" {name} off "),
            Style::default().fg(Color::White).bg(Color::Red),
        )
    }
}

/// Draws the status bar.
pub fn draw(frame: &mut Frame<'_>, area: Rect, app: &App) {
    let m = &app.meeting;
    let signaling_style = if m.connected {
        Style::default().fg(Color::Green)
    } else {
        Style::default().fg(Color::Yellow)
    };
    let mut spans = vec![
        Span::styled(
            format!(" {} ", safe(&app.room)),
            Style::default().add_modifier(Modifier::BOLD),
        ),
        flag(m.mic, "mic"),
        Span::raw(" "),
        flag(m.cam, "cam"),
        Span::raw(" "),
        if m.screen {
            Span::styled(
                " sharing ",
                Style::default().fg(Color::Black).bg(Color::Cyan),
            )
        } else {
            Span::raw("")
        },
        Span::styled(format!(" {} ", safe(&m.signaling)), signaling_style),
        Span::styled(
            format!(
                " {:.1} kB/s {:.0} fps ",
                app.tty_rate as f64 / 1000.0,
                app.draw_fps
            ),
            Style::default().fg(Color::DarkGray),
        ),
    ];
    // Long work in progress: the connections still being set up.
    let pending: Vec<String> = m
        .peers
        .values()
        .filter(|p| !matches!(p.connection.as_str(), "connected"))
        .filter_map(super::video::progress)
        .collect();
    if let Some(first) = pending.first() {
        let more = if pending.len() > 1 {
            format!(" (+{} more)", pending.len() - 1)
        } else {
            String::new()
        };
        spans.push(Span::styled(
            format!(" {first}{more} "),
            Style::default().fg(Color::Yellow),
        ));
    }
    if let Some(invite) = &app.invite {
        // Alone, the one thing to do is to ask others in; after that `?` keeps it.
        let text = if m.peers.is_empty() {
            format!(" others join with: {} ", safe(&invite.command))
        } else {
            " ? invite ".to_string()
        };
        spans.push(Span::styled(text, Style::default().fg(Color::Cyan)));
    }
    if !app.notices.is_empty() {
        let text = safe(&app.notices.join(" · "));
        spans.push(Span::styled(
            format!(" {text} "),
            Style::default().fg(Color::Yellow),
        ));
    }
    // Push-to-talk: while talking, and how release is known (the status line says which).
    if app.talking.is_some() {
        spans.push(Span::styled(
            " talking (space) ",
            Style::default().fg(Color::Black).bg(Color::Green),
        ));
    } else if !m.mic {
        let how = match app.ptt {
            crate::app::PushToTalk::Release => "hold space to talk",
            crate::app::PushToTalk::Repeat => "hold space to talk (key repeat)",
        };
        spans.push(Span::styled(
            format!(" {how} "),
            Style::default().fg(Color::DarkGray),
        ));
    }
    let hints = if app.typing() {
        " Enter send · Esc done "
    } else {
        " m v s h c ? q "
    };
    spans.push(Span::styled(hints, Style::default().fg(Color::DarkGray)));
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}
