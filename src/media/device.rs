//! cpal devices by the names people know: through the sound server that answers
//! (PulseAudio, or PipeWire running natively, each its own cpal host), else through ALSA.
//! The microphone and the speaker both open their devices here.

use cpal::traits::{DeviceTrait, HostTrait};

use super::sound::{self, SoundKind};
use super::soundlink;
use super::MediaError;

/// A device's short name (the one `--mic` and `--speaker` take, like `pulse` or `hw:0,0`)
/// and its description.
fn device_names(d: &cpal::Device) -> (String, String) {
    let id = d.id().map(|i| i.id().to_string()).unwrap_or_default();
    let description = d
        .description()
        .map(|n| n.name().to_string())
        .unwrap_or_default();
    (
        if id.is_empty() {
            description.clone()
        } else {
            id
        },
        description,
    )
}

/// Finds an input (or output) device: the default when `name` is `None`, else the one
/// `name` names (see [`sound::choose`]: a description or system name, in any case, or the
/// start of one). Through the sound server that answers, PulseAudio or PipeWire (its own
/// cpal host: the device at the rate asked for, no ALSA plugin between), else through ALSA.
pub fn find_device(name: Option<&str>, input: bool) -> Result<cpal::Device, MediaError> {
    if let Some((system, chosen)) = server_choice(name, input) {
        return server_device(system, &chosen?, input);
    }
    let kind = if input { "microphone" } else { "speaker" };
    let host = cpal::host_from_id(cpal::HostId::Alsa)
        .map_err(|e| MediaError::Device(format!("no {kind}: no sound server and no ALSA: {e}")))?;
    match name {
        None => {
            let env = |k: &str| std::env::var(k).ok();
            if let Some(problem) = soundlink::unreachable_sound_server(env) {
                return Err(MediaError::Device(format!(
                    "no {kind}: {problem}; going on without it"
                )));
            }
            let device = if input {
                host.default_input_device()
            } else {
                host.default_output_device()
            };
            device.ok_or_else(|| {
                MediaError::Device(format!(
                    "no {kind} found; check the sound server (PulseAudio or PipeWire) is running, or run with {}",
                    if input { "--mic none" } else { "--speaker none" }
                ))
            })
        }
        Some(wanted) => {
            let devices = if input {
                host.input_devices()
            } else {
                host.output_devices()
            };
            let mut devices: Vec<cpal::Device> = devices
                .map_err(|e| MediaError::Device(format!("cannot list {kind}s: {e}")))?
                .collect();
            let needle = wanted.to_lowercase();
            let named: Vec<(String, String)> = devices.iter().map(device_names).collect();
            let hit = named
                .iter()
                .position(|(id, _)| id.to_lowercase() == needle)
                .or_else(|| {
                    named
                        .iter()
                        .position(|(_, d)| d.to_lowercase().contains(&needle))
                });
            if let Some(i) = hit {
                return Ok(devices.swap_remove(i));
            }
            let names: Vec<String> = named.into_iter().map(|(id, _)| id).collect();
            Err(MediaError::Device(format!(
                "no {kind} matching {wanted:?}; found: {}",
                if names.is_empty() {
                    "none".to_string()
                } else {
                    names.join(", ")
                }
            )))
        }
    }
}

/// The sound server's source (with `input`; monitors too) or sink that `name` names, or the
/// default, and which server it is; `None` when the devices come from ALSA.
pub(super) fn server_choice(
    name: Option<&str>,
    input: bool,
) -> Option<(sound::SoundSystem, Result<sound::SoundDevice, MediaError>)> {
    let (system, devices) = sound::list();
    if system == sound::SoundSystem::Alsa {
        return None;
    }
    let kind = if input { "microphone" } else { "speaker" };
    let kinds: &[SoundKind] = if input {
        &[SoundKind::Microphone, SoundKind::Monitor]
    } else {
        &[SoundKind::Speaker]
    };
    let chosen =
        match name {
            Some(wanted) => sound::choose(&devices, wanted, kinds)
                .map_err(|e| MediaError::Device(format!("no {kind} {wanted:?}: {e}"))),
            None => sound::default_of(&devices, kinds).ok_or_else(|| {
                MediaError::Device(format!(
                "no {kind} found; check the sound server (PulseAudio or PipeWire), or run with {}",
                if input { "--mic none" } else { "--speaker none" }
            ))
            }),
        };
    Some((system, chosen.cloned()))
}

/// cpal's device, of the host for `system`, for what [`server_choice`] chose. A PipeWire
/// sink's monitor is the sink itself, opened for input (cpal then records what it plays).
pub(super) fn server_device(
    system: sound::SoundSystem,
    chosen: &sound::SoundDevice,
    input: bool,
) -> Result<cpal::Device, MediaError> {
    let kind = if input { "microphone" } else { "speaker" };
    let host_id = match system {
        sound::SoundSystem::PipeWire => cpal::HostId::PipeWire,
        _ => cpal::HostId::PulseAudio,
    };
    let host = cpal::host_from_id(host_id).map_err(|e| {
        MediaError::Device(format!(
            "no {kind}: {} stopped answering ({e})",
            system.name()
        ))
    })?;
    let id = match (system, chosen.kind) {
        (sound::SoundSystem::PipeWire, SoundKind::Monitor) => chosen
            .id
            .strip_suffix(sound::pipewire::MONITOR_SUFFIX)
            .unwrap_or(&chosen.id),
        _ => chosen.id.as_str(),
    };
    let found = if input {
        host.input_devices()
    } else {
        host.output_devices()
    };
    found
        .map_err(|e| MediaError::Device(format!("cannot list {kind}s: {e}")))?
        .find(|d| device_names(d).0 == id)
        .ok_or_else(|| {
            MediaError::Device(format!(
                "{kind} {:?} went away before it could be opened",
                chosen.description
            ))
        })
}
