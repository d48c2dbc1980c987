//! Sequence numbers as both jitter buffers count them: 16 bits on the wire, a growing count
//! in the buffer, so that ordering survives the wrap.

/// A sequence jump this large is a new stream (a restarted sender), not loss.
pub(super) const SEQ_RESTART: i64 = 3000;

/// Unwraps 16-bit sequence numbers into a growing count, relative to the highest seen.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Unwrapper {
    highest: Option<i64>,
}

impl Unwrapper {
    pub(super) fn unwrap(&mut self, seq: u16) -> i64 {
        let ext = match self.highest {
            None => i64::from(seq),
            Some(h) => {
                let delta = i64::from(seq.wrapping_sub(h as u16) as i16);
                h + delta
            }
        };
        self.highest = Some(self.highest.map_or(ext, |h| h.max(ext)));
        ext
    }
}
