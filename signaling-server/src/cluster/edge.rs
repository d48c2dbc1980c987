//! The edge side: this instance's connections whose rooms another instance owns. Their
//! messages go to the owner; the owner's frames for them come back here and go into their
//! outboxes. When an owner stops heartbeating, its connections here are closed with 1012
//! (service restart), and their clients' reconnect and resume find the room's new owner.

use std::collections::HashSet;

use redis::aio::ConnectionManager;
use tokio::sync::oneshot;

use super::wire::{self, Envelope, Kind};
use super::{locked, Cluster, JOIN_WAIT};
use crate::hub::{Outbound, Outbox, Seat};
use crate::protocol::ProtocolError;

/// The WebSocket close code for "the room's instance stopped; reconnect" (RFC 6455 1012).
pub(crate) const SERVICE_RESTART: u16 = 1012;

/// A connection here whose room is owned elsewhere.
pub(crate) struct EdgeConn {
    /// Its writer.
    outbox: Outbox,
    /// The owning instance.
    owner: String,
    /// Waiting for the answer to its `join`.
    reply: Option<oneshot::Sender<Reply>>,
}

/// The owner's answer to a forwarded `join`.
pub(crate) enum Reply {
    /// Seated.
    Joined(Seat),
    /// Refused by the room's rules.
    Refused(ProtocolError),
    /// The instance does not own the room; ask Redis again.
    Moved,
    /// No answer within [`JOIN_WAIT`].
    NoAnswer,
}

impl Cluster {
    /// Forwards a `join` to the room's owner and waits for its answer.
    pub(super) async fn join_remote(
        &self,
        owner: &str,
        conn_id: u64,
        outbox: &Outbox,
        text: &str,
        from: std::net::IpAddr,
    ) -> Reply {
        let (tx, rx) = oneshot::channel();
        locked(&self.edges).insert(
            conn_id,
            EdgeConn {
                outbox: outbox.clone(),
                owner: owner.to_string(),
                reply: Some(tx),
            },
        );
        let mut envelope = Envelope::new(Kind::Join, &self.node, conn_id, text);
        envelope.ip = Some(from);
        self.send(owner, &envelope);
        let reply = match tokio::time::timeout(JOIN_WAIT, rx).await {
            Ok(Ok(reply)) => reply,
            _ => Reply::NoAnswer,
        };
        if !matches!(reply, Reply::Joined(_)) {
            locked(&self.edges).remove(&conn_id);
        }
        if matches!(reply, Reply::NoAnswer) {
            tracing::warn!(%owner, "the room's instance did not answer a join");
        }
        reply
    }

    /// Forwards a seated connection's message (`leave` too) to its room's owner.
    pub(crate) fn forward(&self, owner: &str, conn_id: u64, text: &str, leave: bool) {
        let kind = if leave { Kind::Leave } else { Kind::Msg };
        self.send(owner, &Envelope::new(kind, &self.node, conn_id, text));
    }

    /// A connection forwarded to `owner` ended; `left` when it sent `leave` (already told).
    pub(crate) fn edge_ended(&self, owner: &str, conn_id: u64, left: bool) {
        locked(&self.edges).remove(&conn_id);
        if !left {
            self.send(owner, &Envelope::new(Kind::Gone, &self.node, conn_id, ""));
        }
    }

    /// An envelope from an owner for one of this instance's connections.
    pub(super) fn on_edge(&self, e: Envelope) {
        let mut edges = locked(&self.edges);
        let Some(conn) = edges.get_mut(&e.c) else {
            drop(edges);
            // The connection is gone here: let the owner keep its seat for the grace only.
            if matches!(e.k, Kind::Frame) {
                self.send(&e.n, &Envelope::new(Kind::Gone, &self.node, e.c, ""));
            }
            return;
        };
        let metrics = &self.metrics;
        match e.k {
            Kind::Frame => conn.outbox.push(Outbound::Text(e.t.into()), metrics),
            Kind::Close => conn.outbox.push(
                Outbound::Close(e.close.unwrap_or(1000), "closed by the room's server"),
                metrics,
            ),
            Kind::Kick => conn.outbox.kick(),
            Kind::Joined => {
                let seat = Seat {
                    room: e.room.unwrap_or_default(),
                    id: e.id.unwrap_or_default(),
                };
                if let Some(tx) = conn.reply.take() {
                    let _ = tx.send(Reply::Joined(seat));
                }
            }
            Kind::Refused => {
                let code = e.code.unwrap_or(crate::protocol::ErrorCode::BadField);
                if let Some(tx) = conn.reply.take() {
                    let _ = tx.send(Reply::Refused(ProtocolError::new(code, e.t)));
                }
            }
            Kind::Moved => {
                if let Some(tx) = conn.reply.take() {
                    let _ = tx.send(Reply::Moved);
                }
            }
            Kind::Join | Kind::Msg | Kind::Leave | Kind::Gone => {}
        }
    }

    /// Closes, with 1012, the connections here whose owner stopped heartbeating, so their
    /// clients reconnect and resume with the room's next owner.
    pub(super) async fn check_owners(&self, cmd: &mut ConnectionManager) {
        let owners: HashSet<String> = locked(&self.edges)
            .values()
            .map(|c| c.owner.clone())
            .collect();
        for owner in owners {
            let alive: redis::RedisResult<bool> = redis::cmd("EXISTS")
                .arg(wire::node_key(&owner))
                .query_async(cmd)
                .await;
            match alive {
                Ok(true) => {}
                Ok(false) => self.owner_gone(&owner),
                Err(e) => {
                    self.redis_failed(&e);
                    return;
                }
            }
        }
    }

    /// The instance `owner` stopped: its rooms' connections here are told to reconnect.
    fn owner_gone(&self, owner: &str) {
        let mut edges = locked(&self.edges);
        let mut closed = 0;
        for conn in edges.values_mut().filter(|c| c.owner == owner) {
            conn.outbox.push(
                Outbound::Close(SERVICE_RESTART, "the room's server stopped; reconnect"),
                &self.metrics,
            );
            closed += 1;
        }
        edges.retain(|_, c| c.owner != owner);
        tracing::warn!(%owner, closed, "a room's instance stopped; its participants here reconnect");
    }
}
