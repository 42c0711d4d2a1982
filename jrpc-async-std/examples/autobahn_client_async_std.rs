//! A WebSocket echo client on jrpc-async-std's socket layer, with the JRPC client's
//! tungstenite settings: runs every case of an Autobahn fuzzing server
//! (`scripts/autobahn.sh`).
//!
//! `cargo run -p jrpc-async-std --example autobahn_client_async_std -- ws://127.0.0.1:9001`

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let base = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "ws://127.0.0.1:9001".to_owned());
    let config = jrpc_async_std::Config::default();
    let client = jrpc_testsuite::autobahn::echo_client::<jrpc_async_std::AsyncStd>(
        &base,
        "jrpc-async-std",
        config,
    );
    let cases = async_std::task::block_on(client)?;
    println!("ran {cases} cases");
    Ok(())
}
