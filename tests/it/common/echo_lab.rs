//! An echo lab in PulseAudio: a room where termmeet's speaker echoes into its microphone at
//! a chosen gain and delay, nothing mocked on termmeet's side.
//!
//! - `spk…`, a null sink, is termmeet's speaker, played through termmeet's own playback, so
//!   the echo canceller's reference is exactly what the speaker plays, as in a meeting;
//! - `module-loopback` carries the speaker's sound into `room…` `delay_ms` late at
//!   `gain_percent` (a fixed echo path, as a room's is);
//! - the local talker is played into `room…` by `pacat`, at the sink's pace;
//! - the microphone, `room…`'s monitor, is recorded twice at once through termmeet's
//!   microphone: as it is (what a person with the processing off sends) and through the
//!   processing (what they send with it on). Both hear the same room at the same moments,
//!   so each window compares like with like.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{PulseModule, SinkPlayer};
use termmeet::media::mic::MicSource;
use termmeet::media::playback::Playback;
use termmeet::media::processing::{Features, Processing, ProcessingFigures, Processor};
use termmeet::media::{AudioSource, Pacer};

/// The lab's sample rate.
pub const RATE: u32 = 48_000;

/// What a take plays: the far end (through termmeet's speaker) and the local talker (into
/// the room), sample by sample from the start, and how the room echoes.
pub struct Scene {
    /// The far end's sound, 48 kHz in [-1, 1]; silence where it is quiet.
    pub far: Vec<f32>,
    /// The local talker's sound, 48 kHz in [-1, 1].
    pub talker: Vec<f32>,
    /// How loud the echo is, % of what the speaker plays.
    pub gain_percent: u32,
    /// How late the echo comes, ms.
    pub delay_ms: u32,
    /// The echo path changes: from this second on, it is this late (ms).
    pub delay_change: Option<(f64, u32)>,
    /// The processing on the processed recording.
    pub features: Features,
}

/// What the microphone sent during a take, as it is and processed (48 kHz, [-1, 1], from
/// the take's start), and the canceller's own figures at the end.
pub struct Take {
    pub raw: Vec<f32>,
    pub processed: Vec<f32>,
    pub figures: ProcessingFigures,
}

/// The echo path: a loopback from the speaker's monitor into the room.
fn echo_path(speaker: &str, room: &str, delay_ms: u32, gain_percent: u32) -> PulseModule {
    let echo = PulseModule::load(&[
        "module-loopback",
        &format!("source={speaker}.monitor"),
        &format!("sink={room}"),
        &format!("latency_msec={delay_ms}"),
        "adjust_time=0",
        "source_dont_move=true",
        "sink_dont_move=true",
    ]);
    set_loopback_volume(echo.index(), gain_percent);
    echo
}

/// Sets the sink input of loopback `module` (the echo arriving in the room) to `percent`.
pub fn set_loopback_volume(module: &str, percent: u32) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let out = std::process::Command::new("pactl")
            .args(["list", "sink-inputs"])
            .env("LC_ALL", "C")
            .output()
            .expect("pactl");
        let text = String::from_utf8_lossy(&out.stdout);
        // Blocks of "Sink Input #N" with an "Owner Module: M" line.
        let input = text.split("Sink Input #").skip(1).find_map(|block| {
            let index = block.lines().next()?.trim();
            block
                .lines()
                .any(|l| l.trim() == format!("Owner Module: {module}"))
                .then(|| index.to_string())
        });
        if let Some(input) = input {
            let ok = std::process::Command::new("pactl")
                .args(["set-sink-input-volume", &input, &format!("{percent}%")])
                .status()
                .is_ok_and(|s| s.success());
            assert!(ok, "cannot set the echo path's volume");
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the echo path never started: {text}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A null sink at the lab's rate.
fn null_sink(name: &str) -> PulseModule {
    PulseModule::load(&[
        "module-null-sink",
        &format!("sink_name={name}"),
        &format!("rate={RATE}"),
    ])
}

/// Records `source` for `samples`, through `processor` when there is one; stops early when
/// `stop` is set.
fn record(
    source: &str,
    mut processor: Option<Processor>,
    samples: usize,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<Vec<f32>> {
    let mut mic = MicSource::open(Some(source)).expect("the room's microphone");
    std::thread::spawn(move || {
        let mut out = Vec::with_capacity(samples);
        while out.len() < samples && !stop.load(Ordering::Relaxed) {
            let Ok(mut frame) = mic.next_frame() else {
                break;
            };
            if let Some(p) = processor.as_mut() {
                p.process(&mut frame, mic.capture_wait().unwrap_or_default());
            }
            out.extend(frame.samples.iter().map(|&s| f32::from(s) / 32768.0));
        }
        out
    })
}

/// Plays `scene` in a room of its own named after `tag`, and records the microphone.
pub fn take(tag: &str, scene: &Scene) -> Take {
    assert!(
        std::env::var("TERMMEET_TEST_PULSE").is_ok(),
        "no test sound server: run the tests with `make test` (scripts/services.sh starts PulseAudio)"
    );
    let (speaker, room) = (format!("spk{tag}"), format!("room{tag}"));
    let _speaker_sink = null_sink(&speaker);
    let _room_sink = null_sink(&room);
    let echo = Mutex::new(echo_path(
        &speaker,
        &room,
        scene.delay_ms,
        scene.gain_percent,
    ));
    let playback = Playback::open(Some(&speaker)).expect("the speaker");
    let shared = Processing::new(scene.features);
    shared.set_far_end(Some(playback.far_end()));

    let length = scene.far.len().max(scene.talker.len());
    let stop = Arc::new(AtomicBool::new(false));
    let monitor = format!("{room}.monitor");
    let raw = record(&monitor, None, length, Arc::clone(&stop));
    let processed = record(
        &monitor,
        Some(Processor::new(Arc::clone(&shared))),
        length,
        Arc::clone(&stop),
    );
    let talker = scene.talker.clone();
    let _talker = SinkPlayer::start(&room, RATE, move |n| {
        talker.get(n as usize).copied().unwrap_or(0.0)
    });
    // The far end, 20 ms at a time, as a peer's decoded audio arrives.
    let stream = playback.add_stream();
    let mut pacer = Pacer::new(50.0);
    let started = Instant::now();
    let mut changed = false;
    for frame in scene.far.chunks(960) {
        pacer.wait();
        let samples: Vec<i16> = frame.iter().map(|&s| (s * 32767.0) as i16).collect();
        stream.push(&samples);
        if let Some((at, delay_ms)) = scene.delay_change {
            if !changed && started.elapsed().as_secs_f64() >= at {
                changed = true;
                let mut path = echo.lock().unwrap_or_else(|p| p.into_inner());
                *path = echo_path(&speaker, &room, delay_ms, scene.gain_percent);
            }
        }
    }
    // Bounded: the recordings end with the scene, or soon after it should have.
    let deadline = started + Duration::from_secs_f64(length as f64 / f64::from(RATE) + 10.0);
    while !(raw.is_finished() && processed.is_finished()) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    stop.store(true, Ordering::Relaxed);
    let raw = raw.join().expect("the raw recording");
    let processed = processed.join().expect("the processed recording");
    drop(stream);
    Take {
        raw,
        processed,
        figures: shared.figures(),
    }
}
