//! The synthetic test pattern: moving colour bars and a bouncing box, with the frame number
//! and capture time drawn as a grid of large black and white blocks that survive H.264 at low
//! bitrates. [`read_stamp`] reads them back from a decoded picture, so a receiver can count
//! frames and measure glass-to-glass latency.

use super::frame::{chroma_size, I420Frame};

/// What the blocks carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stamp {
    /// Frame number from the start of the source.
    pub frame: u32,
    /// Capture time: milliseconds since the Unix epoch, modulo 2^32.
    pub time_ms: u32,
}

/// Bits in the stamp: 32 frame, 32 time, 8 check.
const STAMP_BITS: usize = 72;
/// The stamp grid: 12 columns by 6 rows of blocks.
const GRID_COLS: usize = 12;
const GRID_ROWS: usize = 6;

/// Side of one stamp block in pixels for a picture size: about 1/30 of the shorter side,
/// a multiple of 4, at least 4.
pub fn block_size(width: usize, height: usize) -> usize {
    ((width.min(height) / 30) & !3).max(4)
}

/// Smallest picture that can carry a stamp.
pub fn fits_stamp(width: usize, height: usize) -> bool {
    let b = block_size(width, height);
    width >= (GRID_COLS + 2) * b && height >= (GRID_ROWS + 2) * b
}

/// CRC-8 (polynomial 0x07) over the stamp's 8 bytes, with a final XOR so that an all-black
/// or all-white picture never reads as a stamp.
fn crc8(bytes: &[u8]) -> u8 {
    let mut crc = 0u8;
    for &b in bytes {
        crc ^= b;
        for _ in 0..8 {
            crc = if crc & 0x80 != 0 {
                (crc << 1) ^ 0x07
            } else {
                crc << 1
            };
        }
    }
    crc ^ 0x5a
}

fn stamp_bits(stamp: Stamp) -> [bool; STAMP_BITS] {
    let mut bytes = [0u8; 9];
    bytes[..4].copy_from_slice(&stamp.frame.to_be_bytes());
    bytes[4..8].copy_from_slice(&stamp.time_ms.to_be_bytes());
    bytes[8] = crc8(&bytes[..8]);
    let mut bits = [false; STAMP_BITS];
    for (i, bit) in bits.iter_mut().enumerate() {
        *bit = bytes[i / 8] & (0x80 >> (i % 8)) != 0;
    }
    bits
}

/// Colours of a pattern, so several synthetic participants look different.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PatternStyle {
    /// Rotates the hues of the bars (0 to 5).
    pub hue_shift: usize,
    /// Noise over the whole picture, new every frame: a source that needs all the bitrate it
    /// can get (`test-pattern:busy`), where the plain pattern fits in about 170 kbit/s.
    pub busy: bool,
}

impl PatternStyle {
    /// The plain pattern with its bars' hues rotated by `hue_shift`.
    pub fn hue(hue_shift: usize) -> PatternStyle {
        PatternStyle {
            hue_shift,
            busy: false,
        }
    }
}

/// The test pattern generator.
#[derive(Clone, Debug)]
pub struct TestPattern {
    /// Picture width.
    pub width: usize,
    /// Picture height.
    pub height: usize,
    style: PatternStyle,
}

/// Bar colours as (Y, U, V), BT.601 limited range: white, yellow, cyan, green, magenta, red,
/// blue, and a dark grey.
const BARS: [(u8, u8, u8); 8] = [
    (180, 128, 128),
    (162, 44, 142),
    (131, 156, 44),
    (112, 72, 58),
    (84, 184, 198),
    (65, 100, 212),
    (35, 212, 114),
    (40, 128, 128),
];

impl TestPattern {
    /// A pattern of this size (rounded up to even) and style.
    pub fn new(width: usize, height: usize, style: PatternStyle) -> TestPattern {
        TestPattern {
            width: (width.max(2) + 1) & !1,
            height: (height.max(2) + 1) & !1,
            style,
        }
    }

    /// The picture for frame `n`, stamped with `n` and `time_ms`.
    pub fn frame(&self, n: u32, time_ms: u64) -> I420Frame {
        let (w, h) = (self.width, self.height);
        let (cw, ch) = chroma_size(w, h);
        let mut f = I420Frame::zeroed(w, h);
        // Bars that scroll left a little every frame.
        let shift = (n as usize * 4) % w;
        let bar_w = w.div_ceil(BARS.len()).max(1);
        let bar_of = |x: usize| ((x + shift) % w / bar_w + self.style.hue_shift) % BARS.len();
        for y in 0..h {
            let row = &mut f.y[y * w..(y + 1) * w];
            for (x, p) in row.iter_mut().enumerate() {
                *p = BARS[bar_of(x)].0;
            }
        }
        for cy in 0..ch {
            for cx in 0..cw {
                let (_, u, v) = BARS[bar_of(cx * 2)];
                f.u[cy * cw + cx] = u;
                f.v[cy * cw + cx] = v;
            }
        }
        // A box bouncing around the picture.
        let side = (w.min(h) / 5).max(2) & !1;
        let span_x = (w - side).max(1);
        let span_y = (h - side).max(1);
        let bounce = |t: usize, span: usize| {
            let p = t % (2 * span);
            if p < span {
                p
            } else {
                2 * span - p
            }
        };
        let bx = bounce(n as usize * 6, span_x) & !1;
        let by = bounce(n as usize * 4, span_y) & !1;
        fill_rect(&mut f, bx, by, side, side, (210, 16, 146));
        if self.style.busy {
            add_noise(&mut f, n);
        }
        if fits_stamp(w, h) {
            draw_stamp(
                &mut f,
                Stamp {
                    frame: n,
                    time_ms: time_ms as u32,
                },
            );
        }
        f
    }
}

/// Adds luma noise of about ±20 levels, different for every frame `n` (xorshift).
fn add_noise(f: &mut I420Frame, n: u32) {
    let mut state = 0x9e37_79b9_7f4a_7c15u64 ^ (u64::from(n) << 1 | 1);
    for chunk in f.y.chunks_mut(8) {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        for (i, p) in chunk.iter_mut().enumerate() {
            let r = ((state >> (i * 8)) & 0xff) as i16;
            let delta = (r % 41) - 20;
            *p = (i16::from(*p) + delta).clamp(16, 235) as u8;
        }
    }
}

fn fill_rect(f: &mut I420Frame, x: usize, y: usize, w: usize, h: usize, yuv: (u8, u8, u8)) {
    let (fw, fh, cw) = (f.width, f.height, f.chroma_width());
    for row in y..(y + h).min(fh) {
        for col in x..(x + w).min(fw) {
            f.y[row * fw + col] = yuv.0;
        }
    }
    for row in (y / 2)..((y + h).div_ceil(2)).min(f.chroma_height()) {
        for col in (x / 2)..((x + w).div_ceil(2)).min(cw) {
            f.u[row * cw + col] = yuv.1;
            f.v[row * cw + col] = yuv.2;
        }
    }
}

/// Draws the stamp grid at the top-left, one block in from the corner, on a grey frame.
pub fn draw_stamp(f: &mut I420Frame, stamp: Stamp) {
    let b = block_size(f.width, f.height);
    // A mid-grey border one block wide keeps the bars' edges away from the bits.
    fill_rect(
        f,
        0,
        0,
        (GRID_COLS + 2) * b,
        (GRID_ROWS + 2) * b,
        (126, 128, 128),
    );
    for (i, bit) in stamp_bits(stamp).iter().enumerate() {
        let (gx, gy) = (i % GRID_COLS, i / GRID_COLS);
        let luma = if *bit { 235 } else { 16 };
        fill_rect(f, (gx + 1) * b, (gy + 1) * b, b, b, (luma, 128, 128));
    }
}

/// Reads the stamp from a luma plane (`stride` bytes a row), or `None` when it is not
/// there or fails its check.
pub fn read_stamp(y_plane: &[u8], stride: usize, width: usize, height: usize) -> Option<Stamp> {
    if !fits_stamp(width, height) || y_plane.len() < stride * height {
        return None;
    }
    let b = block_size(width, height);
    let mut bytes = [0u8; 9];
    for i in 0..STAMP_BITS {
        let (gx, gy) = (i % GRID_COLS, i / GRID_COLS);
        // Average the middle half of the block, away from blurred edges.
        let (x0, y0) = ((gx + 1) * b + b / 4, (gy + 1) * b + b / 4);
        let mut sum = 0u32;
        let mut n = 0u32;
        for y in y0..y0 + b / 2 {
            for x in x0..x0 + b / 2 {
                sum += y_plane[y * stride + x] as u32;
                n += 1;
            }
        }
        if sum / n.max(1) > 126 {
            bytes[i / 8] |= 0x80 >> (i % 8);
        }
    }
    if crc8(&bytes[..8]) != bytes[8] {
        return None;
    }
    Some(Stamp {
        frame: u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]),
        time_ms: u32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]),
    })
}

/// Milliseconds from a stamp's capture time to `now_ms`, allowing for the 2^32 wrap.
pub fn latency_ms(stamp: Stamp, now_ms: u64) -> u32 {
    (now_ms as u32).wrapping_sub(stamp.time_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamp_round_trips_uncompressed() {
        for (w, h) in [(640, 480), (320, 240), (1280, 720), (160, 120)] {
            let p = TestPattern::new(w, h, PatternStyle::hue(2));
            for n in [0u32, 1, 29, 123_456, u32::MAX] {
                let t = 1_764_000_000_123u64 + n as u64;
                let f = p.frame(n, t);
                let s = read_stamp(&f.y, f.width, f.width, f.height).expect("stamp");
                assert_eq!(
                    s,
                    Stamp {
                        frame: n,
                        time_ms: t as u32
                    },
                    "{w}x{h} frame {n}"
                );
            }
        }
    }

    #[test]
    fn no_stamp_reads_as_none() {
        let f = I420Frame::black(640, 480);
        assert_eq!(read_stamp(&f.y, 640, 640, 480), None);
        assert_eq!(read_stamp(&[0; 10], 4, 4, 4), None);
        // Tiny pictures carry no stamp but are still drawn.
        let tiny = TestPattern::new(20, 10, PatternStyle::hue(0)).frame(3, 0);
        assert_eq!((tiny.width, tiny.height), (20, 10));
    }

    #[test]
    fn frames_move() {
        let p = TestPattern::new(64, 48, PatternStyle::hue(0));
        assert_ne!(p.frame(0, 0).y, p.frame(1, 0).y);
    }

    #[test]
    fn latency_wraps() {
        let s = Stamp {
            frame: 0,
            time_ms: u32::MAX - 5,
        };
        assert_eq!(latency_ms(s, (1u64 << 32) + 10), 16);
    }
}
