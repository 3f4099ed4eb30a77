// SPDX-License-Identifier: MIT
#include "hmap.h"

#include <errno.h>
#include <stdlib.h>

#include "compiler.h"

#define HMAP_MIN_BITS 3

static inline size_t home_slot(uint32_t tag, uint32_t bits)
{
	return (size_t)(tag >> (32 - bits));
}

static inline uint32_t slot_tag(uint64_t s)
{
	return (uint32_t)(s >> 32);
}

static inline uint32_t slot_idx(uint64_t s)
{
	return (uint32_t)s - 1;
}

static inline uint64_t make_slot(uint32_t tag, uint32_t idx)
{
	return (uint64_t)tag << 32 | (uint64_t)(idx + 1);
}

static uint32_t bits_for(size_t expect)
{
	uint32_t bits = HMAP_MIN_BITS;

	/* Keep the load at or below 3/4 after `expect` inserts. */
	while (bits < 32 && ((size_t)1 << bits) * 3 / 4 < expect)
		bits++;
	return bits;
}

int hmap_init(struct hmap *h, size_t expect)
{
	h->bits = bits_for(expect);
	h->count = 0;
	h->slots = calloc((size_t)1 << h->bits, sizeof(*h->slots));
	return h->slots ? 0 : -ENOMEM;
}

void hmap_destroy(struct hmap *h)
{
	free(h->slots);
	h->slots = NULL;
	h->count = 0;
}

void hmap_clear(struct hmap *h)
{
	for (size_t i = 0; i < (size_t)1 << h->bits; i++)
		h->slots[i] = 0;
	h->count = 0;
}

uint32_t hmap_first(const struct hmap *h, uint64_t hash, struct hmap_iter *it)
{
	it->tag = (uint32_t)(hash >> 32);
	it->pos = home_slot(it->tag, h->bits);
	return hmap_next(h, it);
}

uint32_t hmap_next(const struct hmap *h, struct hmap_iter *it)
{
	size_t mask = ((size_t)1 << h->bits) - 1;
	uint64_t s;

	while ((s = h->slots[it->pos]) != 0) {
		it->pos = (it->pos + 1) & mask;
		if (slot_tag(s) == it->tag)
			return slot_idx(s);
	}
	return HMAP_NONE;
}

static void place(uint64_t *slots, uint32_t bits, uint64_t s)
{
	size_t mask = ((size_t)1 << bits) - 1;
	size_t pos = home_slot(slot_tag(s), bits);

	while (slots[pos] != 0)
		pos = (pos + 1) & mask;
	slots[pos] = s;
}

static int grow(struct hmap *h)
{
	uint32_t nbits = h->bits + 1;
	uint64_t *ns;

	if (nbits > 32)
		return -EOVERFLOW;
	ns = calloc((size_t)1 << nbits, sizeof(*ns));
	if (!ns)
		return -ENOMEM;
	for (size_t i = 0; i < (size_t)1 << h->bits; i++) {
		if (h->slots[i])
			place(ns, nbits, h->slots[i]);
	}
	free(h->slots);
	h->slots = ns;
	h->bits = nbits;
	return 0;
}

int hmap_insert(struct hmap *h, uint64_t hash, uint32_t idx)
{
	int ret;

	if (idx == HMAP_NONE)
		return -EINVAL;
	if ((h->count + 1) * 4 > ((size_t)3 << h->bits)) {
		ret = grow(h);
		if (ret)
			return ret;
	}
	place(h->slots, h->bits, make_slot((uint32_t)(hash >> 32), idx));
	h->count++;
	return 0;
}

static size_t find_slot(const struct hmap *h, uint64_t hash, uint32_t idx)
{
	struct hmap_iter it;
	size_t mask = ((size_t)1 << h->bits) - 1;

	for (uint32_t e = hmap_first(h, hash, &it); e != HMAP_NONE; e = hmap_next(h, &it)) {
		if (e == idx)
			return (it.pos - 1) & mask;
	}
	return SIZE_MAX;
}

int hmap_remove(struct hmap *h, uint64_t hash, uint32_t idx)
{
	size_t mask = ((size_t)1 << h->bits) - 1;
	size_t hole = find_slot(h, hash, idx);
	size_t j;

	if (hole == SIZE_MAX)
		return -ENOENT;
	/*
	 * Backward shift: walk the cluster after the hole and pull back every
	 * slot whose home is not in the cyclic range (hole, j], so that no probe
	 * sequence crosses an empty slot it did not cross before.
	 */
	for (j = (hole + 1) & mask; h->slots[j] != 0; j = (j + 1) & mask) {
		size_t home = home_slot(slot_tag(h->slots[j]), h->bits);

		if (((j - home) & mask) >= ((j - hole) & mask)) {
			h->slots[hole] = h->slots[j];
			hole = j;
		}
	}
	h->slots[hole] = 0;
	h->count--;
	return 0;
}

int hmap_retarget(struct hmap *h, uint64_t hash, uint32_t old_idx, uint32_t new_idx)
{
	size_t pos;

	if (new_idx == HMAP_NONE)
		return -EINVAL;
	pos = find_slot(h, hash, old_idx);
	if (pos == SIZE_MAX)
		return -ENOENT;
	h->slots[pos] = make_slot((uint32_t)(hash >> 32), new_idx);
	return 0;
}

size_t hmap_memory(const struct hmap *h)
{
	return ((size_t)1 << h->bits) * sizeof(*h->slots);
}
