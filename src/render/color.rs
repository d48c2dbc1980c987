//! Colour depth: what the terminal can show, and mapping 24-bit colour down to it.

use ratatui::style::Color;

/// How many colours the terminal shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColorMode {
    /// 24-bit colour (`COLORTERM=truecolor`).
    TrueColor,
    /// The xterm 256-colour palette.
    Ansi256,
    /// The 16 ANSI colours.
    Ansi16,
    /// No colour at all (`NO_COLOR`): video is drawn with shade characters.
    Mono,
}

impl ColorMode {
    /// Chooses from the environment: `NO_COLOR` set gives mono, `COLORTERM` of `truecolor`
    /// or `24bit` gives truecolor, a `TERM` naming 256 colours gives 256, anything else 16.
    pub fn detect(env: impl Fn(&str) -> Option<String>) -> ColorMode {
        if env("NO_COLOR").is_some_and(|v| !v.is_empty()) {
            return ColorMode::Mono;
        }
        let colorterm = env("COLORTERM").unwrap_or_default().to_ascii_lowercase();
        if colorterm == "truecolor" || colorterm == "24bit" {
            return ColorMode::TrueColor;
        }
        let term = env("TERM").unwrap_or_default();
        if term.contains("direct") {
            ColorMode::TrueColor
        } else if term.contains("256") {
            ColorMode::Ansi256
        } else {
            ColorMode::Ansi16
        }
    }

    /// The mode this process's environment asks for.
    pub fn from_env() -> ColorMode {
        ColorMode::detect(|k| std::env::var(k).ok())
    }

    /// The mode in words: "24-bit colour", "256 colours", "16 colours", "no colour".
    pub fn describe(self) -> &'static str {
        match self {
            ColorMode::TrueColor => "24-bit colour",
            ColorMode::Ansi256 => "256 colours",
            ColorMode::Ansi16 => "16 colours",
            ColorMode::Mono => "no colour",
        }
    }

    /// Whether [`ColorMode::lower`] has a step to take (16 colours is the floor).
    pub fn has_lower(self) -> bool {
        matches!(self, ColorMode::TrueColor | ColorMode::Ansi256)
    }

    /// One step less colour, for the terminal byte budget.
    pub fn lower(self) -> ColorMode {
        match self {
            ColorMode::TrueColor => ColorMode::Ansi256,
            ColorMode::Ansi256 | ColorMode::Ansi16 => ColorMode::Ansi16,
            ColorMode::Mono => ColorMode::Mono,
        }
    }

    /// The colour as this mode shows it.
    pub fn color(self, rgb: [u8; 3]) -> Color {
        match self {
            ColorMode::TrueColor => Color::Rgb(rgb[0], rgb[1], rgb[2]),
            ColorMode::Ansi256 => Color::Indexed(nearest_256(rgb)),
            ColorMode::Ansi16 => ANSI16[nearest_16(rgb)].0,
            ColorMode::Mono => Color::Reset,
        }
    }

    /// The 24-bit colour the terminal actually shows for `rgb` in this mode (for measuring
    /// what the quantisation loses).
    pub fn shown(self, rgb: [u8; 3]) -> [u8; 3] {
        match self {
            ColorMode::TrueColor => rgb,
            ColorMode::Ansi256 => palette_256(nearest_256(rgb)),
            ColorMode::Ansi16 => ANSI16[nearest_16(rgb)].1,
            ColorMode::Mono => {
                let l = luminance(rgb);
                [l, l, l]
            }
        }
    }
}

impl std::str::FromStr for ColorMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "truecolor" | "24bit" | "rgb" => Ok(ColorMode::TrueColor),
            "256" => Ok(ColorMode::Ansi256),
            "16" => Ok(ColorMode::Ansi16),
            "mono" | "none" => Ok(ColorMode::Mono),
            other => Err(format!(
                "{other:?} is not a colour mode; use truecolor, 256, 16 or mono"
            )),
        }
    }
}

/// Perceived brightness, 0 to 255.
pub fn luminance(rgb: [u8; 3]) -> u8 {
    ((rgb[0] as u32 * 299 + rgb[1] as u32 * 587 + rgb[2] as u32 * 114) / 1000) as u8
}

/// The six levels of each channel in the xterm colour cube.
const CUBE: [u8; 6] = [0, 95, 135, 175, 215, 255];

fn cube_index(v: u8) -> usize {
    // Midpoints between the cube levels.
    match v {
        0..=47 => 0,
        48..=114 => 1,
        115..=154 => 2,
        155..=194 => 3,
        195..=234 => 4,
        _ => 5,
    }
}

fn dist2(a: [u8; 3], b: [u8; 3]) -> u32 {
    let d = |x: u8, y: u8| (x as i32 - y as i32).pow(2) as u32;
    // Weighted towards green, as the eye is.
    2 * d(a[0], b[0]) + 4 * d(a[1], b[1]) + 3 * d(a[2], b[2])
}

/// The xterm-256 index nearest to `rgb`: the best of the colour cube and the grey ramp.
pub fn nearest_256(rgb: [u8; 3]) -> u8 {
    let (r, g, b) = (cube_index(rgb[0]), cube_index(rgb[1]), cube_index(rgb[2]));
    let cube = [CUBE[r], CUBE[g], CUBE[b]];
    let cube_idx = (16 + 36 * r + 6 * g + b) as u8;
    let avg = (rgb[0] as u32 + rgb[1] as u32 + rgb[2] as u32) / 3;
    let grey_step = if avg < 8 { 0 } else { ((avg - 8) / 10).min(23) };
    let grey = (8 + 10 * grey_step) as u8;
    if dist2(rgb, [grey; 3]) < dist2(rgb, cube) {
        232 + grey_step as u8
    } else {
        cube_idx
    }
}

/// The colour of xterm-256 index `i` (16 and up; the first 16 as in [`ANSI16`]).
pub fn palette_256(i: u8) -> [u8; 3] {
    match i {
        0..=15 => ANSI16[i as usize].1,
        16..=231 => {
            let n = (i - 16) as usize;
            [CUBE[n / 36], CUBE[(n / 6) % 6], CUBE[n % 6]]
        }
        _ => {
            let g = 8 + 10 * (i - 232);
            [g, g, g]
        }
    }
}

/// The 16 ANSI colours with the xterm default palette's values.
pub const ANSI16: [(Color, [u8; 3]); 16] = [
    (Color::Black, [0, 0, 0]),
    (Color::Red, [205, 0, 0]),
    (Color::Green, [0, 205, 0]),
    (Color::Yellow, [205, 205, 0]),
    (Color::Blue, [0, 0, 238]),
    (Color::Magenta, [205, 0, 205]),
    (Color::Cyan, [0, 205, 205]),
    (Color::Gray, [229, 229, 229]),
    (Color::DarkGray, [127, 127, 127]),
    (Color::LightRed, [255, 0, 0]),
    (Color::LightGreen, [0, 255, 0]),
    (Color::LightYellow, [255, 255, 0]),
    (Color::LightBlue, [92, 92, 255]),
    (Color::LightMagenta, [255, 0, 255]),
    (Color::LightCyan, [0, 255, 255]),
    (Color::White, [255, 255, 255]),
];

/// Index into [`ANSI16`] of the colour nearest to `rgb`.
pub fn nearest_16(rgb: [u8; 3]) -> usize {
    (0..16)
        .min_by_key(|&i| dist2(rgb, ANSI16[i].1))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_env as env;

    #[test]
    fn detection() {
        assert_eq!(
            ColorMode::detect(env(&[("COLORTERM", "truecolor")])),
            ColorMode::TrueColor
        );
        assert_eq!(
            ColorMode::detect(env(&[("COLORTERM", "24bit"), ("TERM", "xterm")])),
            ColorMode::TrueColor
        );
        assert_eq!(
            ColorMode::detect(env(&[("TERM", "xterm-256color")])),
            ColorMode::Ansi256
        );
        assert_eq!(
            ColorMode::detect(env(&[("TERM", "screen")])),
            ColorMode::Ansi16
        );
        assert_eq!(ColorMode::detect(env::<&str>(&[])), ColorMode::Ansi16);
        assert_eq!(
            ColorMode::detect(env(&[("NO_COLOR", "1"), ("COLORTERM", "truecolor")])),
            ColorMode::Mono
        );
        assert_eq!("256".parse::<ColorMode>(), Ok(ColorMode::Ansi256));
        assert!("lots".parse::<ColorMode>().is_err());
    }

    #[test]
    fn palette_mapping() {
        assert_eq!(nearest_256([255, 0, 0]), 196);
        assert_eq!(nearest_256([0, 0, 0]), 16);
        assert_eq!(nearest_256([128, 128, 128]), 244);
        assert_eq!(palette_256(196), [255, 0, 0]);
        assert_eq!(palette_256(232), [8, 8, 8]);
        assert_eq!(ANSI16[nearest_16([250, 10, 10])].0, Color::LightRed);
        assert_eq!(ANSI16[nearest_16([10, 10, 10])].0, Color::Black);
        for i in 16..=255u8 {
            assert_eq!(
                nearest_256(palette_256(i)),
                i,
                "index {i} maps back to itself"
            );
        }
    }
}
