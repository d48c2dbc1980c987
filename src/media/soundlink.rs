//! Sound through a PulseAudio server on another machine: the laptop's, reached over an SSH
//! socket forward (`termmeet ssh`, README "Over SSH"). PulseAudio's protocol carries raw
//! samples, so the format decides what the link must carry: 48 kHz stereo float is 3 Mbit/s
//! each way, more than a home uplink, while 16 kHz mono 16-bit is 256 kbit/s. Over such a
//! link the microphone and speaker open in that thin format (wideband speech, what the
//! remote voices need) and PulseAudio converts at the laptop.

use std::path::PathBuf;

/// The sample rate of the thin format.
pub const THIN_RATE: u32 = 16_000;

/// Where the sound server is, for the formats opened on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SoundLink {
    /// On this machine: open devices in their own format.
    Local,
    /// On another machine over a network link (a forwarded PulseAudio socket in an SSH
    /// session): open them 16 kHz mono 16-bit.
    Thin,
}

/// The sound link of a process with this environment: thin when it runs in an SSH session
/// and `PULSE_SERVER` names its sound server (what `termmeet ssh` and the README's plain
/// commands set up), local otherwise.
pub fn sound_link(env: impl Fn(&str) -> Option<String>) -> SoundLink {
    let ssh = env("SSH_CONNECTION").is_some() || env("SSH_CLIENT").is_some();
    if ssh && env("PULSE_SERVER").is_some_and(|s| !s.trim().is_empty()) {
        SoundLink::Thin
    } else {
        SoundLink::Local
    }
}

/// This process's sound link.
pub fn this_sound_link() -> SoundLink {
    sound_link(|k| std::env::var(k).ok())
}

/// The UNIX socket `PULSE_SERVER` names, when it names one (`unix:PATH`, or a bare path).
pub fn pulse_server_socket(env: impl Fn(&str) -> Option<String>) -> Option<PathBuf> {
    let server = env("PULSE_SERVER")?;
    server.split_whitespace().find_map(|s| {
        s.strip_prefix("unix:")
            .or_else(|| s.starts_with('/').then_some(s))
            .map(PathBuf::from)
    })
}

/// Why the sound server `PULSE_SERVER` names cannot be reached, when it cannot: said in
/// place of the sound library's own complaint, which names no cause. `None` when it answers
/// or when `PULSE_SERVER` names no socket.
pub fn unreachable_sound_server(env: impl Fn(&str) -> Option<String>) -> Option<String> {
    let socket = pulse_server_socket(&env)?;
    let over_ssh = env("SSH_CONNECTION").is_some() || env("SSH_CLIENT").is_some();
    let why = match std::os::unix::net::UnixStream::connect(&socket) {
        Ok(_) => return None,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => "is not there".to_string(),
        Err(e) => format!("does not answer ({e})"),
    };
    Some(if over_ssh {
        format!(
            "the sound socket {} {why}: the SSH forward of the laptop's sound is missing or was refused (start it with `termmeet ssh`, see the README's \"Over SSH\")",
            socket.display()
        )
    } else {
        format!(
            "the sound server PULSE_SERVER names ({}) {why}",
            socket.display()
        )
    })
}

/// Tries to open a device over a thin link a few times. PulseAudio knows a client on its
/// socket by the user the kernel says sent its first message, but through an SSH forward
/// that message can arrive before the server has asked the kernel, and a client whose cookie
/// is not the laptop's is then refused ("Access denied"); the next connection gets through.
/// Never falls back to the device's own format, whose raw samples would fill the link.
pub fn open_with_retries<T, E: std::fmt::Display>(
    what: &str,
    mut open: impl FnMut() -> Result<T, E>,
) -> Result<T, E> {
    const ATTEMPTS: u32 = 4;
    let mut attempt = 1;
    loop {
        match open() {
            Ok(v) => return Ok(v),
            Err(e) if attempt < ATTEMPTS => {
                tracing::info!(
                    "{what} over the thin sound link, attempt {attempt}: {e}; trying again"
                );
                std::thread::sleep(std::time::Duration::from_millis(300));
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

/// The status bar's one line for a sound server that cannot be reached, in place of a line
/// each for the microphone and the speaker.
pub fn sound_notice(env: impl Fn(&str) -> Option<String>) -> Option<String> {
    unreachable_sound_server(&env)?;
    let over_ssh = env("SSH_CONNECTION").is_some() || env("SSH_CLIENT").is_some();
    Some(if over_ssh {
        "no sound: the laptop's sound did not come over SSH (the forward is missing or was refused; see the log)".into()
    } else {
        "no sound: the sound server PULSE_SERVER names does not answer".into()
    })
}

/// PulseAudio's client settings for a sound server on another machine: no shared memory.
/// Both ends see the same user on a local socket and agree to share memory, whose handle
/// cannot cross the SSH forward: the server then drops the connection ("protocol error").
pub const REMOTE_CLIENT_CONF: &str = "\
# Written by termmeet: the sound server is on another machine, reached over an SSH socket
# forward, which cannot carry PulseAudio's shared memory.
enable-shm = no
autospawn = no
";

/// Writes [`REMOTE_CLIENT_CONF`] as `pulse-client.conf` in `dir`, for `PULSE_CLIENTCONFIG`;
/// its path.
pub fn write_remote_client_conf(dir: &std::path::Path) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join("pulse-client.conf");
    std::fs::write(&path, REMOTE_CLIENT_CONF)?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::test_env as env;

    #[test]
    fn thin_only_in_an_ssh_session_with_a_named_sound_server() {
        let pulse = ("PULSE_SERVER", "unix:/tmp/termmeet-pulse-1".to_string());
        let ssh = ("SSH_CONNECTION", "10.0.0.1 5000 10.0.0.2 22".to_string());
        assert_eq!(
            sound_link(env(&[pulse.clone(), ssh.clone()])),
            SoundLink::Thin
        );
        assert_eq!(sound_link(env(&[pulse])), SoundLink::Local);
        assert_eq!(sound_link(env(&[ssh])), SoundLink::Local);
    }

    #[test]
    fn a_refused_open_is_tried_again_a_few_times() {
        let mut tries = 0;
        let opened = open_with_retries("speaker", || {
            tries += 1;
            if tries < 3 {
                Err("Access denied")
            } else {
                Ok(tries)
            }
        });
        assert_eq!(opened, Ok(3));
        let mut tries = 0;
        let refused: Result<(), &str> = open_with_retries("speaker", || {
            tries += 1;
            Err("Access denied")
        });
        assert_eq!((refused, tries), (Err("Access denied"), 4));
    }

    #[test]
    fn a_missing_forward_is_named_as_such() {
        let dir = std::env::temp_dir().join(format!("termmeet-soundlink-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let missing = dir.join("gone");
        let vars = [
            ("PULSE_SERVER", format!("unix:{}", missing.display())),
            ("SSH_CLIENT", "10.0.0.1 5000 22".to_string()),
        ];
        let said = unreachable_sound_server(env(&vars)).expect("a missing socket is a problem");
        assert!(said.contains("is not there"), "{said}");
        assert!(said.contains("SSH forward"), "{said}");
        let notice = sound_notice(env(&vars)).expect("a notice");
        assert!(notice.starts_with("no sound:"), "{notice}");
        // A socket that answers is no problem.
        let path = dir.join("here");
        let _listener = std::os::unix::net::UnixListener::bind(&path).expect("bind");
        let vars = [("PULSE_SERVER", format!("unix:{}", path.display()))];
        assert_eq!(unreachable_sound_server(env(&vars)), None);
        // A TCP server is not checked here.
        let vars = [("PULSE_SERVER", "tcp:box:4713".to_string())];
        assert_eq!(unreachable_sound_server(env(&vars)), None);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
