//! The peer handle: what server and client code hold to call the other side of one connection.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures_channel::{mpsc, oneshot};
use futures_util::FutureExt;
use futures_util::future::Shared;
use jrpc_proto::{CallError, IntoParams, Params, Responder, RpcError};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::Groups;

/// What a peer handle or a method task asks of the connection task that owns the endpoint.
pub(crate) enum Command {
    Call {
        method: String,
        params: Params,
        timeout: Option<Duration>,
        done: oneshot::Sender<Result<Value, CallError>>,
    },
    Notify {
        method: String,
        params: Params,
        done: oneshot::Sender<Result<(), CallError>>,
    },
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
    default_timeout: Option<Duration>,
    closed: Shared<oneshot::Receiver<()>>,
    locals: Mutex<Locals>,
    groups: Groups,
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
        id: u64,
        remote_addr: Option<SocketAddr>,
        default_timeout: Option<Duration>,
        groups: Groups,
    ) -> (Self, mpsc::UnboundedReceiver<Command>, oneshot::Sender<()>) {
        let (commands, receiver) = mpsc::unbounded();
        let (closed_tx, closed_rx) = oneshot::channel();
        let inner = Inner {
            id,
            remote_addr,
            commands,
            default_timeout,
            closed: closed_rx.shared(),
            locals: Mutex::new(HashMap::new()),
            groups,
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

    /// The registry of groups this connection joins ([`join`](Self::join)) and is counted in:
    /// its server's, or the one its client builder was given.
    pub fn groups(&self) -> &Groups {
        &self.inner.groups
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
    /// stays retired.
    pub async fn request_with_timeout<T: DeserializeOwned>(
        &self,
        method: &str,
        params: impl IntoParams,
        timeout: Option<Duration>,
    ) -> Result<T, CallError> {
        let params = encode(params)?;
        let (done, answer) = oneshot::channel();
        self.send(Command::Call {
            method: method.to_owned(),
            params,
            timeout,
            done,
        })?;
        let value = answer.await.map_err(|_| CallError::ConnectionClosed)??;
        serde_json::from_value(value).map_err(|e| CallError::Decode(e.to_string()))
    }

    /// Sends a notification: `method` runs on the peer and nothing comes back. Resolves once
    /// the frame is queued on the connection.
    pub async fn invoke(&self, method: &str, params: impl IntoParams) -> Result<(), CallError> {
        let params = encode(params)?;
        let (done, queued) = oneshot::channel();
        self.send(Command::Notify {
            method: method.to_owned(),
            params,
            done,
        })?;
        queued.await.map_err(|_| CallError::ConnectionClosed)?
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
