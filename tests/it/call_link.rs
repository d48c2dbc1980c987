//! Two real WebRTC peer connections on loopback: H.264 test-pattern video and an Opus tone
//! from one to the other, negotiated with our offer/answer and candidate handling.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rtc::media::Sample;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;
use termmeet::call::link::{LinkEvent, LocalTrack, PeerLink};
use termmeet::call::receive::{AudioReceiver, VideoReceiver};
use termmeet::media::h264::{EncoderSettings, H264Encoder};
use termmeet::media::opus_codec::OpusEncoder;
use termmeet::media::pattern::{PatternStyle, TestPattern};
use termmeet::media::tone::{tone_is_dominant, ToneSource};
use tokio::sync::mpsc;
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::peer_connection::RTCPeerConnectionState;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn video_and_audio_flow_between_two_links() {
    let (a_tx, mut a_rx) = mpsc::unbounded_channel();
    let (b_tx, mut b_rx) = mpsc::unbounded_channel();
    let mut a = PeerLink::new("aaaa", "bbbb", &[], &["127.0.0.1:0".to_string()], a_tx)
        .await
        .unwrap();
    let mut b = PeerLink::new("bbbb", "aaaa", &[], &["127.0.0.1:0".to_string()], b_tx)
        .await
        .unwrap();
    assert!(a.polite && !b.polite);
    let video = a
        .add_track(RtpCodecKind::Video, "cam-aaaa", "camera")
        .await
        .unwrap();
    let audio = a
        .add_track(RtpCodecKind::Audio, "cam-aaaa", "microphone")
        .await
        .unwrap();

    let offer = a.make_offer().await.unwrap();
    let answer = b.on_offer(offer).await.unwrap().expect("b answers");
    a.on_answer(answer).await.unwrap();

    // Pump candidates both ways and collect b's tracks until both are connected.
    let deadline = Instant::now() + Duration::from_secs(20);
    let (mut a_up, mut b_up) = (false, false);
    let mut tracks = Vec::new();
    while !(a_up && b_up) {
        assert!(
            Instant::now() < deadline,
            "not connected: a {a_up} b {b_up}, {} tracks",
            tracks.len()
        );
        tokio::select! {
            Some((_, e)) = a_rx.recv() => match e {
                LinkEvent::Candidate(c) => b.on_candidate(Some(c)).await.unwrap(),
                LinkEvent::State(RTCPeerConnectionState::Connected) => a_up = true,
                _ => {}
            },
            Some((_, e)) = b_rx.recv() => match e {
                LinkEvent::Candidate(c) => a.on_candidate(Some(c)).await.unwrap(),
                LinkEvent::State(RTCPeerConnectionState::Connected) => b_up = true,
                LinkEvent::Track(t) => tracks.push(t),
                _ => {}
            },
            _ = tokio::time::sleep(Duration::from_millis(100)) => {}
        }
    }

    // Send 3 s of video and audio from a.
    let video_pt = PeerLink::payload_type(&video).await.unwrap();
    let audio_pt = PeerLink::payload_type(&audio).await.unwrap();
    let sender = tokio::spawn(async move {
        let pattern = TestPattern::new(320, 240, PatternStyle::hue(0));
        let mut enc = H264Encoder::new(EncoderSettings {
            bitrate_bps: 500_000,
            fps: 30.0,
        })
        .unwrap();
        let mut opus = OpusEncoder::new(32_000).unwrap();
        let mut tone = ToneSource::new(440.0, false);
        let start = Instant::now();
        for n in 0..150u32 {
            let due = start + Duration::from_millis(20 * n as u64);
            tokio::time::sleep_until(due.into()).await;
            let packet = opus.encode(&tone.generate()).unwrap();
            let sample = Sample {
                data: packet.into(),
                duration: Duration::from_millis(20),
                ..Sample::new(Instant::now())
            };
            audio
                .track
                .sample_writer(audio.ssrc, audio_pt)
                .write_sample(&sample)
                .await
                .unwrap();
            if n % 2 == 0 {
                let frame = pattern.frame(n / 2, termmeet::media::frame::now_ms());
                let encoded = enc.encode(&frame).unwrap();
                let sample = Sample {
                    data: encoded.data.into(),
                    duration: Duration::from_millis(40),
                    ..Sample::new(Instant::now())
                };
                video
                    .track
                    .sample_writer(video.ssrc, video_pt)
                    .write_sample(&sample)
                    .await
                    .unwrap();
            }
        }
    });

    // Remote tracks are announced when their first packets arrive.
    while tracks.len() < 2 {
        assert!(
            Instant::now() < deadline,
            "only {} remote tracks",
            tracks.len()
        );
        tokio::select! {
            Some((_, e)) = b_rx.recv() => if let LinkEvent::Track(t) = e { tracks.push(t) },
            Some(_) = a_rx.recv() => {}
            _ = tokio::time::sleep(Duration::from_millis(100)) => {}
        }
    }
    let mut receivers = Vec::new();
    for track in tracks {
        receivers.push(tokio::spawn(async move {
            let kind = track.kind().await;
            let mut frames = Vec::new();
            let mut samples = Vec::new();
            let mut vr = VideoReceiver::new().unwrap();
            let mut ar = AudioReceiver::new().unwrap();
            let end = Instant::now() + Duration::from_secs(5);
            while Instant::now() < end {
                match tokio::time::timeout(Duration::from_millis(500), track.poll()).await {
                    Ok(Some(TrackRemoteEvent::OnRtpPacket(p))) => {
                        let now = std::time::Instant::now();
                        if kind == RtpCodecKind::Video {
                            vr.push(
                                p.header.sequence_number,
                                p.header.timestamp,
                                p.header.marker,
                                p.payload.clone(),
                                now,
                            );
                            for f in vr.pop(now) {
                                frames.push(f.stamp.map(|s| s.frame));
                            }
                        } else {
                            ar.push(p.header.sequence_number, p.payload.clone(), now);
                            samples.extend(ar.pull(now));
                        }
                    }
                    Ok(Some(_)) => {}
                    Ok(None) => break,
                    Err(_) => {}
                }
            }
            (kind, frames, samples)
        }));
    }
    sender.await.unwrap();
    for r in receivers {
        let (kind, frames, samples) = r.await.unwrap();
        if kind == RtpCodecKind::Video {
            assert!(frames.len() >= 70, "received {} of 75 frames", frames.len());
            let stamps: Vec<u32> = frames.iter().flatten().copied().collect();
            assert!(
                stamps.len() >= 70 && stamps.windows(2).all(|w| w[1] > w[0]),
                "stamps {stamps:?}"
            );
        } else {
            assert!(
                samples.len() >= 48_000 * 2,
                "received {} samples",
                samples.len()
            );
            assert!(tone_is_dominant(&samples[9600..], 440.0));
        }
    }
    a.close().await;
    b.close().await;
}

type Events = mpsc::UnboundedReceiver<(String, LinkEvent)>;
type Tracks = Vec<Arc<dyn TrackRemote>>;

/// Two links on loopback, `a` (polite) to `b`, each with its event channel.
async fn two_links() -> ((PeerLink, Events), (PeerLink, Events)) {
    let bind = ["127.0.0.1:0".to_string()];
    let (a_tx, a_rx) = mpsc::unbounded_channel();
    let (b_tx, b_rx) = mpsc::unbounded_channel();
    let a = PeerLink::new("aaaa", "bbbb", &[], &bind, a_tx)
        .await
        .unwrap();
    let b = PeerLink::new("bbbb", "aaaa", &[], &bind, b_tx)
        .await
        .unwrap();
    ((a, a_rx), (b, b_rx))
}

/// Sends a tone on `track` every 20 ms until aborted.
fn keep_sending_a_tone(track: LocalTrack) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tone = ToneSource::new(300.0, false);
        let mut opus = OpusEncoder::new(32_000).unwrap();
        loop {
            if let Some(pt) = PeerLink::payload_type(&track).await {
                let sample = Sample {
                    data: opus.encode(&tone.generate()).unwrap().into(),
                    duration: Duration::from_millis(20),
                    ..Sample::new(Instant::now())
                };
                let _ = track
                    .track
                    .sample_writer(track.ssrc, pt)
                    .write_sample(&sample)
                    .await;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
}

/// Relays candidates between the links and keeps each side's remote tracks, until `done`
/// holds for (a's tracks, b's tracks).
async fn relay_until(
    (a, a_rx): &mut (PeerLink, Events),
    (b, b_rx): &mut (PeerLink, Events),
    tracks: &mut (Tracks, Tracks),
    what: &str,
    done: impl Fn(&(Tracks, Tracks)) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done(tracks) {
        assert!(Instant::now() < deadline, "{what}: not within 30 s");
        tokio::select! {
            Some((_, e)) = a_rx.recv() => match e {
                LinkEvent::Candidate(c) => b.on_candidate(Some(c)).await.unwrap(),
                LinkEvent::Track(t) => tracks.0.push(t),
                _ => {}
            },
            Some((_, e)) = b_rx.recv() => match e {
                LinkEvent::Candidate(c) => a.on_candidate(Some(c)).await.unwrap(),
                LinkEvent::Track(t) => tracks.1.push(t),
                _ => {}
            },
            _ = tokio::time::sleep(Duration::from_millis(20)) => {}
        }
    }
}

/// Sends `b`'s PLI for `media_ssrc` over `via` until `heard` says it arrived (within 10 s).
async fn ask_for_a_keyframe<F: std::future::Future<Output = bool>>(
    via: &Arc<dyn TrackRemote>,
    media_ssrc: u32,
    heard: impl Fn() -> F,
) -> bool {
    let pli = PictureLossIndication {
        sender_ssrc: 0,
        media_ssrc,
    };
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            via.write_rtcp(vec![Box::new(pli.clone())]).await.unwrap();
            if heard().await {
                return;
            }
        }
    })
    .await
    .is_ok()
}

/// A PLI from a receiver reaches the sender's application as an RTCP event on the tracks it
/// receives from that peer (where the mesh turns it into a keyframe).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyframe_requests_reach_the_sender() {
    let (mut a, mut b) = two_links().await;
    let a_audio =
        a.0.add_track(RtpCodecKind::Audio, "a", "mic")
            .await
            .unwrap();
    let b_audio =
        b.0.add_track(RtpCodecKind::Audio, "b", "mic")
            .await
            .unwrap();
    let offer = a.0.make_offer().await.unwrap();
    let answer = b.0.on_offer(offer).await.unwrap().unwrap();
    a.0.on_answer(answer).await.unwrap();
    // Both send audio so each has a remote track.
    let sending = [
        keep_sending_a_tone(a_audio.clone()),
        keep_sending_a_tone(b_audio),
    ];
    let mut tracks = (Tracks::new(), Tracks::new());
    relay_until(&mut a, &mut b, &mut tracks, "tracks both ways", |(x, y)| {
        !x.is_empty() && !y.is_empty()
    })
    .await;
    // b asks a for a keyframe; a hears it on the track it receives from b.
    let (a_track, b_track) = (tracks.0[0].clone(), tracks.1[0].clone());
    let heard = ask_for_a_keyframe(&b_track, a_audio.ssrc, || async {
        matches!(
            tokio::time::timeout(Duration::from_millis(300), a_track.poll()).await,
            Ok(Some(TrackRemoteEvent::OnRtcpPacket(packets)))
                if packets.iter().any(|p| termmeet::call::rtcp::is_keyframe_request(p.as_ref()))
        )
    })
    .await;
    assert!(heard, "the PLI never reached a's application");
    sending.iter().for_each(|t| t.abort());
    a.0.close().await;
    b.0.close().await;
}

/// A receiver that sends nothing has no track of ours to carry its PLI: the request comes as
/// feedback on the sender's own local track (where the mesh's writer turns it into a keyframe).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receive_only_peer_still_gets_keyframes() {
    use webrtc::media_stream::track_local::{TrackLocal, TrackLocalEvent};
    let (mut a, mut b) = two_links().await;
    let a_audio =
        a.0.add_track(RtpCodecKind::Audio, "a", "mic")
            .await
            .unwrap();
    b.0.receive_only(RtpCodecKind::Audio).await.unwrap();
    let offer = b.0.make_offer().await.unwrap();
    let answer = a.0.on_offer(offer).await.unwrap().unwrap();
    b.0.on_answer(answer).await.unwrap();
    let sending = keep_sending_a_tone(a_audio.clone());
    let mut tracks = (Tracks::new(), Tracks::new());
    relay_until(&mut a, &mut b, &mut tracks, "a's track at b", |(_, y)| {
        !y.is_empty()
    })
    .await;
    let heard = ask_for_a_keyframe(&tracks.1[0], a_audio.ssrc, || async {
        match tokio::time::timeout(Duration::from_millis(300), a_audio.track.poll()).await {
            Ok(Some(TrackLocalEvent::OnRtcpPacket(packets))) => packets
                .iter()
                .any(|p| termmeet::call::rtcp::is_keyframe_request(p.as_ref())),
            Ok(None) => {
                tokio::time::sleep(Duration::from_millis(100)).await;
                false
            }
            _ => false,
        }
    })
    .await;
    assert!(heard, "the PLI never reached a's local track");
    sending.abort();
    a.0.close().await;
    b.0.close().await;
}

/// An ICE restart (what the mesh does when a connection fails) negotiates fresh ICE
/// credentials on the same connection, and the media keeps arriving afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ice_restart_renegotiates_and_media_carries_on() {
    use std::sync::atomic::{AtomicU64, Ordering};
    let ufrag = |sdp: &str| {
        sdp.lines()
            .find_map(|l| l.trim().strip_prefix("a=ice-ufrag:").map(str::to_string))
            .expect("an ice-ufrag")
    };
    let (mut a, mut b) = two_links().await;
    let audio =
        a.0.add_track(RtpCodecKind::Audio, "a", "mic")
            .await
            .unwrap();
    let first = a.0.make_offer().await.unwrap();
    let answer = b.0.on_offer(first.clone()).await.unwrap().unwrap();
    a.0.on_answer(answer).await.unwrap();

    // a sends a tone all along; b counts the packets that arrive.
    let sending = keep_sending_a_tone(audio);
    let mut tracks = (Tracks::new(), Tracks::new());
    relay_until(&mut a, &mut b, &mut tracks, "a's track at b", |(_, y)| {
        !y.is_empty()
    })
    .await;
    let packets = Arc::new(AtomicU64::new(0));
    let counting = tokio::spawn({
        let (track, packets) = (tracks.1[0].clone(), packets.clone());
        async move {
            while let Some(e) = track.poll().await {
                if matches!(e, TrackRemoteEvent::OnRtpPacket(_)) {
                    packets.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    });
    let arrived = |n: u64| {
        let packets = packets.clone();
        move |_: &(Tracks, Tracks)| packets.load(Ordering::Relaxed) >= n
    };
    relay_until(
        &mut a,
        &mut b,
        &mut tracks,
        "audio before the restart",
        arrived(25),
    )
    .await;

    // The restart: a new offer with new credentials, answered; then more audio.
    a.0.restart_ice().await.unwrap();
    let second = a.0.make_offer().await.unwrap();
    assert_ne!(ufrag(&first), ufrag(&second), "fresh ICE credentials");
    let answer = b.0.on_offer(second).await.unwrap().unwrap();
    a.0.on_answer(answer).await.unwrap();
    let before = packets.load(Ordering::Relaxed);
    relay_until(
        &mut a,
        &mut b,
        &mut tracks,
        "audio after the restart",
        arrived(before + 50),
    )
    .await;
    assert_eq!(tracks.1.len(), 1, "the same track, no new one");
    sending.abort();
    counting.abort();
    a.0.close().await;
    b.0.close().await;
}
