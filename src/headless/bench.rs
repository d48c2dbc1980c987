//! `termmeet bench-call`: headless participants on loopback through an in-process server,
//! measuring per receiver the frames received against frames sent, frame rate and
//! glass-to-glass latency, and the CPU time each participant costs.

use std::time::Duration;

use super::runner::{run_script, HeadlessOptions, Outcome, PeerReport, Report};

/// What to run.
#[derive(Clone, Debug)]
pub struct BenchOptions {
    /// Participants in the room.
    pub participants: usize,
    /// Test-pattern size.
    pub size: (usize, usize),
    /// Frames a second.
    pub fps: f64,
    /// Camera bitrate, bits a second.
    pub bitrate: u32,
    /// Seconds of measured meeting.
    pub seconds: u64,
}

/// CPU time of this process so far, seconds (user + system, all threads).
fn cpu_seconds() -> f64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    t.tv_sec as f64 + t.tv_nsec as f64 / 1e9
}

/// Runs the meeting and returns the printed report and whether every receiver got at
/// least 95% of every sender's frames.
pub async fn run(options: &BenchOptions) -> anyhow::Result<(String, bool)> {
    let headless = HeadlessOptions {
        server: termmeet_signaling::spawn_loopback(termmeet_signaling::ServerConfig::default())
            .await?
            .url(),
        video_size: options.size,
        fps: options.fps,
        bitrate: options.bitrate,
        ..HeadlessOptions::default()
    };
    let n = options.participants.max(2);
    let cpu_start = cpu_seconds();
    let reports = run_participants(options, n, &headless).await?;
    let cpu = cpu_seconds() - cpu_start;
    Ok(format_report(options, n, &reports, cpu))
}

/// Runs `n` participants, each joining 200 ms after the one before (all at once would
/// measure the join storm, not the meeting), and gathers their reports.
async fn run_participants(
    options: &BenchOptions,
    n: usize,
    headless: &HeadlessOptions,
) -> anyhow::Result<Vec<Report>> {
    let mut tasks = Vec::new();
    for i in 0..n {
        let script = format!(
            "join bench as p{i}\naudio tone:{}\nexpect peers {} within 60s\nwait {}s\nleave\n",
            300 + 100 * i,
            n - 1,
            options.seconds
        );
        let o = headless.clone();
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(200 * i as u64)).await;
            run_script(&script, &o).await
        }));
    }
    let mut reports: Vec<Report> = Vec::new();
    for t in tasks {
        match t.await? {
            Outcome::Ran(r) => reports.push(r),
            Outcome::Unusable(e) => anyhow::bail!("bench script: {e}"),
        }
    }
    Ok(reports)
}

/// The printed report: a line per receiver and sender, the worst latencies, the CPU time,
/// and whether every receiver got at least 95% of every sender's frames (also returned).
fn format_report(options: &BenchOptions, n: usize, reports: &[Report], cpu: f64) -> (String, bool) {
    let mut out = format!(
        "{n} participants, {}x{} at {} fps, {} kbit/s, {} s\n",
        options.size.0,
        options.size.1,
        options.fps,
        options.bitrate / 1000,
        options.seconds
    );
    out += "receiver <- sender   received/sent    ratio   fps    latency p50  p95\n";
    let mut all_ok = true;
    let mut p50s = Vec::new();
    let mut p95s = Vec::new();
    for r in reports {
        for (sender, p) in &r.peers {
            let (line, ratio) = receiver_line(&r.name, sender, p);
            out += &line;
            all_ok &= ratio >= 0.95;
            if let (Some(a), Some(b)) = (p.latency_ms_p50, p.latency_ms_p95) {
                p50s.push(a);
                p95s.push(b);
            }
        }
    }
    p50s.sort_unstable();
    p95s.sort_unstable();
    out += &format!(
        "worst receiver latency: p50 {} ms, p95 {} ms\n",
        p50s.last().copied().unwrap_or(0),
        p95s.last().copied().unwrap_or(0)
    );
    out += &format!(
        "CPU time: {:.1} s in all, {:.2} s per participant per second of meeting\n",
        cpu,
        cpu / n as f64 / (options.seconds as f64 + 2.0)
    );
    out += &format!(
        "every receiver got at least 95% of every sender's frames: {}\n",
        if all_ok { "yes" } else { "no" }
    );
    (out, all_ok)
}

/// One receiver's line for one sender, and the share of that sender's frames it received.
fn receiver_line(receiver: &str, sender: &str, p: &PeerReport) -> (String, f64) {
    let sent = p.video_frames_sent.unwrap_or(0);
    let ratio = if sent > 0 {
        p.video_frames as f64 / sent as f64
    } else {
        0.0
    };
    let line = format!(
        "{:<8} <- {:<8} {:>6}/{:<6}   {:>5.1}%  {:>5.1}  {:>6} ms {:>5} ms\n",
        receiver,
        sender,
        p.video_frames,
        sent,
        ratio * 100.0,
        p.video_fps,
        p.latency_ms_p50
            .map(|v| v.to_string())
            .unwrap_or("-".into()),
        p.latency_ms_p95
            .map(|v| v.to_string())
            .unwrap_or("-".into()),
    );
    (line, ratio)
}
