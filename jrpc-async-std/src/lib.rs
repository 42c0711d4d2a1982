//! JRPC over WebSockets on async-std: the same API as `jrpc-tokio`, so that switching runtime
//! is a change of crate name, nothing else.
//!
//! ```
//! use jrpc_async_std::{Client, Methods, Server};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # async_std::task::block_on(async {
//! let methods = Methods::new().add("Add", |a: i64, b: i64| a + b);
//! let server = Server::bind("127.0.0.1:0", methods).await?;
//! let url = format!("ws://{}", server.local_addr());
//! let shutdown = server.handle();
//! async_std::task::spawn(server.run());
//!
//! let peer = Client::connect(&url).await?;
//! let sum: i64 = peer.request("Add", (5, 10)).await?;
//! assert_eq!(sum, 15);
//! shutdown.shutdown(std::time::Duration::from_secs(1)).await;
//! # Ok(())
//! # })
//! # }
//! ```
//!
//! async-std is discontinued upstream; this crate stays for the users who run on it. Clients
//! dial `ws://`, and `wss://` with the `rustls` feature (as in `jrpc-tokio`); the `metrics`
//! feature hands the figures of connections and calls to the `metrics` crate's facade, and logs
//! go through `tracing`, as in `jrpc-tokio`.
//!
//! Tuning: async-std's executor runs one thread per core, and a call that wakes a sleeping
//! one costs futex and epoll work that tokio does not spend (see `BENCHMARKS.md`). On a small
//! machine serving few busy connections, `ASYNC_STD_THREAD_COUNT=1` measured about 30% less
//! server CPU per call (2 cores, one connection); with 64 busy connections it cost about 25%
//! of the throughput instead.
//!
//! **It works on smol too.** A program driven by `smol::block_on`, with its own tasks on a
//! smol executor, uses this crate as it is: its sockets and timers are async-io's, the reactor
//! smol drives as well, and the task it spawns for each connection runs on async-std's global
//! executor, whose threads start on first use — nothing has to start an async-std runtime,
//! though async-std comes along as a dependency. `tests/smol.rs` checks it: the whole
//! integration suite under `smol::block_on`, and a server whose accept loop is a smol task,
//! called both ways.

/// The crate's README.md, whose examples are compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use async_std::net::{TcpListener, TcpStream};
use async_tungstenite::WebSocketStream;
use jrpc_driver::tungstenite::Error as WsError;
use jrpc_driver::tungstenite::error::UrlError;
use jrpc_driver::tungstenite::handshake::client::{Request, Response};
use jrpc_driver::tungstenite::handshake::server::Callback;
use jrpc_driver::tungstenite::protocol::WebSocketConfig;
use jrpc_driver::{Dial, DialTarget, Sleep};

jrpc_driver::adapter_api!(AsyncStd, "async-std");

mod read_ahead;

pub use read_ahead::ReadAheadStream;

/// What a client's WebSocket runs over: TCP, or TLS over TCP for a `wss://` URL, read through
/// a read-ahead.
#[cfg(feature = "rustls")]
type ClientStream = futures_util::future::Either<
    ReadAheadStream<TcpStream>,
    futures_rustls::client::TlsStream<ReadAheadStream<TcpStream>>,
>;
/// What a client's WebSocket runs over: TCP, read through a read-ahead (`wss://` needs the
/// `rustls` feature).
#[cfg(not(feature = "rustls"))]
type ClientStream = ReadAheadStream<TcpStream>;

/// The async-std runtime, as the JRPC driver uses it.
#[derive(Debug, Clone, Copy, Default)]
pub struct AsyncStd;

impl jrpc_driver::Runtime for AsyncStd {
    type Listener = TcpListener;
    type Tcp = TcpStream;
    type ServerSocket = WebSocketStream<ReadAheadStream<TcpStream>>;
    type ClientSocket = WebSocketStream<ClientStream>;

    fn spawn<F>(&self, future: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        async_std::task::spawn(future);
    }

    fn sleep_until(&self, deadline: Instant) -> Sleep {
        Box::pin(async_std::task::sleep(
            deadline.saturating_duration_since(Instant::now()),
        ))
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
        async_tungstenite::accept_hdr_async_with_config(tcp, callback, Some(config)).await
    }

    async fn linger<W: jrpc_driver::WebSocket>(socket: W, idle: Duration) {
        use async_std::future::timeout;
        use async_std::io::ReadExt;
        let mut socket = socket;
        let any: &mut dyn std::any::Any = &mut socket;
        let Some(websocket) = any.downcast_mut::<Self::ServerSocket>() else {
            return;
        };
        let tcp = websocket.get_mut().get_mut();
        let _ = tcp.shutdown(std::net::Shutdown::Write);
        let discard = async {
            let mut buffer = [0u8; 8192];
            while let Ok(Ok(1..)) = timeout(idle, tcp.read(&mut buffer)).await {}
        };
        let _ = timeout(idle * jrpc_driver::LINGER_LIMIT, discard).await;
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
            use futures_util::future::Either;
            let stream = match (secure, dial.tls) {
                (false, _) => Either::Left(tcp),
                (true, Some(tls)) => {
                    let name = futures_rustls::rustls::pki_types::ServerName::try_from(host)
                        .map_err(|_| WsError::Url(UrlError::NoHostName))?;
                    Either::Right(
                        futures_rustls::TlsConnector::from(tls)
                            .connect(name, tcp)
                            .await?,
                    )
                }
                (true, None) => return Err(WsError::Url(UrlError::TlsFeatureNotEnabled)),
            };
            async_tungstenite::client_async_with_config(request, stream, config).await
        }
        #[cfg(not(feature = "rustls"))]
        async_tungstenite::client_async_with_config(request, tcp, config).await
    }
}
