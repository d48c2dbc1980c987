//! Drawing the whole UI: a 200x60 terminal with four 640x480 video tiles and every panel.
//! `cargo bench --bench ui`; results in BENCHMARKS.md.

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};
use ratatui::backend::TestBackend;
use ratatui::Terminal;
use termmeet::app::{Action, App};
use termmeet::call::mesh::{MeshState, PeerState};
use termmeet::media::pattern::{PatternStyle, TestPattern};
use termmeet::render::ColorMode;
use termmeet::ui::{self, VideoCache};
use termmeet_signaling::protocol::{PeerInfo, You};

fn four_peers(n: u32) -> MeshState {
    let mut m = MeshState {
        me: Some(You {
            id: "me".into(),
            name: "me".into(),
        }),
        connected: true,
        mic: true,
        cam: true,
        chat_enabled: true,
        ..Default::default()
    };
    for i in 0..4 {
        let id = format!("p{i}");
        let info = PeerInfo::new(id.clone(), format!("peer{i}"));
        let mut p = PeerState::new_for_tests(info);
        p.latest_video = Some(Arc::new(
            TestPattern::new(640, 480, PatternStyle { hue_shift: i })
                .frame(n, 0)
                .to_rgb(),
        ));
        m.peers.insert(id, p);
    }
    m
}

fn draw_ui(c: &mut Criterion) {
    let frames: Vec<MeshState> = (0..30).map(four_peers).collect();
    let mut terminal = Terminal::new(TestBackend::new(200, 60)).unwrap();
    let mut videos = VideoCache::new(ColorMode::TrueColor, 8);
    let mut app = App::new("bench");
    app.update(Action::Key(crossterm::event::KeyEvent::from(
        crossterm::event::KeyCode::Char('t'),
    )));
    let mut i = 0;
    c.bench_function("draw the UI at 200x60 with four 640x480 tiles", |b| {
        b.iter(|| {
            app.update(Action::Meeting(Box::new(frames[i % frames.len()].clone())));
            i += 1;
            terminal.draw(|f| ui::draw(f, &app, &mut videos)).unwrap();
        })
    });
}

criterion_group!(benches, draw_ui);
criterion_main!(benches);
