//! Several instances serving the same rooms through one Redis (`--redis`).
//!
//! Each room is owned by one instance at a time, named in Redis under `tm:room:NAME:owner`.
//! The owner runs the room in its own [`Hub`] exactly as a lone server does. A participant
//! may connect to any instance: when its room is owned elsewhere, the instance it reached
//! (the edge) forwards its messages to the owner, and the owner's frames for it come back,
//! both as [`wire::Envelope`]s on Redis pub/sub. Every rule of the protocol is so applied in
//! one place and one order per room. See ARCHITECTURE.md, "Rooms across instances".
//!
//! Instances say they are alive by keeping `tm:node:ID` fresh. A room whose owner has gone
//! quiet is taken by the next instance that is asked for it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::{mpsc, OnceCell};

mod edge;
mod owner;
mod store;
pub(crate) mod wire;

use crate::config::ServerConfig;
use crate::hub::{Hub, Outbox, Seat};
use crate::metrics::Metrics;
use crate::protocol::ProtocolError;
use wire::{Envelope, Kind};

/// How often an instance says it is alive.
const HEARTBEAT: Duration = Duration::from_secs(1);
/// How long an instance counts as alive after its last heartbeat.
const NODE_TTL_SECS: u64 = 3;
/// How long a room's owner key lasts unless its owner renews it (every heartbeat).
const OWNER_TTL_SECS: u64 = 60;
/// How long an edge waits for the owner to answer a `join`.
const JOIN_WAIT: Duration = Duration::from_secs(3);
/// Most commands sent to Redis in one pipeline.
const BATCH: usize = 512;

/// Returns the room's owner if it is alive, or makes the caller the owner (returning it).
/// The second value is 1 when the room had an owner that is gone.
const RESOLVE: &str = r#"
local o = redis.call('GET', KEYS[1])
if o and o ~= ARGV[1] and redis.call('EXISTS', 'tm:node:' .. o) == 1 then return {o, 0} end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
if o and o ~= ARGV[1] then return {ARGV[1], 1} end
return {ARGV[1], 0}
"#;

/// Renews the caller's ownership of a room, or takes it if no one holds it (after Redis lost
/// its keys). Returns the owner.
const RENEW: &str = r#"
local o = redis.call('GET', KEYS[1])
if o and o ~= ARGV[1] and redis.call('EXISTS', 'tm:node:' .. o) == 1 then return o end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return ARGV[1]
"#;

/// Counters of the cluster, for `/metrics`.
#[derive(Default)]
pub struct ClusterMetrics {
    /// Envelopes published to other instances.
    pub published: AtomicU64,
    /// Envelopes received from other instances.
    pub received: AtomicU64,
    /// Redis commands that failed (Redis unreachable, or timed out).
    pub redis_errors: AtomicU64,
    /// Times Redis went from reachable to unreachable.
    pub redis_outages: AtomicU64,
    /// Rooms this instance took over from an instance that stopped.
    pub takeovers: AtomicU64,
    /// Rooms open across the cluster, as last counted.
    pub cluster_rooms: AtomicU64,
    /// Participants across the cluster, as last counted.
    pub cluster_participants: AtomicU64,
}

/// What a `join` through the cluster came to.
pub(crate) enum Joined {
    /// Seated in a room this instance owns.
    Here(Seat),
    /// Seated in a room owned by the instance `owner`.
    There(Seat, String),
}

/// Why a `join` through the cluster did not seat the participant.
pub(crate) enum JoinFailure {
    /// The room's rules refused it (answered as a lone server would).
    Refused(ProtocolError),
    /// The room's instance did not answer: the client should try again.
    Unavailable,
}

/// One instance's part in the cluster.
pub struct Cluster {
    /// This instance's id, random at each start.
    pub(crate) node: String,
    /// Commands and publishes; set once Redis first answers.
    cmd: OnceCell<ConnectionManager>,
    /// Envelopes to publish and room state to store, in order.
    publish: mpsc::UnboundedSender<store::Out>,
    /// The rooms this instance owns.
    hub: Arc<Hub>,
    /// Settings.
    config: Arc<ServerConfig>,
    /// Server counters.
    metrics: Arc<Metrics>,
    /// Cluster counters.
    pub counters: ClusterMetrics,
    /// This instance's connections whose rooms are owned elsewhere, by connection id.
    edges: Mutex<HashMap<u64, edge::EdgeConn>>,
    /// Participants of this instance's rooms connected elsewhere, by (instance, connection).
    hosted: Mutex<HashMap<(String, u64), owner::Hosted>>,
    /// Whether Redis answered the last heartbeat.
    redis_up: AtomicBool,
}

/// Locks a map of the cluster; never held across an `.await`.
fn locked<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The URL with RESP3 asked for, which pub/sub on a reconnecting connection needs.
fn resp3(url: &str) -> String {
    if url.contains("protocol=") {
        url.to_string()
    } else if url.contains('?') {
        format!("{url}&protocol=resp3")
    } else {
        format!("{url}?protocol=resp3")
    }
}

impl Cluster {
    /// Joins the cluster behind `url`: connects (retrying in the background until Redis
    /// answers), listens on this instance's channel and starts the heartbeat.
    pub fn start(
        url: &str,
        hub: Arc<Hub>,
        config: Arc<ServerConfig>,
        metrics: Arc<Metrics>,
    ) -> anyhow::Result<Arc<Cluster>> {
        let client =
            redis::Client::open(resp3(url)).map_err(|e| anyhow::anyhow!("--redis {url:?}: {e}"))?;
        let (publish, outgoing) = mpsc::unbounded_channel();
        let node = crate::hub::random_id();
        let changes = hub.persist_changes();
        let cluster = Arc::new(Cluster {
            node,
            cmd: OnceCell::new(),
            publish,
            hub,
            config,
            metrics,
            counters: ClusterMetrics::default(),
            edges: Mutex::new(HashMap::new()),
            hosted: Mutex::new(HashMap::new()),
            redis_up: AtomicBool::new(false),
        });
        tracing::info!(node = %cluster.node, redis = %url, "serving rooms shared through Redis");
        tokio::spawn(store::forward_changes(changes, cluster.publish.clone()));
        tokio::spawn(Arc::clone(&cluster).connect(client, outgoing));
        Ok(cluster)
    }

    /// The cluster's series for `/metrics`, in Prometheus' text format.
    pub fn render_metrics(&self) -> String {
        use std::fmt::Write;
        let c = &self.counters;
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let series = [
            (
                "termmeet_cluster_rooms",
                "Rooms open across the cluster.",
                "gauge",
                load(&c.cluster_rooms),
            ),
            (
                "termmeet_cluster_participants",
                "Participants across the cluster.",
                "gauge",
                load(&c.cluster_participants),
            ),
            (
                "termmeet_cluster_redis_up",
                "1 while Redis answers.",
                "gauge",
                u64::from(self.healthy()),
            ),
            (
                "termmeet_cluster_redis_errors_total",
                "Redis commands that failed.",
                "counter",
                load(&c.redis_errors),
            ),
            (
                "termmeet_cluster_redis_outages_total",
                "Times Redis became unreachable.",
                "counter",
                load(&c.redis_outages),
            ),
            (
                "termmeet_cluster_published_total",
                "Messages sent to other instances.",
                "counter",
                load(&c.published),
            ),
            (
                "termmeet_cluster_received_total",
                "Messages received from other instances.",
                "counter",
                load(&c.received),
            ),
            (
                "termmeet_cluster_takeovers_total",
                "Rooms taken over from an instance that stopped.",
                "counter",
                load(&c.takeovers),
            ),
        ];
        let mut out = String::new();
        for (name, help, kind, value) in series {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
            );
        }
        out
    }

    /// Whether Redis is reachable (for `/healthz`).
    pub fn healthy(&self) -> bool {
        self.redis_up.load(Ordering::Relaxed)
    }

    /// Connects to Redis until it answers, subscribes, then runs the publisher and heartbeat.
    async fn connect(
        self: Arc<Self>,
        client: redis::Client,
        outgoing: mpsc::UnboundedReceiver<store::Out>,
    ) {
        let (push_tx, push_rx) = mpsc::unbounded_channel();
        let sub_config = ConnectionManagerConfig::new()
            .set_push_sender(push_tx)
            .set_automatic_resubscription()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(2)));
        let cmd_config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(2)));
        let (cmd, mut sub) = loop {
            let both = async {
                let cmd =
                    ConnectionManager::new_with_config(client.clone(), cmd_config.clone()).await?;
                let mut sub =
                    ConnectionManager::new_with_config(client.clone(), sub_config.clone()).await?;
                sub.subscribe(wire::channel(&self.node)).await?;
                Ok::<_, redis::RedisError>((cmd, sub))
            };
            match both.await {
                Ok(both) => break both,
                Err(e) => {
                    self.redis_failed(&e);
                    tokio::time::sleep(HEARTBEAT).await;
                }
            }
        };
        let _ = self.cmd.set(cmd.clone());
        tokio::spawn(Arc::clone(&self).dispatch(push_rx));
        tokio::spawn(Arc::clone(&self).publisher(cmd.clone(), outgoing));
        self.heartbeat(cmd, &mut sub).await;
    }

    /// Notes a failed Redis command: counted, and logged when Redis was up until now.
    fn redis_failed(&self, e: &redis::RedisError) {
        self.counters.redis_errors.fetch_add(1, Ordering::Relaxed);
        if self.redis_up.swap(false, Ordering::Relaxed) {
            self.counters.redis_outages.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(error = %e, "Redis is unreachable: serving the rooms this instance owns on its own until it is back");
        } else {
            tracing::debug!(error = %e, "Redis still unreachable");
        }
    }

    /// Notes a Redis command that worked; true when Redis was unreachable until now.
    fn redis_ok(&self) -> bool {
        let back = !self.redis_up.swap(true, Ordering::Relaxed);
        if back {
            tracing::info!("Redis is reachable");
        }
        back
    }

    /// Sends an envelope to another instance, after every envelope sent before it.
    fn send(&self, to: &str, envelope: &Envelope) {
        let _ = self
            .publish
            .send(store::Out::Publish(wire::channel(to), envelope.to_json()));
    }

    /// Publishes queued envelopes and stores room changes in order, many to a pipeline.
    async fn publisher(
        self: Arc<Self>,
        mut cmd: ConnectionManager,
        mut outgoing: mpsc::UnboundedReceiver<store::Out>,
    ) {
        let mut batch = Vec::with_capacity(BATCH);
        while outgoing.recv_many(&mut batch, BATCH).await > 0 {
            let mut pipe = redis::pipe();
            let mut published = 0;
            for out in batch.drain(..) {
                published += u64::from(matches!(out, store::Out::Publish(..)));
                out.add_to(&mut pipe);
            }
            match pipe.query_async::<()>(&mut cmd).await {
                Ok(()) => {
                    self.counters
                        .published
                        .fetch_add(published, Ordering::Relaxed);
                }
                Err(e) => self.redis_failed(&e),
            }
        }
    }

    /// Hands each envelope received to the edge or the owner side.
    async fn dispatch(self: Arc<Self>, mut push: mpsc::UnboundedReceiver<redis::PushInfo>) {
        while let Some(info) = push.recv().await {
            if info.kind != redis::PushKind::Message {
                continue;
            }
            let Some(payload) = info
                .data
                .into_iter()
                .nth(1)
                .and_then(|v| redis::from_redis_value::<String>(v).ok())
            else {
                continue;
            };
            let Ok(envelope) = serde_json::from_str::<Envelope>(&payload) else {
                tracing::warn!("unreadable message from another instance; ignored");
                continue;
            };
            self.counters.received.fetch_add(1, Ordering::Relaxed);
            match envelope.k {
                Kind::Join => {
                    tokio::spawn(Arc::clone(&self).host_remote_join(envelope));
                }
                Kind::Msg | Kind::Leave | Kind::Gone => self.on_hosted(envelope),
                _ => self.on_edge(envelope),
            }
        }
    }

    /// Every [`HEARTBEAT`]: says this instance is alive, renews its rooms, checks that the
    /// owners of its edge connections are alive, and counts the cluster.
    async fn heartbeat(&self, mut cmd: ConnectionManager, sub: &mut ConnectionManager) {
        let mut tick = tokio::time::interval(HEARTBEAT);
        // After an outage, every instance needs a heartbeat or two to say it is alive again:
        // until then, no owner is judged gone.
        let mut judge_after = tokio::time::Instant::now();
        loop {
            tick.tick().await;
            // The subscriber reconnects (and subscribes again) when a command finds it broken.
            let _: redis::RedisResult<()> = redis::cmd("PING").query_async(sub).await;
            let (rooms, participants) = self.hub.counts();
            let alive: redis::RedisResult<()> = redis::pipe()
                .cmd("SET")
                .arg(wire::node_key(&self.node))
                .arg(format!("{rooms} {participants}"))
                .arg("EX")
                .arg(NODE_TTL_SECS)
                .ignore()
                .query_async(&mut cmd)
                .await;
            if let Err(e) = alive {
                self.redis_failed(&e);
                continue;
            }
            if self.redis_ok() && self.counters.redis_outages.load(Ordering::Relaxed) > 0 {
                judge_after = tokio::time::Instant::now() + HEARTBEAT * NODE_TTL_SECS as u32;
                self.reconcile();
            }
            self.renew_rooms(&mut cmd).await;
            if tokio::time::Instant::now() >= judge_after {
                self.check_owners(&mut cmd).await;
            }
            self.count_cluster(&mut cmd).await;
        }
    }

    /// Renews this instance's ownership of each of its rooms, a few hundred to a pipeline
    /// (one round trip each, not one a room).
    async fn renew_rooms(&self, cmd: &mut ConnectionManager) {
        let rooms = self.hub.room_names();
        for chunk in rooms.chunks(BATCH) {
            let mut pipe = redis::pipe();
            for room in chunk {
                pipe.cmd("EVAL")
                    .arg(RENEW)
                    .arg(1)
                    .arg(wire::owner_key(room))
                    .arg(&self.node)
                    .arg(OWNER_TTL_SECS);
            }
            let owners: Vec<String> = match pipe.query_async(cmd).await {
                Ok(owners) => owners,
                Err(e) => return self.redis_failed(&e),
            };
            for (room, owner) in chunk.iter().zip(owners) {
                if owner != self.node {
                    tracing::warn!(
                        room = %room, %owner,
                        "another instance took this room while Redis was unreachable; its participants here stay until they leave"
                    );
                }
            }
        }
    }

    /// Adds up every live instance's room and participant counts.
    async fn count_cluster(&self, cmd: &mut ConnectionManager) {
        let keys: redis::RedisResult<Vec<String>> =
            redis::cmd("KEYS").arg("tm:node:*").query_async(cmd).await;
        let Ok(keys) = keys else { return };
        if keys.is_empty() {
            return;
        }
        let values: redis::RedisResult<Vec<Option<String>>> =
            redis::cmd("MGET").arg(&keys).query_async(cmd).await;
        let Ok(values) = values else { return };
        let (mut rooms, mut participants) = (0u64, 0u64);
        for v in values.into_iter().flatten() {
            let mut it = v.split(' ').map(|n| n.parse::<u64>().unwrap_or(0));
            rooms += it.next().unwrap_or(0);
            participants += it.next().unwrap_or(0);
        }
        self.counters.cluster_rooms.store(rooms, Ordering::Relaxed);
        self.counters
            .cluster_participants
            .store(participants, Ordering::Relaxed);
    }

    /// The instance that owns `room`, made this one when no live instance does.
    async fn resolve(&self, room: &str) -> Result<String, redis::RedisError> {
        let (owner, took_over) = self.claim(room).await?;
        if took_over {
            self.restore(room).await;
        }
        Ok(owner)
    }

    /// The owner of `room` as [`RESOLVE`] finds or makes it, and whether this instance just
    /// took it from one that stopped.
    async fn claim(&self, room: &str) -> Result<(String, bool), redis::RedisError> {
        let Some(cmd) = self.cmd.get() else {
            return Err(redis::RedisError::from((
                redis::ErrorKind::Io,
                "not connected to Redis yet",
            )));
        };
        let mut cmd = cmd.clone();
        let (owner, took_over): (String, u8) = redis::Script::new(RESOLVE)
            .key(wire::owner_key(room))
            .arg(&self.node)
            .arg(OWNER_TTL_SECS)
            .invoke_async(&mut cmd)
            .await?;
        if took_over == 1 {
            self.counters.takeovers.fetch_add(1, Ordering::Relaxed);
            tracing::info!(room, "took over a room whose instance stopped");
        }
        Ok((owner, took_over == 1))
    }

    /// Counts a new room against its opener's address across the cluster: `Err` when the
    /// address has opened too many in the last minute. Without Redis, it is let through.
    async fn count_room_open(&self, ip: std::net::IpAddr) -> Result<(), ProtocolError> {
        let Some(cmd) = self.cmd.get() else {
            return Ok(());
        };
        let mut cmd = cmd.clone();
        let key = format!("tm:opens:{ip}");
        let counted: redis::RedisResult<(u64,)> = redis::pipe()
            .cmd("INCR")
            .arg(&key)
            .cmd("EXPIRE")
            .arg(&key)
            .arg(60)
            .arg("NX")
            .ignore()
            .query_async(&mut cmd)
            .await;
        match counted {
            Ok((n,)) if n as usize > self.config.max_new_rooms_per_minute => {
                Err(crate::hub::too_many_rooms(&self.config))
            }
            Ok(_) => Ok(()),
            Err(e) => {
                self.redis_failed(&e);
                Ok(())
            }
        }
    }

    /// Seats a `join` from one of this instance's connections, in whichever instance owns
    /// its room. `text` is the message as the client sent it.
    pub(crate) async fn join(
        &self,
        conn_id: u64,
        outbox: &Outbox,
        text: &str,
        join: crate::protocol::ClientMessage,
        from: std::net::IpAddr,
    ) -> Result<Joined, JoinFailure> {
        let crate::protocol::ClientMessage::Join { room, .. } = &join else {
            return Err(JoinFailure::Unavailable);
        };
        let room = room.clone();
        for _ in 0..3 {
            let owner = match self.resolve(&room).await {
                Ok(owner) => owner,
                Err(e) => {
                    // Best effort without Redis: this instance serves the room itself.
                    self.redis_failed(&e);
                    self.node.clone()
                }
            };
            if owner == self.node {
                return self
                    .seat_here(outbox, join, Some(from))
                    .await
                    .map(Joined::Here)
                    .map_err(JoinFailure::Refused);
            }
            match self.join_remote(&owner, conn_id, outbox, text, from).await {
                edge::Reply::Joined(seat) => return Ok(Joined::There(seat, owner)),
                edge::Reply::Refused(e) => return Err(JoinFailure::Refused(e)),
                edge::Reply::Moved => continue,
                edge::Reply::NoAnswer => return Err(JoinFailure::Unavailable),
            }
        }
        Err(JoinFailure::Unavailable)
    }

    /// Seats a `join` in a room this instance owns, counting a new room against its
    /// opener's address across the cluster.
    async fn seat_here(
        &self,
        outbox: &Outbox,
        join: crate::protocol::ClientMessage,
        from: Option<std::net::IpAddr>,
    ) -> Result<Seat, ProtocolError> {
        if let crate::protocol::ClientMessage::Join { room, resume, .. } = &join {
            if !self.hub.has_room(room) && resume.is_none() {
                // --max-rooms holds across the cluster, as of the last count (a second old
                // at most); this instance's own count is checked by the hub as well.
                let open = self.counters.cluster_rooms.load(Ordering::Relaxed);
                if open >= self.config.max_rooms as u64 {
                    return Err(crate::hub::cluster_full(&self.config));
                }
                if let Some(ip) = from {
                    self.count_room_open(ip).await?;
                }
            }
        }
        // The address's limit was counted above, across the cluster.
        self.hub.join(outbox, join, None)
    }
}
