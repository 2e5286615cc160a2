#!/bin/sh
# Builds ikiwiki's documentation wiki with ikiwiki and with wikic in one
# run, on this machine, and prints both times and their ratio.
#
# Usage: bench/bench.sh [CORPUS.tar.xz] [RUNS]
#   CORPUS defaults to ../shared/corpora/ikiwiki-doc.tar.xz
#   RUNS (default 3): timed runs of each; the median is reported.
#
# Measured (each tool into its own existing destdir, as when re-running
# `--setup`, and into an empty one):
#   full build      `--rebuild` after a warm-up build
#   fresh destdir   the same into an empty destdir
#   refresh, edit   `--refresh` after appending a line to one page
#   refresh, none   `--refresh` with nothing changed
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
corpus=${1:-$here/../shared/corpora/ikiwiki-doc.tar.xz}
runs=${2:-3}
[ -f "$corpus" ] || { echo "corpus not found: $corpus" >&2; exit 2; }

(cd "$here" && cargo build --release --quiet)
wikic=$here/target/release/wikic
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tar -xJf "$corpus" -C "$work"
cp -a "$work/doc" "$work/doc-wikic"

mksetup() { # srcdir destdir file
	cat > "$3" <<YAML
# IkiWiki::Setup::Yaml - YAML formatted setup file
wikiname: ikiwiki
srcdir: $1
destdir: $2
url: http://example.org/
underlaydir: /usr/share/ikiwiki/basewiki
add_plugins:
  - goodstuff
  - table
usedirs: 1
YAML
}
mksetup "$work/doc" "$work/html-ikiwiki" "$work/ikiwiki.yaml"
mksetup "$work/doc-wikic" "$work/html-wikic" "$work/wikic.yaml"

(cd "$here" && cargo build --release --quiet --example timeit)
timer=$here/target/release/examples/timeit
# median of N timings of a command
timeit() {
	n=$1; shift
	"$timer" "$n" --before sync -- "$@"
}
# median of N timings of a refresh after an edit of one page (the edit
# itself is not timed)
timeedit() {
	n=$1; src=$2; shift 2
	"$timer" "$n" --before "echo edited for the benchmark, run \$RUN >> '$src/$EDITED'; sync" -- "$@"
}
# A page in the middle of the link graph, changed in a way that does not
# change its links.
EDITED=features.mdwn

have_ikiwiki=0
command -v ikiwiki >/dev/null 2>&1 && have_ikiwiki=1

echo "machine: $(nproc) cores; $(uname -sr)"
echo "wikic: $($wikic --version)"
[ $have_ikiwiki = 1 ] && echo "ikiwiki: $(ikiwiki --version)"

# Warm-up builds (also fill destdirs and ikiwiki's index).
[ $have_ikiwiki = 1 ] && ikiwiki --setup "$work/ikiwiki.yaml" >/dev/null 2>&1
"$wikic" --setup "$work/wikic.yaml" >/dev/null 2>&1

w_full=$(timeit "$runs" "$wikic" --setup "$work/wikic.yaml" --rebuild)
w_fresh=$("$timer" "$runs" --before "rm -rf '$work/html-wikic'; sync" -- "$wikic" --setup "$work/wikic.yaml")
rruns=$((runs * 5))
w_edit=$(timeedit "$rruns" "$work/doc-wikic" "$wikic" --setup "$work/wikic.yaml" --refresh)
"$wikic" --setup "$work/wikic.yaml" --refresh >/dev/null 2>&1
w_none=$(timeit "$rruns" "$wikic" --setup "$work/wikic.yaml" --refresh)
printf "%-22s %10s %10s %8s\n" "figure" "ikiwiki" "wikic" "ratio"
if [ $have_ikiwiki = 1 ]; then
	i_full=$(timeit "$runs" ikiwiki --setup "$work/ikiwiki.yaml" --rebuild)
	i_fresh=$("$timer" 1 --before "rm -rf '$work/html-ikiwiki'; sync" -- ikiwiki --setup "$work/ikiwiki.yaml" --rebuild)
	printf "%-22s %9.3fs %9.3fs %7.1fx\n" "full build" "$i_full" "$w_full" "$(echo "$i_full / $w_full" | bc -l)"
	printf "%-22s %9.3fs %9.3fs %7.1fx\n" "fresh destdir" "$i_fresh" "$w_fresh" "$(echo "$i_fresh / $w_fresh" | bc -l)"
	ikiwiki --setup "$work/ikiwiki.yaml" >/dev/null 2>&1
	i_edit=$(timeedit "$rruns" "$work/doc" ikiwiki --setup "$work/ikiwiki.yaml" --refresh)
	ikiwiki --setup "$work/ikiwiki.yaml" --refresh >/dev/null 2>&1
	i_none=$(timeit "$rruns" ikiwiki --setup "$work/ikiwiki.yaml" --refresh)
	printf "%-22s %9.3fs %9.3fs %7.1fx\n" "refresh, one edit" "$i_edit" "$w_edit" "$(echo "$i_edit / $w_edit" | bc -l)"
	printf "%-22s %9.3fs %9.3fs %7.1fx\n" "refresh, no change" "$i_none" "$w_none" "$(echo "$i_none / $w_none" | bc -l)"
else
	printf "%-22s %10s %9.3fs\n" "full build" "-" "$w_full"
	printf "%-22s %10s %9.3fs\n" "fresh destdir" "-" "$w_fresh"
	printf "%-22s %10s %9.3fs\n" "refresh, one edit" "-" "$w_edit"
	printf "%-22s %10s %9.3fs\n" "refresh, no change" "-" "$w_none"
fi
