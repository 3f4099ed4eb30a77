// SPDX-License-Identifier: MIT
/*
 * The proxy data path: one worker thread, one epoll loop.
 *
 * A client connection carries a sequence of requests. Each request is
 * balanced on its own (per-request balancing): the head is parsed, a pool is
 * chosen by route, a backend by the pool's algorithm, and an upstream
 * connection is taken from the worker's idle pool for that backend or
 * opened. Requests on one client connection are handled strictly one after
 * another, so pipelining is correct by construction: the next head is not
 * even parsed until the previous response has been relayed.
 *
 * Per request the client moves through two half-pipelines:
 *
 *   request   REQ_HEAD --parse--> REQ_BODY --last body byte read--> REQ_DONE
 *   response  RESP_NONE -> RESP_HEAD --parse--> RESP_BODY --> RESP_DONE
 *                                     \--101--> RESP_TUNNEL
 *
 * and client_run() advances whatever can advance given the readiness flags
 * of both sockets (edge-triggered: a flag stays set until a call returns
 * EAGAIN), until nothing moves. Every byte relayed has been classified
 * first: body bytes are counted against Content-Length or run through the
 * chunked scanner, so a message never leaks into the next one in either
 * direction, which is what request smuggling exploits.
 *
 * Buffers. `in` holds bytes from the client: [head, head + in_body) are
 * classified body bytes waiting to go upstream; the rest is unclassified
 * (the next head, pipelined). `up` holds the rewritten request head; it is
 * kept until the response head arrives so that a request sent on a pooled
 * connection the backend had just closed can be replayed once on a fresh
 * one. `resp` holds bytes from the server: [head, head + resp_ok) may go to
 * the client. Large Content-Length bodies bypass `resp`: splice(2) moves
 * them socket -> pipe -> socket without a copy through user space.
 *
 * Buffers come from a per-worker free list and are returned when a
 * connection goes idle, so an idle keep-alive client costs its struct only.
 *
 * Writes. Reads happen as events arrive, but during an event round's I/O
 * callbacks every write waits: the client is queued (once) and, when the
 * callbacks have run, the queue is run sorted by backend, request writes
 * first, grouped per backend, then the answers to clients. The reason is
 * the peer's wakeup. A send to a backend that sleeps in epoll_wait() wakes
 * it, and the sender pays: the socket's wakeup runs ep_poll_callback() and
 * try_to_wake_up() with interrupts off, plus an IPI, which in a VM is an
 * exit. Sent one by one in arrival order, round robin spreads consecutive
 * requests over the backends, and each backend had time to go back to sleep
 * between two of its requests: 0.68 wakeups per request here, 18 % of the
 * proxy's CPU spent inside sock_def_readable(). Sent in groups, a backend
 * woken by the first request of its group is still busy when the next ones
 * arrive: 0.31-0.37 wakeups per request, 10 % of the CPU in that function,
 * and 9 % less CPU per keep-alive request. A write waits at most for the
 * rest of its round's callbacks, tens of µs at full load (the benchmark's
 * p99 fell, since the backends run in longer stretches); a lightly loaded
 * proxy has rounds of one event, so nothing waits. Timers run after the
 * queue, so a deadline is judged with the round's writes done.
 *
 * Lifetime. A closed connection is marked dead and freed only after the
 * current batch of epoll events, because a later event in the same batch may
 * still point at it.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>

#include "agent.h"
#include "hash.h"
#include "lb.h"
#include "log.h"

#define LB_MAX_HEADERS 100
/* A one-shot head the fast path takes never has more lines than the parser takes. */
_Static_assert(LC_OS_FIELDS <= LB_MAX_HEADERS, "one-shot heads: more header lines than h1 takes");
#define LB_HEAD_EXTRA  512	   /* room the rewrite may add to a head */
#define LB_SPLICE_MIN  (64u << 10) /* body bytes left before splice pays off */
#define LB_PIPE_SIZE   (256u << 10)
#define LB_MAX_PIPES   64
#define LB_EVENTS      (EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET)
#define LB_RUN_GUARD   256 /* steps per client_run(), so one client cannot starve others */
#define LB_BACKLOG     4096
#define LB_IDLE_SRV_MS 30000u
#define LB_LINGER_MS   2000u

const uint64_t lb_hist_bounds_us[LB_HIST_N - 1] = {
	100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 1000000, 5000000,
};

static void client_run(struct lb_client *c);
static void client_linger(struct lb_client *c);
static void server_close(struct lb_worker *w, struct lb_server *s);

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Single-writer counter increment, read by the admin thread. */

/* ------------------------------------------------------------------ buffers */

static int buf_ensure(struct lb_worker *w, struct lb_buf *b)
{
	if (b->p)
		return 0;
	if (w->freebufs) {
		b->p = (char *)w->freebufs;
		w->freebufs = w->freebufs->next;
	} else {
		b->p = malloc(w->bufsize);
		if (!b->p)
			return -ENOMEM;
	}
	b->head = b->tail = 0;
	b->size = w->bufsize;
	return 0;
}

static void buf_release(struct lb_worker *w, struct lb_buf *b)
{
	if (!b->p)
		return;
	struct lb_freebuf *f = (struct lb_freebuf *)(void *)b->p;

	f->next = w->freebufs;
	w->freebufs = f;
	b->p = NULL;
	b->head = b->tail = b->size = 0;
}

static inline uint32_t buf_len(const struct lb_buf *b)
{
	return b->tail - b->head;
}

/* Moves the data to the start so the free space is contiguous. */
static void buf_compact(struct lb_buf *b)
{
	if (b->head == 0)
		return;
	if (b->tail > b->head)
		memmove(b->p, b->p + b->head, b->tail - b->head);
	b->tail -= b->head;
	b->head = 0;
}

/* ------------------------------------------------------------ socket helpers */

/*
 * recv(2) with the edge-triggered bookkeeping: >0 bytes, 0 when nothing more
 * can be read now (flag cleared, or EOF recorded), -errno on a hard error.
 * recv and send rather than read and write: the socket calls skip the VFS
 * layer (file position lock, permission and fsnotify hooks), which on the
 * small-request path is a measurable share of each call.
 */
static ssize_t sock_read(struct lb_sock *s, char *p, size_t len)
{
	ssize_t n;

	for (;;) {
		n = recv(s->io.fd, p, len, 0);
		if (n > 0) {
			/*
			 * A short read drained the socket, and any later data raises a
			 * new edge: skip the read that would only say EAGAIN. Not after
			 * RDHUP, whose edge has already been reported: that FIN must
			 * still be read.
			 */
			if ((size_t)n < len && !s->hup)
				s->rd = false;
			return n;
		}
		if (n == 0) {
			s->eof = true;
			s->rd = false;
			return 0;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN) {
			s->rd = false;
			return 0;
		}
		s->eof = true;
		s->rd = false;
		return -errno;
	}
}

/*
 * send(2) or sendmsg(2) of n buffers, with extra MSG_* flags: bytes written
 * (0 when the socket is full: flag cleared), -errno on a hard error. One
 * buffer goes through send, which need not copy an iovec array in from user
 * space.
 */
static ssize_t sock_writev(struct lb_sock *s, struct iovec *iov, int n, int flags)
{
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = (size_t)n };
	ssize_t r;

	flags |= MSG_NOSIGNAL;
	for (;;) {
		if (n == 1)
			r = send(s->io.fd, iov[0].iov_base, iov[0].iov_len, flags);
		else
			r = sendmsg(s->io.fd, &mh, flags);
		if (r >= 0) {
			size_t want = 0;
			int i;

			for (i = 0; i < n; i++)
				want += iov[i].iov_len;
			/* A short write filled the socket buffer; EPOLLOUT will say when it drains.
			 */
			if ((size_t)r < want)
				s->wr = false;
			return r;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN) {
			s->wr = false;
			return 0;
		}
		return -errno;
	}
}

/* ----------------------------------------------------------------- servers */

static void server_idle_unlink(struct lb_server *s)
{
	if (!s->pprev)
		return;
	*s->pprev = s->next;
	if (s->next)
		s->next->pprev = s->pprev;
	s->wrt->nidle[s->be->gidx]--;
	s->next = NULL;
	s->pprev = NULL;
}

static void server_close(struct lb_worker *w, struct lb_server *s)
{
	if (s->dead)
		return;
	server_idle_unlink(s);
	ev_timer_cancel(&w->loop, &s->timer);
	close(s->s.io.fd);
	s->dead = true;
	s->cl = NULL;
	s->grave = w->grave_s;
	w->grave_s = s;
}

static void on_server_idle_timer(struct ev_loop *loop, struct ev_timer *t)
{
	struct lb_server *s = container_of(t, struct lb_server, timer);

	(void)loop;
	server_close(s->wrt->w, s);
}

static void on_server_io(struct ev_loop *loop, struct ev_io *io, uint32_t ev)
{
	struct lb_server *s = container_of(io, struct lb_server, s.io);

	(void)loop;
	if (s->dead)
		return;
	if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		s->s.rd = true;
	if (ev & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		s->s.hup = true;
	if (ev & (EPOLLOUT | EPOLLHUP | EPOLLERR))
		s->s.wr = true;
	if (s->cl) {
		client_run(s->cl);
		return;
	}
	/*
	 * An idle pooled connection has nothing to say: a readable event means
	 * the backend closed it (or broke protocol). Either way it is useless.
	 */
	if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		server_close(s->wrt->w, s);
}

/*
 * Takes an idle connection to be, or opens a new one (always a new one when
 * fresh: a replay must not land on another stale pooled connection). NULL
 * and errno set on failure.
 */
static struct lb_server *server_get(struct lb_wrt *wrt, struct lb_backend *be, bool fresh,
				    bool *reused)
{
	struct lb_worker *w = wrt->w;
	struct lb_server *s = fresh ? NULL : wrt->idle[be->gidx];
	const struct cfg_addr *a = &be->cfg->addr;
	int fd, one = 1, ret;

	if (s) {
		server_idle_unlink(s);
		ev_timer_cancel(&w->loop, &s->timer);
		*reused = true;
		return s;
	}
	*reused = false;
	fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return NULL;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	s = calloc(1, sizeof(*s));
	if (!s) {
		close(fd);
		errno = ENOMEM;
		return NULL;
	}
	s->s.is_server = true;
	s->wrt = wrt;
	s->be = be;
	ev_timer_init(&s->timer, on_server_idle_timer);
	ret = connect(fd, (const struct sockaddr *)&a->ss, a->len);
	if (ret == 0) {
		s->connected = true;
	} else if (errno != EINPROGRESS) {
		ret = errno;
		close(fd);
		free(s);
		errno = ret;
		return NULL;
	}
	ret = ev_io_add(&w->loop, &s->s.io, fd, LB_EVENTS, on_server_io);
	if (ret) {
		close(fd);
		free(s);
		errno = -ret;
		return NULL;
	}
	s->s.polled = true;
	wrt->users++;
	STAT_ADD(wrt->bstats[be->gidx].connects, 1);
	return s;
}

/* Back to the pool if the pool has room, else closed. */
static void server_put(struct lb_wrt *wrt, struct lb_server *s)
{
	struct lb_worker *w = wrt->w;
	size_t g = s->be->gidx;
	const struct cfg_pool *pc = wrt->rt->pools[s->be->pool].cfg;

	s->cl = NULL;
	if (s->s.rd && !s->s.hup) {
		/*
		 * No EAGAIN seen since the last event: make sure nothing is waiting,
		 * since an edge already consumed would never report it again.
		 */
		char b;

		if (recv(s->s.io.fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) == -1 && errno == EAGAIN)
			s->s.rd = false;
	}
	/* A FIN already reported (hup) will not be reported again: never pool that. */
	if (wrt != w->wrt || wrt->nidle[g] >= pc->keepalive || READ_ONCE(w->stop) || s->s.eof ||
	    s->s.hup || s->s.rd) {
		server_close(w, s);
		return;
	}
	s->next = wrt->idle[g];
	if (s->next)
		s->next->pprev = &s->next;
	s->pprev = &wrt->idle[g];
	wrt->idle[g] = s;
	wrt->nidle[g]++;
	ev_timer_arm(&w->loop, &s->timer,
		     ev_now(&w->loop) + (w->wrt->rt->cfg->timeout_idle_ms < LB_IDLE_SRV_MS
						 ? w->wrt->rt->cfg->timeout_idle_ms
						 : LB_IDLE_SRV_MS));
}

/* ----------------------------------------------------------------- clients */

static void pipe_put(struct lb_worker *w, struct lb_client *c)
{
	if (c->pipe_rd < 0)
		return;
	if (c->pipe_bytes == 0 && w->npipes < LB_MAX_PIPES) {
		w->pipes[2 * w->npipes] = c->pipe_rd;
		w->pipes[2 * w->npipes + 1] = c->pipe_wr;
		w->npipes++;
	} else {
		close(c->pipe_rd);
		close(c->pipe_wr);
	}
	c->pipe_rd = c->pipe_wr = -1;
	c->pipe_bytes = 0;
}

static int pipe_get(struct lb_worker *w, struct lb_client *c)
{
	int p[2];

	if (c->pipe_rd >= 0)
		return 0;
	if (w->npipes) {
		w->npipes--;
		c->pipe_rd = w->pipes[2 * w->npipes];
		c->pipe_wr = w->pipes[2 * w->npipes + 1];
		return 0;
	}
	if (pipe2(p, O_NONBLOCK | O_CLOEXEC) == -1)
		return -errno;
	/* A larger pipe moves a whole burst per splice pair; failure only costs calls. */
	fcntl(p[1], F_SETPIPE_SZ, (int)LB_PIPE_SIZE);
	c->pipe_rd = p[0];
	c->pipe_wr = p[1];
	return 0;
}

/* Detaches the server; it is pooled only when the exchange ended cleanly. */
static void client_drop_server(struct lb_client *c, bool reuse)
{
	struct lb_server *s = c->srv;

	if (!s)
		return;
	c->srv = NULL;
	STAT_ADD(c->wrt->bstats[s->be->gidx].active, -1);
	bal_conn_end(c->wrt->bal[s->be->pool], s->be->idx);
	if (reuse)
		server_put(s->wrt, s);
	else
		server_close(c->w, s);
}

static void client_close(struct lb_client *c)
{
	struct lb_worker *w = c->w;

	if (c->dead)
		return;
	client_drop_server(c, false);
	ev_timer_cancel(&w->loop, &c->timer);
	if (c->s.io.fd >= 0)
		close(c->s.io.fd);
	buf_release(w, &c->in);
	buf_release(w, &c->up);
	buf_release(w, &c->resp);
	pipe_put(w, c);
	c->dead = true;
	*c->cpprev = c->cnext;
	if (c->cnext)
		c->cnext->cpprev = c->cpprev;
	STAT_ADD(w->ws.clients, -1);
	c->grave = w->grave_c;
	w->grave_c = c;
}

static void on_client_timer(struct ev_loop *loop, struct ev_timer *t);
static void on_client_io(struct ev_loop *loop, struct ev_io *io, uint32_t ev);
static void wrt_sync_health(struct lb_wrt *wrt);

static void client_arm(struct lb_client *c, uint32_t ms)
{
	struct lb_worker *w = c->w;

	c->deadline = ev_now(&w->loop) + ms;
	/* Lazy: an armed timer that fires early re-arms itself for the rest. */
	if (!ev_timer_armed(&c->timer) || c->timer.when > c->deadline)
		ev_timer_arm(&w->loop, &c->timer, c->deadline);
}

static const int local_status[] = { 400, 431, 501, 502, 503, 504, 505 };

/*
 * Replaces whatever response is in progress with a short local one and
 * closes after it. Only valid while no response byte has reached the client.
 */
static void client_local(struct lb_client *c, enum lb_local which, const char *why)
{
	struct lb_worker *w = c->w;
	int status = local_status[which];
	const char *reason = h1_reason(status);
	int n;

	STAT_ADD(w->ws.local[which], 1);
	if (!c->t_start_us)
		c->t_start_us = now_us();
	if (c->srv)
		STAT_ADD(c->wrt->bstats[c->srv->be->gidx].errors,
			 (which >= LB_L502 && which <= LB_L504) ? 1 : 0);
	client_drop_server(c, false);
	if (c->resp_started || buf_ensure(w, &c->resp)) {
		client_close(c);
		return;
	}
	c->resp.head = 0;
	n = snprintf(c->resp.p, c->resp.size,
		     "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n"
		     "Connection: close\r\n\r\n%s\n",
		     status, reason, strlen(why) + 1, why);
	c->resp.tail = (uint32_t)n;
	c->status = status;
	c->rs = RESP_DONE;
	c->rq = REQ_DONE;
	c->req_close = true;
	c->in_body = 0;
	c->resp_ok = (uint32_t)n;
	c->up.head = c->up.tail;
	c->dead_status = status;
	client_arm(c, w->wrt->rt->cfg->timeout_idle_ms);
}

/* Client-side failure of the backend: a passive health signal. */
static void server_failed(struct lb_client *c, enum lb_local which, const char *why)
{
	if (c->srv) {
		rt_backend_failed(c->wrt->rt, c->srv->be, ev_now(&c->w->loop));
		log_debug("backend %s: %s", c->srv->be->cfg->addr.text, why);
	}
	client_local(c, which, why);
}

/* ------------------------------------------------------------ request head */

static bool host_matches(const char *want, struct h1_str host)
{
	size_t n = host.len, wl = strlen(want);
	const char *colon = memchr(host.ptr, ':', host.len);

	if (host.len && host.ptr[0] != '[' && colon)
		n = (size_t)(colon - host.ptr);
	if (n != wl)
		return false;
	return strncasecmp(want, host.ptr, n) == 0;
}

static size_t route(const struct cfg_listener *li, const struct h1_request *rq)
{
	size_t i;

	for (i = 0; i < li->nroutes; i++) {
		const struct cfg_route *r = &li->routes[i];
		size_t pl = strlen(r->prefix);

		if (r->host[0] && !host_matches(r->host, rq->host))
			continue;
		if (pl && (rq->target.len < pl || memcmp(rq->target.ptr, r->prefix, pl) != 0))
			continue;
		return r->pool;
	}
	return li->pool;
}

/* The value of cookie `name` in a Cookie header, or an empty view. */
static struct h1_str cookie_value(struct h1_str v, const char *name)
{
	size_t nl = strlen(name), i = 0;
	struct h1_str none = { v.ptr, 0 };

	while (i < v.len) {
		size_t end, eq;

		while (i < v.len && (v.ptr[i] == ' ' || v.ptr[i] == ';'))
			i++;
		end = i;
		while (end < v.len && v.ptr[end] != ';')
			end++;
		eq = i;
		while (eq < end && v.ptr[eq] != '=')
			eq++;
		if (eq - i == nl && memcmp(v.ptr + i, name, nl) == 0 && eq < end) {
			struct h1_str r = { v.ptr + eq + 1, end - eq - 1 };

			return r;
		}
		i = end;
	}
	return none;
}

static uint64_t balance_key(const struct lb_client *c, const struct cfg_pool *pc,
			    const struct h1_request *rq)
{
	size_t i;

	if (pc->hash == CFG_HASH_CLIENT_IP)
		return hash_bytes(c->peer_ip, strlen(c->peer_ip), 0);
	for (i = 0; i < rq->nheaders; i++) {
		const struct h1_header *h = &rq->headers[i];

		if (pc->hash == CFG_HASH_HEADER && h1_str_eq(h->name, pc->hash_name))
			return hash_bytes(h->value.ptr, h->value.len, 1);
		if (pc->hash == CFG_HASH_COOKIE && h1_str_eq(h->name, "cookie")) {
			struct h1_str v = cookie_value(h->value, pc->hash_name);

			if (v.len)
				return hash_bytes(v.ptr, v.len, 2);
		}
	}
	/* No key in the request: fall back to the client address. */
	return hash_bytes(c->peer_ip, strlen(c->peer_ip), 0);
}

static bool hop_by_hop(struct h1_str name, bool upgrade)
{
	if (h1_str_eq(name, "connection") || h1_str_eq(name, "keep-alive") ||
	    h1_str_eq(name, "proxy-connection"))
		return true;
	return !upgrade && h1_str_eq(name, "upgrade");
}

static int put(struct lb_buf *b, const void *p, size_t n)
{
	if (n > b->size - b->tail)
		return -ENOSPC;
	memcpy(b->p + b->tail, p, n);
	b->tail += (uint32_t)n;
	return 0;
}

#define PUT_LIT(b, s) put(b, s, sizeof(s) - 1)

/*
 * The head sent upstream: request line in HTTP/1.1 (HTTP/1.0 clients keep
 * 1.0 and get a dedicated, closed connection), hop-by-hop headers dropped,
 * X-Forwarded-For extended with the client's address.
 */
static int rewrite_head(struct lb_client *c, const struct h1_request *rq, bool xff)
{
	struct lb_buf *b = &c->up;
	const struct h1_str *xffv = NULL;
	size_t i;
	int ret = 0;

	b->head = b->tail = 0;
	ret |= put(b, rq->method.ptr, rq->method.len);
	ret |= PUT_LIT(b, " ");
	ret |= put(b, rq->target.ptr, rq->target.len);
	ret |= rq->minor_version ? PUT_LIT(b, " HTTP/1.1\r\n") : PUT_LIT(b, " HTTP/1.0\r\n");
	for (i = 0; i < rq->nheaders; i++) {
		const struct h1_header *h = &rq->headers[i];

		if (hop_by_hop(h->name, c->upgrade))
			continue;
		if (xff && h1_str_eq(h->name, "x-forwarded-for")) {
			xffv = &h->value; /* the last one wins, as RFC 7239 proxies append */
			continue;
		}
		ret |= put(b, h->name.ptr, h->name.len);
		ret |= PUT_LIT(b, ": ");
		ret |= put(b, h->value.ptr, h->value.len);
		ret |= PUT_LIT(b, "\r\n");
	}
	if (xff) {
		ret |= PUT_LIT(b, "X-Forwarded-For: ");
		if (xffv && xffv->len) {
			ret |= put(b, xffv->ptr, xffv->len);
			ret |= PUT_LIT(b, ", ");
		}
		ret |= put(b, c->peer_ip, strlen(c->peer_ip));
		ret |= PUT_LIT(b, "\r\n");
	}
	if (c->upgrade)
		ret |= PUT_LIT(b, "Connection: upgrade\r\n");
	else if (!rq->minor_version)
		ret |= PUT_LIT(b, "Connection: close\r\n");
	ret |= PUT_LIT(b, "\r\n");
	return ret ? -ENOSPC : 0;
}

static void copy_view(char *dst, size_t cap, struct h1_str v)
{
	size_t n = v.len < cap - 1 ? v.len : cap - 1;

	memcpy(dst, v.ptr, n);
	dst[n] = '\0';
}

/* Attaches a server for the current request (a fresh one when retrying). */
static int client_attach(struct lb_client *c)
{
	struct lb_wrt *wrt = c->wrt;
	const struct cfg *cfg = wrt->rt->cfg;
	int idx = c->picked;
	struct lb_backend *be;
	bool reused;

	be = &wrt->rt->pools[c->pool].be[idx];
	c->srv = server_get(wrt, be, c->retried, &reused);
	if (!c->srv) {
		log_debug("backend %s: connect: %s", be->cfg->addr.text, log_errstr(errno));
		rt_backend_failed(wrt->rt, be, ev_now(&c->w->loop));
		STAT_ADD(wrt->bstats[be->gidx].errors, 1);
		client_local(c, LB_L502, "backend connection failed");
		return -1;
	}
	c->srv->cl = c;
	c->srv_reused = reused;
	STAT_ADD(wrt->bstats[be->gidx].active, 1);
	if (reused)
		STAT_ADD(wrt->bstats[be->gidx].reuses, 1);
	bal_conn_start(wrt->bal[c->pool], be->idx);
	client_arm(c, c->srv->connected ? cfg->timeout_server_ms : cfg->timeout_connect_ms);
	return 0;
}

/*
 * A target in absolute form ("http://a.example/x") names its own host; the
 * backend may trust it while we routed by Host. Both must agree, or two
 * hops would each act on a different host (RFC 9112 3.2.2 says to replace
 * Host; refusing the disagreement is the safe half of that).
 */
static bool target_host_ok(const struct h1_request *rq)
{
	const char *p = rq->target.ptr, *end = p + rq->target.len, *auth, *stop;

	if (!rq->target.len || p[0] == '/' || (rq->target.len == 1 && p[0] == '*'))
		return true;
	auth = memmem(p, rq->target.len, "://", 3);
	if (!auth)
		return false;
	auth += 3;
	for (stop = auth; stop < end && *stop != '/' && *stop != '?' && *stop != '#'; stop++)
		;
	return (size_t)(stop - auth) == rq->host.len &&
	       strncasecmp(auth, rq->host.ptr, rq->host.len) == 0;
}

/*
 * Splice mode: the head as the client sent it, with an X-Forwarded-For line
 * before the blank line (after the splice the backend talks to the client
 * directly, so hop-by-hop headers stay), then whatever followed the head.
 * The client socket goes to splice.c; this client object ends here.
 */
static int splice_request(struct lb_client *c, size_t n, struct lb_backend *be)
{
	char *head = c->in.p + c->in.head - n;
	char xff[INET6_ADDRSTRLEN + 24];
	struct iovec iov[4];
	struct lb_splice_req rq = { .listener = c->listener,
				    .peer = &c->peer,
				    .iov = iov,
				    .ins = -1,
				    .tcp_opts = c->tcp_opts };
	int k = 0, ret, xl = 0;

	iov[k++] = (struct iovec){ head, n - 2 };
	if (c->wrt->rt->cfg->listeners[c->listener].xff) {
		xl = snprintf(xff, sizeof(xff), "X-Forwarded-For: %s\r\n", c->peer_ip);
		rq.ins = k;
		iov[k++] = (struct iovec){ xff, (size_t)xl };
	}
	iov[k++] = (struct iovec){ head + n - 2, 2 };
	if (buf_len(&c->in))
		iov[k++] = (struct iovec){ c->in.p + c->in.head, buf_len(&c->in) };
	rq.iovcnt = k;
	ret = splice_start(c->w, c->wrt, be, c->s.io.fd, &rq);
	if (ret) {
		client_local(c, ret == -EBUSY ? LB_L503 : LB_L502,
			     ret == -EBUSY ? "no splice capacity left" : "cannot splice");
		return -1;
	}
	if (c->s.polled)
		ev_io_del(&c->w->loop, &c->s.io);
	c->s.io.fd = -1; /* splice.c owns it now */
	c->rq = REQ_DONE;
	client_close(c);
	return -1;
}

static int handle_request(struct lb_client *c, struct h1_request *rq, size_t n)
{
	struct lb_wrt *wrt = c->wrt;
	const struct cfg *cfg = wrt->rt->cfg;
	const struct cfg_listener *li = &cfg->listeners[c->listener];
	size_t pool = route(li, rq);
	const struct cfg_pool *pc = wrt->rt->pools[pool].cfg;
	int idx;

	if (c->counted)
		c->counted = false; /* handed back by the splicer: counted once already */
	else
		STAT_ADD(c->w->ws.requests, 1);
	c->t_start_us = now_us();
	if (h1_str_eq(rq->method, "CONNECT")) {
		client_local(c, LB_L501, "CONNECT is not supported");
		return -1;
	}
	if (!target_host_ok(rq)) {
		client_local(c, LB_L400, "request target and Host disagree");
		return -1;
	}
	copy_view(c->method, sizeof(c->method), rq->method);
	copy_view(c->path, sizeof(c->path), rq->target);
	c->head_req = h1_str_eq(rq->method, "HEAD");
	c->upgrade = (rq->flags & H1_F_UPGRADE) != 0;
	c->req_close = (rq->flags & H1_F_CLOSE) != 0 || rq->minor_version == 0;
	c->srv_reuse = rq->minor_version == 1 && !c->upgrade;
	c->retried = false;
	c->resp_started = false;
	c->status = 0;
	c->req_bytes = n;
	c->req_head_len = n;
	c->resp_bytes = 0;
	if (buf_ensure(c->w, &c->up) || rewrite_head(c, rq, li->xff)) {
		client_local(c, LB_L431, "request header too large");
		return -1;
	}
	c->in.head += (uint32_t)n;
	c->in_body = 0;
	c->req_body = rq->body;
	c->req_left = rq->content_length;
	if (rq->body == H1_BODY_CHUNKED)
		h1_chunked_init(&c->req_chunk);
	if (rq->body == H1_BODY_NONE || (rq->body == H1_BODY_LENGTH && rq->content_length == 0))
		c->rq = REQ_DONE;
	else
		c->rq = REQ_BODY;
	/*
	 * Up to date with the backends' health before choosing: the worker loop
	 * syncs after each round, but a request read straight after its accept
	 * is balanced within the round that may have just ejected a backend.
	 */
	if (READ_ONCE(wrt->rt->health_gen) != wrt->seen_health_gen)
		wrt_sync_health(wrt);
	idx = bal_pick(wrt->bal[pool], balance_key(c, pc, rq));
	if (idx < 0) {
		client_local(c, LB_L503, "no backend available");
		return -1;
	}
	/*
	 * A connection that ends with this request gains nothing from a
	 * splice: the backend handshake and the ~30 system calls of the splice
	 * cost more than proxying one exchange on a pooled connection.
	 */
	if (li->mode == CFG_MODE_SPLICE && !c->no_splice &&
	    (!c->req_close || cfg->splice_oneshot)) {
		/* The options of a connection never change: read them once. */
		if (!c->tcp_opts_known) {
			c->tcp_opts = splice_client_opts(c->s.io.fd);
			c->tcp_opts_known = true;
		}
		if (splice_fits(c->w, &wrt->rt->pools[pool].be[idx], c->tcp_opts))
			return splice_request(c, n, &wrt->rt->pools[pool].be[idx]);
	}
	c->pool = pool;
	c->picked = idx;
	c->rs = RESP_HEAD;
	c->resp_ok = 0;
	if (buf_ensure(c->w, &c->resp)) {
		client_close(c);
		return -1;
	}
	c->resp.head = c->resp.tail = 0;
	return client_attach(c);
}

/*
 * After a reload, a client's next request uses the new configuration, on
 * the listener with the same address (a client whose listener was removed
 * stays on the old one until it leaves).
 */
static void client_adopt_runtime(struct lb_client *c)
{
	struct lb_worker *w = c->w;
	const struct cfg_addr *a = &c->wrt->rt->cfg->listeners[c->listener].addr;
	const struct cfg *ncfg = w->wrt->rt->cfg;
	size_t i;

	for (i = 0; i < ncfg->nlisteners; i++) {
		if (ncfg->listeners[i].addr.len == a->len &&
		    !memcmp(&ncfg->listeners[i].addr.ss, &a->ss, a->len)) {
			wrt_unuse(c->wrt);
			c->wrt = w->wrt;
			c->wrt->users++;
			c->listener = i;
			return;
		}
	}
}

/*
 * The head limit: the configured one, but never more than the worker's
 * buffers hold (they are sized at start; a reload may ask for more).
 */
static uint32_t head_max(const struct lb_client *c)
{
	uint32_t cap = c->w->bufsize - LB_HEAD_EXTRA, want = c->wrt->rt->cfg->max_header;

	return want < cap ? want : cap;
}

static int step_head(struct lb_client *c)
{
	struct lb_worker *w = c->w;
	const struct cfg *cfg;
	struct h1_header hdrs[LB_MAX_HEADERS];
	struct h1_request rq;
	ssize_t r;

	if (c->wrt != w->wrt)
		client_adopt_runtime(c);
	/* Only now: adopting may free the old runtime, and its cfg with it. */
	cfg = c->wrt->rt->cfg;
	if (buf_len(&c->in)) {
		r = h1_parse_request(c->in.p + c->in.head, buf_len(&c->in), &rq, hdrs,
				     LB_MAX_HEADERS);
		if (r > 0)
			return handle_request(c, &rq, (size_t)r) ? -1 : 1;
		switch (r) {
		case -EAGAIN:
			if (buf_len(&c->in) >= head_max(c)) {
				client_local(c, LB_L431, "request header too large");
				return -1;
			}
			break;
		case -E2BIG:
			client_local(c, LB_L431, "too many header fields");
			return -1;
		case -ENOTSUP:
			client_local(c, LB_L501, "transfer coding not supported");
			return -1;
		case -EPROTONOSUPPORT:
			client_local(c, LB_L505, "HTTP version not supported");
			return -1;
		default:
			client_local(c, LB_L400, "malformed request");
			return -1;
		}
	}
	if (!c->s.rd) {
		if (c->s.eof) {
			client_close(c);
			return -1;
		}
		return 0;
	}
	if (buf_ensure(w, &c->in)) {
		client_close(c);
		return -1;
	}
	if (buf_len(&c->in) == 0) {
		c->in.head = c->in.tail = 0;
	} else if (c->in.tail == c->in.size) {
		buf_compact(&c->in);
	}
	{
		uint32_t room = c->in.size - c->in.tail;
		bool was_empty = buf_len(&c->in) == 0;

		uint32_t maxh = head_max(c);

		if (buf_len(&c->in) <= maxh && room > maxh + 1u - buf_len(&c->in))
			room = maxh + 1u - buf_len(&c->in);
		if (!room) {
			/* Cannot happen with the clamp above; never read(fd, p, 0) as EOF. */
			client_local(c, LB_L431, "request header too large");
			return -1;
		}
		r = sock_read(&c->s, c->in.p + c->in.tail, room);
		if (r > 0) {
			c->in.tail += (uint32_t)r;
			if (was_empty)
				client_arm(c, cfg->timeout_header_ms);
			return 1;
		}
	}
	if (c->s.eof) {
		client_close(c);
		return -1;
	}
	if (buf_len(&c->in) == 0) {
		/* Idle between requests: hand the buffer back to the worker. */
		buf_release(w, &c->in);
	}
	return 0;
}

/* ----------------------------------------------------------- request body */

/* Marks more of `in` as body bytes for the server; -1 after a local error. */
static int classify_request(struct lb_client *c)
{
	uint32_t avail = buf_len(&c->in) - c->in_body;
	ssize_t k;

	if (c->rs == RESP_TUNNEL) {
		c->in_body += avail;
		return avail ? 1 : 0;
	}
	if (c->rq != REQ_BODY || !avail)
		return 0;
	if (c->req_body == H1_BODY_LENGTH) {
		k = c->req_left < avail ? (ssize_t)c->req_left : (ssize_t)avail;
		c->req_left -= (uint64_t)k;
		if (!c->req_left)
			c->rq = REQ_DONE;
	} else {
		k = h1_chunked_scan(&c->req_chunk, c->in.p + c->in.head + c->in_body, avail);
		if (k < 0) {
			if (c->up.head == 0 && c->in_body == 0) {
				client_local(c, LB_L400, "malformed chunked body");
			} else {
				client_close(c);
			}
			return -1;
		}
		if (c->req_chunk.done)
			c->rq = REQ_DONE;
	}
	c->in_body += (uint32_t)k;
	c->req_bytes += (uint64_t)k;
	return k ? 1 : 0;
}

/*
 * A request may be replayed on a fresh connection when it went out on a
 * pooled one that the backend had closed meanwhile: only once, only for an
 * idempotent method (RFC 9110 9.2.2: the backend may have acted on it before
 * closing), only when it had no body (all of it is still in `up`) and no
 * response byte came back.
 */
static bool idempotent(const char *m)
{
	return !strcmp(m, "GET") || !strcmp(m, "HEAD") || !strcmp(m, "OPTIONS") ||
	       !strcmp(m, "TRACE") || !strcmp(m, "PUT") || !strcmp(m, "DELETE");
}

static bool can_replay(const struct lb_client *c)
{
	return idempotent(c->method) && c->srv_reused && !c->retried && !c->resp_started &&
	       c->resp_ok == 0 && buf_len(&c->resp) == 0 && c->rq == REQ_DONE &&
	       c->req_bytes == c->req_head_len;
}

static int replay(struct lb_client *c)
{
	c->retried = true;
	client_drop_server(c, false);
	c->up.head = 0;
	return client_attach(c) ? -1 : 1;
}

/* Completion of a non-blocking connect: 1 connected, 0 not yet, -1 failed. */
static int send_connected(struct lb_client *c)
{
	struct lb_server *s = c->srv;
	int err = 0;
	socklen_t el = sizeof(err);

	if (!s->s.wr && !s->s.rd)
		return 0;
	if (getsockopt(s->s.io.fd, SOL_SOCKET, SO_ERROR, &err, &el) == -1)
		err = errno;
	if (err) {
		server_failed(c, LB_L502, "backend connection refused");
		return -1;
	}
	if (!s->s.wr)
		return 0;
	s->connected = true;
	client_arm(c, c->wrt->rt->cfg->timeout_server_ms);
	return 1;
}

/* Reads more request body (or tunnel bytes) once `in` holds no unclassified ones. */
static int pull_body(struct lb_client *c)
{
	ssize_t r;

	if ((c->rq != REQ_BODY && c->rs != RESP_TUNNEL) || !c->s.rd ||
	    buf_len(&c->in) != c->in_body)
		return 0;
	if (buf_ensure(c->w, &c->in)) {
		client_close(c);
		return -1;
	}
	if (buf_len(&c->in) == 0)
		c->in.head = c->in.tail = 0;
	if (c->in.tail == c->in.size)
		return 0;
	r = sock_read(&c->s, c->in.p + c->in.tail, c->in.size - c->in.tail);
	if (r <= 0)
		return 0;
	c->in.tail += (uint32_t)r;
	return classify_request(c) < 0 ? -1 : 1;
}

/*
 * Whether c's write waits for the end of the round (see "Writes" above):
 * true when it is queued, false when it should write now (outside a round,
 * or with the queue full).
 */
static bool defer_write(struct lb_client *c)
{
	struct lb_worker *w = c->w;

	if (!w->defer)
		return false;
	if (c->wqueued)
		return true;
	if (w->nwriters == LB_WRITERS)
		return false;
	c->wqueued = true;
	w->writers[w->nwriters++].c = c;
	return true;
}

static int step_send(struct lb_client *c)
{
	struct lb_server *s = c->srv;
	struct iovec iov[2];
	int n = 0, progress = 0;
	ssize_t r;

	if (!s->connected) {
		progress = send_connected(c);
		if (progress <= 0)
			return progress;
	}
	if (classify_request(c) < 0)
		return -1;
	r = pull_body(c);
	if (r < 0)
		return -1;
	progress |= (int)r;
	if (c->s.eof && c->rq == REQ_BODY && c->rs != RESP_TUNNEL) {
		/* The client gave up in the middle of its body. */
		client_close(c);
		return -1;
	}
	if (!s->s.wr)
		return progress;
	if (c->up.head < c->up.tail) {
		iov[n].iov_base = c->up.p + c->up.head;
		iov[n++].iov_len = c->up.tail - c->up.head;
	}
	if (c->in_body) {
		iov[n].iov_base = c->in.p + c->in.head;
		iov[n++].iov_len = c->in_body;
	}
	if (!n || defer_write(c))
		return progress;
	r = sock_writev(&s->s, iov, n, 0);
	if (r < 0) {
		if (can_replay(c))
			return replay(c);
		server_failed(c, LB_L502, "backend write failed");
		return -1;
	}
	if (r > 0) {
		uint32_t hl = c->up.tail - c->up.head;
		size_t done = (size_t)r;

		if (done >= hl) {
			c->up.head = c->up.tail;
			done -= hl;
			c->in.head += (uint32_t)done;
			c->in_body -= (uint32_t)done;
		} else {
			c->up.head += (uint32_t)done;
		}
		STAT_ADD(c->wrt->bstats[s->be->gidx].bytes_in, (uint64_t)r);
		client_arm(c, c->wrt->rt->cfg->timeout_server_ms);
		progress = 1;
	}
	return progress;
}

static bool request_sent(const struct lb_client *c)
{
	return c->rq == REQ_DONE && c->up.head == c->up.tail && c->in_body == 0;
}

/* ---------------------------------------------------------------- response */

/*
 * The client connection ends after this response (the client asked, it
 * spoke HTTP/1.0, or we are draining), but the backend's head says nothing
 * of it: rewrite the head in place with "Connection: close" (RFC 9112
 * §9.6), or clients that keep the connection would send the next request
 * into a closing socket. The new head is built in `up` (free once a
 * response head exists); keep-alive headers are dropped. Returns the new
 * head length, or the old one when there is no room to rewrite.
 */
static uint32_t announce_close(struct lb_client *c, const struct h1_response *rs, uint32_t len)
{
	struct lb_buf *b = &c->up;
	uint32_t at = c->resp.head + c->resp_ok, rest, nl;
	const char *head = c->resp.p + at;
	const char *eol = memchr(head, '\n', len);
	size_t i;
	int ret = 0;

	if (!eol)
		return len;
	b->head = b->tail = 0;
	ret |= put(b, head, (size_t)(eol - head) + 1);
	for (i = 0; i < rs->nheaders; i++) {
		const struct h1_header *h = &rs->headers[i];

		if (h1_str_eq(h->name, "connection") || h1_str_eq(h->name, "keep-alive"))
			continue;
		ret |= put(b, h->name.ptr, h->name.len);
		ret |= PUT_LIT(b, ": ");
		ret |= put(b, h->value.ptr, h->value.len);
		ret |= PUT_LIT(b, "\r\n");
	}
	ret |= PUT_LIT(b, "Connection: close\r\n\r\n");
	nl = b->tail;
	rest = c->resp.tail - at - len;
	if (ret || c->resp.size - at < (uint64_t)nl + rest)
		return len;
	memmove(c->resp.p + at + nl, head + len, rest);
	memcpy(c->resp.p + at, b->p, nl);
	c->resp.tail = at + nl + rest;
	b->head = b->tail = 0;
	return nl;
}

/*
 * Parses one response head at resp.head + resp_ok. 1 when parsed (state
 * advanced), 0 when more bytes are needed, -1 after a local answer or close.
 */
static int response_head(struct lb_client *c, uint32_t avail)
{
	struct h1_header hdrs[LB_MAX_HEADERS];
	struct h1_response rs;
	ssize_t r;

	r = h1_parse_response(c->resp.p + c->resp.head + c->resp_ok, avail, &rs, hdrs,
			      LB_MAX_HEADERS, c->head_req ? H1_RESP_HEAD : 0);
	if (r == -EAGAIN) {
		if (c->resp.head == 0 && c->resp.tail == c->resp.size && c->resp_ok == 0) {
			server_failed(c, LB_L502, "response header too large");
			return -1;
		}
		return 0;
	}
	if (r < 0) {
		if (c->resp_ok == 0 && !c->resp_started)
			server_failed(c, LB_L502, "malformed response from backend");
		else
			client_close(c);
		return -1;
	}
	/* A body delimited by the backend's close can only be delimited so for the client too. */
	if (rs.status >= 200 && rs.body == H1_BODY_CLOSE)
		c->req_close = true;
	if (rs.status >= 200 && !(rs.flags & H1_F_CLOSE) && !(c->upgrade && rs.status == 101)) {
		if (READ_ONCE(c->w->stop))
			c->req_close = true;
		if (c->req_close)
			r = announce_close(c, &rs, (uint32_t)r);
	}
	c->resp_ok += (uint32_t)r;
	c->status = rs.status;
	/* The request head may be forgotten once a response head exists. */
	c->up.head = c->up.tail;
	if (rs.status == 101 && c->upgrade) {
		c->rs = RESP_TUNNEL;
		c->srv_reuse = false;
		c->rq = REQ_DONE;
		return 1;
	}
	if (rs.status < 200)
		return 1; /* interim (100 Continue): relay, wait for the final one */
	if ((rs.flags & H1_F_CLOSE) || rs.body == H1_BODY_CLOSE)
		c->srv_reuse = false;
	c->resp_body = rs.body;
	c->resp_left = rs.content_length;
	if (rs.body == H1_BODY_CHUNKED)
		h1_chunked_init(&c->resp_chunk);
	if (rs.body == H1_BODY_NONE || (rs.body == H1_BODY_LENGTH && rs.content_length == 0))
		c->rs = RESP_DONE;
	else
		c->rs = RESP_BODY;
	return 1;
}

/* Counts body bytes against the response's framing; -1 after a close. */
static int response_body(struct lb_client *c, uint32_t avail)
{
	ssize_t k;

	switch (c->resp_body) {
	case H1_BODY_LENGTH:
		k = c->resp_left < avail ? (ssize_t)c->resp_left : (ssize_t)avail;
		c->resp_left -= (uint64_t)k;
		if (!c->resp_left)
			c->rs = RESP_DONE;
		break;
	case H1_BODY_CHUNKED:
		k = h1_chunked_scan(&c->resp_chunk, c->resp.p + c->resp.head + c->resp_ok, avail);
		if (k < 0) {
			client_close(c);
			return -1;
		}
		if (c->resp_chunk.done)
			c->rs = RESP_DONE;
		break;
	default:
		k = avail; /* until the server closes */
		break;
	}
	c->resp_ok += (uint32_t)k;
	return 0;
}

/* Classifies what the server sent: heads, body bytes, tunnel bytes. */
static int classify_response(struct lb_client *c)
{
	uint32_t avail;
	int r;

	for (;;) {
		avail = buf_len(&c->resp) - c->resp_ok;
		if (!avail)
			return 0;
		switch (c->rs) {
		case RESP_TUNNEL:
			c->resp_ok += avail;
			return 1;
		case RESP_HEAD:
			r = response_head(c, avail);
			if (r <= 0)
				return r;
			break;
		case RESP_BODY:
			if (response_body(c, avail) < 0)
				return -1;
			break;
		default:
			/* Bytes after the response: the backend said more than asked. */
			c->srv_reuse = false;
			c->resp.tail = c->resp.head + c->resp_ok;
			return 0;
		}
	}
}

/*
 * Large bodies of known length: splice socket -> pipe, no copy through user
 * space (step_deliver() moves pipe -> socket). 1 when bytes moved.
 */
static int recv_splice(struct lb_client *c)
{
	struct lb_server *s = c->srv;
	size_t want;
	ssize_t r;

	if (c->rs != RESP_BODY || c->resp_body != H1_BODY_LENGTH || buf_len(&c->resp) ||
	    c->resp_left < LB_SPLICE_MIN || !s->s.rd || pipe_get(c->w, c))
		return 0;
	want = c->resp_left < LB_PIPE_SIZE ? c->resp_left : LB_PIPE_SIZE;
	r = splice(s->s.io.fd, NULL, c->pipe_wr, NULL, want, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
	if (r > 0) {
		c->pipe_bytes = (uint32_t)r;
		c->resp_left -= (uint64_t)r;
		if (!c->resp_left)
			c->rs = RESP_DONE;
		STAT_ADD(c->w->ws.splices, 1);
		STAT_ADD(c->w->ws.splice_bytes, (uint64_t)r);
		client_arm(c, c->wrt->rt->cfg->timeout_server_ms);
		return 1;
	}
	if (r == -1 && errno == EINTR)
		return 0;
	/*
	 * The pipe was empty, so EAGAIN can only mean the socket is; 0 is the
	 * backend's FIN; anything else ends the connection as well.
	 */
	s->s.rd = false;
	if (r == 0 || errno != EAGAIN)
		s->s.eof = true;
	return 0;
}

/* The backend closed (or failed) with everything it sent classified. */
static int recv_eof(struct lb_client *c)
{
	switch (c->rs) {
	case RESP_HEAD:
		if (c->resp_ok || c->resp_started) {
			client_close(c);
			return -1;
		}
		if (can_replay(c))
			return replay(c);
		server_failed(c, LB_L502, "backend closed without a response");
		return -1;
	case RESP_BODY:
		if (c->resp_body == H1_BODY_CLOSE) {
			c->rs = RESP_DONE;
			c->srv_reuse = false;
			return 1;
		}
		/* Truncated: the client must see the connection end, not a short body. */
		if (c->resp_ok == 0 && c->pipe_bytes == 0) {
			STAT_ADD(c->wrt->bstats[c->srv->be->gidx].errors, 1);
			client_close(c);
			return -1;
		}
		return 0;
	case RESP_TUNNEL:
		if (c->resp_ok == 0) {
			client_close(c);
			return -1;
		}
		return 0;
	default:
		return 0;
	}
}

static int step_recv(struct lb_client *c)
{
	struct lb_server *s = c->srv;
	int progress = 0;
	ssize_t r;

	if (!s || !s->connected)
		return 0;
	if (c->rs != RESP_HEAD && c->rs != RESP_BODY && c->rs != RESP_TUNNEL)
		return 0;
	/* Bytes in the pipe go out first; reading more now would reorder them. */
	if (c->pipe_bytes)
		return 0;
	if (recv_splice(c))
		return 1;
	if (s->s.rd) {
		if (buf_len(&c->resp) == 0)
			c->resp.head = c->resp.tail = 0;
		else if (c->resp.tail == c->resp.size)
			buf_compact(&c->resp);
		if (c->resp.tail < c->resp.size) {
			r = sock_read(&s->s, c->resp.p + c->resp.tail, c->resp.size - c->resp.tail);
			if (r > 0) {
				c->resp.tail += (uint32_t)r;
				client_arm(c, c->wrt->rt->cfg->timeout_server_ms);
				progress = 1;
			}
		}
	}
	if (classify_response(c) < 0)
		return -1;
	if (s->s.eof && c->rs == RESP_HEAD && buf_len(&c->resp) != c->resp_ok)
		c->resp.tail = c->resp.head + c->resp_ok; /* a head cut short is no head */
	if (s->s.eof && buf_len(&c->resp) == c->resp_ok) {
		int e = recv_eof(c);

		if (e)
			return e;
	}
	return progress;
}

/*
 * The last bytes of a connection that step_finish() ends with shutdown():
 * held back (MSG_MORE) so that the FIN shutdown() sends right after leaves in
 * the same segment, one segment fewer per Connection: close request. Not when
 * the exchange ends another way (a local answer, a request whose body was not
 * all sent), which may close without pushing them first.
 */
static bool last_send(const struct lb_client *c)
{
	return c->req_close && c->rs == RESP_DONE && !c->pipe_bytes && !c->dead_status &&
	       request_sent(c);
}

static int step_deliver(struct lb_client *c)
{
	struct iovec iov;
	int progress = 0;
	ssize_t r;

	if (!c->s.wr || ((c->resp_ok || c->pipe_bytes) && defer_write(c)))
		return 0;
	if (c->resp_ok) {
		iov.iov_base = c->resp.p + c->resp.head;
		iov.iov_len = c->resp_ok;
		r = sock_writev(&c->s, &iov, 1, last_send(c) ? MSG_MORE : 0);
		if (r < 0) {
			client_close(c);
			return -1;
		}
		if (r > 0) {
			c->resp.head += (uint32_t)r;
			c->resp_ok -= (uint32_t)r;
			c->resp_bytes += (uint64_t)r;
			c->resp_started = true;
			progress = 1;
		}
	}
	if (!c->resp_ok && c->pipe_bytes && c->s.wr) {
		r = splice(c->pipe_rd, NULL, c->s.io.fd, NULL, c->pipe_bytes,
			   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
		if (r > 0) {
			c->pipe_bytes -= (uint32_t)r;
			c->resp_bytes += (uint64_t)r;
			c->resp_started = true;
			progress = 1;
		} else if (r == -1 && errno == EAGAIN) {
			c->s.wr = false;
		} else if (r == -1 && errno != EINTR) {
			client_close(c);
			return -1;
		}
	}
	if (progress && c->srv)
		client_arm(c, c->wrt->rt->cfg->timeout_server_ms);
	return progress;
}

/* ------------------------------------------------------------- completion */

/* One access-log line: time, client, "method path", status, bytes in and out, backend, µs. */
static void log_line(struct lb_worker *w, const char *peer, const char *method, const char *path,
		     int pathlen, int status, uint64_t req_bytes, uint64_t resp_bytes,
		     const char *be, uint64_t us)
{
	char line[512];
	char ts[32];
	time_t now = time(NULL);
	struct tm tm;
	int n;

	if (w->log_fd < 0)
		return;
	gmtime_r(&now, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
	n = snprintf(line, sizeof(line), "%s %s \"%s %.*s\" %d %llu %llu %s %llu\n", ts, peer,
		     method, pathlen, path, status, (unsigned long long)req_bytes,
		     (unsigned long long)resp_bytes, be, (unsigned long long)us);
	if (n <= 0)
		return;
	if ((size_t)n >= sizeof(line))
		n = sizeof(line) - 1;
	if (w->loglen + (size_t)n > 65536) {
		ssize_t wr = write(w->log_fd, w->logbuf, w->loglen);

		(void)wr;
		w->loglen = 0;
	}
	memcpy(w->logbuf + w->loglen, line, (size_t)n);
	w->loglen += (size_t)n;
}

static void log_access(struct lb_client *c, const struct lb_backend *be, uint64_t us)
{
	log_line(c->w, c->peer_ip, c->method, c->path, INT_MAX, c->status, c->req_bytes,
		 c->resp_bytes, be ? be->cfg->addr.text : "-", us);
}

/* A latency sample in backend st's histogram. */
static void account_latency(struct lb_bstats *st, uint64_t us)
{
	size_t b = 0;

	while (b < LB_HIST_N - 1 && us > lb_hist_bounds_us[b])
		b++;
	STAT_ADD(st->hist[b], 1);
	STAT_ADD(st->lat_sum_us, us);
}

static void account(struct lb_client *c)
{
	struct lb_backend *be = c->srv ? c->srv->be : NULL;
	uint64_t us = now_us() - c->t_start_us;
	int cls = c->status / 100;

	if (be) {
		struct lb_bstats *st = &c->wrt->bstats[be->gidx];

		STAT_ADD(st->requests, 1);
		STAT_ADD(st->bytes_out, c->resp_bytes);
		if (cls >= 1 && cls <= 5)
			STAT_ADD(st->resp_class[cls], 1);
		account_latency(st, us);
		if (c->w->graph)
			graph_add(c->w->graph, c->w->id, c->peer_ip, be->cfg->addr.text,
				  c->req_bytes + c->resp_bytes);
	}
	log_access(c, be, us);
}

/*
 * A one-shot connection (splice_oneshot_agent), served by the fast path
 * alone and accounted for here, by worker 0, from the agent's record: the
 * same counters, histogram, graph edge and log line as a proxied request.
 * A refused or unanswered SYN is the backend's failure (passive health
 * sees it); the client of a refused or declined one is proxied and logged
 * as such, and an unanswered one's client tries again. A reset or idle end
 * is nobody's failure that the record can pin on the backend (as for a
 * splice). Its backend is looked up in the pool of the one splice
 * listener, which is the pool the fast path used.
 */
static void account_oneshot(struct lb_worker *w, const struct lc_os_record *r)
{
	const struct lb_runtime *rt = w->wrt->rt;
	const struct lb_pool *p = NULL;
	struct lb_backend *be = NULL;
	struct lb_bstats *st = NULL;
	char peer[INET_ADDRSTRLEN], bbuf[INET_ADDRSTRLEN + 8];
	const char *bname = bbuf;
	int cls = r->status / 100;
	size_t i;

	for (i = 0; i < rt->cfg->nlisteners && !p; i++)
		if (rt->cfg->listeners[i].mode == CFG_MODE_SPLICE)
			p = &rt->pools[rt->cfg->listeners[i].pool];
	for (i = 0; p && i < p->n && !be; i++) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)&p->be[i].cfg->addr.ss;

		if (sin->sin_family == AF_INET && sin->sin_addr.s_addr == r->baddr &&
		    sin->sin_port == r->bport)
			be = &p->be[i];
	}
	if (be) {
		st = &w->wrt->bstats[be->gidx];
		bname = be->cfg->addr.text;
	} else {
		/* Gone from the configuration since: named, but counted nowhere. */
		inet_ntop(AF_INET, &r->baddr, peer, sizeof(peer));
		snprintf(bbuf, sizeof(bbuf), "%s:%u", peer, ntohs(r->bport));
	}
	if (st)
		STAT_ADD(st->connects, 1);
	if (r->end == LC_OS_END_DECLINED)
		return;
	if (r->end == LC_OS_END_REFUSED || r->end == LC_OS_END_UNANSWERED) {
		if (st) {
			STAT_ADD(st->errors, 1);
			rt_backend_failed(w->wrt->rt, be, ev_now(&w->loop));
		}
		return;
	}
	inet_ntop(AF_INET, &r->caddr, peer, sizeof(peer));
	STAT_ADD(w->ws.requests, 1);
	if (st) {
		STAT_ADD(st->bytes_in, r->req_bytes + r->xff_bytes);
		STAT_ADD(st->bytes_out, r->resp_bytes);
		if (r->status) {
			STAT_ADD(st->requests, 1);
			if (cls >= 1 && cls <= 5)
				STAT_ADD(st->resp_class[cls], 1);
			account_latency(st, r->us);
		}
	}
	if (w->graph)
		graph_add(w->graph, w->id, peer, bname, r->req_bytes + r->resp_bytes);
	log_line(w, peer, "GET", r->path, r->pathlen, r->status, r->req_bytes, r->resp_bytes, bname,
		 r->us);
}

/* Worker 0: the one-shot connections the agent's reaper finished since the last call. */
static void take_oneshots(struct lb_worker *w)
{
	static struct lc_os_record recs[256]; /* worker 0's only */
	size_t n, i;

	if (w->id != 0 || !agent_oneshot_on(w->agent))
		return;
	do {
		n = agent_oneshot_take(w->agent, recs, sizeof(recs) / sizeof(recs[0]));
		for (i = 0; i < n; i++)
			account_oneshot(w, &recs[i]);
	} while (n == sizeof(recs) / sizeof(recs[0]));
}

/* The exchange is over when the response reached the client and the request left. */
static int step_finish(struct lb_client *c)
{
	const struct cfg *cfg = c->wrt->rt->cfg;

	if (c->rs != RESP_DONE || c->resp_ok || c->pipe_bytes)
		return 0;
	if (c->dead_status) {
		/*
		 * Local answer delivered. Closing now, with request bytes still unread,
		 * would make the kernel send RST and could destroy the answer before the
		 * client reads it; so half-close and drain for a moment first.
		 */
		log_access(c, NULL, now_us() - c->t_start_us);
		shutdown(c->s.io.fd, SHUT_WR);
		c->lingering = true;
		client_arm(c, LB_LINGER_MS);
		client_linger(c);
		return -1;
	}
	account(c);
	if (!request_sent(c)) {
		/* The backend answered before the body was sent (e.g. 413): both legs end. */
		client_close(c);
		return -1;
	}
	client_drop_server(c, c->srv_reuse);
	if (c->req_close || c->s.eof || READ_ONCE(c->w->stop)) {
		shutdown(c->s.io.fd, SHUT_WR);
		client_close(c);
		return -1;
	}
	c->rq = REQ_HEAD;
	c->rs = RESP_NONE;
	pipe_put(c->w, c);
	buf_release(c->w, &c->up);
	buf_release(c->w, &c->resp);
	client_arm(c, buf_len(&c->in) ? cfg->timeout_header_ms : cfg->timeout_idle_ms);
	return 1;
}

/* Lingering close: the answer is out, drain what the client still sends, then close. */
static void client_linger(struct lb_client *c)
{
	char sink[4096];

	while (c->s.rd && sock_read(&c->s, sink, sizeof(sink)) > 0)
		;
	if (c->s.eof)
		client_close(c);
}

/*
 * Steps return 1 on progress, 0 when blocked, -1 when they changed the
 * exchange's course (a local answer, a retry, a close): that also counts as
 * progress, unless the client is gone.
 */
static void client_steps(struct lb_client *c)
{
	int guard, progress;

	if (c->lingering) {
		client_linger(c);
		return;
	}
	for (guard = 0; guard < LB_RUN_GUARD; guard++) {
		progress = 0;
		if (c->rs == RESP_NONE) {
			progress = step_head(c) != 0;
			if (c->dead)
				return;
			if (progress)
				continue;
			break;
		}
		if (c->srv) {
			progress |= step_send(c) != 0;
			if (c->dead)
				return;
		}
		if (c->srv) {
			progress |= step_recv(c) != 0;
			if (c->dead)
				return;
		}
		progress |= step_deliver(c) != 0;
		if (c->dead)
			return;
		if (c->rs == RESP_TUNNEL &&
		    ((c->s.eof && !c->in_body) || (c->srv && c->srv->s.eof && !c->resp_ok))) {
			client_close(c);
			return;
		}
		progress |= step_finish(c) != 0;
		if (c->dead || c->lingering)
			return;
		if (!progress)
			break;
	}
	if (guard == LB_RUN_GUARD) {
		/*
		 * Still work to do but the turn is over: the readiness flags stay set, so
		 * come back through the timer, a millisecond on (the same millisecond
		 * would run again before epoll is polled), after the others had theirs.
		 */
		ev_timer_arm(&c->w->loop, &c->timer, ev_now(&c->w->loop) + 1);
	}
}

/*
 * Whether the client is blocked on its own socket: it wants bytes that have
 * not come (a head, a body, tunnel bytes, the drain of a lingering close), or
 * has bytes to send that do not fit. A client waiting for its backend is not.
 */
static bool client_waits(const struct lb_client *c)
{
	bool want_rd =
		c->rs == RESP_NONE || c->rq == REQ_BODY || c->rs == RESP_TUNNEL || c->lingering;

	return (want_rd && !c->s.rd) || (!c->s.wr && (c->resp_ok || c->pipe_bytes));
}

/*
 * A client joins the epoll set only when it first has to wait on its socket.
 * A one-shot connection whose request came with the handshake and whose
 * answer fits the socket buffer never does: that saves the epoll_ctl() and
 * the kernel's removal work at close. Adding an edge-triggered fd reports
 * the readiness it already has, so nothing that arrived before is missed.
 */
static void client_run(struct lb_client *c)
{
	client_steps(c);
	if (c->dead || c->s.polled || !client_waits(c))
		return;
	if (ev_io_add(&c->w->loop, &c->s.io, c->s.io.fd, LB_EVENTS, on_client_io)) {
		client_close(c);
		return;
	}
	c->s.polled = true;
}

static void on_client_timer(struct ev_loop *loop, struct ev_timer *t)
{
	struct lb_client *c = container_of(t, struct lb_client, timer);

	if (c->dead)
		return;
	if (c->lingering && ev_now(loop) >= c->deadline) {
		client_close(c);
		return;
	}
	if (ev_now(loop) < c->deadline) {
		/* Either the deadline moved on (lazy re-arm) or this is a resume tick. */
		ev_timer_arm(loop, t, c->deadline);
		client_run(c);
		return;
	}
	if (c->rs == RESP_NONE) {
		STAT_ADD(c->w->ws.timeouts, 1);
		if (buf_len(&c->in)) {
			/* Slowloris: a head that never completes. */
			client_local(c, LB_L400, "request header timeout");
			client_run(c);
		} else {
			client_close(c);
		}
		return;
	}
	if (c->rq == REQ_BODY && c->in_body == 0 && c->up.head == c->up.tail) {
		/* Waiting on the client's body, not on the backend: no blame for it. */
		STAT_ADD(c->w->ws.timeouts, 1);
		client_close(c);
		return;
	}
	if (c->srv && !c->resp_started && c->rs == RESP_HEAD) {
		server_failed(c, LB_L504,
			      c->srv->connected ? "backend response timeout"
						: "backend connect timeout");
		client_run(c);
		return;
	}
	STAT_ADD(c->w->ws.timeouts, 1);
	client_close(c);
}

static void on_client_io(struct ev_loop *loop, struct ev_io *io, uint32_t ev)
{
	struct lb_client *c = container_of(io, struct lb_client, s.io);

	(void)loop;
	if (c->dead)
		return;
	if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		c->s.rd = true;
	if (ev & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		c->s.hup = true;
	if (ev & (EPOLLOUT | EPOLLHUP | EPOLLERR))
		c->s.wr = true;
	client_run(c);
}

/* ------------------------------------------------------------------ accept */

/* A client on socket fd, in the worker's list, its header timer running. */
static struct lb_client *client_new(struct lb_worker *w, struct lb_wrt *wrt, size_t li, int fd,
				    const struct sockaddr_storage *ss)
{
	struct lb_client *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->w = w;
	c->wrt = wrt;
	c->wrt->users++;
	c->listener = li;
	c->peer = *ss;
	c->pipe_rd = c->pipe_wr = -1;
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;

		if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
			inet_ntop(AF_INET, &s6->sin6_addr.s6_addr[12], c->peer_ip,
				  sizeof(c->peer_ip));
		else
			inet_ntop(AF_INET6, &s6->sin6_addr, c->peer_ip, sizeof(c->peer_ip));
	} else {
		inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr, c->peer_ip,
			  sizeof(c->peer_ip));
	}
	ev_timer_init(&c->timer, on_client_timer);
	c->s.io.fd = fd;
	c->s.io.cb = on_client_io;
	c->cnext = w->clients;
	if (c->cnext)
		c->cnext->cpprev = &c->cnext;
	c->cpprev = &w->clients;
	w->clients = c;
	STAT_ADD(w->ws.clients, 1);
	client_arm(c, wrt->rt->cfg->timeout_header_ms);
	return c;
}

/*
 * A splice whose backend leg cannot be joined to the client's (splice.c)
 * gives the client back: it starts over as a proxied client that has
 * already read iov, parses that head again (the backend is chosen again;
 * the one that refused the options is remembered, see splice_fits()) and
 * is never offered to the splicer again. Its socket is not in the epoll
 * set (taken out before the hand-over).
 */
int proxy_adopt(struct lb_worker *w, struct lb_wrt *wrt, size_t listener, int fd,
		const struct sockaddr_storage *peer, const struct iovec *iov, int iovcnt)
{
	struct lb_client *c;
	size_t len = 0;
	int i;

	for (i = 0; i < iovcnt; i++)
		len += iov[i].iov_len;
	if (len > w->bufsize)
		return -EMSGSIZE; /* cannot be: it all came out of one such buffer */
	c = client_new(w, wrt, listener, fd, peer);
	if (!c)
		return -ENOMEM;
	if (buf_ensure(w, &c->in)) {
		c->s.io.fd = -1;
		client_close(c);
		return -ENOMEM;
	}
	for (i = 0; i < iovcnt; i++) {
		memcpy(c->in.p + c->in.tail, iov[i].iov_base, iov[i].iov_len);
		c->in.tail += (uint32_t)iov[i].iov_len;
	}
	c->no_splice = true;
	c->counted = true;
	c->s.rd = true;
	c->s.wr = true;
	client_run(c);
	return 0;
}

static void on_accept(struct ev_loop *loop, struct ev_io *io, uint32_t ev)
{
	struct lb_lsock *ls = container_of(io, struct lb_lsock, io);
	struct lb_worker *w = ls->w;
	size_t li = ls->idx;
	int i;

	(void)loop;
	(void)ev;
	/*
	 * Dropped by a reload earlier in this round; or a reload was published
	 * during the round: the listener is level-triggered, so its backlog is
	 * reported again next round, after the switch (worker_before_dispatch),
	 * and no connection accepted after a reload is balanced on the
	 * configuration it replaced.
	 */
	if (io->fd < 0)
		return;
	for (i = 0; i < 64; i++) {
		struct sockaddr_storage ss = { 0 };
		socklen_t sl = sizeof(ss);
		struct lb_client *c;
		int fd;

		if (__atomic_load_n(&w->rt_next, __ATOMIC_RELAXED))
			return;
		fd = accept4(io->fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN)
				log_warn("accept: %s", log_errstr(errno));
			return;
		}
		c = client_new(w, w->wrt, li, fd, &ss);
		if (!c) {
			close(fd);
			continue;
		}
		STAT_ADD(w->ws.accepted, 1);
		/*
		 * The request usually arrives with the handshake's last ACK, before
		 * the accept: read it now rather than wait for epoll to say so
		 * (HAProxy does the same). A new socket can take bytes, too.
		 */
		c->s.rd = true;
		c->s.wr = true;
		client_run(c);
	}
}

/* ------------------------------------------------------ worker and runtime */

static void wrt_free(struct lb_wrt *wrt)
{
	size_t i;

	if (!wrt)
		return;
	if (wrt->bal)
		for (i = 0; i < wrt->rt->npools; i++)
			bal_free(wrt->bal[i]);
	free(wrt->bal);
	free(wrt->idle);
	free(wrt->nidle);
	rt_put(wrt->rt);
	free(wrt);
}

/* Brings the balancers in line with the backends' shared health words. */
static void wrt_sync_health(struct lb_wrt *wrt)
{
	struct lb_runtime *rt = wrt->rt;
	size_t p, i;

	/* Acquire: pairs with the release in rt_set_up(), so `up` is current. */
	wrt->seen_health_gen = __atomic_load_n(&rt->health_gen, __ATOMIC_ACQUIRE);
	for (p = 0; p < rt->npools; p++)
		for (i = 0; i < rt->pools[p].n; i++)
			bal_set_usable(wrt->bal[p], i, rt_usable(&rt->pools[p].be[i]));
}

static int wrt_create(struct lb_worker *w, struct lb_runtime *rt, struct lb_wrt **out)
{
	struct lb_wrt *wrt = calloc(1, sizeof(*wrt));
	struct bal_backend *bb = NULL;
	size_t p, i;
	int ret = -ENOMEM;

	if (!wrt)
		return -ENOMEM;
	rt_get(rt);
	wrt->rt = rt;
	wrt->w = w;
	/* Arrays of pointers, one per pool and one per backend. */
	wrt->bal = calloc(rt->npools, sizeof(struct bal *));
	wrt->idle = calloc(rt->nbackends, sizeof(struct lb_server *));
	wrt->nidle = calloc(rt->nbackends, sizeof(*wrt->nidle));
	wrt->bstats = rt->bstats + (size_t)w->id * rt->nbackends;
	if (!wrt->bal || !wrt->idle || !wrt->nidle)
		goto err;
	for (p = 0; p < rt->npools; p++) {
		const struct cfg_pool *pc = rt->pools[p].cfg;

		bb = calloc(pc->nbackends, sizeof(*bb));
		if (!bb) {
			ret = -ENOMEM; /* an earlier pool's bal_create() left it 0 */
			goto err;
		}
		for (i = 0; i < pc->nbackends; i++) {
			bb[i].name = pc->backends[i].addr.text;
			bb[i].weight = pc->backends[i].drain ? 0 : pc->backends[i].weight;
		}
		ret = bal_create(pc->balance, bb, pc->nbackends, &wrt->bal[p]);
		free(bb);
		bb = NULL;
		if (ret)
			goto err;
	}
	wrt_sync_health(wrt);
	*out = wrt;
	return 0;
err:
	wrt_free(wrt);
	return ret;
}

static void wrt_close_idle(struct lb_wrt *wrt)
{
	size_t i;

	for (i = 0; i < wrt->rt->nbackends; i++)
		while (wrt->idle[i])
			server_close(wrt->w, wrt->idle[i]);
}

void wrt_unuse(struct lb_wrt *wrt)
{
	struct lb_worker *w = wrt->w;
	struct lb_wrt **pp;

	if (--wrt->users || wrt == w->wrt)
		return;
	for (pp = &w->old; *pp; pp = &(*pp)->next_old) {
		if (*pp == wrt) {
			*pp = wrt->next_old;
			break;
		}
	}
	wrt_free(wrt);
}

static void free_graves(struct lb_worker *w)
{
	while (w->grave_c) {
		struct lb_client *c = w->grave_c;

		w->grave_c = c->grave;
		wrt_unuse(c->wrt);
		free(c);
	}
	while (w->grave_s) {
		struct lb_server *s = w->grave_s;

		w->grave_s = s->grave;
		wrt_unuse(s->wrt);
		free(s);
	}
	while (w->grave_l) {
		struct lb_lsock *ls = w->grave_l;

		w->grave_l = ls->grave;
		free(ls);
	}
}

static int listener_open(struct lb_worker *w, size_t idx, const struct cfg_listener *li,
			 struct lb_lsock **out)
{
	struct lb_lsock *ls = calloc(1, sizeof(*ls));
	int fd, one = 1, ret;

	if (!ls)
		return -ENOMEM;
	fd = rt_listen(&li->addr, LB_BACKLOG);
	if (fd < 0) {
		ret = fd;
		goto err_free;
	}
	/*
	 * Accepted sockets inherit TCP_NODELAY from the listener (Linux copies
	 * the listener's TCP state into each child): one call here instead of
	 * one per connection.
	 */
	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) == -1) {
		ret = -errno;
		goto err_close;
	}
	ls->w = w;
	ls->idx = idx;
	ls->key = li->addr.ss;
	ls->key_len = li->addr.len;
	ret = ev_io_add(&w->loop, &ls->io, fd, EPOLLIN, on_accept);
	if (ret)
		goto err_close;
	*out = ls;
	return 0;
err_close:
	close(fd);
err_free:
	free(ls);
	return ret;
}

/* Closes ls now; its memory goes after the round (events may point at it). */
static void listener_retire(struct lb_worker *w, struct lb_lsock *ls)
{
	/* close() alone would leave the set only if nothing shared the file. */
	ev_io_del(&w->loop, &ls->io);
	close(ls->io.fd);
	ls->io.fd = -1;
	ls->grave = w->grave_l;
	w->grave_l = ls;
}

static void listeners_close(struct lb_worker *w)
{
	size_t i;

	for (i = 0; i < w->nl; i++)
		if (w->ls[i])
			listener_retire(w, w->ls[i]);
	free(w->ls);
	w->ls = NULL;
	w->nl = 0;
}

/*
 * Opens this worker's sockets for the listeners of cfg, keeping (not
 * re-binding, not even re-registering) those whose address did not change,
 * so a reload never refuses a connection on an address it keeps. -ENOMEM
 * changes nothing; otherwise the new set is installed and the result is
 * the last listener's error, if one could not be opened (logged; its slot
 * stays NULL). The main thread binds every address before it publishes a
 * reload, so on a reload that takes a race with another program.
 */
static int listeners_update(struct lb_worker *w, const struct cfg *cfg)
{
	struct lb_lsock **ls = calloc(cfg->nlisteners, sizeof(struct lb_lsock *));
	size_t i, j;
	int ret = 0, r;

	if (!ls)
		return -ENOMEM;
	for (i = 0; i < cfg->nlisteners; i++) {
		const struct cfg_listener *li = &cfg->listeners[i];

		for (j = 0; j < w->nl; j++) {
			if (w->ls[j] && w->ls[j]->key_len == li->addr.len &&
			    memcmp(&w->ls[j]->key, &li->addr.ss, li->addr.len) == 0) {
				ls[i] = w->ls[j];
				ls[i]->idx = i;
				w->ls[j] = NULL;
				break;
			}
		}
		if (!ls[i]) {
			r = listener_open(w, i, li, &ls[i]);
			if (r) {
				log_err("worker %u: listen %s: %s", w->id, li->addr.text,
					log_errstr(-r));
				ret = r;
			}
		}
	}
	listeners_close(w);
	w->ls = ls;
	w->nl = cfg->nlisteners;
	return ret;
}

int worker_init(struct lb_worker *w, unsigned id, size_t nworkers, struct lb_runtime *rt,
		struct lb_graph *graph, struct lc_agent *agent, int log_fd)
{
	int ret;

	memset(w, 0, sizeof(*w));
	w->id = id;
	w->nworkers = nworkers;
	w->agent = agent;
	w->graph = graph;
	w->log_fd = log_fd;
	w->bufsize = rt->cfg->max_header + LB_HEAD_EXTRA;
	if (w->bufsize < (16u << 10))
		w->bufsize = 16u << 10;
	ret = ev_loop_init(&w->loop);
	if (ret)
		return ret;
	w->pipes = calloc(2 * (size_t)LB_MAX_PIPES, sizeof(int));
	w->logbuf = log_fd >= 0 ? malloc(65536) : NULL;
	if (!w->pipes || (log_fd >= 0 && !w->logbuf)) {
		ret = -ENOMEM;
		goto err;
	}
	ret = wrt_create(w, rt, &w->wrt);
	if (ret)
		goto err;
	if (agent) {
		ret = splicer_create(w, rt->cfg, &w->splicer);
		if (ret)
			goto err;
	}
	ret = listeners_update(w, rt->cfg);
	if (ret)
		goto err;
	return 0;
err:
	worker_fini(w);
	return ret;
}

void worker_fini(struct lb_worker *w)
{
	struct lb_runtime *pending = __atomic_exchange_n(&w->rt_next, NULL, __ATOMIC_ACQ_REL);
	size_t i;

	if (pending) /* a reload that came after the worker's last round */
		rt_put(pending);
	listeners_close(w);
	free_graves(w);
	splicer_free(w->splicer);
	w->splicer = NULL;
	if (w->wrt)
		wrt_close_idle(w->wrt);
	free_graves(w);
	while (w->old) {
		struct lb_wrt *o = w->old;

		w->old = o->next_old;
		wrt_free(o);
	}
	wrt_free(w->wrt);
	w->wrt = NULL;
	for (i = 0; i < 2 * w->npipes; i++)
		close(w->pipes[i]);
	free(w->pipes);
	w->pipes = NULL;
	while (w->freebufs) {
		struct lb_freebuf *f = w->freebufs;

		w->freebufs = f->next;
		free(f);
	}
	free(w->logbuf);
	w->logbuf = NULL;
	ev_loop_fini(&w->loop);
}

static void worker_flush_log(struct lb_worker *w)
{
	if (w->log_fd >= 0 && w->loglen) {
		ssize_t wr = write(w->log_fd, w->logbuf, w->loglen);

		(void)wr;
		w->loglen = 0;
	}
}

/* Adopts a runtime published by the main thread (reload). */
static void worker_switch(struct lb_worker *w, struct lb_runtime *rt)
{
	struct lb_wrt *nw = NULL;
	int ret = wrt_create(w, rt, &nw);

	rt_put(rt); /* the reference the main thread handed over */
	/*
	 * A draining worker has closed its listeners for good; otherwise the
	 * listeners must follow the runtime, since clients index its listener
	 * array (only -ENOMEM leaves them as they were).
	 */
	if (!ret && !READ_ONCE(w->stop) && listeners_update(w, rt->cfg) == -ENOMEM) {
		wrt_free(nw);
		ret = -ENOMEM;
	}
	if (ret) {
		log_err("worker %u: reload: %s; keeping the running configuration", w->id,
			log_errstr(-ret));
		return;
	}
	wrt_close_idle(w->wrt);
	if (w->wrt->users) {
		w->wrt->next_old = w->old;
		w->old = w->wrt;
	} else {
		wrt_free(w->wrt);
	}
	w->wrt = nw;
}

/* Draining: clients between requests are closed; the others after their response. */
static void close_idle_clients(struct lb_worker *w)
{
	struct lb_client *c = w->clients, *next;

	for (; c; c = next) {
		next = c->cnext;
		if (c->rs == RESP_NONE && !buf_len(&c->in))
			client_close(c);
	}
}

/*
 * A reload takes effect between a wait and the callbacks of its round, so
 * that every event the wait returned, however long the worker slept in it,
 * is handled on the newest configuration (an idle worker sleeps up to a
 * second). Listeners and connections the switch drops are freed only after
 * the round, since its events may point at them.
 */
static void worker_before_dispatch(struct ev_loop *loop)
{
	struct lb_worker *w = container_of(loop, struct lb_worker, loop);
	struct lb_runtime *next;

	w->defer = true;
	/* A plain load first: the exchange's locked cycle only on a reload. */
	if (!__atomic_load_n(&w->rt_next, __ATOMIC_RELAXED))
		return;
	/* Pairs with the main thread's release exchange: the whole runtime is visible. */
	next = __atomic_exchange_n(&w->rt_next, NULL, __ATOMIC_ACQ_REL);
	if (next)
		worker_switch(w, next);
}

/*
 * Once a second; on worker 0 with one-shot connections every 100 ms, so
 * that their records (agent.c) never fill the ring between two takes.
 */
static void on_tick(struct ev_loop *loop, struct ev_timer *t)
{
	struct lb_worker *w = container_of(t, struct lb_worker, tick);
	bool os = w->id == 0 && agent_oneshot_on(w->agent);
	uint64_t now = ev_now(loop);

	take_oneshots(w);
	if (!os || now - w->tick_slow >= 1000) {
		w->tick_slow = now;
		worker_flush_log(w);
		if (w->graph)
			graph_flush(w->graph, w->id);
	}
	ev_timer_arm(loop, t, now + (os ? 100 : 1000));
}

void worker_last_oneshots(struct lb_worker *w)
{
	take_oneshots(w);
	worker_flush_log(w);
	if (w->graph)
		graph_flush(w->graph, w->id);
}

/* Request writes grouped by backend, then answers; dead clients anywhere. */
static size_t writer_key(const struct lb_client *c)
{
	if (!c->dead && c->srv && (c->up.head < c->up.tail || c->in_body))
		return c->srv->be->gidx;
	return SIZE_MAX;
}

static int writer_cmp(const void *a, const void *b)
{
	size_t x = ((const struct lb_writer *)a)->key, y = ((const struct lb_writer *)b)->key;

	return (x > y) - (x < y);
}

/*
 * The end of a round's callbacks (the loop's after_dispatch hook, so before
 * its timers, which then judge deadlines the writes moved): the queued
 * writes, in an order that wakes each backend once per group of requests.
 * Clients are still allocated (graves are freed after the round), and
 * nothing queues meanwhile: defer is off, and stays off for the timers.
 */
static void run_writers(struct ev_loop *loop)
{
	struct lb_worker *w = container_of(loop, struct lb_worker, loop);
	size_t n = w->nwriters, i;

	w->defer = false;
	w->nwriters = 0;
	for (i = 0; i < n; i++)
		w->writers[i].key = writer_key(w->writers[i].c);
	if (n > 1)
		qsort(w->writers, n, sizeof(struct lb_writer), writer_cmp);
	for (i = 0; i < n; i++) {
		struct lb_client *c = w->writers[i].c;

		c->wqueued = false;
		if (!c->dead)
			client_run(c);
	}
}

void *worker_main(void *arg)
{
	struct lb_worker *w = arg;
	bool draining = false;

	ev_timer_init(&w->tick, on_tick);
	ev_timer_arm(&w->loop, &w->tick, ev_now(&w->loop) + 1000);
	w->loop.before_dispatch = worker_before_dispatch;
	w->loop.after_dispatch = run_writers;
	for (;;) {
		int r = ev_run_once(&w->loop, 1000);

		if (r < 0) {
			log_err("worker %u: epoll: %s", w->id, log_errstr(-r));
			break;
		}
		free_graves(w);
		if (READ_ONCE(w->wrt->rt->health_gen) != w->wrt->seen_health_gen)
			wrt_sync_health(w->wrt);
		if (READ_ONCE(w->stop)) {
			if (!draining) {
				/* Stop accepting; let requests in flight finish. */
				draining = true;
				w->draining_since = ev_now(&w->loop);
				listeners_close(w);
				wrt_close_idle(w->wrt);
				close_idle_clients(w);
			}
			if ((READ_ONCE(w->ws.clients) == 0 && !splicer_count(w->splicer)) ||
			    ev_now(&w->loop) - w->draining_since >=
				    w->wrt->rt->cfg->drain_timeout_ms ||
			    READ_ONCE(w->stop) > 1)
				break;
		}
	}
	take_oneshots(w);
	worker_flush_log(w);
	if (w->graph)
		graph_flush(w->graph, w->id);
	return NULL;
}

/* Rows are summed inside one runtime, which the caller holds a reference on. */
void worker_sum_bstats(const struct lb_runtime *rt, struct lb_bstats *out)
{
	size_t k, i, j;

	memset(out, 0, rt->nbackends * sizeof(*out));
	for (k = 0; k < rt->nworkers; k++) {
		for (i = 0; i < rt->nbackends; i++) {
			const uint64_t *src = (const uint64_t *)&rt->bstats[k * rt->nbackends + i];
			uint64_t *dst = (uint64_t *)&out[i];

			for (j = 0; j < sizeof(*out) / sizeof(uint64_t); j++)
				dst[j] += READ_ONCE(src[j]);
		}
	}
}

void worker_sum_wstats(struct lb_worker *ws, size_t nw, struct lb_wstats *out)
{
	size_t k, j;

	memset(out, 0, sizeof(*out));
	for (k = 0; k < nw; k++) {
		const uint64_t *src = (const uint64_t *)&ws[k].ws;
		uint64_t *dst = (uint64_t *)out;

		for (j = 0; j < sizeof(*out) / sizeof(uint64_t); j++)
			dst[j] += READ_ONCE(src[j]);
	}
}
