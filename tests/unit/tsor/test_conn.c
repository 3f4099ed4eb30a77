// SPDX-License-Identifier: MIT
/*
 * Description: tsor channels and connections: a channel maps only when
 * sealed and consistent; data both ways through the rings (iovecs, peek,
 * waitall, partial writes on a full ring); readiness (in, out, EOF by
 * shut_wr, FIN, peer death -> EPIPE); the connector's confirmation
 * (UNCONFIRMED until tsord's accepted flag, PLAIN after a successful
 * cancel, OPEN when the cancel finds the match); a blocked reader and a
 * blocked writer woken through the pipe doorbells, each direction
 * ringing only its own bell; a hostile peer that makes its bell blocking
 * and fills it cannot block our wake-ups; a non-blocking connector never
 * waits for tsord's match, and a refused connect keeps its SO_ERROR; and
 * lib/ring's doorbell mode itself (no lost wake-up in 20 000 ping-pongs
 * that sleep in poll()).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "pair.h"

/* Empties a bell: bytes it held, or -1 when it was empty. */
static ssize_t bell_read(int fd)
{
	char b[4096];
	ssize_t n, t = 0;

	while ((n = read(fd, b, sizeof(b))) > 0)
		t += n;
	return t ? t : -1;
}

static ssize_t send1(struct tsor_conn *c, int fd, const void *b, size_t n, int flags)
{
	struct iovec v = { (void *)(uintptr_t)b, n };

	return tsor_conn_send(c, fd, &v, 1, flags | MSG_NOSIGNAL);
}

static ssize_t recv1(struct tsor_conn *c, int fd, void *b, size_t n, int flags)
{
	struct iovec v = { b, n };

	return tsor_conn_recv(c, fd, &v, 1, flags);
}

static void test_chan_map_checks(void **state)
{
	struct tsor_map m;
	int fd, plain;

	(void)state;
	tsor_libc_direct();
	assert_int_equal(tsor_chan_create(4096, 1, &fd), 0);
	assert_int_equal(tsor_chan_map(fd, &m), 0);
	assert_int_equal(m.ring_size, 4096);
	assert_int_equal(m.len, TSOR_CHAN_SIZE(4096));
	assert_int_equal(m.hdr->id, 1);
	/* The seals hold: the peer cannot shrink the file under us. */
	assert_int_equal(ftruncate(fd, 100), -1);
	tsor_chan_unmap(&m);
	close(fd);
	assert_int_equal(tsor_chan_create(5000, 1, &fd), -EINVAL); /* not a power of two */

	/* Unsealed: refused even with a perfect header. */
	plain = memfd_create("x", MFD_CLOEXEC);
	assert_true(plain >= 0);
	assert_int_equal(ftruncate(plain, (off_t)TSOR_CHAN_SIZE(4096)), 0);
	assert_int_equal(tsor_chan_map(plain, &m), -EPROTO);
	close(plain);

	/* Sealed, but the header claims another ring size than fstat allows. */
	plain = memfd_create("y", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	assert_int_equal(ftruncate(plain, (off_t)TSOR_CHAN_SIZE(4096)), 0);
	{
		struct tsor_chan h = { .magic = TSOR_CHAN_MAGIC,
				       .version = TSOR_VERSION,
				       .ring_size = 8192 };

		assert_int_equal(pwrite(plain, &h, sizeof(h), 0), (ssize_t)sizeof(h));
		assert_int_equal(
			fcntl(plain, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL), 0);
		assert_int_equal(tsor_chan_map(plain, &m), -EPROTO);
		h.ring_size = 4096;
		h.magic = 0;
		assert_int_equal(pwrite(plain, &h, sizeof(h), 0), (ssize_t)sizeof(h));
		assert_int_equal(tsor_chan_map(plain, &m), -EPROTO);
		h.magic = TSOR_CHAN_MAGIC;
		assert_int_equal(pwrite(plain, &h, sizeof(h), 0), (ssize_t)sizeof(h));
		assert_int_equal(tsor_chan_map(plain, &m), 0);
		tsor_chan_unmap(&m);
	}
	close(plain);
}

static void test_data_both_ways(void **state)
{
	struct pair p;
	char buf[10000], a[3000], b[5000];
	struct iovec iov[2] = { { a, sizeof(a) }, { b, sizeof(b) } };
	short rev;

	(void)state;
	assert_int_equal(pair_open(&p, 4096), 0);
	pair_accept(&p);
	atomic_store(&p.c.nonblock, true);
	atomic_store(&p.a.nonblock, true);
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (char)(i * 7 + 3);

	/* Nothing yet: EAGAIN, not readable, writable. */
	assert_int_equal(recv1(&p.a, p.afd, a, 10, 0), -EAGAIN);
	assert_int_equal(tsor_conn_ready(&p.a, POLLIN | POLLOUT, &rev), 0);
	assert_int_equal(rev, POLLOUT);

	/* A full ring takes 4096 of 10000 bytes; the rest is EAGAIN. */
	assert_int_equal(send1(&p.c, p.cfd, buf, sizeof(buf), 0), 4096);
	assert_int_equal(send1(&p.c, p.cfd, buf, 1, 0), -EAGAIN);
	assert_int_equal(tsor_conn_ready(&p.c, POLLOUT, &rev), 0);
	assert_int_equal(rev, 0);
	assert_int_equal(tsor_conn_ready(&p.a, POLLIN, &rev), 0);
	assert_int_equal(rev, POLLIN);
	assert_int_equal(tsor_conn_nread(&p.a), 4096);

	/* Peek leaves the bytes; readv scatters them. */
	assert_int_equal(recv1(&p.a, p.afd, a, 100, MSG_PEEK), 100);
	assert_memory_equal(a, buf, 100);
	assert_int_equal(tsor_conn_recv(&p.a, p.afd, iov, 2, 0), 4096);
	assert_memory_equal(a, buf, sizeof(a));
	assert_memory_equal(b, buf + sizeof(a), 4096 - sizeof(a));
	assert_int_equal(tsor_conn_nread(&p.a), 0);

	/* The other direction. */
	assert_int_equal(send1(&p.a, p.afd, "pong", 4, 0), 4);
	memset(a, 0, 8);
	assert_int_equal(recv1(&p.c, p.cfd, a, sizeof(a), 0), 4);
	assert_memory_equal(a, "pong", 4);
	assert_int_equal(p.c.bytes_sent, 4096);
	assert_int_equal(p.a.bytes_sent, 4);
	pair_close(&p);
}

static void test_eof_and_peer_death(void **state)
{
	struct pair p;
	char buf[64];
	short rev;

	(void)state;
	assert_int_equal(pair_open(&p, 4096), 0);
	pair_accept(&p);
	atomic_store(&p.a.nonblock, true);

	/* Voluntary half close: data first, then EOF, no syscall needed. */
	assert_int_equal(send1(&p.c, p.cfd, "last", 4, 0), 4);
	assert_int_equal(tsor_conn_shutdown(&p.c, p.cfd, SHUT_WR), 0);
	assert_int_equal(send1(&p.c, p.cfd, "x", 1, 0), -EPIPE);
	assert_int_equal(tsor_conn_ready(&p.a, POLLIN | POLLRDHUP, &rev), 0);
	assert_true(rev & POLLIN);
	assert_true(rev & POLLRDHUP);
	assert_int_equal(recv1(&p.a, p.afd, buf, sizeof(buf), 0), 4);
	assert_int_equal(recv1(&p.a, p.afd, buf, sizeof(buf), 0), 0);
	/* The acceptor may still write to a half-closed peer. */
	assert_int_equal(send1(&p.a, p.afd, "ok", 2, 0), 2);
	pair_close(&p);

	/* Death: the kernel socket closes with no shut_wr flag. */
	assert_int_equal(pair_open(&p, 4096), 0);
	pair_accept(&p);
	atomic_store(&p.a.nonblock, true);
	assert_int_equal(send1(&p.c, p.cfd, "bye", 3, 0), 3);
	close(p.cfd);
	p.cfd = -1;
	/* Buffered bytes still arrive, then EOF (kernel TCP does the same). */
	assert_int_equal(recv1(&p.a, p.afd, buf, sizeof(buf), 0), 3);
	assert_int_equal(recv1(&p.a, p.afd, buf, sizeof(buf), 0), 0);
	assert_true(atomic_load(&p.a.kernel_fin));
	assert_int_equal(send1(&p.a, p.afd, "x", 1, 0), -EPIPE);
	assert_int_equal(tsor_conn_ready(&p.a, POLLOUT, &rev), 0);
	assert_true(rev & POLLOUT); /* writable, so that the write reports EPIPE */
	pair_close(&p);
}

static int cancel_ok(uint64_t id)
{
	(void)id;
	return 0;
}

static int cancel_late(uint64_t id)
{
	(void)id;
	return -EALREADY;
}

static void test_confirm(void **state)
{
	struct pair p;
	char b[8];
	short rev;

	(void)state;
	/* Before tsord's match the connector must not touch the ring. */
	assert_int_equal(pair_open(&p, 4096), 0);
	assert_int_equal(atomic_load(&p.c.state), TSOR_CONN_UNCONFIRMED);
	assert_int_equal(atomic_load(&p.a.state), TSOR_CONN_OPEN);
	assert_int_equal(tsor_conn_ready(&p.c, POLLOUT, &rev), -EXDEV);
	pair_accept(&p);
	assert_int_equal(tsor_conn_ready(&p.c, POLLOUT, &rev), 0);
	assert_int_equal(atomic_load(&p.c.state), TSOR_CONN_OPEN);
	pair_close(&p);

	/* No match within confirm_ns and the cancel succeeds: kernel TCP. */
	assert_int_equal(pair_open(&p, 4096), 0);
	p.c.confirm_ns = 20ull * 1000000u;
	p.c.cancel = cancel_ok;
	assert_int_equal(send1(&p.c, p.cfd, "x", 1, 0), -EXDEV);
	assert_int_equal(atomic_load(&p.c.state), TSOR_CONN_PLAIN);
	assert_int_equal(tsor_conn_nread(&p.a), 0); /* nothing went to the ring */
	pair_close(&p);

	/* The cancel lost the race to a match: the ring after all. */
	assert_int_equal(pair_open(&p, 4096), 0);
	p.c.confirm_ns = 1000000u;
	p.c.cancel = cancel_late;
	pair_accept(&p);
	atomic_store(&p.c.state, TSOR_CONN_UNCONFIRMED);
	assert_int_equal(tsor_conn_confirm(&p.c, p.cfd, false), 0);
	assert_int_equal(atomic_load(&p.c.state), TSOR_CONN_OPEN);
	pair_close(&p);

	/* A plain server that speaks first ends the wait at once. */
	assert_int_equal(pair_open(&p, 4096), 0);
	p.c.confirm_ns = 10ull * 1000000000u;
	p.c.cancel = cancel_ok;
	assert_int_equal(write(p.afd, "220", 3), 3);
	{
		uint64_t t0 = tsor_now_ns();

		assert_int_equal(recv1(&p.c, p.cfd, b, sizeof(b), 0), -EXDEV);
		assert_true(tsor_now_ns() - t0 < 1000000000u);
	}
	assert_int_equal(atomic_load(&p.c.state), TSOR_CONN_PLAIN);
	pair_close(&p);
}

struct waker {
	struct pair *p;
	int delay_ms;
	bool drain; /* read from the acceptor instead of writing to it */
};

static void *waker_main(void *arg)
{
	struct waker *w = arg;
	char b[4096];

	nanosleep(&(struct timespec){ .tv_nsec = w->delay_ms * 1000000L }, NULL);
	if (w->drain)
		assert_true(recv1(&w->p->a, w->p->afd, b, sizeof(b), 0) > 0);
	else
		assert_int_equal(send1(&w->p->c, w->p->cfd, "wake", 4, 0), 4);
	return NULL;
}

static void test_blocking_wakeups(void **state)
{
	struct pair p;
	struct waker w = { .p = &p, .delay_ms = 50 };
	pthread_t t;
	char b[8192];
	uint64_t t0;

	(void)state;
	assert_int_equal(pair_open(&p, 4096), 0);
	pair_accept(&p);
	/* A reader blocked (spin 0) is woken by the peer's write via the bell,
	 * well before the 100 ms sleep slice would have re-checked. */
	assert_int_equal(pthread_create(&t, NULL, waker_main, &w), 0);
	t0 = tsor_now_ns();
	assert_int_equal(recv1(&p.a, p.afd, b, sizeof(b), 0), 4);
	assert_true(tsor_now_ns() - t0 < 95ull * 1000000u);
	pthread_join(t, NULL);

	/* A writer blocked on a full ring is woken when the reader drains. */
	memset(b, 'z', sizeof(b));
	assert_int_equal(send1(&p.a, p.afd, b, 4096, 0), 4096);
	w = (struct waker){ .p = &p, .delay_ms = 50, .drain = true };
	/* The drainer reads the connector->acceptor direction: fill that. */
	assert_int_equal(send1(&p.c, p.cfd, b, 4096, 0), 4096);
	assert_int_equal(pthread_create(&t, NULL, waker_main, &w), 0);
	t0 = tsor_now_ns();
	assert_int_equal(send1(&p.c, p.cfd, b, 100, 0), 100);
	assert_true(tsor_now_ns() - t0 < 95ull * 1000000u);
	pthread_join(t, NULL);

	/* SO_RCVTIMEO: a blocking read with nothing coming times out. */
	assert_int_equal(recv1(&p.c, p.cfd, b, sizeof(b), 0), 4096); /* drain s2c */
	p.c.rcvtimeo_ms = 30;
	assert_int_equal(recv1(&p.c, p.cfd, b, sizeof(b), 0), -EAGAIN);
	/* Awake again: the sleep flag that timed-out wait armed is cleared
	 * (tsor_conn_wait_end()), so the peer's next write rings no bell. */
	assert_int_equal(p.c.waiters[TSOR_RX], 0);
	assert_int_equal(atomic_load(&p.c.rx.hdr->cons_wait), 0);
	assert_int_equal(send1(&p.a, p.afd, "x", 1, 0), 1);
	assert_int_equal(bell_read(p.c.bell[TSOR_RX]), -1);
	pair_close(&p);
}

/*
 * One bell a direction (abi.h): with a reader and a writer of one side both
 * asleep, the peer's read rings only the writer's bell and the peer's write
 * only the reader's, so neither thread can drain the other's wake-up.
 */
static void test_bells_by_direction(void **state)
{
	struct pair p;
	char b[4096];
	short rev;

	(void)state;
	assert_int_equal(pair_open(&p, 4096), 0);
	pair_accept(&p);
	atomic_store(&p.c.nonblock, true);
	memset(b, 'q', sizeof(b));
	/* The connector's writer finds its ring full, its reader finds nothing. */
	assert_int_equal(send1(&p.c, p.cfd, b, sizeof(b), 0), 4096);
	assert_int_equal(tsor_conn_arm(&p.c, POLLIN | POLLOUT, &rev), 0);
	assert_int_equal(rev, 0);
	for (int d = TSOR_RX; d <= TSOR_TX; d++)
		assert_int_equal(bell_read(p.c.bell[d]), -1);

	/* The acceptor reads: room for the writer, nothing for the reader. */
	assert_int_equal(recv1(&p.a, p.afd, b, 100, 0), 100);
	assert_int_equal(bell_read(p.c.bell[TSOR_RX]), -1);
	assert_true(bell_read(p.c.bell[TSOR_TX]) > 0);

	/* Re-armed, the acceptor writes: data for the reader only. */
	assert_int_equal(tsor_conn_arm(&p.c, POLLIN | POLLOUT, &rev), 0);
	assert_int_equal(rev, POLLOUT);
	assert_int_equal(send1(&p.a, p.afd, b, 10, 0), 10);
	assert_int_equal(bell_read(p.c.bell[TSOR_TX]), -1);
	assert_true(bell_read(p.c.bell[TSOR_RX]) > 0);
	pair_close(&p);
}

/* lib/ring in doorbell mode: two threads ping-pong, each sleeping in poll(). */
struct pp {
	struct ring *rx, *tx;
	int bell;
	int rounds;
};

static void *pingpong(void *arg)
{
	struct pp *q = arg;
	uint32_t v = 0;

	for (int i = 0; i < q->rounds; i++) {
		struct pollfd pfd = { .fd = q->bell, .events = POLLIN };
		ssize_t n;

		while ((n = ring_arm_wait(q->rx)) == 0) {
			/* A lost wake-up hangs here: 2 s is a failure, not a slowdown. */
			assert_int_equal(poll(&pfd, 1, 2000), 1);
			(void)bell_read(q->bell);
		}
		assert_true(n > 0);
		assert_int_equal(ring_read(q->rx, &v, 4), 4);
		v++;
		assert_int_equal(ring_write(q->tx, &v, 4), 4);
	}
	return NULL;
}

static void test_ring_doorbell(void **state)
{
	size_t len = RING_REGION_SIZE(64);
	void *m1 = aligned_alloc(64, len), *m2 = aligned_alloc(64, len);
	struct ring ap, ac, bp, bc;
	int pa[2], pb[2], bell_a, bell_b;
	struct pp qa, qb;
	uint32_t x = 0;
	pthread_t t;

	(void)state;
	/* Each bell a non-blocking pipe: sleep on [0], wake through [1]. */
	assert_int_equal(pipe2(pa, O_NONBLOCK), 0);
	assert_int_equal(pipe2(pb, O_NONBLOCK), 0);
	bell_a = pa[0];
	bell_b = pb[0];
	qa = (struct pp){ &ac, &ap, bell_a, 20000 };
	qb = (struct pp){ &bc, &bp, bell_b, 20000 };
	/* ring 1: a -> b; ring 2: b -> a. */
	assert_int_equal(ring_init(&ap, m1, len, RING_PRODUCER), 0);
	assert_int_equal(ring_attach(&bc, m1, len, RING_CONSUMER), 0);
	assert_int_equal(ring_init(&bp, m2, len, RING_PRODUCER), 0);
	assert_int_equal(ring_attach(&ac, m2, len, RING_CONSUMER), 0);
	ring_set_wake_fd(&ap, pb[1]);
	ring_set_wake_fd(&ac, pb[1]);
	ring_set_wake_fd(&bp, pa[1]);
	ring_set_wake_fd(&bc, pa[1]);

	/* Coalescing: no flag, no bell; flag armed, exactly one bell. */
	assert_int_equal(ring_write(&ap, &x, 4), 4);
	assert_int_equal(bell_read(bell_b), -1);
	assert_int_equal(ring_read(&bc, &x, 4), 4);
	assert_int_equal(ring_arm_wait(&bc), 0);
	assert_int_equal(ring_write(&ap, &x, 4), 4);
	assert_int_equal(ring_write(&ap, &x, 4), 4);
	assert_int_equal(bell_read(bell_b), 1);
	{
		uint32_t two[2];

		assert_int_equal(ring_read(&bc, two, 8), 8);
	}
	/* Armed with data present: reports it instead of sleeping. */
	assert_int_equal(ring_write(&ap, &x, 4), 4);
	assert_int_equal(ring_arm_wait(&bc), 4);
	assert_int_equal(ring_read(&bc, &x, 4), 4);
	(void)bell_read(bell_b);

	assert_int_equal(pthread_create(&t, NULL, pingpong, &qb), 0);
	x = 0;
	assert_int_equal(ring_write(&ap, &x, 4), 4); /* serve */
	qa.rounds = 19999;
	pingpong(&qa);
	{
		struct pollfd pfd = { .fd = bell_a, .events = POLLIN };

		while (ring_arm_wait(&ac) == 0)
			assert_int_equal(poll(&pfd, 1, 2000), 1);
	}
	assert_int_equal(ring_read(&ac, &x, 4), 4);
	assert_int_equal(x, 2 * 20000 - 1);
	pthread_join(t, NULL);
	for (int i = 0; i < 2; i++) {
		close(pa[i]);
		close(pb[i]);
	}
	free(m1);
	free(m2);
}

/*
 * A hostile peer makes its bell blocking and fills it (the eventfd attack
 * of the review: with a shared description the next wake-up blocked the
 * waker for good). Our wake-ups go through a private non-blocking
 * description, so a full bell is EAGAIN, ignored. The waker runs in a
 * thread that must finish within 2 s.
 */
struct hostile {
	struct pair *p;
	bool done;
};

static void *hostile_waker(void *arg)
{
	struct hostile *h = arg;
	char b[64] = { 0 };

	/* ring wake-up (the peer's reader is armed), then shutdown's. */
	assert_int_equal(send1(&h->p->c, h->p->cfd, b, sizeof(b), 0), (ssize_t)sizeof(b));
	assert_int_equal(tsor_conn_shutdown(&h->p->c, h->p->cfd, SHUT_WR), 0);
	__atomic_store_n(&h->done, true, __ATOMIC_SEQ_CST);
	return NULL;
}

static void test_hostile_bell(void **state)
{
	struct pair p;
	struct hostile h = { .p = &p };
	uint64_t big = 0xfffffffffffffffeull;
	struct timespec ts;
	pthread_t t;
	int bell, fl, i;
	short rev;

	(void)state;
	assert_int_equal(pair_open(&p, 4096), 0);
	pair_accept(&p);
	/* The acceptor is the hostile one: its reader armed, its rx bell
	 * filled through its own descriptor, then made blocking. */
	bell = p.a.bell[TSOR_RX];
	assert_int_equal(tsor_conn_arm(&p.a, POLLIN, &rev), 0);
	for (i = 0; i < 100000 && write(bell, &big, sizeof(big)) > 0; i++)
		;
	fl = fcntl(bell, F_GETFL);
	assert_int_equal(fcntl(bell, F_SETFL, fl & ~O_NONBLOCK), 0);
	assert_int_equal(pthread_create(&t, NULL, hostile_waker, &h), 0);
	for (i = 0; i < 200 && !__atomic_load_n(&h.done, __ATOMIC_SEQ_CST); i++)
		nanosleep(&(struct timespec){ .tv_nsec = 10 * 1000000L }, NULL);
	assert_true(__atomic_load_n(&h.done, __ATOMIC_SEQ_CST)); /* else: blocked */
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 2;
	assert_int_equal(pthread_timedjoin_np(t, NULL, &ts), 0);
	pair_close(&p);
}

/* tsord hands out pipe read ends; anything else is refused, all closed. */
static void test_bells_checked(void **state)
{
	struct tsor_conn c;
	int memfd, b[TSOR_BELLS], pp[2];

	(void)state;
	assert_int_equal(tsor_chan_create(4096, 9, &memfd), 0);
	for (int i = 0; i < TSOR_BELLS; i++) {
		assert_int_equal(pipe2(pp, O_CLOEXEC), 0);
		/* Bell 2 is a write end: the wrong direction. */
		b[i] = i == 2 ? pp[1] : pp[0];
		close(i == 2 ? pp[0] : pp[1]);
	}
	assert_int_equal(tsor_conn_open(&c, memfd, b, TSOR_SIDE_ACCEPTOR, 9), -EPROTO);
	assert_true(fcntl(memfd, F_GETFD) < 0);
	for (int i = 0; i < TSOR_BELLS; i++)
		assert_true(fcntl(b[i], F_GETFD) < 0);
}

/*
 * A non-blocking connector never waits for tsord: EAGAIN and not writable
 * until the match, then the ring; or, past the deadline (from connect(),
 * i.e. tsor_conn_open()), the fallback decided without a wait.
 */
static void test_confirm_nonblocking(void **state)
{
	struct pair p;
	uint64_t t0;
	char b[8];

	(void)state;
	assert_int_equal(pair_open(&p, 4096), 0);
	p.c.confirm_ns = 10ull * 1000000000u;
	p.c.cancel = cancel_ok;
	t0 = tsor_now_ns();
	assert_int_equal(send1(&p.c, p.cfd, "x", 1, MSG_DONTWAIT), -EAGAIN);
	atomic_store(&p.c.nonblock, true);
	assert_int_equal(send1(&p.c, p.cfd, "x", 1, 0), -EAGAIN);
	assert_int_equal(recv1(&p.c, p.cfd, b, sizeof(b), 0), -EAGAIN);
	assert_true(tsor_now_ns() - t0 < 50ull * 1000000u);
	assert_false(tsor_conn_poll_mask(&p.c, p.cfd) & POLLOUT);
	assert_true(tsor_conn_confirm_ms(&p.c) > 1000);
	pair_accept(&p);
	assert_true(tsor_conn_poll_mask(&p.c, p.cfd) & POLLOUT);
	assert_int_equal(send1(&p.c, p.cfd, "x", 1, 0), 1);
	assert_int_equal(atomic_load(&p.c.state), TSOR_CONN_OPEN);
	pair_close(&p);

	/* Deadline passed: the next look decides (CANCEL), no wait. */
	assert_int_equal(pair_open(&p, 4096), 0);
	p.c.confirm_ns = 1000000u;
	p.c.cancel = cancel_ok;
	atomic_store(&p.c.nonblock, true);
	nanosleep(&(struct timespec){ .tv_nsec = 5 * 1000000L }, NULL);
	assert_int_equal(tsor_conn_confirm_ms(&p.c), 0);
	assert_true(tsor_conn_poll_mask(&p.c, p.cfd) & POLLOUT);
	assert_int_equal(atomic_load(&p.c.state), TSOR_CONN_PLAIN);
	assert_int_equal(send1(&p.c, p.cfd, "x", 1, 0), -EXDEV);
	pair_close(&p);
}

/*
 * A refused non-blocking connect: confirming must not consume the pending
 * error (recv(MSG_PEEK) did, via sock_error()), so SO_ERROR still says
 * ECONNREFUSED after the fallback, as without TSoR.
 */
static void test_confirm_keeps_so_error(void **state)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof(a);
	struct pollfd pfd;
	struct pair p;
	int l, s, err = 0;

	(void)state;
	l = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(bind(l, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(l, (struct sockaddr *)&a, &al), 0);
	close(l); /* nobody listens there now */
	s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	assert_true(connect(s, (struct sockaddr *)&a, sizeof(a)) == 0 || errno == EINPROGRESS);
	pfd = (struct pollfd){ .fd = s, .events = POLLOUT };
	assert_int_equal(poll(&pfd, 1, 2000), 1);

	assert_int_equal(pair_open(&p, 4096), 0);
	close(p.cfd);
	p.cfd = s;
	p.c.confirm_ns = 10ull * 1000000000u;
	p.c.cancel = cancel_ok;
	assert_int_equal(send1(&p.c, p.cfd, "x", 1, MSG_DONTWAIT), -EXDEV);
	assert_int_equal(atomic_load(&p.c.state), TSOR_CONN_PLAIN);
	al = sizeof(err);
	assert_int_equal(getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &al), 0);
	assert_int_equal(err, ECONNREFUSED);
	pair_close(&p);
}

/*
 * close() of the socket's fd by another thread while a read is blocked: the
 * connection polls its own dup of the socket, so the reader neither spins
 * on a dead number nor takes a reused number's readiness for EOF; it gets
 * the data, as a kernel read blocked on a socket closed elsewhere does.
 */
struct blocked_reader {
	struct pair *p;
	int fd;
	ssize_t got;
};

static void *blocked_reader_main(void *arg)
{
	struct blocked_reader *r = arg;
	char b[16];

	r->got = recv1(&r->p->a, r->fd, b, sizeof(b), 0);
	return NULL;
}

static void test_close_under_reader(void **state)
{
	struct pair p = { .cfd = -1, .afd = -1 };
	struct blocked_reader r = { .p = &p };
	int pp[2] = { -1, -1 };
	pthread_t t;

	(void)state;
	assert_int_equal(pair_open(&p, 4096), 0);
	pair_accept(&p);
	assert_int_equal(tsor_conn_own_sock(&p.a, p.afd), 0);
	r.fd = p.afd;
	assert_int_equal(pthread_create(&t, NULL, blocked_reader_main, &r), 0);
	nanosleep(&(struct timespec){ .tv_nsec = 30 * 1000000L }, NULL);
	/* The application closes the number; it is reused by a readable pipe. */
	assert_int_equal(pipe(pp), 0);
	assert_int_equal(write(pp[1], "zz", 2), 2);
	assert_int_equal(dup2(pp[0], p.afd), p.afd);
	close(pp[0]);
	nanosleep(&(struct timespec){ .tv_nsec = 150 * 1000000L }, NULL);
	assert_int_equal(send1(&p.c, p.cfd, "hi", 2, 0), 2);
	pthread_join(t, NULL);
	assert_int_equal(r.got, 2);
	close(pp[1]);
	pair_close(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_chan_map_checks),
		cmocka_unit_test(test_data_both_ways),
		cmocka_unit_test(test_eof_and_peer_death),
		cmocka_unit_test(test_confirm),
		cmocka_unit_test(test_blocking_wakeups),
		cmocka_unit_test(test_ring_doorbell),
		cmocka_unit_test(test_bells_by_direction),
		cmocka_unit_test(test_hostile_bell),
		cmocka_unit_test(test_bells_checked),
		cmocka_unit_test(test_confirm_nonblocking),
		cmocka_unit_test(test_confirm_keeps_so_error),
		cmocka_unit_test(test_close_under_reader),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
