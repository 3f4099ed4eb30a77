/* SPDX-License-Identifier: MIT */
/*
 * Readiness for accelerated fds in poll/ppoll/select and epoll.
 *
 * An accelerated fd is never put in the application's real epoll: its
 * kernel socket carries no data, so the kernel's answer would be wrong
 * (always writable, readable only at FIN). struct tsor_ep keeps the
 * application's registrations of accelerated fds (fd, events, data) in a
 * table beside the real epoll, and a private "shadow" epoll holding, per
 * item, the kernel socket (EPOLLIN|EPOLLOUT|EPOLLRDHUP, edge-triggered: FIN,
 * RST and connect completion each show once) and the connection's two
 * bells (level-triggered, drained here), and the real epoll itself
 * (nested, level-triggered). The shadow's data words are ours (fd << 2 |
 * what: 0 the socket, 1 + TSOR_RX or 1 + TSOR_TX a bell; SHADOW_REAL the
 * real epoll), so nothing can collide with the application's data, which
 * is returned untouched.
 *
 *     app epfd (real epoll)          shadow epoll (ours)
 *     +-------------------+          +------------------------------------+
 *     | kernel fds of the |<-nested--| SHADOW_REAL: the real epoll        |
 *     | application       |          | per item: socket (ET), rx/tx bells |
 *     +-------------------+          +------------------------------------+
 *     items[]: fd, events, data, ET/ONESHOT state, live/ghost, armed
 *
 * epoll_wait: one pass = drain the shadow (one epoll_wait(0); bells
 * emptied, FIN/RST folded into their connections), scan the live items
 * (ring loads only), and ask the real epoll (timeout 0) only when the
 * shadow said it has something: so an idle real epoll costs no syscall.
 * If nothing, spin scanning for up to spin_ns (adaptive: tsor_spin_budget();
 * a syscall pass every 32 rounds), then sleep: count this thread as a
 * sleeper, arm every item's sleep flags (tsor_conn_wait_begin() once per
 * item per sleeping period, tsor_conn_arm() each pass), re-scan, and sleep
 * in ppoll() on the shadow (which wakes for bells, kernel events and the
 * real epoll). Each sleep is capped (tsor_ep_slice_ms) and followed by a
 * re-scan. When the last sleeper leaves, every armed item is disarmed
 * (sleep_end()): while we are awake the peers' writes ring no bells.
 * Level-triggered items report while ready; edge-triggered ones report
 * when the ring index they watch moved since the last report (new bytes
 * for EPOLLIN, freed space for EPOLLOUT) or EOF/HUP appeared, which is
 * what the kernel's edge triggering promises (an event per arrival), and
 * once after ADD/MOD if ready. EPOLLONESHOT silences an item until MOD.
 *
 * Ghosts. EPOLL_CTL_DEL does not remove an item: it becomes a ghost (not
 * live: never reported, MOD and DEL say ENOENT, ADD revives it) that keeps
 * its shadow registrations and its file reference until close() of the
 * fd (tsor_ep_forget()), an ADD of another file under its number, or more
 * than GHOSTS_MAX ghosts beyond the live items. Why: event loops DEL and
 * re-ADD a connection per request (redis-benchmark's ae: DEL when its
 * read handler is done, ADD for the next write), and each costs three
 * shadow epoll_ctl syscalls a way; with 50 connections that was 12
 * epoll_ctl per request, 74 % of the client's syscall time (strace -c),
 * and made TSoR slower than kernel TCP.
 *
 * Disarming. A sleep arms the flags of every item (the peers must wake us
 * for any of them), and lib/ring leaves a flag set until the peer's next
 * write clears it by ringing the bell. Left so, one sleep of a busy server
 * cost a bell (a pipe write there, a drain here) on each of its 50
 * connections' next message. tsor_conn_wait_end() clears them once no
 * thread of ours sleeps on them any more.
 *
 * Cost: O(live items) loads per scan plus one syscall per pass (two when
 * the real epoll has events). A ready list fed by the rings, the kernel's
 * O(ready), is not built: bells are written only while someone sleeps, so
 * they cannot tell an awake process which rings moved without a syscall
 * per message; that needs a per-process notification area in shared memory
 * that every peer may write (the TSoR paper's doorbell bitmap), a protocol
 * change. At 50 connections the scan was 20 % of redis-server's cycles
 * (perf) before the changes above and about 8 % after; thousands of
 * connections in one epoll would want it. poll() builds its kernel array
 * per call, as poll itself does.
 */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "tsor-int.h"

#define SHADOW_BATCH 64
#define GHOSTS_MAX   64

int tsor_ep_slice_ms = 100;

/* The shadow's data word for the nested real epoll: fd 0, what 3, which
 * no item uses (what is 0..2). */
#define SHADOW_REAL 3u

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__asm__ __volatile__("pause" ::: "memory");
#else
	atomic_signal_fence(memory_order_seq_cst);
#endif
}

static short ev_to_poll(uint32_t e)
{
	short p = 0;

	if (e & EPOLLIN)
		p |= POLLIN;
	if (e & EPOLLOUT)
		p |= POLLOUT;
	if (e & EPOLLRDHUP)
		p |= POLLRDHUP;
	if (e & EPOLLPRI)
		p |= POLLPRI;
	return p;
}

static uint32_t poll_to_ev(short p)
{
	uint32_t e = 0;

	if (p & POLLIN)
		e |= EPOLLIN;
	if (p & POLLOUT)
		e |= EPOLLOUT;
	if (p & POLLRDHUP)
		e |= EPOLLRDHUP;
	if (p & POLLPRI)
		e |= EPOLLPRI;
	if (p & POLLHUP)
		e |= EPOLLHUP;
	if (p & POLLERR)
		e |= EPOLLERR;
	return e;
}

/* Remaining ms until deadline (0 = none: -1), capped at the slice. */
static int slice_ms(uint64_t deadline)
{
	uint64_t now = tsor_now_ns();

	if (!deadline)
		return tsor_ep_slice_ms;
	if (now >= deadline)
		return 0;
	if ((deadline - now) / 1000000u >= (uint64_t)tsor_ep_slice_ms)
		return tsor_ep_slice_ms;
	return (int)((deadline - now + 999999u) / 1000000u);
}

/* ============================ epoll ============================ */

int tsor_ep_init(struct tsor_ep *ep, int epfd)
{
	memset(ep, 0, sizeof(*ep));
	ep->epfd = epfd;
	ep->shadow = -1;
	pthread_mutex_init(&ep->lock, NULL);
	return 0;
}

void tsor_ep_destroy(struct tsor_ep *ep)
{
	for (size_t i = 0; i < ep->n; i++) {
		if (ep->items[i].armed)
			tsor_conn_wait_end(ep->items[i].f->conn, ep->items[i].armed);
		tsor_file_put(ep->items[i].f);
	}
	free(ep->items);
	free(ep->pend);
	if (ep->shadow >= 0)
		tsor__libc.close(ep->shadow);
	pthread_mutex_destroy(&ep->lock);
	memset(ep, 0, sizeof(*ep));
	ep->shadow = -1;
}

/* The item for fd, live or a ghost (see "Ghosts" above). */
static struct tsor_ep_item *find(struct tsor_ep *ep, int fd)
{
	for (size_t i = 0; i < ep->n; i++)
		if (ep->items[i].fd == fd)
			return &ep->items[i];
	return NULL;
}

static void shadow_add(struct tsor_ep *ep, int fd, struct tsor_conn *c)
{
	struct epoll_event k = { .events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
				 .data.u64 = (uint64_t)fd << 2 };

	/* EEXIST: the same socket or bell is there under another fd (dup);
	 * one registration wakes us for both. */
	(void)tsor__libc.epoll_ctl(ep->shadow, EPOLL_CTL_ADD, fd, &k);
	for (int d = TSOR_RX; d <= TSOR_TX; d++) {
		struct epoll_event b = { .events = EPOLLIN,
					 .data.u64 = (uint64_t)fd << 2 | (uint64_t)(1 + d) };

		(void)tsor__libc.epoll_ctl(ep->shadow, EPOLL_CTL_ADD, c->bell[d], &b);
	}
}

static void item_drop(struct tsor_ep *ep, struct tsor_ep_item *it)
{
	struct tsor_conn *c = it->f->conn;
	bool bell_shared = false;

	for (size_t i = 0; i < ep->n; i++)
		if (&ep->items[i] != it && ep->items[i].f == it->f)
			bell_shared = true;
	if (ep->shadow >= 0) {
		(void)tsor__libc.epoll_ctl(ep->shadow, EPOLL_CTL_DEL, it->fd, NULL);
		if (!bell_shared)
			for (int d = TSOR_RX; d <= TSOR_TX; d++)
				(void)tsor__libc.epoll_ctl(ep->shadow, EPOLL_CTL_DEL, c->bell[d],
							   NULL);
	}
	if (!it->live)
		ep->ghosts--;
	if (it->armed)
		tsor_conn_wait_end(c, it->armed);
	tsor_file_put(it->f);
	*it = ep->items[--ep->n];
}

/*
 * More ghosts than live items plus GHOSTS_MAX (a program that DELs and
 * keeps the fds open without re-ADDing them): drop them all, paying the
 * shadow syscalls once.
 */
static void ghosts_trim(struct tsor_ep *ep)
{
	if (ep->ghosts <= GHOSTS_MAX + (ep->n - ep->ghosts))
		return;
	for (size_t i = ep->n; i-- > 0;)
		if (!ep->items[i].live)
			item_drop(ep, &ep->items[i]);
}

int tsor_ep_ctl(struct tsor_ep *ep, int op, int fd, struct tsor_file *f,
		const struct epoll_event *ev)
{
	struct tsor_ep_item *it;
	int ret = 0;

	if (op != EPOLL_CTL_DEL && !ev)
		return -EFAULT;
	pthread_mutex_lock(&ep->lock);
	it = find(ep, fd);
	switch (op) {
	case EPOLL_CTL_ADD:
		if (it && it->live) {
			ret = -EEXIST;
			break;
		}
		if (it && it->f == f) {
			/* A ghost of this very connection: its shadow
			 * registrations are still in place, no syscall. */
			ep->ghosts--;
			*it = (struct tsor_ep_item){ .fd = fd,
						     .f = it->f,
						     .events = ev->events,
						     .data = ev->data,
						     .fresh = true,
						     .live = true,
						     .armed = it->armed };
			break;
		}
		if (it)
			item_drop(ep, it); /* a ghost of another file under this number */
		if (ep->shadow < 0) {
			struct epoll_event r = { .events = EPOLLIN, .data.u64 = SHADOW_REAL };

			ep->shadow = tsor_fd_hide(tsor__libc.epoll_create1(EPOLL_CLOEXEC));
			if (ep->shadow < 0) {
				ret = -errno;
				break;
			}
			/* Fails only past the kernel's nesting depth (the
			 * application nests epolls itself): then both are
			 * asked on every pass, as they would be anyway. */
			ep->nested =
				tsor__libc.epoll_ctl(ep->shadow, EPOLL_CTL_ADD, ep->epfd, &r) == 0;
		}
		if (ep->n == ep->cap) {
			size_t cap = ep->cap ? ep->cap * 2 : 16;
			struct tsor_ep_item *p = realloc(ep->items, cap * sizeof(*p));

			if (!p) {
				ret = -ENOMEM;
				break;
			}
			ep->items = p;
			ep->cap = cap;
		}
		tsor_file_get(f);
		it = &ep->items[ep->n++];
		*it = (struct tsor_ep_item){ .fd = fd,
					     .f = f,
					     .events = ev->events,
					     .data = ev->data,
					     .fresh = true,
					     .live = true };
		shadow_add(ep, fd, f->conn);
		break;
	case EPOLL_CTL_MOD:
		if (!it || !it->live) {
			ret = -ENOENT;
			break;
		}
		it->events = ev->events;
		it->data = ev->data;
		it->fresh = true;
		it->off = false;
		it->seen_eof = false;
		break;
	case EPOLL_CTL_DEL:
		if (!it || !it->live) {
			ret = -ENOENT;
			break;
		}
		/* Becomes a ghost: silent, but keeps its shadow registrations
		 * for a re-ADD (event loops DEL and ADD per request). */
		it->live = false;
		ep->ghosts++;
		ghosts_trim(ep);
		break;
	default:
		ret = -EINVAL;
	}
	pthread_mutex_unlock(&ep->lock);
	return ret;
}

static struct tsor_ep_pend *find_pend(struct tsor_ep *ep, int fd)
{
	for (size_t i = 0; i < ep->npend; i++)
		if (ep->pend[i].fd == fd)
			return &ep->pend[i];
	return NULL;
}

void tsor_ep_forget(struct tsor_ep *ep, int fd)
{
	struct tsor_ep_item *it;
	struct tsor_ep_pend *pd;

	pthread_mutex_lock(&ep->lock);
	it = find(ep, fd);
	if (it)
		item_drop(ep, it);
	pd = find_pend(ep, fd);
	if (pd)
		*pd = ep->pend[--ep->npend];
	pthread_mutex_unlock(&ep->lock);
}

void tsor_ep_note(struct tsor_ep *ep, int op, int fd, const struct epoll_event *ev)
{
	struct tsor_ep_pend *pd;

	pthread_mutex_lock(&ep->lock);
	pd = find_pend(ep, fd);
	if (op == EPOLL_CTL_DEL) {
		if (pd)
			*pd = ep->pend[--ep->npend];
	} else if (ev && pd) {
		pd->events = ev->events;
		pd->data = ev->data;
	} else if (ev && op == EPOLL_CTL_ADD) {
		if (ep->npend == ep->cappend) {
			size_t cap = ep->cappend ? 2 * ep->cappend : 8;
			struct tsor_ep_pend *p = realloc(ep->pend, cap * sizeof(*p));

			if (!p)
				goto out; /* not adoptable: stays a kernel registration */
			ep->pend = p;
			ep->cappend = cap;
		}
		ep->pend[ep->npend++] =
			(struct tsor_ep_pend){ .fd = fd, .events = ev->events, .data = ev->data };
	}
out:
	pthread_mutex_unlock(&ep->lock);
}

int tsor_ep_adopt(struct tsor_ep *ep, int fd, struct tsor_file *f)
{
	struct tsor_ep_pend *pd, p;

	pthread_mutex_lock(&ep->lock);
	pd = find_pend(ep, fd);
	if (!pd) {
		pthread_mutex_unlock(&ep->lock);
		return 0;
	}
	p = *pd;
	*pd = ep->pend[--ep->npend];
	pthread_mutex_unlock(&ep->lock);
	/* From here on the kernel's answer for fd would be wrong. */
	(void)tsor__libc.epoll_ctl(ep->epfd, EPOLL_CTL_DEL, fd, NULL);
	return tsor_ep_ctl(ep, EPOLL_CTL_ADD, fd, f,
			   &(struct epoll_event){ .events = p.events, .data = p.data });
}

/*
 * Drains the shadow: bells emptied, kernel events folded into their conns.
 * Returns whether the real epoll must be asked too: it is nested in the
 * shadow (SHADOW_REAL), so one syscall tells whether it has anything.
 */
static bool shadow_pass(struct tsor_ep *ep)
{
	struct epoll_event k[SHADOW_BATCH];
	bool real = !ep->nested;
	int n;

	if (ep->shadow < 0)
		return true;
	n = tsor__libc.epoll_wait(ep->shadow, k, SHADOW_BATCH, 0);
	if (n == SHADOW_BATCH)
		real = true; /* more may wait behind the batch */
	for (int i = 0; i < n; i++) {
		struct tsor_ep_item *it;
		unsigned what = (unsigned)(k[i].data.u64 & 3);

		if (k[i].data.u64 == SHADOW_REAL) {
			real = true;
			continue;
		}
		it = find(ep, (int)(k[i].data.u64 >> 2));
		if (!it)
			continue;
		if (what)
			tsor_conn_drain_bell(it->f->conn, (int)what - 1);
		else if ((k[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) &&
			 atomic_load(&it->f->conn->state) == TSOR_CONN_OPEN)
			/* No data flows on an open connection's socket: FIN/RST. */
			tsor_conn_kernel(it->f->conn,
					 (short)(POLLIN | ((k[i].events & EPOLLERR) ? POLLERR : 0) |
						 ((k[i].events & EPOLLHUP) ? POLLHUP : 0)));
	}
	return real;
}

/* What item `it` would report now, level-triggered, as EPOLL bits. */
static uint32_t item_level(struct tsor_ep_item *it, bool arm)
{
	short want = ev_to_poll(it->events), rev = 0;
	struct tsor_conn *c = it->f->conn;
	int ret;

	if (arm && (want & ~it->armed & (POLLIN | POLLOUT))) {
		/* Counted once per sleeping period, uncounted by sleep_end(). */
		tsor_conn_wait_begin(c, (short)(want & ~it->armed & (POLLIN | POLLOUT)));
		it->armed = (short)(it->armed | (want & (POLLIN | POLLOUT)));
	}

	ret = arm ? tsor_conn_arm(c, want, &rev) : tsor_conn_ready(c, want, &rev);
	if (ret == -EXDEV) {
		/* Not on the ring (yet): the kernel socket answers, except
		 * that an unconfirmed one is not writable yet (conn.c). */
		short mask = tsor_conn_poll_mask(c, it->fd);
		struct pollfd p = { .fd = it->fd, .events = (short)(want & mask) };

		if (atomic_load(&c->state) == TSOR_CONN_OPEN)
			ret = arm ? tsor_conn_arm(c, want, &rev) : tsor_conn_ready(c, want, &rev);
		if (ret == -EXDEV && tsor__libc.poll(&p, 1, 0) == 1)
			rev = (short)(p.revents & mask);
	}
	return poll_to_ev(rev) & (it->events | EPOLLHUP | EPOLLERR);
}

/* Scans items into evs (at most max); arm: set sleep flags first. */
static int scan(struct tsor_ep *ep, struct epoll_event *evs, int max, bool arm)
{
	int n = 0;

	for (size_t k = 0; k < ep->n && n < max; k++) {
		size_t i = (ep->rot + k) % ep->n;
		struct tsor_ep_item *it = &ep->items[i];
		struct tsor_conn *c = it->f->conn;
		uint32_t e;

		if (it->off || !it->live)
			continue;
		e = item_level(it, arm);
		if (e && (it->events & EPOLLET)) {
			uint32_t tail = c->rx.peer, head = c->tx.peer;
			bool eof = e & (EPOLLRDHUP | EPOLLHUP | EPOLLERR);
			uint32_t rep = 0;

			if ((e & EPOLLIN) &&
			    (it->fresh || tail != it->seen_tail || (eof && !it->seen_eof)))
				rep |= EPOLLIN;
			if ((e & EPOLLOUT) && (it->fresh || head != it->seen_head))
				rep |= EPOLLOUT;
			if (eof && (it->fresh || !it->seen_eof))
				rep |= e & (EPOLLRDHUP | EPOLLHUP | EPOLLERR);
			if (rep) {
				it->seen_tail = tail;
				it->seen_head = head;
				it->seen_eof = eof;
				it->fresh = false;
			}
			e = rep;
		}
		if (!e)
			continue;
		evs[n].events = e;
		evs[n].data = it->data;
		n++;
		if (it->events & EPOLLONESHOT)
			it->off = true;
	}
	if (ep->n)
		ep->rot = (ep->rot + 1) % ep->n;
	return n;
}

/* One full pass: shadow, items, the real epoll. Events or -errno. */
static int full_pass(struct tsor_ep *ep, struct epoll_event *evs, int max, bool arm)
{
	bool real;
	int n, m;

	pthread_mutex_lock(&ep->lock);
	real = shadow_pass(ep);
	n = scan(ep, evs, max, arm);
	pthread_mutex_unlock(&ep->lock);
	if (n < max && real) {
		m = tsor__libc.epoll_wait(ep->epfd, evs + n, max - n, 0);
		if (m < 0 && !n)
			return -errno;
		if (m > 0)
			n += m;
	}
	return n;
}

/* Caps a sleep at the nearest confirm deadline of an unconfirmed item:
 * that is when it turns writable (conn.c) and no bell rings for it. */
static int confirm_cap(struct tsor_ep *ep, int ms)
{
	pthread_mutex_lock(&ep->lock);
	for (size_t i = 0; i < ep->n; i++) {
		int c = tsor_conn_confirm_ms(ep->items[i].f->conn);

		if (c >= 0 && c < ms)
			ms = c;
	}
	pthread_mutex_unlock(&ep->lock);
	return ms;
}

/*
 * A sleeper leaves: the last one disarms every item (tsor_conn_wait_end()),
 * so that while we are awake the peers' writes ring no bells.
 */
static void sleep_end(struct tsor_ep *ep)
{
	pthread_mutex_lock(&ep->lock);
	if (--ep->sleepers == 0)
		for (size_t i = 0; i < ep->n; i++) {
			struct tsor_ep_item *it = &ep->items[i];

			if (it->armed)
				tsor_conn_wait_end(it->f->conn, it->armed);
			it->armed = 0;
		}
	pthread_mutex_unlock(&ep->lock);
}

int tsor_ep_wait(struct tsor_ep *ep, struct epoll_event *evs, int max, int timeout_ms,
		 const sigset_t *sigmask, uint64_t spin_ns)
{
	uint64_t deadline = timeout_ms > 0 ? tsor_now_ns() + (uint64_t)timeout_ms * 1000000u : 0;
	uint64_t spin_end, last;
	int n;

	if (max <= 0 || !evs)
		return -EINVAL;
	n = full_pass(ep, evs, max, false);
	if (n || timeout_ms == 0)
		return n;
	last = tsor_now_ns();
	spin_end = last + tsor_spin_budget(spin_ns);
	for (uint32_t i = 1; tsor_spin_step(&last, spin_end); i++) {
		if ((i & 31) == 0) {
			n = full_pass(ep, evs, max, false);
		} else {
			pthread_mutex_lock(&ep->lock);
			n = scan(ep, evs, max, false);
			pthread_mutex_unlock(&ep->lock);
		}
		if (n) {
			tsor_spin_result(spin_ns, true);
			return n;
		}
		if ((i & 1023) == 0)
			sched_yield();
		else
			cpu_relax();
	}
	tsor_spin_result(spin_ns, false);
	pthread_mutex_lock(&ep->lock);
	ep->sleepers++;
	pthread_mutex_unlock(&ep->lock);
	for (;;) {
		/* Nested: the shadow alone wakes for the real epoll too. */
		struct pollfd p[2] = { { .fd = ep->nested ? ep->shadow : ep->epfd,
					 .events = POLLIN },
				       { .fd = ep->nested ? -1 : ep->shadow, .events = POLLIN } };
		struct timespec ts;
		int ms;

		n = full_pass(ep, evs, max, true);
		if (n)
			break;
		ms = slice_ms(deadline);
		if (deadline && ms == 0)
			break;
		ms = confirm_cap(ep, ms);
		ts.tv_sec = ms / 1000;
		ts.tv_nsec = (long)(ms % 1000) * 1000000;
		if (tsor__libc.ppoll(p, p[1].fd >= 0 ? 2 : 1, &ts, sigmask) < 0) {
			n = -errno;
			break;
		}
	}
	sleep_end(ep);
	return n;
}

/* ============================ poll ============================ */

/* What the kernel is asked for fds entry `p` (f: its CONN file or NULL). */
static struct pollfd kernel_entry(const struct pollfd *p, struct tsor_file *f)
{
	struct pollfd k = *p;

	k.revents = 0;
	if (f && tsor_conn_ready(f->conn, 0, &k.revents) == 0)
		k.events = atomic_load(&f->conn->kernel_fin) ? 0 : POLLIN | POLLRDHUP;
	else if (f)
		/* Unconfirmed: no POLLOUT from the kernel yet, or a sleep
		 * would return at once for it. */
		k.events = (short)(k.events & tsor_conn_poll_mask(f->conn, p->fd));
	return k;
}

/*
 * One pass over fds: a kernel poll with timeout 0 (accelerated entries ask
 * for FIN only, and nothing once FIN was seen), then ring readiness for the
 * accelerated ones. arm: set their sleep flags first. Count or -errno.
 */
static int poll_pass(struct pollfd *fds, nfds_t n, struct tsor_file **files, struct pollfd *k,
		     bool kernel, bool arm)
{
	int count = 0;

	if (kernel) {
		for (nfds_t i = 0; i < n; i++)
			k[i] = kernel_entry(&fds[i], files[i]);
		if (tsor__libc.poll(k, n, 0) < 0)
			return -errno;
	}
	for (nfds_t i = 0; i < n; i++) {
		struct tsor_conn *c = files[i] ? files[i]->conn : NULL;
		short rev = 0;

		if (fds[i].fd < 0) {
			fds[i].revents = 0;
			continue;
		}
		if (c) {
			int ret;

			if (kernel && k[i].revents && atomic_load(&c->state) == TSOR_CONN_OPEN)
				tsor_conn_kernel(c, k[i].revents);
			ret = arm ? tsor_conn_arm(c, fds[i].events, &rev)
				  : tsor_conn_ready(c, fds[i].events, &rev);
			if (ret == -EXDEV)
				rev = (short)(kernel ? k[i].revents &
							       tsor_conn_poll_mask(c, fds[i].fd)
						     : 0);
		} else {
			rev = (short)(kernel ? k[i].revents : fds[i].revents);
		}
		fds[i].revents = rev;
		if (rev)
			count++;
	}
	return count;
}

/*
 * Fills out[] with the bells a poll() sleep must watch: for each accelerated
 * fds[i], those of the directions it asks for only (conn.c, "Waiting": a
 * bell drained for a direction nobody waits on could be another thread's
 * wake-up). Returns how many; out has room for two per fd.
 */
static nfds_t poll_bells(const struct pollfd *fds, nfds_t n, struct tsor_file **files,
			 struct pollfd *out)
{
	nfds_t nb = 0;

	for (nfds_t i = 0; i < n; i++) {
		const struct tsor_conn *c = files[i] ? files[i]->conn : NULL;

		if (!c || fds[i].fd < 0 || atomic_load(&c->state) == TSOR_CONN_PLAIN)
			continue;
		/* An unconfirmed connector learns of tsord's match by its rx
		 * bell, whatever it waits for. */
		if ((fds[i].events & (POLLIN | POLLRDNORM)) ||
		    atomic_load(&c->state) == TSOR_CONN_UNCONFIRMED)
			out[nb++] = (struct pollfd){ .fd = c->bell[TSOR_RX], .events = POLLIN };
		if (fds[i].events & (POLLOUT | POLLWRNORM))
			out[nb++] = (struct pollfd){ .fd = c->bell[TSOR_TX], .events = POLLIN };
	}
	return nb;
}

/* tsor_conn_wait_begin() (begin) or _end() for every accelerated fds[i]. */
static void poll_wait_bracket(const struct pollfd *fds, nfds_t n, struct tsor_file **files,
			      bool begin)
{
	for (nfds_t i = 0; i < n; i++) {
		short ev = (short)(fds[i].events & (POLLIN | POLLRDNORM | POLLOUT | POLLWRNORM));

		if (!files[i] || fds[i].fd < 0 || !ev)
			continue;
		if (begin)
			tsor_conn_wait_begin(files[i]->conn, ev);
		else
			tsor_conn_wait_end(files[i]->conn, ev);
	}
}

int tsor_poll(struct pollfd *fds, nfds_t n, struct tsor_file **files, int timeout_ms,
	      const sigset_t *sigmask, uint64_t spin_ns)
{
	uint64_t deadline = timeout_ms > 0 ? tsor_now_ns() + (uint64_t)timeout_ms * 1000000u : 0;
	uint64_t spin_end, last;
	bool slept = false;
	struct pollfd *k;
	nfds_t nb = 0;
	int count;

	/* Room for the kernel copy of fds and two bells per accelerated fd. */
	k = calloc(3 * n + 1, sizeof(*k));
	if (!k)
		return -ENOMEM;
	count = poll_pass(fds, n, files, k, true, false);
	if (count || timeout_ms == 0)
		goto out;
	last = tsor_now_ns();
	spin_end = last + tsor_spin_budget(spin_ns);
	for (uint32_t i = 1; tsor_spin_step(&last, spin_end); i++) {
		/* Between kernel passes fds[].revents of kernel fds keep the
		 * last kernel answer (0), so only rings can turn up here. */
		count = poll_pass(fds, n, files, k, (i & 31) == 0, false);
		if (count) {
			tsor_spin_result(spin_ns, true);
			goto out;
		}
		if ((i & 1023) == 0)
			sched_yield();
		else
			cpu_relax();
	}
	tsor_spin_result(spin_ns, false);
	poll_wait_bracket(fds, n, files, true);
	slept = true;
	for (;;) {
		struct timespec ts;
		int ms;

		count = poll_pass(fds, n, files, k, true, true);
		if (count)
			goto out;
		ms = timeout_ms < 0 ? tsor_ep_slice_ms : slice_ms(deadline);
		if (timeout_ms > 0 && ms == 0)
			goto out;
		nb = poll_bells(fds, n, files, k + n);
		for (nfds_t j = 0; j < n; j++) {
			int cm = files[j] ? tsor_conn_confirm_ms(files[j]->conn) : -1;

			if (cm >= 0 && cm < ms)
				ms = cm;
		}
		ts.tv_sec = ms / 1000;
		ts.tv_nsec = (long)(ms % 1000) * 1000000;
		if (tsor__libc.ppoll(k, n + nb, &ts, sigmask) < 0) {
			count = errno == EINTR ? -EINTR : -errno;
			goto out;
		}
		for (nfds_t j = 0; j < nb; j++)
			if (k[n + j].revents)
				tsor_conn_drain_fd(k[n + j].fd);
	}
out:
	if (slept)
		poll_wait_bracket(fds, n, files, false);
	free(k);
	return count;
}
