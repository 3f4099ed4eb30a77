/* SPDX-License-Identifier: MIT */
/*
 * The shared-memory SPSC byte ring; the design, the layout and the rules for
 * a hostile peer are in ring.h. This file keeps to three habits:
 *   - the peer's index is loaded once per operation, into a local, by
 *     load_peer(), which validates it before anything uses it;
 *   - every copy goes through copy_in()/copy_out(), which mask the offset and
 *     bound the length with the private size, never the shared one;
 *   - every atomic says which store or load on the other side it pairs with.
 */
#include "ring.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <sched.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "compiler.h"

/* ============================ Helpers ============================ */

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	/* pause: lets the sibling hyperthread run and avoids the memory-order
	 * mis-speculation penalty when the awaited line finally changes. */
	__asm__ __volatile__("pause" ::: "memory");
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#else
	atomic_signal_fence(memory_order_seq_cst);
#endif
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/*
 * Sleeps while *word == 1, for at most ns. No FUTEX_PRIVATE_FLAG: the word
 * lives in a MAP_SHARED mapping and the waker is another process. Errors
 * (EAGAIN: the word changed, EINTR, ETIMEDOUT) all mean "re-check", which
 * every caller does, so they are not reported.
 */
static void futex_wait(_Atomic uint32_t *word, uint64_t ns)
{
	struct timespec ts = { .tv_sec = (time_t)(ns / 1000000000u),
			       .tv_nsec = (long)(ns % 1000000000u) };

	syscall(SYS_futex, word, FUTEX_WAIT, 1, &ts, NULL, 0);
}

static void futex_wake(_Atomic uint32_t *word)
{
	syscall(SYS_futex, word, FUTEX_WAKE, 1, NULL, NULL, 0);
}

/*
 * The waker's half of the sleep protocol (ring.h), called right after this
 * side published a new index with a release store.
 */
static void wake_peer(const struct ring *r, _Atomic uint32_t *flag)
{
	/* Full fence: orders our index store before the flag load (Dekker with
	 * the waiter's flag store then fence then index load). Without it the
	 * load could be satisfied before the store is visible, both sides would
	 * miss each other, and the waiter would sleep on published data. */
	atomic_thread_fence(memory_order_seq_cst);
	/* Relaxed: the flag carries no data; the waiter re-reads the index with
	 * acquire after waking. The plain load first keeps the common case (no
	 * sleeper) a read of a shared, clean line; the exchange makes exactly
	 * one waker pay for the syscall. */
	if (atomic_load_explicit(flag, memory_order_relaxed) != 0 &&
	    atomic_exchange_explicit(flag, 0, memory_order_relaxed) != 0) {
		if (r->wake_fd >= 0)
			/* One byte into the peer's doorbell pipe. The raw
			 * syscall: a library interposing write() must not see
			 * its own wake-ups. The fd is non-blocking, so a full
			 * pipe gives EAGAIN, ignored: the sleeper already has
			 * a wake-up pending and drains them all at once. */
			(void)syscall(SYS_write, r->wake_fd, "", 1);
		else
			futex_wake(flag);
	}
}

static int fail(struct ring *r)
{
	r->err = -EPROTO;
	return -EPROTO;
}

/*
 * Loads the peer's index once and validates it against our private index
 * and its last valid value. On success r->peer is updated and 0 returned;
 * a violation is -EPROTO, for good.
 */
static int load_peer(struct ring *r)
{
	uint32_t v;

	if (unlikely(r->err))
		return r->err;
	if (r->role == RING_CONSUMER) {
		/* Acquire: pairs with the producer's release store of tail in
		 * ring_write(); the bytes below tail are visible once tail is. */
		v = atomic_load_explicit(&r->hdr->tail, memory_order_acquire);
		/* 0 <= tail - head <= size, and tail never moves backwards. */
		if (v - r->pos > r->size || v - r->pos < r->peer - r->pos)
			return fail(r);
	} else {
		/* Acquire: pairs with the consumer's release store of head in
		 * consume(); the consumer has finished copying out the bytes
		 * below head, so we may overwrite them. */
		v = atomic_load_explicit(&r->hdr->head, memory_order_acquire);
		/* 0 <= tail - head <= size, and head never moves backwards. */
		if (r->pos - v > r->size || r->pos - v > r->pos - r->peer)
			return fail(r);
	}
	r->peer = v;
	return 0;
}

/*
 * Loads the peer's index only when the last validated one does not cover
 * `want` bytes (room for a producer, data for a consumer): the peer's line
 * is then read once per ring's worth of traffic, not once per call (the
 * cached value was valid, and indices only move in the direction that
 * makes it more conservative).
 */
static int refresh(struct ring *r, size_t want)
{
	uint32_t have = r->role == RING_CONSUMER ? r->peer - r->pos : r->size - (r->pos - r->peer);

	if (unlikely(r->err))
		return r->err;
	if (want <= have)
		return 0;
	return load_peer(r);
}

/* Copies n <= size bytes into the data area at index idx, wrapping once. */
static void copy_in(const struct ring *r, uint32_t idx, const void *src, uint32_t n)
{
	uint32_t off = idx & r->mask;
	uint32_t first = n < r->size - off ? n : r->size - off;

	if (!n)
		return; /* buf may be NULL then, and memcpy must not see it */
	memcpy(r->data + off, src, first);
	memcpy(r->data, (const unsigned char *)src + first, n - first);
}

/* Copies n <= size bytes out of the data area from index idx, wrapping once. */
static void copy_out(const struct ring *r, uint32_t idx, void *dst, uint32_t n)
{
	uint32_t off = idx & r->mask;
	uint32_t first = n < r->size - off ? n : r->size - off;

	if (!n)
		return; /* buf may be NULL then, and memcpy must not see it */
	memcpy(dst, r->data + off, first);
	memcpy((unsigned char *)dst + first, r->data, n - first);
}

/* ============================ Set-up ============================ */

static int check_region(const void *mem, size_t len, enum ring_role role, uint32_t *size)
{
	size_t n;

	if (!mem || ((uintptr_t)mem & (RING_CACHELINE - 1)) != 0 ||
	    (role != RING_PRODUCER && role != RING_CONSUMER) || len < RING_HDR_SIZE)
		return -EINVAL;
	n = len - RING_HDR_SIZE;
	if (n < RING_MIN_SIZE || n > RING_MAX_SIZE || (n & (n - 1)) != 0)
		return -EINVAL;
	*size = (uint32_t)n;
	return 0;
}

static void setup(struct ring *r, void *mem, uint32_t size, enum ring_role role)
{
	memset(r, 0, sizeof(*r));
	r->hdr = mem;
	r->data = (unsigned char *)mem + RING_HDR_SIZE;
	r->size = size;
	r->mask = size - 1;
	r->spin = RING_SPIN_DEFAULT;
	r->role = role;
	r->wake_fd = -1;
}

int ring_init(struct ring *r, void *mem, size_t len, enum ring_role role)
{
	struct ring_hdr *h = mem;
	uint32_t size;
	int ret;

	ret = check_region(mem, len, role, &size);
	if (ret)
		return ret;
	memset(h, 0, sizeof(*h));
	h->magic = RING_MAGIC;
	h->version = RING_VERSION;
	h->size = size;
	h->hdr_size = RING_HDR_SIZE;
	/* The region is handed to the peer afterwards (fd passing, fork), a
	 * syscall that orders these plain stores; relaxed stores suffice. */
	atomic_store_explicit(&h->tail, 0, memory_order_relaxed);
	atomic_store_explicit(&h->head, 0, memory_order_relaxed);
	atomic_store_explicit(&h->credit, 0, memory_order_relaxed);
	atomic_store_explicit(&h->cons_wait, 0, memory_order_relaxed);
	atomic_store_explicit(&h->prod_wait, 0, memory_order_relaxed);
	setup(r, mem, size, role);
	return 0;
}

int ring_attach(struct ring *r, void *mem, size_t len, enum ring_role role)
{
	const struct ring_hdr *h = mem;
	uint32_t size, tail, head, credit;
	int ret;

	ret = check_region(mem, len, role, &size);
	if (ret)
		return ret;
	/* Each field once, into a local: the peer may change them under us. */
	if (READ_ONCE(h->magic) != RING_MAGIC || READ_ONCE(h->version) != RING_VERSION ||
	    READ_ONCE(h->size) != size || READ_ONCE(h->hdr_size) != RING_HDR_SIZE)
		return -EPROTO;
	/* Acquire on both: a re-attaching side may take over indices another
	 * handle published with release; on a fresh region they are 0. */
	tail = atomic_load_explicit(&h->tail, memory_order_acquire);
	head = atomic_load_explicit(&h->head, memory_order_acquire);
	credit = atomic_load_explicit(&h->credit, memory_order_relaxed);
	if (tail - head > size)
		return -EPROTO;
	setup(r, mem, size, role);
	if (role == RING_PRODUCER) {
		r->pos = tail;
		r->peer = head;
		/* Credit lags head by less than two rings (at most half a ring
		 * unreported plus one ring of a head-driven producer); anything
		 * else is clamped to head. ring_credit() re-validates every use. */
		r->credit = head - credit <= 2 * size ? credit : head;
	} else {
		r->pos = head;
		r->peer = head; /* nothing seen yet: tail may be anywhere in [head, head + size] */
		/* Only our own lazy-update threshold depends on it: a forged
		 * credit must not make ring_consume() report gigabytes. */
		r->credit = head - credit <= size ? credit : head;
	}
	return 0;
}

/* ============================ Producer ============================ */

/* Publishes n freshly copied bytes and wakes a sleeping consumer. */
static ssize_t publish(struct ring *r, uint32_t n)
{
	if (!n)
		return 0;
	r->pos += n;
	/* Release: pairs with the consumer's acquire load of tail in
	 * load_peer(); the bytes copied before are visible before the index
	 * that covers them. */
	atomic_store_explicit(&r->hdr->tail, r->pos, memory_order_release);
	wake_peer(r, &r->hdr->cons_wait);
	return n;
}

ssize_t ring_writev(struct ring *r, const struct iovec *iov, int iovcnt)
{
	uint32_t room, done = 0;
	size_t want = 0;
	int ret;

	if (r->role != RING_PRODUCER || iovcnt < 0 || iovcnt > IOV_MAX || (iovcnt && !iov))
		return -EINVAL;
	for (int i = 0; i < iovcnt && want <= r->size; i++)
		want += iov[i].iov_len < r->size ? iov[i].iov_len : r->size;
	ret = refresh(r, want);
	if (ret)
		return ret;
	room = r->size - (r->pos - r->peer);
	for (int i = 0; i < iovcnt && done < room; i++) {
		uint32_t n = iov[i].iov_len < room - done ? (uint32_t)iov[i].iov_len : room - done;

		copy_in(r, r->pos + done, iov[i].iov_base, n);
		done += n;
	}
	return publish(r, done);
}

ssize_t ring_write(struct ring *r, const void *buf, size_t len)
{
	uint32_t room, n;
	int ret;

	if (r->role != RING_PRODUCER)
		return -EINVAL;
	ret = refresh(r, len);
	if (ret)
		return ret;
	room = r->size - (r->pos - r->peer);
	n = len < room ? (uint32_t)len : room;
	copy_in(r, r->pos, buf, n);
	return publish(r, n);
}

ssize_t ring_writable(struct ring *r)
{
	int ret;

	if (r->role != RING_PRODUCER)
		return -EINVAL;
	ret = load_peer(r);
	if (ret)
		return ret;
	return r->size - (r->pos - r->peer);
}

ssize_t ring_credit(struct ring *r)
{
	uint32_t c;
	int ret;

	if (r->role != RING_PRODUCER)
		return -EINVAL;
	ret = load_peer(r);
	if (ret)
		return ret;
	/* Relaxed: credit only bounds how much we may send; it never licenses
	 * overwriting bytes (head, loaded with acquire above, does). */
	c = atomic_load_explicit(&r->hdr->credit, memory_order_relaxed);
	/* credit must lie in [last valid credit, head]: it lags head and never
	 * moves backwards. */
	if (r->pos - c < r->pos - r->peer || r->pos - c > r->pos - r->credit)
		return fail(r);
	r->credit = c;
	/* A producer that writes by head may run more than a ring ahead of a
	 * lagging credit (up to one and a half): then there is no credit left. */
	return r->pos - c >= r->size ? 0 : r->size - (r->pos - c);
}

/* ============================ Consumer ============================ */

/* Drops n bytes already validated as readable; publishes head, maybe credit. */
static uint32_t consume(struct ring *r, uint32_t n)
{
	uint32_t credited = 0;

	if (!n)
		return 0;
	r->pos += n;
	/* Release: pairs with the producer's acquire load of head; our copies
	 * out of these bytes are complete before the producer may reuse them. */
	atomic_store_explicit(&r->hdr->head, r->pos, memory_order_release);
	if (r->pos - r->credit > r->size / 2) {
		credited = r->pos - r->credit;
		r->credit = r->pos;
		/* Release for the same reason as head: credit also lets a
		 * producer reuse the space below it. */
		atomic_store_explicit(&r->hdr->credit, r->pos, memory_order_release);
	}
	wake_peer(r, &r->hdr->prod_wait);
	return credited;
}

ssize_t ring_peek(struct ring *r, void *buf, size_t len)
{
	uint32_t n;
	int ret;

	if (r->role != RING_CONSUMER)
		return -EINVAL;
	ret = refresh(r, len);
	if (ret)
		return ret;
	n = r->peer - r->pos;
	if (len < n)
		n = (uint32_t)len;
	copy_out(r, r->pos, buf, n);
	return n;
}

ssize_t ring_read(struct ring *r, void *buf, size_t len)
{
	ssize_t n = ring_peek(r, buf, len);

	if (n > 0)
		consume(r, (uint32_t)n);
	return n;
}

ssize_t ring_consume(struct ring *r, size_t n)
{
	int ret;

	if (r->role != RING_CONSUMER)
		return -EINVAL;
	ret = refresh(r, n);
	if (ret)
		return ret;
	if (n > r->peer - r->pos)
		return -EINVAL;
	return consume(r, (uint32_t)n);
}

ssize_t ring_readable(struct ring *r)
{
	int ret;

	if (r->role != RING_CONSUMER)
		return -EINVAL;
	ret = load_peer(r);
	if (ret)
		return ret;
	return r->peer - r->pos;
}

/* ============================ Waiting ============================ */

/*
 * The waiter's half of the sleep protocol (ring.h), for either side: probe()
 * is ring_readable or ring_writable, flag the word this side sleeps on.
 */
static ssize_t wait_for(struct ring *r, int timeout_ms, ssize_t (*probe)(struct ring *),
			_Atomic uint32_t *flag)
{
	uint64_t deadline, now;
	ssize_t n;

	if (timeout_ms < 0)
		return -EINVAL;
	for (uint32_t i = 0;; i++) {
		n = probe(r);
		if (n != 0 || i >= r->spin)
			break;
		/* On 2 vCPUs the peer may share ours: give it the CPU now and then. */
		if ((i & 255) == 255)
			sched_yield();
		else
			cpu_relax();
	}
	if (n != 0)
		return n;
	deadline = now_ns() + (uint64_t)timeout_ms * 1000000u;
	for (;;) {
		/* Relaxed store, then a full fence: the fence orders the flag
		 * store before the index load in probe(), pairing with the
		 * waker's fence in wake_peer() (see ring.h). */
		atomic_store_explicit(flag, 1, memory_order_relaxed);
		atomic_thread_fence(memory_order_seq_cst);
		n = probe(r);
		if (n != 0)
			break;
		now = now_ns();
		if (now >= deadline) {
			n = -ETIMEDOUT;
			break;
		}
		futex_wait(flag, deadline - now);
	}
	/* Relaxed: we are awake; a stale 1 would only cost the peer a wake. */
	atomic_store_explicit(flag, 0, memory_order_relaxed);
	return n;
}

ssize_t ring_wait_readable(struct ring *r, int timeout_ms)
{
	if (r->role != RING_CONSUMER)
		return -EINVAL;
	return wait_for(r, timeout_ms, ring_readable, &r->hdr->cons_wait);
}

ssize_t ring_wait_writable(struct ring *r, int timeout_ms)
{
	if (r->role != RING_PRODUCER)
		return -EINVAL;
	return wait_for(r, timeout_ms, ring_writable, &r->hdr->prod_wait);
}

void ring_set_wake_fd(struct ring *r, int fd)
{
	r->wake_fd = fd < 0 ? -1 : fd;
}

ssize_t ring_arm_wait(struct ring *r)
{
	_Atomic uint32_t *flag;

	if (r->role == RING_CONSUMER)
		flag = &r->hdr->cons_wait;
	else if (r->role == RING_PRODUCER)
		flag = &r->hdr->prod_wait;
	else
		return -EINVAL;
	/* The same store-fence-load as wait_for(): pairs with the fence in
	 * the peer's wake_peer(), so either we see its index or it sees our
	 * flag. Not cleared afterwards: see "Doorbells" in ring.h. */
	atomic_store_explicit(flag, 1, memory_order_relaxed);
	atomic_thread_fence(memory_order_seq_cst);
	return r->role == RING_CONSUMER ? ring_readable(r) : ring_writable(r);
}

void ring_disarm(struct ring *r)
{
	/* Relaxed: the flag carries no data. A publish that saw the flag
	 * still set only rings a doorbell nobody sleeps on (one byte); the
	 * caller guarantees nobody of its own sleeps behind this store. */
	if (r->role == RING_CONSUMER)
		atomic_store_explicit(&r->hdr->cons_wait, 0, memory_order_relaxed);
	else if (r->role == RING_PRODUCER)
		atomic_store_explicit(&r->hdr->prod_wait, 0, memory_order_relaxed);
}
