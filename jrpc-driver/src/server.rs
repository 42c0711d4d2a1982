//! Where connections are accepted: the listening socket, the handshake with its deadline and
//! policy, and graceful shutdown.

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use futures_channel::{mpsc, oneshot};
use futures_util::StreamExt;
use futures_util::future::{self, Either};

use crate::auth::Authenticate;
use crate::connection::{self, ServerLink};
use crate::handshake::{Guard, Policy};
use crate::shutdown::{self, ShutdownSignal, Stop};
use crate::{Acceptor, Builder, Config, Groups, Methods, Runtime};

impl<R: Runtime, S: Clone + Send + Sync + 'static> Builder<R, S> {
    /// Listens on `addr` (port 0 picks a free port) and logs the address.
    pub async fn bind(
        self,
        addr: impl ToSocketAddrs,
        methods: Methods<S>,
    ) -> io::Result<Server<R, S>> {
        let (listener, local_addr) = listen(&self.runtime, addr).await?;
        let (handle, signal, tracker) = ServerHandle::new(false, self.groups_or_own());
        Ok(Server {
            policy: Policy::new(&self.config, local_addr),
            auth: self.auth,
            runtime: self.runtime,
            listener,
            local_addr,
            methods: Arc::new(methods),
            state: self.state,
            config: self.config,
            signal,
            tracker,
            handle,
        })
    }
}

impl<R: Runtime, S: Clone + Send + Sync + 'static> Acceptor<R, S> {
    /// A [`Server`] of its own on `addr` that serves this acceptor's methods, state, settings
    /// and authentication hook, and stops with its [`handle`](Self::handle): the same service on
    /// a second port (such as the port pages written for a separate WebSocket server expect).
    /// Fails when shutdown has begun.
    pub async fn bind(&self, addr: impl ToSocketAddrs) -> io::Result<Server<R, S>> {
        let shared = self.shared();
        let Some(tracker) = shared.handle.tracker() else {
            return Err(io::Error::other("the server is shutting down"));
        };
        let (listener, local_addr) = listen(shared.runtime, addr).await?;
        Ok(Server {
            policy: Policy::new(shared.config, local_addr),
            auth: shared.auth.cloned(),
            runtime: shared.runtime.clone(),
            listener,
            local_addr,
            methods: shared.methods.clone(),
            state: shared.state.clone(),
            config: shared.config.clone(),
            signal: shared.signal.clone(),
            tracker,
            handle: shared.handle.clone(),
        })
    }
}

/// Listens on the first address of `addr` that binds, and logs it.
async fn listen<R: Runtime>(
    runtime: &R,
    addr: impl ToSocketAddrs,
) -> io::Result<(R::Listener, SocketAddr)> {
    let mut last_error = None;
    for candidate in addr.to_socket_addrs()? {
        match runtime.bind(candidate).await {
            Ok(listener) => {
                let local_addr = R::local_addr(&listener)?;
                tracing::info!(%local_addr, "JRPC server listening");
                return Ok((listener, local_addr));
            }
            Err(e) => last_error = Some(e),
        }
    }
    Err(last_error
        .unwrap_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no address to bind to")))
}

/// A bound JRPC WebSocket server; [`run`](Self::run) accepts connections until
/// [`ServerHandle::shutdown`].
///
/// ```
/// # use jrpc_tokio::{Methods, Server};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// let methods = Methods::new().add("Add", |a: i64, b: i64| a + b);
/// let server = Server::bind("127.0.0.1:0", methods).await?;
/// println!("serving ws://{}", server.local_addr());
/// let handle = server.handle();
/// # tokio::spawn(async move { handle.shutdown(std::time::Duration::ZERO).await });
/// server.run().await; // until handle.shutdown(..)
/// # Ok(())
/// # }
/// ```
pub struct Server<R: Runtime, S = ()> {
    runtime: R,
    listener: R::Listener,
    local_addr: SocketAddr,
    methods: Arc<Methods<S>>,
    state: S,
    config: Config,
    policy: Policy,
    auth: Option<Authenticate>,
    signal: ShutdownSignal,
    /// Each connection task holds a clone; shutdown waits until all are dropped.
    tracker: mpsc::Sender<()>,
    handle: ServerHandle,
}

impl<R: Runtime + Default> Server<R, ()> {
    /// A builder with default settings and no state.
    pub fn builder() -> Builder<R, ()> {
        Builder::default()
    }

    /// Listens on `addr` with default settings, serving `methods`.
    ///
    /// ```
    /// # use jrpc_tokio::{Methods, Server};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let methods = Methods::new().add("Add", |a: i64, b: i64| a + b);
    /// let server = Server::bind("127.0.0.1:0", methods).await?;
    /// // Port 0 picked a free port.
    /// println!("serving ws://{}", server.local_addr());
    /// # Ok(())
    /// # }
    /// ```
    pub async fn bind(addr: impl ToSocketAddrs, methods: Methods<()>) -> io::Result<Self> {
        Self::builder().bind(addr, methods).await
    }
}

impl<R: Runtime, S: Clone + Send + Sync + 'static> Server<R, S> {
    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// A handle to shut the server down from elsewhere.
    pub fn handle(&self) -> ServerHandle {
        self.handle.clone()
    }

    /// The groups of its connections; every connection is in [`Groups::all`].
    pub fn groups(&self) -> &Groups {
        &self.handle.groups
    }

    /// Accepts connections until shutdown. Each handshake runs in a task of its own, bounded
    /// by the handshake timeout; each connection then runs in its own task.
    ///
    /// ```no_run
    /// # use jrpc_tokio::{Methods, Server};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let server = Server::bind("127.0.0.1:9000", Methods::new()).await?;
    /// server.run().await; // returns once a ServerHandle has shut it down
    /// # Ok(())
    /// # }
    /// ```
    pub async fn run(self) {
        let mut stop = self.signal.clone();
        loop {
            let accepted = {
                let accept = std::pin::pin!(R::accept(&self.listener));
                match future::select(accept, &mut stop).await {
                    Either::Left((accepted, _)) => accepted,
                    Either::Right(_) => break,
                }
            };
            match accepted {
                Ok((tcp, peer_addr)) => self.handshake(tcp, peer_addr),
                Err(e) => {
                    // Out of file descriptors and the like: wait a little rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    self.runtime
                        .sleep_until(Instant::now() + Duration::from_millis(50))
                        .await;
                }
            }
        }
        tracing::info!(local_addr = %self.local_addr, "JRPC server stopped accepting");
    }

    fn handshake(&self, tcp: R::Tcp, peer_addr: SocketAddr) {
        let (admitted, mut locals) = oneshot::channel();
        let guard = Guard {
            policy: self.policy.clone(),
            auth: self.auth.clone(),
            peer: peer_addr,
            admitted,
        };
        let runtime = self.runtime.clone();
        let methods = self.methods.clone();
        let state = self.state.clone();
        let config = self.config.clone();
        let signal = self.signal.clone();
        let tracker = self.tracker.clone();
        let groups = self.handle.groups.clone();
        let deadline = Instant::now() + config.handshake_timeout;
        self.runtime.spawn(async move {
            let handshake = std::pin::pin!(R::accept_websocket(tcp, guard, config.websocket()));
            match future::select(handshake, runtime.sleep_until(deadline)).await {
                Either::Left((Ok(socket), _)) => {
                    connection::spawn(
                        &runtime,
                        socket,
                        methods,
                        state,
                        &config,
                        Some(peer_addr),
                        Some(ServerLink {
                            signal,
                            tracker,
                            // Sent by the guard before the handshake succeeded.
                            locals: locals.try_recv().ok().flatten().unwrap_or_default(),
                        }),
                        &groups,
                    );
                }
                Either::Left((Err(e), _)) => {
                    tracing::debug!(peer = %peer_addr, error = %e, "handshake failed")
                }
                Either::Right(_) => {
                    tracing::debug!(peer = %peer_addr, "handshake timed out, connection dropped")
                }
            }
        });
    }
}

/// Shuts a server (or an acceptor) down: it stops accepting, lets running methods finish
/// within a grace period, and closes every connection with code 1001. Cloneable, usable from
/// any task; it also reaches the server's groups (`groups()`), to broadcast from anywhere.
///
/// ```
/// # use jrpc_tokio::{Methods, Server};
/// use std::time::Duration;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// let server = Server::bind("127.0.0.1:0", Methods::new()).await?;
/// let handle = server.handle();
/// let running = tokio::spawn(server.run());
/// // Later, from anywhere: a signal handler, an admin method.
/// handle.shutdown(Duration::from_secs(5)).await;
/// # running.await.ok();
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct ServerHandle {
    inner: Arc<Mutex<HandleInner>>,
    groups: Groups,
}

#[derive(Debug)]
struct HandleInner {
    stop: Option<Stop>,
    connections: Option<mpsc::Receiver<()>>,
    /// For an [`Acceptor`](crate::Acceptor): the tracker each connection handed over clones;
    /// `None` once shutdown began.
    mounted: Option<mpsc::Sender<()>>,
}

impl ServerHandle {
    /// A handle, the signal its shutdown fires, and the tracker that shutdown waits for (with
    /// every clone of it). With `mounted`, the handle keeps a clone for
    /// [`tracker`](Self::tracker).
    pub(crate) fn new(mounted: bool, groups: Groups) -> (Self, ShutdownSignal, mpsc::Sender<()>) {
        let (stop, signal) = shutdown::signal();
        let (tracker, connections) = mpsc::channel(0);
        let inner = HandleInner {
            stop: Some(stop),
            connections: Some(connections),
            mounted: mounted.then(|| tracker.clone()),
        };
        let handle = Self {
            inner: Arc::new(Mutex::new(inner)),
            groups,
        };
        (handle, signal, tracker)
    }

    /// The groups of the server's connections, to broadcast from anywhere.
    pub fn groups(&self) -> &Groups {
        &self.groups
    }

    /// A tracker for a new connection of an acceptor; `None` once shutdown began.
    pub(crate) fn tracker(&self) -> Option<mpsc::Sender<()>> {
        self.lock().mounted.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HandleInner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Stops accepting and closes every connection (code 1001) once its running methods have
    /// finished, or when `grace` has passed. Resolves when every connection has closed.
    pub async fn shutdown(&self, grace: Duration) {
        let (stop, connections) = {
            let mut inner = self.lock();
            inner.mounted = None;
            (inner.stop.take(), inner.connections.take())
        };
        if let Some(stop) = stop {
            stop.fire(Instant::now() + grace);
        }
        if let Some(mut connections) = connections {
            // Ends when the accept loop and every connection task have dropped their tracker.
            while connections.next().await.is_some() {}
        }
    }
}
