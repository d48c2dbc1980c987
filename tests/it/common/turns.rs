//! What the tests of this one binary must not do at once, now that they share a process: the
//! sound server's defaults, the machine's cores under scenarios whose figures are the point,
//! and the environment, which a test that changes it may only change in a process of its own.

use std::process::Command;
use std::sync::{Condvar, Mutex, MutexGuard};

/// PulseAudio is one server for the whole run: tests that change its default sink or source,
/// or that play through a sound server and measure what comes back, take turns.
static SOUND: Mutex<()> = Mutex::new(());

/// Waits for this test's turn at the sound server; the turn ends when the guard drops.
pub fn sound_turn() -> MutexGuard<'static, ()> {
    SOUND.lock().unwrap_or_else(|p| p.into_inner())
}

/// A sound test whose figures are the point (echo, spurious tones): the sound server and
/// the machine's cores both, so no network scenario's codecs run beside it. The slots are
/// taken first, in the order every test that takes both takes them.
pub fn quiet_sound_turn() -> (Slot, MutexGuard<'static, ()>) {
    let slot = Slot::take_weighted(2);
    (slot, sound_turn())
}

/// How many slots the running scenarios hold: each runs encoders and decoders at 640x480 in
/// its own processes, and a third would make the machine, not the network, the bottleneck.
static RUNNING: Mutex<usize> = Mutex::new(0);
static FREED: Condvar = Condvar::new();

/// A share of the machine for a network scenario, given back when dropped. At most two slots
/// are held at once.
pub struct Slot(usize);

impl Slot {
    /// One slot: one other scenario may run alongside.
    pub fn take() -> Slot {
        Slot::take_weighted(1)
    }

    /// A scenario whose figures are the point takes both slots: it runs alone.
    pub fn take_weighted(weight: usize) -> Slot {
        let mut running = RUNNING.lock().unwrap_or_else(|e| e.into_inner());
        while *running + weight > 2 {
            running = FREED.wait(running).unwrap_or_else(|e| e.into_inner());
        }
        *running += weight;
        Slot(weight)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        *RUNNING.lock().unwrap_or_else(|e| e.into_inner()) -= self.0;
        FREED.notify_all();
    }
}

/// Set in the environment of a test binary started by `run_alone`.
const ALONE: &str = "TERMMEET_TEST_ALONE";

/// Whether this process runs one test alone (started by `run_alone`), so that it may change
/// the process's environment without changing its neighbours'.
pub fn alone() -> bool {
    std::env::var_os(ALONE).is_some()
}

/// Runs the test `name` of the module `module` (its `module_path!()`) again in a child process
/// of this test binary, alone, and panics if it failed there. Its output is printed here, so
/// the harness shows it with this test's result.
pub fn run_alone(module: &str, name: &str) {
    let path = module.split_once("::").map_or(module, |(_, rest)| rest);
    let test = format!("{path}::{name}");
    let exe = std::env::current_exe().expect("the path of this test binary");
    let out = Command::new(exe)
        .args([&test, "--exact", "--nocapture", "--test-threads=1"])
        .env(ALONE, "1")
        .output()
        .expect("this test binary runs again");
    let stdout = String::from_utf8_lossy(&out.stdout);
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
    print!("{stdout}");
    assert!(
        stdout.contains("1 passed"),
        "{test} did not pass in a process of its own ({})",
        out.status
    );
}
