//! JRPC on a hyper server without a framework (feature `hyper`): `jrpc_tokio::hyper::upgrade`
//! answers the upgrade from a `service_fn`, hyper hands the socket over.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::convert::Infallible;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use jrpc_tokio::{Client, Locals, Methods, Refusal, Server};
use tokio::net::TcpListener;
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(5);

struct Caller(String);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hyper_service_hands_its_upgrades_over() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let methods = Methods::new().add("Hello", |ctx: jrpc_tokio::Ctx| {
        let caller = ctx.peer().local::<Caller>();
        let name = caller.as_ref().map_or("stranger", |c| c.0.as_str());
        format!("Hello, {name}!")
    });
    let rpc = Server::builder()
        .authenticate(|handshake| match handshake.query_param("name") {
            Some(name) => Ok(Locals::new().with(Caller(name.to_owned()))),
            None => Err(Refusal::unauthorized("who are you?")),
        })
        .acceptor(addr, methods);
    let accepting = rpc.clone();
    tokio::spawn(async move {
        while let Ok((tcp, remote)) = listener.accept().await {
            let rpc = accepting.clone();
            let service = service_fn(move |mut request: Request<Incoming>| {
                let response = jrpc_tokio::hyper::upgrade(&rpc, &mut request, Some(remote));
                async move { Ok::<Response<String>, Infallible>(response) }
            });
            tokio::spawn(async move {
                let connection = http1::Builder::new().serve_connection(TokioIo::new(tcp), service);
                let _ = connection.with_upgrades().await;
            });
        }
    });

    let peer = Client::connect(&format!("ws://{addr}/?name=Ada"))
        .await
        .unwrap();
    assert_eq!(
        peer.request::<String>("Hello", ()).await,
        Ok("Hello, Ada!".to_owned())
    );
    let refused = Client::connect(&format!("ws://{addr}/")).await.unwrap_err();
    assert!(refused.to_string().contains("401"), "{refused}");

    timeout(WAIT, rpc.handle().shutdown(Duration::from_millis(100)))
        .await
        .expect("shutdown resolves");
    timeout(WAIT, peer.closed())
        .await
        .expect("the client sees the close");
}
