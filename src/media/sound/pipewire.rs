//! The devices of a PipeWire server running natively, when no PulseAudio service answers:
//! its audio nodes, from its registry, and the defaults its session manager chose (the
//! `default` metadata). Streams are opened through cpal's PipeWire host (`media/mic.rs`,
//! `media/playback.rs`), at 48 kHz: PipeWire converts to the node's own rate if it differs.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::mpsc;
use std::time::Duration;

use pipewire as pw;
use pw::types::ObjectType;

use super::{own_processing, SoundDevice, SoundKind};

/// How long the server has to describe its graph.
pub const LIST_TIMEOUT: Duration = Duration::from_secs(2);
/// What a sink's monitor is called after the sink's own name, as PulseAudio calls it.
pub const MONITOR_SUFFIX: &str = ".monitor";

/// An audio node as the registry announced it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Node {
    /// `node.name`.
    pub name: String,
    /// `node.description`, if it has one.
    pub description: Option<String>,
    /// `media.class`: `Audio/Sink`, `Audio/Source`, `Stream/Output/Audio`, ...
    pub class: String,
    /// Every property the registry gave, for [`own_processing`].
    pub props: Vec<(String, String)>,
}

/// The node names of the defaults, as the session manager set them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Defaults {
    pub sink: Option<String>,
    pub source: Option<String>,
}

/// The node name in a `default` metadata value: `{ "name": "alsa_output.pci..." }`.
pub fn default_name(value: &str) -> Option<String> {
    serde_json::from_str::<serde_json::Value>(value)
        .ok()?
        .get("name")?
        .as_str()
        .map(str::to_string)
}

/// The devices of `nodes`: sources are microphones, sinks are speakers and, as monitors,
/// something to capture what they play (`NAME.monitor`, "Monitor of DESCRIPTION"). Streams
/// (other programs' playback and recording) are not devices.
pub fn to_devices(nodes: &[Node], defaults: &Defaults) -> Vec<SoundDevice> {
    let mut out = Vec::new();
    for node in nodes {
        let description = node
            .description
            .clone()
            .unwrap_or_else(|| node.name.clone());
        let processing = own_processing(
            &node.name,
            &description,
            node.props.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        );
        let device = |id: String, description: String, kind, default| SoundDevice {
            id,
            description,
            kind,
            default,
            rate: None,
            own_processing: processing.clone(),
        };
        match node.class.as_str() {
            // What cpal's PipeWire host opens: not `Audio/Source/Virtual`.
            "Audio/Source" | "Audio/Duplex" => out.push(device(
                node.name.clone(),
                description,
                SoundKind::Microphone,
                defaults.source.as_deref() == Some(node.name.as_str()),
            )),
            "Audio/Sink" => {
                out.push(device(
                    format!("{}{MONITOR_SUFFIX}", node.name),
                    format!("Monitor of {description}"),
                    SoundKind::Monitor,
                    false,
                ));
                out.push(device(
                    node.name.clone(),
                    description,
                    SoundKind::Speaker,
                    defaults.sink.as_deref() == Some(node.name.as_str()),
                ));
            }
            _ => {}
        }
    }
    // Microphones first, then monitors, then speakers, each in the order the server has them.
    out.sort_by_key(|d| match d.kind {
        SoundKind::Microphone => 0,
        SoundKind::Monitor => 1,
        SoundKind::Speaker => 2,
    });
    out
}

/// Whether a PipeWire server's socket is there to connect to.
pub fn server_present() -> bool {
    cpal::available_hosts().contains(&cpal::HostId::PipeWire)
}

/// The native PipeWire server's devices, if one answers within [`LIST_TIMEOUT`].
pub fn devices() -> Option<Vec<SoundDevice>> {
    if !server_present() {
        return None;
    }
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new()
        .name("pipewire-devices".into())
        .spawn(move || {
            let _ = tx.send(read_graph());
        })
        .ok()?;
    let (nodes, defaults) = rx
        .recv_timeout(LIST_TIMEOUT + Duration::from_secs(1))
        .ok()
        .flatten()?;
    Some(to_devices(&nodes, &defaults))
}

/// Connects, reads the registry's audio nodes and the `default` metadata, and disconnects.
fn read_graph() -> Option<(Vec<Node>, Defaults)> {
    // cpal keeps the PipeWire library initialised while one of its PipeWire hosts (or
    // streams) lives, and deinitialises it when the last goes: one is held for as long as
    // this uses the library, which is then initialised whoever else uses it.
    let host = cpal::host_from_id(cpal::HostId::PipeWire).ok()?;
    let found = read_registry();
    drop(host);
    found
}

/// What the registry's listeners gather while the main loop runs.
#[derive(Default)]
struct Gathered {
    /// The audio nodes announced so far.
    nodes: RefCell<Vec<Node>>,
    /// The defaults the `default` metadata has set so far.
    defaults: RefCell<Defaults>,
    /// Round trips still to be answered: the registry's first listing, then one per bound
    /// metadata object (its properties come before the answer).
    pending: RefCell<Vec<pw::spa::utils::result::AsyncSeq>>,
    /// The metadata objects bound, kept with their listeners for as long as the loop runs.
    bound: RefCell<Vec<(pw::metadata::Metadata, pw::metadata::MetadataListener)>>,
}

/// Lists the registry's audio nodes and reads the `default` metadata, on a fresh main loop
/// that ends when every round trip is answered or after [`LIST_TIMEOUT`]; `None` when the
/// server could not be reached or did not answer in time.
fn read_registry() -> Option<(Vec<Node>, Defaults)> {
    let mainloop = pw::main_loop::MainLoopRc::new(None).ok()?;
    let context = pw::context::ContextRc::new(&mainloop, None).ok()?;
    let core = context.connect_rc(None).ok()?;
    let registry = core.get_registry_rc().ok()?;
    let gathered = Rc::new(Gathered::default());
    gathered.pending.borrow_mut().push(core.sync(0).ok()?);
    let _core_listener = core
        .add_listener_local()
        .done({
            let (gathered, mainloop) = (Rc::clone(&gathered), mainloop.clone());
            move |id, seq| {
                if id != pw::core::PW_ID_CORE {
                    return;
                }
                let mut pending = gathered.pending.borrow_mut();
                pending.retain(|s| *s != seq);
                if pending.is_empty() {
                    mainloop.quit();
                }
            }
        })
        .register();
    let _registry_listener = registry
        .add_listener_local()
        .global({
            let gathered = Rc::clone(&gathered);
            let (registry, core) = (registry.clone(), core.clone());
            move |global| on_global(global, &gathered, &registry, &core)
        })
        .register();
    let _timeout = QuitAfter::start(&mainloop, LIST_TIMEOUT);
    mainloop.run();
    let answered = gathered.pending.borrow().is_empty();
    let nodes = gathered.nodes.take();
    let defaults = gathered.defaults.take();
    answered.then_some((nodes, defaults))
}

/// One object the registry announced: an audio node is kept; the `default` metadata is
/// bound so that its properties (the defaults) arrive, with one more round trip to wait for.
fn on_global(
    global: &pw::registry::GlobalObject<&pw::spa::utils::dict::DictRef>,
    gathered: &Rc<Gathered>,
    registry: &pw::registry::RegistryRc,
    core: &pw::core::CoreRc,
) {
    let Some(props) = global.props else { return };
    match global.type_ {
        ObjectType::Node => {
            if let Some(node) = audio_node(props) {
                gathered.nodes.borrow_mut().push(node);
            }
        }
        ObjectType::Metadata => {
            if props.get("metadata.name") != Some("default") {
                return;
            }
            let Ok(metadata) = registry.bind::<pw::metadata::Metadata, _>(global) else {
                return;
            };
            let listener = metadata
                .add_listener_local()
                .property({
                    let gathered = Rc::clone(gathered);
                    move |_, key, _, value| {
                        let name = value.and_then(default_name);
                        let mut d = gathered.defaults.borrow_mut();
                        match key {
                            Some("default.audio.sink") => d.sink = name,
                            Some("default.audio.source") => d.source = name,
                            _ => {}
                        }
                        0
                    }
                })
                .register();
            if let Ok(seq) = core.sync(0) {
                gathered.pending.borrow_mut().push(seq);
            }
            gathered.bound.borrow_mut().push((metadata, listener));
        }
        _ => {}
    }
}

/// The node these properties describe, when it is an audio one (`media.class` `Audio/…`).
fn audio_node(props: &pw::spa::utils::dict::DictRef) -> Option<Node> {
    let class = props.get(*pw::keys::MEDIA_CLASS)?;
    if !class.starts_with("Audio/") {
        return None;
    }
    Some(Node {
        name: props.get(*pw::keys::NODE_NAME).unwrap_or("").to_string(),
        description: props.get(*pw::keys::NODE_DESCRIPTION).map(str::to_string),
        class: class.to_string(),
        props: props
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    })
}

/// Quits a main loop after a time, unless dropped first: a server that accepts the
/// connection but never answers must not hold the listing forever.
struct QuitAfter<'l> {
    /// Dropped (or sent to), it tells the timer thread the loop ended in time.
    _cancel: mpsc::Sender<()>,
    /// The timer's message attached to the loop; it quits the loop when it arrives.
    _attached: pw::channel::AttachedReceiver<'l, ()>,
}

impl<'l> QuitAfter<'l> {
    /// Starts the timer for `mainloop`.
    fn start(mainloop: &'l pw::main_loop::MainLoopRc, after: Duration) -> QuitAfter<'l> {
        let (cancel_tx, cancel_rx) = mpsc::channel::<()>();
        let (timeout_tx, timeout_rx) = pw::channel::channel::<()>();
        let attached = timeout_rx.attach(mainloop.loop_(), {
            let mainloop = mainloop.clone();
            move |_| mainloop.quit()
        });
        std::thread::spawn(move || {
            if cancel_rx.recv_timeout(after).is_err() {
                let _ = timeout_tx.send(());
            }
        });
        QuitAfter {
            _cancel: cancel_tx,
            _attached: attached,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, description: &str, class: &str) -> Node {
        Node {
            name: name.into(),
            description: Some(description.into()),
            class: class.into(),
            props: Vec::new(),
        }
    }

    #[test]
    fn default_names_are_read_from_the_metadata_json() {
        assert_eq!(
            default_name(r#"{ "name": "alsa_output.pci-0000_00_1f.3.analog-stereo" }"#).as_deref(),
            Some("alsa_output.pci-0000_00_1f.3.analog-stereo")
        );
        assert_eq!(default_name("not json"), None);
        assert_eq!(default_name(r#"{"other": 1}"#), None);
    }

    #[test]
    fn nodes_become_microphones_monitors_and_speakers() {
        let nodes = [
            node(
                "alsa_output.pci.analog-stereo",
                "Built-in Audio Analog Stereo",
                "Audio/Sink",
            ),
            node(
                "alsa_input.pci.analog-stereo",
                "Built-in Audio Analog Stereo",
                "Audio/Source",
            ),
            node("echo-cancel-source", "Echo-Cancel Source", "Audio/Source"),
            node("Firefox", "Firefox", "Stream/Output/Audio"),
            node("Dummy-Driver", "Dummy", "Video/Source"),
        ];
        let defaults = Defaults {
            sink: Some("alsa_output.pci.analog-stereo".into()),
            source: Some("alsa_input.pci.analog-stereo".into()),
        };
        let devices = to_devices(&nodes, &defaults);
        let line = |d: &SoundDevice| (d.kind, d.id.clone(), d.description.clone(), d.default);
        assert_eq!(
            devices
                .iter()
                .find(|d| d.id == "echo-cancel-source")
                .and_then(|d| d.own_processing.as_deref()),
            Some("echo cancellation")
        );
        assert_eq!(
            devices.iter().map(line).collect::<Vec<_>>(),
            vec![
                (
                    SoundKind::Microphone,
                    "alsa_input.pci.analog-stereo".into(),
                    "Built-in Audio Analog Stereo".into(),
                    true
                ),
                (
                    SoundKind::Microphone,
                    "echo-cancel-source".into(),
                    "Echo-Cancel Source".into(),
                    false
                ),
                (
                    SoundKind::Monitor,
                    "alsa_output.pci.analog-stereo.monitor".into(),
                    "Monitor of Built-in Audio Analog Stereo".into(),
                    false
                ),
                (
                    SoundKind::Speaker,
                    "alsa_output.pci.analog-stereo".into(),
                    "Built-in Audio Analog Stereo".into(),
                    true
                ),
            ]
        );
    }
}
