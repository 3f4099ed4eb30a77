#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Static analysis of the first-party C sources: cppcheck and clang-tidy
# (.clang-tidy) over a compile database of their own (build/lint). Tests
# and fuzz harnesses are compiled with -Werror and sanitizers instead.
set -euo pipefail
cd "$(dirname "$0")/.."

# A build directory of its own, with the benchmarks, so every file has a compile command.
cmake --preset dev -B build/lint -DPROJ_BENCH=ON >/dev/null
# Generated sources named in the compile database must exist (the BPF object and
# Quark's probe guest as C).
cmake --build build/lint --target laconic_bpf_obj quark_probe_image quark_kernel_image qv_filter >/dev/null
mapfile -t srcs < <(git ls-files -co --exclude-standard 'lib/*.c' 'gss/*.c' 'laconic/*.c' 'quark/*.c' 'tsor/*.c' 'bench/*.c' ':!laconic/bpf/*')

echo "cppcheck: ${#srcs[@]} files"
# Not the generated sources under build/ (the BPF object and the guest images
# as byte arrays: cppcheck's time grows faster than their size, and the 1.4 MB
# one took it over a quarter of an hour; -i does not reach project entries).
python3 - "$PWD/build/" <<'PY'
import json, sys
db = json.load(open("build/lint/compile_commands.json"))
json.dump([e for e in db if not e["file"].startswith(sys.argv[1])],
          open("build/lint/cppcheck.json", "w"))
PY
cppcheck --project=build/lint/cppcheck.json --enable=warning,performance,portability \
	--error-exitcode=1 --inline-suppr --quiet --suppress=missingIncludeSystem -i tests

echo "clang-tidy: ${#srcs[@]} files"
out=$(printf '%s\n' "${srcs[@]}" |
	xargs -P "$(nproc)" -n 4 clang-tidy -p build/lint --quiet --use-color=false 2>&1 |
	grep -Ev '^[0-9]+ warnings? (and [0-9]+ errors? )?generated|^Suppressed|^Use -header-filter' || true)
if grep -qE '(warning|error):' <<<"$out"; then
	printf '%s\n' "$out"
	exit 1
fi
echo "lint: clean"
