// SPDX-License-Identifier: MIT
/*
 * Hubs: nodes whose degree would overflow their rows.
 *
 * A node's out-edges live in its r rows (its in-edges in its r columns),
 * m * l rooms each, shared with every other node mapped there. On skewed
 * streams a few nodes have more edges than that: the paper's design puts
 * 4-9 % of a Zipf stream's edges in the buffer, and Scube (ICDCS 2022)
 * answers by giving high-degree nodes more addresses. We do the same without
 * changing the room format:
 *
 *   detection  a sampled, conservative-update count-min sketch of each
 *              node's new edges per direction (1 edge in 8, 2 rows of
 *              16-bit counters). Cheap: touched on 1/8 of *new* edges only.
 *   promotion  when a node's estimate reaches threshold * 2^L, its level L in
 *              that direction rises by one: it now has 2^(L+1) sub-nodes.
 *              Sub-node 0 is the node itself; sub-node t >= 1 has a code of
 *              its own, drawn at random and kept unique per direction, so a
 *              room decodes to exactly one (hub, t).
 *   routing    edge s -> d of an out-hub s lives at sub-node
 *              route(d) mod 2^L(s); of an in-hub d at route(s) mod 2^L(d).
 *   migration  after a promotion, rooms whose sub-node changed move
 *              (update.c), so every edge has one home and lookups stay one
 *              probe sequence. Amortised over the doubling, a few bucket
 *              reads per hub edge.
 *
 *   directory  hub[]:  | code | lvl[out] lvl[in] | sub[out] sub[in] |
 *              subs[]: sub-node codes, one block per hub direction
 *              rev[]:  sub-node code -> (hub, direction, t)
 *              filter: 64 Ki bits over base codes, so the update path tests
 *                      one bit per endpoint and only hubs pay a lookup
 *
 * Rooms mark sub-node endpoints with a flag bit, so sub-node codes never
 * collide with real nodes and queries map them back through rev[].
 */
#include <errno.h>
#include <stdlib.h>

#include "gss-int.h"
#include "vec.h"

#define HUB_SAMPLE 8 /* one new edge in HUB_SAMPLE feeds the detector */

static inline uint64_t code_hash(uint64_t code)
{
	return gss__hub_hash(code);
}

static inline uint64_t sub_hash(uint64_t sub, unsigned dir)
{
	return hash_mix64(sub ^ (dir ? 0xa54ff53a5f1d36f1ULL : 0x510e527fade682d1ULL));
}

static inline unsigned filter_bit(uint64_t code)
{
	return (unsigned)(code_hash(code) >> (64 - GSS_HUB_FILTER_BITS));
}

int gss__hubs_init(struct gss *g, uint32_t cm_bits)
{
	struct gss_hubs *h = &g->hubs;
	uint64_t rooms = gss__rooms(g);
	int ret;

	memset(h, 0, sizeof(*h));
	/* Sized once, at creation: its counts stay valid when the matrix grows. */
	h->cm_bits = cm_bits;
	if (!h->cm_bits) {
		h->cm_bits = 10;
		while (h->cm_bits < 20 && (1ULL << h->cm_bits) < rooms / 32)
			h->cm_bits++;
	}
	h->cm = gss__big_alloc(((size_t)4 << h->cm_bits) * sizeof(*h->cm));
	if (!h->cm)
		return -ENOMEM;
	ret = hmap_init(&h->by_code, 0);
	if (ret)
		goto err_cm;
	ret = hmap_init(&h->by_sub, 0);
	if (ret)
		goto err_code;
	return 0;

err_code:
	hmap_destroy(&h->by_code);
err_cm:
	gss__big_free(h->cm, ((size_t)4 << h->cm_bits) * sizeof(*h->cm));
	h->cm = NULL;
	return ret;
}

void gss__hubs_destroy(struct gss_hubs *h)
{
	hmap_destroy(&h->by_code);
	hmap_destroy(&h->by_sub);
	free(h->hub);
	free(h->subs);
	free(h->rev);
	gss__big_free(h->cm, ((size_t)4 << h->cm_bits) * sizeof(*h->cm));
	memset(h, 0, sizeof(*h));
}

static uint32_t hub_pos(const struct gss_hubs *h, uint64_t code)
{
	struct hmap_iter it;

	for (uint32_t i = hmap_first(&h->by_code, code_hash(code), &it); i != HMAP_NONE;
	     i = hmap_next(&h->by_code, &it)) {
		if (h->hub[i].code == code)
			return i;
	}
	return GSS_NIL;
}

const struct gss_hub *gss__hub_find(const struct gss *g, uint64_t code)
{
	const struct gss_hubs *h = &g->hubs;
	uint32_t i;

	if (!gss__maybe_hub(g, code))
		return NULL;
	i = hub_pos(h, code);
	return i == GSS_NIL ? NULL : &h->hub[i];
}

uint64_t gss__hub_sub(const struct gss *g, const struct gss_hub *h, unsigned dir, uint32_t t)
{
	return g->hubs.subs[h->sub[dir] + t - 1];
}

int gss__hub_rev(const struct gss *g, uint64_t sub, unsigned dir, uint64_t *base)
{
	const struct gss_hubs *h = &g->hubs;
	struct hmap_iter it;

	for (uint32_t i = hmap_first(&h->by_sub, sub_hash(sub, dir), &it); i != HMAP_NONE;
	     i = hmap_next(&h->by_sub, &it)) {
		if (h->rev[i].sub == sub && h->rev[i].dir == dir) {
			*base = h->rev[i].base;
			return 0;
		}
	}
	return -ENOENT;
}

uint32_t gss__route_choice(const struct gss *g, uint64_t other)
{
	return (uint32_t)(hash_mix64(other ^ g->seed_route) >> 32);
}

/* A fresh sub-node code for (base, dir, t), distinct from every other of that direction. */
static uint64_t new_sub(const struct gss *g, uint64_t base, unsigned dir, uint32_t t)
{
	uint64_t unused;

	for (uint64_t attempt = 0;; attempt++) {
		uint64_t x = hash_mix64(base ^ g->seed_sub[dir] ^ hash_mix64(t | attempt << 32));
		uint64_t code = gss__code_from_hash(g, x);

		if (gss__hub_rev(g, code, dir, &unused))
			return code;
	}
}

/*
 * Gives hub `code` 2^lvl sub-nodes in direction dir. Sub-node codes come
 * from `given` (all 2^lvl - 1 of them, as saved in a file) or are drawn
 * fresh, keeping those the hub already has.
 */
static int hub_extend(struct gss *g, uint64_t code, unsigned dir, unsigned lvl,
		      const uint64_t *given)
{
	struct gss_hubs *h = &g->hubs;
	uint32_t i = hub_pos(h, code), old, oldn, newn, blk;
	unsigned bit;
	int ret;

	if (lvl > GSS_HUB_MAX_LEVEL || dir > GSS_IN)
		return -EINVAL;
	if (i == GSS_NIL) {
		ret = vec_reserve32((void **)&h->hub, &h->cap, (uint64_t)h->n + 1, sizeof(*h->hub),
				    16);
		if (ret)
			return ret;
		ret = hmap_insert(&h->by_code, code_hash(code), h->n);
		if (ret)
			return ret;
		i = h->n++;
		h->hub[i] = (struct gss_hub){ code, { 0, 0 }, { 0, 0 } };
		bit = filter_bit(code);
		h->filter[bit >> 6] |= 1ULL << (bit & 63);
	}
	old = h->hub[i].lvl[dir];
	if (lvl <= old)
		return 0;
	oldn = (1u << old) - 1;
	newn = (1u << lvl) - 1;
	/* A new block for the whole direction; the old one is left behind (at most half the array).
	 */
	ret = vec_reserve32((void **)&h->subs, &h->capsubs, (uint64_t)h->nsubs + newn,
			    sizeof(*h->subs), 16);
	if (ret)
		return ret;
	ret = vec_reserve32((void **)&h->rev, &h->caprev, (uint64_t)h->nrev + newn - oldn,
			    sizeof(*h->rev), 16);
	if (ret)
		return ret;
	blk = h->nsubs;
	if (oldn)
		memcpy(&h->subs[blk], &h->subs[h->hub[i].sub[dir]], oldn * sizeof(*h->subs));
	for (uint32_t t = oldn + 1; t <= newn; t++) {
		uint64_t sub = given ? given[t - 1] : new_sub(g, code, dir, t);

		ret = hmap_insert(&h->by_sub, sub_hash(sub, dir), h->nrev);
		if (ret)
			return ret; /* the directory still says `old`: the new codes are unused */
		h->rev[h->nrev++] = (struct gss_subrev){ sub, code, dir, t };
		h->subs[blk + t - 1] = sub;
	}
	h->nsubs = blk + newn;
	h->hub[i].sub[dir] = blk;
	h->hub[i].lvl[dir] = (uint8_t)lvl;
	h->subnodes += newn - oldn;
	g->gen++;
	return 0;
}

int gss__hub_raise(struct gss *g, uint64_t code, unsigned dir, unsigned lvl)
{
	return hub_extend(g, code, dir, lvl, NULL);
}

int gss__hub_load(struct gss *g, uint64_t code, unsigned dir, unsigned lvl, const uint64_t *subs)
{
	return hub_extend(g, code, dir, lvl, subs);
}

/* Bumps the detector for (dir, code); returns the new estimate of sampled new edges. */
static uint32_t cm_bump(struct gss *g, unsigned dir, uint64_t code)
{
	struct gss_hubs *h = &g->hubs;
	uint16_t *row0 = h->cm + ((size_t)(2 * dir) << h->cm_bits);
	uint16_t *row1 = h->cm + ((size_t)(2 * dir + 1) << h->cm_bits);
	uint64_t x = hash_mix64(code ^ g->seed_sample);
	uint16_t *a = &row0[x >> (64 - h->cm_bits)];
	uint16_t *b = &row1[(uint32_t)x >> (32 - h->cm_bits)];
	uint16_t lo = *a < *b ? *a : *b;

	/* Conservative update: only the counters at the minimum grow. */
	if (lo == UINT16_MAX)
		return lo;
	if (*a == lo)
		(*a)++;
	if (*b == lo)
		(*b)++;
	return (uint32_t)lo + 1;
}

static uint64_t hub_threshold(const struct gss *g)
{
	/*
	 * A node's r rows have about r * m * l * (1 - fill) spare rooms; split it
	 * well before it could use them all, at half a row's rooms. Splitting
	 * earlier costs migrations and query time for nothing (measured).
	 */
	uint64_t t = (uint64_t)g->m * g->fmt.l / 2;

	return t < 16 ? 16 : t;
}

static int observe_one(struct gss *g, unsigned dir, uint64_t code)
{
	const struct gss_hub *hub;
	uint64_t est = (uint64_t)cm_bump(g, dir, code) * HUB_SAMPLE;
	unsigned lvl;
	int ret;

	hub = gss__hub_find(g, code);
	lvl = hub ? hub->lvl[dir] : 0;
	if (lvl >= GSS_HUB_MAX_LEVEL || est < hub_threshold(g) << lvl)
		return 0;
	ret = gss__hub_raise(g, code, dir, lvl + 1);
	if (ret)
		return ret;
	return gss__migrate(g, code, dir, lvl);
}

int gss__hub_observe(struct gss *g, uint64_t s, uint64_t d)
{
	int ret;

	if (g->flags & GSS_F_NO_HUBS)
		return 0;
	/* A deterministic 1-in-8 sample of edges, from the top bits of one product. */
	if (hash_mul64(hash_mul64(s ^ g->seed_sample) + d) >> 61)
		return 0;
	ret = observe_one(g, GSS_OUT, s);
	if (ret)
		return ret;
	return observe_one(g, GSS_IN, d);
}

size_t gss__hubs_memory(const struct gss *g)
{
	const struct gss_hubs *h = &g->hubs;

	return (size_t)h->cap * sizeof(*h->hub) + hmap_memory(&h->by_code) +
	       (size_t)h->capsubs * sizeof(*h->subs) + (size_t)h->caprev * sizeof(*h->rev) +
	       hmap_memory(&h->by_sub) + ((size_t)4 << h->cm_bits) * sizeof(*h->cm);
}
