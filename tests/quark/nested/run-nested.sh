#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The nested test bed of Quark: a real, hardware-style KVM inside QEMU's
# software emulation, built from Debian packages alone. Debian's own kernel
# (the one linux-image-amd64 currently depends on, fetched with `apt-get
# download`, never installed) boots under `qemu-system-x86_64 -machine
# q35,accel=tcg -cpu max`, whose emulated AMD CPU has SVM with nested paging;
# kvm.ko and kvm-amd.ko from the same package give /dev/kvm inside, where a
# ring-3 `syscall` really enters ring 0 (the host's own /dev/kvm may not:
# docs/quark.md). The initramfs holds busybox-static, those modules and
# their dependencies, an /init, the quark binary (with the shared libraries
# ldd names, so a sanitizer build runs as built) and any test files.
#
#   run-nested.sh [--no-kvm] [--timeout S] CACHE QUARK [FILE...] -- COMMAND [ARG...]
#
# CACHE   directory for the download, the extracted kernel and the base
#         initramfs, re-used across runs (the build tree's quark-nested/)
# QUARK   the quark binary; /bin/quark in the guest
# FILE    copied to /tests/ in the guest (the command runs there), with the
#         shared libraries of those that are programs
# COMMAND run by the guest's sh after the KVM modules are loaded (with
#         --no-kvm: not loaded; the command may run `load-kvm` itself)
#
# QUARK_NESTED_SMP sets the emulated machine's CPUs (default 1: with 2, under host
# load, TCG's nested machine has frozen in soft lockups; bench/quark asks for 2).
#
# Prints the command's output, then its exit status and the timings, and
# exits with that status. Exits 77 (skip) when QEMU, busybox-static or the
# kernel package cannot be had; 1 when the guest gives no result (QEMU
# timed out, the kernel panicked).
set -euo pipefail

skip() { echo "nested: skipped: $*" >&2; exit 77; }
die() { echo "nested: $*" >&2; exit 1; }

autoload=1
timeout_s=300
while [ $# -gt 0 ]; do
	case "$1" in
	--no-kvm) autoload=0; shift ;;
	--timeout) timeout_s=$2; shift 2 ;;
	*) break ;;
	esac
done
[ $# -ge 3 ] || die "usage: run-nested.sh [--no-kvm] [--timeout S] CACHE QUARK [FILE...] -- COMMAND..."
cache=$1 quark=$2
shift 2
files=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do files+=("$1"); shift; done
[ "${1:-}" = "--" ] || die "no '--' before the command"
shift
[ $# -gt 0 ] || die "no command to run in the guest"
[ -x "$quark" ] || die "$quark: not an executable"

for tool in qemu-system-x86_64:qemu-system-x86 cpio:cpio gzip:gzip dpkg-deb:dpkg \
	objcopy:binutils timeout:coreutils; do
	command -v "${tool%%:*}" >/dev/null || skip "${tool%%:*} not found (apt-get install ${tool#*:})"
done
busybox=/bin/busybox
[ -x "$busybox" ] || skip "$busybox not found (apt-get install busybox-static)"
if ldd "$busybox" >/dev/null 2>&1; then
	skip "$busybox is dynamically linked (apt-get install busybox-static)"
fi

mkdir -p "$cache"
cache=$(cd "$cache" && pwd)
# One run at a time per cache: the kernel is extracted and the base image built in place.
exec 9>"$cache/.lock"
flock 9

# --- the kernel package -------------------------------------------------------
# The metapackage's Depends names the current ABI package (it changes with point
# releases). Offline, fall back to the newest kernel already in the cache.
pkg=$(apt-cache show --no-all-versions linux-image-amd64 2>/dev/null |
	sed -n 's/^Depends: \(linux-image-[^ ,]*\).*/\1/p' | head -n1 || true)
if [ -z "$pkg" ]; then
	pkg=$(ls -1t "$cache" 2>/dev/null | sed -n 's/^kernel-//p' | head -n1 || true)
	[ -n "$pkg" ] || skip "no apt package lists to find linux-image-amd64 in (run apt-get update)"
fi
kdir=$cache/kernel-$pkg
if [ ! -f "$kdir/ready" ]; then
	echo "nested: fetching $pkg with apt-get download" >&2
	rm -rf "$kdir" "$cache/dl"
	mkdir -p "$cache/dl"
	if ! (cd "$cache/dl" && apt-get download -q "$pkg" >/dev/null 2>"$cache/dl/apt.err"); then
		skip "apt-get download $pkg failed: $(tail -n1 "$cache/dl/apt.err")"
	fi
	deb=$(ls "$cache"/dl/*.deb)
	mkdir -p "$cache/dl/x" "$kdir/modules"
	dpkg-deb -x "$deb" "$cache/dl/x"
	cp "$cache"/dl/x/boot/vmlinuz-* "$kdir/vmlinuz"
	kmods=$(ls -d "$cache"/dl/x/lib/modules/*/kernel)

	# Module name -> path of its .ko (names use _ and - interchangeably).
	find_ko() {
		local n=${1//_/[-_]}
		find "$kmods" -regextype posix-extended -regex ".*/${n}\.ko(\.xz|\.zst)?" -print -quit
	}
	# A module as a plain .ko in the cache (busybox insmod takes no compressed ones).
	plain_ko() {
		case "$1" in
		*.xz) xz -dc "$1" >"$2" ;;
		*.zst) zstd -qdc "$1" >"$2" ;;
		*) cp "$1" "$2" ;;
		esac
	}
	# Depth-first over modinfo's depends= (no depmod in the package): load order.
	declare -A seen=()
	order=()
	add_module() {
		local name=${1//-/_} path deps d
		[ -n "${seen[$name]:-}" ] && return 0
		seen[$name]=1
		path=$(find_ko "$name")
		[ -n "$path" ] || die "module $name not in $pkg"
		plain_ko "$path" "$kdir/modules/$name.ko"
		deps=$(objcopy -O binary --only-section=.modinfo "$kdir/modules/$name.ko" /dev/stdout |
			tr '\0' '\n' | sed -n 's/^depends=//p' | tr ',' ' ')
		for d in $deps; do add_module "$d"; done
		order+=("$name")
	}
	add_module kvm_amd
	printf '%s\n' "${order[@]}" >"$kdir/modules/order"
	rm -rf "$cache/dl"
	echo "$pkg" >"$kdir/ready"
fi

# --- the base initramfs: busybox, modules, /init ------------------------------
# Rebuilt when this script, busybox or the kernel changes.
key=$( (cat "$0" "$busybox" "$kdir/modules/order") | sha256sum | cut -c1-12)
base=$cache/base-$pkg-$key.cpio.gz
if [ ! -f "$base" ]; then
	stage=$(mktemp -d "$cache/stage.XXXXXX")
	mkdir -p "$stage"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp,tests,modules,etc}
	cp "$busybox" "$stage/bin/busybox"
	cp "$kdir"/modules/* "$stage/modules/"
	cat >"$stage/bin/load-kvm" <<'EOF'
#!/bin/sh
# Loads the KVM modules in dependency order and makes sure /dev/kvm exists.
t0=$(cut -d' ' -f1 /proc/uptime)
for m in $(cat /modules/order); do
	insmod "/modules/$m.ko" || { echo "load-kvm: insmod $m failed"; exit 1; }
done
if [ ! -e /dev/kvm ] && [ -r /sys/class/misc/kvm/dev ]; then
	IFS=: read -r maj min </sys/class/misc/kvm/dev
	mknod /dev/kvm c "$maj" "$min"
fi
[ -e /dev/kvm ] || { echo "load-kvm: no /dev/kvm after loading $(cat /modules/order | tr '\n' ' ')"; exit 1; }
echo "@@QUARK-KVM t0=$t0 t1=$(cut -d' ' -f1 /proc/uptime)@@"
EOF
	cat >"$stage/init" <<'EOF'
#!/bin/busybox sh
# PID 1 of the nested bed: mount, load KVM, run /run.sh between markers, power off.
/bin/busybox --install -s
export PATH=/bin:/sbin:/usr/bin:/usr/sbin HOME=/tmp
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
echo "@@QUARK-BOOT uptime=$(cut -d' ' -f1 /proc/uptime)@@"
[ -e /no-kvm-autoload ] || load-kvm
cd /tests
echo "@@QUARK-BEGIN@@"
sh /run.sh
rc=$?
echo "@@QUARK-END rc=$rc uptime=$(cut -d' ' -f1 /proc/uptime)@@"
poweroff -f
EOF
	chmod +x "$stage/init" "$stage/bin/load-kvm"
	(cd "$stage" && find . | cpio -o -H newc --quiet | gzip -1) >"$base.tmp"
	mv "$base.tmp" "$base"
	rm -rf "$stage"
fi

# --- this run: quark, its libraries, the test files, the command --------------
run=$(mktemp -d "$cache/run.XXXXXX")
trap 'rm -rf "$run"' EXIT
stage=$run/stage
mkdir -p "$stage/bin" "$stage/tests"
cp "$quark" "$stage/bin/quark"
for f in "${files[@]}"; do cp "$f" "$stage/tests/"; done
# Shared libraries of quark and of any test program, at their own paths
# (nothing for a static binary; ldd prints nothing useful for a script).
for bin in "$quark" "${files[@]}"; do
	{ ldd "$bin" 2>/dev/null || true; } | { grep -oE '/[^ ]+' || true; }
done | sort -u | while read -r lib; do
	[ -f "$lib" ] || continue
	mkdir -p "$stage$(dirname "$lib")"
	cp -L "$lib" "$stage$lib"
done
printf '%q ' "$@" >"$stage/run.sh"
echo >>"$stage/run.sh"
[ "$autoload" = 1 ] || : >"$stage/no-kvm-autoload"
(cd "$stage" && find . | cpio -o -H newc --quiet | gzip -1) >"$run/run.cpio.gz"
# The kernel unpacks concatenated archives in order, later files on top.
cat "$base" "$run/run.cpio.gz" >"$run/initrd.gz"

t0=$(date +%s.%N)
set +e
# One CPU unless asked: `quark run`'s queue worker pays off with two (it
# polls beside the spinning vCPU), which is what bench/quark measures.
timeout "$timeout_s" qemu-system-x86_64 -machine q35,accel=tcg -cpu max -smp "${QUARK_NESTED_SMP:-1}" -m 1024 \
	-nographic -no-reboot -net none -kernel "$kdir/vmlinuz" -initrd "$run/initrd.gz" \
	-append "console=ttyS0 quiet panic=-1" </dev/null >"$run/console.log" 2>&1
qrc=$?
set -e
t1=$(date +%s.%N)
tr -d '\r' <"$run/console.log" >"$run/console.txt"
cp "$run/console.txt" "$cache/last-console.txt" # for a look after the fact

end=$(grep -a -m1 '^@@QUARK-END rc=' "$run/console.txt" || true)
if [ -z "$end" ] || ! grep -aq '^@@QUARK-BEGIN@@' "$run/console.txt"; then
	echo "nested: no result from the guest (QEMU exit status $qrc$([ $qrc = 124 ] && echo ": timed out after $timeout_s s")); console tail:" >&2
	tail -n 30 "$run/console.txt" >&2
	exit 1
fi
sed -n '/^@@QUARK-BEGIN@@$/,/^@@QUARK-END rc=/p' "$run/console.txt" | sed '1d;$d' | grep -av '^@@QUARK-KVM'
rc=$(sed -n 's/^@@QUARK-END rc=\([0-9]*\).*/\1/p' <<<"$end")
# Firmware escape codes may share the line with the first marker: match anywhere.
boot=$(sed -n 's/.*@@QUARK-BOOT uptime=\([0-9.]*\)@@.*/\1/p' "$run/console.txt" | head -n1)
kvm=$(sed -n 's/.*@@QUARK-KVM t0=\([0-9.]*\) t1=\([0-9.]*\)@@/\1 \2/p' "$run/console.txt" | head -n1)
up=$(sed -n 's/.*uptime=\([0-9.]*\)@@$/\1/p' <<<"$end")
awk -v rc="$rc" -v boot="${boot:-0}" -v kvm="${kvm:-}" -v up="${up:-0}" -v t0="$t0" -v t1="$t1" \
	-v k="$pkg" 'BEGIN {
	split(kvm, m, " ");
	printf "nested: exit status %d; %s, kernel up at /init after %.2f s, KVM modules %s, command %.2f s, QEMU %.1f s wall\n",
		rc, k, boot, (kvm == "" ? "not loaded" : sprintf("%.2f s", m[2] - m[1])), up - (kvm == "" ? boot : m[2]), t1 - t0
}' >&2
exit "$rc"
