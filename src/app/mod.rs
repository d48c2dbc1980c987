//! The one meeting state of the terminal client and the one place it changes:
//! [`App::update`] takes an [`Action`] and returns the [`Effect`]s for the drivers to carry
//! out. Nothing here awaits or does I/O, so tests drive it with scripted actions.

use std::time::Duration;

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use crate::call::mesh::{MeshCommand, MeshState, SharedTerminal};
use crate::media::processing::{Feature, Features, ProcessingFigures};
use crate::share::keys::key_bytes;
use crate::share::screen::MAX_SIZE;
use crate::share::TerminalSpec;

pub mod devices;
pub mod invite;

use devices::{DevicePicker, FoundDevices};
pub use invite::Invite;

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
    SelfView(Option<std::sync::Arc<crate::media::RgbFrame>>),
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
        at: std::time::Instant,
    },
    /// Time passes (push-to-talk ends without release events).
    Tick(std::time::Instant),
    /// The terminal gained (true) or lost focus.
    Focus(bool),
}

/// How the terminal tells us that space was released.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PushToTalk {
    /// Key-release events (the kitty keyboard protocol).
    Release,
    /// Key repeats: talking ends [`PTT_REPEAT_TIMEOUT`] after the last one.
    Repeat,
}

/// Without release events, talking ends this long after the last key repeat (longer than
/// a terminal's usual delay before repeats start).
pub const PTT_REPEAT_TIMEOUT: Duration = Duration::from_millis(700);

/// The microphone's audio processing as the UI shows it: what is on, and the echo
/// canceller's figures rounded to what is drawn (so a change is worth a redraw).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProcessingView {
    /// The features on.
    pub features: Features,
    /// Whether a live microphone is processed (a tone or a file is not).
    pub active: bool,
    /// Echo return loss enhancement, whole dB.
    pub erle_db: Option<i32>,
    /// The echo's delay, ms.
    pub delay_ms: Option<i32>,
}

impl ProcessingView {
    /// The view of what the mesh reports.
    pub fn of(features: Features, figures: &ProcessingFigures) -> ProcessingView {
        ProcessingView {
            features,
            active: figures.active,
            erle_db: figures.erle_db.map(|e| e.round() as i32),
            delay_ms: figures.delay_ms,
        }
    }

    /// What is on, for people: "sound: echo noise gain", or how to turn it on.
    pub fn describe(&self) -> String {
        if !self.features.any() {
            "sound processing off (a: on)".into()
        } else if !self.active {
            format!("sound: {} (idle)", self.features.describe())
        } else {
            format!("sound: {}", self.features.describe())
        }
    }

    /// What the echo canceller measured, while it runs: "echo -24 dB, 64 ms".
    pub fn figures(&self) -> Option<String> {
        if !(self.active && self.features.echo) {
            return None;
        }
        let (erle, delay) = (self.erle_db?, self.delay_ms?);
        Some(format!("echo -{erle} dB, {delay} ms"))
    }
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

/// The terminal client's state.
#[derive(Clone, Debug)]
pub struct App {
    /// The room's name.
    pub room: String,
    /// The meeting, as last seen.
    pub meeting: MeshState,
    /// Panels shown.
    pub panels: Vec<Panel>,
    /// The panel with keyboard focus (Tab moves it).
    pub focus: Option<Panel>,
    /// Grid or speaker layout.
    pub layout: Layout,
    /// Whether the help overlay is up.
    pub help: bool,
    /// Whether `q` asked to confirm leaving.
    pub confirm_quit: bool,
    /// Whether keys go to the chat input.
    pub typing: bool,
    /// The chat input line.
    pub input: String,
    /// Notices for the status bar, newest last.
    pub notices: Vec<String>,
    /// What others need to join, when this process serves the meeting (shown in the status
    /// bar while nobody else is here, and in `?`).
    pub invite: Option<Invite>,
    /// Bytes a second written to the terminal.
    pub tty_rate: u64,
    /// Terminal size.
    pub size: (u16, u16),
    /// Our own camera, mirrored, for the small self-view tile.
    pub self_view: Option<std::sync::Arc<crate::media::RgbFrame>>,
    /// Local time's offset from UTC in seconds, for chat times (the terminal driver sets it;
    /// 0 shows UTC).
    pub utc_offset_secs: i64,
    /// The device picker, while open (empty while the devices are being found).
    pub picker: Option<DevicePicker>,
    /// The peer highlighted in the peers panel (by id), for the host's `l`.
    pub selected_peer: Option<String>,
    /// The level of what our microphone sends, 0 to 1.
    pub mic_level: f32,
    /// What the microphone's audio processing does, once the meeting says.
    pub processing: Option<ProcessingView>,
    /// The features `a` turned off, to turn back on.
    processing_before: Option<Features>,
    /// Whom the speaker layout shows large, and when they were last heard.
    pub speaker: Option<(String, std::time::Instant)>,
    /// How push-to-talk learns of space's release.
    pub ptt: PushToTalk,
    /// While talking with space held: when space was last seen down.
    pub talking: Option<std::time::Instant>,
    /// Whether the terminal has focus (as its focus events say; assumed until told).
    pub focused: bool,
    /// Video frames a second actually drawn (the terminal driver measures it).
    pub draw_fps: f64,
    /// Media files from the config that the device picker offers.
    pub clips: Vec<std::path::PathBuf>,
    /// Whether keys go to the shared terminal shown (ours, or one we were given control of).
    pub terminal_focus: bool,
    /// An Esc typed into the terminal and held back: a second one soon after leaves the
    /// terminal, anything else (or [`ESC_WAIT`] passing) sends it to the program. The time
    /// is that of the first tick after it.
    pub esc_held: Option<Option<std::time::Instant>>,
    /// Rows the shared terminal's view is moved from where the cursor puts it (PgUp/PgDn).
    pub terminal_pan: i32,
    /// What `S` shares (`--share-terminal`, `--share-size`).
    pub share_spec: TerminalSpec,
    /// A share was asked for and has not shown up yet (focus waits for it).
    pub share_requested: bool,
    /// While the device picker is open: when the devices were last asked for.
    pub devices_found_at: Option<std::time::Instant>,
}

/// The shared terminal the large tile shows.
#[derive(Clone, Debug, PartialEq)]
pub struct TerminalShown {
    /// Who shares it: a participant id, or `None` for our own.
    pub sharer: Option<String>,
    /// The terminal.
    pub terminal: SharedTerminal,
}

/// How often the open device picker finds the devices again.
pub const DEVICES_REFRESH: Duration = Duration::from_secs(2);

/// An Esc typed into a shared terminal reaches the program this long after it was typed,
/// unless a second Esc (which returns the keys to the meeting) comes first.
pub const ESC_WAIT: Duration = Duration::from_millis(300);

/// How long the speaker layout stays on someone who fell silent before it follows another.
pub const SPEAKER_HOLD: Duration = Duration::from_secs(2);

/// The longest chat message the input takes (the server's limit).
pub const MAX_INPUT: usize = 2000;

impl App {
    /// A new app for `room`.
    pub fn new(room: &str) -> App {
        App {
            room: room.to_string(),
            meeting: MeshState::default(),
            panels: vec![Panel::Peers, Panel::Hands, Panel::Chat],
            focus: None,
            layout: Layout::Grid,
            help: false,
            confirm_quit: false,
            typing: false,
            input: String::new(),
            notices: Vec::new(),
            invite: None,
            tty_rate: 0,
            size: (80, 24),
            self_view: None,
            utc_offset_secs: 0,
            picker: None,
            selected_peer: None,
            mic_level: 0.0,
            processing: None,
            processing_before: None,
            speaker: None,
            ptt: PushToTalk::Repeat,
            talking: None,
            focused: true,
            draw_fps: 0.0,
            clips: Vec::new(),
            terminal_focus: false,
            esc_held: None,
            terminal_pan: 0,
            share_spec: TerminalSpec::shell(),
            share_requested: false,
            devices_found_at: None,
        }
    }

    /// The shared terminal to show large: our own, else the first peer's.
    pub fn shown_terminal(&self) -> Option<TerminalShown> {
        if let Some(t) = &self.meeting.my_terminal {
            return Some(TerminalShown {
                sharer: None,
                terminal: t.clone(),
            });
        }
        self.meeting.peers.iter().find_map(|(id, p)| {
            p.terminal.as_ref().map(|t| TerminalShown {
                sharer: Some(id.clone()),
                terminal: t.clone(),
            })
        })
    }

    /// Whether our keys may go into `shown`: our own share, or one whose sharer gave us
    /// control.
    pub fn can_type_into(&self, shown: &TerminalShown) -> bool {
        match &shown.sharer {
            None => true,
            Some(_) => {
                shown.terminal.holder.is_some() && shown.terminal.holder.as_deref() == self.my_id()
            }
        }
    }

    /// Keys typed while the shared terminal has focus: each goes to the program as a
    /// terminal would send it; Esc twice in a row returns to the meeting (a single Esc goes
    /// to the program [`ESC_WAIT`] later, or with the next key).
    fn on_terminal_key(&mut self, key: KeyEvent) -> Vec<Effect> {
        let Some(shown) = self.shown_terminal().filter(|s| self.can_type_into(s)) else {
            self.terminal_focus = false;
            self.esc_held = None;
            return self.on_key(key);
        };
        let esc = key.code == KeyCode::Esc;
        // Two Escs read together arrive as Alt+Esc.
        if esc && (key.modifiers.contains(KeyModifiers::ALT) || self.esc_held.is_some()) {
            self.esc_held = None;
            self.terminal_focus = false;
            return Vec::new();
        }
        if esc && key.modifiers.is_empty() {
            self.esc_held = Some(None);
            return Vec::new();
        }
        let mut bytes = Vec::new();
        if self.esc_held.take().is_some() {
            bytes.push(0x1b);
        }
        bytes.extend(key_bytes(&key).unwrap_or_default());
        if bytes.is_empty() {
            return Vec::new();
        }
        vec![Effect::Mesh(MeshCommand::TerminalKeys {
            to: shown.sharer,
            bytes,
        })]
    }

    /// While the device picker is open, the devices are found again every
    /// [`DEVICES_REFRESH`], so one plugged in or out shows up.
    fn refresh_devices(&mut self, now: std::time::Instant) -> Vec<Effect> {
        if self.picker.is_none() {
            self.devices_found_at = None;
            return Vec::new();
        }
        match self.devices_found_at {
            None => {
                self.devices_found_at = Some(now);
                Vec::new()
            }
            Some(t) if now.saturating_duration_since(t) >= DEVICES_REFRESH => {
                self.devices_found_at = Some(now);
                vec![Effect::FindDevices]
            }
            Some(_) => Vec::new(),
        }
    }

    /// A held Esc that was not followed by another in time goes to the program.
    fn release_esc(&mut self, now: std::time::Instant) -> Vec<Effect> {
        match self.esc_held {
            Some(None) => {
                self.esc_held = Some(Some(now));
                Vec::new()
            }
            Some(Some(t)) if now.saturating_duration_since(t) >= ESC_WAIT => {
                self.esc_held = None;
                match self.shown_terminal().filter(|s| self.can_type_into(s)) {
                    Some(shown) if self.terminal_focus => {
                        vec![Effect::Mesh(MeshCommand::TerminalKeys {
                            to: shown.sharer,
                            bytes: vec![0x1b],
                        })]
                    }
                    _ => Vec::new(),
                }
            }
            _ => Vec::new(),
        }
    }

    /// `S`: share a terminal, or stop sharing it.
    fn toggle_terminal_share(&mut self) -> Vec<Effect> {
        if self.meeting.my_terminal.is_some() {
            self.terminal_focus = false;
            vec![Effect::Mesh(MeshCommand::ShareTerminal(None))]
        } else {
            self.terminal_focus = true;
            self.share_requested = true;
            self.esc_held = None;
            self.terminal_pan = 0;
            vec![Effect::Mesh(MeshCommand::ShareTerminal(Some(
                self.share_spec.clone(),
            )))]
        }
    }

    /// `K`: take the keyboard back from whoever holds it, or give it to the participant
    /// chosen in the peers panel.
    fn toggle_terminal_control(&mut self) -> Vec<Effect> {
        let Some(mine) = &self.meeting.my_terminal else {
            self.notice("share a terminal first (S), then give its keyboard with K".into());
            return Vec::new();
        };
        if mine.holder.is_some() {
            return vec![Effect::Mesh(MeshCommand::TerminalControl(None))];
        }
        match self.selected_peer.clone() {
            Some(id) => vec![Effect::Mesh(MeshCommand::TerminalControl(Some(id)))],
            None => {
                self.notice(
                    "choose someone in the peers panel first (Tab, then ↑ ↓), then K".into(),
                );
                Vec::new()
            }
        }
    }

    fn toggle_panel(&mut self, panel: Panel) {
        if let Some(i) = self.panels.iter().position(|p| *p == panel) {
            self.panels.remove(i);
            if self.focus == Some(panel) {
                self.focus = None;
            }
        } else {
            self.panels.push(panel);
        }
    }

    /// The one place state changes.
    pub fn update(&mut self, action: Action) -> Vec<Effect> {
        match action {
            Action::Meeting(m) => {
                self.note_host_change(&m);
                let calls = self.calls_for_attention(&m);
                self.meeting = *m;
                if self
                    .selected_peer
                    .as_ref()
                    .is_some_and(|id| !self.meeting.peers.contains_key(id))
                {
                    self.selected_peer = None;
                }
                if self.meeting.my_terminal.is_some() {
                    self.share_requested = false;
                }
                if self.terminal_focus
                    && !self.share_requested
                    && !self
                        .shown_terminal()
                        .is_some_and(|t| self.can_type_into(&t))
                {
                    self.terminal_focus = false;
                    self.esc_held = None;
                }
                if self.shown_terminal().is_none() {
                    self.terminal_pan = 0;
                }
                calls
            }
            Action::Focus(focused) => {
                self.focused = focused;
                Vec::new()
            }
            Action::Space { down: true, at } => {
                if self.typing || self.picker.is_some() || self.confirm_quit || self.terminal_focus
                {
                    return self.on_key(KeyEvent::from(KeyCode::Char(' ')));
                }
                if self.talking.is_some() {
                    self.talking = Some(at);
                    Vec::new()
                } else if !self.meeting.mic {
                    // Hold space to talk while the microphone is off.
                    self.talking = Some(at);
                    vec![Effect::Mesh(MeshCommand::Mic(true))]
                } else {
                    Vec::new()
                }
            }
            Action::Space { down: false, .. } => self.stop_talking(),
            Action::Tick(now) => {
                let mut out = self.release_esc(now);
                out.extend(self.refresh_devices(now));
                out.extend(match (self.ptt, self.talking) {
                    (PushToTalk::Repeat, Some(last))
                        if now.saturating_duration_since(last) >= PTT_REPEAT_TIMEOUT =>
                    {
                        self.stop_talking()
                    }
                    _ => Vec::new(),
                });
                out
            }
            Action::MicLevel(level) => {
                self.mic_level = level;
                Vec::new()
            }
            Action::Processing(view) => {
                self.processing = Some(view);
                Vec::new()
            }
            Action::Devices(found) => {
                if let Some(old) = &self.picker {
                    // Found again while open (devices come and go): the highlight stays on
                    // the same choice when it is still there.
                    let was = old.current().map(|c| c.label.clone());
                    let mut picker = DevicePicker::new(&found, &self.clips);
                    if let Some(i) =
                        was.and_then(|l| picker.choices.iter().position(|c| c.label == l))
                    {
                        picker.selected = i;
                    }
                    self.picker = Some(picker);
                }
                Vec::new()
            }
            Action::TerminalRate(r) => {
                self.tty_rate = r;
                Vec::new()
            }
            Action::Notice(n) => {
                self.notice(n);
                Vec::new()
            }
            Action::Resize(w, h) => {
                self.size = (w, h);
                Vec::new()
            }
            Action::SelfView(v) => {
                self.self_view = v;
                Vec::new()
            }
            Action::Key(key) if key.kind != KeyEventKind::Release => self.on_key(key),
            Action::Key(_) => Vec::new(),
        }
    }

    fn on_key(&mut self, key: KeyEvent) -> Vec<Effect> {
        if self.terminal_focus && !self.confirm_quit {
            return self.on_terminal_key(key);
        }
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        if ctrl && key.code == KeyCode::Char('c') {
            return vec![Effect::Mesh(MeshCommand::Leave), Effect::Quit];
        }
        if self.confirm_quit {
            self.confirm_quit = false;
            return match key.code {
                KeyCode::Char('y' | 'Y' | 'q') | KeyCode::Enter => {
                    vec![Effect::Mesh(MeshCommand::Leave), Effect::Quit]
                }
                _ => Vec::new(),
            };
        }
        if self.typing {
            return self.on_typing_key(key);
        }
        if self.picker.is_some() {
            return self.on_picker_key(key);
        }
        if self.help && key.code != KeyCode::Char('q') {
            // Any key closes help.
            self.help = false;
            if matches!(key.code, KeyCode::Esc | KeyCode::Char('?')) {
                return Vec::new();
            }
        }
        let m = &self.meeting;
        match key.code {
            KeyCode::Char('m') => vec![Effect::Mesh(MeshCommand::Mic(!m.mic))],
            KeyCode::Char('a') => self.toggle_processing(),
            KeyCode::Char('v') => vec![Effect::Mesh(MeshCommand::Cam(!m.cam))],
            KeyCode::Char('s') => vec![Effect::Mesh(MeshCommand::Screen(!m.screen))],
            KeyCode::Char('h') => {
                let me = m.me.as_ref().map(|y| y.id.clone()).unwrap_or_default();
                if m.hands.contains(&me) {
                    vec![Effect::Mesh(MeshCommand::HandLower(None))]
                } else {
                    vec![Effect::Mesh(MeshCommand::HandRaise)]
                }
            }
            KeyCode::Char('c') => {
                if !self.panels.contains(&Panel::Chat) {
                    self.panels.push(Panel::Chat);
                }
                self.focus = Some(Panel::Chat);
                self.typing = true;
                Vec::new()
            }
            KeyCode::Char('w') => {
                self.layout = if self.layout == Layout::Grid {
                    Layout::Speaker
                } else {
                    Layout::Grid
                };
                Vec::new()
            }
            KeyCode::Char('t') => {
                self.toggle_panel(Panel::Quality);
                Vec::new()
            }
            KeyCode::Char('p') => {
                self.toggle_panel(Panel::Peers);
                Vec::new()
            }
            KeyCode::Char('H') => {
                self.toggle_panel(Panel::Hands);
                Vec::new()
            }
            KeyCode::Tab => {
                self.focus = match self
                    .focus
                    .and_then(|f| self.panels.iter().position(|p| *p == f))
                {
                    Some(i) if i + 1 < self.panels.len() => Some(self.panels[i + 1]),
                    Some(_) => None,
                    None => self.panels.first().copied(),
                };
                Vec::new()
            }
            KeyCode::Enter if self.focus == Some(Panel::Chat) => {
                self.typing = true;
                Vec::new()
            }
            KeyCode::Enter
                if self
                    .shown_terminal()
                    .is_some_and(|t| self.can_type_into(&t)) =>
            {
                self.terminal_focus = true;
                self.esc_held = None;
                Vec::new()
            }
            KeyCode::Char('S') => self.toggle_terminal_share(),
            KeyCode::Char('K') => self.toggle_terminal_control(),
            KeyCode::PageUp if self.shown_terminal().is_some() => {
                self.terminal_pan = (self.terminal_pan - 10).max(-i32::from(MAX_SIZE.1));
                Vec::new()
            }
            KeyCode::PageDown if self.shown_terminal().is_some() => {
                self.terminal_pan = (self.terminal_pan + 10).min(i32::from(MAX_SIZE.1));
                Vec::new()
            }
            KeyCode::Char('?') => {
                self.help = !self.help;
                Vec::new()
            }
            KeyCode::Char('d') => {
                self.picker = Some(DevicePicker {
                    choices: Vec::new(),
                    selected: 0,
                });
                vec![Effect::FindDevices]
            }
            KeyCode::Up | KeyCode::Char('k') if self.focus == Some(Panel::Peers) => {
                self.move_selection(-1);
                Vec::new()
            }
            KeyCode::Down | KeyCode::Char('j') if self.focus == Some(Panel::Peers) => {
                self.move_selection(1);
                Vec::new()
            }
            KeyCode::Char('l') => {
                self.host_only("lower a hand", |app| match app.selected_peer.clone() {
                    Some(id) if app.meeting.hands.contains(&id) => {
                        vec![Effect::Mesh(MeshCommand::HandLower(Some(id)))]
                    }
                    Some(_) => {
                        app.notice("their hand is not raised".into());
                        Vec::new()
                    }
                    None => {
                        app.notice(
                            "choose someone in the peers panel first (Tab, then ↑ ↓)".into(),
                        );
                        Vec::new()
                    }
                })
            }
            KeyCode::Char('L') => self.host_only("lower every hand", |app| {
                let me = app.my_id().unwrap_or_default().to_string();
                app.meeting
                    .hands
                    .iter()
                    .map(|id| Effect::Mesh(MeshCommand::HandLower((*id != me).then(|| id.clone()))))
                    .collect()
            }),
            KeyCode::Char('C') => self.host_only("turn chat off or on", |app| {
                vec![Effect::Mesh(MeshCommand::ChatEnabled(
                    !app.meeting.chat_enabled,
                ))]
            }),
            KeyCode::Char('q') => {
                self.help = false;
                self.confirm_quit = true;
                Vec::new()
            }
            KeyCode::Esc => {
                self.focus = None;
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    fn on_typing_key(&mut self, key: KeyEvent) -> Vec<Effect> {
        // Esc and the next key arriving in one read (a fast typist, a slow SSH link) reach us as
        // Alt+key: that is Esc, which closes the input, then the key itself.
        if key.modifiers.contains(KeyModifiers::ALT) && matches!(key.code, KeyCode::Char(_)) {
            self.typing = false;
            return self.on_key(KeyEvent::new(
                key.code,
                key.modifiers.difference(KeyModifiers::ALT),
            ));
        }
        match key.code {
            KeyCode::Esc => {
                self.typing = false;
                Vec::new()
            }
            KeyCode::Enter => {
                let text = self.input.trim().to_string();
                self.input.clear();
                if text.is_empty() {
                    Vec::new()
                } else {
                    vec![Effect::Mesh(MeshCommand::Chat(text))]
                }
            }
            KeyCode::Backspace => {
                self.input.pop();
                Vec::new()
            }
            KeyCode::Char(c) if !c.is_control() && self.input.chars().count() < MAX_INPUT => {
                self.input.push(c);
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    /// `a`: every audio processing feature off, or back to what was on before (all of them
    /// when nothing was).
    fn toggle_processing(&mut self) -> Vec<Effect> {
        let now = self.processing.map(|p| p.features).unwrap_or_default();
        let next = if now.any() {
            self.processing_before = Some(now);
            Features {
                echo: false,
                noise: false,
                gain: false,
            }
        } else {
            self.processing_before.take().unwrap_or_default()
        };
        if let Some(view) = &mut self.processing {
            view.features = next;
        }
        Feature::ALL
            .iter()
            .map(|f| Effect::Mesh(MeshCommand::AudioProcessing(*f, next.get(*f))))
            .collect()
    }

    /// Follows whoever is talking for the speaker layout: the loudest peer who speaks takes
    /// the large tile once the one there has been silent for [`SPEAKER_HOLD`], so two
    /// people talking over each other do not make it flicker. Returns whether it changed.
    pub fn follow_speaker(&mut self, now: std::time::Instant) -> bool {
        let peers = &self.meeting.peers;
        let loudest = peers
            .iter()
            .filter(|(_, p)| p.speaking())
            .max_by(|a, b| a.1.audio_level.total_cmp(&b.1.audio_level))
            .map(|(id, _)| id.clone());
        let before = self.speaker.as_ref().map(|(id, _)| id.clone());
        match (&mut self.speaker, loudest) {
            (Some((id, heard)), _) if peers.get(id.as_str()).is_some_and(|p| p.speaking()) => {
                *heard = now;
            }
            (Some((id, heard)), Some(next))
                if !peers.contains_key(id.as_str())
                    || now.saturating_duration_since(*heard) >= SPEAKER_HOLD =>
            {
                *id = next;
                *heard = now;
            }
            (Some((id, _)), None) if !peers.contains_key(id.as_str()) => self.speaker = None,
            (None, Some(next)) => self.speaker = Some((next, now)),
            _ => {}
        }
        before != self.speaker.as_ref().map(|(id, _)| id.clone())
    }

    /// The peer the speaker layout shows large: the one followed, else the first.
    pub fn main_speaker(&self) -> Option<&str> {
        self.speaker
            .as_ref()
            .map(|(id, _)| id.as_str())
            .filter(|id| self.meeting.peers.contains_key(*id))
            .or_else(|| self.meeting.peers.keys().next().map(String::as_str))
    }

    /// What in the meeting's next state needs the person while they look elsewhere: a hand
    /// raised by someone else, a chat line from someone else that names them. Nothing while
    /// the terminal has focus or they are typing.
    fn calls_for_attention(&self, next: &MeshState) -> Vec<Effect> {
        if self.focused || self.typing {
            return Vec::new();
        }
        let me = next.me.as_ref();
        let mut calls = Vec::new();
        for id in next
            .hands
            .iter()
            .filter(|h| !self.meeting.hands.contains(h))
        {
            if me.is_some_and(|m| m.id == *id) {
                continue;
            }
            calls.push(Effect::Notify {
                title: format!("termmeet {}", self.room),
                body: format!("{} raised a hand", next.name_of(id)),
            });
        }
        let last_seen = self.meeting.chat.last().map_or(0, |c| c.seq);
        let my_name = me.map(|m| m.name.to_lowercase()).unwrap_or_default();
        for c in next.chat.iter().filter(|c| c.seq > last_seen) {
            let mine = me.is_some_and(|m| m.id == c.from);
            if !mine && !my_name.is_empty() && names(&c.text, &my_name) {
                calls.push(Effect::Notify {
                    title: format!("termmeet {}", self.room),
                    body: format!("{}: {}", c.name, c.text),
                });
            }
        }
        calls
    }

    fn stop_talking(&mut self) -> Vec<Effect> {
        if self.talking.take().is_some() {
            vec![Effect::Mesh(MeshCommand::Mic(false))]
        } else {
            Vec::new()
        }
    }

    fn notice(&mut self, text: String) {
        self.notices.push(text);
        if self.notices.len() > 5 {
            self.notices.remove(0);
        }
    }

    /// Whether we are the room's host.
    pub fn is_host(&self) -> bool {
        self.my_id()
            .is_some_and(|me| !me.is_empty() && self.meeting.host == me)
    }

    /// Runs a host's key, or says why it does nothing.
    fn host_only(&mut self, what: &str, act: impl FnOnce(&mut App) -> Vec<Effect>) -> Vec<Effect> {
        if self.is_host() {
            act(self)
        } else {
            self.notice(format!("only the host can {what}"));
            Vec::new()
        }
    }

    /// A notice when the host changes hands.
    fn note_host_change(&mut self, next: &MeshState) {
        let before = &self.meeting.host;
        if next.host == *before || before.is_empty() || next.host.is_empty() {
            return;
        }
        let text = if next.me.as_ref().is_some_and(|me| me.id == next.host) {
            "you are now the host: l, L and C are yours (see ?)".to_string()
        } else {
            format!(
                "{} is now the host",
                crate::text::safe(&next.name_of(&next.host))
            )
        };
        self.notice(text);
    }

    /// Moves the peers panel's highlight.
    fn move_selection(&mut self, by: isize) {
        let ids: Vec<&String> = self.meeting.peers.keys().collect();
        if ids.is_empty() {
            self.selected_peer = None;
            return;
        }
        let at = self
            .selected_peer
            .as_ref()
            .and_then(|s| ids.iter().position(|id| *id == s));
        let next = match at {
            Some(i) => i.saturating_add_signed(by).min(ids.len() - 1),
            None if by < 0 => ids.len() - 1,
            None => 0,
        };
        self.selected_peer = Some(ids[next].clone());
    }

    fn on_picker_key(&mut self, key: KeyEvent) -> Vec<Effect> {
        let Some(picker) = self.picker.as_mut() else {
            return Vec::new();
        };
        match key.code {
            KeyCode::Up | KeyCode::Char('k') => picker.step(-1),
            KeyCode::Down | KeyCode::Char('j') => picker.step(1),
            KeyCode::Right | KeyCode::Tab | KeyCode::PageDown => picker.jump(true),
            KeyCode::Left | KeyCode::BackTab | KeyCode::PageUp => picker.jump(false),
            KeyCode::Enter => {
                let chosen = picker.current().cloned();
                self.picker = None;
                if let Some(choice) = chosen {
                    self.notice(format!(
                        "{}: {}",
                        choice.kind.title().to_lowercase(),
                        choice.label
                    ));
                    return vec![Effect::Mesh(choice.command)];
                }
            }
            KeyCode::Esc | KeyCode::Char('d' | 'q') => self.picker = None,
            _ => {}
        }
        Vec::new()
    }

    /// Our own id.
    pub fn my_id(&self) -> Option<&str> {
        self.meeting.me.as_ref().map(|m| m.id.as_str())
    }

    /// Our place in the hand queue (1 is first).
    pub fn hand_position(&self) -> Option<usize> {
        let me = self.my_id()?;
        self.meeting
            .hands
            .iter()
            .position(|h| h == me)
            .map(|i| i + 1)
    }
}

/// Whether `text` names `name` (lower case) as a word of its own: "ada," and "@ada" do,
/// "adamant" does not.
fn names(text: &str, name: &str) -> bool {
    let text = text.to_lowercase();
    text.match_indices(name).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + name.len()..].chars().next();
        !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossterm::event::KeyEvent;
    use termmeet_signaling::protocol::You;

    fn key(c: char) -> Action {
        Action::Key(KeyEvent::from(KeyCode::Char(c)))
    }

    fn code(k: KeyCode) -> Action {
        Action::Key(KeyEvent::from(k))
    }

    fn app() -> App {
        let mut a = App::new("standup");
        let meeting = MeshState {
            me: Some(You {
                id: "me".into(),
                name: "me".into(),
            }),
            mic: true,
            cam: true,
            ..Default::default()
        };
        a.update(Action::Meeting(Box::new(meeting)));
        a
    }

    #[test]
    fn keys_toggle_media_and_hands() {
        let mut a = app();
        assert_eq!(
            a.update(key('m')),
            vec![Effect::Mesh(MeshCommand::Mic(false))]
        );
        assert_eq!(
            a.update(key('v')),
            vec![Effect::Mesh(MeshCommand::Cam(false))]
        );
        assert_eq!(
            a.update(key('s')),
            vec![Effect::Mesh(MeshCommand::Screen(true))]
        );
        assert_eq!(
            a.update(key('h')),
            vec![Effect::Mesh(MeshCommand::HandRaise)]
        );
        a.meeting.hands = vec!["other".into(), "me".into()];
        assert_eq!(a.hand_position(), Some(2));
        assert_eq!(
            a.update(key('h')),
            vec![Effect::Mesh(MeshCommand::HandLower(None))]
        );
    }

    #[test]
    fn chat_input() {
        let mut a = app();
        a.update(key('c'));
        assert!(a.typing && a.focus == Some(Panel::Chat));
        for c in "hi m".chars() {
            // Letters go to the input, not to the toggles.
            assert!(a.update(key(c)).is_empty());
        }
        a.update(code(KeyCode::Backspace));
        assert_eq!(
            a.update(code(KeyCode::Enter)),
            vec![Effect::Mesh(MeshCommand::Chat("hi".into()))]
        );
        a.update(code(KeyCode::Esc));
        assert!(!a.typing);
        assert_eq!(
            a.update(key('m')),
            vec![Effect::Mesh(MeshCommand::Mic(false))]
        );
    }

    #[test]
    fn esc_and_a_key_arriving_together_close_the_input_then_act() {
        let mut a = app();
        a.update(key('c'));
        a.update(key('x'));
        // "\x1bq" in one read is parsed as Alt+q.
        let alt_q = Action::Key(KeyEvent::new(KeyCode::Char('q'), KeyModifiers::ALT));
        assert!(a.update(alt_q).is_empty());
        assert!(!a.typing, "the input closed");
        assert!(a.confirm_quit, "and q asked to leave");
        assert_eq!(a.input, "x", "q was not typed into the message");
    }

    #[test]
    fn quit_asks_first_and_panels_toggle() {
        let mut a = app();
        assert!(a.update(key('q')).is_empty());
        assert!(a.confirm_quit);
        assert!(a.update(key('n')).is_empty());
        assert!(!a.confirm_quit);
        a.update(key('q'));
        assert_eq!(
            a.update(key('y')),
            vec![Effect::Mesh(MeshCommand::Leave), Effect::Quit]
        );
        let ctrl_c = Action::Key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL));
        assert_eq!(
            app().update(ctrl_c),
            vec![Effect::Mesh(MeshCommand::Leave), Effect::Quit]
        );
        let mut a = app();
        a.update(key('t'));
        assert!(a.panels.contains(&Panel::Quality));
        a.update(key('p'));
        assert!(!a.panels.contains(&Panel::Peers));
        a.update(code(KeyCode::Tab));
        assert_eq!(a.focus, Some(Panel::Hands));
        a.update(key('w'));
        assert_eq!(a.layout, Layout::Speaker);
        a.update(key('?'));
        assert!(a.help);
        a.update(code(KeyCode::Esc));
        assert!(!a.help);
    }
}
