//! Negotiation with one peer as a plain state machine: perfect negotiation (the side whose id
//! sorts lower is polite and rolls back its own offer on a collision), the queue of
//! candidates that arrive before the remote description, the DTLS role our answers carry,
//! and when to restart ICE.
//!
//! [`Negotiation::handle`] takes an [`Input`] and the time and returns [`Action`]s; it never
//! awaits, touches a socket or reads the clock. The link ([`super::link::PeerLink`]) carries
//! the actions out against the peer connection and feeds what came of them back in as
//! inputs (`OfferSet`, `RemoteSet`, `AnswerSet`, `Failed`).

use std::time::{Duration, Instant};

use termmeet_signaling::protocol::IceCandidate;

/// ICE that is `disconnected` this long is restarted (a `failed` one at once).
pub const DISCONNECTED_GRACE: Duration = Duration::from_secs(3);
/// The first wait between ICE restarts; each later one doubles, up to [`RESTART_BACKOFF_MAX`].
pub const RESTART_BACKOFF: Duration = Duration::from_secs(2);
/// The longest wait between ICE restarts while media does not flow.
pub const RESTART_BACKOFF_MAX: Duration = Duration::from_secs(5);
/// The polite side restarts this much later than the impolite one, so that both do not
/// restart at once and collide.
pub const POLITE_RESTART_DELAY: Duration = Duration::from_secs(2);

/// The connection's state as the negotiation cares for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Connection {
    /// Not connected yet (new, connecting).
    Connecting,
    /// Media can flow.
    Connected,
    /// Consent or checks lapsed; it may come back by itself.
    Disconnected,
    /// ICE gave up.
    Failed,
    /// Closed by us.
    Closed,
}

/// Something that happened.
#[derive(Clone, Debug, PartialEq)]
pub enum Input {
    /// Our tracks changed, or `peers` made us the offerer: offer (now, or once stable).
    Negotiate,
    /// The remote's offer.
    RemoteOffer(String),
    /// The remote's answer.
    RemoteAnswer(String),
    /// A candidate from the remote.
    RemoteCandidate(IceCandidate),
    /// Our offer was made and set locally; its SDP.
    OfferSet(String),
    /// The remote description (offer or answer) was set.
    RemoteSet,
    /// Our answer was made and set locally; its SDP.
    AnswerSet(String),
    /// An action failed.
    Failed(Step, String),
    /// The connection changed state.
    Connection(Connection),
    /// Time passed (the mesh ticks every second).
    Tick,
}

/// What the link must do.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Make a new ICE username and password for the next offer.
    RestartIce,
    /// Make an offer and set it locally; then `OfferSet`.
    MakeOffer,
    /// Drop our own offer (we are polite and collided).
    Rollback,
    /// Set the remote's offer; then `RemoteSet`.
    SetRemoteOffer(String),
    /// Make an answer and set it locally; then `AnswerSet`.
    MakeAnswer,
    /// Set the remote's answer; then `RemoteSet`.
    SetRemoteAnswer(String),
    /// Give the connection a remote candidate.
    AddCandidate(IceCandidate),
    /// Send our offer to the remote.
    SendOffer(String),
    /// Send our answer to the remote.
    SendAnswer(String),
    /// The video encoders should send a keyframe (a receiver starts or restarts).
    RequestKeyframe,
    /// Tell the person something went wrong.
    Report(Problem),
}

/// Which action failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// [`Action::RestartIce`].
    RestartIce,
    /// [`Action::MakeOffer`].
    MakeOffer,
    /// [`Action::Rollback`].
    Rollback,
    /// [`Action::SetRemoteOffer`].
    SetRemoteOffer,
    /// [`Action::MakeAnswer`].
    MakeAnswer,
    /// [`Action::SetRemoteAnswer`].
    SetRemoteAnswer,
    /// [`Action::AddCandidate`].
    AddCandidate,
}

/// A problem worth telling the person about.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    /// The remote's offer could not be used.
    #[error("bad offer: {0}")]
    BadOffer(String),
    /// The remote's answer could not be used.
    #[error("bad answer: {0}")]
    BadAnswer(String),
    /// An answer came while no offer of ours was out.
    #[error("an answer came while no offer of ours was out")]
    UnexpectedAnswer,
    /// A remote candidate could not be used.
    #[error("bad candidate: {0}")]
    BadCandidate(String),
    /// We could not make an offer.
    #[error("cannot make an offer: {0}")]
    Offer(String),
    /// We could not make an answer.
    #[error("cannot answer: {0}")]
    Answer(String),
    /// ICE could not be restarted.
    #[error("cannot restart ICE: {0}")]
    Restart(String),
}

/// Where the offer/answer exchange stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// No exchange under way.
    Stable,
    /// We asked for an offer and wait for it to be set.
    MakingOffer,
    /// Our offer is out; we wait for the answer.
    HaveLocalOffer,
    /// The remote's answer is being set.
    ApplyingAnswer,
    /// The remote's offer is being set, then answered.
    Answering,
}

/// When ICE is restarted, and how often.
#[derive(Clone, Debug, Default)]
struct IceRecovery {
    /// The connection as last reported.
    state: Option<Connection>,
    /// Since when it has been down (disconnected or failed).
    down_since: Option<Instant>,
    /// Restarts made since it was last connected.
    attempts: u32,
    /// No restart before this.
    next_at: Option<Instant>,
}

/// Negotiation with one peer.
#[derive(Clone, Debug)]
pub struct Negotiation {
    /// Whether we roll back our own offer on a collision (our id sorts lower).
    polite: bool,
    /// The exchange under way.
    phase: Phase,
    /// Another offer is wanted once the exchange under way settles.
    offer_again: bool,
    /// Whether we ignored the remote's colliding offer (impolite side): its candidates may
    /// then be refused, and that is no one's fault.
    ignore_offer: bool,
    /// Whether a remote description has been set: until then candidates wait in `pending`.
    have_remote: bool,
    /// Candidates that arrived before the remote description.
    pending: Vec<IceCandidate>,
    /// Our DTLS role (`a=setup:` value) once the first exchange fixed it. webrtc-rs 0.21
    /// answers every offer with `setup:active`, even a re-offer on a connection where we are
    /// the DTLS server, which Chromium rejects ("Failed to set SSL role for the transport"):
    /// the answers we send later say this instead.
    dtls_setup: Option<&'static str>,
    /// The next offer restarts ICE.
    restart_on_offer: bool,
    ice: IceRecovery,
}

impl Negotiation {
    /// Negotiation between `local` and `remote` (participant ids).
    pub fn new(local: &str, remote: &str) -> Negotiation {
        Negotiation {
            polite: local < remote,
            phase: Phase::Stable,
            offer_again: false,
            ignore_offer: false,
            have_remote: false,
            pending: Vec::new(),
            dtls_setup: None,
            restart_on_offer: false,
            ice: IceRecovery::default(),
        }
    }

    /// Whether we are the polite side.
    pub fn polite(&self) -> bool {
        self.polite
    }

    /// The exchange under way.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// ICE restarts made since the connection was last up.
    pub fn restart_attempts(&self) -> u32 {
        self.ice.attempts
    }

    /// Whether the connection is down and being restored.
    pub fn recovering(&self) -> bool {
        self.ice.down_since.is_some()
    }

    /// Takes one input; returns what to do, in order.
    pub fn handle(&mut self, input: Input, now: Instant) -> Vec<Action> {
        match input {
            Input::Negotiate => self.negotiate(),
            Input::RemoteOffer(sdp) => self.on_remote_offer(sdp),
            Input::RemoteAnswer(sdp) => self.on_remote_answer(sdp),
            Input::RemoteCandidate(c) => self.on_remote_candidate(c),
            Input::OfferSet(sdp) => {
                self.phase = Phase::HaveLocalOffer;
                vec![Action::SendOffer(sdp)]
            }
            Input::RemoteSet => self.on_remote_set(),
            Input::AnswerSet(sdp) => self.on_answer_set(sdp),
            Input::Failed(step, error) => self.on_failed(step, error),
            Input::Connection(state) => self.on_connection(state, now),
            Input::Tick => self.maybe_restart(now),
        }
    }

    fn negotiate(&mut self) -> Vec<Action> {
        if self.phase != Phase::Stable {
            self.offer_again = true;
            return Vec::new();
        }
        self.offer_again = false;
        self.phase = Phase::MakingOffer;
        if std::mem::take(&mut self.restart_on_offer) {
            vec![Action::RestartIce, Action::MakeOffer]
        } else {
            vec![Action::MakeOffer]
        }
    }

    fn on_remote_offer(&mut self, sdp: String) -> Vec<Action> {
        let collision = matches!(self.phase, Phase::MakingOffer | Phase::HaveLocalOffer);
        self.ignore_offer = !self.polite && collision;
        if self.ignore_offer {
            // Ours wins: the remote (polite) rolls back and answers it.
            return Vec::new();
        }
        self.phase = Phase::Answering;
        if collision {
            // What our offer carried (a new track, an ICE restart) still has to be offered.
            self.offer_again = true;
            vec![Action::Rollback, Action::SetRemoteOffer(sdp)]
        } else {
            vec![Action::SetRemoteOffer(sdp)]
        }
    }

    fn on_remote_answer(&mut self, sdp: String) -> Vec<Action> {
        if self.phase != Phase::HaveLocalOffer {
            return vec![Action::Report(Problem::UnexpectedAnswer)];
        }
        if self.dtls_setup.is_none() {
            // The remote's role fixes ours: the other one.
            self.dtls_setup = match sdp_setup(&sdp) {
                Some("active") => Some("passive"),
                Some("passive") => Some("active"),
                _ => None,
            };
        }
        self.phase = Phase::ApplyingAnswer;
        vec![Action::SetRemoteAnswer(sdp)]
    }

    fn on_remote_candidate(&mut self, c: IceCandidate) -> Vec<Action> {
        if self.have_remote {
            vec![Action::AddCandidate(c)]
        } else {
            self.pending.push(c);
            Vec::new()
        }
    }

    fn on_remote_set(&mut self) -> Vec<Action> {
        self.have_remote = true;
        let mut actions: Vec<Action> = std::mem::take(&mut self.pending)
            .into_iter()
            .map(Action::AddCandidate)
            .collect();
        match self.phase {
            Phase::Answering => actions.push(Action::MakeAnswer),
            Phase::ApplyingAnswer => {
                self.phase = Phase::Stable;
                // A renegotiation may have added a track whose first keyframe went out
                // before the receiver was ready for it.
                actions.push(Action::RequestKeyframe);
                actions.extend(self.offer_if_wanted());
            }
            _ => {}
        }
        actions
    }

    fn on_answer_set(&mut self, sdp: String) -> Vec<Action> {
        self.phase = Phase::Stable;
        // 0.21 insists the local answer is exactly the one it made, so the role is corrected
        // only in what the remote gets; the DTLS transport, once started, never reads it again.
        let sent = match self.dtls_setup {
            Some(ours) if sdp_setup(&sdp).is_some_and(|s| s != ours) => with_setup(&sdp, ours),
            Some(_) => sdp,
            None => {
                self.dtls_setup = match sdp_setup(&sdp) {
                    Some("passive") => Some("passive"),
                    Some(_) => Some("active"),
                    None => None,
                };
                sdp
            }
        };
        let mut actions = vec![Action::SendAnswer(sent)];
        actions.extend(self.offer_if_wanted());
        actions
    }

    fn offer_if_wanted(&mut self) -> Vec<Action> {
        if self.offer_again || self.restart_on_offer {
            self.negotiate()
        } else {
            Vec::new()
        }
    }

    fn on_failed(&mut self, step: Step, error: String) -> Vec<Action> {
        let problem = match step {
            Step::RestartIce => Problem::Restart(error),
            Step::MakeOffer => {
                self.phase = Phase::Stable;
                Problem::Offer(error)
            }
            Step::Rollback => Problem::Offer(format!("rolling back our offer: {error}")),
            Step::SetRemoteOffer => {
                self.phase = Phase::Stable;
                Problem::BadOffer(error)
            }
            Step::MakeAnswer => {
                self.phase = Phase::Stable;
                Problem::Answer(error)
            }
            Step::SetRemoteAnswer => {
                // Our offer is still set: a good answer may yet come.
                self.phase = Phase::HaveLocalOffer;
                Problem::BadAnswer(error)
            }
            Step::AddCandidate if self.ignore_offer => return Vec::new(),
            Step::AddCandidate => Problem::BadCandidate(error),
        };
        vec![Action::Report(problem)]
    }

    fn on_connection(&mut self, state: Connection, now: Instant) -> Vec<Action> {
        self.ice.state = Some(state);
        match state {
            Connection::Connected => {
                self.ice.down_since = None;
                self.ice.attempts = 0;
                self.ice.next_at = None;
                // A new (or restored) receiver needs a keyframe to start from.
                vec![Action::RequestKeyframe]
            }
            Connection::Disconnected | Connection::Failed => {
                self.ice.down_since.get_or_insert(now);
                self.maybe_restart(now)
            }
            Connection::Connecting | Connection::Closed => Vec::new(),
        }
    }

    /// Restarts ICE when the connection has been down long enough and the last attempt has
    /// had its time; keeps trying, each wait longer, until it is connected again.
    fn maybe_restart(&mut self, now: Instant) -> Vec<Action> {
        let Some(since) = self.ice.down_since else {
            return Vec::new();
        };
        let failed = self.ice.state == Some(Connection::Failed);
        let mut grace = if failed {
            Duration::ZERO
        } else {
            DISCONNECTED_GRACE
        };
        if self.polite {
            grace += POLITE_RESTART_DELAY;
        }
        let due = self.ice.next_at.unwrap_or(since + grace);
        if now < due || now < since + grace {
            return Vec::new();
        }
        self.ice.attempts += 1;
        let backoff = RESTART_BACKOFF
            .saturating_mul(1 << (self.ice.attempts - 1).min(8))
            .min(RESTART_BACKOFF_MAX);
        self.ice.next_at = Some(now + backoff);
        self.restart_on_offer = true;
        self.negotiate()
    }
}

/// The `a=setup:` value of an SDP (the first one; bundled media share one transport).
pub fn sdp_setup(sdp: &str) -> Option<&str> {
    sdp.lines()
        .find_map(|l| l.trim_end().strip_prefix("a=setup:"))
}

/// `sdp` with every `a=setup:` line saying `role`.
pub fn with_setup(sdp: &str, role: &str) -> String {
    let mut out = String::with_capacity(sdp.len());
    for line in sdp.split_inclusive('\n') {
        if line.starts_with("a=setup:") {
            out.push_str("a=setup:");
            out.push_str(role);
            out.push_str("\r\n");
        } else {
            out.push_str(line);
        }
    }
    out
}

/// Lets a keyframe request through at most once per interval: a burst of losses, or of
/// events that each want a fresh picture, makes one request, not one each.
#[derive(Clone, Debug)]
pub struct KeyframeGate {
    interval: Duration,
    last: Option<Instant>,
}

impl KeyframeGate {
    /// A gate that opens at most once per `interval`.
    pub fn new(interval: Duration) -> KeyframeGate {
        KeyframeGate {
            interval,
            last: None,
        }
    }

    /// Whether a request made at `now` goes out.
    pub fn allow(&mut self, now: Instant) -> bool {
        if self.last.is_some_and(|t| now < t + self.interval) {
            return false;
        }
        self.last = Some(now);
        true
    }
}

/// Two negotiations wired back to back, as two peers whose links carry out every action at
/// once: for tests of the state machine on virtual time.
#[cfg(test)]
pub(crate) mod sim {
    use std::collections::VecDeque;

    use super::*;

    /// One side: its state machine, what it sent, and what it did.
    pub struct Side {
        pub n: Negotiation,
        /// Offers and answers sent, not yet delivered.
        pub outbox: VecDeque<Input>,
        /// Every action, in order.
        pub log: Vec<Action>,
        /// Candidates given to the connection.
        pub added: Vec<String>,
        /// Whether a local offer is set (the connection's signaling state).
        pub local_offer: bool,
        /// Makes `SetRemoteOffer` fail, as a garbage SDP would.
        pub reject_offers: bool,
    }

    impl Side {
        pub fn new(local: &str, remote: &str) -> Side {
            Side {
                n: Negotiation::new(local, remote),
                outbox: VecDeque::new(),
                log: Vec::new(),
                added: Vec::new(),
                local_offer: false,
                reject_offers: false,
            }
        }

        /// Feeds one input and carries out what follows, as the link would.
        pub fn feed(&mut self, input: Input, now: Instant) {
            let mut queue: VecDeque<Action> = self.n.handle(input, now).into();
            while let Some(action) = queue.pop_front() {
                self.log.push(action.clone());
                let feedback = match action {
                    Action::MakeOffer => {
                        self.local_offer = true;
                        Some(Input::OfferSet("v=0\r\na=setup:actpass\r\n".into()))
                    }
                    Action::Rollback => {
                        self.local_offer = false;
                        None
                    }
                    Action::SetRemoteOffer(_) if self.reject_offers => {
                        Some(Input::Failed(Step::SetRemoteOffer, "garbage".into()))
                    }
                    Action::SetRemoteOffer(_) => Some(Input::RemoteSet),
                    Action::SetRemoteAnswer(_) => {
                        self.local_offer = false;
                        Some(Input::RemoteSet)
                    }
                    Action::MakeAnswer => {
                        Some(Input::AnswerSet("v=0\r\na=setup:active\r\n".into()))
                    }
                    Action::AddCandidate(c) => {
                        self.added.push(c.candidate);
                        None
                    }
                    Action::SendOffer(sdp) => {
                        self.outbox.push_back(Input::RemoteOffer(sdp));
                        None
                    }
                    Action::SendAnswer(sdp) => {
                        self.outbox.push_back(Input::RemoteAnswer(sdp));
                        None
                    }
                    Action::RestartIce | Action::RequestKeyframe | Action::Report(_) => None,
                };
                if let Some(f) = feedback {
                    queue.extend(self.n.handle(f, now));
                }
            }
        }

        pub fn count(&self, f: impl Fn(&Action) -> bool) -> usize {
            self.log.iter().filter(|a| f(a)).count()
        }
    }

    /// Delivers what each side sent to the other until both are quiet (bounded).
    pub fn settle(a: &mut Side, b: &mut Side, now: Instant) {
        for _ in 0..32 {
            if a.outbox.is_empty() && b.outbox.is_empty() {
                return;
            }
            while let Some(m) = a.outbox.pop_front() {
                b.feed(m, now);
            }
            while let Some(m) = b.outbox.pop_front() {
                a.feed(m, now);
            }
        }
        panic!("negotiation did not settle");
    }
}

#[cfg(test)]
mod tests {
    use super::sim::{settle, Side};
    use super::*;

    fn candidate(n: u32) -> IceCandidate {
        IceCandidate {
            candidate: format!("candidate:{n} 1 udp 1 127.0.0.1 {} typ host", 5000 + n),
            sdp_mid: Some("0".into()),
            sdp_mline_index: Some(0),
            username_fragment: None,
        }
    }

    fn is_offer(a: &Action) -> bool {
        matches!(a, Action::SendOffer(_))
    }

    #[test]
    fn one_offer_one_answer() {
        let now = Instant::now();
        let (mut a, mut b) = (Side::new("a", "b"), Side::new("b", "a"));
        a.feed(Input::Negotiate, now);
        settle(&mut a, &mut b, now);
        assert_eq!(a.n.phase(), Phase::Stable);
        assert_eq!(b.n.phase(), Phase::Stable);
        assert_eq!(b.count(|x| matches!(x, Action::SendAnswer(_))), 1);
        assert_eq!(
            a.count(|x| *x == Action::RequestKeyframe),
            1,
            "after the answer"
        );
    }

    #[test]
    fn glare_the_impolite_offer_wins_and_the_polite_side_rolls_back() {
        let now = Instant::now();
        // "a" sorts lower: polite. Both offer at once.
        let (mut a, mut b) = (Side::new("a", "b"), Side::new("b", "a"));
        assert!(a.n.polite() && !b.n.polite());
        a.feed(Input::Negotiate, now);
        b.feed(Input::Negotiate, now);
        // Both offers cross on the wire.
        let to_b = a.outbox.pop_front().unwrap();
        let to_a = b.outbox.pop_front().unwrap();
        b.feed(to_b, now);
        assert!(
            b.log
                .iter()
                .all(|x| !matches!(x, Action::SetRemoteOffer(_))),
            "impolite ignores"
        );
        assert!(b.outbox.is_empty());
        a.feed(to_a, now);
        let rollback = a
            .log
            .iter()
            .position(|x| *x == Action::Rollback)
            .expect("polite rolls back");
        assert!(matches!(a.log[rollback + 1], Action::SetRemoteOffer(_)));
        // The polite side answers, then offers again what its rolled-back offer carried.
        settle(&mut a, &mut b, now);
        assert_eq!(a.count(|x| matches!(x, Action::SendAnswer(_))), 1);
        assert_eq!(a.count(is_offer), 2);
        assert_eq!(b.count(|x| matches!(x, Action::SendAnswer(_))), 1);
        assert_eq!((a.n.phase(), b.n.phase()), (Phase::Stable, Phase::Stable));
    }

    #[test]
    fn candidates_before_the_remote_description_wait_and_then_apply_in_order() {
        let now = Instant::now();
        let (mut a, mut b) = (Side::new("a", "b"), Side::new("b", "a"));
        // b's candidates reach a before b's offer does.
        b.feed(Input::RemoteCandidate(candidate(9)), now); // stray: also queued on b
        a.feed(Input::RemoteCandidate(candidate(1)), now);
        a.feed(Input::RemoteCandidate(candidate(2)), now);
        assert!(a.added.is_empty());
        b.feed(Input::Negotiate, now);
        settle(&mut a, &mut b, now);
        assert_eq!(a.added.len(), 2);
        assert!(a.added[0].starts_with("candidate:1 "));
        assert!(a.added[1].starts_with("candidate:2 "));
        // Before the answer the candidate that came early to b waited too; now it is applied.
        assert_eq!(b.added.len(), 1);
        // Later candidates go straight in.
        a.feed(Input::RemoteCandidate(candidate(3)), now);
        assert_eq!(a.added.len(), 3);
    }

    #[test]
    fn candidates_of_an_ignored_offer_may_fail_quietly() {
        let now = Instant::now();
        let mut b = Side::new("b", "a");
        b.feed(Input::Negotiate, now);
        b.feed(Input::RemoteOffer("v=0\r\n".into()), now);
        let actions =
            b.n.handle(Input::Failed(Step::AddCandidate, "ufrag".into()), now);
        assert!(actions.is_empty());
        let mut a = Side::new("a", "b");
        a.feed(Input::Negotiate, now);
        let actions =
            a.n.handle(Input::Failed(Step::AddCandidate, "ufrag".into()), now);
        assert!(matches!(
            actions[..],
            [Action::Report(Problem::BadCandidate(_))]
        ));
    }

    #[test]
    fn a_garbage_offer_is_reported_and_negotiation_goes_on() {
        let now = Instant::now();
        let (mut a, mut b) = (Side::new("a", "b"), Side::new("b", "a"));
        b.reject_offers = true;
        a.feed(Input::Negotiate, now);
        settle(&mut a, &mut b, now);
        assert_eq!(
            b.count(|x| matches!(x, Action::Report(Problem::BadOffer(_)))),
            1
        );
        assert_eq!(b.n.phase(), Phase::Stable);
        // b can still offer itself.
        b.reject_offers = false;
        b.feed(Input::Negotiate, now);
        settle(&mut a, &mut b, now);
        assert_eq!(a.count(|x| matches!(x, Action::SendAnswer(_))), 1);
    }

    #[test]
    fn an_answer_with_no_offer_out_is_reported() {
        let now = Instant::now();
        let mut a = Side::new("a", "b");
        a.feed(Input::RemoteAnswer("v=0\r\n".into()), now);
        assert_eq!(a.log, vec![Action::Report(Problem::UnexpectedAnswer)]);
    }

    #[test]
    fn a_negotiation_asked_for_mid_exchange_follows_it() {
        let now = Instant::now();
        let (mut a, mut b) = (Side::new("a", "b"), Side::new("b", "a"));
        a.feed(Input::Negotiate, now);
        a.feed(Input::Negotiate, now); // a screen share starts while the first is out
        assert_eq!(a.count(is_offer), 1);
        settle(&mut a, &mut b, now);
        assert_eq!(a.count(is_offer), 2);
        assert_eq!(a.n.phase(), Phase::Stable);
    }

    #[test]
    fn later_answers_keep_the_dtls_role_the_first_exchange_fixed() {
        let now = Instant::now();
        let mut n = Negotiation::new("b", "a");
        // First exchange: we answered passive (DTLS server).
        n.handle(Input::RemoteOffer("o".into()), now);
        n.handle(Input::RemoteSet, now);
        let first = n.handle(Input::AnswerSet("v=0\r\na=setup:passive\r\n".into()), now);
        assert_eq!(
            first,
            vec![Action::SendAnswer("v=0\r\na=setup:passive\r\n".into())]
        );
        // A re-offer: 0.21 answers active; what we send still says passive.
        n.handle(Input::RemoteOffer("o2".into()), now);
        n.handle(Input::RemoteSet, now);
        let answer = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=setup:active\r\n\
                      m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=setup:active\r\n";
        let second = n.handle(Input::AnswerSet(answer.into()), now);
        let Action::SendAnswer(sent) = &second[0] else {
            panic!("{second:?}")
        };
        assert_eq!(sent.matches("a=setup:passive\r\n").count(), 2);
        assert!(!sent.contains("active"));
        assert_eq!(sdp_setup("v=0\r\n"), None);
    }

    fn restarts(s: &Side) -> usize {
        s.count(|x| *x == Action::RestartIce)
    }

    #[test]
    fn ice_restarts_after_a_disconnect_lasts_and_retries_with_backoff() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let (mut a, mut b) = (Side::new("a", "b"), Side::new("b", "a"));
        b.feed(Input::Negotiate, t0);
        settle(&mut a, &mut b, t0);
        b.feed(Input::Connection(Connection::Connected), t0);
        // A short blip heals by itself: no restart.
        b.feed(Input::Connection(Connection::Disconnected), at(1_000));
        b.feed(Input::Tick, at(2_000));
        b.feed(Input::Connection(Connection::Connected), at(2_500));
        b.feed(Input::Tick, at(6_000));
        assert_eq!(restarts(&b), 0);
        // A real cut: after the grace the impolite side restarts ICE with a new offer.
        b.feed(Input::Connection(Connection::Disconnected), at(10_000));
        b.feed(Input::Tick, at(12_000));
        assert_eq!(restarts(&b), 0);
        b.feed(Input::Tick, at(13_000));
        assert_eq!(restarts(&b), 1);
        assert!(b
            .log
            .windows(2)
            .any(|w| w == [Action::RestartIce, Action::MakeOffer]));
        assert!(matches!(b.outbox.back(), Some(Input::RemoteOffer(_))));
        settle(&mut a, &mut b, at(13_000));
        // Still down: retried after 2 s, then 4 s, then every 5 s, without end.
        b.feed(Input::Connection(Connection::Failed), at(14_000));
        assert_eq!(restarts(&b), 1, "the backoff holds even on failed");
        for (ms, want) in [
            (14_900, 1),
            (15_000, 2),
            (18_900, 2),
            (19_000, 3),
            (24_000, 4),
            (29_000, 5),
        ] {
            b.feed(Input::Tick, at(ms));
            settle(&mut a, &mut b, at(ms));
            assert_eq!(restarts(&b), want, "at {ms} ms");
        }
        assert!(b.n.recovering());
        assert_eq!(b.n.restart_attempts(), 5);
        // Media flows again: the count resets, and a keyframe is asked for.
        let before = b.count(|x| *x == Action::RequestKeyframe);
        b.feed(Input::Connection(Connection::Connected), at(30_000));
        assert_eq!(b.count(|x| *x == Action::RequestKeyframe), before + 1);
        assert!(!b.n.recovering());
        b.feed(Input::Tick, at(60_000));
        assert_eq!(restarts(&b), 5);
    }

    #[test]
    fn a_failed_connection_restarts_at_once_and_the_polite_side_waits_longer() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut b = Side::new("b", "a");
        b.feed(Input::Connection(Connection::Failed), t0);
        assert_eq!(restarts(&b), 1);
        let mut a = Side::new("a", "b");
        a.feed(Input::Connection(Connection::Failed), t0);
        assert_eq!(restarts(&a), 0);
        a.feed(Input::Tick, at(POLITE_RESTART_DELAY.as_millis() as u64));
        assert_eq!(restarts(&a), 1);
    }

    #[test]
    fn a_restart_due_mid_exchange_waits_for_it() {
        let t0 = Instant::now();
        let (mut a, mut b) = (Side::new("a", "b"), Side::new("b", "a"));
        b.feed(Input::Negotiate, t0);
        // The offer is out, unanswered, when the connection fails.
        b.feed(Input::Connection(Connection::Failed), t0);
        assert_eq!(restarts(&b), 0);
        assert_eq!(b.count(is_offer), 1);
        settle(&mut a, &mut b, t0);
        // Once the answer is in, the restart offer follows.
        assert_eq!(restarts(&b), 1);
        assert_eq!(b.count(is_offer), 2);
    }

    #[test]
    fn glare_between_two_ice_restarts_settles() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let (mut a, mut b) = (Side::new("a", "b"), Side::new("b", "a"));
        b.feed(Input::Negotiate, t0);
        settle(&mut a, &mut b, t0);
        a.feed(Input::Connection(Connection::Failed), t0);
        b.feed(Input::Connection(Connection::Failed), t0);
        a.feed(Input::Tick, at(5_000));
        // Both offered a restart; the polite side rolls back and answers, then restarts
        // itself only if the connection is still down.
        settle(&mut a, &mut b, at(5_000));
        assert_eq!((a.n.phase(), b.n.phase()), (Phase::Stable, Phase::Stable));
        assert!(a.count(|x| *x == Action::Rollback) <= 1);
    }

    #[test]
    fn keyframe_requests_are_debounced() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut gate = KeyframeGate::new(Duration::from_millis(500));
        let allowed: Vec<u64> = [0, 10, 100, 499, 500, 501, 900, 1_001, 2_000]
            .into_iter()
            .filter(|&ms| gate.allow(at(ms)))
            .collect();
        assert_eq!(allowed, vec![0, 500, 1_001, 2_000]);
    }
}
