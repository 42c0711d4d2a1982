//! JRPC on a route of an axum `Router` (feature `axum`): a page and its WebSocket on one port,
//! the handshake authentication, `Config` and shutdown of `Server::bind` on the mounted route.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::serve::ListenerExt;
use futures_channel::mpsc;
use jrpc_testsuite::mounted::{authenticate, check_authentication, who_methods};
use jrpc_tokio::hyper::is_websocket_upgrade;
use jrpc_tokio::{Acceptor, CallError, Client, Config, Methods, Server, Tokio};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(5);

/// Serves `/` (the page, or the WebSocket when upgraded) and `/rpc` (the WebSocket only) on
/// 127.0.0.1:0, with the caller's address.
async fn serve(build: impl FnOnce(SocketAddr) -> Acceptor) -> (SocketAddr, Acceptor) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let rpc = build(addr);
    let index = rpc.clone();
    let app = Router::new()
        .route(
            "/",
            get(move |request: Request| {
                let response: Response = if is_websocket_upgrade(request.headers()) {
                    jrpc_tokio::axum::upgrade(&index, request)
                } else {
                    "the page".into_response()
                };
                async move { response }
            }),
        )
        .route("/rpc", jrpc_tokio::axum::route(rpc.clone()));
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let service = app.into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, service).await });
    (addr, rpc)
}

/// A plain HTTP/1.1 GET of `path`: the status line and the body.
async fn get_plain(addr: SocketAddr, path: &str) -> (String, String) {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let head = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    tcp.write_all(head.as_bytes()).await.unwrap();
    let mut reply = String::new();
    timeout(WAIT, tcp.read_to_string(&mut reply))
        .await
        .expect("a reply in time")
        .unwrap();
    let (head, body) = reply.split_once("\r\n\r\n").unwrap();
    (head.lines().next().unwrap().to_owned(), body.to_owned())
}

fn methods() -> Methods {
    Methods::new()
        .add("Add", |a: i64, b: i64| a + b)
        .add("RemoteKnown", |ctx: jrpc_tokio::Ctx| {
            ctx.peer().remote_addr().is_some()
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_port_serves_the_page_and_the_websocket() {
    let (addr, _rpc) = serve(|addr| Server::builder().acceptor(addr, methods())).await;
    let (status, body) = get_plain(addr, "/").await;
    assert_eq!(
        (status.as_str(), body.as_str()),
        ("HTTP/1.1 200 OK", "the page")
    );
    let (status, body) = get_plain(addr, "/rpc").await;
    assert_eq!(status, "HTTP/1.1 400 Bad Request");
    assert!(body.contains("not a WebSocket handshake"), "{body}");

    for path in ["/", "/rpc"] {
        let peer = Client::connect(&format!("ws://{addr}{path}"))
            .await
            .unwrap();
        assert_eq!(peer.request::<i64>("Add", (5, 10)).await, Ok(15));
        assert_eq!(peer.request::<bool>("RemoteKnown", ()).await, Ok(true));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshake_authentication_on_the_route() {
    let (opened, mut opens) = mpsc::unbounded();
    let (addr, _rpc) = serve(|addr| {
        Server::builder()
            .config(Config::default().allow_origin("http://app.localhost:8080"))
            .authenticate(authenticate)
            .acceptor(addr, who_methods(opened))
    })
    .await;
    let url = format!("ws://{addr}/");
    check_authentication::<Tokio>(&url, "http://app.localhost:8080", &mut opens).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_closes_the_mounted_connections() {
    let slow = Methods::new().add("Never", std::future::pending::<()>);
    let (addr, rpc) = serve(|addr| Server::builder().acceptor(addr, slow)).await;
    let peer = Client::connect(&format!("ws://{addr}/rpc")).await.unwrap();
    let call = tokio::spawn({
        let peer = peer.clone();
        async move { peer.request::<()>("Never", ()).await }
    });
    timeout(WAIT, rpc.handle().shutdown(Duration::from_millis(100)))
        .await
        .expect("shutdown resolves once the connections closed");
    timeout(WAIT, peer.closed())
        .await
        .expect("the client sees the close");
    assert_eq!(call.await.unwrap(), Err(CallError::ConnectionClosed));
    // The page is still served: only JRPC was shut down.
    assert_eq!(get_plain(addr, "/").await.1, "the page");
}
