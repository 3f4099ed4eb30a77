#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The splice fast path's own cost, per SYN and per one-shot request, for one
# or more laconic binaries side by side (a change to the TC program against
# the build before it):
#
#   ns client --veth-- ns lb (laconic, splice mode) --veth-- ns backend (nginx)
#
# Why: the TC program runs in softirq context, which the kernel charges to
# whoever is on the CPU (wrk, a backend), so bench/laconic/run.sh's
# per-balancer CPU never shows it. The kernel's own BPF statistics
# (kernel.bpf_stats_enabled: run time and run count per program) do, and
# they count nothing but the program.
#
# For each binary, in rotation, REPS times: a flood of 20 000 SYNs with
# Linux's options (MSS, SACK, timestamps, window scale) from random ports
# below the client's ephemeral range, each answered by the fast path with a
# cookie (the client's namespace drops the SYN-ACKs, so no RST comes back
# to be counted), then wrk -t1 -c50 -d4s with `Connection: close` (every
# request a new connection, its handshake the fast path's). Reported: the
# program's ns per packet in the flood, and per request and packets per
# request under wrk.
#
#   bench/laconic/fastpath.sh [--reps N] BINARY...
#
# Needs root, wrk, nginx, python3, nft, bpftool. Results: stdout and
# bench/results/fastpath-<date>.txt. About 30 s per binary and repetition.
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD
# shellcheck source=bench/lib.sh
. bench/lib.sh

reps=3
bins=()
while [ $# -gt 0 ]; do
	case $1 in
	--reps) reps=${2:?--reps needs a number}; shift 2 ;;
	-h | --help) sed -n '/^#   bench\/laconic\/fastpath.sh/,/^# Needs root/p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	-*) echo "unknown option $1" >&2; exit 2 ;;
	*) bins+=("$1"); shift ;;
	esac
done
[ ${#bins[@]} -gt 0 ] || { echo "usage: bench/laconic/fastpath.sh [--reps N] BINARY..." >&2; exit 2; }
for b in "${bins[@]}"; do [ -x "$b" ] || { echo "not an executable: $b" >&2; exit 2; }; done

# shellcheck source=tests/integration/laconic/lib.sh
. "$repo/tests/integration/laconic/lib.sh"
lc_need_root
lc_need_cmd wrk nginx python3 nft bpftool
mkdir -p bench/results
res=$repo/bench/results/fastpath-$(date +%Y%m%d-%H%M%S).txt
: >"$res"
say "# laconic fast path, $(date -u '+%Y-%m-%d %H:%M:%S UTC'), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
say "# machine: $(nproc) CPUs, $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo), kernel $(uname -r)"

lc_topology 1
lc_nginx_backend b1 "${LC_BACKEND_IPS[0]}" 80
LB=$LC_LB_IP
lc_in client nft -f - <<EOF
table ip lc_fp {
	chain in {
		type filter hook input priority 0;
		tcp sport 80 tcp dport < 10000 tcp flags & (syn | ack) == syn | ack drop
	}
}
EOF
was=$(sysctl -n kernel.bpf_stats_enabled)
sysctl -qw kernel.bpf_stats_enabled=1
lc_atexit "sysctl -qw kernel.bpf_stats_enabled=$was"


# ns and runs of laconic's TC program so far: "NS COUNT".
prog_stats() {
	bpftool -j prog show | python3 -c '
import json, sys
p = [x for x in json.load(sys.stdin) if x.get("name") == "lc_splice"]
print(sum(x.get("run_time_ns", 0) for x in p), sum(x.get("run_cnt", 0) for x in p))'
}

say "# binary  rep  flood ns/SYN  close ns/request  close packets/request"
for rep in $(seq "$reps"); do
	for b in "${bins[@]}"; do
		lc_spawn --log "$LC_TMP/laconic.log" lb "$b" --listen "$LB:80" \
			--backend "${LC_BACKEND_IPS[0]}:80" --mode splice --workers 1
		pid=$LC_LAST_PID
		lc_wait_splice "$pid" "$LC_TMP/laconic.log" "$LB" 80
		lc_in client wrk -t1 -c50 -d1s -H 'Connection: close' "http://$LB/small" >/dev/null
		read -r t0 c0 < <(prog_stats)
		lc_in client python3 "$LC_LIB_DIR/synflood.py" --options --pause 0.005 "$LC_CLIENT_IP" "$LB" 80 20000 >/dev/null
		read -r t1 c1 < <(prog_stats)
		out=$(lc_in client wrk -t1 -c50 -d4s -H 'Connection: close' "http://$LB/small")
		read -r t2 c2 < <(prog_stats)
		n=$(echo "$out" | awk '/requests in/ { print $1 }')
		lc_stop "$pid"
		say "$b  $rep  $(((t1 - t0) / (c1 - c0)))  $(((t2 - t1) / n))  $(awk -v c=$((c2 - c1)) -v n="$n" 'BEGIN { printf "%.1f", c / n }')"
	done
done
say "# raw results: $res"
