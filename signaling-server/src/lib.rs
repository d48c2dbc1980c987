//! termmeet's signaling server and the wire protocol it speaks.
//!
//! The protocol types ([`protocol`]) are shared with the terminal client, so each message is
//! defined once. [`run`] serves rooms on a listener until a shutdown future completes;
//! the `termmeet-signaling` binary only parses flags and calls it.

pub mod cluster;
pub mod config;
pub mod config_file;
mod conn;
pub mod docs;
pub mod duration;
mod hub;
pub mod limits;
pub mod loadgen;
pub mod metrics;
pub mod protocol;
mod ratelimit;
pub mod sanitize;
mod server;
pub mod sfu;
mod shared;
pub mod tls;
pub mod token;
pub mod turn;

pub use axum::Router;
pub use config::{ServeArgs, ServerConfig};
pub use hub::RoomSummary;
pub use server::{
    build, origin_allowed, run, serve, spawn, spawn_loopback, EmbeddedServer, ServerHandle,
    SERVER_HEADER,
};
