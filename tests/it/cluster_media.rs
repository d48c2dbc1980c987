//! Three signaling instances (processes) on one `redis-server`, three headless participants
//! of one mesh room spread over them, and the room's instance killed with SIGKILL mid-meeting:
//! every participant resumes through another instance, chat is whole, and media never stops.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::netlab::server_binary;
use crate::common::{assert_held, ran};
use termmeet::headless::runner::{run_script, HeadlessOptions};

/// A process killed (and waited for) when dropped, even on failure.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A loopback port free now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A counter or gauge from an instance's `/metrics` (0 when unreachable).
fn metric(port: u16, name: &str) -> u64 {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return 0;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let _ = s.write_all(b"GET /metrics HTTP/1.0\r\nHost: test\r\n\r\n");
    let mut body = String::new();
    let _ = s.read_to_string(&mut body);
    body.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0)
}

fn script(name: &str, tone: u32, others: [&str; 2], hold: u32) -> String {
    format!(
        "join standup as {name}
        audio tone:{tone}
        expect video from {a} frames 10 within 60s
        expect video from {b} frames 10 within 60s
        chat before from {name}
        wait {hold}s
        chat after from {name}
        expect chat from {a} \"after from {a}\" within 60s
        expect chat from {b} \"after from {b}\" within 60s
        expect video from {a} frames 10 within 10s
        expect peers 2
        wait 2s
        leave",
        a = others[0],
        b = others[1],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rooms_instance_killed_mid_meeting_everyone_resumes_and_media_goes_on() {
    let dir = std::env::temp_dir().join(format!("termmeet-cluster-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let socket = dir.join("redis.sock");
    let _redis = Killed(
        Command::new("redis-server")
            .args(["--port", "0", "--save", "", "--appendonly", "no"])
            .arg("--unixsocket")
            .arg(&socket)
            .arg("--dir")
            .arg(&dir)
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server runs (scripts/setup.sh test installs it)"),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while !socket.exists() {
        assert!(Instant::now() < deadline, "redis-server did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut instances = Vec::new();
    let mut ports = Vec::new();
    for _ in 0..3 {
        let (port, metrics) = (free_port(), free_port());
        instances.push(Killed(
            Command::new(server_binary())
                .arg("--listen")
                .arg(format!("127.0.0.1:{port}"))
                .arg("--metrics-listen")
                .arg(format!("127.0.0.1:{metrics}"))
                .arg("--redis")
                .arg(format!("unix://{}", socket.display()))
                .arg("--log-level")
                .arg("warn")
                .stdout(Stdio::null())
                .spawn()
                .expect("the signaling server runs"),
        ));
        ports.push((port, metrics));
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while ports
        .iter()
        .any(|(_, m)| metric(*m, "termmeet_cluster_redis_up") != 1)
    {
        assert!(
            Instant::now() < deadline,
            "the instances never reached Redis"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let url = |i: usize| format!("ws://127.0.0.1:{}/ws", ports[i % 3].0);
    // Each participant starts on its own instance and lists the others after it.
    let servers = |first: usize| (0..3).map(|k| url(first + k)).collect::<Vec<_>>().join(",");
    let options = |first: usize| HeadlessOptions {
        server: servers(first),
        video_size: (320, 240),
        fps: 15.0,
        bitrate: 300_000,
        ..HeadlessOptions::default()
    };
    // Alice first: her instance owns the room.
    let alice = script("alice", 440, ["bob", "carol"], 14);
    let oa = Arc::new(options(0));
    let a = tokio::spawn(async move { run_script(&alice, &oa).await });
    let deadline = Instant::now() + Duration::from_secs(30);
    while metric(ports[0].1, "termmeet_participants") < 1 {
        assert!(Instant::now() < deadline, "alice never joined");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut runs = vec![a];
    for (i, (name, tone, others)) in [
        ("bob", 550, ["alice", "carol"]),
        ("carol", 660, ["alice", "bob"]),
    ]
    .into_iter()
    .enumerate()
    {
        let text = script(name, tone, others, 14);
        let o = Arc::new(options(i + 1));
        runs.push(tokio::spawn(async move { run_script(&text, &o).await }));
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while metric(ports[0].1, "termmeet_participants") < 3 {
        assert!(Instant::now() < deadline, "the three never met");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Media flows; then the owner is killed without a word.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let killed = Instant::now();
    drop(instances.remove(0));
    let deadline = Instant::now() + Duration::from_secs(30);
    let resumed = || {
        ports[1..]
            .iter()
            .map(|(_, m)| metric(*m, "termmeet_resumes_total"))
            .sum::<u64>()
    };
    while resumed() < 3 {
        assert!(
            Instant::now() < deadline,
            "not everyone resumed: {}",
            resumed()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let took = killed.elapsed();
    eprintln!("kill -9 to every participant resumed: {took:?}");
    assert!(took < Duration::from_secs(10), "resumed after {took:?}");

    for (name, run) in ["alice", "bob", "carol"].into_iter().zip(runs) {
        let report = ran(run.await.unwrap());
        assert_held(name, &report);
        let mut lines: Vec<&str> = report.chat.iter().map(|c| c.text.as_str()).collect();
        lines.sort();
        let before = lines.len();
        lines.dedup();
        assert_eq!(before, lines.len(), "{name}: a chat line twice: {lines:?}");
        assert_eq!(lines.len(), 6, "{name}: every line once: {lines:?}");
        for (peer, p) in &report.peers {
            assert!(
                p.longest_video_gap_ms < 2_000 && p.longest_sound_gap_ms < 2_000,
                "{name}: media from {peer} stopped ({} ms video, {} ms sound)",
                p.longest_video_gap_ms,
                p.longest_sound_gap_ms
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
