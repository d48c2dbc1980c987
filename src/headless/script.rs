//! The headless script language of `docs/script.md`: one command a line, `#` comments, durations
//! like `500ms`, `2s`, `1m`, and `within D` on expectations. Parsing is pure; errors name the
//! line and say what was wrong.
//!
//! The language's parts live beside this file: `step` (what a line means), `words`
//! (quoted text, durations, on/off, key escapes), `sources`, `command` (one line) and
//! `expect` (expectations and `within`).

mod command;
mod expect;
mod sources;
mod step;
mod words;

pub use crate::call::mesh::MeshCommand;
pub use crate::call::stats::Quality;
pub use crate::media::sources::{AudioSpec, VideoSpec};
pub use expect::DEFAULT_WITHIN;
pub use step::{ScriptError, ScriptLine, Step};

/// Parses a whole script.
pub fn parse_script(text: &str) -> Result<Vec<ScriptLine>, ScriptError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        match command::parse_line(line) {
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
mod tests;
