//! Rooms' state in Redis: the owner stores each change (`tm:room:NAME:state` for the room,
//! the stream `tm:room:NAME:chat` for its chat), in order with everything else it sends; an
//! instance that takes a room over reads them back.

use tokio::sync::mpsc;

use super::Cluster;
use crate::hub::{Persist, RoomSnapshot};
use crate::protocol::{ChatMessage, CHAT_HISTORY_LEN};

/// How long a stored room outlives its last change: long after any grace period, so a room
/// whose every instance vanished does not stay in Redis for ever.
const STATE_TTL_SECS: u64 = 24 * 3600;

/// One stream entry as `XRANGE` gives it: its id and its field-value pairs.
type StreamEntry = (String, Vec<(String, String)>);

/// Something for Redis, in the order it was queued.
pub(super) enum Out {
    /// Publish the payload on the channel.
    Publish(String, String),
    /// Store a room change.
    Store(Persist),
}

fn state_key(room: &str) -> String {
    format!("tm:room:{room}:state")
}

fn chat_key(room: &str) -> String {
    format!("tm:room:{room}:chat")
}

impl Out {
    /// Adds the commands for this to a pipeline.
    pub(super) fn add_to(self, pipe: &mut redis::Pipeline) {
        match self {
            Out::Publish(channel, payload) => {
                pipe.cmd("PUBLISH").arg(channel).arg(payload).ignore();
            }
            Out::Store(Persist::Room(room, json)) => {
                pipe.cmd("SET")
                    .arg(state_key(&room))
                    .arg(json)
                    .arg("EX")
                    .arg(STATE_TTL_SECS)
                    .ignore();
            }
            Out::Store(Persist::Chat(room, json)) => {
                let key = chat_key(&room);
                pipe.cmd("XADD")
                    .arg(&key)
                    .arg("MAXLEN")
                    .arg(CHAT_HISTORY_LEN)
                    .arg("*")
                    .arg("m")
                    .arg(json)
                    .ignore();
                pipe.cmd("EXPIRE").arg(&key).arg(STATE_TTL_SECS).ignore();
            }
            Out::Store(Persist::Closed(room)) => {
                pipe.cmd("DEL")
                    .arg(state_key(&room))
                    .arg(chat_key(&room))
                    .ignore();
            }
        }
    }
}

/// Passes the hub's changes into the ordered queue to Redis.
pub(super) async fn forward_changes(
    mut changes: mpsc::UnboundedReceiver<Persist>,
    out: mpsc::UnboundedSender<Out>,
) {
    while let Some(change) = changes.recv().await {
        if out.send(Out::Store(change)).is_err() {
            return;
        }
    }
}

impl Cluster {
    /// Opens `room` here as its stopped owner stored it, if it stored it.
    pub(super) async fn restore(&self, room: &str) {
        let Some(cmd) = self.cmd.get() else { return };
        let mut cmd = cmd.clone();
        let read: redis::RedisResult<(Option<String>, Vec<StreamEntry>)> = redis::pipe()
            .cmd("GET")
            .arg(state_key(room))
            .cmd("XRANGE")
            .arg(chat_key(room))
            .arg("-")
            .arg("+")
            .query_async(&mut cmd)
            .await;
        let (state, chat) = match read {
            Ok(read) => read,
            Err(e) => return self.redis_failed(&e),
        };
        let Some(snapshot) = state.and_then(|s| serde_json::from_str::<RoomSnapshot>(&s).ok())
        else {
            return;
        };
        let history: Vec<ChatMessage> = chat
            .into_iter()
            .filter_map(|(_, fields)| {
                let (_, json) = fields.into_iter().find(|(k, _)| k == "m")?;
                serde_json::from_str(&json).ok()
            })
            .collect();
        self.hub.restore(room, snapshot, history);
    }
}
