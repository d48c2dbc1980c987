//! The active-speaker rule of the speaker layout: the loudest peer who speaks takes the
//! large tile, but only once the one there has been silent for [`SPEAKER_HOLD`].

use std::time::{Duration, Instant};

use super::App;

/// How long the speaker layout stays on someone who fell silent before it follows another.
pub const SPEAKER_HOLD: Duration = Duration::from_secs(2);

impl App {
    /// Follows whoever is talking for the speaker layout: the loudest peer who speaks takes
    /// the large tile once the one there has been silent for [`SPEAKER_HOLD`], so two
    /// people talking over each other do not make it flicker. Returns whether it changed.
    pub fn follow_speaker(&mut self, now: Instant) -> bool {
        let peers = &self.meeting.peers;
        self.spoke.retain(|id, _| peers.contains_key(id));
        for (id, _) in peers.iter().filter(|(_, p)| p.speaking()) {
            self.spoke.insert(id.clone(), now);
        }
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

    /// `peers` by who spoke last: the most recent first, those never heard last, each
    /// group in the order given.
    pub fn by_last_spoken<'p, T>(&self, peers: &'p [(&'p String, T)]) -> Vec<usize> {
        let mut order: Vec<usize> = (0..peers.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(self.spoke.get(peers[i].0.as_str()).copied()));
        order
    }

    /// The peer the speaker layout follows, if it follows anyone yet.
    pub fn followed_speaker(&self) -> Option<&str> {
        self.speaker.as_ref().map(|(id, _)| id.as_str())
    }

    /// The peer the speaker layout shows large: the one followed, else the first.
    pub fn main_speaker(&self) -> Option<&str> {
        self.followed_speaker()
            .filter(|id| self.meeting.peers.contains_key(*id))
            .or_else(|| self.meeting.peers.keys().next().map(String::as_str))
    }
}
