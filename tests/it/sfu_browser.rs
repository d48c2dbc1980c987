//! The browser page in a room on the SFU: Chromium, inside a lab host of its own, meets two
//! `termmeet headless` participants through a real Janus. The room starts as a mesh and
//! moves to the SFU when the third arrives, so the page also makes the switch.

use std::time::Duration;

use serde_json::Value;

use crate::common::browser::{Driver, PageOptions, ONE_AT_A_TIME};
use crate::sfu::sfu_lab;

/// A headless participant who sends a pattern and a tone and checks everyone's media, then
/// says so in the chat and stays until the other headless one and the page have said so too.
/// Ada shares a terminal once the room is on the SFU, and bob checks he sees it.
fn script(me: &str, other: &str, tone: u32) -> String {
    let terminal = match me {
        "ada" => format!("share-terminal printf '{SHARED}'; cat\n"),
        _ => format!("expect terminal from ada \"{SHARED}\" within 60s\n"),
    };
    format!(
        "join big as {me}\nvideo test-pattern\naudio tone:{tone}\nexpect peers 2 within 60s\n\
         expect video from chrome frames 30 within 90s\nexpect audio from chrome within 30s\n\
         expect video from {other} frames 30 within 60s\nexpect audio from {other} within 30s\n\
         {terminal}\
         chat {me} done\nexpect chat from {other} \"{other} done\" within 120s\n\
         expect chat from chrome \"chrome done\" within 180s\nwait 2s\nleave\n"
    )
}

/// What ada's shared terminal shows.
const SHARED: &str = "seen-through-the-sfu";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_and_headless_participants_meet_through_janus() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let Some(mut lab) = sfu_lab("sfub", 3, &["--mesh-max", "2"]) else {
        return;
    };
    let origin = format!("http://{}:8080", lab.hub_addr);
    let driver = Driver::start_in("sfu-browser", Some(&lab.hosts[0])).await;
    let page = driver
        .open(
            "chrome",
            &format!("{origin}/?room=big&name=chrome&autojoin&size=320x240"),
            PageOptions {
                // The page is on a lab address, not localhost: let it have the camera over
                // plain HTTP, as it would over HTTPS.
                extra_args: vec![format!(
                    "--unsafely-treat-insecure-origin-as-secure={origin}"
                )],
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
    lab.start_one(1, "ada", &script("ada", "bob", 440));
    lab.start_one(2, "bob", &script("bob", "ada", 550));
    page.wait_for(
        "video and sound from ada and bob through the SFU",
        "window.termmeet.mode() === 'sfu' && ['ada', 'bob'].every((n) => window.termmeet.stats().some((p) => \
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
    page.chat("chrome done").await;
    let reports =
        tokio::task::block_in_place(|| lab.finish(&["ada", "bob"], Duration::from_secs(200)));
    for (me, report) in ["ada", "bob"].iter().zip(&reports) {
        assert_eq!(report["media_mode"], "sfu", "{me}: {report:#}");
        let chrome = &report["peers"]["chrome"];
        assert_eq!(chrome["path"], "sfu", "{me} sees chrome: {chrome:#}");
        assert!(
            chrome["video_frames"].as_u64().unwrap_or(0) >= 30,
            "{me}: {chrome:#}"
        );
        assert!(
            chrome["audio_ms"].as_u64().unwrap_or(0) > 1000,
            "{me}: {chrome:#}"
        );
    }
    assert!(page.errors().await.is_empty(), "{:?}", page.errors().await);
    page.close().await;
}
