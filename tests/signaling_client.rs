//! The signaling client against a real server that goes away and comes back.

mod common;

use std::time::Duration;

use common::TestServer;
use termmeet::signaling::{JoinParams, SignalingClient, SignalingEvent};
use termmeet_signaling::protocol::{ClientMessage, ServerMessage};
use tokio::sync::mpsc::UnboundedReceiver;

async fn next_message(
    events: &mut UnboundedReceiver<SignalingEvent>,
    want: impl Fn(&ServerMessage) -> bool,
) -> ServerMessage {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut seen = Vec::new();
    loop {
        let e = match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Some(e)) => e,
            other => panic!("no wanted message ({other:?}); saw {seen:#?}"),
        };
        seen.push(format!("{e:?}"));
        if let SignalingEvent::Message(m) = e {
            if want(&m) {
                return m;
            }
        }
    }
}

async fn chat_arrives(events: &mut UnboundedReceiver<SignalingEvent>, text: &str, from: &str) {
    let seen = |m: &ServerMessage| match m {
        ServerMessage::Chat(c) => c.text == text && c.from == from,
        ServerMessage::Peers {
            chat_history,
            resume_failed,
            ..
        } => {
            !resume_failed
                && chat_history
                    .iter()
                    .any(|c| c.text == text && c.from == from)
        }
        _ => false,
    };
    next_message(events, seen).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnects_resumes_and_delivers_what_was_queued() {
    let mut server = TestServer::start().await;
    let url = server.url();
    let params = |name: &str| JoinParams {
        url: url.clone(),
        room: "r".into(),
        name: name.into(),
        secret: None,
    };
    let (a, mut a_events) = SignalingClient::start(params("alice"));
    let a_id = match next_message(&mut a_events, |m| matches!(m, ServerMessage::Peers { .. })).await
    {
        ServerMessage::Peers { you, .. } => you.id,
        _ => unreachable!(),
    };
    let (b, mut b_events) = SignalingClient::start(params("bob"));
    let b_id = match next_message(&mut b_events, |m| matches!(m, ServerMessage::Peers { .. })).await
    {
        ServerMessage::Peers { you, .. } => you.id,
        _ => unreachable!(),
    };

    server.stop().await;
    // Once alice knows the server is gone, her chat waits in her queue. (A message sent in
    // the instant before a client sees the close can be lost: the protocol has no acks.)
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match tokio::time::timeout_at(deadline, a_events.recv()).await {
            Ok(Some(SignalingEvent::Reconnecting { .. })) => break,
            Ok(Some(_)) => continue,
            other => panic!("alice never noticed the server going: {other:?}"),
        }
    }
    a.send(ClientMessage::Chat {
        text: "sent while down".into(),
    });
    tokio::time::sleep(Duration::from_secs(3)).await;
    server.restart().await;

    // Each gets the other's message relayed if it is back first, or in the history of its
    // own resume if not.
    chat_arrives(&mut b_events, "sent while down", &a_id).await;
    b.send(ClientMessage::Chat {
        text: "and after".into(),
    });
    chat_arrives(&mut a_events, "and after", &b_id).await;
    assert_eq!(server.resumes(), 2);
}
