#!/bin/sh
# Builds a generated wiki of N pages with wikic (and with ikiwiki when
# asked and installed), printing time and peak memory.
#
# Usage: [COMMENTS=C] bench/scale.sh [PAGES] [--with-ikiwiki]
#   COMMENTS adds C comments (comments plugin on), most on a few pages.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
# Release artifacts are built per target (.cargo/config.toml).
rel=$here/target/$(rustc -vV | sed -n 's/^host: //p')/release
pages=${1:-100000}
with_ikiwiki=${2:-}
(cd "$here" && cargo build --release --quiet --example genwiki && cargo build --release --quiet)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$rel/examples/genwiki" "$work" --pages "$pages" --comments "${COMMENTS:-0}" >/dev/null
measure() { # label command...
	label=$1; shift
	/usr/bin/time -f "$label: %e s, peak memory %M KiB" "$@" >/dev/null 2>"$work/time.txt" || { cat "$work/time.txt"; exit 1; }
	tail -n 1 "$work/time.txt"
}
measure "wikic, $pages pages, ${COMMENTS:-0} comments, fresh destdir" "$rel/wikic" --setup "$work/setup.yaml"
measure "wikic, $pages pages, again" "$rel/wikic" --setup "$work/setup.yaml"
if [ "$with_ikiwiki" = "--with-ikiwiki" ] && command -v ikiwiki >/dev/null; then
	cp -a "$work/src" "$work/src-ikiwiki"
	sed "s|$work/src|$work/src-ikiwiki|; s|$work/html|$work/html-ikiwiki|" "$work/setup.yaml" > "$work/ikiwiki.yaml"
	measure "ikiwiki, $pages pages" ikiwiki --setup "$work/ikiwiki.yaml"
fi
