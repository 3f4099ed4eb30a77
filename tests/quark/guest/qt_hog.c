/* SPDX-License-Identifier: MIT */
/*
 * Description: qt_hog: a program that takes more than its share, for the
 * containment checks: it spins, eats memory, or floods the kernel with
 * forwarded calls. The sandbox must stop the first (--timeout), end or
 * refuse the second at its memory limit with a message, and simply serve
 * the third.
 *
 *   qt_hog spin    loops forever (no system calls at all)
 *   qt_hog mem     maps and touches 1 MiB blocks, up to 4 GiB; prints
 *                  "qt_hog: mem: refused" and exits 0 when mmap says no
 *   qt_hog flood   5 000 one-byte writes to /dev/null and 1 000 stats as
 *                  fast as they go, then "qt_hog: flood: done", exit 0
 *                  (sized for the nested bed, where each forwarded call
 *                  is emulated: natively it takes milliseconds)
 *
 * Exit status: as above; 1 when a flood call fails, 2 on bad usage.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static volatile unsigned long spins;

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";
	if (!strcmp(mode, "spin")) {
		printf("qt_hog: spin: spinning\n");
		fflush(stdout);
		for (;;)
			spins++;
	}
	if (!strcmp(mode, "mem")) {
		printf("qt_hog: mem: eating\n");
		fflush(stdout);
		for (int i = 0; i < 4096; i++) {
			char *p = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE,
				       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			if (p == MAP_FAILED) {
				printf("qt_hog: mem: refused\n");
				return 0;
			}
			for (int off = 0; off < 1 << 20; off += 4096)
				p[off] = 1;
		}
		printf("qt_hog: mem: 4 GiB and never refused\n");
		return 1;
	}
	if (!strcmp(mode, "flood")) {
		int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
		if (fd < 0)
			return 1;
		for (int i = 0; i < 5000; i++)
			if (write(fd, "x", 1) != 1)
				return 1;
		struct stat st;
		for (int i = 0; i < 1000; i++)
			if (stat("/", &st) != 0)
				return 1;
		printf("qt_hog: flood: done\n");
		return 0;
	}
	fprintf(stderr, "usage: qt_hog spin|mem|flood\n");
	return 2;
}
