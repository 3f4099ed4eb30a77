// SPDX-License-Identifier: MIT
/*
 * The libgss implementation of the Graph Stream Sketch is based on the
 * following ideas.
 *
 * 1. The hashed graph (Gou et al., ICDE 2019, §IV). Every node v is replaced
 *    by a code H(v) in [0, M) (XXH3 of its ID). The sketch stores the graph
 *    of codes *exactly*: two edges share a room only if both their endpoints
 *    share codes. All error therefore comes from node collisions, whose rate
 *    is set by M alone, and weights are only ever over-estimated.
 *
 * 2. Codes are split into an address and a fingerprint, H = (h, f), h in
 *    [0, m), f in [0, 2^fp), and M = m * 2^fp. An m x m matrix of buckets
 *    stores edge s -> d in row h(s), column h(d), keeping (f(s), f(d)) in a
 *    room. Compared with a counter matrix (TCM), M is 2^fp times larger for
 *    the same memory, which is the paper's whole point.
 *
 * 3. Square hashing. A node has r addresses h_i = (h + q(f, i)) mod m, where
 *    q is a hash of (f, i) only, so h can be recovered from any address, its
 *    index i and f. An edge may go to any bucket (h_i(s), h_j(d)); the room
 *    records (i, j) so that it still decodes to exactly one pair of codes.
 *    The paper samples k of the r^2 pairs per edge; we take them in "shell"
 *    order (0,0), (0,1), (1,0), (1,1), (0,2), ... so most of a node's edges
 *    sit in its first row and column, which the query index (7) exploits.
 *
 *          col h_0(d)   col h_1(d)
 *         +-----------+-----------+
 *  row    | (0,0)     | (0,1)     |   an edge tries the candidate buckets
 *  h_0(s) | 1st       | 2nd       |   in this order and takes the first
 *         +-----------+-----------+   free room; a bucket it passes while
 *  row    | (1,0)     | (1,1)     |   full gets its overflow flag set
 *  h_1(s) | 3rd       | 4th       |
 *         +-----------+-----------+
 *
 * 4. A bucket is one 64-byte cache line of l rooms, structure-of-arrays:
 *    int32 weights, packed fingerprint pairs, one index byte per room (the
 *    layout table is in gss-int.h). One 8-byte load screens all index bytes
 *    of a bucket at once. l is 8, 7, 6, 5 or 4 for 12, 16, 20, 24 or 32-bit
 *    fingerprints: 8 to 16 bytes a room. A weight that leaves the int32 range
 *    is "spilled": the room keeps the marker INT32_MIN and the exact int64
 *    sum lives in the buffer, so weights are 64-bit at no cost for the rest.
 *
 * 5. Lookups stop early without ever missing. The prototype stopped at the
 *    first empty room, which is wrong as soon as deletions free rooms. Here
 *    a bucket's overflow flag is set whenever an edge is placed beyond it
 *    because it was full; flags are never cleared. So if an edge lives in
 *    its t-th candidate, candidates 0..t-1 all carry the flag, and a lookup
 *    may stop at the first candidate without it. With deletions, kicks and
 *    migrations this stays exact.
 *
 * 6. Left-over buffer, kicks and deletions. When all k candidates are full,
 *    one room of theirs is moved to another of its own candidates (one
 *    cuckoo step; rooms decode to their edge, so their candidates are
 *    known); failing that the edge goes to the buffer: a hash table keyed
 *    by (code(s), code(d)) with per-node chains for 1-hop queries. A room
 *    whose weight reaches 0 is freed and a buffered edge waiting for that
 *    bucket moves in at once (buffer.c, "waits").
 *
 * 7. Query index. For each node a lossy byte says which of its r rows and r
 *    columns hold its rooms, so successor and precursor queries scan one
 *    row or column of m buckets for a typical node instead of r of them.
 *
 * 8. Hubs (Scube, Chen et al., ICDCS 2022, in spirit). A node with a huge
 *    degree fills its rows and floods the buffer (measured 9.4 % buffered on
 *    a Zipf stream). A sampled degree sketch detects such nodes; each gets
 *    2^L sub-nodes with their own codes and rows, and edge s -> d of an
 *    out-hub s goes to sub-node route(d) mod 2^L (likewise for in-hubs).
 *    Rooms mark sub-node endpoints with a flag bit, so sub-node codes never
 *    mix with real ones, and a small directory maps them back.
 *
 * 9. Growth. Because rooms decode to codes, the matrix can double: a node's
 *    address at width 2m is h + m * (f mod 2), its fingerprint f / 2, so M
 *    and all answers are preserved while capacity quadruples (hence the
 *    canonical code above is defined at level 0).
 *
 * Error model and sizing (paper §VI). An edge query is wrong only if another
 * edge collides with it in code space: P(error) = 1 - exp(-(E + (M-1)D)/M^2)
 * with D the edges adjacent to it. 1-hop precision is about
 * 1 / (1 + 2|V|/M), so M >= 200 |V| gives >= 0.99.
 *
 *   fp bits  bytes/room  rooms for 10M edges at 85 % fill   M at that size
 *   12       8.0         11.8 M (94 MB)                     5.0e6
 *   16       9.1         11.8 M (108 MB)                    8.5e7
 *   20      10.7         11.8 M (126 MB)                    1.3e9
 *   32      16.0         11.8 M (188 MB)                    7.3e12
 *
 * Costs: an update hashes two codes, tests two hub-filter bits and usually
 * touches one bucket; a successor query scans about m buckets.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "gss-int.h"

#define GSS_DEFAULT_FP	       16
#define GSS_DEFAULT_GROW_FP    24
#define GSS_DEFAULT_ADDRS      4
#define GSS_DEFAULT_FILL       0.85
#define GSS_DEFAULT_GROW_WIDTH 128
#define GSS_PRECISION_FACTOR   200.0

static const uint8_t fp_choices[] = { 12, 16, 20, 24, 32 };

static unsigned rooms_for_fp(unsigned fp)
{
	switch (fp) {
	case 12:
		return 8;
	case 16:
		return 7;
	case 20:
		return 6;
	case 24:
		return 5;
	case 32:
		return 4;
	default:
		return 0;
	}
}

void gss_params_init(struct gss_params *p)
{
	memset(p, 0, sizeof(*p));
	p->sz = sizeof(*p);
	p->seed = 0x6a09e667f3bcc908ULL;
}

static uint32_t width_for(uint64_t edges, uint64_t memory, unsigned l, double fill)
{
	uint64_t m = 0;

	if (edges) {
		double buckets = ceil((double)edges / fill / l);

		m = (uint64_t)ceil(sqrt(buckets));
	}
	if (memory) {
		uint64_t mm = (uint64_t)floor(sqrt((double)memory / GSS_BUCKET));

		if (!m || mm < m)
			m = mm;
	}
	if (m < 1)
		m = 1;
	if (m > (1u << 30))
		m = 1u << 30;
	return (uint32_t)m;
}

/*
 * The paper's error model (§VI): an edge query is wrong when another edge
 * collides with it in code space, P = 1 - exp(-(E + (M - 1) D) / M^2) with D
 * the edges adjacent to it (2E/V on average); a 1-hop answer reports about
 * 1 + 2V/M IDs per true neighbour. Unknown inputs (0) give 0.
 */
static void error_model(double M, double E, double V, double *edge_error, double *precision)
{
	double D = V > 0 ? 2.0 * E / V : 0;

	*edge_error = E > 0 ? -expm1(-(E + (M - 1) * D) / (M * M)) : 0;
	*precision = V > 0 ? 1.0 / (1.0 + 2.0 * V / M) : 0;
}

/* The width a plan gets: given, sized from edges/memory, or the growth start. */
static uint32_t sized_width(const struct gss_params *p, uint32_t m, unsigned fp, double fill)
{
	if (m)
		return m;
	if (p->expect_edges || p->memory)
		return width_for(p->expect_edges, p->memory, rooms_for_fp(fp), fill);
	return GSS_DEFAULT_GROW_WIDTH;
}

int gss_plan(const struct gss_params *p, struct gss_plan *out)
{
	double fill, M;
	uint32_t r, fp, m;

	if (!p || p->sz < sizeof(*p) || !out)
		return -EINVAL;
	fill = p->fill > 0 ? p->fill : GSS_DEFAULT_FILL;
	r = p->addrs ? p->addrs : GSS_DEFAULT_ADDRS;
	fp = p->fp_bits;
	m = p->width;
	if (fill > 0.97 || r > GSS_MAX_ADDRS)
		return -EINVAL;
	if (fp && !rooms_for_fp(fp))
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	out->grow = (p->flags & GSS_F_GROW) || (!m && !p->expect_edges && !p->memory);

	if (!fp) {
		/*
		 * The smallest fingerprint that meets the precision rule. Without
		 * a node count: 16 bits for a sized sketch, and 24 for one that
		 * grows from nothing, since growth keeps M fixed and M must stay
		 * ~200x the node count (2.1e9 covers graphs of 10 M nodes).
		 */
		fp = out->grow && !p->expect_nodes ? GSS_DEFAULT_GROW_FP : GSS_DEFAULT_FP;
		for (size_t i = 0; p->expect_nodes && i < sizeof(fp_choices); i++) {
			unsigned f = fp_choices[i];
			uint32_t w = sized_width(p, m, f, fill);

			fp = f;
			if ((double)w * ldexp(1.0, (int)f) >=
			    GSS_PRECISION_FACTOR * (double)p->expect_nodes)
				break;
		}
	}
	if (!m)
		m = sized_width(p, 0, fp, fill);
	if (m < 1 || m > (1u << 30))
		return -EINVAL;

	out->width = m;
	out->fp_bits = fp;
	out->addrs = r;
	out->cands = p->cands ? p->cands : r * r;
	if (out->cands < 1 || out->cands > r * r || out->cands > GSS_MAX_CANDS)
		return -EINVAL;
	out->rooms_per_bucket = rooms_for_fp(fp);
	out->rooms = (uint64_t)m * m * out->rooms_per_bucket;
	out->matrix_bytes = (uint64_t)m * m * GSS_BUCKET;
	out->node_space = (uint64_t)m << fp;
	M = (double)m * ldexp(1.0, (int)fp);
	out->fill = (double)p->expect_edges / (double)out->rooms;
	error_model(M, (double)p->expect_edges, (double)p->expect_nodes, &out->edge_error,
		    &out->succ_precision);
	return 0;
}

uint32_t gss__mask_bits_for(uint64_t rooms)
{
	uint32_t bits = 10;

	/* One index byte per 8 rooms: about 1 % of the matrix. */
	while (bits < 32 && (1ULL << bits) < rooms / 8)
		bits++;
	return bits;
}

#define GSS_BIG (2u << 20)

/*
 * Large zeroed arrays (the matrix, the query index, the hub detector) are
 * read at random, so they get their own mapping, advised onto huge pages:
 * on these machines a TLB miss per access costs more than the access. The
 * kernel's zero pages also make an untouched sketch free. Small ones come
 * from the heap, 64-byte aligned so buckets never straddle cache lines.
 */
void *gss__big_alloc(size_t n)
{
	void *p;

	if (n < GSS_BIG) {
		p = aligned_alloc(GSS_BUCKET, (n + GSS_BUCKET - 1) / GSS_BUCKET * GSS_BUCKET);
		if (p)
			memset(p, 0, n);
		return p;
	}
	p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	madvise(p, n, MADV_HUGEPAGE);
	return p;
}

void gss__big_free(void *p, size_t n)
{
	if (!p)
		return;
	if (n < GSS_BIG)
		free(p);
	else
		munmap(p, n);
}

int gss__alloc_matrix(uint32_t m, uint8_t **out, size_t *bytes, enum gss_matrix_kind *kind)
{
	size_t n;

	if (check_mul_overflow((size_t)m, (size_t)m, &n) || check_mul_overflow(n, GSS_BUCKET, &n))
		return -ENOMEM;
	*out = gss__big_alloc(n);
	if (!*out)
		return -ENOMEM;
	*kind = GSS_MAT_ANON;
	*bytes = n;
	return 0;
}

void gss__free_matrix(uint8_t *matrix, size_t bytes, enum gss_matrix_kind kind)
{
	/* GSS_MAT_FILE: the mapping is released with the sketch's map. */
	if (kind == GSS_MAT_ANON)
		gss__big_free(matrix, bytes);
}

void gss__set_format(struct gss_fmt *f, unsigned fp)
{
	f->fp = (uint8_t)fp;
	f->l = (uint8_t)rooms_for_fp(fp);
	f->fpb = (uint8_t)(2 * fp / 8);
	f->key_off = (uint8_t)(4 * f->l);
	f->key_mask = f->fpb == 8 ? ~0ULL : (1ULL << (8 * f->fpb)) - 1;
	f->lane_mask = 0;
	for (unsigned s = 0; s < f->l; s++)
		f->lane_mask |= 0x80ULL << (8 * s);
}

static void set_candidates(struct gss *g)
{
	unsigned n = 0;

	/*
	 * Shell order: all pairs with max(i, j) = s before any with s + 1.
	 * Within a shell the source's new row comes first, (s, a) before
	 * (a, s): an edge that misses its first bucket stays in its
	 * destination's column and moves to another row of its source, since
	 * rows scan sequentially and columns stride through memory.
	 */
	for (unsigned s = 0; s < g->r && n < g->k; s++) {
		for (unsigned a = 0; a < s && n < g->k; a++) {
			g->cand_i[n] = (uint8_t)s;
			g->cand_j[n++] = (uint8_t)a;
			if (n < g->k) {
				g->cand_i[n] = (uint8_t)a;
				g->cand_j[n++] = (uint8_t)s;
			}
		}
		if (n < g->k) {
			g->cand_i[n] = (uint8_t)s;
			g->cand_j[n++] = (uint8_t)s;
		}
	}
}

/*
 * Everything that follows from the configuration fields (fmt, m0, fp0, r, k,
 * seed, flags) and the geometry (m, level): derived seeds, candidate order,
 * lock, and empty auxiliary structures. Shared by gss_create() and gss_load();
 * cm_bits sizes the hub detector (0: from the matrix).
 */
int gss__init_common(struct gss *g, uint32_t cm_bits)
{
	int ret;

	g->node_space = (uint64_t)g->m0 << g->fp0;
	g->seed_addr = hash_mix64(g->seed ^ 0x243f6a8885a308d3ULL);
	g->seed_route = hash_mix64(g->seed ^ 0x13198a2e03707344ULL);
	g->seed_sub[GSS_OUT] = hash_mix64(g->seed ^ 0xa4093822299f31d0ULL);
	g->seed_sub[GSS_IN] = hash_mix64(g->seed ^ 0x082efa98ec4e6c89ULL);
	g->seed_mask = hash_mix64(g->seed ^ 0x452821e638d01377ULL);
	g->seed_sample = hash_mix64(g->seed ^ 0xbe5466cf34e90c6cULL);
	set_candidates(g);
	if (g->flags & GSS_F_THREADSAFE) {
		pthread_rwlockattr_t attr;

		g->lock = malloc(sizeof(*g->lock));
		if (!g->lock)
			return -ENOMEM;
		/* Writers must not starve behind a stream of queries. */
		pthread_rwlockattr_init(&attr);
		pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
		ret = -pthread_rwlock_init(g->lock, &attr);
		pthread_rwlockattr_destroy(&attr);
		if (ret) {
			free(g->lock);
			g->lock = NULL;
			return ret;
		}
	}
	g->reach = calloc(1, sizeof(*g->reach));
	if (!g->reach) {
		ret = -ENOMEM;
		goto err_lock;
	}
	pthread_mutex_init(&g->reach->lock, NULL);
	ret = gss__buf_init(&g->buf);
	if (ret)
		goto err_reach;
	ret = gss__spill_init(&g->spills);
	if (ret)
		goto err_buf;
	ret = gss__hubs_init(g, cm_bits);
	if (ret)
		goto err_spill;
	ret = gss__ids_init(&g->ids);
	if (ret)
		goto err_hubs;
	return 0;

err_hubs:
	gss__hubs_destroy(&g->hubs);
err_spill:
	gss__spill_destroy(&g->spills);
err_buf:
	gss__buf_destroy(&g->buf);
err_reach:
	pthread_mutex_destroy(&g->reach->lock);
	free(g->reach);
	g->reach = NULL;
err_lock:
	if (g->lock) {
		pthread_rwlock_destroy(g->lock);
		free(g->lock);
		g->lock = NULL;
	}
	return ret;
}

int gss_create(const struct gss_params *p, struct gss **out)
{
	struct gss_plan plan;
	struct gss *g;
	int ret;

	if (!out)
		return -EINVAL;
	ret = gss_plan(p, &plan);
	if (ret)
		return ret;
	g = calloc(1, sizeof(*g));
	if (!g)
		return -ENOMEM;
	gss__set_format(&g->fmt, plan.fp_bits);
	g->m0 = g->m = plan.width;
	g->fp0 = plan.fp_bits;
	g->r = plan.addrs;
	g->k = plan.cands;
	g->seed = p->seed;
	g->flags = p->flags | (plan.grow ? GSS_F_GROW : 0);

	ret = gss__alloc_matrix(g->m, &g->matrix, &g->matrix_bytes, &g->matrix_kind);
	if (ret)
		goto err_free;
	g->mask_bits = gss__mask_bits_for(gss__rooms(g));
	g->mask = gss__big_alloc((size_t)1 << g->mask_bits);
	if (!g->mask) {
		ret = -ENOMEM;
		goto err_matrix;
	}
	ret = gss__init_common(g, 0);
	if (ret)
		goto err_mask;
	*out = g;
	return 0;

err_mask:
	gss__big_free(g->mask, (size_t)1 << g->mask_bits);
err_matrix:
	gss__free_matrix(g->matrix, g->matrix_bytes, g->matrix_kind);
err_free:
	free(g);
	return ret;
}

void gss_destroy(struct gss *g)
{
	if (!g)
		return;
	gss__ids_destroy(&g->ids);
	gss__hubs_destroy(&g->hubs);
	gss__spill_destroy(&g->spills);
	gss__buf_destroy(&g->buf);
	gss__reach_cache_drop(g->reach);
	pthread_mutex_destroy(&g->reach->lock);
	free(g->reach);
	gss__big_free(g->mask, (size_t)1 << g->mask_bits);
	gss__free_matrix(g->matrix, g->matrix_bytes, g->matrix_kind);
	if (g->map)
		munmap(g->map, g->map_len);
	if (g->lock) {
		pthread_rwlock_destroy(g->lock);
		free(g->lock);
	}
	free(g);
}

uint64_t gss_node(const struct gss *g, const void *id, size_t len)
{
	return gss__code_from_hash(g, hash_bytes(id, len, g->seed));
}

int gss_add_id(struct gss *g, const void *id, size_t len, uint64_t *code)
{
	uint64_t c = gss_node(g, id, len);
	int ret = 0;

	if (code)
		*code = c;
	if (!(g->flags & GSS_F_IDS))
		return 0;
	if (len > UINT32_MAX)
		return -EINVAL;
	gss__wlock(g);
	ret = gss__ids_add(&g->ids, c, id, len);
	gss__unlock(g);
	return ret;
}

int gss_ids(const struct gss *g, uint64_t code, gss_id_fn *fn, void *arg)
{
	const struct gss_idtab *t = &g->ids;
	struct hmap_iter it;
	int ret = 0;

	if (!(g->flags & GSS_F_IDS))
		return -ENOTSUP;
	gss__rlock(g);
	for (uint32_t e = hmap_first(&t->by_code, hash_mix64(code), &it); e != HMAP_NONE;
	     e = hmap_next(&t->by_code, &it)) {
		if (t->ent[e].code != code)
			continue;
		/* An empty first ID leaves the arena unallocated. */
		ret = fn(t->arena ? t->arena + t->ent[e].off : "", t->ent[e].len, arg);
		if (ret)
			break;
	}
	gss__unlock(g);
	return ret;
}

int gss_get_stats(const struct gss *g, struct gss_stats *st)
{
	if (!st)
		return -EINVAL;
	gss__rlock(g);
	memset(st, 0, sizeof(*st));
	st->flags = g->flags;
	st->width = g->m;
	st->fp_bits = g->fp0 - g->level;
	st->addrs = g->r;
	st->cands = g->k;
	st->rooms_per_bucket = g->fmt.l;
	st->grow_steps = g->level;
	st->node_space = g->node_space;
	st->rooms = gss__rooms(g);
	st->rooms_used = g->rooms_used;
	st->buffered = g->buf.live;
	st->edges = g->rooms_used + st->buffered;
	st->hubs = g->hubs.n;
	st->hub_subnodes = g->hubs.subnodes;
	st->ids = g->ids.n;
	st->updates = g->updates;
	st->kicks = g->kicks;
	st->migrated = g->migrated;
	st->matrix_bytes = g->matrix_bytes;
	st->aux_bytes = ((size_t)1 << g->mask_bits) + gss__buf_memory(&g->buf) +
			gss__spill_memory(&g->spills) + gss__hubs_memory(g) + sizeof(*g);
	st->id_bytes = gss__ids_memory(&g->ids);
	if (g->flags & GSS_F_IDS)
		error_model((double)g->node_space, (double)st->edges, (double)st->ids,
			    &st->edge_error, &st->succ_precision);
	gss__unlock(g);
	return 0;
}

const char *gss_strerror(int err)
{
	if (err < 0)
		err = -err;
	switch (err) {
	case 0:
		return "success";
	case EINVAL:
		return "invalid argument";
	case ENOMEM:
		return "out of memory";
	case ENOSPC:
		return "no fingerprint bit left to grow the matrix";
	case ERANGE:
		return "weight overflows a 64-bit integer";
	case ENOTSUP:
		return "the sketch was built without this feature (e.g. the ID table)";
	case EBADMSG:
		return "sketch file is corrupt";
	case EPROTO:
		return "sketch file has an unsupported version or byte order";
	default:
		/* strerror() may share a buffer between threads; the description never does. */
		return strerrordesc_np(err) ? strerrordesc_np(err) : "unknown error";
	}
}
