/* SPDX-License-Identifier: MIT */
/*
 * Backend selection for one pool: weighted round robin, least connections
 * and Maglev consistent hashing.
 *
 * Each worker owns its own struct bal (no sharing, no locks); the control
 * plane applies the same set_usable() calls to every worker's copy. Because
 * Maglev's table is a pure function of the backend names, weights and the
 * usable set, all workers (and all restarts) map a key to the same backend.
 *
 *   roundrobin  smooth weighted round robin (each backend's share equals
 *               weight / total, interleaved, not in bursts)
 *   leastconn   fewest in-flight requests per unit of weight, as counted by
 *               this worker's conn_start()/conn_end(); ties go round robin
 *   maglev      Eisenbud et al., NSDI'16: a lookup table of BAL_MAGLEV_SIZE
 *               (prime) entries filled from per-backend permutations, with
 *               weights as fill turns. When a backend becomes unusable only
 *               the keys it owned move (plus at most a few percent of churn).
 */
#ifndef LACONIC_BALANCE_H
#define LACONIC_BALANCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BAL_MAGLEV_SIZE	 65537u
#define BAL_MAX_BACKENDS 4096u
#define BAL_MAX_WEIGHT	 256u

enum bal_algo {
	BAL_ROUNDROBIN = 0,
	BAL_LEASTCONN,
	BAL_MAGLEV,
};

struct bal_backend {
	const char *name; /* stable identity (e.g. "10.0.0.1:80"); seeds Maglev */
	uint32_t weight;  /* 1..BAL_MAX_WEIGHT; 0 means "never picked" (drain) */
};

struct bal;

/*
 * Copies what it needs from b[0..n) (names included). All backends start
 * usable. 0, -EINVAL (n == 0 or > BAL_MAX_BACKENDS, weight out of range,
 * unknown algo) or -ENOMEM.
 */
int bal_create(enum bal_algo algo, const struct bal_backend *b, size_t n, struct bal **out);
void bal_free(struct bal *bal);

/*
 * Health and drain: an unusable backend is never picked. For maglev the table
 * is rebuilt (about 1 ms at 65537 entries). 0 or -EINVAL (bad index).
 */
int bal_set_usable(struct bal *bal, size_t i, bool usable);
bool bal_usable(const struct bal *bal, size_t i);

/* Changes a weight (0 drains); rebuilds as bal_set_usable() does. */
int bal_set_weight(struct bal *bal, size_t i, uint32_t weight);

/*
 * The chosen backend index, or -EHOSTUNREACH when none is usable. key is only
 * read by maglev (a 64-bit hash of the client address, a header or a cookie).
 */
int bal_pick(struct bal *bal, uint64_t key);

/* In-flight accounting for leastconn (harmless for the other algorithms). */
void bal_conn_start(struct bal *bal, size_t i);
void bal_conn_end(struct bal *bal, size_t i);

const char *bal_algo_name(enum bal_algo algo);
/* 0 and *out set, or -EINVAL for an unknown name. */
int bal_algo_parse(const char *name, enum bal_algo *out);

#endif /* LACONIC_BALANCE_H */
