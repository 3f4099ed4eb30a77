/* SPDX-License-Identifier: GPL-2.0-only OR MIT */
/*
 * Laconic's fast path: a TC ingress program on the balancer's interfaces
 * that translates the packets of spliced connections (see ../splice-abi.h
 * for the sequence arithmetic and the entry life cycle).
 *
 * Per packet: parse Ethernet/IPv4/TCP or Ethernet/IPv6/TCP, look the
 * 4-tuple up in lc_flows or lc_flows6, and for a live entry rewrite
 * addresses, ports, seq, ack and window, patch the checksums
 * incrementally, set the MACs of the output interface and redirect to it.
 * Packets without an entry go to the kernel untouched, so the proxy mode,
 * health checks and handshakes share the interfaces.
 *
 * The two families differ only in the parse, the key and the addresses;
 * everything after the look-up (SYN, HOLD, guard, slot bookkeeping, the
 * TCP words, the redirect) is one set of inline helpers over struct
 * lc_xlate, the part of an entry they share. IPv4 keeps its own map and
 * 12-byte key, so its cost is what it was plus one ethertype comparison
 * (measured when IPv6 came: 363 instructions for the IPv4 path, 357 before;
 * the option rewrite below came later).
 *
 * IPv6 specifics. Only a fixed 40-byte header whose next header is TCP is
 * translated; a packet with extension headers (fragments included) goes
 * to the kernel untouched. A spliced flow never carries them: neither
 * end's kernel adds extension headers to its TCP segments, IPv6 routers
 * never fragment, and TCP sizes segments to the path MTU instead of
 * fragmenting. Walking a chain of them would cost a bounded loop in the
 * verifier for packets that are not ours. There is no IP checksum; the
 * addresses enter the TCP checksum through the pseudo-header, all 32 bytes
 * of them in one bpf_csum_diff(). The payload length comes from the
 * header's payload_len, not from the frame (anything after it is not
 * payload; a 74-byte minimum frame is never padded, but trailers exist).
 *
 * Checksums. TC sees skbs straight from a veth, usually CHECKSUM_PARTIAL
 * (the sender offloaded the TCP checksum, whose field then holds only the
 * pseudo-header sum). bpf_l4_csum_replace() knows the difference: address
 * changes are passed with BPF_F_PSEUDO_HDR and patch the field in both
 * cases, payload-header changes (ports, seq, ack, window) patch it only
 * when the checksum is complete. The diffs are computed with
 * bpf_csum_diff() over whole 32-bit words, so wrapping sequence arithmetic
 * never meets ones'-complement arithmetic. This keeps GSO and checksum
 * offload on, which XDP cannot (brief, section 4).
 *
 * Output. The slow path stores the output interface in the entry (from a
 * route lookup at splice time); bpf_redirect_neigh() fills in the MACs from
 * the neighbour table (for IPv6 through an IPv6 route and neighbour
 * discovery: the same call). bpf_fib_lookup() would do that here, but from
 * the ingress side it refuses to work unless the host forwards, and a
 * balancer that forwards would route clients straight to the backends'
 * network.
 *
 * TCP options. Timestamps and SACK blocks carry clocks and sequence
 * numbers of the legs (splice-abi.h has the arithmetic). The options are
 * walked with a bounded loop (at most 40 bytes, any layout, not only the
 * NOP,NOP,TS one Linux sends), rewritten in place, and their checksum
 * difference is taken over the whole option area as aligned 32-bit words,
 * so a field at an odd offset needs no byte-order care. A segment without
 * options (timestamps off) skips all of it.
 *
 * Cost: one hash lookup, one array lookup, three checksum helpers (two for
 * IPv6: no IP checksum), one more diff with options, and a
 * neighbour-resolving redirect.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/pkt_cls.h>
#include <linux/tcp.h>

#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "../splice-abi.h"

#ifndef AF_INET
#define AF_INET 2
#endif

char LICENSE[] SEC("license") = "Dual MIT/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 2 * LC_DEFAULT_CONNS);
	__type(key, struct lc_flow_key);
	__type(value, struct lc_flow);
} lc_flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 2 * LC_DEFAULT_CONNS);
	__type(key, struct lc_flow6_key);
	__type(value, struct lc_flow6);
} lc_flows6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, LC_DEFAULT_CONNS);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct lc_conn);
} lc_conns SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, LC_S_MAX);
	__type(key, __u32);
	__type(value, __u64);
} lc_stats SEC(".maps");

#define IP_CSUM_OFF  (ETH_HLEN + __builtin_offsetof(struct iphdr, check))
#define TCP_CSUM_OFF 16 /* inside the TCP header */

/* lc_track()'s "go on translating"; the TC_ACT_* verdicts are all >= -1. */
#define LC_GO (-2)

static __always_inline void stat_add(__u32 which, __u64 v)
{
	__u64 *p = bpf_map_lookup_elem(&lc_stats, &which);

	if (p)
		*p += v;
}

/*
 * A SYN on a spliced tuple: never translated (see splice-abi.h). `map`
 * and `key` are the family's table and the packet's key.
 */
static __always_inline int lc_syn(const struct tcphdr *tcp, const struct lc_xlate *x, void *map,
				  const void *key)
{
	struct lc_conn *conn;
	__u32 slot;

	/*
	 * The backend repeating its SYN-ACK: the handshake's last ACK (from the
	 * balancer's socket, before the splice) was lost, so the backend still
	 * waits in SYN-RECV, and the first replay segment that lands completes
	 * its handshake. The balancer's kernel has no socket for the tuple any
	 * more and would answer with a reset, which kills the connection: drop
	 * it. (Seen under loss, when the replay was refused as well.)
	 */
	if (x->dir == LC_B2C && tcp->ack) {
		stat_add(LC_S_SYNACK_DROP, 1);
		return TC_ACT_SHOT;
	}
	stat_add(LC_S_SYN_PASS, 1);
	/*
	 * A client SYN on a tuple whose connection is over (FIN both ways, or
	 * RST) and lingering: the client reuses its port for a new
	 * connection. Its packets must reach the kernel from now on, not the
	 * old backend connection. A SYN on a live connection is left to the
	 * kernel alone (no socket: its SYN-ACK draws only a challenge ACK), so
	 * a blind spoofed SYN cannot cut a connection.
	 */
	if (x->dir == LC_C2B && !tcp->ack) {
		slot = x->slot;
		conn = bpf_map_lookup_elem(&lc_conns, &slot);
		if (conn &&
		    ((conn->flags & LC_F_RST) ||
		     (conn->flags & (LC_F_FIN_C | LC_F_FIN_B)) == (LC_F_FIN_C | LC_F_FIN_B)))
			bpf_map_delete_elem(map, key);
	}
	return TC_ACT_OK;
}

/*
 * Everything between the look-up and the rewrite: HOLD, the slot, the
 * guard, and the slot's bookkeeping (FIN, RST, the backend's ACK and
 * window, time, bytes). l4len is the TCP header plus payload as the IP
 * header gives it. LC_GO with the payload length in *paylen, or a verdict.
 */
static __always_inline int lc_track(const struct tcphdr *tcp, const struct lc_xlate *x, __u32 l4len,
				    __u32 *paylen, struct lc_conn **connp)
{
	struct lc_conn *conn;
	__u32 doff, seq, ack, slot, n;
	__u8 dir;

	if (x->state != LC_LIVE) {
		stat_add(LC_S_HOLD_DROP, 1);
		return TC_ACT_SHOT;
	}
	slot = x->slot;
	conn = bpf_map_lookup_elem(&lc_conns, &slot);
	if (!conn)
		return TC_ACT_SHOT;

	doff = tcp->doff * 4u;
	if (doff < sizeof(*tcp) || l4len < doff)
		return TC_ACT_SHOT;
	n = l4len - doff;
	seq = bpf_ntohl(tcp->seq);
	ack = bpf_ntohl(tcp->ack_seq);
	dir = x->dir & 1;

	/*
	 * Bytes before guard_seq were acknowledged by the kernel socket and
	 * are carried by the replay; translating them would write them over
	 * the replay at the backend.
	 */
	if ((n || tcp->fin) && (__s32)(seq - x->guard_seq) < 0) {
		stat_add(LC_S_GUARD_DROP, 1);
		return TC_ACT_SHOT;
	}

	if (dir == LC_B2C && tcp->ack && (__s32)(ack - conn->ack_b) >= 0) {
		/* Racing CPUs may lose a step; the next ACK repairs it. */
		conn->ack_b = ack;
		conn->wnd_b = bpf_ntohs(tcp->window);
	}
	if (tcp->fin) {
		__sync_fetch_and_or(&conn->flags, dir == LC_C2B ? LC_F_FIN_C : LC_F_FIN_B);
		stat_add(LC_S_FIN, 1);
	}
	if (tcp->rst) {
		__sync_fetch_and_or(&conn->flags, LC_F_RST);
		stat_add(LC_S_RST, 1);
	}
	conn->last_ns = bpf_ktime_get_coarse_ns();
	conn->bytes[dir] += n;
	conn->pkts[dir] += 1;
	*paylen = n;
	*connp = conn;
	return LC_GO;
}

/*
 * Rewrites ports, seq, ack and window in place and returns the checksum
 * difference of the four TCP words that hold them (ports, seq, ack, and
 * doff/flags/window), to be applied without BPF_F_PSEUDO_HDR. Negative on
 * a helper failure.
 */
static __always_inline __s64 lc_rewrite_tcp(struct tcphdr *tcp, const struct lc_xlate *x)
{
	__u32 from[4], to[4], seq, ack;
	__u16 win;

	seq = bpf_ntohl(tcp->seq);
	ack = bpf_ntohl(tcp->ack_seq);
	from[0] = ((__u32 *)tcp)[0];
	from[1] = tcp->seq;
	from[2] = tcp->ack_seq;
	from[3] = ((__u32 *)tcp)[3];
	win = bpf_ntohs(tcp->window);
	if (!tcp->rst) {
		__u32 w = ((__u32)win << x->wnd_shl) >> x->wnd_shr;

		win = w > 0xffff ? 0xffff : (__u16)w;
	}
	tcp->source = x->sport;
	tcp->dest = x->dport;
	tcp->seq = bpf_htonl(seq + x->seq_off);
	if (tcp->ack)
		tcp->ack_seq = bpf_htonl(ack + x->ack_off);
	tcp->window = bpf_htons(win);
	to[0] = ((__u32 *)tcp)[0];
	to[1] = tcp->seq;
	to[2] = tcp->ack_seq;
	to[3] = ((__u32 *)tcp)[3];
	return bpf_csum_diff(from, 16, to, 16, 0);
}

static __always_inline __u32 rd32(const __u8 *p)
{
	return (__u32)p[0] << 24 | (__u32)p[1] << 16 | (__u32)p[2] << 8 | p[3];
}

static __always_inline void wr32(__u8 *p, __u32 v)
{
	p[0] = (__u8)(v >> 24);
	p[1] = (__u8)(v >> 16);
	p[2] = (__u8)(v >> 8);
	p[3] = (__u8)v;
}

#define LC_OPT_WORDS 10 /* 40 bytes: the most a TCP header holds */

/* The state of one walk over a copy of a segment's options. */
struct lc_optwalk {
	__u8 b[4 * LC_OPT_WORDS]; /* the option area before the rewrite */
	__u32 optlen, off;
	__u32 ts, sack, sack_len; /* offsets of the options, 40 = absent */
};

/* One option (or NOP) of the walk; 1 stops it. */
static long lc_opt_step(__u64 i, void *ctx)
{
	struct lc_optwalk *w = ctx;
	__u32 off = w->off;
	__u8 kind, len;

	(void)i;
	/* off first, alone: the verifier must see it bounded (no wrap-around). */
	if (off > sizeof(w->b) - 2 || off + 2 > w->optlen)
		return 1;
	kind = w->b[off];
	if (kind == 0) /* end of options */
		return 1;
	if (kind == 1) { /* NOP */
		w->off = off + 1;
		return 0;
	}
	len = w->b[off + 1];
	if (len < 2 || off + len > w->optlen)
		return 1;
	if (kind == 8 && len == 10) {
		w->ts = off;
	} else if (kind == 5) {
		w->sack = off;
		w->sack_len = len;
	}
	w->off = off + len;
	return 0;
}

/* The option area as 32-bit words (aligned to the TCP header); -1 if cut short. */
static __always_inline int lc_opt_words(const __u8 *opt, void *end, __u32 optlen, __u32 *w)
{
	__u32 i;

	for (i = 0; i < LC_OPT_WORDS; i++) {
		if (i * 4 >= optlen)
			break;
		if ((void *)(opt + i * 4 + 4) > end)
			return -1;
		w[i] = ((const __u32 *)opt)[i];
	}
	return 0;
}

/*
 * Rewrites the timestamps and SACK blocks among tcp's options (see
 * splice-abi.h) and returns the checksum difference of the option area, to
 * be applied like lc_rewrite_tcp()'s; negative when the header does not
 * fit the packet. Must run before any helper that may move packet data.
 */
static __always_inline __s64 lc_rewrite_opts(struct tcphdr *tcp, void *end,
					     const struct lc_xlate *x, struct lc_conn *conn)
{
	__u32 to[LC_OPT_WORDS] = { 0 };
	__u8 *opt = (__u8 *)(tcp + 1);
	__u32 optlen = tcp->doff * 4u - sizeof(*tcp), j, ts, sack, sack_len;
	struct lc_optwalk w = { 0 };
	__u8 d = x->dir & 1, o = d ^ 1;

	if (!optlen)
		return 0;
	if (optlen > 4 * LC_OPT_WORDS)
		return -1;
	if (lc_opt_words(opt, end, optlen, (__u32 *)w.b))
		return -1;
	if (optlen == 12 && ((__u32 *)w.b)[0] == bpf_htonl(0x0101080a)) {
		/* NOP, NOP, TS: every data segment of Linux and most stacks. */
		ts = 2;
		sack = 4 * LC_OPT_WORDS;
		sack_len = 0;
	} else {
		/*
		 * Find them first, on the copy, then act on the packet. The walk
		 * is a bpf_loop() callback: the verifier checks one step once,
		 * where an inline loop over up to 40 option bytes multiplies its
		 * paths past its limit.
		 */
		w.optlen = optlen;
		w.ts = w.sack = 4 * LC_OPT_WORDS;
		bpf_loop(4 * LC_OPT_WORDS, lc_opt_step, &w, 0);
		ts = w.ts;
		sack = w.sack;
		sack_len = w.sack_len;
	}
	if (ts < 4 * LC_OPT_WORDS) {
		__u8 *p = opt + ts;
		__u32 tsval, tsecr, base, nb, ob;

		if ((void *)(p + 10) > end)
			return -1;
		tsval = rd32(p + 2);
		tsecr = rd32(p + 6);
		base = conn->ts_base[d];
		if (!base) {
			/* 0 means "none yet", so a first stamp of 0 counts as 1. */
			nb = tsval ? tsval : 1;
			base = __sync_val_compare_and_swap(&conn->ts_base[d], 0, nb);
			if (!base)
				base = nb;
		}
		wr32(p + 2, tsval - base + x->ts_at[d]);
		if (tcp->ack && tsecr) {
			ob = conn->ts_base[o];
			if (ob && (__s32)(tsecr - x->ts_at[o]) >= 0)
				wr32(p + 6, tsecr - x->ts_at[o] + ob);
			else
				wr32(p + 6, 0);
		}
	}
	if (sack < 4 * LC_OPT_WORDS) {
		/* Up to 4 blocks of two edges each. */
		for (j = 0; j < 8; j++) {
			__u8 *e = opt + sack + 2 + j * 4;

			if (2 + j * 4 + 4 > sack_len)
				break;
			if ((void *)(e + 4) > end)
				return -1;
			wr32(e, rd32(e) + x->ack_off);
		}
	}
	if (lc_opt_words(opt, end, optlen, to))
		return -1;
	return bpf_csum_diff((__u32 *)w.b, optlen, to, optlen, 0);
}

/* Two checksum differences as one (ones' complement: end-around carry). */
static __always_inline __u32 csum_add32(__u32 a, __u32 b)
{
	__u32 s = a + b;

	return s + (s < a);
}

/* The common end: counters, then the neighbour-resolving redirect. */
static __always_inline int lc_out(const struct lc_xlate *x, __u32 paylen)
{
	stat_add(LC_S_TRANSLATED, 1);
	stat_add(LC_S_BYTES, paylen);
	/*
	 * The neighbour subsystem fills in the MACs (and resolves them if it
	 * must), after an output route lookup on ifindex: no forwarding needed.
	 */
	return bpf_redirect_neigh(x->ifindex, NULL, 0, 0);
}

static __always_inline int lc_splice4(struct __sk_buff *skb, void *data, void *end)
{
	struct iphdr *ip = data + ETH_HLEN;
	struct tcphdr *tcp;
	struct lc_flow_key key;
	struct lc_flow *f;
	struct lc_conn *conn = 0;
	__u32 ihl, iplen, paylen = 0, from[2], to[2];
	__s64 d, dopt;
	int r;

	if ((void *)(ip + 1) > end || ip->protocol != IPPROTO_TCP)
		return TC_ACT_OK;
	ihl = ip->ihl * 4u;
	if (ihl < sizeof(*ip) || ihl > 60)
		return TC_ACT_OK;
	/* Fragments never belong to a splice (DF is set on both legs). */
	if (ip->frag_off & bpf_htons(0x3fff))
		return TC_ACT_OK;
	tcp = (void *)ip + ihl;
	if ((void *)(tcp + 1) > end)
		return TC_ACT_OK;

	key.saddr = ip->saddr;
	key.daddr = ip->daddr;
	key.sport = tcp->source;
	key.dport = tcp->dest;
	f = bpf_map_lookup_elem(&lc_flows, &key);
	if (!f)
		return TC_ACT_OK;
	if (tcp->syn)
		return lc_syn(tcp, &f->x, &lc_flows, &key);

	/*
	 * The IP length, not the frame's: Ethernet pads short frames (a bare
	 * ACK) to 60 bytes. A GSO skb carries its whole length there; only BIG
	 * TCP writes 0, and then the frame length is the one to trust.
	 */
	iplen = bpf_ntohs(ip->tot_len);
	if (!iplen || iplen > skb->len - ETH_HLEN)
		iplen = skb->len - ETH_HLEN;
	if (iplen < ihl)
		return TC_ACT_SHOT;
	r = lc_track(tcp, &f->x, iplen - ihl, &paylen, &conn);
	if (r != LC_GO)
		return r;

	d = lc_rewrite_tcp(tcp, &f->x);
	dopt = lc_rewrite_opts(tcp, end, &f->x, conn);
	if (d < 0 || dopt < 0)
		return TC_ACT_SHOT;
	d = csum_add32((__u32)d, (__u32)dopt);
	/* Addresses: in the IP header and the TCP pseudo header. */
	from[0] = ip->saddr;
	from[1] = ip->daddr;
	ip->saddr = f->saddr;
	ip->daddr = f->daddr;
	to[0] = f->saddr;
	to[1] = f->daddr;

	if (bpf_l4_csum_replace(skb, ETH_HLEN + ihl + TCP_CSUM_OFF, 0, (__u32)d, 0))
		return TC_ACT_SHOT;
	d = bpf_csum_diff(from, 8, to, 8, 0);
	if (d < 0 ||
	    bpf_l4_csum_replace(skb, ETH_HLEN + ihl + TCP_CSUM_OFF, 0, (__u32)d,
				BPF_F_PSEUDO_HDR) ||
	    bpf_l3_csum_replace(skb, IP_CSUM_OFF, 0, (__u32)d, 0))
		return TC_ACT_SHOT;
	return lc_out(&f->x, paylen);
}

static __always_inline int lc_splice6(struct __sk_buff *skb, void *data, void *end)
{
	struct ipv6hdr *ip6 = data + ETH_HLEN;
	struct tcphdr *tcp;
	struct lc_flow6_key key;
	struct lc_flow6 *f;
	struct lc_conn *conn = 0;
	__u32 plen, paylen = 0, from[8], to[8];
	__s64 d, dopt;
	int r;

	/* Extension headers and fragments: not a spliced flow (see above). */
	if ((void *)(ip6 + 1) > end || ip6->nexthdr != IPPROTO_TCP)
		return TC_ACT_OK;
	tcp = (void *)(ip6 + 1);
	if ((void *)(tcp + 1) > end)
		return TC_ACT_OK;

	__builtin_memcpy(key.saddr, &ip6->saddr, 16);
	__builtin_memcpy(key.daddr, &ip6->daddr, 16);
	key.sport = tcp->source;
	key.dport = tcp->dest;
	f = bpf_map_lookup_elem(&lc_flows6, &key);
	if (!f)
		return TC_ACT_OK;
	if (tcp->syn)
		return lc_syn(tcp, &f->x, &lc_flows6, &key);

	/* As for IPv4: the header's length, the frame's only for BIG TCP (0). */
	plen = bpf_ntohs(ip6->payload_len);
	if (!plen || plen > skb->len - ETH_HLEN - sizeof(*ip6))
		plen = skb->len - ETH_HLEN - sizeof(*ip6);
	r = lc_track(tcp, &f->x, plen, &paylen, &conn);
	if (r != LC_GO)
		return r;

	d = lc_rewrite_tcp(tcp, &f->x);
	dopt = lc_rewrite_opts(tcp, end, &f->x, conn);
	if (d < 0 || dopt < 0)
		return TC_ACT_SHOT;
	d = csum_add32((__u32)d, (__u32)dopt);
	/* Addresses: only in the pseudo header, all 32 bytes in one diff. */
	__builtin_memcpy(from, &key, 32);
	__builtin_memcpy(to, f, 32);
	__builtin_memcpy(&ip6->saddr, f->saddr, 16);
	__builtin_memcpy(&ip6->daddr, f->daddr, 16);

	if (bpf_l4_csum_replace(skb, ETH_HLEN + sizeof(*ip6) + TCP_CSUM_OFF, 0, (__u32)d, 0))
		return TC_ACT_SHOT;
	d = bpf_csum_diff(from, 32, to, 32, 0);
	if (d < 0 || bpf_l4_csum_replace(skb, ETH_HLEN + sizeof(*ip6) + TCP_CSUM_OFF, 0, (__u32)d,
					 BPF_F_PSEUDO_HDR))
		return TC_ACT_SHOT;
	stat_add(LC_S_TRANSLATED6, 1);
	return lc_out(&f->x, paylen);
}

/* The most header a translation reads: Ethernet, IPv4 with options, TCP with options. */
#define LC_HDR_MAX (ETH_HLEN + 60 + 60)

/*
 * How many bytes of headers the program reads from this frame: Ethernet,
 * IP and TCP with its options; LC_HDR_MAX when the linear part ends before
 * that can be told, 0 when the frame is not TCP over IPv4 or IPv6.
 */
static __always_inline __u32 lc_hdr_len(void *data, void *end)
{
	struct ethhdr *eth = data;
	struct tcphdr *tcp;
	__u32 l3;

	if ((void *)(eth + 1) > end)
		return LC_HDR_MAX;
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = (void *)(eth + 1);

		if ((void *)(ip + 1) > end)
			return LC_HDR_MAX;
		l3 = ip->ihl * 4u;
		/* As lc_splice4() decides: fragments are never ours. */
		if (ip->protocol != IPPROTO_TCP || l3 < sizeof(*ip) ||
		    (ip->frag_off & bpf_htons(0x3fff)))
			return 0;
	} else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);

		if ((void *)(ip6 + 1) > end)
			return LC_HDR_MAX;
		if (ip6->nexthdr != IPPROTO_TCP)
			return 0;
		l3 = sizeof(*ip6);
	} else {
		return 0;
	}
	tcp = (void *)(eth + 1) + l3;
	if ((void *)(tcp + 1) > end)
		return LC_HDR_MAX;
	return ETH_HLEN + l3 + tcp->doff * 4u;
}

SEC("tc")
int lc_splice(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
	struct ethhdr *eth;
	__u32 need = lc_hdr_len(data, end);

	/*
	 * The headers must be in the linear part of the skb, which the program
	 * reads directly. veth and drivers that size it with eth_get_headlen()
	 * put exactly the headers there (the payload of a TCP segment sits in
	 * page fragments); a driver that does not could leave TCP options in a
	 * fragment, and a spliced packet passed on untranslated meets the
	 * kernel, which has no socket for it and resets the connection. So
	 * when the headers this frame has do not all fit, pull them in (never
	 * the payload: a pull copies, and may reallocate a cloned head). If the
	 * pull fails (out of memory), carry on: the frame may not be ours (a
	 * drop would hit any protocol). One of ours then fails a bounds check
	 * below, as before this pull existed: dropped when only its options
	 * are missing, passed to the kernel (a reset) when its fixed TCP
	 * header is.
	 */
	if (need && data + need > end) {
		/* Either way the verifier forgets the old pointers: reload. */
		bpf_skb_pull_data(skb, need < skb->len ? need : skb->len);
		data = (void *)(long)skb->data;
		end = (void *)(long)skb->data_end;
	}
	eth = data;
	if ((void *)(eth + 1) > end)
		return TC_ACT_OK;
	if (eth->h_proto == bpf_htons(ETH_P_IP))
		return lc_splice4(skb, data, end);
	if (eth->h_proto == bpf_htons(ETH_P_IPV6))
		return lc_splice6(skb, data, end);
	return TC_ACT_OK;
}
