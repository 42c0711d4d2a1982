//! A client that reconnects: when its connection ends, it dials again with exponential backoff
//! and jitter, as `jrpc.js` does with its `reconnect` option.
//!
//! How it is built: [`Builder::connect`](crate::Builder::connect) with
//! [`Builder::reconnect`](crate::Builder::reconnect) dials once, then spawns a *supervisor*
//! task that owns the dialling loop, and returns a [`Peer`] whose link is the shared
//! [`Reconnecting`] state rather than one connection. Each connection is an ordinary one (its
//! own task, its own bounded outbound queue, `on_open` when it opens and `on_close` when it
//! ends); the supervisor publishes the open one in a mutex-guarded slot, and the handle's calls
//! take it from there. The mutex is taken once per call of a reconnecting client only: a plain
//! client's or a server's [`Peer`] matches on its link and goes straight to its connection's
//! channel, with no lock and no allocation more than before reconnection existed.
//!
//! What happens to a call depends on how far it got:
//! - handed to a connection that then ends: it fails with [`CallError::ConnectionClosed`], as
//!   on any client (the server may have run it; it is not sent twice);
//! - not handed over yet (no connection open, or waiting for room in the queue of a connection
//!   that then ends; nothing of it was written): with
//!   [`Reconnect::queue_while_disconnected`] it waits for the next connection within its
//!   timeout, otherwise it fails at once with [`CallError::ConnectionClosed`].

use std::future::Future;
use std::pin::pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use futures_channel::oneshot;
use futures_util::FutureExt;
use futures_util::future::{self, Either, Shared};
use jrpc_proto::{CallError, EncodedRequest};

use crate::answer;
use crate::outbound::Frame;
use crate::peer::{Start, Timer, deadline};
use crate::{Builder, ConnectError, Methods, Peer, Runtime};

/// How a client reconnects: exponential backoff with jitter, an optional limit of attempts,
/// and what calls made while disconnected do. Given to
/// [`Builder::reconnect`](crate::Builder::reconnect).
///
/// After a connection ends, the `n`-th attempt (from 0) waits
/// `min(max_delay, initial_delay × factor^n)`, less a random part of up to `jitter` of it (so
/// that many clients of a restarted server do not all dial at once), then dials. An attempt
/// that connects starts the count again. The defaults are `jrpc.js`'s: 1 s, ×2, at most 30 s,
/// jitter 0.5, attempts without limit, calls wait for the next connection.
///
/// ```
/// use std::time::Duration;
/// use jrpc_driver::Reconnect;
///
/// let reconnect = Reconnect::default()
///     .initial_delay(Duration::from_millis(250))
///     .max_delay(Duration::from_secs(5))
///     .max_attempts(Some(20))
///     .queue_while_disconnected(false);
/// assert_eq!(reconnect.delay(0, 0.0), Duration::from_millis(250));
/// assert_eq!(reconnect.delay(10, 0.0), Duration::from_secs(5));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Reconnect {
    initial_delay: Duration,
    max_delay: Duration,
    factor: f64,
    jitter: f64,
    max_attempts: Option<u32>,
    queue_while_disconnected: bool,
}

impl Default for Reconnect {
    fn default() -> Self {
        Self {
            initial_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(30),
            factor: 2.0,
            jitter: 0.5,
            max_attempts: None,
            queue_while_disconnected: true,
        }
    }
}

impl Reconnect {
    /// The wait before the first attempt after a connection ends (default 1 s).
    pub fn initial_delay(mut self, delay: Duration) -> Self {
        self.initial_delay = delay;
        self
    }

    /// The longest wait between attempts (default 30 s).
    pub fn max_delay(mut self, delay: Duration) -> Self {
        self.max_delay = delay;
        self
    }

    /// How much each failed attempt multiplies the wait by (default 2; at least 1).
    pub fn factor(mut self, factor: f64) -> Self {
        self.factor = if factor == f64::INFINITY {
            f64::MAX
        } else if factor >= 1.0 {
            factor
        } else {
            1.0
        };
        self
    }

    /// The largest part of each wait taken off at random, from 0 (none) to 1 (all of it)
    /// (default 0.5).
    pub fn jitter(mut self, jitter: f64) -> Self {
        self.jitter = if jitter.is_nan() {
            0.0
        } else {
            jitter.clamp(0.0, 1.0)
        };
        self
    }

    /// How many attempts in a row may fail before the client gives up (default `None`: it
    /// never does). Once it gives up, its calls fail with [`CallError::ConnectionClosed`] and
    /// [`Peer::closed`] resolves.
    pub fn max_attempts(mut self, attempts: Option<u32>) -> Self {
        self.max_attempts = attempts;
        self
    }

    /// What a call made while no connection is open does (default `true`):
    ///
    /// - `true`: it waits for the next connection, within its timeout
    ///   ([`Config::call_timeout`](crate::Config::call_timeout) or the one given to
    ///   [`Peer::request_with_timeout`]; for [`Peer::invoke`] and [`Peer::push`], the call
    ///   timeout), and fails with [`CallError::Timeout`] if none comes in time, or with
    ///   [`CallError::ConnectionClosed`] once the client gives up or is closed. So does a call
    ///   waiting for room in the queue of a connection that ends: nothing of it was sent, so it
    ///   moves to the next connection. This is what `jrpc.js` and socket.io do.
    /// - `false`: it fails at once with [`CallError::ConnectionClosed`], for callers that
    ///   rather drop or retry by themselves than wait.
    ///
    /// Either way a call already handed to a connection that ends fails with
    /// [`CallError::ConnectionClosed`] (it is never sent twice), and
    /// [`Peer::try_invoke`] and [`Peer::try_push`] never wait.
    pub fn queue_while_disconnected(mut self, wait: bool) -> Self {
        self.queue_while_disconnected = wait;
        self
    }

    /// The wait before attempt `attempt` (from 0), with `random` in `[0, 1)` drawing the
    /// jitter.
    pub fn delay(&self, attempt: u32, random: f64) -> Duration {
        let max = self.max_delay.as_secs_f64();
        let exponent = i32::try_from(attempt).unwrap_or(i32::MAX);
        let base = (self.initial_delay.as_secs_f64() * self.factor.powi(exponent)).min(max);
        let delay = base * (1.0 - self.jitter * random.clamp(0.0, 1.0));
        Duration::try_from_secs_f64(delay).unwrap_or(self.max_delay)
    }
}

/// What a reconnecting client's handles share with its supervisor: the connection open now.
pub(crate) struct Reconnecting {
    state: Mutex<State>,
    wait: bool,
}

struct State {
    /// The connection open now, if any (it may have just ended: its handle then says so).
    current: Option<Peer>,
    /// Resolves when the next connection opens; fails when the supervisor ends. Replaced at
    /// each opening, so that a call that found no connection never sees one already fired.
    next_open: Shared<oneshot::Receiver<()>>,
    /// Tells the supervisor that the user closed the client.
    stop: Option<oneshot::Sender<()>>,
    /// Closed by the user, or given up: calls fail at once.
    over: bool,
}

impl Reconnecting {
    fn state(&self) -> MutexGuard<'_, State> {
        // A few plain fields, consistent after every statement: take them as they are.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The connection open now, or [`CallError::ConnectionClosed`].
    pub(crate) fn current(&self) -> Result<Peer, CallError> {
        let state = self.state();
        match &state.current {
            Some(peer) if !state.over && !peer.is_closed() => Ok(peer.clone()),
            _ => Err(CallError::ConnectionClosed),
        }
    }

    /// The connection open now; when there is none, the next one (if calls wait for it).
    async fn connection(&self) -> Result<Peer, CallError> {
        loop {
            let next = {
                let state = self.state();
                if state.over {
                    return Err(CallError::ConnectionClosed);
                }
                if let Some(peer) = state.current.as_ref().filter(|p| !p.is_closed()) {
                    return Ok(peer.clone());
                }
                if !self.wait {
                    return Err(CallError::ConnectionClosed);
                }
                state.next_open.clone()
            };
            // Fired: a connection opened. Failed: the supervisor ended, and `over` says so.
            let _ = next.await;
        }
    }

    /// Hands `request` to a connection, waiting for one (and for room in its queue) within
    /// `timeout`; the answer then comes on the returned receiver.
    pub(crate) async fn start_call(
        &self,
        request: EncodedRequest,
        timeout: Option<Duration>,
        timer: &Timer,
    ) -> Result<answer::Receiver, CallError> {
        let deadline = deadline(timeout);
        let reach = async {
            let mut request = request;
            loop {
                let peer = self.connection().await?;
                let left = deadline.map(|at| at.saturating_duration_since(Instant::now()));
                match peer.start(request, left).await {
                    Start::Sent(answer) => return Ok(answer),
                    Start::Unsent(unsent) if self.wait => request = unsent,
                    Start::Unsent(_) => return Err(CallError::ConnectionClosed),
                    Start::Failed(e) => return Err(e),
                }
            }
        };
        within(deadline, timer, reach).await
    }

    /// Queues `frame` on a connection, waiting for one (and for room) until `deadline`.
    pub(crate) async fn push(
        &self,
        frame: &Frame,
        deadline: Option<Instant>,
        timer: &Timer,
    ) -> Result<(), CallError> {
        let reach = async {
            loop {
                let peer = self.connection().await?;
                let Some(direct) = peer.direct() else {
                    return Err(CallError::ConnectionClosed);
                };
                match direct.push(frame).await {
                    // Not queued: the connection ended first.
                    Err(CallError::ConnectionClosed) if self.wait => {}
                    other => return other,
                }
            }
        };
        within(deadline, timer, reach).await
    }

    /// The user closes the client: no more reconnecting, the open connection closes.
    pub(crate) fn close(&self) {
        let (stop, current) = {
            let mut state = self.state();
            state.over = true;
            (state.stop.take(), state.current.take())
        };
        if let Some(stop) = stop {
            let _ = stop.send(());
        }
        if let Some(peer) = current {
            peer.close();
        }
    }

    /// Whether the client was closed or gave up.
    pub(crate) fn is_over(&self) -> bool {
        self.state().over
    }
}

/// `future`'s output, or [`CallError::Timeout`] once `deadline` has passed.
async fn within<T>(
    deadline: Option<Instant>,
    timer: &Timer,
    future: impl Future<Output = Result<T, CallError>>,
) -> Result<T, CallError> {
    let Some(at) = deadline else {
        return future.await;
    };
    match future::select(pin!(future), timer(at)).await {
        Either::Left((output, _)) => output,
        Either::Right(_) => Err(CallError::Timeout),
    }
}

impl Reconnecting {
    /// Makes `peer` the connection open now, and wakes the calls and `on_open` hooks waiting
    /// for it; `opened` is replaced by the sender of the next opening. False when the client
    /// was closed meanwhile: `peer` is then not published.
    fn publish(&self, peer: &Peer, opened: &mut oneshot::Sender<()>) -> bool {
        let (next_opened, next_open) = oneshot::channel();
        {
            let mut state = self.state();
            if state.over {
                return false;
            }
            state.current = Some(peer.clone());
            state.next_open = next_open.shared();
        }
        let _ = std::mem::replace(opened, next_opened).send(());
        true
    }

    /// Resolves once `peer` is the published connection (or can no longer be): the gate of
    /// `on_open`, so that the handle already calls through the new connection when the hook
    /// runs (to subscribe again, say).
    async fn published(&self, peer: &Peer) {
        loop {
            let next = {
                let state = self.state();
                let current = state.current.as_ref().map(Peer::id);
                if state.over || current == Some(peer.id()) {
                    return;
                }
                state.next_open.clone()
            };
            if let Either::Right(_) = future::select(next, pin!(peer.closed())).await {
                return;
            }
        }
    }
}

/// Dials `url` for a client built with [`Builder::reconnect`], and spawns the supervisor that
/// dials again whenever a connection ends. The first dial's error is returned as is.
pub(crate) async fn connect<R, S>(
    mut builder: Builder<R, S>,
    url: &str,
    mut methods: Methods<S>,
    settings: Reconnect,
) -> Result<Peer, ConnectError>
where
    R: Runtime,
    S: Clone + Send + Sync + 'static,
{
    let (stop, stopped) = oneshot::channel();
    let (mut opened, next_open) = oneshot::channel();
    let link = Arc::new(Reconnecting {
        state: Mutex::new(State {
            current: None,
            next_open: next_open.shared(),
            stop: Some(stop),
            over: false,
        }),
        wait: settings.queue_while_disconnected,
    });
    let gate = link.clone();
    methods.gate_open(move |ctx| {
        let (link, peer) = (gate.clone(), ctx.peer().clone());
        async move { link.published(&peer).await }
    });
    let methods = Arc::new(methods);
    // Every connection of the client is in one registry of groups.
    builder.groups = Some(builder.groups_or_own());
    let first = match builder.open(url, &methods).await {
        Ok(first) => first,
        Err(e) => {
            link.state().over = true;
            return Err(e);
        }
    };
    link.publish(&first, &mut opened);
    let (closed, closed_rx) = oneshot::channel();
    let timer_rt = builder.runtime.clone();
    let timer: Timer = Box::new(move |at| timer_rt.sleep_until(at));
    let handle = Peer::reconnecting(&first, link.clone(), timer, closed_rx);
    let runtime = builder.runtime.clone();
    let supervisor = Supervisor {
        builder,
        url: url.to_owned(),
        methods,
        settings,
        link,
        stopped,
    };
    runtime.spawn(supervisor.run(first, opened, closed));
    Ok(handle)
}

/// The task that owns a reconnecting client's dialling loop.
struct Supervisor<R, S> {
    builder: Builder<R, S>,
    url: String,
    methods: Arc<Methods<S>>,
    settings: Reconnect,
    link: Arc<Reconnecting>,
    /// Fires when the user closes the client.
    stopped: oneshot::Receiver<()>,
}

impl<R: Runtime, S: Clone + Send + Sync + 'static> Supervisor<R, S> {
    /// Watches each connection until it ends, then dials again until one opens, the attempts
    /// run out, or the user closes the client. `opened` fires at each opening; dropping
    /// `closed` at the end resolves the handle's `closed()`.
    async fn run(
        mut self,
        mut current: Peer,
        mut opened: oneshot::Sender<()>,
        closed: oneshot::Sender<()>,
    ) {
        loop {
            if self.or_stop(current.closed()).await.is_none() || self.link.is_over() {
                break;
            }
            tracing::info!(url = %self.url, "connection lost; reconnecting");
            let Some(next) = self.redial().await else {
                break;
            };
            current = next;
            if !self.link.publish(&current, &mut opened) {
                break;
            }
        }
        {
            let mut state = self.link.state();
            state.over = true;
            state.current = None;
        }
        // Closed by the user (or meanwhile): the close frame goes out before `closed()`
        // resolves, as for any connection.
        current.close();
        current.closed().await;
        // Calls waiting for a connection fail now; then `closed()` resolves.
        drop(opened);
        drop(closed);
    }

    /// Dials with backoff until a connection opens; `None` once the attempts have run out or
    /// the user closed the client.
    async fn redial(&mut self) -> Option<Peer> {
        let runtime = self.builder.runtime.clone();
        for attempt in 0.. {
            if self.settings.max_attempts.is_some_and(|max| attempt >= max) {
                tracing::warn!(url = %self.url, attempts = attempt, "giving up reconnecting");
                return None;
            }
            let delay = self.settings.delay(attempt, fastrand::f64());
            self.or_stop(runtime.sleep_until(Instant::now() + delay))
                .await?;
            // A server that accepts and never answers the handshake must not hold the loop.
            let deadline = Instant::now() + self.builder.config.handshake_timeout;
            let dial = self.builder.open(&self.url, &self.methods);
            let dialled = match future::select(pin!(dial), runtime.sleep_until(deadline)).await {
                Either::Left((dialled, _)) => dialled,
                Either::Right(_) => {
                    tracing::debug!(url = %self.url, attempt, "reconnect handshake timed out");
                    continue;
                }
            };
            match dialled {
                Ok(peer) => {
                    tracing::info!(url = %self.url, attempt, "reconnected");
                    return Some(peer);
                }
                Err(e) => tracing::debug!(url = %self.url, attempt, error = %e, "reconnect failed"),
            }
        }
        None
    }

    /// `future`'s output, or `None` if the user closes the client first.
    async fn or_stop<F: Future>(&mut self, future: F) -> Option<F::Output> {
        match future::select(pin!(future), &mut self.stopped).await {
            Either::Left((output, _)) => Some(output),
            Either::Right(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_by_the_factor_up_to_the_cap() {
        let settings = Reconnect::default()
            .initial_delay(Duration::from_millis(100))
            .max_delay(Duration::from_secs(1))
            .factor(3.0);
        let delays: Vec<u128> = (0..5).map(|n| settings.delay(n, 0.0).as_millis()).collect();
        assert_eq!(delays, [100, 300, 900, 1000, 1000]);
        assert_eq!(settings.delay(u32::MAX, 0.0), Duration::from_secs(1));
    }

    #[test]
    fn jitter_takes_off_at_most_its_share() {
        let settings = Reconnect::default().jitter(0.5);
        assert_eq!(settings.delay(0, 0.0), Duration::from_secs(1));
        assert_eq!(settings.delay(0, 1.0), Duration::from_millis(500));
        assert_eq!(
            Reconnect::default().jitter(7.0).delay(0, 1.0),
            Duration::ZERO
        );
        assert_eq!(
            Reconnect::default().jitter(f64::NAN).delay(0, 1.0),
            Duration::from_secs(1)
        );
    }

    #[test]
    fn unusable_factors_are_clamped() {
        for factor in [0.5, -1.0, f64::NAN] {
            let settings = Reconnect::default().factor(factor).jitter(0.0);
            assert_eq!(settings.delay(5, 0.0), Duration::from_secs(1), "{factor}");
        }
        let settings = Reconnect::default().factor(f64::INFINITY).jitter(0.0);
        assert_eq!(settings.delay(2, 0.0), Duration::from_secs(30));
    }
}
