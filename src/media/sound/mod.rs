//! Microphones and speakers as people know them. When a PulseAudio server (or PipeWire's
//! PulseAudio service) answers, the devices are its sources and sinks, named by their
//! descriptions ("Built-in Audio Analog Stereo"), asked over its own protocol; the monitors
//! of its sinks are listed apart from the microphones. When PipeWire runs natively (no
//! PulseAudio service), they are its audio nodes, by description, with the defaults its
//! session manager chose (`sound/pipewire.rs`). Otherwise they are ALSA's hardware
//! cards and `default`, never its converter and mixer plugins.
//!
//! Choosing is pure ([`choose`]): a name matches a device's description or its system name,
//! case-insensitively, exactly or by a prefix only one device has.

mod alsa;
pub mod pipewire;
mod pulse;

pub use alsa::alsa_device_shown;

/// What a sound device is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SoundKind {
    /// A microphone (a PulseAudio source that is not a monitor, an ALSA capture device).
    Microphone,
    /// What a speaker plays, as a source (PulseAudio's monitor of a sink).
    Monitor,
    /// A speaker (a PulseAudio sink, an ALSA playback device).
    Speaker,
}

/// One microphone, monitor or speaker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SoundDevice {
    /// The system's own name: PulseAudio's (`alsa_input.pci-0000_00_1f.3.analog-stereo`),
    /// or ALSA's (`hw:CARD=PCH,DEV=0`).
    pub id: String,
    /// What people read: PulseAudio's description, or ALSA's card name.
    pub description: String,
    /// What it is for.
    pub kind: SoundKind,
    /// Whether it is the one used when none is named.
    pub default: bool,
    /// Its own sample rate, when the system says.
    pub rate: Option<u32>,
    /// The processing it does itself, when the system says (a sound server's echo
    /// canceller, a speakerphone).
    pub own_processing: Option<String>,
}

/// What processing a PulseAudio (or PipeWire) device says it does itself, from its name,
/// description and properties: the sound server's echo canceller (PulseAudio's
/// `module-echo-cancel` marks its source `device.class=filter` for the role `phone`;
/// PipeWire's is named `echo-cancel`), or a device meant for calls.
pub fn own_processing<'a>(
    name: &str,
    description: &str,
    props: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Option<String> {
    let lower = |t: &str| t.to_ascii_lowercase();
    let mentions_echo = |t: &str| {
        let t = lower(t);
        t.contains("echo-cancel") || t.contains("echo cancel") || t.contains("echo_cancel")
    };
    let props: Vec<(&str, &str)> = props.into_iter().collect();
    let prop = |key: &str| props.iter().find(|(k, _)| *k == key).map(|(_, v)| *v);
    if mentions_echo(name)
        || mentions_echo(description)
        || props
            .iter()
            .any(|(k, v)| k.starts_with("device.echo-cancel") || mentions_echo(v))
    {
        return Some("echo cancellation".into());
    }
    let filter = prop("device.class") == Some("filter");
    let phone =
        prop("device.intended_roles").is_some_and(|r| r.split_whitespace().any(|r| r == "phone"));
    match (filter, phone) {
        (true, _) => Some("filtering by the sound server".into()),
        (false, true) => Some("processing for calls (a device meant for phone calls)".into()),
        _ => None,
    }
}

/// Where the devices come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SoundSystem {
    /// A PulseAudio server, or PipeWire's PulseAudio service.
    PulseAudio,
    /// PipeWire, natively: no PulseAudio service answered.
    PipeWire,
    /// ALSA directly: no sound server answered.
    Alsa,
}

impl SoundSystem {
    /// Its name for people.
    pub fn name(self) -> &'static str {
        match self {
            SoundSystem::PulseAudio => "PulseAudio",
            SoundSystem::PipeWire => "PipeWire",
            SoundSystem::Alsa => "ALSA",
        }
    }
}

/// The sound devices of this machine, and where they come from: a PulseAudio server (or
/// PipeWire's PulseAudio service) if one answers, else PipeWire natively, else ALSA.
pub fn list() -> (SoundSystem, Vec<SoundDevice>) {
    if let Some(devices) = pulse::devices() {
        return (SoundSystem::PulseAudio, devices);
    }
    if let Some(devices) = pipewire::devices() {
        return (SoundSystem::PipeWire, devices);
    }
    (SoundSystem::Alsa, alsa::devices())
}

/// The devices of `kind` in `devices`.
pub fn of_kind(devices: &[SoundDevice], kind: SoundKind) -> impl Iterator<Item = &SoundDevice> {
    devices.iter().filter(move |d| d.kind == kind)
}

/// The device `wanted` names among those of `kinds`: a description or system name equal to
/// it (case-insensitively), else the only one that starts with it. The error says what
/// there is to choose from.
pub fn choose<'a>(
    devices: &'a [SoundDevice],
    wanted: &str,
    kinds: &[SoundKind],
) -> Result<&'a SoundDevice, String> {
    let candidates: Vec<&SoundDevice> =
        devices.iter().filter(|d| kinds.contains(&d.kind)).collect();
    let needle = wanted.trim().to_lowercase();
    let exact: Vec<&SoundDevice> = candidates
        .iter()
        .copied()
        .filter(|d| d.description.to_lowercase() == needle || d.id.to_lowercase() == needle)
        .collect();
    if let [one] = exact.as_slice() {
        return Ok(one);
    }
    if let Some(first) = exact.first() {
        // The same description twice (two identical headsets): the system name tells apart.
        return Err(format!(
            "{} devices are called {:?}: name one by its system name ({})",
            exact.len(),
            first.description,
            exact
                .iter()
                .map(|d| d.id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let prefixed: Vec<&SoundDevice> = candidates
        .iter()
        .copied()
        .filter(|d| {
            d.description.to_lowercase().starts_with(&needle)
                || d.id.to_lowercase().starts_with(&needle)
        })
        .collect();
    match prefixed.as_slice() {
        [one] => Ok(one),
        [] => Err(format!(
            "none is called {wanted:?}; there is {}",
            if candidates.is_empty() {
                "none".to_string()
            } else {
                candidates
                    .iter()
                    .map(|d| format!("{:?}", d.description))
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        )),
        many => Err(format!(
            "{wanted:?} could be any of {}: say more of the name",
            many.iter()
                .map(|d| format!("{:?}", d.description))
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// The device used when none is named: the default among `kinds` (a monitor can be the
/// default source).
pub fn default_of<'a>(devices: &'a [SoundDevice], kinds: &[SoundKind]) -> Option<&'a SoundDevice> {
    devices
        .iter()
        .find(|d| d.default && kinds.contains(&d.kind))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_processing_is_read_from_names_and_properties() {
        assert_eq!(
            own_processing("echo-cancel-source", "Echo-Cancel Source", []).as_deref(),
            Some("echo cancellation"),
            "PipeWire's canceller"
        );
        assert_eq!(
            own_processing(
                "x",
                "Mic",
                [
                    ("device.class", "filter"),
                    ("device.intended_roles", "phone")
                ]
            )
            .as_deref(),
            Some("filtering by the sound server")
        );
        assert!(own_processing("y", "Headset", [("device.intended_roles", "phone")]).is_some());
        assert_eq!(
            own_processing(
                "alsa_input.pci",
                "Built-in Audio",
                [("device.class", "sound")]
            ),
            None
        );
    }

    fn dev(id: &str, description: &str, kind: SoundKind) -> SoundDevice {
        SoundDevice {
            id: id.into(),
            description: description.into(),
            kind,
            default: false,
            rate: Some(48_000),
            own_processing: None,
        }
    }

    fn devices() -> Vec<SoundDevice> {
        vec![
            dev(
                "alsa_input.pci.analog-stereo",
                "Built-in Audio Analog Stereo",
                SoundKind::Microphone,
            ),
            dev(
                "alsa_input.usb-Jabra",
                "Jabra Evolve2 Mono",
                SoundKind::Microphone,
            ),
            dev(
                "alsa_output.pci.analog-stereo.monitor",
                "Monitor of Built-in Audio Analog Stereo",
                SoundKind::Monitor,
            ),
            dev(
                "alsa_output.pci.analog-stereo",
                "Built-in Audio Analog Stereo",
                SoundKind::Speaker,
            ),
            dev(
                "alsa_output.usb-Jabra",
                "Jabra Evolve2 Mono",
                SoundKind::Speaker,
            ),
        ]
    }

    #[test]
    fn names_match_case_insensitively_and_by_unique_prefix() {
        let d = devices();
        let mic = [SoundKind::Microphone, SoundKind::Monitor];
        assert_eq!(
            choose(&d, "jabra", &mic).map(|d| d.id.as_str()),
            Ok("alsa_input.usb-Jabra")
        );
        assert_eq!(
            choose(&d, "BUILT-IN AUDIO ANALOG STEREO", &mic).map(|d| d.id.as_str()),
            Ok("alsa_input.pci.analog-stereo")
        );
        assert_eq!(
            choose(&d, "monitor", &mic).map(|d| d.kind),
            Ok(SoundKind::Monitor)
        );
        assert_eq!(
            choose(&d, "alsa_input.usb-jabra", &mic).map(|d| d.description.as_str()),
            Ok("Jabra Evolve2 Mono")
        );
        let e = choose(&d, "b", &[SoundKind::Speaker, SoundKind::Microphone]).unwrap_err();
        assert!(e.contains("could be any of"), "{e}");
        let e = choose(&d, "headset", &[SoundKind::Speaker]).unwrap_err();
        assert!(e.contains("Jabra Evolve2 Mono"), "{e}");
        // A speaker's name does not choose a microphone.
        assert_eq!(
            choose(&d, "alsa_output.usb", &mic).unwrap_err(),
            format!("none is called \"alsa_output.usb\"; there is {}", "\"Built-in Audio Analog Stereo\", \"Jabra Evolve2 Mono\", \"Monitor of Built-in Audio Analog Stereo\"")
        );
    }

    #[test]
    fn two_devices_of_one_description_are_told_apart_by_system_name() {
        let mut d = devices();
        d.push(dev(
            "alsa_input.usb-Jabra-2",
            "Jabra Evolve2 Mono",
            SoundKind::Microphone,
        ));
        let e = choose(&d, "jabra evolve2 mono", &[SoundKind::Microphone]).unwrap_err();
        assert!(e.contains("alsa_input.usb-Jabra-2"), "{e}");
        assert_eq!(
            choose(&d, "alsa_input.usb-Jabra-2", &[SoundKind::Microphone]).map(|d| d.id.as_str()),
            Ok("alsa_input.usb-Jabra-2")
        );
    }

    #[test]
    fn alsa_plugins_are_not_devices() {
        for plugin in [
            "null",
            "lavrate",
            "samplerate",
            "speexrate",
            "jack",
            "oss",
            "pulse",
            "speex",
            "upmix",
            "vdownmix",
            "sysdefault:CARD=PCH",
        ] {
            assert!(!alsa_device_shown(plugin), "{plugin}");
        }
        for card in ["default", "hw:CARD=PCH,DEV=0", "plughw:CARD=PCH,DEV=0"] {
            assert!(alsa_device_shown(card), "{card}");
        }
    }
}
