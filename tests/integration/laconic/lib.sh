# SPDX-License-Identifier: MIT
# shellcheck shell=bash disable=SC2034 # LC_* variables are for the scripts that source this
#
# lib.sh: network-namespace test beds for the laconic integration tests and
# benchmark. Source it from a bash script that runs `set -euo pipefail`.
#
# Why: a load balancer must be tested across real TCP connections that
# cross a real (virtual) link, with the client unable to bypass it, and with
# every piece (namespaces, veths, nginx, python, the LB) removed afterwards
# even when a test fails or is interrupted. Parallel ctest runs must not
# clash, so every name carries a per-run tag (LC_TAG, from the PID and
# $RANDOM); interface names stay within the kernel's 15 characters.
#
# The topology built by lc_topology (X = LC_NET_X, default 99):
#
#   ns client           ns lb                          ns backend
#   10.X.1.1 ==veth== 10.X.1.2 (LB_IP)  10.X.2.1 ==veth== 10.X.2.11, .12, .13
#
# The client has no route to 10.X.2.0/24 and lb does not forward, so the
# client reaches only the lb addresses; lb reaches every backend address.
# Veths keep the kernel's default offloads (the same on all four ends); they
# are recorded in LC_OFFLOADS for reports. The client and lb namespaces get a
# wide ephemeral port range and tcp_tw_reuse=1, so `Connection: close` load
# does not run out of ports while TIME_WAIT sockets linger for 60 s.
#
# Sourcing installs EXIT, INT, TERM and HUP traps that call lc_cleanup: it
# kills every process started through lc_spawn (TERM, again after 2 s, then KILL after 5 s)
# and anything still inside the run's namespaces, deletes the namespaces
# (and so the veths), removes the run's cgroups and temporary directory.
# It is idempotent. Scripts that need their own cleanup register it with
# lc_atexit instead of replacing the traps. A trap cannot run while bash
# waits for a foreground command, so wait for long things as `cmd & wait $!`.
# On a non-zero exit the tail of every log is printed (LC_DUMP_LOGS=0 to
# silence); LC_KEEP_TMP=1 keeps the temporary directory for inspection. A
# sanitizer report in the log of any process started through lc_spawn
# fails the run, even one that otherwise passed.
#
# Functions (ROLE is client, lb, backend, or a literal namespace name):
#   lc_need_root                     exit 77 unless root with usable `ip netns`
#   lc_need_cmd CMD...               exit 77 unless every CMD is installed
#   lc_skip MSG / lc_die MSG / lc_log MSG
#   lc_has GREP-ARGS...               grep -q that is safe in pipelines (pipefail)
#   lc_topology [NBACKENDS=3]        the three namespaces, veths, addresses
#   lc_topology_v6                   after lc_topology: IPv6 addresses on the
#                                    same veths (fd00:X:1::/64 client side,
#                                    fd00:X:2::/64 backend side, the same host
#                                    numbers as IPv4); exit 77 without IPv6
#   lc_url IP PORT [PATH]            http://IP:PORT/PATH, IPv6 in brackets
#   lc_ns ROLE                       prints the namespace name
#   lc_in [--cgroup DIR] ROLE CMD... runs CMD in the namespace (foreground)
#   lc_spawn [--cgroup DIR] [--log FILE] ROLE CMD...
#                                    starts CMD in the background in ROLE,
#                                    tracked for cleanup; sets LC_LAST_PID and
#                                    LC_LAST_LOG. With --cgroup (default:
#                                    $LC_SPAWN_CGROUP when set) the process
#                                    enters DIR before it execs CMD.
#   lc_alive PID                     true while PID runs (zombies count as dead)
#   lc_stop PID [TIMEOUT_S=5]        TERM, then KILL; reaps; prints nothing
#   lc_wait PID                      wait for PID to end; returns its exit
#                                    status (255 if unknown); call it in the
#                                    shell that spawned PID, not in $(...)
#   lc_wait_port ROLE IP PORT [TIMEOUT_S=10] [PID]
#   lc_wait_http ROLE URL [TIMEOUT_S=10] [PID]
#                                    wait for a TCP connect / a 2xx answer;
#                                    with PID, give up early if PID dies
#   lc_nginx_backend NAME IP PORT    nginx in ns backend (see below)
#   lc_echo_backend NAME IP PORT     echo_server.py in ns backend
#   lc_bed [IP1 IP2 IP3]             the usual backends: nginx b1, b2, b3 on
#                                    port 80 and echo e1 on IP1:8080; IPs
#                                    default to LC_BACKEND_IPS; sets B to them
#   lc_loss PCT|off [both|away]     PCT % lost each way on both legs, after
#                                    the senders' stacks (see the function)
#   lc_netem IFACE ARGS... | lc_netem IFACE off
#                                    impairs IFACE's egress (client, lb-client,
#                                    lb-backend, backend, or a veth name):
#                                    `tc qdisc ... netem ARGS` where the kernel
#                                    has sch_netem; without it (the dev kernel)
#                                    only "loss N%", as an nftables netdev
#                                    ingress rule on IFACE's veth peer (needs
#                                    nft). Both drop whole skbs, and with TSO
#                                    one skb is up to 64 KB.
#   lc_metric NAME [ADMIN] / lc_wait_metric NAME VALUE SECONDS
#                                    a value from laconic's /metrics
#   lc_wait_splice PID LOG IP PORT   wait for laconic in splice mode; exit 77
#                                    if its fast path cannot load here
#   lc_sink ROLE MARK | lc_sink ROLE MARK off
#                                    in ROLE's namespace, packets carrying
#                                    fwmark MARK (1-255; an nft route chain
#                                    sets it) are routed, IPv4 and IPv6, into
#                                    a veth whose peer is down: lost after
#                                    their sender's TCP counted them sent
#                                    (a netfilter drop is reported back and
#                                    resent at once), before any peer sees them
#   lc_retrans ROLE                  TCP segments retransmitted in ROLE's
#                                    namespace so far (proof that loss bit)
#   lc_have_netem [loss]             true if lc_netem can work here (with
#                                    "loss": if it can at least drop packets)
#   lc_offloads_set ETHTOOL_K_ARGS...  `ethtool -K` on all four veths, re-recorded
#   lc_cgroup_new NAME               a cgroup for CPU accounting; sets
#                                    LC_LAST_CGROUP (returns 1 if impossible)
#   lc_cgroup_usec DIR               CPU time used by the cgroup, in µs
#   lc_proc_usec PID                 CPU µs of PID and its children (ticks)
#   lc_cpu_busy_usec                 whole-machine busy CPU µs from /proc/stat
#                                    (user+nice+system+irq+softirq)
#   lc_atexit CMD                    run CMD (eval) first during cleanup
#   lc_cleanup                       tear everything down now (idempotent)
#   lc_state                         key=value lines describing the run
#
# Variables set by lc_topology: LC_NS_CLIENT LC_NS_LB LC_NS_BACKEND,
# LC_IF_CLIENT LC_IF_LB_CLIENT LC_IF_LB_BACKEND LC_IF_BACKEND, LC_CLIENT_IP
# LC_LB_IP LC_LB_BACKSIDE_IP, LC_BACKEND_IPS (array), LC_OFFLOADS (ethtool -k
# of all four veths), LC_OFFLOADS_SUMMARY (one line). Set by lc_topology_v6:
# LC_CLIENT_IP6 LC_LB_IP6 LC_LB_BACKSIDE_IP6, LC_BACKEND_IPS6 (array). Always
# set: LC_TAG, LC_TMP, LC_LOGDIR, LC_LIB_DIR. Set by the first lc_nginx_backend:
# LC_CONTENT_DIR, LC_SHA256_1K, LC_SHA256_1M, LC_RAND10M_SHA256.
#
# nginx backend routes (1 worker, keepalive_requests 100000, access_log off,
# `X-Backend: NAME` on every answer): / -> "NAME\n", /health -> "ok\n",
# /small -> "Hello, world!" (13 bytes), /1k -> 1024 bytes, /1m -> 1 MiB,
# /rand10m -> 10 MiB random (the same file on all backends; LC_RAND10M_SHA256).
# echo_server.py documents its own routes (uploads answer "<sha256> <len>\n").

if [ -n "${LC__LIB_LOADED:-}" ]; then
	return 0
fi
LC__LIB_LOADED=1

LC_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LC_NET_X=${LC_NET_X:-99}
LC_TAG=$(printf 'lc%x%03x' $(($$ & 0xfff)) $((RANDOM & 0xfff)))
LC_TMP=$(mktemp -d "${TMPDIR:-/tmp}/laconic-$LC_TAG.XXXXXX")
LC_LOGDIR=$LC_TMP/logs
mkdir -p "$LC_LOGDIR"

LC_NS_CLIENT="" LC_NS_LB="" LC_NS_BACKEND=""
LC_IF_CLIENT="" LC_IF_LB_CLIENT="" LC_IF_LB_BACKEND="" LC_IF_BACKEND=""
LC_CLIENT_IP="" LC_LB_IP="" LC_LB_BACKSIDE_IP=""
LC_BACKEND_IPS=()
LC_CLIENT_IP6="" LC_LB_IP6="" LC_LB_BACKSIDE_IP6=""
LC_BACKEND_IPS6=()
LC_OFFLOADS="" LC_OFFLOADS_SUMMARY=""
LC_CONTENT_DIR="" LC_SHA256_1K="" LC_SHA256_1M="" LC_RAND10M_SHA256=""
LC_LAST_PID="" LC_LAST_LOG="" LC_LAST_CGROUP=""
LC_SPAWN_CGROUP="" # lc_spawn default cgroup, set by the caller

LC__PIDS=()     # every process started by lc_spawn, in order
LC__STARTS=()   # their start times (/proc/PID/stat field 22), against PID reuse
LC__NETNS=()    # namespaces created by this run
LC__CGROUPS=()  # cgroup directories created by this run
LC__HOOKS=()    # lc_atexit commands
LC__NSPAWN=0
LC__CLEANED=0
declare -gA LC__STATUS=() # exit status of reaped processes, by PID

lc_log() { printf '[lc %s] %s\n' "$LC_TAG" "$*" >&2; }
# lc_has GREP-ARGS...: grep -q for pipelines. grep -q exits at the first
# match, and under pipefail the writer's SIGPIPE then fails the pipeline at
# random; this reads all input and keeps grep's exit status.
lc_has() { grep "$@" >/dev/null; }
lc_die() {
	printf '[lc %s] ERROR: %s\n' "$LC_TAG" "$*" >&2
	exit 1
}
# fail MESSAGE: a test's verdict (the EXIT trap still cleans up).
fail() {
	echo "FAIL: $*" >&2
	exit 1
}
lc_skip() {
	printf 'SKIP: %s\n' "$*" >&2
	exit 77
}

lc_need_root() {
	[ "$(id -u)" -eq 0 ] || lc_skip "needs root (network namespaces, veths, cgroups); run as root"
	command -v ip >/dev/null 2>&1 || lc_skip "the 'ip' command (iproute2) is not installed"
	local probe="lc-probe-$LC_TAG" err
	if ! err=$(ip netns add "$probe" 2>&1); then
		lc_skip "'ip netns add' does not work here: $err"
	fi
	ip netns del "$probe" 2>/dev/null || true
}

lc_need_cmd() {
	local c missing=()
	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 || missing+=("$c")
	done
	[ ${#missing[@]} -eq 0 ] || lc_skip "missing commands: ${missing[*]} (scripts/deps.sh installs them)"
}

lc_ns() {
	case $1 in
	client) printf '%s\n' "${LC_NS_CLIENT:?lc_topology has not run}" ;;
	lb) printf '%s\n' "${LC_NS_LB:?lc_topology has not run}" ;;
	backend) printf '%s\n' "${LC_NS_BACKEND:?lc_topology has not run}" ;;
	*) printf '%s\n' "$1" ;;
	esac
}

lc_in() {
	local ns cg=""
	if [ "$1" = --cgroup ]; then
		cg=$2
		shift 2
	fi
	ns=$(lc_ns "$1") || return 1
	shift
	if [ -n "$cg" ]; then
		sh -c 'echo $$ >"$1/cgroup.procs" || exit 125; shift; exec ip netns exec "$@"' \
			lc-in "$cg" "$ns" "$@"
	else
		ip netns exec "$ns" "$@"
	fi
}

# lc__sysctl NS KEY=VALUE...: per-namespace sysctls (net.* is per netns).
lc__sysctl() {
	local ns=$1
	shift
	ip netns exec "$ns" sysctl -qw "$@" >/dev/null
}

lc_topology() {
	local n=${1:-3} x=$LC_NET_X i ns
	[ -z "$LC_NS_CLIENT" ] || lc_die "lc_topology: already built"
	[ "$LC__CLEANED" -eq 0 ] || lc_die "lc_topology: called after lc_cleanup"
	if ! [[ "$n" =~ ^[0-9]+$ ]] || [ "$n" -lt 1 ] || [ "$n" -gt 200 ]; then
		lc_die "lc_topology: bad backend count '$n' (1..200)"
	fi
	LC_NS_CLIENT=$LC_TAG-client
	LC_NS_LB=$LC_TAG-lb
	LC_NS_BACKEND=$LC_TAG-backend
	LC_IF_CLIENT=$LC_TAG-c    # in client, towards lb
	LC_IF_LB_CLIENT=$LC_TAG-lc  # in lb, towards client
	LC_IF_LB_BACKEND=$LC_TAG-lb # in lb, towards backend
	LC_IF_BACKEND=$LC_TAG-b   # in backend, towards lb
	LC_CLIENT_IP=10.$x.1.1
	LC_LB_IP=10.$x.1.2
	LC_LB_BACKSIDE_IP=10.$x.2.1
	LC_BACKEND_IPS=()
	for ((i = 0; i < n; i++)); do
		LC_BACKEND_IPS+=("10.$x.2.$((11 + i))")
	done

	for ns in "$LC_NS_CLIENT" "$LC_NS_LB" "$LC_NS_BACKEND"; do
		ip netns add "$ns" || lc_die "cannot create namespace $ns"
		LC__NETNS+=("$ns")
		ip -n "$ns" link set lo up
	done
	# Created directly inside the namespaces: nothing is ever left in the root one.
	ip link add name "$LC_IF_CLIENT" netns "$LC_NS_CLIENT" type veth \
		peer name "$LC_IF_LB_CLIENT" netns "$LC_NS_LB" || lc_die "cannot create the client-lb veth pair"
	ip link add name "$LC_IF_LB_BACKEND" netns "$LC_NS_LB" type veth \
		peer name "$LC_IF_BACKEND" netns "$LC_NS_BACKEND" || lc_die "cannot create the lb-backend veth pair"

	ip -n "$LC_NS_CLIENT" addr add "$LC_CLIENT_IP/24" dev "$LC_IF_CLIENT"
	ip -n "$LC_NS_LB" addr add "$LC_LB_IP/24" dev "$LC_IF_LB_CLIENT"
	ip -n "$LC_NS_LB" addr add "$LC_LB_BACKSIDE_IP/24" dev "$LC_IF_LB_BACKEND"
	for i in "${LC_BACKEND_IPS[@]}"; do
		ip -n "$LC_NS_BACKEND" addr add "$i/24" dev "$LC_IF_BACKEND"
	done
	ip -n "$LC_NS_CLIENT" link set "$LC_IF_CLIENT" up
	ip -n "$LC_NS_LB" link set "$LC_IF_LB_CLIENT" up
	ip -n "$LC_NS_LB" link set "$LC_IF_LB_BACKEND" up
	ip -n "$LC_NS_BACKEND" link set "$LC_IF_BACKEND" up

	lc__sysctl "$LC_NS_LB" net.ipv4.ip_forward=0
	for ns in "$LC_NS_CLIENT" "$LC_NS_LB"; do
		lc__sysctl "$ns" net.ipv4.ip_local_port_range="10000 65535" net.ipv4.tcp_tw_reuse=1
	done
	lc__record_offloads
	lc_log "topology up: client $LC_CLIENT_IP -> lb $LC_LB_IP | $LC_LB_BACKSIDE_IP -> backends ${LC_BACKEND_IPS[*]}"
}

# lc_topology_v6: IPv6 beside IPv4 on the same links. nodad: the addresses
# are usable at once instead of after duplicate address detection (~1 s).
# The balancer does not forward IPv6 either (the namespace default).
lc_topology_v6() {
	local x=$LC_NET_X i ns
	[ -n "$LC_NS_CLIENT" ] || lc_die "lc_topology_v6: lc_topology has not run"
	[ -e /proc/sys/net/ipv6 ] || lc_skip "the kernel has no IPv6"
	LC_CLIENT_IP6=fd00:$x:1::1
	LC_LB_IP6=fd00:$x:1::2
	LC_LB_BACKSIDE_IP6=fd00:$x:2::1
	LC_BACKEND_IPS6=()
	for ((i = 0; i < ${#LC_BACKEND_IPS[@]}; i++)); do
		LC_BACKEND_IPS6+=("fd00:$x:2::$((11 + i))")
	done
	for ns in "$LC_NS_CLIENT" "$LC_NS_LB" "$LC_NS_BACKEND"; do
		lc__sysctl "$ns" net.ipv6.conf.all.disable_ipv6=0 net.ipv6.conf.default.disable_ipv6=0
	done
	lc__sysctl "$LC_NS_LB" net.ipv6.conf.all.forwarding=0
	ip -n "$LC_NS_CLIENT" addr add "$LC_CLIENT_IP6/64" dev "$LC_IF_CLIENT" nodad
	ip -n "$LC_NS_LB" addr add "$LC_LB_IP6/64" dev "$LC_IF_LB_CLIENT" nodad
	ip -n "$LC_NS_LB" addr add "$LC_LB_BACKSIDE_IP6/64" dev "$LC_IF_LB_BACKEND" nodad
	for i in "${LC_BACKEND_IPS6[@]}"; do
		ip -n "$LC_NS_BACKEND" addr add "$i/64" dev "$LC_IF_BACKEND" nodad
	done
	lc_log "IPv6 up: client $LC_CLIENT_IP6 -> lb $LC_LB_IP6 | $LC_LB_BACKSIDE_IP6 -> backends ${LC_BACKEND_IPS6[*]}"
}

# lc_url IP PORT [PATH]: an http URL, with an IPv6 address in brackets.
lc_url() {
	case $1 in
	*:*) printf 'http://[%s]:%s/%s\n' "$1" "$2" "${3:-}" ;;
	*) printf 'http://%s:%s/%s\n' "$1" "$2" "${3:-}" ;;
	esac
}

# lc__veths: "ns ifname" lines for the four veth ends.
lc__veths() {
	printf '%s %s\n' "$LC_NS_CLIENT" "$LC_IF_CLIENT" "$LC_NS_LB" "$LC_IF_LB_CLIENT" \
		"$LC_NS_LB" "$LC_IF_LB_BACKEND" "$LC_NS_BACKEND" "$LC_IF_BACKEND"
}

lc__record_offloads() {
	local ns ifc k first="" differ="" all=""
	while read -r ns ifc; do
		k=$(ip netns exec "$ns" ethtool -k "$ifc" 2>&1) || k="ethtool -k failed: $k"
		all+="== $ns/$ifc"$'\n'"$k"$'\n'
		k=$(sed 1d <<<"$k")
		if [ -z "$first" ]; then
			first=$k
		elif [ "$k" != "$first" ]; then
			differ+=" $ifc"
		fi
	done < <(lc__veths)
	LC_OFFLOADS=$all
	LC_OFFLOADS_SUMMARY=$(awk -F': ' '
		/^(rx-checksumming|tx-checksumming|scatter-gather|tcp-segmentation-offload|generic-segmentation-offload|generic-receive-offload|large-receive-offload|rx-gro-list|rx-udp-gro-forwarding):/ {
			v = $2; sub(/ .*/, "", v); s = s (s ? ", " : "") $1 " " v
		}
		END { print s }' <<<"$first")
	if [ -n "$differ" ]; then
		LC_OFFLOADS_SUMMARY+=" (DIFFERENT on:$differ)"
		lc_log "warning: veth offloads differ between ends:$differ"
	else
		LC_OFFLOADS_SUMMARY+=" (same on all 4 veth ends)"
	fi
	printf '%s' "$LC_OFFLOADS" >"$LC_TMP/offloads.txt"
}

lc_offloads_set() {
	local ns ifc
	[ $# -gt 0 ] || lc_die "usage: lc_offloads_set FEATURE on|off ..."
	while read -r ns ifc; do
		ip netns exec "$ns" ethtool -K "$ifc" "$@" || lc_die "ethtool -K $ifc $* failed"
	done < <(lc__veths)
	lc__record_offloads
}

lc__starttime() {
	local s
	s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	s=${s##*) }
	# fields after "comm)": state is field 3, starttime field 22 overall
	awk '{ print $20 }' <<<"$s"
}

lc_alive() {
	local s
	s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	s=${s##*) }
	[ "${s:0:1}" != Z ] && [ "${s:0:1}" != X ]
}

lc_spawn() {
	local cg=${LC_SPAWN_CGROUP:-} log="" ns
	while [ $# -gt 0 ]; do
		case $1 in
		--cgroup) cg=$2; shift 2 ;;
		--log) log=$2; shift 2 ;;
		--) shift; break ;;
		*) break ;;
		esac
	done
	[ $# -ge 2 ] || lc_die "usage: lc_spawn [--cgroup DIR] [--log FILE] ROLE CMD..."
	[ "$LC__CLEANED" -eq 0 ] || lc_die "lc_spawn: called after lc_cleanup"
	ns=$(lc_ns "$1") || return 1
	shift
	LC__NSPAWN=$((LC__NSPAWN + 1))
	[ -n "$log" ] || log=$LC_LOGDIR/$LC__NSPAWN-$(basename "$1").log
	if [ -n "$cg" ]; then
		# The PID joins the cgroup before exec, so every CPU cycle of CMD
		# (and of its children) is charged to it. /sys/fs/cgroup is not
		# visible after `ip netns exec` (it remounts /sys), hence the order.
		sh -c 'echo $$ >"$1/cgroup.procs" || exit 125; shift; exec ip netns exec "$@"' \
			lc-spawn "$cg" "$ns" "$@" </dev/null >"$log" 2>&1 &
	else
		ip netns exec "$ns" "$@" </dev/null >"$log" 2>&1 &
	fi
	LC_LAST_PID=$!
	LC_LAST_LOG=$log
	LC__PIDS+=("$LC_LAST_PID")
	LC__STARTS+=("$(lc__starttime "$LC_LAST_PID" || true)")
}

# lc__ours INDEX: the tracked process at INDEX still is the one we started.
lc__ours() {
	local pid=${LC__PIDS[$1]} st
	st=$(lc__starttime "$pid") || return 1
	[ -z "${LC__STARTS[$1]}" ] || [ "$st" = "${LC__STARTS[$1]}" ]
}

lc__reap() {
	local rc=0
	wait "$1" 2>/dev/null || rc=$?
	# 127: not our child (already reaped); keep the first status seen
	if [ "$rc" -ne 127 ] && [ -z "${LC__STATUS[$1]:-}" ]; then
		LC__STATUS[$1]=$rc
	fi
}

lc_wait() {
	local pid=$1
	lc__reap "$pid"
	while lc_alive "$pid"; do # not our child (started in a subshell?): poll
		sleep 0.05
	done
	return "${LC__STATUS[$pid]:-255}"
}

lc_stop() {
	local pid=$1 timeout=${2:-5} i idx=-1 tries
	for i in "${!LC__PIDS[@]}"; do
		[ "${LC__PIDS[$i]}" = "$pid" ] && idx=$i
	done
	if [ "$idx" -ge 0 ] && ! lc__ours "$idx"; then
		lc__reap "$pid"
		return 0
	fi
	kill -TERM "$pid" 2>/dev/null || true
	tries=$((timeout * 20))
	while lc_alive "$pid" && [ "$tries" -gt 0 ]; do
		sleep 0.05
		tries=$((tries - 1))
	done
	if lc_alive "$pid"; then
		lc_log "pid $pid ignored SIGTERM for ${timeout}s; sending SIGKILL"
		kill -KILL "$pid" 2>/dev/null || true
	fi
	lc__reap "$pid"
}

lc__wait_loop() { # TIMEOUT_S PID DESC CMD...: retry CMD every 0.1 s
	local timeout=$1 pid=$2 desc=$3 tries
	shift 3
	tries=$((timeout * 10))
	while [ "$tries" -gt 0 ]; do
		if "$@" >/dev/null 2>&1; then
			return 0
		fi
		if [ -n "$pid" ] && ! lc_alive "$pid"; then
			lc__reap "$pid"
			lc_log "process $pid exited (status ${LC__STATUS[$pid]:-unknown}) before $desc"
			return 1
		fi
		sleep 0.1
		tries=$((tries - 1))
	done
	lc_log "timed out after ${timeout}s waiting for $desc"
	return 1
}

lc_wait_port() {
	local ns
	ns=$(lc_ns "$1") || return 1
	# shellcheck disable=SC2016 # expanded by the inner bash
	lc__wait_loop "${4:-10}" "${5:-}" "$2:$3 to accept connections in $ns" \
		ip netns exec "$ns" timeout 1 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$2" "$3"
}

lc_wait_http() {
	local ns
	ns=$(lc_ns "$1") || return 1
	lc__wait_loop "${3:-10}" "${4:-}" "$2 to answer 2xx in $ns" \
		ip netns exec "$ns" curl -fsS -o /dev/null -m 1 "$2"
}

lc__check_name() {
	[[ "$1" =~ ^[A-Za-z0-9._-]{1,64}$ ]] || lc_die "bad backend name '$1' (letters, digits, . _ - only)"
}

# lc__content: the static files every nginx backend serves, made once per run.
lc__content() {
	[ -z "$LC_CONTENT_DIR" ] || return 0
	LC_CONTENT_DIR=$LC_TMP/content
	mkdir -p "$LC_CONTENT_DIR"
	head -c 1024 /dev/urandom >"$LC_CONTENT_DIR/1k"
	head -c 1048576 /dev/urandom >"$LC_CONTENT_DIR/1m"
	head -c 10485760 /dev/urandom >"$LC_CONTENT_DIR/rand10m"
	LC_SHA256_1K=$(sha256sum "$LC_CONTENT_DIR/1k" | cut -d' ' -f1)
	LC_SHA256_1M=$(sha256sum "$LC_CONTENT_DIR/1m" | cut -d' ' -f1)
	LC_RAND10M_SHA256=$(sha256sum "$LC_CONTENT_DIR/rand10m" | cut -d' ' -f1)
}

lc_nginx_backend() {
	local name=$1 ip=$2 port=$3 dir listen=$2:$3
	[ $# -eq 3 ] || lc_die "usage: lc_nginx_backend NAME IP PORT"
	lc__check_name "$name"
	[[ "$ip" != *:* ]] || listen="[$ip]:$port"
	lc__content
	dir=$LC_TMP/nginx-$name
	mkdir -p "$dir/logs" "$dir/tmp"
	cat >"$dir/nginx.conf" <<EOF
# laconic test backend $name ($ip:$port), generated by lib.sh
worker_processes 1;
daemon off;
master_process on;
user root;
pid $dir/nginx.pid;
error_log $dir/logs/error.log warn;
worker_rlimit_nofile 16384;
events { worker_connections 8192; }
http {
    access_log off;
    server_tokens off;
    default_type application/octet-stream;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 100000;
    keepalive_timeout 75s;
    client_body_temp_path $dir/tmp/body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;
    server {
        listen $listen backlog=4096;
        add_header X-Backend $name always;
        location = / { default_type text/plain; return 200 "$name\n"; }
        location = /health { default_type text/plain; return 200 "ok\n"; }
        location = /small { default_type text/plain; return 200 "Hello, world!"; }
        location = /1k { alias $LC_CONTENT_DIR/1k; }
        location = /1m { alias $LC_CONTENT_DIR/1m; }
        location = /rand10m { alias $LC_CONTENT_DIR/rand10m; }
    }
}
EOF
	lc_spawn --log "$dir/logs/stderr.log" backend \
		nginx -p "$dir" -c "$dir/nginx.conf" -e "$dir/logs/error.log"
	lc_wait_http backend "$(lc_url "$ip" "$port" health)" 10 "$LC_LAST_PID" ||
		lc_die "nginx backend $name did not come up on $ip:$port; $(tail -n 5 "$dir/logs/error.log" 2>/dev/null)"
}

lc_echo_backend() {
	local name=$1 ip=$2 port=$3
	[ $# -eq 3 ] || lc_die "usage: lc_echo_backend NAME IP PORT"
	lc__check_name "$name"
	lc_spawn --log "$LC_LOGDIR/echo-$name.log" backend \
		python3 "$LC_LIB_DIR/echo_server.py" --name "$name" --bind "$ip" --port "$port"
	lc_wait_http backend "$(lc_url "$ip" "$port" health)" 10 "$LC_LAST_PID" ||
		lc_die "echo backend $name did not come up on $ip:$port; $(tail -n 5 "$LC_LAST_LOG")"
}

lc_bed() {
	# B is the caller's: the tests address backends as ${B[i]}.
	# shellcheck disable=SC2034
	if [ $# -gt 0 ]; then B=("$@"); else B=("${LC_BACKEND_IPS[@]}"); fi
	[ "${#B[@]}" -ge 3 ] || lc_die "lc_bed needs three backend addresses (lc_topology 3)"
	lc_nginx_backend b1 "${B[0]}" 80
	lc_nginx_backend b2 "${B[1]}" 80
	lc_nginx_backend b3 "${B[2]}" 80
	lc_echo_backend e1 "${B[0]}" 8080
}

# lc__iface IFACE: "ns ifname" for a role alias (client, lb-client,
# lb-backend, backend) or for one of the four veth names.
# lc_metric NAME [ADMIN]: NAME's value in laconic's /metrics (labels allowed),
# "missing" if absent. ADMIN defaults to 127.0.0.1:9100 in the lb namespace.
lc_metric() {
	lc_in lb curl -fsS "http://${2:-127.0.0.1:9100}/metrics" |
		awk -v n="$1" '$1 == n { print $2; f = 1 } END { if (!f) print "missing" }'
}

# lc_cookies LOG: did the laconic writing LOG start with the fast path's SYN
# cookies on? (Linux 6.9 or later; earlier kernels answer SYNs themselves.)
lc_cookies() {
	grep -q 'SYN cookies on' "$1"
}

# lc_wait_metric NAME VALUE SECONDS: until NAME is VALUE (1 if it never is).
lc_wait_metric() {
	local _i
	for _i in $(seq $(($3 * 10))); do
		[ "$(lc_metric "$1")" = "$2" ] && return 0
		sleep 0.1
	done
	return 1
}

# lc_wait_splice PID LOG IP PORT: wait for a laconic in splice mode to listen;
# skip (77) when it exited because the fast path cannot be loaded here, the
# one failure a machine may legitimately have; 1 for anything else.
lc_wait_splice() {
	lc_wait_port lb "$3" "$4" 10 "$1" && return 0
	if ! lc_alive "$1" && lc_has 'splice:' "$2"; then
		lc_skip "the splice fast path cannot be loaded here: $(grep -m1 'splice:' "$2")"
	fi
	return 1
}

lc_sink() {
	local ns=$1 m=$2 dev="lcsink$2"
	if [ "${3:-}" = off ]; then
		lc_in "$ns" ip -4 rule del fwmark "$m" table "$m" 2>/dev/null || true
		lc_in "$ns" ip -6 rule del fwmark "$m" table "$m" 2>/dev/null || true
		lc_in "$ns" ip link del "$dev" 2>/dev/null || true
		return 0
	fi
	# No carrier: the queue is noop, which discards and reports congestion
	# (TCP takes that for sent); NOARP, so nothing waits on a neighbour.
	lc_in "$ns" ip link add "$dev" type veth peer name "${dev}p"
	lc_in "$ns" ip link set "$dev" arp off up
	lc_in "$ns" ip -4 route add default dev "$dev" table "$m"
	lc_in "$ns" ip -6 route add default dev "$dev" table "$m"
	lc_in "$ns" ip -4 rule add fwmark "$m" table "$m"
	lc_in "$ns" ip -6 rule add fwmark "$m" table "$m"
}

# lc_loss PCT|off [both|away] [4|6]: PCT % of packets lost each way on both
# legs (client and backend), after they left their sender's stack: a drop
# at the sender's own egress is reported back to its TCP, which resends at
# once without a loss ever showing, and packets the balancer's TC program
# redirects skip its nftables egress hook. So with nft the loss towards
# the client and the backends is at the ingress of their veths (the far
# end of each leg), and the loss towards the balancer (not with `away`)
# is a route, by random mark 29, into a dead veth (lc_sink) at the
# client's and backends' end; without nft, sch_netem on the balancer's
# egress only (a qdisc does see redirected packets). With 6, only IPv6
# packets are lost (lc_topology_v6 must have run). Counters: table ip (or
# ip6) lc_loss_out (towards the balancer), table netdev lc_loss (away).
lc_loss() {
	local r dev to out pct=$1 dir=${2:-both} fam=ip only=""
	if [ "${3:-4}" = 6 ]; then
		fam=ip6 only="meta protocol ip6 "
	fi
	if command -v nft >/dev/null 2>&1; then
		for r in client backend; do
			lc_in "$r" nft delete table netdev lc_loss 2>/dev/null || true
			lc_in "$r" nft delete table ip lc_loss_out 2>/dev/null || true
			lc_in "$r" nft delete table ip6 lc_loss_out 2>/dev/null || true
			lc_sink "$r" 29 off
			[ "$pct" != off ] || continue
			if [ "$fam" = ip6 ]; then
				dev=$LC_IF_CLIENT to=$LC_LB_IP6
				[ "$r" = client ] || dev=$LC_IF_BACKEND to=$LC_LB_BACKSIDE_IP6
			else
				dev=$LC_IF_CLIENT to=$LC_LB_IP
				[ "$r" = client ] || dev=$LC_IF_BACKEND to=$LC_LB_BACKSIDE_IP
			fi
			out="$fam daddr $to numgen random mod 1000 < $((pct * 10)) counter meta mark set 29"
			[ "$dir" = both ] || out=""
			lc_sink "$r" 29
			lc_in "$r" nft -f - <<NFT
table netdev lc_loss {
	chain ingress {
		type filter hook ingress device "$dev" priority 0;
		${only}numgen random mod 1000 < $((pct * 10)) counter drop
	}
}
table $fam lc_loss_out {
	chain out {
		type route hook output priority 0;
		$out
	}
}
NFT
		done
	elif [ "$pct" = off ]; then
		lc_netem lb-client off
		lc_netem lb-backend off
	else
		lc_netem lb-client loss "$pct%"
		lc_netem lb-backend loss "$pct%"
	fi
}

lc_retrans() {
	# shellcheck disable=SC2016 # awk's $
	lc_in "$1" awk '$1 == "Tcp:" { if (!c) { for (i = 2; i <= NF; i++) if ($i == "RetransSegs") c = i } else print $c }' /proc/net/snmp
}

# lc__peer IFACE: the other end of one of the topology's two veth pairs.
lc__peer() {
	case $1 in
	"$LC_IF_CLIENT") echo "$LC_IF_LB_CLIENT" ;;
	"$LC_IF_LB_CLIENT") echo "$LC_IF_CLIENT" ;;
	"$LC_IF_LB_BACKEND") echo "$LC_IF_BACKEND" ;;
	"$LC_IF_BACKEND") echo "$LC_IF_LB_BACKEND" ;;
	*) echo "$1" ;;
	esac
}

lc__iface() {
	local ns ifc
	case $1 in
	client) set -- "$LC_IF_CLIENT" ;;
	lb-client) set -- "$LC_IF_LB_CLIENT" ;;
	lb-backend) set -- "$LC_IF_LB_BACKEND" ;;
	backend) set -- "$LC_IF_BACKEND" ;;
	esac
	while read -r ns ifc; do
		[ "$ifc" = "$1" ] && printf '%s %s\n' "$ns" "$ifc" && return 0
	done < <(lc__veths)
	return 1
}

lc__netem_kernel() { # true if the kernel has sch_netem
	[ -r /proc/config.gz ] && ! zgrep -q '^CONFIG_NET_SCH_NETEM=[ym]' /proc/config.gz && return 1
	local ns=lc-netem-probe-$LC_TAG ok=1
	ip netns add "$ns" 2>/dev/null || return 1
	ip -n "$ns" link add name p0 type dummy 2>/dev/null &&
		ip netns exec "$ns" tc qdisc add dev p0 root netem delay 1ms 2>/dev/null && ok=0
	ip netns del "$ns" 2>/dev/null || true
	return "$ok"
}

lc_have_netem() {
	if [ -z "${LC__NETEM:-}" ]; then
		if lc__netem_kernel; then LC__NETEM=tc; elif command -v nft >/dev/null 2>&1; then LC__NETEM=nft; else LC__NETEM=none; fi
	fi
	case $LC__NETEM in
	tc) return 0 ;;
	nft) [ "${1:-}" = loss ] ;;
	*) return 1 ;;
	esac
}

lc_netem() {
	local where ns ifc pct
	[ $# -ge 2 ] || lc_die "usage: lc_netem IFACE netem-args... | lc_netem IFACE off"
	where=$(lc__iface "$1") || lc_die "lc_netem: unknown interface '$1' (client, lb-client, lb-backend, backend)"
	read -r ns ifc <<<"$where"
	shift
	# shellcheck disable=SC2048,SC2086 # "loss 5%" and loss 5% are the same
	set -- $*
	lc_have_netem loss || true
	if [ "$*" = off ]; then
		ip netns exec "$ns" tc qdisc del dev "$ifc" root 2>/dev/null || true
		read -r ns ifc <<<"$(lc__iface "$(lc__peer "$ifc")")"
		ip netns exec "$ns" nft delete table netdev "lc_netem_$ifc" 2>/dev/null || true
		return 0
	fi
	if [ "$LC__NETEM" = tc ]; then
		# shellcheck disable=SC2068 # netem arguments are words on purpose
		ip netns exec "$ns" tc qdisc replace dev "$ifc" root netem $@
		return
	fi
	# No sch_netem in this kernel: random loss, and only that, through an
	# nftables netdev hook. Like netem it drops whole (GSO) skbs. The drop
	# is at the ingress of IFACE's veth peer, not at IFACE's egress: a drop
	# at the sender's own egress is reported back to TCP, which resends at
	# once without any loss showing, and packets a TC program redirects
	# (splice mode) never pass the egress hook.
	if [ "$LC__NETEM" = nft ] && [ $# -eq 2 ] && [ "$1" = loss ] && [[ "$2" =~ ^([0-9]+(\.[0-9]+)?)%$ ]]; then
		pct=$(awk -v p="${BASH_REMATCH[1]}" 'BEGIN { v = int(p * 10000 + 0.5); if (v > 1000000) v = 1000000; print v }')
		read -r ns ifc <<<"$(lc__iface "$(lc__peer "$ifc")")"
		ip netns exec "$ns" nft delete table netdev "lc_netem_$ifc" 2>/dev/null || true
		ip netns exec "$ns" nft -f - <<EOF
table netdev lc_netem_$ifc {
	chain ingress {
		type filter hook ingress device "$ifc" priority 0;
		numgen random mod 1000000 < $pct counter drop
	}
}
EOF
		return
	fi
	lc_log "lc_netem: this kernel has no sch_netem (CONFIG_NET_SCH_NETEM);" \
		"only 'loss N%' can be emulated, and that needs nftables (nft): got '$*'"
	return 2
}

lc__cgroup_base() { # prints "v2 DIR" or "v1 DIR"
	local t
	if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
		echo "v2 /sys/fs/cgroup"
	elif t=$(stat -fc %T /sys/fs/cgroup/unified 2>/dev/null) && [ "$t" = cgroup2fs ]; then
		echo "v2 /sys/fs/cgroup/unified" # hybrid hierarchy
	elif [ -f /sys/fs/cgroup/cpuacct/cpuacct.usage ]; then
		echo "v1 /sys/fs/cgroup/cpuacct"
	elif [ -f /sys/fs/cgroup/cpu,cpuacct/cpuacct.usage ]; then
		echo "v1 /sys/fs/cgroup/cpu,cpuacct"
	else
		return 1
	fi
}

lc_cgroup_new() {
	local kind base dir
	LC_LAST_CGROUP=""
	read -r kind base < <(lc__cgroup_base) || {
		lc_log "no cgroup v2 or v1 cpuacct hierarchy is mounted"
		return 1
	}
	dir=$base/laconic-$LC_TAG-$1
	mkdir "$dir" 2>/dev/null || {
		lc_log "cannot create cgroup $dir"
		return 1
	}
	LC__CGROUPS+=("$dir")
	LC_LAST_CGROUP=$dir
	[ "$kind" = v2 ] || [ -f "$dir/cpuacct.usage" ] || return 1
}

lc_cgroup_usec() {
	if [ -f "$1/cpu.stat" ]; then
		awk '$1 == "usage_usec" { print $2; f = 1 } END { if (!f) exit 1 }' "$1/cpu.stat"
	else
		awk '{ printf "%.0f\n", $1 / 1000 }' "$1/cpuacct.usage"
	fi
}

lc_proc_usec() {
	local hz pids
	hz=$(getconf CLK_TCK)
	pids=$(ps -o pid= --ppid "$1" 2>/dev/null || true)
	# shellcheck disable=SC2086 # a list of PIDs
	for p in "$1" $pids; do
		[ -r "/proc/$p/stat" ] && sed 's/.*) //' "/proc/$p/stat"
	done | awk -v hz="$hz" '{ t += $12 + $13 } END { printf "%.0f\n", t * 1000000 / hz }'
}

lc_cpu_busy_usec() {
	awk -v hz="$(getconf CLK_TCK)" '$1 == "cpu" { printf "%.0f\n", ($2 + $3 + $4 + $7 + $8) * 1000000 / hz; exit }' /proc/stat
}

lc_atexit() { LC__HOOKS+=("$1"); }

lc_state() {
	printf 'tag=%s\ntmp=%s\nnetns=%s\npids=%s\ncgroups=%s\n' "$LC_TAG" "$LC_TMP" \
		"${LC__NETNS[*]}" "${LC__PIDS[*]}" "${LC__CGROUPS[*]}"
}

lc__dump_logs() {
	local f
	[ "${LC_DUMP_LOGS:-1}" != 0 ] || return 0
	for f in "$LC_LOGDIR"/*.log "$LC_TMP"/*/logs/*.log; do
		[ -s "$f" ] || continue
		printf -- '--- %s (last 15 lines) ---\n' "${f#"$LC_TMP"/}" >&2
		tail -n 15 "$f" >&2
	done
}

# lc__sanitized: did a process we started report to a sanitizer (ASan,
# LSan, UBSan, TSan) in its log? A report that does not stop the process
# (a race, a leak found at exit) would otherwise pass unseen; the reports
# are printed and the test fails (lc__on_exit).
LC__SANITIZED=0
lc__sanitized() {
	local f pat='ERROR: (Address|Leak)Sanitizer|WARNING: ThreadSanitizer|runtime error: |SUMMARY: (Address|Leak|Thread|UndefinedBehavior)Sanitizer'
	for f in "$LC_LOGDIR"/*.log "$LC_TMP"/*/logs/*.log; do
		[ -s "$f" ] && grep -Eq "$pat" "$f" || continue
		LC__SANITIZED=1
		printf -- '--- %s: sanitizer report ---\n' "${f#"$LC_TMP"/}" >&2
		grep -E -A 12 "$pat" "$f" | head -n 60 >&2
	done
}

# lc__term_ours: SIGTERM to every live process this run spawned, newest first.
lc__term_ours() {
	local i
	for ((i = ${#LC__PIDS[@]} - 1; i >= 0; i--)); do
		if lc__ours "$i" && lc_alive "${LC__PIDS[$i]}"; then
			kill -TERM "${LC__PIDS[$i]}" 2>/dev/null || true
		fi
	done
}

lc_cleanup() {
	local rc=${1:-0} i pid ns cg tries p errexit=0
	[ "$LC__CLEANED" -eq 0 ] || return 0
	LC__CLEANED=1
	# Best effort from here on: a failing step must not skip the others.
	[[ $- != *e* ]] || errexit=1
	set +e
	for i in "${LC__HOOKS[@]}"; do
		eval "$i" || true
	done
	# 1. the processes we started: TERM; after 2 s a second TERM (laconic
	# drains for up to drain_timeout after the first, and exits at once on
	# the second, normally, so that a sanitizer's exit-time report, a leak
	# report say, still reaches its log); up to 5 s in all, then KILL
	lc__term_ours
	tries=100
	while [ "$tries" -gt 0 ]; do
		p=0
		for i in "${!LC__PIDS[@]}"; do
			lc__ours "$i" && lc_alive "${LC__PIDS[$i]}" && p=1 && break
		done
		[ "$p" -eq 1 ] || break
		[ "$tries" -ne 60 ] || lc__term_ours # 40 rounds of 0.05 s: 2 s
		sleep 0.05
		tries=$((tries - 1))
	done
	for i in "${!LC__PIDS[@]}"; do
		if lc__ours "$i" && lc_alive "${LC__PIDS[$i]}"; then
			lc_log "cleanup: pid ${LC__PIDS[$i]} ignored SIGTERM; sending SIGKILL"
			kill -KILL "${LC__PIDS[$i]}" 2>/dev/null || true
		fi
	done
	# 2. anything else inside our namespaces (orphaned workers, `lc_in ... &`)
	for ns in "${LC__NETNS[@]}"; do
		for pid in $(ip netns pids "$ns" 2>/dev/null); do
			kill -KILL "$pid" 2>/dev/null || true
		done
	done
	# 3. anything left in our cgroups
	for cg in "${LC__CGROUPS[@]}"; do
		while read -r pid; do
			kill -KILL "$pid" 2>/dev/null || true
		done 2>/dev/null <"$cg/cgroup.procs"
	done
	for pid in "${LC__PIDS[@]}"; do
		lc__reap "$pid"
	done
	lc__sanitized
	# 4. namespaces (their veths go with them), cgroups, files
	for ns in "${LC__NETNS[@]}"; do
		ip netns del "$ns" 2>/dev/null || lc_log "cleanup: could not delete namespace $ns"
	done
	for cg in "${LC__CGROUPS[@]}"; do
		tries=40
		until rmdir "$cg" 2>/dev/null || [ ! -d "$cg" ] || [ "$tries" -eq 0 ]; do
			sleep 0.05
			tries=$((tries - 1))
		done
		[ ! -d "$cg" ] || lc_log "cleanup: could not remove cgroup $cg"
	done
	# a failure, not an interruption: show what the processes said
	case $rc in 0 | 129 | 130 | 143) ;; *) lc__dump_logs ;; esac
	if [ "${LC_KEEP_TMP:-0}" = 1 ]; then
		lc_log "kept $LC_TMP"
	else
		rm -rf "$LC_TMP"
	fi
	LC__PIDS=() LC__STARTS=() LC__NETNS=() LC__CGROUPS=() LC__HOOKS=()
	[ "$errexit" -eq 0 ] || set -e
	return 0
}

lc__on_exit() {
	local rc=$?
	lc_cleanup "$rc" || true
	# A pass (or a skip) with a sanitizer report is a failure.
	if [ "$LC__SANITIZED" = 1 ] && { [ "$rc" -eq 0 ] || [ "$rc" -eq 77 ]; }; then
		echo "FAIL: a process reported to a sanitizer (above)" >&2
		exit 1
	fi
	return "$rc"
}

lc__on_signal() {
	lc_log "caught SIG$1; cleaning up"
	trap - EXIT
	lc_cleanup "$2" || true
	exit "$2"
}

trap lc__on_exit EXIT
trap 'lc__on_signal INT 130' INT
trap 'lc__on_signal TERM 143' TERM
trap 'lc__on_signal HUP 129' HUP
