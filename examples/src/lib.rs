//! What the runnable examples share (`cargo run --example math` from the repository root):
//! settings from the environment, logging, and the web server: an axum `Router` (with
//! tower-http's tracing and headers) that serves the example's page, the browser library and
//! the JRPC WebSocket on one port, upgraded on `/` ([`serve`], on tokio). The same methods also
//! answer on a port of their own (`JRPC_WS_PORT`), where pages written for the original
//! project, with `new JRPC.WebSocket(host, 9000)`, expect them. On async-std
//! ([`serve_async_std`]) JRPC has its own port and the page is served by the same axum code on
//! a thread of its own.
//!
//! | variable | default | meaning |
//! | --- | --- | --- |
//! | `JRPC_HTTP_PORT` | `8080` | port of the page and its WebSocket (`0`: any free port) |
//! | `JRPC_WS_PORT` | `9000` | port of the JRPC WebSocket alone, as in the original (`0`: any free port) |
//! | `JRPC_BIND` | `127.0.0.1` | address both listen on (`0.0.0.0` in a container) |
//! | `JRPC_ALLOW_ORIGINS` | none | more page origins allowed to open the WebSocket, comma-separated |
//! | `JRPC_PING_INTERVAL_MS` | 25000 | how often each connection is pinged |
//! | `JRPC_PING_TIMEOUT_MS` | 20000 | how long a peer may stay silent after a ping before it is dropped |
//! | `RUST_LOG` | `info` | log filter |
//!
//! Only the example's own page may open the WebSocket: `http://localhost:PORT` and
//! `http://127.0.0.1:PORT` (and `http://[::1]:PORT`) with the HTTP port, plus any origin
//! listed in `JRPC_ALLOW_ORIGINS`. A page of another site is refused with 403.
//!
//! Ctrl-C and SIGTERM are watched on a thread of its own (tokio's signal handling on a
//! one-thread tokio runtime, whichever runtime serves JRPC).

use std::io::{self, IsTerminal};
use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::response::{Html, IntoResponse};
use axum::routing::{MethodRouter, get};
use axum::serve::ListenerExt;
use futures_channel::oneshot;
use jrpc_tokio::hyper::is_websocket_upgrade;
use jrpc_tokio::{Acceptor, Config, Methods, Server, ServerBuilder};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

/// The browser library, embedded so that each example binary is self-contained.
pub const JRPC_JS: &str = include_str!("../../js/jrpc.js");

/// The examples' icon, served as `/favicon.ico` (browsers ask for it on every page).
pub const FAVICON_SVG: &str = include_str!("favicon.svg");

/// An example: its name (for the logs) and its page, served at `/`.
///
/// The page loads `jrpc.js` and `config.js`, which sets `JRPC_WS_PORT` to the port of the
/// page's WebSocket: the page's own port on tokio (one port), `JRPC_WS_PORT` on async-std.
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
    /// How often each connection is pinged (`JRPC_PING_INTERVAL_MS`; the library's default
    /// when unset).
    pub ping_interval: Option<Duration>,
    /// How long a peer may stay silent after a ping (`JRPC_PING_TIMEOUT_MS`).
    pub ping_timeout: Option<Duration>,
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
        let millis = |name: &str| -> io::Result<Option<Duration>> {
            var(name)
                .map(|v| {
                    v.trim().parse().map(Duration::from_millis).map_err(|e| {
                        io::Error::new(io::ErrorKind::InvalidInput, format!("{name}={v:?}: {e}"))
                    })
                })
                .transpose()
        };
        Ok(Self {
            ping_interval: millis("JRPC_PING_INTERVAL_MS")?,
            ping_timeout: millis("JRPC_PING_TIMEOUT_MS")?,
            bind: var("JRPC_BIND").unwrap_or_else(|| "127.0.0.1".to_owned()),
            http_port: port("JRPC_HTTP_PORT", 8080)?,
            ws_port: port("JRPC_WS_PORT", 9000)?,
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

/// Serves `page` and `methods` on one port (`JRPC_HTTP_PORT`, the WebSocket upgraded on `/`)
/// and `methods` alone on `JRPC_WS_PORT`, on tokio, until Ctrl-C (or SIGTERM); then shuts
/// down gracefully. Prints the URL to open.
pub async fn serve<S>(page: Page, methods: Methods<S>, state: S) -> ExitCode
where
    S: Clone + Send + Sync + 'static,
{
    let builder = Server::builder().state(state);
    serve_router(page.name, builder, methods, move |rpc| {
        Router::new().route("/", page_or_websocket(page.html, rpc))
    })
    .await
}

/// [`serve`] for an example with routes of its own: `routes` gets the acceptor of the JRPC
/// WebSocket (to upgrade on the routes it chooses) and returns the app's router, to which
/// `/jrpc.js`, `/config.js` and `/favicon.ico` are added. The builder's state and
/// authentication hook apply; its `Config` is replaced by the example's (its page's origins).
pub async fn serve_router<S, F>(
    name: &'static str,
    builder: ServerBuilder<S>,
    methods: Methods<S>,
    routes: F,
) -> ExitCode
where
    S: Clone + Send + Sync + 'static,
    F: FnOnce(Acceptor<S>) -> Router,
{
    init_tracing();
    match try_serve(name, builder, methods, routes).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(example = name, error = %e, "cannot serve");
            ExitCode::FAILURE
        }
    }
}

/// `GET /`: the page, or the JRPC WebSocket when the request is a WebSocket handshake.
pub fn page_or_websocket<S>(html: &'static str, rpc: Acceptor<S>) -> MethodRouter
where
    S: Clone + Send + Sync + 'static,
{
    get(move |request: Request| {
        let response = if is_websocket_upgrade(request.headers()) {
            jrpc_tokio::axum::upgrade(&rpc, request)
        } else {
            Html(html).into_response()
        };
        async move { response }
    })
}

async fn try_serve<S, F>(
    name: &'static str,
    builder: ServerBuilder<S>,
    methods: Methods<S>,
    routes: F,
) -> io::Result<()>
where
    S: Clone + Send + Sync + 'static,
    F: FnOnce(Acceptor<S>) -> Router,
{
    let settings = Settings::from_env()?;
    let bind = settings.bind.as_str();
    // Watched from the start: a signal while binding still stops the example.
    let stop = stop_signal()?;
    let http = tokio::net::TcpListener::bind((bind, settings.http_port))
        .await
        .map_err(|e| context(e, "HTTP", bind, settings.http_port))?;
    let http_addr = http.local_addr()?;
    let rpc = builder
        .config(config(http_addr, &settings))
        .acceptor(http_addr, methods);
    // The same methods on a port of their own, for pages written for the original.
    let legacy = rpc
        .bind((bind, settings.ws_port))
        .await
        .map_err(|e| context(e, "WebSocket", bind, settings.ws_port))?;
    let ws_port = legacy.local_addr().port();
    tokio::spawn(legacy.run());

    let app = with_assets(routes(rpc.clone()), http_addr.port());
    let host = host_name(http_addr);
    let port = http_addr.port();
    tracing::info!(example = name, %http_addr, ws_port, "listening");
    println!(
        "{name} example listening: open http://{host}:{port}/ (JRPC WebSocket on \
         ws://{host}:{port}/, and on ws://{host}:{ws_port}/ for pages written for the original)"
    );

    let handle = rpc.handle();
    let shutdown = async move {
        // No signal handling at all (the watch failed to start): serve until killed.
        if stop.await.is_err() {
            std::future::pending::<()>().await;
        }
        tracing::info!("shutting down");
        // Resolves once every JRPC connection, on either port, has closed.
        handle.shutdown(Duration::from_secs(1)).await;
    };
    let listener = http.tap_io(|tcp| {
        // Small frames both ways: no Nagle delay.
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

/// Serves `page` over HTTP on `JRPC_HTTP_PORT` and `methods` over the JRPC WebSocket on
/// `JRPC_WS_PORT`, on async-std, until Ctrl-C (or SIGTERM); then shuts down gracefully.
///
/// Two ports, not one: serving the page and upgrading on the same port takes an HTTP server
/// on async-std, and none is maintained (tide and async-h1 have had no release since 2021;
/// async-std itself is discontinued). So the page is served by the same axum code as on
/// tokio, on a one-thread tokio runtime of its own, and JRPC by `jrpc-async-std`'s own
/// server. (A program that has an HTTP server on async-std hands its upgraded sockets to
/// `jrpc_async_std::Acceptor::serve`.)
pub async fn serve_async_std<S>(page: Page, methods: Methods<S>, state: S) -> ExitCode
where
    S: Clone + Send + Sync + 'static,
{
    init_tracing();
    match try_serve_async_std(page, methods, state).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(example = page.name, error = %e, "cannot serve");
            ExitCode::FAILURE
        }
    }
}

async fn try_serve_async_std<S>(page: Page, methods: Methods<S>, state: S) -> io::Result<()>
where
    S: Clone + Send + Sync + 'static,
{
    let settings = Settings::from_env()?;
    let bind = settings.bind.clone();
    let stop = stop_signal()?;
    let http = std::net::TcpListener::bind((bind.as_str(), settings.http_port))
        .map_err(|e| context(e, "HTTP", &bind, settings.http_port))?;
    http.set_nonblocking(true)?;
    let http_addr = http.local_addr()?;
    let server = jrpc_async_std::Server::builder()
        .state(state)
        .config(config(http_addr, &settings))
        .bind((bind.as_str(), settings.ws_port), methods)
        .await
        .map_err(|e| context(e, "WebSocket", &bind, settings.ws_port))?;
    let ws_port = server.local_addr().port();
    let app = with_assets(Router::new().route("/", get(Html(page.html))), ws_port);
    std::thread::Builder::new()
        .name("http".to_owned())
        .spawn(move || serve_pages(http, app))?;

    let host = host_name(http_addr);
    tracing::info!(example = page.name, %http_addr, ws_port, "listening");
    println!(
        "{} example listening: open http://{host}:{}/ (JRPC WebSocket on ws://{host}:{ws_port}/)",
        page.name,
        http_addr.port()
    );
    let handle = server.handle();
    async_std::task::spawn(server.run());
    if stop.await.is_err() {
        std::future::pending::<()>().await;
    }
    tracing::info!("shutting down");
    handle.shutdown(Duration::from_secs(1)).await;
    Ok(())
}

/// Serves `app` on `listener` on a one-thread tokio runtime, for the rest of the process.
fn serve_pages(listener: std::net::TcpListener, app: Router) {
    let served = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .and_then(|runtime| {
            runtime.block_on(async {
                let listener = tokio::net::TcpListener::from_std(listener)?;
                axum::serve(listener, app).await
            })
        });
    if let Err(e) = served {
        tracing::error!(error = %e, "the page's HTTP server stopped");
    }
}

/// The example's settings: its page's origins (and `JRPC_ALLOW_ORIGINS`) may open the
/// WebSocket.
fn config(http_addr: SocketAddr, settings: &Settings) -> Config {
    let mut config = page_origins(http_addr)
        .into_iter()
        .chain(settings.extra_origins.iter().cloned())
        .fold(Config::default(), Config::allow_origin);
    if let Some(interval) = settings.ping_interval {
        config = config.ping_interval(Some(interval));
    }
    if let Some(timeout) = settings.ping_timeout {
        config = config.ping_timeout(timeout);
    }
    config
}

/// `app` with the files every page loads: `jrpc.js`, `config.js` (the port of the page's
/// WebSocket, `ws_port`) and `/favicon.ico`; every response uncached (a rebuilt example serves
/// its new page) and typed strictly; requests traced at debug level.
pub fn with_assets(app: Router, ws_port: u16) -> Router {
    let config_js = format!("var JRPC_WS_PORT = {ws_port};\n");
    app.route("/jrpc.js", script(JRPC_JS.to_owned()))
        .route("/config.js", script(config_js))
        .route(
            "/favicon.ico",
            get(([(header::CONTENT_TYPE, "image/svg+xml")], FAVICON_SVG)),
        )
        .layer(SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(TraceLayer::new_for_http())
}

/// `GET` of a script.
fn script(body: String) -> MethodRouter {
    get((
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        body,
    ))
}

/// How to name the host in the URL printed: `localhost` for a loopback or unspecified address.
fn host_name(addr: SocketAddr) -> String {
    match addr.ip() {
        ip if ip.is_loopback() || ip.is_unspecified() => "localhost".to_owned(),
        IpAddr::V6(ip) => format!("[{ip}]"),
        IpAddr::V4(ip) => ip.to_string(),
    }
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
