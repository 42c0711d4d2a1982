//! Where a socket is read and written: one task per connection owns its endpoint and its
//! WebSocket, feeds inbound messages to the endpoint, starts methods as tasks of their own,
//! and writes every ready frame with one flush per batch (per wake-up, not per message).

use std::borrow::Cow;
use std::collections::VecDeque;
use std::future::poll_fn;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use futures_channel::{mpsc, oneshot};
use futures_util::future::{self, Either};
use futures_util::{FutureExt, SinkExt, StreamExt};
use jrpc_proto::{Args, Diagnostic, Endpoint, Event, Responder, RpcError};
use tracing::Instrument;
use tungstenite::error::{CapacityError, Error as WsError};
use tungstenite::protocol::CloseFrame;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::{Bytes, Message, Utf8Bytes};

use crate::answer;
use crate::handler::{Answer, Ctx, Reply};
use crate::methods::LastMethod;
use crate::observe::{CloseReason, Observer, Role, Started};
use crate::outbound::{Entry, Outbound};
use crate::peer::{Command, PeerParts};
use crate::runtime::{Runtime, Sleep, WebSocket};
use crate::shutdown::ShutdownSignal;
use crate::{Config, Groups, Methods, Peer};

/// Most inputs (messages and commands) handled in one wake-up before the task yields to others.
const BUDGET: usize = 128;

/// Bytes of messages read, past which the answers ready go to the socket before more is read.
/// Small messages are read in batches of up to [`BUDGET`] (one write for all their answers);
/// a large one's answer, written only once the messages behind it were read and handled too,
/// would leave a peer with a few calls in flight waiting while the socket holds their bytes.
const PASS_BYTES: usize = 64 * 1024;

/// What ties a connection to its server: the shutdown signal, a tracker the connection
/// holds until it has closed, so that shutdown can wait for every connection, and the values
/// its handshake attached.
pub(crate) struct ServerLink {
    pub(crate) signal: ShutdownSignal,
    pub(crate) tracker: mpsc::Sender<()>,
    pub(crate) locals: crate::Locals,
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
    /// The outbound queue stayed full past the slow-consumer timeout: close with 1008.
    SlowConsumer(Duration),
    /// Nothing came from the peer within the ping timeout: close with 1001.
    HeartbeatTimeout,
}

impl Ending {
    /// The reason logged and counted, and what more there is to say.
    fn reason(&self) -> (CloseReason, Option<String>) {
        match self {
            Ending::Gone(None) => (CloseReason::PeerClosed, None),
            Ending::Gone(Some(e)) => (CloseReason::Lost, Some(e.to_string())),
            Ending::TooLarge(why) => (CloseReason::TooLarge, Some(why.clone())),
            Ending::Closed => (CloseReason::Closed, None),
            Ending::GoingAway => (CloseReason::Shutdown, None),
            Ending::SlowConsumer(full_for) => (
                CloseReason::SlowConsumer,
                Some(format!("outbound queue full for {full_for:?}")),
            ),
            Ending::HeartbeatTimeout => (
                CloseReason::HeartbeatTimeout,
                Some("nothing from the peer within the ping timeout".to_owned()),
            ),
        }
    }
}

/// Close code of a connection dropped as a slow consumer: its outbound queue stayed full past
/// [`Config::slow_consumer_timeout`] (1008, "policy violation").
pub const CLOSE_SLOW_CONSUMER: u16 = 1008;

/// Close code of a connection dropped because its peer fell silent: nothing arrived within
/// [`Config::ping_timeout`] of a ping (1001, "going away": from here, the peer has gone).
pub const CLOSE_HEARTBEAT_TIMEOUT: u16 = 1001;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Starts the task that drives one WebSocket, and returns the handle to its peer.
#[allow(clippy::too_many_arguments)] // What a connection is made of, each from its owner.
pub(crate) fn spawn<R: Runtime, W: WebSocket, S: Clone + Send + Sync + 'static>(
    rt: &R,
    socket: W,
    methods: Arc<Methods<S>>,
    state: S,
    config: &Config,
    remote_addr: Option<SocketAddr>,
    server: Option<ServerLink>,
    groups: &Groups,
) -> Peer {
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let outbound = Arc::new(Outbound::new(config.max_queued));
    let timer_rt = rt.clone();
    let (peer, commands, closed) = Peer::new(PeerParts {
        id,
        remote_addr,
        outbound: outbound.clone(),
        timer: Box::new(move |at| timer_rt.sleep_until(at)),
        default_timeout: config.call_timeout,
        max_message: config.max_message,
        groups: groups.clone(),
    });
    let server = server.map(|link| {
        peer.adopt(link.locals);
        (link.signal, link.tracker)
    });
    groups.connect(&peer);
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
    let now = Instant::now();
    let connection = Connection {
        rt: rt.clone(),
        socket,
        endpoint: Endpoint::new(config.endpoint.clone()),
        commands,
        calls: answer::Waiting::default(),
        methods,
        last_method: LastMethod::default(),
        ctx,
        in_flight: 0,
        max_in_flight: config.max_in_flight,
        out: VecDeque::new(),
        chunks: Chunks::default(),
        spare: Spare::default(),
        entries: VecDeque::new(),
        own_bytes: 0,
        own_frames: 0,
        released: (0, 0),
        outbound,
        slow_consumer_timeout: config.slow_consumer_timeout,
        heartbeat: config.ping_interval.map(|interval| Heartbeat {
            interval,
            timeout: config.ping_timeout,
            next_ping: now + interval,
            silent_since_ping: None,
            ping_due: false,
        }),
        timer: None,
        flush_needed: false,
        now: None,
        deferral: Deferral::default(),
        shutdown: server.as_ref().map(|(signal, _)| signal.clone()),
        tracker: server.map(|(_, tracker)| tracker),
        grace: None,
        close_timeout: config.close_timeout,
        obs,
    };
    rt.spawn(connection.run(closed).instrument(span));
    peer
}

/// A frame waiting for the socket, in write order.
struct Queued {
    text: Utf8Bytes,
    /// Bytes reserved for it in the shared [`Outbound`] by its producer, given back once the
    /// socket has taken it; 0 for our answers, which the task counts itself.
    charge: usize,
}

/// The connection's heartbeat: a ping every interval; silence for the timeout after one ends
/// the connection.
struct Heartbeat {
    interval: Duration,
    timeout: Duration,
    next_ping: Instant,
    /// Set when a ping is sent and nothing has arrived since: the deadline is this plus the
    /// timeout. Cleared by every inbound message, pongs included.
    silent_since_ping: Option<Instant>,
    /// A ping waits for the socket.
    ping_due: bool,
}

impl Heartbeat {
    fn next_deadline(&self) -> Instant {
        match self.silent_since_ping {
            Some(sent) => (sent + self.timeout).min(self.next_ping),
            None => self.next_ping,
        }
    }
}

struct Connection<R: Runtime, W, S> {
    rt: R,
    socket: W,
    endpoint: Endpoint,
    commands: mpsc::UnboundedReceiver<Command>,
    /// Who waits for each of our calls, by the endpoint's slot of the call.
    calls: answer::Waiting,
    methods: Arc<Methods<S>>,
    /// The method called last, found again without the table.
    last_method: LastMethod<S>,
    ctx: Ctx<S>,
    /// Methods started and not yet finished.
    in_flight: usize,
    max_in_flight: usize,
    /// Every frame waiting for the socket, in the order it must be written.
    out: VecDeque<Queued>,
    /// Where small answers are copied to become messages.
    chunks: Chunks,
    /// The last large answer's buffer, on its way back to the endpoint.
    spare: Spare,
    /// Producers' calls and pushes taken from `outbound`, not yet applied.
    entries: VecDeque<Entry>,
    /// Bytes and frames of our answers in `out` (producers' frames are counted in `outbound`).
    own_bytes: usize,
    own_frames: usize,
    /// Room of producers' frames the socket took in this wake-up: given back once, at its end.
    released: (usize, usize),
    outbound: Arc<Outbound>,
    slow_consumer_timeout: Duration,
    heartbeat: Option<Heartbeat>,
    /// The earliest deadline (a call's, the heartbeat's, the slow consumer's) and its timer.
    timer: Option<(Instant, Sleep)>,
    flush_needed: bool,
    /// The time of this wake-up, read once for all the calls it starts (a clock read per call
    /// cost about 2% of a pipelining client's time).
    now: Option<Instant>,
    /// Whether a wake-up that answered our calls ends without its flush (see [`Deferral`]).
    deferral: Deferral,
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
        // Every outstanding call fails at once; answers produced later are dropped. What was
        // queued before a close by our side (`Peer::close`, shutdown) still goes out ahead of
        // the close frame; a peer dropped for its own fault gets nothing more.
        self.endpoint.close();
        self.dispatch_events();
        self.commands.close();
        self.outbound.close();
        // Calls taken and not yet applied fail now, as those still queued did.
        self.entries.clear();
        if !matches!(ending, Ending::Closed | Ending::GoingAway) {
            self.out.clear();
        }
        // Out of its groups before anyone hears it closed (`closed()`, `on_close`).
        self.ctx.peer.groups().disconnect(&self.ctx.peer);
        let frame = match &ending {
            Ending::Gone(_) => None,
            Ending::TooLarge(reason) => Some(close_frame(CloseCode::Size, reason)),
            Ending::Closed => Some(close_frame(CloseCode::Normal, "")),
            Ending::GoingAway => Some(close_frame(CloseCode::Away, "server shutting down")),
            Ending::SlowConsumer(full_for) => {
                let reason = format!(
                    "slow consumer: outbound queue full for {} ms",
                    full_for.as_millis()
                );
                Some(close_frame(CloseCode::from(CLOSE_SLOW_CONSUMER), &reason))
            }
            Ending::HeartbeatTimeout => Some(close_frame(
                CloseCode::from(CLOSE_HEARTBEAT_TIMEOUT),
                "heartbeat timeout",
            )),
        };
        if let Some(frame) = frame {
            let deadline = Instant::now() + self.close_timeout;
            // Boxed: the closing handshake and the linger hold a socket and timers of their
            // own, and unboxed they would make every connection's task that much larger for
            // its whole life (tokio keeps a task's future in one allocation).
            let answered = Box::pin(self.send_close(frame, deadline)).await;
            // Without the peer's close, input may be left unread (a silent peer sends none).
            if !answered && !matches!(ending, Ending::HeartbeatTimeout) {
                Box::pin(R::linger(self.socket, self.close_timeout)).await;
            }
        }
        let (reason, detail) = ending.reason();
        self.obs.closed(reason, detail.as_deref());
        // Peer::closed() resolves once the close frame is out, so a program may exit then.
        drop(closed);
        if let Some(hook) = self.methods.close_hook() {
            self.rt.spawn(hook(self.ctx.clone()));
        }
    }

    /// Sends what is still queued, then the close frame, and waits until `deadline` for the
    /// peer's; true if it came (the peer has stopped sending: nothing is left unread).
    async fn send_close(&mut self, frame: CloseFrame, deadline: Instant) -> bool {
        let timer = self.rt.sleep_until(deadline);
        let (socket, obs) = (&mut self.socket, &mut self.obs);
        let queued = std::mem::take(&mut self.out);
        let handshake = async move {
            for Queued { text, .. } in queued {
                obs.sent(text.len());
                if socket.feed(Message::Text(text)).await.is_err() {
                    return false;
                }
            }
            if socket.send(Message::Close(Some(frame))).await.is_err() {
                return false;
            }
            let mut answered = false;
            while let Some(Ok(message)) = socket.next().await {
                answered |= matches!(message, Message::Close(_));
            }
            answered
        };
        let handshake = std::pin::pin!(handshake);
        match future::select(handshake, timer).await {
            Either::Left((clean, _)) => clean,
            Either::Right(_) => {
                tracing::debug!(peer = self.ctx.peer.id(), "peer did not answer the close");
                false
            }
        }
    }

    /// Handles whatever is ready; returns once the connection must end.
    ///
    /// Each turn takes the commands, then every message the socket has ready (each request
    /// started as it comes, in arrival order) up to [`PASS_BYTES`], then feeds the queued
    /// frames to the socket; the flush comes once, when nothing more is ready (or the budget is
    /// spent), so that a batch of requests costs one write, not one per answer, or at the end
    /// of a turn that read [`PASS_BYTES`], so that large answers do not wait for what follows.
    fn poll_step(&mut self, cx: &mut Context<'_>) -> Poll<Ending> {
        let mut inputs = 0;
        // Once the socket said Pending it is not asked again in this wake-up: its waker is set,
        // and on some runtimes (async-io) each asking costs a read and an epoll_ctl.
        let mut read_pending = false;
        // The same for the commands: once they said Pending (or ended), a command sent later
        // wakes the task again.
        let mut commands_pending = false;
        let mut first = true;
        // Producers wake this task when entries come to an empty queue, and when the queue
        // becomes full (slow-consumer timer): registered before the queue is looked at.
        self.outbound.register_task(cx.waker());
        self.now = None;
        loop {
            let mut progress = false;

            while inputs < BUDGET {
                if self.entries.is_empty() {
                    self.outbound.take_entries(&mut self.entries);
                }
                let Some(entry) = self.entries.pop_front() else {
                    break;
                };
                self.apply_entry(entry);
                self.deferral.applied += 1;
                inputs += 1;
                progress = true;
            }
            while !commands_pending && inputs < BUDGET {
                let Poll::Ready(Some(command)) = self.commands.poll_next_unpin(cx) else {
                    commands_pending = true;
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
                    if let Some(ending) = self.handle_time(Instant::now()) {
                        return Poll::Ready(ending);
                    }
                    progress = true;
                }
            }

            // Bytes of the messages read in this pass: past `PASS_BYTES`, the pass ends.
            let mut read = 0;
            while !read_pending && inputs < BUDGET && read < PASS_BYTES && self.may_read() {
                let ending = match self.socket.poll_next_unpin(cx) {
                    Poll::Ready(Some(Ok(message))) => {
                        read += message.len();
                        self.receive(message)
                    }
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
                        self.dispatch_events();
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
            self.spare.give_back(&mut self.endpoint);
            // After a large pass, its answers go out now, ahead of what is read next.
            if read >= PASS_BYTES {
                if let Err(e) = self.flush(cx) {
                    return Poll::Ready(Ending::Gone(Some(e)));
                }
            }
            if paused && self.may_read() {
                progress = true;
            }
            if let Some(ending) = self.arm_timer(cx) {
                return Poll::Ready(ending);
            }

            if !progress || inputs >= BUDGET {
                if self.deferral.end(!progress) {
                    // The callers just answered queue their next calls first (see `Deferral`).
                    self.settle();
                    cx.waker().wake_by_ref();
                    self.chunks.release();
                    return Poll::Pending;
                }
                if let Err(e) = self.flush(cx) {
                    return Poll::Ready(Ending::Gone(Some(e)));
                }
                self.settle();
                // A flush may have been all that a shutting-down connection waited for.
                if let Some(ending) = self.poll_shutdown(cx, false) {
                    return Poll::Ready(ending);
                }
                if progress {
                    // Out of budget with work left: let other tasks run, then come back.
                    cx.waker().wake_by_ref();
                }
                self.chunks.release();
                return Poll::Pending;
            }
        }
    }

    /// Reading pauses while the peer's requests fill the in-flight limit, while our answers
    /// wait for a socket that does not take them (by count or by bytes), and once shutdown
    /// began.
    fn may_read(&self) -> bool {
        self.in_flight < self.max_in_flight
            && self.own_frames < self.max_in_flight
            && self.own_bytes < self.outbound.limit()
            && self.grace.is_none()
    }

    /// Gives back the room the socket made for producers (waking those that wait for it) and
    /// publishes the connection's figures: once per wake-up, not per frame.
    fn settle(&mut self) {
        let (bytes, frames) = std::mem::take(&mut self.released);
        self.outbound.release(bytes, frames);
        self.outbound.set_own(
            self.own_bytes,
            self.own_frames,
            self.endpoint.outstanding(),
            self.in_flight,
        );
        let outbound = &self.outbound;
        self.obs.flush(|| outbound.stats().queued_bytes);
    }

    fn apply(&mut self, command: Command) -> Option<Ending> {
        match command {
            Command::Answer { responder, result } => {
                self.in_flight -= 1;
                if let Some(responder) = responder {
                    self.endpoint
                        .reply_with(responder, result.as_ref().map(|answer| answer.as_json()));
                }
            }
            Command::Close => {
                // What producers queued before the close goes out ahead of it.
                self.outbound.take_entries(&mut self.entries);
                while let Some(entry) = self.entries.pop_front() {
                    self.apply_entry(entry);
                }
                return Some(Ending::Closed);
            }
        }
        None
    }

    /// Starts a producer's call, or queues its push, behind the frames already queued.
    fn apply_entry(&mut self, entry: Entry) {
        match entry {
            Entry::Call {
                request,
                charge,
                timeout,
                done,
            } => {
                if self.endpoint.outstanding() >= self.endpoint.config().outstanding_limit() {
                    // Callers that gave up (dropped their future) may still hold slots.
                    self.forget_abandoned_calls();
                }
                // Answers queued in the endpoint go first: the next frame is this call's.
                self.take_answers();
                let now = *self.now.get_or_insert_with(Instant::now);
                match self.endpoint.call_encoded(request, now, timeout) {
                    Ok(id) => {
                        self.calls.insert(self.endpoint.call_slot(id), id, done);
                        if let Some(frame) = self.endpoint.poll_transmit() {
                            self.out.push_back(Queued {
                                text: call_text(frame),
                                charge,
                            });
                        }
                    }
                    Err(e) => {
                        self.give_back(charge);
                        done.send(Err(e));
                    }
                }
            }
            Entry::Push(text) => self.out.push_back(Queued {
                charge: text.len(),
                text,
            }),
        }
    }

    /// A producer's reservation of `charge` bytes is over (its frame was written or refused).
    fn give_back(&mut self, charge: usize) {
        self.released.0 += charge;
        self.released.1 += 1;
    }

    /// Moves the endpoint's queued frames (our answers) to the write queue.
    fn take_answers(&mut self) {
        while let Some(frame) = self.endpoint.next_transmit() {
            self.own_bytes += frame.len();
            self.own_frames += 1;
            let text = match frame {
                Cow::Borrowed(text) => self.chunks.copy(text),
                Cow::Owned(frame) => self.spare.watch(frame_text(frame)),
            };
            self.out.push_back(Queued { text, charge: 0 });
        }
    }

    /// What time has brought: calls past their deadline fail, the heartbeat pings or gives up
    /// on a silent peer, a queue full for too long drops a slow consumer.
    fn handle_time(&mut self, now: Instant) -> Option<Ending> {
        self.endpoint.handle_timeout(now);
        self.dispatch_events();
        self.spare.expire(now, &mut self.endpoint);
        if let Some(heartbeat) = &mut self.heartbeat {
            if let Some(sent) = heartbeat.silent_since_ping {
                if now >= sent + heartbeat.timeout {
                    return Some(Ending::HeartbeatTimeout);
                }
            }
            if now >= heartbeat.next_ping {
                heartbeat.ping_due = true;
                heartbeat.silent_since_ping.get_or_insert(now);
                heartbeat.next_ping = now + heartbeat.interval;
            }
        }
        if let Some(since) = self.full_since() {
            let full_for = now.saturating_duration_since(since);
            if full_for >= self.slow_consumer_timeout {
                return Some(Ending::SlowConsumer(full_for));
            }
        }
        None
    }

    /// Since when the outbound queue has been full, if it is (a lock only while it is).
    fn full_since(&self) -> Option<Instant> {
        self.outbound
            .is_congested()
            .then(|| self.outbound.full_since())
            .flatten()
    }

    /// The earliest of the deadlines the timer must wake the task for.
    fn next_deadline(&mut self) -> Option<Instant> {
        let deadlines = [
            self.endpoint.poll_timeout(),
            self.heartbeat.as_ref().map(Heartbeat::next_deadline),
            self.full_since()
                .map(|since| since + self.slow_consumer_timeout),
            self.spare.kept_until,
        ];
        deadlines.into_iter().flatten().min()
    }

    /// Cancels the calls whose caller dropped its future; true if any slot was freed.
    fn forget_abandoned_calls(&mut self) -> bool {
        let endpoint = &mut self.endpoint;
        self.calls.forget_canceled(|id| {
            endpoint.cancel(id);
        })
    }

    /// Whether shutdown has come and this connection may close now. The signal itself is
    /// asked only when `ask_signal` (once per wake-up: its waker is then set).
    fn poll_shutdown(&mut self, cx: &mut Context<'_>, ask_signal: bool) -> Option<Ending> {
        if let Some(signal) = self.shutdown.as_mut().filter(|_| ask_signal) {
            if let Poll::Ready(deadline) = signal.poll_unpin(cx) {
                self.shutdown = None;
                self.grace = Some((deadline, self.rt.sleep_until(deadline)));
            }
        }
        let (_, sleep) = self.grace.as_mut()?;
        let idle = self.in_flight == 0
            && self.out.is_empty()
            && self.endpoint.queued_transmits() == 0
            && !self.flush_needed;
        if idle || sleep.poll_unpin(cx).is_ready() {
            return Some(Ending::GoingAway);
        }
        None
    }

    fn receive(&mut self, message: Message) -> Option<Ending> {
        // Whatever arrives, pongs included, shows the peer is alive.
        if let Some(heartbeat) = &mut self.heartbeat {
            heartbeat.silent_since_ping = None;
        }
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
                    let slot = self.endpoint.call_slot(outcome.id);
                    if let Some(done) = self.calls.take(slot, outcome.id) {
                        // The caller may have given up; its answer then has nowhere to go.
                        done.send(outcome.result);
                        self.deferral.answered += 1;
                    }
                }
                Event::Diagnostic(diagnostic) => report(self.ctx.peer.id(), &diagnostic),
            }
        }
        self.take_answers();
    }

    /// Starts a method: runs it here, in the order requests arrive (the protocol's "started in
    /// the order they arrive"), up to its first suspension. A method that finishes at once is
    /// answered at once; one that suspends goes on as a task of its own, so that it may call
    /// back into this connection. (Spawning every method instead would leave the start order to
    /// the runtime's scheduler, which on a multi-thread runtime does not keep it.)
    fn start(&mut self, method: String, params: Args, responder: Option<Responder>) {
        // A method that finished here gives its name back, for the next request's.
        if let Some(method) = self.run_method(method, params, responder) {
            self.endpoint.recycle_name(method);
        }
    }

    /// [`start`](Self::start): the method's name back unless the method goes on as a task.
    fn run_method(
        &mut self,
        method: String,
        params: Args,
        responder: Option<Responder>,
    ) -> Option<String> {
        let Some((handler, key)) = self.last_method.get(&self.methods, &method) else {
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
            return Some(method);
        };
        let started = self.obs.call_starting(&method, key);
        let ctx = &self.ctx;
        let reply = std::panic::catch_unwind(AssertUnwindSafe(|| handler(ctx, params)));
        let mut future = match reply {
            Ok(Reply::Ready(result)) => {
                self.finish(&method, responder, started, result);
                return Some(method);
            }
            Ok(Reply::Pending(future)) => future,
            Err(panic) => {
                let result = Err(panicked(&method, panic.as_ref()));
                self.finish(&method, responder, started, result);
                return Some(method);
            }
        };
        // The first poll needs no waker: the task spawned below polls the future again at once.
        let mut first = Context::from_waker(futures_util::task::noop_waker_ref());
        match std::panic::catch_unwind(AssertUnwindSafe(|| future.poll_unpin(&mut first))) {
            Ok(Poll::Ready(result)) => {
                self.finish(&method, responder, started, result);
                return Some(method);
            }
            Ok(Poll::Pending) => {}
            Err(panic) => {
                let result = Err(panicked(&method, panic.as_ref()));
                self.finish(&method, responder, started, result);
                return Some(method);
            }
        }
        self.in_flight += 1;
        let peer = self.ctx.peer.clone();
        let probe = self.obs.call_suspended(&method, started);
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
        None
    }

    /// Answers a method that finished while being started (a notification's outcome is only
    /// reported locally).
    fn finish(
        &mut self,
        method: &str,
        responder: Option<Responder>,
        started: Started,
        result: Result<Answer, RpcError>,
    ) {
        self.obs
            .call_finished(method, responder.is_none(), started, &result);
        match responder {
            Some(responder) => self
                .endpoint
                .reply_with(responder, result.as_ref().map(|answer| answer.as_json())),
            None => {
                if let Err(e) = &result {
                    tracing::warn!(peer = self.ctx.peer.id(), method, error = %e, "notification failed");
                }
            }
        }
    }

    /// Feeds queued frames to the socket while it takes them (tungstenite buffers them,
    /// writing to the socket only past its write buffer size); a due ping goes first.
    fn feed(&mut self, cx: &mut Context<'_>) -> Result<(), WsError> {
        if self.heartbeat.as_ref().is_some_and(|h| h.ping_due) {
            match self.socket.poll_ready_unpin(cx) {
                Poll::Ready(Ok(())) => {
                    self.socket.start_send_unpin(Message::Ping(Bytes::new()))?;
                    self.flush_needed = true;
                    if let Some(heartbeat) = &mut self.heartbeat {
                        heartbeat.ping_due = false;
                    }
                }
                Poll::Ready(Err(e)) => return Err(e),
                Poll::Pending => return Ok(()),
            }
        }
        while !self.out.is_empty() {
            match self.socket.poll_ready_unpin(cx) {
                Poll::Ready(Ok(())) => {
                    let Some(Queued { text, charge }) = self.out.pop_front() else {
                        break;
                    };
                    if charge == 0 {
                        self.own_bytes -= text.len();
                        self.own_frames -= 1;
                    } else {
                        self.give_back(charge);
                    }
                    self.obs.sent(text.len());
                    self.socket.start_send_unpin(Message::Text(text))?;
                    self.flush_needed = true;
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

    /// Keeps a timer set for the earliest deadline. A timer set earlier than needed is kept (it
    /// fires, finds nothing due, and is set again), so that a deadline that moves later costs
    /// no new timer.
    fn arm_timer(&mut self, cx: &mut Context<'_>) -> Option<Ending> {
        let next = self.next_deadline()?;
        if self.timer.as_ref().is_some_and(|(at, _)| *at <= next) {
            return None;
        }
        let mut sleep = self.rt.sleep_until(next);
        if sleep.poll_unpin(cx).is_ready() {
            self.timer = None;
            let ending = self.handle_time(Instant::now());
            cx.waker().wake_by_ref();
            return ending;
        }
        self.timer = Some((next, sleep));
        None
    }
}

fn close_frame(code: CloseCode, reason: &str) -> CloseFrame {
    CloseFrame {
        code,
        reason: reason.to_owned().into(),
    }
}

/// Where lent answers are copied to become messages. The first of a wake-up gets a buffer of
/// its exact length (for one answer, the cheapest there is); the ones after it in the same
/// wake-up are copied back to back into shared chunks, each a slice of one: a chunk is one
/// allocation for many answers, where a buffer each would be one per answer and one free.
#[derive(Debug, Default)]
struct Chunks {
    chunk: BytesMut,
    /// Answers copied in this wake-up.
    copied: usize,
}

impl Chunks {
    /// The size of a chunk: small enough for the allocator's per-thread cache, room for some
    /// twenty usual answers.
    const SIZE: usize = 1024;

    /// `text` as a message's text.
    fn copy(&mut self, text: &str) -> Utf8Bytes {
        self.copied += 1;
        if self.copied == 1 {
            return text.to_owned().into();
        }
        if self.chunk.capacity() < text.len() {
            // Reuses the chunk in place once every frame cut from it is gone.
            self.chunk.reserve(text.len().max(Self::SIZE));
        }
        self.chunk.extend_from_slice(text.as_bytes());
        let bytes = self.chunk.split().freeze();
        // SAFETY: `bytes` are exactly the bytes of `text`, a `str`: valid UTF-8. (The checked
        // `Utf8Bytes::try_from` would look at every byte again.)
        #[allow(unsafe_code)]
        unsafe {
            Utf8Bytes::from_bytes_unchecked(bytes)
        }
    }

    /// The wake-up is over: the chunk is let go (it is freed with the last frame cut from it),
    /// so an idle connection keeps none.
    fn release(&mut self) {
        if self.copied > 1 {
            self.chunk = BytesMut::new();
        }
        self.copied = 0;
    }
}

/// Whether a wake-up that answered some of our calls ends without its flush.
///
/// A client's callers, woken by their answers, mostly call again at once. On tokio's
/// multi-thread runtime the connection task, woken by the first new call, runs right after that
/// caller (the woken task's slot), before the other callers: each call went out with a flush
/// and a `sendto` of its own, and the peer read them one by one. Ending such a wake-up with a
/// wake-up of its own instead lets the callers queue their calls first, and the next one
/// writes them all with one flush. (The client's CPU per call at 16 in flight, two workers:
/// about 5.5 µs before, about 4 after; see BENCHMARKS.md's ledger.)
///
/// One answer alone is not deferred (a sequential caller gains nothing, and the extra wake-up
/// may go to another worker). Where the answers' callers do not call again at once (a fan-out
/// awaiting its pages' acknowledgements), the extra wake-up is waste: a deferral after which no
/// new call came turns deferring off for [`RETRY`](Self::RETRY) wake-ups.
#[derive(Debug, Default)]
struct Deferral {
    /// Our calls answered in this wake-up.
    answered: usize,
    /// Calls and pushes taken from the queue in this wake-up.
    applied: usize,
    /// This wake-up follows a deferral.
    after: bool,
    /// Wake-ups left before deferring is tried again (0: it is on).
    off_for: u32,
}

impl Deferral {
    /// Wake-ups that deferring stays off after a deferral that brought no new call.
    const RETRY: u32 = 64;

    /// The wake-up ends (`idle`: for want of work, not of budget): whether without its flush.
    fn end(&mut self, idle: bool) -> bool {
        let after = std::mem::take(&mut self.after);
        if after && self.applied == 0 {
            self.off_for = Self::RETRY;
        }
        let defer = idle && !after && self.off_for == 0 && self.answered > 1;
        self.off_for = self.off_for.saturating_sub(1);
        self.answered = 0;
        self.applied = 0;
        self.after = defer;
        defer
    }
}

/// The buffer of the last large answer, on its way back to the endpoint
/// ([`Endpoint::recycle_answer_buffer`]): once the socket has taken the message (tungstenite
/// copies every frame into its write buffer), its bytes are ours alone again, and the next
/// large answer is written into memory already grown and touched. A stream of 1 MiB answers
/// then costs no allocation and no page faults for them; a new buffer cost about 500 faults
/// an answer (glibc gives a freed 1 MiB block back to the system). The buffer is let go
/// [`SPARE_KEPT`] after the last large answer, so an idle connection holds none.
#[derive(Debug, Default)]
struct Spare {
    /// The last large answer's message, until the socket has let go of its copy.
    bytes: Option<Bytes>,
    /// When the buffer given back is let go, if one was given back.
    kept_until: Option<Instant>,
}

impl Spare {
    /// `text`, a frame from the endpoint, is queued as a message: a large one is watched.
    fn watch(&mut self, text: Utf8Bytes) -> Utf8Bytes {
        if text.len() > SHRUNK_FROM {
            self.bytes = Some(Bytes::from(text.clone()));
        }
        text
    }

    /// Gives the watched buffer back to the endpoint once nothing else holds its bytes.
    fn give_back(&mut self, endpoint: &mut Endpoint) {
        let Some(bytes) = self.bytes.take() else {
            return;
        };
        match bytes.try_into_mut() {
            Ok(mut buffer) => {
                // Emptied first: the conversion then moves no bytes, and checks none.
                buffer.clear();
                if let Ok(text) = String::from_utf8(buffer.into()) {
                    endpoint.recycle_answer_buffer(text);
                    self.kept_until = Some(Instant::now() + SPARE_KEPT);
                }
            }
            Err(shared) => self.bytes = Some(shared),
        }
    }

    /// Lets go of the buffer given back, once no large answer has come for [`SPARE_KEPT`].
    fn expire(&mut self, now: Instant, endpoint: &mut Endpoint) {
        if self.kept_until.is_some_and(|until| now >= until) {
            self.kept_until = None;
            endpoint.release_answer_buffer();
        }
    }
}

/// How long a large answer's buffer is kept for the next one (see [`Spare`]).
const SPARE_KEPT: Duration = Duration::from_secs(1);

/// A frame from the endpoint as the message's text, in a buffer of exactly its length: such a
/// buffer becomes `Bytes` without a shared header of its own (one allocation less per frame).
/// A small frame with room left is copied into a new buffer, which costs less than shrinking
/// it in place (`realloc`, about 280 instructions). A large one is not copied, which would cost
/// a pass over it and hold it twice meanwhile: it keeps its buffer, shrunk in place when more
/// than an eighth of it is spare, to its length and a sixteenth (so that a queue of large
/// frames holds little more than their bytes, and the buffer, given back to the endpoint
/// ([`Spare`]), has room for an answer of the same size and its escapes).
fn frame_text(mut frame: String) -> Utf8Bytes {
    if frame.len() == frame.capacity() {
        return frame.into();
    }
    if frame.len() > SHRUNK_FROM {
        let len = frame.len();
        if frame.capacity() - len > len / 8 {
            frame.shrink_to(len + len / 16);
        }
        return frame.into();
    }
    let mut exact = String::with_capacity(frame.len());
    exact.push_str(&frame);
    exact.into()
}

/// The size from which [`frame_text`] keeps a frame's buffer instead of copying the frame, and
/// [`Spare`] gives it back.
const SHRUNK_FROM: usize = 4096;

/// Room past its end up to which a call's frame is sent in its own buffer (see [`call_text`]).
const CALL_SLACK: usize = 256;

/// One of our calls' frames as the message's text: in the caller's own buffer when the room
/// left in it is small (the usual call: room for the longest id and a little more), where
/// `Bytes` adds a shared header, one allocation as [`frame_text`]'s copy is but without the
/// copy (about 60 instructions a call less); a frame with more room than that (a large one
/// that grew while encoded) is copied to its length, so that its spare room is not held while
/// it waits.
fn call_text(frame: String) -> Utf8Bytes {
    if frame.capacity() - frame.len() <= CALL_SLACK {
        return frame.into();
    }
    frame_text(frame)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The frame of a large answer from `endpoint`, handed over whole.
    fn large_answer(endpoint: &mut Endpoint) -> String {
        let request = r#"{"method":"m","args":[],"kwargs":{},"id":1}"#;
        endpoint.handle_text(request).expect("a request");
        let Some(Event::Request(request)) = endpoint.poll_event() else {
            panic!("a request");
        };
        endpoint.reply_with(request.responder, Ok(&"x".repeat(64 * 1024)));
        match endpoint.next_transmit() {
            Some(Cow::Owned(frame)) => frame,
            other => panic!("a large answer handed over whole, not {other:?}"),
        }
    }

    /// A wake-up that answered two or more of our calls ends without its flush once; one
    /// answer, a wake-up out of budget, or the wake-up after a deferral does not. A deferral
    /// that brought no new call turns deferring off for `RETRY` wake-ups; one that did keeps it
    /// on.
    #[test]
    fn answered_callers_get_to_call_again_before_the_flush_unless_they_do_not() {
        let mut deferral = Deferral::default();
        let mut wake_up = |answered: usize, applied: usize, idle: bool| {
            deferral.answered = answered;
            deferral.applied = applied;
            deferral.end(idle)
        };
        assert!(!wake_up(1, 0, true), "one answer");
        assert!(!wake_up(5, 0, false), "out of budget");
        assert!(wake_up(2, 0, true));
        // The callers called again: deferring stays on.
        assert!(!wake_up(0, 2, true), "the wake-up after a deferral flushes");
        assert!(wake_up(8, 1, true));
        // No new call came: off for RETRY wake-ups, then on again.
        assert!(!wake_up(8, 0, true));
        for _ in 1..Deferral::RETRY {
            assert!(!wake_up(8, 0, true), "off");
        }
        assert!(wake_up(8, 0, true), "on again");
    }

    /// A large answer's buffer goes back to the endpoint only once the message made of it is
    /// gone (the socket copied it), and the next large answer is written into it; it is let go
    /// once no large answer has come for a while.
    #[test]
    fn large_answer_buffers_come_back_once_their_message_is_gone() {
        let mut endpoint = Endpoint::default();
        let mut spare = Spare::default();
        let message = spare.watch(frame_text(large_answer(&mut endpoint)));
        let at = message.as_str().as_ptr();
        spare.give_back(&mut endpoint);
        assert!(
            spare.kept_until.is_none(),
            "the message still holds the bytes"
        );
        drop(message);
        spare.give_back(&mut endpoint);
        let until = spare.kept_until.expect("given back");
        let second = large_answer(&mut endpoint);
        assert_eq!(second.as_ptr(), at, "written into the buffer given back");
        // Not let go before its time; then let go.
        let capacity = second.capacity();
        endpoint.recycle_answer_buffer(second);
        spare.expire(until - Duration::from_millis(1), &mut endpoint);
        assert_eq!(large_answer(&mut endpoint).capacity(), capacity);
        let odd = 100_003;
        endpoint.recycle_answer_buffer(String::with_capacity(odd));
        spare.expire(until, &mut endpoint);
        assert!(spare.kept_until.is_none());
        assert_ne!(large_answer(&mut endpoint).capacity(), odd);
    }

    /// A large frame keeps its buffer: shrunk when much of it is spare, to its length and a
    /// sixteenth; a small one is copied to a buffer of its length.
    #[test]
    fn frames_become_messages_holding_little_spare_room() {
        let mut large = String::with_capacity(200_000);
        large.push_str(&"x".repeat(100_000));
        let at = large.as_ptr();
        let text = frame_text(large);
        assert_eq!(text.as_str().as_ptr(), at, "shrunk in place, not copied");
        assert_eq!(text.len(), 100_000);
        let mut small = String::with_capacity(1000);
        small.push_str("small");
        assert_eq!(frame_text(small).as_str(), "small");
    }
}
