//! Runs a headless script against a live meeting and writes the report.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::script::{parse_script, AudioSpec, ScriptLine, Step, VideoSpec};
use crate::call::mesh::{Mesh, MeshCommand, MeshConfig, MeshState, PeerState};
use crate::media::sources::{
    open_audio, open_video, screen_factory, DEFAULT_BITRATE, DEFAULT_FPS, DEFAULT_VIDEO_SIZE,
};
use crate::media::tone::tone_is_dominant;
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
            speaker: None,
            processing: crate::media::processing::Features::default(),
        }
    }
}

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
    /// When it started, milliseconds since the Unix epoch (beyond SCRIPT.md's fields: lets a
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
    /// What we send to this peer, kbit/s (beyond SCRIPT.md's fields).
    pub bitrate_out_kbps: f64,
    /// Interarrival jitter of what we receive, ms (beyond SCRIPT.md's fields).
    pub jitter_ms: f64,
    pub quality: String,
    pub path: String,
    pub concealed_pct: f64,
    pub freezes: u64,
    pub sas: Option<String>,
    /// Offers exchanged with this peer, both ways (beyond SCRIPT.md's fields: a source
    /// switch adds none).
    pub offers: u64,
    /// Width and height of the last camera picture decoded (beyond SCRIPT.md's fields).
    pub video_size: Option<[usize; 2]>,
    /// Their microphone and camera as they last announced them (beyond SCRIPT.md's fields).
    pub mic: bool,
    pub cam: bool,
    /// Bytes on the `term` channel with this peer, both ways.
    pub terminal_bytes: u64,
    /// Shared-terminal screen updates exchanged with this peer, both ways.
    pub terminal_updates: u64,
    /// Columns and rows of the terminal this peer shares, while it shares one (beyond
    /// SCRIPT.md's fields).
    pub terminal_size: Option<[u16; 2]>,
}

/// A chat line in the report.
#[derive(Clone, Debug, Serialize)]
pub struct ChatReport {
    pub from: String,
    pub text: String,
    pub ts: u64,
}

/// The JSON report of `SCRIPT.md`.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub ok: bool,
    pub room: String,
    pub name: String,
    pub id: String,
    pub steps: Vec<StepReport>,
    pub peers: std::collections::BTreeMap<String, PeerReport>,
    pub chat: Vec<ChatReport>,
    pub hands: Vec<String>,
    pub errors: Vec<String>,
    /// The microphone's audio processing over the run (beyond SCRIPT.md's fields).
    pub audio_processing: ProcessingReport,
}

/// What the audio processing did: the features on when the script ended, and what the
/// module measured (`erle_db`, `delay_ms` and the rest of `ProcessingFigures`).
#[derive(Clone, Debug, Serialize)]
pub struct ProcessingReport {
    pub echo: bool,
    pub noise: bool,
    pub gain: bool,
    #[serde(flatten)]
    pub figures: crate::media::processing::ProcessingFigures,
}

impl ProcessingReport {
    fn of(mesh: &Mesh) -> ProcessingReport {
        let (features, figures) = mesh.audio_processing();
        ProcessingReport {
            echo: features.echo,
            noise: features.noise,
            gain: features.gain,
            figures,
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
    /// The exit code of `SCRIPT.md`: 0 all held, 1 some failed, 2 unusable.
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
    let lines = match parse_script(text) {
        Ok(l) => l,
        Err(e) => return Outcome::Unusable(e.to_string()),
    };
    // Sources are chosen before joining.
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
            Step::Video(v) if before_join => video = v.clone(),
            Step::Audio(a) if before_join => audio = a.clone(),
            Step::ScreenSource(s) if before_join => screen = s.clone(),
            // Later, a source line switches the live source.
            Step::Join { room, name, secret } if before_join => {
                join = Some((room.clone(), name.clone(), secret.clone()))
            }
            Step::Join { .. } => {
                return Outcome::Unusable(format!(
                    "line {}: a script joins once, at the start",
                    l.line
                ))
            }
            _ => body.push(l),
        }
    }
    let Some((room, name, secret)) = join else {
        return Outcome::Unusable(
            "the script has no `join ROOM as NAME` line and no --room and --name".into(),
        );
    };
    let camera = match open_video(&video, options.video_size, options.fps, &name) {
        Ok(v) => v,
        Err(e) => return Outcome::Unusable(format!("video source: {e}")),
    };
    let microphone = match open_audio(&audio) {
        Ok(a) => Some(a),
        Err(e) => return Outcome::Unusable(format!("audio source: {e}")),
    };
    let playback = match options.speaker.as_deref() {
        None | Some("none") => None,
        Some(name) => match crate::media::playback::Playback::open(Some(name)) {
            Ok(p) => Some(std::sync::Arc::new(p)),
            Err(e) => return Outcome::Unusable(format!("speaker: {e}")),
        },
    };
    let config = MeshConfig {
        join: JoinParams {
            url: options.server.clone(),
            room: room.clone(),
            name: name.clone(),
            secret,
            token: options.token.clone(),
            tls: options.tls.clone(),
        },
        camera,
        microphone,
        screen: Some(screen_factory(screen, name.clone(), false)),
        video_size: options.video_size,
        fps: options.fps,
        bitrate: options.bitrate,
        bind: options.bind.clone(),
        ice_servers: options.ice_servers.clone(),
        playback,
        processing: options.processing,
    };
    let (mesh, task) = Mesh::start(config);
    let mut steps = Vec::new();
    let mut left = false;
    // Wait for the join before running the script, bounded.
    let joined = wait_for(&mesh, Duration::from_secs(15), |s| {
        s.me.is_some()
            .then(String::new)
            .ok_or_else(|| s.signaling.clone())
    })
    .await;
    if let Err(detail) = joined {
        steps.push(StepReport {
            line: 0,
            text: "join".into(),
            ok: false,
            ms: 15_000,
            started_ms: crate::media::frame::now_ms(),
            detail: format!("not joined: {detail}"),
        });
    } else {
        for l in &body {
            let start = Instant::now();
            let started_ms = crate::media::frame::now_ms();
            let (ok, detail) = run_step(&mesh, &l.step).await;
            steps.push(StepReport {
                line: l.line,
                text: l.text.clone(),
                ok,
                ms: start.elapsed().as_millis() as u64,
                started_ms,
                detail,
            });
            if l.step == Step::Command(MeshCommand::Leave) {
                left = true;
                break;
            }
        }
    }
    let processing = ProcessingReport::of(&mesh);
    let report = mesh.read(|s| build_report(s, &room, &name, steps, processing));
    if !left {
        mesh.command(MeshCommand::Leave);
    }
    let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
    if let Some(path) = &options.report {
        if let Ok(json) = serde_json::to_string_pretty(&report) {
            if let Err(e) = std::fs::write(path, json) {
                tracing::error!("cannot write the report to {}: {e}", path.display());
            }
        }
    }
    Outcome::Ran(report)
}

fn build_report(
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
        .map(|p| {
            (
                p.info.name.clone(),
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
                    path: p.path.clone(),
                    concealed_pct: (p.concealed_pct * 10.0).round() / 10.0,
                    freezes: p.freezes,
                    sas: p.sas.clone(),
                    offers: p.offers,
                    video_size: p.latest_video.as_ref().map(|f| [f.width, f.height]),
                    mic: p.info.mic,
                    cam: p.info.cam,
                    terminal_bytes: p.terminal_bytes,
                    terminal_updates: p.terminal_updates,
                    terminal_size: p.terminal.as_ref().map(|t| [t.screen.cols, t.screen.rows]),
                },
            )
        })
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
        audio_processing,
    }
}

/// Polls the state until `check` gives `Ok`, or `within` passes (then the last `Err`).
async fn wait_for(
    mesh: &Mesh,
    within: Duration,
    check: impl Fn(&MeshState) -> Result<String, String>,
) -> Result<String, String> {
    let deadline = Instant::now() + within;
    loop {
        let result = mesh.read(&check);
        if result.is_ok() || Instant::now() >= deadline {
            return result;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn peer<'a>(s: &'a MeshState, name: &str) -> Result<&'a PeerState, String> {
    s.peers
        .values()
        .find(|p| p.info.name == name)
        .ok_or_else(|| format!("{name} is not in the room"))
}

async fn run_step(mesh: &Mesh, step: &Step) -> (bool, String) {
    let command = |c: MeshCommand| {
        mesh.command(c);
        (true, String::new())
    };
    let outcome = match step {
        Step::Command(c) => return command(c.clone()),
        Step::Video(spec) => return command(MeshCommand::UseCamera(spec.clone())),
        Step::Audio(spec) => return command(MeshCommand::UseMicrophone(spec.clone())),
        Step::ScreenSource(spec) => return command(MeshCommand::UseScreen(spec.clone())),
        Step::HandLowerFor(name) => match mesh.read(|s| s.id_of(name)) {
            Some(id) => return command(MeshCommand::HandLower(Some(id))),
            None => Err(format!("{name} is not in the room")),
        },
        Step::TerminalKeys { to: None, bytes } => {
            return command(MeshCommand::TerminalKeys {
                to: None,
                bytes: bytes.clone(),
            })
        }
        Step::TerminalKeys {
            to: Some(name),
            bytes,
        } => match mesh.read(|s| s.id_of(name)) {
            Some(id) => {
                return command(MeshCommand::TerminalKeys {
                    to: Some(id),
                    bytes: bytes.clone(),
                })
            }
            None => Err(format!("{name} is not in the room")),
        },
        Step::AudioProcessing { features, on } => {
            for f in features {
                mesh.command(MeshCommand::AudioProcessing(*f, *on));
            }
            return (true, String::new());
        }
        Step::TerminalControl(None) => return command(MeshCommand::TerminalControl(None)),
        Step::TerminalControl(Some(name)) => match mesh.read(|s| s.id_of(name)) {
            Some(id) => return command(MeshCommand::TerminalControl(Some(id))),
            None => Err(format!("{name} is not in the room")),
        },
        Step::Wait(d) => {
            tokio::time::sleep(*d).await;
            return (true, String::new());
        }
        Step::ExpectPeers { count, within } => {
            wait_for(mesh, *within, |s| {
                let n = s.peers.len();
                if n == *count {
                    Ok(format!("{n} peers"))
                } else {
                    Err(format!("{n} peers"))
                }
            })
            .await
        }
        Step::ExpectVideo {
            from,
            frames,
            within,
        }
        | Step::ExpectScreen {
            from,
            frames,
            within,
        } => {
            let screen = matches!(step, Step::ExpectScreen { .. });
            let count = |s: &MeshState| {
                peer(s, from).map(|p| {
                    if screen {
                        p.screen_frames
                    } else {
                        p.video_frames
                    }
                })
            };
            let base = mesh.read(|s| count(s).unwrap_or(0));
            wait_for(mesh, *within, |s| {
                let got = count(s)?.saturating_sub(base);
                if got >= *frames {
                    Ok(format!("{got} frames"))
                } else {
                    Err(format!("{got} of {frames} frames"))
                }
            })
            .await
        }
        Step::ExpectAudio { from, tone, within } => {
            let base = mesh.read(|s| peer(s, from).map(|p| p.audio_ms).unwrap_or(0));
            wait_for(mesh, *within, |s| {
                let p = peer(s, from)?;
                let got = p.audio_ms.saturating_sub(base);
                if got < 500 {
                    return Err(format!("{got} ms of audio"));
                }
                match tone {
                    None => Ok(format!("{got} ms of audio")),
                    Some(hz) => {
                        let recent = mesh.recent_audio(&p.info.id);
                        if tone_is_dominant(&recent, *hz) {
                            Ok(format!("{got} ms of audio, {hz} Hz dominant"))
                        } else {
                            let seen = crate::media::tone::dominant_frequency(&recent);
                            Err(format!("{got} ms of audio, dominant {seen:?} Hz, not {hz}"))
                        }
                    }
                }
            })
            .await
        }
        Step::ExpectNoVideo { from, duration } => {
            // Frames already in flight when the camera went off may still land: settle first.
            tokio::time::sleep(Duration::from_millis(700)).await;
            let base = mesh.read(|s| peer(s, from).map(|p| p.video_frames).unwrap_or(0));
            tokio::time::sleep(*duration).await;
            let now = mesh.read(|s| peer(s, from).map(|p| p.video_frames));
            match now {
                Ok(n) if n == base => Ok(format!("no frames for {duration:?}")),
                Ok(n) => Err(format!("{} frames arrived", n - base)),
                Err(e) => Err(e),
            }
        }
        Step::ExpectChat { from, text, within } => {
            wait_for(mesh, *within, |s| {
                let hit = s.chat.iter().any(|c| c.name == *from && c.text == *text);
                if hit {
                    Ok("seen".into())
                } else {
                    Err(format!("no such message among {}", s.chat.len()))
                }
            })
            .await
        }
        Step::ExpectTerminal { from, text, within } => {
            wait_for(mesh, *within, |s| {
                let p = peer(s, from)?;
                match &p.terminal {
                    Some(t) if t.screen.contains(text) => Ok(format!(
                        "seen on {}x{} ({} updates, {} bytes)",
                        t.screen.cols, t.screen.rows, p.terminal_updates, p.terminal_bytes
                    )),
                    Some(t) => Err(format!(
                        "not on the {}x{} screen; its first lines: {:?}",
                        t.screen.cols,
                        t.screen.rows,
                        t.screen.text().lines().take(3).collect::<Vec<_>>()
                    )),
                    None => Err(format!("{from} shares no terminal")),
                }
            })
            .await
        }
        Step::ExpectHand {
            name,
            position,
            within,
        } => {
            wait_for(mesh, *within, |s| {
                let queue: Vec<String> = s.hands.iter().map(|h| s.name_of(h)).collect();
                match (queue.iter().position(|n| n == name), position) {
                    (Some(i), Some(k)) if i + 1 == *k => Ok(format!("queue {queue:?}")),
                    (Some(_), None) => Ok(format!("queue {queue:?}")),
                    _ => Err(format!("queue {queue:?}")),
                }
            })
            .await
        }
        Step::ExpectQuality {
            name,
            level,
            within,
        } => {
            wait_for(mesh, *within, |s| {
                let p = peer(s, name)?;
                let d = format!(
                    "{} (rtt {:.1} ms, loss {:.1}%)",
                    p.quality.as_str(),
                    p.rtt_ms,
                    p.loss_pct
                );
                if p.quality >= *level {
                    Ok(d)
                } else {
                    Err(d)
                }
            })
            .await
        }
        Step::ExpectLeft { name, within } => {
            wait_for(mesh, *within, |s| {
                if s.left.iter().any(|(_, n)| n == name) {
                    Ok("left".into())
                } else {
                    Err(format!("{name} is still here"))
                }
            })
            .await
        }
        Step::Join { .. } => Ok(String::new()),
    };
    match outcome {
        Ok(d) => (true, d),
        Err(d) => (false, d),
    }
}
