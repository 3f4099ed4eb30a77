#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Sends exact bytes to an HTTP server and prints what comes back.

Why: curl and wrk always send well-formed requests in one piece; the load
balancer's tests also need malformed requests (smuggling vectors), heads
split across TCP segments with pauses between them, pipelined requests in
one write, and half-closes. Python's standard library only.

Usage: rawhttp.py HOST PORT [--delay MS] [--shut] [--rst] [--read N]
                  [--dump FILE] [--timeout S] PIECE...
Each PIECE is sent as its own write, with --delay between pieces; escapes
\\r \\n \\t \\xNN are decoded. --shut half-closes after the last piece;
--rst resets the connection instead of reading an answer (with --read N,
after reading at least N bytes of it: a reset in the middle of a download).
--dump FILE writes every byte read to FILE.
Prints the status line of every response read, one a line (or "EOF" when
the connection closed without a response, "TIMEOUT" when the server kept
quiet, "RESET" on a reset), "SENDFAIL" when the server closed before all
pieces were sent, then "BODY <n>" with the total bytes read.
"""
import argparse
import re
import socket
import struct
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("--delay", type=float, default=0)
    ap.add_argument("--shut", action="store_true")
    ap.add_argument("--timeout", type=float, default=5)
    ap.add_argument("--rst", action="store_true",
                    help="after the last piece, close with a reset (SO_LINGER 0)")
    ap.add_argument("--read", type=int, default=0,
                    help="with --rst: read at least this many bytes first")
    ap.add_argument("--dump", help="write the bytes read to this file")
    ap.add_argument("pieces", nargs="+")
    a = ap.parse_args()
    s = socket.create_connection((a.host, a.port), timeout=a.timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sendfail = False
    for i, p in enumerate(a.pieces):
        if i and a.delay:
            time.sleep(a.delay / 1000)
        try:
            s.sendall(p.encode("latin-1").decode("unicode_escape").encode("latin-1"))
        except (BrokenPipeError, ConnectionResetError):
            sendfail = True  # the server closed on us: say so, then read
            break
    if a.shut and not sendfail:
        s.shutdown(socket.SHUT_WR)
    if a.rst:
        got = 0
        while got < a.read:
            chunk = s.recv(65536)
            if not chunk:
                print("EOF before %d bytes (%d read)" % (a.read, got))
                return 1
            got += len(chunk)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
        print("RST")
        return 0
    data = b""
    status = "EOF"
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    except socket.timeout:
        status = "TIMEOUT"
    except ConnectionResetError:
        status = "RESET"
    if a.dump:
        with open(a.dump, "wb") as f:
            f.write(data)
    lines = re.findall(rb"HTTP/1\.[01] [0-9]{3}[^\r\n]*", data)
    for ln in lines:
        print(ln.decode("latin-1"))
    if not lines or status != "EOF":
        print(status)
    if sendfail:
        print("SENDFAIL")
    print("BODY", len(data))


if __name__ == "__main__":
    sys.exit(main())
