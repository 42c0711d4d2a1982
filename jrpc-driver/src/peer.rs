//! The peer handle: what server and client code hold to call the other side of one connection.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use futures_channel::{mpsc, oneshot};
use futures_util::FutureExt;
use futures_util::future::{self, Either, Shared};
use jrpc_proto::{CallError, EncodedRequest, IntoParams, Responder, RpcError};

use crate::answer;
use crate::handler::Answer;
use crate::outbound::{ConnectionStats, Entry, Frame, Outbound};
use crate::reconnect::Reconnecting;
use crate::runtime::Sleep;
use serde::de::DeserializeOwned;

use crate::Groups;

/// What a peer handle or a method task asks of the connection task that owns the endpoint
/// (calls and pushes go through the [`Outbound`] queue instead, in one lock with their room).
pub(crate) enum Command {
    /// A method finished; `responder` is `None` for a notification, whose answer is not sent.
    Answer {
        responder: Option<Responder>,
        result: Result<Answer, RpcError>,
    },
    Close,
}

type Locals = HashMap<TypeId, Arc<dyn Any + Send + Sync>>;

/// A handle to the other side of one connection: cloneable, usable from any task.
///
/// [`request`](Self::request) calls a remote method and resolves with its typed result;
/// [`invoke`](Self::invoke) sends a notification. Both fail with a matchable [`CallError`].
/// A client gets one from `connect`; a method gets the one that called it from
/// [`Ctx::peer`](crate::Ctx::peer).
///
/// ```
/// # use jrpc_driver::{CallError, Peer};
/// async fn add_and_tell(peer: &Peer) -> Result<i64, CallError> {
///     let sum: i64 = peer.request("Add", (5, 10)).await?;
///     peer.invoke("Notice", (format!("5 + 10 = {sum}"),)).await?;
///     Ok(sum)
/// }
///
/// /// What a caller does with each kind of failure.
/// fn explain(error: &CallError) -> String {
///     match error {
///         CallError::Remote(e) if e.is("ZeroDivisionError") => "no division by zero".into(),
///         CallError::Remote(e) => format!("the peer failed: {e}"),
///         CallError::Timeout => "no answer in time".into(),
///         CallError::ConnectionClosed => "the connection is gone".into(),
///         other => other.to_string(),
///     }
/// }
/// ```
///
/// The handle a client built with [`Builder::reconnect`](crate::Builder::reconnect) returns is
/// not tied to one connection: its calls go to whichever connection the client has open, across
/// reconnections (`ctx.peer()` in that client's methods and hooks is still the one connection's
/// handle).
#[derive(Clone)]
pub struct Peer {
    inner: Arc<Inner>,
}

struct Inner {
    id: u64,
    remote_addr: Option<SocketAddr>,
    /// Where calls go: one connection, or whichever connection a reconnecting client has open.
    link: Link,
    /// The runtime's timer, for calls that wait for room in the queue (or for a connection).
    timer: Timer,
    default_timeout: Option<Duration>,
    max_message: usize,
    closed: Shared<oneshot::Receiver<()>>,
    locals: Mutex<Locals>,
    groups: Groups,
}

/// Where a handle's calls go. Every call matches on it once: a plain connection's calls take
/// no lock and no allocation more than before reconnection existed.
enum Link {
    /// One connection: its task's commands and its outbound queue.
    Direct(Direct),
    /// A reconnecting client (see `reconnect.rs`): the connection open now, swapped by its
    /// supervisor task.
    Reconnecting(Arc<Reconnecting>),
}

/// One connection as its handles reach it.
pub(crate) struct Direct {
    /// Method answers and the close.
    commands: mpsc::UnboundedSender<Command>,
    /// The connection's outbound queue (calls and pushes, with its bound), shared with its task.
    outbound: Arc<Outbound>,
}

/// How far a call got on one connection.
pub(crate) enum Start {
    /// Handed to the connection task: its answer comes on this receiver.
    Sent(answer::Receiver),
    /// The connection ended before the call could be handed over: nothing of it was sent, so
    /// it may go to the next connection.
    Unsent(EncodedRequest),
    /// Failed for a reason of its own (its timeout passed while it waited for room).
    Failed(CallError),
}

/// Makes a timer future on the connection's runtime.
pub(crate) type Timer = Box<dyn Fn(Instant) -> Sleep + Send + Sync>;

/// What a new [`Peer`] is made with.
pub(crate) struct PeerParts {
    pub(crate) id: u64,
    pub(crate) remote_addr: Option<SocketAddr>,
    pub(crate) outbound: Arc<Outbound>,
    pub(crate) timer: Timer,
    pub(crate) default_timeout: Option<Duration>,
    pub(crate) max_message: usize,
    pub(crate) groups: Groups,
}

impl fmt::Debug for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Peer")
            .field("id", &self.inner.id)
            .field("remote_addr", &self.inner.remote_addr)
            .field("closed", &self.is_closed())
            .finish()
    }
}

impl Peer {
    /// A handle, and the receiving ends the connection task keeps: its commands, and the
    /// sender whose drop tells every handle the connection is over.
    pub(crate) fn new(
        parts: PeerParts,
    ) -> (Self, mpsc::UnboundedReceiver<Command>, oneshot::Sender<()>) {
        let (commands, receiver) = mpsc::unbounded();
        let (closed_tx, closed_rx) = oneshot::channel();
        let inner = Inner {
            id: parts.id,
            remote_addr: parts.remote_addr,
            link: Link::Direct(Direct {
                commands,
                outbound: parts.outbound,
            }),
            timer: parts.timer,
            default_timeout: parts.default_timeout,
            max_message: parts.max_message,
            closed: closed_rx.shared(),
            locals: Mutex::new(HashMap::new()),
            groups: parts.groups,
        };
        let peer = Self {
            inner: Arc::new(inner),
        };
        (peer, receiver, closed_tx)
    }

    /// The handle of a reconnecting client: it keeps the id of its first connection, and its
    /// `closed()` resolves when `closed` is dropped (the client gave up or was closed).
    pub(crate) fn reconnecting(
        first: &Peer,
        link: Arc<Reconnecting>,
        timer: Timer,
        closed: oneshot::Receiver<()>,
    ) -> Self {
        let inner = Inner {
            id: first.inner.id,
            remote_addr: first.inner.remote_addr,
            link: Link::Reconnecting(link),
            timer,
            default_timeout: first.inner.default_timeout,
            max_message: first.inner.max_message,
            closed: closed.shared(),
            locals: Mutex::new(HashMap::new()),
            // The registry of its connections (each joins under its own id).
            groups: first.inner.groups.clone(),
        };
        Self {
            inner: Arc::new(inner),
        }
    }

    /// A number that identifies this connection within its server (or process). A
    /// reconnecting client's handle keeps the number of its first connection.
    pub fn id(&self) -> u64 {
        self.inner.id
    }

    /// The address of the other side, when known.
    pub fn remote_addr(&self) -> Option<SocketAddr> {
        self.inner.remote_addr
    }

    /// The registry of groups this connection joins ([`join`](Self::join)) and is counted in:
    /// its server's, or the one its client builder was given.
    pub fn groups(&self) -> &Groups {
        &self.inner.groups
    }

    /// Calls `method` on the peer and waits for its answer, decoded as `T`, within the
    /// connection's default timeout.
    ///
    /// `params` is a tuple (positional), a struct or map (keyword), a
    /// [`Params`](jrpc_proto::Params) (both), or `()` for none.
    pub async fn request<T: DeserializeOwned>(
        &self,
        method: &str,
        params: impl IntoParams,
    ) -> Result<T, CallError> {
        self.request_with_timeout(method, params, self.inner.default_timeout)
            .await
    }

    /// [`request`](Self::request) with a timeout of its own (`None`: wait as long as the
    /// connection lives). A call that times out fails with [`CallError::Timeout`] and its id
    /// stays retired. The timeout also bounds the wait for room in a full outbound queue.
    pub async fn request_with_timeout<T: DeserializeOwned>(
        &self,
        method: &str,
        params: impl IntoParams,
        timeout: Option<Duration>,
    ) -> Result<T, CallError> {
        let request = params.into_request(method)?;
        let answer = match &self.inner.link {
            Link::Direct(direct) => match self.start_on(direct, request, timeout).await {
                Start::Sent(answer) => answer,
                Start::Unsent(_) => return Err(CallError::ConnectionClosed),
                Start::Failed(e) => return Err(e),
            },
            // Boxed: a plain connection's call future stays as small as it was.
            Link::Reconnecting(link) => {
                Box::pin(link.start_call(request, timeout, &self.inner.timer)).await?
            }
        };
        let value = answer.await.map_err(|_| CallError::ConnectionClosed)??;
        serde_json::from_value(value).map_err(|e| CallError::Decode(e.to_string()))
    }

    /// [`start_on`](Self::start_on) this handle's own connection (a reconnecting client's
    /// handle has none: it starts calls on the connection open now).
    pub(crate) async fn start(&self, request: EncodedRequest, timeout: Option<Duration>) -> Start {
        match self.direct() {
            Some(direct) => self.start_on(direct, request, timeout).await,
            None => Start::Failed(CallError::ConnectionClosed),
        }
    }

    /// Queues `request` in this connection's outbound queue for its task (waiting for room
    /// within `timeout`), with what is left of `timeout` as its own.
    async fn start_on(
        &self,
        direct: &Direct,
        request: EncodedRequest,
        timeout: Option<Duration>,
    ) -> Start {
        let charge = request.call_len();
        let outbound = &direct.outbound;
        let (done, answer) = answer::channel();
        let call = Entry::Call {
            request,
            charge,
            timeout,
            done,
        };
        let call = match outbound.try_queue(charge, call) {
            Ok(()) => return Start::Sent(answer),
            Err((CallError::QueueFull { .. }, call)) => call,
            Err((CallError::ConnectionClosed, call)) => return unsent(call),
            Err((e, _)) => return Start::Failed(e),
        };
        let Entry::Call { request, done, .. } = call else {
            return Start::Failed(CallError::ConnectionClosed);
        };
        let timeout = match self.wait_for_room(outbound, charge, timeout).await {
            Ok(left) => left,
            Err(CallError::ConnectionClosed) => return Start::Unsent(request),
            Err(e) => return Start::Failed(e),
        };
        let call = Entry::Call {
            request,
            charge,
            timeout,
            done,
        };
        match outbound.queue_reserved(call) {
            Ok(()) => Start::Sent(answer),
            Err(call) => unsent(call),
        }
    }

    /// Waits for room for `charge` bytes within `timeout`; returns the time left of it.
    async fn wait_for_room(
        &self,
        outbound: &Outbound,
        charge: usize,
        timeout: Option<Duration>,
    ) -> Result<Option<Duration>, CallError> {
        let reserve = outbound.reserve(charge);
        let Some(timeout) = timeout else {
            reserve.await?;
            return Ok(None);
        };
        let start = Instant::now();
        let deadline = start.checked_add(timeout);
        let sleep = match deadline {
            Some(at) => (self.inner.timer)(at),
            None => Box::pin(future::pending()),
        };
        match future::select(std::pin::pin!(reserve), sleep).await {
            Either::Left((reserved, _)) => {
                reserved?;
                Ok(Some(timeout.saturating_sub(start.elapsed())))
            }
            Either::Right(_) => Err(CallError::Timeout),
        }
    }

    /// Sends a notification: `method` runs on the peer and nothing comes back. Waits while the
    /// connection's outbound queue is full (backpressure: a producer slows down to its
    /// consumer), and resolves once the frame is queued.
    pub async fn invoke(&self, method: &str, params: impl IntoParams) -> Result<(), CallError> {
        let frame = self.frame(method, params)?;
        self.push(&frame).await
    }

    /// [`invoke`](Self::invoke) without waiting: fails at once with [`CallError::QueueFull`]
    /// when the outbound queue has no room, for pushes that may be dropped (a price tick that
    /// the next one supersedes). A queue that stays full closes its connection after the
    /// slow-consumer timeout ([`Config::slow_consumer_timeout`](crate::Config::slow_consumer_timeout)).
    ///
    /// ```
    /// # async fn tick(peer: jrpc_driver::Peer, price: f64) {
    /// use jrpc_driver::CallError;
    ///
    /// match peer.try_invoke("Price", (price,)) {
    ///     Ok(()) | Err(CallError::QueueFull { .. }) => {} // the next tick will do
    ///     Err(e) => eprintln!("not sent: {e}"),
    /// }
    /// # }
    /// ```
    pub fn try_invoke(&self, method: &str, params: impl IntoParams) -> Result<(), CallError> {
        let frame = self.frame(method, params)?;
        self.try_push(&frame)
    }

    /// Queues an encoded notification (one [`Frame`] may go to many peers, encoded once),
    /// waiting while the outbound queue is full.
    pub async fn push(&self, frame: &Frame) -> Result<(), CallError> {
        match &self.inner.link {
            Link::Direct(direct) => direct.push(frame).await,
            Link::Reconnecting(link) => {
                let deadline = deadline(self.inner.default_timeout);
                Box::pin(link.push(frame, deadline, &self.inner.timer)).await
            }
        }
    }

    /// Queues an encoded notification without waiting: [`CallError::QueueFull`] when there is
    /// no room. Synchronous, so frames pushed in some order reach this peer in that order: a
    /// broadcaster that pushes to every member under one lock gives every member one order.
    pub fn try_push(&self, frame: &Frame) -> Result<(), CallError> {
        match &self.inner.link {
            Link::Direct(direct) => direct.try_push(frame),
            Link::Reconnecting(link) => link.current()?.try_push(frame),
        }
    }

    /// The connection's figures: queued bytes and frames, calls awaiting answers, methods
    /// running. The same numbers its queue policy uses, for logs and metrics. (For a
    /// reconnecting client: its connection open now; zeros while there is none.)
    pub fn stats(&self) -> ConnectionStats {
        match &self.inner.link {
            Link::Direct(direct) => direct.outbound.stats(),
            Link::Reconnecting(link) => link.current().map(|p| p.stats()).unwrap_or_default(),
        }
    }

    fn frame(&self, method: &str, params: impl IntoParams) -> Result<Frame, CallError> {
        Frame::notification(method, params, self.inner.max_message)
    }

    /// Closes the connection (WebSocket close code 1000). Outstanding calls on it fail with
    /// [`CallError::ConnectionClosed`]. A reconnecting client closes its connection and stops
    /// reconnecting: calls waiting for a connection fail too.
    pub fn close(&self) {
        match &self.inner.link {
            // Already closed when the send fails: nothing left to do.
            Link::Direct(direct) => drop(direct.commands.unbounded_send(Command::Close)),
            Link::Reconnecting(link) => link.close(),
        }
    }

    /// Resolves when the connection has closed, for whatever reason. For a reconnecting
    /// client: once it has given up reconnecting, or was closed with [`close`](Self::close).
    pub async fn closed(&self) {
        // The connection task (or the supervisor) drops the sender when it ends; either
        // outcome means closed.
        let _ = self.inner.closed.clone().await;
    }

    /// Whether the connection has closed (a reconnecting client: whether it was closed or
    /// gave up; between connections it is not closed).
    pub fn is_closed(&self) -> bool {
        match &self.inner.link {
            Link::Direct(direct) => direct.commands.is_closed(),
            Link::Reconnecting(link) => link.is_over(),
        }
    }

    /// Stores a value of type `T` with this connection (its own state, as opposed to the
    /// server's), replacing any earlier `T`. A reconnecting client's handle has values of its
    /// own, kept across connections.
    pub fn set_local<T: Any + Send + Sync>(&self, value: T) {
        self.locals().insert(TypeId::of::<T>(), Arc::new(value));
    }

    /// The value of type `T` stored with [`set_local`](Self::set_local), if any.
    pub fn local<T: Any + Send + Sync>(&self) -> Option<Arc<T>> {
        let value = self.locals().get(&TypeId::of::<T>())?.clone();
        value.downcast::<T>().ok()
    }

    /// Adds the values a handshake attached, before any method or hook sees the peer.
    pub(crate) fn adopt(&self, attached: crate::Locals) {
        self.locals().extend(attached.map);
    }

    fn locals(&self) -> std::sync::MutexGuard<'_, Locals> {
        // A panic while holding the map cannot leave it half-written: take it as it is.
        self.inner
            .locals
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn send(&self, command: Command) -> Result<(), CallError> {
        match &self.inner.link {
            Link::Direct(direct) => direct.send(command),
            Link::Reconnecting(link) => link.current()?.send(command),
        }
    }

    /// The connection of a handle that is not a reconnecting client's.
    /// The handle of the connection this one reaches now: itself, or a reconnecting client's
    /// open connection (`None` between connections).
    pub(crate) fn connection(&self) -> Option<Peer> {
        match &self.inner.link {
            Link::Direct(_) => Some(self.clone()),
            Link::Reconnecting(link) => link.current().ok(),
        }
    }

    pub(crate) fn direct(&self) -> Option<&Direct> {
        match &self.inner.link {
            Link::Direct(direct) => Some(direct),
            Link::Reconnecting(_) => None,
        }
    }
}

impl Direct {
    /// Queues a frame, waiting for room; [`CallError::ConnectionClosed`] means nothing of it
    /// was queued.
    pub(crate) async fn push(&self, frame: &Frame) -> Result<(), CallError> {
        match self
            .outbound
            .try_queue(frame.len(), Entry::Push(frame.text()))
        {
            Ok(()) => Ok(()),
            Err((CallError::QueueFull { .. }, push)) => {
                self.outbound.reserve(frame.len()).await?;
                self.outbound
                    .queue_reserved(push)
                    .map_err(|_| CallError::ConnectionClosed)
            }
            Err((e, _)) => Err(e),
        }
    }

    fn try_push(&self, frame: &Frame) -> Result<(), CallError> {
        self.outbound
            .try_queue(frame.len(), Entry::Push(frame.text()))
            .map_err(|(e, _)| e)
    }

    fn send(&self, command: Command) -> Result<(), CallError> {
        self.commands
            .unbounded_send(command)
            .map_err(|_| CallError::ConnectionClosed)
    }
}

/// A call the connection could not take, for the next connection (a push: nothing to retry).
fn unsent(entry: Entry) -> Start {
    match entry {
        Entry::Call { request, .. } => Start::Unsent(request),
        Entry::Push(_) => Start::Failed(CallError::ConnectionClosed),
    }
}

/// The instant `timeout` from now, if any (and if representable).
pub(crate) fn deadline(timeout: Option<Duration>) -> Option<Instant> {
    timeout.and_then(|t| Instant::now().checked_add(t))
}
