//! The signaling client: one WebSocket to the server, kept up through drops.
//!
//! It reconnects after abnormal closes with exponential backoff (1 s doubling to 30 s, with
//! jitter), queues up to 100 outgoing messages while down (dropping the oldest), resumes with
//! the server's resume token so a short outage does not tear down media, and treats 60 s of
//! silence (the server pings every 25 s) as a dead connection. It knows nothing of WebRTC.
//!
//! The decisions ([`Backoff`], [`OutgoingQueue`], [`reconnect_after`]) are plain values with
//! time passed in, so tests drive them without sleeping; [`SignalingClient`] runs them.
//! One connection's steps (join, read, send, leave) are in `session`.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use termmeet_signaling::protocol::{ClientMessage, ServerMessage};
use tokio::sync::mpsc;

/// Most messages kept while disconnected.
pub const QUEUE_LIMIT: usize = 100;
/// First reconnect delay.
pub const BACKOFF_START: Duration = Duration::from_secs(1);
/// Longest reconnect delay.
pub const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// How long one connection attempt may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Silence after which the connection counts as dead.
pub const SILENCE_LIMIT: Duration = Duration::from_secs(60);

/// Exponential backoff with jitter.
#[derive(Clone, Debug, Default)]
pub struct Backoff {
    attempt: u32,
}

impl Backoff {
    /// The delay before the next attempt; `jitter` in `0.0..1.0` spreads it by ±20%.
    pub fn next_delay(&mut self, jitter: f64) -> Duration {
        let base = BACKOFF_START
            .saturating_mul(1u32 << self.attempt.min(5))
            .min(BACKOFF_MAX);
        self.attempt = self.attempt.saturating_add(1);
        base.mul_f64(0.8 + 0.4 * jitter.clamp(0.0, 1.0))
            .min(BACKOFF_MAX)
    }

    /// Back to the first delay (after a successful connection).
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

/// Outgoing messages waiting for a connection.
#[derive(Debug, Default)]
pub struct OutgoingQueue {
    queue: VecDeque<ClientMessage>,
    /// Messages dropped because the queue was full.
    pub dropped: u64,
}

impl OutgoingQueue {
    /// Queues a message, dropping the oldest beyond [`QUEUE_LIMIT`].
    pub fn push(&mut self, message: ClientMessage) {
        if self.queue.len() >= QUEUE_LIMIT {
            self.queue.pop_front();
            self.dropped += 1;
            tracing::warn!(
                "signaling is down and {QUEUE_LIMIT} messages are queued; dropping the oldest"
            );
        }
        self.queue.push_back(message);
    }

    /// Takes everything queued, oldest first.
    pub fn drain(&mut self) -> Vec<ClientMessage> {
        self.queue.drain(..).collect()
    }

    /// Messages waiting.
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }
}

/// Chat messages written to a connection but not yet seen back from the server. The protocol
/// has no acknowledgements: a message written in the moment before a connection turns out to
/// be dead is gone. After a resume, those the room's history lacks are sent again; one the
/// server did take is in the history, so nothing is sent twice.
#[derive(Debug, Default)]
pub struct UnconfirmedChats {
    texts: VecDeque<String>,
}

impl UnconfirmedChats {
    /// We wrote this chat text to the server. It is kept as the server will keep it (controls
    /// stripped, trimmed); text the server will refuse is not kept.
    pub fn sent(&mut self, text: &str) {
        let text = termmeet_signaling::sanitize::sanitize_chat_text(text);
        let len = text.chars().count();
        if len == 0 || len > termmeet_signaling::protocol::MAX_CHAT_CHARS {
            return;
        }
        if self.texts.len() >= QUEUE_LIMIT {
            self.texts.pop_front();
        }
        self.texts.push_back(text);
    }

    /// The server relayed one of our messages back: it has it.
    pub fn confirmed(&mut self, text: &str) {
        if let Some(i) = self.texts.iter().position(|t| t == text) {
            self.texts.remove(i);
        }
    }

    /// Joined again (`me` is our id now, `old` the one before): the messages the room's
    /// history does not have, to send again, oldest first. Forgets them all.
    pub fn lost(
        &mut self,
        history: &[termmeet_signaling::protocol::ChatMessage],
        me: &str,
        old: Option<&str>,
    ) -> Vec<String> {
        let ours = |m: &&termmeet_signaling::protocol::ChatMessage| {
            m.from == me || Some(m.from.as_str()) == old
        };
        let mut seen: Vec<&str> = history
            .iter()
            .filter(ours)
            .map(|m| m.text.as_str())
            .collect();
        self.texts
            .drain(..)
            .filter(|t| match seen.iter().position(|s| s == t) {
                Some(i) => {
                    seen.remove(i);
                    false
                }
                None => true,
            })
            .collect()
    }

    /// Messages not yet confirmed.
    pub fn len(&self) -> usize {
        self.texts.len()
    }

    /// Whether every message sent was confirmed.
    pub fn is_empty(&self) -> bool {
        self.texts.is_empty()
    }
}

/// How a connection ended, as far as reconnecting goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ended {
    /// The server sent a close frame with this code.
    Closed(u16),
    /// The connection failed or went silent without a close frame.
    Lost,
    /// We left.
    Left,
}

/// Whether to reconnect after a connection ended this way: yes after abnormal ends and a
/// server going away (it restarts); no after a normal close, our own leave, or a policy close
/// (bad secret, rate limit), which would only happen again.
pub fn reconnect_after(ended: &Ended) -> bool {
    match ended {
        Ended::Left => false,
        Ended::Lost => true,
        Ended::Closed(code) => !matches!(*code, 1000 | 1008 | 1009 | 1007),
    }
}

/// Where the client stands, for the status bar.
#[derive(Clone, Debug, PartialEq)]
pub enum SignalingEvent {
    /// Connected and joined (`resumed` when the server took our session back).
    Connected {
        /// Whether our earlier session was resumed.
        resumed: bool,
    },
    /// A message from the server.
    Message(ServerMessage),
    /// The connection dropped; the next attempt is in `retry_in`.
    Reconnecting {
        /// Delay before the next attempt.
        retry_in: Duration,
        /// What happened.
        reason: String,
    },
    /// The client gave up (bad secret, room full, left): it will not reconnect.
    Stopped {
        /// Why.
        reason: String,
    },
}

/// What to join with.
#[derive(Clone, Debug, Default)]
pub struct JoinParams {
    /// `ws://host:port/ws`; several, separated by commas, for the instances of one cluster
    /// (each reconnect tries the next).
    pub url: String,
    /// Room name.
    pub room: String,
    /// Display name.
    pub name: String,
    /// Room secret.
    pub secret: Option<String>,
    /// Join token, for a server that needs one.
    pub token: Option<String>,
    /// How to trust a `wss://` server.
    pub tls: crate::tls::TlsOptions,
    /// Keep media end to end: we do not take the SFU, so the room stays a mesh while we are
    /// in it.
    pub end_to_end: bool,
}

/// The handle for sending; events arrive on the receiver returned with it.
#[derive(Clone)]
pub struct SignalingClient {
    tx: mpsc::UnboundedSender<Command>,
}

enum Command {
    Send(ClientMessage),
    Leave,
}

impl SignalingClient {
    /// Starts connecting; returns the handle and the event stream.
    pub fn start(params: JoinParams) -> (SignalingClient, mpsc::UnboundedReceiver<SignalingEvent>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        tokio::spawn(drive(params, rx, events_tx));
        (SignalingClient { tx }, events_rx)
    }

    /// Sends a message now, or when the connection is back.
    pub fn send(&self, message: ClientMessage) {
        let _ = self.tx.send(Command::Send(message));
    }

    /// Sends `leave` and closes for good.
    pub fn leave(&self) {
        let _ = self.tx.send(Command::Leave);
    }
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The client's task: connects, runs a session, and after an abnormal end waits out the
/// backoff and connects again, until we leave or a reconnect would not help.
async fn drive(
    params: JoinParams,
    mut commands: mpsc::UnboundedReceiver<Command>,
    events: mpsc::UnboundedSender<SignalingEvent>,
) {
    let mut carried = Carried::default();
    let tls = match params.tls.client_config() {
        Ok(config) => config,
        Err(reason) => {
            let _ = events.send(SignalingEvent::Stopped { reason });
            return;
        }
    };
    let urls = server_list(&params.url);
    let mut at = 0;
    // Servers that could not be reached since the last one that could.
    let mut unreachable = 0;
    loop {
        let url = urls[at % urls.len()].as_str();
        let ended = match connect(url, &tls).await {
            Ok(socket) => {
                unreachable = 0;
                session::session(&params, socket, &mut commands, &events, &mut carried).await
            }
            Err(e) => {
                // An untrusted certificate will be untrusted next time too: say why, stop.
                if let Some(reason) = crate::tls::certificate_problem(&e, url, &params.tls) {
                    let _ = events.send(SignalingEvent::Stopped { reason });
                    return;
                }
                unreachable += 1;
                if unreachable < urls.len() {
                    // Another instance of the cluster may answer: try it at once.
                    tracing::info!("cannot reach {url}: {e}; trying the next server");
                    at += 1;
                    continue;
                }
                unreachable = 0;
                Err(format!("cannot reach {url}: {e}"))
            }
        };
        let (ended, reason) = match ended {
            Ok(ended) => {
                let reason = format!("{ended:?}");
                (ended, reason)
            }
            Err(reason) => (Ended::Lost, reason),
        };
        if !reconnect_after(&ended) {
            let _ = events.send(SignalingEvent::Stopped { reason });
            return;
        }
        // The next instance of a cluster; the one that failed may be gone for good.
        at += 1;
        let delay = carried.backoff.next_delay(rand::random::<f64>());
        tracing::info!("signaling lost ({reason}); reconnecting in {delay:?}");
        if events
            .send(SignalingEvent::Reconnecting {
                retry_in: delay,
                reason,
            })
            .is_err()
        {
            return;
        }
        if !wait_to_reconnect(delay, &mut commands, &events, &mut carried).await {
            return;
        }
    }
}

/// Opens the WebSocket, within [`CONNECT_TIMEOUT`]: a server that accepts the connection but
/// never answers must not hang us.
async fn connect(
    url: &str,
    tls: &Arc<rustls::ClientConfig>,
) -> Result<Socket, tokio_tungstenite::tungstenite::Error> {
    let connecting = tokio::time::timeout(
        CONNECT_TIMEOUT,
        tokio_tungstenite::connect_async_tls_with_config(
            url,
            None,
            false,
            Some(tokio_tungstenite::Connector::Rustls(Arc::clone(tls))),
        ),
    );
    match connecting.await {
        Ok(result) => result.map(|(socket, _)| socket),
        Err(_) => Err(tokio_tungstenite::tungstenite::Error::Io(
            std::io::Error::new(std::io::ErrorKind::TimedOut, "no answer within 10 s"),
        )),
    }
}

/// The servers of `--server` (given once or more, joined by commas), in order; never empty.
pub fn server_list(urls: &str) -> Vec<String> {
    let list: Vec<String> = urls
        .split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(str::to_string)
        .collect();
    if list.is_empty() {
        vec![urls.to_string()]
    } else {
        list
    }
}

/// Waits `delay` before reconnecting, queueing what is sent meanwhile. False when we left
/// (a leave ends everything).
async fn wait_to_reconnect(
    delay: Duration,
    commands: &mut mpsc::UnboundedReceiver<Command>,
    events: &mpsc::UnboundedSender<SignalingEvent>,
    carried: &mut Carried,
) -> bool {
    let sleep = tokio::time::sleep(delay);
    tokio::pin!(sleep);
    loop {
        tokio::select! {
            _ = &mut sleep => return true,
            command = commands.recv() => match command {
                Some(Command::Send(m)) => {
                    tracing::debug!("queued while down");
                    carried.queue.push(m)
                }
                Some(Command::Leave) | None => {
                    let _ = events.send(SignalingEvent::Stopped { reason: "left".into() });
                    return false;
                }
            },
        }
    }
}

/// What outlives one connection.
#[derive(Default)]
struct Carried {
    /// The delay before the next reconnect, reset once joined.
    backoff: Backoff,
    /// What was sent while down or joining, for the next join.
    queue: OutgoingQueue,
    /// The server's token that resumes our seat.
    resume_token: Option<String>,
    /// Chat we sent that the room has not relayed back yet.
    unconfirmed: UnconfirmedChats,
    /// Our id in the room, once joined.
    me: Option<String>,
}

mod session;

#[cfg(test)]
mod tests;
