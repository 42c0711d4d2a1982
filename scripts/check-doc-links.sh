#!/usr/bin/env bash
# Fails when the API docs of a published crate show an intra-doc link as literal text ("Shuts a
# [`Server`] down"): a link rustdoc could not turn into a hyperlink on the page a reader sees.
#
# `cargo doc -D warnings` misses one kind. An item that jrpc-tokio re-exports from jrpc-driver
# is shown on jrpc-tokio's pages with jrpc-driver's text, and rustdoc resolves its links in
# jrpc-driver; a link to an item jrpc-tokio does not have under that path (`jrpc_driver::Server`,
# where jrpc-tokio has an alias of its own) then points at jrpc-driver's pages, and when those
# are not in the same output (`cargo doc --no-deps -p jrpc-tokio`, or a parallel build that has
# not written them yet) it is printed as literal text, without a warning. So each published
# crate that depends on another crate of the workspace is documented here alone, and its pages
# are scanned, as are the published crates' pages of the workspace's own build.
#
# The rule this enforces: a link on a published crate's pages resolves with that crate's own
# pages and std's. A link into another crate (of the workspace or not) is written so that it does
# not depend on that crate's pages being beside it: a path the crate has too, a URL
# (https://docs.rs/...), or plain text.
#
# Run after `cargo doc --workspace --no-deps` (as .ci/run does). The pages built alone land in
# $CARGO_TARGET_DIR/doc-alone/<crate>/; the workspace's pages are left as they were.
set -euo pipefail
cd "$(dirname "$0")/.."

target=${CARGO_TARGET_DIR:-target}
full="$target/doc"
alone="$target/doc-alone"

# "package lib-dir workspace-deps" for each published crate with a library, from the manifests.
published=$(cargo metadata --format-version 1 --no-deps --offline | perl -MJSON::PP -e '
  my $meta = decode_json(join "", <STDIN>);
  my %workspace = map { $_->{name} => 1 } @{$meta->{packages}};
  for my $package (@{$meta->{packages}}) {
    next if defined $package->{publish} && !@{$package->{publish}};
    my ($lib) = grep { grep { $_ eq "lib" } @{$_->{kind}} } @{$package->{targets}};
    next unless $lib;
    my $deps = grep { $workspace{$_->{name}} && !defined $_->{kind} } @{$package->{dependencies}};
    (my $dir = $lib->{name}) =~ s/-/_/g;
    print "$package->{name} $dir $deps\n";
  }')

# The workspace's pages are moved aside while each crate is documented alone, and put back.
rm -rf "$alone" "$full.workspace"
mkdir -p "$alone"
[ -d "$full" ] && mv "$full" "$full.workspace"
restore() {
  rm -rf "$full"
  [ -d "$full.workspace" ] && mv "$full.workspace" "$full"
  return 0
}
trap restore EXIT
while read -r package dir deps; do
  [ "$deps" -gt 0 ] || continue
  # The adapters with every feature (they enable the driver's); the others with their
  # defaults, since some of their features build only through an adapter.
  features=()
  case "$package" in jrpc-tokio | jrpc-async-std) features=(--all-features) ;; esac
  # Another RUSTDOCFLAGS value than the workspace build's makes cargo run rustdoc again; the
  # dependencies are not rebuilt (rustdoc flags do not reach them).
  RUSTDOCFLAGS="-D warnings --cfg jrpc_docs_alone" \
    cargo doc --quiet --no-deps "${features[@]}" -p "$package" </dev/null
  if [ ! -f "$full/$dir/index.html" ]; then
    echo "error: cargo doc -p $package left no pages in $full/$dir" >&2
    exit 1
  fi
  mkdir -p "$alone/$package"
  mv "$full/$dir" "$alone/$package/$dir"
  rm -rf "$full"
done <<<"$published"
restore
trap - EXIT

# A literal link is `[`name`]` or `[name]` in the text of a page. Left out: code blocks, code
# spans and signatures (`&[u8]`, `#[test]`), scripts, and the implementations of traits, whose
# method docs are the traits' own (std's, futures', another crate's: not ours to word).
scan() {
  find "$1" -name '*.html' -print0 | xargs -0 --no-run-if-empty perl -0777 -ne '
    s/<h2 id="(?:trait|synthetic|blanket)-implementations".*//s;
    s/<script\b.*?<\/script>//gs;
    s/<pre\b.*?<\/pre>//gs;
    my @found;
    push @found, "[`$1`]" while /\[<code>([^<]*)<\/code>\]/g;
    s/<code>.*?<\/code>//gs;
    s/<h[1-6][^>]*class="code-header".*?<\/h[1-6]>//gs;
    s/<[^>]*>//g;
    push @found, $1 while /(?<![\w\]#&;])(\[[A-Za-z_][A-Za-z0-9_:]*(?:\(\))?\])/g;
    print "$ARGV: literal $_\n" for @found;'
}
found=""
while read -r package dir deps; do
  for pages in "$alone/$package/$dir" "$full/$dir"; do
    if [ -d "$pages" ]; then found+=$(scan "$pages")$'\n'; fi
  done
done <<<"$published"
found=$(echo "$found" | sed '/^$/d')
if [ -n "$found" ]; then
  echo "$found"
  echo "error: the API docs above show links as literal text; write them so that they resolve" \
    "on every crate's pages (a path the re-exporting crate has too, or plain text)" >&2
  exit 1
fi
echo "doc links: none left as literal text on the published crates' pages"
