/* SPDX-License-Identifier: MIT */
/*
 * ring: a single-producer, single-consumer byte ring in memory shared by two
 * processes that do not trust each other (a MAP_SHARED memfd), with
 * spin-then-block wake-ups on a futex. It is the first piece of TSoR
 * (docs/tsor.md): one ring carries one direction of one connection.
 *
 * Layout. The region is a 256-byte header and a power-of-two data area. Each
 * index has a cache line of its own, so the producer's stores to the tail
 * and the consumer's stores to the head never fight over a line; the sleep
 * flags sit on a fourth line that is only written around blocking, so in the
 * steady state the "does anyone sleep?" load hits a clean, shared line.
 *
 *     offset 0    +----------------------------------------------+
 *                 | magic  version  size  hdr_size      (init)   | line 0, read-only
 *            64   | tail                            (producer)   | line 1
 *           128   | head  credit                    (consumer)   | line 2
 *           192   | cons_wait  prod_wait            (sleepers)   | line 3
 *           256   +----------------------------------------------+
 *                 | data[size]      size = 2^k, 64 B .. 1 GiB     |
 *                 +----------------------------------------------+
 *
 * Indices are free-running u32 counters of bytes ever published (tail) and
 * consumed (head); the byte at index i lives at data[i & (size - 1)]. The
 * ring holds tail - head bytes (mod 2^32), so it can be completely full with
 * no wasted slot, and wrap-around of the counters themselves is harmless
 * because size divides 2^32 (Linux kfifo's scheme).
 *
 * Invariant: 0 <= tail - head <= size, computed in u32 arithmetic. Only the
 * producer moves tail and only the consumer moves head, each forward.
 *
 * Ordering (C11 atomics, the kfifo pattern). The producer copies bytes in,
 * then stores tail with release; the consumer loads tail with acquire before
 * copying out, so it never sees an index ahead of the bytes. Symmetrically,
 * the consumer copies out, then stores head with release; the producer loads
 * head with acquire before overwriting, so it never clobbers bytes still
 * being read. Every atomic in ring.c carries a comment saying which store it
 * pairs with.
 *
 * The hostile-peer rule. Everything in the header may be changed by the other
 * process at any moment, to any value. So:
 *   - each side keeps the master copy of its own index in private memory
 *     (struct ring); the shared copy is only published, never read back, so
 *     a peer that scribbles over our index changes nothing for us;
 *   - the peer's index is read at most once per call, into a local, and
 *     validated before use: the consumer requires 0 <= tail - head <= size
 *     and that tail never moves backwards; the producer requires the same of
 *     head. A violation makes the call, and every later call on that handle,
 *     return -EPROTO (sticky: a peer that lied once is not believed again).
 *     Reads and writes reuse the last validated value while it covers the
 *     request (kfifo's cached index), so the peer's line is touched once per
 *     burst, not once per call; queries (readable, writable, wait) always
 *     reload. A lie is therefore caught when next loaded, and until then the
 *     victim works inside bounds it had already validated;
 *   - size is taken from the caller's own mapping length at attach time and
 *     never re-read, so every offset is masked with a private mask and every
 *     copy is bounded by a private size: nothing outside data[] is touched;
 *   - the data bytes themselves are untrusted and may change while being
 *     copied; callers parse only their private copy (ring_read/ring_peek
 *     copy out; there is deliberately no zero-copy view).
 * A consumer never returns more bytes than the producer published (the tail
 * it validated), and a producer never writes more than the space left by the
 * head it validated.
 *
 * Flow control. head is published on every consume, which is all a producer
 * in the same host needs. For a producer that cannot see head cheaply (TSoR's
 * service mirroring the ring to another host), the consumer also publishes
 * credit, a copy of head updated lazily: only once more than half the ring
 * has drained since the last update (TSoR's window update). A producer going
 * by credit sees at least half the ring free whenever the consumer has
 * drained everything, so lazy credit cannot deadlock.
 *
 * Wake-ups. A waiter spins up to `spin` rounds (pause, with a yield every 256
 * rounds so a peer on the same vCPU gets to run), then sleeps with the
 * protocol that cannot lose a wake-up:
 *
 *     waiter (consumer)                    waker (producer)
 *     cons_wait = 1                        copy bytes; tail = t  (release)
 *     full fence                           full fence
 *     re-check tail; if data: return       if cons_wait: cons_wait = 0, FUTEX_WAKE
 *     FUTEX_WAIT(&cons_wait, 1, timeout)
 *
 * The two full fences order each side's store before its load (Dekker): at
 * least one side sees the other's store, so either the waiter finds the data
 * or the waker finds the flag. FUTEX_WAIT sleeps only while the word is still
 * 1, so a wake between the re-check and the sleep is not lost either. The
 * waker calls FUTEX_WAKE only when the flag is set and clears it with an
 * exchange, so a stream of writes to a sleeping reader costs one wake, and a
 * reader that never sleeps costs none (signal coalescing). The producer
 * waiting for space is the mirror image on prod_wait. The memory is shared
 * between processes, so the futex is not FUTEX_PRIVATE_FLAG. Every wait has a
 * timeout: a dead (or lying) peer costs at most that, never a hang.
 *
 * Costs, measured by bench/ring between two processes pinned to the two
 * vCPUs of an AMD EPYC VM (Linux 6.18; docs/tsor.md has the full table):
 * a spinning 64 B round trip takes 0.7 us against 22-30 us for a pipe, a
 * Unix socket pair or loopback TCP; a blocking one (spin 0, two futex
 * sleeps and wakes) 23 us, no better than a pipe, which is why waiters spin
 * first. Streaming through a 1 MiB ring runs at 0.8 GB/s with 64 B writes,
 * 9 GB/s with 4 KiB and 16-20 GB/s with 16-64 KiB writes (the ring stays in
 * cache), 6-24 times loopback TCP. Each publish costs one full fence (the
 * sleep protocol's Dekker half), the price of never losing a wake-up.
 *
 * Doorbells. A waiter that must sleep in poll()/epoll_wait() together with
 * other file descriptors (TSoR's interposer does) cannot sleep on a futex.
 * ring_set_wake_fd() makes this handle's wake-ups write one byte to a pipe
 * instead of FUTEX_WAKE, and ring_arm_wait() is the waiter's half of the
 * protocol without the sleep: set the flag, full fence, re-check. The caller
 * sleeps in poll() on the pipe only when the re-check found nothing, and
 * drains it with non-blocking reads until EAGAIN. The flag is left set (the
 * waker clears it with its exchange), so two waiters in one process can never
 * clear each other's flag; a stale flag costs the peer one byte, a syscall
 * on each side. A caller that counts its own waiters clears the flag when the
 * last one is awake again (ring_disarm()), so a busy, awake consumer costs
 * its producer no syscalls.
 * Why a pipe and not an eventfd: the waker's fd must be non-blocking on an
 * open file description no one else can change. An eventfd passed between
 * processes shares its description, O_NONBLOCK included, so a peer could
 * clear the flag, fill the counter, and the next wake-up would block the
 * waker forever. A pipe can be re-opened (open("/proc/self/fd/N")) into a
 * private description; a full one gives EAGAIN, which is harmless here
 * (the sleeper already has a wake-up pending). The caller sets that up;
 * the ring only writes, non-blocking, and ignores EAGAIN.
 *
 * Threading: one thread drives each handle (the producer's or the
 * consumer's); the two handles may be in different threads or processes.
 *
 * References: Linux lib/kfifo.c (the index scheme), futex(2) and Drepper's
 * "Futexes Are Tricky" (the flag protocol), liburing's SQ_NEED_WAKEUP (the
 * fence before reading a wake-up flag), TSoR arXiv:2305.10621 section 3.
 */
#ifndef LIB_RING_H
#define LIB_RING_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#define RING_MAGIC	  0x474e4952u /* "RING" in little-endian memory */
#define RING_VERSION	  1u
#define RING_CACHELINE	  64u
#define RING_HDR_SIZE	  256u	     /* offset of the data area */
#define RING_MIN_SIZE	  64u	     /* smallest data area: one cache line */
#define RING_MAX_SIZE	  (1u << 30) /* largest: keeps tail - head far from 2^32 */
#define RING_SPIN_DEFAULT 4096u	     /* a few microseconds of pause before blocking */

/* Bytes of shared memory for a ring with `size` data bytes. */
#define RING_REGION_SIZE(size) ((size_t)RING_HDR_SIZE + (size_t)(size))

/*
 * The shared header, a host/peer ABI: sizes and offsets are fixed and
 * asserted below. Every field may be rewritten by a hostile peer at any time;
 * see the hostile-peer rule above for how each one is used.
 */
struct ring_hdr {
	/* Line 0: written by ring_init(), then only checked by ring_attach(). */
	uint32_t magic;	   /* RING_MAGIC */
	uint32_t version;  /* RING_VERSION */
	uint32_t size;	   /* data bytes, a power of two; attach checks it against its own length */
	uint32_t hdr_size; /* RING_HDR_SIZE, the data area's offset */
	uint8_t pad0[48];  /* keeps line 0 read-only */

	/* Line 1: written by the producer only. */
	_Atomic uint32_t tail; /* bytes ever published, mod 2^32 (release) */
	uint8_t pad1[60];      /* the consumer's stores never share this line */

	/* Line 2: written by the consumer only. */
	_Atomic uint32_t head;	 /* bytes ever consumed, mod 2^32 (release) */
	_Atomic uint32_t credit; /* head as last reported, updated each half ring (release) */
	uint8_t pad2[56];	 /* the producer's stores never share this line */

	/* Line 3: sleep flags, touched only around blocking. 1 = asleep or about to be. */
	_Atomic uint32_t cons_wait; /* set by the consumer waiting for data, cleared by the waker */
	_Atomic uint32_t
		prod_wait; /* set by the producer waiting for space, cleared by the waker */
	uint8_t pad3[56];  /* rounds the header up to RING_HDR_SIZE */
};

_Static_assert(sizeof(_Atomic uint32_t) == 4, "atomic u32 must be a plain u32 in the ABI");
_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "futex words must be lock-free atomics");
_Static_assert(sizeof(struct ring_hdr) == RING_HDR_SIZE, "ring header size is ABI");
_Static_assert(offsetof(struct ring_hdr, size) == 8, "ring header layout is ABI");
_Static_assert(offsetof(struct ring_hdr, tail) == 64, "tail owns line 1");
_Static_assert(offsetof(struct ring_hdr, head) == 128, "head owns line 2");
_Static_assert(offsetof(struct ring_hdr, credit) == 132, "credit after head");
_Static_assert(offsetof(struct ring_hdr, cons_wait) == 192, "flags own line 3");
_Static_assert(offsetof(struct ring_hdr, prod_wait) == 196, "flags own line 3");

enum ring_role {
	RING_PRODUCER = 0, /* writes: ring_write(), ring_writev(), ring_wait_writable() */
	RING_CONSUMER =
		1, /* reads: ring_read(), ring_peek(), ring_consume(), ring_wait_readable() */
};

/*
 * One side's private handle. Nothing in it is shared: it holds the master
 * copy of this side's index and the last validated value of the peer's.
 */
struct ring {
	struct ring_hdr *hdr; /* the shared header (untrusted after attach) */
	unsigned char *data;  /* the shared data area, size bytes */
	uint32_t size;	      /* private copy of the data size, never re-read */
	uint32_t mask;	      /* size - 1 */
	uint32_t pos;	      /* own index: tail (producer) or head (consumer), master copy */
	uint32_t peer;	      /* peer's index as last validated: head or tail */
	uint32_t credit; /* consumer: head last published as credit; producer: last valid credit */
	uint32_t spin;	 /* pause rounds before sleeping in ring_wait_*(); 0 = sleep at once */
	enum ring_role role; /* which side this handle drives */
	int err;	     /* 0, or -EPROTO for good once the peer broke an invariant */
	int wake_fd;	     /* non-blocking pipe our wake-ups write, or -1 for FUTEX_WAKE */
};

/*
 * Formats a region: writes the header (indices 0, flags clear) and sets up
 * `r` as side `role`. mem must be 64-byte aligned and len must be
 * RING_REGION_SIZE(size) for a power-of-two size in [RING_MIN_SIZE,
 * RING_MAX_SIZE]. 0 or -EINVAL. The data area is not cleared.
 */
int ring_init(struct ring *r, void *mem, size_t len, enum ring_role role);

/*
 * Joins a region formatted by the other side (or re-joins one). len is the
 * caller's own knowledge of the mapping (e.g. from fstat of the memfd), never
 * the header's: the header must agree with it. Reads this side's index from
 * the header once. 0, -EINVAL (bad arguments) or -EPROTO (the header is not
 * a valid ring of that length, or its indices break the invariant).
 */
int ring_attach(struct ring *r, void *mem, size_t len, enum ring_role role);

/*
 * Producer. Copies min(len, free) bytes and publishes them; never blocks.
 * Wakes a sleeping consumer when it published anything. Returns the bytes
 * written (0 when full or len == 0), -EINVAL on a consumer handle, -EPROTO.
 */
ssize_t ring_write(struct ring *r, const void *buf, size_t len);

/* ring_write() gathering from iov[0..iovcnt); iovcnt in [0, IOV_MAX]. */
ssize_t ring_writev(struct ring *r, const struct iovec *iov, int iovcnt);

/*
 * Consumer. ring_read() copies min(len, readable) bytes out and consumes
 * them; ring_peek() copies without consuming; ring_consume() drops n bytes
 * (n <= readable, else -EINVAL). read and peek return the bytes copied (0
 * when empty). ring_consume() returns the bytes of credit it published (> 0
 * when this call crossed the half-ring mark, so a mirroring agent should
 * forward a window update), else 0. All wake a producer sleeping for space
 * when they consume. -EINVAL on a producer handle, -EPROTO.
 */
ssize_t ring_read(struct ring *r, void *buf, size_t len);
ssize_t ring_peek(struct ring *r, void *buf, size_t len);
ssize_t ring_consume(struct ring *r, size_t n);

/* Consumer: bytes ready to read. Producer: bytes of free space. >= 0, -EINVAL, -EPROTO. */
ssize_t ring_readable(struct ring *r);
ssize_t ring_writable(struct ring *r);

/*
 * Producer: free space by the consumer's lazy credit instead of its head
 * (what a producer that mirrors the ring to another host may send). Never
 * more than ring_writable(). >= 0, -EINVAL, -EPROTO.
 */
ssize_t ring_credit(struct ring *r);

/*
 * Waits until the ring is readable (consumer) or writable (producer): spins
 * r->spin rounds, then sleeps on the futex for at most timeout_ms (>= 0; 0
 * only re-checks once after setting the flag). Returns the readable or
 * writable byte count (> 0), -ETIMEDOUT, -EINVAL (wrong side, negative
 * timeout) or -EPROTO. Signals interrupt the sleep but not the wait.
 */
ssize_t ring_wait_readable(struct ring *r, int timeout_ms);
ssize_t ring_wait_writable(struct ring *r, int timeout_ms);

/*
 * Makes the wake-ups this handle sends (when the peer's sleep flag is set)
 * write one byte to `fd` (not owned; the caller keeps it open for the
 * handle's life), a pipe's write end whose open file description is
 * O_NONBLOCK and private to the caller (see "Doorbells"), instead of calling
 * FUTEX_WAKE; fd < 0 restores the futex. A peer then sleeping in
 * ring_wait_*() is not woken, only one sleeping in poll() on that pipe. The
 * write is the raw syscall, which is safe from a library that interposes
 * write(); EAGAIN (pipe full) is ignored.
 */
void ring_set_wake_fd(struct ring *r, int fd);

/*
 * The waiter's half of the sleep protocol without the sleep: sets this
 * side's sleep flag, issues the full fence, and re-checks. Returns the
 * readable (consumer) or writable (producer) bytes: > 0 means do not sleep;
 * 0 means sleep now (in poll() on the pipe the peer's wake-ups write):
 * any publish after this call finds the flag and wakes. -EPROTO as usual.
 */
ssize_t ring_arm_wait(struct ring *r);

/*
 * Clears this side's sleep flag: the caller's last waiter is awake again,
 * so the peer's publishes need not ring the doorbell (each ring is a
 * syscall on both sides). Only for a caller that knows no thread or
 * process of its own still sleeps on this ring's doorbell (TSoR counts its
 * waiters per connection): such a sleeper would miss its wake-up.
 */
void ring_disarm(struct ring *r);

#endif /* LIB_RING_H */
