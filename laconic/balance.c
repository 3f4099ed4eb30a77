/* SPDX-License-Identifier: MIT */
/*
 * Backend selection for one pool, one worker.
 *
 * A struct bal belongs to a single worker thread: no field is shared, so
 * nothing here takes a lock or issues an atomic. The control plane makes
 * the same bal_set_usable() / bal_set_weight() calls on every worker's copy;
 * the algorithms below are chosen so that identical calls give identical
 * behaviour wherever that matters (Maglev), and so that per-worker state
 * that may diverge (round-robin position, in-flight counts) only affects
 * fairness on that worker, never correctness.
 *
 * A backend is "live" when it is usable (health) and its weight is not 0
 * (drain). Only live backends are ever returned; with none live every
 * algorithm answers -EHOSTUNREACH.
 *
 * 1. Smooth weighted round robin (nginx, ngx_http_upstream_round_robin.c;
 *    the algorithm, not the code). Each backend i keeps a score c_i. A pick
 *    adds w_i to every live c_i, takes the backend with the largest c
 *    (the first one on ties, so the order is deterministic) and subtracts
 *    W = sum of live w_i from the winner.
 *
 *      weights 5,1,1:   picks  a a b a c a a | a a b a c a a | ...
 *
 *    Invariants: sum(c_i) over live backends is 0 after every pick (W is
 *    added and W taken away), so the scores stay bounded (within n * W)
 *    and a 64-bit score never overflows; over a cycle of W picks backend i
 *    is chosen exactly w_i times, and a heavy backend's picks are spread
 *    over the cycle instead of coming in a burst (a a b a c a a, not
 *    a a a a a b c). Any change of the live set or of a weight resets every
 *    score to 0, which restores the sum invariant at once (nginx lets stale
 *    scores drift back; a reset is simpler and costs at most one uneven
 *    cycle). Cost: O(n) per pick, one pass, no division.
 *
 * 2. Least connections. The live backend with the fewest requests in flight
 *    per unit of weight, in_i / w_i, compared without division by
 *    cross-multiplication (in_a * w_b < in_b * w_a; 32-bit counts times
 *    weights <= 256 cannot overflow 64 bits). The scan starts one past the
 *    previous winner and only a strictly better candidate replaces the
 *    current one, so equal backends take turns instead of the first one in
 *    the array absorbing every tie (which matters at start-up and under low
 *    load, when every count is 0). Counts come from this worker's
 *    bal_conn_start() / bal_conn_end() only: a worker balances its own load,
 *    the kernel's SO_REUSEPORT spreads clients over workers. Cost: O(n) per
 *    pick.
 *
 * 3. Maglev consistent hashing (Eisenbud et al., "Maglev: A Fast and
 *    Reliable Software Network Load Balancer", NSDI 2016, §3.4). Each
 *    backend gets a permutation of the M = BAL_MAGLEV_SIZE table slots,
 *
 *      offset = h1(name) mod M,  skip = h2(name) mod (M - 1) + 1,
 *      perm[j] = (offset + j * skip) mod M,
 *
 *    where h1 and h2 are XXH3 with two different seeds (independent hashes
 *    of the same string). M is prime, so every skip is coprime with M and
 *    each permutation visits all M slots. The table is filled in rounds:
 *    in each round every live backend, in name order, takes `weight` turns,
 *    and a turn claims the backend's next preferred slot that is still free.
 *    A lookup is table[key mapped onto [0, M)]: one multiply, one load.
 *
 *        slot:    0  1  2  3  4  5  6  ...  65536
 *        owner:   b  a  c  a  b  b  a  ...  c
 *
 *    Properties. Balance: after k full rounds and a last partial one,
 *    backend i owns between k * w_i and (k + 1) * w_i slots, i.e. w_i / W
 *    of the table to within w_i slots. Stability: when a backend leaves,
 *    its slots are claimed by the others' next preferences while the others
 *    keep almost every slot they had, because each one still walks the same
 *    permutation. Maglev trades minimal disruption for balance, so a few
 *    other keys move too: removing one of 5 backends moves its 20 % of the
 *    keys plus 0.06-0.27 % of all keys, one of 64 moves 0.5 % besides its
 *    own (test_balance.c). Determinism: the table is a pure function of the
 *    names, weights and live set. The fill order is by name, not by array
 *    position, so two pools listing the same backends in a different order
 *    agree too, as do all workers and every restart; re-adding a backend
 *    restores the previous table exactly.
 *
 *    Costs: 2 bytes per slot (128 KiB per Maglev pool per worker; indices
 *    fit uint16_t as BAL_MAX_BACKENDS <= 65535). A rebuild probes about
 *    M ln M slots in total (the last free slots are the hard ones to hit),
 *    1-2 ms whatever the number of backends, and only happens on health or
 *    weight changes.
 *    The per-backend permutation cursor used by the fill lives in the node,
 *    allocated up front, so a rebuild never allocates and never fails.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "balance.h"
#include "hash.h"

/* Any two distinct constants make h1 and h2 independent XXH3 functions. */
#define MAGLEV_SEED_OFFSET 0x6c61636f6e696331ULL
#define MAGLEV_SEED_SKIP   0x9b3a1f5e2d774c02ULL
/* A table entry that no backend has claimed yet; never a backend index. */
#define MAGLEV_EMPTY 0xffffu

struct bal_node {
	const char *name;  /* points into bal->names; seeds the Maglev permutation */
	uint32_t weight;   /* 0..BAL_MAX_WEIGHT; 0 is drained */
	bool usable;	   /* health: false keeps it out of every pick */
	int64_t current;   /* smooth round robin score; live scores sum to 0 */
	uint32_t inflight; /* leastconn: requests in progress on this worker */
	uint32_t offset;   /* Maglev: first slot of the permutation */
	uint32_t skip;	   /* Maglev: permutation stride, 1..M-1 */
	uint32_t pos;	   /* Maglev fill scratch: the next slot this node will try */
};

struct bal {
	enum bal_algo algo;    /* fixed at creation */
	size_t n;	       /* number of backends, 1..BAL_MAX_BACKENDS */
	size_t live;	       /* backends that are usable with a weight > 0 */
	size_t cursor;	       /* leastconn: where the next scan starts (tie rotation) */
	struct bal_node *node; /* n entries, in the caller's order */
	uint16_t *order;       /* Maglev: node indices sorted by name (fill order) */
	uint16_t *table;       /* Maglev: BAL_MAGLEV_SIZE owners; valid when live > 0 */
	char *names;	       /* one block holding every name, NUL-separated */
};

static bool algo_valid(enum bal_algo algo)
{
	return algo == BAL_ROUNDROBIN || algo == BAL_LEASTCONN || algo == BAL_MAGLEV;
}

static bool node_live(const struct bal_node *nd)
{
	return nd->usable && nd->weight;
}

static void count_live(struct bal *bal)
{
	bal->live = 0;
	for (size_t i = 0; i < bal->n; i++)
		bal->live += node_live(&bal->node[i]);
}

static void maglev_build(struct bal *bal)
{
	const uint32_t m = BAL_MAGLEV_SIZE;
	uint32_t filled = 0;

	if (!bal->live)
		return;
	memset(bal->table, 0xff, m * sizeof(*bal->table));
	for (size_t i = 0; i < bal->n; i++)
		bal->node[i].pos = bal->node[i].offset;
	/*
	 * Every permutation covers all M slots, so a live node always finds a
	 * free one while filled < M: the loops terminate.
	 */
	for (;;) {
		for (size_t k = 0; k < bal->n; k++) {
			uint16_t idx = bal->order[k];
			struct bal_node *nd = &bal->node[idx];

			if (!node_live(nd))
				continue;
			for (uint32_t t = 0; t < nd->weight; t++) {
				while (bal->table[nd->pos] != MAGLEV_EMPTY) {
					nd->pos += nd->skip;
					if (nd->pos >= m)
						nd->pos -= m;
				}
				bal->table[nd->pos] = idx;
				if (++filled == m)
					return;
			}
		}
	}
}

/* Called after any change of the live set or of a weight. */
static void bal_changed(struct bal *bal)
{
	count_live(bal);
	switch (bal->algo) {
	case BAL_ROUNDROBIN:
		for (size_t i = 0; i < bal->n; i++)
			bal->node[i].current = 0;
		break;
	case BAL_LEASTCONN:
		break;
	case BAL_MAGLEV:
		maglev_build(bal);
		break;
	}
}

struct name_ref {
	const char *name;
	uint16_t idx;
};

static int name_ref_cmp(const void *a, const void *b)
{
	const struct name_ref *x = a, *y = b;
	int r = strcmp(x->name, y->name);

	/* Equal names (a caller's mistake) still get a total, stable order. */
	if (r)
		return r;
	return (x->idx > y->idx) - (x->idx < y->idx);
}

static int maglev_init(struct bal *bal)
{
	struct name_ref *refs;

	bal->table = malloc(BAL_MAGLEV_SIZE * sizeof(*bal->table));
	bal->order = malloc(bal->n * sizeof(*bal->order));
	refs = malloc(bal->n * sizeof(*refs));
	if (!bal->table || !bal->order || !refs) {
		free(refs);
		return -ENOMEM;
	}
	for (size_t i = 0; i < bal->n; i++) {
		struct bal_node *nd = &bal->node[i];
		size_t len = strlen(nd->name);

		nd->offset =
			(uint32_t)(hash_bytes(nd->name, len, MAGLEV_SEED_OFFSET) % BAL_MAGLEV_SIZE);
		nd->skip = (uint32_t)(hash_bytes(nd->name, len, MAGLEV_SEED_SKIP) %
				      (BAL_MAGLEV_SIZE - 1)) +
			   1;
		refs[i].name = nd->name;
		refs[i].idx = (uint16_t)i;
	}
	qsort(refs, bal->n, sizeof(*refs), name_ref_cmp);
	for (size_t i = 0; i < bal->n; i++)
		bal->order[i] = refs[i].idx;
	free(refs);
	return 0;
}

int bal_create(enum bal_algo algo, const struct bal_backend *b, size_t n, struct bal **out)
{
	struct bal *bal;
	size_t names_len = 0;
	char *p;
	int ret = -EINVAL;

	if (!out)
		return -EINVAL;
	*out = NULL;
	if (!b || n == 0 || n > BAL_MAX_BACKENDS || !algo_valid(algo))
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (!b[i].name || b[i].weight > BAL_MAX_WEIGHT)
			return -EINVAL;
		names_len += strlen(b[i].name) + 1;
	}
	bal = calloc(1, sizeof(*bal));
	if (!bal)
		return -ENOMEM;
	bal->algo = algo;
	bal->n = n;
	bal->node = calloc(n, sizeof(*bal->node));
	bal->names = malloc(names_len);
	if (!bal->node || !bal->names) {
		ret = -ENOMEM;
		goto err_free;
	}
	p = bal->names;
	for (size_t i = 0; i < n; i++) {
		size_t len = strlen(b[i].name) + 1;

		memcpy(p, b[i].name, len);
		bal->node[i].name = p;
		bal->node[i].weight = b[i].weight;
		bal->node[i].usable = true;
		p += len;
	}
	if (algo == BAL_MAGLEV) {
		ret = maglev_init(bal);
		if (ret)
			goto err_free;
	}
	bal_changed(bal);
	*out = bal;
	return 0;

err_free:
	bal_free(bal);
	return ret;
}

void bal_free(struct bal *bal)
{
	if (!bal)
		return;
	free(bal->table);
	free(bal->order);
	free(bal->names);
	free(bal->node);
	free(bal);
}

int bal_set_usable(struct bal *bal, size_t i, bool usable)
{
	if (!bal || i >= bal->n)
		return -EINVAL;
	if (bal->node[i].usable == usable)
		return 0;
	bal->node[i].usable = usable;
	bal_changed(bal);
	return 0;
}

bool bal_usable(const struct bal *bal, size_t i)
{
	return bal && i < bal->n && bal->node[i].usable;
}

int bal_set_weight(struct bal *bal, size_t i, uint32_t weight)
{
	if (!bal || i >= bal->n || weight > BAL_MAX_WEIGHT)
		return -EINVAL;
	if (bal->node[i].weight == weight)
		return 0;
	bal->node[i].weight = weight;
	bal_changed(bal);
	return 0;
}

static int pick_roundrobin(struct bal *bal)
{
	struct bal_node *best = NULL;
	int64_t total = 0;

	for (size_t i = 0; i < bal->n; i++) {
		struct bal_node *nd = &bal->node[i];

		if (!node_live(nd))
			continue;
		nd->current += nd->weight;
		total += nd->weight;
		if (!best || nd->current > best->current)
			best = nd;
	}
	if (!best)
		return -EHOSTUNREACH;
	best->current -= total;
	return (int)(best - bal->node);
}

static int pick_leastconn(struct bal *bal)
{
	const struct bal_node *best = NULL;
	size_t best_i = 0, i = bal->cursor;

	for (size_t k = 0; k < bal->n; k++, i++) {
		const struct bal_node *nd;

		if (i == bal->n)
			i = 0;
		nd = &bal->node[i];
		if (!node_live(nd))
			continue;
		if (!best ||
		    (uint64_t)nd->inflight * best->weight < (uint64_t)best->inflight * nd->weight) {
			best = nd;
			best_i = i;
		}
	}
	if (!best)
		return -EHOSTUNREACH;
	bal->cursor = best_i + 1 == bal->n ? 0 : best_i + 1;
	return (int)best_i;
}

int bal_pick(struct bal *bal, uint64_t key)
{
	if (!bal || !bal->live)
		return -EHOSTUNREACH;
	switch (bal->algo) {
	case BAL_ROUNDROBIN:
		return pick_roundrobin(bal);
	case BAL_LEASTCONN:
		return pick_leastconn(bal);
	case BAL_MAGLEV:
		/*
		 * The key is a hash already; the finaliser protects the table
		 * against callers whose "hash" has weak high bits.
		 */
		return bal->table[fastrange64(hash_mix64(key), BAL_MAGLEV_SIZE)];
	}
	return -EHOSTUNREACH;
}

void bal_conn_start(struct bal *bal, size_t i)
{
	if (bal && i < bal->n && bal->node[i].inflight < UINT32_MAX)
		bal->node[i].inflight++;
}

void bal_conn_end(struct bal *bal, size_t i)
{
	/* Saturate: an unmatched end must not wrap to 4 billion requests. */
	if (bal && i < bal->n && bal->node[i].inflight)
		bal->node[i].inflight--;
}

const char *bal_algo_name(enum bal_algo algo)
{
	switch (algo) {
	case BAL_ROUNDROBIN:
		return "roundrobin";
	case BAL_LEASTCONN:
		return "leastconn";
	case BAL_MAGLEV:
		return "maglev";
	}
	return "unknown";
}

int bal_algo_parse(const char *name, enum bal_algo *out)
{
	static const enum bal_algo all[] = { BAL_ROUNDROBIN, BAL_LEASTCONN, BAL_MAGLEV };

	if (!name || !out)
		return -EINVAL;
	for (size_t i = 0; i < ARRAY_SIZE(all); i++) {
		if (!strcmp(name, bal_algo_name(all[i]))) {
			*out = all[i];
			return 0;
		}
	}
	return -EINVAL;
}
