//! A client of the dozen Janus requests the SFU needs, over Janus's WebSocket API (the
//! `janus-protocol` subprotocol): one session, handles on the VideoRoom plugin, plugin
//! messages with or without JSEP, trickled candidates, and keepalives.
//!
//! Replies are matched by `transaction` (an event can come before its `ack`); events with no
//! transaction of ours go out on a channel with the handle they are for.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

/// How long a request may wait for its reply.
const REPLY_WAIT: Duration = Duration::from_secs(10);
/// Janus drops a session after 60 s without a request; keep it alive well inside that.
const KEEPALIVE: Duration = Duration::from_secs(20);
/// The plugin every handle is attached to.
pub const VIDEOROOM: &str = "janus.plugin.videoroom";

/// What went wrong talking to Janus.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JanusError {
    /// The WebSocket could not be opened.
    #[error("cannot reach Janus at {url}: {message}")]
    Connect { url: String, message: String },
    /// The connection to Janus is gone.
    #[error("the connection to Janus was lost")]
    Gone,
    /// No reply in time.
    #[error("Janus did not answer {what} within {}s", REPLY_WAIT.as_secs())]
    Timeout { what: String },
    /// Janus (or its plugin) refused the request.
    #[error("Janus refused {what}: {reason} (code {code})")]
    Refused {
        what: String,
        code: i64,
        reason: String,
    },
    /// A reply that does not have what it should.
    #[error("Janus's answer to {what} lacks {missing}")]
    Malformed { what: String, missing: String },
}

/// A plugin's reply: its data, and the JSEP it carried.
#[derive(Debug, Clone, Default)]
pub struct Reply {
    /// `plugindata.data`.
    pub data: Value,
    /// `jsep`, if any.
    pub jsep: Option<Value>,
}

/// An event Janus sent on its own, for a handle (`sender`), or the session ending.
#[derive(Debug, Clone)]
pub enum JanusEvent {
    /// A plugin event or a core notice (`webrtcup`, `hangup`, `media`, `slowlink`).
    Handle {
        /// The handle it is for.
        handle: u64,
        /// The whole message.
        message: Value,
    },
    /// The connection or the session is gone.
    Gone,
}

type Pending = Arc<Mutex<HashMap<String, oneshot::Sender<Value>>>>;

/// A Janus session over one WebSocket.
#[derive(Clone)]
pub struct Janus {
    /// Frames to write.
    out: mpsc::UnboundedSender<Message>,
    /// Requests waiting for their reply, by transaction.
    pending: Pending,
    /// The session's id.
    session: u64,
    /// Source of transaction ids.
    next: Arc<AtomicU64>,
}

fn lock(p: &Pending) -> std::sync::MutexGuard<'_, HashMap<String, oneshot::Sender<Value>>> {
    p.lock().unwrap_or_else(|e| e.into_inner())
}

impl Janus {
    /// Connects, creates a session and starts keeping it alive. Events for handles arrive
    /// on the returned channel; it ends with [`JanusEvent::Gone`].
    pub async fn connect(
        url: &str,
    ) -> Result<(Janus, mpsc::UnboundedReceiver<JanusEvent>), JanusError> {
        let connect_error = |message: String| JanusError::Connect {
            url: url.to_string(),
            message,
        };
        let mut request = url
            .into_client_request()
            .map_err(|e| connect_error(e.to_string()))?;
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            "janus-protocol".parse().expect("a valid header value"),
        );
        let connecting = tokio_tungstenite::connect_async(request);
        let (ws, _) = tokio::time::timeout(REPLY_WAIT, connecting)
            .await
            .map_err(|_| connect_error("no answer within 10s".into()))?
            .map_err(|e| connect_error(e.to_string()))?;
        let (mut sink, mut stream) = ws.split();
        let (out, mut outgoing) = mpsc::unbounded_channel::<Message>();
        let (events_tx, events) = mpsc::unbounded_channel();
        let pending: Pending = Arc::default();
        tokio::spawn(async move {
            while let Some(frame) = outgoing.recv().await {
                let last = matches!(frame, Message::Close(_));
                if sink.send(frame).await.is_err() || last {
                    break;
                }
            }
        });
        let reader_pending = Arc::clone(&pending);
        tokio::spawn(async move {
            while let Some(Ok(frame)) = stream.next().await {
                if let Message::Text(text) = frame {
                    if let Ok(message) = serde_json::from_str::<Value>(&text) {
                        dispatch(message, &reader_pending, &events_tx);
                    }
                }
            }
            lock(&reader_pending).clear();
            let _ = events_tx.send(JanusEvent::Gone);
        });
        let mut janus = Janus {
            out,
            pending,
            session: 0,
            next: Arc::new(AtomicU64::new(1)),
        };
        let created = janus
            .call("create a session", json!({"janus": "create"}))
            .await?;
        janus.session = id_in(&created, "create a session")?;
        janus.keep_alive();
        Ok((janus, events))
    }

    /// Sends a keepalive every [`KEEPALIVE`] until the connection goes.
    fn keep_alive(&self) {
        let janus = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(KEEPALIVE).await;
                let body = json!({"janus": "keepalive", "session_id": janus.session});
                if !janus.send(body) {
                    break;
                }
            }
        });
    }

    /// Writes one request with a fresh transaction; false when the connection is gone.
    fn send(&self, mut body: Value) -> bool {
        let transaction = format!("t{}", self.next.fetch_add(1, Ordering::Relaxed));
        body["transaction"] = json!(transaction);
        self.out.send(Message::text(body.to_string())).is_ok()
    }

    /// Sends a request and waits for its reply (the first that is not an `ack`).
    async fn call(&self, what: &str, mut body: Value) -> Result<Value, JanusError> {
        let transaction = format!("t{}", self.next.fetch_add(1, Ordering::Relaxed));
        body["transaction"] = json!(transaction);
        if self.session != 0 && body.get("session_id").is_none() {
            body["session_id"] = json!(self.session);
        }
        let (tx, rx) = oneshot::channel();
        lock(&self.pending).insert(transaction.clone(), tx);
        if self.out.send(Message::text(body.to_string())).is_err() {
            lock(&self.pending).remove(&transaction);
            return Err(JanusError::Gone);
        }
        let reply = match tokio::time::timeout(REPLY_WAIT, rx).await {
            Ok(Ok(reply)) => reply,
            Ok(Err(_)) => return Err(JanusError::Gone),
            Err(_) => {
                lock(&self.pending).remove(&transaction);
                return Err(JanusError::Timeout { what: what.into() });
            }
        };
        if reply["janus"] == "error" {
            return Err(refused(what, &reply["error"]));
        }
        Ok(reply)
    }

    /// Attaches a new handle to the VideoRoom plugin.
    pub async fn attach(&self) -> Result<u64, JanusError> {
        let what = "attaching to the VideoRoom plugin";
        let reply = self
            .call(what, json!({"janus": "attach", "plugin": VIDEOROOM}))
            .await?;
        id_in(&reply, what)
    }

    /// Detaches a handle (its peer connection closes with it).
    pub async fn detach(&self, handle: u64) {
        let body = json!({"janus": "detach", "handle_id": handle});
        let _ = self.call("detaching", body).await;
    }

    /// A VideoRoom request on `handle`, with a JSEP if given; a plugin error is an error.
    pub async fn message(
        &self,
        handle: u64,
        what: &str,
        request: Value,
        jsep: Option<Value>,
    ) -> Result<Reply, JanusError> {
        let mut body = json!({"janus": "message", "handle_id": handle, "body": request});
        if let Some(jsep) = jsep {
            body["jsep"] = jsep;
        }
        let reply = self.call(what, body).await?;
        let data = reply["plugindata"]["data"].clone();
        if data.get("error_code").is_some()
            || data["videoroom"] == "event" && data.get("error").is_some()
        {
            return Err(JanusError::Refused {
                what: what.into(),
                code: data["error_code"].as_i64().unwrap_or(0),
                reason: data["error"].as_str().unwrap_or("unknown").to_string(),
            });
        }
        Ok(Reply {
            data,
            jsep: reply.get("jsep").cloned(),
        })
    }

    /// Trickles a candidate (`None`: no more) to a handle's peer connection.
    pub fn trickle(&self, handle: u64, candidate: Option<Value>) {
        let candidate = candidate.unwrap_or_else(|| json!({"completed": true}));
        self.send(json!({
            "janus": "trickle",
            "session_id": self.session,
            "handle_id": handle,
            "candidate": candidate,
        }));
    }

    /// Ends the session.
    pub async fn destroy(&self) {
        let _ = self
            .call("ending the session", json!({"janus": "destroy"}))
            .await;
        // The socket closes too, which ends the keepalives and the reader.
        let _ = self.out.send(Message::Close(None));
    }
}

/// Routes one message from Janus: a reply to whoever waits for its transaction, anything
/// else with a `sender` to the events channel.
fn dispatch(message: Value, pending: &Pending, events: &mpsc::UnboundedSender<JanusEvent>) {
    let kind = message["janus"].as_str().unwrap_or_default();
    if kind == "ack" {
        return;
    }
    if let Some(transaction) = message["transaction"].as_str() {
        if let Some(waiting) = lock(pending).remove(transaction) {
            let _ = waiting.send(message);
            return;
        }
    }
    if kind == "timeout" {
        let _ = events.send(JanusEvent::Gone);
        return;
    }
    if let Some(handle) = message["sender"].as_u64() {
        let _ = events.send(JanusEvent::Handle { handle, message });
    }
}

/// `data.id` of a `success` reply (a new session or handle).
fn id_in(reply: &Value, what: &str) -> Result<u64, JanusError> {
    reply["data"]["id"]
        .as_u64()
        .ok_or_else(|| JanusError::Malformed {
            what: what.into(),
            missing: "data.id".into(),
        })
}

/// A core error (`{"code", "reason"}`) as ours.
fn refused(what: &str, error: &Value) -> JanusError {
    JanusError::Refused {
        what: what.into(),
        code: error["code"].as_i64().unwrap_or(0),
        reason: error["reason"].as_str().unwrap_or("unknown").to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_go_to_their_transaction_and_events_to_the_channel() {
        let pending: Pending = Arc::default();
        let (tx, mut rx) = oneshot::channel();
        lock(&pending).insert("t7".into(), tx);
        let (events_tx, mut events) = mpsc::unbounded_channel();
        dispatch(
            json!({"janus": "ack", "transaction": "t7"}),
            &pending,
            &events_tx,
        );
        assert!(rx.try_recv().is_err(), "an ack is not the reply");
        dispatch(
            json!({"janus": "event", "transaction": "t7", "sender": 5}),
            &pending,
            &events_tx,
        );
        assert_eq!(rx.try_recv().unwrap()["janus"], "event");
        dispatch(
            json!({"janus": "webrtcup", "sender": 9}),
            &pending,
            &events_tx,
        );
        match events.try_recv().unwrap() {
            JanusEvent::Handle { handle, .. } => assert_eq!(handle, 9),
            other => panic!("{other:?}"),
        }
        dispatch(json!({"janus": "timeout"}), &pending, &events_tx);
        assert!(matches!(events.try_recv().unwrap(), JanusEvent::Gone));
    }

    #[test]
    fn errors_name_the_request_and_janus_reason() {
        let e = refused(
            "creating the room",
            &json!({"code": 427, "reason": "Room exists"}),
        );
        assert_eq!(
            e.to_string(),
            "Janus refused creating the room: Room exists (code 427)"
        );
    }
}
