#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Proxy mode against bad input and bad backends: every request-smuggling
# vector answers 400 (and never reaches a backend), an oversized head 431,
# an unsupported version 505, a slowloris head is cut off at the
# header timeout, a refused backend gives 502 and a passive ejection, no
# backend at all gives 503, and a broken configuration file is refused with
# its file and line (at start and at reload, where the running one stays).
# Usage: test_proxy_errors.sh LACONIC_BINARY
set -euo pipefail
LACONIC=$1
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
lc_need_root
lc_need_cmd nginx curl python3
RAW="python3 $LC_LIB_DIR/rawhttp.py"

lc_topology 2
B=("${LC_BACKEND_IPS[@]}")
lc_echo_backend e1 "${B[0]}" 8080
LB=$LC_LB_IP

cat >"$LC_TMP/lb.ini" <<INI
[global]
workers = 1
admin = 127.0.0.1:9100
timeout_header = 1s
max_header = 4k

[listener web]
listen = $LB:80
pool = app

[listener dead]
listen = $LB:81
pool = nothing

[pool app]
backend = ${B[0]}:8080

[pool nothing]
backend = ${B[1]}:9   # nobody listens there
max_fails = 2
fail_window = 30s
INI
lc_spawn --log "$LC_LOGDIR/laconic.log" lb "$LACONIC" -c "$LC_TMP/lb.ini"
LPID=$LC_LAST_PID
lc_wait_port lb "$LB" 80 10 "$LPID"

expect() { # expect STATUS PIECE...
	local want=$1 out
	shift
	out=$(lc_in client $RAW "$LB" 80 --timeout 4 "$@")
	lc_has "^HTTP/1.1 $want" <<<"${out%%$'\n'*}" || fail "want $want for $*: $out"
}

# Smuggling vectors: each must be refused before any byte reaches the backend.
expect 400 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'
expect 400 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde'
expect 400 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nContent-Length: 4\r\n\r\nabcd'
expect 400 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4, 4\r\n\r\nabcd'
expect 400 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n'
expect 400 'GET / HTTP/1.1\r\nHost: a\r\nX-Folded: a\r\n b\r\n\r\n'
expect 400 'GET / HTTP/1.1\nHost: a\n\n'
expect 400 'GET / HTTP/1.1\r\nHost: a\r\nContent-Length : 0\r\n\r\n'
expect 400 'GET / HTTP/1.1\r\n\r\n'
expect 400 'GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n'
expect 400 'GET /a b HTTP/1.1\r\nHost: a\r\n\r\n'
expect 400 'GET http://evil.example/ HTTP/1.1\r\nHost: a\r\n\r\n'
expect 501 'CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n'
expect 501 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n'
expect 505 'GET / HTTP/2.0\r\nHost: a\r\n\r\n'
expect 400 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n\r\n'
# The backend saw none of them.
seen=$(lc_in lb curl -fsS http://127.0.0.1:9100/metrics |
	awk -F' ' '/^laconic_backend_requests_total\{pool="app"/ {print $2}')
[ "$seen" = 0 ] || fail "a malformed request reached the backend ($seen)"

# Oversized head: 431.
big=$(head -c 6000 /dev/zero | tr '\0' a)
expect 431 "GET / HTTP/1.1\r\nHost: a\r\nX-Big: $big\r\n\r\n"

# Slowloris: a head trickling in for 6 s is answered 400 at timeout_header
# (1 s) and the connection is closed under the sender before it is done.
out=$(lc_in client $RAW "$LB" 80 --delay 500 --timeout 10 'GET / HTTP/1.1\r\n' 'Host: a\r\n' \
	'X-A: 1\r\n' 'X-B: 1\r\n' 'X-C: 1\r\n' 'X-D: 1\r\n' 'X-E: 1\r\n' 'X-F: 1\r\n' \
	'X-G: 1\r\n' 'X-H: 1\r\n' 'X-I: 1\r\n' 'X-J: 1\r\n' '\r\n' || true)
echo "slowloris: $out"
lc_has '^HTTP/1.1 400' <<<"${out%%$'\n'*}" || fail "slowloris head not cut: $out"
echo "$out" | lc_has '^SENDFAIL' || fail "slowloris connection outlived the trickle: $out"

# A good request still works afterwards.
lc_in client curl -fsS "http://$LB/" >/dev/null || fail "service broken after bad input"
# An absolute-form target that agrees with Host is served.
expect 200 "GET http://$LB/ HTTP/1.1\r\nHost: $LB\r\nConnection: close\r\n\r\n"

# Refused backend: 502, then passive ejection makes it 503.
s1=$(lc_in client curl -s -o /dev/null -w '%{http_code}' "http://$LB:81/")
s2=$(lc_in client curl -s -o /dev/null -w '%{http_code}' "http://$LB:81/")
s3=$(lc_in client curl -s -o /dev/null -w '%{http_code}' "http://$LB:81/")
echo "refused backend: $s1 $s2 $s3"
[ "$s1" = 502 ] && [ "$s2" = 502 ] && [ "$s3" = 503 ] || fail "refused backend: $s1 $s2 $s3"

# Bad configuration: a precise message with file and line, exit status 1.
# (Its output is in the logs directory, where a sanitizer report is looked for.)
printf '[global]\nworkers = 1\n\n[listener x]\nlisten = 1.2.3.4:80\npool = p\ntimeout_idel = 3s\n' \
	>"$LC_TMP/bad.ini"
err=$LC_LOGDIR/check.log
if "$LACONIC" --check -c "$LC_TMP/bad.ini" 2>"$err"; then
	fail "--check accepted a bad file"
fi
cat "$err"
grep -q "bad.ini:7: " "$err" || fail "no file:line in: $(cat "$err")"

# A bad reload keeps the running configuration.
cp "$LC_TMP/bad.ini" "$LC_TMP/lb.ini"
kill -HUP "$LPID"
sleep 0.5
lc_in client curl -fsS "http://$LB/" >/dev/null || fail "bad reload broke the service"
grep -q "keeping the running configuration" "$LC_LOGDIR/laconic.log" || fail "no reload error logged"
lc_alive "$LPID" || fail "laconic died"
echo PASS
