/* SPDX-License-Identifier: GPL-2.0-only OR MIT */
/*
 * Laconic's fast path: a TC ingress program on the balancer's interfaces
 * that translates the packets of spliced connections (see ../splice-abi.h
 * for the sequence arithmetic and the entry life cycle).
 *
 * Per packet: parse Ethernet/IPv4/TCP, look the 4-tuple up in lc_flows,
 * and for a live entry rewrite addresses, ports, seq, ack and window,
 * patch the checksums incrementally, set the MACs of the output interface
 * and redirect to it. Packets without an entry go to the kernel untouched,
 * so the proxy mode, health checks and handshakes share the interfaces.
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
 * the neighbour table. bpf_fib_lookup() would do that here, but from the
 * ingress side it refuses to work unless the host forwards, and a balancer
 * that forwards would route clients straight to the backends' network.
 *
 * Cost: one hash lookup, one array lookup, three checksum helpers and a
 * neighbour-resolving redirect.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
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

static __always_inline void stat_add(__u32 which, __u64 v)
{
	__u64 *p = bpf_map_lookup_elem(&lc_stats, &which);

	if (p)
		*p += v;
}

SEC("tc")
int lc_splice(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip;
	struct tcphdr *tcp;
	struct lc_flow_key key;
	struct lc_flow *f;
	struct lc_conn *conn;
	__u32 ihl, doff, iplen, seq, ack, paylen, slot, ifindex;
	__u32 from[6], to[6];
	__u16 win;
	__s64 d;
	__u8 dir, fin, rst;

	if ((void *)(eth + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP))
		return TC_ACT_OK;
	ip = (void *)(eth + 1);
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
	if (tcp->syn) {
		stat_add(LC_S_SYN_PASS, 1);
		/*
		 * A client SYN on a tuple whose connection is over (FIN both
		 * ways, or RST) and lingering: the client reuses its port for a
		 * new connection. Its packets must reach the kernel from now on,
		 * not the old backend connection. A SYN on a live connection is
		 * left to the kernel alone (no socket: its SYN-ACK draws only a
		 * challenge ACK), so a blind spoofed SYN cannot cut a connection.
		 */
		if (f->dir == LC_C2B && !tcp->ack) {
			slot = f->slot;
			conn = bpf_map_lookup_elem(&lc_conns, &slot);
			if (conn && ((conn->flags & LC_F_RST) ||
				     (conn->flags & (LC_F_FIN_C | LC_F_FIN_B)) ==
					     (LC_F_FIN_C | LC_F_FIN_B)))
				bpf_map_delete_elem(&lc_flows, &key);
		}
		return TC_ACT_OK;
	}
	if (f->state != LC_LIVE) {
		stat_add(LC_S_HOLD_DROP, 1);
		return TC_ACT_SHOT;
	}
	slot = f->slot;
	conn = bpf_map_lookup_elem(&lc_conns, &slot);
	if (!conn)
		return TC_ACT_SHOT;

	doff = tcp->doff * 4u;
	/*
	 * The IP length, not the frame's: Ethernet pads short frames (a bare
	 * ACK) to 60 bytes. A GSO skb carries its whole length there; only BIG
	 * TCP writes 0, and then the frame length is the one to trust.
	 */
	iplen = bpf_ntohs(ip->tot_len);
	if (!iplen || iplen > skb->len - ETH_HLEN)
		iplen = skb->len - ETH_HLEN;
	if (doff < sizeof(*tcp) || iplen < ihl + doff)
		return TC_ACT_SHOT;
	paylen = iplen - ihl - doff;
	seq = bpf_ntohl(tcp->seq);
	ack = bpf_ntohl(tcp->ack_seq);
	fin = tcp->fin;
	rst = tcp->rst;
	dir = f->dir & 1;

	/*
	 * Bytes before guard_seq were acknowledged by the kernel socket and
	 * are carried by the replay; translating them would write them over
	 * the replay at the backend.
	 */
	if ((paylen || fin) && (__s32)(seq - f->guard_seq) < 0) {
		stat_add(LC_S_GUARD_DROP, 1);
		return TC_ACT_SHOT;
	}

	if (dir == LC_B2C && tcp->ack && (__s32)(ack - conn->ack_b) >= 0) {
		/* Racing CPUs may lose a step; the next ACK repairs it. */
		conn->ack_b = ack;
		conn->wnd_b = bpf_ntohs(tcp->window);
	}
	if (fin) {
		__sync_fetch_and_or(&conn->flags, dir == LC_C2B ? LC_F_FIN_C : LC_F_FIN_B);
		stat_add(LC_S_FIN, 1);
	}
	if (rst) {
		__sync_fetch_and_or(&conn->flags, LC_F_RST);
		stat_add(LC_S_RST, 1);
	}
	conn->last_ns = bpf_ktime_get_coarse_ns();
	conn->bytes[dir] += paylen;
	conn->pkts[dir] += 1;

	ifindex = f->ifindex;

	/* The TCP words that change: ports, seq, ack, and doff/flags/window. */
	from[0] = ((__u32 *)tcp)[0];
	from[1] = tcp->seq;
	from[2] = tcp->ack_seq;
	from[3] = ((__u32 *)tcp)[3];
	win = bpf_ntohs(tcp->window);
	if (!rst) {
		__u32 w = ((__u32)win << f->wnd_shl) >> f->wnd_shr;

		win = w > 0xffff ? 0xffff : (__u16)w;
	}
	tcp->source = f->sport;
	tcp->dest = f->dport;
	tcp->seq = bpf_htonl(seq + f->seq_off);
	if (tcp->ack)
		tcp->ack_seq = bpf_htonl(ack + f->ack_off);
	tcp->window = bpf_htons(win);
	to[0] = ((__u32 *)tcp)[0];
	to[1] = tcp->seq;
	to[2] = tcp->ack_seq;
	to[3] = ((__u32 *)tcp)[3];
	/* Addresses: in the IP header and the TCP pseudo header. */
	from[4] = ip->saddr;
	from[5] = ip->daddr;
	ip->saddr = f->saddr;
	ip->daddr = f->daddr;
	to[4] = f->saddr;
	to[5] = f->daddr;

	d = bpf_csum_diff(from, 16, to, 16, 0);
	if (d < 0 || bpf_l4_csum_replace(skb, ETH_HLEN + ihl + TCP_CSUM_OFF, 0, (__u32)d, 0))
		return TC_ACT_SHOT;
	d = bpf_csum_diff(&from[4], 8, &to[4], 8, 0);
	if (d < 0 ||
	    bpf_l4_csum_replace(skb, ETH_HLEN + ihl + TCP_CSUM_OFF, 0, (__u32)d,
				BPF_F_PSEUDO_HDR) ||
	    bpf_l3_csum_replace(skb, IP_CSUM_OFF, 0, (__u32)d, 0))
		return TC_ACT_SHOT;

	stat_add(LC_S_TRANSLATED, 1);
	stat_add(LC_S_BYTES, paylen);
	/*
	 * The neighbour subsystem fills in the MACs (and resolves them if it
	 * must), after an output route lookup on ifindex: no forwarding needed.
	 */
	return bpf_redirect_neigh(ifindex, NULL, 0, 0);
}
