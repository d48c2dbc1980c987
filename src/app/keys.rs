//! The key table: every key the client answers to, the modes it applies in, when it
//! applies, what it does and what the help overlay says of it. [`App::update`] looks keys up
//! here and the help overlay lists the same entries, so the two cannot disagree. Keys whose
//! handling is more than a lookup (typing into chat, keys into a shared terminal,
//! push-to-talk's space) are handled by their mode's own code; their entries carry only the
//! help line.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::mode::{Mode, ModeKind};
use super::{App, Effect, Layout, Panel};
use crate::call::mesh::MeshCommand;

/// A key as an entry names it: its code and the modifiers it needs. Other modifiers may be
/// held too, as terminals add Shift or Alt in ways people do not notice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Chord {
    /// The key.
    pub code: KeyCode,
    /// The modifiers that must be held.
    pub needs: KeyModifiers,
}

impl Chord {
    /// Whether `key` is this chord.
    pub fn matches(&self, key: &KeyEvent) -> bool {
        key.code == self.code && key.modifiers.contains(self.needs)
    }
}

/// When an entry applies, besides its modes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum When {
    /// Always.
    Always,
    /// For the host only; anyone else is told "only the host can" and this text.
    Host(&'static str),
    /// While this panel has the focus.
    Focused(Panel),
    /// While a shared terminal is shown.
    TerminalShown,
    /// While a shared terminal we may type into is shown.
    TerminalTypable,
}

/// What an entry does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command {
    /// Handled by its mode's own code; the entry is there for its help line.
    OwnHandler,
    /// The microphone on or off.
    ToggleMic,
    /// Every audio processing feature off, or back on.
    ToggleProcessing,
    /// The camera on or off.
    ToggleCam,
    /// Screen sharing on or off.
    ToggleScreen,
    /// Our hand up or down.
    ToggleHand,
    /// Sharing a terminal on or off.
    ToggleTerminalShare,
    /// Giving our terminal's keyboard to the chosen peer, or taking it back.
    ToggleTerminalControl,
    /// Keys into the shared terminal shown.
    TypeInTerminal,
    /// The shared terminal's view moved by this many rows.
    PanTerminal(i32),
    /// The chat panel shown and its input open.
    OpenChat,
    /// The chat input open (the chat panel has the focus).
    TypeInChat,
    /// The chat input closed.
    CloseChat,
    /// The chat input sent.
    SendChat,
    /// The chat input's last character removed.
    DeleteChar,
    /// The device picker opened.
    OpenPicker,
    /// The picker's highlight moved by this many choices.
    PickerStep(isize),
    /// The picker's highlight moved to the next (true) or previous kind.
    PickerJump(bool),
    /// The highlighted device chosen.
    PickerChoose,
    /// The picker closed.
    ClosePicker,
    /// Grid or speaker layout.
    ToggleLayout,
    /// A side panel shown or hidden.
    TogglePanel(Panel),
    /// The focus moved to the next panel.
    NextFocus,
    /// No panel focused.
    Unfocus,
    /// The peers panel's highlight moved by this many peers.
    MoveSelection(isize),
    /// The help opened or closed.
    ToggleHelp,
    /// The help closed.
    CloseHelp,
    /// The chosen peer's hand lowered.
    LowerChosenHand,
    /// Every hand lowered.
    LowerEveryHand,
    /// Chat turned off or on for everyone.
    ToggleChat,
    /// Leaving asked for, to be confirmed.
    AskToLeave,
    /// Leaving confirmed.
    ConfirmLeave,
    /// Leaving at once.
    LeaveNow,
}

/// One entry of the key table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyBinding {
    /// The keys as the help names them ("PgUp/Dn", "Esc Esc").
    pub label: &'static str,
    /// The keys that run it; none when its mode's own code handles them.
    pub chords: &'static [Chord],
    /// The modes it applies in.
    pub modes: &'static [ModeKind],
    /// When it applies, besides its modes.
    pub when: When,
    /// What it does.
    pub command: Command,
    /// What the help overlay says of it; none for keys the help leaves out.
    pub help: Option<&'static str>,
}

impl KeyBinding {
    /// An entry for the meeting's keys, always applying, without a help line.
    const fn new(chords: &'static [Chord], command: Command) -> KeyBinding {
        KeyBinding {
            label: "",
            chords,
            modes: MEETING,
            when: When::Always,
            command,
            help: None,
        }
    }

    /// An entry that only carries the help line of keys its mode's code handles.
    const fn handled_in(
        modes: &'static [ModeKind],
        label: &'static str,
        text: &'static str,
    ) -> KeyBinding {
        KeyBinding::new(&[], Command::OwnHandler)
            .modes(modes)
            .help(label, text)
    }

    /// The same entry in other modes.
    const fn modes(mut self, modes: &'static [ModeKind]) -> KeyBinding {
        self.modes = modes;
        self
    }

    /// The same entry under a condition.
    const fn when(mut self, when: When) -> KeyBinding {
        self.when = when;
        self
    }

    /// The same entry with its help line.
    const fn help(mut self, label: &'static str, text: &'static str) -> KeyBinding {
        self.label = label;
        self.help = Some(text);
        self
    }

    /// Whether only the host may use it (the help lists it only for the host).
    pub fn host_only(&self) -> bool {
        matches!(self.when, When::Host(_))
    }

    /// Whether it applies to `key` in `mode`, leaving aside its condition.
    fn answers(&self, mode: ModeKind, key: &KeyEvent) -> bool {
        self.modes.contains(&mode) && self.chords.iter().any(|c| c.matches(key))
    }
}

/// A key without modifiers.
const fn key(code: KeyCode) -> Chord {
    Chord {
        code,
        needs: KeyModifiers::NONE,
    }
}

/// A letter or sign without modifiers.
const fn ch(c: char) -> Chord {
    key(KeyCode::Char(c))
}

const MEETING: &[ModeKind] = &[ModeKind::Meeting];
const CHAT: &[ModeKind] = &[ModeKind::Chat];
const PICKER: &[ModeKind] = &[ModeKind::Picker];
const HELP: &[ModeKind] = &[ModeKind::Help];
const TERMINAL: &[ModeKind] = &[ModeKind::Terminal];
const CONFIRM: &[ModeKind] = &[ModeKind::ConfirmQuit];
/// Every mode but a shared terminal's, where Ctrl-C goes to the program.
const NOT_IN_TERMINAL: &[ModeKind] = &[
    ModeKind::Meeting,
    ModeKind::Chat,
    ModeKind::Picker,
    ModeKind::Help,
    ModeKind::ConfirmQuit,
];

const CTRL_C: Chord = Chord {
    code: KeyCode::Char('c'),
    needs: KeyModifiers::CONTROL,
};

/// Every key, in the order the help lists them (the host's keys after the others).
pub static KEYS: &[KeyBinding] = &[
    KeyBinding::new(&[ch('m')], Command::ToggleMic).help("m", "microphone on/off"),
    KeyBinding::new(&[ch('a')], Command::ToggleProcessing).help("a", "sound processing on/off"),
    KeyBinding::handled_in(MEETING, "space", "hold to talk while muted"),
    KeyBinding::new(&[ch('v')], Command::ToggleCam).help("v", "camera on/off"),
    KeyBinding::new(&[ch('s')], Command::ToggleScreen).help("s", "share your screen on/off"),
    KeyBinding::new(&[ch('S')], Command::ToggleTerminalShare).help("S", "share a terminal on/off"),
    // Before the terminal's Enter: with the chat panel focused, Enter opens the input.
    KeyBinding::new(&[key(KeyCode::Enter)], Command::TypeInChat).when(When::Focused(Panel::Chat)),
    KeyBinding::new(&[key(KeyCode::Enter)], Command::TypeInTerminal)
        .when(When::TerminalTypable)
        .help("Enter", "type into a shared terminal"),
    KeyBinding::handled_in(TERMINAL, "Esc Esc", "stop typing into it"),
    KeyBinding::new(&[ch('K')], Command::ToggleTerminalControl).help("K", "give/take its keyboard"),
    KeyBinding::new(&[key(KeyCode::PageUp)], Command::PanTerminal(-10))
        .when(When::TerminalShown)
        .help("PgUp/Dn", "pan a large shared terminal"),
    KeyBinding::new(&[key(KeyCode::PageDown)], Command::PanTerminal(10)).when(When::TerminalShown),
    KeyBinding::new(&[ch('h')], Command::ToggleHand).help("h", "raise or lower your hand"),
    KeyBinding::new(&[ch('c')], Command::OpenChat).help("c", "chat: type, Enter sends"),
    KeyBinding::new(&[ch('d')], Command::OpenPicker).help("d", "devices: cam, mic, speaker"),
    KeyBinding::new(&[key(KeyCode::Esc)], Command::CloseChat)
        .modes(CHAT)
        .help("Esc", "leave the chat input"),
    KeyBinding::new(&[key(KeyCode::Enter)], Command::SendChat).modes(CHAT),
    KeyBinding::new(&[key(KeyCode::Backspace)], Command::DeleteChar).modes(CHAT),
    KeyBinding::new(&[ch('w')], Command::ToggleLayout).help("w", "grid or speaker layout"),
    KeyBinding::new(&[ch('t')], Command::TogglePanel(Panel::Quality)).help("t", "quality panel"),
    KeyBinding::new(&[ch('p')], Command::TogglePanel(Panel::Peers)).help("p", "peers panel"),
    KeyBinding::new(&[ch('H')], Command::TogglePanel(Panel::Hands)).help("H", "hands panel"),
    KeyBinding::new(&[key(KeyCode::Tab)], Command::NextFocus)
        .help("Tab", "move focus between panels"),
    KeyBinding::new(&[ch('?')], Command::ToggleHelp)
        .modes(&[ModeKind::Meeting, ModeKind::Help])
        .help("?", "this help"),
    KeyBinding::new(&[key(KeyCode::Esc)], Command::CloseHelp).modes(HELP),
    KeyBinding::new(&[ch('q')], Command::AskToLeave).help("q", "leave (asks first)"),
    KeyBinding::new(&[CTRL_C], Command::LeaveNow)
        .modes(NOT_IN_TERMINAL)
        .help("Ctrl-C", "leave at once"),
    KeyBinding::new(&[key(KeyCode::Up), ch('k')], Command::MoveSelection(-1))
        .when(When::Focused(Panel::Peers)),
    KeyBinding::new(&[key(KeyCode::Down), ch('j')], Command::MoveSelection(1))
        .when(When::Focused(Panel::Peers)),
    KeyBinding::new(&[key(KeyCode::Esc)], Command::Unfocus),
    KeyBinding::new(&[key(KeyCode::Up), ch('k')], Command::PickerStep(-1)).modes(PICKER),
    KeyBinding::new(&[key(KeyCode::Down), ch('j')], Command::PickerStep(1)).modes(PICKER),
    KeyBinding::new(
        &[
            key(KeyCode::Right),
            key(KeyCode::Tab),
            key(KeyCode::PageDown),
        ],
        Command::PickerJump(true),
    )
    .modes(PICKER),
    KeyBinding::new(
        &[
            key(KeyCode::Left),
            key(KeyCode::BackTab),
            key(KeyCode::PageUp),
        ],
        Command::PickerJump(false),
    )
    .modes(PICKER),
    KeyBinding::new(&[key(KeyCode::Enter)], Command::PickerChoose).modes(PICKER),
    KeyBinding::new(&[key(KeyCode::Esc), ch('d'), ch('q')], Command::ClosePicker).modes(PICKER),
    KeyBinding::new(
        &[ch('y'), ch('Y'), ch('q'), key(KeyCode::Enter)],
        Command::ConfirmLeave,
    )
    .modes(CONFIRM),
    KeyBinding::new(&[ch('l')], Command::LowerChosenHand)
        .when(When::Host("lower a hand"))
        .help("l", "lower chosen hand"),
    KeyBinding::new(&[ch('L')], Command::LowerEveryHand)
        .when(When::Host("lower every hand"))
        .help("L", "lower every hand"),
    KeyBinding::new(&[ch('C')], Command::ToggleChat)
        .when(When::Host("turn chat off or on"))
        .help("C", "chat off/on for all"),
];

/// The entry that runs for `key` in `mode`, where its condition holds. Entries that need a
/// modifier are tried first, so Ctrl-C is not read as `c` wherever the table lists it.
pub fn binding_for(app: &App, key: &KeyEvent) -> Option<&'static KeyBinding> {
    let mode = app.mode.kind();
    let (modified, plain): (Vec<&KeyBinding>, Vec<&KeyBinding>) =
        KEYS.iter().filter(|b| b.answers(mode, key)).partition(|b| {
            b.chords
                .iter()
                .any(|c| !c.needs.is_empty() && c.matches(key))
        });
    modified
        .into_iter()
        .chain(plain)
        .find(|b| app.holds(b.when))
}

impl App {
    /// Where keys go: a shared terminal takes them all; elsewhere the table answers first,
    /// then the mode's own handling.
    pub(super) fn on_key(&mut self, key: KeyEvent) -> Vec<Effect> {
        if matches!(self.mode, Mode::Terminal { .. }) {
            return self.on_terminal_key(key);
        }
        if let Some(binding) = binding_for(self, &key) {
            return self.run(binding);
        }
        match self.mode.kind() {
            ModeKind::Chat => self.on_typing_key(key),
            // Any other key closes the help and then does what it does in the meeting.
            ModeKind::Help => {
                self.mode = Mode::Meeting;
                self.on_key(key)
            }
            // Any other key answers no.
            ModeKind::ConfirmQuit => {
                self.mode = Mode::Meeting;
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    /// Whether an entry's condition holds now. The host's keys always apply: they say why
    /// they do nothing for anyone else.
    fn holds(&self, when: When) -> bool {
        match when {
            When::Always | When::Host(_) => true,
            When::Focused(panel) => self.focus == Some(panel),
            When::TerminalShown => self.shown_terminal().is_some(),
            When::TerminalTypable => self
                .shown_terminal()
                .is_some_and(|t| self.can_type_into(&t)),
        }
    }

    /// Runs an entry, or says why a host's key does nothing.
    fn run(&mut self, binding: &KeyBinding) -> Vec<Effect> {
        if let When::Host(what) = binding.when {
            if !self.is_host() {
                self.notice(format!("only the host can {what}"));
                return Vec::new();
            }
        }
        self.carry_out(binding.command)
    }

    /// What each command does.
    fn carry_out(&mut self, command: Command) -> Vec<Effect> {
        let m = &self.meeting;
        let mesh = |c| vec![Effect::Mesh(c)];
        match command {
            Command::OwnHandler => Vec::new(),
            Command::ToggleMic => mesh(MeshCommand::Mic(!m.mic)),
            Command::ToggleCam => mesh(MeshCommand::Cam(!m.cam)),
            Command::ToggleScreen => mesh(MeshCommand::Screen(!m.screen)),
            Command::ToggleHand => self.toggle_hand(),
            Command::ToggleProcessing => self.toggle_processing(),
            Command::ToggleTerminalShare => self.toggle_terminal_share(),
            Command::ToggleTerminalControl => self.toggle_terminal_control(),
            Command::TypeInTerminal => self.switch_to(Mode::terminal()),
            Command::PanTerminal(rows) => self.pan_terminal(rows),
            Command::OpenChat => self.open_chat(),
            Command::TypeInChat => self.switch_to(Mode::Chat),
            Command::CloseChat => self.switch_to(Mode::Meeting),
            Command::SendChat => self.send_chat(),
            Command::DeleteChar => {
                self.input.pop();
                Vec::new()
            }
            Command::OpenPicker => self.open_picker(),
            Command::PickerStep(by) => self.in_picker(|p| p.step(by)),
            Command::PickerJump(forward) => self.in_picker(|p| p.jump(forward)),
            Command::PickerChoose => self.choose_device(),
            Command::ClosePicker | Command::CloseHelp => self.switch_to(Mode::Meeting),
            Command::ToggleLayout => self.toggle_layout(),
            Command::TogglePanel(panel) => self.toggle_panel(panel),
            Command::NextFocus => self.next_focus(),
            Command::Unfocus => {
                self.focus = None;
                Vec::new()
            }
            Command::MoveSelection(by) => self.move_selection(by),
            Command::ToggleHelp => self.toggle_help(),
            Command::LowerChosenHand => self.lower_chosen_hand(),
            Command::LowerEveryHand => self.lower_every_hand(),
            Command::ToggleChat => mesh(MeshCommand::ChatEnabled(!m.chat_enabled)),
            Command::AskToLeave => self.switch_to(Mode::ConfirmQuit),
            Command::ConfirmLeave => {
                self.mode = Mode::Meeting;
                vec![Effect::Mesh(MeshCommand::Leave), Effect::Quit]
            }
            Command::LeaveNow => vec![Effect::Mesh(MeshCommand::Leave), Effect::Quit],
        }
    }

    /// Keys go elsewhere from now on.
    fn switch_to(&mut self, mode: Mode) -> Vec<Effect> {
        self.mode = mode;
        Vec::new()
    }

    /// `?`: the help up, or down again.
    fn toggle_help(&mut self) -> Vec<Effect> {
        let next = if self.mode == Mode::Help {
            Mode::Meeting
        } else {
            Mode::Help
        };
        self.switch_to(next)
    }

    /// `w`: grid or speaker layout.
    fn toggle_layout(&mut self) -> Vec<Effect> {
        self.layout = if self.layout == Layout::Grid {
            Layout::Speaker
        } else {
            Layout::Grid
        };
        Vec::new()
    }
}
