//! A waker that counts its wake-ups, for the unit tests of what wakes tasks (answers, the
//! shutdown signal).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Wake, Waker};

/// The count behind a [`counting`] waker.
pub(crate) struct Count(AtomicUsize);

impl Wake for Count {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// A waker and its count.
pub(crate) fn counting() -> (Arc<Count>, Waker) {
    let count = Arc::new(Count(AtomicUsize::new(0)));
    (Arc::clone(&count), Waker::from(count))
}

/// How many times the waker of `count` was woken.
pub(crate) fn wakes(count: &Count) -> usize {
    count.0.load(Ordering::SeqCst)
}
