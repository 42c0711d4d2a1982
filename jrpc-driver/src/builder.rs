//! The settings a server or a client is made with: runtime, shared state, [`Config`].

use crate::{Config, Reconnect, Runtime};

/// Builds a server ([`bind`](Builder::bind)) or a client connection
/// ([`connect`](Builder::connect)) with state and settings of its own.
#[derive(Debug)]
pub struct Builder<R, S = ()> {
    pub(crate) runtime: R,
    pub(crate) state: S,
    pub(crate) config: Config,
    /// How a client reconnects, if it does.
    pub(crate) reconnect: Option<Reconnect>,
}

impl<R: Runtime + Default> Default for Builder<R, ()> {
    fn default() -> Self {
        Self {
            runtime: R::default(),
            state: (),
            config: Config::default(),
            reconnect: None,
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
            reconnect: self.reconnect,
        }
    }

    /// The settings of the server or client and its connections.
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// Makes a client reconnect when its connection ends, with the backoff and the behaviour
    /// of calls made meanwhile that `reconnect` describes (by default a client does not
    /// reconnect). The [`Peer`](crate::Peer) that [`connect`](Self::connect) returns then stays
    /// valid across connections: its calls go to whichever connection is open, and its
    /// [`closed`](crate::Peer::closed) resolves only once the client gives up
    /// ([`Reconnect::max_attempts`]) or is closed with [`Peer::close`](crate::Peer::close).
    /// `on_open` and `on_close` run for each connection, so `on_open` is where a client
    /// subscribes again; `ctx.peer()` there is that one connection's handle. A server ignores
    /// it.
    pub fn reconnect(mut self, reconnect: Reconnect) -> Self {
        self.reconnect = Some(reconnect);
        self
    }
}

/// A builder used for a server.
pub type ServerBuilder<R, S = ()> = Builder<R, S>;
/// A builder used for a client.
pub type ClientBuilder<R, S = ()> = Builder<R, S>;
