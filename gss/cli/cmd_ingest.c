// SPDX-License-Identifier: MIT
/*
 * gss ingest: edge streams in, a sketch file out. The output is written
 * only after every input was read without error, and atomically
 * (gss_save()), so a failed ingest leaves any existing file untouched.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "input.h"
#include "log.h"

static const char help[] =
	"Usage: gss ingest -o SKETCH [options] [FILE...|-]\n"
	"\n"
	"Build a sketch from edge streams (standard input when no FILE is given).\n"
	"Lines are 'src dst [weight [timestamp]]' (text) or 'src,dst[,weight[,ts]]'\n"
	"(csv); IDs are strings or integers; the weight defaults to 1 and may be\n"
	"negative (a deletion). A malformed line stops the ingest with its file and\n"
	"line number, and nothing is written.\n"
	"\n"
	"Options:\n"
	"  -o, --output SKETCH  the sketch file to write (required)\n"
	"  -a, --append         add to SKETCH if it exists (its parameters are kept)\n"
	"  -f, --format FMT     text (default) or csv\n"
	"      --skip-bad       count and skip malformed lines instead of stopping\n"
	"  -q, --quiet          no progress line and no summary\n"
	"      --progress       show the progress line even when not on a terminal\n"
	"  -h, --help           this help\n"
	"\n" SKETCH_OPTIONS_HELP;

#define INGEST_BATCH 4096

struct ingest {
	struct gss *g;
	struct gss_edge batch[INGEST_BATCH];
	uint64_t line[INGEST_BATCH]; /* input line of each batched edge, for errors */
	size_t n;
	uint64_t records;
};

static int flush(struct ingest *in, const char *name)
{
	size_t done;
	int ret;

	if (!in->n)
		return 0;
	ret = gss_update_batch(in->g, in->batch, in->n, &done);
	if (ret) {
		log_err("%s:%llu: %s", name, (unsigned long long)in->line[done],
			ret == -ERANGE ? "the edge's weight overflows a 64-bit integer"
				       : gss_strerror(ret));
		return ret;
	}
	in->n = 0;
	return 0;
}

static int ingest_file(struct ingest *in, const char *path, enum input_format fmt, bool skip_bad,
		       struct progress *prog, uint64_t *skipped)
{
	struct input *r;
	struct input_rec rec;
	char err[512];
	int ret;

	ret = input_open(&r, path, fmt, skip_bad, err, sizeof(err));
	if (ret) {
		log_err("%s", err);
		return ret;
	}
	while ((ret = input_next(r, &rec)) == 1) {
		struct gss_edge *e = &in->batch[in->n];

		ret = gss_add_id(in->g, rec.src, rec.slen, &e->src);
		if (!ret)
			ret = gss_add_id(in->g, rec.dst, rec.dlen, &e->dst);
		if (ret) {
			log_err("%s:%llu: %s", input_name(r), (unsigned long long)input_line(r),
				gss_strerror(ret));
			goto out;
		}
		e->w = rec.w;
		in->line[in->n++] = input_line(r);
		in->records++;
		if (in->n == INGEST_BATCH) {
			ret = flush(in, input_name(r));
			if (ret)
				goto out;
			progress_update(prog, input_bytes(r), input_size(r), in->records,
					input_name(r));
		}
	}
	if (ret < 0) {
		log_err("%s", input_error(r));
		goto out;
	}
	ret = flush(in, input_name(r));
	*skipped += input_skipped(r);
out:
	input_close(r);
	return ret;
}

struct ingest_args {
	const char *output;
	enum input_format fmt;
	bool append, skip_bad, quiet, force_progress;
	struct sketch_opts so;
};

/* -1 to go on, else the exit status (help printed, or a usage error reported). */
static int parse_args(int argc, char **argv, struct ingest_args *a)
{
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "append", no_argument, NULL, 'a' },
		{ "format", required_argument, NULL, 'f' },
		{ "skip-bad", no_argument, NULL, 'S' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "progress", no_argument, NULL, 'P' },
		{ "help", no_argument, NULL, 'h' },
		SKETCH_LONG_OPTIONS,
		{ NULL, 0, NULL, 0 },
	};
	int c, ret;

	optind = 1;
	sketch_opts_init(&a->so);
	while ((c = getopt_long(argc, argv, "o:af:qh", opts, NULL)) != -1) {
		switch (c) {
		case 'o':
			a->output = optarg;
			break;
		case 'a':
			a->append = true;
			break;
		case 'f':
			if (input_format_parse(optarg, &a->fmt)) {
				log_err("--format: '%s' is not text or csv", optarg);
				return EXIT_USAGE;
			}
			break;
		case 'S':
			a->skip_bad = true;
			break;
		case 'q':
			a->quiet = true;
			break;
		case 'P':
			a->force_progress = true;
			break;
		case 'h':
			fputs(help, stdout);
			return 0;
		default:
			ret = sketch_opt(&a->so, c, optarg);
			if (ret == 1)
				break;
			if (ret == 0)
				fputs(help, stderr);
			return EXIT_USAGE;
		}
	}
	if (!a->output) {
		log_err("ingest needs -o SKETCH (the file to write)");
		return EXIT_USAGE;
	}
	sketch_params(&a->so);
	return -1;
}

int cmd_ingest(int argc, char **argv)
{
	static struct ingest in;
	struct ingest_args a = { .fmt = INPUT_TEXT };
	struct progress prog;
	struct gss_stats st;
	const char *output;
	uint64_t skipped = 0;
	double t0;
	int ret, status = 1;
	char b1[32], b2[32];

	ret = parse_args(argc, argv, &a);
	if (ret >= 0)
		return ret;
	output = a.output;

	if (a.append && access(output, F_OK) == 0) {
		char err[256];

		ret = gss_load(output, 0, &in.g, err, sizeof(err));
		if (ret) {
			log_err("%s: %s", output, err);
			return 1;
		}
		if (a.so.sized)
			log_warn("--append: %s keeps its own size; sizing options ignored", output);
	} else {
		ret = gss_create(&a.so.p, &in.g);
		if (ret) {
			log_err("cannot create the sketch: %s", gss_strerror(ret));
			return ret == -EINVAL ? EXIT_USAGE : 1;
		}
	}

	progress_init(&prog, "ingest", a.quiet ? -1 : a.force_progress ? 1 : 0);
	t0 = now_seconds();
	if (optind == argc) {
		ret = ingest_file(&in, "-", a.fmt, a.skip_bad, &prog, &skipped);
	} else {
		ret = 0;
		for (int i = optind; i < argc && !ret; i++)
			ret = ingest_file(&in, argv[i], a.fmt, a.skip_bad, &prog, &skipped);
	}
	progress_end(&prog);
	if (ret)
		goto out; /* nothing written: the old file, if any, is intact */

	ret = gss_save(in.g, output);
	if (ret) {
		log_err("%s: cannot write the sketch: %s", output, gss_strerror(ret));
		goto out;
	}
	gss_get_stats(in.g, &st);
	if (skipped)
		log_warn("skipped %llu malformed line%s", (unsigned long long)skipped,
			 skipped == 1 ? "" : "s");
	if (!a.quiet) {
		double dt = now_seconds() - t0;

		fprintf(stderr,
			"gss: %llu records in %.2f s (%.2f M/s): %llu edges, %.1f %% of %llu rooms, "
			"%llu left over, %llu hubs; %s written (%s)\n",
			(unsigned long long)in.records, dt,
			dt > 0 ? (double)in.records / dt / 1e6 : 0.0, (unsigned long long)st.edges,
			st.rooms ? 100.0 * (double)st.rooms_used / (double)st.rooms : 0.0,
			(unsigned long long)st.rooms, (unsigned long long)st.buffered,
			(unsigned long long)st.hubs, output,
			fmt_bytes(b1, sizeof(b1), st.matrix_bytes + st.aux_bytes + st.id_bytes));
		if (st.grow_steps)
			fprintf(stderr, "gss: the matrix grew %u time%s to width %u (%s)\n",
				st.grow_steps, st.grow_steps == 1 ? "" : "s", st.width,
				fmt_bytes(b2, sizeof(b2), st.matrix_bytes));
	}
	status = 0;
out:
	gss_destroy(in.g);
	return status;
}
