/* SPDX-License-Identifier: MIT */
/*
 * The contract between Laconic's splice fast path (bpf/splice.bpf.c, a TC
 * program) and its slow path (splice.c, agent.c). Self-contained on purpose,
 * like a host/guest ABI header: both sides include it, so it uses only
 * fixed-width kernel types and no user-space headers.
 *
 * The splice
 * ----------
 * A client C connects to the listener (the VIP) and the kernel does the
 * handshake; laconic reads the request head, picks a backend B and connects
 * to it from a port of its own range. Then it "splices" the two kernel
 * connections into one end-to-end TCP connection C <-> B and forgets both
 * sockets (TCP_REPAIR, so closing them sends nothing). From then on every
 * packet of either leg is rewritten by the fast path:
 *
 *        C ----------------> VIP          LB ----------------> B
 *     seq s, ack a           key c2b      seq s + seq_off, ack a + ack_off
 *
 *        C <---------------- VIP          LB <---------------- B
 *     seq s + seq_off, ...   (b2c)        key b2c: seq s, ack a
 *
 * Sequence spaces. Let Rc be the client socket's rcv_nxt and Sc its
 * snd_nxt, Sb and Rb the backend socket's snd_nxt and rcv_nxt at the
 * moment of the splice, and n the bytes laconic replays to B (the head with
 * X-Forwarded-For, plus any client bytes that came after it). Client byte
 * Rc must land at backend sequence Sb + n, and backend byte Rb at client
 * sequence Sc:
 *
 *     c2b: seq_off = Sb + n - Rc      ack_off = Rb - Sc
 *     b2c: seq_off = Sc - Rb          ack_off = Rc - (Sb + n)
 *
 * All arithmetic is modulo 2^32. The kernel has ACKed client bytes up to
 * Rc, laconic owns them now: a client segment carrying payload that starts
 * before `guard_seq` (= Rc) is a retransmission of bytes the replay covers
 * and is dropped, never translated into the replay's sequence range.
 *
 * Windows. Each leg negotiated its own window scale. c2b windows are in the
 * client's scale and must be read by B in the scale the LB announced to B,
 * so win' = (win << wnd_shl) >> wnd_shr, clamped to 16 bits.
 *
 * SACK. A SACK block's edges are sequence numbers of the data the sender
 * of the block receives, i.e. acknowledgement numbers: each edge gets the
 * direction's ack_off, like the ack field. Both legs must agree on SACK:
 * a sender that negotiated it waits for blocks to start fast recovery (it
 * does not count plain duplicate ACKs), so with a receiver that sends none
 * it would recover every loss by timeout.
 *
 * Timestamps. Each end stamps segments with its own clock (TSval) and
 * echoes the last stamp it received (TSecr); the receiver rejects a segment
 * whose TSval is older than the last it accepted (PAWS), and takes RTT
 * samples from the echo. Before the splice, C saw the LB's clock of the
 * client socket and B the LB's clock of the backend socket; afterwards each
 * must see a clock that continues those, and get its own stamps back.
 * So per direction d, with base[d] the first TSval the fast path sees from
 * d's sender after the splice (recorded in the slot, first writer wins) and
 * ts_at[d] the LB clock of the receiving leg at the splice plus a margin:
 *
 *     TSval' = TSval - base[d] + ts_at[d]
 *     TSecr' = TSecr - ts_at[o] + base[o]     (o: the other direction)
 *
 * An echo of a stamp from before the splice (TSecr < ts_at[o], a value of
 * the LB's own clock) or from a direction not seen yet becomes 0, which
 * receivers treat as "no RTT sample from this echo" (they fall back to
 * their own send times). TSval' never goes back past what the receiver
 * accepted from the LB (PAWS holds), since ts_at is the LB's clock at the
 * splice plus LC_TS_MARGIN, and that margin also absorbs segments that
 * the first one overtook. Both legs must agree on timestamps (a leg with
 * them and a leg without would give one end segments without the option it
 * negotiated); splice.c checks both options on every splice, and proxies a
 * client whose leg would differ from the backend's (splice_fits()).
 *
 * Clock units. The margin assumes millisecond clocks, which Linux uses
 * unless a route enables microsecond stamps (the tcp_usec_ts route
 * feature, 6.7 and later): with those on the balancer's routes, the margin
 * shrinks to about a millisecond of reordering. The mapping itself does
 * not depend on the unit.
 *
 * Kernel. The option walk is a bpf_loop() callback: Linux 5.17 or later.
 *
 * Life of an entry pair: the slow path inserts both directions in state
 * LC_HOLD (the fast path drops their packets, so the kernel sockets stop
 * changing), reads the sockets' sequence numbers, rewrites the entries to
 * LC_LIVE, closes the sockets silently and sends the replay. The fast path
 * notes FIN, RST, the backend's highest ACK and the last packet time in the
 * connection's slot of `lc_conns`, an mmap()ed array the slow path reads
 * without system calls; after both FINs or a RST and a linger, or after an
 * idle timeout, the slow path deletes the entries.
 *
 * SYN segments are never translated: a SYN that matches an entry is a new
 * connection reusing the 4-tuple and belongs to the kernel. A SYN-ACK from
 * the backend is its handshake repeated (the LB socket's last ACK was
 * lost; the replay completes the handshake) and is dropped, because the
 * kernel, without that socket now, would reset the backend.
 *
 * SYN cookies. The handshake of a client is the agent's too: on the
 * splice listeners' addresses and ports the fast path answers a SYN itself,
 * with a SYN-ACK whose sequence number is a cookie, and keeps nothing. The
 * ACK that returns the cookie is checked there and handed to the listener
 * with the negotiated options (bpf_sk_assign_tcp_reqsk(), Linux 6.9), and
 * the kernel builds the connection from it as if it had answered the SYN.
 * No SYN reaches the listener, so a flood costs the kernel nothing (no
 * request socket, no SYN queue, no retransmitted SYN-ACK), and no option is
 * lost, unlike the kernel's own cookies without timestamps. The cookie:
 *
 *     ISN:    | 31 .. 9 | 8  |   7  |  6 5 |   4  |  3 .. 0  |
 *             |  hash   | ts | slot | mss  | sack |  wscale  |  (wscale 15: none)
 *     TSval:  | 31 .. 1 | 0    |      (2 if it would be 0: an echo of 0 is none)
 *             | tshash  | slot |
 *
 *     hash   = SipHash-2-4(key; client addr, LB addr, ports, client ISN,
 *                          time slot << 9 | ISN bits 8..0)
 *     tshash = SipHash-2-4(key; client addr, LB addr, ports,
 *                          time slot mod 2^32), its low 32 bits
 *
 * A time slot is 2^36 ns (68.7 s) and the cookie and the TSval carry its
 * parity, so each check hashes once and a cookie lives 69 to 137 seconds.
 * The low bits are hashed too (none can be changed). The mss bits index a
 * table per family of the client's MSS rounded down (the kernel's four for
 * IPv4); the SYN-ACK announces that, at most what the interface's MTU
 * allows. With timestamps the ACK's echo must be the TSval as well, and is
 * checked first (a second hash only for an echo that matches): 54 bits to
 * guess rather than 23 (the kernel's own cookies check 24, but only while
 * its SYN queue overflows; these are checked always). The TSval leaves the
 * client's ISN out so that a later segment of the client's first flight,
 * which echoes it but carries no ISN + 1, is known as ours: when the
 * handshake's ACK and the first segment are both lost, it is dropped
 * (counted in cookie_held, with forged ACKs that guessed the echo but not
 * the cookie) rather than reset by the kernel, until the client resends
 * its first segment, whose cookie checks. A receive batch (GRO) runs the
 * program over every packet of a list before TCP sees any, so a segment
 * right behind the ACK that hands a connection over finds none yet:
 * lc_ckrecent remembers hand-overs for 5 ms, and such a segment goes to
 * the kernel, neither held nor handed over a second time. The counters
 * tell which of the two checks failed, so /metrics, like the rest of the
 * admin endpoint, is for the operator only (the slot changes every 69 s,
 * before 2^31 guesses can be made). The SYN-ACK offers timestamps, SACK
 * and window scaling only if the client did and the namespace's sysctls
 * allow them (the slow path re-reads those once a second into LC_CK_*
 * flags), and the kernel continues the TSval clock (ts_off). An ACK that
 * echoes no TSval of ours, or has no echo and a cookie that fails, is not
 * ours (most ACKs on the port belong to established connections) and goes
 * to the kernel untouched; one whose listener is gone draws the kernel's
 * reset. Only frames for this host's MAC are answered, and only for an
 * address and port in lc_vips (a wildcard listener's are the host's
 * addresses, which the slow path follows), so traffic the host bridges or
 * routes, and other listeners on the same port number, are left alone.
 * IPv6 SYNs are left to the kernel where IPv6 is a module (LC_CK_NO6): its
 * hand-off takes IPv6 only when IPv6 is built in. The key is random per
 * process and lives in lc_cookie, mapped shared with the slow path like
 * lc_conns, with a bitmap of the listeners' ports that keeps the
 * per-packet test to one array look-up.
 *
 * Families. A spliced connection is IPv4 on both legs or IPv6 on both legs:
 * the configuration gives a splice listener and every backend of its pools
 * one family, and IPv6 listeners are IPV6_V6ONLY, so an IPv4 client never
 * arrives as a v4-mapped address on an IPv6 splice (translating between
 * the families would change header sizes, which a rewrite in place cannot).
 * Everything above holds for both; only the addresses and the map differ.
 */
#ifndef LACONIC_SPLICE_ABI_H
#define LACONIC_SPLICE_ABI_H

#include <linux/types.h>

/* Flow key: the packet's own fields, network byte order. */
struct lc_flow_key {
	__be32 saddr, daddr;
	__be16 sport, dport;
};

/*
 * IPv6 flows live in a map of their own (LC_MAP_FLOWS6) with this key
 * rather than in one map with a key wide enough for both: the IPv4 key
 * stays 12 bytes, so an IPv4 look-up hashes and compares what it always
 * did, and neither family pays for the other's entries. 36 bytes, no
 * padding (a hash map key is compared bytewise, padding included).
 */
struct lc_flow6_key {
	__be32 saddr[4], daddr[4];
	__be16 sport, dport;
};

enum lc_flow_state {
	LC_HOLD = 1,	/* drop: the slow path is reading the sockets */
	LC_LIVE = 2,	/* translate */
	LC_OS_SYN = 3,	/* one-shot: the agent's SYN to the backend is out (b2c key) */
	LC_LIVE_OS = 4, /* one-shot: translate, and end it when TCP says it is over */
};

enum lc_dir {
	LC_C2B = 0, /* client -> backend */
	LC_B2C = 1, /* backend -> client */
};

/*
 * What to do with a matching packet, apart from its addresses: the part of
 * an entry both families share, so the fast path handles it with one piece
 * of code. Ports network order.
 */
struct lc_xlate {
	__be16 sport, dport;	/* after translation */
	__u32 seq_off, ack_off; /* added modulo 2^32, host order */
	__u32 guard_seq;	/* payload starting before this is dropped */
	__u32 slot;		/* index in lc_conns */
	__u8 dir;		/* enum lc_dir */
	__u8 state;		/* enum lc_flow_state */
	__u8 wnd_shl, wnd_shr;	/* window rescaling */
	__u32 ifindex;		/* output interface; the neighbour table gives the MACs */
	__u32 ts_at[2];		/* by enum lc_dir: where that sender's first TSval lands */
};

/* An IPv4 entry (LC_MAP_FLOWS). Addresses network order. */
struct lc_flow {
	__be32 saddr, daddr; /* after translation */
	struct lc_xlate x;
};

/* An IPv6 entry (LC_MAP_FLOWS6). */
struct lc_flow6 {
	__be32 saddr[4], daddr[4]; /* after translation */
	struct lc_xlate x;
};

_Static_assert(sizeof(struct lc_flow_key) == 12, "lc_flow_key layout");
_Static_assert(sizeof(struct lc_flow) == 44, "lc_flow layout");
_Static_assert(sizeof(struct lc_flow6_key) == 36, "lc_flow6_key has no padding");

/* lc_conns[slot].flags */
#define LC_F_FIN_C 0x1u /* client sent FIN */
#define LC_F_FIN_B 0x2u /* backend sent FIN */
#define LC_F_RST   0x4u /* either sent RST */

/* One spliced connection, written by the fast path, read by the slow path. */
struct lc_conn {
	__u32 flags;
	__u32 ack_b;	/* highest ACK seen from the backend (its sequence space) */
	__u64 last_ns;	/* bpf_ktime_get_coarse_ns() of the last packet */
	__u64 bytes[2]; /* payload bytes by enum lc_dir */
	__u64 pkts[2];
	__u32 wnd_b;	  /* the backend's last window field, unscaled (paces the replay) */
	__u32 ts_base[2]; /* by enum lc_dir: first TSval after the splice, 0 = none yet */
	__u32 pad32;	  /* one cache line per connection */
};

/*
 * Added to the LB's clock at the splice to make ts_at (ms on Linux, whose
 * TS clock ticks in milliseconds): a stamp that arrives out of order, up to
 * this much older than the first one the fast path saw, still lands after
 * everything the receiver accepted before the splice.
 */
#define LC_TS_MARGIN 1024u
_Static_assert(sizeof(struct lc_conn) == 64, "lc_conn: one cache line");

/* Fast-path counters (per-CPU array). */
enum lc_stat {
	LC_S_TRANSLATED = 0, /* packets rewritten and redirected */
	LC_S_BYTES,	     /* their payload bytes */
	LC_S_HOLD_DROP,	     /* dropped while the slow path held the flow */
	LC_S_GUARD_DROP,     /* pre-splice retransmissions dropped */
	LC_S_SYN_PASS,	     /* client SYN on a spliced tuple, not translated: a reused
			      * port's new connection (to the cookie path or the kernel)
			      * or a stray SYN on a live one (to the kernel) */
	LC_S_FIN,
	LC_S_RST,
	LC_S_TRANSLATED6, /* of LC_S_TRANSLATED, the IPv6 ones */
	LC_S_SYNACK_DROP, /* a backend's repeated SYN-ACK on a spliced tuple, dropped */
	LC_S_COOKIE_SENT, /* SYNs answered with a cookie */
	LC_S_COOKIE_OK,	  /* ACKs with a valid cookie handed to the listener */
	LC_S_COOKIE_FAIL, /* valid cookies the kernel would not take (no listener, sysctl) */
	LC_S_COOKIE_HELD, /* segments echoing our TSval whose cookie fails, dropped: first flights'
			   * later segments before a connection exists (and forgeries) */
	LC_S_OS_SYN,	  /* one-shot heads turned into SYNs to a backend */
	LC_S_OS_HEAD,	  /* one-shot SYN-ACKs turned into the head */
	LC_S_OS_PASS,	  /* one-shot candidates handed to the kernel (no slot, not one-shot) */
	LC_S_OS_ACKDROP,  /* bare cookie ACKs dropped while waiting for the head */
	LC_S_OS_NOSLOT,	  /* of LC_S_OS_PASS: no free slot */
	LC_S_OS_NOTHEAD,  /* of LC_S_OS_PASS: not a one-shot head */
	LC_S_OS_ENDED, /* one-shot connections ended by the fast path (RST, or closed both ways) */
	LC_S_OS_REFUSED, /* one-shot SYNs a backend reset: the client takes the ordinary path */
	LC_S_OS_RESYN,	 /* one-shot SYNs sent again (the client resent its head) */
	LC_S_MAX,
};

/* lc_cookie flags */
#define LC_CK_ON   0x1u	 /* answer SYNs on the ports in the bitmap */
#define LC_CK_KEY  0x10u /* the key is set: check ACKs (even with LC_CK_ON off) */
#define LC_CK_TS   0x2u	 /* net.ipv4.tcp_timestamps */
#define LC_CK_SACK 0x4u	 /* net.ipv4.tcp_sack */
#define LC_CK_WS   0x8u	 /* net.ipv4.tcp_window_scaling */
#define LC_CK_NO6  0x20u /* IPv6 is a module: the hand-off takes no IPv6 ACK */

/* The window scale the agent announces for the balancer's side. */
#define LC_CK_RCV_WSCALE 7

/*
 * A splice listener's address and port, the key of lc_vips: IPv4 in
 * addr[0], network order; the port in host order. A listener on the
 * wildcard address has an entry per address of the host (the slow path
 * follows them). No padding.
 */
struct lc_vip_key {
	__u32 addr[4];
	__u16 port;
	__u16 family; /* AF_INET or AF_INET6 */
};

_Static_assert(sizeof(struct lc_vip_key) == 20, "lc_vip_key has no padding");

#define LC_MAX_VIPS 4096 /* listeners, times addresses for wildcard ones */

/* The cookie's configuration: one entry, mmap()ed by the slow path. */
struct lc_cookie {
	__u64 key[2]; /* SipHash key, written before LC_CK_ON is set */
	__u32 flags;  /* LC_CK_* */
	__u32 pad;
	__u64 ports[1024]; /* bit p: port p (host order) has a splice listener */
	__u32 os_n;	   /* one-shot backends in lc_osbe; 0: one-shot off */
	__u32 os_conn0;	   /* lc_conns index of one-shot slot 0 */
	__u32 os_port0;	   /* LB-side port of one-shot slot 0 */
	__u32 os_xff;	   /* 1: one-shot heads get X-Forwarded-For */
};

/*
 * One-shot connections (splice_oneshot_agent)
 * -------------------------------------------
 * A client whose first request ends its connection (`Connection: close`)
 * is the case where a splice saves nothing: the kernel socket the balancer
 * accepts, reads and closes is most of the cost. With one-shot on, such a
 * client never gets one. Its handshake is the cookie's (above); the
 * handshake's bare ACK is dropped, since the head that follows carries the
 * cookie again. A head that is one whole segment, `GET ... HTTP/1.x`,
 * plain (CR LF lines, no control bytes, no folding, no Content-Length or
 * Transfer-Encoding) and with a `Connection: close` line is taken:
 *
 *   client            fast path (TC)                     backend B
 *   ACK+head  ----->  cookie ok, claim slot i, copy head
 *                     to lc_os[i], entries: b2c OS_SYN,
 *                     c2b HOLD; the segment becomes  SYN ---->
 *                                                     <---- SYN-ACK
 *                     entries LIVE_OS (offsets below);
 *                     the SYN-ACK becomes ACK + head
 *                     (+ X-Forwarded-For)         ---------->
 *             <------------ translated both ways ------------>
 *   last ACK of the close (both FINs acknowledged) or a RST:
 *                     translated, then both keys deleted, slot DONE;
 *                     the slow path's reaper accounts for it (the
 *                     status, times and b0 the program noted) and
 *                     frees it
 *
 * The backend leg is ours: LB-side port LC_OS_PORT0 + i (i is also the
 * index in lc_os and lc_osst, and slot os_conn0 + i of lc_conns), ISN
 * l1 = ns >> 6 (rising, so a SYN to a tuple the backend still holds in
 * TIME_WAIT is taken as new), a microsecond TSval clock (the same reason),
 * and the client's MSS, SACK and window scale, so c2b windows pass
 * unscaled. With the client's ISN c (its head at c_next = c + 1, h bytes),
 * the cookie l0, the backend's ISN b0 and x bytes of X-Forwarded-For, the
 * replay of the splice above is the head itself (n = h + x, Sb = l1 + 1,
 * Rc = c_next + h, Sc = l0 + 1, Rb = b0 + 1):
 *
 *     c2b: seq_off = l1 + 1 - c_next + x      ack_off = b0 - l0
 *     b2c: seq_off = l0 - b0                  ack_off = c_next - l1 - 1 - x
 *     guard (c2b) = c_next + h: the client's copy of the head never
 *     lands over ours
 *
 * and ts_at is our SYN's TSval (backend leg) and the cookie's TSval
 * (client leg), each plus LC_TS_MARGIN. Losses: the client resends its
 * head while the SYN is out, and the SYN goes again with it; the backend
 * repeats its SYN-ACK while the head is lost (it acknowledged nothing),
 * and the head goes again with that; a reset for the SYN deletes both
 * keys and sends the client's next head the ordinary way for
 * LC_OS_DECLINE_NS (lc_osno), where the proxy answers 502/503 and counts
 * the failure. The slot's state word (lc_osst) changes by compare-and-swap
 * only, between the fast path on any CPU and the reaper, so a reused
 * client tuple's new key is never deleted as the old one's. Everything
 * else a one-shot head could need (another pool by Host or path, a
 * policy other than round robin, IPv6) is refused by the configuration
 * check, not approximated.
 */
#define LC_OS_SLOTS	15872
#define LC_OS_BACKENDS	64   /* lc_osbe: the round robin's table (weights repeat a backend) */
#define LC_OS_PORT0	4096 /* LB-side ports 4096..19967, below the kernel's ephemeral range */
#define LC_OS_HEAD	464  /* the longest head taken */
#define LC_OS_FIELDS	100  /* the most header lines taken: the proxy's parser takes no more */
#define LC_OS_HLEN_MAX	498  /* with X-Forwarded-For (at most 34 bytes) */
#define LC_OS_BUF	1024 /* o->head: masked offsets plus masked sizes stay inside */
#define LC_OS_HEAD_MASK 511

struct lc_osbe {
	__be32 addr, src; /* backend, and the balancer's address towards it */
	__be16 port, pad;
	__u32 ifindex;
};

/*
 * A one-shot slot's state, in lc_osst (a compact array both sides map and
 * change with compare-and-swap only): the fast path claims a FREE slot,
 * fills it, sends the SYN (SYNSENT), goes LIVE on the SYN-ACK; a client
 * SYN that reuses a closed connection's tuple deletes its client key and
 * marks it GONE; the reaper takes LIVE or GONE (or a stale SYNSENT) to
 * REAPING, deletes what keys are left and frees the slot. The CAS on one
 * word is what keeps a reused tuple's new key from being deleted as the
 * old connection's.
 */
enum lc_os_state {
	LC_OS_FREE = 0,
	LC_OS_CLAIM = 1, /* being filled by the fast path */
	LC_OS_SYNSENT = 2,
	LC_OS_LIVE = 3,
	LC_OS_GONE = 4, /* LIVE, its client key deleted by the tuple's next SYN */
	LC_OS_REAPING = 5,
	LC_OS_DONE = 6, /* over, keys gone: the reaper takes it (COOL) */
	LC_OS_COOL = 7, /* freed on the reaper's next pass, so that no fast-path run
			 * still holding the old connection's slot meets a new one */
};

/*
 * How a one-shot connection ended, as far as the fast path knows it
 * (lc_os.outcome; the reaper tells reset, idle and unanswered apart).
 */
enum lc_os_outcome {
	LC_OS_OUT_NONE = 0,
	LC_OS_OUT_CLOSED = 1,	/* both FINs acknowledged (lc_os_end) */
	LC_OS_OUT_REFUSED = 2,	/* the backend reset the SYN */
	LC_OS_OUT_DECLINED = 3, /* the backend's SYN-ACK lacked an option the client has */
};

struct lc_os {
	__u32 hlen; /* the head as the backend gets it */
	__u32 xlen; /* of which the balancer's X-Forwarded-For line */
	__u64 t_ns; /* bpf_ktime_get_coarse_ns() when claimed */
	/*
	 * For the slow path's accounting: bpf_ktime_get_ns() at the head and
	 * at the backend's FIN (0: none yet), and the status of the answer's
	 * first segment (0: not an HTTP/1.x status line, or none yet).
	 */
	__u64 t_head_ns, t_fin_ns;
	__u16 status;
	__u8 outcome; /* enum lc_os_outcome */
	__u8 pad0;
	__be32 caddr, vaddr, baddr, laddr;
	__be16 cport, vport, bport, lport;
	__u32 c_next;	  /* client sequence of the head's first byte */
	__u32 l0, l1;	  /* our ISNs: client leg (the cookie), backend leg */
	__u32 b0;	  /* the backend's ISN (from its SYN-ACK) */
	__u32 ts_c, ts_b; /* our TSval on each leg */
	__u32 cwin;	  /* the client's window field on the head */
	__u32 ifc, ifb;	  /* client-side and backend-side interfaces */
	__u32 fin_end[2]; /* by enum lc_dir: sequence after that sender's FIN (its own space) */
	__u32 fins;	  /* bit dir: FIN seen; bit 2 + dir: that FIN acknowledged */
	__u16 mss;
	__u8 cws; /* client's window scale, 0xf: none */
	__u8 ts, sack, pad[3];
	__u8 head[LC_OS_BUF];
};

/*
 * A one-shot connection's key for direction dir's packets, from its slot:
 * the program's and the reaper's, which deletes the keys it gives up on.
 */
static inline __attribute__((always_inline)) void lc_os_key(const struct lc_os *o, enum lc_dir dir,
							    struct lc_flow_key *k)
{
	if (dir == LC_C2B) {
		k->saddr = o->caddr;
		k->daddr = o->vaddr;
		k->sport = o->cport;
		k->dport = o->vport;
	} else {
		k->saddr = o->baddr;
		k->daddr = o->laddr;
		k->sport = o->bport;
		k->dport = o->lport;
	}
}
#define LC_MAP_OS   "lc_os"
#define LC_MAP_OSST "lc_osst"
#define LC_MAP_OSBE "lc_osbe"

#define LC_MAP_FLOWS  "lc_flows"
#define LC_MAP_FLOWS6 "lc_flows6"
#define LC_MAP_CONNS  "lc_conns"
#define LC_MAP_STATS  "lc_stats"
#define LC_MAP_COOKIE "lc_cookie"
#define LC_MAP_VIPS   "lc_vips"
#define LC_PROG	      "lc_splice"

/*
 * Default capacity; the loader resizes lc_flows and lc_flows6 (2 entries per
 * connection each, as a connection may be of either family) and lc_conns.
 */
#define LC_DEFAULT_CONNS 65536

#endif /* LACONIC_SPLICE_ABI_H */
