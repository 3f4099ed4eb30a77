/* SPDX-License-Identifier: MIT */
/*
 * A small event loop: epoll for readiness, a binary min-heap for timers.
 * One loop per thread; nothing here is shared or locked.
 *
 * Readiness. Sockets are registered once, edge-triggered, for both
 * directions (EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET). The owner keeps
 * "can read / can write" flags and drains each direction until EAGAIN, so
 * there is never an epoll_ctl() per state change: on these machines a
 * syscall costs about a microsecond, the same order as parsing a request.
 *
 * Timers. A timer is an intrusive struct ev_timer holding its deadline and
 * its heap slot (libuv's heap-inl.h idea, done as an array heap). Arming,
 * re-arming and cancelling are O(log n); expiry is O(log n) per timer.
 * Connections that extend their deadline on every read do not touch the
 * heap: they store the new deadline in their own struct and, when the old
 * timer fires, re-arm it for the remainder ("lazy" timeouts, as nginx and
 * HAProxy do), so the heap sees one operation per timeout period, not one
 * per packet.
 *
 * Time is CLOCK_MONOTONIC in milliseconds, read once per loop iteration.
 */
#ifndef LIB_EVLOOP_H
#define LIB_EVLOOP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/epoll.h> /* EPOLL* event bits for callers */

struct ev_loop;
struct ev_io;
struct ev_timer;

typedef void ev_io_fn(struct ev_loop *loop, struct ev_io *io, uint32_t events);
typedef void ev_timer_fn(struct ev_loop *loop, struct ev_timer *t);
typedef void ev_hook_fn(struct ev_loop *loop);

struct ev_io {
	int fd;
	ev_io_fn *cb;
};

#define EV_TIMER_IDLE SIZE_MAX

struct ev_timer {
	uint64_t when; /* deadline, ms on the loop's clock */
	size_t slot;   /* heap index, EV_TIMER_IDLE when not armed */
	ev_timer_fn *cb;
};

struct ev_loop {
	int epfd;
	uint64_t now;		/* ms, refreshed before each dispatch */
	struct ev_timer **heap; /* min-heap on when */
	size_t ntimers, cap;
	int stop; /* ev_run() returns once set */
	/*
	 * Runs after each wait, before the round's callbacks (libev's "check"
	 * watcher): the place to adopt state published by other threads so that
	 * every event of the round, however long the wait, sees it. NULL: none.
	 */
	ev_hook_fn *before_dispatch;
	/*
	 * Runs after the round's I/O callbacks, before its expired timers: the
	 * place to finish work the callbacks put off (batched writes), so that
	 * a timer judges state that includes it. NULL: none.
	 */
	ev_hook_fn *after_dispatch;
};

int ev_loop_init(struct ev_loop *loop);
void ev_loop_fini(struct ev_loop *loop);

/* Registers fd with the given epoll events; io->cb runs on readiness. 0 or -errno. */
int ev_io_add(struct ev_loop *loop, struct ev_io *io, int fd, uint32_t events, ev_io_fn *cb);
int ev_io_mod(struct ev_loop *loop, struct ev_io *io, uint32_t events);
/* Removes fd from the set (closing the fd does so too). 0 or -errno. */
int ev_io_del(struct ev_loop *loop, struct ev_io *io);

void ev_timer_init(struct ev_timer *t, ev_timer_fn *cb);
/* Arms (or moves) t to fire at absolute time when. 0 or -ENOMEM. */
int ev_timer_arm(struct ev_loop *loop, struct ev_timer *t, uint64_t when);
void ev_timer_cancel(struct ev_loop *loop, struct ev_timer *t);
static inline int ev_timer_armed(const struct ev_timer *t)
{
	return t->slot != EV_TIMER_IDLE;
}

/* The loop's clock (ms). ev_now_update() re-reads CLOCK_MONOTONIC. */
static inline uint64_t ev_now(const struct ev_loop *loop)
{
	return loop->now;
}
void ev_now_update(struct ev_loop *loop);

/*
 * Waits at most max_wait_ms (-1: until the next timer) for events, runs the
 * before_dispatch hook, dispatches them, runs the after_dispatch hook, then
 * runs expired timers. Returns the number of callbacks run, or -errno from
 * epoll_wait (EINTR is not an error: it returns 0; both hooks still run).
 */
int ev_run_once(struct ev_loop *loop, int max_wait_ms);

#endif /* LIB_EVLOOP_H */
