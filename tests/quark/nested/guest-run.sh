#!/bin/sh
# SPDX-License-Identifier: MIT
# Runs inside the nested bed (busybox sh, /bin/quark, the KVM modules
# loaded, the guest test programs, this script and mkroot-escape.sh in
# /tests): `quark run` against the same programs run natively on the same
# files. Each case runs twice, natively (env -i, only PATH and the case's
# variable; chroot for a root of its own) and under `quark run` (the same
# variable through --env, --workdir and --rootfs), and the two must agree
# byte for byte on stdout and stderr and on the exit status:
#
#  1. the qt_* programs (static, dynamic and static-PIE builds), which check
#     their own results: qt_hello (argv, environment, stdin, exit 7), qt_mem,
#     qt_files, qt_ident, qt_efault, qt_unknown, qt_signals (handlers), qt_hog flood; PATH lookup
#     inside the root, --workdir, the caller's terminal as stdin;
#     qt_threads with --cpus 4 (and how a threaded process ends); signals
#     sent to quark from outside, passed in or ending the run as natively;
#  2. qt_escape in a root of its own (mkroot-escape.sh), a program path that
#     climbs out of the root, a program that exists only outside it;
#  3. busybox applets (ls, cat, wc, sha256sum, sort, grep, find, tar, ...)
#     reading a small tree with deterministic content, and writing one;
#  4. `quark run --stats` counts qt_unknown's unknown system calls;
#  5. exit statuses: qt_segv's faults (128 + the signal, one line
#     "quark: PROG: killed by SIGxxx (...)" on stderr), 127, 126, 125;
#  6. containment, under quark only: a spinning guest stopped by --timeout,
#     a memory eater refused or killed at --memory, then a clean run.
#
# Prints PASS/FAIL/SKIP lines and a summary; exits 0 when every case passed,
# 1 otherwise, 77 (skip) with one line when this machine cannot run quark
# (`quark check` is not ok) or this quark has no `run` command.
defpath=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
T=/tests
W=/tmp/qrun
# Per run; a healthy run takes seconds even under TCG.
QT_TIMEOUT=${QT_TIMEOUT:-120}
npass=0 nfail=0 nskip=0 ntimeouts=0

pass() { echo "PASS: $*"; npass=$((npass + 1)); }
bad() { echo "FAIL: $*"; nfail=$((nfail + 1)); }
skipped() { echo "SKIP: $*"; nskip=$((nskip + 1)); }
now() { cut -d' ' -f1 /proc/uptime; }

# --- (a) can this machine run quark at all? ---------------------------------
out=$(quark check 2>&1)
case "$out" in
"quark check: ok:"*) ;;
*)
	echo "SKIP: quark run tests: quark check is not ok here: $out"
	exit 77
	;;
esac
if ! quark run --help >/dev/null 2>&1; then
	echo "SKIP: quark run tests: this quark has no 'run' command: $(quark run --help 2>&1 | head -n1)"
	exit 77
fi

rm -rf "$W"
mkdir -p "$W"

# --- the two ways to run a program -------------------------------------------
# QENV: one NAME=VALUE for the program's environment (no spaces), or empty.
QENV=

# nrun OUT ROOT WORKDIR STDIN PROG [ARG...]: natively, as quark would start it.
# Sets nrc. When a program dies of a signal, busybox ash writes its report
# ("Segmentation fault") to the command's stderr, OUT.err here; the subshell
# with an explicit exit and its own stderr on /dev/null keeps any such report
# off this script's output.
nrun() {
	_o=$1 _root=$2 _wd=$3 _in=$4
	shift 4
	if [ "$_root" = / ]; then
		(cd "$_wd" && env -i PATH="$defpath" $QENV "$@" <"$_in" >"$_o" 2>"$_o.err"; exit $?) 2>/dev/null
	else
		# chroot changes to the new / itself: roots of their own run at /.
		(env -i PATH="$defpath" $QENV /bin/busybox chroot "$_root" "$@" <"$_in" >"$_o" 2>"$_o.err"
			exit $?) 2>/dev/null
	fi
	nrc=$?
}

# qrun OUT ROOT WORKDIR STDIN [QUARK-OPTION...] -- PROG [ARG...]: under quark.
# Sets qrc and qsecs; a run that outlives QT_TIMEOUT is killed and counted.
qrun() {
	_o=$1 _root=$2 _wd=$3 _in=$4
	shift 4
	if [ "$ntimeouts" -ge 3 ]; then
		echo "not run: 3 runs already timed out" >"$_o.err"
		: >"$_o"
		qrc=255 qsecs=0
		return
	fi
	_t0=$(now)
	if [ -n "$QENV" ]; then
		(timeout -s KILL "$QT_TIMEOUT" quark run --rootfs "$_root" --workdir "$_wd" --env "$QENV" \
			"$@" <"$_in" >"$_o" 2>"$_o.err"; exit $?) 2>/dev/null
	else
		(timeout -s KILL "$QT_TIMEOUT" quark run --rootfs "$_root" --workdir "$_wd" \
			"$@" <"$_in" >"$_o" 2>"$_o.err"; exit $?) 2>/dev/null
	fi
	qrc=$?
	qsecs=$(awk -v a="$_t0" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }')
	if awk -v s="$qsecs" -v t="$QT_TIMEOUT" 'BEGIN { exit !(s >= t - 1) }'; then
		ntimeouts=$((ntimeouts + 1))
		echo "(killed after $qsecs s: timed out)" >>"$_o.err"
	fi
}

# show FILE [N]: the first N lines of a file, indented, for a failure report;
# long lines cut and bytes that are not printable shown as '.', since what a
# broken sandbox writes may be anything.
show() {
	[ -s "$1" ] || return 0
	head -n "${2:-12}" "$1" | cut -c1-160 | sed 's/[^[:print:]\t]/./g; s/^/    | /'
}

# same NAME: compares the last nrun and qrun (files $W/n and $W/q); PASS or
# FAIL with the differences.
same() {
	_why=""
	[ "$nrc" = "$qrc" ] || _why="exit status $nrc natively, $qrc under quark;"
	cmp -s "$W/n" "$W/q" || _why="$_why stdout differs;"
	cmp -s "$W/n.err" "$W/q.err" || _why="$_why stderr differs;"
	if [ -z "$_why" ]; then
		pass "$1 (exit $qrc, $(wc -c <"$W/q") bytes, $qsecs s)"
		return 0
	fi
	bad "$1: $_why"
	if ! cmp -s "$W/n" "$W/q"; then
		diff "$W/n" "$W/q" >"$W/d" 2>&1
		echo "  stdout, native (-) vs quark (+):"
		show "$W/d" 16
		# A qt_* program says itself what it saw.
		if grep -q '^FAIL' "$W/q"; then
			echo "  the program's own failures under quark:"
			grep '^FAIL' "$W/q" >"$W/d"
			show "$W/d" 10
		fi
	fi
	if ! cmp -s "$W/n.err" "$W/q.err"; then
		echo "  stderr native:"
		show "$W/n.err" 6
		echo "  stderr quark:"
		show "$W/q.err" 10
	fi
	return 1
}

# case NAME ROOT WORKDIR STDIN PROG [ARG...]: the same run both ways, compared.
run_case() {
	_name=$1 _croot=$2 _cwd=$3 _cin=$4
	shift 4
	nrun "$W/n" "$_croot" "$_cwd" "$_cin" "$@"
	qrun "$W/q" "$_croot" "$_cwd" "$_cin" -- "$@"
	same "$_name"
}

# want_status NAME STATUS: the compared run also exited with STATUS (a
# program whose checks fail natively too prints the same, so this is where
# it shows).
want_status() {
	[ "$qrc" = "$2" ] && return 0
	bad "$1: exit status $qrc, expected $2"
	grep -v '^ok:' "$W/q" >"$W/d"
	show "$W/d" 10
	show "$W/q.err" 4
}

# --- 1. the qt_* programs ------------------------------------------------------
printf 'stdin for qt_hello\nsecond line\n' >"$W/stdin.txt"
for v in static dyn spie; do
	[ -x "$T/qt_hello.$v" ] || continue
	QENV=QT_GREETING=hello-quark
	run_case "qt_hello.$v: argv, environment, exit 7" / /tmp /dev/null "$T/qt_hello.$v" one 'two words' '' && \
		want_status "qt_hello.$v" 7
	run_case "qt_hello.$v: stdin is the caller's" / /tmp "$W/stdin.txt" "$T/qt_hello.$v" -
	QENV=
	for prog in qt_mem qt_ident qt_efault qt_unknown qt_signals; do
		[ -x "$T/$prog.$v" ] || continue
		run_case "$prog.$v" / /tmp /dev/null "$T/$prog.$v" && want_status "$prog.$v" 0
	done
	if [ -x "$T/qt_files.$v" ]; then
		# Two scratch trees made alike; the program prints nothing of their paths.
		for side in n q; do
			rm -rf "$W/files-$side"
			mkdir -p "$W/files-$side/scratch"
			ln -s a.txt "$W/files-$side/scratch/link"
		done
		nrun "$W/n" / "$W/files-n" /dev/null "$T/qt_files.$v" scratch
		qrun "$W/q" / "$W/files-q" /dev/null -- "$T/qt_files.$v" scratch
		same "qt_files.$v in a scratch directory" && want_status "qt_files.$v" 0
		[ "$(ls -A "$W/files-q/scratch")" = link ] || bad "qt_files.$v left $(ls -A "$W/files-q/scratch" | tr '\n' ' ')"
	fi
	[ -x "$T/qt_hog.$v" ] && run_case "qt_hog.$v flood: 6 000 forwarded calls as fast as they go" / / /dev/null "$T/qt_hog.$v" flood
done

# The queue worker forced on, whatever the CPU count (auto turns it off on
# one CPU): the same answers through the shared ring, including the guest's
# WAIT hand-off when the worker shares the vCPU's CPU.
for side in n q; do
	rm -rf "$W/files-$side"
	mkdir -p "$W/files-$side/scratch"
	ln -s a.txt "$W/files-$side/scratch/link"
done
nrun "$W/n" / "$W/files-n" /dev/null "$T/qt_files.static" scratch
qrun "$W/q" / "$W/files-q" /dev/null --queue on -- "$T/qt_files.static" scratch
same "qt_files.static with --queue on"
nrun "$W/n" / / /dev/null "$T/qt_hog.static" flood
qrun "$W/q" / / /dev/null --queue on --stats -- "$T/qt_hog.static" flood
grep -q 'queue on: [1-9][0-9]* operations served by the worker' "$W/q.err" &&
	sed -i '/^quark: stats:/d' "$W/q.err"
same "qt_hog.static flood with --queue on (served by the worker)"

# Threads (--cpus N: one program thread per vCPU): qt_threads natively and
# with 4 vCPUs, with the queue too; a thread's exit(5) ends the process; main's
# pthread_exit leaves it to the last thread; one thread more than the vCPUs
# is EAGAIN (quark only: natively there is no such limit).
for v in static dyn spie; do
	[ -x "$T/qt_threads.$v" ] || continue
	nrun "$W/n" / /tmp /dev/null "$T/qt_threads.$v"
	qrun "$W/q" / /tmp /dev/null --cpus 4 -- "$T/qt_threads.$v"
	same "qt_threads.$v --cpus 4: mutexes, condition variables, barriers, TLS, munmap" &&
		want_status "qt_threads.$v" 0
done
if [ -x "$T/qt_threads.static" ]; then
	nrun "$W/n" / /tmp /dev/null "$T/qt_threads.static"
	qrun "$W/q" / /tmp /dev/null --cpus 4 --queue on -- "$T/qt_threads.static"
	same "qt_threads.static --cpus 4 --queue on"
	for mode in exit-in-thread main-exits; do
		nrun "$W/n" / /tmp /dev/null "$T/qt_threads.static" $mode
		qrun "$W/q" / /tmp /dev/null --cpus 2 -- "$T/qt_threads.static" $mode
		same "qt_threads.static $mode --cpus 2"
	done
	qrun "$W/q" / /tmp /dev/null --cpus 3 -- "$T/qt_threads.static" limit 3
	if [ "$qrc" = 0 ] && [ "$(cat "$W/q")" = "created 2 of 3 threads; next: EAGAIN" ]; then
		pass "--cpus 3: a fourth thread is EAGAIN, the others run and end"
	else
		bad "--cpus 3 limit: exit $qrc: $(head -c 200 "$W/q") $(head -c 200 "$W/q.err")"
	fi
fi

# Signals from outside, sent by this script to the native program and to
# quark alike: qt_signals outside (SIGHUP ignored, SIGTERM caught while it
# spins without a system call, SIGUSR2 caught between sleeps; queue off and
# on) and outside-default (SIGTERM with no handler ends it: 143 both ways).
# outside_run OUT n|q MODE [QUARK-OPTION...]: sets nrc or qrc.
wait_line() {
	for _i in $(seq 400); do
		grep -qx "$2" "$1" 2>/dev/null && return 0
		sleep 0.05
	done
	return 1
}
outside_run() {
	_o=$1 _side=$2 _mode=$3
	shift 3
	: >"$_o"
	: >"$_o.err"
	if [ "$_side" = n ]; then
		(cd /tmp && exec "$T/qt_signals.static" "$_mode") >"$_o" 2>"$_o.err" &
	else
		quark run --rootfs / --workdir /tmp "$@" -- "$T/qt_signals.static" "$_mode" >"$_o" 2>"$_o.err" &
	fi
	_pid=$!
	if wait_line "$_o" ready; then
		if [ "$_mode" = outside ]; then
			kill -HUP "$_pid"
			kill -TERM "$_pid"
			wait_line "$_o" waiting && kill -USR2 "$_pid"
		else
			kill -TERM "$_pid"
		fi
	fi
	( sleep "$QT_TIMEOUT"; kill -KILL "$_pid" ) 2>/dev/null &
	_guard=$!
	wait "$_pid" 2>/dev/null
	_rc=$?
	kill "$_guard" 2>/dev/null
	wait "$_guard" 2>/dev/null
	if [ "$_side" = n ]; then nrc=$_rc; else qrc=$_rc; fi
	qsecs=-
}
if [ -x "$T/qt_signals.static" ]; then
	for q in off on; do
		outside_run "$W/n" n outside
		outside_run "$W/q" q outside --queue "$q"
		same "qt_signals outside --queue $q: SIGHUP ignored, SIGTERM into a spinning program, SIGUSR2 between sleeps" &&
			want_status "qt_signals outside" 0
	done
	outside_run "$W/n" n outside-default
	outside_run "$W/q" q outside-default
	same "qt_signals outside-default: SIGTERM without a handler ends it" &&
		want_status "qt_signals outside-default" 143
fi

# PROGRAM without a '/': looked up on the PATH given, inside the root.
QENV=PATH=/tests
run_case "PATH lookup: qt_hello.static on PATH=/tests" / / /dev/null qt_hello.static
QENV=

# The working directory, and a program started through a symlink (/bin/ls -> busybox).
mkdir -p "$W/tree"
run_case "--workdir: busybox pwd" / "$W/tree" /dev/null /bin/busybox pwd
run_case "PATH lookup of a symlink: ls -1a /tests" / / /dev/null ls -1a /tests

# The caller's terminal: TCGETS and TIOCGWINSZ reach the real tty.
if [ -c /dev/console ] && (exec </dev/console && [ -t 0 ]) 2>/dev/null; then
	run_case "stdin is a terminal: busybox stty -g" / / /dev/console /bin/busybox stty -g
	run_case "stdin is a terminal: busybox stty size" / / /dev/console /bin/busybox stty size
else
	skipped "stdin is a terminal: /dev/console is not a terminal here"
fi

# --- 2. a root of its own --------------------------------------------------------
echo "OUTSIDE the root" >/etc/marker
esc=$W/esc
sh "$T/mkroot-escape.sh" "$esc" "$T"/qt_escape.*
for v in static dyn; do
	[ -x "$esc/root/qt_escape.$v" ] || continue
	run_case "qt_escape.$v: .., symlinks and loops stay in --rootfs" "$esc/root" / /dev/null "/qt_escape.$v" && \
		want_status "qt_escape.$v" 0
done
run_case "a program path that climbs out of the root stays in it" "$esc/root" / /dev/null /../../up/qt_escape.static
run_case "a program path through an absolute symlink" "$esc/root" / /dev/null /abs/qt_escape.static
# /bin/busybox exists outside the root only.
nrun "$W/n" "$esc/root" / /dev/null /bin/busybox true
qrun "$W/q" "$esc/root" / /dev/null -- /bin/busybox true
if [ "$nrc" = 127 ] && [ "$qrc" = 127 ] && [ -s "$W/q.err" ]; then
	pass "a program outside the root is not found (127): $(head -n1 "$W/q.err")"
else
	bad "a program outside the root: exit $nrc natively, $qrc under quark: $(head -n2 "$W/q.err")"
fi
if [ "$(cat "$esc/etc/marker")" = "OUTSIDE the root" ] && [ "$(cat /etc/marker)" = "OUTSIDE the root" ] &&
	[ "$(ls "$esc" | tr '\n' ' ')" = "etc root " ] && [ ! -e "$esc/root/made-by-up" ] &&
	[ ! -e "$esc/root/made-by-dotdot" ] && [ ! -e /made-by-up ] && [ ! -e /made-by-dotdot ] &&
	[ ! -e "$esc/made-by-up" ] && [ ! -e "$esc/made-by-dotdot" ]; then
	pass "nothing outside the root was touched, nothing inside was left"
else
	bad "the escape root changed: $(ls -R "$esc" / 2>/dev/null | head -n 20 | tr '\n' ' ')"
fi

# --- 3. busybox applets on the same files -------------------------------------
tree=$W/tree
mkdir -p "$tree/sub/deeper"
awk 'BEGIN { for (i = 1; i <= 300; i++) printf "line %d word%d %s\n", i, i % 7, (i % 3 ? "alpha" : "beta") }' >"$tree/a.txt"
awk 'BEGIN { for (i = 0; i < 500; i++) print (i * 37) % 500 }' >"$tree/b.txt"
awk 'BEGIN { for (i = 0; i < 50; i++) print "c file", i % 4 }' >"$tree/sub/c.txt"
awk 'BEGIN { for (i = 1; i <= 1000; i++) print i * i }' >"$tree/sub/deeper/d.txt"
head -c 65536 "$T/qt_mem.static" >"$tree/sub/deeper/e.bin"
: >"$tree/sub/empty"
ln -s a.txt "$tree/link"
ln -s sub "$tree/dirlink"
(cd "$tree" && tar cf "$W/tree.tar" .)

bb() { # bb STDIN APPLET [ARG...]: busybox APPLET in the tree, both ways.
	_bin=$1
	shift
	run_case "busybox $*" / "$tree" "$_bin" /bin/busybox "$@"
}
bb /dev/null ls
bb /dev/null ls -1a sub
bb /dev/null ls -lnR
bb /dev/null ls -lnL link dirlink
bb /dev/null ls nosuchfile
bb /dev/null cat a.txt b.txt sub/c.txt
bb "$tree/a.txt" cat
bb /dev/null cat sub
bb /dev/null wc a.txt b.txt sub/c.txt sub/deeper/d.txt sub/deeper/e.bin
bb "$tree/b.txt" wc -l
bb /dev/null sha256sum a.txt b.txt sub/deeper/e.bin sub/empty
bb /dev/null md5sum sub/deeper/d.txt
bb /dev/null sort -n b.txt
bb /dev/null sort -r -k3 a.txt
bb /dev/null sort -u -t ' ' -k3,3 a.txt
bb /dev/null grep -n word3 a.txt
bb /dev/null grep -c beta a.txt
bb /dev/null grep -r -l alpha .
bb /dev/null grep nomatch a.txt
bb /dev/null find . -type f
bb /dev/null find . -name '*.txt' -size -4k
bb /dev/null find -L . -type f
bb /dev/null tar cf - .
bb /dev/null tar tvf "$W/tree.tar"
bb /dev/null head -n 5 a.txt
bb /dev/null tail -n 5 a.txt
bb /dev/null tail -c 100 sub/deeper/d.txt
bb /dev/null cut -d ' ' -f 2 a.txt
bb /dev/null uniq -c sub/c.txt
bb /dev/null od -A x -t x1 -N 64 sub/deeper/e.bin
bb /dev/null xxd -l 64 -s 4096 sub/deeper/e.bin
bb /dev/null stat -c '%n %s %a %F %h' a.txt link sub sub/empty
bb /dev/null du -a .
bb /dev/null readlink link
bb /dev/null realpath dirlink/deeper
bb "$tree/a.txt" tr a-z A-Z
bb /dev/null cmp a.txt b.txt
bb /dev/null diff a.txt sub/c.txt
bb /dev/null uname -sm
bb /dev/null env
bb /dev/null seq 1 3 1000
bb /dev/null sleep 0.05
bb /dev/null false

# Writing: the same steps in two empty directories, then the trees compared.
mkdir -p "$W/wn" "$W/wq"
wstep() {
	nrun "$W/n" / "$W/wn" /dev/null /bin/busybox "$@"
	qrun "$W/q" / "$W/wq" /dev/null -- /bin/busybox "$@"
	same "busybox $* (writing)"
}
wstep mkdir -p x/y/z
wstep cp "$tree/a.txt" x/y/a
wstep mv x/y/a x/b
wstep sort -o sorted "$tree/b.txt"
wstep truncate -s 100 x/b
wstep rm -r x/y
wstep rmdir nosuchdir
(cd "$W/wn" && find . | sort && find . -type f | sort | xargs sha256sum) >"$W/wn.list" 2>&1
(cd "$W/wq" && find . | sort && find . -type f | sort | xargs sha256sum) >"$W/wq.list" 2>&1
if cmp -s "$W/wn.list" "$W/wq.list"; then
	pass "the tree busybox wrote under quark is the native one ($(wc -l <"$W/wq.list") lines)"
else
	bad "the trees busybox wrote differ"
	diff "$W/wn.list" "$W/wq.list" | head -n 10
fi

# --- 4. --stats ----------------------------------------------------------------
nrun "$W/n" / / /dev/null "$T/qt_unknown.static"
qrun "$W/q" / / /dev/null --stats -- "$T/qt_unknown.static"
nunk=$(sed -n 's/.* \([0-9][0-9]*\) unknown.*/\1/p' "$W/q.err" | head -n1)
if [ "$qrc" = 0 ] && cmp -s "$W/n" "$W/q" && [ "${nunk:-0}" -ge 6 ] 2>/dev/null &&
	grep -i 'unknown' "$W/q.err" | grep -Eq ' 400( |$)' && grep -i 'unknown' "$W/q.err" | grep -Eq ' 1000( |$)'; then
	pass "--stats counts qt_unknown's $nunk unknown system calls (400, 1000, ...)"
else
	bad "--stats: exit $qrc, unknown count '${nunk}', want >= 6 with 400 and 1000 listed"
	show "$W/q.err"
fi
QENV=
run_case "without --stats nothing extra on stderr" / / /dev/null "$T/qt_unknown.static"

# --- 5. exit statuses ----------------------------------------------------------
segv_case() { # segv_case VARIANT MODE STATUS SIGNAME
	nrun "$W/n" / / /dev/null "$T/qt_segv.$1" "$2"
	qrun "$W/q" / / /dev/null -- "$T/qt_segv.$1" "$2"
	_line=$(cat "$W/q.err")
	_lines=$(wc -l <"$W/q.err")
	if [ "$nrc" = "$3" ] && [ "$qrc" = "$3" ] && cmp -s "$W/n" "$W/q" && [ "$_lines" = 1 ]; then
		case "$_line" in
		"quark: "*"qt_segv.$1: killed by SIG$4"*)
			pass "qt_segv.$1 $2: exit $3, $_line"
			return ;;
		esac
	fi
	bad "qt_segv.$1 $2: exit $nrc natively, $qrc under quark (want $3), stdout $(cmp -s "$W/n" "$W/q" && echo same || echo differs), stderr $_lines lines:"
	show "$W/q.err" 5
}
for m in null kread kwrite kjump noncanon text nx stack hlt cli out in cr3 rdmsr; do
	segv_case static "$m" 139 SEGV
done
segv_case static ud2 132 ILL
segv_case static div0 136 FPE
segv_case static int3 133 TRAP
segv_case static badhandler 139 SEGV
segv_case dyn null 139 SEGV

exit_case() { # exit_case NAME STATUS ROOT PROG: quark's own answer, native's status
	nrun "$W/n" "$3" / /dev/null "$4"
	qrun "$W/q" "$3" / /dev/null -- "$4"
	if [ "$qrc" = "$2" ] && [ "$nrc" = "$2" ] && [ -s "$W/q.err" ] && [ ! -s "$W/q" ]; then
		pass "$1: exit $2, $(head -n1 "$W/q.err")"
	else
		bad "$1: exit $nrc natively, $qrc under quark, want $2 and a message"
		show "$W/q.err" 4
	fi
}
printf 'not a program\n' >"$W/noexec"
chmod 644 "$W/noexec"
exit_case "a missing program" 127 / /tests/no-such-program
exit_case "a missing command on PATH" 127 / no-such-command
exit_case "a file without execute permission" 126 / "$W/noexec"
exit_case "a directory as the program" 126 / /tmp
qrun "$W/q" /no/such/root / /dev/null -- /bin/true
if [ "$qrc" = 125 ] && [ -s "$W/q.err" ]; then
	pass "quark's own error (a missing --rootfs): exit 125, $(head -n1 "$W/q.err")"
else
	bad "a missing --rootfs: exit $qrc, want 125 and a message"
	show "$W/q.err" 4
fi

# --- 6. containment, under quark only -----------------------------------------
qrun "$W/q" / / /dev/null --timeout 3 -- "$T/qt_hog.static" spin
if [ "$qrc" = 124 ] && awk -v s="$qsecs" 'BEGIN { exit !(s < 30) }' &&
	[ "$(cat "$W/q")" = "qt_hog: spin: spinning" ]; then
	pass "a spinning guest is stopped by --timeout 3 (exit 124 after $qsecs s)"
else
	bad "a spinning guest with --timeout 3: exit $qrc after $qsecs s"
	show "$W/q.err" 4
fi
qrun "$W/q" / / /dev/null --memory 64M -- "$T/qt_hog.static" mem
if { [ "$qrc" = 0 ] && [ "$(tail -n1 "$W/q")" = "qt_hog: mem: refused" ]; } ||
	{ [ "$qrc" = 137 ] && grep -q 'memory' "$W/q.err"; }; then
	pass "a memory eater in --memory 64M: exit $qrc, $(tail -n1 "$W/q") $(head -n1 "$W/q.err")"
else
	bad "a memory eater in --memory 64M: exit $qrc after $qsecs s"
	show "$W/q" 3
	show "$W/q.err" 4
fi
QENV=QT_GREETING=after-the-hostile-ones
run_case "a clean run after the hostile ones" / / /dev/null "$T/qt_hello.static" && want_status "qt_hello after" 7
QENV=

echo "guest-run: $npass passed, $nfail failed, $nskip skipped"
[ "$nfail" = 0 ]
