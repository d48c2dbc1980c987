//! The meeting's mesh: one [`super::link::PeerLink`] per remote participant, driven by the
//! signaling client, fed by shared local encoders, and observed through one [`MeshState`].
//! This is the handle ([`Mesh`]: read the state, send [`MeshCommand`]s); the task behind it
//! is [`super::driver`]. Receivers and writers run as their own tasks and only update
//! counters in the state.

use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::driver::run;
use super::link::LinkError;
use super::local::{start_video, PumpControl};
use super::negotiation::Problem;
use super::tracks::{lock, AudioTaps};
use crate::media::frame::RgbFrame;
use crate::media::playback::Playback;
use crate::media::processing::{Feature, Features, Processing, ProcessingFigures};
use crate::media::sources::{AudioSpec, ScreenFactory, VideoSpec};
use crate::media::{AudioSource, VideoSource};
use crate::share::TerminalSpec;
use crate::signaling::JoinParams;

pub use super::state::{MeshState, PeerState, SharedTerminal};

/// What the mesh starts with.
pub struct MeshConfig {
    /// Server, room, name, secret.
    pub join: JoinParams,
    /// The camera (or a synthetic or file source); `None` sends no video.
    pub camera: Option<Box<dyn VideoSource>>,
    /// The microphone (or a tone or file); `None` sends no audio.
    pub microphone: Option<Box<dyn AudioSource>>,
    /// How to make the screen source when sharing starts.
    pub screen: Option<ScreenFactory>,
    /// Camera picture size, for sources opened mid-meeting.
    pub video_size: (usize, usize),
    /// Camera frame rate.
    pub fps: f64,
    /// Camera bitrate, bits a second.
    pub bitrate: u32,
    /// UDP addresses for the peer connections (see [`super::link::local_bind_addresses`]).
    pub bind: Vec<String>,
    /// STUN and TURN servers of our own, used besides the server's.
    pub ice_servers: Vec<termmeet_signaling::protocol::IceServer>,
    /// Where remote audio is played; `None` plays nothing (headless).
    pub playback: Option<Arc<Playback>>,
    /// Which audio processing a live microphone gets (all of it unless turned off).
    pub processing: Features,
}

/// Commands to the mesh, as keys and script lines give them.
#[derive(Clone, Debug, PartialEq)]
pub enum MeshCommand {
    /// Camera on or off.
    Cam(bool),
    /// Microphone on or off.
    Mic(bool),
    /// Screen share on or off.
    Screen(bool),
    /// Raise our hand.
    HandRaise,
    /// Lower our hand, or someone's (host) by id.
    HandLower(Option<String>),
    /// Send a chat message.
    Chat(String),
    /// Host: chat on or off.
    ChatEnabled(bool),
    /// Feed the camera track from another source (no renegotiation); `None` turns the
    /// camera off.
    UseCamera(VideoSpec),
    /// Feed the microphone track from another source (no renegotiation).
    UseMicrophone(AudioSpec),
    /// Share this screen source from now on (live when sharing).
    UseScreen(VideoSpec),
    /// Play remote audio on this speaker (`None`: the default; `Some("none")`: nothing).
    UseSpeaker(Option<String>),
    /// Share a terminal running this (`None`: stop sharing).
    ShareTerminal(Option<TerminalSpec>),
    /// Keys for a shared terminal: ours (`to: None`), or the one a peer shares and gave us
    /// control of.
    TerminalKeys {
        /// The sharer, or `None` for our own share.
        to: Option<String>,
        /// What the keys send.
        bytes: Vec<u8>,
    },
    /// Give control of our shared terminal to a participant (by id), or take it back.
    TerminalControl(Option<String>),
    /// Resize our shared terminal, columns by rows.
    TerminalResize(u16, u16),
    /// Turn one of the microphone's audio processing features on or off.
    AudioProcessing(Feature, bool),
    /// Leave the meeting.
    Leave,
}

/// A problem the mesh tells the person about.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MeshError {
    /// A link to a participant could not be made or changed.
    #[error("cannot connect to {name}: {source}")]
    Link {
        /// Who.
        name: String,
        /// What failed.
        source: LinkError,
    },
    /// Negotiation with a participant went wrong.
    #[error("{}", problem.of(name))]
    Negotiation {
        /// Who.
        name: String,
        /// What went wrong.
        problem: Problem,
    },
    /// The TURN relay gave no relay address.
    #[error("the TURN relay {urls} gave no relay address after {secs}s: its credentials were refused or it cannot be reached (check --turn-secret against the relay's static-auth-secret, or --turn-username/--turn-credential, and that UDP to it is open)")]
    NoRelay {
        /// The relay's URLs.
        urls: String,
        /// How long we waited.
        secs: u64,
    },
    /// A participant never connected.
    #[error("no connection with {name} after {secs}s: it never answered, or ICE failed")]
    NeverConnected {
        /// Who.
        name: String,
        /// How long we waited.
        secs: u64,
    },
    /// A message came for a participant we have no link with.
    #[error("{what} from {id}, who is not in the room")]
    UnknownPeer {
        /// The message.
        what: &'static str,
        /// The sender's id.
        id: String,
    },
    /// Sharing the screen failed.
    #[error("cannot share the screen: {0}")]
    Screen(String),
    /// A device could not be opened, or stopped.
    #[error("{0}")]
    Device(String),
    /// The signaling connection gave up.
    #[error("signaling stopped: {0}")]
    SignalingStopped(String),
}

/// The controls of our camera and microphone as the handle reads them (self view, level);
/// the driver fills them in, also when a source is chosen mid-meeting.
#[derive(Clone)]
pub(super) struct SourceViews {
    pub(super) camera: Arc<Mutex<Option<Arc<PumpControl>>>>,
    pub(super) microphone: Arc<Mutex<Option<Arc<PumpControl>>>>,
    /// The microphone's audio processing: its settings and what it measured.
    pub(super) processing: Arc<Processing>,
}

/// The handle: state to read, commands to send.
#[derive(Clone)]
pub struct Mesh {
    /// The shared state.
    pub state: Arc<Mutex<MeshState>>,
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
        let state = Arc::new(Mutex::new(MeshState {
            mic: true,
            cam: true,
            chat_enabled: true,
            ..MeshState::default()
        }));
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
        let task = tokio::spawn(run(
            config,
            camera_pump,
            views.clone(),
            Arc::clone(&state),
            Arc::clone(&taps),
            rx,
        ));
        let mesh = Mesh {
            state,
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

    /// Reads the state.
    pub fn read<T>(&self, f: impl FnOnce(&MeshState) -> T) -> T {
        f(&lock(&self.state))
    }

    /// The state's change counter: a copy is worth taking only when it moved.
    pub fn version(&self) -> u64 {
        lock(&self.state).version
    }

    /// The last second of audio decoded from `peer` (by id).
    pub fn recent_audio(&self, peer: &str) -> Vec<i16> {
        lock(&self.taps)
            .get(peer)
            .map(|t| t.iter().copied().collect())
            .unwrap_or_default()
    }
}
