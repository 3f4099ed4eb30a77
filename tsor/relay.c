/* SPDX-License-Identifier: MIT */
/*
 * tsord's multi-node half: peer links, relayed streams, remote OPENs. The
 * frames, their invariants and the flow control are the essay in xport.h;
 * the seam with the broker is relay.h. This is how a connection from pod
 * P1 (node A) to pod P2 (node B) is set up and carried:
 *
 *   P1 lib             tsord A                      tsord B             P2 lib
 *   QUERY(dst) ------> dst in B's CIDR, link up: 0
 *   INTENT ----------> channel cA (A keeps the acceptor end, a dup of
 *   <-- cA, id         P1's socket) -- OPEN(id, src, dst, ring) -->
 *                                                     records the OPEN
 *   connect() =============== kernel TCP P1 -> P2 ===============> accept()
 *                                                     <------- ASK(sock)
 *                                   tuple (src, dst) matches the OPEN:
 *                                   channel cB (B keeps the connector end,
 *                                   a dup of P2's socket) ----- cB, id -->
 *                     <------------ ACCEPTED(id, ring) ---------
 *   accepted=1, bell
 *   bytes: ring cA <-> tsord A <-- DATA/CREDIT --> tsord B <-> ring cB
 *
 * Arbitration. The two tsords must never disagree about whether a
 * connection is relayed. B alone decides (at the ASK: matched or not), and
 * every OPEN gets exactly one answer, ACCEPTED or RST. A connector that
 * gives up (CANCEL from its lib) makes A send CANCEL and hold the lib's
 * reply until B's answer: an RST (dropped before a match) means kernel
 * TCP, an ACCEPTED (matched first; the link keeps order) means the ring.
 * A link that dies first answers "kernel TCP"; if B had matched, B resets
 * P2's connection, so the mismatch ends as a reset, never as silent loss.
 *
 * Ends. tsord keeps a dup of its pod's socket for each live stream:
 *   - so that a failed relay (link down, RST, a lib that broke its ring)
 *     can reset the kernel connection, which both pods see at once
 *     (connect(AF_UNSPEC) on a TCP socket sends an RST; it acts on the
 *     socket, shared by the application and us);
 *   - so that the kernel FIN, which takes the short way, cannot overtake
 *     the relayed bytes: the lib's close() leaves our dup, we relay what is
 *     left, send FIN, and close the dup only on FIN_ACK, when the peer's
 *     ring holds every byte and its shut_wr flag is set. (The lib's
 *     shutdown(SHUT_WR) of a relayed channel sets only the flag, conn.c.)
 * A stream ends when its lib closed it (CLOSED, or the client went away)
 * and our FIN is acknowledged, or with a reset.
 *
 * Link ownership. Between two nodes exactly one TCP connection: the node
 * whose transport address is lower dials (at start and every second while
 * down), the other only accepts, and takes a connection from a peer's node
 * address (source IP) only. There is no authentication: the node network
 * is trusted, as Kubernetes trusts it (docs/tsor.md).
 *
 * Costs: the relay copies each byte twice per node (ring -> frame ->
 * socket), tsord's loop serves all streams in one thread, and a stream
 * whose ring is not empty keeps that loop polling without sleep. It is the
 * path that runs without RDMA; the verbs transport would write rings
 * directly.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "relay.h"
#include "tsor-int.h"

#define DIAL_RETRY_NS  (1000ull * 1000000u)
#define RINTENT_TTL_NS (120ull * 1000000000u)

enum stream_state {
	ST_PENDING = 0, /* we opened it; no answer yet */
	ST_REFUSED,	/* we opened it; RST came: the lib's CANCEL gets 0 */
	ST_LIVE,	/* bytes flow */
};

struct stream {
	uint64_t id;   /* the channel id, the lib's */
	uint64_t wire; /* the opener's id of it (ours == id when we opened) */
	bool opener;   /* we sent the OPEN */
	size_t peer;   /* index in peers[] */
	enum stream_state state;
	struct tsor_conn conn;	/* our end of the channel */
	int sock;		/* dup of the pod's kernel socket, or -1 */
	uint64_t owner;		/* the broker's client id of the lib */
	uint32_t ring;		/* data bytes per ring of the channel */
	uint32_t credit;	/* bytes we may still send */
	uint32_t owed;		/* bytes we granted and have not received */
	uint32_t peer_ring;	/* the peer's ring: no grant can exceed it */
	bool fin_sent;		/* our FIN went (after the lib's last byte) */
	bool fin_acked;		/* ... and reached the peer's ring */
	bool closed;		/* the lib closed the channel or went away */
	uint64_t cancel_client; /* client awaiting CANCEL's answer, 0 none */
	uint64_t cancel_why;	/* its reason (abi.h), handed back with the answer */
};

/* An OPEN from a peer waiting for a local accept()'s ASK. */
struct rintent {
	size_t peer;		 /* index in peers[] */
	uint64_t wire;		 /* the opener's stream id */
	struct tsor_addr client; /* source address and port, as the server will see them */
	struct tsor_addr server; /* the destination */
	uint32_t ring;		 /* the opener's ring size (its grant to us) */
	uint64_t born_ns;	 /* for RINTENT_TTL_NS */
};

struct peer {
	struct tsor_relay_peer_cfg cfg; /* CIDR and node address */
	struct tsor_xlink *link;	/* NULL when down */
	bool hello;			/* the peer's HELLO arrived: up */
	bool dialer;			/* we dial it (our address is lower) */
	uint64_t next_dial_ns;		/* when to dial next while down */
};

/* What a pollfd entry was, for tsor_relay_service(). */
struct pslot {
	int kind;	  /* 0 listener, 1 link, 2 bell */
	size_t peer;	  /* kind 1 */
	struct stream *s; /* kind 2 */
};

struct tsor_relay {
	const struct tsor_xport_ops *ops;
	struct tsor_relay_cbs cbs;
	int lfd; /* transport listener, or -1 */
	struct peer peers[TSOR_RELAY_MAX_PEERS];
	size_t npeers;
	struct stream **streams;
	size_t nstreams, capstreams;
	struct rintent *rint;
	size_t nrint, caprint;
	struct pslot *slots; /* parallel to the last pollfds */
	size_t nslots;
	uint64_t remote_live;	   /* streams that went live */
	uint64_t tx_gone, rx_gone; /* bytes of links since closed */
	uint8_t buf[TSOR_XDATA_MAX];
};

/* ============================ configuration ============================ */

int tsor_relay_parse_addr(const char *s, struct tsor_addr *a)
{
	char host[64];
	const char *colon, *h = s;
	size_t hl;
	char *end;
	unsigned long port;

	memset(a, 0, sizeof(*a));
	if (*s == '[') {
		const char *rb = strchr(s, ']');

		if (!rb || rb[1] != ':')
			return -EINVAL;
		h = s + 1;
		hl = (size_t)(rb - h);
		colon = rb + 1;
	} else {
		colon = strchr(s, ':');
		/* An IPv6 address needs its brackets: "fd00::2:80" is ambiguous. */
		if (!colon || strchr(colon + 1, ':'))
			return -EINVAL;
		hl = (size_t)(colon - s);
	}
	if (hl == 0 || hl >= sizeof(host))
		return -EINVAL;
	memcpy(host, h, hl);
	host[hl] = 0;
	errno = 0;
	port = strtoul(colon + 1, &end, 10);
	if (errno || end == colon + 1 || *end || port == 0 || port > 65535)
		return -EINVAL;
	if (inet_pton(AF_INET, host, a->addr) == 1)
		a->family = AF_INET;
	else if (inet_pton(AF_INET6, host, a->addr) == 1)
		a->family = AF_INET6;
	else
		return -EINVAL;
	a->port = (uint16_t)port;
	return 0;
}

int tsor_relay_parse_peer(const char *s, struct tsor_relay_peer_cfg *p)
{
	char net[64];
	const char *eq = strchr(s, '='), *slash;
	unsigned long prefix;
	char *end;
	size_t nl;

	memset(p, 0, sizeof(*p));
	if (!eq)
		return -EINVAL;
	slash = memchr(s, '/', (size_t)(eq - s));
	if (!slash)
		return -EINVAL;
	nl = (size_t)(slash - s);
	if (nl == 0 || nl >= sizeof(net))
		return -EINVAL;
	memcpy(net, s, nl);
	net[nl] = 0;
	if (inet_pton(AF_INET, net, p->net.addr) == 1)
		p->net.family = AF_INET;
	else if (inet_pton(AF_INET6, net, p->net.addr) == 1)
		p->net.family = AF_INET6;
	else
		return -EINVAL;
	errno = 0;
	prefix = strtoul(slash + 1, &end, 10);
	if (errno || end == slash + 1 || end != eq ||
	    prefix > (p->net.family == AF_INET ? 32u : 128u))
		return -EINVAL;
	p->prefix = (unsigned)prefix;
	return tsor_relay_parse_addr(eq + 1, &p->node);
}

bool tsor_relay_cidr_has(const struct tsor_addr *net, unsigned prefix, const struct tsor_addr *a)
{
	unsigned full = prefix / 8, rest = prefix % 8;

	if (net->family != a->family || prefix > (a->family == AF_INET ? 32u : 128u))
		return false;
	if (memcmp(net->addr, a->addr, full) != 0)
		return false;
	if (rest) {
		uint8_t mask = (uint8_t)(0xffu << (8 - rest));

		return (net->addr[full] & mask) == (a->addr[full] & mask);
	}
	return true;
}

/* Orders node addresses: family, address bytes, port. */
static int addr_cmp(const struct tsor_addr *a, const struct tsor_addr *b)
{
	int c;

	if (a->family != b->family)
		return a->family < b->family ? -1 : 1;
	c = memcmp(a->addr, b->addr, sizeof(a->addr));
	if (c)
		return c;
	return a->port == b->port ? 0 : a->port < b->port ? -1 : 1;
}

static bool same_host(const struct tsor_addr *a, const struct tsor_addr *b)
{
	return a->family == b->family && !memcmp(a->addr, b->addr, a->family == AF_INET ? 4 : 16);
}

int tsor_relay_new(const struct tsor_xport_ops *ops, const struct tsor_addr *listen_at,
		   const struct tsor_relay_peer_cfg *peers, size_t npeers,
		   const struct tsor_relay_cbs *cbs, struct tsor_relay **out)
{
	struct tsor_relay *r;
	int ret;

	*out = NULL;
	if (!npeers && !listen_at->family)
		return 0;
	if (npeers > TSOR_RELAY_MAX_PEERS)
		return -E2BIG;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->ops = ops;
	r->cbs = *cbs;
	r->lfd = -1;
	for (size_t i = 0; i < npeers; i++) {
		struct peer *p = &r->peers[i];

		p->cfg = peers[i];
		if (listen_at->family && !addr_cmp(listen_at, &p->cfg.node)) {
			ret = -EINVAL; /* a peer at our own address */
			goto err_free;
		}
		/* The lower address dials; a node without a listener must. */
		p->dialer = !listen_at->family || addr_cmp(listen_at, &p->cfg.node) < 0;
	}
	r->npeers = npeers;
	if (listen_at->family) {
		ret = ops->listen(listen_at, &r->lfd);
		if (ret)
			goto err_free;
	}
	*out = r;
	return 0;

err_free:
	free(r);
	return ret;
}

/* ============================ streams ============================ */

struct frame_ctx {
	struct tsor_relay *r;
	size_t peer;
};

static int on_frame(void *arg, const struct tsor_xhdr *h, const uint8_t *pl);

static int send_frame(struct tsor_relay *r, size_t peer, uint8_t type, uint64_t wire, bool opener,
		      uint32_t credit, const void *payload, uint32_t len)
{
	struct peer *p = &r->peers[peer];
	struct tsor_xhdr h = { .type = type,
			       .flags = opener ? TSOR_XF_OPENER : 0,
			       .len = len,
			       .stream = wire,
			       .credit = credit };

	if (!p->link || !p->hello)
		return -ENOTCONN;
	return r->ops->send(p->link, &h, payload);
}

static int sframe(struct tsor_relay *r, struct stream *s, uint8_t type, uint32_t credit,
		  const void *payload, uint32_t len)
{
	return send_frame(r, s->peer, type, s->wire, s->opener, credit, payload, len);
}

static void stream_free(struct tsor_relay *r, struct stream *s)
{
	for (size_t i = 0; i < r->nstreams; i++) {
		if (r->streams[i] == s) {
			r->streams[i] = r->streams[--r->nstreams];
			break;
		}
	}
	tsor_conn_close(&s->conn);
	if (s->sock >= 0)
		r->cbs.release(r->cbs.arg, s->sock);
	free(s);
}

/*
 * The relay failed for s: reset the kernel connection (both pods see it),
 * tell the peer unless it told us, forget the stream.
 */
static void stream_reset(struct tsor_relay *r, struct stream *s, bool tell)
{
	struct sockaddr sa = { .sa_family = AF_UNSPEC };

	if (s->sock >= 0 && s->state == ST_LIVE)
		(void)connect(s->sock, &sa, sizeof(sa));
	if (tell)
		(void)sframe(r, s, TSOR_X_RST, 0, NULL, 0);
	stream_free(r, s);
}

static struct stream *stream_by_id(struct tsor_relay *r, uint64_t owner, uint64_t id)
{
	for (size_t i = 0; i < r->nstreams; i++)
		if (r->streams[i]->id == id && r->streams[i]->owner == owner)
			return r->streams[i];
	return NULL;
}

static struct stream *stream_by_wire(struct tsor_relay *r, size_t peer, uint64_t wire, bool opener)
{
	for (size_t i = 0; i < r->nstreams; i++) {
		struct stream *s = r->streams[i];

		if (s->peer == peer && s->wire == wire && s->opener == opener)
			return s;
	}
	return NULL;
}

/* Writes one byte to a bell of the lib (ours is a private non-blocking
 * description: a full pipe is EAGAIN, and a wake-up is pending then). */
static void bell(int fd)
{
	(void)!write(fd, "", 1);
}

/*
 * A channel for a new stream: fds[] for the lib, our own end mapped as
 * `side` with a dup of each fd, the relay flag set before the lib sees it,
 * and a dup of the pod's socket.
 */
static int stream_new(struct tsor_relay *r, uint32_t ring, int side, int sock,
		      int fds[TSOR_MAX_FDS], struct stream **out)
{
	struct stream *s;
	int mine[TSOR_MAX_FDS], ret;

	if (r->nstreams >= TSOR_RELAY_MAX_STREAMS)
		return -EAGAIN;
	if (r->nstreams == r->capstreams) {
		size_t cap = r->capstreams ? 2 * r->capstreams : 16;
		struct stream **p = realloc(r->streams, cap * sizeof(struct stream *));

		if (!p)
			return -ENOMEM;
		r->streams = p;
		r->capstreams = cap;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->id = r->cbs.next_id(r->cbs.arg);
	ret = tsor_chan_new(ring, s->id, fds);
	if (ret)
		goto err_free;
	for (int k = 0; k < TSOR_MAX_FDS; k++)
		mine[k] = fcntl(fds[k], F_DUPFD_CLOEXEC, 0);
	for (int k = 0; k < TSOR_MAX_FDS; k++) {
		if (mine[k] < 0) {
			ret = -EMFILE;
			for (int j = 0; j < TSOR_MAX_FDS; j++)
				if (mine[j] >= 0)
					close(mine[j]);
			goto err_fds;
		}
	}
	/* Takes mine[] (closed on failure too). */
	ret = tsor_conn_open(&s->conn, mine[0], &mine[1], side, s->id);
	if (ret)
		goto err_fds;
	s->sock = fcntl(sock, F_DUPFD_CLOEXEC, 0);
	if (s->sock < 0) {
		ret = -errno;
		tsor_conn_close(&s->conn);
		goto err_fds;
	}
	s->conn.map.hdr->relay = 1;
	s->ring = ring;
	s->owed = ring; /* our first grant: the whole ring */
	r->streams[r->nstreams++] = s;
	*out = s;
	return 0;

err_fds:
	for (int k = 0; k < TSOR_MAX_FDS; k++)
		close(fds[k]);
err_free:
	free(s);
	return ret;
}

/* The index of the peer serving dst, or -1. */
static ssize_t route(const struct tsor_relay *r, const struct tsor_addr *dst)
{
	for (size_t i = 0; i < r->npeers; i++) {
		const struct peer *p = &r->peers[i];

		if (tsor_relay_cidr_has(&p->cfg.net, p->cfg.prefix, dst))
			return (ssize_t)i;
	}
	return -1;
}

bool tsor_relay_routes(const struct tsor_relay *r, const struct tsor_addr *dst)
{
	ssize_t k = r ? route(r, dst) : -1;

	return k >= 0 && r->peers[k].link && r->peers[k].hello;
}

int tsor_relay_open(struct tsor_relay *r, uint64_t owner, int sock, const struct tsor_addr *src,
		    const struct tsor_addr *dst, uint32_t ring_size, int fds[TSOR_MAX_FDS],
		    uint64_t *id)
{
	uint8_t pl[TSOR_XOPEN_SIZE];
	struct stream *s;
	size_t peer;
	int ret;

	if (!r || !tsor_relay_routes(r, dst))
		return -ENOENT;
	peer = (size_t)route(r, dst);
	ret = stream_new(r, ring_size, TSOR_SIDE_ACCEPTOR, sock, fds, &s);
	if (ret)
		return ret;
	s->opener = true;
	s->wire = s->id;
	s->peer = peer;
	s->owner = owner;
	s->state = ST_PENDING;
	tsor_xopen_encode(src, dst, pl);
	ret = sframe(r, s, TSOR_X_OPEN, ring_size, pl, sizeof(pl));
	if (!ret) {
		struct frame_ctx fc = { .r = r, .peer = peer };

		/* On the wire before the lib's connect(): the server's
		 * ASK must find this OPEN already there. An error shows up
		 * again at the next poll, which drops the link. */
		(void)r->ops->io(r->peers[peer].link, POLLOUT, on_frame, &fc);
	}
	if (ret) {
		stream_free(r, s);
		for (int k = 0; k < TSOR_MAX_FDS; k++)
			close(fds[k]);
		return ret;
	}
	*id = s->id;
	return 0;
}

int tsor_relay_ask(struct tsor_relay *r, uint64_t owner, int sock, const struct tsor_addr *peer,
		   const struct tsor_addr *local, int fds[TSOR_MAX_FDS], uint64_t *id,
		   uint32_t *ring_size)
{
	struct stream *s;
	ssize_t found = -1;
	struct rintent ri;
	int ret;

	if (!r)
		return -ENOENT;
	for (size_t i = 0; i < r->nrint; i++) {
		if (!tsor_addr_eq(&r->rint[i].client, peer) ||
		    !tsor_addr_eq(&r->rint[i].server, local))
			continue;
		if (found >= 0) {
			/* Two nodes claim one tuple: nobody gets the ring. */
			log_warn("relay: two OPENs fit one accepted connection; neither is used");
			return -ENOENT;
		}
		found = (ssize_t)i;
	}
	if (found < 0) {
		char pa[64], la[64];

		tsor_addr_format(peer, pa, sizeof(pa));
		tsor_addr_format(local, la, sizeof(la));
		log_debug("relay: ASK %s -> %s: no OPEN fits (%zu waiting)", pa, la, r->nrint);
		return -ENOENT;
	}
	ri = r->rint[found];
	r->rint[found] = r->rint[--r->nrint];
	ret = stream_new(r, ri.ring, TSOR_SIDE_CONNECTOR, sock, fds, &s);
	if (ret) {
		(void)send_frame(r, ri.peer, TSOR_X_RST, ri.wire, false, 0, NULL, 0);
		return ret;
	}
	s->opener = false;
	s->wire = ri.wire;
	s->peer = ri.peer;
	s->owner = owner;
	s->state = ST_LIVE;
	s->credit = ri.ring;
	s->peer_ring = ri.ring;
	atomic_store_explicit(&s->conn.map.hdr->accepted, 1, memory_order_release);
	ret = sframe(r, s, TSOR_X_ACCEPTED, s->ring, NULL, 0);
	if (ret) {
		stream_free(r, s);
		for (int k = 0; k < TSOR_MAX_FDS; k++)
			close(fds[k]);
		return -ENOENT;
	}
	r->remote_live++;
	*id = s->id;
	*ring_size = s->ring;
	return 0;
}

int tsor_relay_cancel(struct tsor_relay *r, uint64_t owner, uint64_t id, uint64_t why)
{
	struct stream *s = r ? stream_by_id(r, owner, id) : NULL;

	if (!s)
		return -ENOENT;
	switch (s->state) {
	case ST_LIVE:
		return -EALREADY;
	case ST_REFUSED:
		stream_free(r, s);
		return 0;
	case ST_PENDING:
		break;
	}
	if (s->cancel_client)
		return -EALREADY; /* a second CANCEL while the first waits: not ours to race */
	if (sframe(r, s, TSOR_X_CANCEL, 0, NULL, 0)) {
		stream_free(r, s); /* no link: the peer forgot it too */
		return 0;
	}
	s->cancel_client = owner;
	s->cancel_why = why;
	return 1;
}

/* The lib is done with s: relay what is left, FIN, then go on FIN_ACK. */
static void stream_close(struct tsor_relay *r, struct stream *s)
{
	s->closed = true;
	if (s->state == ST_PENDING) {
		(void)sframe(r, s, TSOR_X_CANCEL, 0, NULL, 0);
		stream_free(r, s);
	} else if (s->state == ST_REFUSED) {
		stream_free(r, s);
	}
	/* ST_LIVE: the pump sends the rest and the FIN. */
}

void tsor_relay_closed(struct tsor_relay *r, uint64_t owner, uint64_t id)
{
	struct stream *s = r ? stream_by_id(r, owner, id) : NULL;

	if (s)
		stream_close(r, s);
}

void tsor_relay_client_gone(struct tsor_relay *r, uint64_t owner)
{
	if (!r)
		return;
	for (size_t i = r->nstreams; i-- > 0;) {
		struct stream *s = r->streams[i];

		if (s->owner != owner)
			continue;
		if (s->cancel_client) {
			/* Nobody to answer: as if the lib had closed. */
			s->cancel_client = 0;
		}
		stream_close(r, s);
	}
}

/*
 * Moves what it can of s: ring -> DATA within our credit and the link's
 * queue, the FIN after the lib's last byte, CREDIT for room the lib freed,
 * and arms the rings' sleep flags so the lib's next publish rings our
 * bells. Returns true when more is ready right now, false when it may
 * sleep; frees s (and returns false) when it ended.
 */
static bool pump(struct tsor_relay *r, struct stream *s)
{
	struct peer *p = &r->peers[s->peer];
	int lib_side = 1 - s->conn.side;
	bool busy = false;
	ssize_t n, fr;

	if (s->state != ST_LIVE || !p->link)
		return false;
	while (s->credit && r->ops->queued(p->link) < TSOR_XQUEUE_HIGH) {
		size_t want = s->credit < sizeof(r->buf) ? s->credit : sizeof(r->buf);

		n = ring_read(&s->conn.rx, r->buf, want);
		if (n < 0)
			goto reset; /* the lib broke its ring */
		if (n == 0)
			break;
		if (sframe(r, s, TSOR_X_DATA, 0, r->buf, (uint32_t)n))
			return false; /* the link failed: peer_down() resets s */
		s->credit -= (uint32_t)n;
	}
	if (!s->fin_sent) {
		/* Acquire: pairs with the lib's release store after its last
		 * write, so the ring check below sees every byte before it. */
		bool shut = s->closed || atomic_load_explicit(&s->conn.map.hdr->shut_wr[lib_side],
							      memory_order_acquire);

		if (shut && ring_readable(&s->conn.rx) == 0) {
			if (sframe(r, s, TSOR_X_FIN, 0, NULL, 0))
				return false;
			s->fin_sent = true;
		}
	}
	if (s->closed && s->fin_acked) {
		stream_free(r, s);
		return false;
	}
	fr = ring_writable(&s->conn.tx);
	if (fr < 0)
		goto reset;
	if ((uint64_t)fr > s->owed) {
		uint32_t grant = (uint32_t)fr - s->owed;

		/* Lazy: a quarter ring at a time (xport.h). */
		if (grant >= s->ring / 4) {
			if (sframe(r, s, TSOR_X_CREDIT, grant, NULL, 0))
				return false;
			s->owed += grant;
		}
	}
	/* Flags (lib/ring "Doorbells"): the lib's next write or read rings
	 * our bell. A readable ring we cannot send yet (no credit, full
	 * queue) waits for the CREDIT frame or POLLOUT instead. */
	n = ring_arm_wait(&s->conn.rx);
	if (n > 0 && s->credit && r->ops->queued(p->link) < TSOR_XQUEUE_HIGH)
		busy = true;
	(void)ring_arm_wait(&s->conn.tx);
	return busy;

reset:
	log_warn("relay: stream %llu: the local end broke its ring; resetting",
		 (unsigned long long)s->id);
	stream_reset(r, s, true);
	return false;
}

/* ============================ links ============================ */

static void peer_down(struct tsor_relay *r, size_t k, const char *why)
{
	struct peer *p = &r->peers[k];
	char a[64];

	if (p->link) {
		r->tx_gone += r->ops->tx_bytes(p->link);
		r->rx_gone += r->ops->rx_bytes(p->link);
		r->ops->close(p->link);
		p->link = NULL;
		tsor_addr_format(&p->cfg.node, a, sizeof(a));
		/* A dial that fails every second while the peer is away is
		 * news once, when the link was up. */
		if (p->hello)
			log_warn("relay: link to %s down: %s", a, why);
		else
			log_debug("relay: link to %s: %s", a, why);
	}
	p->hello = false;
	p->next_dial_ns = tsor_now_ns() + DIAL_RETRY_NS;
	for (size_t i = r->nstreams; i-- > 0;) {
		struct stream *s = r->streams[i];

		if (s->peer != k)
			continue;
		if (s->state == ST_LIVE) {
			stream_reset(r, s, false);
		} else if (s->cancel_client) {
			/* The peer's decision is lost with the link; if it had
			 * matched, its end resets the kernel connection. */
			r->cbs.reply(r->cbs.arg, s->cancel_client, s->id, 0, s->cancel_why);
			stream_free(r, s);
		} else {
			s->state = ST_REFUSED;
		}
	}
	for (size_t i = r->nrint; i-- > 0;)
		if (r->rint[i].peer == k)
			r->rint[i] = r->rint[--r->nrint];
}

static int hello(struct tsor_relay *r, size_t k)
{
	struct tsor_xhdr h = { .type = TSOR_X_HELLO,
			       .stream = TSOR_XMAGIC,
			       .credit = TSOR_XVERSION };

	return r->ops->send(r->peers[k].link, &h, NULL);
}

static int on_open(struct tsor_relay *r, size_t k, const struct tsor_xhdr *h, const uint8_t *pl)
{
	struct rintent ri = { .peer = k, .wire = h->stream, .ring = h->credit };
	char ca[64], sa[64];

	if (tsor_xopen_decode(pl, &ri.client, &ri.server))
		return -EPROTO;
	for (size_t i = 0; i < r->nrint; i++)
		if (r->rint[i].peer == k && r->rint[i].wire == h->stream)
			return -EPROTO; /* an id in use */
	if (stream_by_wire(r, k, h->stream, false))
		return -EPROTO;
	tsor_addr_format(&ri.client, ca, sizeof(ca));
	tsor_addr_format(&ri.server, sa, sizeof(sa));
	if (r->nrint + r->nstreams >= TSOR_RELAY_MAX_STREAMS ||
	    !r->cbs.has_listener(r->cbs.arg, &ri.server)) {
		log_debug("relay: OPEN %s -> %s refused: no listener", ca, sa);
		return send_frame(r, k, TSOR_X_RST, h->stream, false, 0, NULL, 0);
	}
	log_debug("relay: OPEN %s -> %s waits for its accept", ca, sa);
	for (size_t i = 0; i < r->nrint; i++) {
		struct rintent *o = &r->rint[i];

		if (!tsor_addr_eq(&o->client, &ri.client) || !tsor_addr_eq(&o->server, &ri.server))
			continue;
		if (o->peer != k)
			return send_frame(r, k, TSOR_X_RST, h->stream, false, 0, NULL, 0);
		/* The same node reused the tuple before our accept came:
		 * its older OPEN is stale. */
		(void)send_frame(r, k, TSOR_X_RST, o->wire, false, 0, NULL, 0);
		r->rint[i] = r->rint[--r->nrint];
		break;
	}
	if (r->nrint == r->caprint) {
		size_t cap = r->caprint ? 2 * r->caprint : 16;
		struct rintent *p = realloc(r->rint, cap * sizeof(*p));

		if (!p)
			return send_frame(r, k, TSOR_X_RST, h->stream, false, 0, NULL, 0);
		r->rint = p;
		r->caprint = cap;
	}
	ri.born_ns = tsor_now_ns();
	r->rint[r->nrint++] = ri;
	return 0;
}

/* CANCEL of an OPEN the peer sent: drop it unless answered already. */
static int on_cancel(struct tsor_relay *r, size_t k, const struct tsor_xhdr *h)
{
	for (size_t i = 0; i < r->nrint; i++) {
		if (r->rint[i].peer == k && r->rint[i].wire == h->stream) {
			r->rint[i] = r->rint[--r->nrint];
			return send_frame(r, k, TSOR_X_RST, h->stream, false, 0, NULL, 0);
		}
	}
	return 0; /* already answered: the answer is on its way */
}

/* RST: of an OPEN the peer sent (s NULL), or of stream s. */
static int on_rst(struct tsor_relay *r, size_t k, const struct tsor_xhdr *h, struct stream *s)
{
	bool from_opener = h->flags & TSOR_XF_OPENER;

	for (size_t i = 0; !s && from_opener && i < r->nrint; i++) {
		if (r->rint[i].peer == k && r->rint[i].wire == h->stream) {
			r->rint[i] = r->rint[--r->nrint];
			return 0;
		}
	}
	if (!s)
		return 0;
	if (s->state == ST_PENDING) {
		if (s->cancel_client) {
			r->cbs.reply(r->cbs.arg, s->cancel_client, s->id, 0, s->cancel_why);
			stream_free(r, s);
		} else {
			/* Refused: the lib's CANCEL (at its confirm deadline)
			 * gets 0 and it uses kernel TCP. */
			s->state = ST_REFUSED;
		}
		return 0;
	}
	if (s->state == ST_LIVE)
		stream_reset(r, s, false);
	return 0;
}

/* ACCEPTED, DATA, CREDIT, FIN, FIN_ACK of a stream we know. */
static int on_stream(struct tsor_relay *r, struct stream *s, const struct tsor_xhdr *h,
		     const uint8_t *pl)
{
	ssize_t n;

	switch (h->type) {
	case TSOR_X_ACCEPTED:
		/* One answer per OPEN, and only to its opener. */
		if (!s->opener || s->state != ST_PENDING)
			return -EPROTO;
		s->state = ST_LIVE;
		s->credit = h->credit;
		s->peer_ring = h->credit;
		r->remote_live++;
		/* Release: pairs with the connector's acquire load; then wake it. */
		atomic_store_explicit(&s->conn.map.hdr->accepted, 1, memory_order_release);
		bell(s->conn.peer_bell[TSOR_RX]);
		if (s->cancel_client) {
			r->cbs.reply(r->cbs.arg, s->cancel_client, s->id, -EALREADY, s->cancel_why);
			s->cancel_client = 0;
		}
		return 0;
	case TSOR_X_DATA:
		if (s->state != ST_LIVE || h->len > s->owed)
			return -EPROTO; /* beyond the grant: a broken or hostile peer */
		s->owed -= h->len;
		if (s->closed) {
			/* Bytes for a closed socket: the kernel answers RST. */
			stream_reset(r, s, true);
			return 0;
		}
		n = ring_write(&s->conn.tx, pl, h->len);
		/* We granted that room; only a lib lying about its head takes
		 * it away. */
		if (n != (ssize_t)h->len)
			stream_reset(r, s, true);
		return 0;
	case TSOR_X_CREDIT:
		if (s->state != ST_LIVE || h->credit > s->peer_ring - s->credit)
			return -EPROTO;
		s->credit += h->credit;
		return 0;
	case TSOR_X_FIN:
		if (s->state != ST_LIVE)
			return -EPROTO;
		/* Release: every DATA before the FIN is in the ring. */
		atomic_store_explicit(&s->conn.map.hdr->shut_wr[s->conn.side], 1,
				      memory_order_release);
		bell(s->conn.peer_bell[TSOR_RX]);
		return sframe(r, s, TSOR_X_FIN_ACK, 0, NULL, 0);
	case TSOR_X_FIN_ACK:
		if (s->state != ST_LIVE || !s->fin_sent)
			return -EPROTO;
		s->fin_acked = true;
		return 0;
	default:
		return -EPROTO;
	}
}

static int on_frame(void *arg, const struct tsor_xhdr *h, const uint8_t *pl)
{
	struct frame_ctx *fc = arg;
	struct tsor_relay *r = fc->r;
	size_t k = fc->peer;
	struct peer *p = &r->peers[k];
	bool from_opener = h->flags & TSOR_XF_OPENER;
	struct stream *s;

	if (!p->hello) {
		if (h->type != TSOR_X_HELLO)
			return -EPROTO;
		p->hello = true;
		return 0;
	}
	if (h->type == TSOR_X_HELLO)
		return -EPROTO;
	if (h->type == TSOR_X_OPEN)
		return from_opener ? on_open(r, k, h, pl) : -EPROTO;
	if (h->type == TSOR_X_CANCEL)
		return from_opener ? on_cancel(r, k, h) : -EPROTO;
	/* A frame about a stream the sender opened names it by the sender's
	 * id; one about a stream we opened, by ours. */
	s = stream_by_wire(r, k, h->stream, !from_opener);
	if (h->type == TSOR_X_RST)
		return on_rst(r, k, h, s);
	if (!s) {
		/* A stream we forgot: closed here after our FIN was
		 * acknowledged, or reset, or an OPEN we cancelled. As a
		 * closed kernel socket does, answer bytes with RST, and an
		 * ACCEPTED too (our lib went on without the ring: the peer
		 * must not keep its end); the peer's FIN gets its FIN_ACK (so
		 * its kernel FIN may go); CREDIT and FIN_ACK need nothing. */
		uint8_t t = h->type == TSOR_X_DATA || h->type == TSOR_X_ACCEPTED ? TSOR_X_RST
			    : h->type == TSOR_X_FIN				 ? TSOR_X_FIN_ACK
						    : TSOR_X_TYPE_COUNT;

		if (t == TSOR_X_TYPE_COUNT)
			return 0;
		return send_frame(r, k, t, h->stream, !from_opener, 0, NULL, 0) == -ENOBUFS
			       ? -ENOBUFS
			       : 0;
	}
	return on_stream(r, s, h, pl);
}

void tsor_relay_sync(struct tsor_relay *r)
{
	struct pollfd p[TSOR_RELAY_MAX_PEERS];
	size_t idx[TSOR_RELAY_MAX_PEERS], n = 0;

	if (!r)
		return;
	for (size_t k = 0; k < r->npeers; k++) {
		if (!r->peers[k].link)
			continue;
		idx[n] = k;
		p[n++] = (struct pollfd){ .fd = r->ops->fd(r->peers[k].link), .events = POLLIN };
	}
	if (!n || poll(p, n, 0) <= 0)
		return;
	for (size_t i = 0; i < n; i++) {
		struct frame_ctx fc = { .r = r, .peer = idx[i] };
		int ret;

		if (!p[i].revents || !r->peers[idx[i]].link)
			continue;
		ret = r->ops->io(r->peers[idx[i]].link, p[i].revents, on_frame, &fc);
		if (ret)
			peer_down(r, idx[i],
				  ret == -ECONNRESET ? "closed by the peer" : log_errstr(-ret));
	}
}

size_t tsor_relay_pollmax(const struct tsor_relay *r)
{
	return r ? 1 + r->npeers + (size_t)2 * TSOR_RELAY_MAX_STREAMS : 0;
}

size_t tsor_relay_pollfds(struct tsor_relay *r, struct pollfd *p, size_t max)
{
	size_t n = 0;

	if (!r)
		return 0;
	if (!r->slots) {
		r->slots = calloc(tsor_relay_pollmax(r), sizeof(*r->slots));
		if (!r->slots)
			return 0;
	}
	if (r->lfd >= 0 && n < max) {
		r->slots[n] = (struct pslot){ .kind = 0 };
		p[n++] = (struct pollfd){ .fd = r->lfd, .events = POLLIN };
	}
	for (size_t k = 0; k < r->npeers && n < max; k++) {
		struct tsor_xlink *l = r->peers[k].link;

		if (!l)
			continue;
		r->slots[n] = (struct pslot){ .kind = 1, .peer = k };
		p[n++] = (struct pollfd){ .fd = r->ops->fd(l), .events = r->ops->events(l) };
	}
	for (size_t i = 0; i < r->nstreams && n + 2 <= max; i++) {
		struct stream *s = r->streams[i];

		for (int d = TSOR_RX; d <= TSOR_TX; d++) {
			r->slots[n] = (struct pslot){ .kind = 2, .s = s };
			p[n++] = (struct pollfd){ .fd = s->conn.bell[d], .events = POLLIN };
		}
	}
	r->nslots = n;
	return n;
}

static void accept_links(struct tsor_relay *r)
{
	for (int round = 0; round < 16; round++) {
		struct tsor_xlink *l;
		struct tsor_addr from;
		size_t k;
		char a[64];
		int ret = r->ops->accept(r->lfd, &l, &from);

		if (ret)
			return;
		for (k = 0; k < r->npeers; k++)
			if (same_host(&r->peers[k].cfg.node, &from))
				break;
		if (k == r->npeers) {
			tsor_addr_format(&from, a, sizeof(a));
			log_warn("relay: link from %s, which is no configured peer; closed", a);
			r->ops->close(l);
			continue;
		}
		if (r->peers[k].link)
			peer_down(r, k, "replaced by a new link from the peer");
		tsor_addr_format(&from, a, sizeof(a));
		log_info("relay: link from peer %s", a);
		r->peers[k].link = l;
		if (hello(r, k))
			peer_down(r, k, "cannot queue HELLO");
	}
}

static void dial(struct tsor_relay *r, uint64_t now)
{
	for (size_t k = 0; k < r->npeers; k++) {
		struct peer *p = &r->peers[k];
		char a[64];
		int ret;

		if (p->link || !p->dialer || now < p->next_dial_ns)
			continue;
		p->next_dial_ns = now + DIAL_RETRY_NS;
		ret = r->ops->connect(&p->cfg.node, &p->link);
		if (ret) {
			p->link = NULL;
			tsor_addr_format(&p->cfg.node, a, sizeof(a));
			log_debug("relay: dial %s: %s", a, log_errstr(-ret));
			continue;
		}
		if (hello(r, k))
			peer_down(r, k, "cannot queue HELLO");
	}
}

static void expire(struct tsor_relay *r, uint64_t now)
{
	for (size_t i = r->nrint; i-- > 0;) {
		struct rintent *ri = &r->rint[i];

		/* born_ns may be after now (an OPEN read in this round). */
		if (ri->born_ns + RINTENT_TTL_NS < now) {
			(void)send_frame(r, ri->peer, TSOR_X_RST, ri->wire, false, 0, NULL, 0);
			r->rint[i] = r->rint[--r->nrint];
		}
	}
}

int tsor_relay_service(struct tsor_relay *r, const struct pollfd *p, size_t n)
{
	uint64_t now = tsor_now_ns(), next = UINT64_MAX;
	bool busy = false;

	if (!r)
		return -1;
	if (n > r->nslots)
		n = r->nslots;
	/* Bells first: their streams still exist (nothing ran yet). */
	for (size_t i = 0; i < n; i++)
		if (r->slots[i].kind == 2 && p[i].revents)
			tsor_conn_drain_fd(p[i].fd);
	for (size_t i = 0; i < n; i++) {
		if (r->slots[i].kind == 0 && (p[i].revents & POLLIN))
			accept_links(r);
	}
	for (size_t i = 0; i < n; i++) {
		struct frame_ctx fc = { .r = r, .peer = r->slots[i].peer };
		struct peer *pe = &r->peers[fc.peer];
		int ret;

		if (r->slots[i].kind != 1 || !p[i].revents || !pe->link ||
		    r->ops->fd(pe->link) != p[i].fd)
			continue;
		ret = r->ops->io(pe->link, p[i].revents, on_frame, &fc);
		if (ret)
			peer_down(r, fc.peer,
				  ret == -ECONNRESET ? "closed by the peer" : log_errstr(-ret));
	}
	dial(r, now);
	expire(r, now);
	for (size_t i = r->nstreams; i-- > 0;)
		if (i < r->nstreams && pump(r, r->streams[i]))
			busy = true;
	/* Frames the pumps queued go out now, not at the next poll. */
	for (size_t k = 0; k < r->npeers; k++) {
		struct frame_ctx fc = { .r = r, .peer = k };
		struct peer *pe = &r->peers[k];
		int ret;

		if (!pe->link || !r->ops->queued(pe->link))
			continue;
		ret = r->ops->io(pe->link, POLLOUT, on_frame, &fc);
		if (ret)
			peer_down(r, k, log_errstr(-ret));
	}
	for (size_t k = 0; k < r->npeers; k++) {
		const struct peer *pe = &r->peers[k];

		if (!pe->link && pe->dialer && pe->next_dial_ns < next)
			next = pe->next_dial_ns;
	}
	if (busy)
		return 0;
	if (next == UINT64_MAX)
		return -1;
	now = tsor_now_ns();
	return next <= now ? 0 : (int)((next - now) / 1000000u) + 1;
}

void tsor_relay_stats(const struct tsor_relay *r, uint64_t *stats)
{
	uint64_t tx = 0, rx = 0, up = 0;

	if (!r)
		return;
	tx = r->tx_gone;
	rx = r->rx_gone;
	for (size_t k = 0; k < r->npeers; k++) {
		const struct peer *p = &r->peers[k];

		if (!p->link)
			continue;
		tx += r->ops->tx_bytes(p->link);
		rx += r->ops->rx_bytes(p->link);
		up += p->hello;
	}
	stats[TSOR_STAT_REMOTE] = r->remote_live;
	stats[TSOR_STAT_XPORT_TX] = tx;
	stats[TSOR_STAT_XPORT_RX] = rx;
	stats[TSOR_STAT_PEERS_UP] = up;
	stats[TSOR_STAT_STREAMS] = r->nstreams;
}

void tsor_relay_free(struct tsor_relay *r)
{
	if (!r)
		return;
	for (size_t k = 0; k < r->npeers; k++)
		if (r->peers[k].link)
			peer_down(r, k, "tsord stops");
	while (r->nstreams)
		stream_free(r, r->streams[r->nstreams - 1]);
	if (r->lfd >= 0)
		close(r->lfd);
	free(r->streams);
	free(r->rint);
	free(r->slots);
	free(r);
}
