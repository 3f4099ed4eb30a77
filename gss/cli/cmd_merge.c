// SPDX-License-Identifier: MIT
/* gss merge: the sum of two sketches built with the same parameters. */
#include <errno.h>
#include <string.h>

#include "cli.h"
#include "log.h"

static const char help[] =
	"Usage: gss merge -o OUT A B\n"
	"\n"
	"Write to OUT a sketch holding every edge (and ID) of A and of B, weights\n"
	"added, as if both streams had been ingested into one sketch. A and B must\n"
	"have been built with the same width, fingerprint bits, addresses,\n"
	"candidates and seed (their growth may differ). OUT may be A or B.\n"
	"\n"
	"Options:\n"
	"  -o, --output OUT   the sketch file to write (required)\n"
	"  -h, --help         this help\n";

int cmd_merge(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct gss *a = NULL, *b = NULL;
	const char *out = NULL;
	char err[256];
	int c, ret, status = 1;

	optind = 1;
	while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
		switch (c) {
		case 'o':
			out = optarg;
			break;
		case 'h':
			fputs(help, stdout);
			return 0;
		default:
			fputs(help, stderr);
			return EXIT_USAGE;
		}
	}
	if (!out || optind + 2 != argc) {
		log_err("merge needs -o OUT and two sketches; see 'gss merge --help'");
		return EXIT_USAGE;
	}
	ret = gss_load(argv[optind], 0, &a, err, sizeof(err));
	if (ret) {
		log_err("%s: %s", argv[optind], err);
		return 1;
	}
	ret = gss_load(argv[optind + 1], GSS_LOAD_MMAP, &b, err, sizeof(err));
	if (ret) {
		log_err("%s: %s", argv[optind + 1], err);
		goto out;
	}
	ret = gss_merge(a, b);
	if (ret == -EINVAL) {
		log_err("%s and %s were built with different parameters (width, fingerprint bits, "
			"addresses, candidates or seed); compare 'gss stats' of both",
			argv[optind], argv[optind + 1]);
		goto out;
	}
	if (ret) {
		log_err("merge: %s", gss_strerror(ret));
		goto out;
	}
	ret = gss_save(a, out);
	if (ret) {
		log_err("%s: cannot write the sketch: %s", out, gss_strerror(ret));
		goto out;
	}
	status = 0;
out:
	gss_destroy(b);
	gss_destroy(a);
	return status;
}
