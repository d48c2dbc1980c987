//! `termmeet headless`: the meeting client with no UI, following a script (`docs/script.md`).

pub mod bench;
pub mod runner;
pub mod script;
