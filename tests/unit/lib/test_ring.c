// SPDX-License-Identifier: MIT
/*
 * Description: lib/ring: the shared-memory SPSC byte ring. Wrap-around at
 * every offset (and across the 2^32 wrap of the indices), full and empty
 * edges, iovec writes, peek/consume and lazy credit; 256 MiB between two
 * threads and 64 MiB between two processes over a memfd, both checksummed;
 * the sleep protocol (a blocked reader is woken; 100k blocking ping-pongs
 * with spin 0 lose no wake-up); and a hostile peer forging indices, which
 * must get -EPROTO without any access outside the data area (the area ends
 * at a PROT_NONE page).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "guard.h"
#include "hash.h"
#include "ring.h"

/* A region whose data area ends right before a PROT_NONE page. */
struct region {
	struct guard_buf g;
	void *mem;
	size_t len;
};

static void region_new(struct region *reg, uint32_t size)
{
	char *zero;

	reg->len = RING_REGION_SIZE(size);
	zero = calloc(1, reg->len);
	assert_non_null(zero);
	reg->mem = guard_copy(&reg->g, zero, reg->len);
	free(zero);
	assert_non_null(reg->mem);
	assert_int_equal((uintptr_t)reg->mem % RING_CACHELINE, 0);
}

static void pair_new(struct region *reg, uint32_t size, struct ring *p, struct ring *c)
{
	region_new(reg, size);
	assert_int_equal(ring_init(p, reg->mem, reg->len, RING_PRODUCER), 0);
	assert_int_equal(ring_attach(c, reg->mem, reg->len, RING_CONSUMER), 0);
}

static void fill(unsigned char *b, size_t n, uint32_t seed)
{
	for (size_t i = 0; i < n; i++)
		b[i] = (unsigned char)(seed + i * 131u + (i >> 8));
}

/* ============================ Set-up ============================ */

static void test_init_checks(void **state)
{
	struct region reg;
	struct ring p, c;

	(void)state;
	region_new(&reg, 4096);
	assert_int_equal(ring_init(&p, NULL, reg.len, RING_PRODUCER), -EINVAL);
	assert_int_equal(ring_init(&p, (char *)reg.mem + 8, reg.len - 64, RING_PRODUCER), -EINVAL);
	assert_int_equal(ring_init(&p, reg.mem, RING_REGION_SIZE(3000), RING_PRODUCER), -EINVAL);
	assert_int_equal(ring_init(&p, reg.mem, RING_REGION_SIZE(32), RING_PRODUCER), -EINVAL);
	assert_int_equal(ring_init(&p, reg.mem, 100, RING_PRODUCER), -EINVAL);
	assert_int_equal(ring_init(&p, reg.mem, reg.len, (enum ring_role)7), -EINVAL);
	assert_int_equal(ring_init(&p, reg.mem, reg.len, RING_PRODUCER), 0);
	/* The attacher's own length must match the header's size. */
	assert_int_equal(ring_attach(&c, reg.mem, RING_REGION_SIZE(2048), RING_CONSUMER), -EPROTO);
	assert_int_equal(ring_attach(&c, reg.mem, reg.len, RING_CONSUMER), 0);
	((struct ring_hdr *)reg.mem)->magic = 0;
	assert_int_equal(ring_attach(&c, reg.mem, reg.len, RING_CONSUMER), -EPROTO);
	/* Wrong side. */
	assert_int_equal(ring_read(&p, NULL, 0), -EINVAL);
	assert_int_equal(ring_write(&c, "x", 1), -EINVAL);
	assert_int_equal(ring_wait_readable(&p, 0), -EINVAL);
	assert_int_equal(ring_wait_writable(&c, 0), -EINVAL);
	assert_int_equal(ring_credit(&c), -EINVAL);
	guard_free(&reg.g);
}

/* ============================ Single thread ============================ */

/*
 * Every start offset x every length, from indices 0 and from just below the
 * 2^32 wrap of the free-running counters.
 */
static void test_wrap_every_offset(void **state)
{
	static const uint32_t bases[] = { 0, UINT32_MAX - 200 };
	enum { SIZE = 64 };
	unsigned char in[SIZE], out[SIZE], skip[SIZE];
	struct region reg;
	struct ring p, c;

	(void)state;
	for (size_t b = 0; b < 2; b++) {
		for (uint32_t off = 0; off < SIZE; off++) {
			for (uint32_t len = 0; len <= SIZE; len++) {
				struct ring_hdr *h;

				pair_new(&reg, SIZE, &p, &c);
				h = reg.mem;
				atomic_store(&h->tail, bases[b]);
				atomic_store(&h->head, bases[b]);
				assert_int_equal(ring_attach(&p, reg.mem, reg.len, RING_PRODUCER),
						 0);
				assert_int_equal(ring_attach(&c, reg.mem, reg.len, RING_CONSUMER),
						 0);
				/* Move both indices to the offset under test. */
				assert_int_equal(ring_write(&p, skip, off), off);
				assert_int_equal(ring_read(&c, skip, sizeof(skip)), off);
				fill(in, len, off * 977u + len);
				assert_int_equal(ring_write(&p, in, len), len);
				assert_int_equal(ring_readable(&c), len);
				assert_int_equal(ring_writable(&p), SIZE - len);
				memset(out, 0, sizeof(out));
				assert_int_equal(ring_peek(&c, out, len), len);
				assert_memory_equal(in, out, len);
				memset(out, 0, sizeof(out));
				assert_int_equal(ring_read(&c, out, sizeof(out)), len);
				assert_memory_equal(in, out, len);
				assert_int_equal(ring_readable(&c), 0);
				guard_free(&reg.g);
			}
		}
	}
}

static void test_full_empty(void **state)
{
	enum { SIZE = 256 };
	unsigned char in[2 * SIZE], out[2 * SIZE];
	struct region reg;
	struct ring p, c;

	(void)state;
	pair_new(&reg, SIZE, &p, &c);
	fill(in, sizeof(in), 7);
	assert_int_equal(ring_read(&c, out, sizeof(out)), 0);
	assert_int_equal(ring_peek(&c, out, sizeof(out)), 0);
	assert_int_equal(ring_consume(&c, 0), 0);
	assert_int_equal(ring_consume(&c, 1), -EINVAL);
	assert_int_equal(ring_write(&p, in, 0), 0);
	assert_int_equal(ring_write(&p, NULL, 0), 0);
	assert_int_equal(ring_read(&c, NULL, 0), 0);
	assert_int_equal(ring_writable(&p), SIZE);
	/* An oversized write is cut to the free space; the next finds none. */
	assert_int_equal(ring_write(&p, in, sizeof(in)), SIZE);
	assert_int_equal(ring_writable(&p), 0);
	assert_int_equal(ring_write(&p, in, 1), 0);
	assert_int_equal(ring_readable(&c), SIZE);
	assert_int_equal(ring_consume(&c, SIZE + 1), -EINVAL);
	/* One byte out makes one byte of room. */
	assert_int_equal(ring_read(&c, out, 1), 1);
	assert_int_equal(out[0], in[0]);
	assert_int_equal(ring_writable(&p), 1);
	assert_int_equal(ring_write(&p, in + SIZE, 5), 1);
	assert_int_equal(ring_read(&c, out, sizeof(out)), SIZE);
	assert_memory_equal(out, in + 1, SIZE);
	assert_int_equal(ring_readable(&c), 0);
	assert_int_equal(ring_writable(&p), SIZE);
	/* Waits with nothing to wait for return at once; with nothing, time out. */
	assert_int_equal(ring_wait_writable(&p, 0), SIZE);
	assert_int_equal(ring_wait_readable(&c, 0), -ETIMEDOUT);
	c.spin = 0;
	assert_int_equal(ring_wait_readable(&c, 20), -ETIMEDOUT);
	assert_int_equal(ring_wait_readable(&c, -1), -EINVAL);
	guard_free(&reg.g);
}

static void test_writev(void **state)
{
	enum { SIZE = 128 };
	unsigned char in[300], out[300];
	struct iovec iov[5];
	struct region reg;
	struct ring p, c;

	(void)state;
	pair_new(&reg, SIZE, &p, &c);
	fill(in, sizeof(in), 3);
	/* Offset the indices so the gather straddles the end of the data area. */
	assert_int_equal(ring_write(&p, in, 100), 100);
	assert_int_equal(ring_read(&c, out, 100), 100);
	iov[0] = (struct iovec){ .iov_base = in, .iov_len = 10 };
	iov[1] = (struct iovec){ .iov_base = in + 10, .iov_len = 0 };
	iov[2] = (struct iovec){ .iov_base = in + 10, .iov_len = 40 };
	iov[3] = (struct iovec){ .iov_base = in + 50, .iov_len = 30 };
	iov[4] = (struct iovec){ .iov_base = in + 80, .iov_len = 200 };
	assert_int_equal(ring_writev(&p, iov, 0), 0);
	assert_int_equal(ring_writev(&p, iov, 4), 80);
	/* The last vector is cut to the room left. */
	assert_int_equal(ring_writev(&p, iov + 4, 1), SIZE - 80);
	assert_int_equal(ring_writev(&p, iov, 5), 0);
	assert_int_equal(ring_read(&c, out, sizeof(out)), SIZE);
	assert_memory_equal(out, in, SIZE);
	assert_int_equal(ring_writev(&p, iov, -1), -EINVAL);
	assert_int_equal(ring_writev(&p, NULL, 2), -EINVAL);
	guard_free(&reg.g);
}

/* Credit moves only after more than half the ring drained since the last update. */
static void test_credit(void **state)
{
	enum { SIZE = 1024 };
	unsigned char buf[SIZE];
	struct region reg;
	struct ring p, c;

	(void)state;
	pair_new(&reg, SIZE, &p, &c);
	memset(buf, 1, sizeof(buf));
	assert_int_equal(ring_credit(&p), SIZE);
	assert_int_equal(ring_write(&p, buf, SIZE), SIZE);
	assert_int_equal(ring_credit(&p), 0);
	assert_int_equal(ring_consume(&c, 300), 0);
	assert_int_equal(ring_consume(&c, 212), 0); /* exactly half: not yet */
	assert_int_equal(ring_credit(&p), 0);
	assert_int_equal(ring_writable(&p), 512);
	assert_int_equal(ring_consume(&c, 1), 513);
	assert_int_equal(ring_credit(&p), 513);
	/* A head-driven producer may run ahead of the credit: none is left then. */
	assert_int_equal(ring_write(&p, buf, SIZE), 513);
	assert_int_equal(ring_consume(&c, SIZE), SIZE);
	assert_int_equal(ring_credit(&p), SIZE);
	guard_free(&reg.g);
}

/* ============================ Hostile peer ============================ */

/* A forged tail seen by the consumer; expect -EPROTO, then forever. */
static void forge_tail(uint32_t head0, uint32_t tail, int want)
{
	enum { SIZE = 256 };
	unsigned char out[4 * SIZE];
	struct region reg;
	struct ring p, c;
	struct ring_hdr *h;

	pair_new(&reg, SIZE, &p, &c);
	h = reg.mem;
	atomic_store(&h->head, head0);
	atomic_store(&h->tail, head0);
	assert_int_equal(ring_attach(&c, reg.mem, reg.len, RING_CONSUMER), 0);
	atomic_store(&h->tail, tail);
	if (want == 0) {
		assert_int_equal(ring_read(&c, out, sizeof(out)), (uint32_t)(tail - head0));
	} else {
		assert_int_equal(ring_readable(&c), want);
		assert_int_equal(ring_read(&c, out, sizeof(out)), want);
		assert_int_equal(ring_peek(&c, out, sizeof(out)), want);
		assert_int_equal(ring_consume(&c, 1), want);
		/* Sticky: even a sane tail is not believed any more. */
		atomic_store(&h->tail, head0);
		assert_int_equal(ring_readable(&c), want);
		assert_int_equal(ring_wait_readable(&c, 0), want);
	}
	guard_free(&reg.g);
}

static void test_hostile_tail(void **state)
{
	(void)state;
	forge_tail(0, 256, 0);		    /* exactly full is legal */
	forge_tail(0, 257, -EPROTO);	    /* tail - head > size */
	forge_tail(1000, 999, -EPROTO);	    /* tail behind head */
	forge_tail(0, UINT32_MAX, -EPROTO); /* huge */
	forge_tail(0, 0x80000000u, -EPROTO);
	forge_tail(UINT32_MAX - 10, 245, 0); /* legal across the 2^32 wrap */
	forge_tail(UINT32_MAX - 10, 246, -EPROTO);
}

static void test_hostile_moves(void **state)
{
	enum { SIZE = 256 };
	unsigned char buf[SIZE];
	struct region reg;
	struct ring p, c;
	struct ring_hdr *h;

	(void)state;
	/* The tail moving backwards, even within bounds, is a lie. */
	pair_new(&reg, SIZE, &p, &c);
	h = reg.mem;
	atomic_store(&h->tail, 100);
	assert_int_equal(ring_readable(&c), 100);
	atomic_store(&h->tail, 50);
	assert_int_equal(ring_readable(&c), -EPROTO);
	guard_free(&reg.g);

	/* A forged head seen by the producer: beyond tail, too old, backwards. */
	pair_new(&reg, SIZE, &p, &c);
	h = reg.mem;
	memset(buf, 0, sizeof(buf));
	assert_int_equal(ring_write(&p, buf, 200), 200);
	atomic_store(&h->head, 250);
	/* One byte fits the room already validated: no need to look at head. */
	assert_int_equal(ring_write(&p, buf, 1), 1);
	assert_int_equal(ring_write(&p, buf, 100), -EPROTO);
	assert_int_equal(ring_writable(&p), -EPROTO);
	guard_free(&reg.g);

	pair_new(&reg, SIZE, &p, &c);
	h = reg.mem;
	assert_int_equal(ring_write(&p, buf, 200), 200);
	atomic_store(&h->head, 150);
	assert_int_equal(ring_writable(&p), 206);
	atomic_store(&h->head, 149);
	assert_int_equal(ring_writable(&p), -EPROTO);
	guard_free(&reg.g);

	pair_new(&reg, SIZE, &p, &c);
	h = reg.mem;
	atomic_store(&h->head, 0xdeadbeefu);
	assert_int_equal(ring_wait_writable(&p, 0), -EPROTO);
	guard_free(&reg.g);

	/* Our own index scribbled over by the peer changes nothing for us. */
	pair_new(&reg, SIZE, &p, &c);
	h = reg.mem;
	assert_int_equal(ring_write(&p, buf, 10), 10);
	atomic_store(&h->head, 0x7fffffffu);
	assert_int_equal(ring_peek(&c, buf, sizeof(buf)), 10);
	assert_int_equal(ring_read(&c, buf, sizeof(buf)), 10);
	assert_int_equal(atomic_load(&h->head), 10);
	guard_free(&reg.g);

	/* Credit: beyond head, or backwards. */
	pair_new(&reg, SIZE, &p, &c);
	h = reg.mem;
	assert_int_equal(ring_write(&p, buf, 200), 200);
	assert_int_equal(ring_read(&c, buf, 150), 150);
	assert_int_equal(ring_credit(&p), 206);
	atomic_store(&h->credit, 151);
	assert_int_equal(ring_credit(&p), -EPROTO);
	guard_free(&reg.g);

	pair_new(&reg, SIZE, &p, &c);
	h = reg.mem;
	assert_int_equal(ring_write(&p, buf, 200), 200);
	assert_int_equal(ring_read(&c, buf, 150), 150);
	assert_int_equal(ring_credit(&p), 206);
	atomic_store(&h->credit, 100);
	assert_int_equal(ring_credit(&p), -EPROTO);
	guard_free(&reg.g);

	/* Forged indices at attach time. */
	pair_new(&reg, SIZE, &p, &c);
	h = reg.mem;
	atomic_store(&h->tail, 5000);
	assert_int_equal(ring_attach(&c, reg.mem, reg.len, RING_CONSUMER), -EPROTO);
	h->size = 1u << 20;
	atomic_store(&h->tail, 0);
	assert_int_equal(ring_attach(&c, reg.mem, reg.len, RING_CONSUMER), -EPROTO);
	guard_free(&reg.g);
}

/* ============================ Two threads ============================ */

struct stream {
	struct ring r;
	uint64_t bytes; /* to move */
	uint64_t sum;	/* mix() over the stream, computed by each side */
	uint32_t spin;
	int err;
};

/* FNV-1a over the byte stream: the same whatever the chunking on either side. */
static uint64_t mix(uint64_t sum, const unsigned char *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		sum = (sum ^ b[i]) * 0x100000001b3ull;
	return sum;
}

static void *producer_main(void *arg)
{
	struct stream *s = arg;
	static _Thread_local unsigned char buf[70000];
	struct rng g;
	uint64_t left = s->bytes;

	rng_seed(&g, 99);
	s->r.spin = s->spin;
	while (left) {
		size_t want = 1 + rng_below(&g, sizeof(buf));
		size_t done = 0;

		if (want > left)
			want = (size_t)left;
		fill(buf, want, (uint32_t)left);
		s->sum = mix(s->sum, buf, want);
		while (done < want) {
			ssize_t n = ring_write(&s->r, buf + done, want - done);

			if (n < 0) {
				s->err = (int)n;
				return NULL;
			}
			done += (size_t)n;
			if (done < want) {
				n = ring_wait_writable(&s->r, 10000);
				if (n < 0) {
					s->err = (int)n;
					return NULL;
				}
			}
		}
		left -= want;
	}
	return NULL;
}

/* Reads s->bytes in random chunk sizes (read, or peek + consume). */
static void consume_stream(struct stream *s)
{
	static _Thread_local unsigned char buf[70000];
	struct rng g;
	uint64_t left = s->bytes;

	rng_seed(&g, 7);
	s->r.spin = s->spin;
	while (left) {
		size_t want = 1 + rng_below(&g, sizeof(buf));
		ssize_t n = ring_wait_readable(&s->r, 10000);

		if (n < 0) {
			s->err = (int)n;
			return;
		}
		if (rng_below(&g, 2)) {
			n = ring_read(&s->r, buf, want);
		} else {
			n = ring_peek(&s->r, buf, want);
			if (n > 0 && ring_consume(&s->r, (size_t)n) < 0)
				n = -EIO;
		}
		if (n <= 0) {
			s->err = n ? (int)n : -EIO;
			return;
		}
		s->sum = mix(s->sum, buf, (size_t)n);
		left -= (uint64_t)n;
	}
}

static void test_two_threads(void **state)
{
	struct region reg;
	struct stream ps = { 0 }, cs = { 0 };
	pthread_t t;

	(void)state;
	pair_new(&reg, 4096, &ps.r, &cs.r);
	ps.bytes = cs.bytes = 256u << 20;
	ps.spin = cs.spin = 256;
	assert_int_equal(pthread_create(&t, NULL, producer_main, &ps), 0);
	consume_stream(&cs);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(ps.err, 0);
	assert_int_equal(cs.err, 0);
	assert_true(ps.sum == cs.sum);
	guard_free(&reg.g);
}

/* ============================ Two processes ============================ */

static void test_two_processes(void **state)
{
	enum { SIZE = 1u << 16 };
	struct stream ps = { 0 }, cs = { 0 };
	size_t len = RING_REGION_SIZE(SIZE);
	uint64_t *sums;
	void *mem;
	int fd, st;
	pid_t pid;

	(void)state;
	fd = memfd_create("test_ring", MFD_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)(len + 4096)), 0);
	mem = mmap(NULL, len + 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	assert_true(mem != MAP_FAILED);
	/* The child reports its checksum in the page after the ring. */
	sums = (uint64_t *)((char *)mem + len);
	assert_int_equal(ring_init(&cs.r, mem, len, RING_CONSUMER), 0);
	ps.bytes = cs.bytes = 64u << 20;
	ps.spin = cs.spin = 1024;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* The child attaches on its own, as a peer process would. */
		if (ring_attach(&ps.r, mem, len, RING_PRODUCER) != 0)
			_exit(2);
		producer_main(&ps);
		sums[0] = ps.sum;
		_exit(ps.err ? 1 : 0);
	}
	consume_stream(&cs);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	assert_int_equal(cs.err, 0);
	assert_true(sums[0] == cs.sum);
	munmap(mem, len + 4096);
	close(fd);
}

/* ============================ Wake-ups ============================ */

struct sleeper {
	struct ring *r;
	ssize_t got;
	uint64_t waited_ns;
};

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void *sleeper_main(void *arg)
{
	struct sleeper *s = arg;
	uint64_t t0 = mono_ns();

	s->got = ring_wait_readable(s->r, 10000);
	s->waited_ns = mono_ns() - t0;
	return NULL;
}

static void test_blocked_reader_woken(void **state)
{
	struct region reg;
	struct ring p, c;
	struct sleeper s = { .r = &c };
	struct ring_hdr *h;
	pthread_t t;
	int i;

	(void)state;
	pair_new(&reg, 4096, &p, &c);
	h = reg.mem;
	c.spin = 0;
	assert_int_equal(pthread_create(&t, NULL, sleeper_main, &s), 0);
	/* Wait until the reader has announced it sleeps, then a bit more. */
	for (i = 0; i < 5000 && atomic_load(&h->cons_wait) == 0; i++)
		usleep(1000);
	assert_int_equal(atomic_load(&h->cons_wait), 1);
	usleep(20000);
	assert_int_equal(ring_write(&p, "wake", 4), 4);
	/* The waker clears the flag it woke on (coalescing). */
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(s.got, 4);
	assert_true(s.waited_ns >= 20000000u);
	assert_true(s.waited_ns < 5000000000u);
	assert_int_equal(atomic_load(&h->cons_wait), 0);
	guard_free(&reg.g);
}

struct pinger {
	struct ring tx, rx;
	int rounds;
	int err;
};

/* Echoes `rounds` 8-byte messages; every wait sleeps at once (spin 0). */
static void *ponger_main(void *arg)
{
	struct pinger *pp = arg;
	uint64_t v;

	for (int i = 0; i < pp->rounds; i++) {
		ssize_t n = ring_wait_readable(&pp->rx, 5000);

		if (n < 0 || ring_read(&pp->rx, &v, sizeof(v)) != sizeof(v) || v != (uint64_t)i ||
		    ring_write(&pp->tx, &v, sizeof(v)) != sizeof(v)) {
			pp->err = n < 0 ? (int)n : -EIO;
			return NULL;
		}
	}
	return NULL;
}

static void test_no_lost_wakeups(void **state)
{
	struct region a, b;
	struct pinger me = { 0 }, peer = { 0 };
	pthread_t t;
	int rounds = 100000;

	(void)state;
	pair_new(&a, 256, &me.tx, &peer.rx);
	pair_new(&b, 256, &peer.tx, &me.rx);
	me.rx.spin = me.tx.spin = peer.rx.spin = peer.tx.spin = 0;
	peer.rounds = rounds;
	assert_int_equal(pthread_create(&t, NULL, ponger_main, &peer), 0);
	for (int i = 0; i < rounds; i++) {
		uint64_t v = (uint64_t)i, back = ~0ull;
		ssize_t n;

		assert_int_equal(ring_write(&me.tx, &v, sizeof(v)), sizeof(v));
		/* A lost wake-up shows as a 5 s timeout here (or in the ponger). */
		n = ring_wait_readable(&me.rx, 5000);
		if (n < 0) {
			fprintf(stderr, "round %d: %zd\n", i, n);
			fail();
		}
		assert_int_equal(ring_read(&me.rx, &back, sizeof(back)), sizeof(back));
		assert_true(back == v);
	}
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(peer.err, 0);
	guard_free(&a.g);
	guard_free(&b.g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init_checks),	cmocka_unit_test(test_wrap_every_offset),
		cmocka_unit_test(test_full_empty),	cmocka_unit_test(test_writev),
		cmocka_unit_test(test_credit),		cmocka_unit_test(test_hostile_tail),
		cmocka_unit_test(test_hostile_moves),	cmocka_unit_test(test_two_threads),
		cmocka_unit_test(test_two_processes),	cmocka_unit_test(test_blocked_reader_woken),
		cmocka_unit_test(test_no_lost_wakeups),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
