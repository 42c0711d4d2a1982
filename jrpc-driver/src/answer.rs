//! One call's answer on its way from the connection task to the caller: a one-shot slot.
//!
//! The connection task keeps the [`Sender`] in its call table and fills the slot when the
//! answer (or the call's timeout, or the connection's end) comes; the caller awaits the
//! [`Receiver`]. The `oneshot` crate's channel underneath: one allocation and one atomic state
//! per call, cheaper than `futures_channel::oneshot`'s locks (about 50 instructions a call on
//! the pipelined client; a `Mutex`'d slot written here cost about 110 more than that).
//!
//! - A sender dropped without sending (the connection ended, the call was refused) resolves
//!   the receiver with `oneshot::RecvError`.
//! - A receiver dropped (the caller gave up: its future was dropped) leaves the sender alone:
//!   what it sends then is dropped, and [`Sender::is_canceled`] says so.

use jrpc_proto::{CallError, CallId};
use serde_json::Value;

/// What a call ends with.
pub(crate) type Outcome = Result<Value, CallError>;

/// What the caller awaits: the outcome, or `oneshot::RecvError` when the sender went away
/// without sending (the connection is over). The crate's future itself: a wrapper that mapped its
/// error moved the outcome once more on every poll (about 40 instructions a call).
pub(crate) type Receiver = oneshot::AsyncReceiver<Outcome>;

/// A new slot: its sending half for the connection task, its receiving half for the caller.
pub(crate) fn channel() -> (Sender, Receiver) {
    let (sender, receiver) = oneshot::async_channel();
    (Sender(sender), receiver)
}

/// The connection task's half: sends the outcome once.
#[derive(Debug)]
pub(crate) struct Sender(oneshot::Sender<Outcome>);

impl Sender {
    /// Hands `outcome` to the caller (dropped with the slot when the caller gave up).
    pub(crate) fn send(self, outcome: Outcome) {
        let _ = self.0.send(outcome);
    }

    /// Whether the caller gave up (dropped its receiver): its answer would go nowhere.
    pub(crate) fn is_canceled(&self) -> bool {
        self.0.is_closed()
    }
}

/// Who waits for each of our calls: the connection task's senders, by the slot the endpoint
/// keeps each call in ([`Endpoint::call_slot`](jrpc_proto::Endpoint::call_slot)). A `Vec` no
/// longer than the most calls outstanding at once, each entry checked against its call's id
/// (later calls reuse a slot): an index where a hash map cost about 130 instructions a call.
#[derive(Debug, Default)]
pub(crate) struct Waiting {
    slots: Vec<Option<(CallId, Sender)>>,
}

impl Waiting {
    /// Keeps `sender` for call `id` in `slot`. The slot's previous call is over by then: the
    /// endpoint frees a slot only with that call's outcome, which the task hands on (taking
    /// its sender) before it starts another call.
    pub(crate) fn insert(&mut self, slot: usize, id: CallId, sender: Sender) {
        if slot >= self.slots.len() {
            self.slots.resize_with(slot + 1, || None);
        }
        // A sender left behind (never, as said above) would resolve its caller as closed.
        let left = self.slots[slot].replace((id, sender));
        debug_assert!(left.is_none(), "a call still waited in slot {slot}");
    }

    /// Takes the sender of call `id`, kept in `slot`, if it is still there.
    pub(crate) fn take(&mut self, slot: usize, id: CallId) -> Option<Sender> {
        let entry = self.slots.get_mut(slot)?;
        if entry.as_ref().is_none_or(|(kept, _)| *kept != id) {
            return None;
        }
        entry.take().map(|(_, sender)| sender)
    }

    /// Drops the senders whose caller gave up, handing each one's call to `forget`; true if
    /// there were any.
    pub(crate) fn forget_canceled(&mut self, mut forget: impl FnMut(CallId)) -> bool {
        let mut any = false;
        for entry in &mut self.slots {
            if let Some((id, _)) = entry.take_if(|(_, sender)| sender.is_canceled()) {
                forget(id);
                any = true;
            }
        }
        any
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::FutureExt;
    use std::future::Future;
    use std::sync::Arc;
    use std::task::{Context, Poll};
    use std::task::{Wake, Waker};

    use crate::counting_waker::{counting, wakes};

    #[test]
    fn an_answer_sent_before_the_first_poll_is_there() {
        let (sender, mut receiver) = channel();
        sender.send(Ok(Value::from(3)));
        let (_, waker) = counting();
        let mut cx = Context::from_waker(&waker);
        assert_eq!(
            receiver.poll_unpin(&mut cx),
            Poll::Ready(Ok(Ok(Value::from(3))))
        );
        // Taken once: a later poll does not see it again.
        assert_eq!(
            receiver.poll_unpin(&mut cx),
            Poll::Ready(Err(oneshot::RecvError))
        );
    }

    #[test]
    fn a_waiting_caller_is_woken_once_by_the_answer() {
        let (sender, mut receiver) = channel();
        let (count, waker) = counting();
        let mut cx = Context::from_waker(&waker);
        assert!(receiver.poll_unpin(&mut cx).is_pending());
        assert!(receiver.poll_unpin(&mut cx).is_pending());
        assert_eq!(wakes(&count), 0);
        sender.send(Err(CallError::Timeout));
        assert_eq!(wakes(&count), 1);
        assert_eq!(
            receiver.poll_unpin(&mut cx),
            Poll::Ready(Ok(Err(CallError::Timeout)))
        );
    }

    #[test]
    fn the_latest_waker_is_the_one_woken() {
        let (sender, mut receiver) = channel();
        let (first, first_waker) = counting();
        let (second, second_waker) = counting();
        assert!(
            receiver
                .poll_unpin(&mut Context::from_waker(&first_waker))
                .is_pending()
        );
        assert!(
            receiver
                .poll_unpin(&mut Context::from_waker(&second_waker))
                .is_pending()
        );
        sender.send(Ok(Value::Null));
        assert_eq!((wakes(&first), wakes(&second)), (0, 1));
    }

    #[test]
    fn a_dropped_sender_closes_the_slot_and_wakes_the_caller() {
        let (sender, mut receiver) = channel();
        let (count, waker) = counting();
        let mut cx = Context::from_waker(&waker);
        assert!(receiver.poll_unpin(&mut cx).is_pending());
        drop(sender);
        assert_eq!(wakes(&count), 1);
        assert_eq!(
            receiver.poll_unpin(&mut cx),
            Poll::Ready(Err(oneshot::RecvError))
        );
    }

    #[test]
    fn a_dropped_receiver_cancels_and_its_answer_goes_nowhere() {
        let (sender, receiver) = channel();
        assert!(!sender.is_canceled());
        drop(receiver);
        assert!(sender.is_canceled());
        sender.send(Ok(Value::from("late")));
    }

    #[test]
    fn answers_cross_threads_and_every_caller_gets_its_own() {
        // Many slots, each filled or closed on another thread while its caller polls: every
        // caller ends with exactly what its sender did.
        const CALLS: usize = 2_000;
        let (senders, receivers): (Vec<_>, Vec<_>) = (0..CALLS).map(|_| channel()).unzip();
        let filler = std::thread::spawn(move || {
            for (i, sender) in senders.into_iter().enumerate() {
                if i % 3 == 0 {
                    drop(sender);
                } else {
                    sender.send(Ok(Value::from(i)));
                }
            }
        });
        let outcomes: Vec<_> = receivers.into_iter().map(block_on).collect();
        filler.join().ok();
        for (i, outcome) in outcomes.into_iter().enumerate() {
            if i % 3 == 0 {
                assert_eq!(outcome, Err(oneshot::RecvError));
            } else {
                assert_eq!(outcome, Ok(Ok(Value::from(i))));
            }
        }
    }

    #[test]
    fn the_table_finds_a_call_by_slot_and_id_and_forgets_abandoned_ones() {
        // Ids as an endpoint hands them out (its own rule), with the slots it says.
        let mut endpoint = jrpc_proto::Endpoint::new(jrpc_proto::Config::default());
        let request = || jrpc_proto::EncodedRequest::from_serialize("m", &(1,)).unwrap();
        let now = std::time::Instant::now();
        let mut waiting = Waiting::default();
        let mut call = || {
            let id = endpoint.call_encoded(request(), now, None).unwrap();
            let (sender, receiver) = channel();
            (id, endpoint.call_slot(id), sender, receiver)
        };
        let (a, slot_a, sender_a, _receiver_a) = call();
        let (b, slot_b, sender_b, receiver_b) = call();
        assert_ne!(slot_a, slot_b);
        waiting.insert(slot_a, a, sender_a);
        waiting.insert(slot_b, b, sender_b);
        // Another call's id in the same slot finds nothing.
        assert!(waiting.take(slot_a, b).is_none());
        assert!(waiting.take(slot_b + 1000, b).is_none());
        drop(receiver_b);
        let mut forgotten = Vec::new();
        assert!(waiting.forget_canceled(|id| forgotten.push(id)));
        assert_eq!(forgotten, [b]);
        assert!(!waiting.forget_canceled(|_| panic!("nothing left to forget")));
        assert!(waiting.take(slot_b, b).is_none());
        assert!(waiting.take(slot_a, a).is_some());
        assert!(waiting.take(slot_a, a).is_none());
    }

    /// Wakes a parked thread.
    struct Unpark(std::thread::Thread);

    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }

    /// Runs a future on this thread, parking between wake-ups.
    fn block_on<F: Future>(future: F) -> F::Output {
        let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
        let mut cx = Context::from_waker(&waker);
        let mut future = std::pin::pin!(future);
        loop {
            if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
                return output;
            }
            std::thread::park();
        }
    }
}
