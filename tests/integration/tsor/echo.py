#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Echo server and checksumming client for test_tsor_basic.sh.

server FAMILY PORTFILE NCONN: listens on loopback port 0 (the port goes to
PORTFILE), echoes NCONN connections (one thread each) until EOF, exits 0.
client FAMILY PORT NCONN BYTES [--timeout]: NCONN concurrent connections,
each sends BYTES random bytes, half-closes, reads the echo back and checks
length and SHA-256; exits 1 on any mismatch. --timeout gives the sockets a
timeout, so Python waits in poll() instead of blocking in recv/send.
"""
import hashlib
import os
import socket
import sys
import threading


def family(name):
    return socket.AF_INET6 if name == "6" else socket.AF_INET


def loopback(name):
    return "::1" if name == "6" else "127.0.0.1"


def serve(fam, portfile, nconn):
    s = socket.socket(family(fam), socket.SOCK_STREAM)
    s.bind((loopback(fam), 0))
    s.listen(64)
    with open(portfile + ".tmp", "w") as f:
        f.write(str(s.getsockname()[1]))
    os.rename(portfile + ".tmp", portfile)

    def echo(c):
        with c:
            while True:
                d = c.recv(1 << 16)
                if not d:
                    break
                c.sendall(d)

    threads = []
    for _ in range(nconn):
        c, _ = s.accept()
        t = threading.Thread(target=echo, args=(c,))
        t.start()
        threads.append(t)
    for t in threads:
        t.join()
    return 0


def one(addr, port, nbytes, timeout, errors):
    c = socket.create_connection((addr, port))
    if timeout:
        c.settimeout(30)
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
        errors.append("connection got %d bytes of %d or a bad checksum" % (len(got), nbytes))


def client(addr, port, nconn, nbytes, timeout, who="echo.py client"):
    """NCONN concurrent checksummed echoes to ADDR:PORT (xnode.py uses it too)."""
    errors = []
    threads = [threading.Thread(target=one, args=(addr, port, nbytes, timeout, errors))
               for _ in range(nconn)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for e in errors:
        print(who + ":", e, file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    a = sys.argv
    if a[1] == "server":
        sys.exit(serve(a[2], a[3], int(a[4])))
    sys.exit(client(loopback(a[2]), int(a[3]), int(a[4]), int(a[5]), "--timeout" in a))
