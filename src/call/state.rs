//! The meeting as this participant sees it ([`MeshState`]), and how each server message
//! changes it ([`MeshState::apply`]). Pure: no links, no sockets, no clock. Every list that
//! grows with the meeting is bounded, so a day-long meeting costs what a short one does, and
//! the state stays small enough to hand to the UI on every change.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use termmeet_signaling::protocol::{ChatMessage, PeerInfo, ServerMessage, You};

use super::stats::Quality;
use crate::media::frame::RgbFrame;
use crate::share::TermScreen;

/// Chat messages kept (the newest).
pub const CHAT_KEPT: usize = 1000;
/// Problems kept for the report and the status bar (the newest).
pub const ERRORS_KEPT: usize = 50;
/// Participants who left, kept for reports and `expect left` (the newest).
pub const DEPARTED_KEPT: usize = 64;
/// RMS level (of full scale) over which a participant counts as speaking.
pub const SPEAKING_LEVEL: f32 = 0.02;

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
    /// Gaps of more than [`super::tracks::FREEZE`] between decoded camera pictures.
    pub freezes: u64,
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
    /// The newest screen picture.
    pub latest_screen: Option<Arc<RgbFrame>>,
    /// Connection state.
    pub connection: String,
    /// ICE connection state (new, checking, connected …).
    pub ice: String,
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
    /// Selected candidate pair's local type: host, srflx, relay.
    pub path: String,
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

    fn new(info: PeerInfo) -> PeerState {
        PeerState {
            info,
            video_frames: 0,
            screen_frames: 0,
            audio_ms: 0,
            concealed_pct: 0.0,
            concealed_recent_pct: 0.0,
            freezes: 0,
            sas: None,
            offers: 0,
            latency: LatencyHistogram::default(),
            stamp_range: None,
            audio_level: 0.0,
            speech: false,
            last_video: None,
            first_video: None,
            latest_video: None,
            latest_screen: None,
            connection: "new".into(),
            ice: "new".into(),
            rtt_ms: 0.0,
            loss_pct: 0.0,
            bitrate_kbps: 0.0,
            bitrate_out_kbps: 0.0,
            jitter_ms: 0.0,
            path: String::new(),
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
}

/// The meeting as this participant sees it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MeshState {
    /// Counts changes: the terminal driver takes a new copy only when it moved.
    pub version: u64,
    /// Who we are, once joined.
    pub me: Option<You>,
    /// The host's id.
    pub host: String,
    /// Everyone else, by id.
    pub peers: BTreeMap<String, PeerState>,
    /// The hand queue, first raised first.
    pub hands: Vec<String>,
    /// Chat, oldest first (the last [`CHAT_KEPT`]); shared, so a copy of the state is cheap.
    pub chat: Arc<Vec<ChatMessage>>,
    /// Whether chat is on.
    pub chat_enabled: bool,
    /// Participants who left: (id, name), the last [`DEPARTED_KEPT`].
    pub left: Vec<(String, String)>,
    /// What we received from participants who left, by id (for reports).
    pub departed: BTreeMap<String, PeerState>,
    /// Signaling status for people ("connected", "reconnecting in 2s", …).
    pub signaling: String,
    /// Whether the signaling connection is up.
    pub connected: bool,
    /// Problems worth reporting (bad SDP from a peer, errors from the server), the last
    /// [`ERRORS_KEPT`].
    pub errors: Vec<String>,
    /// Our own mic, camera and screen state.
    pub mic: bool,
    /// Camera on.
    pub cam: bool,
    /// Screen shared.
    pub screen: bool,
    /// The terminal we share, if we do.
    pub my_terminal: Option<SharedTerminal>,
}

/// How a server message changed who is in the meeting: what the links must follow.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Roster {
    /// Nobody came or went.
    Unchanged,
    /// A first `peers` (or one after a failed resume): connect afresh to each of these, and
    /// offer (whoever receives `peers` offers to everyone in it).
    Joined(Vec<String>),
    /// `peers` on a resume: the connections stand; these left while we were away.
    Resumed(Vec<String>),
    /// Someone arrived; they will offer.
    Arrived(String),
    /// Someone left.
    Left(String),
}

fn push_bounded<T>(list: &mut Vec<T>, item: T, max: usize) {
    list.push(item);
    if list.len() > max {
        let extra = list.len() - max;
        list.drain(..extra);
    }
}

impl MeshState {
    /// The id of the participant called `name` (present or departed).
    pub fn id_of(&self, name: &str) -> Option<String> {
        self.peers
            .iter()
            .find(|(_, p)| p.info.name == name)
            .map(|(id, _)| id.clone())
            .or_else(|| {
                self.left
                    .iter()
                    .rev()
                    .find(|(_, n)| n == name)
                    .map(|(id, _)| id.clone())
            })
    }

    /// The name of `id`, ourselves included.
    pub fn name_of(&self, id: &str) -> String {
        if let Some(me) = self.me.as_ref().filter(|m| m.id == id) {
            return me.name.clone();
        }
        self.peers
            .get(id)
            .map(|p| p.info.name.clone())
            .or_else(|| {
                self.left
                    .iter()
                    .find(|(i, _)| i == id)
                    .map(|(_, n)| n.clone())
            })
            .unwrap_or_else(|| id.to_string())
    }

    /// Records a problem (the oldest go first).
    pub fn push_error(&mut self, message: String) {
        push_bounded(&mut self.errors, message, ERRORS_KEPT);
    }

    /// Adds chat messages (the oldest go first).
    fn push_chat(&mut self, messages: impl IntoIterator<Item = ChatMessage>) {
        let chat = Arc::make_mut(&mut self.chat);
        chat.extend(messages);
        if chat.len() > CHAT_KEPT {
            let extra = chat.len() - CHAT_KEPT;
            chat.drain(..extra);
        }
    }

    /// Moves a participant to those who left, keeping their figures (not their pictures).
    fn depart(&mut self, id: &str) {
        if let Some(mut p) = self.peers.remove(id) {
            p.latest_video = None;
            p.latest_screen = None;
            push_bounded(
                &mut self.left,
                (id.to_string(), p.info.name.clone()),
                DEPARTED_KEPT,
            );
            self.departed.insert(id.to_string(), p);
            while self.departed.len() > DEPARTED_KEPT {
                let oldest = self.left.first().map(|(i, _)| i.clone());
                let gone = oldest
                    .filter(|i| self.departed.contains_key(i) && i != id)
                    .or_else(|| self.departed.keys().find(|k| *k != id).cloned());
                match gone {
                    Some(k) => self.departed.remove(&k),
                    None => break,
                };
            }
        }
        self.hands.retain(|h| h != id);
    }

    /// Applies what the server says; returns how the roster changed.
    pub fn apply(&mut self, message: ServerMessage) -> Roster {
        self.version += 1;
        match message {
            ServerMessage::Peers {
                you,
                host,
                peers,
                hands,
                chat_enabled,
                chat_history,
                ..
            } => return self.on_peers(you, host, peers, hands, chat_enabled, chat_history),
            ServerMessage::PeerJoined { peer } => {
                let id = peer.id.clone();
                self.peers.insert(id.clone(), PeerState::new(peer));
                return Roster::Arrived(id);
            }
            ServerMessage::PeerLeft { id } => {
                self.depart(&id);
                return Roster::Left(id);
            }
            ServerMessage::MediaState { from, mic, cam } => {
                if let Some(p) = self.peers.get_mut(&from) {
                    p.info.mic = mic;
                    p.info.cam = cam;
                }
            }
            ServerMessage::ScreenShareStarted { from, stream_id } => {
                if let Some(p) = self.peers.get_mut(&from) {
                    p.info.screen = true;
                    p.info.screen_stream_id = Some(stream_id);
                }
            }
            ServerMessage::ScreenShareStopped { from } => {
                if let Some(p) = self.peers.get_mut(&from) {
                    p.info.screen = false;
                    p.latest_screen = None;
                }
            }
            ServerMessage::RaiseHand { queue, .. } | ServerMessage::LowerHand { queue, .. } => {
                for (id, p) in self.peers.iter_mut() {
                    p.info.hand = queue.contains(id);
                }
                self.hands = queue;
            }
            ServerMessage::Chat(m) => self.push_chat([m]),
            ServerMessage::ChatEnabled { .. } => self.chat_enabled = true,
            ServerMessage::ChatDisabled { .. } => self.chat_enabled = false,
            ServerMessage::Host { id } => self.host = id,
            ServerMessage::Error {
                code,
                message,
                reference,
            } => {
                let answering = reference
                    .map(|r| format!(" (answering {r})"))
                    .unwrap_or_default();
                self.push_error(format!("server: {code}: {message}{answering}"));
            }
            ServerMessage::Offer { .. }
            | ServerMessage::Answer { .. }
            | ServerMessage::Candidate { .. }
            | ServerMessage::IceServers { .. }
            | ServerMessage::Pong {} => {}
        }
        Roster::Unchanged
    }

    fn on_peers(
        &mut self,
        you: You,
        host: String,
        peers: Vec<PeerInfo>,
        hands: Vec<String>,
        chat_enabled: bool,
        chat_history: Vec<ChatMessage>,
    ) -> Roster {
        let resumed = self.me.as_ref().is_some_and(|m| m.id == you.id);
        self.me = Some(you);
        self.host = host;
        self.chat_enabled = chat_enabled;
        if resumed {
            // Chat sent while we were away is not relayed to us, but it is in the history
            // that comes with the resume.
            let last = self.chat.iter().map(|m| m.seq).max().unwrap_or(0);
            self.push_chat(chat_history.into_iter().filter(|m| m.seq > last));
        } else {
            self.chat = Arc::new(Vec::new());
            self.push_chat(chat_history);
        }
        // Whoever is not in the list left while we were away (or before we came back).
        let gone: Vec<String> = self
            .peers
            .keys()
            .filter(|id| !peers.iter().any(|p| &p.id == *id))
            .cloned()
            .collect();
        for id in &gone {
            self.depart(id);
        }
        for p in &peers {
            self.peers
                .entry(p.id.clone())
                .or_insert_with(|| PeerState::new(p.clone()))
                .info = p.clone();
        }
        for (id, p) in self.peers.iter_mut() {
            p.info.hand = hands.contains(id);
        }
        self.hands = hands;
        if resumed {
            Roster::Resumed(gone)
        } else {
            Roster::Joined(peers.into_iter().map(|p| p.id).collect())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(id: &str, name: &str) -> PeerInfo {
        PeerInfo::new(id, name)
    }

    fn chat(seq: u64, text: &str) -> ChatMessage {
        ChatMessage {
            from: "b".into(),
            name: "bob".into(),
            text: text.into(),
            ts: seq,
            seq,
        }
    }

    fn peers(me: &str, others: &[(&str, &str)], history: Vec<ChatMessage>) -> ServerMessage {
        ServerMessage::Peers {
            you: You {
                id: me.into(),
                name: "me".into(),
            },
            resume_token: "t".into(),
            host: me.into(),
            peers: others.iter().map(|(i, n)| info(i, n)).collect(),
            hands: vec![],
            chat_enabled: true,
            chat_history: history,
            ice_servers: vec![],
            resume_failed: false,
        }
    }

    #[test]
    fn a_resume_keeps_the_links_merges_missed_chat_and_drops_who_left_meanwhile() {
        let mut s = MeshState::default();
        let r = s.apply(peers(
            "m",
            &[("b", "bob"), ("c", "cy")],
            vec![chat(1, "hi")],
        ));
        assert_eq!(r, Roster::Joined(vec!["b".into(), "c".into()]));
        s.apply(ServerMessage::Chat(chat(2, "second")));
        // Away; cy left and bob wrote once more meanwhile.
        let r = s.apply(peers(
            "m",
            &[("b", "bob")],
            vec![chat(1, "hi"), chat(2, "second"), chat(3, "missed")],
        ));
        assert_eq!(r, Roster::Resumed(vec!["c".into()]));
        let texts: Vec<&str> = s.chat.iter().map(|m| m.text.as_str()).collect();
        assert_eq!(texts, ["hi", "second", "missed"]);
        assert!(!s.peers.contains_key("c"), "no ghost tile");
        assert_eq!(s.id_of("cy").as_deref(), Some("c"));
        assert!(s.departed.contains_key("c"));
    }

    #[test]
    fn a_fresh_join_replaces_the_chat_and_the_roster() {
        let mut s = MeshState::default();
        s.apply(peers("m", &[("b", "bob")], vec![chat(7, "old")]));
        let r = s.apply(peers("m2", &[("d", "dee")], vec![chat(1, "new room")]));
        assert_eq!(r, Roster::Joined(vec!["d".into()]));
        assert_eq!(s.chat.len(), 1);
        assert_eq!(s.peers.keys().collect::<Vec<_>>(), ["d"]);
    }

    #[test]
    fn lists_stay_bounded_over_a_long_meeting() {
        let mut s = MeshState::default();
        s.apply(peers("m", &[], vec![]));
        for n in 0..(CHAT_KEPT as u64 + 500) {
            s.apply(ServerMessage::Chat(chat(n + 1, "x")));
        }
        assert_eq!(s.chat.len(), CHAT_KEPT);
        assert_eq!(s.chat.last().map(|m| m.seq), Some(CHAT_KEPT as u64 + 500));
        for n in 0..200 {
            s.push_error(format!("e{n}"));
            let id = format!("p{n}");
            s.apply(ServerMessage::PeerJoined {
                peer: info(&id, "p"),
            });
            s.apply(ServerMessage::PeerLeft { id });
        }
        assert_eq!(s.errors.len(), ERRORS_KEPT);
        assert_eq!(s.errors.last().map(String::as_str), Some("e199"));
        assert_eq!(s.left.len(), DEPARTED_KEPT);
        assert_eq!(s.departed.len(), DEPARTED_KEPT);
        assert!(s.departed.contains_key("p199"));
    }

    #[test]
    fn hands_and_media_state_follow_the_server() {
        let mut s = MeshState::default();
        s.apply(peers("m", &[("b", "bob")], vec![]));
        s.apply(ServerMessage::RaiseHand {
            from: "b".into(),
            queue: vec!["b".into()],
        });
        assert!(s.peers["b"].info.hand);
        s.apply(ServerMessage::MediaState {
            from: "b".into(),
            mic: false,
            cam: true,
        });
        assert!(!s.peers["b"].info.mic);
        let v = s.version;
        s.apply(ServerMessage::PeerLeft { id: "b".into() });
        assert!(s.hands.is_empty());
        assert!(s.version > v);
    }

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
