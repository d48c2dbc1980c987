//! Local media: each source runs on its own thread with its own encoder, shared by every
//! peer connection. Encoded samples go out on a broadcast channel; each link's writer task
//! subscribes. A lagging subscriber skips ahead (latest wins) instead of queueing.
//!
//! - [`control`]: what a pump shares with the mesh ([`PumpControl`]) and its handle
//!   ([`Pump`]).
//! - [`video`] and [`audio`]: the two pump threads.
//! - [`ladder`]: the pure rules that fit video to its bitrate.

mod audio;
mod control;
mod ladder;
mod video;

pub use audio::start_audio;
pub use control::{EncodedSample, Pump, PumpControl};
pub use ladder::{frame_stride, half_size, FrameDropper, Ladder, Rung};
pub use video::{mirror, start_video};
