//! The connection's logs, read back from a `tracing` subscriber installed for the whole
//! process (hence a test binary of its own): jrpc-testsuite's logs case on tokio.

/// Runs `future` to completion on a multi-thread tokio runtime of its own.
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    #[allow(clippy::expect_used)]
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(future)
}

jrpc_testsuite::instantiate_observed!(logs, jrpc_tokio::Tokio, block_on);
