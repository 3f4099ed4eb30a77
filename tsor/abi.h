/* SPDX-License-Identifier: MIT */
/*
 * TSoR's two binary interfaces: the messages between libtsor.so and tsord
 * on a Unix stream socket, and the layout of one connection's channel (a
 * sealed memfd shared by the connection's two endpoints).
 *
 * The model. Every TCP socket an application creates stays a real kernel
 * socket with a real fd. For an accelerated connection the kernel TCP
 * connection carries no application data; it still gives identity (the
 * 4-tuple, getsockname/getpeername), accept() readiness through the real
 * listening socket, liveness (a peer that closes or dies makes the kernel
 * send FIN/RST) and reference counting across fork/dup (FIN goes out only
 * when the last reference closes). The bytes travel through two SPSC rings
 * (lib/ring.h) in the channel. Anything that cannot be accelerated stays
 * plain kernel TCP, by construction.
 *
 * Connection set-up (tsord is single-threaded, so each step is atomic):
 *
 *   connector (lib)                 tsord                     acceptor (lib)
 *   socket(); listen() ...                                    listen()
 *                                   <- LISTEN(fd) ----------  registers the
 *                                      reads addr+netns of fd  listener
 *   QUERY(fd, dst) -------------->  listener at dst in fd's
 *   <---------------- 0 / -ENOENT   netns, dst local there?
 *   bind(port 0) if unbound
 *   INTENT(fd, dst, ring) ------->  reads port+netns of fd,
 *                                   creates memfd + 4 pipes,
 *   <--- memfd, 4 bells, id         records the intent
 *   connect() (SYN)  ==== kernel TCP handshake ====>          accept()
 *                                   <------------ ASK(fd) --  (new fd)
 *                                   matches (netns, peer port,
 *                                   local addr, local port),
 *                                   sets accepted=1 in the
 *                                   channel, writes the
 *                                   connector's rx bell
 *                                   --- memfd, bells, id ---> accelerated
 *   first data op: waits for accepted=1 (bounded, TSOR_CONFIRM_MS), else
 *   CANCEL(id, why) ------------> removes the intent if still unmatched
 *   <--------- 0 (cancelled: use kernel TCP) / -EALREADY (matched: use ring)
 *              / -ENOENT (expired or not ours: the accepted flag decides)
 *
 * The intent is recorded before the SYN, so an acceptor never asks too
 * early. The connector never puts a byte in the ring before tsord has
 * matched its intent with a real accepted socket, so the two sides always
 * agree: a listener that turns out not to be the one accepting (SO_REUSEPORT
 * groups mixing preloaded and plain processes, NAT) costs a bounded wait
 * and a fallback, never lost data. An ASK without an intent is answered
 * -ENOENT: an ordinary kernel client, served over kernel TCP.
 *
 * Counting, one count per connection on each node: a match is
 * accelerated; a CANCEL says why (enum tsor_cancel): the connection goes
 * on over kernel TCP (fallback), it was closed before its server accepted
 * it (unused: wrk's address probe, a health check that only connects), or
 * connect() failed at once (no connection, no count; one that fails later,
 * while the program waits for it, is seen as unused or fallback). tsord
 * remembers the tuples of recently cancelled intents (a minute), so the
 * late ASK of a cancelled connection is not counted a second time; an ASK
 * that fits none (a plain kernel client) is a fallback, as is a connect to
 * an address with no listener. Across nodes each tsord counts what it
 * sees: the server's node counts a cancelled relayed connection's ASK as
 * a fallback. The reason is the connector's word: a library that lied
 * could only reclassify its own connections.
 *
 * Ownership proof: clients hand tsord the actual socket (SCM_RIGHTS) and
 * tsord reads getsockname/getpeername and the network namespace
 * (SIOCGSKNS, then the inode) from it; no address a client claims is
 * trusted except the destination of a connect, which only steers the
 * client's own connection. A channel's memfd goes to its two endpoints
 * only. tsord closes its copies of every socket right after reading them,
 * so it never keeps a connection or a listener alive.
 *
 * What the socket must be, since a tsord client may be any local user
 * (the security review of 2026-11-26 found each of these exploitable):
 * LISTEN takes only a TCP socket in state LISTEN; QUERY and INTENT only
 * TCP sockets; ASK only an accepted TCP connection (SO_ACCEPTCONN 0,
 * TCP_INFO state ESTABLISHED or CLOSE_WAIT), never e.g. a UDP socket bound
 * to the server's address and connected to the client's port. An intent
 * is keyed on (netns, the connector's bound address and port as they will
 * appear on the wire, server); the INTENT socket must be able to reach
 * the destination's family (an IPV6_V6ONLY socket cannot claim an IPv4
 * server). An ASK matches only when the accepted socket's peer is that
 * bound address (any, if the connector bound the wildcard) and port; when
 * two intents fit, neither is used (both connectors cancel to kernel TCP).
 * A second client's INTENT on a key in use is -EADDRINUSE, and CANCEL
 * acts on the caller's own intents only (-EALREADY: matched, -ENOENT:
 * unknown to the caller). STOP needs root or tsord's uid. The lib and CLI
 * talk only to a tsord whose SO_PEERCRED uid is root or their own euid,
 * and tsord's socket directory must be a real directory of its user's
 * (or root's) that nobody else can write.
 *
 * Message: a fixed 96-byte frame, both directions, host byte order (both
 * ends are on one host). Replies carry up to TSOR_MAX_FDS descriptors.
 *
 *     0      magic "TSOR"       4  version  6  type     8  status (-errno)
 *     12     ring_size          16 id (channel / listener / intent)
 *     24     struct tsor_addr (family, port, 16 address bytes) = 20 bytes
 *     44     pad                48 u64 val[6] (stats, byte counters)
 *
 * Channel (the memfd; size sealed with F_SEAL_GROW|SHRINK|SEAL, so neither
 * endpoint can truncate it under the other and fault it):
 *
 *     0                +---------------------------------------------+
 *                      | struct tsor_chan: magic version ring_size id |
 *                      | accepted (tsord)  | shut_wr[0] | shut_wr[1]  |
 *     256              +---------------------------------------------+
 *                      | ring c2s: connector produces, acceptor reads |
 *     256+R(s)         +---------------------------------------------+
 *                      | ring s2c: acceptor produces, connector reads |
 *     256+2R(s)        +---------------------------------------------+
 *     R(s) = RING_REGION_SIZE(s) = 256 + s, s a power of two
 *
 * Side 0 is the connector, side 1 the acceptor. Each side has two bells
 * (pipes), one a direction: TSOR_BELL(side, TSOR_RX) is written when the
 * peer produced into the ring side reads, TSOR_BELL(side, TSOR_TX) when the
 * peer freed room in the ring side writes (ring doorbells, lib/ring.h). One
 * bell a direction because a reader and a writer thread often wait on one
 * connection at once: with a single bell, the waiter that drains it can
 * swallow the wake-up meant for the other, which then sleeps with its ring
 * ready (sockcheck's bulk cases, a reader and a writer thread a side, ran
 * 15x slower that way). Per-connection bells (not per-process) because a
 * connection can be shared by fork: whichever process sleeps on it is the
 * one to wake, and no process-wide bell would know which connections a
 * wake-up was for. It costs four fds per accelerated connection per side
 * (its two bells and the peer's two).
 *
 * Bells are pipes, never shared descriptions. tsord hands both endpoints
 * the read end of all four pipes (its write ends closed at once; each pipe
 * shrunk to one page and chmod 0666, because a re-open checks the pipe
 * inode's owner, tsord, and only holders of the fd can reach it anyway).
 * Each endpoint refuses the channel unless all four are pipe read ends
 * (fstat S_ISFIFO, F_GETFL O_RDONLY), re-opens each through
 * /proc/self/fd/N as O_RDWR|O_NONBLOCK|O_CLOEXEC and closes what it
 * received. Why: an fd passed by SCM_RIGHTS shares its open file
 * description, O_NONBLOCK included; with eventfds a hostile peer cleared
 * the flag, filled the counter, and the next wake-up (tsord's on a match,
 * for every connection on the host) blocked forever. A private
 * description stays non-blocking whatever the peer does; a full pipe is
 * EAGAIN, ignored, since its sleeper has a wake-up pending. O_RDWR keeps
 * us a writer of our own bells (poll never sees POLLHUP from a dead peer)
 * and a reader of the peer's (a wake-up never raises SIGPIPE). tsord
 * re-opens the one bell it rings the same way, per ring. A peer can drain
 * the bells of its own connection (it has their read ends): that costs
 * its own connection a sleep slice, nothing it could not do by not
 * writing.
 *
 * shut_wr[i] is set (release) by side i before its real shutdown(SHUT_WR):
 * a reader that finds its ring empty and the flag set returns EOF without
 * a syscall; a kernel FIN without the flag means the peer closed or died,
 * so writes get EPIPE. Every field is untrusted: a peer can only lie about
 * its own stream (claim EOF), which it could do anyway.
 *
 * Relayed channels (relay = 1 in the header, set by tsord before it hands
 * the channel out): the other endpoint is the node's tsord, relaying to a
 * pod on another node (xport.h, relay.c). Same rings and rules, except
 * that the lib's shutdown(SHUT_WR) sets only its flag and leaves the
 * kernel FIN to close(): relayed bytes take a longer way than the kernel's
 * FIN and must not be overtaken (tsord sends that FIN only after the
 * peer's ring has every byte).
 *
 * Costs: one tsord round trip per listen, two per connect (one when QUERY
 * is cached), one per accept, one on close; none per byte. Memory: 2 rings
 * of TSOR_RING_SIZE (default 2 MiB) per accelerated connection, of which
 * only the pages a stream has reached are ever allocated (a connection
 * that moved 10 KiB each way holds 3 pages a ring, one that streamed
 * gigabytes all 512).
 *
 * Why 2 MiB and not the 256 KiB of earlier versions: a bulk stream is
 * bound by moving cache lines between the two CPUs, and how fast that goes
 * depends on the ring's size against the consumer's private cache. On the
 * 2-vCPU AMD EPYC VMs of docs/tsor.md (1 MiB of L2 a core) 64 KiB writes
 * streamed at 8.0-8.6 GB/s through 256 KiB rings, 11-14 through 1 MiB and
 * 20-34 through 2 MiB, in interleaved 2-second runs (loopback TCP 2.6-3.5):
 * a ring larger than the L2 is written back through the shared L3 instead
 * of being snooped line by line out of the other core. Small messages do
 * not care (they touch a few pages); programs with thousands of busy
 * connections may prefer TSOR_RING_SIZE=256k.
 */
#ifndef TSOR_ABI_H
#define TSOR_ABI_H

#include <stddef.h>
#include <stdint.h>

#include "ring.h"

#define TSOR_MAGIC 0x524f5354u /* "TSOR" in little-endian memory */
/* 2: four pipe bells per channel (1 had two eventfds); 3: the relay flag
 * of channels whose other end is tsord (xport.h), which changes what a
 * kernel FIN means. A tsord of another version refuses our frames and we
 * its, so the two never half-agree. */
#define TSOR_VERSION 3u
#define TSOR_MAX_FDS 5 /* memfd, then the TSOR_BELLS bells */
#define TSOR_BELLS   4 /* two sides x two directions */
#define TSOR_RX	     0 /* direction: data to read arrived */
#define TSOR_TX	     1 /* direction: room to write appeared */
/* Index among the bells (fds 1..4 of an INTENT or ASK reply). */
#define TSOR_BELL(side, dir) ((side)*2 + (dir))
#define TSOR_CHAN_MAGIC	     0x4e414843u /* "CHAN" */
#define TSOR_CHAN_HDR	     256u
#define TSOR_RING_DEFAULT    (2u * 1024 * 1024)
#define TSOR_RING_MIN	     4096u
#define TSOR_RING_MAX	     (64u * 1024 * 1024)
#define TSOR_SIDE_CONNECTOR  0
#define TSOR_SIDE_ACCEPTOR   1

/* Bytes of the channel memfd for rings of `size` data bytes each. */
#define TSOR_CHAN_SIZE(size) ((size_t)TSOR_CHAN_HDR + 2 * RING_REGION_SIZE(size))

enum tsor_msg_type {
	TSOR_MSG_PING = 0, /* -> 0; liveness probe (tsor run, tsor stop) */
	TSOR_MSG_LISTEN,   /* fd: listening socket -> id of the registration */
	TSOR_MSG_UNLISTEN, /* id -> 0; only the registering connection may */
	TSOR_MSG_QUERY,	   /* fd: any socket of the netns, addr: destination -> 0 / -ENOENT */
	TSOR_MSG_INTENT,   /* fd: bound unconnected socket, addr, ring_size -> fds + id */
	TSOR_MSG_CANCEL, /* id, val[0] why -> 0 (removed) / -EALREADY (matched) / -ENOENT (not ours)
			  */
	TSOR_MSG_ASK,	 /* fd: accepted socket -> fds + id / -ENOENT (plain client) */
	TSOR_MSG_CLOSED, /* id, val[0] bytes this side sent -> no reply */
	TSOR_MSG_FALLBACK,  /* a connect that found no listener -> no reply */
	TSOR_MSG_STATS,	    /* id = page k -> val[] = counters 6k..6k+5 below */
	TSOR_MSG_STOP,	    /* -> 0, then tsord exits; -EPERM unless root or tsord's uid */
	TSOR_MSG_TYPE_COUNT /* number of types, not a type */
};

/* CANCEL's val[0]: why the connector gives its intent up (counted so). */
enum tsor_cancel {
	TSOR_CANCEL_FALLBACK = 0, /* it carries on over kernel TCP (no accept in time, ...) */
	TSOR_CANCEL_UNUSED,	  /* closed before its accept was matched: no byte moved */
	TSOR_CANCEL_FAILED,	  /* connect() failed: there is no connection to count */
	TSOR_CANCEL_COUNT	  /* not a reason; larger values count as FALLBACK */
};

/* The order of val[] in a STATS reply; names are what `tsor stats` prints. */
enum tsor_stat {
	TSOR_STAT_ACCEL = 0, /* ASKs matched: connections on shared memory */
	TSOR_STAT_FALLBACK,  /* connections on kernel TCP: plain clients, no listener, cancels */
	TSOR_STAT_BYTES,     /* bytes sent over channels, as reported on close */
	TSOR_STAT_LISTENERS, /* registered listeners now */
	TSOR_STAT_INTENTS,   /* intents now waiting for their ASK */
	TSOR_STAT_CLIENTS,   /* client connections now */
	/* Page 1: the tsord-to-tsord transport (xport.h). */
	TSOR_STAT_REMOTE,   /* streams to other nodes that went live (both ends count) */
	TSOR_STAT_XPORT_TX, /* bytes sent on transport links, frame headers included */
	TSOR_STAT_XPORT_RX, /* bytes received on transport links */
	TSOR_STAT_PEERS_UP, /* peer links up now (HELLO exchanged) */
	TSOR_STAT_STREAMS,  /* relayed streams now */
	TSOR_STAT_UNUSED,   /* connections closed before their accept: no byte moved */
	TSOR_STAT_COUNT
};

#define TSOR_STAT_PAGE 6 /* counters per STATS reply (val[]) */

/*
 * An address as tsord compares them: IPv4-mapped IPv6 is folded to IPv4 so
 * that a v4 client meets a dual-stack listener. port in host order.
 */
struct tsor_addr {
	uint16_t family;  /* AF_INET or AF_INET6; 0 = none */
	uint16_t port;	  /* host byte order */
	uint8_t addr[16]; /* 4 bytes for AF_INET, 16 for AF_INET6 */
};

struct tsor_msg {
	uint32_t magic;	       /* TSOR_MAGIC */
	uint16_t version;      /* TSOR_VERSION */
	uint16_t type;	       /* enum tsor_msg_type */
	int32_t status;	       /* replies: 0 or -errno; requests: 0 */
	uint32_t ring_size;    /* INTENT and its reply: data bytes per ring */
	uint64_t id;	       /* channel, listener or intent id */
	struct tsor_addr addr; /* QUERY/INTENT: destination */
	uint32_t pad;	       /* zero; keeps val[] 8-aligned */
	uint64_t val[6];       /* STATS counters; CLOSED: val[0] bytes sent */
};

_Static_assert(sizeof(struct tsor_addr) == 20, "tsor_addr is ABI");
_Static_assert(sizeof(struct tsor_msg) == 96, "tsor_msg is ABI");
_Static_assert(offsetof(struct tsor_msg, id) == 16, "tsor_msg layout is ABI");
_Static_assert(offsetof(struct tsor_msg, addr) == 24, "tsor_msg layout is ABI");
_Static_assert(offsetof(struct tsor_msg, val) == 48, "tsor_msg layout is ABI");
_Static_assert(TSOR_STAT_COUNT <= 2 * TSOR_STAT_PAGE, "stats fit in two pages of val[]");

/* The channel header at offset 0 of the memfd. */
struct tsor_chan {
	uint32_t magic;		     /* TSOR_CHAN_MAGIC (tsord) */
	uint32_t version;	     /* TSOR_VERSION (tsord) */
	uint32_t ring_size;	     /* data bytes per ring (tsord); checked against fstat */
	uint32_t pad0;		     /* zero */
	uint64_t id;		     /* channel id (tsord) */
	uint32_t relay;		     /* 1: the other end is tsord relaying to another node */
	uint8_t pad1[36];	     /* line 0 is written once, by tsord */
	_Atomic uint32_t accepted;   /* 1 once tsord matched the ASK (release) */
	uint8_t pad2[60];	     /* line 1: tsord's only later store */
	_Atomic uint32_t shut_wr[2]; /* side i shut down writing (release) */
	uint8_t pad3[120];	     /* rounds up to TSOR_CHAN_HDR */
};

_Static_assert(sizeof(struct tsor_chan) == TSOR_CHAN_HDR, "channel header is ABI");
_Static_assert(offsetof(struct tsor_chan, relay) == 24, "channel header layout is ABI");
_Static_assert(offsetof(struct tsor_chan, accepted) == 64, "accepted owns line 1");
_Static_assert(offsetof(struct tsor_chan, shut_wr) == 128, "flags own line 2");
_Static_assert(TSOR_CHAN_HDR % RING_CACHELINE == 0, "rings stay 64-byte aligned");

#endif /* TSOR_ABI_H */
