#!/bin/sh
# SPDX-License-Identifier: MIT
# Runs inside the nested bed (busybox sh, /bin/quark, KVM modules not loaded
# yet): the three answers `quark check` must give on a real KVM, then the
# hostile guests of test_quark_faults if it is in /tests. Prints one
# PASS/FAIL line per case and exits non-zero if any failed.
fail=0
pass() { echo "PASS: $*"; }
bad() { echo "FAIL: $*"; fail=1; }

# 1. No KVM yet: the device's absence, said plainly.
out=$(quark check --iterations 1000 2>/tmp/err); rc=$?
if [ "$rc" = 1 ] && [ "$out" = "quark check: cannot run: /dev/kvm: No such file or directory" ]; then
	pass "without /dev/kvm: $out"
else
	bad "without /dev/kvm: exit $rc, '$out' $(cat /tmp/err)"
fi

load-kvm || { echo "FAIL: the KVM modules did not load"; exit 1; }

# 2. A real KVM: ok, one line on stdout, the steps on stderr.
out=$(quark check --verbose --iterations 20000 2>/tmp/err); rc=$?
sed 's/^/  /' /tmp/err
lines=$(printf '%s\n' "$out" | wc -l)
case "$out" in
"quark check: ok: ring-3 syscall -> ring 0 -> sysretq works ("*" us per round trip, 20000 iterations; hypercall exit "*" us)")
	if [ "$rc" = 0 ] && [ "$lines" = 1 ]; then pass "$out"; else bad "exit $rc, $lines lines: $out"; fi ;;
*) bad "exit $rc: $out" ;;
esac
grep -q 'capability IMMEDIATE_EXIT' /tmp/err || bad "--verbose did not list the capabilities"

# 3. A guest that runs too long is stopped by the timeout, not waited for.
t0=$(cut -d' ' -f1 /proc/uptime)
out=$(quark check --iterations 100000000 --timeout 1 2>/tmp/err); rc=$?
t1=$(cut -d' ' -f1 /proc/uptime)
secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
case "$out" in
"quark check: cannot run: the probe guest did not finish in time (it was in the ring-3 syscall loop)")
	if [ "$rc" = 1 ] && awk -v s="$secs" 'BEGIN { exit !(s < 10) }'; then
		pass "timeout after ${secs} s: $out"
	else
		bad "timeout: exit $rc after ${secs} s: $out"
	fi ;;
*) bad "timeout: exit $rc after ${secs} s: $out $(cat /tmp/err)" ;;
esac

# 4. Hostile and broken guests, each with its own diagnosis.
if [ -x ./test_quark_faults ]; then
	./test_quark_faults || bad "test_quark_faults exited $?"
fi
exit $fail
