//! The signaling server's integration tests, one module per area, in one binary so the
//! crate is linked once rather than once per file.

mod common;

mod access;
mod bad_input;
mod cluster;
mod fuzz;
mod rooms;
mod sessions;
mod tokens;
