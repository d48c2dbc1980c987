//! Video and audio sources as a script names them (`test-pattern`, `file:PATH`, `tone:HZ`…).

use std::path::PathBuf;

use crate::media::sources::{AudioSpec, VideoSpec};

/// A video source: `test-pattern[:busy]`, `file:PATH.y4m`, `camera[:INDEX]`,
/// `x11[:DISPLAY]` or `none`.
pub(super) fn video_spec(word: Option<&String>) -> Result<VideoSpec, String> {
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

/// An audio source: `tone:HZ`, `file:PATH.wav`, `mic[:NAME]` or `silence`.
pub(super) fn audio_spec(word: Option<&String>) -> Result<AudioSpec, String> {
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
