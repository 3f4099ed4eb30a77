/* SPDX-License-Identifier: MIT */
/*
 * libgss: the Graph Stream Sketch (Gou, Zou, Zhao, Yang, "Fast and Accurate
 * Graph Stream Summarization", ICDE 2019, arXiv:1809.01246), as a library.
 *
 * A GSS summarises a stream of weighted directed edges (src, dst, w) in space
 * linear in the number of distinct edges, updates in O(1), and answers edge,
 * node, 1-hop, reachability and subgraph queries. Answers are exact for the
 * *hashed* graph, in which each node is replaced by a code in [0, M): all
 * error comes from two nodes sharing a code, so weights and neighbour sets
 * are only ever over-reported, never missed (on insert-only streams). The
 * design and its guarantees are described in gss/gss.c and docs/gss.md.
 *
 * Node codes. gss_node() turns a node ID (any byte string) into its code. All
 * update and query functions take codes, so integer, string and binary IDs
 * are handled alike. With GSS_F_IDS the sketch also remembers the IDs it was
 * given through gss_add_id() and gss_ids() maps a code back to them (every ID
 * sharing the code comes back: false positives, never false negatives).
 *
 * Error handling. Every function that can fail returns 0 (or a non-negative
 * count) on success and a negative errno value on failure; errno itself is
 * never used. The library never prints, exits or aborts. A failed update
 * leaves the sketch as it was. Common values:
 *   -EINVAL     a parameter is out of range (the function's comment says which)
 *   -ENOMEM     memory could not be allocated
 *   -ENOSPC     gss_grow() has no fingerprint bit left to turn into an address bit
 *   -ERANGE     a weight would overflow int64
 *   -ENOTSUP    the sketch was built without the feature (e.g. the ID table)
 *   -EBADMSG, -EPROTO, -EIO   a sketch file is corrupt, of another version, or unreadable
 * gss_strerror() turns them into text.
 *
 * Threads. A sketch is not internally locked unless created with
 * GSS_F_THREADSAFE; then any number of threads may call any function at the
 * same time: queries share a reader lock and run in parallel, updates take it
 * exclusively (gss_update_batch() once per batch, so batch your updates).
 * Without the flag, the caller serialises writers against everything else;
 * concurrent queries alone are always safe.
 */
#ifndef GSS_GSS_H
#define GSS_GSS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define GSS_VERSION_MAJOR 0
#define GSS_VERSION_MINOR 1
#define GSS_VERSION_PATCH 0

struct gss;

/* Flags for gss_params.flags. */
enum gss_flags {
	GSS_F_IDS = 1u << 0,	    /* keep an ID table: code -> original IDs */
	GSS_F_GROW = 1u << 1,	    /* double the matrix when it fills (see gss_grow()) */
	GSS_F_NO_HUBS = 1u << 2,    /* no hub detection (the paper's plain design) */
	GSS_F_THREADSAFE = 1u << 3, /* internal reader/writer lock */
};

/*
 * Creation parameters. Call gss_params_init() first, then set what you know.
 * Sizing: give `width` explicitly, or let the library derive it from
 * `expect_edges` (distinct edges) and/or `memory` (bytes for the matrix). With
 * neither, the sketch starts at 1 MiB and grows (GSS_F_GROW is implied).
 * `expect_nodes`, if known, lets gss_plan() choose `fp_bits` so that the
 * node space M = width * 2^fp_bits is at least 200 times the node count, the
 * paper's rule for 1-hop precision near 1. Otherwise fp_bits is 16, or 24
 * for a sketch that grows from nothing: growth keeps M, so M must be large
 * from the start (2.1e9 with 24 bits: precise up to 10 M nodes).
 */
struct gss_params {
	size_t sz;	       /* sizeof(struct gss_params); set by gss_params_init() */
	uint32_t width;	       /* m: the matrix is m x m buckets; 0 = derive */
	uint32_t fp_bits;      /* fingerprint bits: 12, 16, 20, 24 or 32; 0 = derive (16) */
	uint32_t addrs;	       /* r: addresses per node, 1..4 (default 4) */
	uint32_t cands;	       /* k: candidate buckets per edge, 1..r*r (default r*r) */
	uint64_t seed;	       /* hash seed; sketches merge only with equal seeds */
	uint64_t expect_edges; /* sizing: distinct edges expected (0 = unknown) */
	uint64_t expect_nodes; /* sizing: distinct nodes expected (0 = unknown) */
	uint64_t memory;       /* sizing: matrix byte budget (0 = none) */
	double fill;	       /* sizing: target room fill in (0, 0.97]; 0 = 0.85 */
	uint32_t flags;	       /* enum gss_flags */
};

void gss_params_init(struct gss_params *p);

/* What gss_create() would build from a set of parameters, and what it promises. */
struct gss_plan {
	uint32_t width;		   /* m */
	uint32_t fp_bits;	   /* fingerprint bits */
	uint32_t addrs;		   /* r */
	uint32_t cands;		   /* k */
	uint32_t rooms_per_bucket; /* l: rooms in one 64-byte bucket (depends on fp_bits) */
	uint64_t rooms;		   /* m * m * l */
	uint64_t matrix_bytes;	   /* m * m * 64 */
	uint64_t node_space;	   /* M = m * 2^fp_bits */
	double fill;		   /* expected_edges / rooms (0 if unknown) */
	double edge_error;     /* P(an edge query is over-estimated), paper §VI (0 if unknown) */
	double succ_precision; /* expected 1-hop precision (0 if nodes unknown) */
	bool grow;	       /* the sketch will grow when full */
};

/* Fills *out. -EINVAL names no field; check the ranges documented above. */
int gss_plan(const struct gss_params *p, struct gss_plan *out);

int gss_create(const struct gss_params *p, struct gss **out);
void gss_destroy(struct gss *g);

/* ===================== Node codes and the ID table ===================== */

/* Code of a node ID (any bytes, len may be 0) in [0, M). Never fails. */
uint64_t gss_node(const struct gss *g, const void *id, size_t len);
/*
 * gss_node() and, with GSS_F_IDS, remembers the ID so that gss_ids() can
 * return it. Without GSS_F_IDS it only computes the code. 0 or -ENOMEM.
 */
int gss_add_id(struct gss *g, const void *id, size_t len, uint64_t *code);
/* Calls fn for every remembered ID with this code; fn returns nonzero to stop. */
typedef int gss_id_fn(const char *id, size_t len, void *arg);
int gss_ids(const struct gss *g, uint64_t code, gss_id_fn *fn, void *arg);

/* ============================== Updates ============================== */

/*
 * Adds w to the weight of src -> dst (codes from gss_node()). A negative w
 * deletes: when the weight returns to 0 the edge is gone, its room is freed
 * and a left-over edge waiting for that room moves back into the matrix.
 * w == 0 is a no-op. -EINVAL for a code >= M, -ERANGE on int64 overflow
 * (sketch unchanged), -ENOMEM.
 */
int gss_update(struct gss *g, uint64_t src, uint64_t dst, int64_t w);

struct gss_edge {
	uint64_t src; /* node code */
	uint64_t dst; /* node code */
	int64_t w;    /* weight to add */
};

/*
 * The same as calling gss_update() on each edge in order, but several edges
 * are kept in flight so their buckets' cache misses overlap: use it when the
 * sketch is larger than the CPU caches. Stops at the first error and returns
 * it; *done (if not NULL) receives the number of edges applied before it.
 */
int gss_update_batch(struct gss *g, const struct gss_edge *e, size_t n, size_t *done);

/* ============================== Queries ============================== */

/* Weight of src -> dst; 0 if absent. */
int gss_edge_weight(const struct gss *g, uint64_t src, uint64_t dst, int64_t *w);

/* Neighbour callback: a node code and the weight of the edge to/from it. */
typedef int gss_nbr_fn(uint64_t node, int64_t w, void *arg);
/*
 * 1-hop successors (precursors) of v, each reported once with its weight.
 * fn returns nonzero to stop; that value is returned. Otherwise 0.
 */
int gss_successors(const struct gss *g, uint64_t v, gss_nbr_fn *fn, void *arg);
int gss_precursors(const struct gss *g, uint64_t v, gss_nbr_fn *fn, void *arg);

/* Aggregate weight and number of distinct edges out of (into) v. */
int gss_node_out(const struct gss *g, uint64_t v, int64_t *weight, uint64_t *degree);
int gss_node_in(const struct gss *g, uint64_t v, int64_t *weight, uint64_t *degree);

/* Is there a directed path src ->* dst? A node reaches itself. No false negatives. */
int gss_reachable(const struct gss *g, uint64_t src, uint64_t dst, bool *out);

/* Total weight of the edges whose both ends are in nodes[0..n). Duplicates ignored. */
int gss_subgraph_weight(const struct gss *g, const uint64_t *nodes, size_t n, int64_t *out);

struct gss_nbr {
	uint64_t node; /* neighbour code */
	int64_t w;     /* edge weight */
};
/* The k heaviest edges out of (into) v, heaviest first; *n receives how many (<= k). */
int gss_top_out(const struct gss *g, uint64_t v, size_t k, struct gss_nbr *out, size_t *n);
int gss_top_in(const struct gss *g, uint64_t v, size_t k, struct gss_nbr *out, size_t *n);

/* Every stored edge once (matrix and buffer), in no particular order. */
typedef int gss_edge_fn(uint64_t src, uint64_t dst, int64_t w, void *arg);
int gss_for_each_edge(const struct gss *g, gss_edge_fn *fn, void *arg);

/* ========================= Statistics and growth ========================= */

struct gss_stats {
	uint32_t flags;		   /* enum gss_flags the sketch was created with */
	uint32_t width;		   /* current m */
	uint32_t fp_bits;	   /* fingerprint bits stored per node at this width */
	uint32_t addrs, cands;	   /* r, k */
	uint32_t rooms_per_bucket; /* l */
	uint32_t grow_steps;	   /* times the matrix doubled */
	uint64_t node_space;	   /* M (constant across growth) */
	uint64_t rooms;		   /* m * m * l */
	uint64_t rooms_used;	   /* occupied rooms */
	uint64_t edges;		   /* distinct hashed edges stored (matrix + buffer) */
	uint64_t buffered;	   /* edges in the left-over buffer */
	uint64_t hubs;		   /* nodes given extra addresses */
	uint64_t hub_subnodes;	   /* extra sub-nodes over all hubs */
	uint64_t ids;		   /* IDs in the ID table */
	uint64_t updates;	   /* gss_update() calls that changed something */
	uint64_t kicks;		   /* rooms moved to make space (cuckoo step) */
	uint64_t migrated;	   /* rooms moved when a hub gained sub-nodes */
	size_t matrix_bytes;	   /* the bucket matrix */
	size_t aux_bytes;	   /* buffer, hub directory, query index */
	size_t id_bytes;	   /* ID table (not part of the sketch proper) */
	double edge_error;	   /* P(an edge query over-estimates), paper §VI, for the
				      edges stored and the IDs remembered (0 without IDs) */
	double succ_precision;	   /* expected 1-hop precision for those IDs (0 without IDs) */
};

int gss_get_stats(const struct gss *g, struct gss_stats *st);

/*
 * Doubles the width: every room is re-placed in a 2m x 2m matrix, using one
 * fingerprint bit as the extra address bit, so M and every answer stay the
 * same while capacity quadruples. Called automatically with GSS_F_GROW when
 * the fill passes 90 % or the buffer passes 0.1 % of the edges. -ENOSPC when
 * no fingerprint bit is left to spend, -ENOMEM.
 */
int gss_grow(struct gss *g);

/* ====================== Persistence and merging ====================== */

/*
 * Writes the sketch to path atomically (temporary file + rename): a crash
 * leaves the old file or the new one, never a mix. 0 or -errno.
 */
int gss_save(const struct gss *g, const char *path);

enum gss_load_flags {
	GSS_LOAD_MMAP = 1u << 0,       /* map the matrix copy-on-write instead of reading it */
	GSS_LOAD_NOVERIFY = 1u << 1,   /* skip the payload checksums (headers are still checked) */
	GSS_LOAD_THREADSAFE = 1u << 2, /* as GSS_F_THREADSAFE at creation */
};

/*
 * Loads a sketch saved by gss_save(). On failure returns -errno and, if
 * errbuf is not NULL, a one-line reason ("truncated: ...", "checksum
 * mismatch in section ...").
 */
int gss_load(const char *path, uint32_t flags, struct gss **out, char *errbuf, size_t errlen);

/*
 * Adds every edge (and remembered ID) of src into dst. Both must have been
 * created with the same width, fingerprint bits, addresses, candidates and
 * seed (growth may differ). -EINVAL (with nothing changed) otherwise.
 */
int gss_merge(struct gss *dst, const struct gss *src);

/* Text for a value returned by this library (without the minus sign or with). */
const char *gss_strerror(int err);

#ifdef __cplusplus
}
#endif

#endif /* GSS_GSS_H */
