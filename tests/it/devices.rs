//! Real devices: X11 screen capture under Xvfb, and the microphone and speaker through
//! PulseAudio null devices. `scripts/services.sh` (run by `make test`) starts both and sets
//! TERMMEET_TEST_DISPLAY and TERMMEET_TEST_PULSE.

use crate::common::turns::quiet_sound_turn;
use crate::common::{devices_output, PulseModule};

use std::process::{Command, Stdio};
use std::time::Duration;

use termmeet::media::mic::MicSource;
use termmeet::media::playback::Playback;
use termmeet::media::screen::ScreenSource;
use termmeet::media::tone::{dominant_frequency, tone_is_dominant, ToneSource};
use termmeet::media::{AudioSource, VideoSource};
use x11rb::connection::Connection;
use x11rb::protocol::xproto::{ChangeWindowAttributesAux, ConnectionExt as _};

fn display() -> String {
    std::env::var("TERMMEET_TEST_DISPLAY").expect(
        "no test X display: run the tests with `make test` (scripts/services.sh starts Xvfb)",
    )
}

fn require_pulse() {
    assert!(
        std::env::var("TERMMEET_TEST_PULSE").is_ok(),
        "no test sound server: run the tests with `make test` (scripts/services.sh starts PulseAudio)"
    );
}

/// Paints the root window of `display` one colour.
fn paint_root(display: &str, rgb: u32) {
    let (conn, n) = x11rb::connect(Some(display)).unwrap();
    let root = conn.setup().roots[n].root;
    conn.change_window_attributes(
        root,
        &ChangeWindowAttributesAux::new().background_pixel(rgb),
    )
    .unwrap();
    conn.clear_area(false, root, 0, 0, 0, 0).unwrap();
    conn.get_input_focus().unwrap().reply().unwrap();
}

#[test]
fn captures_the_x11_screen_with_shm_and_without() {
    let d = display();
    let mut screen = ScreenSource::open(Some(&d), 10.0, (640, 360), false).unwrap();
    assert!(screen.uses_shm(), "Xvfb has MIT-SHM");
    for (colour, rgb) in [
        (0xff0000u32, [255, 0, 0]),
        (0x00ff00, [0, 255, 0]),
        (0x2040c0, [0x20, 0x40, 0xc0]),
    ] {
        paint_root(&d, colour);
        let frame = screen.capture_rgb().unwrap();
        assert_eq!((frame.width, frame.height), (1280, 720));
        assert_eq!(frame.pixel(10, 10), rgb);
        assert_eq!(frame.pixel(1279, 719), rgb);
    }
    // The scaled I420 picture for the encoder fits the maximum size.
    let f = screen.next_frame().unwrap();
    assert_eq!((f.picture.width, f.picture.height), (640, 360));
    let back = f.picture.to_rgb().pixel(320, 180);
    assert!(
        back.iter()
            .zip([0x20, 0x40, 0xc0])
            .all(|(a, b)| (*a as i32 - b).abs() < 8),
        "{back:?}"
    );
    // The GetImage path gives the same picture.
    screen.disable_shm();
    paint_root(&d, 0xffff00);
    assert_eq!(screen.capture_rgb().unwrap().pixel(600, 300), [255, 255, 0]);
}

#[test]
fn a_missing_display_is_a_clear_error() {
    let e = ScreenSource::open(Some(":4242"), 10.0, (1280, 720), false)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains(":4242"), "{e}");
}

/// Records `seconds` of the null sink's monitor with parec.
fn record_sink(seconds: f64) -> Vec<i16> {
    crate::common::netlab::parec(Command::new("parec"), "vsink.monitor", seconds)
}

fn pactl(args: &[&str]) {
    let status = Command::new("pactl").args(args).status().unwrap();
    assert!(status.success(), "pactl {args:?}");
}

#[test]
fn playback_mixes_remote_streams_into_the_speaker() {
    require_pulse();
    // The audio tests change the sound server's defaults, so they take turns.
    let _turn = quiet_sound_turn();
    pactl(&["set-default-sink", "vsink"]);
    let playback = Playback::open(None).unwrap();
    let a = playback.add_stream();
    let b = playback.add_stream();
    b.set_volume(0.0);
    // Feed 2.5 s of a 440 Hz tone in real time, and a muted 1000 Hz one, while recording.
    let recorder = std::thread::spawn(|| record_sink(2.0));
    let mut tone = ToneSource::new(440.0, true);
    let mut other = ToneSource::new(1000.0, false);
    for _ in 0..125 {
        a.push(&tone.next_frame().unwrap().samples);
        b.push(&other.generate().samples);
    }
    let recorded = recorder.join().unwrap();
    assert!(
        recorded.len() > 48_000,
        "recorded {} samples",
        recorded.len()
    );
    let loud: Vec<i16> = recorded.iter().copied().skip(9600).collect();
    assert!(
        tone_is_dominant(&loud, 440.0),
        "dominant: {:?}",
        dominant_frequency(&loud)
    );
    assert!(
        !tone_is_dominant(&loud, 1000.0),
        "the muted stream is not heard"
    );
    assert!(a.level() >= 0.0);
}

#[test]
fn microphone_delivers_what_the_sound_server_hears() {
    require_pulse();
    // The audio tests change the sound server's defaults, so they take turns.
    let _turn = quiet_sound_turn();
    // The null source gives silence, in real 20 ms frames.
    pactl(&["set-default-source", "vsrc"]);
    let mut mic = MicSource::open(None).unwrap();
    for _ in 0..10 {
        assert_eq!(mic.next_frame().unwrap().samples.len(), 960);
    }
    drop(mic);
    // With the sink's monitor as the default source, a tone played into the sink arrives.
    pactl(&["set-default-source", "vsink.monitor"]);
    let mut mic = MicSource::open(None).unwrap();
    let mut player = Command::new("pacat")
        .args([
            "--device=vsink",
            "--raw",
            "--format=s16le",
            "--rate=48000",
            "--channels=1",
        ])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = player.stdin.take().unwrap();
    let feeder = std::thread::spawn(move || {
        use std::io::Write;
        let mut tone = ToneSource::new(660.0, true);
        for _ in 0..150 {
            let bytes: Vec<u8> = tone
                .next_frame()
                .unwrap()
                .samples
                .iter()
                .flat_map(|s| s.to_le_bytes())
                .collect();
            if stdin.write_all(&bytes).is_err() {
                break;
            }
        }
    });
    let mut heard = Vec::new();
    for _ in 0..100 {
        heard.extend(mic.next_frame().unwrap().samples);
    }
    feeder.join().unwrap();
    let _ = player.kill();
    let _ = player.wait();
    pactl(&["set-default-source", "vsrc"]);
    let tail = &heard[heard.len() / 2..];
    assert!(
        tone_is_dominant(tail, 660.0),
        "dominant: {:?}",
        dominant_frequency(tail)
    );
    assert!(MicSource::open(Some("no-such-microphone"))
        .err()
        .unwrap()
        .to_string()
        .contains("no-such-microphone"));
}

/// A microphone running at `rate` with a `hz` tone on it (a PulseAudio sine source): what
/// the microphone path delivers at 48 kHz, its strongest spurious component in dB below the
/// tone, and the rate the device was opened at.
fn spurious_through_the_microphone(rate: u32, hz: u32) -> (f64, u32) {
    let name = format!("sine{hz}at{rate}");
    let _source = PulseModule::load(&[
        "module-sine-source",
        &format!("source_name={name}"),
        &format!("rate={rate}"),
        &format!("frequency={hz}"),
    ]);
    pactl(&["set-default-source", &name]);
    // A source just loaded can be slow to start: a microphone that stops delivering in
    // the first second is opened again (twice at most).
    let mut attempts = 0;
    let (mic, samples) = loop {
        attempts += 1;
        let mut mic = MicSource::open(None).unwrap();
        let mut samples = Vec::new();
        let mut failed = None;
        for n in 0..100 {
            match mic.next_frame() {
                // Half a second for the source, the stream and the filter to settle.
                Ok(frame) if n >= 25 => {
                    samples.extend(frame.samples.iter().map(|&s| f32::from(s) / 32768.0))
                }
                Ok(_) => {}
                Err(e) => {
                    failed = Some(format!("frame {n}: {e}"));
                    break;
                }
            }
        }
        match failed {
            None => break (mic, samples),
            Some(e) if attempts < 3 => {
                eprintln!("{hz} Hz at {rate} Hz: {e}; opening the microphone again");
                std::thread::sleep(Duration::from_millis(500));
            }
            Some(e) => panic!("{hz} Hz at {rate} Hz: {e}"),
        }
    };
    let device_rate = mic.device_rate();
    drop(mic);
    pactl(&["set-default-source", "vsrc"]);
    (
        termmeet::media::tone::spurious_db_steady(&samples, 48_000, f64::from(hz), 0.0),
        device_rate,
    )
}

#[test]
fn a_microphone_at_another_rate_is_resampled_cleanly() {
    require_pulse();
    // The audio tests change the sound server's defaults, so they take turns.
    let _turn = quiet_sound_turn();
    for (rate, hz) in [(44_100, 5_000), (44_100, 10_000), (16_000, 5_000)] {
        let (db, device_rate) = spurious_through_the_microphone(rate, hz);
        eprintln!("{hz} Hz at {rate} Hz (device opened at {device_rate} Hz): spurious {db:.1} dB");
        assert!(
            db <= -80.0,
            "{hz} Hz at {rate} Hz (device opened at {device_rate} Hz): spurious at {db:.1} dB"
        );
    }
}

#[test]
fn playback_to_a_speaker_at_another_rate_is_resampled_cleanly() {
    require_pulse();
    // The audio tests change the sound server's defaults, so they take turns.
    let _turn = quiet_sound_turn();
    let _sink = PulseModule::load(&["module-null-sink", "sink_name=sink44", "rate=44100"]);
    pactl(&["set-default-sink", "sink44"]);
    let playback = Playback::open(None).unwrap();
    let rate = playback.rate();
    let stream = playback.add_stream();
    // 4 s of a 5 kHz tone in real time, while 3 s of the sink are recorded after 0.5 s.
    let recorder = std::thread::spawn(|| {
        std::thread::sleep(Duration::from_millis(500));
        crate::common::netlab::parec_at(Command::new("parec"), "sink44.monitor", 44_100, 3.0)
    });
    let mut tone = ToneSource::new(5_000.0, true);
    for _ in 0..200 {
        stream.push(&tone.next_frame().unwrap().samples);
    }
    let recorded = recorder.join().unwrap();
    drop(stream);
    drop(playback);
    pactl(&["set-default-sink", "vsink"]);
    let samples: Vec<f32> = recorded.iter().map(|&s| f32::from(s) / 32768.0).collect();
    // The figures of the signal as it usually is: a few milliseconds that the rest of the
    // run's load starved spoil a window or two, not the resampler's quality.
    let near = termmeet::media::tone::spurious_db_steady(&samples, 44_100, 5_000.0, 0.0);
    let db = termmeet::media::tone::spurious_db_steady(&samples, 44_100, 5_000.0, 500.0);
    eprintln!("5 kHz to a 44.1 kHz speaker (opened at {rate} Hz): spurious {db:.1} dB beyond 500 Hz of the tone, {near:.1} dB anywhere");
    assert_eq!(
        rate, 44_100,
        "the speaker was not opened at the sink's own rate"
    );
    assert!(
        db <= -80.0,
        "5 kHz to a 44.1 kHz speaker: spurious at {db:.1} dB"
    );
}

#[test]
fn playback_moves_to_another_speaker_without_losing_its_streams() {
    require_pulse();
    // The audio tests change the sound server's defaults, so they take turns.
    let _turn = quiet_sound_turn();
    pactl(&["set-default-sink", "vsink"]);
    // Opened on a speaker that is not the null sink we record, then moved to it.
    let playback = Playback::open(Some("no-such-speaker")).err();
    assert!(playback.is_some_and(|e| e.to_string().contains("no-such-speaker")));
    let playback = Playback::open(None).unwrap();
    let stream = playback.add_stream();
    let mut tone = ToneSource::new(550.0, true);
    for _ in 0..25 {
        stream.push(&tone.next_frame().unwrap().samples);
    }
    let moved = playback.switch(None).unwrap();
    assert!(!moved.is_empty());
    assert!(
        playback.switch(Some("no-such-speaker")).is_err(),
        "a bad name keeps the old speaker"
    );
    let recorder = std::thread::spawn(|| record_sink(2.0));
    for _ in 0..125 {
        stream.push(&tone.next_frame().unwrap().samples);
    }
    let recorded = recorder.join().unwrap();
    let heard: Vec<i16> = recorded.iter().copied().skip(9600).collect();
    assert!(
        tone_is_dominant(&heard, 550.0),
        "the stream did not follow the speaker: {:?}",
        dominant_frequency(&heard)
    );
}

#[test]
fn devices_are_listed_by_their_descriptions_with_the_defaults_marked() {
    require_pulse();
    // The audio tests change the sound server's defaults, so they take turns.
    let _turn = quiet_sound_turn();
    let _mic = PulseModule::load(&[
        "module-sine-source",
        "source_name=deskmic",
        "source_properties=device.description=Desk-Microphone",
    ]);
    let _speaker = PulseModule::load(&[
        "module-null-sink",
        "sink_name=deskspk",
        "sink_properties=device.description=Desk-Speaker",
    ]);
    pactl(&["set-default-sink", "deskspk"]);
    let listed = devices_output();
    pactl(&["set-default-sink", "vsink"]);
    eprintln!("{listed}");
    let section = |title: &str| crate::common::devices_section(&listed, title);
    let mics = section("Microphones");
    let monitors = section("Monitors");
    let speakers = section("Speakers");
    assert!(mics.contains("Desk-Microphone (deskmic)"), "{mics}");
    assert!(
        mics.contains("* "),
        "the default microphone is marked:\n{mics}"
    );
    assert!(
        speakers.contains("* Desk-Speaker (deskspk)"),
        "the default speaker is marked:\n{speakers}"
    );
    assert!(monitors.contains("Monitor of Desk-Speaker"), "{monitors}");
    assert!(!mics.contains("Monitor of"), "monitors apart:\n{mics}");
    for plugin in [
        "lavrate",
        "samplerate",
        "speexrate",
        "jack",
        "oss",
        "speex",
        "upmix",
        "vdownmix",
    ] {
        assert!(
            !listed.lines().any(|l| l
                .split_whitespace()
                .any(|w| w == plugin || w == format!("({plugin})"))),
            "ALSA's {plugin} plugin is not a device:\n{listed}"
        );
    }
    assert!(listed.contains("PulseAudio"), "{listed}");
}

#[test]
fn the_microphone_and_speaker_are_chosen_by_description() {
    require_pulse();
    // The audio tests change the sound server's defaults, so they take turns.
    let _turn = quiet_sound_turn();
    let _tone = PulseModule::load(&[
        "module-sine-source",
        "source_name=pick523",
        "frequency=523",
        "source_properties=device.description=Pickable-Tone",
    ]);
    let _speaker = PulseModule::load(&[
        "module-null-sink",
        "sink_name=pickspk",
        "sink_properties=device.description=Pickable-Speaker",
    ]);
    // By a prefix of the description, in another case.
    let mut mic = MicSource::open(Some("pickable-t")).expect("the microphone by description");
    let mut samples = Vec::new();
    for n in 0..60 {
        let frame = mic.next_frame().expect("audio");
        if n >= 20 {
            samples.extend(frame.samples);
        }
    }
    assert!(
        mic.describe().contains("Pickable-Tone"),
        "{}",
        mic.describe()
    );
    assert!(
        tone_is_dominant(&samples, 523.0),
        "the 523 Hz source, heard at {:?} Hz",
        dominant_frequency(&samples)
    );
    drop(mic);
    let playback = Playback::open(Some("Pickable-Speaker")).expect("the speaker by description");
    assert_eq!(playback.name(), "Pickable-Speaker");
    let a = playback.add_stream();
    let mut tone = ToneSource::new(660.0, true);
    for _ in 0..25 {
        a.push(&tone.next_frame().unwrap().samples);
    }
    let recorder = std::thread::spawn(|| {
        crate::common::netlab::parec(Command::new("parec"), "pickspk.monitor", 2.0)
    });
    for _ in 0..125 {
        a.push(&tone.next_frame().unwrap().samples);
    }
    let recorded = recorder.join().unwrap();
    let heard = &recorded[recorded.len() / 3..];
    assert!(
        tone_is_dominant(heard, 660.0),
        "660 Hz reached the chosen speaker: {} samples, loudest {:?}, dominant {:?}",
        heard.len(),
        heard.iter().map(|s| s.unsigned_abs()).max(),
        dominant_frequency(heard)
    );
    drop(playback);
    // A name that fits nothing says what there is.
    let e = MicSource::open(Some("no such thing"))
        .err()
        .expect("an error")
        .to_string();
    assert!(e.contains("Pickable-Tone"), "{e}");
}

/// A tone on a microphone that runs on a real clock: a null sink at `rate` that `pacat`
/// plays the tone into, and its monitor as the microphone. (PulseAudio's sine source makes
/// its sound two seconds at a time, which no microphone does.)
struct ClockedTone {
    _player: crate::common::SinkPlayer,
    _sink: PulseModule,
    name: String,
}

impl ClockedTone {
    fn start(name: &str, rate: u32, hz: f64) -> ClockedTone {
        let sink = PulseModule::load(&[
            "module-null-sink",
            &format!("sink_name={name}"),
            &format!("rate={rate}"),
            &format!("sink_properties=device.description={name}-tone"),
        ]);
        ClockedTone {
            _player: crate::common::SinkPlayer::sine(name, rate, hz, 0.5),
            _sink: sink,
            name: name.to_string(),
        }
    }

    /// The microphone's name: the sink's monitor.
    fn microphone(&self) -> String {
        format!("{}.monitor", self.name)
    }
}

/// A 5 kHz tone on a microphone running at `rate`, sent through a real call: what the other
/// end decodes, its strongest spurious component in dB below the tone.
fn spurious_at_the_far_end(rate: u32) -> f64 {
    let tone = ClockedTone::start(&format!("far5k{rate}"), rate, 5_000.0);
    let name = tone.microphone();
    crate::common::block_on(async {
        use termmeet::call::mesh::{Mesh, MeshCommand};
        let server = crate::common::TestServer::start().await;
        let url = server.url();
        let mut config = crate::common::participant(&url, "far", "talker", None);
        // What is measured is the path from the device to the far end, untouched.
        config.processing = termmeet::media::processing::Features {
            echo: false,
            noise: false,
            gain: false,
            ..Default::default()
        };
        config.microphone = Some(Box::new(
            MicSource::open(Some(&name)).expect("the tone's microphone"),
        ));
        let (talker, t1) = Mesh::start(config);
        let (listener, t2) = Mesh::start(crate::common::participant(&url, "far", "listener", None));
        let deadline = std::time::Instant::now() + Duration::from_secs(40);
        let mut best = f64::MAX;
        let mut rounds = 0;
        // Three one-second windows once sound flows; the cleanest one counts (a window may
        // hold the jitter buffer's start).
        while rounds < 3 {
            assert!(
                std::time::Instant::now() < deadline,
                "no sound from the talker"
            );
            tokio::time::sleep(Duration::from_millis(1200)).await;
            let id = listener.read(|s| s.id_of("talker"));
            let Some(id) = id else { continue };
            let samples = listener.recent_audio(&id);
            if samples.len() < 48_000 || !tone_is_dominant(&samples, 5_000.0) {
                continue;
            }
            let floats: Vec<f32> = samples.iter().map(|&s| f32::from(s) / 32768.0).collect();
            best = best.min(termmeet::media::tone::spurious_db_steady(
                &floats, 48_000, 5_000.0, 0.0,
            ));
            rounds += 1;
        }
        talker.command(MeshCommand::Leave);
        listener.command(MeshCommand::Leave);
        let _ = tokio::time::timeout(Duration::from_secs(5), t1).await;
        let _ = tokio::time::timeout(Duration::from_secs(5), t2).await;
        best
    })
}

#[test]
fn a_5khz_tone_reaches_the_far_end_limited_by_opus_alone() {
    require_pulse();
    // The audio tests change the sound server's defaults, so they take turns.
    let _turn = quiet_sound_turn();
    for rate in [44_100, 48_000] {
        let db = spurious_at_the_far_end(rate);
        eprintln!(
            "5 kHz on a microphone at {rate} Hz, decoded at the far end: spurious {db:.1} dB"
        );
        assert!(db <= -42.0, "at {rate} Hz: spurious at {db:.1} dB");
    }
}

#[test]
fn a_device_that_cancels_echo_itself_is_marked() {
    require_pulse();
    // The audio tests change the sound server's defaults, so they take turns.
    let _turn = quiet_sound_turn();
    let _speaker = PulseModule::load(&["module-null-sink", "sink_name=ownspk"]);
    // The sound server's own echo canceller, with its do-nothing method (the module is
    // what marks the devices, whatever the method).
    let _canceller = PulseModule::load(&[
        "module-echo-cancel",
        "source_master=vsrc",
        "sink_master=ownspk",
        "aec_method=null",
        "source_name=ownmic",
        "sink_name=ownout",
    ]);
    let out = devices_output();
    let line = out
        .lines()
        .find(|l| l.contains("(ownmic"))
        .unwrap_or_else(|| panic!("the canceller's microphone is listed:\n{out}"));
    assert!(line.contains("does its own echo cancellation"), "{line}");
    assert!(out.contains("--echo-cancel off"), "{out}");
    let plain = out
        .lines()
        .find(|l| l.contains("(vsrc)"))
        .expect("the plain microphone");
    assert!(!plain.contains("does its own"), "{plain}");
}
