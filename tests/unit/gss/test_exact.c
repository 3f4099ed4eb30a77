// SPDX-License-Identifier: MIT
/*
 * The exact store is the ground truth for every accuracy number, so it is
 * checked against something simpler still: a dense matrix over at most 64
 * nodes, whose transitive closure fits in one word per row.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* cmocka.h needs the four headers above first. */
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exact.h"
#include "hash.h"

#define MN 48 /* model nodes; closure rows are one uint64_t */

struct model {
	int64_t w[MN][MN];
};

static struct exact *new_exact(void)
{
	struct exact *x = NULL;

	assert_int_equal(exact_create(&x), 0);
	assert_non_null(x);
	return x;
}

/* Interns MN nodes with awkward IDs: empty, embedded NUL, plain. */
static void make_nodes(struct exact *x)
{
	for (uint32_t i = 0; i < MN; i++) {
		char id[32];
		size_t len;
		uint32_t n;

		if (i == 0) {
			len = 0;
		} else if (i == 1) {
			memcpy(id, "a\0b", 3);
			len = 3;
		} else {
			len = (size_t)snprintf(id, sizeof(id), "node-%u", i);
		}
		assert_int_equal(exact_node(x, id, len, &n), 0);
		assert_int_equal(n, i);
	}
	assert_int_equal(exact_node_count(x), MN);
}

struct collect {
	uint64_t seen; /* neighbours reported so far */
	int64_t w[MN];
	unsigned calls;
};

static int collect_nbr(uint32_t nbr, int64_t w, void *arg)
{
	struct collect *c = arg;

	assert_true(nbr < MN);
	assert_false(c->seen >> nbr & 1); /* each neighbour once */
	c->seen |= (uint64_t)1 << nbr;
	c->w[nbr] = w;
	c->calls++;
	return 0;
}

struct edge_walk {
	const struct model *m;
	uint64_t seen[MN];
	size_t count;
};

static int check_edge(uint32_t s, uint32_t d, int64_t w, void *arg)
{
	struct edge_walk *ew = arg;

	assert_true(s < MN && d < MN);
	assert_false(ew->seen[s] >> d & 1);
	ew->seen[s] |= (uint64_t)1 << d;
	assert_int_equal(w, ew->m->w[s][d]);
	assert_true(w != 0);
	ew->count++;
	return 0;
}

/* reach[s] has bit d set iff d is reachable from s (s itself included). */
static void model_closure(const struct model *m, uint64_t reach[MN])
{
	for (int s = 0; s < MN; s++) {
		reach[s] = (uint64_t)1 << s;
		for (int d = 0; d < MN; d++) {
			if (m->w[s][d])
				reach[s] |= (uint64_t)1 << d;
		}
	}
	for (int k = 0; k < MN; k++) {
		for (int s = 0; s < MN; s++) {
			if (reach[s] >> k & 1)
				reach[s] |= reach[k];
		}
	}
}

static void check_against_model(const struct exact *x, const struct model *m)
{
	static uint64_t reach[MN];
	struct edge_walk ew = { .m = m };
	size_t live = 0;

	for (uint32_t s = 0; s < MN; s++) {
		struct collect succ = { 0 }, pred = { 0 };
		int64_t ow = 0, iw = 0, gw;
		uint64_t od = 0, id = 0, gd;

		for (uint32_t d = 0; d < MN; d++) {
			assert_int_equal(exact_edge(x, s, d), m->w[s][d]);
			if (m->w[s][d]) {
				live++;
				ow += m->w[s][d];
				od++;
			}
			if (m->w[d][s]) {
				iw += m->w[d][s];
				id++;
			}
		}
		assert_int_equal(exact_for_each_succ(x, s, collect_nbr, &succ), 0);
		assert_int_equal(exact_for_each_pred(x, s, collect_nbr, &pred), 0);
		for (uint32_t d = 0; d < MN; d++) {
			assert_int_equal(succ.seen >> d & 1, m->w[s][d] != 0);
			if (m->w[s][d])
				assert_int_equal(succ.w[d], m->w[s][d]);
			assert_int_equal(pred.seen >> d & 1, m->w[d][s] != 0);
			if (m->w[d][s])
				assert_int_equal(pred.w[d], m->w[d][s]);
		}
		assert_int_equal(exact_out(x, s, &gw, &gd), 0);
		assert_int_equal(gw, ow);
		assert_int_equal(gd, od);
		assert_int_equal(exact_in(x, s, &gw, &gd), 0);
		assert_int_equal(gw, iw);
		assert_int_equal(gd, id);
	}
	assert_int_equal(exact_edge_count(x), live);
	assert_int_equal(exact_for_each_edge(x, check_edge, &ew), 0);
	assert_int_equal(ew.count, live);

	model_closure(m, reach);
	for (uint32_t s = 0; s < MN; s++) {
		for (uint32_t d = 0; d < MN; d++) {
			bool r = false;

			assert_int_equal(exact_reachable(x, s, d, &r), 0);
			assert_int_equal(r, reach[s] >> d & 1);
		}
	}
}

/* Random turnstile stream with deletes to zero, re-inserts, negatives and self loops. */
static void test_random_vs_model(void **state)
{
	static struct model m;
	struct exact *x = new_exact();
	struct rng r;

	(void)state;
	memset(&m, 0, sizeof(m));
	make_nodes(x);
	rng_seed(&r, 42);
	for (int op = 1; op <= 30000; op++) {
		/* Vary density: a narrow node range early gives dense, cyclic graphs. */
		uint32_t span = op < 10000 ? 12 : MN;
		uint32_t s = (uint32_t)rng_below(&r, span), d = (uint32_t)rng_below(&r, span);
		uint64_t k = rng_below(&r, 10);
		int64_t w;

		if (k < 3 && m.w[s][d])
			w = -m.w[s][d]; /* delete to zero */
		else if (k < 5)
			w = -(int64_t)rng_below(&r, 5) - 1; /* negative, possibly first */
		else if (k < 6)
			w = 0;
		else
			w = (int64_t)rng_below(&r, 1000) + 1;
		/* Sparse phase: mostly delete, so the graph thins and reachability varies. */
		if (op > 20000 && m.w[s][d] && k < 8)
			w = -m.w[s][d];
		assert_int_equal(exact_update(x, s, d, w), 0);
		m.w[s][d] += w;
		if (op % 1000 == 0)
			check_against_model(x, &m);
	}
	exact_destroy(x);
}

static void test_turnstile_basics(void **state)
{
	struct exact *x = new_exact();
	struct collect c = { 0 };
	uint32_t a, b;
	int64_t w;
	uint64_t deg;
	bool r;

	(void)state;
	assert_int_equal(exact_node(x, "a", 1, &a), 0);
	assert_int_equal(exact_node(x, "b", 1, &b), 0);

	/* An edge may be born negative. */
	assert_int_equal(exact_update(x, a, b, -5), 0);
	assert_int_equal(exact_edge(x, a, b), -5);
	assert_int_equal(exact_edge_count(x), 1);
	assert_int_equal(exact_reachable(x, a, b, &r), 0);
	assert_true(r);

	/* Summing to zero removes it. */
	assert_int_equal(exact_update(x, a, b, 5), 0);
	assert_int_equal(exact_edge(x, a, b), 0);
	assert_int_equal(exact_edge_count(x), 0);
	assert_int_equal(exact_for_each_succ(x, a, collect_nbr, &c), 0);
	assert_int_equal(c.calls, 0);
	assert_int_equal(exact_out(x, a, &w, &deg), 0);
	assert_int_equal(w, 0);
	assert_int_equal(deg, 0);
	assert_int_equal(exact_reachable(x, a, b, &r), 0);
	assert_false(r);
	assert_int_equal(exact_reachable(x, a, a, &r), 0);
	assert_true(r);

	/* And it can come back. */
	assert_int_equal(exact_update(x, a, b, 2), 0);
	assert_int_equal(exact_edge(x, a, b), 2);
	assert_int_equal(exact_edge_count(x), 1);

	/* w == 0 creates nothing. */
	assert_int_equal(exact_update(x, b, a, 0), 0);
	assert_int_equal(exact_edge_count(x), 1);

	/* Self loops are both a successor and a predecessor. */
	assert_int_equal(exact_update(x, a, a, 7), 0);
	memset(&c, 0, sizeof(c));
	assert_int_equal(exact_for_each_pred(x, a, collect_nbr, &c), 0);
	assert_int_equal(c.seen, (uint64_t)1 << a);
	assert_int_equal(exact_in(x, a, &w, &deg), 0);
	assert_int_equal(w, 7);
	assert_int_equal(deg, 1);
	assert_int_equal(exact_update(x, a, a, -7), 0);
	assert_int_equal(exact_edge_count(x), 1);

	/* Unknown nodes. */
	assert_int_equal(exact_update(x, a, 2, 1), -EINVAL);
	assert_int_equal(exact_edge(x, 9, a), 0);
	assert_int_equal(exact_out(x, 2, &w, &deg), -EINVAL);
	assert_int_equal(exact_in(x, 2, NULL, NULL), -EINVAL);
	assert_int_equal(exact_for_each_succ(x, 2, collect_nbr, &c), -EINVAL);
	assert_int_equal(exact_for_each_pred(x, 2, collect_nbr, &c), -EINVAL);
	assert_int_equal(exact_reachable(x, a, 2, &r), -EINVAL);
	exact_destroy(x);
}

static int stop_at_second(uint32_t nbr, int64_t w, void *arg)
{
	unsigned *n = arg;

	(void)nbr;
	(void)w;
	return ++*n == 2 ? 17 : 0;
}

static int stop_edge(uint32_t s, uint32_t d, int64_t w, void *arg)
{
	(void)s;
	(void)d;
	(void)w;
	(void)arg;
	return -3;
}

static void test_early_stop(void **state)
{
	struct exact *x = new_exact();
	unsigned n = 0;
	uint32_t v[4];

	(void)state;
	for (int i = 0; i < 4; i++) {
		char id = (char)('p' + i);

		assert_int_equal(exact_node(x, &id, 1, &v[i]), 0);
	}
	for (int i = 1; i < 4; i++)
		assert_int_equal(exact_update(x, v[0], v[i], i), 0);
	assert_int_equal(exact_for_each_succ(x, v[0], stop_at_second, &n), 17);
	assert_int_equal(n, 2);
	assert_int_equal(exact_for_each_edge(x, stop_edge, NULL), -3);
	exact_destroy(x);
}

static void test_overflow(void **state)
{
	struct exact *x = new_exact();
	uint32_t a, b, c;
	int64_t w = 99;
	uint64_t deg = 99;

	(void)state;
	assert_int_equal(exact_node(x, "a", 1, &a), 0);
	assert_int_equal(exact_node(x, "b", 1, &b), 0);
	assert_int_equal(exact_node(x, "c", 1, &c), 0);

	assert_int_equal(exact_update(x, a, b, INT64_MAX), 0);
	assert_int_equal(exact_update(x, a, b, 1), -ERANGE);
	assert_int_equal(exact_edge(x, a, b), INT64_MAX);
	assert_int_equal(exact_edge_count(x), 1);

	assert_int_equal(exact_update(x, b, a, INT64_MIN), 0);
	assert_int_equal(exact_update(x, b, a, -1), -ERANGE);
	assert_int_equal(exact_edge(x, b, a), INT64_MIN);
	assert_int_equal(exact_update(x, b, a, INT64_MAX), 0);
	assert_int_equal(exact_edge(x, b, a), -1);
	assert_int_equal(exact_edge_count(x), 2);

	/* A node's weight sum can overflow even when no edge does. */
	assert_int_equal(exact_update(x, a, c, INT64_MAX), 0);
	assert_int_equal(exact_out(x, a, &w, &deg), -ERANGE);
	assert_int_equal(w, 99);
	assert_int_equal(deg, 99);
	assert_int_equal(exact_out(x, a, NULL, &deg), 0);
	assert_int_equal(deg, 2);
	assert_int_equal(exact_update(x, a, c, -INT64_MAX), 0);
	assert_int_equal(exact_out(x, a, &w, NULL), 0);
	assert_int_equal(w, INT64_MAX);
	assert_int_equal(exact_edge_count(x), 2);
	exact_destroy(x);
}

static void test_node_ids(void **state)
{
	enum { N = 100000 };
	struct exact *x = new_exact();
	const char **ptrs = calloc(N, sizeof(*ptrs));
	char *big = malloc(100000);
	uint32_t n, m;
	size_t len;
	const char *p;

	(void)state;
	assert_non_null(ptrs);
	assert_non_null(big);

	/* Empty and NUL-containing IDs are distinct from their prefixes. */
	assert_int_equal(exact_find_node(x, "", 0, &n), -ENOENT);
	assert_int_equal(exact_node(x, NULL, 0, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(exact_node(x, "", 0, &m), 0);
	assert_int_equal(m, 0);
	assert_int_equal(exact_node(x, "a", 1, &n), 0);
	assert_int_equal(exact_node(x, "a\0b", 3, &m), 0);
	assert_int_not_equal(n, m);
	assert_int_equal(exact_node(x, "a\0c", 3, &n), 0);
	assert_int_not_equal(n, m);
	p = exact_node_id(x, m, &len);
	assert_int_equal(len, 3);
	assert_memory_equal(p, "a\0b", 4);
	assert_null(exact_node_id(x, 1000, &len));
	assert_int_equal(exact_node(x, NULL, 1, &n), -EINVAL);

	/* Large IDs take their own chunk; small ones keep filling the shared one. */
	memset(big, 'x', 100000);
	assert_int_equal(exact_node(x, big, 100000, &n), 0);
	assert_int_equal(exact_node(x, big, 99999, &m), 0);
	assert_int_not_equal(n, m);
	assert_int_equal(exact_find_node(x, big, 100000, &m), 0);
	assert_int_equal(m, n);
	p = exact_node_id(x, n, &len);
	assert_int_equal(len, 100000);
	assert_memory_equal(p, big, 100000);
	assert_int_equal(p[len], '\0');

	/* Many IDs: numbers are dense and pointers never move. */
	assert_int_equal(exact_node_count(x), 6);
	for (uint32_t i = 0; i < N; i++) {
		char id[24];
		int l = snprintf(id, sizeof(id), "%u", i * 2654435761u);

		assert_int_equal(exact_node(x, id, (size_t)l, &n), 0);
		assert_int_equal(n, 6 + i);
		ptrs[i] = exact_node_id(x, n, NULL);
	}
	for (uint32_t i = 0; i < N; i++) {
		char id[24];
		int l = snprintf(id, sizeof(id), "%u", i * 2654435761u);

		assert_int_equal(exact_find_node(x, id, (size_t)l, &n), 0);
		assert_int_equal(n, 6 + i);
		p = exact_node_id(x, n, &len);
		assert_ptr_equal(p, ptrs[i]);
		assert_int_equal(len, (size_t)l);
		assert_string_equal(p, id);
	}
	assert_int_equal(exact_find_node(x, "nope", 4, &n), -ENOENT);
	assert_int_equal(exact_node_count(x), N + 6);
	free(big);
	free(ptrs);
	exact_destroy(x);
}

struct sum_walk {
	size_t count;
	int64_t sum;
};

static int sum_edge(uint32_t s, uint32_t d, int64_t w, void *arg)
{
	struct sum_walk *sw = arg;

	(void)s;
	(void)d;
	sw->count++;
	sw->sum += w;
	return 0;
}

/* Distinct pairs from a bijection on [0, NN * NN): i * K mod NN^2 with K coprime. */
#define NN 20000u
#define NE 200000u
#define K  1000003ull

static void big_pair(uint32_t i, uint32_t *s, uint32_t *d)
{
	uint64_t p = (uint64_t)i * K % ((uint64_t)NN * NN);

	*s = (uint32_t)(p / NN);
	*d = (uint32_t)(p % NN);
}

static int64_t big_weight(uint32_t i)
{
	int64_t w = (int64_t)(i % 9) - 4;

	return w ? w : 5;
}

static void load_big(struct exact *x)
{
	for (uint32_t i = 0; i < NN; i++) {
		uint32_t n;

		assert_int_equal(exact_node(x, &i, sizeof(i), &n), 0);
		assert_int_equal(n, i);
	}
	for (uint32_t i = 0; i < NE; i++) {
		uint32_t s, d;

		big_pair(i, &s, &d);
		assert_int_equal(exact_update(x, s, d, big_weight(i)), 0);
	}
}

static void check_big(const struct exact *x, bool odd_deleted)
{
	struct sum_walk sw = { 0 };
	int64_t sum = 0;
	size_t count = 0;
	uint64_t outdeg = 0, indeg = 0;

	for (uint32_t i = 0; i < NE; i++) {
		uint32_t s, d;
		bool gone = odd_deleted && (i & 1);

		big_pair(i, &s, &d);
		assert_int_equal(exact_edge(x, s, d), gone ? 0 : big_weight(i));
		if (!gone) {
			sum += big_weight(i);
			count++;
		}
	}
	for (uint32_t v = 0; v < NN; v++) {
		uint64_t o, in;

		assert_int_equal(exact_out(x, v, NULL, &o), 0);
		assert_int_equal(exact_in(x, v, NULL, &in), 0);
		outdeg += o;
		indeg += in;
	}
	assert_int_equal(exact_edge_count(x), count);
	assert_int_equal(outdeg, count);
	assert_int_equal(indeg, count);
	assert_int_equal(exact_for_each_edge(x, sum_edge, &sw), 0);
	assert_int_equal(sw.count, count);
	assert_int_equal(sw.sum, sum);
}

static void test_many_edges(void **state)
{
	struct exact *x = new_exact();
	struct exact *y = new_exact();
	size_t before;

	(void)state;
	load_big(x);
	check_big(x, false);
	before = exact_memory(x);
	assert_true(before > NE * 24);

	/* Delete half (moving the table's tail into the holes), then restore. */
	for (uint32_t i = 1; i < NE; i += 2) {
		uint32_t s, d;

		big_pair(i, &s, &d);
		assert_int_equal(exact_update(x, s, d, -big_weight(i)), 0);
	}
	check_big(x, true);
	for (uint32_t i = 1; i < NE; i += 2) {
		uint32_t s, d;

		big_pair(i, &s, &d);
		assert_int_equal(exact_update(x, s, d, big_weight(i)), 0);
	}
	check_big(x, false);

	/* Reserving up front gives the same graph. */
	assert_int_equal(exact_reserve(y, NN, NE), 0);
	load_big(y);
	check_big(y, false);
	assert_int_equal(exact_reserve(y, 2 * NN, 2 * NE), 0);
	check_big(y, false);
	exact_destroy(y);
	exact_destroy(x);
}

/* A long chain plus a wide fan: both BFS sides have real work to do. */
static void test_reachable_large(void **state)
{
	enum { CHAIN = 5000, FAN = 3000 };
	struct exact *x = new_exact();
	uint32_t n;
	bool r;

	(void)state;
	for (uint32_t i = 0; i < CHAIN + 2 * FAN; i++)
		assert_int_equal(exact_node(x, &i, sizeof(i), &n), 0);
	for (uint32_t i = 0; i + 1 < CHAIN; i++)
		assert_int_equal(exact_update(x, i, i + 1, 1), 0);
	/* Many nodes feed the chain's head; the chain's tail feeds many nodes. */
	for (uint32_t i = 0; i < FAN; i++) {
		assert_int_equal(exact_update(x, CHAIN + i, 0, 1), 0);
		assert_int_equal(exact_update(x, CHAIN - 1, CHAIN + FAN + i, 1), 0);
	}
	assert_int_equal(exact_reachable(x, 0, CHAIN - 1, &r), 0);
	assert_true(r);
	assert_int_equal(exact_reachable(x, CHAIN + 5, CHAIN + FAN + 7, &r), 0);
	assert_true(r);
	assert_int_equal(exact_reachable(x, CHAIN - 1, 0, &r), 0);
	assert_false(r);
	assert_int_equal(exact_reachable(x, CHAIN + FAN, CHAIN, &r), 0);
	assert_false(r);
	assert_int_equal(exact_reachable(x, CHAIN + 1, CHAIN + 2, &r), 0);
	assert_false(r);

	/* Cut the chain in the middle. */
	assert_int_equal(exact_update(x, CHAIN / 2, CHAIN / 2 + 1, -1), 0);
	assert_int_equal(exact_reachable(x, CHAIN + 5, CHAIN + FAN + 7, &r), 0);
	assert_false(r);
	assert_int_equal(exact_reachable(x, 0, CHAIN / 2, &r), 0);
	assert_true(r);
	exact_destroy(x);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_turnstile_basics), cmocka_unit_test(test_early_stop),
		cmocka_unit_test(test_overflow),	 cmocka_unit_test(test_node_ids),
		cmocka_unit_test(test_random_vs_model),	 cmocka_unit_test(test_many_edges),
		cmocka_unit_test(test_reachable_large),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
