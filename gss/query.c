// SPDX-License-Identifier: MIT
/*
 * Queries. Everything is built on two primitives:
 *
 *   - the edge lookup (probe in update.c, reused by gss_edge_weight());
 *   - the room scan: every room whose source (destination) is a given node
 *     or sub-node, found by scanning the rows (columns) the query index says
 *     it uses. A row is m consecutive buckets, read at memory bandwidth; a
 *     column is m buckets a row apart, so its scan prefetches ahead.
 *
 * A room decodes to its two endpoint codes: the address of its bucket, its
 * fingerprints and its index pair give h = (address - q(f, i)) mod m, and
 * (h, f) gives the code (gss-int.h). Sub-node endpoints map back to their hub
 * through the directory. Successor and precursor queries report each hashed
 * neighbour once; node queries sum the same scan; reachability runs a
 * bidirectional BFS over it and, when that would read more buckets than the
 * whole matrix holds, materialises the hashed graph once instead.
 */
#include <errno.h>
#include <stdlib.h>

#include "gss-int.h"
#include "vec.h"

void gss__decode_room(const struct gss *g, const uint8_t *b, unsigned slot, uint32_t row,
		      uint32_t col, struct gss_end *es, struct gss_end *ed)
{
	unsigned idx = room_idx(b, slot);
	uint64_t key = room_key(b, &g->fmt, slot);
	uint32_t fs = (uint32_t)(key >> g->fmt.fp);
	uint32_t fd = (uint32_t)(key & ((1ULL << g->fmt.fp) - 1));

	es->f = fs;
	es->h = gss__unaddr(g, row, fs, IDX_I(idx));
	es->sub = idx & IDX_SSUB;
	es->code = gss__canon_code(g, es->h, fs);
	ed->f = fd;
	ed->h = gss__unaddr(g, col, fd, IDX_J(idx));
	ed->sub = idx & IDX_DSUB;
	ed->code = gss__canon_code(g, ed->h, fd);
}

uint64_t gss__base_of(const struct gss *g, const struct gss_end *e, unsigned dir)
{
	uint64_t base;

	if (!e->sub)
		return e->code;
	return gss__hub_rev(g, e->code, dir, &base) ? e->code : base;
}

int64_t gss__room_weight(const struct gss *g, int32_t rw, const struct gss_end *es,
			 const struct gss_end *ed)
{
	const int64_t *w;

	if (rw != GSS_SPILL)
		return rw;
	w = gss__spill_find(&g->spills, gss__end_id(es), gss__end_id(ed));
	return w ? *w : 0;
}

#define GSS_SCAN_AHEAD 32

/* Rooms in row a whose source is e at address index i. */
static int scan_row(const struct gss *g, const struct gss_end *e, unsigned i, uint32_t a,
		    gss_room_fn *fn, void *arg)
{
	const struct gss_fmt *f = &g->fmt;
	unsigned want = i | (e->sub ? IDX_SSUB : 0);
	const uint8_t *b = gss__bucket(g, a, 0);
	int ret;

	for (uint32_t c = 0; c < g->m; c++, b += GSS_BUCKET) {
		unsigned fps = bucket_fp_match(b, f, true, e->f);
		uint64_t lanes;

		/* Fingerprints first: in a node's own row most index bytes match too. */
		if (!fps)
			continue;
		lanes = bucket_idx_lanes(b, f, IDX_SSUB | 3u, want);
		for (; lanes; lanes &= lanes - 1) {
			unsigned s = lane_slot(lanes);

			if (!(fps & (1u << s)) || !room_w(b, s))
				continue;
			ret = fn(g, b, s, a, c, arg);
			if (ret)
				return ret;
		}
	}
	return 0;
}

/* Rooms in column a whose destination is e at address index j. */
static int scan_col(const struct gss *g, const struct gss_end *e, unsigned j, uint32_t a,
		    gss_room_fn *fn, void *arg)
{
	const struct gss_fmt *f = &g->fmt;
	unsigned want = j << 2 | (e->sub ? IDX_DSUB : 0);
	size_t stride = (size_t)g->m * GSS_BUCKET;
	const uint8_t *b = gss__bucket(g, 0, a);
	int ret;

	for (uint32_t r = 0; r < g->m; r++, b += stride) {
		unsigned fps;
		uint64_t lanes;

		/*
		 * Columns defeat the hardware prefetcher; run well ahead of it,
		 * since a miss costs hundreds of nanoseconds on virtual machines.
		 */
		if (r + GSS_SCAN_AHEAD < g->m)
			prefetch_r(b + GSS_SCAN_AHEAD * stride);
		fps = bucket_fp_match(b, f, false, e->f);
		if (!fps)
			continue;
		lanes = bucket_idx_lanes(b, f, IDX_DSUB | 0xCu, want);
		for (; lanes; lanes &= lanes - 1) {
			unsigned s = lane_slot(lanes);

			if (!(fps & (1u << s)) || !room_w(b, s))
				continue;
			ret = fn(g, b, s, r, a, arg);
			if (ret)
				return ret;
		}
	}
	return 0;
}

int gss__scan_rooms(const struct gss *g, const struct gss_end *e, unsigned dir, gss_room_fn *fn,
		    void *arg)
{
	uint8_t used = g->mask[gss__mask_slot(g, e->h, e->f, e->sub)];
	unsigned lines = (dir == GSS_OUT ? used : used >> 4) & ((1u << g->r) - 1);
	int ret;

	for (unsigned i = 0; i < g->r; i++) {
		uint32_t a;

		if (!(lines & (1u << i)))
			continue;
		a = gss__addr(g, e->h, e->f, i);
		ret = dir == GSS_OUT ? scan_row(g, e, i, a, fn, arg)
				     : scan_col(g, e, i, a, fn, arg);
		if (ret)
			return ret;
	}
	return 0;
}

/* ======================== Edges ======================== */

static int edge_lookup(const struct gss *g, uint64_t s, uint64_t d, int64_t *w)
{
	struct gss_end es, ed;
	uint32_t row[GSS_MAX_ADDRS], col[GSS_MAX_ADDRS];
	unsigned nrow = 0, ncol = 0;
	uint64_t key;
	unsigned flags;
	uint32_t e;

	if (s >= g->node_space || d >= g->node_space)
		return -EINVAL;
	gss__route(g, s, d, &es, &ed);
	key = (uint64_t)es.f << g->fmt.fp | ed.f;
	flags = (es.sub ? IDX_SSUB : 0) | (ed.sub ? IDX_DSUB : 0);
	for (unsigned t = 0; t < g->k; t++) {
		unsigned i = g->cand_i[t], j = g->cand_j[t];
		const uint8_t *b;
		int slot;

		for (; nrow <= i; nrow++)
			row[nrow] = gss__addr(g, es.h, es.f, nrow);
		for (; ncol <= j; ncol++)
			col[ncol] = gss__addr(g, ed.h, ed.f, ncol);
		b = gss__bucket(g, row[i], col[j]);
		slot = bucket_find(b, &g->fmt, i | j << 2 | flags, key);
		if (slot >= 0) {
			*w = gss__room_weight(g, room_w(b, (unsigned)slot), &es, &ed);
			return 0;
		}
		if (!bucket_overflowed(b))
			break;
	}
	e = g->buf.live ? gss__buf_find(&g->buf, s, d) : GSS_NIL;
	*w = e == GSS_NIL ? 0 : g->buf.ent[e].w;
	return 0;
}

int gss_edge_weight(const struct gss *g, uint64_t src, uint64_t dst, int64_t *w)
{
	int ret;

	if (!w)
		return -EINVAL;
	gss__rlock(g);
	ret = edge_lookup(g, src, dst, w);
	gss__unlock(g);
	return ret;
}

int gss__edges(const struct gss *g, gss_edge_fn *fn, void *arg)
{
	const struct gss_buffer *buf = &g->buf;
	int ret;

	for (uint64_t bno = 0; bno < (uint64_t)g->m * g->m; bno++) {
		const uint8_t *b = gss__bucket_at(g, bno);

		for (unsigned s = 0; s < g->fmt.l; s++) {
			struct gss_end es, ed;
			int32_t rw = room_w(b, s);

			if (!rw)
				continue;
			gss__decode_room(g, b, s, (uint32_t)(bno / g->m), (uint32_t)(bno % g->m),
					 &es, &ed);
			ret = fn(gss__base_of(g, &es, GSS_OUT), gss__base_of(g, &ed, GSS_IN),
				 gss__room_weight(g, rw, &es, &ed), arg);
			if (ret)
				return ret;
		}
	}
	for (uint32_t e = 0; e < buf->used; e++) {
		if (!buf->ent[e].live)
			continue;
		ret = fn(buf->ent[e].s, buf->ent[e].d, buf->ent[e].w, arg);
		if (ret)
			return ret;
	}
	return 0;
}

int gss_for_each_edge(const struct gss *g, gss_edge_fn *fn, void *arg)
{
	int ret;

	if (!fn)
		return -EINVAL;
	gss__rlock(g);
	ret = gss__edges(g, fn, arg);
	gss__unlock(g);
	return ret;
}

/* ======================== Neighbours ======================== */

struct nbr_ctx {
	unsigned dir;
	gss_nbr_fn *fn;
	void *arg;
};

static int emit_room(const struct gss *g, const uint8_t *b, unsigned slot, uint32_t row,
		     uint32_t col, void *arg)
{
	struct nbr_ctx *c = arg;
	struct gss_end es, ed;
	uint64_t other;

	gss__decode_room(g, b, slot, row, col, &es, &ed);
	other = c->dir == GSS_OUT ? gss__base_of(g, &ed, GSS_IN) : gss__base_of(g, &es, GSS_OUT);
	return c->fn(other, gss__room_weight(g, room_w(b, slot), &es, &ed), c->arg);
}

static int emit_buf(const struct gss_buf_ent *e, void *arg)
{
	struct nbr_ctx *c = arg;

	return c->fn(c->dir == GSS_OUT ? e->d : e->s, e->w, c->arg);
}

/* Every neighbour of v in direction dir: each of its sub-nodes' rooms, then the buffer. */
static int neighbours(const struct gss *g, uint64_t v, unsigned dir, gss_nbr_fn *fn, void *arg)
{
	struct nbr_ctx c = { dir, fn, arg };
	const struct gss_hub *h;
	unsigned lvl;
	int ret;

	if (v >= g->node_space || !fn)
		return -EINVAL;
	h = gss__hub_find(g, v);
	lvl = h ? h->lvl[dir] : 0;
	for (uint32_t t = 0; t < (1u << lvl); t++) {
		struct gss_end e;

		gss__end(g, &e, t ? gss__hub_sub(g, h, dir, t) : v, t != 0);
		ret = gss__scan_rooms(g, &e, dir, emit_room, &c);
		if (ret)
			return ret;
	}
	if (!g->buf.live)
		return 0;
	return gss__buf_chain(&g->buf, v, dir, emit_buf, &c);
}

int gss_successors(const struct gss *g, uint64_t v, gss_nbr_fn *fn, void *arg)
{
	int ret;

	gss__rlock(g);
	ret = neighbours(g, v, GSS_OUT, fn, arg);
	gss__unlock(g);
	return ret;
}

int gss_precursors(const struct gss *g, uint64_t v, gss_nbr_fn *fn, void *arg)
{
	int ret;

	gss__rlock(g);
	ret = neighbours(g, v, GSS_IN, fn, arg);
	gss__unlock(g);
	return ret;
}

struct agg {
	int64_t w;
	uint64_t n;
	bool overflow;
};

static int add_agg(uint64_t node, int64_t w, void *arg)
{
	struct agg *a = arg;

	(void)node;
	if (check_add_overflow(a->w, w, &a->w))
		a->overflow = true;
	a->n++;
	return 0;
}

static int node_agg(const struct gss *g, uint64_t v, unsigned dir, int64_t *weight,
		    uint64_t *degree)
{
	struct agg a = { 0, 0, false };
	int ret;

	gss__rlock(g);
	ret = neighbours(g, v, dir, add_agg, &a);
	gss__unlock(g);
	if (ret)
		return ret;
	if (a.overflow)
		return -ERANGE;
	if (weight)
		*weight = a.w;
	if (degree)
		*degree = a.n;
	return 0;
}

int gss_node_out(const struct gss *g, uint64_t v, int64_t *weight, uint64_t *degree)
{
	return node_agg(g, v, GSS_OUT, weight, degree);
}

int gss_node_in(const struct gss *g, uint64_t v, int64_t *weight, uint64_t *degree)
{
	return node_agg(g, v, GSS_IN, weight, degree);
}

/* ======================== Top-k ======================== */

struct topk {
	struct gss_nbr *heap; /* min-heap on w, at most k */
	size_t n, k;
};

static void heap_down(struct gss_nbr *h, size_t n, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, m = i;
		struct gss_nbr t;

		if (l < n && h[l].w < h[m].w)
			m = l;
		if (l + 1 < n && h[l + 1].w < h[m].w)
			m = l + 1;
		if (m == i)
			return;
		t = h[i];
		h[i] = h[m];
		h[m] = t;
		i = m;
	}
}

static int topk_add(uint64_t node, int64_t w, void *arg)
{
	struct topk *t = arg;

	if (t->n < t->k) {
		size_t i = t->n++;

		t->heap[i] = (struct gss_nbr){ node, w };
		while (i && t->heap[(i - 1) / 2].w > t->heap[i].w) {
			struct gss_nbr x = t->heap[i];

			t->heap[i] = t->heap[(i - 1) / 2];
			t->heap[(i - 1) / 2] = x;
			i = (i - 1) / 2;
		}
	} else if (w > t->heap[0].w) {
		t->heap[0] = (struct gss_nbr){ node, w };
		heap_down(t->heap, t->n, 0);
	}
	return 0;
}

static int top_query(const struct gss *g, uint64_t v, unsigned dir, size_t k, struct gss_nbr *out,
		     size_t *n)
{
	struct topk t = { out, 0, k };
	int ret;

	if ((k && !out) || !n)
		return -EINVAL;
	*n = 0;
	if (!k)
		return 0;
	gss__rlock(g);
	ret = neighbours(g, v, dir, topk_add, &t);
	gss__unlock(g);
	if (ret)
		return ret;
	/* Heap-sort in place: repeatedly move the minimum to the end. */
	for (size_t end = t.n; end > 1; end--) {
		struct gss_nbr x = out[0];

		out[0] = out[end - 1];
		out[end - 1] = x;
		heap_down(out, end - 1, 0);
	}
	*n = t.n;
	return 0;
}

int gss_top_out(const struct gss *g, uint64_t v, size_t k, struct gss_nbr *out, size_t *n)
{
	return top_query(g, v, GSS_OUT, k, out, n);
}

int gss_top_in(const struct gss *g, uint64_t v, size_t k, struct gss_nbr *out, size_t *n)
{
	return top_query(g, v, GSS_IN, k, out, n);
}

/* ======================== Subgraphs ======================== */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

struct sub_ctx {
	const uint64_t *set;
	size_t n;
	int64_t sum;
	bool overflow;
};

static int sub_add(uint64_t node, int64_t w, void *arg)
{
	struct sub_ctx *c = arg;

	if (bsearch(&node, c->set, c->n, sizeof(*c->set), cmp_u64) &&
	    check_add_overflow(c->sum, w, &c->sum))
		c->overflow = true;
	return 0;
}

int gss_subgraph_weight(const struct gss *g, const uint64_t *nodes, size_t n, int64_t *out)
{
	struct sub_ctx c = { NULL, 0, 0, false };
	uint64_t *set;
	size_t u = 0;
	int ret = 0;

	if ((n && !nodes) || !out)
		return -EINVAL;
	set = malloc((n ? n : 1) * sizeof(*set));
	if (!set)
		return -ENOMEM;
	memcpy(set, nodes, n * sizeof(*set));
	qsort(set, n, sizeof(*set), cmp_u64);
	for (size_t i = 0; i < n; i++) {
		if (!i || set[i] != set[i - 1])
			set[u++] = set[i];
	}
	c.set = set;
	c.n = u;
	gss__rlock(g);
	for (size_t i = 0; i < u && !ret; i++)
		ret = neighbours(g, set[i], GSS_OUT, sub_add, &c);
	gss__unlock(g);
	free(set);
	if (ret)
		return ret;
	if (c.overflow)
		return -ERANGE;
	*out = c.sum;
	return 0;
}

/* ======================== Reachability ======================== */

/* A set of codes with insertion order: the BFS visited set and queue in one. */
struct nodeset {
	uint64_t *v;
	size_t n, cap, head; /* v[head..n) is the BFS queue */
	struct hmap map;
};

static int set_init(struct nodeset *s)
{
	s->v = NULL;
	s->n = s->cap = s->head = 0;
	return hmap_init(&s->map, 64);
}

static void set_free(struct nodeset *s)
{
	free(s->v);
	hmap_destroy(&s->map);
}

/* Position of x in the set, or SIZE_MAX. */
static size_t set_find(const struct nodeset *s, uint64_t x)
{
	struct hmap_iter it;

	for (uint32_t i = hmap_first(&s->map, hash_mix64(x), &it); i != HMAP_NONE;
	     i = hmap_next(&s->map, &it)) {
		if (s->v[i] == x)
			return i;
	}
	return SIZE_MAX;
}

static bool set_has(const struct nodeset *s, uint64_t x)
{
	return set_find(s, x) != SIZE_MAX;
}

/* Adds x if absent; *pos (if not NULL) receives its position. 1 if added, 0 if present, -errno. */
static int set_put(struct nodeset *s, uint64_t x, size_t *pos)
{
	size_t at = set_find(s, x);
	int ret;

	if (at != SIZE_MAX) {
		if (pos)
			*pos = at;
		return 0;
	}
	if (s->n >= UINT32_MAX)
		return -E2BIG;
	ret = vec_reserve((void **)&s->v, &s->cap, s->n + 1, sizeof(*s->v), 64);
	if (ret)
		return ret;
	ret = hmap_insert(&s->map, hash_mix64(x), (uint32_t)s->n);
	if (ret)
		return ret;
	if (pos)
		*pos = s->n;
	s->v[s->n++] = x;
	return 1;
}

struct bfs_ctx {
	struct nodeset *mine, *theirs;
	bool met;
	int err;
};

static int bfs_visit(uint64_t node, int64_t w, void *arg)
{
	struct bfs_ctx *c = arg;
	int ret;

	(void)w;
	if (set_has(c->theirs, node)) {
		c->met = true;
		return 1;
	}
	ret = set_put(c->mine, node, NULL);
	if (ret < 0) {
		c->err = ret;
		return 1;
	}
	return 0;
}

/*
 * The materialised hashed graph: successor lists in CSR form over dense node
 * numbers. Built when a BFS would read more buckets than the matrix holds,
 * then kept for the next reachability query until the sketch changes
 * (gss__reach_cache_drop() runs before every update), so a batch of
 * queries pays for one build. Lives in struct gss_reach_cache.
 */
struct gss_reach_cache {
	uint64_t version;     /* g->updates when built */
	struct nodeset nodes; /* dense number -> code, and code -> dense number */
	uint32_t *off;	      /* nodes.n + 1 offsets into adj */
	uint32_t *adj;	      /* successors, dense numbers */
};

struct csr_build {
	struct nodeset *nodes;
	uint64_t *pairs; /* (src << 32 | dst) in dense numbers */
	size_t np, cap;
	int err;
};

static int csr_collect(uint64_t s, uint64_t d, int64_t w, void *arg)
{
	struct csr_build *c = arg;
	size_t ds = 0, dd = 0;
	int ret;

	(void)w;
	if ((ret = set_put(c->nodes, s, &ds)) < 0 || (ret = set_put(c->nodes, d, &dd)) < 0)
		goto err;
	ret = vec_reserve((void **)&c->pairs, &c->cap, c->np + 1, sizeof(*c->pairs), 1024);
	if (ret)
		goto err;
	c->pairs[c->np++] = (uint64_t)ds << 32 | dd;
	return 0;
err:
	c->err = ret;
	return 1;
}

void gss__reach_cache_drop(struct gss_reach_state *rs)
{
	struct gss_reach_cache *rc = rs->cache;

	if (!rc)
		return;
	rs->cache = NULL;
	set_free(&rc->nodes);
	free(rc->off);
	free(rc->adj);
	free(rc);
}

static int reach_cache_build(const struct gss *g, struct gss_reach_cache **out)
{
	struct gss_reach_cache *rc = calloc(1, sizeof(*rc));
	struct csr_build c = { 0 };
	int ret;

	if (!rc)
		return -ENOMEM;
	ret = set_init(&rc->nodes);
	if (ret)
		goto err_rc;
	c.nodes = &rc->nodes;
	gss__edges(g, csr_collect, &c);
	ret = c.err;
	if (ret)
		goto err_nodes;
	if (c.np)
		qsort(c.pairs, c.np, sizeof(*c.pairs), cmp_u64);
	rc->off = calloc(rc->nodes.n + 1, sizeof(*rc->off));
	rc->adj = malloc((c.np ? c.np : 1) * sizeof(*rc->adj));
	if (!rc->off || !rc->adj) {
		ret = -ENOMEM;
		goto err_arrays;
	}
	for (size_t i = 0; i < c.np; i++) {
		rc->off[(c.pairs[i] >> 32) + 1]++;
		rc->adj[i] = (uint32_t)c.pairs[i];
	}
	for (size_t i = 0; i < rc->nodes.n; i++)
		rc->off[i + 1] += rc->off[i];
	free(c.pairs);
	rc->version = g->updates;
	*out = rc;
	return 0;

err_arrays:
	free(rc->off);
	free(rc->adj);
err_nodes:
	free(c.pairs);
	set_free(&rc->nodes);
err_rc:
	free(rc);
	return ret;
}

/* BFS over the cached graph. Nodes without out-edges in it have none. */
static int reach_cached(const struct gss_reach_cache *rc, uint64_t src, uint64_t dst, bool *out)
{
	size_t s = set_find(&rc->nodes, src), d = set_find(&rc->nodes, dst);
	uint64_t *seen;
	uint32_t *queue;
	size_t head = 0, tail = 0;
	int ret = 0;

	*out = false;
	if (s == SIZE_MAX || d == SIZE_MAX)
		return 0;
	seen = calloc(rc->nodes.n / 64 + 1, sizeof(*seen));
	queue = malloc(rc->nodes.n * sizeof(*queue));
	if (!seen || !queue) {
		ret = -ENOMEM;
		goto out;
	}
	seen[s / 64] |= 1ULL << (s % 64);
	queue[tail++] = (uint32_t)s;
	while (head < tail && !*out) {
		uint32_t v = queue[head++];

		for (uint32_t a = rc->off[v]; a < rc->off[v + 1]; a++) {
			uint32_t u = rc->adj[a];

			if (seen[u / 64] & (1ULL << (u % 64)))
				continue;
			if (u == d) {
				*out = true;
				break;
			}
			seen[u / 64] |= 1ULL << (u % 64);
			queue[tail++] = u;
		}
	}
out:
	free(seen);
	free(queue);
	return ret;
}

/*
 * Reachability through the cache, building it if it is missing or stale.
 * Queries may run concurrently (they hold the read lock, or run in
 * parallel without GSS_F_THREADSAFE), so the cache pointer is handed over
 * under reach_lock; writers, which drop it, never run beside them.
 */
static int reach_materialised(const struct gss *g, uint64_t src, uint64_t dst, bool *out)
{
	struct gss_reach_state *rs = g->reach;
	struct gss_reach_cache *rc;
	int ret = 0;

	pthread_mutex_lock(&rs->lock);
	rc = rs->cache;
	if (!rc || rc->version != g->updates) {
		gss__reach_cache_drop(rs);
		ret = reach_cache_build(g, &rc);
		if (!ret)
			rs->cache = rc;
	}
	pthread_mutex_unlock(&rs->lock);
	if (ret)
		return ret;
	return reach_cached(rc, src, dst, out);
}

static bool reach_cache_fresh(const struct gss *g)
{
	struct gss_reach_state *rs = g->reach;
	bool fresh;

	pthread_mutex_lock(&rs->lock);
	fresh = rs->cache && rs->cache->version == g->updates;
	pthread_mutex_unlock(&rs->lock);
	return fresh;
}

/*
 * Bidirectional BFS: expand the side with the shorter queue, one node at a
 * time. Unreachable pairs usually end fast because one side's closure is
 * small. Each expansion costs about m buckets; once the BFS has read as
 * many buckets as the matrix holds, materialising it is the cheaper way on.
 */
static int reach(const struct gss *g, uint64_t src, uint64_t dst, bool *out)
{
	struct nodeset fwd, bwd;
	uint64_t budget = (uint64_t)g->m * g->m, spent = 0;
	int ret;

	if (src >= g->node_space || dst >= g->node_space || !out)
		return -EINVAL;
	if (src == dst) {
		*out = true;
		return 0;
	}
	/* A fresh materialised graph answers at once. */
	if (reach_cache_fresh(g))
		return reach_materialised(g, src, dst, out);
	ret = set_init(&fwd);
	if (ret)
		return ret;
	ret = set_init(&bwd);
	if (ret)
		goto out_fwd;
	if ((ret = set_put(&fwd, src, NULL)) < 0 || (ret = set_put(&bwd, dst, NULL)) < 0)
		goto out;
	*out = false;
	for (;;) {
		size_t qf = fwd.n - fwd.head, qb = bwd.n - bwd.head;
		bool forward = qf && (!qb || qf <= qb);
		struct bfs_ctx c = { forward ? &fwd : &bwd, forward ? &bwd : &fwd, false, 0 };
		uint64_t v;

		if (!qf || !qb)
			break; /* one side is closed without meeting the other */
		if (spent > budget) {
			ret = reach_materialised(g, src, dst, out);
			goto out;
		}
		v = c.mine->v[c.mine->head++];
		neighbours(g, v, forward ? GSS_OUT : GSS_IN, bfs_visit, &c);
		if (c.err) {
			ret = c.err;
			goto out;
		}
		if (c.met) {
			*out = true;
			break;
		}
		spent += g->m;
	}
	ret = 0;
out:
	set_free(&bwd);
out_fwd:
	set_free(&fwd);
	return ret;
}

int gss_reachable(const struct gss *g, uint64_t src, uint64_t dst, bool *out)
{
	int ret;

	gss__rlock(g);
	ret = reach(g, src, dst, out);
	gss__unlock(g);
	return ret;
}
