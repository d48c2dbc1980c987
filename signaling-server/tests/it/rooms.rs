//! Every message type end to end: three clients in one room and one in another, real
//! WebSocket connections to an in-process server.

use std::time::Duration;

use crate::common::*;
use termmeet_signaling::protocol::{ClientMessage, ErrorCode, IceCandidate, ServerMessage};
use termmeet_signaling::ServerConfig;

const QUIET: Duration = Duration::from_millis(300);

#[tokio::test]
async fn every_message_type_between_three_clients_and_none_across_rooms() {
    let server = TestServer::default().await;
    let mut a = server.joined("standup", "alice").await;
    let mut d = server.joined("elsewhere", "dave").await;

    let mut b = server.client().await;
    let peers = b.join("standup", "bob").await;
    let ServerMessage::Peers {
        you,
        host,
        peers,
        chat_enabled,
        hands,
        ..
    } = peers
    else {
        unreachable!()
    };
    assert_eq!(you.name, "bob");
    assert_eq!(you.id.len(), 16);
    assert!(you
        .id
        .chars()
        .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
    assert_eq!(host, a.id, "the first participant is host");
    assert_eq!(peers.len(), 1);
    assert_eq!(peers[0].name, "alice");
    assert!(chat_enabled && hands.is_empty());
    match a.recv().await {
        ServerMessage::PeerJoined { peer } => assert_eq!(
            (peer.id.as_str(), peer.name.as_str()),
            (b.id.as_str(), "bob")
        ),
        other => panic!("{other:?}"),
    }

    let mut c = server.joined("standup", "carol").await;
    let (aid, bid, cid) = (a.id.clone(), b.id.clone(), c.id.clone());
    for x in [&mut a, &mut b] {
        assert!(
            matches!(x.recv().await, ServerMessage::PeerJoined { peer } if peer.name == "carol")
        );
    }
    let ServerMessage::Peers { peers, .. } = c.peers.clone().unwrap() else {
        unreachable!()
    };
    assert_eq!(
        peers.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
        ["alice", "bob"]
    );

    // Offer, answer and candidates go to exactly one peer, with the true sender in `from`.
    c.send_text(&format!(
        r#"{{"type":"offer","to":"{}","sdp":"v=0 offer","from":"forged"}}"#,
        a.id
    ))
    .await;
    assert_eq!(
        a.recv().await,
        ServerMessage::Offer {
            from: cid.clone(),
            sdp: "v=0 offer".into()
        }
    );
    a.send(&ClientMessage::Answer {
        to: cid.clone(),
        sdp: "v=0 answer".into(),
    })
    .await;
    assert_eq!(
        c.recv().await,
        ServerMessage::Answer {
            from: aid.clone(),
            sdp: "v=0 answer".into()
        }
    );
    let candidate = IceCandidate {
        candidate: "candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host".into(),
        sdp_mid: Some("0".into()),
        sdp_mline_index: Some(0),
        username_fragment: Some("abcd".into()),
    };
    c.send(&ClientMessage::Candidate {
        to: aid.clone(),
        candidate: Some(candidate.clone()),
    })
    .await;
    assert_eq!(
        a.recv().await,
        ServerMessage::Candidate {
            from: cid.clone(),
            candidate: Some(candidate)
        }
    );
    c.send(&ClientMessage::Candidate {
        to: aid.clone(),
        candidate: None,
    })
    .await;
    assert_eq!(
        a.recv().await,
        ServerMessage::Candidate {
            from: cid.clone(),
            candidate: None
        }
    );
    b.expect_silence(QUIET).await;

    // Media state and screen share go to the others.
    b.send(&ClientMessage::MediaState {
        mic: false,
        cam: true,
    })
    .await;
    b.send(&ClientMessage::ScreenShareStarted {
        stream_id: "screen-1".into(),
    })
    .await;
    b.send(&ClientMessage::ScreenShareStopped {}).await;
    for x in [&mut a, &mut c] {
        assert_eq!(
            x.recv().await,
            ServerMessage::MediaState {
                from: bid.clone(),
                mic: false,
                cam: true
            }
        );
        assert_eq!(
            x.recv().await,
            ServerMessage::ScreenShareStarted {
                from: bid.clone(),
                stream_id: "screen-1".into()
            }
        );
        assert_eq!(
            x.recv().await,
            ServerMessage::ScreenShareStopped { from: bid.clone() }
        );
    }

    // Hands: raise, a forbidden lower, the host's lower.
    // The second hand goes up only once everyone saw the first: the two come over different
    // sockets, so sent together either could reach the server first.
    b.send(&ClientMessage::RaiseHand {}).await;
    for x in [&mut a, &mut b, &mut c] {
        assert_eq!(
            x.recv().await,
            ServerMessage::RaiseHand {
                from: bid.clone(),
                queue: vec![bid.clone()]
            }
        );
    }
    c.send(&ClientMessage::RaiseHand {}).await;
    for x in [&mut a, &mut b, &mut c] {
        assert_eq!(
            x.recv().await,
            ServerMessage::RaiseHand {
                from: cid.clone(),
                queue: vec![bid.clone(), cid.clone()]
            }
        );
    }
    c.send(&ClientMessage::LowerHand {
        peer: Some(bid.clone()),
    })
    .await;
    c.expect_error(ErrorCode::Forbidden).await;
    a.send(&ClientMessage::LowerHand {
        peer: Some(bid.clone()),
    })
    .await;
    for x in [&mut a, &mut b, &mut c] {
        assert_eq!(
            x.recv().await,
            ServerMessage::LowerHand {
                from: aid.clone(),
                peer: bid.clone(),
                queue: vec![cid.clone()]
            }
        );
    }

    // Chat with seq and ts, the sender included; the host turns chat off and on.
    a.send(&ClientMessage::Chat {
        text: "hello\nall".into(),
    })
    .await;
    for x in [&mut a, &mut b, &mut c] {
        match x.recv().await {
            ServerMessage::Chat(m) => {
                assert_eq!(
                    (m.from.as_str(), m.name.as_str(), m.text.as_str(), m.seq),
                    (aid.as_str(), "alice", "hello\nall", 1)
                );
                assert!(m.ts > 1_700_000_000_000);
            }
            other => panic!("{other:?}"),
        }
    }
    b.send(&ClientMessage::ChatDisabled {}).await;
    b.expect_error(ErrorCode::Forbidden).await;
    a.send(&ClientMessage::ChatDisabled {}).await;
    for x in [&mut a, &mut b, &mut c] {
        assert_eq!(
            x.recv().await,
            ServerMessage::ChatDisabled { from: aid.clone() }
        );
    }
    c.send(&ClientMessage::Chat {
        text: "may I?".into(),
    })
    .await;
    c.expect_error(ErrorCode::ChatDisabled).await;
    a.send(&ClientMessage::Chat {
        text: "host may".into(),
    })
    .await;
    for x in [&mut a, &mut b, &mut c] {
        assert!(
            matches!(x.recv().await, ServerMessage::Chat(m) if m.seq == 2 && m.text == "host may")
        );
    }
    a.send(&ClientMessage::ChatEnabled {}).await;
    for x in [&mut a, &mut b, &mut c] {
        assert_eq!(
            x.recv().await,
            ServerMessage::ChatEnabled { from: aid.clone() }
        );
    }

    // Ping.
    d.send(&ClientMessage::Ping {}).await;
    assert_eq!(d.recv().await, ServerMessage::Pong {});

    // A `to` in another room is unknown, and that room receives nothing.
    d.send(&ClientMessage::Offer {
        to: aid.clone(),
        sdp: "x".into(),
    })
    .await;
    let message = d.expect_error(ErrorCode::UnknownPeer).await;
    assert!(message.contains(&a.id), "{message}");
    d.send(&ClientMessage::LowerHand {
        peer: Some(aid.clone()),
    })
    .await;
    d.expect_error(ErrorCode::UnknownPeer).await;

    // A late joiner gets the history and the hand queue.
    let mut e = server.joined("standup", "erin").await;
    let ServerMessage::Peers {
        chat_history,
        hands,
        peers,
        ..
    } = e.peers.clone().unwrap()
    else {
        unreachable!()
    };
    assert_eq!(
        chat_history
            .iter()
            .map(|m| m.text.as_str())
            .collect::<Vec<_>>(),
        ["hello\nall", "host may"]
    );
    assert_eq!(hands, vec![cid.clone()]);
    let bob = peers.iter().find(|p| p.name == "bob").unwrap();
    assert!(!bob.mic && bob.cam && !bob.screen && !bob.hand);
    assert!(peers.iter().find(|p| p.name == "carol").unwrap().hand);
    for x in [&mut a, &mut b, &mut c] {
        assert!(
            matches!(x.recv().await, ServerMessage::PeerJoined { peer } if peer.name == "erin")
        );
    }

    // Leave: the others are told at once; the hand queue loses the leaver.
    c.send(&ClientMessage::Leave {}).await;
    for x in [&mut a, &mut b, &mut e] {
        assert_eq!(x.recv().await, ServerMessage::PeerLeft { id: cid.clone() });
        assert_eq!(
            x.recv().await,
            ServerMessage::LowerHand {
                from: cid.clone(),
                peer: cid.clone(),
                queue: vec![]
            }
        );
    }

    // Dave, in the other room, saw none of it.
    d.expect_silence(QUIET).await;
    assert_eq!(server.handle.counts(), (2, 4));
}

#[tokio::test]
async fn history_keeps_the_last_hundred_messages() {
    let server = TestServer::default().await;
    let mut a = server.joined("r", "alice").await;
    for i in 1..=105 {
        a.send(&ClientMessage::Chat {
            text: format!("m{i}"),
        })
        .await;
        assert!(matches!(a.recv().await, ServerMessage::Chat(m) if m.seq == i));
    }
    let b = server.joined("r", "bob").await;
    let ServerMessage::Peers { chat_history, .. } = b.peers.unwrap() else {
        unreachable!()
    };
    assert_eq!(chat_history.len(), 100);
    assert_eq!(chat_history[0].text, "m6");
    assert_eq!(chat_history[99].seq, 105);
}

#[tokio::test]
async fn hand_queue_order_holds_under_concurrent_raises() {
    let server = TestServer::default().await;
    let mut clients = Vec::new();
    for i in 0..6 {
        clients.push(server.joined("hands", &format!("p{i}")).await);
    }
    // Drain the peer-joined messages.
    for (i, c) in clients.iter_mut().enumerate() {
        for _ in i + 1..6 {
            assert!(matches!(c.recv().await, ServerMessage::PeerJoined { .. }));
        }
    }
    // Everyone raises at once.
    let mut tasks = Vec::new();
    for mut c in clients {
        tasks.push(tokio::spawn(async move {
            c.send(&ClientMessage::RaiseHand {}).await;
            let mut seen = Vec::new();
            for _ in 0..6 {
                match c.recv().await {
                    ServerMessage::RaiseHand { from, queue } => seen.push((from, queue)),
                    other => panic!("{other:?}"),
                }
            }
            seen
        }));
    }
    let mut views = Vec::new();
    for t in tasks {
        views.push(t.await.unwrap());
    }
    // Every participant saw the same sequence, each queue one longer than the last and
    // ending with the one who raised.
    for view in &views {
        assert_eq!(view, &views[0]);
    }
    for (i, (from, queue)) in views[0].iter().enumerate() {
        assert_eq!(queue.len(), i + 1);
        assert_eq!(queue.last(), Some(from));
        if i > 0 {
            assert_eq!(&queue[..i], &views[0][i - 1].1[..]);
        }
    }
}

#[tokio::test]
async fn host_hands_over_to_the_earliest_joiner_left() {
    let config = ServerConfig {
        grace: Duration::from_millis(300),
        ..ServerConfig::default()
    };
    let server = TestServer::start(config).await;
    let mut a = server.joined("r", "alice").await;
    let mut b = server.joined("r", "bob").await;
    let mut c = server.joined("r", "carol").await;
    let (aid, bid, cid) = (a.id.clone(), b.id.clone(), c.id.clone());
    for _ in 0..2 {
        a.recv().await;
    }
    b.recv().await;

    a.send(&ClientMessage::Leave {}).await;
    for x in [&mut b, &mut c] {
        assert_eq!(x.recv().await, ServerMessage::PeerLeft { id: aid.clone() });
        assert_eq!(x.recv().await, ServerMessage::Host { id: bid.clone() });
    }
    // The new host has the host's powers.
    b.send(&ClientMessage::ChatDisabled {}).await;
    assert_eq!(
        c.recv().await,
        ServerMessage::ChatDisabled { from: bid.clone() }
    );
    b.recv().await;

    // A host who drops without leave hands over when the grace period ends.
    drop(b);
    assert_eq!(
        c.recv().await,
        ServerMessage::PeerLeft {
            id: server_id(&c, 0)
        }
    );
    assert_eq!(c.recv().await, ServerMessage::Host { id: cid.clone() });
    c.send(&ClientMessage::ChatEnabled {}).await;
    assert_eq!(
        c.recv().await,
        ServerMessage::ChatEnabled { from: cid.clone() }
    );
}

/// The id of the `index`th peer in a client's `peers` answer.
fn server_id(c: &TestClient, index: usize) -> String {
    let Some(ServerMessage::Peers { peers, .. }) = &c.peers else {
        unreachable!()
    };
    peers[index + 1].id.clone()
}

#[tokio::test]
async fn names_are_stripped_of_terminal_escapes() {
    let server = TestServer::default().await;
    let mut a = server.joined("r", "alice").await;
    let mut m = server.client().await;
    let ServerMessage::Peers { you, .. } = m
        .join("r", "\x1b]0;pwned\x07\x1b[31mmallory\x1b[0m\u{202e}")
        .await
    else {
        unreachable!()
    };
    assert_eq!(you.name, "mallory");
    assert!(matches!(a.recv().await, ServerMessage::PeerJoined { peer } if peer.name == "mallory"));
    m.send(&ClientMessage::Chat {
        text: "hi\x1b[2J\x1b]0;x\x07 there\r\n".into(),
    })
    .await;
    assert!(matches!(a.recv().await, ServerMessage::Chat(c) if c.text == "hi there"));

    let mut only_escapes = server.client().await;
    only_escapes
        .send_text(r#"{"type":"join","room":"r","name":"\u001b]0;pwned\u0007\u001b[2J"}"#)
        .await;
    let message = only_escapes.expect_error(ErrorCode::BadField).await;
    assert!(message.contains("name"), "{message}");
}

/// `term` (1.3): a screen stream goes to everyone else in the room, keys and a request for a
/// new stream to one peer, each with the true sender; a malformed one gets `bad-field`, and
/// one for a participant who is not here `unknown-peer`.
#[tokio::test]
async fn shared_terminals_through_the_server_go_to_the_room_or_to_one_peer() {
    let server = TestServer::default().await;
    let mut a = server.joined("pairing", "alice").await;
    let mut b = server.joined("pairing", "bob").await;
    let mut c = server.joined("pairing", "carol").await;
    let mut d = server.joined("elsewhere", "dave").await;
    assert!(matches!(a.recv().await, ServerMessage::PeerJoined { .. }));
    assert!(matches!(a.recv().await, ServerMessage::PeerJoined { .. }));
    assert!(matches!(b.recv().await, ServerMessage::PeerJoined { .. }));
    let (aid, bid) = (a.id.clone(), b.id.clone());

    a.send(&ClientMessage::Term {
        to: None,
        seq: Some(0),
        data: Some("AXh5eg==".into()),
        sync: false,
    })
    .await;
    let screen = ServerMessage::Term {
        from: aid.clone(),
        seq: Some(0),
        data: Some("AXh5eg==".into()),
        sync: false,
    };
    assert_eq!(b.recv().await, screen);
    assert_eq!(c.recv().await, screen);
    a.expect_silence(QUIET).await;

    b.send(&ClientMessage::Term {
        to: Some(aid.clone()),
        seq: None,
        data: None,
        sync: true,
    })
    .await;
    assert_eq!(
        a.recv().await,
        ServerMessage::Term {
            from: bid.clone(),
            seq: None,
            data: None,
            sync: true
        }
    );
    b.send_text(&format!(
        r#"{{"type":"term","to":"{aid}","data":"a2V5cw==","from":"forged"}}"#
    ))
    .await;
    assert_eq!(
        a.recv().await,
        ServerMessage::Term {
            from: bid.clone(),
            seq: None,
            data: Some("a2V5cw==".into()),
            sync: false
        }
    );
    c.expect_silence(QUIET).await;
    d.expect_silence(QUIET).await;

    for bad in [
        r#"{"type":"term","data":"AAAA"}"#.to_string(),
        r#"{"type":"term","seq":1,"data":"not base64!"}"#.to_string(),
        r#"{"type":"term","seq":-1,"data":"AAAA"}"#.to_string(),
        format!(r#"{{"type":"term","to":"{aid}","sync":true,"data":"AAAA"}}"#),
        format!(
            r#"{{"type":"term","seq":1,"data":"{}"}}"#,
            "A".repeat(48_004)
        ),
    ] {
        c.send_text(&bad).await;
        c.expect_error(ErrorCode::BadField).await;
    }
    c.send_text(&format!(r#"{{"type":"term","to":"{}","sync":true}}"#, d.id))
        .await;
    c.expect_error(ErrorCode::UnknownPeer).await;
    c.send_text(r#"{"type":"term","to":"sfu-publish","data":"AAAA"}"#)
        .await;
    c.expect_error(ErrorCode::UnknownPeer).await;
    a.expect_silence(QUIET).await;
}
