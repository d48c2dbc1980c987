//! The key reader: a thread that sleeps until the terminal sends something and turns keys,
//! focus changes and resizes into [`Action`]s.
//!
//! It shares crossterm's one input reader with the terminal writer (see `ttylink`), whose
//! cursor-position requests read their answers through it. crossterm holds that reader's lock
//! for as long as a poll lasts, so this thread never waits inside crossterm: it waits on the
//! terminal's file descriptor itself and only then takes, without waiting, whatever crossterm
//! has. A position request may take keys into crossterm's queue while it looks for its
//! answer; the writer then rings a [`KeyBell`], and this thread takes them from the queue.
//! The driver rings it too on a resize, which crossterm learns through its own signal pipe.

use std::fs::File;
use std::io::{IsTerminal, Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use crossterm::event::{self, Event};
use tokio::sync::mpsc::UnboundedSender;

use crate::app::Action;

/// How long to step aside when the terminal has bytes that crossterm's reader is busy with
/// (a position request reading its answer), so the two do not take turns spinning.
const STEP_ASIDE: Duration = Duration::from_millis(1);

/// Wakes the key reader to look into crossterm's queue. The reader ends once every bell is
/// dropped.
#[derive(Debug)]
pub struct KeyBell {
    stream: UnixStream,
}

impl KeyBell {
    /// Wakes the reader. A bell that already rang and was not yet heard is enough, so a full
    /// socket is not waited on.
    pub fn ring(&self) {
        let _ = (&self.stream).write(&[1]);
    }

    /// Another bell for the same reader.
    pub fn try_clone(&self) -> std::io::Result<KeyBell> {
        Ok(KeyBell {
            stream: self.stream.try_clone()?,
        })
    }
}

/// Starts the key reader, sending what it reads to `actions`; it ends when `actions` closes,
/// when the terminal's input ends or when every [`KeyBell`] is gone.
pub fn start(actions: UnboundedSender<Action>) -> std::io::Result<KeyBell> {
    let (bell, heard) = UnixStream::pair()?;
    bell.set_nonblocking(true)?;
    heard.set_nonblocking(true)?;
    std::thread::Builder::new()
        .name("keys".into())
        .spawn(move || read_keys(&actions, heard))?;
    Ok(KeyBell { stream: bell })
}

/// What woke the reader.
struct Woken {
    /// The terminal has bytes to read.
    terminal: bool,
    /// A bell rang, or every bell is gone.
    bell: bool,
    /// The terminal hung up.
    closed: bool,
}

/// The reader thread's loop.
fn read_keys(actions: &UnboundedSender<Action>, mut heard: UnixStream) {
    // crossterm reads standard input when it is the terminal and `/dev/tty` otherwise: wait
    // on the same device.
    let stdin = std::io::stdin();
    let dev_tty = if stdin.is_terminal() {
        None
    } else {
        File::open("/dev/tty").ok()
    };
    let terminal = match &dev_tty {
        Some(tty) => tty.as_fd(),
        None => stdin.as_fd(),
    };
    loop {
        let Some(woken) = wait(terminal, heard.as_fd()) else {
            return;
        };
        if woken.closed {
            return;
        }
        if woken.bell && !empty_bell(&mut heard) {
            return;
        }
        let Some(forwarded) = forward_queued(actions) else {
            return;
        };
        if woken.terminal && forwarded == 0 {
            std::thread::sleep(STEP_ASIDE);
        }
    }
}

/// Sleeps until the terminal has input or a bell rings; `None` when the wait failed.
fn wait(terminal: BorrowedFd<'_>, bell: BorrowedFd<'_>) -> Option<Woken> {
    use rustix::event::{poll, PollFd, PollFlags};
    let mut fds = [
        PollFd::new(&terminal, PollFlags::IN),
        PollFd::new(&bell, PollFlags::IN),
    ];
    loop {
        match poll(&mut fds, None) {
            Ok(_) => break,
            Err(rustix::io::Errno::INTR) => continue,
            Err(_) => return None,
        }
    }
    let ready = |fd: &PollFd| !fd.revents().is_empty();
    let gone = PollFlags::HUP | PollFlags::ERR | PollFlags::NVAL;
    Some(Woken {
        terminal: ready(&fds[0]),
        bell: ready(&fds[1]),
        closed: fds[0].revents().intersects(gone),
    })
}

/// Reads what the bells sent; false when every bell is gone.
fn empty_bell(heard: &mut UnixStream) -> bool {
    let mut buf = [0u8; 64];
    loop {
        match heard.read(&mut buf) {
            Ok(0) => return false,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return true,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => return false,
        }
    }
}

/// Sends on everything crossterm has ready now, without waiting for its reader when the
/// writer holds it: how many events were read, or `None` when the reader should end.
fn forward_queued(actions: &UnboundedSender<Action>) -> Option<usize> {
    let mut read = 0;
    loop {
        match event::poll(Duration::ZERO) {
            Ok(true) => {}
            Ok(false) => return Some(read),
            Err(_) => return None,
        }
        let event = event::read().ok()?;
        read += 1;
        if let Some(action) = action_of(event) {
            actions.send(action).ok()?;
        }
    }
}

/// The action a terminal event stands for, if any.
fn action_of(event: Event) -> Option<Action> {
    Some(match event {
        Event::Key(k) if k.code == event::KeyCode::Char(' ') && k.modifiers.is_empty() => {
            Action::Space {
                down: k.kind != event::KeyEventKind::Release,
                at: Instant::now(),
            }
        }
        Event::Key(k) => Action::Key(k),
        Event::FocusGained => Action::Focus(true),
        Event::FocusLost => Action::Focus(false),
        Event::Resize(w, h) => Action::Resize(w, h),
        _ => return None,
    })
}
