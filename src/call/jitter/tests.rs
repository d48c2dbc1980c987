use std::time::{Duration, Instant};

use bytes::Bytes;

use super::audio::{HARD_EXCESS, LATENESS_WINDOW, MAX_CONCEAL_RUN};
use super::video::{FIRST_RESEND, MAX_UNIT_TIME};
use super::*;

fn t0() -> Instant {
    Instant::now()
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// An H.264 payload: a keyframe start (SPS) or a plain slice.
fn payload(key: bool, n: u8) -> Bytes {
    Bytes::from(vec![if key { 0x67 } else { 0x41 }, n])
}

/// Pushes a picture of `count` packets from `seq`.
fn picture(j: &mut VideoJitter, seq: u16, ts: u32, count: u16, key: bool, skip: &[u16]) {
    for i in 0..count {
        let s = seq.wrapping_add(i);
        if skip.contains(&s) {
            continue;
        }
        j.push(s, ts, i == count - 1, payload(key && i == 0, i as u8), t0());
    }
}

#[test]
fn pictures_come_out_in_order_even_when_packets_do_not() {
    let now = t0();
    let mut j = VideoJitter::new();
    j.push(2, 100, true, payload(false, 2), now);
    j.push(0, 100, false, payload(true, 0), now);
    assert_eq!(j.pop(now), None, "packet 1 is missing");
    j.push(1, 100, false, payload(false, 1), now);
    let unit = j.pop(now).expect("the whole picture");
    assert!(unit.keyframe);
    assert_eq!(unit.payloads.len(), 3);
    assert_eq!(unit.payloads[1][1], 1, "in sequence order");
    assert_eq!(j.pop(now), None);
}

#[test]
fn a_gap_is_waited_for_and_a_retransmission_fills_it() {
    let now = t0();
    let mut j = VideoJitter::new();
    picture(&mut j, 10, 0, 3, true, &[]);
    assert!(j.pop(now).is_some());
    picture(&mut j, 13, 3000, 3, false, &[14]);
    picture(&mut j, 16, 6000, 3, false, &[]);
    assert_eq!(j.pop(now + ms(30)), None, "waits for 14");
    assert!(j.deadline().is_some());
    j.push(14, 3000, false, payload(false, 1), now);
    assert_eq!(j.pop(now + ms(60)).map(|u| u.timestamp), Some(3000));
    assert_eq!(j.pop(now + ms(60)).map(|u| u.timestamp), Some(6000));
    assert_eq!(j.stats.gaps_filled, 1);
    assert_eq!(j.stats.gaps_lost, 0);
    assert!(!j.needs_keyframe);
}

#[test]
fn a_gap_not_filled_in_time_skips_to_the_next_keyframe() {
    let now = t0();
    let mut j = VideoJitter::new();
    j.set_path(ms(10), ms(2), 0.0);
    picture(&mut j, 0, 0, 2, true, &[]);
    assert!(j.pop(now).is_some());
    picture(&mut j, 2, 3000, 2, false, &[2]);
    picture(&mut j, 4, 6000, 2, false, &[]);
    assert_eq!(j.pop(now), None);
    let wait = j.wait();
    assert!(wait >= MIN_VIDEO_WAIT && wait <= MAX_VIDEO_WAIT);
    // Time runs out: the P pictures after the gap have no reference and are not handed out.
    assert_eq!(j.pop(now + wait + ms(1)), None);
    assert!(j.needs_keyframe, "the owner asks for a keyframe");
    assert_eq!(j.stats.gaps_lost, 1);
    picture(&mut j, 6, 9000, 2, false, &[]);
    assert_eq!(j.pop(now + wait + ms(2)), None, "still no keyframe");
    picture(&mut j, 8, 12000, 3, true, &[]);
    let unit = j.pop(now + wait + ms(3)).expect("the keyframe");
    assert!(unit.keyframe && unit.timestamp == 12000);
    assert!(!j.needs_keyframe);
}

#[test]
fn the_wait_follows_the_round_trip_within_bounds() {
    let mut j = VideoJitter::new();
    j.set_path(ms(1), ms(0), 0.0);
    assert_eq!(j.wait(), MIN_VIDEO_WAIT);
    // 5% loss: four rounds make a packet lost for good less than once in ten thousand.
    j.set_path(ms(1), ms(0), 0.05);
    assert_eq!(j.wait(), FIRST_RESEND + (NACK_INTERVAL + ms(1)) * 4);
    // More loss, more rounds; a longer round trip, longer rounds.
    j.set_path(ms(1), ms(0), 0.20);
    assert_eq!(j.wait(), FIRST_RESEND + (NACK_INTERVAL + ms(1)) * 10);
    j.set_path(ms(40), ms(5), 0.05);
    assert_eq!(
        j.wait(),
        FIRST_RESEND + (NACK_INTERVAL + ms(40)) * 4 + ms(10)
    );
    j.set_path(ms(900), ms(50), 0.0);
    assert_eq!(j.wait(), MAX_VIDEO_WAIT);
}

#[test]
fn sequence_numbers_wrap() {
    let now = t0();
    let mut j = VideoJitter::new();
    picture(&mut j, 65534, 0, 4, true, &[]);
    let unit = j.pop(now).expect("across the wrap");
    assert_eq!(unit.payloads.len(), 4);
    picture(&mut j, 2, 3000, 1, false, &[]);
    assert!(j.pop(now).is_some());
}

#[test]
fn late_duplicates_are_ignored_and_a_restarted_sender_resyncs() {
    let now = t0();
    let mut j = VideoJitter::new();
    picture(&mut j, 100, 0, 2, true, &[]);
    assert!(j.pop(now).is_some());
    j.push(100, 0, false, payload(true, 0), now);
    assert_eq!(j.pop(now), None);
    // A sender that starts over far away in sequence space: only its keyframe starts again.
    picture(&mut j, 30000, 5000, 2, false, &[]);
    assert_eq!(j.pop(now), None);
    picture(&mut j, 30002, 8000, 2, true, &[]);
    assert_eq!(j.pop(now).map(|u| u.timestamp), Some(8000));
}

#[test]
fn keyframes_are_recognised_in_every_packetization() {
    assert!(starts_keyframe(&[0x67, 0]));
    assert!(
        starts_keyframe(&[0x78, 0x00, 0x0a, 0x67, 0]),
        "STAP-A with an SPS"
    );
    assert!(
        !starts_keyframe(&[0x65, 0]),
        "an IDR slice may follow its SPS"
    );
    assert!(carries_keyframe(&[0x65, 0]));
    assert!(
        carries_keyframe(&[0x7c, 0x85, 0]),
        "FU-A start of an IDR slice"
    );
    assert!(!carries_keyframe(&[0x7c, 0x05, 0]), "FU-A middle");
    assert!(!carries_keyframe(&[0x41, 0]));
    assert!(!starts_keyframe(&[]) && !carries_keyframe(&[]));
}

#[test]
fn a_keyframe_whose_first_packet_is_resent_late_is_still_used() {
    let now = t0();
    let mut j = VideoJitter::new();
    // The keyframe's SPS packet (20) is lost; the rest of it and a P picture arrive.
    picture(&mut j, 20, 0, 4, true, &[20]);
    picture(&mut j, 24, 3000, 2, false, &[]);
    assert_eq!(j.pop(now), None);
    // The resend comes 200 ms later: the whole keyframe is still there.
    j.push(20, 0, false, payload(true, 0), now + ms(200));
    let unit = j.pop(now + ms(200)).expect("the keyframe");
    assert!(unit.keyframe && unit.payloads.len() == 4);
    assert_eq!(j.pop(now + ms(200)).map(|u| u.timestamp), Some(3000));
}

fn opus(n: u8) -> Bytes {
    Bytes::from(vec![n; 20])
}

/// Plays the buffer from `from` to `to` in 10 ms steps, collecting slots.
fn play(j: &mut AudioJitter, from: Instant, to: Instant) -> Vec<AudioSlot> {
    let mut out = Vec::new();
    let mut t = from;
    while t <= to {
        out.extend(j.pull(t));
        t += ms(10);
    }
    out
}

#[test]
fn audio_plays_out_a_target_depth_behind_arrival() {
    let t = t0();
    let mut j = AudioJitter::new();
    j.push(0, opus(0), t);
    assert!(j.pull(t).is_empty(), "held for the target depth");
    assert_eq!(j.deadline(), Some(t + MIN_AUDIO_DEPTH));
    j.push(1, opus(1), t + ms(20));
    let slots = j.pull(t + MIN_AUDIO_DEPTH);
    assert_eq!(slots, vec![AudioSlot::Packet(opus(0))]);
    assert_eq!(
        j.pull(t + MIN_AUDIO_DEPTH + ms(20)),
        vec![AudioSlot::Packet(opus(1))]
    );
}

#[test]
fn a_lost_packet_is_rebuilt_from_the_next_ones_fec_or_concealed() {
    let t = t0();
    let mut j = AudioJitter::new();
    for (i, seq) in [0u16, 2, 5, 6].iter().enumerate() {
        let _ = i;
        j.push(*seq, opus(*seq as u8), t);
    }
    let slots = play(&mut j, t, t + ms(200));
    assert_eq!(
        slots[..7],
        [
            AudioSlot::Packet(opus(0)),
            AudioSlot::Fec(opus(2)),
            AudioSlot::Packet(opus(2)),
            AudioSlot::Conceal,
            AudioSlot::Fec(opus(5)),
            AudioSlot::Packet(opus(5)),
            AudioSlot::Packet(opus(6)),
        ]
    );
    // The sender then stops: that is silence, not concealment.
    assert_eq!(j.stats.concealed, 1);
    assert_eq!(j.stats.recovered, 2);
    assert!((j.stats.concealed_pct() - 100.0 / 7.0).abs() < 1e-9);
}

#[test]
fn reordered_packets_play_in_order() {
    let t = t0();
    let mut j = AudioJitter::new();
    j.push(0, opus(0), t);
    j.push(2, opus(2), t + ms(5));
    j.push(1, opus(1), t + ms(10));
    let slots = play(&mut j, t, t + ms(100));
    assert_eq!(
        slots[..3],
        [
            AudioSlot::Packet(opus(0)),
            AudioSlot::Packet(opus(1)),
            AudioSlot::Packet(opus(2)),
        ]
    );
    assert_eq!(j.stats.concealed, 0);
}

#[test]
fn a_late_packet_deepens_the_buffer() {
    let t = t0();
    let mut j = AudioJitter::new();
    let mut now = t;
    for seq in 0..10u16 {
        j.push(seq, opus(1), now);
        j.pull(now);
        now += ms(20);
    }
    // 60 ms of nothing, then the delayed packets together: late, not lost.
    let stall_end = now + ms(60);
    while now < stall_end {
        j.pull(now);
        now += ms(10);
    }
    for seq in 10..14u16 {
        j.push(seq, opus(1), now);
    }
    let slots = j.pull(now);
    assert!(slots.contains(&AudioSlot::Packet(opus(1))));
    assert!(
        j.target() > MIN_AUDIO_DEPTH,
        "lateness raised the target: {:?}",
        j.target()
    );
    assert!(j.stats.concealed > 0, "the stall was concealed");
    // Ten seconds on time bring the target back down.
    j.pull(now + LATENESS_WINDOW + ms(1));
    assert_eq!(j.target(), MIN_AUDIO_DEPTH);
}

/// A burst of `n` packets on top of a steady stream, heard as quiet or not.
fn burst(n: u16, quiet: bool) -> AudioJitter {
    let t = t0();
    let mut j = AudioJitter::new();
    let mut now = t;
    let mut seq = 0u16;
    j.push(seq, opus(0), now);
    for _ in 0..n {
        seq += 1;
        j.push(seq, opus(0), now);
    }
    for _ in 0..40 {
        seq += 1;
        j.push(seq, opus(0), now);
        for slot in j.pull(now) {
            if matches!(slot, AudioSlot::Packet(_)) {
                j.heard(quiet);
            }
        }
        now += ms(20);
    }
    j
}

#[test]
fn a_burst_is_caught_up_in_silence_not_in_speech() {
    let quiet = burst(8, true);
    assert!(quiet.stats.skipped > 0, "caught up in silence");
    assert!(quiet.depth() <= quiet.target() + AUDIO_FRAME * 4);
    let loud = burst(8, false);
    assert_eq!(loud.stats.skipped, 0, "speech is not dropped");
    // Far behind, even speech is dropped to catch up.
    let far = burst(20, false);
    assert!(far.stats.skipped > 0);
    assert!(far.depth() <= far.target() + HARD_EXCESS + AUDIO_FRAME);
}

#[test]
fn a_silent_sender_stops_the_clock_instead_of_concealing_forever() {
    let t = t0();
    let mut j = AudioJitter::new();
    j.push(0, opus(0), t);
    let slots = play(&mut j, t, t + ms(2000));
    let concealed = slots.iter().filter(|s| **s == AudioSlot::Conceal).count();
    assert_eq!(concealed, MAX_CONCEAL_RUN as usize);
    assert_eq!(j.deadline(), None);
    // It comes back: playout starts again one target depth after.
    let back = t + ms(2000);
    j.push(100, opus(9), back);
    assert_eq!(j.deadline(), Some(back + j.target()));
}

#[test]
fn a_picture_still_arriving_is_not_a_gap() {
    let now = t0();
    let mut j = VideoJitter::new();
    // The first half of a large keyframe, then nothing for a second: the rest is on its way.
    for i in 0..5u16 {
        j.push(i, 0, false, payload(i == 0, i as u8), now);
    }
    assert_eq!(j.pop(now + ms(1000)), None);
    assert_eq!(j.stats.gaps_lost, 0);
    assert_eq!(j.deadline(), None, "no gap is being timed");
    for i in 5..10u16 {
        j.push(i, 0, i == 9, payload(false, i as u8), now + ms(1100));
    }
    let unit = j.pop(now + ms(1100)).expect("the whole keyframe");
    assert_eq!(unit.payloads.len(), 10);
    // But a picture that never completes is dropped after MAX_UNIT_TIME.
    j.push(10, 3000, false, payload(false, 0), now + ms(1200));
    assert_eq!(j.pop(now + ms(1200) + MAX_UNIT_TIME + ms(1)), None);
    assert_eq!(j.stats.gaps_lost, 1);
}

#[test]
fn recent_concealment_looks_back_five_seconds() {
    let t = Instant::now();
    let mut recent = RecentConcealment::default();
    let at = |ms: u64| t + Duration::from_millis(ms);
    let stats = |played: u64, concealed: u64| AudioJitterStats {
        played,
        concealed,
        ..AudioJitterStats::default()
    };
    assert_eq!(recent.update(at(0), &stats(0, 0)), 0.0);
    // A bad second: half of 50 slots concealed.
    assert!((recent.update(at(1000), &stats(25, 25)) - 50.0).abs() < 1e-9);
    // Ten clean seconds later the bad second is out of the window, though the whole call's
    // share is still 25 of 575.
    let mut share = 0.0;
    for s in 2..=11u64 {
        share = recent.update(at(s * 1000), &stats(25 + (s - 1) * 50, 25));
    }
    assert_eq!(share, 0.0);
    assert!(stats(525, 25).concealed_pct() > 4.0);
}
