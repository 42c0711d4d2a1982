//! `hello` (hello.rs) on tokio: `cargo run --example hello-tokio`.

extern crate jrpc_tokio as jrpc;

#[path = "hello.rs"]
mod hello;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    hello::run().await
}
