//! Drawing the meeting: ratatui widgets over the [`App`] state, one panel a file. Nothing
//! here changes the app; the only thing written besides the frame is the renderers' memory
//! of what each tile showed (for the colour tolerance), kept in [`VideoCache`].

pub mod chat;
pub mod fit;
pub mod hands;
pub mod help;
pub mod peers;
pub mod picker;
pub mod pixels;
pub mod quality;
pub mod status;
pub mod terminal;
pub mod video;

use ratatui::layout::{Constraint, Direction, Layout as Split, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};
use ratatui::Frame;

use crate::app::{App, Panel};
pub use video::VideoCache;

/// Smallest terminal the layout works in.
pub const MIN_SIZE: (u16, u16) = (40, 12);
/// Width of the side panel column.
const SIDE_WIDTH: u16 = 34;

/// A four-step level meter for a sound level (RMS of full scale, 0 to 1), on a decibel
/// scale from -50 dBFS (nothing lit) to -10 dBFS (all lit).
pub fn level_meter(level: f32) -> String {
    let db = 20.0 * level.max(1e-6).log10();
    let lit = (((db + 50.0) / 10.0).floor().clamp(0.0, 4.0)) as usize;
    format!("{}{}", "▮".repeat(lit), "▯".repeat(4 - lit))
}

/// A bordered block, highlighted when focused.
pub fn panel_block(title: &str, focused: bool) -> Block<'static> {
    let style = if focused {
        Style::default().fg(Color::Yellow)
    } else {
        Style::default().fg(Color::DarkGray)
    };
    Block::default()
        .borders(Borders::ALL)
        .border_style(style)
        .title(
            Line::from(format!(" {title} ")).style(Style::default().add_modifier(Modifier::BOLD)),
        )
}

/// Draws the whole screen.
pub fn draw(frame: &mut Frame<'_>, app: &App, videos: &mut VideoCache) {
    let area = frame.area();
    if area.width < MIN_SIZE.0 || area.height < MIN_SIZE.1 {
        let msg = format!(
            "The terminal is {}x{}; termmeet needs at least {}x{}. Make it larger (q quits).",
            area.width, area.height, MIN_SIZE.0, MIN_SIZE.1
        );
        frame.render_widget(Paragraph::new(msg).wrap(Wrap { trim: true }), area);
        videos.shown.clear();
        return;
    }
    let rows = Split::default()
        .direction(Direction::Vertical)
        .constraints([Constraint::Min(1), Constraint::Length(1)])
        .split(area);
    status::draw(frame, rows[1], app);
    let main = rows[0];
    // Panels go before video when space is short: video keeps at least 40 columns.
    let show_panels = !app.panels.is_empty() && main.width >= SIDE_WIDTH + 40;
    let (video_area, side) = if show_panels {
        let cols = Split::default()
            .direction(Direction::Horizontal)
            .constraints([Constraint::Min(40), Constraint::Length(SIDE_WIDTH)])
            .split(main);
        (cols[0], Some(cols[1]))
    } else {
        (main, None)
    };
    video::draw(frame, video_area, app, videos);
    if let Some(side) = side {
        draw_panels(frame, side, app);
    }
    if let Some(picker) = app.picker() {
        picker::draw(frame, main, picker);
    }
    if app.help_shown() {
        help::draw(frame, area, app);
    }
    if app.confirm_quit() {
        help::confirm_quit(frame, area);
    }
}

fn draw_panels(frame: &mut Frame<'_>, area: Rect, app: &App) {
    // Chat takes what is left; the others size to their content.
    let constraints: Vec<Constraint> = app
        .panels
        .iter()
        .map(|p| match p {
            Panel::Chat => Constraint::Min(6),
            Panel::Peers => Constraint::Length((app.meeting.peers.len() as u16 + 3).min(12)),
            Panel::Quality => Constraint::Length((app.meeting.peers.len() as u16 * 2 + 5).min(17)),
            Panel::Hands => Constraint::Length((app.meeting.hands.len() as u16 + 3).min(10)),
        })
        .collect();
    let areas = Split::default()
        .direction(Direction::Vertical)
        .constraints(constraints)
        .split(area);
    for (panel, area) in app.panels.iter().zip(areas.iter()) {
        let focused = app.focus == Some(*panel);
        match panel {
            Panel::Peers => peers::draw(frame, *area, app, focused),
            Panel::Quality => quality::draw(frame, *area, app, focused),
            Panel::Hands => hands::draw(frame, *area, app, focused),
            Panel::Chat => chat::draw(frame, *area, app, focused),
        }
    }
}
