#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Installs the Debian 12 packages the build, tests and demo need, and only
# those that are missing, so a second run costs one dpkg-query. Called by
# `make test`, `make demo` and .ci/run; safe to run by hand.
set -euo pipefail

# One package a line, grouped by what needs it. Keep this list short:
# every entry is a dependency every user of the suite inherits.
pkgs=(
	# build
	cmake ninja-build pkg-config gcc make
	# libraries (Debian packages only, never vendored)
	libxxhash-dev libcmocka-dev libinih-dev libjansson-dev libbpf-dev libseccomp-dev
	# laconic: the llhttp test oracle, and real peers for its tests and demo
	node-llhttp nginx-light haproxy wrk curl iproute2 ethtool nftables
	# bench/laconic: the splice fast path's run time (kernel BPF statistics)
	bpftool
	# tsor: real programs for its tests and bench/tsor (nginx and wrk are above);
	# rdma-core's verbs headers, so that its RDMA transport is built (it runs only with a device)
	redis-server redis-tools libibverbs-dev
	# quark: the nested test bed (Debian's kernel with KVM under QEMU's software emulation)
	qemu-system-x86 busybox-static cpio
	# fuzzing (libFuzzer runtime) and static analysis in CI
	clang libclang-rt-14-dev clang-format clang-tidy cppcheck
)

missing=()
for p in "${pkgs[@]}"; do
	[[ "$p" == \#* ]] && continue
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	[[ "$status" == "install ok installed" ]] || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
	exit 0
fi

echo "deps: installing ${missing[*]}" >&2
if [ "$(id -u)" -eq 0 ]; then
	sudo=()
elif command -v sudo >/dev/null 2>&1; then
	sudo=(sudo)
else
	echo "deps: missing packages (${missing[*]}) and not root; install them as root" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
if ! "${sudo[@]}" apt-get install -y --no-install-recommends "${missing[@]}"; then
	# A fresh machine may have stale package lists: refresh once and retry.
	"${sudo[@]}" apt-get update
	"${sudo[@]}" apt-get install -y --no-install-recommends "${missing[@]}"
fi
