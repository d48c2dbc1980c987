//! The server's settings: command-line flags with environment-variable equivalents, and
//! the plain [`ServerConfig`] that [`crate::run`] takes.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};

use crate::duration::parse_duration;
use crate::protocol::{check_room_name, IceServer};

/// Everything the server needs to run; `Default` gives the values of `docs/protocol.md`.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Most participants in one room.
    pub max_room_size: usize,
    /// Most rooms open at once.
    pub max_rooms: usize,
    /// Messages a second allowed per connection, sustained.
    pub rate_per_sec: f64,
    /// Messages allowed in one burst per connection.
    pub rate_burst: f64,
    /// How often the server pings each connection.
    pub keepalive: Duration,
    /// A connection that sends nothing for this long is dropped.
    pub idle_timeout: Duration,
    /// How long a dropped participant may resume before `peer-left`.
    pub grace: Duration,
    /// Rooms that need a secret to join, by room name.
    pub room_secrets: HashMap<String, String>,
    /// STUN and TURN servers handed to clients.
    pub ice_servers: Vec<IceServer>,
    /// Messages waiting to be written to one client before it counts as too slow and is dropped.
    pub outbound_queue: usize,
    /// Relayed messages kept for a dropped participant until it resumes.
    pub resume_queue: usize,
    /// The secret shared with the TURN relay (coturn's `static-auth-secret`): with it, every
    /// participant gets its own credentials for the `turn:` servers, valid for `turn_ttl`.
    pub turn_secret: Option<String>,
    /// How long minted TURN credentials stay valid.
    pub turn_ttl: Duration,
    /// Most WebSocket connections open at once from one address.
    pub max_conns_per_ip: usize,
    /// Most new rooms one address may open in a minute.
    pub max_new_rooms_per_minute: usize,
    /// Browser origins (like `https://meet.example.org`) allowed to open `/ws` besides the
    /// server's own.
    pub allowed_origins: Vec<String>,
    /// The certificate to serve HTTP and WebSocket with over TLS (none: plain).
    pub tls: Option<crate::tls::ServerTls>,
    /// With it, every join needs a token signed by it.
    pub token_secret: Option<crate::token::TokenSecret>,
    /// Janus instances (their WebSocket API, `ws://HOST:8188`) to carry rooms bigger than a
    /// mesh; the first that answers is used. None: every room is a mesh.
    pub sfu: Vec<String>,
    /// Most participants a room holds as a mesh; one more moves it to the SFU.
    pub mesh_max: usize,
    /// How long a room must stay at `mesh_max` or fewer before it moves back to the mesh.
    pub sfu_hold: Duration,
    /// The most each participant sends up to the SFU, bits a second: Janus tells every
    /// publisher so (REMB), and termmeet's encoders keep under it.
    pub sfu_bitrate: u32,
    /// The Redis (`redis://HOST:PORT`, `unix:///PATH`) that instances serving the same
    /// rooms share. None: this instance serves its rooms alone.
    pub redis: Option<String>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            max_room_size: 16,
            max_rooms: 10_000,
            rate_per_sec: 50.0,
            rate_burst: 200.0,
            keepalive: Duration::from_secs(25),
            idle_timeout: Duration::from_secs(60),
            grace: Duration::from_secs(15),
            room_secrets: HashMap::new(),
            ice_servers: Vec::new(),
            outbound_queue: 512,
            resume_queue: 256,
            turn_secret: None,
            turn_ttl: Duration::from_secs(12 * 3600),
            max_conns_per_ip: 32,
            max_new_rooms_per_minute: 20,
            allowed_origins: Vec::new(),
            tls: None,
            token_secret: None,
            sfu: Vec::new(),
            mesh_max: 2,
            sfu_hold: Duration::from_secs(10),
            sfu_bitrate: 2_000_000,
            redis: None,
        }
    }
}

/// Flags of `termmeet-signaling` (and `termmeet-signaling serve`).
#[derive(clap::Args, Clone, Debug)]
pub struct ServeArgs {
    /// A TOML file whose keys are these flags' long names (`listen = "0.0.0.0:8080"`,
    /// `max_room_size = 8`); flags and environment variables win over it.
    #[arg(long, env = "TERMMEET_CONFIG")]
    pub config: Option<PathBuf>,

    /// Address and port to listen on. Browsers and terminal clients connect to ws://ADDR/ws.
    #[arg(long, env = "TERMMEET_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Most participants in one room; a join beyond it gets `room-full`.
    #[arg(long, env = "TERMMEET_MAX_ROOM_SIZE", default_value_t = 16)]
    pub max_room_size: usize,

    /// Most rooms open at once; a join that would open another gets `room-full`.
    #[arg(long, env = "TERMMEET_MAX_ROOMS", default_value_t = 10_000)]
    pub max_rooms: usize,

    /// Messages a second allowed from each connection (sustained rate).
    #[arg(long, env = "TERMMEET_RATE", default_value_t = 50.0)]
    pub rate: f64,

    /// Messages allowed from a connection in one burst above the sustained rate.
    #[arg(long, env = "TERMMEET_RATE_BURST", default_value_t = 200.0)]
    pub rate_burst: f64,

    /// How often to ping each connection (like 25s).
    #[arg(long, env = "TERMMEET_KEEPALIVE", default_value = "25s", value_parser = parse_duration)]
    pub keepalive: Duration,

    /// Drop a connection that sends nothing, pongs included, for this long.
    #[arg(long, env = "TERMMEET_IDLE_TIMEOUT", default_value = "60s", value_parser = parse_duration)]
    pub idle_timeout: Duration,

    /// How long a dropped participant may come back with its resume token before the others
    /// are told it left.
    #[arg(long, env = "TERMMEET_GRACE", default_value = "15s", value_parser = parse_duration)]
    pub grace: Duration,

    /// A room that needs a secret, as ROOM=SECRET. Repeat for more rooms.
    #[arg(
        long = "room-secret",
        env = "TERMMEET_ROOM_SECRETS",
        value_delimiter = ','
    )]
    pub room_secrets: Vec<String>,

    /// A file of room secrets, one `ROOM=SECRET` a line (`#` starts a comment).
    #[arg(long, env = "TERMMEET_ROOM_SECRETS_FILE")]
    pub room_secrets_file: Option<PathBuf>,

    /// A STUN or TURN URL to hand to clients (like stun:stun.example.org:3478). Repeat for more.
    #[arg(
        long = "ice-server",
        env = "TERMMEET_ICE_SERVERS",
        value_delimiter = ','
    )]
    pub ice_servers: Vec<String>,

    /// User name for the `turn:` URLs given with --ice-server.
    #[arg(long, env = "TERMMEET_TURN_USERNAME")]
    pub turn_username: Option<String>,

    /// Credential for the `turn:` URLs given with --ice-server.
    #[arg(long, env = "TERMMEET_TURN_CREDENTIAL")]
    pub turn_credential: Option<String>,

    /// The secret shared with the TURN relay (coturn: --use-auth-secret
    /// --static-auth-secret=SECRET). Each participant then gets its own credentials for the
    /// `turn:` URLs, valid for --turn-ttl, fresh at join, on resume and on request.
    #[arg(long, env = "TERMMEET_TURN_SECRET")]
    pub turn_secret: Option<String>,

    /// How long minted TURN credentials stay valid.
    #[arg(long, env = "TERMMEET_TURN_TTL", default_value = "12h", value_parser = parse_duration)]
    pub turn_ttl: Duration,

    /// Most WebSocket connections open at once from one address; more are refused with
    /// `too-many-connections` and closed with 1008.
    #[arg(long, env = "TERMMEET_MAX_CONNS_PER_IP", default_value_t = 32)]
    pub max_conns_per_ip: usize,

    /// Most new rooms one address may open in a minute; more are refused with
    /// `too-many-connections` (joining rooms that are open is not limited).
    #[arg(long, env = "TERMMEET_MAX_NEW_ROOMS_PER_MINUTE", default_value_t = 20)]
    pub max_new_rooms_per_minute: usize,

    /// A Janus server (its WebSocket API, like ws://10.0.0.5:8188) to carry rooms bigger
    /// than --mesh-max through its VideoRoom plugin. Repeat it for several: the first that
    /// answers is used, the next when it fails. Participants never see its address.
    #[arg(long = "sfu", env = "TERMMEET_SFU", value_delimiter = ',')]
    pub sfu: Vec<String>,

    /// Most participants a room holds as a mesh; when one more joins, everyone moves to the
    /// SFU (with --sfu).
    #[arg(long, env = "TERMMEET_MESH_MAX", default_value_t = 2)]
    pub mesh_max: usize,

    /// How long a room must stay at --mesh-max or fewer before it moves back to the mesh.
    #[arg(long, env = "TERMMEET_SFU_HOLD", default_value = "10s", value_parser = parse_duration)]
    pub sfu_hold: Duration,

    /// The most each participant sends up to the SFU, kbit/s (camera, screen and sound):
    /// Janus tells every publisher so (REMB), and termmeet's encoders keep under it.
    #[arg(long, env = "TERMMEET_SFU_KBPS", default_value_t = 2000,
          value_parser = clap::value_parser!(u32).range(100..=20_000))]
    pub sfu_kbps: u32,

    /// A Redis shared with other instances (redis://HOST:PORT, or unix:///PATH/redis.sock):
    /// they then serve the same rooms, and a participant may connect to any of them. Each
    /// room runs on one instance, and moves to another when that one stops.
    #[arg(long, env = "TERMMEET_REDIS")]
    pub redis: Option<String>,

    /// Serve Prometheus metrics at http://ADDR/metrics (off by default; never on the public
    /// port). Keep ADDR private, like 127.0.0.1:9090.
    #[arg(long, env = "TERMMEET_METRICS_LISTEN")]
    pub metrics_listen: Option<std::net::SocketAddr>,

    /// A browser origin allowed to open /ws besides the server's own (like
    /// https://meet.example.org). Repeat for more. Clients that send no Origin (not browsers)
    /// are always accepted.
    #[arg(
        long = "allowed-origin",
        env = "TERMMEET_ALLOWED_ORIGINS",
        value_delimiter = ','
    )]
    pub allowed_origins: Vec<String>,

    /// Serve over TLS with this certificate chain (PEM); needs --tls-key. Browsers on other
    /// hosts need TLS for camera and microphone.
    #[arg(
        long,
        env = "TERMMEET_TLS_CERT",
        requires = "tls_key",
        conflicts_with = "tls_self_signed"
    )]
    pub tls_cert: Option<PathBuf>,

    /// The private key (PEM) of --tls-cert.
    #[arg(long, env = "TERMMEET_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Serve over TLS with a certificate made now for the listen address and the
    /// --tls-name names; its SHA-256 fingerprint is printed for clients to pin
    /// (`termmeet join --server-fingerprint …`).
    #[arg(long, env = "TERMMEET_TLS_SELF_SIGNED")]
    pub tls_self_signed: bool,

    /// A host name (or address) for the --tls-self-signed certificate. Repeat for more.
    #[arg(long = "tls-name", env = "TERMMEET_TLS_NAMES", value_delimiter = ',')]
    pub tls_names: Vec<String>,

    /// Require a join token signed with this secret on every join (mint them with
    /// `termmeet-signaling token`). Prefer --token-secret-file: flags show in `ps`.
    #[arg(
        long,
        env = "TERMMEET_TOKEN_SECRET",
        conflicts_with = "token_secret_file"
    )]
    pub token_secret: Option<String>,

    /// Like --token-secret, read from a file (its first line).
    #[arg(long, env = "TERMMEET_TOKEN_SECRET_FILE")]
    pub token_secret_file: Option<PathBuf>,

    /// Log filter (error, warn, info, debug, trace, or a tracing filter like termmeet_signaling=debug).
    #[arg(long, env = "TERMMEET_LOG", default_value = "info")]
    pub log_level: String,
}

impl ServeArgs {
    /// The [`ServerConfig`] these flags describe, reading the secrets file if one is named.
    pub fn to_config(&self) -> anyhow::Result<ServerConfig> {
        if !(self.rate > 0.0 && self.rate_burst >= 1.0) {
            bail!(
                "--rate must be above 0 and --rate-burst at least 1 (got {} and {})",
                self.rate,
                self.rate_burst
            );
        }
        if self.max_room_size < 1 || self.max_rooms < 1 {
            bail!("--max-room-size and --max-rooms must be at least 1");
        }
        let room_secrets = self.room_secrets()?;
        let ice_servers = self.ice_servers()?;
        Ok(ServerConfig {
            tls: self.tls()?,
            token_secret: self.token_secret()?,
            max_room_size: self.max_room_size,
            max_rooms: self.max_rooms,
            rate_per_sec: self.rate,
            rate_burst: self.rate_burst,
            keepalive: self.keepalive,
            idle_timeout: self.idle_timeout,
            grace: self.grace,
            room_secrets,
            ice_servers,
            turn_secret: self.turn_secret.clone(),
            turn_ttl: self.turn_ttl,
            max_conns_per_ip: self.max_conns_per_ip.max(1),
            max_new_rooms_per_minute: self.max_new_rooms_per_minute.max(1),
            allowed_origins: self.allowed_origins.clone(),
            sfu: self.sfu.clone(),
            mesh_max: self.mesh_max.max(1),
            sfu_hold: self.sfu_hold,
            sfu_bitrate: self.sfu_kbps * 1000,
            redis: self.redis.clone(),
            ..ServerConfig::default()
        })
    }
}

impl ServeArgs {
    /// The room secrets of `--room-secret` and of the secrets file.
    fn room_secrets(&self) -> anyhow::Result<HashMap<String, String>> {
        let mut room_secrets = HashMap::new();
        for entry in &self.room_secrets {
            let (room, secret) =
                parse_secret_line(entry).with_context(|| format!("--room-secret {entry:?}"))?;
            room_secrets.insert(room, secret);
        }
        if let Some(path) = &self.room_secrets_file {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the room secrets file {}", path.display()))?;
            for (n, line) in text.lines().enumerate() {
                let line = line.trim();
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                let (room, secret) = parse_secret_line(line)
                    .with_context(|| format!("{} line {}", path.display(), n + 1))?;
                room_secrets.insert(room, secret);
            }
        }
        Ok(room_secrets)
    }

    /// `--ice-server` as the ICE servers the server hands out: the STUN ones together, the
    /// TURN ones with the static credentials.
    fn ice_servers(&self) -> anyhow::Result<Vec<IceServer>> {
        let mut stun = Vec::new();
        let mut turn = Vec::new();
        for url in &self.ice_servers {
            if url.starts_with("stun:") || url.starts_with("stuns:") {
                stun.push(url.clone());
            } else if url.starts_with("turn:") || url.starts_with("turns:") {
                turn.push(url.clone());
            } else {
                bail!("--ice-server {url:?} must start with stun:, stuns:, turn: or turns:");
            }
        }
        let mut ice_servers = Vec::new();
        if !stun.is_empty() {
            ice_servers.push(IceServer {
                urls: stun,
                username: None,
                credential: None,
                ttl: None,
            });
        }
        if !turn.is_empty() {
            ice_servers.push(IceServer {
                urls: turn,
                username: self.turn_username.clone(),
                credential: self.turn_credential.clone(),
                ttl: None,
            });
        }
        Ok(ice_servers)
    }

    fn tls(&self) -> anyhow::Result<Option<crate::tls::ServerTls>> {
        use crate::tls::{certificate_names, ServerTls};
        if let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) {
            return ServerTls::from_pem_files(cert, key).map(Some);
        }
        if self.tls_self_signed {
            let names = certificate_names(self.listen, &self.tls_names);
            return ServerTls::self_signed(&names).map(Some);
        }
        Ok(None)
    }

    fn token_secret(&self) -> anyhow::Result<Option<crate::token::TokenSecret>> {
        crate::token::TokenSecret::from_flags(
            self.token_secret.as_deref(),
            self.token_secret_file.as_deref(),
        )
    }
}

/// Reads `ROOM=SECRET`.
fn parse_secret_line(line: &str) -> anyhow::Result<(String, String)> {
    let Some((room, secret)) = line.split_once('=') else {
        bail!("expected ROOM=SECRET");
    };
    let room = room.trim();
    check_room_name(room).map_err(|e| anyhow::anyhow!(e.message))?;
    if secret.is_empty() {
        bail!("the secret for room {room:?} is empty");
    }
    Ok((room.to_string(), secret.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        serve: ServeArgs,
    }

    #[test]
    fn flags_become_config() {
        let cli = Cli::parse_from([
            "x",
            "--room-secret",
            "team=hunter2",
            "--ice-server",
            "stun:s.example:3478",
            "--ice-server",
            "turn:t.example:3478",
            "--turn-username",
            "u",
            "--grace",
            "500ms",
        ]);
        let config = cli.serve.to_config().unwrap();
        assert_eq!(config.room_secrets["team"], "hunter2");
        assert_eq!(config.ice_servers.len(), 2);
        assert_eq!(config.ice_servers[1].username.as_deref(), Some("u"));
        assert_eq!(config.grace, Duration::from_millis(500));
    }

    #[test]
    fn bad_flags_say_what_is_wrong() {
        let cli = Cli::parse_from(["x", "--room-secret", "bad room=x"]);
        let e = format!("{:#}", cli.serve.to_config().unwrap_err());
        assert!(e.contains("bad room"), "{e}");
        let cli = Cli::parse_from(["x", "--ice-server", "http://x"]);
        assert!(cli.serve.to_config().is_err());
    }
}
