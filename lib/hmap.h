/* SPDX-License-Identifier: MIT */
/*
 * hmap: an open-addressing index from 64-bit hashes to 32-bit entry numbers.
 *
 * The map stores no keys and no values. Its users keep their entries in an
 * array of their own (buffered edges, hub records, node IDs, ...) and the map
 * answers one question: "which entries might have this hash?". The caller
 * compares the real key. This keeps one well-tested probing core for every
 * table in the suite, whatever its key type (a pair of node codes, a string),
 * and lets the entries live in dense arrays that iterate and serialise well.
 *
 * Layout: a power-of-two array of 8-byte slots,
 *
 *     63          32 31           0
 *    +--------------+--------------+
 *    |   tag        |  entry + 1   |     slot == 0 means empty
 *    +--------------+--------------+
 *
 * where tag is the top 32 bits of the hash. The home slot of a tag is its own
 * top `bits` bits, so the table can be rebuilt at any size up to 2^32 slots
 * from the slots alone, without calling back into the user for hashes.
 * Collisions are resolved by linear probing; removal uses backward shifting,
 * so there are no tombstones and probe sequences never degrade with churn.
 *
 * Costs: a lookup touches one cache line in the common case (load <= 3/4).
 * Entries whose hashes share their top 32 bits are all returned as
 * candidates; with good hashes that is rare, and always harmless.
 *
 * Not thread-safe: callers serialise writers and readers (see each user).
 */
#ifndef LIB_HMAP_H
#define LIB_HMAP_H

#include <stddef.h>
#include <stdint.h>

#define HMAP_NONE UINT32_MAX

struct hmap {
	uint64_t *slots; /* 1 << bits slots, 0 = empty */
	uint32_t bits;	 /* log2 of the slot count, 3..32 */
	size_t count;	 /* occupied slots */
};

/* Probe state for hmap_first()/hmap_next(). */
struct hmap_iter {
	size_t pos;   /* slot examined next */
	uint32_t tag; /* top 32 bits of the hash being looked up */
};

/* Sizes the table for `expect` entries without growing. 0 or -ENOMEM. */
int hmap_init(struct hmap *h, size_t expect);
void hmap_destroy(struct hmap *h);
void hmap_clear(struct hmap *h);

/*
 * Candidate entries for `hash`: the first, then each following one, then
 * HMAP_NONE. The map must not change while an iteration is in progress.
 */
uint32_t hmap_first(const struct hmap *h, uint64_t hash, struct hmap_iter *it);
uint32_t hmap_next(const struct hmap *h, struct hmap_iter *it);

/* Adds entry `idx` (< HMAP_NONE) under `hash`; grows as needed. 0 or -ENOMEM/-EOVERFLOW. */
int hmap_insert(struct hmap *h, uint64_t hash, uint32_t idx);
/* Removes the slot holding `idx` under `hash`. 0 or -ENOENT. */
int hmap_remove(struct hmap *h, uint64_t hash, uint32_t idx);
/* Points the slot holding `old_idx` under `hash` at `new_idx`. 0, -ENOENT or -EINVAL. */
int hmap_retarget(struct hmap *h, uint64_t hash, uint32_t old_idx, uint32_t new_idx);

/* Bytes of memory held by the slot array. */
size_t hmap_memory(const struct hmap *h);

#endif /* LIB_HMAP_H */
