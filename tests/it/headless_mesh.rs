//! Headless participants in a real mesh: an in-process signaling server on port 0 and real
//! WebRTC peer connections over loopback, driven by docs/script.md scripts.

use std::time::Duration;

use crate::common::{assert_held, ran, TestServer};
use termmeet::headless::runner::{run_script, HeadlessOptions, Outcome};

fn options(url: &str) -> HeadlessOptions {
    // Small pictures keep three encoders and six decoders within two cores.
    HeadlessOptions {
        server: url.to_string(),
        video_size: (320, 240),
        fps: 15.0,
        bitrate: 300_000,
        ..HeadlessOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_participants_see_hear_and_chat() {
    let server = TestServer::start().await;
    let url = server.url();
    let alice = r#"
        join standup as alice
        video test-pattern
        audio tone:440
        expect peers 2 within 30s
        expect video from bob frames 20 within 30s
        expect video from carol frames 20 within 30s
        expect audio from bob tone 660 within 20s
        expect audio from carol tone 880 within 20s
        hand raise
        chat hello from alice
        expect chat from bob "hi alice" within 20s
        expect hand alice position 1 within 10s
        expect hand carol position 2 within 10s
        expect screen from bob frames 5 within 30s
        chat saw it too
        expect left carol within 40s
        expect quality bob at least good within 10s
        expect chat from bob "still here" within 20s
        leave
    "#;
    let bob = r#"
        join standup as bob
        audio tone:660
        expect peers 2 within 30s
        expect video from alice frames 20 within 30s
        expect audio from alice tone 440 within 20s
        expect chat from alice "hello from alice" within 30s
        chat hi alice
        screen on
        expect chat from carol "saw your screen" within 30s
        expect chat from alice "saw it too" within 30s
        screen off
        expect left carol within 40s
        expect peers 1
        expect video from alice frames 10 within 10s
        expect audio from alice tone 440 within 10s
        chat still here
        expect left alice within 20s
        leave
    "#;
    let carol = r#"
        join standup as carol
        audio tone:880
        expect peers 2 within 30s
        expect video from alice frames 20 within 30s
        expect audio from bob tone 660 within 20s
        expect hand alice within 30s
        hand raise
        expect screen from bob frames 5 within 30s
        chat saw your screen
        leave
    "#;
    let o = options(&url);
    let (a, b, c) = tokio::join!(
        run_script(alice, &o),
        async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            run_script(bob, &o).await
        },
        async {
            tokio::time::sleep(Duration::from_millis(600)).await;
            run_script(carol, &o).await
        },
    );
    let (a, b, c) = (ran(a), ran(b), ran(c));
    for (who, r) in [("alice", &a), ("bob", &b), ("carol", &c)] {
        for s in r.steps.iter().filter(|s| !s.ok) {
            eprintln!(
                "{who} line {} `{}`: {} (after {} ms)",
                s.line, s.text, s.detail, s.ms
            );
        }
    }
    assert_held("alice", &a);
    assert_held("bob", &b);
    assert_held("carol", &c);
    // The report carries per-peer figures, glass-to-glass latency among them.
    let from_bob = &a.peers["bob"];
    assert!(
        from_bob.video_frames >= 20 && from_bob.audio_ms > 1000,
        "{from_bob:?}"
    );
    assert!(
        from_bob.latency_ms_p50.is_some(),
        "latency from the test pattern's stamp"
    );
    assert!(from_bob.screen_frames >= 5);
    // Both ends of a connection show the same short code.
    let from_alice = &b.peers["alice"];
    assert!(from_bob.sas.is_some(), "{from_bob:?}");
    assert_eq!(from_bob.sas, from_alice.sas);
    assert_eq!(a.peers["carol"].sas, c.peers["alice"].sas);
    // Connection figures: loopback is a host pair, we send to bob, and jitter is sane.
    assert_eq!(from_bob.path, "host", "{from_bob:?}");
    assert!(from_bob.bitrate_out_kbps > 0.0, "{from_bob:?}");
    assert!(
        from_bob.jitter_ms >= 0.0 && from_bob.jitter_ms < 500.0,
        "{from_bob:?}"
    );
    assert_eq!(a.hands.first().map(String::as_str), Some("alice"));
    assert!(a
        .chat
        .iter()
        .any(|m| m.from == "bob" && m.text == "hi alice"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_joiner_gets_everyone_the_chat_history_the_hands_and_the_screen() {
    let server = TestServer::start().await;
    let o = std::sync::Arc::new(options(&server.url()));
    let alice = r#"
        join late as alice
        audio tone:440
        expect peers 1 within 30s
        expect video from bob frames 10 within 30s
        hand raise
        chat first message
        expect chat from bob "second message" within 20s
        expect peers 2 within 120s
        expect video from dave frames 10 within 30s
        expect audio from dave tone 880 within 20s
        expect chat from dave "hello, I'm late" within 60s
        leave
    "#;
    let bob = r#"
        join late as bob
        audio tone:660
        expect peers 1 within 30s
        expect video from alice frames 10 within 30s
        expect chat from alice "first message" within 20s
        chat second message
        expect hand alice within 10s
        hand raise
        screen on
        expect peers 2 within 120s
        expect video from dave frames 10 within 30s
        expect chat from dave "hello, I'm late" within 60s
        leave
    "#;
    let dave = r#"
        join late as dave
        audio tone:880
        expect peers 2 within 30s
        expect chat from alice "first message" within 5s
        expect chat from bob "second message" within 5s
        expect hand alice position 1 within 5s
        expect hand bob position 2 within 5s
        expect video from alice frames 10 within 30s
        expect video from bob frames 10 within 30s
        expect audio from alice tone 440 within 20s
        expect audio from bob tone 660 within 20s
        expect screen from bob frames 5 within 30s
        chat hello, I'm late
        expect left alice within 60s
        expect left bob within 60s
        leave
    "#;
    let spawn = |script: &'static str| {
        let o = std::sync::Arc::clone(&o);
        tokio::spawn(async move { ran(run_script(script, &o).await) })
    };
    let (a, b) = (spawn(alice), spawn(bob));
    // Dave comes once the room has its history: two messages, both hands up.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    loop {
        let room = server.handle.room("late");
        if room
            .as_ref()
            .is_some_and(|r| r.chat_messages == 2 && r.hands == ["alice", "bob"])
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "alice and bob never got going: {room:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let d = spawn(dave).await.unwrap();
    let (a, b) = (a.await.unwrap(), b.await.unwrap());
    assert_held("alice", &a);
    assert_held("bob", &b);
    assert_held("dave", &d);
    assert_eq!(d.hands, Vec::<String>::new(), "both left, hands with them");
    assert!(d.peers["bob"].screen_frames >= 5);
}

#[tokio::test]
async fn bad_scripts_are_unusable_with_the_line() {
    let o = HeadlessOptions::default();
    match run_script("join r as a\nvideo test-pattern\nfly away\n", &o).await {
        Outcome::Unusable(e) => assert!(e.contains("line 3") && e.contains("fly"), "{e}"),
        other => panic!("{other:?}"),
    }
    let no_join = run_script("expect peers 1\n", &o).await;
    assert_eq!(no_join.exit_code(), 2);
}
