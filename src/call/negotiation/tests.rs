//! Tests of the negotiation state machine: two sides wired back to back on virtual time.

use self::sim::{settle, Side};
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

/// Two negotiations wired back to back, as two peers whose links carry out every action at
/// once: for tests of the state machine on virtual time.
mod sim {
    use std::collections::VecDeque;

    use super::super::*;

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
