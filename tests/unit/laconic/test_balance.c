// SPDX-License-Identifier: MIT
/*
 * Description: laconic/balance: smooth weighted round robin against nginx's
 * sequence, least connections with tie rotation, health and drain, and
 * Maglev's balance, determinism and stability (the share of keys that move
 * when a backend leaves, and exact restoration when it returns).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "balance.h"
#include "hash.h"

#define KEYS 100000u

static struct bal *make(enum bal_algo algo, const char *const *names, const uint32_t *w, size_t n)
{
	struct bal_backend b[16];
	struct bal *bal = NULL;

	assert_true(n <= 16);
	for (size_t i = 0; i < n; i++) {
		b[i].name = names[i];
		b[i].weight = w[i];
	}
	assert_int_equal(bal_create(algo, b, n, &bal), 0);
	assert_non_null(bal);
	return bal;
}

static const char *const abc[] = { "a", "b", "c", "d", "e", "f", "g", "h" };
static const char *const ips[] = { "10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80", "10.0.0.4:80",
				   "10.0.0.5:80", "10.0.0.6:80", "10.0.0.7:80", "10.0.0.8:80" };

static void test_create_invalid(void **state)
{
	struct bal_backend b[2] = { { "a", 1 }, { "b", 1 } };
	struct bal *bal = (struct bal *)1;

	(void)state;
	assert_int_equal(bal_create(BAL_ROUNDROBIN, b, 0, &bal), -EINVAL);
	assert_null(bal);
	assert_int_equal(bal_create(BAL_ROUNDROBIN, b, BAL_MAX_BACKENDS + 1, &bal), -EINVAL);
	assert_int_equal(bal_create((enum bal_algo)7, b, 2, &bal), -EINVAL);
	b[1].weight = BAL_MAX_WEIGHT + 1;
	assert_int_equal(bal_create(BAL_MAGLEV, b, 2, &bal), -EINVAL);
	b[1].weight = 1;
	b[1].name = NULL;
	assert_int_equal(bal_create(BAL_LEASTCONN, b, 2, &bal), -EINVAL);
	bal_free(NULL);

	/* Weight 0 is valid at creation: a configured drain. */
	b[1].name = "b";
	b[1].weight = 0;
	assert_int_equal(bal_create(BAL_ROUNDROBIN, b, 2, &bal), 0);
	for (int i = 0; i < 10; i++)
		assert_int_equal(bal_pick(bal, 0), 0);
	assert_int_equal(bal_set_usable(bal, 2, false), -EINVAL);
	assert_int_equal(bal_set_weight(bal, 2, 1), -EINVAL);
	assert_int_equal(bal_set_weight(bal, 0, BAL_MAX_WEIGHT + 1), -EINVAL);
	assert_false(bal_usable(bal, 2));
	bal_free(bal);
}

static void test_algo_names(void **state)
{
	enum bal_algo a = BAL_MAGLEV;

	(void)state;
	for (int i = BAL_ROUNDROBIN; i <= BAL_MAGLEV; i++) {
		assert_int_equal(bal_algo_parse(bal_algo_name((enum bal_algo)i), &a), 0);
		assert_int_equal(a, i);
	}
	assert_string_equal(bal_algo_name(BAL_LEASTCONN), "leastconn");
	assert_int_equal(bal_algo_parse("RoundRobin", &a), -EINVAL);
	assert_int_equal(bal_algo_parse("", &a), -EINVAL);
	assert_int_equal(bal_algo_parse("random", &a), -EINVAL);
}

/* nginx's smooth weighted round robin: a a b a c a a for weights 5, 1, 1. */
static void test_rr_nginx_sequence(void **state)
{
	static const uint32_t w[] = { 5, 1, 1 };
	static const int want[] = { 0, 0, 1, 0, 2, 0, 0 };
	struct bal *bal = make(BAL_ROUNDROBIN, abc, w, 3);
	int prev = -1;

	(void)state;
	for (int cycle = 0; cycle < 10; cycle++) {
		for (size_t i = 0; i < ARRAY_SIZE(want); i++) {
			int got = bal_pick(bal, 0);

			assert_int_equal(got, want[i]);
			/* Smoothness: the light backends never come twice in a row. */
			assert_false(got != 0 && got == prev);
			prev = got;
		}
	}
	bal_free(bal);
}

/* Over every cycle of W picks each backend is chosen exactly w_i times. */
static void test_rr_exact_cycles(void **state)
{
	struct rng r;

	(void)state;
	rng_seed(&r, 42);
	for (int round = 0; round < 50; round++) {
		uint32_t w[8], total = 0;
		size_t n = 1 + (size_t)rng_below(&r, 8);
		struct bal *bal;

		for (size_t i = 0; i < n; i++) {
			w[i] = 1 + (uint32_t)rng_below(&r, BAL_MAX_WEIGHT);
			total += w[i];
		}
		bal = make(BAL_ROUNDROBIN, abc, w, n);
		for (int cycle = 0; cycle < 3; cycle++) {
			uint32_t count[8] = { 0 };

			for (uint32_t k = 0; k < total; k++) {
				int got = bal_pick(bal, 0);

				assert_true(got >= 0 && (size_t)got < n);
				count[got]++;
			}
			for (size_t i = 0; i < n; i++)
				assert_int_equal(count[i], w[i]);
		}
		bal_free(bal);
	}
}

static void test_rr_usable_and_drain(void **state)
{
	static const uint32_t w[] = { 5, 1, 1 };
	struct bal *bal = make(BAL_ROUNDROBIN, abc, w, 3);
	uint32_t count[3] = { 0 };

	(void)state;
	assert_true(bal_usable(bal, 1));
	assert_int_equal(bal_set_usable(bal, 1, false), 0);
	assert_false(bal_usable(bal, 1));
	for (int k = 0; k < 60; k++)
		count[bal_pick(bal, 0)]++;
	assert_int_equal(count[0], 50);
	assert_int_equal(count[1], 0);
	assert_int_equal(count[2], 10);

	/* Drain by weight: c out as well, only a is left. */
	assert_int_equal(bal_set_weight(bal, 2, 0), 0);
	for (int k = 0; k < 20; k++)
		assert_int_equal(bal_pick(bal, 0), 0);
	assert_int_equal(bal_set_usable(bal, 0, false), 0);
	assert_int_equal(bal_pick(bal, 0), -EHOSTUNREACH);

	/* Everything back: the sequence restarts from scratch. */
	assert_int_equal(bal_set_usable(bal, 0, true), 0);
	assert_int_equal(bal_set_usable(bal, 1, true), 0);
	assert_int_equal(bal_set_weight(bal, 2, 1), 0);
	assert_int_equal(bal_pick(bal, 0), 0);
	assert_int_equal(bal_pick(bal, 0), 0);
	assert_int_equal(bal_pick(bal, 0), 1);
	bal_free(bal);
}

static void test_none_usable(void **state)
{
	static const uint32_t w[] = { 1, 2 };

	(void)state;
	for (int a = BAL_ROUNDROBIN; a <= BAL_MAGLEV; a++) {
		struct bal *bal = make((enum bal_algo)a, abc, w, 2);

		assert_int_equal(bal_set_usable(bal, 0, false), 0);
		assert_int_equal(bal_set_usable(bal, 1, false), 0);
		assert_int_equal(bal_pick(bal, 12345), -EHOSTUNREACH);
		/* Usable but drained is just as unreachable. */
		assert_int_equal(bal_set_usable(bal, 0, true), 0);
		assert_int_equal(bal_set_weight(bal, 0, 0), 0);
		assert_int_equal(bal_pick(bal, 12345), -EHOSTUNREACH);
		assert_int_equal(bal_set_weight(bal, 0, 3), 0);
		assert_int_equal(bal_pick(bal, 12345), 0);
		bal_free(bal);
	}
}

static void test_leastconn(void **state)
{
	static const uint32_t w1[] = { 1, 1, 1 };
	static const uint32_t w2[] = { 2, 1 };
	struct bal *bal = make(BAL_LEASTCONN, abc, w1, 3);

	(void)state;
	/* All idle: ties rotate instead of piling onto backend 0. */
	assert_int_equal(bal_pick(bal, 0), 0);
	assert_int_equal(bal_pick(bal, 0), 1);
	assert_int_equal(bal_pick(bal, 0), 2);
	assert_int_equal(bal_pick(bal, 0), 0);

	/* Backend 1 busy: 0 and 2 share the traffic. */
	bal_conn_start(bal, 1);
	for (int k = 0; k < 6; k++)
		assert_int_not_equal(bal_pick(bal, 0), 1);
	bal_conn_start(bal, 0);
	bal_conn_start(bal, 2);
	bal_conn_start(bal, 2);
	/* 1, 1, 2 in flight: 0 and 1 tie, the scan resumes at 1 after the last pick (0). */
	assert_int_equal(bal_pick(bal, 0), 1);
	assert_int_equal(bal_pick(bal, 0), 0);
	bal_conn_end(bal, 2);
	bal_conn_end(bal, 2);
	assert_int_equal(bal_pick(bal, 0), 2);
	/* Unmatched ends saturate at 0, out-of-range indices are ignored. */
	for (int k = 0; k < 5; k++)
		bal_conn_end(bal, 2);
	bal_conn_end(bal, 99);
	bal_conn_start(bal, 99);
	assert_int_equal(bal_pick(bal, 0), 2);
	assert_int_equal(bal_set_usable(bal, 2, false), 0);
	assert_int_not_equal(bal_pick(bal, 0), 2);
	bal_free(bal);

	/* Per unit of weight: 2 in flight on weight 2 equals 1 on weight 1. */
	bal = make(BAL_LEASTCONN, abc, w2, 2);
	bal_conn_start(bal, 0);
	assert_int_equal(bal_pick(bal, 0), 1); /* 1/2 < 0/1 is false: 0/1 wins */
	bal_conn_start(bal, 1);
	assert_int_equal(bal_pick(bal, 0), 0); /* 1/2 < 1/1 */
	bal_conn_start(bal, 0);
	/* 2/2 vs 1/1: a tie, rotation goes on from 1. */
	assert_int_equal(bal_pick(bal, 0), 1);
	assert_int_equal(bal_pick(bal, 0), 0);
	bal_free(bal);
}

static void maglev_map(struct bal *bal, uint16_t *map, uint32_t nkeys, uint64_t seed)
{
	struct rng r;

	rng_seed(&r, seed);
	for (uint32_t k = 0; k < nkeys; k++) {
		int got = bal_pick(bal, rng_next(&r));

		assert_true(got >= 0);
		map[k] = (uint16_t)got;
	}
}

static void check_shares(const uint32_t *w, size_t n)
{
	uint16_t *map = malloc(KEYS * sizeof(*map));
	struct bal *bal = make(BAL_MAGLEV, ips, w, n);
	uint32_t count[16] = { 0 }, total = 0;

	assert_non_null(map);
	for (size_t i = 0; i < n; i++)
		total += w[i];
	maglev_map(bal, map, KEYS, 7);
	for (uint32_t k = 0; k < KEYS; k++)
		count[map[k]]++;
	for (size_t i = 0; i < n; i++) {
		double want = (double)KEYS * w[i] / total;

		print_message("maglev weight %u: %u keys (want %.0f, %+.2f%%)\n", w[i], count[i],
			      want, 100.0 * (count[i] - want) / want);
		assert_true(count[i] >= 0.9 * want && count[i] <= 1.1 * want);
	}
	bal_free(bal);
	free(map);
}

static void test_maglev_balance(void **state)
{
	static const uint32_t equal[] = { 1, 1, 1, 1, 1 };
	static const uint32_t skewed[] = { 1, 2, 3, 4 };
	static const uint32_t heavy[] = { 100, 1, 50, 200 };

	(void)state;
	check_shares(equal, ARRAY_SIZE(equal));
	check_shares(skewed, ARRAY_SIZE(skewed));
	check_shares(heavy, ARRAY_SIZE(heavy));
}

/* Same names (in any order) and weights give the same key -> name mapping. */
static void test_maglev_deterministic(void **state)
{
	static const uint32_t w[] = { 1, 2, 1, 3, 1 };
	static const uint32_t wr[] = { 1, 3, 1, 2, 1 };
	const char *rev[5];
	uint16_t *m1 = malloc(KEYS * sizeof(*m1)), *m2 = malloc(KEYS * sizeof(*m2));
	struct bal *b1 = make(BAL_MAGLEV, ips, w, 5), *b2 = make(BAL_MAGLEV, ips, w, 5), *b3;

	(void)state;
	assert_non_null(m1);
	assert_non_null(m2);
	maglev_map(b1, m1, KEYS, 3);
	maglev_map(b2, m2, KEYS, 3);
	assert_memory_equal(m1, m2, KEYS * sizeof(*m1));

	for (int i = 0; i < 5; i++)
		rev[i] = ips[4 - i];
	b3 = make(BAL_MAGLEV, rev, wr, 5);
	maglev_map(b3, m2, KEYS, 3);
	for (uint32_t k = 0; k < KEYS; k++)
		assert_string_equal(ips[m1[k]], rev[m2[k]]);
	bal_free(b1);
	bal_free(b2);
	bal_free(b3);
	free(m1);
	free(m2);
}

/*
 * Stability: with one of N = 5 backends gone, its keys move (they must) and
 * the others' keys should mostly stay. Re-adding it restores the mapping.
 */
static void test_maglev_stability(void **state)
{
	static const uint32_t w[] = { 1, 1, 1, 1, 1 };
	uint16_t *before = malloc(KEYS * sizeof(*before)), *after = malloc(KEYS * sizeof(*after));
	double worst = 0;

	(void)state;
	assert_non_null(before);
	assert_non_null(after);
	for (size_t gone = 0; gone < 5; gone++) {
		struct bal *bal = make(BAL_MAGLEV, ips, w, 5);
		uint32_t owned = 0, moved_other = 0;

		maglev_map(bal, before, KEYS, 11);
		assert_int_equal(bal_set_usable(bal, gone, false), 0);
		maglev_map(bal, after, KEYS, 11);
		for (uint32_t k = 0; k < KEYS; k++) {
			assert_int_not_equal(after[k], gone);
			if (before[k] == gone)
				owned++;
			else if (after[k] != before[k])
				moved_other++;
		}
		print_message("maglev N=5 remove %zu: %u keys owned (%.2f%%) moved, %u others "
			      "moved (%.2f%% of all keys)\n",
			      gone, owned, 100.0 * owned / KEYS, moved_other,
			      100.0 * moved_other / KEYS);
		if ((double)moved_other / KEYS > worst)
			worst = (double)moved_other / KEYS;
		/* Measured 0.06 % .. 0.27 %; the paper's bound is a few percent. */
		assert_true(moved_other <= KEYS / 100);

		assert_int_equal(bal_set_usable(bal, gone, true), 0);
		maglev_map(bal, after, KEYS, 11);
		assert_memory_equal(before, after, KEYS * sizeof(*before));

		/* A drain by weight is the same event as an ejection. */
		assert_int_equal(bal_set_weight(bal, gone, 0), 0);
		maglev_map(bal, after, KEYS, 11);
		for (uint32_t k = 0; k < KEYS; k++)
			assert_int_not_equal(after[k], gone);
		assert_int_equal(bal_set_weight(bal, gone, 1), 0);
		maglev_map(bal, after, KEYS, 11);
		assert_memory_equal(before, after, KEYS * sizeof(*before));
		bal_free(bal);
	}
	print_message("maglev N=5: worst collateral movement %.2f%% of keys\n", 100 * worst);
	free(before);
	free(after);
}

/* Stability at a larger pool too, where the paper's few-percent bound applies. */
static void test_maglev_stability_large(void **state)
{
	enum { N = 64 };
	struct bal_backend b[N];
	char names[N][24];
	uint16_t *before = malloc(KEYS * sizeof(*before)), *after = malloc(KEYS * sizeof(*after));
	struct bal *bal = NULL;
	uint32_t moved_other = 0;

	(void)state;
	assert_non_null(before);
	assert_non_null(after);
	for (int i = 0; i < N; i++) {
		snprintf(names[i], sizeof(names[i]), "10.1.%d.%d:8080", i / 200, i % 200);
		b[i].name = names[i];
		b[i].weight = 1;
	}
	assert_int_equal(bal_create(BAL_MAGLEV, b, N, &bal), 0);
	maglev_map(bal, before, KEYS, 5);
	assert_int_equal(bal_set_usable(bal, 17, false), 0);
	maglev_map(bal, after, KEYS, 5);
	for (uint32_t k = 0; k < KEYS; k++)
		moved_other += before[k] != 17 && after[k] != before[k];
	print_message("maglev N=64 remove 1: %u others moved (%.2f%% of all keys)\n", moved_other,
		      100.0 * moved_other / KEYS);
	/* Measured 0.49 %. */
	assert_true(moved_other <= KEYS / 50);
	bal_free(bal);
	free(before);
	free(after);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_invalid),
		cmocka_unit_test(test_algo_names),
		cmocka_unit_test(test_rr_nginx_sequence),
		cmocka_unit_test(test_rr_exact_cycles),
		cmocka_unit_test(test_rr_usable_and_drain),
		cmocka_unit_test(test_none_usable),
		cmocka_unit_test(test_leastconn),
		cmocka_unit_test(test_maglev_balance),
		cmocka_unit_test(test_maglev_deterministic),
		cmocka_unit_test(test_maglev_stability),
		cmocka_unit_test(test_maglev_stability_large),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
