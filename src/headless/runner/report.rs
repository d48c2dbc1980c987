//! The JSON report of a run (`docs/script.md`): its types, and how the meeting's state at the end
//! becomes one.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::call::mesh::{Mesh, MeshState, PeerState};
use crate::media::processing::{ProcessingFigures, Suppressor};

/// One step's outcome.
#[derive(Clone, Debug, Serialize)]
pub struct StepReport {
    /// Script line.
    pub line: usize,
    /// The line's text.
    pub text: String,
    /// Whether it held (commands always do unless they failed).
    pub ok: bool,
    /// Milliseconds it took.
    pub ms: u64,
    /// When it started, milliseconds since the Unix epoch (lets a
    /// test line steps up with what it did to the network).
    pub started_ms: u64,
    /// What was seen.
    pub detail: String,
}

/// Figures for one remote participant.
#[derive(Clone, Debug, Serialize)]
pub struct PeerReport {
    pub video_frames: u64,
    /// Camera frames the sender sent between the first and last decoded ones (from the test
    /// pattern's frame numbers), when its video is the test pattern.
    pub video_frames_sent: Option<u64>,
    pub screen_frames: u64,
    pub audio_ms: u64,
    pub video_fps: f64,
    pub latency_ms_p50: Option<u32>,
    pub latency_ms_p95: Option<u32>,
    pub rtt_ms: f64,
    pub loss_pct: f64,
    pub bitrate_kbps: f64,
    /// What we send to this peer, kbit/s.
    pub bitrate_out_kbps: f64,
    /// Interarrival jitter of what we receive, ms.
    pub jitter_ms: f64,
    pub quality: String,
    pub path: String,
    pub concealed_pct: f64,
    pub freezes: u64,
    /// The longest time a tile went without a picture while their camera was on, ms.
    pub longest_video_gap_ms: u64,
    /// The longest time between two of their sound packets while their mic was on, ms.
    pub longest_sound_gap_ms: u64,
    pub sas: Option<String>,
    /// Offers exchanged with this peer, both ways (a source
    /// switch adds none).
    pub offers: u64,
    /// Width and height of the last camera picture decoded.
    pub video_size: Option<[usize; 2]>,
    /// Their microphone and camera as they last announced them.
    pub mic: bool,
    pub cam: bool,
    /// Bytes on the `term` channel with this peer, both ways.
    pub terminal_bytes: u64,
    /// Shared-terminal screen updates exchanged with this peer, both ways.
    pub terminal_updates: u64,
    /// Columns and rows of the terminal this peer shares, while it shares one.
    pub terminal_size: Option<[u16; 2]>,
}

/// A chat line in the report.
#[derive(Clone, Debug, Serialize)]
pub struct ChatReport {
    pub from: String,
    pub text: String,
    pub ts: u64,
}

/// The JSON report of `docs/script.md`.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub ok: bool,
    pub room: String,
    pub name: String,
    pub id: String,
    pub steps: Vec<StepReport>,
    pub peers: BTreeMap<String, PeerReport>,
    pub chat: Vec<ChatReport>,
    pub hands: Vec<String>,
    pub errors: Vec<String>,
    /// How the room carried media at the end: `mesh` or `sfu`.
    pub media_mode: String,
    /// What we sent at the end, over every connection, kbit/s.
    pub upload_kbps: f64,
    /// The microphone's audio processing over the run.
    pub audio_processing: ProcessingReport,
}

/// What the audio processing did: the features on when the script ended, and what the
/// module measured (`erle_db`, `delay_ms` and the rest of `ProcessingFigures`).
#[derive(Clone, Debug, Serialize)]
pub struct ProcessingReport {
    pub echo: bool,
    pub noise: bool,
    /// Which suppressors noise suppression runs: `both`, `webrtc` or `rnnoise`.
    pub noise_suppressor: Suppressor,
    pub gain: bool,
    #[serde(flatten)]
    pub figures: ProcessingFigures,
}

impl ProcessingReport {
    /// What the mesh's audio processing is doing now.
    pub(super) fn of(mesh: &Mesh) -> ProcessingReport {
        let (features, figures) = mesh.audio_processing();
        ProcessingReport {
            echo: features.echo,
            noise: features.noise,
            noise_suppressor: features.suppressor,
            gain: features.gain,
            figures,
        }
    }
}

impl PeerReport {
    /// The figures of one peer, rounded as `docs/script.md` shows them.
    fn of(p: &PeerState) -> PeerReport {
        PeerReport {
            video_frames: p.video_frames,
            video_frames_sent: p
                .stamp_range
                .map(|(a, b)| u64::from(b.saturating_sub(a)) + 1),
            screen_frames: p.screen_frames,
            audio_ms: p.audio_ms,
            video_fps: (p.video_fps() * 10.0).round() / 10.0,
            latency_ms_p50: p.latency.percentile(0.5),
            latency_ms_p95: p.latency.percentile(0.95),
            rtt_ms: (p.rtt_ms * 10.0).round() / 10.0,
            loss_pct: (p.loss_pct * 100.0).round() / 100.0,
            bitrate_kbps: p.bitrate_kbps.round(),
            bitrate_out_kbps: p.bitrate_out_kbps.round(),
            jitter_ms: (p.jitter_ms * 10.0).round() / 10.0,
            quality: p.quality.as_str().into(),
            path: p.path.to_string(),
            concealed_pct: (p.concealed_pct * 10.0).round() / 10.0,
            freezes: p.freezes,
            longest_video_gap_ms: p.longest_video_gap_ms,
            longest_sound_gap_ms: p.longest_sound_gap_ms,
            sas: p.sas.clone(),
            offers: p.offers,
            video_size: p.video_size,
            mic: p.info.mic,
            cam: p.info.cam,
            terminal_bytes: p.terminal_bytes,
            terminal_updates: p.terminal_updates,
            terminal_size: p.terminal.as_ref().map(|t| [t.screen.cols, t.screen.rows]),
        }
    }
}

/// The report of a run: the steps as they went and the meeting as it ended.
pub(super) fn build_report(
    s: &MeshState,
    room: &str,
    name: &str,
    steps: Vec<StepReport>,
    audio_processing: ProcessingReport,
) -> Report {
    let peers = s
        .departed
        .values()
        .chain(s.peers.values())
        .map(|p| (p.info.name.clone(), PeerReport::of(p)))
        .collect();
    Report {
        ok: steps.iter().all(|s| s.ok),
        room: room.into(),
        name: name.into(),
        id: s.me.as_ref().map(|m| m.id.clone()).unwrap_or_default(),
        steps,
        peers,
        chat: s
            .chat
            .iter()
            .map(|c| ChatReport {
                from: c.name.clone(),
                text: c.text.clone(),
                ts: c.ts,
            })
            .collect(),
        hands: s.hands.iter().map(|h| s.name_of(h)).collect(),
        errors: s.errors.clone(),
        media_mode: match s.media_mode {
            termmeet_signaling::protocol::MediaMode::Mesh => "mesh".into(),
            termmeet_signaling::protocol::MediaMode::Sfu => "sfu".into(),
        },
        upload_kbps: s.upload_kbps,
        audio_processing,
    }
}
