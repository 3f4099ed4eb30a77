/* SPDX-License-Identifier: MIT */
/*
 * Description: qt_files: the file system calls QKernel forwards to QVisor,
 * and the pipes it keeps to itself, in a scratch directory: open/openat and
 * their flags, read/write/pread64/pwrite64/readv/writev, lseek, close,
 * fstat/newfstatat/stat/lstat/statx, getdents64 (listed sorted, with small
 * buffers too), readlink/readlinkat, access/faccessat, getcwd/chdir/fchdir,
 * mkdir/mkdirat, unlink/unlinkat/rmdir, rename/renameat, ftruncate, private
 * file mappings, dup/dup2/dup3/fcntl, pipe/pipe2 with EOF, EAGAIN and EPIPE,
 * and ioctl TCGETS/TIOCGWINSZ. Each call's errors are checked as well as its
 * successes. The legacy calls (open, stat, mkdir, ...) are made through
 * syscall(2), since glibc would make the *at ones instead.
 *
 *   qt_files DIR
 *
 * DIR must hold exactly one entry, a symbolic link `link` to `a.txt` (the
 * first slice has no symlink(2); the harness makes it with ln -s). The
 * program works inside DIR with relative paths, so no output depends on
 * where DIR is, and leaves DIR as it found it.
 * Exit status: 0 when every check passed, 1 otherwise.
 */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <termios.h>
#include <unistd.h>

#include "qt.h"

#define PAGE 4096

/* The entries of the open directory dfd, sorted, read bufsize bytes at a time. */
static int list_dir(int dfd, size_t bufsize, char names[][256], unsigned char *types, int max)
{
	static char buf[8192];
	int n = 0;
	if (lseek(dfd, 0, SEEK_SET) != 0)
		return -1;
	for (;;) {
		long got = syscall(SYS_getdents64, dfd, buf, bufsize);
		if (got < 0)
			return -1;
		if (got == 0)
			break;
		for (long off = 0; off < got;) {
			struct dirent64 *d = (struct dirent64 *)(buf + off);
			if (strcmp(d->d_name, ".") && strcmp(d->d_name, "..") && n < max) {
				snprintf(names[n], 256, "%s", d->d_name);
				types[n] = d->d_type;
				n++;
			}
			off += d->d_reclen;
		}
	}
	/* Insertion sort, carrying the types along: the order of getdents is the file system's. */
	for (int i = 1; i < n; i++)
		for (int j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
			char t[256];
			memcpy(t, names[j], 256);
			memcpy(names[j], names[j - 1], 256);
			memcpy(names[j - 1], t, 256);
			unsigned char u = types[j];
			types[j] = types[j - 1];
			types[j - 1] = u;
		}
	return n;
}

static char type_char(unsigned char t)
{
	switch (t) {
	case DT_REG:
		return 'f';
	case DT_DIR:
		return 'd';
	case DT_LNK:
		return 'l';
	case DT_FIFO:
		return 'p';
	case DT_UNKNOWN:
		return '?';
	default:
		return 'o';
	}
}

/* Prints the sorted listing of "." as the test's own deterministic record. */
static void print_listing(const char *when, size_t bufsize)
{
	char names[32][256];
	unsigned char types[32];
	int dfd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int n = dfd < 0 ? -1 : list_dir(dfd, bufsize, names, types, 32);
	QT_CHECK(n >= 0, "getdents64 of the scratch directory");
	printf("listing %s (%zu-byte buffer):", when, bufsize);
	for (int i = 0; i < n; i++)
		printf(" %s:%c", names[i], type_char(types[i]));
	printf("\n");
	if (dfd >= 0)
		close(dfd);
}

static int file_is(const char *path, const char *want, size_t n)
{
	char buf[256];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t r = read(fd, buf, sizeof(buf));
	close(fd);
	return r == (ssize_t)n && memcmp(buf, want, n) == 0;
}

static int all_zero(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return 0;
	return 1;
}

static void write_read_checks(void)
{
	static const char hello[] = "hello, quark\n";
	char buf[256];
	int fd = (int)syscall(SYS_open, "a.txt", O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
	QT_CHECK(fd >= 0, "open(2) O_CREAT|O_EXCL a.txt");
	if (fd < 0)
		return;
	QT_EQ(write(fd, hello, 13), 13, "write 13 bytes");
	QT_ERRNO(openat(AT_FDCWD, "a.txt", O_CREAT | O_EXCL | O_WRONLY, 0644), EEXIST,
		 "O_CREAT|O_EXCL of an existing file is EEXIST");
	QT_EQ(fcntl(fd, F_GETFD), FD_CLOEXEC, "O_CLOEXEC shows in F_GETFD");
	QT_EQ(fcntl(fd, F_GETFL) & O_ACCMODE, O_WRONLY, "F_GETFL gives O_WRONLY");
	QT_EQ(pwrite(fd, "tail", 4, 100), 4, "pwrite64 at offset 100 leaves a hole");
	QT_EQ(lseek(fd, 0, SEEK_CUR), 13, "pwrite64 does not move the offset");
	struct stat st;
	QT_CHECK(fstat(fd, &st) == 0 && st.st_size == 104, "fstat size is 104");
	QT_ERRNO(read(fd, buf, 1), EBADF, "read of a write-only fd is EBADF");
	QT_EQ(close(fd), 0, "close");
	QT_ERRNO(close(fd), EBADF, "close of a closed fd is EBADF");

	fd = openat(AT_FDCWD, "a.txt", O_RDONLY | O_CLOEXEC);
	QT_CHECK(fd >= 0, "openat O_RDONLY");
	if (fd < 0)
		return;
	QT_EQ(read(fd, buf, sizeof(buf)), 104, "read returns the whole 104 bytes");
	QT_CHECK(memcmp(buf, hello, 13) == 0 && all_zero(buf + 13, 87) &&
			 memcmp(buf + 100, "tail", 4) == 0,
		 "contents: the text, a zero hole, the tail");
	QT_EQ(read(fd, buf, sizeof(buf)), 0, "read at EOF returns 0");
	QT_EQ(pread(fd, buf, 4, 100), 4, "pread64 at 100");
	QT_CHECK(memcmp(buf, "tail", 4) == 0, "pread64 reads the tail");
	QT_EQ(pread(fd, buf, 4, 104), 0, "pread64 at EOF returns 0");
	QT_EQ(lseek(fd, -4, SEEK_END), 100, "lseek SEEK_END -4");
	QT_EQ(lseek(fd, 7, SEEK_SET), 7, "lseek SEEK_SET 7");
	QT_CHECK(read(fd, buf, 5) == 5 && memcmp(buf, "quark", 5) == 0, "read after lseek");
	QT_EQ(lseek(fd, -5, SEEK_CUR), 7, "lseek SEEK_CUR -5");
	QT_ERRNO(lseek(fd, -1, SEEK_SET), EINVAL, "lseek to a negative offset is EINVAL");
	QT_ERRNO(lseek(fd, 0, 99), EINVAL, "lseek with a bad whence is EINVAL");
	QT_EQ(lseek(fd, 1000, SEEK_SET), 1000, "lseek past EOF");
	QT_EQ(read(fd, buf, 10), 0, "read past EOF returns 0");
	QT_ERRNO(write(fd, "x", 1), EBADF, "write to a read-only fd is EBADF");
	QT_ERRNO(ftruncate(fd, 0), EINVAL, "ftruncate of a read-only fd is EINVAL");
	QT_ERRNO(ioctl(fd, TCGETS, &(struct termios){ 0 }), ENOTTY,
		 "ioctl TCGETS on a file is ENOTTY");
	QT_ERRNO(ioctl(fd, TIOCGWINSZ, &(struct winsize){ 0 }), ENOTTY,
		 "ioctl TIOCGWINSZ on a file is ENOTTY");
	QT_ERRNO(openat(fd, "x", O_RDONLY), ENOTDIR, "openat relative to a file fd is ENOTDIR");
	QT_ERRNO(syscall(SYS_getdents64, fd, buf, sizeof(buf)), ENOTDIR,
		 "getdents64 of a file is ENOTDIR");
	close(fd);

	/* Scatter and gather, including an empty element. */
	fd = open("v.txt", O_CREAT | O_RDWR | O_TRUNC | O_CLOEXEC, 0644);
	QT_CHECK(fd >= 0, "open v.txt O_RDWR|O_CREAT|O_TRUNC");
	struct iovec out[3] = { { (void *)"ab", 2 }, { (void *)"", 0 }, { (void *)"cdef", 4 } };
	QT_EQ(writev(fd, out, 3), 6, "writev of 3 elements");
	char a[3], b[10];
	struct iovec in[2] = { { a, sizeof(a) }, { b, sizeof(b) } };
	QT_EQ(lseek(fd, 0, SEEK_SET), 0, "lseek to 0");
	QT_EQ(readv(fd, in, 2), 6, "readv of 2 elements");
	QT_CHECK(memcmp(a, "abc", 3) == 0 && memcmp(b, "def", 3) == 0,
		 "readv splits at the element boundary");
	close(fd);
	fd = open("v.txt", O_WRONLY | O_TRUNC | O_CLOEXEC);
	QT_CHECK(fd >= 0 && fstat(fd, &st) == 0 && st.st_size == 0, "O_TRUNC empties the file");
	close(fd);

	/* O_APPEND wins over the offset, and F_SETFL can take it away. */
	fd = open("a.txt", O_WRONLY | O_APPEND | O_CLOEXEC);
	QT_CHECK(fd >= 0, "open O_APPEND");
	QT_EQ(lseek(fd, 0, SEEK_SET), 0, "lseek an O_APPEND fd to 0");
	QT_EQ(write(fd, "!\n", 2), 2, "write with O_APPEND");
	QT_CHECK(fstat(fd, &st) == 0 && st.st_size == 106, "the write went to the end");
	QT_EQ(fcntl(fd, F_SETFL, O_APPEND | O_NONBLOCK), 0, "F_SETFL O_APPEND|O_NONBLOCK");
	QT_EQ(fcntl(fd, F_GETFL) & (O_APPEND | O_NONBLOCK | O_ACCMODE),
	      O_APPEND | O_NONBLOCK | O_WRONLY, "F_GETFL gives them back");
	QT_EQ(fcntl(fd, F_SETFL, 0), 0, "F_SETFL 0 drops O_APPEND");
	QT_EQ(pwrite(fd, "H", 1, 0), 1, "pwrite64 at 0 without O_APPEND");
	close(fd);
	QT_CHECK(pread(fd = open("a.txt", O_RDONLY | O_CLOEXEC), buf, 106, 0) == 106 &&
			 buf[0] == 'H' && memcmp(buf + 104, "!\n", 2) == 0,
		 "a.txt holds both writes");
	close(fd);

	/* ftruncate down, up (zeroes), and back to the 13 bytes. */
	fd = open("a.txt", O_RDWR | O_CLOEXEC);
	QT_EQ(ftruncate(fd, 50), 0, "ftruncate to 50");
	QT_CHECK(fstat(fd, &st) == 0 && st.st_size == 50, "size is 50");
	QT_EQ(ftruncate(fd, 8192), 0, "ftruncate up to 8192");
	static char big[8192];
	QT_EQ(pread(fd, big, sizeof(big), 0), 8192, "read the grown file");
	QT_CHECK(all_zero(big + 50, sizeof(big) - 50), "growing by ftruncate reads zero");
	QT_ERRNO(ftruncate(fd, -1), EINVAL, "ftruncate to -1 is EINVAL");
	QT_EQ(ftruncate(fd, 13), 0, "ftruncate back to 13");
	QT_EQ(pwrite(fd, "h", 1, 0), 1, "restore the first byte");
	close(fd);
	QT_CHECK(file_is("a.txt", hello, 13), "a.txt is the 13 bytes again");
}

static void stat_checks(void)
{
	struct stat st, st2, lst;
	QT_EQ(syscall(SYS_stat, "a.txt", &st), 0, "stat(2) a.txt");
	QT_CHECK(S_ISREG(st.st_mode) && st.st_size == 13 && st.st_nlink == 1,
		 "a regular file of 13 bytes, one link");
	QT_CHECK((st.st_mode & 0777) == 0644, "mode 0644 as created");
	QT_CHECK(st.st_mtime > 0 && st.st_blksize > 0, "mtime and blksize are set");
	QT_EQ(syscall(SYS_lstat, "link", &lst), 0, "lstat(2) link");
	QT_CHECK(S_ISLNK(lst.st_mode) && lst.st_size == 5, "lstat sees a symlink of 5 bytes");
	QT_EQ(syscall(SYS_stat, "link", &st2), 0, "stat(2) follows link");
	QT_CHECK(S_ISREG(st2.st_mode) && st2.st_ino == st.st_ino && st2.st_dev == st.st_dev,
		 "stat through the link is a.txt");
	QT_EQ(fstatat(AT_FDCWD, "link", &st2, AT_SYMLINK_NOFOLLOW), 0,
	      "newfstatat AT_SYMLINK_NOFOLLOW");
	QT_CHECK(S_ISLNK(st2.st_mode) && st2.st_ino == lst.st_ino,
		 "newfstatat sees the link itself");
	int fd = open("a.txt", O_RDONLY | O_CLOEXEC);
	QT_EQ(fstatat(fd, "", &st2, AT_EMPTY_PATH), 0, "newfstatat AT_EMPTY_PATH");
	QT_CHECK(st2.st_ino == st.st_ino && st2.st_size == 13, "AT_EMPTY_PATH stats the fd");
	QT_CHECK(fstat(fd, &st2) == 0 && st2.st_ino == st.st_ino, "fstat agrees with stat");
	close(fd);
	struct statx sx;
	QT_EQ(statx(AT_FDCWD, "a.txt", 0, STATX_BASIC_STATS, &sx), 0, "statx a.txt");
	QT_CHECK((sx.stx_mask & (STATX_SIZE | STATX_TYPE | STATX_INO)) ==
				 (STATX_SIZE | STATX_TYPE | STATX_INO) &&
			 sx.stx_size == 13 && S_ISREG(sx.stx_mode) && sx.stx_ino == st.st_ino,
		 "statx agrees with stat");
	QT_EQ(statx(AT_FDCWD, "link", AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &sx), 0,
	      "statx of the link");
	QT_CHECK(S_ISLNK(sx.stx_mode), "statx AT_SYMLINK_NOFOLLOW sees a link");
	QT_ERRNO(syscall(SYS_stat, "a.txt/", &st2), ENOTDIR, "stat of file/ is ENOTDIR");
	QT_ERRNO(syscall(SYS_stat, "missing", &st2), ENOENT, "stat of a missing name is ENOENT");
	QT_ERRNO(syscall(SYS_stat, "", &st2), ENOENT, "stat of \"\" is ENOENT");
	char longname[300];
	memset(longname, 'n', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = 0;
	QT_ERRNO(open(longname, O_RDONLY), ENAMETOOLONG, "a 299-byte name is ENAMETOOLONG");

	char buf[64];
	memset(buf, 0, sizeof(buf));
	QT_EQ(syscall(SYS_readlink, "link", buf, sizeof(buf)), 5, "readlink(2) link");
	QT_CHECK(strcmp(buf, "a.txt") == 0, "readlink gives the link text");
	memset(buf, 'z', sizeof(buf));
	QT_EQ(readlinkat(AT_FDCWD, "link", buf, 3), 3, "readlinkat into 3 bytes");
	QT_CHECK(memcmp(buf, "a.tz", 4) == 0, "readlinkat truncates and adds no NUL");
	int dfd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	memset(buf, 0, sizeof(buf));
	QT_EQ(readlinkat(dfd, "link", buf, sizeof(buf)), 5,
	      "readlinkat relative to a directory fd");
	close(dfd);
	QT_ERRNO(syscall(SYS_readlink, "a.txt", buf, sizeof(buf)), EINVAL,
		 "readlink of a file is EINVAL");
	QT_ERRNO(syscall(SYS_readlink, "missing", buf, sizeof(buf)), ENOENT,
		 "readlink of a missing name is ENOENT");

	QT_EQ(syscall(SYS_access, "a.txt", F_OK), 0, "access(2) F_OK");
	QT_EQ(faccessat(AT_FDCWD, "a.txt", R_OK | W_OK, 0), 0, "faccessat R_OK|W_OK");
	QT_ERRNO(syscall(SYS_access, "a.txt", X_OK), EACCES,
		 "access X_OK of a 0644 file is EACCES");
	QT_ERRNO(faccessat(AT_FDCWD, "missing", F_OK, 0), ENOENT,
		 "faccessat of a missing name is ENOENT");
	QT_EQ(syscall(SYS_access, "link", R_OK), 0, "access follows the link");
}

static void dir_checks(const char *base)
{
	char cwd[4096], want[4096];
	QT_EQ(syscall(SYS_mkdir, "d", 0755), 0, "mkdir(2) d");
	QT_ERRNO(mkdirat(AT_FDCWD, "d", 0755), EEXIST, "mkdirat of an existing name is EEXIST");
	int dfd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	QT_EQ(mkdirat(dfd, "e", 0755), 0, "mkdirat relative to a directory fd");
	QT_ERRNO(open("a.txt", O_RDONLY | O_DIRECTORY), ENOTDIR,
		 "O_DIRECTORY on a file is ENOTDIR");
	int fd = openat(dfd, "b", O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
	QT_CHECK(fd >= 0, "openat(dirfd, b, O_CREAT)");
	close(fd);
	fd = open("c", O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
	QT_EQ(write(fd, "c\n", 2), 2, "write c");
	close(fd);
	close(dfd);

	print_listing("after creating", sizeof(long) * 1024);
	print_listing("after creating", 64);
	char tiny[8];
	dfd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	QT_ERRNO(syscall(SYS_getdents64, dfd, tiny, sizeof(tiny)), EINVAL,
		 "getdents64 with a buffer too small for one entry is EINVAL");
	close(dfd);

	QT_EQ(renameat(AT_FDCWD, "b", AT_FDCWD, "b2"), 0, "renameat b -> b2");
	QT_ERRNO(access("b", F_OK), ENOENT, "b is gone");
	QT_EQ(syscall(SYS_rename, "c", "b2"), 0, "rename(2) c over b2");
	QT_CHECK(file_is("b2", "c\n", 2), "b2 has c's contents");
	QT_ERRNO(syscall(SYS_rename, "missing", "x"), ENOENT, "rename of a missing name is ENOENT");
	QT_ERRNO(syscall(SYS_rename, "a.txt", "d"), EISDIR,
		 "rename of a file over a directory is EISDIR");
	QT_EQ(syscall(SYS_rename, "e", "d/e2"), 0, "rename a directory into another");

	QT_EQ(syscall(SYS_unlink, "b2"), 0, "unlink(2) b2");
	QT_ERRNO(syscall(SYS_unlink, "b2"), ENOENT, "unlink again is ENOENT");
	QT_ERRNO(unlinkat(AT_FDCWD, "d", 0), EISDIR,
		 "unlinkat of a directory without AT_REMOVEDIR is EISDIR");
	QT_ERRNO(syscall(SYS_rmdir, "d"), ENOTEMPTY, "rmdir of a non-empty directory is ENOTEMPTY");
	QT_ERRNO(syscall(SYS_rmdir, "a.txt"), ENOTDIR, "rmdir of a file is ENOTDIR");

	/* getcwd answers are shown relative to the starting directory. */
	QT_EQ(chdir("d"), 0, "chdir d");
	snprintf(want, sizeof(want), "%s/d", base);
	QT_CHECK(getcwd(cwd, sizeof(cwd)) && strcmp(cwd, want) == 0, "getcwd is BASE/d");
	QT_EQ(chdir("e2/../.."), 0, "chdir e2/../..");
	QT_CHECK(getcwd(cwd, sizeof(cwd)) && strcmp(cwd, base) == 0, "getcwd is BASE again");
	dfd = open("d/e2", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	QT_EQ(fchdir(dfd), 0, "fchdir d/e2");
	snprintf(want, sizeof(want), "%s/d/e2", base);
	QT_CHECK(getcwd(cwd, sizeof(cwd)) && strcmp(cwd, want) == 0, "getcwd is BASE/d/e2");
	close(dfd);
	QT_CHECK(file_is("../../a.txt", "hello, quark\n", 13), "relative paths follow the new cwd");
	QT_ERRNO(syscall(SYS_getcwd, cwd, 2), ERANGE, "getcwd into 2 bytes is ERANGE");
	QT_EQ(chdir(base), 0, "chdir back by absolute path");
	QT_ERRNO(chdir("a.txt"), ENOTDIR, "chdir to a file is ENOTDIR");
	QT_ERRNO(chdir("missing"), ENOENT, "chdir to a missing name is ENOENT");
	fd = open("a.txt", O_RDONLY | O_CLOEXEC);
	QT_ERRNO(fchdir(fd), ENOTDIR, "fchdir to a file is ENOTDIR");
	close(fd);

	QT_EQ(unlinkat(AT_FDCWD, "d/e2", AT_REMOVEDIR), 0, "unlinkat AT_REMOVEDIR d/e2");
	QT_EQ(syscall(SYS_rmdir, "d"), 0, "rmdir(2) d");
	QT_ERRNO(syscall(SYS_rmdir, "d"), ENOENT, "rmdir again is ENOENT");
}

static void mmap_checks(void)
{
	/* Three pages and a bit: the mapping's tail past EOF must read zero. */
	size_t len = 3 * PAGE + 100;
	static char data[3 * PAGE + 100];
	for (size_t i = 0; i < len; i++)
		data[i] = (char)('a' + i % 23);
	int fd = open("m.bin", O_CREAT | O_RDWR | O_TRUNC | O_CLOEXEC, 0644);
	QT_EQ(write(fd, data, len), len, "write m.bin");
	char *p = mmap(NULL, 4 * PAGE, PROT_READ, MAP_PRIVATE, fd, 0);
	QT_CHECK(p != MAP_FAILED, "mmap a file MAP_PRIVATE");
	if (p != MAP_FAILED) {
		QT_CHECK(memcmp(p, data, len) == 0, "the mapping shows the file");
		QT_CHECK(all_zero(p + len, 4 * PAGE - len), "past EOF the last page reads zero");
		munmap(p, 4 * PAGE);
	}
	p = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, PAGE);
	QT_CHECK(p != MAP_FAILED && memcmp(p, data + PAGE, PAGE) == 0, "mmap at file offset 4096");
	if (p != MAP_FAILED) {
		memset(p, 'X', 10);
		char buf[10];
		QT_CHECK(pread(fd, buf, 10, PAGE) == 10 && memcmp(buf, data + PAGE, 10) == 0,
			 "writes to a private mapping do not reach the file");
		munmap(p, PAGE);
	}
	/* A file mapped with MAP_FIXED over part of an anonymous one. */
	char *a = mmap(NULL, 3 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (a != MAP_FAILED) {
		memset(a, 'Q', 3 * PAGE);
		p = mmap(a + PAGE, PAGE, PROT_READ, MAP_PRIVATE | MAP_FIXED, fd, 2 * PAGE);
		QT_CHECK(p == a + PAGE && memcmp(p, data + 2 * PAGE, PAGE) == 0 && a[0] == 'Q' &&
				 a[2 * PAGE] == 'Q',
			 "a MAP_FIXED file page over anonymous memory");
		munmap(a, 3 * PAGE);
	}
	QT_ERRNO(mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE, fd, 100) == MAP_FAILED ? -1 : 0, EINVAL,
		 "mmap at an unaligned file offset is EINVAL");
	close(fd);
	fd = open("m.bin", O_WRONLY | O_CLOEXEC);
	QT_ERRNO(mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE, fd, 0) == MAP_FAILED ? -1 : 0, EACCES,
		 "mmap of a write-only fd is EACCES");
	close(fd);
	QT_ERRNO(mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE, 999, 0) == MAP_FAILED ? -1 : 0, EBADF,
		 "mmap of a bad fd is EBADF");

	/* 1 MiB written in 64 KiB pieces and read back in 4 KiB ones. */
	static char chunk[65536];
	unsigned long long hw = QT_FNV_INIT, hr = QT_FNV_INIT;
	fd = open("big.bin", O_CREAT | O_RDWR | O_TRUNC | O_CLOEXEC, 0644);
	int ok = fd >= 0;
	for (int i = 0; ok && i < 16; i++) {
		for (size_t j = 0; j < sizeof(chunk); j++)
			chunk[j] = (char)((i * 31 + j * 7) >> 3);
		hw = qt_fnv(chunk, sizeof(chunk), hw);
		ok = write(fd, chunk, sizeof(chunk)) == (ssize_t)sizeof(chunk);
	}
	QT_CHECK(ok, "write 1 MiB in 64 KiB pieces");
	ok = lseek(fd, 0, SEEK_SET) == 0;
	size_t total = 0;
	ssize_t r;
	while (ok && (r = read(fd, chunk, PAGE)) > 0) {
		hr = qt_fnv(chunk, (size_t)r, hr);
		total += (size_t)r;
	}
	QT_CHECK(ok && total == 1024 * 1024 && hr == hw, "read 1 MiB back in 4 KiB pieces");
	printf("big.bin fnv %016llx\n", hr);
	close(fd);
	QT_EQ(unlink("big.bin"), 0, "unlink big.bin");
	QT_EQ(unlink("m.bin"), 0, "unlink m.bin");
}

static void dup_checks(void)
{
	int fd = open("a.txt", O_RDONLY | O_CLOEXEC);
	QT_CHECK(fd >= 0, "open a.txt for dup");
	/* The lowest free number: take one, free it, dup must give it back. */
	int probe = open("a.txt", O_RDONLY | O_CLOEXEC);
	close(probe);
	int d = dup(fd);
	QT_CHECK(d == probe, "dup returns the lowest free fd");
	QT_EQ(fcntl(d, F_GETFD), 0, "dup clears FD_CLOEXEC");
	QT_EQ(lseek(fd, 7, SEEK_SET), 7, "lseek the original");
	QT_EQ(lseek(d, 0, SEEK_CUR), 7, "the dup shares the offset");
	char buf[8];
	QT_CHECK(read(d, buf, 5) == 5 && lseek(fd, 0, SEEK_CUR) == 12,
		 "reading the dup moves the original");
	QT_EQ(syscall(SYS_dup2, fd, 10), 10, "dup2(2) to 10");
	QT_EQ(dup2(fd, fd), fd, "dup2 to itself returns the fd");
	QT_ERRNO(dup2(fd, 1 << 30), EBADF, "dup2 past the fd limit is EBADF");
	QT_ERRNO(dup3(fd, fd, 0), EINVAL, "dup3 to itself is EINVAL");
	QT_ERRNO(dup3(fd, 11, 12345), EINVAL, "dup3 with bad flags is EINVAL");
	QT_EQ(dup3(fd, 11, O_CLOEXEC), 11, "dup3 O_CLOEXEC to 11");
	QT_EQ(fcntl(11, F_GETFD), FD_CLOEXEC, "dup3 O_CLOEXEC sets FD_CLOEXEC");
	QT_EQ(fcntl(10, F_GETFD), 0, "dup2 leaves FD_CLOEXEC clear");
	QT_EQ(fcntl(10, F_SETFD, FD_CLOEXEC), 0, "F_SETFD FD_CLOEXEC");
	QT_EQ(fcntl(10, F_GETFD), FD_CLOEXEC, "F_GETFD gives it back");
	int hi = fcntl(fd, F_DUPFD, 20);
	QT_CHECK(hi >= 20, "F_DUPFD 20 gives an fd >= 20");
	QT_ERRNO(dup(-1), EBADF, "dup(-1) is EBADF");
	QT_ERRNO(fcntl(999, F_GETFD), EBADF, "F_GETFD of a closed fd is EBADF");
	QT_ERRNO(read(999, buf, 1), EBADF, "read of a closed fd is EBADF");
	QT_EQ(close(fd), 0, "close the original");
	QT_CHECK(pread(10, buf, 5, 0) == 5 && memcmp(buf, "hello", 5) == 0,
		 "a dup outlives the original");
	close(d);
	close(10);
	close(11);
	close(hi);
}

static void pipe_checks(void)
{
	int p[2], q[2];
	char buf[64];
	QT_EQ(syscall(SYS_pipe, p), 0, "pipe(2)");
	QT_EQ(write(p[1], "ping", 4), 4, "write into the pipe");
	QT_CHECK(read(p[0], buf, sizeof(buf)) == 4 && memcmp(buf, "ping", 4) == 0, "read it back");
	struct stat st;
	QT_CHECK(fstat(p[0], &st) == 0 && S_ISFIFO(st.st_mode), "fstat of a pipe is S_IFIFO");
	QT_ERRNO(lseek(p[0], 0, SEEK_SET), ESPIPE, "lseek of a pipe is ESPIPE");
	QT_ERRNO(ioctl(p[0], TCGETS, &(struct termios){ 0 }), ENOTTY,
		 "ioctl TCGETS on a pipe is ENOTTY");
	struct iovec out[2] = { { (void *)"ab", 2 }, { (void *)"cd", 2 } };
	QT_EQ(writev(p[1], out, 2), 4, "writev into a pipe");
	char x[1], y[8];
	struct iovec in[2] = { { x, 1 }, { y, 8 } };
	QT_EQ(readv(p[0], in, 2), 4, "readv from a pipe");
	QT_CHECK(x[0] == 'a' && memcmp(y, "bcd", 3) == 0, "readv splits the pipe's bytes");

	/* 1 MiB in 4 KiB steps, single-threaded: write one, read one. */
	static char chunk[4096];
	unsigned long long hw = QT_FNV_INIT, hr = QT_FNV_INIT;
	int ok = 1;
	for (int i = 0; ok && i < 256; i++) {
		for (size_t j = 0; j < sizeof(chunk); j++)
			chunk[j] = (char)(i ^ (int)j);
		hw = qt_fnv(chunk, sizeof(chunk), hw);
		ok = write(p[1], chunk, sizeof(chunk)) == (ssize_t)sizeof(chunk);
		size_t got = 0;
		while (ok && got < sizeof(chunk)) {
			ssize_t r = read(p[0], chunk + got, sizeof(chunk) - got);
			ok = r > 0;
			got += r > 0 ? (size_t)r : 0;
		}
		hr = qt_fnv(chunk, sizeof(chunk), hr);
	}
	QT_CHECK(ok && hr == hw, "1 MiB through a pipe arrives intact");

	/* A dup of the write end keeps the pipe open; closing both gives EOF. */
	int w2 = dup(p[1]);
	close(p[1]);
	QT_EQ(write(w2, "z", 1), 1, "write through a dup of the write end");
	QT_CHECK(read(p[0], buf, 1) == 1 && buf[0] == 'z', "and read it");
	close(w2);
	QT_EQ(read(p[0], buf, 1), 0, "read with no writer left is EOF (0)");
	close(p[0]);

	QT_EQ(pipe2(q, O_CLOEXEC | O_NONBLOCK), 0, "pipe2 O_CLOEXEC|O_NONBLOCK");
	QT_EQ(fcntl(q[0], F_GETFD), FD_CLOEXEC, "pipe2 O_CLOEXEC shows in F_GETFD");
	QT_EQ(fcntl(q[1], F_GETFL) & O_NONBLOCK, O_NONBLOCK, "pipe2 O_NONBLOCK shows in F_GETFL");
	QT_ERRNO(read(q[0], buf, 1), EAGAIN, "read of an empty non-blocking pipe is EAGAIN");
	/* Fill it: the capacity is the kernel's choice, only that it ends is checked. */
	size_t filled = 0;
	ssize_t r;
	while ((r = write(q[1], chunk, sizeof(chunk))) > 0 && filled < 64 * 1024 * 1024)
		filled += (size_t)r;
	QT_CHECK(r == -1 && errno == EAGAIN && filled >= 4096,
		 "a full non-blocking pipe says EAGAIN");
	size_t drained = 0;
	while ((r = read(q[0], chunk, sizeof(chunk))) > 0)
		drained += (size_t)r;
	QT_CHECK(drained == filled, "everything written is read back");
	QT_ERRNO(pipe2(p, 0x40000000), EINVAL, "pipe2 with bad flags is EINVAL");

	/* With SIGPIPE ignored, a write with no reader is EPIPE. */
	QT_EQ(sigaction(SIGPIPE, &(struct sigaction){ .sa_handler = SIG_IGN }, NULL), 0,
	      "ignore SIGPIPE");
	close(q[0]);
	QT_ERRNO(write(q[1], "x", 1), EPIPE, "write with no reader left is EPIPE");
	close(q[1]);
}

static void stdio_checks(void)
{
	/* The caller's stdio: whether each is a terminal is the caller's, shown as such. */
	for (int fd = 0; fd < 3; fd++) {
		struct termios t;
		struct winsize ws;
		errno = 0;
		int tc = ioctl(fd, TCGETS, &t);
		int tcerr = errno;
		errno = 0;
		int wz = ioctl(fd, TIOCGWINSZ, &ws);
		int wzerr = errno;
		printf("fd %d: TCGETS %s, TIOCGWINSZ %s\n", fd, tc == 0 ? "ok" : qt_errname(tcerr),
		       wz == 0 ? "ok" : qt_errname(wzerr));
	}
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: qt_files DIR (DIR holds only link -> a.txt)\n");
		return 2;
	}
	char base[4096];
	QT_EQ(chdir(argv[1]), 0, "chdir to the scratch directory");
	QT_CHECK(getcwd(base, sizeof(base)) && base[0] == '/', "getcwd is absolute");
	char link[16] = "";
	if (readlink("link", link, sizeof(link) - 1) != 5 || strcmp(link, "a.txt")) {
		printf("FAIL: %s/link -> a.txt is missing (make it with ln -s a.txt DIR/link)\n",
		       argv[1]);
		return 1;
	}
	print_listing("at start", 4096);
	write_read_checks();
	stat_checks();
	dir_checks(base);
	mmap_checks();
	dup_checks();
	pipe_checks();
	stdio_checks();
	QT_EQ(unlink("a.txt"), 0, "unlink a.txt");
	QT_EQ(unlink("v.txt"), 0, "unlink v.txt");
	print_listing("at the end", 4096);
	return qt_finish("qt_files");
}
