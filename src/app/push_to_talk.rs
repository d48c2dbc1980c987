//! Push-to-talk: holding space turns a muted microphone on. Terminals that send key-release
//! events end it on release; others only repeat the key while it is held, so talking ends a
//! while after the last repeat.

use std::time::{Duration, Instant};

use crossterm::event::{KeyCode, KeyEvent};

use super::mode::ModeKind;
use super::{App, Effect};
use crate::call::mesh::MeshCommand;

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

impl App {
    /// Space down (or repeated) at `at`. Where keys are typed (chat, a shared terminal, the
    /// picker, the leave question) it is an ordinary space.
    pub(super) fn space_down(&mut self, at: Instant) -> Vec<Effect> {
        if !matches!(self.mode.kind(), ModeKind::Meeting | ModeKind::Help) {
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

    /// Without release events, talking ends once the repeats have stopped for
    /// [`PTT_REPEAT_TIMEOUT`].
    pub(super) fn end_talking_after_repeats(&mut self, now: Instant) -> Vec<Effect> {
        match (self.ptt, self.talking) {
            (PushToTalk::Repeat, Some(last))
                if now.saturating_duration_since(last) >= PTT_REPEAT_TIMEOUT =>
            {
                self.stop_talking()
            }
            _ => Vec::new(),
        }
    }

    /// Space released (or its repeats stopped): the microphone goes off again.
    pub(super) fn stop_talking(&mut self) -> Vec<Effect> {
        if self.talking.take().is_some() {
            vec![Effect::Mesh(MeshCommand::Mic(false))]
        } else {
            Vec::new()
        }
    }
}
