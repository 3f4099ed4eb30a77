/* SPDX-License-Identifier: MIT */
/*
 * tsord's broker: listener registry, connect intents and their matching
 * against accepted sockets, channel creation, counters. The protocol and
 * the reasons for each step are the essay in abi.h.
 *
 * State (all in this single thread, so every request is atomic):
 *
 *   clients[]    one per Unix connection: fd, pid/uid from SO_PEERCRED, id
 *   listeners[]  (netns inode, address, dual-stack?) -> owner client
 *   intents[]    (netns inode, client port, server address) -> memfd,
 *                bell0, bell1, a mapping of the channel's first page (to
 *                set accepted), owner client, creation time
 *
 * Lookups are linear: a host has few listeners, and intents live only
 * between a connect and its accept. Intents leave by ASK (matched), CANCEL,
 * their owner disconnecting (a connector that died before its server
 * accepted: the ASK then answers "plain", and the server reads the kernel
 * socket's EOF) or INTENT_TTL. Everything tsord reads about a socket it
 * reads from the socket itself: getsockname/getpeername, SO_ACCEPTCONN,
 * and the network namespace via SIOCGSKNS; then it closes its copy, so it
 * never holds a connection or a listener open.
 *
 * Locality: a wildcard listener matches a destination only if the
 * destination is a local address of the connector's namespace (a UDP bind
 * to it succeeds there; for another namespace, in a thread that entered it
 * with setns()); a listener on a specific address matches only that
 * address, which is local by construction.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "tsor-int.h"

#define INTENT_TTL_NS (120ull * 1000000000u)
#define MAX_CLIENTS   4096
#define MAX_INTENTS   65536
#define MAP_HDR	      4096u

struct client {
	int fd;	     /* the Unix connection */
	pid_t pid;   /* SO_PEERCRED at accept, for the log */
	uid_t uid;   /* SO_PEERCRED at accept */
	uint64_t id; /* owner tag for its listeners and intents */
};

struct listener {
	uint64_t id;	       /* handed to the owner for UNLISTEN */
	uint64_t netns;	       /* namespace inode */
	struct tsor_addr addr; /* bound address, from getsockname */
	bool dual;	       /* IPv6 wildcard without IPV6_V6ONLY: takes IPv4 too */
	uint64_t owner;	       /* client id */
};

struct intent {
	uint64_t id;		 /* channel id */
	uint64_t netns;		 /* the connector's namespace */
	uint16_t cport;		 /* the connector's bound port, from getsockname */
	struct tsor_addr server; /* the destination it connects to */
	int fds[TSOR_MAX_FDS];	 /* memfd, then the bells (abi.h) */
	struct tsor_chan *hdr;	 /* first page of the channel, to set accepted */
	uint32_t ring_size;	 /* as created: the connector can rewrite the header's */
	uint64_t owner;		 /* client id */
	uint64_t born_ns;	 /* for INTENT_TTL */
};

struct tsor_daemon {
	struct client *clients;
	size_t nclients;
	struct listener *listeners;
	size_t nlisteners, caplisteners;
	struct intent *intents;
	size_t nintents, capintents;
	uint64_t next_id;
	uint64_t stats[TSOR_STAT_COUNT];
	uint64_t own_netns;
	bool stop;
};

/* ============================ socket facts ============================ */

/* The namespace inode of socket fd, and (if nsfd) an fd for it. */
static int netns_of(int fd, uint64_t *ino, int *nsfd)
{
	struct stat st;
	int ns = ioctl(fd, SIOCGSKNS);

	*ino = 0;
	if (ns < 0)
		return errno ? -errno : -EIO;
	if (fstat(ns, &st) < 0) {
		int ret = -errno;

		close(ns);
		return ret;
	}
	*ino = (uint64_t)st.st_ino;
	if (nsfd)
		*nsfd = ns;
	else
		close(ns);
	return 0;
}

static int sock_addr(int fd, bool peer, struct tsor_addr *a)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int r = peer ? getpeername(fd, (struct sockaddr *)&ss, &len)
		     : getsockname(fd, (struct sockaddr *)&ss, &len);

	memset(a, 0, sizeof(*a));
	if (r < 0)
		return errno ? -errno : -EIO;
	return tsor_addr_from(a, (struct sockaddr *)&ss, len);
}

static int sockopt_int(int fd, int level, int name)
{
	int v = 0;
	socklen_t len = sizeof(v);

	if (getsockopt(fd, level, name, &v, &len) < 0)
		return -errno;
	return v;
}

/* True when a UDP socket can bind to a (port 0) in the current namespace. */
static bool bind_test(const struct tsor_addr *a)
{
	struct sockaddr_storage ss;
	socklen_t len;
	bool ok;
	int s;

	memset(&ss, 0, sizeof(ss));
	if (a->family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)&ss;

		in->sin_family = AF_INET;
		memcpy(&in->sin_addr, a->addr, 4);
		len = sizeof(*in);
	} else {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;

		in6->sin6_family = AF_INET6;
		memcpy(&in6->sin6_addr, a->addr, 16);
		len = sizeof(*in6);
	}
	s = socket(a->family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return false;
	ok = bind(s, (struct sockaddr *)&ss, len) == 0;
	close(s);
	return ok;
}

struct ns_probe {
	int nsfd;
	const struct tsor_addr *a;
	bool local;
};

static void *ns_probe_thread(void *arg)
{
	struct ns_probe *p = arg;

	/* setns(CLONE_NEWNET) moves only this thread, which then exits. */
	if (setns(p->nsfd, CLONE_NEWNET) == 0)
		p->local = bind_test(p->a);
	return NULL;
}

static bool dst_is_local(struct tsor_daemon *d, int sock, const struct tsor_addr *dst)
{
	struct ns_probe p = { .a = dst };
	uint64_t ino;
	pthread_t t;

	if (netns_of(sock, &ino, &p.nsfd))
		return false;
	if (ino == d->own_netns) {
		close(p.nsfd);
		return bind_test(dst);
	}
	if (pthread_create(&t, NULL, ns_probe_thread, &p) == 0)
		pthread_join(t, NULL);
	close(p.nsfd);
	return p.local;
}

/* ============================ registry ============================ */

static struct listener *find_listener(struct tsor_daemon *d, uint64_t netns,
				      const struct tsor_addr *dst, int sock)
{
	struct listener *wild = NULL;

	for (size_t i = 0; i < d->nlisteners; i++) {
		struct listener *l = &d->listeners[i];

		if (l->netns != netns || l->addr.port != dst->port)
			continue;
		if (tsor_addr_eq(&l->addr, dst))
			return l;
		if (tsor_addr_is_any(&l->addr) &&
		    (l->addr.family == dst->family || (l->dual && dst->family == AF_INET)))
			wild = l;
	}
	if (wild && !dst_is_local(d, sock, dst))
		wild = NULL;
	return wild;
}

static void intent_free(struct tsor_daemon *d, size_t i)
{
	struct intent *it = &d->intents[i];

	munmap(it->hdr, MAP_HDR);
	for (int k = 0; k < TSOR_MAX_FDS; k++)
		close(it->fds[k]);
	d->intents[i] = d->intents[--d->nintents];
}

static void expire(struct tsor_daemon *d)
{
	uint64_t now = tsor_now_ns();

	for (size_t i = 0; i < d->nintents;) {
		if (now - d->intents[i].born_ns > INTENT_TTL_NS)
			intent_free(d, i);
		else
			i++;
	}
}

/* ============================ requests ============================ */

static int do_listen(struct tsor_daemon *d, struct client *c, int sock, struct tsor_msg *r)
{
	struct listener l = { .owner = c->id };
	int ret;

	if (sock < 0)
		return -EBADF;
	if (sockopt_int(sock, SOL_SOCKET, SO_ACCEPTCONN) != 1 ||
	    sockopt_int(sock, SOL_SOCKET, SO_TYPE) != SOCK_STREAM)
		return -EINVAL;
	ret = netns_of(sock, &l.netns, NULL);
	if (!ret)
		ret = sock_addr(sock, false, &l.addr);
	if (ret)
		return ret;
	l.dual = l.addr.family == AF_INET6 && tsor_addr_is_any(&l.addr) &&
		 sockopt_int(sock, IPPROTO_IPV6, IPV6_V6ONLY) == 0;
	/* One registration per (netns, address): a re-listen replaces it. */
	for (size_t i = 0; i < d->nlisteners; i++)
		if (d->listeners[i].netns == l.netns &&
		    tsor_addr_eq(&d->listeners[i].addr, &l.addr))
			d->listeners[i] = d->listeners[--d->nlisteners];
	if (d->nlisteners == d->caplisteners) {
		size_t cap = d->caplisteners ? 2 * d->caplisteners : 16;
		struct listener *p = realloc(d->listeners, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		d->listeners = p;
		d->caplisteners = cap;
	}
	l.id = ++d->next_id;
	d->listeners[d->nlisteners++] = l;
	r->id = l.id;
	{
		char a[64];

		tsor_addr_format(&l.addr, a, sizeof(a));
		log_info("listener %llu at %s (netns %llu, pid %d)", (unsigned long long)l.id, a,
			 (unsigned long long)l.netns, (int)c->pid);
	}
	return 0;
}

static int do_unlisten(struct tsor_daemon *d, struct client *c, const struct tsor_msg *m)
{
	for (size_t i = 0; i < d->nlisteners; i++) {
		if (d->listeners[i].id == m->id && d->listeners[i].owner == c->id) {
			d->listeners[i] = d->listeners[--d->nlisteners];
			return 0;
		}
	}
	return -ENOENT;
}

static int do_query(struct tsor_daemon *d, int sock, const struct tsor_msg *m)
{
	uint64_t netns;
	int ret;

	if (sock < 0)
		return -EBADF;
	ret = netns_of(sock, &netns, NULL);
	if (ret)
		return ret;
	return find_listener(d, netns, &m->addr, sock) ? 0 : -ENOENT;
}

static int do_intent(struct tsor_daemon *d, struct client *c, int sock, const struct tsor_msg *m,
		     struct tsor_msg *r, int *fds, int *nfds)
{
	struct intent it = { .owner = c->id, .server = m->addr, .fds = { -1, -1, -1, -1, -1 } };
	struct tsor_addr local;
	uint32_t rs = m->ring_size ? m->ring_size : TSOR_RING_DEFAULT;
	void *hdr;
	int ret;

	if (sock < 0)
		return -EBADF;
	if (d->nintents >= MAX_INTENTS)
		return -EAGAIN;
	ret = netns_of(sock, &it.netns, NULL);
	if (!ret)
		ret = sock_addr(sock, false, &local);
	if (ret)
		return ret;
	if (!local.port || sockopt_int(sock, SOL_SOCKET, SO_TYPE) != SOCK_STREAM)
		return -EINVAL; /* the lib binds before asking; the port is the key */
	if (!find_listener(d, it.netns, &m->addr, sock))
		return -ENOENT;
	it.cport = local.port;
	it.id = ++d->next_id;
	ret = tsor_chan_create(rs, it.id, &it.fds[0]);
	if (ret)
		return ret;
	for (int k = 1; k <= TSOR_BELLS; k++) {
		it.fds[k] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (it.fds[k] < 0) {
			ret = -errno;
			goto err_close;
		}
	}
	hdr = mmap(NULL, MAP_HDR, PROT_READ | PROT_WRITE, MAP_SHARED, it.fds[0], 0);
	if (hdr == MAP_FAILED) {
		ret = -errno;
		goto err_close;
	}
	it.hdr = hdr;
	if (d->nintents == d->capintents) {
		size_t cap = d->capintents ? 2 * d->capintents : 64;
		struct intent *p = realloc(d->intents, cap * sizeof(*p));

		if (!p) {
			ret = -ENOMEM;
			goto err_unmap;
		}
		d->intents = p;
		d->capintents = cap;
	}
	/* A port reused by a new connection replaces a stale intent. */
	for (size_t i = 0; i < d->nintents; i++)
		if (d->intents[i].netns == it.netns && d->intents[i].cport == it.cport &&
		    tsor_addr_eq(&d->intents[i].server, &it.server)) {
			intent_free(d, i);
			break;
		}
	it.ring_size = rs;
	it.born_ns = tsor_now_ns();
	d->intents[d->nintents++] = it;
	memcpy(fds, it.fds, sizeof(it.fds));
	*nfds = TSOR_MAX_FDS;
	r->id = it.id;
	r->ring_size = rs;
	return 0;

err_unmap:
	munmap(it.hdr, MAP_HDR);
err_close:
	for (int k = 0; k < TSOR_MAX_FDS; k++)
		if (it.fds[k] >= 0)
			close(it.fds[k]);
	return ret;
}

static int do_cancel(struct tsor_daemon *d, struct client *c, const struct tsor_msg *m)
{
	for (size_t i = 0; i < d->nintents; i++) {
		if (d->intents[i].id == m->id && d->intents[i].owner == c->id) {
			intent_free(d, i);
			d->stats[TSOR_STAT_FALLBACK]++;
			return 0;
		}
	}
	/* Matched (or expired): the channel's accepted flag tells which. */
	return -EALREADY;
}

/*
 * ASK: fds[] receives the channel for the reply. The intent's fds are
 * sent, then closed by the caller (*done_idx tells which intent to free).
 */
static int do_ask(struct tsor_daemon *d, int sock, struct tsor_msg *r, int *fds, int *nfds,
		  ssize_t *match)
{
	struct tsor_addr local, peer;
	uint64_t netns;
	int ret;

	*match = -1;
	if (sock < 0)
		return -EBADF;
	ret = netns_of(sock, &netns, NULL);
	if (!ret)
		ret = sock_addr(sock, false, &local);
	if (!ret)
		ret = sock_addr(sock, true, &peer);
	if (ret)
		return ret;
	for (size_t i = 0; i < d->nintents; i++) {
		struct intent *it = &d->intents[i];

		if (it->netns != netns || it->cport != peer.port ||
		    !tsor_addr_eq(&it->server, &local))
			continue;
		/* Release: pairs with the connector's acquire load in
		 * state_now(); the decision is final once it is visible. */
		atomic_store_explicit(&it->hdr->accepted, 1, memory_order_release);
		/* A connector waiting to confirm sleeps on its rx bell. */
		(void)eventfd_write(it->fds[1 + TSOR_BELL(TSOR_SIDE_CONNECTOR, TSOR_RX)], 1);
		memcpy(fds, it->fds, sizeof(it->fds));
		*nfds = TSOR_MAX_FDS;
		r->id = it->id;
		/* Not hdr->ring_size: the connector maps the header read-write,
		 * and a value it forged would make our reply an invalid frame. */
		r->ring_size = it->ring_size;
		*match = (ssize_t)i;
		d->stats[TSOR_STAT_ACCEL]++;
		return 0;
	}
	d->stats[TSOR_STAT_FALLBACK]++;
	return -ENOENT;
}

/* Handles one request from c; false when the client must be dropped. */
static bool handle(struct tsor_daemon *d, struct client *c)
{
	struct tsor_msg m, r;
	int in[TSOR_MAX_FDS], nin = 0, out[TSOR_MAX_FDS], nout = 0;
	int sock, ret;
	ssize_t match = -1;
	bool reply = true;

	ret = tsor_msg_recv(c->fd, &m, in, &nin);
	if (ret) {
		if (ret != -ECONNRESET)
			log_warn("client pid %d: %s; dropping it", (int)c->pid, log_errstr(-ret));
		return false;
	}
	sock = nin ? in[0] : -1;
	tsor_msg_init(&r, (enum tsor_msg_type)m.type);
	switch (m.type) {
	case TSOR_MSG_PING:
		ret = 0;
		break;
	case TSOR_MSG_LISTEN:
		ret = do_listen(d, c, sock, &r);
		break;
	case TSOR_MSG_UNLISTEN:
		ret = do_unlisten(d, c, &m);
		break;
	case TSOR_MSG_QUERY:
		ret = do_query(d, sock, &m);
		break;
	case TSOR_MSG_INTENT:
		ret = do_intent(d, c, sock, &m, &r, out, &nout);
		break;
	case TSOR_MSG_CANCEL:
		ret = do_cancel(d, c, &m);
		break;
	case TSOR_MSG_ASK:
		ret = do_ask(d, sock, &r, out, &nout, &match);
		break;
	case TSOR_MSG_CLOSED:
		/* Self-reported, so only a counter: cap a single report. */
		d->stats[TSOR_STAT_BYTES] += m.val[0] < (1ull << 50) ? m.val[0] : 0;
		reply = false;
		break;
	case TSOR_MSG_FALLBACK:
		d->stats[TSOR_STAT_FALLBACK]++;
		reply = false;
		break;
	case TSOR_MSG_STATS:
		d->stats[TSOR_STAT_LISTENERS] = d->nlisteners;
		d->stats[TSOR_STAT_INTENTS] = d->nintents;
		d->stats[TSOR_STAT_CLIENTS] = d->nclients;
		memcpy(r.val, d->stats, sizeof(d->stats));
		ret = 0;
		break;
	case TSOR_MSG_STOP:
		log_info("stop requested by pid %d", (int)c->pid);
		d->stop = true;
		ret = 0;
		break;
	default:
		ret = -EINVAL;
	}
	for (int i = 0; i < nin; i++)
		close(in[i]);
	if (reply) {
		r.status = ret;
		ret = tsor_msg_send(c->fd, &r, out, nout);
		if (ret)
			log_warn("client pid %d: reply: %s", (int)c->pid, log_errstr(-ret));
	}
	if (match >= 0)
		intent_free(d, (size_t)match); /* both ends have it now */
	else if (m.type == TSOR_MSG_INTENT && r.status && nout)
		for (int i = 0; i < nout; i++)
			close(out[i]);
	return true;
}

static void drop_client(struct tsor_daemon *d, size_t i)
{
	struct client *c = &d->clients[i];

	for (size_t k = 0; k < d->nlisteners;) {
		if (d->listeners[k].owner == c->id)
			d->listeners[k] = d->listeners[--d->nlisteners];
		else
			k++;
	}
	for (size_t k = 0; k < d->nintents;) {
		if (d->intents[k].owner == c->id)
			intent_free(d, k);
		else
			k++;
	}
	log_debug("client pid %d gone", (int)c->pid);
	close(c->fd);
	d->clients[i] = d->clients[--d->nclients];
}

static void add_client(struct tsor_daemon *d, int fd)
{
	struct ucred cr = { 0 };
	socklen_t len = sizeof(cr);
	struct timeval tv = { .tv_sec = 2 };

	if (d->nclients >= MAX_CLIENTS) {
		log_warn("too many clients (%d); refusing one", MAX_CLIENTS);
		close(fd);
		return;
	}
	/* A client that sends half a frame must not stall the broker. */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0) {
		log_warn("SO_PEERCRED: %s; refusing the client", log_errstr(errno));
		close(fd);
		return;
	}
	log_debug("client pid %d uid %u", (int)cr.pid, (unsigned)cr.uid);
	d->clients[d->nclients++] =
		(struct client){ .fd = fd, .pid = cr.pid, .uid = cr.uid, .id = ++d->next_id };
}

struct tsor_daemon *tsor_daemon_new(void)
{
	struct tsor_daemon *d = calloc(1, sizeof(*d));
	int ns;
	struct stat st;

	if (!d)
		return NULL;
	d->clients = calloc(MAX_CLIENTS, sizeof(*d->clients));
	if (!d->clients) {
		free(d);
		return NULL;
	}
	ns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (ns >= 0 && fstat(ns, &st) == 0)
		d->own_netns = st.st_ino;
	if (ns >= 0)
		close(ns);
	return d;
}

void tsor_daemon_add(struct tsor_daemon *d, int fd)
{
	add_client(d, fd);
}

bool tsor_daemon_serve_one(struct tsor_daemon *d, size_t i)
{
	if (handle(d, &d->clients[i]))
		return true;
	drop_client(d, i);
	return false;
}

bool tsor_daemon_stopping(const struct tsor_daemon *d)
{
	return d->stop;
}

void tsor_daemon_free(struct tsor_daemon *d)
{
	if (!d)
		return;
	while (d->nclients)
		drop_client(d, d->nclients - 1);
	while (d->nintents)
		intent_free(d, d->nintents - 1);
	free(d->listeners);
	free(d->intents);
	free(d->clients);
	free(d);
}

int tsor_daemon_serve(int lsock)
{
	struct tsor_daemon *d = tsor_daemon_new();
	struct pollfd *p = calloc(MAX_CLIENTS + 1, sizeof(*p));
	int ret = 0;

	if (!d || !p) {
		ret = -ENOMEM;
		goto out;
	}
	while (!d->stop) {
		size_t n = d->nclients;
		int k;

		p[0] = (struct pollfd){ .fd = lsock, .events = POLLIN };
		for (size_t i = 0; i < n; i++)
			p[i + 1] = (struct pollfd){ .fd = d->clients[i].fd, .events = POLLIN };
		k = poll(p, n + 1, 1000);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			ret = -errno;
			break;
		}
		expire(d);
		/* Clients first, from the end: drop_client moves the last one. */
		for (size_t i = n; i-- > 0;) {
			if (!p[i + 1].revents)
				continue;
			(void)tsor_daemon_serve_one(d, i);
			if (d->stop)
				break;
		}
		if (p[0].revents & POLLIN) {
			int fd = accept4(lsock, NULL, NULL, SOCK_CLOEXEC);

			if (fd >= 0)
				add_client(d, fd);
		}
	}
out:
	tsor_daemon_free(d);
	free(p);
	return ret;
}
