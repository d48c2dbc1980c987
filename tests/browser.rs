//! A real browser in the meeting: headless Chromium (Debian's, installed by the test set-up)
//! opens the page the signaling server serves, joins with fake camera and microphone, and
//! meets a `termmeet headless` participant. The terminal side checks Chromium's H.264 video
//! and Opus audio arrive and decode; the page reports, as a chat message, when its
//! `getStats` shows our video decoded and our audio received.

use std::process::Stdio;
use std::time::Duration;

use termmeet::headless::runner::{run_script, HeadlessOptions, Outcome};
use termmeet_signaling::ServerConfig;

fn chromium() -> Option<&'static str> {
    [
        "/usr/bin/chromium",
        "/usr/bin/chromium-browser",
        "/usr/bin/google-chrome",
    ]
    .into_iter()
    .find(|p| std::path::Path::new(p).exists())
}

async fn start_browser(url: &str, profile: &std::path::Path) -> tokio::process::Child {
    let bin =
        chromium().expect("Chromium is installed by scripts/setup.sh test (package chromium)");
    tokio::process::Command::new(bin)
        .args([
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--disable-quic",
            &format!("--user-data-dir={}", profile.display()),
            "--use-fake-ui-for-media-stream",
            "--use-fake-device-for-media-stream",
            "--autoplay-policy=no-user-gesture-required",
            // Everything here runs on loopback: let WebRTC use it, and show real addresses
            // rather than mDNS names.
            "--allow-loopback-in-peer-connection",
            "--disable-features=WebRtcHideLocalIpsWithMdns",
            "--enable-logging=stderr",
            url,
        ])
        .stdout(Stdio::null())
        .stderr(
            std::fs::File::create(profile.join("chromium.log"))
                .map(Stdio::from)
                .unwrap_or(Stdio::null()),
        )
        .kill_on_drop(true)
        .spawn()
        .expect("Chromium starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_and_a_terminal_participant_exchange_video_audio_and_chat() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(termmeet_signaling::run(
        listener,
        ServerConfig::default(),
        std::future::pending(),
    ));
    let profile = std::env::temp_dir().join(format!("termmeet-chromium-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&profile);
    std::fs::create_dir_all(&profile).unwrap();
    let _browser = start_browser(
        &format!("http://{addr}/?room=web&name=chrome&autojoin&report"),
        &profile,
    )
    .await;

    let o = HeadlessOptions {
        server: format!("ws://{addr}/ws"),
        video_size: (320, 240),
        fps: 15.0,
        bitrate: 400_000,
        ..HeadlessOptions::default()
    };
    let script = r#"
        join web as term
        audio tone:440
        expect peers 1 within 60s
        expect video from chrome frames 30 within 60s
        expect audio from chrome within 30s
        expect chat from chrome "browser decoded video and audio from term" within 60s
        chat hello browser
        hand raise
        expect hand term position 1 within 10s
        leave
    "#;
    let report = match tokio::time::timeout(Duration::from_secs(240), run_script(script, &o))
        .await
        .expect("the script ends")
    {
        Outcome::Ran(r) => r,
        Outcome::Unusable(e) => panic!("{e}"),
    };
    let failed: Vec<String> = report
        .steps
        .iter()
        .filter(|s| !s.ok)
        .map(|s| format!("line {} `{}`: {}", s.line, s.text, s.detail))
        .collect();
    if !report.ok {
        let log = std::fs::read_to_string(profile.join("chromium.log")).unwrap_or_default();
        let tail: Vec<&str> = log
            .lines()
            .filter(|l| l.contains("termmeet") || l.contains("ERROR"))
            .rev()
            .take(30)
            .collect();
        eprintln!(
            "chromium says:\n{}",
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        );
    }
    assert!(
        report.ok,
        "{}\nerrors: {:?}\npeers: {:?}",
        failed.join("\n"),
        report.errors,
        report.peers
    );
    let chrome = &report.peers["chrome"];
    assert!(
        chrome.video_frames >= 30 && chrome.audio_ms > 500,
        "{chrome:?}"
    );
    let _ = std::fs::remove_dir_all(&profile);
}
