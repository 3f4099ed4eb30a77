#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Description: TSoR end to end with unmodified programs under `tsor run`:
# python3 echo client/server (IPv4 and IPv6, concurrent checksummed
# transfers, blocking and poll()-driven sockets), redis-server with
# redis-cli SET/GET and a short redis-benchmark, nginx (master and worker)
# with curl and wrk, a plain kernel client
# against a TSoR listener and a TSoR client against a plain server. After
# each step `tsor stats` must show exactly the expected accelerated and
# fallback connections and bytes, so a silent fallback fails the test.
#
# usage: test_tsor_basic.sh TSOR_BIN_DIR   (holds tsor, tsord, libtsor.so)
set -euo pipefail

bin=${1:?usage: $0 TSOR_BIN_DIR}
here=$(cd "$(dirname "$0")" && pwd)
tsor=$bin/tsor

skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*" >&2; [ -f "$tmp/tsord.log" ] && sed 's/^/  tsord.log: /' "$tmp/tsord.log" >&2; exit 1; }

for p in python3 redis-server redis-cli redis-benchmark; do
	command -v "$p" >/dev/null || skip "$p not installed (scripts/deps.sh installs it)"
done
[ -x "$tsor" ] && [ -x "$bin/tsord" ] && [ -f "$bin/libtsor.so" ] || fail "no tsor build in $bin"

tmp=$(mktemp -d /tmp/tsor-test.XXXXXX)
export TSOR_SOCK=$tmp/tsord.sock
# The counts below are exact: an acceptor slower than the default 200 ms
# confirm window on a loaded runner would (correctly) fall back and miscount.
export TSOR_CONFIRM_MS=5000
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	"$tsor" stop >/dev/null 2>&1 || true
	rm -rf "$tmp"
}
trap cleanup EXIT

stat() { "$tsor" stats | awk -v k="$1" '$1 == k { print $2 }'; }
# expect NAME DELTA BEFORE: the counter moved by exactly DELTA.
expect() {
	local now; now=$(stat "$1")
	[ "$((now - $3))" -eq "$2" ] || fail "$1 moved by $((now - $3)), expected $2 ($4)"
}
wait_file() { for _ in $(seq 100); do [ -s "$1" ] && return 0; sleep 0.05; done; fail "no $1"; }

# --- tsord on demand, CLI surface ---
"$tsor" --help | grep -q "tsor run" || fail "tsor --help"
"$tsor" stats >/dev/null 2>&1 && fail "stats answered before any tsord ran"
out=$("$tsor" bogus 2>&1) && fail "unknown command accepted"
grep -q "unknown command 'bogus'" <<<"$out" || fail "unclear error: $out"
# libtsor.so would take a bad value as unset: `tsor run` refuses it instead.
out=$("$tsor" run --ring-size 2X -- true 2>&1) && fail "--ring-size 2X accepted"
grep -q -- "--ring-size wants bytes" <<<"$out" || fail "unclear error: $out"
out=$("$tsor" run --spin-us 1000001 -- true 2>&1) && fail "--spin-us 1000001 accepted"
grep -q -- "--spin-us wants microseconds" <<<"$out" || fail "unclear error: $out"
[ "$("$tsor" run --ring-size 1MiB -- sh -c 'echo "$TSOR_RING_SIZE"')" = 1048576 ] ||
	fail "--ring-size 1MiB is not passed on as 1048576"
"$tsor" stop >/dev/null # that run started a tsord; the next steps want none
# A --node-listen tsord cannot use fails `tsor daemon` itself with one
# line on stderr, not only a detached tsord's log (no root needed: a port
# this test holds, and an address of TEST-NET-1 no host has).
rm -f "$tmp/port"
python3 -c '
import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(1)
open(sys.argv[1], "w").write(str(s.getsockname()[1])); time.sleep(60)' "$tmp/port" &
pids+=("$!")
wait_file "$tmp/port"
busy=127.0.0.1:$(cat "$tmp/port")
out=$("$tsor" daemon --node-listen "$busy" 2>&1) && fail "tsor daemon --node-listen $busy (port in use) succeeded"
[ "$out" = "tsord: error: --node-listen $busy: address already in use (another tsord?)" ] ||
	fail "unclear error for a --node-listen port in use: $out"
out=$("$tsor" daemon --node-listen 192.0.2.1:7390 2>&1) && fail "tsor daemon --node-listen 192.0.2.1:7390 succeeded"
[ "$out" = "tsord: error: --node-listen 192.0.2.1:7390: not an address of this host" ] ||
	fail "unclear error for a --node-listen address not of this host: $out"
st=0; out=$("$tsor" daemon --node-listen nonsense 2>&1) || st=$?
[ "$st" -eq 2 ] && [ "$(wc -l <<<"$out")" -eq 1 ] && grep -q "node-listen 'nonsense': expected ADDR:PORT" <<<"$out" ||
	fail "tsor daemon --node-listen nonsense: exit $st, $out"
"$tsor" stats >/dev/null 2>&1 && fail "a tsord answers after failed starts"
[ ! -e "$TSOR_SOCK" ] || fail "a failed start left $TSOR_SOCK behind"
"$tsor" run -- true || fail "tsor run true"
[ -S "$TSOR_SOCK" ] || fail "tsor run did not start tsord"
"$tsor" stats | grep -Eq '^tsor_connections_accelerated [0-9]+$' || fail "stats format"

# --- python echo, IPv4 and IPv6, blocking and poll()-driven ---
for fam in 4 6; do
	if [ "$fam" = 6 ] && ! python3 -c 'import socket; socket.socket(socket.AF_INET6).bind(("::1", 0))' 2>/dev/null; then
		echo "note: no IPv6 loopback, IPv6 step skipped"
		continue
	fi
	a0=$(stat tsor_connections_accelerated); b0=$(stat tsor_bytes_accelerated)
	rm -f "$tmp/port"
	"$tsor" run -- python3 "$here/echo.py" server "$fam" "$tmp/port" 4 &
	srv=$!; pids+=("$srv")
	wait_file "$tmp/port"
	port=$(cat "$tmp/port")
	"$tsor" run -- python3 "$here/echo.py" client "$fam" "$port" 3 8388608 ||
		fail "IPv$fam echo: blocking sockets"
	"$tsor" run -- python3 "$here/echo.py" client "$fam" "$port" 1 3000000 --timeout ||
		fail "IPv$fam echo: sockets with a timeout (poll)"
	wait "$srv" || fail "IPv$fam echo server exited $?"
	expect tsor_connections_accelerated 4 "$a0" "IPv$fam python echo"
	expect tsor_bytes_accelerated $((2 * (3 * 8388608 + 3000000))) "$b0" "IPv$fam python echo"
done

# --- fallback both ways: a plain client to a TSoR listener, a TSoR client to a plain server ---
a0=$(stat tsor_connections_accelerated); f0=$(stat tsor_connections_fallback)
rm -f "$tmp/port"
"$tsor" run -- python3 "$here/echo.py" server 4 "$tmp/port" 1 &
srv=$!; pids+=("$srv")
wait_file "$tmp/port"
python3 "$here/echo.py" client 4 "$(cat "$tmp/port")" 1 1000000 || fail "plain client to a TSoR server"
wait "$srv" || fail "TSoR server with a plain client exited $?"
rm -f "$tmp/port"
python3 "$here/echo.py" server 4 "$tmp/port" 1 &
srv=$!; pids+=("$srv")
wait_file "$tmp/port"
"$tsor" run -- python3 "$here/echo.py" client 4 "$(cat "$tmp/port")" 1 1000000 ||
	fail "TSoR client to a plain server"
wait "$srv" || fail "plain server with a TSoR client exited $?"
expect tsor_connections_accelerated 0 "$a0" "fallback steps"
expect tsor_connections_fallback 2 "$f0" "fallback steps"

# --- a connection closed before its accept: unused, counted once ---
# The server accepts only after the client has closed, so the client's
# cancel comes first and the server's ASK finds a cancelled connection.
a0=$(stat tsor_connections_accelerated); f0=$(stat tsor_connections_fallback)
u0=$(stat tsor_connections_unused)
rm -f "$tmp/port" "$tmp/closed"
"$tsor" run -- python3 -c '
import os, socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(1)
open(sys.argv[1], "w").write(str(s.getsockname()[1]))
while not os.path.exists(sys.argv[2]): time.sleep(0.01)
time.sleep(0.2)
c, _ = s.accept()
sys.exit(0 if c.recv(1) == b"" else 1)' "$tmp/port" "$tmp/closed" &
srv=$!; pids+=("$srv")
wait_file "$tmp/port"
"$tsor" run -- python3 -c '
import socket, sys
c = socket.create_connection(("127.0.0.1", int(sys.argv[1]))); c.close()
open(sys.argv[2], "w").write("x")' "$(cat "$tmp/port")" "$tmp/closed" || fail "unused: client"
wait "$srv" || fail "unused: the server did not read EOF ($?)"
expect tsor_connections_unused 1 "$u0" "a connection closed before its accept"
expect tsor_connections_fallback 0 "$f0" "a connection closed before its accept"
expect tsor_connections_accelerated 0 "$a0" "a connection closed before its accept"

# --- redis ---
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$tsor" run -- redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
	--daemonize no --logfile "$tmp/redis.log" &
pids+=("$!")
for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.05; done
a0=$(stat tsor_connections_accelerated); f0=$(stat tsor_connections_fallback)
[ "$("$tsor" run -- redis-cli -p "$port" SET tsor:key "shared memory")" = OK ] || fail "redis-cli SET"
[ "$("$tsor" run -- redis-cli -p "$port" GET tsor:key)" = "shared memory" ] || fail "redis-cli GET"
big=$(head -c 300000 /dev/urandom | base64 -w0)
"$tsor" run -- redis-cli -p "$port" -x SET tsor:big <<<"$big" >/dev/null || fail "redis-cli SET big"
[ "$("$tsor" run -- redis-cli -p "$port" GET tsor:big)" = "$big" ] || fail "redis-cli GET big value differs"
expect tsor_connections_accelerated 4 "$a0" "redis-cli"
"$tsor" run -- redis-benchmark -p "$port" -n 20000 -c 4 -t set,get -q >"$tmp/bench.out" 2>&1 ||
	fail "redis-benchmark: $(tail -3 "$tmp/bench.out")"
grep -q "GET: .* requests per second" "$tmp/bench.out" || fail "redis-benchmark output: $(cat "$tmp/bench.out")"
acc=$(( $(stat tsor_connections_accelerated) - a0 - 4 ))
# 4 clients per test plus redis-benchmark's CONFIG GET probe connections.
[ "$acc" -ge 8 ] || fail "redis-benchmark: only $acc accelerated connections"
cmds=$(redis-cli -p "$port" INFO stats | tr -d '\r' | awk -F: '$1 == "total_commands_processed" { print $2 }')
[ "$cmds" -ge 40000 ] || fail "redis processed $cmds commands, expected >= 40000"
[ "$(redis-cli -p "$port" GET tsor:key)" = "shared memory" ] || fail "plain redis-cli to a TSoR redis"
expect tsor_connections_fallback 2 "$f0" "the two plain redis-cli (INFO, GET)"

# --- nginx (master and worker: the worker runs with an emptied environment,
# where TSOR_SOCK is gone) with curl and wrk ---
if command -v nginx >/dev/null && command -v curl >/dev/null && command -v wrk >/dev/null; then
	ng=$tmp/nginx
	mkdir -p "$ng/www" "$ng/tmp"
	head -c 1048576 /dev/urandom >"$ng/www/1m"
	printf 'Hello, world!' >"$ng/www/small"
	port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	cat >"$ng/nginx.conf" <<EOF
worker_processes 1;
daemon off;
master_process on;
user $(id -un);
pid $ng/nginx.pid;
error_log $ng/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    sendfile on;
    keepalive_requests 100000;
    client_body_temp_path $ng/tmp/body;
    proxy_temp_path $ng/tmp/proxy;
    fastcgi_temp_path $ng/tmp/fastcgi;
    uwsgi_temp_path $ng/tmp/uwsgi;
    scgi_temp_path $ng/tmp/scgi;
    server { listen 127.0.0.1:$port; root $ng/www; }
}
EOF
	"$tsor" run -- nginx -p "$ng" -c "$ng/nginx.conf" -e "$ng/error.log" &
	pids+=("$!")
	for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$port/small" && break; sleep 0.05; done
	a0=$(stat tsor_connections_accelerated); f0=$(stat tsor_connections_fallback)
	"$tsor" run -- curl -fsS -o "$tmp/1m.got" "http://127.0.0.1:$port/1m" || fail "curl of 1 MiB from nginx"
	cmp -s "$ng/www/1m" "$tmp/1m.got" || fail "curl: the 1 MiB body differs"
	expect tsor_connections_accelerated 1 "$a0" "curl to nginx's worker"
	expect tsor_connections_fallback 0 "$f0" "curl to nginx's worker"
	# 20 connections: wrk sizes its event loop by three descriptors each, so a
	# descriptor the library took from the program's low numbers would show
	# up as connect errors.
	a0=$(stat tsor_connections_accelerated); f0=$(stat tsor_connections_fallback)
	"$tsor" run -- wrk -t1 -c20 -d1s "http://127.0.0.1:$port/small" >"$tmp/wrk.out" 2>&1 ||
		fail "wrk: $(tail -3 "$tmp/wrk.out")"
	if grep -q 'Socket errors\|Non-2xx' "$tmp/wrk.out"; then
		fail "wrk through nginx: $(grep 'Socket errors\|Non-2xx' "$tmp/wrk.out")"
	fi
	acc=$(($(stat tsor_connections_accelerated) - a0))
	[ "$acc" -ge 20 ] || fail "wrk: only $acc of its 20 connections accelerated"
	# wrk's address probe, closed before a byte, is unused (or accelerated).
	expect tsor_connections_fallback 0 "$f0" "wrk"
else
	echo "note: nginx, curl or wrk missing: nginx step skipped"
fi

echo "PASS: $("$tsor" stats | tr '\n' ' ')"
