// SPDX-License-Identifier: MIT
/*
 * Description: readiness emulation for accelerated fds: epoll level- and
 * edge-triggered and one-shot items mixed with a kernel fd in the real
 * epoll, ADD/MOD/DEL errors, DEL'd items kept as ghosts and revived by ADD,
 * EOF as EPOLLIN|EPOLLRDHUP, a sleeping epoll_wait woken by the peer's
 * bell (not by its 100 ms slice), sleep flags cleared once awake, timeouts;
 * poll() over a pipe and a connection; and a socket registered in the
 * real epoll before it connected, adopted once it is accelerated.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pair.h"

static ssize_t send1(struct tsor_conn *c, int fd, const void *b, size_t n)
{
	struct iovec v = { (void *)(uintptr_t)b, n };

	return tsor_conn_send(c, fd, &v, 1, MSG_NOSIGNAL);
}

static ssize_t recv1(struct tsor_conn *c, int fd, void *b, size_t n)
{
	struct iovec v = { b, n };

	return tsor_conn_recv(c, fd, &v, 1, MSG_DONTWAIT);
}

struct fixture {
	struct pair p;
	struct tsor_file *f;
	struct tsor_ep ep;
	int pipefd[2];
};

static void setup(struct fixture *x)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 222 };
	int epfd;

	tsor_ep_slice_ms = 100; /* a test that failed may have left it raised */

	assert_int_equal(pair_open(&x->p, 4096), 0);
	pair_accept(&x->p);
	x->f = tsor_file_new(TSOR_FILE_CONN);
	x->f->conn = &x->p.a;
	epfd = epoll_create1(EPOLL_CLOEXEC);
	assert_true(epfd >= 0);
	assert_int_equal(tsor_ep_init(&x->ep, epfd), 0);
	assert_int_equal(pipe(x->pipefd), 0);
	assert_int_equal(epoll_ctl(epfd, EPOLL_CTL_ADD, x->pipefd[0], &ev), 0);
}

static void teardown(struct fixture *x)
{
	int epfd = x->ep.epfd;

	tsor_ep_destroy(&x->ep);
	close(epfd);
	x->f->conn = NULL;
	tsor_file_put(x->f);
	pair_close(&x->p);
	close(x->pipefd[0]);
	close(x->pipefd[1]);
}

static int wait_ep(struct fixture *x, struct epoll_event *evs, int timeout)
{
	return tsor_ep_wait(&x->ep, evs, 8, timeout, NULL, 0);
}

static void test_level_edge_oneshot(void **state)
{
	struct fixture x;
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 111 }, evs[8];
	char b[64];

	(void)state;
	setup(&x);
	assert_int_equal(tsor_ep_ctl(&x.ep, EPOLL_CTL_ADD, x.p.afd, x.f, &ev), 0);
	assert_int_equal(tsor_ep_ctl(&x.ep, EPOLL_CTL_ADD, x.p.afd, x.f, &ev), -EEXIST);
	assert_int_equal(tsor_ep_ctl(&x.ep, EPOLL_CTL_MOD, 999, x.f, &ev), -ENOENT);
	assert_int_equal(tsor_ep_ctl(&x.ep, EPOLL_CTL_DEL, 999, x.f, NULL), -ENOENT);
	assert_int_equal(wait_ep(&x, evs, 0), 0);

	/* Level: reported until drained; the kernel fd rides along. */
	assert_int_equal(send1(&x.p.c, x.p.cfd, "abc", 3), 3);
	assert_int_equal(write(x.pipefd[1], "k", 1), 1);
	assert_int_equal(wait_ep(&x, evs, 0), 2);
	assert_int_equal(evs[0].events, EPOLLIN);
	assert_int_equal(evs[0].data.u64, 111);
	assert_int_equal(evs[1].data.u64, 222);
	assert_int_equal(read(x.pipefd[0], b, 1), 1);
	assert_int_equal(wait_ep(&x, evs, 0), 1);
	assert_int_equal(recv1(&x.p.a, x.p.afd, b, sizeof(b)), 3);
	assert_int_equal(wait_ep(&x, evs, 0), 0);

	/* Edge: once per arrival, even with bytes left unread. */
	ev.events = EPOLLIN | EPOLLET;
	assert_int_equal(tsor_ep_ctl(&x.ep, EPOLL_CTL_MOD, x.p.afd, x.f, &ev), 0);
	assert_int_equal(wait_ep(&x, evs, 0), 0);
	assert_int_equal(send1(&x.p.c, x.p.cfd, "abc", 3), 3);
	assert_int_equal(wait_ep(&x, evs, 0), 1);
	assert_int_equal(wait_ep(&x, evs, 0), 0);
	assert_int_equal(send1(&x.p.c, x.p.cfd, "d", 1), 1);
	assert_int_equal(wait_ep(&x, evs, 0), 1);
	assert_int_equal(wait_ep(&x, evs, 0), 0);
	/* MOD re-arms an edge item: ready now, so reported once. */
	assert_int_equal(tsor_ep_ctl(&x.ep, EPOLL_CTL_MOD, x.p.afd, x.f, &ev), 0);
	assert_int_equal(wait_ep(&x, evs, 0), 1);
	assert_int_equal(wait_ep(&x, evs, 0), 0);

	/* Edge on EPOLLOUT: once, then again only when the peer frees room. */
	ev.events = EPOLLOUT | EPOLLET;
	assert_int_equal(tsor_ep_ctl(&x.ep, EPOLL_CTL_MOD, x.p.afd, x.f, &ev), 0);
	assert_int_equal(wait_ep(&x, evs, 0), 1);
	assert_int_equal(evs[0].events, EPOLLOUT);
	assert_int_equal(wait_ep(&x, evs, 0), 0);
	assert_int_equal(send1(&x.p.a, x.p.afd, "x", 1), 1);
	assert_int_equal(wait_ep(&x, evs, 0), 0);
	assert_int_equal(recv1(&x.p.c, x.p.cfd, b, sizeof(b)), 1);
	assert_int_equal(wait_ep(&x, evs, 0), 1);

	/* One-shot: once, silent until MOD. */
	ev.events = EPOLLIN | EPOLLONESHOT;
	assert_int_equal(tsor_ep_ctl(&x.ep, EPOLL_CTL_MOD, x.p.afd, x.f, &ev), 0);
	assert_int_equal(wait_ep(&x, evs, 0), 1);
	assert_int_equal(wait_ep(&x, evs, 0), 0);
	assert_int_equal(tsor_ep_ctl(&x.ep, EPOLL_CTL_MOD, x.p.afd, x.f, &ev), 0);
	assert_int_equal(wait_ep(&x, evs, 0), 1);

	/* DEL: gone for the application; a ghost keeps the shadow
	 * registrations for a re-ADD, which then costs no syscall. */
	assert_int_equal(tsor_ep_ctl(&x.ep, EPOLL_CTL_DEL, x.p.afd, x.f, NULL), 0);
	assert_int_equal(wait_ep(&x, evs, 0), 0);
	assert_int_equal(x.ep.n - x.ep.ghosts, 0);
	assert_int_equal(tsor_ep_ctl(&x.ep, EPOLL_CTL_DEL, x.p.afd, x.f, NULL), -ENOENT);
	assert_int_equal(tsor_ep_ctl(&x.ep, EPOLL_CTL_MOD, x.p.afd, x.f, &ev), -ENOENT);
	ev.events = EPOLLIN;
	ev.data.u64 = 333;
	assert_int_equal(tsor_ep_ctl(&x.ep, EPOLL_CTL_ADD, x.p.afd, x.f, &ev), 0);
	assert_int_equal(x.ep.ghosts, 0);
	assert_int_equal(wait_ep(&x, evs, 0), 1); /* the 4 bytes still unread */
	assert_int_equal(evs[0].data.u64, 333);
	assert_int_equal(tsor_ep_ctl(&x.ep, EPOLL_CTL_ADD, x.p.afd, x.f, &ev), -EEXIST);
	assert_int_equal(tsor_ep_ctl(&x.ep, EPOLL_CTL_DEL, x.p.afd, x.f, NULL), 0);
	assert_int_equal(wait_ep(&x, evs, 0), 0);
	/* close() of the fd drops the ghost for good. */
	tsor_ep_forget(&x.ep, x.p.afd);
	assert_int_equal(x.ep.n, 0);
	teardown(&x);
}

static void test_eof(void **state)
{
	struct fixture x;
	struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP, .data.u64 = 1 }, evs[8];

	(void)state;
	setup(&x);
	assert_int_equal(tsor_ep_ctl(&x.ep, EPOLL_CTL_ADD, x.p.afd, x.f, &ev), 0);
	assert_int_equal(tsor_conn_shutdown(&x.p.c, x.p.cfd, SHUT_WR), 0);
	assert_int_equal(wait_ep(&x, evs, 0), 1);
	assert_int_equal(evs[0].events, EPOLLIN | EPOLLRDHUP);
	teardown(&x);

	/* Death: only the kernel socket says so (through the shadow epoll). */
	setup(&x);
	assert_int_equal(tsor_ep_ctl(&x.ep, EPOLL_CTL_ADD, x.p.afd, x.f, &ev), 0);
	assert_int_equal(wait_ep(&x, evs, 0), 0);
	close(x.p.cfd);
	x.p.cfd = -1;
	assert_int_equal(wait_ep(&x, evs, 100), 1);
	assert_true(evs[0].events & EPOLLIN);
	assert_true(evs[0].events & EPOLLRDHUP);
	teardown(&x);
}

/*
 * Sends after ms. The wake-up must come from the send's bell: with the
 * re-scan slice raised to a minute (SLICE_TEST_MS), a missed bell shows as
 * a wait that ends only at the slice or the caller's timeout, which no
 * scheduling delay on a loaded machine comes near.
 */
#define SLICE_TEST_MS 60000
#define WOKEN_NS      (20ull * 1000000000u) /* far above any delay, far below the slice */
struct later {
	struct pair *p;
	int ms;
	_Atomic uint64_t sent_ns;
};

static void *send_later(void *arg)
{
	struct later *l = arg;

	nanosleep(&(struct timespec){ .tv_nsec = l->ms * 1000000L }, NULL);
	atomic_store(&l->sent_ns, tsor_now_ns());
	assert_int_equal(send1(&l->p->c, l->p->cfd, "late", 4), 4);
	return NULL;
}

static void test_sleep_and_wake(void **state)
{
	struct fixture x;
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 5 }, evs[8];
	struct later l = { .p = &x.p, .ms = 40 };
	pthread_t t;
	uint64_t t0;
	char b[8];

	(void)state;
	setup(&x);
	tsor_ep_slice_ms = SLICE_TEST_MS;
	assert_int_equal(tsor_ep_ctl(&x.ep, EPOLL_CTL_ADD, x.p.afd, x.f, &ev), 0);
	t0 = tsor_now_ns();
	assert_int_equal(wait_ep(&x, evs, 30), 0);
	assert_true(tsor_now_ns() - t0 >= 30 * 1000000u);
	/* Awake again: the sleep flag is cleared, so a write rings no bell
	 * (a pipe write there and a drain here, per message, otherwise). */
	assert_int_equal(x.ep.sleepers, 0);
	assert_int_equal(atomic_load(&x.p.a.rx.hdr->cons_wait), 0);
	assert_int_equal(x.p.a.waiters[TSOR_RX], 0);
	assert_int_equal(send1(&x.p.c, x.p.cfd, "x", 1), 1);
	assert_int_equal(read(x.p.a.bell[TSOR_RX], b, sizeof(b)), -1);
	assert_int_equal(errno, EAGAIN);
	assert_int_equal(wait_ep(&x, evs, 0), 1);
	assert_int_equal(recv1(&x.p.a, x.p.afd, b, sizeof(b)), 1);

	assert_int_equal(pthread_create(&t, NULL, send_later, &l), 0);
	/* Woken by the bell: a missed one would end the wait empty at 30 s. */
	assert_int_equal(wait_ep(&x, evs, 30000), 1);
	assert_true(tsor_now_ns() - atomic_load(&l.sent_ns) < WOKEN_NS);
	assert_int_equal(evs[0].data.u64, 5);
	pthread_join(t, NULL);
	teardown(&x);
}

static void test_poll(void **state)
{
	struct fixture x;
	struct later l = { .p = &x.p, .ms = 40 };
	struct pollfd p[2];
	struct tsor_file *files[2];
	pthread_t t;
	char b[8];

	(void)state;
	setup(&x);
	p[0] = (struct pollfd){ .fd = x.pipefd[0], .events = POLLIN };
	p[1] = (struct pollfd){ .fd = x.p.afd, .events = POLLIN | POLLOUT };
	files[0] = NULL;
	files[1] = x.f;
	assert_int_equal(tsor_poll(p, 2, files, 0, NULL, 0), 1);
	assert_int_equal(p[0].revents, 0);
	assert_int_equal(p[1].revents, POLLOUT);

	p[1].events = POLLIN;
	assert_int_equal(write(x.pipefd[1], "k", 1), 1);
	assert_int_equal(tsor_poll(p, 2, files, 0, NULL, 0), 1);
	assert_int_equal(p[0].revents, POLLIN);
	assert_int_equal(read(x.pipefd[0], b, 1), 1);

	tsor_ep_slice_ms = SLICE_TEST_MS;
	assert_int_equal(pthread_create(&t, NULL, send_later, &l), 0);
	/* Woken by the bell: a missed one would sleep out the minute slice. */
	assert_int_equal(tsor_poll(p, 2, files, -1, NULL, 0), 1);
	assert_true(tsor_now_ns() - atomic_load(&l.sent_ns) < WOKEN_NS);
	assert_int_equal(p[1].revents, POLLIN);
	pthread_join(t, NULL);
	teardown(&x);
}

static void test_adopt(void **state)
{
	struct fixture x;
	struct epoll_event ev = { .events = EPOLLIN | EPOLLET, .data.u64 = 77 }, evs[8];

	(void)state;
	setup(&x);
	/* nginx-style: the socket goes into the real epoll before connect. */
	assert_int_equal(epoll_ctl(x.ep.epfd, EPOLL_CTL_ADD, x.p.afd, &ev), 0);
	tsor_ep_note(&x.ep, EPOLL_CTL_ADD, x.p.afd, &ev);
	ev.events = EPOLLIN;
	assert_int_equal(epoll_ctl(x.ep.epfd, EPOLL_CTL_MOD, x.p.afd, &ev), 0);
	tsor_ep_note(&x.ep, EPOLL_CTL_MOD, x.p.afd, &ev);
	assert_int_equal(x.ep.npend, 1);
	/* Then it is accelerated: the kernel registration moves to an item. */
	assert_int_equal(tsor_ep_adopt(&x.ep, x.p.afd, x.f), 0);
	assert_int_equal(x.ep.npend, 0);
	assert_int_equal(epoll_ctl(x.ep.epfd, EPOLL_CTL_DEL, x.p.afd, NULL), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(x.ep.n, 1);
	assert_int_equal(send1(&x.p.c, x.p.cfd, "abc", 3), 3);
	assert_int_equal(wait_ep(&x, evs, 0), 1);
	assert_int_equal(evs[0].data.u64, 77);
	assert_int_equal(wait_ep(&x, evs, 0), 1); /* level, as the MOD said */
	/* Not noted: nothing to adopt. DEL forgets. */
	assert_int_equal(tsor_ep_adopt(&x.ep, 12345, x.f), 0);
	tsor_ep_note(&x.ep, EPOLL_CTL_ADD, 999, &ev);
	tsor_ep_note(&x.ep, EPOLL_CTL_DEL, 999, NULL);
	assert_int_equal(x.ep.npend, 0);
	tsor_ep_note(&x.ep, EPOLL_CTL_ADD, 998, &ev);
	tsor_ep_forget(&x.ep, 998);
	assert_int_equal(x.ep.npend, 0);
	teardown(&x);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_level_edge_oneshot),
		cmocka_unit_test(test_eof),
		cmocka_unit_test(test_sleep_and_wake),
		cmocka_unit_test(test_poll),
		cmocka_unit_test(test_adopt),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
