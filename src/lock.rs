//! The one way the binding takes a `Mutex`.

/// Every `Mutex` of the binding is taken through this one helper, one policy: a poisoned lock
/// (a panic while it was held, caught at the napi boundary) is used anyway. What these locks
/// guard (slots for a pump, a teardown handle, a stream) is valid between any two steps, and
/// refusing it would turn one caught panic into skipped cleanup (a server left running) or
/// errors on every later call.
pub fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
