//! The terminal driver: keys from the terminal become [`Action`]s, the app's [`Effect`]s go
//! to the mesh, and the screen is drawn on a render tick (at most 30 a second, fewer when
//! `--max-tty-kbps` says so). The terminal is restored on every way out: `q`, Ctrl-C, a
//! panic, a lost server.

use std::io::IsTerminal;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::Context;
use crossterm::event::{self, Event};
use crossterm::{cursor, execute, terminal};
use ratatui::Terminal;
use tokio::sync::mpsc;

use crate::app::{Action, App, Effect, ProcessingView};
use crate::call::mesh::{Mesh, MeshState};
use crate::media::RgbFrame;
use crate::render::ColorMode;
use crate::term::LeanBackend;
use crate::ttylink::{frame_interval, Pacing, TtyLink};
use crate::ui::{self, VideoCache};

/// How the screen is drawn.
#[derive(Clone, Debug)]
pub struct DrawOptions {
    /// Colour depth.
    pub colors: ColorMode,
    /// Colour tolerance.
    pub tolerance: u8,
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

/// Puts the terminal back as it was.
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

/// Whether two optional pictures are the same one.
fn same_picture(
    a: &Option<std::sync::Arc<RgbFrame>>,
    b: &Option<std::sync::Arc<RgbFrame>>,
) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => std::sync::Arc::ptr_eq(a, b),
        (None, None) => true,
        _ => false,
    }
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
    let result = drive(&mut app, &mesh, &draw, notices).await;
    restore_terminal();
    result
}

async fn drive(
    app: &mut App,
    mesh: &Mesh,
    draw: &DrawOptions,
    notices: Vec<String>,
) -> anyhow::Result<()> {
    // Frames go out through a writer thread that times each one (see `ttylink`).
    let link = TtyLink::start()?;
    let mut terminal = Terminal::new(LeanBackend::new(link.writer()))?;
    terminal.clear()?;
    let (tx, mut rx) = mpsc::unbounded_channel::<Action>();
    let devices_tx = tx.clone();
    // Keys come from a blocking reader thread; it ends when the channel closes.
    std::thread::Builder::new()
        .name("keys".into())
        .spawn(move || loop {
            // Short polls: the writer thread's position requests (see `ttylink`) share
            // crossterm's reader with us and wait for it between our polls.
            match event::poll(Duration::from_millis(10)) {
                Ok(true) => {
                    let action = match event::read() {
                        Ok(Event::Key(k))
                            if k.code == event::KeyCode::Char(' ') && k.modifiers.is_empty() =>
                        {
                            Action::Space {
                                down: k.kind != event::KeyEventKind::Release,
                                at: Instant::now(),
                            }
                        }
                        Ok(Event::Key(k)) => Action::Key(k),
                        Ok(Event::FocusGained) => Action::Focus(true),
                        Ok(Event::FocusLost) => Action::Focus(false),
                        Ok(Event::Resize(w, h)) => Action::Resize(w, h),
                        Ok(_) => continue,
                        Err(_) => return,
                    };
                    if tx.send(action).is_err() {
                        return;
                    }
                }
                Ok(false) => {
                    if tx.is_closed() {
                        return;
                    }
                }
                Err(_) => return,
            }
        })?;
    for n in notices {
        app.update(Action::Notice(n));
    }
    let mut videos = VideoCache::new(draw.colors, draw.tolerance);
    let mut pacing = Pacing::new(std::env::var_os("SSH_CONNECTION").is_some()).with_sound_on_link(
        crate::media::soundlink::this_sound_link() == crate::media::soundlink::SoundLink::Thin,
    );
    let mut window = Window::new(&link);
    let mut next_draw = Instant::now();
    // The meeting's version last handed to the app; whether the screen is out of date, and
    // whether a key is waiting to be seen (drawn before anything else, video held back).
    let (mut seen, mut dirty, mut urgent) = (None::<u64>, true, false);
    let mut last_draw = Instant::now();
    let carry = |effects: Vec<Effect>, quit: &mut bool| {
        for effect in effects {
            match effect {
                Effect::Mesh(c) => mesh.command(c),
                Effect::FindDevices => {
                    let tx = devices_tx.clone();
                    tokio::task::spawn_blocking(move || {
                        let _ = tx.send(Action::Devices(crate::app::devices::FoundDevices::find()));
                    });
                }
                Effect::Notify { title, body } => link.send_raw(ring(&title, &body, draw.notify)),
                Effect::Quit => *quit = true,
            }
        }
    };
    let mut quit = false;
    while !quit {
        // While a frame is on its way, look again soon: the next one goes when it is through.
        let wait = if dirty && link.busy() {
            Duration::from_millis(4)
        } else if urgent {
            Duration::ZERO
        } else {
            next_draw.saturating_duration_since(Instant::now())
        };
        tokio::select! {
            action = rx.recv() => {
                let Some(action) = action else { break };
                let key = matches!(action, Action::Key(_) | Action::Space { .. });
                carry(app.update(action), &mut quit);
                dirty = true;
                urgent |= key;
            }
            _ = tokio::time::sleep(wait) => {
                for drained in link.drained() {
                    pacing.on_drained(drained);
                }
                // A copy of the meeting only when it changed: with nobody talking or moving,
                // a tick costs a lock and a comparison.
                let version = mesh.version();
                if seen != Some(version) {
                    seen = Some(version);
                    carry(app.update(Action::Meeting(Box::new(mesh.read(MeshState::clone)))), &mut quit);
                    dirty = true;
                }
                let level = mesh.mic_level();
                if (level - app.mic_level).abs() > 0.002 {
                    app.update(Action::MicLevel(level));
                    dirty = true;
                }
                let (features, figures) = mesh.audio_processing();
                let view = ProcessingView::of(features, &figures);
                if app.processing != Some(view) {
                    app.update(Action::Processing(view));
                    dirty = true;
                }
                dirty |= app.follow_speaker(Instant::now());
                let ticked = app.update(Action::Tick(Instant::now()));
                dirty |= !ticked.is_empty();
                carry(ticked, &mut quit);
                let view = mesh.self_view();
                if !same_picture(&view, &app.self_view) {
                    app.update(Action::SelfView(view));
                    dirty = true;
                }
                let due = urgent || Instant::now() >= next_draw;
                // Clocks and rates on screen move once a second even in a still meeting.
                let stale = last_draw.elapsed() >= Duration::from_secs(1);
                if (dirty || stale) && due && !link.busy() {
                    // A key's answer goes out alone: video waits for the next frame.
                    let tiles = app.meeting.peers.len() + usize::from(app.self_view.is_some());
                    videos.cells_per_tile = if urgent {
                        Some(0)
                    } else {
                        pacing.cells_per_tile(videos.mode, tiles)
                    };
                    videos.wanted = 0;
                    videos.changed = 0;
                    terminal.draw(|f| ui::draw(f, app, &mut videos))?;
                    if !urgent {
                        window.frames += 1;
                        if pacing.lower_colours(videos.wanted, videos.changed, videos.mode) {
                            videos.mode = videos.mode.lower();
                            tracing::info!("terminal too slow for the picture: colours down to {:?}", videos.mode);
                        }
                        next_draw = Instant::now() + frame_interval(app.tty_rate, draw.max_tty_kbps);
                    }
                    last_draw = Instant::now();
                    dirty = false;
                    urgent = false;
                }
                if let Some((rate, fps)) = window.roll(&link, &pacing, videos.mode) {
                    app.update(Action::TerminalRate(rate));
                    app.draw_fps = fps;
                    // Over the user's own budget with frame rate already low: fewer colours.
                    if let Some(limit) = draw.max_tty_kbps {
                        if rate * 8 / 1000 > limit * 2 {
                            videos.mode = videos.mode.lower();
                        }
                    }
                }
            }
        }
    }
    drop(terminal);
    link.close();
    Ok(())
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
