//! How many camera tiles fit, and whose: a tile smaller than [`MIN_TILE`] shows a face as a
//! few pixels, so a room larger than the screen shows the people who spoke last and one tile
//! that names the others. What is drawn is what the client asks the SFU to send (`view`).

use ratatui::layout::Rect;
use ratatui::style::{Color, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};
use ratatui::Frame;

use crate::app::App;
use crate::call::mesh::PeerState;
use crate::text::safe;

/// The smallest camera tile drawn, borders included (columns, rows): 14 by 8 pixels inside.
pub const MIN_TILE: (u16, u16) = (16, 6);

/// A peer and their state, as the layouts pass them.
pub type Peer<'p> = (&'p String, &'p PeerState);

/// Rows and columns for `n` tiles: 1, 2, 2x2, 3x2, 3x3 …
pub fn grid_shape(n: usize) -> (usize, usize) {
    if n == 0 {
        return (0, 0);
    }
    let cols = (n as f64).sqrt().ceil() as usize;
    let rows = n.div_ceil(cols);
    (rows, cols)
}

/// How many tiles a grid in `area` holds at [`MIN_TILE`] or larger (one at least).
pub fn grid_room(area: Rect, peers: usize) -> usize {
    (1..=peers.max(1))
        .rev()
        .find(|&n| {
            let (rows, cols) = grid_shape(n);
            area.width / cols as u16 >= MIN_TILE.0 && area.height / rows as u16 >= MIN_TILE.1
        })
        .unwrap_or(1)
}

/// How many tiles a strip of `area`, one above the other, holds (one at least).
pub fn strip_room(area: Rect) -> usize {
    usize::from(area.height / MIN_TILE.1).max(1)
}

/// The peers given tiles when `room` tiles fit, and those left out. All fit, or the
/// `room - 1` who spoke last do (in the order given, so tiles do not swap places as people
/// talk) and the last tile names the rest.
pub fn choose<'p>(app: &App, peers: &[Peer<'p>], room: usize) -> (Vec<Peer<'p>>, Vec<Peer<'p>>) {
    if peers.len() <= room {
        return (peers.to_vec(), Vec::new());
    }
    let mut shown = app.by_last_spoken(peers);
    shown.truncate(room.saturating_sub(1));
    shown.sort_unstable();
    let hidden = (0..peers.len())
        .filter(|i| !shown.contains(i))
        .map(|i| peers[i])
        .collect();
    (shown.into_iter().map(|i| peers[i]).collect(), hidden)
}

/// The tile that names the people without a tile of their own.
pub fn draw_others(f: &mut Frame<'_>, area: Rect, hidden: &[Peer<'_>]) {
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(Style::default().fg(Color::DarkGray))
        .title(Line::from(format!(" +{} more ", hidden.len())));
    let names: Vec<String> = hidden.iter().map(|(_, p)| safe(&p.info.name)).collect();
    f.render_widget(
        Paragraph::new(names.join(", "))
            .wrap(Wrap { trim: true })
            .block(block),
        area,
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};
    use termmeet_signaling::protocol::PeerInfo;

    #[test]
    fn grid_shapes() {
        assert_eq!(grid_shape(1), (1, 1));
        assert_eq!(grid_shape(2), (1, 2));
        assert_eq!(grid_shape(3), (2, 2));
        assert_eq!(grid_shape(4), (2, 2));
        assert_eq!(grid_shape(5), (2, 3));
        assert_eq!(grid_shape(6), (2, 3));
        assert_eq!(grid_shape(7), (3, 3));
    }

    #[test]
    fn a_grid_holds_what_fits_at_the_smallest_tile() {
        assert_eq!(grid_room(Rect::new(0, 0, 120, 40), 4), 4);
        // 30 tiles in 6 columns and 5 rows are 20x8.
        assert_eq!(grid_room(Rect::new(0, 0, 120, 40), 30), 30);
        // 80x20: 3x3 tiles are 26x6, 4x4 would be 20x5.
        assert_eq!(grid_room(Rect::new(0, 0, 80, 20), 30), 12);
        assert_eq!(grid_room(Rect::new(0, 0, 10, 4), 5), 1);
        assert_eq!(strip_room(Rect::new(0, 0, 20, 40)), 6);
        assert_eq!(strip_room(Rect::new(0, 0, 20, 3)), 1);
    }

    fn names(v: &[Peer<'_>]) -> Vec<String> {
        v.iter().map(|(id, _)| id.to_string()).collect()
    }

    #[test]
    fn those_who_spoke_last_get_the_tiles_in_the_usual_order() {
        let mut app = App::new("room");
        let ids: Vec<String> = (0..5).map(|i| format!("p{i}")).collect();
        let states: Vec<PeerState> = ids
            .iter()
            .map(|id| PeerState::new_for_tests(PeerInfo::new(id, id)))
            .collect();
        let peers: Vec<Peer<'_>> = ids.iter().zip(states.iter()).collect();
        let now = Instant::now();
        app.spoke.insert("p3".into(), now);
        app.spoke.insert("p1".into(), now - Duration::from_secs(5));
        app.spoke.insert("p4".into(), now - Duration::from_secs(9));
        let (shown, hidden) = choose(&app, &peers, 3);
        assert_eq!(names(&shown), ["p1", "p3"]);
        assert_eq!(names(&hidden), ["p0", "p2", "p4"]);
        let (shown, hidden) = choose(&app, &peers, 5);
        assert_eq!(shown.len(), 5);
        assert!(hidden.is_empty());
        // Nobody heard yet: the first ones, in order.
        app.spoke.clear();
        let (shown, _) = choose(&app, &peers, 4);
        assert_eq!(names(&shown), ["p0", "p1", "p2"]);
    }
}
