//! The one way this crate takes a `Mutex`. At the bottom of the module graph: every layer
//! locks, so this depends on nothing of the crate.

use std::sync::{Mutex, MutexGuard};

/// Recover from a poisoned lock: our critical sections leave the data consistent.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
