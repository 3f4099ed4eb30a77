#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes the seed corpora of fuzz_tsor_msg and fuzz_tsor_chan (valid
frames of each type, whole set-up sequences, well-formed channels and a few
near misses) into tests/fuzz/corpus/tsor_msg/ and tsor_chan/. The input
formats are described at the top of each harness; the frame layout is
tsor/abi.h's. Run from anywhere; rewrites only the seed-* files."""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
MAGIC, VERSION = 0x524F5354, 3
(PING, LISTEN, UNLISTEN, QUERY, INTENT, CANCEL, ASK, CLOSED, FALLBACK, STATS,
 STOP) = range(11)
AF_INET, AF_INET6 = 2, 10
ENOENT, EALREADY, EINVAL = 2, 114, 22
# Descriptor kinds of fuzz_tsor_msg.c (enum kind).
(K_NONE, K_LISTEN4, K_LISTEN_ANY, K_LISTEN6, K_CONN, K_ACCEPTED, K_BOUND, K_TCP,
 K_UDP, K_UNIX, K_PIPE, K_MEMFD, K_CHAN, K_EVENTFD, K_DEVNULL, K_CHAN_BIG) = range(16)


def frame(typ, status=0, ring=0, ident=0, fam=0, port=0, addr=b"", vals=(),
          magic=MAGIC, version=VERSION, pad=0):
    v = list(vals) + [0] * (6 - len(vals))
    return struct.pack("<IHHiIQHH16sI6Q", magic, version, typ, status, ring, ident,
                       fam, port, addr.ljust(16, b"\0"), pad, *v)


def d(kind=K_NONE, copies=1, steer=0, scribble=None):
    """A daemon-side chunk's head: flags (kind, 1/2/3/5 descriptors, address
    steering), then the scribble byte and its u32 when (word, value) given."""
    head = bytes([kind | ({1: 0, 2: 1, 3: 2, 5: 3}[copies] << 4) | (steer << 6)])
    if scribble is None:
        return head + b"\0"
    return head + bytes([0x80 | scribble[0]]) + struct.pack("<I", scribble[1])


def c(typ, reply, fds=(), fix=False, shape=0):
    """A client-side chunk: request type, fd flags, fd kinds, shape, reply."""
    k = list(fds) + [0] * (3 - len(fds))
    if len(reply) < 96 and not shape:
        shape = 0xC0 | len(reply)  # a short reply: its length
    f = len(fds) | (k[0] << 3) | (0x80 if fix else 0)
    return bytes([typ, f, k[1] | (k[2] << 4), shape]) + reply


LO = bytes([127, 0, 0, 1])

msg = {
    # tsord, hostile client (first byte even)
    "seed-d-ping": b"\0" + d() + frame(PING),
    "seed-d-stats": b"\0" + d() + frame(STATS),
    "seed-d-stop": b"\0" + d() + frame(STOP) + d() + frame(PING),
    "seed-d-listen": b"\0" + d(K_LISTEN4) + frame(LISTEN) + d() + frame(UNLISTEN, ident=2),
    "seed-d-listen-bad": b"\0" + d(K_PIPE) + frame(LISTEN) + d(K_BOUND) + frame(LISTEN),
    "seed-d-query": b"\0" + d(K_LISTEN4) + frame(LISTEN) + d(K_CONN, steer=1) + frame(QUERY)
    + d(K_CONN) + frame(QUERY, fam=AF_INET, port=1, addr=LO),
    "seed-d-query-any": b"\0" + d(K_LISTEN_ANY) + frame(LISTEN)
    + d(K_CONN, steer=2) + frame(QUERY),
    "seed-d-query-dual": b"\0" + d(K_LISTEN6) + frame(LISTEN) + d(K_CONN, steer=3) + frame(QUERY)
    + d(K_CONN) + frame(QUERY, fam=AF_INET6, port=9, addr=b"\0" * 15 + b"\1"),
    # The whole set-up: listen, intent, the accepted socket's ask, close, stats.
    "seed-d-accel": b"\0" + d(K_LISTEN4) + frame(LISTEN)
    + d(K_CONN, steer=1) + frame(INTENT, ring=4096)
    + d(K_ACCEPTED) + frame(ASK) + d() + frame(CLOSED, ident=3, vals=[1000])
    + d() + frame(STATS),
    "seed-d-cancel": b"\0" + d(K_LISTEN4) + frame(LISTEN)
    + d(K_CONN, steer=1) + frame(INTENT) + d() + frame(CANCEL, ident=3)
    + d(K_ACCEPTED) + frame(ASK) + d() + frame(CANCEL, ident=3),
    "seed-d-intent-replaced": b"\0" + d(K_LISTEN4) + frame(LISTEN)
    + d(K_CONN, steer=1) + frame(INTENT, ring=65536)
    + d(K_CONN, steer=1) + frame(INTENT) + d() + frame(STATS),
    # A connector rewriting the channel header between INTENT and ASK.
    "seed-d-scribble": b"\0" + d(K_LISTEN4) + frame(LISTEN)
    + d(K_CONN, steer=1, scribble=(2, 5)) + frame(INTENT, ring=4096)
    + d(K_ACCEPTED) + frame(ASK) + d() + frame(STATS),
    "seed-d-ask-plain": b"\0" + d(K_ACCEPTED) + frame(ASK) + d() + frame(FALLBACK),
    "seed-d-fds": b"\0" + d(K_MEMFD, 5) + frame(ASK) + d(K_UDP, 3) + frame(QUERY),
    "seed-d-bad-magic": b"\0" + d(K_EVENTFD, 2) + frame(PING, magic=0),
    "seed-d-bad-type": b"\0" + d() + frame(STOP + 1),
    "seed-d-short": b"\0" + d(K_UNIX) + frame(INTENT)[:50],
    # lib, hostile tsord (first byte odd)
    "seed-c-ping": b"\1" + c(PING, frame(PING)),
    "seed-c-stats": b"\1" + c(STATS, frame(STATS, vals=[1, 2, 3, 4, 5, 6])),
    "seed-c-intent": b"\1" + c(INTENT, frame(INTENT, ring=4096, ident=3),
                               (K_CHAN, K_EVENTFD, K_EVENTFD)),
    "seed-c-ask": b"\1" + c(ASK, frame(ASK, ring=65536, ident=3),
                            (K_CHAN_BIG, K_EVENTFD, K_EVENTFD)),
    "seed-c-ask-plain": b"\1" + c(ASK, frame(ASK, status=-ENOENT))
    + c(QUERY, frame(QUERY, status=-ENOENT)) + c(CANCEL, frame(CANCEL, status=-EALREADY)),
    "seed-c-closed": b"\1" + c(CLOSED, b"") + c(FALLBACK, b"") + c(PING, frame(PING)),
    "seed-c-mismatch": b"\1" + c(QUERY, frame(STATS)) + c(PING, frame(PING)),
    "seed-c-fds-wrong": b"\1" + c(INTENT, frame(INTENT, ident=1), (K_MEMFD, K_PIPE))
    + c(ASK, frame(ASK), (K_MEMFD, K_PIPE, K_TCP))
    + c(LISTEN, frame(LISTEN, ident=4), (K_CHAN, K_CHAN, K_CHAN)),
    "seed-c-fds-error": b"\1" + c(INTENT, frame(INTENT, status=-EINVAL),
                                  (K_CHAN, K_EVENTFD, K_EVENTFD)),
    "seed-c-desync": b"\1" + c(PING, frame(PING) + frame(PING)[:20], shape=0xe0 | 19)
    + c(PING, frame(PING)) + c(STATS, frame(STATS)[:40]),
}

# fuzz_tsor_chan: [cfg][ring size][opt][size 2 bytes][npatch][patches][ops]
SEALS = 0x0E  # SHRINK | GROW | SEAL
FORMATTED = 0x20


def chan(side, sel=0, opt=1, mode=0, seals=SEALS, fmt=True, size=b"\0\0", patches=(), ops=b""):
    cfg = side | seals | (FORMATTED if fmt else 0) | (mode << 6)
    out = bytes([cfg, sel, opt]) + size + bytes([len(patches)])
    for region, word, val in patches:
        out += bytes([region, word]) + struct.pack("<I", val)
    return out + ops


def op(code, n=0):
    return bytes([code, n])


ACCEPTED = (0, 16, 1)  # channel header word 16: accepted = 1
OPS = op(7) + op(5, 4) + op(8) + op(3, 4) + op(3 | 16, 4) + op(9 | 16) + op(10) + op(12 | 16)

chans = {
    "seed-connector": chan(0, ops=OPS),
    "seed-connector-accepted": chan(0, opt=0, patches=[ACCEPTED], ops=OPS),
    "seed-connector-cancel-late": chan(0, opt=2, ops=OPS),
    "seed-acceptor": chan(1, ops=OPS),
    # The connector published 100 bytes into c2s: the acceptor reads them.
    "seed-acceptor-data": chan(1, patches=[(1, 16, 100)], ops=op(8) + op(3, 4) + op(3, 4)),
    "seed-acceptor-64k": chan(1, sel=4, ops=OPS),
    "seed-acceptor-shut": chan(1, patches=[(0, 32, 1)], ops=op(7) + op(3, 1)),
    "seed-scribble": chan(1, ops=op(0) + bytes([1, 16]) + struct.pack("<I", 0x7FFFFFFF)
                          + op(3, 4) + op(1) + bytes([2, 32]) + struct.pack("<I", 12345) + op(5, 8)),
    "seed-bad-magic": chan(1, patches=[(0, 0, 0)]),
    "seed-ring-size-lie": chan(1, patches=[(0, 2, 8192)]),
    "seed-ring-hdr-lie": chan(0, patches=[(2, 2, 128)]),
    "seed-size-off": chan(1, mode=1, size=b"\1\0"),
    "seed-size-page": chan(1, mode=3),
    "seed-size-raw": chan(0, mode=2, size=b"\x23\x00"),
    "seed-unsealed": chan(1, seals=0x02),
    "seed-write-sealed": chan(1, seals=SEALS | 0x10),
    "seed-unformatted": chan(1, fmt=False),
}

for sub, seeds in (("tsor_msg", msg), ("tsor_chan", chans)):
    out = os.path.join(HERE, "corpus", sub)
    os.makedirs(out, exist_ok=True)
    for name, data in seeds.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
    print(f"{sub}: {len(seeds)} seeds")
