//! The tasks that move media on a link: a writer per local track (samples from a shared
//! encoder out to one peer, with the payload type that peer negotiated) and a receiver per
//! remote track (RTP to pictures and sound, counted into the meeting state).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rtc::media::Sample;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;
use tokio::sync::broadcast;
use tokio::task::JoinHandle;
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};

use super::link::{LinkResult, LocalTrack, PeerLink};
use super::local::{EncodedSample, Pump, PumpControl};
use super::receive::{AudioReceiver, VideoReceiver};
use super::state::MeshState;
use crate::media::frame::now_ms;
use crate::media::pattern::latency_ms;
use crate::media::playback::RemoteAudio;
use crate::media::processing::VoiceDetector;

/// Samples of received audio kept per peer for tone checks (one second).
pub const RECENT_AUDIO: usize = 48_000;
/// A gap this long between decoded camera pictures is a freeze.
pub const FREEZE: Duration = Duration::from_millis(500);
/// A receiver asks for a keyframe at most this often.
pub const PLI_INTERVAL: Duration = Duration::from_millis(500);
/// Unanswered keyframe requests back off to this.
pub const MAX_PLI_INTERVAL: Duration = Duration::from_secs(1);

/// Which local source a track carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// The camera (or its stand-in).
    Camera,
    /// The microphone (or its stand-in).
    Microphone,
    /// The shared screen.
    Screen,
}

/// The last second of audio from each peer, by id: kept apart from [`MeshState`] so that
/// copies of the state stay small; scripts read it to check a tone.
pub type AudioTaps = Arc<Mutex<HashMap<String, VecDeque<i16>>>>;

/// The video pumps' controls, shared with the receivers that hear keyframe requests.
pub type KeyframeTargets = Arc<Mutex<Vec<Arc<PumpControl>>>>;

/// Locks, carrying on after a panic elsewhere (the data is plain counters and pictures).
pub fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Asks every video encoder for a keyframe.
pub fn request_keyframes(targets: &KeyframeTargets) {
    for control in lock(targets).iter() {
        control
            .keyframe
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// A local track on a link and the task writing to it.
pub struct SentTrack {
    /// What it carries.
    pub source: Source,
    /// The track.
    pub track: LocalTrack,
    /// The writer task.
    pub writer: JoinHandle<()>,
}

/// Adds a track for a local source to a link, with a writer task feeding it.
pub async fn add_source(
    link: &PeerLink,
    source: Source,
    stream: &str,
    pump: &Pump,
) -> LinkResult<SentTrack> {
    let (kind, label) = match source {
        Source::Camera => (RtpCodecKind::Video, "camera"),
        Source::Microphone => (RtpCodecKind::Audio, "microphone"),
        Source::Screen => (RtpCodecKind::Video, "screen"),
    };
    let track = link.add_track(kind, stream, label).await?;
    let writer = tokio::spawn(write_samples(
        pump.samples.subscribe(),
        track.clone(),
        pump.control.clone(),
    ));
    Ok(SentTrack {
        source,
        track,
        writer,
    })
}

/// Writes a source's samples to one track, once its payload type is negotiated.
async fn write_samples(
    mut samples: broadcast::Receiver<EncodedSample>,
    local: LocalTrack,
    control: Arc<PumpControl>,
) {
    use webrtc::media_stream::track_local::{TrackLocal, TrackLocalEvent};
    let LocalTrack {
        track,
        sender,
        ssrc,
        ..
    } = local;
    let mut payload_type = None;
    let mut written = 0u64;
    // Until the track is bound by a negotiation, polling it ends at once: try again later.
    let mut poll_from = tokio::time::Instant::now();
    loop {
        let sample = tokio::select! {
            // Feedback about this track: a PLI or FIR from a peer that sends us nothing (so
            // has no remote track of ours to carry it) arrives here.
            event = async {
                tokio::time::sleep_until(poll_from).await;
                track.poll().await
            } => {
                match event {
                    Some(TrackLocalEvent::OnRtcpPacket(packets)) => {
                        if packets.iter().any(|p| super::rtcp::is_keyframe_request(p.as_ref())) {
                            control.keyframe.store(true, std::sync::atomic::Ordering::Relaxed);
                        }
                    }
                    None => poll_from = tokio::time::Instant::now() + Duration::from_millis(500),
                    Some(_) => {}
                }
                continue;
            }
            sample = samples.recv() => match sample {
                Ok(s) => s,
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return,
            },
        };
        // The payload type can change with every negotiation (a browser's offer picks its
        // own numbers), and rejected packets only show up in the driver's log: look it up
        // again now and then rather than once.
        written += 1;
        if payload_type.is_none() || written.is_multiple_of(25) {
            payload_type = super::link::negotiated_payload_type(&sender).await;
        }
        let Some(pt) = payload_type else { continue };
        let sample = Sample {
            data: sample.data,
            duration: sample.duration,
            ..Sample::new(Instant::now())
        };
        if let Err(e) = track.sample_writer(ssrc, pt).write_sample(&sample).await {
            tracing::debug!("writing a sample failed: {e}");
        }
    }
}

/// What a receiver writes into.
pub struct ReceiveSink {
    /// The meeting state (counters, pictures, audio level).
    pub state: Arc<Mutex<MeshState>>,
    /// The last second of audio per peer.
    pub taps: AudioTaps,
    /// Where the sound is played, if anywhere.
    pub speaker: Option<RemoteAudio>,
    /// The video encoders a keyframe request from this peer applies to.
    pub keyframe_targets: KeyframeTargets,
}

/// RMS level of some samples, 0 to 1 of full scale.
pub fn audio_level(samples: &[i16]) -> f32 {
    if samples.is_empty() {
        return 0.0;
    }
    let energy: f64 = samples
        .iter()
        .map(|&s| (f64::from(s) / 32768.0).powi(2))
        .sum::<f64>()
        / samples.len() as f64;
    energy.sqrt() as f32
}

/// Receives one remote track until it ends, counting what it decodes.
pub async fn receive(peer: String, track: Arc<dyn TrackRemote>, sink: ReceiveSink) {
    let kind = track.kind().await;
    let stream_id = track.stream_id().await.to_string();
    let ssrc = track.ssrcs().await.first().copied().unwrap_or(0);
    let screen = {
        let s = lock(&sink.state);
        s.peers
            .get(&peer)
            .and_then(|p| p.info.screen_stream_id.clone())
            .is_some_and(|id| id == stream_id)
            || stream_id.starts_with("screen")
    };
    tracing::info!(%peer, ?kind, %stream_id, screen, "remote track");
    let mut video = VideoReceiver::new().ok();
    let mut audio = AudioReceiver::new().ok();
    let mut voice = (kind != RtpCodecKind::Video).then(VoiceDetector::new);
    let mut concealment = super::jitter::RecentConcealment::default();
    // Keyframe requests: at most every PLI_INTERVAL, and while they go unanswered, less and
    // less often (a keyframe on a slow path takes a while, and asking again restarts it).
    let mut last_pli: Option<Instant> = None;
    let mut pli_backoff = PLI_INTERVAL;
    let mut path_checked = Instant::now();
    loop {
        // Wake for a packet, or when a buffer has something due without one (a gap given
        // up, the next 20 ms of sound).
        let deadline = if kind == RtpCodecKind::Video {
            video.as_ref().and_then(VideoReceiver::deadline)
        } else {
            audio.as_ref().and_then(AudioReceiver::deadline)
        };
        let event = match deadline {
            Some(at) => tokio::select! {
                event = track.poll() => Some(event),
                () = tokio::time::sleep_until(at.into()) => None,
            },
            None => Some(track.poll().await),
        };
        let now = Instant::now();
        match event {
            None => {}
            Some(None) => break,
            Some(Some(TrackRemoteEvent::OnRtpPacket(packet))) => {
                let h = &packet.header;
                if let Some(v) = video.as_mut().filter(|_| kind == RtpCodecKind::Video) {
                    v.push(
                        h.sequence_number,
                        h.timestamp,
                        h.marker,
                        packet.payload.clone(),
                        now,
                    );
                } else if let Some(a) = audio.as_mut() {
                    a.push(h.sequence_number, packet.payload.clone(), now);
                }
            }
            Some(Some(TrackRemoteEvent::OnRtcpPacket(packets))) => {
                // PLI or FIR from this peer about what we send: the next frames are keyframes.
                if packets
                    .iter()
                    .any(|p| super::rtcp::is_keyframe_request(p.as_ref()))
                {
                    request_keyframes(&sink.keyframe_targets);
                }
                continue;
            }
            Some(Some(_)) => continue,
        }
        if kind == RtpCodecKind::Video {
            let Some(v) = video.as_mut() else { continue };
            if now.duration_since(path_checked) >= Duration::from_secs(1) {
                path_checked = now;
                let (rtt, jitter, loss) = path_of(&sink, &peer);
                v.set_path(rtt, jitter, loss);
            }
            for frame in v.pop(now) {
                count_video(&sink, &peer, screen, frame);
            }
            if !v.needs_keyframe() {
                pli_backoff = PLI_INTERVAL;
            }
            if v.needs_keyframe() && last_pli.is_none_or(|t| now >= t + pli_backoff) {
                if last_pli.is_some() {
                    pli_backoff = (pli_backoff * 2).min(MAX_PLI_INTERVAL);
                }
                last_pli = Some(now);
                tracing::debug!(%peer, stats = ?v.stats(), wait = ?v.wait(), "asking for a keyframe");
                let pli = PictureLossIndication {
                    sender_ssrc: 0,
                    media_ssrc: ssrc,
                };
                let _ = track.write_rtcp(vec![Box::new(pli)]).await;
            }
        } else {
            let Some(a) = audio.as_mut() else { continue };
            let samples = a.pull(now);
            if samples.is_empty() {
                continue;
            }
            if let Some(speaker) = &sink.speaker {
                speaker.push(&samples);
            }
            let speech = voice.as_mut().is_some_and(|v| v.hears_i16(&samples));
            let stats = a.stats();
            let recent = concealment.update(now, &stats);
            count_audio(
                &sink,
                &peer,
                &samples,
                speech,
                (stats.concealed_pct(), recent),
            );
        }
    }
}

/// The round trip, jitter and loss (a fraction) to a peer as last measured.
fn path_of(sink: &ReceiveSink, peer: &str) -> (Duration, Duration, f64) {
    let s = lock(&sink.state);
    let ms = |v: f64| Duration::from_secs_f64((v.max(0.0) / 1000.0).min(10.0));
    s.peers
        .get(peer)
        .map_or((Duration::ZERO, Duration::ZERO, 0.0), |p| {
            (ms(p.rtt_ms), ms(p.jitter_ms), p.loss_pct / 100.0)
        })
}

fn count_video(
    sink: &ReceiveSink,
    peer: &str,
    screen: bool,
    frame: crate::media::h264::DecodedFrame,
) {
    let now = Instant::now();
    let mut s = lock(&sink.state);
    s.version += 1;
    let Some(p) = s.peers.get_mut(peer) else {
        return;
    };
    if screen {
        p.screen_frames += 1;
        p.latest_screen = Some(Arc::new(frame.rgb));
        return;
    }
    p.video_frames += 1;
    if p.last_video
        .is_some_and(|last| now.duration_since(last) > FREEZE && p.info.cam)
    {
        p.freezes += 1;
    }
    p.first_video.get_or_insert(now);
    p.last_video = Some(now);
    if let Some(stamp) = frame.stamp {
        p.latency.record(latency_ms(stamp, now_ms()));
        let (first, _) = p.stamp_range.unwrap_or((stamp.frame, stamp.frame));
        p.stamp_range = Some((first.min(stamp.frame), stamp.frame));
    }
    p.latest_video = Some(Arc::new(frame.rgb));
}

/// Counts decoded audio; `concealed` is the concealed share over the whole call and over the
/// last 5 s, in percent.
fn count_audio(
    sink: &ReceiveSink,
    peer: &str,
    samples: &[i16],
    speech: bool,
    concealed: (f64, f64),
) {
    {
        let mut s = lock(&sink.state);
        let Some(p) = s.peers.get_mut(peer) else {
            return;
        };
        p.audio_ms += samples.len() as u64 / 48;
        (p.concealed_pct, p.concealed_recent_pct) = concealed;
        let level = audio_level(samples);
        let was_speaking = p.speaking();
        p.audio_level = level;
        p.speech = speech;
        // Only a change people can see counts as a new version.
        if p.speaking() != was_speaking {
            s.version += 1;
        }
    }
    let mut taps = lock(&sink.taps);
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
    fn audio_levels() {
        assert_eq!(audio_level(&[]), 0.0);
        assert_eq!(audio_level(&[0; 960]), 0.0);
        let loud: Vec<i16> = (0..960)
            .map(|n| if n % 2 == 0 { 16384 } else { -16384 })
            .collect();
        assert!((audio_level(&loud) - 0.5).abs() < 1e-6);
        let hiss: Vec<i16> = (0..960)
            .map(|n| if n % 2 == 0 { 300 } else { -300 })
            .collect();
        assert!(audio_level(&hiss) < crate::call::state::SPEAKING_LEVEL);
    }
}
