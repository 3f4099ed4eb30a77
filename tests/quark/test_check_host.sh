#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# ctest quark_check_host: `quark check` on this host's own /dev/kvm.
#
# The verdict itself may be "cannot run" (the development hosts' PVM-style
# KVM emulates guest ring 0, see docs/quark.md), so what is tested is that
# the program behaves: it ends within its timeout, is not killed by a signal
# or a sanitizer, prints exactly one well-formed line on stdout, exits 0 for
# "ok" and 1 for "cannot run", and, where the kind of KVM is known, gives
# the verdict that kind must give. --verbose must not change stdout.
# Without /dev/kvm: checks that diagnosis, then skips (77).
#   test_check_host.sh QUARK
set -uo pipefail
quark=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

run_check() { # run_check OUT ERR ARGS... -> exit status
	local out=$1 err=$2
	shift 2
	timeout 90 "$quark" check "$@" >"$out" 2>"$err"
}

if [ ! -e /dev/kvm ]; then
	run_check "$tmp/out" "$tmp/err"
	rc=$?
	if [ $rc != 1 ] || [ "$(cat "$tmp/out")" != "quark check: cannot run: /dev/kvm: No such file or directory" ]; then
		echo "FAIL: without /dev/kvm: exit $rc: $(cat "$tmp/out" "$tmp/err")"
		exit 1
	fi
	echo "quark_check_host: skipped: this host has no /dev/kvm (the diagnosis was right: $(cat "$tmp/out"))"
	exit 77
fi

# What this kind of KVM must answer: hardware KVM runs ring 0 natively; the PVM
# variant (kvm_pvm loaded, no kvm_amd/kvm_intel) runs the handler at CPL 3.
expect='^quark check: (ok: |cannot run: )'
if [ -d /sys/module/kvm_amd ] || [ -d /sys/module/kvm_intel ]; then
	expect='^quark check: ok: ring-3 syscall -> ring 0 -> sysretq works \([0-9.]+ us per round trip, 20000 iterations; hypercall exit [0-9.]+ us\)$'
elif [ -d /sys/module/kvm_pvm ]; then
	expect='^quark check: cannot run: the syscall handler ran at CPL 3 \(this KVM emulates guest ring 0; see docs/quark.md\)$'
fi

fail=0
for verbose in "" --verbose; do
	run_check "$tmp/out" "$tmp/err" --iterations 20000 $verbose
	rc=$?
	line=$(head -n1 "$tmp/out")
	echo "quark check $verbose: exit $rc: $line"
	if [ $rc -ge 124 ]; then
		echo "FAIL: killed or timed out (exit $rc); stderr:"; tail -n 20 "$tmp/err"; fail=1; continue
	fi
	if [ "$(wc -l <"$tmp/out")" != 1 ]; then
		echo "FAIL: stdout is not exactly one line:"; cat "$tmp/out"; fail=1; continue
	fi
	case "$line" in
	"quark check: ok: "*) want=0 ;;
	"quark check: cannot run: "*) want=1 ;;
	*) want=x ;;
	esac
	[ "$rc" = "$want" ] || { echo "FAIL: exit $rc does not match the line"; fail=1; }
	printf "%s\n" "$line" | grep -Eq "$expect" || { echo "FAIL: expected /$expect/"; fail=1; }
	if [ -n "$verbose" ]; then
		grep -q 'capability IMMEDIATE_EXIT' "$tmp/err" || { echo "FAIL: --verbose listed no capabilities"; fail=1; }
	elif [ -s "$tmp/err" ]; then
		echo "FAIL: stderr without --verbose:"; cat "$tmp/err"; fail=1
	fi
done
exit $fail
