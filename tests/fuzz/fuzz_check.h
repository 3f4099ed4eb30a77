/* SPDX-License-Identifier: MIT */
/*
 * The fuzz harnesses' invariant check: abort() (which libFuzzer reports
 * and saves the input for) after naming the condition and where it failed.
 */
#ifndef FUZZ_CHECK_H
#define FUZZ_CHECK_H

#include <stdio.h>
#include <stdlib.h>

#define CHECK(cond)                                                                              \
	do {                                                                                     \
		if (!(cond)) {                                                                   \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
			abort();                                                                 \
		}                                                                                \
	} while (0)

#endif /* FUZZ_CHECK_H */
