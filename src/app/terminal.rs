//! Shared terminals as the app sees them: which one the large tile shows, whether our keys
//! may go into it, the keys typed into it (with Esc held back, as two in a row leave it),
//! sharing our own (`S`), giving its keyboard away (`K`) and panning the view (PgUp/PgDn).

use std::time::{Duration, Instant};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::mode::Mode;
use super::{App, Effect};
use crate::call::mesh::{MeshCommand, SharedTerminal};
use crate::share::keys::key_bytes;
use crate::share::screen::MAX_SIZE;

/// An Esc typed into a shared terminal reaches the program this long after it was typed,
/// unless a second Esc (which returns the keys to the meeting) comes first.
pub const ESC_WAIT: Duration = Duration::from_millis(300);

/// The Esc byte a terminal sends.
const ESC: u8 = 0x1b;

/// The shared terminal the large tile shows.
#[derive(Clone, Debug, PartialEq)]
pub struct TerminalShown {
    /// Who shares it: a participant id, or `None` for our own.
    pub sharer: Option<String>,
    /// The terminal.
    pub terminal: SharedTerminal,
}

impl App {
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

    /// The terminal our keys may go into now, if one is shown.
    fn typable_terminal(&self) -> Option<TerminalShown> {
        self.shown_terminal().filter(|s| self.can_type_into(s))
    }

    /// The Esc held back while keys go to a shared terminal.
    fn esc_held(&mut self) -> Option<&mut Option<Option<Instant>>> {
        match &mut self.mode {
            Mode::Terminal { esc_held } => Some(esc_held),
            _ => None,
        }
    }

    /// Keys typed while the shared terminal has focus: each goes to the program as a
    /// terminal would send it; Esc twice in a row returns to the meeting (a single Esc goes
    /// to the program [`ESC_WAIT`] later, or with the next key).
    pub(super) fn on_terminal_key(&mut self, key: KeyEvent) -> Vec<Effect> {
        let Some(shown) = self.typable_terminal() else {
            self.mode = Mode::Meeting;
            return self.on_key(key);
        };
        let esc = key.code == KeyCode::Esc;
        let held = self.esc_held().and_then(|h| h.take()).is_some();
        // Two Escs read together arrive as Alt+Esc.
        if esc && (key.modifiers.contains(KeyModifiers::ALT) || held) {
            self.mode = Mode::Meeting;
            return Vec::new();
        }
        if esc && key.modifiers.is_empty() {
            self.mode = Mode::Terminal {
                esc_held: Some(None),
            };
            return Vec::new();
        }
        let mut bytes = Vec::new();
        if held {
            bytes.push(ESC);
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

    /// A held Esc that was not followed by another in time goes to the program.
    pub(super) fn release_esc(&mut self, now: Instant) -> Vec<Effect> {
        let Some(held) = self.esc_held() else {
            return Vec::new();
        };
        match *held {
            Some(None) => {
                *held = Some(Some(now));
                Vec::new()
            }
            Some(Some(t)) if now.saturating_duration_since(t) >= ESC_WAIT => {
                *held = None;
                match self.typable_terminal() {
                    Some(shown) => vec![Effect::Mesh(MeshCommand::TerminalKeys {
                        to: shown.sharer,
                        bytes: vec![ESC],
                    })],
                    None => Vec::new(),
                }
            }
            _ => Vec::new(),
        }
    }

    /// `S`: share a terminal, or stop sharing it.
    pub(super) fn toggle_terminal_share(&mut self) -> Vec<Effect> {
        if self.meeting.my_terminal.is_some() {
            self.mode = Mode::Meeting;
            vec![Effect::Mesh(MeshCommand::ShareTerminal(None))]
        } else {
            self.wait_for_own_share();
            vec![Effect::Mesh(MeshCommand::ShareTerminal(Some(
                self.share_spec.clone(),
            )))]
        }
    }

    /// A share of our own terminal was asked for: keys go to it once it shows up.
    pub(crate) fn wait_for_own_share(&mut self) {
        self.mode = Mode::terminal();
        self.share_requested = true;
        self.terminal_pan = 0;
    }

    /// `K`: take the keyboard back from whoever holds it, or give it to the participant
    /// chosen in the peers panel.
    pub(super) fn toggle_terminal_control(&mut self) -> Vec<Effect> {
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

    /// PgUp/PgDn: the view moves by `rows`, no further than a terminal can be tall.
    pub(super) fn pan_terminal(&mut self, rows: i32) -> Vec<Effect> {
        let most = i32::from(MAX_SIZE.1);
        self.terminal_pan = (self.terminal_pan + rows).clamp(-most, most);
        Vec::new()
    }

    /// The meeting changed: a share we asked for has arrived, keys leave a terminal we may
    /// no longer type into, and the view's pan resets when no terminal is shown.
    pub(super) fn follow_terminals(&mut self) {
        if self.meeting.my_terminal.is_some() {
            self.share_requested = false;
        }
        let typing_in = matches!(self.mode, Mode::Terminal { .. });
        if typing_in && !self.share_requested && self.typable_terminal().is_none() {
            self.mode = Mode::Meeting;
        }
        if self.shown_terminal().is_none() {
            self.terminal_pan = 0;
        }
    }
}
