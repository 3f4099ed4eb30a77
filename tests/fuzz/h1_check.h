/* SPDX-License-Identifier: MIT */
/*
 * Checks shared by the HTTP/1 fuzz harnesses (CHECK() is fuzz_check.h's):
 * the invariants every parsed head must satisfy whatever the oracle says (views inside the buffer,
 * values trimmed, framing headers counted by name).
 */
#ifndef TESTS_FUZZ_H1_CHECK_H
#define TESTS_FUZZ_H1_CHECK_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "fuzz_check.h"
#include "h1.h"

static inline bool view_inside(struct h1_str s, const char *buf, size_t len)
{
	return s.ptr && s.ptr >= buf && s.len <= len && (size_t)(s.ptr - buf) <= len - s.len;
}

static inline bool has_ows_edge(struct h1_str s)
{
	return s.len && (s.ptr[0] == ' ' || s.ptr[0] == '\t' || s.ptr[s.len - 1] == ' ' ||
			 s.ptr[s.len - 1] == '\t');
}

static inline uint64_t decimal(struct h1_str s)
{
	uint64_t n = 0;

	for (size_t i = 0; i < s.len; i++) {
		CHECK(s.ptr[i] >= '0' && s.ptr[i] <= '9');
		n = n * 10 + (uint64_t)(s.ptr[i] - '0');
	}
	return n;
}

/* How many header lines are called name; *last points at the last of them. */
static inline size_t count_named(const struct h1_header *hs, size_t n, const char *name,
				 const struct h1_header **last)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		if (h1_str_eq(hs[i].name, name)) {
			k++;
			*last = &hs[i];
		}
	}
	return k;
}

#endif /* TESTS_FUZZ_H1_CHECK_H */
