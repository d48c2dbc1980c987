//! Recording the sessions again (`cargo bench --bench termshare -- record`, needs vim and
//! top): each program in a 100x30 pseudo-terminal, its output saved as asciicast v2 in
//! `benches/data/`.

use std::io::{Read, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use portable_pty::{native_pty_system, CommandBuilder, PtySize};

use super::{data_dir, Events, SIZE};

/// Runs `command` in a 100x30 pseudo-terminal, types `keys` (each after its delay), and
/// records its output for `total` as asciicast v2.
fn record(path: &Path, command: &[&str], keys: &[(Duration, Vec<u8>)], total: Duration) {
    let pair = native_pty_system()
        .openpty(PtySize {
            rows: SIZE.1,
            cols: SIZE.0,
            pixel_width: 0,
            pixel_height: 0,
        })
        .expect("a pseudo-terminal");
    let mut cmd = CommandBuilder::new(command[0]);
    cmd.args(&command[1..]);
    cmd.env("TERM", "xterm-256color");
    let mut child = pair.slave.spawn_command(cmd).expect("the program starts");
    let mut reader = pair.master.try_clone_reader().expect("reader");
    let mut writer = pair.master.take_writer().expect("writer");
    let start = Instant::now();
    let out: Arc<Mutex<Events>> = Arc::default();
    let sink = Arc::clone(&out);
    std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 {
                break;
            }
            let t = start.elapsed().as_secs_f64();
            sink.lock().unwrap().push((t, buf[..n].to_vec()));
        }
    });
    for (delay, k) in keys {
        std::thread::sleep(*delay);
        writer.write_all(k).expect("typing");
    }
    std::thread::sleep(total.saturating_sub(start.elapsed()));
    let _ = child.kill();
    let events = out.lock().unwrap().clone();
    let mut text = format!(
        "{{\"version\": 2, \"width\": {}, \"height\": {}}}\n",
        SIZE.0, SIZE.1
    );
    for (t, bytes) in events {
        let line = serde_json::json!([
            (t * 1e4).round() / 1e4,
            "o",
            String::from_utf8_lossy(&bytes)
        ]);
        text += &format!("{line}\n");
    }
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
    println!("recorded {}", path.display());
}

/// Keys a person types into vim: open a line under line 40, write a function, move about,
/// undo and redo, then quit.
fn editing_keys() -> Vec<(Duration, Vec<u8>)> {
    let mut seed = 7u32;
    let mut jitter = move || {
        seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
        Duration::from_millis(110 + u64::from(seed >> 16) % 120)
    };
    let mut keys = vec![(Duration::from_millis(1500), b"40G".to_vec())];
    let mut typed = |text: &str, keys: &mut Vec<(Duration, Vec<u8>)>| {
        for c in text.chars() {
            keys.push((jitter(), c.to_string().into_bytes()));
        }
    };
    typed("o", &mut keys);
    typed(
        "/// The first word of `line`, if any.\rfn first_word(line: &str) -> Option<&str> {\r    line.split_whitespace().next()\r}\r",
        &mut keys,
    );
    keys.push((Duration::from_millis(300), b"\x1b".to_vec()));
    typed("kkkkjjjj", &mut keys);
    typed("A // words\x1b", &mut keys);
    typed("uu", &mut keys);
    keys.push((Duration::from_millis(400), b"\x12".to_vec()));
    typed("jjjjjjjjjjjjjjjj", &mut keys);
    typed("ggjjjj", &mut keys);
    keys.push((Duration::from_millis(800), b":q!\r".to_vec()));
    keys
}

pub fn record_all() {
    let dir = data_dir();
    let source = std::env::temp_dir().join("termshare-edit.rs");
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("src/share/wire.rs"),
        &source,
    )
    .expect("a file to edit");
    let source = source.display().to_string();
    record(
        &dir.join("editing-vim-100x30.cast"),
        &[
            "vim",
            "-u",
            "NONE",
            "-N",
            "-c",
            "syntax on",
            "-c",
            "set number",
            &source,
        ],
        &editing_keys(),
        Duration::from_secs(40),
    );
    record(
        &dir.join("top-100x30.cast"),
        &["top", "-d", "0.1"],
        &[],
        Duration::from_secs(8),
    );
}
