//! What a link reports: every webrtc-rs callback, and every event of its `term` channel,
//! forwarded into the owner's channel as a [`LinkEvent`], nothing more; and how those
//! states read in the meeting state's own terms.

use std::sync::Arc;

use termmeet_signaling::protocol::IceCandidate;
use tokio::sync::mpsc;
use webrtc::data_channel::{DataChannel, DataChannelEvent};
use webrtc::media_stream::track_remote::TrackRemote;
use webrtc::peer_connection::{
    PeerConnectionEventHandler, RTCIceConnectionState, RTCPeerConnectionIceEvent,
    RTCPeerConnectionState,
};

use crate::call::negotiation::Connection;
use crate::call::peer::{IceState, LinkState};

/// What a link reports.
pub enum LinkEvent {
    /// A local ICE candidate to send to the remote.
    Candidate(IceCandidate),
    /// The connection state changed.
    State(RTCPeerConnectionState),
    /// The ICE connection state changed (checking, connected …), for progress shown to users.
    Ice(RTCIceConnectionState),
    /// A remote track arrived.
    Track(Arc<dyn TrackRemote>),
    /// Renegotiation is needed (a track was added or removed).
    NegotiationNeeded,
    /// The `term` data channel opened, carried a message, or closed.
    Term(TermEvent),
}

/// What happened on a link's `term` data channel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TermEvent {
    /// It opened: screens can be sent.
    Open,
    /// A message arrived.
    Message(Vec<u8>),
    /// It closed.
    Closed,
}

/// The `term` channel's label.
pub const TERM_LABEL: &str = "term";
/// The `term` channel's SCTP stream: negotiated out of band (both ends create it with this
/// id before their first offer), so it exists whoever offers first and needs no DCEP.
pub const TERM_STREAM: u16 = 0;

/// Forwards webrtc-rs callbacks into a channel.
pub(super) struct Forwarder {
    pub(super) peer: String,
    pub(super) events: mpsc::UnboundedSender<(String, LinkEvent)>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Forwarder {
    async fn on_ice_candidate(&self, event: RTCPeerConnectionIceEvent) {
        if let Ok(init) = event.candidate.to_json() {
            let c = IceCandidate {
                candidate: init.candidate,
                sdp_mid: init.sdp_mid,
                sdp_mline_index: init.sdp_mline_index,
                username_fragment: init.username_fragment,
            };
            let _ = self
                .events
                .send((self.peer.clone(), LinkEvent::Candidate(c)));
        }
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        let _ = self
            .events
            .send((self.peer.clone(), LinkEvent::State(state)));
    }

    async fn on_ice_connection_state_change(&self, state: RTCIceConnectionState) {
        let _ = self.events.send((self.peer.clone(), LinkEvent::Ice(state)));
    }

    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        let _ = self
            .events
            .send((self.peer.clone(), LinkEvent::Track(track)));
    }

    async fn on_negotiation_needed(&self) {
        let _ = self
            .events
            .send((self.peer.clone(), LinkEvent::NegotiationNeeded));
    }
}

/// The negotiation's view of a connection state.
pub fn connection_of(state: RTCPeerConnectionState) -> Connection {
    connection_of_state(link_state_of(state))
}

/// The negotiation's view of a link's state.
pub fn connection_of_state(state: LinkState) -> Connection {
    match state {
        LinkState::Connected => Connection::Connected,
        LinkState::Disconnected => Connection::Disconnected,
        LinkState::Failed => Connection::Failed,
        LinkState::Closed => Connection::Closed,
        LinkState::New | LinkState::Connecting => Connection::Connecting,
    }
}

/// A peer connection's state as the meeting state keeps it.
pub fn link_state_of(state: RTCPeerConnectionState) -> LinkState {
    match state {
        RTCPeerConnectionState::Unspecified | RTCPeerConnectionState::New => LinkState::New,
        RTCPeerConnectionState::Connecting => LinkState::Connecting,
        RTCPeerConnectionState::Connected => LinkState::Connected,
        RTCPeerConnectionState::Disconnected => LinkState::Disconnected,
        RTCPeerConnectionState::Failed => LinkState::Failed,
        RTCPeerConnectionState::Closed => LinkState::Closed,
        _ => LinkState::New,
    }
}

/// An ICE transport's state as the meeting state keeps it.
pub fn ice_state_of(state: RTCIceConnectionState) -> IceState {
    match state {
        RTCIceConnectionState::Unspecified | RTCIceConnectionState::New => IceState::New,
        RTCIceConnectionState::Checking => IceState::Checking,
        RTCIceConnectionState::Connected => IceState::Connected,
        RTCIceConnectionState::Completed => IceState::Completed,
        RTCIceConnectionState::Disconnected => IceState::Disconnected,
        RTCIceConnectionState::Failed => IceState::Failed,
        RTCIceConnectionState::Closed => IceState::Closed,
        _ => IceState::New,
    }
}

/// Turns the `term` channel's events into link events until it closes.
pub(super) async fn forward_term(
    channel: Arc<dyn DataChannel>,
    peer: String,
    events: mpsc::UnboundedSender<(String, LinkEvent)>,
) {
    while let Some(event) = channel.poll().await {
        let event = match event {
            DataChannelEvent::OnOpen => TermEvent::Open,
            DataChannelEvent::OnMessage(m) => TermEvent::Message(m.data.to_vec()),
            DataChannelEvent::OnClose => TermEvent::Closed,
            _ => continue,
        };
        let closed = event == TermEvent::Closed;
        if events.send((peer.clone(), LinkEvent::Term(event))).is_err() || closed {
            break;
        }
    }
}
