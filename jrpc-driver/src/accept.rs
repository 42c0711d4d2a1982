//! Serving WebSockets that another HTTP server upgraded: the runtime-agnostic entry that the
//! axum and hyper integrations of `jrpc-tokio` are built on, and that any custom server can
//! use (a framework of its own, another runtime).
//!
//! The other server owns the listener and the HTTP exchange; an [`Acceptor`] applies the same
//! [`Config`] (limits, `Origin` and `Host` checks), the same authentication hook and the same
//! shutdown as [`Server::bind`](crate::Server), and drives each handed-over socket as a JRPC
//! connection.

use std::net::SocketAddr;
use std::sync::Arc;

use tungstenite::protocol::WebSocketConfig;

use crate::auth::Authenticate;
use crate::connection::{self, ServerLink};
use crate::handshake::{self, Policy};
use crate::shutdown::ShutdownSignal;
use crate::{Builder, Config, Handshake, Locals, Methods, Peer, Refusal, Runtime, ServerHandle};

impl<R: Runtime, S: Clone + Send + Sync + 'static> Builder<R, S> {
    /// An acceptor for WebSockets upgraded by another HTTP server listening on `local_addr`
    /// (the address it is bound to: as for [`bind`](Self::bind), a loopback address turns the
    /// `Host` check on), serving `methods` with this builder's state, settings and
    /// authentication hook.
    pub fn acceptor(self, local_addr: SocketAddr, methods: Methods<S>) -> Acceptor<R, S> {
        let (handle, signal, _) = ServerHandle::new(true, self.groups_or_own());
        Acceptor {
            inner: Arc::new(Inner {
                policy: Policy::new(&self.config, local_addr),
                auth: self.auth,
                runtime: self.runtime,
                methods: Arc::new(methods),
                state: self.state,
                config: self.config,
                signal,
                handle,
            }),
        }
    }
}

/// Serves JRPC on WebSockets that another HTTP server (axum, hyper, a framework of its own)
/// upgraded: [`admit`](Self::admit) decides on the upgrade request, [`serve`](Self::serve)
/// drives the upgraded socket. Cheap to clone; every clone serves the same server, which
/// [`handle`](Self::handle) shuts down.
pub struct Acceptor<R: Runtime, S = ()> {
    inner: Arc<Inner<R, S>>,
}

struct Inner<R, S> {
    runtime: R,
    methods: Arc<Methods<S>>,
    state: S,
    config: Config,
    policy: Policy,
    auth: Option<Authenticate>,
    signal: ShutdownSignal,
    handle: ServerHandle,
}

/// An acceptor's parts, borrowed.
pub(crate) struct Shared<'a, R, S> {
    pub(crate) runtime: &'a R,
    pub(crate) methods: &'a Arc<Methods<S>>,
    pub(crate) state: &'a S,
    pub(crate) config: &'a Config,
    pub(crate) auth: Option<&'a Authenticate>,
    pub(crate) signal: &'a ShutdownSignal,
    pub(crate) handle: &'a ServerHandle,
}

impl<R: Runtime, S> Clone for Acceptor<R, S> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl<R: Runtime, S> std::fmt::Debug for Acceptor<R, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Acceptor")
            .field("methods", &self.inner.methods)
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl<R: Runtime, S: Clone + Send + Sync + 'static> Acceptor<R, S> {
    /// Decides on an upgrade request as [`Server::bind`](crate::Server) does: the `Origin`
    /// and `Host` checks (403 on refusal), then the authentication hook. Accepted, it returns
    /// the values to hand to [`serve`](Self::serve) with the upgraded socket; refused, the
    /// status and reason to answer instead of upgrading.
    pub fn admit(&self, handshake: &Handshake<'_>) -> Result<Locals, Refusal> {
        let admitted = handshake::admit(&self.inner.policy, self.inner.auth.as_ref(), handshake);
        if let Err(refusal) = &admitted {
            let peer = handshake.remote_addr();
            tracing::info!(?peer, %refusal, "refused WebSocket handshake");
        }
        admitted
    }

    /// Drives `socket`, a WebSocket whose handshake was admitted, as a JRPC connection, with
    /// the values [`admit`](Self::admit) returned; the connection runs on a task of its own
    /// until it closes or the server shuts down. After shutdown began, the socket is dropped
    /// and `None` is returned.
    pub fn serve<W: crate::WebSocket>(
        &self,
        socket: W,
        remote_addr: Option<SocketAddr>,
        locals: Locals,
    ) -> Option<Peer> {
        let inner = &self.inner;
        let tracker = inner.handle.tracker()?;
        Some(connection::spawn(
            &inner.runtime,
            socket,
            inner.methods.clone(),
            inner.state.clone(),
            &inner.config,
            remote_addr,
            Some(ServerLink {
                signal: inner.signal.clone(),
                tracker,
                locals,
            }),
            inner.handle.groups(),
        ))
    }

    /// The WebSocket settings (buffer sizes, message and frame limits) to run an upgraded
    /// socket with, from the [`Config`].
    pub fn websocket_config(&self) -> WebSocketConfig {
        self.inner.config.websocket()
    }

    /// The runtime connections run on.
    pub fn runtime(&self) -> &R {
        &self.inner.runtime
    }

    /// What a [`Server`](crate::Server) bound by this acceptor shares with it.
    pub(crate) fn shared(&self) -> Shared<'_, R, S> {
        let inner = &*self.inner;
        Shared {
            runtime: &inner.runtime,
            methods: &inner.methods,
            state: &inner.state,
            config: &inner.config,
            auth: inner.auth.as_ref(),
            signal: &inner.signal,
            handle: &inner.handle,
        }
    }

    /// The groups of its connections ([`ServerHandle::groups`]).
    pub fn groups(&self) -> &crate::Groups {
        self.inner.handle.groups()
    }

    /// A handle to shut the server down: no socket is served any more, and every connection
    /// closes as [`ServerHandle::shutdown`] says.
    pub fn handle(&self) -> ServerHandle {
        self.inner.handle.clone()
    }
}
