// SPDX-License-Identifier: MIT
/*
 * Active health checks, run by the main thread's event loop.
 *
 * Each backend of a pool with health_path gets one check in flight at a
 * time: connect, "GET path HTTP/1.1" with Connection: close, read the status
 * line. A 2xx or 3xx within health_timeout is a success; anything else
 * (refused, reset, timeout, 4xx/5xx, garbage) a failure. health_rise
 * successes in a row bring a down backend up, health_fall failures in a row
 * take an up backend down; the change reaches the workers through the
 * runtime's health generation (runtime.c). Checks are spread over the
 * interval so a pool of many backends does not probe in bursts.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lb.h"
#include "log.h"

#define PASSIVE_TICK_MS 100

struct lb_check {
	struct ev_io io;
	struct ev_timer timer; /* next probe, or the timeout of the one in flight */
	struct lb_health *h;
	struct lb_backend *be;
	bool busy;
	bool sent;
	size_t len;
	char buf[1024];
};

struct lb_health {
	struct lb_runtime *rt;
	struct ev_loop *loop;
	struct lb_check *checks;
	size_t n;
	struct ev_timer tick;	    /* ends passive ejections */
	struct lb_health *next_old; /* detached, waiting for the end of the event batch */
};

static void check_done(struct lb_check *k, int status)
{
	struct lb_backend *be = k->be;
	const struct cfg_pool *pc = k->h->rt->pools[be->pool].cfg;
	bool ok = status >= 200 && status < 400;

	if (k->busy) {
		ev_io_del(k->h->loop, &k->io);
		close(k->io.fd);
		k->io.fd = -1;
	}
	k->busy = false;
	be->check_status = status;
	if (ok) {
		be->fall_seen = 0;
		if (++be->rise_seen >= pc->health_rise && !rt_usable(be))
			rt_set_up(k->h->rt, be, true);
	} else {
		be->rise_seen = 0;
		if (++be->fall_seen >= pc->health_fall)
			rt_set_up(k->h->rt, be, false);
	}
	ev_timer_arm(k->h->loop, &k->timer, ev_now(k->h->loop) + pc->health_interval_ms);
}

static void on_check_io(struct ev_loop *loop, struct ev_io *io, uint32_t ev)
{
	struct lb_check *k = container_of(io, struct lb_check, io);
	const struct cfg_pool *pc = k->h->rt->pools[k->be->pool].cfg;
	struct h1_header hdrs[32];
	struct h1_response res;
	ssize_t n;

	(void)loop;
	if (!k->busy)
		return;
	if ((ev & EPOLLOUT) && !k->sent) {
		char req[CFG_STR_MAX + 2 * CFG_NAME_MAX + 96];
		int len = snprintf(req, sizeof(req),
				   "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: laconic-health\r\n"
				   "Connection: close\r\n\r\n",
				   pc->health_path, k->be->cfg->addr.text);

		/* A fresh socket's buffer holds a few hundred bytes: one send does. */
		if (send(io->fd, req, (size_t)len, MSG_NOSIGNAL) != len) {
			check_done(k, -1);
			return;
		}
		k->sent = true;
	}
	if (!(ev & (EPOLLIN | EPOLLHUP | EPOLLERR | EPOLLRDHUP)))
		return;
	for (;;) {
		n = read(io->fd, k->buf + k->len, sizeof(k->buf) - k->len);
		if (n > 0) {
			k->len += (size_t)n;
			n = h1_parse_response(k->buf, k->len, &res, hdrs, 32, 0);
			if (n > 0) {
				check_done(k, res.status);
				return;
			}
			if (n != -EAGAIN || k->len == sizeof(k->buf)) {
				check_done(k, -1);
				return;
			}
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			return;
		check_done(k, -1); /* EOF or error before a full status head */
		return;
	}
}

static void on_check_timer(struct ev_loop *loop, struct ev_timer *t)
{
	struct lb_check *k = container_of(t, struct lb_check, timer);
	const struct cfg_pool *pc = k->h->rt->pools[k->be->pool].cfg;
	const struct cfg_addr *a = &k->be->cfg->addr;
	int fd;

	if (k->busy) {
		check_done(k, -1); /* timed out */
		return;
	}
	k->len = 0;
	k->sent = false;
	fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		goto fail;
	if (connect(fd, (const struct sockaddr *)&a->ss, a->len) == -1 && errno != EINPROGRESS) {
		close(fd);
		goto fail;
	}
	if (ev_io_add(loop, &k->io, fd, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, on_check_io)) {
		close(fd);
		goto fail;
	}
	k->busy = true;
	ev_timer_arm(loop, &k->timer, ev_now(loop) + pc->health_timeout_ms);
	return;
fail:
	check_done(k, -1);
}

static void on_tick(struct ev_loop *loop, struct ev_timer *t)
{
	struct lb_health *h = container_of(t, struct lb_health, tick);

	rt_passive_tick(h->rt, ev_now(loop));
	ev_timer_arm(loop, t, ev_now(loop) + PASSIVE_TICK_MS);
}

int health_start(struct ev_loop *loop, struct lb_runtime *rt, struct lb_health **out)
{
	struct lb_health *h = calloc(1, sizeof(*h));
	size_t i, n = 0;

	if (!h)
		return -ENOMEM;
	h->checks = calloc(rt->nbackends ? rt->nbackends : 1, sizeof(*h->checks));
	if (!h->checks) {
		free(h);
		return -ENOMEM;
	}
	h->rt = rt;
	h->loop = loop;
	rt_get(rt);
	for (i = 0; i < rt->nbackends; i++) {
		struct lb_backend *be = &rt->backends[i];
		const struct cfg_pool *pc = rt->pools[be->pool].cfg;
		struct lb_check *k;

		if (!pc->health_path[0])
			continue;
		k = &h->checks[n++];
		k->h = h;
		k->be = be;
		k->io.fd = -1;
		ev_timer_init(&k->timer, on_check_timer);
		/* Spread the first probes over the interval. */
		ev_timer_arm(loop, &k->timer,
			     ev_now(loop) + (uint64_t)pc->health_interval_ms * i / rt->nbackends);
	}
	h->n = n;
	ev_timer_init(&h->tick, on_tick);
	ev_timer_arm(loop, &h->tick, ev_now(loop) + PASSIVE_TICK_MS);
	*out = h;
	return 0;
}

/*
 * Stops every check (sockets closed, timers cancelled) but keeps the memory:
 * events of the current epoll batch may still point into it, and find
 * busy == false. health_free() once the batch is over.
 */
void health_detach(struct ev_loop *loop, struct lb_health *h)
{
	size_t i;

	if (!h)
		return;
	for (i = 0; i < h->n; i++) {
		struct lb_check *k = &h->checks[i];

		ev_timer_cancel(loop, &k->timer);
		if (k->busy) {
			ev_io_del(loop, &k->io);
			close(k->io.fd);
			k->busy = false;
		}
	}
	ev_timer_cancel(loop, &h->tick);
}

void health_free(struct lb_health *h)
{
	if (!h)
		return;
	rt_put(h->rt);
	free(h->checks);
	free(h);
}

void health_stop(struct ev_loop *loop, struct lb_health *h)
{
	health_detach(loop, h);
	health_free(h);
}

void health_retire(struct ev_loop *loop, struct lb_health *h, struct lb_health **graves)
{
	health_detach(loop, h);
	if (h) {
		h->next_old = *graves;
		*graves = h;
	}
}

void health_free_graves(struct lb_health **graves)
{
	while (*graves) {
		struct lb_health *h = *graves;

		*graves = h->next_old;
		health_free(h);
	}
}
