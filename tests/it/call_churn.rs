//! Fifty participants join and leave one after another against one who stays: memory, tasks
//! and open sockets must not grow with the count (webrtc-rs issue 906 leaks closed peer
//! connections through an Arc cycle; the mesh closes and drops everything it holds).

use crate::common::turns::{alone, run_alone};
use crate::common::{participant, TestServer};

use std::time::Duration;

use termmeet::call::mesh::{Mesh, MeshCommand};
use termmeet::headless::runner::{run_script, HeadlessOptions, Outcome};

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .unwrap_or(0)
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_joins_and_leaves_leave_nothing_behind() {
    // Open files, tasks and memory are counted for the whole process, which the other tests
    // of this binary share: the count runs again in a process of its own.
    if !alone() {
        return run_alone(
            module_path!(),
            "fifty_joins_and_leaves_leave_nothing_behind",
        );
    }
    let server = TestServer::start().await;
    let url = server.url();
    let (alice, alice_task) = Mesh::start(participant(&url, "churn", "alice", Some((160, 120))));
    let o = HeadlessOptions {
        server: url,
        video_size: (160, 120),
        fps: 15.0,
        bitrate: 200_000,
        ..HeadlessOptions::default()
    };
    let metrics = tokio::runtime::Handle::current().metrics();
    let mut samples = Vec::new();
    // TERMMEET_CHURN_CYCLES runs more cycles (BENCHMARKS.md has a 130-cycle run).
    let cycles: usize = std::env::var("TERMMEET_CHURN_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n| *n >= 20)
        .unwrap_or(50);
    for i in 0..cycles {
        let script = format!("join churn as visitor{i}\nvideo none\nexpect video from alice frames 3 within 20s\nleave\n");
        match run_script(&script, &o).await {
            Outcome::Ran(r) => assert!(r.ok, "visitor {i}: {:?} {:?}", r.steps, r.errors),
            Outcome::Unusable(e) => panic!("{e}"),
        }
        // Alice sees the visitor leave before the next one comes.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while alice.read(|s| !s.peers.is_empty()) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "visitor {i} never left alice's view"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        if i % 20 == 9 || i + 1 == cycles {
            // Let closing tasks finish.
            tokio::time::sleep(Duration::from_secs(2)).await;
            let sample = (open_fds(), metrics.num_alive_tasks(), rss_kib());
            eprintln!(
                "after {}: {} fds, {} tasks, {} KiB",
                i + 1,
                sample.0,
                sample.1,
                sample.2
            );
            samples.push(sample);
        }
    }
    let ((fds10, tasks10, rss10), (fds50, tasks50, rss50)) =
        (samples[0], samples[samples.len() - 1]);
    // Forty (or more) further joins and leaves may not leave forty of anything behind.
    assert!(
        fds50 <= fds10 + 5,
        "open files grew from {fds10} to {fds50}"
    );
    assert!(
        tasks50 <= tasks10 + 10,
        "tasks grew from {tasks10} to {tasks50}"
    );
    assert!(
        rss50 <= rss10 + 24 * 1024,
        "memory grew from {rss10} KiB to {rss50} KiB"
    );
    alice.command(MeshCommand::Leave);
    let _ = tokio::time::timeout(Duration::from_secs(5), alice_task).await;
}

#[tokio::test]
async fn the_camera_feeds_a_mirrored_self_view() {
    let (mesh, task) = Mesh::start(participant(
        "ws://127.0.0.1:9/ws",
        "r",
        "me",
        Some((320, 240)),
    ));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while mesh.self_view().is_none() {
        assert!(tokio::time::Instant::now() < deadline, "no self view");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let view = mesh.self_view().unwrap();
    assert_eq!((view.width, view.height), (160, 120));
    mesh.command(MeshCommand::Cam(false));
    mesh.command(MeshCommand::Leave);
    let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
}
