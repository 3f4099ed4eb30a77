// SPDX-License-Identifier: MIT
#include "input.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define INPUT_CHUNK    (1u << 20)
#define INPUT_LINE_MAX (64u << 20)

struct input {
	int fd;
	bool own_fd;
	char *name;
	char *buf;
	size_t cap, start, end; /* unread data is buf[start..end) */
	bool eof;
	enum input_format fmt;
	bool skip_bad;
	bool first; /* no data line seen yet (CSV header detection) */
	uint64_t line, skipped, consumed, size;
	char err[512];
};

int input_format_parse(const char *name, enum input_format *out)
{
	if (!strcmp(name, "text"))
		*out = INPUT_TEXT;
	else if (!strcmp(name, "csv"))
		*out = INPUT_CSV;
	else
		return -EINVAL;
	return 0;
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/* Strict signed 64-bit integer: [+-]digits, nothing else. */
static bool parse_i64(const char *p, size_t n, int64_t *out, bool *range)
{
	uint64_t v = 0, lim;
	bool neg = false;
	size_t i = 0;

	*range = false;
	if (n && (p[0] == '-' || p[0] == '+')) {
		neg = p[0] == '-';
		i = 1;
	}
	if (i == n)
		return false;
	lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	for (; i < n; i++) {
		unsigned d = (unsigned char)p[i] - '0';

		if (d > 9)
			return false;
		if (v > (lim - d) / 10) {
			*range = true;
			return false;
		}
		v = v * 10 + d;
	}
	*out = neg ? (int64_t)(0 - v) : (int64_t)v;
	return true;
}

/* A number as timestamps come: [+-]digits[.digits][(e|E)[+-]digits]. */
static bool is_number(const char *p, size_t n)
{
	size_t i = 0, digits = 0;

	if (i < n && (p[i] == '-' || p[i] == '+'))
		i++;
	for (; i < n && p[i] >= '0' && p[i] <= '9'; i++)
		digits++;
	if (i < n && p[i] == '.')
		for (i++; i < n && p[i] >= '0' && p[i] <= '9'; i++)
			digits++;
	if (!digits)
		return false;
	if (i < n && (p[i] == 'e' || p[i] == 'E')) {
		size_t exp = 0;

		i++;
		if (i < n && (p[i] == '-' || p[i] == '+'))
			i++;
		for (; i < n && p[i] >= '0' && p[i] <= '9'; i++)
			exp++;
		if (!exp)
			return false;
	}
	return i == n;
}

struct field {
	const char *p;
	size_t n;
};

/* Splits a line into at most 5 fields; returns the count (5 means "too many"). */
static unsigned split(const char *line, size_t len, enum input_format fmt, struct field f[5])
{
	unsigned n = 0;
	size_t i = 0;

	if (fmt == INPUT_TEXT) {
		while (n < 5) {
			while (i < len && is_space(line[i]))
				i++;
			if (i == len)
				break;
			f[n].p = line + i;
			while (i < len && !is_space(line[i]))
				i++;
			f[n].n = (size_t)(line + i - f[n].p);
			n++;
		}
		return n;
	}
	for (;;) {
		size_t s = i, e;

		while (i < len && line[i] != ',')
			i++;
		e = i;
		while (s < e && is_space(line[s]))
			s++;
		while (e > s && is_space(line[e - 1]))
			e--;
		if (n < 5) {
			f[n].p = line + s;
			f[n].n = e - s;
		}
		n++;
		if (i == len)
			break;
		i++;
	}
	return n > 5 ? 5 : n;
}

/* "<what> '<field>'<why>" with the field cut at 40 bytes. */
static int bad(char *err, size_t errlen, const char *what, const struct field *f, const char *why)
{
	if (err && errlen)
		snprintf(err, errlen, "%s '%.*s%s'%s", what, (int)(f->n > 40 ? 40 : f->n), f->p,
			 f->n > 40 ? "..." : "", why);
	return -EBADMSG;
}

int input_parse_line(const char *line, size_t len, enum input_format fmt, struct input_rec *rec,
		     char *err, size_t errlen)
{
	struct field f[5];
	unsigned n;
	size_t i = 0;
	bool range;

	while (i < len && is_space(line[i]))
		i++;
	if (i == len || line[i] == '#' || line[i] == '%')
		return 0;
	n = split(line, len, fmt, f);
	if (n < 2 || n > 4) {
		if (err && errlen)
			snprintf(err, errlen, "expected %s, found %s%u field%s",
				 fmt == INPUT_TEXT ? "'src dst [weight [timestamp]]'"
						   : "'src,dst[,weight[,timestamp]]'",
				 n > 4 ? "more than " : "", n > 4 ? 4 : n, n == 1 ? "" : "s");
		return -EBADMSG;
	}
	if (!f[0].n || !f[1].n) {
		if (err && errlen)
			snprintf(err, errlen, "empty node ID");
		return -EBADMSG;
	}
	rec->src = f[0].p;
	rec->slen = f[0].n;
	rec->dst = f[1].p;
	rec->dlen = f[1].n;
	rec->w = 1;
	if (n >= 3 && !parse_i64(f[2].p, f[2].n, &rec->w, &range))
		return bad(err, errlen, range ? "weight" : "bad weight", &f[2],
			   range ? " out of the 64-bit range" : " (expected an integer)");
	if (n == 4 && !is_number(f[3].p, f[3].n))
		return bad(err, errlen, "bad timestamp", &f[3], " (expected a number)");
	return 1;
}

int input_open(struct input **out, const char *path, enum input_format fmt, bool skip_bad,
	       char *err, size_t errlen)
{
	struct input *in;
	struct stat st;
	int ret;

	in = calloc(1, sizeof(*in));
	if (!in)
		return -ENOMEM;
	in->fmt = fmt;
	in->skip_bad = skip_bad;
	in->first = true;
	in->cap = INPUT_CHUNK;
	in->buf = malloc(in->cap);
	in->name = strdup(strcmp(path, "-") ? path : "<stdin>");
	if (!in->buf || !in->name) {
		ret = -ENOMEM;
		goto err_free;
	}
	if (!strcmp(path, "-")) {
		in->fd = STDIN_FILENO;
	} else {
		in->fd = open(path, O_RDONLY | O_CLOEXEC);
		if (in->fd < 0) {
			ret = -errno;
			if (err && errlen)
				snprintf(err, errlen, "%s: %s", path, strerrordesc_np(errno));
			goto err_free;
		}
		in->own_fd = true;
		posix_fadvise(in->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	}
	if (!fstat(in->fd, &st) && S_ISREG(st.st_mode))
		in->size = (uint64_t)st.st_size;
	*out = in;
	return 0;

err_free:
	free(in->buf);
	free(in->name);
	free(in);
	return ret;
}

void input_close(struct input *in)
{
	if (!in)
		return;
	if (in->own_fd)
		close(in->fd);
	free(in->buf);
	free(in->name);
	free(in);
}

/* Makes room and reads more. 0, or -errno. Sets eof at end of input. */
static int fill(struct input *in)
{
	ssize_t k;

	if (in->start) {
		memmove(in->buf, in->buf + in->start, in->end - in->start);
		in->end -= in->start;
		in->start = 0;
	}
	if (in->end == in->cap) {
		size_t nc = in->cap * 2;
		char *nb;

		if (nc > INPUT_LINE_MAX) {
			snprintf(in->err, sizeof(in->err), "%s:%llu: line longer than %u MiB",
				 in->name, (unsigned long long)in->line + 1, INPUT_LINE_MAX >> 20);
			return -EBADMSG;
		}
		nb = realloc(in->buf, nc);
		if (!nb)
			return -ENOMEM;
		in->buf = nb;
		in->cap = nc;
	}
	do {
		k = read(in->fd, in->buf + in->end, in->cap - in->end);
	} while (k < 0 && errno == EINTR);
	if (k < 0) {
		int e = errno;

		snprintf(in->err, sizeof(in->err), "%s: read error: %s", in->name,
			 strerrordesc_np(e));
		return -e;
	}
	if (k == 0)
		in->eof = true;
	in->end += (size_t)k;
	return 0;
}

static bool header_word(const char *p, size_t n)
{
	static const char *const words[] = {
		"src",	       "source", "from", "u", "dst",   "dest",
		"destination", "target", "to",	 "v", "node1", "node2"
	};

	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (strlen(words[i]) == n && !strncasecmp(words[i], p, n))
			return true;
	return false;
}

/* "src,dst" and the like: a header line that happens to parse as an edge. */
static bool header_words(const struct input_rec *rec)
{
	return header_word(rec->src, rec->slen) && header_word(rec->dst, rec->dlen);
}

int input_next(struct input *in, struct input_rec *rec)
{
	for (;;) {
		char *nl = memchr(in->buf + in->start, '\n', in->end - in->start);
		const char *line = in->buf + in->start;
		size_t len;
		char why[256];
		int ret;

		if (!nl) {
			if (!in->eof) {
				ret = fill(in);
				if (ret)
					return ret;
				continue;
			}
			if (in->start == in->end)
				return 0;
			len = in->end - in->start; /* last line without a newline */
			in->start = in->end;
		} else {
			len = (size_t)(nl - line);
			in->start += len + 1;
		}
		in->consumed += len + (nl ? 1 : 0);
		in->line++;
		ret = input_parse_line(line, len, in->fmt, rec, why, sizeof(why));
		if (ret == 1 && in->first && in->fmt == INPUT_CSV && header_words(rec)) {
			in->first = false;
			continue;
		}
		if (ret == 1) {
			in->first = false;
			return 1;
		}
		if (ret == 0)
			continue;
		/* A CSV file may open with a header line of column names. */
		if (in->first && in->fmt == INPUT_CSV) {
			in->first = false;
			continue;
		}
		in->first = false;
		if (in->skip_bad) {
			in->skipped++;
			continue;
		}
		snprintf(in->err, sizeof(in->err), "%s:%llu: %s", in->name,
			 (unsigned long long)in->line, why);
		return -EBADMSG;
	}
}

const char *input_error(const struct input *in)
{
	return in->err;
}

uint64_t input_line(const struct input *in)
{
	return in->line;
}

uint64_t input_skipped(const struct input *in)
{
	return in->skipped;
}

uint64_t input_bytes(const struct input *in)
{
	return in->consumed;
}

uint64_t input_size(const struct input *in)
{
	return in->size;
}

const char *input_name(const struct input *in)
{
	return in->name;
}
