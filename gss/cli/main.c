// SPDX-License-Identifier: MIT
/*
 * gss: the command-line front end of libgss. main() dispatches to one
 * function per command (cmd_*.c); this file also holds what the commands
 * share: option-value parsers, sketch options, the progress line.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "log.h"
#include "units.h"

static const char usage[] =
	"Usage: gss <command> [options] [arguments]\n"
	"\n"
	"Summarise huge graph streams in linear space and answer edge, node,\n"
	"1-hop, reachability and subgraph queries with small, one-sided error\n"
	"(GSS: Gou et al., ICDE 2019).\n"
	"\n"
	"Commands:\n"
	"  gen      write a synthetic edge stream (presets imitating real data sets)\n"
	"  ingest   build a sketch from edge streams\n"
	"  query    answer queries from a sketch\n"
	"  stats    describe a sketch\n"
	"  merge    add two sketches into a new one\n"
	"  eval     measure a sketch against exact answers (the paper's metrics)\n"
	"\n"
	"Run 'gss <command> --help' for a command's options; 'man gss' for details.\n"
	"Input lines are 'src dst [weight [timestamp]]'; '#' and '%' start comments.\n"
	"\n"
	"Example:\n"
	"  gss gen --preset lkml > stream.txt\n"
	"  gss ingest -o lkml.gss stream.txt\n"
	"  gss query lkml.gss succ 132\n";

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(int argc, char **argv);
	} cmds[] = {
		{ "gen", cmd_gen },	{ "ingest", cmd_ingest }, { "query", cmd_query },
		{ "stats", cmd_stats }, { "merge", cmd_merge },	  { "eval", cmd_eval },
	};
	const char *cmd;

	log_init("gss", LOG_INFO);
	if (argc < 2) {
		fputs(usage, stderr);
		return EXIT_USAGE;
	}
	cmd = argv[1];
	if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
		if (argc > 2 && strcmp(cmd, "help") == 0) {
			static char help_opt[] = "--help";
			char *sub[] = { argv[2], help_opt, NULL };

			for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
				if (!strcmp(argv[2], cmds[i].name))
					return cmds[i].fn(2, sub);
		}
		fputs(usage, stdout);
		return 0;
	}
	if (!strcmp(cmd, "-V") || !strcmp(cmd, "--version")) {
		printf("gss %d.%d.%d (sketch file format 1)\n", GSS_VERSION_MAJOR,
		       GSS_VERSION_MINOR, GSS_VERSION_PATCH);
		return 0;
	}
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		if (!strcmp(cmd, cmds[i].name))
			return cmds[i].fn(argc - 1, argv + 1);
	}
	log_err("unknown command '%s' (try 'gss --help')", cmd);
	return EXIT_USAGE;
}

/* ============================ Value parsers ============================ */

/* One lib/units parser, with the message naming the option and an example. */
static int parse_units(int (*parse)(const char *, uint64_t *), const char *opt, const char *s,
		       const char *what, uint64_t *out)
{
	int ret = parse(s, out);

	if (ret == -ERANGE)
		log_err("%s: '%s' does not fit in 64 bits", opt, s);
	else if (ret)
		log_err("%s: '%s' is not a valid %s", opt, s, what);
	return ret;
}

int parse_count(const char *opt, const char *s, uint64_t *out)
{
	return parse_units(units_parse_count, opt, s, "count (e.g. 1000, 10M, 2.5k)", out);
}

int parse_size(const char *opt, const char *s, uint64_t *out)
{
	return parse_units(units_parse_size, opt, s, "size (e.g. 4096, 64M, 1.5G)", out);
}

int parse_uint(const char *opt, const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (end == s || *end || errno || *s == '-' || v < lo || v > hi) {
		log_err("%s: '%s' is not an integer in [%llu, %llu]", opt, s,
			(unsigned long long)lo, (unsigned long long)hi);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

int parse_double(const char *opt, const char *s, double lo, double hi, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (end == s || *end || errno || !(v >= lo && v <= hi)) {
		log_err("%s: '%s' is not a number in [%g, %g]", opt, s, lo, hi);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

const char *fmt_bytes(char *buf, size_t len, uint64_t bytes)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double v = (double)bytes;
	unsigned u = 0;

	while (v >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
		v /= 1024;
		u++;
	}
	snprintf(buf, len, u ? "%.1f %s" : "%.0f %s", v, units[u]);
	return buf;
}

/* ============================ Sketch options ============================ */

void sketch_opts_init(struct sketch_opts *o)
{
	gss_params_init(&o->p);
	o->p.flags = GSS_F_IDS;
	o->sized = false;
}

int sketch_opt(struct sketch_opts *o, int c, const char *arg)
{
	uint64_t v;
	double d;

	switch (c - SKETCH_OPT_BASE) {
	case 0:
		if (parse_size("--memory", arg, &v))
			return -1;
		if (v < 64) {
			log_err("--memory: a sketch needs at least one 64-byte bucket");
			return -1;
		}
		o->p.memory = v;
		o->sized = true;
		return 1;
	case 1:
		if (parse_count("--edges", arg, &v))
			return -1;
		o->p.expect_edges = v;
		o->sized = true;
		return 1;
	case 2:
		if (parse_count("--nodes", arg, &v))
			return -1;
		o->p.expect_nodes = v;
		return 1;
	case 3:
		if (parse_uint("--fp-bits", arg, 12, 32, &v))
			return -1;
		if (v != 12 && v != 16 && v != 20 && v != 24 && v != 32) {
			log_err("--fp-bits: %llu is not one of 12, 16, 20, 24, 32",
				(unsigned long long)v);
			return -1;
		}
		o->p.fp_bits = (uint32_t)v;
		return 1;
	case 4:
		if (parse_uint("--width", arg, 1, 1u << 30, &v))
			return -1;
		o->p.width = (uint32_t)v;
		o->sized = true;
		return 1;
	case 5:
		if (parse_uint("--addrs", arg, 1, 4, &v))
			return -1;
		o->p.addrs = (uint32_t)v;
		return 1;
	case 6:
		if (parse_uint("--cands", arg, 1, 16, &v))
			return -1;
		o->p.cands = (uint32_t)v;
		return 1;
	case 7:
		if (parse_uint("--seed", arg, 0, UINT64_MAX, &v))
			return -1;
		o->p.seed = v;
		return 1;
	case 8:
		if (parse_double("--fill", arg, 0.01, 0.97, &d))
			return -1;
		o->p.fill = d;
		return 1;
	case 9:
		o->p.flags |= GSS_F_GROW;
		return 1;
	case 10:
		o->p.flags |= GSS_F_NO_HUBS;
		return 1;
	case 11:
		o->p.flags &= ~(uint32_t)GSS_F_IDS;
		return 1;
	default:
		return 0;
	}
}

void sketch_params(struct sketch_opts *o)
{
	uint32_t r = o->p.addrs ? o->p.addrs : 4;

	if (o->p.cands > r * r)
		o->p.cands = r * r;
}

/* ============================ Progress ============================ */

double now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void progress_init(struct progress *p, const char *what, int mode)
{
	p->on = mode > 0 || (mode == 0 && isatty(STDERR_FILENO));
	p->start = p->last = now_seconds();
	p->what = what;
}

void progress_update(struct progress *p, uint64_t done, uint64_t total, uint64_t records,
		     const char *name)
{
	double t;
	double rate;
	char bar[31];

	if (!p->on)
		return;
	t = now_seconds();
	if (t - p->last < 0.25)
		return;
	p->last = t;
	rate = (double)records / (t - p->start);
	if (total) {
		double frac = (double)done / (double)total;
		int fill = (int)(frac * 30);

		if (fill > 30)
			fill = 30;
		memset(bar, '#', (size_t)fill);
		memset(bar + fill, ' ', (size_t)(30 - fill));
		bar[30] = '\0';
		fprintf(stderr, "\r%s [%s] %3.0f%%  %.1f M records  %.2f M/s  %s\033[K", p->what,
			bar, frac * 100, (double)records / 1e6, rate / 1e6, name ? name : "");
	} else {
		fprintf(stderr, "\r%s %.1f M records  %.2f M/s  %s\033[K", p->what,
			(double)records / 1e6, rate / 1e6, name ? name : "");
	}
}

void progress_end(struct progress *p)
{
	if (p->on)
		fputs("\r\033[K", stderr);
}
