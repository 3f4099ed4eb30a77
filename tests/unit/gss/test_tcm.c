// SPDX-License-Identifier: MIT
/*
 * TCM's guarantees are one-sided, so the tests check the side that is
 * promised (no under-estimates, no false negatives on insert-only streams)
 * against a dense exact model, and that the other side is tight when the
 * matrices are wide enough for collisions to be rare.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* cmocka.h needs the four headers above first. */
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "tcm.h"

#define MN    256 /* model nodes */
#define WORDS (MN / 64)

struct model {
	int64_t w[MN][MN];
	uint64_t hash[MN]; /* what TCM sees of node i */
	uint64_t reach[MN][WORDS];
};

static struct tcm *new_tcm(uint32_t width, unsigned depth, uint64_t seed)
{
	struct tcm *t = NULL;

	assert_int_equal(tcm_create(width, depth, seed, &t), 0);
	assert_non_null(t);
	assert_int_equal(tcm_width(t), width);
	assert_int_equal(tcm_depth(t), depth);
	return t;
}

static void model_init(struct model *m, uint64_t seed)
{
	memset(m, 0, sizeof(*m));
	for (uint64_t i = 0; i < MN; i++) {
		char id[16];

		memcpy(id, "node", 4);
		memcpy(id + 4, &i, sizeof(i));
		m->hash[i] = hash_bytes(id, 12, seed);
	}
}

/* Insert-only: `edges` random edges with weights in [1, 5]. */
static void fill(struct model *m, struct tcm *t, unsigned edges, uint32_t span, uint64_t seed)
{
	struct rng r;

	rng_seed(&r, seed);
	for (unsigned e = 0; e < edges; e++) {
		uint32_t s = (uint32_t)rng_below(&r, span), d = (uint32_t)rng_below(&r, span);
		int64_t w = (int64_t)rng_below(&r, 5) + 1;

		tcm_update(t, m->hash[s], m->hash[d], w);
		m->w[s][d] += w;
	}
}

static void model_closure(struct model *m)
{
	for (int s = 0; s < MN; s++) {
		memset(m->reach[s], 0, sizeof(m->reach[s]));
		m->reach[s][s / 64] |= (uint64_t)1 << (s % 64);
		for (int d = 0; d < MN; d++) {
			if (m->w[s][d])
				m->reach[s][d / 64] |= (uint64_t)1 << (d % 64);
		}
	}
	for (int k = 0; k < MN; k++) {
		for (int s = 0; s < MN; s++) {
			if (m->reach[s][k / 64] >> (k % 64) & 1) {
				for (int j = 0; j < WORDS; j++)
					m->reach[s][j] |= m->reach[k][j];
			}
		}
	}
}

static bool model_reaches(const struct model *m, int s, int d)
{
	return m->reach[s][d / 64] >> (d % 64) & 1;
}

static bool contains(const uint64_t *a, size_t n, uint64_t v)
{
	for (size_t i = 0; i < n; i++) {
		if (a[i] == v)
			return true;
	}
	return false;
}

/* The promised side on an insert-only stream, for every pair of nodes. */
static void check_one_sided(const struct tcm *t, const struct model *m)
{
	static uint64_t got[MN];

	for (int s = 0; s < MN; s++) {
		int64_t out = 0, in = 0;
		size_t ns, np;

		for (int d = 0; d < MN; d++) {
			int64_t est = tcm_edge(t, m->hash[s], m->hash[d]);

			assert_true(est >= m->w[s][d]);
			if (m->w[s][d])
				assert_true(tcm_is_succ(t, m->hash[s], m->hash[d]));
			out += m->w[s][d];
			in += m->w[d][s];
		}
		assert_true(tcm_out(t, m->hash[s]) >= out);
		assert_true(tcm_in(t, m->hash[s]) >= in);

		/* The filters agree with tcm_is_succ exactly, in candidate order. */
		ns = tcm_succ_filter(t, m->hash[s], m->hash, MN, got);
		for (int d = 0, k = 0; d < MN; d++) {
			if (tcm_is_succ(t, m->hash[s], m->hash[d])) {
				assert_true((size_t)k < ns);
				assert_int_equal(got[k++], m->hash[d]);
			}
			if (m->w[s][d])
				assert_true(contains(got, ns, m->hash[d]));
		}
		np = tcm_pred_filter(t, m->hash[s], m->hash, MN, got);
		for (int d = 0, k = 0; d < MN; d++) {
			if (tcm_is_succ(t, m->hash[d], m->hash[s])) {
				assert_true((size_t)k < np);
				assert_int_equal(got[k++], m->hash[d]);
			}
			if (m->w[d][s])
				assert_true(contains(got, np, m->hash[d]));
		}
	}
}

/* Narrow matrices: heavy collisions, yet never an under-estimate. */
static void test_one_sided_narrow(void **state)
{
	static struct model m;
	struct tcm *t = new_tcm(16, 3, 7);

	(void)state;
	model_init(&m, 1);
	fill(&m, t, 3000, MN, 2);
	check_one_sided(t, &m);
	tcm_destroy(t);
}

static void test_one_sided_wide(void **state)
{
	static struct model m;
	struct tcm *t = new_tcm(512, 4, 8);
	size_t exact = 0;

	(void)state;
	model_init(&m, 3);
	fill(&m, t, 1500, MN, 4);
	check_one_sided(t, &m);

	/* Wide and deep enough that most edge estimates are exact. */
	for (int s = 0; s < MN; s++) {
		for (int d = 0; d < MN; d++)
			exact += tcm_edge(t, m.hash[s], m.hash[d]) == m.w[s][d];
	}
	assert_true(exact >= MN * MN * 99 / 100);
	tcm_destroy(t);
}

static void test_filter_in_place(void **state)
{
	static struct model m;
	static uint64_t buf[MN], want[MN];
	struct tcm *t = new_tcm(64, 2, 9);
	size_t n, k;

	(void)state;
	model_init(&m, 5);
	fill(&m, t, 800, MN, 6);
	memcpy(buf, m.hash, sizeof(buf));
	k = tcm_succ_filter(t, m.hash[3], m.hash, MN, want);
	n = tcm_succ_filter(t, m.hash[3], buf, MN, buf);
	assert_int_equal(n, k);
	assert_memory_equal(buf, want, n * sizeof(*buf));

	/* A node with no out edges in matrix 0's bucket row: nothing passes. */
	tcm_destroy(t);
	t = new_tcm(64, 2, 9);
	assert_int_equal(tcm_succ_filter(t, 1, m.hash, MN, buf), 0);
	assert_int_equal(tcm_pred_filter(t, 1, m.hash, MN, buf), 0);
	tcm_destroy(t);
}

/* Pairs from every `stride`-th source to every node. */
static void check_reach(const struct tcm *t, const struct model *m, int stride, size_t *true_neg,
			size_t *found_neg)
{
	for (int s = 0; s < MN; s += stride) {
		for (int d = 0; d < MN; d++) {
			bool r = false;

			assert_int_equal(tcm_reachable(t, m->hash[s], m->hash[d], &r), 0);
			if (model_reaches(m, s, d)) {
				assert_true(r);
			} else {
				(*true_neg)++;
				*found_neg += !r;
			}
		}
	}
}

static void test_reachable(void **state)
{
	static struct model m;
	size_t neg = 0, found = 0;
	struct tcm *t;

	(void)state;
	/* Narrow: no false negatives whatever the collisions. */
	t = new_tcm(32, 3, 11);
	model_init(&m, 12);
	fill(&m, t, 200, MN, 13);
	model_closure(&m);
	check_reach(t, &m, 1, &neg, &found);
	assert_true(neg > 0);
	tcm_destroy(t);

	/* Wide relative to a sparse graph: the true negatives show through. */
	neg = found = 0;
	t = new_tcm(2048, 3, 14);
	model_init(&m, 15);
	fill(&m, t, 150, MN, 16);
	model_closure(&m);
	check_reach(t, &m, 4, &neg, &found);
	assert_true(neg > MN * MN / 4 / 2);
	assert_true(found >= neg * 95 / 100);
	tcm_destroy(t);
}

/* A denser graph, so the BFS runs long and crosses word boundaries of the bitmap. */
static void test_reachable_dense(void **state)
{
	static struct model m;
	size_t neg = 0, found = 0;
	struct tcm *t = new_tcm(200, 2, 21);

	(void)state;
	model_init(&m, 22);
	/* Only the first 150 nodes get out edges, so the other 106 are sinks. */
	fill(&m, t, 400, 150, 23);
	model_closure(&m);
	check_reach(t, &m, 1, &neg, &found);
	assert_true(neg > 0);
	tcm_destroy(t);
}

static void test_turnstile_cancels(void **state)
{
	static struct model m;
	struct tcm *t = new_tcm(128, 3, 17);
	struct rng r;
	bool reach;

	(void)state;
	model_init(&m, 18);
	fill(&m, t, 2000, MN, 19);
	for (int s = 0; s < MN; s++) {
		for (int d = 0; d < MN; d++) {
			if (m.w[s][d])
				tcm_update(t, m.hash[s], m.hash[d], -m.w[s][d]);
		}
	}
	/* Counters wrap instead of overflowing, and still cancel. */
	tcm_update(t, m.hash[0], m.hash[1], INT64_MAX);
	tcm_update(t, m.hash[0], m.hash[1], INT64_MAX);
	tcm_update(t, m.hash[0], m.hash[1], -INT64_MAX);
	tcm_update(t, m.hash[0], m.hash[1], -INT64_MAX);
	for (int s = 0; s < MN; s++) {
		assert_int_equal(tcm_out(t, m.hash[s]), 0);
		assert_int_equal(tcm_in(t, m.hash[s]), 0);
		for (int d = 0; d < MN; d++) {
			assert_int_equal(tcm_edge(t, m.hash[s], m.hash[d]), 0);
			assert_false(tcm_is_succ(t, m.hash[s], m.hash[d]));
		}
	}
	rng_seed(&r, 20);
	for (int i = 0; i < 100; i++) {
		uint64_t s = rng_next(&r);

		assert_int_equal(tcm_reachable(t, s, rng_next(&r), &reach), 0);
		assert_false(reach);
		assert_int_equal(tcm_reachable(t, s, s, &reach), 0);
		assert_true(reach);
	}
	tcm_destroy(t);
}

static void test_create_and_memory(void **state)
{
	struct tcm *t = NULL;

	(void)state;
	assert_int_equal(tcm_create(0, 3, 1, &t), -EINVAL);
	assert_int_equal(tcm_create(8, 0, 1, &t), -EINVAL);
	assert_int_equal(tcm_create(UINT32_MAX, UINT32_MAX, 1, &t), -ENOMEM);
	assert_null(t);

	t = new_tcm(1, 1, 0);
	tcm_update(t, 1, 2, 5);
	assert_int_equal(tcm_edge(t, 3, 4), 5); /* one bucket: everything collides */
	tcm_destroy(t);

	t = new_tcm(100, 4, 0);
	assert_true(tcm_memory(t) >= (size_t)4 * 100 * 100 * 8);
	assert_true(tcm_memory(t) < (size_t)4 * 100 * 100 * 8 * 11 / 10);
	tcm_destroy(t);
	tcm_destroy(NULL);
}

static void test_width_for_memory(void **state)
{
	struct rng r;

	(void)state;
	assert_int_equal(tcm_width_for_memory(0, 4), 1);
	assert_int_equal(tcm_width_for_memory(31, 4), 1);
	assert_int_equal(tcm_width_for_memory(4 * 8 * 4096 * 4096, 4), 4096);
	assert_int_equal(tcm_width_for_memory(4 * 8 * 4096 * 4096 - 1, 4), 4095);
	assert_int_equal(tcm_width_for_memory(4 * 8 * 4097 * 4097 - 1, 4), 4096);
	assert_int_equal(tcm_width_for_memory(8 * 100, 0), 10);
	assert_int_equal(tcm_width_for_memory(SIZE_MAX, 1), 1518500249); /* isqrt(2^61 - 1) */

	rng_seed(&r, 1);
	for (int i = 0; i < 10000; i++) {
		size_t bytes = (size_t)(rng_next(&r) >> rng_below(&r, 64));
		unsigned depth = (unsigned)rng_below(&r, 8) + 1;
		uint64_t w = tcm_width_for_memory(bytes, depth);

		assert_true(w >= 1);
		if (bytes >= (size_t)depth * 8)
			assert_true(depth * w * w * 8 <= bytes);
		/* w + 1 must not fit: either the product overflows or it exceeds bytes. */
		uint64_t next;

		if (!__builtin_mul_overflow(depth * (w + 1) * 8, w + 1, &next))
			assert_true(next > bytes);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_and_memory), cmocka_unit_test(test_width_for_memory),
		cmocka_unit_test(test_one_sided_narrow),  cmocka_unit_test(test_one_sided_wide),
		cmocka_unit_test(test_filter_in_place),	  cmocka_unit_test(test_reachable),
		cmocka_unit_test(test_reachable_dense),	  cmocka_unit_test(test_turnstile_cancels),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
