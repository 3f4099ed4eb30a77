#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# ctest quark_guest_native: the guest test programs on this host, natively
# (no KVM). They are the reference `quark run` is compared with, so they are
# held to what the comparison needs: every check passes with the expected
# exit status, the static, dynamic and static-PIE builds print the same
# bytes, and a second run prints the same bytes as the first (nothing that
# varies between runs is printed).
#   test_native.sh DIR     (DIR holds qt_*.static, qt_*.dyn, qt_*.spie)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
[ $# -eq 1 ] || { echo "usage: $0 DIR" >&2; exit 2; }
dir=$(cd "$1" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
defpath=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
npass=0 nfail=0 nskip=0
pass() { echo "PASS: $*"; npass=$((npass + 1)); }
bad() { echo "FAIL: $*"; nfail=$((nfail + 1)); }

# run_one OUT PROG ARGS...: one native run as quark would start it (only PATH
# and QT_GREETING in the environment, stdin from /dev/null unless STDIN is
# set); qt_files gets a fresh scratch directory instead of ARGS. Prints the
# exit status.
run_one() {
	local out=$1 prog=$2
	shift 2
	local scratch=$tmp/scratch
	rm -rf "$scratch"
	mkdir "$scratch"
	ln -s a.txt "$scratch/link"
	local args=("$@")
	case "$prog" in *qt_files.*) args=("$scratch") ;; esac
	local rc=0
	# The outer 2>/dev/null only silences bash's "Segmentation fault" notes.
	(cd "$tmp" && env -i PATH="$defpath" QT_GREETING=hello-quark timeout 60 "$prog" "${args[@]}" \
		<"${STDIN:-/dev/null}" >"$out" 2>"$out.err") 2>/dev/null || rc=$?
	echo "$rc"
}

# check NAME WANT_STATUS LAST_LINE ARGS...: every variant of NAME, twice.
check() {
	local name=$1 want=$2 last=$3
	shift 3
	local ref="" v
	for v in static dyn spie; do
		local prog=$dir/$name.$v
		[ -x "$prog" ] || continue
		local rc1 rc2
		rc1=$(run_one "$tmp/1" "$prog" "$@")
		rc2=$(run_one "$tmp/2" "$prog" "$@")
		local what="$name.$v${*:+ $*}"
		if [ "$rc1" != "$want" ] || [ "$rc2" != "$want" ]; then
			bad "$what: exit status $rc1 and $rc2, expected $want"
			{ grep -v '^ok:' "$tmp/1" || true; } | head -20
			head -5 "$tmp/1.err"
		elif grep -q '^FAIL' "$tmp/1"; then
			bad "$what: checks failed"
			{ grep '^FAIL' "$tmp/1" || true; } | head -20
		elif [ "$(tail -n1 "$tmp/1")" != "$last" ]; then
			bad "$what: last line '$(tail -n1 "$tmp/1")', expected '$last'"
		elif ! cmp -s "$tmp/1" "$tmp/2"; then
			bad "$what: two runs printed different output"
			{ diff "$tmp/1" "$tmp/2" || true; } | head -10
		elif [ -n "$ref" ] && ! sed "s/$name\.$v/$name.static/" "$tmp/1" | cmp -s - "$ref"; then
			bad "$what: prints differently from the static build"
			{ sed "s/$name\.$v/$name.static/" "$tmp/1" | diff "$ref" - || true; } | head -10
		else
			pass "$what: exit $rc1, $(wc -l <"$tmp/1") lines"
		fi
		if [ -z "$ref" ]; then
			ref=$tmp/ref.$name.$v
			cp "$tmp/1" "$ref"
		fi
	done
}

check qt_hello 7 "qt_hello: all 10 checks passed, exiting 7" one 'two words' ''
STDIN=$here/qt.h check qt_hello 7 "qt_hello: all 10 checks passed, exiting 7" -
check qt_mem 0 "qt_mem: all 57 checks passed"
check qt_files 0 "qt_files: all 189 checks passed" SCRATCH
check qt_ident 0 "qt_ident: all 69 checks passed"
check qt_efault 0 "qt_efault: all 152 checks passed"
check qt_unknown 0 "qt_unknown: all 8 checks passed"
check qt_hog 0 "qt_hog: flood: done" flood
check qt_threads 0 "qt_threads: all 36 checks passed"
check qt_threads 5 "ok: before exit in a thread" exit-in-thread
check qt_threads 0 "ok: a thread outlives main's pthread_exit" main-exits
check qt_threads 0 "created 3 of 3 threads; next: none" limit 3
for m in null kread kwrite kjump noncanon text nx stack hlt cli out in cr3 rdmsr; do
	check qt_segv 139 "qt_segv: $m: about to fault" "$m"
done
check qt_segv 132 "qt_segv: ud2: about to fault" ud2
check qt_segv 136 "qt_segv: div0: about to fault" div0
check qt_segv 133 "qt_segv: int3: about to fault" int3

# The spinner must be stoppable; the eater must be refused under a limit.
rc=0
timeout 1 "$dir/qt_hog.static" spin >/dev/null || rc=$?
[ "$rc" = 124 ] && pass "qt_hog spin: stopped by timeout" || bad "qt_hog spin: exit $rc, expected 124"
out=$(ulimit -v 262144 && "$dir/qt_hog.static" mem) && rc=0 || rc=$?
if [ "$rc" = 0 ] && [ "$(tail -n1 <<<"$out")" = "qt_hog: mem: refused" ]; then
	pass "qt_hog mem: refused under ulimit -v"
else
	bad "qt_hog mem: exit $rc: $out"
fi

# qt_escape needs a root of its own: chroot as root, or in a user namespace.
chroot_cmd=()
if [ "$(id -u)" = 0 ]; then
	chroot_cmd=(chroot)
elif unshare -r true 2>/dev/null; then
	chroot_cmd=(unshare -r chroot)
fi
if [ ${#chroot_cmd[@]} = 0 ]; then
	echo "SKIP: qt_escape: neither root nor an unprivileged user namespace for chroot"
	nskip=$((nskip + 1))
else
	sh "$here/mkroot-escape.sh" "$tmp/escape" "$dir"/qt_escape.*
	for v in static dyn; do
		rc=0
		env -i PATH="$defpath" "${chroot_cmd[@]}" "$tmp/escape/root" "/qt_escape.$v" \
			>"$tmp/e.$v" 2>&1 || rc=$?
		if [ "$rc" = 0 ] && [ "$(tail -n1 "$tmp/e.$v")" = "qt_escape: all 53 checks passed" ]; then
			pass "qt_escape.$v in a chroot"
		else
			bad "qt_escape.$v in a chroot: exit $rc"
			{ grep -v '^ok:' "$tmp/e.$v" || true; } | head -20
		fi
	done
	cmp -s "$tmp/e.static" "$tmp/e.dyn" || bad "qt_escape: static and dynamic print differently"
	# Nothing was made outside the root, nothing inside was left behind.
	if [ "$(cat "$tmp/escape/etc/marker")" = "OUTSIDE the root" ] && [ "$(ls "$tmp/escape")" = "$(printf 'etc\nroot')" ] &&
		[ ! -e "$tmp/escape/root/made-by-up" ] && [ ! -e "$tmp/escape/root/made-by-dotdot" ]; then
		pass "qt_escape left the tree as it was"
	else
		bad "qt_escape changed the tree: $(ls -R "$tmp/escape" | head -20)"
	fi
fi

echo "quark_guest_native: $npass passed, $nfail failed, $nskip skipped"
[ "$nfail" = 0 ]
