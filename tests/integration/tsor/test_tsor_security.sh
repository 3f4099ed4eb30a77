#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Description: tsord against another local user (uid 65534 via setpriv), with
# the real binaries: that user cannot stop root's tsord (raw STOP frame and
# `tsor stop`), cannot stall it with half a frame or unread replies, and a
# "tsord" that user runs in a directory it squatted is refused by tsord
# (directory check) and by the CLI (SO_PEERCRED); out of fds, tsord backs
# off instead of spinning on accept(). The protocol-level holes
# (UDP ASK, intent takeover, lingering close) are in test_tsor_daemon.
#
# usage: test_tsor_security.sh TSOR_BIN_DIR [ABI_H]
#   TSOR_BIN_DIR holds tsor, tsord, libtsor.so; ABI_H is tsor/abi.h
#   (default: the one of this source tree), where the raw frames' protocol
#   version comes from.
set -euo pipefail

bin=${1:?usage: $0 TSOR_BIN_DIR [ABI_H]}
abi=${2:-$(cd "$(dirname "$0")/../../.." && pwd)/tsor/abi.h}
tsor=$bin/tsor

skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*" >&2; [ -f "${tmp:-}/d/tsord.log" ] && sed 's/^/  tsord.log: /' "$tmp/d/tsord.log" >&2; exit 1; }

# The raw frames below must carry tsord's protocol version: a stale one is
# refused by any tsord, so the checks would pass for the wrong reason or
# fail only on a root run. Read it from abi.h, before the root check, so
# that losing track of it fails every run.
version=$(sed -nE 's/^#define[[:space:]]+TSOR_VERSION[[:space:]]+([0-9]+)u?([[:space:]].*)?$/\1/p' "$abi" 2>/dev/null) || true
[[ $version =~ ^[0-9]+$ ]] || fail "no '#define TSOR_VERSION N' in $abi (got '${version}')"
# The message types likewise: their place in enum tsor_msg_type (which
# numbers them from 0, one after the other: any other '=' there fails here).
msg_type() {
	local body n
	body=$(sed -n '/^enum tsor_msg_type {/,/^};/p' "$abi")
	[ "$(sed 's,/\*.*,,' <<<"$body" | grep -c '=')" -le 1 ] ||
		fail "enum tsor_msg_type in $abi is not numbered 0, 1, ..."
	n=$(grep -oE '^[[:space:]]*TSOR_MSG_[A-Z_]+' <<<"$body" | tr -d '[:blank:]' | grep -nx "TSOR_MSG_$1" | cut -d: -f1)
	[[ $n =~ ^[0-9]+$ ]] || fail "no TSOR_MSG_$1 in enum tsor_msg_type of $abi"
	echo $((n - 1))
}

[ "$(id -u)" -eq 0 ] || skip "needs root (acts as uid 65534 with setpriv)"
command -v setpriv >/dev/null || skip "setpriv not installed"
# The system's python3: uid 65534 must be able to run it (not a pyenv shim in /root).
py=/usr/bin/python3
[ -x "$py" ] || py=$(command -v python3) || skip "python3 not installed"
[ -x "$tsor" ] && [ -x "$bin/tsord" ] || fail "no tsor build in $bin"

tmp=$(mktemp -d /tmp/tsor-sec.XXXXXX)
chmod 755 "$tmp"
export TSOR_SOCK=$tmp/d/tsord.sock
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	"$tsor" stop >/dev/null 2>&1 || true
	rm -rf "$tmp"
}
trap cleanup EXIT
as65534=(setpriv --reuid=65534 --regid=65534 --clear-groups --)
nobody() { "${as65534[@]}" "$@"; }
# Background processes run setpriv directly (not the function, whose
# subshell $! would name), so cleanup kills the process itself.

# A raw tsord client: sends one frame of TYPE (or its first N bytes) and
# prints the reply's status, or holds the connection open.
cat >"$tmp/raw.py" <<'PY'
import socket, struct, sys, time
path, version, typ, mode = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
frame = struct.pack('<IHHiIQ20sI48s', 0x524f5354, version, typ, 0, 0, 0, b'', 0, b'')
assert len(frame) == 96
s = socket.socket(socket.AF_UNIX)
s.connect(path)
if mode == 'call':
    s.sendall(frame)
    r = s.recv(96, socket.MSG_WAITALL)
    print(struct.unpack_from('<i', r, 8)[0])
elif mode == 'half':
    s.sendall(frame[:1])
    print('ready', flush=True)
    time.sleep(30)
elif mode == 'flood':
    s.setblocking(False)
    t = time.time()
    try:
        while time.time() - t < 10:
            try:
                s.send(frame)
            except BlockingIOError:
                time.sleep(0.01)
    except (BrokenPipeError, ConnectionResetError):
        print('dropped')
PY
PING=$(msg_type PING) STOP=$(msg_type STOP)

"$tsor" daemon || fail "tsor daemon"
[ -S "$TSOR_SOCK" ] || fail "no socket"
[ "$(stat -c %a "$tmp/d")" = 755 ] || fail "root's socket directory is $(stat -c %a "$tmp/d"), expected 755"

# --- STOP from another user: refused, logged, tsord still answers ---
st=$(nobody "$py" "$tmp/raw.py" "$TSOR_SOCK" "$version" $STOP call) || fail "raw STOP as uid 65534"
[ "$st" = -1 ] || fail "STOP from uid 65534 answered $st, expected -1 (EPERM)"
out=$(nobody "$tsor" stop 2>&1) && fail "tsor stop as uid 65534 succeeded"
grep -q "only root or uid 0 may stop it" <<<"$out" || fail "unclear refusal: $out"
"$tsor" stats >/dev/null || fail "tsord gone after a refused STOP"
grep -q "stop refused: pid [0-9]* uid 65534" "$tmp/d/tsord.log" || fail "refused STOP not logged"

# --- half a frame, and a client that reads no replies: nobody waits ---
"${as65534[@]}" "$py" "$tmp/raw.py" "$TSOR_SOCK" "$version" $PING half >"$tmp/half.out" 2>&1 &
pids+=($!)
for _ in $(seq 100); do [ -s "$tmp/half.out" ] && break; sleep 0.05; done
start=$(date +%s%N)
timeout 5 "$tsor" stats >/dev/null || fail "stats with a half frame pending"
ms=$((($(date +%s%N) - start) / 1000000))
[ "$ms" -lt 1000 ] || fail "stats took $ms ms with a half frame pending"
out=$(nobody timeout 20 "$py" "$tmp/raw.py" "$TSOR_SOCK" "$version" $PING flood) || true
[ "$out" = dropped ] || fail "a client flooding requests without reading was not dropped ($out)"
timeout 5 "$tsor" stats >/dev/null || fail "stats after the flood"

# --- squatting: another user's directory and "tsord" ---
mkdir "$tmp/squat"
chown 65534:65534 "$tmp/squat"
out=$("$bin/tsord" --socket "$tmp/squat/tsord.sock" 2>&1) && fail "tsord used a directory of uid 65534"
grep -q "refusing its directory" <<<"$out" || fail "unclear refusal: $out"
"${as65534[@]}" "$py" -c '
import socket, sys, time
s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(8)
print("ready", flush=True)
while True:
    c, _ = s.accept(); c.recv(96); time.sleep(1)
' "$tmp/squat/fake.sock" >"$tmp/fake.out" 2>&1 &
pids+=($!)
for _ in $(seq 100); do [ -s "$tmp/fake.out" ] && break; sleep 0.05; done
out=$(TSOR_SOCK=$tmp/squat/fake.sock "$tsor" stats 2>&1) && fail "stats trusted a tsord of uid 65534"
grep -q "not trusted" <<<"$out" || fail "unclear refusal: $out"
# The library stays on kernel TCP with one message (python3 connects anywhere).
out=$(TSOR_SOCK=$tmp/squat/fake.sock LD_PRELOAD=$bin/libtsor.so "$py" -c '
import socket
l = socket.socket(); l.bind(("127.0.0.1", 0)); l.listen(1)
c = socket.create_connection(l.getsockname()); a, _ = l.accept()
c.sendall(b"x"); print(a.recv(1).decode())' 2>&1) || fail "preloaded program with an untrusted tsord: $out"
grep -q "^x$" <<<"$out" || fail "no data over kernel TCP: $out"
grep -q "not trusted, staying on kernel TCP" <<<"$out" || fail "no warning from the library: $out"
# --- out of fds: tsord backs off instead of spinning on accept() ---
sock2=$tmp/e/tsord.sock
mkdir -m 700 "$tmp/e"
(ulimit -n 32 && exec "$bin/tsord" --socket "$sock2" 2>"$tmp/e/log") &
epid=$!
pids+=("$epid")
for _ in $(seq 100); do [ -S "$sock2" ] && break; sleep 0.05; done
"$py" -c '
import socket, sys, time
cs = []
for _ in range(64):
    c = socket.socket(socket.AF_UNIX); c.connect(sys.argv[1]); cs.append(c)
time.sleep(3)
' "$sock2" &
pids+=($!)
sleep 1
t0=$(awk '{ print $14 + $15 }' "/proc/$epid/stat")
sleep 1.5
t1=$(awk '{ print $14 + $15 }' "/proc/$epid/stat")
# Clock ticks (100/s) of CPU in 1.5 s: a spinning loop would take ~150.
[ $((t1 - t0)) -lt 30 ] || fail "tsord used $((t1 - t0)) ticks in 1.5 s out of fds (spinning?)"
grep -q "pausing accepts" "$tmp/e/log" || fail "no accept backoff logged: $(cat "$tmp/e/log")"
kill "$epid"
echo "PASS"
