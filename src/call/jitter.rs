//! Jitter buffers for received media, as plain state machines: packets and the time go in,
//! what to decode comes out. No clock, no socket.
//!
//! - [`VideoJitter`] orders H.264 RTP packets by sequence number and hands out complete
//!   pictures. A missing packet is waited for (NACKs bring retransmissions) for a time derived
//!   from the round trip; only when it cannot come in time is the picture given up, and then
//!   nothing is shown until a keyframe, which the owner asks for.
//! - [`AudioJitter`] plays Opus packets out on a steady 20 ms clock, a little behind their
//!   arrival. A lost packet is rebuilt from the next packet's in-band FEC when that has
//!   arrived, and concealed otherwise; the depth grows when packets come late and shrinks
//!   again in silence.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::Bytes;

/// How often the receiver asks again for missing video packets (the NACK generator's cycle).
pub const NACK_INTERVAL: Duration = Duration::from_millis(25);
/// The least time a missing video packet is waited for. A lost last packet of a picture is
/// only noticed when the next picture starts (33 ms at 30 fps), and asked for at the next
/// NACK cycle: the first resend comes about 60 ms after the loss at best.
pub const MIN_VIDEO_WAIT: Duration = Duration::from_millis(100);
/// The most time a missing video packet is waited for, however bad the path.
pub const MAX_VIDEO_WAIT: Duration = Duration::from_millis(500);
/// The first resend of a lost packet comes this long after the loss at best (see above).
const FIRST_RESEND: Duration = Duration::from_millis(60);
/// Most video packets held; beyond it the oldest gap is given up at once.
const MAX_VIDEO_PACKETS: usize = 2048;
/// A sequence jump this large is a new stream (a restarted sender), not loss.
const SEQ_RESTART: i64 = 3000;

/// Unwraps 16-bit sequence numbers into a growing count, relative to the highest seen.
#[derive(Clone, Copy, Debug, Default)]
struct Unwrapper {
    highest: Option<i64>,
}

impl Unwrapper {
    fn unwrap(&mut self, seq: u16) -> i64 {
        let ext = match self.highest {
            None => i64::from(seq),
            Some(h) => {
                let delta = i64::from(seq.wrapping_sub(h as u16) as i16);
                h + delta
            }
        };
        self.highest = Some(self.highest.map_or(ext, |h| h.max(ext)));
        ext
    }
}

#[derive(Clone, Debug)]
struct VideoPacket {
    timestamp: u32,
    marker: bool,
    payload: Bytes,
    arrived: Instant,
}

/// The longest a picture's first packet waits for the rest of it to arrive (a keyframe on a
/// slow path).
const MAX_UNIT_TIME: Duration = Duration::from_secs(3);
/// While waiting for a keyframe, packets are kept this long for its first packet (which may
/// be on its way again) to turn up.
const RESYNC_HOLD: Duration = Duration::from_secs(1);

/// A complete picture, its packets in order.
#[derive(Clone, Debug, PartialEq)]
pub struct VideoUnit {
    /// RTP timestamp.
    pub timestamp: u32,
    /// The RTP payloads, in sequence order.
    pub payloads: Vec<Bytes>,
    /// Whether it starts with a keyframe (SPS or IDR).
    pub keyframe: bool,
}

/// Figures of a video jitter buffer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VideoJitterStats {
    /// Pictures handed out.
    pub units: u64,
    /// Gaps given up on (each costs the pictures up to the next keyframe).
    pub gaps_lost: u64,
    /// Gaps a late packet (a retransmission) filled in time.
    pub gaps_filled: u64,
    /// Complete pictures dropped because their reference was lost.
    pub units_skipped: u64,
}

/// Orders video packets and hands out complete pictures whose references are intact.
#[derive(Debug)]
pub struct VideoJitter {
    seq: Unwrapper,
    packets: BTreeMap<i64, VideoPacket>,
    /// The next sequence number to hand out, when in step; `None` while waiting for a
    /// keyframe to start from (at the start, and after a gap was given up).
    next: Option<i64>,
    /// Whether the decoder has no intact reference: only a keyframe may be handed out.
    pub needs_keyframe: bool,
    /// Since when the gap at `next` has been waited for.
    gap_since: Option<Instant>,
    /// The missing packet being waited for.
    gap_at: Option<i64>,
    /// How long a gap is waited for.
    wait: Duration,
    /// Figures.
    pub stats: VideoJitterStats,
}

impl Default for VideoJitter {
    fn default() -> Self {
        VideoJitter::new()
    }
}

impl VideoJitter {
    /// An empty buffer, waiting for a keyframe.
    pub fn new() -> VideoJitter {
        VideoJitter {
            seq: Unwrapper::default(),
            packets: BTreeMap::new(),
            next: None,
            needs_keyframe: true,
            gap_since: None,
            gap_at: None,
            wait: MIN_VIDEO_WAIT,
            stats: VideoJitterStats::default(),
        }
    }

    /// Sets the wait for a missing packet from the path's round trip, jitter and loss (a
    /// fraction): enough NACK rounds (each a generator cycle and a round trip) that a packet
    /// is lost for good less than once in ten thousand, within bounds. A round fails when the
    /// NACK or the resend is lost.
    pub fn set_path(&mut self, rtt: Duration, jitter: Duration, loss: f64) {
        let loss = loss.clamp(0.0, 0.9);
        let round_fails = 1.0 - (1.0 - loss) * (1.0 - loss);
        let rounds = if round_fails < 1e-4 {
            1.0
        } else {
            (1e-4f64.ln() / round_fails.ln()).ceil().clamp(1.0, 20.0)
        };
        let wait = FIRST_RESEND + (NACK_INTERVAL + rtt).mul_f64(rounds) + jitter * 2;
        self.wait = wait.clamp(MIN_VIDEO_WAIT, MAX_VIDEO_WAIT);
    }

    /// How long a gap is waited for now.
    pub fn wait(&self) -> Duration {
        self.wait
    }

    /// Takes one packet arriving at `now`.
    pub fn push(&mut self, seq: u16, timestamp: u32, marker: bool, payload: Bytes, now: Instant) {
        let ext = self.seq.unwrap(seq);
        if let Some(next) = self.next {
            if ext < next {
                return; // a duplicate, or a retransmission too late to matter
            }
            if ext - next > SEQ_RESTART {
                // The sender started over: begin again from its next keyframe.
                self.resync();
            }
        }
        if self.gap_at == Some(ext) {
            self.stats.gaps_filled += 1;
            self.gap_at = None;
        }
        self.packets.insert(
            ext,
            VideoPacket {
                timestamp,
                marker,
                payload,
                arrived: now,
            },
        );
    }

    /// The decoder could not use what it was given: nothing more until a keyframe.
    pub fn lost_reference(&mut self) {
        self.needs_keyframe = true;
    }

    fn resync(&mut self) {
        self.next = None;
        self.gap_since = None;
        self.gap_at = None;
        self.needs_keyframe = true;
    }

    /// When the buffer must be looked at again even if no packet comes (a gap's deadline).
    pub fn deadline(&self) -> Option<Instant> {
        self.gap_since.map(|t| t + self.wait)
    }

    /// The next complete picture that can be decoded, if any; gives gaps up whose time ran out.
    pub fn pop(&mut self, now: Instant) -> Option<VideoUnit> {
        loop {
            let Some(next) = self.next.or_else(|| self.find_start(now)) else {
                // Nothing to start from: keep only what could still begin a keyframe later.
                return None;
            };
            self.next = Some(next);
            match self.unit_at(next) {
                Ok((end, unit)) => {
                    for s in next..=end {
                        self.packets.remove(&s);
                    }
                    self.next = Some(end + 1);
                    self.gap_since = None;
                    self.gap_at = None;
                    if self.needs_keyframe && !unit.keyframe {
                        self.stats.units_skipped += 1;
                        continue;
                    }
                    self.needs_keyframe = false;
                    self.stats.units += 1;
                    return Some(unit);
                }
                Err(missing) => {
                    // Nothing after it has come either: it is on its way (a large keyframe
                    // on a slow path), not lost. Wait, but not for ever.
                    let overtaken = self.packets.range(missing + 1..).next().is_some();
                    let stale = self
                        .packets
                        .get(&next)
                        .is_some_and(|p| now.saturating_duration_since(p.arrived) > MAX_UNIT_TIME);
                    if !overtaken && !stale {
                        self.gap_since = None;
                        self.gap_at = None;
                        return None;
                    }
                    let since = *self.gap_since.get_or_insert(now);
                    self.gap_at = Some(missing);
                    let overfull = self.packets.len() > MAX_VIDEO_PACKETS;
                    if now < since + self.wait && !overfull && !stale {
                        return None;
                    }
                    // Given up: start again at the next keyframe. The packets stay, in case
                    // this picture's own start comes round again.
                    self.stats.gaps_lost += 1;
                    self.packets.remove(&next);
                    self.resync();
                }
            }
        }
    }

    /// The packets of the picture starting at `start` if all are here: the last sequence
    /// number and the picture. Otherwise the first missing sequence number.
    fn unit_at(&self, start: i64) -> Result<(i64, VideoUnit), i64> {
        let first = self.packets.get(&start).ok_or(start)?;
        let mut payloads = vec![first.payload.clone()];
        let mut s = start;
        let mut last = first;
        while !last.marker {
            match self.packets.get(&(s + 1)) {
                // A packet of the next picture with no marker before it: this one is whole.
                Some(p) if p.timestamp != first.timestamp => break,
                Some(p) => {
                    payloads.push(p.payload.clone());
                    last = p;
                    s += 1;
                }
                None => return Err(s + 1),
            }
        }
        Ok((
            s,
            VideoUnit {
                timestamp: first.timestamp,
                keyframe: payloads.iter().any(|p| carries_keyframe(p)),
                payloads,
            },
        ))
    }

    /// Out of step: the first packet that begins a keyframe, dropping what came before it.
    /// Until one is here, packets are kept for [`RESYNC_HOLD`]: the keyframe's first packet
    /// may have been lost and be on its way again, and the rest of the keyframe is needed then.
    fn find_start(&mut self, now: Instant) -> Option<i64> {
        let start = self
            .packets
            .iter()
            .find(|(s, p)| {
                starts_keyframe(&p.payload)
                    || (carries_keyframe(&p.payload)
                        && self.packets.get(&(*s - 1)).is_some_and(|prev| prev.marker))
            })
            .map(|(s, _)| *s);
        match start {
            Some(start) => {
                self.packets = self.packets.split_off(&start);
                Some(start)
            }
            None => {
                while self.packets.len() > MAX_VIDEO_PACKETS
                    || self.packets.first_key_value().is_some_and(|(_, p)| {
                        now.saturating_duration_since(p.arrived) > RESYNC_HOLD
                    })
                {
                    self.packets.pop_first();
                }
                None
            }
        }
    }
}

const IDR: u8 = 5;
const SPS: u8 = 7;
const STAP_A: u8 = 24;
const FU_A: u8 = 28;

/// Whether an H.264 RTP payload begins a keyframe: an SPS, alone or first in a STAP-A (as
/// OpenH264 and libwebrtc send them).
pub fn starts_keyframe(payload: &[u8]) -> bool {
    match payload.first().map(|h| h & 0x1f) {
        Some(SPS) => true,
        Some(STAP_A) => payload.get(3).is_some_and(|h| h & 0x1f == SPS),
        _ => false,
    }
}

/// Whether an H.264 RTP payload carries a keyframe's parts: an SPS or the start of an IDR
/// slice (alone, first in a STAP-A, or opening a FU-A).
pub fn carries_keyframe(payload: &[u8]) -> bool {
    match payload.first().map(|h| h & 0x1f) {
        Some(IDR | SPS) => true,
        Some(STAP_A) => payload
            .get(3)
            .is_some_and(|h| matches!(h & 0x1f, SPS | IDR)),
        Some(FU_A) => payload
            .get(1)
            .is_some_and(|h| h & 0x80 != 0 && h & 0x1f == IDR),
        _ => false,
    }
}

/// Samples of one Opus frame at 48 kHz, 20 ms.
pub const AUDIO_FRAME: Duration = Duration::from_millis(20);
/// The least audio depth (time between arrival and playout).
pub const MIN_AUDIO_DEPTH: Duration = Duration::from_millis(40);
/// The most audio depth the buffer grows to.
pub const MAX_AUDIO_DEPTH: Duration = Duration::from_millis(300);
/// Concealment runs at most this many frames; then the sender is taken to be silent (muted,
/// or cut off) and the buffer waits for it without making sound up.
const MAX_CONCEAL_RUN: u32 = 5;
/// Beyond this much above the target depth, even sound is dropped to catch up.
const HARD_EXCESS: Duration = Duration::from_millis(200);
/// How long a late packet keeps the depth up.
const LATENESS_WINDOW: Duration = Duration::from_secs(10);
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
    snapshots: std::collections::VecDeque<(Instant, u64, u64)>,
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
    lateness: std::collections::VecDeque<(Instant, Duration)>,
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
            lateness: std::collections::VecDeque::new(),
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
    fn depth(&self) -> Duration {
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

#[cfg(test)]
mod tests;
