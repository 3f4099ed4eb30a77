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
#include <linux/if_packet.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/pkt_cls.h>
#include <linux/tcp.h>

#include <stdbool.h>

#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "../splice-abi.h"

#ifndef AF_INET
#define AF_INET 2
#endif
#ifndef AF_INET6
#define AF_INET6 10
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

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct lc_cookie);
} lc_cookie SEC(".maps");

static __always_inline void stat_add(__u32 which, __u64 v)
{
	__u64 *p = bpf_map_lookup_elem(&lc_stats, &which);

	if (p)
		*p += v;
}

/* One-shot slots' states (enum lc_os_state), by slot: see splice-abi.h. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, LC_OS_SLOTS);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, __u64); /* an array's elements are 8-byte aligned: mapped, 8 bytes apart */
} lc_osst SEC(".maps");

/* One-shot slots: the head, the tuple and the sequence numbers (splice-abi.h). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, LC_OS_SLOTS);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct lc_os);
} lc_os SEC(".maps");

/* Where direction dir's packets go: the addressing half of its entry. */
static __always_inline void lc_os_dest(const struct lc_os *o, enum lc_dir dir, struct lc_flow *f)
{
	if (dir == LC_C2B) {
		f->saddr = o->laddr;
		f->daddr = o->baddr;
		f->x.sport = o->lport;
		f->x.dport = o->bport;
		f->x.ifindex = o->ifb;
	} else {
		f->saddr = o->vaddr;
		f->daddr = o->caddr;
		f->x.sport = o->vport;
		f->x.dport = o->cport;
		f->x.ifindex = o->ifc;
	}
	f->x.dir = dir;
}

/*
 * A client SYN on a closed connection's tuple, which reuses it: may its
 * entry go? Always, unless it is a one-shot slot's, whose client key is
 * deleted only by swapping LIVE for GONE; false while the reaper has it.
 */
static __always_inline bool lc_os_may_delete(__u32 slot)
{
	const __u32 zero = 0;
	const struct lc_cookie *ck = bpf_map_lookup_elem(&lc_cookie, &zero);
	__u32 idx;
	__u64 *st;

	if (!ck || !ck->os_conn0)
		return true;
	idx = slot - ck->os_conn0;
	if (idx >= LC_OS_SLOTS)
		return true;
	st = bpf_map_lookup_elem(&lc_osst, &idx);
	return st && __sync_val_compare_and_swap(st, LC_OS_LIVE, LC_OS_GONE) == LC_OS_LIVE;
}

/* The splice listeners as bound (address, possibly the wildcard, and port). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, LC_MAX_VIPS);
	__type(key, struct lc_vip_key);
	__type(value, __u8);
} lc_vips SEC(".maps");

/*
 * Tuples whose cookie ACK was handed to the listener in the last
 * LC_CK_RECENT_NS, with when. A receive path that batches packets (GRO on
 * a NIC, or on a veth) runs this program over a whole list before TCP
 * sees any of it, so the segments behind a handshake's ACK in that list
 * find no connection yet although one is on its way: they must neither be
 * held (lc_cookie_ack) nor handed over a second time (the kernel would
 * drop the second as a duplicate). Entries are tiny and short-lived; the
 * LRU evicts the old ones.
 */
#define LC_CK_RECENT_NS 5000000ull /* 5 ms: far longer than one receive batch */

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct bpf_sock_tuple);
	__type(value, __u64);
} lc_ckrecent SEC(".maps");

/*
 * The kernel's cookie hand-off (Linux 6.9, net/core/filter.c). Weak: on an
 * older kernel libbpf leaves it unresolved, lc_ksym_exists() is false and
 * the verifier drops the cookie code; the slow path then never sets
 * LC_CK_ON. The attributes' layout is the kernel's (checked by size there).
 */
struct sock {
	/*
	 * Opaque. libbpf matches the kfunc's prototype against the kernel's by
	 * kind, and a forward declaration is not a struct; the verifier checks
	 * the pointer that is passed against the kernel's own type.
	 */
	__u64 opaque;
};
struct bpf_tcp_req_attrs {
	__u32 rcv_tsval;
	__u32 rcv_tsecr;
	__u16 mss;
	__u8 rcv_wscale;
	__u8 snd_wscale;
	__u8 ecn_ok;
	__u8 wscale_ok;
	__u8 sack_ok;
	__u8 tstamp_ok;
	__u8 usec_ts_ok;
	__u8 reserved[3];
};
extern int bpf_sk_assign_tcp_reqsk(struct __sk_buff *skb, struct sock *sk,
				   struct bpf_tcp_req_attrs *attrs, int attrs__sz) __ksym __weak;
#define lc_ksym_exists(sym) (!!(sym))

#define IP_CSUM_OFF  (ETH_HLEN + __builtin_offsetof(struct iphdr, check))
#define TCP_CSUM_OFF 16 /* inside the TCP header */

/* lc_track()'s "go on translating"; the TC_ACT_* verdicts are all >= -1. */
#define LC_GO (-2)
/* TCP flags as the low byte of the header's 13th and 14th bytes */
#define LC_TH_FIN 0x01u
#define LC_TH_RST 0x04u
#define LC_TH_ACK 0x10u

/* lc_cookie_path()'s "a valid cookie, no connection: try one-shot" */
#define LC_OSTRY (-3)

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
		     (conn->flags & (LC_F_FIN_C | LC_F_FIN_B)) == (LC_F_FIN_C | LC_F_FIN_B))) {
			if (!lc_os_may_delete(slot))
				return TC_ACT_SHOT; /* being reaped: the client resends its SYN */
			bpf_map_delete_elem(map, key);
			/* The new connection's SYN: a cookie, as for any other. */
			return LC_GO;
		}
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

	if (x->state != LC_LIVE && x->state != LC_LIVE_OS) {
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

/*
 * The option at off in b (an option area of optlen bytes, copied): its kind
 * in *kind and its length, 1 for a NOP, returned; 0 ends the walk (end of
 * options, or one that does not fit). Both walkers' steps share it.
 */
static __always_inline __u32 lc_opt_at(const __u8 *b, __u32 optlen, __u32 off, __u8 *kind)
{
	__u8 len;

	/* off first, alone: the verifier must see it bounded (no wrap-around). */
	if (off > 4 * LC_OPT_WORDS - 2 || off + 2 > optlen)
		return 0;
	*kind = b[off];
	if (*kind == 0) /* end of options */
		return 0;
	if (*kind == 1) /* NOP */
		return 1;
	len = b[off + 1];
	if (len < 2 || off + len > optlen)
		return 0;
	return len;
}

/* One option (or NOP) of the walk; 1 stops it. */
static long lc_opt_step(__u64 i, void *ctx)
{
	struct lc_optwalk *w = ctx;
	__u32 off = w->off, len;
	__u8 kind = 0;

	(void)i;
	len = lc_opt_at(w->b, w->optlen, off, &kind);
	if (!len)
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

/*
 * SYN cookies (see splice-abi.h for the layout). The SYN is turned around
 * in place into the SYN-ACK: same skb, addresses and ports swapped, the
 * options rewritten into a fixed 20-byte area (NOP-padded, so every length
 * the verifier sees is a constant), both checksums computed whole, and the
 * frame sent back out of the interface it came in on. A SYN from a sender
 * on this host (over a veth) arrives CHECKSUM_PARTIAL and the SYN-ACK keeps
 * that mark with a whole checksum in the field; it goes back to that veth,
 * whose peer takes PARTIAL as verified and recomputes nothing. A NIC never
 * delivers a PARTIAL skb.
 */
#define LC_CK_SLOT_SHIFT 36 /* a time slot: 2^36 ns, 68.7 s */
#define LC_SYNACK_OPT	 20

/*
 * The client's MSS rounded down to one of four, per family (the index is in
 * the cookie): IPv4 536, 1300, 1440, 1460; IPv6 1220, 1420, 1440, 8940. A
 * function, not a table: a constant array would go to .rodata, which the
 * loader would have to map for four numbers.
 */
static __always_inline __u32 lc_mss_at(bool v6, __u32 i)
{
	switch (i & 3) {
	case 0:
		return v6 ? 1220 : 536;
	case 1:
		return v6 ? 1420 : 1300;
	case 2:
		return 1440;
	default:
		return v6 ? 8940 : 1460;
	}
}

#define LC_ROTL(x, b) (((x) << (b)) | ((x) >> (64 - (b))))
#define LC_SIPROUND                   \
	do {                          \
		v0 += v1;             \
		v1 = LC_ROTL(v1, 13); \
		v1 ^= v0;             \
		v0 = LC_ROTL(v0, 32); \
		v2 += v3;             \
		v3 = LC_ROTL(v3, 16); \
		v3 ^= v2;             \
		v0 += v3;             \
		v3 = LC_ROTL(v3, 21); \
		v3 ^= v0;             \
		v2 += v1;             \
		v1 = LC_ROTL(v1, 17); \
		v1 ^= v2;             \
		v2 = LC_ROTL(v2, 32); \
	} while (0)

/*
 * A cookie's hash input: the tuple, the client's ISN and the time slot, as
 * 64-bit words; IPv4 uses 3 of them, IPv6 all 6.
 */
struct lc_ckmsg {
	__u64 m[6]; /* addresses, ports and ISN, then the slot word (lc_ck_word) */
	__u32 n;    /* words used */
};

/*
 * SipHash-2-4 of msg's words under the process's key. A global function,
 * checked once by the verifier rather than at each of its four call sites
 * on every path that reaches them.
 */
__attribute__((noinline)) __u64 lc_ck_hash(const struct lc_ckmsg *msg)
{
	const __u32 zero = 0;
	const struct lc_cookie *ck = bpf_map_lookup_elem(&lc_cookie, &zero);
	__u64 v0, v1, v2, v3, b;
	__u32 n, i;

	if (!ck || !msg)
		return 0;
	n = msg->n > 6 ? 6 : msg->n;
	v0 = ck->key[0] ^ 0x736f6d6570736575ull;
	v1 = ck->key[1] ^ 0x646f72616e646f6dull;
	v2 = ck->key[0] ^ 0x6c7967656e657261ull;
	v3 = ck->key[1] ^ 0x7465646279746573ull;
	b = (__u64)(n * 8) << 56;
	for (i = 0; i < 6; i++) {
		if (i >= n)
			break;
		v3 ^= msg->m[i];
		LC_SIPROUND;
		LC_SIPROUND;
		v0 ^= msg->m[i];
	}
	v3 ^= b;
	LC_SIPROUND;
	LC_SIPROUND;
	v0 ^= b;
	v2 ^= 0xff;
	LC_SIPROUND;
	LC_SIPROUND;
	LC_SIPROUND;
	LC_SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

/* A 32-bit ones'-complement sum, folded and inverted into a checksum field. */
static __always_inline __u16 lc_fold(__s64 sum)
{
	__u32 c = (__u32)sum;

	c = (c & 0xffff) + (c >> 16);
	c = (c & 0xffff) + (c >> 16);
	return (__u16)~c;
}

/*
 * The options a cookie needs from a SYN or its ACK: where MSS, window
 * scale and timestamps are (offsets in b, 40 = absent) and whether SACK is
 * permitted. Offsets rather than values, and a walker of its own, keep the
 * verifier's states few (it checks a bpf_loop() body until they repeat).
 */
struct lc_synwalk {
	__u8 b[4 * LC_OPT_WORDS]; /* the option area, copied */
	__u8 optlen, off;	  /* its length; the walk's position */
	__u8 mss, ws, ts;	  /* offsets in b of those options, 40 = absent */
	__u8 sackok;		  /* SACK permitted (bytes: the call chain's stack is tight) */
};

static long lc_syn_step(__u64 i, void *ctx)
{
	struct lc_synwalk *w = ctx;
	__u32 off = w->off, len;
	__u8 kind = 0;

	(void)i;
	len = lc_opt_at(w->b, w->optlen, off, &kind);
	if (!len)
		return 1;
	if (kind == 2 && len == 4)
		w->mss = (__u8)off;
	else if (kind == 3 && len == 3)
		w->ws = (__u8)off;
	else if (kind == 4 && len == 2)
		w->sackok = 1;
	else if (kind == 8 && len == 10)
		w->ts = (__u8)off;
	w->off = (__u8)(off + len);
	return 0;
}

/*
 * Copies and walks tcp's options into w; -1 if cut short. Of an ACK only
 * the timestamps matter, and the usual layout (NOP, NOP, TS) needs no walk.
 */
static __always_inline int lc_syn_walk(const struct tcphdr *tcp, void *end, struct lc_synwalk *w,
				       bool ack)
{
	__u32 optlen = tcp->doff * 4u - sizeof(*tcp);

	w->mss = w->ws = w->ts = 4 * LC_OPT_WORDS;
	if (tcp->doff < 5 || optlen > 4 * LC_OPT_WORDS)
		return -1;
	if (!optlen)
		return 0;
	if (lc_opt_words((const __u8 *)(tcp + 1), end, optlen, (__u32 *)w->b))
		return -1;
	w->optlen = (__u8)optlen;
	if (ack && optlen >= 12 && rd32(w->b) == 0x0101080au) {
		w->ts = 2;
		return 0;
	}
	bpf_loop(4 * LC_OPT_WORDS, lc_syn_step, w, 0);
	return 0;
}

/*
 * What a SYN asked for and the namespace allows, as the cookie's low bits,
 * and the SYN-ACK's option words: MSS; SACK permitted and timestamps
 * (TSval o[2], TSecr o[3]); window scale; NOPs to 20 bytes.
 */
struct lc_synopt {
	__u32 low; /* cookie bits 8..0, slot parity included */
	bool ts;   /* timestamps offered: o[2] is to be the TSval */
	__u32 o[LC_SYNACK_OPT / 4];
	__u16 mss; /* announced: the client's, rounded down */
};

static __always_inline void lc_synopt(const struct lc_synwalk *w, const struct lc_cookie *ck,
				      bool v6, __u64 slot, __u32 cap, struct lc_synopt *so)
{
	__u32 mss = lc_mss_at(v6, 0), mssi = 0, i = 1, ws = 0xf, m = w->mss, k = w->ws;
	bool ts = (ck->flags & LC_CK_TS) && w->ts <= 4 * LC_OPT_WORDS - 10;
	bool sack = (ck->flags & LC_CK_SACK) && w->sackok;

	if (m <= 4 * LC_OPT_WORDS - 4)
		mss = (__u32)w->b[m + 2] << 8 | w->b[m + 3];

	if (mss >= lc_mss_at(v6, 1))
		mssi = 1;
	if (mss >= lc_mss_at(v6, 2))
		mssi = 2;
	if (mss >= lc_mss_at(v6, 3))
		mssi = 3;
	/* Announced: the same, but never more than this interface's MTU allows. */
	so->mss = (__u16)(lc_mss_at(v6, mssi) < cap ? lc_mss_at(v6, mssi) : cap);
	if ((ck->flags & LC_CK_WS) && k <= 4 * LC_OPT_WORDS - 3)
		ws = w->b[k + 2] > 14 ? 14 : w->b[k + 2];
	so->low = (__u32)ts << 8 | (__u32)(slot & 1) << 7 | mssi << 5 | (__u32)sack << 4 | ws;
	so->ts = ts;

	/* NOPs first, then what is offered over them (a constant-size fill). */
	so->o[1] = so->o[2] = so->o[3] = so->o[4] = 0x01010101u;
	so->o[0] = bpf_htonl(2u << 24 | 4u << 16 | so->mss);
	if (ts) {
		__u32 t = w->ts;

		so->o[1] = bpf_htonl(sack ? (4u << 24 | 2u << 16 | 8u << 8 | 10u) : 0x0101080au);
		/* o[2], the TSval, is lc_ck_ts()'s (lc_cookie_syn*). */
		so->o[3] = bpf_htonl(rd32(&w->b[t + 2]));
		i = 4;
	} else if (sack) {
		so->o[1] = bpf_htonl(0x01010402u);
		i = 2;
	}
	if (ws != 0xf && i < LC_SYNACK_OPT / 4)
		so->o[i] = bpf_htonl(1u << 24 | 3u << 16 | 3u << 8 | LC_CK_RCV_WSCALE);
}

/*
 * The SYN-ACK's TCP header and options over the SYN's (tcp points at a
 * header of 20 + LC_SYNACK_OPT bytes, checked), checksum left 0.
 */
static __always_inline void lc_synack_tcp(struct tcphdr *tcp, __be16 sport, __be16 dport,
					  __u32 cookie, __u32 isn, const struct lc_synopt *so)
{
	__u32 *o = (__u32 *)(tcp + 1), win = 10u * so->mss;
	int i;

	tcp->source = dport;
	tcp->dest = sport;
	tcp->seq = bpf_htonl(cookie);
	tcp->ack_seq = bpf_htonl(isn + 1);
	/* doff 10 (40 bytes), SYN|ACK; no ECN: the cookie has no room for it. */
	((__u16 *)tcp)[6] = bpf_htons(((sizeof(*tcp) + LC_SYNACK_OPT) / 4) << 12 | 0x12);
	tcp->window = bpf_htons(win > 0xffff ? 0xffff : win);
	tcp->check = 0;
	tcp->urg_ptr = 0;
#pragma unroll
	for (i = 0; i < LC_SYNACK_OPT / 4; i++)
		o[i] = so->o[i];
}

/* The ACK's timestamps, and the attributes the cookie's low bits give. */
static __always_inline void lc_ack_attrs(const struct lc_synwalk *w, __u32 cookie, bool v6,
					 struct bpf_tcp_req_attrs *a)
{
	__u32 ws = cookie & 0xf, t = w->ts;

	a->mss = (__u16)lc_mss_at(v6, cookie >> 5);
	a->sack_ok = (cookie >> 4) & 1;
	if (ws != 0xf) {
		a->wscale_ok = 1;
		a->snd_wscale = (__u8)ws;
		a->rcv_wscale = LC_CK_RCV_WSCALE;
	}
	if ((cookie & 0x100) && t <= 4 * LC_OPT_WORDS - 10) {
		a->tstamp_ok = 1;
		a->rcv_tsval = rd32(&w->b[t + 2]);
		a->rcv_tsecr = rd32(&w->b[t + 6]);
	}
}

/*
 * The hash's last input word for a cookie: the slot whose parity it
 * carries (now's or the one before) and its low bits, which the hash thus
 * covers too.
 */
/* The time slot whose parity is bit 0 of `bit`: now's or the one before. */
static __always_inline __u64 lc_ck_slot(__u32 bit)
{
	__u64 slot = bpf_ktime_get_coarse_ns() >> LC_CK_SLOT_SHIFT;

	return ((slot ^ bit) & 1) ? slot - 1 : slot;
}

static __always_inline __u64 lc_ck_word(__u32 cookie)
{
	return lc_ck_slot(cookie >> 7) << 9 | (cookie & 0x1ffu);
}

/*
 * The SYN-ACK's TSval for the tuple in msg (a cookie's hash input, which
 * it leaves as it was) in time slot `slot`: a hash of the tuple and the
 * slot, with the slot's parity in bit 0. It does not depend on the
 * client's ISN, so a segment that echoes it is known to follow a SYN-ACK
 * of ours even when it does not carry the ISN + 1 its cookie is checked
 * against (see lc_cookie_ack). The message is one word shorter than a
 * cookie's, which SipHash's length byte keeps apart from it.
 */
static __always_inline __u32 lc_ck_ts(struct lc_ckmsg *msg, __u64 slot)
{
	__u32 i = msg->n > 3 ? 4 : 1; /* the ports-and-ISN word */
	__u64 keep = msg->m[i], h;
	__u32 v;

	msg->m[i] = (keep & ~0xffffffffull) | (__u32)slot;
	msg->n--;
	h = lc_ck_hash(msg);
	msg->n++;
	msg->m[i] = keep;
	v = ((__u32)h & ~1u) | (__u32)(slot & 1);
	return v ? v : 2; /* never 0, an echo of 0 being none; 2 keeps parity 0 */
}

/*
 * The cookie path's working memory: per CPU rather than on the stack,
 * where the caller's translation frame leaves it too little (512 bytes
 * for the whole chain of calls).
 */
struct lc_ckscratch {
	struct bpf_sock_tuple t;    /* the packet's, for socket look-ups */
	struct bpf_tcp_req_attrs a; /* what the ACK's listener is given */
	struct lc_synopt so;	    /* the SYN-ACK's options and cookie bits */
	struct lc_ckmsg msg;	    /* the hash's input */
	__u64 ph[5];		    /* the TCP pseudo header: 12 bytes for IPv4, 40 for IPv6 */
	struct lc_vip_key vk;	    /* the destination, to look up in lc_vips */
	__u32 os_cookie, os_ecr;    /* for lc_os_try(): the cookie and the echo */
	__u32 os_skip;		    /* lc_os_try() declined: hand over */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct lc_ckscratch);
} lc_ckscratch SEC(".maps");

/*
 * Is x->t's destination a splice listener's address and port? Only that
 * one listener's SYNs are the agent's, not those of another listener on
 * the same port number, nor traffic this host bridges or routes (a
 * wildcard listener's entries are this host's addresses).
 */
static __always_inline bool lc_vip(struct lc_ckscratch *x, bool v6)
{
	__builtin_memset(&x->vk, 0, sizeof(x->vk));
	if (v6) {
		__builtin_memcpy(x->vk.addr, x->t.ipv6.daddr, 16);
		x->vk.port = bpf_ntohs(x->t.ipv6.dport);
		x->vk.family = AF_INET6;
	} else {
		x->vk.addr[0] = x->t.ipv4.daddr;
		x->vk.port = bpf_ntohs(x->t.ipv4.dport);
		x->vk.family = AF_INET;
	}
	return bpf_map_lookup_elem(&lc_vips, &x->vk) != NULL;
}

/* Is a splice listener waiting for x->t (a SYN's tuple)? */
static __always_inline bool lc_listening(struct __sk_buff *skb, struct lc_ckscratch *x, bool v6)
{
	struct bpf_sock *sk;
	bool r;

	if (!lc_vip(x, v6))
		return false;
	sk = bpf_skc_lookup_tcp(skb, &x->t, v6 ? sizeof(x->t.ipv6) : sizeof(x->t.ipv4),
				BPF_F_CURRENT_NETNS, 0);
	if (!sk)
		return false;
	r = sk->state == BPF_TCP_LISTEN;
	bpf_sk_release(sk);
	return r;
}

/* Was x->t's cookie ACK handed over a moment ago (see lc_ckrecent)? */
static __always_inline bool lc_ck_recent(struct lc_ckscratch *x)
{
	const __u64 *at = bpf_map_lookup_elem(&lc_ckrecent, &x->t);

	return at && bpf_ktime_get_ns() - *at < LC_CK_RECENT_NS;
}

/* -------------------------------------------------------------- one-shot connections */

/*
 * A client whose first segment is a whole GET head that asks to close gets
 * no kernel socket at all (splice-abi.h has the procedure and the
 * arithmetic): the segment becomes the SYN to a backend (the head waits in
 * lc_os), the backend's SYN-ACK becomes the ACK that carries the head, and
 * both flow entries are written here. The balancer's process sees none of
 * it; it frees the slot once the fast path has ended the connection.
 */

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, LC_OS_BACKENDS);
	__type(key, __u32);
	__type(value, struct lc_osbe);
} lc_osbe SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} lc_osrr SEC(".maps");

#define LC_OS_OPT 20

/* Working memory of the one-shot functions: the call chain's stack is full. */
struct lc_osscratch {
	struct lc_flow_key k;
	struct lc_flow f;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct lc_osscratch);
} lc_osscratch SEC(".maps");

static __always_inline __u64 ld64(const __u8 *p)
{
	__u64 v;

	__builtin_memcpy(&v, p, 8);
	return v;
}

/*
 * The one-shot head check, a byte at a time (a bpf_loop() body: checked
 * once by the verifier, not once per byte). A head qualifies only in its
 * plainest form, so that nothing the proxy's parser would refuse or read
 * differently ever reaches a backend this way: a request line "GET /path
 * HTTP/1.x" with exactly two spaces (and no HTAB in the target), header
 * lines "name: value" with a name of token characters (no '_', which some
 * servers fold into '-'), every line ending in CR LF, no control bytes, no
 * folded lines, no Content-Length or Transfer-Encoding (a GET without a
 * body), exactly one Host line whose value is host characters, one
 * Connection line, "Connection: close", no Upgrade, at most LC_OS_FIELDS
 * header lines, and the blank line that ends the head as the segment's
 * last bytes (nothing pipelined behind it). Anything else is
 * declined and takes the ordinary path, whose parser answers 400 where it
 * must. test_oneshot_vs_h1 holds this to the proxy's parser: every head
 * taken here, of thousands of mutated ones, is one it takes the same way.
 */
struct lc_osscan {
	__u8 *h;    /* o->head */
	__u32 n;    /* head bytes */
	__u32 bol;  /* where the current line starts */
	__u32 line; /* the request line's CR, 0 until seen */
	__u8 close, bad, end, name, hosts, spaces;
	__u8 host; /* in a Host line: 1 name, 2 OWS before the value, 3 value, 4 OWS after */
	__u8 fields, conns;
};

/*
 * A Host value's bytes, as the proxy's parser takes them (h1.c: uri-host
 * and port characters, minus ","), so that "Host: a, b" or "Host: /x"
 * never reaches a backend by this path.
 */
static __always_inline bool lc_hostchar(__u8 c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_' || c == '~' || c == '%' || c == '!' || c == '$' ||
	       c == '&' || c == '\'' || c == '(' || c == ')' || c == '*' || c == '+' || c == ';' ||
	       c == '=' || c == ':' || c == '[' || c == ']';
}

static __always_inline bool lc_tchar(__u8 c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '!' || c == '#' || c == '$' || c == '%' || c == '&' || c == '\'' ||
	       c == '*' || c == '+' || c == '.' || c == '^' || c == '`' || c == '|' || c == '~';
}

static long lc_os_scan_step(__u64 i, void *ctx)
{
	struct lc_osscan *sc = ctx;
	__u8 *h = sc->h, c;
	__u32 n = sc->n;
	__u64 w;

	if (i >= LC_OS_HEAD || i >= n)
		return 1;
	c = h[i];
	if (c == '\r') {
		/* A bare CR, or a header line without a colon (the blank line has none). */
		if (i + 1 >= n || h[i + 1] != '\n' || (sc->name && i != sc->bol))
			goto bad;
		/* An empty Host value is declined (the proxy's parser takes it). */
		if (sc->host == 2)
			goto bad;
		sc->host = 0;
		if (!sc->line) {
			/* " HTTP/1.1" or " HTTP/1.0" ends the request line. */
			if (i < 13 || sc->spaces != 2 || h[i - 9] != ' ' ||
			    (ld64(h + i - 8) & 0x00ffffffffffffffull) != 0x002e312f50545448ull ||
			    (h[i - 1] != '1' && h[i - 1] != '0'))
				goto bad;
			sc->line = (__u32)i;
		}
		return 0;
	}
	if (c == '\n') {
		if (!i || h[i - 1] != '\r')
			goto bad;
		if (sc->line && sc->bol + 1 == i) {
			/* The blank line: the head ends, and so must the segment. */
			if (i + 1 != n)
				goto bad;
			sc->end = 1;
			return 1;
		}
		sc->bol = (__u32)i + 1;
		sc->name = 1;
		return 0;
	}
	if ((c < 0x20 && c != '\t') || c == 0x7f)
		goto bad;
	if (!sc->line) {
		/* The request target has no HTAB (nor does the parser take one). */
		if (c == '\t')
			goto bad;
		if (c == ' ')
			sc->spaces++;
		return 0;
	}
	if (!sc->name) {
		if (sc->host < 2)
			return 0;
		/* The Host value: OWS, host characters, OWS. */
		if (c == ' ' || c == '\t') {
			if (sc->host == 3)
				sc->host = 4;
			return 0;
		}
		if (sc->host == 4 || !lc_hostchar(c))
			goto bad;
		sc->host = 3;
		return 0;
	}
	if (c == ':') {
		if (i == sc->bol)
			goto bad;
		sc->name = 0;
		if (sc->host)
			sc->host = 2;
		/* The proxy answers 431 past its parser's LC_OS_FIELDS lines. */
		if (++sc->fields > LC_OS_FIELDS)
			goto bad;
		return 0;
	}
	if (!lc_tchar(c))
		goto bad; /* folding, a space before the colon, or not a token */
	if (i != sc->bol)
		return 0;
	/* The first byte of a header line's name. */
	w = ld64(h + i) | 0x2020202020202020ull;
	if (w == 0x726566736e617274ull /* transfer */ || w == 0x2d746e65746e6f63ull /* content- */)
		goto bad;
	if ((w & 0xffffffffffull) == 0x3a74736f68ull) { /* host: */
		sc->hosts++;
		sc->host = 1;
	}
	/*
	 * One Connection line, and no Upgrade: a second line ("keep-alive",
	 * "upgrade") could keep the backend's end open past the one exchange.
	 */
	if (w == 0x3a65646172677075ull) /* upgrade: */
		goto bad;
	if (w == 0x697463656e6e6f63ull && ++sc->conns > 1) /* connecti */
		goto bad;
	if (w == 0x697463656e6e6f63ull &&					  /* connecti */
	    (ld64(h + i + 8) | 0x2020202020202020ull) == 0x736f6c63203a6e6full && /* on: clos */
	    (h[i + 16] | 0x20) == 'e' && h[i + 17] == '\r')
		sc->close = 1;
	return 0;
bad:
	sc->bad = 1;
	return 1;
}

/* Eight bytes into h at p (masked: the verifier sees them inside o->head). */
static __always_inline void lc_put8(__u8 *h, __u32 p, __u64 v)
{
	__builtin_memcpy(h + (p & LC_OS_HEAD_MASK), &v, 8);
}

/* Decimal digits of an octet. */
static __always_inline __u32 lc_digits(__u8 d)
{
	return d >= 100 ? 3 : d >= 10 ? 2 : 1;
}

/*
 * Is o->head (n bytes) a one-shot head? Then, with `xff`, it gets an
 * X-Forwarded-For line (the client's address) as its last header line,
 * after any the client sent, as the proxy and the splice add it, and
 * o->hlen and o->xlen count it.
 */
static __always_inline bool lc_os_head(struct lc_os *o, __u32 n, __be32 caddr, bool xff)
{
	struct lc_osscan sc = { .h = o->head, .n = n };
	__u8 *h = o->head, q[4];
	__u32 p, j;

	if (n < 24 || n > LC_OS_HEAD)
		return false;
	if (h[0] != 'G' || h[1] != 'E' || h[2] != 'T' || h[3] != ' ' || h[4] != '/')
		return false;
	bpf_loop(LC_OS_HEAD, lc_os_scan_step, &sc, 0);
	if (sc.bad || !sc.end || !sc.close || sc.hosts != 1)
		return false;
	o->hlen = n;
	o->xlen = 0;
	if (!xff)
		return true;
	__builtin_memcpy(q, &caddr, 4);
	/* Over the blank line's CR LF, which follows the new line. */
	p = n - 2;
	/* Keep the masks: the compiler knows p is small, the verifier does not. */
	asm volatile("" : "+r"(p));
	lc_put8(h, p, 0x726177726f462d58ull);	  /* "X-Forwar" */
	lc_put8(h, p + 8, 0x3a726f462d646564ull); /* "ded-For:" */
	h[(p + 16) & LC_OS_HEAD_MASK] = ' ';
	p += 17;
#pragma unroll
	for (j = 0; j < 4; j++) {
		__u8 d = q[j];

		if (d >= 100)
			h[p++ & LC_OS_HEAD_MASK] = '0' + d / 100;
		if (d >= 10)
			h[p++ & LC_OS_HEAD_MASK] = '0' + (d / 10) % 10;
		h[p++ & LC_OS_HEAD_MASK] = '0' + d % 10;
		h[p++ & LC_OS_HEAD_MASK] = j < 3 ? '.' : '\r';
	}
	h[p++ & LC_OS_HEAD_MASK] = '\n';
	h[p++ & LC_OS_HEAD_MASK] = '\r';
	h[p & LC_OS_HEAD_MASK] = '\n';
	o->xlen =
		17 + lc_digits(q[0]) + lc_digits(q[1]) + lc_digits(q[2]) + lc_digits(q[3]) + 3 + 2;
	o->hlen = n + o->xlen;
	return true;
}

/*
 * Clients whose one-shot connection a backend refused: for a while their
 * head takes the ordinary path (the proxy retries and answers), so a
 * retransmission is not sent to a backend again by the fast path.
 */
#define LC_OS_DECLINE_NS (10ull * 1000000000)

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct lc_flow_key);
	__type(value, __u64);
} lc_osno SEC(".maps");

/*
 * The IPv4 header of a packet the fast path makes on o's backend leg (its
 * SYN, the head), l4 bytes of TCP after it: DF, a fresh checksum.
 */
static __always_inline void lc_os_ip4(struct iphdr *ip, const struct lc_os *o, __u32 l4)
{
	ip->tot_len = bpf_htons(sizeof(*ip) + l4);
	ip->id = 0;
	ip->frag_off = bpf_htons(0x4000);
	ip->ttl = 64;
	ip->saddr = o->laddr;
	ip->daddr = o->baddr;
	ip->check = 0;
	ip->check = lc_fold(bpf_csum_diff(0, 0, (__be32 *)ip, sizeof(*ip), 0));
}

/*
 * Deletes o's keys and sends its client to the ordinary path (its slot is
 * the caller's); why, for the slow path's accounting (enum lc_os_outcome).
 */
static __always_inline void lc_os_decline(struct lc_os *o, __u8 outcome)
{
	struct lc_flow_key k;
	__u64 now = bpf_ktime_get_ns();

	o->outcome = outcome;

	lc_os_key(o, LC_B2C, &k);
	bpf_map_delete_elem(&lc_flows, &k);
	lc_os_key(o, LC_C2B, &k);
	bpf_map_delete_elem(&lc_flows, &k);
	bpf_map_update_elem(&lc_osno, &k, &now, BPF_ANY);
	stat_add(LC_S_OS_REFUSED, 1);
}

/* The head's segment, its payload in o->head, turned into the SYN to the backend. */
static __always_inline int lc_os_syn(struct __sk_buff *skb, struct lc_os *o)
{
	void *data, *end;
	struct iphdr *ip;
	struct tcphdr *tcp;
	__u32 *opt, ph[3], i = 1;
	__s64 sum;

	if (bpf_skb_change_tail(skb, ETH_HLEN + sizeof(*ip) + sizeof(*tcp) + LC_OS_OPT, 0))
		return TC_ACT_SHOT;
	data = (void *)(long)skb->data;
	end = (void *)(long)skb->data_end;
	ip = data + ETH_HLEN;
	tcp = (void *)(ip + 1);
	if ((void *)(tcp + 1) + LC_OS_OPT > end)
		return TC_ACT_SHOT;
	lc_os_ip4(ip, o, sizeof(*tcp) + LC_OS_OPT);
	tcp->source = o->lport;
	tcp->dest = o->bport;
	tcp->seq = bpf_htonl(o->l1);
	tcp->ack_seq = 0;
	((__u16 *)tcp)[6] = bpf_htons(((sizeof(*tcp) + LC_OS_OPT) / 4) << 12 | 0x02);
	tcp->window = bpf_htons(0xffff);
	tcp->check = 0;
	tcp->urg_ptr = 0;
	opt = (__u32 *)(tcp + 1);
	opt[0] = bpf_htonl(2u << 24 | 4u << 16 | o->mss);
	opt[1] = opt[2] = opt[3] = opt[4] = 0x01010101u;
	if (o->ts) {
		opt[1] = bpf_htonl(o->sack ? 0x0402080au : 0x0101080au);
		opt[2] = bpf_htonl(o->ts_b);
		opt[3] = 0;
		i = 4;
	} else if (o->sack) {
		opt[1] = bpf_htonl(0x01010402u);
		i = 2;
	}
	if (o->cws != 0xf) {
		if (i == 4)
			opt[4] = bpf_htonl(0x01030300u | o->cws);
		else if (i == 2)
			opt[2] = bpf_htonl(0x01030300u | o->cws);
		else
			opt[1] = bpf_htonl(0x01030300u | o->cws);
	}
	sum = bpf_csum_diff(0, 0, (__be32 *)tcp, sizeof(*tcp) + LC_OS_OPT, 0);
	ph[0] = o->laddr;
	ph[1] = o->baddr;
	ph[2] = bpf_htonl(IPPROTO_TCP << 16 | (sizeof(*tcp) + LC_OS_OPT));
	tcp->check = lc_fold(bpf_csum_diff(0, 0, ph, sizeof(ph), (__u32)sum));
	stat_add(LC_S_OS_SYN, 1);
	return bpf_redirect_neigh(o->ifb, NULL, 0, 0);
}

/*
 * An IPv4 segment whose cookie checked and whose listener has no
 * connection for it: a bare ACK is dropped (the head will follow and
 * carry the cookie again), a one-shot head starts a connection of the
 * agent's own. LC_GO: hand it to the listener, as without one-shot.
 */
__attribute__((noinline)) int lc_os_try(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
	struct iphdr *ip = data + ETH_HLEN;
	struct tcphdr *tcp = (void *)(ip + 1);
	const __u32 zero = 0;
	const struct lc_cookie *ck = bpf_map_lookup_elem(&lc_cookie, &zero);
	const struct lc_osbe *be;
	struct lc_osscratch *sc = bpf_map_lookup_elem(&lc_osscratch, &zero);
	struct lc_ckscratch *x = bpf_map_lookup_elem(&lc_ckscratch, &zero);
	struct lc_os *o = NULL;
	__u32 doff, len, i, idx, j, n, *rr, cookie, ecr;
	__u64 *st = NULL;
	__u64 now;

	if (!ck || !ck->os_n || !sc || !x)
		return LC_GO;
	cookie = x->os_cookie;
	ecr = x->os_ecr;
	x->os_skip = 1; /* unless this returns a verdict of its own */
	if ((void *)(tcp + 1) > end || ip->ihl != 5)
		return LC_GO;
	doff = tcp->doff * 4u;
	len = bpf_ntohs(ip->tot_len);
	if (doff < sizeof(*tcp) || len < sizeof(*ip) + doff)
		return LC_GO;
	len -= sizeof(*ip) + doff;
	if (!len) {
		if (tcp->fin || tcp->rst)
			return LC_GO;
		x->os_skip = 0;
		stat_add(LC_S_OS_ACKDROP, 1);
		return TC_ACT_SHOT;
	}
	if (len > LC_OS_HEAD || len < 24 || tcp->fin || tcp->syn)
		goto pass;
	{
		struct lc_flow_key ck4 = { ip->saddr, ip->daddr, tcp->source, tcp->dest };
		__u64 *no = bpf_map_lookup_elem(&lc_osno, &ck4);

		if (no && bpf_ktime_get_ns() - *no < LC_OS_DECLINE_NS)
			goto pass;
	}
	idx = (cookie >> 9) % LC_OS_SLOTS;
	for (i = 0; i < 16; i++) {
		j = (idx + i * 1543) % LC_OS_SLOTS;
		st = bpf_map_lookup_elem(&lc_osst, &j);
		o = bpf_map_lookup_elem(&lc_os, &j);
		if (st && o &&
		    __sync_val_compare_and_swap(st, LC_OS_FREE, LC_OS_CLAIM) == LC_OS_FREE)
			break;
		o = NULL;
	}
	if (!o) {
		stat_add(LC_S_OS_NOSLOT, 1);
		goto pass;
	}
	idx = j;
	if (bpf_skb_load_bytes(skb, ETH_HLEN + sizeof(*ip) + doff, o->head, len))
		goto release;
	if (!lc_os_head(o, len, ip->saddr, ck->os_xff)) {
		stat_add(LC_S_OS_NOTHEAD, 1);
		goto release;
	}
	n = ck->os_n > LC_OS_BACKENDS ? LC_OS_BACKENDS : ck->os_n;
	rr = bpf_map_lookup_elem(&lc_osrr, &zero);
	j = 0;
	if (rr) {
		j = *rr % n;
		*rr += 1;
	}
	be = bpf_map_lookup_elem(&lc_osbe, &j);
	if (!be || !be->addr)
		goto release;
	/* The packet's fields, before it changes. */
	data = (void *)(long)skb->data;
	end = (void *)(long)skb->data_end;
	ip = data + ETH_HLEN;
	tcp = (void *)(ip + 1);
	if ((void *)(tcp + 1) > end)
		goto release;
	now = bpf_ktime_get_ns();
	o->t_ns = bpf_ktime_get_coarse_ns();
	o->t_head_ns = now;
	o->t_fin_ns = 0;
	o->status = 0;
	o->outcome = LC_OS_OUT_NONE;
	o->caddr = ip->saddr;
	o->vaddr = ip->daddr;
	o->cport = tcp->source;
	o->vport = tcp->dest;
	o->baddr = be->addr;
	o->laddr = be->src;
	o->bport = be->port;
	o->lport = bpf_htons((__u16)(ck->os_port0 + idx));
	o->c_next = bpf_ntohl(tcp->seq);
	o->l0 = cookie;
	/*
	 * Like the kernel's ISNs: a keyed hash of the backend tuple, which a
	 * forger cannot guess, plus a clock, so that a SYN to a tuple the
	 * backend still holds in TIME_WAIT is after its last sequence.
	 */
	x->msg.n = 2;
	x->msg.m[0] = (__u64)o->baddr << 32 | o->laddr;
	x->msg.m[1] = (__u64)o->bport << 48 | (__u64)o->lport << 32 | 0xffffffffu;
	o->l1 = (__u32)lc_ck_hash(&x->msg) + (__u32)(now >> 6);
	o->ts = (cookie & 0x100) && ecr;
	o->ts_c = ecr;
	o->ts_b = (__u32)(now / 1000) | 1;
	o->cwin = bpf_ntohs(tcp->window);
	o->ifc = skb->ifindex;
	o->fins = 0;
	o->ifb = be->ifindex;
	o->mss = (__u16)lc_mss_at(false, (cookie >> 5) & 3);
	o->cws = cookie & 0xf;
	o->sack = (cookie >> 4) & 1;
	j = o->hlen & LC_OS_HEAD_MASK;
	o->head[j] = o->head[j + 1] = o->head[j + 2] = 0; /* the checksum's padding */

	__builtin_memset(&sc->f, 0, sizeof(sc->f));
	sc->f.x.slot = ck->os_conn0 + idx;
	lc_os_key(o, LC_B2C, &sc->k);
	lc_os_dest(o, LC_B2C, &sc->f);
	sc->f.x.state = LC_OS_SYN;
	if (bpf_map_update_elem(&lc_flows, &sc->k, &sc->f, BPF_NOEXIST))
		goto release;
	lc_os_key(o, LC_C2B, &sc->k);
	lc_os_dest(o, LC_C2B, &sc->f);
	sc->f.x.state = LC_HOLD;
	if (bpf_map_update_elem(&lc_flows, &sc->k, &sc->f, BPF_NOEXIST)) {
		lc_os_key(o, LC_B2C, &sc->k);
		bpf_map_delete_elem(&lc_flows, &sc->k);
		goto release;
	}
	/* The slot is ours; an exchange orders the writes above before it (arm64). */
	__sync_lock_test_and_set(st, LC_OS_SYNSENT);
	x->os_skip = 0;
	return lc_os_syn(skb, o);
release:
	*st = LC_OS_FREE;
pass:
	stat_add(LC_S_OS_PASS, 1);
	return LC_GO;
}

/*
 * A client segment while its one-shot SYN is out (client key in HOLD):
 * its head again, so our SYN or the backend's SYN-ACK was lost. The SYN
 * goes again, the same one, made from this segment: recovery at the
 * client's own retransmission pace. LC_GO: not a one-shot slot's.
 */
__attribute__((noinline)) int lc_os_resyn(struct __sk_buff *skb, __u32 slot)
{
	void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
	struct iphdr *ip = data + ETH_HLEN;
	struct tcphdr *tcp = (void *)(ip + 1);
	const __u32 zero = 0;
	const struct lc_cookie *ck = bpf_map_lookup_elem(&lc_cookie, &zero);
	struct lc_os *o;
	__u64 *st;
	__u32 idx;

	if (!ck || !ck->os_conn0)
		return LC_GO;
	idx = slot - ck->os_conn0;
	o = bpf_map_lookup_elem(&lc_os, &idx);
	st = bpf_map_lookup_elem(&lc_osst, &idx);
	if (!o || !st)
		return LC_GO;
	if (idx >= LC_OS_SLOTS)
		return LC_GO;
	if (*st != LC_OS_SYNSENT || (void *)(tcp + 1) > end || ip->ihl != 5 ||
	    bpf_ntohs(ip->tot_len) <= sizeof(*ip) + tcp->doff * 4u)
		return TC_ACT_SHOT;
	stat_add(LC_S_OS_RESYN, 1);
	return lc_os_syn(skb, o);
}

/*
 * The backend's SYN-ACK to a one-shot SYN (its b2c entry, `slot`): the
 * entries go LIVE and the SYN-ACK turns into the ACK that carries the head.
 */
__attribute__((noinline)) int lc_os_synack(struct __sk_buff *skb, __u32 slot)
{
	void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = data + ETH_HLEN;
	struct tcphdr *tcp = (void *)(ip + 1);
	const __u32 zero = 0;
	const struct lc_cookie *ck = bpf_map_lookup_elem(&lc_cookie, &zero);
	struct lc_osscratch *sc = bpf_map_lookup_elem(&lc_osscratch, &zero);
	struct lc_synwalk w = { 0 };
	struct lc_conn *conn;
	struct lc_os *o;
	__u64 *st, s;
	__u32 idx, b0, bts = 0, bws = 0, hlen, ph[3], *opt;
	__be16 check;
	__u8 mac[ETH_ALEN];
	__s64 sum;

	if (!ck || !sc || (void *)(tcp + 1) > end || ip->ihl != 5)
		return TC_ACT_SHOT;
	idx = slot - ck->os_conn0;
	if (idx >= LC_OS_SLOTS)
		return TC_ACT_SHOT;
	o = bpf_map_lookup_elem(&lc_os, &idx);
	st = bpf_map_lookup_elem(&lc_osst, &idx);
	conn = bpf_map_lookup_elem(&lc_conns, &slot);
	if (!o || !st || !conn || bpf_ntohl(tcp->ack_seq) != o->l1 + 1)
		return TC_ACT_SHOT;
	s = *st;
	/*
	 * Refused (a reset for our SYN): the connection goes, and the client's
	 * next retransmission of its head takes the ordinary path, whose proxy
	 * answers 502/503 and counts the failure against the backend.
	 */
	if (tcp->rst && s == LC_OS_SYNSENT) {
		if (__sync_val_compare_and_swap(st, LC_OS_SYNSENT, LC_OS_REAPING) ==
		    LC_OS_SYNSENT) {
			lc_os_decline(o, LC_OS_OUT_REFUSED);
			__sync_lock_test_and_set(st, LC_OS_DONE);
		}
		return TC_ACT_SHOT;
	}
	if (!tcp->syn || !tcp->ack || tcp->rst || (s != LC_OS_SYNSENT && s != LC_OS_LIVE))
		return TC_ACT_SHOT;
	/*
	 * LIVE: the backend repeats its SYN-ACK, so the ACK with the head was
	 * lost (it has acknowledged nothing): the head goes again, as before.
	 */
	if (s == LC_OS_LIVE && conn->ack_b != o->l1 + 1)
		return TC_ACT_SHOT;
	if (lc_syn_walk(tcp, end, &w, false))
		return TC_ACT_SHOT;
	b0 = bpf_ntohl(tcp->seq);
	if (w.ts <= 4 * LC_OPT_WORDS - 10)
		bts = rd32(&w.b[w.ts + 2]);
	if (w.ws <= 4 * LC_OPT_WORDS - 3)
		bws = w.b[w.ws + 2] > 14 ? 14 : w.b[w.ws + 2];
	if (s == LC_OS_LIVE)
		goto head;
	/*
	 * Both legs must agree on timestamps and SACK (splice-abi.h); a backend
	 * that refused one we offered for the client is declined like a reset
	 * (its half-open connection meets our kernel's reset and goes).
	 */
	if ((o->ts && w.ts > 4 * LC_OPT_WORDS - 10) || (o->sack && !w.sackok)) {
		if (__sync_val_compare_and_swap(st, LC_OS_SYNSENT, LC_OS_REAPING) ==
		    LC_OS_SYNSENT) {
			lc_os_decline(o, LC_OS_OUT_DECLINED);
			__sync_lock_test_and_set(st, LC_OS_DONE);
		}
		return TC_ACT_SHOT;
	}
	__builtin_memset(conn, 0, sizeof(*conn));
	o->b0 = b0;
	conn->ack_b = o->l1 + 1;
	conn->wnd_b = bpf_ntohs(tcp->window);
	conn->last_ns = bpf_ktime_get_coarse_ns();

	__builtin_memset(&sc->f, 0, sizeof(sc->f));
	sc->f.x.slot = slot;
	sc->f.x.state = LC_LIVE_OS;
	sc->f.x.ts_at[LC_C2B] = o->ts_b + LC_TS_MARGIN;
	sc->f.x.ts_at[LC_B2C] = o->ts_c + LC_TS_MARGIN;
	/* client -> backend */
	lc_os_key(o, LC_C2B, &sc->k);
	lc_os_dest(o, LC_C2B, &sc->f);
	/* Client byte c_next + (hlen - xlen) lands at l1 + 1 + hlen (splice-abi.h). */
	sc->f.x.seq_off = o->l1 + 1 - o->c_next + o->xlen;
	sc->f.x.ack_off = b0 - o->l0;
	sc->f.x.guard_seq = o->c_next + o->hlen - o->xlen;
	/* A backend without window scaling reads the client's windows unscaled. */
	if (o->cws != 0xf && w.ws > 4 * LC_OPT_WORDS - 3)
		sc->f.x.wnd_shl = o->cws;
	if (bpf_map_update_elem(&lc_flows, &sc->k, &sc->f, BPF_EXIST))
		return TC_ACT_SHOT;
	/* backend -> client */
	lc_os_key(o, LC_B2C, &sc->k);
	lc_os_dest(o, LC_B2C, &sc->f);
	sc->f.x.seq_off = o->l0 - b0;
	sc->f.x.ack_off = o->c_next - (o->l1 + 1) - o->xlen;
	sc->f.x.guard_seq = b0 + 1;
	sc->f.x.wnd_shl = (__u8)bws;
	sc->f.x.wnd_shr = o->cws != 0xf ? LC_CK_RCV_WSCALE : 0;
	if (bpf_map_update_elem(&lc_flows, &sc->k, &sc->f, BPF_EXIST))
		return TC_ACT_SHOT;
	/* Unless the reaper gave up on it meanwhile (its keys are going). */
	if (__sync_val_compare_and_swap(st, LC_OS_SYNSENT, LC_OS_LIVE) != LC_OS_SYNSENT)
		return TC_ACT_SHOT;

head:
	/* The SYN-ACK, turned around into the ACK with the head. */
	hlen = o->hlen;
	if (hlen < 24 || hlen > LC_OS_HLEN_MAX)
		return TC_ACT_SHOT;
	if (bpf_skb_change_tail(skb, ETH_HLEN + sizeof(*ip) + sizeof(*tcp) + 12 + hlen, 0))
		return TC_ACT_SHOT;
	data = (void *)(long)skb->data;
	end = (void *)(long)skb->data_end;
	eth = data;
	ip = data + ETH_HLEN;
	tcp = (void *)(ip + 1);
	if ((void *)(tcp + 1) + 12 > end)
		return TC_ACT_SHOT;
	__builtin_memcpy(mac, eth->h_source, ETH_ALEN);
	__builtin_memcpy(eth->h_source, eth->h_dest, ETH_ALEN);
	__builtin_memcpy(eth->h_dest, mac, ETH_ALEN);
	lc_os_ip4(ip, o, sizeof(*tcp) + 12 + hlen);
	tcp->source = o->lport;
	tcp->dest = o->bport;
	tcp->seq = bpf_htonl(o->l1 + 1);
	tcp->ack_seq = bpf_htonl(b0 + 1);
	((__u16 *)tcp)[6] = bpf_htons(((sizeof(*tcp) + 12) / 4) << 12 | 0x18);
	tcp->window = bpf_htons((__u16)o->cwin);
	tcp->check = 0;
	tcp->urg_ptr = 0;
	opt = (__u32 *)(tcp + 1);
	opt[0] = opt[1] = opt[2] = 0x01010101u;
	if (o->ts) {
		opt[0] = bpf_htonl(0x0101080au);
		opt[1] = bpf_htonl(o->ts_b);
		opt[2] = bpf_htonl(bts);
	}
	sum = bpf_csum_diff(0, 0, (__be32 *)tcp, sizeof(*tcp) + 12, 0);
	if (bpf_skb_store_bytes(skb, ETH_HLEN + sizeof(*ip) + sizeof(*tcp) + 12, o->head, hlen, 0))
		return TC_ACT_SHOT;
	sum = bpf_csum_diff(0, 0, (__be32 *)o->head, (hlen + 3) & 0x1fcu, (__u32)sum);
	ph[0] = o->laddr;
	ph[1] = o->baddr;
	ph[2] = bpf_htonl(IPPROTO_TCP << 16 | (sizeof(*tcp) + 12 + hlen));
	check = lc_fold(bpf_csum_diff(0, 0, ph, sizeof(ph), (__u32)sum));
	if (bpf_skb_store_bytes(skb, ETH_HLEN + sizeof(*ip) + TCP_CSUM_OFF, &check, 2, 0))
		return TC_ACT_SHOT;
	stat_add(LC_S_OS_HEAD, 1);
	return bpf_redirect(skb->ifindex, 0);
}

/*
 * A one-shot connection's end, as TCP sees it: a RST, or both FINs sent
 * and acknowledged (the last ACK of the close). Until then every segment
 * may still need translating (data in flight, a lost FIN resent); after
 * it, nothing that is not a stray can come, and a stray meets the kernel,
 * whose reset changes nothing for an end that is closed already. So the
 * fast path ends these connections itself, with the packet that ends
 * them, and the slow path makes no system call for them at all. 1: over.
 */
__attribute__((noinline)) int lc_os_track(__u32 slot, __u32 dirflags, __u32 seq, __u32 ack,
					  __u32 paylen)
{
	const __u32 zero = 0;
	const struct lc_cookie *ck = bpf_map_lookup_elem(&lc_cookie, &zero);
	__u32 idx, d = (dirflags >> 8) & 1, od = d ^ 1, flags = dirflags & 0xff, fins, add = 0;
	struct lc_os *o;

	if (!ck)
		return 0;
	idx = slot - ck->os_conn0;
	o = bpf_map_lookup_elem(&lc_os, &idx);
	if (!o)
		return 0;
	/*
	 * A reset is noted in the slot (lc_track) and left to the slow path's
	 * reaper after a linger: ending the connection here would let a blind
	 * RST, which the ends themselves check against their windows, cut it.
	 */
	if (flags & LC_TH_RST)
		return 0;
	fins = o->fins;
	if (flags & LC_TH_FIN) {
		o->fin_end[d] = seq + paylen + 1;
		add |= 1u << d;
		/* The answer's end, for the slow path's latency (the first FIN, not a resend). */
		if (d == LC_B2C && !(fins & (1u << LC_B2C)))
			o->t_fin_ns = bpf_ktime_get_ns();
	}
	/* ack: translated, so in the space of the FIN it may acknowledge. */
	if ((flags & LC_TH_ACK) && ((fins | add) >> od & 1) && (__s32)(ack - o->fin_end[od]) >= 0)
		add |= 4u << od;
	if (!add)
		return 0;
	fins = __sync_fetch_and_or(&o->fins, add) | add;
	return (fins & 0xc) == 0xc;
}

/* Ends one-shot connection `slot`: its keys go, and the reaper accounts for it. */
__attribute__((noinline)) int lc_os_end(__u32 slot)
{
	const __u32 zero = 0;
	const struct lc_cookie *ck = bpf_map_lookup_elem(&lc_cookie, &zero);
	struct lc_flow_key k;
	struct lc_os *o;
	__u64 *st, s;
	__u32 idx;

	if (!ck)
		return 0;
	idx = slot - ck->os_conn0;
	o = bpf_map_lookup_elem(&lc_os, &idx);
	st = bpf_map_lookup_elem(&lc_osst, &idx);
	if (!o || !st)
		return 0;
	s = *st;
	if ((s != LC_OS_LIVE && s != LC_OS_GONE) ||
	    __sync_val_compare_and_swap(st, s, LC_OS_REAPING) != s)
		return 0;
	if (s == LC_OS_LIVE) {
		lc_os_key(o, LC_C2B, &k);
		bpf_map_delete_elem(&lc_flows, &k);
	}
	lc_os_key(o, LC_B2C, &k);
	bpf_map_delete_elem(&lc_flows, &k);
	o->outcome = LC_OS_OUT_CLOSED;
	/* Release: the reaper that sees DONE sees the outcome and the counts. */
	__sync_lock_test_and_set(st, LC_OS_DONE);
	stat_add(LC_S_OS_ENDED, 1);
	return 0;
}

/*
 * The status of a one-shot answer, from its first segment's first 12
 * bytes (`HTTP/1.x NNN`), kept for the slow path's accounting (worker 0
 * logs the request as the proxy would). Anything else leaves it 0; the
 * first status line wins, an interim 1xx one included.
 */
__attribute__((noinline)) int lc_os_status(__u32 slot, __u64 lo, __u32 hi)
{
	const __u32 zero = 0;
	const struct lc_cookie *ck = bpf_map_lookup_elem(&lc_cookie, &zero);
	__u32 idx, d0 = (hi >> 8 & 0xff) - '0', d1 = (hi >> 16 & 0xff) - '0', d2 = (hi >> 24) - '0';
	struct lc_os *o;

	if (!ck)
		return 0;
	idx = slot - ck->os_conn0;
	o = bpf_map_lookup_elem(&lc_os, &idx);
	/* "HTTP/1." then a digit, a space and three digits, little-endian words. */
	if (!o || o->status || (lo & 0x00ffffffffffffffull) != 0x002e312f50545448ull ||
	    (__u8)((lo >> 56) - '0') > 9 || (hi & 0xff) != ' ' || d0 - 1 > 4 || d1 > 9 || d2 > 9)
		return 0;
	o->status = (__u16)(d0 * 100 + d1 * 10 + d2);
	return 0;
}

/*
 * Hands an ACK whose cookie checked (tuple x->t, attributes x->a) to its
 * listener; or, with `hold`, drops a later segment of a first flight (see
 * lc_cookie_ack) while its connection is not made yet. Both leave the
 * packet to the kernel when a connection exists or is on its way.
 */
static __always_inline int lc_ck_assign(struct __sk_buff *skb, struct lc_ckscratch *x, bool v6,
					bool hold, __u32 cookie)
{
	struct bpf_sock *skc;
	struct tcp_sock *tp;
	__u64 now;
	int r = -1;

	/* A listener not ours never sent a cookie of ours. */
	if (!lc_vip(x, v6))
		return TC_ACT_OK;
	skc = bpf_skc_lookup_tcp(skb, &x->t, v6 ? sizeof(x->t.ipv6) : sizeof(x->t.ipv4),
				 BPF_F_CURRENT_NETNS, 0);
	if (!skc) {
		if (hold)
			return TC_ACT_OK;
		goto out;
	}
	/*
	 * A connection already made from this cookie (the ACK, then data)
	 * is the kernel's, and so is one being made from a packet ahead of
	 * this one in the same receive batch.
	 */
	if (skc->state != BPF_TCP_LISTEN || lc_ck_recent(x)) {
		bpf_sk_release(skc);
		return TC_ACT_OK;
	}
	if (hold) {
		bpf_sk_release(skc);
		stat_add(LC_S_COOKIE_HELD, 1);
		return TC_ACT_SHOT;
	}
	if (!v6 && !x->os_skip) {
		const __u32 zero = 0;
		const struct lc_cookie *ck = bpf_map_lookup_elem(&lc_cookie, &zero);

		if (ck && ck->os_n) {
			x->os_cookie = cookie;
			x->os_ecr = x->a.tstamp_ok ? x->a.rcv_tsecr : 0;
			bpf_sk_release(skc);
			return LC_OSTRY;
		}
	}
	tp = bpf_skc_to_tcp_sock(skc);
	if (tp)
		r = bpf_sk_assign_tcp_reqsk(skb, (struct sock *)tp, &x->a, sizeof(x->a));
	bpf_sk_release(skc);
	/*
	 * Recorded whatever the outcome: after a refusal the kernel resets
	 * the client, and what follows in the batch is as dead.
	 */
	now = bpf_ktime_get_ns();
	bpf_map_update_elem(&lc_ckrecent, &x->t, &now, BPF_ANY);
out:
	/* On failure the kernel, which sent no cookie, resets the client. */
	stat_add(r ? LC_S_COOKIE_FAIL : LC_S_COOKIE_OK, 1);
	return TC_ACT_OK;
}

/* The MSS this interface's MTU allows (the most a SYN-ACK announces). */
static __always_inline __u32 lc_if_mss(struct __sk_buff *skb, bool v6)
{
	__u32 mtu = 0;

	if (bpf_check_mtu(skb, 0, &mtu, 0, 0) < 0 || mtu < 1280)
		return v6 ? 1220 : 536;
	return mtu - (v6 ? 60 : 40);
}

/*
 * Cuts or grows the SYN to the SYN-ACK's length (l3: the IP header's, a
 * constant) and swaps the MACs, as the SYN-ACK leaves where the SYN came
 * in. The TCP header, checked to hold its options, or NULL.
 */
static __always_inline struct tcphdr *lc_synack_frame(struct __sk_buff *skb, __u32 l3)
{
	__u8 mac[ETH_ALEN];
	struct ethhdr *eth;
	struct tcphdr *tcp;

	if (bpf_skb_change_tail(skb, ETH_HLEN + l3 + sizeof(*tcp) + LC_SYNACK_OPT, 0))
		return NULL;
	eth = (void *)(long)skb->data;
	tcp = (void *)eth + ETH_HLEN + l3;
	if ((void *)(tcp + 1) + LC_SYNACK_OPT > (void *)(long)skb->data_end)
		return NULL;
	__builtin_memcpy(mac, eth->h_source, ETH_ALEN);
	__builtin_memcpy(eth->h_source, eth->h_dest, ETH_ALEN);
	__builtin_memcpy(eth->h_dest, mac, ETH_ALEN);
	return tcp;
}

/*
 * The SYN-ACK's TCP checksum over the pseudo header ph (phlen bytes, a
 * constant) and the header, and out it goes where the SYN came in.
 */
static __always_inline int lc_synack_out(struct __sk_buff *skb, struct tcphdr *tcp, __u32 *ph,
					 __u32 phlen)
{
	__s64 sum = bpf_csum_diff(0, 0, (__be32 *)tcp, sizeof(*tcp) + LC_SYNACK_OPT, 0);

	tcp->check = lc_fold(bpf_csum_diff(0, 0, ph, phlen, (__u32)sum));
	stat_add(LC_S_COOKIE_SENT, 1);
	return bpf_redirect(skb->ifindex, 0);
}

/*
 * The ACK's cookie against the hash of x->msg (whose last word lc_ck_word()
 * made); a valid one goes to the listener of x->t.
 *
 * With timestamps the echo is checked first: it must be the TSval our
 * SYN-ACK gave this tuple (lc_ck_ts), which most ACKs on the port, those
 * of established connections, are not, for one hash as without. Then the
 * cookie: 54 bits to guess in all, not 23. An echo that checks with a
 * cookie that does not is a later segment of the client's first flight
 * whose handshake ACK and first segment were both lost: it carries no
 * ISN + 1 to check the cookie against, and the kernel, with no connection
 * yet, would reset the client. It is dropped instead while no connection
 * exists or is on its way (lc_ckrecent), and the client's retransmission
 * of the first segment, which does carry the ISN, makes it. Without
 * timestamps such a segment cannot be told from a stranger's and is
 * reset, as with the kernel's cookies. An echo of 0 is none (a client
 * may stamp unasked; a TSval of ours is never 0).
 */
static __always_inline int lc_cookie_ack(struct __sk_buff *skb, const struct tcphdr *tcp, void *end,
					 struct lc_synwalk *w, struct lc_ckscratch *x, __u32 cookie,
					 bool v6)
{
	__u32 t, ecr;
	__u64 h;

	if (lc_syn_walk(tcp, end, w, true))
		return TC_ACT_OK;
	t = w->ts;
	ecr = t <= 4 * LC_OPT_WORDS - 10 ? rd32(&w->b[t + 6]) : 0;
	/* (An echo of 0, from a client that stamps unasked, is none.) */
	if (ecr) {
		if (lc_ck_ts(&x->msg, lc_ck_slot(ecr)) != ecr)
			return TC_ACT_OK;
		h = lc_ck_hash(&x->msg);
		if ((((__u32)h ^ cookie) & ~0x1ffu) || !(cookie & 0x100))
			return lc_ck_assign(skb, x, v6, true, 0);
	} else {
		h = lc_ck_hash(&x->msg);
		if ((((__u32)h ^ cookie) & ~0x1ffu) || (cookie & 0x100))
			return TC_ACT_OK;
	}
	lc_ack_attrs(w, cookie, v6, &x->a);
	return lc_ck_assign(skb, x, v6, false, cookie);
}

static __always_inline int lc_cookie_syn4(struct __sk_buff *skb, const struct lc_cookie *ck,
					  const struct lc_synwalk *w, struct lc_ckscratch *x)
{
	void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
	struct iphdr *ip = data + ETH_HLEN;
	struct tcphdr *tcp = (void *)(ip + 1);
	__be32 saddr, daddr;
	__be16 sport, dport;
	__u32 isn, cookie, *ph = (__u32 *)x->ph;
	__u64 slot, h;

	if ((void *)(tcp + 1) > end)
		return TC_ACT_OK;
	x->t.ipv4.saddr = saddr = ip->saddr;
	x->t.ipv4.daddr = daddr = ip->daddr;
	x->t.ipv4.sport = sport = tcp->source;
	x->t.ipv4.dport = dport = tcp->dest;
	isn = bpf_ntohl(tcp->seq);
	if (!lc_listening(skb, x, false))
		return TC_ACT_OK;
	slot = bpf_ktime_get_coarse_ns() >> LC_CK_SLOT_SHIFT;
	lc_synopt(w, ck, false, slot, lc_if_mss(skb, false), &x->so);
	x->msg.n = 3;
	x->msg.m[0] = (__u64)saddr << 32 | daddr;
	x->msg.m[1] = (__u64)sport << 48 | (__u64)dport << 32 | isn;
	x->msg.m[2] = slot << 9 | x->so.low;
	h = lc_ck_hash(&x->msg);
	cookie = ((__u32)h & ~0x1ffu) | x->so.low;
	if (x->so.ts)
		x->so.o[2] = bpf_htonl(lc_ck_ts(&x->msg, slot));

	tcp = lc_synack_frame(skb, sizeof(*ip));
	if (!tcp)
		return TC_ACT_SHOT;
	ip = (void *)tcp - sizeof(*ip);
	ip->tos = 0;
	ip->tot_len = bpf_htons(sizeof(*ip) + sizeof(*tcp) + LC_SYNACK_OPT);
	ip->id = 0;
	ip->frag_off = bpf_htons(0x4000); /* DF */
	ip->ttl = 64;
	ip->saddr = daddr;
	ip->daddr = saddr;
	ip->check = 0;
	ip->check = lc_fold(bpf_csum_diff(0, 0, (__be32 *)ip, sizeof(*ip), 0));
	lc_synack_tcp(tcp, sport, dport, cookie, isn, &x->so);
	/* Pseudo header: addresses, zero, protocol, TCP length. */
	ph[0] = daddr;
	ph[1] = saddr;
	ph[2] = bpf_htonl(IPPROTO_TCP << 16 | (sizeof(*tcp) + LC_SYNACK_OPT));
	return lc_synack_out(skb, tcp, ph, 12);
}

static __always_inline int lc_cookie_ack4(struct __sk_buff *skb, struct iphdr *ip,
					  struct tcphdr *tcp, void *end, struct lc_synwalk *w,
					  struct lc_ckscratch *x)
{
	__u32 cookie = bpf_ntohl(tcp->ack_seq) - 1, isn = bpf_ntohl(tcp->seq) - 1;

	x->msg.n = 3;
	x->msg.m[0] = (__u64)ip->saddr << 32 | ip->daddr;
	x->msg.m[1] = (__u64)tcp->source << 48 | (__u64)tcp->dest << 32 | isn;
	x->msg.m[2] = lc_ck_word(cookie);
	x->t.ipv4.saddr = ip->saddr;
	x->t.ipv4.daddr = ip->daddr;
	x->t.ipv4.sport = tcp->source;
	x->t.ipv4.dport = tcp->dest;
	return lc_cookie_ack(skb, tcp, end, w, x, cookie, false);
}

static __always_inline int lc_cookie_syn6(struct __sk_buff *skb, const struct lc_cookie *ck,
					  const struct lc_synwalk *w, struct lc_ckscratch *x)
{
	void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
	struct ipv6hdr *ip6 = data + ETH_HLEN;
	struct tcphdr *tcp = (void *)(ip6 + 1);
	__be16 sport, dport;
	__u32 isn, cookie, *ph = (__u32 *)x->ph;
	__u64 slot, h;

	if ((void *)(tcp + 1) > end)
		return TC_ACT_OK;
	__builtin_memcpy(x->t.ipv6.saddr, &ip6->saddr, 16);
	__builtin_memcpy(x->t.ipv6.daddr, &ip6->daddr, 16);
	x->t.ipv6.sport = sport = tcp->source;
	x->t.ipv6.dport = dport = tcp->dest;
	isn = bpf_ntohl(tcp->seq);
	if (!lc_listening(skb, x, true))
		return TC_ACT_OK;
	slot = bpf_ktime_get_coarse_ns() >> LC_CK_SLOT_SHIFT;
	lc_synopt(w, ck, true, slot, lc_if_mss(skb, true), &x->so);
	x->msg.n = 6;
	__builtin_memcpy(x->msg.m, x->t.ipv6.saddr, 32); /* both addresses */
	x->msg.m[4] = (__u64)sport << 48 | (__u64)dport << 32 | isn;
	x->msg.m[5] = slot << 9 | x->so.low;
	h = lc_ck_hash(&x->msg);
	cookie = ((__u32)h & ~0x1ffu) | x->so.low;
	if (x->so.ts)
		x->so.o[2] = bpf_htonl(lc_ck_ts(&x->msg, slot));

	tcp = lc_synack_frame(skb, sizeof(*ip6));
	if (!tcp)
		return TC_ACT_SHOT;
	ip6 = (void *)tcp - sizeof(*ip6);
	/* Version 6, no traffic class or flow label. */
	*(__be32 *)ip6 = bpf_htonl(0x60000000);
	ip6->payload_len = bpf_htons(sizeof(*tcp) + LC_SYNACK_OPT);
	ip6->hop_limit = 64;
	__builtin_memcpy(&ip6->saddr, x->t.ipv6.daddr, 16);
	__builtin_memcpy(&ip6->daddr, x->t.ipv6.saddr, 16);
	lc_synack_tcp(tcp, sport, dport, cookie, isn, &x->so);
	/* Pseudo header: addresses, TCP length, zeros, next header. */
	__builtin_memcpy(ph, x->t.ipv6.daddr, 16);
	__builtin_memcpy(ph + 4, x->t.ipv6.saddr, 16);
	ph[8] = bpf_htonl(sizeof(*tcp) + LC_SYNACK_OPT);
	ph[9] = bpf_htonl(IPPROTO_TCP);
	return lc_synack_out(skb, tcp, ph, 40);
}

static __always_inline int lc_cookie_ack6(struct __sk_buff *skb, struct ipv6hdr *ip6,
					  struct tcphdr *tcp, void *end, struct lc_synwalk *w,
					  struct lc_ckscratch *x)
{
	__u32 cookie = bpf_ntohl(tcp->ack_seq) - 1, isn = bpf_ntohl(tcp->seq) - 1;

	x->msg.n = 6;
	__builtin_memcpy(x->msg.m, &ip6->saddr, 32); /* both addresses */
	x->msg.m[4] = (__u64)tcp->source << 48 | (__u64)tcp->dest << 32 | isn;
	x->msg.m[5] = lc_ck_word(cookie);
	__builtin_memcpy(x->t.ipv6.saddr, x->msg.m, 32);
	x->t.ipv6.sport = tcp->source;
	x->t.ipv6.dport = tcp->dest;
	return lc_cookie_ack(skb, tcp, end, w, x, cookie, true);
}

/*
 * The cookie work, as a global function: the verifier checks it once, on
 * its own, instead of once per path of the caller through the translation
 * code (which multiplied its work by four and its time to seconds). So it
 * parses the headers again from the skb; lc_nohit() has checked that the
 * packet is a SYN or an ACK for a splice port.
 */
__attribute__((noinline)) int lc_cookie_path(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	const __u32 zero = 0;
	const struct lc_cookie *ck;
	struct lc_ckscratch *x;
	struct lc_synwalk w = { 0 };
	struct tcphdr *tcp;

	if (!lc_ksym_exists(bpf_sk_assign_tcp_reqsk))
		return TC_ACT_OK;
	ck = bpf_map_lookup_elem(&lc_cookie, &zero);
	x = bpf_map_lookup_elem(&lc_ckscratch, &zero);
	if (!ck || !x || (void *)(eth + 1) > end)
		return TC_ACT_OK;
	/* The kernel wants the attributes' reserved bytes 0; the tuple is zero-padded. */
	__builtin_memset(&x->t, 0, sizeof(x->t));
	__builtin_memset(&x->a, 0, sizeof(x->a));
	if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = data + ETH_HLEN;

		if ((void *)(ip6 + 1) > end || ip6->nexthdr != IPPROTO_TCP)
			return TC_ACT_OK;
		tcp = (void *)(ip6 + 1);
		if ((void *)(tcp + 1) > end)
			return TC_ACT_OK;
		if (!tcp->syn)
			return lc_cookie_ack6(skb, ip6, tcp, end, &w, x);
		/* The kernel's hand-off would refuse the ACK (IPv6 as a module). */
		if (ck->flags & LC_CK_NO6)
			return TC_ACT_OK;
		if (lc_syn_walk(tcp, end, &w, false))
			return TC_ACT_OK;
		return lc_cookie_syn6(skb, ck, &w, x);
	} else {
		struct iphdr *ip = data + ETH_HLEN;

		if ((void *)(ip + 1) > end || ip->ihl != 5 || ip->protocol != IPPROTO_TCP)
			return TC_ACT_OK;
		tcp = (void *)(ip + 1);
		if ((void *)(tcp + 1) > end)
			return TC_ACT_OK;
		if (!tcp->syn)
			return lc_cookie_ack4(skb, ip, tcp, end, &w, x);
		if (lc_syn_walk(tcp, end, &w, false))
			return TC_ACT_OK;
		return lc_cookie_syn4(skb, ck, &w, x);
	}
}

/*
 * A packet to the balancer without a flow entry: on a splice listener's
 * port, a SYN gets a cookie and an ACK may return one. Everything else,
 * and everything when cookies are off, goes to the kernel; this gate is
 * one array look-up.
 */
static __always_inline int lc_nohit(struct __sk_buff *skb, const struct tcphdr *tcp)
{
	const __u32 zero = 0;
	const struct lc_cookie *ck;
	struct lc_ckscratch *x;
	__u16 port = bpf_ntohs(tcp->dest);
	int r;

	/*
	 * A SYN-ACK or SYN+FIN is no request; a RST or a bare FIN no cookie.
	 * A frame for another host's MAC (a bridge's traffic) is not ours.
	 */
	if (tcp->rst || (tcp->syn ? tcp->ack || tcp->fin : !tcp->ack) ||
	    skb->pkt_type != PACKET_HOST)
		return TC_ACT_OK;
	ck = bpf_map_lookup_elem(&lc_cookie, &zero);
	/*
	 * SYNs are answered while cookies are on; ACKs are checked as long as
	 * a key is there, so handshakes under way when they go off complete.
	 */
	if (!ck || !(ck->flags & (tcp->syn ? LC_CK_ON : LC_CK_KEY)) ||
	    !((ck->ports[port >> 6] >> (port & 63)) & 1))
		return TC_ACT_OK;
	r = lc_cookie_path(skb);
	if (r == LC_OSTRY) {
		/* Declined (LC_GO): the cookie path again, this time to hand over. */
		r = lc_os_try(skb);
		if (r == LC_GO)
			r = lc_cookie_path(skb);
		x = bpf_map_lookup_elem(&lc_ckscratch, &zero);
		if (x)
			x->os_skip = 0;
	}
	return r == LC_OSTRY || r == LC_GO ? TC_ACT_OK : r;
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
	int r, over = 0;

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
		return lc_nohit(skb, tcp);
	if (f->x.state == LC_OS_SYN ||
	    (f->x.state == LC_LIVE_OS && tcp->syn && tcp->ack && f->x.dir == LC_B2C))
		return lc_os_synack(skb, f->x.slot);
	if (f->x.state == LC_HOLD && f->x.dir == LC_C2B && !tcp->syn) {
		/* Held either way; a one-shot connection's SYN may go again. */
		r = lc_os_resyn(skb, f->x.slot);
		if (r != LC_GO)
			return r;
		stat_add(LC_S_HOLD_DROP, 1);
		return TC_ACT_SHOT;
	}
	if (tcp->syn) {
		r = lc_syn(tcp, &f->x, &lc_flows, &key);
		return r == LC_GO ? lc_nohit(skb, tcp) : r;
	}

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
	/*
	 * The answer's first segment (b2c's guard_seq is b0 + 1, its first
	 * byte), whenever it comes, resent after a loss included: its status,
	 * for the slow path's accounting.
	 */
	if (f->x.state == LC_LIVE_OS && f->x.dir == LC_B2C && paylen >= 12 &&
	    bpf_ntohl(tcp->seq) == f->x.guard_seq) {
		__u32 w[3];

		if (!bpf_skb_load_bytes(skb, ETH_HLEN + ihl + tcp->doff * 4u, w, sizeof(w)))
			lc_os_status(f->x.slot, (__u64)w[1] << 32 | w[0], w[2]);
	}
	if (f->x.state == LC_LIVE_OS && (tcp->fin || (conn->flags & (LC_F_FIN_C | LC_F_FIN_B))))
		over = lc_os_track(f->x.slot, (__u32)f->x.dir << 8 | ((__u8 *)tcp)[13],
				   bpf_ntohl(tcp->seq), bpf_ntohl(tcp->ack_seq) + f->x.ack_off,
				   paylen);

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
	if (over) {
		/* The entry goes: nothing of it is read after this. */
		__u32 ifx = f->x.ifindex;

		lc_os_end(f->x.slot);
		stat_add(LC_S_TRANSLATED, 1);
		stat_add(LC_S_BYTES, paylen);
		return bpf_redirect_neigh(ifx, NULL, 0, 0);
	}
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
		return lc_nohit(skb, tcp);
	if (tcp->syn) {
		r = lc_syn(tcp, &f->x, &lc_flows6, &key);
		return r == LC_GO ? lc_nohit(skb, tcp) : r;
	}

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
