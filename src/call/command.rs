//! What the person (keys) or a script asks of the meeting: [`MeshCommand`].

use crate::media::processing::Feature;
use crate::media::sources::{AudioSpec, VideoSpec};
use crate::share::TerminalSpec;

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
    /// The peers whose cameras are drawn (`None`: everyone's): through the SFU only their
    /// cameras are sent to us.
    View(Option<Vec<String>>),
    /// Leave the meeting.
    Leave,
}
