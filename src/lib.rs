//! termmeet: video meetings in a terminal.
//!
//! The crate is layered as `DESIGN.md` describes: [`media`] (sources, codecs, playback) and
//! [`render`] (frames to half-block cells) know nothing of peers or the UI; [`play`] drives
//! them to play a clip in the terminal.

pub mod app;
pub mod call;
pub mod config;
pub mod headless;
pub mod media;
pub mod play;
pub mod remote;
pub mod render;
pub mod session;
pub mod signaling;
pub mod term;
pub mod tls;
pub mod ttylink;
pub mod tui;
pub mod ui;
