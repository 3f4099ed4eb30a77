/* SPDX-License-Identifier: MIT */
/*
 * Logging for programs (never for libraries: libgss and libtsor report errors
 * through return values only). Messages go to stderr as
 *
 *     prog: error: message
 *
 * so they read like any Unix tool's. The level threshold starts at LOG_INFO
 * and is lowered by -q and raised by -v in each program's main().
 */
#ifndef LIB_LOG_H
#define LIB_LOG_H

#include <stdarg.h>
#include <stddef.h>

#include "compiler.h"

enum log_level {
	LOG_ERR = 0,
	LOG_WARN,
	LOG_INFO,
	LOG_DEBUG,
};

/* Sets the prefix (usually argv[0]'s basename) and the threshold. */
void log_init(const char *prog, enum log_level level);
void log_set_level(enum log_level level);
enum log_level log_get_level(void);

void log_msg(enum log_level level, const char *fmt, ...) ATTR_PRINTF(2, 3);

/*
 * The text of an errno value, safe from any thread (strerror() is not: it
 * may write a shared buffer for unknown values).
 */
const char *log_errstr(int err);

/*
 * Formats a message into a caller's error buffer, for functions that report
 * what went wrong to their caller instead of logging it (libraries, config
 * parsers). A NULL buffer or zero length writes nothing. errno is left as
 * it was, so a caller may format errno into the message and then return
 * -errno.
 */
void errbuf_set(char *buf, size_t len, const char *fmt, ...) ATTR_PRINTF(3, 4);
void errbuf_vset(char *buf, size_t len, const char *fmt, va_list ap) ATTR_PRINTF(3, 0);

#define log_err(...)   log_msg(LOG_ERR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif /* LIB_LOG_H */
