#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Splice mode (`mode = splice`) when things go wrong and while it is
# operated: a backend dying in the middle of a spliced download (the client
# must see a truncated transfer, never a complete-looking one, and must not
# hang), the errors the balancer still answers itself because they happen
# before the splice (400, 431, 502 with passive ejection, then 503), the
# refusal to start when the namespace negotiates TCP timestamps or SACK
# (the fast path does not rewrite them), a SYN flood on the VIP (the kernel
# handles handshakes, so the balancer neither leaks connections nor grows),
# and a hot reload under load and a graceful stop.
# Numbering continues test_splice_basic.sh (checks 8-12). Like it, this
# skips (77) without root or when the BPF program cannot be loaded or
# attached here; every other failure is a FAIL.
# Usage: test_splice_ops.sh LACONIC_BINARY
set -euo pipefail
LACONIC=$1
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
lc_need_root
lc_need_cmd nginx curl wrk python3
raw() { lc_in client python3 "$LC_LIB_DIR/rawhttp.py" "$@"; } # raw HOST PORT [OPTIONS] PIECE...

lc_topology 3
B=("${LC_BACKEND_IPS[@]}")
lc_nginx_backend b1 "${B[0]}" 80
lc_nginx_backend b2 "${B[1]}" 80
lc_nginx_backend b3 "${B[2]}" 80
lc_echo_backend e1 "${B[0]}" 8080 # echoes request heads (check 10)
LB=$LC_LB_IP
lc_in lb sysctl -qw net.ipv4.tcp_timestamps=0 net.ipv4.tcp_sack=0

write_cfg() { # write_cfg BACKEND-OF-POOL-WEB...
	{
		printf '[global]\nworkers = 2\nadmin = 127.0.0.1:9100\nsplice_linger = 1s\n'
		# One-shot connections are spliced too (check 12 loads it with them).
		printf 'splice_oneshot = on\n'
		printf 'max_header = 4k\n'
		printf '\n[listener web]\nlisten = %s:80\nmode = splice\npool = web\n' "$LB"
		printf '\n[listener one]\nlisten = %s:82\nmode = splice\npool = one\n' "$LB"
		printf '\n[listener dead]\nlisten = %s:83\nmode = splice\npool = dead\n' "$LB"
		printf '\n[listener echo]\nlisten = %s:84\nmode = splice\npool = echo\n' "$LB"
		printf '\n[pool web]\n'
		for b in "$@"; do printf 'backend = %s\n' "$b"; done
		printf '\n[pool one]\nbackend = %s:80\n' "${B[2]}"
		printf '\n[pool echo]\nbackend = %s:8080\n' "${B[0]}"
		# nothing listens on port 9: refused
		printf '\n[pool dead]\nbackend = %s:9\nmax_fails = 2\nfail_window = 30s\n' "${B[0]}"
	} >"$LC_TMP/lb.ini.new"
	mv "$LC_TMP/lb.ini.new" "$LC_TMP/lb.ini"
}
write_cfg "${B[0]}:80" "${B[1]}:80"
# Under AddressSanitizer, freed memory waits in a quarantine (256 MB by
# default) before reuse, so the RSS of a balancer that served a few hundred
# requests grows by megabytes whatever it keeps (check 11 measures RSS
# across a SYN flood); 1 MB still catches a use right after a free.
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=1
lc_spawn --log "$LC_LOGDIR/laconic.log" lb "$LACONIC" -c "$LC_TMP/lb.ini"
LPID=$LC_LAST_PID
lc_wait_splice "$LPID" "$LC_LOGDIR/laconic.log" "$LB" 80 || fail "laconic did not start in splice mode"
metric() { lc_metric "$@"; }
wait_metric() { lc_wait_metric "$@"; }

# 8. A backend dies in the middle of a slow spliced download: it is killed
# once the client has 1 MiB. curl --limit-rate alone reads in bursts of
# megabytes, so its output goes through a pipe to a slow reader, and small
# socket buffers on both ends keep most of the 10 MiB in nginx's file. The
# client must see an error (18: transfer closed with bytes outstanding, or
# 56: a reset), never a whole-looking body, and well before curl's own
# deadline (28 would be a hang).
rmem=$(lc_in client sysctl -n net.ipv4.tcp_rmem)
wmem=$(lc_in backend sysctl -n net.ipv4.tcp_wmem)
lc_in client sysctl -qw net.ipv4.tcp_rmem="4096 65536 262144"
lc_in backend sysctl -qw net.ipv4.tcp_wmem="4096 16384 262144"
cat >"$LC_TMP/slowcat.py" <<'PY'
import sys, time
out = open(sys.argv[1], "wb", 0)
while True:
    b = sys.stdin.buffer.read1(65536)
    if not b:
        break
    out.write(b)
    time.sleep(0.05)
PY
# shellcheck disable=SC2016 # expanded by bash -c
lc_spawn --log "$LC_LOGDIR/curl-death.log" client bash -c \
	'curl -sS -m 20 --limit-rate 500k "$3" | python3 "$1" "$2"; echo "curl exit ${PIPESTATUS[0]}"' \
	sh "$LC_TMP/slowcat.py" "$LC_TMP/death.out" "http://$LB:82/rand10m"
CPID=$LC_LAST_PID
for _ in $(seq 100); do
	[ "$(stat -c %s "$LC_TMP/death.out" 2>/dev/null || echo 0)" -lt 1048576 ] || break
	sleep 0.05
done
size=$(stat -c %s "$LC_TMP/death.out" 2>/dev/null || echo 0)
if [ "$size" -lt 1048576 ] || [ "$size" -ge 5242880 ]; then
	fail "8: the slow download is not slow: $size bytes at the kill"
fi
kill "$(cat "$LC_TMP/nginx-b3/nginx.pid")"
lc_wait "$CPID" || true
lc_in client sysctl -qw net.ipv4.tcp_rmem="$rmem"
lc_in backend sysctl -qw net.ipv4.tcp_wmem="$wmem"
size=$(stat -c %s "$LC_TMP/death.out")
rc=$(sed -n 's/^curl exit //p' "$LC_LOGDIR/curl-death.log")
echo "backend death: $(cat "$LC_LOGDIR/curl-death.log"), $size bytes"
[ "$rc" = 18 ] || [ "$rc" = 56 ] || fail "8: backend death mid-download: curl exit '$rc' (want 18 or 56)"
[ "$size" -lt 10485760 ] || fail "8: backend death mid-download: a whole-looking body ($size bytes)"
wait_metric laconic_splice_connections 0 6 || fail "8: $(metric laconic_splice_connections) spliced connections left after the backend died"
lc_in client curl -fsS -m 5 "http://$LB/" >/dev/null || fail "8: balancer broken after a backend died"
lc_nginx_backend b3 "${B[2]}" 80

# 9. Errors before the splice are answered by the balancer itself.
expect() { # expect PORT STATUS PIECE...
	local port=$1 want=$2 out
	shift 2
	out=$(raw "$LB" "$port" --timeout 4 "$@")
	lc_has "^HTTP/1.1 $want" <<<"${out%%$'\n'*}" || fail "9: want $want for $*: $out"
}
expect 80 400 'GET / HTTP/1.1\r\n\r\n'
expect 80 400 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'
expect 80 400 'GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n'
big=$(head -c 6000 /dev/zero | tr '\0' a)
expect 80 431 "GET / HTTP/1.1\r\nHost: a\r\nX-Big: $big\r\n\r\n"
# A refused backend: 502 twice (max_fails = 2), then it is ejected and
# the pool has no backend left: 503.
failed0=$(metric laconic_splice_failed_total)
s=""
for _ in 1 2 3; do
	s+="$(lc_in client curl -s -m 5 -o /dev/null -w '%{http_code}' "http://$LB:83/") "
done
echo "refused backend: $s"
[ "$s" = "502 502 503 " ] || fail "9: refused backend: $s (want 502 502 503)"
failed=$(metric laconic_splice_failed_total)
[ "$failed" -ge $((failed0 + 2)) ] || fail "9: laconic_splice_failed_total $failed0 -> $failed"
up=$(lc_in lb curl -fsS http://127.0.0.1:9100/status |
	python3 -c 'import json,sys; s=json.load(sys.stdin); print([b["up"] for p in s["pools"] if p["name"]=="dead" for b in p["backends"]])')
[ "$up" = "[False]" ] || fail "9: the refused backend is not marked down: $up"
lc_in client curl -fsS -m 5 "http://$LB/" >/dev/null || fail "9: service broken after errors"

# 10. TCP options. This namespace runs without timestamps (set at the top);
# turned on, a client whose leg has them is spliced with its stamps
# translated, one whose leg has none is proxied (its backend leg would
# have them), and the first client of a backend that refuses them is
# handed back to the proxy (a fallback, no error), after which that
# backend's clients are proxied from the start. laconic re-reads the
# sysctl once a second.
get_1m() { # get_1m URL WHAT: GET /1m, byte for byte
	local out
	out=$(lc_in client curl -fsS -m 10 "$1/1m" | sha256sum | cut -d' ' -f1)
	[ "$out" = "$LC_SHA256_1M" ] || fail "10: $2 came out wrong"
}
lc_in lb sysctl -qw net.ipv4.tcp_timestamps=1 net.ipv4.tcp_sack=1
sleep 1.2
s0=$(metric laconic_splice_started_total)
sfail0=$(metric laconic_splice_failed_total)
get_1m "http://$LB" "a spliced download with timestamps"
s1=$(metric laconic_splice_started_total)
[ "$s1" -gt "$s0" ] || fail "10: a client with timestamps was not spliced ($s0 -> $s1)"
lc_in client sysctl -qw net.ipv4.tcp_timestamps=0
get_1m "http://$LB" "a download without client timestamps"
s2=$(metric laconic_splice_started_total)
[ "$s2" = "$s1" ] || fail "10: a client without timestamps was spliced ($s1 -> $s2)"
lc_in client sysctl -qw net.ipv4.tcp_timestamps=1
lc_in backend sysctl -qw net.ipv4.tcp_timestamps=0
f0=$(metric laconic_splice_fallbacks_total)
get_1m "http://$LB:82" "the first download from a backend refusing timestamps"
f1=$(metric laconic_splice_fallbacks_total)
[ "$f1" = "$((f0 + 1))" ] || fail "10: the first client of a backend refusing timestamps was not handed back ($f0 -> $f1)"
for i in 1 2 3; do
	get_1m "http://$LB:82" "download $i after the backend refused timestamps"
done
s3=$(metric laconic_splice_started_total)
[ "$s3" = "$((s2 + 1))" ] || fail "10: clients of a backend refusing timestamps were spliced ($s2 -> $s3)"
lc_in backend sysctl -qw net.ipv4.tcp_timestamps=1
# SACK likewise (one leg with it and one without would leave the sender
# with SACK waiting for blocks that never come: recovery by timeout). The
# other backend of pool web takes it: each is remembered on its own.
lc_in backend sysctl -qw net.ipv4.tcp_sack=0
code=$(lc_in client curl -sS -o /dev/null -w '%{http_code}' -m 10 "http://$LB:82/small")
[ "$code" = 200 ] || fail "10: the backend refusing timestamps is proxied, SACK should not matter: HTTP $code"
for i in 1 2 3 4; do
	code=$(lc_in client curl -sS -o /dev/null -w '%{http_code}' -m 10 "http://$LB/small")
	[ "$code" = 200 ] || fail "10: HTTP $code with a backend refusing SACK (want 200)"
done
# Round robin over two backends that both refuse it: one fallback each, at most.
f2=$(metric laconic_splice_fallbacks_total)
if [ "$f2" -lt $((f1 + 1)) ] || [ "$f2" -gt $((f1 + 2)) ]; then
	fail "10: $((f2 - f1)) fallbacks against two backends refusing SACK (want 1 or 2)"
fi
# A client handed back reaches its backend with the head it sent and the
# proxy's X-Forwarded-For (not extending the splice's: the client's
# address once).
for i in 1 2; do
	hdrs=$(lc_in client curl -fsS -m 10 -H 'X-Check: kept' "http://$LB:84/headers") ||
		fail "10: request $i to the echo backend refusing SACK failed"
	xff=$(printf '%s\n' "$hdrs" | grep -i '^x-forwarded-for:' | tr -d '\r')
	[ "$xff" = "X-Forwarded-For: $LC_CLIENT_IP" ] ||
		fail "10: request $i reached the echo backend with X-Forwarded-For '$xff' (want the client's address, once): $hdrs"
	printf '%s\n' "$hdrs" | grep -qi '^x-check: kept' || fail "10: request $i lost a header: $hdrs"
done
[ "$(metric laconic_splice_fallbacks_total)" = "$((f2 + 1))" ] ||
	fail "10: the echo backend's first client was not handed back ($f2 -> $(metric laconic_splice_fallbacks_total))"
[ "$(metric laconic_splice_failed_total)" = "$sfail0" ] || fail "10: a splice failed (502) for want of matching options"
for i in 1 2 3 4; do
	lc_in client curl -fsS -m 10 "http://$LB/small" >/dev/null || fail "10: request $i after the SACK refusals failed"
done
lc_in backend sysctl -qw net.ipv4.tcp_sack=1
lc_in lb sysctl -qw net.ipv4.tcp_timestamps=0 net.ipv4.tcp_sack=0
sleep 1.2

# 11. A SYN flood on the VIP from random ports: the fast path answers every
# SYN with a cookie and keeps nothing, the balancer's kernel never sees one
# (no SYN queue, no cookies of its own), requests keep succeeding, and the
# balancer keeps no state for it.
# Warm up to the allocator's steady state first, with the requests the
# flood phase makes (a sanitizer build grows by megabytes over its first
# few hundred connections, then stays flat; a burst of load would instead
# leave a transient peak that hides growth), so that what check 11 sees is
# what the flood leaves.
for _ in $(seq 300); do lc_in client curl -fsS -m 5 "http://$LB/" >/dev/null; done
LPID_RSS() { awk '$1 == "VmRSS:" { print $2 }' "/proc/$LPID/status"; }
rss0=$(LPID_RSS)
rx0=$(lc_in lb cat "/sys/class/net/$LC_IF_LB_CLIENT/statistics/rx_packets")
ck0=$(metric 'laconic_fastpath_total{what="cookie_sent"}')
kernel_cookies() { lc_in lb nstat -az TcpExtSyncookiesSent | awk '$1 == "TcpExtSyncookiesSent" { print $2 + 0 }'; }
kc0=$(kernel_cookies)
lc_spawn --log "$LC_LOGDIR/synflood.log" client python3 "$LC_LIB_DIR/synflood.py" "$LC_CLIENT_IP" "$LB" 80 20000
FPID=$LC_LAST_PID
ok=0 bad=0
while lc_alive "$FPID"; do
	if lc_in client curl -fsS -m 5 -o /dev/null "http://$LB/"; then ok=$((ok + 1)); else bad=$((bad + 1)); fi
done
lc_wait "$FPID" || fail "11: the SYN flood script failed: $(cat "$LC_LOGDIR/synflood.log")"
rx=$(lc_in lb cat "/sys/class/net/$LC_IF_LB_CLIENT/statistics/rx_packets")
echo "during the flood: $ok requests served, $bad failed; $(cat "$LC_LOGDIR/synflood.log"), $((rx - rx0)) packets in"
[ $((rx - rx0)) -ge 20000 ] || fail "11: the flood did not reach the balancer ($((rx - rx0)) packets)"
[ "$bad" = 0 ] || fail "11: $bad of $((ok + bad)) requests failed during the SYN flood"
[ "$ok" -ge 5 ] || fail "11: only $ok requests ran during the SYN flood"
ck=$(metric 'laconic_fastpath_total{what="cookie_sent"}')
echo "SYN-ACKs with cookies from the fast path: $((ck - ck0)); the kernel's own cookies: $(($(kernel_cookies) - kc0))"
if lc_cookies "$LC_LOGDIR/laconic.log"; then
	[ $((ck - ck0)) -ge 20000 ] || fail "11: the fast path answered only $((ck - ck0)) of 20000+ SYNs"
	[ "$(kernel_cookies)" = "$kc0" ] || fail "11: SYNs reached the balancer's kernel, which sent cookies of its own"
fi
wait_metric laconic_splice_connections 0 6 || fail "11: $(metric laconic_splice_connections) spliced connections left after the flood"
[ "$(metric laconic_client_connections)" = 0 ] || fail "11: client connections left after the flood"
rss=$(LPID_RSS)
echo "RSS: $rss0 kB -> $rss kB"
[ "$rss" -le $((rss0 + 4096)) ] || fail "11: RSS grew from $rss0 kB to $rss kB during the SYN flood"

# 12. Hot reload under load: wrk's 20 keep-alive connections are spliced
# (and pinned) while the pool changes twice; not one request fails. Then a
# graceful stop exits 0 once the spliced connections are gone.
idle0=$(metric laconic_splice_idle_total)
lc_spawn --log "$LC_LOGDIR/wrk.log" client wrk -t1 -c20 -d4s "http://$LB/small"
WPID=$LC_LAST_PID
sleep 1
write_cfg "${B[0]}:80" "${B[1]}:80" "${B[2]}:80"
kill -HUP "$LPID"
sleep 1.5
write_cfg "${B[0]}:80" "${B[1]}:80"
kill -HUP "$LPID"
lc_wait "$WPID" || true
cat "$LC_LOGDIR/wrk.log"
lc_has 'requests in' "$LC_LOGDIR/wrk.log" || fail "12: wrk did not run"
# A busy connection once looked idle when the fast path stamped it after the
# reaper read the clock (an unsigned difference): wrk saw it reset.
[ "$(metric laconic_splice_idle_total)" = "$idle0" ] || fail "12: busy spliced connections were reaped as idle"
lc_has -E 'Non-2xx|Socket errors' "$LC_LOGDIR/wrk.log" && fail "12: requests failed during reload"
lc_has "generation 3" "$LC_LOGDIR/laconic.log" || fail "12: reloads not applied"
[ "$(metric laconic_splice_started_total)" -ge 20 ] || fail "12: wrk's connections were not spliced"
# The same with a new connection per request, all spliced: clients reuse
# their ports while the old entries linger, and the pool changes once more.
s0=$(metric laconic_splice_started_total)
lc_spawn --log "$LC_LOGDIR/wrk-close.log" client wrk -t1 -c20 -d3s -H 'Connection: close' "http://$LB/small"
WPID=$LC_LAST_PID
sleep 1.5
write_cfg "${B[0]}:80" "${B[1]}:80" "${B[2]}:80"
kill -HUP "$LPID"
lc_wait "$WPID" || true
cat "$LC_LOGDIR/wrk-close.log"
lc_has 'requests in' "$LC_LOGDIR/wrk-close.log" || fail "12: wrk (close) did not run"
lc_has -E 'Non-2xx|Socket errors' "$LC_LOGDIR/wrk-close.log" && fail "12: close requests failed"
n=$(awk '/requests in/ { print $1 }' "$LC_LOGDIR/wrk-close.log")
[ $(($(metric laconic_splice_started_total) - s0)) -ge "$n" ] || fail "12: not every close request was spliced"
lc_stop "$LPID" 15
st=0
lc_wait "$LPID" || st=$?
[ "$st" = 0 ] || fail "12: laconic exit status $st after SIGTERM"
echo PASS
