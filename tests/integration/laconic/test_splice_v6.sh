#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Splice mode over IPv6, end to end: the same namespaces as the IPv4 tests
# with IPv6 addresses on the same veths (lc_topology_v6), real nginx, curl
# and wrk. Checks what the peers see: the round-robin spread, the client's
# IPv6 address in X-Forwarded-For, keep-alive requests pinned to the first
# backend, a 3 MiB upload and a 10 MiB download byte for byte, FIN from
# either side first, wrk's keep-alive load without a single error, client
# bytes and a FIN arriving before the backend is connected (they ride in
# the replay from the raw IPv6 socket), a first flight that lost its ACK
# and head (held, not reset), 3 % loss on both legs both ways; and
# what the balancer counts: every connection spliced (splice_oneshot = on,
# so even `Connection: close` is), none failed, and the fast path's IPv6
# counter (laconic_fastpath_total{what="translated_ipv6"}) carrying the
# traffic, so nothing fell back to a proxy. An IPv4 splice listener in the
# same process keeps working beside it (the two families have separate
# flow tables).
# The legs negotiate TCP timestamps and SACK (the net.ipv4 TCP sysctls
# govern IPv6 TCP too; on here, as by default), so the IPv6 path translates
# options as well. Skips (77) without root, IPv6 or a loadable BPF program.
# Usage: test_splice_v6.sh LACONIC_BINARY
set -euo pipefail
LACONIC=$1
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
lc_need_root
lc_need_cmd nginx curl wrk python3 nft
raw() { lc_in client python3 "$LC_LIB_DIR/rawhttp.py" "$@"; } # raw HOST PORT [OPTIONS] PIECE...

lc_topology 3
lc_topology_v6
lc_bed "${LC_BACKEND_IPS6[@]}"
lc_echo_backend e4 "${LC_BACKEND_IPS[0]}" 8080
LB=$LC_LB_IP6
lc_in lb sysctl -qw net.ipv4.tcp_timestamps=1 net.ipv4.tcp_sack=1

cat >"$LC_TMP/lb.ini" <<INI
[global]
workers = 2
admin = 127.0.0.1:9100
splice_linger = 1s
splice_oneshot = on

[listener web]
listen = [$LB]:80
mode = splice
pool = web

[listener echo]
listen = [$LB]:81
mode = splice
pool = echo

[listener echo4]
listen = $LC_LB_IP:81
mode = splice
pool = echo4

[pool web]
backend = [${B[0]}]:80
backend = [${B[1]}]:80
backend = [${B[2]}]:80

[pool echo]
backend = [${B[0]}]:8080

[pool echo4]
backend = ${LC_BACKEND_IPS[0]}:8080
INI
lc_spawn --log "$LC_LOGDIR/laconic.log" lb "$LACONIC" -c "$LC_TMP/lb.ini"
LPID=$LC_LAST_PID
lc_wait_splice "$LPID" "$LC_LOGDIR/laconic.log" "$LB" 80 || fail "laconic did not start in splice mode"
metric() { lc_metric "$@"; }
wait_metric() { lc_wait_metric "$@"; }
sha() { sha256sum | cut -d' ' -f1; }
URL=$(lc_url "$LB" 80)
ECHO=$(lc_url "$LB" 81)

# The client cannot reach the backends itself: whatever answers is the balancer.
lc_in client curl -sS -m 2 -o /dev/null "$(lc_url "${B[0]}" 80)" 2>/dev/null &&
	fail "the client reaches a backend directly; the topology is wrong"

# 1. Round robin over fresh connections (two workers rotate on their own).
out=$(for _ in $(seq 30); do lc_in client curl -fsS -m 5 "$URL"; done | sort | uniq -c)
echo "$out"
[ "$(echo "$out" | awk '$1 >= 8 && $1 <= 12' | wc -l)" -eq 3 ] || fail "1: round robin: $out"
[ "$(metric laconic_splice_started_total)" -ge 30 ] || fail "1: the requests were not spliced"
# X-Forwarded-For carries the client's IPv6 address, after any it sent.
# The handshake is the fast path's over IPv6 too: one connection, one
# SYN-ACK with a cookie, one cookie handed to the listener.
ck0=$(metric 'laconic_fastpath_total{what="cookie_accepted"}')
out=$(lc_in client curl -fsS -m 5 "${ECHO}headers")
! lc_cookies "$LC_LOGDIR/laconic.log" ||
	[ "$(metric 'laconic_fastpath_total{what="cookie_accepted"}')" = $((ck0 + 1)) ] ||
	fail "an IPv6 handshake was not the fast path's ($ck0 -> $(metric 'laconic_fastpath_total{what="cookie_accepted"}') cookies accepted)"
echo "$out" | lc_has -i "^X-Forwarded-For: $LC_CLIENT_IP6"$'\r'"\?\$" || fail "1: no X-Forwarded-For: $out"
out=$(lc_in client curl -fsS -m 5 "${ECHO}headers" -H 'X-Forwarded-For: 2001:db8::7')
[ "$(echo "$out" | grep -i '^X-Forwarded-For:' | tr -d '\r' | tr '\n' '|')" = \
	"X-Forwarded-For: 2001:db8::7|X-Forwarded-For: $LC_CLIENT_IP6|" ] || fail "1: X-Forwarded-For chain: $out"

# 2. Keep-alive: 9 requests on one connection, all to the first one's backend.
out=$(lc_in client curl -fsS -m 10 "$URL" "$URL" "$URL" "$URL" "$URL" "$URL" "$URL" "$URL" "$URL" \
	-w '%{num_connects}\n')
[ "$(echo "$out" | grep -c '^b[123]$')" -eq 9 ] || fail "2: keep-alive bodies: $out"
[ "$(echo "$out" | grep -c '^1$')" -eq 1 ] || fail "2: keep-alive opened more than one connection: $out"
[ "$(echo "$out" | grep '^b' | sort -u | wc -l)" -eq 1 ] || fail "2: keep-alive not pinned to one backend: $out"

# 3. A 3 MiB upload (the body right behind the head, and after
# 100-continue) and downloads, byte for byte, and the fast path's counters
# grow by what crossed it.
head -c 3145728 /dev/urandom >"$LC_TMP/up.bin"
want=$(sha <"$LC_TMP/up.bin")
t0=$(metric 'laconic_fastpath_total{what="translated_ipv6"}')
b0=$(metric 'laconic_fastpath_total{what="bytes"}')
out=$(lc_in client curl -fsS -m 30 -H 'Expect:' --data-binary "@$LC_TMP/up.bin" "${ECHO}upload")
[ "$out" = "$want 3145728" ] || fail "3: upload right behind the head: $out != $want"
out=$(lc_in client curl -fsS -m 30 --data-binary "@$LC_TMP/up.bin" "${ECHO}upload")
[ "$out" = "$want 3145728" ] || fail "3: upload after 100-continue: $out != $want"
got=$(lc_in client curl -fsS -m 30 "${URL}rand10m" | sha)
[ "$got" = "$LC_RAND10M_SHA256" ] || fail "3: /rand10m checksum"
got=$(lc_in client curl -fsS -m 30 "${URL}1m" | sha)
[ "$got" = "$LC_SHA256_1M" ] || fail "3: /1m checksum"
t1=$(metric 'laconic_fastpath_total{what="translated_ipv6"}')
b1=$(metric 'laconic_fastpath_total{what="bytes"}')
echo "fast path: IPv6 packets $t0 -> $t1, bytes $b0 -> $b1"
# The downloads and the 100-continue upload's body cross the fast path
# whole (they follow the splice); of the first upload, what the client sent
# before the splice rides in the replay instead.
[ $((b1 - b0)) -ge $((3145728 + 10485760 + 1048576)) ] ||
	fail "3: the fast path carried $((b1 - b0)) bytes, less than the transfers (a fallback?)"
[ $((t1 - t0)) -ge 100 ] || fail "3: only $((t1 - t0)) IPv6 packets translated"

# 4. Closing. FIN from the client first: in the replay (right behind the
# head), then through the fast path (300 ms later, after a second request).
wait_metric laconic_splice_connections 0 10 || fail "4: $(metric laconic_splice_connections) spliced connections left over"
closed0=$(metric laconic_splice_closed_total)
out=$(raw "$LB" 81 --shut 'GET /slow?ms=500 HTTP/1.1\r\nHost: a\r\n\r\n')
if [ "$(echo "$out" | head -n 1)" != "HTTP/1.1 200 OK" ] || echo "$out" | lc_has -E 'TIMEOUT|RESET'; then
	fail "4: client FIN in the replay: $out"
fi
out=$(raw "$LB" 81 --shut --delay 300 'GET /slow?ms=800 HTTP/1.1\r\nHost: a\r\n\r\n' \
	'GET /headers HTTP/1.1\r\nHost: a\r\n\r\n')
if [ "$(echo "$out" | head -n 2 | tr '\n' ' ')" != "HTTP/1.1 200 OK HTTP/1.1 200 OK " ] ||
	echo "$out" | lc_has -E 'TIMEOUT|RESET'; then
	fail "4: client FIN through the fast path: $out"
fi
# FIN from the backend first (Connection: close, spliced: splice_oneshot).
out=$(raw "$LB" 80 --timeout 5 --dump "$LC_TMP/r4" \
	'GET /1m HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n')
[ "$(echo "$out" | head -n 2 | tr '\n' ' ')" = "HTTP/1.1 200 OK BODY $(stat -c %s "$LC_TMP/r4") " ] ||
	fail "4: backend FIN first (want 200, then EOF): $out"
[ "$(tail -c 1048576 "$LC_TMP/r4" | sha)" = "$LC_SHA256_1M" ] || fail "4: backend FIN first: body checksum"
# FIN/FIN, the linger, and the entries are gone.
wait_metric laconic_splice_connections 0 6 || fail "4: $(metric laconic_splice_connections) spliced connections left after the linger"
closed=$(metric laconic_splice_closed_total)
echo "closed: $closed0 -> $closed"
[ "$closed" -ge $((closed0 + 3)) ] || fail "4: laconic_splice_closed_total $closed0 -> $closed (want +3)"

# 5. wrk: 20 keep-alive connections for 3 s, then 10 `Connection: close`
# ones for 2 s, not one error.
for hdr in "" "Connection: close"; do
	log=$LC_LOGDIR/wrk-$([ -z "$hdr" ] && echo ka || echo close).log
	if [ -z "$hdr" ]; then
		lc_spawn --log "$log" client wrk -t1 -c20 -d3s "${URL}small"
	else
		lc_spawn --log "$log" client wrk -t1 -c10 -d2s -H "$hdr" "${URL}small"
	fi
	wpid=$LC_LAST_PID
	lc_wait "$wpid" || fail "5: wrk failed"
	cat "$log"
	lc_has 'requests in' "$log" || fail "5: wrk did not run"
	lc_has -E 'Non-2xx|Socket errors' "$log" && fail "5: requests failed under wrk${hdr:+ ($hdr)}"
done

# 6. The replay over IPv6 when the client is ahead: body bytes and a FIN
# that arrive while the backend connect is held back (its first SYN is
# dropped once) ride in the replay from the raw IPv6 socket.
lc_in lb nft -f - <<EOF
table ip6 lc_syndrop {
	set seen { typeof tcp sequence; flags dynamic; timeout 30s; }
	chain out {
		type filter hook output priority 0;
		ip6 daddr ${B[0]} tcp dport 8080 tcp flags & (syn | ack) == syn tcp sequence @seen accept
		ip6 daddr ${B[0]} tcp dport 8080 tcp flags & (syn | ack) == syn add @seen { tcp sequence } counter drop
	}
}
EOF
want5=$(printf 'aaaaabbbbbccccc' | sha)
out=$(raw "$LB" 81 --delay 250 --shut --dump "$LC_TMP/r6" \
	'POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 15\r\n\r\n' 'aaaaa' 'bbbbb' 'ccccc')
lc_has "^$want5 15" "$LC_TMP/r6" || fail "6: body and FIN sent during the backend connect: $out"
drops=$(lc_in lb nft list table ip6 lc_syndrop)
lc_in lb nft delete table ip6 lc_syndrop
n=$(echo "$drops" | sed -n 's/.*counter packets \([0-9]*\) .*/\1/p')
[ "${n:-0}" -ge 1 ] || fail "6: no backend connect was delayed, the case was not exercised: $drops"

# 6b. A first flight that lost its handshake ACK and its head, over IPv6
# (as in test_splice_basic.sh, check 3): the later segments are held, not
# reset, and the head's retransmission makes the connection. The two are
# routed by mark into a veth whose peer is down, lost after the client's
# TCP counted them sent.
if lc_cookies "$LC_LOGDIR/laconic.log"; then
	held0=$(metric 'laconic_fastpath_total{what="cookie_held"}')
	lc_sink client 28
	lc_in client nft -f - <<EOF
table ip6 lc_first {
	chain out {
		type route hook output priority 0;
		ip6 daddr $LB tcp dport 81 ct original packets 2-3 counter meta mark set 28
	}
}
EOF
	lc_in client sysctl -qw net.netfilter.nf_conntrack_acct=1
	out=$(raw "$LB" 81 --dump "$LC_TMP/r6h" \
		'POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 15\r\nConnection: close\r\n\r\n' 'aaaaa' 'bbbbb' 'ccccc')
	sunk=$(lc_in client nft list table ip6 lc_first | sed -n 's/.*counter packets \([0-9]*\) .*/\1/p')
	lc_in client nft delete table ip6 lc_first
	lc_in client sysctl -qw net.netfilter.nf_conntrack_acct=0
	lc_sink client 28 off
	held=$(metric 'laconic_fastpath_total{what="cookie_held"}')
	echo "first flight without its ACK and head: $out; lost on the way ${sunk:-?}, segments held $held0 -> $held"
	[ "${sunk:-0}" = 2 ] || fail "6b: the client's ACK and head were not both lost (${sunk:-?})"
	lc_has "^$want5 15" "$LC_TMP/r6h" || fail "6b: a first flight that lost its ACK and head: $out"
	[ "$held" -gt "$held0" ] || fail "6b: no later segment of that first flight was held back ($held0 -> $held)"
fi

# 7. Loss of IPv6 packets on both legs, both ways (3 %, lc_loss: at the far
# end of each veth, and towards the balancer by a route into a dead veth):
# end-to-end TCP recovers through the IPv6 fast path.
rb0=$(lc_retrans backend) rc0=$(lc_retrans client)
lc_loss 3 both 6
got=$(lc_in client curl -fsS -m 60 "${URL}rand10m" | sha) || true
for _ in 1 2 3 4 5; do
	out=$(lc_in client curl -fsS -m 60 -H 'Expect:' --data-binary "@$LC_TMP/up.bin" "${ECHO}upload") || true
	[ "$out" = "$want 3145728" ] || break
	[ "$(lc_retrans client)" -eq "$rc0" ] || break
done
lost=0
for r in client backend; do
	n=$(lc_in "$r" nft list table ip6 lc_loss_out | sed -n 's/.*counter packets \([0-9]*\) .*/\1/p')
	echo "lost on the way from the $r side to the balancer: ${n:-0} packets"
	lost=$((lost + ${n:-0}))
done
lc_loss off
rb=$(lc_retrans backend) rc=$(lc_retrans client)
echo "retransmitted segments under loss: backends $rb0 -> $rb, client $rc0 -> $rc"
[ "$got" = "$LC_RAND10M_SHA256" ] || fail "7: download checksum under loss"
[ "$out" = "$want 3145728" ] || fail "7: upload under loss: $out != $want"
[ "$rb" -gt "$rb0" ] || fail "7: the backends retransmitted nothing: was the loss applied?"
[ "$rc" -gt "$rc0" ] || fail "7: the client retransmitted nothing: was the loss applied?"
[ "$lost" -gt 0 ] || fail "7: nothing was lost on its way to the balancer"

# 8. IPv4 splicing beside it in the same process, and the counters: every
# IPv6 connection was spliced, none failed, the IPv4 one is not counted as IPv6.
t0=$(metric 'laconic_fastpath_total{what="translated_ipv6"}')
a0=$(metric 'laconic_fastpath_total{what="translated"}')
out=$(lc_in client curl -fsS -m 5 "$(lc_url "$LC_LB_IP" 81 headers)")
echo "$out" | lc_has -i "^X-Forwarded-For: $LC_CLIENT_IP" || fail "8: IPv4 beside IPv6: $out"
t1=$(metric 'laconic_fastpath_total{what="translated_ipv6"}')
a1=$(metric 'laconic_fastpath_total{what="translated"}')
echo "IPv4 request: translated $a0 -> $a1, of which IPv6 $t0 -> $t1"
# IPv4 packets = translated - translated_ipv6; late IPv6 packets of the loss
# check (retransmissions, FINs) may still cross meanwhile, so only the IPv4
# share is required to grow.
if [ $(((a1 - t1) - (a0 - t0))) -lt 1 ]; then
	fail "8: the IPv4 splice did not cross the fast path as IPv4"
fi

m=$(lc_in lb curl -fsS http://127.0.0.1:9100/metrics)
echo "$m" | grep -E '^laconic_(splice|fastpath)_'
[ "$(echo "$m" | awk '$1 == "laconic_splice_failed_total" { print $2 }')" = 0 ] || fail "a splice failed"
[ "$(echo "$m" | awk '$1 == "laconic_splice_no_capacity_total" { print $2 }')" = 0 ] || fail "a splice was refused"
echo "$m" | lc_has '^laconic_fastpath_total{what="translated_ipv6"} [1-9]' || fail "no IPv6 packet went through the fast path"
lc_stop "$LPID"
st=0
lc_wait "$LPID" || st=$?
[ "$st" = 0 ] || fail "laconic exit status $st"
echo PASS
