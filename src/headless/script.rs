//! The headless script language of `SCRIPT.md`: one command a line, `#` comments, durations
//! like `500ms`, `2s`, `1m`, and `within D` on expectations. Parsing is pure; errors name the
//! line and say what was wrong.

use std::path::PathBuf;
use std::time::Duration;

use termmeet_signaling::duration::parse_duration;

use crate::media::processing::Feature;
use crate::share::host::{parse_size, DEFAULT_SIZE};
use crate::share::TerminalSpec;

/// Default bound of an `expect`.
pub const DEFAULT_WITHIN: Duration = Duration::from_secs(10);

pub use crate::call::mesh::MeshCommand;
pub use crate::call::stats::Quality;
pub use crate::media::sources::{AudioSpec, VideoSpec};

/// One command.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// `join ROOM as NAME [secret S]`
    Join {
        room: String,
        name: String,
        secret: Option<String>,
    },
    /// `video SOURCE`
    Video(VideoSpec),
    /// `screen-source SOURCE`
    ScreenSource(VideoSpec),
    /// `audio SOURCE`
    Audio(AudioSpec),
    /// A command the terminal UI's keys give too: `cam on|off`, `mic on|off`,
    /// `screen on|off`, `hand raise`, `hand lower`, `chat TEXT...`, `chat-enabled on|off`,
    /// `leave`.
    Command(MeshCommand),
    /// `hand lower NAME` (host): the name is looked up when the line runs.
    HandLowerFor(String),
    /// `terminal-keys TEXT...` (into our share) or `terminal-keys to NAME TEXT...` (into
    /// the terminal NAME shares), with `\r`, `\n`, `\t`, `\e` and `\\` escapes.
    TerminalKeys { to: Option<String>, bytes: Vec<u8> },
    /// `terminal-control NAME` / `terminal-control off`: who may type into our share.
    TerminalControl(Option<String>),
    /// `audio-processing echo|noise|gain|all on|off`
    AudioProcessing { features: Vec<Feature>, on: bool },
    /// `wait D`
    Wait(Duration),
    /// `expect peers N`
    ExpectPeers { count: usize, within: Duration },
    /// `expect video from NAME [frames N]`
    ExpectVideo {
        from: String,
        frames: u64,
        within: Duration,
    },
    /// `expect screen from NAME [frames N]`
    ExpectScreen {
        from: String,
        frames: u64,
        within: Duration,
    },
    /// `expect audio from NAME [tone HZ]`
    ExpectAudio {
        from: String,
        tone: Option<f64>,
        within: Duration,
    },
    /// `expect no video from NAME for D`
    ExpectNoVideo { from: String, duration: Duration },
    /// `expect chat from NAME "TEXT"`
    ExpectChat {
        from: String,
        text: String,
        within: Duration,
    },
    /// `expect terminal from NAME "TEXT"`
    ExpectTerminal {
        from: String,
        text: String,
        within: Duration,
    },
    /// `expect hand NAME [position K]`
    ExpectHand {
        name: String,
        position: Option<usize>,
        within: Duration,
    },
    /// `expect quality NAME at least LEVEL`
    ExpectQuality {
        name: String,
        level: Quality,
        within: Duration,
    },
    /// `expect left NAME`
    ExpectLeft { name: String, within: Duration },
}

/// A command with where it came from.
#[derive(Clone, Debug, PartialEq)]
pub struct ScriptLine {
    /// 1-based line number.
    pub line: usize,
    /// The line as written (trimmed).
    pub text: String,
    /// What it means.
    pub step: Step,
}

/// A script that cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ScriptError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong and how to write it.
    pub message: String,
}

/// Splits a line into words; `"double quoted"` words may hold spaces and `\"`.
fn words(line: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut chars = line.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        if c == '"' {
            chars.next();
            let mut word = String::new();
            loop {
                match chars.next() {
                    Some('\\') => word.extend(chars.next()),
                    Some('"') => break,
                    Some(c) => word.push(c),
                    None => return Err("a quoted text is not closed with \"".into()),
                }
            }
            out.push(word);
        } else {
            let mut word = String::new();
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                word.push(c);
                chars.next();
            }
            out.push(word);
        }
    }
    Ok(out)
}

fn duration(word: Option<&String>, what: &str) -> Result<Duration, String> {
    let word = word.ok_or_else(|| format!("{what} needs a duration, like 2s"))?;
    parse_duration(word)
}

fn on_off(word: Option<&String>, what: &str) -> Result<bool, String> {
    match word.map(String::as_str) {
        Some("on") => Ok(true),
        Some("off") => Ok(false),
        other => Err(format!("write `{what} on` or `{what} off`, not {other:?}")),
    }
}

fn video_spec(word: Option<&String>) -> Result<VideoSpec, String> {
    let word = word.ok_or(
        "name a source: test-pattern, test-pattern:busy, file:PATH.y4m, camera[:INDEX], x11[:DISPLAY] or none",
    )?;
    let (kind, arg) = match word.split_once(':') {
        Some((k, a)) => (k, Some(a.to_string())),
        None => (word.as_str(), None),
    };
    Ok(match (kind, arg) {
        ("test-pattern", None) => VideoSpec::TestPattern,
        ("test-pattern", Some(a)) if a == "busy" => VideoSpec::BusyPattern,
        ("none", None) => VideoSpec::None,
        ("file", Some(p)) if !p.is_empty() => VideoSpec::File(PathBuf::from(p)),
        ("camera", a) => VideoSpec::Camera(a),
        ("x11", a) => VideoSpec::X11(a.map(|d| if d.starts_with(':') { d } else { format!(":{d}") })),
        _ => return Err(format!("{word:?} is not a video source; use test-pattern, test-pattern:busy, file:PATH.y4m, camera[:INDEX], x11[:DISPLAY] or none")),
    })
}

fn audio_spec(word: Option<&String>) -> Result<AudioSpec, String> {
    let word = word.ok_or("name a source: tone:HZ, file:PATH.wav, mic[:NAME] or silence")?;
    let (kind, arg) = match word.split_once(':') {
        Some((k, a)) => (k, Some(a)),
        None => (word.as_str(), None),
    };
    Ok(match (kind, arg) {
        ("silence", None) => AudioSpec::Silence,
        ("tone", Some(hz)) => {
            let hz: f64 = hz
                .parse()
                .map_err(|_| format!("{hz:?} is not a frequency in Hz"))?;
            if !(20.0..=20_000.0).contains(&hz) {
                return Err(format!("tone {hz} Hz is outside 20 to 20000 Hz"));
            }
            AudioSpec::Tone(hz)
        }
        ("file", Some(p)) if !p.is_empty() => AudioSpec::File(PathBuf::from(p)),
        ("mic", a) => AudioSpec::Mic(a.map(str::to_string)),
        _ => {
            return Err(format!(
            "{word:?} is not an audio source; use tone:HZ, file:PATH.wav, mic[:NAME] or silence"
        ))
        }
    })
}

/// Keys as a script writes them: `\r`, `\n`, `\t`, `\e` (escape) and `\\`.
fn unescape_keys(text: &str) -> Result<Vec<u8>, String> {
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        out.push(match chars.next() {
            Some('r') => '\r',
            Some('n') => '\n',
            Some('t') => '\t',
            Some('e') => '\u{1b}',
            Some('\\') => '\\',
            Some(c) => {
                return Err(format!(
                    "\\{c} is not a key escape (use \\r \\n \\t \\e \\\\)"
                ))
            }
            None => return Err("a key escape is cut short at the end of the line".into()),
        });
    }
    Ok(out.into_bytes())
}

/// Removes a trailing `within D` and returns it (or the default).
fn take_within(w: &mut Vec<String>) -> Result<Duration, String> {
    if w.len() >= 2 && w[w.len() - 2] == "within" {
        let d = parse_duration(&w[w.len() - 1])?;
        w.truncate(w.len() - 2);
        Ok(d)
    } else {
        Ok(DEFAULT_WITHIN)
    }
}

fn number<T: std::str::FromStr>(word: Option<&String>, what: &str) -> Result<T, String> {
    let word = word.ok_or_else(|| format!("{what} needs a number"))?;
    word.parse()
        .map_err(|_| format!("{word:?} is not a number ({what})"))
}

fn parse_expect(mut w: Vec<String>) -> Result<Step, String> {
    let within = take_within(&mut w)?;
    let at = |i: usize| w.get(i);
    let kw = |i: usize, k: &str| w.get(i).map(String::as_str) == Some(k);
    let name_at = |i: usize| {
        w.get(i)
            .cloned()
            .ok_or_else(|| "name a participant".to_string())
    };
    let step = match w.get(1).map(String::as_str) {
        Some("peers") if w.len() == 3 => Step::ExpectPeers { count: number(at(2), "expect peers")?, within },
        Some("video" | "screen") if kw(2, "from") && (w.len() == 4 || (w.len() == 6 && kw(4, "frames"))) => {
            let frames = if w.len() == 6 { number(at(5), "frames")? } else { 10 };
            let from = name_at(3)?;
            if w[1] == "video" {
                Step::ExpectVideo { from, frames, within }
            } else {
                Step::ExpectScreen { from, frames, within }
            }
        }
        Some("audio") if kw(2, "from") && (w.len() == 4 || (w.len() == 6 && kw(4, "tone"))) => {
            let tone = if w.len() == 6 { Some(number::<f64>(at(5), "tone")?) } else { None };
            Step::ExpectAudio { from: name_at(3)?, tone, within }
        }
        Some("no") if kw(2, "video") && kw(3, "from") && kw(5, "for") && w.len() == 7 => {
            Step::ExpectNoVideo { from: name_at(4)?, duration: duration(at(6), "for")? }
        }
        Some("chat") if kw(2, "from") && w.len() == 5 => Step::ExpectChat { from: name_at(3)?, text: w[4].clone(), within },
        Some("terminal") if kw(2, "from") && w.len() == 5 => Step::ExpectTerminal { from: name_at(3)?, text: w[4].clone(), within },
        Some("hand") if w.len() == 3 || (w.len() == 5 && kw(3, "position")) => {
            let position = if w.len() == 5 { Some(number::<usize>(at(4), "position")?) } else { None };
            if position == Some(0) {
                return Err("positions start at 1".into());
            }
            Step::ExpectHand { name: name_at(2)?, position, within }
        }
        Some("quality") if w.len() == 6 && kw(3, "at") && kw(4, "least") => {
            let level = match w[5].as_str() {
                "excellent" => Quality::Excellent,
                "good" => Quality::Good,
                "poor" => Quality::Poor,
                other => return Err(format!("{other:?} is not a quality; use excellent, good or poor")),
            };
            Step::ExpectQuality { name: name_at(2)?, level, within }
        }
        Some("left") if w.len() == 3 => Step::ExpectLeft { name: name_at(2)?, within },
        _ => {
            return Err(
                "cannot read this expectation; see SCRIPT.md (e.g. `expect video from bob frames 30 within 5s`)".to_string(),
            )
        }
    };
    Ok(step)
}

fn parse_line(line: &str) -> Result<Option<Step>, String> {
    let trimmed = line.trim();
    if trimmed.is_empty() || trimmed.starts_with('#') {
        return Ok(None);
    }
    let w = words(trimmed)?;
    let first = w[0].as_str();
    let arity = |n: usize| {
        if w.len() == n {
            Ok(())
        } else {
            Err(format!("`{first}` takes {} word(s) after it", n - 1))
        }
    };
    let step = match first {
        "join" => {
            if !(w.len() == 4 || (w.len() == 6 && w[4] == "secret")) || w[2] != "as" {
                return Err("write `join ROOM as NAME [secret S]`".into());
            }
            Step::Join {
                room: w[1].clone(),
                name: w[3].clone(),
                secret: w.get(5).cloned(),
            }
        }
        "video" => {
            arity(2)?;
            Step::Video(video_spec(w.get(1))?)
        }
        "screen-source" => {
            arity(2)?;
            let spec = video_spec(w.get(1))?;
            if matches!(spec, VideoSpec::Camera(_) | VideoSpec::None) {
                return Err(
                    "a screen source is test-pattern, file:PATH.y4m or x11[:DISPLAY]".into(),
                );
            }
            Step::ScreenSource(spec)
        }
        "audio" => {
            arity(2)?;
            Step::Audio(audio_spec(w.get(1))?)
        }
        "cam" => {
            arity(2)?;
            Step::Command(MeshCommand::Cam(on_off(w.get(1), "cam")?))
        }
        "mic" => {
            arity(2)?;
            Step::Command(MeshCommand::Mic(on_off(w.get(1), "mic")?))
        }
        "screen" => {
            arity(2)?;
            Step::Command(MeshCommand::Screen(on_off(w.get(1), "screen")?))
        }
        "audio-processing" => {
            let usage = "write `audio-processing echo|noise|gain|all on|off`";
            if w.len() != 3 {
                return Err(usage.into());
            }
            let features = match w[1].as_str() {
                "all" => Feature::ALL.to_vec(),
                word => vec![Feature::parse(word).ok_or(usage)?],
            };
            Step::AudioProcessing {
                features,
                on: on_off(w.get(2), "audio-processing FEATURE")?,
            }
        }
        "chat-enabled" => {
            arity(2)?;
            Step::Command(MeshCommand::ChatEnabled(on_off(w.get(1), "chat-enabled")?))
        }
        "hand" => match (w.get(1).map(String::as_str), w.len()) {
            (Some("raise"), 2) => Step::Command(MeshCommand::HandRaise),
            (Some("lower"), 2) => Step::Command(MeshCommand::HandLower(None)),
            (Some("lower"), 3) => Step::HandLowerFor(w[2].clone()),
            _ => return Err("write `hand raise`, `hand lower` or `hand lower NAME`".into()),
        },
        "terminal-keys" => {
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
            Step::TerminalKeys {
                to,
                bytes: unescape_keys(text)?,
            }
        }
        "terminal-control" => match (w.get(1).map(String::as_str), w.len()) {
            (Some("off"), 2) => Step::TerminalControl(None),
            (Some(name), 2) => Step::TerminalControl(Some(name.to_string())),
            _ => return Err("write `terminal-control NAME` or `terminal-control off`".into()),
        },
        "terminal-size" => {
            arity(2)?;
            let (cols, rows) = parse_size(&w[1])?;
            Step::Command(MeshCommand::TerminalResize(cols, rows))
        }
        "share-terminal" => {
            let command = trimmed["share-terminal".len()..].trim();
            match command {
                "" => return Err("`share-terminal` needs a command (or `off`)".into()),
                "off" => Step::Command(MeshCommand::ShareTerminal(None)),
                c => Step::Command(MeshCommand::ShareTerminal(Some(TerminalSpec {
                    command: c.to_string(),
                    size: DEFAULT_SIZE,
                }))),
            }
        }
        "chat" => {
            let text = trimmed["chat".len()..].trim();
            if text.is_empty() {
                return Err("`chat` needs a message".into());
            }
            Step::Command(MeshCommand::Chat(text.to_string()))
        }
        "wait" => {
            arity(2)?;
            Step::Wait(duration(w.get(1), "wait")?)
        }
        "expect" => parse_expect(w)?,
        "leave" => {
            arity(1)?;
            Step::Command(MeshCommand::Leave)
        }
        other => {
            return Err(format!(
                "unknown command {other:?}; see SCRIPT.md for the commands"
            ))
        }
    };
    Ok(Some(step))
}

/// Parses a whole script.
pub fn parse_script(text: &str) -> Result<Vec<ScriptLine>, ScriptError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        match parse_line(line) {
            Ok(Some(step)) => out.push(ScriptLine {
                line: i + 1,
                text: line.trim().to_string(),
                step,
            }),
            Ok(None) => {}
            Err(message) => {
                return Err(ScriptError {
                    line: i + 1,
                    message,
                })
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(line: &str, want: Step) {
        let got = parse_script(line).unwrap_or_else(|e| panic!("{line}: {e}"));
        assert_eq!(got.len(), 1, "{line}");
        assert_eq!(got[0].step, want, "{line}");
    }

    fn bad(line: &str, says: &str) {
        let e = parse_script(&format!("# first\n{line}")).unwrap_err();
        assert_eq!(e.line, 2, "{line}");
        assert!(e.to_string().contains(says), "{line}: {e}");
    }

    const W: Duration = DEFAULT_WITHIN;

    #[test]
    fn every_command() {
        check(
            "join demo as alice",
            Step::Join {
                room: "demo".into(),
                name: "alice".into(),
                secret: None,
            },
        );
        check(
            "join demo as alice secret s3",
            Step::Join {
                room: "demo".into(),
                name: "alice".into(),
                secret: Some("s3".into()),
            },
        );
        check("video test-pattern", Step::Video(VideoSpec::TestPattern));
        check(
            "video test-pattern:busy",
            Step::Video(VideoSpec::BusyPattern),
        );
        check(
            "video file:clip.y4m",
            Step::Video(VideoSpec::File("clip.y4m".into())),
        );
        check(
            "video camera:1",
            Step::Video(VideoSpec::Camera(Some("1".into()))),
        );
        check("video camera", Step::Video(VideoSpec::Camera(None)));
        check("video none", Step::Video(VideoSpec::None));
        check(
            "screen-source x11:99",
            Step::ScreenSource(VideoSpec::X11(Some(":99".into()))),
        );
        check(
            "screen-source test-pattern",
            Step::ScreenSource(VideoSpec::TestPattern),
        );
        check("audio tone:440", Step::Audio(AudioSpec::Tone(440.0)));
        check(
            "audio file:a.wav",
            Step::Audio(AudioSpec::File("a.wav".into())),
        );
        check(
            "audio mic:pulse",
            Step::Audio(AudioSpec::Mic(Some("pulse".into()))),
        );
        check("audio silence", Step::Audio(AudioSpec::Silence));
        check("cam off", Step::Command(MeshCommand::Cam(false)));
        check("mic on", Step::Command(MeshCommand::Mic(true)));
        check("screen on", Step::Command(MeshCommand::Screen(true)));
        check("hand raise", Step::Command(MeshCommand::HandRaise));
        check("hand lower", Step::Command(MeshCommand::HandLower(None)));
        check("hand lower bob", Step::HandLowerFor("bob".into()));
        check(
            "chat hello   there  ",
            Step::Command(MeshCommand::Chat("hello   there".into())),
        );
        check(
            "chat-enabled off",
            Step::Command(MeshCommand::ChatEnabled(false)),
        );
        check("wait 1.5s", Step::Wait(Duration::from_millis(1500)));
        check(
            "expect peers 2",
            Step::ExpectPeers {
                count: 2,
                within: W,
            },
        );
        check(
            "expect peers 2 within 30s",
            Step::ExpectPeers {
                count: 2,
                within: Duration::from_secs(30),
            },
        );
        check(
            "expect video from bob",
            Step::ExpectVideo {
                from: "bob".into(),
                frames: 10,
                within: W,
            },
        );
        check(
            "expect video from bob frames 30 within 5s",
            Step::ExpectVideo {
                from: "bob".into(),
                frames: 30,
                within: Duration::from_secs(5),
            },
        );
        check(
            "expect screen from bob frames 5",
            Step::ExpectScreen {
                from: "bob".into(),
                frames: 5,
                within: W,
            },
        );
        check(
            "expect audio from bob",
            Step::ExpectAudio {
                from: "bob".into(),
                tone: None,
                within: W,
            },
        );
        check(
            "expect audio from bob tone 440",
            Step::ExpectAudio {
                from: "bob".into(),
                tone: Some(440.0),
                within: W,
            },
        );
        check(
            "expect no video from bob for 2s",
            Step::ExpectNoVideo {
                from: "bob".into(),
                duration: Duration::from_secs(2),
            },
        );
        check(
            "expect chat from bob \"hi \\\"you\\\"\"",
            Step::ExpectChat {
                from: "bob".into(),
                text: "hi \"you\"".into(),
                within: W,
            },
        );
        check(
            "expect hand bob",
            Step::ExpectHand {
                name: "bob".into(),
                position: None,
                within: W,
            },
        );
        check(
            "expect hand bob position 2",
            Step::ExpectHand {
                name: "bob".into(),
                position: Some(2),
                within: W,
            },
        );
        check(
            "expect quality bob at least good",
            Step::ExpectQuality {
                name: "bob".into(),
                level: Quality::Good,
                within: W,
            },
        );
        check(
            "expect left bob within 1m",
            Step::ExpectLeft {
                name: "bob".into(),
                within: Duration::from_secs(60),
            },
        );
        check("leave", Step::Command(MeshCommand::Leave));
        check("  # a comment\n\nleave", Step::Command(MeshCommand::Leave));
        check(
            "audio-processing echo off",
            Step::AudioProcessing {
                features: vec![Feature::Echo],
                on: false,
            },
        );
        check(
            "audio-processing all on",
            Step::AudioProcessing {
                features: Feature::ALL.to_vec(),
                on: true,
            },
        );
    }

    #[test]
    fn errors_name_the_line() {
        bad("dance", "unknown command \"dance\"");
        bad("join demo alice", "join ROOM as NAME");
        bad("video webcam", "not a video source");
        bad("audio tone:abc", "not a frequency");
        bad("audio tone:5", "outside");
        bad("cam maybe", "cam on");
        bad("wait soon", "not a duration");
        bad("wait", "takes 1 word");
        bad("expect video bob", "cannot read this expectation");
        bad("expect peers x", "not a number");
        bad("expect hand bob position 0", "start at 1");
        bad("expect quality bob at least great", "not a quality");
        bad("expect chat from bob \"open", "not closed");
        bad("chat", "needs a message");
        bad("screen-source camera", "screen source");
        bad("expect peers 1 within forever", "not a duration");
        bad("audio-processing reverb off", "echo|noise|gain|all");
        bad("audio-processing echo", "echo|noise|gain|all");
        bad("audio-processing noise maybe", "on` or");
    }

    #[test]
    fn quality_levels() {
        assert_eq!(Quality::from_stats(true, 0.0, 0.5), Quality::Excellent);
        assert_eq!(Quality::from_stats(true, 2.0, 50.0), Quality::Good);
        assert_eq!(Quality::from_stats(true, 0.5, 150.0), Quality::Good);
        assert_eq!(Quality::from_stats(true, 5.0, 50.0), Quality::Poor);
        assert_eq!(Quality::from_stats(false, 0.0, 0.0), Quality::Disconnected);
        assert!(Quality::Excellent > Quality::Good && Quality::Good > Quality::Poor);
    }
}
