//! A receiver per remote track: RTP through the jitter buffers and decoders, the sound to
//! the speaker and the recent-audio taps, and what was decoded handed to the driver as
//! [`Received`] events. A receiver never touches the meeting state: the driver, its one
//! owner, counts what they report.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;
use tokio::sync::{mpsc, watch};
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};

use super::jitter::RecentConcealment;
use super::peer::{Picture, Sound};
use super::receive::{AudioReceiver, VideoReceiver};
use super::tracks::{request_keyframes, KeyframeTargets};
use crate::media::frame::now_ms;
use crate::media::level::audio_level;
use crate::media::pattern::latency_ms;
use crate::media::playback::RemoteAudio;
use crate::media::processing::VoiceDetector;
use crate::sync::lock;

/// Samples of received audio kept per peer for tone checks (one second).
pub const RECENT_AUDIO: usize = 48_000;
/// A receiver asks for a keyframe at most this often.
pub const PLI_INTERVAL: Duration = Duration::from_millis(500);
/// Unanswered keyframe requests back off to this.
pub const MAX_PLI_INTERVAL: Duration = Duration::from_secs(1);

/// The last second of audio from each peer, by id: kept apart from the meeting state so
/// that copies of the state stay small; scripts read it to check a tone.
pub type AudioTaps = Arc<Mutex<HashMap<String, VecDeque<i16>>>>;

/// The path to a peer as last measured, which sets how long the video jitter buffer waits
/// for a resend: round trip, jitter and loss (a fraction).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct PathFigures {
    /// Round-trip time.
    pub rtt: Duration,
    /// Interarrival jitter.
    pub jitter: Duration,
    /// Loss, 0 to 1.
    pub loss: f64,
}

/// What a receiver reports to the driver.
#[derive(Debug)]
pub enum Received {
    /// A picture was decoded.
    Picture(Picture),
    /// Sound was decoded.
    Sound(Sound),
    /// The track cannot be decoded: its decoder did not open.
    Undecodable(String),
}

/// What a receiver writes into and reads from.
pub struct ReceiveSink {
    /// Where decoded media is reported, with the peer's id.
    pub events: mpsc::UnboundedSender<(String, Received)>,
    /// The last second of audio per peer.
    pub taps: AudioTaps,
    /// Where the sound is played, if anywhere.
    pub speaker: Option<RemoteAudio>,
    /// Which of the peer's sound tracks is played (one, at a switch between links).
    pub voices: super::voices::Voices,
    /// The video encoders a keyframe request from this peer applies to.
    pub keyframe_targets: KeyframeTargets,
    /// The path to the peer, as the driver measures it once a second.
    pub path: watch::Receiver<PathFigures>,
    /// The stream id the peer announced for its screen, if it shares one.
    pub screen_stream: Option<String>,
}

/// Receives one remote track until it ends.
pub async fn receive(peer: String, track: Arc<dyn TrackRemote>, sink: ReceiveSink) {
    let kind = track.kind().await;
    let stream_id = track.stream_id().await.to_string();
    let screen = sink.screen_stream.as_deref() == Some(stream_id.as_str())
        || stream_id.starts_with("screen");
    tracing::info!(%peer, ?kind, %stream_id, screen, "remote track");
    let report = |r: Received| {
        let _ = sink.events.send((peer.clone(), r));
    };
    if kind == RtpCodecKind::Video {
        match VideoReceiver::new() {
            Ok(v) => receive_video(&peer, track, &sink, v, screen).await,
            Err(e) => report(Received::Undecodable(format!("video: {e}"))),
        }
    } else {
        match AudioReceiver::new() {
            Ok(a) => receive_audio(&peer, track, &sink, a).await,
            Err(e) => report(Received::Undecodable(format!("sound: {e}"))),
        }
    }
}

/// The next thing on a track: a packet, its end, or a buffer's deadline passing without one
/// (a gap given up, the next 20 ms of sound).
enum Wake {
    Event(TrackRemoteEvent),
    Ended,
    Deadline,
}

async fn next(track: &Arc<dyn TrackRemote>, deadline: Option<Instant>) -> Wake {
    let event = match deadline {
        Some(at) => tokio::select! {
            event = track.poll() => event,
            () = tokio::time::sleep_until(at.into()) => return Wake::Deadline,
        },
        None => track.poll().await,
    };
    match event {
        Some(e) => Wake::Event(e),
        None => Wake::Ended,
    }
}

/// Whether an RTCP batch from the peer asks us for a keyframe (a PLI or FIR about what we
/// send); if so the shared encoders are told.
fn keyframe_asked(event: &TrackRemoteEvent, targets: &KeyframeTargets) -> bool {
    let TrackRemoteEvent::OnRtcpPacket(packets) = event else {
        return false;
    };
    if packets
        .iter()
        .any(|p| super::rtcp::is_keyframe_request(p.as_ref()))
    {
        request_keyframes(targets);
    }
    true
}

/// Keyframe requests of ours: at most every [`PLI_INTERVAL`], and while they go unanswered,
/// less and less often (a keyframe on a slow path takes a while, and asking again restarts
/// it).
struct KeyframeAsking {
    last: Option<Instant>,
    backoff: Duration,
}

impl KeyframeAsking {
    fn new() -> KeyframeAsking {
        KeyframeAsking {
            last: None,
            backoff: PLI_INTERVAL,
        }
    }

    /// Whether to ask now, given whether the decoder needs a keyframe.
    fn ask(&mut self, needed: bool, now: Instant) -> bool {
        if !needed {
            self.backoff = PLI_INTERVAL;
            return false;
        }
        if self.last.is_some_and(|t| now < t + self.backoff) {
            return false;
        }
        if self.last.is_some() {
            self.backoff = (self.backoff * 2).min(MAX_PLI_INTERVAL);
        }
        self.last = Some(now);
        true
    }
}

async fn receive_video(
    peer: &str,
    track: Arc<dyn TrackRemote>,
    sink: &ReceiveSink,
    mut video: VideoReceiver,
    screen: bool,
) {
    let ssrc = track.ssrcs().await.first().copied().unwrap_or(0);
    let mut asking = KeyframeAsking::new();
    let mut path = sink.path.clone();
    loop {
        let now = match next(&track, video.deadline()).await {
            Wake::Ended => break,
            Wake::Deadline => Instant::now(),
            Wake::Event(TrackRemoteEvent::OnRtpPacket(packet)) => {
                let now = Instant::now();
                let h = &packet.header;
                video.push(
                    h.sequence_number,
                    h.timestamp,
                    h.marker,
                    packet.payload,
                    now,
                );
                now
            }
            Wake::Event(e) => {
                keyframe_asked(&e, &sink.keyframe_targets);
                continue;
            }
        };
        if path.has_changed().unwrap_or(false) {
            let p = *path.borrow_and_update();
            video.set_path(p.rtt, p.jitter, p.loss);
        }
        for frame in video.pop(now) {
            let stamp = frame.stamp.map(|s| (s.frame, latency_ms(s, now_ms())));
            let picture = Picture {
                screen,
                rgb: Arc::new(frame.rgb),
                stamp,
            };
            if sink
                .events
                .send((peer.to_string(), Received::Picture(picture)))
                .is_err()
            {
                return;
            }
        }
        if asking.ask(video.needs_keyframe(), now) {
            tracing::debug!(%peer, stats = ?video.stats(), wait = ?video.wait(), "asking for a keyframe");
            let pli = PictureLossIndication {
                sender_ssrc: 0,
                media_ssrc: ssrc,
            };
            let _ = track.write_rtcp(vec![Box::new(pli)]).await;
        }
    }
}

async fn receive_audio(
    peer: &str,
    track: Arc<dyn TrackRemote>,
    sink: &ReceiveSink,
    mut audio: AudioReceiver,
) {
    let mut voice = VoiceDetector::new();
    let mut played = sink.voices.voice(peer);
    let mut concealment = RecentConcealment::default();
    // Whether a packet came since the last sound handed on: the jitter buffer often plays
    // a packet out on a later wake than the one it came on.
    let mut fresh = false;
    loop {
        let now = match next(&track, audio.deadline()).await {
            Wake::Ended => break,
            Wake::Deadline => Instant::now(),
            Wake::Event(TrackRemoteEvent::OnRtpPacket(packet)) => {
                let now = Instant::now();
                audio.push(packet.header.sequence_number, packet.payload, now);
                fresh = true;
                now
            }
            Wake::Event(e) => {
                keyframe_asked(&e, &sink.keyframe_targets);
                continue;
            }
        };
        let samples = audio.pull(now);
        if samples.is_empty() {
            continue;
        }
        if let Some(speaker) = sink.speaker.as_ref().filter(|_| played.plays()) {
            speaker.push(&samples);
        }
        let stats = audio.stats();
        let sound = Sound {
            ms: samples.len() as u64 / 48,
            level: audio_level(&samples),
            speech: voice.hears_i16(&samples),
            concealed: (stats.concealed_pct(), concealment.update(now, &stats)),
            fresh: std::mem::take(&mut fresh),
        };
        tap(&sink.taps, peer, &samples);
        if sink
            .events
            .send((peer.to_string(), Received::Sound(sound)))
            .is_err()
        {
            return;
        }
    }
}

/// Keeps the last [`RECENT_AUDIO`] samples from `peer`.
fn tap(taps: &AudioTaps, peer: &str, samples: &[i16]) {
    let mut taps = lock(taps);
    // Per packet: look the peer up without making a key, which only the first packet needs.
    let tap = match taps.get_mut(peer) {
        Some(tap) => tap,
        None => taps.entry(peer.to_string()).or_default(),
    };
    tap.extend(samples.iter().copied());
    let extra = tap.len().saturating_sub(RECENT_AUDIO);
    tap.drain(..extra);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyframe_requests_back_off_while_unanswered() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut k = KeyframeAsking::new();
        assert!(!k.ask(false, t0));
        assert!(k.ask(true, t0));
        assert!(!k.ask(true, t0 + ms(499)));
        assert!(k.ask(true, t0 + ms(500)), "after the interval");
        assert!(!k.ask(true, t0 + ms(1400)), "backed off to a second");
        assert!(k.ask(true, t0 + ms(1500)));
        assert!(!k.ask(false, t0 + ms(1600)), "answered: the backoff resets");
        assert!(k.ask(true, t0 + ms(2100)));
    }

    #[test]
    fn the_tap_keeps_one_second() {
        let taps = AudioTaps::default();
        for _ in 0..60 {
            tap(&taps, "b", &[1; 960]);
        }
        assert_eq!(lock(&taps)["b"].len(), RECENT_AUDIO);
    }
}
