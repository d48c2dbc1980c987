//! A laptop and a server for meetings over a real SSH session, for the SSH test and the
//! SSH link benchmark. Two hosts (network namespaces) joined by a link capped each way:
//! - **laptop:** a [`Desk`]: its own PulseAudio, whose microphone is a 523 Hz sine source
//!   (`mic`) and whose speaker is a null sink (`speaker`); tmux sessions where the person
//!   runs `termmeet ssh`.
//! - **server:** `sshd` (a throwaway host key and an authorized key made here) and the
//!   signaling server.
//!
//! Dropping it kills tmux, sshd and PulseAudio, deletes the namespaces, and removes any sound
//! socket a failed run left in `/tmp`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub use super::desk::Pane;
use super::desk::{write, Desk};
use super::netlab::{sh, tail, End, Lab};

/// The sound sockets `termmeet ssh` makes on the server (`/tmp/termmeet-pulse-*`).
pub fn forwarded_sockets() -> Vec<PathBuf> {
    std::fs::read_dir("/tmp")
        .map(|d| {
            d.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    p.file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with("termmeet-pulse-"))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Waits until sshd in `host` accepts connections on `addr` port 22: a session started before
/// would end at once with "connection refused".
fn wait_for_sshd(lab: &Lab, host: &str, addr: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let probe = Command::new("ip")
            .args(["netns", "exec", host, "bash", "-c"])
            .arg(format!("exec 3<>/dev/tcp/{addr}/22"))
            .stderr(Stdio::null())
            .status();
        if probe.is_ok_and(|s| s.success()) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "sshd did not accept connections within 30 s: {}",
            tail(&lab.log("sshd"))
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The two hosts, their link, the laptop's sound and the server's sshd.
pub struct SshLab {
    pub lab: Lab,
    pub laptop: String,
    pub server: String,
    pub laptop_end: End,
    pub server_end: End,
    /// The laptop's sound and terminals.
    pub desk: Desk,
    /// The signaling server, in the server's namespace.
    pub url: String,
    key: String,
    user: String,
    /// The sound sockets there were before; any other is removed at the end.
    sockets_before: Vec<PathBuf>,
}

impl SshLab {
    /// Starts both hosts with the link capped at `kbit` kbit/s each way; `None` (and a line
    /// saying why) where namespaces cannot be made.
    pub fn start(name: &str, kbit: u32) -> Option<SshLab> {
        if !Lab::available() {
            eprintln!("skipped: network namespaces need root, ip, nft and tc");
            return None;
        }
        assert!(
            Path::new("/usr/sbin/sshd").exists(),
            "sshd is missing: scripts/setup.sh test installs openssh-server"
        );
        let sockets_before = forwarded_sockets();
        let mut lab = Lab::new(name);
        let (laptop, server) = (lab.host("laptop"), lab.host("server"));
        let (laptop_end, server_end) = lab.link(&laptop, &server, "10.78.0");
        lab.cap(&laptop_end, Some(kbit));
        lab.cap(&server_end, Some(kbit));
        let dir = lab.dir.clone();
        let at = |name: &str| dir.join(name).to_string_lossy().into_owned();

        // The laptop's sound: its own PulseAudio, a 523 Hz microphone and a silent speaker.
        let desk = Desk::start(&mut lab, &laptop, "laptop", 523);

        // The server: sshd with keys made here, and the signaling server.
        let key = at("laptop_key");
        sh(&["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", &key]);
        let host_key = at("host_key");
        sh(&[
            "ssh-keygen",
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-f",
            &host_key,
        ]);
        std::fs::copy(format!("{key}.pub"), dir.join("authorized_keys"))
            .expect("the authorized key");
        write(
            &dir.join("sshd_config"),
            &format!(
                "ListenAddress {addr}\n\
                 HostKey {host_key}\n\
                 PidFile none\n\
                 AuthorizedKeysFile {keys}\n\
                 PermitRootLogin prohibit-password\n\
                 PasswordAuthentication no\n\
                 KbdInteractiveAuthentication no\n\
                 UsePAM no\n\
                 StrictModes no\n\
                 AllowStreamLocalForwarding yes\n\
                 PrintMotd no\n\
                 PrintLastLog no\n",
                addr = server_end.addr,
                keys = at("authorized_keys"),
            ),
        );
        // sshd's privilege-separation directory, which its service would make.
        std::fs::create_dir_all("/run/sshd").expect("sshd's privilege-separation directory");
        lab.spawn(
            &server,
            "sshd",
            &["/usr/sbin/sshd", "-D", "-e", "-f", &at("sshd_config")],
        );
        wait_for_sshd(&lab, &server, &server_end.addr);
        let url = lab.server(&server, &server_end.addr, &[]);
        let user = String::from_utf8_lossy(&sh(&["id", "-un"]).stdout)
            .trim()
            .to_string();
        Some(SshLab {
            lab,
            laptop,
            server,
            laptop_end,
            server_end,
            desk,
            url,
            key,
            user,
            sockets_before,
        })
    }

    /// Runs `pactl` against the laptop's sound server; whether it succeeded.
    pub fn pactl(&self, args: &[&str]) -> bool {
        self.desk.pactl(args)
    }

    /// A scratch path in the lab's directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.lab.path(name)
    }

    /// Starts a tmux session of `cols`x`rows` on the laptop, as a person would, running
    /// `termmeet ssh` to the server with `remote` (the words after `--`) and `COLORTERM`
    /// set to `colorterm`. When termmeet ends the pane shows `termmeet-ended CODE`.
    pub fn session(&mut self, cols: u16, rows: u16, colorterm: &str, remote: &str) -> Pane {
        let termmeet = env!("CARGO_BIN_EXE_termmeet");
        let command = format!(
            "{termmeet} ssh --remote-termmeet {termmeet} -i {key} \
             -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR \
             {user}@{addr} -- {remote}",
            key = self.key,
            user = self.user,
            addr = self.server_end.addr,
        );
        self.desk.pane(&self.lab, cols, rows, colorterm, &command)
    }

    /// Records `seconds` of the laptop speaker's monitor (48 kHz mono).
    pub fn record_speaker(&self, seconds: f64) -> Vec<i16> {
        self.desk.record_speaker(seconds)
    }

    /// Bytes the server has sent over the link to the laptop so far.
    pub fn server_sent(&self) -> u64 {
        let out = self.lab.exec(
            &self.server,
            &[
                "cat",
                &format!("/sys/class/net/{}/statistics/tx_bytes", self.server_end.dev),
            ],
        );
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .unwrap_or(0)
    }

    /// Sound sockets this lab's sessions left on the server.
    pub fn sockets_left(&self) -> Vec<PathBuf> {
        forwarded_sockets()
            .into_iter()
            .filter(|p| !self.sockets_before.contains(p))
            .collect()
    }
}

impl Drop for SshLab {
    fn drop(&mut self) {
        for p in self.sockets_left() {
            let _ = std::fs::remove_file(p);
        }
    }
}
