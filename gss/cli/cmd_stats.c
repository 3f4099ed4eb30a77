// SPDX-License-Identifier: MIT
/* gss stats: what a sketch holds, how full it is and what error to expect. */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "log.h"

static const char help[] =
	"Usage: gss stats SKETCH [--json]\n"
	"\n"
	"Describe a sketch: its parameters, fill, left-over buffer, hubs, memory per\n"
	"distinct edge, and the error the paper's model predicts for it.\n"
	"\n"
	"Options:\n"
	"  -j, --json   one JSON object instead of text\n"
	"  -h, --help   this help\n";

static void print_text(const char *path, uint64_t fsize, const struct gss_stats *st)
{
	char b1[32], b2[32], b3[32];
	uint64_t sketch = st->matrix_bytes + st->aux_bytes;

	printf("sketch          %s (%s on disk)\n", path, fmt_bytes(b1, sizeof(b1), fsize));
	printf("parameters      %u-bit fingerprints, %u rooms a bucket, %u addresses, %u candidates\n",
	       st->fp_bits + st->grow_steps, st->rooms_per_bucket, st->addrs, st->cands);
	printf("matrix          %u x %u buckets, %llu rooms (%s)", st->width, st->width,
	       (unsigned long long)st->rooms, fmt_bytes(b1, sizeof(b1), st->matrix_bytes));
	if (st->grow_steps)
		printf(", grown %u time%s (%u fingerprint bits left)", st->grow_steps,
		       st->grow_steps == 1 ? "" : "s", st->fp_bits);
	printf("\nnode space      M = %llu\n", (unsigned long long)st->node_space);
	printf("edges           %llu distinct: %llu in rooms (%.1f %% fill), %llu left over (%.3f %%)\n",
	       (unsigned long long)st->edges, (unsigned long long)st->rooms_used,
	       st->rooms ? 100.0 * (double)st->rooms_used / (double)st->rooms : 0.0,
	       (unsigned long long)st->buffered,
	       st->edges ? 100.0 * (double)st->buffered / (double)st->edges : 0.0);
	printf("hubs            %llu node%s with %llu extra sub-nodes\n",
	       (unsigned long long)st->hubs, st->hubs == 1 ? "" : "s",
	       (unsigned long long)st->hub_subnodes);
	if (st->flags & GSS_F_IDS)
		printf("ids             %llu (%s)\n", (unsigned long long)st->ids,
		       fmt_bytes(b1, sizeof(b1), st->id_bytes));
	else
		printf("ids             not kept: answers give node codes\n");
	printf("memory          %s sketch", fmt_bytes(b2, sizeof(b2), sketch));
	if (st->edges)
		printf(", %.1f bytes a distinct edge", (double)sketch / (double)st->edges);
	if (st->id_bytes)
		printf(" (+ %s ID table)", fmt_bytes(b3, sizeof(b3), st->id_bytes));
	printf("\nupdates         %llu (%llu kicks, %llu rooms migrated to hub sub-nodes)\n",
	       (unsigned long long)st->updates, (unsigned long long)st->kicks,
	       (unsigned long long)st->migrated);
	if (st->flags & GSS_F_IDS)
		printf("expected error  an edge query over-estimates with probability %.2g; "
		       "1-hop precision %.4f\n",
		       st->edge_error, st->succ_precision);
	printf("growth          %s\n", st->flags & GSS_F_GROW ? "on (doubles when full)" : "off");
}

static void print_json(const char *path, uint64_t fsize, const struct gss_stats *st)
{
	printf("{\"file\":\"");
	for (const char *p = path; *p; p++) {
		unsigned char c = (unsigned char)*p;

		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	printf("\",\"file_bytes\":%llu,\"fp_bits\":%u,\"fp_bits_left\":%u,\"rooms_per_bucket\":%u,"
	       "\"addrs\":%u,\"cands\":%u,\"width\":%u,\"grow_steps\":%u,\"grow\":%s,"
	       "\"node_space\":%llu,\"rooms\":%llu,\"rooms_used\":%llu,\"edges\":%llu,"
	       "\"buffered\":%llu,\"hubs\":%llu,\"hub_subnodes\":%llu,\"ids_kept\":%s,"
	       "\"ids\":%llu,\"updates\":%llu,\"kicks\":%llu,\"migrated\":%llu,"
	       "\"matrix_bytes\":%llu,\"aux_bytes\":%llu,\"id_bytes\":%llu,"
	       "\"edge_error\":%.6g,\"succ_precision\":%.6g}\n",
	       (unsigned long long)fsize, st->fp_bits + st->grow_steps, st->fp_bits,
	       st->rooms_per_bucket, st->addrs, st->cands, st->width, st->grow_steps,
	       st->flags & GSS_F_GROW ? "true" : "false", (unsigned long long)st->node_space,
	       (unsigned long long)st->rooms, (unsigned long long)st->rooms_used,
	       (unsigned long long)st->edges, (unsigned long long)st->buffered,
	       (unsigned long long)st->hubs, (unsigned long long)st->hub_subnodes,
	       st->flags & GSS_F_IDS ? "true" : "false", (unsigned long long)st->ids,
	       (unsigned long long)st->updates, (unsigned long long)st->kicks,
	       (unsigned long long)st->migrated, (unsigned long long)st->matrix_bytes,
	       (unsigned long long)st->aux_bytes, (unsigned long long)st->id_bytes, st->edge_error,
	       st->succ_precision);
}

int cmd_stats(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct gss_stats st;
	struct stat fs;
	struct gss *g;
	bool json = false;
	char err[256];
	int c, ret;

	optind = 1;
	while ((c = getopt_long(argc, argv, "jh", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = true;
			break;
		case 'h':
			fputs(help, stdout);
			return 0;
		default:
			fputs(help, stderr);
			return EXIT_USAGE;
		}
	}
	if (optind + 1 != argc) {
		log_err("stats needs exactly one SKETCH file");
		return EXIT_USAGE;
	}
	ret = gss_load(argv[optind], GSS_LOAD_MMAP, &g, err, sizeof(err));
	if (ret) {
		log_err("%s: %s", argv[optind], err);
		return 1;
	}
	gss_get_stats(g, &st);
	if (stat(argv[optind], &fs))
		fs.st_size = 0;
	if (json)
		print_json(argv[optind], (uint64_t)fs.st_size, &st);
	else
		print_text(argv[optind], (uint64_t)fs.st_size, &st);
	gss_destroy(g);
	return fflush(stdout) ? 1 : 0;
}
