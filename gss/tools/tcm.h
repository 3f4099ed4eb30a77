/* SPDX-License-Identifier: MIT */
/*
 * tcm: TCM (Tang, Chen and Mitra, "Graph Stream Summarization: From Big Bang
 * to Big Crunch", SIGMOD 2016), the baseline GSS is measured against: depth
 * independent hash functions each fold the node set onto `width` buckets, and
 * each matrix counts the stream's weight between bucket pairs.
 *
 * Nodes are 64-bit hashes of their IDs (the caller hashes, e.g. with
 * hash_bytes()). Counters are int64_t and wrap on overflow rather than trap,
 * so turnstile deletes cancel inserts exactly.
 *
 * Estimates are minima over the matrices. On insert-only streams with
 * positive weights they never under-estimate, and the boolean queries
 * (is_succ, the filters, reachable) have no false negatives. With negative
 * weights a cell may cancel to 0 or below the true weight of an edge in it,
 * and those guarantees are lost.
 *
 * Not thread-safe for writers; queries on a const sketch keep no shared
 * scratch and may run concurrently while nobody updates.
 */
#ifndef GSS_TOOLS_TCM_H
#define GSS_TOOLS_TCM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tcm;

/*
 * depth matrices of width x width int64 counters; seed makes the hash
 * functions. 0, -EINVAL (a zero argument) or -ENOMEM.
 */
int tcm_create(uint32_t width, unsigned depth, uint64_t seed, struct tcm **out);
/* The largest w with depth * w * w * 8 <= bytes, at least 1 (depth 0 counts as 1). */
uint32_t tcm_width_for_memory(size_t bytes, unsigned depth);
void tcm_destroy(struct tcm *t);
uint32_t tcm_width(const struct tcm *t);
unsigned tcm_depth(const struct tcm *t);

void tcm_update(struct tcm *t, uint64_t s, uint64_t d, int64_t w);
/* Edge weight estimate: the minimum over the matrices. */
int64_t tcm_edge(const struct tcm *t, uint64_t s, uint64_t d);
/* Out (in) weight estimate: the minimum over the matrices of v's row (column) sum; O(depth). */
int64_t tcm_out(const struct tcm *t, uint64_t v);
int64_t tcm_in(const struct tcm *t, uint64_t v);

/* Is u reported as a successor of v: cell (h_i(v), h_i(u)) != 0 in every matrix. */
bool tcm_is_succ(const struct tcm *t, uint64_t v, uint64_t u);
/*
 * The members u of cand[0..n) with tcm_is_succ(t, v, u) (for pred: with
 * tcm_is_succ(t, u, v)), written to out in their original order; returns how
 * many. out needs room for n and may be cand itself. One pass over v's row
 * (column) in the first matrix, then O(depth) per candidate.
 */
size_t tcm_succ_filter(const struct tcm *t, uint64_t v, const uint64_t *cand, size_t n,
		       uint64_t *out);
size_t tcm_pred_filter(const struct tcm *t, uint64_t v, const uint64_t *cand, size_t n,
		       uint64_t *out);

/*
 * Reachability as TCM defines it: a BFS over nonzero cells in each matrix's
 * width-node graph; unreachable if unreachable in any matrix, so there are no
 * false negatives on insert-only streams. 0 or -ENOMEM.
 */
int tcm_reachable(const struct tcm *t, uint64_t s, uint64_t d, bool *out);

/* Bytes allocated: the counters plus the per-matrix row and column sums. */
size_t tcm_memory(const struct tcm *t);

#endif /* GSS_TOOLS_TCM_H */
