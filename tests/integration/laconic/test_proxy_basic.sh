#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Proxy mode, the happy paths, through real namespaces with real peers
# (nginx and the python echo backend behind, curl and raw sockets in front):
# round-robin spread, keep-alive reuse, pipelining, heads split across
# segments with pauses, X-Forwarded-For, chunked and 100-continue uploads
# with checksums, a 10 MiB download (spliced) with its checksum, HEAD,
# client resets mid-download, a backend dying mid-body (a truncated transfer,
# never a short body passed off as whole), loss on both legs,
# half-close from the client, and the admin endpoint's view of it all.
# Usage: test_proxy_basic.sh LACONIC_BINARY
set -euo pipefail
LACONIC=$1
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
lc_need_root
lc_need_cmd nginx curl python3
RAW="python3 $LC_LIB_DIR/rawhttp.py"

lc_topology 3
lc_bed
LB=$LC_LB_IP

lc_spawn --log "$LC_LOGDIR/laconic.log" lb "$LACONIC" --workers 2 --listen "$LB:80" \
	--backend "${B[0]}:80" --backend "${B[1]}:80" --backend "${B[2]}:80" \
	--admin 127.0.0.1:9100
LPID=$LC_LAST_PID
lc_wait_port lb "$LB" 80 10 "$LPID"
lc_spawn --log "$LC_LOGDIR/laconic-echo.log" lb "$LACONIC" --workers 1 --listen "$LB:81" \
	--backend "${B[0]}:8080" --admin 127.0.0.1:9101
EPID=$LC_LAST_PID
lc_wait_port lb "$LB" 81 10 "$EPID"

# 1. Round robin: 30 requests on fresh connections spread evenly. Each of the
# two workers rotates on its own, so a backend gets 10, give or take two.
out=$(for _ in $(seq 30); do lc_in client curl -fsS "http://$LB/"; done | sort | uniq -c)
echo "$out"
[ "$(echo "$out" | awk '$1 >= 8 && $1 <= 12' | wc -l)" -eq 3 ] || fail "round robin: $out"

# 2. Keep-alive: 9 requests on one client connection, balanced per request.
out=$(lc_in client curl -fsS "http://$LB/" "http://$LB/" "http://$LB/" "http://$LB/" \
	"http://$LB/" "http://$LB/" "http://$LB/" "http://$LB/" "http://$LB/" -w '%{num_connects}\n')
[ "$(echo "$out" | grep -c '^b[123]$')" -eq 9 ] || fail "keep-alive bodies: $out"
[ "$(echo "$out" | grep -c '^1$')" -eq 1 ] || fail "keep-alive opened more than one connection: $out"
[ "$(echo "$out" | grep '^b' | sort -u | wc -l)" -eq 3 ] || fail "keep-alive not balanced: $out"

# 2b. A client that asks to close is told so in the answer (nginx says
# keep-alive to us), and only once.
hdrs=$(lc_in client curl -fsS -D - -o /dev/null -H 'Connection: close' "http://$LB/small")
[ "$(echo "$hdrs" | grep -ci '^connection:')" -eq 1 ] || fail "Connection headers: $hdrs"
echo "$hdrs" | lc_has -i '^connection: close' || fail "no Connection: close: $hdrs"

# 3. Pipelining: three requests in one write, three answers in order.
out=$(lc_in client $RAW "$LB" 80 --timeout 3 \
	'GET /small HTTP/1.1\r\nHost: a\r\n\r\nGET /1k HTTP/1.1\r\nHost: a\r\n\r\nGET /small HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n')
echo "$out"
[ "$(echo "$out" | grep -c '^HTTP/1.1 200')" -eq 3 ] || fail "pipelining: $out"

# 4. A head split over five segments with pauses (each its own TCP segment).
out=$(lc_in client $RAW "$LB" 80 --delay 200 --timeout 5 'GE' 'T /small HT' 'TP/1.1\r\nHo' \
	'st: a\r\nConnection: cl' 'ose\r\n\r\n')
echo "$out" | lc_has '^HTTP/1.1 200' || fail "split head: $out"

# 5. Half-close right after the request: the answer still arrives.
out=$(lc_in client $RAW "$LB" 80 --shut 'GET /small HTTP/1.1\r\nHost: a\r\n\r\n')
echo "$out" | lc_has '^HTTP/1.1 200' || fail "half-close: $out"

# 6. HEAD: headers only, and the connection stays usable.
out=$(lc_in client $RAW "$LB" 80 \
	'HEAD /1m HTTP/1.1\r\nHost: a\r\n\r\nGET /small HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n')
[ "$(echo "$out" | grep -c '^HTTP/1.1 200')" -eq 2 ] || fail "HEAD then GET: $out"
[ "$(echo "$out" | awk '/^BODY/ {print $2}')" -lt 1000 ] || fail "HEAD answered with a body: $out"

# 7. X-Forwarded-For carries the client address, appended to any given.
out=$(lc_in client curl -fsS "http://$LB:81/headers" -H 'X-Forwarded-For: 192.0.2.7')
echo "$out" | lc_has -i "^X-Forwarded-For: 192.0.2.7, $LC_CLIENT_IP\$" || fail "XFF: $out"
out=$(lc_in client curl -fsS "http://$LB:81/headers")
echo "$out" | lc_has -i "^X-Forwarded-For: $LC_CLIENT_IP\$" || fail "XFF: $out"

# 8. Uploads: 3 MiB with Content-Length (curl sends Expect: 100-continue) and chunked.
head -c 3145728 /dev/urandom >"$LC_TMP/up.bin"
want=$(sha256sum "$LC_TMP/up.bin" | cut -d' ' -f1)
out=$(lc_in client curl -fsS --data-binary "@$LC_TMP/up.bin" "http://$LB:81/upload")
[ "$out" = "$want 3145728" ] || fail "upload: $out != $want"
out=$(lc_in client curl -fsS -H 'Transfer-Encoding: chunked' --data-binary "@$LC_TMP/up.bin" \
	"http://$LB:81/upload")
[ "$out" = "$want 3145728" ] || fail "chunked upload: $out != $want"

# 9. Download 10 MiB (spliced): the bytes are exactly the file's.
got=$(lc_in client curl -fsS "http://$LB/rand10m" | sha256sum | cut -d' ' -f1)
[ "$got" = "$LC_RAND10M_SHA256" ] || fail "download checksum"

# 10. The backend closes first (Connection: close, relayed as sent, so the
# client reconnects): both answers arrive whole.
out=$(lc_in client curl -fsS "http://$LB:81/close" "http://$LB:81/")
[ "$(echo "$out" | tr '\n' ' ')" = "e1 e1 " ] || fail "backend close first: $out"

# 10b. A body delimited by the backend's close reaches the client at once
# (its connection closes too, rather than idling to a timeout), and a pooled connection the
# backend closed right after a response is never reused for a POST.
out=$(lc_in client curl -fsS -m 5 -D - "http://$LB:81/closedelim")
echo "$out" | lc_has '^until close' || fail "close-delimited body: $out"
for i in $(seq 10); do
	lc_in client curl -fsS "http://$LB:81/fin" >/dev/null
	out=$(lc_in client curl -sS -o /dev/null -w '%{http_code}' --data-binary x "http://$LB:81/p")
	[ "$out" = 200 ] || fail "POST after an unannounced backend close: $out (try $i)"
done

# 11. Loss on both legs: end-to-end TCP recovers through the proxy.
if lc_have_netem loss; then
	r0=$(lc_retrans lb)
	lc_netem lb-client loss 3%
	lc_netem lb-backend loss 3%
	got=$(lc_in client curl -fsS --max-time 60 "http://$LB/rand10m" | sha256sum | cut -d' ' -f1)
	lc_netem lb-client off
	lc_netem lb-backend off
	[ "$got" = "$LC_RAND10M_SHA256" ] || fail "download checksum under loss"
	r1=$(lc_retrans lb)
	echo "balancer retransmissions under loss: $r0 -> $r1"
	[ "$r1" -gt "$r0" ] || fail "no retransmission under 3% loss: was the loss applied?"
else
	echo "note: no netem or nft here, loss case not run"
fi

# 12. A client that resets mid-download, and a backend that dies mid-body:
# the balancer survives both, the client sees a truncated transfer (never a
# short body passed off as whole), and no client connection is left over.
for _ in 1 2 3; do
	lc_in client $RAW "$LB" 80 --rst 'GET /rand10m HTTP/1.1\r\nHost: a\r\n\r\n' >/dev/null
done
rc=0
lc_in client curl -sS -o "$LC_TMP/trunc" "http://$LB:81/truncate" 2>/dev/null || rc=$?
echo "curl exit status after the backend died mid-body: $rc, $(stat -c %s "$LC_TMP/trunc") bytes"
[ "$rc" = 18 ] || fail "backend death mid-body: curl exit $rc (want 18, a partial transfer)"
lc_in client curl -fsS "http://$LB:81/" >/dev/null || fail "balancer broken after a truncated body"
sleep 0.3
c=$(lc_in lb curl -fsS http://127.0.0.1:9100/metrics | awk '/^laconic_client_connections / {print $2}')
[ "$c" = 0 ] || fail "$c client connections left after resets"

# 13. The admin endpoint saw it: per-backend counters, splices, the traffic graph.
sleep 1.2 # one worker tick: the graph is flushed every second
m=$(lc_in lb curl -fsS http://127.0.0.1:9100/metrics)
echo "$m" | lc_has '^laconic_backend_requests_total{pool="main",backend="'"${B[0]}"':80"} [1-9]' ||
	fail "metrics: backend counter missing"
echo "$m" | lc_has '^laconic_splice_bytes_total [1-9]' || fail "metrics: no splice"
echo "$m" | lc_has '^laconic_request_duration_seconds_bucket{pool="main",backend="'"${B[1]}"':80",le="+Inf"} [1-9]' ||
	fail "metrics: histogram"
st=$(lc_in lb curl -fsS http://127.0.0.1:9100/status)
echo "$st" | python3 -c 'import json,sys; s=json.load(sys.stdin); b=s["pools"][0]["backends"]; assert len(b)==3 and all(x["up"] for x in b), s'
g=$(lc_in lb curl -fsS "http://127.0.0.1:9100/graph/client?addr=$LC_CLIENT_IP")
echo "$g"
echo "$g" | python3 -c 'import json,sys; g=json.load(sys.stdin); assert len(g["backends"])==3 and g["bytes"]>10485760, g'
g=$(lc_in lb curl -fsS "http://127.0.0.1:9100/graph/backend?addr=${B[2]}:80")
echo "$g" | CIP=$LC_CLIENT_IP python3 -c 'import json,sys,os; g=json.load(sys.stdin); assert g["top_clients"][0]["client"]==os.environ["CIP"], g'

# 14. Graceful stop: exit status 0.
lc_stop "$LPID"
st=0
lc_wait "$LPID" || st=$?
[ "$st" = 0 ] || fail "laconic exit status $st"
echo "PASS"
