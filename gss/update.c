// SPDX-License-Identifier: MIT
/*
 * Updates: finding an edge's room, placing new edges, one-step kicks, weight
 * spills, hub migration and growth. The invariants these functions keep are
 * stated in gss.c (points 5 and 6):
 *
 *   I1  an edge (of the hashed graph) is in at most one place: one room, or
 *       one buffer entry, never both;
 *   I2  if an edge's room is its t-th candidate, candidates 0..t-1 of that
 *       edge carry the overflow flag;
 *   I3  a room whose weight is GSS_SPILL has exactly one spill entry under
 *       its identity, and only such rooms have one.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "gss-int.h"
#include "vec.h"

/* An edge being looked up: its two (routed) endpoints and lazily computed addresses. */
struct probe {
	struct gss_end es, ed;
	uint64_t key;	   /* es.f << fp | ed.f */
	unsigned flags;	   /* IDX_SSUB / IDX_DSUB */
	uint32_t mslot[2]; /* query-index slots of es and ed */
	uint32_t row[GSS_MAX_ADDRS], col[GSS_MAX_ADDRS];
	unsigned nrow, ncol;
};

/* A candidate room: bucket, slot, candidate number and the idx byte it would get. */
struct cand {
	uint8_t *b;
	int slot;
	int t;
	unsigned idx;
};

static inline void probe_ready(const struct gss *g, struct probe *p)
{
	p->key = (uint64_t)p->es.f << g->fmt.fp | p->ed.f;
	p->flags = (p->es.sub ? IDX_SSUB : 0) | (p->ed.sub ? IDX_DSUB : 0);
	p->mslot[0] = gss__mask_slot(g, p->es.h, p->es.f, p->es.sub);
	p->mslot[1] = gss__mask_slot(g, p->ed.h, p->ed.f, p->ed.sub);
	p->nrow = p->ncol = 0;
}

static inline uint8_t *probe_bucket(const struct gss *g, struct probe *p, unsigned t, unsigned *idx)
{
	unsigned i = g->cand_i[t], j = g->cand_j[t];

	while (p->nrow <= i) {
		p->row[p->nrow] = gss__addr(g, p->es.h, p->es.f, p->nrow);
		p->nrow++;
	}
	while (p->ncol <= j) {
		p->col[p->ncol] = gss__addr(g, p->ed.h, p->ed.f, p->ncol);
		p->ncol++;
	}
	*idx = i | j << 2 | p->flags;
	return gss__bucket(g, p->row[i], p->col[j]);
}

void gss__route(const struct gss *g, uint64_t s, uint64_t d, struct gss_end *es, struct gss_end *ed)
{
	const struct gss_hub *hs = NULL, *hd = NULL;
	uint64_t sc = s, dc = d;
	uint32_t t;

	/* Most endpoints are not hubs: two filter bits decide without a lookup. */
	if (g->hubs.n) {
		hs = gss__maybe_hub(g, s) ? gss__hub_find(g, s) : NULL;
		hd = gss__maybe_hub(g, d) ? gss__hub_find(g, d) : NULL;
	}
	if (hs && hs->lvl[GSS_OUT]) {
		t = gss__route_choice(g, d) & ((1u << hs->lvl[GSS_OUT]) - 1);
		if (t)
			sc = gss__hub_sub(g, hs, GSS_OUT, t);
	}
	if (hd && hd->lvl[GSS_IN]) {
		t = gss__route_choice(g, s) & ((1u << hd->lvl[GSS_IN]) - 1);
		if (t)
			dc = gss__hub_sub(g, hd, GSS_IN, t);
	}
	gss__end(g, es, sc, sc != s);
	gss__end(g, ed, dc, dc != d);
}

static void probe_edge(const struct gss *g, struct probe *p, uint64_t s, uint64_t d)
{
	gss__route(g, s, d, &p->es, &p->ed);
	probe_ready(g, p);
}

/*
 * Looks the edge up. Returns its slot and bucket, or -1. Either way *fr is
 * the first candidate with a free room among those examined (t = -1 if
 * none) and *examined how many candidates were looked at: the search stops
 * at the first bucket without the overflow flag (I2).
 */
static int probe_find(const struct gss *g, struct probe *p, uint8_t **hit, struct cand *fr,
		      unsigned *examined)
{
	unsigned t;

	fr->t = -1;
	for (t = 0; t < g->k; t++) {
		unsigned idx;
		uint8_t *b = probe_bucket(g, p, t, &idx);
		int slot = bucket_find(b, &g->fmt, idx, p->key);

		if (slot >= 0) {
			*hit = b;
			*examined = t + 1;
			return slot;
		}
		if (fr->t < 0) {
			int f = bucket_free_slot(b, &g->fmt);

			if (f >= 0)
				*fr = (struct cand){ b, f, (int)t, idx };
		}
		if (!bucket_overflowed(b)) {
			t++;
			break;
		}
	}
	*examined = t;
	return -1;
}

/* The first candidate at or after t0 with a free room. */
static bool probe_free_from(const struct gss *g, struct probe *p, unsigned t0, struct cand *fr)
{
	for (unsigned t = t0; t < g->k; t++) {
		unsigned idx;
		uint8_t *b = probe_bucket(g, p, t, &idx);
		int f = bucket_free_slot(b, &g->fmt);

		if (f >= 0) {
			*fr = (struct cand){ b, f, (int)t, idx };
			return true;
		}
	}
	return false;
}

static inline void mark_index(struct gss *g, const struct probe *p, unsigned idx)
{
	g->mask[p->mslot[0]] |= (uint8_t)(1u << IDX_I(idx));
	g->mask[p->mslot[1]] |= (uint8_t)(0x10u << IDX_J(idx));
}

/* Writes the room at fr, flagging the candidates before it (I2). */
static void probe_place(struct gss *g, struct probe *p, const struct cand *fr, int32_t rw)
{
	for (int t = 0; t < fr->t; t++) {
		unsigned idx;

		bucket_set_overflow(probe_bucket(g, p, (unsigned)t, &idx));
	}
	room_set_key(fr->b, &g->fmt, (unsigned)fr->slot, p->key);
	room_set_idx(fr->b, (unsigned)fr->slot, fr->idx);
	room_set_w(fr->b, (unsigned)fr->slot, rw);
	mark_index(g, p, fr->idx);
	g->rooms_used++;
}

/* The probe of the edge stored in a room, from the room alone. */
static void probe_of_room(const struct gss *g, struct probe *p, const uint8_t *b, unsigned slot,
			  uint32_t row, uint32_t col)
{
	gss__decode_room(g, b, slot, row, col, &p->es, &p->ed);
	probe_ready(g, p);
}

/* Candidate number of index pair (i, j), or -1 if (i, j) is not a candidate. */
static int cand_number(const struct gss *g, unsigned i, unsigned j)
{
	for (unsigned t = 0; t < g->k; t++) {
		if (g->cand_i[t] == i && g->cand_j[t] == j)
			return (int)t;
	}
	return -1;
}

/*
 * One cuckoo step: all candidates of p are full; move one of their rooms to
 * a free candidate of its own and return the room it vacated in *fr.
 */
static bool probe_kick(struct gss *g, struct probe *p, struct cand *fr)
{
	/*
	 * A kick reads up to k * l * k buckets. When the matrix is so full that
	 * kicks keep failing, back off exponentially instead of paying that on
	 * every new edge; one success resets the backoff.
	 */
	if (g->kick_skip) {
		g->kick_skip--;
		return false;
	}
	for (unsigned t = 0; t < g->k; t++) {
		unsigned idx;
		uint8_t *b = probe_bucket(g, p, t, &idx);
		uint64_t bno = (uint64_t)(b - g->matrix) / GSS_BUCKET;
		uint32_t row = (uint32_t)(bno / g->m), col = (uint32_t)(bno % g->m);

		for (unsigned s = 0; s < g->fmt.l; s++) {
			unsigned vidx = room_idx(b, s);
			int cur = cand_number(g, IDX_I(vidx), IDX_J(vidx));
			struct probe v;
			struct cand vf;

			probe_of_room(g, &v, b, s, row, col);
			for (unsigned t2 = 0; t2 < g->k; t2++) {
				unsigned idx2;
				uint8_t *b2;
				int f;

				if ((int)t2 == cur)
					continue;
				b2 = probe_bucket(g, &v, t2, &idx2);
				f = bucket_free_slot(b2, &g->fmt);
				if (f < 0)
					continue;
				vf = (struct cand){ b2, f, (int)t2, idx2 };
				probe_place(g, &v, &vf, room_w(b, s));
				room_set_w(b, s, 0);
				g->rooms_used--;
				g->kicks++;
				g->kick_backoff = 0;
				*fr = (struct cand){ b, (int)s, (int)t, idx };
				return true;
			}
		}
	}
	g->kick_backoff =
		g->kick_backoff ? (g->kick_backoff >= 256 ? 512 : 2 * g->kick_backoff) : 1;
	g->kick_skip = g->kick_backoff;
	return false;
}

/* Frees a room and lets a buffered edge waiting for its bucket move in. */
static int room_free(struct gss *g, uint8_t *b, unsigned slot)
{
	room_set_w(b, slot, 0);
	g->rooms_used--;
	if (g->buf.wlive)
		return gss__buf_refill(g, (uint64_t)(b - g->matrix) / GSS_BUCKET);
	return 0;
}

/* Adds w to the weight in room (b, slot) of edge p. */
static int room_add(struct gss *g, const struct probe *p, uint8_t *b, unsigned slot, int64_t w)
{
	int32_t rw = room_w(b, slot);
	uint64_t sid = gss__end_id(&p->es), did = gss__end_id(&p->ed);
	int64_t nw;
	int ret;

	if (rw == GSS_SPILL) {
		int64_t *sw = gss__spill_find(&g->spills, sid, did);

		if (!sw)
			return -EIO; /* I3 broken: refuse rather than guess */
		if (check_add_overflow(*sw, w, &nw))
			return -ERANGE;
		if (gss__fits32(nw) || nw == 0) {
			gss__spill_remove(&g->spills, sid, did);
			if (nw == 0)
				return room_free(g, b, slot);
			room_set_w(b, slot, (int32_t)nw);
			return 0;
		}
		*sw = nw;
		return 0;
	}
	nw = (int64_t)rw + w;
	if (check_add_overflow((int64_t)rw, w, &nw))
		return -ERANGE;
	if (nw == 0)
		return room_free(g, b, slot);
	if (gss__fits32(nw)) {
		room_set_w(b, slot, (int32_t)nw);
		return 0;
	}
	ret = gss__spill_add(&g->spills, sid, did, nw);
	if (ret)
		return ret;
	room_set_w(b, slot, GSS_SPILL);
	return 0;
}

/* Writes a new room for p with weight w at fr, spilling w if it needs 64 bits. */
static int place_weight(struct gss *g, struct probe *p, const struct cand *fr, int64_t w)
{
	int ret;

	if (!gss__fits32(w)) {
		ret = gss__spill_add(&g->spills, gss__end_id(&p->es), gss__end_id(&p->ed), w);
		if (ret)
			return ret;
		probe_place(g, p, fr, GSS_SPILL);
		return 0;
	}
	probe_place(g, p, fr, (int32_t)w);
	return 0;
}

/*
 * Places base edge s -> d, known to be absent from the matrix and the buffer,
 * with weight w: in a free room, after a kick, or in the buffer. Returns 1 if
 * it went into the matrix, 0 if into the buffer, or -errno.
 */
int gss__place_edge(struct gss *g, uint64_t s, uint64_t d, int64_t w)
{
	struct probe p;
	struct cand fr;
	int ret;

	probe_edge(g, &p, s, d);
	if (probe_free_from(g, &p, 0, &fr) || probe_kick(g, &p, &fr)) {
		ret = place_weight(g, &p, &fr, w);
		return ret ? ret : 1;
	}
	ret = gss__buf_add(g, s, d, w);
	return ret ? ret : 0;
}

static int update_probed(struct gss *g, struct probe *pp, uint64_t s, uint64_t d, int64_t w);

int gss__update(struct gss *g, uint64_t s, uint64_t d, int64_t w)
{
	struct probe p;

	if (s >= g->node_space || d >= g->node_space)
		return -EINVAL;
	if (w == 0)
		return 0;
	probe_edge(g, &p, s, d);
	return update_probed(g, &p, s, d, w);
}

/* gss__update() once the edge's probe is known (valid codes, w != 0). */
static int update_probed(struct gss *g, struct probe *pp, uint64_t s, uint64_t d, int64_t w)
{
	struct probe *p = pp;
	struct cand fr;
	unsigned examined;
	uint8_t *b = NULL;
	uint32_t e;
	int slot, ret;

	/* The graph is about to change: reachability's copy of it goes (no query runs now). */
	if (unlikely(g->reach->cache))
		gss__reach_cache_drop(g->reach);
	slot = probe_find(g, p, &b, &fr, &examined);
	if (slot >= 0) {
		ret = room_add(g, p, b, (unsigned)slot, w);
		if (!ret)
			g->updates++;
		return ret;
	}

	e = g->buf.live ? gss__buf_find(&g->buf, s, d) : GSS_NIL;
	if (e != GSS_NIL) {
		struct gss_buf_ent *ent = &g->buf.ent[e];
		int64_t nw;

		if (check_add_overflow(ent->w, w, &nw))
			return -ERANGE;
		g->updates++;
		if (nw == 0) {
			gss__buf_remove(g, e);
			return 0;
		}
		/* A room may have been freed since the edge was left over: move it in. */
		if (fr.t >= 0 || probe_free_from(g, p, examined, &fr)) {
			ret = place_weight(g, p, &fr, nw);
			if (ret)
				return ret;
			gss__buf_remove(g, e);
			return 0;
		}
		ent->w = nw;
		return 0;
	}

	if (fr.t >= 0 || probe_free_from(g, p, examined, &fr) || probe_kick(g, p, &fr))
		ret = place_weight(g, p, &fr, w);
	else
		ret = gss__buf_add(g, s, d, w);
	if (ret)
		return ret;
	g->updates++;
	if (!g->busy) {
		ret = gss__hub_observe(g, s, d);
		if (ret)
			return ret;
		ret = gss__maybe_grow(g);
	}
	return ret;
}

/*
 * A hub's direction went from 2^old_lvl sub-nodes to more: move every room
 * whose sub-node changed under the new routing. Two phases: first take the
 * rooms that must move out of the matrix, then place them. Placing may kick
 * rooms around, and a kick during the scan could carry a room that still had
 * to move behind the scan's cursor, where it would be lost to lookups.
 */
struct moving {
	uint64_t s, d; /* base codes */
	int64_t w;
};

struct migrate_ctx {
	struct gss *g;
	uint64_t hub;
	unsigned dir;
	uint32_t t;	/* sub-node being scanned */
	uint32_t tmask; /* new sub-node count - 1 */
	struct moving *v;
	size_t n, cap;
	int err;
};

static int migrate_take(const struct gss *cg, const uint8_t *cb, unsigned slot, uint32_t row,
			uint32_t col, void *arg)
{
	struct migrate_ctx *c = arg;
	struct gss *g = c->g;
	uint8_t *b = g->matrix + (cb - cg->matrix);
	struct gss_end es, ed;
	uint64_t other;
	int32_t rw = room_w(b, slot);
	int64_t w = rw;

	gss__decode_room(g, b, slot, row, col, &es, &ed);
	other = c->dir == GSS_OUT ? gss__base_of(g, &ed, GSS_IN) : gss__base_of(g, &es, GSS_OUT);
	if ((gss__route_choice(g, other) & c->tmask) == c->t)
		return 0;
	c->err = vec_reserve((void **)&c->v, &c->cap, c->n + 1, sizeof(*c->v), 256);
	if (c->err)
		return 1;
	if (rw == GSS_SPILL) {
		int64_t *sw = gss__spill_find(&g->spills, gss__end_id(&es), gss__end_id(&ed));

		if (!sw) {
			c->err = -EIO;
			return 1;
		}
		w = *sw;
		gss__spill_remove(&g->spills, gss__end_id(&es), gss__end_id(&ed));
	}
	/* Out without a refill: the freed room is for the moving edges first. */
	room_set_w(b, slot, 0);
	g->rooms_used--;
	c->v[c->n++] = (struct moving){ c->dir == GSS_OUT ? c->hub : other,
					c->dir == GSS_OUT ? other : c->hub, w };
	return 0;
}

int gss__migrate(struct gss *g, uint64_t code, unsigned dir, unsigned old_lvl)
{
	const struct gss_hub *h = gss__hub_find(g, code);
	struct migrate_ctx c = { g, code, dir, 0, 0, NULL, 0, 0, 0 };
	bool was_busy = g->busy;
	int ret = 0;

	if (!h)
		return -ENOENT;
	c.tmask = (1u << h->lvl[dir]) - 1;
	g->busy = true;
	for (uint32_t t = 0; t < (1u << old_lvl) && !c.err; t++) {
		struct gss_end e;

		gss__end(g, &e, t ? gss__hub_sub(g, h, dir, t) : code, t != 0);
		c.t = t;
		gss__scan_rooms(g, &e, dir, migrate_take, &c);
	}
	/*
	 * Place what was taken even after an error, so no edge is lost; a
	 * placement that fails for memory leaves the rest for the caller's error.
	 */
	for (size_t i = 0; i < c.n; i++) {
		int r = gss__place_edge(g, c.v[i].s, c.v[i].d, c.v[i].w);

		if (r < 0 && !ret)
			ret = r;
		else if (r >= 0)
			g->migrated++;
	}
	free(c.v);
	if (!ret)
		ret = c.err;
	if (!ret)
		ret = gss__buf_replace_node(g, code, dir);
	g->busy = was_busy;
	g->gen++;
	return ret;
}

/* =============================== Growth =============================== */

struct grow_src {
	uint8_t *matrix;
	uint32_t m, level;
};

int gss_grow(struct gss *g)
{
	struct grow_src old = { g->matrix, g->m, g->level };
	size_t old_bytes = g->matrix_bytes, new_bytes;
	enum gss_matrix_kind old_kind = g->matrix_kind, new_kind;
	void *old_map = g->map;
	size_t old_map_len = g->map_len;
	uint8_t *old_mask = g->mask, *nm, *nmask;
	uint32_t old_mask_bits = g->mask_bits, nbits;
	uint64_t moved = 0;
	bool was_busy = g->busy;
	int ret;

	if (g->fp0 - g->level < 2 || g->m > (1u << 29))
		return -ENOSPC;
	ret = gss__alloc_matrix(g->m * 2, &nm, &new_bytes, &new_kind);
	if (ret)
		return ret;
	nbits = gss__mask_bits_for((uint64_t)g->m * g->m * 4 * g->fmt.l);
	nmask = gss__big_alloc((size_t)1 << nbits);
	if (!nmask) {
		gss__free_matrix(nm, new_bytes, new_kind);
		return -ENOMEM;
	}

	g->busy = true;
	g->matrix = nm;
	g->matrix_bytes = new_bytes;
	g->matrix_kind = new_kind;
	g->map = NULL;
	g->map_len = 0;
	g->m = old.m * 2;
	g->level = old.level + 1;
	g->mask = nmask;
	g->mask_bits = nbits;
	g->rooms_used = 0;

	/*
	 * Re-place every room. Codes are the same at every width (gss-int.h),
	 * so decoding at the old width and routing again at the new one is
	 * exact; identities, hence spill entries, do not change.
	 */
	for (uint64_t bno = 0; bno < (uint64_t)old.m * old.m; bno++) {
		const uint8_t *b = old.matrix + bno * GSS_BUCKET;
		uint32_t row = (uint32_t)(bno / old.m), col = (uint32_t)(bno % old.m);

		for (unsigned s = 0; s < g->fmt.l; s++) {
			struct gss_end es, ed;
			struct probe p;
			struct cand fr;
			int32_t rw = room_w(b, s);

			if (!rw)
				continue;
			g->m = old.m;
			g->level = old.level;
			gss__decode_room(g, b, s, row, col, &es, &ed);
			g->m = old.m * 2;
			g->level = old.level + 1;
			gss__end(g, &p.es, es.code, es.sub);
			gss__end(g, &p.ed, ed.code, ed.sub);
			probe_ready(g, &p);
			if (probe_free_from(g, &p, 0, &fr) || probe_kick(g, &p, &fr)) {
				probe_place(g, &p, &fr, rw);
				continue;
			}
			/* Vanishingly rare at a quarter of the old fill; keep it exact anyway. */
			{
				int64_t w = rw;

				if (rw == GSS_SPILL) {
					int64_t *sw = gss__spill_find(&g->spills, gss__end_id(&es),
								      gss__end_id(&ed));

					w = sw ? *sw : 0;
					gss__spill_remove(&g->spills, gss__end_id(&es),
							  gss__end_id(&ed));
				}
				ret = gss__buf_add(g, gss__base_of(g, &es, GSS_OUT),
						   gss__base_of(g, &ed, GSS_IN), w);
				if (ret)
					goto out;
			}
			moved++;
		}
	}
	/* Buckets were renumbered: waits are stale, and left-overs may now fit. */
	ret = gss__buf_replace_all(g);
out:
	(void)moved;
	gss__free_matrix(old.matrix, old_bytes, old_kind);
	if (old_map)
		munmap(old_map, old_map_len);
	gss__big_free(old_mask, (size_t)1 << old_mask_bits);
	g->busy = was_busy;
	g->gen++;
	return ret;
}

int gss__maybe_grow(struct gss *g)
{
	uint64_t rooms = gss__rooms(g);

	if (!(g->flags & GSS_F_GROW) || g->busy)
		return 0;
	if (g->rooms_used * 10 < rooms * 9 &&
	    (uint64_t)g->buf.live * 1000 <= g->rooms_used + g->buf.live + 1000)
		return 0;
	if (g->fp0 - g->level < 2)
		return 0; /* nothing left to spend: keep filling the buffer */
	return gss_grow(g);
}

/* ============================ Public entry points ============================ */

int gss_update(struct gss *g, uint64_t src, uint64_t dst, int64_t w)
{
	int ret;

	gss__wlock(g);
	ret = gss__update(g, src, dst, w);
	gss__unlock(g);
	return ret;
}

/*
 * Batch updates overlap cache misses: edge i + GSS_BATCH_AHEAD is routed and
 * its first candidate bucket prefetched while edge i is applied. Most edges
 * of a stream are repeats that live in their first candidate, so one
 * prefetch per edge hides most of the latency once the matrix outgrows L3.
 * The probes are kept, so each edge is routed once; a probe made before a
 * hub promotion or a growth (g->gen changed) is made again.
 */
#define GSS_BATCH_AHEAD 16

struct batch_slot {
	struct probe p;
	uint32_t gen;
	bool ok; /* codes in range */
};

static inline void batch_prepare(const struct gss *g, struct batch_slot *bs,
				 const struct gss_edge *e)
{
	unsigned idx;

	bs->ok = e->src < g->node_space && e->dst < g->node_space;
	if (!bs->ok)
		return;
	probe_edge(g, &bs->p, e->src, e->dst);
	bs->gen = g->gen;
	prefetch_w(probe_bucket(g, &bs->p, 0, &idx));
	if (g->k > 1)
		prefetch_w(probe_bucket(g, &bs->p, 1, &idx));
	prefetch_w(&g->mask[bs->p.mslot[0]]);
	prefetch_w(&g->mask[bs->p.mslot[1]]);
}

int gss_update_batch(struct gss *g, const struct gss_edge *e, size_t n, size_t *done)
{
	struct batch_slot ring[GSS_BATCH_AHEAD];
	size_t i = 0;
	int ret = 0;

	if (done)
		*done = 0;
	if (n && !e)
		return -EINVAL;
	gss__wlock(g);
	for (size_t j = 0; j < n && j < GSS_BATCH_AHEAD; j++)
		batch_prepare(g, &ring[j], &e[j]);
	for (; i < n; i++) {
		struct batch_slot *bs = &ring[i % GSS_BATCH_AHEAD];

		if (!bs->ok) {
			ret = -EINVAL;
			break;
		}
		if (e[i].w) {
			if (bs->gen != g->gen)
				probe_edge(g, &bs->p, e[i].src, e[i].dst);
			ret = update_probed(g, &bs->p, e[i].src, e[i].dst, e[i].w);
			if (ret)
				break;
		}
		if (i + GSS_BATCH_AHEAD < n)
			batch_prepare(g, bs, &e[i + GSS_BATCH_AHEAD]);
	}
	gss__unlock(g);
	if (done)
		*done = i;
	return ret;
}
