#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# ctest quark_nested_run: boots the nested bed (run-nested.sh) once with
# quark, the guest test programs and mkroot-escape.sh, and runs
# guest-run.sh there: every program natively and under `quark run`, compared.
# Skips (77) when the bed cannot be built here (no QEMU, no busybox-static,
# no package download), when `quark check` is not ok inside it, or when this
# quark has no `run` command.
#   test_nested_run.sh QUARK PROGRAM_DIR CACHE
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
[ $# -eq 3 ] || { echo "usage: $0 QUARK PROGRAM_DIR CACHE" >&2; exit 2; }
quark=$1 progs=$2 cache=$3
shopt -s nullglob
files=("$progs"/qt_*.static "$progs"/qt_*.dyn "$progs"/qt_*.spie)
[ ${#files[@]} -gt 0 ] || { echo "no guest programs in $progs (build quark_guest_programs)" >&2; exit 1; }
# The guest's TCG is slow: about a hundred quark runs of 1 to 5 s each, and
# room for a few that hang until guest-run.sh's own per-run limit.
stamp=$(mktemp)
trap 'rm -f "$stamp"' EXIT
rc=0
bash "$here/run-nested.sh" --timeout 840 "$cache" "$quark" "$here/guest-run.sh" \
	"$here/../guest/mkroot-escape.sh" "${files[@]}" -- sh /tests/guest-run.sh || rc=$?
# A guest that stopped answering (QEMU's time ran out, the kernel locked up)
# leaves no summary; the cases it finished are still in the console.
if [ "$rc" = 1 ] && [ "$cache/last-console.txt" -nt "$stamp" ] &&
	! grep -aq '^guest-run: .* passed' "$cache/last-console.txt"; then
	echo "quark_nested_run: the guest stopped before guest-run.sh's summary; the cases it finished:" >&2
	grep -aE '^(PASS|FAIL|SKIP): ' "$cache/last-console.txt" | cut -c1-200 >&2 || true
	echo "quark_nested_run: (the case after the last one above did not finish)" >&2
fi
exit "$rc"
