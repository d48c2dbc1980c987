//! Every row of docs/protocol.md's error table, and hostile frames: each gets a clear error or
//! the close code the protocol names, and the server keeps serving.

use std::time::Duration;

use crate::common::*;
use futures_util::{SinkExt, StreamExt};
use termmeet_signaling::protocol::{ClientMessage, ErrorCode, ServerMessage};
use termmeet_signaling::ServerConfig;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{CloseCode, Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::Message;

/// Sends `text` on a fresh connection (joined to `room` first when given) and expects `code`.
async fn check(server: &TestServer, joined: bool, text: &str, code: ErrorCode) -> String {
    let mut c = server.client().await;
    if joined {
        c.join("bad", "tester").await;
    }
    c.send_text(text).await;
    let message = c.expect_error(code).await;
    // The connection is still usable after an error.
    c.send(&ClientMessage::Ping {}).await;
    assert_eq!(c.recv().await, ServerMessage::Pong {}, "after {text}");
    c.send(&ClientMessage::Leave {}).await;
    message
}

#[tokio::test]
async fn each_error_code_of_the_table() {
    let server = TestServer::start(ServerConfig {
        max_room_size: 2,
        room_secrets: [("locked".to_string(), "hunter2".to_string())].into(),
        ..ServerConfig::default()
    })
    .await;
    let cases: &[(bool, &str, ErrorCode)] = &[
        (false, "not json at all", ErrorCode::BadJson),
        (false, "[1,2,3]", ErrorCode::BadJson),
        (false, r#"{"kind":"join"}"#, ErrorCode::BadJson),
        (false, r#"{"type":42}"#, ErrorCode::BadJson),
        (false, r#"{"type":"teleport"}"#, ErrorCode::UnknownType),
        (
            false,
            r#"{"type":"join","room":"a room with spaces","name":"x"}"#,
            ErrorCode::BadField,
        ),
        (
            false,
            r#"{"type":"join","room":123,"name":"x"}"#,
            ErrorCode::BadField,
        ),
        (false, r#"{"type":"join","room":"r"}"#, ErrorCode::BadField),
        (
            false,
            r#"{"type":"join","room":"r","name":"n","token":5}"#,
            ErrorCode::BadField,
        ),
        (true, r#"{"type":"chat","text":7}"#, ErrorCode::BadField),
        (true, r#"{"type":"chat","text":""}"#, ErrorCode::BadField),
        (
            true,
            r#"{"type":"media-state","mic":1,"cam":0}"#,
            ErrorCode::BadField,
        ),
        (
            true,
            r#"{"type":"candidate","to":"x","candidate":{"candidate":5}}"#,
            ErrorCode::BadField,
        ),
        (
            false,
            r#"{"type":"chat","text":"hi"}"#,
            ErrorCode::NotJoined,
        ),
        (
            false,
            r#"{"type":"offer","to":"x","sdp":"y"}"#,
            ErrorCode::NotJoined,
        ),
        (
            true,
            r#"{"type":"join","room":"other","name":"again"}"#,
            ErrorCode::AlreadyJoined,
        ),
        (
            true,
            r#"{"type":"offer","to":"0000000000000000","sdp":"y"}"#,
            ErrorCode::UnknownPeer,
        ),
    ];
    for &(joined, text, code) in cases {
        let message = check(&server, joined, text, code).await;
        assert!(!message.is_empty());
        if code == ErrorCode::BadField {
            assert!(
                message.contains('`'),
                "a bad-field message names its field: {message}"
            );
        }
    }

    // forbidden and chat-disabled need a host and a guest.
    let mut host = server.joined("perm", "host").await;
    let mut guest = server.joined("perm", "guest").await;
    guest.send(&ClientMessage::ChatDisabled {}).await;
    guest.expect_error(ErrorCode::Forbidden).await;
    host.recv().await; // peer-joined
    host.send(&ClientMessage::ChatDisabled {}).await;
    guest.recv().await;
    guest.send(&ClientMessage::Chat { text: "hi".into() }).await;
    guest.expect_error(ErrorCode::ChatDisabled).await;

    // room-full: the limit is 2.
    let mut third = server.client().await;
    third
        .send(&ClientMessage::Join {
            room: "perm".into(),
            name: "third".into(),
            secret: None,
            token: None,
            resume: None,
            client: None,
            sfu: false,
        })
        .await;
    let message = third.expect_error(ErrorCode::RoomFull).await;
    assert!(message.contains("full"), "{message}");

    // bad-secret closes with 1008; the right secret joins.
    let mut intruder = server.client().await;
    intruder
        .send(&ClientMessage::Join {
            room: "locked".into(),
            name: "eve".into(),
            secret: Some("guess".into()),
            token: None,
            resume: None,
            client: None,
            sfu: false,
        })
        .await;
    intruder.expect_error(ErrorCode::BadSecret).await;
    assert_eq!(intruder.expect_close().await, CloseCode::Policy);
    let mut friend = server.client().await;
    friend
        .join_with("locked", "friend", Some("hunter2"), None)
        .await;

    // bad-frame: a binary frame.
    let mut binary = server.client().await;
    binary
        .ws
        .send(Message::Binary(vec![1, 2, 3].into()))
        .await
        .unwrap();
    binary.expect_error(ErrorCode::BadFrame).await;

    assert!(server.handle.metrics().errors(ErrorCode::BadJson) >= 4);
}

#[tokio::test]
async fn rate_limit_answers_then_closes_on_the_third_strike() {
    let server = TestServer::start(ServerConfig {
        rate_per_sec: 5.0,
        rate_burst: 10.0,
        ..ServerConfig::default()
    })
    .await;
    let mut c = server.client().await;
    for _ in 0..13 {
        c.send(&ClientMessage::Ping {}).await;
    }
    for _ in 0..10 {
        assert_eq!(c.recv().await, ServerMessage::Pong {});
    }
    c.expect_error(ErrorCode::RateLimited).await;
    c.expect_error(ErrorCode::RateLimited).await;
    let message = c.expect_error(ErrorCode::RateLimited).await;
    assert!(message.contains("slow down"), "{message}");
    assert_eq!(c.expect_close().await, CloseCode::Policy);

    // A well-behaved client is not affected.
    let mut calm = server.client().await;
    for _ in 0..5 {
        calm.send(&ClientMessage::Ping {}).await;
        assert_eq!(calm.recv().await, ServerMessage::Pong {});
    }
}

#[tokio::test]
async fn a_frame_over_64_kib_closes_with_1009() {
    let server = TestServer::default().await;
    let mut c = server.joined("big", "big").await;
    let text = format!(r#"{{"type":"chat","text":"{}"}}"#, "x".repeat(70 * 1024));
    c.send_text(&text).await;
    assert_eq!(c.expect_close().await, CloseCode::Size);
}

#[tokio::test]
async fn ten_megabytes_of_sdp_split_over_frames_closes_with_1009() {
    let server = TestServer::default().await;
    let mut a = server.joined("big", "a").await;
    let b = server.joined("big", "b").await;
    a.recv().await;
    let head = format!(r#"{{"type":"offer","to":"{}","sdp":""#, a.id);
    let chunk = "v".repeat(32 * 1024);
    let (mut sink, mut stream) = futures_util::StreamExt::split(b.ws);
    let sender = tokio::spawn(async move {
        let first = Frame::message(head.into_bytes(), OpCode::Data(Data::Text), false);
        if sink.send(Message::Frame(first)).await.is_err() {
            return;
        }
        for _ in 0..320 {
            let more = Frame::message(
                chunk.clone().into_bytes(),
                OpCode::Data(Data::Continue),
                false,
            );
            if sink.send(Message::Frame(more)).await.is_err() {
                return;
            }
        }
    });
    let code = tokio::time::timeout(SOON, async {
        loop {
            match futures_util::StreamExt::next(&mut stream).await {
                Some(Ok(Message::Close(Some(frame)))) => return Some(frame.code),
                Some(Ok(_)) => continue,
                _ => return None,
            }
        }
    })
    .await
    .expect("server did not close");
    assert_eq!(code, Some(CloseCode::Size));
    sender.abort();
    // The peer never saw a partial offer.
    a.expect_silence(Duration::from_millis(300)).await;
}

#[tokio::test]
async fn invalid_utf8_closes_with_1007() {
    let server = TestServer::default().await;
    let mut c = server.client().await;
    let frame = Frame::message(vec![b'{', 0xff, 0xfe, b'}'], OpCode::Data(Data::Text), true);
    c.ws.send(Message::Frame(frame)).await.unwrap();
    assert_eq!(c.expect_close().await, CloseCode::Invalid);
}

#[tokio::test]
async fn deep_nesting_and_wrong_types_are_errors() {
    let server = TestServer::default().await;
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    check(&server, false, &deep, ErrorCode::BadJson).await;
    let deep_field = format!(
        r#"{{"type":"chat","text":{}"x"{}}}"#,
        "{\"a\":".repeat(10_000),
        "}".repeat(10_000)
    );
    check(&server, true, &deep_field, ErrorCode::BadJson).await;
    let message = check(
        &server,
        true,
        r#"{"type":"offer","to":12345678,"sdp":1e400}"#,
        ErrorCode::BadJson,
    )
    .await;
    assert!(message.contains("JSON"), "{message}");
    let message = check(
        &server,
        true,
        r#"{"type":"offer","to":12345678,"sdp":"x"}"#,
        ErrorCode::BadField,
    )
    .await;
    assert!(
        message.contains("`to`") && message.contains("12345678"),
        "{message}"
    );
}

#[tokio::test]
async fn a_client_that_stops_reading_is_dropped_not_buffered() {
    let server = TestServer::start(ServerConfig {
        outbound_queue: 16,
        rate_per_sec: 1e6,
        rate_burst: 1e6,
        grace: Duration::from_millis(200),
        ..ServerConfig::default()
    })
    .await;
    // The slow client joins and then never reads again.
    let slow = server.joined("slow", "sleepy").await;
    let mut fast = server.joined("slow", "fast").await;
    let sdp = "s".repeat(60 * 1024);
    let offer = ClientMessage::Offer {
        to: slow.id.clone(),
        sdp,
    }
    .to_json();
    let mut dropped = false;
    for _ in 0..2000 {
        if server
            .handle
            .metrics()
            .slow_clients_dropped
            .load(std::sync::atomic::Ordering::Relaxed)
            > 0
        {
            dropped = true;
            break;
        }
        fast.send_text(&offer).await;
    }
    assert!(
        dropped,
        "the server kept buffering for a client that does not read"
    );
    // After the grace period the others are told it left.
    assert_eq!(
        fast.recv().await,
        ServerMessage::PeerLeft {
            id: slow.id.clone()
        }
    );
    drop(slow);
}

/// 400 messages at once: the client reads its `rate-limited` errors and a clean 1008 close,
/// not a connection reset (the server reads on until the client's close).
async fn flood_ends_in_a_clean_close(binary: bool) {
    let server = TestServer::default().await;
    let mut c = server.client().await;
    let (mut sink, mut stream) = futures_util::StreamExt::split(c.ws);
    for _ in 0..400 {
        let frame = if binary {
            Message::Binary(vec![0u8; 16].into())
        } else {
            Message::Text(r#"{"type":"ping"}"#.into())
        };
        if sink.send(frame).await.is_err() {
            break;
        }
    }
    let mut limited = 0;
    let close = loop {
        match tokio::time::timeout(Duration::from_secs(10), stream.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => limited += usize::from(t.contains("rate-limited")),
            Ok(Some(Ok(Message::Close(frame)))) => break frame.map(|f| f.code),
            Ok(Some(Ok(_))) => {}
            Ok(Some(Err(e))) => panic!("the connection failed instead of closing: {e}"),
            Ok(None) => panic!("the connection ended without a close frame"),
            Err(_) => panic!("no close within 10 s"),
        }
    };
    assert_eq!(close, Some(CloseCode::Policy));
    assert!(limited >= 3, "{limited} rate-limited errors");
    c.ws = sink.reunite(stream).unwrap();
}

#[tokio::test]
async fn a_flood_of_pings_ends_in_a_clean_1008() {
    flood_ends_in_a_clean_close(false).await;
}

#[tokio::test]
async fn binary_frames_count_against_the_rate() {
    flood_ends_in_a_clean_close(true).await;
}
