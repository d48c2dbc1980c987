//! A laptop and a server for meetings over a real SSH session, for the SSH test and the
//! SSH link benchmark. Two hosts (network namespaces) joined by a link capped each way:
//! - **laptop:** its own PulseAudio, whose microphone is a 523 Hz sine source (`mic`) and
//!   whose speaker is a null sink (`speaker`); tmux sessions where the person runs
//!   `termmeet ssh`.
//! - **server:** `sshd` (a throwaway host key and an authorized key made here) and the
//!   signaling server.
//!
//! Dropping it kills tmux, sshd and PulseAudio, deletes the namespaces, and removes any sound
//! socket a failed run left in `/tmp`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

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

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
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
    /// `PULSE_SERVER` for the laptop's sound server.
    pub pulse: String,
    /// The signaling server, in the server's namespace.
    pub url: String,
    runtime: PathBuf,
    key: String,
    user: String,
    /// The sound sockets there were before; any other is removed at the end.
    sockets_before: Vec<PathBuf>,
    panes: u32,
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
        let runtime = dir.join("laptop-runtime");
        std::fs::create_dir_all(runtime.join("home")).expect("the laptop's runtime directory");
        let pulse = format!("unix:{}/pulse/native", runtime.display());
        write(
            &dir.join("laptop-pulse.sh"),
            &format!(
                "export XDG_RUNTIME_DIR={r} HOME={r}/home\n\
                 chmod 700 {r}\n\
                 exec pulseaudio -n --daemonize=no --exit-idle-time=-1 --disallow-exit \
                 --use-pid-file=no --system=false -L module-native-protocol-unix \
                 -L 'module-null-sink sink_name=speaker rate=48000' \
                 -L 'module-sine-source source_name=mic frequency=523 rate=48000'\n",
                r = runtime.display()
            ),
        );
        lab.spawn(&laptop, "laptop-pulse", &["bash", &at("laptop-pulse.sh")]);

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
        let lab = SshLab {
            lab,
            laptop,
            server,
            laptop_end,
            server_end,
            pulse,
            url,
            runtime,
            key,
            user,
            sockets_before,
            panes: 0,
        };
        let started = Instant::now();
        while !lab.pactl(&["info"]) {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "the laptop's PulseAudio did not start: {}",
                tail(&lab.lab.log("laptop-pulse"))
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        assert!(lab.pactl(&["set-default-sink", "speaker"]));
        assert!(lab.pactl(&["set-default-source", "mic"]));
        Some(lab)
    }

    /// Runs `pactl` against the laptop's sound server; whether it succeeded.
    pub fn pactl(&self, args: &[&str]) -> bool {
        Command::new("ip")
            .args(["netns", "exec", &self.laptop, "pactl"])
            .args(args)
            .env("PULSE_SERVER", &self.pulse)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// A scratch path in the lab's directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.lab.path(name)
    }

    /// Starts a tmux session of `cols`x`rows` on the laptop, as a person would, running
    /// `termmeet ssh` to the server with `remote` (the words after `--`) and `COLORTERM`
    /// set to `colorterm`. When termmeet ends the pane shows `termmeet-ended CODE`.
    pub fn session(&mut self, cols: u16, rows: u16, colorterm: &str, remote: &str) -> Pane {
        self.panes += 1;
        let script = self.path(&format!("laptop-session-{}.sh", self.panes));
        let termmeet = env!("CARGO_BIN_EXE_termmeet");
        write(
            &script,
            &format!(
                "export XDG_RUNTIME_DIR={runtime} PULSE_SERVER={pulse} COLORTERM={colorterm}\n\
                 {termmeet} ssh --remote-termmeet {termmeet} -i {key} \
                 -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR \
                 {user}@{addr} -- {remote}\n\
                 echo \"termmeet-ended $?\"\n\
                 sleep 600\n",
                runtime = self.runtime.display(),
                pulse = self.pulse,
                key = self.key,
                user = self.user,
                addr = self.server_end.addr,
            ),
        );
        let pane = Pane {
            socket: format!("termmeet-ssh-{}-{}", std::process::id(), self.panes),
        };
        self.lab.exec(
            &self.laptop,
            &[
                "tmux",
                "-L",
                &pane.socket,
                "new-session",
                "-d",
                "-x",
                &cols.to_string(),
                "-y",
                &rows.to_string(),
                "-s",
                "t",
                &format!("bash {}", script.display()),
            ],
        );
        pane
    }

    /// Records `seconds` of the laptop speaker's monitor (48 kHz mono).
    pub fn record_speaker(&self, seconds: f64) -> Vec<i16> {
        let mut parec = Command::new("ip");
        parec
            .args(["netns", "exec", &self.laptop, "parec"])
            .env("PULSE_SERVER", &self.pulse);
        super::netlab::parec(parec, "speaker.monitor", seconds)
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

/// A tmux server in the laptop's namespace; killed when dropped.
pub struct Pane {
    socket: String,
}

impl Pane {
    fn tmux(&self) -> Command {
        let mut c = Command::new("tmux");
        c.args(["-L", &self.socket]);
        c
    }

    /// The pane's text; with `history`, the scrollback too.
    pub fn text(&self, history: bool) -> String {
        let mut c = self.tmux();
        c.args(["capture-pane", "-p", "-t", "t"]);
        if history {
            c.args(["-S", "-"]);
        }
        c.output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    }

    /// Types `keys` into the pane.
    pub fn keys(&self, keys: &str) {
        let status = self
            .tmux()
            .args(["send-keys", "-t", "t", "-l", keys])
            .status()
            .expect("tmux send-keys");
        assert!(status.success(), "tmux send-keys {keys:?}");
    }

    /// Waits up to `limit` for `test` to hold of the pane's text; how long it took.
    pub fn until(&self, limit: Duration, test: impl Fn(&str) -> bool) -> Option<Duration> {
        let start = Instant::now();
        while start.elapsed() < limit {
            if test(&self.text(false)) {
                return Some(start.elapsed());
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        None
    }

    /// Whether the pane shows video: half blocks over most of a row.
    pub fn shows_video(text: &str) -> bool {
        text.lines().any(|l| l.matches(['▀', '▄']).count() >= 30)
    }

    /// From `?` to the help overlay on screen, then closes it again; `None` when it did not
    /// show within 10 s.
    pub fn key_to_help(&self) -> Option<Duration> {
        self.keys("?");
        let shown = self.until(Duration::from_secs(10), |t| t.contains("leave at once"));
        self.keys("?");
        self.until(Duration::from_secs(10), |t| !t.contains("leave at once"))?;
        shown
    }

    /// `q`, `y`: leaves the meeting; termmeet's exit code, `None` when it did not end
    /// within 30 s.
    pub fn leave(&self) -> Option<i32> {
        self.keys("q");
        self.until(Duration::from_secs(10), |t| {
            t.contains("Leave the meeting?")
        })?;
        self.keys("y");
        self.until(Duration::from_secs(30), |t| t.contains("termmeet-ended"))?;
        let text = self.text(false);
        let line = text.lines().find(|l| l.contains("termmeet-ended"))?;
        line.split_whitespace().nth(1)?.parse().ok()
    }
}

impl Drop for Pane {
    fn drop(&mut self) {
        let _ = self
            .tmux()
            .arg("kill-server")
            .stderr(Stdio::null())
            .status();
    }
}
