//! `expect …` lines: what must come true (or stay false), and the `within D` bound.

use std::time::Duration;

use termmeet_signaling::duration::parse_duration;

use super::step::Step;
use super::words::{duration, number};
use crate::call::stats::Quality;

/// Default bound of an `expect`.
pub const DEFAULT_WITHIN: Duration = Duration::from_secs(10);

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

/// An `expect` line, already split into words (`expect` first).
pub(super) fn parse_expect(mut w: Vec<String>) -> Result<Step, String> {
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
                "cannot read this expectation; see docs/script.md (e.g. `expect video from bob frames 30 within 5s`)".to_string(),
            )
        }
    };
    Ok(step)
}
