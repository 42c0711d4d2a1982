//! JRPC over WebSockets on tokio: Rust functions become methods a browser page or another
//! service can call, and either side can call the other.
//!
//! ```
//! use jrpc_tokio::{Client, Methods, Server};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let methods = Methods::new().add("Add", |a: i64, b: i64| a + b);
//! let server = Server::bind("127.0.0.1:0", methods).await?;
//! let url = format!("ws://{}", server.local_addr());
//! let shutdown = server.handle();
//! tokio::spawn(server.run());
//!
//! let peer = Client::connect(&url).await?;
//! let sum: i64 = peer.request("Add", (5, 10)).await?;
//! assert_eq!(sum, 15);
//! shutdown.shutdown(std::time::Duration::from_secs(1)).await;
//! # Ok(())
//! # }
//! ```
//!
//! Features: `rustls` lets clients dial `wss://` (TLS by rustls, trusting the Mozilla roots and
//! any root added with [`Config::add_root_certificate`](jrpc_driver::Config)); `axum` serves
//! JRPC on a route of an axum `Router` (one port for the pages and the WebSocket), `hyper` on
//! a hyper server; `metrics` hands the figures of connections and calls to the `metrics`
//! crate's facade, for the recorder the program installs (`examples/prometheus.rs` serves them
//! to Prometheus). Logs go through `tracing` in any case: a span per connection, its opening
//! and closing at info, each call at debug. The `jrpc` command-line client is the `jrpc-cli`
//! crate (`cargo install jrpc-cli`).

/// The crate's README.md, whose examples are compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use jrpc_driver::tungstenite::Error as WsError;
use jrpc_driver::tungstenite::error::UrlError;
use jrpc_driver::tungstenite::handshake::client::{Request, Response};
use jrpc_driver::tungstenite::handshake::server::Callback;
use jrpc_driver::tungstenite::protocol::WebSocketConfig;
use jrpc_driver::{Dial, DialTarget, Sleep};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

jrpc_driver::adapter_api!(Tokio, "tokio");

#[cfg(feature = "axum")]
pub mod axum;
#[cfg(feature = "hyper")]
pub mod hyper;
mod read_ahead;

pub use read_ahead::ReadAheadStream;

/// The tokio runtime, as the JRPC driver uses it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Tokio;

impl jrpc_driver::Runtime for Tokio {
    type Listener = TcpListener;
    type Tcp = TcpStream;
    type ServerSocket = WebSocketStream<ReadAheadStream<TcpStream>>;
    type ClientSocket = WebSocketStream<MaybeTlsStream<ReadAheadStream<TcpStream>>>;

    fn spawn<F>(&self, future: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        tokio::spawn(future);
    }

    fn sleep_until(&self, deadline: Instant) -> Sleep {
        Box::pin(tokio::time::sleep_until(deadline.into()))
    }

    async fn bind(&self, addr: SocketAddr) -> io::Result<TcpListener> {
        TcpListener::bind(addr).await
    }

    fn local_addr(listener: &TcpListener) -> io::Result<SocketAddr> {
        listener.local_addr()
    }

    async fn accept(listener: &TcpListener) -> io::Result<(TcpStream, SocketAddr)> {
        let (tcp, addr) = listener.accept().await?;
        tcp.set_nodelay(true)?;
        Ok((tcp, addr))
    }

    async fn accept_websocket<C>(
        tcp: TcpStream,
        callback: C,
        config: WebSocketConfig,
    ) -> Result<Self::ServerSocket, WsError>
    where
        C: Callback + Unpin + Send + 'static,
    {
        let tcp = ReadAheadStream::new(tcp);
        tokio_tungstenite::accept_hdr_async_with_config(tcp, callback, Some(config)).await
    }

    async fn linger<W: jrpc_driver::WebSocket>(socket: W, idle: Duration) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut socket = socket;
        let any: &mut dyn std::any::Any = &mut socket;
        let Some(websocket) = any.downcast_mut::<Self::ServerSocket>() else {
            return;
        };
        let tcp = websocket.get_mut().get_mut();
        let discard = async {
            let _ = tcp.shutdown().await;
            let mut buffer = [0u8; 8192];
            while let Ok(Ok(1..)) = tokio::time::timeout(idle, tcp.read(&mut buffer)).await {}
        };
        let _ = tokio::time::timeout(idle * jrpc_driver::LINGER_LIMIT, discard).await;
    }

    async fn connect(
        request: Request,
        dial: Dial,
    ) -> Result<(Self::ClientSocket, Response), WsError> {
        let DialTarget { host, port, secure } = DialTarget::of(&request)?;
        if secure && !cfg!(feature = "rustls") {
            return Err(WsError::Url(UrlError::TlsFeatureNotEnabled));
        }
        let tcp = TcpStream::connect((host.as_str(), port)).await?;
        tcp.set_nodelay(true)?;
        let tcp = ReadAheadStream::new(tcp);
        let config = Some(dial.websocket);
        #[cfg(feature = "rustls")]
        {
            let connector = dial.tls.map(tokio_tungstenite::Connector::Rustls);
            tokio_tungstenite::client_async_tls_with_config(request, tcp, config, connector).await
        }
        #[cfg(not(feature = "rustls"))]
        tokio_tungstenite::client_async_with_config(request, MaybeTlsStream::Plain(tcp), config)
            .await
    }
}
