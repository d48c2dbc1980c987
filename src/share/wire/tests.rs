//! Screens and their changes through an encoder and a decoder, and bad messages.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::encoder::{put_state, put_u16};
use super::format::KIND_ROWS;
use super::*;
use crate::share::screen::TermScreen;

fn vt(bytes: &[u8], cols: u16, rows: u16) -> TermScreen {
    let mut p = vt100::Parser::new(rows, cols, 0);
    p.process(bytes);
    TermScreen::from_vt(p.screen(), "title")
}

#[test]
fn a_screen_and_its_changes_arrive_exactly() {
    let t0 = Instant::now();
    let mut enc = Encoder::new();
    let mut dec = Decoder::new();
    let mut p = vt100::Parser::new(30, 100, 0);
    p.process("\x1b[1;32mok\x1b[0m 漢字 e\u{301} \x1b[48;5;200mbg\x1b[0m".as_bytes());
    let s = Arc::new(TermScreen::from_vt(p.screen(), "t"));
    let m = enc.screen(&s, None, t0).expect("first screen");
    assert_eq!(dec.feed(&m), Ok(vec![Received::Screen]));
    assert_eq!(dec.screen(), Some(&*s));
    assert_eq!(enc.screen(&s, None, t0), None, "nothing changed");
    let same_cells = Arc::new(TermScreen::clone(&s));
    assert_eq!(
        enc.screen(&same_cells, None, t0),
        None,
        "a copy with the same cells"
    );
    p.process(b"\r\nsecond line");
    let s2 = Arc::new(TermScreen::from_vt(p.screen(), "t"));
    let m2 = enc
        .screen(&s2, Some("bob"), t0 + Duration::from_millis(33))
        .expect("a change");
    assert!(m2.len() < m.len());
    assert_eq!(dec.feed(&m2), Ok(vec![Received::Screen]));
    assert_eq!(dec.screen(), Some(&*s2));
    assert_eq!(dec.holder(), Some("bob"));
    // A full screen again after FULL_EVERY, cheap because the dictionary has it.
    let m3 = enc.screen(&s2, Some("bob"), t0 + FULL_EVERY).expect("full");
    assert!(m3.len() < m.len(), "{} vs {}", m3.len(), m.len());
    assert_eq!(dec.feed(&m3), Ok(vec![Received::Screen]));
    assert_eq!(
        dec.feed(&enc.input(b"ls\r")),
        Ok(vec![Received::Input(b"ls\r".to_vec())])
    );
    assert_eq!(dec.feed(&enc.end()), Ok(vec![Received::Ended]));
    assert_eq!(dec.screen(), None);
}

#[test]
fn a_resize_sends_the_whole_screen() {
    let t0 = Instant::now();
    let mut enc = Encoder::new();
    let mut dec = Decoder::new();
    for (cols, rows) in [(20, 5), (40, 10), (10, 3)] {
        let s = Arc::new(vt(b"abc", cols, rows));
        let m = enc.screen(&s, None, t0).expect("screen");
        dec.feed(&m).expect("decodes");
        assert_eq!(dec.screen(), Some(&*s));
    }
}

#[test]
fn bad_messages_are_errors_not_panics() {
    let mut dec = Decoder::new();
    assert_eq!(dec.feed(&[]), Err(WireError::Frame("empty message")));
    let mut dec = Decoder::new();
    assert_eq!(dec.feed(&[9, 1, 2]), Err(WireError::Version(9)));
    let mut dec = Decoder::new();
    assert!(matches!(
        dec.feed(&[1, 0xff, 0xff]),
        Err(WireError::Inflate(_))
    ));
    // A rows frame with no screen before it.
    let mut enc = Encoder::new();
    let mut frame = vec![KIND_ROWS];
    put_state(&mut frame, &TermScreen::blank(2, 2), None);
    put_u16(&mut frame, 0);
    let mut dec = Decoder::new();
    assert_eq!(
        dec.feed(&enc.message(&frame)),
        Err(WireError::Frame("rows before any screen"))
    );
    // Control characters in cells arrive as placeholders.
    let mut enc = Encoder::new();
    let mut s = TermScreen::blank(3, 1);
    s.cells[0].text = "\u{1b}".into();
    let mut dec = Decoder::new();
    dec.feed(
        &enc.screen(&Arc::new(s), None, Instant::now())
            .expect("screen"),
    )
    .expect("decodes");
    assert_eq!(
        dec.screen().map(|s| s.row_text(0)),
        Some("\u{fffd}  ".into())
    );
}

proptest::proptest! {
    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
        let mut dec = Decoder::new();
        let mut m = vec![VERSION];
        m.extend_from_slice(&bytes);
        let _ = dec.feed(&m);
    }

    #[test]
    fn random_frames_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
        let mut enc = Encoder::new();
        let mut dec = Decoder::new();
        let _ = dec.feed(&enc.message(&bytes));
    }
}
