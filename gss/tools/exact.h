/* SPDX-License-Identifier: MIT */
/*
 * exact: the ground truth for GSS evaluation. A dynamic, directed, weighted
 * graph keyed by byte-string node IDs, in the turnstile model: weights may be
 * negative, an edge is created by its first nonzero update (whatever its sign)
 * and removed when its summed weight returns to 0.
 *
 * Nodes are interned once to small dense integers (0, 1, 2, ...) that never
 * change and are never reused; every other call takes those integers. A node
 * stays interned when its last edge goes away.
 *
 * Errors are negative errno values: -EINVAL for a node number that was never
 * handed out, -ERANGE when a weight (or a queried weight sum) would leave
 * int64_t, -ENOMEM, and -EOVERFLOW past 2^32 - 2 nodes or edges. A failed call
 * leaves the store exactly as it was.
 *
 * Not thread-safe for writers. Queries take a const store and keep no shared
 * scratch, so any number of threads may query while nobody updates. Callbacks
 * must not modify the store they are iterating.
 */
#ifndef GSS_TOOLS_EXACT_H
#define GSS_TOOLS_EXACT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct exact;

int exact_create(struct exact **out);
void exact_destroy(struct exact *x);
/* Pre-sizes for `nodes` nodes and `edges` edges so that loading does not regrow. */
int exact_reserve(struct exact *x, size_t nodes, size_t edges);

/* Interns a node ID (any bytes, len may be 0); the number is stable and dense. */
int exact_node(struct exact *x, const void *id, size_t len, uint32_t *out);
/* The number of an interned ID, or -ENOENT. */
int exact_find_node(const struct exact *x, const void *id, size_t len, uint32_t *out);
/*
 * The ID of node n (NUL-terminated after its len bytes, which may hold NULs),
 * or NULL if n was never handed out. The pointer stays valid until destroy.
 */
const char *exact_node_id(const struct exact *x, uint32_t n, size_t *len);
size_t exact_node_count(const struct exact *x);

/* Adds w to edge (s, d). w == 0 is a no-op. 0, -EINVAL, -ERANGE, -ENOMEM, -EOVERFLOW. */
int exact_update(struct exact *x, uint32_t s, uint32_t d, int64_t w);
/* The weight of (s, d); 0 if absent or if either node is unknown. */
int64_t exact_edge(const struct exact *x, uint32_t s, uint32_t d);
/* Edges with nonzero weight. */
size_t exact_edge_count(const struct exact *x);

/*
 * Visitors over live edges, in no particular order. A callback returns
 * nonzero to stop early; that value is returned. Otherwise 0, or -EINVAL for
 * an unknown node.
 */
typedef int exact_nbr_fn(uint32_t nbr, int64_t w, void *arg);
int exact_for_each_succ(const struct exact *x, uint32_t v, exact_nbr_fn *fn, void *arg);
int exact_for_each_pred(const struct exact *x, uint32_t v, exact_nbr_fn *fn, void *arg);
typedef int exact_edge_fn(uint32_t s, uint32_t d, int64_t w, void *arg);
int exact_for_each_edge(const struct exact *x, exact_edge_fn *fn, void *arg);

/*
 * Summed weight and count of v's out (in) edges; either pointer may be NULL.
 * The degree is O(1); the weight is O(degree) and -ERANGE if the sum
 * overflows, in which case neither output is written.
 */
int exact_out(const struct exact *x, uint32_t v, int64_t *weight, uint64_t *degree);
int exact_in(const struct exact *x, uint32_t v, int64_t *weight, uint64_t *degree);

/* Is there a directed path from s to d over live edges? s == d is reachable. */
int exact_reachable(const struct exact *x, uint32_t s, uint32_t d, bool *out);

/* Bytes allocated by the store (requested sizes; allocator overhead not counted). */
size_t exact_memory(const struct exact *x);

#endif /* GSS_TOOLS_EXACT_H */
