#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Description: TSoR across nodes in the Kubernetes network model. Two
# "nodes" (network namespaces joined by a veth pair, each running its own
# tsord with --node-listen and --peer), one "pod" on node B and two on
# node A (namespaces with their own IPs, a veth each to their node,
# routes, no NAT). Checks, with the real binaries and python3 under
# `tsor run`:
#   - the link comes up (tsor_peers_up 1 on both nodes);
#   - 4 concurrent 8 MiB echo transfers pod A -> pod B, SHA-256 checked,
#     and one the other way, all relayed: tsor_connections_remote and the
#     transport byte counters of both nodes move (not a silent fallback),
#     no connection falls back;
#   - pod to pod on one node (two namespaces): accelerated on shared
#     memory (tsor_connections_accelerated), not relayed;
#   - a server that is not under TSoR in a peer CIDR: the client falls
#     back to kernel TCP and the transfer still works;
#   - killing the remote tsord mid-transfer: the client sees ECONNRESET,
#     EPIPE or EOF within 10 s, never a hang, and the link comes back after
#     the remote tsord restarts.
# Needs root (namespaces, veths; tsord needs CAP_NET_ADMIN to place pod
# sockets) and python3; exits 77 with the reason otherwise.
#
# usage: test_tsor_multihost.sh TSOR_BIN_DIR   (holds tsor, tsord, libtsor.so)
set -euo pipefail

bin=${1:?usage: $0 TSOR_BIN_DIR}
here=$(cd "$(dirname "$0")" && pwd)
tsor=$bin/tsor
py=$(command -v python3 || true)

skip() { echo "SKIP: $*"; exit 77; }
fail() {
	echo "FAIL: $*" >&2
	for n in a b; do
		[ -f "$tmp/tsord-$n.log" ] && sed "s/^/  tsord-$n.log: /" "$tmp/tsord-$n.log" | tail -n 20 >&2
	done
	exit 1
}

[ "$(id -u)" -eq 0 ] || skip "needs root (network namespaces, veths)"
[ -n "$py" ] || skip "python3 not installed"
command -v ip >/dev/null || skip "no 'ip' command (iproute2)"
[ -x "$tsor" ] && [ -x "$bin/tsord" ] && [ -f "$bin/libtsor.so" ] || fail "no tsor build in $bin"

id=$$
nA=tsnA$id nB=tsnB$id pA=tspA$id pA2=tspC$id pB=tspB$id
probe=tsprobe$id
if ! err=$(ip netns add "$probe" 2>&1); then
	skip "'ip netns add' does not work here: $err"
fi
ip netns del "$probe"

tmp=$(mktemp -d /tmp/tsor-mh.XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for n in a b; do TSOR_SOCK=$tmp/$n.sock "$tsor" stop >/dev/null 2>&1 || true; done
	for ns in "$pA" "$pA2" "$pB" "$nA" "$nB"; do ip netns del "$ns" 2>/dev/null || true; done
	rm -rf "$tmp"
}
trap cleanup EXIT

# --- topology: nodes 10.77.0.1 / .2, pod CIDRs 10.77.1.0/24 (A: pods on
# 10.77.1.0/25 and 10.77.1.128/25), 10.77.2.0/24 (B)
for ns in "$nA" "$nB" "$pA" "$pA2" "$pB"; do
	ip netns add "$ns"
	ip -n "$ns" link set lo up
done
ip link add "ta$id" netns "$nA" type veth peer name "tb$id" netns "$nB"
ip -n "$nA" addr add 10.77.0.1/24 dev "ta$id"
ip -n "$nB" addr add 10.77.0.2/24 dev "tb$id"
ip -n "$nA" link set "ta$id" up
ip -n "$nB" link set "tb$id" up
pod() { # pod NODE_NS POD_NS NODE_IF POD_IP GW PREFIXLEN
	ip link add "$3" netns "$1" type veth peer name eth0 netns "$2"
	ip -n "$1" addr add "$5/$6" dev "$3"
	ip -n "$1" link set "$3" up
	ip -n "$2" addr add "$4/$6" dev eth0
	ip -n "$2" link set eth0 up
	ip -n "$2" route add default via "$5"
}
pod "$nA" "$pA" "pa$id" 10.77.1.2 10.77.1.1 25
pod "$nA" "$pA2" "pc$id" 10.77.1.130 10.77.1.129 25
pod "$nB" "$pB" "pb$id" 10.77.2.2 10.77.2.1 24
ip -n "$nA" route add 10.77.2.0/24 via 10.77.0.2
ip -n "$nB" route add 10.77.1.0/24 via 10.77.0.1
ip netns exec "$nA" sysctl -qw net.ipv4.ip_forward=1
ip netns exec "$nB" sysctl -qw net.ipv4.ip_forward=1

start_tsord() { # start_tsord a|b
	if [ "$1" = a ]; then
		ip netns exec "$nA" "$bin/tsord" --daemon --socket "$tmp/a.sock" --log "$tmp/tsord-a.log" \
			--node-listen 10.77.0.1:7390 --peer 10.77.2.0/24=10.77.0.2:7390
	else
		ip netns exec "$nB" "$bin/tsord" --daemon --socket "$tmp/b.sock" --log "$tmp/tsord-b.log" \
			--node-listen 10.77.0.2:7390 --peer 10.77.1.0/24=10.77.0.1:7390
	fi
}
stat() { TSOR_SOCK=$tmp/$1.sock "$tsor" stats | awk -v k="$2" '$1 == k { print $2 }'; }
wait_up() {
	for _ in $(seq 100); do
		[ "$(stat a tsor_peers_up)" = 1 ] && [ "$(stat b tsor_peers_up)" = 1 ] && return 0
		sleep 0.05
	done
	fail "the link between the nodes did not come up"
}
wait_file() { for _ in $(seq 200); do [ -e "$1" ] && return 0; sleep 0.05; done; fail "no $1"; }
# in POD NODE CMD...: run CMD in POD under the library, against NODE's tsord.
in_pod() {
	local ns=$1 node=$2
	shift 2
	ip netns exec "$ns" env TSOR_SOCK="$tmp/$node.sock" TSOR_CONFIRM_MS=5000 "$tsor" run -- "$@"
}
# The same in the background, as one process whose pid is $! (exec: no subshell left to kill).
in_pod_bg() {
	local ns=$1 node=$2
	shift 2
	exec ip netns exec "$ns" env TSOR_SOCK="$tmp/$node.sock" TSOR_CONFIRM_MS=5000 "$tsor" run -- "$@"
}

start_tsord a
start_tsord b
wait_up

# --- relayed transfers, both directions
in_pod_bg "$pB" b "$py" "$here/xnode.py" server 10.77.2.2 8000 "$tmp/srvB" &
pids+=($!)
in_pod_bg "$pA" a "$py" "$here/xnode.py" server 10.77.1.2 8000 "$tmp/srvA" &
pids+=($!)
wait_file "$tmp/srvB"
wait_file "$tmp/srvA"
ra0=$(stat a tsor_connections_remote) rb0=$(stat b tsor_connections_remote)
fa0=$(stat a tsor_connections_fallback) fb0=$(stat b tsor_connections_fallback)
tx0=$(stat a tsor_transport_bytes_tx) rx0=$(stat b tsor_transport_bytes_rx)
in_pod "$pA" a "$py" "$here/xnode.py" client 10.77.2.2 8000 4 $((8 << 20)) ||
	fail "A -> B transfers"
in_pod "$pB" b "$py" "$here/xnode.py" client 10.77.1.2 8000 1 $((8 << 20)) ||
	fail "B -> A transfer"
[ "$(($(stat a tsor_connections_remote) - ra0))" -eq 5 ] || fail "node A: remote connections $(stat a tsor_connections_remote) - $ra0, expected 5"
[ "$(($(stat b tsor_connections_remote) - rb0))" -eq 5 ] || fail "node B: remote connections $(stat b tsor_connections_remote) - $rb0, expected 5"
[ "$(stat a tsor_connections_fallback)" = "$fa0" ] || fail "node A: a connection fell back"
[ "$(stat b tsor_connections_fallback)" = "$fb0" ] || fail "node B: a connection fell back"
# 4 x 8 MiB out and back from A, 8 MiB out and back from B: > 40 MiB each way.
[ "$(($(stat a tsor_transport_bytes_tx) - tx0))" -gt $((40 << 20)) ] || fail "node A sent too few transport bytes"
[ "$(($(stat b tsor_transport_bytes_rx) - rx0))" -gt $((40 << 20)) ] || fail "node B received too few transport bytes"
for _ in $(seq 100); do
	[ "$(stat a tsor_streams_relayed)" = 0 ] && [ "$(stat b tsor_streams_relayed)" = 0 ] && break
	sleep 0.05
done
[ "$(stat a tsor_streams_relayed)" = 0 ] || fail "node A still relays $(stat a tsor_streams_relayed) streams after every close"
[ "$(stat b tsor_streams_relayed)" = 0 ] || fail "node B still relays $(stat b tsor_streams_relayed) streams after every close"
echo "ok: relayed transfers, both directions"

# --- pod to pod on node A: shared memory, no relay
ac0=$(stat a tsor_connections_accelerated) ra0=$(stat a tsor_connections_remote)
in_pod "$pA2" a "$py" "$here/xnode.py" client 10.77.1.2 8000 2 $((4 << 20)) ||
	fail "pod to pod on one node"
[ "$(($(stat a tsor_connections_accelerated) - ac0))" -eq 2 ] || fail "pods of one node: not accelerated"
[ "$(stat a tsor_connections_remote)" = "$ra0" ] || fail "pods of one node: relayed"
echo "ok: pod to pod on one node, shared memory"

# --- a plain server in B's CIDR: the TSoR client falls back, data intact
ip netns exec "$pB" "$py" "$here/xnode.py" server 10.77.2.2 8001 "$tmp/plainB" &
pids+=($!)
wait_file "$tmp/plainB"
ra0=$(stat a tsor_connections_remote)
TSOR_CONFIRM_MS=300 ip netns exec "$pA" env TSOR_SOCK="$tmp/a.sock" "$tsor" run -- \
	"$py" "$here/xnode.py" client 10.77.2.2 8001 1 $((1 << 20)) || fail "fallback transfer"
[ "$(stat a tsor_connections_remote)" = "$ra0" ] || fail "a plain server counted as remote"
echo "ok: plain server in a peer CIDR, kernel TCP"

# --- the remote tsord dies mid-transfer
in_pod_bg "$pA" a "$py" "$here/xnode.py" flood 10.77.2.2 8000 "$tmp/flooding" >"$tmp/flood.out" 2>&1 &
fpid=$!
pids+=($fpid)
wait_file "$tmp/flooding"
[ "$(($(stat a tsor_connections_remote) - ra0))" -eq 1 ] || fail "the flood connection is not relayed"
bpid=$(pgrep -n -f "tsord --daemon --socket $tmp/b.sock") || fail "no tsord for node B"
kill -9 "$bpid"
for _ in $(seq 100); do kill -0 "$fpid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$fpid" 2>/dev/null && fail "the client still runs 10 s after the remote tsord died"
wait "$fpid" || fail "the client ended badly: $(cat "$tmp/flood.out")"
echo "ok: remote tsord killed: $(cat "$tmp/flood.out")"
for _ in $(seq 100); do [ "$(stat a tsor_streams_relayed)" = 0 ] && break; sleep 0.05; done
[ "$(stat a tsor_streams_relayed)" = 0 ] || fail "node A keeps the dead streams"
rm -f "$tmp/b.sock"
start_tsord b
wait_up
# The old server's tsord is gone (its lib keeps kernel TCP); a new one registers.
in_pod_bg "$pB" b "$py" "$here/xnode.py" server 10.77.2.2 8002 "$tmp/srvB2" &
pids+=($!)
wait_file "$tmp/srvB2"
ra0=$(stat a tsor_connections_remote)
in_pod "$pA" a "$py" "$here/xnode.py" client 10.77.2.2 8002 2 $((1 << 20)) || fail "transfer after the restart"
[ "$(($(stat a tsor_connections_remote) - ra0))" -eq 2 ] || fail "not relayed after the restart"
echo "ok: the link came back and relays again"
