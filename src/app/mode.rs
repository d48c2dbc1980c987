//! What the keys go to now. The modes exclude each other, so they are one value: the chat
//! input, the device picker, a shared terminal, the help and the leave question are never
//! open two at a time, and what only one of them needs lives inside it.

use std::time::Instant;

use super::devices::DevicePicker;

/// Where the keys go.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Mode {
    /// The meeting's own keys (the key table).
    #[default]
    Meeting,
    /// The chat input line takes the keys.
    Chat,
    /// The device picker is open.
    Picker {
        /// The choices, empty while the devices are being found.
        picker: DevicePicker,
        /// When the devices were last asked for, once a tick has seen the picker open.
        found_at: Option<Instant>,
    },
    /// Keys go to the shared terminal shown (ours, or one we were given control of).
    Terminal {
        /// An Esc typed into the terminal and held back: a second one soon after leaves the
        /// terminal, anything else (or [`super::ESC_WAIT`] passing) sends it to the program.
        /// The time is that of the first tick after it.
        esc_held: Option<Option<Instant>>,
    },
    /// The help overlay is up.
    Help,
    /// `q` asked to confirm leaving.
    ConfirmQuit,
}

/// A mode without what it holds, as the key table names the modes an entry applies in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModeKind {
    /// [`Mode::Meeting`].
    Meeting,
    /// [`Mode::Chat`].
    Chat,
    /// [`Mode::Picker`].
    Picker,
    /// [`Mode::Terminal`].
    Terminal,
    /// [`Mode::Help`].
    Help,
    /// [`Mode::ConfirmQuit`].
    ConfirmQuit,
}

impl Mode {
    /// Keys typed into a shared terminal, with no Esc held back yet.
    pub fn terminal() -> Mode {
        Mode::Terminal { esc_held: None }
    }

    /// The device picker, opened while the devices are being found.
    pub fn looking_for_devices() -> Mode {
        Mode::Picker {
            picker: DevicePicker {
                choices: Vec::new(),
                selected: 0,
            },
            found_at: None,
        }
    }

    /// Which mode this is.
    pub fn kind(&self) -> ModeKind {
        match self {
            Mode::Meeting => ModeKind::Meeting,
            Mode::Chat => ModeKind::Chat,
            Mode::Picker { .. } => ModeKind::Picker,
            Mode::Terminal { .. } => ModeKind::Terminal,
            Mode::Help => ModeKind::Help,
            Mode::ConfirmQuit => ModeKind::ConfirmQuit,
        }
    }
}
