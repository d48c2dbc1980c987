//! `termmeet ssh [SSH ARGS...] HOST -- join ROOM [ARGS]`: runs termmeet on another machine
//! over SSH with this machine's sound. `ssh` forwards a UNIX socket on the remote machine to
//! this machine's PulseAudio (or PipeWire-Pulse) socket, and the remote termmeet is started
//! with `PULSE_SERVER` pointing at it, so its microphone and speaker are the ones here. sshd
//! makes the remote socket readable by the user only (its `StreamLocalBindMask`); it has a
//! fresh name each time, so none is left over to refuse the forward, and it is removed when
//! termmeet ends. `COLORTERM`, which SSH does not pass, is passed along.

use std::path::{Path, PathBuf};

/// This machine's PulseAudio socket: the one `PULSE_SERVER` names (`unix:PATH`), else
/// `$XDG_RUNTIME_DIR/pulse/native`, else `/run/user/UID/pulse/native`; `None` when there is
/// none (then the remote meeting goes on without sound, and says so).
pub fn local_pulse_socket(env: impl Fn(&str) -> Option<String>, uid: u32) -> Option<PathBuf> {
    if let Some(server) = env("PULSE_SERVER") {
        return server
            .split_whitespace()
            .find_map(|s| s.strip_prefix("unix:"))
            .map(PathBuf::from);
    }
    let runtime = env("XDG_RUNTIME_DIR").unwrap_or_else(|| format!("/run/user/{uid}"));
    Some(Path::new(&runtime).join("pulse").join("native"))
}

/// `text` as one word for a POSIX shell.
pub fn shell_quote(text: &str) -> String {
    if !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@,+".contains(c))
    {
        return text.to_string();
    }
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// `path` as one word for the remote shell, with a leading `~/` meaning the home there.
pub fn remote_program(path: &str) -> String {
    match path.strip_prefix("~/") {
        Some(rest) => format!("\"$HOME\"/{}", shell_quote(rest)),
        None => shell_quote(path),
    }
}

/// The `ssh` command line: `-t` for the terminal, the socket forward when there is a local
/// socket, the person's own ssh arguments (HOST among them), then the remote command, which
/// runs `program` (see [`remote_program`]).
pub fn ssh_command(
    program: &str,
    ssh_args: &[String],
    termmeet_args: &[String],
    local_socket: Option<&Path>,
    remote_socket: &str,
    colorterm: Option<&str>,
) -> Vec<String> {
    let mut out = vec!["-t".to_string()];
    let mut remote = String::new();
    if let Some(local) = local_socket {
        out.push("-R".into());
        out.push(format!("{remote_socket}:{}", local.display()));
        remote += &format!("PULSE_SERVER=unix:{} ", shell_quote(remote_socket));
    }
    if let Some(colorterm) = colorterm {
        remote += &format!("COLORTERM={} ", shell_quote(colorterm));
    }
    remote += &remote_program(program);
    for arg in termmeet_args {
        remote.push(' ');
        remote += &shell_quote(arg);
    }
    if local_socket.is_some() {
        remote = format!(
            "{remote}; status=$?; rm -f {}; exit $status",
            shell_quote(remote_socket)
        );
    }
    out.extend(ssh_args.iter().cloned());
    out.push(remote);
    out
}

/// Runs `ssh` as [`ssh_command`] says; returns its exit code.
pub fn run(program: &str, ssh_args: &[String], termmeet_args: &[String]) -> anyhow::Result<i32> {
    if ssh_args.is_empty() || termmeet_args.is_empty() {
        anyhow::bail!(
            "write it as: termmeet ssh [SSH ARGS...] HOST -- join ROOM [ARGS] (the part after -- is run on HOST)"
        );
    }
    let uid = rustix::process::getuid().as_raw();
    let local = local_pulse_socket(|k| std::env::var(k).ok(), uid).filter(|p| p.exists());
    if local.is_none() {
        eprintln!("termmeet ssh: no PulseAudio or PipeWire-Pulse socket here; the meeting on the other machine will have no sound");
    }
    let remote_socket = format!("/tmp/termmeet-pulse-{:016x}", rand::random::<u64>());
    let colorterm = std::env::var("COLORTERM").ok();
    let args = ssh_command(
        program,
        ssh_args,
        termmeet_args,
        local.as_deref(),
        &remote_socket,
        colorterm.as_deref(),
    );
    let status = std::process::Command::new("ssh")
        .args(&args)
        .status()
        .map_err(|e| anyhow::anyhow!("cannot run ssh: {e}; is the OpenSSH client installed?"))?;
    Ok(status.code().unwrap_or(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_env as env;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_command_forwards_the_sound_and_quotes_the_remote_words() {
        let args = ssh_command(
            "termmeet",
            &strings(&["-p", "2222", "me@box"]),
            &strings(&["join", "stand up", "--name", "O'Brien"]),
            Some(Path::new("/run/user/1000/pulse/native")),
            "/tmp/termmeet-pulse-1",
            Some("truecolor"),
        );
        assert_eq!(
            args,
            strings(&[
                "-t",
                "-R",
                "/tmp/termmeet-pulse-1:/run/user/1000/pulse/native",
                "-p",
                "2222",
                "me@box",
                "PULSE_SERVER=unix:/tmp/termmeet-pulse-1 COLORTERM=truecolor termmeet join 'stand up' --name 'O'\\''Brien'; status=$?; rm -f /tmp/termmeet-pulse-1; exit $status",
            ])
        );
        // No sound here: no forward, and nothing to remove.
        let bare = ssh_command(
            "termmeet",
            &strings(&["box"]),
            &strings(&["join", "r"]),
            None,
            "/tmp/x",
            None,
        );
        assert_eq!(bare, strings(&["-t", "box", "termmeet join r"]));
        // A program that is not on the remote PATH, under the remote home.
        let home = ssh_command(
            "~/my bin/termmeet",
            &strings(&["box"]),
            &strings(&["join", "r"]),
            None,
            "/tmp/x",
            None,
        );
        assert_eq!(home[2], "\"$HOME\"/'my bin/termmeet' join r");
    }

    #[test]
    fn the_local_socket_is_found_as_pulseaudio_finds_it() {
        assert_eq!(
            local_pulse_socket(env(&[("PULSE_SERVER", "unix:/s/native")]), 7),
            Some(PathBuf::from("/s/native"))
        );
        assert_eq!(
            local_pulse_socket(env(&[("PULSE_SERVER", "tcp:host:4713")]), 7),
            None
        );
        assert_eq!(
            local_pulse_socket(env(&[("XDG_RUNTIME_DIR", "/run/user/9")]), 7),
            Some(PathBuf::from("/run/user/9/pulse/native"))
        );
        assert_eq!(
            local_pulse_socket(env::<&str>(&[]), 7),
            Some(PathBuf::from("/run/user/7/pulse/native"))
        );
    }
}
