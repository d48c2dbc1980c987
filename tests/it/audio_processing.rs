//! The microphone's audio processing in a room PulseAudio builds, nothing mocked:
//!
//! - `spk`, a null sink, is termmeet's speaker;
//! - `room`, a null sink, collects the speaker's sound through `module-loopback` (60 ms
//!   late, at 70% volume, with no rate adjustment: a fixed echo path, as a room's is), and
//!   what the local person says;
//! - termmeet's microphone is `room`'s monitor.
//!
//! A participant elsewhere talks with a 440 Hz tone and listens to what comes back. Each test
//! measures what it hears with one feature on, then turns it off (as a script's
//! `audio-processing echo off` does) and measures again.
//!
//! Both voices come and go in syllables, as speech does. The far end's is a 440 Hz tone over
//! breath noise that carries most of its energy, as a voice spreads its energy: an echo
//! canceller places an echo in time by its shape, and a periodic tone fits every delay. With
//! a steady tone as the far end, AEC3 keeps jumping between delays, falls back to
//! suppression, and its suppressor (125 Hz bands) then takes the 523 Hz talker too. The local
//! person's voice is played into `room` by `pacat`, at the sink's pace: PulseAudio's sine
//! source makes its sound two seconds at a time, which no person does.

use std::time::{Duration, Instant};

use crate::common::echo_lab::set_loopback_volume;
use crate::common::turns::quiet_sound_turn;
use crate::common::{PulseModule, SinkPlayer};
use termmeet::call::mesh::{Mesh, MeshCommand};
use termmeet::headless::runner::{run_script, HeadlessOptions, Outcome};
use termmeet::media::mic::MicSource;
use termmeet::media::playback::Playback;
use termmeet::media::processing::{Feature, Features};
use termmeet::media::tone::{level_at, noise_level};
use termmeet::media::{AudioFrame, AudioSource, MediaError, Pacer};

const RATE: u32 = 48_000;

/// The room: the speaker, the room it echoes in, and the echo path between them.
struct Room {
    _echo: PulseModule,
    _room: PulseModule,
    _speaker: PulseModule,
    speaker: String,
    room: String,
}

impl Room {
    fn build(tag: &str) -> Room {
        assert!(
            std::env::var("TERMMEET_TEST_PULSE").is_ok(),
            "no test sound server: run the tests with `make test` (scripts/services.sh starts PulseAudio)"
        );
        let (speaker, room) = (format!("spk{tag}"), format!("room{tag}"));
        let spk = PulseModule::load(&[
            "module-null-sink",
            &format!("sink_name={speaker}"),
            &format!("rate={RATE}"),
        ]);
        let rm = PulseModule::load(&[
            "module-null-sink",
            &format!("sink_name={room}"),
            &format!("rate={RATE}"),
        ]);
        let echo = PulseModule::load(&[
            "module-loopback",
            &format!("source={speaker}.monitor"),
            &format!("sink={room}"),
            "latency_msec=60",
            "adjust_time=0",
            "source_dont_move=true",
            "sink_dont_move=true",
        ]);
        // The room takes some of the sound on the way: 70%, about -9 dB.
        set_loopback_volume(echo.index(), 70);
        Room {
            _echo: echo,
            _room: rm,
            _speaker: spk,
            speaker,
            room,
        }
    }
}

/// The far end talking: a 440 Hz tone over louder breath noise, in syllables of 120 to
/// 400 ms with pauses of 60 to 250 ms, as speech comes.
struct Talk {
    n: u64,
    /// Samples left in this syllable or pause, and whether it is a syllable.
    left: u64,
    on: bool,
    seed: u64,
    pacer: Pacer,
}

impl Talk {
    fn new() -> Talk {
        Talk {
            n: 0,
            left: 0,
            on: false,
            seed: 0x9e37_79b9_7f4a_7c15,
            pacer: Pacer::new(50.0),
        }
    }

    /// A number in `low..high` from a small xorshift generator.
    fn between(&mut self, low: u64, high: u64) -> u64 {
        self.seed ^= self.seed << 13;
        self.seed ^= self.seed >> 7;
        self.seed ^= self.seed << 17;
        low + self.seed % (high - low)
    }
}

impl AudioSource for Talk {
    fn next_frame(&mut self) -> Result<AudioFrame, MediaError> {
        self.pacer.wait();
        let mut samples = Vec::with_capacity(960);
        for _ in 0..960 {
            if self.left == 0 {
                self.on = !self.on;
                let ms = if self.on {
                    self.between(120, 400)
                } else {
                    self.between(60, 250)
                };
                self.left = ms * u64::from(RATE) / 1000;
            }
            self.left -= 1;
            let t = self.n as f64 / f64::from(RATE);
            self.n += 1;
            let breath = self.between(0, 1 << 20) as f64 / f64::from(1u32 << 19) - 1.0;
            let s = if self.on {
                0.15 * (2.0 * std::f64::consts::PI * 440.0 * t).sin() + 0.25 * breath
            } else {
                0.0
            };
            samples.push((s * 32767.0) as i16);
        }
        Ok(AudioFrame { samples })
    }

    fn describe(&self) -> String {
        "440 Hz in syllables".into()
    }
}

/// The two ends of the call: `local` in the room (a mesh of its own, or a headless script),
/// `far` talking at 440 Hz and listening.
struct Call {
    local: Option<Mesh>,
    script: Option<tokio::task::JoinHandle<Outcome>>,
    far: Mesh,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    _server: crate::common::TestServer,
}

impl Call {
    /// The far end, in a call named `call` on a new server.
    async fn far(call: &str) -> (Mesh, tokio::task::JoinHandle<()>, crate::common::TestServer) {
        let server = crate::common::TestServer::start().await;
        let mut config = crate::common::participant(&server.url(), call, "far", None);
        config.microphone = Some(Box::new(Talk::new()));
        let (far, task) = Mesh::start(config);
        (far, task, server)
    }

    /// The local end as a mesh with `features` on.
    async fn start(room: &Room, call: &str, features: Features) -> Call {
        let (far, t2, server) = Call::far(call).await;
        let mut config = crate::common::participant(&server.url(), call, "local", None);
        config.microphone = Some(Box::new(
            MicSource::open(Some(&format!("{}.monitor", room.room)))
                .expect("the room's microphone"),
        ));
        config.playback = Some(std::sync::Arc::new(
            Playback::open(Some(&room.speaker)).expect("the speaker"),
        ));
        config.processing = features;
        let (local, t1) = Mesh::start(config);
        Call {
            local: Some(local),
            script: None,
            far,
            tasks: vec![t1, t2],
            _server: server,
        }
    }

    /// The local end as `termmeet headless` runs it: `script`, with `features` on, playing
    /// nothing (so the room holds no echo).
    async fn scripted(call: &str, features: Features, script: String) -> Call {
        let (far, t2, server) = Call::far(call).await;
        let options = HeadlessOptions {
            server: server.url(),
            speaker: None,
            processing: features,
            ..HeadlessOptions::default()
        };
        let script = tokio::spawn(async move { run_script(&script, &options).await });
        Call {
            local: None,
            script: Some(script),
            far,
            tasks: vec![t2],
            _server: server,
        }
    }

    /// Waits until the far end hears the local end (the call is up), bounded.
    async fn wait_for_sound(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            assert!(
                Instant::now() < deadline,
                "the far end never heard the room"
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
            if let Some(id) = self.far.read(|s| s.id_of("local")) {
                if self.far.recent_audio(&id).len() >= RATE as usize {
                    return;
                }
            }
        }
    }

    /// `count` one-second windows of what the far end hears from the room, 1.2 s apart:
    /// `measure` (dB) of each.
    async fn windows(&self, count: usize, measure: impl Fn(&[f32]) -> f64) -> Vec<f64> {
        let id = self.far.read(|s| s.id_of("local")).expect("the local end");
        let mut values = Vec::new();
        for _ in 0..count {
            tokio::time::sleep(Duration::from_millis(1200)).await;
            let samples: Vec<f32> = self
                .far
                .recent_audio(&id)
                .iter()
                .map(|&s| f32::from(s) / 32768.0)
                .collect();
            assert!(samples.len() >= RATE as usize / 2, "the sound stopped");
            values.push(measure(&samples));
        }
        values
    }

    /// The median of five windows (a window may catch the canceller re-adapting).
    async fn heard(&self, measure: impl Fn(&[f32]) -> f64) -> f64 {
        let mut values = self.windows(5, measure).await;
        values.sort_by(f64::total_cmp);
        values[2]
    }

    /// The mean power of nine windows, dB: for a voice in syllables, which fill a window
    /// more or less by chance, so that two measures compare the voice, not the windows.
    async fn heard_on_average(&self, measure: impl Fn(&[f32]) -> f64) -> f64 {
        let values = self.windows(9, measure).await;
        let power = values.iter().map(|db| 10f64.powf(db / 10.0)).sum::<f64>() / 9.0;
        10.0 * power.log10()
    }

    /// The local mesh (a test that runs one).
    fn local(&self) -> &Mesh {
        self.local.as_ref().expect("a local mesh")
    }

    /// Ends the call; the local script's outcome, when it ran one.
    async fn end(self) -> Option<Outcome> {
        let outcome = match self.script {
            Some(script) => Some(
                tokio::time::timeout(Duration::from_secs(60), script)
                    .await
                    .expect("the local script ends")
                    .expect("the local script runs"),
            ),
            None => None,
        };
        if let Some(local) = &self.local {
            local.command(MeshCommand::Leave);
        }
        self.far.command(MeshCommand::Leave);
        for t in self.tasks {
            let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
        }
        outcome
    }
}

/// The local person talking: a tone at `hz` in syllables of 150 to 400 ms with pauses of 80
/// to 250 ms, as speech comes.
fn syllables(hz: f64, amplitude: f64) -> impl FnMut(u64) -> f32 + Send + 'static {
    let mut seed = 0x1234_5678_9abc_def1u64;
    let (mut left, mut on) = (0u64, false);
    move |n| {
        if left == 0 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            on = !on;
            let ms = if on {
                150 + seed % 250
            } else {
                80 + seed % 170
            };
            left = ms * u64::from(RATE) / 1000;
        }
        left -= 1;
        if on {
            let t = n as f64 / f64::from(RATE);
            (amplitude * (2.0 * std::f64::consts::PI * hz * t).sin()) as f32
        } else {
            0.0
        }
    }
}

/// Only `feature` on: each test measures one feature against the same path without it.
fn only(feature: Feature) -> Features {
    let mut f = Features {
        echo: false,
        noise: false,
        gain: false,
        ..Default::default()
    };
    f.set(feature, true);
    f
}

#[test]
fn the_far_end_does_not_hear_itself_come_back() {
    // Both tests play into PulseAudio and measure what comes back: they take turns with
    // every test that does.
    let _turn = quiet_sound_turn();
    let room = Room::build("echo");
    crate::common::block_on(async {
        let call = Call::start(&room, "echo", only(Feature::Echo)).await;
        call.wait_for_sound().await;
        // The far end talks alone first, as at the start of a call: the canceller learns the
        // room. Then the local person talks too.
        tokio::time::sleep(Duration::from_secs(15)).await;
        let _talker = SinkPlayer::start(&room.room, RATE, syllables(523.0, 0.15));
        tokio::time::sleep(Duration::from_secs(3)).await;
        let echo_on = call.heard(|s| level_at(s, RATE, 440.0)).await;
        let talker_on = call.heard_on_average(|s| level_at(s, RATE, 523.0)).await;
        let figures = call.local().audio_processing().1;

        call.local()
            .command(MeshCommand::AudioProcessing(Feature::Echo, false));
        tokio::time::sleep(Duration::from_secs(2)).await;
        let echo_off = call.heard(|s| level_at(s, RATE, 440.0)).await;
        let talker_off = call.heard_on_average(|s| level_at(s, RATE, 523.0)).await;
        call.end().await;

        eprintln!(
            "echo (440 Hz) at the far end: {echo_off:.1} dBFS without the canceller, {echo_on:.1} dBFS with it ({:.1} dB less); \
             the local talker (523 Hz): {talker_off:.1} dBFS without, {talker_on:.1} dBFS with ({:+.1} dB); \
             the canceller's figures: ERLE {:?} dB, delay {:?} ms, stream delay {} ms",
            echo_off - echo_on,
            talker_on - talker_off,
            figures.erle_db,
            figures.delay_ms,
            figures.stream_delay_ms,
        );
        assert!(figures.active && figures.far_end_ms > 0, "{figures:?}");
        assert!(
            echo_off > -50.0,
            "without the canceller the echo should be plain to hear: {echo_off:.1} dBFS"
        );
        assert!(
            echo_off - echo_on >= 25.0,
            "the echo is only {:.1} dB lower with the canceller",
            echo_off - echo_on
        );
        assert!(
            (talker_on - talker_off).abs() <= 6.0,
            "the local talker changed {:+.1} dB",
            talker_on - talker_off
        );
    });
}

#[test]
fn steady_noise_in_the_room_is_taken_out_and_the_voice_stays() {
    // Both tests play into PulseAudio and measure what comes back: they take turns with
    // every test that does.
    let _turn = quiet_sound_turn();
    let room = Room::build("noise");
    crate::common::block_on(async {
        // The local end is a headless script: it turns suppression off when the far end
        // says it has measured, and leaves when it is done.
        let script = format!(
            "join noise as local\n\
             audio mic:{}.monitor\n\
             expect peers 1 within 60s\n\
             expect chat from far \"measured\" within 120s\n\
             audio-processing noise off\n\
             expect chat from far \"done\" within 120s\n\
             leave\n",
            room.room
        );
        let call = Call::scripted("noise", only(Feature::Noise), script).await;
        // White noise in the room (a fan, a café), and a voice that comes and goes as
        // speech does: 523 Hz in syllables of varying length.
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let _noise = SinkPlayer::start(&room.room, RATE, move |_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            ((seed >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0) as f32 * 0.05
        });
        let _talker = SinkPlayer::start(&room.room, RATE, syllables(523.0, 0.15));
        call.wait_for_sound().await;
        // The suppressor learns the noise in its first seconds.
        tokio::time::sleep(Duration::from_secs(4)).await;
        let noise = |s: &[f32]| noise_level(s, RATE, 1_000.0, 8_000.0, &[440.0, 523.0]);
        let noise_on = call.heard(noise).await;
        let voice_on = call.heard_on_average(|s| level_at(s, RATE, 523.0)).await;

        call.far.command(MeshCommand::Chat("measured".into()));
        tokio::time::sleep(Duration::from_secs(3)).await;
        let noise_off = call.heard(noise).await;
        let voice_off = call.heard_on_average(|s| level_at(s, RATE, 523.0)).await;
        call.far.command(MeshCommand::Chat("done".into()));
        let outcome = call.end().await;

        eprintln!(
            "room noise (1-8 kHz) at the far end: {noise_off:.1} dB without suppression, {noise_on:.1} dB with it ({:.1} dB less); \
             the voice (523 Hz): {voice_off:.1} dBFS without, {voice_on:.1} dBFS with ({:+.1} dB, {:.1} dB clearer of the noise)",
            noise_off - noise_on,
            voice_on - voice_off,
            (voice_on - noise_on) - (voice_off - noise_off),
        );
        assert!(
            noise_off - noise_on >= 10.0,
            "the noise is only {:.1} dB lower with suppression",
            noise_off - noise_on
        );
        // The voice survives: within 6 dB of its level without suppression, and clearly
        // further above the noise.
        let clearer = (voice_on - noise_on) - (voice_off - noise_off);
        assert!(
            (voice_on - voice_off).abs() <= 6.0 && clearer >= 8.0,
            "the voice changed {:+.1} dB, {clearer:.1} dB clearer of the noise",
            voice_on - voice_off
        );
        // The script's report says what ran.
        let Some(Outcome::Ran(report)) = outcome else {
            panic!("the local script did not run: {outcome:?}")
        };
        assert!(report.ok, "{:#?}", report.steps);
        let p = &report.audio_processing;
        assert!(p.figures.active && !p.noise && !p.echo, "{p:?}");
        assert!(p.figures.processed_ms >= 10_000, "{p:?}");
    });
}
