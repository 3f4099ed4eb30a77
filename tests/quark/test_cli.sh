#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# ctest quark_cli: the command line of quark without touching KVM: help,
# the one subcommand there is, and refusals of bad usage (exit 2, a message
# that names the problem, nothing on stdout).
#   test_cli.sh QUARK
set -uo pipefail
quark=$1
fail=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# expect STATUS STDOUT-PATTERN STDERR-PATTERN ARGS...: grep -E patterns, '' = must be empty.
expect() {
	local want=$1 outpat=$2 errpat=$3 rc
	shift 3
	"$quark" "$@" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	if [ "$rc" != "$want" ]; then
		echo "FAIL: quark $*: exit $rc, expected $want"; fail=1; return
	fi
	for s in out err; do
		local pat=$outpat
		[ $s = err ] && pat=$errpat
		if [ -z "$pat" ]; then
			[ -s "$tmp/$s" ] && { echo "FAIL: quark $*: unexpected std$s: $(head -c 300 "$tmp/$s")"; fail=1; }
		elif ! grep -Eq -- "$pat" "$tmp/$s"; then
			echo "FAIL: quark $*: std$s lacks /$pat/: $(head -c 300 "$tmp/$s")"; fail=1
		fi
	done
}

expect 0 '^Usage: quark <command>' '' --help
expect 0 '^  check ' '' help
expect 2 '' '^Usage: quark <command>'
expect 0 '^Usage: quark check ' '' check --help
expect 2 '' "unknown command 'run': this build has only 'check'" run -- /bin/true
expect 2 '' "unknown command 'bogus'" bogus
for bad in 0 -1 abc 12x 100000001 99999999999999999999999 ''; do
	expect 2 '' "bad --iterations '$bad' \\(expected 1 to 100000000\\)" check --iterations "$bad"
done
for bad in 0 3601 1.5; do
	expect 2 '' "bad --timeout '$bad'" check --timeout "$bad"
done
expect 2 '' "unexpected argument 'extra'" check extra
expect 2 '' '^Usage: quark check' check --no-such-option
# A device that is not KVM: one line, the reason, exit 1 (no KVM needed for that).
expect 1 '^quark check: cannot run: /dev/null: KVM_GET_API_VERSION: .*\(not a KVM device\?\)$' '' \
	check --device /dev/null
expect 1 '^quark check: cannot run: /nonexistent/kvm: No such file or directory$' '' \
	check --device /nonexistent/kvm
[ "$(wc -l <"$tmp/out")" = 1 ] || { echo "FAIL: more than one line on stdout"; fail=1; }

[ $fail = 0 ] && echo "quark_cli: all cases passed"
exit $fail
