//! The HTTP side: routes, WebSocket upgrade with the protocol's size limits, and graceful
//! shutdown.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::State;
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::serve::ListenerExt;
use axum::Router;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::ServerConfig;
use crate::hub::Hub;
use crate::metrics::Metrics;
use crate::protocol::MAX_FRAME_BYTES;
use crate::shared::Shared;

/// The header every `/healthz` answer carries, so a client can tell a termmeet server from
/// another program on the same port.
pub const SERVER_HEADER: &str = "x-termmeet";
const SERVER_ID: &str = concat!("signaling/", env!("CARGO_PKG_VERSION"));

/// A handle on a running server's state, for tests and embedding.
#[derive(Clone)]
pub struct ServerHandle {
    shared: Arc<Shared>,
}

impl ServerHandle {
    /// Rooms open and participants in them.
    pub fn counts(&self) -> (usize, usize) {
        self.shared.hub.counts()
    }

    /// Who is in `room`, its hand queue and chat history length.
    pub fn room(&self, room: &str) -> Option<crate::hub::RoomSummary> {
        self.shared.hub.room_summary(room)
    }

    /// Resume tokens the hub holds (one per participant).
    pub fn tokens_held(&self) -> usize {
        self.shared.hub.tokens_held()
    }

    /// The certificate it serves with, if it serves TLS.
    pub fn tls(&self) -> Option<&crate::tls::ServerTls> {
        self.shared.config.tls.as_ref()
    }

    /// The counters behind `/metrics`.
    pub fn metrics(&self) -> &Metrics {
        &self.shared.metrics
    }

    /// A router with `/metrics` alone, for the separate metrics address.
    pub fn metrics_router(&self) -> Router {
        Router::new()
            .route("/metrics", get(metrics_page))
            .with_state(Arc::clone(&self.shared))
    }
}

/// Builds the server's state and router; [`run`] serves it.
pub fn build(config: ServerConfig) -> (Router, ServerHandle) {
    let config = Arc::new(config);
    let metrics = Arc::new(Metrics::default());
    let hub = Hub::new(Arc::clone(&config), Arc::clone(&metrics));
    if !config.sfu.is_empty() && tokio::runtime::Handle::try_current().is_ok() {
        crate::sfu::start(Arc::clone(&hub), config.sfu.clone());
    }
    let cluster = match (&config.redis, tokio::runtime::Handle::try_current()) {
        (Some(url), Ok(_)) => match crate::cluster::Cluster::start(
            url,
            Arc::clone(&hub),
            Arc::clone(&config),
            Arc::clone(&metrics),
        ) {
            Ok(cluster) => Some(cluster),
            Err(e) => {
                tracing::error!(error = %e, "cannot use this Redis; serving rooms alone");
                None
            }
        },
        _ => None,
    };
    let shared = Arc::new(Shared {
        hub,
        config,
        metrics,
        cluster,
        shutdown: std::sync::Mutex::new(CancellationToken::new()),
        tasks: TaskTracker::new(),
        per_ip: std::sync::Mutex::new(std::collections::HashMap::new()),
    });
    let router = Router::new()
        .route("/ws", get(ws_upgrade))
        .route("/healthz", get(health))
        .route("/", get(index_page))
        .route("/app.js", get(app_script))
        .with_state(Arc::clone(&shared));
    (router, ServerHandle { shared })
}

/// Serves the signaling server on `listener` until `shutdown` completes, then closes every
/// WebSocket with 1001 and returns.
pub async fn run(
    listener: TcpListener,
    config: ServerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (router, handle) = build(config);
    serve(listener, router, handle, shutdown).await
}

/// A signaling server running inside this process (for `termmeet join`'s embedded server,
/// `termmeet demo`, `bench-call` and tests). It serves until the process ends.
#[derive(Clone)]
pub struct EmbeddedServer {
    /// Where it listens.
    pub addr: std::net::SocketAddr,
    /// Its state.
    pub handle: ServerHandle,
}

impl EmbeddedServer {
    /// The WebSocket URL clients on this machine join with.
    pub fn url(&self) -> String {
        let scheme = if self.handle.tls().is_some() {
            "wss"
        } else {
            "ws"
        };
        let port = self.addr.port();
        if self.addr.ip().is_unspecified() {
            format!("{scheme}://127.0.0.1:{port}/ws")
        } else {
            format!("{scheme}://{}/ws", self.addr)
        }
    }
}

/// Starts a server on `listener` inside this process, in the background.
pub fn spawn(listener: TcpListener, config: ServerConfig) -> std::io::Result<EmbeddedServer> {
    let addr = listener.local_addr()?;
    let (router, handle) = build(config);
    tokio::spawn(serve(
        listener,
        router,
        handle.clone(),
        std::future::pending(),
    ));
    Ok(EmbeddedServer { addr, handle })
}

/// Starts a server inside this process on a free loopback port.
pub async fn spawn_loopback(config: ServerConfig) -> std::io::Result<EmbeddedServer> {
    spawn(TcpListener::bind("127.0.0.1:0").await?, config)
}

/// Like [`run`], with the state built beforehand by [`build`] so the caller keeps a handle.
/// It may be called again after it returns, on a new listener: the rooms, and the seats of
/// participants within their grace period, are still there, so clients that reconnect resume
/// (as after a network outage between them and the server).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    handle: ServerHandle,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let shared = handle.shared;
    let tls = shared.config.tls.clone();
    if let Ok(addr) = listener.local_addr() {
        let scheme = if tls.is_some() { "wss" } else { "ws" };
        tracing::info!(%addr, "termmeet signaling server listening on {scheme}://{addr}/ws");
    }
    let token = CancellationToken::new();
    *shared.shutdown.lock().unwrap_or_else(|p| p.into_inner()) = token.clone();
    shared.tasks.reopen();
    let stop = token.clone();
    let stopped = async move {
        shutdown.await;
        tracing::info!("shutting down: closing every connection with 1001");
        stop.cancel();
    };
    let app = router.into_make_service_with_connect_info::<std::net::SocketAddr>();
    let served = match tls {
        // `tap_io` gives the TLS listener's connections the peer address `ConnectInfo` needs.
        Some(tls) => {
            let listener = crate::tls::TlsListener::new(listener, &tls)?.tap_io(|_| {});
            axum::serve(listener, app)
                .with_graceful_shutdown(stopped)
                .await
        }
        None => {
            axum::serve(listener, app)
                .with_graceful_shutdown(stopped)
                .await
        }
    };
    // WebSocket tasks outlive hyper's view of the connection: wait for their close frames.
    token.cancel();
    shared.tasks.close();
    let _ = tokio::time::timeout(Duration::from_secs(5), shared.tasks.wait()).await;
    served
}

/// Whether a browser's `Origin` may open `/ws`: the server's own (same host and port as the
/// request's `Host`), one of `--allowed-origin`, or none at all (not a browser).
pub fn origin_allowed(origin: Option<&str>, host: Option<&str>, allowed: &[String]) -> bool {
    let Some(origin) = origin else {
        return true;
    };
    if allowed.iter().any(|a| a.trim_end_matches('/') == origin) {
        return true;
    }
    let authority = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"));
    matches!((authority, host), (Some(a), Some(h)) if a.eq_ignore_ascii_case(h))
}

async fn ws_upgrade(
    State(shared): State<Arc<Shared>>,
    axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<std::net::SocketAddr>,
    headers: axum::http::HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let text = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    if !origin_allowed(
        text(header::ORIGIN),
        text(header::HOST),
        &shared.config.allowed_origins,
    ) {
        tracing::info!(%peer, origin = ?text(header::ORIGIN), "refused a foreign origin");
        return (
            axum::http::StatusCode::FORBIDDEN,
            "this page's origin may not use this server (see --allowed-origin)",
        )
            .into_response();
    }
    let slot = shared.take_ip_slot(peer.ip());
    let tracked = shared.tasks.token();
    ws.max_frame_size(MAX_FRAME_BYTES)
        .max_message_size(MAX_FRAME_BYTES)
        // tungstenite reads into a 128 KiB buffer by default, which alone would be twice the
        // memory budget of a connection; frames are small, so a small buffer costs nothing.
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0)
        .max_write_buffer_size(4 * MAX_FRAME_BYTES)
        .on_upgrade(move |socket| async move {
            let _tracked = tracked;
            match slot {
                Some(_slot) => crate::conn::serve(socket, shared, peer.ip()).await,
                None => crate::conn::refuse_too_many(socket, shared).await,
            }
        })
}

/// `/healthz`: 200 "ok", or 503 while the cluster's Redis is unreachable (so a load
/// balancer sends new participants elsewhere; the rooms here go on).
async fn health(State(shared): State<Arc<Shared>>) -> Response {
    match &shared.cluster {
        Some(cluster) if !cluster.healthy() => (
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            [(SERVER_HEADER, SERVER_ID)],
            "redis unreachable: serving the rooms open here only",
        )
            .into_response(),
        _ => ([(SERVER_HEADER, SERVER_ID)], "ok").into_response(),
    }
}

async fn metrics_page(State(shared): State<Arc<Shared>>) -> impl IntoResponse {
    let (rooms, participants) = shared.hub.counts();
    let mut page = shared.metrics.render(rooms, participants);
    if let Some(cluster) = &shared.cluster {
        page.push_str(&cluster.render_metrics());
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], page)
}

async fn index_page() -> Html<&'static str> {
    Html(include_str!("web/index.html"))
}

/// The browser client's script, embedded in the binary: no build step. Its SFU mode is a
/// file of its own, served as part of the same script.
async fn app_script() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        concat!(include_str!("web/app.js"), include_str!("web/sfu.js")),
    )
}
