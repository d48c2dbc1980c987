//! Connection figures as pure functions: a link's stats report read into a [`LinkSample`],
//! samples over a recent window into per-peer [`LinkFigures`] and a [`Quality`] level, and
//! the split of the congestion estimate between the shared encoders. Time is passed in;
//! nothing here awaits or reads the clock.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;
use rtc::statistics::report::{RTCStatsReport, RTCStatsReportEntry};

use super::codec::MIN_VIDEO_BITRATE;

/// Loss and quality are judged over this much recent time, not since the call began.
pub const QUALITY_WINDOW: Duration = Duration::from_secs(5);
/// Most bits a second for a screen share.
pub const SCREEN_BITRATE: u32 = 1_500_000;

/// Connection quality levels, worst first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Quality {
    /// The connection is down.
    Disconnected,
    /// 3% loss or 300 ms RTT or worse.
    Poor,
    /// Under 3% loss and 300 ms RTT.
    Good,
    /// Under 1% loss and 100 ms RTT.
    Excellent,
}

impl Quality {
    /// The level for a loss fraction (percent) and round-trip time.
    pub fn from_stats(connected: bool, loss_pct: f64, rtt_ms: f64) -> Quality {
        if !connected {
            Quality::Disconnected
        } else if loss_pct < 1.0 && rtt_ms < 100.0 {
            Quality::Excellent
        } else if loss_pct < 3.0 && rtt_ms < 300.0 {
            Quality::Good
        } else {
            Quality::Poor
        }
    }

    /// The level's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Quality::Disconnected => "disconnected",
            Quality::Poor => "poor",
            Quality::Good => "good",
            Quality::Excellent => "excellent",
        }
    }

    /// The level called `name` (as scripts write it).
    pub fn parse(name: &str) -> Option<Quality> {
        match name {
            "disconnected" => Some(Quality::Disconnected),
            "poor" => Some(Quality::Poor),
            "good" => Some(Quality::Good),
            "excellent" => Some(Quality::Excellent),
            _ => None,
        }
    }
}

/// The kind of path media takes to a peer: the selected candidate pair's type, a relay at
/// either end counting as a relayed path.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Path {
    /// No pair selected yet.
    #[default]
    Unknown,
    /// Straight between the hosts' own addresses.
    Host,
    /// Through a NAT, by the address a STUN server saw.
    ServerReflexive,
    /// Through a NAT, by an address learnt from the peer's checks.
    PeerReflexive,
    /// Through a TURN relay.
    Relay,
    /// Through the SFU (the room is too big for a mesh).
    Sfu,
}

impl Path {
    /// The path of a candidate of this type (`host`, `srflx`, `prflx`, `relay`).
    pub fn of_candidate(kind: &str) -> Path {
        match kind {
            "host" => Path::Host,
            "srflx" => Path::ServerReflexive,
            "prflx" => Path::PeerReflexive,
            "relay" => Path::Relay,
            _ => Path::Unknown,
        }
    }

    /// The name the quality panel and the report use: the candidate type, or empty while
    /// there is none.
    pub fn as_str(self) -> &'static str {
        match self {
            Path::Unknown => "",
            Path::Host => "host",
            Path::ServerReflexive => "srflx",
            Path::PeerReflexive => "prflx",
            Path::Relay => "relay",
            Path::Sfu => "sfu",
        }
    }
}

impl std::fmt::Display for Path {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What one stats report of a link says, as running totals where the report has them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LinkSample {
    /// Round-trip time of the nominated candidate pair, ms.
    pub rtt_ms: f64,
    /// Packets lost, over every inbound stream, since the start.
    pub packets_lost: i64,
    /// Packets received, over every inbound stream, since the start.
    pub packets_received: u64,
    /// Bytes received since the start.
    pub bytes_received: u64,
    /// Bytes sent since the start.
    pub bytes_sent: u64,
    /// Interarrival jitter of the worst inbound stream, seconds.
    pub jitter_s: f64,
    /// `ADDRESS:PORT` of the selected pair's remote candidate.
    pub remote_address: String,
    /// The selected pair's path.
    pub path: Path,
}

impl LinkSample {
    /// Reads a webrtc-rs 0.21 stats report.
    pub fn from_report(report: &RTCStatsReport) -> LinkSample {
        let mut s = LinkSample::default();
        let mut local_candidate = String::new();
        let mut remote_candidate = String::new();
        for e in report.iter() {
            match e {
                RTCStatsReportEntry::IceCandidatePair(p) if p.nominated => {
                    s.rtt_ms = p.current_round_trip_time * 1000.0;
                    local_candidate = p.local_candidate_id.clone();
                    remote_candidate = p.remote_candidate_id.clone();
                }
                RTCStatsReportEntry::OutboundRtp(o) => {
                    s.bytes_sent += o.sent_rtp_stream_stats.bytes_sent;
                }
                RTCStatsReportEntry::InboundRtp(i) => {
                    let r = &i.received_rtp_stream_stats;
                    s.packets_lost += r.packets_lost.max(0);
                    s.packets_received += r.packets_received;
                    s.bytes_received += i.bytes_received;
                    // 0.21 fills `jitter` with the receiver report's field as it is, in RTP
                    // timestamp units (not seconds as its documentation says).
                    let clock = match r.rtp_stream_stats.kind {
                        RtpCodecKind::Video => 90_000.0,
                        _ => 48_000.0,
                    };
                    s.jitter_s = s.jitter_s.max(r.jitter / clock);
                }
                _ => {}
            }
        }
        // A relay at either end makes the path a relayed one. 0.21 keeps no stats entry for a
        // remote candidate it learnt as peer-reflexive, so the mesh also asks the ICE
        // transport for the selected pair and checks the relays the peer announced.
        let (local, _) = candidate_type(report, &local_candidate, true);
        let (remote, address) = candidate_type(report, &remote_candidate, false);
        s.path = if remote == "relay" {
            Path::Relay
        } else {
            Path::of_candidate(&local)
        };
        s.remote_address = address;
        s
    }
}

/// The type (host, srflx, prflx, relay) of the local or remote candidate with this id. 0.21
/// names a candidate's stats entry `RTCLocalIceCandidate_<id>` (or `RTCRemoteIceCandidate_`)
/// while the pair refers to it by `<id>`.
fn candidate_type(report: &RTCStatsReport, id: &str, local: bool) -> (String, String) {
    if id.is_empty() {
        return Default::default();
    }
    let prefixed = if local {
        format!("RTCLocalIceCandidate_{id}")
    } else {
        format!("RTCRemoteIceCandidate_{id}")
    };
    report
        .iter()
        .find_map(|e| match e {
            RTCStatsReportEntry::LocalCandidate(c) | RTCStatsReportEntry::RemoteCandidate(c)
                if matches!(e, RTCStatsReportEntry::LocalCandidate(_)) == local
                    && (c.stats.id == id || c.stats.id == prefixed) =>
            {
                let address = c.address.clone().unwrap_or_default();
                Some((
                    c.candidate_type.to_string(),
                    format!("{address}:{}", c.port),
                ))
            }
            _ => None,
        })
        .unwrap_or_default()
}

/// The `ADDRESS:PORT` of a relay candidate line (`candidate:F 1 udp P ADDRESS PORT typ relay
/// …`), or `None` for any other candidate.
pub fn relay_address(candidate: &str) -> Option<String> {
    let words: Vec<&str> = candidate.split_whitespace().collect();
    match words.as_slice() {
        [_, _, _, _, address, port, "typ", "relay", ..] => Some(format!("{address}:{port}")),
        _ => None,
    }
}

/// Per-peer figures, as the quality panel and the report show them.
#[derive(Clone, Debug, PartialEq)]
pub struct LinkFigures {
    /// Round-trip time, ms.
    pub rtt_ms: f64,
    /// Loss of what we receive over the window, percent.
    pub loss_pct: f64,
    /// Bitrate received since the previous sample, kbit/s.
    pub bitrate_kbps: f64,
    /// Bitrate sent since the previous sample, kbit/s.
    pub bitrate_out_kbps: f64,
    /// Jitter of what we receive, ms.
    pub jitter_ms: f64,
    /// The selected pair's path.
    pub path: Path,
    /// The level from windowed loss and RTT.
    pub quality: Quality,
}

/// A link's recent samples, oldest first, reaching back [`QUALITY_WINDOW`].
#[derive(Clone, Debug, Default)]
pub struct StatsWindow {
    samples: VecDeque<(Instant, LinkSample)>,
}

impl StatsWindow {
    /// Adds the sample taken at `now` and gives the figures it makes with the window.
    pub fn push(&mut self, now: Instant, sample: LinkSample, connected: bool) -> LinkFigures {
        let (kbps, out_kbps) = match self.samples.back() {
            Some((then, prev)) if now > *then => {
                let secs = (now - *then).as_secs_f64();
                let rate = |a: u64, b: u64| a.saturating_sub(b) as f64 * 8.0 / 1000.0 / secs;
                (
                    rate(sample.bytes_received, prev.bytes_received),
                    rate(sample.bytes_sent, prev.bytes_sent),
                )
            }
            _ => (0.0, 0.0),
        };
        // Keep one sample at or beyond the window's edge, so the window spans it fully.
        while self.samples.len() > 1 && self.samples[1].0 + QUALITY_WINDOW <= now {
            self.samples.pop_front();
        }
        let loss_pct = match self.samples.front() {
            Some((_, oldest)) => window_loss(oldest, &sample),
            None => window_loss(&LinkSample::default(), &sample),
        };
        let figures = LinkFigures {
            rtt_ms: sample.rtt_ms,
            loss_pct,
            bitrate_kbps: kbps,
            bitrate_out_kbps: out_kbps,
            jitter_ms: sample.jitter_s * 1000.0,
            path: sample.path,
            quality: Quality::from_stats(connected, loss_pct, sample.rtt_ms),
        };
        self.samples.push_back((now, sample));
        figures
    }
}

/// Loss between two samples, percent of the packets expected in between.
fn window_loss(from: &LinkSample, to: &LinkSample) -> f64 {
    let lost = (to.packets_lost - from.packets_lost).max(0) as f64;
    let received = to.packets_received.saturating_sub(from.packets_received) as f64;
    if lost + received > 0.0 {
        lost * 100.0 / (lost + received)
    } else {
        0.0
    }
}

/// What each shared encoder is asked to send, bits a second.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BitrateSplit {
    /// The camera encoder.
    pub camera: u32,
    /// The screen encoder, while a screen is shared.
    pub screen: Option<u32>,
}

/// Splits the lowest congestion estimate across the links between the camera and the screen.
/// One encoder serves every peer, so it sends at the rate the weakest path can take, within
/// the configured ceiling, leaving room for audio.
/// Audio goes first: the video encoders share what is left of the estimate after this.
pub const AUDIO_RESERVE: f64 = 40_000.0;

pub fn split_bitrate(estimate: f64, camera_ceiling: u32, screen: bool) -> BitrateSplit {
    let video = (estimate - AUDIO_RESERVE).max(0.0);
    let camera_share = if screen { 0.4 } else { 0.9 };
    let camera = ((video * camera_share) as u32)
        .clamp(MIN_VIDEO_BITRATE, camera_ceiling.max(MIN_VIDEO_BITRATE));
    BitrateSplit {
        camera,
        screen: screen.then(|| ((video * 0.5) as u32).clamp(MIN_VIDEO_BITRATE, SCREEN_BITRATE)),
    }
}

/// The lowest of the links' estimates, if any link has one.
pub fn lowest_estimate(estimates: impl IntoIterator<Item = Option<f64>>) -> Option<f64> {
    estimates.into_iter().flatten().reduce(f64::min)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(lost: i64, received: u64, rtt_ms: f64) -> LinkSample {
        LinkSample {
            rtt_ms,
            packets_lost: lost,
            packets_received: received,
            ..LinkSample::default()
        }
    }

    #[test]
    fn quality_levels() {
        let check = |connected, loss, rtt, want| {
            assert_eq!(
                Quality::from_stats(connected, loss, rtt),
                want,
                "{loss}% {rtt} ms"
            );
        };
        check(false, 0.0, 1.0, Quality::Disconnected);
        check(true, 0.5, 50.0, Quality::Excellent);
        check(true, 2.0, 50.0, Quality::Good);
        check(true, 0.5, 150.0, Quality::Good);
        check(true, 5.0, 50.0, Quality::Poor);
        check(true, 0.0, 400.0, Quality::Poor);
        for q in [
            Quality::Disconnected,
            Quality::Poor,
            Quality::Good,
            Quality::Excellent,
        ] {
            assert_eq!(Quality::parse(q.as_str()), Some(q));
        }
    }

    #[test]
    fn loss_is_judged_over_the_recent_window_not_the_whole_call() {
        let t0 = Instant::now();
        let mut w = StatsWindow::default();
        // A bad first ten seconds: 10% loss.
        let mut lost = 0;
        let mut received = 0;
        for s in 0..=10 {
            let f = w.push(
                t0 + Duration::from_secs(s),
                sample(lost, received, 20.0),
                true,
            );
            if s >= 2 {
                assert!(f.loss_pct > 9.0, "second {s}: {}", f.loss_pct);
                assert_eq!(f.quality, Quality::Poor);
            }
            lost += 10;
            received += 90;
        }
        // Then clean: within the window's span the figure is clean again, although the
        // call's total loss is still far above 1%.
        let mut last = None;
        for s in 11..=17 {
            received += 100;
            last = Some(w.push(
                t0 + Duration::from_secs(s),
                sample(lost, received, 20.0),
                true,
            ));
        }
        let f = last.unwrap();
        assert_eq!(f.loss_pct, 0.0);
        assert_eq!(f.quality, Quality::Excellent);
        assert!(
            w.samples.len() <= 7,
            "the window stays bounded: {}",
            w.samples.len()
        );
    }

    #[test]
    fn bitrates_come_from_the_last_interval() {
        let t0 = Instant::now();
        let mut w = StatsWindow::default();
        let s = |rx, tx| LinkSample {
            bytes_received: rx,
            bytes_sent: tx,
            ..LinkSample::default()
        };
        let first = w.push(t0, s(1_000, 2_000), true);
        assert_eq!((first.bitrate_kbps, first.bitrate_out_kbps), (0.0, 0.0));
        let f = w.push(
            t0 + Duration::from_millis(500),
            s(63_500, 2_000 + 125_000),
            true,
        );
        assert_eq!(f.bitrate_kbps, 1_000.0);
        assert_eq!(f.bitrate_out_kbps, 2_000.0);
        let gone = w.push(t0 + Duration::from_secs(1), s(63_500, 127_000), false);
        assert_eq!(gone.quality, Quality::Disconnected);
    }

    #[test]
    fn relay_candidates_are_recognised() {
        assert_eq!(
            relay_address(
                "candidate:1 1 udp 16777215 10.78.1.1 49152 typ relay raddr 10.78.1.2 rport 5000"
            ),
            Some("10.78.1.1:49152".into())
        );
        assert_eq!(
            relay_address("candidate:2 1 udp 2130706431 10.78.1.2 5000 typ host"),
            None
        );
        assert_eq!(relay_address("garbage"), None);
    }

    #[test]
    fn the_bitrate_split() {
        // Alone, the camera takes 90% of what audio leaves, within its ceiling.
        assert_eq!(
            split_bitrate(840_000.0, 1_000_000, false),
            BitrateSplit {
                camera: 720_000,
                screen: None
            }
        );
        assert_eq!(
            split_bitrate(5_000_000.0, 1_000_000, false).camera,
            1_000_000
        );
        // With a screen: 40% camera, 50% screen (at most the screen's ceiling).
        assert_eq!(
            split_bitrate(1_040_000.0, 1_000_000, true),
            BitrateSplit {
                camera: 400_000,
                screen: Some(500_000)
            }
        );
        assert_eq!(
            split_bitrate(9_000_000.0, 1_000_000, true).screen,
            Some(SCREEN_BITRATE)
        );
        // Never under the floor, even on a starved link or with a ceiling below it.
        assert_eq!(
            split_bitrate(10_000.0, 1_000_000, true),
            BitrateSplit {
                camera: MIN_VIDEO_BITRATE,
                screen: Some(MIN_VIDEO_BITRATE)
            }
        );
        assert_eq!(
            split_bitrate(10_000.0, 20_000, false).camera,
            MIN_VIDEO_BITRATE
        );
        assert_eq!(lowest_estimate([None, Some(3.0), Some(2.0)]), Some(2.0));
        assert_eq!(lowest_estimate([None, None]), None);
    }
}
