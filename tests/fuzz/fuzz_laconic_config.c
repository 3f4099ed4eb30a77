// SPDX-License-Identifier: MIT
/*
 * Description: fuzzes laconic's configuration loader. The input, copied into
 * a NUL-terminated string, must either fail with a message naming the input
 * or load. A configuration that loads must print (cfg_dump) text that loads
 * again and prints identically: the round trip `laconic --check -v` relies on.
 *
 * Host names are looked up in /etc/hosts only (__nss_configure_lookup), so a
 * fuzzer that invents "abc:80" never waits on DNS and runs stay reproducible.
 */
#include <errno.h>
#include <nss.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *dump(const struct cfg *c)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		abort();
	cfg_dump(c, f);
	if (fclose(f) != 0 || !buf)
		abort();
	return buf;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool configured;
	char err[CFG_ERR_MAX], *text, *d1, *d2;
	struct cfg *c = NULL, *c2 = NULL;
	int ret;

	if (!configured) {
		__nss_configure_lookup("hosts", "files");
		configured = true;
	}
	text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';

	ret = cfg_load_string(text, "fuzz", &c, err, sizeof(err));
	free(text);
	if (ret) {
		/* A failure always explains itself, prefixed with the input's name. */
		if (c || strncmp(err, "fuzz:", 5) || (ret != -EINVAL && ret != -ENOMEM))
			abort();
		return 0;
	}
	if (!c)
		abort();

	d1 = dump(c);
	ret = cfg_load_string(d1, "dump", &c2, err, sizeof(err));
	if (ret) {
		fprintf(stderr, "the dump does not load: %s\n---\n%s---\n", err, d1);
		abort();
	}
	d2 = dump(c2);
	if (strcmp(d1, d2)) {
		fprintf(stderr, "the dump changed on reload:\n%s---\n%s---\n", d1, d2);
		abort();
	}
	free(d1);
	free(d2);
	cfg_free(c);
	cfg_free(c2);
	return 0;
}
