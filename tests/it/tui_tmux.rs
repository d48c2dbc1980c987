//! The real binary in a real terminal (tmux), as a person uses it.

use crate::common::tmux::{log_file, wait_until_gone, Tmux};
use crate::common::{participant, TestServer};

use std::sync::Mutex;
use std::time::{Duration, Instant};

use termmeet::call::mesh::{Mesh, MeshCommand};

/// The two tests each run a meeting; one at a time keeps them within two cores.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Waits until `observer` sees the participant called `name` pass `check`, or panics with
/// what the terminal under test shows.
fn observe(
    observer: &Mesh,
    name: &str,
    t: &Tmux,
    what: &str,
    check: &dyn Fn(&termmeet::call::mesh::PeerState) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(40);
    while !observer.read(|s| {
        s.peers
            .values()
            .find(|p| p.info.name == name)
            .is_some_and(check)
    }) {
        assert!(
            Instant::now() < deadline,
            "the observer never saw {what}; the terminal shows:\n{}",
            t.capture(false)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Esc twice as a person presses it: two keys a moment apart (two escapes read together
/// are one key to the terminal's input parser).
fn esc_twice(t: &Tmux) {
    t.keys(&["Escape"]);
    std::thread::sleep(Duration::from_millis(100));
    t.keys(&["Escape"]);
}

#[test]
fn demo_in_a_terminal() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let bin = env!("CARGO_BIN_EXE_termmeet");
    let t = Tmux::start(
        "demo",
        &format!("env COLORTERM=truecolor {bin} demo --name tester --log-file {}; echo TERMMEET-EXITED; sleep 60", log_file("demo")),
    );
    // Both synthetic participants appear, with half-block video in colour.
    let screen = t.wait_for(
        &["ada", "grace", "tester (you)"],
        false,
        Duration::from_secs(60),
    );
    // Drawn in block elements: quadrants in tmux (its TERM is not the Linux console's).
    assert!(
        screen.contains(['▘', '▝', '▖', '▗', '▌', '▐', '▞', '▚', '▛', '▜', '▙', '▟']),
        "quadrant cells drawn:\n{screen}"
    );
    t.wait_for(&["\u{1b}[", "48;2;"], true, Duration::from_secs(30));
    // h puts us in the hand queue.
    t.keys(&["h"]);
    t.wait_for(&["you are #"], false, Duration::from_secs(20));
    // c, typing and Enter sends a chat message that comes back into the chat panel.
    t.keys(&["c"]);
    t.type_text("hello from tmux");
    t.keys(&["Enter"]);
    t.wait_for(&["tester: hello from tmux"], false, Duration::from_secs(20));
    t.keys(&["Escape"]);
    wait_until_gone(&t, "Esc done", Duration::from_secs(10));
    // q asks first; y leaves, and the shell gets its terminal back.
    t.keys(&["q"]);
    t.wait_for(&["Leave the meeting?"], false, Duration::from_secs(10));
    t.keys(&["y"]);
    let after = t.wait_for(&["TERMMEET-EXITED"], false, Duration::from_secs(20));
    assert!(
        !after.contains("peers"),
        "the meeting's screen is gone:\n{after}"
    );
}

#[test]
fn a_headless_participant_sees_the_keys() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    crate::common::block_on(headless_sees_keys());
}

async fn headless_sees_keys() {
    let server = TestServer::start().await;
    let url = server.url();
    let (observer, task) = Mesh::start(participant(&url, "keys", "observer", None));
    let bin = env!("CARGO_BIN_EXE_termmeet");
    let t = Tmux::start(
        "keys",
        &format!(
            "{bin} join keys --server {url} --name keyboard --speaker none --log-file {}; sleep 60",
            log_file("keys")
        ),
    );
    let wait = |what: &str, check: &dyn Fn(&termmeet::call::mesh::PeerState) -> bool| {
        observe(&observer, "keyboard", &t, what, check)
    };
    wait("the participant with video", &|p| {
        p.video_frames > 5 && p.info.mic && p.info.cam
    });
    t.keys(&["m"]);
    wait("the microphone off", &|p| !p.info.mic);
    t.keys(&["v"]);
    wait("the camera off", &|p| !p.info.cam);
    t.keys(&["s"]);
    wait("a screen share", &|p| p.info.screen && p.screen_frames > 3);
    t.keys(&["s"]);
    wait("the screen share stop", &|p| !p.info.screen);
    t.keys(&["m", "v"]);
    wait("microphone and camera on again", &|p| {
        p.info.mic && p.info.cam
    });
    t.keys(&["q", "y"]);
    observer.command(MeshCommand::Leave);
    let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
}

#[test]
fn a_shared_terminal_is_shown_as_text_and_typed_into_when_given() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    crate::common::block_on(shared_terminal_in_tmux());
}

/// A hostile shared program: a title change, bracketed paste on, the screen cleared, then
/// known text with colour at a moved cursor; then it echoes what is typed.
const HOSTILE: &str = r#"printf '\033]0;PWNED-TITLE\007\033[?2004h\033[200~\033[2J\033[3;5HKNOWN \033[31mRED-WORD\033[0m TEXT\033[6;1Hsecond line\n'; stty -echo; while IFS= read -r l; do echo "got:$l"; done"#;

async fn shared_terminal_in_tmux() {
    use termmeet::share::TerminalSpec;
    let server = TestServer::start().await;
    let url = server.url();
    let (sharer, task) = Mesh::start(participant(&url, "pairing", "sharer", None));
    // A second headless participant watches the same share.
    let (other, other_task) = Mesh::start(participant(&url, "pairing", "other", None));
    let bin = env!("CARGO_BIN_EXE_termmeet");
    let t = Tmux::start(
        "share",
        &format!(
            "env COLORTERM=truecolor {bin} join pairing --server {url} --name viewer --camera none --mic none --speaker none --log-file {}; echo TERMMEET-EXITED; sleep 60",
            log_file("share")
        ),
    );
    let title_before = t.pane_title();
    let wait = |what: &str, check: &dyn Fn(&termmeet::call::mesh::MeshState) -> bool| {
        let deadline = Instant::now() + Duration::from_secs(40);
        while !sharer.read(check) {
            assert!(
                Instant::now() < deadline,
                "the sharer never saw {what}; the viewer's terminal shows:\n{}",
                t.capture(false)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    wait("the viewer and the other", &|s| {
        ["viewer", "other"]
            .iter()
            .all(|n| s.peers.values().any(|p| p.info.name == *n))
    });
    sharer.command(MeshCommand::ShareTerminal(Some(TerminalSpec {
        command: HOSTILE.into(),
        size: (60, 12),
    })));
    // The viewer's tile shows the text where the program put it, in colour, and the
    // meeting around it is still there: the clear-screen did not reach the real terminal.
    let screen = t.wait_for(
        &[
            "sharer's terminal",
            "keyboard: sharer",
            "KNOWN RED-WORD TEXT",
            "second line",
        ],
        false,
        Duration::from_secs(40),
    );
    assert!(screen.contains("peers 3"), "{screen}");
    observe(&other, "sharer", &t, "the shared text", &|p| {
        p.terminal
            .as_ref()
            .is_some_and(|t| t.screen.row_text(2).starts_with("    KNOWN RED-WORD TEXT"))
    });
    let known = screen
        .lines()
        .find(|l| l.contains("KNOWN RED-WORD"))
        .unwrap_or_default();
    assert!(
        known.starts_with("│    KNOWN RED-WORD TEXT"),
        "column 5 of the shared terminal, inside the tile's border:\n{screen}"
    );
    let coloured = t.capture(true);
    let red = coloured
        .lines()
        .find(|l| l.contains("RED-WORD"))
        .unwrap_or_default();
    let before_word = &red[..red.find("RED-WORD").unwrap_or(0)];
    assert!(
        before_word.ends_with("\u{1b}[31m") || before_word.ends_with("38;5;1m"),
        "RED-WORD in red: {red:?}"
    );
    assert_eq!(
        t.pane_title(),
        title_before,
        "the program's title stays in the tile"
    );
    // Without control, Enter does not type into it, and keys stay the meeting's.
    t.keys(&["Enter"]);
    t.type_text("x");
    std::thread::sleep(Duration::from_millis(500));
    assert!(!t.capture(false).contains("typing here"));
    // Given the keyboard, the viewer types into the sharer's program.
    let viewer = sharer.read(|s| s.id_of("viewer")).expect("viewer's id");
    sharer.command(MeshCommand::TerminalControl(Some(viewer)));
    t.wait_for(
        &["keyboard: you", "Enter: type here"],
        false,
        Duration::from_secs(20),
    );
    t.keys(&["Enter"]);
    t.wait_for(&["typing here"], false, Duration::from_secs(10));
    t.type_text("from the viewer");
    t.keys(&["Enter"]);
    wait("the viewer's line typed into the program", &|s| {
        s.my_terminal
            .as_ref()
            .is_some_and(|m| m.screen.contains("got:from the viewer"))
    });
    t.wait_for(&["got:from the viewer"], false, Duration::from_secs(20));
    // Esc twice gives the keys back to the meeting; taking control back ends typing.
    esc_twice(&t);
    wait_until_gone(&t, "typing here", Duration::from_secs(10));
    sharer.command(MeshCommand::TerminalControl(None));
    t.wait_for(&["keyboard: sharer"], false, Duration::from_secs(20));
    // The sharer stops: the tile goes.
    sharer.command(MeshCommand::ShareTerminal(None));
    wait_until_gone(&t, "sharer's terminal", Duration::from_secs(20));
    t.keys(&["q", "y"]);
    t.wait_for(&["TERMMEET-EXITED"], false, Duration::from_secs(20));
    assert_eq!(t.pane_title(), title_before);
    sharer.command(MeshCommand::Leave);
    other.command(MeshCommand::Leave);
    let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
    let _ = tokio::time::timeout(Duration::from_secs(5), other_task).await;
}

#[test]
fn the_sharer_types_into_their_own_terminal_and_stops_it_with_s() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    crate::common::block_on(sharer_in_tmux());
}

async fn sharer_in_tmux() {
    let server = TestServer::start().await;
    let url = server.url();
    let (viewer, task) = Mesh::start(participant(&url, "typing", "observer", None));
    let bin = env!("CARGO_BIN_EXE_termmeet");
    let t = Tmux::start(
        "sharer",
        &format!(
            "{bin} join typing --server {url} --name typist --camera none --mic none --speaker none --share-size 60x12 --share-terminal 'stty -echo; while IFS= read -r l; do echo \"ran:$l\"; done' --log-file {}; echo TERMMEET-EXITED; sleep 60",
            log_file("sharer")
        ),
    );
    let seen = |what: &str, check: &dyn Fn(&termmeet::call::mesh::PeerState) -> bool| {
        observe(&viewer, "typist", &t, what, check)
    };
    let shows = |text: &'static str| {
        move |p: &termmeet::call::mesh::PeerState| {
            p.terminal.as_ref().is_some_and(|t| t.screen.contains(text))
        }
    };
    seen("the shared terminal", &|p| {
        p.terminal
            .as_ref()
            .is_some_and(|t| (t.screen.cols, t.screen.rows) == (60, 12))
    });
    t.wait_for(
        &["your terminal", "keyboard: you", "typing here"],
        false,
        Duration::from_secs(20),
    );
    // The keys go into the program from the start.
    t.type_text("hello");
    t.keys(&["Enter"]);
    seen("the typed line", &shows("ran:hello"));
    t.wait_for(&["ran:hello"], false, Duration::from_secs(10));
    // Esc twice: the keys are the meeting's again (h raises a hand).
    esc_twice(&t);
    wait_until_gone(&t, "typing here", Duration::from_secs(10));
    t.keys(&["h"]);
    seen("the raised hand", &|p| p.info.hand);
    // Enter goes back in.
    t.keys(&["Enter"]);
    t.wait_for(&["typing here"], false, Duration::from_secs(10));
    t.type_text("again");
    t.keys(&["Enter"]);
    seen("the second line", &shows("ran:again"));
    esc_twice(&t);
    wait_until_gone(&t, "typing here", Duration::from_secs(10));
    // S stops the share for everyone.
    t.keys(&["S"]);
    seen("the share stop", &|p| p.terminal.is_none());
    wait_until_gone(&t, "your terminal", Duration::from_secs(10));
    t.keys(&["q", "y"]);
    t.wait_for(&["TERMMEET-EXITED"], false, Duration::from_secs(20));
    viewer.command(MeshCommand::Leave);
    let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
}

#[test]
fn a_speaker_plugged_in_during_the_meeting_appears_in_the_picker() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    assert!(
        std::env::var("TERMMEET_TEST_PULSE").is_ok(),
        "no test sound server: run the tests with `make test` (scripts/services.sh starts PulseAudio)"
    );
    crate::common::block_on(async {
        let server = TestServer::start().await;
        let url = server.url();
        let bin = env!("CARGO_BIN_EXE_termmeet");
        let t = Tmux::start(
            "hotplug",
            &format!(
                "{bin} join hotplug --server {url} --name plug --camera none --mic none --log-file {}; sleep 60",
                log_file("hotplug")
            ),
        );
        t.wait_for(&["plug (you)"], false, Duration::from_secs(30));
        t.keys(&["d"]);
        t.wait_for(
            &["Speaker", "the system's default"],
            false,
            Duration::from_secs(20),
        );
        let sink = crate::common::PulseModule::load(&[
            "module-null-sink",
            "sink_name=hotplugged",
            "sink_properties=device.description=Hotplug-Headset",
        ]);
        // Found again within a few seconds while the picker is open.
        t.wait_for(&["Hotplug-Headset"], false, Duration::from_secs(10));
        drop(sink);
        wait_until_gone(&t, "Hotplug-Headset", Duration::from_secs(10));
        t.keys(&["Escape", "q", "y"]);
    });
}
