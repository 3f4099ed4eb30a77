#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The suite's main job on an embedded default (run by `make demo`):
# summarise a realistic graph stream with GSS, query it, and measure its
# accuracy against exact answers and against the TCM baseline.
#
#   scripts/demo.sh [BUILD_DIR]     (default build/release)
set -euo pipefail

build=${1:-build/release}
gss=$(readlink -f "$build/gss/gss")
[ -x "$gss" ] || { echo "demo: $gss not built; run 'make demo'" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*" | sed "s|$gss|gss|g; s|$work/||g"; "$@"; }

say "1. A stream: 1.1 M replies among 63 k Linux-kernel mailing-list users (lkml preset)"
run "$gss" gen --preset lkml -q -o "$work/lkml.txt"
head -n 3 "$work/lkml.txt"
echo "... $(wc -l <"$work/lkml.txt") lines 'src dst weight timestamp'"

say "2. Summarise it in a sketch sized for 243 k edges"
run "$gss" ingest --edges 243k --nodes 63k -o "$work/lkml.gss" "$work/lkml.txt"
run "$gss" stats "$work/lkml.gss"

say "3. Ask it questions (answers may over-estimate, never miss)"
busiest=$(awk '{n[$1]++} END {for (v in n) if (n[v] > best) {best = n[v]; id = v}; print id}' "$work/lkml.txt")
peer=$(awk -v s="$busiest" '$1 == s {print $2; exit}' "$work/lkml.txt")
run "$gss" query "$work/lkml.gss" out "$busiest"
echo "  (exact: $(awk -v s="$busiest" '$1 == s {t += $3} END {print t}' "$work/lkml.txt"))"
run "$gss" query "$work/lkml.gss" outdeg "$busiest"
run "$gss" query "$work/lkml.gss" edge "$busiest" "$peer"
run "$gss" query "$work/lkml.gss" top-out "$busiest" 5
echo "  (a code that stands for two IDs lists both: that is the sketch's collision error)"
run "$gss" query "$work/lkml.gss" reach "$peer" "$busiest"

say "4. Accuracy against the exact graph, next to TCM with 8x the memory (the paper's comparison)"
run "$gss" eval --edges 243k --nodes 63k --tcm --reps 1 "$work/lkml.txt"
cat <<'TXT'

Reading the table: ARE is the average relative error of edge and node
weights (0 = exact); prec is 1-hop precision (1 = no extra neighbours);
reach TN is the share of unreachable pairs recognised as such; viol counts
under-estimates and missed neighbours, which must be 0.
TXT

if [ "$(id -u)" -eq 0 ]; then
	"$(dirname "$0")/demo-laconic.sh" "$build"
else
	say "5. Laconic demo skipped: it needs root for its network namespaces (sudo make demo)"
fi
