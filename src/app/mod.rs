//! The one meeting state of the terminal client and the one place it changes:
//! [`App::update`] takes an [`Action`] and returns the [`Effect`]s for the drivers to carry
//! out. Nothing here awaits or does I/O, so tests drive it with scripted actions.
//!
//! Where the keys go is one [`Mode`]; what each key does, and what the help says of it, is
//! one table in [`keys`]. The rest is split by what it is about: the chat input, the device
//! picker, the side panels, hands and the host, shared terminals, push-to-talk, the active
//! speaker, the bell, and the sound processing.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use crossterm::event::{KeyEvent, KeyEventKind};

use crate::call::mesh::{MeshCommand, MeshState};
use crate::media::processing::Features;
use crate::media::RgbFrame;
use crate::share::TerminalSpec;

mod chat;
pub mod devices;
mod hands;
pub mod invite;
pub mod keys;
pub mod mode;
mod notify;
mod panels;
mod picker;
mod processing;
mod push_to_talk;
mod speaker;
mod terminal;
#[cfg(test)]
mod tests;

pub use chat::MAX_INPUT;
use devices::{DevicePicker, FoundDevices};
pub use invite::Invite;
pub use mode::{Mode, ModeKind};
pub use picker::DEVICES_REFRESH;
pub use processing::ProcessingView;
pub use push_to_talk::{PushToTalk, PTT_REPEAT_TIMEOUT};
pub use speaker::SPEAKER_HOLD;
pub use terminal::{TerminalShown, ESC_WAIT};

/// Side panels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Panel {
    /// Participants and their state.
    Peers,
    /// Connection quality per peer.
    Quality,
    /// The hand queue.
    Hands,
    /// Chat.
    Chat,
}

/// How the video area is laid out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// Every camera in a grid.
    Grid,
    /// The loudest (or first) participant large, the others in a strip.
    Speaker,
}

/// Everything that can happen to the app.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// A key press.
    Key(KeyEvent),
    /// The meeting as the mesh sees it now.
    Meeting(Box<MeshState>),
    /// Bytes a second written to the terminal, measured by the driver.
    TerminalRate(u64),
    /// A message for the status bar (device fallbacks, server address).
    Notice(String),
    /// The terminal's new size.
    Resize(u16, u16),
    /// Our own newest camera picture (mirrored), or none while the camera is off.
    SelfView(Option<Arc<RgbFrame>>),
    /// The devices found for the picker.
    Devices(FoundDevices),
    /// The level of what our microphone sends now, 0 to 1.
    MicLevel(f32),
    /// What the microphone's audio processing does now.
    Processing(ProcessingView),
    /// The space bar, for push-to-talk: down (also each key repeat) or up, at this time.
    Space {
        /// Down (true) or released (false).
        down: bool,
        /// When.
        at: Instant,
    },
    /// Time passes (push-to-talk ends without release events).
    Tick(Instant),
    /// The terminal gained (true) or lost focus.
    Focus(bool),
    /// How the terminal reports space's release, once the driver has set up the keyboard.
    PushToTalk(PushToTalk),
    /// What others need to join, once this process serves the meeting (or none).
    Invite(Option<Invite>),
}

/// What the drivers must do after an update.
#[derive(Clone, Debug, PartialEq)]
pub enum Effect {
    /// Send this to the mesh.
    Mesh(MeshCommand),
    /// Ring the bell (and notify the desktop, where enabled): something needs the person
    /// while the terminal is not focused.
    Notify {
        /// Short: who or what.
        title: String,
        /// What happened.
        body: String,
    },
    /// Find the devices for the picker (blocking: off the UI thread), then send
    /// [`Action::Devices`].
    FindDevices,
    /// Leave and exit.
    Quit,
}

/// The terminal client's state. The drawing code and the terminal driver in this crate read
/// the fields; everyone else goes through [`App::update`] and the read accessors.
#[derive(Clone, Debug)]
pub struct App {
    /// The room's name.
    pub(crate) room: String,
    /// The meeting, as last seen.
    pub(crate) meeting: MeshState,
    /// Panels shown.
    pub(crate) panels: Vec<Panel>,
    /// The panel with keyboard focus (Tab moves it).
    pub(crate) focus: Option<Panel>,
    /// Grid or speaker layout.
    pub(crate) layout: Layout,
    /// Where the keys go, with what that mode alone holds.
    mode: Mode,
    /// The chat input line.
    pub(crate) input: String,
    /// Notices for the status bar, newest last.
    pub(crate) notices: Vec<String>,
    /// What others need to join, when this process serves the meeting (shown in the status
    /// bar while nobody else is here, and in `?`).
    pub(crate) invite: Option<Invite>,
    /// Bytes a second written to the terminal.
    pub(crate) tty_rate: u64,
    /// Terminal size.
    pub(crate) size: (u16, u16),
    /// Our own camera, mirrored, for the small self-view tile.
    pub(crate) self_view: Option<Arc<RgbFrame>>,
    /// Local time's offset from UTC in seconds, for chat times (the terminal driver sets it;
    /// 0 shows UTC).
    pub(crate) utc_offset_secs: i64,
    /// The peer highlighted in the peers panel (by id), for the host's `l`.
    pub(crate) selected_peer: Option<String>,
    /// The level of what our microphone sends, 0 to 1.
    pub(crate) mic_level: f32,
    /// What the microphone's audio processing does, once the meeting says.
    pub(crate) processing: Option<ProcessingView>,
    /// The features `a` turned off, to turn back on.
    processing_before: Option<Features>,
    /// Whom the speaker layout shows large, and when they were last heard.
    speaker: Option<(String, Instant)>,
    /// When each peer was last heard speaking: who gets a tile when not all fit.
    pub(crate) spoke: HashMap<String, Instant>,
    /// How push-to-talk learns of space's release.
    pub(crate) ptt: PushToTalk,
    /// While talking with space held: when space was last seen down.
    pub(crate) talking: Option<Instant>,
    /// Whether the terminal has focus (as its focus events say; assumed until told).
    pub(crate) focused: bool,
    /// Video frames a second actually drawn (the terminal driver measures it).
    pub(crate) draw_fps: f64,
    /// What the picture was made cheaper to, when the terminal was too slow for it ("half
    /// blocks, 256 colours"); shown in the status bar.
    pub(crate) thinned: Option<String>,
    /// The graphics protocol video tiles are drawn with now (none: cells).
    pub(crate) pixels: Option<String>,
    /// Media files from the config that the device picker offers.
    pub(crate) clips: Vec<PathBuf>,
    /// Rows the shared terminal's view is moved from where the cursor puts it (PgUp/PgDn).
    pub(crate) terminal_pan: i32,
    /// What `S` shares (`--share-terminal`, `--share-size`).
    pub(crate) share_spec: TerminalSpec,
    /// A share was asked for and has not shown up yet (keys wait for it).
    share_requested: bool,
}

impl App {
    /// A new app for `room`.
    pub fn new(room: &str) -> App {
        App {
            room: room.to_string(),
            meeting: MeshState::default(),
            panels: vec![Panel::Peers, Panel::Hands, Panel::Chat],
            focus: None,
            layout: Layout::Grid,
            mode: Mode::Meeting,
            input: String::new(),
            notices: Vec::new(),
            invite: None,
            tty_rate: 0,
            size: (80, 24),
            self_view: None,
            utc_offset_secs: 0,
            selected_peer: None,
            mic_level: 0.0,
            processing: None,
            processing_before: None,
            speaker: None,
            spoke: HashMap::new(),
            ptt: PushToTalk::Repeat,
            talking: None,
            focused: true,
            draw_fps: 0.0,
            thinned: None,
            pixels: None,
            clips: Vec::new(),
            terminal_pan: 0,
            share_spec: TerminalSpec::shell(),
            share_requested: false,
        }
    }

    /// The one place state changes.
    pub fn update(&mut self, action: Action) -> Vec<Effect> {
        match action {
            Action::Meeting(m) => self.meeting_changed(*m),
            Action::Space { down: true, at } => self.space_down(at),
            Action::Space { down: false, .. } => self.stop_talking(),
            Action::Tick(now) => self.tick(now),
            Action::Key(key) if key.kind != KeyEventKind::Release => self.on_key(key),
            other => {
                self.record(other);
                Vec::new()
            }
        }
    }

    /// The actions that only change what is shown: each is kept as it comes.
    fn record(&mut self, action: Action) {
        match action {
            Action::Focus(focused) => self.focused = focused,
            Action::MicLevel(level) => self.mic_level = level,
            Action::Processing(view) => {
                let was = self.processing.is_some_and(|p| p.not_converged);
                if view.not_converged && !was {
                    self.notice(processing::NOT_CONVERGED.into());
                }
                self.processing = Some(view);
            }
            Action::Devices(found) => self.devices_found(&found),
            Action::TerminalRate(rate) => self.tty_rate = rate,
            Action::Notice(text) => self.notice(text),
            Action::Resize(w, h) => self.size = (w, h),
            Action::SelfView(view) => self.self_view = view,
            Action::PushToTalk(how) => self.ptt = how,
            Action::Invite(invite) => self.invite = invite,
            // Handled by `update`; a key's release does nothing.
            Action::Meeting(_) | Action::Space { .. } | Action::Tick(_) | Action::Key(_) => {}
        }
    }

    /// The meeting's next state: notices and calls for attention from what changed, then
    /// what depends on who is here and what is shared.
    fn meeting_changed(&mut self, next: MeshState) -> Vec<Effect> {
        self.note_host_change(&next);
        let calls = self.calls_for_attention(&next);
        self.meeting = next;
        self.forget_gone_selection();
        self.follow_terminals();
        calls
    }

    /// Time passes: a held Esc goes to the program, the open picker looks for devices
    /// again, and push-to-talk without release events ends.
    fn tick(&mut self, now: Instant) -> Vec<Effect> {
        let mut out = self.release_esc(now);
        out.extend(self.refresh_devices(now));
        out.extend(self.end_talking_after_repeats(now));
        out
    }

    /// A notice for the status bar; the oldest goes beyond five.
    fn notice(&mut self, text: String) {
        self.notices.push(text);
        if self.notices.len() > 5 {
            self.notices.remove(0);
        }
    }

    /// Our own id.
    pub fn my_id(&self) -> Option<&str> {
        self.meeting.me.as_ref().map(|m| m.id.as_str())
    }

    /// The meeting, as last seen.
    pub fn meeting(&self) -> &MeshState {
        &self.meeting
    }

    /// Where the keys go.
    pub fn mode(&self) -> &Mode {
        &self.mode
    }

    /// Whether keys go to the chat input.
    pub fn typing(&self) -> bool {
        self.mode == Mode::Chat
    }

    /// The device picker, while open (empty while the devices are being found).
    pub fn picker(&self) -> Option<&DevicePicker> {
        match &self.mode {
            Mode::Picker { picker, .. } => Some(picker),
            _ => None,
        }
    }

    /// Whether the help overlay is up.
    pub fn help_shown(&self) -> bool {
        self.mode == Mode::Help
    }

    /// Whether `q` asked to confirm leaving.
    pub fn confirm_quit(&self) -> bool {
        self.mode == Mode::ConfirmQuit
    }

    /// Whether keys go to the shared terminal shown.
    pub fn terminal_focus(&self) -> bool {
        matches!(self.mode, Mode::Terminal { .. })
    }

    /// The chat input line.
    pub fn input(&self) -> &str {
        &self.input
    }

    /// Notices for the status bar, newest last.
    pub fn notices(&self) -> &[String] {
        &self.notices
    }

    /// The panel with keyboard focus.
    pub fn focus(&self) -> Option<Panel> {
        self.focus
    }

    /// The peer highlighted in the peers panel.
    pub fn selected_peer(&self) -> Option<&str> {
        self.selected_peer.as_deref()
    }

    /// What the microphone's audio processing does, once the meeting says.
    pub fn processing(&self) -> Option<ProcessingView> {
        self.processing
    }
}
