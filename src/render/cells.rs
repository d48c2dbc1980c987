//! Which characters a picture is drawn with. Half blocks (`▀`) show two pixels a cell, one
//! above the other. Quadrant blocks (`▘▝▀▖▌▞▛▗▚▐▜▄▙▟`) show four, two by two, in two
//! colours: each cell takes the split of its four pixels into two colours that loses least,
//! so edges and text come out twice as sharp across and the same down. Pure.

use std::str::FromStr;

use super::grid::{build, CellColors, CellGrid, UPPER};
use crate::media::frame::RgbFrame;

/// The characters a picture is drawn with.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CellKind {
    /// `▀` with two colours: two pixels a cell.
    #[default]
    Half,
    /// The quadrant block elements with two colours: four pixels a cell.
    Quadrant,
}

impl FromStr for CellKind {
    type Err = String;

    fn from_str(text: &str) -> Result<CellKind, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "half" | "halfblock" | "half-block" => Ok(CellKind::Half),
            "quadrant" | "quadrants" | "quad" => Ok(CellKind::Quadrant),
            "sextant" | "sextants" => Err(
                "sextant cells are not drawn yet (few terminal fonts have them); use --cells quadrant"
                    .to_string(),
            ),
            _ => Err(format!(
                "{text:?} is not a kind of cell; use half (two pixels a cell, the default) or quadrant (four)"
            )),
        }
    }
}

impl std::fmt::Display for CellKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CellKind::Half => "half",
            CellKind::Quadrant => "quadrant",
        })
    }
}

/// The character of each quadrant mask (bit 0 top left, 1 top right, 2 bottom left,
/// 3 bottom right set: that quadrant shows the foreground).
pub const SYMBOLS: [&str; 16] = [
    " ", "▘", "▝", "▀", "▖", "▌", "▞", "▛", "▗", "▚", "▐", "▜", "▄", "▙", "▟", "█",
];

/// Every way to split four pixels into two groups, once each (the bottom right pixel always
/// in the background), the half block first so that it wins ties.
const SPLITS: [u8; 8] = [UPPER, 0, 1, 2, 4, 5, 6, 7];

/// The two-colour cell closest to four pixels (top left, top right, bottom left, bottom
/// right) in squared error, with each colour the mean of its pixels.
pub fn best_split(q: [[u8; 3]; 4]) -> CellColors {
    let mut best = (u64::MAX, UPPER);
    for &mask in &SPLITS {
        let cost = split_cost(&q, mask);
        if cost < best.0 {
            best = (cost, mask);
        }
    }
    let mask = best.1;
    let bg = mean(&q, |i| mask & (1 << i) == 0);
    let fg = if mask == 0 {
        bg
    } else {
        mean(&q, |i| mask & (1 << i) != 0)
    };
    CellColors {
        fg,
        bg,
        shape: mask,
    }
}

/// Twelve times the squared error of splitting `q` by `mask` (twelve keeps it whole for
/// groups of one to four).
fn split_cost(q: &[[u8; 3]; 4], mask: u8) -> u64 {
    let mut cost = 0u64;
    for c in 0..3 {
        // [background, foreground]: sum, sum of squares, count.
        let (mut sum, mut squares, mut n) = ([0u64; 2], [0u64; 2], [0u64; 2]);
        for (i, px) in q.iter().enumerate() {
            let g = ((mask >> i) & 1) as usize;
            let v = px[c] as u64;
            sum[g] += v;
            squares[g] += v * v;
            n[g] += 1;
        }
        for g in 0..2 {
            if n[g] > 0 {
                cost += 12 * squares[g] - (12 / n[g]) * sum[g] * sum[g];
            }
        }
    }
    cost
}

/// The rounded mean of the pixels of `q` for which `member` holds (of all four when none).
fn mean(q: &[[u8; 3]; 4], member: impl Fn(usize) -> bool) -> [u8; 3] {
    let (mut sum, mut n) = ([0u32; 3], 0u32);
    for (_, px) in q.iter().enumerate().filter(|(i, _)| member(*i)) {
        for c in 0..3 {
            sum[c] += px[c] as u32;
        }
        n += 1;
    }
    let n = n.max(1);
    sum.map(|s| ((s + n / 2) / n) as u8)
}

/// Scales `frame` into a `cols` x `rows` tile as cells of `kind`. Pure.
pub fn to_cells_of(kind: CellKind, frame: &RgbFrame, cols: usize, rows: usize) -> CellGrid {
    match kind {
        CellKind::Half => build(frame, cols, rows, 1, |t, b| CellColors::half(t[0], b[0])),
        CellKind::Quadrant => build(frame, cols, rows, 2, |t, b| {
            best_split([t[0], t[1], b[0], b[1]])
        }),
    }
}

/// The frame as two by two pixels a cell (top left, top right, bottom left, bottom right),
/// the finest picture any cell kind here can show: what a drawn cell is measured against.
pub fn source_quads(frame: &RgbFrame, cols: usize, rows: usize) -> Vec<Option<[[u8; 3]; 4]>> {
    super::grid::blocks(frame, cols, rows, 2, |t, b| [t[0], t[1], b[0], b[1]])
}

#[cfg(test)]
mod tests {
    use super::*;

    const K: [u8; 3] = [0, 0, 0];
    const W: [u8; 3] = [255, 255, 255];
    const R: [u8; 3] = [200, 0, 0];

    #[test]
    fn each_split_is_found_and_the_half_block_wins_ties() {
        // Left column white, right black: the left half block.
        let c = best_split([W, K, W, K]);
        assert_eq!((SYMBOLS[c.shape as usize], c.fg, c.bg), ("▌", W, K));
        // One corner differs.
        let c = best_split([K, K, K, R]);
        assert_eq!(c.shape, 0b0111);
        assert_eq!((c.fg, c.bg), (K, R));
        // A diagonal.
        assert_eq!(best_split([W, K, K, W]).shape, 0b0110);
        // Flat: one colour, as a half block would have it.
        assert_eq!(best_split([R, R, R, R]), CellColors::half(R, R));
        // Top against bottom is the half block exactly.
        assert_eq!(best_split([W, W, K, K]), CellColors::half(W, K));
        // Four different greys: the split keeps the closest pairs together.
        let g = |v: u8| [v, v, v];
        let c = best_split([g(10), g(20), g(200), g(210)]);
        assert_eq!((c.shape, c.fg, c.bg), (UPPER, g(15), g(205)));
    }

    #[test]
    fn quadrant_cells_show_what_half_blocks_blur() {
        // A one-pixel vertical line in a 4x2 frame drawn into two cells.
        let mut px = vec![K; 8];
        px[1] = W;
        px[5] = W;
        let f = RgbFrame {
            width: 4,
            height: 2,
            data: px.iter().flatten().copied().collect(),
        };
        let half = to_cells_of(CellKind::Half, &f, 2, 1);
        let quad = to_cells_of(CellKind::Quadrant, &f, 2, 1);
        // Half blocks average the line into grey; quadrants keep it.
        assert_eq!(half.cells[0].unwrap().fg, [128, 128, 128]);
        let q = quad.cells[0].unwrap();
        assert_eq!((SYMBOLS[q.shape as usize], q.fg, q.bg), ("▌", K, W));
        assert_eq!(quad.cells[1], Some(CellColors::half(K, K)));
        assert_eq!(
            source_quads(&f, 2, 1)[0],
            Some([K, W, K, W]),
            "the reference keeps every pixel"
        );
    }

    #[test]
    fn kinds_parse_with_clear_errors() {
        assert_eq!("quadrant".parse::<CellKind>(), Ok(CellKind::Quadrant));
        assert_eq!(" Half ".parse::<CellKind>(), Ok(CellKind::Half));
        let sextant = "sextant".parse::<CellKind>().unwrap_err();
        assert!(sextant.contains("--cells quadrant"), "{sextant}");
        assert!("braille".parse::<CellKind>().unwrap_err().contains("half"));
        assert_eq!(CellKind::Quadrant.to_string(), "quadrant");
    }
}
