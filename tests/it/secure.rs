//! The client against locked servers, through real sockets: `wss://` with a pinned
//! self-signed certificate or a private CA, join tokens, and the private meeting that
//! `termmeet join` serves itself.

use std::time::Duration;

use crate::common::TestServer;
use termmeet::signaling::{JoinParams, SignalingClient, SignalingEvent};
use termmeet::tls::TlsOptions;
use termmeet_signaling::protocol::ServerMessage;
use termmeet_signaling::tls::ServerTls;
use termmeet_signaling::token::{self, Role, TokenSecret};
use termmeet_signaling::ServerConfig;

/// How a client's first connection went: joined (with the `peers` answer) or stopped for
/// good (with why). A client that keeps retrying fails the test.
#[derive(Debug)]
enum First {
    Joined(ServerMessage),
    Stopped(String),
}

async fn first_outcome(params: JoinParams) -> First {
    let (client, mut events) = SignalingClient::start(params);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let outcome = loop {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Some(SignalingEvent::Message(m @ ServerMessage::Peers { .. }))) => {
                break First::Joined(m)
            }
            Ok(Some(SignalingEvent::Stopped { reason })) => break First::Stopped(reason),
            Ok(Some(SignalingEvent::Reconnecting { reason, .. })) => {
                panic!("the client retries instead of saying why it cannot join: {reason}")
            }
            Ok(Some(_)) => continue,
            other => panic!("no outcome within 30 s: {other:?}"),
        }
    };
    client.leave();
    outcome
}

fn params(server: &TestServer, name: &str, tls: TlsOptions) -> JoinParams {
    JoinParams {
        url: server.url(),
        room: "locked".into(),
        name: name.into(),
        tls,
        ..JoinParams::default()
    }
}

fn pinned(fingerprint: &str) -> TlsOptions {
    TlsOptions {
        fingerprint: Some(fingerprint.into()),
        ..TlsOptions::default()
    }
}

async fn self_signed_server() -> (TestServer, String) {
    let tls = ServerTls::self_signed(&["localhost".into(), "127.0.0.1".into()]).unwrap();
    let fingerprint = tls.fingerprint().to_string();
    let server = TestServer::with_config(ServerConfig {
        tls: Some(tls),
        ..ServerConfig::default()
    })
    .await;
    (server, fingerprint)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pinned_self_signed_server_is_joined_and_another_certificate_refused() {
    let (server, fingerprint) = self_signed_server().await;
    assert!(server.url().starts_with("wss://"));
    // The fingerprint as the server prints it, and as people paste it (lower case, no colons).
    let pasted = fingerprint.replace(':', "").to_lowercase();
    for fp in [fingerprint.as_str(), pasted.as_str()] {
        match first_outcome(params(&server, "ada", pinned(fp))).await {
            First::Joined(_) => {}
            other => panic!("the pinned server was not joined: {other:?}"),
        }
    }
    // Another certificate's fingerprint: refused at once, naming the host and the fingerprint
    // the server showed.
    let other = ServerTls::self_signed(&["localhost".into()]).unwrap();
    match first_outcome(params(&server, "eve", pinned(other.fingerprint()))).await {
        First::Stopped(why) => {
            assert!(why.contains(&server.addr.to_string()), "{why}");
            assert!(why.contains(&fingerprint), "{why}");
            assert!(why.contains("--server-fingerprint"), "{why}");
        }
        other => panic!("a wrong fingerprint was accepted: {other:?}"),
    }
    // Nothing pinned: a self-signed certificate is not trusted, and the message says what to
    // pass.
    match first_outcome(params(&server, "bob", TlsOptions::default())).await {
        First::Stopped(why) => {
            assert!(why.contains("not trusted"), "{why}");
            assert!(why.contains("--server-fingerprint"), "{why}");
            assert!(why.contains("--ca-file"), "{why}");
        }
        other => panic!("an unknown self-signed certificate was accepted: {other:?}"),
    }
    // A fingerprint that is not one is refused before any connection.
    match first_outcome(params(&server, "bob", pinned("12:34"))).await {
        First::Stopped(why) => assert!(why.contains("not a SHA-256 fingerprint"), "{why}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(server.joins(), 2);
}

/// A CA made for the test, and a server certificate for 127.0.0.1 that it signed, as PEM
/// files in `dir`. Returns (CA file, certificate file, key file).
fn private_ca(
    dir: &std::path::Path,
) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "termmeet test CA");
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let server_key = KeyPair::generate().unwrap();
    let server_params =
        CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
    let server_cert = server_params.signed_by(&server_key, &issuer).unwrap();
    let ca = dir.join("ca.pem");
    let cert = dir.join("server.pem");
    let key = dir.join("server.key");
    std::fs::write(&ca, ca_cert.pem()).unwrap();
    std::fs::write(&cert, server_cert.pem()).unwrap();
    std::fs::write(&key, server_key.serialize_pem()).unwrap();
    (ca, cert, key)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_signed_by_a_private_ca_is_trusted_with_ca_file() {
    let dir = std::env::temp_dir().join(format!("termmeet-ca-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (ca, cert, key) = private_ca(&dir);
    let tls = ServerTls::from_pem_files(&cert, &key).unwrap();
    let server = TestServer::with_config(ServerConfig {
        tls: Some(tls),
        ..ServerConfig::default()
    })
    .await;
    let with_ca = TlsOptions {
        ca_file: Some(ca.clone()),
        ..TlsOptions::default()
    };
    match first_outcome(params(&server, "ada", with_ca)).await {
        First::Joined(_) => {}
        other => panic!("the CA's server was not joined: {other:?}"),
    }
    match first_outcome(params(&server, "bob", TlsOptions::default())).await {
        First::Stopped(why) => assert!(why.contains("not signed by a CA"), "{why}"),
        other => panic!("a private CA was trusted without --ca-file: {other:?}"),
    }
    let missing = TlsOptions {
        ca_file: Some(dir.join("nope.pem")),
        ..TlsOptions::default()
    };
    match first_outcome(params(&server, "bob", missing)).await {
        First::Stopped(why) => assert!(why.contains("--ca-file"), "{why}"),
        other => panic!("{other:?}"),
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_admit_with_their_name_and_refusals_stop_the_client() {
    let secret = TokenSecret::new("s3cret for tokens").unwrap();
    let server = TestServer::with_config(ServerConfig {
        token_secret: Some(secret.clone()),
        ..ServerConfig::default()
    })
    .await;
    let hour = Duration::from_secs(3600);
    let good = token::mint(&secret, "locked", "Ada Lovelace", Role::Host, hour).unwrap();
    let with_token = |name: &str, token: Option<String>| JoinParams {
        token,
        ..params(&server, name, TlsOptions::default())
    };
    match first_outcome(with_token("whatever", Some(good))).await {
        First::Joined(ServerMessage::Peers { you, host, .. }) => {
            assert_eq!(you.name, "Ada Lovelace", "the token's name is used");
            assert_eq!(host, you.id, "a host token is host");
        }
        other => panic!("a good token was refused: {other:?}"),
    }
    match first_outcome(with_token("bob", None)).await {
        First::Stopped(why) => assert!(why.contains("bad-token"), "{why}"),
        other => panic!("{other:?}"),
    }
    let elsewhere = token::mint(&secret, "other-room", "bob", Role::Guest, hour).unwrap();
    match first_outcome(with_token("bob", Some(elsewhere))).await {
        First::Stopped(why) => assert!(why.contains("another room"), "{why}"),
        other => panic!("{other:?}"),
    }
    let expired = token::mint_claims(
        &secret,
        &token::Claims {
            room: "locked".into(),
            name: "bob".into(),
            role: Role::Guest,
            exp: 1_000_000_000,
            iat: 999_999_000,
        },
    )
    .unwrap();
    match first_outcome(with_token("bob", Some(expired))).await {
        First::Stopped(why) => assert!(why.contains("token-expired"), "{why}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_meeting_join_serves_is_private_and_says_how_to_join_it() {
    let venue = termmeet::session::choose_venue("standup", None, None, &TlsOptions::default())
        .await
        .unwrap();
    let invite = venue.invite.clone().expect("an invitation");
    let secret = venue.secret.clone().expect("a random secret");
    assert!(secret.len() >= 12, "{secret}");
    let fingerprint = venue.tls.fingerprint.clone().expect("a pinned certificate");
    assert!(venue.url.starts_with("wss://127.0.0.1:"), "{}", venue.url);
    for part in [
        "termmeet join standup --server wss://",
        &format!("--secret {secret}"),
        &format!("--server-fingerprint {fingerprint}"),
    ] {
        assert!(
            invite.command.contains(part),
            "{part:?} not in {}",
            invite.command
        );
    }
    assert!(invite.page.starts_with("https://"), "{}", invite.page);
    assert!(invite.page.contains(&format!("secret={secret}")));
    let join = |secret: Option<String>| JoinParams {
        url: venue.url.clone(),
        room: "standup".into(),
        name: "guest".into(),
        secret,
        tls: venue.tls.clone(),
        ..JoinParams::default()
    };
    match first_outcome(join(None)).await {
        First::Stopped(why) => assert!(why.contains("bad-secret"), "{why}"),
        other => panic!("the private meeting let a join without its secret in: {other:?}"),
    }
    match first_outcome(join(Some("guess".into()))).await {
        First::Stopped(why) => assert!(why.contains("bad-secret"), "{why}"),
        other => panic!("{other:?}"),
    }
    let (inside, mut events) = SignalingClient::start(join(Some(secret.clone())));
    loop {
        match tokio::time::timeout(Duration::from_secs(30), events.recv()).await {
            Ok(Some(SignalingEvent::Message(ServerMessage::Peers { .. }))) => break,
            Ok(Some(SignalingEvent::Message(_) | SignalingEvent::Connected { .. })) => continue,
            other => panic!("the invitation's secret did not get in: {other:?}"),
        }
    }
    // The room chosen is the one meeting this server holds: another is refused.
    let mut elsewhere = join(Some(secret));
    elsewhere.room = "other".into();
    match first_outcome(elsewhere).await {
        First::Stopped(why) => assert!(why.contains("room-full"), "{why}"),
        other => panic!("{other:?}"),
    }
    inside.leave();
    // `--secret` is honoured.
    let chosen = termmeet::session::choose_venue(
        "retro",
        None,
        Some("our own & secret"),
        &TlsOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(chosen.secret.as_deref(), Some("our own & secret"));
    let invite = chosen.invite.unwrap();
    // Quoted for the shell and encoded for the link, so what others copy works.
    assert!(
        invite.command.contains("--secret 'our own & secret'"),
        "{}",
        invite.command
    );
    assert!(
        invite.page.ends_with("secret=our%20own%20%26%20secret"),
        "{}",
        invite.page
    );
}

#[tokio::test]
async fn a_stranger_on_the_port_is_told_apart_from_a_termmeet_server() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let stranger = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = stranger.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = stranger.accept().await {
            let mut buf = [0u8; 512];
            let _ = s.read(&mut buf).await;
            let _ = s
                .write_all(b"HTTP/1.0 200 OK\r\nServer: nginx\r\n\r\nhello")
                .await;
        }
    });
    assert_eq!(
        termmeet::session::what_listens_on(port).await,
        "held by a program that is not a termmeet server"
    );
    let ours = TestServer::start().await;
    assert_eq!(
        termmeet::session::what_listens_on(ours.addr.port()).await,
        "held by another termmeet server"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_binary_serves_tls_and_prints_what_clients_need() {
    use tokio::io::AsyncBufReadExt;
    let bin =
        std::path::Path::new(env!("CARGO_BIN_EXE_termmeet")).with_file_name("termmeet-signaling");
    let mut child = tokio::process::Command::new(&bin)
        .args([
            "--listen",
            "127.0.0.1:0",
            "--tls-self-signed",
            "--tls-name",
            "meet.test",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let (mut url, mut page, mut fingerprint) = (None, None, None);
    let mut seen = Vec::new();
    while fingerprint.is_none() {
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .expect("the server prints its addresses")
            .unwrap()
            .unwrap_or_else(|| panic!("the server ended; it printed {seen:?}"));
        if let Some(rest) = line.split("--server ").nth(1) {
            url = Some(rest.trim().to_string());
        }
        if let Some(rest) = line.trim().strip_prefix("browsers:") {
            page = Some(rest.trim().to_string());
        }
        if let Some(rest) = line.split("certificate SHA-256: ").nth(1) {
            fingerprint = Some(rest.trim().to_string());
        }
        seen.push(line);
    }
    let url = url.unwrap_or_else(|| panic!("no wss:// URL in {seen:?}"));
    assert!(url.starts_with("wss://127.0.0.1:"), "{url}");
    assert!(
        page.is_some_and(|p| p.starts_with("https://127.0.0.1:")),
        "{seen:?}"
    );
    let params = JoinParams {
        url,
        room: "r".into(),
        name: "ada".into(),
        tls: pinned(&fingerprint.unwrap()),
        ..JoinParams::default()
    };
    match first_outcome(params).await {
        First::Joined(_) => {}
        other => panic!("the printed URL and fingerprint did not get in: {other:?}"),
    }
    let _ = child.kill().await;
}
