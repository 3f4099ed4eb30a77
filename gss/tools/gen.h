/* SPDX-License-Identifier: MIT */
/*
 * Synthetic graph streams for `gss gen`, tests and benchmarks.
 *
 * Each preset imitates one data set of the GSS paper (Gou et al., ICDE 2019):
 * its node count, distinct-edge count, degree skew and edge multiplicity. The
 * output is text, one record a line:
 *
 *     src dst weight timestamp\n
 *
 * Node IDs are decimal integers, or IPv4 dotted quads for GEN_CAIDA. The weight
 * is positive for an insertion and the exact negation of an earlier, still live
 * insertion for a deletion, so every (src, dst) running sum stays >= 0 (strict
 * turnstile). Timestamps increase strictly. The model, its costs and measured
 * output of every preset are described at the top of gen.c.
 */
#ifndef GSS_TOOLS_GEN_H
#define GSS_TOOLS_GEN_H

#include <stdint.h>
#include <stdio.h>

enum gen_preset {
	GEN_EMAIL = 0,
	GEN_CIT,
	GEN_WEB,
	GEN_LKML,
	GEN_CAIDA,
	GEN_SKEW,
	GEN_NR_PRESETS,
};

struct gen_opts {
	enum gen_preset preset;
	uint64_t seed;	  /* same seed + options => byte-identical output */
	uint64_t records; /* 0 = the preset's default */
	double deletes;	  /* fraction of output records that are deletions, [0, 0.5] */
	/* progress callback, may be NULL: called every 2^20 records and once at the end */
	void (*progress)(uint64_t done, uint64_t total, void *arg);
	void *progress_arg;
};

/* What gen_run() will produce for a set of options. */
struct gen_plan {
	uint64_t records;    /* output lines */
	uint64_t insertions; /* lines with a positive weight */
	uint64_t deletions;  /* lines with a negative weight */
	uint64_t edges;	     /* distinct (src, dst) pairs among the insertions */
	uint64_t nodes;	     /* distinct node IDs (an upper bound below 8 edges) */
};

/* "email", "cit", "web", "lkml", "caida" or "skew" (case matters); 0 or -EINVAL. */
int gen_preset_parse(const char *name, enum gen_preset *out);
/* The preset's name, or NULL if p is out of range. */
const char *gen_preset_name(enum gen_preset p);
/* One line for --help, or NULL if p is out of range. */
const char *gen_preset_describe(enum gen_preset p);

/*
 * Sizes of the stream gen_run() would write for `o`. 0 or -EINVAL (bad preset,
 * deletes outside [0, 0.5] or NaN, more than 2^40 records or 2^31 edges).
 */
int gen_plan(const struct gen_opts *o, struct gen_plan *plan);

/*
 * Writes the stream to `out` (which the caller opens and closes). 0 or -errno:
 * -EINVAL on bad options, -ENOMEM, -EIO on a write error. On error a prefix of
 * the stream may already have been written.
 */
int gen_run(const struct gen_opts *o, FILE *out);

#endif /* GSS_TOOLS_GEN_H */
