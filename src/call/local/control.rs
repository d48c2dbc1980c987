//! What a pump thread shares with the rest of the call: the samples it sends, the controls
//! the mesh sets, and the handle whose drop stops it.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::broadcast;

use crate::media::{AudioSource, RgbFrame, VideoSource};
use crate::sync::lock;

/// One encoded frame ready for every link.
#[derive(Clone, Debug)]
pub struct EncodedSample {
    /// Annex B H.264 or one Opus packet.
    pub data: Bytes,
    /// How long it lasts.
    pub duration: Duration,
    /// Whether a decoder can start here.
    pub keyframe: bool,
}

/// Controls shared between a pump thread and the mesh.
pub struct PumpControl {
    /// Whether samples are sent (mic or camera on).
    pub enabled: AtomicBool,
    /// Set to make the next video frame a keyframe.
    pub keyframe: AtomicBool,
    /// Target bitrate, bits a second (video).
    pub bitrate: AtomicU32,
    /// Cleared to stop the thread.
    pub running: AtomicBool,
    /// The newest local picture, mirrored, for the self view (video only).
    pub preview: Mutex<Option<Arc<RgbFrame>>>,
    /// The level of the newest 20 ms sent, 0 to 1 (audio only; 0 while muted).
    pub(super) level: AtomicU32,
    /// Set when a source to switch to waits below, so the thread looks (and locks) only then.
    switch_waiting: AtomicBool,
    /// A source to switch to, taken by the thread before its next picture or 20 ms: the
    /// track and every peer connection stay as they are.
    next_video: Mutex<Option<Box<dyn VideoSource>>>,
    next_audio: Mutex<Option<Box<dyn AudioSource>>>,
    /// Why the source stopped, while the thread waits for it to come back or for another.
    failed: Mutex<Option<String>>,
    /// What the source is now.
    describe: Mutex<String>,
}

impl std::fmt::Debug for PumpControl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PumpControl")
            .field("source", &self.describe())
            .field("enabled", &self.enabled)
            .field("failed", &self.failure())
            .finish_non_exhaustive()
    }
}

impl PumpControl {
    pub(super) fn new(bitrate: u32, describe: String) -> Arc<PumpControl> {
        Arc::new(PumpControl {
            enabled: AtomicBool::new(true),
            keyframe: AtomicBool::new(false),
            bitrate: AtomicU32::new(bitrate),
            running: AtomicBool::new(true),
            preview: Mutex::new(None),
            level: AtomicU32::new(0),
            switch_waiting: AtomicBool::new(false),
            next_video: Mutex::new(None),
            next_audio: Mutex::new(None),
            failed: Mutex::new(None),
            describe: Mutex::new(describe),
        })
    }

    /// Feeds the track from `source` from its next picture on (a video pump).
    pub fn switch_video(&self, source: Box<dyn VideoSource>) {
        *lock(&self.describe) = source.describe();
        *lock(&self.next_video) = Some(source);
        self.switch_waiting.store(true, Ordering::Release);
    }

    /// Feeds the track from `source` from its next 20 ms on (an audio pump).
    pub fn switch_audio(&self, source: Box<dyn AudioSource>) {
        *lock(&self.describe) = source.describe();
        *lock(&self.next_audio) = Some(source);
        self.switch_waiting.store(true, Ordering::Release);
    }

    /// Why the source stopped, if it has.
    pub fn failure(&self) -> Option<String> {
        lock(&self.failed).clone()
    }

    /// What the source is.
    pub fn describe(&self) -> String {
        lock(&self.describe).clone()
    }

    /// The level of what is sent now, 0 to 1 (audio).
    pub fn level(&self) -> f32 {
        f32::from_bits(self.level.load(Ordering::Relaxed))
    }

    /// A source waiting to take over, if any (checked without a lock most of the time).
    pub(super) fn take_video(&self) -> Option<Box<dyn VideoSource>> {
        self.switch_waiting
            .swap(false, Ordering::AcqRel)
            .then(|| lock(&self.next_video).take())
            .flatten()
    }

    /// Like [`PumpControl::take_video`], for audio.
    pub(super) fn take_audio(&self) -> Option<Box<dyn AudioSource>> {
        self.switch_waiting
            .swap(false, Ordering::AcqRel)
            .then(|| lock(&self.next_audio).take())
            .flatten()
    }

    /// Notes that the source failed (`Some`) or works again (`None`); logs the change.
    pub(super) fn set_failed(&self, why: Option<String>) {
        let mut failed = lock(&self.failed);
        match (&*failed, &why) {
            (None, Some(e)) => tracing::warn!("{} stopped: {e}", self.describe()),
            (Some(_), None) => tracing::info!("{} works again", self.describe()),
            _ => {}
        }
        *failed = why;
    }
}

/// How long a pump waits before asking a failed source again.
pub(super) const RETRY_FAILED: Duration = Duration::from_millis(200);

/// A running source: its samples and its controls. Dropping it stops the thread.
pub struct Pump {
    /// Where samples go out.
    pub samples: broadcast::Sender<EncodedSample>,
    /// Its controls.
    pub control: Arc<PumpControl>,
    /// What it is.
    pub describe: String,
}

impl Drop for Pump {
    fn drop(&mut self) {
        self.control.running.store(false, Ordering::Relaxed);
    }
}

impl Pump {
    /// Runs `body` on a thread of its own (`what` names it: "video" or "audio") with the
    /// sender of its samples and its controls, and returns the handle the mesh keeps. A
    /// thread that cannot start is logged: the track stays, silent, as with a dead source.
    pub(super) fn spawn(
        what: &str,
        capacity: usize,
        control: Arc<PumpControl>,
        body: impl FnOnce(broadcast::Sender<EncodedSample>, Arc<PumpControl>) + Send + 'static,
    ) -> Pump {
        let (tx, _) = broadcast::channel(capacity);
        let describe = control.describe();
        let (out, ctl) = (tx.clone(), Arc::clone(&control));
        let spawned = thread::Builder::new()
            .name(format!("{what}-pump"))
            .spawn(move || body(out, ctl));
        if let Err(e) = spawned {
            tracing::error!("cannot start the {what} thread: {e}");
        }
        Pump {
            samples: tx,
            control,
            describe,
        }
    }
}
