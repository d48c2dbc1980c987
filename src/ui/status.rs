//! The status bar: room, our mic/camera/screen, signaling state, terminal bytes a second (and
//! what the picture was thinned to when the terminal is too slow for it),
//! notices and key hints.

use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use crate::app::App;
use crate::text::safe;

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
    let mut spans = own_state(app);
    spans.extend(pending_connections(app));
    spans.extend(invite(app));
    if !app.notices.is_empty() {
        let text = safe(&app.notices.join(" · "));
        spans.push(Span::styled(
            format!(" {text} "),
            Style::default().fg(Color::Yellow),
        ));
    }
    if let Some(now) = &app.thinned {
        // After the notices, which matter more.
        spans.push(Span::styled(
            format!(" slow terminal: {now} "),
            Style::default().fg(Color::Yellow),
        ));
    }
    spans.extend(push_to_talk(app));
    let hints = if app.typing() {
        " Enter send · Esc done "
    } else {
        " m v s h c ? q "
    };
    spans.push(Span::styled(hints, Style::default().fg(Color::DarkGray)));
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// The room, our mic, camera and screen, the signaling state and the terminal's rates.
fn own_state(app: &App) -> Vec<Span<'static>> {
    let m = &app.meeting;
    let signaling_style = if m.connected {
        Style::default().fg(Color::Green)
    } else {
        Style::default().fg(Color::Yellow)
    };
    vec![
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
                " {:.1} kB/s {:.0} fps{} ",
                app.tty_rate as f64 / 1000.0,
                app.draw_fps,
                app.pixels
                    .as_deref()
                    .map(|p| format!(" {p}"))
                    .unwrap_or_default()
            ),
            Style::default().fg(Color::DarkGray),
        ),
    ]
}

/// Long work in progress: the first connection still being set up, and how many more.
fn pending_connections(app: &App) -> Option<Span<'static>> {
    let pending: Vec<String> = app
        .meeting
        .peers
        .values()
        .filter(|p| p.connection != crate::call::peer::LinkState::Connected)
        .filter_map(super::video::progress)
        .collect();
    let first = pending.first()?;
    let more = if pending.len() > 1 {
        format!(" (+{} more)", pending.len() - 1)
    } else {
        String::new()
    };
    Some(Span::styled(
        format!(" {first}{more} "),
        Style::default().fg(Color::Yellow),
    ))
}

/// How others join: in full while we are alone, after that `?` keeps it.
fn invite(app: &App) -> Option<Span<'static>> {
    let invite = app.invite.as_ref()?;
    let text = if app.meeting.peers.is_empty() {
        format!(" others join with: {} ", safe(&invite.command))
    } else {
        " ? invite ".to_string()
    };
    Some(Span::styled(text, Style::default().fg(Color::Cyan)))
}

/// Push-to-talk: while talking, and how release is known (the status line says which).
fn push_to_talk(app: &App) -> Option<Span<'static>> {
    if app.talking.is_some() {
        return Some(Span::styled(
            " talking (space) ",
            Style::default().fg(Color::Black).bg(Color::Green),
        ));
    }
    if app.meeting.mic {
        return None;
    }
    let how = match app.ptt {
        crate::app::PushToTalk::Release => "hold space to talk",
        crate::app::PushToTalk::Repeat => "hold space to talk (key repeat)",
    };
    Some(Span::styled(
        format!(" {how} "),
        Style::default().fg(Color::DarkGray),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bar(app: &App) -> String {
        let mut terminal =
            ratatui::Terminal::new(ratatui::backend::TestBackend::new(160, 1)).unwrap();
        terminal
            .draw(|f| draw(f, f.area(), app))
            .unwrap()
            .buffer
            .content()
            .iter()
            .map(|c| c.symbol())
            .collect()
    }

    #[test]
    fn a_thinned_picture_is_said_in_the_status_bar() {
        let mut app = App::new("standup");
        assert!(!bar(&app).contains("slow terminal"));
        app.thinned = Some("half blocks, 256 colours".into());
        let text = bar(&app);
        assert!(
            text.contains("slow terminal: half blocks, 256 colours"),
            "{text}"
        );
    }
}
