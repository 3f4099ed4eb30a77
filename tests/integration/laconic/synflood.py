#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Floods a TCP port with SYNs from random source ports, over a raw socket.

Why: a SYN flood on a splice listener must cost the balancer nothing (the
fast path answers with cookies); the tests check that, and the fast-path
benchmark times the answer. The ports are below the client's ephemeral
range (10000-65535), so no real connection is hit.

Usage: synflood.py SRC DST PORT COUNT [--options] [--pause S]
--options gives each SYN Linux's options (MSS 1460, SACK permitted,
timestamps, window scale 7), as a real client's; without, a bare SYN.
Every 100 SYNs it sleeps --pause seconds (default 0.015: ~3 s for
20 000). Prints "sent COUNT". Python's standard library only; needs root.
"""
import argparse
import random
import socket
import struct
import time


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("src")
    ap.add_argument("dst")
    ap.add_argument("port", type=int)
    ap.add_argument("count", type=int)
    ap.add_argument("--options", action="store_true")
    ap.add_argument("--pause", type=float, default=0.015)
    a = ap.parse_args()
    src, dst = socket.inet_aton(a.src), socket.inet_aton(a.dst)
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    for i in range(a.count):
        opts = b""
        if a.options:
            opts = (bytes([2, 4, 0x05, 0xB4, 4, 2, 8, 10]) + struct.pack("!II", random.getrandbits(32), 0)
                    + bytes([1, 3, 3, 7]))
        doff = (20 + len(opts)) // 4
        tcp = struct.pack("!HHIIBBHHH", random.randint(1024, 9999), a.port, random.getrandbits(32), 0,
                          doff << 4, 0x02, 64240, 0, 0) + opts
        tcp = tcp[:16] + struct.pack("!H", csum(struct.pack("!4s4sBBH", src, dst, 0, 6, len(tcp)) + tcp)) + tcp[18:]
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), random.getrandbits(16), 0x4000, 64, 6, 0, src, dst)
        ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
        s.sendto(ip + tcp, (a.dst, 0))
        if i % 100 == 99:
            time.sleep(a.pause)
    print("sent", a.count)


if __name__ == "__main__":
    main()
