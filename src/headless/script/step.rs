//! What a script says: its commands and expectations, each with the line it came from.

use std::time::Duration;

use crate::call::mesh::MeshCommand;
use crate::call::stats::Quality;
use crate::media::processing::Feature;
use crate::media::sources::{AudioSpec, VideoSpec};

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
    /// Draw only these peers' cameras (by name), or everyone's (`None`).
    Show(Option<Vec<String>>),
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
