#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The GSS benchmark: builds the release preset, runs bench_gss on the gen
# presets and, when it can be found, the real lkml-reply data, and writes the
# tables to stdout and to bench/results/gss-<time>.txt (+ .json).
#
#   bench/gss/run.sh [--quick] [--datasets email,lkml,...] [--no-big] [--no-plain] [--reps N]
#
# The full run takes several minutes and about 4 GB of memory (the skew preset
# has 30 M records); --quick runs email, lkml and lkml-real in well under a
# minute. Environment:
#   GSS_LKML_DIR  directory with edges-weighted.txt, nodes.txt and
#                 unreachable-pairs.txt (default: shared/data/lkml beside the
#                 repository, then /work/shared/data/lkml)
#   BENCH_BIN     an already built bench_gss to run instead of building the
#                 release preset
set -euo pipefail
cd "$(dirname "$0")/../.."

if [ -z "${BENCH_BIN:-}" ]; then
	cmake --preset release >/dev/null
	cmake --build --preset release >/dev/null
	BENCH_BIN=build/release/bench/gss/bench_gss
fi

lkml=${GSS_LKML_DIR:-}
if [ -z "$lkml" ]; then
	for d in ../shared/data/lkml /work/shared/data/lkml; do
		if [ -r "$d/edges-weighted.txt" ]; then
			lkml=$d
			break
		fi
	done
fi
lkml_args=()
[ -n "$lkml" ] && lkml_args=(--lkml "$lkml")

mkdir -p bench/results
out=bench/results/gss-$(date +%Y%m%d-%H%M%S)
{
	echo "# $(date -u '+%Y-%m-%d %H:%M:%S UTC'), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
	lscpu | sed -n 's/^\(Model name\|CPU(s)\|Thread(s) per core\|L2 cache\|L3 cache\):[[:space:]]*/# lscpu \1: /p'
	"$BENCH_BIN" "${lkml_args[@]}" --json "$out.json" "$@"
} | tee "$out.txt"
echo "results: $out.txt $out.json" >&2
