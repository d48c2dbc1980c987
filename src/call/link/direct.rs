//! Driving one link by hand, without a mesh: make an offer, take an answer, add candidates.
//! The integration tests of a single link and tools that pair two links in one process use
//! these; the mesh feeds [`PeerLink::handle`] directly.

use std::time::Instant;

use termmeet_signaling::protocol::IceCandidate;

use super::{LinkError, LinkOutput, LinkResult, PeerLink};
use crate::call::negotiation::Input;

impl PeerLink {
    /// Makes and sets an offer; returns its SDP to send (for tests that drive links alone).
    pub async fn make_offer(&mut self) -> LinkResult<String> {
        let out = self.handle(Input::Negotiate, Instant::now()).await;
        one_of(out, |o| match o {
            LinkOutput::Offer(sdp) => Some(sdp),
            _ => None,
        })
        .map(|sdp| sdp.unwrap_or_default())
    }

    /// Handles a remote offer; returns the answer's SDP, or `None` when the offer was ignored
    /// (we are impolite and collided).
    pub async fn on_offer(&mut self, sdp: String) -> LinkResult<Option<String>> {
        let out = self.handle(Input::RemoteOffer(sdp), Instant::now()).await;
        one_of(out, |o| match o {
            LinkOutput::Answer(sdp) => Some(sdp),
            _ => None,
        })
    }

    /// Handles the remote's answer.
    pub async fn on_answer(&mut self, sdp: String) -> LinkResult<()> {
        let out = self.handle(Input::RemoteAnswer(sdp), Instant::now()).await;
        one_of(out, |_| None::<()>).map(|_| ())
    }

    /// Handles a remote candidate: applied now, or queued until the remote description.
    pub async fn on_candidate(&mut self, candidate: Option<IceCandidate>) -> LinkResult<()> {
        let Some(c) = candidate else { return Ok(()) };
        let out = self.handle(Input::RemoteCandidate(c), Instant::now()).await;
        one_of(out, |_| None::<()>).map(|_| ())
    }
}

/// The first output `pick` takes, or the first problem as an error.
fn one_of<T>(
    out: Vec<LinkOutput>,
    pick: impl Fn(LinkOutput) -> Option<T>,
) -> LinkResult<Option<T>> {
    let mut found = None;
    for o in out {
        if let LinkOutput::Problem(p) = o {
            return Err(LinkError::Negotiation(p));
        }
        if found.is_none() {
            found = pick(o);
        }
    }
    Ok(found)
}
