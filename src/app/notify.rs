//! When the bell rings: what in the meeting needs the person while the terminal is not
//! focused (a hand raised by someone else, a chat line that names them).

use super::mode::Mode;
use super::{App, Effect};
use crate::call::mesh::MeshState;

impl App {
    /// What in the meeting's next state needs the person while they look elsewhere: a hand
    /// raised by someone else, a chat line from someone else that names them. Nothing while
    /// the terminal has focus or they are typing.
    pub(super) fn calls_for_attention(&self, next: &MeshState) -> Vec<Effect> {
        if self.focused || self.mode == Mode::Chat {
            return Vec::new();
        }
        let mut calls = self.raised_hands(next);
        calls.extend(self.mentions(next));
        calls
    }

    /// A call for each hand raised since the last state, but our own.
    fn raised_hands(&self, next: &MeshState) -> Vec<Effect> {
        let me = next.me.as_ref();
        next.hands
            .iter()
            .filter(|h| !self.meeting.hands.contains(h))
            .filter(|id| me.is_none_or(|m| m.id != **id))
            .map(|id| Effect::Notify {
                title: format!("termmeet {}", self.room),
                body: format!("{} raised a hand", next.name_of(id)),
            })
            .collect()
    }

    /// A call for each new chat line from someone else that names us.
    fn mentions(&self, next: &MeshState) -> Vec<Effect> {
        let me = next.me.as_ref();
        let last_seen = self.meeting.chat.last().map_or(0, |c| c.seq);
        let my_name = me.map(|m| m.name.to_lowercase()).unwrap_or_default();
        next.chat
            .iter()
            .filter(|c| c.seq > last_seen)
            .filter(|c| me.is_none_or(|m| m.id != c.from))
            .filter(|c| !my_name.is_empty() && names(&c.text, &my_name))
            .map(|c| Effect::Notify {
                title: format!("termmeet {}", self.room),
                body: format!("{}: {}", c.name, c.text),
            })
            .collect()
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
