// SPDX-License-Identifier: MIT
/*
 * The ID table: node code -> the original IDs that hashed to it.
 *
 * Successor and precursor queries produce codes; users want their IDs. The
 * table keeps every distinct ID once, in an append-only arena, with an entry
 * (code, offset, length) per ID indexed by a hash of the code. Several IDs
 * may share a code (that is the sketch's collision error, made visible):
 * lookups return all of them, so answers over IDs have false positives and
 * never false negatives. Memory is O(|V|): the ID bytes plus 24 bytes and a
 * map slot per ID. It is optional (GSS_F_IDS) and not part of the sketch's
 * per-edge memory.
 */
#include <errno.h>
#include <stdlib.h>

#include "gss-int.h"
#include "vec.h"

int gss__ids_init(struct gss_idtab *t)
{
	memset(t, 0, sizeof(*t));
	return hmap_init(&t->by_code, 0);
}

void gss__ids_destroy(struct gss_idtab *t)
{
	hmap_destroy(&t->by_code);
	free(t->ent);
	free(t->arena);
	memset(t, 0, sizeof(*t));
}

int gss__ids_add(struct gss_idtab *t, uint64_t code, const void *id, size_t len)
{
	struct hmap_iter it;
	int ret;

	for (uint32_t e = hmap_first(&t->by_code, hash_mix64(code), &it); e != HMAP_NONE;
	     e = hmap_next(&t->by_code, &it)) {
		if (t->ent[e].code == code && t->ent[e].len == len &&
		    (!len || !memcmp(t->arena + t->ent[e].off, id, len)))
			return 0;
	}
	ret = vec_reserve32((void **)&t->ent, &t->cap, (uint64_t)t->n + 1, sizeof(*t->ent), 256);
	if (ret)
		return ret;
	ret = vec_reserve((void **)&t->arena, &t->size, t->used + len, 1, 4096);
	if (ret)
		return ret;
	ret = hmap_insert(&t->by_code, hash_mix64(code), t->n);
	if (ret)
		return ret;
	if (len)
		memcpy(t->arena + t->used, id, len);
	t->ent[t->n++] = (struct gss_id_ent){ code, t->used, (uint32_t)len };
	t->used += len;
	return 0;
}

size_t gss__ids_memory(const struct gss_idtab *t)
{
	return (size_t)t->cap * sizeof(*t->ent) + t->size + hmap_memory(&t->by_code);
}
