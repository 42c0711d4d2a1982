//! The resident memory of a jrpc-tokio server under floods (notifications, requests beyond the
//! in-flight limit, clients that do not read, messages at the size limit, many connections,
//! incomplete handshakes): the server runs as a child process, and its `VmRSS` and peak
//! `VmHWM` are read from `/proc` after each flood (Linux).
//!
//! `cargo run --release -p jrpc-tokio --example flood`

fn main() -> Result<(), Box<dyn std::error::Error>> {
    if std::env::args().nth(1).as_deref() == Some("serve") {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?;
        runtime.block_on(jrpc_testsuite::flood::serve::<jrpc_tokio::Tokio>());
        return Ok(());
    }
    jrpc_testsuite::flood::drive(&std::env::current_exe()?);
    Ok(())
}
