#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Splice mode (`mode = splice`), the happy paths, through real namespaces
# with real peers. After the head is read the balancer freezes both kernel
# sockets, hands the connection to a TC-BPF program that rewrites every
# packet, and replays the head to the backend itself; nothing of that shows
# to curl or nginx when it works, so this test checks what they see: the
# round-robin spread over fresh connections, X-Forwarded-For at the
# backend, keep-alive requests pinned to the first backend (documented),
# pipelining, heads split across segments, client bytes that arrive with or
# right after the head and before the backend is connected (they ride in
# the replay, with a FIN too), uploads and downloads byte for byte, FIN
# from either side first, client resets, the linger and idle reaping of the
# fast-path entries, and loss on both legs (end-to-end TCP recovers, the
# balancer resends only its replay).
# TCP options: by default every namespace negotiates timestamps and SACK,
# which the fast path translates; with LC_SPLICE_OPTS=off (the second ctest
# entry) the balancer's namespace turns both off, so nothing but the fixed
# header is translated. Same checks either way. It skips (77) without root
# or when the BPF program cannot be loaded or attached here (laconic then
# exits at start with a "splice:" error); every other failure is a FAIL.
# Usage: test_splice_basic.sh LACONIC_BINARY
set -euo pipefail
LACONIC=$1
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
lc_need_root
lc_need_cmd nginx curl python3
raw() { lc_in client python3 "$LC_LIB_DIR/rawhttp.py" "$@"; } # raw HOST PORT [OPTIONS] PIECE...

lc_topology 3
lc_bed
LB=$LC_LB_IP
case ${LC_SPLICE_OPTS:-on} in
on) lc_in lb sysctl -qw net.ipv4.tcp_timestamps=1 net.ipv4.tcp_sack=1 ;;
off) lc_in lb sysctl -qw net.ipv4.tcp_timestamps=0 net.ipv4.tcp_sack=0 ;;
*) lc_die "LC_SPLICE_OPTS must be on or off" ;;
esac

write_cfg() { # write_cfg [EXTRA-GLOBAL-LINES]
	cat >"$LC_TMP/lb.ini.new" <<INI
[global]
workers = 2
admin = 127.0.0.1:9100
splice_linger = 1s
$1

[listener web]
listen = $LB:80
mode = splice
pool = web

[listener echo]
listen = $LB:81
mode = splice
pool = echo

[pool web]
backend = ${B[0]}:80
backend = ${B[1]}:80
backend = ${B[2]}:80

[pool echo]
backend = ${B[0]}:8080
INI
	mv "$LC_TMP/lb.ini.new" "$LC_TMP/lb.ini"
}
write_cfg ""
lc_spawn --log "$LC_LOGDIR/laconic.log" lb "$LACONIC" -c "$LC_TMP/lb.ini"
LPID=$LC_LAST_PID
lc_wait_splice "$LPID" "$LC_LOGDIR/laconic.log" "$LB" 80 || fail "laconic did not start in splice mode"
metric() { lc_metric "$@"; }
wait_metric() { lc_wait_metric "$@"; }
sha() { sha256sum | cut -d' ' -f1; }
retrans() { lc_retrans "$@"; }

# 1. Round robin: 30 requests on fresh connections spread evenly (each of
# the two workers rotates on its own, so a backend gets 10, give or take two).
out=$(for _ in $(seq 30); do lc_in client curl -fsS -m 5 "http://$LB/"; done | sort | uniq -c)
echo "$out"
[ "$(echo "$out" | awk '$1 >= 8 && $1 <= 12' | wc -l)" -eq 3 ] || fail "1: round robin: $out"
[ "$(metric laconic_splice_started_total)" -ge 30 ] || fail "1: the requests were not spliced"
# X-Forwarded-For is added as a line of its own after any the client sent.
out=$(lc_in client curl -fsS -m 5 "http://$LB:81/headers")
echo "$out" | lc_has -i "^X-Forwarded-For: $LC_CLIENT_IP\$" || fail "1: no X-Forwarded-For: $out"
out=$(lc_in client curl -fsS -m 5 "http://$LB:81/headers" -H 'X-Forwarded-For: 192.0.2.7')
[ "$(echo "$out" | grep -i '^X-Forwarded-For:' | tr -d '\r' | tr '\n' '|')" = \
	"X-Forwarded-For: 192.0.2.7|X-Forwarded-For: $LC_CLIENT_IP|" ] || fail "1: X-Forwarded-For chain: $out"

# 2. Keep-alive: 9 requests on one client connection all succeed, and all go
# to the backend of the first (a spliced connection is pinned, documented).
out=$(lc_in client curl -fsS -m 10 "http://$LB/" "http://$LB/" "http://$LB/" "http://$LB/" \
	"http://$LB/" "http://$LB/" "http://$LB/" "http://$LB/" "http://$LB/" -w '%{num_connects}\n')
[ "$(echo "$out" | grep -c '^b[123]$')" -eq 9 ] || fail "2: keep-alive bodies: $out"
[ "$(echo "$out" | grep -c '^1$')" -eq 1 ] || fail "2: keep-alive opened more than one connection: $out"
[ "$(echo "$out" | grep '^b' | sort -u | wc -l)" -eq 1 ] || fail "2: keep-alive not pinned to one backend: $out"
# Pipelining: three requests in one write, three answers in order (the 404
# in the middle tells the order).
out=$(raw "$LB" 80 --timeout 5 \
	'GET /small HTTP/1.1\r\nHost: a\r\n\r\nGET /nothing HTTP/1.1\r\nHost: a\r\n\r\nGET /1k HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n')
echo "$out"
[ "$(echo "$out" | grep '^HTTP/1.1' | cut -d' ' -f2 | tr '\n' ' ')" = "200 404 200 " ] ||
	fail "2: pipelining: $out"

# 3. A head split over five segments with pauses.
out=$(raw "$LB" 80 --delay 200 --timeout 5 'GE' 'T /small HT' 'TP/1.1\r\nHo' \
	'st: a\r\nConnection: cl' 'ose\r\n\r\n')
[ "$(echo "$out" | head -n 1)" = "HTTP/1.1 200 OK" ] || fail "3: split head: $out"
# A body in the same write as the head (it is in the balancer's buffer
# when the head is parsed, and joins the replay).
want=$(printf 'hello world' | sha)
out=$(raw "$LB" 81 --dump "$LC_TMP/r3a" \
	'POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\nConnection: close\r\n\r\nhello world')
lc_has "^$want 11" "$LC_TMP/r3a" || fail "3: body behind the head: $out"
# Body bytes (and then a FIN) that arrive while the backend connect is still
# pending: the first SYN of each connection to the echo backend is dropped
# (a retransmission has the same sequence number, a new connection not),
# so the connect takes a second; the bytes sit in the client socket and the
# splice must take them (and the FIN) into the replay. A connection that
# finds a backend connection already established has no such window, so
# at least one of the two must have been delayed.
lc_in lb nft -f - <<EOF
table ip lc_syndrop {
	set seen { typeof tcp sequence; flags dynamic; timeout 30s; }
	chain out {
		type filter hook output priority 0;
		ip daddr ${B[0]} tcp dport 8080 tcp flags & (syn | ack) == syn tcp sequence @seen accept
		ip daddr ${B[0]} tcp dport 8080 tcp flags & (syn | ack) == syn add @seen { tcp sequence } counter drop
	}
}
EOF
want=$(printf 'aaaaabbbbbccccc' | sha)
out=$(raw "$LB" 81 --delay 250 --dump "$LC_TMP/r3b" \
	'POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 15\r\nConnection: close\r\n\r\n' 'aaaaa' 'bbbbb' 'ccccc')
lc_has "^$want 15" "$LC_TMP/r3b" || fail "3: body sent during the backend connect: $out"
out=$(raw "$LB" 81 --delay 250 --shut --dump "$LC_TMP/r3c" \
	'POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 15\r\n\r\n' 'aaaaa' 'bbbbb' 'ccccc')
lc_has "^$want 15" "$LC_TMP/r3c" || fail "3: body and FIN sent during the backend connect: $out"
drops=$(lc_in lb nft list table ip lc_syndrop)
lc_in lb nft delete table ip lc_syndrop
n=$(echo "$drops" | sed -n 's/.*counter packets \([0-9]*\) .*/\1/p')
echo "backend connects delayed: $n"
[ "${n:-0}" -ge 1 ] || fail "3: no backend connect was delayed, the case was not exercised: $drops"
# Uploads of 3 MiB: the body right behind the head (no Expect), with
# 100-continue, and chunked.
head -c 3145728 /dev/urandom >"$LC_TMP/up.bin"
want=$(sha <"$LC_TMP/up.bin")
out=$(lc_in client curl -fsS -m 30 -H 'Expect:' --data-binary "@$LC_TMP/up.bin" "http://$LB:81/upload")
[ "$out" = "$want 3145728" ] || fail "3: upload right behind the head: $out != $want"
out=$(lc_in client curl -fsS -m 30 --data-binary "@$LC_TMP/up.bin" "http://$LB:81/upload")
[ "$out" = "$want 3145728" ] || fail "3: upload after 100-continue: $out != $want"
out=$(lc_in client curl -fsS -m 30 -H 'Expect:' -H 'Transfer-Encoding: chunked' \
	--data-binary "@$LC_TMP/up.bin" "http://$LB:81/upload")
[ "$out" = "$want 3145728" ] || fail "3: chunked upload: $out != $want"
# A first flight whose handshake ACK and first segment are both lost (the
# client's conntrack counts its packets: the SYN is 1, the ACK 2, the head
# 3). The later segments echo the SYN-ACK's TSval but carry no ISN + 1 to
# check the cookie against; the fast path drops them (cookie_held) instead
# of letting the kernel, which has no connection yet, reset the client,
# and the client's retransmission of the head makes the connection. The
# loss must look like the network's: a packet netfilter drops on the way
# out is one the sender's TCP sends again at once (merged with what
# follows), so those two are routed by mark to a veth whose peer is down,
# whose queue (noop: no carrier) discards them but reports congestion,
# which TCP takes for sent. Without timestamps such segments cannot be
# told from a stranger's (the kernel's own cookies are no better), so that
# run leaves the case out.
if [ "${LC_SPLICE_OPTS:-on}" = on ] && lc_cookies "$LC_LOGDIR/laconic.log"; then
	held0=$(lc_metric 'laconic_fastpath_total{what="cookie_held"}')
	lc_sink client 28
	lc_in client nft -f - <<EOF
table ip lc_first {
	chain out {
		type route hook output priority 0;
		ip daddr $LB tcp dport 81 ct original packets 2-3 counter meta mark set 28
	}
}
EOF
	lc_in client sysctl -qw net.netfilter.nf_conntrack_acct=1
	want_ff=$(printf 'aaaaabbbbbccccc' | sha)
	out=$(raw "$LB" 81 --dump "$LC_TMP/r3h" \
		'POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 15\r\nConnection: close\r\n\r\n' 'aaaaa' 'bbbbb' 'ccccc')
	sunk=$(lc_in client nft list table ip lc_first | sed -n 's/.*counter packets \([0-9]*\) .*/\1/p')
	lc_in client nft delete table ip lc_first
	lc_in client sysctl -qw net.netfilter.nf_conntrack_acct=0
	lc_sink client 28 off
	held=$(lc_metric 'laconic_fastpath_total{what="cookie_held"}')
	echo "first flight without its ACK and head: $out; lost on the way $sunk, segments held $held0 -> $held"
	[ "$sunk" = 2 ] || fail "3: the client's ACK and head were not both lost ($sunk)"
	lc_has "^$want_ff 15" "$LC_TMP/r3h" || fail "3: a first flight that lost its ACK and head: $out"
	[ "$held" -gt "$held0" ] || fail "3: no later segment of that first flight was held back ($held0 -> $held)"
fi

# 4. Downloads: the bytes are exactly the files'.
got=$(lc_in client curl -fsS -m 30 "http://$LB/1m" | sha)
[ "$got" = "$LC_SHA256_1M" ] || fail "4: /1m checksum"
got=$(lc_in client curl -fsS -m 30 "http://$LB/rand10m" | sha)
[ "$got" = "$LC_RAND10M_SHA256" ] || fail "4: /rand10m checksum"

# 5. Closing. Everything before is closed or lingering: wait for a clean slate.
wait_metric laconic_splice_connections 0 10 || fail "5: $(metric laconic_splice_connections) spliced connections left over"
closed0=$(metric laconic_splice_closed_total)
rst0=$(metric 'laconic_fastpath_total{what="rst"}')
# FIN from the client first: a request, a half-close, then the answers.
# (The echo backend: nginx cuts a large answer short when it reads the
# client's EOF, proxy or not.) The FIN right behind the head is taken by
# the balancer's socket and rides in the replay; the one 300 ms later, with
# a pipelined second request, crosses the fast path.
out=$(raw "$LB" 81 --shut 'GET /slow?ms=500 HTTP/1.1\r\nHost: a\r\n\r\n')
if [ "$(echo "$out" | head -n 1)" != "HTTP/1.1 200 OK" ] || echo "$out" | lc_has -E 'TIMEOUT|RESET'; then
	fail "5: client FIN in the replay: $out"
fi
out=$(raw "$LB" 81 --shut --delay 300 'GET /slow?ms=800 HTTP/1.1\r\nHost: a\r\n\r\n' \
	'GET /headers HTTP/1.1\r\nHost: a\r\n\r\n')
if [ "$(echo "$out" | head -n 2 | tr '\n' ' ')" != "HTTP/1.1 200 OK HTTP/1.1 200 OK " ] ||
	echo "$out" | lc_has -E 'TIMEOUT|RESET'; then
	fail "5: client FIN through the fast path: $out"
fi
# FIN from the backend first (Connection: close): the answer, then EOF, not a timeout.
out=$(raw "$LB" 80 --timeout 5 --dump "$LC_TMP/r5b" \
	'GET /1m HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n')
[ "$(echo "$out" | head -n 2 | tr '\n' ' ')" = "HTTP/1.1 200 OK BODY $(stat -c %s "$LC_TMP/r5b") " ] ||
	fail "5: backend FIN first (want 200, then EOF): $out"
[ "$(tail -c 1048576 "$LC_TMP/r5b" | sha)" = "$LC_SHA256_1M" ] || fail "5: backend FIN first: body checksum"
# Client resets in the middle of a 10 MiB download.
for _ in 1 2 3; do
	out=$(raw "$LB" 80 --rst --read 1000000 'GET /rand10m HTTP/1.1\r\nHost: a\r\n\r\n')
	[ "$out" = RST ] || fail "5: client reset mid-download: $out"
done
# After the linger (1 s here) the entries are gone and counted as closed.
wait_metric laconic_splice_connections 0 6 || fail "5: $(metric laconic_splice_connections) spliced connections left after the linger"
closed=$(metric laconic_splice_closed_total)
rst=$(metric 'laconic_fastpath_total{what="rst"}')
echo "closed: $closed0 -> $closed, fast-path RSTs: $rst0 -> $rst"
[ "$closed" -ge $((closed0 + 5)) ] || fail "5: laconic_splice_closed_total $closed0 -> $closed (want +5)"
[ "$rst" -ge $((rst0 + 3)) ] || fail "5: the fast path saw no client resets ($rst0 -> $rst)"
lc_in client curl -fsS -m 5 "http://$LB/" >/dev/null || fail "5: balancer broken after resets"

# 6. Idle reaping (timeout_idle = 1s, by a reload): an idle keep-alive
# connection is forgotten; its next request meets the balancer's kernel,
# which resets it.
idle0=$(metric laconic_splice_idle_total)
write_cfg "timeout_idle = 1s"
kill -HUP "$LPID"
for _ in $(seq 50); do lc_has 'generation 2' "$LC_LOGDIR/laconic.log" && break; sleep 0.1; done
lc_has 'generation 2' "$LC_LOGDIR/laconic.log" || fail "6: reload not applied"
out=$(raw "$LB" 80 --delay 3000 --timeout 5 \
	'GET /small HTTP/1.1\r\nHost: a\r\n\r\n' 'GET /small HTTP/1.1\r\nHost: a\r\n\r\n')
echo "$out"
idle=$(metric laconic_splice_idle_total)
echo "idle: $idle0 -> $idle"
[ "$idle" -ge $((idle0 + 1)) ] || fail "6: idle connection not reaped ($idle0 -> $idle)"
[ "$(echo "$out" | head -n 2 | tr '\n' ' ')" = "HTTP/1.1 200 OK RESET " ] ||
	fail "6: want one answer, then a reset on the forgotten connection: $out"
write_cfg ""
kill -HUP "$LPID"
for _ in $(seq 50); do lc_has 'generation 3' "$LC_LOGDIR/laconic.log" && break; sleep 0.1; done
lc_has 'generation 3' "$LC_LOGDIR/laconic.log" || fail "6: second reload not applied"

# 7. Loss on both legs, 3% each way: end-to-end TCP recovers through the
# fast path, and the balancer resends its replay if that is lost. The
# packets must be lost after they left their sender's stack: a drop at the
# sender's own egress (lc_netem's nftables fallback) is reported back to
# TCP, which resends at once without a loss ever showing, and packets the
# TC program redirects skip the balancer's nftables egress hook anyway. So
# with nft the loss towards the client and the backends is at the ingress
# of their veths (the far end of each leg), and the loss towards the
# balancer is a route, by random mark, into a dead veth at the client's
# and backends' end (as in 3: after the stack counted them sent, before
# the balancer's TC program sees them); without nft, lc_netem's sch_netem
# on the balancer's egress only (a qdisc does see redirected packets).
# Either way the retransmissions it causes are checked.
# (Only with TCP options is there loss towards the balancer: without SACK,
# loss both ways on both legs stretched a 10 MiB download from ~2 s to as
# much as a minute, against 1-3 s through proxy mode: end-to-end recovery
# without SACK; the kernel's own forwarding is as slow; docs/laconic.md.)
loss() { lc_loss "$1" "$([ "${LC_SPLICE_OPTS:-on}" = on ] && echo both || echo away)"; }
if command -v nft >/dev/null 2>&1 || lc_have_netem; then
	rb0=$(retrans backend) rc0=$(retrans client)
	loss 3
	got=$(lc_in client curl -fsS -m 60 "http://$LB/rand10m" | sha) || true
	# 3 % of skbs, and with TSO a 3 MiB upload is ~50-100 of them: upload
	# until the client had to retransmit (P(none in 5) is about 1e-4).
	for _ in 1 2 3 4 5; do
		out=$(lc_in client curl -fsS -m 60 -H 'Expect:' --data-binary "@$LC_TMP/up.bin" "http://$LB:81/upload" 2>&1) || true
		[ "$out" = "$want 3145728" ] || break
		[ "$(retrans client)" -eq "$rc0" ] || break
	done
	if command -v nft >/dev/null 2>&1; then
		# (Few of the backends' packets go that way, mostly big TSO
		# skbs: both sides together, so that this cannot flake.)
		lost=0
		for r in client backend; do
			n=$(lc_in "$r" nft list table ip lc_loss_out | sed -n 's/.*counter packets \([0-9]*\) .*/\1/p')
			echo "lost on the way from the $r side to the balancer: ${n:-0} packets"
			lost=$((lost + ${n:-0}))
		done
		[ "$lost" -gt 0 ] || [ "${LC_SPLICE_OPTS:-on}" = off ] ||
			fail "7: nothing was lost on its way to the balancer"
	fi
	loss off
	rb=$(retrans backend) rc=$(retrans client)
	echo "retransmitted segments under loss: backends $rb0 -> $rb, client $rc0 -> $rc"
	[ "$got" = "$LC_RAND10M_SHA256" ] || fail "7: download checksum under loss"
	if [ "$out" != "$want 3145728" ]; then
		lc_in lb curl -fsS http://127.0.0.1:9100/metrics | grep -E '^laconic_(splice|fastpath)' >&2 || true
		fail "7: upload under loss: '$out' != $want"
	fi
	[ "$rb" -gt "$rb0" ] || fail "7: the backends retransmitted nothing: was the loss applied?"
	[ "$rc" -gt "$rc0" ] || fail "7: the client retransmitted nothing: was the loss applied?"
else
	echo "note: neither nft nor sch_netem here, check 7 (loss) not run"
fi

# A wrong stamp shows as segments the receiver drops as old (PAWS), a wrong
# SACK edge as blocks it discards; transfers would still complete, so the
# ends' own counters are the check (all spliced traffic above included).
# Two kinds are legitimate. The client may discard a few blocks: the
# backend SACKs the replay too, bytes the client gave the balancer's socket
# long ago, which map below its snd_una. And the backend drops a replay
# segment the balancer resent (its ACK was lost) once the client's later
# stamps moved past the replay's: it has those bytes and answers with a
# duplicate ACK, which ends the replay. Blocks sent to the backend cover
# only what it sent, and the client's stamps only ever come from the
# backend's, so there every discard is an error.
rtx=$(lc_metric laconic_splice_replay_retransmits_total)
for ns in client backend; do
	for c in TcpExtPAWSEstab TcpExtTCPSACKDiscard; do
		v=$(lc_in "$ns" nstat -az "$c" | awk -v c="$c" '$1 == c { print $2 }')
		v=${v:-0}
		echo "$ns $c $v (replay segments resent: $rtx)"
		case "$ns $c" in
		"client TcpExtTCPSACKDiscard") ;;
		"backend TcpExtPAWSEstab") [ "$v" -le "$rtx" ] || fail "the backend dropped $v segments as old, more than the $rtx replay segments resent: the splice mistranslated timestamps" ;;
		*) [ "$v" = 0 ] || fail "$ns counted $v $c: the splice mistranslated options" ;;
		esac
	done
done

m=$(lc_in lb curl -fsS http://127.0.0.1:9100/metrics)
echo "$m" | grep -E '^laconic_(splice|fastpath)_'
echo "$m" | lc_has '^laconic_fastpath_total{what="translated"} [1-9]' || fail "no packet went through the fast path"
# The agent made every handshake above: SYNs answered with cookies in the
# fast path, the ACKs handed to the listener, none refused, and the
# kernel's own SYN cookies never needed (its listener saw no SYN).
ck_sent=$(echo "$m" | awk '$1 == "laconic_fastpath_total{what=\"cookie_sent\"}" { print $2 }')
ck_ok=$(echo "$m" | awk '$1 == "laconic_fastpath_total{what=\"cookie_accepted\"}" { print $2 }')
ck_bad=$(echo "$m" | awk '$1 == "laconic_fastpath_total{what=\"cookie_refused\"}" { print $2 }')
if lc_cookies "$LC_LOGDIR/laconic.log"; then
	[ "${ck_ok:-0}" -ge 20 ] && [ "$ck_sent" -ge "$ck_ok" ] ||
		fail "the fast path made too few handshakes: $ck_sent SYN-ACKs, $ck_ok accepted"
	[ "$ck_bad" = 0 ] || fail "the kernel refused $ck_bad valid cookies"
	kc=$(lc_in lb nstat -az TcpExtSyncookiesSent | awk '$1 == "TcpExtSyncookiesSent" { print $2 }')
	[ "${kc:-0}" = 0 ] || fail "the balancer's kernel sent $kc SYN cookies of its own"
else
	echo "note: this kernel takes no SYN cookies from BPF (Linux 6.9+); handshakes were the kernel's"
fi
# /status agrees with /metrics and names the interfaces the program is on.
st=$(lc_in lb curl -fsS http://127.0.0.1:9100/status)
started=$(echo "$m" | awk '$1 == "laconic_splice_started_total" { print $2 }')
echo "$st" | python3 -c 'import json,sys; s=json.load(sys.stdin)["splice"]; started, ifs = int(sys.argv[1]), sys.argv[2:]
assert s["started"] == started and all(i in s["interfaces"].split(",") for i in ifs), s' \
	"$started" "$LC_IF_LB_CLIENT" "$LC_IF_LB_BACKEND" || fail "/status has no sane splice object: $st"
lc_stop "$LPID"
st=0
lc_wait "$LPID" || st=$?
[ "$st" = 0 ] || fail "laconic exit status $st"
echo PASS
