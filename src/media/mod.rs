//! Everything between a device and the network, and between the network and the speakers:
//! sources (camera, screen, microphone, synthetic, files), the H.264 and Opus codecs, and
//! audio playback. Nothing here knows about peers or the UI.
//!
//! Sources are blocking iterators: `next_frame` waits until the next frame is due (synthetic
//! and file sources pace themselves; devices deliver at their own rate), so each runs on
//! its own thread.

pub mod camera;
pub mod device;
pub mod frame;
pub mod h264;
pub mod level;
pub mod mic;
pub mod opus_codec;
pub mod pattern;
pub mod playback;
pub mod processing;
pub mod resample;
pub mod screen;
pub mod sound;
pub mod soundlink;
pub mod sources;
pub mod stream_errors;
pub mod tone;
pub mod wav;
pub mod y4m;

use std::time::{Duration, Instant};

pub use frame::{AudioFrame, I420Frame, RgbFrame, VideoFrame};

/// What can go wrong between a device or file and the network.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    /// No camera matched what was asked for.
    #[error("no camera {wanted}: {}. Check that one is plugged in and that you may read /dev/video*, or run without video (--camera none); 'termmeet devices' lists what is found", found_list(.found))]
    NoCamera {
        /// What was looked for ("any camera", "named \"x\"", "number 2").
        wanted: String,
        /// The cameras that were found.
        found: Vec<String>,
    },
    /// An audio or video device could not be opened or failed.
    #[error("{0}")]
    Device(String),
    /// A media file could not be used.
    #[error("{path}: {reason}")]
    File {
        /// The file.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An encoder or decoder failed.
    #[error("{0}")]
    Codec(String),
    /// The source stopped delivering (device unplugged, screen closed).
    #[error("{0}")]
    Stopped(String),
}

fn found_list(found: &[String]) -> String {
    if found.is_empty() {
        "none was found".to_string()
    } else {
        format!("found {}", found.join(", "))
    }
}

/// A source of pictures.
pub trait VideoSource: Send {
    /// Waits for and returns the next frame.
    fn next_frame(&mut self) -> Result<VideoFrame, MediaError>;
    /// What this source is, for people ("test pattern 640x480", "camera Logitech C920").
    fn describe(&self) -> String;
}

/// A source of 48 kHz mono audio in 20 ms frames.
pub trait AudioSource: Send {
    /// Waits for and returns the next 20 ms.
    fn next_frame(&mut self) -> Result<AudioFrame, MediaError>;
    /// What this source is, for people.
    fn describe(&self) -> String;
    /// For a live microphone, how long the newest frame's last sample waited between the
    /// device and now; `None` for a tone or a file, which have no room to clean up after
    /// (audio processing leaves them alone).
    fn capture_wait(&self) -> Option<Duration> {
        None
    }
}

/// Keeps a loop to a frame rate: `wait` sleeps until the next frame is due. A loop that
/// falls more than a second behind starts afresh instead of rushing to catch up.
#[derive(Clone, Debug)]
pub struct Pacer {
    start: Instant,
    interval: Duration,
    next: u64,
}

impl Pacer {
    /// A pacer for `fps` frames a second.
    pub fn new(fps: f64) -> Pacer {
        Pacer {
            start: Instant::now(),
            interval: Duration::from_secs_f64(1.0 / fps.clamp(0.1, 1000.0)),
            next: 0,
        }
    }

    /// Sleeps until the next frame is due.
    pub fn wait(&mut self) {
        let due = self.start + self.interval.mul_f64(self.next as f64);
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        } else if now - due > Duration::from_secs(1) {
            self.start = now;
            self.next = 0;
        }
        self.next += 1;
    }
}

/// The synthetic test pattern as a video source.
pub struct PatternSource {
    pattern: pattern::TestPattern,
    frame: u32,
    pacer: Option<Pacer>,
    fps: f64,
}

impl PatternSource {
    /// A `width` x `height` pattern at `fps`; `paced` makes each frame wait for its time.
    pub fn new(
        width: usize,
        height: usize,
        fps: f64,
        style: pattern::PatternStyle,
        paced: bool,
    ) -> PatternSource {
        PatternSource {
            pattern: pattern::TestPattern::new(width, height, style),
            frame: 0,
            pacer: paced.then(|| Pacer::new(fps)),
            fps,
        }
    }
}

impl VideoSource for PatternSource {
    fn next_frame(&mut self) -> Result<VideoFrame, MediaError> {
        if let Some(p) = &mut self.pacer {
            p.wait();
        }
        let captured_ms = frame::now_ms();
        let picture = self.pattern.frame(self.frame, captured_ms);
        self.frame = self.frame.wrapping_add(1);
        Ok(VideoFrame {
            picture,
            captured_ms,
        })
    }

    fn describe(&self) -> String {
        format!(
            "test pattern {}x{} at {} fps",
            self.pattern.width, self.pattern.height, self.fps
        )
    }
}

/// Every device found, as `termmeet devices` prints it.
pub fn devices_report() -> String {
    use sound::SoundKind;
    use std::fmt::Write;
    let mut out = String::new();
    let section = |out: &mut String, title: &str, items: Vec<String>| {
        let _ = writeln!(out, "{title}:");
        if items.is_empty() {
            let _ = writeln!(out, "  none found");
        }
        for item in items {
            let _ = writeln!(out, "  {item}");
        }
        let _ = writeln!(out);
    };
    let cameras = camera::list_cameras()
        .into_iter()
        .map(|c| format!("{}: {}", c.index, c.name))
        .collect();
    section(&mut out, "Cameras (--camera NUMBER or NAME)", cameras);
    let (system, devices) = sound::list();
    let line = |d: &sound::SoundDevice| {
        let own = d
            .own_processing
            .as_ref()
            .map(|p| format!(", does its own {p}"))
            .unwrap_or_default();
        format!(
            "{} {} ({}{own})",
            if d.default { "*" } else { " " },
            d.description,
            d.id
        )
    };
    let kind = |k| sound::of_kind(&devices, k).map(line).collect::<Vec<_>>();
    section(
        &mut out,
        &format!(
            "Microphones (--mic NAME; from {}, * the default)",
            system.name()
        ),
        kind(SoundKind::Microphone),
    );
    if system != sound::SoundSystem::Alsa {
        section(
            &mut out,
            "Monitors (--mic NAME sends what that speaker plays)",
            kind(SoundKind::Monitor),
        );
    }
    section(
        &mut out,
        &format!(
            "Speakers (--speaker NAME; from {}, * the default)",
            system.name()
        ),
        kind(SoundKind::Speaker),
    );
    section(
        &mut out,
        "Screens (--screen DISPLAY)",
        screen::list_screens(),
    );
    if devices.iter().any(|d| d.own_processing.is_some()) {
        let _ = writeln!(
            out,
            "A microphone that does its own processing gets termmeet's too (the echo canceller \
             stays out of the way when it hears no echo); --echo-cancel off, \
             --noise-suppression off and --auto-gain off turn each off.\n"
        );
    }
    let _ = writeln!(
        out,
        "A NAME is a description or the name in brackets, in any case, or the start of one."
    );
    out
}
