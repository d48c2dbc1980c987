//! The device picker (`d`): cameras, microphones, speakers and screens found on this machine,
//! plus the stand-ins (test pattern, none), each with the mesh command that switches to it.
//! Building the list is pure; the terminal driver finds the devices (which may block) and
//! hands them in.

use std::path::PathBuf;

use crate::call::mesh::MeshCommand;
use crate::media::sound::{SoundDevice, SoundKind};
use crate::media::sources::{AudioSpec, VideoSpec};

/// What a choice switches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceKind {
    /// The camera.
    Camera,
    /// The microphone.
    Microphone,
    /// The speaker.
    Speaker,
    /// The shared screen.
    Screen,
}

impl DeviceKind {
    /// The heading the picker shows.
    pub fn title(self) -> &'static str {
        match self {
            DeviceKind::Camera => "Camera",
            DeviceKind::Microphone => "Microphone",
            DeviceKind::Speaker => "Speaker",
            DeviceKind::Screen => "Screen",
        }
    }
}

/// One line of the picker.
#[derive(Clone, Debug, PartialEq)]
pub struct DeviceChoice {
    /// What it switches.
    pub kind: DeviceKind,
    /// What people read.
    pub label: String,
    /// What choosing it does.
    pub command: MeshCommand,
}

/// The devices found on this machine, as the picker takes them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FoundDevices {
    /// Cameras: (index, name).
    pub cameras: Vec<(u32, String)>,
    /// Microphones, then the monitors of speakers.
    pub microphones: Vec<SoundDevice>,
    /// Speakers.
    pub speakers: Vec<SoundDevice>,
    /// X screens as `DISPLAY (WxH)`.
    pub screens: Vec<String>,
}

impl FoundDevices {
    /// Asks the system (blocking: run it off the UI thread).
    pub fn find() -> FoundDevices {
        use crate::media::{camera, screen, sound};
        let (_, devices) = sound::list();
        let of = |kinds: &[SoundKind]| {
            kinds
                .iter()
                .flat_map(|k| sound::of_kind(&devices, *k).cloned())
                .collect::<Vec<_>>()
        };
        FoundDevices {
            cameras: camera::list_cameras()
                .into_iter()
                .map(|c| (c.index, c.name))
                .collect(),
            microphones: of(&[SoundKind::Microphone, SoundKind::Monitor]),
            speakers: of(&[SoundKind::Speaker]),
            screens: screen::list_screens(),
        }
    }
}

/// A sound device as the picker shows it.
fn sound_label(d: &SoundDevice) -> String {
    format!(
        "{}{}",
        d.description,
        if d.default { " (default)" } else { "" }
    )
}

/// Every choice, grouped by kind: the devices found, the clips from the config (`.y4m` as
/// cameras, `.wav` as microphones), then the stand-ins.
pub fn device_choices(found: &FoundDevices, clips: &[PathBuf]) -> Vec<DeviceChoice> {
    let of_kind = |ext: &'static str| {
        clips
            .iter()
            .filter(move |p| p.extension().is_some_and(|e| e.eq_ignore_ascii_case(ext)))
    };
    let mut out = Vec::new();
    let mut add = |kind, label: String, command| {
        out.push(DeviceChoice {
            kind,
            label,
            command,
        })
    };
    for (index, name) in &found.cameras {
        add(
            DeviceKind::Camera,
            format!("{index}: {name}"),
            MeshCommand::UseCamera(VideoSpec::Camera(Some(index.to_string()))),
        );
    }
    for clip in of_kind("y4m") {
        add(
            DeviceKind::Camera,
            format!("file {}", clip.display()),
            MeshCommand::UseCamera(VideoSpec::File(clip.clone())),
        );
    }
    add(
        DeviceKind::Camera,
        "test pattern".into(),
        MeshCommand::UseCamera(VideoSpec::TestPattern),
    );
    add(
        DeviceKind::Camera,
        "none (camera off)".into(),
        MeshCommand::UseCamera(VideoSpec::None),
    );
    for d in &found.microphones {
        add(
            DeviceKind::Microphone,
            sound_label(d),
            MeshCommand::UseMicrophone(AudioSpec::Mic(Some(d.id.clone()))),
        );
    }
    for clip in of_kind("wav") {
        add(
            DeviceKind::Microphone,
            format!("file {}", clip.display()),
            MeshCommand::UseMicrophone(AudioSpec::File(clip.clone())),
        );
    }
    add(
        DeviceKind::Microphone,
        "test tone (440 Hz)".into(),
        MeshCommand::UseMicrophone(AudioSpec::Tone(440.0)),
    );
    add(
        DeviceKind::Microphone,
        "none (microphone off)".into(),
        MeshCommand::Mic(false),
    );
    add(
        DeviceKind::Speaker,
        "the system's default".into(),
        MeshCommand::UseSpeaker(None),
    );
    for d in &found.speakers {
        add(
            DeviceKind::Speaker,
            sound_label(d),
            MeshCommand::UseSpeaker(Some(d.id.clone())),
        );
    }
    for line in &found.screens {
        let display = line.split_whitespace().next().unwrap_or(line);
        add(
            DeviceKind::Screen,
            line.clone(),
            MeshCommand::UseScreen(VideoSpec::X11(Some(display.to_string()))),
        );
    }
    add(
        DeviceKind::Screen,
        "test pattern".into(),
        MeshCommand::UseScreen(VideoSpec::TestPattern),
    );
    out
}

/// The open picker.
#[derive(Clone, Debug, PartialEq)]
pub struct DevicePicker {
    /// Every choice, grouped by kind.
    pub choices: Vec<DeviceChoice>,
    /// The highlighted one.
    pub selected: usize,
}

impl DevicePicker {
    /// A picker over `found` and `clips`, on the first choice.
    pub fn new(found: &FoundDevices, clips: &[PathBuf]) -> DevicePicker {
        DevicePicker {
            choices: device_choices(found, clips),
            selected: 0,
        }
    }

    /// Moves the highlight by `by`, stopping at the ends.
    pub fn step(&mut self, by: isize) {
        let last = self.choices.len().saturating_sub(1);
        self.selected = self.selected.saturating_add_signed(by).min(last);
    }

    /// Moves to the first choice of the next (or previous) kind.
    pub fn jump(&mut self, forward: bool) {
        let Some(current) = self.choices.get(self.selected).map(|c| c.kind) else {
            return;
        };
        if forward {
            if let Some(i) = self
                .choices
                .iter()
                .skip(self.selected)
                .position(|c| c.kind != current)
            {
                self.selected += i;
            }
        } else if let Some(start) = self.choices[..self.selected]
            .iter()
            .rposition(|c| c.kind != current)
        {
            let kind = self.choices[start].kind;
            self.selected = self.choices[..=start]
                .iter()
                .rposition(|c| c.kind != kind)
                .map_or(0, |i| i + 1);
        }
    }

    /// The highlighted choice.
    pub fn current(&self) -> Option<&DeviceChoice> {
        self.choices.get(self.selected)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found() -> FoundDevices {
        FoundDevices {
            cameras: vec![(0, "Integrated Camera".into())],
            microphones: vec![SoundDevice {
                id: "alsa_input.pci.analog-stereo".into(),
                description: "Built-in Audio Analog Stereo".into(),
                kind: SoundKind::Microphone,
                default: true,
                rate: Some(48_000),
                own_processing: None,
            }],
            speakers: vec![SoundDevice {
                id: "alsa_output.pci.analog-stereo".into(),
                description: "Built-in Audio Analog Stereo".into(),
                kind: SoundKind::Speaker,
                default: true,
                rate: Some(48_000),
                own_processing: None,
            }],
            screens: vec![":0.0 (1920x1080)".into()],
        }
    }

    #[test]
    fn choices_carry_the_command_that_switches() {
        let clips = [
            PathBuf::from("/clips/talk.y4m"),
            PathBuf::from("/clips/voice.WAV"),
        ];
        let choices = device_choices(&found(), &clips);
        assert!(choices
            .iter()
            .any(|c| c.command == MeshCommand::UseCamera(VideoSpec::File(clips[0].clone()))));
        assert!(choices
            .iter()
            .any(|c| c.command == MeshCommand::UseMicrophone(AudioSpec::File(clips[1].clone()))));
        assert_eq!(
            choices[0].command,
            MeshCommand::UseCamera(VideoSpec::Camera(Some("0".into())))
        );
        let mic = choices
            .iter()
            .find(|c| c.kind == DeviceKind::Microphone)
            .unwrap();
        assert_eq!(
            mic.command,
            MeshCommand::UseMicrophone(AudioSpec::Mic(Some("alsa_input.pci.analog-stereo".into())))
        );
        assert!(choices
            .iter()
            .any(|c| c.command == MeshCommand::UseScreen(VideoSpec::X11(Some(":0.0".into())))));
        // With nothing found, the stand-ins are still there.
        let bare = device_choices(&FoundDevices::default(), &[]);
        assert!(bare.iter().any(|c| c.label == "test pattern"));
        assert!(bare
            .iter()
            .any(|c| c.command == MeshCommand::UseCamera(VideoSpec::None)));
    }

    #[test]
    fn the_highlight_moves_within_bounds_and_by_kind() {
        let mut p = DevicePicker::new(&found(), &[]);
        p.step(-3);
        assert_eq!(p.selected, 0);
        p.jump(true);
        assert_eq!(p.current().unwrap().kind, DeviceKind::Microphone);
        p.jump(true);
        assert_eq!(p.current().unwrap().kind, DeviceKind::Speaker);
        p.jump(false);
        assert_eq!(p.current().unwrap().kind, DeviceKind::Microphone);
        assert_eq!(
            p.current().unwrap().label,
            "Built-in Audio Analog Stereo (default)"
        );
        p.step(100);
        assert_eq!(p.selected, p.choices.len() - 1);
    }
}
