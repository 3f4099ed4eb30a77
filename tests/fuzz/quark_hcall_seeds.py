#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes the seed corpus of fuzz_quark_hcall into
tests/fuzz/corpus/quark_hcall/: valid sequences of forwarded operations on
the harness's root (open and read, relative lookups, stat-like calls,
directory changes, getpath, getrandom) and a few hostile ones (segments out
of memory, a path through "../../..", a symlink loop). The input format is
described at the top of fuzz_quark_hcall.c; the operations are
quark/abi.h's QUARK_OP_*. Run from anywhere; rewrites only the seed-* files."""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "corpus", "quark_hcall")

(OPENAT, CLOSE, READV, WRITEV, PREADV, PWRITEV, FSTAT, FSTATAT, STATX, LSEEK,
 GETDENTS64, READLINKAT, FACCESSAT, MKDIRAT, UNLINKAT, RENAMEAT, FTRUNCATE,
 IOCTL, FCNTL, GETPATH, GETRANDOM, NANOSLEEP, EXIT, FSYNC) = range(1, 25)
O_RDONLY, O_WRONLY, O_RDWR, O_CREAT, O_TRUNC = 0, 1, 2, 0o100, 0o1000
O_DIRECTORY, O_NOFOLLOW, O_PATH = 0o200000, 0o400000, 0o10000000
AT_SYMLINK_NOFOLLOW, AT_REMOVEDIR, AT_EMPTY_PATH = 0x100, 0x200, 0x1000
TCGETS, TIOCGWINSZ, F_GETFL, F_SETFL, O_APPEND = 0x5401, 0x5413, 3, 4, 0o2000
ROOT, CWD, FIRST = 3, 4, 5  # the harness's handles; FIRST = the first one opened
MEM = 64 * 1024
P1, P2, SEGS, BUF = 0x100, 0x300, 0x800, 0x1000  # guest-physical places


def hc(op, *args):
    a = list(args) + [0] * (6 - len(args))
    return struct.pack("<IIq6Q", op, 0, 0, *a)


def seed(calls, mem):
    """calls: up to 4 hcalls; mem: {gpa: bytes} laid into guest memory."""
    assert 1 <= len(calls) <= 4
    image = bytearray()
    for gpa, b in sorted(mem.items()):
        if len(image) < gpa:
            image += b"\0" * (gpa - len(image))
        image[gpa:gpa + len(b)] = b
    return bytes([len(calls) - 1]) + b"".join(calls) + bytes(image)


def segs(*pairs):
    return b"".join(struct.pack("<QQ", g, n) for g, n in pairs)


def path_op(op, dirh, path, *rest):
    return hc(op, dirh, P1, len(path), *rest)


seeds = {
    "seed-open-read": seed(
        [path_op(OPENAT, ROOT, b"/hello", O_RDONLY), hc(READV, FIRST, SEGS, 2),
         hc(FSTAT, FIRST, BUF + 0x200), hc(CLOSE, FIRST)],
        {P1: b"/hello\0", SEGS: segs((BUF, 5), (BUF + 0x100, 64))}),
    "seed-relative": seed(
        [path_op(OPENAT, CWD, b"../d/inner", O_RDONLY), hc(PREADV, FIRST, SEGS, 1, 2),
         hc(GETPATH, CWD, BUF + 0x400, 64), hc(LSEEK, FIRST, 0, 2)],
        {P1: b"../d/inner\0", SEGS: segs((BUF, 16))}),
    "seed-escape": seed(
        [path_op(OPENAT, ROOT, b"up/../../secret", O_RDONLY),
         path_op(FSTATAT, CWD, b"sneak", BUF, 0),
         path_op(READLINKAT, ROOT, b"up", BUF, 64),
         path_op(OPENAT, ROOT, b"loop1", O_RDONLY)],
        {P1: b"up/../../secret\0"}),
    "seed-stat": seed(
        [path_op(FSTATAT, ROOT, b"dirlink", BUF, AT_SYMLINK_NOFOLLOW),
         path_op(STATX, ROOT, b"dirlink", 0, 0x7ff, BUF + 0x200),
         path_op(FACCESSAT, ROOT, b"dirlink", 4, 0),
         hc(FSTATAT, CWD, P1, 0, BUF, AT_EMPTY_PATH)],
        {P1: b"dirlink\0"}),
    "seed-dirs": seed(
        [path_op(MKDIRAT, CWD, b"m", 0o755),
         hc(RENAMEAT, CWD, P1, 1, ROOT, P2, 6),
         hc(UNLINKAT, ROOT, P2, 6, AT_REMOVEDIR),
         path_op(UNLINKAT, CWD, b"m", 0)],
        {P1: b"m\0", P2: b"/moved\0"}),
    "seed-write": seed(
        [path_op(OPENAT, CWD, b"new", O_CREAT | O_RDWR | O_TRUNC, 0o644),
         hc(WRITEV, FIRST, SEGS, 2), hc(FTRUNCATE, FIRST, 3), hc(FSYNC, FIRST)],
        {P1: b"new\0", SEGS: segs((BUF, 4), (BUF + 8, 4)), BUF: b"abcd\0\0\0\0efgh"}),
    "seed-getdents": seed(
        [path_op(OPENAT, ROOT, b"/", O_RDONLY | O_DIRECTORY),
         hc(GETDENTS64, FIRST, BUF, 4096), hc(GETDENTS64, FIRST, BUF, 4096),
         hc(FCNTL, FIRST, F_GETFL)],
        {P1: b"/\0"}),
    "seed-misc": seed(
        [hc(GETRANDOM, BUF, 32, 0), hc(IOCTL, 0, TCGETS, BUF), hc(NANOSLEEP, 1000),
         hc(FCNTL, 1, F_SETFL, O_APPEND)],
        {}),
    "seed-opath": seed(
        [path_op(OPENAT, ROOT, b"abs", O_PATH | O_NOFOLLOW),
         hc(READLINKAT, FIRST, P1, 0, BUF, 64), hc(READV, FIRST, SEGS, 1),
         hc(GETPATH, FIRST, BUF, 64)],
        {P1: b"abs\0", SEGS: segs((BUF, 8))}),
    "seed-hostile-segs": seed(
        [hc(WRITEV, 1, SEGS, 3), hc(READV, 0, MEM - 8, 1), hc(PWRITEV, 1, SEGS + 16, 1, 0),
         hc(READV, 0, SEGS, 257)],
        {SEGS: segs((BUF, 8), (MEM - 4, 8), (0xFFFFFFFFFFFFFFF8, 16))}),
    "seed-hostile-path": seed(
        [hc(OPENAT, ROOT, MEM - 3, 8, O_RDONLY), hc(OPENAT, ROOT, P1, 5000, O_RDONLY),
         hc(MKDIRAT, ROOT, P1, 4, 0), hc(GETPATH, 4096, BUF, 1)],
        {P1: b"a\0bc"}),
}

os.makedirs(OUT, exist_ok=True)
for name, data in seeds.items():
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)
print(f"wrote {len(seeds)} seeds to {OUT}")
