//! The `metrics` feature, read back through a Prometheus recorder installed before any
//! connection: `cargo test -p jrpc-tokio --features metrics --test metrics`. One test in its own binary, since the
//! recorder is process-wide.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

static RECORDER: OnceLock<PrometheusHandle> = OnceLock::new();

fn render() -> String {
    RECORDER
        .get()
        .map(PrometheusHandle::render)
        .unwrap_or_default()
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
fn metrics_count_connections_and_calls() {
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full("jrpc_call_duration_seconds".to_owned()),
            &[1e-4, 1e-3, 1e-2, 0.1, 1.0],
        )
        .unwrap()
        .install_recorder()
        .unwrap();
    RECORDER.set(handle).ok().unwrap();
    block_on(jrpc_testsuite::metrics_count_connections_and_calls::<
        jrpc_tokio::Tokio,
    >(render));
}
