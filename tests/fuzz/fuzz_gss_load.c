// SPDX-License-Identifier: MIT
/*
 * Description: fuzzes gss_load() with hostile sketch files. Payload
 * checksums are skipped (GSS_LOAD_NOVERIFY) so mutations reach the section
 * parsers; the header checksum is recomputed so they get past it too. A file
 * that loads must then survive queries, an update, an edge walk and a save.
 * Loading must fail cleanly with a message, or succeed: never crash or leak.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <xxhash.h>

#include "format.h"
#include "gss/gss.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define HEADER_CHECKSUM_OFF offsetof(struct gss_file_header, header_checksum)
#define HEADER_BYTES	    sizeof(struct gss_file_header)

static int count_edge(uint64_t s, uint64_t d, int64_t w, void *arg)
{
	(void)s;
	(void)d;
	(void)w;
	++*(uint64_t *)arg;
	return 0;
}

static int count_nbr(uint64_t node, int64_t w, void *arg)
{
	(void)node;
	(void)w;
	++*(uint64_t *)arg;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[64], err[256];
	uint8_t *copy;
	struct gss *g = NULL;
	int fd;

	fd = memfd_create("gss-fuzz", MFD_CLOEXEC);
	if (fd < 0)
		return 0;
	copy = malloc(size ? size : 1);
	if (!copy) {
		close(fd);
		return 0;
	}
	memcpy(copy, data, size);
	/* Make the header checksum right, so the fuzzer explores what lies behind it. */
	if (size >= HEADER_BYTES) {
		uint64_t zero = 0, sum;

		memcpy(copy + HEADER_CHECKSUM_OFF, &zero, sizeof(zero));
		sum = XXH3_64bits(copy, HEADER_BYTES);
		memcpy(copy + HEADER_CHECKSUM_OFF, &sum, sizeof(sum));
	}
	if (write(fd, copy, size) != (ssize_t)size)
		goto out;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	for (int mode = 0; mode < 2; mode++) {
		uint32_t flags = GSS_LOAD_NOVERIFY | (mode ? GSS_LOAD_MMAP : 0);
		struct gss_stats st;
		uint64_t n = 0;
		int64_t w;
		bool r;

		if (gss_load(path, flags, &g, err, sizeof(err)) != 0) {
			/* Every failure explains itself. */
			if (!err[0])
				abort();
			continue;
		}
		gss_get_stats(g, &st);
		gss_for_each_edge(g, count_edge, &n);
		for (uint64_t v = 0; v < 4 && st.node_space; v++) {
			uint64_t code = (v * 0x9e3779b97f4a7c15ULL) % st.node_space;

			gss_successors(g, code, count_nbr, &n);
			gss_precursors(g, code, count_nbr, &n);
			gss_edge_weight(g, code, (code + 1) % st.node_space, &w);
			gss_update(g, code, (code + 7) % st.node_space, 3);
			gss_reachable(g, code, (code + 3) % st.node_space, &r);
		}
		gss_destroy(g);
	}
out:
	free(copy);
	close(fd);
	return 0;
}
