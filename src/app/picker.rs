//! The open device picker as the app drives it: `d` opens it and asks for the devices, the
//! devices found fill it (again every [`DEVICES_REFRESH`] while it is open), and Enter
//! switches to the highlighted one.

use std::time::{Duration, Instant};

use super::devices::{DevicePicker, FoundDevices};
use super::mode::Mode;
use super::{App, Effect};

/// How often the open device picker finds the devices again.
pub const DEVICES_REFRESH: Duration = Duration::from_secs(2);

impl App {
    /// `d`: the picker opens empty while the devices are found.
    pub(super) fn open_picker(&mut self) -> Vec<Effect> {
        self.mode = Mode::looking_for_devices();
        vec![Effect::FindDevices]
    }

    /// Moves the open picker's highlight.
    pub(super) fn in_picker(&mut self, change: impl FnOnce(&mut DevicePicker)) -> Vec<Effect> {
        if let Mode::Picker { picker, .. } = &mut self.mode {
            change(picker);
        }
        Vec::new()
    }

    /// Enter: the picker closes and the highlighted device is switched to.
    pub(super) fn choose_device(&mut self) -> Vec<Effect> {
        let chosen = self.picker().and_then(|p| p.current().cloned());
        self.mode = Mode::Meeting;
        let Some(choice) = chosen else {
            return Vec::new();
        };
        self.notice(format!(
            "{}: {}",
            choice.kind.title().to_lowercase(),
            choice.label
        ));
        vec![Effect::Mesh(choice.command)]
    }

    /// The devices found, while the picker is open. Found again while open (devices come
    /// and go), the highlight stays on the same choice when it is still there.
    pub(super) fn devices_found(&mut self, found: &FoundDevices) {
        let Mode::Picker { picker: old, .. } = &mut self.mode else {
            return;
        };
        let was = old.current().map(|c| c.label.clone());
        let mut picker = DevicePicker::new(found, &self.clips);
        if let Some(i) = was.and_then(|l| picker.choices.iter().position(|c| c.label == l)) {
            picker.selected = i;
        }
        *old = picker;
    }

    /// While the device picker is open, the devices are found again every
    /// [`DEVICES_REFRESH`], so one plugged in or out shows up.
    pub(super) fn refresh_devices(&mut self, now: Instant) -> Vec<Effect> {
        let Mode::Picker { found_at, .. } = &mut self.mode else {
            return Vec::new();
        };
        match *found_at {
            None => {
                *found_at = Some(now);
                Vec::new()
            }
            Some(t) if now.saturating_duration_since(t) >= DEVICES_REFRESH => {
                *found_at = Some(now);
                vec![Effect::FindDevices]
            }
            Some(_) => Vec::new(),
        }
    }
}
