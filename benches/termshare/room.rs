//! The same sessions through the signaling server, as a room on the SFU carries a shared
//! terminal (`term` messages, protocol 1.3): the sharer's stream batched every 50 ms, each
//! message base64 in a JSON text frame, which the server sends to every viewer.

use std::sync::Arc;
use std::time::{Duration, Instant};

use termmeet::call::termroom::{Incoming, RoomStream, Take};
use termmeet::share::TermScreen;
use termmeet_signaling::protocol::{ClientMessage, ServerMessage};

use super::{Cast, SIZE};

/// Estimated bytes each WebSocket message adds on the wire to a viewer: the frame header
/// (4), a TLS record (22), TCP and IPv4 (40), a share of the ACKs (8).
const FRAME_OVERHEAD: usize = 74;

/// What one replay through the server came to.
pub struct RoomReplay {
    pub seconds: f64,
    /// The JSON text a viewer receives.
    pub frame_bytes: usize,
    pub messages: usize,
    pub mismatches: usize,
    pub last_equal: bool,
}

/// Replays `cast` through a [`RoomStream`] and a viewer following it with [`Incoming`].
pub fn replay_room(cast: &Cast) -> RoomReplay {
    let mut parser = vt100::Parser::new(SIZE.1, SIZE.0, 0);
    let mut stream = RoomStream::default();
    let mut viewer = Incoming::new();
    let base = Instant::now();
    let end = cast.events.last().map(|e| e.0).unwrap_or(0.0);
    let (mut next, mut now) = (0, 0.0);
    let mut out = RoomReplay {
        seconds: end,
        frame_bytes: 0,
        messages: 0,
        mismatches: 0,
        last_equal: false,
    };
    let mut screen = Arc::new(TermScreen::from_vt(parser.screen(), ""));
    let mut changed = true;
    while now <= end + 1.0 {
        while next < cast.events.len() && cast.events[next].0 <= now {
            parser.process(&cast.events[next].1);
            changed = true;
            next += 1;
        }
        if changed {
            screen = Arc::new(TermScreen::from_vt(parser.screen(), ""));
            changed = false;
        }
        let at = base + Duration::from_secs_f64(now);
        let sent = stream.screen(&screen, None, at);
        for m in &sent {
            let ClientMessage::Term { seq, data, .. } = m.clone() else {
                continue;
            };
            let relayed = ServerMessage::Term {
                from: "5e2f9a01c3d4b7e8".into(),
                seq,
                data: data.clone(),
                sync: false,
            };
            out.frame_bytes += relayed.to_json().len();
            out.messages += 1;
            let (Some(seq), Some(data)) = (seq, data) else {
                continue;
            };
            if let Take::Feed(bytes) = viewer.take("5e2f9a01c3d4b7e8", seq, &data, at) {
                viewer
                    .decoder
                    .feed(&bytes)
                    .expect("the viewer reads what the sharer sends");
            }
        }
        if !sent.is_empty() && viewer.decoder.screen() != Some(&*screen) {
            out.mismatches += 1;
        }
        now += 0.010;
    }
    out.last_equal = viewer.decoder.screen() == Some(&TermScreen::from_vt(parser.screen(), ""));
    out
}

/// The table's row for one session: per viewer, and a 12-person room's upload at the
/// sharer through the server against the mesh's eleven channels.
pub fn row(name: &str, r: &RoomReplay, mesh_wire_per_s: f64) -> String {
    let per_s = |b: usize| b as f64 / r.seconds / 1000.0;
    let viewer = per_s(r.frame_bytes + r.messages * FRAME_OVERHEAD);
    format!(
        "| {name} | {:.2} kB/s | {viewer:.2} kB/s | {:.1}/s | {viewer:.2} kB/s | {:.2} kB/s | {} |",
        per_s(r.frame_bytes),
        r.messages as f64 / r.seconds,
        mesh_wire_per_s * 11.0,
        if r.mismatches == 0 && r.last_equal {
            "yes".to_string()
        } else {
            format!("no ({} differed)", r.mismatches)
        }
    )
}
