// SPDX-License-Identifier: MIT
/*
 * Description: the concurrency contract of GSS_F_THREADSAFE. One writer
 * streams batches of insertions (with hub promotions, kicks and growth
 * along the way) while three readers run edge, neighbour, node and
 * reachability queries. Readers must never see a weight below what was
 * already inserted before they started (insert-only stream), never miss a
 * neighbour, and the sanitizers (TSan in the tsan preset) must stay quiet.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>

#include "gss/gss.h"
#include "hash.h"

#define NODES  3000
#define PREFIX 20000 /* edges inserted before the readers start */
#define TOTAL  120000

struct shared {
	struct gss *g;
	struct gss_edge *e;  /* the whole stream */
	atomic_bool done;    /* the writer finished */
	atomic_int failures; /* reader checks that failed */
	atomic_uint queries; /* reader queries answered */
};

static int find_node(uint64_t node, int64_t w, void *arg)
{
	(void)w;
	return node == *(uint64_t *)arg; /* nonzero stops the scan: found */
}

static void *writer(void *arg)
{
	struct shared *sh = arg;

	for (size_t i = PREFIX; i < TOTAL; i += 500) {
		if (gss_update_batch(sh->g, sh->e + i, TOTAL - i < 500 ? TOTAL - i : 500, NULL))
			atomic_fetch_add(&sh->failures, 1);
	}
	atomic_store(&sh->done, true);
	return NULL;
}

static void *reader(void *arg)
{
	struct shared *sh = arg;
	struct rng r;

	rng_seed(&r, (uint64_t)pthread_self());
	/* Keep reading until the writer is done, and at least a few hundred times. */
	for (unsigned n = 0; n < 300 || !atomic_load(&sh->done); n++) {
		const struct gss_edge *e = &sh->e[rng_below(&r, PREFIX)];
		uint64_t dst = e->dst;
		int64_t w, out;
		uint64_t deg;
		bool reach;

		if (gss_edge_weight(sh->g, e->src, e->dst, &w) || w < 1)
			atomic_fetch_add(&sh->failures, 1);
		if (gss_successors(sh->g, e->src, find_node, &dst) != 1)
			atomic_fetch_add(&sh->failures, 1);
		if (gss_node_out(sh->g, e->src, &out, &deg) || out < 1 || deg < 1)
			atomic_fetch_add(&sh->failures, 1);
		if (gss_reachable(sh->g, e->src, e->dst, &reach) || !reach)
			atomic_fetch_add(&sh->failures, 1);
		atomic_fetch_add(&sh->queries, 1);
	}
	return NULL;
}

static void test_readers_and_writer(void **state)
{
	struct gss_params p;
	struct shared sh = { 0 };
	pthread_t w, rd[3];
	struct rng r;
	struct gss_stats st;

	(void)state;
	gss_params_init(&p);
	p.width = 16; /* small: the writer triggers kicks, hubs and growth */
	p.flags = GSS_F_THREADSAFE | GSS_F_GROW;
	assert_int_equal(gss_create(&p, &sh.g), 0);
	sh.e = malloc(TOTAL * sizeof(*sh.e));
	assert_non_null(sh.e);
	rng_seed(&r, 99);
	for (size_t i = 0; i < TOTAL; i++) {
		/* Skewed sources so some become hubs while readers are running. */
		double u = rng_unit(&r);
		uint64_t s = (uint64_t)(u * u * u * NODES), d = rng_below(&r, NODES);

		sh.e[i] = (struct gss_edge){ gss_node(sh.g, &s, sizeof(s)),
					     gss_node(sh.g, &d, sizeof(d)), 1 };
	}
	assert_int_equal(gss_update_batch(sh.g, sh.e, PREFIX, NULL), 0);

	assert_int_equal(pthread_create(&w, NULL, writer, &sh), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(pthread_create(&rd[i], NULL, reader, &sh), 0);
	pthread_join(w, NULL);
	for (int i = 0; i < 3; i++)
		pthread_join(rd[i], NULL);

	assert_int_equal(atomic_load(&sh.failures), 0);
	assert_true(atomic_load(&sh.queries) >= 900);
	assert_int_equal(gss_get_stats(sh.g, &st), 0);
	assert_true(st.grow_steps >= 1);
	assert_true(st.hubs >= 1);
	free(sh.e);
	gss_destroy(sh.g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_readers_and_writer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
