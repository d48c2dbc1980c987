//! Opening sources, in one place for `join`, `demo` and headless scripts: what a source is
//! called ([`VideoSpec`], [`AudioSpec`]), the defaults, and the fallbacks a person gets when
//! a device is missing (a test pattern for a camera or a screen, silence for a microphone),
//! each with a notice saying so.

use std::path::PathBuf;

use super::camera::CameraSource;
use super::mic::MicSource;
use super::pattern::PatternStyle;
use super::screen::{ScreenSource, DEFAULT_MAX_SIZE};
use super::tone::ToneSource;
use super::wav::WavSource;
use super::y4m::Y4mSource;
use super::{AudioSource, PatternSource, VideoSource};

/// Camera picture size when nothing else is said.
pub const DEFAULT_VIDEO_SIZE: (usize, usize) = (640, 480);
/// Camera frame rate when nothing else is said.
pub const DEFAULT_FPS: f64 = 30.0;
/// Camera bitrate ceiling when nothing else is said, bits a second.
pub const DEFAULT_BITRATE: u32 = 1_000_000;
/// Screens are captured at this frame rate.
pub const SCREEN_FPS: f64 = 10.0;
/// The size of the test pattern shared in place of a screen that cannot be captured.
pub const SCREEN_PATTERN_SIZE: (usize, usize) = (1280, 720);

/// Largest camera or test-pattern picture: 1920x1080 (either way round).
pub const MAX_PICTURE: (usize, usize) = (1920, 1080);

/// A picture size `WxH` for cameras, test patterns and `bench-call`: even sides (H.264's
/// 4:2:0 halves them), at least 16 pixels, at most 1920x1080 or 1080x1920.
pub fn parse_picture_size(text: &str) -> Result<(usize, usize), String> {
    let (w, h) = text
        .split_once(['x', 'X'])
        .ok_or_else(|| format!("{text:?} is not a picture size; write it like 1280x720"))?;
    let side = |s: &str, what: &str| -> Result<usize, String> {
        s.trim()
            .parse::<usize>()
            .map_err(|_| format!("{text:?}: the {what} is not a number"))
    };
    let (w, h) = (side(w, "width")?, side(h, "height")?);
    let (long, short) = (w.max(h), w.min(h));
    if short < 16 || long > MAX_PICTURE.0 || short > MAX_PICTURE.1 {
        return Err(format!(
            "{text:?} is out of range: from 16x16 to {}x{} (or {}x{})",
            MAX_PICTURE.0, MAX_PICTURE.1, MAX_PICTURE.1, MAX_PICTURE.0
        ));
    }
    if w % 2 == 1 || h % 2 == 1 {
        return Err(format!("{text:?}: width and height must be even"));
    }
    Ok((w, h))
}

/// A screen source as opened, and, when it stands in for a display that could not be
/// captured, what people should be told.
pub struct OpenedScreen {
    /// What is shared.
    pub source: Box<dyn VideoSource>,
    /// Why a test pattern is shared instead of the screen asked for.
    pub fallback: Option<String>,
}

impl OpenedScreen {
    fn shared(source: Box<dyn VideoSource>) -> Result<OpenedScreen, String> {
        Ok(OpenedScreen {
            source,
            fallback: None,
        })
    }
}

/// Makes a screen source when sharing starts.
pub type ScreenFactory = Box<dyn Fn() -> Result<OpenedScreen, String> + Send + Sync>;

/// A camera or screen source.
#[derive(Clone, Debug, PartialEq)]
pub enum VideoSpec {
    /// The synthetic test pattern.
    TestPattern,
    /// The test pattern with noise that needs the bitrate (`test-pattern:busy`).
    BusyPattern,
    /// A looped Y4M file.
    File(PathBuf),
    /// A camera, by index or name.
    Camera(Option<String>),
    /// An X11 display.
    X11(Option<String>),
    /// No video.
    None,
}

impl std::fmt::Display for VideoSpec {
    /// As scripts and the device picker write it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            VideoSpec::TestPattern => f.write_str("test-pattern"),
            VideoSpec::BusyPattern => f.write_str("test-pattern:busy"),
            VideoSpec::File(p) => write!(f, "file:{}", p.display()),
            VideoSpec::Camera(None) => f.write_str("camera"),
            VideoSpec::Camera(Some(c)) => write!(f, "camera:{c}"),
            VideoSpec::X11(None) => f.write_str("x11"),
            VideoSpec::X11(Some(d)) => write!(f, "x11:{d}"),
            VideoSpec::None => f.write_str("none"),
        }
    }
}

impl std::fmt::Display for AudioSpec {
    /// As scripts and the device picker write it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AudioSpec::Tone(hz) => write!(f, "tone:{hz}"),
            AudioSpec::File(p) => write!(f, "file:{}", p.display()),
            AudioSpec::Mic(None) => f.write_str("mic"),
            AudioSpec::Mic(Some(m)) => write!(f, "mic:{m}"),
            AudioSpec::Silence => f.write_str("silence"),
        }
    }
}

/// A microphone source.
#[derive(Clone, Debug, PartialEq)]
pub enum AudioSpec {
    /// A tone at this frequency.
    Tone(f64),
    /// A looped WAV file.
    File(PathBuf),
    /// A microphone, by name.
    Mic(Option<String>),
    /// Silence.
    Silence,
}

/// A pattern colour scheme from a name, so participants look different.
pub fn style_for(name: &str) -> PatternStyle {
    PatternStyle {
        hue_shift: name.bytes().map(|b| b as usize).sum::<usize>() % 8,
        busy: false,
    }
}

/// The test pattern for `name`'s camera.
pub fn camera_pattern(name: &str, size: (usize, usize), fps: f64) -> Box<dyn VideoSource> {
    Box::new(PatternSource::new(
        size.0,
        size.1,
        fps,
        style_for(name),
        true,
    ))
}

/// The test pattern for `name`'s screen: other colours than their camera's.
pub fn screen_pattern(name: &str, size: (usize, usize)) -> Box<dyn VideoSource> {
    let mut style = style_for(name);
    style.hue_shift = (style.hue_shift + 4) % 8;
    Box::new(PatternSource::new(size.0, size.1, SCREEN_FPS, style, true))
}

/// Opens a camera source; `None` for [`VideoSpec::None`].
pub fn open_video(
    spec: &VideoSpec,
    size: (usize, usize),
    fps: f64,
    name: &str,
) -> Result<Option<Box<dyn VideoSource>>, String> {
    let (w, h) = size;
    Ok(match spec {
        VideoSpec::None => None,
        VideoSpec::TestPattern => Some(camera_pattern(name, size, fps)),
        VideoSpec::BusyPattern => Some(Box::new(PatternSource::new(
            w,
            h,
            fps,
            PatternStyle {
                busy: true,
                ..style_for(name)
            },
            true,
        ))),
        VideoSpec::File(p) => Some(Box::new(
            Y4mSource::open(p, true).map_err(|e| e.to_string())?,
        )),
        VideoSpec::Camera(which) => Some(Box::new(
            CameraSource::open(which.as_deref(), w as u32, h as u32, fps as u32)
                .map_err(|e| e.to_string())?,
        )),
        VideoSpec::X11(_) => return Err("x11 is a screen source; use it with screen-source".into()),
    })
}

/// Opens a microphone source.
pub fn open_audio(spec: &AudioSpec) -> Result<Box<dyn AudioSource>, String> {
    Ok(match spec {
        AudioSpec::Tone(hz) => Box::new(ToneSource::new(*hz, true)),
        AudioSpec::Silence => Box::new(ToneSource::new(0.0, true)),
        AudioSpec::File(p) => Box::new(WavSource::open(p, true).map_err(|e| e.to_string())?),
        AudioSpec::Mic(name) => {
            Box::new(MicSource::open(name.as_deref()).map_err(|e| e.to_string())?)
        }
    })
}

/// The person's camera (`wanted` by index or name, `"none"` for no video), or the test
/// pattern with a notice when there is none.
pub fn camera_or_pattern(
    wanted: Option<&str>,
    name: &str,
    notices: &mut Vec<String>,
) -> Option<Box<dyn VideoSource>> {
    if wanted == Some("none") {
        return None;
    }
    let spec = VideoSpec::Camera(wanted.map(str::to_string));
    match open_video(&spec, DEFAULT_VIDEO_SIZE, DEFAULT_FPS, name) {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!("camera: {e}");
            notices.push("no camera: sending a test pattern".into());
            Some(camera_pattern(name, DEFAULT_VIDEO_SIZE, DEFAULT_FPS))
        }
    }
}

/// The person's microphone (`"none"` for no audio), or silence with a notice.
pub fn mic_or_silence(
    wanted: Option<&str>,
    notices: &mut Vec<String>,
) -> Option<Box<dyn AudioSource>> {
    if wanted == Some("none") {
        return None;
    }
    match open_audio(&AudioSpec::Mic(wanted.map(str::to_string))) {
        Ok(m) => Some(m),
        Err(e) => {
            tracing::warn!("microphone: {e}");
            notices.push("no microphone: sending silence".into());
            Some(open_audio(&AudioSpec::Silence).ok()?)
        }
    }
}

/// Makes the screen source when sharing starts. An X display that cannot be captured (over
/// SSH, say) shares a test pattern when `pattern_fallback`, rather than nothing.
pub fn screen_factory(spec: VideoSpec, name: String, pattern_fallback: bool) -> ScreenFactory {
    Box::new(move || -> Result<OpenedScreen, String> {
        match &spec {
            VideoSpec::X11(display) => {
                match ScreenSource::open(display.as_deref(), SCREEN_FPS, DEFAULT_MAX_SIZE, true) {
                    Ok(s) => OpenedScreen::shared(Box::new(s)),
                    Err(e) if pattern_fallback => {
                        tracing::warn!("screen: {e}; sharing a test pattern");
                        Ok(OpenedScreen {
                            source: screen_pattern(&name, SCREEN_PATTERN_SIZE),
                            fallback: Some(format!(
                                "no screen to capture here ({e}): sharing a test pattern instead"
                            )),
                        })
                    }
                    Err(e) => Err(e.to_string()),
                }
            }
            VideoSpec::File(p) => OpenedScreen::shared(Box::new(
                Y4mSource::open(p, true).map_err(|e| e.to_string())?,
            )),
            _ => OpenedScreen::shared(screen_pattern(&name, (640, 360))),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::parse_picture_size;

    #[test]
    fn picture_sizes_go_up_to_full_hd() {
        assert_eq!(parse_picture_size("1280x720"), Ok((1280, 720)));
        assert_eq!(parse_picture_size("1920x1080"), Ok((1920, 1080)));
        assert_eq!(parse_picture_size("1080X1920"), Ok((1080, 1920)));
        assert_eq!(parse_picture_size(" 320 x 240 "), Ok((320, 240)));
        for bad in [
            "3840x2160",
            "1920x1200",
            "8x8",
            "641x480",
            "640",
            "ax480",
            "640x",
        ] {
            let e = parse_picture_size(bad).unwrap_err();
            assert!(e.contains(bad.trim()), "{bad}: {e}");
        }
    }
}
