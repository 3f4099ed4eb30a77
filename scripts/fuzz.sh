#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Builds the libFuzzer targets (fuzz preset, clang) and runs each for the
# given number of seconds on a scratch copy of its committed corpus, so a
# smoke run never rewrites tests/fuzz/corpus/. A crash fails the script and
# leaves the reproducer in build/fuzz/crashes/<target>/: add it to the corpus
# once fixed, so ctest replays it forever.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."

secs=${1:-20}
shift || true
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz >/dev/null

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
	mapfile -t targets < <(find build/fuzz/tests/fuzz -maxdepth 1 -type f -name 'fuzz_*' -perm -u+x -printf '%f\n' | sort)
fi
for t in "${targets[@]}"; do
	corpus=tests/fuzz/corpus/${t#fuzz_}
	work=build/fuzz/work/$t
	crashes=build/fuzz/crashes/$t
	rm -rf "$work"
	mkdir -p "$work" "$crashes"
	[ -d "$corpus" ] && cp -r "$corpus"/. "$work"/
	echo "fuzz: $t for ${secs}s"
	ASAN_OPTIONS=detect_leaks=1 build/fuzz/tests/fuzz/"$t" -max_total_time="$secs" \
		-artifact_prefix="$crashes"/ -print_final_stats=0 "$work" 2>&1 | tail -n 2
done
