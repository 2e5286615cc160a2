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
# The refreshes of the two programs alternate run by run (see below).
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
# Release artifacts are built per target (.cargo/config.toml).
rel=$here/target/$(rustc -vV | sed -n 's/^host: //p')/release
corpus=${1:-$here/../shared/corpora/ikiwiki-doc.tar.xz}
runs=${2:-3}
[ -f "$corpus" ] || { echo "corpus not found: $corpus" >&2; exit 2; }

(cd "$here" && cargo build --release --quiet)
wikic=$rel/wikic
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
timer=$rel/examples/timeit
# median of N timings of a command
timeit() {
	n=$1; shift
	"$timer" "$n" --before sync -- "$@"
}
# A page in the middle of the link graph, changed in a way that does not
# change its links.
EDITED=features.mdwn

have_ikiwiki=0
command -v ikiwiki >/dev/null 2>&1 && have_ikiwiki=1

echo "machine: $(nproc) cores; $(uname -sr)"
echo "wikic: $($wikic --version)"
# The code layout (build.rs, bench/hot-symbols.sh): a list made with
# another toolchain or other dependencies names functions wikic no longer
# has, and refreshes lose some of their speed.
if command -v nm >/dev/null 2>&1; then
	listed=$(wc -l <"$here/bench/hot-symbols.txt")
	found=$(nm "$wikic" | awk 'NR == FNR { want[$0] = 1; next } ($NF in want) && !seen[$NF]++ { n++ } END { print n + 0 }' "$here/bench/hot-symbols.txt" -)
	echo "code layout: $found of the $listed functions in bench/hot-symbols.txt are in wikic"
fi
[ $have_ikiwiki = 1 ] && echo "ikiwiki: $(ikiwiki --version)"

# Warm-up builds (also fill destdirs and ikiwiki's index).
[ $have_ikiwiki = 1 ] && ikiwiki --setup "$work/ikiwiki.yaml" >/dev/null 2>&1
"$wikic" --setup "$work/wikic.yaml" >/dev/null 2>&1

w_full=$(timeit "$runs" "$wikic" --setup "$work/wikic.yaml" --rebuild)
w_fresh=$("$timer" "$runs" --before "rm -rf '$work/html-wikic'; sync" -- "$wikic" --setup "$work/wikic.yaml")
if [ $have_ikiwiki = 1 ]; then
	i_full=$(timeit "$runs" ikiwiki --setup "$work/ikiwiki.yaml" --rebuild)
	i_fresh=$("$timer" 1 --before "rm -rf '$work/html-ikiwiki'; sync" -- ikiwiki --setup "$work/ikiwiki.yaml" --rebuild)
	ikiwiki --setup "$work/ikiwiki.yaml" --refresh >/dev/null 2>&1
fi
"$wikic" --setup "$work/wikic.yaml" --refresh >/dev/null 2>&1

# Refreshes take milliseconds, and a shared machine's speed drifts from
# one second to the next: the two programs' runs alternate, one of each
# in turn, so that both medians come from the same stretch of time.
rruns=$((runs * 5))
median() { sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
# refreshes edit|none: prints "IKIWIKI-MEDIAN WIKIC-MEDIAN" (only the
# latter without ikiwiki)
refreshes() {
	: > "$work/t-ikiwiki"
	: > "$work/t-wikic"
	n=0
	while [ $n -lt $rruns ]; do
		for tool in ikiwiki wikic; do
			if [ $tool = ikiwiki ]; then
				[ $have_ikiwiki = 1 ] || continue
				src=$work/doc
				cmd="ikiwiki"
			else
				src=$work/doc-wikic
				cmd="$wikic"
			fi
			before=sync
			[ "$1" = edit ] && before="echo edited for the benchmark, run $n >> '$src/$EDITED'; sync"
			"$timer" 1 --before "$before" -- "$cmd" --setup "$work/$tool.yaml" --refresh >> "$work/t-$tool"
		done
		n=$((n + 1))
	done
	[ $have_ikiwiki = 1 ] && printf '%s ' "$(median < "$work/t-ikiwiki")"
	median < "$work/t-wikic"
}
if [ $have_ikiwiki = 1 ]; then
	read -r i_edit w_edit <<EOF
$(refreshes edit)
EOF
	read -r i_none w_none <<EOF
$(refreshes none)
EOF
	printf "%-22s %10s %10s %8s\n" "figure" "ikiwiki" "wikic" "ratio"
	row() { printf "%-22s %9.4fs %9.4fs %7.1fx\n" "$1" "$2" "$3" "$(echo "$2 / $3" | bc -l)"; }
	row "full build" "$i_full" "$w_full"
	row "fresh destdir" "$i_fresh" "$w_fresh"
	row "refresh, one edit" "$i_edit" "$w_edit"
	row "refresh, no change" "$i_none" "$w_none"
else
	w_edit=$(refreshes edit)
	w_none=$(refreshes none)
	printf "%-22s %10s %9.3fs\n" "full build" "-" "$w_full"
	printf "%-22s %10s %9.3fs\n" "fresh destdir" "-" "$w_fresh"
	printf "%-22s %10s %9.3fs\n" "refresh, one edit" "-" "$w_edit"
	printf "%-22s %10s %9.3fs\n" "refresh, no change" "-" "$w_none"
fi
