//! What the client's integration tests share: an in-process signaling server on a free port
//! (which can go away and come back on the same port), and the outcome of a headless script.
#![allow(dead_code)] // each test module uses its own part of this

pub mod browser;
pub mod desk;
pub mod echo_lab;
pub mod janus;
pub mod netlab;
pub mod nsforward;
pub mod sshlab;
pub mod tmux;
pub mod turns;
pub mod xscreen;

use std::net::SocketAddr;

use termmeet::headless::runner::{Outcome, Report};
use termmeet_signaling::{Router, ServerConfig, ServerHandle};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A signaling server on 127.0.0.1, port chosen by the system.
pub struct TestServer {
    pub addr: SocketAddr,
    pub handle: ServerHandle,
    router: Router,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl TestServer {
    /// Starts a server with the default configuration.
    pub async fn start() -> TestServer {
        TestServer::with_config(ServerConfig::default()).await
    }

    pub async fn with_config(config: ServerConfig) -> TestServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (router, handle) = termmeet_signaling::build(config);
        let mut server = TestServer {
            addr,
            handle,
            router,
            stop: None,
            task: None,
        };
        server.serve(listener);
        server
    }

    fn serve(&mut self, listener: tokio::net::TcpListener) {
        let (stop, stopped) = oneshot::channel::<()>();
        self.stop = Some(stop);
        self.task = Some(tokio::spawn(termmeet_signaling::serve(
            listener,
            self.router.clone(),
            self.handle.clone(),
            async move {
                let _ = stopped.await;
            },
        )));
    }

    /// The WebSocket URL clients join with.
    pub fn url(&self) -> String {
        let scheme = if self.handle.tls().is_some() {
            "wss"
        } else {
            "ws"
        };
        format!("{scheme}://{}/ws", self.addr)
    }

    /// The page a browser opens.
    pub fn page(&self, query: &str) -> String {
        let scheme = if self.handle.tls().is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}/?{query}", self.addr)
    }

    /// Stops serving: every client gets a close frame with 1001. Rooms stay, as in a server
    /// that is restarted, so clients that come back within the grace period resume.
    pub async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap().unwrap();
        }
    }

    /// Serves again on the same port.
    pub async fn restart(&mut self) {
        let listener = tokio::net::TcpListener::bind(self.addr)
            .await
            .expect("the same port again");
        self.serve(listener);
    }

    pub fn joins(&self) -> u64 {
        self.handle
            .metrics()
            .joins_total
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn resumes(&self) -> u64 {
        self.handle
            .metrics()
            .resumes_total
            .load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// A mesh participant for tests: `name` in `room` at `url`, on loopback, sending the test
/// pattern at `camera` size (15 fps) or no camera, no microphone, no speaker.
pub fn participant(
    url: &str,
    room: &str,
    name: &str,
    camera: Option<(usize, usize)>,
) -> termmeet::call::mesh::MeshConfig {
    use termmeet::media::pattern::PatternStyle;
    use termmeet::media::{PatternSource, VideoSource};
    termmeet::call::mesh::MeshConfig {
        join: termmeet::signaling::JoinParams {
            url: url.to_string(),
            room: room.into(),
            name: name.into(),
            secret: None,
            ..Default::default()
        },
        camera: camera.map(|(w, h)| {
            Box::new(PatternSource::new(w, h, 15.0, PatternStyle::hue(1), true))
                as Box<dyn VideoSource>
        }),
        microphone: None,
        screen: None,
        video_size: camera.unwrap_or((320, 240)),
        fps: 15.0,
        bitrate: 200_000,
        bind: vec!["127.0.0.1:0".into()],
        ice_servers: Vec::new(),
        playback: None,
        processing: Default::default(),
    }
}

/// Runs `f` to the end on a runtime of two worker threads, for tests that are not async
/// themselves (they take turns with a std lock first).
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
        .block_on(f)
}

/// The report of a script that ran; panics if the script could not be used at all.
pub fn ran(outcome: Outcome) -> Report {
    match outcome {
        Outcome::Ran(r) => r,
        Outcome::Unusable(e) => panic!("script unusable: {e}"),
    }
}

/// Panics with every failed step, the errors and the per-peer figures unless the script held.
pub fn assert_held(who: &str, r: &Report) {
    let failed: Vec<String> = r
        .steps
        .iter()
        .filter(|s| !s.ok)
        .map(|s| format!("line {} `{}`: {}", s.line, s.text, s.detail))
        .collect();
    let timeline: Vec<String> = r
        .steps
        .iter()
        .map(|s| format!("line {} took {} ms: {}", s.line, s.ms, s.detail))
        .collect();
    assert!(
        r.ok,
        "{who}'s script failed:\n{}\nerrors: {:?}\nsteps:\n{}\npeers: {:?}",
        failed.join("\n"),
        r.errors,
        timeline.join("\n"),
        r.peers
    );
}

/// A PulseAudio module loaded for a test (in the sound server `PULSE_SERVER` names),
/// unloaded when dropped, also on failure.
pub struct PulseModule(String);

impl PulseModule {
    /// `pactl load-module ARGS...`. A connection the server refuses (it takes 64 clients at
    /// once, and rooms of several tests' sound share it) is tried again, five times at most.
    pub fn load(args: &[&str]) -> PulseModule {
        let mut tries = 0;
        loop {
            let out = std::process::Command::new("pactl")
                .arg("load-module")
                .args(args)
                .output()
                .expect("pactl (pulseaudio-utils) is installed by scripts/setup.sh");
            let refused = String::from_utf8_lossy(&out.stderr).contains("Connection");
            tries += 1;
            if out.status.success() || !refused || tries == 5 {
                assert!(out.status.success(), "pactl load-module {args:?}: {out:?}");
                return PulseModule(String::from_utf8_lossy(&out.stdout).trim().to_string());
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    }
}

impl PulseModule {
    /// The module's index, as `pactl` lists it.
    pub fn index(&self) -> &str {
        &self.0
    }
}

/// A signal played into a PulseAudio sink by `pacat`, at the sink's own pace, as a person
/// or a program would play it: `signal(n)` is sample `n`, in [-1, 1].
pub struct SinkPlayer {
    player: std::process::Child,
}

impl SinkPlayer {
    /// Plays `signal` into `sink` at `rate`, mono, until dropped.
    pub fn start(
        sink: &str,
        rate: u32,
        mut signal: impl FnMut(u64) -> f32 + Send + 'static,
    ) -> SinkPlayer {
        use std::process::{Command, Stdio};
        let mut player = Command::new("pacat")
            .args([
                &format!("--device={sink}"),
                "--raw",
                "--format=float32le",
                &format!("--rate={rate}"),
                "--channels=1",
                "--latency-msec=50",
            ])
            .stdin(Stdio::piped())
            .spawn()
            .expect("pacat (pulseaudio-utils) is installed by scripts/setup.sh");
        let mut stdin = player.stdin.take().expect("pacat's input");
        std::thread::spawn(move || {
            use std::io::Write;
            let mut n = 0u64;
            // Until pacat goes (the test ends): pacat blocks at the sink's pace.
            loop {
                let block: Vec<u8> = (n..n + u64::from(rate) / 10)
                    .flat_map(|i| signal(i).to_le_bytes())
                    .collect();
                n += u64::from(rate) / 10;
                if stdin.write_all(&block).is_err() {
                    return;
                }
            }
        });
        SinkPlayer { player }
    }

    /// A sine at `hz` with amplitude `amplitude`.
    pub fn sine(sink: &str, rate: u32, hz: f64, amplitude: f64) -> SinkPlayer {
        SinkPlayer::start(sink, rate, move |n| {
            let t = n as f64 / f64::from(rate);
            (amplitude * (2.0 * std::f64::consts::PI * hz * t).sin()) as f32
        })
    }
}

impl Drop for SinkPlayer {
    fn drop(&mut self) {
        let _ = self.player.kill();
        let _ = self.player.wait();
    }
}

impl Drop for PulseModule {
    fn drop(&mut self) {
        let _ = std::process::Command::new("pactl")
            .args(["unload-module", &self.0])
            .status();
    }
}

/// `termmeet devices` as a person runs it (in this process's environment).
pub fn devices_output() -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_termmeet"))
        .arg("devices")
        .output()
        .expect("termmeet runs");
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The section of `termmeet devices`' output whose title starts with `title`.
pub fn devices_section(listed: &str, title: &str) -> String {
    listed
        .split("\n\n")
        .find(|s| s.starts_with(title))
        .unwrap_or_else(|| panic!("no {title} section in:\n{listed}"))
        .to_string()
}
