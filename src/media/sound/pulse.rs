//! The devices of a PulseAudio server (or PipeWire's PulseAudio service): its sources and
//! sinks, asked over its own protocol.

use std::ffi::{CStr, CString};
use std::sync::mpsc;
use std::time::Duration;

use pulseaudio::protocol::{Props, ServerInfo, SinkInfo, SourceInfo};

use super::{own_processing, SoundDevice, SoundKind};

/// How long the server has to answer: one that does not is treated as absent.
const LIST_TIMEOUT: Duration = Duration::from_secs(2);

/// The PulseAudio server's sinks and sources, if one answers within 2 s. `PULSE_SINK` and
/// `PULSE_SOURCE` name the defaults when set (as they do for PulseAudio's own clients).
pub(super) fn devices() -> Option<Vec<SoundDevice>> {
    pulseaudio::socket_path_from_env()?;
    let (server, sinks, sources) = ask_server()?;
    let env_or = |var: &str, server_default: &Option<CString>| {
        std::env::var(var)
            .ok()
            .filter(|v| !v.is_empty())
            .or_else(|| server_default.as_deref().map(text))
    };
    let default_sink = env_or("PULSE_SINK", &server.default_sink_name);
    let default_source = env_or("PULSE_SOURCE", &server.default_source_name);
    let mut out: Vec<SoundDevice> = sources
        .iter()
        .map(|s| {
            let kind = if s.monitor_of_sink_index.is_some() {
                SoundKind::Monitor
            } else {
                SoundKind::Microphone
            };
            let listed = Listed {
                name: &s.name,
                description: &s.description,
                props: &s.props,
                rate: s.sample_spec.sample_rate,
            };
            listed.device(kind, &default_source)
        })
        .collect();
    out.extend(sinks.iter().map(|s| {
        let listed = Listed {
            name: &s.name,
            description: &s.description,
            props: &s.props,
            rate: s.sample_spec.sample_rate,
        };
        listed.device(SoundKind::Speaker, &default_sink)
    }));
    Some(out)
}

/// A source or sink as the server lists it.
struct Listed<'a> {
    /// The server's name for it.
    name: &'a CStr,
    /// What people read, when it has one.
    description: &'a Option<CString>,
    /// Its properties, values NUL-terminated.
    props: &'a Props,
    /// Its own sample rate.
    rate: u32,
}

impl Listed<'_> {
    /// The device of `kind` this is; the default when its name is `default`.
    fn device(&self, kind: SoundKind, default: &Option<String>) -> SoundDevice {
        let id = text(self.name);
        let description = self
            .description
            .as_deref()
            .map(text)
            .unwrap_or_else(|| id.clone());
        let props: Vec<(String, String)> = self
            .props
            .iter()
            .map(|(k, v)| {
                let v = v.strip_suffix(&[0]).unwrap_or(v);
                (text(k), String::from_utf8_lossy(v).into_owned())
            })
            .collect();
        SoundDevice {
            own_processing: own_processing(
                &id,
                &description,
                props.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            ),
            description,
            kind,
            default: default.as_deref() == Some(id.as_str()),
            rate: Some(self.rate),
            id,
        }
    }
}

/// The server's defaults, sinks and sources, asked on a thread of their own so that a
/// server that accepts the connection but never answers costs [`LIST_TIMEOUT`], not forever.
fn ask_server() -> Option<(ServerInfo, Vec<SinkInfo>, Vec<SourceInfo>)> {
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new()
        .name("pulse-devices".into())
        .spawn(move || {
            let found = (|| {
                use futures::executor::block_on;
                let client = pulseaudio::Client::from_env(c"termmeet").ok()?;
                let server = block_on(client.server_info()).ok()?;
                let sinks = block_on(client.list_sinks()).ok()?;
                let sources = block_on(client.list_sources()).ok()?;
                Some((server, sinks, sources))
            })();
            let _ = tx.send(found);
        })
        .ok()?;
    rx.recv_timeout(LIST_TIMEOUT).ok().flatten()
}

/// A C string from the server as text, anything not UTF-8 replaced.
fn text(c: &CStr) -> String {
    c.to_string_lossy().into_owned()
}
