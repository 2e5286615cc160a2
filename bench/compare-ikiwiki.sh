#!/bin/sh
# Builds ikiwiki's documentation wiki with both ikiwiki and wikic and
# compares the results page by page (titles, content links, backlinks,
# tags). Prints a summary; with --details N, the first N differences.
#
# Usage: bench/compare-ikiwiki.sh [CORPUS.tar.xz] [--details N]
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
# Release artifacts are built per target (.cargo/config.toml).
rel=$here/target/$(rustc -vV | sed -n 's/^host: //p')/release
corpus=$here/../shared/corpora/ikiwiki-doc.tar.xz
case "${1:-}" in *.tar.xz) corpus=$1; shift;; esac
(cd "$here" && cargo build --release --quiet && cargo build --release --quiet --example compare)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tar -xJf "$corpus" -C "$work"
cp -a "$work/doc" "$work/doc-wikic"
for t in ikiwiki wikic; do
	src=$work/doc; [ $t = wikic ] && src=$work/doc-wikic
	cat > "$work/$t.yaml" <<YAML
# IkiWiki::Setup::Yaml - YAML formatted setup file
wikiname: ikiwiki
srcdir: $src
destdir: $work/html-$t
url: http://example.org/
underlaydir: /usr/share/ikiwiki/basewiki
add_plugins: [goodstuff, table]
usedirs: 1
YAML
done
TZ=UTC ikiwiki --setup "$work/ikiwiki.yaml" >/dev/null
TZ=UTC "$rel/wikic" --setup "$work/wikic.yaml"
"$rel/examples/compare" "$work/html-ikiwiki" "$work/html-wikic" "$@"
