// SPDX-License-Identifier: MIT
/*
 * QVisor's forwarded operations: files, the terminal, randomness and sleep,
 * done on the host for a guest that must be assumed hostile from its first
 * instruction.
 *
 * What the guest controls. Everything in a struct quark_hcall (the op, the
 * six arguments) and every byte of guest memory, which it may rewrite from
 * another vCPU while the host works. So the host
 *
 *   - range-checks every guest-physical (address, length) with
 *     qv_gmem_ptr() before it touches a byte, overflow included;
 *   - copies what steers it out of guest memory ONCE into its own memory
 *     and only then checks and uses that copy: the segment array of a
 *     READV/WRITEV (at most QUARK_MAX_SEGS) and every path. A guest that
 *     rewrites the array after the copy changes nothing: the host never
 *     looks at it again (a classic double fetch otherwise: check a length,
 *     then use a larger one);
 *   - moves data straight between the host file and guest memory
 *     (readv/writev/preadv/pwritev/getrandom/getdents64/readlinkat on
 *     checked host pointers): the bytes themselves steer nothing, so they
 *     need no copy, and the kernel's copy is the only one;
 *   - writes only the result (through the caller, into hc->ret) and the
 *     output buffers the operation names, each range-checked.
 *
 * Handles. The guest never sees a host fd. The host keeps a table of up
 * to QUARK_MAX_HANDLES fds and gives out indexes, lowest free first like
 * fds; an index that is out of range or free is -EBADF. 0, 1, 2 are dups of
 * QVisor's stdio (the guest may close them: it closes the dup). Every host
 * fd is O_CLOEXEC. The root directory the confinement rests on is a
 * private fd outside the table, so closing its handle changes nothing.
 *
 *     fds[]   0 stdin  1 stdout  2 stderr  3 root  4 cwd  5.. what the guest opened
 *     root_fd (private)   proc_fd (private: /proc, for readlinkat)
 *
 * Paths. Every lookup is one openat2(root_fd, "/inner/path", how) with
 * RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS: the kernel itself treats root_fd
 * as "/" for the whole walk, so "..", absolute symlinks ("/etc/passwd")
 * and relative ones ("../../..") all stay inside, symlink loops end in
 * -ELOOP, and /proc-style magic links (which jump anywhere) are refused.
 * Confinement therefore never depends on the host's string handling being
 * right, only on this one flag on this one fd.
 *
 * A relative guest path is relative to a directory handle. openat2 with that
 * directory as dirfd and RESOLVE_IN_ROOT would make the DIRECTORY the root
 * ("sub/.." from "/a" must reach "/", and an absolute symlink found under
 * "/a" must start at the real root, not at "/a"). So the host asks the
 * kernel where the handle is (readlinkat of /proc/self/fd/N, which follows
 * renames), strips the root's own host path, and resolves "<dir>/<path>"
 * from root_fd as above. If that string is stale (a concurrent rename) the
 * walk may name another file, but still one inside the root; a directory
 * that was deleted, or moved out of the root by someone on the host, is
 * -ENOENT. Relative paths are thereby limited to PATH_MAX including the
 * directory's own path (-ENAMETOOLONG past it; Linux would allow more).
 *
 * System calls with no openat2 form get the same guarantee two ways:
 *
 *   - those that look at the final object (fstatat, statx, readlinkat,
 *     faccessat) open it O_PATH through openat2, with O_NOFOLLOW when the
 *     caller did not want a final symlink followed (a trailing slash still
 *     follows, as in Linux), then act on that fd with AT_EMPTY_PATH;
 *   - those that change a directory (mkdirat, unlinkat, renameat) open the
 *     PARENT through openat2 (O_PATH | O_DIRECTORY) and pass the last
 *     component alone, trailing slashes kept: none of the three follows a
 *     final symlink, and one component cannot walk anywhere. A last
 *     component of ".", ".." or the root itself gets Linux's own errno
 *     (EEXIST, EISDIR, EINVAL, ENOTEMPTY, EBUSY) without a system call.
 *
 * What a root may contain is the host user's business, not the guest's (it
 * cannot make device nodes or mounts), but the guest must not turn the
 * host's kernel interfaces against QVisor itself, so opens that would give
 * a readable or writable fd refuse, with -EACCES, block devices, character
 * devices other than null, zero, full, random and urandom, and files on
 * kernel filesystems (proc, sys, debugfs, cgroups, bpf, ...; a rootfs with
 * /proc mounted would otherwise offer /proc/self/mem of QVisor). The check
 * runs on the opened fd, so it cannot be raced; opening a device has side
 * effects the check comes too late for, which is why roots should not hold
 * devices in the first place. Files the guest creates never get the
 * set-user-ID or set-group-ID bits (QVisor may run as root; a set-uid-root
 * program in a root a host user can reach would be theirs to run).
 *
 * Modes are the guest's own (QKernel applies the program's umask), so they
 * must arrive as asked: qv_fwd_open() sets QVisor's umask to 0.
 *
 * After qv_seccomp_lockdown() (seccomp.c) only openat2 can open anything,
 * so every open here, O_PATH ones included, is openat2.
 *
 * Costs: a relative path costs one fstat and one readlinkat more than an
 * absolute one (relative to the root handle only the fstat); a stat-like
 * call is an openat2 + the call + close. Opens are rare next to reads and
 * writes, which cost the system call alone.
 *
 * References: openat2(2) and path_resolution(7); the confinement idea is
 * gVisor's gofer and Quark's host-fd passthrough (docs/quark.md), done with
 * the kernel's RESOLVE_IN_ROOT instead of a path walk in user space.
 */
#include "fwd.h"

#include "log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

/* The guest reads these as x86-64 Linux structs; glibc's are the kernel's there. */
_Static_assert(sizeof(struct stat) == 144, "struct stat is the x86-64 kernel layout");
_Static_assert(sizeof(struct statx) == 256, "struct statx is the kernel layout");
_Static_assert(sizeof(struct quark_seg) == sizeof(uint64_t) * 2, "seg");

#define QV_RESOLVE	 (RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)
#define QV_TERMIOS_SIZE	 36 /* struct termios of asm/termbits.h, what TCGETS writes */
#define QV_WINSIZE_SIZE	 8  /* struct winsize */
#define QV_OPENAT2_TRIES 8  /* RESOLVE_IN_ROOT answers EAGAIN when a rename races ".." */
#define QV_OPEN_OK_FLAGS                                                                \
	(O_ACCMODE | O_CREAT | O_EXCL | O_TRUNC | O_APPEND | O_DIRECTORY | O_NOFOLLOW | \
	 O_NONBLOCK | O_NOCTTY | O_PATH | O_DSYNC | O_SYNC)
#define QV_OPATH_OK_FLAGS (O_PATH | O_DIRECTORY | O_NOFOLLOW)
#define QV_CONFIGFS_MAGIC 0x62656570 /* fs/configfs/mount.c; not in linux/magic.h */

struct qv_fwd {
	/*
	 * Serializes the operations of several vCPU threads (queue off) or of
	 * the worker and a vCPU's nanosleep: the handle table and the counters
	 * are plain data. A sleep holds it only to count itself.
	 */
	pthread_mutex_t lock;
	int root_fd;	/* the root, O_PATH, private: what RESOLVE_IN_ROOT scopes to */
	int proc_fd;	/* /proc, O_PATH: readlinkat "self/fd/N" (per caller, fork-safe) */
	dev_t root_dev; /* the root's identity, to spot handles that are the root */
	ino_t root_ino;
	size_t root_len;	  /* strlen(root_path), 0 when the root is the host's "/" */
	uint32_t root_h;	  /* handle given out for the root */
	uint32_t cwd_h;		  /* handle given out for the initial working directory */
	unsigned nopen;		  /* handles in use */
	char root_path[PATH_MAX]; /* the root's host path as /proc/self/fd shows it */
	struct qv_fwd_op_stats stats[QUARK_OP_COUNT]; /* per op; [0] = unknown ops */
	int fds[QUARK_MAX_HANDLES];		      /* host fd per handle, -1 = free */
};

static const char *const op_names[QUARK_OP_COUNT] = {
	[0] = "unknown",
	[QUARK_OP_OPENAT] = "openat",
	[QUARK_OP_CLOSE] = "close",
	[QUARK_OP_READV] = "readv",
	[QUARK_OP_WRITEV] = "writev",
	[QUARK_OP_PREADV] = "preadv",
	[QUARK_OP_PWRITEV] = "pwritev",
	[QUARK_OP_FSTAT] = "fstat",
	[QUARK_OP_FSTATAT] = "fstatat",
	[QUARK_OP_STATX] = "statx",
	[QUARK_OP_LSEEK] = "lseek",
	[QUARK_OP_GETDENTS64] = "getdents64",
	[QUARK_OP_READLINKAT] = "readlinkat",
	[QUARK_OP_FACCESSAT] = "faccessat",
	[QUARK_OP_MKDIRAT] = "mkdirat",
	[QUARK_OP_UNLINKAT] = "unlinkat",
	[QUARK_OP_RENAMEAT] = "renameat",
	[QUARK_OP_FTRUNCATE] = "ftruncate",
	[QUARK_OP_IOCTL] = "ioctl",
	[QUARK_OP_FCNTL] = "fcntl",
	[QUARK_OP_GETPATH] = "getpath",
	[QUARK_OP_GETRANDOM] = "getrandom",
	[QUARK_OP_NANOSLEEP] = "nanosleep",
	[QUARK_OP_EXIT] = "exit",
	[QUARK_OP_FSYNC] = "fsync",
	[QUARK_OP_FUTEX] = "futex",
	[QUARK_OP_CPU_START] = "cpu-start",
	[QUARK_OP_CPU_PARK] = "cpu-park",
	[QUARK_OP_ALARM] = "alarm",
};

void *qv_gmem_ptr(const struct qv_gmem *m, uint64_t gpa, uint64_t len)
{
	/* gpa <= size first, so size - gpa cannot wrap. */
	if (!m || !m->base || gpa > m->size || len > m->size - gpa)
		return NULL;
	return m->base + gpa;
}

const char *qv_fwd_op_name(uint32_t op)
{
	return op < QUARK_OP_COUNT && op_names[op] ? op_names[op] : "unknown";
}

uint32_t qv_fwd_root_handle(const struct qv_fwd *f)
{
	return f->root_h;
}

uint32_t qv_fwd_cwd_handle(const struct qv_fwd *f)
{
	return f->cwd_h;
}

unsigned qv_fwd_open_handles(const struct qv_fwd *f)
{
	return f->nopen;
}

void qv_fwd_stats(struct qv_fwd *f, struct qv_fwd_op_stats *out)
{
	pthread_mutex_lock(&f->lock);
	memcpy(out, f->stats, sizeof(f->stats));
	pthread_mutex_unlock(&f->lock);
}

/* ---- handles ---------------------------------------------------------- */

/* The host fd of handle h, or -EBADF. */
static int handle_fd(const struct qv_fwd *f, uint64_t h)
{
	if (h >= QUARK_MAX_HANDLES || f->fds[h] < 0)
		return -EBADF;
	return f->fds[h];
}

/* Gives fd a handle (the lowest free) or closes it: the handle, or -EMFILE. */
static int64_t handle_new(struct qv_fwd *f, int fd)
{
	for (uint32_t h = 0; h < QUARK_MAX_HANDLES; h++) {
		if (f->fds[h] < 0) {
			f->fds[h] = fd;
			f->nopen++;
			return h;
		}
	}
	close(fd);
	return -EMFILE;
}

static int sys_openat2(int dirfd, const char *path, uint64_t flags, uint64_t mode, uint64_t resolve)
{
	struct open_how how = { .flags = flags | O_CLOEXEC, .mode = mode, .resolve = resolve };
	long fd = -1;

	for (int i = 0; i < QV_OPENAT2_TRIES; i++) {
		fd = syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
		/* Not EINTR: QVisor's time limit must get through a FIFO's open. */
		if (fd >= 0 || errno != EAGAIN)
			break;
	}
	return fd >= 0 ? (int)fd : -errno;
}

/* Opens an inner path ("/a/b") inside the root: an fd or -errno. */
static int root_open(const struct qv_fwd *f, const char *inner, uint64_t flags, uint64_t mode)
{
	return sys_openat2(f->root_fd, inner, flags, mode, QV_RESOLVE);
}

/* ---- paths ------------------------------------------------------------ */

/*
 * Copies a guest path out of guest memory once: len bytes, no NUL among
 * them (the host adds one). Returns len or -errno as Linux would answer.
 */
static int copy_path(const struct qv_gmem *m, uint64_t gpa, uint64_t len, char *out)
{
	const char *p;

	if (len >= QUARK_PATH_MAX)
		return -ENAMETOOLONG;
	p = qv_gmem_ptr(m, gpa, len);
	if (!p)
		return -EFAULT;
	memcpy(out, p, len);
	out[len] = '\0';
	if (memchr(out, '\0', len))
		return -EINVAL;
	return (int)len;
}

/*
 * Where host fd `fd` is inside the root, as an inner path ("/" for the root
 * itself), into out[PATH_MAX]. -ENOENT when it is not inside the root any
 * more (deleted, moved away, or never there, like a pipe or a tty).
 */
static int fd_inner_path(const struct qv_fwd *f, int fd, const struct stat *st, char *out)
{
	char name[32], host[PATH_MAX];
	const char *rest;
	ssize_t n;

	if (st->st_dev == f->root_dev && st->st_ino == f->root_ino) {
		memcpy(out, "/", 2);
		return 0;
	}
	if (st->st_nlink == 0)
		return -ENOENT; /* deleted: its path now ends in " (deleted)" */
	snprintf(name, sizeof(name), "self/fd/%d", fd);
	n = readlinkat(f->proc_fd, name, host, sizeof(host));
	if (n < 0)
		return -errno;
	if ((size_t)n >= sizeof(host))
		return -ENAMETOOLONG;
	host[n] = '\0';
	if (host[0] != '/')
		return -ENOENT; /* "pipe:[123]", "anon_inode:..." */
	if (f->root_len) {
		if (strncmp(host, f->root_path, f->root_len) != 0 ||
		    (host[f->root_len] != '\0' && host[f->root_len] != '/'))
			return -ENOENT;
		rest = host + f->root_len;
	} else {
		rest = host;
	}
	if (!*rest)
		rest = "/";
	/* rest is a tail of host[PATH_MAX], NUL included: it fits out[PATH_MAX]. */
	memmove(out, rest, strlen(rest) + 1);
	return 0;
}

/*
 * The inner path that (dir handle, guest path) names, into out[PATH_MAX].
 * Absolute guest paths ignore the handle, as absolute paths ignore dirfd.
 */
static int join_path(const struct qv_fwd *f, uint64_t dir, const char *path, char *out)
{
	size_t dl, pl = strlen(path);
	struct stat st;
	int fd, rc;

	if (path[0] == '/') {
		memcpy(out, path, pl + 1);
		return 0;
	}
	fd = handle_fd(f, dir);
	if (fd < 0)
		return fd;
	if (fstat(fd, &st) == -1)
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	rc = fd_inner_path(f, fd, &st, out);
	if (rc < 0)
		return rc;
	dl = strlen(out);
	if (dl + 1 + pl + 1 > PATH_MAX)
		return -ENAMETOOLONG;
	if (out[dl - 1] != '/')
		out[dl++] = '/';
	memcpy(out + dl, path, pl + 1);
	return 0;
}

/*
 * The object a stat-like call looks at, as an fd to use with AT_EMPTY_PATH:
 * the handle itself for an empty path (when empty_ok, else -ENOENT), or an
 * O_PATH open inside the root, following a final symlink only if `follow`.
 * *owned says whether the caller must close it.
 */
static int target_open(const struct qv_fwd *f, const struct qv_gmem *m, const uint64_t *a,
		       bool follow, bool empty_ok, bool *owned)
{
	char path[QUARK_PATH_MAX], inner[PATH_MAX];
	int rc;

	*owned = false;
	rc = copy_path(m, a[1], a[2], path);
	if (rc < 0)
		return rc;
	if (rc == 0)
		return empty_ok ? handle_fd(f, a[0]) : -ENOENT;
	rc = join_path(f, a[0], path, inner);
	if (rc < 0)
		return rc;
	rc = root_open(f, inner, O_PATH | (follow ? 0 : O_NOFOLLOW), 0);
	*owned = rc >= 0;
	return rc;
}

/* What the last component of a path is, for the directory-changing calls. */
enum qv_last {
	QV_LAST_NORM = 0, /* a name */
	QV_LAST_DOT,	  /* "." */
	QV_LAST_DOTDOT,	  /* ".." */
	QV_LAST_ROOT,	  /* nothing but slashes: the root */
};

/*
 * Splits the path (dir handle a[0], guest path at a[1], a[2]) into its parent
 * directory, opened O_PATH inside the root into *pfd (-1 for QV_LAST_ROOT),
 * and its last component, trailing slashes kept, copied into last[]. Returns
 * an enum qv_last or -errno (an empty path is -ENOENT).
 */
static int parent_open(const struct qv_fwd *f, const struct qv_gmem *m, uint64_t dir, uint64_t gpa,
		       uint64_t len, int *pfd, char *last)
{
	char path[QUARK_PATH_MAX], inner[PATH_MAX];
	size_t e, s, cl;
	int rc;

	*pfd = -1;
	rc = copy_path(m, gpa, len, path);
	if (rc < 0)
		return rc;
	if (rc == 0)
		return -ENOENT;
	rc = join_path(f, dir, path, inner);
	if (rc < 0)
		return rc;
	for (e = strlen(inner); e > 0 && inner[e - 1] == '/'; e--)
		;
	if (e == 0)
		return QV_LAST_ROOT;
	for (s = e; s > 0 && inner[s - 1] != '/'; s--)
		;
	memcpy(last, inner + s, strlen(inner + s) + 1); /* last[] is as long as inner[] */
	inner[s] = '\0'; /* the parent, with its slash: "/" at least */
	rc = root_open(f, inner, O_PATH | O_DIRECTORY, 0);
	if (rc < 0)
		return rc;
	*pfd = rc;
	cl = e - s;
	if (cl == 1 && last[0] == '.')
		return QV_LAST_DOT;
	if (cl == 2 && last[0] == '.' && last[1] == '.')
		return QV_LAST_DOTDOT;
	return QV_LAST_NORM;
}

/* ---- policy on what an open may hand the guest ------------------------ */

/* Kernel filesystems whose files act on the host (or on QVisor itself). */
static bool kernel_fs(long type)
{
	switch (type) {
	case PROC_SUPER_MAGIC:
	case SYSFS_MAGIC:
	case DEBUGFS_MAGIC:
	case TRACEFS_MAGIC:
	case SECURITYFS_MAGIC:
	case CGROUP_SUPER_MAGIC:
	case CGROUP2_SUPER_MAGIC:
	case BPF_FS_MAGIC:
	case QV_CONFIGFS_MAGIC:
	case EFIVARFS_MAGIC:
	case PSTOREFS_MAGIC:
	case SELINUX_MAGIC:
	case SMACK_MAGIC:
		return true;
	default:
		return false;
	}
}

/* 0 if the guest may hold an open fd on this file, else -EACCES. */
static int open_allowed(int fd)
{
	struct statfs sfs;
	struct stat st;

	if (fstat(fd, &st) == -1 || fstatfs(fd, &sfs) == -1)
		return -errno;
	if (kernel_fs((long)sfs.f_type) || S_ISBLK(st.st_mode))
		return -EACCES;
	if (S_ISCHR(st.st_mode)) {
		unsigned maj = major(st.st_rdev), min = minor(st.st_rdev);

		/* mem: 3 null, 5 zero, 7 full, 8 random, 9 urandom */
		if (maj != 1 || (min != 3 && min != 5 && min != 7 && min != 8 && min != 9))
			return -EACCES;
	}
	return 0;
}

/* ---- the operations ----------------------------------------------------- */

static int64_t op_openat(struct qv_fwd *f, const struct qv_gmem *m, const uint64_t *a)
{
	char path[QUARK_PATH_MAX], inner[PATH_MAX];
	uint64_t flags = a[3], mode = 0;
	int fd, rc;

	/* O_TMPFILE's own bit: a nameless file we could not account for. */
	if (flags & (O_TMPFILE & ~O_DIRECTORY))
		return -EOPNOTSUPP;
	rc = copy_path(m, a[1], a[2], path);
	if (rc < 0)
		return rc;
	if (rc == 0)
		return -ENOENT;
	/*
	 * open(2) ignores flags it does not know; openat2 refuses them, and
	 * some it knows we do not want (O_NOATIME, O_DIRECT, O_ASYNC, the
	 * always-set O_LARGEFILE): drop them all, as open(2) would the
	 * unknown ones. O_PATH takes only a few companions.
	 */
	flags &= (flags & O_PATH) ? QV_OPATH_OK_FLAGS : QV_OPEN_OK_FLAGS;
	/*
	 * No set-user-ID or set-group-ID files: QVisor may run as root, and a
	 * set-uid-root program made by the guest would be the host's problem.
	 */
	if (flags & O_CREAT)
		mode = a[4] & 01777;
	rc = join_path(f, a[0], path, inner);
	if (rc < 0)
		return rc;
	fd = root_open(f, inner, flags, mode);
	if (fd < 0)
		return fd;
	if (!(flags & O_PATH)) {
		rc = open_allowed(fd);
		if (rc < 0)
			goto out_close;
	}
	return handle_new(f, fd);
out_close:
	close(fd);
	return rc;
}

static int64_t op_close(struct qv_fwd *f, uint64_t h)
{
	int fd = handle_fd(f, h);

	if (fd < 0)
		return fd;
	f->fds[h] = -1;
	f->nopen--;
	/* The handle is gone whatever close says (Linux: the fd is released). */
	if (close(fd) == -1 && errno != EINTR)
		return -errno;
	return 0;
}

static int64_t op_rw(struct qv_fwd *f, const struct qv_gmem *m, uint32_t op, const uint64_t *a)
{
	struct quark_seg segs[QUARK_MAX_SEGS];
	struct iovec iov[QUARK_MAX_SEGS];
	uint64_t n = a[2], total = 0;
	const void *src;
	ssize_t r;
	int fd;

	fd = handle_fd(f, a[0]);
	if (fd < 0)
		return fd;
	if (n > QUARK_MAX_SEGS)
		return -EINVAL;
	src = qv_gmem_ptr(m, a[1], n * sizeof(segs[0]));
	if (!src)
		return -EFAULT;
	/* The one read of the array: everything below uses the copy. */
	memcpy(segs, src, n * sizeof(segs[0]));
	for (uint64_t i = 0; i < n; i++) {
		uint64_t len = segs[i].len;

		if (len > INT64_MAX)
			return -EINVAL;
		iov[i].iov_base = qv_gmem_ptr(m, segs[i].gpa, len);
		if (!iov[i].iov_base)
			return -EFAULT;
		/* Linux moves at most MAX_RW_COUNT a call and truncates the rest. */
		if (len > QUARK_MAX_IO - total)
			len = QUARK_MAX_IO - total;
		iov[i].iov_len = len;
		total += len;
	}
	switch (op) {
	case QUARK_OP_READV:
		r = readv(fd, iov, (int)n);
		break;
	case QUARK_OP_WRITEV:
		r = writev(fd, iov, (int)n);
		break;
	case QUARK_OP_PREADV:
		r = preadv(fd, iov, (int)n, (off_t)a[3]);
		break;
	default:
		r = pwritev(fd, iov, (int)n, (off_t)a[3]);
		break;
	}
	return r < 0 ? -errno : r;
}

static int64_t op_fstat(struct qv_fwd *f, const struct qv_gmem *m, const uint64_t *a)
{
	void *dst = qv_gmem_ptr(m, a[1], sizeof(struct stat));
	int fd = handle_fd(f, a[0]);
	struct stat st;

	if (fd < 0)
		return fd;
	if (!dst)
		return -EFAULT;
	if (fstat(fd, &st) == -1)
		return -errno;
	memcpy(dst, &st, sizeof(st));
	return 0;
}

/* FSTATAT: dir_h, path_gpa, path_len, stat_gpa, flags. */
static int64_t op_fstatat(struct qv_fwd *f, const struct qv_gmem *m, const uint64_t *a)
{
	void *dst = qv_gmem_ptr(m, a[3], sizeof(struct stat));
	uint64_t flags = a[4];
	struct stat st;
	bool owned;
	int fd, rc = 0;

	if (flags & ~(uint64_t)(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH | AT_NO_AUTOMOUNT))
		return -EINVAL;
	if (!dst)
		return -EFAULT;
	fd = target_open(f, m, a, !(flags & AT_SYMLINK_NOFOLLOW), flags & AT_EMPTY_PATH, &owned);
	if (fd < 0)
		return fd;
	if (fstatat(fd, "", &st, AT_EMPTY_PATH) == -1)
		rc = -errno;
	else
		memcpy(dst, &st, sizeof(st));
	if (owned)
		close(fd);
	return rc;
}

/* STATX: dir_h, path_gpa, path_len, flags, mask, statx_gpa. */
static int64_t op_statx(struct qv_fwd *f, const struct qv_gmem *m, const uint64_t *a)
{
	const uint64_t ok =
		AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH | AT_NO_AUTOMOUNT | AT_STATX_SYNC_TYPE;
	void *dst = qv_gmem_ptr(m, a[5], sizeof(struct statx));
	uint64_t flags = a[3];
	struct statx stx;
	bool owned;
	int fd, rc = 0;

	if ((flags & ~ok) || (flags & AT_STATX_SYNC_TYPE) == AT_STATX_SYNC_TYPE ||
	    (a[4] & ~(uint64_t)UINT32_MAX) || (a[4] & STATX__RESERVED))
		return -EINVAL;
	if (!dst)
		return -EFAULT;
	fd = target_open(f, m, a, !(flags & AT_SYMLINK_NOFOLLOW), flags & AT_EMPTY_PATH, &owned);
	if (fd < 0)
		return fd;
	if (statx(fd, "", AT_EMPTY_PATH | (int)(flags & AT_STATX_SYNC_TYPE), (unsigned)a[4],
		  &stx) == -1)
		rc = -errno;
	else
		memcpy(dst, &stx, sizeof(stx));
	if (owned)
		close(fd);
	return rc;
}

static int64_t op_lseek(struct qv_fwd *f, const uint64_t *a)
{
	int fd = handle_fd(f, a[0]);
	off_t r;

	if (fd < 0)
		return fd;
	if (a[2] > INT_MAX)
		return -EINVAL;
	r = lseek(fd, (off_t)a[1], (int)a[2]);
	return r < 0 ? -errno : r;
}

static int64_t op_getdents64(struct qv_fwd *f, const struct qv_gmem *m, const uint64_t *a)
{
	uint64_t len = a[2] > QUARK_MAX_IO ? QUARK_MAX_IO : a[2];
	int fd = handle_fd(f, a[0]);
	void *dst;
	ssize_t r;

	if (fd < 0)
		return fd;
	dst = qv_gmem_ptr(m, a[1], len);
	if (!dst)
		return -EFAULT;
	r = getdents64(fd, dst, len);
	return r < 0 ? -errno : r;
}

/* READLINKAT: dir_h, path_gpa, path_len, buf_gpa, buf_len. */
static int64_t op_readlinkat(struct qv_fwd *f, const struct qv_gmem *m, const uint64_t *a)
{
	uint64_t len = a[4];
	bool owned;
	void *dst;
	ssize_t r;
	int fd;

	if (len == 0 || len > INT_MAX)
		return -EINVAL; /* readlinkat's bufsiz is an int > 0 */
	dst = qv_gmem_ptr(m, a[3], len);
	if (!dst)
		return -EFAULT;
	fd = target_open(f, m, a, false, true, &owned);
	if (fd < 0)
		return fd;
	r = readlinkat(fd, "", dst, len);
	if (r < 0) {
		r = -errno;
		/* On our own fd ENOENT means "not a symlink": Linux says EINVAL. */
		if (r == -ENOENT && owned)
			r = -EINVAL;
	}
	if (owned)
		close(fd);
	return r;
}

/* FACCESSAT: dir_h, path_gpa, path_len, mode, flags. */
static int64_t op_faccessat(struct qv_fwd *f, const struct qv_gmem *m, const uint64_t *a)
{
	uint64_t mode = a[3], flags = a[4];
	bool owned;
	int fd, rc = 0;

	if ((mode & ~(uint64_t)(R_OK | W_OK | X_OK)) ||
	    (flags & ~(uint64_t)(AT_EACCESS | AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH)))
		return -EINVAL;
	fd = target_open(f, m, a, !(flags & AT_SYMLINK_NOFOLLOW), flags & AT_EMPTY_PATH, &owned);
	if (fd < 0)
		return fd;
	if (syscall(SYS_faccessat2, fd, "", (int)mode, AT_EMPTY_PATH | (int)(flags & AT_EACCESS)) ==
	    -1)
		rc = -errno;
	if (owned)
		close(fd);
	return rc;
}

/* MKDIRAT: dir_h, path_gpa, path_len, mode. */
static int64_t op_mkdirat(struct qv_fwd *f, const struct qv_gmem *m, const uint64_t *a)
{
	char last[QUARK_PATH_MAX];
	int pfd, rc;

	rc = parent_open(f, m, a[0], a[1], a[2], &pfd, last);
	if (rc < 0)
		return rc;
	if (rc != QV_LAST_NORM) {
		rc = -EEXIST; /* "/", "x/." and "x/.." all exist */
		goto out_close;
	}
	rc = mkdirat(pfd, last, (mode_t)(a[3] & 07777)) == -1 ? -errno : 0;
out_close:
	if (pfd >= 0)
		close(pfd);
	return rc;
}

/* UNLINKAT: dir_h, path_gpa, path_len, flags. */
static int64_t op_unlinkat(struct qv_fwd *f, const struct qv_gmem *m, const uint64_t *a)
{
	bool rmdir = a[3] & AT_REMOVEDIR;
	char last[QUARK_PATH_MAX];
	int pfd, rc;

	if (a[3] & ~(uint64_t)AT_REMOVEDIR)
		return -EINVAL;
	rc = parent_open(f, m, a[0], a[1], a[2], &pfd, last);
	if (rc < 0)
		return rc;
	switch (rc) {
	case QV_LAST_NORM:
		rc = unlinkat(pfd, last, rmdir ? AT_REMOVEDIR : 0) == -1 ? -errno : 0;
		break;
	case QV_LAST_DOT: /* Linux's answers for rmdir, and for unlink of any of these */
		rc = rmdir ? -EINVAL : -EISDIR;
		break;
	case QV_LAST_DOTDOT:
		rc = rmdir ? -ENOTEMPTY : -EISDIR;
		break;
	default:
		rc = rmdir ? -EBUSY : -EISDIR;
		break;
	}
	if (pfd >= 0)
		close(pfd);
	return rc;
}

/* RENAMEAT: old_dir_h, old_gpa, old_len, new_dir_h, new_gpa, new_len. */
static int64_t op_renameat(struct qv_fwd *f, const struct qv_gmem *m, const uint64_t *a)
{
	char olast[QUARK_PATH_MAX], nlast[QUARK_PATH_MAX];
	int ofd, nfd = -1, rc;

	rc = parent_open(f, m, a[0], a[1], a[2], &ofd, olast);
	if (rc < 0)
		return rc;
	if (rc != QV_LAST_NORM) {
		rc = -EBUSY;
		goto out_close;
	}
	rc = parent_open(f, m, a[3], a[4], a[5], &nfd, nlast);
	if (rc < 0)
		goto out_close;
	if (rc != QV_LAST_NORM) {
		rc = -EBUSY;
		goto out_close;
	}
	rc = renameat(ofd, olast, nfd, nlast) == -1 ? -errno : 0;
out_close:
	if (nfd >= 0)
		close(nfd);
	if (ofd >= 0)
		close(ofd);
	return rc;
}

static int64_t op_ioctl(struct qv_fwd *f, const struct qv_gmem *m, const uint64_t *a)
{
	/* Linux's ioctl request is an unsigned int: the upper bits are ignored. */
	unsigned req = (unsigned)a[1];
	unsigned char buf[64];
	size_t len;
	void *dst;
	int fd = handle_fd(f, a[0]);

	if (fd < 0)
		return fd;
	if (req == TCGETS)
		len = QV_TERMIOS_SIZE;
	else if (req == TIOCGWINSZ)
		len = QV_WINSIZE_SIZE;
	else
		return -ENOTTY;
	dst = qv_gmem_ptr(m, a[2], len);
	if (!dst)
		return -EFAULT;
	/* Into a host buffer: the kernel writes its struct, the guest gets len bytes. */
	if (ioctl(fd, (unsigned long)req, buf) == -1)
		return -errno;
	memcpy(dst, buf, len);
	return 0;
}

static int64_t op_fcntl(struct qv_fwd *f, const uint64_t *a)
{
	int fd = handle_fd(f, a[0]), r;

	if (fd < 0)
		return fd;
	switch (a[1]) {
	case F_GETFL:
		r = fcntl(fd, F_GETFL);
		break;
	case F_SETFL:
		/* Only these two: O_ASYNC would signal QVisor, O_DIRECT/O_NOATIME are not the
		 * guest's. */
		r = fcntl(fd, F_SETFL, (int)(a[2] & (O_APPEND | O_NONBLOCK)));
		break;
	default:
		return -EINVAL;
	}
	return r == -1 ? -errno : r;
}

/* GETPATH: h, buf_gpa, buf_len -> bytes including the NUL. */
static int64_t op_getpath(struct qv_fwd *f, const struct qv_gmem *m, const uint64_t *a)
{
	char inner[PATH_MAX];
	struct stat st, again;
	size_t need;
	void *dst;
	int fd = handle_fd(f, a[0]), chk, rc;

	if (fd < 0)
		return fd;
	if (fstat(fd, &st) == -1)
		return -errno;
	rc = fd_inner_path(f, fd, &st, inner);
	if (rc < 0)
		return rc;
	/*
	 * The kernel's name for the fd is a string; make sure it names this
	 * file inside the root (a name with " (deleted)" or a newline in it,
	 * or a race with rename, could make it name another one).
	 */
	chk = sys_openat2(f->root_fd, inner, O_PATH | O_NOFOLLOW, 0,
			  QV_RESOLVE | RESOLVE_NO_SYMLINKS);
	if (chk < 0)
		return -ENOENT;
	rc = fstat(chk, &again);
	close(chk);
	if (rc == -1 || again.st_dev != st.st_dev || again.st_ino != st.st_ino)
		return -ENOENT;
	need = strlen(inner) + 1;
	if (a[2] < need)
		return -ERANGE;
	dst = qv_gmem_ptr(m, a[1], need);
	if (!dst)
		return -EFAULT;
	memcpy(dst, inner, need);
	return (int64_t)need;
}

static int64_t op_getrandom(const struct qv_gmem *m, const uint64_t *a)
{
	uint64_t len = a[1] > QV_FWD_MAX_GETRANDOM ? QV_FWD_MAX_GETRANDOM : a[1];
	void *dst;
	ssize_t r;

	if ((a[2] & ~(uint64_t)(GRND_NONBLOCK | GRND_RANDOM | GRND_INSECURE)) ||
	    (a[2] & (GRND_RANDOM | GRND_INSECURE)) == (GRND_RANDOM | GRND_INSECURE))
		return -EINVAL;
	dst = qv_gmem_ptr(m, a[0], len);
	if (!dst)
		return -EFAULT;
	do
		r = getrandom(dst, len, (unsigned)a[2]);
	while (r < 0 && errno == EINTR);
	return r < 0 ? -errno : r;
}

static int64_t op_nanosleep(const uint64_t *a)
{
	uint64_t ns = a[0] > QV_FWD_MAX_SLEEP_NS ? QV_FWD_MAX_SLEEP_NS : a[0];
	struct timespec t = { .tv_sec = (time_t)(ns / 1000000000),
			      .tv_nsec = (long)(ns % 1000000000) };
	int rc;

	/* A signal for QVisor (not the guest's) must not shorten the guest's sleep. */
	while ((rc = clock_nanosleep(CLOCK_MONOTONIC, 0, &t, &t)) == EINTR)
		;
	return -rc;
}

static int64_t dispatch(struct qv_fwd *f, const struct qv_gmem *m, const struct quark_hcall *hc)
{
	const uint64_t *a = hc->args;
	int fd;

	switch (hc->op) {
	case QUARK_OP_OPENAT:
		return op_openat(f, m, a);
	case QUARK_OP_CLOSE:
		return op_close(f, a[0]);
	case QUARK_OP_READV:
	case QUARK_OP_WRITEV:
	case QUARK_OP_PREADV:
	case QUARK_OP_PWRITEV:
		return op_rw(f, m, hc->op, a);
	case QUARK_OP_FSTAT:
		return op_fstat(f, m, a);
	case QUARK_OP_FSTATAT:
		return op_fstatat(f, m, a);
	case QUARK_OP_STATX:
		return op_statx(f, m, a);
	case QUARK_OP_LSEEK:
		return op_lseek(f, a);
	case QUARK_OP_GETDENTS64:
		return op_getdents64(f, m, a);
	case QUARK_OP_READLINKAT:
		return op_readlinkat(f, m, a);
	case QUARK_OP_FACCESSAT:
		return op_faccessat(f, m, a);
	case QUARK_OP_MKDIRAT:
		return op_mkdirat(f, m, a);
	case QUARK_OP_UNLINKAT:
		return op_unlinkat(f, m, a);
	case QUARK_OP_RENAMEAT:
		return op_renameat(f, m, a);
	case QUARK_OP_FTRUNCATE:
		fd = handle_fd(f, a[0]);
		if (fd < 0)
			return fd;
		return ftruncate(fd, (off_t)a[1]) == -1 ? -errno : 0;
	case QUARK_OP_IOCTL:
		return op_ioctl(f, m, a);
	case QUARK_OP_FCNTL:
		return op_fcntl(f, a);
	case QUARK_OP_GETPATH:
		return op_getpath(f, m, a);
	case QUARK_OP_GETRANDOM:
		return op_getrandom(m, a);
	case QUARK_OP_NANOSLEEP:
		return op_nanosleep(a);
	case QUARK_OP_FSYNC:
		fd = handle_fd(f, a[0]);
		if (fd < 0)
			return fd;
		return fsync(fd) == -1 ? -errno : 0;
	default: /* QUARK_OP_EXIT, FUTEX and CPU_* are the vCPU loop's */
		return -ENOSYS;
	}
}

int64_t qv_fwd_call(struct qv_fwd *f, const struct qv_gmem *m, const struct quark_hcall *hc)
{
	uint32_t op = hc->op < QUARK_OP_COUNT ? hc->op : 0;
	int64_t r;

	if (op == QUARK_OP_NANOSLEEP) {
		r = dispatch(f, m, hc);
		pthread_mutex_lock(&f->lock);
	} else {
		pthread_mutex_lock(&f->lock);
		r = dispatch(f, m, hc);
	}
	f->stats[op].calls++;
	if (r < 0) {
		f->stats[op].errors++;
	} else {
		switch (op) {
		case QUARK_OP_READV:
		case QUARK_OP_WRITEV:
		case QUARK_OP_PREADV:
		case QUARK_OP_PWRITEV:
		case QUARK_OP_GETDENTS64:
		case QUARK_OP_READLINKAT:
		case QUARK_OP_GETRANDOM:
		case QUARK_OP_GETPATH:
			f->stats[op].bytes += (uint64_t)r;
			break;
		case QUARK_OP_FSTAT:
		case QUARK_OP_FSTATAT:
			f->stats[op].bytes += sizeof(struct stat);
			break;
		case QUARK_OP_STATX:
			f->stats[op].bytes += sizeof(struct statx);
			break;
		default:
			break;
		}
	}
	pthread_mutex_unlock(&f->lock);
	return r;
}

/* ---- set-up and tear-down ----------------------------------------------- */

static int stdio_dup(int fd)
{
	int r = fcntl(fd, F_DUPFD_CLOEXEC, 0);

	if (r < 0 && errno == EBADF)
		r = open("/dev/null", O_RDWR | O_CLOEXEC);
	return r < 0 ? -errno : r;
}

int qv_fwd_open(struct qv_fwd **out, const char *rootfs, const char *workdir, char *err,
		size_t errlen)
{
	char name[32];
	struct qv_fwd *f;
	struct stat st;
	ssize_t n;
	const char *wd = workdir && *workdir ? workdir : "/";
	int fd, rc;

	*out = NULL;
	f = calloc(1, sizeof(*f));
	if (!f) {
		errbuf_set(err, errlen, "out of memory");
		return -ENOMEM;
	}
	if (pthread_mutex_init(&f->lock, NULL)) {
		free(f);
		errbuf_set(err, errlen, "pthread_mutex_init failed");
		return -ENOMEM;
	}
	f->root_fd = f->proc_fd = -1;
	for (uint32_t h = 0; h < QUARK_MAX_HANDLES; h++)
		f->fds[h] = -1;

	/* The guest applied its program's umask already; a second one would be wrong. */
	umask(0);
	f->root_fd = open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (f->root_fd < 0 || fstat(f->root_fd, &st) == -1) {
		rc = -errno;
		errbuf_set(err, errlen, "--rootfs %s: %s", rootfs, log_errstr(rc));
		goto err_close;
	}
	f->root_dev = st.st_dev;
	f->root_ino = st.st_ino;
	f->proc_fd = open("/proc", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (f->proc_fd < 0) {
		rc = -errno;
		errbuf_set(err, errlen, "/proc: %s (QVisor needs /proc to name directories)",
			   log_errstr(rc));
		goto err_close;
	}
	/* The kernel's spelling of the root, for stripping from fd paths later. */
	snprintf(name, sizeof(name), "self/fd/%d", f->root_fd);
	n = readlinkat(f->proc_fd, name, f->root_path, sizeof(f->root_path));
	if (n < 0 || (size_t)n >= sizeof(f->root_path) || f->root_path[0] != '/') {
		rc = n < 0 ? -errno : -ENAMETOOLONG;
		errbuf_set(err, errlen, "--rootfs %s: cannot read its path from /proc/self/fd: %s",
			   rootfs, log_errstr(rc));
		goto err_close;
	}
	f->root_path[n] = '\0';
	f->root_len = strcmp(f->root_path, "/") == 0 ? 0 : (size_t)n;

	for (int i = 0; i < 3; i++) {
		fd = stdio_dup(i);
		if (fd < 0) {
			rc = fd;
			errbuf_set(err, errlen, "fd %d: %s", i, log_errstr(rc));
			goto err_close;
		}
		f->fds[i] = fd;
		f->nopen++;
	}
	fd = root_open(f, "/", O_PATH | O_DIRECTORY, 0);
	if (fd < 0) {
		rc = fd;
		errbuf_set(err, errlen, "--rootfs %s: %s", rootfs, log_errstr(rc));
		goto err_close;
	}
	f->root_h = (uint32_t)handle_new(f, fd);
	fd = root_open(f, wd, O_PATH | O_DIRECTORY, 0);
	if (fd < 0) {
		rc = fd;
		errbuf_set(err, errlen, "--workdir %s: %s", wd, log_errstr(rc));
		goto err_close;
	}
	f->cwd_h = (uint32_t)handle_new(f, fd);
	*out = f;
	return 0;
err_close:
	qv_fwd_close(f);
	return rc;
}

void qv_fwd_close(struct qv_fwd *f)
{
	if (!f)
		return;
	for (uint32_t h = 0; h < QUARK_MAX_HANDLES; h++) {
		if (f->fds[h] >= 0)
			close(f->fds[h]);
	}
	if (f->proc_fd >= 0)
		close(f->proc_fd);
	if (f->root_fd >= 0)
		close(f->root_fd);
	pthread_mutex_destroy(&f->lock);
	free(f);
}
