#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Operating the proxy: active health checks eject a stopped backend and
# bring it back, hot reload under wrk load loses no request, Maglev keeps
# every key whose backend stays (only the removed backend's keys move, and
# they come back when it returns), a graceful stop under load finishes
# what is in flight, and a reload during that stop does not open the
# listeners again.
# Usage: test_proxy_ops.sh LACONIC_BINARY
set -euo pipefail
LACONIC=$1
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
lc_need_root
lc_need_cmd nginx curl wrk python3

lc_topology 3
B=("${LC_BACKEND_IPS[@]}")
lc_nginx_backend b1 "${B[0]}" 80
lc_nginx_backend b2 "${B[1]}" 80
lc_nginx_backend b3 "${B[2]}" 80
LB=$LC_LB_IP

write_cfg() { # write_cfg BACKEND-LINES...
	{
		printf '[global]\nworkers = 2\nadmin = 127.0.0.1:9100\n\n'
		printf '[listener web]\nlisten = %s:80\npool = rr\n' "$LB"
		printf '\n[listener hash]\nlisten = %s:81\npool = mg\n' "$LB"
		printf '\n[pool rr]\nhealth_path = /health\nhealth_interval = 200ms\n'
		printf 'health_timeout = 200ms\nhealth_rise = 2\nhealth_fall = 2\n'
		for b in "$@"; do printf 'backend = %s\n' "$b"; done
		printf '\n[pool mg]\nbalance = maglev\nhash = header:X-User\n'
		for b in "$@"; do printf 'backend = %s\n' "$b"; done
	} >"$LC_TMP/lb.ini.new"
	mv "$LC_TMP/lb.ini.new" "$LC_TMP/lb.ini"
}
write_cfg "${B[0]}:80" "${B[1]}:80" "${B[2]}:80"
lc_spawn --log "$LC_LOGDIR/laconic.log" lb "$LACONIC" -c "$LC_TMP/lb.ini"
LPID=$LC_LAST_PID
lc_wait_port lb "$LB" 80 10 "$LPID"

up_count() {
	lc_in lb curl -fsS http://127.0.0.1:9100/status |
		python3 -c 'import json,sys; s=json.load(sys.stdin); print(sum(b["up"] for b in s["pools"][0]["backends"]))'
}
wait_up() { # wait_up N: until N backends of pool rr are up (5 s)
	for _ in $(seq 50); do
		[ "$(up_count)" = "$1" ] && return 0
		sleep 0.1
	done
	fail "expected $1 backends up, have $(up_count)"
}

# 1. Health: stop b2, it is ejected, no request fails or lands on it.
wait_up 3
kill "$(cat "$LC_TMP/nginx-b2/nginx.pid")"
sleep 0.5
lc_in backend curl -s -m 1 "http://${B[1]}/health" >/dev/null && fail "could not stop b2"
wait_up 2
out=$(for _ in $(seq 20); do lc_in client curl -fsS "http://$LB/"; done | sort | uniq -c)
echo "$out"
echo "$out" | lc_has b2 && fail "requests reached the stopped backend"
[ "$(echo "$out" | awk '{s+=$1} END {print s}')" = 20 ] || fail "requests failed: $out"
# ... and comes back when it does.
lc_nginx_backend b2 "${B[1]}" 80
wait_up 3

# 2. Maglev: the mapping of 200 users.
map_users() {
	local u
	for u in $(seq 200); do
		printf '%s %s\n' "$u" "$(lc_in client curl -fsS -H "X-User: u$u" "http://$LB:81/")"
	done
}
map_users >"$LC_TMP/map1"
[ "$(cut -d' ' -f2 "$LC_TMP/map1" | sort -u | wc -l)" = 3 ] || fail "maglev uses fewer than 3 backends"

# 3. Reload under load: wrk runs while the configuration changes twice.
lc_spawn --log "$LC_LOGDIR/wrk.log" client wrk -t1 -c20 -d5s "http://$LB/small"
WPID=$LC_LAST_PID
sleep 1
write_cfg "${B[0]}:80" "${B[1]}:80"
kill -HUP "$LPID"
sleep 1.5
map_users >"$LC_TMP/map2"
write_cfg "${B[0]}:80" "${B[1]}:80" "${B[2]}:80"
kill -HUP "$LPID"
while lc_alive "$WPID"; do sleep 0.2; done
cat "$LC_LOGDIR/wrk.log"
grep -q 'requests in' "$LC_LOGDIR/wrk.log" || fail "wrk did not run"
grep -Eq 'Non-2xx|Socket errors' "$LC_LOGDIR/wrk.log" && fail "requests failed during reload"
grep -q "generation 3" "$LC_LOGDIR/laconic.log" || fail "reloads not applied"

# Maglev stability: with b3 removed only b3's users moved; with it back, all return.
moved_other=$(join "$LC_TMP/map1" "$LC_TMP/map2" | awk '$2 != "b3" && $2 != $3' | wc -l)
moved_b3=$(join "$LC_TMP/map1" "$LC_TMP/map2" | awk '$2 == "b3" && $3 == "b3"' | wc -l)
echo "maglev: users of b1/b2 that moved: $moved_other; users of b3 left on b3: $moved_b3"
[ "$moved_other" -eq 0 ] || fail "maglev moved $moved_other users of staying backends"
[ "$moved_b3" -eq 0 ] || fail "users still on the removed backend"
sleep 0.5
map_users >"$LC_TMP/map3"
cmp -s "$LC_TMP/map1" "$LC_TMP/map3" || fail "maglev mapping not restored"

# 4. Graceful stop during a slow-ish load: exit 0, wrk sees no errors.
lc_spawn --log "$LC_LOGDIR/wrk2.log" client wrk -t1 -c10 -d2s "http://$LB/1m"
WPID=$LC_LAST_PID
sleep 1
lc_stop "$LPID" 15
st=0
lc_wait "$LPID" || st=$?
[ "$st" = 0 ] || fail "laconic exit status $st"
while lc_alive "$WPID"; do sleep 0.2; done

# 5. A SIGHUP while draining: the reload is taken, the listeners stay shut.
# A download at 32 KiB/s keeps the drain open while a new connection tries:
# 10 MiB, more than the socket buffers between laconic and curl hold once
# the client's receive buffer is capped (autotuning grows it to 6 MiB,
# which with laconic's 4 MiB send buffer let the whole answer leave and the
# drain end early now and then).
lc_in client sysctl -qw net.ipv4.tcp_rmem="4096 65536 262144"
lc_spawn --log "$LC_LOGDIR/laconic2.log" lb "$LACONIC" -c "$LC_TMP/lb.ini"
LPID=$LC_LAST_PID
lc_wait_port lb "$LB" 80 10 "$LPID"
lc_spawn --log "$LC_LOGDIR/slow.log" client curl -s -o /dev/null --limit-rate 32k "http://$LB/rand10m"
SPID=$LC_LAST_PID
sleep 0.5
# Workers wake at least once a second: the HUP comes after each has begun
# to drain, and the check after each has taken the reload.
kill -TERM "$LPID"
sleep 1.5
kill -HUP "$LPID"
sleep 1.5
lc_alive "$LPID" || fail "laconic stopped draining before the slow download ended"
if lc_in client curl -s -o /dev/null -m 2 "http://$LB/small"; then
	fail "a draining laconic accepted a new connection after a reload"
fi
grep -q "generation 2" "$LC_LOGDIR/laconic2.log" || fail "the reload during the drain was not taken"
kill "$SPID" 2>/dev/null || true
st=0
lc_wait "$LPID" || st=$?
[ "$st" = 0 ] || fail "laconic exit status $st after the drain"
echo PASS
