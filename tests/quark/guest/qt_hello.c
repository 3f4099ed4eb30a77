/* SPDX-License-Identifier: MIT */
/*
 * Description: qt_hello: the smallest end-to-end run of a program. It prints
 * its argv and its whole environment (sorted), checks the auxiliary vector
 * the loader must build, writes one line to stderr, and exits with status 7,
 * so the harness sees that arguments, environment (only the --env values and
 * PATH), stdout, stderr and the exit status all cross the sandbox intact.
 *
 *   qt_hello [-] [ARG...]
 *
 * With "-" first it also reads stdin to EOF and prints the byte count and a
 * fingerprint: the caller's stdin must be the program's.
 * Exit status: 7 when every check passed, 1 otherwise.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <unistd.h>

#include "qt.h"

extern char **environ;

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int main(int argc, char **argv)
{
	printf("argc=%d\n", argc);
	for (int i = 0; i < argc; i++)
		printf("argv[%d]=%s\n", i, argv[i]);

	/* Sorted: the order of envp is the launcher's business, not the contract's. */
	size_t n = 0;
	while (environ[n])
		n++;
	char **env = calloc(n + 1, sizeof(*env));
	QT_CHECK(env != NULL, "calloc for the environment");
	if (!env)
		return 1;
	memcpy(env, environ, n * sizeof(*env));
	qsort(env, n, sizeof(*env), cmp_str);
	printf("envc=%zu\n", n);
	for (size_t i = 0; i < n; i++)
		printf("env: %s\n", env[i]);
	free(env);
	const char *greet = getenv("QT_GREETING");
	printf("QT_GREETING is %s\n", greet ? greet : "(unset)");

	/* What the ELF loader owes every program (glibc itself needs most of it). */
	QT_CHECK(getauxval(AT_PAGESZ) == 4096, "auxv AT_PAGESZ is 4096");
	QT_CHECK(getauxval(AT_RANDOM) != 0, "auxv AT_RANDOM is present");
	QT_CHECK(getauxval(AT_ENTRY) != 0, "auxv AT_ENTRY is present");
	QT_CHECK(getauxval(AT_PHDR) != 0, "auxv AT_PHDR is present");
	QT_CHECK(getauxval(AT_PHNUM) > 0, "auxv AT_PHNUM is positive");
	QT_CHECK(getauxval(AT_PHENT) == 56, "auxv AT_PHENT is sizeof(Elf64_Phdr)");
	/* 16 random bytes behind AT_RANDOM: glibc takes the stack guard from them. */
	const unsigned char *rnd = (const unsigned char *)getauxval(AT_RANDOM);
	int nonzero = 0;
	for (int i = 0; rnd && i < 16; i++)
		nonzero |= rnd[i];
	QT_CHECK(nonzero, "AT_RANDOM bytes are not all zero");

	if (argc > 1 && strcmp(argv[1], "-") == 0) {
		char buf[4096];
		size_t total = 0;
		unsigned long long h = QT_FNV_INIT;
		ssize_t r;
		while ((r = read(0, buf, sizeof(buf))) != 0) {
			if (r < 0) {
				QT_CHECK(0, "read stdin");
				break;
			}
			total += (size_t)r;
			h = qt_fnv(buf, (size_t)r, h);
		}
		printf("stdin: %zu bytes, fnv %016llx\n", total, h);
	}

	fflush(stdout);
	/* A raw write after stdio's: the two must land in this order. */
	static const char bye[] = "bye from write(2)\n";
	QT_EQ(write(1, bye, sizeof(bye) - 1), sizeof(bye) - 1, "write(1) of the last line");
	static const char err[] = "qt_hello: a line on stderr\n";
	QT_EQ(write(2, err, sizeof(err) - 1), sizeof(err) - 1, "write(2) to stderr");
	if (qt_failures) {
		qt_finish("qt_hello");
		return 1;
	}
	printf("qt_hello: all %u checks passed, exiting 7\n", qt_checks);
	exit(7);
}
