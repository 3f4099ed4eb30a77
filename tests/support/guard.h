/* SPDX-License-Identifier: MIT */
/*
 * Guard-page buffers for parser tests: the input is copied to the very end
 * of an mmap'd region whose next page is PROT_NONE, so reading even one byte
 * past it faults at once, without a sanitizer (the idea of Electric Fence).
 * Reads before the start are not caught; parsers here read forwards.
 */
#ifndef TESTS_SUPPORT_GUARD_H
#define TESTS_SUPPORT_GUARD_H

#include <stddef.h>

struct guard_buf {
	void *map;	/* start of the mapping, NULL when none */
	size_t map_len; /* its length, the guard page included */
	char *data;	/* the copy: data[len - 1] is the last readable byte */
	size_t len;	/* bytes copied */
};

/*
 * Copies src[0..len) so that it ends right before a PROT_NONE page; returns
 * g->data, or NULL (errno set) when mmap/mprotect fail. len may be 0: data
 * then points at the guard page itself. Release with guard_free().
 */
char *guard_copy(struct guard_buf *g, const void *src, size_t len);

/* guard_copy() of a C string, without its NUL. */
char *guard_str(struct guard_buf *g, const char *s);

void guard_free(struct guard_buf *g);

#endif /* TESTS_SUPPORT_GUARD_H */
