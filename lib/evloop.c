// SPDX-License-Identifier: MIT
/*
 * Event loop: see evloop.h for the design. The heap is 0-based: children of
 * slot i are 2i+1 and 2i+2; each timer records its slot so cancel and re-arm
 * find it in O(1).
 */
#include "evloop.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "vec.h"

#define EV_BATCH 256 /* events per epoll_wait: amortises the syscall under load */

void ev_now_update(struct ev_loop *loop)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	loop->now = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int ev_loop_init(struct ev_loop *loop)
{
	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (loop->epfd == -1)
		return -errno;
	loop->heap = NULL;
	loop->ntimers = 0;
	loop->cap = 0;
	loop->stop = 0;
	loop->before_dispatch = NULL;
	loop->after_dispatch = NULL;
	ev_now_update(loop);
	return 0;
}

void ev_loop_fini(struct ev_loop *loop)
{
	if (loop->epfd >= 0)
		close(loop->epfd);
	loop->epfd = -1;
	free(loop->heap);
	loop->heap = NULL;
	loop->ntimers = loop->cap = 0;
}

int ev_io_add(struct ev_loop *loop, struct ev_io *io, int fd, uint32_t events, ev_io_fn *cb)
{
	struct epoll_event ev = { .events = events, .data.ptr = io };

	io->fd = fd;
	io->cb = cb;
	if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) == -1)
		return -errno;
	return 0;
}

int ev_io_mod(struct ev_loop *loop, struct ev_io *io, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = io };

	if (epoll_ctl(loop->epfd, EPOLL_CTL_MOD, io->fd, &ev) == -1)
		return -errno;
	return 0;
}

int ev_io_del(struct ev_loop *loop, struct ev_io *io)
{
	if (epoll_ctl(loop->epfd, EPOLL_CTL_DEL, io->fd, NULL) == -1)
		return -errno;
	return 0;
}

void ev_timer_init(struct ev_timer *t, ev_timer_fn *cb)
{
	t->when = 0;
	t->slot = EV_TIMER_IDLE;
	t->cb = cb;
}

static void heap_set(struct ev_loop *loop, size_t i, struct ev_timer *t)
{
	loop->heap[i] = t;
	t->slot = i;
}

static void sift_up(struct ev_loop *loop, size_t i)
{
	struct ev_timer *t = loop->heap[i];

	while (i > 0) {
		size_t p = (i - 1) / 2;

		if (loop->heap[p]->when <= t->when)
			break;
		heap_set(loop, i, loop->heap[p]);
		i = p;
	}
	heap_set(loop, i, t);
}

static void sift_down(struct ev_loop *loop, size_t i)
{
	struct ev_timer *t = loop->heap[i];

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= loop->ntimers)
			break;
		if (c + 1 < loop->ntimers && loop->heap[c + 1]->when < loop->heap[c]->when)
			c++;
		if (t->when <= loop->heap[c]->when)
			break;
		heap_set(loop, i, loop->heap[c]);
		i = c;
	}
	heap_set(loop, i, t);
}

int ev_timer_arm(struct ev_loop *loop, struct ev_timer *t, uint64_t when)
{
	int ret;

	if (t->slot != EV_TIMER_IDLE) {
		uint64_t old = t->when;

		t->when = when;
		if (when < old)
			sift_up(loop, t->slot);
		else
			sift_down(loop, t->slot);
		return 0;
	}
	/* An array of pointers: the element size is a pointer's. */
	ret = vec_reserve((void **)&loop->heap, &loop->cap, loop->ntimers + 1,
			  sizeof(*loop->heap), /* NOLINT(bugprone-sizeof-expression) */
			  64);
	if (ret)
		return ret;
	t->when = when;
	heap_set(loop, loop->ntimers++, t);
	sift_up(loop, t->slot);
	return 0;
}

void ev_timer_cancel(struct ev_loop *loop, struct ev_timer *t)
{
	size_t i = t->slot;

	if (i == EV_TIMER_IDLE)
		return;
	t->slot = EV_TIMER_IDLE;
	if (i == --loop->ntimers)
		return;
	heap_set(loop, i, loop->heap[loop->ntimers]);
	/* The moved timer may belong above or below slot i. */
	if (i > 0 && loop->heap[(i - 1) / 2]->when > loop->heap[i]->when)
		sift_up(loop, i);
	else
		sift_down(loop, i);
}

static int run_timers(struct ev_loop *loop)
{
	int n = 0;

	while (loop->ntimers && loop->heap[0]->when <= loop->now) {
		struct ev_timer *t = loop->heap[0];

		ev_timer_cancel(loop, t);
		t->cb(loop, t);
		n++;
	}
	return n;
}

int ev_run_once(struct ev_loop *loop, int max_wait_ms)
{
	struct epoll_event evs[EV_BATCH];
	int timeout = max_wait_ms, n, i, ran;

	if (loop->ntimers) {
		uint64_t first = loop->heap[0]->when;
		int64_t until = first > loop->now ? (int64_t)(first - loop->now) : 0;

		if (timeout < 0 || until < timeout)
			timeout = (int)until;
	}
	n = epoll_wait(loop->epfd, evs, EV_BATCH, timeout);
	if (n == -1)
		n = errno == EINTR ? 0 : -errno;
	ev_now_update(loop);
	if (n < 0)
		return n;
	if (loop->before_dispatch)
		loop->before_dispatch(loop);
	for (i = 0; i < n; i++) {
		struct ev_io *io = evs[i].data.ptr;

		io->cb(loop, io, evs[i].events);
	}
	if (loop->after_dispatch)
		loop->after_dispatch(loop);
	ran = run_timers(loop);
	return n + ran;
}
