# SPDX-License-Identifier: MIT
# Shared helpers for the gss CLI tests: each test is a bash script taking the
# gss binary as $1, working in a fresh temporary directory.
set -euo pipefail

GSS=${1:?usage: $0 path/to/gss}
GSS=$(readlink -f "$GSS")
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

# expect_status CODE CMD...: runs CMD, requires exit status CODE, keeps stderr in err.txt.
expect_status() {
	local want=$1 got=0
	shift
	"$@" >out.txt 2>err.txt || got=$?
	[ "$got" -eq "$want" ] || fail "'$*' exited $got, expected $want; stderr: $(cat err.txt)"
}

# expect_stderr PATTERN: the last command's stderr matches PATTERN (grep -E).
expect_stderr() {
	grep -Eq -- "$1" err.txt || fail "stderr does not match '$1': $(cat err.txt)"
}

# same A B: two strings are equal.
same() {
	[ "$1" = "$2" ] || fail "expected '$2', got '$1'"
}

# has GREP-ARGS...: grep -q for pipelines; grep -q stops reading at the first
# match, and the writer's SIGPIPE would then fail the pipeline under pipefail.
has() { grep "$@" >/dev/null; }
