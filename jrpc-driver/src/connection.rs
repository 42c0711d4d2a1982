//! Where a socket is read and written: one task per connection owns its endpoint and its
//! WebSocket, feeds inbound messages to the endpoint, starts methods as tasks of their own,
//! and writes every ready frame with one flush per batch (per wake-up, not per message).

use std::collections::HashMap;
use std::future::poll_fn;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Instant;

use futures_channel::{mpsc, oneshot};
use futures_util::future::{self, Either, Shared};
use futures_util::{FutureExt, SinkExt, StreamExt};
use jrpc_proto::{CallError, CallId, Diagnostic, Endpoint, Event, Params, Responder, RpcError};
use serde_json::Value;
use tracing::Instrument;
use tungstenite::Message;
use tungstenite::error::{CapacityError, Error as WsError};
use tungstenite::protocol::CloseFrame;
use tungstenite::protocol::frame::coding::CloseCode;

use crate::handler::{Ctx, Reply};
use crate::observe::{CloseReason, Observer, Role, Timing};
use crate::peer::Command;
use crate::runtime::{Runtime, Sleep, WebSocket};
use crate::{Config, Methods, Peer};

/// Most inputs (messages and commands) handled in one wake-up before the task yields to others.
const BUDGET: usize = 128;

/// A signal that the server is shutting down: when it fires, the connection stops reading,
/// lets running methods finish until the grace deadline it carries, and closes with 1001.
pub(crate) type ShutdownSignal = Shared<oneshot::Receiver<Instant>>;

/// What ties a connection to its server: the shutdown signal, and a tracker the connection
/// holds until it has closed, so that shutdown can wait for every connection.
pub(crate) struct ServerLink {
    pub(crate) signal: ShutdownSignal,
    pub(crate) tracker: mpsc::Sender<()>,
}

/// Why a connection ends, and so which close frame (if any) it sends.
#[derive(Debug)]
enum Ending {
    /// The peer closed, or the socket failed: nothing more to send.
    Gone(Option<WsError>),
    /// A message over the size limit: close with 1009.
    TooLarge(String),
    /// [`Peer::close`]: close with 1000.
    Closed,
    /// Server shutdown: close with 1001.
    GoingAway,
}

impl Ending {
    /// The reason logged and counted, and what more there is to say.
    fn reason(&self) -> (CloseReason, Option<&dyn std::fmt::Display>) {
        match self {
            Ending::Gone(None) => (CloseReason::PeerClosed, None),
            Ending::Gone(Some(e)) => (CloseReason::Lost, Some(e)),
            Ending::TooLarge(why) => (CloseReason::TooLarge, Some(why)),
            Ending::Closed => (CloseReason::Closed, None),
            Ending::GoingAway => (CloseReason::Shutdown, None),
        }
    }
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Starts the task that drives one WebSocket, and returns the handle to its peer.
pub(crate) fn spawn<R: Runtime, W: WebSocket, S: Clone + Send + Sync + 'static>(
    rt: &R,
    socket: W,
    methods: Arc<Methods<S>>,
    state: S,
    config: &Config,
    remote_addr: Option<SocketAddr>,
    server: Option<ServerLink>,
) -> Peer {
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let (peer, commands, closed) = Peer::new(id, remote_addr, config.call_timeout);
    let ctx = Ctx {
        peer: peer.clone(),
        state,
    };
    let role = if server.is_some() {
        Role::Server
    } else {
        Role::Client
    };
    let obs = Observer::new(role, id, remote_addr);
    let span = obs.span().clone();
    if let Some(hook) = methods.open_hook() {
        rt.spawn(hook(ctx.clone()).instrument(span.clone()));
    }
    let connection = Connection {
        rt: rt.clone(),
        socket,
        endpoint: Endpoint::new(config.endpoint.clone()),
        commands,
        calls: HashMap::new(),
        methods,
        ctx,
        in_flight: 0,
        max_in_flight: config.max_in_flight,
        timer: None,
        flush_needed: false,
        shutdown: server.as_ref().map(|link| link.signal.clone()),
        tracker: server.map(|link| link.tracker),
        grace: None,
        close_timeout: config.close_timeout,
        obs,
    };
    rt.spawn(connection.run(closed).instrument(span));
    peer
}

struct Connection<R: Runtime, W, S> {
    rt: R,
    socket: W,
    endpoint: Endpoint,
    commands: mpsc::UnboundedReceiver<Command>,
    /// Who waits for each of our calls.
    calls: HashMap<CallId, oneshot::Sender<Result<Value, CallError>>>,
    methods: Arc<Methods<S>>,
    ctx: Ctx<S>,
    /// Methods started and not yet finished.
    in_flight: usize,
    max_in_flight: usize,
    /// The endpoint's next deadline and the timer set for it.
    timer: Option<(Instant, Sleep)>,
    flush_needed: bool,
    shutdown: Option<ShutdownSignal>,
    /// Dropped when this connection has closed.
    #[allow(dead_code)]
    tracker: Option<mpsc::Sender<()>>,
    /// Set once shutdown began: running methods may finish until then.
    grace: Option<(Instant, Sleep)>,
    close_timeout: std::time::Duration,
    /// Logs and figures.
    obs: Observer,
}

impl<R: Runtime, W: WebSocket, S: Clone + Send + Sync + 'static> Connection<R, W, S> {
    async fn run(mut self, closed: oneshot::Sender<()>) {
        self.obs.opened();
        let ending = poll_fn(|cx| self.poll_step(cx)).await;
        // Every outstanding call fails at once; answers produced later are dropped.
        self.endpoint.close();
        self.dispatch_events();
        self.commands.close();
        let frame = match &ending {
            Ending::Gone(_) => None,
            Ending::TooLarge(reason) => Some(close_frame(CloseCode::Size, reason)),
            Ending::Closed => Some(close_frame(CloseCode::Normal, "")),
            Ending::GoingAway => Some(close_frame(CloseCode::Away, "server shutting down")),
        };
        if let Some(frame) = frame {
            self.send_close(frame).await;
        }
        let (reason, detail) = ending.reason();
        self.obs.closed(reason, detail);
        // Peer::closed() resolves once the close frame is out, so a program may exit then.
        drop(closed);
        if let Some(hook) = self.methods.close_hook() {
            self.rt.spawn(hook(self.ctx.clone()));
        }
    }

    /// Sends the close frame and waits, a bounded time, for the peer's.
    async fn send_close(&mut self, frame: CloseFrame) {
        let deadline = self.rt.sleep_until(Instant::now() + self.close_timeout);
        let socket = &mut self.socket;
        let handshake = async move {
            if socket.send(Message::Close(Some(frame))).await.is_err() {
                return;
            }
            while let Some(Ok(_)) = socket.next().await {}
        };
        let handshake = std::pin::pin!(handshake);
        if let Either::Right(_) = future::select(handshake, deadline).await {
            tracing::debug!(peer = self.ctx.peer.id(), "peer did not answer the close");
        }
    }

    /// Handles whatever is ready; returns once the connection must end.
    ///
    /// Each turn takes the commands, then every message the socket has ready (each request
    /// started as it comes, in arrival order), then feeds the answers to the socket; the flush
    /// comes once, when nothing more is ready (or the budget is spent), so that a batch of
    /// requests costs one write, not one per answer.
    fn poll_step(&mut self, cx: &mut Context<'_>) -> Poll<Ending> {
        let mut inputs = 0;
        // Once the socket said Pending it is not asked again in this wake-up: its waker is set,
        // and on some runtimes (async-io) each asking costs a read and an epoll_ctl.
        let mut read_pending = false;
        let mut first = true;
        loop {
            let mut progress = false;

            while inputs < BUDGET {
                let Poll::Ready(Some(command)) = self.commands.poll_next_unpin(cx) else {
                    break;
                };
                if let Some(ending) = self.apply(command) {
                    return Poll::Ready(ending);
                }
                inputs += 1;
                progress = true;
            }

            if let Some(ending) = self.poll_shutdown(cx, first) {
                return Poll::Ready(ending);
            }
            first = false;

            if let Some((_, sleep)) = &mut self.timer {
                if sleep.poll_unpin(cx).is_ready() {
                    self.timer = None;
                    self.endpoint.handle_timeout(Instant::now());
                    progress = true;
                }
            }

            while !read_pending && inputs < BUDGET && self.may_read() {
                let ending = match self.socket.poll_next_unpin(cx) {
                    Poll::Ready(Some(Ok(message))) => self.receive(message),
                    Poll::Ready(Some(Err(e))) => Some(ending_for(e)),
                    Poll::Ready(None) => return Poll::Ready(Ending::Gone(None)),
                    Poll::Pending => {
                        read_pending = true;
                        break;
                    }
                };
                if let Some(ending) = ending {
                    if let Ending::TooLarge(_) = ending {
                        // The answers to the messages before it go out ahead of the close frame.
                        let _ = self.feed(cx);
                    }
                    return Poll::Ready(ending);
                }
                // Started now, so that `may_read` counts what this message started.
                self.dispatch_events();
                inputs += 1;
                progress = true;
            }

            self.dispatch_events();

            // Paused, reading gets no wake-up: if the feed makes room, go round to read.
            let paused = !self.may_read();
            if let Err(e) = self.feed(cx) {
                return Poll::Ready(Ending::Gone(Some(e)));
            }
            if paused && self.may_read() {
                progress = true;
            }
            self.arm_timer(cx);

            if !progress || inputs >= BUDGET {
                if let Err(e) = self.flush(cx) {
                    return Poll::Ready(Ending::Gone(Some(e)));
                }
                self.obs.flush();
                // A flush may have been all that a shutting-down connection waited for.
                if let Some(ending) = self.poll_shutdown(cx, false) {
                    return Poll::Ready(ending);
                }
                if progress {
                    // Out of budget with work left: let other tasks run, then come back.
                    cx.waker().wake_by_ref();
                }
                return Poll::Pending;
            }
        }
    }

    /// Reading pauses while the peer's requests fill the in-flight limit, while answers wait
    /// for a socket that does not take them, and once shutdown began.
    fn may_read(&self) -> bool {
        self.in_flight < self.max_in_flight
            && self.endpoint.queued_transmits() < self.max_in_flight
            && self.grace.is_none()
    }

    fn apply(&mut self, command: Command) -> Option<Ending> {
        match command {
            Command::Call {
                method,
                params,
                timeout,
                done,
            } => {
                let mut result = self
                    .endpoint
                    .call(&method, &params, Instant::now(), timeout);
                if let Err(CallError::TooManyOutstanding { .. }) = result {
                    // Callers that gave up (dropped their future) may still hold slots.
                    if self.forget_abandoned_calls() {
                        result = self
                            .endpoint
                            .call(&method, &params, Instant::now(), timeout);
                    }
                }
                match result {
                    Ok(id) => {
                        self.calls.insert(id, done);
                    }
                    Err(e) => {
                        let _ = done.send(Err(e));
                    }
                }
            }
            Command::Notify {
                method,
                params,
                done,
            } => {
                let _ = done.send(self.endpoint.notify(&method, &params));
            }
            Command::Answer { responder, result } => {
                self.in_flight -= 1;
                if let Some(responder) = responder {
                    self.endpoint.reply(responder, result);
                }
            }
            Command::Close => return Some(Ending::Closed),
        }
        None
    }

    /// Cancels the calls whose caller dropped its future; true if any slot was freed.
    fn forget_abandoned_calls(&mut self) -> bool {
        let endpoint = &mut self.endpoint;
        let before = self.calls.len();
        self.calls.retain(|id, done| {
            if done.is_canceled() {
                endpoint.cancel(*id);
                false
            } else {
                true
            }
        });
        self.calls.len() < before
    }

    /// Whether shutdown has come and this connection may close now. The signal itself is
    /// asked only when `ask_signal` (once per wake-up: its waker is then set, and asking costs
    /// a lock).
    fn poll_shutdown(&mut self, cx: &mut Context<'_>, ask_signal: bool) -> Option<Ending> {
        if let Some(signal) = self.shutdown.as_mut().filter(|_| ask_signal) {
            if let Poll::Ready(deadline) = signal.poll_unpin(cx) {
                self.shutdown = None;
                // A dropped signal (server gone without a shutdown) means no grace at all.
                let deadline = deadline.unwrap_or_else(|_| Instant::now());
                self.grace = Some((deadline, self.rt.sleep_until(deadline)));
            }
        }
        let (_, sleep) = self.grace.as_mut()?;
        let idle =
            self.in_flight == 0 && self.endpoint.queued_transmits() == 0 && !self.flush_needed;
        if idle || sleep.poll_unpin(cx).is_ready() {
            return Some(Ending::GoingAway);
        }
        None
    }

    fn receive(&mut self, message: Message) -> Option<Ending> {
        let result = match &message {
            Message::Text(text) => {
                self.obs.received(text.len());
                self.endpoint.handle_text(text.as_str())
            }
            Message::Binary(bytes) => {
                self.obs.received(bytes.len());
                self.endpoint.handle_frame(bytes)
            }
            // tungstenite answers pings and close frames itself; the stream ends after a close.
            Message::Close(frame) => {
                self.obs
                    .peer_closing(frame.as_ref().map(|f| u16::from(f.code)));
                Ok(())
            }
            Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => Ok(()),
        };
        result.err().map(|e| Ending::TooLarge(e.to_string()))
    }

    fn dispatch_events(&mut self) {
        while let Some(event) = self.endpoint.poll_event() {
            match event {
                Event::Request(request) => {
                    self.start(request.method, request.params, Some(request.responder))
                }
                Event::Notification(n) => self.start(n.method, n.params, None),
                Event::Outcome(outcome) => {
                    if let Some(done) = self.calls.remove(&outcome.id) {
                        // The caller may have given up; its answer then has nowhere to go.
                        let _ = done.send(outcome.result);
                    }
                }
                Event::Diagnostic(diagnostic) => report(self.ctx.peer.id(), &diagnostic),
            }
        }
    }

    /// Starts a method: runs it here, in the order requests arrive (the protocol's "started in
    /// the order they arrive"), up to its first suspension. A method that finishes at once is
    /// answered at once; one that suspends goes on as a task of its own, so that it may call
    /// back into this connection. (Spawning every method instead would leave the start order to
    /// the runtime's scheduler, which on a multi-thread runtime does not keep it.)
    fn start(&mut self, method: String, params: Params, responder: Option<Responder>) {
        let Some(handler) = self.methods.get(&method) else {
            self.obs.not_found(&method, responder.is_none());
            match responder {
                Some(responder) => self
                    .endpoint
                    .reply(responder, Err(RpcError::method_not_found(&method))),
                None => tracing::warn!(
                    peer = self.ctx.peer.id(),
                    method,
                    "notification for an unknown method"
                ),
            }
            return;
        };
        let timing = self.obs.call_starting();
        let ctx = &self.ctx;
        let reply = std::panic::catch_unwind(AssertUnwindSafe(|| handler(ctx, params)));
        let mut future = match reply {
            Ok(Reply::Ready(result)) => return self.finish(&method, responder, timing, result),
            Ok(Reply::Pending(future)) => future,
            Err(panic) => {
                let result = Err(panicked(&method, panic.as_ref()));
                return self.finish(&method, responder, timing, result);
            }
        };
        // The first poll needs no waker: the task spawned below polls the future again at once.
        let mut first = Context::from_waker(futures_util::task::noop_waker_ref());
        match std::panic::catch_unwind(AssertUnwindSafe(|| future.poll_unpin(&mut first))) {
            Ok(Poll::Ready(result)) => return self.finish(&method, responder, timing, result),
            Ok(Poll::Pending) => {}
            Err(panic) => {
                let result = Err(panicked(&method, panic.as_ref()));
                return self.finish(&method, responder, timing, result);
            }
        }
        self.in_flight += 1;
        let peer = self.ctx.peer.clone();
        let probe = self.obs.call_suspended(&method, timing);
        let task = async move {
            let result = AssertUnwindSafe(future)
                .catch_unwind()
                .await
                .unwrap_or_else(|panic| Err(panicked(&method, panic.as_ref())));
            probe.finished(&method, responder.is_none(), &result);
            if responder.is_none() {
                if let Err(e) = &result {
                    tracing::warn!(peer = peer.id(), method, error = %e, "notification failed");
                }
            }
            // The connection may be gone; its answer is then dropped, as the protocol says.
            let _ = peer.send(Command::Answer { responder, result });
        };
        self.rt.spawn(task.instrument(self.obs.span().clone()));
    }

    /// Answers a method that finished while being started (a notification's outcome is only
    /// reported locally).
    fn finish(
        &mut self,
        method: &str,
        responder: Option<Responder>,
        timing: Option<Timing>,
        result: Result<Value, RpcError>,
    ) {
        self.obs
            .call_finished(method, responder.is_none(), timing, &result);
        match responder {
            Some(responder) => self.endpoint.reply(responder, result),
            None => {
                if let Err(e) = &result {
                    tracing::warn!(peer = self.ctx.peer.id(), method, error = %e, "notification failed");
                }
            }
        }
    }

    /// Feeds every queued frame the socket takes (tungstenite buffers them, writing to the
    /// socket only past its write buffer size).
    fn feed(&mut self, cx: &mut Context<'_>) -> Result<(), WsError> {
        while self.endpoint.queued_transmits() > 0 {
            match self.socket.poll_ready_unpin(cx) {
                Poll::Ready(Ok(())) => {
                    if let Some(frame) = self.endpoint.poll_transmit() {
                        self.obs.sent(frame.len());
                        self.socket.start_send_unpin(Message::text(frame))?;
                        self.flush_needed = true;
                    }
                }
                Poll::Ready(Err(e)) => return Err(e),
                Poll::Pending => break,
            }
        }
        Ok(())
    }

    /// Flushes what was fed: once per batch.
    fn flush(&mut self, cx: &mut Context<'_>) -> Result<(), WsError> {
        if self.flush_needed {
            if let Poll::Ready(result) = self.socket.poll_flush_unpin(cx) {
                result?;
                self.flush_needed = false;
            }
        }
        Ok(())
    }

    /// Keeps a timer set for the endpoint's next deadline.
    fn arm_timer(&mut self, cx: &mut Context<'_>) {
        let next = self.endpoint.poll_timeout();
        if self.timer.as_ref().map(|(at, _)| *at) == next {
            return;
        }
        self.timer = next.map(|at| (at, self.rt.sleep_until(at)));
        if let Some((_, sleep)) = &mut self.timer {
            if sleep.poll_unpin(cx).is_ready() {
                self.timer = None;
                self.endpoint.handle_timeout(Instant::now());
                self.dispatch_events();
                cx.waker().wake_by_ref();
            }
        }
    }
}

fn close_frame(code: CloseCode, reason: &str) -> CloseFrame {
    CloseFrame {
        code,
        reason: reason.to_owned().into(),
    }
}

fn ending_for(error: WsError) -> Ending {
    match error {
        WsError::Capacity(CapacityError::MessageTooLong { size, max_size }) => Ending::TooLarge(
            format!("message of {size} bytes exceeds the limit of {max_size} bytes"),
        ),
        other => Ending::Gone(Some(other)),
    }
}

fn panicked(method: &str, panic: &(dyn std::any::Any + Send)) -> RpcError {
    let message = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned());
    tracing::error!(method, panic = %message, "method panicked");
    RpcError::internal(format!("method '{method}' panicked: {message}"))
}

fn report(peer: u64, diagnostic: &Diagnostic) {
    match diagnostic {
        Diagnostic::Malformed { reason } => tracing::warn!(peer, reason, "malformed message"),
        Diagnostic::InvalidRequest { id, reason } => {
            tracing::warn!(peer, ?id, reason, "invalid request")
        }
        Diagnostic::UnknownResponse { id } => {
            tracing::debug!(peer, %id, "response to no outstanding call")
        }
        Diagnostic::ReplyTooLarge { id, size, limit } => {
            tracing::warn!(peer, %id, size, limit, "answer too large, sent InternalError")
        }
    }
}
