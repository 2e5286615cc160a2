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
#   full build   `--setup` (ikiwiki: --rebuild) after a warm-up build
#   fresh build  the same into an empty destdir
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

now() { date +%s.%N; }
# median of N timings of a command
timeit() {
	n=$1; shift
	for i in $(seq "$n"); do
		s=$(now); "$@" >/dev/null 2>&1; e=$(now)
		echo "$e - $s" | bc
	done | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'
}

have_ikiwiki=0
command -v ikiwiki >/dev/null 2>&1 && have_ikiwiki=1

echo "machine: $(nproc) cores; $(uname -sr)"
echo "wikic: $($wikic --version)"
[ $have_ikiwiki = 1 ] && echo "ikiwiki: $(ikiwiki --version)"

# Warm-up builds (also fill destdirs and ikiwiki's index).
[ $have_ikiwiki = 1 ] && ikiwiki --setup "$work/ikiwiki.yaml" >/dev/null 2>&1
"$wikic" --setup "$work/wikic.yaml" >/dev/null 2>&1

w_full=$(timeit "$runs" "$wikic" --setup "$work/wikic.yaml" --rebuild)
w_fresh=$(timeit "$runs" sh -c "rm -rf '$work/html-wikic' && '$wikic' --setup '$work/wikic.yaml'")
printf "%-22s %10s %10s %8s\n" "figure" "ikiwiki" "wikic" "ratio"
if [ $have_ikiwiki = 1 ]; then
	i_full=$(timeit "$runs" ikiwiki --setup "$work/ikiwiki.yaml" --rebuild)
	i_fresh=$(timeit 1 sh -c "rm -rf '$work/html-ikiwiki' && ikiwiki --setup '$work/ikiwiki.yaml' --rebuild")
	printf "%-22s %9.3fs %9.3fs %7.1fx\n" "full build" "$i_full" "$w_full" "$(echo "$i_full / $w_full" | bc -l)"
	printf "%-22s %9.3fs %9.3fs %7.1fx\n" "fresh destdir" "$i_fresh" "$w_fresh" "$(echo "$i_fresh / $w_fresh" | bc -l)"
else
	printf "%-22s %10s %9.3fs\n" "full build" "-" "$w_full"
	printf "%-22s %10s %9.3fs\n" "fresh destdir" "-" "$w_fresh"
fi
