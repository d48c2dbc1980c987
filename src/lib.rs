//! termmeet: video meetings in a terminal.
//!
//! The crate is layered as `docs/design.md` describes: [`media`] (sources, codecs, playback) and
//! [`render`] (frames to half-block cells) know nothing of peers or the UI; [`play`] drives
//! them to play a clip in the terminal.

pub mod app;
pub mod call;
pub mod commands;
pub mod config;
pub mod headless;
pub mod media;
pub mod play;
pub mod remote;
pub mod render;
pub mod session;
pub mod share;
pub mod signaling;
pub mod sync;
pub mod term;
pub mod termcaps;
pub mod text;
pub mod tls;
pub mod ttylink;
pub mod tui;
pub mod ui;

/// An environment made of `pairs`, for tests of code that reads the environment through a
/// lookup function.
#[cfg(test)]
pub(crate) fn test_env<'a, S: AsRef<str>>(
    pairs: &'a [(&'a str, S)],
) -> impl Fn(&str) -> Option<String> + 'a {
    move |k| {
        pairs
            .iter()
            .find(|(n, _)| *n == k)
            .map(|(_, v)| v.as_ref().to_string())
    }
}
