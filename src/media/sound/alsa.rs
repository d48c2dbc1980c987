//! ALSA's own devices, for a machine where no sound server answers: its cards and
//! `default`, never its converter, mixer or sound-server plugins.

use cpal::traits::{DeviceTrait, HostTrait};

use super::{SoundDevice, SoundKind};

/// Whether an ALSA device name is one a person owns: a card (`hw:`, `plughw:`) or
/// `default`; not a converter, mixer or sound-server plugin.
pub fn alsa_device_shown(id: &str) -> bool {
    id == "default" || id.starts_with("hw:") || id.starts_with("plughw:")
}

/// ALSA's cards and `default`, through cpal's ALSA host.
pub(super) fn devices() -> Vec<SoundDevice> {
    let Ok(host) = cpal::host_from_id(cpal::HostId::Alsa) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (kind, devices) in [
        (SoundKind::Microphone, host.input_devices()),
        (SoundKind::Speaker, host.output_devices()),
    ] {
        let Ok(devices) = devices else { continue };
        for d in devices {
            let id = d.id().map(|i| i.id().to_string()).unwrap_or_default();
            if !alsa_device_shown(&id) {
                continue;
            }
            let description = d
                .description()
                .map(|n| n.name().to_string())
                .unwrap_or_else(|_| id.clone());
            out.push(SoundDevice {
                default: id == "default",
                description,
                kind,
                rate: None,
                own_processing: None,
                id,
            });
        }
    }
    out
}
