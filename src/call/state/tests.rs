use super::*;

fn info(id: &str, name: &str) -> PeerInfo {
    PeerInfo::new(id, name)
}

fn chat(seq: u64, text: &str) -> ChatMessage {
    ChatMessage {
        from: "b".into(),
        name: "bob".into(),
        text: text.into(),
        ts: seq,
        seq,
    }
}

fn peers(me: &str, others: &[(&str, &str)], history: Vec<ChatMessage>) -> ServerMessage {
    ServerMessage::Peers {
        you: You {
            id: me.into(),
            name: "me".into(),
        },
        resume_token: "t".into(),
        host: me.into(),
        peers: others.iter().map(|(i, n)| info(i, n)).collect(),
        hands: vec![],
        chat_enabled: true,
        chat_history: history,
        ice_servers: vec![],
        resume_failed: false,
        media_mode: Default::default(),
    }
}

#[test]
fn a_resume_keeps_the_links_merges_missed_chat_and_drops_who_left_meanwhile() {
    let mut s = MeshState::default();
    let r = s.apply(peers(
        "m",
        &[("b", "bob"), ("c", "cy")],
        vec![chat(1, "hi")],
    ));
    assert_eq!(r, Roster::Joined(vec!["b".into(), "c".into()]));
    s.apply(ServerMessage::Chat(chat(2, "second")));
    // Away; cy left and bob wrote once more meanwhile.
    let r = s.apply(peers(
        "m",
        &[("b", "bob")],
        vec![chat(1, "hi"), chat(2, "second"), chat(3, "missed")],
    ));
    assert_eq!(r, Roster::Resumed(vec!["c".into()]));
    let texts: Vec<&str> = s.chat.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(texts, ["hi", "second", "missed"]);
    assert!(!s.peers.contains_key("c"), "no ghost tile");
    assert_eq!(s.id_of("cy").as_deref(), Some("c"));
    assert!(s.departed.contains_key("c"));
}

#[test]
fn a_fresh_join_replaces_the_chat_and_the_roster() {
    let mut s = MeshState::default();
    s.apply(peers("m", &[("b", "bob")], vec![chat(7, "old")]));
    let r = s.apply(peers("m2", &[("d", "dee")], vec![chat(1, "new room")]));
    assert_eq!(r, Roster::Joined(vec!["d".into()]));
    assert_eq!(s.chat.len(), 1);
    assert_eq!(s.peers.keys().collect::<Vec<_>>(), ["d"]);
}

#[test]
fn lists_stay_bounded_over_a_long_meeting() {
    let mut s = MeshState::default();
    s.apply(peers("m", &[], vec![]));
    for n in 0..(CHAT_KEPT as u64 + 500) {
        s.apply(ServerMessage::Chat(chat(n + 1, "x")));
    }
    assert_eq!(s.chat.len(), CHAT_KEPT);
    assert_eq!(s.chat.last().map(|m| m.seq), Some(CHAT_KEPT as u64 + 500));
    for n in 0..200 {
        s.push_error(format!("e{n}"));
        let id = format!("p{n}");
        s.apply(ServerMessage::PeerJoined {
            peer: info(&id, "p"),
        });
        s.apply(ServerMessage::PeerLeft { id });
    }
    assert_eq!(s.errors.len(), ERRORS_KEPT);
    assert_eq!(s.errors.last().map(String::as_str), Some("e199"));
    assert_eq!(s.left.len(), DEPARTED_KEPT);
    assert_eq!(s.departed.len(), DEPARTED_KEPT);
    assert!(s.departed.contains_key("p199"));
}

#[test]
fn hands_and_media_state_follow_the_server() {
    let mut s = MeshState::default();
    s.apply(peers("m", &[("b", "bob")], vec![]));
    s.apply(ServerMessage::RaiseHand {
        from: "b".into(),
        queue: vec!["b".into()],
    });
    assert!(s.peers["b"].info.hand);
    s.apply(ServerMessage::MediaState {
        from: "b".into(),
        mic: false,
        cam: true,
    });
    assert!(!s.peers["b"].info.mic);
    let v = s.version;
    s.apply(ServerMessage::PeerLeft { id: "b".into() });
    assert!(s.hands.is_empty());
    assert!(s.version > v);
}
