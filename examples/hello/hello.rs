//! The whole program of `hello-tokio` and `hello-async-std`, written once: a server and a
//! client in one process, a call each way, the results printed.
//!
//! It names the adapter crate `jrpc`: each main (`tokio.rs`, `async_std.rs`) declares
//! `extern crate jrpc_tokio as jrpc;` or `extern crate jrpc_async_std as jrpc;` and its
//! `main` attribute, nothing else. In a project of your own the same rename goes in
//! `Cargo.toml` (`jrpc = { package = "jrpc-tokio", ... }`), and switching runtime is then
//! changing that line and the `main` attribute.

use std::error::Error;
use std::time::Duration;

use futures_util::future;
use jrpc::{CallError, ClientBuilder, Ctx, Methods, Peer, Server};

/// Serves `Add` and `Greet` on a free port, calls them from a client, prints the answers and
/// shuts the server down.
pub async fn run() -> Result<(), Box<dyn Error>> {
    // `Greet` calls back the client that called it, for its name.
    let methods =
        Methods::new()
            .add("Add", |a: i64, b: i64| a + b)
            .add("Greet", |ctx: Ctx| async move {
                let name: String = ctx.peer().request("Name", ()).await?;
                Ok::<_, CallError>(format!("Hello, {name}!"))
            });
    let server = Server::bind("127.0.0.1:0", methods).await?;
    let url = format!("ws://{}", server.local_addr());
    let handle = server.handle();

    let client = async {
        let talked = talk(&url).await;
        handle.shutdown(Duration::from_secs(1)).await;
        talked
    };
    // The accept loop runs alongside the client, until the client shuts the server down.
    let ((), talked) = future::join(server.run(), client).await;
    talked
}

/// The client: connects serving `Name`, calls `Add` and `Greet`, prints their answers.
async fn talk(url: &str) -> Result<(), Box<dyn Error>> {
    let peer: Peer = ClientBuilder::default()
        .connect(url, Methods::new().add("Name", || "client"))
        .await?;
    let sum: i64 = peer.request("Add", (5, 10)).await?;
    println!("Add(5, 10) = {sum}");
    let greeting: String = peer.request("Greet", ()).await?;
    println!("Greet() = {greeting:?}");
    peer.close();
    peer.closed().await;
    Ok(())
}
