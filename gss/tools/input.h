/* SPDX-License-Identifier: MIT */
/*
 * Edge-stream reader for `gss ingest`, `gss eval` and the benchmark.
 *
 * Formats, one record a line:
 *
 *   text   src dst [weight [timestamp]]     whitespace-separated
 *   csv    src,dst[,weight[,timestamp]]     no quoting; spaces around fields
 *                                            are ignored; a first line that
 *                                            does not parse, or whose IDs are
 *                                            column names (src,dst / from,to /
 *                                            source,target ...), is a header
 *
 * IDs are any bytes but the separators (strings and integers alike). The
 * weight is a signed 64-bit integer, 1 when absent. The timestamp, when
 * present, must be a number (integer or decimal) and is otherwise ignored.
 * Blank lines and lines starting with '#' or '%' are comments. Windows line
 * endings are accepted.
 *
 * A malformed line is an error naming the file and line ("edges.txt:12:
 * bad weight 'x'"); with skip_bad it is counted and skipped instead.
 *
 * Records point into the reader's buffer and are valid until the next call.
 * The reader reads 1 MiB at a time and splits lines with memchr, so parsing
 * costs a few tens of nanoseconds a record.
 */
#ifndef GSS_TOOLS_INPUT_H
#define GSS_TOOLS_INPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum input_format {
	INPUT_TEXT = 0,
	INPUT_CSV,
};

struct input_rec {
	const char *src; /* not NUL-terminated */
	size_t slen;
	const char *dst; /* not NUL-terminated */
	size_t dlen;
	int64_t w;
};

struct input;

/* "text" or "csv"; 0 or -EINVAL. */
int input_format_parse(const char *name, enum input_format *out);

/*
 * Opens path ("-" is standard input). 0 or -errno; on failure *err holds a
 * message naming the file.
 */
int input_open(struct input **out, const char *path, enum input_format fmt, bool skip_bad,
	       char *err, size_t errlen);
void input_close(struct input *in);

/*
 * The next record: 1 and *rec filled, 0 at end of input, or -errno with a
 * message (file:line: what) retrievable through input_error(). -EBADMSG for
 * a malformed line (unless skip_bad), -EIO for a read error.
 */
int input_next(struct input *in, struct input_rec *rec);
const char *input_error(const struct input *in);

/* Lines read so far, malformed lines skipped, bytes consumed, and the file size (0 if unknown). */
uint64_t input_line(const struct input *in);
uint64_t input_skipped(const struct input *in);
uint64_t input_bytes(const struct input *in);
uint64_t input_size(const struct input *in);
const char *input_name(const struct input *in);

/*
 * Parses one line (no newline) as a record, for callers with their own line
 * source (the fuzzer, batch queries). 1 record, 0 comment/blank, -EBADMSG
 * with a message in err (no file/line prefix).
 */
int input_parse_line(const char *line, size_t len, enum input_format fmt, struct input_rec *rec,
		     char *err, size_t errlen);

#endif /* GSS_TOOLS_INPUT_H */
