//! The client's defaults: shipped in the binary, overridden by a TOML file in the platform's
//! config directory (`~/.config/termmeet/config.toml` on Linux), overridden by flags.
//! `termmeet --print-config` shows the result.

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::media::processing::Suppressor;

/// Every setting the config file may hold; all optional.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClientConfig {
    /// Signaling server URL (none: this process serves a private meeting itself).
    pub server: Option<String>,
    /// Display name (none: the login name).
    pub name: Option<String>,
    /// Camera by number or name, or `none`.
    pub camera: Option<String>,
    /// Microphone by name, or `none`.
    pub mic: Option<String>,
    /// Speaker by name, or `none`.
    pub speaker: Option<String>,
    /// X display to share.
    pub screen: Option<String>,
    /// Colour depth: truecolor, 256, 16 or mono (none: from the environment).
    pub colors: Option<String>,
    /// Colour tolerance.
    pub tolerance: Option<u8>,
    /// Characters to draw video with: half or quadrant (none: half).
    pub cells: Option<String>,
    /// Video tiles as real pixels: auto, kitty, sixel or off (none: auto).
    pub graphics: Option<String>,
    /// Terminal byte budget, kbit/s.
    pub max_tty_kbps: Option<u64>,
    /// Log file.
    pub log_file: Option<PathBuf>,
    /// STUN and TURN servers to use besides the ones the server hands out.
    pub ice_servers: Option<Vec<String>>,
    /// User name for those `turn:` servers.
    pub turn_username: Option<String>,
    /// Credential for those `turn:` servers.
    pub turn_credential: Option<String>,
    /// Media files the device picker (`d`) offers: `.y4m` clips as cameras, `.wav` as
    /// microphones.
    pub clips: Option<Vec<PathBuf>>,
    /// Besides the bell, a desktop notification (OSC 9 / OSC 777) when a hand goes up or a
    /// chat line names you while the terminal is not focused.
    pub notify: Option<bool>,
    /// Echo cancellation: `on` (the default) or `off`.
    pub echo_cancel: Option<OnOff>,
    /// Noise suppression: `on` (the default: both suppressors), `webrtc`, `rnnoise` or `off`.
    pub noise_suppression: Option<NoiseChoice>,
    /// Automatic gain control: `on` (the default) or `off`.
    pub auto_gain: Option<OnOff>,
}

/// A setting that is `on` or `off` (in the file, also `true` or `false`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OnOff(pub bool);

impl std::str::FromStr for OnOff {
    type Err = String;

    fn from_str(text: &str) -> Result<OnOff, String> {
        match text.to_ascii_lowercase().as_str() {
            "on" | "true" | "yes" => Ok(OnOff(true)),
            "off" | "false" | "no" => Ok(OnOff(false)),
            _ => Err(format!("{text:?} is neither on nor off")),
        }
    }
}

impl Serialize for OnOff {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(if self.0 { "on" } else { "off" })
    }
}

/// A setting written as `true`/`false` or as a word: either parses the word.
#[derive(Deserialize)]
#[serde(untagged)]
enum BoolOrWord {
    Bool(bool),
    Word(String),
}

impl BoolOrWord {
    fn parse<T: std::str::FromStr<Err = String>, E: serde::de::Error>(
        self,
        from_bool: impl FnOnce(bool) -> T,
    ) -> Result<T, E> {
        match self {
            BoolOrWord::Bool(b) => Ok(from_bool(b)),
            BoolOrWord::Word(w) => w.parse().map_err(E::custom),
        }
    }
}

impl<'de> Deserialize<'de> for OnOff {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<OnOff, D::Error> {
        BoolOrWord::deserialize(d)?.parse(OnOff)
    }
}

/// Which noise suppression: `off`, or the suppressors to run (`on` is `both`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NoiseChoice(pub Option<Suppressor>);

impl std::str::FromStr for NoiseChoice {
    type Err = String;

    fn from_str(text: &str) -> Result<NoiseChoice, String> {
        if let Some(suppressor) = Suppressor::parse(text) {
            return Ok(NoiseChoice(Some(suppressor)));
        }
        match text.parse::<OnOff>() {
            Ok(OnOff(true)) => Ok(NoiseChoice(Some(Suppressor::Both))),
            Ok(OnOff(false)) => Ok(NoiseChoice(None)),
            Err(_) => Err(format!(
                "{text:?} is not a noise suppression: on, off, webrtc (steady noise only), \
                 rnnoise or both"
            )),
        }
    }
}

impl Serialize for NoiseChoice {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0.map_or("off", Suppressor::word))
    }
}

impl<'de> Deserialize<'de> for NoiseChoice {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<NoiseChoice, D::Error> {
        BoolOrWord::deserialize(d)?.parse(|on| NoiseChoice(on.then_some(Suppressor::Both)))
    }
}

impl ClientConfig {
    /// The audio processing these settings ask for: everything not turned off.
    pub fn processing(&self) -> crate::media::processing::Features {
        let on = |v: Option<OnOff>| v.is_none_or(|v| v.0);
        crate::media::processing::Features {
            echo: on(self.echo_cancel),
            noise: self.noise_suppression.is_none_or(|n| n.0.is_some()),
            gain: on(self.auto_gain),
            suppressor: self.noise_suppression.and_then(|n| n.0).unwrap_or_default(),
        }
    }
}

/// The values used when neither the file nor a flag sets one.
pub fn shipped_defaults() -> ClientConfig {
    ClientConfig {
        tolerance: Some(8),
        ..ClientConfig::default()
    }
}

/// Where the config file is looked for.
pub fn default_path() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "termmeet").map(|d| d.config_dir().join("config.toml"))
}

/// Reads a config file; a missing file is an empty config, a bad one a clear error.
pub fn load(path: &Path) -> anyhow::Result<ClientConfig> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(ClientConfig::default()),
        Err(e) => {
            return Err(e)
                .with_context(|| format!("cannot read the config file {}", path.display()))
        }
    };
    toml::from_str(&text).with_context(|| {
        format!(
            "the config file {} is not valid (fix or remove it)",
            path.display()
        )
    })
}

impl ClientConfig {
    /// This config with every unset field taken from `under`.
    pub fn over(self, under: ClientConfig) -> ClientConfig {
        ClientConfig {
            server: self.server.or(under.server),
            name: self.name.or(under.name),
            camera: self.camera.or(under.camera),
            mic: self.mic.or(under.mic),
            speaker: self.speaker.or(under.speaker),
            screen: self.screen.or(under.screen),
            colors: self.colors.or(under.colors),
            tolerance: self.tolerance.or(under.tolerance),
            cells: self.cells.or(under.cells),
            graphics: self.graphics.or(under.graphics),
            max_tty_kbps: self.max_tty_kbps.or(under.max_tty_kbps),
            notify: self.notify.or(under.notify),
            clips: self.clips.or(under.clips),
            log_file: self.log_file.or(under.log_file),
            ice_servers: self.ice_servers.or(under.ice_servers),
            turn_username: self.turn_username.or(under.turn_username),
            turn_credential: self.turn_credential.or(under.turn_credential),
            echo_cancel: self.echo_cancel.or(under.echo_cancel),
            noise_suppression: self.noise_suppression.or(under.noise_suppression),
            auto_gain: self.auto_gain.or(under.auto_gain),
        }
    }

    /// As TOML, for `--print-config`.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_flags_and_defaults_layer() {
        let dir = std::env::temp_dir().join(format!("termmeet-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("config.toml");
        assert_eq!(
            load(&path).unwrap(),
            ClientConfig::default(),
            "a missing file is empty"
        );
        std::fs::write(&path, "name = \"ada\"\ntolerance = 12\ncolors = \"256\"\n").unwrap();
        let file = load(&path).unwrap();
        let flags = ClientConfig {
            tolerance: Some(4),
            ..ClientConfig::default()
        };
        let effective = flags.over(file).over(shipped_defaults());
        assert_eq!(effective.name.as_deref(), Some("ada"));
        assert_eq!(effective.tolerance, Some(4), "a flag beats the file");
        assert_eq!(effective.colors.as_deref(), Some("256"));
        assert!(effective.to_toml().contains("name = \"ada\""));
        std::fs::write(&path, "echo_cancel = \"off\"\nauto_gain = false\n").unwrap();
        let processing = load(&path).unwrap().processing();
        assert!(!processing.echo && processing.noise && !processing.gain);
        let flags = ClientConfig {
            echo_cancel: Some(OnOff(true)),
            ..ClientConfig::default()
        };
        assert!(
            flags.over(load(&path).unwrap()).processing().echo,
            "a flag beats the file"
        );
        std::fs::write(&path, "echo_cancel = \"maybe\"\n").unwrap();
        let e = format!("{:#}", load(&path).unwrap_err());
        assert!(e.contains("neither on nor off"), "{e}");
        std::fs::write(&path, "noise_suppression = \"rnnoise\"\n").unwrap();
        let processing = load(&path).unwrap().processing();
        assert!(processing.noise && processing.suppressor == Suppressor::Rnnoise);
        std::fs::write(&path, "noise_suppression = false\n").unwrap();
        assert!(!load(&path).unwrap().processing().noise);
        std::fs::write(&path, "noise_suppression = \"krisp\"\n").unwrap();
        let e = format!("{:#}", load(&path).unwrap_err());
        assert!(e.contains("webrtc") && e.contains("rnnoise"), "{e}");
        assert_eq!(
            "on".parse::<NoiseChoice>(),
            Ok(NoiseChoice(Some(Suppressor::Both)))
        );
        std::fs::write(&path, "nmae = \"typo\"\n").unwrap();
        let e = format!("{:#}", load(&path).unwrap_err());
        assert!(e.contains("config.toml") && e.contains("nmae"), "{e}");
    }
}
