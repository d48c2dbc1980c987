//! One WebSocket connection: reads frames, enforces size, rate and keepalive, hands parsed
//! messages to the [`Hub`], and writes what the hub queues for it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures_util::stream::SplitStream;
use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::hub::{Hub, Outbound, Outbox, Seat};
use crate::protocol::{
    parse_client_message, ClientMessage, ErrorCode, ProtocolError, ServerMessage,
};
use crate::ratelimit::{RateLimiter, Verdict};
use crate::shared::Shared;

/// WebSocket close codes used here (RFC 6455).
pub mod close_code {
    /// The server is shutting down.
    pub const GOING_AWAY: u16 = 1001;
    /// Text that is not UTF-8.
    pub const INVALID_PAYLOAD: u16 = 1007;
    /// Bad secret, or rate limit broken again and again.
    pub const POLICY: u16 = 1008;
    /// A frame or message over 64 KiB.
    pub const TOO_BIG: u16 = 1009;
    /// The room's server (in a cluster) did not answer.
    pub const TRY_AGAIN_LATER: u16 = 1013;
}

static NEXT_CONN_ID: AtomicU64 = AtomicU64::new(1);

/// A connection id not used before in this process.
pub(crate) fn next_conn_id() -> u64 {
    NEXT_CONN_ID.fetch_add(1, Ordering::Relaxed)
}

/// How long to wait for the writer to flush a close frame.
const CLOSE_FLUSH: Duration = Duration::from_secs(2);

/// Serves one upgraded connection until it closes, is dropped, or the server shuts down.
pub async fn serve(socket: WebSocket, shared: Arc<Shared>, from: std::net::IpAddr) {
    let conn_id = next_conn_id();
    let metrics = &shared.metrics;
    metrics.connections.fetch_add(1, Ordering::Relaxed);
    metrics.connections_total.fetch_add(1, Ordering::Relaxed);

    let (outbox, rx, kick) = Outbox::new(shared.config.outbound_queue, conn_id);
    let shutdown = shared
        .shutdown
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let (sink, mut stream) = socket.split();
    let mut writer = tokio::spawn(write_loop(sink, rx, shared.config.keepalive));
    let mut conn = Connection::new(&shared, outbox.clone(), from, conn_id);

    let ending = conn
        .read_until_ending(&mut stream, &kick, &shutdown, &mut writer)
        .await;
    if let Ending::Close(code, reason) = ending {
        outbox.push(Outbound::Close(code, reason), metrics);
        let _ = tokio::time::timeout(CLOSE_FLUSH, &mut writer).await;
        // Read on until the client's own close (or CLOSE_FLUSH): a socket closed with
        // unread data in it is reset, and a reset can throw away the errors and the close
        // frame the client has not read yet, so it would never learn why.
        read_until_close(&mut stream).await;
    }
    writer.abort();
    // Anything but `leave` may be a network blip: keep the seat for the grace period.
    let left = matches!(ending, Ending::Left);
    match (&conn.seat, &conn.owner, &shared.cluster) {
        (Some(_), Some(owner), Some(cluster)) => cluster.edge_ended(owner, conn_id, left),
        (Some(seat), _, _) if !left => conn.hub.detach(seat, conn_id),
        _ => {}
    }
    if let Ending::Dropped(why) = ending {
        tracing::debug!(conn = conn_id, why, "connection ended");
    }
    metrics.connections.fetch_sub(1, Ordering::Relaxed);
}

/// Reads and drops frames until the client's close frame, for at most [`CLOSE_FLUSH`].
async fn read_until_close(stream: &mut SplitStream<WebSocket>) {
    let _ = tokio::time::timeout(CLOSE_FLUSH, async {
        while let Some(Ok(frame)) = stream.next().await {
            if matches!(frame, Message::Close(_)) {
                break;
            }
        }
    })
    .await;
}

/// Tells a connection over its address's limit why, and closes it with 1008.
pub async fn refuse_too_many(socket: WebSocket, shared: Arc<Shared>) {
    let e = ProtocolError::new(
        ErrorCode::TooManyConnections,
        format!(
            "this address already has {} connections open; close some and try again",
            shared.config.max_conns_per_ip
        ),
    );
    shared.metrics.count_error(e.code);
    let (mut sink, mut stream) = socket.split();
    let _ = sink
        .send(Message::Text(e.to_message().to_json().into()))
        .await;
    let _ = sink
        .send(Message::Close(Some(CloseFrame {
            code: close_code::POLICY,
            reason: "too many connections from this address".into(),
        })))
        .await;
    read_until_close(&mut stream).await;
}

/// Why a connection is ending.
#[derive(Clone, Copy, Debug)]
enum Ending {
    /// The participant sent `leave`: already removed from the room.
    Left,
    /// Close with this code and reason.
    Close(u16, &'static str),
    /// The peer went away or the socket failed.
    Dropped(&'static str),
    /// Its outgoing queue filled: it is not reading.
    Kicked,
}

/// How a failed read ends the connection: too big and not UTF-8 get their close codes.
fn ending_for_error(e: axum::Error) -> Ending {
    use tokio_tungstenite::tungstenite::Error as WsError;
    let inner = e.into_inner();
    match inner.downcast_ref::<WsError>() {
        Some(WsError::Capacity(_)) => {
            Ending::Close(close_code::TOO_BIG, "frame or message over 64 KiB")
        }
        Some(WsError::Utf8(_)) => {
            Ending::Close(close_code::INVALID_PAYLOAD, "text frame is not UTF-8")
        }
        _ => Ending::Dropped("read error"),
    }
}

/// The close reason for a refused `join` that also ends the connection (1008): guessing
/// secrets or tokens, or opening rooms without end, gets no second try on the same socket.
fn policy_close_reason(code: ErrorCode) -> Option<&'static str> {
    match code {
        ErrorCode::BadSecret => Some("bad secret"),
        ErrorCode::BadToken => Some("bad token"),
        ErrorCode::TokenExpired => Some("token expired"),
        ErrorCode::TooManyConnections => Some("too many new rooms from this address"),
        _ => None,
    }
}

/// One connection's reading side: who it is, where it sits once joined, and its rate.
struct Connection {
    /// The rooms.
    hub: Arc<Hub>,
    /// Settings and counters.
    shared: Arc<Shared>,
    /// This connection's writer queue.
    outbox: Outbox,
    /// Set once `join` succeeds.
    seat: Option<Seat>,
    /// The instance that owns the room, when it is not this one (with `--redis`).
    owner: Option<String>,
    /// This connection's id.
    conn_id: u64,
    /// The client's address.
    from: std::net::IpAddr,
    /// Frames allowed a second, with strikes for going over.
    limiter: RateLimiter,
}

impl Connection {
    /// A connection not yet joined, its rate limit starting full.
    fn new(
        shared: &Arc<Shared>,
        outbox: Outbox,
        from: std::net::IpAddr,
        conn_id: u64,
    ) -> Connection {
        Connection {
            hub: Arc::clone(&shared.hub),
            shared: Arc::clone(shared),
            outbox,
            seat: None,
            owner: None,
            conn_id,
            from,
            limiter: RateLimiter::new(
                shared.config.rate_per_sec,
                shared.config.rate_burst,
                Instant::now(),
            ),
        }
    }

    /// Reads and handles frames until something ends the connection: the client, its idle
    /// timeout, a full queue, the server's shutdown or a failed write.
    async fn read_until_ending(
        &mut self,
        stream: &mut SplitStream<WebSocket>,
        kick: &CancellationToken,
        shutdown: &CancellationToken,
        writer: &mut JoinHandle<()>,
    ) -> Ending {
        let config = Arc::clone(&self.shared.config);
        let half_queue = config.outbound_queue.div_ceil(2);
        loop {
            tokio::select! {
                // Frames first: a client that sends `leave` and closes at once may make our
                // writer fail before its `leave` is read, and then it would be held for the
                // grace period as if it had dropped.
                biased;
                frame = tokio::time::timeout(config.idle_timeout, stream.next()) => {
                    match frame {
                        Err(_) => return Ending::Dropped("idle timeout"),
                        Ok(None) => return Ending::Dropped("connection closed"),
                        Ok(Some(Ok(message))) => {
                            if let Some(ending) = self.on_frame(message).await {
                                return ending;
                            }
                            // Backpressure: a client that sends faster than it reads its own
                            // answers is not read from until its writer catches up.
                            tokio::select! {
                                room = tokio::time::timeout(config.idle_timeout, self.outbox.wait_for_room(half_queue)) => {
                                    if !matches!(room, Ok(true)) {
                                        return Ending::Dropped("not reading its answers");
                                    }
                                }
                                _ = kick.cancelled() => return Ending::Kicked,
                            }
                        }
                        Ok(Some(Err(e))) => return ending_for_error(e),
                    }
                }
                _ = kick.cancelled() => return Ending::Kicked,
                _ = shutdown.cancelled() => return Ending::Close(close_code::GOING_AWAY, "server shutting down"),
                _ = &mut *writer => return Ending::Dropped("write failed"),
            }
        }
    }

    /// Handles one frame; `Some` ends the connection.
    async fn on_frame(&mut self, message: Message) -> Option<Ending> {
        let text = match message {
            Message::Text(text) => Some(text),
            Message::Binary(_) => None,
            // Pings are answered by the WebSocket layer; pongs only prove the client is alive,
            // which the read itself already did.
            Message::Ping(_) | Message::Pong(_) => return None,
            Message::Close(_) => return Some(Ending::Dropped("client closed")),
        };
        self.shared
            .metrics
            .messages_received
            .fetch_add(1, Ordering::Relaxed);
        // Every frame counts against the rate, binary ones too.
        if let Err(ending) = self.check_rate() {
            return ending;
        }
        let Some(text) = text else {
            return self.reply_error(ProtocolError::new(
                ErrorCode::BadFrame,
                "binary frames are not part of the protocol; send JSON text frames",
            ));
        };
        let parsed = match parse_client_message(text.as_str()) {
            Ok(m) => m,
            Err(e) => return self.reply_error(e),
        };
        let kind = parsed.type_name();
        tracing::trace!(kind, "message");
        if let (Some(cluster), None, ClientMessage::Join { .. }) =
            (&self.shared.cluster, &self.seat, &parsed)
        {
            let cluster = Arc::clone(cluster);
            return self
                .on_cluster_join(&cluster, text.as_str(), parsed, kind)
                .await;
        }
        match self.dispatch(parsed, kind, text.as_str()) {
            Ok(ending) => ending,
            Err(e) => self.reply_error(e.answering(kind)),
        }
    }

    /// Counts a frame against the rate limit. `Err` means the frame is not handled: it was
    /// answered with `rate-limited`, and the connection ends if the error says so.
    fn check_rate(&mut self) -> Result<(), Option<Ending>> {
        match self.limiter.check(Instant::now()) {
            Verdict::Allow => Ok(()),
            Verdict::Limited => Err(self.reply_error(self.rate_error())),
            Verdict::Close => {
                self.reply_error(self.rate_error());
                Err(Some(Ending::Close(
                    close_code::POLICY,
                    "rate limit exceeded again and again",
                )))
            }
        }
    }

    /// Acts on a parsed message; `Ok(Some)` ends the connection, `Err` is answered.
    fn dispatch(
        &mut self,
        parsed: ClientMessage,
        kind: &str,
        text: &str,
    ) -> Result<Option<Ending>, ProtocolError> {
        if let (Some(_), Some(owner), Some(cluster)) =
            (&self.seat, &self.owner, &self.shared.cluster)
        {
            // The room is owned elsewhere: its owner applies the rules and answers.
            return Ok(match parsed {
                ClientMessage::Ping {} => {
                    self.outbox
                        .send(&ServerMessage::Pong {}, &self.shared.metrics);
                    None
                }
                ClientMessage::Leave {} => {
                    cluster.forward(owner, self.conn_id, text, true);
                    Some(Ending::Left)
                }
                _ => {
                    cluster.forward(owner, self.conn_id, text, false);
                    None
                }
            });
        }
        match (&self.seat, parsed) {
            (_, ClientMessage::Ping {}) => {
                self.outbox
                    .send(&ServerMessage::Pong {}, &self.shared.metrics);
                Ok(None)
            }
            (None, join @ ClientMessage::Join { .. }) => self.on_join(join, kind),
            (None, _) => Err(ProtocolError::new(
                ErrorCode::NotJoined,
                "join a room first: send {\"type\":\"join\",\"room\":…,\"name\":…}",
            )),
            (Some(seat), ClientMessage::Leave {}) => {
                self.hub.leave(seat);
                Ok(Some(Ending::Left))
            }
            (Some(seat), message) => self.hub.handle(seat, message).map(|()| None),
        }
    }

    /// `join`: seated, or refused; a bad secret or token and too many new rooms also close
    /// the connection, after the error.
    fn on_join(
        &mut self,
        join: ClientMessage,
        kind: &str,
    ) -> Result<Option<Ending>, ProtocolError> {
        match self.hub.join(&self.outbox, join, Some(self.from)) {
            Ok(seat) => {
                self.seat = Some(seat);
                Ok(None)
            }
            Err(e) => match policy_close_reason(e.code) {
                Some(reason) => {
                    self.reply_error(e.answering(kind));
                    Ok(Some(Ending::Close(close_code::POLICY, reason)))
                }
                None => Err(e),
            },
        }
    }

    /// `join` with `--redis`: seated in whichever instance owns the room.
    async fn on_cluster_join(
        &mut self,
        cluster: &Arc<crate::cluster::Cluster>,
        text: &str,
        join: ClientMessage,
        kind: &str,
    ) -> Option<Ending> {
        use crate::cluster::{JoinFailure, Joined};
        match cluster
            .join(self.conn_id, &self.outbox, text, join, self.from)
            .await
        {
            Ok(Joined::Here(seat)) => self.seat = Some(seat),
            Ok(Joined::There(seat, owner)) => {
                self.seat = Some(seat);
                self.owner = Some(owner);
            }
            Err(JoinFailure::Refused(e)) => {
                let close = policy_close_reason(e.code);
                self.reply_error(e.answering(kind));
                if let Some(reason) = close {
                    return Some(Ending::Close(close_code::POLICY, reason));
                }
            }
            Err(JoinFailure::Unavailable) => {
                return Some(Ending::Close(
                    close_code::TRY_AGAIN_LATER,
                    "the room's server did not answer; try again",
                ))
            }
        }
        None
    }

    fn rate_error(&self) -> ProtocolError {
        ProtocolError::new(
            ErrorCode::RateLimited,
            format!(
                "more than {} messages a second; slow down (the third time within 10 s closes the connection)",
                self.shared.config.rate_per_sec
            ),
        )
    }

    fn reply_error(&self, e: ProtocolError) -> Option<Ending> {
        let metrics = &self.shared.metrics;
        metrics.count_error(e.code);
        tracing::info!(code = %e.code, message = %e.message, "client error");
        self.outbox.send(&e.to_message(), metrics);
        None
    }
}

/// Writes queued frames and keepalive pings until a close frame or a write error.
async fn write_loop(
    mut sink: futures_util::stream::SplitSink<WebSocket, Message>,
    mut rx: mpsc::Receiver<Outbound>,
    keepalive: Duration,
) {
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + keepalive, keepalive);
    loop {
        let frame = tokio::select! {
            frame = rx.recv() => match frame {
                Some(frame) => frame,
                None => return,
            },
            _ = ping.tick() => {
                if sink.send(Message::Ping(Default::default())).await.is_err() {
                    return;
                }
                continue;
            }
        };
        match frame {
            Outbound::Text(text) => {
                if sink.send(Message::Text(text)).await.is_err() {
                    return;
                }
            }
            Outbound::Close(code, reason) => {
                let _ = sink
                    .send(Message::Close(Some(CloseFrame {
                        code,
                        reason: reason.into(),
                    })))
                    .await;
                let _ = sink.close().await;
                return;
            }
        }
    }
}
