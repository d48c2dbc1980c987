//! The meeting's mesh: one [`super::link::PeerLink`] per remote participant, driven by the
//! signaling client, fed by shared local encoders, and observed through one [`MeshState`].
//! This is the handle ([`Mesh`]: subscribe to the state, send [`MeshCommand`]s); the task
//! behind it is [`super::driver`], the state's one owner.

use std::sync::Arc;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::driver::run;
use super::inbound::AudioTaps;
use super::local::start_video;
use super::meeting::Meeting;
use crate::media::frame::RgbFrame;
use crate::media::processing::{Features, Processing, ProcessingFigures};
use crate::sync::lock;

pub use super::command::MeshCommand;
pub use super::error::MeshError;
pub use super::setup::MeshConfig;
use super::setup::SourceViews;
pub use super::state::{MeshState, PeerState, SharedTerminal};

/// The handle: state to read, commands to send.
#[derive(Clone)]
pub struct Mesh {
    /// The meeting state as the driver last published it.
    meeting: watch::Receiver<MeshState>,
    commands: mpsc::UnboundedSender<MeshCommand>,
    /// The camera's controls (its self-view picture), when there is a camera; the driver
    /// sets it when a camera is chosen mid-meeting.
    views: SourceViews,
    /// The last second of audio from each peer.
    taps: AudioTaps,
}

impl Mesh {
    /// Joins and runs the mesh in the background.
    pub fn start(config: MeshConfig) -> (Mesh, JoinHandle<()>) {
        let meeting = Meeting::new(MeshState {
            mic: true,
            cam: true,
            chat_enabled: true,
            ..MeshState::default()
        });
        let (commands, rx) = mpsc::unbounded_channel();
        let camera_pump = config
            .camera
            .map(|s| start_video(s, config.fps, config.bitrate));
        let processing = Processing::new(config.processing);
        processing.set_far_end(config.playback.as_ref().map(|p| p.far_end()));
        let views = SourceViews {
            camera: Arc::default(),
            microphone: Arc::default(),
            processing,
        };
        *lock(&views.camera) = camera_pump.as_ref().map(|p| Arc::clone(&p.control));
        let taps = AudioTaps::default();
        let config = MeshConfig {
            camera: None,
            ..config
        };
        let subscription = meeting.subscribe();
        let task = tokio::spawn(run(
            config,
            camera_pump,
            views.clone(),
            meeting,
            Arc::clone(&taps),
            rx,
        ));
        let mesh = Mesh {
            meeting: subscription,
            commands,
            views,
            taps,
        };
        (mesh, task)
    }

    /// Sends a command.
    pub fn command(&self, command: MeshCommand) {
        let _ = self.commands.send(command);
    }

    /// A subscription to the meeting state: `changed().await` wakes after each change people
    /// can see, and `borrow_and_update()` reads it.
    pub fn subscribe(&self) -> watch::Receiver<MeshState> {
        self.meeting.clone()
    }

    /// Our own newest picture, mirrored, while the camera is on.
    pub fn self_view(&self) -> Option<Arc<RgbFrame>> {
        let camera = lock(&self.views.camera).clone();
        camera.and_then(|c| c.preview.lock().ok().and_then(|p| p.clone()))
    }

    /// The level of what our microphone sends now, 0 to 1 (0 while it is off).
    pub fn mic_level(&self) -> f32 {
        lock(&self.views.microphone)
            .as_ref()
            .map_or(0.0, |c| c.level())
    }

    /// The microphone's audio processing: what is on, and what it measured.
    pub fn audio_processing(&self) -> (Features, ProcessingFigures) {
        let p = &self.views.processing;
        (p.features(), p.figures())
    }

    /// Reads the state as it is now.
    pub fn read<T>(&self, f: impl FnOnce(&MeshState) -> T) -> T {
        f(&self.meeting.borrow())
    }

    /// The state's change counter.
    pub fn version(&self) -> u64 {
        self.meeting.borrow().version
    }

    /// The last second of audio decoded from `peer` (by id).
    pub fn recent_audio(&self, peer: &str) -> Vec<i16> {
        lock(&self.taps)
            .get(peer)
            .map(|t| t.iter().copied().collect())
            .unwrap_or_default()
    }
}
