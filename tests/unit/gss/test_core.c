// SPDX-License-Identifier: MIT
/*
 * Description: libgss core behaviour against an exact model: exact answers
 * when no node codes collide, no false negatives and only over-estimates when
 * they do, deletions and delete-then-reinsert, hubs, kicks, spills, growth,
 * persistence (round trip, truncation, corruption) and merging.
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

#include "gss/gss.h"
#include "hash.h"
#include "hmap.h"

/* ============================ The model ============================ */

struct medge {
	uint32_t s, d;
	int64_t w;
};

struct model {
	uint32_t nodes;
	uint64_t *code; /* node -> code in the sketch under test */
	struct medge *e;
	uint32_t n, cap;
	struct hmap map;
};

static uint64_t pair_hash(uint32_t s, uint32_t d)
{
	return hash_mix64((uint64_t)s << 32 | d);
}

static void model_init(struct model *m, const struct gss *g, uint32_t nodes)
{
	m->nodes = nodes;
	m->code = calloc(nodes, sizeof(*m->code));
	assert_non_null(m->code);
	for (uint32_t i = 0; i < nodes; i++) {
		char id[32];
		int len = snprintf(id, sizeof(id), "node-%u", i);

		m->code[i] = gss_node(g, id, (size_t)len);
	}
	m->e = NULL;
	m->n = m->cap = 0;
	assert_int_equal(hmap_init(&m->map, 0), 0);
}

static void model_free(struct model *m)
{
	free(m->code);
	free(m->e);
	hmap_destroy(&m->map);
}

static struct medge *model_find(struct model *m, uint32_t s, uint32_t d)
{
	struct hmap_iter it;

	for (uint32_t i = hmap_first(&m->map, pair_hash(s, d), &it); i != HMAP_NONE;
	     i = hmap_next(&m->map, &it))
		if (m->e[i].s == s && m->e[i].d == d)
			return &m->e[i];
	return NULL;
}

static void model_update(struct model *m, uint32_t s, uint32_t d, int64_t w)
{
	struct medge *e = model_find(m, s, d);

	if (!e) {
		if (m->n == m->cap) {
			m->cap = m->cap ? 2 * m->cap : 1024;
			m->e = realloc(m->e, m->cap * sizeof(*m->e));
			assert_non_null(m->e);
		}
		assert_int_equal(hmap_insert(&m->map, pair_hash(s, d), m->n), 0);
		m->e[m->n++] = (struct medge){ s, d, 0 };
		e = &m->e[m->n - 1];
	}
	e->w += w;
}

static void both_update(struct gss *g, struct model *m, uint32_t s, uint32_t d, int64_t w)
{
	assert_int_equal(gss_update(g, m->code[s], m->code[d], w), 0);
	model_update(m, s, d, w);
}

/* True when no two model nodes share a code: then answers must be exact. */
static bool model_distinct(const struct model *m)
{
	uint64_t *c = malloc(m->nodes * sizeof(*c));
	bool ok = true;

	assert_non_null(c);
	memcpy(c, m->code, m->nodes * sizeof(*c));
	for (uint32_t i = 0; i < m->nodes; i++)
		for (uint32_t j = i + 1; j < m->nodes && ok; j++)
			ok = c[i] != c[j];
	free(c);
	return ok;
}

#define NSET_MAX 16384

/* A neighbour set as reported by the sketch, sorted for lookups. */
struct nset {
	struct {
		uint64_t v;
		int64_t w;
	} e[NSET_MAX];
	size_t n;
};

static int collect(uint64_t node, int64_t w, void *arg)
{
	struct nset *s = arg;

	assert_true(s->n < NSET_MAX);
	s->e[s->n].v = node;
	s->e[s->n++].w = w;
	return 0;
}

static int cmp_nbr(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

/* Sorts the set; returns false if a neighbour was reported twice. */
static bool nset_seal(struct nset *s)
{
	qsort(s->e, s->n, sizeof(s->e[0]), cmp_nbr);
	for (size_t i = 1; i < s->n; i++)
		if (s->e[i].v == s->e[i - 1].v)
			return false;
	return true;
}

static bool nset_has(const struct nset *s, uint64_t node, int64_t *w)
{
	size_t lo = 0, hi = s->n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (s->e[mid].v < node)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == s->n || s->e[lo].v != node)
		return false;
	if (w)
		*w = s->e[lo].w;
	return true;
}

/* Live model edges grouped by endpoint: off[v]..off[v+1] in idx. */
struct adj {
	uint32_t *off, *idx;
};

static void adj_build(const struct model *m, struct adj *a, bool out)
{
	a->off = calloc(m->nodes + 1, sizeof(*a->off));
	a->idx = malloc((m->n + 1) * sizeof(*a->idx));
	assert_non_null(a->off);
	assert_non_null(a->idx);
	for (uint32_t i = 0; i < m->n; i++)
		if (m->e[i].w)
			a->off[(out ? m->e[i].s : m->e[i].d) + 1]++;
	for (uint32_t v = 0; v < m->nodes; v++)
		a->off[v + 1] += a->off[v];
	{
		uint32_t *pos = malloc((m->nodes + 1) * sizeof(*pos));

		assert_non_null(pos);
		memcpy(pos, a->off, (m->nodes + 1) * sizeof(*pos));
		for (uint32_t i = 0; i < m->n; i++)
			if (m->e[i].w)
				a->idx[pos[out ? m->e[i].s : m->e[i].d]++] = i;
		free(pos);
	}
}

static void adj_free(struct adj *a)
{
	free(a->off);
	free(a->idx);
}

/* Distinct codes among the other ends of v's edges in a. */
static uint64_t distinct_codes(const struct model *m, const struct adj *a, uint32_t v, bool out)
{
	uint32_t n = a->off[v + 1] - a->off[v], k = 0;
	uint64_t *c = malloc((n + 1) * sizeof(*c));

	assert_non_null(c);
	for (uint32_t i = a->off[v]; i < a->off[v + 1]; i++) {
		const struct medge *e = &m->e[a->idx[i]];

		c[i - a->off[v]] = m->code[out ? e->d : e->s];
	}
	qsort(c, n, sizeof(*c), cmp_nbr);
	for (uint32_t i = 0; i < n; i++)
		k += !i || c[i] != c[i - 1];
	free(c);
	return k;
}

/* Compares one direction of node v: the sketch's set `got` against the model. */
static void check_side(const struct gss *g, const struct model *m, const struct adj *a, uint32_t v,
		       bool out, struct nset *got, bool exact, bool insert_only)
{
	int64_t sum = 0, gw;
	uint64_t deg = a->off[v + 1] - a->off[v], gd;

	assert_true(nset_seal(got));
	for (uint32_t i = a->off[v]; i < a->off[v + 1]; i++) {
		const struct medge *e = &m->e[a->idx[i]];
		int64_t w;

		sum += e->w;
		/* No false negatives, ever. */
		assert_true(nset_has(got, m->code[out ? e->d : e->s], &w));
		if (exact)
			assert_int_equal(w, e->w);
	}
	if (out)
		assert_int_equal(gss_node_out(g, m->code[v], &gw, &gd), 0);
	else
		assert_int_equal(gss_node_in(g, m->code[v], &gw, &gd), 0);
	if (exact) {
		assert_int_equal(got->n, deg);
		assert_int_equal(gd, deg);
		assert_int_equal(gw, sum);
	} else {
		/* Colliding neighbours merge into one hashed edge: count codes. */
		assert_true(gd >= distinct_codes(m, a, v, out));
		if (insert_only)
			assert_true(gw >= sum);
	}
}

/*
 * Checks g against m. exact: answers must equal the model; otherwise (codes
 * collide) answers must contain the model's and, if insert_only, weights may
 * only be over-estimated.
 */
static void check(const struct gss *g, const struct model *m, bool exact, bool insert_only)
{
	static struct nset got;
	struct adj aout, ain;

	for (uint32_t i = 0; i < m->n; i++) {
		const struct medge *e = &m->e[i];
		int64_t w;

		assert_int_equal(gss_edge_weight(g, m->code[e->s], m->code[e->d], &w), 0);
		if (exact)
			assert_int_equal(w, e->w);
		else if (insert_only)
			assert_true(w >= e->w);
	}
	adj_build(m, &aout, true);
	adj_build(m, &ain, false);
	for (uint32_t v = 0; v < m->nodes; v++) {
		got.n = 0;
		assert_int_equal(gss_successors(g, m->code[v], collect, &got), 0);
		check_side(g, m, &aout, v, true, &got, exact, insert_only);
		got.n = 0;
		assert_int_equal(gss_precursors(g, m->code[v], collect, &got), 0);
		check_side(g, m, &ain, v, false, &got, exact, insert_only);
	}
	adj_free(&aout);
	adj_free(&ain);
}

static struct gss *make(uint32_t width, uint32_t fp, uint32_t flags)
{
	struct gss_params p;
	struct gss *g = NULL;

	gss_params_init(&p);
	p.width = width;
	p.fp_bits = fp;
	p.flags = flags;
	assert_int_equal(gss_create(&p, &g), 0);
	return g;
}

static void random_stream(struct gss *g, struct model *m, struct rng *r, uint32_t n,
			  uint32_t zipfish, bool deletes)
{
	for (uint32_t i = 0; i < n; i++) {
		/* Squaring a uniform variate skews choices toward small node numbers. */
		double u1 = rng_unit(r), u2 = rng_unit(r);
		uint32_t s = (uint32_t)((zipfish ? u1 * u1 : u1) * m->nodes);
		uint32_t d = (uint32_t)((zipfish ? u2 * u2 : u2) * m->nodes);
		int64_t w = (int64_t)rng_below(r, 5) + 1;

		if (deletes && m->n && rng_below(r, 3) == 0) {
			struct medge *e = &m->e[rng_below(r, m->n)];

			if (e->w) {
				/* Delete all of it or part of it. */
				w = rng_below(r, 2) ? e->w : 1;
				both_update(g, m, e->s, e->d, -w);
				continue;
			}
		}
		both_update(g, m, s, d, w);
	}
}

/* ============================ Tests ============================ */

static char *tmpname(const char *tag)
{
	static char buf[256];

	snprintf(buf, sizeof(buf), "/tmp/gss-test-%d-%s.gss", (int)getpid(), tag);
	return buf;
}

static void test_plan(void **state)
{
	struct gss_params p;
	struct gss_plan plan;

	(void)state;
	gss_params_init(&p);
	p.expect_edges = 1000000;
	p.expect_nodes = 100000;
	assert_int_equal(gss_plan(&p, &plan), 0);
	assert_true(plan.fill > 0.80 && plan.fill < 0.90);
	assert_true((double)plan.node_space >= 200.0 * 100000);
	assert_true(plan.succ_precision >= 0.99);
	assert_true(plan.edge_error >= 0 && plan.edge_error < 1e-2);
	assert_false(plan.grow);

	gss_params_init(&p);
	p.memory = 64ULL << 20;
	assert_int_equal(gss_plan(&p, &plan), 0);
	assert_true(plan.matrix_bytes <= 64ULL << 20);
	assert_true(plan.matrix_bytes > 60ULL << 20);

	gss_params_init(&p);
	assert_int_equal(gss_plan(&p, &plan), 0);
	assert_true(plan.grow);

	gss_params_init(&p);
	p.fp_bits = 13;
	assert_int_equal(gss_plan(&p, &plan), -EINVAL);
	gss_params_init(&p);
	p.addrs = 5;
	assert_int_equal(gss_plan(&p, &plan), -EINVAL);
	gss_params_init(&p);
	p.addrs = 2;
	p.cands = 5;
	assert_int_equal(gss_plan(&p, &plan), -EINVAL);
}

static void test_exact_small(void **state)
{
	struct gss *g = make(64, 32, 0);
	struct model m;
	struct rng r;

	(void)state;
	model_init(&m, g, 500);
	assert_true(model_distinct(&m));
	rng_seed(&r, 7);
	random_stream(g, &m, &r, 20000, 0, false);
	check(g, &m, true, true);
	model_free(&m);
	gss_destroy(g);
}

static void test_bad_args(void **state)
{
	struct gss *g = make(16, 16, 0);
	struct gss_stats st;
	int64_t w;

	(void)state;
	assert_int_equal(gss_update(g, UINT64_MAX, 0, 1), -EINVAL);
	assert_int_equal(gss_edge_weight(g, 0, UINT64_MAX, &w), -EINVAL);
	assert_int_equal(gss_update(g, 1, 2, 0), 0);
	assert_int_equal(gss_get_stats(g, &st), 0);
	assert_int_equal(st.edges, 0);
	assert_int_equal(gss_ids(g, 1, NULL, NULL), -ENOTSUP);
	gss_destroy(g);
}

static void test_deletions(void **state)
{
	struct gss *g = make(32, 32, 0);
	struct model m;
	struct rng r;

	(void)state;
	model_init(&m, g, 400);
	assert_true(model_distinct(&m));
	rng_seed(&r, 11);
	random_stream(g, &m, &r, 30000, 1, true);
	check(g, &m, true, false);
	model_free(&m);
	gss_destroy(g);
}

/* Delete-then-reinsert must give the new weight, never a stale one. */
static void test_reinsert(void **state)
{
	struct gss *g = make(8, 16, 0);
	uint64_t a = gss_node(g, "a", 1), b = gss_node(g, "b", 1);
	int64_t w;

	(void)state;
	assert_int_equal(gss_update(g, a, b, 10), 0);
	assert_int_equal(gss_update(g, a, b, -10), 0);
	assert_int_equal(gss_edge_weight(g, a, b, &w), 0);
	assert_int_equal(w, 0);
	assert_int_equal(gss_update(g, a, b, 3), 0);
	assert_int_equal(gss_edge_weight(g, a, b, &w), 0);
	assert_int_equal(w, 3);
	gss_destroy(g);
}

/* A full tiny matrix: kicks, the buffer, and refills after deletions. */
static void test_overflow_and_refill(void **state)
{
	struct gss *g = make(4, 32, GSS_F_NO_HUBS);
	struct gss_stats st;
	struct model m;
	struct rng r;

	(void)state;
	model_init(&m, g, 300);
	rng_seed(&r, 3);
	random_stream(g, &m, &r, 3000, 0, false);
	assert_int_equal(gss_get_stats(g, &st), 0);
	assert_true(st.buffered > 0);
	assert_true(st.kicks > 0);
	check(g, &m, model_distinct(&m), true);
	/* Delete everything in the matrix: buffered edges must move in. */
	for (uint32_t i = 0; i < m.n; i++)
		if (m.e[i].w && rng_below(&r, 2))
			both_update(g, &m, m.e[i].s, m.e[i].d, -m.e[i].w);
	check(g, &m, model_distinct(&m), false);
	assert_int_equal(gss_get_stats(g, &st), 0);
	assert_true(st.rooms_used > st.rooms / 2);
	model_free(&m);
	gss_destroy(g);
}

/* Weights beyond int32 stay exact (spills). */
static void test_spill(void **state)
{
	struct gss *g = make(8, 16, 0);
	uint64_t a = gss_node(g, "a", 1), b = gss_node(g, "b", 1);
	int64_t w;

	(void)state;
	assert_int_equal(gss_update(g, a, b, 3000000000LL), 0);
	assert_int_equal(gss_edge_weight(g, a, b, &w), 0);
	assert_int_equal(w, 3000000000LL);
	assert_int_equal(gss_update(g, a, b, INT64_MAX - 3000000000LL), 0);
	assert_int_equal(gss_update(g, a, b, 1), -ERANGE);
	assert_int_equal(gss_edge_weight(g, a, b, &w), 0);
	assert_int_equal(w, INT64_MAX);
	assert_int_equal(gss_update(g, a, b, -(INT64_MAX - 5)), 0);
	assert_int_equal(gss_edge_weight(g, a, b, &w), 0);
	assert_int_equal(w, 5);
	assert_int_equal(gss_update(g, a, b, -5), 0);
	assert_int_equal(gss_update(g, a, b, -7000000000LL), 0);
	assert_int_equal(gss_edge_weight(g, a, b, &w), 0);
	assert_int_equal(w, -7000000000LL);
	gss_destroy(g);
}

/* A star with thousands of edges in a small matrix: hubs keep the buffer empty. */
static void test_hub(void **state)
{
	struct gss *g = make(64, 32, 0);
	struct gss_stats st;
	struct model m;

	(void)state;
	model_init(&m, g, 6001);
	assert_true(model_distinct(&m));
	for (uint32_t i = 1; i <= 6000; i++) {
		both_update(g, &m, 0, i, 1);
		both_update(g, &m, i, 0, 2);
	}
	assert_int_equal(gss_get_stats(g, &st), 0);
	assert_true(st.hubs >= 1);
	assert_true(st.hub_subnodes >= 2);
	assert_true(st.buffered < 60);
	check(g, &m, true, true);
	/* Deletions through sub-nodes. */
	for (uint32_t i = 1; i <= 6000; i += 3)
		both_update(g, &m, 0, i, -1);
	check(g, &m, true, false);
	model_free(&m);
	gss_destroy(g);
}

static void test_growth(void **state)
{
	struct gss *g = make(4, 32, GSS_F_GROW);
	struct gss_stats st;
	struct model m;
	struct rng r;

	(void)state;
	model_init(&m, g, 2000);
	assert_true(model_distinct(&m));
	rng_seed(&r, 5);
	random_stream(g, &m, &r, 40000, 1, true);
	assert_int_equal(gss_get_stats(g, &st), 0);
	assert_true(st.grow_steps >= 2);
	assert_true(st.buffered * 1000 <= st.edges + 1000);
	check(g, &m, true, false);
	/* A grown sketch survives a round trip through a file. */
	{
		char err[256], *path = tmpname("grown");
		struct gss *h = NULL;

		assert_int_equal(gss_save(g, path), 0);
		assert_int_equal(gss_load(path, 0, &h, err, sizeof(err)), 0);
		unlink(path);
		check(h, &m, true, false);
		gss_destroy(h);
	}
	model_free(&m);
	gss_destroy(g);
}

/* Colliding codes (12-bit fingerprints, tiny matrix): superset answers only. */
static void test_collisions(void **state)
{
	struct gss *g = make(4, 12, 0);
	struct model m;
	struct rng r;

	(void)state;
	model_init(&m, g, 3000);
	rng_seed(&r, 9);
	random_stream(g, &m, &r, 20000, 1, false);
	check(g, &m, false, true);
	model_free(&m);
	gss_destroy(g);
}

static void test_reach_and_friends(void **state)
{
	struct gss *g = make(32, 32, 0);
	const char *ids[] = { "a", "b", "c", "d", "e", "x" };
	uint64_t c[6];
	struct gss_nbr top[3];
	size_t n;
	int64_t w;
	bool ok;

	(void)state;
	for (int i = 0; i < 6; i++)
		c[i] = gss_node(g, ids[i], 1);
	/* a -> b -> c -> d, e -> a; x isolated */
	assert_int_equal(gss_update(g, c[0], c[1], 5), 0);
	assert_int_equal(gss_update(g, c[1], c[2], 1), 0);
	assert_int_equal(gss_update(g, c[2], c[3], 2), 0);
	assert_int_equal(gss_update(g, c[4], c[0], 9), 0);
	assert_int_equal(gss_update(g, c[0], c[3], 7), 0);
	assert_int_equal(gss_update(g, c[0], c[2], 1), 0);
	assert_int_equal(gss_reachable(g, c[4], c[3], &ok), 0);
	assert_true(ok);
	assert_int_equal(gss_reachable(g, c[3], c[0], &ok), 0);
	assert_false(ok);
	assert_int_equal(gss_reachable(g, c[5], c[5], &ok), 0);
	assert_true(ok);
	assert_int_equal(gss_reachable(g, c[5], c[0], &ok), 0);
	assert_false(ok);

	assert_int_equal(gss_top_out(g, c[0], 2, top, &n), 0);
	assert_int_equal(n, 2);
	assert_true(top[0].node == c[3] && top[0].w == 7);
	assert_true(top[1].node == c[1] && top[1].w == 5);
	assert_int_equal(gss_top_in(g, c[0], 3, top, &n), 0);
	assert_int_equal(n, 1);

	{
		uint64_t set[] = { c[0], c[1], c[2], c[0] };

		assert_int_equal(gss_subgraph_weight(g, set, 4, &w), 0);
		assert_int_equal(w, 5 + 1 + 1);
	}
	gss_destroy(g);
}

static void test_ids(void **state)
{
	struct gss *g = make(16, 16, GSS_F_IDS);
	uint64_t a, a2, e;

	(void)state;
	assert_int_equal(gss_add_id(g, "alice", 5, &a), 0);
	assert_int_equal(gss_add_id(g, "alice", 5, &a2), 0);
	assert_int_equal(gss_add_id(g, "", 0, &e), 0);
	assert_int_equal(a, a2);
	assert_int_equal(a, gss_node(g, "alice", 5));
	gss_destroy(g);
}

static void test_persist(void **state)
{
	struct gss *g = make(64, 20, GSS_F_IDS), *h = NULL;
	char err[256], *path = tmpname("persist");
	struct model m;
	struct rng r;
	FILE *f;
	long size;

	(void)state;
	model_init(&m, g, 1500);
	assert_true(model_distinct(&m));
	rng_seed(&r, 13);
	random_stream(g, &m, &r, 30000, 1, true);
	assert_int_equal(gss_update(g, m.code[1], m.code[2], 5000000000LL), 0);
	model_update(&m, 1, 2, 5000000000LL);
	assert_int_equal(gss_add_id(g, "node-1", 6, NULL), 0);
	assert_int_equal(gss_save(g, path), 0);

	assert_int_equal(gss_load(path, 0, &h, err, sizeof(err)), 0);
	check(h, &m, true, false);
	gss_destroy(h);
	assert_int_equal(gss_load(path, GSS_LOAD_MMAP, &h, err, sizeof(err)), 0);
	check(h, &m, true, false);
	/* A mapped sketch is copy-on-write: updating it must not change the file. */
	assert_int_equal(gss_update(h, m.code[3], m.code[4], 1), 0);
	gss_destroy(h);
	assert_int_equal(gss_load(path, 0, &h, err, sizeof(err)), 0);
	check(h, &m, true, false);
	gss_destroy(h);

	/* Corruption: flip one byte in the matrix. */
	f = fopen(path, "r+b");
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	fseek(f, 5000, SEEK_SET);
	fputc(0x5a ^ fgetc(f), f);
	fclose(f);
	assert_int_equal(gss_load(path, 0, &h, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "checksum mismatch in section matrix"));

	/* Truncation. */
	assert_int_equal(truncate(path, size - 100), 0);
	assert_int_equal(gss_load(path, 0, &h, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "truncated"));
	assert_int_equal(truncate(path, 100), 0);
	assert_int_equal(gss_load(path, 0, &h, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "truncated"));

	/* Not a sketch. */
	f = fopen(path, "wb");
	assert_non_null(f);
	for (int i = 0; i < 8192; i++)
		fputc(i, f);
	fclose(f);
	assert_int_equal(gss_load(path, 0, &h, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "magic"));
	unlink(path);
	assert_true(gss_load(path, 0, &h, err, sizeof(err)) == -ENOENT);
	model_free(&m);
	gss_destroy(g);
}

static void test_merge(void **state)
{
	struct gss *a = make(32, 32, 0), *b = make(32, 32, 0), *c = make(16, 32, 0);
	struct model m;
	struct rng r;

	(void)state;
	model_init(&m, a, 800);
	assert_true(model_distinct(&m));
	rng_seed(&r, 17);
	for (int i = 0; i < 20000; i++) {
		uint32_t s = (uint32_t)rng_below(&r, m.nodes), d = (uint32_t)rng_below(&r, m.nodes);
		struct gss *t = i % 2 ? a : b;

		assert_int_equal(gss_update(t, m.code[s], m.code[d], 1), 0);
		model_update(&m, s, d, 1);
	}
	assert_int_equal(gss_merge(a, b), 0);
	check(a, &m, true, true);
	assert_int_equal(gss_merge(a, c), -EINVAL);
	assert_int_equal(gss_merge(a, a), -EINVAL);
	model_free(&m);
	gss_destroy(a);
	gss_destroy(b);
	gss_destroy(c);
}

static void test_batch(void **state)
{
	struct gss *g = make(64, 16, 0), *h = make(64, 16, 0);
	struct gss_edge e[1000];
	struct rng r;
	int64_t w1, w2;

	(void)state;
	rng_seed(&r, 21);
	for (int i = 0; i < 1000; i++)
		e[i] = (struct gss_edge){ rng_below(&r, 5000), rng_below(&r, 5000),
					  (int64_t)rng_below(&r, 9) - 2 };
	assert_int_equal(gss_update_batch(g, e, 1000, NULL), 0);
	for (int i = 0; i < 1000; i++)
		assert_int_equal(gss_update(h, e[i].src, e[i].dst, e[i].w), 0);
	for (int i = 0; i < 1000; i++) {
		assert_int_equal(gss_edge_weight(g, e[i].src, e[i].dst, &w1), 0);
		assert_int_equal(gss_edge_weight(h, e[i].src, e[i].dst, &w2), 0);
		assert_int_equal(w1, w2);
	}
	e[500].src = UINT64_MAX;
	{
		size_t done;

		assert_int_equal(gss_update_batch(g, e, 1000, &done), -EINVAL);
		assert_int_equal(done, 500);
	}
	gss_destroy(g);
	gss_destroy(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plan),
		cmocka_unit_test(test_exact_small),
		cmocka_unit_test(test_bad_args),
		cmocka_unit_test(test_deletions),
		cmocka_unit_test(test_reinsert),
		cmocka_unit_test(test_overflow_and_refill),
		cmocka_unit_test(test_spill),
		cmocka_unit_test(test_hub),
		cmocka_unit_test(test_growth),
		cmocka_unit_test(test_collisions),
		cmocka_unit_test(test_reach_and_friends),
		cmocka_unit_test(test_ids),
		cmocka_unit_test(test_persist),
		cmocka_unit_test(test_merge),
		cmocka_unit_test(test_batch),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
