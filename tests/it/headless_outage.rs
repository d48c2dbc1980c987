//! The signaling server goes away for 5 s mid-meeting: media keeps flowing peer to peer, the
//! clients reconnect and resume their sessions, and chat works again afterwards.

use std::sync::Arc;
use std::time::Duration;

use crate::common::{assert_held, ran, TestServer};
use termmeet::headless::runner::{run_script, HeadlessOptions};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_survives_a_signaling_outage_and_sessions_resume() {
    let mut server = TestServer::start().await;
    let url = server.url();
    let options = Arc::new(HeadlessOptions {
        server: url,
        video_size: (320, 240),
        fps: 15.0,
        bitrate: 300_000,
        ..HeadlessOptions::default()
    });

    // The outage starts about 3 s after both see video, while they wait.
    let alice = r#"
        join outage as alice
        audio tone:440
        expect video from bob frames 10 within 30s
        wait 3s
        # The server is down from here for 5 s: video keeps arriving all the same.
        expect video from bob frames 45 within 5s
        expect audio from bob tone 660 within 5s
        expect chat from bob "after the outage" within 40s
        chat welcome back
        expect peers 1
        wait 1s
        leave
    "#;
    let bob = r#"
        join outage as bob
        audio tone:660
        expect video from alice frames 10 within 30s
        wait 12s
        chat after the outage
        expect chat from alice "welcome back" within 30s
        expect video from alice frames 10 within 10s
        leave
    "#;
    let o1 = Arc::clone(&options);
    let o2 = Arc::clone(&options);
    let a = tokio::spawn(async move { run_script(alice, &o1).await });
    let b = tokio::spawn(async move { run_script(bob, &o2).await });

    // Wait until both have video, then take the server away for 5 s.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while server.handle.counts().1 < 2 {
        assert!(tokio::time::Instant::now() < deadline, "both never joined");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(5)).await;
    server.stop().await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    server.restart().await;

    let (a, b) = (ran(a.await.unwrap()), ran(b.await.unwrap()));
    assert_held("alice", &a);
    assert_held("bob", &b);
    // Both came back as themselves: resumed, not rejoined.
    assert!(server.resumes() >= 2, "both resumed");
    assert_eq!(server.joins(), 2, "no fresh joins");
}
