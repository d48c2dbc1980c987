//! The owner side: participants of this instance's rooms who are connected to another
//! instance. Each has an [`Outbox`] here like any local connection, so the hub treats it the
//! same; a task drains that outbox into envelopes for the instance it is connected to.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::wire::{Envelope, Kind};
use super::{locked, Cluster};
use crate::hub::{Outbound, Outbox, Seat};
use crate::protocol::{parse_client_message, ClientMessage};

/// A participant of a room here, connected through another instance.
pub(crate) struct Hosted {
    /// Where it sits.
    seat: Seat,
    /// Its outbox here (the hub holds a clone), for errors answering its messages.
    outbox: Outbox,
    /// This instance's id for the connection, which the hub's resume logic compares.
    conn_id: u64,
}

impl Cluster {
    /// A `join` forwarded by another instance: seated here if this instance owns the room,
    /// and answered with `joined`, `refused` or `moved`.
    pub(super) async fn host_remote_join(self: std::sync::Arc<Self>, e: Envelope) {
        let edge = e.n.clone();
        let answer = |k: Kind| Envelope::new(k, &self.node, e.c, "");
        let join = match parse_client_message(&e.t) {
            Ok(join @ ClientMessage::Join { .. }) => join,
            _ => {
                let mut refused = answer(Kind::Refused);
                refused.code = Some(crate::protocol::ErrorCode::BadField);
                refused.t = "expected a join message".into();
                self.send(&edge, &refused);
                return;
            }
        };
        let ClientMessage::Join { room, .. } = &join else {
            return;
        };
        match self.resolve(room).await {
            Ok(owner) if owner == self.node => {}
            Ok(_) => return self.send(&edge, &answer(Kind::Moved)),
            // Without Redis, a room already here is still served.
            Err(err) if self.hub.has_room(room) => self.redis_failed(&err),
            Err(err) => {
                self.redis_failed(&err);
                return self.send(&edge, &answer(Kind::Moved));
            }
        }
        let conn_id = crate::conn::next_conn_id();
        let (outbox, rx, kick) = Outbox::new(self.config.outbound_queue, conn_id);
        // The forwarder starts first: `join` queues the first frames at once.
        tokio::spawn(Arc::clone(&self).forward_frames(edge.clone(), e.c, rx, kick));
        match self.seat_here(&outbox, join, e.ip).await {
            Ok(seat) => {
                let mut joined = answer(Kind::Joined);
                joined.room = Some(seat.room.clone());
                joined.id = Some(seat.id.clone());
                locked(&self.hosted).insert(
                    (edge.clone(), e.c),
                    Hosted {
                        seat,
                        outbox,
                        conn_id,
                    },
                );
                self.send(&edge, &joined);
            }
            Err(err) => {
                let mut refused = answer(Kind::Refused);
                refused.code = Some(err.code);
                refused.t = err.message;
                self.send(&edge, &refused);
            }
        }
    }

    /// Drains one hosted participant's outbox into envelopes for its instance, until the
    /// hub lets go of it or kicks it.
    async fn forward_frames(
        self: std::sync::Arc<Self>,
        edge: String,
        conn: u64,
        mut rx: tokio::sync::mpsc::Receiver<Outbound>,
        kick: CancellationToken,
    ) {
        loop {
            tokio::select! {
                frame = rx.recv() => match frame {
                    Some(Outbound::Text(t)) => {
                        self.send(&edge, &Envelope::new(Kind::Frame, &self.node, conn, t.as_str()));
                    }
                    Some(Outbound::Close(code, reason)) => {
                        let mut close = Envelope::new(Kind::Close, &self.node, conn, reason);
                        close.close = Some(code);
                        self.send(&edge, &close);
                        return;
                    }
                    None => return,
                },
                _ = kick.cancelled() => {
                    self.send(&edge, &Envelope::new(Kind::Kick, &self.node, conn, ""));
                    return;
                }
            }
        }
    }

    /// After an outage of Redis: every room here is stored afresh (Redis may have lost it),
    /// and its participants connected elsewhere, who may have missed frames, are asked to
    /// reconnect (1012): their resume gives them the room as it stands.
    pub(super) fn reconcile(&self) {
        self.hub.persist_all();
        let hosted: Vec<(String, u64)> = locked(&self.hosted).keys().cloned().collect();
        tracing::info!(
            participants = hosted.len(),
            "Redis is back: rooms stored again, participants elsewhere resume"
        );
        for (edge, conn) in hosted {
            let mut close = Envelope::new(Kind::Close, &self.node, conn, "");
            close.close = Some(super::edge::SERVICE_RESTART);
            self.send(&edge, &close);
        }
    }

    /// A message, `leave` or drop of a participant hosted here, in the order its instance
    /// sent them.
    pub(super) fn on_hosted(&self, e: Envelope) {
        let key = (e.n.clone(), e.c);
        match e.k {
            Kind::Msg => {
                let hosted = locked(&self.hosted);
                let Some(h) = hosted.get(&key) else { return };
                let (seat, outbox) = (h.seat.clone(), h.outbox.clone());
                drop(hosted);
                // The edge checked the message already; parse again for the hub.
                let result = parse_client_message(&e.t).and_then(|m| {
                    let kind = m.type_name();
                    self.hub.handle(&seat, m).map_err(|err| err.answering(kind))
                });
                if let Err(err) = result {
                    self.metrics.count_error(err.code);
                    outbox.send(&err.to_message(), &self.metrics);
                }
            }
            Kind::Leave => {
                if let Some(h) = locked(&self.hosted).remove(&key) {
                    self.hub.leave(&h.seat);
                }
            }
            Kind::Gone => {
                if let Some(h) = locked(&self.hosted).remove(&key) {
                    self.hub.detach(&h.seat, h.conn_id);
                }
            }
            _ => {}
        }
    }
}
