//! The video area: one tile per remote camera in a grid (1, 2, 2x2, 3x2 …) or a speaker
//! layout; a shared screen takes the main area with the cameras in a strip beside it. Each
//! tile is labelled with the name and mic, camera and hand state; a camera that is off shows
//! the name instead.

use std::collections::HashMap;
use std::sync::Arc;

use ratatui::layout::{Alignment, Constraint, Direction, Layout as Split, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};
use ratatui::Frame;

use super::fit;
use super::pixels::PixelTiles;
use crate::app::{App, Layout, TerminalShown};
use crate::call::mesh::PeerState;
use crate::media::RgbFrame;
use crate::render::{bigtext, CellKind, ColorMode, HalfBlockRenderer};
use crate::termcaps::Graphics;
use crate::text::safe;

/// One renderer per tile, remembering what it drew (for the colour tolerance).
pub struct VideoCache {
    /// Colour depth.
    pub mode: ColorMode,
    /// Colour tolerance.
    pub tolerance: u8,
    /// Characters drawn with.
    pub cells: CellKind,
    renderers: HashMap<String, (Rect, HalfBlockRenderer)>,
    /// Most cells one tile may change in one draw (none: no limit), so a frame fits what
    /// the terminal's link drains in a frame time.
    pub cells_per_tile: Option<usize>,
    /// Which row a limited tile starts with; moves every draw.
    phase: usize,
    /// Cells that wanted to change, and that changed, since last asked.
    pub wanted: usize,
    /// See `wanted`.
    pub changed: usize,
    /// The peers whose cameras the last draw gave a tile, in the order drawn.
    pub shown: Vec<String>,
    /// Tiles as real pixels, where the terminal draws them.
    pub pixels: Option<PixelTiles>,
    /// Whether pixels are drawn now (off while the terminal is too slow for them).
    pub pixels_on: bool,
}

impl VideoCache {
    /// An empty cache.
    pub fn new(mode: ColorMode, tolerance: u8) -> VideoCache {
        VideoCache {
            mode,
            tolerance,
            cells: CellKind::Half,
            renderers: HashMap::new(),
            cells_per_tile: None,
            phase: 0,
            wanted: 0,
            changed: 0,
            shown: Vec::new(),
            pixels: None,
            pixels_on: false,
        }
    }

    /// The same cache drawing tiles as pixels by `graphics` (sixel or kitty) in cells of
    /// `cell` pixels.
    pub fn with_pixels(mut self, graphics: Graphics, cell: (usize, usize)) -> VideoCache {
        if matches!(graphics, Graphics::Sixel | Graphics::Kitty) {
            self.pixels = Some(PixelTiles::new(graphics, cell));
            self.pixels_on = true;
        }
        self
    }

    /// The bytes of the pictures that changed since the last call (none while cells are
    /// drawn).
    pub fn take_pixels(&mut self, buf: &ratatui::buffer::Buffer) -> Vec<u8> {
        match &mut self.pixels {
            Some(p) if self.pixels_on => p.take(buf),
            _ => Vec::new(),
        }
    }

    /// Turns pixels on or off; gives what must reach the terminal first (kitty's pictures
    /// deleted on the way to cells).
    pub fn set_pixels(&mut self, on: bool) -> Vec<u8> {
        let Some(p) = &mut self.pixels else {
            return Vec::new();
        };
        if on == self.pixels_on {
            return Vec::new();
        }
        self.pixels_on = on;
        // Cells start afresh, and pictures are sent whole again.
        self.renderers.clear();
        p.forget()
    }

    /// After the screen was cleared: every picture goes out again.
    /// After the screen was cleared (a resize): every picture goes out again, fitted to
    /// `cell`, the cell size in pixels now, when the terminal says.
    pub fn screen_cleared(&mut self, cell: Option<(usize, usize)>) {
        if let Some(p) = &mut self.pixels {
            let _ = p.forget();
            if let Some(cell) = cell {
                p.set_cell(cell);
            }
        }
    }

    /// The same cache drawing with `cells`.
    pub fn with_cells(mut self, cells: CellKind) -> VideoCache {
        self.cells = cells;
        self
    }

    fn render(&mut self, key: &str, frame: &Arc<RgbFrame>, area: Rect, f: &mut Frame<'_>) {
        if let (Some(pixels), true) = (&mut self.pixels, self.pixels_on) {
            // A tile too small for a picture stays empty.
            let _ = pixels.place(key, frame, area, f.buffer_mut());
            return;
        }
        let (mode, tolerance, cells) = (self.mode, self.tolerance, self.cells);
        let (last_area, renderer) = self
            .renderers
            .entry(key.to_string())
            .or_insert_with(|| (area, HalfBlockRenderer::new(mode, tolerance)));
        if *last_area != area || renderer.mode != mode || renderer.cells != cells {
            // A moved or resized tile starts afresh.
            *last_area = area;
            renderer.mode = mode;
            renderer.cells = cells;
            renderer.reset();
        }
        let max = self.cells_per_tile.unwrap_or(usize::MAX);
        self.phase = self.phase.wrapping_add(7);
        let (wanted, changed) =
            renderer.render_limited(frame, area, f.buffer_mut(), max, self.phase);
        self.wanted += wanted;
        self.changed += changed;
    }

    /// Forgets tiles that are gone.
    fn retain(&mut self, keys: &[String]) {
        self.renderers.retain(|k, _| keys.contains(k));
        if let Some(p) = &mut self.pixels {
            p.retain(keys);
        }
    }
}

fn tile_title(p: &PeerState, hand_pos: Option<usize>) -> Line<'static> {
    let mut spans = vec![Span::styled(
        format!(" {} ", safe(&p.info.name)),
        Style::default().add_modifier(Modifier::BOLD),
    )];
    if !p.info.mic {
        spans.push(Span::styled("mic off ", Style::default().fg(Color::Red)));
    }
    if !p.info.cam {
        spans.push(Span::styled("cam off ", Style::default().fg(Color::Red)));
    }
    if let Some(k) = hand_pos {
        spans.push(Span::styled(
            format!("hand #{k} "),
            Style::default().fg(Color::Yellow),
        ));
    }
    // Over a frozen picture, say why it is frozen.
    if reconnecting(p) {
        spans.push(Span::styled(
            format!("{RECONNECTING} "),
            Style::default().fg(Color::Yellow),
        ));
    }
    Line::from(spans)
}

fn draw_camera(
    f: &mut Frame<'_>,
    area: Rect,
    id: &str,
    p: &PeerState,
    hand: Option<usize>,
    cache: &mut VideoCache,
    keys: &mut Vec<String>,
) {
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(Style::default().fg(Color::DarkGray))
        .title(tile_title(p, hand));
    let inner = block.inner(area);
    f.render_widget(block, area);
    match (&p.latest_video, p.info.cam) {
        (Some(frame), true) => {
            let key = format!("cam-{id}");
            cache.render(&key, frame, inner, f);
            keys.push(key);
        }
        _ => {
            let name = safe(&p.info.name);
            let mut lines = Vec::new();
            // A camera that is off shows the name large, when it fits and the font has it.
            let big = (!p.info.cam)
                .then(|| bigtext::render(&name))
                .flatten()
                .filter(|_| bigtext::width(&name) <= inner.width as usize && inner.height >= 3);
            match big {
                Some(rows) => lines.extend(
                    rows.into_iter()
                        .map(|r| Line::styled(r, Style::default().add_modifier(Modifier::BOLD))),
                ),
                None => lines.push(Line::styled(
                    name.clone(),
                    Style::default().add_modifier(Modifier::BOLD),
                )),
            }
            if let Some(progress) = progress(p) {
                lines.push(Line::styled(progress, Style::default().fg(Color::DarkGray)));
            }
            // Long progress text wraps: count the rows it takes.
            let width = inner.width.max(1) as usize;
            let rows: usize = lines.iter().map(|l| l.width().max(1).div_ceil(width)).sum();
            let height = (rows as u16).min(inner.height);
            let top = inner.y + inner.height.saturating_sub(height) / 2;
            f.render_widget(
                Paragraph::new(lines)
                    .alignment(Alignment::Center)
                    .wrap(Wrap { trim: true }),
                Rect::new(inner.x, top, inner.width, height),
            );
        }
    }
}

/// What a tile says while the media path to a peer is being restored (ICE restarts).
pub const RECONNECTING: &str = "reconnecting media…";

use crate::call::peer::LinkState;

/// Whether media from a peer once flowed and the connection is now down or being restarted.
pub fn reconnecting(p: &PeerState) -> bool {
    p.first_video.is_some() && p.connection != LinkState::Connected
        || matches!(p.connection, LinkState::Failed | LinkState::Disconnected)
}

/// What is under way with a peer whose video we do not have yet.
pub fn progress(p: &PeerState) -> Option<String> {
    match p.connection {
        LinkState::Connected if p.info.cam && p.latest_video.is_none() => {
            Some("waiting for video".into())
        }
        LinkState::Connected => None,
        LinkState::Failed | LinkState::Disconnected => Some(RECONNECTING.into()),
        _ if p.first_video.is_some() => Some(RECONNECTING.into()),
        _ => Some(format!(
            "negotiating with {} (ICE {})",
            safe(&p.info.name),
            p.ice
        )),
    }
}

fn split_even(area: Rect, n: usize, direction: Direction) -> Vec<Rect> {
    let constraints: Vec<Constraint> = (0..n).map(|_| Constraint::Ratio(1, n as u32)).collect();
    Split::default()
        .direction(direction)
        .constraints(constraints)
        .split(area)
        .to_vec()
}

/// Draws the video area.
pub fn draw(f: &mut Frame<'_>, area: Rect, app: &App, cache: &mut VideoCache) {
    let peers: Vec<(&String, &PeerState)> = app.meeting.peers.iter().collect();
    let mut tiles = Tiles {
        app,
        cache,
        keys: Vec::new(),
        shown: Vec::new(),
    };
    if let Some(shown) = app.shown_terminal() {
        tiles.terminal_layout(f, area, &peers, &shown);
    } else if peers.is_empty() {
        draw_waiting(f, area, app);
    } else {
        tiles.camera_layout(f, area, &peers);
        draw_self_view(f, area, app, tiles.cache, &mut tiles.keys);
    }
    tiles.cache.retain(&tiles.keys);
    tiles.cache.shown = tiles.shown;
}

/// The peers' tiles as they are drawn, and the renderers they used (the rest are dropped).
struct Tiles<'a, 'c> {
    app: &'a App,
    cache: &'c mut VideoCache,
    keys: Vec<String>,
    /// The peers whose camera got a tile.
    shown: Vec<String>,
}

impl Tiles<'_, '_> {
    /// One peer's camera tile.
    fn camera(&mut self, f: &mut Frame<'_>, area: Rect, id: &str, p: &PeerState) {
        let hands = &self.app.meeting.hands;
        let hand = hands.iter().position(|h| h == id).map(|i| i + 1);
        draw_camera(f, area, id, p, hand, self.cache, &mut self.keys);
        self.shown.push(id.to_string());
    }

    /// `peers`' cameras one above the other in `strip`, as many as fit.
    fn strip(&mut self, f: &mut Frame<'_>, strip: Rect, peers: &[(&String, &PeerState)]) {
        let (drawn, hidden) = fit::choose(self.app, peers, fit::strip_room(strip));
        let tiles = drawn.len() + usize::from(!hidden.is_empty());
        let cells = split_even(strip, tiles, Direction::Vertical);
        for ((id, p), r) in drawn.iter().zip(&cells) {
            self.camera(f, *r, id, p);
        }
        if let (false, Some(last)) = (hidden.is_empty(), cells.last()) {
            fit::draw_others(f, *last, &hidden);
        }
    }

    /// A shared terminal takes the large tile as text, the cameras a strip beside it (none
    /// when nobody else is here).
    fn terminal_layout(
        &mut self,
        f: &mut Frame<'_>,
        area: Rect,
        peers: &[(&String, &PeerState)],
        shown: &TerminalShown,
    ) {
        let (main, strip) = if peers.is_empty() || area.width < 70 {
            (area, None)
        } else {
            let cols = Split::default()
                .direction(Direction::Horizontal)
                .constraints([Constraint::Min(40), Constraint::Percentage(22)])
                .split(area);
            (cols[0], Some(cols[1]))
        };
        super::terminal::draw(f, main, self.app, shown, self.cache.mode);
        if let Some(strip) = strip {
            self.strip(f, strip, peers);
        }
    }

    /// Cameras: a shared screen or the speaker large with the others in a strip, else a
    /// grid.
    fn camera_layout(&mut self, f: &mut Frame<'_>, area: Rect, peers: &[(&String, &PeerState)]) {
        let app = self.app;
        let sharer = peers
            .iter()
            .find(|(_, p)| p.info.screen && p.latest_screen.is_some());
        let (main, strip) =
            if sharer.is_some() || (app.layout == Layout::Speaker && peers.len() > 1) {
                let cols = Split::default()
                    .direction(Direction::Horizontal)
                    .constraints([Constraint::Percentage(75), Constraint::Percentage(25)])
                    .split(area);
                (cols[0], Some(cols[1]))
            } else {
                (area, None)
            };
        match (sharer, strip) {
            (Some((id, p)), Some(strip)) => {
                self.screen(f, main, id, p);
                self.strip(f, strip, peers);
            }
            (None, Some(strip)) => {
                // Speaker layout: whoever is talking large (see `App::follow_speaker`), the
                // rest in the strip.
                let large = app.main_speaker().unwrap_or_default();
                let at = peers.iter().position(|(id, _)| *id == large).unwrap_or(0);
                let (id, p) = peers[at];
                self.camera(f, main, id, p);
                let rest: Vec<_> = peers
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| *i != at)
                    .map(|(_, peer)| *peer)
                    .collect();
                self.strip(f, strip, &rest);
            }
            _ => self.grid(f, main, peers),
        }
    }

    /// A peer's shared screen in the large tile.
    fn screen(&mut self, f: &mut Frame<'_>, main: Rect, id: &str, p: &PeerState) {
        let block = Block::default()
            .borders(Borders::ALL)
            .border_style(Style::default().fg(Color::Cyan))
            .title(Line::from(format!(
                " {} is sharing their screen ",
                safe(&p.info.name)
            )));
        let inner = block.inner(main);
        f.render_widget(block, main);
        if let Some(screen) = &p.latest_screen {
            let key = format!("screen-{id}");
            self.cache.render(&key, screen, inner, f);
            self.keys.push(key);
        }
    }

    /// Every camera in a grid as square as the tiles allow, as many as fit.
    fn grid(&mut self, f: &mut Frame<'_>, main: Rect, peers: &[(&String, &PeerState)]) {
        let (drawn, hidden) = fit::choose(self.app, peers, fit::grid_room(main, peers.len()));
        let tiles = drawn.len() + usize::from(!hidden.is_empty());
        let (rows, cols) = fit::grid_shape(tiles);
        let mut i = 0;
        for row in split_even(main, rows, Direction::Vertical) {
            let in_row = cols.min(tiles - i);
            for cell in split_even(row, in_row, Direction::Horizontal) {
                match drawn.get(i) {
                    Some((id, p)) => self.camera(f, cell, id, p),
                    None => fit::draw_others(f, cell, &hidden),
                }
                i += 1;
            }
        }
    }
}

/// Nobody else here yet: the room's name and what we wait for.
fn draw_waiting(f: &mut Frame<'_>, area: Rect, app: &App) {
    let text = vec![
        Line::styled(
            format!("room {}", safe(&app.room)),
            Style::default().add_modifier(Modifier::BOLD),
        ),
        Line::from(if app.meeting.connected {
            "waiting for peers"
        } else {
            "connecting to server…"
        }),
    ];
    let y = area.y + area.height / 2;
    f.render_widget(
        Paragraph::new(text).alignment(Alignment::Center),
        Rect::new(area.x, y.saturating_sub(1), area.width, 2.min(area.height)),
    );
}

/// Our own camera, small, in the bottom-right corner of the video area.
fn draw_self_view(
    f: &mut Frame<'_>,
    area: Rect,
    app: &App,
    cache: &mut VideoCache,
    keys: &mut Vec<String>,
) {
    let (Some(frame), true) = (&app.self_view, app.meeting.cam) else {
        return;
    };
    if area.width < 60 || area.height < 16 {
        return;
    }
    let (w, h) = (22u16, 8u16);
    let tile = Rect::new(
        area.x + area.width - w - 1,
        area.y + area.height - h - 1,
        w,
        h,
    );
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(Style::default().fg(Color::DarkGray))
        .title(Line::from(vec![
            Span::raw(" you "),
            Span::styled(
                format!("{} ", super::level_meter(app.mic_level)),
                Style::default().fg(Color::Green),
            ),
        ]));
    let inner = block.inner(tile);
    f.render_widget(ratatui::widgets::Clear, tile);
    f.render_widget(block, tile);
    cache.render("self", frame, inner, f);
    keys.push("self".into());
}

#[cfg(test)]
mod reconnect_tests {
    use super::*;
    use termmeet_signaling::protocol::PeerInfo;

    #[test]
    fn a_tile_says_when_its_media_is_being_restored() {
        let mut p = PeerState::new_for_tests(PeerInfo::new("b", "bob"));
        p.connection = LinkState::Connecting;
        assert!(
            !reconnecting(&p),
            "a first connection is not a reconnection"
        );
        assert!(progress(&p).is_some_and(|s| s.starts_with("negotiating")));
        p.connection = LinkState::Connected;
        p.first_video = Some(std::time::Instant::now());
        assert!(!reconnecting(&p));
        for state in [
            LinkState::Disconnected,
            LinkState::Failed,
            LinkState::Connecting,
        ] {
            p.connection = state;
            assert!(reconnecting(&p), "{state}");
            assert_eq!(progress(&p).as_deref(), Some(RECONNECTING));
            let title = tile_title(&p, None).to_string();
            assert!(title.contains(RECONNECTING), "{title}");
        }
    }
}
