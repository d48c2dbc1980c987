//! Raw pictures and sound as they move between sources, codecs and the renderer.

use std::time::{SystemTime, UNIX_EPOCH};

/// A picture in I420 (YUV 4:2:0, BT.601 limited range): what cameras, screens and files are
/// converted to, and what the H.264 encoder takes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct I420Frame {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// Luma, `width * height` bytes.
    pub y: Vec<u8>,
    /// Blue-difference chroma, `chroma_width() * chroma_height()` bytes.
    pub u: Vec<u8>,
    /// Red-difference chroma, same size as `u`.
    pub v: Vec<u8>,
}

/// A picture in packed 8-bit RGB: what decoders give the renderer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RgbFrame {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// `width * height * 3` bytes, row by row.
    pub data: Vec<u8>,
}

/// A frame from a video source, stamped when it was captured.
#[derive(Clone, Debug)]
pub struct VideoFrame {
    /// The picture.
    pub picture: I420Frame,
    /// Capture time, milliseconds since the Unix epoch.
    pub captured_ms: u64,
}

/// 20 ms of 48 kHz mono audio: the unit every audio source yields and Opus encodes.
pub const SAMPLE_RATE: u32 = 48_000;
/// Samples in one 20 ms frame at 48 kHz.
pub const SAMPLES_PER_FRAME: usize = 960;

/// One 20 ms frame of 48 kHz mono signed 16-bit audio.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AudioFrame {
    /// Exactly [`SAMPLES_PER_FRAME`] samples.
    pub samples: Vec<i16>,
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl I420Frame {
    /// A frame of the given size with every plane zero, to be filled in.
    pub fn zeroed(width: usize, height: usize) -> I420Frame {
        I420Frame::filled(width, height, 0, 0)
    }

    /// A black frame.
    pub fn black(width: usize, height: usize) -> I420Frame {
        I420Frame::filled(width, height, 16, 128)
    }

    fn filled(width: usize, height: usize, luma: u8, chroma: u8) -> I420Frame {
        let (cw, ch) = chroma_size(width, height);
        I420Frame {
            width,
            height,
            y: vec![luma; width * height],
            u: vec![chroma; cw * ch],
            v: vec![chroma; cw * ch],
        }
    }

    /// Width of the chroma planes.
    pub fn chroma_width(&self) -> usize {
        self.width.div_ceil(2)
    }

    /// Height of the chroma planes.
    pub fn chroma_height(&self) -> usize {
        self.height.div_ceil(2)
    }

    /// Converts packed RGB to I420, averaging each 2x2 block's chroma.
    pub fn from_rgb(rgb: &RgbFrame) -> I420Frame {
        let (w, h) = (rgb.width, rgb.height);
        let (cw, ch) = chroma_size(w, h);
        let mut out = I420Frame::zeroed(w, h);
        for row in 0..h {
            let src = &rgb.data[row * w * 3..(row + 1) * w * 3];
            let dst = &mut out.y[row * w..(row + 1) * w];
            for (x, px) in src.chunks_exact(3).enumerate() {
                dst[x] = luma(px[0], px[1], px[2]);
            }
        }
        for cy in 0..ch {
            for cx in 0..cw {
                let (mut r, mut g, mut b, mut n) = (0u32, 0u32, 0u32, 0u32);
                for dy in 0..2 {
                    for dx in 0..2 {
                        let (x, y) = (cx * 2 + dx, cy * 2 + dy);
                        if x < w && y < h {
                            let i = (y * w + x) * 3;
                            r += rgb.data[i] as u32;
                            g += rgb.data[i + 1] as u32;
                            b += rgb.data[i + 2] as u32;
                            n += 1;
                        }
                    }
                }
                let (r, g, b) = ((r / n) as i32, (g / n) as i32, (b / n) as i32);
                out.u[cy * cw + cx] = clamp_u8(((-38 * r - 74 * g + 112 * b + 128) >> 8) + 128);
                out.v[cy * cw + cx] = clamp_u8(((112 * r - 94 * g - 18 * b + 128) >> 8) + 128);
            }
        }
        out
    }

    /// Converts to packed RGB.
    pub fn to_rgb(&self) -> RgbFrame {
        let (w, h) = (self.width, self.height);
        let cw = self.chroma_width();
        let mut data = vec![0u8; w * h * 3];
        for y in 0..h {
            let yrow = &self.y[y * w..(y + 1) * w];
            let crow = (y / 2) * cw;
            let out = &mut data[y * w * 3..(y + 1) * w * 3];
            for x in 0..w {
                let c = crow + x / 2;
                let (r, g, b) = yuv_to_rgb(yrow[x], self.u[c], self.v[c]);
                out[x * 3] = r;
                out[x * 3 + 1] = g;
                out[x * 3 + 2] = b;
            }
        }
        RgbFrame {
            width: w,
            height: h,
            data,
        }
    }

    /// Scales to fit within `max_w` x `max_h` keeping the aspect ratio (even sizes, never
    /// larger than the original), by area averaging.
    pub fn fit_within(&self, max_w: usize, max_h: usize) -> I420Frame {
        if self.width <= max_w && self.height <= max_h {
            return self.clone();
        }
        let scale = (max_w as f64 / self.width as f64).min(max_h as f64 / self.height as f64);
        let w = (((self.width as f64 * scale) as usize) & !1).max(2);
        let h = (((self.height as f64 * scale) as usize) & !1).max(2);
        let (cw, ch) = chroma_size(w, h);
        I420Frame {
            width: w,
            height: h,
            y: scale_plane(&self.y, self.width, self.height, w, h),
            u: scale_plane(&self.u, self.chroma_width(), self.chroma_height(), cw, ch),
            v: scale_plane(&self.v, self.chroma_width(), self.chroma_height(), cw, ch),
        }
    }
}

impl RgbFrame {
    /// A frame of one colour.
    pub fn solid(width: usize, height: usize, rgb: [u8; 3]) -> RgbFrame {
        RgbFrame {
            width,
            height,
            data: rgb
                .iter()
                .copied()
                .cycle()
                .take(width * height * 3)
                .collect(),
        }
    }

    /// The pixel at (x, y).
    pub fn pixel(&self, x: usize, y: usize) -> [u8; 3] {
        let i = (y * self.width + x) * 3;
        [self.data[i], self.data[i + 1], self.data[i + 2]]
    }
}

/// Chroma plane size for a picture size.
pub fn chroma_size(width: usize, height: usize) -> (usize, usize) {
    (width.div_ceil(2), height.div_ceil(2))
}

fn clamp_u8(v: i32) -> u8 {
    v.clamp(0, 255) as u8
}

/// BT.601 limited-range luma of an RGB colour.
pub fn luma(r: u8, g: u8, b: u8) -> u8 {
    let (r, g, b) = (r as i32, g as i32, b as i32);
    clamp_u8(((66 * r + 129 * g + 25 * b + 128) >> 8) + 16)
}

/// BT.601 limited-range YUV to RGB.
pub fn yuv_to_rgb(y: u8, u: u8, v: u8) -> (u8, u8, u8) {
    let c = (y as i32 - 16) * 298;
    let d = u as i32 - 128;
    let e = v as i32 - 128;
    (
        clamp_u8((c + 409 * e + 128) >> 8),
        clamp_u8((c - 100 * d - 208 * e + 128) >> 8),
        clamp_u8((c + 516 * d + 128) >> 8),
    )
}

/// Area-averaging resize of one 8-bit plane.
pub fn scale_plane(src: &[u8], sw: usize, sh: usize, dw: usize, dh: usize) -> Vec<u8> {
    let mut out = vec![0u8; dw * dh];
    if sw == 0 || sh == 0 || dw == 0 || dh == 0 {
        return out;
    }
    let xs: Vec<(usize, usize)> = (0..dw)
        .map(|x| {
            let a = x * sw / dw;
            (a, ((x + 1) * sw / dw).max(a + 1).min(sw))
        })
        .collect();
    for y in 0..dh {
        let y0 = y * sh / dh;
        let y1 = ((y + 1) * sh / dh).max(y0 + 1).min(sh);
        for (x, &(x0, x1)) in xs.iter().enumerate() {
            let mut sum = 0u32;
            for row in y0..y1 {
                sum += src[row * sw + x0..row * sw + x1]
                    .iter()
                    .map(|&p| p as u32)
                    .sum::<u32>();
            }
            let n = ((y1 - y0) * (x1 - x0)) as u32;
            out[y * dw + x] = ((sum + n / 2) / n) as u8;
        }
    }
    out
}

/// Peak signal-to-noise ratio between two equal-length 8-bit buffers, dB (99 when identical).
pub fn psnr(a: &[u8], b: &[u8]) -> f64 {
    let n = a.len().min(b.len());
    if n == 0 {
        return 0.0;
    }
    let mse = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| {
            let d = x as f64 - y as f64;
            d * d
        })
        .sum::<f64>()
        / n as f64;
    if mse == 0.0 {
        99.0
    } else {
        10.0 * (255.0 * 255.0 / mse).log10()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rgb_round_trip_is_close() {
        let mut rgb = RgbFrame::solid(6, 4, [0, 0, 0]);
        for (i, px) in rgb.data.chunks_exact_mut(3).enumerate() {
            px.copy_from_slice(&[(i * 40 % 256) as u8, 120, 200]);
        }
        // Make each 2x2 block one colour so chroma subsampling loses nothing.
        let mut blocky = rgb.clone();
        for y in 0..4 {
            for x in 0..6 {
                let p = rgb.pixel(x & !1, y & !1);
                let i = (y * 6 + x) * 3;
                blocky.data[i..i + 3].copy_from_slice(&p);
            }
        }
        let back = I420Frame::from_rgb(&blocky).to_rgb();
        for (a, b) in blocky.data.iter().zip(&back.data) {
            assert!((*a as i32 - *b as i32).abs() <= 3, "{a} vs {b}");
        }
    }

    #[test]
    fn odd_sizes_do_not_panic() {
        let f = I420Frame::from_rgb(&RgbFrame::solid(3, 5, [255, 0, 0]));
        assert_eq!((f.chroma_width(), f.chroma_height()), (2, 3));
        let back = f.to_rgb();
        assert!(back.pixel(2, 4)[0] > 200);
        let small = f.fit_within(2, 2);
        assert_eq!((small.width, small.height), (2, 2));
    }

    #[test]
    fn fit_within_keeps_aspect() {
        let f = I420Frame::black(1920, 1080).fit_within(1280, 720);
        assert_eq!((f.width, f.height), (1280, 720));
        let f = I420Frame::black(1000, 1000).fit_within(1280, 720);
        assert_eq!((f.width, f.height), (720, 720));
    }

    #[test]
    fn psnr_values() {
        assert_eq!(psnr(&[1, 2, 3], &[1, 2, 3]), 99.0);
        let p = psnr(&[0; 100], &[10; 100]);
        assert!((p - 28.13).abs() < 0.1, "{p}");
    }
}
