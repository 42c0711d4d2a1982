//! A WebSocket echo client on jrpc-tokio's socket layer, with the JRPC client's tungstenite
//! settings: runs every case of an Autobahn fuzzing server (`scripts/autobahn.sh`).
//!
//! `cargo run -p jrpc-tokio --example autobahn_client_tokio -- ws://127.0.0.1:9001`

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let base = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "ws://127.0.0.1:9001".to_owned());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let config = jrpc_tokio::Config::default();
    let client =
        jrpc_testsuite::autobahn::echo_client::<jrpc_tokio::Tokio>(&base, "jrpc-tokio", config);
    let cases = runtime.block_on(client)?;
    println!("ran {cases} cases");
    Ok(())
}
