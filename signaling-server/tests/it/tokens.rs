//! Join tokens through real sockets: what a server with a token secret admits, the errors
//! and closes of the rest, host powers by role, and the `token` command.

use std::time::Duration;

use crate::common::{TestClient, TestServer};
use termmeet_signaling::protocol::{ClientMessage, ErrorCode, ServerMessage};
use termmeet_signaling::token::{self, Claims, Role, TokenSecret};
use termmeet_signaling::ServerConfig;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

fn secret() -> TokenSecret {
    TokenSecret::new("the server's token secret").unwrap()
}

async fn server() -> TestServer {
    TestServer::start(ServerConfig {
        token_secret: Some(secret()),
        ..ServerConfig::default()
    })
    .await
}

fn mint(room: &str, name: &str, role: Role) -> String {
    token::mint(&secret(), room, name, role, Duration::from_secs(600)).unwrap()
}

fn join_message(room: &str, token: Option<String>) -> ClientMessage {
    ClientMessage::Join {
        room: room.into(),
        name: "typed name".into(),
        secret: None,
        token,
        resume: None,
        client: None,
        sfu: false,
    }
}

/// Joins with `token`; returns the client and its `peers` answer.
async fn join(server: &TestServer, room: &str, token: String) -> (TestClient, ServerMessage) {
    let mut c = server.client().await;
    c.send(&join_message(room, Some(token))).await;
    let answer = c.recv().await;
    match &answer {
        ServerMessage::Peers { you, .. } => c.id = you.id.clone(),
        other => panic!("expected peers, got {other:?}"),
    }
    (c, answer)
}

/// A join with `token` is refused with `code`, then a 1008 close; returns the message.
async fn refused(server: &TestServer, token: Option<String>, code: ErrorCode) -> String {
    let mut c = server.client().await;
    c.send(&join_message("team", token)).await;
    let message = c.expect_error(code).await;
    assert_eq!(c.expect_close().await, CloseCode::Policy, "{message}");
    message
}

#[tokio::test]
async fn joins_without_a_valid_token_for_the_room_are_refused_and_closed() {
    let server = server().await;
    let missing = refused(&server, None, ErrorCode::BadToken).await;
    assert!(missing.contains("needs a join token"), "{missing}");
    let forged = token::mint(
        &TokenSecret::new("a guess").unwrap(),
        "team",
        "eve",
        Role::Host,
        Duration::from_secs(600),
    )
    .unwrap();
    let message = refused(&server, Some(forged), ErrorCode::BadToken).await;
    assert!(message.contains("not signed"), "{message}");
    let message = refused(&server, Some("not.a.token".into()), ErrorCode::BadToken).await;
    assert!(message.contains("cannot be read"), "{message}");
    let other_room = mint("elsewhere", "bob", Role::Guest);
    let message = refused(&server, Some(other_room), ErrorCode::BadToken).await;
    assert!(message.contains("another room"), "{message}");
    let expired = token::mint_claims(
        &secret(),
        &Claims {
            room: "team".into(),
            name: "bob".into(),
            role: Role::Guest,
            exp: 1_700_000_000,
            iat: 1_699_990_000,
        },
    )
    .unwrap();
    let message = refused(&server, Some(expired), ErrorCode::TokenExpired).await;
    assert!(message.contains("1700000000"), "{message}");
    assert_eq!(server.handle.counts(), (0, 0), "nobody got in");
}

#[tokio::test]
async fn only_host_tokens_get_host_powers() {
    let server = server().await;
    // A guest who arrives first is not host.
    let (mut guest, answer) = join(&server, "team", mint("team", "Grace", Role::Guest)).await;
    match &answer {
        ServerMessage::Peers { you, host, .. } => {
            assert_eq!(you.name, "Grace", "the token's name, not the typed one");
            assert!(host.is_empty(), "a guest became host: {host}");
        }
        _ => unreachable!(),
    }
    guest.send(&ClientMessage::ChatDisabled {}).await;
    guest.expect_error(ErrorCode::Forbidden).await;
    // The host's token makes its holder host, and everyone is told.
    let (mut host, answer) = join(&server, "team", mint("team", "Ada", Role::Host)).await;
    assert!(matches!(&answer, ServerMessage::Peers { you, host, .. } if *host == you.id));
    loop {
        match guest.recv().await {
            ServerMessage::Host { id } => {
                assert_eq!(id, host.id);
                break;
            }
            ServerMessage::PeerJoined { .. } => continue,
            other => panic!("unexpected {other:?}"),
        }
    }
    // The host may lower the guest's hand; the guest may not lower the host's.
    host.send(&ClientMessage::RaiseHand {}).await;
    guest
        .send(&ClientMessage::LowerHand {
            peer: Some(host.id.clone()),
        })
        .await;
    loop {
        match guest.recv().await {
            ServerMessage::Error { code, .. } => {
                assert_eq!(code, ErrorCode::Forbidden);
                break;
            }
            ServerMessage::RaiseHand { .. } => continue,
            other => panic!("unexpected {other:?}"),
        }
    }
    host.send(&ClientMessage::ChatDisabled {}).await;
    loop {
        match guest.recv().await {
            ServerMessage::ChatDisabled { from } => {
                assert_eq!(from, host.id);
                break;
            }
            ServerMessage::RaiseHand { .. } => continue,
            other => panic!("unexpected {other:?}"),
        }
    }
    // When the host leaves, the guest does not inherit host powers.
    host.send(&ClientMessage::Leave {}).await;
    loop {
        match guest.recv().await {
            ServerMessage::PeerLeft { .. } => break,
            ServerMessage::Host { id } => panic!("{id} became host without a host token"),
            _ => continue,
        }
    }
    guest.send(&ClientMessage::ChatEnabled {}).await;
    loop {
        match guest.recv().await {
            ServerMessage::Error { code, .. } => {
                assert_eq!(code, ErrorCode::Forbidden);
                break;
            }
            ServerMessage::Host { id } => panic!("{id} became host without a host token"),
            // The leaver's hand is lowered for everyone.
            ServerMessage::LowerHand { .. } => continue,
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[tokio::test]
async fn the_token_command_prints_a_token_the_server_accepts_and_a_join_link() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_termmeet-signaling"))
        .args([
            "token",
            "--secret",
            "the server's token secret",
            "--room",
            "team",
            "--name",
            "Ada",
            "--host",
            "--ttl",
            "2h",
            "--url",
            "https://meet.example.org/",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    let claims = token::verify(&secret(), lines[0]).unwrap();
    assert_eq!(
        (claims.room.as_str(), claims.name.as_str()),
        ("team", "Ada")
    );
    assert_eq!(claims.role, Role::Host);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(
        (now + 7000..=now + 7300).contains(&claims.exp),
        "{claims:?}"
    );
    assert_eq!(
        lines[1],
        format!("https://meet.example.org/?room=team&token={}", lines[0])
    );
    // The server takes it.
    let server = server().await;
    let (_ada, answer) = join(&server, "team", lines[0].to_string()).await;
    assert!(matches!(answer, ServerMessage::Peers { you, host, .. } if host == you.id));
    // Bad input says what is wrong.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_termmeet-signaling"))
        .args([
            "token", "--secret", "s", "--room", "bad room", "--name", "x",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("room"));
}

#[tokio::test]
async fn room_secrets_still_work_alongside_tokens() {
    let server = TestServer::start(ServerConfig {
        token_secret: Some(secret()),
        room_secrets: [("team".to_string(), "hunter2".to_string())].into(),
        ..ServerConfig::default()
    })
    .await;
    let mut c = server.client().await;
    c.send(&join_message(
        "team",
        Some(mint("team", "bob", Role::Guest)),
    ))
    .await;
    c.expect_error(ErrorCode::BadSecret).await;
    let mut c = server.client().await;
    c.send(&ClientMessage::Join {
        room: "team".into(),
        name: "bob".into(),
        secret: Some("hunter2".into()),
        token: Some(mint("team", "bob", Role::Guest)),
        resume: None,
        client: None,
        sfu: false,
    })
    .await;
    assert!(matches!(c.recv().await, ServerMessage::Peers { .. }));
}
