//! A spin mutex: the only lock the library OS needs. It never sleeps on the host, so it is safe
//! to take inside the signal handler that serves an app's syscall, and in ring 0.
use core::cell::UnsafeCell;
use core::ops::{Deref, DerefMut};
use core::sync::atomic::{AtomicBool, Ordering};

/// Mutual exclusion by spinning on an atomic flag.
pub struct SpinMutex<T> {
    locked: AtomicBool,
    value: UnsafeCell<T>,
}

// SAFETY: the value is only reached through a guard, and only one guard exists at a time.
unsafe impl<T: Send> Sync for SpinMutex<T> {}
// SAFETY: moving the mutex moves the value; T: Send makes that sound.
unsafe impl<T: Send> Send for SpinMutex<T> {}

impl<T> SpinMutex<T> {
    /// A new unlocked mutex holding `value`.
    pub const fn new(value: T) -> Self {
        Self { locked: AtomicBool::new(false), value: UnsafeCell::new(value) }
    }

    /// Spins until the lock is free, then returns the guard that releases it on drop.
    pub fn lock(&self) -> SpinGuard<'_, T> {
        while self.locked.compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed).is_err() {
            while self.locked.load(Ordering::Relaxed) {
                core::hint::spin_loop();
            }
        }
        SpinGuard { m: self }
    }

    /// The lock taken with plain stores instead of a locked compare-exchange (about 6 ns
    /// less per lock and unlock), or None while a guard exists (the caller then takes the lock
    /// with [`SpinMutex::lock`], which waits as before). The guard marks the lock held as a
    /// locked one does, so [`SpinMutex::peek`] and a nested [`SpinMutex::lock`] see it.
    ///
    /// # Safety
    /// No other thread may take the lock, or read or write the value, while the guard lives
    /// or before the caller's own next synchronisation with such a thread. Code on this thread
    /// that interrupts the caller (a signal handler) may take the lock as long as it releases
    /// it before it returns: the flag is set and cleared only in nested pairs then.
    pub unsafe fn lock_alone(&self) -> Option<SpinGuard<'_, T>> {
        if self.locked.load(Ordering::Relaxed) {
            return None;
        }
        self.locked.store(true, Ordering::Relaxed);
        // The value's accesses stay after the flag is set (for a handler on this thread).
        core::sync::atomic::compiler_fence(Ordering::SeqCst);
        Some(SpinGuard { m: self })
    }

    /// The value without taking the lock (no locked instruction), or None while a guard
    /// exists. For a caller that knows no other thread can reach this mutex.
    ///
    /// # Safety
    /// No other thread may take the lock, and no code on this thread may take it (a signal
    /// handler included), while the returned reference lives.
    pub unsafe fn peek(&self) -> Option<&T> {
        if self.locked.load(Ordering::Relaxed) {
            return None;
        }
        // SAFETY: no guard exists now (the flag is clear), and per the contract none is made
        // while the shared reference lives, so nothing mutates the value meanwhile.
        Some(unsafe { &*self.value.get() })
    }
}

/// Proof of holding a [`SpinMutex`].
pub struct SpinGuard<'a, T> {
    m: &'a SpinMutex<T>,
}

impl<T> Deref for SpinGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard holds the lock, so no mutable reference exists elsewhere.
        unsafe { &*self.m.value.get() }
    }
}

impl<T> DerefMut for SpinGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard holds the lock exclusively.
        unsafe { &mut *self.m.value.get() }
    }
}

impl<T> Drop for SpinGuard<'_, T> {
    fn drop(&mut self) {
        self.m.locked.store(false, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::SpinMutex;

    #[test]
    fn peek_sees_the_value_only_while_unlocked() {
        let m = SpinMutex::new(7u32);
        // SAFETY: one thread, and no guard is taken while the reference lives.
        assert_eq!(unsafe { m.peek() }.copied(), Some(7));
        let mut g = m.lock();
        *g = 8;
        // SAFETY: as above; a guard exists, so peek must refuse.
        assert!(unsafe { m.peek() }.is_none());
        drop(g);
        // SAFETY: as above.
        assert_eq!(unsafe { m.peek() }.copied(), Some(8));
    }

    #[test]
    fn lock_alone_marks_the_lock_held_and_refuses_while_a_guard_exists() {
        let m = SpinMutex::new(1u32);
        // SAFETY: one thread in this test.
        let mut g = unsafe { m.lock_alone() }.expect("the lock is free");
        *g = 2;
        // SAFETY: as above.
        assert!(unsafe { m.peek() }.is_none(), "held while the guard lives");
        // SAFETY: as above.
        assert!(unsafe { m.lock_alone() }.is_none(), "never a second guard");
        drop(g);
        assert_eq!(*m.lock(), 2);
        let held = m.lock();
        // SAFETY: as above.
        assert!(unsafe { m.lock_alone() }.is_none());
        drop(held);
        // SAFETY: as above.
        assert_eq!(unsafe { m.peek() }.copied(), Some(2));
    }
}
