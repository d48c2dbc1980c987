//! What a meeting starts with ([`MeshConfig`]), and the views of our own sources that the
//! handle reads while the driver replaces the sources behind them ([`SourceViews`]).

use std::sync::{Arc, Mutex};

use super::local::PumpControl;
use crate::media::playback::Playback;
use crate::media::processing::{Features, Processing};
use crate::media::sources::ScreenFactory;
use crate::media::{AudioSource, VideoSource};
use crate::signaling::JoinParams;

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

/// The controls of our camera and microphone as the handle reads them (self view, level);
/// the driver fills them in, also when a source is chosen mid-meeting.
#[derive(Clone)]
pub(crate) struct SourceViews {
    pub(crate) camera: Arc<Mutex<Option<Arc<PumpControl>>>>,
    pub(crate) microphone: Arc<Mutex<Option<Arc<PumpControl>>>>,
    /// The microphone's audio processing: its settings and what it measured.
    pub(crate) processing: Arc<Processing>,
}
