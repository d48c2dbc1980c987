//! The writer per local track: samples from a shared encoder out to one peer, with the
//! payload type that peer negotiated. (Remote tracks are received in [`super::inbound`].)

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rtc::media::Sample;
use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;
use tokio::sync::broadcast;
use tokio::task::JoinHandle;

use super::link::{LinkResult, LocalTrack, PeerLink};
use super::local::{EncodedSample, Pump, PumpControl};
use crate::sync::lock;

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

/// The video pumps' controls, shared with the receivers that hear keyframe requests.
pub type KeyframeTargets = Arc<Mutex<Vec<Arc<PumpControl>>>>;

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
