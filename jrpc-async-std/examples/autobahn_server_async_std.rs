//! A WebSocket echo server on jrpc-async-std's socket layer, with the JRPC server's
//! tungstenite settings, for the Autobahn conformance suite (`scripts/autobahn.sh`).
//!
//! `cargo run -p jrpc-async-std --example autobahn_server_async_std -- 127.0.0.1:9003`

use std::net::SocketAddr;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr: SocketAddr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9003".to_owned())
        .parse()?;
    let config = jrpc_async_std::Config::default();
    async_std::task::block_on(jrpc_testsuite::autobahn::echo_server::<
        jrpc_async_std::AsyncStd,
    >(addr, config))?;
    Ok(())
}
