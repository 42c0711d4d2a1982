//! A tokio client against an async-std server and the reverse, with calls in both directions.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use jrpc_driver::{Builder, Ctx, Methods, Runtime, Server};

/// Methods both sides serve: `Add`, and `AskBack`, which calls the caller's `Add` while
/// answering.
fn methods() -> Methods {
    Methods::new().add("Add", |a: i64, b: i64| a + b).add(
        "AskBack",
        |ctx: Ctx, a: i64| async move {
            let doubled: i64 = ctx.peer().request("Add", (a, a)).await?;
            Ok::<_, jrpc_driver::CallError>(doubled + 1)
        },
    )
}

/// Serves on runtime `S`, dials from runtime `C`; each side calls the other, and the server
/// calls back into the client while answering it.
fn talk<S: Runtime + Default, C: Runtime + Default>(
    block_on_server: impl FnOnce(std::pin::Pin<Box<dyn Future<Output = ()> + Send>>) + Send + 'static,
    block_on_client: impl FnOnce(std::pin::Pin<Box<dyn Future<Output = ()> + Send>>),
) {
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = futures_channel::oneshot::channel::<()>();
    let server = std::thread::spawn(move || {
        block_on_server(Box::pin(async move {
            let server = Server::<S>::bind("127.0.0.1:0", methods()).await.unwrap();
            addr_tx.send(server.local_addr()).unwrap();
            let handle = server.handle();
            S::default().spawn(server.run());
            let _ = stop_rx.await;
            handle.shutdown(Duration::from_secs(1)).await;
        }))
    });
    let addr = addr_rx.recv_timeout(Duration::from_secs(10)).unwrap();
    block_on_client(Box::pin(async move {
        let peer = Builder::<C>::default()
            .connect(&format!("ws://{addr}"), methods())
            .await
            .unwrap();
        let sum: i64 = peer.request("Add", (5, 10)).await.unwrap();
        assert_eq!(sum, 15);
        // The server answers by calling the client's Add: 7 + 7 + 1.
        let back: i64 = peer.request("AskBack", (7,)).await.unwrap();
        assert_eq!(back, 15);
        peer.close();
        peer.closed().await;
    }));
    let _ = stop_tx.send(());
    server.join().unwrap();
}

fn tokio_block_on(future: std::pin::Pin<Box<dyn Future<Output = ()> + Send>>) {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(future)
}

fn async_std_block_on(future: std::pin::Pin<Box<dyn Future<Output = ()> + Send>>) {
    async_std::task::block_on(future)
}

#[test]
fn tokio_client_async_std_server() {
    talk::<jrpc_async_std::AsyncStd, jrpc_tokio::Tokio>(async_std_block_on, tokio_block_on);
}

#[test]
fn async_std_client_tokio_server() {
    talk::<jrpc_tokio::Tokio, jrpc_async_std::AsyncStd>(tokio_block_on, async_std_block_on);
}
