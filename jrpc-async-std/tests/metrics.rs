//! The `metrics` feature, read back through a Prometheus recorder installed before any
//! connection (process-wide, hence a test binary of its own): jrpc-testsuite's metrics case on
//! async-std. `cargo test -p jrpc-async-std --features metrics --test metrics`.

/// Runs `future` on async-std (boxed: the case's future is large in debug builds).
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    async_std::task::block_on(Box::pin(future))
}

jrpc_testsuite::instantiate_observed!(metrics, jrpc_async_std::AsyncStd, block_on);
