//! What the links gather on and whom they ask: the host addresses to bind, the ICE servers
//! given on the command line or in the config file, and whether this host can do mDNS.

use rtc::peer_connection::transport::RTCIceServer;
use termmeet_signaling::protocol::IceServer;

/// UDP addresses to gather host candidates on: every IPv4 address and every routable IPv6
/// address (link-local ones need a scope and are left out) of an interface that is not down,
/// loopback included for meetings on one machine, each on a free port.
pub fn local_bind_addresses() -> Vec<String> {
    let interfaces = if_addrs::get_if_addrs().unwrap_or_else(|e| {
        tracing::warn!("cannot list network interfaces ({e}); using loopback only");
        Vec::new()
    });
    let mut out: Vec<String> = interfaces
        .iter()
        .filter(|i| i.oper_status != if_addrs::IfOperStatus::Down)
        .filter_map(|i| match i.ip() {
            std::net::IpAddr::V4(ip) => Some(format!("{ip}:0")),
            std::net::IpAddr::V6(ip) if usable_v6(&ip) => Some(format!("[{ip}]:0")),
            std::net::IpAddr::V6(_) => None,
        })
        .collect();
    if out.is_empty() {
        out.push("127.0.0.1:0".into());
    }
    out.sort();
    out.dedup();
    out
}

/// ICE servers from the command line or the config file: `stun:`/`turn:` URLs, and one user
/// name and credential for the `turn:` ones.
pub fn ice_servers_from(
    urls: &[String],
    username: Option<&str>,
    credential: Option<&str>,
) -> Result<Vec<IceServer>, String> {
    let (mut stun, mut turn) = (Vec::new(), Vec::new());
    for url in urls {
        if url.starts_with("stun:") || url.starts_with("stuns:") {
            stun.push(url.clone());
        } else if url.starts_with("turn:") || url.starts_with("turns:") {
            turn.push(url.clone());
        } else {
            return Err(format!(
                "--ice-server {url:?} must start with stun: or turn: (like turn:relay.example.org:3478)"
            ));
        }
    }
    if !turn.is_empty() && (username.is_none() || credential.is_none()) {
        return Err("a turn: server needs --turn-username and --turn-credential".into());
    }
    let mut out = Vec::new();
    if !stun.is_empty() {
        out.push(IceServer {
            urls: stun,
            username: None,
            credential: None,
            ttl: None,
        });
    }
    if !turn.is_empty() {
        out.push(IceServer {
            urls: turn,
            username: username.map(str::to_string),
            credential: credential.map(str::to_string),
            ttl: None,
        });
    }
    Ok(out)
}

/// An IPv6 address a host candidate can use without a scope id.
fn usable_v6(ip: &std::net::Ipv6Addr) -> bool {
    let link_local = ip.segments()[0] & 0xffc0 == 0xfe80;
    !link_local && !ip.is_unspecified() && !ip.is_multicast()
}

/// Whether this host can open the mDNS socket (a multicast group on 224.0.0.251). Hosts
/// without a multicast route (no default route, for one) cannot; webrtc-rs then fails the
/// whole connection, so such links go on without mDNS: they gather plain host candidates and
/// cannot resolve a browser's `.local` names, which a host without a route could not reach
/// anyway.
pub fn mdns_usable() -> bool {
    match rtc::mdns::MulticastSocket::new().into_std() {
        Ok(_) => true,
        Err(e) => {
            static SAID: std::sync::Once = std::sync::Once::new();
            SAID.call_once(|| {
                tracing::warn!("mDNS is unavailable on this host ({e}); going on without it");
            });
            false
        }
    }
}

/// The servers as webrtc-rs takes them.
pub fn rtc_ice_servers(servers: &[IceServer]) -> Vec<RTCIceServer> {
    servers
        .iter()
        .map(|s| RTCIceServer {
            urls: s.urls.clone(),
            username: s.username.clone().unwrap_or_default(),
            credential: s.credential.clone().unwrap_or_default(),
        })
        .collect()
}
