/* SPDX-License-Identifier: MIT */
/*
 * tsord's multi-node half (relay.c): peer links over a transport
 * (xport.h), streams relayed between a local channel and a link, and the
 * OPENs of other nodes waiting for a local accept(). The broker (daemon.c)
 * calls in at the points of its protocol where a connection leaves or
 * enters the node; this header is that seam and nothing else.
 */
#ifndef TSOR_RELAY_H
#define TSOR_RELAY_H

#include <poll.h>
#include <stdbool.h>
#include <stdint.h>

#include "abi.h"
#include "xport.h"

#define TSOR_RELAY_MAX_PEERS   64
#define TSOR_RELAY_MAX_STREAMS 16384

/* One --peer CIDR=ADDR:PORT: the tsord at node serves the pods of cidr. */
struct tsor_relay_peer_cfg {
	struct tsor_addr net;  /* the CIDR's address (port 0) */
	unsigned prefix;       /* its prefix length */
	struct tsor_addr node; /* the peer tsord's transport listener */
};

/* What the relay needs of the broker, as callbacks (arg is theirs). */
struct tsor_relay_cbs {
	void *arg;
	/* True when some registered listener takes connections to server
	 * (any namespace: the accept's ASK checks the namespace). */
	bool (*has_listener)(void *arg, const struct tsor_addr *server);
	/* A deferred CANCEL reply (status 0 or -EALREADY) to client `client`. */
	void (*reply)(void *arg, uint64_t client, uint64_t id, int status, uint64_t why);
	/* Closes a socket dup the way the broker closes client sockets
	 * (lingering ones off-thread). */
	void (*release)(void *arg, int fd);
	/* A fresh id from the broker's id space (channels, listeners). */
	uint64_t (*next_id)(void *arg);
};

struct tsor_relay;

/*
 * "ADDR:PORT" / "[ADDR6]:PORT" -> a; "CIDR=ADDR:PORT" -> p. 0 or -EINVAL.
 */
int tsor_relay_parse_addr(const char *s, struct tsor_addr *a);
int tsor_relay_parse_peer(const char *s, struct tsor_relay_peer_cfg *p);

/* True when a (port ignored) lies in net/prefix. */
bool tsor_relay_cidr_has(const struct tsor_addr *net, unsigned prefix, const struct tsor_addr *a);

/*
 * A relay over transport ops, listening at listen_at (family 0: none, then
 * this node only dials), with npeers peers. *out NULL and 0 when npeers is
 * 0 and there is no listener (a single-node tsord). 0 or -errno.
 */
int tsor_relay_new(const struct tsor_xport_ops *ops, const struct tsor_addr *listen_at,
		   const struct tsor_relay_peer_cfg *peers, size_t npeers,
		   const struct tsor_relay_cbs *cbs, struct tsor_relay **out);
void tsor_relay_free(struct tsor_relay *r);

/* True when dst lies in a peer's CIDR and that peer's link is up. */
bool tsor_relay_routes(const struct tsor_relay *r, const struct tsor_addr *dst);

/*
 * INTENT towards another node: sock (a dup is kept, for resets), the
 * connector's source address as the server will see it, dst, ring size.
 * Creates the channel, keeps tsord's end, sends OPEN; fds[] receives the
 * lib's channel (memfd and bells, owned by the caller, to send then close)
 * and *id its id. owner: the client id. 0 or -errno (-ENOENT: no route).
 */
int tsor_relay_open(struct tsor_relay *r, uint64_t owner, int sock, const struct tsor_addr *src,
		    const struct tsor_addr *dst, uint32_t ring_size, int fds[TSOR_MAX_FDS],
		    uint64_t *id);

/*
 * ASK of an accepted socket whose peer is `peer` and local address `local`
 * (in a namespace where a listener takes it, the broker checked): matches
 * an OPEN of another node, creates the channel, sends ACCEPTED. fds[] and
 * *id as tsor_relay_open(), *ring_size the rings' size. 0 or -ENOENT.
 */
int tsor_relay_ask(struct tsor_relay *r, uint64_t owner, int sock, const struct tsor_addr *peer,
		   const struct tsor_addr *local, int fds[TSOR_MAX_FDS], uint64_t *id,
		   uint32_t *ring_size);

/*
 * CANCEL of stream id by client owner: -ENOENT (not a relayed stream of
 * the owner's: the broker goes on), -EALREADY (live), 0 (refused, gone),
 * or 1: the answer depends on the peer; it comes through cbs->reply.
 */
int tsor_relay_cancel(struct tsor_relay *r, uint64_t owner, uint64_t id, uint64_t why);

/* CLOSED of stream id by its owner: relay what is left, then FIN. */
void tsor_relay_closed(struct tsor_relay *r, uint64_t owner, uint64_t id);

/* The client owner went away: as CLOSED for each of its streams. */
void tsor_relay_client_gone(struct tsor_relay *r, uint64_t owner);

/*
 * The poll loop: tsor_relay_pollfds() fills up to max entries (the node
 * listener, the links, two bells per stream) and returns how many;
 * tsor_relay_service() takes the same entries back with revents, does all
 * I/O and returns the poll timeout the relay needs next (0: more work
 * ready, else ms until a dial is due, -1: none).
 */
size_t tsor_relay_pollfds(struct tsor_relay *r, struct pollfd *p, size_t max);
int tsor_relay_service(struct tsor_relay *r, const struct pollfd *p, size_t n);

/*
 * Receives what the links hold right now (poll with timeout 0): an ASK
 * that found no OPEN looks again after this, because the OPEN may be in a
 * link's socket, sent before the client's SYN and not read yet.
 */
void tsor_relay_sync(struct tsor_relay *r);

/* The maximum tsor_relay_pollfds() may return. */
size_t tsor_relay_pollmax(const struct tsor_relay *r);

/* Page-1 counters (TSOR_STAT_REMOTE...) into stats[]. */
void tsor_relay_stats(const struct tsor_relay *r, uint64_t *stats);

#endif /* TSOR_RELAY_H */
