//! The connection's logs, read back from a `tracing` subscriber installed for the whole
//! process (hence a test binary of its own): jrpc-testsuite's logs case on async-std.

/// Runs `future` on async-std (boxed: the case's future is large in debug builds).
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    async_std::task::block_on(Box::pin(future))
}

jrpc_testsuite::instantiate_observed!(logs, jrpc_async_std::AsyncStd, block_on);
