//! Terminal sharing as text: a program in a pseudo-terminal on the sharer's machine
//! ([`host`]), its screen as cells ([`screen`]), the `term` data channel's format
//! ([`wire`]) and the keys a viewer in control types ([`keys`]). Nothing here knows of peers
//! or draws; `call` carries the messages and `ui` draws the screens.

pub mod host;
pub mod keys;
pub mod screen;
pub mod wire;

pub use host::{TerminalHost, TerminalSpec};
pub use screen::TermScreen;
