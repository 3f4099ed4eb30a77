// SPDX-License-Identifier: MIT
/* Sizes and counts; the grammar is in units.h. */
#include "units.h"

#include <errno.h>
#include <stddef.h>

__extension__ typedef unsigned __int128 units_u128;

#define UNITS_FRAC_MAX 18 /* fraction digits: 10^18 < 2^64 */

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* c is the lower-case letter lc in either case. */
static bool is_letter(char c, char lc)
{
	return c == lc || c + ('a' - 'A') == lc;
}

int units_parse(const char *s, unsigned base, bool bytes, uint64_t *out)
{
	static const char suffixes[] = "kmgtp";
	units_u128 ip = 0, frac = 0, den = 1, mult = 1, v;
	bool range = false;
	const char *p = s;
	size_t i;

	/* The bounds below hold for these bases only. */
	if (!s || !out || !is_digit(*p) || (base != 1000 && base != 1024))
		return -EINVAL;
	for (; is_digit(*p); p++) {
		ip = ip * 10 + (unsigned)(*p - '0');
		/* Keep reading (the text may still be malformed: that says more). */
		if (ip > UINT64_MAX) {
			range = true;
			ip = (units_u128)UINT64_MAX + 1;
		}
	}
	if (*p == '.') {
		p++;
		if (!is_digit(*p))
			return -EINVAL;
		for (i = 0; is_digit(*p); p++, i++) {
			if (i >= UNITS_FRAC_MAX) {
				/* Further digits may only be zeros: they change nothing. */
				if (*p != '0')
					return -EINVAL;
				continue;
			}
			frac = frac * 10 + (unsigned)(*p - '0');
			den *= 10;
		}
	}
	for (i = 0; i < sizeof(suffixes) - 1; i++)
		if (is_letter(*p, suffixes[i]))
			break;
	if (i < sizeof(suffixes) - 1) {
		p++;
		for (size_t k = 0; k <= i; k++)
			mult *= base;
		if (bytes && is_letter(*p, 'i'))
			p++;
	}
	if (bytes && is_letter(*p, 'b'))
		p++;
	if (*p)
		return -EINVAL;
	/* (frac / den) * mult must be whole: 0.5k is 512 bytes, 0.3k is nothing. */
	if ((frac * mult) % den)
		return -EINVAL;
	if (range)
		return -ERANGE;
	/* ip < 2^64 and mult <= 1024^5 < 2^51: no 128-bit overflow. */
	v = ip * mult + frac * mult / den;
	if (v > UINT64_MAX)
		return -ERANGE;
	*out = (uint64_t)v;
	return 0;
}
