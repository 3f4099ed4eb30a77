// SPDX-License-Identifier: MIT
/*
 * The evaluation engine on small generated streams (a few thousand records,
 * so the file runs in seconds under ASan): metrics that must be exact when
 * nothing collides (32-bit fingerprints), metrics that must show error when
 * everything does (a tiny TCM), the one-sided guarantee on insert-only and
 * turnstile streams, truly unreachable pairs, the nodes and pairs files,
 * well-formed JSON, and the errors of a malformed stream.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* cmocka.h needs the four headers above first. */
#include <cmocka.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "eval.h"
#include "exact.h"

static struct eval_stream *gen_stream(enum gen_preset preset, uint64_t records, double deletes)
{
	struct gen_opts g = { .preset = preset, .seed = 7, .records = records, .deletes = deletes };
	struct eval_stream *s = NULL;
	char err[256] = "";

	assert_int_equal(eval_stream_gen(&g, &s, err, sizeof(err)), 0);
	assert_non_null(s);
	assert_true(eval_stream_records(s) == records);
	return s;
}

static void opts_for(struct eval_opts *o, const struct eval_stream *s, unsigned fp)
{
	eval_opts_init(o);
	o->dataset = "test";
	o->gss.fp_bits = fp;
	o->gss.expect_edges = exact_edge_count(eval_stream_exact(s));
	o->gss.fill = 1 / 1.3;
	o->reps = 1;
	o->nodes = 400;
	o->pairs = 20;
}

static void run_ok(const struct eval_stream *s, const struct eval_opts *o, struct eval_row *rows,
		   size_t want)
{
	char err[256] = "";
	size_t n = 0;

	if (eval_run(s, o, rows, &n, err, sizeof(err)))
		fail_msg("eval_run: %s", err);
	assert_int_equal(n, want);
}

static void assert_exact_row(const struct eval_row *r)
{
	assert_true(r->one_sided);
	assert_int_equal(r->violations, 0);
	assert_int_equal(r->dup_reports, 0);
	assert_int_equal(r->phantom_reports, 0);
	assert_int_equal(r->edge_wrong, 0);
	assert_true(r->edge_are == 0);
	assert_true(r->node_are == 0);
	assert_true(r->node_queries > 0);
	assert_true(r->succ_queries > 0 && r->pred_queries > 0);
	assert_true(r->succ_precision == 1);
	assert_true(r->pred_precision == 1);
	assert_true(r->reach_pairs > 0);
	assert_true(r->reach_tn == 1);
	assert_true(r->insert_mips > 0 && r->edge_mqs > 0 && r->succ_qps > 0);
	assert_true(r->succ_p50_us <= r->succ_p99_us);
}

/* 32-bit fingerprints on a small graph: no two nodes share a code, so every answer is exact. */
static void test_fp32_exact(void **state)
{
	struct eval_row rows[EVAL_MAX_ROWS];
	struct eval_stream *s;
	struct eval_opts o;

	(void)state;
	s = gen_stream(GEN_LKML, 20000, 0);
	opts_for(&o, s, 32);
	run_ok(s, &o, rows, 1);
	assert_false(rows[0].tcm);
	assert_int_equal(rows[0].fp_bits, 32);
	assert_string_equal(rows[0].dataset, "test");
	assert_int_equal(rows[0].records, 20000);
	assert_int_equal(rows[0].edges, exact_edge_count(eval_stream_exact(s)));
	assert_true(rows[0].bytes > 0 && rows[0].bytes_per_edge > 0);
	assert_true(rows[0].fill > 0 && rows[0].fill <= 1);
	assert_exact_row(&rows[0]);
	eval_stream_free(s);
}

/* Deletions keep every running sum >= 0, so the guarantees and exactness still hold. */
static void test_turnstile(void **state)
{
	struct eval_row rows[EVAL_MAX_ROWS];
	struct eval_stream *s;
	struct eval_opts o;

	(void)state;
	s = gen_stream(GEN_EMAIL, 8000, 0.2);
	opts_for(&o, s, 32);
	o.tcm = true;
	run_ok(s, &o, rows, 2);
	assert_exact_row(&rows[0]);
	assert_true(rows[1].one_sided);
	assert_int_equal(rows[1].violations, 0);
	eval_stream_free(s);
}

/* A TCM far too small for the graph: every answer is over-reported, never under. */
static void test_tiny_tcm(void **state)
{
	struct eval_row rows[EVAL_MAX_ROWS];
	struct eval_stream *s;
	struct eval_opts o;

	(void)state;
	s = gen_stream(GEN_LKML, 20000, 0);
	opts_for(&o, s, 16);
	o.tcm = true;
	o.tcm_factor = 0.01;
	run_ok(s, &o, rows, 2);
	assert_false(rows[0].tcm);
	assert_int_equal(rows[0].violations, 0);
	assert_true(rows[1].tcm);
	assert_int_equal(rows[1].depth, 4);
	assert_true(rows[1].width > 0 && rows[1].width < 64);
	assert_int_equal(rows[1].violations, 0);
	assert_true(rows[1].edge_are > 0);
	assert_true(rows[1].edge_wrong > 0);
	assert_true(rows[1].node_are > 0);
	assert_true(rows[1].succ_precision > 0 && rows[1].succ_precision < 1);
	assert_true(rows[1].pred_precision > 0 && rows[1].pred_precision < 1);
	assert_true(rows[1].reach_tn >= 0 && rows[1].reach_tn <= 1);
	assert_true(rows[1].bytes > 0);
	/* Per-field sanity of GSS-16 against the same stream. */
	assert_true(rows[0].edge_are < rows[1].edge_are);
	assert_true(rows[0].succ_precision > rows[1].succ_precision);
	eval_stream_free(s);
}

static void test_skip(void **state)
{
	struct eval_row rows[EVAL_MAX_ROWS];
	struct eval_stream *s;
	struct eval_opts o;

	(void)state;
	s = gen_stream(GEN_CIT, 3000, 0);
	opts_for(&o, s, 16);
	o.skip = EVAL_SKIP_EDGE | EVAL_SKIP_NODE | EVAL_SKIP_PRED | EVAL_SKIP_REACH;
	o.reps = 3;
	run_ok(s, &o, rows, 1);
	assert_int_equal(rows[0].reps, 3);
	assert_true(rows[0].insert_mips_min <= rows[0].insert_mips);
	assert_true(rows[0].insert_mips <= rows[0].insert_mips_max);
	assert_true(isnan(rows[0].edge_are) && isnan(rows[0].edge_mqs));
	assert_true(isnan(rows[0].node_are));
	assert_true(isnan(rows[0].pred_precision));
	assert_true(isnan(rows[0].reach_tn));
	assert_true(rows[0].succ_precision > 0);
	eval_stream_free(s);
}

static void test_unreachable_pairs(void **state)
{
	const struct exact *x;
	struct eval_stream *s;
	uint32_t pairs[2 * 50];
	size_t found = 0;

	(void)state;
	s = gen_stream(GEN_LKML, 20000, 0);
	x = eval_stream_exact(s);
	assert_int_equal(eval_find_unreachable(s, 50, 3, pairs, &found), 0);
	assert_true(found > 10);
	for (size_t i = 0; i < found; i++) {
		uint32_t a = pairs[2 * i], b = pairs[2 * i + 1];
		uint64_t out = 0, in = 0;
		bool reach = true;

		assert_true(a != b);
		assert_int_equal(exact_reachable(x, a, b, &reach), 0);
		assert_false(reach);
		assert_int_equal(exact_out(x, a, NULL, &out), 0);
		assert_int_equal(exact_in(x, b, NULL, &in), 0);
		assert_true(out > 0 && in > 0);
		for (size_t j = 0; j < i; j++)
			assert_false(pairs[2 * j] == a && pairs[2 * j + 1] == b);
	}
	eval_stream_free(s);
}

static char *write_tmp(const char *text)
{
	char *path = strdup("/tmp/test_eval_XXXXXX");
	int fd;

	assert_non_null(path);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return path;
}

static void add(struct eval_stream *s, const char *a, const char *b, int64_t w)
{
	assert_int_equal(eval_stream_add(s, a, strlen(a), b, strlen(b), w), 0);
}

/* Query nodes and unreachable pairs from files; unknown IDs and reachable pairs are counted. */
static void test_files(void **state)
{
	char *nodes = write_tmp("# query nodes\na\nzz\nb extra words\n\nd\n");
	char *pairs = write_tmp("c a\na c\nq r\n% comment\ne\td\n");
	char *bad = write_tmp("a b 1 2 3 x\n");
	struct eval_row rows[EVAL_MAX_ROWS];
	struct eval_stream *s;
	struct eval_opts o;
	char err[256] = "";
	size_t n = 0;

	(void)state;
	assert_int_equal(eval_stream_new(&s), 0);
	add(s, "a", "b", 2);
	add(s, "b", "c", 1);
	add(s, "d", "e", 5);
	add(s, "a", "b", 1);
	eval_opts_init(&o);
	o.gss.fp_bits = 32;
	o.gss.width = 4;
	o.reps = 1;
	o.nodes_path = nodes;
	o.pairs_path = pairs;
	run_ok(s, &o, rows, 1);
	assert_int_equal(rows[0].nodes_missing, 1);
	assert_int_equal(rows[0].node_queries, 3);
	assert_int_equal(rows[0].succ_queries, 3);
	assert_int_equal(rows[0].pred_queries, 1);
	assert_int_equal(rows[0].pairs_dropped, 2);
	assert_int_equal(rows[0].reach_pairs, 2);
	assert_true(rows[0].reach_tn == 1);
	assert_true(rows[0].edge_are == 0);

	/* Query nodes by number: a (0) and d (3); a number past the last node is refused. */
	{
		const uint32_t list[] = { 0, 3 }, wrong[] = { 0, 5 };

		o.nodes_path = NULL;
		o.node_list = list;
		o.node_count = 2;
		run_ok(s, &o, rows, 1);
		assert_int_equal(rows[0].nodes_missing, 0);
		assert_int_equal(rows[0].node_queries, 2);
		assert_int_equal(rows[0].succ_queries, 2);
		assert_int_equal(rows[0].pred_queries, 0);
		assert_true(isnan(rows[0].pred_precision));
		o.node_list = wrong;
		assert_int_equal(eval_run(s, &o, rows, &n, err, sizeof(err)), -EINVAL);
		o.node_list = NULL;
		o.nodes_path = nodes;
	}

	o.pairs_path = bad;
	assert_int_equal(eval_run(s, &o, rows, &n, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, ":1:"));
	o.pairs_path = "/nonexistent/pairs.txt";
	assert_int_equal(eval_run(s, &o, rows, &n, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "/nonexistent/pairs.txt"));
	o.pairs_path = NULL;
	o.nodes_path = "/nonexistent/nodes.txt";
	assert_int_equal(eval_run(s, &o, rows, &n, err, sizeof(err)), -ENOENT);
	assert_int_equal(n, 0);

	eval_stream_free(s);
	unlink(nodes);
	unlink(pairs);
	unlink(bad);
	free(nodes);
	free(pairs);
	free(bad);
}

static void test_errors(void **state)
{
	char *bad = write_tmp("a b 1\n# fine\nc d x\ne f\n");
	struct eval_row rows[EVAL_MAX_ROWS];
	struct eval_stream *s = NULL;
	struct eval_opts o;
	char err[256] = "";
	size_t n = 7;

	(void)state;
	assert_int_equal(eval_stream_load(bad, INPUT_TEXT, false, &s, err, sizeof(err)), -EBADMSG);
	assert_null(s);
	assert_non_null(strstr(err, ":3:"));
	assert_int_equal(eval_stream_load(bad, INPUT_TEXT, true, &s, err, sizeof(err)), 0);
	assert_int_equal(eval_stream_records(s), 2);
	assert_int_equal(eval_stream_skipped(s), 1);
	eval_stream_free(s);
	s = NULL;
	assert_int_equal(eval_stream_load("/nonexistent/stream.txt", INPUT_TEXT, false, &s, err,
					  sizeof(err)),
			 -ENOENT);
	assert_null(s);

	/* An empty stream has nothing to measure. */
	assert_int_equal(eval_stream_new(&s), 0);
	eval_opts_init(&o);
	assert_int_equal(eval_run(s, &o, rows, &n, err, sizeof(err)), -EINVAL);
	assert_int_equal(n, 0);
	/* Bad sketch parameters are refused before any work. */
	add(s, "a", "b", 1);
	o.gss.fp_bits = 13;
	assert_int_equal(eval_run(s, &o, rows, &n, err, sizeof(err)), -EINVAL);
	eval_stream_free(s);

	{
		struct gen_opts g = { .preset = GEN_NR_PRESETS };

		s = NULL;
		assert_int_equal(eval_stream_gen(&g, &s, err, sizeof(err)), -EINVAL);
		assert_null(s);
	}
	unlink(bad);
	free(bad);
}

/* Balanced braces and brackets outside strings, no NaN or Inf, one object per row. */
static void check_json(const char *j, size_t rows)
{
	int depth = 0, objects = 0;
	bool in_str = false;

	assert_int_equal(j[0], '{');
	for (const char *p = j; *p; p++) {
		if (in_str) {
			if (*p == '\\')
				p++;
			else if (*p == '"')
				in_str = false;
			continue;
		}
		switch (*p) {
		case '"':
			in_str = true;
			break;
		case '{':
			objects++;
			depth++;
			break;
		case '[':
			depth++;
			break;
		case '}':
		case ']':
			depth--;
			assert_true(depth >= 0);
			break;
		case 'n':
			/* Only null may start with n outside strings. */
			assert_int_equal(strncmp(p, "null", 4), 0);
			p += 3;
			break;
		case 'N':
		case 'I':
		case 'i':
			fail_msg("bare %c in JSON", *p);
			break;
		default:
			break;
		}
	}
	assert_false(in_str);
	assert_int_equal(depth, 0);
	assert_int_equal(objects, 1 + (int)rows);
}

static void test_output(void **state)
{
	struct eval_row rows[EVAL_MAX_ROWS];
	struct eval_stream *s;
	struct eval_opts o;
	size_t len = 0, lines = 0;
	char *buf = NULL;
	FILE *f;

	(void)state;
	s = gen_stream(GEN_EMAIL, 4000, 0);
	opts_for(&o, s, 12);
	o.dataset = "we\"ird\\name";
	o.tcm = true;
	o.skip = EVAL_SKIP_REACH; /* leaves NaN fields to print as null */
	run_ok(s, &o, rows, 2);

	f = open_memstream(&buf, &len);
	assert_non_null(f);
	eval_print_json(f, rows, 2);
	assert_int_equal(fclose(f), 0);
	check_json(buf, 2);
	assert_non_null(strstr(buf, "\"reach_tn\": null"));
	assert_non_null(strstr(buf, "we\\\"ird\\\\name"));
	free(buf);

	f = open_memstream(&buf, &len);
	assert_non_null(f);
	eval_print_json(f, rows, 0);
	assert_int_equal(fclose(f), 0);
	check_json(buf, 0);
	free(buf);

	f = open_memstream(&buf, &len);
	assert_non_null(f);
	eval_print_table(f, rows, 2);
	assert_int_equal(fclose(f), 0);
	for (size_t i = 0; i < len; i++)
		lines += buf[i] == '\n';
	assert_int_equal(lines, 3);
	assert_non_null(strstr(buf, "GSS-12 r4 k16"));
	assert_non_null(strstr(buf, "TCM d4 x8"));
	free(buf);
	eval_stream_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fp32_exact),
		cmocka_unit_test(test_turnstile),
		cmocka_unit_test(test_tiny_tcm),
		cmocka_unit_test(test_skip),
		cmocka_unit_test(test_unreachable_pairs),
		cmocka_unit_test(test_files),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_output),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
