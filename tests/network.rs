//! Media over real network faults: two hosts (network namespaces joined by a veth pair),
//! faults injected with nftables (random or total UDP loss) and `tc tbf` (a capped uplink),
//! each participant a `termmeet headless` process inside its own host.

use std::time::Duration;

mod common;

use common::netlab::{failed_steps, figure, tail, End, Lab};

/// Two hosts joined by one link, the signaling server on the first.
struct Pair {
    lab: Lab,
    a: End,
    b: End,
    url: String,
}

fn pair(name: &str, default_route: bool) -> Option<Pair> {
    if !Lab::available() {
        eprintln!("skipped: network namespaces need root, ip, nft and tc");
        return None;
    }
    let mut lab = Lab::new(name);
    let (ha, hb) = (lab.host("a"), lab.host("b"));
    let (a, b) = lab.link(&ha, &hb, "10.77.0");
    if default_route {
        lab.exec(&ha, &["ip", "route", "add", "default", "via", &b.addr]);
        lab.exec(&hb, &["ip", "route", "add", "default", "via", &a.addr]);
    }
    let url = lab.server(&ha, &a.addr, &[]);
    Some(Pair { lab, a, b, url })
}

/// A participant's script: send the test pattern and a tone, see the other, stay `secs`.
fn script(me: &str, other: &str, tone: u32, secs: u64) -> String {
    format!(
        "join net as {me}\n\
         video test-pattern\n\
         audio tone:{tone}\n\
         expect video from {other} frames 10 within 30s\n\
         expect audio from {other} within 10s\n\
         wait {secs}s\n\
         leave\n"
    )
}

impl Pair {
    fn start(&mut self, secs: u64, extra: &[&str]) {
        let (ha, hb) = (self.a.host.clone(), self.b.host.clone());
        let url = self.url.clone();
        self.lab.headless(
            &ha,
            "alice",
            &url,
            &script("alice", "bob", 440, secs),
            extra,
        );
        self.lab
            .headless(&hb, "bob", &url, &script("bob", "alice", 660, secs), extra);
    }

    /// Waits until both sides' logs say their peer connection is up.
    fn wait_connected(&self) {
        let deadline = std::time::Instant::now() + Duration::from_secs(40);
        let up = |who: &str| {
            self.lab
                .log(who)
                .contains("peer connection state changed: connected")
        };
        while !(up("alice") && up("bob")) {
            assert!(
                std::time::Instant::now() < deadline,
                "never connected:\n{}",
                tail(&self.lab.log("alice"))
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits for both and returns (alice's report, bob's report).
    fn finish(&mut self, limit: Duration) -> (serde_json::Value, serde_json::Value) {
        let ca = self.lab.wait("alice", limit);
        let cb = self.lab.wait("bob", Duration::from_secs(10));
        let (ra, rb) = (self.lab.report("alice"), self.lab.report("bob"));
        for (who, code, r) in [("alice", ca, &ra), ("bob", cb, &rb)] {
            assert_eq!(
                code,
                Some(0),
                "{who} did not finish well: {:?}\n{}",
                failed_steps(r),
                tail(&self.lab.log(who))
            );
        }
        (ra, rb)
    }
}

#[test]
fn host_without_default_route_connects_over_host_candidates() {
    let Some(mut p) = pair("noroute", false) else {
        return;
    };
    p.start(
        3,
        &[
            "--video-size",
            "320x240",
            "--fps",
            "15",
            "--bitrate-kbps",
            "300",
        ],
    );
    let (ra, rb) = p.finish(Duration::from_secs(90));
    for (r, other) in [(&ra, "bob"), (&rb, "alice")] {
        assert_eq!(r["peers"][other]["path"], "host", "{r}");
        assert!(figure(r, other, "video_frames") > 10.0, "{r}");
    }
}

/// Frames decoded as a share of frames sent, glass-to-glass p95, audio concealed, freezes,
/// as one line for failure messages and the benchmark table.
fn figures(r: &serde_json::Value, other: &str) -> (f64, f64, f64, f64, String) {
    let decoded = figure(r, other, "video_frames");
    let sent = figure(r, other, "video_frames_sent");
    let share = decoded / sent;
    let p95 = figure(r, other, "latency_ms_p95");
    let concealed = figure(r, other, "concealed_pct");
    let freezes = figure(r, other, "freezes");
    let line = format!(
        "{other}: {decoded} of {sent} frames ({:.1}%), p50 {} p95 {p95} ms, concealed {concealed}%, freezes {freezes}, loss {}%",
        share * 100.0,
        figure(r, other, "latency_ms_p50"),
        figure(r, other, "loss_pct"),
    );
    eprintln!("{line}");
    (share, p95, concealed, freezes, line)
}

/// Random loss on both directions of the link for the whole call; what must hold.
fn lossy_call(name: &str, percent: u32, min_share: f64, max_p95: f64, max_concealed: f64) {
    let Some(mut p) = pair(name, true) else {
        return;
    };
    p.start(30, &[]);
    // Loss from the moment media flows (a DTLS handshake under 20% loss can take webrtc-rs
    // many seconds, which is not what this measures).
    p.wait_connected();
    for host in [p.a.host.clone(), p.b.host.clone()] {
        p.lab.drop_udp(&host, percent);
    }
    let (ra, rb) = p.finish(Duration::from_secs(120));
    for (r, other) in [(&ra, "bob"), (&rb, "alice")] {
        let (share, p95, concealed, _, line) = figures(r, other);
        assert!(share >= min_share, "too few frames: {line}");
        assert!(p95 <= max_p95, "too late: {line}");
        assert!(
            concealed <= max_concealed,
            "too much concealed audio: {line}"
        );
    }
}

#[test]
fn five_percent_loss_both_ways() {
    lossy_call("loss5", 5, 0.95, 300.0, 5.0);
}

#[test]
fn twenty_percent_loss_both_ways() {
    lossy_call("loss20", 20, 0.80, 500.0, 25.0);
}
