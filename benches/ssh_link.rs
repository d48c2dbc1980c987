//! `termmeet demo` run on a server over a real SSH session from a laptop's tmux, the link
//! between them capped at 1 Mbit/s each way, the laptop's sound forwarded (the lab of
//! `tests/it/ssh.rs`). For each terminal size and colour mode: bytes a second the server sends
//! the laptop (the screen, the sound and SSH's own), frames drawn a second, and the time
//! from `?` to the help on the laptop's screen. Needs root (network namespaces); says so
//! and measures nothing otherwise.
//!
//! `cargo bench --bench ssh_link` (under `scripts/services.sh`, as `make bench` runs it).

#[path = "../tests/it/common/desk.rs"]
#[allow(dead_code)]
mod desk;
#[path = "../tests/it/common/netlab.rs"]
#[allow(dead_code)]
mod netlab;
#[path = "../tests/it/common/sshlab.rs"]
#[allow(dead_code)]
mod sshlab;

use std::time::{Duration, Instant};

use sshlab::SshLab;

/// Frames drawn a second, from the client's log lines of the last `seconds`.
fn frames_drawn(log: &str, seconds: usize) -> f64 {
    let fps: Vec<f64> = log
        .lines()
        .filter_map(|l| l.split("B; ").nth(1)?.split(" fps").next()?.parse().ok())
        .collect();
    let last = &fps[fps.len().saturating_sub(seconds)..];
    last.iter().sum::<f64>() / last.len().max(1) as f64
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let Some(mut lab) = SshLab::start("sshbench", 1000) else {
        return;
    };
    println!("| size | colours | link bytes a second, server to laptop | frames drawn a second | `?` to help (median of 3) |");
    println!("| --- | --- | --- | --- | --- |");
    for (cols, rows) in [(80u16, 24u16), (120, 40), (200, 60)] {
        for colors in ["truecolor", "256"] {
            let log = lab.path(&format!("demo-{cols}x{rows}-{colors}.log"));
            let pane = lab.session(
                cols,
                rows,
                "truecolor",
                &format!(
                    "demo --camera none --colors {colors} --log-file {}",
                    log.display()
                ),
            );
            // Started when the client has drawn video (in 256 colours a picture may be all
            // spaces on coloured ground, so the log says it rather than the pane).
            let started = Instant::now();
            while frames_drawn(&std::fs::read_to_string(&log).unwrap_or_default(), 1) == 0.0
                && started.elapsed() < Duration::from_secs(60)
            {
                std::thread::sleep(Duration::from_millis(200));
            }
            if started.elapsed() >= Duration::from_secs(60) {
                println!("| {cols}x{rows} | {colors} | the demo did not start | | |");
                continue;
            }
            // The participants join and send video; then 10 s measured.
            std::thread::sleep(Duration::from_secs(6));
            let (start, sent) = (Instant::now(), lab.server_sent());
            std::thread::sleep(Duration::from_secs(10));
            let rate = (lab.server_sent() - sent) as f64 / start.elapsed().as_secs_f64();
            let fps = frames_drawn(&std::fs::read_to_string(&log).unwrap_or_default(), 10);
            let mut keys: Vec<Duration> = (0..3)
                .map(|_| pane.key_to_help().unwrap_or(Duration::from_secs(10)))
                .collect();
            keys.sort();
            println!(
                "| {cols}x{rows} | {colors} | {:.1} kB/s | {fps:.1} | {} ms |",
                rate / 1000.0,
                keys[1].as_millis()
            );
            let _ = pane.leave();
        }
    }
}
