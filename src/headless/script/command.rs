//! One line of a script into its [`Step`]: the command word picks a reader, and each reader
//! checks its own words, so that an error says how that command is written.

use super::expect::parse_expect;
use super::sources::{audio_spec, video_spec};
use super::step::Step;
use super::words::{duration, on_off, unescape_keys, words};
use crate::call::mesh::MeshCommand;
use crate::media::processing::Feature;
use crate::media::sources::VideoSpec;
use crate::share::host::{parse_size, DEFAULT_SIZE};
use crate::share::TerminalSpec;

/// Reads one line: `None` for a blank line or a comment.
pub(super) fn parse_line(line: &str) -> Result<Option<Step>, String> {
    let trimmed = line.trim();
    if trimmed.is_empty() || trimmed.starts_with('#') {
        return Ok(None);
    }
    let w = words(trimmed)?;
    let step = match w[0].as_str() {
        "join" => parse_join(&w)?,
        "video" | "screen-source" | "audio" => parse_source(&w)?,
        "cam" | "mic" | "screen" | "chat-enabled" => parse_switch(&w)?,
        "audio-processing" => parse_audio_processing(&w)?,
        "hand" => parse_hand(&w)?,
        "show" => parse_show(&w)?,
        "terminal-keys" => parse_terminal_keys(trimmed)?,
        "terminal-control" => parse_terminal_control(&w)?,
        "terminal-size" => {
            arity(&w, 2)?;
            let (cols, rows) = parse_size(&w[1])?;
            Step::Command(MeshCommand::TerminalResize(cols, rows))
        }
        "share-terminal" => parse_share_terminal(trimmed)?,
        "chat" => parse_chat(trimmed)?,
        "wait" => {
            arity(&w, 2)?;
            Step::Wait(duration(w.get(1), "wait")?)
        }
        "expect" => parse_expect(w)?,
        "leave" => {
            arity(&w, 1)?;
            Step::Command(MeshCommand::Leave)
        }
        other => {
            return Err(format!(
                "unknown command {other:?}; see docs/script.md for the commands"
            ))
        }
    };
    Ok(Some(step))
}

/// Checks that a command has `n` words, itself included.
fn arity(w: &[String], n: usize) -> Result<(), String> {
    if w.len() == n {
        Ok(())
    } else {
        Err(format!("`{}` takes {} word(s) after it", w[0], n - 1))
    }
}

/// `join ROOM as NAME [secret S]`.
fn parse_join(w: &[String]) -> Result<Step, String> {
    if !(w.len() == 4 || (w.len() == 6 && w[4] == "secret")) || w[2] != "as" {
        return Err("write `join ROOM as NAME [secret S]`".into());
    }
    Ok(Step::Join {
        room: w[1].clone(),
        name: w[3].clone(),
        secret: w.get(5).cloned(),
    })
}

/// `video SOURCE`, `screen-source SOURCE` (not a camera) and `audio SOURCE`.
fn parse_source(w: &[String]) -> Result<Step, String> {
    arity(w, 2)?;
    Ok(match w[0].as_str() {
        "video" => Step::Video(video_spec(w.get(1))?),
        "screen-source" => {
            let spec = video_spec(w.get(1))?;
            if matches!(spec, VideoSpec::Camera(_) | VideoSpec::None) {
                return Err(
                    "a screen source is test-pattern, file:PATH.y4m or x11[:DISPLAY]".into(),
                );
            }
            Step::ScreenSource(spec)
        }
        _ => Step::Audio(audio_spec(w.get(1))?),
    })
}

/// `cam`, `mic`, `screen` and `chat-enabled`, each `on` or `off`.
fn parse_switch(w: &[String]) -> Result<Step, String> {
    arity(w, 2)?;
    let what = w[0].as_str();
    let on = on_off(w.get(1), what)?;
    Ok(Step::Command(match what {
        "cam" => MeshCommand::Cam(on),
        "mic" => MeshCommand::Mic(on),
        "screen" => MeshCommand::Screen(on),
        _ => MeshCommand::ChatEnabled(on),
    }))
}

/// `audio-processing echo|noise|gain|all on|off`.
fn parse_audio_processing(w: &[String]) -> Result<Step, String> {
    let usage = "write `audio-processing echo|noise|gain|all on|off`";
    if w.len() != 3 {
        return Err(usage.into());
    }
    let features = match w[1].as_str() {
        "all" => Feature::ALL.to_vec(),
        word => vec![Feature::parse(word).ok_or(usage)?],
    };
    Ok(Step::AudioProcessing {
        features,
        on: on_off(w.get(2), "audio-processing FEATURE")?,
    })
}

/// `hand raise`, `hand lower` and `hand lower NAME`.
fn parse_hand(w: &[String]) -> Result<Step, String> {
    Ok(match (w.get(1).map(String::as_str), w.len()) {
        (Some("raise"), 2) => Step::Command(MeshCommand::HandRaise),
        (Some("lower"), 2) => Step::Command(MeshCommand::HandLower(None)),
        (Some("lower"), 3) => Step::HandLowerFor(w[2].clone()),
        _ => return Err("write `hand raise`, `hand lower` or `hand lower NAME`".into()),
    })
}

/// `show everyone` or `show NAME...`: whose cameras this participant draws.
fn parse_show(w: &[String]) -> Result<Step, String> {
    match w.get(1).map(String::as_str) {
        None => Err("write `show everyone`, `show nobody` or `show NAME...`".into()),
        Some("everyone") if w.len() == 2 => Ok(Step::Show(None)),
        Some("nobody") if w.len() == 2 => Ok(Step::Show(Some(Vec::new()))),
        Some(_) => Ok(Step::Show(Some(w[1..].to_vec()))),
    }
}

/// `terminal-keys TEXT` or `terminal-keys to NAME TEXT`: the text is read from the line as
/// written, spaces kept, not from its words.
fn parse_terminal_keys(trimmed: &str) -> Result<Step, String> {
    let rest = trimmed["terminal-keys".len()..].trim_start();
    let (to, text) = match rest.strip_prefix("to ") {
        Some(r) => {
            let r = r.trim_start();
            let (name, text) = r.split_once(' ').unwrap_or((r, ""));
            (Some(name.to_string()), text)
        }
        None => (None, rest),
    };
    if text.is_empty() {
        return Err("write `terminal-keys TEXT` or `terminal-keys to NAME TEXT`".into());
    }
    Ok(Step::TerminalKeys {
        to,
        bytes: unescape_keys(text)?,
    })
}

/// `terminal-control NAME` or `terminal-control off`.
fn parse_terminal_control(w: &[String]) -> Result<Step, String> {
    Ok(match (w.get(1).map(String::as_str), w.len()) {
        (Some("off"), 2) => Step::TerminalControl(None),
        (Some(name), 2) => Step::TerminalControl(Some(name.to_string())),
        _ => return Err("write `terminal-control NAME` or `terminal-control off`".into()),
    })
}

/// `share-terminal COMMAND...` or `share-terminal off`; the command is the rest of the line.
fn parse_share_terminal(trimmed: &str) -> Result<Step, String> {
    let command = trimmed["share-terminal".len()..].trim();
    Ok(Step::Command(match command {
        "" => return Err("`share-terminal` needs a command (or `off`)".into()),
        "off" => MeshCommand::ShareTerminal(None),
        c => MeshCommand::ShareTerminal(Some(TerminalSpec {
            command: c.to_string(),
            size: DEFAULT_SIZE,
        })),
    }))
}

/// `chat TEXT...`; the text is the rest of the line.
fn parse_chat(trimmed: &str) -> Result<Step, String> {
    let text = trimmed["chat".len()..].trim();
    if text.is_empty() {
        return Err("`chat` needs a message".into());
    }
    Ok(Step::Command(MeshCommand::Chat(text.to_string())))
}
