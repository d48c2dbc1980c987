//! Locking that carries on after a panic elsewhere: the data behind these locks is plain
//! counters, pictures and queues, which a panicking writer cannot leave half-made in a way
//! that matters more than stopping the meeting would.

use std::sync::{Mutex, MutexGuard};

/// Locks `m`, taking the data even if another thread panicked while holding it.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
