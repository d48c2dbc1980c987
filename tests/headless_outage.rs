//! The signaling server goes away for 5 s mid-meeting: media keeps flowing peer to peer, the
//! clients reconnect and resume their sessions, and chat works again afterwards.

use std::sync::Arc;
use std::time::Duration;

use termmeet::headless::runner::{run_script, HeadlessOptions, Outcome, Report};
use termmeet_signaling::ServerConfig;

fn ran(outcome: Outcome) -> Report {
    match outcome {
        Outcome::Ran(r) => r,
        Outcome::Unusable(e) => panic!("script unusable: {e}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_survives_a_signaling_outage_and_sessions_resume() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (router, handle) = termmeet_signaling::build(ServerConfig::default());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let first = tokio::spawn(termmeet_signaling::serve(
        listener,
        router.clone(),
        handle.clone(),
        async move {
            let _ = stopped.await;
        },
    ));
    let url = format!("ws://{addr}/ws");
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
    while handle.counts().1 < 2 {
        assert!(tokio::time::Instant::now() < deadline, "both never joined");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(5)).await;
    let _ = stop.send(());
    first.await.unwrap().unwrap();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .expect("the same port again");
    let (_stop_again, stopped_again) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(termmeet_signaling::serve(
        listener,
        router,
        handle.clone(),
        async move {
            let _ = stopped_again.await;
        },
    ));

    let (a, b) = (ran(a.await.unwrap()), ran(b.await.unwrap()));
    for (who, r) in [("alice", &a), ("bob", &b)] {
        let failed: Vec<String> = r
            .steps
            .iter()
            .filter(|s| !s.ok)
            .map(|s| format!("line {} `{}`: {}", s.line, s.text, s.detail))
            .collect();
        assert!(
            r.ok,
            "{who} failed:\n{}\nerrors: {:?}",
            failed.join("\n"),
            r.errors
        );
    }
    // Both came back as themselves: resumed, not rejoined.
    assert!(
        handle
            .metrics()
            .resumes_total
            .load(std::sync::atomic::Ordering::Relaxed)
            >= 2
    );
    assert_eq!(
        handle
            .metrics()
            .joins_total
            .load(std::sync::atomic::Ordering::Relaxed),
        2,
        "no fresh joins"
    );
}
