//! Shared terminals through the signaling server, for rooms on the SFU (Janus relays no
//! `term` channel of ours; `docs/protocol.md`, "Shared terminals through the SFU", says
//! why this path).
//!
//! The sharer's screen goes to the room as one stream of `term` messages, in the channel's
//! own format, numbered by `seq`: the server fans each one out, so a change is sent once
//! whatever the room's size. A viewer that comes in mid-stream (a late joiner, a gap after
//! an outage of its own, a stream it could not read) asks the sharer with `sync` for a new
//! stream, which starts at `seq` 0 with a full screen. Keys go to the sharer alone, each
//! message a stream of its own (keys are few, and so none depends on an earlier one).

use std::time::{Duration, Instant};

use base64::Engine;
use termmeet_signaling::protocol::{ClientMessage, MAX_TERM_DATA};

use crate::share::wire::{pieces, Decoder, Encoder};
use crate::share::TermScreen;

/// The room's stream sends at most this often (the server allows 50 messages a second).
pub const ROOM_BATCH: Duration = Duration::from_millis(50);
/// A sharer starts a new stream at most this often, however many ask.
const RESTART_GAP: Duration = Duration::from_millis(500);
/// A viewer asks a sharer for a new stream at most this often.
const SYNC_GAP: Duration = Duration::from_secs(2);
/// The most bytes of a stream one message carries, with its version byte (its base64 fits
/// the server's limit).
const PIECE: usize = MAX_TERM_DATA / 4 * 3;

fn encode(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A stream message (a version byte and a DEFLATE chunk) in pieces, each with the version
/// byte, as `term` messages numbered on from `seq`.
fn numbered(message: &[u8], seq: &mut u64) -> Vec<ClientMessage> {
    pieces(message, PIECE)
        .map(|m| {
            let out = ClientMessage::Term {
                to: None,
                seq: Some(*seq),
                data: Some(encode(&m)),
                sync: false,
            };
            *seq += 1;
            out
        })
        .collect()
}

/// Keys for the terminal `peer` shares, as one `term` message of their own.
pub fn keys(peer: &str, bytes: &[u8]) -> ClientMessage {
    ClientMessage::Term {
        to: Some(peer.to_string()),
        seq: None,
        data: Some(encode(&Encoder::new().input(bytes))),
        sync: false,
    }
}

/// Our share's stream to the room.
#[derive(Default)]
pub struct RoomStream {
    /// `None`: the next screen starts a new stream.
    out: Option<Encoder>,
    /// The next message's number.
    seq: u64,
    /// When the current stream started.
    started: Option<Instant>,
    /// Someone asked for a new stream.
    restart: bool,
    last_sent: Option<Instant>,
}

impl RoomStream {
    /// Someone came in mid-stream: a new stream starts soon (at most every [`RESTART_GAP`]).
    pub fn restart(&mut self) {
        self.restart = true;
    }

    /// The messages that bring the room to `screen` with `holder` in control, when a batch
    /// is due; none when nothing changed.
    pub fn screen(
        &mut self,
        screen: &std::sync::Arc<TermScreen>,
        holder: Option<&str>,
        now: Instant,
    ) -> Vec<ClientMessage> {
        if self.last_sent.is_some_and(|t| now < t + ROOM_BATCH) {
            return Vec::new();
        }
        let restart_due = self.restart && self.started.is_none_or(|t| now >= t + RESTART_GAP);
        if restart_due || self.out.is_none() {
            self.out = Some(Encoder::new());
            self.seq = 0;
            self.started = Some(now);
            self.restart = false;
        }
        let Some(out) = self.out.as_mut() else {
            return Vec::new();
        };
        let Some(message) = out.screen(screen, holder, now) else {
            return Vec::new();
        };
        self.last_sent = Some(now);
        numbered(&message, &mut self.seq)
    }

    /// The messages that say the share stopped; a later share starts a new stream.
    pub fn end(&mut self) -> Vec<ClientMessage> {
        let Some(mut out) = self.out.take() else {
            return Vec::new();
        };
        numbered(&out.end(), &mut self.seq)
    }
}

/// One sharer's stream as we receive it.
pub struct Incoming {
    pub decoder: Decoder,
    /// The number the next message must have; `None` until a stream starts.
    next: Option<u64>,
    /// When we last asked for a new stream.
    asked: Option<Instant>,
    /// Whether a broken stream was reported.
    pub reported: bool,
}

/// What to do with a message of a sharer's stream.
pub enum Take {
    /// Feed it to [`Incoming::decoder`].
    Feed(Vec<u8>),
    /// It cannot be followed: ask the sharer for a new stream (when `Some`), and drop it.
    Skip(Option<ClientMessage>),
}

impl Default for Incoming {
    fn default() -> Incoming {
        Incoming::new()
    }
}

impl Incoming {
    pub fn new() -> Incoming {
        Incoming {
            decoder: Decoder::new(),
            next: None,
            asked: None,
            reported: false,
        }
    }

    /// Message `seq` of `from`'s stream, its `data` as sent.
    pub fn take(&mut self, from: &str, seq: u64, data: &str, now: Instant) -> Take {
        let bytes = base64::engine::general_purpose::STANDARD.decode(data);
        match bytes {
            Ok(bytes) if seq == 0 => {
                self.decoder = Decoder::new();
                self.reported = false;
                self.next = Some(1);
                Take::Feed(bytes)
            }
            Ok(bytes) if self.next == Some(seq) => {
                self.next = Some(seq + 1);
                Take::Feed(bytes)
            }
            _ => {
                self.next = None;
                Take::Skip(self.ask(from, now))
            }
        }
    }

    /// The stream broke: it is dropped until the next, asked for.
    pub fn broken(&mut self, from: &str, now: Instant) -> Option<ClientMessage> {
        self.next = None;
        self.ask(from, now)
    }

    /// `sync` for `from`, at most every [`SYNC_GAP`].
    fn ask(&mut self, from: &str, now: Instant) -> Option<ClientMessage> {
        if self.asked.is_some_and(|t| now < t + SYNC_GAP) {
            return None;
        }
        self.asked = Some(now);
        Some(ClientMessage::Term {
            to: Some(from.to_string()),
            seq: None,
            data: None,
            sync: true,
        })
    }
}

/// Keys a peer sent for our terminal: their one message read on its own.
pub fn read_keys(data: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::STANDARD.decode(data).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::share::wire::Received;
    use std::sync::Arc;

    fn screen_with(text: &str) -> Arc<TermScreen> {
        let mut p = vt100::Parser::new(3, 20, 0);
        p.process(text.as_bytes());
        Arc::new(TermScreen::from_vt(p.screen(), "t"))
    }

    fn data(m: &ClientMessage) -> (u64, String) {
        match m {
            ClientMessage::Term {
                seq: Some(seq),
                data: Some(d),
                ..
            } => (*seq, d.clone()),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_late_viewer_asks_for_a_new_stream_and_follows_it() {
        let t0 = Instant::now();
        let mut stream = RoomStream::default();
        let first = stream.screen(&screen_with("one"), None, t0);
        assert_eq!(data(&first[0]).0, 0);
        let second = stream.screen(&screen_with("two"), None, t0 + ROOM_BATCH);
        let (seq, d) = data(&second[0]);
        assert_eq!(seq, 1);
        // Too soon after the last: nothing.
        assert!(stream
            .screen(&screen_with("three"), None, t0 + ROOM_BATCH)
            .is_empty());

        // A viewer who missed message 0 asks once, and once only within SYNC_GAP.
        let mut late = Incoming::new();
        assert!(matches!(
            late.take("ada", seq, &d, t0),
            Take::Skip(Some(ClientMessage::Term { sync: true, .. }))
        ));
        assert!(matches!(late.take("ada", seq, &d, t0), Take::Skip(None)));

        stream.restart();
        let restarted = stream.screen(&screen_with("four"), None, t0 + RESTART_GAP);
        let (seq, d) = data(&restarted[0]);
        assert_eq!(seq, 0, "a new stream");
        let Take::Feed(bytes) = late.take("ada", seq, &d, t0) else {
            panic!("the new stream is followed");
        };
        let got = late.decoder.feed(&bytes).expect("a whole screen");
        assert!(matches!(got[..], [Received::Screen]));
        assert!(late.decoder.screen().unwrap().contains("four"));

        let next = stream.screen(&screen_with("five"), None, t0 + RESTART_GAP * 2);
        let (seq, d) = data(&next[0]);
        assert_eq!(seq, 1);
        let Take::Feed(bytes) = late.take("ada", seq, &d, t0) else {
            panic!("the next message follows");
        };
        late.decoder.feed(&bytes).expect("rows");
        assert!(late.decoder.screen().unwrap().contains("five"));

        let end = stream.end();
        let (seq, d) = data(&end[0]);
        let Take::Feed(bytes) = late.take("ada", seq, &d, t0) else {
            panic!("the end follows");
        };
        assert!(matches!(
            late.decoder.feed(&bytes).unwrap()[..],
            [Received::Ended]
        ));
    }

    #[test]
    fn bad_base64_is_skipped_not_fed_and_keys_stand_alone() {
        let mut viewer = Incoming::new();
        assert!(matches!(
            viewer.take("ada", 0, "not base64!", Instant::now()),
            Take::Skip(Some(_))
        ));
        let ClientMessage::Term { data: Some(d), .. } = keys("ada", b"ls\r") else {
            panic!()
        };
        let bytes = read_keys(&d).unwrap();
        let got = Decoder::new().feed(&bytes).unwrap();
        assert!(matches!(&got[..], [Received::Input(k)] if k == b"ls\r"));
    }
}
