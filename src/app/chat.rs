//! The chat input: opening it (`c`, or Enter on the chat panel), sending what was typed,
//! and the letters typed into it.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::mode::Mode;
use super::{App, Effect, Panel};
use crate::call::mesh::MeshCommand;

/// The longest chat message the input takes (the server's limit).
pub const MAX_INPUT: usize = 2000;

impl App {
    /// `c`: the chat panel shown, focused, and its input open.
    pub(super) fn open_chat(&mut self) -> Vec<Effect> {
        if !self.panels.contains(&Panel::Chat) {
            self.panels.push(Panel::Chat);
        }
        self.focus = Some(Panel::Chat);
        self.mode = Mode::Chat;
        Vec::new()
    }

    /// Enter: the line typed goes to the meeting, unless it is blank.
    pub(super) fn send_chat(&mut self) -> Vec<Effect> {
        let text = self.input.trim().to_string();
        self.input.clear();
        if text.is_empty() {
            Vec::new()
        } else {
            vec![Effect::Mesh(MeshCommand::Chat(text))]
        }
    }

    /// A key the table does not name while the input is open: a letter is typed.
    pub(super) fn on_typing_key(&mut self, key: KeyEvent) -> Vec<Effect> {
        // Esc and the next key arriving in one read (a fast typist, a slow SSH link) reach us as
        // Alt+key: that is Esc, which closes the input, then the key itself.
        if key.modifiers.contains(KeyModifiers::ALT) && matches!(key.code, KeyCode::Char(_)) {
            self.mode = Mode::Meeting;
            return self.on_key(KeyEvent::new(
                key.code,
                key.modifiers.difference(KeyModifiers::ALT),
            ));
        }
        if let KeyCode::Char(c) = key.code {
            if !c.is_control() && self.input.chars().count() < MAX_INPUT {
                self.input.push(c);
            }
        }
        Vec::new()
    }
}
