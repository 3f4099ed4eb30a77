// SPDX-License-Identifier: MIT
/*
 * The left-over buffer and the spill table.
 *
 * Left-over buffer. An edge whose k candidate buckets are all full (and stay
 * full after one kick) is kept here exactly, under its base node codes:
 *
 *   ent[]: | s | d | w | next_s prev_s | next_d prev_d | wait | live |
 *            ^ by_edge: hash(s, d) -> entry
 *   heads[OUT]: node -> first entry with that s     (doubly linked chains,
 *   heads[IN]:  node -> first entry with that d      so removal is O(1))
 *
 * The authors' prototype used linked lists scanned in full on every
 * operation: 893 buffered edges halved its insert rate. Here every operation
 * is O(1) expected, 1-hop queries walk only the node's chain, and the buffer
 * is kept near empty by hub sub-nodes and kicks (update.c).
 *
 * Waits. Each entry registers the buckets it would most likely live in (its
 * first four candidates) in by_bucket. When a deletion frees a room, the buffer looks
 * up the waiters of that bucket and moves one into the matrix, so deletions
 * give space back at once instead of on the edge's next update. Waits are
 * recomputed when routing or geometry changes (hub promotion, growth).
 *
 * Spill table. A room's weight is int32; a sum outside that range is kept
 * here as int64 under the room's identity, with the room holding GSS_SPILL.
 * Entries are removed by swapping the last one into the hole.
 */
#include <errno.h>
#include <stdlib.h>

#include "gss-int.h"
#include "vec.h"

#define GSS_WAIT_CANDS 4 /* candidates a buffered edge waits on */

static inline uint64_t node_hash(uint64_t node)
{
	return hash_mix64(node ^ 0x5851f42d4c957f2dULL);
}

static inline uint64_t bucket_hash(uint64_t bno)
{
	return hash_mix64(bno ^ 0x14057b7ef767814fULL);
}

int gss__buf_init(struct gss_buffer *b)
{
	int ret;

	memset(b, 0, sizeof(*b));
	b->free = GSS_NIL;
	b->wfree = GSS_NIL;
	ret = hmap_init(&b->by_edge, 0);
	if (ret)
		return ret;
	ret = hmap_init(&b->by_head[GSS_OUT], 0);
	if (ret)
		goto err_edge;
	ret = hmap_init(&b->by_head[GSS_IN], 0);
	if (ret)
		goto err_out;
	ret = hmap_init(&b->by_bucket, 0);
	if (ret)
		goto err_in;
	return 0;

err_in:
	hmap_destroy(&b->by_head[GSS_IN]);
err_out:
	hmap_destroy(&b->by_head[GSS_OUT]);
err_edge:
	hmap_destroy(&b->by_edge);
	return ret;
}

void gss__buf_destroy(struct gss_buffer *b)
{
	hmap_destroy(&b->by_edge);
	hmap_destroy(&b->by_head[GSS_OUT]);
	hmap_destroy(&b->by_head[GSS_IN]);
	hmap_destroy(&b->by_bucket);
	free(b->ent);
	free(b->heads[GSS_OUT]);
	free(b->heads[GSS_IN]);
	free(b->waits);
	free(b->wheads);
	memset(b, 0, sizeof(*b));
}

uint32_t gss__buf_find(const struct gss_buffer *b, uint64_t s, uint64_t d)
{
	struct hmap_iter it;

	for (uint32_t e = hmap_first(&b->by_edge, gss__edge_hash(s, d), &it); e != HMAP_NONE;
	     e = hmap_next(&b->by_edge, &it)) {
		if (b->ent[e].s == s && b->ent[e].d == d)
			return e;
	}
	return GSS_NIL;
}

static uint32_t head_find(const struct gss_buffer *b, unsigned dir, uint64_t node)
{
	struct hmap_iter it;

	for (uint32_t h = hmap_first(&b->by_head[dir], node_hash(node), &it); h != HMAP_NONE;
	     h = hmap_next(&b->by_head[dir], &it)) {
		if (b->heads[dir][h].node == node)
			return h;
	}
	return GSS_NIL;
}

static inline uint32_t *next_of(struct gss_buf_ent *e, unsigned dir)
{
	return dir == GSS_OUT ? &e->next_s : &e->next_d;
}

static inline uint32_t *prev_of(struct gss_buf_ent *e, unsigned dir)
{
	return dir == GSS_OUT ? &e->prev_s : &e->prev_d;
}

/* Links entry e at the front of its node's chain in direction dir. */
static int chain_link(struct gss_buffer *b, unsigned dir, uint32_t e)
{
	uint64_t node = dir == GSS_OUT ? b->ent[e].s : b->ent[e].d;
	uint32_t h = head_find(b, dir, node);
	int ret;

	if (h == GSS_NIL) {
		ret = vec_reserve32((void **)&b->heads[dir], &b->capheads[dir],
				    (uint64_t)b->nheads[dir] + 1, sizeof(*b->heads[dir]), 16);
		if (ret)
			return ret;
		h = b->nheads[dir];
		ret = hmap_insert(&b->by_head[dir], node_hash(node), h);
		if (ret)
			return ret;
		b->heads[dir][h] = (struct gss_buf_head){ node, GSS_NIL, 0 };
		b->nheads[dir]++;
	}
	*next_of(&b->ent[e], dir) = b->heads[dir][h].first;
	*prev_of(&b->ent[e], dir) = GSS_NIL;
	if (b->heads[dir][h].first != GSS_NIL)
		*prev_of(&b->ent[b->heads[dir][h].first], dir) = e;
	b->heads[dir][h].first = e;
	b->heads[dir][h].count++;
	return 0;
}

static void chain_unlink(struct gss_buffer *b, unsigned dir, uint32_t e)
{
	struct gss_buf_ent *x = &b->ent[e];
	uint64_t node = dir == GSS_OUT ? x->s : x->d;
	uint32_t h = head_find(b, dir, node), last;
	uint32_t next = *next_of(x, dir), prev = *prev_of(x, dir);

	if (h == GSS_NIL)
		return;
	if (prev != GSS_NIL)
		*next_of(&b->ent[prev], dir) = next;
	else
		b->heads[dir][h].first = next;
	if (next != GSS_NIL)
		*prev_of(&b->ent[next], dir) = prev;
	if (--b->heads[dir][h].count)
		return;
	/* Last entry of the chain: drop the head, moving the last head into its place. */
	hmap_remove(&b->by_head[dir], node_hash(node), h);
	last = --b->nheads[dir];
	if (h != last) {
		b->heads[dir][h] = b->heads[dir][last];
		hmap_retarget(&b->by_head[dir], node_hash(b->heads[dir][h].node), last, h);
	}
}

int gss__buf_add(struct gss *g, uint64_t s, uint64_t d, int64_t w)
{
	struct gss_buffer *b = &g->buf;
	uint32_t e;
	int ret;

	if (b->free == GSS_NIL) {
		/* GSS_NIL itself is never an entry number. */
		ret = b->used < GSS_NIL - 1
			      ? vec_reserve32((void **)&b->ent, &b->cap, (uint64_t)b->used + 1,
					      sizeof(*b->ent), 64)
			      : -ENOMEM;
		if (ret)
			return ret;
	}
	e = b->free != GSS_NIL ? b->free : b->used;
	ret = hmap_insert(&b->by_edge, gss__edge_hash(s, d), e);
	if (ret)
		return ret;
	if (e == b->free)
		b->free = b->ent[e].next_s;
	else
		b->used++;
	b->ent[e] = (struct gss_buf_ent){ s, d, w, GSS_NIL, GSS_NIL, GSS_NIL, GSS_NIL, GSS_NIL, 1 };
	ret = chain_link(b, GSS_OUT, e);
	if (ret)
		goto err_edge;
	ret = chain_link(b, GSS_IN, e);
	if (ret)
		goto err_out;
	b->live++;
	/* Waits only speed up refilling; an edge without them still moves in on its next update. */
	gss__buf_wait(g, e);
	return 0;

err_out:
	chain_unlink(b, GSS_OUT, e);
err_edge:
	hmap_remove(&b->by_edge, gss__edge_hash(s, d), e);
	b->ent[e].live = 0;
	b->ent[e].next_s = b->free;
	b->free = e;
	return ret;
}

void gss__buf_remove(struct gss *g, uint32_t e)
{
	struct gss_buffer *b = &g->buf;
	struct gss_buf_ent *x = &b->ent[e];

	gss__buf_unwait(g, e);
	chain_unlink(b, GSS_OUT, e);
	chain_unlink(b, GSS_IN, e);
	hmap_remove(&b->by_edge, gss__edge_hash(x->s, x->d), e);
	x->live = 0;
	x->next_s = b->free;
	b->free = e;
	b->live--;
}

int gss__buf_chain(const struct gss_buffer *b, uint64_t node, unsigned dir, gss_buf_fn *fn,
		   void *arg)
{
	uint32_t h = head_find(b, dir, node);
	int ret;

	if (h == GSS_NIL)
		return 0;
	for (uint32_t e = b->heads[dir][h].first; e != GSS_NIL;) {
		const struct gss_buf_ent *x = &b->ent[e];

		e = dir == GSS_OUT ? x->next_s : x->next_d;
		ret = fn(x, arg);
		if (ret)
			return ret;
	}
	return 0;
}

/* ============================== Waits ============================== */

static uint32_t whead_find(const struct gss_buffer *b, uint64_t bno)
{
	struct hmap_iter it;

	for (uint32_t h = hmap_first(&b->by_bucket, bucket_hash(bno), &it); h != HMAP_NONE;
	     h = hmap_next(&b->by_bucket, &it)) {
		if (b->wheads[h].bucket == bno)
			return h;
	}
	return GSS_NIL;
}

/* Adds one wait record (entry e on bucket bno) to its bucket's list. */
static int wait_one(struct gss_buffer *b, uint32_t e, uint64_t bno)
{
	uint32_t h = whead_find(b, bno), w;
	int ret;

	if (b->wfree == GSS_NIL) {
		ret = vec_reserve32((void **)&b->waits, &b->wcap, (uint64_t)b->wused + 1,
				    sizeof(*b->waits), 256);
		if (ret)
			return ret;
	}
	if (h == GSS_NIL) {
		ret = vec_reserve32((void **)&b->wheads, &b->capwheads, (uint64_t)b->nwheads + 1,
				    sizeof(*b->wheads), 64);
		if (ret)
			return ret;
		h = b->nwheads;
		ret = hmap_insert(&b->by_bucket, bucket_hash(bno), h);
		if (ret)
			return ret;
		b->wheads[b->nwheads++] = (struct gss_wait_head){ bno, GSS_NIL, 0 };
	}
	w = b->wfree != GSS_NIL ? b->wfree : b->wused;
	if (w == b->wfree)
		b->wfree = b->waits[w].next;
	else
		b->wused++;
	b->waits[w] = (struct gss_wait){ bno, e, b->ent[e].wait, b->wheads[h].first, GSS_NIL };
	if (b->wheads[h].first != GSS_NIL)
		b->waits[b->wheads[h].first].prev_b = w;
	b->wheads[h].first = w;
	b->ent[e].wait = w;
	b->wlive++;
	return 0;
}

int gss__buf_wait(struct gss *g, uint32_t e)
{
	struct gss_buffer *b = &g->buf;
	struct gss_end es, ed;
	uint32_t row[GSS_MAX_ADDRS] = { 0 }, col[GSS_MAX_ADDRS] = { 0 };
	int ret;

	gss__route(g, b->ent[e].s, b->ent[e].d, &es, &ed);
	for (unsigned i = 0; i < g->r; i++) {
		row[i] = gss__addr(g, es.h, es.f, i);
		col[i] = gss__addr(g, ed.h, ed.f, i);
	}
	/*
	 * The first few candidates only: they are where the edge was most
	 * likely to fit, and registering all k cost ~860 bytes a buffered edge
	 * (measured). A room freed elsewhere still takes the edge on its next
	 * update.
	 */
	for (unsigned t = 0; t < g->k && t < GSS_WAIT_CANDS; t++) {
		ret = wait_one(b, e, (uint64_t)row[g->cand_i[t]] * g->m + col[g->cand_j[t]]);
		if (ret)
			return ret;
	}
	return 0;
}

void gss__buf_unwait(struct gss *g, uint32_t e)
{
	struct gss_buffer *b = &g->buf;
	uint32_t w = b->ent[e].wait;

	while (w != GSS_NIL) {
		struct gss_wait *x = &b->waits[w];
		uint32_t next = x->next;

		if (x->prev_b != GSS_NIL) {
			b->waits[x->prev_b].next_b = x->next_b;
		} else {
			uint32_t h = whead_find(b, x->bucket);

			b->wheads[h].first = x->next_b;
			if (x->next_b == GSS_NIL) {
				/* Nobody waits on this bucket any more: drop its head. */
				uint32_t last = --b->nwheads;

				hmap_remove(&b->by_bucket, bucket_hash(x->bucket), h);
				if (h != last) {
					b->wheads[h] = b->wheads[last];
					hmap_retarget(&b->by_bucket,
						      bucket_hash(b->wheads[h].bucket), last, h);
				}
			}
		}
		if (x->next_b != GSS_NIL)
			b->waits[x->next_b].prev_b = x->prev_b;
		x->next = b->wfree;
		b->wfree = w;
		b->wlive--;
		w = next;
	}
	b->ent[e].wait = GSS_NIL;
}

/*
 * Moves entry e into the matrix if one of its candidates has a free room.
 * 1 if it moved, 0 if not, -errno.
 */
static int try_move_in(struct gss *g, uint32_t e)
{
	struct gss_buf_ent x = g->buf.ent[e];
	int ret;

	/* Out of the buffer first (I1), back in if the matrix has no room either. */
	gss__buf_remove(g, e);
	ret = gss__place_edge(g, x.s, x.d, x.w);
	return ret;
}

int gss__buf_refill(struct gss *g, uint64_t bno)
{
	struct gss_buffer *b = &g->buf;
	uint32_t h = whead_find(b, bno), waiting[GSS_MAX_CANDS];
	unsigned n = 0;

	if (h == GSS_NIL)
		return 0;
	/* Moving one in rewrites the lists: note a few waiters first. */
	for (uint32_t w = b->wheads[h].first; w != GSS_NIL && n < ARRAY_SIZE(waiting);
	     w = b->waits[w].next_b)
		waiting[n++] = b->waits[w].ent;
	/* One room was freed, so one waiter can move in; try them in turn. */
	for (unsigned i = 0; i < n; i++) {
		int ret;

		if (!b->ent[waiting[i]].live)
			continue;
		ret = try_move_in(g, waiting[i]);
		if (ret)
			return ret < 0 ? ret : 0;
	}
	return 0;
}

static int replace_list(struct gss *g, const uint32_t *v, uint32_t n)
{
	int ret = 0;

	for (uint32_t i = 0; i < n && ret >= 0; i++) {
		if (!g->buf.ent[v[i]].live)
			continue;
		ret = try_move_in(g, v[i]);
	}
	return ret < 0 ? ret : 0;
}

int gss__buf_replace_node(struct gss *g, uint64_t node, unsigned dir)
{
	struct gss_buffer *b = &g->buf;
	uint32_t h = head_find(b, dir, node), *v, n = 0;
	int ret;

	if (h == GSS_NIL)
		return 0;
	/* Moving entries in rewrites the chain: collect it first. */
	v = malloc(b->heads[dir][h].count * sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (uint32_t e = b->heads[dir][h].first; e != GSS_NIL;
	     e = dir == GSS_OUT ? b->ent[e].next_s : b->ent[e].next_d)
		v[n++] = e;
	ret = replace_list(g, v, n);
	free(v);
	return ret;
}

int gss__buf_replace_all(struct gss *g)
{
	struct gss_buffer *b = &g->buf;
	uint32_t *v, n = 0;
	int ret;

	if (!b->live)
		return 0;
	v = malloc(b->live * sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (uint32_t e = 0; e < b->used; e++) {
		if (b->ent[e].live)
			v[n++] = e;
	}
	ret = replace_list(g, v, n);
	free(v);
	return ret;
}

size_t gss__buf_memory(const struct gss_buffer *b)
{
	return (size_t)b->cap * sizeof(*b->ent) + hmap_memory(&b->by_edge) +
	       (size_t)(b->capheads[0] + b->capheads[1]) * sizeof(struct gss_buf_head) +
	       hmap_memory(&b->by_head[0]) + hmap_memory(&b->by_head[1]) +
	       (size_t)b->wcap * sizeof(*b->waits) + (size_t)b->capwheads * sizeof(*b->wheads) +
	       hmap_memory(&b->by_bucket);
}

/* ============================== Spills ============================== */

int gss__spill_init(struct gss_spills *sp)
{
	memset(sp, 0, sizeof(*sp));
	return hmap_init(&sp->by_id, 0);
}

void gss__spill_destroy(struct gss_spills *sp)
{
	hmap_destroy(&sp->by_id);
	free(sp->ent);
	memset(sp, 0, sizeof(*sp));
}

static uint32_t spill_pos(const struct gss_spills *sp, uint64_t sid, uint64_t did)
{
	struct hmap_iter it;

	for (uint32_t e = hmap_first(&sp->by_id, gss__edge_hash(sid, did), &it); e != HMAP_NONE;
	     e = hmap_next(&sp->by_id, &it)) {
		if (sp->ent[e].sid == sid && sp->ent[e].did == did)
			return e;
	}
	return GSS_NIL;
}

int64_t *gss__spill_find(const struct gss_spills *sp, uint64_t sid, uint64_t did)
{
	uint32_t e = sp->n ? spill_pos(sp, sid, did) : GSS_NIL;

	return e == GSS_NIL ? NULL : &sp->ent[e].w;
}

int gss__spill_add(struct gss_spills *sp, uint64_t sid, uint64_t did, int64_t w)
{
	int ret;

	ret = vec_reserve32((void **)&sp->ent, &sp->cap, (uint64_t)sp->n + 1, sizeof(*sp->ent), 16);
	if (ret)
		return ret;
	ret = hmap_insert(&sp->by_id, gss__edge_hash(sid, did), sp->n);
	if (ret)
		return ret;
	sp->ent[sp->n++] = (struct gss_spill_ent){ sid, did, w };
	return 0;
}

void gss__spill_remove(struct gss_spills *sp, uint64_t sid, uint64_t did)
{
	uint32_t e = spill_pos(sp, sid, did), last;

	if (e == GSS_NIL)
		return;
	hmap_remove(&sp->by_id, gss__edge_hash(sid, did), e);
	last = --sp->n;
	if (e != last) {
		sp->ent[e] = sp->ent[last];
		hmap_retarget(&sp->by_id, gss__edge_hash(sp->ent[e].sid, sp->ent[e].did), last, e);
	}
}

size_t gss__spill_memory(const struct gss_spills *sp)
{
	return (size_t)sp->cap * sizeof(*sp->ent) + hmap_memory(&sp->by_id);
}
