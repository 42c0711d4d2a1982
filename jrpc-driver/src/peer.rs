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
use jrpc_proto::{CallError, EncodedRequest, IntoParams, Params, Responder, RpcError};
use tungstenite::Utf8Bytes;

use crate::outbound::{ConnectionStats, Frame, Outbound};
use crate::runtime::Sleep;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// What a peer handle or a method task asks of the connection task that owns the endpoint.
pub(crate) enum Command {
    /// One of our calls, encoded by the caller; `charge` bytes of the queue are reserved for it.
    Call {
        request: EncodedRequest,
        charge: usize,
        timeout: Option<Duration>,
        done: oneshot::Sender<Result<Value, CallError>>,
    },
    /// A notification or broadcast frame, whose bytes are reserved in the queue.
    Push(Utf8Bytes),
    /// A method finished; `responder` is `None` for a notification, whose answer is not sent.
    Answer {
        responder: Option<Responder>,
        result: Result<Value, RpcError>,
    },
    Close,
}

type Locals = HashMap<TypeId, Arc<dyn Any + Send + Sync>>;

/// A handle to the other side of one connection: cloneable, usable from any task.
///
/// [`request`](Self::request) calls a remote method and resolves with its typed result;
/// [`invoke`](Self::invoke) sends a notification. Both fail with a matchable [`CallError`].
#[derive(Clone)]
pub struct Peer {
    inner: Arc<Inner>,
}

struct Inner {
    id: u64,
    remote_addr: Option<SocketAddr>,
    commands: mpsc::UnboundedSender<Command>,
    /// The bound of the connection's outbound queue, shared with its task.
    outbound: Arc<Outbound>,
    /// The runtime's timer, for calls that wait for room in the queue.
    timer: Timer,
    default_timeout: Option<Duration>,
    max_message: usize,
    closed: Shared<oneshot::Receiver<()>>,
    locals: Mutex<Locals>,
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
            commands,
            outbound: parts.outbound,
            timer: parts.timer,
            default_timeout: parts.default_timeout,
            max_message: parts.max_message,
            closed: closed_rx.shared(),
            locals: Mutex::new(HashMap::new()),
        };
        let peer = Self {
            inner: Arc::new(inner),
        };
        (peer, receiver, closed_tx)
    }

    /// A number that identifies this connection within its server (or process).
    pub fn id(&self) -> u64 {
        self.inner.id
    }

    /// The address of the other side, when known.
    pub fn remote_addr(&self) -> Option<SocketAddr> {
        self.inner.remote_addr
    }

    /// Calls `method` on the peer and waits for its answer, decoded as `T`, within the
    /// connection's default timeout.
    ///
    /// `params` is a tuple (positional), a struct or map (keyword), a [`Params`] (both), or
    /// `()` for none.
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
        let request = EncodedRequest::new(method, &encode(params)?)?;
        let charge = request.call_len();
        let outbound = &self.inner.outbound;
        let timeout = match outbound.try_reserve(charge) {
            Ok(()) => timeout,
            Err(CallError::QueueFull { .. }) => self.wait_for_room(charge, timeout).await?,
            Err(e) => return Err(e),
        };
        let (done, answer) = oneshot::channel();
        self.send(Command::Call {
            request,
            charge,
            timeout,
            done,
        })?;
        let value = answer.await.map_err(|_| CallError::ConnectionClosed)??;
        serde_json::from_value(value).map_err(|e| CallError::Decode(e.to_string()))
    }

    /// Waits for room for `charge` bytes within `timeout`; returns the time left of it.
    async fn wait_for_room(
        &self,
        charge: usize,
        timeout: Option<Duration>,
    ) -> Result<Option<Duration>, CallError> {
        let reserve = self.inner.outbound.reserve(charge);
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
        let outbound = &self.inner.outbound;
        match outbound.try_reserve(frame.len()) {
            Ok(()) => {}
            Err(CallError::QueueFull { .. }) => outbound.reserve(frame.len()).await?,
            Err(e) => return Err(e),
        }
        self.send(Command::Push(frame.text()))
    }

    /// Queues an encoded notification without waiting: [`CallError::QueueFull`] when there is
    /// no room. Synchronous, so frames pushed in some order reach this peer in that order: a
    /// broadcaster that pushes to every member under one lock gives every member one order.
    pub fn try_push(&self, frame: &Frame) -> Result<(), CallError> {
        self.inner.outbound.try_reserve(frame.len())?;
        self.send(Command::Push(frame.text()))
    }

    /// The connection's figures: queued bytes and frames, calls awaiting answers, methods
    /// running. The same numbers its queue policy uses, for logs and metrics.
    pub fn stats(&self) -> ConnectionStats {
        self.inner.outbound.stats()
    }

    fn frame(&self, method: &str, params: impl IntoParams) -> Result<Frame, CallError> {
        Frame::notification(method, params, self.inner.max_message)
    }

    /// Closes the connection (WebSocket close code 1000). Outstanding calls on it fail with
    /// [`CallError::ConnectionClosed`].
    pub fn close(&self) {
        // Already closed when the send fails: nothing left to do.
        let _ = self.inner.commands.unbounded_send(Command::Close);
    }

    /// Resolves when the connection has closed, for whatever reason.
    pub async fn closed(&self) {
        // The connection task drops the sender when it ends; either outcome means closed.
        let _ = self.inner.closed.clone().await;
    }

    /// Whether the connection has closed.
    pub fn is_closed(&self) -> bool {
        self.inner.commands.is_closed()
    }

    /// Stores a value of type `T` with this connection (its own state, as opposed to the
    /// server's), replacing any earlier `T`.
    pub fn set_local<T: Any + Send + Sync>(&self, value: T) {
        self.locals().insert(TypeId::of::<T>(), Arc::new(value));
    }

    /// The value of type `T` stored with [`set_local`](Self::set_local), if any.
    pub fn local<T: Any + Send + Sync>(&self) -> Option<Arc<T>> {
        let value = self.locals().get(&TypeId::of::<T>())?.clone();
        value.downcast::<T>().ok()
    }

    fn locals(&self) -> std::sync::MutexGuard<'_, Locals> {
        // A panic while holding the map cannot leave it half-written: take it as it is.
        self.inner
            .locals
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn send(&self, command: Command) -> Result<(), CallError> {
        self.inner
            .commands
            .unbounded_send(command)
            .map_err(|_| CallError::ConnectionClosed)
    }
}

fn encode(params: impl IntoParams) -> Result<Params, CallError> {
    params
        .into_params()
        .map_err(|e| CallError::Encode(e.to_string()))
}
