#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The ring benchmark: builds the release preset and runs bench_ring (lib/ring
# vs pipe, Unix socket pair and loopback TCP, two processes), writing the
# table to stdout and to bench/results/ring-<time>.txt. About a minute.
#
#   bench/ring/run.sh [--runs N] [--quick]
#
# Environment: BENCH_BIN, an already built bench_ring to run instead of
# building the release preset. Run it on an otherwise idle machine: the two
# peers are pinned to CPUs 0 and 1 and anything else running there skews it.
set -euo pipefail
cd "$(dirname "$0")/../.."

if [ -z "${BENCH_BIN:-}" ]; then
	cmake --preset release >/dev/null
	cmake --build --preset release --target bench_ring >/dev/null
	BENCH_BIN=build/release/bench/ring/bench_ring
fi

mkdir -p bench/results
out=bench/results/ring-$(date +%Y%m%d-%H%M%S).txt
{
	echo "# bench/ring/run.sh $*  ($(date -u +%Y-%m-%dT%H:%M:%SZ), $(git rev-parse --short HEAD 2>/dev/null || echo '?'))"
	"$BENCH_BIN" "$@"
} | tee "$out"
echo "saved: $out" >&2
