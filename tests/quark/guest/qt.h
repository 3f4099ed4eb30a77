/* SPDX-License-Identifier: MIT */
/*
 * The checking harness shared by the guest test programs (qt_*.c).
 *
 * These programs run twice, natively and under `quark run`, and the two runs
 * are compared byte for byte (tests/quark/nested/guest-run.sh). So every line
 * a program prints on stdout must be the same wherever it runs: a check prints
 * what it checked and "ok", never a pid, a time, an address or an inode
 * number. A failing check prints the values it saw, which makes the two
 * outputs differ, and the exit status says the rest.
 *
 * The programs are linked statically, statically as PIE and dynamically with
 * Debian's gcc and glibc, without the project's sanitizers (they run on
 * QKernel, which gives them no sanitizer runtime), so they use glibc freely
 * but make the system calls under test through syscall(2) wherever glibc
 * would pick another one (open -> openat, stat -> newfstatat) or the vDSO
 * (clock_gettime, gettimeofday, time).
 */
#ifndef TESTS_QUARK_GUEST_QT_H
#define TESTS_QUARK_GUEST_QT_H

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Checks run and checks failed by this program. */
static unsigned qt_checks, qt_failures;

/*
 * Records one check. ok != 0: prints "ok: WHAT". Otherwise prints
 * "FAIL: WHAT (DETAIL)", where DETAIL is printf-formatted.
 */
__attribute__((format(printf, 3, 4))) static void qt_result(int ok, const char *what,
							    const char *detail_fmt, ...)
{
	qt_checks++;
	if (ok) {
		printf("ok: %s\n", what);
		return;
	}
	qt_failures++;
	printf("FAIL: %s (", what);
	va_list ap;
	va_start(ap, detail_fmt);
	vprintf(detail_fmt, ap);
	va_end(ap);
	printf(")\n");
}

/* An errno as its name, so a failure says EFAULT rather than 14. */
static inline const char *qt_errname(int e)
{
	const char *n = strerrorname_np(e);
	return n ? n : "E?";
}

/* cond must hold; on failure also shows errno, which most checks are about. */
#define QT_CHECK(cond, what)                                                                     \
	do {                                                                                     \
		int qt_e_ = errno;                                                               \
		qt_result((cond) != 0, (what), "%s:%d: %s, errno %s", __FILE__, __LINE__, #cond, \
			  qt_errname(qt_e_));                                                    \
	} while (0)

/* expr (a call returning -1 on error) must fail with exactly errno err. */
#define QT_ERRNO(expr, err, what)                                                                \
	do {                                                                                     \
		errno = 0;                                                                       \
		long qt_r_ = (long)(expr);                                                       \
		int qt_e_ = errno;                                                               \
		qt_result(qt_r_ == -1 && qt_e_ == (err), (what),                                 \
			  "%s:%d: %s returned %ld errno %s, expected -1 %s", __FILE__, __LINE__, \
			  #expr, qt_r_, qt_errname(qt_e_), qt_errname(err));                     \
	} while (0)

/* expr must return exactly want (a call's success value). */
#define QT_EQ(expr, want, what)                                                                    \
	do {                                                                                       \
		errno = 0;                                                                         \
		long qt_r_ = (long)(expr);                                                         \
		int qt_e_ = errno;                                                                 \
		long qt_w_ = (long)(want);                                                         \
		qt_result(qt_r_ == qt_w_, (what), "%s:%d: %s returned %ld errno %s, expected %ld", \
			  __FILE__, __LINE__, #expr, qt_r_, qt_errname(qt_e_), qt_w_);             \
	} while (0)

/* The summary line and the exit status: 0 when every check passed. */
static inline int qt_finish(const char *prog)
{
	if (qt_failures == 0)
		printf("%s: all %u checks passed\n", prog, qt_checks);
	else
		printf("%s: %u of %u checks FAILED\n", prog, qt_failures, qt_checks);
	fflush(stdout);
	return qt_failures == 0 ? 0 : 1;
}

/* FNV-1a over bytes: prints as a stable fingerprint of large contents. */
static inline unsigned long long qt_fnv(const void *p, size_t n, unsigned long long h)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ULL;
	return h;
}
#define QT_FNV_INIT 0xcbf29ce484222325ULL

#endif /* TESTS_QUARK_GUEST_QT_H */
