#!/usr/bin/env bash
# Fuzz smoke test: builds the cargo-fuzz targets of fuzz/ and runs each for a bounded time
# (FUZZ_SECONDS, default 60), the three at once, from the seeds in fuzz/seeds/. Fails if a
# target finds a crash (the input is left in fuzz/artifacts/<target>/). Skips, saying so, when
# cargo-fuzz is missing and cannot be installed.
#
# The targets are built without a sanitizer (`-s none`): that needs no nightly flag, so it runs
# on the stable toolchain (jrpc-proto has no unsafe code). A long campaign: see the README.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${FUZZ_SECONDS:-60}
targets=(frame ops bind)

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "== fuzz: cargo-fuzz missing, installing it (cargo install cargo-fuzz --locked)"
  if ! cargo install cargo-fuzz --locked; then
    echo "== fuzz: SKIPPED: cargo-fuzz could not be installed; the fuzz targets did not run"
    echo "   (their seeds and regressions still ran in cargo test: tests/fuzz_regressions.rs)"
    exit 0
  fi
fi

start=$(date +%s)
echo "== fuzz: building ${targets[*]} ($(cargo fuzz --version), -s none, stable)"
cargo fuzz build -s none

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "== fuzz: running each target for ${seconds}s"
pids=()
for t in "${targets[@]}"; do
  mkdir -p "$work/$t"
  case $t in
    ops) inputs=(fuzz/seeds/ops fuzz/regressions/ops) dict=() ;;
    *) inputs=(fuzz/seeds/frames "fuzz/regressions/$t") dict=(-dict=fuzz/frames.dict) ;;
  esac
  existing=()
  for d in "${inputs[@]}"; do [ -d "$d" ] && existing+=("$d"); done
  # New inputs go to a scratch corpus; the seeds and regressions are only read.
  cargo fuzz run -s none "$t" "$work/$t" "${existing[@]}" -- \
    "${dict[@]}" -max_total_time="$seconds" -timeout=10 -print_final_stats=1 \
    >"$work/$t.log" 2>&1 &
  pids+=($!)
done

failed=0
for i in "${!targets[@]}"; do
  t=${targets[$i]}
  if wait "${pids[$i]}"; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/$t.log")
    cov=$(grep -E '^#[0-9]+.*(DONE|pulse|NEW|REDUCE)' "$work/$t.log" | tail -1 | grep -oE 'cov: [0-9]+ ft: [0-9]+' || true)
    echo "   $t: ok, ${runs:-?} executions, $cov"
  else
    failed=1
    echo "   $t: FAILED; the end of its log:"
    tail -40 "$work/$t.log" | sed 's/^/     /'
    echo "   Minimize the input (cargo fuzz tmin -s none $t <artifact>), add it to"
    echo "   fuzz/regressions/$t/ and fix the bug: cargo test replays it on stable."
  fi
done
echo "== fuzz: done in $(( $(date +%s) - start ))s"
exit $failed
