/* SPDX-License-Identifier: MIT */
/*
 * The tsord-to-tsord transport: how two nodes' tsords carry the accelerated
 * connections between their pods (issue 4, "Several hosts"). One link per
 * pair of nodes, multiplexing every connection between them as a stream.
 *
 * Who is where. A pod is a network namespace with its own IP; each node
 * runs one tsord, which serves the pod CIDR of its node and knows, from
 * its configuration (--peer CIDR=ADDR:PORT), which tsord serves every other
 * CIDR. A connection from pod P1 on node A to pod P2 on node B:
 *
 *   P1 (lib) ==channel== tsord A ==link (TCP or verbs)== tsord B ==channel== P2 (lib)
 *        \____________________ kernel TCP P1 -> P2 (no data) ______________/
 *
 * Each lib still sees an ordinary channel (abi.h); its other endpoint is
 * its own node's tsord instead of the peer process. The kernel connection
 * still exists: identity, accept() readiness, and, because each tsord keeps
 * a dup of its pod's socket, a way to reset both ends at once when the
 * relay fails (connect(AF_UNSPEC) sends an RST from a shared socket).
 *
 * Frames. A fixed 24-byte header, big-endian on the wire (the nodes need
 * not share a byte order), then `len` payload bytes:
 *
 *     0  type   1  flags   2  reserved (0)   4  len
 *     8  stream (u64, the opener's id for it; HELLO: TSOR_XMAGIC)
 *     16 credit (u32; meaning by type)       20 reserved (0)
 *
 *   HELLO     first frame each way; credit = TSOR_XVERSION
 *   OPEN      payload = client addr, server addr (2 x 20 bytes, below);
 *             credit = the opener's ring size = bytes it lets the peer send
 *   ACCEPTED  the acceptor matched OPEN with an accept(); credit = the bytes
 *             the opener may send
 *   DATA      len in [1, TSOR_XDATA_MAX] bytes of the stream, in order
 *   CREDIT    credit > 0 more bytes the receiver of this frame may send
 *   FIN       the sender's side shut down writing after its last DATA
 *   FIN_ACK   the FIN reached the ring (its flag is set): the kernel FIN
 *             may go now without overtaking the relayed bytes
 *   CANCEL    the opener gave up waiting (its lib fell back to kernel TCP):
 *             an OPEN still unmatched is dropped and answered RST; one
 *             already answered is ignored (the answer is on its way)
 *   RST       the stream is dead (refused OPEN, unknown stream, a closed
 *             receiver): the receiver resets its pod's kernel connection
 *
 * flags has one bit, TSOR_XF_OPENER: the sender opened the stream. Streams
 * are named by (opener's id, which side opened), so both nodes open
 * streams over one link without agreeing on ids.
 *
 * Address: family (1 = IPv4, 2 = IPv6), one zero byte, port (u16), 16
 * address bytes (IPv4 in the first 4, the rest zero).
 *
 * Invariants the receiver checks on every frame (the peer is as hostile as
 * any input): known type, flags only TSOR_XF_OPENER, reserved fields zero,
 * the per-type len and credit above, stream id non-zero (HELLO: the magic),
 * addresses of a known family with a non-zero port, client and server of
 * one family. The relay (relay.c) checks the rest against its state: DATA
 * never more than the credit it granted, credit never above what a ring
 * can hold, frames only for streams it knows. A violation drops the link;
 * every stream on it is reset.
 *
 * Flow control: the receiver grants the bytes its ring can take; the sender
 * never exceeds its grant, so DATA always fits into the ring at once and
 * no tsord ever buffers a stream. The receiver reports freed room lazily
 * (a quarter ring at a time, TSoR's window update), so a reader that drains
 * the ring costs a few CREDIT frames per ring, not one per read.
 *
 * Transports implement struct tsor_xport_ops: a byte-stream link (TCP) or
 * RDMA verbs (see docs/tsor.md for what exists of the latter). Both carry
 * these frames; the relay never sees which.
 */
#ifndef TSOR_XPORT_H
#define TSOR_XPORT_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "abi.h"

#define TSOR_XMAGIC	0x54534f524e4f4445ull /* "TSORNODE" */
#define TSOR_XVERSION	1u
#define TSOR_XHDR_SIZE	24u
#define TSOR_XDATA_MAX	(64u * 1024)
#define TSOR_XADDR_SIZE 20u
#define TSOR_XOPEN_SIZE (2 * TSOR_XADDR_SIZE)
#define TSOR_XF_OPENER	0x01u
#define TSOR_XFRAME_MAX (TSOR_XHDR_SIZE + TSOR_XDATA_MAX)

enum tsor_xtype {
	TSOR_X_HELLO = 0,
	TSOR_X_OPEN,
	TSOR_X_ACCEPTED,
	TSOR_X_DATA,
	TSOR_X_CREDIT,
	TSOR_X_FIN,
	TSOR_X_FIN_ACK,
	TSOR_X_CANCEL,
	TSOR_X_RST,
	TSOR_X_TYPE_COUNT /* number of types, not a type */
};

/* A decoded header, host byte order. */
struct tsor_xhdr {
	uint8_t type;	 /* enum tsor_xtype */
	uint8_t flags;	 /* TSOR_XF_OPENER */
	uint32_t len;	 /* payload bytes after the header */
	uint64_t stream; /* the opener's stream id; HELLO: TSOR_XMAGIC */
	uint32_t credit; /* by type, see above */
};

/* The wire header, for the layout asserts; always accessed through the codec. */
struct tsor_xwire {
	uint8_t type;	 /* enum tsor_xtype */
	uint8_t flags;	 /* TSOR_XF_OPENER */
	uint16_t rsvd;	 /* zero */
	uint32_t len;	 /* big-endian */
	uint64_t stream; /* big-endian */
	uint32_t credit; /* big-endian */
	uint32_t rsvd2;	 /* zero */
};

_Static_assert(sizeof(struct tsor_xwire) == TSOR_XHDR_SIZE, "transport header is ABI");
_Static_assert(offsetof(struct tsor_xwire, len) == 4, "transport header layout is ABI");
_Static_assert(offsetof(struct tsor_xwire, stream) == 8, "transport header layout is ABI");
_Static_assert(offsetof(struct tsor_xwire, credit) == 16, "transport header layout is ABI");

/* Writes h into out[TSOR_XHDR_SIZE]. */
void tsor_xhdr_encode(const struct tsor_xhdr *h, uint8_t *out);

/*
 * A link's outgoing frames, encoded, until the transport takes them:
 * buf[off..len) is unsent. Both transports queue the same way; only how
 * the bytes leave differs (send(), RDMA writes).
 */
struct tsor_xqueue {
	uint8_t *buf;
	size_t off; /* sent */
	size_t len; /* queued */
	size_t cap; /* allocated */
};

static inline size_t tsor_xqueue_len(const struct tsor_xqueue *q)
{
	return q->len - q->off;
}

/* Appends h and its h->len payload bytes. 0, -ENOBUFS past
 * TSOR_XQUEUE_MAX unsent bytes (the caller's flow control failed), -ENOMEM. */
int tsor_xqueue_put(struct tsor_xqueue *q, const struct tsor_xhdr *h, const void *payload);

/*
 * Decodes and validates in[TSOR_XHDR_SIZE] (everything the header alone
 * can tell; OPEN's payload is checked by tsor_xopen_decode()). 0 or
 * -EPROTO.
 */
int tsor_xhdr_decode(const uint8_t *in, struct tsor_xhdr *h);

/* OPEN's payload: out[TSOR_XOPEN_SIZE]. Both addresses of one family. */
void tsor_xopen_encode(const struct tsor_addr *client, const struct tsor_addr *server,
		       uint8_t *out);

/* Decodes and validates OPEN's payload (see above). 0 or -EPROTO. */
int tsor_xopen_decode(const uint8_t *in, struct tsor_addr *client, struct tsor_addr *server);

/* ============================ links ============================ */

struct tsor_xlink;

/* Called for each valid frame a link received; non-zero stops and drops the link. */
typedef int tsor_xframe_fn(void *arg, const struct tsor_xhdr *h, const uint8_t *payload);

/*
 * A transport. Every call is non-blocking; a link's state changes only in
 * io(), which the caller makes when poll() reported the fd that fd()
 * names for the events that events() asks.
 */
struct tsor_xport_ops {
	const char *name; /* "tcp", "verbs" */
	/* A listening endpoint at `at` (address and port): *fd is what to
	 * poll for incoming links. 0 or -errno. */
	int (*listen)(const struct tsor_addr *at, int *fd);
	/* A link from the listener fd (POLLIN). *peer is the remote address
	 * (port included). 0, -EAGAIN or -errno. */
	int (*accept)(int fd, struct tsor_xlink **out, struct tsor_addr *peer);
	/* Starts a link to `to`; it may still be connecting. 0 or -errno. */
	int (*connect)(const struct tsor_addr *to, struct tsor_xlink **out);
	/* The fd to poll, and the events wanted now (POLLIN, plus POLLOUT
	 * while connecting or holding unsent frames). */
	int (*fd)(const struct tsor_xlink *l);
	short (*events)(const struct tsor_xlink *l);
	/* Queues one frame (header and len payload bytes, payload may be NULL
	 * when len is 0). Frames leave in order. -ENOBUFS when the queue holds
	 * more than TSOR_XQUEUE_MAX (the link is then useless: drop it). */
	int (*send)(struct tsor_xlink *l, const struct tsor_xhdr *h, const void *payload);
	/* Sends what it can, then receives and hands each whole valid frame
	 * to fn. 0, or -errno: the link is dead (EOF is -ECONNRESET, an
	 * invalid frame -EPROTO, fn's refusal its value). */
	int (*io)(struct tsor_xlink *l, short revents, tsor_xframe_fn *fn, void *arg);
	/* Bytes queued and not yet handed to the network: the relay stops
	 * pulling from rings above TSOR_XQUEUE_HIGH. */
	size_t (*queued)(const struct tsor_xlink *l);
	/* Counters: bytes sent and received on the link, headers included. */
	uint64_t (*tx_bytes)(const struct tsor_xlink *l);
	uint64_t (*rx_bytes)(const struct tsor_xlink *l);
	void (*close)(struct tsor_xlink *l);
};

#define TSOR_XQUEUE_HIGH (1u << 20)  /* stop reading rings: the network is slower */
#define TSOR_XQUEUE_MAX	 (16u << 20) /* control frames on top of that: a dead link */

/*
 * The TCP sockets under both transports (xport_tcp.c; the verbs one
 * exchanges its queue pairs' addresses over one): a non-blocking,
 * close-on-exec listener
 * (SO_REUSEADDR), an accepted socket with its peer's address, a
 * non-blocking connect (EINPROGRESS is success). 0 or -errno.
 */
int tsor_xsock_listen(const struct tsor_addr *at, int *fd);
int tsor_xsock_accept(int fd, int *s, struct tsor_addr *peer);
int tsor_xsock_connect(const struct tsor_addr *to, int *s);

/* The TCP transport (xport_tcp.c). */
extern const struct tsor_xport_ops tsor_xport_tcp;

/*
 * The verbs transport (xport_verbs.c, built only when CMake finds
 * libibverbs; TSOR_HAVE_VERBS is then defined for tsord). It carries the
 * same frames as one byte stream per link, written with
 * RDMA_WRITE_WITH_IMM into a ring the receiver registered for that peer:
 *
 *   sender: out queue -> staging MR (a mirror of the peer's ring, same
 *           offsets) -> WRITE_WITH_IMM(offset, len) -> peer's ring MR
 *   imm:    bit 31 clear: DATA, len bytes were written at the sender's
 *           tail (never across the ring's end: a wrap is two writes);
 *           bit 31 set:   CREDIT, the receiver consumed len more bytes
 *           (a zero-length write)
 *
 * The receiver learns of data only from the immediate (its recv
 * completion), copies the bytes out into a private frame assembler before
 * parsing (the peer may rewrite its writes; tsor_xhdr_decode() then
 * validates as for TCP) and reports consumption a quarter ring at a time.
 * The bookkeeping is pure arithmetic on free-running u32 counters (the
 * lib/ring scheme), below, unit tested without a device; every immediate
 * a peer sends is validated against it (a DATA longer than the free room
 * or crossing the end, a CREDIT for more than is outstanding: -EPROTO).
 * Set-up: a TCP connection to the node address exchanges QP number, GID,
 * ring address, rkey and size, then stays open: its EOF is the peer's
 * death, as for the TCP transport.
 */
#define TSOR_VIMM_CREDIT 0x80000000u
#define TSOR_VIMM_LEN	 0x7fffffffu

/* A part of a ring: offset and length, never across the end. */
struct tsor_vseg {
	uint32_t off; /* byte offset in the ring */
	uint32_t len; /* bytes */
};

/* The sender's view of the peer's ring. */
struct tsor_vring_tx {
	uint32_t size;	/* ring bytes, a power of two */
	uint32_t tail;	/* bytes ever written */
	uint32_t acked; /* bytes the peer reported consumed (CREDIT) */
	uint32_t done;	/* bytes whose writes completed locally (staging reusable) */
};

/* The receiver's view of its own ring. */
struct tsor_vring_rx {
	uint32_t size;	   /* ring bytes, a power of two */
	uint32_t tail;	   /* bytes ever arrived (DATA immediates) */
	uint32_t head;	   /* bytes ever consumed (copied out) */
	uint32_t reported; /* head as last sent in a CREDIT */
};

/* Bytes the sender may write now: ring room by the peer's credit and by
 * its own completed writes, whichever is further behind. */
uint32_t tsor_vring_room(const struct tsor_vring_tx *t);

/*
 * Plans writing len bytes (len <= room) at the tail: fills seg[] with one
 * or two segments (two when the ring's end splits it), advances the tail
 * and returns how many segments; -EINVAL when len is 0 or above the room.
 */
int tsor_vring_plan(struct tsor_vring_tx *t, uint32_t len, struct tsor_vseg seg[2]);

/* A CREDIT of n from the peer: -EPROTO unless 0 < n <= written - acked. */
int tsor_vring_credit(struct tsor_vring_tx *t, uint32_t n);

/* n bytes of our writes completed: -EPROTO unless n <= tail - done. */
int tsor_vring_done(struct tsor_vring_tx *t, uint32_t n);

/*
 * A DATA immediate of n bytes arrived: -EPROTO unless 0 < n <= free room
 * and the bytes do not cross the ring's end; else *seg names them and the
 * tail advances.
 */
int tsor_vring_arrive(struct tsor_vring_rx *r, uint32_t n, struct tsor_vseg *seg);

/* The arrived, unconsumed bytes (up to two segments); returns how many. */
int tsor_vring_pending(const struct tsor_vring_rx *r, struct tsor_vseg seg[2]);

/* Consumes n arrived bytes (n <= tail - head, else -EINVAL). */
int tsor_vring_consume(struct tsor_vring_rx *r, uint32_t n);

/* The CREDIT to send now (0: none due; a quarter ring at a time, or all
 * of it when the ring is drained), marked as reported. */
uint32_t tsor_vring_credit_due(struct tsor_vring_rx *r);

/* Immediates: encode, and decode with the ring size's bound (-EPROTO). */
uint32_t tsor_vimm(bool credit, uint32_t n);
int tsor_vimm_decode(uint32_t imm, uint32_t size, bool *credit, uint32_t *n);

#ifdef TSOR_HAVE_VERBS
extern const struct tsor_xport_ops tsor_xport_verbs;
#endif

#endif /* TSOR_XPORT_H */
