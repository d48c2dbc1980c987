//! The signaling client against a real server that goes away and comes back.

use std::time::Duration;

use termmeet::signaling::{JoinParams, SignalingClient, SignalingEvent};
use termmeet_signaling::protocol::{ClientMessage, ServerMessage};
use termmeet_signaling::ServerConfig;
use tokio::sync::mpsc::UnboundedReceiver;

async fn next_message(
    events: &mut UnboundedReceiver<SignalingEvent>,
    want: impl Fn(&ServerMessage) -> bool,
) -> ServerMessage {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let e = tokio::time::timeout_at(deadline, events.recv())
            .await
            .expect("timed out")
            .expect("events ended");
        if let SignalingEvent::Message(m) = e {
            if want(&m) {
                return m;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnects_resumes_and_delivers_what_was_queued() {
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
    let params = |name: &str| JoinParams {
        url: format!("ws://{addr}/ws"),
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
    next_message(&mut b_events, |m| matches!(m, ServerMessage::Peers { .. })).await;

    let _ = stop.send(());
    first.await.unwrap().unwrap();
    // While the server is down, alice's chat waits in her queue.
    a.send(ClientMessage::Chat {
        text: "sent while down".into(),
    });
    tokio::time::sleep(Duration::from_secs(3)).await;
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    tokio::spawn(termmeet_signaling::serve(
        listener,
        router,
        handle.clone(),
        std::future::pending(),
    ));

    // Bob gets it relayed if he is back first, or in the history of his resume if not.
    let seen = |m: &ServerMessage| match m {
        ServerMessage::Chat(c) => c.text == "sent while down" && c.from == a_id,
        ServerMessage::Peers {
            chat_history,
            resume_failed,
            ..
        } => {
            !resume_failed
                && chat_history
                    .iter()
                    .any(|c| c.text == "sent while down" && c.from == a_id)
        }
        _ => false,
    };
    next_message(&mut b_events, seen).await;
    b.send(ClientMessage::Chat {
        text: "and after".into(),
    });
    let m = next_message(
        &mut a_events,
        |m| matches!(m, ServerMessage::Chat(c) if c.text == "and after"),
    )
    .await;
    assert!(matches!(m, ServerMessage::Chat(_)));
    assert_eq!(
        handle
            .metrics()
            .resumes_total
            .load(std::sync::atomic::Ordering::Relaxed),
        2
    );
}
