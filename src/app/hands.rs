//! Hands and the host: raising and lowering our own hand, the host's keys for others'
//! hands, and the notice when the host changes.

use super::{App, Effect};
use crate::call::mesh::{MeshCommand, MeshState};

impl App {
    /// Whether we are the room's host.
    pub fn is_host(&self) -> bool {
        self.my_id()
            .is_some_and(|me| !me.is_empty() && self.meeting.host == me)
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

    /// `h`: our hand up, or down if it is up.
    pub(super) fn toggle_hand(&mut self) -> Vec<Effect> {
        let m = &self.meeting;
        let me = m.me.as_ref().map(|y| y.id.clone()).unwrap_or_default();
        if m.hands.contains(&me) {
            vec![Effect::Mesh(MeshCommand::HandLower(None))]
        } else {
            vec![Effect::Mesh(MeshCommand::HandRaise)]
        }
    }

    /// The host's `l`: the hand of the peer chosen in the peers panel goes down.
    pub(super) fn lower_chosen_hand(&mut self) -> Vec<Effect> {
        match self.selected_peer.clone() {
            Some(id) if self.meeting.hands.contains(&id) => {
                vec![Effect::Mesh(MeshCommand::HandLower(Some(id)))]
            }
            Some(_) => {
                self.notice("their hand is not raised".into());
                Vec::new()
            }
            None => {
                self.notice("choose someone in the peers panel first (Tab, then ↑ ↓)".into());
                Vec::new()
            }
        }
    }

    /// The host's `L`: every hand goes down, ours among them.
    pub(super) fn lower_every_hand(&mut self) -> Vec<Effect> {
        let me = self.my_id().unwrap_or_default().to_string();
        self.meeting
            .hands
            .iter()
            .map(|id| Effect::Mesh(MeshCommand::HandLower((*id != me).then(|| id.clone()))))
            .collect()
    }

    /// A notice when the host changes hands.
    pub(super) fn note_host_change(&mut self, next: &MeshState) {
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
}
