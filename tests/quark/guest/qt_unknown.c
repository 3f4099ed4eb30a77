/* SPDX-License-Identifier: MIT */
/*
 * Description: qt_unknown: system call numbers no kernel serves. Each must
 * return ENOSYS (and, under quark, be counted as unknown in --stats) without
 * disturbing the program: 400 three times (unassigned on x86_64, between
 * 334 and 424), 1000, 0x7fffffff and -1 once each (numbers far past any
 * table, which a kernel must range-check before it indexes anything). The
 * program then shows it still works.
 *
 *   qt_unknown
 *
 * Exit status: 0 when every check passed, 1 otherwise.
 */
#include <sys/syscall.h>
#include <unistd.h>

#include "qt.h"

int main(void)
{
	static const long numbers[] = { 400, 400, 400, 1000, 0x7fffffff, -1 };
	char what[64];
	for (size_t i = 0; i < sizeof(numbers) / sizeof(numbers[0]); i++) {
		snprintf(what, sizeof(what), "syscall %ld is ENOSYS", numbers[i]);
		QT_ERRNO(syscall(numbers[i], 1, 2, 3, 4, 5, 6), ENOSYS, what);
	}
	/* Still alive, and the known calls still answer. */
	QT_CHECK(syscall(SYS_getpid) > 0, "getpid after the unknown calls");
	static const char line[] = "qt_unknown: still writing\n";
	fflush(stdout);
	QT_EQ(write(1, line, sizeof(line) - 1), sizeof(line) - 1, "write after the unknown calls");
	return qt_finish("qt_unknown");
}
