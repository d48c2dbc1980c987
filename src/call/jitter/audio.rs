//! The audio jitter buffer: Opus packets played out on a steady 20 ms clock, a target depth
//! behind their arrival, with FEC, concealment and catching up in silence.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::sequence::{Unwrapper, SEQ_RESTART};

/// Samples of one Opus frame at 48 kHz, 20 ms.
pub const AUDIO_FRAME: Duration = Duration::from_millis(20);
/// The least audio depth (time between arrival and playout).
pub const MIN_AUDIO_DEPTH: Duration = Duration::from_millis(40);
/// The most audio depth the buffer grows to.
pub const MAX_AUDIO_DEPTH: Duration = Duration::from_millis(300);
/// Concealment runs at most this many frames; then the sender is taken to be silent (muted,
/// or cut off) and the buffer waits for it without making sound up.
pub(super) const MAX_CONCEAL_RUN: u32 = 5;
/// Beyond this much above the target depth, even sound is dropped to catch up.
pub(super) const HARD_EXCESS: Duration = Duration::from_millis(200);
/// How long a late packet keeps the depth up.
pub(super) const LATENESS_WINDOW: Duration = Duration::from_secs(10);
/// Audio packets held at most.
const MAX_AUDIO_PACKETS: usize = 256;

/// What to do for one 20 ms slot of audio.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AudioSlot {
    /// Decode this packet.
    Packet(Bytes),
    /// The packet is lost: rebuild it from the in-band FEC of this, the next one.
    Fec(Bytes),
    /// Nothing to go on: conceal.
    Conceal,
    /// Decode this packet to keep the decoder in step, but do not play it (catching up).
    Skip(Bytes),
}

/// Figures of an audio jitter buffer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AudioJitterStats {
    /// Slots played from packets.
    pub played: u64,
    /// Slots rebuilt from FEC.
    pub recovered: u64,
    /// Slots concealed.
    pub concealed: u64,
    /// Slots dropped to catch up.
    pub skipped: u64,
    /// Packets that came after their slot.
    pub late: u64,
}

/// The share of concealed audio over the last few seconds, from snapshots of a buffer's
/// figures (the quality panel's "concealed" is about now, not the whole call).
#[derive(Clone, Debug, Default)]
pub struct RecentConcealment {
    /// (when, slots played in all, slots concealed), oldest first.
    snapshots: VecDeque<(Instant, u64, u64)>,
}

impl RecentConcealment {
    /// How far back the share looks.
    pub const WINDOW: Duration = Duration::from_secs(5);

    /// Takes the buffer's figures at `now` and returns the concealed share of the audio
    /// played over the last [`Self::WINDOW`], in percent.
    pub fn update(&mut self, now: Instant, stats: &AudioJitterStats) -> f64 {
        let all = stats.played + stats.recovered + stats.concealed;
        if self.snapshots.back().is_none_or(|(at, _, _)| {
            now.saturating_duration_since(*at) >= Duration::from_millis(250)
        }) {
            self.snapshots.push_back((now, all, stats.concealed));
        }
        while self.snapshots.len() > 1
            && self
                .snapshots
                .get(1)
                .is_some_and(|(at, _, _)| now.saturating_duration_since(*at) >= Self::WINDOW)
        {
            self.snapshots.pop_front();
        }
        let Some(&(_, all0, concealed0)) = self.snapshots.front() else {
            return 0.0;
        };
        let slots = all.saturating_sub(all0);
        if slots == 0 {
            0.0
        } else {
            stats.concealed.saturating_sub(concealed0) as f64 * 100.0 / slots as f64
        }
    }
}

impl AudioJitterStats {
    /// Concealed time as a share of all audio time played, in percent.
    pub fn concealed_pct(&self) -> f64 {
        let all = self.played + self.recovered + self.concealed;
        if all == 0 {
            0.0
        } else {
            self.concealed as f64 * 100.0 / all as f64
        }
    }
}

/// Plays Opus packets out on a 20 ms clock.
#[derive(Debug)]
pub struct AudioJitter {
    seq: Unwrapper,
    packets: BTreeMap<i64, Bytes>,
    /// The sequence number of the next slot, while playing.
    next: Option<i64>,
    /// When the next slot is due.
    due: Option<Instant>,
    /// Concealed slots in a row.
    conceal_run: u32,
    /// Slots concealed while nothing had come: counted once a packet shows they were late,
    /// forgotten if the sender had only gone quiet.
    pending_conceal: u64,
    /// The depth aimed at.
    target: Duration,
    /// Recent lateness of packets against the clock (when seen, how late), to size the target.
    lateness: VecDeque<(Instant, Duration)>,
    /// Whether the last slot played was quiet (a skip there drops no speech).
    quiet: bool,
    /// Figures.
    pub stats: AudioJitterStats,
}

impl Default for AudioJitter {
    fn default() -> Self {
        AudioJitter::new()
    }
}

impl AudioJitter {
    /// An empty buffer.
    pub fn new() -> AudioJitter {
        AudioJitter {
            seq: Unwrapper::default(),
            packets: BTreeMap::new(),
            next: None,
            due: None,
            conceal_run: 0,
            pending_conceal: 0,
            target: MIN_AUDIO_DEPTH,
            lateness: VecDeque::new(),
            quiet: false,
            stats: AudioJitterStats::default(),
        }
    }

    /// The depth aimed at now.
    pub fn target(&self) -> Duration {
        self.target
    }

    /// Takes one packet arriving at `now`.
    pub fn push(&mut self, seq: u16, payload: Bytes, now: Instant) {
        let ext = self.seq.unwrap(seq);
        if let (Some(next), Some(due)) = (self.next, self.due) {
            if ext < next {
                self.stats.late += 1;
                // It missed its slot by about this much: the depth should cover that.
                let slot = due
                    .checked_sub(AUDIO_FRAME * u32::try_from(next - ext).unwrap_or(u32::MAX))
                    .unwrap_or(due);
                self.note_lateness(now, now.saturating_duration_since(slot) + AUDIO_FRAME);
                return;
            }
            if ext - next > SEQ_RESTART {
                self.next = None;
                self.due = None;
                self.packets.clear();
            }
        }
        if self.next.is_none() {
            // Start (or start again after silence) one target depth from now.
            self.next = Some(ext);
            self.due = Some(now + self.target);
            self.conceal_run = 0;
        }
        if self.pending_conceal > 0 && self.packets.is_empty() {
            // Slots went by with nothing to play and now this comes: it was that late.
            let late = AUDIO_FRAME * u32::try_from(self.pending_conceal).unwrap_or(u32::MAX);
            self.note_lateness(now, late);
        }
        if self.packets.len() >= MAX_AUDIO_PACKETS {
            self.packets.pop_first();
        }
        self.packets.insert(ext, payload);
    }

    fn note_lateness(&mut self, now: Instant, late: Duration) {
        self.lateness.push_back((now, late));
        if self.lateness.len() > 64 {
            self.lateness.pop_front();
        }
        self.retarget(now);
    }

    /// The target covers the worst lateness of the last [`LATENESS_WINDOW`].
    fn retarget(&mut self, now: Instant) {
        while self
            .lateness
            .front()
            .is_some_and(|(t, _)| now.saturating_duration_since(*t) > LATENESS_WINDOW)
        {
            self.lateness.pop_front();
        }
        let worst = self
            .lateness
            .iter()
            .map(|(_, l)| *l)
            .max()
            .unwrap_or_default();
        self.target = (MIN_AUDIO_DEPTH + worst).clamp(MIN_AUDIO_DEPTH, MAX_AUDIO_DEPTH);
    }

    /// When the next slot is due, while playing.
    pub fn deadline(&self) -> Option<Instant> {
        self.due
    }

    /// Depth buffered now: slots queued from the next one to the newest packet.
    pub(super) fn depth(&self) -> Duration {
        match (self.next, self.packets.last_key_value()) {
            (Some(next), Some((&last, _))) if last >= next => {
                AUDIO_FRAME * u32::try_from(last - next + 1).unwrap_or(u32::MAX)
            }
            _ => Duration::ZERO,
        }
    }

    /// Tells the buffer whether the slot it last gave out sounded quiet (after decoding).
    pub fn heard(&mut self, quiet: bool) {
        self.quiet = quiet;
    }

    /// The slots due by `now`, in order.
    pub fn pull(&mut self, now: Instant) -> Vec<AudioSlot> {
        let mut out = Vec::new();
        self.retarget(now);
        while let (Some(next), Some(due)) = (self.next, self.due) {
            if now < due {
                break;
            }
            if !self.packets.is_empty() {
                self.stats.concealed += std::mem::take(&mut self.pending_conceal);
            }
            let slot = match self.packets.remove(&next) {
                Some(p) => {
                    let excess = self.depth().saturating_sub(self.target);
                    let catch_up = excess > AUDIO_FRAME * 3 && self.quiet || excess > HARD_EXCESS;
                    self.conceal_run = 0;
                    if catch_up {
                        self.stats.skipped += 1;
                        // A skipped slot takes no time: the next one is due at once.
                        out.push(AudioSlot::Skip(p));
                        self.next = Some(next + 1);
                        continue;
                    }
                    self.stats.played += 1;
                    AudioSlot::Packet(p)
                }
                None => match self.packets.get(&(next + 1)) {
                    Some(p) => {
                        self.conceal_run = 0;
                        self.stats.recovered += 1;
                        AudioSlot::Fec(p.clone())
                    }
                    None if self.packets.is_empty() && self.conceal_run >= MAX_CONCEAL_RUN => {
                        // The sender went quiet: stop until it sends again.
                        self.pending_conceal = 0;
                        self.next = None;
                        self.due = None;
                        break;
                    }
                    None if self.packets.is_empty() => {
                        // Nothing has come yet: the packet is late, not lost. Conceal without
                        // moving on, so the buffer grows by a slot, and remember the lateness.
                        self.conceal_run += 1;
                        self.pending_conceal += 1;
                        out.push(AudioSlot::Conceal);
                        self.due = Some(due + AUDIO_FRAME);
                        continue;
                    }
                    None => {
                        self.conceal_run += 1;
                        self.stats.concealed += 1;
                        AudioSlot::Conceal
                    }
                },
            };
            out.push(slot);
            self.next = Some(next + 1);
            self.due = Some(due + AUDIO_FRAME);
        }
        out
    }
}
