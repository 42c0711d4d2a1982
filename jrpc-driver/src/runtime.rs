//! What an adapter supplies: tasks, timers and sockets of one async runtime.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::time::{Duration, Instant};

use futures_util::{Sink, Stream};
use tungstenite::handshake::client::{Request as ClientRequest, Response as ClientResponse};
use tungstenite::handshake::server::Callback;
use tungstenite::protocol::WebSocketConfig;
use tungstenite::{Error as WsError, Message};

/// A WebSocket as the driver reads and writes it: a stream of messages and a sink for them.
/// Both `tokio-tungstenite`'s and `async-tungstenite`'s `WebSocketStream` are one.
pub trait WebSocket:
    Stream<Item = Result<Message, WsError>> + Sink<Message, Error = WsError> + Unpin + Send + 'static
{
}

impl<T> WebSocket for T where
    T: Stream<Item = Result<Message, WsError>>
        + Sink<Message, Error = WsError>
        + Unpin
        + Send
        + 'static
{
}

/// How a client dials: the WebSocket settings of the connection and, for a `wss://` URL, the
/// TLS settings (built from [`Config`](crate::Config) with the `rustls` feature).
#[derive(Debug, Clone)]
pub struct Dial {
    /// Buffer sizes and message limits of the connection.
    pub websocket: WebSocketConfig,
    /// The TLS client settings for a `wss://` URL; `None` for `ws://`.
    #[cfg(feature = "rustls")]
    pub tls: Option<std::sync::Arc<rustls::ClientConfig>>,
}

impl Dial {
    /// Dialling without TLS (a `ws://` URL) with these WebSocket settings.
    pub fn plain(websocket: WebSocketConfig) -> Self {
        Self {
            websocket,
            #[cfg(feature = "rustls")]
            tls: None,
        }
    }
}

/// Where a client dials, read from its request's URL: the host (an IPv6 address without its
/// brackets), the port (the scheme's own when the URL has none) and whether it is `wss://`.
/// One reading for every adapter, which connects the TCP stream itself (to read it through a
/// [`ReadAhead`](crate::ReadAhead)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DialTarget {
    /// Host name or address to connect to.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Whether the URL is `wss://` (TLS).
    pub secure: bool,
}

impl DialTarget {
    /// The target of `request`'s URL, or tungstenite's URL error for it (a scheme other than
    /// `ws`/`wss`, no host).
    pub fn of(request: &ClientRequest) -> Result<Self, WsError> {
        use tungstenite::error::UrlError;
        let uri = request.uri();
        let secure = match uri.scheme_str() {
            Some("ws") => false,
            Some("wss") => true,
            _ => return Err(WsError::Url(UrlError::UnsupportedUrlScheme)),
        };
        let host = uri
            .host()
            .ok_or(WsError::Url(UrlError::NoHostName))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = uri.port_u16().unwrap_or(if secure { 443 } else { 80 });
        Ok(Self { host, port, secure })
    }
}

/// How many idle timeouts [`Runtime::linger`] may last in all: a peer that keeps sending
/// slowly is dropped after that.
pub const LINGER_LIMIT: u32 = 30;

/// A timer future.
pub type Sleep = Pin<Box<dyn Future<Output = ()> + Send>>;

/// One async runtime: how to spawn a task, sleep, listen, accept and dial.
///
/// The connection driver, the server and the client are written once over this trait;
/// `jrpc-tokio` and `jrpc-async-std` implement it in a few dozen lines each.
pub trait Runtime: Clone + Send + Sync + 'static {
    /// A listening TCP socket.
    type Listener: Send + Sync + 'static;
    /// An accepted TCP connection, before the WebSocket handshake.
    type Tcp: Send + 'static;
    /// The WebSocket a server gets from an accepted connection.
    type ServerSocket: WebSocket;
    /// The WebSocket a client gets from dialling.
    type ClientSocket: WebSocket;

    /// Runs `future` as a task of its own.
    fn spawn<F>(&self, future: F)
    where
        F: Future<Output = ()> + Send + 'static;

    /// A future that completes at `deadline`.
    fn sleep_until(&self, deadline: Instant) -> Sleep;

    /// Listens on `addr`.
    fn bind(&self, addr: SocketAddr) -> impl Future<Output = io::Result<Self::Listener>> + Send;

    /// The address a listener is bound to (its port when bound to port 0).
    fn local_addr(listener: &Self::Listener) -> io::Result<SocketAddr>;

    /// Accepts the next TCP connection.
    fn accept(
        listener: &Self::Listener,
    ) -> impl Future<Output = io::Result<(Self::Tcp, SocketAddr)>> + Send;

    /// Runs the server side of the WebSocket handshake; `callback` sees the HTTP request and
    /// may refuse it.
    fn accept_websocket<C>(
        tcp: Self::Tcp,
        callback: C,
        config: WebSocketConfig,
    ) -> impl Future<Output = Result<Self::ServerSocket, WsError>> + Send
    where
        C: Callback + Unpin + Send + 'static;

    /// Ends a connection whose peer may still be sending (a message over the size limit, cut
    /// short): shuts down the sending half of the TCP connection, then reads and discards what
    /// arrives until the peer closes, falls silent for `idle`, or `LINGER_LIMIT` (30) `idle`s
    /// have passed. Closing a socket with unread input makes the kernel send a reset, which
    /// destroys the close frame still in flight to the peer.
    ///
    /// Runtimes reach the TCP stream under their own WebSocket types; any other socket (one
    /// another HTTP server upgraded, say) is just dropped, which is what this default does.
    fn linger<W: WebSocket>(socket: W, idle: Duration) -> impl Future<Output = ()> + Send {
        let _ = idle;
        async move { drop(socket) }
    }

    /// Dials a `ws://` URL (or a `wss://` one when `dial` carries TLS settings) and runs the
    /// client side of the handshake.
    fn connect(
        request: ClientRequest,
        dial: Dial,
    ) -> impl Future<Output = Result<(Self::ClientSocket, ClientResponse), WsError>> + Send;
}

#[cfg(test)]
mod tests {
    use super::*;
    use tungstenite::client::IntoClientRequest;
    use tungstenite::error::UrlError;

    fn target(url: &str) -> Result<DialTarget, WsError> {
        DialTarget::of(&url.into_client_request()?)
    }

    #[test]
    fn a_target_is_the_urls_host_port_and_scheme() {
        let at = |host: &str, port, secure| DialTarget {
            host: host.to_owned(),
            port,
            secure,
        };
        assert_eq!(
            target("ws://example.org/rpc").ok(),
            Some(at("example.org", 80, false))
        );
        assert_eq!(
            target("wss://example.org").ok(),
            Some(at("example.org", 443, true))
        );
        assert_eq!(
            target("ws://127.0.0.1:9000").ok(),
            Some(at("127.0.0.1", 9000, false))
        );
        assert_eq!(
            target("wss://[::1]:8443/x").ok(),
            Some(at("::1", 8443, true))
        );
        assert!(matches!(
            target("http://example.org"),
            Err(WsError::Url(UrlError::UnsupportedUrlScheme))
        ));
    }
}
