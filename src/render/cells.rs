//! Which characters a picture is drawn with. Half blocks (`▀`) show two pixels a cell, one
//! above the other. Quadrant blocks (`▘▝▀▖▌▞▛▗▚▐▜▄▙▟`) show four, two by two, in two
//! colours: each cell takes the split of its four pixels into two colours that loses least,
//! so edges and text come out twice as sharp across and the same down. Sextants
//! ([`super::sextant`]) show six, two by three, where the font has them. Pure.

use std::str::FromStr;

use super::grid::{
    blocks, build, group_sum, rounded_mean, split_score, CellColors, CellGrid, FLAT,
    QUADRANT_SPLITS, SEXTANT, UPPER,
};
use super::sextant;
use crate::media::frame::RgbFrame;

/// The characters a picture is drawn with.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CellKind {
    /// `▀` with two colours: two pixels a cell.
    #[default]
    Half,
    /// The quadrant block elements with two colours: four pixels a cell.
    Quadrant,
    /// Sextants, quadrants and half blocks with two colours: up to six pixels a cell, for
    /// fonts with Unicode's Symbols for Legacy Computing.
    Sextant,
}

impl FromStr for CellKind {
    type Err = String;

    fn from_str(text: &str) -> Result<CellKind, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "half" | "halfblock" | "half-block" => Ok(CellKind::Half),
            "quadrant" | "quadrants" | "quad" => Ok(CellKind::Quadrant),
            "sextant" | "sextants" => Ok(CellKind::Sextant),
            _ => Err(format!(
                "{text:?} is not a kind of cell; use quadrant (four pixels a cell, the default), half (two) or sextant (six, where the font has them)"
            )),
        }
    }
}

impl CellKind {
    /// The best kind the terminal named by `TERM` can be trusted to draw: quadrants, which
    /// every common terminal font has, except on the Linux console and old VT terminals,
    /// whose fonts stop at the half blocks.
    pub fn for_term(term: Option<&str>) -> CellKind {
        let term = term.unwrap_or_default();
        let plain = term == "linux" || term == "dumb" || term.starts_with("vt");
        if plain {
            CellKind::Half
        } else {
            CellKind::Quadrant
        }
    }

    /// The kind for this process's terminal (see [`CellKind::for_term`]).
    pub fn from_env() -> CellKind {
        CellKind::for_term(std::env::var("TERM").ok().as_deref())
    }
}

impl std::fmt::Display for CellKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CellKind::Half => "half",
            CellKind::Quadrant => "quadrant",
            CellKind::Sextant => "sextant",
        })
    }
}

/// The character of each quadrant mask (bit 0 top left, 1 top right, 2 bottom left,
/// 3 bottom right set: that quadrant shows the foreground).
pub const SYMBOLS: [char; 16] = [
    ' ', '▘', '▝', '▀', '▖', '▌', '▞', '▛', '▗', '▚', '▐', '▜', '▄', '▙', '▟', '█',
];

/// The two-colour cell closest to four pixels (top left, top right, bottom left, bottom
/// right) in squared error, with each colour the mean of its pixels.
///
/// Splits are scored by [`split_score`] in twelfths (12 divides by 1 to 4).
pub fn best_split(q: [[u8; 3]; 4]) -> CellColors {
    let parts = q.map(|p| p.map(u32::from));
    let total = group_sum(&parts, 0b1111);
    let squares: u64 = q.iter().flatten().map(|&v| u64::from(v).pow(2)).sum();
    // A flat cell (see FLAT) is a half block: 4 times its squared error against its mean is
    // at most 4 times FLAT for each of its 12 values.
    let spread = 4 * squares - total.iter().map(|&t| u64::from(t).pow(2)).sum::<u64>();
    if spread <= 4 * 12 * FLAT {
        let half = |mask| rounded_mean(group_sum(&parts, mask), 2);
        return CellColors::half(half(UPPER), half(0b1100));
    }
    let (mut best, mut best_mask) = (None, UPPER);
    for &mask in &QUADRANT_SPLITS {
        let score = split_score(&total, group_sum(&parts, mask), mask.count_ones(), 4, 12);
        if best.is_none_or(|b| score > b) {
            (best, best_mask) = (Some(score), mask);
        }
    }
    let fg_n = best_mask.count_ones();
    let fg_sum = group_sum(&parts, best_mask);
    let bg = rounded_mean([0, 1, 2].map(|c| total[c] - fg_sum[c]), 4 - fg_n);
    let fg = if fg_n == 0 {
        bg
    } else {
        rounded_mean(fg_sum, fg_n)
    };
    CellColors {
        fg,
        bg,
        shape: best_mask,
    }
}

/// The character drawn for a cell's shape (see [`CellColors::shape`]).
pub fn symbol(shape: u8) -> char {
    if shape & SEXTANT != 0 {
        sextant::symbol(shape)
    } else {
        SYMBOLS[(shape & 0b1111) as usize]
    }
}

/// Scales `frame` into a `cols` x `rows` tile as cells of `kind`. Pure.
pub fn to_cells_of(kind: CellKind, frame: &RgbFrame, cols: usize, rows: usize) -> CellGrid {
    let size = (cols, rows);
    match kind {
        CellKind::Half => build(frame, size, (1, 2), |p| CellColors::half(p[0], p[1])),
        CellKind::Quadrant => build(frame, size, (2, 2), |p| {
            best_split([p[0], p[1], p[2], p[3]])
        }),
        CellKind::Sextant => build(
            frame,
            size,
            (sextant::ACROSS, sextant::DOWN),
            sextant::best_sextant,
        ),
    }
}

/// The frame as two by six pixels a cell, row by row: the finest grid on which every kind
/// of cell here is exact, and what a drawn cell is measured against.
pub fn source_raster(frame: &RgbFrame, cols: usize, rows: usize) -> Vec<Option<Vec<[u8; 3]>>> {
    blocks(frame, (cols, rows), (2, 6), |p| p.to_vec())
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
        assert_eq!((symbol(c.shape), c.fg, c.bg), ('▌', W, K));
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

    /// Squared error of showing `cell` for the four pixels `q`.
    fn error(cell: &CellColors, q: &[[u8; 3]; 4]) -> u64 {
        (0..4)
            .flat_map(|i| (0..3).map(move |c| (i, c)))
            .map(|(i, c)| (cell.at(i % 2, (i / 2) * 3)[c] as i64 - q[i][c] as i64).pow(2) as u64)
            .sum()
    }

    #[test]
    fn never_worse_than_the_half_block() {
        let mut next = crate::render::grid::test_bytes(0x2545_f491);
        for _ in 0..20_000 {
            let q: [[u8; 3]; 4] = std::array::from_fn(|_| [next(), next(), next()]);
            let avg = |a: [u8; 3], b: [u8; 3]| {
                [0, 1, 2].map(|c| (a[c] as u16 + b[c] as u16).div_ceil(2) as u8)
            };
            let half = CellColors::half(avg(q[0], q[1]), avg(q[2], q[3]));
            let best = best_split(q);
            // Rounding the means costs at most a little on each of the twelve values.
            assert!(
                error(&best, &q) <= error(&half, &q) + 12,
                "{q:?}: {best:?} against {half:?}"
            );
        }
    }

    #[test]
    fn quadrant_cells_show_what_half_blocks_blur() {
        // A one-pixel vertical line in a 4x2 frame drawn into two cells.
        let mut px = [K; 8];
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
        assert_eq!((symbol(q.shape), q.fg, q.bg), ('▌', K, W));
        assert_eq!(quad.cells[1], Some(CellColors::half(K, K)));
        assert_eq!(
            source_raster(&f, 2, 1)[0],
            Some([K, W].repeat(6)),
            "the reference keeps every pixel"
        );
    }

    #[test]
    fn kinds_parse_with_clear_errors() {
        assert_eq!("quadrant".parse::<CellKind>(), Ok(CellKind::Quadrant));
        assert_eq!(" Half ".parse::<CellKind>(), Ok(CellKind::Half));
        assert_eq!("sextant".parse::<CellKind>(), Ok(CellKind::Sextant));
        assert!("braille".parse::<CellKind>().unwrap_err().contains("half"));
        assert_eq!(CellKind::Quadrant.to_string(), "quadrant");
        for (term, kind) in [
            (Some("xterm-256color"), CellKind::Quadrant),
            (Some("tmux-256color"), CellKind::Quadrant),
            (Some("xterm-kitty"), CellKind::Quadrant),
            (None, CellKind::Quadrant),
            (Some("linux"), CellKind::Half),
            (Some("vt220"), CellKind::Half),
        ] {
            assert_eq!(CellKind::for_term(term), kind, "{term:?}");
        }
    }
}
