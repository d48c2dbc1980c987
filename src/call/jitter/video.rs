//! The video jitter buffer: H.264 packets ordered by sequence number, handed out as whole
//! pictures whose references are intact.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::sequence::{Unwrapper, SEQ_RESTART};

/// How often the receiver asks again for missing video packets (the NACK generator's cycle).
pub const NACK_INTERVAL: Duration = Duration::from_millis(25);
/// The least time a missing video packet is waited for. A lost last packet of a picture is
/// only noticed when the next picture starts (33 ms at 30 fps), and asked for at the next
/// NACK cycle: the first resend comes about 60 ms after the loss at best.
pub const MIN_VIDEO_WAIT: Duration = Duration::from_millis(100);
/// The most time a missing video packet is waited for, however bad the path.
pub const MAX_VIDEO_WAIT: Duration = Duration::from_millis(500);
/// The first resend of a lost packet comes this long after the loss at best (see above).
pub(super) const FIRST_RESEND: Duration = Duration::from_millis(60);
/// Most video packets held; beyond it the oldest gap is given up at once.
const MAX_VIDEO_PACKETS: usize = 2048;

#[derive(Clone, Debug)]
struct VideoPacket {
    timestamp: u32,
    marker: bool,
    payload: Bytes,
    arrived: Instant,
}

/// The longest a picture's first packet waits for the rest of it to arrive (a keyframe on a
/// slow path).
pub(super) const MAX_UNIT_TIME: Duration = Duration::from_secs(3);
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
