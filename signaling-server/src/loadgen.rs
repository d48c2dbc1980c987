//! `termmeet-signaling loadgen`: many WebSocket clients in many rooms on loopback, sending
//! chat and relayed candidates at a set total rate, to measure a server's relay latency,
//! throughput and memory per connection.
//!
//! Each sent message carries its send time (microseconds since the run began) in its text,
//! so the receiving client, in the same process, measures server relay latency directly.

use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use rand::Rng;
use tokio::sync::{Barrier, Semaphore};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::duration::parse_duration;
use crate::protocol::{ClientMessage, IceCandidate, ServerMessage};

/// One load client's WebSocket.
type Socket = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

/// Flags of `termmeet-signaling loadgen`.
#[derive(clap::Args, Clone, Debug)]
pub struct LoadgenArgs {
    /// WebSocket URL of the server to load. Give it more than once for the instances of one
    /// cluster (`--redis`): each room's clients are spread over them, and relays between
    /// instances are reported apart. Without it, loadgen starts this binary as a server on
    /// a free loopback port and also measures that server's memory.
    #[arg(long)]
    pub server: Vec<String>,
    /// Process id of a server given with --server (once for each), to report its memory
    /// per connection.
    #[arg(long)]
    pub server_pid: Vec<u32>,
    /// Clients to connect.
    #[arg(long, default_value_t = 5000)]
    pub connections: usize,
    /// Rooms to spread them over.
    #[arg(long, default_value_t = 1000)]
    pub rooms: usize,
    /// Messages a second sent by all clients together (half chat, half candidates).
    #[arg(long, default_value_t = 2000.0)]
    pub rate: f64,
    /// How long to send for once every client has joined.
    #[arg(long, default_value = "20s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Clients connecting at the same time while ramping up.
    #[arg(long, default_value_t = 200)]
    pub connect_concurrency: usize,
}

/// Latency percentiles, microseconds: p50, p99, max.
pub type Percentiles = (u64, u64, u64);

/// What one run measured.
#[derive(Debug, Clone)]
pub struct LoadReport {
    /// Clients that joined.
    pub connected: usize,
    /// Clients still connected at the end.
    pub held: usize,
    /// Messages sent during the measured phase.
    pub sent: u64,
    /// Messages received that carried a timestamp (relays and chat deliveries).
    pub delivered: u64,
    /// Seconds the measured phase lasted.
    pub seconds: f64,
    /// Relay (offer/answer/candidate path) latency percentiles, microseconds: p50, p99, max.
    pub relay_us: (u64, u64, u64),
    /// With several servers: relays between clients on the same instance, and between
    /// clients on different ones (through Redis).
    pub relay_split_us: Option<(Percentiles, Percentiles)>,
    /// Chat broadcast latency percentiles, microseconds: p50, p99, max.
    pub chat_us: (u64, u64, u64),
    /// Server resident memory added per connection, bytes, when known.
    pub memory_per_connection: Option<f64>,
    /// Errors the server answered with.
    pub errors: u64,
}

impl std::fmt::Display for LoadReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ms = |us: u64| us as f64 / 1000.0;
        writeln!(f, "connections joined:   {}", self.connected)?;
        writeln!(f, "connections held:     {}", self.held)?;
        writeln!(
            f,
            "messages sent:        {} ({:.0}/s)",
            self.sent,
            self.sent as f64 / self.seconds
        )?;
        writeln!(
            f,
            "messages delivered:   {} ({:.0}/s)",
            self.delivered,
            self.delivered as f64 / self.seconds
        )?;
        writeln!(
            f,
            "relay latency:        p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            ms(self.relay_us.0),
            ms(self.relay_us.1),
            ms(self.relay_us.2)
        )?;
        if let Some((same, cross)) = self.relay_split_us {
            for (what, p) in [("same instance", same), ("across instances", cross)] {
                writeln!(
                    f,
                    "  {what:<19} p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
                    ms(p.0),
                    ms(p.1),
                    ms(p.2)
                )?;
            }
        }
        writeln!(
            f,
            "chat latency:         p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            ms(self.chat_us.0),
            ms(self.chat_us.1),
            ms(self.chat_us.2)
        )?;
        match self.memory_per_connection {
            Some(bytes) => writeln!(
                f,
                "server memory:        {:.1} KiB per connection",
                bytes / 1024.0
            )?,
            None => writeln!(f, "server memory:        not measured (give --server-pid)")?,
        }
        write!(f, "server errors:        {}", self.errors)
    }
}

/// Runs the load and prints the report.
pub async fn run(args: LoadgenArgs) -> anyhow::Result<()> {
    let report = measure(&args).await?;
    println!("{report}");
    Ok(())
}

/// A server started for the run, stopped when dropped.
struct ChildServer {
    child: tokio::process::Child,
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

async fn start_child_server() -> anyhow::Result<(String, ChildServer, u32)> {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0")?;
        l.local_addr()?.port()
    };
    let exe = std::env::current_exe().context("cannot find this program to start a server")?;
    let child = tokio::process::Command::new(exe)
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--max-rooms",
            "100000",
            // Every simulated client comes from this one address.
            "--max-conns-per-ip",
            "1000000",
            "--max-new-rooms-per-minute",
            "1000000",
            "--log-level",
            "warn",
        ])
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .context("cannot start the server")?;
    let pid = child.id().context("server exited at once")?;
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse()?;
    let deadline = Instant::now() + Duration::from_secs(20);
    while tokio::net::TcpStream::connect(addr).await.is_err() {
        if Instant::now() > deadline {
            bail!("the server did not start listening on {addr} within 20 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok((format!("ws://{addr}/ws"), ChildServer { child }, pid))
}

/// Resident memory of a process, bytes (Linux).
fn rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

struct Shared {
    start: Instant,
    sent: AtomicU64,
    delivered: AtomicU64,
    errors: AtomicU64,
    held: AtomicUsize,
}

/// Latencies one client saw, microseconds.
#[derive(Default)]
struct ClientStats {
    /// Relays from a client on the same instance (all of them with one server).
    relay: Vec<u32>,
    /// Relays from a client on another instance.
    relay_cross: Vec<u32>,
    chat: Vec<u32>,
}

/// The servers to load and their process ids: those given, or a child server started here.
async fn targets(
    args: &LoadgenArgs,
) -> anyhow::Result<(Vec<String>, Option<ChildServer>, Vec<u32>)> {
    if args.server.is_empty() {
        let (url, child, pid) = start_child_server().await?;
        Ok((vec![url], Some(child), vec![pid]))
    } else {
        Ok((args.server.clone(), None, args.server_pid.clone()))
    }
}

/// The resident memory of these processes together, when every one is readable.
fn rss_sum(pids: &[u32]) -> Option<u64> {
    let each: Option<Vec<u64>> = pids.iter().map(|p| rss_bytes(*p)).collect();
    each.filter(|e| !e.is_empty()).map(|e| e.iter().sum())
}

/// Runs the load and returns what it measured.
pub async fn measure(args: &LoadgenArgs) -> anyhow::Result<LoadReport> {
    if args.connections == 0 || args.rooms == 0 || args.rate <= 0.0 {
        bail!("--connections, --rooms and --rate must be above 0");
    }
    let (urls, _child, pids) = targets(args).await?;
    let rss = || rss_sum(&pids);
    let rss_before = rss();
    let shared = Arc::new(Shared {
        start: Instant::now(),
        sent: AtomicU64::new(0),
        delivered: AtomicU64::new(0),
        errors: AtomicU64::new(0),
        held: AtomicUsize::new(0),
    });
    let joined = Arc::new(Barrier::new(args.connections + 1));
    let go = Arc::new(Barrier::new(args.connections + 1));
    let gate = Arc::new(Semaphore::new(args.connect_concurrency.max(1)));
    let interval = Duration::from_secs_f64(args.connections as f64 / args.rate);
    let mut tasks = Vec::with_capacity(args.connections);
    for i in 0..args.connections {
        // The k-th client of each room goes to instance k (mod their number).
        let at = (i / args.rooms) % urls.len();
        let client = LoadClient {
            url: urls[at].clone(),
            at,
            room: format!("load-{}", i % args.rooms),
            name: format!("load{i}"),
            interval,
            duration: args.duration,
            shared: Arc::clone(&shared),
        };
        let (joined, go, gate) = (Arc::clone(&joined), Arc::clone(&go), Arc::clone(&gate));
        tasks.push(tokio::spawn(
            async move { client.run(gate, joined, go).await },
        ));
    }
    joined.wait().await;
    let connected = shared.held.load(Ordering::Relaxed);
    // Let the server settle its buffers before reading its memory.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_after = rss();
    let phase_start = Instant::now();
    go.wait().await;
    let (mut same, mut cross, mut chat) = (Vec::new(), Vec::new(), Vec::new());
    for task in tasks {
        if let Ok(stats) = task.await {
            same.extend(stats.relay);
            cross.extend(stats.relay_cross);
            chat.extend(stats.chat);
        }
    }
    let relay_split_us =
        (urls.len() > 1).then(|| (percentiles(&mut same), percentiles(&mut cross)));
    let mut relay = same;
    relay.extend(cross);
    // The sending phase, not the drain after it.
    let seconds = phase_start
        .elapsed()
        .as_secs_f64()
        .min(args.duration.as_secs_f64())
        .max(0.001);
    let memory_per_connection = match (rss_before, rss_after) {
        (Some(b), Some(a)) if connected > 0 => Some(a.saturating_sub(b) as f64 / connected as f64),
        _ => None,
    };
    Ok(LoadReport {
        connected,
        held: shared.held.load(Ordering::Relaxed),
        sent: shared.sent.load(Ordering::Relaxed),
        delivered: shared.delivered.load(Ordering::Relaxed),
        seconds,
        relay_us: percentiles(&mut relay),
        relay_split_us,
        chat_us: percentiles(&mut chat),
        memory_per_connection,
        errors: shared.errors.load(Ordering::Relaxed),
    })
}

fn percentiles(values: &mut [u32]) -> (u64, u64, u64) {
    if values.is_empty() {
        return (0, 0, 0);
    }
    values.sort_unstable();
    let at = |q: f64| values[((values.len() - 1) as f64 * q).round() as usize] as u64;
    (at(0.5), at(0.99), at(1.0))
}

struct LoadClient {
    url: String,
    /// Which of the servers it is connected to.
    at: usize,
    room: String,
    name: String,
    interval: Duration,
    duration: Duration,
    shared: Arc<Shared>,
}

impl LoadClient {
    /// Joins, reads while the others join, then sends at its rate for the run's duration
    /// (reading all along, and for a moment after), and leaves.
    async fn run(
        self,
        gate: Arc<Semaphore>,
        joined: Arc<Barrier>,
        go: Arc<Barrier>,
    ) -> ClientStats {
        let mut stats = ClientStats::default();
        let connection = {
            let _permit = gate.acquire().await;
            self.connect().await
        };
        let (ws, mut peers) = match connection {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!("client {} could not join: {e:#}", self.name);
                joined.wait().await;
                go.wait().await;
                return stats;
            }
        };
        self.shared.held.fetch_add(1, Ordering::Relaxed);
        let (mut sink, mut stream) = ws.split();
        let start = async {
            joined.wait().await;
            go.wait().await;
        };
        if !self
            .read_until(start, &mut stream, &mut peers, &mut stats)
            .await
        {
            return stats;
        }
        let alive = self
            .send_and_read(&mut sink, &mut stream, &mut peers, &mut stats)
            .await;
        if !alive {
            self.shared.held.fetch_sub(1, Ordering::Relaxed);
        }
        let _ = sink
            .send(Message::Text(ClientMessage::Leave {}.to_json().into()))
            .await;
        stats
    }

    /// Reads while the others join, so the server never sees a stalled reader, until
    /// `start` completes. False if the connection ended first (it still waits for `start`,
    /// so the others are not held up).
    async fn read_until(
        &self,
        start: impl std::future::Future<Output = ()>,
        stream: &mut SplitStream<Socket>,
        peers: &mut Vec<String>,
        stats: &mut ClientStats,
    ) -> bool {
        tokio::pin!(start);
        loop {
            tokio::select! {
                _ = &mut start => return true,
                frame = stream.next() => match frame {
                    Some(Ok(Message::Text(t))) => self.on_text(t.as_str(), peers, stats),
                    Some(Ok(_)) => {}
                    _ => {
                        self.shared.held.fetch_sub(1, Ordering::Relaxed);
                        (&mut start).await;
                        return false;
                    }
                }
            }
        }
    }

    /// The measured phase: a message every interval (from a random phase, so clients do not
    /// send in step) until the run's end, reading throughout and for 2 s more so messages in
    /// flight arrive. Returns whether the connection is still alive.
    async fn send_and_read(
        &self,
        sink: &mut SplitSink<Socket, Message>,
        stream: &mut SplitStream<Socket>,
        peers: &mut Vec<String>,
        stats: &mut ClientStats,
    ) -> bool {
        let phase_end = Instant::now() + self.duration;
        let phase = rand::rng().random_range(0.0..1.0);
        let first = tokio::time::Instant::now() + self.interval.mul_f64(phase);
        let mut tick = tokio::time::interval_at(first, self.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut count = 0u64;
        let mut alive = true;
        // Keep reading for a moment after the last send so in-flight messages arrive.
        let drain = Duration::from_secs(2);
        while Instant::now() < phase_end + drain {
            let sending = Instant::now() < phase_end;
            tokio::select! {
                _ = tick.tick(), if sending && alive => {
                    count += 1;
                    let message = self.next_message(count, peers);
                    if sink.send(Message::Text(message.to_json().into())).await.is_err() {
                        alive = false;
                    } else {
                        self.shared.sent.fetch_add(1, Ordering::Relaxed);
                    }
                }
                frame = stream.next(), if alive => match frame {
                    Some(Ok(Message::Text(t))) => self.on_text(t.as_str(), peers, stats),
                    Some(Ok(_)) => {}
                    _ => alive = false,
                },
                _ = tokio::time::sleep(Duration::from_millis(100)) => {}
            }
        }
        alive
    }

    /// The `count`th message to send, stamped with the time: every second one a candidate
    /// relayed to a random peer (when there is one), the others chat to the room.
    fn next_message(&self, count: u64, peers: &[String]) -> ClientMessage {
        let stamp = self.shared.start.elapsed().as_micros() as u64;
        if count.is_multiple_of(2) && !peers.is_empty() {
            let to = peers[rand::rng().random_range(0..peers.len())].clone();
            ClientMessage::Candidate {
                to,
                candidate: Some(IceCandidate {
                    candidate: format!("lg {stamp} {}", self.at),
                    sdp_mid: Some("0".into()),
                    sdp_mline_index: Some(0),
                    username_fragment: None,
                }),
            }
        } else {
            ClientMessage::Chat {
                text: format!("lg {stamp}"),
            }
        }
    }

    async fn connect(
        &self,
    ) -> anyhow::Result<(
        tokio_tungstenite::WebSocketStream<
            tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
        >,
        Vec<String>,
    )> {
        let (mut ws, _) = tokio_tungstenite::connect_async(&self.url)
            .await
            .with_context(|| format!("cannot connect to {}", self.url))?;
        let join = ClientMessage::Join {
            room: self.room.clone(),
            name: self.name.clone(),
            secret: None,
            token: None,
            resume: None,
            client: Some("termmeet-loadgen".into()),
            sfu: false,
        };
        ws.send(Message::Text(join.to_json().into())).await?;
        while let Some(frame) = ws.next().await {
            if let Message::Text(t) = frame? {
                match ServerMessage::parse(t.as_str()) {
                    Ok(ServerMessage::Peers { peers, .. }) => {
                        return Ok((ws, peers.into_iter().map(|p| p.id).collect()));
                    }
                    Ok(ServerMessage::Error { code, message, .. }) => bail!("{code}: {message}"),
                    _ => {}
                }
            }
        }
        bail!("the server closed the connection before answering join")
    }

    fn on_text(&self, text: &str, peers: &mut Vec<String>, stats: &mut ClientStats) {
        let now = self.shared.start.elapsed().as_micros() as u64;
        let latency = |stamp: &str| -> Option<u32> {
            let sent: u64 = stamp.strip_prefix("lg ")?.split(' ').next()?.parse().ok()?;
            Some(now.saturating_sub(sent).min(u32::MAX as u64) as u32)
        };
        // A relay's stamp ends with the sender's instance.
        let from_here = |stamp: &str| stamp.rsplit(' ').next() == Some(&self.at.to_string());
        match ServerMessage::parse(text) {
            Ok(ServerMessage::Candidate {
                candidate: Some(c), ..
            }) => {
                if let Some(us) = latency(&c.candidate) {
                    if from_here(&c.candidate) {
                        stats.relay.push(us);
                    } else {
                        stats.relay_cross.push(us);
                    }
                    self.shared.delivered.fetch_add(1, Ordering::Relaxed);
                }
            }
            Ok(ServerMessage::Chat(chat)) => {
                if let Some(us) = latency(&chat.text) {
                    stats.chat.push(us);
                    self.shared.delivered.fetch_add(1, Ordering::Relaxed);
                }
            }
            Ok(ServerMessage::PeerJoined { peer }) => peers.push(peer.id),
            Ok(ServerMessage::PeerLeft { id }) => peers.retain(|p| *p != id),
            Ok(ServerMessage::Error { .. }) => {
                self.shared.errors.fetch_add(1, Ordering::Relaxed);
            }
            _ => {}
        }
    }
}
