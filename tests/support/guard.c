/* SPDX-License-Identifier: MIT */
#include "guard.h"

#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

char *guard_copy(struct guard_buf *g, const void *src, size_t len)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t body = (len + page - 1) / page * page;
	char *base;

	memset(g, 0, sizeof(*g));
	base = mmap(NULL, body + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (base == MAP_FAILED)
		return NULL;
	if (mprotect(base + body, page, PROT_NONE) == -1) {
		munmap(base, body + page);
		return NULL;
	}
	g->map = base;
	g->map_len = body + page;
	g->data = base + body - len;
	g->len = len;
	if (len)
		memcpy(g->data, src, len);
	return g->data;
}

char *guard_str(struct guard_buf *g, const char *s)
{
	return guard_copy(g, s, strlen(s));
}

void guard_free(struct guard_buf *g)
{
	if (g->map)
		munmap(g->map, g->map_len);
	memset(g, 0, sizeof(*g));
}
