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
    let mut out = Vec::new();
    camera_choices(found, clips, &mut out);
    microphone_choices(found, clips, &mut out);
    speaker_and_screen_choices(found, &mut out);
    out
}

/// The clips whose extension is `ext`, in any case.
fn clips_of<'a>(clips: &'a [PathBuf], ext: &'a str) -> impl Iterator<Item = &'a PathBuf> {
    clips
        .iter()
        .filter(move |p| p.extension().is_some_and(|e| e.eq_ignore_ascii_case(ext)))
}

/// Appends a choice.
fn add(out: &mut Vec<DeviceChoice>, kind: DeviceKind, label: String, command: MeshCommand) {
    out.push(DeviceChoice {
        kind,
        label,
        command,
    });
}

/// The cameras found, the `.y4m` clips, the test pattern and none.
fn camera_choices(found: &FoundDevices, clips: &[PathBuf], out: &mut Vec<DeviceChoice>) {
    let kind = DeviceKind::Camera;
    for (index, name) in &found.cameras {
        let spec = VideoSpec::Camera(Some(index.to_string()));
        add(
            out,
            kind,
            format!("{index}: {name}"),
            MeshCommand::UseCamera(spec),
        );
    }
    for clip in clips_of(clips, "y4m") {
        let spec = VideoSpec::File(clip.clone());
        add(
            out,
            kind,
            format!("file {}", clip.display()),
            MeshCommand::UseCamera(spec),
        );
    }
    let pattern = MeshCommand::UseCamera(VideoSpec::TestPattern);
    add(out, kind, "test pattern".into(), pattern);
    let none = MeshCommand::UseCamera(VideoSpec::None);
    add(out, kind, "none (camera off)".into(), none);
}

/// The microphones found, the `.wav` clips, a test tone and none.
fn microphone_choices(found: &FoundDevices, clips: &[PathBuf], out: &mut Vec<DeviceChoice>) {
    let kind = DeviceKind::Microphone;
    for d in &found.microphones {
        let spec = AudioSpec::Mic(Some(d.id.clone()));
        add(out, kind, sound_label(d), MeshCommand::UseMicrophone(spec));
    }
    for clip in clips_of(clips, "wav") {
        let spec = AudioSpec::File(clip.clone());
        add(
            out,
            kind,
            format!("file {}", clip.display()),
            MeshCommand::UseMicrophone(spec),
        );
    }
    let tone = MeshCommand::UseMicrophone(AudioSpec::Tone(440.0));
    add(out, kind, "test tone (440 Hz)".into(), tone);
    add(
        out,
        kind,
        "none (microphone off)".into(),
        MeshCommand::Mic(false),
    );
}

/// The system's default speaker and those found, then the screens found and a test
/// pattern.
fn speaker_and_screen_choices(found: &FoundDevices, out: &mut Vec<DeviceChoice>) {
    let speaker = DeviceKind::Speaker;
    add(
        out,
        speaker,
        "the system's default".into(),
        MeshCommand::UseSpeaker(None),
    );
    for d in &found.speakers {
        let command = MeshCommand::UseSpeaker(Some(d.id.clone()));
        add(out, speaker, sound_label(d), command);
    }
    let screen = DeviceKind::Screen;
    for line in &found.screens {
        let display = line.split_whitespace().next().unwrap_or(line);
        let spec = VideoSpec::X11(Some(display.to_string()));
        add(out, screen, line.clone(), MeshCommand::UseScreen(spec));
    }
    let pattern = MeshCommand::UseScreen(VideoSpec::TestPattern);
    add(out, screen, "test pattern".into(), pattern);
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
