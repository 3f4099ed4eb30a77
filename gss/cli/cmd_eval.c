// SPDX-License-Identifier: MIT
/*
 * gss eval: build a sketch from a stream and score it against the exact
 * graph with the paper's metrics (gss/tools/eval.c), optionally next to the
 * TCM baseline at a multiple of the sketch's memory.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "eval.h"
#include "log.h"

static const char help[] =
	"Usage: gss eval [options] FILE|-\n"
	"       gss eval [options] --preset NAME [--records N]\n"
	"\n"
	"Build a sketch from an edge stream, compute the exact answers alongside,\n"
	"and report the GSS paper's metrics: insert rate, edge-query rate, edge and\n"
	"node ARE (average relative error, over-estimates only), 1-hop precision\n"
	"and query latency, reachability true-negative recall, buffer share and\n"
	"bytes per distinct edge. It also checks that no answer under-estimates\n"
	"or misses a neighbour (streams without negative final weights).\n"
	"\n"
	"Options:\n"
	"  -p, --preset NAME    evaluate a generated stream (see gss gen --list)\n"
	"  -n, --records N      with --preset: its length\n"
	"      --gen-seed S     with --preset: its seed (default 1)\n"
	"      --tcm            also measure TCM (4 hashed counter matrices)\n"
	"      --tcm-factor F   TCM memory as a multiple of the sketch's (default 8)\n"
	"      --query-nodes FILE  1-hop and node queries for these IDs (one a line)\n"
	"      --sample N       else for a sample of N nodes (default 20000)\n"
	"      --pairs FILE     unreachable pairs 'src dst' to test (default: find 100)\n"
	"      --reps N         timing repetitions, median reported (default 3)\n"
	"  -j, --json           JSON instead of a table\n"
	"  -f, --format FMT     input: text (default) or csv\n"
	"      --skip-bad       skip malformed lines instead of stopping\n"
	"  -h, --help           this help\n"
	"\n" SKETCH_OPTIONS_HELP;

struct eval_args {
	struct gen_opts gen;
	enum input_format fmt;
	bool json, skip_bad;
	struct eval_opts eo;
	struct sketch_opts so;
};

enum {
	OPT_GEN_SEED = 0x100,
	OPT_TCM,
	OPT_TCM_FACTOR,
	OPT_NODES,
	OPT_SAMPLE,
	OPT_PAIRS,
	OPT_REPS,
	OPT_SKIP_BAD,
};

/* One evaluation option: 0 taken, else the exit status of a usage error (reported). */
static int eval_opt(struct eval_args *a, int c, const char *arg)
{
	uint64_t v;
	double d;

	switch (c) {
	case 'p':
		if (gen_preset_parse(arg, &a->gen.preset)) {
			log_err("--preset: unknown preset '%s'", arg);
			return EXIT_USAGE;
		}
		return 0;
	case 'n':
		return parse_count("--records", arg, &a->gen.records) ? EXIT_USAGE : 0;
	case OPT_GEN_SEED:
		return parse_uint("--gen-seed", arg, 0, UINT64_MAX, &a->gen.seed) ? EXIT_USAGE : 0;
	case OPT_TCM:
		a->eo.tcm = true;
		return 0;
	case OPT_TCM_FACTOR:
		if (parse_double("--tcm-factor", arg, 0.01, 100000, &d))
			return EXIT_USAGE;
		a->eo.tcm_factor = d;
		a->eo.tcm = true;
		return 0;
	case OPT_NODES:
		a->eo.nodes_path = arg;
		return 0;
	case OPT_SAMPLE:
		if (parse_count("--sample", arg, &v))
			return EXIT_USAGE;
		if (!v) {
			log_err("--sample: at least 1");
			return EXIT_USAGE;
		}
		a->eo.nodes = v;
		return 0;
	case OPT_PAIRS:
		a->eo.pairs_path = arg;
		return 0;
	case OPT_REPS:
		if (parse_uint("--reps", arg, 1, 100, &v))
			return EXIT_USAGE;
		a->eo.reps = (unsigned)v;
		return 0;
	case 'j':
		a->json = true;
		return 0;
	case 'f':
		if (input_format_parse(arg, &a->fmt)) {
			log_err("--format: '%s' is not text or csv", arg);
			return EXIT_USAGE;
		}
		return 0;
	case OPT_SKIP_BAD:
		a->skip_bad = true;
		return 0;
	default:
		switch (sketch_opt(&a->so, c, arg)) {
		case 1:
			return 0;
		case 0:
			fputs(help, stderr);
			return EXIT_USAGE;
		default:
			return EXIT_USAGE;
		}
	}
}

/* -1 to go on, else the exit status. */
static int parse_args(int argc, char **argv, struct eval_args *a)
{
	static const struct option opts[] = {
		{ "preset", required_argument, NULL, 'p' },
		{ "records", required_argument, NULL, 'n' },
		{ "gen-seed", required_argument, NULL, OPT_GEN_SEED },
		{ "tcm", no_argument, NULL, OPT_TCM },
		{ "tcm-factor", required_argument, NULL, OPT_TCM_FACTOR },
		{ "query-nodes", required_argument, NULL, OPT_NODES },
		{ "sample", required_argument, NULL, OPT_SAMPLE },
		{ "pairs", required_argument, NULL, OPT_PAIRS },
		{ "reps", required_argument, NULL, OPT_REPS },
		{ "json", no_argument, NULL, 'j' },
		{ "format", required_argument, NULL, 'f' },
		{ "skip-bad", no_argument, NULL, OPT_SKIP_BAD },
		{ "help", no_argument, NULL, 'h' },
		SKETCH_LONG_OPTIONS,
		{ NULL, 0, NULL, 0 },
	};
	int c, ret;

	optind = 1;
	sketch_opts_init(&a->so);
	eval_opts_init(&a->eo);
	while ((c = getopt_long(argc, argv, "p:n:jf:h", opts, NULL)) != -1) {
		if (c == 'h') {
			fputs(help, stdout);
			return 0;
		}
		ret = eval_opt(a, c, optarg);
		if (ret)
			return ret;
	}
	if ((a->gen.preset == GEN_NR_PRESETS) == (optind == argc) || optind + 1 < argc) {
		log_err("eval needs one stream: a FILE (or - for stdin), or --preset NAME");
		return EXIT_USAGE;
	}
	sketch_params(&a->so);
	a->eo.gss = a->so.p;
	return -1;
}

int cmd_eval(int argc, char **argv)
{
	struct eval_args a = { .gen = { .preset = GEN_NR_PRESETS, .seed = 1 }, .fmt = INPUT_TEXT };
	struct eval_row rows[EVAL_MAX_ROWS];
	struct eval_stream *s = NULL;
	size_t nrows = 0;
	char err[512];
	int ret;

	ret = parse_args(argc, argv, &a);
	if (ret >= 0)
		return ret;

	if (a.gen.preset != GEN_NR_PRESETS) {
		a.eo.dataset = gen_preset_name(a.gen.preset);
		ret = eval_stream_gen(&a.gen, &s, err, sizeof(err));
	} else {
		const char *slash = strrchr(argv[optind], '/');

		a.eo.dataset = slash ? slash + 1 : argv[optind];
		ret = eval_stream_load(argv[optind], a.fmt, a.skip_bad, &s, err, sizeof(err));
	}
	if (ret) {
		log_err("%s", err);
		return 1;
	}
	if (eval_stream_skipped(s))
		log_warn("skipped %llu malformed lines",
			 (unsigned long long)eval_stream_skipped(s));
	ret = eval_run(s, &a.eo, rows, &nrows, err, sizeof(err));
	eval_stream_free(s);
	if (ret) {
		log_err("%s", err);
		return ret == -EINVAL ? EXIT_USAGE : 1;
	}
	if (a.json)
		eval_print_json(stdout, rows, nrows);
	else
		eval_print_table(stdout, rows, nrows);
	for (size_t i = 0; i < nrows; i++) {
		if (rows[i].violations) {
			/* The one guarantee failed: say so loudly, and fail. */
			log_err("%s: %llu answers under-estimated or missed a neighbour",
				rows[i].name, (unsigned long long)rows[i].violations);
			return 1;
		}
	}
	return fflush(stdout) ? 1 : 0;
}
