//! Our own sources on the links: the camera, microphone and screen pumps (one encoder
//! each, shared by every link), the speaker, their failures and returns, devices switched
//! mid-meeting without renegotiation, and the encoders' bitrate from the links' estimates.
//! Devices are opened off the runtime: a camera or an X11 display can take seconds.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use termmeet_signaling::protocol::ClientMessage;

use super::links::LinkEntry;
use super::{off_runtime, MeshTask, SharedScreenFactory};
use crate::call::command::MeshCommand;
use crate::call::error::MeshError;
use crate::call::health::{SourceChange, SourceWatch};
use crate::call::local::{start_audio, start_video, Pump};
use crate::call::setup::{MeshConfig, SourceViews};
use crate::call::stats::{lowest_estimate, split_bitrate, SCREEN_BITRATE};
use crate::call::tracks::{KeyframeTargets, Source};
use crate::media::playback::Playback;
use crate::media::sources::{
    open_audio, open_video, screen_factory, AudioSpec, VideoSpec, SCREEN_FPS,
};
use crate::sync::lock;

/// Our camera, microphone, screen and speaker, and how new ones are made.
pub(super) struct LocalSources {
    pub(super) camera: Option<Pump>,
    pub(super) microphone: Option<Pump>,
    pub(super) screen: Option<Pump>,
    /// How the screen source is made when sharing starts.
    screen_factory: Option<SharedScreenFactory>,
    /// The stream id the screen track is announced under.
    pub(super) screen_stream: String,
    /// The camera's bitrate ceiling.
    bitrate: u32,
    /// How sources opened mid-meeting are made: our name, camera size and frame rate.
    name: String,
    video_size: (usize, usize),
    fps: f64,
    /// Our sources' controls as the handle sees them (self view, level, processing).
    pub(super) views: SourceViews,
    /// Whether the camera and the microphone were failing at the last look.
    camera_watch: SourceWatch,
    microphone_watch: SourceWatch,
    /// The video encoders a keyframe request from any receiver applies to.
    pub(super) keyframe_targets: KeyframeTargets,
    /// Where remote audio is played.
    pub(super) playback: Option<Arc<Playback>>,
}

impl LocalSources {
    /// The sources a meeting starts with: the camera already running, the microphone
    /// (taken from `config`) started here with the audio processing.
    pub(super) fn new(config: &mut MeshConfig, camera: Option<Pump>, views: SourceViews) -> Self {
        let microphone = config
            .microphone
            .take()
            .map(|source| start_audio(source, Arc::clone(&views.processing)));
        *lock(&views.microphone) = microphone.as_ref().map(|p| Arc::clone(&p.control));
        let keyframe_targets = KeyframeTargets::default();
        if let Some(camera) = &camera {
            lock(&keyframe_targets).push(Arc::clone(&camera.control));
        }
        LocalSources {
            camera,
            microphone,
            screen: None,
            screen_factory: config.screen.take().map(Arc::new),
            screen_stream: format!("screen-{:08x}", rand::random::<u32>()),
            bitrate: config.bitrate,
            name: config.join.name.clone(),
            video_size: config.video_size,
            fps: config.fps,
            views,
            camera_watch: SourceWatch::default(),
            microphone_watch: SourceWatch::default(),
            keyframe_targets,
            playback: config.playback.clone(),
        }
    }

    fn set_microphone(&mut self, pump: Option<Pump>) {
        *lock(&self.views.microphone) = pump.as_ref().map(|p| Arc::clone(&p.control));
        self.microphone = pump;
    }

    fn pump(&self, source: Source) -> &Option<Pump> {
        match source {
            Source::Camera => &self.camera,
            Source::Microphone => &self.microphone,
            Source::Screen => &self.screen,
        }
    }

    /// Sets the shared encoders' bitrate from the links' congestion estimates (several times
    /// a second: an encoder told late keeps filling a queue the controller already saw).
    pub(super) fn apply_estimates(&self, links: &HashMap<String, LinkEntry>) {
        let estimates = links.values().map(|entry| entry.link.estimate());
        let (Some(estimate), Some(camera)) = (lowest_estimate(estimates), &self.camera) else {
            return;
        };
        let split = split_bitrate(estimate, self.bitrate, self.screen.is_some());
        let before = camera.control.bitrate.load(Ordering::Relaxed);
        if before != split.camera {
            tracing::debug!(estimate, camera = split.camera, "congestion estimate");
        }
        camera
            .control
            .bitrate
            .store(split.camera, Ordering::Relaxed);
        if let (Some(rate), Some(screen)) = (split.screen, &self.screen) {
            screen.control.bitrate.store(rate, Ordering::Relaxed);
        }
    }
}

impl MeshTask {
    pub(super) async fn on_source_command(&mut self, command: MeshCommand) {
        match command {
            MeshCommand::Cam(on) => self.set_source(Source::Camera, on),
            MeshCommand::Mic(on) => self.set_source(Source::Microphone, on),
            MeshCommand::Screen(true) => self.start_screen().await,
            MeshCommand::Screen(false) => self.stop_screen().await,
            MeshCommand::UseCamera(spec) => self.use_camera(spec).await,
            MeshCommand::UseMicrophone(spec) => self.use_microphone(spec).await,
            MeshCommand::UseScreen(spec) => self.use_screen(spec).await,
            MeshCommand::UseSpeaker(name) => self.use_speaker(name).await,
            _ => {}
        }
    }

    /// Camera or microphone on or off, told to the room.
    pub(super) fn set_source(&self, source: Source, on: bool) {
        let pump = self.sources.pump(source);
        if let Some(p) = pump {
            p.control.enabled.store(on, Ordering::Relaxed);
            if on {
                p.control.keyframe.store(true, Ordering::Relaxed);
            }
        }
        let has = pump.is_some();
        let (mic, cam) = self.meeting.update(|s| {
            if source == Source::Camera {
                s.cam = on && has;
            } else {
                s.mic = on && has;
            }
            (s.mic, s.cam)
        });
        self.signaling.send(ClientMessage::MediaState { mic, cam });
    }

    /// Feeds the camera track from `spec`: the same track, so no renegotiation, unless we
    /// had no camera at all (then a track is added).
    async fn use_camera(&mut self, spec: VideoSpec) {
        if spec == VideoSpec::None {
            return self.set_source(Source::Camera, false);
        }
        let s = &self.sources;
        let (size, fps, name, what) = (s.video_size, s.fps, s.name.clone(), spec.clone());
        let opened = off_runtime(move || open_video(&what, size, fps, &name)).await;
        let source = match opened {
            Ok(Some(source)) => source,
            Ok(None) => return,
            Err(e) => return self.error(MeshError::Device(format!("cannot use {spec}: {e}"))),
        };
        tracing::info!("camera: now {}", source.describe());
        match &self.sources.camera {
            Some(pump) => pump.control.switch_video(source),
            None => {
                let pump = start_video(source, fps, self.sources.bitrate);
                let stream = format!("cam-{}", self.my_id());
                self.attach(Source::Camera, &stream, &pump).await;
                lock(&self.sources.keyframe_targets).push(Arc::clone(&pump.control));
                *lock(&self.sources.views.camera) = Some(Arc::clone(&pump.control));
                self.sources.camera = Some(pump);
                self.renegotiate_all().await;
            }
        }
        self.sources.camera_watch.replaced();
        self.set_source(Source::Camera, true);
    }

    /// Feeds the microphone track from `spec` (a track is added only if we had none).
    async fn use_microphone(&mut self, spec: AudioSpec) {
        let what = spec.clone();
        let source = match off_runtime(move || open_audio(&what)).await {
            Ok(source) => source,
            Err(e) => return self.error(MeshError::Device(format!("cannot use {spec}: {e}"))),
        };
        tracing::info!("microphone: now {}", source.describe());
        match &self.sources.microphone {
            Some(pump) => pump.control.switch_audio(source),
            None => {
                let pump = start_audio(source, Arc::clone(&self.sources.views.processing));
                let stream = format!("cam-{}", self.my_id());
                self.attach(Source::Microphone, &stream, &pump).await;
                self.sources.set_microphone(Some(pump));
                self.renegotiate_all().await;
            }
        }
        self.sources.microphone_watch.replaced();
        self.set_source(Source::Microphone, true);
    }

    /// Shares `spec` from now on; while sharing, the screen track switches to it at once.
    async fn use_screen(&mut self, spec: VideoSpec) {
        let factory: SharedScreenFactory = Arc::new(screen_factory(
            spec.clone(),
            self.sources.name.clone(),
            false,
        ));
        if self.sources.screen.is_some() {
            let open = Arc::clone(&factory);
            match off_runtime(move || open()).await {
                Ok(opened) => {
                    if let Some(why) = opened.fallback {
                        self.meeting.update(|s| s.push_error(why));
                    }
                    if let Some(pump) = &self.sources.screen {
                        pump.control.switch_video(opened.source);
                    }
                }
                Err(e) => {
                    return self.error(MeshError::Screen(format!("cannot share {spec}: {e}")))
                }
            }
        }
        self.sources.screen_factory = Some(factory);
    }

    /// Moves remote audio to another speaker.
    async fn use_speaker(&mut self, name: Option<String>) {
        let result = match &self.sources.playback {
            Some(playback) => {
                let playback = Arc::clone(playback);
                off_runtime(move || playback.switch(name.as_deref()).map_err(|e| e.to_string()))
                    .await
            }
            None => Err("this meeting plays no audio (started without a speaker)".into()),
        };
        match result {
            Ok(speaker) => {
                tracing::info!("speaker: now {speaker}");
                self.meeting
                    .update(|s| s.push_error(format!("playing on {speaker}")));
            }
            Err(e) => self.error(MeshError::Device(format!("cannot change the speaker: {e}"))),
        }
    }

    /// A camera or microphone that stopped turns off for everyone, with a notice; one that
    /// works again is told too, and waits to be turned on.
    pub(super) fn watch_sources(&mut self) {
        for (source, device) in [
            (Source::Camera, "camera"),
            (Source::Microphone, "microphone"),
        ] {
            let pump = self.sources.pump(source);
            let failure = pump.as_ref().and_then(|p| p.control.failure());
            let described = pump
                .as_ref()
                .map(|p| p.control.describe())
                .unwrap_or_default();
            let watch = if source == Source::Camera {
                &mut self.sources.camera_watch
            } else {
                &mut self.sources.microphone_watch
            };
            match watch.observe(failure) {
                Some(SourceChange::Stopped(why)) => {
                    self.error(MeshError::SourceStopped {
                        device,
                        described,
                        why,
                    });
                    self.set_source(source, false);
                }
                Some(SourceChange::Back) => {
                    let notice = MeshError::SourceBack { device }.to_string();
                    self.meeting.update(|s| s.push_error(notice));
                }
                None => {}
            }
        }
    }

    async fn start_screen(&mut self) {
        if self.sources.screen.is_some() {
            return;
        }
        let opened = match self.sources.screen_factory.clone() {
            Some(factory) => off_runtime(move || factory()).await,
            None => Err("no screen source to share".into()),
        };
        let source = match opened {
            Ok(opened) => {
                // No display to capture (over SSH, say): people must know what they share.
                if let Some(why) = opened.fallback {
                    self.meeting.update(|s| s.push_error(why));
                }
                opened.source
            }
            Err(e) => return self.error(MeshError::Screen(e)),
        };
        let pump = start_video(source, SCREEN_FPS, SCREEN_BITRATE);
        // Announce the stream first, so receivers can tell the screen track when it lands.
        self.signaling.send(ClientMessage::ScreenShareStarted {
            stream_id: self.sources.screen_stream.clone(),
        });
        let stream = self.sources.screen_stream.clone();
        self.attach(Source::Screen, &stream, &pump).await;
        lock(&self.sources.keyframe_targets).push(Arc::clone(&pump.control));
        self.sources.screen = Some(pump);
        self.meeting.update(|s| s.screen = true);
        self.renegotiate_all().await;
    }

    async fn stop_screen(&mut self) {
        let Some(old) = self.sources.screen.take() else {
            return;
        };
        lock(&self.sources.keyframe_targets).retain(|c| !Arc::ptr_eq(c, &old.control));
        for (peer, entry) in self.links.iter_mut() {
            let (screen, kept): (Vec<_>, Vec<_>) = entry
                .tracks
                .drain(..)
                .partition(|t| t.source == Source::Screen);
            entry.tracks = kept;
            for t in screen {
                t.writer.abort();
                if let Err(e) = entry.link.remove_track(&t.track).await {
                    tracing::warn!("removing the screen track for {peer}: {e}");
                }
            }
        }
        self.meeting.update(|s| s.screen = false);
        self.signaling.send(ClientMessage::ScreenShareStopped {});
        self.renegotiate_all().await;
    }
}
