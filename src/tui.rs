//! The terminal driver: keys from the terminal become [`Action`]s, the app's [`Effect`]s go
//! to the mesh, and the screen is drawn on a render tick (at most 30 a second, fewer when
//! `--max-tty-kbps` says so). The terminal is restored on every way out: `q`, Ctrl-C, a
//! panic, a lost server.

use std::io::IsTerminal;
use std::sync::atomic::Ordering;
use std::time::Instant;

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
    /// Video tiles as pixels (`Auto`: when the terminal says it draws them).
    pub graphics: crate::termcaps::Graphics,
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

/// Asks the terminal what it needs asking, in one go (a terminal at the far end of SSH
/// costs a round trip a question): 24-bit colour (SSH does not pass `COLORTERM`), when
/// nothing said, and the pixels `--graphics auto` may draw. Settles `draw.colors` and gives
/// the pixels (sixel or kitty) and the cell size in pixels they are drawn with, if any.
fn ask_terminal(draw: &mut DrawOptions) -> Option<(crate::termcaps::Graphics, (usize, usize))> {
    use crate::termcaps::{self, Graphics, Questions};
    let tmux = termcaps::in_tmux();
    let questions = Questions {
        truecolor: draw.ask_colors && draw.colors == ColorMode::Ansi256,
        // Forced pixels still need the cell size, where the window size has none.
        graphics: draw.graphics != Graphics::Off,
        tmux,
    };
    let answers = if questions.truecolor || questions.graphics {
        termcaps::ask(&questions, termcaps::ANSWER_WAIT)
    } else {
        termcaps::Answers::default()
    };
    if questions.truecolor && answers.truecolor() {
        tracing::info!("the terminal says it takes 24-bit colour");
        draw.colors = ColorMode::TrueColor;
    }
    let (graphics, why) = match draw.graphics {
        Graphics::Auto => answers.choose(tmux),
        Graphics::Off => (Graphics::Off, "cells: --graphics off".into()),
        given => (given, format!("{given}: --graphics {given}")),
    };
    // Pixels must fit the cells exactly: without the cell size, cells.
    let cell = crate::termcaps::window_cell_pixels().or(answers.cell_pixels());
    match (graphics, cell) {
        (Graphics::Sixel | Graphics::Kitty, Some(cell)) => {
            tracing::info!(
                "video tiles as pixels: {why}; cells of {}x{} pixels",
                cell.0,
                cell.1
            );
            Some((graphics, cell))
        }
        (Graphics::Sixel | Graphics::Kitty, None) => {
            tracing::info!("video tiles as cells: {why}, but the terminal says not its cell size");
            None
        }
        _ => {
            tracing::info!("video tiles as cells: {why}");
            None
        }
    }
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
    let pixels = ask_terminal(&mut draw);
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
    let result = driver::drive(&mut app, &mesh, &draw, pixels, notices).await;
    restore_terminal();
    result
}
