// SPDX-License-Identifier: MIT
/*
 * Description: lib/ helpers: hashing (bijective finaliser, fastrange bounds,
 * determinism), the xoshiro generator, growable arrays (doubling, overflow,
 * nothing changed on failure), log lines (prefix, level filter) and the
 * size/count grammar (suffixes, exact fractions, overflow, rejects).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hash.h"
#include "log.h"
#include "units.h"
#include "vec.h"

static void test_hash(void **state)
{
	struct rng a, b;

	(void)state;
	/* The finaliser is a bijection: no two of many inputs collide. */
	{
		enum { N = 1 << 16 };
		uint64_t *v = malloc(N * sizeof(*v));

		assert_non_null(v);
		for (uint64_t i = 0; i < N; i++)
			v[i] = hash_mix64(i);
		for (uint64_t i = 0; i < N; i++)
			for (uint64_t j = i + 1; j < i + 64 && j < N; j++)
				assert_true(v[i] != v[j]);
		free(v);
	}
	assert_int_equal(hash_mix64(0), 0);
	assert_true(hash_bytes("abc", 3, 1) != hash_bytes("abc", 3, 2));
	assert_true(hash_bytes("abc", 3, 1) == hash_bytes("abc", 3, 1));
	assert_true(hash_bytes("", 0, 7) == hash_bytes(NULL, 0, 7));
	for (uint64_t n = 1; n < 1000; n += 7) {
		assert_true(fastrange64(UINT64_MAX, n) == n - 1);
		assert_true(fastrange32(UINT64_MAX, (uint32_t)n) == n - 1);
		assert_true(fastrange64(0, n) == 0);
	}
	rng_seed(&a, 42);
	rng_seed(&b, 42);
	for (int i = 0; i < 1000; i++) {
		uint64_t x = rng_below(&a, 10);
		double u = rng_unit(&b);

		(void)rng_next(&b); /* keep the streams apart */
		assert_true(x < 10);
		assert_true(u >= 0 && u < 1);
	}
}

static void test_vec(void **state)
{
	uint64_t *v = NULL;
	size_t cap = 0;
	uint32_t *w = NULL, cap32 = 0;

	(void)state;
	assert_int_equal(vec_reserve((void **)&v, &cap, 0, sizeof(*v), 8), 0);
	assert_null(v);
	assert_int_equal(vec_reserve((void **)&v, &cap, 1, sizeof(*v), 8), 0);
	assert_int_equal(cap, 8);
	assert_int_equal(vec_reserve((void **)&v, &cap, 9, sizeof(*v), 8), 0);
	assert_int_equal(cap, 16);
	for (size_t i = 0; i < 16; i++)
		v[i] = i;
	assert_int_equal(vec_reserve((void **)&v, &cap, 1000, sizeof(*v), 8), 0);
	assert_true(cap >= 1000);
	for (size_t i = 0; i < 16; i++)
		assert_int_equal(v[i], i);
	/* Too big: refused, and the array is untouched. */
	assert_int_equal(vec_reserve((void **)&v, &cap, SIZE_MAX / 2, sizeof(*v), 8), -EOVERFLOW);
	assert_true(cap >= 1000 && v[15] == 15);
	free(v);

	assert_int_equal(vec_reserve32((void **)&w, &cap32, 5, sizeof(*w), 4), 0);
	assert_int_equal(cap32, 8);
	assert_int_equal(vec_reserve32((void **)&w, &cap32, (uint64_t)UINT32_MAX + 1, 4, 4),
			 -EOVERFLOW);
	assert_int_equal(cap32, 8);
	free(w);
}

/* Runs fn with stderr sent to a file, returns what it wrote. */
static char *capture_stderr(void (*fn)(void))
{
	char path[] = "/tmp/test-lib-XXXXXX", *buf = calloc(1, 4096);
	int fd = mkstemp(path), saved = dup(STDERR_FILENO);

	assert_true(fd >= 0 && saved >= 0 && buf);
	fflush(stderr);
	dup2(fd, STDERR_FILENO);
	fn();
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	assert_true(pread(fd, buf, 4095, 0) >= 0);
	close(fd);
	unlink(path);
	return buf;
}

static void say_things(void)
{
	log_init("/usr/bin/prog", LOG_INFO);
	log_err("bad %d", 1);
	log_warn("careful");
	log_info("fyi");
	log_debug("hidden");
}

static void test_log(void **state)
{
	char *out;

	(void)state;
	out = capture_stderr(say_things);
	assert_string_equal(out, "prog: error: bad 1\nprog: warning: careful\nprog: fyi\n");
	free(out);
	assert_int_equal(log_get_level(), LOG_INFO);
	log_set_level(LOG_ERR);
	assert_int_equal(log_get_level(), LOG_ERR);
}

/* want UINT64_MAX - 1: text is refused (-EINVAL) and *out left alone. */
static void check_units(int (*parse)(const char *, uint64_t *), const char *text, uint64_t want)
{
	uint64_t v = 7;

	if (want == UINT64_MAX - 1) {
		assert_int_equal(parse(text, &v), -EINVAL);
		assert_int_equal(v, 7);
	} else {
		assert_int_equal(parse(text, &v), 0);
		assert_int_equal(v, want);
	}
}

static void test_units(void **state)
{
	static const struct {
		const char *text;
		uint64_t size, count; /* UINT64_MAX - 1: rejected in that form */
	} ok[] = {
		{ "0", 0, 0 },
		{ "4096", 4096, 4096 },
		{ "64k", 64ull << 10, 64000 },
		{ "64K", 64ull << 10, 64000 },
		{ "64M", 64ull << 20, 64000000 },
		{ "64MiB", 64ull << 20, UINT64_MAX - 1 },
		{ "64mb", 64ull << 20, UINT64_MAX - 1 },
		{ "4096B", 4096, UINT64_MAX - 1 },
		{ "1.5G", 3ull << 29, 1500000000 },
		{ "2.5k", 2560, 2500 },
		{ "0.5k", 512, 500 },
		{ "1.25000000000000000000000k", 1280, 1250 },
		{ "2.5000000000000000000000000000000000000000000000000k", 2560, 2500 },
		{ "16E", UINT64_MAX - 1, UINT64_MAX - 1 }, /* no exa */
		{ "1p", 1ull << 50, 1000000000000000ull },
		{ "18446744073709551615", UINT64_MAX, UINT64_MAX },
		{ "16383P", 16383ull << 50, 16383000000000000000ull },
	};
	static const char *const bad[] = {
		"",
		"-1",
		"+1",
		" 1",
		"1 ",
		"1 k",
		"k",
		"0x10",
		"1.",
		".5",
		"1..5",
		"1kk",
		"0.0000000000000000000000000000000000000000001",
		"1Mx",
		"1e3",
		"1iB",
		"0.0001k",
		"1.0000000000000000001",
	};
	uint64_t v;

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		check_units(units_parse_size, ok[i].text, ok[i].size);
		check_units(units_parse_count, ok[i].text, ok[i].count);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (units_parse_size(bad[i], &v) != -EINVAL ||
		    units_parse_count(bad[i], &v) != -EINVAL)
			print_error("accepted '%s'\n", bad[i]);
		assert_int_equal(units_parse_size(bad[i], &v), -EINVAL);
		assert_int_equal(units_parse_count(bad[i], &v), -EINVAL);
	}
	/* Whole in one base, not in the other. */
	assert_int_equal(units_parse_size("0.3k", &v), -EINVAL);
	assert_int_equal(units_parse_count("0.3k", &v), 0);
	assert_int_equal(v, 300);
	/* Too big: a range error, not a syntax one. */
	assert_int_equal(units_parse_size("18446744073709551616", &v), -ERANGE);
	assert_int_equal(units_parse_size("16384P", &v), -ERANGE);
	assert_int_equal(units_parse_count("18446744073709552k", &v), -ERANGE);
	assert_int_equal(units_parse_size("99999999999999999999999999999999999999999", &v),
			 -ERANGE);
	/* ...unless it is malformed too. */
	assert_int_equal(units_parse_size("99999999999999999999999x", &v), -EINVAL);
	assert_int_equal(units_parse_size(NULL, &v), -EINVAL);
	assert_int_equal(units_parse("1k", 0, true, &v), -EINVAL);
	assert_int_equal(units_parse("1k", 10, false, &v), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hash),
		cmocka_unit_test(test_vec),
		cmocka_unit_test(test_log),
		cmocka_unit_test(test_units),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
