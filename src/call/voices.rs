//! Which of a peer's sound tracks is played: one at a time. At a switch between the mesh and
//! the SFU a peer's sound arrives on both links for a moment (make before break: the old
//! link closes only once the new one carries media, up to 2 s later), and playing both
//! doubles the voice, the two copies some tens of milliseconds apart. The newest track that
//! has sound is played; an older one stays silent while the newer lives, and takes over
//! again if the newer ends first.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::sync::lock;

/// Each peer's played track, by the receiver's number; shared by every receiver.
#[derive(Clone, Debug, Default)]
pub struct Voices {
    played: Arc<Mutex<HashMap<String, u64>>>,
}

/// Numbers receivers in the order they start: a later one is a newer track.
static NEXT: AtomicU64 = AtomicU64::new(1);

/// One receiver's claim on its peer's speaker.
#[derive(Debug)]
pub struct Voice {
    voices: Voices,
    peer: String,
    number: u64,
    claimed: bool,
}

impl Voices {
    /// A new track's voice for `peer`: newer than every one before it.
    pub fn voice(&self, peer: &str) -> Voice {
        Voice {
            voices: self.clone(),
            peer: peer.to_string(),
            number: NEXT.fetch_add(1, Ordering::Relaxed),
            claimed: false,
        }
    }
}

impl Voice {
    /// Whether this track's sound, just decoded, is the one to play. Its first sound takes
    /// the peer's speaker from any older track; after that it plays while no newer track
    /// has taken it, and takes it back when the peer has none (the newer one ended).
    pub fn plays(&mut self) -> bool {
        let mut played = lock(&self.voices.played);
        let first = !std::mem::replace(&mut self.claimed, true);
        let current = played.get(&self.peer).copied();
        let mine = match current {
            None => true,
            Some(n) if n == self.number => true,
            Some(n) => first && n < self.number,
        };
        if mine {
            played.insert(self.peer.clone(), self.number);
        }
        mine
    }
}

impl Drop for Voice {
    fn drop(&mut self) {
        let mut played = lock(&self.voices.played);
        if played.get(&self.peer) == Some(&self.number) {
            played.remove(&self.peer);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_newest_track_with_sound_plays_and_an_older_one_takes_over_when_it_ends() {
        let voices = Voices::default();
        let mut mesh = voices.voice("ada");
        assert!(mesh.plays());
        assert!(mesh.plays());
        // The SFU's track arrives: from its first sound it is the one played.
        let mut sfu = voices.voice("ada");
        assert!(sfu.plays());
        assert!(!mesh.plays());
        assert!(sfu.plays());
        // The SFU's link goes first (back to the mesh): the mesh's track plays again.
        drop(sfu);
        assert!(mesh.plays());
    }

    #[test]
    fn peers_are_apart_and_an_older_track_that_starts_late_does_not_take_over() {
        let voices = Voices::default();
        let mut old = voices.voice("ada");
        let mut new = voices.voice("ada");
        let mut bob = voices.voice("bob");
        assert!(new.plays());
        assert!(bob.plays());
        // The older track's first sound comes after the newer one's: it stays silent.
        assert!(!old.plays());
        assert!(new.plays());
        drop(new);
        assert!(old.plays());
        assert!(bob.plays());
    }
}
