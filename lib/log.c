// SPDX-License-Identifier: MIT
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *log_prog = "";
static enum log_level log_level = LOG_INFO;

void log_init(const char *prog, enum log_level level)
{
	const char *slash = prog ? strrchr(prog, '/') : NULL;

	log_prog = slash ? slash + 1 : (prog ? prog : "");
	log_level = level;
}

void log_set_level(enum log_level level)
{
	log_level = level;
}

enum log_level log_get_level(void)
{
	return log_level;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	static const char *const names[] = { "error", "warning", "info", "debug" };
	char buf[1024];
	va_list ap;
	int n;

	if (level > log_level)
		return;
	/* One write per message, so lines from several threads never interleave. */
	n = snprintf(buf, sizeof(buf), "%s%s%s: ", log_prog, *log_prog ? ": " : "", names[level]);
	if (n < 0)
		return;
	if (level == LOG_INFO && *log_prog)
		n = snprintf(buf, sizeof(buf), "%s: ", log_prog);
	va_start(ap, fmt);
	vsnprintf(buf + n, sizeof(buf) - (size_t)n, fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s\n", buf);
}

const char *log_errstr(int err)
{
	const char *s = strerrordesc_np(err < 0 ? -err : err);

	return s ? s : "unknown error";
}

void errbuf_vset(char *buf, size_t len, const char *fmt, va_list ap)
{
	int saved = errno; /* callers format errno, then return -errno */

	if (buf && len)
		vsnprintf(buf, len, fmt, ap);
	errno = saved;
}

void errbuf_set(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	errbuf_vset(buf, len, fmt, ap);
	va_end(ap);
}
