//! The settings a server or a client is made with: runtime, shared state, [`Config`].

use crate::auth::Authenticate;
use crate::client::ClientHandshake;
use crate::{Config, Groups, Handshake, Locals, Reconnect, Refusal, Runtime};

/// Builds a server ([`bind`](Builder::bind)) or a client connection
/// ([`connect`](Builder::connect)) with state and settings of its own.
///
/// ```
/// # use jrpc_tokio::{Config, Ctx, Methods, Server};
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicU64, Ordering};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// // State shared by every connection; each method reaches it through its `Ctx`.
/// #[derive(Clone, Default)]
/// struct Hits(Arc<AtomicU64>);
///
/// let methods = Methods::with_state()
///     .add("Hit", |ctx: Ctx<Hits>| ctx.state().0.fetch_add(1, Ordering::Relaxed) + 1);
/// let server = Server::builder()
///     .state(Hits::default())
///     .config(Config::default().max_in_flight(16))
///     .bind("127.0.0.1:0", methods)
///     .await?;
/// # drop(server);
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Builder<R, S = ()> {
    pub(crate) runtime: R,
    pub(crate) state: S,
    pub(crate) config: Config,
    /// The registry to share; `None`: one of its own.
    pub(crate) groups: Option<Groups>,
    /// What a client adds to its opening handshake (extra headers, subprotocols).
    pub(crate) handshake: ClientHandshake,
    /// How a client reconnects, if it does.
    pub(crate) reconnect: Option<Reconnect>,
    /// A server's authentication hook.
    pub(crate) auth: Option<Authenticate>,
}

impl<R: Runtime + Default> Default for Builder<R, ()> {
    fn default() -> Self {
        Self {
            runtime: R::default(),
            state: (),
            config: Config::default(),
            groups: None,
            handshake: ClientHandshake::default(),
            reconnect: None,
            auth: None,
        }
    }
}

impl<R: Runtime, S: Clone + Send + Sync + 'static> Builder<R, S> {
    /// The state every method reaches through [`Ctx::state`](crate::Ctx::state).
    pub fn state<T: Clone + Send + Sync + 'static>(self, state: T) -> Builder<R, T> {
        Builder {
            runtime: self.runtime,
            state,
            config: self.config,
            groups: self.groups,
            handshake: self.handshake,
            reconnect: self.reconnect,
            auth: self.auth,
        }
    }

    /// The settings of the server or client and its connections.
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// The [`Groups`] registry its connections join and are counted in, shared with the other
    /// servers and clients given it (a client program holding many connections broadcasts to
    /// them as a server does). Without it, a server (or client connection) has one of its own.
    ///
    /// ```
    /// # fn f<R: jrpc_driver::Runtime + Default>() {
    /// let groups = jrpc_driver::Groups::new();
    /// let public = jrpc_driver::Server::<R>::builder().groups(groups.clone());
    /// let internal = jrpc_driver::Server::<R>::builder().groups(groups.clone());
    /// // groups.all() reaches the connections of both.
    /// # }
    /// ```
    pub fn groups(mut self, groups: Groups) -> Self {
        self.groups = Some(groups);
        self
    }

    /// The registry given with [`groups`](Self::groups), or a new one.
    pub(crate) fn groups_or_own(&self) -> Groups {
        match &self.groups {
            Some(groups) => groups.clone(),
            None => Groups::with_max_message_size(self.config.max_message),
        }
    }

    /// An extra header of a client's opening handshake, e.g. `Authorization: Bearer …`; added
    /// once per call, so a name may repeat. A `Host` header replaces the one taken from the
    /// URL. The name and value are checked when connecting: an invalid one, or one the
    /// handshake sets itself (`Upgrade`, `Connection`, `Sec-WebSocket-*`), fails
    /// [`connect`](Builder::connect) with [`ConnectError::InvalidHeader`](crate::ConnectError)
    /// before anything is dialled. A server ignores it.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.handshake.headers.push((name.into(), value.into()));
        self
    }

    /// A subprotocol a client offers in its handshake (`Sec-WebSocket-Protocol`), in order of
    /// preference when called more than once. Once any is offered, the server must choose one
    /// of them or the handshake fails. A name that is not an HTTP token fails
    /// [`connect`](Builder::connect) with
    /// [`ConnectError::InvalidSubprotocol`](crate::ConnectError). A server ignores it.
    pub fn subprotocol(mut self, protocol: impl Into<String>) -> Self {
        self.handshake.subprotocols.push(protocol.into());
        self
    }

    /// Makes a client reconnect when its connection ends, with the backoff and the behaviour
    /// of calls made meanwhile that `reconnect` describes (by default a client does not
    /// reconnect). The [`Peer`](crate::Peer) that [`connect`](Self::connect) returns then stays
    /// valid across connections: its calls go to whichever connection is open, and its
    /// [`closed`](crate::Peer::closed) resolves only once the client gives up
    /// ([`Reconnect::max_attempts`]) or is closed with [`Peer::close`](crate::Peer::close).
    /// `on_open` and `on_close` run for each connection, so `on_open` is where a client
    /// subscribes again; `ctx.peer()` there is that one connection's handle. Like a plain
    /// client's connection, which stays open (serving its methods) when every handle is
    /// dropped, the client goes on reconnecting until it is closed or gives up. A server
    /// ignores it.
    pub fn reconnect(mut self, reconnect: Reconnect) -> Self {
        self.reconnect = Some(reconnect);
        self
    }

    /// A server's handshake authentication: `hook` sees each WebSocket upgrade request (path,
    /// query, headers, cookies, remote address) once the `Origin` and `Host` checks passed, and
    /// refuses it with an HTTP status ([`Refusal::unauthorized`]: 401, [`Refusal::forbidden`]:
    /// 403), or accepts it with values for the connection (an identity): each is then
    /// [`Peer::local`](crate::Peer::local) on it, already set when `on_open` runs.
    ///
    /// It runs on the handshake's task, so it must not block: look a session up in memory,
    /// check a signed token. Browsers cannot set headers on a WebSocket: a page proves who it
    /// is with a same-origin session cookie ([`Handshake::cookie`]) or a short-lived token in
    /// the URL's query ([`Handshake::query_param`]). Clients ignore it.
    pub fn authenticate<F>(mut self, hook: F) -> Self
    where
        F: Fn(&Handshake<'_>) -> Result<Locals, Refusal> + Send + Sync + 'static,
    {
        self.auth = Some(Authenticate::new(hook));
        self
    }
}

/// A builder used for a server.
pub type ServerBuilder<R, S = ()> = Builder<R, S>;
/// A builder used for a client.
pub type ClientBuilder<R, S = ()> = Builder<R, S>;
