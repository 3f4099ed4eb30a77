/* SPDX-License-Identifier: MIT */
/*
 * Splice mode's slow path: turning a client connection whose request head
 * has been read into an end-to-end TCP connection with a backend, carried
 * packet by packet by the fast path (bpf/splice.bpf.c). The arithmetic and
 * the map layouts are in splice-abi.h; this file is the procedure.
 *
 * Who does the handshakes
 * ------------------------
 * Laconic's paper answers SYNs itself with SYN cookies, and so does the
 * fast path here (splice-abi.h): it answers the SYN and hands the ACK that
 * returns a valid cookie to the listener, and from then on the kernel owns
 * the client connection, with retransmissions and ICMP handled. The
 * balancer accepts it, reads the head through the socket, and connects to
 * the backend with an ordinary connect() from a port of its own range (the
 * backend handshake then mirrors the client's MSS through TCP_MAXSEG).
 * What the kernel cannot do is forget a connection without telling the
 * peer; TCP_REPAIR can: a socket in repair mode transmits nothing, reports
 * its exact sequence numbers (TCP_QUEUE_SEQ) and closes silently. So the
 * expensive part of a proxy, a TCP endpoint per leg for the life of the
 * connection, lasts only until the head is read.
 *
 * The splice, per connection (one worker thread, no locks):
 *
 *   1. accept, read and parse the head (proxy.c), pick a backend, hand the
 *      client socket here with the head rewritten (X-Forwarded-For) and any
 *      bytes that followed it;
 *   2. connect to the backend from LB-side port P, bound explicitly;
 *   3. connected: insert both flow entries in state LC_HOLD. From now on the
 *      fast path drops the connection's packets (TCP will resend them), so
 *      neither socket changes under us;
 *   4. read what is left in the client socket, switch both sockets to
 *      repair mode, read rcv_nxt/snd_nxt of each and compute the offsets;
 *      with TCP timestamps on both legs, also each socket's TS clock
 *      (TCP_TIMESTAMP), which the fast path maps the ends' stamps onto;
 *      (legs that differ in timestamps or SACK cannot be joined: found
 *      before step 3, the client goes back to the proxy, proxy_adopt();
 *      a backend that refused one is remembered, and splice_fits()
 *      proxies its next clients with it);
 *   5. initialise the connection slot, rewrite both entries to LC_LIVE,
 *      close both sockets (silently);
 *   6. send the replay (head + later bytes, + FIN if the client had sent
 *      one) to the backend from a raw socket, as segments of the backend
 *      connection, and resend what the backend has not acknowledged (the
 *      fast path records its highest ACK in the slot) with exponential
 *      back-off. This is the only data the balancer ever (re)transmits.
 *
 * After that the worker only watches slots: FIN both ways or RST starts a
 * linger (late retransmissions are still translated), then both entries go;
 * a connection silent for timeout_idle is forgotten (its next packet meets
 * the kernel, which answers with a reset). Keep-alive requests on a spliced
 * connection go to the backend of the first one: the balancer no longer sees
 * them, and pipelining would forbid anything else (documented).
 *
 * Ports and slots are split between workers (port p belongs to worker
 * (p - min) % nworkers, slots in contiguous ranges), so allocation is
 * worker-local and a port is reused only after its entries are gone. A
 * port need only be unique per backend (the 4-tuple is what matters), so
 * each backend address gets the worker's whole slice: with the default
 * range, a 3 s linger and two workers, ~4000 new spliced connections per
 * second per backend before the slice runs out (503, counted).
 *
 * IPv6. A connection is of one family end to end (splice-abi.h), so the
 * procedure is the same for both; what differs is held in struct sp_end
 * (an address of either family), the entries' layout (lc_flow6 in
 * lc_flows6), the route query (RTM_GETROUTE with an AF_INET6 rtmsg) and
 * the replay's header: an IPPROTO_RAW socket of AF_INET6 implies
 * IPV6_HDRINCL on Linux (inet6_create() sets hdrincl for it, as for IPv4),
 * so the replay carries its own 40-byte header, and the kernel fills in
 * nothing: there is no IP checksum, but payload length and hop limit are
 * ours to write, and the destination's port must be 0 (for a raw IPv6
 * socket it names the protocol). TCP_REPAIR, the sequence arithmetic and
 * the slot are family-blind. An IPv6 listener is IPV6_V6ONLY
 * (runtime.c), so IPv4 clients cannot reach a v6 splice as v4-mapped
 * addresses: they need an IPv4 listener, whose splice is IPv4.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sockios.h>
#include <linux/tcp.h>
#include <netinet/ip.h>
#include <netinet/ip6.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "compiler.h"
#include "lb.h"
#include "log.h"

#define SP_RTO_MS     200u /* first replay retransmission, doubled each time */
#define SP_TS_AHEAD   8u   /* replay TSval past the backend socket's clock (ticks) */
#define SP_RTO_TRIES  7u   /* then the connection is reset: ~25 s in all */
#define SP_TICK_MS    250u
#define SP_BIND_TRIES 32
#define SP_ROUTES     256u  /* route cache entries (direct-mapped by address) */
#define SP_ROUTE_MS   1000u /* how long a cached route is trusted */

enum sp_state {
	SP_CONNECT = 0, /* backend connect in progress; the client socket is ours */
	SP_REPLAY,	/* spliced; the replay is not acknowledged yet */
	SP_LIVE,	/* spliced; only the slot is watched */
};

/* An IP address of the connection's family, network order (IPv4: a4). */
union sp_ip {
	uint32_t a4;
	struct in6_addr a6;
};

/* One end of one leg: address and port (network order). */
struct sp_end {
	union sp_ip ip;
	uint16_t port;
};

struct lb_splice {
	struct lb_splicer *sp;
	struct lb_wrt *wrt;
	struct lb_backend *be;
	struct ev_io io; /* the backend socket while connecting */
	struct ev_timer timer;
	int cfd;
	size_t listener;	   /* the client's, in wrt's configuration */
	int copts;		   /* the client leg's TCP options (splice_client_opts()) */
	uint32_t ins_off, ins_len; /* our own bytes in the replay (X-Forwarded-For) */
	enum sp_state state;
	uint32_t slot;
	uint16_t port;	      /* host order */
	size_t bports;	      /* index of its backend's port pool */
	int family;	      /* AF_INET or AF_INET6, both legs */
	struct sp_end client; /* the client leg's far end */
	struct sp_end vip;    /* and ours; address unset = a wildcard listener's, read later */
	struct sp_end backend;
	struct sp_end lb; /* our end towards the backend; address unset = the route gave none */
	union {
		struct lc_flow_key v4[2];
		struct lc_flow6_key v6[2];
	} k;	   /* by enum lc_dir: [LC_C2B] client -> VIP, [LC_B2C] backend -> LB */
	int oif_b; /* interface towards the backend */
	char *rep; /* the replay */
	uint32_t nrep, rep_cap;
	bool rep_fin;
	uint32_t sb, rb; /* backend socket's snd_nxt and rcv_nxt at the splice */
	uint16_t rwin;	 /* window field for replay segments */
	uint32_t mss;	 /* backend's MSS */
	uint32_t rto_ms;
	unsigned tries;
	bool recovery;	/* after a timeout, until the backend acknowledges rec */
	uint32_t rec;	/* replay bytes sent when the timeout struck */
	uint32_t sent;	/* replay bytes sent at least once */
	uint32_t acked; /* replay bytes the backend acknowledged, as last seen */
	uint32_t wnd0;	/* the backend's window at the splice, bytes */
	uint32_t tsv;	/* timestamps on: the backend socket's clock at the splice */
	bool ts;
	uint8_t wsb;	     /* the backend's window scale */
	uint64_t progress;   /* ms: last ACK progress (or first send) */
	uint64_t closing_ms; /* FIN/FIN or RST seen at this time, 0 = not yet */
	char client_ip[INET6_ADDRSTRLEN];
	struct lb_splice *next, **pprev;
};

/* Output interface towards an address, as the kernel's routing table said lately. */
struct sp_route {
	int family; /* 0 = empty */
	union sp_ip dst;
	union sp_ip src; /* preferred source address, all zero = none given */
	int oif;
	uint64_t at_ms;
};

/* LB-side ports in use towards one backend address. */
struct sp_ports {
	int family;
	struct sp_end addr; /* the backend's */
	uint32_t cursor;
	uint8_t *used; /* by index in the worker's slice */
};

struct lb_splicer {
	struct lb_worker *w;
	int nl; /* NETLINK_ROUTE socket for route lookups */
	struct sp_route routes[SP_ROUTES];
	struct lc_agent *agent;
	struct lc_conn *conns;
	int raw, raw6; /* IPPROTO_RAW sockets for replay segments (raw6: -1 = no IPv6) */
	/*
	 * Free connection slots, a FIFO ring: a freed slot is reused last, long
	 * after any fast-path run that still held its deleted entries (RCU)
	 * could write to it.
	 */
	uint32_t *free_slots;
	uint32_t nslots, nfree, free_head;
	uint32_t port_first, port_step, nports; /* this worker's slice of the range */
	struct sp_ports *bports;		/* per backend address */
	size_t nbports;
	uint32_t linger_ms;
	struct lb_splice *list;
	size_t count;
	struct ev_timer tick;
};

static uint64_t coarse_ns(void)
{
	struct timespec ts;

	/* The clock bpf_ktime_get_coarse_ns() reads. */
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static size_t ip_len(int family)
{
	return family == AF_INET6 ? sizeof(struct in6_addr) : sizeof(uint32_t);
}

static bool ip_unset(int family, const union sp_ip *ip)
{
	return family == AF_INET6 ? IN6_IS_ADDR_UNSPECIFIED(&ip->a6) : !ip->a4;
}

static bool end_eq(int family, const struct sp_end *a, const struct sp_end *b)
{
	return a->port == b->port && !memcmp(&a->ip, &b->ip, ip_len(family));
}

/* An AF_INET or AF_INET6 socket address as an sp_end. */
static void end_of(const struct sockaddr_storage *ss, struct sp_end *e)
{
	memset(e, 0, sizeof(*e));
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;

		e->ip.a6 = a->sin6_addr;
		e->port = a->sin6_port;
	} else {
		const struct sockaddr_in *a = (const struct sockaddr_in *)ss;

		e->ip.a4 = a->sin_addr.s_addr;
		e->port = a->sin_port;
	}
}

/* The reverse; returns the address's length. */
static socklen_t sa_of(int family, const struct sp_end *e, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;

		a->sin6_family = AF_INET6;
		a->sin6_addr = e->ip.a6;
		a->sin6_port = e->port;
		return sizeof(*a);
	}
	((struct sockaddr_in *)ss)->sin_family = AF_INET;
	((struct sockaddr_in *)ss)->sin_addr.s_addr = e->ip.a4;
	((struct sockaddr_in *)ss)->sin_port = e->port;
	return sizeof(struct sockaddr_in);
}

/* A socket's local address, for what the route or the listener left open. */
static int local_end(int fd, int family, struct sp_end *e)
{
	struct sockaddr_in6 a6 = { 0 };
	struct sockaddr_in a4 = { 0 };
	socklen_t l = family == AF_INET6 ? sizeof(a6) : sizeof(a4);

	memset(e, 0, sizeof(*e));
	if (getsockname(fd, family == AF_INET6 ? (struct sockaddr *)&a6 : (struct sockaddr *)&a4,
			&l))
		return -errno;
	if (family == AF_INET6) {
		e->ip.a6 = a6.sin6_addr;
		e->port = a6.sin6_port;
	} else {
		e->ip.a4 = a4.sin_addr.s_addr;
		e->port = a4.sin_port;
	}
	return 0;
}

/* ------------------------------------------------------ ports and slots */

/*
 * The port pool of one backend address: a port needs to be unique only per
 * backend (the 4-tuple is), so each backend has the worker's whole slice.
 */
static int ports_of(struct lb_splicer *sp, int family, const struct sp_end *b, size_t *out)
{
	struct sp_ports *p;
	size_t i;

	for (i = 0; i < sp->nbports; i++) {
		if (sp->bports[i].family == family && end_eq(family, &sp->bports[i].addr, b)) {
			*out = i;
			return 0;
		}
	}
	p = realloc(sp->bports, (sp->nbports + 1) * sizeof(*p));
	if (!p)
		return -ENOMEM;
	sp->bports = p;
	p = &sp->bports[sp->nbports];
	p->family = family;
	p->addr = *b;
	p->cursor = 0;
	p->used = calloc(sp->nports ? sp->nports : 1, 1);
	if (!p->used)
		return -ENOMEM;
	*out = sp->nbports++;
	return 0;
}

static int port_get(struct lb_splicer *sp, size_t pool, uint16_t *port)
{
	struct sp_ports *p = &sp->bports[pool];
	uint32_t k;

	for (k = 0; k < sp->nports; k++) {
		uint32_t i = (p->cursor + k) % sp->nports;

		if (!p->used[i]) {
			p->used[i] = 1;
			/* Round robin: a freed port waits as long as possible before reuse. */
			p->cursor = (i + 1) % sp->nports;
			*port = (uint16_t)(sp->port_first + i * sp->port_step);
			return 0;
		}
	}
	return -EADDRNOTAVAIL;
}

static void port_put(struct lb_splicer *sp, size_t pool, uint16_t port)
{
	sp->bports[pool].used[(port - sp->port_first) / sp->port_step] = 0;
}

/* --------------------------------------------------------------- routes */

/* `ip route get DST`: the interface the kernel would send a packet for dst out of. */
static int route_lookup(int nl, int family, const union sp_ip *dst, int *oif, union sp_ip *src)
{
	struct {
		struct nlmsghdr nh;
		struct rtmsg rt;
		char attrs[64];
	} req;
	char resp[4096] = { 0 };
	struct rtattr *ra;
	struct nlmsghdr *nh;
	ssize_t n;
	int len;

	memset(&req, 0, sizeof(req));
	req.nh.nlmsg_len = NLMSG_LENGTH(sizeof(req.rt));
	req.nh.nlmsg_type = RTM_GETROUTE;
	req.nh.nlmsg_flags = NLM_F_REQUEST;
	req.rt.rtm_family = (unsigned char)family;
	req.rt.rtm_dst_len = (unsigned char)(ip_len(family) * 8);
	ra = (struct rtattr *)((char *)&req + NLMSG_ALIGN(req.nh.nlmsg_len));
	ra->rta_type = RTA_DST;
	ra->rta_len = (unsigned short)RTA_LENGTH(ip_len(family));
	memcpy(RTA_DATA(ra), dst, ip_len(family));
	req.nh.nlmsg_len = NLMSG_ALIGN(req.nh.nlmsg_len) + RTA_ALIGN(ra->rta_len);
	if (send(nl, &req, req.nh.nlmsg_len, 0) < 0)
		return -errno;
	n = recv(nl, resp, sizeof(resp), 0);
	if (n < 0)
		return -errno;
	for (nh = (struct nlmsghdr *)resp; NLMSG_OK(nh, (size_t)n); nh = NLMSG_NEXT(nh, n)) {
		struct rtmsg *rt = NLMSG_DATA(nh);

		if (nh->nlmsg_type == NLMSG_ERROR) {
			const struct nlmsgerr *e = NLMSG_DATA(nh);

			return e->error ? e->error : -EHOSTUNREACH;
		}
		if (nh->nlmsg_type != RTM_NEWROUTE)
			continue;
		len = (int)RTM_PAYLOAD(nh);
		*oif = 0;
		memset(src, 0, sizeof(*src));
		for (ra = RTM_RTA(rt); RTA_OK(ra, len); ra = RTA_NEXT(ra, len)) {
			if (ra->rta_type == RTA_OIF && RTA_PAYLOAD(ra) >= sizeof(int))
				memcpy(oif, RTA_DATA(ra), sizeof(int));
			else if (ra->rta_type == RTA_PREFSRC && RTA_PAYLOAD(ra) >= ip_len(family))
				memcpy(src, RTA_DATA(ra), ip_len(family));
		}
		return *oif ? 0 : -EHOSTUNREACH;
	}
	return -EHOSTUNREACH;
}

static int route_get(struct lb_splicer *sp, int family, const union sp_ip *dst, int *oif,
		     union sp_ip *src)
{
	/* IPv6: the low word, where hosts of one subnet differ. */
	uint32_t h = family == AF_INET6 ? dst->a6.s6_addr32[3] ^ dst->a6.s6_addr32[2] : dst->a4;
	struct sp_route *r = &sp->routes[(ntohl(h) * 2654435761u) >> 24];
	uint64_t now = ev_now(&sp->w->loop);
	int ret;

	if (r->family == family && !memcmp(&r->dst, dst, ip_len(family)) &&
	    now - r->at_ms < SP_ROUTE_MS) {
		*oif = r->oif;
		*src = r->src;
		return 0;
	}
	ret = route_lookup(sp->nl, family, dst, oif, src);
	if (ret)
		return ret;
	r->family = family;
	r->dst = *dst;
	r->oif = *oif;
	r->src = *src;
	r->at_ms = now;
	return 0;
}

/* --------------------------------------------------------------- replay */

static uint32_t csum_add(uint32_t sum, const void *p, size_t len)
{
	const uint8_t *b = p;

	for (; len > 1; len -= 2, b += 2)
		sum += (uint32_t)b[0] << 8 | b[1];
	if (len)
		sum += (uint32_t)b[0] << 8;
	return sum;
}

static uint16_t csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return htons((uint16_t)~sum);
}

/* One segment of the backend connection, from the LB side, carrying rep[off, off+len). */
static int replay_segment(struct lb_splice *s, uint32_t off, uint32_t len, bool fin)
{
	union {
		struct {
			struct iphdr ip;
			struct tcphdr tcp;
			char data[1500];
		} v4;
		struct {
			struct ip6_hdr ip;
			struct tcphdr tcp;
			char data[1500];
		} v6;
	} pkt;
	struct {
		struct in6_addr saddr, daddr;
		uint32_t len;
		uint8_t zero[3], proto;
	} ph6;
	struct {
		uint32_t saddr, daddr;
		uint8_t zero, proto;
		uint16_t len;
	} ph;
	struct sockaddr_storage to;
	struct sp_end dst = s->backend;
	struct tcphdr *tcp;
	char *data;
	uint32_t sum;
	size_t olen = s->ts ? 12 : 0, tlen = sizeof(*tcp) + olen + len, hlen;
	socklen_t tolen;
	int fd;

	memset(&pkt, 0, sizeof(pkt));
	if (s->family == AF_INET6) {
		hlen = sizeof(pkt.v6.ip);
		tcp = &pkt.v6.tcp;
		data = pkt.v6.data;
		/* No IP checksum, and the kernel fills nothing in: flow label 0. */
		pkt.v6.ip.ip6_flow = htonl(6u << 28);
		pkt.v6.ip.ip6_plen = htons((uint16_t)tlen);
		pkt.v6.ip.ip6_nxt = IPPROTO_TCP;
		pkt.v6.ip.ip6_hlim = 64;
		pkt.v6.ip.ip6_src = s->lb.ip.a6;
		pkt.v6.ip.ip6_dst = s->backend.ip.a6;
		memset(&ph6, 0, sizeof(ph6));
		ph6.saddr = s->lb.ip.a6;
		ph6.daddr = s->backend.ip.a6;
		ph6.len = htonl((uint32_t)tlen);
		ph6.proto = IPPROTO_TCP;
		sum = csum_add(0, &ph6, sizeof(ph6));
		fd = s->sp->raw6;
		/* For a raw IPv6 socket the port names the protocol: 0 = the socket's. */
		dst.port = 0;
	} else {
		hlen = sizeof(pkt.v4.ip);
		tcp = &pkt.v4.tcp;
		data = pkt.v4.data;
		pkt.v4.ip.version = 4;
		pkt.v4.ip.ihl = 5;
		pkt.v4.ip.tot_len = htons((uint16_t)(hlen + tlen));
		pkt.v4.ip.frag_off = htons(IP_DF);
		pkt.v4.ip.ttl = 64;
		pkt.v4.ip.protocol = IPPROTO_TCP;
		pkt.v4.ip.saddr = s->lb.ip.a4;
		pkt.v4.ip.daddr = s->backend.ip.a4;
		/* The kernel fills id and the IP checksum for IPPROTO_RAW. */
		memset(&ph, 0, sizeof(ph));
		ph.saddr = s->lb.ip.a4;
		ph.daddr = s->backend.ip.a4;
		ph.proto = IPPROTO_TCP;
		ph.len = htons((uint16_t)tlen);
		sum = csum_add(0, &ph, sizeof(ph));
		fd = s->sp->raw;
	}
	tcp->source = s->lb.port;
	tcp->dest = s->backend.port;
	tcp->seq = htonl(s->sb + off);
	tcp->ack_seq = htonl(s->rb);
	tcp->doff = (uint16_t)((sizeof(*tcp) + olen) / 4);
	tcp->ack = 1;
	tcp->psh = len > 0;
	tcp->fin = fin;
	tcp->window = htons(s->rwin);
	if (s->ts) {
		/*
		 * NOP, NOP, TS: the backend negotiated timestamps, so its segments
		 * carry them. Always the same stamp, retransmissions too: a later
		 * one could pass what the client's first stamps map to (ts_at,
		 * LC_TS_MARGIN ahead) and make the backend refuse those as old.
		 * TSecr 0: no RTT sample from the replay.
		 *
		 * SP_TS_AHEAD past the splice-time clock, not the clock itself:
		 * nothing the socket stamped before may be newer than the replay,
		 * and TCP_TIMESTAMP can read below the socket's last stamp (since
		 * 6.7 it rounds a millisecond clock down to even, bit 0 flagging
		 * microsecond stamps; a paced socket stamps departure times). An
		 * established backend forgives one tick of age, but one whose
		 * handshake ACK was lost is still in SYN-RECV, where the replay's
		 * first segment must complete the handshake and PAWS forgives
		 * nothing (tcp_check_req): refused, every resend too, until the
		 * backend repeated its SYN-ACK and the balancer's kernel reset it.
		 * Under 3 % loss that was 4 uploads in ~280 (3 % lost ACKs times
		 * half the clocks odd); with the stamp ahead, none in 300. With
		 * microsecond stamps (tcp_usec_ts routes) the 8 are microseconds.
		 */
		uint32_t v = htonl(s->tsv + SP_TS_AHEAD);

		data[0] = data[1] = 1;
		data[2] = 8;
		data[3] = 10;
		memcpy(data + 4, &v, 4);
		data += olen;
	}
	memcpy(data, s->rep + off, len);
	sum = csum_add(sum, tcp, tlen);
	tcp->check = csum_fold(sum);
	tolen = sa_of(s->family, &dst, &to);
	if (sendto(fd, &pkt, hlen + tlen, 0, (const struct sockaddr *)&to, tolen) < 0)
		return -errno;
	return 0;
}

/* The replay's segment size: the backend's MSS, capped by pkt.data above. */
static uint32_t replay_mss(const struct lb_splice *s)
{
	uint32_t mss = s->mss ? s->mss : 536;

	return mss > 1400 ? 1400 : mss; /* the backend's MSS is 1460 on Ethernet anyway */
}

/*
 * Sends replay bytes [from, to); the FIN rides on the segment that ends the
 * replay. The number of segments sent, or -errno if the first one failed.
 */
static int replay_send(struct lb_splice *s, uint32_t from, uint32_t to)
{
	uint32_t mss = replay_mss(s), off = from;
	int ret = 0, n = 0;

	do {
		uint32_t len = to - off < mss ? to - off : mss;
		bool last = off + len == s->nrep;

		ret = replay_segment(s, off, len, last && s->rep_fin);
		off += len;
		n += !ret;
	} while (!ret && off < to);
	return n ? n : ret;
}

/*
 * The oldest unacknowledged segment again, no further than byte upto (the
 * FIN alone when only it is left); the number of segments sent.
 */
static int replay_resend(struct lb_splice *s, uint32_t acked, uint32_t upto)
{
	uint32_t mss = replay_mss(s);

	if (acked >= s->nrep)
		return replay_segment(s, s->nrep, 0, true) ? 0 : 1;
	if (upto > s->nrep)
		upto = s->nrep;
	return replay_send(s, acked, upto - acked < mss ? upto : acked + mss);
}

/* ------------------------------------------------------------ life cycle */

static void on_sp_timer(struct ev_loop *loop, struct ev_timer *t);
static void replay_pump(struct lb_splice *s, uint64_t now);

static void sp_unlink(struct lb_splice *s)
{
	struct lb_splicer *sp = s->sp;

	*s->pprev = s->next;
	if (s->next)
		s->next->pprev = s->pprev;
	sp->count--;
}

/* The connection's key for direction dir, in its family's layout. */
static const void *key_of(const struct lb_splice *s, enum lc_dir dir)
{
	return s->family == AF_INET6 ? (const void *)&s->k.v6[dir] : (const void *)&s->k.v4[dir];
}

/* Both keys from the four ends: C -> VIP, and B -> LB. */
static void keys_fill(struct lb_splice *s)
{
	memset(&s->k, 0, sizeof(s->k));
	if (s->family == AF_INET6) {
		struct lc_flow6_key *k = s->k.v6;

		memcpy(k[LC_C2B].saddr, &s->client.ip.a6, 16);
		memcpy(k[LC_C2B].daddr, &s->vip.ip.a6, 16);
		k[LC_C2B].sport = s->client.port;
		k[LC_C2B].dport = s->vip.port;
		memcpy(k[LC_B2C].saddr, &s->backend.ip.a6, 16);
		memcpy(k[LC_B2C].daddr, &s->lb.ip.a6, 16);
		k[LC_B2C].sport = s->backend.port;
		k[LC_B2C].dport = s->lb.port;
	} else {
		struct lc_flow_key *k = s->k.v4;

		k[LC_C2B] = (struct lc_flow_key){ .saddr = s->client.ip.a4,
						  .daddr = s->vip.ip.a4,
						  .sport = s->client.port,
						  .dport = s->vip.port };
		k[LC_B2C] = (struct lc_flow_key){ .saddr = s->backend.ip.a4,
						  .daddr = s->lb.ip.a4,
						  .sport = s->backend.port,
						  .dport = s->lb.port };
	}
}

/*
 * Writes both entries: x[dir] with the addresses a packet of that
 * direction leaves with (C -> B as LB -> B, B -> C as VIP -> C).
 */
static int flows_put(const struct lb_splice *s, const struct lc_xlate x[2])
{
	if (s->family == AF_INET6) {
		struct lc_flow6 f[2];

		memset(f, 0, sizeof(f));
		memcpy(f[LC_C2B].saddr, &s->lb.ip.a6, 16);
		memcpy(f[LC_C2B].daddr, &s->backend.ip.a6, 16);
		memcpy(f[LC_B2C].saddr, &s->vip.ip.a6, 16);
		memcpy(f[LC_B2C].daddr, &s->client.ip.a6, 16);
		f[LC_C2B].x = x[LC_C2B];
		f[LC_B2C].x = x[LC_B2C];
		return agent_flow_put2(s->sp->agent, AF_INET6, s->k.v6, f);
	}
	{
		struct lc_flow f[2];

		memset(f, 0, sizeof(f));
		f[LC_C2B].saddr = s->lb.ip.a4;
		f[LC_C2B].daddr = s->backend.ip.a4;
		f[LC_B2C].saddr = s->vip.ip.a4;
		f[LC_B2C].daddr = s->client.ip.a4;
		f[LC_C2B].x = x[LC_C2B];
		f[LC_B2C].x = x[LC_B2C];
		return agent_flow_put2(s->sp->agent, AF_INET, s->k.v4, f);
	}
}

static void sp_free(struct lb_splice *s, bool entries)
{
	struct lb_splicer *sp = s->sp;
	struct lb_worker *w = sp->w;

	if (entries) {
		agent_flow_del(sp->agent, s->family, key_of(s, LC_C2B), s->slot);
		/* The backend-side key holds our own port: nobody else can have it. */
		agent_flow_del(sp->agent, s->family, key_of(s, LC_B2C), UINT32_MAX);
	}
	ev_timer_cancel(&w->loop, &s->timer);
	port_put(sp, s->bports, s->port);
	sp->free_slots[(sp->free_head + sp->nfree++) % sp->nslots] = s->slot;
	STAT_ADD(s->wrt->bstats[s->be->gidx].active, -1);
	bal_conn_end(s->wrt->bal[s->be->pool], s->be->idx);
	wrt_unuse(s->wrt);
	sp_unlink(s);
	free(s->rep);
	free(s);
}

/* Before the splice: answer the client ourselves and drop both sockets. */
static void sp_fail(struct lb_splice *s, int bfd, int status, const char *why)
{
	struct lb_worker *w = s->sp->w;
	char buf[256];
	int n, off = TCP_REPAIR_OFF_NO_WP;

	log_debug("splice %s -> %s: %s", s->client_ip, s->be->cfg->addr.text, why);
	STAT_ADD(w->ws.sp_failed, 1);
	STAT_ADD(w->ws.local[status == 503 ? LB_L503 : status == 504 ? LB_L504 : LB_L502], 1);
	STAT_ADD(s->wrt->bstats[s->be->gidx].errors, 1);
	if (bfd >= 0) {
		if (s->state == SP_CONNECT)
			ev_io_del(&w->loop, &s->io);
		setsockopt(bfd, IPPROTO_TCP, TCP_REPAIR, &off, sizeof(off));
		close(bfd);
	}
	setsockopt(s->cfd, IPPROTO_TCP, TCP_REPAIR, &off, sizeof(off));
	n = snprintf(buf, sizeof(buf),
		     "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n"
		     "Connection: close\r\n\r\n%s\n",
		     status, h1_reason(status), strlen(why) + 1, why);
	if (write(s->cfd, buf, (size_t)n) < 0)
		log_debug("splice: answering %s: %s", s->client_ip, log_errstr(errno));
	shutdown(s->cfd, SHUT_WR);
	close(s->cfd);
	sp_free(s, true);
}

/*
 * Before anything is frozen (splice_now() found the legs' options apart):
 * reset the backend leg, abortively, so no TIME_WAIT keeps the LB-side port,
 * and give the client to the proxy with what was read from it, our own
 * X-Forwarded-For line taken out (the proxy writes its own). The client
 * sees nothing of it; the request costs one backend handshake more.
 */
static void sp_fallback(struct lb_splice *s, int bfd, const char *why)
{
	struct lb_worker *w = s->sp->w;
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	struct sockaddr_storage peer;
	struct iovec iov[2] = {
		{ s->rep, s->ins_off },
		{ s->rep + s->ins_off + s->ins_len, s->nrep - s->ins_off - s->ins_len },
	};

	setsockopt(bfd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(bfd);
	sa_of(s->family, &s->client, &peer);
	if (proxy_adopt(w, s->wrt, s->listener, s->cfd, &peer, iov, 2)) {
		sp_fail(s, -1, 502, why);
		return;
	}
	log_debug("splice %s -> %s: %s; proxied instead", s->client_ip, s->be->cfg->addr.text, why);
	STAT_ADD(w->ws.sp_fallback, 1);
	s->cfd = -1;
	sp_free(s, false); /* no entries yet */
}

static int seq_of(int fd, int queue, uint32_t *seq)
{
	socklen_t l = sizeof(*seq);

	if (setsockopt(fd, IPPROTO_TCP, TCP_REPAIR_QUEUE, &queue, sizeof(queue)) ||
	    getsockopt(fd, IPPROTO_TCP, TCP_QUEUE_SEQ, seq, &l))
		return -errno;
	return 0;
}

static int rep_append(struct lb_splice *s, size_t want)
{
	char *p;
	size_t cap = s->rep_cap;

	if (s->nrep + want <= cap)
		return 0;
	while (cap < s->nrep + want)
		cap = cap ? cap * 2 : 4096;
	if (cap > UINT32_MAX)
		return -E2BIG;
	p = realloc(s->rep, cap);
	if (!p)
		return -ENOMEM;
	s->rep = p;
	s->rep_cap = (uint32_t)cap;
	return 0;
}

/*
 * Client bytes still in the socket join the replay. Plain reads until
 * EAGAIN (usually one call); in repair mode only peeks work, and one peek
 * of what SIOCINQ counts takes it all.
 */
static int drain_client(struct lb_splice *s, bool peek)
{
	int avail = 0;
	ssize_t r;

	for (;;) {
		if (peek) {
			if (ioctl(s->cfd, SIOCINQ, &avail) || avail <= 0)
				return 0;
		} else {
			avail = 4096;
		}
		if (rep_append(s, (size_t)avail))
			return -ENOMEM;
		avail = (int)(s->rep_cap - s->nrep);
		r = recv(s->cfd, s->rep + s->nrep, (size_t)avail,
			 MSG_DONTWAIT | (peek ? MSG_PEEK : 0));
		if (r > 0) {
			s->nrep += (uint32_t)r;
			if (peek)
				return 0;
			continue;
		}
		if (r == 0) {
			s->rep_fin = true;
			return 0;
		}
		return errno == EAGAIN ? 0 : -errno;
	}
}

static bool has_ts(const struct tcp_info *ti)
{
	return ti->tcpi_options & TCPI_OPT_TIMESTAMPS;
}

static bool has_sack(const struct tcp_info *ti)
{
	return ti->tcpi_options & TCPI_OPT_SACK;
}

static int ts_clock(int fd, uint32_t *v)
{
	socklen_t l = sizeof(*v);

	return getsockopt(fd, IPPROTO_TCP, TCP_TIMESTAMP, v, &l) ? -errno : 0;
}

int splice_client_opts(int cfd)
{
	struct tcp_info ci;
	socklen_t l = sizeof(ci);

	if (getsockopt(cfd, IPPROTO_TCP, TCP_INFO, &ci, &l))
		return -errno;
	return ci.tcpi_options & (TCPI_OPT_TIMESTAMPS | TCPI_OPT_SACK);
}

/*
 * Whether a client leg with TCP options `opts` (splice_client_opts()) can be
 * spliced to be. Timestamps, and SACK, must be on both legs or on neither
 * (splice-abi.h says why for each). The backend leg gets an option when this
 * namespace offers it (its sysctl, re-read once a second: an operator may
 * change it at run time, and clients accepted before keep what they got)
 * and the backend does not refuse it (remembered from an earlier splice);
 * a client whose leg would differ is proxied.
 */
bool splice_fits(struct lb_worker *w, const struct lb_backend *be, int opts)
{
	struct lb_splicer *sp = w->splicer;
	bool ts_b, sack_b;

	if (!sp || opts < 0)
		return false;
	/* The agent re-reads the namespace's sysctls once a second. */
	agent_offered(sp->agent, &ts_b, &sack_b);
	ts_b = ts_b && !__atomic_load_n(&be->splice_no_ts, __ATOMIC_RELAXED);
	sack_b = sack_b && !__atomic_load_n(&be->splice_no_sack, __ATOMIC_RELAXED);
	return !!(opts & TCPI_OPT_TIMESTAMPS) == ts_b && !!(opts & TCPI_OPT_SACK) == sack_b;
}

/*
 * Steps 3-6 of the essay, in as few system calls as the kernel allows (a
 * splice costs about 30; each is microseconds on a paravirtualised guest).
 * On failure before the entries are live the caller answers 502, unless
 * *fallback says the legs' options differ: then nothing has been touched
 * yet (no entry, no repair mode) and the client goes back to the proxy.
 */
static int splice_now(struct lb_splice *s, int bfd, const char **why, bool *fallback)
{
	struct lb_splicer *sp = s->sp;
	struct tcp_info ci, bi;
	uint32_t tsc = 0;
	socklen_t l;
	struct lc_xlate x[2];
	struct sp_end e;
	union sp_ip src;
	struct lc_conn *conn;
	uint32_t rc = 0, sc = 0, data_end, ccount;
	int on = 1, inq = 0, oif_c = 0;
	unsigned lbs;

	l = sizeof(bi);
	if (getsockopt(bfd, IPPROTO_TCP, TCP_INFO, &bi, &l)) {
		*why = "cannot read TCP state";
		return -errno;
	}
	/*
	 * A leg with an option and a leg without cannot be joined (splice-abi.h).
	 * splice_fits() let this client through, so the backend refused what
	 * the client's leg has (or the namespace's sysctl changed since). Let
	 * its next clients with that option go to the proxy at once, and this
	 * one after them (on_connect): nothing is frozen yet.
	 */
	if (!!(s->copts & TCPI_OPT_TIMESTAMPS) != has_ts(&bi) ||
	    !!(s->copts & TCPI_OPT_SACK) != has_sack(&bi)) {
		if ((s->copts & TCPI_OPT_TIMESTAMPS) && !has_ts(&bi))
			__atomic_store_n(&s->be->splice_no_ts, 1, __ATOMIC_RELAXED);
		if ((s->copts & TCPI_OPT_SACK) && !has_sack(&bi))
			__atomic_store_n(&s->be->splice_no_sack, 1, __ATOMIC_RELAXED);
		*why = !!(s->copts & TCPI_OPT_TIMESTAMPS) != has_ts(&bi)
			       ? "TCP timestamps on one leg of the splice and not on the other"
			       : "SACK on one leg of the splice and not on the other";
		*fallback = true;
		return -ENOPROTOOPT;
	}
	if (ip_unset(s->family, &s->lb.ip)) {
		if (local_end(bfd, s->family, &e)) {
			*why = "cannot read socket addresses";
			return -errno;
		}
		s->lb.ip = e.ip;
	}
	if (ip_unset(s->family, &s->vip.ip)) {
		if (local_end(s->cfd, s->family, &e)) {
			*why = "cannot read socket addresses";
			return -errno;
		}
		s->vip.ip = e.ip;
	}
	keys_fill(s);
	if (route_get(sp, s->family, &s->client.ip, &oif_c, &src)) {
		*why = "no route to the client";
		return -EHOSTUNREACH;
	}

	/* 3: hold the flow in the fast path. */
	memset(x, 0, sizeof(x));
	x[0].state = x[1].state = LC_HOLD;
	x[0].slot = x[1].slot = s->slot;
	if (flows_put(s, x)) {
		*why = "the fast-path table is full";
		return -ENOSPC;
	}

	/* 4: freeze both sockets and read them. */
	if (drain_client(s, false)) {
		*why = "reading the client";
		return -EIO;
	}
	if (setsockopt(s->cfd, IPPROTO_TCP, TCP_REPAIR, &on, sizeof(on)) ||
	    setsockopt(bfd, IPPROTO_TCP, TCP_REPAIR, &on, sizeof(on))) {
		*why = "TCP_REPAIR refused (splice mode needs CAP_NET_ADMIN)";
		return -errno;
	}
	if (seq_of(s->cfd, TCP_RECV_QUEUE, &rc) || drain_client(s, true) ||
	    seq_of(s->cfd, TCP_SEND_QUEUE, &sc) || seq_of(bfd, TCP_RECV_QUEUE, &s->rb) ||
	    seq_of(bfd, TCP_SEND_QUEUE, &s->sb)) {
		*why = "reading sequence numbers";
		return -EIO;
	}
	if (ioctl(bfd, SIOCINQ, &inq) || inq) {
		*why = "the backend spoke first";
		return -EPROTO;
	}
	l = sizeof(ci);
	if (getsockopt(s->cfd, IPPROTO_TCP, TCP_INFO, &ci, &l)) {
		*why = "cannot read TCP state";
		return -errno;
	}
	s->ts = has_ts(&bi);
	if (s->ts && (ts_clock(s->cfd, &tsc) || ts_clock(bfd, &s->tsv))) {
		*why = "cannot read the TCP timestamp clocks";
		return -errno;
	}
	/* A FIN the kernel took counts one sequence number after the data. */
	if (ci.tcpi_state != 1 /* TCP_ESTABLISHED */)
		s->rep_fin = true;
	data_end = s->rep_fin ? rc - 1 : rc;
	lbs = bi.tcpi_rcv_wscale;

	/* 5: the slot first, so the fast path never counts into a stale one. */
	conn = &sp->conns[s->slot];
	memset(conn, 0, sizeof(*conn));
	conn->ack_b = s->sb;
	conn->last_ns = coarse_ns();
	/*
	 * A client FIN the kernel took before the splice rides in the replay
	 * and never crosses the fast path, which would otherwise never note it:
	 * the connection would miss FIN/FIN and wait for the idle timeout.
	 */
	if (s->rep_fin)
		conn->flags = LC_F_FIN_C;
	/*
	 * Slot before the entries that name it: no fence needed. The entries
	 * go in through bpf(2), and the kernel publishes a hash element with a
	 * release store, which orders every earlier store of this CPU (these,
	 * made in user mode, included) before the element becomes visible.
	 */

	/* Client -> backend: client byte data_end lands after the replay. */
	x[LC_C2B] = (struct lc_xlate){ .sport = s->lb.port,
				       .dport = s->backend.port,
				       .seq_off = s->sb + s->nrep - data_end,
				       .ack_off = s->rb - sc,
				       .guard_seq = data_end,
				       .slot = s->slot,
				       .dir = LC_C2B,
				       .state = LC_LIVE,
				       .wnd_shl = (uint8_t)ci.tcpi_snd_wscale,
				       .wnd_shr = (uint8_t)lbs,
				       .ifindex = (uint32_t)s->oif_b,
				       .ts_at = { s->tsv + LC_TS_MARGIN, tsc + LC_TS_MARGIN } };
	/* Backend -> client: backend byte rb lands at the client's sc. */
	x[LC_B2C] = (struct lc_xlate){ .sport = s->vip.port,
				       .dport = s->client.port,
				       .seq_off = sc - s->rb,
				       .ack_off = data_end - (s->sb + s->nrep),
				       .guard_seq = s->rb,
				       .slot = s->slot,
				       .dir = LC_B2C,
				       .state = LC_LIVE,
				       .wnd_shl = (uint8_t)bi.tcpi_snd_wscale,
				       .wnd_shr = (uint8_t)ci.tcpi_rcv_wscale,
				       .ifindex = (uint32_t)oif_c,
				       .ts_at = { s->tsv + LC_TS_MARGIN, tsc + LC_TS_MARGIN } };
	if (flows_put(s, x)) {
		*why = "the fast-path table is full";
		return -ENOSPC;
	}
	/* Repair mode: these closes send nothing, the entries own the connection now. */
	close(s->cfd);
	s->cfd = -1;
	close(bfd);

	/* 6: the replay, in the client's window expressed in the backend's scale. */
	ccount = ci.tcpi_snd_wnd >> lbs;
	s->rwin = (uint16_t)(ccount > 0xffff ? 0xffff : ccount);
	s->mss = bi.tcpi_snd_mss;
	s->wnd0 = bi.tcpi_snd_wnd;
	s->wsb = (uint8_t)bi.tcpi_snd_wscale;
	s->state = SP_REPLAY;
	STAT_ADD(sp->w->ws.sp_live, 1);
	STAT_ADD(s->wrt->bstats[s->be->gidx].requests, 1);
	replay_pump(s, ev_now(&sp->w->loop));
	return 0;
}

static void on_connect(struct ev_loop *loop, struct ev_io *io, uint32_t ev)
{
	struct lb_splice *s = container_of(io, struct lb_splice, io);
	int bfd = io->fd, err = 0, ret;
	socklen_t l = sizeof(err);
	const char *why = NULL;
	bool fallback = false;

	(void)ev;
	if (getsockopt(bfd, SOL_SOCKET, SO_ERROR, &err, &l) || err) {
		rt_backend_failed(s->wrt->rt, s->be, ev_now(loop));
		sp_fail(s, bfd, 502, "backend connection failed");
		return;
	}
	/* No EPOLL_CTL_DEL: bfd is closed before this callback returns, which
	 * removes it from the epoll set, in both outcomes. */
	ev_timer_cancel(loop, &s->timer);
	s->state = SP_REPLAY; /* for sp_fail: the watcher needs no removal */
	/* s may be gone when splice_now() returns 0 (the replay can end it). */
	ret = splice_now(s, bfd, &why, &fallback);
	if (ret && fallback)
		sp_fallback(s, bfd, why);
	else if (ret)
		sp_fail(s, bfd, 502, why);
}

/*
 * The replay as a tiny TCP sender: within the backend's window (the fast
 * path records its ACK and window in the slot), polling every millisecond
 * while the window holds it back; when nothing moves for a timeout
 * (exponential back-off), the oldest segment again, then NewReno's partial
 * ACKs (one hole per round trip; the fast path records no duplicate ACKs or
 * SACK blocks for a fast retransmit). Usually the first send is all of it
 * and the first look finds it acknowledged.
 */
static void replay_pump(struct lb_splice *s, uint64_t now)
{
	struct lb_worker *w = s->sp->w;
	const struct lc_conn *c = &s->sp->conns[s->slot];
	uint32_t ack = __atomic_load_n(&c->ack_b, __ATOMIC_RELAXED);
	uint32_t raw = __atomic_load_n(&c->wnd_b, __ATOMIC_RELAXED);
	uint32_t acked = ack - s->sb, need = s->nrep + (s->rep_fin ? 1u : 0u), wnd, limit, probe;
	bool partial;
	int n = 0;

	if ((int32_t)acked < 0)
		acked = 0;
	if (acked >= need) {
		s->state = SP_LIVE;
		free(s->rep);
		s->rep = NULL;
		return;
	}
	if (acked > s->acked || !s->progress) {
		/*
		 * A partial ACK (RFC 6582): progress after a timeout, but short of
		 * what had been sent, so the backend lacks the segment at acked as
		 * well (it keeps what arrived beyond a hole). Resend that one now:
		 * each further hole costs a round trip, not another timeout.
		 */
		partial = s->recovery && acked < s->rec;
		if (s->recovery && !partial)
			s->recovery = false;
		s->acked = acked;
		s->tries = 0;
		s->rto_ms = SP_RTO_MS;
		s->progress = now;
		if (partial)
			n = replay_resend(s, acked, s->sent);
	}
	/* No ACK through the fast path yet: the window the socket had. */
	wnd = ack == s->sb && !raw ? s->wnd0 : raw << s->wsb;
	limit = acked + wnd < s->nrep ? acked + wnd : s->nrep;
	if (s->sent < acked)
		s->sent = acked;
	if (s->sent < limit || (s->sent == s->nrep && !s->sent)) {
		replay_send(s, s->sent, limit);
		s->sent = limit;
	} else if (now - s->progress >= s->rto_ms) {
		if (++s->tries > SP_RTO_TRIES) {
			/* Forgotten: the next packet of either end meets the kernel, which resets
			 * it. */
			log_warn(
				"splice %s -> %s: backend never acknowledged the request; dropping",
				s->client_ip, s->be->cfg->addr.text);
			STAT_ADD(w->ws.sp_failed, 1);
			STAT_ADD(w->ws.sp_live, -1);
			sp_free(s, true);
			return;
		}
		/*
		 * The oldest segment only, which is also the window probe when the
		 * window is shut; partial ACKs then walk the other holes. Going
		 * back N resent the whole flight, mostly bytes the backend had.
		 */
		probe = acked + replay_mss(s) < s->nrep ? acked + replay_mss(s) : s->nrep;
		n = replay_resend(s, acked, probe);
		if (s->sent < probe)
			s->sent = probe;
		s->recovery = true;
		/* The FIN counts: an ACK of the data alone is partial, it resends the FIN. */
		s->rec = s->sent + (s->rep_fin && s->sent == s->nrep ? 1u : 0u);
		s->rto_ms *= 2;
		s->progress = now;
	}
	STAT_ADD(w->ws.sp_rtx, n > 0 ? (uint64_t)n : 0);
	/*
	 * Every millisecond while the window holds bytes back, or for a
	 * timeout's worth (SP_RTO_MS) after a resend while partial ACKs may
	 * come; then at the timeout. A dead backend costs 200 wake-ups per
	 * back-off step, about 1 400 in all, not one a millisecond for 25 s.
	 */
	ev_timer_arm(&w->loop, &s->timer,
		     (s->sent < s->nrep && s->sent == limit && wnd) ||
				     (s->recovery && now - s->progress < SP_RTO_MS)
			     ? now + 1
			     : s->progress + s->rto_ms);
}

static void on_sp_timer(struct ev_loop *loop, struct ev_timer *t)
{
	struct lb_splice *s = container_of(t, struct lb_splice, timer);

	if (s->state == SP_CONNECT) {
		rt_backend_failed(s->wrt->rt, s->be, ev_now(loop));
		sp_fail(s, s->io.fd, 504, "backend connect timed out");
		return;
	}
	replay_pump(s, ev_now(loop));
}

/* Removes a spliced connection's entries and accounts for it. */
static void sp_teardown(struct lb_splice *s, bool idle)
{
	struct lb_worker *w = s->sp->w;
	const struct lc_conn *conn = &s->sp->conns[s->slot];
	uint64_t up = conn->bytes[LC_C2B], down = conn->bytes[LC_B2C];

	STAT_ADD(w->ws.sp_live, -1);
	if (idle)
		STAT_ADD(w->ws.sp_idle, 1);
	else
		STAT_ADD(w->ws.sp_closed, 1);
	STAT_ADD(s->wrt->bstats[s->be->gidx].bytes_in, up + s->nrep);
	STAT_ADD(s->wrt->bstats[s->be->gidx].bytes_out, down);
	if (w->graph)
		graph_add(w->graph, w->id, s->client_ip, s->be->cfg->addr.text,
			  up + down + s->nrep);
	sp_free(s, true);
}

static void on_tick(struct ev_loop *loop, struct ev_timer *t)
{
	struct lb_splicer *sp = container_of(t, struct lb_splicer, tick);
	uint64_t now = ev_now(loop), ns = coarse_ns();
	uint64_t idle_ns = (uint64_t)sp->w->wrt->rt->cfg->timeout_idle_ms * 1000000u;
	struct lb_splice *s, *next;

	for (s = sp->list; s; s = next) {
		const struct lc_conn *c = &sp->conns[s->slot];
		uint32_t fl;

		next = s->next;
		if (s->state == SP_CONNECT)
			continue;
		fl = __atomic_load_n(&c->flags, __ATOMIC_RELAXED);
		if ((fl & LC_F_RST) || ((fl & LC_F_FIN_C) && (fl & LC_F_FIN_B))) {
			if (!s->closing_ms)
				s->closing_ms = now;
			else if (now - s->closing_ms >= sp->linger_ms)
				sp_teardown(s, false);
		} else if ((int64_t)(ns - __atomic_load_n(&c->last_ns, __ATOMIC_RELAXED)) >
			   (int64_t)idle_ns) {
			/*
			 * Signed: the fast path on the other CPU may stamp a
			 * packet after ns was read, one coarse tick later; as
			 * an unsigned difference that busy connection would
			 * look idle for 584 years and be torn down.
			 */
			sp_teardown(s, true);
		}
	}
	ev_timer_arm(loop, t, now + SP_TICK_MS);
}

int splice_start(struct lb_worker *w, struct lb_wrt *wrt, struct lb_backend *be, int cfd,
		 const struct lb_splice_req *rq)
{
	const struct sockaddr_storage *peer = rq->peer;
	const struct sockaddr_storage *local = &wrt->rt->cfg->listeners[rq->listener].addr.ss;
	struct lb_splicer *sp = w->splicer;
	struct lb_splice *s;
	uint32_t mss = 0;
	socklen_t l = sizeof(mss), alen;
	int bfd = -1, one = 1, ret, i, tries, family = peer->ss_family;

	/*
	 * One family end to end (config.c checks listeners against their
	 * pools; this is the backstop). A v4-mapped IPv6 peer should not occur
	 * (IPv6 listeners are IPV6_V6ONLY); its packets would arrive as IPv4
	 * and miss an IPv6 entry, so it is refused rather than spliced.
	 */
	if (!sp || (family != AF_INET && family != AF_INET6) ||
	    be->cfg->addr.ss.ss_family != family || (family == AF_INET6 && sp->raw6 < 0))
		return -EAFNOSUPPORT;
	if (family == AF_INET6 &&
	    IN6_IS_ADDR_V4MAPPED(&((const struct sockaddr_in6 *)peer)->sin6_addr))
		return -EAFNOSUPPORT;
	if (!sp->nfree) {
		STAT_ADD(w->ws.sp_no_port, 1);
		return -EBUSY;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->sp = sp;
	s->cfd = cfd;
	s->be = be;
	s->wrt = wrt;
	s->family = family;
	s->listener = rq->listener;
	s->copts = rq->tcp_opts;
	end_of(&be->cfg->addr.ss, &s->backend);
	end_of(peer, &s->client);
	/* A wildcard listener leaves the VIP (unset) to getsockname() at splice time. */
	if (local->ss_family == family)
		end_of(local, &s->vip);
	/* The route gives the interface and our source address towards the backend. */
	ret = route_get(sp, family, &s->backend.ip, &s->oif_b, &s->lb.ip);
	if (ret)
		goto err;
	inet_ntop(family, &s->client.ip, s->client_ip, sizeof(s->client_ip));
	for (i = 0; i < rq->iovcnt; i++) {
		const struct iovec *v = &rq->iov[i];

		if (i == rq->ins) {
			s->ins_off = s->nrep;
			s->ins_len = (uint32_t)v->iov_len;
		}
		if (!v->iov_len)
			continue; /* nothing to copy, and maybe no buffer yet */
		ret = rep_append(s, v->iov_len);
		if (ret)
			goto err;
		memcpy(s->rep + s->nrep, v->iov_base, v->iov_len);
		s->nrep += (uint32_t)v->iov_len;
	}
	if (rq->ins < 0)
		s->ins_off = s->nrep;
	bfd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (bfd < 0) {
		ret = -errno;
		goto err;
	}
	/* Mirror the client's MSS, so the backend's segments fit the client's path. */
	if (!getsockopt(cfd, IPPROTO_TCP, TCP_MAXSEG, &mss, &l) && mss)
		setsockopt(bfd, IPPROTO_TCP, TCP_MAXSEG, &mss, sizeof(mss));
	/* Another backend's connection may hold the same port while it connects. */
	setsockopt(bfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	ret = ports_of(sp, family, &s->backend, &s->bports);
	if (ret)
		goto err;
	for (tries = 0;; tries++) {
		struct sockaddr_storage a;

		ret = port_get(sp, s->bports, &s->port);
		if (ret) {
			STAT_ADD(w->ws.sp_no_port, 1);
			ret = -EBUSY;
			goto err;
		}
		s->lb.port = htons(s->port);
		alen = sa_of(family, &s->lb, &a);
		if (!bind(bfd, (struct sockaddr *)&a, alen))
			break;
		ret = -errno;
		/* A foreign socket holds it (the round robin moves past it): try the next. */
		log_debug("splice: LB-side port %u: %s", s->port, log_errstr(-ret));
		port_put(sp, s->bports, s->port);
		if (ret != -EADDRINUSE || tries == SP_BIND_TRIES)
			goto err;
	}
	if (connect(bfd, (const struct sockaddr *)&be->cfg->addr.ss, be->cfg->addr.len) &&
	    errno != EINPROGRESS) {
		ret = -errno;
		port_put(sp, s->bports, s->port);
		goto err;
	}
	ev_timer_init(&s->timer, on_sp_timer);
	ret = ev_io_add(&w->loop, &s->io, bfd, EPOLLOUT, on_connect);
	if (ret) {
		port_put(sp, s->bports, s->port);
		goto err;
	}
	s->slot = sp->free_slots[sp->free_head];
	sp->free_head = (sp->free_head + 1) % sp->nslots;
	sp->nfree--;
	ev_timer_arm(&w->loop, &s->timer, ev_now(&w->loop) + wrt->rt->cfg->timeout_connect_ms);
	wrt->users++;
	STAT_ADD(w->ws.sp_started, 1);
	STAT_ADD(wrt->bstats[be->gidx].active, 1);
	STAT_ADD(wrt->bstats[be->gidx].connects, 1);
	bal_conn_start(wrt->bal[be->pool], be->idx);
	s->next = sp->list;
	if (s->next)
		s->next->pprev = &s->next;
	s->pprev = &sp->list;
	sp->list = s;
	sp->count++;
	if (!ev_timer_armed(&sp->tick))
		ev_timer_arm(&w->loop, &sp->tick, ev_now(&w->loop) + SP_TICK_MS);
	return 0;
err:
	if (bfd >= 0)
		close(bfd);
	free(s->rep);
	free(s);
	return ret;
}

int splicer_create(struct lb_worker *w, const struct cfg *cfg, struct lb_splicer **out)
{
	struct lb_splicer *sp;
	uint32_t per, lo, i, range;
	int ret;

	sp = calloc(1, sizeof(*sp));
	if (!sp)
		return -ENOMEM;
	sp->w = w;
	sp->agent = w->agent;
	sp->conns = agent_conns(w->agent);
	sp->linger_ms = cfg->splice_linger_ms;
	sp->nl = -1;
	sp->raw = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);
	if (sp->raw < 0) {
		ret = -errno;
		sp->raw6 = -1;
		goto err;
	}
	/* A kernel without IPv6 splices IPv4 only (splice_start() refuses the rest). */
	sp->raw6 = socket(AF_INET6, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);
	if (sp->raw6 < 0 && errno != EAFNOSUPPORT) {
		ret = -errno;
		goto err;
	}
	sp->nl = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (sp->nl < 0) {
		ret = -errno;
		goto err;
	}
	per = agent_max_conns(w->agent) / (uint32_t)w->nworkers;
	lo = per * w->id;
	range = cfg->splice_port_max - cfg->splice_port_min + 1;
	sp->port_first = cfg->splice_port_min + w->id;
	sp->port_step = (uint32_t)w->nworkers;
	sp->nports = range > w->id ? (range - w->id + sp->port_step - 1) / sp->port_step : 0;
	sp->free_slots = calloc(per ? per : 1, sizeof(*sp->free_slots));
	if (!sp->free_slots) {
		ret = -ENOMEM;
		goto err;
	}
	for (i = 0; i < per; i++)
		sp->free_slots[sp->nfree++] = lo + i;
	sp->nslots = per ? per : 1;
	ev_timer_init(&sp->tick, on_tick);
	*out = sp;
	return 0;
err:
	splicer_free(sp);
	return ret;
}

size_t splicer_count(const struct lb_splicer *sp)
{
	return sp ? sp->count : 0;
}

void splicer_free(struct lb_splicer *sp)
{
	if (!sp)
		return;
	while (sp->list) {
		struct lb_splice *s = sp->list;

		if (s->state == SP_CONNECT) {
			sp_fail(s, s->io.fd, 503, "shutting down");
		} else {
			STAT_ADD(sp->w->ws.sp_live, -1);
			sp_free(s, true);
		}
	}
	if (ev_timer_armed(&sp->tick))
		ev_timer_cancel(&sp->w->loop, &sp->tick);
	if (sp->raw >= 0)
		close(sp->raw);
	if (sp->raw6 >= 0)
		close(sp->raw6);
	if (sp->nl >= 0)
		close(sp->nl);
	free(sp->free_slots);
	for (size_t i = 0; i < sp->nbports; i++)
		free(sp->bports[i].used);
	free(sp->bports);
	free(sp);
}
