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
    /// arrives until the peer closes, falls silent for `idle`, or [`LINGER_LIMIT`] `idle`s
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
