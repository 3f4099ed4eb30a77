// SPDX-License-Identifier: MIT
/*
 * Description: QVisor's forwarded operations (quark/qvisor/fwd.c) against a
 * hostile guest: up to four struct quark_hcall blocks of any bytes, run in
 * order on one fresh struct qv_fwd over 64 KiB of guest memory that holds
 * the rest of the input (segment arrays, paths, buffers), with a PROT_NONE
 * page on each side so that a host access outside guest memory faults
 * (ASan does not watch mmap'd memory). The root is a temporary directory,
 * rebuilt before every input (files, a subdirectory, the symlinks "../../..",
 * "/etc/passwd", a loop and /proc/self/fd/0), with a file "secret" beside
 * it. Nothing may crash, and afterwards the directory around the root must
 * still hold exactly "root" and an unchanged "secret": a create, rename or
 * unlink that escaped the root would show there.
 *
 * Input: [n][hcall 64 bytes] x (1 + (n & 3)) [guest memory...]
 *   Handles: 0-2 /dev/null, 3 the root, 4 the working directory "/d".
 *
 * Keeping the fuzzer harmless: files are capped at 1 MiB (RLIMIT_FSIZE,
 * SIGXFSZ ignored so writes past it fail with EFBIG), sleeps at 10 us, and
 * qv_fwd_close() closes whatever an input opened.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "abi.h"
#include "fuzz_check.h"
#include "fwd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define PAGE	  4096u
#define MEM_SIZE  (64u * 1024)
#define MAX_CALLS 4
#define SECRET	  "host secret, never the guest's\n"

static char base[64], root[96], secret[96];
static unsigned char *mem; /* guest memory, guard pages around it */
static int devnull = -1, saved[3] = { -1, -1, -1 };

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static int open_up(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_D || flag == FTW_DNR)
		chmod(p, 0700);
	return 0;
}

static void cleanup(void)
{
	if (base[0])
		nftw(base, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void put(const char *rel, const char *text)
{
	char p[160];
	int fd;

	snprintf(p, sizeof(p), "%s/%s", root, rel);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	CHECK(fd >= 0);
	CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
	close(fd);
}

static void link_at(const char *target, const char *rel)
{
	char p[160];

	snprintf(p, sizeof(p), "%s/%s", root, rel);
	CHECK(symlink(target, p) == 0);
}

static void dir_at(const char *rel)
{
	char p[160];

	snprintf(p, sizeof(p), "%s/%s", root, rel);
	CHECK(mkdir(p, 0755) == 0);
}

/* The root as every input starts it. */
static void build_root(void)
{
	/*
	 * An input may have made directories of mode 0 (mkdirat's mode is the
	 * guest's): open them up level by level until the tree comes off.
	 */
	for (int pass = 0; access(root, F_OK) == 0; pass++) {
		CHECK(pass < 64);
		if (nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS) != 0)
			nftw(root, open_up, 16, FTW_PHYS);
	}
	CHECK(mkdir(root, 0755) == 0);
	put("hello", "hello world\n");
	dir_at("d");
	dir_at("d/e");
	put("d/inner", "inner\n");
	dir_at("etc");
	put("etc/passwd", "guest passwd\n");
	link_at("../../..", "up");
	link_at("/etc/passwd", "abs");
	link_at("loop2", "loop1");
	link_at("loop1", "loop2");
	link_at("/proc/self/fd/0", "magic");
	link_at("../secret", "sneak");
	link_at("d", "dirlink");
}

static void init_once(void)
{
	struct rlimit fsize = { 1 << 20, 1 << 20 };
	const char *tmp = getenv("TMPDIR");
	int fd;

	/* tmpfs when there is one: fsync and the per-input rebuild cost nothing there. */
	if (!tmp || !*tmp)
		tmp = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
	snprintf(base, sizeof(base), "%s/qfuzz-XXXXXX", tmp);
	CHECK(mkdtemp(base));
	atexit(cleanup);
	snprintf(root, sizeof(root), "%s/root", base);
	snprintf(secret, sizeof(secret), "%s/secret", base);
	fd = open(secret, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	CHECK(fd >= 0);
	CHECK(write(fd, SECRET, strlen(SECRET)) == (ssize_t)strlen(SECRET));
	close(fd);
	CHECK(setrlimit(RLIMIT_FSIZE, &fsize) == 0);
	signal(SIGXFSZ, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	umask(0);
	devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	CHECK(devnull >= 0);
	for (int i = 0; i < 3; i++) {
		saved[i] = fcntl(i, F_DUPFD_CLOEXEC, 10);
		CHECK(saved[i] >= 0);
	}
	mem = mmap(NULL, MEM_SIZE + 2 * PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(mem != MAP_FAILED);
	CHECK(mprotect(mem + PAGE, MEM_SIZE, PROT_READ | PROT_WRITE) == 0);
	mem += PAGE;
}

/* Nothing but "root" and an unchanged "secret" beside the root. */
static void check_outside(void)
{
	char buf[128];
	struct dirent *e;
	struct stat st;
	ssize_t n;
	int fd, count = 0;
	DIR *d;

	fd = open(secret, O_RDONLY | O_CLOEXEC);
	CHECK(fd >= 0);
	n = read(fd, buf, sizeof(buf));
	close(fd);
	CHECK(n == (ssize_t)strlen(SECRET) && memcmp(buf, SECRET, (size_t)n) == 0);
	CHECK(lstat(root, &st) == 0 && S_ISDIR(st.st_mode));
	d = opendir(base);
	CHECK(d);
	while ((e = readdir(d))) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		CHECK(strcmp(e->d_name, "root") == 0 || strcmp(e->d_name, "secret") == 0);
		count++;
	}
	closedir(d);
	CHECK(count == 2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct qv_gmem gm;
	struct qv_fwd *f = NULL;
	char err[256];
	size_t ncalls, off;

	if (!mem)
		init_once();
	if (size < 1 + sizeof(struct quark_hcall))
		return 0;
	ncalls = 1 + (data[0] & (MAX_CALLS - 1));
	if (ncalls > (size - 1) / sizeof(struct quark_hcall))
		ncalls = (size - 1) / sizeof(struct quark_hcall);
	off = 1 + ncalls * sizeof(struct quark_hcall);
	memset(mem, 0, MEM_SIZE);
	if (size > off)
		memcpy(mem, data + off, size - off > MEM_SIZE ? MEM_SIZE : size - off);
	gm.base = mem;
	gm.size = MEM_SIZE;

	build_root();
	/* Handles 0-2 are dups of our stdio: make them /dev/null for the guest. */
	for (int i = 0; i < 3; i++)
		CHECK(dup2(devnull, i) == i);
	CHECK(qv_fwd_open(&f, root, "/d", err, sizeof(err)) == 0);
	for (int i = 0; i < 3; i++)
		CHECK(dup2(saved[i], i) == i);

	for (size_t i = 0; i < ncalls; i++) {
		struct quark_hcall hc;
		int64_t r;

		memcpy(&hc, data + 1 + i * sizeof(hc), sizeof(hc));
		if (hc.op == QUARK_OP_NANOSLEEP)
			hc.args[0] %= 10000; /* 10 us: the fuzzer should not wait */
		r = qv_fwd_call(f, &gm, &hc);
		/* A result is a count, a handle, an offset or a Linux errno. */
		CHECK(r >= -4095);
	}
	qv_fwd_close(f);
	check_outside();
	return 0;
}
