// SPDX-License-Identifier: MIT
/*
 * eval: scoring a graph sketch against the exact graph of its stream.
 *
 * A stream is kept twice: as records of dense node numbers (so a sketch can
 * be fed again and again at full speed) and as the exact final graph (the
 * truth, gss/tools/exact.c). A run then works in three stages.
 *
 * 1. Shared preparation. The distinct edges of the truth, in a shuffled
 *    order so that edge queries do not walk the matrix row by row; the query
 *    nodes (a file, or a deterministic sample); the unreachable pairs (a file,
 *    each pair re-proven, or random pairs proven by the exact BFS). Pairs are
 *    drawn with a source that has out-edges and a destination that has
 *    in-edges, as in the authors' lkml set: a pair whose source has no
 *    out-edge at all is unreachable for every sketch without collisions and
 *    says nothing about a sketch's topology.
 *
 * 2. Updates. Node codes are computed once per structure (gss_node() for
 *    GSS, a seeded XXH3 for TCM) and the records become an array of
 *    (code, code, weight) triples. Only the loop over that array is timed, on
 *    a fresh sketch per repetition, so hashing IDs, parsing and page faults
 *    of the input stay out of the figure while the sketch's own first-touch
 *    faults stay in (a real ingest pays them too).
 *
 * 3. Queries. Every distinct edge, the out-weight of every query node, the
 *    successors and precursors of every query node, and every pair. For GSS
 *    a reported neighbour is a code; the nodes behind it come from a sorted
 *    (code, node) array, which is exactly what the ID table would return, so
 *    precision counts node IDs as the paper does. A stamp per node (the
 *    query's number) turns "is u reported?" into one load, so the no-false-
 *    negative check and |true intersect reported| cost O(degree).
 *
 * Precision is |true intersect reported| / |reported|, which is the paper's
 * |true| / |reported| whenever nothing is missed; misses are violations.
 * Latency is measured per query with CLOCK_MONOTONIC (about 20 ns of
 * overhead, far below a row scan) and only around the sketch's own call.
 *
 * Costs: memory is 16 bytes per record and 24 per record while a structure
 * is fed, plus the truth (about 56 bytes per edge), 8 bytes per node and
 * structure, and the structures themselves. A TCM 1-hop query tests every
 * node of the stream, which is why TCM gets fewer queries on large graphs.
 */
#include "eval.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "compiler.h"
#include "hash.h"
#include "log.h"
#include "tcm.h"

#define EVAL_DEF_NODES	    20000
#define EVAL_DEF_PAIRS	    100
#define EVAL_DEF_REPS	    3
#define EVAL_DEF_TCM_FACTOR 8.0
#define EVAL_DEF_TCM_DEPTH  4
#define EVAL_TCM_WORK	    ((uint64_t)1 << 28) /* candidate tests for TCM 1-hop queries */
#define EVAL_TCM_MIN_Q	    100
#define EVAL_PAIR_DRAWS	    1000 /* draws per wanted pair before giving up */
#define EVAL_REC_MIN	    4096

/* Salts keep the streams of random numbers of different uses apart. */
#define SALT_EDGES 0x5851f42d4c957f2dULL
#define SALT_NODES 0x14057b7ef767814fULL
#define SALT_PAIRS 0x2545f4914f6cdd1dULL
#define SALT_TCM   0x9e3779b97f4a7c15ULL

enum { DIR_OUT = 0, DIR_IN = 1 };

struct eval_rec {
	uint32_t s, d; /* exact node numbers */
	int64_t w;
};

struct eval_stream {
	struct exact *x;      /* the final graph */
	struct eval_rec *rec; /* records in stream order */
	size_t n, cap;
	uint64_t skipped; /* malformed lines skipped while loading */
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* ============================== Streams ============================== */

int eval_stream_new(struct eval_stream **out)
{
	struct eval_stream *s;
	int ret;

	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	ret = exact_create(&s->x);
	if (ret) {
		free(s);
		return ret;
	}
	*out = s;
	return 0;
}

void eval_stream_free(struct eval_stream *s)
{
	if (!s)
		return;
	exact_destroy(s->x);
	free(s->rec);
	free(s);
}

static int rec_reserve(struct eval_stream *s, size_t want)
{
	struct eval_rec *r;

	if (want <= s->cap)
		return 0;
	r = realloc(s->rec, want * sizeof(*r));
	if (!r)
		return -ENOMEM;
	s->rec = r;
	s->cap = want;
	return 0;
}

int eval_stream_add(struct eval_stream *s, const char *src, size_t slen, const char *dst,
		    size_t dlen, int64_t w)
{
	uint32_t a, b;
	int ret;

	/* Room first, so that a failure leaves records and truth in step. */
	if (s->n == s->cap) {
		ret = rec_reserve(s, s->cap < EVAL_REC_MIN ? EVAL_REC_MIN : s->cap + s->cap / 2);
		if (ret)
			return ret;
	}
	ret = exact_node(s->x, src, slen, &a);
	if (ret)
		return ret;
	ret = exact_node(s->x, dst, dlen, &b);
	if (ret)
		return ret;
	ret = exact_update(s->x, a, b, w);
	if (ret)
		return ret;
	s->rec[s->n++] = (struct eval_rec){ a, b, w };
	return 0;
}

int eval_stream_load(const char *path, enum input_format fmt, bool skip_bad,
		     struct eval_stream **out, char *err, size_t errlen)
{
	struct eval_stream *s;
	struct input_rec r;
	struct input *in;
	int ret;

	ret = eval_stream_new(&s);
	if (ret) {
		errbuf_set(err, errlen, "out of memory");
		return ret;
	}
	ret = input_open(&in, path, fmt, skip_bad, err, errlen);
	if (ret)
		goto err_free;
	while ((ret = input_next(in, &r)) > 0) {
		ret = eval_stream_add(s, r.src, r.slen, r.dst, r.dlen, r.w);
		if (ret) {
			errbuf_set(err, errlen, "%s:%llu: %s", input_name(in),
				   (unsigned long long)input_line(in), strerrordesc_np(-ret));
			goto err_close;
		}
	}
	if (ret < 0) {
		errbuf_set(err, errlen, "%s", input_error(in));
		goto err_close;
	}
	s->skipped = input_skipped(in);
	input_close(in);
	*out = s;
	return 0;

err_close:
	input_close(in);
err_free:
	eval_stream_free(s);
	return ret;
}

/*
 * gen_run() writes text to a FILE; a cookie stream hands that text to us
 * chunk by chunk, so even the 30 M-record skew preset never touches a disk.
 * A line split between two chunks waits in `tail`.
 */
struct gen_sink {
	struct eval_stream *s;
	char *tail;
	size_t tlen, tcap;
	uint64_t line;
	int err;
	char msg[192];
};

static int sink_line(struct gen_sink *k, const char *p, size_t n)
{
	struct input_rec r;
	char why[128];
	int ret;

	k->line++;
	ret = input_parse_line(p, n, INPUT_TEXT, &r, why, sizeof(why));
	if (ret < 0) {
		snprintf(k->msg, sizeof(k->msg), "gen:%llu: %s", (unsigned long long)k->line, why);
		return ret;
	}
	if (!ret)
		return 0;
	ret = eval_stream_add(k->s, r.src, r.slen, r.dst, r.dlen, r.w);
	if (ret)
		snprintf(k->msg, sizeof(k->msg), "gen:%llu: %s", (unsigned long long)k->line,
			 strerrordesc_np(-ret));
	return ret;
}

static int sink_keep(struct gen_sink *k, const char *p, size_t n)
{
	if (k->tlen + n > k->tcap) {
		size_t nc = 2 * (k->tlen + n) + 64;
		char *t = realloc(k->tail, nc);

		if (!t)
			return -ENOMEM;
		k->tail = t;
		k->tcap = nc;
	}
	memcpy(k->tail + k->tlen, p, n);
	k->tlen += n;
	return 0;
}

static ssize_t sink_write(void *cookie, const char *buf, size_t size)
{
	struct gen_sink *k = cookie;
	size_t i = 0;
	int ret = 0;

	if (k->err)
		return -1;
	while (i < size) {
		const char *nl = memchr(buf + i, '\n', size - i);
		size_t len = nl ? (size_t)(nl - (buf + i)) : size - i;

		if (!nl || k->tlen) {
			ret = sink_keep(k, buf + i, len);
			if (ret || !nl)
				break;
			ret = sink_line(k, k->tail, k->tlen);
			k->tlen = 0;
		} else {
			ret = sink_line(k, buf + i, len);
		}
		if (ret)
			break;
		i += len + 1;
	}
	if (ret) {
		if (!k->msg[0])
			snprintf(k->msg, sizeof(k->msg), "gen: %s", strerrordesc_np(-ret));
		k->err = ret;
		return -1;
	}
	return (ssize_t)size;
}

int eval_stream_gen(const struct gen_opts *o, struct eval_stream **out, char *err, size_t errlen)
{
	cookie_io_functions_t io = { .write = sink_write };
	struct gen_sink k = { 0 };
	struct gen_plan plan;
	struct eval_stream *s;
	FILE *f;
	int ret;

	ret = gen_plan(o, &plan);
	if (ret) {
		errbuf_set(err, errlen, "gen: invalid options");
		return ret;
	}
	ret = eval_stream_new(&s);
	if (ret)
		goto err_msg;
	ret = exact_reserve(s->x, plan.nodes, plan.edges);
	if (!ret)
		ret = rec_reserve(s, plan.records);
	if (ret)
		goto err_free;
	k.s = s;
	f = fopencookie(&k, "w", io);
	if (!f) {
		ret = -ENOMEM;
		goto err_free;
	}
	ret = gen_run(o, f);
	if (fclose(f) && !ret)
		ret = -EIO;
	if (!ret && k.tlen)
		ret = sink_line(&k, k.tail, k.tlen);
	if (k.err)
		ret = k.err;
	if (ret)
		goto err_free;
	free(k.tail);
	*out = s;
	return 0;

err_free:
	free(k.tail);
	eval_stream_free(s);
err_msg:
	if (k.msg[0])
		errbuf_set(err, errlen, "%s", k.msg);
	else
		errbuf_set(err, errlen, "gen: %s", strerrordesc_np(-ret));
	return ret;
}

uint64_t eval_stream_records(const struct eval_stream *s)
{
	return s->n;
}

uint64_t eval_stream_skipped(const struct eval_stream *s)
{
	return s->skipped;
}

const struct exact *eval_stream_exact(const struct eval_stream *s)
{
	return s->x;
}

static uint64_t out_degree(const struct exact *x, uint32_t v)
{
	uint64_t deg = 0;

	exact_out(x, v, NULL, &deg);
	return deg;
}

static uint64_t in_degree(const struct exact *x, uint32_t v)
{
	uint64_t deg = 0;

	exact_in(x, v, NULL, &deg);
	return deg;
}

static bool pair_known(const uint32_t *pairs, size_t n, uint32_t a, uint32_t b)
{
	for (size_t i = 0; i < n; i++) {
		if (pairs[2 * i] == a && pairs[2 * i + 1] == b)
			return true;
	}
	return false;
}

int eval_find_unreachable(const struct eval_stream *s, size_t n, uint64_t seed, uint32_t *pairs,
			  size_t *found)
{
	size_t nn = exact_node_count(s->x), got = 0;
	struct rng r;
	int ret = 0;

	*found = 0;
	if (nn < 2)
		return 0;
	rng_seed(&r, seed ^ SALT_PAIRS);
	for (uint64_t draw = 0; got < n && draw < (uint64_t)EVAL_PAIR_DRAWS * n; draw++) {
		uint32_t a = (uint32_t)rng_below(&r, nn), b = (uint32_t)rng_below(&r, nn);
		bool reach;

		if (a == b || !out_degree(s->x, a) || !in_degree(s->x, b) ||
		    pair_known(pairs, got, a, b))
			continue;
		ret = exact_reachable(s->x, a, b, &reach);
		if (ret)
			break;
		if (reach)
			continue;
		pairs[2 * got] = a;
		pairs[2 * got + 1] = b;
		got++;
	}
	*found = got;
	return ret;
}

/* ============================== Preparation ============================== */

struct code_node {
	uint64_t code;
	uint32_t node;
};

/* Codes one query reported. */
struct nbr_vec {
	uint64_t *v;
	size_t n, cap;
	int err;
};

/* What one run shares between the structures it measures. */
struct prep {
	const struct exact *x;
	const struct eval_stream *s;
	size_t nn;		/* nodes */
	struct eval_rec *e;	/* distinct edges with their true weights, shuffled */
	size_t ne;		/* distinct edges */
	bool one_sided;		/* no final weight below 0 */
	uint32_t *q;		/* query nodes, shuffled */
	size_t nq;		/* query nodes */
	uint32_t *pairs;	/* truly unreachable pairs */
	size_t np;		/* pairs */
	uint64_t nodes_missing; /* nodes-file IDs not in the stream */
	uint64_t pairs_dropped; /* pairs-file lines unknown or reachable */
	unsigned reps;		/* timing repetitions */
	/* Per structure. */
	uint64_t *code;	       /* node -> code (GSS) or hash (TCM) */
	struct gss_edge *upd;  /* the records in codes */
	struct code_node *map; /* GSS: (code, node) sorted by code */
	uint64_t *cand;	       /* TCM: filter output, nn entries */
	uint32_t *stamp;       /* node -> number of the last query reporting it */
	uint32_t epoch;	       /* number of the current query */
	uint64_t *lat;	       /* latency of each query, ns */
	double *runs;	       /* one figure per repetition */
	struct nbr_vec vec;    /* GSS: codes of the current query */
};

static int collect_edge(uint32_t s, uint32_t d, int64_t w, void *arg)
{
	struct prep *p = arg;

	p->e[p->ne++] = (struct eval_rec){ s, d, w };
	if (w < 0)
		p->one_sided = false;
	return 0;
}

static void shuffle_u32(uint32_t *v, size_t n, struct rng *r)
{
	for (size_t i = n; i > 1; i--) {
		size_t j = (size_t)rng_below(r, i);
		uint32_t t = v[i - 1];

		v[i - 1] = v[j];
		v[j] = t;
	}
}

static int prep_edges(struct prep *p, uint64_t seed)
{
	size_t ne = exact_edge_count(p->x);
	struct rng r;

	p->e = malloc((ne ? ne : 1) * sizeof(*p->e));
	if (!p->e)
		return -ENOMEM;
	p->one_sided = true;
	exact_for_each_edge(p->x, collect_edge, p);
	rng_seed(&r, seed ^ SALT_EDGES);
	for (size_t i = p->ne; i > 1; i--) {
		size_t j = (size_t)rng_below(&r, i);
		struct eval_rec t = p->e[i - 1];

		p->e[i - 1] = p->e[j];
		p->e[j] = t;
	}
	return 0;
}

static int push_u32(uint32_t **v, size_t *n, size_t *cap, uint32_t x)
{
	if (*n == *cap) {
		size_t nc = *cap ? 2 * *cap : 256;
		uint32_t *nv = realloc(*v, nc * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		*v = nv;
		*cap = nc;
	}
	(*v)[(*n)++] = x;
	return 0;
}

static const char *skip_space(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\r'))
		p++;
	return p;
}

/* The query nodes of a file: the first word of each line; '#' and '%' start comments. */
static int read_nodes(struct prep *p, const char *path, char *err, size_t errlen)
{
	size_t cap = 0, len = 0;
	char *line = NULL;
	ssize_t got;
	FILE *f;
	int ret = 0;

	f = fopen(path, "re");
	if (!f) {
		ret = -errno;
		errbuf_set(err, errlen, "%s: %s", path, strerrordesc_np(errno));
		return ret;
	}
	while ((got = getline(&line, &len, f)) != -1) {
		const char *b = skip_space(line, line + got), *e = b;
		uint32_t v;

		while (e < line + got && *e != ' ' && *e != '\t' && *e != '\r' && *e != '\n')
			e++;
		if (e == b || *b == '#' || *b == '%')
			continue;
		if (exact_find_node(p->x, b, (size_t)(e - b), &v)) {
			p->nodes_missing++;
			continue;
		}
		ret = push_u32(&p->q, &p->nq, &cap, v);
		if (ret) {
			errbuf_set(err, errlen, "out of memory");
			break;
		}
	}
	if (!ret && ferror(f)) {
		ret = -EIO;
		errbuf_set(err, errlen, "%s: read error", path);
	}
	free(line);
	fclose(f);
	return ret;
}

static int prep_nodes(struct prep *p, const struct eval_opts *o, char *err, size_t errlen)
{
	struct rng r;
	int ret;

	rng_seed(&r, o->seed ^ SALT_NODES);
	if (o->node_list) {
		p->q = malloc((o->node_count ? o->node_count : 1) * sizeof(*p->q));
		if (!p->q) {
			errbuf_set(err, errlen, "out of memory");
			return -ENOMEM;
		}
		for (size_t i = 0; i < o->node_count; i++) {
			if (o->node_list[i] >= p->nn) {
				errbuf_set(err, errlen, "query node %u: no such node",
					   o->node_list[i]);
				return -EINVAL;
			}
			p->q[p->nq++] = o->node_list[i];
		}
		shuffle_u32(p->q, p->nq, &r);
		return 0;
	}
	if (o->nodes_path) {
		ret = read_nodes(p, o->nodes_path, err, errlen);
		if (ret)
			return ret;
		shuffle_u32(p->q, p->nq, &r);
		return 0;
	}
	p->nq = o->nodes ? o->nodes : EVAL_DEF_NODES;
	if (p->nq > p->nn)
		p->nq = p->nn;
	p->q = malloc(p->nn * sizeof(*p->q));
	if (!p->q) {
		errbuf_set(err, errlen, "out of memory");
		return -ENOMEM;
	}
	for (size_t i = 0; i < p->nn; i++)
		p->q[i] = (uint32_t)i;
	/* A partial Fisher-Yates shuffle: the first nq are a uniform sample in random order. */
	for (size_t i = 0; i < p->nq; i++) {
		size_t j = i + (size_t)rng_below(&r, p->nn - i);
		uint32_t t = p->q[i];

		p->q[i] = p->q[j];
		p->q[j] = t;
	}
	return 0;
}

/* Pairs of a file, each proven unreachable again; the others are dropped and counted. */
static int read_pairs(struct prep *p, const char *path, char *err, size_t errlen)
{
	size_t cap = 0, len = 0, n = 0;
	uint64_t lineno = 0;
	char *line = NULL;
	ssize_t got;
	FILE *f;
	int ret = 0;

	f = fopen(path, "re");
	if (!f) {
		ret = -errno;
		errbuf_set(err, errlen, "%s: %s", path, strerrordesc_np(errno));
		return ret;
	}
	while ((got = getline(&line, &len, f)) != -1) {
		struct input_rec r;
		uint32_t a, b;
		char why[128];
		bool reach;

		lineno++;
		while (got && (line[got - 1] == '\n' || line[got - 1] == '\r'))
			got--;
		ret = input_parse_line(line, (size_t)got, INPUT_TEXT, &r, why, sizeof(why));
		if (ret < 0) {
			errbuf_set(err, errlen, "%s:%llu: %s", path, (unsigned long long)lineno,
				   why);
			break;
		}
		if (!ret)
			continue; /* blank or comment */
		ret = 0;
		if (exact_find_node(p->x, r.src, r.slen, &a) ||
		    exact_find_node(p->x, r.dst, r.dlen, &b) || a == b) {
			p->pairs_dropped++;
			continue;
		}
		ret = exact_reachable(p->x, a, b, &reach);
		if (!ret && reach) {
			p->pairs_dropped++;
			continue;
		}
		if (!ret)
			ret = push_u32(&p->pairs, &n, &cap, a);
		if (!ret)
			ret = push_u32(&p->pairs, &n, &cap, b);
		if (ret) {
			errbuf_set(err, errlen, "out of memory");
			break;
		}
	}
	if (!ret && ferror(f)) {
		ret = -EIO;
		errbuf_set(err, errlen, "%s: read error", path);
	}
	p->np = n / 2;
	free(line);
	fclose(f);
	return ret;
}

static int prep_pairs(struct prep *p, const struct eval_opts *o, char *err, size_t errlen)
{
	size_t want = o->pairs ? o->pairs : EVAL_DEF_PAIRS;
	int ret;

	if (o->pairs_path)
		return read_pairs(p, o->pairs_path, err, errlen);
	p->pairs = malloc(2 * want * sizeof(*p->pairs));
	if (!p->pairs) {
		errbuf_set(err, errlen, "out of memory");
		return -ENOMEM;
	}
	ret = eval_find_unreachable(p->s, want, o->seed, p->pairs, &p->np);
	if (ret)
		errbuf_set(err, errlen, "searching unreachable pairs: %s", strerrordesc_np(-ret));
	return ret;
}

static int prep_init(struct prep *p, const struct eval_stream *s, const struct eval_opts *o,
		     char *err, size_t errlen)
{
	int ret;

	memset(p, 0, sizeof(*p));
	p->s = s;
	p->x = s->x;
	p->nn = exact_node_count(s->x);
	p->reps = o->reps ? o->reps : EVAL_DEF_REPS;
	if (!s->n || !exact_edge_count(s->x)) {
		errbuf_set(err, errlen, "the stream has no edges");
		return -EINVAL;
	}
	p->code = malloc(p->nn * sizeof(*p->code));
	p->upd = malloc(s->n * sizeof(*p->upd));
	p->stamp = calloc(p->nn, sizeof(*p->stamp));
	p->runs = malloc(p->reps * sizeof(*p->runs));
	if (!p->code || !p->upd || !p->stamp || !p->runs) {
		errbuf_set(err, errlen, "out of memory");
		return -ENOMEM;
	}
	ret = prep_edges(p, o->seed);
	if (ret) {
		errbuf_set(err, errlen, "out of memory");
		return ret;
	}
	ret = prep_nodes(p, o, err, errlen);
	if (ret)
		return ret;
	p->lat = malloc((p->nq ? p->nq : 1) * sizeof(*p->lat));
	if (!p->lat) {
		errbuf_set(err, errlen, "out of memory");
		return -ENOMEM;
	}
	if (o->skip & EVAL_SKIP_REACH)
		return 0;
	return prep_pairs(p, o, err, errlen);
}

static void prep_free(struct prep *p)
{
	free(p->e);
	free(p->q);
	free(p->pairs);
	free(p->code);
	free(p->upd);
	free(p->map);
	free(p->cand);
	free(p->stamp);
	free(p->lat);
	free(p->runs);
	free(p->vec.v);
}

/* ============================== Measuring ============================== */

/* The structure under test: exactly one of g and t is set. */
struct sut {
	struct gss *g;
	struct tcm *t;
};

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

static int cmp_code_node(const void *a, const void *b)
{
	const struct code_node *x = a, *y = b;

	if (x->code != y->code)
		return (x->code > y->code) - (x->code < y->code);
	return (x->node > y->node) - (x->node < y->node);
}

static double median(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Nearest-rank percentile of n sorted values. */
static uint64_t percentile(const uint64_t *v, size_t n, double pct)
{
	size_t rank = (size_t)ceil(pct / 100.0 * (double)n);

	return v[rank ? rank - 1 : 0];
}

static void row_init(struct eval_row *row, const struct prep *p, const struct eval_opts *o)
{
	memset(row, 0, sizeof(*row));
	snprintf(row->dataset, sizeof(row->dataset), "%s", o->dataset ? o->dataset : "");
	row->records = p->s->n;
	row->edges = p->ne;
	row->nodes = p->nn;
	row->one_sided = p->one_sided;
	row->reps = p->reps;
	row->insert_mips = row->insert_mips_min = row->insert_mips_max = NAN;
	row->edge_mqs = row->edge_are = row->node_are = NAN;
	row->succ_precision = row->succ_qps = row->succ_p50_us = row->succ_p99_us = NAN;
	row->pred_precision = row->pred_qps = row->pred_p50_us = row->pred_p99_us = NAN;
	row->reach_tn = row->reach_ms = NAN;
	row->bytes_per_edge = row->buffer_pct = row->fill = NAN;
	row->nodes_missing = p->nodes_missing;
	row->pairs_dropped = p->pairs_dropped;
}

static void set_insert(struct eval_row *row, struct prep *p)
{
	row->insert_mips_min = row->insert_mips_max = p->runs[0];
	for (unsigned i = 1; i < p->reps; i++) {
		row->insert_mips_min = fmin(row->insert_mips_min, p->runs[i]);
		row->insert_mips_max = fmax(row->insert_mips_max, p->runs[i]);
	}
	row->insert_mips = median(p->runs, p->reps);
}

static int sut_edge(const struct sut *u, uint64_t a, uint64_t b, int64_t *w)
{
	if (u->g)
		return gss_edge_weight(u->g, a, b, w);
	*w = tcm_edge(u->t, a, b);
	return 0;
}

static int sut_out(const struct sut *u, uint64_t v, int64_t *w)
{
	if (u->g)
		return gss_node_out(u->g, v, w, NULL);
	*w = tcm_out(u->t, v);
	return 0;
}

static int sut_reach(const struct sut *u, uint64_t a, uint64_t b, bool *r)
{
	if (u->g)
		return gss_reachable(u->g, a, b, r);
	return tcm_reachable(u->t, a, b, r);
}

/* Every distinct edge, `reps` times for the rate, then scored. */
static int measure_edges(struct prep *p, const struct sut *u, struct eval_row *row)
{
	double are = 0;
	uint64_t scored = 0;
	int64_t *est;
	int ret = 0;

	est = calloc(p->ne, sizeof(*est));
	if (!est)
		return -ENOMEM;
	for (unsigned rep = 0; rep < p->reps; rep++) {
		uint64_t t0 = now_ns(), t1;

		for (size_t i = 0; i < p->ne && !ret; i++)
			ret = sut_edge(u, p->code[p->e[i].s], p->code[p->e[i].d], &est[i]);
		t1 = now_ns();
		if (ret)
			goto out;
		p->runs[rep] = (double)p->ne / ((double)(t1 - t0 + 1) / 1e3);
	}
	row->edge_mqs = median(p->runs, p->reps);
	for (size_t i = 0; i < p->ne; i++) {
		int64_t t = p->e[i].w;

		if (est[i] != t)
			row->edge_wrong++;
		if (p->one_sided && est[i] < t)
			row->violations++;
		if (t <= 0)
			continue;
		are += fabs((double)est[i] - (double)t) / (double)t;
		scored++;
	}
	row->edge_are = scored ? are / (double)scored : NAN;
out:
	free(est);
	return ret;
}

static int measure_nodes(struct prep *p, const struct sut *u, struct eval_row *row)
{
	double are = 0;

	for (size_t i = 0; i < p->nq; i++) {
		uint32_t v = p->q[i];
		int64_t t, est;
		int ret;

		if (exact_out(p->x, v, &t, NULL) || t <= 0)
			continue;
		ret = sut_out(u, p->code[v], &est);
		if (ret)
			return ret;
		are += fabs((double)est - (double)t) / (double)t;
		row->node_queries++;
		if (p->one_sided && est < t)
			row->violations++;
	}
	row->node_are = row->node_queries ? are / (double)row->node_queries : NAN;
	return 0;
}

static int vec_push(uint64_t node, int64_t w, void *arg)
{
	struct nbr_vec *v = arg;

	(void)w;
	if (v->n == v->cap) {
		size_t nc = v->cap ? 2 * v->cap : 1024;
		uint64_t *nv = realloc(v->v, nc * sizeof(*nv));

		if (!nv) {
			v->err = -ENOMEM;
			return 1;
		}
		v->v = nv;
		v->cap = nc;
	}
	v->v[v->n++] = node;
	return 0;
}

/* Stamps every stream node behind the reported codes; returns how many. */
static uint64_t gss_mark(struct prep *p, struct eval_row *row)
{
	uint64_t reported = 0;

	for (size_t i = 0; i < p->vec.n; i++) {
		uint64_t c = p->vec.v[i];
		size_t lo = 0, hi = p->nn;

		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;

			if (p->map[mid].code < c)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (lo == p->nn || p->map[lo].code != c) {
			row->phantom_reports++;
			continue;
		}
		if (p->stamp[p->map[lo].node] == p->epoch) {
			row->dup_reports++;
			continue;
		}
		for (; lo < p->nn && p->map[lo].code == c; lo++) {
			p->stamp[p->map[lo].node] = p->epoch;
			reported++;
		}
	}
	return reported;
}

/* Counts the true neighbours of a query that were reported, and those that were not. */
struct hit_ctx {
	const struct prep *p;
	const struct sut *u;
	uint64_t v;    /* the query node's code (TCM) */
	unsigned dir;  /* DIR_OUT or DIR_IN */
	uint64_t hits; /* true neighbours reported */
	uint64_t miss; /* true neighbours not reported */
};

static int count_hit(uint32_t nbr, int64_t w, void *arg)
{
	struct hit_ctx *c = arg;
	bool hit;

	(void)w;
	if (c->u->g)
		hit = c->p->stamp[nbr] == c->p->epoch;
	else if (c->dir == DIR_OUT)
		hit = tcm_is_succ(c->u->t, c->v, c->p->code[nbr]);
	else
		hit = tcm_is_succ(c->u->t, c->p->code[nbr], c->v);
	if (hit)
		c->hits++;
	else
		c->miss++;
	return 0;
}

/* Asks one 1-hop query (timed) and returns the reported node count. */
static int ask_one_hop(struct prep *p, const struct sut *u, uint32_t v, unsigned dir, uint64_t *ns,
		       uint64_t *reported)
{
	uint64_t t0, t1;
	size_t n = 0;
	int ret = 0;

	p->vec.n = 0;
	t0 = now_ns();
	if (u->g && dir == DIR_OUT)
		ret = gss_successors(u->g, p->code[v], vec_push, &p->vec);
	else if (u->g)
		ret = gss_precursors(u->g, p->code[v], vec_push, &p->vec);
	else if (dir == DIR_OUT)
		n = tcm_succ_filter(u->t, p->code[v], p->code, p->nn, p->cand);
	else
		n = tcm_pred_filter(u->t, p->code[v], p->code, p->nn, p->cand);
	t1 = now_ns();
	*ns = t1 - t0;
	*reported = n;
	if (!u->g)
		return 0;
	if (p->vec.err)
		return p->vec.err;
	return ret < 0 ? ret : 0;
}

static int measure_one_hop(struct prep *p, const struct sut *u, unsigned dir, size_t nq,
			   struct eval_row *row)
{
	double prec = 0, total_ns = 0;
	uint64_t scored = 0;

	for (size_t i = 0; i < nq; i++) {
		struct hit_ctx c = { p, u, p->code[p->q[i]], dir, 0, 0 };
		uint32_t v = p->q[i];
		uint64_t reported;
		int ret;

		ret = ask_one_hop(p, u, v, dir, &p->lat[i], &reported);
		if (ret)
			return ret;
		total_ns += (double)p->lat[i];
		p->epoch++;
		if (u->g)
			reported = gss_mark(p, row);
		if (dir == DIR_OUT)
			exact_for_each_succ(p->x, v, count_hit, &c);
		else
			exact_for_each_pred(p->x, v, count_hit, &c);
		if (p->one_sided)
			row->violations += c.miss;
		if (!c.hits && !c.miss)
			continue;
		prec += reported ? (double)c.hits / (double)reported : 0;
		scored++;
	}
	qsort(p->lat, nq, sizeof(*p->lat), cmp_u64);
	if (dir == DIR_OUT) {
		row->succ_queries = scored;
		row->succ_precision = scored ? prec / (double)scored : NAN;
		row->succ_qps = nq ? (double)nq / (total_ns / 1e9) : NAN;
		row->succ_p50_us = nq ? (double)percentile(p->lat, nq, 50) / 1e3 : NAN;
		row->succ_p99_us = nq ? (double)percentile(p->lat, nq, 99) / 1e3 : NAN;
	} else {
		row->pred_queries = scored;
		row->pred_precision = scored ? prec / (double)scored : NAN;
		row->pred_qps = nq ? (double)nq / (total_ns / 1e9) : NAN;
		row->pred_p50_us = nq ? (double)percentile(p->lat, nq, 50) / 1e3 : NAN;
		row->pred_p99_us = nq ? (double)percentile(p->lat, nq, 99) / 1e3 : NAN;
	}
	return 0;
}

static int measure_reach(struct prep *p, const struct sut *u, struct eval_row *row)
{
	uint64_t tn = 0, t0 = now_ns();

	for (size_t i = 0; i < p->np; i++) {
		bool r;
		int ret = sut_reach(u, p->code[p->pairs[2 * i]], p->code[p->pairs[2 * i + 1]], &r);

		if (ret)
			return ret;
		tn += !r;
	}
	row->reach_pairs = p->np;
	if (p->np) {
		row->reach_tn = (double)tn / (double)p->np;
		row->reach_ms = (double)(now_ns() - t0) / 1e6 / (double)p->np;
	}
	return 0;
}

/* The query measurements both structures share, in the order of the row. */
static int measure_queries(struct prep *p, const struct sut *u, const struct eval_opts *o,
			   size_t hop_queries, struct eval_row *row, const char **what)
{
	int ret = 0;

	if (!(o->skip & EVAL_SKIP_EDGE)) {
		*what = "edge query";
		ret = measure_edges(p, u, row);
	}
	if (!ret && !(o->skip & EVAL_SKIP_NODE)) {
		*what = "node query";
		ret = measure_nodes(p, u, row);
	}
	if (!ret && !(o->skip & EVAL_SKIP_SUCC)) {
		*what = "successor query";
		ret = measure_one_hop(p, u, DIR_OUT, hop_queries, row);
	}
	if (!ret && !(o->skip & EVAL_SKIP_PRED)) {
		*what = "precursor query";
		ret = measure_one_hop(p, u, DIR_IN, hop_queries, row);
	}
	if (!ret && !(o->skip & EVAL_SKIP_REACH)) {
		*what = "reachability query";
		ret = measure_reach(p, u, row);
	}
	return ret;
}

static void fill_updates(struct prep *p)
{
	for (size_t i = 0; i < p->s->n; i++) {
		const struct eval_rec *r = &p->s->rec[i];

		p->upd[i] = (struct gss_edge){ p->code[r->s], p->code[r->d], r->w };
	}
}

static int gss_codes(struct prep *p, const struct gss *g)
{
	for (size_t n = 0; n < p->nn; n++) {
		size_t len;
		const char *id = exact_node_id(p->x, (uint32_t)n, &len);

		p->code[n] = gss_node(g, id, len);
	}
	fill_updates(p);
	free(p->map);
	p->map = malloc((p->nn ? p->nn : 1) * sizeof(*p->map));
	if (!p->map)
		return -ENOMEM;
	for (size_t n = 0; n < p->nn; n++)
		p->map[n] = (struct code_node){ p->code[n], (uint32_t)n };
	qsort(p->map, p->nn, sizeof(*p->map), cmp_code_node);
	return 0;
}

static void gss_row_stats(const struct gss *g, uint32_t flags, struct eval_row *row,
			  uint64_t *matrix_bytes)
{
	struct gss_stats st;

	gss_get_stats(g, &st);
	*matrix_bytes = st.matrix_bytes;
	row->width = st.width;
	row->fp_bits = st.fp_bits;
	row->addrs = st.addrs;
	row->cands = st.cands;
	row->rooms_per_bucket = st.rooms_per_bucket;
	row->bytes = st.matrix_bytes + st.aux_bytes;
	row->bytes_per_edge = (double)row->bytes / (double)row->edges;
	row->buffered = st.buffered;
	row->stored_edges = st.edges;
	row->buffer_pct = st.edges ? 100.0 * (double)st.buffered / (double)st.edges : 0;
	row->fill = st.rooms ? (double)st.rooms_used / (double)st.rooms : NAN;
	row->hubs = st.hubs;
	/* The paper's design has no hub detection; say so when it is measured. */
	snprintf(row->name, sizeof(row->name), "GSS-%u r%u k%u%s", st.fp_bits, st.addrs, st.cands,
		 flags & GSS_F_NO_HUBS ? " nohub" : "");
}

static int run_gss(struct prep *p, const struct eval_opts *o, struct eval_row *row,
		   uint64_t *matrix_bytes, char *err, size_t errlen)
{
	const char *what = "create";
	struct sut u = { 0 };
	struct gss *g = NULL;
	int ret;

	row_init(row, p, o);
	ret = gss_create(&o->gss, &g);
	if (ret)
		goto err;
	what = "node codes";
	ret = gss_codes(p, g);
	if (ret)
		goto err;
	what = "update";
	for (unsigned rep = 0; rep < p->reps; rep++) {
		uint64_t t0, t1;

		if (rep) {
			gss_destroy(g);
			g = NULL;
			ret = gss_create(&o->gss, &g);
			if (ret)
				goto err;
		}
		t0 = now_ns();
		ret = gss_update_batch(g, p->upd, p->s->n, NULL);
		t1 = now_ns();
		if (ret)
			goto err;
		p->runs[rep] = (double)p->s->n / ((double)(t1 - t0 + 1) / 1e3);
	}
	set_insert(row, p);
	gss_row_stats(g, o->gss.flags, row, matrix_bytes);
	u.g = g;
	ret = measure_queries(p, &u, o, p->nq, row, &what);
	if (ret)
		goto err;
	gss_destroy(g);
	return 0;

err:
	errbuf_set(err, errlen, "GSS %s: %s", what, gss_strerror(ret));
	gss_destroy(g);
	return ret;
}

static int run_tcm(struct prep *p, const struct eval_opts *o, uint64_t gss_matrix,
		   struct eval_row *row, char *err, size_t errlen)
{
	double factor = o->tcm_factor > 0 ? o->tcm_factor : EVAL_DEF_TCM_FACTOR;
	unsigned depth = o->tcm_depth ? o->tcm_depth : EVAL_DEF_TCM_DEPTH;
	uint64_t seed = hash_mix64(o->seed ^ SALT_TCM);
	size_t hop = o->tcm_queries;
	const char *what = "create";
	struct sut u = { 0 };
	struct tcm *t = NULL;
	uint32_t w;
	int ret;

	row_init(row, p, o);
	w = tcm_width_for_memory((size_t)((double)gss_matrix * factor), depth);
	for (size_t n = 0; n < p->nn; n++) {
		size_t len;
		const char *id = exact_node_id(p->x, (uint32_t)n, &len);

		p->code[n] = hash_bytes(id, len, seed);
	}
	fill_updates(p);
	free(p->cand);
	p->cand = malloc(p->nn * sizeof(*p->cand));
	if (!p->cand) {
		ret = -ENOMEM;
		goto err;
	}
	for (unsigned rep = 0; rep < p->reps; rep++) {
		uint64_t t0, t1;

		tcm_destroy(t);
		t = NULL;
		ret = tcm_create(w, depth, seed, &t);
		if (ret)
			goto err;
		t0 = now_ns();
		for (size_t i = 0; i < p->s->n; i++)
			tcm_update(t, p->upd[i].src, p->upd[i].dst, p->upd[i].w);
		t1 = now_ns();
		p->runs[rep] = (double)p->s->n / ((double)(t1 - t0 + 1) / 1e3);
	}
	set_insert(row, p);
	row->tcm = true;
	row->width = w;
	row->depth = depth;
	row->bytes = tcm_memory(t);
	row->bytes_per_edge = (double)row->bytes / (double)row->edges;
	snprintf(row->name, sizeof(row->name), "TCM d%u x%g", depth, factor);
	if (!hop) {
		hop = (size_t)(EVAL_TCM_WORK / (p->nn ? p->nn : 1));
		if (hop < EVAL_TCM_MIN_Q)
			hop = EVAL_TCM_MIN_Q;
	}
	if (hop > p->nq)
		hop = p->nq;
	u.t = t;
	ret = measure_queries(p, &u, o, hop, row, &what);
	if (ret)
		goto err;
	tcm_destroy(t);
	return 0;

err:
	errbuf_set(err, errlen, "TCM %s: %s", what, strerrordesc_np(-ret));
	tcm_destroy(t);
	return ret;
}

void eval_opts_init(struct eval_opts *o)
{
	memset(o, 0, sizeof(*o));
	gss_params_init(&o->gss);
	o->tcm_factor = EVAL_DEF_TCM_FACTOR;
	o->tcm_depth = EVAL_DEF_TCM_DEPTH;
	o->nodes = EVAL_DEF_NODES;
	o->pairs = EVAL_DEF_PAIRS;
	o->reps = EVAL_DEF_REPS;
	o->seed = 1;
}

int eval_run(const struct eval_stream *s, const struct eval_opts *o, struct eval_row *rows,
	     size_t *nrows, char *err, size_t errlen)
{
	uint64_t matrix = 0;
	struct gss_plan plan;
	struct prep p;
	int ret;

	if (!s || !o || !rows || !nrows) {
		errbuf_set(err, errlen, "invalid argument");
		return -EINVAL;
	}
	*nrows = 0;
	ret = gss_plan(&o->gss, &plan);
	if (ret) {
		errbuf_set(err, errlen, "GSS parameters: %s", gss_strerror(ret));
		return ret;
	}
	ret = prep_init(&p, s, o, err, errlen);
	if (ret)
		goto out;
	ret = run_gss(&p, o, &rows[0], &matrix, err, errlen);
	if (ret)
		goto out;
	*nrows = 1;
	if (o->tcm) {
		ret = run_tcm(&p, o, matrix, &rows[1], err, errlen);
		if (ret)
			goto out;
		*nrows = 2;
	}
out:
	prep_free(&p);
	return ret;
}

/* ============================== Output ============================== */

/* A number in at most `width` characters: "-" for NaN, fixed or scientific. */
static const char *fmt_num(char *buf, size_t len, double v, int prec)
{
	if (isnan(v))
		snprintf(buf, len, "-");
	else if (v == 0)
		snprintf(buf, len, "0");
	else if (fabs(v) >= 1e5 || fabs(v) < 1e-3)
		snprintf(buf, len, "%.2e", v);
	else
		snprintf(buf, len, "%.*f", prec, v);
	return buf;
}

void eval_print_table(FILE *f, const struct eval_row *rows, size_t n)
{
	fprintf(f, "%-10s %-19s %9s %9s %9s %9s %9s %9s %9s %9s %8s %10s %4s\n", "dataset",
		"structure", "ins Mips", "edge Mq/s", "edge ARE", "node ARE", "succ prec",
		"pred prec", "reach TN", "buffer %", "B/edge", "succ p99us", "viol");
	for (size_t i = 0; i < n; i++) {
		const struct eval_row *r = &rows[i];
		char b[11][32];

		fprintf(f, "%-10s %-19s %9s %9s %9s %9s %9s %9s %9s %9s %8s %10s %4llu\n",
			r->dataset, r->name, fmt_num(b[0], 32, r->insert_mips, 2),
			fmt_num(b[1], 32, r->edge_mqs, 2), fmt_num(b[2], 32, r->edge_are, 4),
			fmt_num(b[3], 32, r->node_are, 4), fmt_num(b[4], 32, r->succ_precision, 4),
			fmt_num(b[5], 32, r->pred_precision, 4), fmt_num(b[6], 32, r->reach_tn, 2),
			fmt_num(b[7], 32, r->tcm ? NAN : r->buffer_pct, 3),
			fmt_num(b[8], 32, r->bytes_per_edge, 1),
			fmt_num(b[9], 32, r->succ_p99_us, 1), (unsigned long long)r->violations);
	}
}

static void json_str(FILE *f, const char *key, const char *s)
{
	fprintf(f, "\"%s\": \"", key);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputs("\", ", f);
}

static void json_num(FILE *f, const char *key, double v)
{
	if (isfinite(v))
		fprintf(f, "\"%s\": %.9g, ", key, v);
	else
		fprintf(f, "\"%s\": null, ", key);
}

static void json_u64(FILE *f, const char *key, uint64_t v)
{
	fprintf(f, "\"%s\": %llu, ", key, (unsigned long long)v);
}

void eval_print_json(FILE *f, const struct eval_row *rows, size_t n)
{
	fputs("{\"rows\": [", f);
	for (size_t i = 0; i < n; i++) {
		const struct eval_row *r = &rows[i];

		fputs(i ? ",\n  {" : "\n  {", f);
		json_str(f, "dataset", r->dataset);
		json_str(f, "structure", r->name);
		fprintf(f, "\"tcm\": %s, ", r->tcm ? "true" : "false");
		json_u64(f, "width", r->width);
		json_u64(f, "fp_bits", r->fp_bits);
		json_u64(f, "addrs", r->addrs);
		json_u64(f, "cands", r->cands);
		json_u64(f, "rooms_per_bucket", r->rooms_per_bucket);
		json_u64(f, "depth", r->depth);
		json_u64(f, "records", r->records);
		json_u64(f, "edges", r->edges);
		json_u64(f, "nodes", r->nodes);
		fprintf(f, "\"one_sided\": %s, ", r->one_sided ? "true" : "false");
		json_u64(f, "reps", r->reps);
		json_num(f, "insert_mips", r->insert_mips);
		json_num(f, "insert_mips_min", r->insert_mips_min);
		json_num(f, "insert_mips_max", r->insert_mips_max);
		json_num(f, "edge_mqs", r->edge_mqs);
		json_num(f, "edge_are", r->edge_are);
		json_u64(f, "edge_wrong", r->edge_wrong);
		json_num(f, "node_are", r->node_are);
		json_u64(f, "node_queries", r->node_queries);
		json_num(f, "succ_precision", r->succ_precision);
		json_num(f, "succ_qps", r->succ_qps);
		json_num(f, "succ_p50_us", r->succ_p50_us);
		json_num(f, "succ_p99_us", r->succ_p99_us);
		json_u64(f, "succ_queries", r->succ_queries);
		json_num(f, "pred_precision", r->pred_precision);
		json_num(f, "pred_qps", r->pred_qps);
		json_num(f, "pred_p50_us", r->pred_p50_us);
		json_num(f, "pred_p99_us", r->pred_p99_us);
		json_u64(f, "pred_queries", r->pred_queries);
		json_num(f, "reach_tn", r->reach_tn);
		json_num(f, "reach_ms", r->reach_ms);
		json_u64(f, "reach_pairs", r->reach_pairs);
		json_u64(f, "bytes", r->bytes);
		json_num(f, "bytes_per_edge", r->bytes_per_edge);
		json_u64(f, "buffered", r->buffered);
		json_num(f, "buffer_pct", r->buffer_pct);
		json_num(f, "fill", r->fill);
		json_u64(f, "hubs", r->hubs);
		json_u64(f, "stored_edges", r->stored_edges);
		json_u64(f, "violations", r->violations);
		json_u64(f, "dup_reports", r->dup_reports);
		json_u64(f, "phantom_reports", r->phantom_reports);
		json_u64(f, "nodes_missing", r->nodes_missing);
		fprintf(f, "\"pairs_dropped\": %llu}", (unsigned long long)r->pairs_dropped);
	}
	fputs(n ? "\n]}\n" : "]}\n", f);
}
