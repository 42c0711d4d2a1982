//! Where frames wait to be written: the bound on one connection's outbound queue, shared by
//! the producers (peer handles, broadcasts) that reserve room in it and the connection task that
//! frees the room as it hands frames to the socket.
//!
//! A producer reserves a frame's bytes and queues the frame (a call or a push, an [`Entry`]) here
//! under one lock; the connection task takes every queued entry in one lock per wake-up, and
//! gives the bytes back once the socket has taken the frame. So what waits for a peer that does
//! not read (here and in the task's write queue) never exceeds the limit, plus one
//! frame: a frame larger than the limit is let through when nothing else is queued, so that it
//! is not refused forever. [`Peer::request`](crate::Peer::request) and
//! [`Peer::invoke`](crate::Peer::invoke) wait for room; [`Peer::try_invoke`](crate::Peer::try_invoke)
//! and [`Peer::try_push`](crate::Peer::try_push) fail at once with [`CallError::QueueFull`].
//!
//! A queue is *full* from the moment a frame did not fit until it drains below half its limit.
//! The connection task closes a peer whose queue stays full longer than the slow-consumer
//! timeout (see `connection.rs`).

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use futures_util::task::AtomicWaker;
use jrpc_proto::{CallError, EncodedRequest, IntoParams};
use tungstenite::Utf8Bytes;

use crate::answer;

/// An encoded notification, ready to be queued on any number of connections: encoded once,
/// cloned by reference count.
///
/// ```
/// let frame = jrpc_driver::Frame::notification("Message", ("server", "hello"), 1 << 20)?;
/// assert_eq!(
///     frame.as_str(),
///     r#"{"method":"Message","args":["server","hello"],"kwargs":{},"id":null}"#
/// );
/// # Ok::<(), jrpc_driver::CallError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame(Utf8Bytes);

impl Frame {
    /// Encodes a notification of `method` with `params`; fails with [`CallError::Encode`], or
    /// [`CallError::TooLarge`] when it exceeds `max_message` bytes.
    pub fn notification(
        method: &str,
        params: impl IntoParams,
        max_message: usize,
    ) -> Result<Self, CallError> {
        let text = params
            .into_request(method)?
            .into_notification(max_message)?;
        Ok(Self(Utf8Bytes::from(text)))
    }

    /// The frame's size in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the frame is empty (never, for an encoded notification).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The frame's text, as it goes on the wire.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    pub(crate) fn text(&self) -> Utf8Bytes {
        self.0.clone()
    }

    /// A frame from the text of one ([`as_str`](Self::as_str)) that another process of the
    /// cluster encoded and sent through Redis.
    #[cfg(feature = "redis")]
    pub(crate) fn from_encoded(text: String) -> Self {
        Self(Utf8Bytes::from(text))
    }
}

/// Figures of one connection: the ones its queue policy uses, for logs and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConnectionStats {
    /// Bytes of frames waiting to be written (ours: calls, notifications, pushes, answers).
    pub queued_bytes: usize,
    /// Frames waiting to be written.
    pub queued_frames: usize,
    /// Our calls awaiting the peer's answer.
    pub outstanding_calls: usize,
    /// The peer's requests and notifications whose method is running.
    pub methods_running: usize,
}

/// What a producer queues for the connection task: its bytes are reserved in the [`Outbound`].
#[derive(Debug)]
pub(crate) enum Entry {
    /// One of our calls, encoded by the caller; `charge` bytes are reserved for it.
    Call {
        request: EncodedRequest,
        charge: usize,
        timeout: Option<Duration>,
        done: answer::Sender,
    },
    /// A notification or broadcast frame.
    Push(Utf8Bytes),
}

/// The bound of one connection's queue and its producers' entries, shared by the producers
/// and the connection task.
#[derive(Debug)]
pub(crate) struct Outbound {
    limit: usize,
    /// Bytes and frames reserved by producers and not yet handed to the socket. Written under
    /// `state`'s lock, read without it.
    bytes: AtomicUsize,
    frames: AtomicUsize,
    /// Set (under the lock) while the queue is full, so the task can see it without locking.
    congested: AtomicBool,
    /// Set (under the lock) while `state.entries` is not empty, so the task can see it without
    /// locking.
    has_entries: AtomicBool,
    /// What the connection task itself queued (its answers), and its calls and methods: kept
    /// current by the task once per wake-up, for [`ConnectionStats`].
    own_bytes: AtomicUsize,
    own_frames: AtomicUsize,
    outstanding_calls: AtomicUsize,
    methods_running: AtomicUsize,
    state: Mutex<State>,
    /// The connection task, woken when entries come to an empty queue, and when the queue
    /// becomes full (to arm its slow-consumer timer).
    task: AtomicWaker,
}

#[derive(Debug, Default)]
struct State {
    closed: bool,
    /// Calls and pushes for the task to take, in the order producers queued them.
    entries: VecDeque<Entry>,
    /// When a frame last failed to fit, while the queue has not drained below half since.
    full_since: Option<Instant>,
    /// Producers waiting for room, by ticket.
    waiters: Vec<(u64, Waker)>,
    next_ticket: u64,
}

impl Outbound {
    pub(crate) fn new(limit: usize) -> Self {
        Self {
            limit,
            bytes: AtomicUsize::new(0),
            frames: AtomicUsize::new(0),
            congested: AtomicBool::new(false),
            has_entries: AtomicBool::new(false),
            own_bytes: AtomicUsize::new(0),
            own_frames: AtomicUsize::new(0),
            outstanding_calls: AtomicUsize::new(0),
            methods_running: AtomicUsize::new(0),
            state: Mutex::new(State::default()),
            task: AtomicWaker::new(),
        }
    }

    pub(crate) fn limit(&self) -> usize {
        self.limit
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // The state is a few plain fields, consistent after every statement: take it as it is.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Reserves room for a frame of `len` bytes, or says why not: `Ok(false)` when there is no
    /// room now (and marks the queue full).
    fn reserve_locked(&self, state: &mut State, len: usize) -> Result<bool, CallError> {
        if state.closed {
            return Err(CallError::ConnectionClosed);
        }
        let bytes = self.bytes.load(Ordering::Relaxed);
        if bytes == 0 || bytes.saturating_add(len) <= self.limit {
            self.bytes.store(bytes + len, Ordering::Relaxed);
            // Written under the lock, like `bytes`: no atomic read-modify-write needed.
            let frames = self.frames.load(Ordering::Relaxed);
            self.frames.store(frames + 1, Ordering::Relaxed);
            return Ok(true);
        }
        self.mark_full(state);
        Ok(false)
    }

    /// Records that a frame did not fit, waking the task when the queue has just become full.
    fn mark_full(&self, state: &mut State) {
        if state.full_since.is_none() {
            state.full_since = Some(Instant::now());
            self.congested.store(true, Ordering::Release);
            self.task.wake();
        }
    }

    /// Reserves room for `len` bytes without waiting: [`CallError::QueueFull`] when there is
    /// none (or when producers already wait for room: they come first).
    #[cfg(test)]
    pub(crate) fn try_reserve(&self, len: usize) -> Result<(), CallError> {
        let mut state = self.state();
        self.try_reserve_locked(&mut state, len)
    }

    fn try_reserve_locked(&self, state: &mut State, len: usize) -> Result<(), CallError> {
        if !state.waiters.is_empty() && !state.closed {
            self.mark_full(state);
            return Err(CallError::QueueFull { limit: self.limit });
        }
        match self.reserve_locked(state, len)? {
            true => Ok(()),
            false => Err(CallError::QueueFull { limit: self.limit }),
        }
    }

    /// Reserves room for `entry`'s `len` bytes and queues it, under one lock and without
    /// waiting; on failure (`QueueFull`, also while producers wait for room; or
    /// `ConnectionClosed`) `entry` comes back.
    pub(crate) fn try_queue(&self, len: usize, entry: Entry) -> Result<(), (CallError, Entry)> {
        let mut state = self.state();
        match self.try_reserve_locked(&mut state, len) {
            Ok(()) => {
                self.queue_locked(state, entry);
                Ok(())
            }
            Err(e) => Err((e, entry)),
        }
    }

    /// Queues `entry`, whose room a [`reserve`](Self::reserve) got; it comes back when the
    /// connection is over.
    pub(crate) fn queue_reserved(&self, entry: Entry) -> Result<(), Entry> {
        let state = self.state();
        if state.closed {
            return Err(entry);
        }
        self.queue_locked(state, entry);
        Ok(())
    }

    /// Queues `entry`; the task is woken when it is the first one it has to take.
    fn queue_locked(&self, mut state: MutexGuard<'_, State>, entry: Entry) {
        let first = state.entries.is_empty();
        state.entries.push_back(entry);
        if first {
            self.has_entries.store(true, Ordering::Release);
            drop(state);
            self.task.wake();
        }
    }

    /// Moves the queued entries to the back of `into`, in order: one lock for all of them (none
    /// when nothing is queued).
    pub(crate) fn take_entries(&self, into: &mut VecDeque<Entry>) {
        if !self.has_entries.load(Ordering::Acquire) {
            return;
        }
        let mut state = self.state();
        if into.is_empty() {
            std::mem::swap(&mut state.entries, into);
        } else {
            into.append(&mut state.entries);
        }
        self.has_entries.store(false, Ordering::Release);
    }

    /// Reserves room for `len` bytes, waiting for the connection to write what is queued.
    pub(crate) fn reserve(&self, len: usize) -> Reserve<'_> {
        Reserve {
            outbound: self,
            len,
            ticket: None,
        }
    }

    /// Gives back the room of frames handed to the socket (`bytes` over `frames` frames), and
    /// wakes the producers waiting for it.
    pub(crate) fn release(&self, bytes: usize, frames: usize) {
        if bytes == 0 && frames == 0 {
            return;
        }
        let mut state = self.state();
        let left = self.bytes.load(Ordering::Relaxed).saturating_sub(bytes);
        self.bytes.store(left, Ordering::Relaxed);
        let frames_left = self.frames.load(Ordering::Relaxed).saturating_sub(frames);
        self.frames.store(frames_left, Ordering::Relaxed);
        if state.full_since.is_some() && left <= self.limit / 2 {
            state.full_since = None;
            self.congested.store(false, Ordering::Release);
        }
        // Every waiter checks again; the queue is rarely full, and then waiters are few.
        for (_, waker) in state.waiters.drain(..) {
            waker.wake();
        }
    }

    /// The connection is over: waiting producers fail, later ones too, and the calls still
    /// queued fail with [`CallError::ConnectionClosed`] (their answer senders are dropped).
    pub(crate) fn close(&self) {
        let mut state = self.state();
        state.closed = true;
        for (_, waker) in state.waiters.drain(..) {
            waker.wake();
        }
        let entries = std::mem::take(&mut state.entries);
        self.has_entries.store(false, Ordering::Release);
        drop(state);
        drop(entries);
    }

    /// Whether the queue is full now (a cheap read for the connection task's every wake-up).
    pub(crate) fn is_congested(&self) -> bool {
        self.congested.load(Ordering::Acquire)
    }

    /// Since when the queue has been full, if it is.
    pub(crate) fn full_since(&self) -> Option<Instant> {
        self.state().full_since
    }

    /// Registers the connection task, to be woken when the queue becomes full.
    pub(crate) fn register_task(&self, waker: &Waker) {
        self.task.register(waker);
    }

    /// The task's own figures, stored once per wake-up.
    pub(crate) fn set_own(&self, bytes: usize, frames: usize, calls: usize, running: usize) {
        self.own_bytes.store(bytes, Ordering::Relaxed);
        self.own_frames.store(frames, Ordering::Relaxed);
        self.outstanding_calls.store(calls, Ordering::Relaxed);
        self.methods_running.store(running, Ordering::Relaxed);
    }

    pub(crate) fn stats(&self) -> ConnectionStats {
        ConnectionStats {
            queued_bytes: self.bytes.load(Ordering::Relaxed)
                + self.own_bytes.load(Ordering::Relaxed),
            queued_frames: self.frames.load(Ordering::Relaxed)
                + self.own_frames.load(Ordering::Relaxed),
            outstanding_calls: self.outstanding_calls.load(Ordering::Relaxed),
            methods_running: self.methods_running.load(Ordering::Relaxed),
        }
    }
}

/// A reservation that waits for room: see [`Outbound::reserve`].
pub(crate) struct Reserve<'a> {
    outbound: &'a Outbound,
    len: usize,
    ticket: Option<u64>,
}

impl Future for Reserve<'_> {
    type Output = Result<(), CallError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let outbound = self.outbound;
        let mut state = outbound.state();
        if let Some(ticket) = self.ticket {
            state.waiters.retain(|(t, _)| *t != ticket);
        }
        if outbound.reserve_locked(&mut state, self.len)? {
            self.ticket = None;
            return Poll::Ready(Ok(()));
        }
        let ticket = match self.ticket {
            Some(ticket) => ticket,
            None => {
                state.next_ticket += 1;
                state.next_ticket
            }
        };
        state.waiters.push((ticket, cx.waker().clone()));
        self.ticket = Some(ticket);
        Poll::Pending
    }
}

impl Drop for Reserve<'_> {
    fn drop(&mut self) {
        if let Some(ticket) = self.ticket {
            self.outbound.state().waiters.retain(|(t, _)| *t != ticket);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::FutureExt;

    #[test]
    fn reserves_up_to_the_limit_then_refuses() {
        let queue = Outbound::new(100);
        assert!(queue.try_reserve(60).is_ok());
        assert!(queue.try_reserve(40).is_ok());
        assert_eq!(
            queue.try_reserve(1),
            Err(CallError::QueueFull { limit: 100 })
        );
        assert!(queue.is_congested());
        assert_eq!(queue.stats().queued_bytes, 100);
        assert_eq!(queue.stats().queued_frames, 2);
        // Still full above half the limit; no longer once below.
        queue.release(40, 1);
        assert!(queue.is_congested());
        queue.release(20, 1);
        assert!(!queue.is_congested());
        assert_eq!(queue.full_since(), None);
    }

    #[test]
    fn an_oversized_frame_passes_an_empty_queue_only() {
        let queue = Outbound::new(100);
        assert!(queue.try_reserve(500).is_ok());
        assert!(queue.try_reserve(1).is_err());
        queue.release(500, 1);
        assert!(queue.try_reserve(1).is_ok());
    }

    #[test]
    fn a_waiting_reservation_resolves_on_release_and_fails_on_close() {
        let queue = Outbound::new(10);
        queue.try_reserve(10).ok();
        let mut waiting = Box::pin(queue.reserve(5));
        let noop = futures_util::task::noop_waker_ref();
        let mut cx = Context::from_waker(noop);
        assert!(waiting.poll_unpin(&mut cx).is_pending());
        // A non-waiting producer does not jump the queue.
        assert!(queue.try_reserve(1).is_err());
        queue.release(10, 1);
        assert_eq!(waiting.poll_unpin(&mut cx), Poll::Ready(Ok(())));
        drop(waiting);
        queue.release(5, 1);

        assert!(queue.try_reserve(10).is_ok());
        let mut waiting = Box::pin(queue.reserve(5));
        assert!(waiting.poll_unpin(&mut cx).is_pending());
        queue.close();
        assert_eq!(
            waiting.poll_unpin(&mut cx),
            Poll::Ready(Err(CallError::ConnectionClosed))
        );
        assert_eq!(queue.try_reserve(1), Err(CallError::ConnectionClosed));
    }

    #[test]
    fn a_dropped_reservation_leaves_no_waiter() {
        let queue = Outbound::new(10);
        queue.try_reserve(10).ok();
        let mut waiting = Box::pin(queue.reserve(5));
        let mut cx = Context::from_waker(futures_util::task::noop_waker_ref());
        assert!(waiting.poll_unpin(&mut cx).is_pending());
        drop(waiting);
        queue.release(10, 1);
        assert!(queue.try_reserve(10).is_ok());
    }

    fn push(text: &'static str) -> Entry {
        Entry::Push(Utf8Bytes::from_static(text))
    }

    fn texts(entries: &VecDeque<Entry>) -> Vec<&str> {
        entries
            .iter()
            .map(|entry| match entry {
                Entry::Push(text) => text.as_str(),
                Entry::Call { .. } => "call",
            })
            .collect()
    }

    #[test]
    fn entries_come_out_in_order_and_a_full_queue_hands_them_back() {
        let queue = Outbound::new(10);
        let mut taken = VecDeque::new();
        queue.take_entries(&mut taken);
        assert!(taken.is_empty());
        assert!(queue.try_queue(4, push("abcd")).is_ok());
        assert!(queue.try_queue(4, push("efgh")).is_ok());
        match queue.try_queue(4, push("ijkl")) {
            Err((CallError::QueueFull { limit: 10 }, refused)) => {
                assert_eq!(texts(&VecDeque::from([refused])), ["ijkl"]);
            }
            other => panic!("not refused for room: {:?}", other.map_err(|(e, _)| e)),
        }
        queue.take_entries(&mut taken);
        assert_eq!(texts(&taken), ["abcd", "efgh"]);
        // Taken is not released: the room comes back once the socket took the frames.
        assert_eq!(queue.stats().queued_frames, 2);
        queue.release(8, 2);
        assert!(queue.try_queue(4, push("ijkl")).is_ok());
        queue.take_entries(&mut taken);
        assert_eq!(texts(&taken), ["abcd", "efgh", "ijkl"]);
    }

    #[test]
    fn closing_fails_the_queued_calls_and_refuses_more() {
        let queue = Outbound::new(100);
        let (done, answer) = answer::channel();
        let request = EncodedRequest::from_serialize("m", &(1,)).unwrap();
        let call = Entry::Call {
            request,
            charge: 10,
            timeout: None,
            done,
        };
        assert!(queue.try_queue(10, call).is_ok());
        queue.close();
        let mut cx = Context::from_waker(futures_util::task::noop_waker_ref());
        assert_eq!(
            std::pin::pin!(answer).poll(&mut cx),
            Poll::Ready(Err(oneshot::RecvError))
        );
        assert!(matches!(
            queue.try_queue(1, push("x")),
            Err((CallError::ConnectionClosed, _))
        ));
        assert!(queue.queue_reserved(push("y")).is_err());
        let mut taken = VecDeque::new();
        queue.take_entries(&mut taken);
        assert!(taken.is_empty());
    }
}
