//! A meeting run on a headless host over a real SSH session, with the sound at the laptop
//! (`tests/it/common/sshlab.rs`: a laptop with PulseAudio and tmux, a server with sshd and the
//! signaling server, a link capped at 1 Mbit/s each way).
//!
//! A headless participant on the server sends its test pattern and a 440 Hz tone; the
//! person, in tmux on the laptop, runs `termmeet ssh`. It must hold that the participant
//! hears 523 Hz (the laptop's microphone, through the SSH socket forward), that the laptop's
//! speaker plays 440 Hz (the participant, played at the laptop), that the pane shows the
//! participant's video and name, that `?` shows the help within 300 ms over the capped link,
//! that `q`, `y` leaves cleanly and removes the forwarded socket, and that nothing from ALSA
//! reaches the pane. Then the same with the forward refused by sshd: the meeting goes on
//! without sound and says why.

use std::time::Duration;

use crate::common::netlab::{failed_steps, tail, SMALL_VIDEO};
use crate::common::sshlab::{Pane, SshLab};
use termmeet::media::tone::{dominant_frequency, tone_is_dominant};

/// What the pane, the remote client's log, sshd and the participant said, for failures.
fn context(lab: &SshLab, pane: &Pane, remote_log: &str) -> String {
    format!(
        "pane:\n{}\nremote termmeet log:\n{}\nsshd:\n{}\ndesk:\n{}",
        pane.text(true),
        tail(&std::fs::read_to_string(lab.path(remote_log)).unwrap_or_default()),
        tail(&lab.lab.log("sshd")),
        tail(&lab.lab.log("desk"))
    )
}

/// The person joins from the laptop's tmux (100x30) as `laptop`, the remote log in `log`.
/// The laptop's microphone is a steady tone, which noise suppression takes for noise (as
/// it should): it is off.
fn join(lab: &mut SshLab, log: &str) -> Pane {
    let command = format!(
        "join over-ssh --server {} --name laptop --camera none --noise-suppression off --log-file {}",
        lab.url,
        lab.path(log).display()
    );
    lab.session(100, 30, "truecolor", &command)
}

#[test]
fn a_meeting_over_ssh_has_the_laptops_sound_and_a_quick_screen() {
    // A scenario on a capped link whose timings are checked: it shares the machine with at
    // most one other.
    let _slot = crate::common::turns::Slot::take();
    let Some(mut lab) = SshLab::start("ssh", 1000) else {
        return;
    };
    let url = lab.url.clone();
    lab.lab.headless(
        &lab.server.clone(),
        "desk",
        &url,
        "join over-ssh as desk\n\
         audio tone:440\n\
         video test-pattern\n\
         expect peers 1 within 120s\n\
         expect audio from laptop tone 523 within 120s\n\
         chat heard-523\n\
         expect peers 0 within 240s\n\
         expect peers 1 within 120s\n\
         expect peers 0 within 240s\n\
         leave\n",
        SMALL_VIDEO,
    );

    // The person, in tmux on the laptop.
    let pane = join(&mut lab, "remote-termmeet.log");
    let shown = pane.until(Duration::from_secs(120), |text| {
        text.contains("desk") && Pane::shows_video(text)
    });
    assert!(
        shown.is_some(),
        "the pane never showed desk's video: {}",
        context(&lab, &pane, "remote-termmeet.log")
    );

    // The participant's tone from the laptop's speaker.
    let mut heard = false;
    for _ in 0..5 {
        let samples = lab.record_speaker(3.0);
        if tone_is_dominant(&samples, 440.0) {
            heard = true;
            break;
        }
        eprintln!(
            "the laptop's speaker: {} samples, dominant {:?}",
            samples.len(),
            dominant_frequency(&samples)
        );
    }
    assert!(
        heard,
        "the laptop's speaker never played desk's 440 Hz: {}",
        context(&lab, &pane, "remote-termmeet.log")
    );

    // `?` over the capped link, with video and sound on it: the median of five within 300 ms.
    let mut latencies: Vec<Duration> = (0..5)
        .map(|_| pane.key_to_help().unwrap_or(Duration::from_secs(10)))
        .collect();
    latencies.sort();
    eprintln!("key to help over the 1 Mbit/s SSH link: {latencies:?}");
    assert!(
        latencies[2] <= Duration::from_millis(300),
        "the help took {latencies:?} to show over the link: {}",
        context(&lab, &pane, "remote-termmeet.log")
    );

    // The sound still plays after the screen has kept the link busy for a while.
    std::thread::sleep(Duration::from_secs(10));
    let samples = lab.record_speaker(3.0);
    assert!(
        tone_is_dominant(&samples, 440.0),
        "the laptop's speaker stopped playing desk's 440 Hz (dominant {:?}): {}",
        dominant_frequency(&samples),
        context(&lab, &pane, "remote-termmeet.log")
    );

    let log = std::fs::read_to_string(lab.path("remote-termmeet.log")).unwrap_or_default();
    eprintln!(
        "speaker underruns at the laptop: {}; the terminal, once a second: {:?}",
        log.matches("buffer underrun").count(),
        log.lines()
            .filter(|l| l.contains("termmeet::tty"))
            .filter_map(|l| l.split("terminal: ").nth(1))
            .collect::<Vec<_>>()
    );

    // The laptop stays until desk has heard its microphone: leaving at a time of the test's
    // own, on a machine where the microphone's path took longer to open, left desk waiting
    // for a laptop that had gone, and each later step of its script out of step.
    let told = pane.until(Duration::from_secs(150), |text| text.contains("heard-523"));
    assert!(
        told.is_some(),
        "desk never said it heard the laptop's 523 Hz microphone over the SSH forward: {}",
        context(&lab, &pane, "remote-termmeet.log")
    );

    // Leave: q asks, y leaves, termmeet ends with 0, and the forwarded socket is gone.
    let code = pane.leave();
    let all = pane.text(true);
    assert_eq!(
        code,
        Some(0),
        "termmeet did not end cleanly: {}",
        context(&lab, &pane, "remote-termmeet.log")
    );
    assert!(!all.contains("ALSA"), "ALSA wrote to the terminal: {all}");
    let left = lab.sockets_left();
    assert!(
        left.is_empty(),
        "the forwarded sound socket stayed: {left:?}"
    );
    drop(pane);

    // sshd refuses the forward (the key may not forward): the meeting goes on without sound,
    // and says why once.
    let keys = lab.path("authorized_keys");
    let key = std::fs::read_to_string(&keys).expect("the authorized key");
    std::fs::write(&keys, format!("no-port-forwarding {key}")).expect("the key without forwarding");
    let pane = join(&mut lab, "refused-termmeet.log");
    let said = pane.until(Duration::from_secs(120), |text| {
        text.contains("desk") && Pane::shows_video(text) && text.contains("no sound")
    });
    assert!(
        said.is_some(),
        "no video, or no word of the missing sound: {}",
        context(&lab, &pane, "refused-termmeet.log")
    );
    let remote_log =
        std::fs::read_to_string(lab.path("refused-termmeet.log")).expect("the remote client's log");
    assert!(
        remote_log.contains("the SSH forward of the laptop's sound is missing or was refused"),
        "the log does not say why: {}",
        tail(&remote_log)
    );
    assert_eq!(
        pane.leave(),
        Some(0),
        "{}",
        context(&lab, &pane, "refused-termmeet.log")
    );
    let all = pane.text(true);
    assert!(!all.contains("ALSA"), "ALSA wrote to the terminal: {all}");

    // The participant heard the laptop's microphone, and saw both sessions come and go.
    let code = lab.lab.wait("desk", Duration::from_secs(300));
    let report = lab.lab.report("desk");
    let failed = failed_steps(&report);
    assert!(
        code == Some(0) && failed.is_empty(),
        "desk: exit {code:?}, failed {failed:?}; {}",
        tail(&lab.lab.log("desk"))
    );
}
