// SPDX-License-Identifier: MIT
/*
 * Description: quark/qvisor/seccomp: the allowlist holds what QVisor needs
 * and none of the dangerous calls; in a forked child that locked down, the
 * forwarded operations (qv_fwd_call on a temporary root), stdio and malloc
 * still work, the process is marked no_new_privs and filtered, and each
 * forbidden call (socket, execve, open, openat, an unlisted ioctl, an
 * executable mapping, fcntl F_DUPFD, ptrace, and where the kernel has
 * IA-32 emulation a 32-bit int $0x80) kills it with SIGSYS.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <linux/kvm.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "abi.h"
#include "fwd.h"
#include "seccomp.h"

static char base[64];

static void lockdown(void)
{
	struct rlimit none = { 0, 0 };
	char err[256] = "";

	setrlimit(RLIMIT_CORE, &none); /* a SIGSYS kill dumps core otherwise */
	if (qv_seccomp_lockdown(err, sizeof(err)) != 0) {
		fprintf(stderr, "lockdown: %s\n", err);
		_exit(90);
	}
}

/* Runs fn in a child and returns its wait status. */
static int in_child(void (*fn)(void))
{
	int status = 0;
	pid_t pid;

	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		fn();
		_exit(0); /* never exit(): LSan's exit-time check would be killed */
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return status;
}

static void expect_sigsys(void (*fn)(void), const char *what)
{
	int st = in_child(fn);

	if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGSYS)
		fail_msg("%s: status %#x, want SIGSYS", what, st);
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static int setup(void **state)
{
	char p[128];
	FILE *f;

	(void)state;
	strcpy(base, "/tmp/qsec-test-XXXXXX");
	assert_non_null(mkdtemp(base));
	snprintf(p, sizeof(p), "%s/d", base);
	assert_int_equal(mkdir(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/d/f", base);
	f = fopen(p, "w");
	assert_non_null(f);
	fputs("data\n", f);
	fclose(f);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	nftw(base, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}

static void test_allowlist(void **state)
{
	static const char *const banned[] = { "execve",
					      "execveat",
					      "socket",
					      "connect",
					      "ptrace",
					      "mount",
					      "umount2",
					      "open",
					      "openat",
					      "creat",
					      "clone",
					      "clone3",
					      "fork",
					      "vfork",
					      "kill",
					      "process_vm_writev",
					      "process_vm_readv",
					      "bpf",
					      "setuid",
					      "unshare",
					      "setns",
					      "pivot_root",
					      "chroot",
					      "init_module",
					      "memfd_create",
					      "io_uring_setup",
					      "prctl",
					      "seccomp",
					      "symlinkat",
					      "linkat",
					      "mknodat",
					      "fchmodat",
					      "fchownat",
					      "personality",
					      "keyctl",
					      "userfaultfd" };
	const char *const *list = qv_seccomp_allowlist();
	bool openat2 = false, ioctl_ = false;
	size_t n = 0;

	(void)state;
	for (; list[n]; n++) {
		for (size_t i = 0; i < sizeof(banned) / sizeof(banned[0]); i++) {
			if (strcmp(list[n], banned[i]) == 0)
				fail_msg("%s is allowed", list[n]);
		}
		openat2 |= strcmp(list[n], "openat2") == 0;
		ioctl_ |= strcmp(list[n], "ioctl") == 0;
	}
	assert_true(openat2 && ioctl_);
	assert_true(n > 20 && n < 80);
}

/* After lockdown: every forwarded operation, printing and malloc still work. */
static void allowed_work(void)
{
	static unsigned char mem[1 << 16];
	struct qv_gmem m = { mem, sizeof(mem) };
	struct quark_seg seg = { 0x8000, 100 };
	struct qv_fwd *f = NULL;
	struct quark_hcall hc;
	char err[256], root[96];
	int64_t h, r;
	char *p;

	snprintf(root, sizeof(root), "%s", base);
	if (qv_fwd_open(&f, root, "/d", err, sizeof(err)) != 0)
		_exit(91);
	lockdown();
#define CALL(o, a0, a1, a2, a3, a4, a5)                                            \
	(hc = (struct quark_hcall){ .op = o, .args = { a0, a1, a2, a3, a4, a5 } }, \
	 qv_fwd_call(f, &m, &hc))
#define PATH(gpa, s) (memcpy(mem + (gpa), s, strlen(s) + 1), (uint64_t)strlen(s))
	/* A relative open: fstat, readlinkat of /proc/self/fd/N, openat2. */
	h = CALL(QUARK_OP_OPENAT, 4, 0x100, PATH(0x100, "f"), O_RDWR, 0, 0);
	if (h < 0)
		_exit(10);
	memcpy(mem + 0x200, &seg, sizeof(seg));
	if (CALL(QUARK_OP_READV, (uint64_t)h, 0x200, 1, 0, 0, 0) != 5 ||
	    memcmp(mem + 0x8000, "data\n", 5) != 0)
		_exit(11);
	if (CALL(QUARK_OP_PWRITEV, (uint64_t)h, 0x200, 1, 5, 0, 0) != 100)
		_exit(12);
	if (CALL(QUARK_OP_PREADV, (uint64_t)h, 0x200, 1, 0, 0, 0) != 100)
		_exit(13);
	if (CALL(QUARK_OP_FSTAT, (uint64_t)h, 0x1000, 0, 0, 0, 0) != 0 ||
	    CALL(QUARK_OP_LSEEK, (uint64_t)h, 0, SEEK_END, 0, 0, 0) != 105 ||
	    CALL(QUARK_OP_FTRUNCATE, (uint64_t)h, 5, 0, 0, 0, 0) != 0 ||
	    CALL(QUARK_OP_FSYNC, (uint64_t)h, 0, 0, 0, 0, 0) != 0)
		_exit(14);
	if (CALL(QUARK_OP_FCNTL, (uint64_t)h, F_SETFL, O_APPEND, 0, 0, 0) != 0 ||
	    CALL(QUARK_OP_FCNTL, (uint64_t)h, F_GETFL, 0, 0, 0, 0) < 0)
		_exit(15);
	r = CALL(QUARK_OP_IOCTL, (uint64_t)h, TCGETS, 0x1000, 0, 0, 0);
	if (r != -ENOTTY)
		_exit(16);
	if (CALL(QUARK_OP_FSTATAT, 4, 0x100, PATH(0x100, "../d/f"), 0x1000, 0, 0) != 0 ||
	    CALL(QUARK_OP_FSTATAT, 4, 0x100, 0, 0x1000, AT_EMPTY_PATH, 0) != 0 ||
	    CALL(QUARK_OP_STATX, 4, 0x100, PATH(0x100, "f"), 0, 0x7ff, 0x1000) != 0 ||
	    CALL(QUARK_OP_FACCESSAT, 4, 0x100, PATH(0x100, "f"), R_OK, 0, 0) != 0 ||
	    CALL(QUARK_OP_READLINKAT, 4, 0x100, PATH(0x100, "f"), 0x1000, 64, 0) != -EINVAL)
		_exit(17);
	if (CALL(QUARK_OP_MKDIRAT, 4, 0x100, PATH(0x100, "sub"), 0700, 0, 0) != 0 ||
	    CALL(QUARK_OP_RENAMEAT, 4, 0x100, PATH(0x100, "sub"), 3, 0x300, PATH(0x300, "sub2")) !=
		    0 ||
	    CALL(QUARK_OP_UNLINKAT, 3, 0x100, PATH(0x100, "/sub2"), AT_REMOVEDIR, 0, 0) != 0)
		_exit(18);
	if (CALL(QUARK_OP_GETPATH, 4, 0x1000, 64, 0, 0, 0) != 3 ||
	    CALL(QUARK_OP_GETDENTS64, 4, 0x1000, 4096, 0, 0, 0) != -EBADF) /* O_PATH */
		_exit(19);
	h = CALL(QUARK_OP_OPENAT, 3, 0x100, PATH(0x100, "/d"), O_RDONLY | O_DIRECTORY, 0, 0);
	if (h < 0 || CALL(QUARK_OP_GETDENTS64, (uint64_t)h, 0x1000, 4096, 0, 0, 0) <= 0 ||
	    CALL(QUARK_OP_CLOSE, (uint64_t)h, 0, 0, 0, 0, 0) != 0)
		_exit(20);
	if (CALL(QUARK_OP_GETRANDOM, 0x1000, 32, 0, 0, 0, 0) != 32 ||
	    CALL(QUARK_OP_NANOSLEEP, 1000, 0, 0, 0, 0, 0) != 0)
		_exit(21);
	/* Things the vCPU loop does: a KVM ioctl on a bad fd is EBADF, not death. */
	if (ioctl(-1, KVM_RUN, 0) != -1 || errno != EBADF)
		_exit(22);
	/* stdio, malloc (big enough for mmap), and the handle table's teardown. */
	p = malloc(1 << 20);
	if (!p)
		_exit(23);
	memset(p, 1, 1 << 20);
	free(p);
	printf("seccomp child: locked down, %s\n", "still working");
	fflush(stdout);
	qv_fwd_close(f);
#undef CALL
#undef PATH
}

static void test_allowed_work(void **state)
{
	int st;

	(void)state;
	st = in_child(allowed_work);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		fail_msg("child: status %#x (exit %d, signal %d)", st,
			 WIFEXITED(st) ? WEXITSTATUS(st) : -1, WIFSIGNALED(st) ? WTERMSIG(st) : -1);
}

static void do_socket(void)
{
	lockdown();
	socket(AF_INET, SOCK_STREAM, 0);
}

static void do_execve(void)
{
	static char arg0[] = "true";
	char *argv[] = { arg0, NULL };

	lockdown();
	execve("/bin/true", argv, NULL);
}

static void do_open(void)
{
	lockdown();
	syscall(SYS_open, "/etc/passwd", O_RDONLY);
}

static void do_openat(void)
{
	lockdown();
	syscall(SYS_openat, AT_FDCWD, "/etc/passwd", O_RDONLY);
}

static void do_bad_ioctl(void)
{
	int n;

	lockdown();
	ioctl(0, FIONREAD, &n);
}

static void do_exec_mmap(void)
{
	lockdown();
	mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
}

static void do_mprotect_exec(void)
{
	static char page[4096] __attribute__((aligned(4096)));

	lockdown();
	mprotect(page, sizeof(page), PROT_READ | PROT_EXEC);
}

static void do_dupfd(void)
{
	lockdown();
	fcntl(1, F_DUPFD, 10);
}

static void do_ptrace(void)
{
	lockdown();
	ptrace(PTRACE_TRACEME, 0, NULL, NULL);
}

/* i386 getpid through the 32-bit entry: a foreign architecture to the filter. */
static void int80_getpid(void)
{
	long r;

	__asm__ volatile("int $0x80" : "=a"(r) : "a"(20L) : "memory");
	(void)r;
}

static void do_int80(void)
{
	lockdown();
	int80_getpid();
}

static void test_forbidden(void **state)
{
	(void)state;
	expect_sigsys(do_socket, "socket");
	expect_sigsys(do_execve, "execve");
	expect_sigsys(do_open, "open");
	expect_sigsys(do_openat, "openat");
	expect_sigsys(do_bad_ioctl, "ioctl FIONREAD");
	expect_sigsys(do_exec_mmap, "mmap PROT_EXEC");
	expect_sigsys(do_mprotect_exec, "mprotect PROT_EXEC");
	expect_sigsys(do_dupfd, "fcntl F_DUPFD");
	expect_sigsys(do_ptrace, "ptrace");
	/* Only where the kernel has IA-32 emulation (else int $0x80 is a SIGSEGV anyway). */
	if (in_child(int80_getpid) == 0)
		expect_sigsys(do_int80, "int $0x80");
	else
		fprintf(stderr, "note: no IA-32 emulation here; the int $0x80 case is not run\n");
}

/* The kernel's view of a locked-down process: NoNewPrivs 1, Seccomp 2 (filter). */
static void test_status(void **state)
{
	int go[2], ready[2], status;
	char path[64], line[256];
	bool nnp = false, filt = false;
	FILE *f;
	pid_t pid;
	char c;

	(void)state;
	assert_int_equal(pipe(go), 0);
	assert_int_equal(pipe(ready), 0);
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		lockdown();
		if (write(ready[1], "r", 1) != 1 || read(go[0], &c, 1) != 1)
			_exit(1);
		_exit(0);
	}
	assert_int_equal(read(ready[0], &c, 1), 1);
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		nnp |= strcmp(line, "NoNewPrivs:\t1\n") == 0;
		filt |= strcmp(line, "Seccomp:\t2\n") == 0;
	}
	fclose(f);
	assert_int_equal(write(go[1], "g", 1), 1);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_true(nnp);
	assert_true(filt);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_allowlist),
		cmocka_unit_test_setup_teardown(test_allowed_work, setup, teardown),
		cmocka_unit_test(test_forbidden),
		cmocka_unit_test(test_status),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
