/* SPDX-License-Identifier: MIT */
/*
 * Shared pieces of the gss command-line tool: one function per command,
 * option-value parsers with precise messages, the sketch-parameter options
 * common to `ingest` and `eval`, and the progress line.
 *
 * Exit status: 0 success, 1 a runtime failure (bad input, I/O), 2 a usage
 * error. Commands print errors through lib/log ("gss: error: ...").
 */
#ifndef GSS_CLI_CLI_H
#define GSS_CLI_CLI_H

#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "gss/gss.h"

#define EXIT_USAGE 2

int cmd_gen(int argc, char **argv);
int cmd_ingest(int argc, char **argv);
int cmd_query(int argc, char **argv);
int cmd_stats(int argc, char **argv);
int cmd_merge(int argc, char **argv);
int cmd_eval(int argc, char **argv);

/* "10M", "2.5k", "1e6": a count, suffixes k M G T are powers of 1000. */
int parse_count(const char *opt, const char *s, uint64_t *out);
/* "64M", "1G", "512KiB", "4096": bytes, suffixes K M G T are powers of 1024. */
int parse_size(const char *opt, const char *s, uint64_t *out);
/* An unsigned integer in [lo, hi]. */
int parse_uint(const char *opt, const char *s, uint64_t lo, uint64_t hi, uint64_t *out);
int parse_double(const char *opt, const char *s, double lo, double hi, double *out);

/* Formats bytes as "12.3 MiB" into buf. */
const char *fmt_bytes(char *buf, size_t len, uint64_t bytes);

/*
 * Sketch parameters shared by ingest and eval. Call sketch_opts_init(), feed
 * each getopt result to sketch_opt() (returns 1 if it took the option, 0 if
 * not, -1 on a bad value, already reported) and finish with sketch_params().
 */
struct sketch_opts {
	struct gss_params p;
	bool sized; /* --memory, --edges or --width given */
};

#define SKETCH_OPT_BASE 0x1000
#define SKETCH_LONG_OPTIONS                                                  \
	{ "memory", required_argument, NULL, SKETCH_OPT_BASE + 0 },          \
		{ "edges", required_argument, NULL, SKETCH_OPT_BASE + 1 },   \
		{ "nodes", required_argument, NULL, SKETCH_OPT_BASE + 2 },   \
		{ "fp-bits", required_argument, NULL, SKETCH_OPT_BASE + 3 }, \
		{ "width", required_argument, NULL, SKETCH_OPT_BASE + 4 },   \
		{ "addrs", required_argument, NULL, SKETCH_OPT_BASE + 5 },   \
		{ "cands", required_argument, NULL, SKETCH_OPT_BASE + 6 },   \
		{ "seed", required_argument, NULL, SKETCH_OPT_BASE + 7 },    \
		{ "fill", required_argument, NULL, SKETCH_OPT_BASE + 8 },    \
		{ "grow", no_argument, NULL, SKETCH_OPT_BASE + 9 },          \
		{ "no-hubs", no_argument, NULL, SKETCH_OPT_BASE + 10 },      \
	{                                                                    \
		"no-ids", no_argument, NULL, SKETCH_OPT_BASE + 11            \
	}

#define SKETCH_OPTIONS_HELP                                                               \
	"Sketch size (default: start at 1 MiB and grow as needed):\n"                     \
	"  --memory BYTES     matrix memory budget (suffixes K M G: 64M, 1G)\n"           \
	"  --edges N          expected distinct edges (suffixes k M G: 10M)\n"            \
	"  --nodes N          expected distinct nodes: picks fingerprint bits for\n"      \
	"                     1-hop precision >= 0.99 (M >= 200 x nodes)\n"               \
	"  --fp-bits B        fingerprint bits: 12, 16, 20, 24 or 32 (default 16,\n"      \
	"                     or 24 for a sketch left to grow from nothing)\n"            \
	"  --width M          matrix width, overrides --memory and --edges\n"             \
	"  --addrs R          addresses per node, 1..4 (default 4)\n"                     \
	"  --cands K          candidate buckets per edge, 1..R*R (default R*R)\n"         \
	"  --fill F           target room fill when sizing from --edges (default 0.85)\n" \
	"  --grow             double the matrix when it fills, even when sized\n"         \
	"  --seed S           hash seed (sketches merge only with equal seeds)\n"         \
	"  --no-hubs          no hub detection (the paper's plain design)\n"              \
	"  --no-ids           keep no ID table: answers give node codes (#123)\n"

void sketch_opts_init(struct sketch_opts *o);
int sketch_opt(struct sketch_opts *o, int c, const char *arg);
void sketch_params(struct sketch_opts *o);

/* Progress line on stderr, only when stderr is a terminal (or forced). */
struct progress {
	bool on;
	double start, last;
	const char *what; /* e.g. "ingest" */
};

void progress_init(struct progress *p, const char *what, int mode /* -1 off, 0 auto, 1 on */);
/* done/total in bytes (total 0: unknown); records so far. Rate-limited to 4 updates a second. */
void progress_update(struct progress *p, uint64_t done, uint64_t total, uint64_t records,
		     const char *name);
void progress_end(struct progress *p);

double now_seconds(void);

#endif /* GSS_CLI_CLI_H */
