#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Description: the socket-semantics suite (tests/tsor/sockcheck.c) run twice,
# on plain kernel TCP and under `tsor run --`; the two outputs must be
# identical, and tsor's counters must show that the connections really went
# through shared memory, not a silent fallback to the kernel.
#
# Why both: sockcheck prints one normalised line per case (no addresses,
# ports, pids or timings), so any difference between the runs is a semantic
# difference of libtsor.so from the kernel. Passing the diff alone proves
# nothing if every connection fell back to kernel TCP, hence the counters.
#
#   test_sockcheck.sh PATH/TO/tsor PATH/TO/sockcheck
#
# Exits 77 (skip) with the reason when the tsor binary does not exist yet.
# Counters: `tsor stats` prints `name value` lines; the deltas around the
# TSoR run of
#   tsor_connections_accelerated  must be >= TSOR_MIN_ACCELERATED (default
#                                 200: many-conns alone makes 200)
#   tsor_connections_fallback     must be <= TSOR_MAX_FALLBACK (default 8:
#                                 the refused cases connect four times to a
#                                 port with no listener, which may be handed
#                                 to the kernel to refuse; connect-nonblock
#                                 and -v6 poll for POLLOUT before their
#                                 server accepts, and an unconfirmed
#                                 non-blocking connector is not writable
#                                 until tsord's match or the confirm
#                                 deadline, so each falls back: its CANCEL
#                                 and the server's unmatched ASK, 2 each)
# Unless TSOR_SOCK is set, the run gets a tsord of its own (TSOR_SOCK in its
# temporary directory, started on demand by `tsor run`, `tsor stop`ped at
# exit), so other users of a shared tsord cannot inflate the deltas. A
# `tsor stats` that fails before the run (no daemon yet) counts as all
# zeros; one that fails after it is an error.
# An ASan-built sockcheck needs ASAN_OPTIONS=verify_asan_link_order=0 under
# LD_PRELOAD; the TSoR run sets it.
set -euo pipefail

tsor=${1:?usage: $0 PATH/TO/tsor PATH/TO/sockcheck}
sockcheck=${2:?usage: $0 PATH/TO/tsor PATH/TO/sockcheck}
min_accel=${TSOR_MIN_ACCELERATED:-200}
max_fallback=${TSOR_MAX_FALLBACK:-8}

fail() {
	echo "FAIL: $*" >&2
	if [ -s "${work:-}/tsord.log" ]; then
		echo "--- tail of tsord.log:" >&2
		tail -n 20 "$work/tsord.log" >&2
	fi
	exit 1
}

if [ ! -x "$tsor" ]; then
	echo "SKIP: no tsor binary at '$tsor' (libtsor/tsor not built yet)" >&2
	exit 77
fi
[ -x "$sockcheck" ] || fail "no sockcheck binary at '$sockcheck'"
tsor=$(readlink -f "$tsor")
sockcheck=$(readlink -f "$sockcheck")

work=$(mktemp -d)
own_daemon=false
cleanup() {
	if $own_daemon; then
		"$tsor" stop >/dev/null 2>&1 || :
	fi
	rm -rf "$work"
}
trap cleanup EXIT
if [ -z "${TSOR_SOCK:-}" ]; then
	export TSOR_SOCK="$work/tsor.sock"
	own_daemon=true
fi

# stat_value FILE NAME: the value of counter NAME in a `tsor stats` dump (0 if absent).
stat_value() {
	awk -v n="$2" '$1 == n { v = $2 } END { print (v == "" ? 0 : v) }' "$1"
}

# 1. The oracle: the kernel. Every case must pass here.
rc=0
timeout 300 "$sockcheck" >"$work/native.out" 2>"$work/native.err" || rc=$?
if [ "$rc" -ne 0 ]; then
	cat "$work/native.out" "$work/native.err" >&2
	fail "sockcheck failed on kernel TCP (exit $rc): fix the suite or the machine first"
fi
echo "native: $(grep -c ': ok$' "$work/native.out") ok, $(grep -c ': SKIP' "$work/native.out" || true) skipped"

# 2. The same binary under TSoR, counters read around it.
"$tsor" stats >"$work/before.stats" 2>"$work/before.err" || : >"$work/before.stats"
rc=0
# A connector waits TSOR_CONFIRM_MS (default 200) for its acceptor, then
# falls back; on a loaded 2-CPU runner an acceptor can take longer than that
# to accept, which is correct behaviour but not what is counted here.
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" \
	TSOR_CONFIRM_MS=${TSOR_CONFIRM_MS:-5000} \
	timeout 300 "$tsor" run -- "$sockcheck" >"$work/tsor.out" 2>"$work/tsor.err" || rc=$?
"$tsor" stats >"$work/after.stats" 2>"$work/after.err" ||
	fail "'tsor stats' failed after the run: $(cat "$work/after.err")"

# 3. Identical lines, identical verdict.
if ! diff -u --label native --label tsor "$work/native.out" "$work/tsor.out" >"$work/diff"; then
	cat "$work/diff" >&2
	[ -s "$work/tsor.err" ] && { echo "--- stderr under tsor:" >&2; tail -n 20 "$work/tsor.err" >&2; }
	fail "sockcheck under tsor differs from kernel TCP"
fi
[ "$rc" -eq 0 ] || fail "sockcheck under tsor exited $rc with the same output (stderr: $(tail -n 5 "$work/tsor.err"))"

# 4. Proof that the connections were accelerated.
accel=$(($(stat_value "$work/after.stats" tsor_connections_accelerated) - $(stat_value "$work/before.stats" tsor_connections_accelerated)))
fallback=$(($(stat_value "$work/after.stats" tsor_connections_fallback) - $(stat_value "$work/before.stats" tsor_connections_fallback)))
echo "tsor: identical output; connections accelerated +$accel, fallback +$fallback"
[ "$accel" -ge "$min_accel" ] ||
	fail "only $accel connections accelerated during the run (expected >= $min_accel): a silent fallback?"
[ "$fallback" -le "$max_fallback" ] ||
	fail "$fallback connections fell back to kernel TCP during the run (allowed: $max_fallback)"
echo "ok - sockcheck: kernel TCP and TSoR agree on every case"
