// SPDX-License-Identifier: MIT
/* gss gen: synthetic edge streams (gss/tools/gen.c has the model). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "gen.h"
#include "log.h"

static const char help[] =
	"Usage: gss gen --preset NAME [options] > stream.txt\n"
	"\n"
	"Write a synthetic edge stream imitating one of the GSS paper's data sets,\n"
	"one record a line: 'src dst weight timestamp'. The same seed and options\n"
	"always give the same bytes.\n"
	"\n"
	"Options:\n"
	"  -p, --preset NAME  email, cit, web, lkml, caida or skew (see --list)\n"
	"  -s, --seed S       random seed (default 1)\n"
	"  -n, --records N    number of lines (suffixes k M G; default: the preset's)\n"
	"  -d, --deletes P    fraction of lines that delete an earlier line, 0..0.5\n"
	"  -o, --output FILE  write to FILE instead of standard output\n"
	"  -l, --list         list the presets and what they produce\n"
	"  -q, --quiet        no progress line\n"
	"  -h, --help         this help\n";

static void on_progress(uint64_t done, uint64_t total, void *arg)
{
	progress_update(arg, done, total, done, NULL);
}

static int list_presets(void)
{
	for (int p = 0; p < GEN_NR_PRESETS; p++) {
		struct gen_opts o = { .preset = (enum gen_preset)p, .seed = 1 };
		struct gen_plan plan;

		if (gen_plan(&o, &plan))
			continue;
		printf("%-6s %s\n       default: %llu records, %llu distinct edges, %llu nodes\n",
		       gen_preset_name((enum gen_preset)p), gen_preset_describe((enum gen_preset)p),
		       (unsigned long long)plan.records, (unsigned long long)plan.edges,
		       (unsigned long long)plan.nodes);
	}
	return 0;
}

int cmd_gen(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "preset", required_argument, NULL, 'p' },
		{ "seed", required_argument, NULL, 's' },
		{ "records", required_argument, NULL, 'n' },
		{ "deletes", required_argument, NULL, 'd' },
		{ "output", required_argument, NULL, 'o' },
		{ "list", no_argument, NULL, 'l' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct gen_opts o = { .preset = GEN_NR_PRESETS, .seed = 1 };
	struct progress prog;
	const char *output = NULL;
	bool quiet = false;
	FILE *f = stdout;
	int c, ret;

	optind = 1;
	while ((c = getopt_long(argc, argv, "p:s:n:d:o:lqh", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			if (gen_preset_parse(optarg, &o.preset)) {
				log_err("--preset: unknown preset '%s' (email, cit, web, lkml, caida, skew)",
					optarg);
				return EXIT_USAGE;
			}
			break;
		case 's':
			if (parse_uint("--seed", optarg, 0, UINT64_MAX, &o.seed))
				return EXIT_USAGE;
			break;
		case 'n':
			if (parse_count("--records", optarg, &o.records))
				return EXIT_USAGE;
			if (!o.records) {
				log_err("--records: must be at least 1");
				return EXIT_USAGE;
			}
			break;
		case 'd':
			if (parse_double("--deletes", optarg, 0, 0.5, &o.deletes))
				return EXIT_USAGE;
			break;
		case 'o':
			output = optarg;
			break;
		case 'l':
			return list_presets();
		case 'q':
			quiet = true;
			break;
		case 'h':
			fputs(help, stdout);
			return 0;
		default:
			fputs(help, stderr);
			return EXIT_USAGE;
		}
	}
	if (optind != argc) {
		log_err("gen takes no arguments ('%s'); see 'gss gen --help'", argv[optind]);
		return EXIT_USAGE;
	}
	if (o.preset == GEN_NR_PRESETS) {
		log_err("gen needs --preset (email, cit, web, lkml, caida or skew)");
		return EXIT_USAGE;
	}
	if (output) {
		f = fopen(output, "w");
		if (!f) {
			log_err("%s: %s", output, strerrordesc_np(errno));
			return 1;
		}
	}
	/* A progress line would garble a stream written to the terminal. */
	progress_init(&prog, "gen", quiet || (!output && isatty(STDOUT_FILENO)) ? -1 : 0);
	o.progress = on_progress;
	o.progress_arg = &prog;
	ret = gen_run(&o, f);
	progress_end(&prog);
	if (output && fclose(f) && !ret)
		ret = -EIO;
	if (ret) {
		log_err("gen: %s", ret == -EIO ? "write error" : strerrordesc_np(-ret));
		if (output)
			unlink(output);
		return 1;
	}
	return 0;
}
