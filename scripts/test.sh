#!/usr/bin/env bash
# Runs every test of the project: the Rust workspace (unit, integration, property and doc
# tests), the browser library's protocol tests under Node, and its tests in real Chromium.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh

echo "== Rust: cargo test --workspace"
cargo test --workspace --all-targets
cargo test --workspace --doc

echo "== Rust: wss:// clients (the adapters' rustls feature)"
cargo test -p jrpc-tokio -p jrpc-async-std --features jrpc-tokio/rustls,jrpc-async-std/rustls --test suite wss
echo "== Rust: the driver on its own (no TLS: wss:// is refused with a hint)"
cargo test -p jrpc-driver --lib

echo "== Rust: JRPC on a route of an axum Router (jrpc-tokio's axum and hyper features)"
cargo test -p jrpc-tokio --features axum --test axum --test hyper --lib
echo "== Rust: the cluster backend over Redis on async-std (tokio's runs above: the examples enable it)"
cargo test -p jrpc-async-std --features redis --test suite cluster_
echo "== Rust: twoway chat processes behind nginx, linked by Redis (SIGKILL, Redis restart)"
cargo build -p jrpc-examples --example twoway
cargo test -p jrpc-examples --test cluster

echo "== Rust: metrics (the adapters' metrics feature, read back through a Prometheus recorder)"
cargo test -p jrpc-tokio -p jrpc-async-std --features jrpc-tokio/metrics,jrpc-async-std/metrics --test metrics

echo "== Rust: the jrpc command-line client"
cargo test -p jrpc-cli

echo "== Rust: model-based property test, 10,000 cases"
PROPTEST_CASES=10000 cargo test --release -p jrpc-proto --test model

echo "== JS: node --test"
(cd js && node --test test/)

if [ -d js/browser-test ]; then
  echo "== JS: browser tests in Chromium"
  (cd js && node --test browser-test/)
fi
