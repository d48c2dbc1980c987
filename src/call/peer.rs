//! One remote participant as we see them ([`PeerState`]): what the server says about them,
//! what we decoded from them and how the link to them is doing. Pure: the time comes in as
//! an argument, and the driver is the only writer.

use std::sync::Arc;
use std::time::{Duration, Instant};

use termmeet_signaling::protocol::PeerInfo;

use super::stats::{Path, Quality};
use crate::media::frame::RgbFrame;
use crate::share::TermScreen;

/// RMS level (of full scale) over which a participant counts as speaking.
pub const SPEAKING_LEVEL: f32 = 0.02;
/// A gap this long between decoded camera pictures is a freeze.
pub const FREEZE: Duration = Duration::from_millis(500);

/// Glass-to-glass latencies as a histogram of fixed size: 1 ms buckets under 100 ms, 10 ms
/// buckets under 1 s, 100 ms buckets under 10 s, and one for everything slower.
#[derive(Clone, Debug, PartialEq)]
pub struct LatencyHistogram {
    buckets: [u32; LATENCY_BUCKETS],
    count: u64,
}

const LATENCY_BUCKETS: usize = 100 + 90 + 90 + 1;

impl Default for LatencyHistogram {
    fn default() -> Self {
        LatencyHistogram {
            buckets: [0; LATENCY_BUCKETS],
            count: 0,
        }
    }
}

impl LatencyHistogram {
    fn bucket(ms: u32) -> usize {
        match ms {
            0..=99 => ms as usize,
            100..=999 => 100 + (ms as usize - 100) / 10,
            1000..=9999 => 190 + (ms as usize - 1000) / 100,
            _ => LATENCY_BUCKETS - 1,
        }
    }

    /// The smallest latency a bucket holds.
    fn floor(bucket: usize) -> u32 {
        match bucket {
            0..=99 => bucket as u32,
            100..=189 => 100 + (bucket as u32 - 100) * 10,
            190..=279 => 1000 + (bucket as u32 - 190) * 100,
            _ => 10_000,
        }
    }

    /// Counts one latency.
    pub fn record(&mut self, ms: u32) {
        self.buckets[Self::bucket(ms)] += 1;
        self.count += 1;
    }

    /// Latencies counted.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The latency under which a share `q` (0 to 1) of the counted ones fall, to the
    /// bucket's resolution; `None` before any.
    pub fn percentile(&self, q: f64) -> Option<u32> {
        if self.count == 0 {
            return None;
        }
        let rank = ((self.count - 1) as f64 * q.clamp(0.0, 1.0)).round() as u64;
        let mut seen = 0u64;
        for (i, &n) in self.buckets.iter().enumerate() {
            seen += u64::from(n);
            if seen > rank {
                return Some(Self::floor(i));
            }
        }
        Some(Self::floor(LATENCY_BUCKETS - 1))
    }
}

/// Everything known about one remote participant.
#[derive(Clone, Debug, PartialEq)]
pub struct PeerState {
    /// What the server says about them.
    pub info: PeerInfo,
    /// Camera frames decoded.
    pub video_frames: u64,
    /// Screen frames decoded.
    pub screen_frames: u64,
    /// Milliseconds of audio decoded.
    pub audio_ms: u64,
    /// Audio time filled by concealment, percent of all audio played from this peer.
    pub concealed_pct: f64,
    /// The same over the last 5 s (the quality panel's).
    pub concealed_recent_pct: f64,
    /// Gaps of more than [`FREEZE`] between decoded camera pictures.
    pub freezes: u64,
    /// The longest time between two decoded camera pictures while their camera was on, ms:
    /// what a tile went without, at a switch of links or an outage.
    pub longest_video_gap_ms: u64,
    /// The longest time between two sound packets while their microphone was on, ms.
    pub longest_sound_gap_ms: u64,
    /// When the last sound packet came.
    pub last_sound: Option<Instant>,
    /// The short code from both ends' DTLS fingerprints (see [`super::sas`]), once connected.
    pub sas: Option<String>,
    /// Offers exchanged with this peer, both ways: a source switch must not add any.
    pub offers: u64,
    /// Glass-to-glass latency of the decoded test-pattern frames.
    pub latency: LatencyHistogram,
    /// Frame numbers of the first and last test-pattern frames decoded: the sender sent
    /// `last - first + 1` frames in between.
    pub stamp_range: Option<(u32, u32)>,
    /// RMS level of the last audio packet decoded, 0 to 1 of full scale (0 when none came
    /// for a while).
    pub audio_level: f32,
    /// Whether the voice detector hears speech in what they send (noise, music or a
    /// keyboard is loud without being speech).
    pub speech: bool,
    /// When the last camera frame was decoded.
    pub last_video: Option<Instant>,
    /// When the first camera frame was decoded (for fps).
    pub first_video: Option<Instant>,
    /// The newest camera picture (latest wins).
    pub latest_video: Option<Arc<RgbFrame>>,
    /// The size of the last camera picture decoded, kept when they leave (the picture is
    /// not).
    pub video_size: Option<[usize; 2]>,
    /// The newest screen picture.
    pub latest_screen: Option<Arc<RgbFrame>>,
    /// The peer connection's state.
    pub connection: LinkState,
    /// The ICE transport's state (new, checking, connected …).
    pub ice: IceState,
    /// Round-trip time, ms.
    pub rtt_ms: f64,
    /// Packet loss of what we receive over the last few seconds, percent.
    pub loss_pct: f64,
    /// Bitrate received, kbit/s.
    pub bitrate_kbps: f64,
    /// Bitrate we send to this peer, kbit/s.
    pub bitrate_out_kbps: f64,
    /// Interarrival jitter of what we receive (the worst stream), ms.
    pub jitter_ms: f64,
    /// The path media takes: the selected candidate pair's type, relay at either end first.
    pub path: Path,
    /// Quality from recent loss and RTT.
    pub quality: Quality,
    /// The terminal they share, if they share one.
    pub terminal: Option<SharedTerminal>,
    /// Bytes on the `term` channel with them, both ways.
    pub terminal_bytes: u64,
    /// Screen updates on the `term` channel with them, both ways.
    pub terminal_updates: u64,
}

/// A shared terminal as a viewer (or its sharer) sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct SharedTerminal {
    /// The screen.
    pub screen: Arc<TermScreen>,
    /// Who may type into it besides the sharer: a participant id.
    pub holder: Option<String>,
    /// What runs (the sharer's own share only; empty for others').
    pub label: String,
}

impl PeerState {
    /// A peer as first seen, with nothing received yet (also for UI tests).
    pub fn new_for_tests(info: PeerInfo) -> PeerState {
        PeerState::new(info)
    }

    pub(crate) fn new(info: PeerInfo) -> PeerState {
        PeerState {
            info,
            video_frames: 0,
            screen_frames: 0,
            audio_ms: 0,
            concealed_pct: 0.0,
            concealed_recent_pct: 0.0,
            freezes: 0,
            longest_video_gap_ms: 0,
            longest_sound_gap_ms: 0,
            last_sound: None,
            sas: None,
            offers: 0,
            latency: LatencyHistogram::default(),
            stamp_range: None,
            audio_level: 0.0,
            speech: false,
            last_video: None,
            first_video: None,
            latest_video: None,
            video_size: None,
            latest_screen: None,
            connection: LinkState::New,
            ice: IceState::New,
            rtt_ms: 0.0,
            loss_pct: 0.0,
            bitrate_kbps: 0.0,
            bitrate_out_kbps: 0.0,
            jitter_ms: 0.0,
            path: Path::Unknown,
            quality: Quality::Disconnected,
            terminal: None,
            terminal_bytes: 0,
            terminal_updates: 0,
        }
    }

    /// Camera frames a second since the first one.
    pub fn video_fps(&self) -> f64 {
        match (self.first_video, self.last_video) {
            (Some(a), Some(b)) if b > a && self.video_frames > 1 => {
                (self.video_frames - 1) as f64 / (b - a).as_secs_f64()
            }
            _ => 0.0,
        }
    }

    /// Whether they are speaking now: their microphone is on, it is loud enough, and the
    /// voice detector hears speech.
    pub fn speaking(&self) -> bool {
        self.info.mic && self.audio_level > SPEAKING_LEVEL && self.speech
    }

    /// Counts a picture decoded at `now`: a screen picture, or a camera one with its
    /// glass-to-glass latency and frame number when it carried the test pattern's stamp.
    pub fn count_picture(&mut self, picture: Picture, now: Instant) {
        if picture.screen {
            self.screen_frames += 1;
            self.latest_screen = Some(picture.rgb);
            return;
        }
        self.video_frames += 1;
        if let Some(gap) = self.last_video.map(|last| now.duration_since(last)) {
            if self.info.cam {
                self.freezes += u64::from(gap > FREEZE);
                self.longest_video_gap_ms = self.longest_video_gap_ms.max(gap.as_millis() as u64);
            }
        }
        self.first_video.get_or_insert(now);
        self.last_video = Some(now);
        if let Some((frame, latency_ms)) = picture.stamp {
            self.latency.record(latency_ms);
            let (first, _) = self.stamp_range.unwrap_or((frame, frame));
            self.stamp_range = Some((first.min(frame), frame));
        }
        self.video_size = Some([picture.rgb.width, picture.rgb.height]);
        self.latest_video = Some(picture.rgb);
    }

    /// Counts sound decoded at `now`; says whether it changed what people see (speaking or
    /// not).
    pub fn count_sound(&mut self, sound: &Sound, now: Instant) -> bool {
        let was_speaking = self.speaking();
        if sound.fresh {
            if let Some(gap) = self.last_sound.map(|last| now.duration_since(last)) {
                if self.info.mic {
                    if gap > FREEZE {
                        tracing::debug!(peer = %self.info.name, gap_ms = gap.as_millis() as u64, "sound gap");
                    }
                    self.longest_sound_gap_ms =
                        self.longest_sound_gap_ms.max(gap.as_millis() as u64);
                }
            }
            self.last_sound = Some(now);
        }
        self.audio_ms += sound.ms;
        (self.concealed_pct, self.concealed_recent_pct) = sound.concealed;
        self.audio_level = sound.level;
        self.speech = sound.speech;
        self.speaking() != was_speaking
    }
}

/// A picture a receiver decoded, handed to the driver.
#[derive(Clone, Debug)]
pub struct Picture {
    /// Whether it is the peer's screen (else their camera).
    pub screen: bool,
    /// The picture.
    pub rgb: Arc<RgbFrame>,
    /// The test pattern's frame number and the glass-to-glass latency in ms, when the
    /// picture carried its stamp.
    pub stamp: Option<(u32, u32)>,
}

/// Sound a receiver decoded (one packet's worth or a few), handed to the driver.
#[derive(Clone, Debug, PartialEq)]
pub struct Sound {
    /// Milliseconds decoded.
    pub ms: u64,
    /// Its RMS level, 0 to 1 of full scale.
    pub level: f32,
    /// Whether the voice detector heard speech in it.
    pub speech: bool,
    /// The concealed share over the whole call and over the last 5 s, percent.
    pub concealed: (f64, f64),
    /// Whether a packet came with it (else it is concealment played into a gap).
    pub fresh: bool,
}

/// The peer connection's state, as the tile and the status bar tell it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LinkState {
    /// Not started.
    #[default]
    New,
    /// ICE and DTLS under way.
    Connecting,
    /// Media can flow.
    Connected,
    /// Checks lapsed; it may come back by itself.
    Disconnected,
    /// Gave up (an ICE restart may bring it back).
    Failed,
    /// Closed.
    Closed,
}

impl LinkState {
    /// Its name, as webrtc names connection states.
    pub fn as_str(self) -> &'static str {
        match self {
            LinkState::New => "new",
            LinkState::Connecting => "connecting",
            LinkState::Connected => "connected",
            LinkState::Disconnected => "disconnected",
            LinkState::Failed => "failed",
            LinkState::Closed => "closed",
        }
    }
}

impl std::fmt::Display for LinkState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The ICE transport's state, shown while a link is being set up.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum IceState {
    /// Gathering has not started.
    #[default]
    New,
    /// Checking candidate pairs.
    Checking,
    /// A pair works.
    Connected,
    /// Checks are done.
    Completed,
    /// Checks lapsed.
    Disconnected,
    /// No pair works.
    Failed,
    /// Closed.
    Closed,
}

impl IceState {
    /// Its name, as webrtc names ICE states.
    pub fn as_str(self) -> &'static str {
        match self {
            IceState::New => "new",
            IceState::Checking => "checking",
            IceState::Connected => "connected",
            IceState::Completed => "completed",
            IceState::Disconnected => "disconnected",
            IceState::Failed => "failed",
            IceState::Closed => "closed",
        }
    }
}

impl std::fmt::Display for IceState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_percentiles_from_the_histogram() {
        let mut h = LatencyHistogram::default();
        assert_eq!(h.percentile(0.5), None);
        for ms in 1..=100 {
            h.record(ms);
        }
        assert_eq!(h.percentile(0.5), Some(51));
        assert_eq!(h.percentile(0.95), Some(95));
        h.record(12_345);
        h.record(250);
        assert_eq!(h.count(), 102);
        assert_eq!(h.percentile(1.0), Some(10_000));
        assert_eq!(LatencyHistogram::floor(LatencyHistogram::bucket(257)), 250);
        assert_eq!(
            LatencyHistogram::floor(LatencyHistogram::bucket(4321)),
            4300
        );
    }
}
