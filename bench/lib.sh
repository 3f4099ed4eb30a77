# SPDX-License-Identifier: MIT
# shellcheck shell=bash disable=SC2154  # $res is set by the sourcing script
# Helpers the benchmark scripts share (sourced by bench/*/run.sh).
# The caller sets $res, the results file, before say/note are used.

# say: a line to the terminal and the results file; note: a '# ' comment
# line to the results file only.
say() { printf '%s\n' "$*" | tee -a "$res"; }
note() { printf '%s\n' "$*" | sed 's/^/# /' >>"$res"; }
# qcmd: a command line as it could be pasted.
qcmd() { printf '%q ' "$@" | sed 's/ $//'; }

# parse_wrk: key=value fields from a wrk --latency report on stdin:
# requests rps mibs p50_ms p99_ms sock_err non2xx (latencies in ms, all
# of wrk's units converted; socket errors summed over their kinds).
parse_wrk() {
	awk '
	function ms(v) {
		if (v ~ /us$/) return v * 0.001
		if (v ~ /ms$/) return v + 0
		if (v ~ /s$/) return v * 1000
		if (v ~ /m$/) return v * 60000
		if (v ~ /h$/) return v * 3600000
		return v + 0
	}
	function mib(v) {
		if (v ~ /GB$/) return v * 1024
		if (v ~ /MB$/) return v + 0
		if (v ~ /KB$/) return v / 1024
		return v / 1048576
	}
	$1 == "50%" { p50 = ms($2) }
	$1 == "99%" { p99 = ms($2) }
	$2 == "requests" && $3 == "in" { req = $1 }
	$1 == "Requests/sec:" { rps = $2 }
	$1 == "Transfer/sec:" { tps = mib($2) }
	/Socket errors:/ { line = $0; sub(/.*Socket errors:/, "", line); n = split(line, f, /[^0-9]+/)
		for (i = 1; i <= n; i++) serr += f[i] }
	/Non-2xx or 3xx responses:/ { non2xx = $NF }
	END { printf "requests=%d rps=%.1f mibs=%.2f p50_ms=%.3f p99_ms=%.3f sock_err=%d non2xx=%d\n",
		req, rps, tps, p50, p99, serr, non2xx }'
}
