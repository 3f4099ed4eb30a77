#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The laconic benchmark: laconic (proxy and splice modes) against tuned nginx
# and HAProxy, in one run, on one topology, with the same offload settings:
#
#   ns client (wrk) --veth-- ns lb (the LB under test) --veth-- ns backend
#                                                        (3 nginx backends)
#
# Why this shape: comparing an LB with its peers is only meaningful on the
# same machine, in the same run, against peers tuned as their users tune
# them (nginx with upstream keep-alive, HAProxy with http-reuse always), and
# per CPU spent rather than raw req/s, since on 2 vCPUs wrk, the backends
# and the LB all compete for the same cores. So for every (LB, case) this
# records req/s, MiB/s, p50/p99 latency (wrk --latency), the LB's own CPU
# (its cgroup, joined before it starts serving) and the whole machine's CPU
# (/proc/stat busy time: user+nice+system+irq+softirq, which includes wrk,
# the backends and the veth softirq work that the kernel charges to whoever
# happens to be running), each per request. Repetitions are interleaved (in
# each repetition every LB is started fresh, in rotated order, warmed up
# for 1 s, runs the four cases, and is stopped); medians are reported.
#
# Cases: small  = GET /small (13-byte body), keep-alive
#        close  = GET /small with `Connection: close` (a new TCP connection
#                 per request, client to LB; wrk times from the request write,
#                 so the connect is not in its latency)
#        1m     = GET /1m (1 MiB body), keep-alive
#        paced  = GET /small, keep-alive, every connection pausing --pace ms
#                 after each answer (bench/laconic/paced.lua): the same
#                 offered load (at most conns/pace, 12 500 req/s by default)
#                 for every balancer, below each one's saturation point, so
#                 latencies compare at equal load; the other cases measure
#                 each balancer at its own maximum
#        pacedclose = the same with `Connection: close`, pausing twice as
#                 long (a one-shot request costs about twice a keep-alive
#                 one: at most conns/(2*pace), 6 250 req/s by default); the
#                 pause falls between the connect and the request
# wrk: -t1 -c50 (--conns) -d${DUR}s --latency, in the client namespace.
#
#   bench/laconic/run.sh [--quick] [--build-dir DIR] [--base BIN] [--only LB,...]
#                        [--cases C,...] [--reps N] [--dur SECONDS] [--conns N] [--pace MS]
#
#   --quick        1 repetition of 3 s (default: 3 repetitions of $DUR or 8 s)
#   --conns        wrk's connections (default 50). wrk keeps them all busy,
#                  so latency is measured at each balancer's own saturation
#                  point; fewer connections compare latency at lighter load
#   --pace         the paced case's pause after each answer (default 4 ms;
#                  pacedclose pauses twice that)
#   --build-dir    where laconic was built (default build/release; the binary
#                  is DIR/laconic/laconic); entries are skipped with a note if
#                  it is missing or refuses a mode
#   --base         another laconic binary (say, main's, before a change) to run
#                  beside this one, interleaved in the same run: --only
#                  base-proxy, base-splice, base-agent or base-splice1 name
#                  its entries. A/B runs this way see the same machine noise
#   --only         a comma-separated subset of: nginx, haproxy, laconic-proxy,
#                  laconic-splice, laconic-agent (splice mode with
#                  splice_oneshot_agent = on: `Connection: close` requests
#                  never get a kernel socket; laconic = all three),
#                  haproxy-splice (HAProxy
#                  with `option splice-auto`; only when asked for),
#                  laconic-splice1 (splice mode with splice_oneshot = on, so
#                  that `Connection: close` requests are spliced rather than
#                  proxied; only when asked for), l4nat (no balancer
#                  process: nftables DNAT round robin + masquerade in the
#                  balancer's namespace, the kernel's own L4 forwarding with
#                  conntrack; a control for latency, whose CPU is all softirq
#                  charged to the senders, so only its total us/req counts;
#                  only when asked for)
#   --cases        a comma-separated subset of: small, close, 1m, paced,
#                  pacedclose (default: all)
#
# Environment: DUR (seconds per run when not --quick), BENCH_NO_TCP_OPTS=1
# (TCP timestamps and SACK off in the balancer's namespace), BENCH_NGINX_EXTRA
# (directives added to nginx's proxy location, to try variants; by default
# nginx buffers 1 MiB answers to a temp file and sendfile()s it, which was
# its fastest setting here: proxy_max_temp_file_size 0 cost 1.4x CPU per
# request and proxy_buffering off 3x).
#
# Needs root (namespaces, cgroups). Runs in about 14 minutes at the defaults
# for the four balancers (16 with l4nat). Results: stdout and bench/results/laconic-<date>.txt
# (raw per-run lines, every wrk output, the generated configs, the table).
# shellcheck source-path=SCRIPTDIR/../..
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD
# shellcheck source=bench/lib.sh
. bench/lib.sh

usage() { sed -n '/^#   bench\/laconic\/run.sh/,/^# Needs root/p' "$0" | sed 's/^# \{0,1\}//'; }
steal_usec() { # CPU time the hypervisor gave to others, all CPUs, in µs
	awk -v hz="$(getconf CLK_TCK)" '$1 == "cpu" { printf "%.0f\n", $9 * 1000000 / hz; exit }' /proc/stat
}

quick=0 build_dir=build/release base_bin="" only="" only_cases="" reps="" dur="" conns=50 pace=4
while [ $# -gt 0 ]; do
	case $1 in
	--quick) quick=1; shift ;;
	--build-dir) build_dir=${2:?--build-dir needs a directory}; shift 2 ;;
	--only) only=${2:?--only needs a list}; shift 2 ;;
	--base) base_bin=${2:?--base needs a laconic binary}; shift 2 ;;
	--cases) only_cases=${2:?--cases needs a list}; shift 2 ;;
	--reps) reps=${2:?--reps needs a number}; shift 2 ;;
	--dur) dur=${2:?--dur needs seconds}; shift 2 ;;
	--conns) conns=${2:?--conns needs a number}; shift 2 ;;
	--pace) pace=${2:?--pace needs milliseconds}; shift 2 ;;
	-h | --help) usage; exit 0 ;;
	*) echo "run.sh: unknown option '$1'" >&2; usage >&2; exit 2 ;;
	esac
done
if [ "$quick" -eq 1 ]; then
	reps=${reps:-1} dur=${dur:-3}
else
	reps=${reps:-3} dur=${dur:-${DUR:-8}}
fi
[[ "$reps" =~ ^[1-9][0-9]*$ ]] || { echo "run.sh: bad --reps '$reps'" >&2; exit 2; }
[[ "$dur" =~ ^[1-9][0-9]*$ ]] || { echo "run.sh: bad --dur '$dur'" >&2; exit 2; }
[[ "$conns" =~ ^[1-9][0-9]*$ ]] || { echo "run.sh: bad --conns '$conns'" >&2; exit 2; }
[[ "$pace" =~ ^[1-9][0-9]*$ ]] || { echo "run.sh: bad --pace '$pace'" >&2; exit 2; }
case $build_dir in /*) ;; *) build_dir=$repo/$build_dir ;; esac
laconic_bin=$build_dir/laconic/laconic

all_lbs=(nginx haproxy laconic-proxy laconic-splice laconic-agent)
lbs=()
if [ -z "$only" ]; then
	lbs=("${all_lbs[@]}")
else
	IFS=, read -ra want <<<"$only"
	for w in "${want[@]}"; do
		case $w in
		nginx | haproxy | haproxy-splice | laconic-proxy | laconic-splice | laconic-agent | laconic-splice1 | l4nat) lbs+=("$w") ;;
		base-proxy | base-splice | base-agent | base-splice1)
			[ -n "$base_bin" ] || { echo "run.sh: --only $w needs --base BINARY" >&2; exit 2; }
			lbs+=("$w") ;;
		laconic) lbs+=(laconic-proxy laconic-splice laconic-agent) ;;
		*) echo "run.sh: unknown LB '$w' in --only (nginx, haproxy, haproxy-splice, laconic-proxy, laconic-splice, laconic-agent, laconic-splice1, l4nat, laconic)" >&2; exit 2 ;;
		esac
	done
fi
all_cases=(small close 1m paced pacedclose)
cases=("${all_cases[@]}")
if [ -n "$only_cases" ]; then
	IFS=, read -ra cases <<<"$only_cases"
	for c in "${cases[@]}"; do
		case " ${all_cases[*]} " in
		*" $c "*) ;;
		*) echo "run.sh: unknown case '$c' in --cases (${all_cases[*]})" >&2; exit 2 ;;
		esac
	done
fi
lb_port=80
wrk_args=(-t1 "-c$conns" "-d${dur}s" --latency)

# shellcheck source=tests/integration/laconic/lib.sh
. "$repo/tests/integration/laconic/lib.sh"
lc_need_root
lc_need_cmd wrk nginx haproxy curl python3 ethtool sha256sum bpftool
case " ${lbs[*]} " in *" l4nat "*) lc_need_cmd nft ;; esac

mkdir -p bench/results
res=$repo/bench/results/laconic-$(date +%Y%m%d-%H%M%S).txt
: >"$res"

# ---- the machine -------------------------------------------------------------
load=$(cut -d' ' -f1-3 /proc/loadavg)
say "# laconic benchmark, $(date -u '+%Y-%m-%d %H:%M:%S UTC'), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD 2>/dev/null || echo ' (dirty tree)')"
say "# machine: $(nproc) CPUs, $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo), kernel $(uname -r)"
say "# load average before starting: $load"
if awk -v l="${load%% *}" 'BEGIN { exit !(l > 0.5) }'; then
	say "# WARNING: 1-minute load average ${load%% *} > 0.5: other work is running; numbers will be noisy"
fi
say "# peers: $(nginx -v 2>&1 | sed 's/^nginx version: //'), $(haproxy -v 2>/dev/null | head -n1 | cut -d' ' -f1-3), $(wrk -v 2>&1 | head -n1 | cut -d' ' -f1-2)"
say "# plan: LBs ${lbs[*]}; cases ${cases[*]}; $reps repetition(s) of ${dur} s; wrk ${wrk_args[*]}; paced: $pace ms pause"

# ---- the test bed --------------------------------------------------------------
lc_topology 3
# Every namespace keeps the kernel's default TCP options (timestamps and SACK
# on), which splice mode translates: all balancers run with the settings
# their users have. BENCH_NO_TCP_OPTS=1 turns both off in the balancer's
# namespace (how splice mode ran before it translated them).
if [ -n "${BENCH_NO_TCP_OPTS:-}" ]; then
	lc_in lb sysctl -qw net.ipv4.tcp_timestamps=0 net.ipv4.tcp_sack=0
fi
# BPF run-time statistics, for the fast path's CPU (bpf_usec); restored at exit.
bpf_stats_was=$(sysctl -n kernel.bpf_stats_enabled 2>/dev/null || echo "")
if [ -n "$bpf_stats_was" ]; then
	sysctl -qw kernel.bpf_stats_enabled=1
	lc_atexit "sysctl -qw kernel.bpf_stats_enabled=$bpf_stats_was"
fi
# The test bed (backends and wrk) gets a cgroup too: whole-machine CPU minus
# the LB's and the bed's is work nobody here asked for (other users of the
# machine, kernel threads), reported as "other%" to flag noisy runs.
bed=none
if lc_cgroup_new bed; then
	bed=$LC_LAST_CGROUP
	LC_SPAWN_CGROUP=$bed
fi
for i in 1 2 3; do
	lc_nginx_backend "b$i" "${LC_BACKEND_IPS[$((i - 1))]}" 80
done
LC_SPAWN_CGROUP=""
say "# topology: client $LC_CLIENT_IP -> lb $LC_LB_IP:$lb_port -> nginx backends ${LC_BACKEND_IPS[*]} (port 80, 1 worker each)"
say "# veth offloads: $LC_OFFLOADS_SUMMARY"
note "$LC_OFFLOADS"

backend_servers="" nginx_servers=""
backend_args=()
for i in 1 2 3; do
	backend_servers+="    server b$i ${LC_BACKEND_IPS[$((i - 1))]}:80"$'\n'
	nginx_servers+="        server ${LC_BACKEND_IPS[$((i - 1))]}:80;"$'\n'
	backend_args+=(--backend "${LC_BACKEND_IPS[$((i - 1))]}:80")
done

# nginx as a tuned reverse proxy: upstream keep-alive (without it nginx opens
# a backend connection per request and is ~3x slower: a strawman), HTTP/1.1
# upstream, no access log, one worker. X-Forwarded-For as a real LB adds it.
nginx_conf() { # DIR
	cat <<EOF
worker_processes 1;
daemon off;
master_process on;
user root;
pid $1/nginx.pid;
error_log $1/logs/error.log warn;
worker_rlimit_nofile 20000;
events { worker_connections 8192; }
http {
    access_log off;
    server_tokens off;
    keepalive_requests 100000;
    keepalive_timeout 75s;
    client_body_temp_path $1/tmp/body;
    proxy_temp_path $1/tmp/proxy;
    fastcgi_temp_path $1/tmp/fastcgi;
    uwsgi_temp_path $1/tmp/uwsgi;
    scgi_temp_path $1/tmp/scgi;
    upstream be {
${nginx_servers%$'\n'}
        keepalive 64;
        keepalive_requests 100000;
    }
    server {
        listen $LC_LB_IP:$lb_port backlog=4096;
        location / {
            proxy_pass http://be;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
${BENCH_NGINX_EXTRA:-}
        }
    }
}
EOF
}

# HAProxy: one thread, keep-alive on both sides, backend connections shared
# by all clients (http-reuse always), maxconn 8000 (50000 exceeds the FD
# limit here). option forwardfor, as nginx. haproxy-splice adds splice-auto.
haproxy_cfg() { # SPLICE(0|1)
	cat <<EOF
global
    nbthread 1
    maxconn 8000
$([ "$1" -eq 1 ] && echo "    maxpipes 1000 # the default, maxconn/4, needs more FDs than the 20000 allowed")
defaults
    mode http
    option http-keep-alive
    http-reuse always
    option forwardfor
$([ "$1" -eq 1 ] && echo "    option splice-auto")
    timeout connect 5s
    timeout client 30s
    timeout server 30s
    timeout http-keep-alive 30s
    maxconn 8000
frontend fe
    bind $LC_LB_IP:$lb_port
    default_backend be
backend be
    balance roundrobin
${backend_servers%$'\n'}
EOF
}

declare -A skip=() cg=() first_start=()
LB_PID=""

# l4nat_up / l4nat_down: the l4nat control, the kernel's L4 forwarding path
# (what LVS/IPVS-style balancers use): round-robin DNAT per connection, with
# masquerade so that answers come back through the balancer's namespace.
l4nat_up() {
	local map="" i
	for i in 0 1 2; do map+="${map:+, }$i : ${LC_BACKEND_IPS[$i]}"; done
	l4nat_fwd=$(lc_in lb sysctl -n net.ipv4.ip_forward)
	lc_in lb sysctl -qw net.ipv4.ip_forward=1
	lc_in lb nft -f - <<EOF
table ip lc_l4nat {
	chain pre {
		type nat hook prerouting priority dstnat;
		ip daddr $LC_LB_IP tcp dport $lb_port dnat to numgen inc mod 3 map { $map } : 80
	}
	chain post {
		type nat hook postrouting priority srcnat;
		oifname "$LC_IF_LB_BACKEND" masquerade
	}
}
EOF
}
l4nat_down() {
	lc_in lb nft delete table ip lc_l4nat 2>/dev/null || true
	lc_in lb sysctl -qw "net.ipv4.ip_forward=${l4nat_fwd:-0}"
}
lb_stop() { # NAME
	lc_stop "$LB_PID"
	[ "$1" != l4nat ] || l4nat_down
}

# lb_start NAME: starts the LB in its cgroup in ns lb, waits until it listens
# and answers correctly. Returns 1 (with skip[NAME] set) when it cannot.
lb_start() {
	local name=$1 dir=$LC_TMP/lb-$1 cmd=() out n st b
	mkdir -p "$dir/logs" "$dir/tmp"
	case $name in
	nginx)
		nginx_conf "$dir" >"$dir/nginx.conf"
		cmd=(nginx -p "$dir" -c "$dir/nginx.conf" -e "$dir/logs/error.log")
		;;
	haproxy | haproxy-splice)
		haproxy_cfg "$([ "$name" = haproxy-splice ] && echo 1 || echo 0)" >"$dir/haproxy.cfg"
		cmd=(haproxy -db -f "$dir/haproxy.cfg")
		;;
	l4nat)
		# The kernel forwards and translates; the process only holds the
		# cgroup and the PID the loop expects (its CPU is ~0: the work is
		# softirq, charged to the senders).
		l4nat_up
		cmd=(sleep infinity)
		;;
	laconic-* | base-*)
		local bin=$laconic_bin kind=${name#*-}
		[ "${name%%-*}" = base ] && bin=$base_bin
		if [ ! -x "$bin" ]; then
			skip[$name]="binary $bin not found (build: cmake --preset release && cmake --build --preset release, or pass --build-dir / --base)"
			return 1
		fi
		cmd=("$bin" --listen "$LC_LB_IP:$lb_port" "${backend_args[@]}"
			--mode "$kind" --balance roundrobin --workers 1)
		if [ "$kind" = agent ]; then
			cmd=("$bin" -c "$dir/laconic.ini")
			{
				printf '[global]\nworkers = 1\nsplice_oneshot_agent = on\n'
				printf '[listener main]\nlisten = %s:%s\nmode = splice\npool = main\n' "$LC_LB_IP" "$lb_port"
				printf '[pool main]\n'
				printf 'backend = %s:80\n' "${LC_BACKEND_IPS[@]}"
			} >"$dir/laconic.ini"
		fi
		if [ "$kind" = splice1 ]; then
			{
				printf '[global]\nworkers = 1\nsplice_oneshot = on\n'
				printf '[listener main]\nlisten = %s:%s\nmode = splice\npool = main\n' "$LC_LB_IP" "$lb_port"
				printf '[pool main]\n'
				printf 'backend = %s:80\n' "${LC_BACKEND_IPS[@]}"
			} >"$dir/laconic.ini"
			cmd=("$bin" -c "$dir/laconic.ini")
		fi
		;;
	esac
	if [ -z "${cg[$name]:-}" ]; then
		if lc_cgroup_new "lb-$name"; then cg[$name]=$LC_LAST_CGROUP; else cg[$name]=none; fi
	fi
	# Each balancer starts without the previous one's TIME_WAIT sockets
	# (60 s of them after a `Connection: close` case): a kernel balancer
	# takes a SYN on such a tuple as a new connection, but laconic's fast
	# path leaves those tuples to the kernel, so they would run its
	# one-shot clients through the slower path and charge it for them.
	lc_in lb ss -K -tan state time-wait >/dev/null 2>&1 || true
	if [ "${cg[$name]}" = none ]; then
		lc_spawn --log "$dir/logs/stderr.log" lb "${cmd[@]}"
	else
		lc_spawn --cgroup "${cg[$name]}" --log "$dir/logs/stderr.log" lb "${cmd[@]}"
	fi
	LB_PID=$LC_LAST_PID
	# (DNAT applies to forwarded traffic, not to the namespace's own probe.)
	if [ "$name" != l4nat ] && ! lc_wait_port lb "$LC_LB_IP" "$lb_port" 10 "$LB_PID" 2>/dev/null; then
		if lc_alive "$LB_PID"; then
			lc_stop "$LB_PID"
			skip[$name]="did not accept connections on $LC_LB_IP:$lb_port within 10 s"
		else
			st=0
			lc_wait "$LB_PID" || st=$?
			skip[$name]="exited with status $st: $(tail -n 3 "$dir/logs/stderr.log" | tr '\n' ' ')"
		fi
		return 1
	fi
	# The same answers as from a backend directly, and all backends in use.
	out=$(lc_in client curl -fsS -m 5 "http://$LC_LB_IP:$lb_port/small" 2>&1) || true
	if [ "$out" != "Hello, world!" ]; then
		skip[$name]="GET /small through it gave '$out', not 'Hello, world!'"
	else
		out=$(lc_in client curl -fsS -m 10 "http://$LC_LB_IP:$lb_port/1m" 2>/dev/null | sha256sum | cut -d' ' -f1)
		[ "$out" = "$LC_SHA256_1M" ] || skip[$name]="GET /1m through it has the wrong checksum"
	fi
	if [ -n "${skip[$name]:-}" ]; then
		lb_stop "$name"
		return 1
	fi
	if [ -z "${first_start[$name]:-}" ]; then
		first_start[$name]=1
		b=$(for n in 1 2 3 4 5 6; do
			lc_in client curl -fsS -m 5 "http://$LC_LB_IP:$lb_port/" 2>/dev/null || echo "?"
		done | sort | uniq -c | awk '{ printf "%s%s x%d", (NR > 1 ? ", " : ""), $2, $1 }')
		say "# $name: up (pid $LB_PID, cgroup ${cg[$name]}); 6 GETs of / went to: $b"
		note "command: ${cmd[*]}"
		case $name in
		nginx) note "nginx.conf:" && note "$(cat "$dir/nginx.conf")" ;;
		haproxy*) note "haproxy.cfg:" && note "$(cat "$dir/haproxy.cfg")" ;;
		l4nat) note "nftables:" && note "$(lc_in lb nft list table ip lc_l4nat)" ;;
		laconic-splice1 | laconic-agent) note "laconic.ini:" && note "$(cat "$dir/laconic.ini")" ;;
		esac
	fi
	lc_in client wrk -t1 "-c$conns" -d1s "http://$LC_LB_IP:$lb_port/small" >/dev/null 2>&1 || true # warm-up
}

# tcp_active_opens ROLE: connect()s made so far in that namespace (the
# client's are the connections wrk opened, lb's those the LB opened to backends).
# shellcheck disable=SC2016 # an awk program
# tcp_snmp NS FIELD...: fields of the Tcp counter line of /proc/net/snmp in
# a namespace (6 ActiveOpens, 11 InSegs, 12 OutSegs), space-separated.
tcp_snmp() {
	local ns=$1
	shift
	lc_in "$ns" awk -v f="$*" '$1 == "Tcp:" && $2 ~ /^[0-9]/ {
		n = split(f, k, " "); for (i = 1; i <= n; i++) printf "%s%s", $k[i], (i < n ? " " : "\n"); exit }' /proc/net/snmp
}
tcp_active_opens() { tcp_snmp "$1" 6; }
# Segments in and out ("IN OUT"): the balancer's kernel work per request,
# counted rather than timed (pure ACKs included).
tcp_segs() { tcp_snmp "$1" 11 12; }

lb_cpu_usec() { # NAME
	if [ "${cg[$1]}" = none ]; then lc_proc_usec "$LB_PID"; else lc_cgroup_usec "${cg[$1]}"; fi
}

# Run time of laconic's TC program (the splice fast path), in µs, from the
# kernel's BPF statistics (kernel.bpf_stats_enabled, switched on for the run).
# It runs in softirq context, which the kernel charges to whichever process
# happens to be on the CPU (wrk, an nginx backend), not to laconic's cgroup.
bpf_usec() {
	bpftool -j prog show 2>/dev/null | python3 -c '
import json, sys
try:
    progs = json.load(sys.stdin)
except ValueError:
    progs = []
print(sum(p.get("run_time_ns", 0) for p in progs if p.get("name") == "lc_splice") // 1000)'
}


run_case() { # LB CASE REP
	local lb=$1 case=$2 rep=$3 url="http://$LC_LB_IP:$lb_port" hdr=() out rc=0 kv case_pace=$pace
	local c0 c1 f0 f1 s0 s1 t0 t1 o0 o1 b0 b1 st0 st1 d0=0 d1=0 g0 g1 q0 q1 seg0 seg1 req wrk_in=(lc_in)
	case $case in
	small) url+=/small ;;
	close)
		url+=/small
		hdr=(-H 'Connection: close')
		;;
	1m) url+=/1m ;;
	paced)
		url+=/small
		hdr=(-s "$repo/bench/laconic/paced.lua")
		;;
	pacedclose)
		url+=/small
		hdr=(-H 'Connection: close' -s "$repo/bench/laconic/paced.lua")
		case_pace=$((pace * 2))
		;;
	esac
	o0=$(tcp_active_opens client)
	b0=$(tcp_active_opens lb)
	seg0=$(tcp_segs lb)
	read -r g0 q0 <<<"$seg0"
	if [ "$bed" != none ]; then
		wrk_in=(lc_in --cgroup "$bed")
		d0=$(lc_cgroup_usec "$bed")
	fi
	c0=$(lb_cpu_usec "$lb")
	f0=$(bpf_usec)
	s0=$(lc_cpu_busy_usec)
	st0=$(steal_usec)
	t0=$(date +%s%N)
	out=$(PACE_MS=$case_pace "${wrk_in[@]}" client wrk "${wrk_args[@]}" "${hdr[@]}" "$url" 2>&1) || rc=$?
	t1=$(date +%s%N)
	s1=$(lc_cpu_busy_usec)
	st1=$(steal_usec)
	c1=$(lb_cpu_usec "$lb")
	f1=$(bpf_usec)
	[ "$bed" = none ] || d1=$(lc_cgroup_usec "$bed")
	o1=$(tcp_active_opens client)
	b1=$(tcp_active_opens lb)
	seg1=$(tcp_segs lb)
	read -r g1 q1 <<<"$seg1"
	kv=$(parse_wrk <<<"$out")
	[ "$rc" -eq 0 ] || kv+=" wrk_exit=$rc"
	if ! lc_alive "$LB_PID"; then
		kv+=" lb_died=1"
	fi
	# The LB's CPU: its cgroup, plus the fast path's own run time (splice mode).
	kv+=" lb_cpu_us=$((c1 - c0 + f1 - f0)) bpf_us=$((f1 - f0)) total_cpu_us=$((s1 - s0))"
	kv+=" wall_us=$(((t1 - t0) / 1000))"
	kv+=" client_conns=$((o1 - o0)) backend_conns=$((b1 - b0)) steal_us=$((st1 - st0))"
	kv+=" lb_segs_in=$((g1 - g0)) lb_segs_out=$((q1 - q0))"
	[ "$bed" = none ] || kv+=" bed_cpu_us=$((d1 - d0)) ncpu=$(nproc)"
	printf 'run rep=%d lb=%s case=%s %s\n' "$rep" "$lb" "$case" "$kv" >>"$res"
	note "$out"
	req=$(sed -n 's/.*requests=\([0-9]*\).*/\1/p' <<<"$kv")
	awk -v kv="$kv" -v lb="$lb" -v c="$case" -v rep="$rep" 'BEGIN {
		n = split(kv, f, " "); for (i = 1; i <= n; i++) { split(f[i], p, "="); v[p[1]] = p[2] }
		r = v["requests"] > 0 ? v["requests"] : 1
		printf "  rep %d  %-15s %-10s %9.0f req/s %8.2f MiB/s  p50 %7.3f ms  p99 %7.3f ms  LB %6.1f us/req  total %6.1f us/req  segs %.1f/%.1f%s\n",
			rep, lb, c, v["rps"], v["mibs"], v["p50_ms"], v["p99_ms"], v["lb_cpu_us"] / r, v["total_cpu_us"] / r,
			v["lb_segs_in"] / r, v["lb_segs_out"] / r,
			(v["sock_err"] + v["non2xx"] > 0 ? sprintf("  errors %d+%d", v["sock_err"], v["non2xx"]) : "") }'
	[ "${req:-0}" -gt 0 ] || say "  WARNING: $lb $case rep $rep completed no request: $(tail -n 2 <<<"$out" | tr '\n' ' ')"
}

# ---- the runs ------------------------------------------------------------------
say ""
say "# runs (rep, LB, case); every wrk report is in $res"
for ((rep = 1; rep <= reps; rep++)); do
	n=${#lbs[@]}
	for ((k = 0; k < n; k++)); do
		lb=${lbs[$(((k + rep - 1) % n))]} # rotated order, against drift
		[ -z "${skip[$lb]:-}" ] || continue
		if ! lb_start "$lb"; then
			case $lb in
			laconic-* | base-*) say "# $lb: SKIPPED: ${skip[$lb]}" ;;
			*) lc_die "$lb failed to start: ${skip[$lb]} (logs in $LC_TMP/lb-$lb/logs; LC_KEEP_TMP=1 keeps them)" ;;
			esac
			continue
		fi
		for c in "${cases[@]}"; do
			run_case "$lb" "$c" "$rep"
		done
		lb_stop "$lb"
	done
done

# ---- the table -------------------------------------------------------------------
table=$(python3 - "$res" "${lbs[*]}" "${cases[*]}" <<'PY'
import statistics
import sys

path, lbs, cases = sys.argv[1], sys.argv[2].split(), sys.argv[3].split()
runs = {}
for line in open(path):
    if not line.startswith("run "):
        continue
    kv = dict(f.split("=", 1) for f in line.split()[1:])
    runs.setdefault((kv["lb"], kv["case"]), []).append(kv)


def med(rows, key, per_req=False):
    vals = []
    for r in rows:
        v = float(r.get(key, 0))
        if per_req:
            v /= float(r["requests"])
        vals.append(v)
    return statistics.median(vals) if vals else float("nan")


def other_pct(r):
    """Busy CPU outside the LB's and the bed's cgroups, % of all CPUs' time."""
    # lb_cpu_us includes the fast path's run time, which the kernel charged to
    # the bed's processes (softirq): count it once.
    lb = float(r["lb_cpu_us"]) - float(r.get("bpf_us", 0))
    o = float(r["total_cpu_us"]) - lb - float(r["bed_cpu_us"])
    return max(0.0, 100.0 * o / (float(r["wall_us"]) * int(r["ncpu"])))


def other(rows):
    return "%.0f" % statistics.median(other_pct(r) for r in rows) if rows else "-"


stats = {}
for key, rows in runs.items():
    ok = [r for r in rows if int(r["requests"]) > 0]
    if not ok:
        continue
    stats[key] = {
        "n": len(ok),
        "rps": med(ok, "rps"),
        "mibs": med(ok, "mibs"),
        "p50": med(ok, "p50_ms"),
        "p99": med(ok, "p99_ms"),
        "lbpct": statistics.median(100.0 * float(r["lb_cpu_us"]) / float(r["wall_us"]) for r in ok),
        "lbus": med(ok, "lb_cpu_us", True),
        "totus": med(ok, "total_cpu_us", True),
        "conns": "%.2f/%.2f" % (med(ok, "client_conns", True), med(ok, "backend_conns", True)),
        "other": other([r for r in ok if "bed_cpu_us" in r]),
        "err": max(int(r["sock_err"]) + int(r["non2xx"]) for r in rows),
        "failed": len(rows) - len(ok),
    }


def ratio(lb, case, peer):
    a, b = stats.get((lb, case)), stats.get((peer, case))
    if not a or not b or a["lbus"] <= 0:
        return "-"
    return "%.2fx" % (b["lbus"] / a["lbus"])


hdr = ("LB", "case", "req/s", "MiB/s", "p50 ms", "p99 ms", "LB CPU%", "LB us/req",
       "total us/req", "other%", "vs nginx", "vs haproxy", "conns/req", "errors", "n")
rows = []
for case in cases:
    for lb in lbs:
        s = stats.get((lb, case))
        if not s:
            continue
        rows.append((lb, case, "%.0f" % s["rps"], "%.2f" % s["mibs"], "%.3f" % s["p50"],
                     "%.3f" % s["p99"], "%.0f" % s["lbpct"], "%.1f" % s["lbus"], "%.1f" % s["totus"], s["other"],
                     ratio(lb, case, "nginx"), ratio(lb, case, "haproxy"), s["conns"],
                     str(s["err"]) + (" (%d failed)" % s["failed"] if s["failed"] else ""), str(s["n"])))
if not rows:
    print("(no LB produced results)")
    sys.exit(0)
w = [max(len(str(r[i])) for r in rows + [hdr]) for i in range(len(hdr))]
fmt = lambda r: "  ".join(str(c).ljust(w[i]) if i < 2 else str(c).rjust(w[i]) for i, c in enumerate(r))
print(fmt(hdr))
print("  ".join("-" * x for x in w))
last = None
for r in rows:
    if last is not None and r[1] != last:
        print()
    print(fmt(r))
    last = r[1]
allruns = [r for rs in runs.values() for r in rs]
wall = sum(float(r["wall_us"]) for r in allruns)
steal = sum(float(r.get("steal_us", 0)) for r in allruns)
noisy = sorted({"%s/%s" % (r["lb"], r["case"]) for r in allruns if "bed_cpu_us" in r and other_pct(r) > 10})
if noisy:
    print("\nWARNING: more than 10%% of the CPU went to work outside this benchmark during: %s;"
          " those numbers are suspect (see other%%)" % ", ".join(noisy))
if wall > 0 and steal > 0.02 * wall:
    print("\nWARNING: the hypervisor took %.1f%% of one CPU's time during the runs (steal); expect noise"
          % (100 * steal / wall))
PY
)
say ""
say "# medians over repetitions; LB us/req = the LB cgroup's CPU per request; total us/req ="
say "# busy CPU of the whole machine (wrk, backends, LB, softirq) per request; LB CPU% = LB CPU"
say "# time / wall time; vs nginx / vs haproxy = requests per LB-CPU-second relative to that peer"
say "# (>1 = cheaper); other% = busy CPU outside the LB's and the test bed's cgroups (other users,"
say "# kernel threads), share of all CPUs; conns/req = new TCP connections per request, client->LB / LB->backends;"
say "# errors = wrk socket errors + non-2xx responses, the worst repetition; n = repetitions"
say "$table"
for lb in "${lbs[@]}"; do
	[ -z "${skip[$lb]:-}" ] || say "# $lb skipped: ${skip[$lb]}"
done
say "# raw results: $res"
