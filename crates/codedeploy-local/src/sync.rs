//! Locking the stand-in's shared state.

/// Lock a mutex, recovering it if a thread panicked while holding it: every critical
/// section here leaves the data consistent, so a poisoned lock is still safe to use.
pub(crate) fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
