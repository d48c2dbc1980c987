//! What the terminal can draw, asked of the terminal itself: 24-bit colour (XTGETTCAP
//! `RGB`/`Tc`), kitty's graphics protocol (a query image, `a=q`), sixel (attribute 4 in its
//! primary device attributes) and its cell size in pixels (`CSI 16 t`). The questions end
//! with a device-attributes request, which every terminal answers, so listening stops as
//! soon as the answers are in. Inside tmux, kitty's query goes through tmux's passthrough,
//! and what answers DA1 is tmux itself, so the answers say what tmux lets through.
//!
//! Parsing is pure and tested on the answers real terminals give; [`ask`] does the I/O and
//! must run before the key reader starts, as it reads standard input itself.

use std::time::{Duration, Instant};

/// How the picture reaches the terminal.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Graphics {
    /// Ask the terminal, and draw pixels when it says it can.
    #[default]
    Auto,
    /// As cells of text (see `--cells`).
    Off,
    /// As sixel pixels.
    Sixel,
    /// As pixels by kitty's graphics protocol.
    Kitty,
}

impl std::str::FromStr for Graphics {
    type Err = String;

    fn from_str(text: &str) -> Result<Graphics, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(Graphics::Auto),
            "off" | "none" | "cells" => Ok(Graphics::Off),
            "sixel" => Ok(Graphics::Sixel),
            "kitty" => Ok(Graphics::Kitty),
            _ => Err(format!(
                "{text:?} is not a graphics mode; use auto, kitty, sixel or off"
            )),
        }
    }
}

impl std::fmt::Display for Graphics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Graphics::Auto => "auto",
            Graphics::Off => "cells",
            Graphics::Sixel => "sixel",
            Graphics::Kitty => "kitty",
        })
    }
}

/// The id of kitty's query image; its answer carries it back.
const KITTY_QUERY_ID: u32 = 31;

/// What to ask.
#[derive(Clone, Copy, Debug, Default)]
pub struct Questions {
    /// Whether it takes 24-bit colour.
    pub truecolor: bool,
    /// Which graphics protocols it speaks, and its cell size.
    pub graphics: bool,
    /// Whether the terminal is tmux, so kitty's query is wrapped for its passthrough.
    pub tmux: bool,
}

impl Questions {
    /// The bytes that ask, the device-attributes request last.
    pub fn bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        if self.truecolor {
            out.extend_from_slice(b"\x1bP+q524742;5463\x1b\\");
        }
        if self.graphics {
            let kitty = format!("\x1b_Gi={KITTY_QUERY_ID},s=1,v=1,a=q,t=d,f=24;AAAA\x1b\\");
            if self.tmux {
                out.extend_from_slice(&tmux_passthrough(kitty.as_bytes()));
            } else {
                out.extend_from_slice(kitty.as_bytes());
            }
            out.extend_from_slice(b"\x1b[16t");
        }
        out.extend_from_slice(b"\x1b[c");
        out
    }
}

/// `sequence` wrapped for tmux to pass to the terminal it runs in (with `allow-passthrough`
/// on; otherwise tmux drops it): a DCS `tmux;` with every escape doubled.
pub fn tmux_passthrough(sequence: &[u8]) -> Vec<u8> {
    let mut out = b"\x1bPtmux;".to_vec();
    for &b in sequence {
        if b == 0x1b {
            out.push(0x1b);
        }
        out.push(b);
    }
    out.extend_from_slice(b"\x1b\\");
    out
}

/// Whether this process runs inside tmux.
pub fn in_tmux() -> bool {
    std::env::var_os("TMUX").is_some_and(|v| !v.is_empty())
}

/// What the terminal answered, as it came (keys typed meanwhile may be mixed in).
#[derive(Clone, Debug, Default)]
pub struct Answers(pub Vec<u8>);

impl Answers {
    /// The attributes of the primary device-attributes reply (`ESC [ ? 62 ; 4 ; 22 c`), once
    /// it has come whole.
    pub fn attributes(&self) -> Option<Vec<u16>> {
        let bytes = &self.0;
        (0..bytes.len()).find_map(|i| {
            let rest = bytes[i..].strip_prefix(b"\x1b[?")?;
            let end = rest
                .iter()
                .position(|b| !(b.is_ascii_digit() || *b == b';'))?;
            (rest[end] == b'c').then(|| {
                String::from_utf8_lossy(&rest[..end])
                    .split(';')
                    .filter_map(|a| a.parse().ok())
                    .collect()
            })
        })
    }

    /// Whether every answer is in (the device attributes come last).
    pub fn complete(&self) -> bool {
        self.attributes().is_some()
    }

    /// Whether it knows `RGB` or `Tc` (a successful XTGETTCAP reply), that is, 24-bit colour.
    pub fn truecolor(&self) -> bool {
        self.0.windows(5).any(|w| w == b"\x1bP1+r")
    }

    /// Whether its device attributes list sixel graphics (attribute 4).
    pub fn sixel(&self) -> bool {
        self.attributes().is_some_and(|a| a.contains(&4))
    }

    /// Whether it answered kitty's query image with OK.
    pub fn kitty(&self) -> bool {
        let ok = format!("\x1b_Gi={KITTY_QUERY_ID};OK");
        self.0.windows(ok.len()).any(|w| w == ok.as_bytes())
    }

    /// Its cell size in pixels, width and height (`ESC [ 6 ; HEIGHT ; WIDTH t`).
    pub fn cell_pixels(&self) -> Option<(usize, usize)> {
        let bytes = &self.0;
        (0..bytes.len()).find_map(|i| {
            let rest = bytes[i..].strip_prefix(b"\x1b[6;")?;
            let end = rest.iter().position(|&b| b == b't')?;
            let text = std::str::from_utf8(&rest[..end]).ok()?;
            let (h, w) = text.split_once(';')?;
            let (h, w): (usize, usize) = (h.parse().ok()?, w.parse().ok()?);
            (1..=200).contains(&w).then_some(())?;
            (1..=400).contains(&h).then_some((w, h))
        })
    }

    /// The graphics `auto` becomes, and why, in words for the status line and `--stats`.
    pub fn choose(&self, tmux: bool) -> (Graphics, String) {
        if !self.complete() {
            return (
                Graphics::Off,
                "cells: the terminal did not answer its device attributes".into(),
            );
        }
        let kitty = self.kitty();
        if kitty && !tmux {
            return (
                Graphics::Kitty,
                "kitty: the terminal answered kitty's graphics query".into(),
            );
        }
        if self.sixel() {
            let who = if tmux { "tmux" } else { "the terminal" };
            return (
                Graphics::Sixel,
                format!("sixel: {who} lists sixel in its device attributes"),
            );
        }
        if kitty {
            return (
                Graphics::Off,
                "cells: kitty's graphics come through tmux's passthrough, but tmux would not keep the pictures in place (--graphics kitty to try)".into(),
            );
        }
        let who = if tmux {
            "tmux lets neither kitty's graphics nor sixel through"
        } else {
            "the terminal speaks neither kitty's graphics nor sixel"
        };
        (Graphics::Off, format!("cells: {who}"))
    }
}

/// A cell's size in pixels from the terminal's window size (`TIOCGWINSZ`), when it gives
/// pixels (xterm, kitty, foot and most others do).
pub fn window_cell_pixels() -> Option<(usize, usize)> {
    let s = crossterm::terminal::window_size().ok()?;
    if s.columns == 0 || s.rows == 0 || s.width < s.columns || s.height < s.rows {
        return None;
    }
    let (w, h) = (
        usize::from(s.width / s.columns),
        usize::from(s.height / s.rows),
    );
    ((1..=200).contains(&w) && (1..=400).contains(&h)).then_some((w, h))
}

/// How long a terminal may take to answer: over SSH, a round trip or two.
pub const ANSWER_WAIT: Duration = Duration::from_millis(800);

/// Asks the terminal on standard output and listens on standard input (in raw mode, which
/// the caller has set) until the device attributes come or `wait` has passed.
pub fn ask(questions: &Questions, wait: Duration) -> Answers {
    use std::io::Write;
    let mut out = std::io::stdout();
    let mut got = Answers::default();
    if out
        .write_all(&questions.bytes())
        .and_then(|_| out.flush())
        .is_err()
    {
        return got;
    }
    let deadline = Instant::now() + wait;
    while !got.complete() {
        let left = deadline.saturating_duration_since(Instant::now());
        match read_within(left) {
            Some(bytes) => got.0.extend(bytes),
            None => break,
        }
    }
    // An answer that comes after the device attributes (kitty's through tmux's passthrough,
    // after tmux's own DA1) must not reach the key reader as keys: take what follows until
    // the terminal has been quiet for a moment.
    let quiet_until = Instant::now() + Duration::from_millis(300);
    while Instant::now() < quiet_until {
        match read_within(Duration::from_millis(50)) {
            Some(bytes) => got.0.extend(bytes),
            None => break,
        }
    }
    got
}

/// What standard input has within `wait`, if anything.
fn read_within(wait: Duration) -> Option<Vec<u8>> {
    if wait.is_zero() {
        return None;
    }
    let timeout = rustix::event::Timespec::try_from(wait).ok()?;
    let stdin = std::io::stdin();
    let mut fds = [rustix::event::PollFd::new(
        &stdin,
        rustix::event::PollFlags::IN,
    )];
    if !matches!(rustix::event::poll(&mut fds, Some(&timeout)), Ok(n) if n > 0) {
        return None;
    }
    let mut buf = [0u8; 512];
    match rustix::io::read(&stdin, &mut buf) {
        Ok(n) if n > 0 => Some(buf[..n].to_vec()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answers(bytes: &[u8]) -> Answers {
        Answers(bytes.to_vec())
    }

    #[test]
    fn colour_answers() {
        let yes = answers(b"\x1bP1+r524742=382F382F38\x1b\\\x1b[?62;22c");
        assert!(yes.truecolor() && yes.complete());
        let no = answers(b"\x1bP0+r\x1b\\\x1b[?62;22c");
        assert!(!no.truecolor() && no.complete());
        assert!(!answers(b"\x1b[?62;2").complete(), "not yet whole");
        assert!(
            !answers(b"\x1b[12;4R").complete(),
            "a cursor position is not it"
        );
    }

    #[test]
    fn each_terminal_gets_what_it_can_draw() {
        // kitty: OK to the query, its cell size, DA1 without sixel.
        let kitty = answers(b"\x1b_Gi=31;OK\x1b\\\x1b[6;20;10t\x1b[?62;c");
        assert_eq!(kitty.choose(false).0, Graphics::Kitty);
        assert_eq!(kitty.cell_pixels(), Some((10, 20)));
        // xterm -ti vt340: no APC answer, sixel in DA1.
        let vt340 = answers(b"\x1b[6;17;8t\x1b[?63;1;2;4;6;9;15;16;22;28c");
        assert_eq!(vt340.choose(false).0, Graphics::Sixel);
        assert_eq!(vt340.cell_pixels(), Some((8, 17)));
        // A plain xterm, GNOME's VTE: neither.
        let vte = answers(b"\x1b[?65;1;9c");
        let (g, why) = vte.choose(false);
        assert_eq!(g, Graphics::Off);
        assert!(why.contains("neither"), "{why}");
        // WezTerm answers kitty's query and lists sixel too: kitty is the better of the two.
        let wez = answers(b"\x1b_Gi=31;OK\x1b\\\x1b[?65;4;6;18;22c");
        assert_eq!(wez.choose(false).0, Graphics::Kitty);
        // A terminal that refuses the query image.
        let refused = answers(b"\x1b_Gi=31;ENOTSUPPORTED:no\x1b\\\x1b[?62;22c");
        assert_eq!(refused.choose(false).0, Graphics::Off);
        // Nothing back at all.
        let (g, why) = answers(b"").choose(false);
        assert_eq!(g, Graphics::Off);
        assert!(why.contains("did not answer"), "{why}");
    }

    #[test]
    fn tmux_says_what_it_lets_through() {
        // tmux 3.3 answers DA1 itself, and drops the query without allow-passthrough.
        let (g, why) = answers(b"\x1b[?1;2c").choose(true);
        assert_eq!(g, Graphics::Off);
        assert!(why.contains("tmux lets neither"), "{why}");
        // tmux built with sixel draws sixel itself.
        assert_eq!(answers(b"\x1b[?1;2;4c").choose(true).0, Graphics::Sixel);
        // kitty behind passthrough answers, but its pictures would not stay in place.
        let (g, why) = answers(b"\x1b_Gi=31;OK\x1b\\\x1b[?1;2c").choose(true);
        assert_eq!(g, Graphics::Off);
        assert!(why.contains("passthrough"), "{why}");
    }

    #[test]
    fn keys_typed_meanwhile_do_not_confuse_it() {
        let mixed = answers(b"q\x1b[Ahello\x1b[6;x;9t\x1b[?62;4c\x1b_Gi=31;OK\x1b\\");
        assert!(mixed.sixel() && mixed.kitty());
        assert_eq!(mixed.cell_pixels(), None, "a broken size is no size");
        assert!(
            answers(b"\x1b[?;;c").complete(),
            "empty attributes still end it"
        );
    }

    #[test]
    fn questions_end_with_device_attributes_and_wrap_for_tmux() {
        let plain = Questions {
            truecolor: true,
            graphics: true,
            tmux: false,
        }
        .bytes();
        assert!(plain.starts_with(b"\x1bP+q"));
        assert!(plain.ends_with(b"\x1b[16t\x1b[c"));
        let wrapped = Questions {
            truecolor: false,
            graphics: true,
            tmux: true,
        }
        .bytes();
        assert!(wrapped.starts_with(b"\x1bPtmux;\x1b\x1b_Gi=31,"));
        assert!(
            wrapped.ends_with(b"AAAA\x1b\x1b\\\x1b\\\x1b[16t\x1b[c"),
            "{:?}",
            String::from_utf8_lossy(&wrapped)
        );
        assert_eq!(
            "Auto".parse::<Graphics>(),
            Ok(Graphics::Auto),
            "names in any case"
        );
        assert!("pixels".parse::<Graphics>().is_err());
    }
}
