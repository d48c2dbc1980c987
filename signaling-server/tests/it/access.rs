//! Who may connect: at most N connections from one address, and browsers only from the
//! server's own origin or the allowed ones.

use crate::common::*;
use termmeet_signaling::origin_allowed;
use termmeet_signaling::protocol::{ClientMessage, ErrorCode, ServerMessage};
use termmeet_signaling::ServerConfig;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

#[tokio::test]
async fn connections_over_the_per_address_limit_are_refused_with_a_reason() {
    let server = TestServer::start(ServerConfig {
        max_conns_per_ip: 3,
        ..ServerConfig::default()
    })
    .await;
    let mut open = Vec::new();
    for _ in 0..3 {
        let mut c = server.client().await;
        c.send(&ClientMessage::Ping {}).await;
        assert_eq!(c.recv().await, ServerMessage::Pong {});
        open.push(c);
    }
    let mut fourth = server.client().await;
    let message = fourth.expect_error(ErrorCode::TooManyConnections).await;
    assert!(message.contains("3 connections"), "{message}");
    assert_eq!(fourth.expect_close().await, CloseCode::Policy);
    // One closes: there is room again (once the server has seen it go).
    drop(open.pop());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let mut again = server.client().await;
        again.send(&ClientMessage::Ping {}).await;
        match again.recv().await {
            ServerMessage::Pong {} => break,
            other => assert!(
                std::time::Instant::now() < deadline,
                "still refused: {other:?}"
            ),
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

async fn upgrade_with_origin(url: &str, origin: &str) -> Result<(), String> {
    let mut request = url.into_client_request().unwrap();
    request
        .headers_mut()
        .insert("Origin", origin.parse().unwrap());
    tokio_tungstenite::connect_async(request)
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

#[tokio::test]
async fn browsers_from_foreign_origins_get_403() {
    let server = TestServer::start(ServerConfig {
        allowed_origins: vec!["https://meet.example.org".into()],
        ..ServerConfig::default()
    })
    .await;
    let url = server.url();
    let own = format!("http://{}", server.addr);
    assert_eq!(upgrade_with_origin(&url, &own).await, Ok(()));
    assert_eq!(
        upgrade_with_origin(&url, "https://meet.example.org").await,
        Ok(())
    );
    let refused = upgrade_with_origin(&url, "https://evil.example").await;
    assert!(
        refused.as_ref().is_err_and(|e| e.contains("403")),
        "{refused:?}"
    );
    // Terminal clients send no Origin and are not browsers.
    let mut c = server.client().await;
    c.send(&ClientMessage::Ping {}).await;
    assert_eq!(c.recv().await, ServerMessage::Pong {});
}

#[test]
fn origin_rules() {
    let allowed = vec!["https://meet.example.org".to_string()];
    assert!(origin_allowed(None, Some("h:8080"), &allowed));
    assert!(origin_allowed(Some("http://h:8080"), Some("h:8080"), &[]));
    assert!(origin_allowed(Some("https://H:8080"), Some("h:8080"), &[]));
    assert!(!origin_allowed(Some("http://h:9090"), Some("h:8080"), &[]));
    assert!(origin_allowed(
        Some("https://meet.example.org"),
        Some("h:8080"),
        &allowed
    ));
    assert!(!origin_allowed(Some("null"), Some("h:8080"), &allowed));
    assert!(!origin_allowed(
        Some("https://evil.example"),
        None,
        &allowed
    ));
}

#[tokio::test]
async fn one_address_opens_only_so_many_rooms_a_minute() {
    let server = TestServer::start(ServerConfig {
        max_new_rooms_per_minute: 3,
        ..ServerConfig::default()
    })
    .await;
    let mut held = Vec::new();
    for room in ["r1", "r2", "r3"] {
        held.push(server.joined(room, "opener").await);
    }
    let mut fourth = server.client().await;
    fourth
        .send(&ClientMessage::Join {
            room: "r4".into(),
            name: "opener".into(),
            secret: None,
            token: None,
            resume: None,
            client: None,
            sfu: false,
        })
        .await;
    let message = fourth.expect_error(ErrorCode::TooManyConnections).await;
    assert!(message.contains("3 rooms in the last minute"), "{message}");
    assert_eq!(fourth.expect_close().await, CloseCode::Policy);
    // Joining a room that is open is not limited.
    let _guest = server.joined("r1", "guest").await;
}
