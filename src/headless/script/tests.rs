//! Every command and expectation, and the errors of lines that cannot be read.

use std::time::Duration;

use super::*;
use crate::media::processing::Feature;

fn check(line: &str, want: Step) {
    let got = parse_script(line).unwrap_or_else(|e| panic!("{line}: {e}"));
    assert_eq!(got.len(), 1, "{line}");
    assert_eq!(got[0].step, want, "{line}");
}

fn bad(line: &str, says: &str) {
    let e = parse_script(&format!("# first\n{line}")).unwrap_err();
    assert_eq!(e.line, 2, "{line}");
    assert!(e.to_string().contains(says), "{line}: {e}");
}

const W: Duration = DEFAULT_WITHIN;

#[test]
fn every_command() {
    check(
        "join demo as alice",
        Step::Join {
            room: "demo".into(),
            name: "alice".into(),
            secret: None,
        },
    );
    check(
        "join demo as alice secret s3",
        Step::Join {
            room: "demo".into(),
            name: "alice".into(),
            secret: Some("s3".into()),
        },
    );
    check("video test-pattern", Step::Video(VideoSpec::TestPattern));
    check(
        "video test-pattern:busy",
        Step::Video(VideoSpec::BusyPattern),
    );
    check(
        "video file:clip.y4m",
        Step::Video(VideoSpec::File("clip.y4m".into())),
    );
    check(
        "video camera:1",
        Step::Video(VideoSpec::Camera(Some("1".into()))),
    );
    check("video camera", Step::Video(VideoSpec::Camera(None)));
    check("video none", Step::Video(VideoSpec::None));
    check(
        "screen-source x11:99",
        Step::ScreenSource(VideoSpec::X11(Some(":99".into()))),
    );
    check(
        "screen-source test-pattern",
        Step::ScreenSource(VideoSpec::TestPattern),
    );
    check("audio tone:440", Step::Audio(AudioSpec::Tone(440.0)));
    check(
        "audio file:a.wav",
        Step::Audio(AudioSpec::File("a.wav".into())),
    );
    check(
        "audio mic:pulse",
        Step::Audio(AudioSpec::Mic(Some("pulse".into()))),
    );
    check("audio silence", Step::Audio(AudioSpec::Silence));
    check("cam off", Step::Command(MeshCommand::Cam(false)));
    check("mic on", Step::Command(MeshCommand::Mic(true)));
    check("screen on", Step::Command(MeshCommand::Screen(true)));
    check("hand raise", Step::Command(MeshCommand::HandRaise));
    check("hand lower", Step::Command(MeshCommand::HandLower(None)));
    check("hand lower bob", Step::HandLowerFor("bob".into()));
    check("show everyone", Step::Show(None));
    check("show nobody", Step::Show(Some(Vec::new())));
    check(
        "show ada bob",
        Step::Show(Some(vec!["ada".into(), "bob".into()])),
    );
    check(
        "chat hello   there  ",
        Step::Command(MeshCommand::Chat("hello   there".into())),
    );
    check(
        "chat-enabled off",
        Step::Command(MeshCommand::ChatEnabled(false)),
    );
    check("wait 1.5s", Step::Wait(Duration::from_millis(1500)));
    check(
        "expect peers 2",
        Step::ExpectPeers {
            count: 2,
            within: W,
        },
    );
    check(
        "expect peers 2 within 30s",
        Step::ExpectPeers {
            count: 2,
            within: Duration::from_secs(30),
        },
    );
    check(
        "expect video from bob",
        Step::ExpectVideo {
            from: "bob".into(),
            frames: 10,
            within: W,
        },
    );
    check(
        "expect video from bob frames 30 within 5s",
        Step::ExpectVideo {
            from: "bob".into(),
            frames: 30,
            within: Duration::from_secs(5),
        },
    );
    check(
        "expect screen from bob frames 5",
        Step::ExpectScreen {
            from: "bob".into(),
            frames: 5,
            within: W,
        },
    );
    check(
        "expect audio from bob",
        Step::ExpectAudio {
            from: "bob".into(),
            tone: None,
            within: W,
        },
    );
    check(
        "expect audio from bob tone 440",
        Step::ExpectAudio {
            from: "bob".into(),
            tone: Some(440.0),
            within: W,
        },
    );
    check(
        "expect no video from bob for 2s",
        Step::ExpectNoVideo {
            from: "bob".into(),
            duration: Duration::from_secs(2),
        },
    );
    check(
        "expect chat from bob \"hi \\\"you\\\"\"",
        Step::ExpectChat {
            from: "bob".into(),
            text: "hi \"you\"".into(),
            within: W,
        },
    );
    check(
        "expect hand bob",
        Step::ExpectHand {
            name: "bob".into(),
            position: None,
            within: W,
        },
    );
    check(
        "expect hand bob position 2",
        Step::ExpectHand {
            name: "bob".into(),
            position: Some(2),
            within: W,
        },
    );
    check(
        "expect quality bob at least good",
        Step::ExpectQuality {
            name: "bob".into(),
            level: Quality::Good,
            within: W,
        },
    );
    check(
        "expect left bob within 1m",
        Step::ExpectLeft {
            name: "bob".into(),
            within: Duration::from_secs(60),
        },
    );
    check("leave", Step::Command(MeshCommand::Leave));
    check("  # a comment\n\nleave", Step::Command(MeshCommand::Leave));
    check(
        "audio-processing echo off",
        Step::AudioProcessing {
            features: vec![Feature::Echo],
            on: false,
        },
    );
    check(
        "audio-processing all on",
        Step::AudioProcessing {
            features: Feature::ALL.to_vec(),
            on: true,
        },
    );
}

#[test]
fn errors_name_the_line() {
    bad("dance", "unknown command \"dance\"");
    bad("join demo alice", "join ROOM as NAME");
    bad("video webcam", "not a video source");
    bad("audio tone:abc", "not a frequency");
    bad("audio tone:5", "outside");
    bad("cam maybe", "cam on");
    bad("wait soon", "not a duration");
    bad("wait", "takes 1 word");
    bad("expect video bob", "cannot read this expectation");
    bad("expect peers x", "not a number");
    bad("expect hand bob position 0", "start at 1");
    bad("expect quality bob at least great", "not a quality");
    bad("expect chat from bob \"open", "not closed");
    bad("chat", "needs a message");
    bad("screen-source camera", "screen source");
    bad("expect peers 1 within forever", "not a duration");
    bad("audio-processing reverb off", "echo|noise|gain|all");
    bad("audio-processing echo", "echo|noise|gain|all");
    bad("audio-processing noise maybe", "on` or");
}

#[test]
fn quality_levels() {
    assert_eq!(Quality::from_stats(true, 0.0, 0.5), Quality::Excellent);
    assert_eq!(Quality::from_stats(true, 2.0, 50.0), Quality::Good);
    assert_eq!(Quality::from_stats(true, 0.5, 150.0), Quality::Good);
    assert_eq!(Quality::from_stats(true, 5.0, 50.0), Quality::Poor);
    assert_eq!(Quality::from_stats(false, 0.0, 0.0), Quality::Disconnected);
    assert!(Quality::Excellent > Quality::Good && Quality::Good > Quality::Poor);
}
