//! The settings a server or a client is made with: runtime, shared state, [`Config`].

use crate::{Config, Runtime};

/// Builds a server ([`bind`](Builder::bind)) or a client connection
/// ([`connect`](Builder::connect)) with state and settings of its own.
#[derive(Debug)]
pub struct Builder<R, S = ()> {
    pub(crate) runtime: R,
    pub(crate) state: S,
    pub(crate) config: Config,
}

impl<R: Runtime + Default> Default for Builder<R, ()> {
    fn default() -> Self {
        Self {
            runtime: R::default(),
            state: (),
            config: Config::default(),
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
        }
    }

    /// The settings of the server or client and its connections.
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }
}

/// A builder used for a server.
pub type ServerBuilder<R, S = ()> = Builder<R, S>;
/// A builder used for a client.
pub type ClientBuilder<R, S = ()> = Builder<R, S>;
