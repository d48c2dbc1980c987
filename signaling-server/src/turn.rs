//! TURN credentials that expire, minted per participant from a secret shared with the relay:
//! the TURN REST API scheme coturn's `use-auth-secret` checks. The user name is
//! `EXPIRY:ID` (Unix seconds, participant id) and the credential the base64 HMAC-SHA1 of the
//! user name under the secret, so the relay needs no list of users and a leaked credential
//! stops working at EXPIRY.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use hmac::{Hmac, Mac};
use sha1::Sha1;

use crate::config::ServerConfig;
use crate::protocol::IceServer;

/// The user name and credential for participant `id`, valid until `expiry` (Unix seconds).
pub fn rest_credential(secret: &str, id: &str, expiry: u64) -> (String, String) {
    let username = format!("{expiry}:{id}");
    let mut mac =
        Hmac::<Sha1>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(username.as_bytes());
    let credential = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    (username, credential)
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The ICE servers to hand participant `id`: as configured, with fresh credentials on every
/// `turn:` entry when the server has a TURN secret.
pub fn ice_servers_for(config: &ServerConfig, id: &str) -> Vec<IceServer> {
    ice_servers_at(config, id, unix_now())
}

/// [`ice_servers_for`] at a given time (Unix seconds).
pub fn ice_servers_at(config: &ServerConfig, id: &str, now: u64) -> Vec<IceServer> {
    let Some(secret) = &config.turn_secret else {
        return config.ice_servers.clone();
    };
    let ttl = config.turn_ttl;
    config
        .ice_servers
        .iter()
        .map(|s| {
            if !s.urls.iter().any(|u| u.starts_with("turn")) {
                return s.clone();
            }
            let (username, credential) = rest_credential(secret, id, now + ttl.as_secs());
            IceServer {
                urls: s.urls.clone(),
                username: Some(username),
                credential: Some(credential),
                ttl: Some(ttl.as_secs()),
            }
        })
        .collect()
}

/// How long before expiry a client should ask for fresh credentials (docs/protocol.md).
pub const REFRESH_BEFORE: Duration = Duration::from_secs(600);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_as_coturn_checks_them() {
        // The TURN REST API draft's construction: base64(HMAC-SHA1(secret, "EXPIRY:USER")).
        let (user, credential) = rest_credential("north", "ab12", 1_700_000_000);
        assert_eq!(user, "1700000000:ab12");
        // Computed independently: printf '1700000000:ab12' | openssl dgst -sha1 -hmac north -binary | base64
        assert_eq!(credential, "9/aCM+T5dzzM5n7JTIUjl9Job3E=");
    }

    #[test]
    fn only_turn_entries_get_credentials_and_only_with_a_secret() {
        let mut config = ServerConfig {
            ice_servers: vec![
                IceServer {
                    urls: vec!["stun:s.example:3478".into()],
                    username: None,
                    credential: None,
                    ttl: None,
                },
                IceServer {
                    urls: vec!["turn:t.example:3478".into()],
                    username: None,
                    credential: None,
                    ttl: None,
                },
            ],
            ..ServerConfig::default()
        };
        assert_eq!(ice_servers_at(&config, "p1", 100), config.ice_servers);
        config.turn_secret = Some("s3".into());
        config.turn_ttl = Duration::from_secs(3600);
        let out = ice_servers_at(&config, "p1", 100);
        assert_eq!(out[0], config.ice_servers[0]);
        assert_eq!(out[1].username.as_deref(), Some("3700:p1"));
        assert_eq!(out[1].ttl, Some(3600));
        assert_eq!(out[1].credential, Some(rest_credential("s3", "p1", 3700).1));
    }
}
