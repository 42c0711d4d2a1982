//! The `metrics` feature, read back through a Prometheus recorder installed before any
//! connection (process-wide, hence a test binary of its own): jrpc-testsuite's metrics case on
//! tokio. `cargo test -p jrpc-tokio --features metrics --test metrics`.

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

jrpc_testsuite::instantiate_observed!(metrics, jrpc_tokio::Tokio, block_on);
