//! The app driven by keys and meeting states, checked by the effects and state it gives.

use super::*;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use termmeet_signaling::protocol::You;

fn key(c: char) -> Action {
    Action::Key(KeyEvent::from(KeyCode::Char(c)))
}

fn code(k: KeyCode) -> Action {
    Action::Key(KeyEvent::from(k))
}

fn app() -> App {
    let mut a = App::new("standup");
    let meeting = MeshState {
        me: Some(You {
            id: "me".into(),
            name: "me".into(),
        }),
        mic: true,
        cam: true,
        ..Default::default()
    };
    a.update(Action::Meeting(Box::new(meeting)));
    a
}

#[test]
fn keys_toggle_media_and_hands() {
    let mut a = app();
    assert_eq!(
        a.update(key('m')),
        vec![Effect::Mesh(MeshCommand::Mic(false))]
    );
    assert_eq!(
        a.update(key('v')),
        vec![Effect::Mesh(MeshCommand::Cam(false))]
    );
    assert_eq!(
        a.update(key('s')),
        vec![Effect::Mesh(MeshCommand::Screen(true))]
    );
    assert_eq!(
        a.update(key('h')),
        vec![Effect::Mesh(MeshCommand::HandRaise)]
    );
    a.meeting.hands = vec!["other".into(), "me".into()];
    assert_eq!(a.hand_position(), Some(2));
    assert_eq!(
        a.update(key('h')),
        vec![Effect::Mesh(MeshCommand::HandLower(None))]
    );
}

#[test]
fn chat_input() {
    let mut a = app();
    a.update(key('c'));
    assert!(a.typing() && a.focus == Some(Panel::Chat));
    for c in "hi m".chars() {
        // Letters go to the input, not to the toggles.
        assert!(a.update(key(c)).is_empty());
    }
    a.update(code(KeyCode::Backspace));
    assert_eq!(
        a.update(code(KeyCode::Enter)),
        vec![Effect::Mesh(MeshCommand::Chat("hi".into()))]
    );
    a.update(code(KeyCode::Esc));
    assert!(!a.typing());
    assert_eq!(
        a.update(key('m')),
        vec![Effect::Mesh(MeshCommand::Mic(false))]
    );
}

#[test]
fn esc_and_a_key_arriving_together_close_the_input_then_act() {
    let mut a = app();
    a.update(key('c'));
    a.update(key('x'));
    // "\x1bq" in one read is parsed as Alt+q.
    let alt_q = Action::Key(KeyEvent::new(KeyCode::Char('q'), KeyModifiers::ALT));
    assert!(a.update(alt_q).is_empty());
    assert!(!a.typing(), "the input closed");
    assert!(a.confirm_quit(), "and q asked to leave");
    assert_eq!(a.input, "x", "q was not typed into the message");
}

#[test]
fn quit_asks_first_and_panels_toggle() {
    let mut a = app();
    assert!(a.update(key('q')).is_empty());
    assert!(a.confirm_quit());
    assert!(a.update(key('n')).is_empty());
    assert!(!a.confirm_quit());
    a.update(key('q'));
    assert_eq!(
        a.update(key('y')),
        vec![Effect::Mesh(MeshCommand::Leave), Effect::Quit]
    );
    let ctrl_c = Action::Key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL));
    assert_eq!(
        app().update(ctrl_c),
        vec![Effect::Mesh(MeshCommand::Leave), Effect::Quit]
    );
    let mut a = app();
    a.update(key('t'));
    assert!(a.panels.contains(&Panel::Quality));
    a.update(key('p'));
    assert!(!a.panels.contains(&Panel::Peers));
    a.update(code(KeyCode::Tab));
    assert_eq!(a.focus, Some(Panel::Hands));
    a.update(key('w'));
    assert_eq!(a.layout, Layout::Speaker);
    a.update(key('?'));
    assert!(a.help_shown());
    a.update(code(KeyCode::Esc));
    assert!(!a.help_shown());
}
