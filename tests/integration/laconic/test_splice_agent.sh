#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# splice_oneshot_agent = on: a client whose first segment is a whole GET
# head with `Connection: close` never gets a kernel socket. The TC program
# turns that segment into a SYN to a backend, the backend's SYN-ACK into
# the ACK that carries the head (with X-Forwarded-For), translates the
# rest, and deletes both entries when TCP says the connection is over.
# What curl, wrk and the backends see must not change: the checks are the
# answers, byte for byte, X-Forwarded-For at the backend, the round robin,
# keep-alive clients still served (the ordinary path), loss on both legs
# (a lost SYN goes again with the client's retransmission, a lost head
# with the backend's repeated SYN-ACK), a refusing backend (the client is
# sent the ordinary path's way, whose proxy answers), reload, and the
# configurations it refuses. Counters prove which path served what.
# It skips (77) without root or where the BPF program cannot be loaded.
# Usage: test_splice_agent.sh LACONIC_BINARY
set -euo pipefail
LACONIC=$1
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
lc_need_root
lc_need_cmd nginx curl python3 wrk

lc_topology 3
lc_bed
LB=$LC_LB_IP
lc_in lb sysctl -qw net.ipv4.tcp_timestamps=1 net.ipv4.tcp_sack=1

write_cfg() { # write_cfg BACKEND... (the pool of the one splice listener)
	{
		printf '[global]\nworkers = 2\nadmin = 127.0.0.1:9100\nsplice_oneshot_agent = on\n'
		printf 'access_log = %s\n\n' "$LC_TMP/access.log"
		printf '[listener web]\nlisten = %s:80\nmode = splice\npool = web\n\n[pool web]\n' "$LB"
		printf 'backend = %s\n' "$@"
	} >"$LC_TMP/lb.ini.new"
	mv "$LC_TMP/lb.ini.new" "$LC_TMP/lb.ini"
}
metric() { lc_metric "$@"; }
fp() { lc_metric "laconic_fastpath_total{what=\"$1\"}"; }
sha() { sha256sum | cut -d' ' -f1; }
close_get() { lc_in client curl -fsS -m "${2:-10}" -H 'Connection: close' "http://$LB/$1"; }

# 1. One-shot requests through the echo backend: the answer, and the head as
# the backend got it, X-Forwarded-For added after the request line.
write_cfg "${B[0]}:8080"
lc_spawn --log "$LC_LOGDIR/laconic.log" lb "$LACONIC" -c "$LC_TMP/lb.ini"
LPID=$LC_LAST_PID
lc_wait_splice "$LPID" "$LC_LOGDIR/laconic.log" "$LB" 80 || fail "laconic did not start in splice mode"
out=$(close_get headers)
echo "$out"
echo "$out" | lc_has -i "^X-Forwarded-For: $LC_CLIENT_IP\$" || fail "1: no X-Forwarded-For: $out"
echo "$out" | lc_has -i '^Connection: close$' || fail "1: the head lost a line: $out"
# Ours is the last X-Forwarded-For line, after any the client sent (as the
# proxy and the splice add it: a backend trusting the last one trusts ours).
out=$(lc_in client curl -fsS -m 5 -H 'Connection: close' -H 'X-Forwarded-For: 192.0.2.7' "http://$LB/headers")
[ "$(echo "$out" | grep -i '^X-Forwarded-For:' | tr -d '\r' | tr '\n' '|')" = \
	"X-Forwarded-For: 192.0.2.7|X-Forwarded-For: $LC_CLIENT_IP|" ] || fail "1: X-Forwarded-For chain: $out"
[ "$(fp oneshot_ended)" -ge 1 ] || fail "1: not served as a one-shot connection ($(fp oneshot_head) heads)"
[ "$(fp cookie_accepted)" -eq 0 ] || fail "1: a kernel socket was made for a one-shot request"
# Accounted for as a proxied request would be (worker 0 takes the reaper's
# records within 100 ms; the log and graph are flushed each second): a log
# line with the path, status, bytes (head and answer) and backend.
# Byte counts are exact: the head as curl sent it, and the answer's header
# and body as curl read them.
read -r rq rh rb < <(lc_in client curl -fsS -m 5 -o /dev/null -H 'Connection: close' \
	-w '%{size_request} %{size_header} %{size_download}\n' "http://$LB/headers?n=1")
for _ in $(seq 50); do
	! lc_has -F '/headers?n=1' "$LC_TMP/access.log" 2>/dev/null || break
	sleep 0.1
done
echo "curl: request $rq, answer $rh + $rb bytes; log: $(grep -F '/headers?n=1' "$LC_TMP/access.log" || true)"
awk -v b="${B[0]}:8080" -v rq="$rq" -v rs="$((rh + rb))" -v c="$LC_CLIENT_IP" \
	'$2 == c && $3 == "\"GET" && $4 == "/headers?n=1\"" && $5 == 200 && $6 == rq && $7 == rs && $8 == b { f = 1 } END { exit !f }' \
	"$LC_TMP/access.log" || fail "1: one-shot log line: $(cat "$LC_TMP/access.log")"
# A keep-alive client is not one-shot: the ordinary path serves it.
n0=$(fp oneshot_not_head)
out=$(lc_in client curl -fsS -m 5 "http://$LB/headers") || fail "1: keep-alive request failed"
[ "$(fp oneshot_not_head)" -gt "$n0" ] || fail "1: a keep-alive head was taken as one-shot"
# Heads the fast path must not judge go the ordinary way too, and get its
# parser's answer: a bare LF, and a body on a GET.
n0=$(fp oneshot_not_head)
out=$(lc_in client python3 "$LC_LIB_DIR/rawhttp.py" "$LB" 80 --timeout 5 \
	'GET / HTTP/1.1\nHost: a\r\nConnection: close\r\n\r\n')
echo "$out" | head -n 1 | lc_has '^HTTP/1.1 400' || fail "1: bare LF: $out"
out=$(lc_in client python3 "$LC_LIB_DIR/rawhttp.py" "$LB" 80 --timeout 5 \
	'GET /headers HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi')
echo "$out" | head -n 1 | lc_has '^HTTP/1.1 200' || fail "1: GET with a body: $out"
[ "$(fp oneshot_not_head)" -ge $((n0 + 2)) ] || fail "1: odd heads were taken as one-shot"

# 2. Reload onto the three nginx backends: the fast path's table follows
# (within its one-second tick), the round robin spreads, and bodies arrive
# byte for byte.
write_cfg "${B[0]}:80" "${B[1]}:80" "${B[2]}:80"
kill -HUP "$LPID"
sleep 2
e0=$(fp oneshot_ended)
out=$(for _ in $(seq 30); do close_get ""; done | sort | uniq -c)
echo "$out"
# Per-CPU rotation: each backend gets its share, give or take.
[ "$(echo "$out" | awk '$2 ~ /^b[123]$/ && $1 >= 4' | wc -l)" -eq 3 ] || fail "2: round robin: $out"
[ "$(($(fp oneshot_ended) - e0))" -ge 30 ] || fail "2: not one-shot: $(($(fp oneshot_ended) - e0)) of 30"
for _ in 1 2 3; do
	[ "$(close_get 1m | sha)" = "$LC_SHA256_1M" ] || fail "2: 1 MiB body differs"
done

# 3. Load: no errors, every request one-shot, and every connection ended
# by the fast path (its slots all free again).
e0=$(fp oneshot_ended)
declare -A v0
for b in "${B[@]}"; do
	v0[$b]=$(metric "laconic_backend_requests_total{pool=\"web\",backend=\"$b:80\"}")
done
l0=$(grep -c ' "GET /small" 200 ' "$LC_TMP/access.log" || true)
out=$(lc_in client wrk -t1 -c20 -d2s -H 'Connection: close' "http://$LB/small")
echo "$out"
echo "$out" | lc_has 'Socket errors' && fail "3: wrk errors: $out"
echo "$out" | lc_has 'Non-2xx' && fail "3: wrk non-2xx: $out"
reqs=$(echo "$out" | sed -n 's/^ *\([0-9]*\) requests in.*/\1/p')
sleep 1
ended=$(($(fp oneshot_ended) - e0))
echo "wrk: $reqs requests, $ended one-shot connections ended by the fast path"
[ "$ended" -ge $((reqs * 95 / 100)) ] || fail "3: only $ended of $reqs requests went one-shot"
# Every one of them counted per backend, with its latency and status class,
# graphed, and logged: the backends' request counters grew by at least what
# wrk counted (the few declined ones are proxied and counted too; wrk does
# not count the answers in flight when it stops).
sleep 1.5
tot=0
for b in "${B[@]}"; do
	v=$(metric "laconic_backend_requests_total{pool=\"web\",backend=\"$b:80\"}")
	h=$(metric "laconic_request_duration_seconds_bucket{pool=\"web\",backend=\"$b:80\",le=\"+Inf\"}")
	c=$(metric "laconic_backend_responses_total{pool=\"web\",backend=\"$b:80\",code=\"2xx\"}")
	echo "backend $b: $v requests, $h timed, $c 2xx"
	[ "$((v - v0[$b]))" -ge $((reqs / 5)) ] && [ "$h" -eq "$v" ] && [ "$c" -eq "$v" ] ||
		fail "3: backend $b accounting: $v/$h/$c"
	tot=$((tot + v - v0[$b]))
done
[ "$tot" -ge "$reqs" ] || fail "3: $tot requests counted for $reqs sent"
[ "$(metric laconic_oneshot_unaccounted_total)" = 0 ] || fail "3: one-shot records were lost"
n=$(($(grep -c ' "GET /small" 200 ' "$LC_TMP/access.log" || true) - l0))
[ "$n" -ge "$reqs" ] || fail "3: $n log lines for $reqs requests"
g=$(lc_in lb curl -fsS "http://127.0.0.1:9100/graph/client?addr=$LC_CLIENT_IP")
echo "$g"
echo "$g" | python3 -c 'import json,sys; g=json.load(sys.stdin); assert len(g["backends"]) >= 3 and g["bytes"] > 0, g' ||
	fail "3: one-shot requests missing from the traffic graph"

# 4. Loss on both legs, 3 % each way: 1 MiB answers still arrive whole, and
# the fast path's own recovery (its SYN again, its head again) ran.
if command -v nft >/dev/null 2>&1 || lc_have_netem; then
	s0=$(fp oneshot_syn_again) o0=$(fp oneshot_head)
	lc_loss 3
	for i in $(seq 20); do
		[ "$(close_get 1m 60 | sha)" = "$LC_SHA256_1M" ] || fail "4: 1 MiB body $i differs under loss"
	done
	for _ in $(seq 100); do close_get small 30 >/dev/null || fail "4: a request failed under loss"; done
	lc_loss off
	echo "under loss: $(($(fp oneshot_head) - o0)) heads, SYN sent again $(($(fp oneshot_syn_again) - s0)) times, head sent again $(($(fp oneshot_head) - o0 - 120)) times"
else
	echo "SKIP 4: neither nft nor sch_netem here"
fi

# 5. A refusing backend (nothing listens on its port): its clients are sent
# the ordinary path's way and answered; the others are served one-shot.
write_cfg "${B[0]}:80" "${B[1]}:9"
kill -HUP "$LPID"
sleep 2
r0=$(fp oneshot_refused)
for _ in $(seq 10); do
	code=$(lc_in client curl -sS -m 10 -o /dev/null -w '%{http_code}' -H 'Connection: close' "http://$LB/small") ||
		fail "5: no answer with a refusing backend"
	case $code in 200 | 502 | 503) ;; *) fail "5: answer $code" ;; esac
done
[ "$(fp oneshot_refused)" -gt "$r0" ] || fail "5: no SYN was refused"
[ "$(metric "laconic_backend_errors_total{pool=\"web\",backend=\"${B[1]}:9\"}")" -ge 1 ] ||
	fail "5: the refusing backend has no error counted"

# 6. Backends without TCP timestamps: one-shot SYNs are declined (the two
# legs must agree on options) and the clients proxied; that is no failure,
# so passive health must not take the backends out.
write_cfg "${B[0]}:80" "${B[1]}:80"
kill -HUP "$LPID"
sleep 2
lc_in backend sysctl -qw net.ipv4.tcp_timestamps=0
r0=$(fp oneshot_refused)
for _ in $(seq 8); do
	code=$(lc_in client curl -sS -m 10 -o /dev/null -w '%{http_code}' -H 'Connection: close' "http://$LB/small") ||
		fail "6: no answer from backends without timestamps"
	[ "$code" = 200 ] || fail "6: answer $code from backends without timestamps"
done
lc_in backend sysctl -qw net.ipv4.tcp_timestamps=1
[ "$(fp oneshot_refused)" -ge $((r0 + 8)) ] || fail "6: the SYNs were not declined"
for b in "${B[0]}" "${B[1]}"; do
	[ "$(metric "laconic_backend_up{pool=\"web\",backend=\"$b:80\"}")" = 1 ] &&
		[ "$(metric "laconic_backend_errors_total{pool=\"web\",backend=\"$b:80\"}")" = 0 ] ||
		fail "6: backend $b counted a declined SYN as a failure"
done

# 0. Configurations the fast path cannot serve as the proxy would are refused.
bad() { # bad WHAT EXPECTED-MESSAGE, with $LC_TMP/bad.ini
	local out
	# Kept in the logs directory too, where a sanitizer report is looked for.
	if out=$("$LACONIC" --check -c "$LC_TMP/bad.ini" 2>&1 | tee -a "$LC_LOGDIR/check.log"); then
		fail "0: $1 was accepted"
	fi
	echo "$out" | lc_has -F "$2" || fail "0: $1: $out"
}
printf '[global]\nsplice_oneshot_agent = on\n[listener a]\nlisten = %s:80\nmode = splice\npool = p\n[listener b]\nlisten = %s:81\nmode = splice\npool = p\n[pool p]\nbackend = %s:80\n' \
	"$LB" "$LB" "${B[0]}" >"$LC_TMP/bad.ini"
bad "two splice listeners" "splice_oneshot_agent needs exactly one splice listener (2 here)"
printf '[global]\nsplice_oneshot_agent = on\n[listener a]\nlisten = %s:80\nmode = splice\npool = p\n[pool p]\nbalance = maglev\nbackend = %s:80\n' \
	"$LB" "${B[0]}" >"$LC_TMP/bad.ini"
bad "maglev" "pool 'p' must balance roundrobin"

lc_alive "$LPID" || fail "laconic died"
echo "PASS"
