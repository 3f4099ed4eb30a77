// SPDX-License-Identifier: MIT
/*
 * The generator's promises, checked on scaled-down runs (a few thousand to
 * 150k records, so the whole file stays fast under ASan): byte-identical
 * output per seed, exact line counts, well-formed lines, node and edge counts
 * as planned, a strict turnstile, cit's direction, caida's addresses and
 * packet sizes, and hubs in skew.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* cmocka.h needs the four headers above first. */
#include <cmocka.h>

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gen.h"

struct rec {
	uint32_t src;
	uint32_t dst;
	int32_t weight;
	uint64_t ts;
	uint64_t idx; /* line number, to keep sorts stable */
};

struct stream {
	char *buf;
	size_t len;
	struct rec *r;
	size_t n;
	uint64_t dels;
};

static void run_ok(const struct gen_opts *o, struct stream *st)
{
	FILE *f;

	memset(st, 0, sizeof(*st));
	f = open_memstream(&st->buf, &st->len);
	assert_non_null(f);
	assert_int_equal(gen_run(o, f), 0);
	assert_int_equal(fclose(f), 0);
}

static void stream_free(struct stream *st)
{
	free(st->buf);
	free(st->r);
}

static bool parse_u64(const char **p, const char *end, uint64_t max, uint64_t *out)
{
	const char *s = *p;
	uint64_t v = 0;

	if (s == end || *s < '0' || *s > '9')
		return false;
	while (s < end && *s >= '0' && *s <= '9') {
		if (v > (max - (uint64_t)(*s - '0')) / 10)
			return false;
		v = v * 10 + (uint64_t)(*s++ - '0');
	}
	*p = s;
	*out = v;
	return true;
}

static bool parse_node(const char **p, const char *end, bool quad, uint32_t *out)
{
	uint64_t v, octet;

	if (!quad) {
		if (!parse_u64(p, end, UINT32_MAX, &v))
			return false;
		*out = (uint32_t)v;
		return true;
	}
	v = 0;
	for (int i = 0; i < 4; i++) {
		if (i) {
			if (*p == end || **p != '.')
				return false;
			(*p)++;
		}
		if (!parse_u64(p, end, 255, &octet))
			return false;
		v = v << 8 | octet;
	}
	*out = (uint32_t)v;
	return true;
}

static bool parse_sep(const char **p, const char *end)
{
	if (*p == end || **p != ' ')
		return false;
	while (*p < end && **p == ' ')
		(*p)++;
	return true;
}

/* Every line must be exactly "src dst weight ts\n". */
static void parse_stream(struct stream *st, bool quad)
{
	const char *p = st->buf, *end = st->buf + st->len;
	size_t cap = 1024;

	st->r = malloc(cap * sizeof(*st->r));
	assert_non_null(st->r);
	assert_true(st->len > 0);
	assert_int_equal(end[-1], '\n');
	while (p < end) {
		struct rec r = { .idx = st->n };
		bool neg = false;
		uint64_t w = 0;

		assert_true(parse_node(&p, end, quad, &r.src));
		assert_true(parse_sep(&p, end));
		assert_true(parse_node(&p, end, quad, &r.dst));
		assert_true(parse_sep(&p, end));
		if (p < end && *p == '-') {
			neg = true;
			p++;
		}
		assert_true(parse_u64(&p, end, INT32_MAX, &w));
		assert_true(w > 0);
		r.weight = neg ? -(int32_t)w : (int32_t)w;
		assert_true(parse_sep(&p, end));
		assert_true(parse_u64(&p, end, UINT64_MAX, &r.ts));
		assert_true(p < end && *p == '\n');
		p++;
		if (st->n == cap) {
			cap *= 2;
			st->r = realloc(st->r, cap * sizeof(*st->r));
			assert_non_null(st->r);
		}
		if (st->n)
			assert_true(r.ts > st->r[st->n - 1].ts);
		st->dels += neg;
		st->r[st->n++] = r;
	}
}

static int cmp_pair_idx(const void *a, const void *b)
{
	const struct rec *x = a, *y = b;

	if (x->src != y->src)
		return x->src < y->src ? -1 : 1;
	if (x->dst != y->dst)
		return x->dst < y->dst ? -1 : 1;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static int cmp_u32_desc(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? 1 : x > y ? -1 : 0;
}

/* Distinct (src, dst) pairs among the insertions, and distinct node IDs. */
static void count_graph(const struct stream *st, uint64_t *edges, uint64_t *nodes)
{
	struct rec *r = malloc(st->n * sizeof(*r));
	uint32_t *ids = malloc(2 * st->n * sizeof(*ids));
	size_t m = 0, k = 0;

	assert_non_null(r);
	assert_non_null(ids);
	for (size_t i = 0; i < st->n; i++) {
		if (st->r[i].weight > 0) {
			r[m++] = st->r[i];
			ids[k++] = st->r[i].src;
			ids[k++] = st->r[i].dst;
		}
	}
	qsort(r, m, sizeof(*r), cmp_pair_idx);
	qsort(ids, k, sizeof(*ids), cmp_u32_desc);
	*edges = 0;
	for (size_t i = 0; i < m; i++)
		*edges += !i || r[i].src != r[i - 1].src || r[i].dst != r[i - 1].dst;
	*nodes = 0;
	for (size_t i = 0; i < k; i++)
		*nodes += !i || ids[i] != ids[i - 1];
	free(ids);
	free(r);
}

/*
 * Strict turnstile: in line order, every deletion negates an insertion of the
 * same (src, dst, weight) that is still live, so neither the per-pair sum nor
 * the live count of any (src, dst, weight) ever drops below zero.
 */
static void check_turnstile(const struct stream *st)
{
	struct rec *r = malloc(st->n * sizeof(*r));
	size_t i = 0;

	assert_non_null(r);
	memcpy(r, st->r, st->n * sizeof(*r));
	qsort(r, st->n, sizeof(*r), cmp_pair_idx);
	while (i < st->n) {
		size_t j = i;
		int64_t sum = 0;

		while (j < st->n && r[j].src == r[i].src && r[j].dst == r[i].dst) {
			sum += r[j].weight;
			assert_true(sum >= 0);
			if (r[j].weight < 0) {
				/* Its insertion is an earlier line of this group, not yet used. */
				size_t k;

				for (k = i; k < j; k++) {
					if (r[k].weight == -r[j].weight)
						break;
				}
				assert_true(k < j);
				r[k].weight = 0; /* consumed */
				r[j].weight = 0;
			}
			j++;
		}
		i = j;
	}
	free(r);
}

static void test_names(void **state)
{
	enum gen_preset p;

	(void)state;
	for (int i = 0; i < GEN_NR_PRESETS; i++) {
		assert_non_null(gen_preset_name((enum gen_preset)i));
		assert_non_null(gen_preset_describe((enum gen_preset)i));
		assert_int_equal(gen_preset_parse(gen_preset_name((enum gen_preset)i), &p), 0);
		assert_int_equal(p, i);
	}
	assert_int_equal(gen_preset_parse("skew", &p), 0);
	assert_int_equal(p, GEN_SKEW);
	assert_null(gen_preset_name(GEN_NR_PRESETS));
	assert_null(gen_preset_describe((enum gen_preset) - 1));
}

static void test_invalid(void **state)
{
	struct gen_opts o = { .preset = GEN_EMAIL, .records = 100 };
	struct gen_plan plan;
	enum gen_preset p = GEN_WEB;
	FILE *f = fopen("/dev/null", "w");

	(void)state;
	assert_non_null(f);
	assert_int_equal(gen_preset_parse("nope", &p), -EINVAL);
	assert_int_equal(gen_preset_parse("", &p), -EINVAL);
	assert_int_equal(gen_preset_parse("Email", &p), -EINVAL);
	assert_int_equal(gen_preset_parse(NULL, &p), -EINVAL);
	assert_int_equal(p, GEN_WEB);

	o.deletes = 0.51;
	assert_int_equal(gen_run(&o, f), -EINVAL);
	assert_int_equal(gen_plan(&o, &plan), -EINVAL);
	o.deletes = -0.01;
	assert_int_equal(gen_run(&o, f), -EINVAL);
	o.deletes = NAN;
	assert_int_equal(gen_run(&o, f), -EINVAL);
	o.deletes = 0.5;
	assert_int_equal(gen_plan(&o, &plan), 0);
	o.preset = GEN_NR_PRESETS;
	assert_int_equal(gen_run(&o, f), -EINVAL);
	o.preset = GEN_EMAIL;
	o.records = UINT64_MAX;
	assert_int_equal(gen_run(&o, f), -EINVAL);
	o.records = 100;
	assert_int_equal(gen_run(&o, NULL), -EINVAL);
	assert_int_equal(gen_run(NULL, f), -EINVAL);
	fclose(f);
}

static void test_write_error(void **state)
{
	struct gen_opts o = { .preset = GEN_LKML, .records = 20000 };
	FILE *f = fopen("/dev/null", "r");

	(void)state;
	assert_non_null(f);
	assert_int_equal(gen_run(&o, f), -EIO);
	fclose(f);
}

static void test_default_plan(void **state)
{
	static const uint64_t want[][3] = {
		[GEN_EMAIL] = { 504054, 420045, 265214 },
		[GEN_CIT] = { 421578, 421578, 34546 },
		[GEN_WEB] = { 1497134, 1497134, 325729 },
		[GEN_LKML] = { 1096440, 242976, 63399 },
		[GEN_CAIDA] = { 10000000, 2500000, 1000000 },
		[GEN_SKEW] = { 30000000, 10000000, 1000000 },
	};
	struct gen_opts o = { 0 };
	struct gen_plan plan;

	(void)state;
	for (int i = 0; i < GEN_NR_PRESETS; i++) {
		o.preset = (enum gen_preset)i;
		assert_int_equal(gen_plan(&o, &plan), 0);
		assert_int_equal(plan.records, want[i][0]);
		assert_int_equal(plan.deletions, 0);
		assert_int_equal(plan.edges, want[i][1]);
		assert_int_equal(plan.nodes, want[i][2]);
	}
	/* --records scales edges and nodes together. */
	o.preset = GEN_LKML;
	o.records = 1096440 / 10;
	assert_int_equal(gen_plan(&o, &plan), 0);
	assert_true(plan.edges >= 24297 && plan.edges <= 24298);
	assert_true(plan.nodes >= 6339 && plan.nodes <= 6340);
}

static void test_determinism(void **state)
{
	static const enum gen_preset which[] = { GEN_EMAIL, GEN_CAIDA };
	struct stream a, b, c;

	(void)state;
	for (size_t i = 0; i < sizeof(which) / sizeof(which[0]); i++) {
		struct gen_opts o = {
			.preset = which[i], .seed = 7, .records = 20000, .deletes = 0.2
		};

		run_ok(&o, &a);
		run_ok(&o, &b);
		o.seed = 8;
		run_ok(&o, &c);
		assert_int_equal(a.len, b.len);
		assert_memory_equal(a.buf, b.buf, a.len);
		assert_true(a.len != c.len || memcmp(a.buf, c.buf, a.len) != 0);
		stream_free(&a);
		stream_free(&b);
		stream_free(&c);
	}
}

/* Every preset, scaled down: exact line count, well-formed lines, sizes as planned. */
static void test_every_preset(void **state)
{
	(void)state;
	for (int i = 0; i < GEN_NR_PRESETS; i++) {
		struct gen_opts o = {
			.preset = (enum gen_preset)i, .seed = 1, .records = 30000, .deletes = 0.1
		};
		struct gen_plan plan;
		struct stream st;
		uint64_t edges, nodes;

		assert_int_equal(gen_plan(&o, &plan), 0);
		run_ok(&o, &st);
		parse_stream(&st, i == GEN_CAIDA);
		assert_int_equal(st.n, 30000);
		assert_int_equal(st.dels, 3000);
		assert_int_equal(plan.deletions, 3000);
		count_graph(&st, &edges, &nodes);
		assert_int_equal(edges, plan.edges);
		assert_int_equal(nodes, plan.nodes);
		check_turnstile(&st);
		stream_free(&st);
	}
}

static void test_deletions(void **state)
{
	static const double fr[] = { 0.0, 0.05, 0.3, 0.5 };

	(void)state;
	for (size_t i = 0; i < sizeof(fr) / sizeof(fr[0]); i++) {
		for (int p = GEN_LKML; p <= GEN_CAIDA; p++) {
			struct gen_opts o = { .preset = (enum gen_preset)p,
					      .seed = 3,
					      .records = 20001,
					      .deletes = fr[i] };
			struct stream st;
			int64_t total = 0;

			run_ok(&o, &st);
			parse_stream(&st, p == GEN_CAIDA);
			assert_int_equal(st.n, 20001);
			assert_true(fabs((double)st.dels / 20001.0 - fr[i]) < 0.001);
			check_turnstile(&st);
			for (size_t k = 0; k < st.n; k++)
				total += st.r[k].weight > 0 ? 1 : -1;
			assert_true(total >= 1);
			stream_free(&st);
		}
	}
}

static void test_cit_older(void **state)
{
	struct gen_opts o = { .preset = GEN_CIT, .seed = 5, .records = 40000 };
	struct stream st;

	(void)state;
	run_ok(&o, &st);
	parse_stream(&st, false);
	for (size_t i = 0; i < st.n; i++)
		assert_true(st.r[i].src > st.r[i].dst);
	stream_free(&st);
}

static void test_caida(void **state)
{
	struct gen_opts o = { .preset = GEN_CAIDA, .seed = 9, .records = 40000, .deletes = 0.2 };
	uint64_t small = 0, mtu = 0;
	struct stream st;

	(void)state;
	run_ok(&o, &st);
	/* parse_stream(quad) insists on a.b.c.d with every octet 0..255. */
	parse_stream(&st, true);
	for (size_t i = 0; i < st.n; i++) {
		int32_t w = abs(st.r[i].weight);
		uint32_t a = st.r[i].src >> 24, b = st.r[i].dst >> 24;

		assert_true(w >= 40 && w <= 1500);
		small += w <= 64;
		mtu += w >= 1400;
		assert_true(a != 0 && a != 127 && a < 224);
		assert_true(b != 0 && b != 127 && b < 224);
		assert_true(st.r[i].src != st.r[i].dst);
	}
	/* Bimodal: both modes are large. */
	assert_true(small > st.n / 4);
	assert_true(mtu > st.n / 5);
	/* Microseconds since 2015. */
	assert_true(st.r[0].ts > 1420070400000000ULL);
	stream_free(&st);
}

static void test_skew(void **state)
{
	struct gen_opts o = { .preset = GEN_SKEW, .seed = 11, .records = 150000 };
	struct gen_plan plan;
	struct stream st;
	uint32_t *out, *in;
	size_t m = 0, median;
	struct rec *r;
	double mean;

	(void)state;
	assert_int_equal(gen_plan(&o, &plan), 0);
	run_ok(&o, &st);
	parse_stream(&st, false);
	/* Degrees over distinct edges; IDs are dense, 0 .. nodes - 1. */
	r = malloc(st.n * sizeof(*r));
	out = calloc(plan.nodes, sizeof(*out));
	in = calloc(plan.nodes, sizeof(*in));
	assert_non_null(r);
	assert_non_null(out);
	assert_non_null(in);
	memcpy(r, st.r, st.n * sizeof(*r));
	qsort(r, st.n, sizeof(*r), cmp_pair_idx);
	for (size_t i = 0; i < st.n; i++) {
		if (i && r[i].src == r[i - 1].src && r[i].dst == r[i - 1].dst)
			continue;
		assert_true(r[i].src < plan.nodes && r[i].dst < plan.nodes);
		out[r[i].src]++;
		in[r[i].dst]++;
		m++;
	}
	assert_int_equal(m, plan.edges);
	qsort(out, plan.nodes, sizeof(*out), cmp_u32_desc);
	qsort(in, plan.nodes, sizeof(*in), cmp_u32_desc);
	mean = (double)m / (double)plan.nodes;
	median = plan.nodes / 2;
	assert_true(out[0] > 50 * mean);
	assert_true(in[0] > 50 * mean);
	/* More than one hub, and the median node is far below them. */
	assert_true(out[4] > 10 * mean);
	assert_true(out[median] < mean);
	free(in);
	free(out);
	free(r);
	stream_free(&st);
}

/* Toy sizes still give exactly the lines asked for. */
static void test_tiny(void **state)
{
	(void)state;
	for (int p = 0; p < GEN_NR_PRESETS; p++) {
		for (uint64_t n = 1; n <= 40; n++) {
			struct gen_opts o = { .preset = (enum gen_preset)p,
					      .seed = n,
					      .records = n,
					      .deletes = 0.5 };
			struct stream st;

			run_ok(&o, &st);
			parse_stream(&st, p == GEN_CAIDA);
			assert_int_equal(st.n, n);
			assert_int_equal(st.dels, n / 2);
			check_turnstile(&st);
			if (p == GEN_CIT) {
				for (size_t i = 0; i < st.n; i++)
					assert_true(st.r[i].src > st.r[i].dst);
			}
			stream_free(&st);
		}
	}
}

struct progress_log {
	uint64_t calls;
	uint64_t last;
	uint64_t total;
};

static void on_progress(uint64_t done, uint64_t total, void *arg)
{
	struct progress_log *l = arg;

	assert_true(done > l->last);
	assert_true(done <= total);
	l->calls++;
	l->last = done;
	l->total = total;
}

static void test_progress(void **state)
{
	struct progress_log l = { 0 };
	struct gen_opts o = {
		.preset = GEN_SKEW, .records = 5000, .progress = on_progress, .progress_arg = &l
	};
	struct stream st;

	(void)state;
	run_ok(&o, &st);
	assert_int_equal(l.calls, 1);
	assert_int_equal(l.last, 5000);
	assert_int_equal(l.total, 5000);
	stream_free(&st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),	    cmocka_unit_test(test_invalid),
		cmocka_unit_test(test_write_error), cmocka_unit_test(test_default_plan),
		cmocka_unit_test(test_determinism), cmocka_unit_test(test_every_preset),
		cmocka_unit_test(test_deletions),   cmocka_unit_test(test_cit_older),
		cmocka_unit_test(test_caida),	    cmocka_unit_test(test_skew),
		cmocka_unit_test(test_tiny),	    cmocka_unit_test(test_progress),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
