#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Programs for test_tsor_multihost.sh, run in pod namespaces.

server ADDR PORT READYFILE: listens on ADDR:PORT, creates READYFILE, echoes
every connection (one thread each) until EOF, forever.
client ADDR PORT NCONN BYTES: NCONN concurrent connections, each sends BYTES
random bytes, half-closes, reads the echo back and checks length and
SHA-256; exits 1 on any mismatch.
flood ADDR PORT READYFILE: one connection that writes and reads echoes
without end; creates READYFILE after the first MiB went round, then runs
until the connection fails. Prints "end: <errno name or EOF> after S s"
(S since the failure was first possible to see: the caller kills a tsord
right after READYFILE) and exits 0 on ECONNRESET/EPIPE/EOF, 1 otherwise.
"""
import errno
import os
import socket
import sys
import threading
import time

sys.dont_write_bytecode = True  # no root-owned __pycache__ in the source tree
from echo import client as echo_client  # noqa: E402 (the script's directory is on sys.path)


def serve(addr, port, ready):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, port))
    s.listen(64)
    open(ready, "w").close()

    def echo(c):
        with c:
            try:
                while True:
                    d = c.recv(1 << 16)
                    if not d:
                        break
                    c.sendall(d)
            except OSError:
                pass

    while True:
        c, _ = s.accept()
        threading.Thread(target=echo, args=(c,), daemon=True).start()


def flood(addr, port, ready):
    c = socket.create_connection((addr, port))
    c.settimeout(60)
    chunk = os.urandom(1 << 16)
    state = {"end": None, "t": None}
    moved = 0

    def reader():
        try:
            while True:
                if not c.recv(1 << 16):
                    state["end"] = state["end"] or "EOF"
                    return
        except OSError as e:
            state["end"] = state["end"] or errno.errorcode.get(e.errno, str(e))

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    try:
        while state["end"] is None:
            c.sendall(chunk)
            moved += len(chunk)
            if moved >= (1 << 20) and state["t"] is None:
                open(ready, "w").close()
                state["t"] = time.monotonic()
    except OSError as e:
        state["end"] = state["end"] or errno.errorcode.get(e.errno, str(e))
    t.join(30)
    took = time.monotonic() - (state["t"] or time.monotonic())
    print("end: %s after %.1f s" % (state["end"], took))
    return 0 if state["end"] in ("ECONNRESET", "EPIPE", "EOF") else 1


if __name__ == "__main__":
    a = sys.argv
    if a[1] == "server":
        sys.exit(serve(a[2], int(a[3]), a[4]))
    if a[1] == "client":
        sys.exit(echo_client(a[2], int(a[3]), int(a[4]), int(a[5]), False, "xnode.py client"))
    sys.exit(flood(a[2], int(a[3]), a[4]))
