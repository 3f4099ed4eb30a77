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
import hashlib
import os
import socket
import sys
import threading
import time


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


def one(addr, port, nbytes, errors):
    c = socket.create_connection((addr, port))
    data = os.urandom(nbytes)
    got = bytearray()

    def reader():
        while True:
            d = c.recv(1 << 16)
            if not d:
                break
            got.extend(d)

    t = threading.Thread(target=reader)
    t.start()
    c.sendall(data)
    c.shutdown(socket.SHUT_WR)
    t.join()
    c.close()
    if len(got) != nbytes or hashlib.sha256(got).digest() != hashlib.sha256(data).digest():
        errors.append("got %d bytes of %d or a bad checksum" % (len(got), nbytes))


def client(addr, port, nconn, nbytes):
    errors = []
    threads = [threading.Thread(target=one, args=(addr, port, nbytes, errors))
               for _ in range(nconn)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for e in errors:
        print("xnode.py client:", e, file=sys.stderr)
    return 1 if errors else 0


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
        sys.exit(client(a[2], int(a[3]), int(a[4]), int(a[5])))
    sys.exit(flood(a[2], int(a[3]), a[4]))
