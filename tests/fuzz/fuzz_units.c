// SPDX-License-Identifier: MIT
/*
 * Description: lib/units' size and count grammar on arbitrary text. It is
 * the parser behind every size on the suite's command lines and in
 * laconic's configuration. Whatever the input:
 *
 *   - the answer is 0, -EINVAL or -ERANGE, and *out changes only on 0;
 *   - plain digits agree with strtoull() (value, and -ERANGE on overflow);
 *   - without a suffix, a size and a count are the same number;
 *   - an accepted size is accepted with a trailing "B" too, to the same value
 *     (unless it already ends in one);
 *   - an accepted value printed in decimal parses back to itself.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "units.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool all_digits(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

static void round_trip(uint64_t v)
{
	char num[24];
	uint64_t w = 0;

	snprintf(num, sizeof(num), "%" PRIu64, v);
	CHECK(units_parse_size(num, &w) == 0 && w == v);
	CHECK(units_parse_count(num, &w) == 0 && w == v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char s[64], sb[66];
	const uint64_t sentinel = 0x5a5a5a5a5a5a5a5aULL;
	uint64_t vs = sentinel, vc = sentinel, w;
	int rs, rc;

	if (size >= sizeof(s))
		return 0;
	memcpy(s, data, size);
	s[size] = 0;
	if (strlen(s) != size)
		return 0; /* an embedded NUL: the parser sees a C string */

	rs = units_parse_size(s, &vs);
	rc = units_parse_count(s, &vc);
	CHECK(rs == 0 || rs == -EINVAL || rs == -ERANGE);
	CHECK(rc == 0 || rc == -EINVAL || rc == -ERANGE);
	CHECK(rs == 0 || vs == sentinel);
	CHECK(rc == 0 || vc == sentinel);

	if (all_digits(s)) {
		char *end;
		unsigned long long want;

		errno = 0;
		want = strtoull(s, &end, 10);
		CHECK(errno == ERANGE ? rs == -ERANGE : rs == 0 && vs == want);
		CHECK(rc == rs && (rs || vc == vs));
	}
	if (rs == 0) {
		round_trip(vs);
		if (s[size - 1] != 'b' && s[size - 1] != 'B') {
			snprintf(sb, sizeof(sb), "%sB", s);
			w = sentinel;
			CHECK(units_parse_size(sb, &w) == 0 && w == vs);
		}
	}
	if (rc == 0)
		round_trip(vc);
	return 0;
}
