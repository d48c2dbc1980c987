//! Drawing the whole UI: a 200x60 terminal with four 640x480 video tiles and every panel.
//! `cargo bench --bench ui`; results in BENCHMARKS.md.

mod common;

use common::four_peers;
use criterion::{criterion_group, criterion_main, Criterion};
use ratatui::backend::TestBackend;
use ratatui::Terminal;
use termmeet::app::{Action, App};
use termmeet::call::mesh::MeshState;
use termmeet::render::ColorMode;
use termmeet::ui::{self, VideoCache};

fn draw_ui(c: &mut Criterion) {
    let frames: Vec<MeshState> = (0..30).map(|n| four_peers([n; 4])).collect();
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
