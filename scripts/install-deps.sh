#!/usr/bin/env bash
# Installs what the test suite needs and a fresh machine may lack. Idempotent: each step is
# skipped when its tool is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# Rust components used by the checks.
rustup component add rustfmt clippy >/dev/null 2>&1 || true

# Node.js and npm run the browser library's tests.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  as_root apt-get update -qq
  as_root apt-get install -y -qq nodejs npm
fi

# Debian's Chromium drives the browser tests (playwright-core never downloads a browser).
if ! command -v chromium >/dev/null; then
  as_root apt-get update -qq
  as_root apt-get install -y -qq chromium
fi

# playwright-core for the browser tests, from the lock file.
if [ -f js/package-lock.json ]; then
  (cd js && npm ci --no-audit --no-fund --silent)
fi

# socket.io for the benchmark's fan-out load (bench/socketio/server.js), from the lock file.
if [ -f bench/socketio/package-lock.json ]; then
  (cd bench/socketio && npm ci --no-audit --no-fund --silent)
fi
