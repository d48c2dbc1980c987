//! The terminal UI as text, at three sizes, driven by scripted actions: an empty room, three
//! peers, a screen share, the hand queue, chat with long and hostile text, a reconnecting
//! server, the help overlay. Colours are not in these snapshots; the renderer's own tests
//! compare styled buffers.

use std::sync::Arc;

use crossterm::event::{KeyCode, KeyEvent};
use ratatui::backend::TestBackend;
use ratatui::Terminal;
use termmeet::app::{Action, App, Effect, ProcessingView};
use termmeet::call::mesh::{MeshState, PeerState};
use termmeet::call::stats::Quality;
use termmeet::media::processing::{Feature, Features};
use termmeet::media::RgbFrame;
use termmeet::render::ColorMode;
use termmeet::ui::{self, VideoCache};
use termmeet_signaling::protocol::{ChatMessage, PeerInfo, You};

const SIZES: [(u16, u16); 3] = [(80, 24), (120, 40), (200, 60)];

fn peer(id: &str, name: &str, colour: [u8; 3]) -> PeerState {
    let info = PeerInfo::new(id, name);
    let mut p = PeerState::new_for_tests(info);
    let mut frame = RgbFrame::solid(64, 48, colour);
    // A white band across the top half makes the half blocks visible in text.
    for px in frame.data[..64 * 24 * 3].chunks_exact_mut(3) {
        px.copy_from_slice(&[255, 255, 255]);
    }
    p.latest_video = Some(Arc::new(frame));
    p.connection = termmeet::call::peer::LinkState::Connected;
    p.quality = Quality::Excellent;
    p.rtt_ms = 0.6;
    p.bitrate_kbps = 820.0;
    p.bitrate_out_kbps = 640.0;
    p.jitter_ms = 2.4;
    p.path = termmeet::call::stats::Path::Host;
    p
}

fn meeting(peers: &[(&str, &str)]) -> MeshState {
    let mut m = MeshState {
        me: Some(You {
            id: "me".into(),
            name: "you".into(),
        }),
        host: "me".into(),
        connected: true,
        signaling: "connected".into(),
        mic: true,
        cam: true,
        chat_enabled: true,
        ..Default::default()
    };
    let colours = [[200, 30, 30], [30, 200, 30], [30, 30, 200], [200, 200, 30]];
    for (i, (id, name)) in peers.iter().enumerate() {
        m.peers
            .insert(id.to_string(), peer(id, name, colours[i % 4]));
    }
    m
}

fn chat(from: &str, name: &str, text: &str, seq: u64) -> ChatMessage {
    ChatMessage {
        from: from.into(),
        name: name.into(),
        text: text.into(),
        ts: 1_764_000_000_000 + seq * 60_000,
        seq,
    }
}

fn key(c: char) -> Action {
    Action::Key(KeyEvent::from(KeyCode::Char(c)))
}

/// Draws the app at each size and snapshots the text.
fn check(name: &str, app: &App) {
    for (w, h) in SIZES {
        let mut terminal = Terminal::new(TestBackend::new(w, h)).unwrap();
        let mut videos = VideoCache::new(ColorMode::TrueColor, 0);
        terminal.draw(|f| ui::draw(f, app, &mut videos)).unwrap();
        insta::assert_snapshot!(format!("{name}_{w}x{h}"), terminal.backend());
    }
}

#[test]
fn empty_room() {
    let mut app = App::new("standup");
    app.update(Action::Meeting(Box::new(meeting(&[]))));
    check("empty_room", &app);
}

#[test]
fn three_peers_with_quality() {
    let mut app = App::new("standup");
    let mut m = meeting(&[("a1", "alice"), ("b2", "bob"), ("c3", "carol")]);
    m.peers.get_mut("b2").unwrap().info.mic = false;
    m.peers.get_mut("c3").unwrap().info.cam = false;
    app.update(Action::Meeting(Box::new(m)));
    app.update(Action::Processing(ProcessingView {
        features: Features::default(),
        active: true,
        erle_db: Some(24),
        delay_ms: Some(64),
        ..ProcessingView::default()
    }));
    app.update(key('t'));
    check("three_peers", &app);
}

#[test]
fn an_echo_that_still_goes_out_says_so_once() {
    let mut app = App::new("standup");
    let mut view = ProcessingView {
        features: Features::default(),
        active: true,
        erle_db: Some(3),
        delay_ms: Some(64),
        taken_out_db: Some(2),
        not_converged: true,
    };
    app.update(Action::Processing(view));
    app.update(Action::Processing(view));
    let said = |app: &App| {
        app.notices()
            .iter()
            .filter(|n| n.as_str() == "echo: not converged — headphones?")
            .count()
    };
    assert_eq!(said(&app), 1, "{:?}", app.notices());
    assert_eq!(
        app.processing().and_then(|p| p.figures()).as_deref(),
        Some("echo: not converged — headphones?")
    );
    // Converged: the line gives what goes out, measured against the microphone.
    view.not_converged = false;
    view.taken_out_db = Some(31);
    app.update(Action::Processing(view));
    assert_eq!(
        app.processing().and_then(|p| p.figures()).as_deref(),
        Some("echo -31 dB, 64 ms")
    );
    assert_eq!(said(&app), 1);
}

#[test]
fn a_turns_the_sound_processing_off_and_back() {
    use termmeet::call::mesh::MeshCommand;
    let mut app = App::new("standup");
    let only_gain_off = Features {
        gain: false,
        ..Features::default()
    };
    app.update(Action::Processing(ProcessingView {
        features: only_gain_off,
        active: true,
        ..ProcessingView::default()
    }));
    let off = app.update(key('a'));
    assert_eq!(
        off,
        [Feature::Echo, Feature::Noise, Feature::Gain]
            .map(|f| Effect::Mesh(MeshCommand::AudioProcessing(f, false)))
    );
    assert_eq!(
        app.processing().map(|p| p.describe()).as_deref(),
        Some("sound processing off (a: on)")
    );
    // Back to what was on before, not to everything.
    let back = app.update(key('a'));
    assert_eq!(
        back,
        [
            (Feature::Echo, true),
            (Feature::Noise, true),
            (Feature::Gain, false)
        ]
        .map(|(f, on)| Effect::Mesh(MeshCommand::AudioProcessing(f, on)))
    );
}

#[test]
fn screen_share_takes_the_main_area() {
    let mut app = App::new("standup");
    let mut m = meeting(&[("a1", "alice"), ("b2", "bob")]);
    let bob = m.peers.get_mut("b2").unwrap();
    bob.info.screen = true;
    bob.latest_screen = Some(Arc::new(RgbFrame::solid(128, 72, [250, 250, 250])));
    app.update(Action::Meeting(Box::new(m)));
    check("screen_share", &app);
}

#[test]
fn hand_queue() {
    let mut app = App::new("standup");
    let mut m = meeting(&[("a1", "alice"), ("b2", "bob")]);
    m.hands = vec!["b2".into(), "me".into()];
    m.peers.get_mut("b2").unwrap().info.hand = true;
    app.update(Action::Meeting(Box::new(m)));
    check("hand_queue", &app);
}

#[test]
fn chat_with_long_and_hostile_text() {
    let mut app = App::new("standup");
    let mut m = meeting(&[("a1", "alice"), ("x9", "\u{1b}]0;pwned\u{7}\u{1b}[2J")]);
    m.chat = std::sync::Arc::new(vec![
        chat("a1", "alice", "hello everyone", 1),
        chat(
            "x9",
            "\u{1b}]0;pwned\u{7}\u{1b}[2J",
            "\u{1b}[31mred\u{1b}[0m and a bell \u{7}",
            2,
        ),
        chat(
            "me",
            "you",
            &"a very long message that wraps across several lines of the chat panel ".repeat(3),
            3,
        ),
        chat("a1", "alice", "two\nlines", 4),
    ]);
    app.update(Action::Meeting(Box::new(m)));
    app.update(key('c'));
    for c in "typing now".chars() {
        app.update(key(c));
    }
    check("chat", &app);
}

#[test]
fn reconnecting_and_notices() {
    let mut app = App::new("standup");
    let mut m = meeting(&[("a1", "alice")]);
    m.connected = false;
    m.signaling = "reconnecting in 4s (connection lost)".into();
    app.update(Action::Meeting(Box::new(m)));
    app.update(Action::Notice("no camera: sending a test pattern".into()));
    check("reconnecting", &app);
}

#[test]
fn connections_being_set_up_show_progress() {
    let mut app = App::new("standup");
    let mut m = meeting(&[("a1", "alice"), ("b2", "bob")]);
    let bob = m.peers.get_mut("b2").unwrap();
    bob.connection = termmeet::call::peer::LinkState::Connecting;
    bob.ice = termmeet::call::peer::IceState::Checking;
    bob.latest_video = None;
    app.update(Action::Meeting(Box::new(m)));
    check("negotiating", &app);
}

#[test]
fn help_overlay() {
    let mut app = App::new("standup");
    app.update(Action::Meeting(Box::new(meeting(&[("a1", "alice")]))));
    app.update(key('?'));
    check("help", &app);
}

/// Each side panel alone, in the width the layout gives it, with a busy meeting: three
/// peers (one muted, one sharing, one with its camera off), two hands, hostile chat.
#[test]
fn each_panel_alone() {
    let mut app = App::new("standup");
    let mut m = meeting(&[
        ("a1", "alice"),
        ("b2", "bob"),
        ("x9", "\u{1b}]0;pwned\u{7}"),
    ]);
    m.peers.get_mut("b2").unwrap().info.mic = false;
    m.peers.get_mut("b2").unwrap().info.screen = true;
    m.peers.get_mut("x9").unwrap().info.cam = false;
    m.hands = vec!["x9".into(), "me".into()];
    m.peers.get_mut("x9").unwrap().info.hand = true;
    m.chat = std::sync::Arc::new(vec![
        chat("a1", "alice", "hello", 1),
        chat("x9", "\u{1b}]0;pwned\u{7}", "\u{1b}[2Jcleared?", 2),
    ]);
    app.update(Action::Meeting(Box::new(m)));
    type PanelDraw = fn(&mut ratatui::Frame<'_>, ratatui::layout::Rect, &App, bool);
    let panels: [(&str, PanelDraw, u16); 4] = [
        ("peers", ui::peers::draw, 7),
        ("quality", ui::quality::draw, 9),
        ("hands", ui::hands::draw, 6),
        ("chat", ui::chat::draw, 8),
    ];
    for (name, draw, height) in panels {
        let mut border = Vec::new();
        for focused in [false, true] {
            let mut terminal = Terminal::new(TestBackend::new(34, height)).unwrap();
            terminal.draw(|f| draw(f, f.area(), &app, focused)).unwrap();
            border.push(terminal.backend().buffer()[(0, 0)].fg);
            if !focused {
                insta::assert_snapshot!(format!("panel_{name}"), terminal.backend());
            }
        }
        assert_ne!(border[0], border[1], "{name}: focus shows in the border");
    }
    let mut terminal = Terminal::new(TestBackend::new(120, 1)).unwrap();
    terminal
        .draw(|f| ui::status::draw(f, f.area(), &app))
        .unwrap();
    insta::assert_snapshot!("panel_status", terminal.backend());
}

#[test]
fn too_small() {
    let mut app = App::new("standup");
    app.update(Action::Meeting(Box::new(meeting(&[("a1", "alice")]))));
    let mut terminal = Terminal::new(TestBackend::new(30, 10)).unwrap();
    let mut videos = VideoCache::new(ColorMode::TrueColor, 0);
    terminal.draw(|f| ui::draw(f, &app, &mut videos)).unwrap();
    insta::assert_snapshot!("too_small_30x10", terminal.backend());
}

/// The meeting `termmeet join` serves itself: alone, the status bar shows the command
/// others join with; `?` shows it and the page link whatever the company.
#[test]
fn the_invitation_in_the_status_bar_and_help() {
    let invite = termmeet::session::Invite {
        command: "termmeet join standup --server wss://192.0.2.7:8080/ws --secret k7m2q9x4w8ab --server-fingerprint 0E:BB:4B:9D:33:56:63:32:BA:B6:ED:CD:CF:A9:3F:B4:68:72:D3:A2:EE:14:44:AD:35:26:9D:69:AC:00:3E:BF".into(),
        page: "https://192.0.2.7:8080/?room=standup&secret=k7m2q9x4w8ab".into(),
    };
    let mut app = App::new("standup");
    app.update(Action::Invite(Some(invite)));
    app.update(Action::Meeting(Box::new(meeting(&[]))));
    check("invite_alone", &app);
    app.update(Action::Meeting(Box::new(meeting(&[("a1", "alice")]))));
    app.update(key('?'));
    check("invite_help", &app);
}

#[test]
fn device_picker() {
    use termmeet::app::devices::FoundDevices;
    let mut app = App::new("standup");
    app.update(Action::Meeting(Box::new(meeting(&[("a1", "alice")]))));
    app.update(key('d'));
    check("device_picker_looking", &app);
    app.update(Action::Devices(FoundDevices {
        cameras: vec![
            (0, "Integrated Camera".into()),
            (1, "USB Webcam C920".into()),
        ],
        microphones: vec![termmeet::media::sound::SoundDevice {
            id: "alsa_input.pci.analog-stereo".into(),
            description: "Built-in Audio Analog Stereo".into(),
            kind: termmeet::media::sound::SoundKind::Microphone,
            default: true,
            rate: Some(48_000),
            own_processing: None,
        }],
        speakers: vec![termmeet::media::sound::SoundDevice {
            id: "alsa_output.pci.analog-stereo".into(),
            description: "Built-in Audio Analog Stereo".into(),
            kind: termmeet::media::sound::SoundKind::Speaker,
            default: true,
            rate: Some(48_000),
            own_processing: None,
        }],
        screens: vec![":0.0 (1920x1080)".into()],
    }));
    app.update(Action::Key(KeyEvent::from(KeyCode::Down)));
    check("device_picker", &app);
    // Enter switches to the highlighted camera and closes the picker.
    let effects = app.update(Action::Key(KeyEvent::from(KeyCode::Enter)));
    assert_eq!(
        effects,
        vec![termmeet::app::Effect::Mesh(
            termmeet::call::mesh::MeshCommand::UseCamera(
                termmeet::media::sources::VideoSpec::Camera(Some("1".into()))
            )
        )]
    );
    assert!(app.picker().is_none());
}

#[test]
fn host_keys_in_the_peers_panel_and_help() {
    use termmeet::app::Effect;
    use termmeet::call::mesh::MeshCommand;
    let mut app = App::new("standup");
    let mut m = meeting(&[("a1", "alice"), ("b2", "bob")]);
    m.hands = vec!["b2".into(), "me".into()];
    m.peers.get_mut("b2").unwrap().info.hand = true;
    app.update(Action::Meeting(Box::new(m.clone())));
    // Tab focuses the peers panel; ↓ twice highlights bob.
    app.update(Action::Key(KeyEvent::from(KeyCode::Tab)));
    app.update(Action::Key(KeyEvent::from(KeyCode::Down)));
    app.update(Action::Key(KeyEvent::from(KeyCode::Down)));
    check("host_peers", &app);
    assert_eq!(
        app.update(key('l')),
        vec![Effect::Mesh(MeshCommand::HandLower(Some("b2".into())))]
    );
    assert_eq!(
        app.update(key('L')),
        vec![
            Effect::Mesh(MeshCommand::HandLower(Some("b2".into()))),
            Effect::Mesh(MeshCommand::HandLower(None)),
        ]
    );
    assert_eq!(
        app.update(key('C')),
        vec![Effect::Mesh(MeshCommand::ChatEnabled(false))]
    );
    // Alice becomes host: a notice says so, the keys do nothing but say why, and help no
    // longer lists them.
    m.host = "a1".into();
    app.update(Action::Meeting(Box::new(m)));
    assert!(
        app.notices().iter().any(|n| n == "alice is now the host"),
        "{:?}",
        app.notices()
    );
    assert!(app.update(key('L')).is_empty());
    assert!(app.notices().iter().any(|n| n.contains("only the host")));
    app.update(Action::Key(KeyEvent::from(KeyCode::Esc)));
    app.update(key('?'));
    check("guest_help", &app);
}

#[test]
fn the_speaker_layout_follows_whoever_talks_with_a_hold() {
    let t0 = std::time::Instant::now();
    let s = std::time::Duration::from_secs;
    let mut app = App::new("standup");
    app.update(key('w'));
    let mut m = meeting(&[("a1", "alice"), ("b2", "bob"), ("c3", "carol")]);
    for p in m.peers.values_mut() {
        p.speech = true;
    }
    // Loud without speech (a fan, typing): nobody takes the large tile.
    m.peers.get_mut("a1").unwrap().audio_level = 0.4;
    m.peers.get_mut("a1").unwrap().speech = false;
    app.update(Action::Meeting(Box::new(m.clone())));
    app.follow_speaker(t0);
    assert!(
        app.followed_speaker().is_none(),
        "{:?}",
        app.followed_speaker()
    );
    m.peers.get_mut("a1").unwrap().audio_level = 0.0;
    m.peers.get_mut("a1").unwrap().speech = true;
    m.peers.get_mut("b2").unwrap().audio_level = 0.2;
    app.update(Action::Meeting(Box::new(m.clone())));
    app.update(Action::MicLevel(0.05));
    assert!(app.follow_speaker(t0));
    assert_eq!(app.main_speaker(), Some("b2"));
    check("speaker_bob", &app);
    // Carol starts as bob stops: bob keeps the large tile for the hold, then carol has it.
    m.peers.get_mut("b2").unwrap().audio_level = 0.0;
    m.peers.get_mut("c3").unwrap().audio_level = 0.3;
    app.update(Action::Meeting(Box::new(m.clone())));
    assert!(!app.follow_speaker(t0 + s(1)));
    assert_eq!(app.main_speaker(), Some("b2"));
    assert!(app.follow_speaker(t0 + s(3)));
    assert_eq!(app.main_speaker(), Some("c3"));
    check("speaker_carol", &app);
    // Two talking at once: the one on screen stays while they talk.
    m.peers.get_mut("a1").unwrap().audio_level = 0.5;
    app.update(Action::Meeting(Box::new(m.clone())));
    assert!(!app.follow_speaker(t0 + s(10)));
    assert_eq!(app.main_speaker(), Some("c3"));
    // Carol leaves: the loudest left takes over at once.
    m.peers.remove("c3");
    app.update(Action::Meeting(Box::new(m)));
    assert!(app.follow_speaker(t0 + s(10)));
    assert_eq!(app.main_speaker(), Some("a1"));
}

#[test]
fn push_to_talk_status_and_timing() {
    use termmeet::app::{Effect, PushToTalk, PTT_REPEAT_TIMEOUT};
    use termmeet::call::mesh::MeshCommand;
    let t0 = std::time::Instant::now();
    let ms = std::time::Duration::from_millis;
    let mut app = App::new("standup");
    let mut m = meeting(&[("a1", "alice")]);
    m.mic = false;
    app.update(Action::Meeting(Box::new(m.clone())));
    check("ptt_repeat_idle", &app);
    // Without release events: space's repeats keep the microphone on; it goes off a short
    // while after the last one.
    let down = |at| Action::Space { down: true, at };
    assert_eq!(
        app.update(down(t0)),
        vec![Effect::Mesh(MeshCommand::Mic(true))]
    );
    m.mic = true;
    app.update(Action::Meeting(Box::new(m.clone())));
    check("ptt_talking", &app);
    assert!(app.update(down(t0 + ms(500))).is_empty());
    assert!(
        app.update(Action::Tick(t0 + ms(900))).is_empty(),
        "still held"
    );
    assert_eq!(
        app.update(Action::Tick(t0 + ms(500) + PTT_REPEAT_TIMEOUT)),
        vec![Effect::Mesh(MeshCommand::Mic(false))]
    );
    // With release events, the release ends it, however long it was held.
    m.mic = false;
    app.update(Action::Meeting(Box::new(m.clone())));
    app.update(Action::PushToTalk(PushToTalk::Release));
    check("ptt_release_idle", &app);
    app.update(down(t0));
    assert!(app.update(Action::Tick(t0 + ms(5000))).is_empty());
    assert_eq!(
        app.update(Action::Space {
            down: false,
            at: t0 + ms(5000)
        }),
        vec![Effect::Mesh(MeshCommand::Mic(false))]
    );
    // Space while typing a chat message is a space.
    app.update(key('c'));
    app.update(down(t0));
    assert_eq!(app.input(), " ");
}

#[test]
fn a_hand_or_a_mention_rings_only_when_the_terminal_is_elsewhere() {
    use termmeet::app::Effect;
    let mut app = App::new("standup");
    let mut m = meeting(&[("a1", "alice"), ("b2", "bob")]);
    app.update(Action::Meeting(Box::new(m.clone())));
    let rings = |effects: Vec<Effect>| -> Vec<String> {
        effects
            .into_iter()
            .filter_map(|e| match e {
                Effect::Notify { body, .. } => Some(body),
                _ => None,
            })
            .collect()
    };
    // Focused: nothing rings.
    m.hands = vec!["a1".into()];
    assert!(rings(app.update(Action::Meeting(Box::new(m.clone())))).is_empty());
    // Elsewhere: bob's hand rings, our own does not; a chat line naming us rings, one that
    // only contains our name inside a word does not.
    app.update(Action::Focus(false));
    m.hands = vec!["a1".into(), "me".into(), "b2".into()];
    m.chat = Arc::new(vec![
        chat("a1", "alice", "what do YOU think, you?", 1),
        chat("b2", "bob", "younger folks", 2),
        chat("me", "you", "talking to myself, you", 3),
    ]);
    assert_eq!(
        rings(app.update(Action::Meeting(Box::new(m.clone())))),
        ["bob raised a hand", "alice: what do YOU think, you?"]
    );
    // Nothing twice, and nothing while typing.
    assert!(rings(app.update(Action::Meeting(Box::new(m.clone())))).is_empty());
    app.update(key('c'));
    m.hands.push("c3".into());
    assert!(rings(app.update(Action::Meeting(Box::new(m)))).is_empty());
}

/// A shared terminal from a parser, with colours, a wide character and a title.
fn shared_terminal(holder: Option<&str>) -> termmeet::call::mesh::SharedTerminal {
    let mut p = vt100::Parser::new(30, 100, 0);
    p.process(b"$ cargo test\r\n\x1b[32mtest result: ok\x1b[0m. 248 passed\r\n");
    for i in 0..26 {
        p.process(format!("line {i:02} of the log\r\n").as_bytes());
    }
    p.process("$ echo 漢字 done".as_bytes());
    termmeet::call::mesh::SharedTerminal {
        screen: Arc::new(termmeet::share::TermScreen::from_vt(p.screen(), "build")),
        holder: holder.map(str::to_string),
        label: String::new(),
    }
}

#[test]
fn a_shared_terminal_takes_the_main_area_as_text() {
    let mut app = App::new("standup");
    let mut m = meeting(&[("a", "alice"), ("b", "bob")]);
    if let Some(a) = m.peers.get_mut("a") {
        a.terminal = Some(shared_terminal(Some("me")));
    }
    app.update(Action::Meeting(Box::new(m)));
    check("terminal_share", &app);
    // Given the keyboard, Enter types into it and Esc twice comes back.
    app.update(Action::Key(KeyEvent::from(KeyCode::Enter)));
    assert!(app.terminal_focus());
    let typed = app.update(key('x'));
    assert_eq!(
        typed,
        vec![termmeet::app::Effect::Mesh(
            termmeet::call::mesh::MeshCommand::TerminalKeys {
                to: Some("a".into()),
                bytes: b"x".to_vec()
            }
        )]
    );
    // One Esc goes to the program a moment later (or with the next key)…
    assert!(app
        .update(Action::Key(KeyEvent::from(KeyCode::Esc)))
        .is_empty());
    assert!(app.terminal_focus());
    let t0 = std::time::Instant::now();
    assert!(app.update(Action::Tick(t0)).is_empty());
    assert_eq!(
        app.update(Action::Tick(t0 + termmeet::app::ESC_WAIT)),
        vec![termmeet::app::Effect::Mesh(
            termmeet::call::mesh::MeshCommand::TerminalKeys {
                to: Some("a".into()),
                bytes: vec![0x1b]
            }
        )]
    );
    app.update(Action::Key(KeyEvent::from(KeyCode::Esc)));
    assert_eq!(
        app.update(key('x')),
        vec![termmeet::app::Effect::Mesh(
            termmeet::call::mesh::MeshCommand::TerminalKeys {
                to: Some("a".into()),
                bytes: b"\x1bx".to_vec()
            }
        )]
    );
    // …and two together come back to the meeting, sending nothing.
    assert!(app
        .update(Action::Key(KeyEvent::from(KeyCode::Esc)))
        .is_empty());
    assert!(app
        .update(Action::Key(KeyEvent::from(KeyCode::Esc)))
        .is_empty());
    assert!(!app.terminal_focus(), "a second one comes back");
    // Control taken back: Enter no longer types into it.
    let mut m = app.meeting().clone();
    if let Some(a) = m.peers.get_mut("a") {
        a.terminal = Some(shared_terminal(None));
    }
    app.update(Action::Meeting(Box::new(m)));
    app.update(Action::Key(KeyEvent::from(KeyCode::Enter)));
    assert!(!app.terminal_focus());
}

#[test]
fn k_gives_the_chosen_peer_the_keyboard_and_takes_it_back() {
    use termmeet::app::Effect;
    use termmeet::call::mesh::MeshCommand;
    let mut app = App::new("standup");
    let mut m = meeting(&[("a", "alice"), ("b", "bob")]);
    // Without a share of ours, K says what to do.
    app.update(Action::Meeting(Box::new(m.clone())));
    assert!(app.update(key('K')).is_empty());
    assert!(app
        .notices()
        .last()
        .is_some_and(|n| n.contains("share a terminal first")));
    m.my_terminal = Some(termmeet::call::mesh::SharedTerminal {
        label: "bash".into(),
        ..shared_terminal(None)
    });
    app.update(Action::Meeting(Box::new(m.clone())));
    // Choose bob in the peers panel (Tab to it, then down), then K.
    while app.focus() != Some(termmeet::app::Panel::Peers) {
        app.update(Action::Key(KeyEvent::from(KeyCode::Tab)));
    }
    app.update(Action::Key(KeyEvent::from(KeyCode::Down)));
    app.update(Action::Key(KeyEvent::from(KeyCode::Down)));
    let chosen = app
        .selected_peer()
        .map(str::to_string)
        .expect("someone chosen");
    assert_eq!(
        app.update(key('K')),
        vec![Effect::Mesh(MeshCommand::TerminalControl(Some(
            chosen.clone()
        )))]
    );
    // Shown to everyone as holding it; K takes it back.
    m.my_terminal = Some(termmeet::call::mesh::SharedTerminal {
        label: "bash".into(),
        ..shared_terminal(Some(&chosen))
    });
    app.update(Action::Meeting(Box::new(m)));
    check("terminal_share_given", &app);
    assert_eq!(
        app.update(key('K')),
        vec![Effect::Mesh(MeshCommand::TerminalControl(None))]
    );
    // S stops our share.
    app.update(Action::Key(KeyEvent::from(KeyCode::Esc)));
    assert_eq!(
        app.update(key('S')),
        vec![Effect::Mesh(MeshCommand::ShareTerminal(None))]
    );
}

#[test]
fn a_room_through_the_sfu_says_it_is_not_end_to_end() {
    let mut app = App::new("allhands");
    let mut m = meeting(&[("a1", "alice"), ("b2", "bob"), ("c3", "carol")]);
    m.media_mode = termmeet_signaling::protocol::MediaMode::Sfu;
    for p in m.peers.values_mut() {
        p.path = termmeet::call::stats::Path::Sfu;
    }
    app.update(Action::Meeting(Box::new(m)));
    app.update(key('t'));
    check("through_the_sfu", &app);
}

#[test]
fn a_room_larger_than_the_screen_shows_who_spoke_last_and_names_the_rest() {
    let ids: Vec<(String, String)> = (0..20)
        .map(|i| (format!("p{i:02}"), format!("person{i:02}")))
        .collect();
    let refs: Vec<(&str, &str)> = ids.iter().map(|(i, n)| (i.as_str(), n.as_str())).collect();
    let mut app = App::new("allhands");
    let mut m = meeting(&refs);
    // Person 17 talks: at 80x24 they get one of the few tiles.
    let talker = m.peers.get_mut("p17").unwrap();
    talker.speech = true;
    talker.audio_level = 0.3;
    app.update(Action::Meeting(Box::new(m)));
    app.follow_speaker(std::time::Instant::now());
    check("twenty_peers", &app);
    // What is drawn is what is asked for: at 80x24 a few tiles, person 17 among them.
    let mut terminal = Terminal::new(TestBackend::new(80, 24)).unwrap();
    let mut videos = VideoCache::new(ColorMode::TrueColor, 0);
    terminal.draw(|f| ui::draw(f, &app, &mut videos)).unwrap();
    assert!(
        videos.shown.contains(&"p17".to_string()),
        "{:?}",
        videos.shown
    );
    assert!(videos.shown.len() < 20, "{:?}", videos.shown);
    let text = format!("{:?}", terminal.backend());
    let more = 20 - videos.shown.len();
    assert!(text.contains(&format!("+{more} more")), "{text}");
    // At 200x60 everyone fits.
    let mut terminal = Terminal::new(TestBackend::new(200, 60)).unwrap();
    terminal.draw(|f| ui::draw(f, &app, &mut videos)).unwrap();
    assert_eq!(videos.shown.len(), 20, "{:?}", videos.shown);
}
