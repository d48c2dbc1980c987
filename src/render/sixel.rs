//! Real pixels by sixel (DEC's graphics, which xterm `-ti vt340`, foot, mlterm, WezTerm and
//! Windows Terminal draw): an RGB picture to the bytes that draw it, in a fixed palette of
//! 216 colours (a 6x6x6 cube, so nothing is spent choosing one a frame). Pure.

use std::fmt::Write as _;

/// Levels of each channel in the palette's cube.
const LEVELS: u32 = 6;

/// The palette index nearest `rgb`.
fn index(rgb: [u8; 3]) -> usize {
    let level = |v: u8| (u32::from(v) * (LEVELS - 1) + 127) / 255;
    (level(rgb[0]) * LEVELS * LEVELS + level(rgb[1]) * LEVELS + level(rgb[2])) as usize
}

/// The colour palette entry `i` shows, 0 to 255 a channel.
pub fn palette_color(i: usize) -> [u8; 3] {
    let l = LEVELS as usize;
    let v = |level: usize| (level * 255 / (l - 1)) as u8;
    [v(i / (l * l)), v(i / l % l), v(i % l)]
}

/// The colour the terminal shows for `rgb`: what a sixel picture is measured by.
pub fn shown(rgb: [u8; 3]) -> [u8; 3] {
    palette_color(index(rgb))
}

/// Asks the terminal to give each sixel picture colour registers of its own (xterm's mode
/// 1070): where the registers are shared, a picture's palette recolours the text's colours,
/// and text in the default colour can vanish. Sent once before the first picture.
pub const PRIVATE_REGISTERS: &[u8] = b"\x1b[?1070h";

/// The bytes that draw `rgb` (`width` x `height` pixels, row by row, 3 bytes a pixel) at
/// the cursor: a DCS sixel string with its palette and run-length coded bands of six rows.
/// Empty when the picture is empty or shorter than its size says.
pub fn encode(rgb: &[u8], width: usize, height: usize) -> Vec<u8> {
    if width == 0 || height == 0 || rgb.len() < width * height * 3 {
        return Vec::new();
    }
    let indices: Vec<u8> = rgb
        .chunks_exact(3)
        .take(width * height)
        .map(|p| index([p[0], p[1], p[2]]) as u8)
        .collect();
    let colours = (LEVELS * LEVELS * LEVELS) as usize;
    let mut used = vec![false; colours];
    indices.iter().for_each(|&i| used[i as usize] = true);
    // Pixel aspect 1:1, the raster size, then the colours used, in percent.
    let mut out = format!("\x1bP0;1q\"1;1;{width};{height}");
    for (i, _) in used.iter().enumerate().filter(|(_, u)| **u) {
        let [r, g, b] = palette_color(i).map(|v| (u32::from(v) * 100 + 127) / 255);
        let _ = write!(out, "#{i};2;{r};{g};{b}");
    }
    // Each colour's sixels across the band, and which colours the band has.
    let mut bits = vec![0u8; colours * width];
    let (mut present, mut in_band) = (Vec::with_capacity(colours), vec![false; colours]);
    for band in (0..height).step_by(6) {
        present.iter().for_each(|&c| in_band[c] = false);
        present.clear();
        for row in band..(band + 6).min(height) {
            for x in 0..width {
                let c = indices[row * width + x] as usize;
                if !in_band[c] {
                    in_band[c] = true;
                    present.push(c);
                }
                bits[c * width + x] |= 1 << (row - band);
            }
        }
        for (k, &c) in present.iter().enumerate() {
            if k > 0 {
                out.push('$'); // back to the band's start for the next colour
            }
            let _ = write!(out, "#{c}");
            run_length(&mut out, &bits[c * width..(c + 1) * width]);
            bits[c * width..(c + 1) * width].fill(0);
        }
        out.push('-');
    }
    out.push_str("\x1b\\");
    out.into_bytes()
}

/// One colour's row of sixels, runs of four or more as `!n`.
fn run_length(out: &mut String, row: &[u8]) {
    let mut i = 0;
    while i < row.len() {
        let run = row[i..].iter().take_while(|&&b| b == row[i]).count();
        let ch = char::from(b'?' + row[i]);
        if run >= 4 {
            let _ = write!(out, "!{run}{ch}");
        } else {
            (0..run).for_each(|_| out.push(ch));
        }
        i += run;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_bands_of_two_colours() {
        // 8x7: red on top of green, one more row of green in the second band.
        let mut px = Vec::new();
        for row in 0..7 {
            for _ in 0..8 {
                px.extend(if row < 3 { [255, 0, 0] } else { [0, 255, 0] });
            }
        }
        let text = String::from_utf8(encode(&px, 8, 7)).unwrap();
        let red = index([255, 0, 0]);
        let green = index([0, 255, 0]);
        assert!(text.starts_with("\x1bP0;1q\"1;1;8;7"), "{text}");
        assert!(text.contains(&format!("#{red};2;100;0;0")), "{text}");
        assert!(text.contains(&format!("#{green};2;0;100;0")), "{text}");
        // Band one: red in rows 0-2 (bits 0b000111 -> 'F'), green in 3-5 ('w'); band two:
        // green in its first row ('@').
        assert!(
            text.ends_with(&format!("#{red}!8F$#{green}!8w-#{green}!8@-\x1b\\")),
            "{text}"
        );
    }

    #[test]
    fn the_palette_is_a_cube_and_empty_pictures_draw_nothing() {
        assert_eq!(shown([0, 0, 0]), [0, 0, 0]);
        assert_eq!(shown([255, 255, 255]), [255, 255, 255]);
        assert_eq!(shown([100, 160, 30]), [102, 153, 51]);
        assert!(encode(&[], 0, 0).is_empty());
        assert!(encode(&[1, 2], 4, 4).is_empty(), "short data");
        // Short runs are written out.
        let mut s = String::new();
        run_length(&mut s, &[1, 1, 2, 2, 2, 2, 2]);
        assert_eq!(s, "@@!5A");
    }
}
