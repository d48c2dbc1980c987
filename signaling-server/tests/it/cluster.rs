//! Rooms across instances: three in-process servers sharing one real `redis-server` (on a
//! private Unix socket), and participants of one room connected to different instances.

use std::time::Duration;

use crate::common::cluster_lab::*;
use crate::common::*;
use termmeet_signaling::protocol::{ClientMessage, ErrorCode, IceCandidate, ServerMessage};
use termmeet_signaling::ServerConfig;

/// The next message that is not `pong`.
async fn next(c: &mut TestClient) -> ServerMessage {
    loop {
        match c.recv().await {
            ServerMessage::Pong {} => continue,
            m => return m,
        }
    }
}

#[tokio::test]
async fn one_room_across_three_instances_relays_chats_hands_and_hands_over_the_host() {
    let redis = Redis::start();
    let config = ServerConfig {
        max_room_size: 4,
        ..ServerConfig::default()
    };
    let [s1, s2, s3] = three(&redis, config).await;
    let mut a = s1.joined("all-hands", "alice").await;
    let mut b = s2.joined("all-hands", "bob").await;
    assert!(matches!(next(&mut a).await, ServerMessage::PeerJoined { peer } if peer.name == "bob"));
    let mut c = s3.joined("all-hands", "carol").await;
    for x in [&mut a, &mut b] {
        assert!(
            matches!(next(x).await, ServerMessage::PeerJoined { peer } if peer.name == "carol")
        );
    }
    let ServerMessage::Peers { peers, host, .. } = c.peers.clone().unwrap() else {
        unreachable!()
    };
    assert_eq!(
        peers.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
        ["alice", "bob"],
        "the third instance's participant sees both others"
    );
    assert_eq!(host, a.id);

    // Relays, each way, between instances.
    a.send(&ClientMessage::Offer {
        to: b.id.clone(),
        sdp: "v=0 offer".into(),
    })
    .await;
    assert!(
        matches!(next(&mut b).await, ServerMessage::Offer { from, sdp } if from == a.id && sdp == "v=0 offer")
    );
    c.send(&ClientMessage::Candidate {
        to: a.id.clone(),
        candidate: Some(IceCandidate {
            candidate: "candidate:1 1 udp 1 10.0.0.3 5000 typ host".into(),
            sdp_mid: Some("0".into()),
            sdp_mline_index: Some(0),
            username_fragment: None,
        }),
    })
    .await;
    assert!(matches!(next(&mut a).await, ServerMessage::Candidate { from, .. } if from == c.id));
    // A relay to no one in the room is answered where it came from.
    b.send(&ClientMessage::Offer {
        to: "0123456789abcdef".into(),
        sdp: "v=0".into(),
    })
    .await;
    b.expect_error(ErrorCode::UnknownPeer).await;

    // Chat: one order and one sequence for everyone, wherever they are connected.
    for (i, who) in [&mut b, &mut c, &mut a].into_iter().enumerate() {
        who.send(&ClientMessage::Chat {
            text: format!("line {i}"),
        })
        .await;
    }
    let mut seen = Vec::new();
    for x in [&mut a, &mut b, &mut c] {
        let mut lines = Vec::new();
        for _ in 0..3 {
            match next(x).await {
                ServerMessage::Chat(m) => lines.push((m.seq, m.text)),
                other => panic!("{}: expected chat, got {other:?}", x.name),
            }
        }
        seen.push(lines);
    }
    assert!(seen.iter().all(|l| *l == seen[0]), "{seen:?}");
    assert_eq!(
        seen[0].iter().map(|(seq, _)| *seq).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    let mut texts: Vec<&str> = seen[0].iter().map(|(_, t)| t.as_str()).collect();
    texts.sort();
    assert_eq!(texts, ["line 0", "line 1", "line 2"]);

    // Hands.
    c.send(&ClientMessage::RaiseHand {}).await;
    for x in [&mut a, &mut b, &mut c] {
        assert!(
            matches!(next(x).await, ServerMessage::RaiseHand { from, queue } if from == queue[0] && queue.len() == 1)
        );
    }

    // Limits hold in the owner, wherever the newcomer arrives: a fourth fits, a fifth not.
    let mut d = s2.joined("all-hands", "dave").await;
    let mut e = s3.client().await;
    e.send_join("all-hands", "erin", None, None).await;
    e.expect_error(ErrorCode::RoomFull).await;
    for x in [&mut a, &mut b, &mut c] {
        assert!(matches!(next(x).await, ServerMessage::PeerJoined { .. }));
    }

    // The host leaves; the next in join order (bob, on another instance) takes over.
    a.send(&ClientMessage::Leave {}).await;
    let bid = b.id.clone();
    for x in [&mut b, &mut c, &mut d] {
        assert!(matches!(next(x).await, ServerMessage::PeerLeft { id } if id == a.id));
        assert!(matches!(next(x).await, ServerMessage::Host { id } if id == bid));
    }

    // Bob drops and resumes through a third instance: same id, the room as it stood.
    let token = b.resume_token.clone();
    drop(b);
    let mut b2 = s3.client().await;
    let peers = b2.join_with("all-hands", "bob", None, Some(&token)).await;
    assert_eq!(b2.id, bid, "resumed, not joined afresh");
    let ServerMessage::Peers {
        host,
        hands,
        chat_history,
        ..
    } = peers
    else {
        unreachable!()
    };
    assert_eq!(host, bid);
    assert_eq!(hands, vec![c.id.clone()]);
    assert_eq!(chat_history.len(), 3);
    c.expect_silence(Duration::from_millis(300)).await;
    let summary = s1
        .handle
        .room("all-hands")
        .or_else(|| s2.handle.room("all-hands"))
        .or_else(|| s3.handle.room("all-hands"))
        .expect("one instance holds the room");
    assert_eq!(summary.members, ["bob", "carol", "dave"]);
}

#[tokio::test]
async fn secrets_and_bad_input_get_their_errors_on_every_instance() {
    let redis = Redis::start();
    let mut config = ServerConfig::default();
    config
        .room_secrets
        .insert("locked".into(), "open sesame".into());
    let servers = three(&redis, config).await;
    let _owner = servers[0].joined("locked-out", "first").await;
    let mut first = servers[0].client().await;
    first
        .join_with("locked", "owner", Some("open sesame"), None)
        .await;
    for (i, s) in servers.iter().enumerate() {
        let mut c = s.client().await;
        c.send_join("locked", "guess", Some("wrong"), None).await;
        c.expect_error(ErrorCode::BadSecret).await;
        assert_eq!(u16::from(c.expect_close().await), 1008);

        let mut c = s.joined("locked-out", &format!("p{i}")).await;
        c.send_text("{not json").await;
        c.expect_error(ErrorCode::BadJson).await;
        c.send_text(r#"{"type":"chat","text":5}"#).await;
        c.expect_error(ErrorCode::BadField).await;
        c.send_text(r#"{"type":"lower-hand","peer":"0123456789abcdef"}"#)
            .await;
        c.expect_error(ErrorCode::Forbidden).await;
    }
}

#[tokio::test]
async fn new_rooms_per_address_are_counted_across_instances() {
    let redis = Redis::start();
    let config = ServerConfig {
        max_new_rooms_per_minute: 3,
        ..ServerConfig::default()
    };
    let servers = three(&redis, config).await;
    let mut held = Vec::new();
    for (i, s) in servers.iter().enumerate() {
        held.push(s.joined(&format!("room-{i}"), "opener").await);
    }
    let mut c = servers[1].client().await;
    c.send_join("room-3", "opener", None, None).await;
    c.expect_error(ErrorCode::TooManyConnections).await;
}

#[tokio::test]
async fn healthz_says_503_while_redis_is_away_and_metrics_count_the_cluster() {
    let redis = Redis::start();
    let servers = three(&redis, ServerConfig::default()).await;
    let _a = servers[0].joined("r1", "a").await;
    let _b = servers[1].joined("r1", "b").await;
    let _c = servers[2].joined("r2", "c").await;
    let metrics = [
        metrics_page(&servers[1].handle).await,
        metrics_page(&servers[2].handle).await,
    ];
    let deadline = tokio::time::Instant::now() + SOON;
    loop {
        let (_, body) = http_get(metrics[0], "/metrics").await;
        if body.contains("termmeet_cluster_participants 3")
            && body.contains("termmeet_cluster_rooms 2")
        {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(redis);
    let deadline = tokio::time::Instant::now() + SOON;
    loop {
        let (status, _) = http_get(servers[2].addr, "/healthz").await;
        if status.contains("503") {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{status}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (_, body) = http_get(metrics[1], "/metrics").await;
    assert!(body.contains("termmeet_cluster_redis_up 0"), "{body}");
}

/// Resumes `who` through `server`, retrying while the cluster is still finding out that the
/// room's instance is gone (as the client's reconnect does); returns the new connection and
/// the `peers` answer.
async fn resume_through(server: &TestServer, who: &TestClient) -> (TestClient, ServerMessage) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let mut c = server.client().await;
        c.send_join("standup", &who.name, None, Some(&who.resume_token))
            .await;
        use futures_util::StreamExt;
        use tokio_tungstenite::tungstenite::Message;
        match tokio::time::timeout(Duration::from_secs(6), c.ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => {
                let m = ServerMessage::parse(t.as_str()).unwrap();
                let ServerMessage::Peers {
                    you, resume_token, ..
                } = &m
                else {
                    panic!("{}: expected peers, got {m:?}", who.name)
                };
                c.id = you.id.clone();
                c.resume_token = resume_token.clone();
                return (c, m);
            }
            other => {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "{}: no resume: {other:?}",
                    who.name
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}

#[tokio::test]
async fn the_owner_killed_mid_meeting_its_room_resumes_elsewhere_with_hands_and_chat() {
    let redis = Redis::start();
    let owner = Instance::start(&redis).await;
    let [s2, s3, _] = three(&redis, ServerConfig::default()).await;
    let owner_url = format!("ws://{}/ws", owner.addr);
    let mut a = TestClient::connect(&owner_url).await;
    a.join("standup", "alice").await;
    let mut b = s2.joined("standup", "bob").await;
    let mut c = s3.joined("standup", "carol").await;
    for _ in 0..2 {
        assert!(matches!(
            next(&mut a).await,
            ServerMessage::PeerJoined { .. }
        ));
    }
    assert!(matches!(
        next(&mut b).await,
        ServerMessage::PeerJoined { .. }
    ));
    for i in 0..3 {
        let who = [&mut a, &mut b, &mut c].into_iter().nth(i).unwrap();
        who.send(&ClientMessage::Chat {
            text: format!("before {i}"),
        })
        .await;
        for x in [&mut a, &mut b, &mut c] {
            assert!(matches!(next(x).await, ServerMessage::Chat(m) if m.seq == i as u64 + 1));
        }
    }
    b.send(&ClientMessage::RaiseHand {}).await;
    for x in [&mut a, &mut b, &mut c] {
        assert!(matches!(next(x).await, ServerMessage::RaiseHand { .. }));
    }
    let ids = [a.id.clone(), b.id.clone(), c.id.clone()];

    // SIGKILL: no goodbye, no last write.
    let killed = std::time::Instant::now();
    let mut owner = owner;
    owner.child.kill().unwrap();
    let _ = owner.child.wait();
    // Those connected elsewhere are told to reconnect (1012) once the owner is seen gone.
    for x in [&mut b, &mut c] {
        assert_eq!(u16::from(x.expect_close().await), 1012, "{}", x.name);
    }
    let resumed = [
        resume_through(&s2, &a).await.1,
        resume_through(&s3, &b).await.1,
        resume_through(&s2, &c).await.1,
    ];
    let took = killed.elapsed();
    assert!(
        took < Duration::from_secs(10),
        "every participant resumed after {took:?}"
    );
    for (i, m) in resumed.iter().enumerate() {
        let ServerMessage::Peers {
            you,
            peers,
            hands,
            chat_history,
            resume_failed,
            host,
            ..
        } = m
        else {
            unreachable!()
        };
        assert!(!resume_failed, "{m:?}");
        assert_eq!(you.id, ids[i], "the same seat");
        assert_eq!(peers.len(), 2);
        assert_eq!(hands, &vec![ids[1].clone()]);
        assert_eq!(host, &ids[0]);
        let lines: Vec<(u64, &str)> = chat_history
            .iter()
            .map(|l| (l.seq, l.text.as_str()))
            .collect();
        assert_eq!(
            lines,
            [(1, "before 0"), (2, "before 1"), (3, "before 2")],
            "complete chat, none twice"
        );
    }
    eprintln!("kill -9 to every participant resumed: {took:?}");
}

#[tokio::test]
async fn redis_restarted_mid_meeting_service_goes_on_and_the_state_is_whole_afterwards() {
    let mut redis = Redis::start();
    let [s1, s2, s3] = three(&redis, ServerConfig::default()).await;
    let mut a = s1.joined("standup", "alice").await;
    let mut b = s2.joined("standup", "bob").await;
    assert!(matches!(
        next(&mut a).await,
        ServerMessage::PeerJoined { .. }
    ));
    assert!(
        s1.handle.room("standup").is_some(),
        "the first joiner's instance owns it"
    );

    redis.stop();
    for s in [&s1, &s2, &s3] {
        wait_health(s.addr, "503").await;
    }
    // The owner goes on serving its own participants.
    a.send(&ClientMessage::Chat {
        text: "during the outage".into(),
    })
    .await;
    assert!(matches!(next(&mut a).await, ServerMessage::Chat(m) if m.seq == 1));
    a.send(&ClientMessage::RaiseHand {}).await;
    assert!(matches!(
        next(&mut a).await,
        ServerMessage::RaiseHand { .. }
    ));

    redis.start_again();
    for s in [&s1, &s2, &s3] {
        wait_health(s.addr, "200").await;
    }
    // Reconcile: bob, who may have missed frames, is asked to resume, and gets it all.
    loop {
        match futures_util::StreamExt::next(&mut b.ws).await {
            Some(Ok(tokio_tungstenite::tungstenite::Message::Close(Some(f)))) => {
                assert_eq!(u16::from(f.code), 1012);
                break;
            }
            Some(Ok(_)) => continue,
            other => panic!("bob: expected a close, got {other:?}"),
        }
    }
    let (mut b, resumed) = resume_through(&s3, &b).await;
    let ServerMessage::Peers {
        you,
        hands,
        chat_history,
        ..
    } = resumed
    else {
        unreachable!()
    };
    assert_eq!(you.id, b.id);
    assert_eq!(hands, vec![a.id.clone()]);
    assert_eq!(chat_history.len(), 1);
    assert_eq!(chat_history[0].text, "during the outage");
    // One room, on its owner, and messages cross instances again.
    assert!(s2.handle.room("standup").is_none() && s3.handle.room("standup").is_none());
    assert_eq!(s1.handle.room("standup").unwrap().members, ["alice", "bob"]);
    // And Redis holds it again as it stands, for a takeover.
    let stored = std::process::Command::new("redis-cli")
        .arg("-s")
        .arg(redis.dir.join("redis.sock"))
        .args(["GET", "tm:room:standup:state"])
        .output()
        .expect("redis-cli runs");
    let stored = String::from_utf8_lossy(&stored.stdout);
    assert!(
        stored.contains("\"alice\"") && stored.contains("\"bob\""),
        "{stored}"
    );
    b.send(&ClientMessage::Chat {
        text: "after".into(),
    })
    .await;
    for x in [&mut a, &mut b] {
        assert!(
            matches!(next(x).await, ServerMessage::Chat(m) if m.seq == 2 && m.text == "after"),
            "{}",
            x.name
        );
    }
}

#[tokio::test]
async fn the_most_rooms_hold_across_instances() {
    let redis = Redis::start();
    let config = ServerConfig {
        max_rooms: 2,
        ..ServerConfig::default()
    };
    let servers = three(&redis, config).await;
    let _a = servers[0].joined("room-a", "a").await;
    let _b = servers[1].joined("room-b", "b").await;
    // Each instance holds one room or none, under its own limit: the cluster's count (its
    // heartbeats', a second old at most) refuses a third room anywhere.
    let metrics = metrics_page(&servers[2].handle).await;
    let deadline = tokio::time::Instant::now() + SOON;
    loop {
        let (_, body) = http_get(metrics, "/metrics").await;
        if body.contains("termmeet_cluster_rooms 2") {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut c = servers[2].client().await;
    c.send_join("room-c", "c", None, None).await;
    let e = c.expect_error(ErrorCode::RoomFull).await;
    assert!(e.contains("limit of 2 rooms between them"), "{e}");
    // The rooms that are open still take people, through any instance.
    let _a2 = servers[2].joined("room-a", "a2").await;
}
