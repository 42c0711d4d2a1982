//! The servers under test, each run by `jrpc-bench serve <system> <port>` in a process of its
//! own, so that `/proc/PID/stat` and the RSS measured are the server's alone.
//!
//! Each binds 127.0.0.1, prints `PORT <n>` on stdout once it listens, and exits when its standard
//! input closes (the driver holds the other end, so no server outlives the benchmark).

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::Poll;

use futures_util::{Sink, Stream};
use serde_json::value::RawValue;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::big::{Item, Shape};

/// The systems compared, in the order of the table.
pub const SYSTEMS: [&str; 9] = [
    "jrpc-tokio",
    "jrpc-direct",
    "jrpc-axum",
    "jrpc-async-std",
    "jsonrpsee",
    "echo",
    "echo-async-std",
    "echo-fws",
    "echo-direct",
];

/// Systems that run only when `--systems` names them: `echo-fws`, the echo on another
/// WebSocket library, is a measurement of tungstenite's share (BENCHMARKS.md), not a floor
/// every run needs; `echo-direct` and `jrpc-direct` measure tokio-tungstenite's
/// (`direct.rs`).
pub const OPT_IN: [&str; 3] = ["echo-fws", "echo-direct", "jrpc-direct"];

/// The systems of the fan-out load, in the order of its table. `broadcast` is the floor;
/// `socketio` is not a `serve` system but Node running `bench/socketio/server.js`.
pub const FANOUT_SYSTEMS: [&str; 4] = ["broadcast", "socketio", "jrpc-twoway", "jrpc-groups"];

/// Most frames the echo server handles in one wake-up before it yields.
const BUDGET: usize = 128;

/// Frames a connection of the broadcast floor holds waiting to be written; a broadcast that
/// finds them full skips that connection (a lost delivery the client counts). The fan-out
/// load keeps far fewer in flight, so only a connection that stopped reading reaches it.
const BROADCAST_QUEUE: usize = 1024;

/// Runs the server `system` on 127.0.0.1:`port` until standard input closes.
pub fn serve(system: &str, port: u16) -> Result<(), String> {
    crate::sys::raise_nofile_limit();
    std::thread::spawn(|| {
        // The driver closes our stdin (or dies): stop.
        let mut sink = [0u8; 64];
        while matches!(std::io::stdin().read(&mut sink), Ok(n) if n > 0) {}
        std::process::exit(0);
    });
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    #[cfg(feature = "metrics")]
    if system.starts_with("jrpc") {
        record_metrics()?;
    }
    match system {
        "jrpc-tokio" => tokio_runtime()?.block_on(jrpc_tokio_server(addr)),
        "jrpc-axum" => tokio_runtime()?.block_on(jrpc_axum_server(addr)),
        "jrpc-async-std" => async_std::task::block_on(jrpc_async_std_server(addr)),
        "jsonrpsee" => tokio_runtime()?.block_on(jsonrpsee_server(addr)),
        "echo" => tokio_runtime()?.block_on(echo_server(addr)),
        "echo-async-std" => async_std::task::block_on(echo_async_std_server(addr)),
        "echo-fws" => tokio_runtime()?.block_on(echo_fws_server(addr)),
        "echo-direct" => tokio_runtime()?.block_on(echo_direct_server(addr)),
        "jrpc-direct" => tokio_runtime()?.block_on(jrpc_direct_server(addr)),
        "broadcast" => tokio_runtime()?.block_on(broadcast_server(addr)),
        "jrpc-twoway" => tokio_runtime()?.block_on(jrpc_twoway_server(addr)),
        "jrpc-groups" => tokio_runtime()?.block_on(jrpc_groups_server(addr)),
        other => Err(format!(
            "unknown system '{other}' (one of {SYSTEMS:?} or {FANOUT_SYSTEMS:?})"
        )),
    }
}

/// Installs a Prometheus recorder for the jrpc servers' figures (feature `metrics`), drained
/// every second as a scraped server's would be.
#[cfg(feature = "metrics")]
fn record_metrics() -> Result<(), String> {
    let handle = metrics_exporter_prometheus::PrometheusBuilder::new()
        .set_buckets_for_metric(
            metrics_exporter_prometheus::Matcher::Full("jrpc_call_duration_seconds".to_owned()),
            &[1e-5, 1e-4, 1e-3, 1e-2, 0.1, 1.0],
        )
        .and_then(|builder| builder.install_recorder())
        .map_err(|e| format!("metrics recorder: {e}"))?;
    std::thread::spawn(move || {
        loop {
            std::thread::sleep(std::time::Duration::from_secs(1));
            handle.run_upkeep();
        }
    });
    Ok(())
}

/// The runtime of the tokio-based servers: tokio's default multi-thread runtime (one worker
/// per core), as `#[tokio::main]` makes it.
fn tokio_runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))
}

fn announce(addr: SocketAddr) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "PORT {}", addr.port());
    let _ = out.flush();
}

/// Announces a bound jrpc-tokio server's port and serves until the process ends.
async fn serve_jrpc<S: Clone + Send + Sync + 'static>(
    server: std::io::Result<jrpc_tokio::Server<S>>,
) -> Result<(), String> {
    let server = server.map_err(|e| format!("bind: {e}"))?;
    announce(server.local_addr());
    server.run().await;
    Ok(())
}

/// The methods of the jrpc servers (the same table on either runtime): `add` for the small calls, `echo_text`,
/// `echo_items` and `echo_raw` for the large messages (`big.rs`).
fn jrpc_methods() -> jrpc_tokio::Methods {
    jrpc_tokio::Methods::new()
        .add("add", |a: f64, b: f64| a + b)
        .add(Shape::Text.method(), |text: String| text)
        .add(Shape::Items.method(), |(items,): (Vec<Item>,)| items)
        .add(Shape::Raw.method(), |(items,): (Box<RawValue>,)| items)
}

/// The jrpc servers' settings: the defaults, without heartbeats. The benchmark holds its
/// connections open and unread between loads (its raw client answers a ping only while it
/// reads), and a server's heartbeat rightly drops a peer silent for its interval and timeout
/// (45 s): the loads after the first minute would find their connections closed.
fn jrpc_config() -> jrpc_tokio::Config {
    jrpc_tokio::Config::default().ping_interval(None)
}

async fn jrpc_tokio_server(addr: SocketAddr) -> Result<(), String> {
    let builder = jrpc_tokio::Server::builder().config(jrpc_config());
    serve_jrpc(builder.bind(addr, jrpc_methods()).await).await
}

/// The jrpc-tokio server mounted on a route of an axum `Router` (`jrpc_tokio::axum`): the
/// WebSocket upgraded by hyper, then driven as `Server::bind` drives its own.
async fn jrpc_axum_server(addr: SocketAddr) -> Result<(), String> {
    use axum::serve::ListenerExt;

    let methods = jrpc_methods();
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| format!("bind: {e}"))?;
    let local_addr = listener.local_addr().map_err(|e| e.to_string())?;
    let rpc = jrpc_tokio::Server::builder()
        .config(jrpc_config())
        .acceptor(local_addr, methods);
    let app = axum::Router::new().route("/", jrpc_tokio::axum::route(rpc));
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    announce(local_addr);
    axum::serve(listener, app)
        .await
        .map_err(|e| format!("serve: {e}"))
}

async fn jrpc_async_std_server(addr: SocketAddr) -> Result<(), String> {
    let methods = jrpc_methods();
    let server = jrpc_async_std::Server::builder()
        .config(jrpc_config())
        .bind(addr, methods)
        .await
        .map_err(|e| format!("bind: {e}"))?;
    announce(server.local_addr());
    server.run().await;
    Ok(())
}

async fn jsonrpsee_server(addr: SocketAddr) -> Result<(), String> {
    use jsonrpsee::server::{RpcModule, Server, ServerConfig};
    use jsonrpsee::types::ErrorObjectOwned;

    let mut module = RpcModule::new(());
    module
        .register_method("add", |params, _, _| {
            let (a, b): (f64, f64) = params.parse()?;
            Ok::<f64, ErrorObjectOwned>(a + b)
        })
        .map_err(|e| format!("register: {e}"))?;
    // Its WebSocket server; the default limit of 100 connections is raised for the idle test.
    let config = ServerConfig::builder()
        .ws_only()
        .max_connections(30_000)
        .build();
    let server = Server::builder()
        .set_config(config)
        .build(addr)
        .await
        .map_err(|e| format!("bind: {e}"))?;
    announce(server.local_addr().map_err(|e| e.to_string())?);
    server.start(module).stopped().await;
    Ok(())
}

/// The WebSocket settings of the echo server: those of a jrpc server (4 KiB read buffer,
/// 32 KiB write buffer), so that the floor is measured with the same buffers (and the same
/// reads: its socket is read through the same read-ahead as a jrpc server's).
pub fn echo_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(4 << 10)
        .write_buffer_size(32 << 10)
}

/// Listens on `addr`, announces the port, and runs `each` on every accepted connection (with
/// TCP_NODELAY) as a task of its own: the accept loop of the tokio floors.
async fn accept_each<F, Fut>(addr: SocketAddr, mut each: F) -> Result<(), String>
where
    F: FnMut(TcpStream) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| format!("bind: {e}"))?;
    announce(listener.local_addr().map_err(|e| e.to_string())?);
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            continue;
        };
        let _ = tcp.set_nodelay(true);
        tokio::spawn(each(tcp));
    }
}

/// A raw tokio-tungstenite echo server: every text or binary message goes back as it came.
async fn echo_server(addr: SocketAddr) -> Result<(), String> {
    accept_each(addr, |tcp| async move {
        let tcp = jrpc_tokio::ReadAheadStream::new(tcp);
        if let Ok(ws) = tokio_tungstenite::accept_async_with_config(tcp, Some(echo_config())).await
        {
            echo(ws).await;
        }
    })
    .await
}

/// The same echo server on async-std (async-tungstenite): the floor of that runtime, which
/// tells how much of jrpc-async-std's distance to the echo is the runtime's own.
async fn echo_async_std_server(addr: SocketAddr) -> Result<(), String> {
    let listener = async_std::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("bind: {e}"))?;
    announce(listener.local_addr().map_err(|e| e.to_string())?);
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            async_std::task::sleep(std::time::Duration::from_millis(10)).await;
            continue;
        };
        let _ = tcp.set_nodelay(true);
        async_std::task::spawn(async move {
            let tcp = jrpc_async_std::ReadAheadStream::new(tcp);
            if let Ok(ws) =
                async_tungstenite::accept_async_with_config(tcp, Some(echo_config())).await
            {
                echo(ws).await;
            }
        });
    }
}

/// The same echo on fastwebsockets (tokio): a second floor, from a WebSocket layer that does
/// less per frame than tungstenite, which tells how much of the distance to `echo` a lighter
/// layer under jrpc could take. Its writes are batched as `echo`'s are ([`Batched`]); messages
/// are whole (`FragmentCollector`), as tungstenite hands them.
async fn echo_fws_server(addr: SocketAddr) -> Result<(), String> {
    use fastwebsockets::{FragmentCollector, Frame, OpCode, Role, WebSocket};

    accept_each(addr, |tcp| async move {
        let Ok(tcp) = accept_upgrade(tcp).await else {
            return;
        };
        let socket = Batched {
            tcp,
            out: Vec::new(),
            sent: 0,
        };
        let mut ws = WebSocket::after_handshake(socket, Role::Server);
        ws.set_max_message_size(64 << 20);
        let mut ws = FragmentCollector::new(ws);
        while let Ok(frame) = ws.read_frame().await {
            match frame.opcode {
                OpCode::Text | OpCode::Binary => {
                    // Unmasked (a read frame keeps its mask, which a server's must not have).
                    let frame = Frame::new(true, frame.opcode, None, frame.payload);
                    if ws.write_frame(frame).await.is_err() {
                        break;
                    }
                }
                OpCode::Close => break,
                _ => {}
            }
        }
    })
    .await
}

/// The echo on tungstenite driven directly (`direct.rs`): `echo` without tokio-tungstenite.
async fn echo_direct_server(addr: SocketAddr) -> Result<(), String> {
    accept_each(addr, |tcp| async move {
        let Ok(tcp) = accept_upgrade(tcp).await else {
            return;
        };
        let tcp = jrpc_tokio::ReadAheadStream::new(tcp);
        echo(crate::direct::Direct::server(tcp, echo_config())).await;
    })
    .await
}

/// jrpc-tokio's connections on tungstenite driven directly (`direct.rs`), served by an
/// `Acceptor` as an HTTP server that upgrades its own sockets serves them.
async fn jrpc_direct_server(addr: SocketAddr) -> Result<(), String> {
    let acceptor = jrpc_tokio::Server::builder()
        .config(jrpc_config())
        .acceptor(addr, jrpc_methods());
    let config = acceptor.websocket_config();
    accept_each(addr, move |tcp| {
        let acceptor = acceptor.clone();
        async move {
            let remote = tcp.peer_addr().ok();
            let Ok(tcp) = accept_upgrade(tcp).await else {
                return;
            };
            let socket =
                crate::direct::Direct::server(jrpc_tokio::ReadAheadStream::new(tcp), config);
            acceptor.serve(socket, remote, jrpc_tokio::Locals::new());
        }
    })
    .await
}

/// Answers a WebSocket upgrade request on `tcp` (the echo-fws server's handshake: the request's
/// head read whole, its key answered, nothing else checked).
async fn accept_upgrade(mut tcp: TcpStream) -> std::io::Result<TcpStream> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let invalid =
        |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_owned());
    let mut head = Vec::with_capacity(1024);
    // The client sends nothing after its request before it has the answer.
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() > 16 << 10 {
            return Err(invalid("request head over 16 KiB"));
        }
        let mut chunk = [0u8; 1024];
        match tcp.read(&mut chunk).await? {
            0 => return Err(invalid("closed before the request's end")),
            n => head.extend_from_slice(&chunk[..n]),
        }
    }
    let head = String::from_utf8_lossy(&head);
    let key = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.trim()
                .eq_ignore_ascii_case("sec-websocket-key")
                .then(|| value.trim().to_owned())
        })
        .ok_or_else(|| invalid("no Sec-WebSocket-Key"))?;
    let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
    let answer = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {accept}\r\n\r\n"
    );
    tcp.write_all(answer.as_bytes()).await?;
    Ok(tcp)
}

/// A socket whose writes wait in a buffer until a read finds nothing to read, or 32 KiB wait
/// (tungstenite's write buffer in `echo`): the batched writes of `echo`, for a WebSocket layer
/// that writes each frame as it is sent.
struct Batched {
    tcp: TcpStream,
    /// Bytes written, not yet sent.
    out: Vec<u8>,
    /// How many of `out` the socket has taken.
    sent: usize,
}

impl Batched {
    /// Sends what waits, until all is sent or the socket is full.
    fn poll_send(&mut self, cx: &mut std::task::Context<'_>) -> Poll<std::io::Result<()>> {
        use tokio::io::AsyncWrite;

        while self.sent < self.out.len() {
            match Pin::new(&mut self.tcp).poll_write(cx, &self.out[self.sent..]) {
                Poll::Ready(Ok(0)) => {
                    return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into()));
                }
                Poll::Ready(Ok(n)) => self.sent += n,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        self.out.clear();
        self.sent = 0;
        Poll::Ready(Ok(()))
    }
}

impl tokio::io::AsyncRead for Batched {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        match Pin::new(&mut this.tcp).poll_read(cx, buf) {
            Poll::Pending => match this.poll_send(cx) {
                Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                _ => Poll::Pending,
            },
            ready => ready,
        }
    }
}

impl tokio::io::AsyncWrite for Batched {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        if this.out.len() >= 32 << 10 {
            match this.poll_send(cx) {
                Poll::Ready(Ok(())) => {}
                other => return other.map(|result| result.map(|()| 0)),
            }
        }
        this.out.extend_from_slice(data);
        Poll::Ready(Ok(data.len()))
    }

    fn poll_flush(
        self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        match this.poll_send(cx) {
            Poll::Ready(Ok(())) => Pin::new(&mut this.tcp).poll_flush(cx),
            other => other,
        }
    }

    fn poll_shutdown(
        self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        match this.poll_send(cx) {
            Poll::Ready(Ok(())) => Pin::new(&mut this.tcp).poll_shutdown(cx),
            other => other,
        }
    }
}

/// Echoes with batched writes: feeds every frame that is ready, then flushes once.
async fn echo<S>(mut ws: S)
where
    S: Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>>
        + Sink<Message, Error = tokio_tungstenite::tungstenite::Error>
        + Unpin,
{
    let mut flush_needed = false;
    std::future::poll_fn(|cx| {
        let mut handled = 0;
        while handled < BUDGET {
            match Pin::new(&mut ws).poll_ready(cx) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(_)) => return Poll::Ready(()),
                Poll::Pending => break,
            }
            match Pin::new(&mut ws).poll_next(cx) {
                Poll::Ready(Some(Ok(message))) => {
                    if message.is_text() || message.is_binary() {
                        if Pin::new(&mut ws).start_send(message).is_err() {
                            return Poll::Ready(());
                        }
                        flush_needed = true;
                    }
                    handled += 1;
                }
                Poll::Ready(_) => return Poll::Ready(()),
                Poll::Pending => break,
            }
        }
        if flush_needed {
            match Pin::new(&mut ws).poll_flush(cx) {
                Poll::Ready(Ok(())) => flush_needed = false,
                Poll::Ready(Err(_)) => return Poll::Ready(()),
                Poll::Pending => {}
            }
        }
        if handled == BUDGET {
            cx.waker().wake_by_ref();
        }
        Poll::Pending
    })
    .await
}

/// The connections of the broadcast floor: each one's id and the queue its task writes from.
type Registry = Arc<Mutex<Vec<(u64, mpsc::Sender<Message>)>>>;

/// The floor of the fan-out load, on raw tokio-tungstenite: a frame a connection sends (the
/// publisher's) goes to every other connection as it came, built once and cloned (shared
/// bytes) into each one's bounded queue; each connection's task writes every frame that is
/// ready, then flushes once.
async fn broadcast_server(addr: SocketAddr) -> Result<(), String> {
    let registry = Registry::default();
    let mut next_id = 0u64;
    accept_each(addr, move |tcp| {
        next_id += 1;
        let (id, registry) = (next_id, registry.clone());
        async move {
            let tcp = jrpc_tokio::ReadAheadStream::new(tcp);
            if let Ok(ws) =
                tokio_tungstenite::accept_async_with_config(tcp, Some(echo_config())).await
            {
                let (queue, frames) = mpsc::channel(BROADCAST_QUEUE);
                lock(&registry).push((id, queue));
                relay(ws, id, &registry, frames).await;
                lock(&registry).retain(|(other, _)| *other != id);
            }
        }
    })
    .await
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One connection of the broadcast floor: broadcasts what it receives, writes what others
/// broadcast (every ready frame, then one flush).
async fn relay(
    mut ws: WebSocketStream<jrpc_tokio::ReadAheadStream<TcpStream>>,
    id: u64,
    registry: &Registry,
    mut frames: mpsc::Receiver<Message>,
) {
    let mut batch = Vec::with_capacity(BUDGET);
    let mut flush_needed = false;
    std::future::poll_fn(|cx| {
        loop {
            let mut progress = false;
            // Frames from the peer: broadcast each to the others.
            while let Poll::Ready(next) = Pin::new(&mut ws).poll_next(cx) {
                match next {
                    Some(Ok(message)) if message.is_text() || message.is_binary() => {
                        for (other, queue) in lock(registry).iter() {
                            if *other != id {
                                // Full: this connection misses it (counted by the client).
                                let _ = queue.try_send(message.clone());
                            }
                        }
                        progress = true;
                    }
                    Some(Ok(_)) => {}
                    _ => return Poll::Ready(()),
                }
            }
            // Frames for the peer: every one that is ready, then one flush.
            match Pin::new(&mut ws).poll_ready(cx) {
                Poll::Ready(Ok(())) => {
                    if frames.poll_recv_many(cx, &mut batch, BUDGET).is_ready() {
                        if batch.is_empty() {
                            return Poll::Ready(());
                        }
                        for message in batch.drain(..) {
                            if Pin::new(&mut ws).start_send(message).is_err() {
                                return Poll::Ready(());
                            }
                        }
                        flush_needed = true;
                        progress = true;
                    }
                }
                Poll::Ready(Err(_)) => return Poll::Ready(()),
                Poll::Pending => {}
            }
            if flush_needed {
                match Pin::new(&mut ws).poll_flush(cx) {
                    Poll::Ready(Ok(())) => flush_needed = false,
                    Poll::Ready(Err(_)) => return Poll::Ready(()),
                    Poll::Pending => return Poll::Pending,
                }
            }
            if !progress {
                return Poll::Pending;
            }
        }
    })
    .await
}

/// The pages connected to the `twoway` server, by connection id: the application's own map,
/// as in `examples/twoway`.
#[derive(Clone, Default)]
struct Pages {
    peers: Arc<Mutex<HashMap<u64, jrpc_tokio::Peer>>>,
}

/// The `twoway` example's broadcast as it is written today: every connection is added to the
/// map when it opens and removed when it closes; `publish(payload)` awaits
/// `invoke("Message", [payload])` on every other page in turn.
async fn jrpc_twoway_server(addr: SocketAddr) -> Result<(), String> {
    use jrpc_tokio::Ctx;

    async fn publish(ctx: Ctx<Pages>, payload: serde_json::Value) {
        let peers: Vec<jrpc_tokio::Peer> = lock(&ctx.state().peers)
            .iter()
            .filter(|(id, _)| **id != ctx.peer().id())
            .map(|(_, peer)| peer.clone())
            .collect();
        for peer in peers {
            // A page that has just gone is skipped, as the example does.
            let _ = peer.invoke("Message", (&payload,)).await;
        }
    }
    let methods = jrpc_tokio::Methods::with_state()
        .add("publish", publish)
        .on_open(|ctx: Ctx<Pages>| async move {
            let peer = ctx.peer().clone();
            lock(&ctx.state().peers).insert(peer.id(), peer);
        })
        .on_close(|ctx: Ctx<Pages>| async move {
            lock(&ctx.state().peers).remove(&ctx.peer().id());
        });
    let server = jrpc_tokio::Server::builder().state(Pages::default());
    serve_jrpc(server.bind(addr, methods).await).await
}

/// jrpc's groups: `publish(payload)` broadcasts `Message(payload)` to every connection of the
/// server but the publisher's, encoded once and queued on each without waiting for any.
async fn jrpc_groups_server(addr: SocketAddr) -> Result<(), String> {
    use jrpc_tokio::{CallError, Ctx};

    let methods = jrpc_tokio::Methods::new().add(
        "publish",
        |ctx: Ctx, payload: serde_json::Value| -> Result<usize, CallError> {
            let delivery = ctx
                .groups()
                .all()
                .except(ctx.peer())
                .invoke("Message", (payload,))?;
            Ok(delivery.delivered)
        },
    );
    serve_jrpc(jrpc_tokio::Server::bind(addr, methods).await).await
}
