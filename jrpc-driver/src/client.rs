//! Dialling a server: the client side of a connection serves methods too, for the calls the
//! server makes to it.

use std::sync::Arc;

use tungstenite::client::IntoClientRequest;
use tungstenite::handshake::client::Request;
use tungstenite::http::{HeaderName, HeaderValue, header};

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
    /// A header given with [`Builder::header`] cannot be sent: its name or value is not valid
    /// HTTP, or the WebSocket handshake sets it itself.
    #[error("invalid handshake header '{name}': {reason}")]
    InvalidHeader {
        /// The header's name as given.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A subprotocol given with [`Builder::subprotocol`] is not an HTTP token (empty, or with
    /// spaces, commas or other separators).
    #[error("invalid subprotocol '{protocol}': not an HTTP token")]
    InvalidSubprotocol {
        /// The subprotocol as given.
        protocol: String,
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
        let mut request = request;
        self.handshake.apply(&mut request)?;
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

/// What a client adds to its opening handshake: extra headers and offered subprotocols, as
/// given to [`Builder::header`] and [`Builder::subprotocol`]; checked when connecting.
#[derive(Debug, Clone, Default)]
pub(crate) struct ClientHandshake {
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) subprotocols: Vec<String>,
}

/// The headers the WebSocket handshake writes itself (besides `Host`, which may be replaced).
const HANDSHAKE_HEADERS: [HeaderName; 5] = [
    header::CONNECTION,
    header::UPGRADE,
    header::SEC_WEBSOCKET_KEY,
    header::SEC_WEBSOCKET_VERSION,
    header::SEC_WEBSOCKET_PROTOCOL,
];

impl ClientHandshake {
    /// Adds the headers and subprotocols to `request`, or says which one cannot be sent.
    fn apply(&self, request: &mut Request) -> Result<(), ConnectError> {
        for (name, value) in &self.headers {
            let invalid = |reason: String| ConnectError::InvalidHeader {
                name: name.clone(),
                reason,
            };
            let parsed = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| invalid("not a valid header name".to_owned()))?;
            if HANDSHAKE_HEADERS.contains(&parsed) {
                let reason = match parsed == header::SEC_WEBSOCKET_PROTOCOL {
                    true => "offer subprotocols with `subprotocol` instead",
                    false => "the WebSocket handshake sets it",
                };
                return Err(invalid(reason.to_owned()));
            }
            let value = HeaderValue::from_str(value).map_err(|_| {
                invalid("the value holds a line break or another control character".to_owned())
            })?;
            let headers = request.headers_mut();
            if parsed == header::HOST {
                headers.insert(parsed, value);
            } else {
                headers.append(parsed, value);
            }
        }
        if !self.subprotocols.is_empty() {
            if let Some(bad) = self.subprotocols.iter().find(|p| !is_token(p)) {
                return Err(ConnectError::InvalidSubprotocol {
                    protocol: bad.clone(),
                });
            }
            let offered = HeaderValue::from_str(&self.subprotocols.join(", ")).map_err(|_| {
                ConnectError::InvalidSubprotocol {
                    protocol: self.subprotocols.join(", "),
                }
            })?;
            request
                .headers_mut()
                .insert(header::SEC_WEBSOCKET_PROTOCOL, offered);
        }
        Ok(())
    }
}

/// Whether `text` is an HTTP token (RFC 9110 §5.6.2), as a subprotocol name must be.
fn is_token(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
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

#[cfg(test)]
mod handshake_tests {
    use super::*;

    fn applied(handshake: ClientHandshake) -> Result<Request, ConnectError> {
        let mut request = "ws://localhost:9000/".into_client_request().unwrap();
        handshake.apply(&mut request)?;
        Ok(request)
    }

    fn with_header(name: &str, value: &str) -> ClientHandshake {
        ClientHandshake {
            headers: vec![(name.to_owned(), value.to_owned())],
            subprotocols: Vec::new(),
        }
    }

    #[test]
    fn headers_are_added_and_host_replaced() {
        let mut handshake = with_header("Authorization", "Bearer abc");
        handshake.headers.push(("X-Tag".into(), "1".into()));
        handshake.headers.push(("X-Tag".into(), "2".into()));
        handshake
            .headers
            .push(("Host".into(), "example.test".into()));
        let request = applied(handshake).unwrap();
        let headers = request.headers();
        assert_eq!(headers["authorization"], "Bearer abc");
        assert_eq!(headers.get_all("x-tag").iter().count(), 2);
        assert_eq!(headers.get_all("host").iter().count(), 1);
        assert_eq!(headers["host"], "example.test");
    }

    #[test]
    fn invalid_headers_are_typed_errors() {
        for (name, value) in [
            ("Bad Name", "x"),
            ("", "x"),
            ("X-Ok", "line\r\nbreak"),
            ("Upgrade", "h2c"),
            ("sec-websocket-key", "x"),
            ("Sec-WebSocket-Protocol", "jrpc"),
        ] {
            match applied(with_header(name, value)) {
                Err(ConnectError::InvalidHeader { name: named, .. }) => assert_eq!(named, name),
                other => panic!("{name}: {other:?}"),
            }
        }
    }

    #[test]
    fn subprotocols_are_offered_in_order_and_checked() {
        let offered = ClientHandshake {
            headers: Vec::new(),
            subprotocols: vec!["jrpc.v1".into(), "jrpc".into()],
        };
        let request = applied(offered).unwrap();
        assert_eq!(request.headers()["sec-websocket-protocol"], "jrpc.v1, jrpc");
        for bad in ["", "a b", "a,b", "é"] {
            let handshake = ClientHandshake {
                headers: Vec::new(),
                subprotocols: vec!["ok".into(), bad.into()],
            };
            match applied(handshake) {
                Err(ConnectError::InvalidSubprotocol { protocol }) => assert_eq!(protocol, bad),
                other => panic!("{bad:?}: {other:?}"),
            }
        }
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
            handshake: ClientHandshake::default(),
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
