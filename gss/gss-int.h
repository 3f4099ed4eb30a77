/* SPDX-License-Identifier: MIT */
/*
 * Internal definitions of libgss, shared by its source files. The design is
 * explained in the essay at the top of gss.c; this header holds the layouts
 * and the small inline helpers every file needs. Internal non-static
 * functions are prefixed gss__ (public ones gss_).
 */
#ifndef GSS_GSS_INT_H
#define GSS_GSS_INT_H

#include <pthread.h>
#include <stdbool.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif
#include <stdint.h>
#include <string.h>

#include "compiler.h"
#include "hash.h"
#include "hmap.h"

#include "gss/gss.h"

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "libgss stores buckets and files little-endian; big-endian hosts are not supported"
#endif

/* ============================ Bucket layout ============================ */

/*
 * One bucket is one 64-byte cache line holding l rooms in structure-of-arrays
 * form (fp = fingerprint bits of the slot format, fpb = 2 * fp / 8):
 *
 *   0            4l              4l + fpb*l      56                    63
 *   +------------+----------------+-------------+----------------------+
 *   | w[0..l)    | key[0..l)      |  (unused)   | idx[0..8)            |
 *   | int32 each | fpb bytes each |             | one byte per room    |
 *   +------------+----------------+-------------+----------------------+
 *
 *   fp  l  fpb   bytes/room      key = fs << fp | fd, little-endian
 *   12  8   3     8.0            idx = i | j << 2 | ssub << 4 | dsub << 5
 *   16  7   4     9.1            idx[0] bit 7: the bucket's overflow flag
 *   20  6   5    10.7
 *   24  5   6    12.8            A room is occupied iff w != 0. w == INT32_MIN
 *   32  4   8    16.0            means "the weight lives in the buffer" (spill).
 *
 * i, j are the address indexes of the source row and destination column (so
 * r <= 4), ssub/dsub mark an endpoint that is a hub sub-node (gss.c, "Hubs").
 * Every key load reads 8 bytes and masks; the layouts above keep the last
 * such read inside the bucket.
 */
#define GSS_BUCKET    64
#define GSS_IDX_OFF   56
#define GSS_MAX_ADDRS 4
#define GSS_MAX_CANDS 16
#define GSS_SPILL     INT32_MIN

#define IDX_I(x)     ((unsigned)(x)&3u)
#define IDX_J(x)     (((unsigned)(x) >> 2) & 3u)
#define IDX_SSUB     0x10u
#define IDX_DSUB     0x20u
#define IDX_KEY	     0x3Fu
#define IDX_OVERFLOW 0x80u

#define BYTES_OF(x) (0x0101010101010101ULL * (uint64_t)(x))

struct gss_fmt {
	uint8_t fp;	    /* fingerprint bits the slot stores (12..32) */
	uint8_t l;	    /* rooms per bucket */
	uint8_t fpb;	    /* bytes per key: 2 * fp / 8 */
	uint8_t key_off;    /* offset of key[0]: 4 * l */
	uint64_t key_mask;  /* low 8 * fpb bits */
	uint64_t lane_mask; /* high bit of each of the first l bytes */
};

static inline int32_t room_w(const uint8_t *b, unsigned s)
{
	int32_t w;

	memcpy(&w, b + (size_t)4 * s, sizeof(w));
	return w;
}

static inline void room_set_w(uint8_t *b, unsigned s, int32_t w)
{
	memcpy(b + (size_t)4 * s, &w, sizeof(w));
}

static inline uint64_t room_key(const uint8_t *b, const struct gss_fmt *f, unsigned s)
{
	uint64_t k;

	memcpy(&k, b + f->key_off + (size_t)f->fpb * s, sizeof(k));
	return k & f->key_mask;
}

static inline void room_set_key(uint8_t *b, const struct gss_fmt *f, unsigned s, uint64_t key)
{
	memcpy(b + f->key_off + (size_t)f->fpb * s, &key, f->fpb);
}

static inline unsigned room_idx(const uint8_t *b, unsigned s)
{
	return b[GSS_IDX_OFF + s] & IDX_KEY;
}

static inline void room_set_idx(uint8_t *b, unsigned s, unsigned idx)
{
	b[GSS_IDX_OFF + s] = (uint8_t)((b[GSS_IDX_OFF + s] & ~IDX_KEY) | idx);
}

static inline bool bucket_overflowed(const uint8_t *b)
{
	return b[GSS_IDX_OFF] & IDX_OVERFLOW;
}

static inline void bucket_set_overflow(uint8_t *b)
{
	b[GSS_IDX_OFF] |= IDX_OVERFLOW;
}

/*
 * Lanes (bit 7 of byte s, for s < l) whose idx byte, under `mask`, equals
 * `want`. Exact zero-byte detection (no false lanes): for each byte x,
 * ((x & 0x7f) + 0x7f) | x has bit 7 set iff x != 0.
 */
static inline uint64_t bucket_idx_lanes(const uint8_t *b, const struct gss_fmt *f, unsigned mask,
					unsigned want)
{
	uint64_t x, t;

	memcpy(&x, b + GSS_IDX_OFF, sizeof(x));
	x = (x & BYTES_OF(mask)) ^ BYTES_OF(want);
	t = (x & BYTES_OF(0x7f)) + BYTES_OF(0x7f);
	t = ~(t | x | BYTES_OF(0x7f));
	return t & f->lane_mask;
}

static inline unsigned lane_slot(uint64_t lanes)
{
	return (unsigned)__builtin_ctzll(lanes) >> 3;
}

/* Slot holding exactly (idx, key), or -1. */
static inline int bucket_find(const uint8_t *b, const struct gss_fmt *f, unsigned idx, uint64_t key)
{
	uint64_t lanes = bucket_idx_lanes(b, f, IDX_KEY, idx);

	while (lanes) {
		unsigned s = lane_slot(lanes);

		if (room_key(b, f, s) == key && room_w(b, s) != 0)
			return (int)s;
		lanes &= lanes - 1;
	}
	return -1;
}

/*
 * Slots (bit s for room s < l) whose source (src = true) or destination
 * fingerprint equals f, whatever their weight and index byte. The 1-hop scans
 * call this on every bucket of a row or column, so the two common formats
 * (16 and 32 bits) compare all keys at once with SSE2, part of every x86-64.
 */
static inline unsigned bucket_fp_match(const uint8_t *b, const struct gss_fmt *f, bool src,
				       uint32_t fp)
{
#ifdef __SSE2__
	if (f->fp == 16) {
		/* 7 keys of 4 bytes at 28..56; the 8th lane reads index bytes and is masked. */
		__m128i k0 = _mm_loadu_si128((const __m128i *)(const void *)(b + 28));
		__m128i k1 = _mm_loadu_si128((const __m128i *)(const void *)(b + 44));
		__m128i want = _mm_set1_epi32((int)fp);

		if (src) {
			k0 = _mm_srli_epi32(k0, 16);
			k1 = _mm_srli_epi32(k1, 16);
		} else {
			k0 = _mm_and_si128(k0, _mm_set1_epi32(0xffff));
			k1 = _mm_and_si128(k1, _mm_set1_epi32(0xffff));
		}
		return ((unsigned)_mm_movemask_ps(_mm_castsi128_ps(_mm_cmpeq_epi32(k0, want))) |
			(unsigned)_mm_movemask_ps(_mm_castsi128_ps(_mm_cmpeq_epi32(k1, want)))
				<< 4) &
		       0x7f;
	}
	if (f->fp == 32) {
		/* 4 keys of 8 bytes at 16..48: source in the high half, destination low. */
		__m128 k0 =
			_mm_castsi128_ps(_mm_loadu_si128((const __m128i *)(const void *)(b + 16)));
		__m128 k1 =
			_mm_castsi128_ps(_mm_loadu_si128((const __m128i *)(const void *)(b + 32)));
		__m128i half =
			_mm_castps_si128(src ? _mm_shuffle_ps(k0, k1, _MM_SHUFFLE(3, 1, 3, 1))
					     : _mm_shuffle_ps(k0, k1, _MM_SHUFFLE(2, 0, 2, 0)));

		return (unsigned)_mm_movemask_ps(
			_mm_castsi128_ps(_mm_cmpeq_epi32(half, _mm_set1_epi32((int)fp))));
	}
#endif
	{
		uint64_t fmask = (1ULL << f->fp) - 1;
		unsigned m = 0;

		for (unsigned s = 0; s < f->l; s++) {
			uint64_t k = room_key(b, f, s);

			m |= (unsigned)(((src ? k >> f->fp : k & fmask) == fp)) << s;
		}
		return m;
	}
}

/* First free slot, or -1. */
static inline int bucket_free_slot(const uint8_t *b, const struct gss_fmt *f)
{
	for (unsigned s = 0; s < f->l; s++) {
		if (room_w(b, s) == 0)
			return (int)s;
	}
	return -1;
}

/* ============================ Node codes ============================ */

/*
 * A node code c in [0, M), M = m0 * 2^fp0, is (h0, f0) = (c >> fp0,
 * c & (2^fp0 - 1)). After L doublings the matrix is m = m0 * 2^L wide and the
 * same node has address h = h0 + m0 * (f0 mod 2^L) and fingerprint
 * f = f0 >> L: the level code. Both directions are exact, so rooms decode to
 * codes at every width.
 */
struct gss_end {
	uint64_t code; /* canonical code of the node or hub sub-node */
	uint32_t h;    /* address at the current width */
	uint32_t f;    /* fingerprint at the current width */
	bool sub;      /* a hub sub-node (idx flag ssub/dsub) */
};

/* ============================ Left-over buffer ============================ */

#define GSS_NIL UINT32_MAX

/* A left-over edge: one that found no room among its candidates. */
struct gss_buf_ent {
	uint64_t s, d;		 /* base node codes */
	int64_t w;		 /* summed weight, never 0 */
	uint32_t next_s, prev_s; /* chain of entries with the same s; next_s links free entries */
	uint32_t next_d, prev_d; /* chain of entries with the same d */
	uint32_t wait;		 /* first wait record of this entry, GSS_NIL if none */
	uint32_t live;		 /* 1 in use, 0 on the free list */
};

/* A node's chain head. */
struct gss_buf_head {
	uint64_t node;	/* base node code */
	uint32_t first; /* first entry of the chain */
	uint32_t count; /* entries in the chain */
};

/* "Entry ent would like a room in bucket `bucket`": used to refill freed rooms. */
struct gss_wait {
	uint64_t bucket;	 /* bucket number row * m + col */
	uint32_t ent;		 /* waiting buffer entry */
	uint32_t next;		 /* next wait of the same entry, or next free record */
	uint32_t next_b, prev_b; /* waits on the same bucket */
};

/* The waits on one bucket. */
struct gss_wait_head {
	uint64_t bucket; /* bucket number */
	uint32_t first;	 /* first wait record */
	uint32_t pad;
};

struct gss_buffer {
	struct gss_buf_ent *ent;       /* entries */
	uint32_t cap, used;	       /* allocated entries, high-water mark */
	uint32_t free;		       /* free list head (through next_s) */
	uint32_t live;		       /* entries in use */
	struct hmap by_edge;	       /* edge_hash(s, d) -> entry */
	struct gss_buf_head *heads[2]; /* [GSS_OUT]: chains by s, [GSS_IN]: chains by d */
	uint32_t nheads[2], capheads[2];
	struct hmap by_head[2]; /* hash(node) -> head */
	struct gss_wait *waits; /* wait records */
	uint32_t wcap, wused, wfree, wlive;
	struct gss_wait_head *wheads; /* buckets somebody waits on */
	uint32_t nwheads, capwheads;
	struct hmap by_bucket; /* hash(bucket) -> wait head */
};

/*
 * Spilled weights: the int64 sum of a room whose weight left the int32 range.
 * Keyed by the room's identity, the codes it decodes to with the sub-node
 * flag in bit 63 (gss__end_id()), so the entry follows the room, not the
 * base edge, and never depends on the hub directory.
 */
struct gss_spill_ent {
	uint64_t sid, did; /* room identity */
	int64_t w;	   /* exact weight; outside int32; 0 marks a free entry */
};

struct gss_spills {
	struct gss_spill_ent *ent;
	uint32_t n, cap, live;
	struct hmap by_id;
};

/* ================================ Hubs ================================ */

enum { GSS_OUT = 0, GSS_IN = 1 };

#define GSS_HUB_MAX_LEVEL   16
#define GSS_HUB_FILTER_BITS 16

struct gss_hub {
	uint64_t code;	 /* base node code */
	uint8_t lvl[2];	 /* log2 of the sub-node count, per direction */
	uint32_t sub[2]; /* index in gss_hubs.subs of sub-node 1 (sub-node 0 is the node itself) */
};

/* Sub-node -> hub. Sub-node codes are unique per direction by construction. */
struct gss_subrev {
	uint64_t sub;  /* sub-node code */
	uint64_t base; /* hub it belongs to */
	uint32_t dir;  /* GSS_OUT or GSS_IN */
	uint32_t t;    /* its number among the hub's sub-nodes */
};

struct gss_hubs {
	struct gss_hub *hub; /* directory entries */
	uint32_t n, cap;
	struct hmap by_code; /* hash(code) -> hub */
	uint64_t *subs;	     /* sub-node codes; each hub direction owns a block */
	uint32_t nsubs, capsubs;
	struct gss_subrev *rev; /* sub-node -> hub */
	uint32_t nrev, caprev;
	struct hmap by_sub;				   /* hash(sub, dir) -> rev */
	uint64_t filter[(1u << GSS_HUB_FILTER_BITS) / 64]; /* "may be a hub" bits, base codes */
	uint64_t subnodes; /* sum over hubs and directions of 2^lvl - 1 */
	uint16_t *cm;	   /* degree sketch: [dir][row][1 << cm_bits] saturating counters */
	uint32_t cm_bits;
};

/* ================================ ID table ================================ */

struct gss_id_ent {
	uint64_t code; /* node code */
	uint64_t off;  /* offset of the ID in the arena */
	uint32_t len;  /* ID length in bytes */
};

struct gss_idtab {
	struct gss_id_ent *ent;
	uint32_t n, cap;
	char *arena;
	size_t used, size;
	struct hmap by_code; /* hash(code) -> entry */
};

/* ================================ Sketch ================================ */

struct gss_reach_cache;

/*
 * Reachability keeps a materialised copy of the hashed graph between queries
 * (query.c). Queries may build it concurrently, so it sits behind a mutex;
 * updates drop it, and never run beside queries.
 */
struct gss_reach_state {
	pthread_mutex_t lock;
	struct gss_reach_cache *cache; /* NULL, or built at g->updates == cache->version */
};

enum gss_matrix_kind {
	GSS_MAT_ANON = 0, /* gss__big_alloc() */
	GSS_MAT_FILE,	  /* private mapping of a sketch file */
};

struct gss {
	/* Configuration, fixed at creation. */
	struct gss_fmt fmt;
	uint32_t m0;	/* width at level 0 */
	uint32_t fp0;	/* fingerprint bits at level 0 (= fmt.fp) */
	uint32_t r, k;	/* addresses per node, candidates per edge */
	uint32_t flags; /* enum gss_flags as created */
	uint64_t seed;
	uint64_t node_space;				      /* M = m0 << fp0 */
	uint64_t seed_addr;				      /* address offsets */
	uint64_t seed_route;				      /* hub sub-node choice */
	uint64_t seed_sub[2];				      /* sub-node codes, per direction */
	uint64_t seed_mask;				      /* query index slots */
	uint64_t seed_sample;				      /* hub detector sampling */
	uint8_t cand_i[GSS_MAX_CANDS], cand_j[GSS_MAX_CANDS]; /* candidate order */

	/* Geometry; changes when the matrix grows. */
	uint32_t m;	 /* width = m0 << level */
	uint32_t level;	 /* doublings so far */
	uint8_t *matrix; /* m * m buckets, row-major, 64-byte aligned */
	size_t matrix_bytes;
	enum gss_matrix_kind matrix_kind;
	void *map; /* file mapping holding the matrix (GSS_MAT_FILE) */
	size_t map_len;

	/*
	 * Query index: for a node (or sub-node), which of its r rows (low nibble)
	 * and r columns (high nibble) hold rooms of it. Lossy: nodes share
	 * slots, bits are never cleared, so it may say too much, never too little.
	 */
	uint8_t *mask;
	uint32_t mask_bits;

	struct gss_buffer buf;
	struct gss_spills spills;
	struct gss_hubs hubs;
	struct gss_idtab ids;

	uint64_t rooms_used;
	uint64_t updates, kicks, migrated;
	uint32_t gen;	       /* bumped when routing or geometry changes */
	uint32_t kick_skip;    /* kicks still to skip after failures */
	uint32_t kick_backoff; /* current backoff length */
	bool busy;	       /* migrating or growing: no nested promotion or growth */

	pthread_rwlock_t *lock; /* with GSS_F_THREADSAFE; a pointer so const queries can take it */
	struct gss_reach_state
		*reach; /* query.c's reachability cache, a pointer for const queries */
};

/* ============================ Shared helpers ============================ */

static inline uint64_t gss__rooms(const struct gss *g)
{
	return (uint64_t)g->m * g->m * g->fmt.l;
}

static inline uint8_t *gss__bucket_at(const struct gss *g, uint64_t bno)
{
	return g->matrix + bno * GSS_BUCKET;
}

static inline uint8_t *gss__bucket(const struct gss *g, uint32_t row, uint32_t col)
{
	return gss__bucket_at(g, (uint64_t)row * g->m + col);
}

/* Offset of address i for fingerprint f in a matrix of width m. */
static inline uint32_t gss__addr_off(uint64_t seed, uint32_t f, unsigned i, uint32_t m)
{
	/*
	 * Two multiply-xorshift rounds: cheaper than a full finaliser, and
	 * unlike one multiply they leave no fixed relation between the offsets
	 * of i and i + 1, which would correlate every node's rows (measured:
	 * 10x the kicks and a non-empty buffer).
	 */
	uint64_t x = ((uint64_t)f << 2 | i) ^ seed;

	x *= 0x9e3779b97f4a7c15ULL;
	x ^= x >> 32;
	x *= 0xd6e8feb86659fd93ULL;
	return fastrange32(x, m);
}

static inline uint32_t gss__addr(const struct gss *g, uint32_t h, uint32_t f, unsigned i)
{
	uint32_t a = h + gss__addr_off(g->seed_addr, f, i, g->m);

	return a >= g->m ? a - g->m : a;
}

/* h from an address, its fingerprint and its index: the inverse of gss__addr(). */
static inline uint32_t gss__unaddr(const struct gss *g, uint32_t a, uint32_t f, unsigned i)
{
	uint32_t off = gss__addr_off(g->seed_addr, f, i, g->m);

	return a >= off ? a - off : a + g->m - off;
}

static inline void gss__level_code(const struct gss *g, uint64_t code, uint32_t *h, uint32_t *f)
{
	uint32_t h0 = (uint32_t)(code >> g->fp0);
	uint32_t f0 = (uint32_t)(code & ((1ULL << g->fp0) - 1));
	uint32_t low = g->level ? f0 & ((1u << g->level) - 1) : 0;

	*f = (uint32_t)((uint64_t)f0 >> g->level);
	*h = h0 + g->m0 * low;
}

static inline uint64_t gss__canon_code(const struct gss *g, uint32_t h, uint32_t f)
{
	uint32_t h0 = h % g->m0;
	uint64_t low = h / g->m0;
	uint64_t f0 = ((uint64_t)f << g->level) | low;

	return (uint64_t)h0 << g->fp0 | f0;
}

static inline void gss__end(const struct gss *g, struct gss_end *e, uint64_t code, bool sub)
{
	e->code = code;
	e->sub = sub;
	gss__level_code(g, code, &e->h, &e->f);
}

static inline uint64_t gss__code_from_hash(const struct gss *g, uint64_t x)
{
	uint64_t h0 = fastrange32(x, g->m0);

	return h0 << g->fp0 | (x & ((1ULL << g->fp0) - 1));
}

static inline uint64_t gss__edge_hash(uint64_t s, uint64_t d)
{
	return hash_mix64(s * 0x9e3779b97f4a7c15ULL ^ hash_mix64(d));
}

static inline uint32_t gss__mask_slot(const struct gss *g, uint32_t h, uint32_t f, bool sub)
{
	/* (h, f) are hash bits already: one multiply spreads them (this runs per update). */
	uint64_t x = hash_mul64(((uint64_t)h << 32 | f) ^ g->seed_mask ^ (sub ? 1 : 0));

	return (uint32_t)(x >> (64 - g->mask_bits));
}

/* Codes are hash bits already: one multiply is enough to index the hub filter and map. */
static inline uint64_t gss__hub_hash(uint64_t code)
{
	return hash_mul64(code ^ 0x3c6ef372fe94f82bULL);
}

/* The update path's test: false means "certainly not a hub", without a lookup. */
static inline bool gss__maybe_hub(const struct gss *g, uint64_t code)
{
	unsigned bit = (unsigned)(gss__hub_hash(code) >> (64 - GSS_HUB_FILTER_BITS));

	return g->hubs.filter[bit >> 6] & (1ULL << (bit & 63));
}

static inline bool gss__fits32(int64_t w)
{
	return w > INT32_MIN && w <= INT32_MAX;
}

/* Locking: no-ops unless the sketch was created thread-safe. */
static inline void gss__rlock(const struct gss *g)
{
	if (g->lock)
		pthread_rwlock_rdlock(g->lock);
}

static inline void gss__wlock(struct gss *g)
{
	if (g->lock)
		pthread_rwlock_wrlock(g->lock);
}

static inline void gss__unlock(const struct gss *g)
{
	if (g->lock)
		pthread_rwlock_unlock(g->lock);
}

static inline uint64_t gss__end_id(const struct gss_end *e)
{
	return e->sub ? e->code | 1ULL << 63 : e->code;
}

/* gss.c */
void *gss__big_alloc(size_t n);
void gss__big_free(void *p, size_t n);
int gss__alloc_matrix(uint32_t m, uint8_t **out, size_t *bytes, enum gss_matrix_kind *kind);
void gss__free_matrix(uint8_t *matrix, size_t bytes, enum gss_matrix_kind kind);
uint32_t gss__mask_bits_for(uint64_t rooms);
void gss__set_format(struct gss_fmt *f, unsigned fp);
int gss__init_common(struct gss *g, uint32_t cm_bits);

/* update.c */
int gss__update(struct gss *g, uint64_t s, uint64_t d, int64_t w);
void gss__route(const struct gss *g, uint64_t s, uint64_t d, struct gss_end *es,
		struct gss_end *ed);
int gss__place_edge(struct gss *g, uint64_t s, uint64_t d, int64_t w);
int gss__migrate(struct gss *g, uint64_t code, unsigned dir, unsigned old_lvl);
int gss__maybe_grow(struct gss *g);

/* query.c */
typedef int gss_room_fn(const struct gss *g, const uint8_t *b, unsigned slot, uint32_t row,
			uint32_t col, void *arg);
int gss__scan_rooms(const struct gss *g, const struct gss_end *e, unsigned dir, gss_room_fn *fn,
		    void *arg);
void gss__decode_room(const struct gss *g, const uint8_t *b, unsigned slot, uint32_t row,
		      uint32_t col, struct gss_end *es, struct gss_end *ed);
uint64_t gss__base_of(const struct gss *g, const struct gss_end *e, unsigned dir);
void gss__reach_cache_drop(struct gss_reach_state *rs);
int64_t gss__room_weight(const struct gss *g, int32_t rw, const struct gss_end *es,
			 const struct gss_end *ed);
int gss__edges(const struct gss *g, gss_edge_fn *fn, void *arg);

/* buffer.c */
int gss__buf_init(struct gss_buffer *b);
void gss__buf_destroy(struct gss_buffer *b);
uint32_t gss__buf_find(const struct gss_buffer *b, uint64_t s, uint64_t d);
int gss__buf_add(struct gss *g, uint64_t s, uint64_t d, int64_t w);
void gss__buf_remove(struct gss *g, uint32_t e);
int gss__buf_wait(struct gss *g, uint32_t e);
void gss__buf_unwait(struct gss *g, uint32_t e);
int gss__buf_refill(struct gss *g, uint64_t bno);
int gss__buf_replace_node(struct gss *g, uint64_t node, unsigned dir);
int gss__buf_replace_all(struct gss *g);
typedef int gss_buf_fn(const struct gss_buf_ent *e, void *arg);
int gss__buf_chain(const struct gss_buffer *b, uint64_t node, unsigned dir, gss_buf_fn *fn,
		   void *arg);
size_t gss__buf_memory(const struct gss_buffer *b);
int gss__spill_init(struct gss_spills *sp);
void gss__spill_destroy(struct gss_spills *sp);
int64_t *gss__spill_find(const struct gss_spills *sp, uint64_t sid, uint64_t did);
int gss__spill_add(struct gss_spills *sp, uint64_t sid, uint64_t did, int64_t w);
void gss__spill_remove(struct gss_spills *sp, uint64_t sid, uint64_t did);
size_t gss__spill_memory(const struct gss_spills *sp);

/* hubs.c */
int gss__hubs_init(struct gss *g, uint32_t cm_bits);
void gss__hubs_destroy(struct gss_hubs *h);
const struct gss_hub *gss__hub_find(const struct gss *g, uint64_t code);
uint64_t gss__hub_sub(const struct gss *g, const struct gss_hub *h, unsigned dir, uint32_t t);
int gss__hub_rev(const struct gss *g, uint64_t sub, unsigned dir, uint64_t *base);
uint32_t gss__route_choice(const struct gss *g, uint64_t other);
int gss__hub_observe(struct gss *g, uint64_t s, uint64_t d);
int gss__hub_raise(struct gss *g, uint64_t code, unsigned dir, unsigned lvl);
int gss__hub_load(struct gss *g, uint64_t code, unsigned dir, unsigned lvl, const uint64_t *subs);
size_t gss__hubs_memory(const struct gss *g);

/* idtab.c */
int gss__ids_init(struct gss_idtab *t);
void gss__ids_destroy(struct gss_idtab *t);
int gss__ids_add(struct gss_idtab *t, uint64_t code, const void *id, size_t len);
size_t gss__ids_memory(const struct gss_idtab *t);

#endif /* GSS_GSS_INT_H */
