//! The terminal as a link with a speed. Over SSH the bytes we write can queue for seconds in
//! channels we cannot see, and video falls ever further behind, keys with it. So frames go
//! out through [`TtyLink`], a writer thread that follows each frame with a cursor-position
//! request (`ESC[6n`): the terminal answers only once it has taken in everything before it,
//! so the answer's delay is how long the frame took to get through, whatever lies between.
//! The UI draws the next frame only when the last one has been answered (at most one frame
//! in flight), and [`Pacing`] sizes frames from the measured speed: a byte budget per frame,
//! then half blocks in place of quadrants and then fewer colours when even that budget keeps
//! the picture from keeping up.

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use crate::render::ColorMode;

/// What went out and how long the terminal took to take it in.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Drained {
    /// Bytes in the frame.
    pub bytes: usize,
    /// From the start of the write to the terminal's answer (or the end of the write when
    /// the terminal does not answer).
    pub took: Duration,
    /// Whether the terminal answered the position request.
    pub answered: bool,
}

struct Job {
    bytes: Vec<u8>,
    probe: bool,
}

/// The writer thread and its signals.
pub struct TtyLink {
    jobs: Option<SyncSender<Job>>,
    busy: Arc<AtomicBool>,
    drained: Receiver<Drained>,
    /// Wakes the driver when a frame got through, so it need not look for that.
    through: Arc<Notify>,
    thread: Option<JoinHandle<()>>,
    /// Bytes written to the terminal so far.
    pub written: Arc<AtomicU64>,
}

/// A terminal that leaves this many position requests unanswered in a row is taken not to
/// answer them; frames are then timed by their writes alone.
const UNANSWERED_LIMIT: u32 = 2;

impl TtyLink {
    /// Starts the writer thread on stdout. `after_probe` runs after each position request,
    /// answered or not: crossterm's reader may have taken keys into its queue meanwhile, and
    /// whoever reads keys should look there.
    pub fn start(after_probe: impl Fn() + Send + 'static) -> std::io::Result<TtyLink> {
        let (jobs, incoming) = mpsc::sync_channel::<Job>(4);
        let (done, drained) = mpsc::channel();
        let writer = Writer {
            busy: Arc::new(AtomicBool::new(false)),
            written: Arc::new(AtomicU64::new(0)),
            through: Arc::new(Notify::new()),
            done,
        };
        let (busy, written, through) = (
            Arc::clone(&writer.busy),
            Arc::clone(&writer.written),
            Arc::clone(&writer.through),
        );
        let thread = std::thread::Builder::new()
            .name("tty-writer".into())
            .spawn(move || writer.run(incoming, after_probe))?;
        Ok(TtyLink {
            jobs: Some(jobs),
            busy,
            drained,
            through,
            thread: Some(thread),
            written,
        })
    }

    /// Resolves once a frame got through (at once when one did since last asked).
    pub fn through(&self) -> Arc<Notify> {
        Arc::clone(&self.through)
    }

    /// A writer for ratatui: what it writes goes out, timed, at each flush.
    pub fn writer(&self) -> LinkWriter {
        LinkWriter {
            jobs: self.jobs.clone(),
            busy: Arc::clone(&self.busy),
            pending: Vec::with_capacity(64 * 1024),
        }
    }

    /// Bytes to write in turn with the frames, untimed (a bell).
    pub fn send_raw(&self, bytes: Vec<u8>) {
        if let Some(jobs) = &self.jobs {
            let _ = jobs.send(Job {
                bytes,
                probe: false,
            });
        }
    }

    /// Whether a frame is still on its way.
    pub fn busy(&self) -> bool {
        self.busy.load(Ordering::Acquire)
    }

    /// The frames that got through since last asked.
    pub fn drained(&self) -> Vec<Drained> {
        self.drained.try_iter().collect()
    }

    /// Lets what was sent go out, then stops the thread.
    pub fn close(mut self) {
        self.jobs = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The writer thread's ends of the link's signals.
struct Writer {
    busy: Arc<AtomicBool>,
    written: Arc<AtomicU64>,
    through: Arc<Notify>,
    done: mpsc::Sender<Drained>,
}

impl Writer {
    /// Writes each job in turn, timing the frames, until the link closes.
    fn run(self, incoming: Receiver<Job>, after_probe: impl Fn()) {
        let mut out = std::io::stdout();
        let mut unanswered = 0u32;
        for job in incoming {
            let start = Instant::now();
            if out.write_all(&job.bytes).and_then(|_| out.flush()).is_err() {
                self.busy.store(false, Ordering::Release);
                self.through.notify_one();
                return;
            }
            self.written
                .fetch_add(job.bytes.len() as u64, Ordering::Relaxed);
            if !job.probe {
                continue;
            }
            let mut answered = false;
            if unanswered < UNANSWERED_LIMIT {
                // Writes ESC[6n and waits (up to 2 s) for the answer.
                answered = crossterm::cursor::position().is_ok();
                after_probe();
                unanswered = if answered { 0 } else { unanswered + 1 };
                if unanswered == UNANSWERED_LIMIT {
                    tracing::info!("the terminal does not answer position requests; timing frames by their writes");
                }
            }
            let _ = self.done.send(Drained {
                bytes: job.bytes.len(),
                took: start.elapsed(),
                answered,
            });
            self.busy.store(false, Ordering::Release);
            self.through.notify_one();
        }
    }
}

/// ratatui's writer: collects a frame and hands it to the writer thread at flush.
pub struct LinkWriter {
    jobs: Option<SyncSender<Job>>,
    busy: Arc<AtomicBool>,
    pending: Vec<u8>,
}

impl Write for LinkWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.pending.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let bytes = std::mem::take(&mut self.pending);
        self.busy.store(true, Ordering::Release);
        match &self.jobs {
            Some(jobs) => jobs.send(Job { bytes, probe: true }).map_err(|_| {
                std::io::Error::new(
                    std::io::ErrorKind::BrokenPipe,
                    "the terminal writer stopped",
                )
            }),
            None => Ok(()),
        }
    }
}

/// Bytes a changed video cell costs, roughly, in each colour mode (the cursor move, the
/// colours that changed, the half block).
pub fn bytes_per_cell(mode: ColorMode) -> usize {
    match mode {
        ColorMode::TrueColor => 36,
        ColorMode::Ansi256 => 20,
        ColorMode::Ansi16 => 10,
        ColorMode::Mono => 4,
    }
}

/// What share of a second one frame may take to get through: a key waits at most this
/// long behind the frame in flight.
pub const FRAME_SHARE: f64 = 0.08;
/// The smallest frame budget, bytes.
pub const MIN_BUDGET: usize = 1000;
/// Over SSH, the budget before anything is measured.
pub const SSH_START_BUDGET: usize = 4000;
/// Frames in a row that wanted more than twice their budget before colours drop.
const STARVED_FRAMES: u32 = 10;

/// Frame sizes from the terminal's measured speed. Pure: frames' timings go in, budgets
/// come out.
#[derive(Clone, Debug, Default)]
pub struct Pacing {
    /// Bytes a second the terminal takes in, once measured: the bytes of the last frames
    /// over the time they took, less most of the round trip each pays (see `on_drained`).
    pub rate: Option<f64>,
    /// The last frames answered: (bytes, time to the answer).
    recent: std::collections::VecDeque<(usize, Duration)>,
    /// Whether to be careful before the first measurements (over SSH).
    careful: bool,
    /// Whether the link also carries live sound (the laptop's, forwarded over the same SSH
    /// connection): then a frame is sized by the whole time its answer took, round trip
    /// included, so no frame holds the sound back long enough to empty the speaker's buffer.
    sound_on_link: bool,
    starved: u32,
}

/// Frames the speed is measured over.
const RECENT_FRAMES: usize = 20;

impl Pacing {
    /// `ssh`: the terminal is at the far end of an SSH connection (`SSH_CONNECTION` set).
    pub fn new(ssh: bool) -> Pacing {
        Pacing {
            careful: ssh,
            ..Pacing::default()
        }
    }

    /// The link also carries live sound (see `sound_on_link`).
    pub fn with_sound_on_link(mut self, yes: bool) -> Pacing {
        self.sound_on_link = yes;
        self
    }

    /// A frame got through.
    pub fn on_drained(&mut self, d: Drained) {
        if !d.answered || d.bytes == 0 {
            return;
        }
        if self.recent.len() == RECENT_FRAMES {
            self.recent.pop_front();
        }
        self.recent.push_back((d.bytes, d.took));
        let bytes: usize = self.recent.iter().map(|(b, _)| b).sum();
        let took: Duration = self.recent.iter().map(|(_, t)| *t).sum();
        if self.sound_on_link {
            self.rate = Some(bytes as f64 / took.max(Duration::from_micros(100)).as_secs_f64());
            return;
        }
        // Most of the quickest answer's time is the round trip every frame pays whatever
        // its size: take it out, but never more than three quarters of the time, so a
        // measurement that happened to be quick cannot inflate the speed much.
        let base = self
            .recent
            .iter()
            .map(|(_, t)| *t)
            .min()
            .unwrap_or_default();
        let fixed = base.mul_f64(0.9) * self.recent.len() as u32;
        let moving = took.saturating_sub(fixed).max(took / 4);
        self.rate = Some(bytes as f64 / moving.max(Duration::from_micros(100)).as_secs_f64());
    }

    /// Most bytes a frame should have, if any limit applies.
    pub fn budget(&self) -> Option<usize> {
        match self.rate {
            Some(rate) => Some(((rate * FRAME_SHARE) as usize).max(MIN_BUDGET)),
            None if self.careful => Some(SSH_START_BUDGET),
            None => None,
        }
    }

    /// Most cells each of `tiles` video tiles may change in one frame in `mode`.
    pub fn cells_per_tile(&self, mode: ColorMode, tiles: usize) -> Option<usize> {
        let budget = self.budget()?;
        // Room for the panels and the status bar, which change too.
        let for_video = budget.saturating_sub(MIN_BUDGET / 2);
        Some(for_video / bytes_per_cell(mode) / tiles.max(1))
    }

    /// A video frame was drawn wanting `wanted` cell changes and making `changed`: whether
    /// to make the picture cheaper (it keeps falling behind as it is), when `can_thin` says
    /// there is a cheaper one (see `tui::driver::thinner`).
    pub fn go_thinner(&mut self, wanted: usize, changed: usize, can_thin: bool) -> bool {
        if wanted > 2 * changed.max(1) {
            self.starved += 1;
        } else {
            self.starved = 0;
        }
        if self.starved >= STARVED_FRAMES && can_thin {
            self.starved = 0;
            return true;
        }
        false
    }
}

/// How often the UI draws at most.
pub const MAX_FPS: u32 = 30;

/// The frame interval for a terminal byte budget: full rate while under it, slower above.
pub fn frame_interval(tty_rate: u64, max_kbps: Option<u64>) -> Duration {
    let base = Duration::from_secs(1) / MAX_FPS;
    match max_kbps {
        Some(limit) if limit > 0 && tty_rate * 8 / 1000 > limit => {
            let over = (tty_rate * 8 / 1000) as f64 / limit as f64;
            base.mul_f64(over.min(10.0))
        }
        _ => base,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_budget_slows_drawing() {
        assert_eq!(frame_interval(0, Some(100)), Duration::from_secs(1) / 30);
        assert!(frame_interval(50_000, Some(100)) > Duration::from_secs(1) / 30);
        assert_eq!(frame_interval(50_000, None), Duration::from_secs(1) / 30);
    }

    fn drained(bytes: usize, ms: u64) -> Drained {
        Drained {
            bytes,
            took: Duration::from_millis(ms),
            answered: true,
        }
    }

    #[test]
    fn the_budget_follows_the_measured_speed() {
        let mut p = Pacing::new(false);
        assert_eq!(p.budget(), None, "a local terminal starts unlimited");
        assert_eq!(Pacing::new(true).budget(), Some(SSH_START_BUDGET));
        // A 20 kB/s link with a 10 ms round trip.
        p.on_drained(drained(100, 15));
        for _ in 0..19 {
            p.on_drained(drained(4000, 210));
        }
        let rate = p.rate.unwrap();
        assert!((19_000.0..21_000.0).contains(&rate), "{rate}");
        // Tiny frames on a long round trip: the round trip is not taken for slowness, and
        // the correction is bounded.
        let mut q = Pacing::new(false);
        for _ in 0..20 {
            q.on_drained(drained(100, 50));
        }
        let rate = q.rate.unwrap();
        assert!((7_000.0..9_000.0).contains(&rate), "{rate}");
        let budget = p.budget().unwrap();
        assert!((1500..1700).contains(&budget), "{budget}");
        let cells = p.cells_per_tile(ColorMode::Ansi256, 2).unwrap();
        assert_eq!(cells, (budget - MIN_BUDGET / 2) / 20 / 2);
        // Unanswered requests teach nothing.
        p.on_drained(Drained {
            bytes: 4000,
            took: Duration::from_secs(2),
            answered: false,
        });
        assert_eq!(p.budget(), Some(budget));
    }

    #[test]
    fn sound_on_the_link_counts_the_whole_answer_time() {
        // Frames of any size answered after about the same time: a fixed delay on the way
        // hides the speed. Alone on the link the delay is taken out (bounded to four times
        // the plain figure); with sound on it, the plain figure is kept.
        let (mut alone, mut shared) = (
            Pacing::new(true),
            Pacing::new(true).with_sound_on_link(true),
        );
        for n in 0..20 {
            let d = drained(4000, 50 + n % 3);
            alone.on_drained(d);
            shared.on_drained(d);
        }
        let (fast, plain) = (alone.rate.unwrap(), shared.rate.unwrap());
        assert!((78_000.0..80_000.0).contains(&plain), "{plain}");
        assert!(fast > 3.5 * plain, "{fast} {plain}");
        assert!(shared.budget().unwrap() < 6_500);
    }

    #[test]
    fn the_picture_thins_only_when_it_keeps_falling_behind() {
        let mut p = Pacing::new(true);
        for _ in 0..9 {
            assert!(!p.go_thinner(1000, 100, true));
        }
        assert!(p.go_thinner(1000, 100, true));
        assert!(!p.go_thinner(1000, 900, true));
        for _ in 0..20 {
            assert!(!p.go_thinner(1000, 100, false), "nothing cheaper to go to");
        }
        assert!(!ColorMode::Ansi16.has_lower() && ColorMode::Ansi256.has_lower());
    }
}
