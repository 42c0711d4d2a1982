//! jrpc-async-std driven by smol instead of async-std's own `block_on`: the whole shared
//! integration suite (`jrpc-testsuite`) under `smol::block_on`, and a server whose accept loop
//! is a smol task.
//!
//! What makes it work: the adapter's sockets and timers are async-io's, the reactor smol
//! drives too, and the tasks it spawns for connections run on async-std's global executor,
//! whose threads start on first use whoever blocks on the top future.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use jrpc_async_std::{CallError, ClientBuilder, Ctx, Methods, Server};

/// Runs `future` with `smol::block_on`. Boxed, as in `suite.rs`: the cases' futures are large
/// in debug builds.
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    smol::block_on(Box::pin(future))
}

jrpc_testsuite::instantiate!(jrpc_async_std::AsyncStd, block_on);

/// The server's accept loop on smol's executor, a client calling it, the server calling the
/// client back while answering.
#[test]
fn server_task_on_smol_executor_calls_both_ways() {
    let executor = smol::Executor::new();
    smol::block_on(executor.run(async {
        let methods = Methods::new().add("Add", |a: i64, b: i64| a + b).add(
            "AskBack",
            |ctx: Ctx, a: i64| async move {
                let doubled: i64 = ctx.peer().request("Double", (a,)).await?;
                Ok::<_, CallError>(doubled + 1)
            },
        );
        let server = Server::bind("127.0.0.1:0", methods).await.unwrap();
        let url = format!("ws://{}", server.local_addr());
        let handle = server.handle();
        let accepting = executor.spawn(server.run());

        let client_methods = Methods::new().add("Double", |a: i64| a * 2);
        let peer = ClientBuilder::default()
            .connect(&url, client_methods)
            .await
            .unwrap();
        let sum: i64 = peer.request("Add", (5, 10)).await.unwrap();
        assert_eq!(sum, 15);
        let back: i64 = peer.request("AskBack", (7,)).await.unwrap();
        assert_eq!(back, 15);

        // A timer of smol's beside the adapter's: both on the one reactor.
        smol::Timer::after(Duration::from_millis(10)).await;
        handle.shutdown(Duration::from_secs(1)).await;
        peer.closed().await;
        accepting.await;
    }));
}
