//! Jitter buffers for received media, as plain state machines: packets and the time go in,
//! what to decode comes out. No clock, no socket.
//!
//! - [`VideoJitter`] orders H.264 RTP packets by sequence number and hands out complete
//!   pictures. A missing packet is waited for (NACKs bring retransmissions) for a time derived
//!   from the round trip; only when it cannot come in time is the picture given up, and then
//!   nothing is shown until a keyframe, which the owner asks for.
//! - [`AudioJitter`] plays Opus packets out on a steady 20 ms clock, a little behind their
//!   arrival. A lost packet is rebuilt from the next packet's in-band FEC when that has
//!   arrived, and concealed otherwise; the depth grows when packets come late and shrinks
//!   again in silence.

mod audio;
mod sequence;
mod video;

pub use audio::{
    AudioJitter, AudioJitterStats, AudioSlot, RecentConcealment, AUDIO_FRAME, MAX_AUDIO_DEPTH,
    MIN_AUDIO_DEPTH,
};
pub use video::{
    carries_keyframe, starts_keyframe, VideoJitter, VideoJitterStats, VideoUnit, MAX_VIDEO_WAIT,
    MIN_VIDEO_WAIT, NACK_INTERVAL,
};

#[cfg(test)]
mod tests;
