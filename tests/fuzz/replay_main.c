// SPDX-License-Identifier: MIT
/*
 * Replays fuzz inputs through LLVMFuzzerTestOneInput() without libFuzzer, so
 * every build, gcc included, re-runs the committed corpus as a ctest test
 * (the idea of SQLite's test/fuzzcheck.c). Each input is copied into a heap
 * buffer of exactly its size, as libFuzzer does, so ASan reports any read
 * past the end of the input.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	long len;
	int ret = -1;

	if (!f) {
		perror(path);
		return -1;
	}
	if (fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
		perror(path);
		goto out_close;
	}
	buf = malloc(len ? (size_t)len : 1);
	if (!buf) {
		perror("malloc");
		goto out_close;
	}
	if (fread(buf, 1, (size_t)len, f) != (size_t)len) {
		fprintf(stderr, "%s: short read\n", path);
		goto out_free;
	}
	LLVMFuzzerTestOneInput(buf, (size_t)len);
	ret = 0;
out_free:
	free(buf);
out_close:
	fclose(f);
	return ret;
}

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (replay_file(argv[i]) < 0)
			return 1;
	}
	printf("replayed %d inputs\n", argc - 1);
	return 0;
}
