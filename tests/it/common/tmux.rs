//! A real terminal (tmux) running a program, read and typed into as a person would.

use std::process::Command;
use std::time::{Duration, Instant};

/// A tmux server of its own (160x48, one pane) running one command; killed when dropped.
pub struct Tmux {
    socket: String,
}

impl Tmux {
    pub fn start(name: &str, command: &str) -> Tmux {
        let socket = format!("termmeet-test-{name}-{}", std::process::id());
        let status = Command::new("tmux")
            .args([
                "-L",
                &socket,
                "new-session",
                "-d",
                "-x",
                "160",
                "-y",
                "48",
                "-s",
                "t",
                command,
            ])
            .status()
            .expect("tmux is installed by scripts/setup.sh");
        assert!(status.success(), "tmux did not start");
        Tmux { socket }
    }

    pub fn capture(&self, colours: bool) -> String {
        let mut args = vec!["-L", &self.socket, "capture-pane", "-p", "-t", "t"];
        if colours {
            args.push("-e");
        }
        let out = Command::new("tmux").args(&args).output().unwrap();
        String::from_utf8_lossy(&out.stdout).to_string()
    }

    pub fn keys(&self, keys: &[&str]) {
        let mut args = vec!["-L", self.socket.as_str(), "send-keys", "-t", "t"];
        args.extend_from_slice(keys);
        assert!(Command::new("tmux").args(&args).status().unwrap().success());
    }

    pub fn type_text(&self, text: &str) {
        assert!(Command::new("tmux")
            .args(["-L", &self.socket, "send-keys", "-t", "t", "-l", text])
            .status()
            .unwrap()
            .success());
    }

    /// The pane's title, as the program in it set it.
    pub fn pane_title(&self) -> String {
        let out = Command::new("tmux")
            .args([
                "-L",
                &self.socket,
                "display",
                "-p",
                "-t",
                "t",
                "#{pane_title}",
            ])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Waits until the screen shows all of `wanted`, or panics with what it shows.
    pub fn wait_for(&self, wanted: &[&str], colours: bool, within: Duration) -> String {
        let deadline = Instant::now() + within;
        loop {
            let screen = self.capture(colours);
            if wanted.iter().all(|w| screen.contains(w)) {
                return screen;
            }
            if Instant::now() > deadline {
                panic!(
                    "waited {within:?} for {wanted:?}; the screen shows:\n{}",
                    self.capture(false)
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// Waits until the screen no longer shows `text`, or panics with what it shows.
pub fn wait_until_gone(t: &Tmux, text: &str, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let screen = t.capture(false);
        if !screen.contains(text) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "waited {within:?} for {text:?} to go; the screen shows:\n{screen}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .status();
    }
}

/// A log file's path for the program under test, in the temporary directory.
pub fn log_file(name: &str) -> String {
    std::env::temp_dir()
        .join(format!("termmeet-{name}-{}.log", std::process::id()))
        .display()
        .to_string()
}
