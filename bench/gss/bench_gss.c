// SPDX-License-Identifier: MIT
/*
 * bench_gss: the GSS paper's evaluation (Gou et al., ICDE 2019,
 * arXiv:1809.01246, Table I and Figs 8-13) on this library, plus the
 * targets of the GSS issue. It measures; it never passes or fails.
 *
 * Data. The six `gen` presets (email, cit, web, lkml, caida, skew: synthetic
 * look-alikes of the paper's sets, see gss/tools/gen.c) at their default
 * sizes, and the real lkml-reply graph when its directory is given: each
 * line "src dst w" of edges-weighted.txt becomes w records of weight 1,
 * shuffled with a fixed seed; nodes.txt is the query set and
 * unreachable-pairs.txt the reachability set, as in the authors' runs.
 *
 * Parameters, as in the paper's section VII:
 *   - fingerprints of 16 and 12 bits;
 *   - r = k = 16, or r = k = 8 on the small sets email-EuAll and cit-HepPh.
 *     libgss caps r at 4 and takes candidates in shell order rather than
 *     sampling them, so r = k = 16 becomes r = 4, k = 16 (all 16 pairs of 4
 *     addresses) and r = k = 8 becomes r = 3, k = 8 (8 of 9 pairs);
 *   - a matrix with rooms = 1.3 x distinct edges (the paper sizes the
 *     matrix near |E| rooms and reports the buffer empty from there on);
 *   - TCM with 4 matrices and 8x the memory of the GSS-16 matrix.
 *
 * Targets (second table): insert rate with the sketch in cache (lkml) and
 * at >= 256 MiB (skew, 10 M distinct edges, m = 2048: exactly 256 MiB),
 * successor and precursor p99 latency on that sketch, the buffer share on
 * skew, and bytes per edge at 16-bit fingerprints.
 *
 * Every timing is the median of --reps runs (default 3) on fresh sketches;
 * see gss/tools/eval.h for what each figure means. Progress goes to stderr,
 * the tables to stdout, all fields to --json.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "eval.h"
#include "exact.h"
#include "gen.h"
#include "hash.h"

#define MAX_ROWS    64
#define ROOM_FACTOR 1.3
#define BIG_WIDTH   2048 /* 2048^2 buckets of 64 bytes: 256 MiB */

struct dataset {
	const char *name;
	enum gen_preset preset; /* unless real */
	bool real;		/* lkml-real: read from --lkml */
	bool small;		/* the paper's r = k = 8 sets */
	bool quick;		/* part of --quick */
};

static const struct dataset datasets[] = {
	{ .name = "email", .preset = GEN_EMAIL, .small = true, .quick = true },
	{ .name = "cit", .preset = GEN_CIT, .small = true },
	{ .name = "web", .preset = GEN_WEB },
	{ .name = "lkml", .preset = GEN_LKML, .quick = true },
	{ .name = "caida", .preset = GEN_CAIDA },
	{ .name = "skew", .preset = GEN_SKEW },
	{ .name = "lkml-real", .preset = GEN_LKML, .real = true, .quick = true },
};

#define NR_DATASETS (sizeof(datasets) / sizeof(datasets[0]))

/* Figures for the targets table, NaN until measured. */
struct targets {
	double cache_mips;
	char cache_where[96];
	double big_mips, big_succ_p99, big_pred_p99, big_buffer, big_bpe, big_mb;
	double skew_buffer16, skew_buffer12, skew_buffer_nohub;
	char bpe[512]; /* "email 12.3, cit ..." at 16-bit fingerprints */
};

struct bench {
	unsigned reps;
	uint64_t seed;
	const char *lkml_dir;
	bool want[NR_DATASETS];
	bool big;   /* the >= 256 MiB skew target */
	bool plain; /* skew without hub detection */
	struct eval_row rows[MAX_ROWS];
	size_t nrows;
	struct targets t;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void machine(FILE *f)
{
	char model[256] = "unknown", *line = NULL;
	size_t len = 0;
	struct utsname u;
	FILE *c;

	c = fopen("/proc/cpuinfo", "re");
	if (c) {
		while (getline(&line, &len, c) != -1) {
			char *colon = strchr(line, ':');

			if (strncmp(line, "model name", 10) != 0 || !colon)
				continue;
			snprintf(model, sizeof(model), "%s", colon + 2);
			model[strcspn(model, "\n")] = 0;
			break;
		}
		free(line);
		fclose(c);
	}
	uname(&u);
	/* Cache sizes are left out: VMs often report the host's or none at all. */
	fprintf(f, "# machine: %s, %ld cores online, %ld MiB RAM; %s %s\n", model,
		sysconf(_SC_NPROCESSORS_ONLN),
		sysconf(_SC_PHYS_PAGES) / 1024 * sysconf(_SC_PAGESIZE) / 1024, u.sysname,
		u.release);
	fprintf(f, "# compiler: gcc %s%s\n", __VERSION__,
#ifdef __OPTIMIZE__
		", optimised"
#else
		", NOT optimised (use the release preset)"
#endif
	);
}

/* edges-weighted.txt as a stream: w records of weight 1 per line, shuffled. */
struct real_edge {
	char *src, *dst;
	uint32_t w;
};

static int load_real(const char *dir, uint64_t seed, struct eval_stream **out)
{
	struct real_edge *e = NULL;
	size_t n = 0, cap = 0, len = 0, total = 0;
	struct eval_stream *s = NULL;
	uint32_t *order = NULL;
	char path[4096], *line = NULL;
	struct rng r;
	FILE *f;
	int ret = 0;

	snprintf(path, sizeof(path), "%s/edges-weighted.txt", dir);
	f = fopen(path, "re");
	if (!f) {
		fprintf(stderr, "bench_gss: %s: %s\n", path, strerrordesc_np(errno));
		return -errno;
	}
	while (getline(&line, &len, f) != -1) {
		char *save = NULL, *a = strtok_r(line, " \t\r\n", &save);
		char *b = strtok_r(NULL, " \t\r\n", &save), *c = strtok_r(NULL, " \t\r\n", &save);
		char *end = NULL;
		unsigned long w;

		if (!a || !b || !c || *a == '#' || *a == '%')
			continue;
		w = strtoul(c, &end, 10);
		if (*end || !w || w > UINT32_MAX)
			continue;
		if (n == cap) {
			struct real_edge *ne;

			cap = cap ? 2 * cap : 1024;
			ne = realloc(e, cap * sizeof(*e));
			if (!ne) {
				ret = -ENOMEM;
				goto out;
			}
			e = ne;
		}
		e[n].src = strdup(a);
		e[n].dst = strdup(b);
		e[n].w = (uint32_t)w;
		if (!e[n].src || !e[n].dst) {
			free(e[n].src);
			free(e[n].dst);
			ret = -ENOMEM;
			goto out;
		}
		total += w;
		n++;
	}
	order = malloc((total ? total : 1) * sizeof(*order));
	if (!order) {
		ret = -ENOMEM;
		goto out;
	}
	for (size_t i = 0, k = 0; i < n; i++) {
		for (uint32_t j = 0; j < e[i].w; j++)
			order[k++] = (uint32_t)i;
	}
	rng_seed(&r, seed);
	for (size_t i = total; i > 1; i--) {
		size_t j = (size_t)rng_below(&r, i);
		uint32_t t = order[i - 1];

		order[i - 1] = order[j];
		order[j] = t;
	}
	ret = eval_stream_new(&s);
	for (size_t i = 0; i < total && !ret; i++) {
		const struct real_edge *x = &e[order[i]];

		ret = eval_stream_add(s, x->src, strlen(x->src), x->dst, strlen(x->dst), 1);
	}
	if (ret) {
		eval_stream_free(s);
		s = NULL;
	}
out:
	if (ret)
		fprintf(stderr, "bench_gss: loading %s: %s\n", path, strerrordesc_np(-ret));
	for (size_t i = 0; i < n; i++) {
		free(e[i].src);
		free(e[i].dst);
	}
	free(e);
	free(order);
	free(line);
	fclose(f);
	*out = s;
	return ret;
}

static void gss_config(struct eval_opts *o, const struct eval_stream *s, unsigned fp,
		       const struct dataset *d)
{
	const struct exact *x = eval_stream_exact(s);

	o->gss.fp_bits = fp;
	o->gss.addrs = d->small ? 3 : 4;
	o->gss.cands = d->small ? 8 : 16;
	o->gss.expect_edges = exact_edge_count(x);
	o->gss.expect_nodes = exact_node_count(x);
	o->gss.fill = 1.0 / ROOM_FACTOR;
}

static int run(struct bench *b, const struct eval_stream *s, const struct eval_opts *o,
	       const char *what)
{
	char err[512] = "";
	size_t n = 0;
	double t0 = now_s();
	int ret;

	if (b->nrows + EVAL_MAX_ROWS > MAX_ROWS) {
		fprintf(stderr, "bench_gss: too many rows\n");
		return -ENOSPC;
	}
	ret = eval_run(s, o, &b->rows[b->nrows], &n, err, sizeof(err));
	if (ret) {
		fprintf(stderr, "bench_gss: %s %s: %s\n", o->dataset, what, err);
		return ret;
	}
	for (size_t i = 0; i < n; i++) {
		const struct eval_row *r = &b->rows[b->nrows + i];

		fprintf(stderr,
			"  %-15s m=%u %.1f MB, insert %.2f Mips (%.2f-%.2f), %llu buffered, "
			"%llu hubs, violations %llu\n",
			r->name, r->width, (double)r->bytes / 1e6, r->insert_mips,
			r->insert_mips_min, r->insert_mips_max, (unsigned long long)r->buffered,
			(unsigned long long)r->hubs, (unsigned long long)r->violations);
	}
	fprintf(stderr, "  %s done in %.1f s\n", what, now_s() - t0);
	b->nrows += n;
	return 0;
}

static void note_bpe(struct targets *t, const char *name, double bpe)
{
	size_t used = strlen(t->bpe);

	snprintf(t->bpe + used, sizeof(t->bpe) - used, "%s%s %.1f", used ? ", " : "", name, bpe);
}

/* The >= 256 MiB sketch: 16-bit fingerprints, r = 4, k = 16, m = 2048. */
static int run_big(struct bench *b, const struct eval_stream *s, const struct dataset *d)
{
	struct eval_opts o;
	const struct eval_row *r;
	int ret;

	eval_opts_init(&o);
	o.dataset = "skew-256M";
	o.reps = b->reps;
	o.seed = b->seed;
	gss_config(&o, s, 16, d);
	o.gss.width = BIG_WIDTH;
	o.skip = EVAL_SKIP_EDGE | EVAL_SKIP_NODE | EVAL_SKIP_REACH;
	ret = run(b, s, &o, "GSS-16 at 256 MiB");
	if (ret)
		return ret;
	r = &b->rows[b->nrows - 1];
	b->t.big_mips = r->insert_mips;
	b->t.big_succ_p99 = r->succ_p99_us;
	b->t.big_pred_p99 = r->pred_p99_us;
	b->t.big_buffer = r->buffer_pct;
	b->t.big_bpe = r->bytes_per_edge;
	b->t.big_mb = (double)r->bytes / (1 << 20);
	return 0;
}

static int run_dataset(struct bench *b, const struct dataset *d)
{
	char nodes[4096], pairs[4096];
	struct eval_stream *s = NULL;
	const struct exact *x;
	struct eval_opts o;
	double t0 = now_s();
	size_t first;
	int ret;

	fprintf(stderr, "%s: loading\n", d->name);
	if (d->real) {
		ret = load_real(b->lkml_dir, b->seed, &s);
	} else {
		struct gen_opts g = { .preset = d->preset, .seed = b->seed };
		char err[256] = "";

		ret = eval_stream_gen(&g, &s, err, sizeof(err));
		if (ret)
			fprintf(stderr, "bench_gss: %s: %s\n", d->name, err);
	}
	if (ret)
		return ret;
	x = eval_stream_exact(s);
	fprintf(stderr, "  %llu records, %zu distinct edges, %zu nodes in %.1f s\n",
		(unsigned long long)eval_stream_records(s), exact_edge_count(x),
		exact_node_count(x), now_s() - t0);

	eval_opts_init(&o);
	o.dataset = d->name;
	o.reps = b->reps;
	o.seed = b->seed;
	if (d->real) {
		snprintf(nodes, sizeof(nodes), "%s/nodes.txt", b->lkml_dir);
		snprintf(pairs, sizeof(pairs), "%s/unreachable-pairs.txt", b->lkml_dir);
		o.nodes_path = access(nodes, R_OK) ? NULL : nodes;
		o.pairs_path = access(pairs, R_OK) ? NULL : pairs;
	}
	first = b->nrows;
	gss_config(&o, s, 16, d);
	o.tcm = true;
	ret = run(b, s, &o, "GSS-16 + TCM");
	if (ret)
		goto out;
	gss_config(&o, s, 12, d);
	o.tcm = false;
	ret = run(b, s, &o, "GSS-12");
	if (ret)
		goto out;

	note_bpe(&b->t, d->name, b->rows[first].bytes_per_edge);
	if (!strcmp(d->name, "lkml-real") || (!strcmp(d->name, "lkml") && isnan(b->t.cache_mips))) {
		b->t.cache_mips = b->rows[first].insert_mips;
		snprintf(b->t.cache_where, sizeof(b->t.cache_where), "%s, %s, %.1f MB", d->name,
			 b->rows[first].name, (double)b->rows[first].bytes / 1e6);
	}
	if (d->preset == GEN_SKEW && !d->real) {
		b->t.skew_buffer16 = b->rows[first].buffer_pct;
		b->t.skew_buffer12 = b->rows[b->nrows - 1].buffer_pct;
		/*
		 * The paper's plain design, to show what hub detection buys on skew.
		 * Its answers equal those with hubs (Theorem 1), so only the costs
		 * are measured.
		 */
		if (b->plain) {
			gss_config(&o, s, 16, d);
			o.gss.flags |= GSS_F_NO_HUBS;
			o.skip = EVAL_SKIP_EDGE | EVAL_SKIP_NODE | EVAL_SKIP_REACH;
			ret = run(b, s, &o, "GSS-16 without hubs");
			if (ret)
				goto out;
			b->t.skew_buffer_nohub = b->rows[b->nrows - 1].buffer_pct;
		}
		if (b->big)
			ret = run_big(b, s, d);
	}
	fprintf(stderr, "%s: %.1f s\n", d->name, now_s() - t0);
out:
	eval_stream_free(s);
	return ret;
}

static void print_num(const char *what, double v, const char *unit, const char *where)
{
	if (isnan(v))
		printf("  %-44s %12s   %s\n", what, "not run", where);
	else
		printf("  %-44s %12.2f %s %s\n", what, v, unit, where);
}

static void print_targets(const struct bench *b)
{
	const struct targets *t = &b->t;
	char where[160];

	printf("\nTargets\n");
	print_num("insert, sketch in cache", t->cache_mips, "Mips", t->cache_where);
	snprintf(where, sizeof(where), "skew 10 M edges, GSS-16 r4 k16, m = %d, %.0f MiB",
		 BIG_WIDTH, isnan(t->big_mb) ? 256.0 : t->big_mb);
	print_num("insert, sketch >= 256 MiB", t->big_mips, "Mips", where);
	print_num("successor p99", t->big_succ_p99, "us  ", where);
	print_num("precursor p99", t->big_pred_p99, "us  ", where);
	print_num("buffer, skew at 1.3x rooms, GSS-16", t->skew_buffer16, "%   ", "");
	print_num("buffer, skew at 1.3x rooms, GSS-12", t->skew_buffer12, "%   ", "");
	print_num("buffer, skew at 1.3x rooms, GSS-16 no hubs", t->skew_buffer_nohub, "%   ",
		  "(the paper's design)");
	print_num("buffer, skew at 256 MiB, GSS-16", t->big_buffer, "%   ", "");
	print_num("bytes per edge, skew at 256 MiB", t->big_bpe, "B   ", "");
	printf("  %-44s %s\n", "bytes per edge at 16-bit fp (1.3x rooms)",
	       t->bpe[0] ? t->bpe : "-");
}

static void usage(FILE *f)
{
	fprintf(f, "usage: bench_gss [--quick] [--datasets LIST] [--no-big] [--no-plain]\n"
		   "                 [--lkml DIR] [--reps N] [--seed N] [--json FILE]\n"
		   "  LIST: comma-separated among");
	for (size_t i = 0; i < NR_DATASETS; i++)
		fprintf(f, " %s", datasets[i].name);
	fprintf(f, "\n  --quick: email, lkml and lkml-real, no 256 MiB run\n"
		   "  --no-big: no 256 MiB skew run; --no-plain: no skew run without hubs\n"
		   "  lkml-real needs --lkml DIR (edges-weighted.txt, nodes.txt, "
		   "unreachable-pairs.txt)\n");
}

static int pick(struct bench *b, const char *list)
{
	char *copy = strdup(list), *save = NULL;
	int ret = 0;

	if (!copy)
		return -ENOMEM;
	memset(b->want, 0, sizeof(b->want));
	for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		size_t i;

		for (i = 0; i < NR_DATASETS && strcmp(datasets[i].name, tok) != 0; i++)
			;
		if (i == NR_DATASETS) {
			fprintf(stderr, "bench_gss: unknown dataset '%s'\n", tok);
			ret = -EINVAL;
			break;
		}
		b->want[i] = true;
	}
	free(copy);
	return ret;
}

/* An option's value: "--opt=value" or "--opt value". */
static const char *opt_value(int argc, char **argv, int *i, const char *name)
{
	size_t len = strlen(name);

	if (strncmp(argv[*i], name, len) != 0)
		return NULL;
	if (argv[*i][len] == '=')
		return argv[*i] + len + 1;
	if (argv[*i][len] || *i + 1 >= argc)
		return NULL;
	return argv[++*i];
}

/* 0, 1 for --help, or -EINVAL. */
static int parse_args(struct bench *b, int argc, char **argv, const char **json)
{
	for (size_t i = 0; i < NR_DATASETS; i++)
		b->want[i] = true;
	for (int i = 1; i < argc; i++) {
		const char *v;
		char *end = NULL;

		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
			return 1;
		if (!strcmp(argv[i], "--quick")) {
			for (size_t k = 0; k < NR_DATASETS; k++)
				b->want[k] = datasets[k].quick;
			b->big = false;
		} else if (!strcmp(argv[i], "--no-big")) {
			b->big = false;
		} else if (!strcmp(argv[i], "--no-plain")) {
			b->plain = false;
		} else if ((v = opt_value(argc, argv, &i, "--datasets"))) {
			if (pick(b, v))
				return -EINVAL;
		} else if ((v = opt_value(argc, argv, &i, "--lkml"))) {
			b->lkml_dir = v;
		} else if ((v = opt_value(argc, argv, &i, "--json"))) {
			*json = v;
		} else if ((v = opt_value(argc, argv, &i, "--reps"))) {
			unsigned long r = strtoul(v, &end, 10);

			if (*end || !r || r > 99)
				return -EINVAL;
			b->reps = (unsigned)r;
		} else if ((v = opt_value(argc, argv, &i, "--seed"))) {
			b->seed = strtoull(v, &end, 0);
			if (*end)
				return -EINVAL;
		} else {
			fprintf(stderr, "bench_gss: unknown argument '%s'\n", argv[i]);
			return -EINVAL;
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	static struct bench b;
	const char *json = NULL;
	double t0 = now_s();
	int ret = 0;

	b.reps = 3;
	b.seed = 1;
	b.big = true;
	b.plain = true;
	b.t = (struct targets){ .cache_mips = NAN,
				.big_mips = NAN,
				.big_succ_p99 = NAN,
				.big_pred_p99 = NAN,
				.big_buffer = NAN,
				.big_bpe = NAN,
				.big_mb = NAN,
				.skew_buffer16 = NAN,
				.skew_buffer12 = NAN,
				.skew_buffer_nohub = NAN };
	ret = parse_args(&b, argc, argv, &json);
	if (ret) {
		usage(ret > 0 ? stdout : stderr);
		return ret > 0 ? 0 : 2;
	}
	/* The 256 MiB run needs the skew stream, so it goes with skew. */
	for (size_t i = 0; i < NR_DATASETS; i++) {
		if (datasets[i].preset == GEN_SKEW && !datasets[i].real && !b.want[i])
			b.big = false;
	}
	for (size_t i = 0; i < NR_DATASETS; i++) {
		if (!b.want[i])
			continue;
		if (datasets[i].real && (!b.lkml_dir || access(b.lkml_dir, R_OK))) {
			fprintf(stderr, "%s: skipped (no --lkml directory)\n", datasets[i].name);
			continue;
		}
		ret = run_dataset(&b, &datasets[i]);
		if (ret)
			break;
	}

	printf("# bench_gss: the GSS paper's metrics (arXiv:1809.01246 sec. VII) on libgss\n");
	machine(stdout);
	printf("# GSS sized to rooms = %.1f x distinct edges; paper r = k = 16 -> r = 4, k = 16; "
	       "r = k = 8 (email, cit) -> r = 3, k = 8\n",
	       ROOM_FACTOR);
	printf("# TCM: 4 matrices, 8x the GSS-16 matrix memory; 1-hop queries on TCM are capped "
	       "(see succ_queries in the JSON)\n");
	printf("# insert and edge-query rates: median of %u runs; ARE = mean (est - true) / true "
	       "over true > 0; viol counts estimates below the truth and missed neighbours (must be "
	       "0)\n\n",
	       b.reps);
	eval_print_table(stdout, b.rows, b.nrows);
	print_targets(&b);
	printf("\n# total %.0f s\n", now_s() - t0);
	if (json) {
		FILE *f = fopen(json, "we");

		if (!f) {
			fprintf(stderr, "bench_gss: %s: %s\n", json, strerrordesc_np(errno));
			return 1;
		}
		eval_print_json(f, b.rows, b.nrows);
		fclose(f);
	}
	return ret ? 1 : 0;
}
