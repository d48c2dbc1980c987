//! The terminal driver: keys from the terminal become [`Action`]s, the app's [`Effect`]s go
//! to the mesh, and the screen is drawn on a render tick (at most 30 a second, fewer when
//! `--max-tty-kbps` says so). The terminal is restored on every way out: `q`, Ctrl-C, a
//! panic, a lost server.

use std::io::IsTerminal;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::app::App;
use crate::call::mesh::Mesh;
use crate::render::ColorMode;
use crate::ttylink::{Pacing, TtyLink};
use anyhow::Context;
use crossterm::event;
use crossterm::{cursor, execute, terminal};

mod driver;
mod keys;

/// How the screen is drawn.
#[derive(Clone, Debug)]
pub struct DrawOptions {
    /// Colour depth.
    pub colors: ColorMode,
    /// Colour tolerance.
    pub tolerance: u8,
    /// Characters video is drawn with.
    pub cells: crate::render::CellKind,
    /// Terminal byte budget, kbit/s.
    pub max_tty_kbps: Option<u64>,
    /// Desktop notifications besides the bell (`notify = true` in the config).
    pub notify: bool,
    /// Ask the terminal whether it takes 24-bit colour (nothing in the environment said, and
    /// `--colors` was not given): SSH does not pass `COLORTERM`.
    pub ask_colors: bool,
}

/// The local time zone's offset from UTC now, in seconds (0, UTC, when the system's time
/// zone cannot be read).
pub fn local_utc_offset() -> i64 {
    i64::from(
        jiff::tz::TimeZone::system()
            .to_offset(jiff::Timestamp::now())
            .seconds(),
    )
}

/// How long the terminal may take to answer the colour query before 256 colours stand.
const COLOR_QUERY_WAIT: Duration = Duration::from_millis(500);

/// Asks the terminal (XTGETTCAP) whether it knows the `RGB` or `Tc` capability, with a
/// device-attributes request behind it, which every terminal answers, to know when to stop
/// listening. No answer within `wait` is a no. Run before the key reader starts: it reads
/// standard input itself.
fn ask_truecolor(wait: Duration) -> bool {
    use std::io::Write;
    let mut out = std::io::stdout();
    if out
        .write_all(b"\x1bP+q524742;5463\x1b\\\x1b[c")
        .and_then(|_| out.flush())
        .is_err()
    {
        return false;
    }
    let deadline = Instant::now() + wait;
    let mut got = Vec::new();
    while !answered_attributes(&got) {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        let Ok(timeout) = rustix::event::Timespec::try_from(left) else {
            break;
        };
        let stdin = std::io::stdin();
        let mut fds = [rustix::event::PollFd::new(
            &stdin,
            rustix::event::PollFlags::IN,
        )];
        if !matches!(rustix::event::poll(&mut fds, Some(&timeout)), Ok(n) if n > 0) {
            break;
        }
        let mut buf = [0u8; 256];
        let n = match rustix::io::read(&stdin, &mut buf) {
            Ok(n) if n > 0 => n,
            _ => break,
        };
        got.extend_from_slice(&buf[..n]);
    }
    says_truecolor(&got)
}

/// Whether the terminal's answers hold a device-attributes reply (`ESC [ ? … c`).
fn answered_attributes(bytes: &[u8]) -> bool {
    bytes.windows(3).enumerate().any(|(i, w)| {
        w == b"\x1b[?"
            && bytes[i + 3..]
                .iter()
                .find(|b| !(b.is_ascii_digit() || **b == b';'))
                == Some(&b'c')
    })
}

/// Whether the answers hold a successful XTGETTCAP reply (`ESC P 1 + r`): the terminal knows
/// `RGB` or `Tc`, that is, 24-bit colour.
pub fn says_truecolor(bytes: &[u8]) -> bool {
    bytes.windows(5).any(|w| w == b"\x1bP1+r")
}

/// Rings the terminal bell and, with `desktop`, asks the terminal for a desktop notification:
/// OSC 777 where the terminal is known to take it (VTE, foot, rxvt), OSC 9 elsewhere.
/// `title` and `body` come from other people: only printable text reaches the terminal.
fn ring(title: &str, body: &str, desktop: bool) -> Vec<u8> {
    let clean = |t: &str| -> String {
        crate::text::safe(t)
            .chars()
            .filter(|c| *c != ';' && !c.is_control())
            .take(200)
            .collect()
    };
    let mut out = b"\x07".to_vec();
    if desktop {
        let term = std::env::var("TERM").unwrap_or_default();
        let osc777 = std::env::var_os("VTE_VERSION").is_some()
            || term.contains("foot")
            || term.contains("rxvt");
        let sequence = if osc777 {
            format!("\x1b]777;notify;{};{}\x1b\\", clean(title), clean(body))
        } else {
            format!("\x1b]9;{}: {}\x1b\\", clean(title), clean(body))
        };
        out.extend_from_slice(sequence.as_bytes());
    }
    out
}

/// The last second of drawing: bytes written and video frames drawn, logged and shown.
struct Window {
    start: Instant,
    written: u64,
    frames: u32,
}

impl Window {
    fn new(link: &TtyLink) -> Window {
        Window {
            start: Instant::now(),
            written: link.written.load(Ordering::Relaxed),
            frames: 0,
        }
    }

    /// Once a second: (bytes a second written, video frames a second drawn).
    fn roll(&mut self, link: &TtyLink, pacing: &Pacing, mode: ColorMode) -> Option<(u64, f64)> {
        let secs = self.start.elapsed().as_secs_f64();
        if secs < 1.0 {
            return None;
        }
        let written = link.written.load(Ordering::Relaxed);
        let rate = ((written - self.written) as f64 / secs) as u64;
        let fps = f64::from(self.frames) / secs;
        tracing::info!(
            target: "termmeet::tty",
            "terminal: wrote {} bytes in {secs:.2}s; drains ~{:.0} B/s; frame budget {:?} B; {fps:.1} fps; {mode:?}",
            written - self.written,
            pacing.rate.unwrap_or(0.0),
            pacing.budget()
        );
        *self = Window {
            start: Instant::now(),
            written,
            frames: 0,
        };
        Some((rate, fps))
    }
}

/// Whether we asked the terminal for key-release events (and must ask it to stop).
static KEYBOARD_ENHANCED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Puts the terminal back as it was.
pub fn restore_terminal() {
    if KEYBOARD_ENHANCED.swap(false, std::sync::atomic::Ordering::Relaxed) {
        let _ = execute!(std::io::stdout(), event::PopKeyboardEnhancementFlags);
    }
    let _ = execute!(std::io::stdout(), event::DisableFocusChange);
    let _ = terminal::disable_raw_mode();
    let _ = execute!(
        std::io::stdout(),
        terminal::LeaveAlternateScreen,
        cursor::Show
    );
}

/// Runs the meeting UI until the user leaves.
pub async fn run(
    mut app: App,
    mesh: Mesh,
    mut draw: DrawOptions,
    notices: Vec<String>,
) -> anyhow::Result<()> {
    if !std::io::stdout().is_terminal() {
        anyhow::bail!("the output is not a terminal; run termmeet in a terminal, or use `termmeet headless` for scripts");
    }
    app.utc_offset_secs = local_utc_offset();
    terminal::enable_raw_mode().context("cannot put the terminal in raw mode")?;
    execute!(
        std::io::stdout(),
        terminal::EnterAlternateScreen,
        cursor::Hide
    )?;
    if draw.ask_colors && draw.colors == ColorMode::Ansi256 && ask_truecolor(COLOR_QUERY_WAIT) {
        tracing::info!("the terminal says it takes 24-bit colour");
        draw.colors = ColorMode::TrueColor;
    }
    // Focus events, so the bell rings only when the person is elsewhere.
    let _ = execute!(std::io::stdout(), event::EnableFocusChange);
    // Key-release events where the terminal has them (kitty's keyboard protocol), for
    // push-to-talk; elsewhere space's key repeats stand in.
    if terminal::supports_keyboard_enhancement().unwrap_or(false) {
        let flags = event::KeyboardEnhancementFlags::REPORT_EVENT_TYPES;
        if execute!(
            std::io::stdout(),
            event::PushKeyboardEnhancementFlags(flags)
        )
        .is_ok()
        {
            app.ptt = crate::app::PushToTalk::Release;
            KEYBOARD_ENHANCED.store(true, std::sync::atomic::Ordering::Relaxed);
        }
    }
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore_terminal();
        default_hook(info);
    }));
    let result = driver::drive(&mut app, &mesh, &draw, notices).await;
    restore_terminal();
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_answers_are_read_for_colour() {
        let yes = b"\x1bP1+r524742=382F382F38\x1b\\\x1b[?62;22c";
        assert!(says_truecolor(yes));
        assert!(answered_attributes(yes));
        let no = b"\x1bP0+r\x1b\\\x1b[?62;22c";
        assert!(!says_truecolor(no));
        assert!(answered_attributes(no));
        assert!(!answered_attributes(b"\x1b[?62;2"), "not yet complete");
        assert!(
            !answered_attributes(b"\x1b[12;4R"),
            "a cursor position is not it"
        );
    }
}
