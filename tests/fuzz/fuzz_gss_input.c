// SPDX-License-Identifier: MIT
/*
 * Description: fuzzes the edge-stream line parser (text and CSV). Every
 * accepted record must point inside the line, hold non-empty IDs, and parse
 * the same way twice; every rejection must say why.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *line = (const char *)data;

	for (int f = 0; f < 2; f++) {
		struct input_rec rec, again;
		char err[256] = "";
		int ret =
			input_parse_line(line, size, (enum input_format)f, &rec, err, sizeof(err));

		if (ret == 1) {
			if (!rec.slen || !rec.dlen || rec.src < line || rec.dst < line ||
			    rec.src + rec.slen > line + size || rec.dst + rec.dlen > line + size)
				abort();
			if (input_parse_line(line, size, (enum input_format)f, &again, NULL, 0) !=
				    1 ||
			    again.w != rec.w || again.slen != rec.slen || again.dlen != rec.dlen)
				abort();
		} else if (ret < 0 && !err[0]) {
			abort();
		}
	}
	return 0;
}
