//! JRPC on a route of an axum [`Router`](axum::Router) (feature `axum`): the pages and the
//! JRPC WebSocket on one port, with the [`Acceptor`]'s `Config` (limits, `Origin` and `Host`
//! checks), authentication hook and shutdown, as [`Server::bind`](crate::Server) has them.
//!
//! ```no_run
//! use axum::Router;
//! use jrpc_tokio::{Methods, Server};
//!
//! # #[tokio::main] async fn main() -> std::io::Result<()> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! let methods = Methods::new().add("Add", |a: f64, b: f64| a + b);
//! let rpc = Server::builder().acceptor(listener.local_addr()?, methods);
//! let app = Router::new().route("/rpc", jrpc_tokio::axum::route(rpc.clone()));
//! axum::serve(listener, app).await
//! # }
//! ```
//!
//! To serve a page and its WebSocket on the same path, see [`upgrade`] and
//! [`is_websocket_upgrade`](crate::hyper::is_websocket_upgrade). Served with
//! `into_make_service_with_connect_info::<SocketAddr>()`, methods see the caller's address
//! ([`Peer::remote_addr`](crate::Peer::remote_addr)) and so does the authentication hook.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request};
use axum::response::{IntoResponse, Response};
use axum::routing::MethodRouter;

use crate::Acceptor;

/// A route that upgrades JRPC WebSockets (`GET` only; a request that is not a WebSocket
/// handshake is answered 400), for a `Router` with any state.
pub fn route<T, S>(acceptor: Acceptor<S>) -> MethodRouter<T>
where
    T: Clone + Send + Sync + 'static,
    S: Clone + Send + Sync + 'static,
{
    axum::routing::get(move |request: Request| {
        let response = upgrade(&acceptor, request);
        async move { response }
    })
}

/// Answers `request`, a WebSocket upgrade, as [`crate::hyper::upgrade`] does: 101 and the
/// socket served by `acceptor`, or a refusal. The remote address comes from axum's
/// [`ConnectInfo`] when the app is served with it.
pub fn upgrade<S>(acceptor: &Acceptor<S>, mut request: Request) -> Response
where
    S: Clone + Send + Sync + 'static,
{
    let remote = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| *addr);
    crate::hyper::upgrade(acceptor, &mut request, remote).into_response()
}
