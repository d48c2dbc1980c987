//! The call: one WebRTC peer connection per remote participant, and the mesh that drives
//! them. Policy lives in plain state machines and functions that take the time as an
//! argument ([`negotiation`], [`health`], [`stats`], [`state`]); [`link`] and the driver
//! behind [`mesh`] carry their decisions out. The driver is the meeting state's one owner
//! ([`meeting`]); receivers hand it what they decode over a channel ([`inbound`]).

pub mod codec;
pub mod command;
pub mod congestion;
mod driver;
pub mod error;
pub mod estimate;
pub mod health;
pub mod ice;
pub mod inbound;
pub mod jitter;
pub mod link;
pub mod local;
pub mod meeting;
pub mod mesh;
pub mod negotiation;
pub mod pacer;
pub mod peer;
pub mod receive;
pub mod rtcp;
pub mod sas;
pub mod setup;
pub mod state;
pub mod stats;
pub mod termroom;
mod termshare;
pub mod tracks;
pub mod voices;
