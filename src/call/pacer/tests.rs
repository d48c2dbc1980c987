use super::*;
use rtc::interceptor::AttributedPacket;
use rtc::shared::TransportContext;

const VIDEO: u32 = 1;
const AUDIO: u32 = 2;

fn stream(ssrc: u32, mime: &str) -> StreamInfo {
    StreamInfo {
        ssrc,
        mime_type: mime.into(),
        ..StreamInfo::default()
    }
}

fn rtp(ssrc: u32, seq: u16, bytes: usize, now: Instant) -> TaggedPacket {
    let mut packet = rtc::rtp::Packet::default();
    packet.header.ssrc = ssrc;
    packet.header.sequence_number = seq;
    packet.payload = bytes::Bytes::from(vec![0u8; bytes]);
    TaggedPacket {
        now,
        transport: TransportContext::default(),
        message: AttributedPacket::new(Packet::Rtp(packet)),
    }
}

fn pacer() -> MediaPacer {
    let mut p = MediaPacer::new(SharedRtt::default());
    p.bind_local_stream(&stream(VIDEO, "video/H264"));
    p.bind_local_stream(&stream(AUDIO, "audio/opus"));
    p
}

fn drain(p: &mut MediaPacer) -> Vec<(u32, u16)> {
    let mut out = Vec::new();
    while let Some(m) = p.poll_write() {
        if let Packet::Rtp(r) = m.message.packet {
            out.push((r.header.ssrc, r.header.sequence_number));
        }
    }
    out
}

#[test]
fn a_keyframe_is_spread_out_and_audio_goes_at_once() {
    let t = Instant::now();
    let mut p = pacer();
    for seq in 0..40 {
        p.handle_write(rtp(VIDEO, seq, 1200, t)).unwrap();
    }
    let first = drain(&mut p);
    assert!(first.len() < 40, "not all in one burst: {}", first.len());
    p.handle_write(rtp(AUDIO, 7, 80, t)).unwrap();
    assert_eq!(
        drain(&mut p),
        vec![(AUDIO, 7)],
        "audio does not wait behind video"
    );
    // At 1.5 Mbit/s, 40 packets of 1.2 kB are out within about 260 ms (the queue limit
    // releases the rest at 250 ms at the latest).
    let mut sent = first.len();
    let mut now = t;
    while sent < 40 {
        let at = p.poll_timeout().expect("a release is due");
        assert!(
            at > now,
            "the deadline moves on: {:?} after {:?}, {} sent",
            at - t,
            now - t,
            sent
        );
        now = at;
        p.handle_timeout(now).unwrap();
        sent += drain(&mut p).len();
    }
    assert!(now - t <= MAX_QUEUE_TIME, "{:?}", now - t);
    assert_eq!(p.queued(), 0);
}

#[test]
fn resends_go_before_new_video() {
    let t = Instant::now();
    let mut p = pacer();
    for seq in 0..60 {
        p.handle_write(rtp(VIDEO, seq, 1200, t)).unwrap();
    }
    drain(&mut p);
    // Packet 3 is asked for again while new video is still queued.
    p.handle_write(rtp(VIDEO, 3, 1200, t)).unwrap();
    let at = p.poll_timeout().unwrap();
    p.handle_timeout(at).unwrap();
    let out = drain(&mut p);
    assert_eq!(out.first(), Some(&(VIDEO, 3)), "{out:?}");
}

#[test]
fn nothing_waits_longer_than_the_queue_limit() {
    let t = Instant::now();
    let mut p = pacer();
    // A slow estimate, and far more than it allows.
    p.bucket.set_target_bitrate(100_000.0);
    for seq in 0..100 {
        p.handle_write(rtp(VIDEO, seq, 1200, t)).unwrap();
    }
    drain(&mut p);
    let later = t + MAX_QUEUE_TIME;
    assert!(p.poll_timeout().unwrap() <= later);
    p.handle_timeout(later).unwrap();
    drain(&mut p);
    assert_eq!(p.queued(), 0, "the overdue queue is released");
}

#[test]
fn the_resend_gap_follows_the_round_trip() {
    assert_eq!(resend_gap(Duration::ZERO), MIN_RESEND_GAP);
    assert_eq!(
        resend_gap(Duration::from_millis(200)),
        Duration::from_millis(250)
    );
}

#[test]
fn a_packet_is_resent_at_most_once_per_gap() {
    let t = Instant::now();
    let mut p = pacer();
    // A path with 170 ms of round trip (a queue on the way): one resend per 214 ms.
    p.rtt.store(170, std::sync::atomic::Ordering::Relaxed);
    let gap = resend_gap(Duration::from_millis(170));
    for seq in 0..5 {
        p.handle_write(rtp(VIDEO, seq, 1200, t)).unwrap();
    }
    drain(&mut p);
    p.handle_write(rtp(VIDEO, 2, 1200, t + Duration::from_millis(30)))
        .unwrap();
    p.handle_write(rtp(VIDEO, 2, 1200, t + Duration::from_millis(60)))
        .unwrap();
    let later = t + Duration::from_millis(60) + gap;
    p.handle_write(rtp(VIDEO, 2, 1200, later)).unwrap();
    p.handle_timeout(later).unwrap();
    let resent = drain(&mut p).iter().filter(|s| **s == (VIDEO, 2)).count();
    assert_eq!(resent, 2, "the ask 30 ms after the first resend is refused");
    assert_eq!(p.resends_refused, 1);
}

#[test]
fn resends_keep_to_their_share_and_late_ones_are_dropped() {
    let t = Instant::now();
    let mut p = pacer();
    // 300 kbit/s of estimate: the pacer sends 450, resends at most 150.
    p.bucket.set_target_bitrate(300_000.0 * PACING_FACTOR);
    p.resend_bucket.set_target_bitrate(300_000.0 * RESEND_SHARE);
    for seq in 0..200 {
        p.handle_write(rtp(VIDEO, seq, 1200, t)).unwrap();
    }
    // Let the queue go out, then a burst of loss: 100 packets asked for again over a second
    // (ten every 100 ms, 960 kbit/s of them), while new pictures keep coming (200 kbit/s).
    let mut now = t + Duration::from_secs(2);
    p.handle_timeout(now).unwrap();
    drain(&mut p);
    let (mut resent, mut fresh) = (0, 0);
    let (mut next, mut lost) = (200u16, 0u16);
    let end = now + Duration::from_secs(1);
    while now < end {
        let ms = now.duration_since(t).as_millis();
        if ms.is_multiple_of(100) {
            for _ in 0..10 {
                p.handle_write(rtp(VIDEO, lost, 1200, now)).unwrap();
                lost += 1;
            }
        }
        if ms.is_multiple_of(50) {
            p.handle_write(rtp(VIDEO, next, 1200, now)).unwrap();
            next += 1;
        }
        now += Duration::from_millis(10);
        p.handle_timeout(now).unwrap();
        for (_, seq) in drain(&mut p) {
            if seq < 200 {
                resent += 1;
            } else {
                fresh += 1;
            }
        }
    }
    // 150 kbit/s for a second is about 15 packets of 1.2 kB (and the bucket's first burst).
    assert!(resent <= 25, "{resent} resends in a second");
    assert!(fresh >= 15, "new pictures waited behind resends: {fresh}");
    assert!(
        p.resends_dropped >= 50,
        "late resends are dropped: {}",
        p.resends_dropped
    );
}

#[test]
fn a_queue_released_overdue_leaves_no_debt() {
    let t = Instant::now();
    let mut p = pacer();
    p.bucket.set_target_bitrate(150_000.0);
    // A keyframe far over the estimate: most of it goes out overdue.
    for seq in 0..60 {
        p.handle_write(rtp(VIDEO, seq, 1200, t)).unwrap();
    }
    let later = t + MAX_QUEUE_TIME;
    p.handle_timeout(later).unwrap();
    drain(&mut p);
    assert_eq!(p.queued(), 0);
    // The next picture, 100 ms on, goes as soon as the budget allows: not a queue limit later.
    let next = later + Duration::from_millis(100);
    p.handle_write(rtp(VIDEO, 60, 1200, next)).unwrap();
    let at = p.poll_timeout().map_or(next, |at| at.max(next));
    p.handle_timeout(at).unwrap();
    assert_eq!(drain(&mut p), vec![(VIDEO, 60)]);
    assert!(
        at - next < Duration::from_millis(100),
        "waited {:?}",
        at - next
    );
}
