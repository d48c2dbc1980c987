//! The shared terminal on the sharer's machine: a program in a pseudo-terminal whose output
//! a VT parser turns into a screen. Only that screen leaves this module; the program's bytes
//! never reach a real terminal, ours or anyone's.

use std::io::{Read, Write};
use std::sync::{Arc, Mutex, MutexGuard};

use portable_pty::{native_pty_system, Child, ChildKiller, CommandBuilder, MasterPty, PtySize};

use super::screen::{TermScreen, MAX_SIZE};

/// The size a shared terminal starts at unless asked otherwise, columns by rows.
pub const DEFAULT_SIZE: (u16, u16) = (100, 30);

/// What to run and at what size.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TerminalSpec {
    /// The command line, run through `sh -c`; empty runs the login shell (`$SHELL`).
    pub command: String,
    /// Columns and rows.
    pub size: (u16, u16),
}

impl TerminalSpec {
    /// The person's shell at the default size.
    pub fn shell() -> TerminalSpec {
        TerminalSpec {
            command: String::new(),
            size: DEFAULT_SIZE,
        }
    }

    /// What is shown as the share's name: the command, or the shell's.
    pub fn label(&self) -> String {
        if self.command.is_empty() {
            std::env::var("SHELL").unwrap_or_else(|_| "sh".into())
        } else {
            self.command.clone()
        }
    }
}

/// `COLSxROWS`, within 10x3 and [`MAX_SIZE`].
pub fn parse_size(s: &str) -> Result<(u16, u16), String> {
    let bad = || format!("{s:?} is not a terminal size: give COLSxROWS, like 100x30");
    let (c, r) = s.split_once(['x', 'X']).ok_or_else(bad)?;
    let cols: u16 = c.trim().parse().map_err(|_| bad())?;
    let rows: u16 = r.trim().parse().map_err(|_| bad())?;
    if !(10..=MAX_SIZE.0).contains(&cols) || !(3..=MAX_SIZE.1).contains(&rows) {
        return Err(format!(
            "{s:?}: a shared terminal is 10x3 to {}x{}",
            MAX_SIZE.0, MAX_SIZE.1
        ));
    }
    Ok((cols, rows))
}

/// Answers to what programs ask their terminal (cursor position, device attributes), and
/// the title they set.
#[derive(Default)]
struct Callbacks {
    title: String,
    replies: Vec<u8>,
}

impl vt100::Callbacks for Callbacks {
    fn set_window_title(&mut self, _: &mut vt100::Screen, title: &[u8]) {
        self.title = String::from_utf8_lossy(title).into_owned();
    }

    fn unhandled_csi(
        &mut self,
        screen: &mut vt100::Screen,
        i1: Option<u8>,
        _i2: Option<u8>,
        params: &[&[u16]],
        c: char,
    ) {
        let first = params.first().and_then(|p| p.first()).copied().unwrap_or(0);
        match (i1, c, first) {
            (None, 'n', 6) => {
                let (r, c) = screen.cursor_position();
                self.replies
                    .extend_from_slice(format!("\x1b[{};{}R", r + 1, c + 1).as_bytes());
            }
            (None, 'n', 5) => self.replies.extend_from_slice(b"\x1b[0n"),
            (None, 'c', 0) => self.replies.extend_from_slice(b"\x1b[?1;2c"),
            _ => {}
        }
    }
}

struct Shared {
    parser: vt100::Parser<Callbacks>,
    /// Moves whenever the screen may have changed.
    version: u64,
    /// Why the program stopped, once it has.
    exited: Option<String>,
}

/// A running shared terminal.
pub struct TerminalHost {
    shared: Arc<Mutex<Shared>>,
    writer: Arc<Mutex<Box<dyn Write + Send>>>,
    /// Behind a lock only so the host can be shared between threads (it is not `Sync`).
    master: Mutex<Box<dyn MasterPty + Send>>,
    killer: Box<dyn ChildKiller + Send + Sync>,
    spec: TerminalSpec,
}

/// The program of `spec` as the pseudo-terminal starts it: `sh -c COMMAND`, or the login
/// shell, in our directory, told it is an xterm with true colour and not inside tmux.
fn command_for(spec: &TerminalSpec) -> CommandBuilder {
    let mut cmd = if spec.command.is_empty() {
        CommandBuilder::new_default_prog()
    } else {
        let mut c = CommandBuilder::new("sh");
        c.args(["-c", &spec.command]);
        c
    };
    if let Ok(dir) = std::env::current_dir() {
        cmd.cwd(dir);
    }
    cmd.env("TERM", "xterm-256color");
    cmd.env("COLORTERM", "truecolor");
    cmd.env_remove("TMUX");
    cmd
}

/// The reader thread: the program's output into the parser, the parser's answers to its
/// questions back to the program, until the program closes the terminal; then the child is
/// reaped and why it ended is kept for the screen.
fn read_output(
    mut reader: Box<dyn Read + Send>,
    mut child: Box<dyn Child + Send + Sync>,
    shared: &Mutex<Shared>,
    replies_to: &Mutex<Box<dyn Write + Send>>,
) {
    let mut buf = [0u8; 16384];
    loop {
        match reader.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let replies = {
                    let mut s = lock(shared);
                    s.parser.process(&buf[..n]);
                    s.version += 1;
                    std::mem::take(&mut s.parser.callbacks_mut().replies)
                };
                if !replies.is_empty() {
                    write_to(replies_to, &replies);
                }
            }
        }
    }
    let why = match child.wait() {
        Ok(status) if status.success() => "the program ended".to_string(),
        Ok(status) => format!("the program ended ({status})"),
        Err(e) => format!("the program ended ({e})"),
    };
    let mut s = lock(shared);
    s.exited = Some(why);
    s.version += 1;
}

fn lock(m: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl TerminalHost {
    /// Starts `spec`'s program in a pseudo-terminal of its size.
    pub fn start(spec: &TerminalSpec) -> Result<TerminalHost, String> {
        let (cols, rows) = spec.size;
        let pair = native_pty_system()
            .openpty(PtySize {
                rows,
                cols,
                pixel_width: 0,
                pixel_height: 0,
            })
            .map_err(|e| format!("cannot open a pseudo-terminal: {e}"))?;
        let child = pair
            .slave
            .spawn_command(command_for(spec))
            .map_err(|e| format!("cannot start {:?}: {e}", spec.label()))?;
        drop(pair.slave);
        let killer = child.clone_killer();
        let reader = pair
            .master
            .try_clone_reader()
            .map_err(|e| format!("cannot read the pseudo-terminal: {e}"))?;
        let writer = pair
            .master
            .take_writer()
            .map_err(|e| format!("cannot write to the pseudo-terminal: {e}"))?;
        let shared = Arc::new(Mutex::new(Shared {
            parser: vt100::Parser::new_with_callbacks(rows, cols, 0, Callbacks::default()),
            version: 1,
            exited: None,
        }));
        let host = TerminalHost {
            shared: Arc::clone(&shared),
            writer: Arc::new(Mutex::new(writer)),
            master: Mutex::new(pair.master),
            killer,
            spec: spec.clone(),
        };
        // The reader ends when the program closes the terminal; the child is then reaped.
        let replies_to = Arc::clone(&host.writer);
        std::thread::Builder::new()
            .name("term-share".into())
            .spawn(move || read_output(reader, child, &shared, &replies_to))
            .map_err(|e| format!("cannot start the terminal reader: {e}"))?;
        Ok(host)
    }

    /// What runs, at what size.
    pub fn spec(&self) -> &TerminalSpec {
        &self.spec
    }

    /// A number that moves whenever the screen may have changed.
    pub fn version(&self) -> u64 {
        lock(&self.shared).version
    }

    /// The screen as it is now.
    pub fn screen(&self) -> TermScreen {
        let s = lock(&self.shared);
        TermScreen::from_vt(s.parser.screen(), &s.parser.callbacks().title)
    }

    /// Why the program stopped, once it has.
    pub fn exited(&self) -> Option<String> {
        lock(&self.shared).exited.clone()
    }

    /// Types `bytes` into the program.
    pub fn write(&self, bytes: &[u8]) {
        write_to(&self.writer, bytes);
    }

    /// Resizes the terminal (the program gets SIGWINCH).
    pub fn resize(&mut self, cols: u16, rows: u16) -> Result<(), String> {
        self.master
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .resize(PtySize {
                rows,
                cols,
                pixel_width: 0,
                pixel_height: 0,
            })
            .map_err(|e| format!("cannot resize the shared terminal: {e}"))?;
        let mut s = lock(&self.shared);
        s.parser.screen_mut().set_size(rows, cols);
        s.version += 1;
        self.spec.size = (cols, rows);
        Ok(())
    }
}

fn write_to(writer: &Mutex<Box<dyn Write + Send>>, bytes: &[u8]) {
    let mut w = writer.lock().unwrap_or_else(|e| e.into_inner());
    if let Err(e) = w.write_all(bytes).and_then(|()| w.flush()) {
        tracing::debug!("typing into the shared terminal failed: {e}");
    }
}

impl Drop for TerminalHost {
    fn drop(&mut self) {
        let _ = self.killer.kill();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn wait_for(host: &TerminalHost, text: &str) -> bool {
        let until = Instant::now() + Duration::from_secs(10);
        while Instant::now() < until {
            if host.screen().contains(text) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    #[test]
    fn a_program_runs_and_is_typed_into() {
        let host = TerminalHost::start(&TerminalSpec {
            command: "printf 'ready\\n'; read line; echo \"got $line\"; sleep 5".into(),
            size: (40, 6),
        })
        .expect("starts");
        assert!(wait_for(&host, "ready"), "{}", host.screen().text());
        host.write(b"hello\r");
        assert!(wait_for(&host, "got hello"), "{}", host.screen().text());
        assert_eq!((host.screen().cols, host.screen().rows), (40, 6));
    }

    #[test]
    fn the_cursor_position_question_is_answered() {
        let host = TerminalHost::start(&TerminalSpec {
            command: "stty raw -echo; printf 'ab\\033[6n'; dd bs=1 count=6 2>/dev/null | od -c | head -1; sleep 5".into(),
            size: (40, 6),
        })
        .expect("starts");
        assert!(
            wait_for(&host, "033   [   1   ;   3   R"),
            "{}",
            host.screen().text()
        );
    }

    #[test]
    fn resizing_follows() {
        let mut host = TerminalHost::start(&TerminalSpec {
            command: "sleep 1; stty size; sleep 5".into(),
            size: (40, 6),
        })
        .expect("starts");
        host.resize(60, 8).expect("resizes");
        assert!(wait_for(&host, "8 60"), "{}", host.screen().text());
        assert_eq!(host.screen().cols, 60);
    }

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("100x30"), Ok((100, 30)));
        assert!(parse_size("5x2").is_err());
        assert!(parse_size("wide").is_err());
    }
}
