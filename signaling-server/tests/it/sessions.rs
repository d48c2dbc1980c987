//! Connection lifetimes: resume within the grace period, keepalive timeouts, graceful
//! shutdown, the HTTP endpoints, and join/leave churn without growth.

use std::time::Duration;

use crate::common::*;
use std::future::IntoFuture;

use futures_util::StreamExt;
use termmeet_signaling::protocol::{ClientMessage, ServerMessage};
use termmeet_signaling::ServerConfig;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn resume_keeps_the_id_and_delivers_queued_relays_without_peer_left() {
    let server = TestServer::start(ServerConfig {
        grace: Duration::from_secs(5),
        ..ServerConfig::default()
    })
    .await;
    let mut a = server.joined("r", "alice").await;
    let b = server.joined("r", "bob").await;
    a.recv().await; // peer-joined bob
    let (b_id, b_token) = (b.id.clone(), b.resume_token.clone());

    // Bob's connection drops without `leave`.
    drop(b);
    server
        .wait_for("the drop to be noticed", |h| {
            h.metrics()
                .connections
                .load(std::sync::atomic::Ordering::Relaxed)
                == 1
        })
        .await;
    // Alice's offer waits for him.
    a.send(&ClientMessage::Offer {
        to: b_id.clone(),
        sdp: "while away".into(),
    })
    .await;
    a.send(&ClientMessage::Chat {
        text: "anyone?".into(),
    })
    .await;
    assert!(matches!(a.recv().await, ServerMessage::Chat(_)));

    let mut b = server.client().await;
    let answer = b.join_with("r", "bob", None, Some(&b_token)).await;
    let ServerMessage::Peers {
        you,
        resume_failed,
        peers,
        chat_history,
        ..
    } = answer
    else {
        unreachable!()
    };
    assert_eq!(you.id, b_id, "resume keeps the id");
    assert!(!resume_failed);
    assert_eq!(peers.len(), 1);
    assert_eq!(chat_history.len(), 1);
    assert_eq!(
        b.recv().await,
        ServerMessage::Offer {
            from: a.id.clone(),
            sdp: "while away".into()
        }
    );
    // Nobody was told bob left or joined.
    a.expect_silence(Duration::from_millis(500)).await;
    assert_eq!(server.handle.counts(), (1, 2));

    // The old grace timer does not remove him later.
    b.send(&ClientMessage::Chat {
        text: "back".into(),
    })
    .await;
    assert!(matches!(a.recv().await, ServerMessage::Chat(m) if m.from == b_id));
}

#[tokio::test]
async fn an_expired_resume_token_gets_a_fresh_join() {
    let server = TestServer::start(ServerConfig {
        grace: Duration::from_millis(200),
        ..ServerConfig::default()
    })
    .await;
    let mut a = server.joined("r", "alice").await;
    let b = server.joined("r", "bob").await;
    a.recv().await;
    let (b_id, token) = (b.id.clone(), b.resume_token.clone());
    drop(b);
    assert_eq!(a.recv().await, ServerMessage::PeerLeft { id: b_id.clone() });
    let mut b = server.client().await;
    let ServerMessage::Peers {
        you, resume_failed, ..
    } = b.join_with("r", "bob", None, Some(&token)).await
    else {
        unreachable!()
    };
    assert!(resume_failed);
    assert_ne!(you.id, b_id);
    assert!(matches!(a.recv().await, ServerMessage::PeerJoined { peer } if peer.id == you.id));
    // A token used for another room does not resume either.
    let mut c = server.client().await;
    let ServerMessage::Peers { resume_failed, .. } = c
        .join_with("other", "bob", None, Some(&b.resume_token))
        .await
    else {
        unreachable!()
    };
    assert!(resume_failed);
}

#[tokio::test]
async fn keepalive_pings_and_drops_a_silent_connection() {
    let server = TestServer::start(ServerConfig {
        keepalive: Duration::from_millis(100),
        idle_timeout: Duration::from_millis(600),
        grace: Duration::from_millis(100),
        ..ServerConfig::default()
    })
    .await;
    let mut watcher = server.joined("k", "watcher").await;
    // Silent joins and then neither reads nor answers pings.
    let silent = server.joined("k", "silent").await;
    assert!(matches!(
        watcher.recv().await,
        ServerMessage::PeerJoined { .. }
    ));

    // The watcher keeps reading, so its WebSocket layer answers the pings and it stays.
    let mut pings = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let left = loop {
        match tokio::time::timeout_at(deadline, watcher.ws.next()).await {
            Ok(Some(Ok(Message::Ping(_)))) => pings += 1,
            Ok(Some(Ok(Message::Text(t)))) => break ServerMessage::parse(t.as_str()).unwrap(),
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(
        left,
        ServerMessage::PeerLeft {
            id: silent.id.clone()
        }
    );
    assert!(pings >= 3, "the server pinged {pings} times");
    // The watcher, reading (and so answering pings), stays well past the idle timeout.
    watcher.expect_silence(Duration::from_millis(1500)).await;
    watcher.send(&ClientMessage::Ping {}).await;
    assert_eq!(watcher.recv().await, ServerMessage::Pong {});
    drop(silent);
}

#[tokio::test]
async fn shutdown_closes_every_connection_with_1001() {
    let mut server = TestServer::default().await;
    let mut a = server.joined("r", "alice").await;
    let mut lobby = server.client().await;
    server.shutdown();
    assert_eq!(a.expect_close().await, CloseCode::Away);
    assert_eq!(lobby.expect_close().await, CloseCode::Away);
    tokio::time::timeout(SOON, &mut server.task)
        .await
        .expect("run() returns after shutdown")
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn http_endpoints() {
    let server = TestServer::default().await;
    let _a = server.joined("r", "alice").await;
    let (status, body) = http_get(server.addr, "/healthz").await;
    assert!(status.contains("200"), "{status}");
    assert_eq!(body.trim(), "ok");
    // Metrics are never on the public port; the operator serves them on a private address.
    let (status, _) = http_get(server.addr, "/metrics").await;
    assert!(status.contains("404"), "{status}");
    let metrics = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let metrics_addr = metrics.local_addr().unwrap();
    tokio::spawn(axum::serve(metrics, server.handle.metrics_router()).into_future());
    let (status, body) = http_get(metrics_addr, "/metrics").await;
    assert!(status.contains("200"));
    for line in [
        "termmeet_connections 1",
        "termmeet_rooms 1",
        "termmeet_participants 1",
        "termmeet_errors_total{code=\"bad-json\"} 0",
    ] {
        assert!(
            body.lines().any(|l| l == line),
            "missing {line:?} in\n{body}"
        );
    }
    let (status, body) = http_get(server.addr, "/").await;
    assert!(status.contains("200"));
    assert!(body.contains("<html"), "{body}");
    let (status, _) = http_get(server.addr, "/nowhere").await;
    assert!(status.contains("404"), "{status}");
}

/// Resident memory of this process, bytes.
fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        .unwrap_or(0)
        * 1024
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_joins_and_leaves_leave_nothing_behind() {
    // It measures this process's memory, and a thousand sessions' clean-up in time: its
    // neighbours in this binary would disturb both, so it runs again in a process of its own.
    if !alone() {
        return run_alone(
            module_path!(),
            "a_thousand_joins_and_leaves_leave_nothing_behind",
        );
    }
    let server = TestServer::default().await;
    let mut anchor = server.joined("churn", "anchor").await;
    let cycle = |n: usize| {
        let url = server.url();
        async move {
            for i in 0..n {
                let mut c = TestClient::connect(&url).await;
                c.join("churn", &format!("visitor{i}")).await;
                // Half leave politely, half with a message in flight.
                if i % 2 == 0 {
                    c.send(&ClientMessage::Chat { text: "bye".into() }).await;
                }
                c.send(&ClientMessage::Leave {}).await;
                let _ = c.ws.close(None).await;
                // Read on to the server's close, as a client does: a socket dropped with
                // answers unread is reset, and a reset can discard the `leave` the server's
                // kernel holds but the server has not read yet (then the visitor keeps its
                // seat for the grace period, as anyone who drops without leaving does).
                let drained = tokio::time::timeout(Duration::from_secs(10), async {
                    while let Some(Ok(_)) = c.ws.next().await {}
                });
                let _ = drained.await;
            }
        }
    };
    // Warm up allocator pools, then measure the next thousand.
    cycle(100).await;
    server
        .wait_for("warm-up to settle", |h| h.counts() == (1, 1))
        .await;
    let before = rss();
    cycle(1000).await;
    server
        .wait_for("every visitor to be gone", |h| {
            h.counts() == (1, 1) && h.tokens_held() == 1
        })
        .await;
    server
        .wait_for("connections to close", |h| {
            h.metrics()
                .connections
                .load(std::sync::atomic::Ordering::Relaxed)
                == 1
        })
        .await;
    let grown = rss().saturating_sub(before);
    assert!(
        grown < 16 * 1024 * 1024,
        "memory grew by {grown} bytes over 1000 joins and leaves"
    );
    // The anchor saw every join and leave in order, and is still served.
    let mut events = 0;
    loop {
        match anchor.recv().await {
            ServerMessage::PeerJoined { .. }
            | ServerMessage::PeerLeft { .. }
            | ServerMessage::Chat(_) => events += 1,
            other => panic!("{other:?}"),
        }
        if events == 1100 * 2 + 550 {
            break;
        }
    }
    anchor.send(&ClientMessage::Leave {}).await;
    server
        .wait_for("the room to close", |h| {
            h.counts() == (0, 0) && h.tokens_held() == 0
        })
        .await;
}
