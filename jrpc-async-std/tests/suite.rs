//! The shared JRPC integration suite (`jrpc-testsuite`), run on async-std: the same cases as
//! on tokio.

/// Runs `future` on async-std. The future is boxed: the cases' futures are large in debug
/// builds, and async-std's `block_on` would otherwise keep them on the test thread's stack.
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    async_std::task::block_on(Box::pin(future))
}

jrpc_testsuite::instantiate!(jrpc_async_std::AsyncStd, block_on);
