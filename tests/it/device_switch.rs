//! Switching devices mid-call: the same tracks carry the new source, so the other side hears
//! and sees the change with no renegotiation. Two microphones are PulseAudio sine sources at
//! different pitches; two cameras are clip files of different sizes.

use std::process::Command;
use std::time::Duration;

use crate::common::turns::{alone, run_alone, sound_turn};
use crate::common::{assert_held, ran, PulseModule, TestServer};
use termmeet::headless::runner::{run_script, HeadlessOptions};
use termmeet::media::pattern::{PatternStyle, TestPattern};
use termmeet::media::y4m::write_y4m;

fn clip(path: &std::path::Path, width: usize, height: usize, hue: usize) {
    let pattern = TestPattern::new(width, height, PatternStyle::hue(hue));
    let frames: Vec<_> = (0..30)
        .map(|n| pattern.frame(n, 1_000 + u64::from(n)))
        .collect();
    write_y4m(path, &frames, 15).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn microphone_and_camera_switch_live_without_renegotiation() {
    // The microphone is chosen through this process's environment, which its neighbours share:
    // the test runs again in a process of its own, during the sound turn.
    if !alone() {
        let _turn = sound_turn();
        return run_alone(
            module_path!(),
            "microphone_and_camera_switch_live_without_renegotiation",
        );
    }
    assert!(
        std::env::var("TERMMEET_TEST_PULSE").is_ok(),
        "no test sound server: run the tests with `make test` (scripts/services.sh starts PulseAudio)"
    );
    let _low = PulseModule::load(&["module-sine-source", "source_name=sine440", "frequency=440"]);
    let high = PulseModule::load(&["module-sine-source", "source_name=sine880", "frequency=880"]);
    let dir = std::env::temp_dir().join(format!("termmeet-switch-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (first, second) = (dir.join("first.y4m"), dir.join("second.y4m"));
    clip(&first, 320, 240, 1);
    clip(&second, 160, 120, 5);
    // The microphone opens PulseAudio's default source of this process: the 440 Hz one at
    // the start, the 880 Hz one when the script switches.
    std::env::set_var("PULSE_SOURCE", "sine440");
    let server = TestServer::start().await;
    let options = HeadlessOptions {
        server: server.url(),
        video_size: (320, 240),
        fps: 15.0,
        bitrate: 300_000,
        ..HeadlessOptions::default()
    };
    let alice_script = format!(
        "join switch as alice\n\
         audio mic\n\
         video file:{}\n\
         expect peers 1 within 60s\n\
         expect chat from bob \"switch\" within 90s\n\
         audio mic\n\
         video file:{}\n\
         expect chat from bob \"done\" within 90s\n\
         leave\n",
        first.display(),
        second.display()
    );
    let o = options.clone();
    let alice = tokio::spawn(async move { ran(run_script(&alice_script, &o).await) });
    // Alice's microphone is open once she is in the room.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while server.handle.room("switch").is_none() {
        assert!(tokio::time::Instant::now() < deadline, "alice never joined");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    std::env::set_var("PULSE_SOURCE", "sine880");
    let ob = options.clone();
    let bob = tokio::spawn(async move {
        run_script(
            "join switch as bob\n\
         audio silence\n\
         video none\n\
         expect peers 1 within 60s\n\
         expect audio from alice tone 440 within 30s\n\
         expect video from alice frames 20 within 30s\n\
         chat switch\n\
         wait 2s\n\
         expect audio from alice tone 880 within 30s\n\
         expect video from alice frames 40 within 30s\n\
         chat unplug\n\
         wait 10s\n\
         chat done\n\
         leave\n",
            &ob,
        )
        .await
    });
    // When bob has heard the second microphone, it is unplugged.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while server
        .handle
        .room("switch")
        .is_none_or(|r| r.chat_messages < 2)
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "bob never asked to unplug"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Suspended, the source delivers nothing, as a microphone pulled out does.
    let status = Command::new("pactl")
        .args(["suspend-source", "sine880", "1"])
        .status()
        .unwrap();
    assert!(status.success());
    // Plugged back in a few seconds later: offered back.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let status = Command::new("pactl")
        .args(["suspend-source", "sine880", "0"])
        .status()
        .unwrap();
    assert!(status.success());
    let bob = bob.await;
    drop(high);
    let bob = ran(bob.unwrap());
    let alice = alice.await.unwrap();
    assert_held("bob", &bob);
    assert_held("alice", &alice);
    let heard = &bob.peers["alice"];
    // The picture bob decodes last is the second camera's.
    assert_eq!(heard.video_size, Some([160, 120]), "{heard:?}");
    // One offer set the call up; the switches added none.
    assert_eq!(heard.offers, 1, "bob saw offers: {heard:?}");
    assert_eq!(alice.peers["bob"].offers, 1);
    // The unplugged microphone: alice is told, and offered it back when it returns.
    assert!(
        alice
            .errors
            .iter()
            .any(|e| e.contains("microphone stopped")),
        "{:?}",
        alice.errors
    );
    assert!(
        alice
            .errors
            .iter()
            .any(|e| e.contains("microphone works again")),
        "{:?}",
        alice.errors
    );
    // Back, it waits to be turned on: nobody is heard without knowing it.
    assert!(!heard.mic, "bob sees alice's microphone on");
    let _ = std::fs::remove_dir_all(&dir);
}
