//! The signaling client against a real server that goes away and comes back.

use std::time::Duration;

use crate::common::TestServer;
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

/// Waits until every one of `texts` from `from` has arrived, relayed or in the history of a
/// resume.
async fn chats_arrive(events: &mut UnboundedReceiver<SignalingEvent>, texts: &[&str], from: &str) {
    let missing = std::cell::RefCell::new(texts.to_vec());
    let seen = |m: &ServerMessage| {
        let mut missing = missing.borrow_mut();
        match m {
            ServerMessage::Chat(c) if c.from == from => missing.retain(|t| *t != c.text),
            ServerMessage::Peers {
                chat_history,
                resume_failed: false,
                ..
            } => {
                for c in chat_history.iter().filter(|c| c.from == from) {
                    missing.retain(|t| *t != c.text);
                }
            }
            _ => {}
        }
        missing.is_empty()
    };
    next_message(events, seen).await;
}

async fn chat_arrives(events: &mut UnboundedReceiver<SignalingEvent>, text: &str, from: &str) {
    chats_arrive(events, &[text], from).await;
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
        ..Default::default()
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
    // Sent in the instant the server went, before alice knows: written to a dead connection,
    // and sent again after the resume because the room's history does not have it.
    a.send(ClientMessage::Chat {
        text: "sent as it went".into(),
    });
    // Once alice knows the server is gone, her chat waits in her queue.
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
    chats_arrive(
        &mut b_events,
        &["sent as it went", "sent while down"],
        &a_id,
    )
    .await;
    b.send(ClientMessage::Chat {
        text: "and after".into(),
    });
    chat_arrives(&mut a_events, "and after", &b_id).await;
    assert_eq!(server.resumes(), 2);
}
