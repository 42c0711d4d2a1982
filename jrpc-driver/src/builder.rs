//! The settings a server or a client is made with: runtime, shared state, [`Config`].

use crate::{Config, Groups, Runtime};

/// Builds a server ([`bind`](Builder::bind)) or a client connection
/// ([`connect`](Builder::connect)) with state and settings of its own.
#[derive(Debug)]
pub struct Builder<R, S = ()> {
    pub(crate) runtime: R,
    pub(crate) state: S,
    pub(crate) config: Config,
    /// The registry to share; `None`: one of its own.
    pub(crate) groups: Option<Groups>,
}

impl<R: Runtime + Default> Default for Builder<R, ()> {
    fn default() -> Self {
        Self {
            runtime: R::default(),
            state: (),
            config: Config::default(),
            groups: None,
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
}

/// A builder used for a server.
pub type ServerBuilder<R, S = ()> = Builder<R, S>;
/// A builder used for a client.
pub type ClientBuilder<R, S = ()> = Builder<R, S>;
