//! Where logs and other people's complaints go: a file while the UI draws on the terminal,
//! standard error for the headless runner.

use std::path::{Path, PathBuf};

use anyhow::Context;

/// Logs go to a file, never to the terminal the UI draws on. Without `path`, the file is
/// termmeet.log in the platform's state directory; returns the file used.
pub fn log_to_file(path: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    let path = match path {
        Some(p) => p,
        None => default_log_path()?,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .with_context(|| format!("cannot open the log file {}", path.display()))?;
    tracing_subscriber::fmt()
        .with_env_filter(
            // The `pulseaudio` crate logs every client it closes (each device listing) as
            // a reactor error; a server that really goes away shows up as a stream error.
            tracing_subscriber::EnvFilter::try_from_env("TERMMEET_LOG")
                .unwrap_or_else(|_| "info,pulseaudio::client::reactor=off".into()),
        )
        .with_ansi(false)
        .with_writer(std::sync::Mutex::new(file))
        .init();
    Ok(path)
}

/// Logs to standard error with the `filter` given (`warn` when it cannot be read): the
/// headless runner has no screen to spoil.
pub fn log_to_stderr(filter: &str) {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(filter).unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
}

/// termmeet.log in the platform's state directory (its cache directory where there is no
/// state directory).
fn default_log_path() -> anyhow::Result<PathBuf> {
    let dirs = directories::ProjectDirs::from("", "", "termmeet")
        .ok_or_else(|| anyhow::anyhow!("no home directory for the log file; give --log-file"))?;
    Ok(dirs
        .state_dir()
        .unwrap_or(dirs.cache_dir())
        .join("termmeet.log"))
}

/// While it lives, what libraries write to standard error (libasound's complaints on a host
/// with no sound card, say) goes to a file instead of over the meeting; dropped, standard
/// error is as it was, so the errors we print at the end reach the person.
pub struct QuietStderr {
    /// The standard error we replaced, put back on drop; `None` when nothing was replaced.
    saved: Option<std::os::fd::OwnedFd>,
}

impl QuietStderr {
    /// Sends standard error to `path` (appended to) until the guard drops. When the file
    /// cannot be opened or the descriptors not copied, standard error stays as it is: a
    /// noisy terminal is better than no meeting.
    pub fn to(path: &Path) -> QuietStderr {
        let Ok(file) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        else {
            return QuietStderr { saved: None };
        };
        let Ok(saved) = rustix::io::dup(std::io::stderr()) else {
            return QuietStderr { saved: None };
        };
        if rustix::stdio::dup2_stderr(&file).is_err() {
            return QuietStderr { saved: None };
        }
        QuietStderr { saved: Some(saved) }
    }
}

impl Drop for QuietStderr {
    fn drop(&mut self) {
        if let Some(saved) = &self.saved {
            // Nothing is left to tell if this fails: standard error is where we would say it.
            let _ = rustix::stdio::dup2_stderr(saved);
        }
    }
}
