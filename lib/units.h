/* SPDX-License-Identifier: MIT */
/*
 * Sizes and counts as people type them on a command line or in a config:
 * "4096", "64k", "64M", "64MiB", "64MB", "1.5G", "2.5k".
 *
 *   NUMBER  = DIGITS [ "." DIGITS ]   (at most 18 fraction digits that
 *                                       are not trailing zeros)
 *   SUFFIX  = one of k m g t p (either case): base^1 .. base^5
 *   size    = NUMBER [ SUFFIX [ "i" ] ] [ "B" ]     base 1024 ("i", "B": either case)
 *   count   = NUMBER [ SUFFIX ]                     base 1000
 *
 * Nothing else is accepted: no sign, no blanks, no hexadecimal, no empty
 * fraction ("1." or ".5"). A fraction is allowed only when the result is a
 * whole number ("1.5k" = 1536 bytes, "0.3k" is rejected): the arithmetic
 * is exact (128-bit), never floating point, so what is accepted means one
 * value. One grammar for the whole suite, so `--memory 1G` and
 * `buffer = 1G` mean the same thing everywhere.
 */
#ifndef LIB_UNITS_H
#define LIB_UNITS_H

#include <stdbool.h>
#include <stdint.h>

/*
 * 0 and *out set; -EINVAL for text outside the grammar or a fraction that
 * leaves a remainder (or a base other than 1000 and 1024); -ERANGE when
 * the value does not fit in 64 bits. *out is untouched on error.
 */
int units_parse(const char *s, unsigned base, bool bytes, uint64_t *out);

static inline int units_parse_size(const char *s, uint64_t *out)
{
	return units_parse(s, 1024, true, out);
}

static inline int units_parse_count(const char *s, uint64_t *out)
{
	return units_parse(s, 1000, false, out);
}

#endif /* LIB_UNITS_H */
