/* SPDX-License-Identifier: MIT */
/*
 * Description: qt_efault: a hostile program's pointers. Every system call that
 * takes a pointer is given ones that must not work: 0x1, the kernel half
 * (0xffffffff80001000, where a guest kernel may live), a non-canonical
 * address, an unmapped page, a read-only page for a kernel write, a string
 * that runs into an unmapped page, and buffers whose length runs past the end
 * of their mapping. Each must give EFAULT (or, for a length that runs past
 * the end, a short count that never reaches the unmapped part), never a crash
 * and never a copy of memory the program does not own; the program then goes
 * on working and prints its summary.
 *
 *   qt_efault
 *
 * Exit status: 0 when every check passed, 1 otherwise.
 */
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "qt.h"

#define PAGE 4096L

/* The bad pointers, by name; each is tried in every call below. */
struct bad {
	const char *name; /* as printed */
	void *ptr;	  /* the address handed to the kernel */
};

int main(void)
{
	/*
	 * Two pages with the second unmapped: the edge of the address space the
	 * program owns. The read-only page is mapped first, since a later mmap
	 * could fill the hole; nothing after this maps memory.
	 */
	char *ro = mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	QT_CHECK(ro != MAP_FAILED, "mmap a read-only page");
	char *edge =
		mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	QT_CHECK(edge != MAP_FAILED, "mmap two pages");
	if (edge == MAP_FAILED || ro == MAP_FAILED)
		return qt_finish("qt_efault");
	QT_EQ(munmap(edge + PAGE, PAGE), 0, "unmap the second");

	const struct bad bads[] = {
		{ "0x1", (void *)1 },
		{ "the kernel half", (void *)0xffffffff80001000UL },
		{ "a non-canonical address", (void *)0x8000000000000000UL },
		{ "an unmapped page", edge + PAGE },
	};
	enum { N_BAD = sizeof(bads) / sizeof(bads[0]) };

	/* An fd that must survive all of this, and /dev/null to write to. */
	int p[2];
	int fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
	char what[160];
	struct stat st;
	for (int i = 0; i < N_BAD; i++) {
		void *b = bads[i].ptr;
		char drain[8];
		/* A fresh pipe each time: whether a failed read consumed its bytes is not the
		 * point. */
		QT_EQ(pipe(p), 0, "a pipe");
		/* The kernel must not write there, */
		QT_EQ(write(p[1], "abcd", 4), 4, "fill the pipe");
		snprintf(what, sizeof(what), "read from a pipe into %s is EFAULT", bads[i].name);
		QT_ERRNO(read(p[0], b, 4), EFAULT, what);
		/* nor read from there, */
		snprintf(what, sizeof(what), "write to a pipe from %s is EFAULT", bads[i].name);
		QT_ERRNO(write(p[1], b, 16), EFAULT, what);
		snprintf(what, sizeof(what), "write to /dev/null from %s", bads[i].name);
		/* /dev/null never looks at the bytes: Linux says 16 there. Either answer leaks
		 * nothing. */
		errno = 0;
		long r = devnull >= 0 ? write(devnull, b, 16) : -1;
		QT_CHECK(devnull < 0 || r == 16 || (r == -1 && errno == EFAULT), what);
		snprintf(what, sizeof(what), "pwrite64 to a pipe from %s is ESPIPE or EFAULT",
			 bads[i].name);
		errno = 0;
		r = pwrite(p[1], b, 16, 0);
		QT_CHECK(r == -1 && (errno == ESPIPE || errno == EFAULT), what);
		/* nor take a path, a stat buffer, an iovec, a time or a name from there. */
		snprintf(what, sizeof(what), "openat of a path at %s is EFAULT", bads[i].name);
		QT_ERRNO(openat(AT_FDCWD, b, O_RDONLY), EFAULT, what);
		snprintf(what, sizeof(what), "open(2) of a path at %s is EFAULT", bads[i].name);
		QT_ERRNO(syscall(SYS_open, b, O_RDONLY), EFAULT, what);
		snprintf(what, sizeof(what), "stat(2) of a path at %s is EFAULT", bads[i].name);
		QT_ERRNO(syscall(SYS_stat, b, &st), EFAULT, what);
		snprintf(what, sizeof(what), "stat(2) into a buffer at %s is EFAULT", bads[i].name);
		QT_ERRNO(syscall(SYS_stat, "/", b), EFAULT, what);
		snprintf(what, sizeof(what), "fstat into %s is EFAULT", bads[i].name);
		QT_ERRNO(syscall(SYS_fstat, 0, b), EFAULT, what);
		snprintf(what, sizeof(what), "newfstatat into %s is EFAULT", bads[i].name);
		QT_ERRNO(syscall(SYS_newfstatat, AT_FDCWD, "/", b, 0), EFAULT, what);
		snprintf(what, sizeof(what), "statx into %s is EFAULT", bads[i].name);
		QT_ERRNO(syscall(SYS_statx, AT_FDCWD, "/", 0, STATX_BASIC_STATS, b), EFAULT, what);
		snprintf(what, sizeof(what), "access(2) of a path at %s is EFAULT", bads[i].name);
		QT_ERRNO(syscall(SYS_access, b, F_OK), EFAULT, what);
		snprintf(what, sizeof(what), "mkdir(2) of a path at %s is EFAULT", bads[i].name);
		QT_ERRNO(syscall(SYS_mkdir, b, 0755), EFAULT, what);
		snprintf(what, sizeof(what), "unlink(2) of a path at %s is EFAULT", bads[i].name);
		QT_ERRNO(syscall(SYS_unlink, b), EFAULT, what);
		snprintf(what, sizeof(what), "chdir of a path at %s is EFAULT", bads[i].name);
		QT_ERRNO(syscall(SYS_chdir, b), EFAULT, what);
		snprintf(what, sizeof(what), "readlink into %s is EFAULT", bads[i].name);
		QT_ERRNO(syscall(SYS_readlink, b, drain, sizeof(drain)), EFAULT, what);
		snprintf(what, sizeof(what), "getcwd into %s is EFAULT", bads[i].name);
		QT_ERRNO(syscall(SYS_getcwd, b, 256), EFAULT, what);
		snprintf(what, sizeof(what), "readv with an iovec array at %s is EFAULT",
			 bads[i].name);
		QT_ERRNO(readv(p[0], b, 1), EFAULT, what);
		snprintf(what, sizeof(what), "writev with an iovec array at %s is EFAULT",
			 bads[i].name);
		QT_ERRNO(writev(p[1], b, 1), EFAULT, what);
		struct iovec iov = { b, 8 };
		snprintf(what, sizeof(what), "writev of an iovec pointing at %s is EFAULT",
			 bads[i].name);
		QT_ERRNO(writev(p[1], &iov, 1), EFAULT, what);
		snprintf(what, sizeof(what), "uname into %s is EFAULT", bads[i].name);
		QT_ERRNO(syscall(SYS_uname, b), EFAULT, what);
		snprintf(what, sizeof(what), "clock_gettime into %s is EFAULT", bads[i].name);
		QT_ERRNO(syscall(SYS_clock_gettime, CLOCK_MONOTONIC, b), EFAULT, what);
		snprintf(what, sizeof(what), "gettimeofday into %s is EFAULT", bads[i].name);
		QT_ERRNO(syscall(SYS_gettimeofday, b, NULL), EFAULT, what);
		snprintf(what, sizeof(what), "nanosleep of a time at %s is EFAULT", bads[i].name);
		QT_ERRNO(syscall(SYS_nanosleep, b, NULL), EFAULT, what);
		snprintf(what, sizeof(what), "getrandom into %s is EFAULT", bads[i].name);
		QT_ERRNO(syscall(SYS_getrandom, b, 16, 0), EFAULT, what);
		snprintf(what, sizeof(what), "pipe2 into %s is EFAULT", bads[i].name);
		QT_ERRNO(syscall(SYS_pipe2, b, 0), EFAULT, what);
		snprintf(what, sizeof(what), "getdents64 into %s is EFAULT", bads[i].name);
		int dfd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		QT_ERRNO(syscall(SYS_getdents64, dfd, b, 4096), EFAULT, what);
		close(dfd);
		snprintf(what, sizeof(what), "rt_sigaction from %s is EFAULT", bads[i].name);
		QT_ERRNO(syscall(SYS_rt_sigaction, SIGUSR1, b, NULL, 8), EFAULT, what);
		snprintf(what, sizeof(what), "prlimit64 into %s is EFAULT", bads[i].name);
		QT_ERRNO(syscall(SYS_prlimit64, 0, 7 /* RLIMIT_NOFILE */, NULL, b), EFAULT, what);
		snprintf(what, sizeof(what), "arch_prctl ARCH_GET_FS into %s is EFAULT",
			 bads[i].name);
		QT_ERRNO(syscall(SYS_arch_prctl, 0x1003 /* ARCH_GET_FS */, b), EFAULT, what);
		close(p[0]);
		close(p[1]);
	}

	/* A read-only page: readable by the kernel, never written by it. */
	QT_EQ(pipe(p), 0, "a pipe");
	QT_EQ(write(p[1], "abcd", 4), 4, "fill the pipe");
	QT_ERRNO(read(p[0], ro, 4), EFAULT, "read from a pipe into a read-only page is EFAULT");
	QT_ERRNO(syscall(SYS_uname, ro), EFAULT, "uname into a read-only page is EFAULT");
	QT_ERRNO(syscall(SYS_stat, "/", ro), EFAULT, "stat into a read-only page is EFAULT");
	QT_ERRNO(syscall(SYS_clock_gettime, CLOCK_MONOTONIC, ro), EFAULT,
		 "clock_gettime into a read-only page is EFAULT");
	close(p[0]);
	close(p[1]);
	QT_EQ(pipe(p), 0, "a fresh pipe");

	/* A path that runs into the unmapped page before its NUL. */
	char *tail = edge + PAGE - 100;
	memset(tail, 'a', 100);
	QT_ERRNO(openat(AT_FDCWD, tail, O_RDONLY), EFAULT,
		 "a path running into an unmapped page is EFAULT");
	QT_ERRNO(syscall(SYS_stat, tail, &st), EFAULT, "stat of such a path is EFAULT");

	/*
	 * Lengths past the end of the mapping. Linux copies what it can and
	 * returns the short count; EFAULT is as good. Either way the count never
	 * covers the unmapped page.
	 */
	memset(edge, 'e', PAGE);
	errno = 0;
	long r = write(p[1], edge + PAGE - 512, 4096);
	QT_CHECK((r == -1 && errno == EFAULT) || (r >= 0 && r <= 512),
		 "write of 4096 bytes with 512 mapped: EFAULT or at most 512");
	if (r > 0) {
		char got[512];
		QT_CHECK(read(p[0], got, sizeof(got)) == r && got[0] == 'e' && got[r - 1] == 'e',
			 "what was written is the mapped part");
	}
	static char src[8192];
	memset(src, 's', sizeof(src));
	QT_EQ(write(p[1], src, sizeof(src)), sizeof(src), "8 KiB into the pipe");
	errno = 0;
	r = read(p[0], edge + PAGE - 512, sizeof(src));
	QT_CHECK((r == -1 && errno == EFAULT) || (r >= 0 && r <= 512),
		 "read of 8192 bytes into 512 mapped: EFAULT or at most 512");
	QT_CHECK(edge[PAGE - 513] == 'e', "the byte before the buffer is untouched");
	close(p[0]);
	close(p[1]);
	errno = 0;
	r = syscall(SYS_getrandom, edge + PAGE - 64, 4096, 0);
	QT_CHECK((r == -1 && errno == EFAULT) || (r >= 0 && r <= 64),
		 "getrandom past the end: EFAULT or at most 64");
	errno = 0;
	r = syscall(SYS_getcwd, edge + PAGE - 1, 4096);
	QT_CHECK((r == -1 && (errno == EFAULT || errno == ERANGE)),
		 "getcwd of 4096 with 1 byte mapped fails");
	/*
	 * A length no buffer can have (it runs past the end of the address
	 * space): Linux refuses it whole before copying anything. Into a pipe,
	 * so that a sandbox that writes part of it does not write into stdout.
	 */
	QT_EQ(pipe(p), 0, "a pipe for the huge write");
	QT_ERRNO(write(p[1], edge, (size_t)-1 / 2), EFAULT, "write of 2^63 bytes is EFAULT");
	close(p[0]);
	close(p[1]);

	/* The program is still whole: its memory, its descriptors, its clock. */
	struct utsname u;
	char drain[8];
	QT_EQ(uname(&u), 0, "uname still works");
	QT_EQ(pipe(p), 0, "pipes still work");
	QT_CHECK(write(p[1], "ok", 2) == 2 && read(p[0], drain, 2) == 2 &&
			 memcmp(drain, "ok", 2) == 0,
		 "data still flows");
	QT_CHECK(fd >= 0 && fstat(fd, &st) == 0 && S_ISDIR(st.st_mode),
		 "an fd opened before is still open");
	printf("qt_efault: still alive\n");
	return qt_finish("qt_efault");
}
