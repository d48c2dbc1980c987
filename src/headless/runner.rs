//! Runs a headless script against a live meeting and writes the report.
//!
//! - [`steps`]: the lines after the `join`, commands and waits.
//! - [`expect`]: the expectations, each waiting on the meeting state.
//! - [`report`]: the JSON report.

mod expect;
mod report;
mod steps;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use expect::wait_for;
use report::build_report;
pub use report::{ChatReport, PeerReport, ProcessingReport, Report, StepReport};
use steps::run_step;

use super::script::{parse_script, AudioSpec, ScriptLine, Step, VideoSpec};
use crate::call::mesh::{Mesh, MeshCommand, MeshConfig};
use crate::media::frame::now_ms;
use crate::media::playback::Playback;
use crate::media::sources::{
    open_audio, open_video, screen_factory, DEFAULT_BITRATE, DEFAULT_FPS, DEFAULT_VIDEO_SIZE,
};
use crate::signaling::JoinParams;

/// How to run a script.
#[derive(Clone, Debug)]
pub struct HeadlessOptions {
    /// Signaling server URL.
    pub server: String,
    /// Room, when the script has no `join` line.
    pub room: Option<String>,
    /// Name, when the script has no `join` line.
    pub name: Option<String>,
    /// Camera picture size for synthetic video.
    pub video_size: (usize, usize),
    /// Camera frame rate.
    pub fps: f64,
    /// Camera bitrate.
    pub bitrate: u32,
    /// Where to write the JSON report.
    pub report: Option<PathBuf>,
    /// UDP addresses for peer connections.
    pub bind: Vec<String>,
    /// STUN and TURN servers of our own, used besides the server's.
    pub ice_servers: Vec<termmeet_signaling::protocol::IceServer>,
    /// Join token, for a server that needs one.
    pub token: Option<String>,
    /// How to trust a `wss://` server.
    pub tls: crate::tls::TlsOptions,
    /// Keep media end to end: the room stays a mesh (no SFU) while we are in it.
    pub end_to_end: bool,
    /// The speaker to play what the others send on (`None`: nothing is played).
    pub speaker: Option<String>,
    /// The microphone's audio processing.
    pub processing: crate::media::processing::Features,
}

impl Default for HeadlessOptions {
    fn default() -> Self {
        HeadlessOptions {
            server: "ws://127.0.0.1:8080/ws".into(),
            room: None,
            name: None,
            video_size: DEFAULT_VIDEO_SIZE,
            fps: DEFAULT_FPS,
            bitrate: DEFAULT_BITRATE,
            report: None,
            bind: vec!["127.0.0.1:0".into()],
            ice_servers: Vec::new(),
            token: None,
            tls: crate::tls::TlsOptions::default(),
            end_to_end: false,
            speaker: None,
            processing: crate::media::processing::Features::default(),
        }
    }
}

/// How a run ended. (One per run: the report's size does not matter.)
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub enum Outcome {
    /// The script ran; the report says whether every expectation held.
    Ran(Report),
    /// The script or options could not be used (exit code 2).
    Unusable(String),
}

impl Outcome {
    /// The exit code of `docs/script.md`: 0 all held, 1 some failed, 2 unusable.
    pub fn exit_code(&self) -> i32 {
        match self {
            Outcome::Ran(r) if r.ok => 0,
            Outcome::Ran(_) => 1,
            Outcome::Unusable(_) => 2,
        }
    }
}

/// Parses and runs a script.
pub async fn run_script(text: &str, options: &HeadlessOptions) -> Outcome {
    let plan = match Plan::of(text, options) {
        Ok(p) => p,
        Err(e) => return Outcome::Unusable(e),
    };
    let (room, name) = (plan.room.clone(), plan.name.clone());
    let config = match plan.mesh_config(options) {
        Ok(c) => c,
        Err(e) => return Outcome::Unusable(e),
    };
    let (mesh, task) = Mesh::start(config);
    let (steps, left) = run_body(&mesh, &plan.body).await;
    let processing = ProcessingReport::of(&mesh);
    let report = mesh.read(|s| build_report(s, &room, &name, steps, processing));
    if !left {
        mesh.command(MeshCommand::Leave);
    }
    let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
    if let Some(path) = &options.report {
        write_report(path, &report);
    }
    Outcome::Ran(report)
}

/// A script sorted into what is set up before joining and the lines run after.
struct Plan {
    /// The camera, chosen before joining.
    video: VideoSpec,
    /// The microphone, chosen before joining.
    audio: AudioSpec,
    /// The screen to share when asked, chosen before joining.
    screen: VideoSpec,
    /// The room to join, from the script or the options.
    room: String,
    /// The name to join as.
    name: String,
    /// The room's secret, when the `join` line gives one.
    secret: Option<String>,
    /// The lines after the `join`, in order.
    body: Vec<ScriptLine>,
}

impl Plan {
    /// Parses `text`, taking the room and name from `options` when it has no `join` line;
    /// why it cannot be used otherwise.
    fn of(text: &str, options: &HeadlessOptions) -> Result<Plan, String> {
        let lines = parse_script(text).map_err(|e| e.to_string())?;
        let (mut video, mut audio, mut screen) = (
            VideoSpec::TestPattern,
            AudioSpec::Silence,
            VideoSpec::TestPattern,
        );
        let mut join: Option<(String, String, Option<String>)> = options
            .room
            .clone()
            .zip(options.name.clone())
            .map(|(r, n)| (r, n, None));
        let mut body: Vec<ScriptLine> = Vec::new();
        for l in lines {
            let before_join = body.is_empty();
            match &l.step {
                // Sources are chosen before joining; later, a source line switches the live
                // source.
                Step::Video(v) if before_join => video = v.clone(),
                Step::Audio(a) if before_join => audio = a.clone(),
                Step::ScreenSource(s) if before_join => screen = s.clone(),
                Step::Join { room, name, secret } if before_join => {
                    join = Some((room.clone(), name.clone(), secret.clone()))
                }
                Step::Join { .. } => {
                    return Err(format!(
                        "line {}: a script joins once, at the start",
                        l.line
                    ))
                }
                _ => body.push(l),
            }
        }
        let Some((room, name, secret)) = join else {
            return Err(
                "the script has no `join ROOM as NAME` line and no --room and --name".into(),
            );
        };
        Ok(Plan {
            video,
            audio,
            screen,
            room,
            name,
            secret,
            body,
        })
    }

    /// Opens the sources and the speaker and sets up the mesh; why not, when one cannot be
    /// opened.
    fn mesh_config(&self, options: &HeadlessOptions) -> Result<MeshConfig, String> {
        let camera = open_video(&self.video, options.video_size, options.fps, &self.name)
            .map_err(|e| format!("video source: {e}"))?;
        let microphone = open_audio(&self.audio).map_err(|e| format!("audio source: {e}"))?;
        let playback = match options.speaker.as_deref() {
            None | Some("none") => None,
            Some(name) => Some(Arc::new(
                Playback::open(Some(name)).map_err(|e| format!("speaker: {e}"))?,
            )),
        };
        Ok(MeshConfig {
            join: JoinParams {
                url: options.server.clone(),
                room: self.room.clone(),
                name: self.name.clone(),
                secret: self.secret.clone(),
                token: options.token.clone(),
                tls: options.tls.clone(),
                end_to_end: options.end_to_end,
            },
            camera,
            microphone: Some(microphone),
            screen: Some(screen_factory(
                self.screen.clone(),
                self.name.clone(),
                false,
            )),
            video_size: options.video_size,
            fps: options.fps,
            bitrate: options.bitrate,
            bind: options.bind.clone(),
            ice_servers: options.ice_servers.clone(),
            playback,
            processing: options.processing,
        })
    }
}

/// How long the join may take before the script is not run.
const JOIN_WITHIN: Duration = Duration::from_secs(15);

/// Waits for the join, then runs the lines until the end or a `leave`: a report per line,
/// and whether the script left.
async fn run_body(mesh: &Mesh, body: &[ScriptLine]) -> (Vec<StepReport>, bool) {
    let joined = wait_for(mesh, JOIN_WITHIN, |s| {
        s.me.is_some()
            .then(String::new)
            .ok_or_else(|| s.signaling.clone())
    })
    .await;
    if let Err(detail) = joined {
        let step = StepReport {
            line: 0,
            text: "join".into(),
            ok: false,
            ms: JOIN_WITHIN.as_millis() as u64,
            started_ms: now_ms(),
            detail: format!("not joined: {detail}"),
        };
        return (vec![step], false);
    }
    let mut steps = Vec::new();
    for l in body {
        let start = Instant::now();
        let started_ms = now_ms();
        let (ok, detail) = run_step(mesh, &l.step).await;
        // In the log too: a run killed before its report is written still says how far it got.
        tracing::info!(
            line = l.line,
            ok,
            ms = start.elapsed().as_millis() as u64,
            "script: {}",
            l.text
        );
        steps.push(StepReport {
            line: l.line,
            text: l.text.clone(),
            ok,
            ms: start.elapsed().as_millis() as u64,
            started_ms,
            detail,
        });
        if l.step == Step::Command(MeshCommand::Leave) {
            return (steps, true);
        }
    }
    (steps, false)
}

/// Writes the report as pretty JSON; a failure is logged, as the outcome still says it all.
fn write_report(path: &Path, report: &Report) {
    if let Ok(json) = serde_json::to_string_pretty(report) {
        if let Err(e) = std::fs::write(path, json) {
            tracing::error!("cannot write the report to {}: {e}", path.display());
        }
    }
}
