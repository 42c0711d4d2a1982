#!/usr/bin/env bash
# Fails when the generated API docs show an intra-doc link as literal text ("Shuts a [`Server`]
# down"): a link rustdoc could not turn into a hyperlink on the page a reader sees.
#
# `cargo doc -D warnings` misses one kind: an item of jrpc-driver that jrpc-tokio or
# jrpc-async-std re-exports is shown on the adapter's pages with jrpc-driver's text, and a link
# in it to an item the adapter does not re-export (`jrpc_driver::Server`, where the adapter has
# its own `Server` alias) renders as literal text whenever jrpc-driver's own pages are not in the
# same output, as with `cargo doc --no-deps -p jrpc-tokio`. So the adapters are documented here
# alone, and every page of every crate of the workspace is scanned.
#
# Run after `cargo doc --workspace --no-deps` (as .ci/run does); the adapters' pages are built
# in a directory of their own and the workspace's pages are left as they were.
set -euo pipefail
cd "$(dirname "$0")/.."

target=${CARGO_TARGET_DIR:-target}
full="$target/doc"
alone="$target/doc-alone"

# The adapters documented without jrpc-driver's pages beside them. Another RUSTDOCFLAGS value
# makes cargo run rustdoc again for them (dependencies are not rebuilt: rustdoc flags do not
# touch them); the workspace's pages are moved aside meanwhile and put back after.
rm -rf "$alone" "$full.workspace"
[ -d "$full" ] && mv "$full" "$full.workspace"
restore() {
  rm -rf "$alone"
  [ -d "$full" ] && mv "$full" "$alone"
  [ -d "$full.workspace" ] && mv "$full.workspace" "$full"
  return 0
}
trap restore EXIT
RUSTDOCFLAGS="-D warnings --cfg jrpc_docs_alone" \
  cargo doc --quiet --no-deps --all-features -p jrpc-tokio -p jrpc-async-std
if [ ! -f "$full/jrpc_tokio/index.html" ] || [ ! -f "$full/jrpc_async_std/index.html" ]; then
  echo "error: cargo doc left no pages for the adapters in $full" >&2
  exit 1
fi
restore
trap - EXIT

# A literal link is `[name]` or `[`name`]` left in the text of a page: the text is read with the
# code blocks (<pre>), the blanket implementations of other crates' traits (their docs are
# theirs) and every tag taken out.
status=0
for dir in "$alone"/jrpc_* "$full"/jrpc_*; do
  [ -d "$dir" ] || continue
  found=$(find "$dir" -name '*.html' -print0 | xargs -0 perl -0777 -ne '
    s/<h2 id="blanket-implementations".*//s;
    s/<pre\b.*?<\/pre>//gs;
    s/<script\b.*?<\/script>//gs;
    s/<[^>]*>//g;
    while (/(?<![\w\]])(\[`?[A-Za-z_][A-Za-z0-9_:]*(?:\(\))?`?\])/g) {
      my $link = $1;
      my $at = substr($_, ($-[0] > 60 ? $-[0] - 60 : 0), 120);
      $at =~ s/\s+/ /g;
      print "$ARGV: $link in: ...$at...\n";
    }')
  if [ -n "$found" ]; then
    echo "$found"
    status=1
  fi
done
if [ "$status" != 0 ]; then
  echo "error: the API docs above show links as literal text; write them so that they resolve" \
    "on every crate's pages (a path the re-exporting crate has, or plain text)" >&2
  exit 1
fi
echo "doc links: none left as literal text"
