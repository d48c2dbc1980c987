//! Peers that misbehave: a garbage SDP offer, a peer that never answers. Each gives a clear
//! error in the report, and the other participants carry on.

use crate::common::TestServer;

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use termmeet::headless::runner::{run_script, HeadlessOptions, Outcome};
use termmeet_signaling::protocol::{ClientMessage, ServerMessage};
use tokio_tungstenite::tungstenite::Message;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_offers_and_silent_peers_are_reported_and_others_carry_on() {
    let server = TestServer::start().await;
    let url = server.url();

    // Sam joins first, so the others offer to him; he never answers.
    let (mut sam, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    let join = |name: &str| ClientMessage::Join {
        room: "r".into(),
        name: name.into(),
        secret: None,
        token: None,
        resume: None,
        client: None,
        sfu: false,
    };
    sam.send(Message::Text(join("sam").to_json().into()))
        .await
        .unwrap();
    let sam_task = tokio::spawn(async move { while let Some(Ok(_)) = sam.next().await {} });

    // Mallory joins once alice and bob are in, and "offers" garbage to each of them.
    let mallory_url = url.clone();
    let mallory_task = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(4)).await;
        let (mut mallory, _) = tokio_tungstenite::connect_async(&mallory_url)
            .await
            .unwrap();
        mallory
            .send(Message::Text(join("mallory").to_json().into()))
            .await
            .unwrap();
        while let Some(Ok(frame)) = mallory.next().await {
            let Message::Text(t) = frame else { continue };
            if let Ok(ServerMessage::Peers { peers, .. }) = ServerMessage::parse(t.as_str()) {
                for p in peers {
                    let bad = ClientMessage::Offer {
                        to: p.id,
                        sdp: "v=0\r\nthis is not SDP\r\n".into(),
                    };
                    mallory
                        .send(Message::Text(bad.to_json().into()))
                        .await
                        .unwrap();
                }
            }
        }
    });

    let o = HeadlessOptions {
        server: url,
        video_size: (320, 240),
        fps: 15.0,
        bitrate: 300_000,
        ..HeadlessOptions::default()
    };
    let alice = "join r as alice\nexpect peers 3 within 20s\nexpect video from bob frames 20 within 30s\nwait 22s\nexpect video from bob frames 20 within 10s\nchat done\nexpect chat from bob \"done too\" within 30s\nexpect left bob within 20s\nleave\n";
    let bob = "join r as bob\nexpect peers 3 within 20s\nexpect video from alice frames 20 within 30s\nexpect chat from alice \"done\" within 60s\nexpect video from alice frames 20 within 10s\nchat done too\nleave\n";
    let (a, b) = tokio::join!(run_script(alice, &o), async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        run_script(bob, &o).await
    });
    let (Outcome::Ran(a), Outcome::Ran(b)) = (a, b) else {
        panic!("scripts unusable")
    };
    assert!(a.ok && b.ok, "alice {:?}\nbob {:?}", a.steps, b.steps);
    let errors = format!("{:?} {:?}", a.errors, b.errors);
    assert!(errors.contains("bad offer from mallory"), "{errors}");
    assert!(errors.contains("no connection with sam"), "{errors}");
    assert_eq!(a.peers["sam"].quality, "disconnected");
    mallory_task.abort();
    sam_task.abort();
}
