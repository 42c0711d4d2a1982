#!/usr/bin/env bash
# The Autobahn WebSocket conformance suite, every case, against both adapters' socket layer
# (echo peers with the JRPC connections' tungstenite settings, jrpc-testsuite/src/autobahn.rs):
# server mode (kosoku drives our echo server) and client mode (our echo client drives kosoku's
# fuzzing server). Runs without Docker through kosoku, a Python 3 reimplementation of the
# Autobahn runner from PyPI, pinned below and installed into a venv under target/.
#
# Passes when every case's behaviour is OK, NON-STRICT or INFORMATIONAL and its closing
# behaviour OK or INFORMATIONAL, as in tungstenite's own published results; the one exception
# is also theirs: 12.* and 13.* (permessage-deflate, which tungstenite does not implement) are
# UNIMPLEMENTED. Reports: target/autobahn/<adapter>-<mode>/index.html.
set -euo pipefail
cd "$(dirname "$0")/.."

KOSOKU_VERSION=0.1.0
TARGET="${CARGO_TARGET_DIR:-target}"
VENV="$TARGET/kosoku-venv"
REPORTS="$TARGET/autobahn"

installed=$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("kosoku"))' 2>/dev/null || true)
if [ "$installed" != "$KOSOKU_VERSION" ]; then
  echo "== installing kosoku $KOSOKU_VERSION into $VENV"
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "kosoku==$KOSOKU_VERSION"
fi

echo "== building the echo peers"
cargo build --quiet -p jrpc-tokio -p jrpc-async-std \
  --example autobahn_server_tokio --example autobahn_client_tokio \
  --example autobahn_server_async_std --example autobahn_client_async_std

rm -rf "$REPORTS"
mkdir -p "$REPORTS"
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; }
trap cleanup EXIT

# Prints the first match of the regex $2 in file $1, waiting up to 30 s for it.
await_line() {
  for _ in $(seq 300); do
    if match=$(grep -o -m1 -E "$2" "$1" 2>/dev/null); then
      echo "$match"
      return 0
    fi
    sleep 0.1
  done
  echo "timed out waiting for /$2/ in $1:" >&2
  cat "$1" >&2
  return 1
}

for adapter in tokio async_std; do
  echo "== Autobahn server mode: jrpc-${adapter/_/-} echo server"
  log="$REPORTS/$adapter-server.log"
  "$TARGET/debug/examples/autobahn_server_$adapter" 127.0.0.1:0 >"$log" 2>&1 &
  server=$!
  pids+=("$server")
  addr=$(await_line "$log" '127\.0\.0\.1:[0-9]+')
  # kosoku exits 1 when a case does not pass its own (stricter) test; the verdicts are judged
  # below, from the reports.
  "$VENV/bin/kosoku" -m fuzzingclient -p 2 -o "$REPORTS/$adapter-server" "$addr" \
    >"$REPORTS/$adapter-kosoku-fuzzingclient.log" 2>&1 || true
  kill "$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true

  echo "== Autobahn client mode: jrpc-${adapter/_/-} echo client"
  log="$REPORTS/$adapter-kosoku-fuzzingserver.log"
  "$VENV/bin/kosoku" -m fuzzingserver -o "$REPORTS/$adapter-client" 127.0.0.1:0 >"$log" 2>&1 &
  fuzzer=$!
  pids+=("$fuzzer")
  url=$(await_line "$log" 'ws://127\.0\.0\.1:[0-9]+')
  "$TARGET/debug/examples/autobahn_client_$adapter" "$url"
  wait "$fuzzer" || true
done

"$VENV/bin/python" - "$REPORTS" <<'EOF'
"""Judges every case report; prints the counts per adapter and mode."""
import collections, glob, json, os, sys

reports = sys.argv[1]
GOOD = {"OK", "NON-STRICT", "INFORMATIONAL"}
GOOD_CLOSE = {"OK", "INFORMATIONAL"}
failed = []
for run in ("tokio-server", "tokio-client", "async_std-server", "async_std-client"):
    counts = collections.Counter()
    files = glob.glob(os.path.join(reports, run, "*_case_*.json"))
    for path in files:
        with open(path) as f:
            case = json.load(f)
        case_id, behavior, close = case["id"], case["behavior"], case["behaviorClose"]
        deflate = case_id.split(".")[0] in ("12", "13")
        ok = (behavior in GOOD or (deflate and behavior == "UNIMPLEMENTED")) and close in GOOD_CLOSE
        counts[behavior] += 1
        if not ok:
            failed.append(f"{run} {case_id}: behavior={behavior} behaviorClose={close}")
    summary = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
    print(f"{run:17} {len(files)} cases: {summary}")
    if len(files) != 517:
        failed.append(f"{run}: {len(files)} case reports, expected 517")
if failed:
    print("Autobahn: FAILED", *failed, sep="\n  ")
    sys.exit(1)
print("Autobahn: every case OK, NON-STRICT or INFORMATIONAL (12.*, 13.*: UNIMPLEMENTED, no permessage-deflate)")
EOF
