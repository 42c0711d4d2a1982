//! The connection's logs, read back from a `tracing` subscriber at debug for `jrpc_driver`
//! installed for the whole process (hence a test binary of its own).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::sync::Mutex;

static LOG: Mutex<Vec<u8>> = Mutex::new(Vec::new());

/// Where the subscriber writes: [`LOG`].
struct Capture;

impl Write for Capture {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        LOG.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn captured() -> String {
    String::from_utf8_lossy(&LOG.lock().unwrap()).into_owned()
}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
        .block_on(future)
}

#[test]
fn logs_tell_connections_and_calls() {
    tracing_subscriber::fmt()
        .with_env_filter("jrpc_driver=debug")
        .with_writer(|| Capture)
        .with_ansi(false)
        .init();
    block_on(jrpc_testsuite::logs_tell_connections_and_calls::<
        jrpc_tokio::Tokio,
    >(captured));
}
