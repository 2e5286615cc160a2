#!/bin/sh
# Writes bench/hot-symbols.txt: the functions a refresh runs, in the order
# they first run. build.rs hands the list to the linker (lld's
# --symbol-ordering-file), which places those functions together at the
# start of the code. A refresh then touches a few hundred kilobytes of code
# instead of pieces of most of its 8 MiB: each 64 KiB of code touched costs
# a page fault at start and mappings to tear down at exit, and a refresh
# lasts milliseconds (docs/benchmarks.mdwn has the measurements).
#
# Usage: bench/hot-symbols.sh
#
# Needs valgrind (callgrind lists every function run). The workload is the
# bundled docs wiki (setup.example.yaml): a refresh after editing a page
# and one with nothing changed, each run once under callgrind. The names
# are the compiler's mangled ones, so run this again after changing the
# toolchain or the dependencies; names no longer in the binary are skipped
# by the linker, and functions missing from the list are merely placed
# elsewhere, so a stale list costs speed, never correctness.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
rel=$here/target/$(rustc -vV | sed -n 's/^host: //p')/release
command -v valgrind >/dev/null 2>&1 || {
	echo "valgrind not found (apt-get install valgrind)" >&2
	exit 2
}
(cd "$here" && cargo build --release --quiet)
wikic=$rel/wikic
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -a "$here/docs" "$work/docs"
sed -e "s#^srcdir:.*#srcdir: $work/docs#" -e "s#^destdir:.*#destdir: $work/html#" \
	"$here/setup.example.yaml" >"$work/wiki.yaml"
"$wikic" --setup "$work/wiki.yaml" >/dev/null 2>&1

profile() { # output file
	# (valgrind cannot follow the helper that frees a run's memory,
	# src/teardown.rs.)
	WIKIC_NO_TEARDOWN_HELPER=1 valgrind --tool=callgrind --demangle=no --callgrind-out-file="$1" \
		"$wikic" --setup "$work/wiki.yaml" --refresh >/dev/null 2>&1
}
echo "edited for the symbol profile" >>"$work/docs/usage.mdwn"
profile "$work/edit.out"
profile "$work/none.out"

# Function names as callgrind first names them ("fn=(id) name"), first
# seen first; addresses without a symbol are left out.
out=$here/bench/hot-symbols.txt
cat "$work/none.out" "$work/edit.out" |
	sed -n 's/^c\{0,1\}fn=([0-9]*) \(.*\)$/\1/p' |
	grep -v '^0x' |
	awk '!seen[$0]++' >"$out"
echo "$(wc -l <"$out") functions written to $out"
