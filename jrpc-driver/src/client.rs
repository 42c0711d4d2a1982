//! Dialling a server: the client side of a connection serves methods too, for the calls the
//! server makes to it.

use std::sync::Arc;

use tungstenite::client::IntoClientRequest;

use crate::{Builder, Dial, Methods, Peer, Runtime, connection, reconnect};

/// Why a client could not connect.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The URL is not a usable `ws://` URL.
    #[error("invalid URL '{url}': {reason}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The TLS settings of a `wss://` URL are unusable (a root certificate that does not
    /// parse).
    #[error("cannot set up TLS for {url}: {reason}")]
    Tls {
        /// The URL dialled.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// The TCP connection, the TLS handshake or the WebSocket handshake failed.
    #[error("cannot connect to {url}: {source}")]
    Handshake {
        /// The URL dialled.
        url: String,
        /// The underlying failure.
        #[source]
        source: Box<tungstenite::Error>,
    },
}

impl<R: Runtime, S: Clone + Send + Sync + 'static> Builder<R, S> {
    /// Dials `url` (`ws://host:port/path`, or `wss://` with the `rustls` feature) and serves
    /// `methods` to the server on the new connection. The returned [`Peer`] calls the server.
    ///
    /// With [`reconnect`](Self::reconnect), the first dial must succeed (its error is
    /// returned); later connections are dialled again whenever one ends.
    ///
    /// ```
    /// # use jrpc_tokio::{Client, Ctx, Methods, Server};
    /// use std::time::Duration;
    /// use jrpc_tokio::Config;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let greet = |ctx: Ctx| async move {
    /// #     let name: String = ctx.peer().request("GetName", ()).await?;
    /// #     Ok::<_, jrpc_tokio::CallError>(format!("Hello, {name}!"))
    /// # };
    /// # let server = Server::bind("127.0.0.1:0", Methods::new().add("Hello", greet)).await?;
    /// # let url = format!("ws://{}", server.local_addr());
    /// # tokio::spawn(server.run());
    /// // The server's `Hello` calls back the client's `GetName` before it answers.
    /// let methods = Methods::new().add("GetName", || "Ada");
    /// let server = Client::builder()
    ///     .config(Config::default().call_timeout(Some(Duration::from_secs(5))))
    ///     .connect(&url, methods)
    ///     .await?;
    /// let greeting: String = server.request("Hello", ()).await?;
    /// assert_eq!(greeting, "Hello, Ada!");
    /// # Ok(())
    /// # }
    /// ```
    pub async fn connect(self, url: &str, methods: Methods<S>) -> Result<Peer, ConnectError> {
        match self.reconnect.clone() {
            None => self.open(url, &Arc::new(methods)).await,
            Some(settings) => reconnect::connect(self, url, methods, settings).await,
        }
    }

    /// Dials `url` once and starts the connection's task.
    pub(crate) async fn open(
        &self,
        url: &str,
        methods: &Arc<Methods<S>>,
    ) -> Result<Peer, ConnectError> {
        let invalid = |reason: String| ConnectError::InvalidUrl {
            url: url.to_owned(),
            reason,
        };
        let request = url
            .into_client_request()
            .map_err(|e| invalid(e.to_string()))?;
        let secure = match request.uri().scheme_str() {
            Some("ws") => false,
            Some("wss") => true,
            other => {
                let scheme = other.unwrap_or("none");
                return Err(invalid(format!(
                    "the scheme must be ws:// or wss://, not {scheme}"
                )));
            }
        };
        let dial = self.dial(url, secure)?;
        let groups = self.groups_or_own();
        let (socket, _response) =
            R::connect(request, dial)
                .await
                .map_err(|e| ConnectError::Handshake {
                    url: url.to_owned(),
                    source: Box::new(e),
                })?;
        Ok(connection::spawn(
            &self.runtime,
            socket,
            methods.clone(),
            self.state.clone(),
            &self.config,
            None,
            None,
            &groups,
        ))
    }
}

impl<R, S> Builder<R, S> {
    /// How to dial: TLS settings for a `wss://` URL.
    #[cfg(feature = "rustls")]
    fn dial(&self, url: &str, secure: bool) -> Result<Dial, ConnectError> {
        let tls = match secure {
            false => None,
            true => Some(self.config.tls().map_err(|e| ConnectError::Tls {
                url: url.to_owned(),
                reason: e.to_string(),
            })?),
        };
        Ok(Dial {
            websocket: self.config.websocket(),
            tls,
        })
    }

    /// How to dial: without the `rustls` feature, only `ws://`.
    #[cfg(not(feature = "rustls"))]
    fn dial(&self, url: &str, secure: bool) -> Result<Dial, ConnectError> {
        if secure {
            return Err(ConnectError::InvalidUrl {
                url: url.to_owned(),
                reason: "wss:// needs TLS: enable the `rustls` feature of jrpc-tokio or \
                         jrpc-async-std"
                    .to_owned(),
            });
        }
        Ok(Dial::plain(self.config.websocket()))
    }
}

/// Entry point of the client side: [`Client::connect`] for a plain client,
/// [`Client::builder`] for one with methods, state or settings of its own.
///
/// ```
/// # use jrpc_tokio::{Client, Methods, Server};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let server = Server::bind("127.0.0.1:0", Methods::new().add("Add", |a: i64, b: i64| a + b)).await?;
/// # let url = format!("ws://{}", server.local_addr());
/// # tokio::spawn(server.run());
/// // `url` is the server's, e.g. "ws://127.0.0.1:9000".
/// let server = Client::connect(&url).await?;
/// let sum: i64 = server.request("Add", (5, 10)).await?;
/// assert_eq!(sum, 15);
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Client<R>(std::marker::PhantomData<R>);

impl<R: Runtime + Default> Client<R> {
    /// A builder with default settings and no state: for a client that serves methods to its
    /// server, has state or settings of its own ([`Builder::connect`] has an example).
    pub fn builder() -> Builder<R, ()> {
        Builder::default()
    }

    /// Dials `url` with default settings, serving no methods.
    ///
    /// ```no_run
    /// # use jrpc_tokio::Client;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let server = Client::connect("ws://127.0.0.1:9000").await?;
    /// let sum: i64 = server.request("Add", (5, 10)).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn connect(url: &str) -> Result<Peer, ConnectError> {
        Self::builder().connect(url, Methods::new()).await
    }
}

#[cfg(all(test, not(feature = "rustls")))]
mod tests {
    use super::*;
    use crate::Config;

    /// Without TLS compiled in, a `wss://` URL is refused before dialling, with the feature to
    /// enable.
    #[test]
    fn wss_without_rustls_names_the_feature() {
        let builder = Builder {
            runtime: (),
            state: (),
            config: Config::default(),
            groups: None,
            reconnect: None,
            auth: None,
        };
        match builder.dial("wss://localhost/", true) {
            Err(ConnectError::InvalidUrl { reason, .. }) => {
                assert!(reason.contains("`rustls` feature"), "{reason}")
            }
            other => panic!("{other:?}"),
        }
        assert!(builder.dial("ws://localhost/", false).is_ok());
    }
}
