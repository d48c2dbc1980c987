//! Link health as plain values with the time passed in: when to ask for fresh TURN
//! credentials, when a TURN relay that gave nothing or a link that never connected is
//! worth telling the person about, whether a path is relayed at the far end, and when a
//! local source has stopped or come back. The driver feeds them what it sees and carries out
//! what they say; nothing here reads the clock, so tests step them on virtual time.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use termmeet_signaling::turn::REFRESH_BEFORE;

use super::stats::Path;

/// A TURN relay that gave no relay candidate this long after a link started is reported.
pub const RELAY_TIMEOUT: Duration = Duration::from_secs(10);
/// A link that has not connected this long is reported.
pub const NEGOTIATION_TIMEOUT: Duration = Duration::from_secs(20);
/// Fresh TURN credentials asked for and not received are asked for again after this.
pub const REFRESH_RETRY: Duration = Duration::from_secs(60);
/// Relay addresses kept per peer (a peer cannot make us keep more).
pub const RELAYS_KEPT: usize = 64;

/// When to ask the server for fresh TURN credentials.
#[derive(Clone, Debug, Default)]
pub struct IceRefresh {
    at: Option<Instant>,
}

impl IceRefresh {
    /// New credentials came with these lifetimes (seconds): ask again [`REFRESH_BEFORE`]
    /// ahead of the earliest expiry, or never when none expires.
    pub fn credentials(&mut self, ttls: impl IntoIterator<Item = u64>, now: Instant) {
        self.at = ttls
            .into_iter()
            .min()
            .map(|ttl| now + Duration::from_secs(ttl).saturating_sub(REFRESH_BEFORE));
    }

    /// Whether to ask now; once asked, it asks again after [`REFRESH_RETRY`] unless fresh
    /// credentials arrive first.
    pub fn due(&mut self, now: Instant) -> bool {
        if self.at.is_some_and(|at| now >= at) {
            self.at = Some(now + REFRESH_RETRY);
            return true;
        }
        false
    }
}

/// Whether a configured TURN relay gave us a relay candidate, reported once if not.
#[derive(Clone, Debug, Default)]
pub struct RelayWatch {
    /// A relay candidate was gathered, or the missing one was reported.
    settled: bool,
}

impl RelayWatch {
    /// One of our candidates, as gathered.
    pub fn gathered(&mut self, candidate: &str) {
        self.settled |= candidate.contains(" typ relay");
    }

    /// Whether to report now that the relay gave nothing: a TURN server is configured and
    /// some link has gathered for longer than [`RELAY_TIMEOUT`] without a relay candidate.
    /// Says so once.
    pub fn gave_nothing(
        &mut self,
        turn_configured: bool,
        oldest_link: Option<Instant>,
        now: Instant,
    ) -> bool {
        let waited = oldest_link.is_some_and(|t| now.duration_since(t) > RELAY_TIMEOUT);
        if self.settled || !turn_configured || !waited {
            return false;
        }
        self.settled = true;
        true
    }
}

/// One link's wait to connect, reported once if it takes longer than
/// [`NEGOTIATION_TIMEOUT`].
#[derive(Clone, Debug)]
pub struct ConnectWatch {
    created: Instant,
    connected_once: bool,
    reported: bool,
}

impl ConnectWatch {
    /// A link made at `now`.
    pub fn new(now: Instant) -> ConnectWatch {
        ConnectWatch {
            created: now,
            connected_once: false,
            reported: false,
        }
    }

    /// When the link was made.
    pub fn ever_connected(&self) -> bool {
        self.connected_once
    }

    /// When the link was made.
    pub fn created(&self) -> Instant {
        self.created
    }

    /// The link connected (at least once: a later outage is the ICE restart's business).
    pub fn connected(&mut self) {
        self.connected_once = true;
    }

    /// Whether to report now that it never connected. Says so once.
    pub fn never_connected(&mut self, now: Instant) -> bool {
        let late = now.duration_since(self.created) > NEGOTIATION_TIMEOUT;
        if self.connected_once || self.reported || !late {
            return false;
        }
        self.reported = true;
        true
    }
}

/// The relay addresses each peer announced in its candidates, `ADDRESS:PORT`.
#[derive(Clone, Debug, Default)]
pub struct AnnouncedRelays {
    by_peer: HashMap<String, HashSet<String>>,
}

impl AnnouncedRelays {
    /// Notes a relay address `peer` announced (at most [`RELAYS_KEPT`] a peer).
    pub fn note(&mut self, peer: &str, address: String) {
        let relays = self.by_peer.entry(peer.to_string()).or_default();
        if relays.len() < RELAYS_KEPT {
            relays.insert(address);
        }
    }

    /// Forgets a peer who left.
    pub fn forget(&mut self, peer: &str) {
        self.by_peer.remove(peer);
    }

    /// Whether `peer` announced `address` as a relay.
    pub fn announced(&self, peer: &str, address: &str) -> bool {
        self.by_peer.get(peer).is_some_and(|r| r.contains(address))
    }
}

/// The far end of the selected pair, as the ICE transport knows it: its candidate type and
/// `ADDRESS:PORT` (peer-reflexive candidates included, which the stats report leaves out).
pub type FarEnd = Option<(String, String)>;

/// The path of a link: the stats report's, or `relay` when the far end is a relay (by its
/// candidate type, or by an address the peer announced as its relay).
pub fn path_of(
    reported: Path,
    remote_address: &str,
    far_end: &FarEnd,
    announced: impl Fn(&str) -> bool,
) -> Path {
    if reported == Path::Relay {
        return reported;
    }
    let far_relay = announced(remote_address)
        || far_end
            .as_ref()
            .is_some_and(|(kind, address)| kind == "relay" || announced(address));
    if far_relay {
        Path::Relay
    } else {
        reported
    }
}

/// What happened to a local source (camera, microphone) since the last look.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SourceChange {
    /// It stopped, for this reason.
    Stopped(String),
    /// It works again after stopping.
    Back,
}

/// Whether a local source is failing, seen once a second.
#[derive(Clone, Debug, Default)]
pub struct SourceWatch {
    failing: bool,
}

impl SourceWatch {
    /// The source's failure now (`None` when it works); gives the change since last time.
    pub fn observe(&mut self, failure: Option<String>) -> Option<SourceChange> {
        let was = std::mem::replace(&mut self.failing, failure.is_some());
        match (failure, was) {
            (Some(why), false) => Some(SourceChange::Stopped(why)),
            (None, true) => Some(SourceChange::Back),
            _ => None,
        }
    }

    /// Another source replaced the failing one: it starts as working.
    pub fn replaced(&mut self) {
        self.failing = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn fresh_credentials_are_asked_for_ahead_of_expiry_and_again_without_an_answer() {
        let t0 = Instant::now();
        let mut r = IceRefresh::default();
        assert!(!r.due(t0 + 1000 * S), "no credentials that expire: never");
        r.credentials([3600, 7200], t0);
        assert!(!r.due(t0 + 2999 * S));
        assert!(
            r.due(t0 + 3000 * S),
            "ten minutes before the earliest expiry"
        );
        assert!(!r.due(t0 + 3001 * S));
        assert!(r.due(t0 + 3060 * S), "asked again a minute later");
        r.credentials([3600], t0 + 3061 * S);
        assert!(!r.due(t0 + 3120 * S), "the answer moved the next ask");
        r.credentials(std::iter::empty(), t0);
        assert!(!r.due(t0 + 100_000 * S));
    }

    #[test]
    fn a_relay_that_gave_nothing_is_reported_once_after_the_timeout() {
        let t0 = Instant::now();
        let mut w = RelayWatch::default();
        assert!(!w.gave_nothing(true, Some(t0), t0 + 10 * S));
        assert!(
            !w.gave_nothing(false, Some(t0), t0 + 11 * S),
            "no TURN server"
        );
        assert!(!w.gave_nothing(true, None, t0 + 11 * S), "no link yet");
        assert!(w.gave_nothing(true, Some(t0), t0 + 11 * S));
        assert!(!w.gave_nothing(true, Some(t0), t0 + 12 * S), "once");
        let mut w = RelayWatch::default();
        w.gathered("candidate:1 1 udp 5 192.0.2.1 4000 typ relay raddr 0.0.0.0 rport 0");
        assert!(!w.gave_nothing(true, Some(t0), t0 + 60 * S), "it gave one");
    }

    #[test]
    fn a_link_that_never_connects_is_reported_once() {
        let t0 = Instant::now();
        let mut c = ConnectWatch::new(t0);
        assert!(!c.never_connected(t0 + 20 * S));
        assert!(c.never_connected(t0 + 21 * S));
        assert!(!c.never_connected(t0 + 22 * S));
        let mut c = ConnectWatch::new(t0);
        c.connected();
        assert!(!c.never_connected(t0 + 60 * S));
        assert_eq!(c.created(), t0);
    }

    #[test]
    fn the_far_ends_relay_makes_a_relayed_path() {
        let mut relays = AnnouncedRelays::default();
        relays.note("b", "192.0.2.9:5000".into());
        let announced = |a: &str| relays.announced("b", a);
        let host = Path::Host;
        assert_eq!(path_of(host, "10.0.0.2:1", &None, announced), Path::Host);
        assert_eq!(
            path_of(host, "192.0.2.9:5000", &None, announced),
            Path::Relay
        );
        let prflx = Some(("prflx".to_string(), "192.0.2.9:5000".to_string()));
        assert_eq!(path_of(host, "", &prflx, announced), Path::Relay);
        let relay = Some(("relay".to_string(), "198.51.100.1:1".to_string()));
        assert_eq!(
            path_of(Path::ServerReflexive, "", &relay, announced),
            Path::Relay
        );
        assert_eq!(path_of(Path::Relay, "", &None, |_| false), Path::Relay);
        relays.forget("b");
        assert!(!relays.announced("b", "192.0.2.9:5000"));
        for n in 0..100 {
            relays.note("c", format!("192.0.2.1:{n}"));
        }
        assert!(relays.announced("c", "192.0.2.1:63"));
        assert!(!relays.announced("c", "192.0.2.1:64"), "bounded");
    }

    #[test]
    fn a_source_is_reported_when_it_stops_and_when_it_comes_back() {
        let mut w = SourceWatch::default();
        assert_eq!(w.observe(None), None);
        assert_eq!(
            w.observe(Some("unplugged".into())),
            Some(SourceChange::Stopped("unplugged".into()))
        );
        assert_eq!(w.observe(Some("unplugged".into())), None);
        assert_eq!(w.observe(None), Some(SourceChange::Back));
        w.observe(Some("gone".into()));
        w.replaced();
        assert_eq!(w.observe(None), None, "a new source is not 'back'");
    }
}
