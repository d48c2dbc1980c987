//! A person's desk on a lab host: a PulseAudio of its own, whose microphone is a sine source
//! (`mic`) and whose speaker is a null sink (`speaker`), and tmux panes where the person runs
//! termmeet with that sound. The SSH lab's laptop is one; the three-kinds-of-client test on
//! the SFU seats a terminal user at another.
//!
//! PulseAudio is one of the lab's processes, so it ends with the lab; each pane's tmux server
//! is killed when its [`Pane`] is dropped.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::netlab::{tail, Lab};

pub fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
}

/// The sound server of one host, and how to run things beside it.
pub struct Desk {
    /// The lab host it is on.
    pub host: String,
    /// `PULSE_SERVER` for it.
    pub pulse: String,
    /// `XDG_RUNTIME_DIR` (and `HOME` below it) of the person at the desk.
    pub runtime: PathBuf,
    label: String,
    panes: u32,
}

impl Desk {
    /// Starts the sound server on `host`, its microphone a sine at `mic_hz`, as the lab
    /// process `label`; waits until it answers. Its socket is in the lab's own directory and
    /// takes any client: a client's cookie is its user's (`~/.config/pulse/cookie`), not
    /// the one this server made, and termmeet's PulseAudio client was sometimes refused
    /// with it ("AccessDenied": no speaker for the meeting).
    pub fn start(lab: &mut Lab, host: &str, label: &str, mic_hz: u32) -> Desk {
        let runtime = lab.dir.join(format!("{label}-runtime"));
        std::fs::create_dir_all(runtime.join("home")).expect("the desk's runtime directory");
        let pulse = format!("unix:{}/pulse/native", runtime.display());
        let script = lab.dir.join(format!("{label}-pulse.sh"));
        write(
            &script,
            &format!(
                "export XDG_RUNTIME_DIR={r} HOME={r}/home\n\
                 chmod 700 {r}\n\
                 exec pulseaudio -n --daemonize=no --exit-idle-time=-1 --disallow-exit \
                 --use-pid-file=no --system=false -L 'module-native-protocol-unix auth-anonymous=1' \
                 -L 'module-null-sink sink_name=speaker rate=48000' \
                 -L 'module-sine-source source_name=mic frequency={mic_hz} rate=48000'\n",
                r = runtime.display()
            ),
        );
        let pulse_label = format!("{label}-pulse");
        lab.spawn(host, &pulse_label, &["bash", &script.to_string_lossy()]);
        let desk = Desk {
            host: host.to_string(),
            pulse,
            runtime,
            label: label.to_string(),
            panes: 0,
        };
        let started = Instant::now();
        while !desk.pactl(&["info"]) {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "the desk's PulseAudio did not start: {}",
                tail(&lab.log(&pulse_label))
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        assert!(desk.pactl(&["set-default-sink", "speaker"]));
        assert!(desk.pactl(&["set-default-source", "mic"]));
        desk
    }

    /// Runs `pactl` against the desk's sound server; whether it succeeded.
    pub fn pactl(&self, args: &[&str]) -> bool {
        Command::new("ip")
            .args(["netns", "exec", &self.host, "pactl"])
            .args(args)
            .env("PULSE_SERVER", &self.pulse)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// Records `seconds` of the speaker's monitor (48 kHz mono).
    pub fn record_speaker(&self, seconds: f64) -> Vec<i16> {
        let mut parec = Command::new("ip");
        parec
            .args(["netns", "exec", &self.host, "parec"])
            .env("PULSE_SERVER", &self.pulse);
        super::netlab::parec(parec, "speaker.monitor", seconds)
    }

    /// Starts a tmux session of `cols`x`rows` on the desk's host running `command` (shell
    /// text) with the desk's sound and `COLORTERM` set to `colorterm`. When the command ends
    /// the pane shows `termmeet-ended CODE`.
    pub fn pane(
        &mut self,
        lab: &Lab,
        cols: u16,
        rows: u16,
        colorterm: &str,
        command: &str,
    ) -> Pane {
        self.panes += 1;
        let script = lab
            .dir
            .join(format!("{}-session-{}.sh", self.label, self.panes));
        write(
            &script,
            &format!(
                "export XDG_RUNTIME_DIR={runtime} PULSE_SERVER={pulse} COLORTERM={colorterm}\n\
                 {command}\n\
                 echo \"termmeet-ended $?\"\n\
                 sleep 600\n",
                runtime = self.runtime.display(),
                pulse = self.pulse,
            ),
        );
        let pane = Pane {
            socket: format!(
                "termmeet-{}-{}-{}",
                self.label,
                std::process::id(),
                self.panes
            ),
        };
        lab.exec(
            &self.host,
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
}

/// A tmux server on a desk's host; killed when dropped.
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
