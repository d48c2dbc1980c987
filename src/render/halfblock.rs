//! Drawing a decoded frame into a tile of cells: half blocks (`▀` with the top pixel as
//! foreground and the bottom pixel as background, two pixels a cell) by default, or the
//! quadrant blocks of [`super::cells`] (four pixels a cell).
//!
//! The frame is fitted to the tile with its aspect ratio kept (a cell is about twice as tall
//! as wide, so a cell's two pixels are about square), scaled down by area averaging, and
//! letterboxed. A colour tolerance keeps a cell as it was when its new colours are close to
//! the old ones, so that ratatui, which writes only changed cells, writes fewer bytes.
//! Nothing here awaits or does I/O.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Color;

use super::cells::{symbol, to_cells_of, CellKind};
use super::color::{luminance, ColorMode};
pub use super::grid::{place, CellColors, CellGrid, Placement};
use crate::media::frame::RgbFrame;

/// Whether every channel of `a` is within `tolerance` of `b`.
fn close(a: [u8; 3], b: [u8; 3], tolerance: u8) -> bool {
    a.iter().zip(b).all(|(&x, y)| x.abs_diff(y) <= tolerance)
}

/// Keeps each cell of `previous` whose colours are all within `tolerance` of `next`'s. Pure.
pub fn hold_close_cells(next: &mut CellGrid, previous: &CellGrid, tolerance: u8) {
    if tolerance == 0 || next.cols != previous.cols || next.rows != previous.rows {
        return;
    }
    for (n, p) in next.cells.iter_mut().zip(&previous.cells) {
        if let (Some(new), Some(old)) = (n.as_ref(), p) {
            if new.shape == old.shape
                && close(new.fg, old.fg, tolerance)
                && close(new.bg, old.bg, tolerance)
            {
                *n = Some(*old);
            }
        }
    }
}

/// Lets at most `max` cells of `next` differ from `previous`: past that, cells keep what was
/// drawn, rows taken in turn from `phase` on (so over successive frames every row gets its
/// turn). Returns how many cells wanted to change. Pure.
pub fn limit_changes(next: &mut CellGrid, previous: &CellGrid, max: usize, phase: usize) -> usize {
    if next.cols != previous.cols || next.rows != previous.rows || next.rows == 0 {
        return next.cells.len();
    }
    let cols = next.cols;
    let wanted = next
        .cells
        .iter()
        .zip(&previous.cells)
        .filter(|(n, p)| n != p)
        .count();
    if wanted <= max {
        return wanted;
    }
    let mut allowed = max;
    for r in 0..next.rows {
        let row = (phase + r) % next.rows;
        for col in 0..cols {
            let i = row * cols + col;
            if next.cells[i] != previous.cells[i] {
                if allowed > 0 {
                    allowed -= 1;
                } else {
                    next.cells[i] = previous.cells[i];
                }
            }
        }
    }
    wanted
}

/// Shade characters for mono mode, darkest first.
const SHADES: [&str; 5] = [" ", "░", "▒", "▓", "█"];

/// Writes a cell grid into `buf` at `area` in a colour mode.
pub fn write_cells(grid: &CellGrid, mode: ColorMode, area: Rect, buf: &mut Buffer) {
    let area = area.intersection(buf.area);
    for row in 0..(area.height as usize).min(grid.rows) {
        for col in 0..(area.width as usize).min(grid.cols) {
            let Some(cell) = buf.cell_mut((area.x + col as u16, area.y + row as u16)) else {
                continue;
            };
            match grid.cells[row * grid.cols + col] {
                None => {
                    cell.set_symbol(" ")
                        .set_fg(Color::Reset)
                        .set_bg(Color::Reset);
                }
                Some(c) if mode == ColorMode::Mono => {
                    let l = (0..12)
                        .map(|i| luminance(c.at(i % 2, i / 2)) as usize)
                        .sum::<usize>()
                        / 12;
                    cell.set_symbol(SHADES[(l * SHADES.len() / 256).min(SHADES.len() - 1)])
                        .set_fg(Color::Reset)
                        .set_bg(Color::Reset);
                }
                Some(c) => {
                    let (fg, bg) = (mode.color(c.fg), mode.color(c.bg));
                    let ch = symbol(c.shape);
                    if fg == bg || ch == ' ' || ch == '█' {
                        // One colour: a space with that background is cheaper to send.
                        let one = if ch == '█' { fg } else { bg };
                        cell.set_symbol(" ").set_fg(Color::Reset).set_bg(one);
                    } else {
                        cell.set_char(ch).set_fg(fg).set_bg(bg);
                    }
                }
            }
        }
    }
}

/// Draws frames into a tile, remembering what it drew for the colour tolerance.
#[derive(Clone, Debug)]
pub struct HalfBlockRenderer {
    /// Colour depth to draw in.
    pub mode: ColorMode,
    /// Largest per-channel change that leaves a cell as it was (0 redraws every change).
    pub tolerance: u8,
    /// The characters drawn with.
    pub cells: CellKind,
    /// What was drawn last, for the tolerance.
    last: Option<CellGrid>,
}

impl HalfBlockRenderer {
    /// A renderer in `mode` with `tolerance`.
    pub fn new(mode: ColorMode, tolerance: u8) -> HalfBlockRenderer {
        HalfBlockRenderer {
            mode,
            tolerance,
            cells: CellKind::Half,
            last: None,
        }
    }

    /// The same renderer drawing with `cells`.
    pub fn with_cells(mut self, cells: CellKind) -> HalfBlockRenderer {
        self.cells = cells;
        self
    }

    /// Draws `frame` into `area` of `buf`.
    pub fn render(&mut self, frame: &RgbFrame, area: Rect, buf: &mut Buffer) {
        self.render_limited(frame, area, buf, usize::MAX, 0);
    }

    /// Draws `frame` changing at most `max_changes` cells from what was drawn (see
    /// [`limit_changes`]); the rest follow in later frames. Returns (cells that wanted to
    /// change, cells changed).
    pub fn render_limited(
        &mut self,
        frame: &RgbFrame,
        area: Rect,
        buf: &mut Buffer,
        max_changes: usize,
        phase: usize,
    ) -> (usize, usize) {
        let mut grid = to_cells_of(self.cells, frame, area.width as usize, area.height as usize);
        let (wanted, changed) = match &self.last {
            Some(last) => {
                hold_close_cells(&mut grid, last, self.tolerance);
                let wanted = limit_changes(&mut grid, last, max_changes, phase);
                (wanted, wanted.min(max_changes))
            }
            None => (grid.cells.len(), grid.cells.len()),
        };
        write_cells(&grid, self.mode, area, buf);
        self.last = Some(grid);
        (wanted, changed)
    }

    /// The cells drawn last.
    pub fn last_cells(&self) -> Option<&CellGrid> {
        self.last.as_ref()
    }

    /// Forgets what was drawn, so the next frame is drawn in full.
    pub fn reset(&mut self) {
        self.last = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limited_changes_take_rows_in_turn() {
        let cell = |v: u8| Some(CellColors::half([v, v, v], [v, v, v]));
        let grid = |v: u8| CellGrid {
            cols: 4,
            rows: 3,
            cells: vec![cell(v); 12],
        };
        let old = grid(0);
        let mut next = grid(200);
        assert_eq!(limit_changes(&mut next, &old, 5, 1), 12);
        // Row 1 in full, then one cell of row 2; row 0 waits.
        let changed: Vec<bool> = next
            .cells
            .iter()
            .zip(&old.cells)
            .map(|(n, o)| n != o)
            .collect();
        assert_eq!(changed.iter().filter(|c| **c).count(), 5);
        assert!(changed[4..8].iter().all(|c| *c));
        assert!(changed[8] && !changed[9]);
        assert!(changed[0..4].iter().all(|c| !*c));
        let mut again = grid(200);
        assert_eq!(limit_changes(&mut again, &old, 100, 0), 12);
        assert_eq!(again.cells, grid(200).cells);
    }
    use ratatui::style::Style;

    fn frame(w: usize, h: usize, pixels: &[[u8; 3]]) -> RgbFrame {
        assert_eq!(pixels.len(), w * h);
        RgbFrame {
            width: w,
            height: h,
            data: pixels.iter().flatten().copied().collect(),
        }
    }

    /// The expected buffer from a picture of cells: `(fg, bg)` or `None` for letterbox.
    fn expected(area: Rect, cells: &[Option<(Color, Color)>]) -> Buffer {
        let mut buf = Buffer::empty(area);
        for (i, c) in cells.iter().enumerate() {
            let pos = (
                area.x + (i % area.width as usize) as u16,
                area.y + (i / area.width as usize) as u16,
            );
            let cell = buf.cell_mut(pos).unwrap();
            match c {
                None => {
                    cell.set_symbol(" ").set_style(Style::reset());
                }
                Some((fg, bg)) if fg == bg => {
                    cell.set_symbol(" ").set_fg(Color::Reset).set_bg(*bg);
                }
                Some((fg, bg)) => {
                    cell.set_symbol("▀").set_fg(*fg).set_bg(*bg);
                }
            }
        }
        buf
    }

    fn draw(f: &RgbFrame, area: Rect, mode: ColorMode) -> Buffer {
        let mut buf = Buffer::empty(area);
        HalfBlockRenderer::new(mode, 0).render(f, area, &mut buf);
        buf
    }

    const R: [u8; 3] = [255, 0, 0];
    const G: [u8; 3] = [0, 255, 0];
    const B: [u8; 3] = [0, 0, 255];
    const W: [u8; 3] = [255, 255, 255];
    fn rgb(c: [u8; 3]) -> Color {
        Color::Rgb(c[0], c[1], c[2])
    }

    #[test]
    fn two_by_two_into_two_cells() {
        let f = frame(2, 2, &[R, G, B, W]);
        let area = Rect::new(0, 0, 2, 1);
        assert_eq!(
            draw(&f, area, ColorMode::TrueColor),
            expected(area, &[Some((rgb(R), rgb(B))), Some((rgb(G), rgb(W)))])
        );
    }

    #[test]
    fn letterboxes_a_wide_frame() {
        // 4x2 pixels into a 4x2-cell tile (4x4 pixels): one cell row of picture. The offset
        // is kept to whole cells, so one spare pixel row above and below becomes one spare
        // cell row below.
        let f = frame(4, 2, &[R, R, G, G, B, B, W, W]);
        let area = Rect::new(0, 0, 4, 2);
        let got = draw(&f, area, ColorMode::TrueColor);
        let p = place(4, 2, 4, 2);
        assert_eq!(
            p,
            Placement {
                x: 0,
                y: 0,
                width: 4,
                height: 2
            }
        );
        let mut want = vec![
            Some((rgb(R), rgb(B))),
            Some((rgb(R), rgb(B))),
            Some((rgb(G), rgb(W))),
            Some((rgb(G), rgb(W))),
        ];
        want.extend([None; 4]);
        assert_eq!(got, expected(area, &want));
        // Two spare cell rows are split evenly.
        assert_eq!(
            place(4, 2, 4, 3),
            Placement {
                x: 0,
                y: 2,
                width: 4,
                height: 2
            }
        );
    }

    #[test]
    fn averages_areas_and_pillarboxes_odd_sizes() {
        // 3 wide, 5 tall into 3x1 cells (3x2 px): scale 0.4 -> 1x2 px, centred at column 1.
        let mut px = vec![R; 15];
        px[12..15].copy_from_slice(&[B, B, B]);
        let f = frame(3, 5, &px);
        let area = Rect::new(0, 0, 3, 1);
        let p = place(3, 5, 3, 1);
        assert_eq!(
            p,
            Placement {
                x: 1,
                y: 0,
                width: 1,
                height: 2
            }
        );
        let grid = to_cells_of(CellKind::Half, &f, 3, 1);
        assert_eq!(grid.cells[0], None);
        assert_eq!(grid.cells[2], None);
        let c = grid.cells[1].unwrap();
        assert_eq!(c.fg, R);
        // Bottom pixel averages rows 2..5: two red rows and one blue.
        assert_eq!(c.bg, [170, 0, 85]);
        let buf = draw(&f, area, ColorMode::TrueColor);
        assert_eq!(
            buf,
            expected(area, &[None, Some((rgb(R), Color::Rgb(170, 0, 85))), None])
        );
    }

    #[test]
    fn one_cell_and_zero_size_tiles() {
        let f = frame(2, 2, &[R, R, B, B]);
        let area = Rect::new(3, 2, 1, 1);
        let mut buf = Buffer::empty(Rect::new(0, 0, 6, 4));
        HalfBlockRenderer::new(ColorMode::TrueColor, 0).render(&f, area, &mut buf);
        assert_eq!(buf[(3, 2)].symbol(), "▀");
        assert_eq!(buf[(3, 2)].fg, rgb(R));
        assert_eq!(buf[(3, 2)].bg, rgb(B));
        // Zero-size tiles and empty frames draw nothing and do not panic.
        let mut r = HalfBlockRenderer::new(ColorMode::TrueColor, 8);
        r.render(&f, Rect::new(0, 0, 0, 0), &mut buf);
        r.render(&f, Rect::new(0, 0, 5, 0), &mut buf);
        r.render(
            &RgbFrame {
                width: 0,
                height: 0,
                data: vec![],
            },
            Rect::new(0, 0, 3, 3),
            &mut buf,
        );
        r.render(
            &RgbFrame {
                width: 4,
                height: 4,
                data: vec![1; 5],
            },
            Rect::new(0, 0, 3, 3),
            &mut buf,
        );
        // A tile that hangs off the buffer is clipped.
        r.render(&f, Rect::new(5, 3, 10, 10), &mut buf);
    }

    #[test]
    fn colour_modes() {
        let f = frame(1, 2, &[[250, 5, 5], [5, 5, 250]]);
        let area = Rect::new(0, 0, 1, 1);
        let b256 = draw(&f, area, ColorMode::Ansi256);
        assert_eq!(
            (b256[(0, 0)].fg, b256[(0, 0)].bg),
            (Color::Indexed(196), Color::Indexed(21))
        );
        let b16 = draw(&f, area, ColorMode::Ansi16);
        assert_eq!(
            (b16[(0, 0)].fg, b16[(0, 0)].bg),
            (Color::LightRed, Color::Blue)
        );
        let mono = draw(&frame(1, 2, &[W, W]), area, ColorMode::Mono);
        assert_eq!(mono[(0, 0)].symbol(), "█");
        // Equal halves become a space on a background.
        let flat = draw(&frame(1, 2, &[G, G]), area, ColorMode::TrueColor);
        assert_eq!((flat[(0, 0)].symbol(), flat[(0, 0)].bg), (" ", rgb(G)));
    }

    #[test]
    fn tolerance_holds_small_changes_only() {
        let area = Rect::new(0, 0, 2, 1);
        let mut r = HalfBlockRenderer::new(ColorMode::TrueColor, 6);
        let mut buf = Buffer::empty(area);
        r.render(
            &frame(
                2,
                2,
                &[[100, 100, 100], [10, 10, 10], [50, 50, 50], [200, 0, 0]],
            ),
            area,
            &mut buf,
        );
        let before = buf.clone();
        // A change of 5 in one cell is held; a change of 40 in the other is drawn.
        r.render(
            &frame(
                2,
                2,
                &[[105, 100, 95], [50, 10, 10], [50, 55, 50], [200, 0, 0]],
            ),
            area,
            &mut buf,
        );
        assert_eq!(buf[(0, 0)], before[(0, 0)]);
        assert_eq!(buf[(1, 0)].fg, Color::Rgb(50, 10, 10));
        // Drift does not accumulate: the held colour is compared against what is shown.
        r.render(
            &frame(
                2,
                2,
                &[[110, 100, 90], [50, 10, 10], [50, 60, 50], [200, 0, 0]],
            ),
            area,
            &mut buf,
        );
        assert_eq!(buf[(0, 0)].fg, Color::Rgb(110, 100, 90));
    }
}
