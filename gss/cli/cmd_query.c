// SPDX-License-Identifier: MIT
/*
 * gss query: answers from a sketch file, one query from the command line or
 * one a line from a batch file. The sketch is mapped, not read, so a query
 * against a large sketch starts at once and touches only what it needs.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "log.h"

static const char help[] =
	"Usage: gss query SKETCH QUERY\n"
	"       gss query SKETCH --batch FILE     (one QUERY a line; FILE - is stdin)\n"
	"\n"
	"Queries (node arguments are IDs as ingested):\n"
	"  edge SRC DST        weight of the edge SRC -> DST (0 if absent)\n"
	"  succ NODE           1-hop successors: IDs on one line, space-separated\n"
	"  pred NODE           1-hop precursors\n"
	"  out NODE            total weight of NODE's out-edges\n"
	"  in NODE             total weight of NODE's in-edges\n"
	"  outdeg NODE         number of distinct successors\n"
	"  indeg NODE          number of distinct precursors\n"
	"  reach SRC DST       'yes' if a directed path leads from SRC to DST, else 'no'\n"
	"  top-out NODE K      the K heaviest out-edges: ID=weight ..., heaviest first\n"
	"  top-in NODE K       the K heaviest in-edges\n"
	"  subgraph NODE...    total weight of the edges among the given nodes\n"
	"\n"
	"Answers over-estimate, never miss: a weight is >= the true one (on streams\n"
	"without deletions) and a neighbour list contains every true neighbour.\n"
	"\n"
	"Options:\n"
	"  -b, --batch FILE    read queries from FILE, print one answer a line\n"
	"  -w, --weights       succ/pred print ID=weight\n"
	"      --hashes        print node codes (#123) instead of IDs\n"
	"  -h, --help          this help\n";

struct qopts {
	bool weights; /* succ/pred print ID=weight */
	bool ids;     /* print IDs (the sketch has an ID table and --hashes is off) */
};

/* ============================ Neighbour lists ============================ */

struct nbr {
	uint64_t code;
	int64_t w;
};

struct nbrs {
	struct nbr *v;
	size_t n, cap;
	int err;
};

static int add_nbr(uint64_t code, int64_t w, void *arg)
{
	struct nbrs *l = arg;

	if (l->n == l->cap) {
		size_t nc = l->cap ? 2 * l->cap : 64;
		struct nbr *nv = realloc(l->v, nc * sizeof(*nv));

		if (!nv) {
			l->err = -ENOMEM;
			return 1;
		}
		l->v = nv;
		l->cap = nc;
	}
	l->v[l->n++] = (struct nbr){ code, w };
	return 0;
}

/* IDs of a neighbour list, each with its edge weight, sorted and unique. */
struct named {
	char *id;
	size_t len;
	int64_t w;
};

struct names {
	struct named *v;
	size_t n, cap;
	int64_t w; /* weight of the code being expanded */
	int err;
};

static int add_name(const char *id, size_t len, void *arg)
{
	struct names *l = arg;
	struct named *x;

	if (l->n == l->cap) {
		size_t nc = l->cap ? 2 * l->cap : 64;
		struct named *nv = realloc(l->v, nc * sizeof(*nv));

		if (!nv) {
			l->err = -ENOMEM;
			return 1;
		}
		l->v = nv;
		l->cap = nc;
	}
	x = &l->v[l->n];
	x->id = malloc(len + 1);
	if (!x->id) {
		l->err = -ENOMEM;
		return 1;
	}
	memcpy(x->id, id, len);
	x->id[len] = '\0';
	x->len = len;
	x->w = l->w;
	l->n++;
	return 0;
}

static int cmp_named(const void *a, const void *b)
{
	const struct named *x = a, *y = b;
	size_t n = x->len < y->len ? x->len : y->len;
	int c = memcmp(x->id, y->id, n);

	return c ? c : (x->len > y->len) - (x->len < y->len);
}

static int cmp_nbr_w(const void *a, const void *b)
{
	const struct nbr *x = a, *y = b;

	if (x->w != y->w)
		return x->w < y->w ? 1 : -1;
	return (x->code > y->code) - (x->code < y->code);
}

/* Prints one node code as its IDs (all of them: a code may stand for several) or as #code. */
static void print_node(FILE *out, const struct gss *g, uint64_t code, int64_t w, bool with_w,
		       const struct qopts *q, bool *first)
{
	struct names l = { 0 };

	if (q->ids && !gss_ids(g, code, add_name, &l) && l.n && !l.err) {
		qsort(l.v, l.n, sizeof(*l.v), cmp_named);
		for (size_t i = 0; i < l.n; i++) {
			fprintf(out, "%s%s", *first ? "" : " ", l.v[i].id);
			if (with_w)
				fprintf(out, "=%lld", (long long)w);
			*first = false;
		}
	} else {
		fprintf(out, "%s#%llu", *first ? "" : " ", (unsigned long long)code);
		if (with_w)
			fprintf(out, "=%lld", (long long)w);
		*first = false;
	}
	for (size_t i = 0; i < l.n; i++)
		free(l.v[i].id);
	free(l.v);
}

/* Neighbours as sorted unique IDs (or codes), on one line. */
static int print_list(FILE *out, const struct gss *g, const struct nbrs *n, const struct qopts *q)
{
	struct names all = { 0 };
	bool first = true;

	if (!q->ids) {
		for (size_t i = 0; i < n->n; i++)
			print_node(out, g, n->v[i].code, n->v[i].w, q->weights, q, &first);
		fputc('\n', out);
		return 0;
	}
	for (size_t i = 0; i < n->n && !all.err; i++) {
		size_t before = all.n;

		all.w = n->v[i].w;
		gss_ids(g, n->v[i].code, add_name, &all);
		if (all.n == before && !all.err) {
			/* A code with no remembered ID (an edge added by code): show the code. */
			char buf[32];

			snprintf(buf, sizeof(buf), "#%llu", (unsigned long long)n->v[i].code);
			add_name(buf, strlen(buf), &all);
		}
	}
	if (!all.err && all.n) {
		qsort(all.v, all.n, sizeof(*all.v), cmp_named);
		for (size_t i = 0; i < all.n; i++) {
			if (i && !cmp_named(&all.v[i], &all.v[i - 1]))
				continue;
			fprintf(out, "%s%s", first ? "" : " ", all.v[i].id);
			if (q->weights)
				fprintf(out, "=%lld", (long long)all.v[i].w);
			first = false;
		}
		fputc('\n', out);
	}
	for (size_t i = 0; i < all.n; i++)
		free(all.v[i].id);
	free(all.v);
	return all.err;
}

/* ============================ One query ============================ */

static uint64_t code_of(const struct gss *g, const char *id)
{
	return gss_node(g, id, strlen(id));
}

/*
 * One handler per query kind. Each gets the node arguments (already checked
 * for count) and prints one answer line; *why explains a malformed query.
 */
struct query_ctx {
	const struct gss *g;
	const struct qopts *q;
	FILE *out;
	const char **why;
};

static int q_edge(const struct query_ctx *c, char **w, int n)
{
	int64_t v;
	int ret = gss_edge_weight(c->g, code_of(c->g, w[0]), code_of(c->g, w[1]), &v);

	(void)n;
	if (!ret)
		fprintf(c->out, "%lld\n", (long long)v);
	return ret;
}

static int q_reach(const struct query_ctx *c, char **w, int n)
{
	bool yes;
	int ret = gss_reachable(c->g, code_of(c->g, w[0]), code_of(c->g, w[1]), &yes);

	(void)n;
	if (!ret)
		fprintf(c->out, "%s\n", yes ? "yes" : "no");
	return ret;
}

static int q_nbrs(const struct query_ctx *c, uint64_t v, bool succ)
{
	struct nbrs l = { 0 };
	int ret = (succ ? gss_successors : gss_precursors)(c->g, v, add_nbr, &l);

	if (!ret)
		ret = l.err;
	if (!ret)
		ret = print_list(c->out, c->g, &l, c->q);
	free(l.v);
	return ret;
}

static int q_succ(const struct query_ctx *c, char **w, int n)
{
	(void)n;
	return q_nbrs(c, code_of(c->g, w[0]), true);
}

static int q_pred(const struct query_ctx *c, char **w, int n)
{
	(void)n;
	return q_nbrs(c, code_of(c->g, w[0]), false);
}

/* out, in, outdeg, indeg: one aggregate of one direction. */
static int q_agg(const struct query_ctx *c, char **w, bool out, bool degree)
{
	int64_t v = 0;
	uint64_t d = 0;
	int ret = (out ? gss_node_out : gss_node_in)(c->g, code_of(c->g, w[0]), &v, &d);

	if (ret)
		return ret;
	if (degree)
		fprintf(c->out, "%llu\n", (unsigned long long)d);
	else
		fprintf(c->out, "%lld\n", (long long)v);
	return 0;
}

static int q_out(const struct query_ctx *c, char **w, int n)
{
	(void)n;
	return q_agg(c, w, true, false);
}

static int q_in(const struct query_ctx *c, char **w, int n)
{
	(void)n;
	return q_agg(c, w, false, false);
}

static int q_outdeg(const struct query_ctx *c, char **w, int n)
{
	(void)n;
	return q_agg(c, w, true, true);
}

static int q_indeg(const struct query_ctx *c, char **w, int n)
{
	(void)n;
	return q_agg(c, w, false, true);
}

static int q_top(const struct query_ctx *c, char **w, bool out)
{
	struct gss_nbr *top;
	uint64_t k;
	size_t got;
	bool first = true;
	char *end;
	int ret;

	k = strtoull(w[1], &end, 10);
	if (*end || !k || k > 1000000 || w[1][0] == '-') {
		*c->why = "K must be an integer in [1, 1000000]";
		return -EINVAL;
	}
	top = malloc(k * sizeof(*top));
	if (!top)
		return -ENOMEM;
	ret = (out ? gss_top_out : gss_top_in)(c->g, code_of(c->g, w[0]), k, top, &got);
	if (!ret) {
		/* Same-weight neighbours in a stable order; a code lists all its IDs. */
		qsort(top, got, sizeof(*top), cmp_nbr_w);
		for (size_t i = 0; i < got; i++)
			print_node(c->out, c->g, top[i].node, top[i].w, true, c->q, &first);
		fputc('\n', c->out);
	}
	free(top);
	return ret;
}

static int q_top_out(const struct query_ctx *c, char **w, int n)
{
	(void)n;
	return q_top(c, w, true);
}

static int q_top_in(const struct query_ctx *c, char **w, int n)
{
	(void)n;
	return q_top(c, w, false);
}

static int q_subgraph(const struct query_ctx *c, char **w, int n)
{
	uint64_t *codes = malloc((size_t)n * sizeof(*codes));
	int64_t v;
	int ret;

	if (!codes)
		return -ENOMEM;
	for (int i = 0; i < n; i++)
		codes[i] = code_of(c->g, w[i]);
	ret = gss_subgraph_weight(c->g, codes, (size_t)n, &v);
	if (!ret)
		fprintf(c->out, "%lld\n", (long long)v);
	free(codes);
	return ret;
}

static const struct query_kind {
	const char *name;
	int args; /* node arguments; -1: one or more */
	int (*fn)(const struct query_ctx *c, char **w, int n);
	const char *usage;
} query_kinds[] = {
	{ "edge", 2, q_edge, "usage: edge SRC DST" },
	{ "succ", 1, q_succ, "usage: succ NODE" },
	{ "pred", 1, q_pred, "usage: pred NODE" },
	{ "out", 1, q_out, "usage: out NODE" },
	{ "in", 1, q_in, "usage: in NODE" },
	{ "outdeg", 1, q_outdeg, "usage: outdeg NODE" },
	{ "indeg", 1, q_indeg, "usage: indeg NODE" },
	{ "reach", 2, q_reach, "usage: reach SRC DST" },
	{ "top-out", 2, q_top_out, "usage: top-out NODE K" },
	{ "top-in", 2, q_top_in, "usage: top-in NODE K" },
	{ "subgraph", -1, q_subgraph, "usage: subgraph NODE..." },
};

/*
 * Runs one query given as words; prints the answer line to out. 0, or -errno
 * with *why set for a malformed query.
 */
static int run_query(const struct gss *g, char **w, int n, const struct qopts *q, FILE *out,
		     const char **why)
{
	const struct query_ctx c = { g, q, out, why };

	*why = NULL;
	if (!n) {
		*why = "empty query";
		return -EINVAL;
	}
	for (size_t i = 0; i < sizeof(query_kinds) / sizeof(query_kinds[0]); i++) {
		const struct query_kind *k = &query_kinds[i];

		if (strcmp(w[0], k->name) != 0)
			continue;
		if (k->args >= 0 ? n - 1 != k->args : n < 2) {
			*why = k->usage;
			return -EINVAL;
		}
		return k->fn(&c, w + 1, n - 1);
	}
	*why = "unknown query (edge, succ, pred, out, in, outdeg, indeg, reach, top-out, "
	       "top-in, subgraph)";
	return -EINVAL;
}

/* ============================ Batch mode ============================ */

/* Splits a query line into words (in place); *n is 0 for a blank or comment line. */
static int split_words(char *line, char ***words, size_t *wcap, int *n)
{
	char *save = NULL;

	*n = 0;
	for (char *t = strtok_r(line, " \t\r\n", &save); t; t = strtok_r(NULL, " \t\r\n", &save)) {
		if (!*n && (t[0] == '#' || t[0] == '%'))
			break;
		if ((size_t)*n == *wcap) {
			size_t nc = *wcap ? 2 * *wcap : 16;
			char **nw = realloc(*words, nc * sizeof(*nw));

			if (!nw)
				return -ENOMEM;
			*words = nw;
			*wcap = nc;
		}
		(*words)[(*n)++] = t;
	}
	return 0;
}

static int run_batch(const struct gss *g, const char *path, const struct qopts *q)
{
	FILE *f = strcmp(path, "-") ? fopen(path, "r") : stdin;
	char *line = NULL, **words = NULL;
	size_t cap = 0, wcap = 0;
	uint64_t lineno = 0, failed = 0;
	int ret = 0;

	if (!f) {
		log_err("%s: %s", path, strerrordesc_np(errno));
		return 1;
	}
	while (getline(&line, &cap, f) >= 0) {
		const char *why;
		int n;

		lineno++;
		ret = split_words(line, &words, &wcap, &n);
		if (ret)
			break;
		/* One answer a line, so even comments and blank lines get one (empty). */
		if (!n) {
			fputc('\n', stdout);
			continue;
		}
		ret = run_query(g, words, n, q, stdout, &why);
		if (ret) {
			/* Keep answers aligned with queries: the error takes the answer's line. */
			printf("error: %s\n", why ? why : gss_strerror(ret));
			log_err("%s:%llu: %s", f == stdin ? "<stdin>" : path,
				(unsigned long long)lineno, why ? why : gss_strerror(ret));
			failed++;
			ret = 0;
		}
	}
	if (!ret && ferror(f)) {
		log_err("%s: read error", path);
		ret = -EIO;
	}
	free(line);
	free(words);
	if (f != stdin)
		fclose(f);
	if (fflush(stdout) && !ret)
		ret = -EIO;
	return ret || failed ? 1 : 0;
}

int cmd_query(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "batch", required_argument, NULL, 'b' },
		{ "weights", no_argument, NULL, 'w' },
		{ "hashes", no_argument, NULL, 'H' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct qopts q = { false, true };
	const char *batch = NULL, *why;
	struct gss_stats st;
	struct gss *g;
	char err[256];
	int c, ret, sketch = 0;

	/*
	 * Options may come before or after SKETCH ("gss query s.gss --batch q"),
	 * but never among the query's words: getopt stops at the first word after
	 * SKETCH ('+'), so a query like "top-out -x 3" is never taken apart.
	 */
	for (int pass = 0; pass < 2; pass++) {
		optind = pass ? sketch + 1 : 1;
		while ((c = getopt_long(argc, argv, "+b:wh", opts, NULL)) != -1) {
			switch (c) {
			case 'b':
				batch = optarg;
				break;
			case 'w':
				q.weights = true;
				break;
			case 'H':
				q.ids = false;
				break;
			case 'h':
				fputs(help, stdout);
				return 0;
			default:
				fputs(help, stderr);
				return EXIT_USAGE;
			}
		}
		if (!pass) {
			if (optind >= argc) {
				log_err("query needs a SKETCH file; see 'gss query --help'");
				return EXIT_USAGE;
			}
			sketch = optind;
		}
	}
	if (batch && optind != argc) {
		log_err("--batch takes the queries from its file, not the command line");
		return EXIT_USAGE;
	}
	if (!batch && optind == argc) {
		log_err("query needs a QUERY after the sketch; see 'gss query --help'");
		return EXIT_USAGE;
	}

	ret = gss_load(argv[sketch], GSS_LOAD_MMAP, &g, err, sizeof(err));
	if (ret) {
		log_err("%s: %s", argv[sketch], err);
		return 1;
	}
	gss_get_stats(g, &st);
	if (!(st.flags & GSS_F_IDS))
		q.ids = false;
	if (batch) {
		ret = run_batch(g, batch, &q);
		gss_destroy(g);
		return ret;
	}
	ret = run_query(g, argv + optind, argc - optind, &q, stdout, &why);
	gss_destroy(g);
	if (ret) {
		log_err("%s", why ? why : gss_strerror(ret));
		return why ? EXIT_USAGE : 1;
	}
	return 0;
}
