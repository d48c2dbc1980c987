//! What every cell renderer shares: where the picture sits in a tile, the cells it becomes,
//! and the frame scaled down by area averaging to a few pixels per cell. Pure.

use crate::media::frame::RgbFrame;

/// The shape of the upper half block `▀` as a quadrant mask (see [`CellColors::shape`]).
pub const UPPER: u8 = 0b0011;

/// One cell: a foreground and a background colour and which of its four quadrants show the
/// foreground.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CellColors {
    /// The foreground colour.
    pub fg: [u8; 3],
    /// The background colour.
    pub bg: [u8; 3],
    /// Which quadrants are foreground: bit 0 top left, bit 1 top right, bit 2 bottom left,
    /// bit 3 bottom right. A half-block cell is [`UPPER`].
    pub shape: u8,
}

impl CellColors {
    /// A half-block cell: `top` above `bottom`.
    pub fn half(top: [u8; 3], bottom: [u8; 3]) -> CellColors {
        CellColors {
            fg: top,
            bg: bottom,
            shape: UPPER,
        }
    }

    /// The colour of quadrant `q` (0 top left, 1 top right, 2 bottom left, 3 bottom right).
    pub fn quadrant(&self, q: usize) -> [u8; 3] {
        if self.shape & (1 << q) != 0 {
            self.fg
        } else {
            self.bg
        }
    }
}

/// Where the picture sits in a tile, in pixels (one across and two down per cell).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Placement {
    /// Columns of letterbox on the left.
    pub x: usize,
    /// Pixel rows of letterbox on top (always even: whole cells).
    pub y: usize,
    /// Picture width in pixels (= cells).
    pub width: usize,
    /// Picture height in pixels (even: whole cells).
    pub height: usize,
}

/// Fits a `frame_w` x `frame_h` picture into `cols` x `rows` cells, centred.
pub fn place(frame_w: usize, frame_h: usize, cols: usize, rows: usize) -> Placement {
    let (tile_w, tile_h) = (cols, rows * 2);
    if frame_w == 0 || frame_h == 0 || tile_w == 0 || tile_h == 0 {
        return Placement {
            x: 0,
            y: 0,
            width: 0,
            height: 0,
        };
    }
    let scale = (tile_w as f64 / frame_w as f64).min(tile_h as f64 / frame_h as f64);
    let width = ((frame_w as f64 * scale).round() as usize).clamp(1, tile_w);
    // Whole cells vertically: round the height to an even number of pixels.
    let height = ((((frame_h as f64 * scale) / 2.0).round() as usize) * 2).clamp(2, tile_h);
    Placement {
        x: (tile_w - width) / 2,
        y: ((tile_h - height) / 4) * 2,
        width,
        height,
    }
}

/// The picture as cells: `cols * rows` entries row by row, `None` for letterbox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CellGrid {
    /// Width in cells.
    pub cols: usize,
    /// Height in cells.
    pub rows: usize,
    /// Row-major cells.
    pub cells: Vec<Option<CellColors>>,
}

impl CellGrid {
    /// A grid of letterbox only.
    pub fn empty(cols: usize, rows: usize) -> CellGrid {
        CellGrid {
            cols,
            rows,
            cells: vec![None; cols * rows],
        }
    }
}

/// The placed picture scaled by area averaging to `across` pixels per cell across and two
/// down: `p.width * across` by `p.height` pixels, row by row. Empty when the frame is
/// shorter than its size says or the picture has no area.
pub fn average(frame: &RgbFrame, p: &Placement, across: usize) -> Vec<[u8; 3]> {
    let (fw, fh) = (frame.width, frame.height);
    let out_w = p.width * across;
    if out_w == 0 || p.height == 0 || frame.data.len() < fw * fh * 3 {
        return Vec::new();
    }
    let span = |i: usize, of: usize, n: usize| {
        let a = i * of / n;
        (a, ((i + 1) * of / n).max(a + 1).min(of))
    };
    // Source column ranges for each output column, computed once.
    let xs: Vec<(usize, usize)> = (0..out_w).map(|x| span(x, fw, out_w)).collect();
    let mut sums = vec![[0u32; 3]; out_w];
    let mut out = Vec::with_capacity(out_w * p.height);
    for y in 0..p.height {
        let (y0, y1) = span(y, fh, p.height);
        sums.iter_mut().for_each(|s| *s = [0; 3]);
        for row in y0..y1 {
            let line = &frame.data[row * fw * 3..(row + 1) * fw * 3];
            for (s, &(x0, x1)) in sums.iter_mut().zip(&xs) {
                for px in line[x0 * 3..x1 * 3].chunks_exact(3) {
                    s[0] += px[0] as u32;
                    s[1] += px[1] as u32;
                    s[2] += px[2] as u32;
                }
            }
        }
        for (s, &(x0, x1)) in sums.iter().zip(&xs) {
            let n = ((x1 - x0) * (y1 - y0)) as u32;
            out.push([
                ((s[0] + n / 2) / n) as u8,
                ((s[1] + n / 2) / n) as u8,
                ((s[2] + n / 2) / n) as u8,
            ]);
        }
    }
    out
}

/// Each cell of a `cols` x `rows` tile made from its `across` x 2 block of averaged pixels
/// (top row, bottom row) with `cell`, row by row; `None` for letterbox.
pub fn blocks<T: Clone>(
    frame: &RgbFrame,
    cols: usize,
    rows: usize,
    across: usize,
    mut cell: impl FnMut(&[[u8; 3]], &[[u8; 3]]) -> T,
) -> Vec<Option<T>> {
    let mut cells = vec![None; cols * rows];
    let p = place(frame.width, frame.height, cols, rows);
    let pixels = average(frame, &p, across);
    if pixels.is_empty() {
        return cells;
    }
    let w = p.width * across;
    for cell_row in 0..p.height / 2 {
        let top = &pixels[cell_row * 2 * w..(cell_row * 2 + 1) * w];
        let bottom = &pixels[(cell_row * 2 + 1) * w..(cell_row * 2 + 2) * w];
        let row = p.y / 2 + cell_row;
        for x in 0..p.width {
            let (a, b) = (x * across, (x + 1) * across);
            cells[row * cols + p.x + x] = Some(cell(&top[a..b], &bottom[a..b]));
        }
    }
    cells
}

/// A grid made with [`blocks`].
pub fn build(
    frame: &RgbFrame,
    cols: usize,
    rows: usize,
    across: usize,
    cell: impl FnMut(&[[u8; 3]], &[[u8; 3]]) -> CellColors,
) -> CellGrid {
    CellGrid {
        cols,
        rows,
        cells: blocks(frame, cols, rows, across, cell),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn averages_two_pixels_across_per_cell() {
        // 4x2 pixels, one cell row of two cells at two across: the frame itself.
        let px: Vec<u8> = (0..8u8).flat_map(|i| [i * 10, 0, 0]).collect();
        let f = RgbFrame {
            width: 4,
            height: 2,
            data: px,
        };
        let p = place(4, 2, 2, 1);
        assert_eq!((p.width, p.height), (2, 2));
        let got = average(&f, &p, 2);
        let reds: Vec<u8> = got.iter().map(|c| c[0]).collect();
        assert_eq!(reds, vec![0, 10, 20, 30, 40, 50, 60, 70]);
        assert_eq!(
            average(&f, &p, 1).iter().map(|c| c[0]).collect::<Vec<_>>(),
            {
                // Pairs averaged, rounding half up.
                vec![5, 25, 45, 65]
            }
        );
    }

    #[test]
    fn quadrants_follow_the_shape() {
        let c = CellColors {
            fg: [1, 1, 1],
            bg: [2, 2, 2],
            shape: 0b1001,
        };
        let q: Vec<u8> = (0..4).map(|i| c.quadrant(i)[0]).collect();
        assert_eq!(q, vec![1, 2, 2, 1]);
        let h = CellColors::half([9; 3], [3; 3]);
        assert_eq!([h.quadrant(0), h.quadrant(3)], [[9; 3], [3; 3]]);
    }
}
