#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# ctest quark_cli: the command line of quark without touching KVM: help,
# the subcommands, refusals of bad usage (exit 2, a message that names the
# problem, nothing on stdout), and `quark run`'s own failures before a VM
# exists (127 not found, 125 with the reason).
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
expect 0 '^  run ' '' help
expect 0 '^Usage: quark run ' '' run --help
expect 2 '' "no program given" run
expect 2 '' "no program given" run --stats
for bad in 0 8M 3G abc 1Q -5; do
	expect 2 '' "bad --memory '$bad' \\(expected 16M to 2G\\)" run --memory "$bad" -- /bin/true
done
expect 2 '' "bad --cpus '17' \\(expected 1 to 16\\)" run --cpus 17 -- /bin/true
expect 2 '' "bad --cpus '0'" run --cpus 0 -- /bin/true
expect 2 '' "bad --env 'NOEQUALS' \\(expected NAME=VALUE\\)" run --env NOEQUALS -- /bin/true
expect 2 '' "bad --env '=x'" run --env =x -- /bin/true
expect 2 '' "bad --queue 'maybe'" run --queue maybe -- /bin/true
expect 2 '' "bad --timeout '0'" run --timeout 0 -- /bin/true
expect 2 '' '^Usage: quark run' run --no-such-option -- /bin/true
# Failures before any VM: the program is looked up first, then the root, then KVM.
expect 127 '' '^quark: no-such-program-xyz: command not found' run --device /dev/null -- no-such-program-xyz
expect 127 '' 'command not found' run --env PATH=/nonexistent --device /dev/null -- true
expect 125 '' '^quark: --rootfs /nonexistent/root: No such file or directory' \
	run --rootfs /nonexistent/root --device /dev/null -- /bin/true
expect 125 '' '^quark: /nonexistent/kvm: No such file or directory' run --device /nonexistent/kvm -- /bin/true
expect 125 '' '^quark: /dev/null: KVM_GET_API_VERSION' run --device /dev/null -- /bin/true
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
