//! `hello` (hello.rs) on async-std: `cargo run --example hello-async-std`.

extern crate jrpc_async_std as jrpc;

#[path = "hello.rs"]
mod hello;

#[async_std::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    hello::run().await
}
