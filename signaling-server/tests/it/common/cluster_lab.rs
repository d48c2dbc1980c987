//! A cluster lab: a `redis-server` of the test's own on a private Unix socket, instances in
//! this process or as processes of their own (to be killed), and their health and metrics.

use std::future::IntoFuture;
use std::time::Duration;

use super::{http_get, TestServer, SOON};
use termmeet_signaling::ServerConfig;

/// A `redis-server` of the test's own, on a Unix socket in a private directory; stopped
/// when dropped, even on failure.
pub struct Redis {
    child: std::process::Child,
    pub dir: std::path::PathBuf,
}

/// Starts `redis-server` on `dir/redis.sock` and waits for the socket.
fn spawn_redis(dir: &std::path::Path) -> std::process::Child {
    let socket = dir.join("redis.sock");
    let _ = std::fs::remove_file(&socket);
    let child = std::process::Command::new("redis-server")
        .args(["--port", "0", "--save", "", "--appendonly", "no"])
        .arg("--unixsocket")
        .arg(&socket)
        .arg("--dir")
        .arg(dir)
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("redis-server runs (scripts/setup.sh test installs it)");
    let deadline = std::time::Instant::now() + SOON;
    while !socket.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "redis-server did not open its socket"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

impl Redis {
    /// Starts one and waits until it answers.
    pub fn start() -> Redis {
        let dir = std::env::temp_dir().join(format!(
            "termmeet-redis-{}-{}",
            std::process::id(),
            lab_number()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let child = spawn_redis(&dir);
        Redis { child, dir }
    }

    /// Stops it (SIGKILL: everything it held is gone).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts it again, empty, on the same socket.
    pub fn start_again(&mut self) {
        self.child = spawn_redis(&self.dir);
    }

    /// Its URL for `--redis`.
    pub fn url(&self) -> String {
        format!("unix://{}", self.dir.join("redis.sock").display())
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A number not used before in this process, for private directories.
fn lab_number() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// Three instances on one Redis, each healthy (Redis reached, heartbeat written).
pub async fn three(redis: &Redis, config: ServerConfig) -> [TestServer; 3] {
    let config = ServerConfig {
        redis: Some(redis.url()),
        ..config
    };
    let servers = [
        TestServer::start(config.clone()).await,
        TestServer::start(config.clone()).await,
        TestServer::start(config).await,
    ];
    for s in &servers {
        wait_health(s.addr, "200").await;
    }
    servers
}

/// Serves an instance's `/metrics` on a port of its own; returns where.
pub async fn metrics_page(handle: &termmeet_signaling::ServerHandle) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(axum::serve(listener, handle.metrics_router()).into_future());
    addr
}

/// An instance in a process of its own, to be killed with SIGKILL; killed when dropped.
pub struct Instance {
    pub child: std::process::Child,
    pub addr: std::net::SocketAddr,
}

impl Instance {
    pub async fn start(redis: &Redis) -> Instance {
        let addr = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_termmeet-signaling"))
            .arg("--listen")
            .arg(addr.to_string())
            .arg("--redis")
            .arg(redis.url())
            .arg("--log-level")
            .arg("warn")
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("the server binary runs");
        let instance = Instance { child, addr };
        wait_health(addr, "200").await;
        instance
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until `/healthz` at `addr` answers with the status `code` (a refused connection is
/// no answer yet), or panics after [`SOON`].
pub async fn wait_health(addr: std::net::SocketAddr, code: &str) {
    let deadline = tokio::time::Instant::now() + SOON;
    loop {
        let status = match tokio::net::TcpStream::connect(addr).await {
            Ok(_) => http_get(addr, "/healthz").await.0,
            Err(e) => e.to_string(),
        };
        if status.contains(code) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "/healthz at {addr}: {status}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
