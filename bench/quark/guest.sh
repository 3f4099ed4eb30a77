#!/bin/sh
# SPDX-License-Identifier: MIT
# The inside of the Quark benchmark: run by busybox sh in the nested bed
# (bench/quark/run.sh copies it with qbench and qtrue to /tests and boots the
# bed once). Not meant to be run by hand elsewhere.
#
#   sh /tests/guest.sh RUNS SPAWNS READS SPIN VERBOSE [GAP_MS]
#
# Every line it prints that run.sh reads starts with "QB " and names the run
# and the case; everything else (quark's own messages) is kept in the
# results file as it came. Each of RUNS runs measures, in an order rotated
# from run to run so that drift hits every variant alike:
#   ops      qbench's timed tests natively, under `quark run --queue on` and
#            under `quark run --queue off`
#   readloop READS 4 KiB preads natively and under quark (both queue modes)
#            with --stats: VM exits per forwarded call
#   spin     qtrue and SPIN raw getpid / clock_gettime calls under quark
#            --stats: what in-guest system calls cost in exits
#            (both under `qbench watch`, which reads KVM's own exit counters
#            from debugfs while quark runs)
# and then, once those are done for every run, RUNS times:
#   start    SPAWNS runs of qtrue and of busybox true, natively and under
#            quark run, GAP_MS (default 100) apart, wall time each (qbench
#            spawn); then VERBOSE runs of quark run --verbose for the phase
#            breakdown
runs=$1 spawns=$2 reads=$3 spin=$4 verbose=$5 gap=${6:-100}
Q=${QB_QUARK:-/bin/quark}
D=${QB_DIR:-/tests}
B=$D/qbench
T=$D/qtrue
F=$D/qbench.dat
cd "$D" || exit 1

# tag PREFIX: every line of stdin with "QB PREFIX " in front.
tag() {
	while IFS= read -r line; do
		printf 'QB %s %s\n' "$1" "$line"
	done
}

# measure PREFIX CMD...: runs CMD (stdout and stderr together), tags its
# output and reports its exit status; the machine's uptime before and after
# places a hang or a console message.
measure() {
	p=$1
	shift
	read -r up0 _ </proc/uptime
	printf 'QB %s start up=%s\n' "$p" "$up0"
	out=$("$@" 2>&1)
	rc=$?
	read -r up1 _ </proc/uptime
	printf '%s\n' "$out" | tag "$p"
	printf 'QB %s rc=%d up=%s\n' "$p" "$rc" "$up1"
}

echo "QB info cpus=$(grep -c '^processor' /proc/cpuinfo)"
echo "QB info kernel=$(uname -r)"
echo "QB info mem_kb=$(sed -n 's/^MemTotal: *\([0-9]*\).*/\1/p' /proc/meminfo)"
echo "QB info cpu=$(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -n1)"
echo "QB info check=$($Q check 2>&1 | head -n1)"
# Only in the bed (never on a machine this is tried on by hand): kernel
# warnings with their call traces on the console (a soft lockup's stack
# says where the machine hung), and debugfs for KVM's per-VM exit counters
# (qbench watch).
if [ "$D" = /tests ] && [ -f /modules/order ] && [ -f /run.sh ]; then
	echo 7 >/proc/sys/kernel/printk
	grep -q ' /sys/kernel/debug ' /proc/mounts || mount -t debugfs none /sys/kernel/debug || echo "QB info error=no debugfs"
fi
# The file qbench reads: 1 MiB, made natively, in the initramfs (tmpfs-like rootfs).
"$B" --file "$F" --batches 1 --min-ms 1 stat >/dev/null || echo "QB info error=cannot create $F"

ops() { # RUN VARIANT
	case $2 in
	native) measure "run=$1 case=ops variant=native" "$B" --file "$F" ;;
	*) measure "run=$1 case=ops variant=$2" "$Q" run --queue "$2" --timeout 900 --workdir "$D" -- "$B" --file "$F" ;;
	esac
}

readloop() { # RUN VARIANT
	case $2 in
	native) measure "run=$1 case=readloop variant=native" "$B" --file "$F" readloop "$reads" ;;
	*) measure "run=$1 case=readloop variant=$2" "$B" watch "$Q" run --stats --queue "$2" --timeout 900 --workdir "$D" -- "$B" --file "$F" readloop "$reads" ;;
	esac
}

rotation() { # RUN: the variants' order in that run
	case $(($1 % 3)) in
	1) echo "native on off" ;;
	2) echo "on off native" ;;
	0) echo "off native on" ;;
	esac
}

# Per-call costs and exit counts first, all runs; the start-ups after them,
# so that a machine that hangs in the start-up loop (it has: docs/quark.md)
# keeps the rest.
r=1
while [ "$r" -le "$runs" ]; do
	order=$(rotation "$r")
	for v in $order; do ops "$r" "$v"; done
	for v in $order; do readloop "$r" "$v"; done
	measure "run=$r case=spin variant=qtrue" "$B" watch "$Q" run --stats --timeout 300 -- "$T"
	measure "run=$r case=spin variant=getpid" "$B" watch "$Q" run --stats --timeout 300 -- "$B" spin getpid "$spin"
	measure "run=$r case=spin variant=clock_gettime" "$B" watch "$Q" run --stats --timeout 300 -- "$B" spin clock_gettime "$spin"
	r=$((r + 1))
done

# Start-up: native first in odd runs, quark first in even ones; GAP ms
# between runs (untimed) so that one VM's teardown is not timed in the next.
r=1
while [ "$r" -le "$runs" ]; do
	if [ $((r % 2)) = 1 ]; then order="native quark"; else order="quark native"; fi
	for prog in qtrue busybox; do
		for v in $order; do
			case $prog in
			qtrue) cmd=$T ;;
			busybox) cmd="/bin/busybox true" ;;
			esac
			# shellcheck disable=SC2086 # cmd is two words for busybox
			case $v in
			native) measure "run=$r case=start variant=native prog=$prog" "$B" spawn --gap "$gap" "$spawns" $cmd ;;
			quark) measure "run=$r case=start variant=quark prog=$prog" "$B" spawn --gap "$gap" "$spawns" "$Q" run -- $cmd ;;
			esac
		done
	done
	k=1
	while [ "$k" -le "$verbose" ]; do
		measure "run=$r case=verbose prog=qtrue k=$k" "$B" spawn 1 "$Q" run --verbose -- "$T"
		measure "run=$r case=verbose prog=busybox k=$k" "$B" spawn 1 "$Q" run --verbose -- /bin/busybox true
		k=$((k + 1))
	done
	r=$((r + 1))
done
echo "QB done"
