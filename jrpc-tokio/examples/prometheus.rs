//! A JRPC server whose figures (connections, calls by method and outcome, call latency, bytes
//! and frames) are scraped by Prometheus: the `metrics` feature hands them to the `metrics`
//! facade, and `metrics-exporter-prometheus` serves them in the Prometheus text format.
//!
//! ```text
//! cargo run -p jrpc-tokio --features metrics --example prometheus
//! cargo jrpc Add -a 5,10                  # a few calls, from another shell
//! curl http://127.0.0.1:9100/metrics      # jrpc_calls_total{method="Add",outcome="ok"} 1 …
//! ```
//!
//! Both listen on 127.0.0.1 only; Ctrl-C stops the server.

use std::error::Error;
use std::time::Duration;

use jrpc_tokio::{Methods, RpcError, Server};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};

/// Bounds of the latency histogram's buckets, in seconds: 10 µs to 10 s.
const LATENCY_BUCKETS: [f64; 13] = [
    1e-5, 5e-5, 1e-4, 5e-4, 1e-3, 5e-3, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0,
];

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    // The recorder comes first: the driver makes its handles on first use.
    PrometheusBuilder::new()
        .with_http_listener(([127, 0, 0, 1], 9100))
        .set_buckets_for_metric(
            Matcher::Full("jrpc_call_duration_seconds".to_owned()),
            &LATENCY_BUCKETS,
        )?
        .install()?;

    let methods = Methods::new()
        .add("Add", |a: f64, b: f64| a + b)
        .add("Divide", |a: f64, b: f64| {
            if b == 0.0 {
                Err(RpcError::new("ZeroDivisionError", "division by zero"))
            } else {
                Ok(a / b)
            }
        })
        // Suspends, so it is timed as a task of its own.
        .add("Sleep", |seconds: f64| async move {
            tokio::time::sleep(Duration::from_secs_f64(seconds.clamp(0.0, 10.0))).await;
        });
    let server = Server::bind("127.0.0.1:9000", methods).await?;
    println!("JRPC on ws://{}", server.local_addr());
    println!("metrics on http://127.0.0.1:9100/metrics");
    let handle = server.handle();
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        handle.shutdown(Duration::from_secs(5)).await;
    });
    server.run().await;
    Ok(())
}
