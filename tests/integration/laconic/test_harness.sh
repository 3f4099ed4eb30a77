#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Description: self-test of tests/integration/laconic/lib.sh, the namespace
# test bed every laconic integration test and the benchmark stand on.
#
# Why: if the harness is wrong (the client can bypass the LB, a backend
# answers for another, an upload is corrupted, or a run leaks namespaces and
# processes into the next one), every LB test built on it is wrong too.
#
# Runs two child phases and checks each from the outside afterwards:
#   checks   topology up; 3 nginx backends reachable from lb with the right
#            bodies and X-Backend; the client reaches lb but no backend; the
#            echo backend's sha256 of a 3 MiB upload (Content-Length and
#            chunked), /headers, /slow, /close, keep-alive; cgroup CPU
#            accounting; lc_netem loss (skipped where it cannot work). It
#            exits normally, so the EXIT trap cleans up.
#   sigterm  builds a bed and waits; the parent sends SIGTERM: the signal
#            trap must clean up and the child exit 143.
#   sanitizer  a spawned process writes a sanitizer report and runs on;
#            the child's script ends with 0, and the run must fail (1).
#   exitreport  a spawned process that, like laconic, drains on a first
#            SIGTERM and exits on a second, writing a leak report as it
#            goes: cleanup must reach that exit, and the run fail (1).
# After each: no namespace, process, cgroup or temp dir of the run is left.
#
#   tests/integration/laconic/test_harness.sh      (root; exits 77 otherwise)
# shellcheck source-path=SCRIPTDIR
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)

if [ "${1:-}" = --phase ]; then
	phase=$2 state=$3
	# shellcheck source=lib.sh
	. "$here/lib.sh"
	n=0
	ok() {
		n=$((n + 1))
		echo "ok $n - $*"
	}
	fail() {
		echo "not ok - $*" >&2
		exit 1
	}
	save_state() { lc_state >"$state.tmp" && mv "$state.tmp" "$state"; }

	lc_topology 3
	b=("${LC_BACKEND_IPS[@]}")
	if [ "$phase" = sanitizer ]; then
		# A process that reports to a sanitizer and carries on: the run
		# must fail although the script itself ends well.
		lc_spawn --log "$LC_LOGDIR/racy.log" client \
			sh -c 'echo "WARNING: ThreadSanitizer: data race (pid=1)"; exec sleep 60'
		sleep 0.3
		exit 0
	fi
	if [ "$phase" = exitreport ]; then
		lc_spawn --log "$LC_LOGDIR/leaky.log" client sh -c 'n=0
			trap "n=\$((n + 1)); [ \$n -lt 2 ] || { echo \"ERROR: LeakSanitizer: detected memory leaks\"; exit 1; }" TERM
			while :; do sleep 0.1; done'
		sleep 0.3
		exit 0
	fi
	if [ "$phase" = sigterm ]; then
		lc_nginx_backend s1 "${b[0]}" 80
		lc_echo_backend e1 "${b[1]}" 8080
		lc_spawn client sleep 60
		sleeper=$LC_LAST_PID
		save_state
		echo ready >>"$state"
		wait "$sleeper" # the TERM trap runs here
		exit 0
	fi
	[ "$phase" = checks ] || fail "unknown phase $phase"
	ok "topology up ($LC_OFFLOADS_SUMMARY)"

	for i in 1 2 3; do
		lc_nginx_backend "b$i" "${b[$((i - 1))]}" 80
	done
	lc_echo_backend echo1 "${b[0]}" 8080
	save_state

	for i in 1 2 3; do
		ip=${b[$((i - 1))]}
		lc_in lb curl -fsS -m 10 -D "$LC_TMP/h" -o "$LC_TMP/body" "http://$ip/" || fail "lb cannot reach b$i at $ip"
		[ "$(cat "$LC_TMP/body")" = "b$i" ] || fail "b$i at $ip answered '$(cat "$LC_TMP/body")'"
		grep -qi "^X-Backend: b$i"$'\r'"\$" "$LC_TMP/h" || fail "b$i: no 'X-Backend: b$i' header"
		[ "$(lc_in lb curl -fsS -m 10 "http://$ip/health")" = ok ] || fail "b$i /health"
	done
	ok "3 nginx backends answer from lb with their own name and X-Backend"

	ip=${b[2]}
	[ "$(lc_in lb curl -fsS -m 10 "http://$ip/small")" = "Hello, world!" ] || fail "/small body"
	[ "$(lc_in lb curl -fsS -m 10 "http://$ip/small" | wc -c)" -eq 13 ] || fail "/small is not 13 bytes"
	[ "$(lc_in lb curl -fsS -m 10 "http://$ip/1k" | wc -c)" -eq 1024 ] || fail "/1k is not 1024 bytes"
	sum=$(lc_in lb curl -fsS -m 10 "http://$ip/1m" | sha256sum | cut -d' ' -f1)
	[ "$sum" = "$LC_SHA256_1M" ] || fail "/1m checksum"
	sum=$(lc_in lb curl -fsS -m 20 "http://${b[0]}/rand10m" | sha256sum | cut -d' ' -f1)
	[ "$sum" = "$LC_RAND10M_SHA256" ] || fail "/rand10m checksum $sum != $LC_RAND10M_SHA256"
	ok "static routes: /small 13 B, /1k, /1m and /rand10m checksums"

	for ip in "${b[@]}"; do
		rc=0
		lc_in client curl -sS -m 3 -o /dev/null "http://$ip/" 2>/dev/null || rc=$?
		[ "$rc" -ne 0 ] || fail "the client reached backend $ip directly"
	done
	if lc_in client ip route get "${b[0]}" >/dev/null 2>&1; then
		fail "the client has a route to ${b[0]}"
	fi
	lc_spawn lb python3 "$LC_LIB_DIR/echo_server.py" --name lbecho --bind "$LC_LB_IP" --port 8080
	lc_wait_http lb "http://$LC_LB_IP:8080/health" 10 "$LC_LAST_PID" || fail "stand-in server in lb"
	[ "$(lc_in client curl -fsS -m 10 "http://$LC_LB_IP:8080/")" = lbecho ] || fail "client cannot reach lb"
	save_state
	ok "client reaches $LC_LB_IP but no backend address"

	head -c $((3 * 1024 * 1024)) /dev/urandom >"$LC_TMP/up"
	want="$(sha256sum "$LC_TMP/up" | cut -d' ' -f1) $((3 * 1024 * 1024))"
	got=$(lc_in lb curl -fsS -m 20 --data-binary "@$LC_TMP/up" "http://${b[0]}:8080/upload")
	[ "$got" = "$want" ] || fail "echo upload (Content-Length): got '$got', want '$want'"
	got=$(lc_in lb curl -fsS -m 20 -H 'Transfer-Encoding: chunked' -T "$LC_TMP/up" "http://${b[0]}:8080/upload")
	[ "$got" = "$want" ] || fail "echo upload (chunked PUT): got '$got', want '$want'"
	got=$(lc_in client curl -fsS -m 20 --data-binary "@$LC_TMP/up" "http://$LC_LB_IP:8080/upload")
	[ "$got" = "$want" ] || fail "echo upload client->lb: got '$got'"
	ok "echo backend: sha256 and length of a 3 MiB upload, Content-Length and chunked"

	hdrs=$(lc_in lb curl -fsS -m 10 -H 'X-Forwarded-For: 192.0.2.7' "http://${b[0]}:8080/headers")
	grep -q '^X-Forwarded-For: 192.0.2.7$' <<<"$hdrs" || fail "/headers did not echo X-Forwarded-For: $hdrs"
	grep -q '^GET /headers HTTP/1.1$' <<<"$hdrs" || fail "/headers did not echo the request line"
	t0=$(date +%s%N)
	[ "$(lc_in lb curl -fsS -m 10 "http://${b[0]}:8080/slow?ms=300")" = "slept 300 ms" ] || fail "/slow body"
	ms=$((($(date +%s%N) - t0) / 1000000))
	[ "$ms" -ge 300 ] || fail "/slow?ms=300 answered after $ms ms"
	lc_in lb curl -fsS -m 10 -D "$LC_TMP/h" -o /dev/null "http://${b[0]}:8080/close"
	grep -qi '^Connection: close' "$LC_TMP/h" || fail "/close did not send Connection: close"
	v=$(lc_in lb curl -sv -m 10 -o /dev/null -o /dev/null "http://${b[0]}:8080/" "http://${b[0]}:8080/health" 2>&1)
	grep -qi 're-using existing connection' <<<"$v" || fail "echo backend did not keep the connection alive"
	ok "echo backend: /headers, /slow ($ms ms), /close, keep-alive"

	if lc_cgroup_new harness; then
		lc_spawn --cgroup "$LC_LAST_CGROUP" lb python3 -c 'import time
t = time.process_time()
while time.process_time() - t < 0.3: pass'
		pid=$LC_LAST_PID
		save_state
		lc_wait "$pid" || fail "the busy loop in cgroup $LC_LAST_CGROUP failed"
		us=$(lc_cgroup_usec "$LC_LAST_CGROUP")
		[ "$us" -ge 250000 ] || fail "cgroup $LC_LAST_CGROUP counted only $us µs for a 0.3 s busy loop"
		ok "cgroup CPU accounting ($LC_LAST_CGROUP: $us µs for a 0.3 s loop)"
	else
		echo "ok - # SKIP no usable cgroup hierarchy"
	fi

	if lc_have_netem loss; then
		# 5% of skbs, not of wire packets: with TSO a 3 MiB upload is only ~50
		# skbs, so upload until something was dropped (P(no drop in 3) < 1e-3).
		lc_netem client "loss 5%"
		drops=0
		for _ in 1 2 3; do
			got=$(lc_in client curl -fsS -m 60 --data-binary "@$LC_TMP/up" "http://$LC_LB_IP:8080/upload")
			[ "$got" = "$want" ] || fail "3 MiB upload under 5% loss: got '$got'"
			[ "$LC__NETEM" = nft ] || break
			# The nft fallback drops at the far end: lb's ingress from the client.
			drops=$(lc_in lb nft list table netdev "lc_netem_$LC_IF_LB_CLIENT" | sed -n 's/.*counter packets \([0-9]*\).*/\1/p')
			[ "${drops:-0}" -eq 0 ] || break
		done
		lc_netem client off
		[ "$LC__NETEM" != nft ] || [ "${drops:-0}" -gt 0 ] || fail "lc_netem 'loss 5%' dropped nothing in 3 uploads"
		ok "lc_netem client 'loss 5%' (via $LC__NETEM; $drops skbs dropped): uploads intact"
	else
		echo "ok - # SKIP lc_netem: no sch_netem in this kernel and no nft"
	fi
	save_state
	echo "harness checks: $n passed"
	exit 0
fi

# ---- parent ----------------------------------------------------------------
# shellcheck source=lib.sh
. "$here/lib.sh" # only for lc_need_root / lc_need_cmd; it builds nothing here
lc_need_root
lc_need_cmd nginx curl python3 ethtool sha256sum

failures=0
# verify_clean STATE: nothing that the phase recorded is left behind.
verify_clean() {
	local state=$1 tag tmp netns pids cgroups p ns cg bad=0
	tag=$(sed -n 's/^tag=//p' "$state")
	tmp=$(sed -n 's/^tmp=//p' "$state")
	netns=$(sed -n 's/^netns=//p' "$state")
	pids=$(sed -n 's/^pids=//p' "$state")
	cgroups=$(sed -n 's/^cgroups=//p' "$state")
	if [ -z "$tag" ] || [ -z "$netns" ] || [ -z "$pids" ]; then
		echo "not ok - state file $state is incomplete" >&2
		return 1
	fi
	for ns in $netns; do
		if ip netns list | lc_has -w -- "$ns"; then
			echo "not ok - namespace $ns left behind" >&2
			bad=1
		fi
	done
	for p in $pids; do
		if [ -d "/proc/$p" ] && tr '\0' ' ' <"/proc/$p/cmdline" | lc_has -E -- "$tag|$tmp|echo_server|sleep 60"; then
			echo "not ok - process $p left behind: $(tr '\0' ' ' <"/proc/$p/cmdline")" >&2
			bad=1
		fi
	done
	if pgrep -af -- "$tmp" >&2; then
		echo "not ok - processes naming $tmp left behind" >&2
		bad=1
	fi
	for cg in $cgroups; do
		if [ -d "$cg" ]; then
			echo "not ok - cgroup $cg left behind" >&2
			bad=1
		fi
	done
	if [ -e "$tmp" ]; then
		echo "not ok - temp dir $tmp left behind" >&2
		bad=1
	fi
	if ip -o link show | lc_has -- "$tag"; then
		echo "not ok - an interface named $tag* is left in the root namespace" >&2
		bad=1
	fi
	return "$bad"
}

st1=$LC_TMP/checks.state
st2=$LC_TMP/sigterm.state

echo "# phase checks"
if bash "$here/test_harness.sh" --phase checks "$st1"; then
	if verify_clean "$st1"; then
		echo "ok - checks phase left nothing behind"
	else
		failures=$((failures + 1))
	fi
else
	echo "not ok - checks phase failed" >&2
	failures=$((failures + 1))
	[ -f "$st1" ] && { verify_clean "$st1" || true; }
fi

echo "# phase sigterm"
bash "$here/test_harness.sh" --phase sigterm "$st2" &
child=$!
for _ in $(seq 200); do
	grep -q '^ready$' "$st2" 2>/dev/null && break
	lc_alive "$child" || break
	sleep 0.1
done
if ! grep -q '^ready$' "$st2" 2>/dev/null; then
	echo "not ok - sigterm phase never got ready" >&2
	kill -TERM "$child" 2>/dev/null || true
	wait "$child" || true
	exit 1
fi
kill -TERM "$child"
rc=0
wait "$child" || rc=$?
if [ "$rc" -ne 143 ]; then
	echo "not ok - after SIGTERM the child exited $rc, expected 143" >&2
	failures=$((failures + 1))
fi
if verify_clean "$st2"; then
	echo "ok - SIGTERM cleanup left nothing behind"
else
	failures=$((failures + 1))
fi

echo "# phase sanitizer"
rc=0
LC_DUMP_LOGS=0 bash "$here/test_harness.sh" --phase sanitizer "$LC_TMP/san.state" 2>"$LC_TMP/san.err" || rc=$?
if [ "$rc" -eq 1 ] && grep -q 'sanitizer report' "$LC_TMP/san.err"; then
	echo "ok - a sanitizer report in a process's log fails the run"
else
	echo "not ok - a sanitizer report went unseen (exit $rc): $(cat "$LC_TMP/san.err")" >&2
	failures=$((failures + 1))
fi

echo "# phase exitreport"
rc=0
LC_DUMP_LOGS=0 bash "$here/test_harness.sh" --phase exitreport "$LC_TMP/exit.state" 2>"$LC_TMP/exit.err" || rc=$?
if [ "$rc" -eq 1 ] && grep -q 'LeakSanitizer' "$LC_TMP/exit.err"; then
	echo "ok - a report written on the second SIGTERM fails the run"
else
	echo "not ok - a report at a draining process's exit went unseen (exit $rc): $(cat "$LC_TMP/exit.err")" >&2
	failures=$((failures + 1))
fi

if [ "$failures" -ne 0 ]; then
	echo "harness: $failures failure(s)" >&2
	exit 1
fi
echo "harness: all checks passed"
