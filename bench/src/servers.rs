//! The servers under test, each run by `jrpc-bench serve <system> <port>` in a process of its
//! own, so that `/proc/PID/stat` and the RSS measured are the server's alone.
//!
//! Each binds 127.0.0.1, prints `PORT <n>` on stdout once it listens, and exits when its standard
//! input closes (the driver holds the other end, so no server outlives the benchmark).

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::Poll;

use futures_util::{Sink, Stream};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// The systems compared, in the order of the table.
pub const SYSTEMS: [&str; 6] = [
    "jrpc-tokio",
    "jrpc-axum",
    "jrpc-async-std",
    "jsonrpsee",
    "echo",
    "echo-async-std",
];

/// Most frames the echo server handles in one wake-up before it yields.
const BUDGET: usize = 128;

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
        other => Err(format!("unknown system '{other}' (one of {SYSTEMS:?})")),
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

async fn jrpc_tokio_server(addr: SocketAddr) -> Result<(), String> {
    let methods = jrpc_tokio::Methods::new().add("add", |a: f64, b: f64| a + b);
    let server = jrpc_tokio::Server::bind(addr, methods)
        .await
        .map_err(|e| format!("bind: {e}"))?;
    announce(server.local_addr());
    server.run().await;
    Ok(())
}

/// The jrpc-tokio server mounted on a route of an axum `Router` (`jrpc_tokio::axum`): the
/// WebSocket upgraded by hyper, then driven as `Server::bind` drives its own.
async fn jrpc_axum_server(addr: SocketAddr) -> Result<(), String> {
    use axum::serve::ListenerExt;

    let methods = jrpc_tokio::Methods::new().add("add", |a: f64, b: f64| a + b);
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| format!("bind: {e}"))?;
    let local_addr = listener.local_addr().map_err(|e| e.to_string())?;
    let rpc = jrpc_tokio::Server::builder().acceptor(local_addr, methods);
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
    let methods = jrpc_async_std::Methods::new().add("add", |a: f64, b: f64| a + b);
    let server = jrpc_async_std::Server::bind(addr, methods)
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
/// 32 KiB write buffer), so that the floor is measured with the same buffers.
pub fn echo_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(4 << 10)
        .write_buffer_size(32 << 10)
}

/// A raw tokio-tungstenite echo server: every text or binary message goes back as it came.
async fn echo_server(addr: SocketAddr) -> Result<(), String> {
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
        tokio::spawn(async move {
            if let Ok(ws) =
                tokio_tungstenite::accept_async_with_config(tcp, Some(echo_config())).await
            {
                echo(ws).await;
            }
        });
    }
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
            if let Ok(ws) =
                async_tungstenite::accept_async_with_config(tcp, Some(echo_config())).await
            {
                echo(ws).await;
            }
        });
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
