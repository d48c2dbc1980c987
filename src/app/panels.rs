//! The side panels: which are shown (`t`, `p`, `H`), which has the focus (Tab), and the
//! peer highlighted in the peers panel (↑ ↓ there).

use super::{App, Effect, Panel};

impl App {
    /// A panel shown, or hidden (and unfocused).
    pub(super) fn toggle_panel(&mut self, panel: Panel) -> Vec<Effect> {
        if let Some(i) = self.panels.iter().position(|p| *p == panel) {
            self.panels.remove(i);
            if self.focus == Some(panel) {
                self.focus = None;
            }
        } else {
            self.panels.push(panel);
        }
        Vec::new()
    }

    /// Tab: the focus moves to the next panel shown, and after the last to none.
    pub(super) fn next_focus(&mut self) -> Vec<Effect> {
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

    /// Moves the peers panel's highlight.
    pub(super) fn move_selection(&mut self, by: isize) -> Vec<Effect> {
        let ids: Vec<&String> = self.meeting.peers.keys().collect();
        if ids.is_empty() {
            self.selected_peer = None;
            return Vec::new();
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
        Vec::new()
    }

    /// The highlight leaves a peer who has left.
    pub(super) fn forget_gone_selection(&mut self) {
        if self
            .selected_peer
            .as_ref()
            .is_some_and(|id| !self.meeting.peers.contains_key(id))
        {
            self.selected_peer = None;
        }
    }
}
