//! The backoff, the outgoing queue, unconfirmed chat and when to reconnect, without
//! sleeping.

use super::*;

#[test]
fn backoff_doubles_to_thirty_seconds_with_jitter() {
    let mut b = Backoff::default();
    let delays: Vec<u64> = (0..8)
        .map(|_| b.next_delay(0.5).as_millis() as u64)
        .collect();
    assert_eq!(delays, [1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
    let mut low = Backoff::default();
    assert_eq!(low.next_delay(0.0), Duration::from_millis(800));
    let mut high = Backoff::default();
    assert_eq!(high.next_delay(1.0), Duration::from_millis(1200));
    b.reset();
    assert_eq!(b.next_delay(0.5), Duration::from_secs(1));
}

#[test]
fn chat_the_server_never_got_is_sent_again_after_a_resume() {
    use termmeet_signaling::protocol::ChatMessage;
    let said = |from: &str, text: &str| ChatMessage {
        from: from.into(),
        name: "me".into(),
        text: text.into(),
        ts: 0,
        seq: 0,
    };
    let mut u = UnconfirmedChats::default();
    u.sent("confirmed");
    u.sent(" in history \u{1b}[2J");
    u.sent("lost");
    u.sent("");
    u.confirmed("confirmed");
    assert_eq!(u.len(), 2);
    // The server kept "in history" (stripped and trimmed) but never got "lost".
    let history = [said("old-id", "in history"), said("someone", "lost")];
    assert_eq!(u.lost(&history, "new-id", Some("old-id")), vec!["lost"]);
    assert!(u.is_empty());
}

#[test]
fn queue_keeps_the_newest_hundred() {
    let mut q = OutgoingQueue::default();
    for i in 0..130 {
        q.push(ClientMessage::Chat {
            text: format!("m{i}"),
        });
    }
    assert_eq!(q.len(), QUEUE_LIMIT);
    assert_eq!(q.dropped, 30);
    let drained = q.drain();
    assert_eq!(drained[0], ClientMessage::Chat { text: "m30".into() });
    assert!(q.is_empty());
}

#[test]
fn reconnects_only_after_abnormal_ends() {
    assert!(reconnect_after(&Ended::Lost));
    assert!(reconnect_after(&Ended::Closed(1001)));
    assert!(reconnect_after(&Ended::Closed(1006)));
    assert!(!reconnect_after(&Ended::Closed(1000)));
    assert!(!reconnect_after(&Ended::Closed(1008)));
    assert!(!reconnect_after(&Ended::Left));
}

#[test]
fn several_servers_are_tried_in_turn() {
    assert_eq!(
        super::server_list("ws://a:1/ws, ws://b:2/ws,,ws://c:3/ws"),
        ["ws://a:1/ws", "ws://b:2/ws", "ws://c:3/ws"]
    );
    assert_eq!(super::server_list("ws://a:1/ws"), ["ws://a:1/ws"]);
}
