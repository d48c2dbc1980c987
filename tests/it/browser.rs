//! Real browsers in the meeting: headless Chromium, driven over WebDriver, opens the page the
//! signaling server serves and meets `termmeet headless` participants. What each page
//! received is read from its `getStats` (through `window.termmeet.stats()`), what it shows from
//! its DOM, and what it does is done by clicking and typing as a user would.

use std::sync::Arc;
use std::time::Duration;

use crate::common::browser::{Driver, Page, PageOptions, ONE_AT_A_TIME};
use crate::common::{assert_held, ran, TestServer};
use futures_util::{SinkExt, StreamExt};
use termmeet::headless::runner::{run_script, HeadlessOptions, Report};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;

fn options(server: &TestServer) -> Arc<HeadlessOptions> {
    Arc::new(HeadlessOptions {
        server: server.url(),
        video_size: (320, 240),
        fps: 15.0,
        bitrate: 300_000,
        ..HeadlessOptions::default()
    })
}

fn headless(script: &'static str, o: &Arc<HeadlessOptions>) -> JoinHandle<Report> {
    let o = Arc::clone(o);
    tokio::spawn(async move {
        ran(
            tokio::time::timeout(Duration::from_secs(300), run_script(script, &o))
                .await
                .expect("the script ends within 5 minutes"),
        )
    })
}

/// Joins from the page's form, as a user does.
async fn join_from_form(page: &Page, room: &str, name: &str) {
    page.type_into("room", room).await;
    page.type_into("name", name).await;
    page.click("joinButton").await;
    page.wait_for(
        "the join to be answered",
        "window.termmeet.me()",
        Duration::from_secs(30),
    )
    .await;
}

async fn wait_frames_from(page: &Page, name: &str, frames: u64, within: Duration) {
    page.wait_for(
        &format!("{frames} decoded frames from {name}"),
        &format!(
            "window.termmeet.stats().some((p) => p.name === {name:?} && p.cameraFrames >= {frames})"
        ),
        within,
    )
    .await;
}

async fn wait_chat(page: &Page, line: &str) {
    page.wait_for(
        &format!("{line:?} in the chat"),
        &format!("document.getElementById('chat').innerText.includes({line:?})"),
        Duration::from_secs(60),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_and_a_terminal_exchange_media_chat_hands_and_a_screen() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let server = TestServer::start().await;
    let driver = Driver::start("browser-meet").await;
    let page = driver
        .open("chrome", &server.page(""), PageOptions::default())
        .await;
    join_from_form(&page, "web", "chrome").await;

    let term = headless(
        r#"
        join web as term
        audio tone:440
        expect peers 1 within 60s
        expect video from chrome frames 30 within 60s
        expect audio from chrome within 30s
        expect chat from chrome "hello terminal" within 120s
        expect audio from chrome within 20s
        chat hello browser
        expect hand chrome position 1 within 30s
        hand raise
        expect hand term position 2 within 10s
        screen on
        expect chat from chrome "I see your screen" within 60s
        screen off
        expect chat from chrome "your screen is gone" within 60s
        expect screen from chrome frames 10 within 60s
        chat I see your screen too
        leave
    "#,
        &options(&server),
    );

    // The page decodes our H.264 video and receives our Opus audio.
    page.wait_for(
        "video and audio from term",
        "window.termmeet.stats().some((p) => p.name === 'term' && p.cameraFrames >= 30 && p.audioSamples > 48000)",
        Duration::from_secs(90),
    )
    .await;
    // The short code the page shows for its connection to term (compared with term's below).
    let page_code = page
        .wait_for(
            "the short code",
            "(window.termmeet.stats().find((p) => p.name === 'term') || {}).sas",
            Duration::from_secs(20),
        )
        .await;
    // Another microphone, chosen from the page's list: the track is swapped on the
    // connection, and the terminal keeps hearing the page (checked after "hello terminal").
    page.wait_for(
        "the microphones listed",
        "document.querySelectorAll('#micSelect option').length >= 2 && !document.getElementById('micSelect').disabled",
        Duration::from_secs(10),
    )
    .await;
    page.click_css("#micSelect option:nth-child(2)").await;
    page.wait_for(
        "the second microphone in use",
        "(() => { const s = document.getElementById('micSelect'); \
          const sending = window.termmeet.sending('audio'); \
          return s.selectedIndex === 1 && window.termmeet.micLabel() === s.options[1].textContent \
            && sending.length === 1 && sending[0] === s.options[1].textContent; })()",
        Duration::from_secs(10),
    )
    .await;
    // Chat both ways.
    page.chat("hello terminal").await;
    wait_chat(&page, "term: hello browser").await;
    // Hands both ways, in order, in the page's queue.
    page.click("hand").await;
    page.wait_for(
        "both hands in order",
        "window.termmeet.hands().join(',') === 'chrome,term'",
        Duration::from_secs(30),
    )
    .await;
    page.wait_for(
        "the queue shown",
        "document.getElementById('hands').innerText.includes('chrome (you)')",
        Duration::from_secs(5),
    )
    .await;
    // The terminal's screen share: a separate large tile, playing, and then gone.
    page.wait_for(
        "the screen share as its own large tile",
        "(() => { const v = document.querySelector('#screen.on video'); \
          const t = window.termmeet.stats().find((p) => p.name === 'term'); \
          return v && v.videoWidth > 0 && t.screen && t.screenFrames >= 10; })()",
        Duration::from_secs(60),
    )
    .await;
    page.chat("I see your screen").await;
    page.wait_for(
        "the screen tile to go",
        "!document.querySelector('#screen.on') && !document.querySelector('#screen video')",
        Duration::from_secs(60),
    )
    .await;
    // Host controls: the page joined first, so it is the host. It lowers term's hand, and
    // turns chat off and on again.
    page.click_css("button.lower-hand[data-peer='term']").await;
    page.wait_for(
        "term's hand lowered by the host",
        "window.termmeet.hands().join(',') === 'chrome'",
        Duration::from_secs(20),
    )
    .await;
    page.click("chatToggle").await;
    wait_chat(&page, "chat disabled by chrome").await;
    page.wait_for(
        "the chat box to say so (the host may still write)",
        "document.getElementById('chatInput').placeholder === 'chat is off for the others' \
         && !document.getElementById('chatInput').disabled",
        Duration::from_secs(5),
    )
    .await;
    page.click("chatToggle").await;
    wait_chat(&page, "chat enabled by chrome").await;
    page.chat("your screen is gone").await;
    // The page shares its screen (getDisplayMedia): a new track on a connection the terminal
    // offered, so the page's re-offer is answered by the terminal.
    page.click("share").await;
    wait_chat(&page, "term: I see your screen too").await;
    page.click("share").await;

    let report = term.await.unwrap();
    assert_held("term", &report);
    let chrome = &report.peers["chrome"];
    assert!(
        chrome.video_frames >= 30 && chrome.audio_ms > 500,
        "{chrome:?}"
    );
    // The page and the terminal show the same short code for their connection.
    assert!(chrome.sas.is_some(), "{chrome:?}");
    assert_eq!(page_code.as_str(), chrome.sas.as_deref(), "{chrome:?}");
    assert_eq!(page.errors().await, Vec::<String>::new());
    page.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_browsers_and_two_terminals_all_exchange_video() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let server = TestServer::start().await;
    let driver = Driver::start("browser-four").await;
    let o = options(&server);
    let mut pages = Vec::new();
    for name in ["chrome1", "chrome2"] {
        pages.push(
            driver
                .open(
                    name,
                    &server.page(&format!("room=four&name={name}&size=320x240&autojoin")),
                    PageOptions::default(),
                )
                .await,
        );
    }
    let terms = [
        headless(
            r#"
            join four as term1
            expect peers 3 within 90s
            expect video from chrome1 frames 20 within 90s
            expect video from chrome2 frames 20 within 60s
            expect video from term2 frames 20 within 60s
            # Neither leaves before the other has counted its frames.
            chat term1 sees everyone
            expect chat from term2 "term2 sees everyone" within 60s
            expect chat from chrome1 "everyone sees everyone" within 180s
            leave
        "#,
            &o,
        ),
        headless(
            r#"
            join four as term2
            expect peers 3 within 90s
            expect video from chrome1 frames 20 within 90s
            expect video from chrome2 frames 20 within 60s
            expect video from term1 frames 20 within 60s
            # Neither leaves before the other has counted its frames.
            chat term2 sees everyone
            expect chat from term1 "term1 sees everyone" within 60s
            expect chat from chrome1 "everyone sees everyone" within 180s
            leave
        "#,
            &o,
        ),
    ];
    for (page, others) in pages
        .iter()
        .zip([["chrome2", "term1", "term2"], ["chrome1", "term1", "term2"]])
    {
        for other in others {
            wait_frames_from(page, other, 20, Duration::from_secs(120)).await;
        }
    }
    pages[0].chat("everyone sees everyone").await;
    for (name, term) in ["term1", "term2"].into_iter().zip(terms) {
        assert_held(name, &term.await.unwrap());
    }
    for page in pages {
        assert_eq!(page.errors().await, Vec::<String>::new());
        page.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_survives_a_server_restart_and_resumes() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let mut server = TestServer::start().await;
    let driver = Driver::start("browser-restart").await;
    let page = driver
        .open(
            "chrome",
            &server.page("room=restart&name=chrome&size=320x240&autojoin"),
            PageOptions::default(),
        )
        .await;
    let term = headless(
        r#"
        join restart as term
        expect video from chrome frames 20 within 90s
        expect chat from chrome "back again" within 180s
        chat welcome back
        expect video from chrome frames 20 within 20s
        leave
    "#,
        &options(&server),
    );
    wait_frames_from(&page, "term", 20, Duration::from_secs(90)).await;

    server.stop().await;
    page.wait_for(
        "the page to notice",
        "document.getElementById('status').textContent.startsWith('reconnecting')",
        Duration::from_secs(20),
    )
    .await;
    let before = page.frames_from("term").await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let during = page.frames_from("term").await;
    assert!(
        during >= before + 20,
        "video kept flowing peer to peer while the server was down ({before} → {during})"
    );
    server.restart().await;

    page.wait_for(
        "the page to resume",
        "document.getElementById('status').textContent.startsWith('resumed as chrome')",
        Duration::from_secs(60),
    )
    .await;
    page.chat("back again").await;
    wait_chat(&page, "term: welcome back").await;
    assert_held("term", &term.await.unwrap());
    assert_eq!(server.joins(), 2, "nobody joined afresh");
    assert!(server.resumes() >= 2, "both resumed");
    assert_eq!(page.errors().await, Vec::<String>::new());
    page.close().await;
}

/// A raw protocol client, for peers that misbehave.
struct Ghost {
    ws: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
}

impl Ghost {
    async fn join(server: &TestServer, room: &str, name: &str) -> Ghost {
        let (ws, _) = tokio_tungstenite::connect_async(server.url())
            .await
            .unwrap();
        let mut g = Ghost { ws };
        g.send(serde_json::json!({"type": "join", "room": room, "name": name}))
            .await;
        g.next("peers").await;
        g
    }

    async fn send(&mut self, v: serde_json::Value) {
        self.ws.send(Message::text(v.to_string())).await.unwrap();
    }

    /// The next message of this type (others are skipped).
    async fn next(&mut self, kind: &str) -> serde_json::Value {
        let deadline = Duration::from_secs(60);
        tokio::time::timeout(deadline, async {
            loop {
                match self.ws.next().await {
                    Some(Ok(Message::Text(t))) => {
                        let v: serde_json::Value = serde_json::from_str(&t).unwrap();
                        if v["type"] == kind {
                            return v;
                        }
                    }
                    Some(Ok(_)) => {}
                    other => panic!("the connection ended waiting for {kind}: {other:?}"),
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("no {kind} within {deadline:?}"))
    }

    async fn leave(mut self) {
        self.send(serde_json::json!({"type": "leave"})).await;
        let _ = self.ws.close(None).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_that_leave_mid_negotiation_or_send_garbage_leave_the_page_working() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let server = TestServer::start().await;
    let driver = Driver::start("browser-bad-peers").await;
    // A peer already in the room: the page offers to it, and it leaves without answering.
    let mut silent = Ghost::join(&server, "bad", "silent").await;
    let page = driver
        .open(
            "chrome",
            &server.page("room=bad&name=chrome&size=320x240&autojoin"),
            PageOptions::default(),
        )
        .await;
    let offer = silent.next("offer").await;
    assert!(offer["sdp"].as_str().unwrap().contains("m=video"));
    silent.leave().await;
    page.wait_for(
        "the silent peer to be gone",
        "!window.termmeet.stats().some((p) => p.name === 'silent')",
        Duration::from_secs(20),
    )
    .await;

    // A terminal participant joins and the page meets it.
    let term = headless(
        r#"
        join bad as term
        expect video from chrome frames 20 within 90s
        expect chat from chrome "still here" within 180s
        chat me too
        leave
    "#,
        &options(&server),
    );
    wait_frames_from(&page, "term", 20, Duration::from_secs(90)).await;

    // A newcomer whose offer is garbage, and who then leaves.
    let mut garbage = Ghost::join(&server, "bad", "garbage").await;
    let peers = server.handle.counts().1;
    assert!(peers >= 3, "{peers}");
    let page_id = page.js("return window.termmeet.me().id").await;
    garbage
        .send(serde_json::json!({"type": "offer", "to": page_id, "sdp": "v=0\r\nthis is not SDP\r\n"}))
        .await;
    wait_chat(&page, "could not use the offer from garbage").await;
    garbage.leave().await;
    page.wait_for(
        "the garbage peer to be gone",
        "!window.termmeet.stats().some((p) => p.name === 'garbage')",
        Duration::from_secs(20),
    )
    .await;

    // The meeting with the terminal goes on.
    let before = page.frames_from("term").await;
    wait_frames_from(&page, "term", before + 20, Duration::from_secs(30)).await;
    page.chat("still here").await;
    wait_chat(&page, "term: me too").await;
    assert_held("term", &term.await.unwrap());
    assert_eq!(page.errors().await, Vec::<String>::new());
    page.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_denied_camera_joins_without_video_and_says_so() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let server = TestServer::start().await;
    let driver = Driver::start("browser-denied").await;
    let page = driver
        .open(
            "chrome",
            &server.page("room=denied&name=chrome&autojoin"),
            PageOptions {
                deny_camera: true,
                ..PageOptions::default()
            },
        )
        .await;
    page.wait_for(
        "the page to say there is no camera",
        "document.getElementById('status').textContent.includes('no camera (NotAllowedError')",
        Duration::from_secs(30),
    )
    .await;
    let term = headless(
        r#"
        join denied as term
        audio tone:440
        expect peers 1 within 60s
        expect audio from chrome within 60s
        expect no video from chrome for 3s
        expect chat from chrome "I see you" within 120s
        leave
    "#,
        &options(&server),
    );
    // It still receives everything from the terminal.
    page.wait_for(
        "video and audio from term",
        "window.termmeet.stats().some((p) => p.name === 'term' && p.cameraFrames >= 20 && p.audioSamples > 48000)",
        Duration::from_secs(90),
    )
    .await;
    page.chat("I see you").await;
    let report = term.await.unwrap();
    assert_held("term", &report);
    assert_eq!(report.peers["chrome"].video_frames, 0);
    assert_eq!(
        page.js("return document.getElementById('cam').disabled")
            .await,
        serde_json::json!(true),
        "the camera button is off"
    );
    assert_eq!(page.errors().await, Vec::<String>::new());
    page.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_over_https_on_another_host_gets_camera_and_microphone() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let tls = termmeet_signaling::tls::ServerTls::self_signed(&["meet.test".into()]).unwrap();
    // Chromium trusts this one certificate by its key's hash, not every certificate.
    let spki = tls.spki_sha256().unwrap().to_string();
    let fingerprint = tls.fingerprint().to_string();
    let server = TestServer::with_config(termmeet_signaling::ServerConfig {
        tls: Some(tls),
        ..termmeet_signaling::ServerConfig::default()
    })
    .await;
    let plain = TestServer::start().await;
    let driver = Driver::start("browser-https").await;
    // `meet.test` is another host to Chromium (only localhost is trusted without TLS); it
    // resolves to this machine.
    let browser = PageOptions {
        extra_args: vec![
            "--host-resolver-rules=MAP meet.test 127.0.0.1".into(),
            format!("--ignore-certificate-errors-spki-list={spki}"),
        ],
        ..PageOptions::default()
    };
    let http = driver
        .open(
            "plain",
            &format!("http://meet.test:{}/", plain.addr.port()),
            browser.clone(),
        )
        .await;
    assert_eq!(
        http.js("return [window.isSecureContext, !!navigator.mediaDevices]")
            .await,
        serde_json::json!([false, false]),
        "over plain HTTP another host gets no camera: the reason TLS is needed"
    );
    http.close().await;
    let page = driver
        .open(
            "chrome",
            &format!(
                "https://meet.test:{}/?room=tls&name=chrome&autojoin",
                server.addr.port()
            ),
            browser,
        )
        .await;
    assert_eq!(
        page.js("return window.isSecureContext").await,
        serde_json::json!(true)
    );
    let term = headless(
        r#"
        join tls as term
        audio tone:440
        expect peers 1 within 60s
        expect video from chrome frames 20 within 60s
        expect audio from chrome within 30s
        expect chat from chrome "seen you" within 120s
        leave
    "#,
        &Arc::new(HeadlessOptions {
            tls: termmeet::tls::TlsOptions {
                fingerprint: Some(fingerprint),
                ..Default::default()
            },
            ..(*options(&server)).clone()
        }),
    );
    // The page sends its camera and microphone to the terminal, over a meeting set up through
    // wss://, and receives the terminal's.
    page.wait_for(
        "video and audio from term",
        "window.termmeet.stats().some((p) => p.name === 'term' && p.cameraFrames >= 20 && p.audioSamples > 48000)",
        Duration::from_secs(90),
    )
    .await;
    assert_eq!(
        page.js("return [window.termmeet.sending('video').length, window.termmeet.sending('audio').length]")
            .await,
        serde_json::json!([1, 1])
    );
    page.chat("seen you").await;
    let report = term.await.unwrap();
    assert_held("term", &report);
    assert!(page.errors().await.is_empty(), "{:?}", page.errors().await);
    page.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_shows_a_shared_terminal_as_a_text_grid() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let server = TestServer::start().await;
    let sharer = headless(
        r#"
        join webterm as sharer
        video none
        audio silence
        share-terminal printf '\033]0;PWNED\007\033[2J\033[2;3HKNOWN \033[31mRED-WORD\033[0m <b>not bold</b> 漢字 end\n'; sleep 600
        expect peers 1 within 60s
        expect chat from chrome "seen" within 120s
        terminal-size 60x12
        expect chat from chrome "resized" within 60s
        leave
    "#,
        &options(&server),
    );
    let driver = Driver::start("browser-term").await;
    let page = driver
        .open(
            "chrome",
            &server.page("room=webterm&name=chrome&autojoin"),
            PageOptions::default(),
        )
        .await;
    page.wait_for(
        "the shared terminal's text",
        "(window.termmeet.terminal() || {shown: []}).shown.some((l) => l.includes('KNOWN RED-WORD <b>not bold</b> 漢字 end'))",
        Duration::from_secs(90),
    )
    .await;
    let t = page.js("return window.termmeet.terminal()").await;
    assert_eq!(t["from"], "sharer");
    assert_eq!(
        (t["cols"].as_u64(), t["rows"].as_u64()),
        (Some(100), Some(30))
    );
    // The grid on the page is the screen, cell for cell (wide characters take two cells
    // in the screen and one character on the page).
    let lines: Vec<String> = serde_json::from_value(t["lines"].clone()).unwrap();
    let shown: Vec<String> = serde_json::from_value(t["shown"].clone()).unwrap();
    assert_eq!(lines, shown);
    assert_eq!(
        lines[1].trim_end(),
        "  KNOWN RED-WORD <b>not bold</b> 漢字 end",
        "row 2, column 3, as the program put it"
    );
    // Colour, text nodes only, and the program's title kept inside the tile.
    let checks = page
        .js(r#"
            const spans = [...document.querySelectorAll('#terminal .term-grid span')];
            const red = spans.find((s) => s.textContent.includes('RED-WORD'));
            return {
                red: red ? red.style.color : null,
                elements: document.querySelectorAll('#terminal b, #terminal script').length,
                title: document.title,
                head: document.querySelector('#terminal .term-head').textContent,
            };
        "#)
        .await;
    assert_eq!(checks["red"], "rgb(205, 0, 0)");
    assert_eq!(checks["elements"], 0);
    assert_eq!(checks["title"], "termmeet");
    assert!(
        checks["head"]
            .as_str()
            .is_some_and(|h| h.contains("keyboard: sharer") && h.contains("PWNED")),
        "{checks}"
    );
    page.chat("seen").await;
    page.wait_for(
        "the resized terminal",
        "(window.termmeet.terminal() || {}).cols === 60 && window.termmeet.terminal().rows === 12 && window.termmeet.terminal().shown.length === 12",
        Duration::from_secs(60),
    )
    .await;
    page.chat("resized").await;
    let report = sharer.await.unwrap();
    assert_held("sharer", &report);
    assert!(report.peers["chrome"].terminal_bytes > 0);
    page.wait_for(
        "the tile to go when the sharer leaves",
        "window.termmeet.terminal() === null",
        Duration::from_secs(60),
    )
    .await;
    assert_eq!(page.errors().await, Vec::<String>::new());
    page.close().await;
}
