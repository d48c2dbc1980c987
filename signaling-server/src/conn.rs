//! One WebSocket connection: reads frames, enforces size, rate and keepalive, hands parsed
//! messages to the [`Hub`], and writes what the hub queues for it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;

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
}

static NEXT_CONN_ID: AtomicU64 = AtomicU64::new(1);

/// How long to wait for the writer to flush a close frame.
const CLOSE_FLUSH: Duration = Duration::from_secs(2);

/// Serves one upgraded connection until it closes, is dropped, or the server shuts down.
pub async fn serve(socket: WebSocket, shared: Arc<Shared>, from: std::net::IpAddr) {
    let conn_id = NEXT_CONN_ID.fetch_add(1, Ordering::Relaxed);
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

    let mut conn = Connection {
        hub: Arc::clone(&shared.hub),
        shared: Arc::clone(&shared),
        outbox: outbox.clone(),
        seat: None,
        from,
        limiter: RateLimiter::new(
            shared.config.rate_per_sec,
            shared.config.rate_burst,
            Instant::now(),
        ),
    };

    let half_queue = shared.config.outbound_queue.div_ceil(2);
    let ending = loop {
        tokio::select! {
            // Frames first: a client that sends `leave` and closes at once may make our writer
            // fail before its `leave` is read, and then it would be held for the grace period
            // as if it had dropped.
            biased;
            frame = tokio::time::timeout(shared.config.idle_timeout, stream.next()) => {
                match frame {
                    Err(_) => break Ending::Dropped("idle timeout"),
                    Ok(None) => break Ending::Dropped("connection closed"),
                    Ok(Some(Ok(message))) => {
                        if let Some(ending) = conn.on_frame(message) {
                            break ending;
                        }
                        // Backpressure: a client that sends faster than it reads its own
                        // answers is not read from until its writer catches up.
                        tokio::select! {
                            room = tokio::time::timeout(shared.config.idle_timeout, outbox.wait_for_room(half_queue)) => {
                                if !matches!(room, Ok(true)) {
                                    break Ending::Dropped("not reading its answers");
                                }
                            }
                            _ = kick.cancelled() => break Ending::Kicked,
                        }
                    }
                    Ok(Some(Err(e))) => break ending_for_error(e),
                }
            }
            _ = kick.cancelled() => break Ending::Kicked,
            _ = shutdown.cancelled() => break Ending::Close(close_code::GOING_AWAY, "server shutting down"),
            _ = &mut writer => break Ending::Dropped("write failed"),
        }
    };

    match ending {
        Ending::Close(code, reason) => {
            outbox.push(Outbound::Close(code, reason), metrics);
            let _ = tokio::time::timeout(CLOSE_FLUSH, &mut writer).await;
            // Read on until the client's own close (or CLOSE_FLUSH): a socket closed with
            // unread data in it is reset, and a reset can throw away the errors and the close
            // frame the client has not read yet, so it would never learn why.
            let _ = tokio::time::timeout(CLOSE_FLUSH, async {
                while let Some(Ok(frame)) = stream.next().await {
                    if matches!(frame, Message::Close(_)) {
                        break;
                    }
                }
            })
            .await;
        }
        Ending::Left | Ending::Dropped(_) | Ending::Kicked => {}
    }
    writer.abort();
    // Anything but `leave` may be a network blip: keep the seat for the grace period.
    if let (Some(seat), false) = (&conn.seat, matches!(ending, Ending::Left)) {
        conn.hub.detach(seat, conn_id);
    }
    if let Ending::Dropped(why) = ending {
        tracing::debug!(conn = conn_id, why, "connection ended");
    }
    metrics.connections.fetch_sub(1, Ordering::Relaxed);
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
    let _ = tokio::time::timeout(CLOSE_FLUSH, async {
        while let Some(Ok(frame)) = stream.next().await {
            if matches!(frame, Message::Close(_)) {
                break;
            }
        }
    })
    .await;
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

struct Connection {
    hub: Arc<Hub>,
    shared: Arc<Shared>,
    outbox: Outbox,
    /// Set once `join` succeeds.
    seat: Option<Seat>,
    /// The client's address.
    from: std::net::IpAddr,
    limiter: RateLimiter,
}

impl Connection {
    /// Handles one frame; `Some` ends the connection.
    fn on_frame(&mut self, message: Message) -> Option<Ending> {
        let metrics = &self.shared.metrics;
        let text = match message {
            Message::Text(text) => Some(text),
            Message::Binary(_) => None,
            // Pings are answered by the WebSocket layer; pongs only prove the client is alive,
            // which the read itself already did.
            Message::Ping(_) | Message::Pong(_) => return None,
            Message::Close(_) => return Some(Ending::Dropped("client closed")),
        };
        metrics.messages_received.fetch_add(1, Ordering::Relaxed);
        // Every frame counts against the rate, binary ones too.
        match self.limiter.check(Instant::now()) {
            Verdict::Allow => {}
            Verdict::Limited => {
                return self.reply_error(self.rate_error());
            }
            Verdict::Close => {
                self.reply_error(self.rate_error());
                return Some(Ending::Close(
                    close_code::POLICY,
                    "rate limit exceeded again and again",
                ));
            }
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
        let result = match (&self.seat, parsed) {
            (_, ClientMessage::Ping {}) => {
                self.outbox.send(&ServerMessage::Pong {}, metrics);
                Ok(())
            }
            (None, join @ ClientMessage::Join { .. }) => {
                match self.hub.join(&self.outbox, join, Some(self.from)) {
                    Ok(seat) => {
                        self.seat = Some(seat);
                        Ok(())
                    }
                    Err(e) if e.code == ErrorCode::BadSecret => {
                        self.reply_error(e.answering(kind));
                        return Some(Ending::Close(close_code::POLICY, "bad secret"));
                    }
                    Err(e) if matches!(e.code, ErrorCode::BadToken | ErrorCode::TokenExpired) => {
                        let reason = if e.code == ErrorCode::BadToken {
                            "bad token"
                        } else {
                            "token expired"
                        };
                        self.reply_error(e.answering(kind));
                        return Some(Ending::Close(close_code::POLICY, reason));
                    }
                    Err(e) if e.code == ErrorCode::TooManyConnections => {
                        self.reply_error(e.answering(kind));
                        return Some(Ending::Close(
                            close_code::POLICY,
                            "too many new rooms from this address",
                        ));
                    }
                    Err(e) => Err(e),
                }
            }
            (None, _) => Err(ProtocolError::new(
                ErrorCode::NotJoined,
                "join a room first: send {\"type\":\"join\",\"room\":…,\"name\":…}",
            )),
            (Some(seat), ClientMessage::Leave {}) => {
                self.hub.leave(seat);
                return Some(Ending::Left);
            }
            (Some(seat), message) => self.hub.handle(seat, message),
        };
        match result {
            Ok(()) => None,
            Err(e) => self.reply_error(e.answering(kind)),
        }
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
