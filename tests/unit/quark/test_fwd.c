// SPDX-License-Identifier: MIT
/*
 * Description: quark/qvisor/fwd: the host side of QUARK_HC_CALL against a
 * temporary root holding files, directories and hostile symlinks ("../../..",
 * an absolute one, a loop, one to a /proc magic link): each operation's
 * results and Linux errnos, confinement (no path leaves the root, ".." from
 * the root stays there, from a subdirectory it goes up), EFAULT for every
 * guest range that is out of memory or overflows, EBADF for bad handles, a
 * guest rewriting its segment array while the host is blocked in readv, and
 * no host fd leaked on any path.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "abi.h"
#include "fwd.h"

#define MEM_SIZE (1u << 20)
#define PAGE	 4096u
/* Guest-physical places the tests use. */
#define G_PATH	0x1000u
#define G_PATH2 0x3000u
#define G_SEGS	0x5000u
#define G_BUF	0x10000u
#define G_OUT	0x80000u

static char base[64];	   /* the temporary directory: root/ and secret beside it */
static char root[96];	   /* the guest's root */
static unsigned char *map; /* guest memory with a PROT_NONE page on each side */
static struct qv_gmem gm;
static struct qv_fwd *fw;

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n - 1; /* opendir's own */
}

static void put_file(const char *rel, const char *text)
{
	char p[256];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", base, rel);
	f = fopen(p, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void put_link(const char *target, const char *rel)
{
	char p[256];

	snprintf(p, sizeof(p), "%s/%s", base, rel);
	assert_int_equal(symlink(target, p), 0);
}

static void put_dir(const char *rel)
{
	char p[256];

	snprintf(p, sizeof(p), "%s/%s", base, rel);
	assert_int_equal(mkdir(p, 0755), 0);
}

static bool exists(const char *rel)
{
	char p[256];
	struct stat st;

	snprintf(p, sizeof(p), "%s/%s", base, rel);
	return lstat(p, &st) == 0;
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
	(void)state;
	umask(0); /* QKernel applies the guest's umask itself */
	strcpy(base, "/tmp/qfwd-test-XXXXXX");
	assert_non_null(mkdtemp(base));
	snprintf(root, sizeof(root), "%s/root", base);
	put_dir("root");
	put_file("secret", "host secret\n");
	put_file("root/hello", "hello world\n");
	put_dir("root/etc");
	put_file("root/etc/passwd", "guest passwd\n");
	put_dir("root/d");
	put_dir("root/d/e");
	put_file("root/d/inner", "inner\n");
	put_link("../../..", "root/up");
	put_link("/etc/passwd", "root/abs");
	put_link("loop2", "root/loop1");
	put_link("loop1", "root/loop2");
	put_link("/proc/self/fd/0", "root/magic");
	put_link("/hello", "root/d/toroot");
	put_link("d", "root/dirlink");
	put_link("../secret", "root/sneak");

	map = mmap(NULL, MEM_SIZE + 2 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		   -1, 0);
	assert_true(map != MAP_FAILED);
	assert_int_equal(mprotect(map, PAGE, PROT_NONE), 0);
	assert_int_equal(mprotect(map + PAGE + MEM_SIZE, PAGE, PROT_NONE), 0);
	gm.base = map + PAGE;
	gm.size = MEM_SIZE;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	qv_fwd_close(fw);
	fw = NULL;
	munmap(map, MEM_SIZE + 2 * PAGE);
	nftw(base, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}

static void open_fwd(const char *workdir)
{
	char err[256] = "";

	if (qv_fwd_open(&fw, root, workdir, err, sizeof(err)) != 0)
		fail_msg("qv_fwd_open: %s", err);
}

static int64_t call(uint32_t op, uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4,
		    uint64_t a5)
{
	struct quark_hcall hc = { .op = op, .args = { a0, a1, a2, a3, a4, a5 } };

	return qv_fwd_call(fw, &gm, &hc);
}

static uint64_t put_path(uint64_t gpa, const char *s)
{
	size_t n = strlen(s);

	memcpy(gm.base + gpa, s, n + 1);
	return n;
}

/* OPENAT relative to dir (or absolute): the handle or -errno. */
static int64_t g_open(uint64_t dir, const char *path, uint64_t flags, uint64_t mode)
{
	uint64_t n = put_path(G_PATH, path);

	return call(QUARK_OP_OPENAT, dir, G_PATH, n, flags, mode, 0);
}

/* Reads all of a handle through one READV into G_BUF; returns the bytes as a string. */
static const char *g_read(int64_t h)
{
	struct quark_seg seg = { G_BUF, 4000 };
	int64_t r;

	memcpy(gm.base + G_SEGS, &seg, sizeof(seg));
	r = call(QUARK_OP_READV, (uint64_t)h, G_SEGS, 1, 0, 0, 0);
	if (r < 0)
		fail_msg("readv: %lld", (long long)r);
	gm.base[G_BUF + r] = '\0';
	return (const char *)gm.base + G_BUF;
}

static void expect_open_reads(uint64_t dir, const char *path, const char *want)
{
	int64_t h = g_open(dir, path, O_RDONLY, 0);

	if (h < 0)
		fail_msg("open %s: %lld", path, (long long)h);
	assert_string_equal(g_read(h), want);
	assert_int_equal(call(QUARK_OP_CLOSE, (uint64_t)h, 0, 0, 0, 0, 0), 0);
}

static void expect_open_fails(uint64_t dir, const char *path, int64_t want)
{
	int64_t h = g_open(dir, path, O_RDONLY, 0);

	if (h != want)
		fail_msg("open %s: %lld, want %lld", path, (long long)h, (long long)want);
}

/* ---- tests ------------------------------------------------------------- */

static void test_gmem_ptr(void **state)
{
	(void)state;
	assert_ptr_equal(qv_gmem_ptr(&gm, 0, MEM_SIZE), gm.base);
	assert_ptr_equal(qv_gmem_ptr(&gm, MEM_SIZE, 0), gm.base + MEM_SIZE);
	assert_null(qv_gmem_ptr(&gm, MEM_SIZE + 1, 0));
	assert_null(qv_gmem_ptr(&gm, 1, MEM_SIZE));
	assert_null(qv_gmem_ptr(&gm, MEM_SIZE - 1, 2));
	assert_null(qv_gmem_ptr(&gm, UINT64_MAX, 2));
	assert_null(qv_gmem_ptr(&gm, 16, UINT64_MAX - 8)); /* gpa + len wraps */
	assert_null(qv_gmem_ptr(&gm, UINT64_MAX, UINT64_MAX));
	assert_null(qv_gmem_ptr(NULL, 0, 0));
}

static void test_open_errors(void **state)
{
	char err[256] = "";
	struct qv_fwd *f = NULL;
	char p[160];

	(void)state;
	snprintf(p, sizeof(p), "%s/nope", base);
	assert_int_equal(qv_fwd_open(&f, p, NULL, err, sizeof(err)), -ENOENT);
	assert_null(f);
	assert_non_null(strstr(err, "--rootfs "));
	assert_non_null(strstr(err, "No such file or directory"));
	assert_int_equal(qv_fwd_open(&f, root, "/nope", err, sizeof(err)), -ENOENT);
	assert_string_equal(err, "--workdir /nope: No such file or directory");
	assert_int_equal(qv_fwd_open(&f, root, "/hello", err, sizeof(err)), -ENOTDIR);
	/* The working directory is a guest path: ".." and symlinks stay inside. */
	assert_int_equal(qv_fwd_open(&f, root, "/up/..", err, sizeof(err)), 0);
	qv_fwd_close(f);
}

static void test_read_basics(void **state)
{
	struct quark_seg segs[2] = { { G_BUF, 5 }, { G_BUF + 100, 100 } };
	struct stat st;
	int64_t h;

	(void)state;
	open_fwd(NULL);
	assert_int_equal(qv_fwd_root_handle(fw), 3);
	assert_int_equal(qv_fwd_cwd_handle(fw), 4);
	assert_int_equal(qv_fwd_open_handles(fw), 5);
	h = g_open(4, "/hello", O_RDONLY, 0);
	assert_int_equal(h, 5); /* lowest free */
	memcpy(gm.base + G_SEGS, segs, sizeof(segs));
	assert_int_equal(call(QUARK_OP_READV, 5, G_SEGS, 2, 0, 0, 0), 12);
	assert_memory_equal(gm.base + G_BUF, "hello", 5);
	assert_memory_equal(gm.base + G_BUF + 100, " world\n", 7);
	assert_int_equal(call(QUARK_OP_READV, 5, G_SEGS, 2, 0, 0, 0), 0); /* EOF */
	assert_int_equal(call(QUARK_OP_PREADV, 5, G_SEGS, 1, 6, 0, 0), 5);
	assert_memory_equal(gm.base + G_BUF, "world", 5);
	assert_int_equal(call(QUARK_OP_LSEEK, 5, 2, SEEK_SET, 0, 0, 0), 2);
	assert_int_equal(call(QUARK_OP_LSEEK, 5, 0, 99, 0, 0, 0), -EINVAL);
	assert_int_equal(call(QUARK_OP_LSEEK, 5, 0, (uint64_t)1 << 40, 0, 0, 0), -EINVAL);
	assert_int_equal(call(QUARK_OP_READV, 5, G_SEGS, 0, 0, 0, 0), 0);
	assert_int_equal(call(QUARK_OP_FSTAT, 5, G_OUT, 0, 0, 0, 0), 0);
	memcpy(&st, gm.base + G_OUT, sizeof(st));
	assert_int_equal(st.st_size, 12);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(call(QUARK_OP_CLOSE, 5, 0, 0, 0, 0, 0), 0);
	assert_int_equal(call(QUARK_OP_CLOSE, 5, 0, 0, 0, 0, 0), -EBADF);
	assert_int_equal(call(QUARK_OP_READV, 5, G_SEGS, 1, 0, 0, 0), -EBADF);
	assert_int_equal(call(QUARK_OP_FSTAT, 5, G_OUT, 0, 0, 0, 0), -EBADF);
	assert_int_equal(call(QUARK_OP_READV, QUARK_MAX_HANDLES, G_SEGS, 1, 0, 0, 0), -EBADF);
	assert_int_equal(call(QUARK_OP_READV, UINT64_MAX, G_SEGS, 1, 0, 0, 0), -EBADF);
	assert_int_equal(call(QUARK_OP_FSYNC, 77, 0, 0, 0, 0, 0), -EBADF);
	assert_int_equal(call(QUARK_OP_FTRUNCATE, 77, 0, 0, 0, 0, 0), -EBADF);
}

static void test_confinement(void **state)
{
	(void)state;
	open_fwd(NULL);
	/* ".." at the root is the root, however many. */
	expect_open_reads(3, "../../../hello", "hello world\n");
	expect_open_reads(3, "/../../hello", "hello world\n");
	expect_open_fails(3, "../secret", -ENOENT);
	expect_open_fails(3, "/../secret", -ENOENT);
	/* A relative symlink climbing out lands at the root. */
	expect_open_reads(3, "up/hello", "hello world\n");
	expect_open_fails(3, "up/secret", -ENOENT);
	expect_open_fails(3, "sneak", -ENOENT);
	/* An absolute one starts at the root: the guest's passwd, not the host's. */
	expect_open_reads(3, "abs", "guest passwd\n");
	expect_open_reads(3, "d/toroot", "hello world\n");
	expect_open_fails(3, "loop1", -ELOOP);
	/* /proc/self/fd/0 inside the root does not exist there. */
	expect_open_fails(3, "magic", -ENOENT);
	expect_open_fails(3, "hello\n", -ENOENT);
	assert_int_equal(g_open(3, "dirlink", O_RDONLY | O_NOFOLLOW, 0), -ELOOP);
}

static bool host_can_open(const char *p)
{
	int fd = open(p, O_RDONLY | O_CLOEXEC | O_NONBLOCK);

	if (fd < 0)
		return false;
	close(fd);
	return true;
}

/* With the host's own "/" as root, magic links exist and must be refused. */
static void test_magic_links(void **state)
{
	char err[256] = "";
	int64_t h;

	(void)state;
	assert_int_equal(qv_fwd_open(&fw, "/", NULL, err, sizeof(err)), 0);
	expect_open_fails(3, "/proc/self/fd/0", -ELOOP);
	expect_open_fails(3, "/proc/self/root/etc/hostname", -ELOOP);
	expect_open_fails(3, "/proc/self/cwd", -ELOOP);
	expect_open_fails(3, "/proc/self/exe", -ELOOP);
	/* Plain files of kernel filesystems: never for the guest. */
	expect_open_fails(3, "/proc/self/mem", -EACCES);
	expect_open_fails(3, "/proc/self/status", -EACCES);
	if (access("/sys/kernel/uevent_seqnum", R_OK) == 0)
		expect_open_fails(3, "/sys/kernel/uevent_seqnum", -EACCES);
	/* Devices: null yes, a tty or a disk no. */
	h = g_open(3, "/dev/null", O_RDWR, 0);
	assert_true(h >= 0);
	assert_int_equal(call(QUARK_OP_CLOSE, (uint64_t)h, 0, 0, 0, 0, 0), 0);
	h = g_open(3, "/dev/urandom", O_RDONLY, 0);
	assert_true(h >= 0);
	assert_int_equal(call(QUARK_OP_CLOSE, (uint64_t)h, 0, 0, 0, 0, 0), 0);
	/* (where the host itself could open them) */
	if (host_can_open("/dev/tty"))
		expect_open_fails(3, "/dev/tty", -EACCES);
	if (host_can_open("/dev/kmsg"))
		expect_open_fails(3, "/dev/kmsg", -EACCES);
	/* O_PATH is fine: it cannot read or write. */
	h = g_open(3, "/proc/self/status", O_PATH, 0);
	assert_true(h >= 0);
	assert_int_equal(call(QUARK_OP_CLOSE, (uint64_t)h, 0, 0, 0, 0, 0), 0);
	/* A stat through a magic link is refused too; of the link itself not. */
	assert_int_equal(
		call(QUARK_OP_FSTATAT, 3, G_PATH, put_path(G_PATH, "/proc/self/exe"), G_OUT, 0, 0),
		-ELOOP);
	assert_int_equal(call(QUARK_OP_FSTATAT, 3, G_PATH, put_path(G_PATH, "/proc/self/exe"),
			      G_OUT, AT_SYMLINK_NOFOLLOW, 0),
			 0);
}

static void test_relative(void **state)
{
	struct stat a, b;
	int64_t d, e, h;

	(void)state;
	open_fwd("/d");
	/* The working directory handle: relative paths start there. */
	expect_open_reads(4, "inner", "inner\n");
	expect_open_reads(4, "../hello", "hello world\n");
	expect_open_reads(4, "../../../../hello", "hello world\n");
	expect_open_reads(4, "e/../inner", "inner\n");
	expect_open_reads(4, "/hello", "hello world\n");
	d = g_open(3, "d", O_PATH | O_DIRECTORY, 0);
	assert_int_equal(d, 5);
	e = g_open((uint64_t)d, "e", O_RDONLY | O_DIRECTORY, 0);
	assert_true(e >= 0);
	expect_open_reads((uint64_t)e, "../inner", "inner\n");
	expect_open_reads((uint64_t)e, "../../hello", "hello world\n");
	/* ".." from a subdirectory is its parent: the root here. */
	h = g_open((uint64_t)d, "..", O_PATH | O_DIRECTORY, 0);
	assert_true(h >= 0);
	assert_int_equal(call(QUARK_OP_FSTAT, (uint64_t)h, G_OUT, 0, 0, 0, 0), 0);
	memcpy(&a, gm.base + G_OUT, sizeof(a));
	assert_int_equal(call(QUARK_OP_FSTAT, 3, G_OUT, 0, 0, 0, 0), 0);
	memcpy(&b, gm.base + G_OUT, sizeof(b));
	assert_true(a.st_ino == b.st_ino && a.st_dev == b.st_dev);
	/* Absolute symlinks found below a subdirectory start at the real root. */
	expect_open_reads((uint64_t)d, "toroot", "hello world\n");
	/* A relative path needs a directory handle; an absolute one ignores it. */
	h = g_open(3, "hello", O_RDONLY, 0);
	assert_true(h >= 0);
	expect_open_fails((uint64_t)h, "x", -ENOTDIR);
	expect_open_fails(1, "x", -ENOTDIR); /* stdout */
	expect_open_fails(999, "x", -EBADF);
	expect_open_reads(999, "/hello", "hello world\n");
	/* A directory that left the root (moved away on the host) is gone. */
	{
		char from[200], to[200];

		snprintf(from, sizeof(from), "%s/d/e", root);
		snprintf(to, sizeof(to), "%s/e-away", base);
		assert_int_equal(rename(from, to), 0);
		expect_open_fails((uint64_t)e, "x", -ENOENT);
		assert_int_equal(call(QUARK_OP_GETPATH, (uint64_t)e, G_OUT, 100, 0, 0, 0), -ENOENT);
	}
}

static void test_bad_ranges(void **state)
{
	struct quark_seg seg = { G_BUF, 16 };
	uint64_t end = MEM_SIZE;
	int64_t h;

	(void)state;
	open_fwd(NULL);
	h = g_open(3, "hello", O_RDWR, 0);
	assert_int_equal(h, 5);
	/* Paths. */
	assert_int_equal(call(QUARK_OP_OPENAT, 3, end - 2, 5, O_RDONLY, 0, 0), -EFAULT);
	assert_int_equal(call(QUARK_OP_OPENAT, 3, UINT64_MAX, 2, O_RDONLY, 0, 0), -EFAULT);
	assert_int_equal(call(QUARK_OP_OPENAT, 3, G_PATH, QUARK_PATH_MAX, O_RDONLY, 0, 0),
			 -ENAMETOOLONG);
	assert_int_equal(call(QUARK_OP_OPENAT, 3, G_PATH, UINT64_MAX, O_RDONLY, 0, 0),
			 -ENAMETOOLONG);
	memcpy(gm.base + G_PATH, "hel\0lo", 6);
	assert_int_equal(call(QUARK_OP_OPENAT, 3, G_PATH, 6, O_RDONLY, 0, 0), -EINVAL);
	assert_int_equal(call(QUARK_OP_OPENAT, 3, G_PATH, 0, O_RDONLY, 0, 0), -ENOENT);
	/* A path of exactly QUARK_PATH_MAX - 1 bytes is copied; the kernel decides. */
	memset(gm.base + G_BUF, 'a', QUARK_PATH_MAX);
	assert_int_equal(call(QUARK_OP_OPENAT, 3, G_BUF, QUARK_PATH_MAX - 1, O_RDONLY, 0, 0),
			 -ENAMETOOLONG);
	/* Segment arrays: out of memory, straddling the end, too many. */
	assert_int_equal(call(QUARK_OP_READV, 5, end - 8, 1, 0, 0, 0), -EFAULT);
	assert_int_equal(call(QUARK_OP_READV, 5, end, 1, 0, 0, 0), -EFAULT);
	assert_int_equal(call(QUARK_OP_READV, 5, end, 0, 0, 0, 0), 0);
	assert_int_equal(call(QUARK_OP_READV, 5, G_SEGS, QUARK_MAX_SEGS + 1, 0, 0, 0), -EINVAL);
	assert_int_equal(call(QUARK_OP_READV, 5, G_SEGS, UINT64_MAX, 0, 0, 0), -EINVAL);
	assert_int_equal(call(QUARK_OP_WRITEV, 5, UINT64_MAX - 15, 1, 0, 0, 0), -EFAULT);
	/* Segments: past the end, wrapping, negative lengths. */
	seg = (struct quark_seg){ end - 8, 16 };
	memcpy(gm.base + G_SEGS, &seg, sizeof(seg));
	assert_int_equal(call(QUARK_OP_READV, 5, G_SEGS, 1, 0, 0, 0), -EFAULT);
	assert_int_equal(call(QUARK_OP_WRITEV, 5, G_SEGS, 1, 0, 0, 0), -EFAULT);
	seg = (struct quark_seg){ UINT64_MAX - 7, 16 };
	memcpy(gm.base + G_SEGS, &seg, sizeof(seg));
	assert_int_equal(call(QUARK_OP_PREADV, 5, G_SEGS, 1, 0, 0, 0), -EFAULT);
	seg = (struct quark_seg){ G_BUF, UINT64_MAX };
	memcpy(gm.base + G_SEGS, &seg, sizeof(seg));
	assert_int_equal(call(QUARK_OP_PWRITEV, 5, G_SEGS, 1, 0, 0, 0), -EINVAL);
	seg = (struct quark_seg){ G_BUF, (uint64_t)1 << 40 };
	memcpy(gm.base + G_SEGS, &seg, sizeof(seg));
	assert_int_equal(call(QUARK_OP_PWRITEV, 5, G_SEGS, 1, 0, 0, 0), -EFAULT);
	/* A zero-length segment exactly at the end is fine. */
	seg = (struct quark_seg){ end, 0 };
	memcpy(gm.base + G_SEGS, &seg, sizeof(seg));
	assert_int_equal(call(QUARK_OP_READV, 5, G_SEGS, 1, 0, 0, 0), 0);
	/* Output structs. */
	assert_int_equal(call(QUARK_OP_FSTAT, 5, end - 100, 0, 0, 0, 0), -EFAULT);
	assert_int_equal(
		call(QUARK_OP_FSTATAT, 3, G_PATH, put_path(G_PATH, "hello"), end - 143, 0, 0),
		-EFAULT);
	assert_int_equal(
		call(QUARK_OP_STATX, 3, G_PATH, put_path(G_PATH, "hello"), 0, 0x7ff, end - 255),
		-EFAULT);
	assert_int_equal(call(QUARK_OP_GETDENTS64, 3, end - 10, 100, 0, 0, 0), -EFAULT);
	assert_int_equal(
		call(QUARK_OP_READLINKAT, 3, G_PATH, put_path(G_PATH, "up"), end - 1, 8, 0),
		-EFAULT);
	assert_int_equal(call(QUARK_OP_GETPATH, 3, end - 1, 100, 0, 0, 0), -EFAULT);
	assert_int_equal(call(QUARK_OP_GETRANDOM, end - 8, 16, 0, 0, 0, 0), -EFAULT);
	assert_int_equal(call(QUARK_OP_GETRANDOM, 0, UINT64_MAX, 0, 0, 0, 0), -EFAULT);
	assert_int_equal(call(QUARK_OP_IOCTL, 0, TIOCGWINSZ, end - 4, 0, 0, 0), -EFAULT);
	/* Nothing was written outside guest memory: the guard pages would have faulted. */
	assert_string_equal(g_read(5), "hello world\n");
}

/*
 * A hostile guest rewrites its segment array while the host is inside
 * readv (another vCPU can). The host copied the array once before checking
 * it, so the data lands where the array said at the time of the copy, in
 * the length it said, and the rewrite (to a huge length, to an address out
 * of memory) is never seen. Without the copy this is a double fetch.
 */
struct flipper {
	int wfd;
};

static void *flip(void *arg)
{
	struct flipper *fl = arg;
	struct quark_seg evil = { MEM_SIZE - 4, UINT64_MAX / 2 };
	struct timespec t = { 0, 50 * 1000 * 1000 };

	nanosleep(&t, NULL); /* the host is blocked in readv by now */
	memcpy(gm.base + G_SEGS, &evil, sizeof(evil));
	if (write(fl->wfd, "0123456789abcdef", 16) != 16)
		abort();
	return NULL;
}

static void test_seg_rewrite(void **state)
{
	struct quark_seg seg = { G_BUF, 8 };
	struct flipper fl;
	pthread_t t;
	int p[2], saved;

	(void)state;
#if defined(__SANITIZE_THREAD__)
	/* The race is the point (a hostile guest's), and TSan would rightly report it. */
	skip();
#endif
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	/* Handle 0 is a dup of stdin: make stdin the pipe while the fwd opens. */
	saved = dup(0);
	assert_int_equal(dup2(p[0], 0), 0);
	open_fwd(NULL);
	assert_int_equal(dup2(saved, 0), 0);
	close(saved);
	close(p[0]);
	memset(gm.base + G_BUF, 'x', 32);
	memcpy(gm.base + G_SEGS, &seg, sizeof(seg));
	fl.wfd = p[1];
	assert_int_equal(pthread_create(&t, NULL, flip, &fl), 0);
	assert_int_equal(call(QUARK_OP_READV, 0, G_SEGS, 1, 0, 0, 0), 8);
	pthread_join(t, NULL);
	assert_memory_equal(gm.base + G_BUF, "01234567x", 9);
	close(p[1]);
}

static void test_write_ops(void **state)
{
	struct quark_seg segs[2] = { { G_BUF, 4 }, { G_BUF + 10, 3 } };
	char p[200], text[64] = "";
	struct stat st;
	int64_t h;
	FILE *f;

	(void)state;
	open_fwd(NULL);
	h = g_open(3, "d/new", O_CREAT | O_EXCL | O_WRONLY | O_TRUNC | O_NOATIME | O_DIRECT,
		   0100640);
	assert_int_equal(h, 5);
	assert_int_equal(g_open(3, "d/new", O_CREAT | O_EXCL | O_WRONLY, 0600), -EEXIST);
	memcpy(gm.base + G_BUF, "abcd", 4);
	memcpy(gm.base + G_BUF + 10, "xyz", 3);
	memcpy(gm.base + G_SEGS, segs, sizeof(segs));
	assert_int_equal(call(QUARK_OP_WRITEV, 5, G_SEGS, 2, 0, 0, 0), 7);
	assert_int_equal(call(QUARK_OP_PWRITEV, 5, G_SEGS, 1, 1, 0, 0), 4);
	assert_int_equal(call(QUARK_OP_FSYNC, 5, 0, 0, 0, 0, 0), 0);
	assert_int_equal(call(QUARK_OP_READV, 5, G_SEGS, 1, 0, 0, 0), -EBADF); /* write-only */
	snprintf(p, sizeof(p), "%s/d/new", root);
	f = fopen(p, "r");
	assert_non_null(f);
	assert_non_null(fgets(text, sizeof(text), f));
	fclose(f);
	assert_string_equal(text, "aabcdyz");
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0640);
	assert_int_equal(call(QUARK_OP_FTRUNCATE, 5, 3, 0, 0, 0, 0), 0);
	assert_int_equal(call(QUARK_OP_FTRUNCATE, 5, UINT64_MAX, 0, 0, 0, 0), -EINVAL);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_size, 3);
	/* F_GETFL / F_SETFL: O_APPEND and O_NONBLOCK only; O_NOATIME was dropped at open. */
	assert_int_equal(call(QUARK_OP_FCNTL, 5, F_GETFL, 0, 0, 0, 0) & (O_ACCMODE | O_NOATIME),
			 O_WRONLY);
	assert_int_equal(call(QUARK_OP_FCNTL, 5, F_SETFL, O_APPEND | O_NOATIME | O_ASYNC, 0, 0, 0),
			 0);
	assert_int_equal(call(QUARK_OP_FCNTL, 5, F_GETFL, 0, 0, 0, 0) &
				 (O_APPEND | O_NOATIME | O_ASYNC),
			 O_APPEND);
	assert_int_equal(call(QUARK_OP_FCNTL, 5, F_DUPFD, 0, 0, 0, 0), -EINVAL);
	assert_int_equal(call(QUARK_OP_FCNTL, 5, F_SETFD, 0, 0, 0, 0), -EINVAL);
	/* No set-uid or set-gid files from the guest; the sticky bit is fine. */
	h = g_open(3, "suid", O_CREAT | O_WRONLY, 06755);
	assert_true(h >= 0);
	assert_int_equal(call(QUARK_OP_CLOSE, (uint64_t)h, 0, 0, 0, 0, 0), 0);
	snprintf(p, sizeof(p), "%s/suid", root);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0755);
	/* O_TMPFILE is refused; O_PATH handles neither read nor write. */
	assert_int_equal(g_open(3, "d", O_TMPFILE | O_RDWR, 0600), -EOPNOTSUPP);
	h = g_open(3, "hello", O_PATH | O_RDWR | O_TRUNC | O_CREAT, 0777);
	assert_int_equal(h, 6);
	assert_int_equal(call(QUARK_OP_READV, 6, G_SEGS, 1, 0, 0, 0), -EBADF);
	snprintf(p, sizeof(p), "%s/hello", root);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_size, 12); /* O_TRUNC was not applied with O_PATH */
	/* Creating through an absolute symlink creates inside the root. */
	assert_int_equal(unlink(p), 0);
	put_link("/hello2", "root/mk");
	h = g_open(3, "mk", O_CREAT | O_WRONLY, 0644);
	assert_true(h >= 0);
	assert_true(exists("root/hello2"));
}

static void test_stat_ops(void **state)
{
	struct statx stx;
	struct stat st;
	int64_t h;

	(void)state;
	open_fwd(NULL);
#define STATAT(path, flags) \
	call(QUARK_OP_FSTATAT, 3, G_PATH, put_path(G_PATH, path), G_OUT, flags, 0)
#define ST() (memcpy(&st, gm.base + G_OUT, sizeof(st)), &st)
	assert_int_equal(STATAT("hello", 0), 0);
	assert_int_equal(ST()->st_size, 12);
	assert_int_equal(STATAT("dirlink", 0), 0);
	assert_true(S_ISDIR(ST()->st_mode));
	assert_int_equal(STATAT("dirlink", AT_SYMLINK_NOFOLLOW), 0);
	assert_true(S_ISLNK(ST()->st_mode));
	/* A trailing slash follows even with NOFOLLOW, as in Linux. */
	assert_int_equal(STATAT("dirlink/", AT_SYMLINK_NOFOLLOW), 0);
	assert_true(S_ISDIR(ST()->st_mode));
	assert_int_equal(STATAT("hello/", 0), -ENOTDIR);
	assert_int_equal(STATAT("loop1", 0), -ELOOP);
	assert_int_equal(STATAT("loop1", AT_SYMLINK_NOFOLLOW), 0);
	assert_int_equal(STATAT("abs", 0), 0);
	assert_int_equal(ST()->st_size, 13); /* the guest's passwd */
	assert_int_equal(STATAT("sneak", 0), -ENOENT);
	assert_int_equal(STATAT("nope", 0), -ENOENT);
	assert_int_equal(STATAT("/", 0), 0);
	assert_true(S_ISDIR(ST()->st_mode));
	assert_int_equal(STATAT("..", 0), 0);
	assert_int_equal(STATAT("", 0), -ENOENT);
	assert_int_equal(STATAT("", AT_EMPTY_PATH), 0);
	assert_true(S_ISDIR(ST()->st_mode));
	assert_int_equal(STATAT("hello", 0x10000), -EINVAL);
	/* An empty path on a bad handle. */
	assert_int_equal(call(QUARK_OP_FSTATAT, 99, G_PATH, 0, G_OUT, AT_EMPTY_PATH, 0), -EBADF);
	/* statx: dir_h, path, len, flags, mask, buf. */
	assert_int_equal(call(QUARK_OP_STATX, 3, G_PATH, put_path(G_PATH, "d/inner"), 0,
			      STATX_BASIC_STATS, G_OUT),
			 0);
	memcpy(&stx, gm.base + G_OUT, sizeof(stx));
	assert_int_equal(stx.stx_size, 6);
	assert_true(stx.stx_mask & STATX_SIZE);
	assert_int_equal(call(QUARK_OP_STATX, 3, G_PATH, put_path(G_PATH, "dirlink"),
			      AT_SYMLINK_NOFOLLOW, STATX_TYPE, G_OUT),
			 0);
	memcpy(&stx, gm.base + G_OUT, sizeof(stx));
	assert_true(S_ISLNK(stx.stx_mode));
	assert_int_equal(call(QUARK_OP_STATX, 3, G_PATH, 1, 0, STATX__RESERVED, G_OUT), -EINVAL);
	assert_int_equal(call(QUARK_OP_STATX, 3, G_PATH, 1, AT_STATX_SYNC_TYPE, 1, G_OUT), -EINVAL);
	/* readlinkat: dir_h, path, len, buf, buf_len. */
#define RL(path, len) call(QUARK_OP_READLINKAT, 3, G_PATH, put_path(G_PATH, path), G_OUT, len, 0)
	assert_int_equal(RL("up", 100), 8);
	assert_memory_equal(gm.base + G_OUT, "../../..", 8);
	assert_int_equal(RL("up", 3), 3);
	assert_int_equal(RL("hello", 100), -EINVAL);
	assert_int_equal(RL("dirlink/", 100), -EINVAL);
	assert_int_equal(RL("nope", 100), -ENOENT);
	assert_int_equal(RL("up", 0), -EINVAL);
	assert_int_equal(RL("up", (uint64_t)1 << 32), -EINVAL);
	assert_int_equal(RL("d/toroot", 100), 6);
	h = g_open(3, "up", O_PATH | O_NOFOLLOW, 0);
	assert_true(h >= 0);
	assert_int_equal(call(QUARK_OP_READLINKAT, (uint64_t)h, G_PATH, 0, G_OUT, 100, 0), 8);
	/* faccessat: dir_h, path, len, mode, flags. */
#define ACC(path, mode, flags) \
	call(QUARK_OP_FACCESSAT, 3, G_PATH, put_path(G_PATH, path), mode, flags, 0)
	assert_int_equal(ACC("hello", R_OK, 0), 0);
	assert_int_equal(ACC("hello", F_OK, AT_EACCESS), 0);
	assert_int_equal(ACC("nope", F_OK, 0), -ENOENT);
	assert_int_equal(ACC("sneak", F_OK, 0), -ENOENT);
	assert_int_equal(ACC("sneak", F_OK, AT_SYMLINK_NOFOLLOW), 0);
	assert_int_equal(ACC("hello", 8, 0), -EINVAL);
	assert_int_equal(ACC("hello", R_OK, 0x1), -EINVAL);
	assert_int_equal(ACC("", R_OK, AT_EMPTY_PATH), 0);
#undef STATAT
#undef ST
#undef RL
#undef ACC
}

static void test_dir_ops(void **state)
{
	(void)state;
	open_fwd("/d");
#define MK(dir, path) call(QUARK_OP_MKDIRAT, dir, G_PATH, put_path(G_PATH, path), 0750, 0, 0)
#define UN(dir, path, flags) \
	call(QUARK_OP_UNLINKAT, dir, G_PATH, put_path(G_PATH, path), flags, 0, 0)
#define MV(odir, old, ndir, new)                                                    \
	call(QUARK_OP_RENAMEAT, odir, G_PATH, put_path(G_PATH, old), ndir, G_PATH2, \
	     put_path(G_PATH2, new))
	assert_int_equal(MK(4, "m"), 0);
	assert_true(exists("root/d/m"));
	assert_int_equal(MK(4, "m"), -EEXIST);
	assert_int_equal(MK(4, "m/"), -EEXIST);
	assert_int_equal(MK(4, "n//"), 0);
	assert_int_equal(MK(4, "m/."), -EEXIST);
	assert_int_equal(MK(4, "m/.."), -EEXIST);
	assert_int_equal(MK(4, "/"), -EEXIST);
	assert_int_equal(MK(4, "nope/x"), -ENOENT);
	assert_int_equal(MK(4, "inner/x"), -ENOTDIR);
	assert_int_equal(MK(4, ""), -ENOENT);
	/* Climbing out: "../../../x" and "up/x" both make it in the root. */
	assert_int_equal(MK(4, "../../../esc1"), 0);
	assert_true(exists("root/esc1"));
	assert_int_equal(MK(3, "up/esc2"), 0);
	assert_true(exists("root/esc2"));
	assert_false(exists("esc1") || exists("esc2"));
	/* Through an absolute symlink to a directory: its target inside the root. */
	put_link("/d", "root/dabs");
	assert_int_equal(MK(3, "dabs/via"), 0);
	assert_true(exists("root/d/via"));
	/* rename: within and across directory handles. */
	assert_int_equal(MV(4, "m", 3, "moved"), 0);
	assert_true(exists("root/moved") && !exists("root/d/m"));
	assert_int_equal(MV(3, "moved", 3, "../../moved2"), 0);
	assert_true(exists("root/moved2"));
	assert_int_equal(MV(3, "moved2", 3, "."), -EBUSY);
	assert_int_equal(MV(3, "..", 3, "x"), -EBUSY);
	assert_int_equal(MV(3, "/", 3, "x"), -EBUSY);
	assert_int_equal(MV(3, "nope", 3, "x"), -ENOENT);
	assert_int_equal(MV(3, "moved2", 3, "moved2/sub"), -EINVAL);
	assert_int_equal(MV(3, "moved2", 99, "x"), -EBADF);
	/* Renaming the symlink "abs" moves the link, not the file it names. */
	assert_int_equal(MV(3, "abs", 3, "abs2"), 0);
	assert_true(exists("root/etc/passwd") && exists("root/abs2"));
	/* unlink / rmdir. */
	assert_int_equal(UN(3, "abs2", 0), 0);
	assert_true(exists("root/etc/passwd"));
	assert_int_equal(UN(3, "sneak", 0), 0);
	assert_true(exists("secret"));
	assert_int_equal(UN(3, "moved2", 0), -EISDIR);
	assert_int_equal(UN(3, "moved2", AT_REMOVEDIR), 0);
	assert_int_equal(UN(3, "hello/", 0), -ENOTDIR);
	assert_int_equal(UN(3, "dirlink/", AT_REMOVEDIR), -ENOTDIR);
	assert_int_equal(UN(3, "d", AT_REMOVEDIR), -ENOTEMPTY);
	assert_int_equal(UN(3, ".", 0), -EISDIR);
	assert_int_equal(UN(3, ".", AT_REMOVEDIR), -EINVAL);
	assert_int_equal(UN(4, "..", AT_REMOVEDIR), -ENOTEMPTY);
	assert_int_equal(UN(3, "/", AT_REMOVEDIR), -EBUSY);
	assert_int_equal(UN(3, "/", 0), -EISDIR);
	assert_int_equal(UN(3, "hello", 1), -EINVAL);
	assert_int_equal(UN(3, "../../secret", 0), -ENOENT);
	assert_true(exists("secret"));
	assert_int_equal(UN(3, "", 0), -ENOENT);
	assert_int_equal(UN(3, "hello", 0), 0);
	assert_false(exists("root/hello"));
#undef MK
#undef UN
#undef MV
}

static void test_getdents_getpath(void **state)
{
	bool inner = false, e = false;
	int64_t h, n;

	(void)state;
	open_fwd("/d");
	h = g_open(3, "d", O_RDONLY | O_DIRECTORY, 0);
	assert_true(h >= 0);
	n = call(QUARK_OP_GETDENTS64, (uint64_t)h, G_OUT, 4096, 0, 0, 0);
	assert_true(n > 0);
	for (int64_t off = 0; off < n;) {
		struct dirent64 *d = (struct dirent64 *)(gm.base + G_OUT + off);

		inner |= strcmp(d->d_name, "inner") == 0;
		e |= strcmp(d->d_name, "e") == 0;
		off += d->d_reclen;
	}
	assert_true(inner && e);
	assert_int_equal(call(QUARK_OP_GETDENTS64, (uint64_t)h, G_OUT, 4096, 0, 0, 0), 0);
	assert_int_equal(call(QUARK_OP_GETDENTS64, 0, G_OUT, 4096, 0, 0, 0), -ENOTDIR);
	/* GETPATH: "/" for the root, the inner path otherwise, with its NUL. */
	assert_int_equal(call(QUARK_OP_GETPATH, 3, G_OUT, 100, 0, 0, 0), 2);
	assert_string_equal((char *)gm.base + G_OUT, "/");
	assert_int_equal(call(QUARK_OP_GETPATH, 4, G_OUT, 100, 0, 0, 0), 3);
	assert_string_equal((char *)gm.base + G_OUT, "/d");
	assert_int_equal(call(QUARK_OP_GETPATH, 4, G_OUT, 3, 0, 0, 0), 3);
	assert_int_equal(call(QUARK_OP_GETPATH, 4, G_OUT, 2, 0, 0, 0), -ERANGE);
	assert_int_equal(call(QUARK_OP_GETPATH, 4, G_OUT, 0, 0, 0, 0), -ERANGE);
	/* Renames are followed. */
	assert_int_equal(call(QUARK_OP_RENAMEAT, 3, G_PATH, put_path(G_PATH, "d"), 3, G_PATH2,
			      put_path(G_PATH2, "etc/dd")),
			 0);
	assert_int_equal(call(QUARK_OP_GETPATH, 4, G_OUT, 100, 0, 0, 0), 8);
	assert_string_equal((char *)gm.base + G_OUT, "/etc/dd");
	expect_open_reads(4, "inner", "inner\n");
	expect_open_reads(4, "../passwd", "guest passwd\n");
	/* Deleted files and things outside the root have no path. */
	h = g_open(3, "hello", O_RDONLY, 0);
	assert_int_equal(call(QUARK_OP_GETPATH, (uint64_t)h, G_OUT, 100, 0, 0, 0), 7);
	assert_int_equal(call(QUARK_OP_UNLINKAT, 3, G_PATH, put_path(G_PATH, "hello"), 0, 0, 0), 0);
	assert_int_equal(call(QUARK_OP_GETPATH, (uint64_t)h, G_OUT, 100, 0, 0, 0), -ENOENT);
	assert_int_equal(call(QUARK_OP_GETPATH, 1, G_OUT, 100, 0, 0, 0), -ENOENT);
	assert_int_equal(call(QUARK_OP_GETPATH, 1000, G_OUT, 100, 0, 0, 0), -EBADF);
	/* A handle on a symlink itself has the symlink's path. */
	h = g_open(3, "up", O_PATH | O_NOFOLLOW, 0);
	assert_int_equal(call(QUARK_OP_GETPATH, (uint64_t)h, G_OUT, 100, 0, 0, 0), 4);
	assert_string_equal((char *)gm.base + G_OUT, "/up");
	/* The deleted working directory: relative lookups fail. */
	assert_int_equal(call(QUARK_OP_MKDIRAT, 3, G_PATH, put_path(G_PATH, "gone"), 0700, 0, 0),
			 0);
	h = g_open(3, "gone", O_PATH | O_DIRECTORY, 0);
	assert_int_equal(
		call(QUARK_OP_UNLINKAT, 3, G_PATH, put_path(G_PATH, "gone"), AT_REMOVEDIR, 0, 0),
		0);
	expect_open_fails((uint64_t)h, "x", -ENOENT);
	assert_int_equal(call(QUARK_OP_GETPATH, (uint64_t)h, G_OUT, 100, 0, 0, 0), -ENOENT);
}

static void test_misc_ops(void **state)
{
	struct quark_seg seg = { G_BUF, 1 };
	struct timespec t0, t1;
	struct qv_fwd_op_stats st[QUARK_OP_COUNT];
	int64_t h;
	bool nonzero = false;

	(void)state;
	open_fwd(NULL);
	/* ioctl: only TCGETS and TIOCGWINSZ reach the host. */
	h = g_open(3, "hello", O_RDONLY, 0);
	assert_int_equal(call(QUARK_OP_IOCTL, (uint64_t)h, TCGETS, G_OUT, 0, 0, 0), -ENOTTY);
	assert_int_equal(call(QUARK_OP_IOCTL, (uint64_t)h, TIOCGWINSZ, G_OUT, 0, 0, 0), -ENOTTY);
	assert_int_equal(call(QUARK_OP_IOCTL, (uint64_t)h, FIONREAD, G_OUT, 0, 0, 0), -ENOTTY);
	assert_int_equal(call(QUARK_OP_IOCTL, (uint64_t)h, TIOCSTI, G_OUT, 0, 0, 0), -ENOTTY);
	assert_int_equal(call(QUARK_OP_IOCTL, 99, TCGETS, G_OUT, 0, 0, 0), -EBADF);
	if (isatty(1)) {
		assert_int_equal(call(QUARK_OP_IOCTL, 1, TCGETS, G_OUT, 0, 0, 0), 0);
		/* Linux reads the request as 32 bits. */
		assert_int_equal(
			call(QUARK_OP_IOCTL, 1, ((uint64_t)1 << 32) | TCGETS, G_OUT, 0, 0, 0), 0);
	}
	/* getrandom */
	memset(gm.base + G_OUT, 0, 64);
	assert_int_equal(call(QUARK_OP_GETRANDOM, G_OUT, 64, 0, 0, 0, 0), 64);
	for (int i = 0; i < 64; i++)
		nonzero |= gm.base[G_OUT + i] != 0;
	assert_true(nonzero);
	assert_int_equal(call(QUARK_OP_GETRANDOM, G_OUT, 0, 0, 0, 0, 0), 0);
	assert_int_equal(call(QUARK_OP_GETRANDOM, G_OUT, 16, 0x80, 0, 0, 0), -EINVAL);
	assert_int_equal(call(QUARK_OP_GETRANDOM, G_OUT, 16, GRND_RANDOM | GRND_INSECURE, 0, 0, 0),
			 -EINVAL);
	assert_int_equal(call(QUARK_OP_GETRANDOM, G_OUT, 16, GRND_NONBLOCK, 0, 0, 0), 16);
	/* nanosleep */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(call(QUARK_OP_NANOSLEEP, 2000000, 0, 0, 0, 0, 0), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_true((t1.tv_sec - t0.tv_sec) * 1000000000L + (t1.tv_nsec - t0.tv_nsec) >= 2000000);
	assert_int_equal(call(QUARK_OP_NANOSLEEP, 0, 0, 0, 0, 0, 0), 0);
	/* EXIT is the vCPU loop's; unknown ops are ENOSYS. */
	assert_int_equal(call(QUARK_OP_EXIT, 0, 0, 0, 0, 0, 0), -ENOSYS);
	assert_int_equal(call(0, 0, 0, 0, 0, 0, 0), -ENOSYS);
	assert_int_equal(call(QUARK_OP_COUNT, 0, 0, 0, 0, 0, 0), -ENOSYS);
	assert_int_equal(call(UINT32_MAX, 0, 0, 0, 0, 0, 0), -ENOSYS);
	/* Stats. */
	memcpy(gm.base + G_SEGS, &seg, sizeof(seg));
	assert_int_equal(call(QUARK_OP_READV, (uint64_t)h, G_SEGS, 1, 0, 0, 0), 1);
	qv_fwd_stats(fw, st);
	assert_int_equal(st[QUARK_OP_READV].calls, 1);
	assert_int_equal(st[QUARK_OP_READV].bytes, 1);
	assert_int_equal(st[QUARK_OP_IOCTL].calls, isatty(1) ? 7 : 5);
	assert_int_equal(st[QUARK_OP_IOCTL].errors, 5);
	assert_int_equal(st[QUARK_OP_GETRANDOM].bytes, 64 + 16);
	assert_int_equal(st[0].calls, 3);
	assert_string_equal(qv_fwd_op_name(QUARK_OP_GETDENTS64), "getdents64");
	assert_string_equal(qv_fwd_op_name(999), "unknown");
}

static void test_handles(void **state)
{
	int64_t h;

	(void)state;
	open_fwd(NULL);
	/* Lowest free first, 0..2 closable, closing the root handle confines nothing less. */
	assert_int_equal(call(QUARK_OP_CLOSE, 0, 0, 0, 0, 0, 0), 0);
	assert_int_equal(call(QUARK_OP_CLOSE, 3, 0, 0, 0, 0, 0), 0);
	assert_int_equal(g_open(4, "hello", O_RDONLY, 0), 0);
	assert_int_equal(g_open(4, "hello", O_RDONLY, 0), 3);
	assert_int_equal(g_open(4, "hello", O_RDONLY, 0), 5);
	expect_open_fails(4, "../secret", -ENOENT);
	assert_int_equal(qv_fwd_open_handles(fw), 6);
	/* Fill the table (or the process's fd limit, whichever comes first). */
	for (;;) {
		h = g_open(4, "hello", O_RDONLY, 0);
		if (h < 0)
			break;
	}
	assert_true(h == -EMFILE || h == -ENFILE);
	assert_true(qv_fwd_open_handles(fw) <= QUARK_MAX_HANDLES);
	for (uint64_t i = 0; i < QUARK_MAX_HANDLES; i++)
		call(QUARK_OP_CLOSE, i, 0, 0, 0, 0, 0);
	assert_int_equal(qv_fwd_open_handles(fw), 0);
	/* Relative to a closed handle; absolute still works (the root is private). */
	expect_open_fails(4, "hello", -EBADF);
	assert_int_equal(g_open(4, "/hello", O_RDONLY, 0), 0);
}

/* Every operation, valid and not, on a fresh fwd: the fd count comes back. */
static void test_no_fd_leak(void **state)
{
	int before, after;
	uint32_t op;

	(void)state;
	before = count_fds();
	open_fwd("/d");
	for (int round = 0; round < 3; round++) {
		for (op = 0; op <= QUARK_OP_COUNT; op++) {
			if (op == QUARK_OP_NANOSLEEP || op == QUARK_OP_CLOSE)
				continue;
			for (int v = 0; v < 8; v++) {
				static const char *const paths[] = { "hello",	 "../x",  "loop1",
								     "dirlink/", "up/..", "",
								     "/",	 "d/e/." };
				uint64_t n = put_path(G_PATH, paths[v]);

				put_path(G_PATH2, paths[(v + 3) % 8]);
				/* handles 3..8: never a blocking read of stdin */
				call(op, 3 + (uint64_t)v % 6, G_PATH, n,
				     v & 1 ? G_OUT : AT_EMPTY_PATH, G_PATH2, 5);
			}
		}
	}
	qv_fwd_close(fw);
	fw = NULL;
	after = count_fds();
	assert_int_equal(before, after);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_gmem_ptr, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_basics, setup, teardown),
		cmocka_unit_test_setup_teardown(test_confinement, setup, teardown),
		cmocka_unit_test_setup_teardown(test_magic_links, setup, teardown),
		cmocka_unit_test_setup_teardown(test_relative, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_ranges, setup, teardown),
		cmocka_unit_test_setup_teardown(test_seg_rewrite, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_ops, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stat_ops, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dir_ops, setup, teardown),
		cmocka_unit_test_setup_teardown(test_getdents_getpath, setup, teardown),
		cmocka_unit_test_setup_teardown(test_misc_ops, setup, teardown),
		cmocka_unit_test_setup_teardown(test_handles, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_fd_leak, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
