//! A WebSocket echo server on jrpc-tokio's socket layer, with the JRPC server's tungstenite
//! settings, for the Autobahn conformance suite (`scripts/autobahn.sh`).
//!
//! `cargo run -p jrpc-tokio --example autobahn_server_tokio -- 127.0.0.1:9002`

use std::net::SocketAddr;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr: SocketAddr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9002".to_owned())
        .parse()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let config = jrpc_tokio::Config::default();
    runtime.block_on(jrpc_testsuite::autobahn::echo_server::<jrpc_tokio::Tokio>(
        addr, config,
    ))?;
    Ok(())
}
