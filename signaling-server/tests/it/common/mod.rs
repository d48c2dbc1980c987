//! Shared helpers: an in-process server on `127.0.0.1:0` and a WebSocket test client.
#![allow(dead_code)]

pub mod cluster_lab;

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use termmeet_signaling::protocol::{ClientMessage, ErrorCode, ServerMessage};
use termmeet_signaling::{ServerConfig, ServerHandle};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Generous bound for anything that should happen "soon".
pub const SOON: Duration = Duration::from_secs(10);

pub struct TestServer {
    pub addr: SocketAddr,
    pub handle: ServerHandle,
    stop: Option<oneshot::Sender<()>>,
    pub task: JoinHandle<std::io::Result<()>>,
}

impl TestServer {
    pub async fn start(config: ServerConfig) -> TestServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (router, handle) = termmeet_signaling::build(config);
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(termmeet_signaling::serve(
            listener,
            router,
            handle.clone(),
            async move {
                let _ = stopped.await;
            },
        ));
        TestServer {
            addr,
            handle,
            stop: Some(stop),
            task,
        }
    }

    pub async fn default() -> TestServer {
        Self::start(ServerConfig::default()).await
    }

    pub fn url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    pub async fn client(&self) -> TestClient {
        TestClient::connect(&self.url()).await
    }

    /// A client that has joined `room` as `name`; returns it with its id.
    pub async fn joined(&self, room: &str, name: &str) -> TestClient {
        let mut c = self.client().await;
        c.join(room, name).await;
        c
    }

    pub fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    /// Waits until `check` holds on the server's counts, or panics after [`SOON`].
    pub async fn wait_for(&self, what: &str, check: impl Fn(&ServerHandle) -> bool) {
        let deadline = tokio::time::Instant::now() + SOON;
        while !check(&self.handle) {
            if tokio::time::Instant::now() > deadline {
                panic!(
                    "timed out waiting for {what}; counts are {:?}",
                    self.handle.counts()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// A plain HTTP GET against the server; returns (status line, body).
pub async fn http_get(addr: SocketAddr, path: &str) -> (String, String) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await
    .unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(SOON, s.read_to_end(&mut out))
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&out).to_string();
    let status = text.lines().next().unwrap_or("").to_string();
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

pub struct TestClient {
    pub ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    pub id: String,
    pub name: String,
    pub resume_token: String,
    /// The `peers` answer to the last join.
    pub peers: Option<ServerMessage>,
}

impl TestClient {
    pub async fn connect(url: &str) -> TestClient {
        let (ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        TestClient {
            ws,
            id: String::new(),
            name: String::new(),
            resume_token: String::new(),
            peers: None,
        }
    }

    pub async fn send(&mut self, message: &ClientMessage) {
        self.send_text(&message.to_json()).await;
    }

    pub async fn send_text(&mut self, text: &str) {
        self.ws.send(Message::Text(text.into())).await.unwrap();
    }

    /// The next server message, skipping pings; panics after [`SOON`].
    pub async fn recv(&mut self) -> ServerMessage {
        let deadline = tokio::time::Instant::now() + SOON;
        loop {
            let frame = tokio::time::timeout_at(deadline, self.ws.next())
                .await
                .unwrap_or_else(|_| panic!("{}: no message within {SOON:?}", self.name))
                .unwrap_or_else(|| panic!("{}: connection ended", self.name))
                .unwrap_or_else(|e| panic!("{}: read failed: {e}", self.name));
            match frame {
                Message::Text(t) => {
                    return ServerMessage::parse(t.as_str())
                        .unwrap_or_else(|e| panic!("server sent unparsable {t}: {e}"))
                }
                Message::Ping(_) | Message::Pong(_) => continue,
                other => panic!("{}: expected a text frame, got {other:?}", self.name),
            }
        }
    }

    /// The next message, which must be an `error` with `code`; returns its text.
    pub async fn expect_error(&mut self, code: ErrorCode) -> String {
        match self.recv().await {
            ServerMessage::Error {
                code: got, message, ..
            } => {
                assert_eq!(
                    got, code,
                    "{}: wrong error code; message: {message}",
                    self.name
                );
                message
            }
            other => panic!("{}: expected error {code}, got {other:?}", self.name),
        }
    }

    /// Asserts that no text message arrives within `for_how_long`.
    pub async fn expect_silence(&mut self, for_how_long: Duration) {
        let deadline = tokio::time::Instant::now() + for_how_long;
        loop {
            match tokio::time::timeout_at(deadline, self.ws.next()).await {
                Err(_) => return,
                Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => continue,
                Ok(other) => panic!("{}: expected silence, got {other:?}", self.name),
            }
        }
    }

    /// Reads until the server closes; returns the close code.
    pub async fn expect_close(&mut self) -> CloseCode {
        let deadline = tokio::time::Instant::now() + SOON;
        loop {
            match tokio::time::timeout_at(deadline, self.ws.next()).await {
                Err(_) => panic!("{}: not closed within {SOON:?}", self.name),
                Ok(Some(Ok(Message::Close(Some(frame))))) => return frame.code,
                Ok(Some(Ok(Message::Close(None)))) => panic!("{}: close without a code", self.name),
                Ok(Some(Ok(_))) => continue,
                Ok(Some(Err(e))) => panic!("{}: read failed before a close frame: {e}", self.name),
                Ok(None) => panic!("{}: connection ended without a close frame", self.name),
            }
        }
    }

    /// Sends a `join` as `name` without waiting for the answer (for joins meant to fail).
    pub async fn send_join(
        &mut self,
        room: &str,
        name: &str,
        secret: Option<&str>,
        resume: Option<&str>,
    ) {
        self.name = name.to_string();
        self.send(&ClientMessage::Join {
            room: room.into(),
            name: name.into(),
            secret: secret.map(Into::into),
            token: None,
            resume: resume.map(Into::into),
            client: Some("termmeet-tests".into()),
            sfu: false,
        })
        .await;
    }

    pub async fn join(&mut self, room: &str, name: &str) -> ServerMessage {
        self.join_with(room, name, None, None).await
    }

    pub async fn join_with(
        &mut self,
        room: &str,
        name: &str,
        secret: Option<&str>,
        resume: Option<&str>,
    ) -> ServerMessage {
        self.send_join(room, name, secret, resume).await;
        let answer = self.recv().await;
        match &answer {
            ServerMessage::Peers {
                you, resume_token, ..
            } => {
                self.id = you.id.clone();
                self.resume_token = resume_token.clone();
            }
            other => panic!("{name}: expected peers, got {other:?}"),
        }
        self.peers = Some(answer.clone());
        answer
    }
}

/// Set in the environment of a test binary started by `run_alone`.
const ALONE: &str = "TERMMEET_TEST_ALONE";

/// Whether this process runs one test alone (started by `run_alone`).
pub fn alone() -> bool {
    std::env::var_os(ALONE).is_some()
}

/// Runs the test `name` of the module `module` (its `module_path!()`) again in a child process
/// of this test binary, alone, and panics if it failed there: for a test that measures the
/// whole process (its memory, its timing under load), which its neighbours would disturb.
pub fn run_alone(module: &str, name: &str) {
    let path = module.split_once("::").map_or(module, |(_, rest)| rest);
    let test = format!("{path}::{name}");
    let exe = std::env::current_exe().expect("the path of this test binary");
    let out = std::process::Command::new(exe)
        .args([&test, "--exact", "--nocapture", "--test-threads=1"])
        .env(ALONE, "1")
        .output()
        .expect("this test binary runs again");
    let stdout = String::from_utf8_lossy(&out.stdout);
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
    print!("{stdout}");
    assert!(
        stdout.contains("1 passed"),
        "{test} did not pass in a process of its own ({})",
        out.status
    );
}
