// SPDX-License-Identifier: MIT
/*
 * The runtime: one configuration turned into shared backend state.
 *
 * Health is one word per backend (`up`), changed with atomics by the main
 * thread (active checks, end of a passive ejection) and by workers (passive
 * ejection). Every change bumps health_gen with release order; a worker that
 * sees a new generation (acquire) re-reads all `up` words and updates its
 * own balancers. Workers therefore never lock to pick a backend, and a
 * health change reaches them within one event-loop iteration.
 *
 * Passive detection counts failures per backend in a window of
 * fail_window_ms; max_fails failures eject the backend. With active checks
 * configured only the checker brings it back (after health_rise good
 * checks); without, it returns by itself after fail_window_ms, as nginx's
 * max_fails/fail_timeout do.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lb.h"
#include "log.h"

int rt_create(struct cfg *cfg, size_t nworkers, uint64_t generation, struct lb_runtime **out)
{
	struct lb_runtime *rt = calloc(1, sizeof(*rt));
	size_t p, i, n = 0;

	if (!rt)
		return -ENOMEM;
	if (!cfg->npools) {
		/* cfg_*() never produce one; say so rather than index nothing. */
		free(rt);
		return -EINVAL;
	}
	for (p = 0; p < cfg->npools; p++)
		n += cfg->pools[p].nbackends;
	rt->pools = calloc(cfg->npools, sizeof(*rt->pools));
	rt->backends = calloc(n, sizeof(*rt->backends));
	rt->bstats = calloc(nworkers * n, sizeof(*rt->bstats));
	if (!rt->pools || !rt->backends || !rt->bstats) {
		free(rt->pools);
		free(rt->backends);
		free(rt->bstats);
		free(rt);
		return -ENOMEM;
	}
	rt->cfg = cfg;
	rt->npools = cfg->npools;
	rt->nbackends = n;
	rt->nworkers = nworkers;
	rt->generation = generation;
	rt->refs = 1;
	n = 0;
	for (p = 0; p < cfg->npools; p++) {
		rt->pools[p].cfg = &cfg->pools[p];
		rt->pools[p].be = &rt->backends[n];
		rt->pools[p].n = cfg->pools[p].nbackends;
		for (i = 0; i < cfg->pools[p].nbackends; i++, n++) {
			struct lb_backend *be = &rt->backends[n];

			be->cfg = &cfg->pools[p].backends[i];
			be->pool = p;
			be->idx = i;
			be->gidx = n;
			/*
			 * Optimistic start: a backend is usable until a check or a
			 * failure says otherwise, so a fresh balancer serves at once.
			 */
			be->up = 1;
		}
	}
	*out = rt;
	return 0;
}

void rt_get(struct lb_runtime *rt)
{
	__atomic_add_fetch(&rt->refs, 1, __ATOMIC_RELAXED);
}

void rt_put(struct lb_runtime *rt)
{
	if (!rt)
		return;
	/* Release/acquire: the last user sees every write the others made. */
	if (__atomic_sub_fetch(&rt->refs, 1, __ATOMIC_ACQ_REL))
		return;
	cfg_free(rt->cfg);
	free(rt->pools);
	free(rt->backends);
	free(rt->bstats);
	free(rt);
}

bool rt_usable(const struct lb_backend *be)
{
	return __atomic_load_n(&be->up, __ATOMIC_RELAXED) && !be->cfg->drain;
}

bool rt_set_up(struct lb_runtime *rt, struct lb_backend *be, bool up)
{
	uint32_t want = up ? 1 : 0, old = !want;

	if (!__atomic_compare_exchange_n(&be->up, &old, want, false, __ATOMIC_RELAXED,
					 __ATOMIC_RELAXED))
		return false;
	/* Release: a worker that sees the new generation sees `up` too. */
	__atomic_add_fetch(&rt->health_gen, 1, __ATOMIC_RELEASE);
	log_warn("backend %s (pool %s) is %s", be->cfg->addr.text, rt->pools[be->pool].cfg->name,
		 up ? "up" : "down");
	return true;
}

void rt_backend_failed(struct lb_runtime *rt, struct lb_backend *be, uint64_t now)
{
	const struct cfg_pool *pc = rt->pools[be->pool].cfg;
	uint64_t start = __atomic_load_n(&be->fail_start, __ATOMIC_RELAXED);
	uint32_t n;

	if (!pc->max_fails)
		return;
	if (now - start > pc->fail_window_ms) {
		/* A new window; racing workers may each reset it, which only forgives. */
		__atomic_store_n(&be->fail_start, now, __ATOMIC_RELAXED);
		__atomic_store_n(&be->fails, 0, __ATOMIC_RELAXED);
	}
	n = __atomic_add_fetch(&be->fails, 1, __ATOMIC_RELAXED);
	if (n < pc->max_fails)
		return;
	__atomic_store_n(&be->down_until, now + pc->fail_window_ms, __ATOMIC_RELAXED);
	if (rt_set_up(rt, be, false))
		log_warn("backend %s: %u failures within %u ms, ejected", be->cfg->addr.text, n,
			 pc->fail_window_ms);
}

void rt_passive_tick(struct lb_runtime *rt, uint64_t now)
{
	size_t i;

	for (i = 0; i < rt->nbackends; i++) {
		struct lb_backend *be = &rt->backends[i];
		const struct cfg_pool *pc = rt->pools[be->pool].cfg;

		if (pc->health_path[0] || __atomic_load_n(&be->up, __ATOMIC_RELAXED))
			continue;
		if (now >= __atomic_load_n(&be->down_until, __ATOMIC_RELAXED)) {
			__atomic_store_n(&be->fails, 0, __ATOMIC_RELAXED);
			rt_set_up(rt, be, true);
		}
	}
}

int rt_listen(const struct cfg_addr *a, int backlog)
{
	int fd, one = 1, ret;

	fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) == -1)
		goto err;
	if (a->ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)&a->ss, a->len) == -1 || listen(fd, backlog) == -1)
		goto err;
	return fd;
err:
	ret = -errno;
	close(fd);
	return ret;
}
