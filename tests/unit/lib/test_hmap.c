// SPDX-License-Identifier: MIT
/*
 * Description: lib/hmap: lookups, duplicates, growth, backward-shift removal
 * and retargeting, checked against a plain array model under random churn.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#include "hash.h"
#include "hmap.h"

static bool has(const struct hmap *h, uint64_t hash, uint32_t idx)
{
	struct hmap_iter it;

	for (uint32_t e = hmap_first(h, hash, &it); e != HMAP_NONE; e = hmap_next(h, &it))
		if (e == idx)
			return true;
	return false;
}

static void test_basic(void **state)
{
	struct hmap h;

	(void)state;
	assert_int_equal(hmap_init(&h, 0), 0);
	assert_int_equal(hmap_first(&h, 42, &(struct hmap_iter){ 0 }), HMAP_NONE);
	assert_int_equal(hmap_insert(&h, 42, 7), 0);
	assert_true(has(&h, 42, 7));
	assert_false(has(&h, 43ULL << 32, 7));
	assert_int_equal(hmap_insert(&h, HMAP_NONE, HMAP_NONE), -EINVAL);
	assert_int_equal(hmap_remove(&h, 42, 8), -ENOENT);
	assert_int_equal(hmap_retarget(&h, 42, 7, 9), 0);
	assert_true(has(&h, 42, 9));
	assert_int_equal(hmap_retarget(&h, 42, 9, HMAP_NONE), -EINVAL);
	assert_int_equal(hmap_remove(&h, 42, 9), 0);
	assert_int_equal(h.count, 0);
	hmap_destroy(&h);
}

/* Same top 32 bits: both entries must come back as candidates. */
static void test_same_tag(void **state)
{
	struct hmap h;
	uint64_t a = 0xdeadbeef00000001ULL, b = 0xdeadbeef00000002ULL;

	(void)state;
	assert_int_equal(hmap_init(&h, 4), 0);
	assert_int_equal(hmap_insert(&h, a, 1), 0);
	assert_int_equal(hmap_insert(&h, b, 2), 0);
	assert_true(has(&h, a, 1) && has(&h, a, 2));
	assert_int_equal(hmap_remove(&h, a, 1), 0);
	assert_true(has(&h, b, 2));
	hmap_destroy(&h);
}

/* Random churn against a model: every present pair found, every removed pair gone. */
static void test_churn(void **state)
{
	enum { N = 20000 };
	uint64_t *hash = calloc(N, sizeof(*hash));
	bool *in = calloc(N, sizeof(*in));
	struct rng r;
	struct hmap h;

	(void)state;
	assert_non_null(hash);
	assert_non_null(in);
	rng_seed(&r, 1);
	for (uint32_t i = 0; i < N; i++)
		/* Few distinct high halves force long clusters and shared tags. */
		hash[i] = (rng_below(&r, 64) << 58) | rng_next(&r) >> 6;
	assert_int_equal(hmap_init(&h, 0), 0);
	for (int round = 0; round < 200000; round++) {
		uint32_t i = (uint32_t)rng_below(&r, N);

		if (in[i]) {
			assert_int_equal(hmap_remove(&h, hash[i], i), 0);
			in[i] = false;
		} else {
			assert_int_equal(hmap_insert(&h, hash[i], i), 0);
			in[i] = true;
		}
		if (round % 20000 == 0) {
			size_t count = 0;

			for (uint32_t j = 0; j < N; j++) {
				assert_int_equal(has(&h, hash[j], j), in[j]);
				count += in[j];
			}
			assert_int_equal(h.count, count);
		}
	}
	assert_true(hmap_memory(&h) >= h.count * sizeof(uint64_t));
	hmap_destroy(&h);
	free(hash);
	free(in);
}

static void test_clear(void **state)
{
	struct hmap h;

	(void)state;
	assert_int_equal(hmap_init(&h, 100), 0);
	for (uint32_t i = 0; i < 100; i++)
		assert_int_equal(hmap_insert(&h, hash_mix64(i), i), 0);
	hmap_clear(&h);
	assert_int_equal(h.count, 0);
	assert_false(has(&h, hash_mix64(5), 5));
	hmap_destroy(&h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_basic),
		cmocka_unit_test(test_same_tag),
		cmocka_unit_test(test_churn),
		cmocka_unit_test(test_clear),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
