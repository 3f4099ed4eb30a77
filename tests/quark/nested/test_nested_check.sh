#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# ctest quark_nested_check: boots the nested bed (run-nested.sh) once and
# runs guest-check.sh in it: `quark check` without /dev/kvm, on the real KVM
# (must be ok), against its own timeout, and the hostile-guest cases of
# test_quark_faults. Skips (77) when the bed cannot be built here (no QEMU,
# no busybox-static, no package download).
#   test_nested_check.sh QUARK TEST_QUARK_FAULTS CACHE
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
[ $# -eq 3 ] || { echo "usage: $0 QUARK TEST_QUARK_FAULTS CACHE" >&2; exit 2; }
exec bash "$here/run-nested.sh" --no-kvm "$3" "$1" "$here/guest-check.sh" "$2" -- \
	sh /tests/guest-check.sh
