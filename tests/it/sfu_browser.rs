//! Three kinds of client in one room on the SFU: a person running `termmeet join` in a real
//! terminal (tmux, with a PulseAudio of their own), a `termmeet headless` participant and
//! Chromium on the browser page, each in a lab host of its own, through a real Janus. The
//! room starts as a mesh of the page and the headless one and moves to the SFU when the
//! terminal user arrives, so all three make the switch. Video and sound go every way, each
//! sound a tone of its own; the headless one's shared terminal reaches the other two; then
//! the page and the terminal user each share a screen, which the others see.

use std::time::Duration;

use serde_json::Value;

use crate::common::browser::{Driver, PageOptions, ONE_AT_A_TIME};
use crate::common::desk::{Desk, Pane};
use crate::common::netlab::tail;
use crate::sfu::sfu_lab;
use termmeet::media::tone::{level_at, noise_level};

/// The tones: the headless participant's, the page's (a file Chromium plays as its
/// microphone) and the terminal user's (their PulseAudio's microphone).
const ADA_HZ: u32 = 440;
const CHROME_HZ: u32 = 660;
const TUI_HZ: u32 = 523;

/// The headless participant: sends a pattern and a tone, checks everyone's video and tone,
/// shares a terminal until both others have seen it, then checks both others' screens, and
/// stays until both have said they are done.
fn ada_script() -> String {
    format!(
        "join big as ada\nvideo test-pattern\naudio tone:{ADA_HZ}\nexpect peers 2 within 90s\n\
         expect video from chrome frames 30 within 90s\n\
         expect audio from chrome tone {CHROME_HZ} within 60s\n\
         expect video from tui frames 30 within 90s\n\
         expect audio from tui tone {TUI_HZ} within 60s\n\
         share-terminal printf '{SHARED}'; cat\n\
         expect chat from chrome \"terminal seen\" within 180s\n\
         expect chat from tui \"terminal seen\" within 180s\n\
         share-terminal off\n\
         expect screen from chrome frames 10 within 120s\n\
         expect audio from chrome tone {CHROME_HZ} within 30s\n\
         expect screen from tui frames 10 within 120s\n\
         chat ada done\n\
         expect chat from chrome \"chrome done\" within 240s\n\
         expect chat from tui \"tui done\" within 240s\nwait 2s\nleave\n"
    )
}

/// What ada's shared terminal shows.
const SHARED: &str = "seen-through-the-sfu";

/// One second of a sine at `hz` (a whole number of cycles, so it loops without a click), as
/// a WAV file Chromium can take for its microphone.
fn tone_file(path: &std::path::Path, hz: u32) {
    let samples: Vec<i16> = (0..48_000)
        .map(|i| {
            let t = i as f64 / 48_000.0;
            (8_000.0 * (std::f64::consts::TAU * hz as f64 * t).sin()) as i16
        })
        .collect();
    termmeet::media::wav::write_wav(path, &samples, 48_000, 1).expect("the page's tone file");
}

/// Whether the pane shows video tiles drawn in cells: rows of block elements.
fn shows_video(text: &str) -> bool {
    text.lines()
        .filter(|l| {
            l.chars()
                .filter(|c| ('\u{2580}'..='\u{259f}').contains(c))
                .count()
                >= 8
        })
        .count()
        >= 4
}

/// The terminal user's pane and log, for failures.
fn context(pane: &Pane, log: &std::path::Path) -> String {
    format!(
        "the terminal shows:\n{}\nits log:\n{}",
        pane.text(false),
        tail(&std::fs::read_to_string(log).unwrap_or_default())
    )
}

/// What the terminal user's speaker plays holds both other participants' tones, each well
/// above what is not a tone; the levels it heard, for the failure message otherwise.
fn hears_both(desk: &Desk) -> Result<(), String> {
    let mut seen = Vec::new();
    for _ in 0..5 {
        let samples: Vec<f32> = desk
            .record_speaker(3.0)
            .iter()
            .map(|&s| s as f32 / 32768.0)
            .collect();
        let floor = noise_level(
            &samples,
            48_000,
            100.0,
            4_000.0,
            &[ADA_HZ as f64, CHROME_HZ as f64],
        );
        let (ada, chrome) = (
            level_at(&samples, 48_000, ADA_HZ as f64),
            level_at(&samples, 48_000, CHROME_HZ as f64),
        );
        // On a loaded machine the speaker's underruns click, which lifts the rest; a tone
        // that did not come is down at the rest.
        eprintln!("the terminal user's speaker: {ADA_HZ} Hz {ada:.0} dB, {CHROME_HZ} Hz {chrome:.0} dB, rest {floor:.0} dB");
        if ada > floor + 15.0 && chrome > floor + 15.0 && ada > -45.0 && chrome > -45.0 {
            return Ok(());
        }
        seen.push(format!(
            "{ADA_HZ} Hz {ada:.0} dB, {CHROME_HZ} Hz {chrome:.0} dB, rest {floor:.0} dB"
        ));
    }
    Err(seen.join("; "))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminal_a_headless_participant_and_chromium_meet_through_janus() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let Some(mut lab) = sfu_lab("sfub", 3, &["--mesh-max", "2"]) else {
        return;
    };
    let mut desk = Desk::start(&mut lab.lab, &lab.hosts[2].clone(), "desk", TUI_HZ);
    let origin = format!("http://{}:8080", lab.hub_addr);
    let tone = lab.lab.path("chrome-tone.wav");
    tone_file(&tone, CHROME_HZ);
    let driver = Driver::start_in("sfu-browser", Some(&lab.hosts[0])).await;
    let page = driver
        .open(
            "chrome",
            // A steady tone is what noise suppression takes out, as it should: the page's
            // and the terminal user's sound go without it, as for music.
            &format!("{origin}/?room=big&name=chrome&autojoin&size=320x240&processing=off"),
            PageOptions {
                extra_args: vec![
                    // The page is on a lab address, not localhost: let it have the camera
                    // over plain HTTP, as it would over HTTPS.
                    format!("--unsafely-treat-insecure-origin-as-secure={origin}"),
                    format!("--use-file-for-fake-audio-capture={}", tone.display()),
                ],
                ..PageOptions::default()
            },
        )
        .await;
    page.wait_for(
        "the page joined",
        "window.termmeet.me()",
        Duration::from_secs(30),
    )
    .await;
    lab.start_one(1, "ada", &ada_script());
    // The terminal user: no camera on these machines (so the test pattern goes, as it does
    // for anyone without one, and the screen says so), the desk's microphone and speaker.
    let log = lab.lab.path("tui.log");
    let termmeet = env!("CARGO_BIN_EXE_termmeet");
    let pane = desk.pane(
        &lab.lab,
        160,
        48,
        "truecolor",
        &format!(
            "{termmeet} join big --server {} --name tui --noise-suppression off --log-file {}",
            lab.url,
            log.display()
        ),
    );
    page.wait_for(
        "video and sound from ada and the terminal user through the SFU",
        "window.termmeet.mode() === 'sfu' && ['ada', 'tui'].every((n) => window.termmeet.stats().some((p) => \
         p.name === n && p.cameraFrames >= 30 && p.audioSamples > 48000))",
        Duration::from_secs(150),
    )
    .await;
    // Once the mesh is closed the page sends its camera and microphone once, to the SFU,
    // and shows no short code: there is no end-to-end link to check.
    page.wait_for(
        "one upload",
        "window.termmeet.sending('video').length === 1 && window.termmeet.sending('audio').length === 1",
        Duration::from_secs(30),
    )
    .await;
    let stats = page.js("return window.termmeet.stats()").await;
    for p in stats.as_array().unwrap() {
        assert_eq!(p["connection"], "connected", "{stats:#}");
        assert_eq!(p["sas"], Value::Null, "{stats:#}");
    }
    let sfu = page.js("return window.termmeet.sfu()").await;
    assert_eq!(sfu["publish"], "connected", "{sfu}");
    assert_eq!(sfu["subscribe"], "connected", "{sfu}");
    assert!(sfu["framesSent"].as_u64().unwrap_or(0) > 0, "{sfu}");
    let peers_panel = page
        .js("return document.getElementById('peers').innerText")
        .await;
    assert!(
        peers_panel.as_str().unwrap_or_default().contains("via SFU"),
        "{peers_panel}"
    );
    // Ada's shared terminal, through the server (the SFU relays no `term` channel).
    page.wait_for(
        "ada's shared terminal",
        &format!(
            "(window.termmeet.terminal() || {{shown: []}}).shown.some((l) => l.includes('{SHARED}'))"
        ),
        Duration::from_secs(120),
    )
    .await;
    page.chat("terminal seen").await;
    // The page shares its screen: a third track on its publishing connection, offered again.
    page.click("share").await;

    tokio::task::block_in_place(|| the_terminal_user_sees_and_hears_everyone(&desk, &pane, &log));
    tokio::task::block_in_place(|| the_terminal_user_shares_a_screen(&pane, &log));
    page.wait_for(
        "the terminal user's screen, and ada done",
        "window.termmeet.stats().some((p) => p.name === 'tui' && p.screenFrames >= 10) && \
         document.getElementById('chat').innerText.includes('ada done')",
        Duration::from_secs(120),
    )
    .await;
    page.chat("chrome done").await;
    tokio::task::block_in_place(|| the_terminal_user_leaves(&pane, &log));
    let reports = tokio::task::block_in_place(|| lab.finish(&["ada"], Duration::from_secs(200)));
    let report = &reports[0];
    assert_eq!(report["media_mode"], "sfu", "{report:#}");
    for name in ["chrome", "tui"] {
        let peer = &report["peers"][name];
        assert_eq!(peer["path"], "sfu", "ada sees {name}: {peer:#}");
        assert!(
            peer["video_frames"].as_u64().unwrap_or(0) >= 30,
            "{name}: {peer:#}"
        );
        assert!(
            peer["audio_ms"].as_u64().unwrap_or(0) > 1000,
            "{name}: {peer:#}"
        );
    }
    for name in ["chrome", "tui"] {
        let peer = &report["peers"][name];
        assert!(
            peer["screen_frames"].as_u64().unwrap_or(0) >= 10,
            "ada saw {name}'s screen: {peer:#}"
        );
    }
    assert!(page.errors().await.is_empty(), "{:?}", page.errors().await);
    page.close().await;
}

/// The terminal user's side: the screen shows ada's and the page's video on the SFU, says
/// the media is not end to end, shows ada's shared terminal; the speaker plays both tones;
/// the terminal user says in the chat that they saw the terminal.
fn the_terminal_user_sees_and_hears_everyone(desk: &Desk, pane: &Pane, log: &std::path::Path) {
    let shown = pane.until(Duration::from_secs(150), |text| {
        ["ada", "chrome", "SFU, not end to end", SHARED]
            .iter()
            .all(|w| text.contains(w))
            && shows_video(text)
    });
    assert!(
        shown.is_some(),
        "the terminal never showed ada and chrome on the SFU and ada's terminal: {}",
        context(pane, log)
    );
    // The quality panel (t) gives both paths as the SFU.
    pane.keys("t");
    let paths = pane.until(Duration::from_secs(30), |text| {
        ["ada", "chrome"].iter().all(|n| {
            text.lines()
                .any(|l| l.contains(&format!("{n} ")) && l.contains(" sfu"))
        })
    });
    assert!(
        paths.is_some(),
        "the quality panel never gave ada's and chrome's path as sfu: {}",
        context(pane, log)
    );
    if let Err(levels) = hears_both(desk) {
        panic!(
            "the terminal user's speaker did not play both tones ({levels}): {}",
            context(pane, log)
        );
    }
    chat(pane, log, "terminal seen");
}

/// Sends a chat line from the terminal user (`c`, the text, Enter; Esc closes the chat).
fn chat(pane: &Pane, log: &std::path::Path, line: &str) {
    pane.keys("c");
    pane.keys(line);
    pane.keys("\r");
    let sent = pane.until(Duration::from_secs(30), |t| {
        t.contains(&format!("tui: {line}"))
    });
    assert!(
        sent.is_some(),
        "the chat line {line:?} was not sent: {}",
        context(pane, log)
    );
    pane.keys("\u{1b}");
    std::thread::sleep(Duration::from_millis(300));
}

/// Once ada's terminal is gone, the page's screen fills the large tile; then the terminal
/// user shares theirs (`s`, the X display the tests run).
fn the_terminal_user_shares_a_screen(pane: &Pane, log: &std::path::Path) {
    let shown = pane.until(Duration::from_secs(120), |text| {
        text.contains("chrome is sharing their screen") && !text.contains(SHARED)
    });
    assert!(
        shown.is_some(),
        "the terminal never showed the page's screen: {}",
        context(pane, log)
    );
    pane.keys("s");
}

/// The chat goes both ways, then `q`, `y` leaves and termmeet ends with 0.
fn the_terminal_user_leaves(pane: &Pane, log: &std::path::Path) {
    chat(pane, log, "tui done");
    let told = pane.until(Duration::from_secs(60), |t| t.contains("chrome done"));
    assert!(
        told.is_some(),
        "the page's chat never came: {}",
        context(pane, log)
    );
    assert_eq!(pane.leave(), Some(0), "leaving: {}", context(pane, log));
}
