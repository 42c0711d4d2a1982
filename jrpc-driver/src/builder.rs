//! The settings a server or a client is made with: runtime, shared state, [`Config`].

use crate::client::Handshake;
use crate::{Config, Runtime};

/// Builds a server ([`bind`](Builder::bind)) or a client connection
/// ([`connect`](Builder::connect)) with state and settings of its own.
#[derive(Debug)]
pub struct Builder<R, S = ()> {
    pub(crate) runtime: R,
    pub(crate) state: S,
    pub(crate) config: Config,
    /// What a client adds to its opening handshake (extra headers, subprotocols).
    pub(crate) handshake: Handshake,
}

impl<R: Runtime + Default> Default for Builder<R, ()> {
    fn default() -> Self {
        Self {
            runtime: R::default(),
            state: (),
            config: Config::default(),
            handshake: Handshake::default(),
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
            handshake: self.handshake,
        }
    }

    /// The settings of the server or client and its connections.
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
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
}

/// A builder used for a server.
pub type ServerBuilder<R, S = ()> = Builder<R, S>;
/// A builder used for a client.
pub type ClientBuilder<R, S = ()> = Builder<R, S>;
