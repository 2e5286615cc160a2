#!/bin/sh
# Times reading page times from git history: a repository of FILES pages
# and COMMITS commits (made with git fast-import), built with `rcs: git`.
# Prints the "history times" stage of a build with no cache (one walk of
# the whole history), with the cache and one new commit, and the whole
# build for comparison.
#
# Usage: bench/history.sh [FILES] [COMMITS]   (defaults 2420 and 5000)
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
# Release artifacts are built per target (.cargo/config.toml).
rel=$here/target/$(rustc -vV | sed -n 's/^host: //p')/release
files=${1:-2420}
commits=${2:-5000}
(cd "$here" && cargo build --release --quiet)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/repo"
cd "$work/repo"
git init -q -b master
printf '/.wikic/\n' > .gitignore
awk -v files="$files" -v commits="$commits" 'BEGIN {
	srand(42); t = 1200000000
	for (c = 1; c <= commits; c++) {
		t += 3600
		printf "commit refs/heads/master\n"
		printf "author A <a@example.org> %d +0000\ncommitter A <a@example.org> %d +0000\n", t, t
		msg = "edit " c
		printf "data %d\n%s\n", length(msg), msg
		if (c == 1) {
			for (f = 0; f < files; f++) {
				body = "Page " f "\n"
				printf "M 644 inline p/%d/page%d.mdwn\ndata %d\n%s\n", f % 50, f, length(body), body
			}
		} else {
			n = 1 + int(rand() * 3)
			for (k = 0; k < n; k++) {
				f = int(rand() * files)
				body = "Page " f " edit " c "\n"
				printf "M 644 inline p/%d/page%d.mdwn\ndata %d\n%s\n", f % 50, f, length(body), body
			}
		}
		printf "\n"
	}
}' | git fast-import --quiet
git checkout -q master
cat > "$work/setup.yaml" <<YAML
wikiname: history
srcdir: $work/repo
destdir: $work/html
url: http://example.org/
underlaydir: ''
rcs: git
YAML
stage() { grep -E "history times|total" | sed 's/^ *INFO //' | tr '\n' ' '; echo; }
echo "$files pages, $commits commits"
printf 'no cache (whole history):   '; "$rel/wikic" --setup "$work/setup.yaml" -v 2>&1 | stage
git commit -q --allow-empty -m again
echo "x" >> p/1/page1.mdwn && git commit -qam "one more"
printf 'cache + one new commit:     '; "$rel/wikic" --setup "$work/setup.yaml" --refresh -v 2>&1 | stage
printf 'cache, rebuild:             '; "$rel/wikic" --setup "$work/setup.yaml" --rebuild -v 2>&1 | stage
