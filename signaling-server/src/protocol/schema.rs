//! The JSON type of every field of every client message, checked before serde reads the
//! message so that an error can always name the field: serde's tagged enums lose the path,
//! and its errors would say only "invalid type".

use serde_json::{Map, Value};

use super::error::{bad_field, ProtocolError};

/// The JSON type a field must have.
#[derive(Clone, Copy)]
enum FieldKind {
    Str,
    Bool,
    Index,
    /// A whole number up to 2^53 (what every JSON reader holds exactly).
    Count,
    /// A list of strings.
    StrList,
    /// An ICE candidate object, or `null`.
    Candidate,
}

/// One field of a message: its name, its kind, and whether it must be present.
type Field = (&'static str, FieldKind, bool);

/// Each message's fields. Every field a message's type in `ClientMessage` has must be here,
/// or a wrong type in it would reach serde and come back without the field's name.
fn schema(kind: &str) -> &'static [Field] {
    use FieldKind::*;
    match kind {
        "join" => &[
            ("room", Str, true),
            ("name", Str, true),
            ("secret", Str, false),
            ("token", Str, false),
            ("resume", Str, false),
            ("client", Str, false),
            ("sfu", Bool, false),
        ],
        "offer" | "answer" => &[("to", Str, true), ("sdp", Str, true)],
        "candidate" => &[("to", Str, true), ("candidate", Candidate, false)],
        "media-state" => &[("mic", Bool, true), ("cam", Bool, true)],
        "screen-share-started" => &[("stream_id", Str, true)],
        "lower-hand" => &[("peer", Str, false)],
        "chat" => &[("text", Str, true)],
        "view" => &[("video", StrList, false)],
        "term" => &[
            ("to", Str, false),
            ("seq", Count, false),
            ("data", Str, false),
            ("sync", Bool, false),
        ],
        _ => &[],
    }
}

/// The fields of an ICE candidate object inside `candidate`.
const CANDIDATE_SCHEMA: &[Field] = &[
    ("candidate", FieldKind::Str, true),
    ("sdp_mid", FieldKind::Str, false),
    ("sdp_mline_index", FieldKind::Index, false),
    ("username_fragment", FieldKind::Str, false),
];

/// Checks that every field of a message of type `kind` has its JSON type, naming the first
/// one that does not.
pub(super) fn check_fields(kind: &str, object: &Map<String, Value>) -> Result<(), ProtocolError> {
    check_object(object, schema(kind), "")
}

/// Checks `object` against `fields`; `prefix` is the path of a nested object, so that its
/// fields are named in full (`candidate.sdp_mid`).
fn check_object(
    object: &Map<String, Value>,
    fields: &[Field],
    prefix: &str,
) -> Result<(), ProtocolError> {
    for &(name, kind, required) in fields {
        let value = object.get(name);
        if !fits(value, kind, required, &format!("{prefix}{name}."))? {
            let got = match value {
                None => "it is missing".to_string(),
                Some(v) => format!("got {}", describe(v)),
            };
            return Err(bad_field(format!(
                "field `{prefix}{name}` must be {}; {got}",
                wanted(kind)
            )));
        }
    }
    Ok(())
}

/// Whether a field's value (or its absence) fits its kind; a nested candidate object is
/// checked in full, with `path` before its fields' names.
fn fits(
    value: Option<&Value>,
    kind: FieldKind,
    required: bool,
    path: &str,
) -> Result<bool, ProtocolError> {
    Ok(match (value, kind) {
        (None, _) => !required,
        (Some(Value::Null), _) => !required || matches!(kind, FieldKind::Candidate),
        (Some(Value::String(_)), FieldKind::Str) => true,
        (Some(Value::Bool(_)), FieldKind::Bool) => true,
        (Some(Value::Number(n)), FieldKind::Index) => {
            n.as_u64().is_some_and(|n| n <= u64::from(u16::MAX))
        }
        (Some(Value::Number(n)), FieldKind::Count) => n.as_u64().is_some_and(|n| n < 1 << 53),
        (Some(Value::Array(items)), FieldKind::StrList) => items.iter().all(Value::is_string),
        (Some(Value::Object(inner)), FieldKind::Candidate) => {
            check_object(inner, CANDIDATE_SCHEMA, path)?;
            true
        }
        _ => false,
    })
}

/// What a field of this kind must be, as an error message says it.
fn wanted(kind: FieldKind) -> &'static str {
    match kind {
        FieldKind::Str => "a string",
        FieldKind::Bool => "true or false",
        FieldKind::Index => "a whole number from 0 to 65535",
        FieldKind::Count => "a whole number from 0 to 2^53",
        FieldKind::StrList => "a list of strings",
        FieldKind::Candidate => "a candidate object or null",
    }
}

/// A short description of a JSON value for error messages.
fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) => format!("the string {:?}", s.chars().take(20).collect::<String>()),
        Value::Array(_) => "a list".into(),
        Value::Object(_) => "an object".into(),
    }
}
