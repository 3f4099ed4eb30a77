/* SPDX-License-Identifier: MIT */
/*
 * Description: qt_escape: a program that tries to leave its root directory.
 * It runs as / of the root that mkroot-escape.sh prepares (natively under
 * chroot, or under `quark run --rootfs`), where /etc/marker says "inside the
 * root" and the same file one and more levels above the root says
 * "OUTSIDE". Through `..` past /, the symbolic links `up -> ../../..` and
 * `abs -> /`, absolute link targets, directory fds and chdir, every path
 * must end inside the root: the marker read is always the inside one, the
 * host's /bin is never visible, `..` of / is /, readlink returns the link
 * text, the loop `loop1 -> loop2 -> loop1` gives ELOOP, and what is created
 * through an escaping path lands inside.
 *
 *   qt_escape
 *
 * Exit status: 0 when every check passed, 1 otherwise.
 */
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "qt.h"

static const char inside[] = "inside the root\n";

/* Reads up to 63 bytes of path relative to dirfd; "" on error (errno kept). */
static const char *slurp_at(int dirfd, const char *path)
{
	static char buf[64];
	int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return "";
	ssize_t r = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[r > 0 ? r : 0] = 0;
	return buf;
}

static void marker_is_inside(int dirfd, const char *path)
{
	char what[256];
	const char *got = slurp_at(dirfd, path);
	snprintf(what, sizeof(what), "%s reads the inside marker", path);
	qt_result(strcmp(got, inside) == 0, what, "read '%.*s' errno %s", (int)strcspn(got, "\n"),
		  got, qt_errname(errno));
}

static void cwd_is(const char *want, const char *what)
{
	char cwd[256];
	const char *r = getcwd(cwd, sizeof(cwd));
	qt_result(r && strcmp(cwd, want) == 0, what, "getcwd gave '%s'", r ? cwd : "(error)");
}

static int same_file(const char *a, const char *b)
{
	struct stat sa, sb;
	return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_ino == sb.st_ino &&
	       sa.st_dev == sb.st_dev;
}

int main(void)
{
	QT_EQ(chdir("/"), 0, "chdir /");
	marker_is_inside(AT_FDCWD, "/etc/marker");
	marker_is_inside(AT_FDCWD, "/../../etc/marker");
	marker_is_inside(AT_FDCWD, "/../etc/../../etc/marker");
	marker_is_inside(AT_FDCWD, "../../../../../../../../etc/marker");
	marker_is_inside(AT_FDCWD, "up/etc/marker");
	marker_is_inside(AT_FDCWD, "/up/etc/marker");
	marker_is_inside(AT_FDCWD, "/up/up/up/etc/marker");
	marker_is_inside(AT_FDCWD, "/abs/etc/marker");
	marker_is_inside(AT_FDCWD, "/abs/abs/up/abs/etc/marker");
	marker_is_inside(AT_FDCWD, "/markerlink");
	marker_is_inside(AT_FDCWD, "/sub/dir/../../../../etc/marker");
	marker_is_inside(AT_FDCWD, "/sub/dir/uplink/etc/marker");
	int dfd = open("/sub/dir", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	QT_CHECK(dfd >= 0, "open /sub/dir");
	marker_is_inside(dfd, "../../../../../etc/marker");
	marker_is_inside(dfd, "uplink/etc/marker");
	marker_is_inside(dfd, "/etc/marker");
	close(dfd);

	/* The host's own tree is not there, however it is asked for. */
	QT_ERRNO(access("/bin/busybox", F_OK), ENOENT, "/bin/busybox is not visible");
	QT_ERRNO(access("/up/bin", F_OK), ENOENT, "/up/bin is not visible");
	QT_ERRNO(access("/abs/../bin", F_OK), ENOENT, "/abs/../bin is not visible");
	QT_ERRNO(access("/../root", F_OK), ENOENT, "the root's own name is not visible above it");
	QT_CHECK(same_file("/..", "/"), "/.. is /");
	QT_CHECK(same_file("/up", "/"), "/up is /");
	QT_CHECK(same_file("/abs", "/"), "/abs is /");
	QT_CHECK(same_file("/sub/dir/uplink", "/"), "/sub/dir/uplink is /");

	/* chdir through the same paths, and getcwd relative to the root. */
	QT_EQ(chdir("/sub/dir"), 0, "chdir /sub/dir");
	cwd_is("/sub/dir", "getcwd is /sub/dir");
	QT_EQ(chdir("../../../.."), 0, "chdir ../../../..");
	cwd_is("/", "getcwd after climbing past / is /");
	QT_EQ(chdir("/up"), 0, "chdir /up");
	cwd_is("/", "getcwd in /up is /");
	QT_EQ(chdir("/abs/sub"), 0, "chdir /abs/sub");
	cwd_is("/sub", "getcwd in /abs/sub is /sub");
	QT_EQ(syscall(SYS_chdir, "/sub/dir/uplink"), 0, "chdir /sub/dir/uplink");
	cwd_is("/", "getcwd there is /");
	dfd = open("/up/up", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	QT_EQ(fchdir(dfd), 0, "fchdir to an fd of /up/up");
	cwd_is("/", "getcwd there is /");
	close(dfd);

	/* The links themselves read back as written. */
	char buf[64];
	memset(buf, 0, sizeof(buf));
	QT_CHECK(readlink("/up", buf, sizeof(buf)) == 8 && strcmp(buf, "../../..") == 0,
		 "readlink /up is ../../..");
	memset(buf, 0, sizeof(buf));
	QT_CHECK(readlink("/abs", buf, sizeof(buf)) == 1 && strcmp(buf, "/") == 0,
		 "readlink /abs is /");
	memset(buf, 0, sizeof(buf));
	QT_CHECK(readlink("/up/markerlink", buf, sizeof(buf)) == 11 &&
			 strcmp(buf, "/etc/marker") == 0,
		 "readlink /up/markerlink is /etc/marker");
	memset(buf, 0, sizeof(buf));
	QT_CHECK(readlinkat(AT_FDCWD, "/loop1", buf, sizeof(buf)) == 5 && strcmp(buf, "loop2") == 0,
		 "readlinkat /loop1 is loop2");

	/* Loops end in ELOOP, never in a hang. */
	QT_ERRNO(open("/loop1", O_RDONLY), ELOOP, "open /loop1 is ELOOP");
	QT_ERRNO(open("/loop1/x", O_RDONLY), ELOOP, "open /loop1/x is ELOOP");
	struct stat st;
	QT_ERRNO(syscall(SYS_stat, "/loop2", &st), ELOOP, "stat /loop2 is ELOOP");
	QT_CHECK(syscall(SYS_lstat, "/loop1", &st) == 0 && S_ISLNK(st.st_mode),
		 "lstat /loop1 is the link");
	QT_ERRNO(chdir("/loop1"), ELOOP, "chdir /loop1 is ELOOP");
	QT_ERRNO(open("/abs", O_RDONLY | O_NOFOLLOW), ELOOP, "O_NOFOLLOW on /abs is ELOOP");

	/* What is made through an escaping path is made inside. */
	QT_EQ(syscall(SYS_mkdir, "/up/made-by-up", 0755), 0, "mkdir /up/made-by-up");
	QT_EQ(access("/made-by-up", F_OK), 0, "it is /made-by-up");
	QT_EQ(rmdir("/made-by-up"), 0, "rmdir /made-by-up");
	int fd = open("/../../made-by-dotdot", O_CREAT | O_WRONLY | O_EXCL | O_CLOEXEC, 0644);
	QT_CHECK(fd >= 0, "create /../../made-by-dotdot");
	close(fd);
	QT_EQ(access("/made-by-dotdot", F_OK), 0, "it is /made-by-dotdot");
	QT_EQ(unlink("/abs/made-by-dotdot"), 0, "unlink it through /abs");
	return qt_finish("qt_escape");
}
