//! The call: one WebRTC peer connection per remote participant, and the mesh that drives
//! them. Policy lives in plain state machines and functions that take the time as an
//! argument ([`negotiation`], [`stats`], [`state`]); [`link`] and [`mesh`] carry their
//! decisions out.

pub mod codec;
pub mod congestion;
mod driver;
pub mod jitter;
pub mod link;
pub mod local;
pub mod mesh;
pub mod negotiation;
pub mod pacer;
pub mod receive;
pub mod rtcp;
pub mod sas;
pub mod state;
pub mod stats;
mod termshare;
pub mod tracks;
