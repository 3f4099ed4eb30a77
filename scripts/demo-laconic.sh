#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The load-balancer part of `make demo`: three nginx backends in their own
# network namespace, Laconic in front in another, wrk driving load from a
# third; then what the balancer saw: the spread over backends, throughput,
# latency percentiles and the traffic graph (GSS) summary. Everything it
# starts is removed on exit, also when interrupted (tests/integration/
# laconic/lib.sh owns the cleanup).
#
#   scripts/demo-laconic.sh [BUILD_DIR]     (default build/release; needs root)
set -euo pipefail

build=${1:-build/release}
laconic=$(readlink -f "$build/laconic/laconic")
[ -x "$laconic" ] || { echo "demo: $laconic not built; run 'make demo'" >&2; exit 1; }
# shellcheck source=../tests/integration/laconic/lib.sh
LC_DUMP_LOGS=1 . "$(dirname "$0")/../tests/integration/laconic/lib.sh"
lc_need_root
lc_need_cmd nginx wrk curl

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "5. Laconic: three nginx backends behind the load balancer, each in network namespaces"
lc_topology 3
B=("${LC_BACKEND_IPS[@]}")
for i in 0 1 2; do lc_nginx_backend "b$((i + 1))" "${B[$i]}" 80; done
LB=$LC_LB_IP
# Splice mode where the kernel allows it (root, TC-BPF, TCP_REPAIR), else
# proxy mode. The namespaces keep their default TCP options (timestamps and
# SACK on): the fast path translates them (laconic/splice-abi.h).
start_lb() { # MODE
	lc_spawn --log "$LC_LOGDIR/laconic-$1.log" lb "$laconic" --listen "$LB:80" \
		--backend "${B[0]}:80" --backend "${B[1]}:80" --backend "${B[2]}:80" \
		--admin 127.0.0.1:9100 --mode "$1"
	LPID=$LC_LAST_PID
	lc_wait_port lb "$LB" 80 10 "$LPID" 2>/dev/null
}
mode=splice
echo "\$ laconic --listen $LB:80 --backend ${B[0]}:80 --backend ${B[1]}:80 --backend ${B[2]}:80 --admin 127.0.0.1:9100 --mode splice"
if ! start_lb splice; then
	echo "splice mode cannot run here: $(grep -m1 'splice' "$LC_LOGDIR/laconic-splice.log" || tail -n1 "$LC_LOGDIR/laconic-splice.log")"
	echo "falling back to proxy mode"
	lc_stop "$LPID" || true
	mode=proxy
	start_lb proxy
fi

say "6. Load: wrk, 32 keep-alive connections, 5 s, a 1 KiB page"
lc_in client wrk -t1 -c32 -d5s --latency "http://$LB/1k" |
	sed -n '/Latency Distribution/,/Transfer/p'

# The workers flush the traffic graph once a second; a spliced connection
# is accounted when its entries go, splice_linger (3 s) after FIN/FIN.
if [ "$mode" = splice ]; then sleep 4.5; else sleep 1.2; fi
say "7. What the balancer saw (/status, /metrics), $mode mode"
[ "$mode" = proxy ] || echo "  (splice mode balances connections: keep-alive requests stay on the connection's backend)"
lc_in lb curl -fsS http://127.0.0.1:9100/status | python3 -c '
import json, sys
s = json.load(sys.stdin)
bs = s["pools"][0]["backends"]
total = sum(b["requests"] for b in bs) or 1
for b in bs:
    print("  %16s  %8d %s  %5.1f %%  %10d bytes out  up=%s" % (b["address"], b["requests"], "connections" if "splice" in s else "requests", 100 * b["requests"] / total, b["bytes_out"], b["up"]))
print("  %d client connections, %d requests" % (s["accepted"], s["requests"]))'
lc_in lb curl -fsS http://127.0.0.1:9100/metrics |
	grep -E '^laconic_backend_reuses_total|^laconic_backend_connects_total|^laconic_splice_(started|closed)_total|^laconic_fastpath_total' |
	sed 's/^/  /'

say "8. The traffic graph (a GSS sketch of client -> backend bytes)"
echo "\$ curl 127.0.0.1:9100/graph"
lc_in lb curl -fsS http://127.0.0.1:9100/graph
echo "\$ curl '127.0.0.1:9100/graph/backend?addr=${B[0]}:80&k=3'   # heaviest clients of b1"
lc_in lb curl -fsS "http://127.0.0.1:9100/graph/backend?addr=${B[0]}:80&k=3"
echo "\$ curl '127.0.0.1:9100/graph/client?addr=$LC_CLIENT_IP'   # where one client's bytes went"
lc_in lb curl -fsS "http://127.0.0.1:9100/graph/client?addr=$LC_CLIENT_IP"
