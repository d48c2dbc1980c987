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

impl Problem {
    /// The problem as said of the participant called `name` ("bad offer from bob: …").
    pub fn of(&self, name: &str) -> String {
        match self {
            Problem::BadOffer(e) => format!("bad offer from {name}: {e}"),
            Problem::BadAnswer(e) => format!("bad answer from {name}: {e}"),
            Problem::UnexpectedAnswer => format!("an answer from {name}, to whom no offer was out"),
            Problem::BadCandidate(e) => format!("bad candidate from {name}: {e}"),
            Problem::Offer(e) => format!("cannot make an offer to {name}: {e}"),
            Problem::Answer(e) => format!("cannot answer {name}: {e}"),
            Problem::Restart(e) => format!("cannot restart ICE with {name}: {e}"),
        }
    }
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

#[cfg(test)]
mod tests;
