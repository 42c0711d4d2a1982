#!/usr/bin/env bash
# Builds every package as it would be published, so that packaging cannot rot between releases:
# each publishable crate (publish = false ones are skipped) is packaged and compiled from its
# .crate file, the workspace's crates standing in for each other through a temporary local
# registry, as crates.io would serve them (`cargo publish --workspace --dry-run`, which needs
# crates.io's index); then the npm package of js/ (`npm pack --dry-run`).
#
# Cargo takes a registry crate of a given version to be immutable: it unpacks it once (the
# temporary registry's under $CARGO_HOME/registry/src/-<hash>/) and compiles it once, so a
# second run would build today's jrpc-driver against yesterday's jrpc-proto 0.1.0. Those
# copies and builds of the workspace's crates are dropped first; the dependencies' builds stay.
set -euo pipefail
cd "$(dirname "$0")/.."

home=${CARGO_HOME:-$HOME/.cargo}
target=${CARGO_TARGET_DIR:-target}
rm -rf "$home"/registry/src/-*/jrpc-* "$home"/registry/cache/-*/jrpc-*
for depinfo in "$target"/debug/deps/jrpc_*.d; do
  # A build whose sources were an unpacked copy (a workspace build's are in the workspace).
  if grep -qs "registry/src/-" "$depinfo"; then
    build=$(basename "$depinfo" .d) # jrpc_proto-<hash>, whose fingerprint is jrpc-proto-<hash>
    rm -rf "$target/debug/.fingerprint/${build//_/-}"
  fi
done

cargo publish --workspace --dry-run
(cd js && npm pack --dry-run --silent)
