//! A terminal shared as text over the `term` data channel, between headless participants
//! in a real mesh (in-process signaling server, real WebRTC over loopback).

use crate::common::{assert_held, ran, TestServer};
use termmeet::headless::runner::{run_script, HeadlessOptions};

fn options(url: &str) -> HeadlessOptions {
    HeadlessOptions {
        server: url.to_string(),
        video_size: (160, 120),
        fps: 10.0,
        bitrate: 100_000,
        ..HeadlessOptions::default()
    }
}

/// The shared program: coloured text, then each line typed into it echoed back numbered
/// (so a refused line shows up as a gap in the numbering), `size` printing its size.
pub(crate) const PROGRAM: &str = r#"share-terminal stty -echo; printf 'hello \033[1;31mred\033[0m \033]0;evil\007\033[2J\033[Hhello again\n'; n=0; while IFS= read -r l; do n=$((n+1)); echo "line$n:$l"; [ "$l" = size ] && stty size; done"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_terminal_reaches_viewers_and_takes_keys_only_from_its_holder() {
    let server = TestServer::start().await;
    let url = server.url();
    let alice = format!(
        r#"
        join pair as alice
        video none
        audio silence
        {PROGRAM}
        expect peers 1 within 30s
        expect chat from bob "tried" within 30s
        terminal-control bob
        chat yours
        expect chat from bob "typed" within 30s
        terminal-control off
        chat revoked
        expect chat from bob "late sent" within 30s
        wait 1s
        terminal-keys mine\r
        terminal-keys size\r
        expect chat from bob "resized" within 30s
        expect chat from carol "seen" within 60s
        terminal-size 60x12
        terminal-keys size\r
        expect chat from carol "resized too" within 60s
        expect chat from bob "bye" within 60s
        leave
    "#
    );
    let bob = r#"
        join pair as bob
        video none
        audio silence
        expect terminal from alice "hello again" within 30s
        terminal-keys to alice sneaky\r
        wait 1s
        chat tried
        expect chat from alice "yours" within 30s
        terminal-keys to alice allowed\r
        expect terminal from alice "line1:allowed" within 10s
        chat typed
        expect chat from alice "revoked" within 30s
        terminal-keys to alice late\r
        wait 1s
        chat late sent
        expect terminal from alice "line2:mine" within 10s
        expect terminal from alice "30 100" within 10s
        chat resized
        expect terminal from alice "12 60" within 60s
        wait 500ms
        chat bye
        expect left alice within 30s
        leave
    "#;
    // Carol comes late: the screen is already there, and she gets it at once; then both
    // viewers follow the resize.
    let carol = r#"
        join pair as carol
        video none
        audio silence
        wait 1s
        expect terminal from alice "line1:allowed" within 30s
        chat seen
        expect terminal from alice "12 60" within 60s
        chat resized too
        wait 1s
        leave
    "#;
    let o = options(&url);
    let late = async {
        tokio::time::sleep(std::time::Duration::from_secs(8)).await;
        run_script(carol, &o).await
    };
    let (a, b, c) = tokio::join!(run_script(&alice, &o), run_script(bob, &o), late);
    let (a, b, c) = (ran(a), ran(b), ran(c));
    assert_held("alice", &a);
    assert_held("bob", &b);
    assert_held("carol", &c);
    let seen_by_bob = &b.peers["alice"];
    assert!(seen_by_bob.terminal_updates >= 5, "{seen_by_bob:?}");
    assert!(seen_by_bob.terminal_bytes > 0);
    let sent_to_bob = &a.peers["bob"];
    assert!(sent_to_bob.terminal_bytes >= seen_by_bob.terminal_bytes / 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_share_whose_program_ends_shows_its_last_screen_then_stops() {
    let server = TestServer::start().await;
    let url = server.url();
    let alice = r#"
        join ending as alice
        video none
        audio silence
        expect peers 1 within 30s
        share-terminal sleep 1; printf 'finished-output'; sleep 1
        expect chat from bob "done" within 30s
        leave
    "#;
    let bob = r#"
        join ending as bob
        video none
        audio silence
        expect terminal from alice "finished-output" within 30s
        wait 3s
        chat done
        wait 1s
        leave
    "#;
    let o = options(&url);
    let (a, b) = tokio::join!(run_script(alice, &o), run_script(bob, &o));
    let (a, b) = (ran(a), ran(b));
    assert_held("alice", &a);
    assert_held("bob", &b);
    assert!(
        a.errors
            .iter()
            .any(|e| e.contains("your shared terminal stopped: the program ended")),
        "{:?}",
        a.errors
    );
    assert_eq!(
        b.peers["alice"].terminal_size, None,
        "the share ended for bob"
    );
}
