//! Sextant cells: two pixels across and three down (`🬀`…`🬻`, Unicode's Symbols for Legacy
//! Computing), in two colours. The matcher weighs every sextant split and every quadrant
//! split (half blocks among them) on a grid of two by six pixels a cell, where each shape is
//! exact, so a sextant cell is never further from the picture than a quadrant or half block
//! would be. Pure.

use super::grid::{
    group_sum, rounded_mean, split_score, CellColors, FLAT, QUADRANT_SPLITS, SEXTANT,
};

/// The character of a sextant mask (bit 0 top left to bit 5 bottom right).
pub fn symbol(mask: u8) -> char {
    let m = u32::from(mask & 0b11_1111);
    match m {
        0 => ' ',
        21 => '▌',
        42 => '▐',
        63 => '█',
        // The block leaves out the four shapes that have characters of their own.
        _ => char::from_u32(0x1FB00 + m - 1 - u32::from(m > 21) - u32::from(m > 42)).unwrap_or('█'),
    }
}

/// Pixels a cell on the matching grid: two across, six down.
pub const ACROSS: usize = 2;
/// See [`ACROSS`].
pub const DOWN: usize = 6;

/// The two-colour cell closest to a cell's 2x6 pixels (row by row) in squared error, among
/// quadrant and sextant shapes; ties go to the quadrant shapes, the half block first.
///
/// As for quadrants, the best split is the one with the largest `sum² / n` over its two
/// groups, here in 360ths (360 divides by every group size that occurs).
pub fn best_sextant(px: &[[u8; 3]]) -> CellColors {
    let (mut total, mut squares) = ([0u32; 3], 0u32);
    // Sums of each sextant (two pixels) and each quadrant (three).
    let (mut sext, mut quad) = ([[0u32; 3]; 6], [[0u32; 3]; 4]);
    for (i, p) in px.iter().take(ACROSS * DOWN).enumerate() {
        let (col, row) = (i % 2, i / 2);
        for c in 0..3 {
            let v = u32::from(p[c]);
            total[c] += v;
            squares += v * v;
            sext[col + 2 * (row / 2)][c] += v;
            quad[col + 2 * (row / 3)][c] += v;
        }
    }
    // A flat cell (see FLAT) is a half block: 12 times its squared error against its mean
    // is at most 12 times FLAT for each of its 36 values.
    let spread = 12 * u64::from(squares) - total.iter().map(|&t| u64::from(t).pow(2)).sum::<u64>();
    if spread <= 12 * 36 * FLAT {
        let half = |mask| rounded_mean(group_sum(&quad, mask), 6);
        return CellColors::half(half(0b0011), half(0b1100));
    }
    let mut best: Option<(u64, u8, [u32; 3], u32)> = None;
    let mut consider = |shape: u8, fg: [u32; 3], n: u32| {
        let score = split_score(&total, fg, n, 12, 360);
        if best.is_none_or(|b| score > b.0) {
            best = Some((score, shape, fg, n));
        }
    };
    for &mask in &QUADRANT_SPLITS {
        consider(mask, group_sum(&quad, mask), 3 * mask.count_ones());
    }
    // Bottom right always in the background: each split once, in Gray code order so that
    // each step adds or takes away one sextant's sums.
    let mut fg = [0u32; 3];
    for g in 1u8..32 {
        let mask = g ^ (g >> 1);
        let part = &sext[g.trailing_zeros() as usize];
        let adding = mask & (1 << g.trailing_zeros()) != 0;
        for c in 0..3 {
            if adding {
                fg[c] += part[c];
            } else {
                fg[c] -= part[c];
            }
        }
        consider(SEXTANT | mask, fg, 2 * mask.count_ones());
    }
    let Some((_, shape, fg_sum, n)) = best else {
        return CellColors::half([0; 3], [0; 3]);
    };
    let bg = rounded_mean([0, 1, 2].map(|c| total[c] - fg_sum[c]), 12 - n);
    CellColors {
        fg: if n == 0 { bg } else { rounded_mean(fg_sum, n) },
        bg,
        shape,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::grid::UPPER;

    const K: [u8; 3] = [0, 0, 0];
    const W: [u8; 3] = [255, 255, 255];

    /// A 2x6 cell from a picture of 2x3 letters: `#` white, `.` black.
    fn cell(rows: [&str; 3]) -> Vec<[u8; 3]> {
        rows.iter()
            .flat_map(|r| {
                let line: Vec<[u8; 3]> = r.chars().map(|c| if c == '#' { W } else { K }).collect();
                [line.clone(), line].concat()
            })
            .collect()
    }

    #[test]
    fn the_characters_follow_unicode() {
        assert_eq!(symbol(1), '🬀');
        assert_eq!(symbol(2), '🬁');
        assert_eq!(symbol(20), '🬓');
        assert_eq!(symbol(22), '🬔');
        assert_eq!(symbol(62), '🬻');
        assert_eq!(
            [symbol(0), symbol(21), symbol(42), symbol(63)],
            [' ', '▌', '▐', '█']
        );
    }

    #[test]
    fn thirds_are_found_and_halves_stay_half_blocks() {
        // The top third white: a sextant.
        let c = best_sextant(&cell(["##", "..", ".."]));
        assert_eq!((c.shape, c.fg, c.bg), (SEXTANT | 0b11, W, K));
        // The middle right pixel.
        let c = best_sextant(&cell(["..", ".#", ".."]));
        assert_eq!((c.shape, c.fg, c.bg), (SEXTANT | 0b1000, W, K));
        // Top half against bottom half is the half block, exactly.
        let mut half = vec![W; 6];
        half.extend([K; 6]);
        assert_eq!(best_sextant(&half), CellColors::half(W, K));
        assert_eq!(best_sextant(&[W; 12]).shape, UPPER);
    }

    #[test]
    fn never_worse_than_a_quadrant_cell() {
        let mut next = crate::render::grid::test_bytes(7);
        let error = |c: &CellColors, px: &[[u8; 3]]| -> u64 {
            px.iter()
                .enumerate()
                .map(|(i, p)| {
                    let shown = c.at(i % 2, i / 2);
                    (0..3)
                        .map(|k| (shown[k] as i64 - p[k] as i64).pow(2) as u64)
                        .sum::<u64>()
                })
                .sum()
        };
        for _ in 0..5_000 {
            let px: Vec<[u8; 3]> = (0..12).map(|_| [next(), next(), next()]).collect();
            // The quadrant matcher on the same pixels averaged to 2x2.
            let q = |col: usize, half: usize| {
                let rows = half * 3..half * 3 + 3;
                [0, 1, 2]
                    .map(|k| (rows.clone().map(|r| px[r * 2 + col][k] as u32).sum::<u32>() + 1) / 3)
                    .map(|v| v as u8)
            };
            let quad = crate::render::cells::best_split([q(0, 0), q(1, 0), q(0, 1), q(1, 1)]);
            let best = best_sextant(&px);
            assert!(error(&best, &px) <= error(&quad, &px) + 36, "{px:?}");
        }
    }
}
