//! Video tiles as real pixels, by sixel or kitty's graphics protocol, in the meeting. Each
//! tile's picture is fitted to the tile's pixels (its cells times the cell size), centred, and
//! the cells under it are marked skipped, so ratatui's diff never writes over the picture and
//! writes them again (erasing a sixel) as soon as the tile moves or goes back to cells. The
//! pictures themselves go out after the frame's cells, positioned with an absolute cursor
//! move, and only those whose frame or place changed. Names, panels, a shared terminal and
//! the tiles' borders stay text.

use std::collections::HashMap;
use std::sync::Arc;

use ratatui::buffer::{Buffer, CellDiffOption};
use ratatui::layout::Rect;

use crate::media::RgbFrame;
use crate::render::grid::{average, fit_pixels};
use crate::render::{kitty, sixel};
use crate::termcaps::Graphics;

/// Kitty image ids of tiles start here (play's image is 1).
const FIRST_ID: u32 = 100;

/// The pictures of the tiles drawn as pixels.
pub struct PixelTiles {
    /// Sixel or kitty.
    pub graphics: Graphics,
    /// A cell's size in pixels.
    pub cell: (usize, usize),
    tiles: HashMap<String, Tile>,
    /// The tiles in the order the last draw placed them: later ones lie over earlier ones
    /// (our own picture over a peer's), so they go out after them.
    order: Vec<String>,
    next_id: u32,
    /// Sequences waiting to go out before the pictures (kitty's deletions).
    pending: Vec<u8>,
}

/// One tile's picture: what the last draw wants shown, and what the terminal has.
struct Tile {
    id: u32,
    /// The picture's cells on screen.
    at: Rect,
    /// Its size in pixels.
    size: (usize, usize),
    want: Arc<RgbFrame>,
    /// The frame and place last sent.
    sent: Option<(Arc<RgbFrame>, Rect)>,
}

impl Tile {
    /// The picture as `graphics` sends it.
    fn encode(&self, graphics: Graphics) -> Vec<u8> {
        let (w, h) = self.size;
        let place = crate::render::grid::Placement {
            x: 0,
            y: 0,
            width: w,
            height: h,
        };
        let rgb: Vec<u8> = average(&self.want, &place, 1, 2)
            .into_iter()
            .flatten()
            .collect();
        match graphics {
            Graphics::Kitty => kitty::encode_as(&rgb, w, h, self.id),
            _ => sixel::encode(&rgb, w, h),
        }
    }
}

impl PixelTiles {
    /// Pictures by `graphics` (sixel or kitty) in cells of `cell` pixels.
    pub fn new(graphics: Graphics, cell: (usize, usize)) -> PixelTiles {
        PixelTiles {
            graphics,
            cell: (cell.0.max(1), cell.1.max(1)),
            tiles: HashMap::new(),
            order: Vec::new(),
            next_id: FIRST_ID,
            pending: if graphics == Graphics::Sixel {
                sixel::PRIVATE_REGISTERS.to_vec()
            } else {
                Vec::new()
            },
        }
    }

    /// A new cell size (the font changed): every picture is fitted and sent again.
    pub fn set_cell(&mut self, cell: (usize, usize)) {
        let cell = (cell.0.max(1), cell.1.max(1));
        if cell != self.cell {
            self.cell = cell;
            let deleted = self.forget();
            self.pending.extend(deleted);
        }
    }

    /// Lays `frame` out in `area` for the tile `key`: the cells under its picture are skipped
    /// by the diff, and the picture goes out with [`PixelTiles::take`]. False when the tile
    /// is too small for a picture (it then has none).
    pub fn place(
        &mut self,
        key: &str,
        frame: &Arc<RgbFrame>,
        area: Rect,
        buf: &mut Buffer,
    ) -> bool {
        let (cw, ch) = self.cell;
        let room = (usize::from(area.width) * cw, usize::from(area.height) * ch);
        if room.0 == 0 || room.1 < 6 || frame.width == 0 || frame.height == 0 {
            self.remove(key);
            return false;
        }
        let mut p = fit_pixels((frame.width, frame.height), room);
        if self.graphics == Graphics::Sixel {
            // Whole bands of six rows, so the last band writes nothing below the picture.
            p.height = (p.height / 6 * 6).max(6);
        }
        let (cols, rows) = (p.width.div_ceil(cw) as u16, p.height.div_ceil(ch) as u16);
        let (cols, rows) = (cols.min(area.width), rows.min(area.height));
        let at = Rect::new(
            area.x + (area.width - cols) / 2,
            area.y + (area.height - rows) / 2,
            cols,
            rows,
        );
        for y in at.top()..at.bottom() {
            for x in at.left()..at.right() {
                if let Some(cell) = buf.cell_mut((x, y)) {
                    cell.reset();
                    cell.set_diff_option(CellDiffOption::Skip);
                }
            }
        }
        let next_id = &mut self.next_id;
        let tile = self.tiles.entry(key.to_string()).or_insert_with(|| {
            *next_id += 1;
            Tile {
                id: *next_id,
                at,
                size: (p.width, p.height),
                want: frame.clone(),
                sent: None,
            }
        });
        if tile.sent.is_none() || tile.at != at {
            tracing::info!(
                "{key}: {}x{} pixels at cell {},{}",
                p.width,
                p.height,
                at.x,
                at.y
            );
        }
        tile.at = at;
        tile.size = (p.width, p.height);
        tile.want = frame.clone();
        if !self.order.iter().any(|k| k == key) {
            self.order.push(key.to_string());
        }
        true
    }

    /// Forgets tile `key`: kitty's picture of it is deleted, and pictures it lay over are
    /// sent again (a sixel under it was partly overwritten).
    fn remove(&mut self, key: &str) {
        self.order.retain(|k| k != key);
        let Some(tile) = self.tiles.remove(key) else {
            return;
        };
        if self.graphics == Graphics::Kitty && tile.sent.is_some() {
            self.pending.extend(kitty::delete(tile.id));
        }
        for other in self.tiles.values_mut() {
            if other.at.intersects(tile.at) {
                other.sent = None;
            }
        }
    }

    /// Forgets the tiles not among `keys` (kitty's pictures of them are deleted).
    pub fn retain(&mut self, keys: &[String]) {
        self.order.retain(|k| keys.contains(k));
        let gone: Vec<String> = self
            .tiles
            .keys()
            .filter(|k| !keys.contains(k))
            .cloned()
            .collect();
        for key in gone {
            self.remove(&key);
        }
    }

    /// The bytes that draw every picture whose frame or place changed since it was last
    /// sent, each after a cursor move to its top left cell, in the order placed; a picture
    /// over one that was just sent goes out again too. A picture in a new place first blanks
    /// its cells (the part of the last row and column it does not cover would show what was
    /// there). After a sixel picture, the text of `buf` over it (our own view's border on a
    /// peer's picture) is written again; kitty's pictures lie under the text.
    pub fn take(&mut self, buf: &Buffer) -> Vec<u8> {
        let mut out = std::mem::take(&mut self.pending);
        let mut drawn: Vec<Rect> = Vec::new();
        for key in std::mem::take(&mut self.order) {
            let Some(tile) = self.tiles.get_mut(&key) else {
                continue;
            };
            let same = tile
                .sent
                .as_ref()
                .is_some_and(|(f, at)| Arc::ptr_eq(f, &tile.want) && *at == tile.at);
            if same && !drawn.iter().any(|r| r.intersects(tile.at)) {
                continue;
            }
            if tile.sent.as_ref().is_none_or(|(_, at)| *at != tile.at) {
                out.extend_from_slice(b"\x1b[0m");
                for y in tile.at.top()..tile.at.bottom() {
                    out.extend(format!("\x1b[{};{}H", y + 1, tile.at.x + 1).into_bytes());
                    out.extend(std::iter::repeat_n(b' ', usize::from(tile.at.width)));
                }
            }
            out.extend(format!("\x1b[{};{}H", tile.at.y + 1, tile.at.x + 1).into_bytes());
            out.extend(tile.encode(self.graphics));
            if self.graphics == Graphics::Sixel {
                text_over(&mut out, buf, tile.at);
            }
            tile.sent = Some((tile.want.clone(), tile.at));
            drawn.push(tile.at);
        }
        out
    }

    /// Forgets what the terminal shows (after it was cleared, or to go back to cells), so
    /// every picture goes out again; gives kitty's deletions of what was sent.
    pub fn forget(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        for tile in self.tiles.values_mut() {
            if self.graphics == Graphics::Kitty && tile.sent.is_some() {
                out.extend(kitty::delete(tile.id));
            }
            tile.sent = None;
        }
        out
    }

    /// How many tiles have a picture.
    pub fn len(&self) -> usize {
        self.tiles.len()
    }

    /// Whether no tile has a picture.
    pub fn is_empty(&self) -> bool {
        self.tiles.is_empty()
    }
}

/// Writes the text cells of `buf` inside `at` (those not skipped: what lies over a picture).
fn text_over(out: &mut Vec<u8>, buf: &Buffer, at: Rect) {
    let cells = (at.top()..at.bottom())
        .flat_map(|y| (at.left()..at.right()).map(move |x| (x, y)))
        .filter_map(|(x, y)| buf.cell((x, y)).map(|c| (x, y, c)))
        .filter(|(_, _, c)| c.diff_option != CellDiffOption::Skip);
    let before = out.len();
    crate::term::encode(out, cells);
    if out.len() > before {
        out.extend_from_slice(b"\x1b[0m");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(shade: u8) -> Arc<RgbFrame> {
        Arc::new(RgbFrame {
            width: 64,
            height: 48,
            data: vec![shade; 64 * 48 * 3],
        })
    }

    #[test]
    fn a_picture_takes_its_cells_from_the_diff_and_goes_out_once_a_frame() {
        let mut tiles = PixelTiles::new(Graphics::Sixel, (8, 16));
        let area = Rect::new(2, 1, 40, 12);
        let mut buf = Buffer::empty(Rect::new(0, 0, 50, 15));
        let f = frame(200);
        tiles.place("cam-a", &f, area, &mut buf);
        // 320x192 pixels of room, a 4:3 picture: 256x192 (a whole number of sixel bands),
        // 32x12 cells centred in 40x12.
        let skipped: Vec<(u16, u16)> = (0..15)
            .flat_map(|y| (0..50).map(move |x| (x, y)))
            .filter(|&(x, y)| buf[(x, y)].diff_option == CellDiffOption::Skip)
            .collect();
        assert_eq!(skipped.len(), 32 * 12);
        assert_eq!(skipped.first(), Some(&(6, 1)));
        assert_eq!(skipped.last(), Some(&(37, 12)));
        let out = tiles.take(&buf);
        assert!(
            out.starts_with(b"\x1b[?1070h\x1b[0m\x1b[2;7H      "),
            "registers of its own, then its cells blanked"
        );
        let sixel_at = out.windows(2).position(|w| w == b"\x1bP").unwrap();
        assert!(
            out[..sixel_at].ends_with(b"\x1b[2;7H"),
            "positioned, then sixel"
        );
        assert!(out.ends_with(b"\x1b\\"));
        // The same frame in the same place: nothing to send.
        let mut buf = Buffer::empty(Rect::new(0, 0, 50, 15));
        tiles.place("cam-a", &f, area, &mut buf);
        assert!(tiles.take(&buf).is_empty());
        // A new frame goes out; so does the same one after the screen was cleared.
        tiles.place("cam-a", &frame(100), area, &mut buf);
        assert!(!tiles.take(&buf).is_empty());
        assert!(tiles.forget().is_empty(), "sixel has nothing to delete");
        tiles.place("cam-a", &frame(100), area, &mut buf);
        assert!(!tiles.take(&buf).is_empty());
    }

    #[test]
    fn a_picture_over_one_just_sent_goes_out_after_it() {
        let mut tiles = PixelTiles::new(Graphics::Sixel, (8, 16));
        let mut buf = Buffer::empty(Rect::new(0, 0, 80, 24));
        let me = frame(50);
        let place = |tiles: &mut PixelTiles, buf: &mut Buffer, peer: &Arc<RgbFrame>| {
            tiles.place("cam-a", peer, Rect::new(0, 0, 80, 22), buf);
            tiles.place("self", &me, Rect::new(57, 14, 20, 6), buf);
        };
        place(&mut tiles, &mut buf, &frame(1));
        let first = tiles.take(&buf);
        assert_eq!(first.windows(2).filter(|w| w == b"\x1bP").count(), 2);
        // The peer's new frame covers our picture again: ours follows it.
        place(&mut tiles, &mut buf, &frame(2));
        let out = tiles.take(&buf);
        assert_eq!(out.windows(2).filter(|w| w == b"\x1bP").count(), 2);
        let at_self = b"\x1b[15;60H";
        let peer_at = out.windows(3).position(|w| w == b"\x1b[1").unwrap();
        let self_at = out.windows(at_self.len()).position(|w| w == at_self);
        assert!(self_at.is_some_and(|s| s > peer_at), "ours last");
        // Text over a sixel picture (our view's border on the peer's) is written after it.
        place(&mut tiles, &mut buf, &frame(3));
        buf[(57, 14)].reset();
        buf[(57, 14)].set_symbol("┌");
        let out = tiles.take(&buf);
        let border = out.windows(3).rposition(|w| w == "┌".as_bytes());
        let peer_sixel = out.windows(2).position(|w| w == b"\x1bP");
        assert!(border > peer_sixel, "the border after the peer's picture");
        // Our view gone: the peer's picture goes out again, over where it was.
        tiles.retain(&["cam-a".to_string()]);
        let mut buf = Buffer::empty(Rect::new(0, 0, 80, 24));
        tiles.place("cam-a", &frame(3), Rect::new(0, 0, 80, 22), &mut buf);
        assert_eq!(
            tiles
                .take(&buf)
                .windows(2)
                .filter(|w| w == b"\x1bP")
                .count(),
            1
        );
    }

    #[test]
    fn kitty_pictures_have_an_id_a_tile_and_are_deleted_with_it() {
        let mut tiles = PixelTiles::new(Graphics::Kitty, (10, 20));
        let mut buf = Buffer::empty(Rect::new(0, 0, 80, 24));
        tiles.place("cam-a", &frame(10), Rect::new(0, 0, 40, 20), &mut buf);
        tiles.place("cam-b", &frame(20), Rect::new(40, 0, 40, 20), &mut buf);
        let out = String::from_utf8_lossy(&tiles.take(&buf)).to_string();
        assert!(out.contains(",i=101,") && out.contains(",i=102,"), "{out}");
        tiles.retain(&["cam-b".to_string()]);
        assert_eq!(tiles.len(), 1);
        let out = String::from_utf8_lossy(&tiles.take(&buf)).to_string();
        assert!(out.starts_with("\x1b_Ga=d,d=I,i=10"), "{out}");
        let out = String::from_utf8_lossy(&tiles.forget()).to_string();
        assert!(out.contains("a=d,d=I"), "{out}");
    }

    #[test]
    fn a_tile_too_small_for_a_picture_gets_none_and_loses_the_one_it_had() {
        let mut tiles = PixelTiles::new(Graphics::Kitty, (8, 16));
        let mut buf = Buffer::empty(Rect::new(0, 0, 40, 20));
        assert!(tiles.place("cam-a", &frame(1), Rect::new(0, 0, 40, 20), &mut buf));
        assert!(!tiles.take(&buf).is_empty());
        assert!(!tiles.place("cam-a", &frame(1), Rect::new(0, 0, 0, 3), &mut buf));
        assert!(tiles.is_empty());
        let out = String::from_utf8_lossy(&tiles.take(&buf)).to_string();
        assert_eq!(out, "\x1b_Ga=d,d=I,i=101,q=2\x1b\\", "its picture deleted");
    }
}
