/* SPDX-License-Identifier: MIT */
/*
 * eval: the evaluation engine behind `gss eval` and bench/gss. It holds a
 * stream in memory together with its exact graph, feeds it to a GSS (and,
 * optionally, to the TCM baseline at a multiple of GSS's memory) and scores
 * the answers with the metrics of the GSS paper (Gou et al., ICDE 2019,
 * arXiv:1809.01246, section VII):
 *
 *   insert Mips       records / second of the update loop alone: codes are
 *                     computed beforehand and the loop is one
 *                     gss_update_batch() (tcm_update() per record for TCM);
 *                     median over `reps` fresh sketches
 *   edge Mq/s, ARE    every distinct edge queried once in a shuffled order
 *                     (median rate over `reps` passes); ARE is the mean of
 *                     |est - true| / true over edges with true weight > 0,
 *                     which is the paper's (est - true) / true whenever the
 *                     sketch is one-sided
 *   node ARE          the same on the out-weight of the query nodes
 *   1-hop precision   mean over query nodes with a non-empty true successor
 *                     (precursor) set of |true| / |reported|, where reported
 *                     is the set of stream nodes the sketch names: for GSS
 *                     every node whose code it returns (what the ID table
 *                     would return), for TCM the nodes tcm_succ_filter()
 *                     keeps out of all of them
 *   1-hop rate        queries / second and the p50 / p99 latency of one query
 *                     (the ID mapping above is not timed)
 *   reach TN recall   the fraction of truly unreachable pairs reported
 *                     unreachable
 *   buffer %          left-over edges / edges stored by the sketch
 *   bytes             matrix_bytes + aux_bytes of gss_get_stats() (the ID
 *                     table excluded) or tcm_memory(), also per distinct edge
 *
 * While measuring it checks the sketches' one guarantee: when no edge of the
 * stream ends with a negative weight ("one-sided" streams, which include
 * every insert-only and every strict turnstile stream), no estimate is below
 * the truth and every true neighbour is reported. Each breach counts as a
 * violation; there must be none.
 *
 * Query nodes come from a file of IDs (one a line) or are sampled from all
 * nodes; unreachable pairs come from a file ("src dst" a line; pairs that
 * turn out reachable or name unknown IDs are dropped and counted) or are
 * found by sampling random pairs and proving them unreachable with the exact
 * store's BFS. All sampling is deterministic in eval_opts.seed.
 *
 * Functions return 0 or a negative errno; those taking err/errlen also leave
 * a one-line reason there. Nothing prints except eval_print_*(). A stream is
 * read-only once loaded, so eval_run() may be called on it any number of
 * times (not concurrently: the sketches it builds are single-threaded).
 */
#ifndef GSS_TOOLS_EVAL_H
#define GSS_TOOLS_EVAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "exact.h"
#include "gen.h"
#include "gss/gss.h"
#include "input.h"

/* ============================== Streams ============================== */

struct eval_stream;

/* An empty stream to fill with eval_stream_add(). 0 or -ENOMEM. */
int eval_stream_new(struct eval_stream **out);
/*
 * Appends one record (IDs are any bytes). 0, -ENOMEM, -ERANGE (the edge's
 * weight would leave int64) or -EOVERFLOW (past 2^32 - 2 nodes or edges).
 */
int eval_stream_add(struct eval_stream *s, const char *src, size_t slen, const char *dst,
		    size_t dlen, int64_t w);
/*
 * Reads a whole stream file (input.h formats; "-" is standard input). A
 * malformed line fails with -EBADMSG and "file:line: what" in err, unless
 * skip_bad, which skips and counts it.
 */
int eval_stream_load(const char *path, enum input_format fmt, bool skip_bad,
		     struct eval_stream **out, char *err, size_t errlen);
/* Generates a stream in memory with gen_run() (no file is written). */
int eval_stream_gen(const struct gen_opts *o, struct eval_stream **out, char *err, size_t errlen);
void eval_stream_free(struct eval_stream *s);

uint64_t eval_stream_records(const struct eval_stream *s);
/* Malformed lines skipped by eval_stream_load() with skip_bad. */
uint64_t eval_stream_skipped(const struct eval_stream *s);
/* The exact final graph (nodes, distinct edges, weights): the truth. */
const struct exact *eval_stream_exact(const struct eval_stream *s);

/*
 * Up to n random pairs (pairs[2i] -> pairs[2i + 1], exact node numbers) with
 * no directed path, distinct, src != dst, each proven by exact_reachable().
 * The source has an out-edge and the destination an in-edge, as in the
 * authors' lkml set (a source without out-edges proves nothing about a
 * sketch's topology). Gives up after 1000 n draws; *found says how many.
 * 0 or -ENOMEM.
 */
int eval_find_unreachable(const struct eval_stream *s, size_t n, uint64_t seed, uint32_t *pairs,
			  size_t *found);

/* ============================== Runs ============================== */

/* Measurements eval_run() may leave out (their figures stay NaN, their counts 0). */
enum eval_skip {
	EVAL_SKIP_EDGE = 1u << 0,  /* edge-query rate and ARE */
	EVAL_SKIP_NODE = 1u << 1,  /* node out-weight ARE */
	EVAL_SKIP_SUCC = 1u << 2,  /* 1-hop successors */
	EVAL_SKIP_PRED = 1u << 3,  /* 1-hop precursors */
	EVAL_SKIP_REACH = 1u << 4, /* reachability */
};

/* Defaults apply where a field is 0 or NULL; eval_opts_init() sets them all. */
struct eval_opts {
	const char *dataset;   /* label copied into the rows (NULL = "") */
	struct gss_params gss; /* the sketch under test (gss_params_init() first) */
	bool tcm;	       /* also measure TCM */
	double tcm_factor;     /* TCM counter bytes / GSS matrix bytes (0 = 8, the paper's) */
	unsigned tcm_depth;    /* TCM matrices (0 = 4, the paper's) */
	/*
	 * 1-hop queries asked of TCM, the first of the (shuffled) query nodes.
	 * A TCM query filters every node of the stream, so 0 = as many as keep
	 * the work near 2^28 candidate tests (at least 100).
	 */
	size_t tcm_queries;
	const uint32_t *node_list; /* query nodes as exact node numbers (NULL = none) */
	size_t node_count;	   /* entries of node_list */
	const char *nodes_path;	   /* else query node IDs, one a line (NULL = sample) */
	size_t nodes;		   /* else a sample of this size (0 = 20000; all if fewer) */
	const char *pairs_path;	   /* unreachable pairs, "src dst" a line (NULL = search) */
	size_t pairs;		   /* pairs to search for without a file (0 = 100) */
	unsigned reps;		   /* timing repetitions, median reported (0 = 3) */
	uint64_t seed;		   /* sampling, query order and TCM hashing */
	unsigned skip;		   /* enum eval_skip */
};

void eval_opts_init(struct eval_opts *o);

/* One structure measured on one stream. NaN marks what was not measured. */
struct eval_row {
	char dataset[32]; /* eval_opts.dataset, truncated */
	char name[32];	  /* "GSS-16 r4 k16" or "TCM d4 x8" */
	bool tcm;	  /* a TCM row */

	/* Configuration. */
	uint32_t width;		   /* GSS m or TCM w */
	uint32_t fp_bits;	   /* GSS only */
	uint32_t addrs, cands;	   /* GSS r, k */
	uint32_t rooms_per_bucket; /* GSS l */
	uint32_t depth;		   /* TCM matrices */

	/* The stream. */
	uint64_t records; /* records inserted per repetition */
	uint64_t edges;	  /* distinct edges of the final graph */
	uint64_t nodes;	  /* nodes of the stream */
	bool one_sided;	  /* no final weight < 0: the guarantees apply */

	/* Updates. */
	unsigned reps;
	double insert_mips;			 /* median */
	double insert_mips_min, insert_mips_max; /* over the repetitions */

	/* Edge and node queries. */
	double edge_mqs;       /* median */
	double edge_are;       /* over all distinct edges */
	uint64_t edge_wrong;   /* edges whose estimate is not exact */
	double node_are;       /* out-weight of the query nodes */
	uint64_t node_queries; /* query nodes with out-weight > 0 */

	/* 1-hop queries over query nodes with a non-empty true set. */
	double succ_precision, succ_qps, succ_p50_us, succ_p99_us;
	uint64_t succ_queries;
	double pred_precision, pred_qps, pred_p50_us, pred_p99_us;
	uint64_t pred_queries;

	/* Reachability. */
	double reach_tn;      /* true-negative recall */
	double reach_ms;      /* mean time of one query */
	uint64_t reach_pairs; /* truly unreachable pairs asked */

	/* Space (GSS fields are 0 for TCM). */
	uint64_t bytes;	       /* matrix + auxiliary structures (no ID table) */
	double bytes_per_edge; /* bytes / distinct edges */
	uint64_t buffered;     /* left-over edges */
	double buffer_pct;     /* 100 * buffered / edges stored */
	double fill;	       /* occupied rooms / rooms */
	uint64_t hubs;	       /* nodes given extra addresses */
	uint64_t stored_edges; /* distinct hashed edges in the sketch */

	/* Checks. */
	uint64_t violations;	  /* one-sided streams: under-estimates + missed neighbours */
	uint64_t dup_reports;	  /* GSS: a neighbour code reported twice by one query */
	uint64_t phantom_reports; /* GSS: a reported code that no stream node has */
	uint64_t nodes_missing;	  /* IDs of the nodes file absent from the stream */
	uint64_t pairs_dropped;	  /* pairs-file lines unknown or reachable */
};

#define EVAL_MAX_ROWS 2

/*
 * Measures the GSS of o->gss, then TCM if o->tcm, on stream s. rows must
 * have room for EVAL_MAX_ROWS; *nrows receives how many were filled. -EINVAL
 * (an empty stream, bad parameters), -ENOENT or -EBADMSG (a nodes or pairs
 * file), -ENOMEM, or a libgss error; err says which.
 */
int eval_run(const struct eval_stream *s, const struct eval_opts *o, struct eval_row *rows,
	     size_t *nrows, char *err, size_t errlen);

/* An aligned table with a header line; NaN prints as "-". */
void eval_print_table(FILE *f, const struct eval_row *rows, size_t n);
/* {"rows": [{...}, ...]} with every field; NaN prints as null. */
void eval_print_json(FILE *f, const struct eval_row *rows, size_t n);

#endif /* GSS_TOOLS_EVAL_H */
