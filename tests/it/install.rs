//! What an install ships besides the programs: shell completions and man pages, made by the
//! programs themselves from their flag definitions.

use std::process::Command;

use crate::common::netlab::server_binary;

fn run(program: &std::path::Path, args: &[&str]) -> String {
    let out = Command::new(program).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{} {args:?}: {out:?}",
        program.display()
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn completions_cover_every_subcommand_in_each_shell() {
    let client = std::path::Path::new(env!("CARGO_BIN_EXE_termmeet"));
    let server = server_binary();
    for shell in ["bash", "zsh", "fish"] {
        let script = run(client, &["completions", shell]);
        // Fish spells long flags `-l server`, the others `--server`.
        for word in ["join", "demo", "headless", "ssh", "server", "mic"] {
            assert!(script.contains(word), "{shell}: no {word}");
        }
        let script = run(&server, &["completions", shell]);
        for word in ["loadgen", "token", "listen", "tls-cert"] {
            assert!(script.contains(word), "{shell} (server): no {word}");
        }
    }
    let bad = Command::new(client)
        .args(["completions", "tcsh"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("bash"));
}

#[test]
fn man_pages_for_each_program_and_subcommand() {
    let dir = std::env::temp_dir().join(format!("termmeet-man-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let client = std::path::Path::new(env!("CARGO_BIN_EXE_termmeet"));
    let listed = run(client, &["man", &dir.to_string_lossy()]);
    run(&server_binary(), &["man", &dir.to_string_lossy()]);
    for page in [
        "termmeet.1",
        "termmeet-join.1",
        "termmeet-ssh.1",
        "termmeet-signaling.1",
        "termmeet-signaling-token.1",
    ] {
        let text =
            std::fs::read_to_string(dir.join(page)).unwrap_or_else(|e| panic!("{page}: {e}"));
        assert!(
            text.starts_with(".ie") || text.contains(".TH"),
            "{page} is not roff"
        );
        assert!(
            text.contains(".SH OPTIONS") || text.contains(".SH SUBCOMMANDS"),
            "{page}"
        );
    }
    assert!(listed.contains("termmeet-join.1"));
    let join = std::fs::read_to_string(dir.join("termmeet-join.1")).unwrap();
    assert!(join.contains("server"), "the join page lists its flags");
    let _ = std::fs::remove_dir_all(&dir);
}
