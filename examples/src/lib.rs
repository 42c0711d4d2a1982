//! What the runnable examples share (`cargo run --example math` from the repository root):
//! settings from the environment, logging, a tiny HTTP server for the example's page and the
//! browser library, and the JRPC WebSocket server itself, on either runtime:
//! [`serve`]`::<R, _>` with `R` = `jrpc_tokio::Tokio` or `jrpc_async_std::AsyncStd`.
//!
//! | variable | default | meaning |
//! | --- | --- | --- |
//! | `JRPC_HTTP_PORT` | `8080` | port of the page (`0`: any free port) |
//! | `JRPC_WS_PORT` | `9000` | port of the JRPC WebSocket (`0`: any free port) |
//! | `JRPC_BIND` | `127.0.0.1` | address both listen on (`0.0.0.0` in a container) |
//! | `JRPC_ALLOW_ORIGINS` | none | more page origins allowed to open the WebSocket, comma-separated |
//! | `JRPC_PUBLIC_WS_PORT` | the WebSocket's | port the page dials for the WebSocket (a proxy's, as in `scripts/cluster.sh`) |
//! | `JRPC_REDIS_URL` | none | `twoway`: the Redis linking several chat processes (see the README) |
//! | `RUST_LOG` | `info` | log filter |
//!
//! Only the example's own page may open the WebSocket: `http://localhost:PORT` and
//! `http://127.0.0.1:PORT` (and `http://[::1]:PORT`) with the HTTP port, plus any origin
//! listed in `JRPC_ALLOW_ORIGINS`. A page of another site is refused with 403.
//!
//! What does not depend on the runtime runs on threads of its own: the page's HTTP server
//! (blocking `std::net`, src/http.rs) and the watch for Ctrl-C and SIGTERM (tokio's signal
//! handling on a one-thread tokio runtime of its own, whichever runtime serves JRPC).

mod http;

use std::io::{self, IsTerminal};
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use futures_channel::oneshot;
use jrpc_driver::{Config, Groups, Methods, Runtime, Server};

/// The browser library, embedded so that each example binary is self-contained.
pub const JRPC_JS: &str = include_str!("../../js/jrpc.js");

/// An example: its name (for the logs) and its page, served at `/`.
///
/// The page loads `jrpc.js` and `config.js`, which sets `JRPC_WS_PORT` to the WebSocket's
/// port.
#[derive(Debug, Clone, Copy)]
pub struct Page {
    /// The example's name.
    pub name: &'static str,
    /// Its `index.html`.
    pub html: &'static str,
}

/// Where the example listens, read from the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The address both servers bind (`JRPC_BIND`).
    pub bind: String,
    /// The page's port (`JRPC_HTTP_PORT`).
    pub http_port: u16,
    /// The WebSocket's port (`JRPC_WS_PORT`).
    pub ws_port: u16,
    /// Page origins allowed besides the example's own (`JRPC_ALLOW_ORIGINS`).
    pub extra_origins: Vec<String>,
    /// The port the page dials for the WebSocket, when not the WebSocket's own
    /// (`JRPC_PUBLIC_WS_PORT`: behind a proxy).
    pub public_ws_port: Option<u16>,
}

impl Settings {
    /// Reads the settings from the environment; a malformed port is an error.
    pub fn from_env() -> io::Result<Self> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let port = |name: &str, default: u16| match var(name) {
            None => Ok(default),
            Some(v) => v.trim().parse().map_err(|e| {
                io::Error::new(io::ErrorKind::InvalidInput, format!("{name}={v:?}: {e}"))
            }),
        };
        Ok(Self {
            bind: var("JRPC_BIND").unwrap_or_else(|| "127.0.0.1".to_owned()),
            http_port: port("JRPC_HTTP_PORT", 8080)?,
            ws_port: port("JRPC_WS_PORT", 9000)?,
            public_ws_port: match var("JRPC_PUBLIC_WS_PORT") {
                None => None,
                Some(_) => Some(port("JRPC_PUBLIC_WS_PORT", 0)?),
            },
            extra_origins: var("JRPC_ALLOW_ORIGINS")
                .map(|v| {
                    v.split(',')
                        .map(|o| o.trim().to_owned())
                        .filter(|o| !o.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
        })
    }
}

/// The origins of the page served at `http`: the loopback names, and the bound address when
/// it is a specific one.
pub fn page_origins(http: SocketAddr) -> Vec<String> {
    let port = http.port();
    let mut origins = vec![
        format!("http://localhost:{port}"),
        format!("http://127.0.0.1:{port}"),
        format!("http://[::1]:{port}"),
    ];
    if !http.ip().is_unspecified() && !http.ip().is_loopback() {
        origins.push(format!("http://{http}"));
    }
    origins
}

/// Logs to stdout, filtered by `RUST_LOG` (default `info`), in color on a terminal.
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Already set (by a test, say): keep that one.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stdout().is_terminal())
        .try_init();
}

/// Serves `page` over HTTP and `methods` over the JRPC WebSocket on runtime `R` until Ctrl-C
/// (or SIGTERM), then shuts down gracefully. Prints the URL to open.
///
/// Call it from within `R`'s runtime, e.g. from `#[tokio::main]` with `R` =
/// `jrpc_tokio::Tokio`, or from `#[async_std::main]` with `R` = `jrpc_async_std::AsyncStd`.
pub async fn serve<R, S>(page: Page, methods: Methods<S>, state: S) -> ExitCode
where
    R: Runtime + Default,
    S: Clone + Send + Sync + 'static,
{
    serve_with_groups::<R, S>(page, methods, state, Groups::new()).await
}

/// [`serve`] with the server's [`Groups`] given: one with a cluster backend, say.
pub async fn serve_with_groups<R, S>(
    page: Page,
    methods: Methods<S>,
    state: S,
    groups: Groups,
) -> ExitCode
where
    R: Runtime + Default,
    S: Clone + Send + Sync + 'static,
{
    init_tracing();
    match try_serve::<R, S>(page, methods, state, groups).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(example = page.name, error = %e, "cannot serve");
            ExitCode::FAILURE
        }
    }
}

async fn try_serve<R, S>(
    page: Page,
    methods: Methods<S>,
    state: S,
    groups: Groups,
) -> io::Result<()>
where
    R: Runtime + Default,
    S: Clone + Send + Sync + 'static,
{
    let settings = Settings::from_env()?;
    let bind = settings.bind.as_str();
    // Watched from the start: a signal while binding still stops the example.
    let stop = stop_signal()?;
    let http = TcpListener::bind((bind, settings.http_port))
        .map_err(|e| context(e, "HTTP", bind, settings.http_port))?;
    let http_addr = http.local_addr()?;
    let mut config = Config::default();
    for origin in page_origins(http_addr)
        .into_iter()
        .chain(settings.extra_origins)
    {
        config = config.allow_origin(origin);
    }
    let server = Server::<R>::builder()
        .state(state)
        .config(config)
        .groups(groups)
        .bind((bind, settings.ws_port), methods)
        .await
        .map_err(|e| context(e, "WebSocket", bind, settings.ws_port))?;
    let ws_port = server.local_addr().port();

    let files: Arc<[http::File]> = Arc::new([
        (
            "/index.html",
            "text/html; charset=utf-8",
            page.html.to_owned(),
        ),
        (
            "/jrpc.js",
            "text/javascript; charset=utf-8",
            JRPC_JS.to_owned(),
        ),
        (
            "/config.js",
            "text/javascript; charset=utf-8",
            format!(
                "var JRPC_WS_PORT = {};\n",
                settings.public_ws_port.unwrap_or(ws_port)
            ),
        ),
    ]);
    http::spawn(http, files)?;

    let host = match http_addr.ip() {
        ip if ip.is_loopback() || ip.is_unspecified() => "localhost".to_owned(),
        IpAddr::V6(ip) => format!("[{ip}]"),
        IpAddr::V4(ip) => ip.to_string(),
    };
    tracing::info!(example = page.name, %http_addr, ws_port, "listening");
    println!(
        "{} example listening: open http://{host}:{}/ (JRPC WebSocket on ws://{host}:{ws_port}/)",
        page.name,
        http_addr.port()
    );

    let handle = server.handle();
    R::default().spawn(server.run());
    // No signal handling at all (the watch failed to start): serve until killed.
    if stop.await.is_err() {
        std::future::pending::<()>().await;
    }
    tracing::info!("shutting down");
    // Resolves once the accept loop and every connection have ended.
    handle.shutdown(Duration::from_secs(1)).await;
    Ok(())
}

/// `e`, saying what could not listen where.
fn context(e: io::Error, what: &str, bind: &str, port: u16) -> io::Error {
    io::Error::new(
        e.kind(),
        format!("{what} server on {bind} port {port}: {e}"),
    )
}

/// Resolves on Ctrl-C, or on SIGTERM (what `docker stop` sends; as PID 1 a process that does
/// not handle it is never stopped by it). Fails (the sender dropped) when no signal can be
/// watched.
///
/// A thread of its own runs tokio's signal handling on a one-thread runtime, so that the
/// receiver can be awaited on any runtime.
fn stop_signal() -> io::Result<oneshot::Receiver<()>> {
    let (stopped, stop) = oneshot::channel();
    std::thread::Builder::new()
        .name("signals".to_owned())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot watch for Ctrl-C: serving until killed");
                    return;
                }
            };
            if runtime.block_on(signalled()) {
                let _ = stopped.send(());
            } else {
                tracing::warn!("cannot watch for Ctrl-C: serving until killed");
            }
        })?;
    Ok(stop)
}

/// Waits for Ctrl-C or SIGTERM: true once one came, false if none can be watched.
async fn signalled() -> bool {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            // A branch whose pattern fails is disabled; with both disabled, `else` runs.
            return tokio::select! {
                Ok(()) = tokio::signal::ctrl_c() => true,
                Some(()) = term.recv() => true,
                else => false,
            };
        }
    }
    tokio::signal::ctrl_c().await.is_ok()
}

/// The README's Rust blocks, compiled (and run, unless marked `no_run`) by `cargo test --doc`;
/// its HTML and JavaScript blocks are quotes that `tests/readme.rs` finds in the files they name.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_of_the_page() {
        let loopback = page_origins("127.0.0.1:8080".parse().unwrap());
        assert_eq!(
            loopback,
            [
                "http://localhost:8080",
                "http://127.0.0.1:8080",
                "http://[::1]:8080"
            ]
        );
        let any = page_origins("0.0.0.0:8080".parse().unwrap());
        assert_eq!(any, loopback);
        let lan = page_origins("192.0.2.7:81".parse().unwrap());
        assert_eq!(lan.last().map(String::as_str), Some("http://192.0.2.7:81"));
    }
}
