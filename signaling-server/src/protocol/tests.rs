//! Parsing, field checks and round trips of the wire messages.

use super::*;

fn code_of(text: &str) -> ErrorCode {
    parse_client_message(text).unwrap_err().code
}

#[test]
fn client_types_match_the_enum() {
    let samples = [
        r#"{"type":"join","room":"r","name":"n"}"#,
        r#"{"type":"offer","to":"a","sdp":"x"}"#,
        r#"{"type":"answer","to":"a","sdp":"x"}"#,
        r#"{"type":"candidate","to":"a","candidate":null}"#,
        r#"{"type":"media-state","mic":true,"cam":false}"#,
        r#"{"type":"screen-share-started","stream_id":"s"}"#,
        r#"{"type":"screen-share-stopped"}"#,
        r#"{"type":"raise-hand"}"#,
        r#"{"type":"lower-hand"}"#,
        r#"{"type":"chat","text":"hi"}"#,
        r#"{"type":"chat-enabled"}"#,
        r#"{"type":"chat-disabled"}"#,
        r#"{"type":"leave"}"#,
        r#"{"type":"ping"}"#,
    ];
    for s in samples {
        let m = parse_client_message(s).unwrap_or_else(|e| panic!("{s}: {e}"));
        assert!(CLIENT_TYPES.contains(&m.type_name()));
        // Round trip through the serialiser.
        assert_eq!(parse_client_message(&m.to_json()).unwrap(), m);
    }
}

#[test]
fn errors_name_the_problem() {
    let cases = [
        ("not json", ErrorCode::BadJson),
        ("[1,2]", ErrorCode::BadJson),
        (r#"{"type":5}"#, ErrorCode::BadJson),
        (r#"{"no":"type"}"#, ErrorCode::BadJson),
        (r#"{"type":"dance"}"#, ErrorCode::UnknownType),
        (r#"{"type":""}"#, ErrorCode::UnknownType),
        (r#"{"type":"offer","to":5,"sdp":"x"}"#, ErrorCode::BadField),
        (r#"{"type":"offer","sdp":"x"}"#, ErrorCode::BadField),
        (
            r#"{"type":"join","room":"a b","name":"n"}"#,
            ErrorCode::BadField,
        ),
        (
            r#"{"type":"join","room":"r","name":"   "}"#,
            ErrorCode::BadField,
        ),
        (r#"{"type":"chat","text":"\u0007"}"#, ErrorCode::BadField),
        (
            r#"{"type":"media-state","mic":"yes","cam":true}"#,
            ErrorCode::BadField,
        ),
    ];
    for (text, code) in cases {
        assert_eq!(code_of(text), code, "{text}");
    }
    let e = parse_client_message(r#"{"type":"offer","to":5,"sdp":"x"}"#).unwrap_err();
    assert!(e.message.contains("`to`"), "{}", e.message);
    assert_eq!(e.reference.as_deref(), Some("offer"));
}

#[test]
fn deep_nesting_is_bad_json_not_a_crash() {
    let deep = "[".repeat(10_000) + &"]".repeat(10_000);
    assert_eq!(code_of(&deep), ErrorCode::BadJson);
    let deep_obj = format!(
        "{{\"type\":\"chat\",\"text\":{}1{}}}",
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    assert_eq!(code_of(&deep_obj), ErrorCode::BadJson);
}

#[test]
fn client_from_is_not_part_of_a_client_message() {
    let m = parse_client_message(r#"{"type":"offer","to":"a","sdp":"x","from":"evil"}"#).unwrap();
    assert!(!m.to_json().contains("evil"));
}

#[test]
fn server_messages_round_trip() {
    let m = ServerMessage::Chat(ChatMessage {
        from: "a".into(),
        name: "n".into(),
        text: "t".into(),
        ts: 1,
        seq: 2,
    });
    let json = m.to_json();
    assert!(json.contains(r#""type":"chat""#), "{json}");
    assert_eq!(ServerMessage::parse(&json).unwrap(), m);
    let e = ProtocolError::new(ErrorCode::RoomFull, "full")
        .answering("join")
        .to_message()
        .to_json();
    assert!(e.contains(r#""ref":"join""#) && e.contains(r#""code":"room-full""#));
}

/// Checks that `text` is refused as `bad-field` with a message naming `field`.
fn check_names_field(text: &str, field: &str) {
    let e = parse_client_message(text).expect_err(text);
    assert_eq!(e.code, ErrorCode::BadField, "{text}: {e}");
    assert!(
        e.message.contains(&format!("`{field}`")),
        "{text}: the error does not name `{field}`: {}",
        e.message
    );
}

#[test]
fn bad_fields_are_named() {
    let cases = [
        (r#"{"type":"join","room":5,"name":"n"}"#, "room"),
        (r#"{"type":"join","name":"n"}"#, "room"),
        (r#"{"type":"join","room":"a b","name":"n"}"#, "room"),
        (r#"{"type":"join","room":"r","name":5}"#, "name"),
        (r#"{"type":"join","room":"r"}"#, "name"),
        (r#"{"type":"join","room":"r","name":"   "}"#, "name"),
        (
            r#"{"type":"join","room":"r","name":"n","secret":5}"#,
            "secret",
        ),
        (
            r#"{"type":"join","room":"r","name":"n","token":5}"#,
            "token",
        ),
        (
            r#"{"type":"join","room":"r","name":"n","resume":true}"#,
            "resume",
        ),
        (
            r#"{"type":"join","room":"r","name":"n","client":[]}"#,
            "client",
        ),
        (r#"{"type":"offer","to":5,"sdp":"x"}"#, "to"),
        (r#"{"type":"offer","sdp":"x"}"#, "to"),
        (r#"{"type":"offer","to":"a","sdp":{}}"#, "sdp"),
        (r#"{"type":"answer","to":"a"}"#, "sdp"),
        (r#"{"type":"candidate","candidate":null}"#, "to"),
        (
            r#"{"type":"candidate","to":"a","candidate":"c"}"#,
            "candidate",
        ),
        (
            r#"{"type":"candidate","to":"a","candidate":{}}"#,
            "candidate.candidate",
        ),
        (
            r#"{"type":"candidate","to":"a","candidate":{"candidate":"c","sdp_mid":1}}"#,
            "candidate.sdp_mid",
        ),
        (
            r#"{"type":"candidate","to":"a","candidate":{"candidate":"c","sdp_mline_index":70000}}"#,
            "candidate.sdp_mline_index",
        ),
        (
            r#"{"type":"candidate","to":"a","candidate":{"candidate":"c","username_fragment":2}}"#,
            "candidate.username_fragment",
        ),
        (r#"{"type":"media-state","mic":"yes","cam":true}"#, "mic"),
        (r#"{"type":"media-state","mic":true}"#, "cam"),
        (
            r#"{"type":"screen-share-started","stream_id":5}"#,
            "stream_id",
        ),
        (
            r#"{"type":"screen-share-started","stream_id":""}"#,
            "stream_id",
        ),
        (r#"{"type":"lower-hand","peer":5}"#, "peer"),
        (r#"{"type":"chat","text":5}"#, "text"),
        (r#"{"type":"chat","text":"\u0007"}"#, "text"),
    ];
    for (text, field) in cases {
        check_names_field(text, field);
    }
}

/// Every field of every message, given a list where it wants something else, is named in
/// the error: no field of `ClientMessage` is missing from the field checks.
#[test]
fn every_field_is_named_when_its_type_is_wrong() {
    let complete = [
        ClientMessage::Join {
            room: "r".into(),
            name: "n".into(),
            secret: Some("s".into()),
            token: Some("t".into()),
            resume: Some("u".into()),
            client: Some("c".into()),
            sfu: false,
        },
        ClientMessage::Offer {
            to: "a".into(),
            sdp: "x".into(),
        },
        ClientMessage::Answer {
            to: "a".into(),
            sdp: "x".into(),
        },
        ClientMessage::Candidate {
            to: "a".into(),
            candidate: Some(IceCandidate {
                candidate: "candidate:1".into(),
                sdp_mid: Some("0".into()),
                sdp_mline_index: Some(0),
                username_fragment: Some("f".into()),
            }),
        },
        ClientMessage::MediaState {
            mic: true,
            cam: true,
        },
        ClientMessage::ScreenShareStarted {
            stream_id: "s".into(),
        },
        ClientMessage::LowerHand {
            peer: Some("a".into()),
        },
        ClientMessage::Chat { text: "hi".into() },
    ];
    for message in complete {
        let value: serde_json::Value = serde_json::from_str(&message.to_json()).unwrap();
        let object = value.as_object().unwrap();
        for (key, inner) in object {
            if key == "type" {
                continue;
            }
            let mut wrong = object.clone();
            wrong.insert(key.clone(), serde_json::json!([]));
            check_names_field(&serde_json::Value::Object(wrong).to_string(), key);
            for inner_key in inner.as_object().into_iter().flat_map(|o| o.keys()) {
                let mut wrong = object.clone();
                wrong[key][inner_key] = serde_json::json!([]);
                let text = serde_json::Value::Object(wrong).to_string();
                check_names_field(&text, &format!("{key}.{inner_key}"));
            }
        }
    }
}
