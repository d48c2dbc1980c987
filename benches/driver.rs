//! What the terminal driver spends on the meeting state each render tick, with four peers
//! ten minutes into a meeting: taking the mesh's state for the app (when its version moved),
//! and that plus drawing a 160x48 screen. `cargo bench --bench driver`; results (per tick and per second at 30 ticks
//! a second) in BENCHMARKS.md.

mod common;

use std::sync::{Arc, Mutex};

use common::four_peers;
use criterion::{criterion_group, criterion_main, Criterion};
use ratatui::backend::TestBackend;
use ratatui::Terminal;
use termmeet::app::{Action, App};
use termmeet::call::mesh::MeshState;
use termmeet::render::ColorMode;
use termmeet::ui::{self, VideoCache};
use termmeet_signaling::protocol::ChatMessage;

/// Four peers after ten minutes: 18,000 latency samples each, 100 chats.
fn meeting() -> MeshState {
    let mut m = four_peers([0, 1, 2, 3]);
    for p in m.peers.values_mut() {
        p.audio_level = 0.1;
        for n in 0..18_000 {
            p.latency.record(20 + n % 30);
        }
    }
    m.chat = Arc::new(
        (0..100)
            .map(|n| ChatMessage {
                seq: n,
                from: "p0".into(),
                name: "peer0".into(),
                text: format!("message number {n} about the agenda"),
                ts: 1_700_000_000_000 + n,
            })
            .collect(),
    );
    m
}

fn driver_tick(c: &mut Criterion) {
    let state = Arc::new(Mutex::new(meeting()));
    let mut app = App::new("bench");
    c.bench_function("driver: take the meeting state (4 peers)", |b| {
        b.iter(|| {
            // As the driver does: a copy only when the version moved (here it always has).
            let mut s = state.lock().unwrap();
            s.version += 1;
            let snapshot = s.clone();
            drop(s);
            app.update(Action::Meeting(Box::new(snapshot)));
        })
    });
    let mut terminal = Terminal::new(TestBackend::new(160, 48)).unwrap();
    let mut videos = VideoCache::new(ColorMode::TrueColor, 8);
    c.bench_function("driver: one tick at 160x48 (4 peers)", |b| {
        b.iter(|| {
            let snapshot = state.lock().unwrap().clone();
            app.update(Action::Meeting(Box::new(snapshot)));
            terminal.draw(|f| ui::draw(f, &app, &mut videos)).unwrap();
        })
    });
}

criterion_group!(benches, driver_tick);
criterion_main!(benches);
