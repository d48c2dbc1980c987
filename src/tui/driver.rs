//! The driver's loop: it sleeps until something happens (a key or another terminal event, a
//! change of the meeting, a frame through the terminal, a resize) or until a deadline that
//! what is on screen sets, then hands what happened to the app and draws when due.
//!
//! Time alone moves little on screen: the clock and rates once a second, the microphone's
//! meter and our own picture while they run, and the app's own timers just after a key. So a
//! still meeting wakes the driver about once a second.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ratatui::Terminal;
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::sync::{mpsc, watch, Notify};

use super::keys::{self, KeyBell};
use super::{ring, DrawOptions, Window};
use crate::app::{Action, App, Effect, ProcessingView};
use crate::call::mesh::{Mesh, MeshCommand, MeshState};
use crate::media::RgbFrame;
use crate::render::CellKind;
use crate::term::LeanBackend;
use crate::termcaps::Graphics;
use crate::ttylink::{frame_interval, LinkWriter, Pacing, TtyLink, FRAME_SHARE};
use crate::ui::{self, VideoCache};

/// Fewest picture frames a second pixels are drawn at; below, cells.
const PIXELS_MIN_FPS: f64 = 5.0;
/// How long cells are drawn for want of a fast link before pixels are tried again.
const PIXELS_RETRY: Duration = Duration::from_secs(10);

/// How often the screen is drawn at least, for the clock and the rates on it, and how often a
/// still meeting samples what it polls.
const STILL_TICK: Duration = Duration::from_secs(1);
/// How long after a key the app's timers (Esc's wait, push-to-talk's repeat) are followed at
/// frame rate.
const AFTER_KEY: Duration = Duration::from_secs(2);

/// Runs the screen until the user leaves.
pub async fn drive(
    app: &mut App,
    mesh: &Mesh,
    draw: &DrawOptions,
    pixels: Option<(Graphics, (usize, usize))>,
    notices: Vec<String>,
) -> anyhow::Result<()> {
    let (tx, rx) = mpsc::unbounded_channel::<Action>();
    let bell = keys::start(tx.clone())?;
    let writer_bell = bell.try_clone()?;
    // Frames go out through a writer thread that times each one (see `ttylink`).
    let link = TtyLink::start(move || writer_bell.ring())?;
    let mut terminal = Terminal::new(LeanBackend::new(link.writer()))?;
    terminal.clear()?;
    let mut wakes = Wakes {
        actions: rx,
        meeting: mesh.subscribe(),
        meeting_open: true,
        through: link.through(),
        resized: signal(SignalKind::window_change()).ok(),
        bell,
    };
    let mut screen = Screen::new(app, mesh, draw, &link, tx);
    if let Some((graphics, cell)) = pixels {
        screen.videos = std::mem::replace(
            &mut screen.videos,
            VideoCache::new(draw.colors, draw.tolerance),
        )
        .with_pixels(graphics, cell);
        screen.app.pixels = Some(graphics.to_string());
    }
    for n in notices {
        screen.app.update(Action::Notice(n));
    }
    while !screen.quit {
        let now = Instant::now();
        let wait = screen.wait(now);
        let listen = !screen.meeting_pending;
        match wakes.next(wait, screen.waits_for_frame(), listen).await {
            Wake::Action(action) => screen.on_action(action, now),
            Wake::Meeting => {
                screen.meeting_pending = true;
                screen.dirty = true;
            }
            Wake::Closed => break,
            Wake::Other => {}
        }
        // The meeting is copied only when a frame can show it, at most once a frame.
        if screen.meeting_pending && screen.can_draw() {
            screen.take_meeting(&mut wakes.meeting);
        }
        screen.sample();
        screen.draw_if_due(&mut terminal)?;
        screen.roll_window();
    }
    drop(terminal);
    link.close();
    Ok(())
}

/// What woke the driver.
enum Wake {
    /// Something for the app: a key, focus, a resize, found devices.
    Action(Action),
    /// The meeting changed.
    Meeting,
    /// Nothing sends actions any more.
    Closed,
    /// A deadline, a frame through, a resize passed on to the key reader.
    Other,
}

/// The driver's event sources.
struct Wakes {
    /// Actions from the key reader and from device searches.
    actions: mpsc::UnboundedReceiver<Action>,
    /// The meeting.
    meeting: watch::Receiver<MeshState>,
    /// Whether the mesh still publishes the meeting.
    meeting_open: bool,
    /// Signalled when a frame got through the terminal.
    through: Arc<Notify>,
    /// Window-size changes, which crossterm learns through its own signal pipe; `None`
    /// when they cannot be watched.
    resized: Option<Signal>,
    /// Wakes the key reader to read crossterm's news.
    bell: KeyBell,
}

impl Wakes {
    /// Sleeps until the next event or `wait`; `frame` also wakes for a frame getting
    /// through, `meeting` for a change of the meeting.
    async fn next(&mut self, wait: Duration, frame: bool, meeting: bool) -> Wake {
        let listen = meeting && self.meeting_open;
        let changed = self.meeting.changed();
        let resized = async {
            match &mut self.resized {
                Some(s) => s.recv().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            action = self.actions.recv() => match action {
                Some(action) => Wake::Action(action),
                None => Wake::Closed,
            },
            open = changed, if listen => {
                self.meeting_open = open.is_ok();
                Wake::Meeting
            }
            _ = self.through.notified(), if frame => Wake::Other,
            _ = resized => {
                self.bell.ring();
                Wake::Other
            }
            _ = tokio::time::sleep(wait) => Wake::Other,
        }
    }
}

/// The app, what draws it and when it last did.
struct Screen<'a> {
    app: &'a mut App,
    mesh: &'a Mesh,
    draw: &'a DrawOptions,
    link: &'a TtyLink,
    /// For device searches to send what they found.
    actions: mpsc::UnboundedSender<Action>,
    videos: VideoCache,
    pacing: Pacing,
    window: Window,
    /// When the next video frame may be drawn.
    next_draw: Instant,
    last_draw: Instant,
    /// When what is polled was last looked at.
    last_sample: Instant,
    /// Whether the meeting changed since the app last saw it.
    meeting_pending: bool,
    /// When the last key came.
    last_key: Option<Instant>,
    /// Whether the screen is out of date.
    dirty: bool,
    /// Whether a key is waiting to be seen (drawn before anything else, video held back).
    urgent: bool,
    /// The cameras we last told the meeting we draw (sorted), so that through an SFU only
    /// they are sent to us.
    view: Option<Vec<String>>,
    /// The terminal's size at the last draw: a new one clears the screen, pictures and all.
    size: ratatui::layout::Size,
    /// Whether the terminal's link is fast enough for pixels (see `choose_pixels`).
    link_pixels: bool,
    /// Since when cells are drawn for want of a fast enough link.
    cells_since: Option<Instant>,
    /// The most bytes a frame of pictures took this second.
    pixel_bytes: usize,
    /// The same, in the last second pixels were drawn.
    pixel_need: usize,
    quit: bool,
}

impl<'a> Screen<'a> {
    fn new(
        app: &'a mut App,
        mesh: &'a Mesh,
        draw: &'a DrawOptions,
        link: &'a TtyLink,
        actions: mpsc::UnboundedSender<Action>,
    ) -> Screen<'a> {
        let thin =
            crate::media::soundlink::this_sound_link() == crate::media::soundlink::SoundLink::Thin;
        let now = Instant::now();
        Screen {
            videos: VideoCache::new(draw.colors, draw.tolerance).with_cells(draw.cells),
            pacing: Pacing::new(std::env::var_os("SSH_CONNECTION").is_some())
                .with_sound_on_link(thin),
            window: Window::new(link),
            app,
            mesh,
            draw,
            link,
            actions,
            next_draw: now,
            last_draw: now,
            last_sample: now,
            last_key: None,
            meeting_pending: true,
            dirty: true,
            urgent: false,
            view: None,
            size: ratatui::layout::Size::default(),
            pixel_bytes: 0,
            link_pixels: true,
            cells_since: None,
            pixel_need: 0,
            quit: false,
        }
    }

    /// Carries out what the app asked for.
    fn carry(&mut self, effects: Vec<Effect>) {
        for effect in effects {
            match effect {
                Effect::Mesh(c) => self.mesh.command(c),
                Effect::FindDevices => {
                    let tx = self.actions.clone();
                    tokio::task::spawn_blocking(move || {
                        let _ = tx.send(Action::Devices(crate::app::devices::FoundDevices::find()));
                    });
                }
                Effect::Notify { title, body } => {
                    self.link.send_raw(ring(&title, &body, self.draw.notify))
                }
                Effect::Quit => self.quit = true,
            }
        }
    }

    fn on_action(&mut self, action: Action, now: Instant) {
        let key = matches!(action, Action::Key(_) | Action::Space { .. });
        let effects = self.app.update(action);
        self.carry(effects);
        self.dirty = true;
        self.urgent |= key;
        if key {
            self.last_key = Some(now);
        }
    }

    /// Hands the app a copy of the meeting as it is now.
    fn take_meeting(&mut self, meeting: &mut watch::Receiver<MeshState>) {
        self.meeting_pending = false;
        let state = meeting.borrow_and_update().clone();
        let effects = self.app.update(Action::Meeting(Box::new(state)));
        self.carry(effects);
        self.dirty = true;
    }

    /// Whether time moves something on screen faster than once a second: our camera or
    /// microphone running, someone speaking (the speaker layout follows them), a key just
    /// pressed (the app's timers).
    fn live(&self, now: Instant) -> bool {
        let app = &*self.app;
        app.meeting.cam
            || app.meeting.mic
            || app.self_view.is_some()
            || app.mic_level > 0.0
            || app.meeting.peers.values().any(|p| p.speaking())
            || self
                .last_key
                .is_some_and(|k| now.saturating_duration_since(k) < AFTER_KEY)
    }

    /// Whether the driver waits for the frame in flight to draw the next one.
    fn waits_for_frame(&self) -> bool {
        self.dirty && self.link.busy()
    }

    /// Whether a frame may be drawn now: one is due and none is on its way.
    fn can_draw(&self) -> bool {
        (self.urgent || Instant::now() >= self.next_draw) && !self.link.busy()
    }

    /// How long the driver may sleep when nothing happens.
    fn wait(&self, now: Instant) -> Duration {
        let busy = self.link.busy();
        if self.urgent && !busy {
            return Duration::ZERO;
        }
        let sample_every = if self.live(now) {
            frame_interval(self.app.tty_rate, self.draw.max_tty_kbps)
        } else {
            STILL_TICK
        };
        let mut at = (self.last_sample + sample_every)
            .min(self.last_draw + STILL_TICK)
            .min(self.window.start + STILL_TICK);
        if self.dirty && !busy {
            at = at.min(self.next_draw);
        }
        at.saturating_duration_since(now)
    }

    /// Looks at what the mesh does not announce (the microphone's level, the audio
    /// processing, our own picture) and lets the app's timers run.
    fn sample(&mut self) {
        let now = Instant::now();
        self.last_sample = now;
        for drained in self.link.drained() {
            self.pacing.on_drained(drained);
        }
        let app = &mut *self.app;
        let level = self.mesh.mic_level();
        if (level - app.mic_level).abs() > 0.002 {
            app.update(Action::MicLevel(level));
            self.dirty = true;
        }
        let (features, figures) = self.mesh.audio_processing();
        let view = ProcessingView::of(features, &figures);
        if app.processing != Some(view) {
            app.update(Action::Processing(view));
            self.dirty = true;
        }
        self.dirty |= app.follow_speaker(now);
        let ticked = app.update(Action::Tick(now));
        self.dirty |= !ticked.is_empty();
        let view = self.mesh.self_view();
        if !same_picture(&view, &app.self_view) {
            app.update(Action::SelfView(view));
            self.dirty = true;
        }
        self.carry(ticked);
    }

    /// Draws when the screen is out of date (or a second old), a frame is due and none is on
    /// its way.
    fn draw_if_due(
        &mut self,
        terminal: &mut Terminal<LeanBackend<LinkWriter>>,
    ) -> anyhow::Result<()> {
        // Clocks and rates on screen move once a second even in a still meeting.
        let stale = self.last_draw.elapsed() >= STILL_TICK;
        if !((self.dirty || stale) && self.can_draw()) {
            return Ok(());
        }
        // A key's answer goes out alone: video waits for the next frame.
        let tiles = self.app.meeting.peers.len() + usize::from(self.app.self_view.is_some());
        self.videos.cells_per_tile = if self.urgent {
            Some(0)
        } else {
            self.pacing.cells_per_tile(self.videos.mode, tiles)
        };
        self.videos.wanted = 0;
        self.videos.changed = 0;
        let size = terminal.size()?;
        if size != self.size {
            // ratatui clears a resized screen before it draws; the font may have changed too.
            self.size = size;
            self.videos
                .screen_cleared(crate::termcaps::window_cell_pixels());
        }
        // Pictures would paint over the picker, help and the leave question: cells meanwhile.
        let app = &*self.app;
        let overlay = app.picker().is_some() || app.help_shown() || app.confirm_quit();
        let first = self.videos.set_pixels(self.link_pixels && !overlay);
        if !first.is_empty() {
            self.link.send_raw(first);
        }
        let (urgent, mut pictures) = (self.urgent, Vec::new());
        terminal.draw(|f| {
            ui::draw(f, self.app, &mut self.videos);
            if !urgent {
                pictures = self.videos.take_pixels(f.buffer_mut());
            }
        })?;
        self.send_pixels(terminal, pictures)?;
        self.tell_view();
        if !self.urgent {
            self.after_video_frame();
        }
        self.last_draw = Instant::now();
        // A key's frame held the pictures back: they follow in the next.
        self.dirty = self.urgent && self.videos.pixels_on;
        self.urgent = false;
        Ok(())
    }

    /// Sends the pictures that changed, after the frame's cells.
    fn send_pixels(
        &mut self,
        terminal: &mut Terminal<LeanBackend<LinkWriter>>,
        bytes: Vec<u8>,
    ) -> anyhow::Result<()> {
        use std::io::Write;
        if !bytes.is_empty() {
            self.pixel_bytes = self.pixel_bytes.max(bytes.len());
            let writer = terminal.backend_mut().writer_mut();
            writer.write_all(&bytes)?;
            writer.flush()?;
        }
        Ok(())
    }

    /// Once a second: pixels off while the terminal takes them in at fewer than
    /// [`PIXELS_MIN_FPS`] frames a second, and back once it would take them at half as
    /// many again. The status bar says which.
    fn choose_pixels(&mut self) {
        if self.pixel_bytes > 0 {
            self.pixel_need = std::mem::take(&mut self.pixel_bytes);
        }
        if self.videos.pixels.is_none() || self.pixel_need == 0 {
            return;
        }
        let Some(budget) = self.pacing.budget() else {
            return;
        };
        let on = self.link_pixels;
        let (mut want, fps) = pixels_wanted(on, budget, self.pixel_need);
        // Cells' small frames say little of what the link could carry: every so often,
        // pixels are tried again, and the next second's frames decide.
        let retry = self
            .cells_since
            .is_some_and(|t| t.elapsed() >= PIXELS_RETRY);
        want |= !on && retry;
        if want == on {
            return;
        }
        self.link_pixels = want;
        self.cells_since = (!want).then(Instant::now);
        let graphics = self.videos.pixels.as_ref().map(|p| p.graphics.to_string());
        if want {
            tracing::info!("trying pixels again ({fps:.1} frames a second measured with cells)");
            self.app.thinned = None;
            self.app.pixels = graphics;
        } else {
            tracing::info!("terminal too slow for pixels ({fps:.1} frames a second): cells");
            self.app.thinned = Some("cells, not pixels".into());
            self.app.pixels = None;
        }
        self.dirty = true;
    }

    /// Tells the meeting whose cameras are drawn when that changed: a room on an SFU then
    /// sends no others.
    fn tell_view(&mut self) {
        let mut shown = self.videos.shown.clone();
        shown.sort_unstable();
        if self.view.as_ref() != Some(&shown) {
            self.view = Some(shown.clone());
            self.mesh.command(MeshCommand::View(Some(shown)));
        }
    }

    /// Counts a drawn video frame, thins the picture when the terminal keeps falling behind,
    /// and sets when the next may go.
    fn after_video_frame(&mut self) {
        let videos = &mut self.videos;
        self.window.frames += 1;
        let can_thin = videos.cells != CellKind::Half || videos.mode.has_lower();
        if self
            .pacing
            .go_thinner(videos.wanted, videos.changed, can_thin)
        {
            self.app.thinned = thinner(videos).or(self.app.thinned.take());
        }
        self.next_draw = Instant::now() + frame_interval(self.app.tty_rate, self.draw.max_tty_kbps);
    }

    /// Once a second: the rates on screen, and a thinner picture over the user's own budget.
    fn roll_window(&mut self) {
        let Some((rate, fps)) = self.window.roll(self.link, &self.pacing, self.videos.mode) else {
            return;
        };
        self.app.update(Action::TerminalRate(rate));
        self.app.draw_fps = fps;
        self.choose_pixels();
        // Over the user's own budget with frame rate already low: a thinner picture.
        if let Some(limit) = self.draw.max_tty_kbps {
            if rate * 8 / 1000 > limit * 2 {
                self.app.thinned = thinner(&mut self.videos).or(self.app.thinned.take());
            }
        }
    }
}

/// Whether pictures of `need` bytes a frame should be drawn, by a link whose frame budget is
/// `budget` bytes (a frame's share of a second's bytes, see `ttylink::FRAME_SHARE`), and the
/// frames a second it would take them at: at least [`PIXELS_MIN_FPS`] while `on`, half as
/// many again to come back, so that it does not flap.
fn pixels_wanted(on: bool, budget: usize, need: usize) -> (bool, f64) {
    let fps = budget as f64 / FRAME_SHARE / need.max(1) as f64;
    let floor = if on {
        PIXELS_MIN_FPS
    } else {
        PIXELS_MIN_FPS * 1.5
    };
    (fps >= floor, fps)
}

/// A picture that costs the terminal fewer bytes: half blocks in place of quadrants or
/// sextants first (their edges change most from frame to frame), then fewer colours. Says
/// what the picture is now, if it changed.
fn thinner(videos: &mut VideoCache) -> Option<String> {
    if videos.cells != CellKind::Half {
        videos.cells = CellKind::Half;
    } else if videos.mode.has_lower() {
        videos.mode = videos.mode.lower();
    } else {
        return None;
    }
    let now = format!("half blocks, {}", videos.mode.describe());
    tracing::info!("terminal too slow for the picture: now {now}");
    Some(now)
}

/// Whether two optional pictures are the same one.
fn same_picture(a: &Option<Arc<RgbFrame>>, b: &Option<Arc<RgbFrame>>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => Arc::ptr_eq(a, b),
        (None, None) => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::ColorMode;

    #[test]
    fn pixels_give_way_to_cells_on_a_thin_link_and_come_back_when_it_allows() {
        // 30 kB pictures: a local terminal's 3 MB/s takes 100 a second.
        let fast = (3_000_000.0 * FRAME_SHARE) as usize;
        assert!(pixels_wanted(true, fast, 30_000).0);
        // A 1 Mbit/s SSH link takes 125 kB/s: four a second, too few.
        let ssh = (125_000.0 * FRAME_SHARE) as usize;
        let (on, fps) = pixels_wanted(true, ssh, 30_000);
        assert!(!on && (fps - 4.17).abs() < 0.1, "{fps}");
        // Six a second keeps pixels on, but does not bring them back.
        let six = (180_000.0 * FRAME_SHARE) as usize;
        assert!(pixels_wanted(true, six, 30_000).0);
        assert!(!pixels_wanted(false, six, 30_000).0);
        let eight = (240_000.0 * FRAME_SHARE) as usize;
        assert!(pixels_wanted(false, eight, 30_000).0);
    }

    #[test]
    fn a_slow_terminal_loses_quadrants_before_colours() {
        let mut videos = VideoCache::new(ColorMode::TrueColor, 8).with_cells(CellKind::Quadrant);
        let mut steps = Vec::new();
        for _ in 0..5 {
            let said = thinner(&mut videos);
            steps.push((videos.cells, videos.mode, said));
        }
        let said = |t: &str| Some(t.to_string());
        assert_eq!(
            steps,
            vec![
                (
                    CellKind::Half,
                    ColorMode::TrueColor,
                    said("half blocks, 24-bit colour")
                ),
                (
                    CellKind::Half,
                    ColorMode::Ansi256,
                    said("half blocks, 256 colours")
                ),
                (
                    CellKind::Half,
                    ColorMode::Ansi16,
                    said("half blocks, 16 colours")
                ),
                (CellKind::Half, ColorMode::Ansi16, None),
                (CellKind::Half, ColorMode::Ansi16, None),
            ]
        );
    }
}
