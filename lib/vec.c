// SPDX-License-Identifier: MIT
#include "vec.h"

#include <errno.h>
#include <stdlib.h>

#include "compiler.h"

int vec_reserve(void **p, size_t *cap, size_t need, size_t elem, size_t min)
{
	size_t nc = *cap ? *cap : (min ? min : 1), bytes;
	void *np;

	if (need <= *cap)
		return 0;
	while (nc < need) {
		if (check_mul_overflow(nc, (size_t)2, &nc))
			return -EOVERFLOW;
	}
	if (check_mul_overflow(nc, elem, &bytes))
		return -EOVERFLOW;
	np = realloc(*p, bytes);
	if (!np)
		return -ENOMEM;
	*p = np;
	*cap = nc;
	return 0;
}

int vec_reserve32(void **p, uint32_t *cap, uint64_t need, size_t elem, uint32_t min)
{
	size_t c = *cap;
	int ret;

	if (need <= *cap)
		return 0;
	if (need > UINT32_MAX)
		return -EOVERFLOW;
	ret = vec_reserve(p, &c, (size_t)need, elem, min);
	if (ret)
		return ret;
	/* Doubling may pass 2^32 - 1; the caller only ever indexes below need. */
	*cap = c > UINT32_MAX ? UINT32_MAX : (uint32_t)c;
	return 0;
}
