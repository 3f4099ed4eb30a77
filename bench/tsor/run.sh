#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The TSoR benchmark: kernel TCP over loopback, Unix sockets and TSoR, side
# by side in one run, on the same programs and the same commands (issue 4):
#
#   pingpong  sockbench (bench/tsor/sockbench.c), one connection, messages of
#             64 B .. 64 KiB echoed back: round trip mean, p50, p99 (µs)
#   stream    sockbench, one connection, writes of 64 B .. 64 KiB: GB/s
#   redis     redis-server + redis-benchmark -t get,set --csv, three shapes:
#             -c 50 -P 1, -c 50 -P 16 and -c 1 -P 1: requests/s, p50, p99 (ms)
#   nginx     nginx (1 worker, access_log off, sendfile on) + wrk -t1 -c50
#             keep-alive, GET /small (13 bytes) and /1m (1 MiB): req/s, MiB/s,
#             p50, p99 (ms)
#
# Variants: tcp  = 127.0.0.1, plain kernel TCP;
#           unix = the same servers on a Unix socket (redis --unixsocket,
#                  sockbench --unix); nginx is skipped (wrk cannot connect
#                  to a Unix socket);
#           tsor = exactly the tcp commands, with the server and the client
#                  both started under `tsor run --`. After every tsor test
#                  `tsor stats` must show at least as many new accelerated
#                  connections as the test opened and no new fallback;
#                  otherwise the cell is marked "!", an ERROR is printed and
#                  the script exits 1 at the end (a silent fallback to kernel
#                  TCP would otherwise pass for a TSoR number).
#
# Why this shape: TSoR's claims (2.3x Redis throughput, 64 % lower latency)
# are relative to kernel TCP on the same host, so every number here is a
# ratio to tcp measured minutes apart in the same run. The server is pinned
# to one CPU and the client to the other (taskset): on 2 vCPUs a spinning
# waiter that shares a CPU with its peer would measure the scheduler, not
# the transport. Repetitions are interleaved (each repetition runs every
# variant, in rotated order, with fresh servers), and the table shows
# medians over repetitions, so slow drift on a shared machine hits all
# variants alike. Machine-wide CPU busy time is recorded per test, since a
# transport that spins can win latency by burning a core.
#
#   bench/tsor/run.sh [--quick] [--runs N] [--build-dir DIR] [--only LIST]
#                     [--tests LIST] [--tsor PATH]
#
#   --quick       1 repetition, short tests (about 1/4 of the full time)
#   --runs N      repetitions (default 3; 1 with --quick)
#   --build-dir   a release build directory (default build/release, or
#                 $BUILD_DIR): sockbench is DIR/bench/tsor/sockbench and tsor
#                 DIR/tsor/tsor. Nothing is built here: cmake --preset release
#                 && cmake --build --preset release --target sockbench (and tsor)
#   --only        variants, comma-separated subset of tcp,unix,tsor (default
#                 all three; tsor is dropped with a note when its binary is
#                 missing, and is an error if asked for explicitly)
#   --tests       comma-separated subset of pingpong,stream,redis,nginx
#   --tsor        the tsor binary (default DIR/tsor/tsor, or $TSOR)
#
# Environment: SERVER_CPU, CLIENT_CPU (default 0 and 1), KEEP_TMP=1 keeps the
# temporary directory (configs, server logs). Needs redis-server,
# redis-tools, nginx, wrk, curl, python3 (scripts/deps.sh installs them).
# About 6 minutes at the defaults with all variants, under 2 with --quick.
# Results: stdout and bench/results/tsor-<date>.txt (raw per-run lines,
# every tool's output, the generated nginx config, the table).
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD
# shellcheck source=bench/lib.sh
. bench/lib.sh

usage() { sed -n '/^#   bench\/tsor\/run.sh/,/^#   --tsor/p' "$0" | sed 's/^# \{0,1\}//'; }
die() {
	echo "run.sh: $*" >&2
	exit 1
}

quick=0 runs="" build_dir=${BUILD_DIR:-build/release} only="" tests="" tsor_bin=${TSOR:-}
while [ $# -gt 0 ]; do
	case $1 in
	--quick) quick=1; shift ;;
	--runs) runs=${2:?--runs needs a number}; shift 2 ;;
	--build-dir) build_dir=${2:?--build-dir needs a directory}; shift 2 ;;
	--only) only=${2:?--only needs a list}; shift 2 ;;
	--tests) tests=${2:?--tests needs a list}; shift 2 ;;
	--tsor) tsor_bin=${2:?--tsor needs a path}; shift 2 ;;
	-h | --help) usage; exit 0 ;;
	*) echo "run.sh: unknown option '$1'" >&2; usage >&2; exit 2 ;;
	esac
done
if [ "$quick" -eq 1 ]; then
	runs=${runs:-1} sock_secs=0.5 redis_n=20000 wrk_dur=2
else
	runs=${runs:-3} sock_secs=1 redis_n=100000 wrk_dur=5
fi
[[ "$runs" =~ ^[1-9][0-9]*$ ]] || { echo "run.sh: bad --runs '$runs'" >&2; exit 2; }
case $build_dir in /*) ;; *) build_dir=$repo/$build_dir ;; esac
sockbench=$build_dir/bench/tsor/sockbench
tsor_bin=${tsor_bin:-$build_dir/tsor/tsor}

sizes=(64 256 1024 4096 16384 65536)
stream_sizes=(64 1024 4096 16384 65536)
server_cpu=${SERVER_CPU:-0} client_cpu=${CLIENT_CPU:-1}

# ---- what to run ---------------------------------------------------------------
variants=() notes=()
if [ -z "$only" ]; then
	variants=(tcp unix tsor)
else
	IFS=, read -ra want <<<"$only"
	for w in "${want[@]}"; do
		case $w in
		tcp | unix | tsor) variants+=("$w") ;;
		*) echo "run.sh: unknown variant '$w' in --only (tcp, unix, tsor)" >&2; exit 2 ;;
		esac
	done
fi
if [ ! -x "$tsor_bin" ]; then
	if [[ " ${variants[*]} " == *" tsor "* ]]; then
		[ -z "$only" ] || die "tsor binary $tsor_bin not found (build the release preset, or pass --tsor PATH)"
		variants=(tcp unix)
	fi
	notes+=("TSoR NOT MEASURED: $tsor_bin not found; running ${variants[*]} only")
	echo "run.sh: NOTE: $tsor_bin not found: TSoR is not measured, running ${variants[*]} only" >&2
elif [[ " ${variants[*]} " != *" tsor "* ]]; then
	notes+=("TSoR not measured: --only ${only}")
fi
all_tests=(pingpong stream redis nginx)
if [ -z "$tests" ]; then
	tests_list=("${all_tests[@]}")
else
	IFS=, read -ra tests_list <<<"$tests"
	for t in "${tests_list[@]}"; do
		[[ " ${all_tests[*]} " == *" $t "* ]] || { echo "run.sh: unknown test '$t' in --tests (${all_tests[*]})" >&2; exit 2; }
	done
fi
want_test() { [[ " ${tests_list[*]} " == *" $1 "* ]]; }

if { want_test pingpong || want_test stream; } && [ ! -x "$sockbench" ]; then
	die "$sockbench not found: cmake --preset release && cmake --build --preset release --target sockbench (or pass --build-dir)"
fi
need=(python3 taskset ss setsid)
want_test redis && need+=(redis-server redis-benchmark redis-cli)
want_test nginx && need+=(nginx wrk curl)
for c in "${need[@]}"; do
	command -v "$c" >/dev/null 2>&1 || die "'$c' not found: run scripts/deps.sh (or leave its test out with --tests)"
done
if [ "$(nproc)" -lt 2 ]; then
	pin_s=() pin_c=()
	notes+=("only $(nproc) CPU: server and client are not pinned apart")
else
	pin_s=(taskset -c "$server_cpu") pin_c=(taskset -c "$client_cpu")
fi

tmp=$(mktemp -d /tmp/bench-tsor.XXXXXX)
srv_pid=""
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
	[ -z "$srv_pid" ] || stop_server
	if [ "${KEEP_TMP:-0}" = 1 ]; then echo "run.sh: kept $tmp" >&2; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A free TCP port on 127.0.0.1, not one a fixed number another user of the
# machine may be sitting on.
# Below the ephemeral range: a port in it can be taken, between tests, as the
# local port of some client's connection (seen: sockbench's bind failing with
# EADDRINUSE in the third repetition, after wrk's connections).
eph_lo=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
[ "$eph_lo" -gt 11000 ] 2>/dev/null || eph_lo=32768
free_port() {
	local p i
	for ((i = 0; i < 200; i++)); do
		p=$((10000 + RANDOM % (eph_lo - 10000)))
		[ -n "$(ss -Hltn "sport = :$p")" ] || { echo "$p"; return 0; }
	done
	die "no free TCP port found"
}
port_sb=$(free_port) port_redis=$(free_port) port_nginx=$(free_port)
while [ "$port_redis" = "$port_sb" ]; do port_redis=$(free_port); done
while [ "$port_nginx" = "$port_sb" ] || [ "$port_nginx" = "$port_redis" ]; do port_nginx=$(free_port); done

mkdir -p bench/results
res=$repo/bench/results/tsor-$(date +%Y%m%d-%H%M%S).txt
: >"$res"

# ---- the machine -----------------------------------------------------------------
load=$(cut -d' ' -f1-3 /proc/loadavg)
say "# tsor benchmark, $(date -u '+%Y-%m-%d %H:%M:%S UTC'), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD 2>/dev/null || echo ' (dirty tree)')"
say "# machine: $(nproc) CPUs, $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo), $(awk '/^MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), kernel $(uname -r)"
say "# load average before starting: $load"
if awk -v l="${load%% *}" 'BEGIN { exit !(l > 0.5) }'; then
	say "# WARNING: 1-minute load average ${load%% *} > 0.5: other work is running; numbers will be noisy"
fi
peers=()
want_test redis && peers+=("$(redis-server --version | sed -n 's/^Redis server v=\([^ ]*\).*/redis-server \1/p')")
want_test nginx && peers+=("$(nginx -v 2>&1 | sed 's/^nginx version: //')" "$({ wrk -v 2>&1 || true; } | head -n1 | cut -d' ' -f1-2)")
[ ${#peers[@]} -eq 0 ] || say "# peers: $(printf '%s, ' "${peers[@]}" | sed 's/, $//')"
say "# pinning: servers on CPU ${pin_s[2]:-any}, clients on CPU ${pin_c[2]:-any} (taskset)"
if [[ " ${variants[*]} " == *" tsor "* ]]; then
	say "# tsor: $tsor_bin"
fi
for n in "${notes[@]}"; do say "# $n"; done
say "# plan: variants ${variants[*]}; tests ${tests_list[*]}; $runs repetition(s); sockbench ${sock_secs} s per size; redis -n $redis_n (-P 16: x10, -c 1: /2); wrk ${wrk_dur} s"

# ---- servers ---------------------------------------------------------------------
# start_server VARIANT NAME CMD...: starts CMD on the server CPU (under
# `tsor run --` for tsor) in a process group of its own, so that stopping it
# also stops whatever `tsor run` forked. Sets srv_pid and srv_log.
start_server() {
	local variant=$1 name=$2 wrap=()
	shift 2
	[ "$variant" != tsor ] || wrap=("$tsor_bin" run --)
	srv_log=$tmp/$name-$variant.log
	setsid "${pin_s[@]}" "${wrap[@]}" "$@" >"$srv_log" 2>&1 </dev/null &
	srv_pid=$!
	note "server ($variant): $(qcmd "${pin_s[@]}" "${wrap[@]}" "$@")"
}

stop_server() {
	local i
	kill -TERM -- "-$srv_pid" 2>/dev/null || true
	for ((i = 0; i < 50; i++)); do
		kill -0 "$srv_pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL -- "-$srv_pid" 2>/dev/null || true
	wait "$srv_pid" 2>/dev/null || true
	srv_pid=""
}

server_failed() { # WHAT
	local log=$srv_log
	stop_server
	die "$1 (server log $log: $(tail -n 5 "$log" | tr '\n' ' '))"
}

# wait_ready WHAT TEST...: runs TEST until it succeeds, for up to 10 s.
wait_ready() {
	local what=$1 i
	shift
	for ((i = 0; i < 100; i++)); do
		"$@" >/dev/null 2>&1 && return 0
		kill -0 "$srv_pid" 2>/dev/null || server_failed "$what exited"
		sleep 0.1
	done
	server_failed "$what did not come up within 10 s"
}
# shellcheck disable=SC2317 # called through wait_ready
tcp_listening() { [ -n "$(ss -Hltn "sport = :$1")" ]; }

# ---- measuring -------------------------------------------------------------------
cpu_snap() { # busy, total and steal jiffies of all CPUs
	awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9, $9; exit }' /proc/stat
}
# CPU ticks used so far by the running server's process group (nginx's worker
# too, and whatever `tsor run` started in it), same unit as /proc/stat.
server_ticks() {
	local p t=0 v
	for p in $(pgrep -g "$srv_pid" 2>/dev/null || true); do
		v=$(awk '{ sub(/.*\) /, ""); split($0, f, " "); print f[12] + f[13] }' "/proc/$p/stat" 2>/dev/null) || v=0
		t=$((t + ${v:-0}))
	done
	echo "$t"
}
# Sets ticks to the CPU ticks of this shell's finished children (the
# clients), from bash's `times`; not to be called in $(...), since a
# subshell starts with no children's time.
client_ticks() {
	times >"$tmp/times"
	ticks=$(awk -v hz="$(getconf CLK_TCK)" 'NR == 2 { for (i = 1; i <= 2; i++) { split($i, a, "m"); s += a[1] * 60 + a[2] }
		printf "%.0f\n", s * hz }' "$tmp/times")
}

failed=0
stats_b=""
tsor_stats() { "$tsor_bin" stats 2>&1; }

# measure VARIANT EXPECT_CONNS CMD...: runs CMD on the client CPU (under
# `tsor run --` for tsor), output in $out, exit status in $rc; sets $extra
# to the key=value fields every run line gets (CPU, and for tsor the
# connection counters from `tsor stats`).
measure() {
	local variant=$1 expect=$2 wrap=() c0 c1 s0 s1 k0 k1 delta acc fb
	shift 2
	rc=0 extra=""
	if [ "$variant" = tsor ]; then
		wrap=("$tsor_bin" run --)
		stats_b=$(tsor_stats) || die "tsor stats failed: $stats_b"
	fi
	s0=$(server_ticks)
	client_ticks
	k0=$ticks
	c0=$(cpu_snap)
	out=$("${pin_c[@]}" "${wrap[@]}" "$@" 2>&1) || rc=$?
	c1=$(cpu_snap)
	client_ticks
	k1=$ticks
	s1=$(server_ticks)
	# Busy time of all CPUs, and the part that was not this test's server or
	# client (other users of the machine, kernel threads; a separately started
	# tsord), as % of all CPUs' time.
	extra=$(awk -v a="$c0" -v b="$c1" -v ours=$((s1 - s0 + k1 - k0)) 'BEGIN { split(a, x); split(b, y)
		t = y[2] - x[2]; if (t <= 0) t = 1; busy = 100 * (y[1] - x[1]) / t; o = busy - 100 * ours / t
		printf "cpu_pct=%.0f other_pct=%.0f steal_pct=%.1f", busy, o < 0 ? 0 : o, 100 * (y[3] - x[3]) / t }')
	[ "$variant" = tsor ] || return 0
	local stats_a
	stats_a=$(tsor_stats) || die "tsor stats failed: $stats_a"
	# Every counter's change over the test, "name delta" a line.
	delta=$(awk 'NR == FNR { if ($2 ~ /^[0-9]+$/) b[$1] = $2; next }
		$2 ~ /^[0-9]+$/ { print $1, $2 - ($1 in b ? b[$1] : 0) }' <(printf '%s\n' "$stats_b") <(printf '%s\n' "$stats_a"))
	note "tsor stats change: $(tr '\n' ' ' <<<"$delta")"
	acc=$(awk '$1 == "tsor_connections_accelerated" { print $2; f = 1 } END { if (!f) print "none" }' <<<"$delta")
	fb=$(awk '$1 ~ /^tsor_connections_fallback/ { s += $2 } END { print s + 0 }' <<<"$delta")
	extra+=" accel=$acc fallback=$fb"
	if [ "$acc" = none ]; then
		extra+=" accel_ok=0"
		say "ERROR: \`tsor stats\` prints no tsor_connections_accelerated line: cannot prove acceleration: $(tr '\n' ' ' <<<"$stats_a")"
		failed=1
	elif [ "$acc" -lt "$expect" ] || [ "$fb" -gt 0 ]; then
		extra+=" accel_ok=0"
		say "ERROR: NOT ACCELERATED: $* opened $expect connection(s), tsor stats counted $acc accelerated and $fb fallback"
		failed=1
	else
		extra+=" accel_ok=1"
	fi
}

run_line() { # REP VARIANT TEST FIELDS...
	local rep=$1 variant=$2 test=$3
	shift 3
	printf 'run rep=%d variant=%s test=%s %s\n' "$rep" "$variant" "$test" "$*" >>"$res"
}

fail_run() { # REP VARIANT TEST: a client that failed is an error, never a number
	say "ERROR: $2 $3 rep $1 failed (exit $rc): $(tail -n 3 <<<"$out" | tr '\n' ' ')"
	failed=1
}

# ---- sockbench -------------------------------------------------------------------
run_sockbench() { # REP VARIANT
	local rep=$1 variant=$2 target=() s kv
	if [ "$variant" = unix ]; then
		target=(--unix "$tmp/sockbench.sock")
	else
		target=(--tcp "127.0.0.1:$port_sb")
	fi
	start_server "$variant" sockbench "$sockbench" server "${target[@]}"
	wait_ready "sockbench server" grep -q '^sockbench listening' "$srv_log"
	if want_test pingpong; then
		for s in "${sizes[@]}"; do
			measure "$variant" 1 "$sockbench" pingpong "${target[@]}" --size "$s" --seconds "$sock_secs"
			[ "$rep" -gt 1 ] || note "client ($variant): $(qcmd "${pin_c[@]}" "$sockbench" pingpong "${target[@]}" --size "$s" --seconds "$sock_secs")"
			note "$out"
			kv=$(grep '^sockbench mode=pingpong' <<<"$out" | cut -d' ' -f2-) || true
			if [ "$rc" -ne 0 ] || [ -z "$kv" ]; then fail_run "$rep" "$variant" "pingpong-$s"; continue; fi
			run_line "$rep" "$variant" "pingpong-$s" "$kv $extra"
			printf '  rep %d  %-4s  pingpong %6d B  %s\n' "$rep" "$variant" "$s" \
				"$(tr ' ' '\n' <<<"$kv" | grep -E '^rtt_(mean|p50|p99)_us=' | tr '\n' ' ')$extra"
		done
	fi
	if want_test stream; then
		for s in "${stream_sizes[@]}"; do
			measure "$variant" 1 "$sockbench" stream "${target[@]}" --size "$s" --seconds "$sock_secs"
			[ "$rep" -gt 1 ] || note "client ($variant): $(qcmd "${pin_c[@]}" "$sockbench" stream "${target[@]}" --size "$s" --seconds "$sock_secs")"
			note "$out"
			kv=$(grep '^sockbench mode=stream' <<<"$out" | cut -d' ' -f2-) || true
			if [ "$rc" -ne 0 ] || [ -z "$kv" ]; then fail_run "$rep" "$variant" "stream-$s"; continue; fi
			run_line "$rep" "$variant" "stream-$s" "$kv $extra"
			printf '  rep %d  %-4s  stream   %6d B  %s %s\n' "$rep" "$variant" "$s" \
				"$(tr ' ' '\n' <<<"$kv" | grep '^gb_per_s=')" "$extra"
		done
	fi
	kill -0 "$srv_pid" 2>/dev/null || server_failed "sockbench server ($variant) died during the run"
	stop_server
}

# ---- redis -----------------------------------------------------------------------
# parse_redis_csv: "OP rps p50_ms p99_ms avg_ms" lines from redis-benchmark --csv.
parse_redis_csv() {
	awk -F, '{ gsub(/"/, "") } $1 == "SET" || $1 == "GET" { print $1, $2, $5, $7, $3 }'
}

run_redis() { # REP VARIANT
	local rep=$1 variant=$2 conn=() srv=() shape c p n op rps p50 p99 avg lines
	if [ "$variant" = unix ]; then
		conn=(-s "$tmp/redis.sock")
	else
		conn=(-h 127.0.0.1 -p "$port_redis")
	fi
	srv=(redis-server --save '' --appendonly no --port "$port_redis" --bind 127.0.0.1
		--unixsocket "$tmp/redis.sock" --unixsocketperm 700 --daemonize no --dir "$tmp")
	start_server "$variant" redis "${srv[@]}"
	if [ "$variant" = unix ]; then
		wait_ready redis-server test -S "$tmp/redis.sock"
	else
		wait_ready redis-server tcp_listening "$port_redis"
	fi
	# One command through the same path the benchmark takes (under tsor too).
	measure "$variant" 1 redis-cli "${conn[@]}" ping
	[ "$out" = PONG ] || server_failed "redis-cli ${conn[*]} ping answered '$out', not PONG"
	for shape in c50-P1 c50-P16 c1-P1; do
		case $shape in
		c50-P1) c=50 p=1 n=$redis_n ;;
		c50-P16) c=50 p=16 n=$((redis_n * 10)) ;;
		c1-P1) c=1 p=1 n=$((redis_n / 2)) ;;
		esac
		measure "$variant" "$c" redis-benchmark "${conn[@]}" -t get,set -n "$n" -c "$c" -P "$p" --csv
		[ "$rep" -gt 1 ] || note "client ($variant): $(qcmd "${pin_c[@]}" redis-benchmark "${conn[@]}" -t get,set -n "$n" -c "$c" -P "$p" --csv)"
		note "$out"
		lines=$(parse_redis_csv <<<"$out")
		if [ "$rc" -ne 0 ] || [ "$(wc -l <<<"$lines")" -ne 2 ]; then
			fail_run "$rep" "$variant" "redis-$shape"
			continue
		fi
		while read -r op rps p50 p99 avg; do
			run_line "$rep" "$variant" "redis-$op-$shape" "rps=$rps p50_ms=$p50 p99_ms=$p99 avg_ms=$avg $extra"
			printf '  rep %d  %-4s  redis %s %-7s %10.0f req/s  p50 %6.3f ms  p99 %6.3f ms  %s\n' \
				"$rep" "$variant" "$op" "$shape" "$rps" "$p50" "$p99" "$extra"
		done <<<"$lines"
	done
	kill -0 "$srv_pid" 2>/dev/null || server_failed "redis-server ($variant) died during the run"
	stop_server
}

# ---- nginx -----------------------------------------------------------------------
nginx_conf() { # DIR
	cat <<EOF
worker_processes 1;
daemon off;
master_process on;
user root;
pid $1/nginx.pid;
error_log $1/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    server_tokens off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 100000;
    default_type application/octet-stream;
    client_body_temp_path $1/tmp/body;
    proxy_temp_path $1/tmp/proxy;
    fastcgi_temp_path $1/tmp/fastcgi;
    uwsgi_temp_path $1/tmp/uwsgi;
    scgi_temp_path $1/tmp/scgi;
    server {
        listen 127.0.0.1:$port_nginx;
        listen unix:$1/nginx.sock;
        root $1/www;
    }
}
EOF
}


nginx_dir=""
setup_nginx() {
	nginx_dir=$tmp/nginx
	mkdir -p "$nginx_dir/www" "$nginx_dir/tmp"
	printf 'Hello, world!' >"$nginx_dir/www/small"
	head -c 1048576 /dev/urandom >"$nginx_dir/www/1m"
	nginx_conf "$nginx_dir" >"$nginx_dir/nginx.conf"
	note "nginx.conf:"
	note "$(cat "$nginx_dir/nginx.conf")"
}

run_nginx() { # REP VARIANT
	local rep=$1 variant=$2 url f kv sum
	[ -n "$nginx_dir" ] || setup_nginx
	start_server "$variant" nginx nginx -p "$nginx_dir" -c "$nginx_dir/nginx.conf" -e "$nginx_dir/error.log"
	wait_ready nginx tcp_listening "$port_nginx"
	# The right bytes, over the path the benchmark takes (and the Unix listener too).
	measure "$variant" 1 curl -fsS -m 5 "http://127.0.0.1:$port_nginx/small"
	[ "$out" = "Hello, world!" ] || server_failed "GET /small answered '$out'"
	sum=$(curl -fsS -m 10 --unix-socket "$nginx_dir/nginx.sock" http://localhost/1m | sha256sum | cut -d' ' -f1)
	[ "$sum" = "$(sha256sum <"$nginx_dir/www/1m" | cut -d' ' -f1)" ] || server_failed "GET /1m over the Unix socket has the wrong checksum"
	# wrk first connects once to check the address and closes that connection
	# before sending a byte: tsor_connections_unused, not a fallback.
	# Warm-up: nginx's first requests open files and fault pages in.
	measure "$variant" 50 wrk -t1 -c50 -d1s "http://127.0.0.1:$port_nginx/small"
	for f in small 1m; do
		url=http://127.0.0.1:$port_nginx/$f
		measure "$variant" 50 wrk -t1 -c50 "-d${wrk_dur}s" --latency "$url"
		[ "$rep" -gt 1 ] || note "client ($variant): $(qcmd "${pin_c[@]}" wrk -t1 -c50 "-d${wrk_dur}s" --latency "$url")"
		note "$out"
		kv=$(parse_wrk <<<"$out")
		if [ "$rc" -ne 0 ] || [[ "$kv" == requests=0\ * ]]; then fail_run "$rep" "$variant" "nginx-$f"; continue; fi
		run_line "$rep" "$variant" "nginx-$f" "$kv $extra"
		printf '  rep %d  %-4s  nginx /%-5s  %s %s\n' "$rep" "$variant" "$f" "$kv" "$extra"
		[[ "$kv" == *" sock_err=0 non2xx=0" ]] || { say "ERROR: wrk reported errors for $variant nginx-$f: $kv"; failed=1; }
	done
	kill -0 "$srv_pid" 2>/dev/null || server_failed "nginx ($variant) died during the run"
	stop_server
}

# ---- the runs --------------------------------------------------------------------
say ""
say "# runs (rep, variant, test); every tool's output is in $res"
for ((rep = 1; rep <= runs; rep++)); do
	n=${#variants[@]}
	for ((k = 0; k < n; k++)); do
		v=${variants[$(((k + rep - 1) % n))]} # rotated order, against drift
		if want_test pingpong || want_test stream; then run_sockbench "$rep" "$v"; fi
		if want_test redis; then run_redis "$rep" "$v"; fi
		if want_test nginx; then
			if [ "$v" = unix ]; then
				[ "$rep" -gt 1 ] || say "# nginx/unix: skipped (wrk cannot connect to a Unix socket)"
			else
				run_nginx "$rep" "$v"
			fi
		fi
	done
done

# ---- the table -------------------------------------------------------------------
table=$(python3 - "$res" <<'PY'
import statistics
import sys

runs = {}
for line in open(sys.argv[1]):
    if not line.startswith("run "):
        continue
    kv = dict(f.split("=", 1) for f in line.split()[1:])
    runs.setdefault((kv["test"], kv["variant"]), []).append(kv)

VARIANTS = ("tcp", "unix", "tsor")


def med(test, variant, key):
    rows = runs.get((test, variant), [])
    vals = [float(r[key]) for r in rows if key in r]
    return statistics.median(vals) if vals else None


def suspect(test, variant):
    return any(r.get("accel_ok") == "0" for r in runs.get((test, variant), []))


def nruns(test):
    ns = {len(runs.get((test, v), [])) for v in VARIANTS} - {0}
    return "/".join(str(n) for n in sorted(ns)) or "0"


def fmt(v, digits):
    return "-" if v is None else "%.*f" % (digits, v)


def ratio(a, b):
    return "-" if a is None or b is None or b == 0 else "%.2fx" % (a / b)


# (test, label, key, digits, target kind)
rows = []
for s in (64, 256, 1024, 4096, 16384, 65536):
    t = "pingpong-%d" % s
    rows.append((t, "pingpong %s B RTT mean us" % s, "rtt_mean_us", 1, None))
    rows.append((t, "pingpong %s B RTT p50 us" % s, "rtt_p50_us", 1, "rtt64" if s == 64 else None))
    rows.append((t, "pingpong %s B RTT p99 us" % s, "rtt_p99_us", 1, "p99"))
for s in (64, 1024, 4096, 16384, 65536):
    rows.append(("stream-%d" % s, "stream %s B GB/s" % s, "gb_per_s", 3, "stream64k" if s == 65536 else None))
for shape in ("c50-P1", "c50-P16", "c1-P1"):
    for op in ("SET", "GET"):
        t = "redis-%s-%s" % (op, shape)
        rows.append((t, "redis %s %s req/s" % (op, shape), "rps", 0, "redis" if shape == "c50-P1" else None))
        rows.append((t, "redis %s %s p50 ms" % (op, shape), "p50_ms", 3, None))
        rows.append((t, "redis %s %s p99 ms" % (op, shape), "p99_ms", 3, "p99"))
for f in ("small", "1m"):
    t = "nginx-%s" % f
    rows.append((t, "nginx /%s req/s" % f, "rps", 0, None))
    if f == "1m":
        # wrk prints Transfer/sec with three digits ("1.00GB"); req/s x 1 MiB is exact.
        rows.append((t, "nginx /1m body MiB/s", "rps", 0, None))
    rows.append((t, "nginx /%s p50 ms" % f, "p50_ms", 3, None))
    rows.append((t, "nginx /%s p99 ms" % f, "p99_ms", 3, "p99"))


def target(kind, tcp, unix, tsor):
    if kind is None:
        return ""
    goal = {"redis": ">=2.5x tcp, >=1.5x unix", "rtt64": "<=0.30x tcp", "stream64k": ">=3x tcp",
            "p99": "<=1.00x tcp"}[kind]
    if tsor is None or tcp is None:
        return goal
    if kind == "redis":
        ok = tsor >= 2.5 * tcp and (unix is None or tsor >= 1.5 * unix)
    elif kind == "rtt64":
        ok = tsor <= 0.30 * tcp
    elif kind == "stream64k":
        ok = tsor >= 3 * tcp
    else:
        ok = tsor <= tcp
    return "%s %s" % (goal, "PASS" if ok else "FAIL")


hdr = ("test", "tcp", "unix", "tsor", "unix/tcp", "tsor/tcp", "tsor/unix", "n", "target (tsor)")
out = []
verdicts = []
for test, label, key, digits, kind in rows:
    vals = {v: med(test, v, key) for v in VARIANTS}
    if all(x is None for x in vals.values()):
        continue
    cells = {v: fmt(vals[v], digits) + ("!" if suspect(test, v) and vals[v] is not None else "")
             for v in VARIANTS}
    tg = target(kind, vals["tcp"], vals["unix"], vals["tsor"])
    if tg and suspect(test, "tsor"):
        tg = (tg.rsplit(" ", 1)[0] if tg.endswith(("PASS", "FAIL")) else tg) + " NOT ACCELERATED"
    if tg.endswith(("PASS", "FAIL", "NOT ACCELERATED")):
        verdicts.append(tg.endswith("PASS"))
    out.append((label, cells["tcp"], cells["unix"], cells["tsor"], ratio(vals["unix"], vals["tcp"]),
                ratio(vals["tsor"], vals["tcp"]), ratio(vals["tsor"], vals["unix"]), nruns(test), tg))
if not out:
    print("(no results)")
    sys.exit(0)
w = [max(len(str(r[i])) for r in out + [hdr]) for i in range(len(hdr))]
line = lambda r: "  ".join(str(c).ljust(w[i]) if i in (0, len(hdr) - 1) else str(c).rjust(w[i])
                           for i, c in enumerate(r)).rstrip()
print(line(hdr))
print("  ".join("-" * x for x in w))
last = None
for r in out:
    group = r[0].split()[0]
    if last is not None and group != last:
        print()
    print(line(r))
    last = group

# Machine CPU during each test: a spinning transport shows up here.
tests = []
for test, *_ in rows:
    if test not in tests and any((test, v) in runs for v in VARIANTS):
        tests.append(test)
print()
print("CPU during each test, % of all CPUs' time (median): busy = the whole machine,")
print("other = busy time that was not this test's server or client (other users, kernel threads)")
cw = max(len(t) for t in tests)
print("  ".join([" " * cw] + ["%12s" % ("%s busy/other" % v) for v in VARIANTS]))
noisy = []
for t in tests:
    cells = []
    for v in VARIANTS:
        b, o = med(t, v, "cpu_pct"), med(t, v, "other_pct")
        cells.append("%12s" % ("-" if b is None else "%s/%s" % (fmt(b, 0), fmt(o, 0))))
        if o is not None and o > 10:
            noisy.append("%s/%s" % (v, t))
    print("  ".join([t.ljust(cw)] + cells))
if noisy:
    cells = sum(1 for t in tests for v in VARIANTS if med(t, v, "other_pct") is not None)
    print("\nWARNING: more than 10%% of the CPU went to work outside the test during %s;"
          " those numbers are suspect: rerun on an idle machine"
          % ("every test" if len(noisy) == cells else ", ".join(noisy)))
steal = [float(r["steal_pct"]) for rs in runs.values() for r in rs if "steal_pct" in r]
if steal and statistics.median(steal) > 2:
    print("\nWARNING: the hypervisor took a median %.1f%% of CPU time (steal) during the tests; expect noise"
          % statistics.median(steal))
if verdicts:
    print("\ntargets: %d of %d met" % (sum(verdicts), len(verdicts)))
PY
)
say ""
say "# medians over repetitions. Ratios are value / value (variant over tcp or unix), so"
say "# >1 is more throughput or a longer latency. RTT = sockbench round trip (write of the"
say "# message to the last byte of the echo), µs; redis p50/p99 and nginx p50/p99 are the tools'"
say "# own per-request latencies, ms. \"!\" = TSoR did not accelerate every connection of"
say "# that test (see the ERROR lines). n = repetitions with a result."
say "$table"
if [ "$failed" -ne 0 ]; then
	say ""
	say "# ERRORS above: some runs failed or were not accelerated by TSoR; those cells are not TSoR numbers"
fi
say "# raw results: $res"
exit "$failed"
