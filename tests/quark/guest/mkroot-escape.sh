#!/bin/sh
# SPDX-License-Identifier: MIT
# Prepares the root directory qt_escape runs in (POSIX sh: it runs on the
# build host and in the nested bed's busybox sh alike).
#
#   mkroot-escape.sh DIR [PROGRAM...]
#
# DIR/root becomes the root: /etc/marker ("inside the root"), the links
# up -> ../../.., abs -> /, loop1 -> loop2 -> loop1, markerlink ->
# /etc/marker, sub/dir/uplink -> ../../.., and the PROGRAMs at its top with
# the shared libraries and interpreter of the dynamic ones at their own
# paths. DIR/etc/marker, one level above the root, says "OUTSIDE": a path
# that escapes reads that (or the host's own /etc/marker, which the harness
# in the bed also sets to OUTSIDE) instead of the inside one.
set -eu
[ $# -ge 1 ] || { echo "usage: mkroot-escape.sh DIR [PROGRAM...]" >&2; exit 2; }
dir=$1
shift
rm -rf "$dir"
mkdir -p "$dir/etc" "$dir/root/etc" "$dir/root/sub/dir"
echo "OUTSIDE the root" >"$dir/etc/marker"
root=$dir/root
echo "inside the root" >"$root/etc/marker"
ln -s ../../.. "$root/up"
ln -s / "$root/abs"
ln -s loop2 "$root/loop1"
ln -s loop1 "$root/loop2"
ln -s /etc/marker "$root/markerlink"
ln -s ../../.. "$root/sub/dir/uplink"
ld=/lib64/ld-linux-x86-64.so.2
for prog in "$@"; do
	cp "$prog" "$root/"
	# The interpreter lists what a dynamic program needs (busybox has no ldd).
	# Only for one that names it in PT_INTERP (right after the program
	# headers): `ld.so --list` of a static program crashes.
	[ -x "$ld" ] || continue
	head -c 1024 "$prog" | grep -q ld-linux-x86-64 || continue
	libs=$("$ld" --list "$prog" 2>/dev/null | grep -o '/[^ ]*' || true)
	for lib in $libs; do
		[ -f "$lib" ] || continue
		mkdir -p "$root$(dirname "$lib")"
		cp "$lib" "$root$lib"
	done
done
