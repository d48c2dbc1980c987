//! What every cell renderer shares: where the picture sits in a tile, the cells it becomes,
//! and the frame scaled down by area averaging to a few pixels per cell. Pure.

use crate::media::frame::RgbFrame;

/// The shape of the upper half block `▀` as a quadrant mask (see [`CellColors::shape`]).
pub const UPPER: u8 = 0b0011;
/// Every way to split a cell's four quadrants into two groups, once each (the bottom right
/// always in the background), the half block first so that it wins ties.
pub const QUADRANT_SPLITS: [u8; 8] = [UPPER, 0, 1, 2, 4, 5, 6, 7];
/// A cell whose values (every pixel's every channel) differ from their mean by no more than
/// this squared, on average, is flat: it looks the same drawn any way, so the matchers draw
/// it as a half block without searching, and it keeps its shape from frame to frame (which
/// the colour tolerance needs to hold it).
pub const FLAT: u64 = 9;
/// Set in [`CellColors::shape`] when the other six bits are a sextant mask.
pub const SEXTANT: u8 = 0b0100_0000;

/// One cell: a foreground and a background colour and which of its four quadrants show the
/// foreground.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CellColors {
    /// The foreground colour.
    pub fg: [u8; 3],
    /// The background colour.
    pub bg: [u8; 3],
    /// Which parts are foreground. Without [`SEXTANT`], a quadrant mask: bit 0 top left,
    /// bit 1 top right, bit 2 bottom left, bit 3 bottom right (a half-block cell is
    /// [`UPPER`]). With it, a sextant mask, two across and three down, bit 0 top left to
    /// bit 5 bottom right.
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

    /// The colour shown at column `col` (0 or 1) of sixth `row` (0 to 5) of the cell: the
    /// finest grid on which every shape here is exact.
    pub fn at(&self, col: usize, row: usize) -> [u8; 3] {
        let bit = if self.shape & SEXTANT != 0 {
            col + 2 * (row / 2)
        } else {
            col + 2 * (row / 3)
        };
        if self.shape & (1 << bit) != 0 {
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

/// The channel sums of the `parts` in `mask` (bit `i` for part `i`).
pub fn group_sum<const N: usize>(parts: &[[u32; 3]; N], mask: u8) -> [u32; 3] {
    let mut sum = [0u32; 3];
    for (i, part) in parts.iter().enumerate() {
        if mask & (1 << i) != 0 {
            for c in 0..3 {
                sum[c] += part[c];
            }
        }
    }
    sum
}

/// Channel sums over `n` pixels, as their rounded mean.
pub fn rounded_mean(sum: [u32; 3], n: u32) -> [u8; 3] {
    let n = n.max(1);
    sum.map(|s| ((s + n / 2) / n) as u8)
}

/// How good a two-colour split is: `scale` times `sum² / n` of both groups over the three
/// channels, for a foreground of `n` of the cell's `of` pixels summing to `fg` (`total` for
/// the whole cell). A split's squared error is the cell's sum of squares, the same for every
/// split, less this over `scale`; so the best split scores highest. `scale` must divide by
/// every group size, to keep it whole.
pub fn split_score(total: &[u32; 3], fg: [u32; 3], n: u32, of: u32, scale: u64) -> u64 {
    let fg_w = scale.checked_div(u64::from(n)).unwrap_or(0);
    let bg_w = scale / u64::from(of - n);
    (0..3)
        .map(|c| {
            let (f, b) = (u64::from(fg[c]), u64::from(total[c] - fg[c]));
            fg_w * f * f + bg_w * b * b
        })
        .sum()
}

/// The placed picture scaled by area averaging to `across` pixels per cell across and
/// `down` down: `p.width * across` by `p.height / 2 * down` pixels, row by row. Empty when
/// the frame is shorter than its size says or the picture has no area.
pub fn average(frame: &RgbFrame, p: &Placement, across: usize, down: usize) -> Vec<[u8; 3]> {
    let (fw, fh) = (frame.width, frame.height);
    let (out_w, out_h) = (p.width * across, p.height / 2 * down);
    if out_w == 0 || out_h == 0 || frame.data.len() < fw * fh * 3 {
        return Vec::new();
    }
    let span = |i: usize, of: usize, n: usize| {
        let a = i * of / n;
        (a, ((i + 1) * of / n).max(a + 1).min(of))
    };
    // Source column ranges for each output column, computed once.
    let xs: Vec<(usize, usize)> = (0..out_w).map(|x| span(x, fw, out_w)).collect();
    let widest = xs.iter().map(|(a, b)| b - a).max().unwrap_or(1);
    let mut sums = vec![[0u32; 3]; out_w];
    // The source rows of one output row added up, value by value (which vectorises), and
    // then across each output column's span.
    let mut rows = vec![0u32; fw * 3];
    let mut out = Vec::with_capacity(out_w * out_h);
    for y in 0..out_h {
        let (y0, y1) = span(y, fh, out_h);
        rows.iter_mut().for_each(|v| *v = 0);
        for row in y0..y1 {
            let line = &frame.data[row * fw * 3..(row + 1) * fw * 3];
            for (v, &b) in rows.iter_mut().zip(line) {
                *v += u32::from(b);
            }
        }
        for (s, &(x0, x1)) in sums.iter_mut().zip(&xs) {
            *s = [0; 3];
            for px in rows[x0 * 3..x1 * 3].chunks_exact(3) {
                s[0] += px[0];
                s[1] += px[1];
                s[2] += px[2];
            }
        }
        // Every column of a row is one of two widths, so one of two divisors: divide by
        // multiplying with each one's reciprocal, found once a row.
        let divisors = [widest - 1, widest].map(|w| Divide::by((w.max(1) * (y1 - y0)) as u32));
        for (s, &(x0, x1)) in sums.iter().zip(&xs) {
            let d = &divisors[usize::from(x1 - x0 == widest)];
            out.push([d.rounded(s[0]), d.rounded(s[1]), d.rounded(s[2])]);
        }
    }
    out
}

/// Rounded division of a sum of at most `n` bytes by `n`, by a multiplication where that is
/// exact (`n` under 4096) and by division otherwise.
#[derive(Clone, Copy, Debug)]
struct Divide {
    n: u32,
    /// `2^32 / n`, rounded up; 0 when dividing plainly.
    reciprocal: u64,
}

impl Divide {
    fn by(n: u32) -> Divide {
        let n = n.max(1);
        // Exact while (sum + n/2) * n stays under 2^32: sums are at most 255 n.
        let reciprocal = if n < 4096 {
            (1u64 << 32) / u64::from(n) + 1
        } else {
            0
        };
        Divide { n, reciprocal }
    }

    /// `(sum + n / 2) / n`.
    fn rounded(&self, sum: u32) -> u8 {
        let x = sum + self.n / 2;
        if self.reciprocal == 0 {
            (x / self.n) as u8
        } else {
            ((u64::from(x) * self.reciprocal) >> 32) as u8
        }
    }
}

/// Each cell of a `cols` x `rows` tile made from its `across` x `down` block of averaged
/// pixels (row by row) with `cell`, row by row; `None` for letterbox.
pub fn blocks<T: Clone>(
    frame: &RgbFrame,
    (cols, rows): (usize, usize),
    (across, down): (usize, usize),
    mut cell: impl FnMut(&[[u8; 3]]) -> T,
) -> Vec<Option<T>> {
    let mut cells = vec![None; cols * rows];
    let p = place(frame.width, frame.height, cols, rows);
    let pixels = average(frame, &p, across, down);
    if pixels.is_empty() {
        return cells;
    }
    let w = p.width * across;
    let mut block = Vec::with_capacity(across * down);
    for cell_row in 0..p.height / 2 {
        let row = p.y / 2 + cell_row;
        for x in 0..p.width {
            block.clear();
            for r in 0..down {
                let start = (cell_row * down + r) * w + x * across;
                block.extend_from_slice(&pixels[start..start + across]);
            }
            cells[row * cols + p.x + x] = Some(cell(&block));
        }
    }
    cells
}

/// A grid made with [`blocks`].
pub fn build(
    frame: &RgbFrame,
    size: (usize, usize),
    block: (usize, usize),
    cell: impl FnMut(&[[u8; 3]]) -> CellColors,
) -> CellGrid {
    CellGrid {
        cols: size.0,
        rows: size.1,
        cells: blocks(frame, size, block, cell),
    }
}

/// A `fw` x `fh` picture fitted into `tw` x `th` pixels, its aspect kept, its height even
/// (as [`crate::render::grid::average`] takes it with one pixel across and two down a cell).
pub fn fit_pixels((fw, fh): (usize, usize), (tw, th): (usize, usize)) -> Placement {
    let scale = (tw as f64 / fw.max(1) as f64).min(th as f64 / fh.max(1) as f64);
    let width = ((fw as f64 * scale).round() as usize).clamp(1, tw.max(1));
    let height = (((fh as f64 * scale / 2.0).round() as usize) * 2).clamp(2, th.max(2) & !1);
    Placement {
        x: 0,
        y: 0,
        width,
        height,
    }
}

/// Bytes from a small linear congruential generator, the same for the same `seed`: noise for
/// the matchers' tests.
#[cfg(test)]
pub fn test_bytes(mut seed: u32) -> impl FnMut() -> u8 {
    move || {
        seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        (seed >> 24) as u8
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
        let got = average(&f, &p, 2, 2);
        let reds: Vec<u8> = got.iter().map(|c| c[0]).collect();
        assert_eq!(reds, vec![0, 10, 20, 30, 40, 50, 60, 70]);
        let reds = |across, down| -> Vec<u8> {
            average(&f, &p, across, down).iter().map(|c| c[0]).collect()
        };
        // Pairs averaged, rounding half up.
        assert_eq!(reds(1, 2), vec![5, 25, 45, 65]);
        // Six down from two rows: each row three times.
        assert_eq!(reds(1, 6), [[5, 25].repeat(3), [45, 65].repeat(3)].concat());
    }

    #[test]
    fn division_by_reciprocal_is_exact() {
        for n in (1..4200u32).chain([65_535, 1 << 20]) {
            let d = Divide::by(n);
            for k in 0..=255u32 {
                for sum in [k * n, (k * n + n / 2).saturating_sub(1), k * n + n / 2] {
                    if sum <= 255 * n {
                        assert_eq!(u32::from(d.rounded(sum)), (sum + n / 2) / n, "{sum} / {n}");
                    }
                }
            }
        }
    }

    #[test]
    fn quadrants_follow_the_shape() {
        let c = CellColors {
            fg: [1, 1, 1],
            bg: [2, 2, 2],
            shape: 0b1001,
        };
        let q: Vec<u8> = (0..6).map(|r| c.at(r % 2, r)[0]).collect();
        // Down the diagonal: top left, top right, top left, bottom right, bottom left...
        assert_eq!(q, vec![1, 2, 1, 1, 2, 1]);
        let h = CellColors::half([9; 3], [3; 3]);
        assert_eq!([h.at(1, 2), h.at(0, 3)], [[9; 3], [3; 3]]);
        // A sextant: the middle row's right pixel only.
        let s = CellColors {
            shape: SEXTANT | 0b00_1000,
            ..c
        };
        let col1: Vec<u8> = (0..6).map(|r| s.at(1, r)[0]).collect();
        assert_eq!(col1, vec![2, 2, 1, 1, 2, 2]);
        assert!((0..6).all(|r| s.at(0, r) == [2; 3]));
    }
}
