//! A server's shutdown signal: one [`Stop`] (held by its `ServerHandle`), and a
//! [`ShutdownSignal`] clone in the accept loop and in every connection, which resolves to the
//! deadline until which running methods may finish.
//!
//! A connection asks its signal once per wake-up. The shared future underneath takes a lock
//! each time it is asked (the same lock for every connection of the server), so a clone that
//! has already given its task's waker asks it again only once the signal has fired, which a
//! flag set before the firing tells: one atomic load per wake-up instead of a lock.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use futures_channel::oneshot;
use futures_util::FutureExt;
use futures_util::future::Shared;

/// A new signal: its sending half for the server's handle, its receiving half to clone for the
/// accept loop and the connections.
pub(crate) fn signal() -> (Stop, ShutdownSignal) {
    let (sender, receiver) = oneshot::channel();
    let fired = Arc::new(AtomicBool::new(false));
    let stop = Stop {
        sender: Some(sender),
        fired: Arc::clone(&fired),
    };
    let signal = ShutdownSignal {
        deadline: receiver.shared(),
        fired,
        waker: None,
    };
    (stop, signal)
}

/// Fires the signal with a deadline ([`fire`](Self::fire)), or with none when dropped (a
/// server whose handles are all gone ends its connections at once).
#[derive(Debug)]
pub(crate) struct Stop {
    sender: Option<oneshot::Sender<Instant>>,
    fired: Arc<AtomicBool>,
}

impl Stop {
    /// Fires the signal: every connection may let its running methods finish until `deadline`.
    pub(crate) fn fire(mut self, deadline: Instant) {
        self.fired.store(true, Ordering::SeqCst);
        if let Some(sender) = self.sender.take() {
            let _ = sender.send(deadline);
        }
    }
}

impl Drop for Stop {
    fn drop(&mut self) {
        // Set before the sender is dropped (after this body), which wakes the receivers.
        self.fired.store(true, Ordering::SeqCst);
    }
}

/// A clone of the signal: resolves to the shutdown's deadline (now, if the server went away
/// without a shutdown).
#[derive(Debug)]
pub(crate) struct ShutdownSignal {
    deadline: Shared<oneshot::Receiver<Instant>>,
    /// Set before the signal fires.
    fired: Arc<AtomicBool>,
    /// The waker this clone last gave the shared future, if it is still waiting.
    waker: Option<Waker>,
}

impl Clone for ShutdownSignal {
    /// A clone with a registration of its own (none yet).
    fn clone(&self) -> Self {
        Self {
            deadline: self.deadline.clone(),
            fired: Arc::clone(&self.fired),
            waker: None,
        }
    }
}

impl Future for ShutdownSignal {
    type Output = Instant;

    /// Asks the shared future only if the signal has fired or if this task's waker is not the
    /// one this clone gave it last (which it then gives).
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Instant> {
        let this = &mut *self;
        let registered = this.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker()));
        if registered && !this.fired.load(Ordering::SeqCst) {
            return Poll::Pending;
        }
        match this.deadline.poll_unpin(cx) {
            Poll::Ready(deadline) => {
                this.waker = None;
                // A dropped sender (the server gone without a shutdown) means no grace at all.
                Poll::Ready(deadline.unwrap_or_else(|_| Instant::now()))
            }
            Poll::Pending => {
                this.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    use crate::counting_waker::{counting, wakes};

    #[test]
    fn a_waiting_clone_is_woken_and_then_sees_the_deadline() {
        let (stop, signal) = signal();
        let mut first = signal.clone();
        let mut second = signal.clone();
        let (first_count, first_waker) = counting();
        let (second_count, second_waker) = counting();
        let mut first_cx = Context::from_waker(&first_waker);
        let mut second_cx = Context::from_waker(&second_waker);
        assert!(first.poll_unpin(&mut first_cx).is_pending());
        // Asked again with the same waker: still waiting (and not asking the shared future).
        assert!(first.poll_unpin(&mut first_cx).is_pending());
        assert!(second.poll_unpin(&mut second_cx).is_pending());
        let deadline = Instant::now() + Duration::from_secs(5);
        stop.fire(deadline);
        assert_eq!((wakes(&first_count), wakes(&second_count)), (1, 1));
        assert_eq!(first.poll_unpin(&mut first_cx), Poll::Ready(deadline));
        assert_eq!(second.poll_unpin(&mut second_cx), Poll::Ready(deadline));
    }

    #[test]
    fn a_new_waker_is_given_to_the_shared_future() {
        let (stop, mut signal) = signal();
        let (old_count, old_waker) = counting();
        let (new_count, new_waker) = counting();
        assert!(
            signal
                .poll_unpin(&mut Context::from_waker(&old_waker))
                .is_pending()
        );
        assert!(
            signal
                .poll_unpin(&mut Context::from_waker(&new_waker))
                .is_pending()
        );
        stop.fire(Instant::now());
        assert_eq!((wakes(&old_count), wakes(&new_count)), (0, 1));
    }

    #[test]
    fn a_dropped_stop_fires_with_no_grace() {
        let (stop, mut signal) = signal();
        let (count, waker) = counting();
        let mut cx = Context::from_waker(&waker);
        assert!(signal.poll_unpin(&mut cx).is_pending());
        let before = Instant::now();
        drop(stop);
        assert_eq!(wakes(&count), 1);
        match signal.poll_unpin(&mut cx) {
            Poll::Ready(deadline) => assert!(deadline >= before && deadline <= Instant::now()),
            Poll::Pending => panic!("a dropped stop left the signal waiting"),
        }
    }

    #[test]
    fn a_clone_made_after_the_firing_resolves_at_once() {
        let (stop, signal) = signal();
        let deadline = Instant::now();
        stop.fire(deadline);
        let (_, waker) = counting();
        let mut late = signal.clone();
        assert_eq!(
            late.poll_unpin(&mut Context::from_waker(&waker)),
            Poll::Ready(deadline)
        );
    }
}
