/* SPDX-License-Identifier: MIT */
/*
 * Growable arrays. The caller keeps the pointer, the element count and the
 * capacity in its own struct (dense arrays iterate and serialise well);
 * vec_reserve() makes room for `need` elements by doubling from `min`, so n
 * appends cost O(n). On failure nothing changes and the old array stays
 * valid. The 32-bit variant serves structures that index their elements
 * with uint32_t (and keeps them below 2^32).
 */
#ifndef LIB_VEC_H
#define LIB_VEC_H

#include <stddef.h>
#include <stdint.h>

/* 0, -ENOMEM, or -EOVERFLOW when need * elem does not fit. */
int vec_reserve(void **p, size_t *cap, size_t need, size_t elem, size_t min);
int vec_reserve32(void **p, uint32_t *cap, uint64_t need, size_t elem, uint32_t min);

#endif /* LIB_VEC_H */
