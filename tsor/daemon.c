/* SPDX-License-Identifier: MIT */
/*
 * tsord's broker: listener registry, connect intents and their matching
 * against accepted sockets, channel creation, counters. The protocol and
 * the reasons for each step are the essay in abi.h.
 *
 * State (all in this single thread, so every request is atomic):
 *
 *   clients[]    one per Unix connection: fd, pid/uid from SO_PEERCRED, id,
 *                the frame being reassembled (non-blocking), recent matches
 *   listeners[]  (netns inode, address, dual-stack?) -> owner client
 *   intents[]    (netns inode, connector's bound address and port, folded
 *                to the wire family, server address) -> memfd, bells, a
 *                mapping of the channel's first page (to set accepted),
 *                owner client, creation time
 *
 * Lookups are linear: a host has few listeners, and intents live only
 * between a connect and its accept. Intents leave by ASK (matched), CANCEL,
 * their owner disconnecting (a connector that died before its server
 * accepted: the ASK then answers "plain", and the server reads the kernel
 * socket's EOF) or INTENT_TTL. Everything tsord reads about a socket it
 * reads from the socket itself: getsockname/getpeername, SO_ACCEPTCONN,
 * SO_TYPE/SO_PROTOCOL and the TCP state (TCP_INFO), and the network
 * namespace via SIOCGSKNS (or SO_NETNS_COOKIE without CAP_NET_ADMIN); then
 * it closes its copy, so it never holds a connection or a listener open.
 *
 * Trust (security review, 2026-11-26). Every tsord client may be another
 * user. So: a socket handed over must be of the kind the request claims
 * (a listening TCP socket for LISTEN, an accepted ESTABLISHED/CLOSE_WAIT
 * TCP connection for ASK, a TCP socket for QUERY and INTENT); an ASK is
 * matched on the whole tuple (namespace, server address, peer address
 * unless the connector bound the wildcard, peer port, family), and a tuple
 * two intents would fit matches neither; nothing a client does touches
 * another client's intents or listeners (INTENT on a taken key is
 * -EADDRINUSE, CANCEL of someone else's id is -ENOENT); STOP is for root
 * and tsord's own uid; no client can block the loop (non-blocking sockets,
 * reassembly, drop on a full reply queue, lingering closes off-thread);
 * per-client caps bound the fds one client can make tsord hold.
 *
 * Locality: a wildcard listener matches a destination only if the
 * destination is a local address of the connector's namespace (a UDP bind
 * to it succeeds there; for another namespace, in a thread that entered it
 * with setns()); a listener on a specific address matches only that
 * address, which is local by construction.
 *
 * Pods (docs/tsor.md, "Several nodes"): a connect whose namespace has no
 * listener for its destination may find one in another namespace of this
 * node (find_listener_other(): the listener keeps a descriptor of its
 * namespace to test locality there); the intent is then recorded in the
 * server's namespace under the connector's routed source address, and
 * the ASK matches it like any other. Destinations in another node's pod
 * CIDR go to the relay (relay.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "relay.h"
#include "tsor-int.h"

#define INTENT_TTL_NS (120ull * 1000000000u)
#define MAX_CLIENTS   4096
#define MAX_INTENTS   65536
/* Per client: one client must not take all of tsord's fds (an intent
 * holds five) or the whole MAX_INTENTS budget. */
#define MAX_CLIENT_INTENTS   4096
#define MAX_CLIENT_LISTENERS 4096
/* accept() of a client failed for lack of fds or memory: stop polling the
 * listening socket this long, instead of spinning on its readiness. */
#define ACCEPT_BACKOFF_NS (100ull * 1000000u)
#define MAP_HDR		  4096u
/* Matched intent ids a client remembers for CANCEL's -EALREADY; a connector
 * cancels within TSOR_CONFIRM_MS of its INTENT, so a few recent ones do
 * (an older one gets -ENOENT, and the lib reads the accepted flag anyway). */
#define MATCHED_KEEP 64
/*
 * Cancelled intents whose late ASK is not counted again. Some ASKs never
 * come (a connect that failed after the program stopped waiting for it, a
 * server that never accepts), so an entry also expires after GONE_TTL: a
 * server accepts within its backlog's time. A plain client reusing the
 * key meanwhile is not counted (rare: the same port to the same server
 * within the minute); an ASK later than that counts one fallback too many.
 */
#define GONE_KEEP   64
#define GONE_TTL_NS (60ull * 1000000000u)
#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71 /* Linux 5.14 */
#endif

/*
 * A client's Unix socket is non-blocking and its frames are reassembled
 * here: a client that sends half a frame (or nothing) costs tsord nothing
 * but this buffer, and one that does not read its replies is dropped when
 * a reply cannot be queued at once (its own loss). Descriptors ride on the
 * first byte of the sendmsg() that carries them; those received while a
 * frame is being assembled belong to that frame (at most TSOR_MAX_FDS,
 * else the client is dropped), and are closed when it has been served or
 * the client goes.
 */
struct client {
	int fd;				      /* the Unix connection, O_NONBLOCK */
	pid_t pid;			      /* SO_PEERCRED at accept, for the log */
	uid_t uid;			      /* SO_PEERCRED at accept */
	uint64_t id;			      /* owner tag for its listeners and intents */
	size_t have;			      /* bytes of buf received */
	int nfds;			      /* descriptors received with this frame */
	int fds[TSOR_MAX_FDS];		      /* them */
	uint64_t matched[MATCHED_KEEP];	      /* its intents matched lately, for CANCEL */
	unsigned matched_pos;		      /* next slot of matched[] */
	bool dead;			      /* a deferred reply failed: drop it */
	uint8_t buf[sizeof(struct tsor_msg)]; /* the frame being received */
};

struct listener {
	uint64_t id;	       /* handed to the owner for UNLISTEN */
	uint64_t netns;	       /* namespace inode */
	struct tsor_addr addr; /* bound address, from getsockname */
	bool dual;	       /* IPv6 wildcard without IPV6_V6ONLY: takes IPv4 too */
	uint64_t owner;	       /* client id */
	int nsfd;	       /* its namespace when not tsord's (pods on this node), else -1 */
};

/*
 * The key of an intent is (netns, local, server): local is the connector's
 * bound address and port from getsockname, folded to the family the
 * connection will have on the wire (the server's); its address may be the
 * wildcard (port only). Two tsord clients never share a key: the second
 * INTENT is refused, nothing of another client's is ever replaced.
 */
struct intent {
	uint64_t id;		 /* channel id */
	uint64_t netns;		 /* the connector's namespace */
	struct tsor_addr local;	 /* the connector's bound address (maybe wildcard) */
	struct tsor_addr server; /* the destination it connects to */
	int fds[TSOR_MAX_FDS];	 /* memfd, then the bells (abi.h) */
	struct tsor_chan *hdr;	 /* first page of the channel, to set accepted */
	uint32_t ring_size;	 /* as created: the connector can rewrite the header's */
	uint64_t owner;		 /* client id */
	uint64_t born_ns;	 /* for INTENT_TTL */
};

/* A cancelled intent's key: its connection is already counted. */
struct gone {
	uint64_t netns; /* 0: free slot */
	struct tsor_addr local, server;
	uint64_t at_ns; /* when cancelled, for GONE_TTL */
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
	struct gone gone[GONE_KEEP]; /* recently cancelled intents, a ring */
	unsigned gone_pos;
	uint64_t own_netns;
	uint64_t own_netns_cookie;   /* SO_NETNS_COOKIE of our namespace, 0 = unknown */
	uint64_t accept_after_ns;    /* accept backoff (ACCEPT_BACKOFF_NS) */
	bool warned_netns;	     /* the "needs root" line was logged */
	int closer;		     /* pipe to the lingering-close thread, or -1 */
	int closer_rd;		     /* its read end, which the thread owns */
	size_t max_client_intents;   /* MAX_CLIENT_INTENTS, or $TSORD_MAX_CLIENT_INTENTS */
	size_t max_client_listeners; /* MAX_CLIENT_LISTENERS, or $TSORD_MAX_CLIENT_LISTENERS */
	pthread_t closer_thread;     /* valid when closer >= 0 */
	struct tsor_relay *relay;    /* other nodes (relay.c), or NULL */
	bool close_out;		     /* the reply's fds are copies: close them once sent */
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

static uint64_t netns_cookie(int fd)
{
	uint64_t v = 0;
	socklen_t len = sizeof(v);

	if (getsockopt(fd, SOL_SOCKET, SO_NETNS_COOKIE, &v, &len) < 0 || len != sizeof(v))
		return 0;
	return v;
}

/*
 * The namespace of socket fd, as netns_of(). SIOCGSKNS needs CAP_NET_ADMIN;
 * a tsord without it (not root) still knows a socket of its own namespace
 * by SO_NETNS_COOKIE, which any process may read from the socket itself
 * (no race, unlike /proc/PID/ns/net of the SO_PEERCRED pid: that pid may
 * have changed namespace, or exited and been reused). Sockets of other
 * namespaces are then refused (-EPERM: their clients fall back to kernel
 * TCP), and the first refusal is logged.
 */
static int sock_netns(struct tsor_daemon *d, int fd, uint64_t *ino, int *nsfd)
{
	int ret = netns_of(fd, ino, nsfd);
	uint64_t ck;

	if (ret != -EPERM)
		return ret;
	ck = netns_cookie(fd);
	if (ck && ck == d->own_netns_cookie && d->own_netns) {
		*ino = d->own_netns;
		if (nsfd)
			*nsfd = -1;
		return 0;
	}
	if (!d->warned_netns) {
		d->warned_netns = true;
		log_warn("a socket of another network namespace cannot be identified without "
			 "CAP_NET_ADMIN (SIOCGSKNS): run tsord as root to accelerate "
			 "connections across namespaces; they stay kernel TCP");
	}
	return -EPERM;
}

/*
 * True when fd is a TCP socket (SOCK_STREAM, IPPROTO_TCP) in one of the
 * TCP states whose bit is set in `states` (1 << TCP_ESTABLISHED ...), read
 * from TCP_INFO: a client cannot pass a UDP, Unix or SCTP socket for a TCP
 * one, nor a listener for a connection.
 */
static bool tcp_in_state(int fd, unsigned states)
{
	struct tcp_info ti;
	socklen_t len = sizeof(int);
	int v = 0;

	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &v, &len) < 0 || v != SOCK_STREAM)
		return false;
	len = sizeof(v);
	if (getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &v, &len) < 0 || v != IPPROTO_TCP)
		return false;
	len = sizeof(ti);
	memset(&ti, 0, sizeof(ti));
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0 || len < 1)
		return false;
	return (states >> ti.tcpi_state) & 1u;
}

#define ST(s) (1u << (s))

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

	if (sock_netns(d, sock, &ino, &p.nsfd))
		return false;
	if (ino == d->own_netns) {
		if (p.nsfd >= 0)
			close(p.nsfd);
		return bind_test(dst);
	}
	if (p.nsfd < 0)
		return false;
	if (pthread_create(&t, NULL, ns_probe_thread, &p) == 0)
		pthread_join(t, NULL);
	close(p.nsfd);
	return p.local;
}

struct route_probe {
	int nsfd;		     /* the connector's namespace, or -1: ours */
	const struct tsor_addr *dst; /* where it connects */
	struct tsor_addr src;	     /* the source address routing picks */
	int ret;		     /* 0 or -errno */
};

/* The source address of a connection to p->dst, as routing picks it
 * (a connected UDP socket's name), in the current namespace. */
static void route_lookup(struct route_probe *p)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int s;

	memset(&ss, 0, sizeof(ss));
	if (p->dst->family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)&ss;

		in->sin_family = AF_INET;
		in->sin_port = htons(p->dst->port);
		memcpy(&in->sin_addr, p->dst->addr, 4);
		len = sizeof(*in);
	} else {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;

		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(p->dst->port);
		memcpy(&in6->sin6_addr, p->dst->addr, 16);
		len = sizeof(*in6);
	}
	s = socket(p->dst->family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0) {
		p->ret = -errno;
		return;
	}
	if (connect(s, (struct sockaddr *)&ss, len) < 0) {
		p->ret = -errno;
		close(s);
		return;
	}
	len = sizeof(ss);
	p->ret = getsockname(s, (struct sockaddr *)&ss, &len) < 0
			 ? -errno
			 : tsor_addr_from(&p->src, (struct sockaddr *)&ss, len);
	close(s);
}

static void *route_thread(void *arg)
{
	struct route_probe *p = arg;

	/* setns(CLONE_NEWNET) moves only this thread, which then exits. */
	if (setns(p->nsfd, CLONE_NEWNET) == 0)
		route_lookup(p);
	else
		p->ret = -errno;
	return NULL;
}

/*
 * The connector's address as the server on another node will see it: its
 * bound address (`local`, folded), or for a wildcard bind the one routing
 * in its namespace picks for dst (Kubernetes' model has no NAT between
 * pods, so that is what the server's accept() sees). 0 or -errno.
 */
static int route_src(struct tsor_daemon *d, int sock, const struct tsor_addr *local,
		     const struct tsor_addr *dst, struct tsor_addr *src)
{
	struct route_probe p = { .nsfd = -1, .dst = dst, .ret = -EIO };
	uint64_t ino;
	pthread_t t;
	int ret;

	*src = *local;
	if (!tsor_addr_is_any(local))
		return 0;
	ret = sock_netns(d, sock, &ino, &p.nsfd);
	if (ret)
		return ret;
	if (ino == d->own_netns || p.nsfd < 0) {
		route_lookup(&p);
	} else if (pthread_create(&t, NULL, route_thread, &p) == 0) {
		pthread_join(t, NULL);
	}
	if (p.nsfd >= 0)
		close(p.nsfd);
	if (p.ret)
		return p.ret;
	memcpy(src->addr, p.src.addr, sizeof(src->addr));
	return p.src.family == dst->family ? 0 : -EINVAL;
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

static void listener_drop(struct tsor_daemon *d, size_t i)
{
	if (d->listeners[i].nsfd >= 0)
		close(d->listeners[i].nsfd);
	d->listeners[i] = d->listeners[--d->nlisteners];
}

struct other_probe {
	int nsfd;		     /* a listener's namespace */
	const struct tsor_addr *dst; /* is this local there? */
	bool local;		     /* the answer */
};

static void *other_probe_thread(void *arg)
{
	struct other_probe *p = arg;

	/* setns(CLONE_NEWNET) moves only this thread, which then exits. */
	if (setns(p->nsfd, CLONE_NEWNET) == 0)
		p->local = bind_test(p->dst);
	return NULL;
}

/*
 * A listener for dst in a namespace other than netns on this node (pods of
 * one node, Kubernetes' model: dst is the other pod's own IP, no NAT): a
 * listener bound to dst itself, or a wildcard one whose namespace has dst
 * as a local address. NULL when none.
 */
static struct listener *find_listener_other(struct tsor_daemon *d, uint64_t netns,
					    const struct tsor_addr *dst)
{
	for (size_t i = 0; i < d->nlisteners; i++) {
		struct listener *l = &d->listeners[i];
		struct other_probe p = { .nsfd = l->nsfd, .dst = dst };
		pthread_t t;

		if (l->netns == netns || l->addr.port != dst->port)
			continue;
		if (tsor_addr_eq(&l->addr, dst))
			return l;
		if (!tsor_addr_is_any(&l->addr) || l->nsfd < 0 ||
		    !(l->addr.family == dst->family || (l->dual && dst->family == AF_INET)))
			continue;
		if (pthread_create(&t, NULL, other_probe_thread, &p) == 0)
			pthread_join(t, NULL);
		if (p.local)
			return l;
	}
	return NULL;
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
	struct listener l = { .owner = c->id, .nsfd = -1 };
	size_t mine = 0;
	int ret;

	if (sock < 0)
		return -EBADF;
	/* A really listening TCP socket: its address is then the proof. */
	if (sockopt_int(sock, SOL_SOCKET, SO_ACCEPTCONN) != 1 ||
	    !tcp_in_state(sock, ST(TCP_LISTEN)))
		return -EINVAL;
	for (size_t i = 0; i < d->nlisteners; i++)
		mine += d->listeners[i].owner == c->id;
	if (mine >= d->max_client_listeners)
		return -EMFILE;
	ret = sock_netns(d, sock, &l.netns, &l.nsfd);
	if (!ret)
		ret = sock_addr(sock, false, &l.addr);
	if (!ret && l.netns == d->own_netns && l.nsfd >= 0) {
		close(l.nsfd); /* ours: no setns needed to probe it */
		l.nsfd = -1;
	}
	if (ret) {
		if (l.nsfd >= 0)
			close(l.nsfd);
		return ret;
	}
	l.dual = l.addr.family == AF_INET6 && tsor_addr_is_any(&l.addr) &&
		 sockopt_int(sock, IPPROTO_IPV6, IPV6_V6ONLY) == 0;
	/* One registration per (netns, address): a re-listen replaces it.
	 * listener_drop() moves the last entry into slot i, which must then
	 * be checked too: advance only past an entry that stays. */
	for (size_t i = 0; i < d->nlisteners;) {
		if (d->listeners[i].netns == l.netns &&
		    tsor_addr_eq(&d->listeners[i].addr, &l.addr))
			listener_drop(d, i);
		else
			i++;
	}
	if (d->nlisteners == d->caplisteners) {
		size_t cap = d->caplisteners ? 2 * d->caplisteners : 16;
		struct listener *p = realloc(d->listeners, cap * sizeof(*p));

		if (!p) {
			if (l.nsfd >= 0)
				close(l.nsfd);
			return -ENOMEM;
		}
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
			listener_drop(d, i);
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
	if (!tcp_in_state(sock, ~0u))
		return -EINVAL;
	ret = sock_netns(d, sock, &netns, NULL);
	if (ret)
		return ret;
	if (find_listener(d, netns, &m->addr, sock) || find_listener_other(d, netns, &m->addr))
		return 0;
	/* Another node's pod: its tsord answers the OPEN (an RST when it has
	 * no listener there, and the connector falls back). */
	return tsor_relay_routes(d->relay, &m->addr) ? 0 : -ENOENT;
}

/*
 * The connector's bound address `local` (from getsockname, folded) as the
 * connection to dst will show it on the wire: an IPv6 socket reaches an
 * IPv4 destination only without IPV6_V6ONLY, from :: (then any IPv4
 * source) or a v4-mapped address (already folded). The family must end
 * up the destination's; a socket that cannot reach dst at all is -EINVAL,
 * so nobody keys an intent on a connection they cannot make.
 */
static int wire_local(int sock, struct tsor_addr *local, const struct tsor_addr *dst)
{
	int domain = sockopt_int(sock, SOL_SOCKET, SO_DOMAIN);

	if (dst->family != AF_INET && dst->family != AF_INET6)
		return -EINVAL;
	if (dst->family == AF_INET && domain == AF_INET6 && local->family == AF_INET6) {
		if (!tsor_addr_is_any(local) || sockopt_int(sock, IPPROTO_IPV6, IPV6_V6ONLY) != 0)
			return -EINVAL;
		local->family = AF_INET; /* :: answers for 0.0.0.0 */
		memset(local->addr, 0, sizeof(local->addr));
	}
	if (dst->family == AF_INET6 && domain != AF_INET6)
		return -EINVAL;
	return local->family == dst->family ? 0 : -EINVAL;
}

/* INTENT towards a pod of another node (relay.c), or -ENOENT. */
static int remote_intent(struct tsor_daemon *d, struct client *c, int sock,
			 const struct tsor_addr *local, const struct tsor_msg *m, uint32_t rs,
			 struct tsor_msg *r, int *fds, int *nfds)
{
	struct tsor_addr src;
	int ret;

	if (!tsor_relay_routes(d->relay, &m->addr))
		return -ENOENT;
	ret = route_src(d, sock, local, &m->addr, &src);
	if (!ret)
		ret = tsor_relay_open(d->relay, c->id, sock, &src, &m->addr, rs, fds, &r->id);
	if (ret)
		return ret;
	*nfds = TSOR_MAX_FDS;
	r->ring_size = rs;
	d->close_out = true; /* tsord keeps its own end */
	return 0;
}

static int do_intent(struct tsor_daemon *d, struct client *c, int sock, const struct tsor_msg *m,
		     struct tsor_msg *r, int *fds, int *nfds)
{
	struct intent it = { .owner = c->id, .server = m->addr, .fds = { -1, -1, -1, -1, -1 } };
	struct tsor_addr local;
	uint32_t rs = m->ring_size ? m->ring_size : TSOR_RING_DEFAULT;
	size_t mine = 0;
	void *hdr;
	int ret;

	if (sock < 0)
		return -EBADF;
	if (d->nintents >= MAX_INTENTS)
		return -EAGAIN;
	if (!tcp_in_state(sock, ~ST(TCP_LISTEN)))
		return -EINVAL;
	ret = sock_netns(d, sock, &it.netns, NULL);
	if (!ret)
		ret = sock_addr(sock, false, &local);
	if (ret)
		return ret;
	if (!local.port)
		return -EINVAL; /* the lib binds before asking; the port is part of the key */
	ret = wire_local(sock, &local, &m->addr);
	if (ret)
		return ret;
	it.local = local;
	for (size_t i = 0; i < d->nintents; i++)
		mine += d->intents[i].owner == c->id;
	if (mine >= d->max_client_intents)
		return -EMFILE;
	if (!find_listener(d, it.netns, &m->addr, sock)) {
		const struct listener *l = find_listener_other(d, it.netns, &m->addr);

		if (!l)
			return remote_intent(d, c, sock, &it.local, m, rs, r, fds, nfds);
		/* A pod of this node: the intent lives in the server's
		 * namespace, keyed on the source address the server will see
		 * (the tuple, as for other nodes), and the channel joins the
		 * two processes directly, as within one namespace. */
		ret = route_src(d, sock, &it.local, &m->addr, &local);
		if (ret)
			return ret;
		it.local = local;
		it.netns = l->netns;
	}
	/* Same key: the caller's own stale intent (a port reused before its
	 * accept came) goes; another client's is never touched. */
	for (size_t i = 0; i < d->nintents; i++) {
		const struct intent *o = &d->intents[i];

		if (o->netns != it.netns || !tsor_addr_eq(&o->local, &it.local) ||
		    !tsor_addr_eq(&o->server, &it.server))
			continue;
		if (o->owner != c->id)
			return -EADDRINUSE;
		intent_free(d, i);
		break;
	}
	it.id = ++d->next_id;
	ret = tsor_chan_new(rs, it.id, it.fds);
	if (ret)
		return ret;
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

static void matched_note(struct tsor_daemon *d, uint64_t owner, uint64_t id)
{
	for (size_t i = 0; i < d->nclients; i++) {
		struct client *c = &d->clients[i];

		if (c->id == owner) {
			c->matched[c->matched_pos++ % MATCHED_KEEP] = id;
			return;
		}
	}
}

static bool matched_forget(struct client *c, uint64_t id)
{
	for (size_t i = 0; id && i < MATCHED_KEEP; i++) {
		if (c->matched[i] == id) {
			c->matched[i] = 0;
			return true;
		}
	}
	return false;
}

/* One count per connection, as the connector says it ended (abi.h). */
static void count_cancel(struct tsor_daemon *d, uint64_t why)
{
	if (why == TSOR_CANCEL_UNUSED)
		d->stats[TSOR_STAT_UNUSED]++;
	else if (why != TSOR_CANCEL_FAILED)
		d->stats[TSOR_STAT_FALLBACK]++;
}

/* 1: the answer comes later (a relayed stream, relay.h). */
static int do_cancel(struct tsor_daemon *d, struct client *c, const struct tsor_msg *m)
{
	uint64_t why = m->val[0];
	int ret = tsor_relay_cancel(d->relay, c->id, m->id, why);

	if (ret == 0)
		count_cancel(d, why);
	if (ret != -ENOENT)
		return ret;
	for (size_t i = 0; i < d->nintents; i++) {
		const struct intent *it = &d->intents[i];

		if (it->id == m->id && it->owner == c->id) {
			/* A failed connect has no accept to come. */
			if (why != TSOR_CANCEL_FAILED)
				d->gone[d->gone_pos++ % GONE_KEEP] =
					(struct gone){ .netns = it->netns,
						       .local = it->local,
						       .server = it->server,
						       .at_ns = tsor_now_ns() };
			count_cancel(d, why);
			intent_free(d, i);
			return 0;
		}
	}
	/* Matched: the caller's own intent went to an acceptor (recorded in
	 * its client's matched set). Anything else, including another
	 * client's intent id, is unknown to this caller. */
	return matched_forget(c, m->id) ? -EALREADY : -ENOENT;
}

/*
 * Writes one byte to a bell through a description of our own (re-opened,
 * non-blocking, O_RDWR so that no reader left means no EPIPE): the read end
 * we hold is shared with the clients, who could clear its flags, and a
 * blocked tsord would stop every connection on the host. A full pipe
 * (EAGAIN) already has a wake-up pending.
 */
static void ring_bell(int bell)
{
	char path[32];
	int fd;

	(void)snprintf(path, sizeof(path), "/proc/self/fd/%d", bell);
	fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return;
	/* EAGAIN (full: a wake-up is already pending) is as good as success. */
	if (write(fd, "", 1) < 0 && errno != EAGAIN)
		log_debug("bell %d: %s", bell, log_errstr(errno));
	close(fd);
}

/*
 * ASK: fds[] receives the channel for the reply. The intent's fds are
 * sent, then closed by the caller (*done_idx tells which intent to free).
 */
/* Whether an accepted socket (netns, peer, local) is the connection of the
 * intent key (knetns, klocal, kserver). */
static bool key_fits(uint64_t knetns, const struct tsor_addr *klocal,
		     const struct tsor_addr *kserver, uint64_t netns, const struct tsor_addr *peer,
		     const struct tsor_addr *local)
{
	return knetns == netns && klocal->port == peer->port && klocal->family == peer->family &&
	       tsor_addr_eq(kserver, local) &&
	       (tsor_addr_is_any(klocal) || tsor_addr_eq(klocal, peer));
}

/* The late ASK of a cancelled connection: true (and forgotten) if so. */
static bool forget_gone(struct tsor_daemon *d, uint64_t netns, const struct tsor_addr *peer,
			const struct tsor_addr *local)
{
	uint64_t now = tsor_now_ns();

	for (size_t i = 0; i < GONE_KEEP; i++) {
		struct gone *g = &d->gone[i];

		if (g->netns && now - g->at_ns > GONE_TTL_NS)
			g->netns = 0;
		if (g->netns && key_fits(g->netns, &g->local, &g->server, netns, peer, local)) {
			g->netns = 0;
			return true;
		}
	}
	return false;
}

static int do_ask(struct tsor_daemon *d, struct client *c, int sock, struct tsor_msg *r, int *fds,
		  int *nfds, ssize_t *match)
{
	struct tsor_addr local, peer;
	uint64_t netns;
	int ret;

	ssize_t found = -1;
	struct intent *it;

	*match = -1;
	if (sock < 0)
		return -EBADF;
	/*
	 * An accepted TCP connection, nothing else: a UDP socket bound to the
	 * server's address and connected to the client's port has the same
	 * names (and a client could forge the ASK before the real accept).
	 * Accepted sockets are ESTABLISHED, CLOSE_WAIT when the connector
	 * already shut down, or SYN_RECV (TCP Fast Open hands them out before
	 * the handshake ends). Any TCP socket with the server's address and
	 * port came from its listener: nobody else can bind that port.
	 */
	if (sockopt_int(sock, SOL_SOCKET, SO_ACCEPTCONN) != 0 ||
	    !tcp_in_state(sock, ST(TCP_ESTABLISHED) | ST(TCP_CLOSE_WAIT) | ST(TCP_SYN_RECV)))
		return -EINVAL;
	ret = sock_netns(d, sock, &netns, NULL);
	if (!ret)
		ret = sock_addr(sock, false, &local);
	if (!ret)
		ret = sock_addr(sock, true, &peer);
	if (ret)
		return ret;
	/* The whole tuple: the peer is the connector's bound address (any
	 * address when it bound the wildcard) and port. Two candidates (two
	 * sockets sharing a port with SO_REUSEADDR, one bound to the wildcard)
	 * cannot be told apart: then nobody gets the channel, and both
	 * connectors cancel and stay on kernel TCP. */
	for (size_t i = 0; i < d->nintents; i++) {
		const struct intent *o = &d->intents[i];

		if (!key_fits(o->netns, &o->local, &o->server, netns, &peer, &local))
			continue;
		if (found >= 0) {
			log_warn("ASK from pid %d: two intents fit; neither is used", (int)c->pid);
			found = -2;
			break;
		}
		found = (ssize_t)i;
	}
	if (found >= 0) {
		size_t i = (size_t)found;

		it = &d->intents[i];
		/* Release: pairs with the connector's acquire load in
		 * state_now(); the decision is final once it is visible. */
		atomic_store_explicit(&it->hdr->accepted, 1, memory_order_release);
		/* A connector waiting to confirm sleeps on its rx bell. */
		ring_bell(it->fds[1 + TSOR_BELL(TSOR_SIDE_CONNECTOR, TSOR_RX)]);
		memcpy(fds, it->fds, sizeof(it->fds));
		*nfds = TSOR_MAX_FDS;
		r->id = it->id;
		/* Not hdr->ring_size: the connector maps the header read-write,
		 * and a value it forged would make our reply an invalid frame. */
		r->ring_size = it->ring_size;
		*match = (ssize_t)i;
		matched_note(d, it->owner, it->id);
		d->stats[TSOR_STAT_ACCEL]++;
		return 0;
	}
	/* A connection from another node's pod: its OPEN, if any, was
	 * recorded by the relay. Only in a namespace where a registered
	 * listener takes the address: the tuple alone is no proof there. */
	if (found == -1 && d->relay && find_listener(d, netns, &local, sock)) {
		ret = tsor_relay_ask(d->relay, c->id, sock, &peer, &local, fds, &r->id,
				     &r->ring_size);
		if (ret == -ENOENT) {
			/* The OPEN, sent before the SYN, may still sit in
			 * a link's socket: read the links once, ask again. */
			tsor_relay_sync(d->relay);
			ret = tsor_relay_ask(d->relay, c->id, sock, &peer, &local, fds, &r->id,
					     &r->ring_size);
		}
		if (ret == 0) {
			*nfds = TSOR_MAX_FDS;
			d->close_out = true; /* tsord keeps its own end */
			return 0;
		}
	}
	/* Two intents fit (found -2): both connectors cancel, and their
	 * cancels count them. */
	if (found == -1 && !forget_gone(d, netns, &peer, &local))
		d->stats[TSOR_STAT_FALLBACK]++;
	return -ENOENT;
}

/*
 * Lingering closes. tsord's copy of a socket shares the client's open file
 * description, so closing it normally just drops a reference; but a
 * hostile client can hand over a socket with SO_LINGER {1, N} and unsent
 * data and close its own copy first, and then tsord's close() is the last
 * one and would sleep up to N seconds. Setting SO_LINGER {1, 0} on our
 * copy is not an option: the option belongs to the shared socket and
 * would make an honest client's real connection end in RST. So such
 * sockets (only those: the check is one getsockopt) are closed by a
 * helper thread, fed through a pipe; if it is stalled and the pipe is
 * full, the main loop closes inline, which only an attacker pays for.
 */
static void *closer_main(void *arg)
{
	int rfd = *(const int *)arg, fd;

	while (read(rfd, &fd, sizeof(fd)) == (ssize_t)sizeof(fd))
		close(fd);
	close(rfd);
	return NULL;
}

static void release_fd(struct tsor_daemon *d, int fd)
{
	struct linger lg = { 0 };
	socklen_t len = sizeof(lg);

	if (getsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, &len) < 0 || !lg.l_onoff ||
	    lg.l_linger <= 0) {
		close(fd);
		return;
	}
	if (d->closer < 0) {
		int p[2];

		if (pipe2(p, O_CLOEXEC) == 0) {
			d->closer_rd = p[0]; /* read once by the thread, at its start */
			if (pthread_create(&d->closer_thread, NULL, closer_main, &d->closer_rd) ==
			    0) {
				d->closer = p[1];
				(void)fcntl(p[1], F_SETFL, O_NONBLOCK);
			} else {
				close(p[0]);
				close(p[1]);
			}
		}
	}
	if (d->closer < 0 || write(d->closer, &fd, sizeof(fd)) != (ssize_t)sizeof(fd))
		close(fd);
}

static void client_fds_close(struct tsor_daemon *d, struct client *c)
{
	for (int i = 0; i < c->nfds; i++)
		release_fd(d, c->fds[i]);
	c->nfds = 0;
}

/*
 * One non-blocking read of the rest of c's frame. 1: a whole frame is in
 * *m, its descriptors in in[] and *nin (the client's buffer is reset); 0: not
 * yet; -errno: drop the client (-ECONNRESET for EOF).
 */
static int client_read(struct tsor_daemon *d, struct client *c, struct tsor_msg *m, int *in,
		       int *nin)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * (TSOR_MAX_FDS + 1))];
		struct cmsghdr align;
	} u;
	struct iovec iov = { .iov_base = c->buf + c->have, .iov_len = sizeof(c->buf) - c->have };
	struct msghdr mh = { .msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = u.buf,
			     .msg_controllen = sizeof(u.buf) };
	ssize_t n = recvmsg(c->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	int ret = 0;

	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -errno;
	/* Descriptors first, even with EOF or an error: they are ours to close. */
	if (mh.msg_flags & MSG_CTRUNC)
		ret = -EPROTO;
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
		size_t k = cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS
				   ? (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int)
				   : 0;

		if (!k)
			ret = -EPROTO;
		for (size_t i = 0; i < k; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
			if (c->nfds < TSOR_MAX_FDS)
				c->fds[c->nfds++] = fd;
			else {
				release_fd(d, fd);
				ret = -EPROTO;
			}
		}
	}
	if (ret)
		return ret;
	if (n == 0)
		return -ECONNRESET;
	c->have += (size_t)n;
	if (c->have < sizeof(c->buf))
		return 0;
	memcpy(m, c->buf, sizeof(*m));
	c->have = 0;
	ret = tsor_msg_check(m);
	if (ret)
		return ret;
	memcpy(in, c->fds, sizeof(int) * (size_t)c->nfds);
	*nin = c->nfds;
	c->nfds = 0;
	return 1;
}

/* STOP is for tsord's own user and root (SO_PEERCRED at connect). */
static bool may_stop(const struct client *c)
{
	return c->uid == 0 || c->uid == geteuid();
}

/* Handles one request from c; false when the client must be dropped. */
static bool handle(struct tsor_daemon *d, struct client *c)
{
	struct tsor_msg m = { 0 }, r;
	int in[TSOR_MAX_FDS], nin = 0, out[TSOR_MAX_FDS], nout = 0;
	int sock, ret;
	ssize_t match = -1;
	bool reply = true, keep = true;

	d->close_out = false;

	ret = client_read(d, c, &m, in, &nin);
	if (ret <= 0) {
		if (ret < 0 && ret != -ECONNRESET)
			log_warn("client pid %d: %s; dropping it", (int)c->pid, log_errstr(-ret));
		return ret == 0;
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
		if (ret == 1)
			reply = false; /* relay.h: the peer node decides */
		break;
	case TSOR_MSG_ASK:
		ret = do_ask(d, c, sock, &r, out, &nout, &match);
		break;
	case TSOR_MSG_CLOSED:
		/* Self-reported, so only a counter: cap a single report. */
		d->stats[TSOR_STAT_BYTES] += m.val[0] < (1ull << 50) ? m.val[0] : 0;
		tsor_relay_closed(d->relay, c->id, m.id);
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
		tsor_relay_stats(d->relay, d->stats);
		/* Pages of TSOR_STAT_PAGE counters, id = the page. */
		if (m.id * TSOR_STAT_PAGE >= TSOR_STAT_COUNT) {
			ret = -EINVAL;
			break;
		}
		for (size_t i = 0; i < TSOR_STAT_PAGE; i++) {
			size_t k = (size_t)m.id * TSOR_STAT_PAGE + i;

			r.val[i] = k < TSOR_STAT_COUNT ? d->stats[k] : 0;
		}
		r.id = m.id;
		ret = 0;
		break;
	case TSOR_MSG_STOP:
		if (!may_stop(c)) {
			log_warn("stop refused: pid %d uid %u is neither root nor tsord's user",
				 (int)c->pid, (unsigned)c->uid);
			ret = -EPERM;
			break;
		}
		log_info("stop requested by pid %d uid %u", (int)c->pid, (unsigned)c->uid);
		d->stop = true;
		ret = 0;
		break;
	default:
		ret = -EINVAL;
	}
	for (int i = 0; i < nin; i++)
		release_fd(d, in[i]);
	if (reply) {
		r.status = ret;
		/* Non-blocking: a client that does not read its replies is
		 * dropped (-EAGAIN) rather than allowed to stall everyone. */
		ret = tsor_msg_send(c->fd, &r, out, nout);
		if (ret) {
			log_warn("client pid %d: reply: %s; dropping it", (int)c->pid,
				 log_errstr(-ret));
			keep = false;
		}
	}
	if (match >= 0)
		intent_free(d, (size_t)match); /* both ends have it now */
	else if ((m.type == TSOR_MSG_INTENT && r.status && nout) || d->close_out)
		for (int i = 0; i < nout; i++)
			close(out[i]);
	return keep && !c->dead;
}

static void drop_client(struct tsor_daemon *d, size_t i)
{
	struct client *c = &d->clients[i];

	for (size_t k = 0; k < d->nlisteners;) {
		if (d->listeners[k].owner == c->id)
			listener_drop(d, k);
		else
			k++;
	}
	for (size_t k = 0; k < d->nintents;) {
		if (d->intents[k].owner == c->id)
			intent_free(d, k);
		else
			k++;
	}
	tsor_relay_client_gone(d->relay, c->id);
	log_debug("client pid %d gone", (int)c->pid);
	client_fds_close(d, c);
	close(c->fd);
	d->clients[i] = d->clients[--d->nclients];
}

static void add_client(struct tsor_daemon *d, int fd)
{
	struct ucred cr = { 0 };
	socklen_t len = sizeof(cr);
	int fl;

	if (d->nclients >= MAX_CLIENTS) {
		log_warn("too many clients (%d); refusing one", MAX_CLIENTS);
		close(fd);
		return;
	}
	/* Non-blocking: no client can stall the broker (struct client). */
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
		log_warn("O_NONBLOCK: %s; refusing the client", log_errstr(errno));
		close(fd);
		return;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0) {
		log_warn("SO_PEERCRED: %s; refusing the client", log_errstr(errno));
		close(fd);
		return;
	}
	log_debug("client pid %d uid %u", (int)cr.pid, (unsigned)cr.uid);
	memset(&d->clients[d->nclients], 0, sizeof(d->clients[0]));
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
	d->closer = -1;
	/* Knobs for tests and for hosts whose programs keep more connects in
	 * flight per process (tsord's fd limit must then allow 5 per intent). */
	d->max_client_intents = (size_t)tsor_env_long("TSORD_MAX_CLIENT_INTENTS",
						      MAX_CLIENT_INTENTS, 1, MAX_INTENTS);
	d->max_client_listeners = (size_t)tsor_env_long("TSORD_MAX_CLIENT_LISTENERS",
							MAX_CLIENT_LISTENERS, 1, 1 << 20);
	ns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (ns >= 0 && fstat(ns, &st) == 0)
		d->own_netns = st.st_ino;
	if (ns >= 0)
		close(ns);
	ns = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (ns < 0)
		ns = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (ns >= 0) {
		d->own_netns_cookie = netns_cookie(ns);
		close(ns);
	}
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
	/* Before the closer goes: the relay releases its socket dups. */
	tsor_relay_free(d->relay);
	if (d->closer >= 0) {
		close(d->closer); /* EOF: the closer thread finishes its queue */
		pthread_join(d->closer_thread, NULL);
	}
	while (d->nlisteners)
		listener_drop(d, d->nlisteners - 1);
	free(d->listeners);
	free(d->intents);
	free(d->clients);
	free(d);
}

/* ============================ other nodes ============================ */

static bool cb_has_listener(void *arg, const struct tsor_addr *server)
{
	const struct tsor_daemon *d = arg;

	for (size_t i = 0; i < d->nlisteners; i++) {
		const struct listener *l = &d->listeners[i];

		if (l->addr.port != server->port)
			continue;
		if (tsor_addr_eq(&l->addr, server) ||
		    (tsor_addr_is_any(&l->addr) &&
		     (l->addr.family == server->family || (l->dual && server->family == AF_INET))))
			return true;
	}
	return false;
}

static void cb_reply(void *arg, uint64_t client, uint64_t id, int status, uint64_t why)
{
	struct tsor_daemon *d = arg;
	struct tsor_msg r;

	if (status == 0)
		count_cancel(d, why); /* a cancel, as do_cancel() counts it */
	for (size_t i = 0; i < d->nclients; i++) {
		struct client *c = &d->clients[i];

		if (c->id != client)
			continue;
		tsor_msg_init(&r, TSOR_MSG_CANCEL);
		r.status = status;
		r.id = id;
		/* Dropped by the loop, not here: the relay is mid-call. */
		if (tsor_msg_send(c->fd, &r, NULL, 0)) {
			log_warn("client pid %d: deferred reply failed; dropping it", (int)c->pid);
			c->dead = true;
		}
		return;
	}
}

static void cb_release(void *arg, int fd)
{
	release_fd(arg, fd);
}

static uint64_t cb_next_id(void *arg)
{
	struct tsor_daemon *d = arg;

	return ++d->next_id;
}

int tsor_daemon_node(struct tsor_daemon *d, const struct tsor_node_cfg *cfg)
{
	const struct tsor_relay_cbs cbs = { .arg = d,
					    .has_listener = cb_has_listener,
					    .reply = cb_reply,
					    .release = cb_release,
					    .next_id = cb_next_id };

	if (d->relay)
		return -EBUSY;
	return tsor_relay_new(cfg->ops ? cfg->ops : &tsor_xport_tcp, &cfg->listen, cfg->peers,
			      cfg->npeers, &cbs, &d->relay);
}

/* A new client on tsord's socket, or a pause when out of fds or memory. */
static void accept_client(struct tsor_daemon *d, int lsock)
{
	int fd = accept4(lsock, NULL, NULL, SOCK_CLOEXEC);

	if (fd >= 0) {
		add_client(d, fd);
	} else if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
		/* The connection stays queued and the socket readable: polling
		 * it again at once would spin. */
		log_warn("accept: %s; pausing accepts for %llu ms", log_errstr(errno),
			 (unsigned long long)(ACCEPT_BACKOFF_NS / 1000000u));
		d->accept_after_ns = tsor_now_ns() + ACCEPT_BACKOFF_NS;
	}
}

int tsor_daemon_serve(int lsock)
{
	return tsor_daemon_serve_node(lsock, NULL);
}

int tsor_daemon_serve_node(int lsock, const struct tsor_node_cfg *cfg)
{
	struct tsor_daemon *d = tsor_daemon_new();
	int ret = 0;

	if (!d)
		return -ENOMEM;
	if (cfg)
		ret = tsor_daemon_node(d, cfg);
	if (!ret)
		ret = tsor_daemon_run(d, lsock);
	tsor_daemon_free(d);
	return ret;
}

int tsor_daemon_run(struct tsor_daemon *d, int lsock)
{
	struct pollfd *p = calloc(MAX_CLIENTS + 1 + tsor_relay_pollmax(d->relay), sizeof(*p));
	int ret = 0, relay_tmo = -1;

	if (!p)
		return -ENOMEM;
	while (!d->stop) {
		size_t n = d->nclients, nr;
		int k, tmo;

		bool backoff = tsor_now_ns() < d->accept_after_ns;

		/* A negative fd is ignored by poll(): no accepts during a backoff. */
		p[0] = (struct pollfd){ .fd = backoff ? -1 : lsock, .events = POLLIN };
		for (size_t i = 0; i < n; i++)
			p[i + 1] = (struct pollfd){ .fd = d->clients[i].fd, .events = POLLIN };
		nr = tsor_relay_pollfds(d->relay, p + n + 1, tsor_relay_pollmax(d->relay));
		tmo = backoff ? (int)(ACCEPT_BACKOFF_NS / 1000000u) : 1000;
		if (relay_tmo >= 0 && relay_tmo < tmo)
			tmo = relay_tmo;
		k = poll(p, n + 1 + nr, tmo);
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
		relay_tmo = tsor_relay_service(d->relay, p + n + 1, nr);
		/* Clients whose deferred reply failed (cb_reply()). */
		for (size_t i = d->nclients; i-- > 0;)
			if (d->clients[i].dead)
				drop_client(d, i);
		if (p[0].revents & POLLIN)
			accept_client(d, lsock);
	}
	free(p);
	return ret;
}
