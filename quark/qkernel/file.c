// SPDX-License-Identifier: MIT
/*
 * File descriptors: QKernel's own table, pointing at host handles or at
 * pipes that live entirely in the guest.
 *
 *     fds[fd] --> struct file { kind, host handle | pipe, status flags, refs }
 *
 * dup() shares the struct file (and so the host handle and its offset, as
 * dup shares an open file description); close-on-exec is per descriptor.
 * A host handle is closed when the last descriptor referring to it goes.
 * Reads and writes of host files move data without a copy in the guest:
 * the user buffer is turned into physical segments (qk_user_segs) and the
 * host's readv/writev fills or drains them directly. Metadata results
 * (stat, directory entries, link targets) come back through one kernel
 * bounce buffer and are copied out, so the host never writes to memory
 * the program chose.
 *
 * Pipes are a 64 KiB ring in kernel memory. A read from an empty pipe whose
 * write end is open (or a write into a full one) waits for another thread
 * to change it: on the pipe's sequence word, through the host's futex
 * (smp.c), with the kernel lock dropped. With one thread such a wait
 * could never end: it returns EAGAIN instead (as O_NONBLOCK would), which
 * is the honest answer. Writes into a pipe with no reader raise SIGPIPE
 * (fatal unless ignored), as on Linux.
 */
#include "kernel.h"

#define MAX_FDS	    1024
#define MAX_FILES   1024
#define PIPE_SIZE   65536
#define BOUNCE_SIZE 65536

#define AT_FDCWD	    (-100)
#define AT_SYMLINK_NOFOLLOW 0x100
#define AT_REMOVEDIR	    0x200
#define AT_EMPTY_PATH	    0x1000

#define O_ACCMODE   03
#define O_RDONLY    00
#define O_WRONLY    01
#define O_RDWR	    02
#define O_CREAT	    0100
#define O_APPEND    02000
#define O_NONBLOCK  04000
#define O_DIRECTORY 0200000
#define O_CLOEXEC   02000000
#define O_PATH	    010000000

#define F_DUPFD		0
#define F_GETFD		1
#define F_SETFD		2
#define F_GETFL		3
#define F_SETFL		4
#define F_DUPFD_CLOEXEC 1030
#define FD_CLOEXEC	1

#define TCGETS	   0x5401
#define TIOCGWINSZ 0x5413
#define FIONBIO	   0x5421
#define FIOCLEX	   0x5451

enum file_kind { FILE_HOST = 1, FILE_PIPE_R, FILE_PIPE_W };

struct pipe {
	char *buf;
	uint32_t head, len; /* read position, bytes held */
	int readers, writers;
	uint32_t seq;	  /* moves on every change a waiter may wait for (futex word) */
	uint32_t waiters; /* threads waiting on seq */
	struct pipe *next_free;
};

struct file {
	struct pipe *pipe; /* FILE_PIPE_R, FILE_PIPE_W */
	int kind;	   /* enum file_kind, 0 = free */
	int refs;
	uint32_t handle; /* FILE_HOST */
	uint32_t flags;	 /* O_ACCMODE | O_APPEND | O_NONBLOCK | O_PATH */
};

struct fdent {
	struct file *f;
	bool cloexec;
};

static struct fdent fds[MAX_FDS];
static struct file files[MAX_FILES];
static struct pipe *free_pipes;
static uint32_t cwd_handle;
static unsigned umask_bits = 022;
static char bounce[BOUNCE_SIZE] __attribute__((aligned(4096)));

static void pipe_changed(struct pipe *p)
{
	p->seq++;
	if (p->waiters)
		qk_wake_word(&p->seq);
}

/* False when nothing but this thread could change the pipe (then: EAGAIN). */
static bool pipe_wait(struct pipe *p, bool nonblock)
{
	if (nonblock || qk_live_threads() < 2)
		return false;
	p->waiters++;
	qk_wait_word(&p->seq, p->seq);
	p->waiters--;
	return true;
}

static struct file *file_new(int kind)
{
	for (int i = 0; i < MAX_FILES; i++) {
		if (!files[i].kind) {
			files[i] = (struct file){ .kind = kind, .refs = 1 };
			return &files[i];
		}
	}
	return NULL;
}

static void file_put(struct file *f)
{
	if (--f->refs > 0)
		return;
	if (f->kind == FILE_HOST) {
		qk_hcall(QUARK_OP_CLOSE, f->handle, 0, 0, 0, 0, 0);
	} else {
		struct pipe *p = f->pipe;

		if (f->kind == FILE_PIPE_R)
			p->readers--;
		else
			p->writers--;
		pipe_changed(p); /* a waiter may now see EOF or EPIPE */
		if (!p->readers && !p->writers) {
			p->next_free = free_pipes;
			free_pipes = p;
		}
	}
	f->kind = 0;
}

static int fd_alloc(struct file *f, int min, bool cloexec)
{
	for (int fd = min; fd < MAX_FDS; fd++) {
		if (!fds[fd].f) {
			fds[fd].f = f;
			fds[fd].cloexec = cloexec;
			return fd;
		}
	}
	return -EMFILE;
}

static struct file *fd_get(uint64_t fd)
{
	return fd < MAX_FDS ? fds[fd].f : NULL;
}

void qk_files_init(void)
{
	for (int fd = 0; fd < 3; fd++) {
		struct file *f = file_new(FILE_HOST);
		int64_t fl = qk_hcall(QUARK_OP_FCNTL, (uint64_t)fd, F_GETFL, 0, 0, 0, 0);

		f->handle = (uint32_t)fd;
		f->flags = fl < 0 ? O_RDWR : (uint32_t)fl & (O_ACCMODE | O_APPEND | O_NONBLOCK);
		fds[fd].f = f;
	}
	cwd_handle = qk_boot->cwd_handle;
}

uint32_t qk_cwd_handle(void)
{
	return cwd_handle;
}

int qk_fd_host_handle(int fd, uint32_t *handle)
{
	struct file *f = fd_get((uint64_t)fd);

	if (!f)
		return -EBADF;
	if (f->kind != FILE_HOST)
		return -ENOTDIR;
	*handle = f->handle;
	return 0;
}

int qk_dir_handle(int dirfd, uint32_t *handle)
{
	if (dirfd == AT_FDCWD) {
		*handle = cwd_handle;
		return 0;
	}
	return qk_fd_host_handle(dirfd, handle);
}

/* The write still returns EPIPE; the signal is delivered on the way out. */
static void sigpipe(void)
{
	qk_sig_raise(SIGPIPE);
}

/*
 * Host I/O on a user buffer: one hypercall over as many segments as fit.
 * A short transfer is returned as such (read/write may be partial).
 */
static int64_t host_rw(uint32_t op, uint32_t handle, uint64_t uva, uint64_t len, uint64_t off)
{
	static struct quark_seg segs[QUARK_MAX_SEGS];
	uint64_t covered;
	bool host_writes = op == QUARK_OP_READV || op == QUARK_OP_PREADV;
	int n;

	if (len == 0)
		return qk_hcall(op, handle, qk_gpa(segs), 0, off, 0, 0);
	if (len > QUARK_MAX_IO)
		len = QUARK_MAX_IO;
	n = qk_user_segs(uva, len, host_writes, segs, (int)QUARK_MAX_SEGS, &covered);
	if (n < 0)
		return n;
	return qk_hcall(op, handle, qk_gpa(segs), (uint64_t)n, off, 0, 0);
}

int64_t qk_host_pread(uint32_t handle, uint64_t uva, uint64_t len, uint64_t off)
{
	uint64_t done = 0;

	while (done < len) {
		int64_t r = host_rw(QUARK_OP_PREADV, handle, uva + done, len - done, off + done);

		if (r < 0)
			return done ? (int64_t)done : r;
		if (r == 0)
			break;
		done += (uint64_t)r;
	}
	return (int64_t)done;
}

int64_t qk_host_pread_kernel(uint32_t handle, void *buf, uint64_t len, uint64_t off)
{
	struct quark_seg seg = { qk_gpa(buf), len };

	return qk_hcall(QUARK_OP_PREADV, handle, qk_gpa(&seg), 1, off, 0, 0);
}

static int64_t pipe_read(struct pipe *p, uint64_t uva, uint64_t len, bool nonblock)
{
	uint64_t done = 0;

	while (p->len == 0 && p->writers)
		if (!pipe_wait(p, nonblock))
			return -EAGAIN;
	while (done < len && p->len) {
		uint32_t n = (uint32_t)MIN(MIN(len - done, p->len), PIPE_SIZE - p->head);

		if (qk_copy_to_user(uva + done, p->buf + p->head, n) < 0)
			return done ? (int64_t)done : -EFAULT;
		p->head = (p->head + n) % PIPE_SIZE;
		p->len -= n;
		done += n;
	}
	if (done)
		pipe_changed(p);
	return (int64_t)done;
}

static int64_t pipe_write(struct pipe *p, uint64_t uva, uint64_t len, bool nonblock)
{
	uint64_t done = 0;

	while (p->readers && p->len == PIPE_SIZE)
		if (!pipe_wait(p, nonblock))
			return -EAGAIN;
	if (!p->readers) {
		sigpipe();
		return -EPIPE;
	}
	while (done < len && p->len < PIPE_SIZE) {
		uint32_t tail = (p->head + p->len) % PIPE_SIZE;
		uint32_t n = (uint32_t)MIN(MIN(len - done, PIPE_SIZE - p->len), PIPE_SIZE - tail);

		if (qk_copy_from_user(p->buf + tail, uva + done, n) < 0)
			return done ? (int64_t)done : -EFAULT;
		p->len += n;
		done += n;
	}
	if (done)
		pipe_changed(p);
	return (int64_t)done;
}

/* Linux's access_ok(): the whole range lies in the program's half, whatever is mapped. */
static bool user_range_ok(uint64_t uva, uint64_t len)
{
	return uva <= USER_TOP && len <= USER_TOP - uva;
}

static int64_t do_read(uint64_t fd, uint64_t uva, uint64_t len, bool positional, uint64_t off)
{
	struct file *f = fd_get(fd);

	if (!f || (f->flags & O_PATH) || (f->flags & O_ACCMODE) == O_WRONLY)
		return -EBADF;
	if (!user_range_ok(uva, len))
		return -EFAULT;
	if (f->kind == FILE_PIPE_R)
		return positional ? -ESPIPE : pipe_read(f->pipe, uva, len, f->flags & O_NONBLOCK);
	if (f->kind != FILE_HOST)
		return -EBADF;
	if (positional && (int64_t)off < 0)
		return -EINVAL;
	return host_rw(positional ? QUARK_OP_PREADV : QUARK_OP_READV, f->handle, uva, len, off);
}

static int64_t do_write(uint64_t fd, uint64_t uva, uint64_t len, bool positional, uint64_t off)
{
	struct file *f = fd_get(fd);
	uint64_t done = 0;

	if (!f || (f->flags & O_PATH) || (f->flags & O_ACCMODE) == O_RDONLY)
		return -EBADF;
	if (!user_range_ok(uva, len))
		return -EFAULT;
	if (f->kind == FILE_PIPE_W)
		return positional ? -ESPIPE : pipe_write(f->pipe, uva, len, f->flags & O_NONBLOCK);
	if (f->kind != FILE_HOST)
		return -EBADF;
	if (positional && (int64_t)off < 0)
		return -EINVAL;
	/* Keep going while the host takes whole chunks: programs expect full writes to files. */
	do {
		int64_t r = host_rw(positional ? QUARK_OP_PWRITEV : QUARK_OP_WRITEV, f->handle,
				    uva + done, len - done, off + done);

		if (r == -EPIPE)
			sigpipe();
		if (r < 0)
			return done ? (int64_t)done : r;
		done += (uint64_t)r;
		if (r == 0)
			break;
	} while (done < len);
	return (int64_t)done;
}

struct iovec_u {
	uint64_t base, len;
};

static int64_t do_rwv(uint64_t fd, uint64_t iov_uva, uint64_t cnt, bool write, bool positional,
		      uint64_t off)
{
	struct iovec_u iov[64];
	uint64_t total = 0;

	if (cnt > 1024)
		return -EINVAL;
	for (uint64_t i = 0; i < cnt; i += ARRAY_SIZE(iov)) {
		uint64_t n = MIN(cnt - i, ARRAY_SIZE(iov));

		if (qk_copy_from_user(iov, iov_uva + i * sizeof(iov[0]), n * sizeof(iov[0])) < 0)
			return total ? (int64_t)total : -EFAULT;
		for (uint64_t j = 0; j < n; j++) {
			int64_t r;

			if (iov[j].len == 0)
				continue;
			r = write ? do_write(fd, iov[j].base, iov[j].len, positional, off + total)
				  : do_read(fd, iov[j].base, iov[j].len, positional, off + total);
			if (r < 0)
				return total ? (int64_t)total : r;
			total += (uint64_t)r;
			if ((uint64_t)r < iov[j].len)
				return (int64_t)total;
		}
	}
	if (cnt == 0 && !fd_get(fd))
		return -EBADF;
	return (int64_t)total;
}

/* A path argument copied in: its length, or -errno. */
static int get_path(uint64_t uva, char *buf)
{
	int n = qk_strncpy_from_user(buf, uva, QUARK_PATH_MAX);

	if (n == 0)
		return -ENOENT;
	return n;
}

static char pathbuf[QUARK_PATH_MAX], pathbuf2[QUARK_PATH_MAX];

int qk_open_exec(const char *path, uint32_t *handle)
{
	size_t n = strlen(path);
	int64_t h;

	memcpy(pathbuf, path, n + 1);
	h = qk_hcall(QUARK_OP_OPENAT, cwd_handle, qk_gpa(pathbuf), n, O_RDONLY, 0, 0);
	if (h < 0)
		return (int)h;
	*handle = (uint32_t)h;
	return 0;
}

static int64_t do_openat(int64_t dirfd, uint64_t path_uva, uint64_t flags, uint64_t mode)
{
	uint32_t dir;
	struct file *f;
	int64_t h;
	int n, fd;

	n = get_path(path_uva, pathbuf);
	if (n < 0)
		return n;
	dir = cwd_handle; /* absolute paths: the host starts at the root whatever the handle */
	if (pathbuf[0] != '/') {
		int rc = qk_dir_handle((int)dirfd, &dir);

		if (rc < 0)
			return rc;
	}
	f = file_new(FILE_HOST);
	if (!f)
		return -EMFILE;
	h = qk_hcall(QUARK_OP_OPENAT, dir, qk_gpa(pathbuf), (uint64_t)n, flags & ~O_CLOEXEC,
		     (flags & O_CREAT) ? (mode & 07777 & ~umask_bits) : 0, 0);
	if (h < 0) {
		f->kind = 0;
		return h;
	}
	f->handle = (uint32_t)h;
	f->flags = (uint32_t)flags & (O_ACCMODE | O_APPEND | O_NONBLOCK | O_PATH);
	fd = fd_alloc(f, 0, (flags & O_CLOEXEC) != 0);
	if (fd < 0)
		file_put(f);
	return fd;
}

static int64_t do_close(uint64_t fd)
{
	struct file *f = fd_get(fd);

	if (!f)
		return -EBADF;
	fds[fd].f = NULL;
	file_put(f);
	return 0;
}

static int64_t do_dup3(uint64_t oldfd, uint64_t newfd, uint64_t flags, bool dup2)
{
	struct file *f = fd_get(oldfd);

	if (!f || newfd >= MAX_FDS)
		return -EBADF;
	if (oldfd == newfd)
		return dup2 ? (int64_t)newfd : -EINVAL;
	if (flags & ~(uint64_t)O_CLOEXEC)
		return -EINVAL;
	if (fds[newfd].f)
		file_put(fds[newfd].f);
	f->refs++;
	fds[newfd].f = f;
	fds[newfd].cloexec = (flags & O_CLOEXEC) != 0;
	return (int64_t)newfd;
}

static int64_t do_fcntl(uint64_t fd, uint64_t cmd, uint64_t arg)
{
	struct file *f = fd_get(fd);
	int r;

	if (!f)
		return -EBADF;
	switch (cmd) {
	case F_DUPFD:
	case F_DUPFD_CLOEXEC:
		if (arg >= MAX_FDS)
			return -EINVAL;
		r = fd_alloc(f, (int)arg, cmd == F_DUPFD_CLOEXEC);
		if (r >= 0)
			f->refs++;
		return r;
	case F_GETFD:
		return fds[fd].cloexec ? FD_CLOEXEC : 0;
	case F_SETFD:
		fds[fd].cloexec = (arg & FD_CLOEXEC) != 0;
		return 0;
	case F_GETFL:
		return f->flags;
	case F_SETFL:
		if (f->kind == FILE_HOST) {
			int64_t h = qk_hcall(QUARK_OP_FCNTL, f->handle, F_SETFL,
					     arg & (O_APPEND | O_NONBLOCK), 0, 0, 0);

			if (h < 0)
				return h;
		}
		f->flags = (f->flags & ~(uint32_t)(O_APPEND | O_NONBLOCK)) |
			   ((uint32_t)arg & (O_APPEND | O_NONBLOCK));
		return 0;
	default:
		return -EINVAL;
	}
}

static int64_t do_pipe2(uint64_t uva, uint64_t flags)
{
	struct pipe *p = free_pipes;
	struct file *r, *w;
	int fd[2];

	if (flags & ~(uint64_t)(O_CLOEXEC | O_NONBLOCK))
		return -EINVAL;
	if (p) {
		free_pipes = p->next_free;
	} else {
		p = qk_kalloc(sizeof(*p) + PIPE_SIZE);
		if (!p)
			return -ENOMEM;
		p->buf = (char *)(p + 1);
	}
	p->head = p->len = 0;
	p->readers = p->writers = 1;
	r = file_new(FILE_PIPE_R);
	w = r ? file_new(FILE_PIPE_W) : NULL;
	if (!w) {
		if (r)
			r->kind = 0;
		p->next_free = free_pipes;
		free_pipes = p;
		return -EMFILE;
	}
	r->pipe = w->pipe = p;
	r->flags = O_RDONLY | ((uint32_t)flags & O_NONBLOCK);
	w->flags = O_WRONLY | ((uint32_t)flags & O_NONBLOCK);
	fd[0] = fd_alloc(r, 0, (flags & O_CLOEXEC) != 0);
	fd[1] = fd[0] < 0 ? -EMFILE : fd_alloc(w, 0, (flags & O_CLOEXEC) != 0);
	if (fd[1] < 0 || qk_copy_to_user(uva, fd, sizeof(fd)) < 0) {
		int rc = fd[1] < 0 ? -EMFILE : -EFAULT;

		if (fd[0] >= 0)
			do_close((uint64_t)fd[0]);
		else
			file_put(r);
		if (fd[1] >= 0)
			do_close((uint64_t)fd[1]);
		else
			file_put(w);
		return rc;
	}
	return 0;
}

/* Path operations: resolve dirfd, copy the path, call the host with a bounce buffer. */
static int64_t path_op(uint32_t op, int64_t dirfd, uint64_t path_uva, uint64_t a3, uint64_t a4,
		       uint64_t a5, bool empty_ok)
{
	uint32_t dir = cwd_handle;
	int n = qk_strncpy_from_user(pathbuf, path_uva, QUARK_PATH_MAX);
	int rc;

	if (n < 0)
		return n;
	if (n == 0 && !empty_ok)
		return -ENOENT;
	if (n == 0 || pathbuf[0] != '/') {
		rc = qk_dir_handle((int)dirfd, &dir);
		if (rc < 0)
			return rc;
	}
	switch (op) {
	case QUARK_OP_FSTATAT:
		return qk_hcall(op, dir, qk_gpa(pathbuf), (uint64_t)n, qk_gpa(bounce), a3, 0);
	case QUARK_OP_STATX:
		return qk_hcall(op, dir, qk_gpa(pathbuf), (uint64_t)n, a3, a4, qk_gpa(bounce));
	case QUARK_OP_READLINKAT:
		return qk_hcall(op, dir, qk_gpa(pathbuf), (uint64_t)n, qk_gpa(bounce),
				MIN(a3, BOUNCE_SIZE), 0);
	default: /* FACCESSAT, MKDIRAT, UNLINKAT: (mode|flags) in a3, a4 */
		(void)a5;
		return qk_hcall(op, dir, qk_gpa(pathbuf), (uint64_t)n, a3, a4, 0);
	}
}

#define STAT_SIZE  144
#define STATX_SIZE 256

static int64_t do_fstatat(int64_t dirfd, uint64_t path, uint64_t buf, uint64_t flags)
{
	int64_t r = path_op(QUARK_OP_FSTATAT, dirfd, path, flags, 0, 0, flags & AT_EMPTY_PATH);

	if (r < 0)
		return r;
	return qk_copy_to_user(buf, bounce, STAT_SIZE);
}

static int64_t do_fstat(uint64_t fd, uint64_t buf)
{
	struct file *f = fd_get(fd);
	int64_t r;

	if (!f)
		return -EBADF;
	if (f->kind != FILE_HOST) {
		/* A pipe: a FIFO with nothing else to say (S_IFIFO | 0600). */
		memset(bounce, 0, STAT_SIZE);
		*(uint32_t *)(bounce + 24) = 0010600;
		*(uint64_t *)(bounce + 16) = 1;
		*(uint64_t *)(bounce + 56) = PAGE_SIZE;
	} else {
		r = qk_hcall(QUARK_OP_FSTAT, f->handle, qk_gpa(bounce), 0, 0, 0, 0);
		if (r < 0)
			return r;
	}
	return qk_copy_to_user(buf, bounce, STAT_SIZE);
}

static int64_t do_chdir_handle(uint32_t dir, uint64_t n)
{
	int64_t h = qk_hcall(QUARK_OP_OPENAT, dir, qk_gpa(pathbuf), n, O_PATH | O_DIRECTORY, 0, 0);

	if (h < 0)
		return h;
	qk_hcall(QUARK_OP_CLOSE, cwd_handle, 0, 0, 0, 0, 0);
	cwd_handle = (uint32_t)h;
	return 0;
}

static int64_t do_ioctl(uint64_t fd, uint64_t req, uint64_t arg)
{
	struct file *f = fd_get(fd);
	int64_t r;

	if (!f)
		return -EBADF;
	switch (req) {
	case FIOCLEX:
		fds[fd].cloexec = true;
		return 0;
	case FIONBIO: {
		int on;

		if (qk_copy_from_user(&on, arg, sizeof(on)) < 0)
			return -EFAULT;
		return do_fcntl(fd, F_SETFL,
				on ? (f->flags | O_NONBLOCK) : (f->flags & ~O_NONBLOCK));
	}
	case TCGETS:
	case TIOCGWINSZ:
		if (f->kind != FILE_HOST)
			return -ENOTTY;
		r = qk_hcall(QUARK_OP_IOCTL, f->handle, req, qk_gpa(bounce), 0, 0, 0);
		if (r < 0)
			return r;
		return qk_copy_to_user(arg, bounce, req == TCGETS ? 36 : 8) < 0 ? -EFAULT : r;
	default:
		return -ENOTTY;
	}
}

/*
 * sendfile between two host files, through the bounce buffer (the host
 * never sees both descriptors in one call, so it cannot do it in one
 * step). Other kinds get EINVAL, on which programs fall back to read and
 * write, as they must for Linux's own unsupported pairs.
 */
static int64_t do_sendfile(uint64_t out_fd, uint64_t in_fd, uint64_t off_uva, uint64_t count)
{
	struct file *in = fd_get(in_fd), *out = fd_get(out_fd);
	struct quark_seg seg;
	uint64_t done = 0;
	int64_t off = 0, r;

	if (!in || !out || (in->flags & O_ACCMODE) == O_WRONLY ||
	    (out->flags & O_ACCMODE) == O_RDONLY)
		return -EBADF;
	if (in->kind != FILE_HOST || out->kind != FILE_HOST)
		return -EINVAL;
	if (off_uva && qk_copy_from_user(&off, off_uva, sizeof(off)) < 0)
		return -EFAULT;
	if (off < 0)
		return -EINVAL;
	while (done < count) {
		seg.gpa = qk_gpa(bounce);
		seg.len = MIN(count - done, BOUNCE_SIZE);
		r = off_uva ? qk_hcall(QUARK_OP_PREADV, in->handle, qk_gpa(&seg), 1,
				       (uint64_t)off + done, 0, 0)
			    : qk_hcall(QUARK_OP_READV, in->handle, qk_gpa(&seg), 1, 0, 0, 0);
		if (r <= 0) {
			if (r < 0 && !done)
				return r;
			break;
		}
		seg.len = (uint64_t)r;
		r = qk_hcall(QUARK_OP_WRITEV, out->handle, qk_gpa(&seg), 1, 0, 0, 0);
		if (r == -EPIPE)
			sigpipe();
		if (r <= 0) {
			if (r < 0 && !done)
				return r;
			break;
		}
		done += (uint64_t)r;
		if ((uint64_t)r < seg.len) {
			/* A short write: put the input position back to just after what went out.
			 */
			if (!off_uva)
				qk_hcall(QUARK_OP_LSEEK, in->handle, (uint64_t)r - seg.len,
					 1 /* SEEK_CUR */, 0, 0, 0);
			break;
		}
	}
	if (off_uva) {
		off += (int64_t)done;
		if (qk_copy_to_user(off_uva, &off, sizeof(off)) < 0)
			return -EFAULT;
	}
	return (int64_t)done;
}

/* The file system calls by x86-64 number; *handled = false for the rest. */
int64_t qk_sys_file(uint64_t nr, const uint64_t *a, bool *handled)
{
	int64_t r;
	int n;

	*handled = true;
	switch (nr) {
	case 0: /* read */
		return do_read(a[0], a[1], a[2], false, 0);
	case 1: /* write */
		return do_write(a[0], a[1], a[2], false, 0);
	case 2: /* open */
		return do_openat(AT_FDCWD, a[0], a[1], a[2]);
	case 257: /* openat */
		return do_openat((int)a[0], a[1], a[2], a[3]);
	case 3: /* close */
		return do_close(a[0]);
	case 4: /* stat */
		return do_fstatat(AT_FDCWD, a[0], a[1], 0);
	case 5: /* fstat */
		return do_fstat(a[0], a[1]);
	case 6: /* lstat */
		return do_fstatat(AT_FDCWD, a[0], a[1], AT_SYMLINK_NOFOLLOW);
	case 262: /* newfstatat */
		if ((a[3] & AT_EMPTY_PATH) && fd_get(a[0]) && fd_get(a[0])->kind != FILE_HOST) {
			char c;

			if (qk_copy_from_user(&c, a[1], 1) == 0 && c == 0)
				return do_fstat(a[0], a[2]);
		}
		return do_fstatat((int)a[0], a[1], a[2], a[3]);
	case 332: /* statx */
		r = path_op(QUARK_OP_STATX, (int)a[0], a[1], a[2], a[3], 0, a[2] & AT_EMPTY_PATH);
		if (r < 0)
			return r;
		return qk_copy_to_user(a[4], bounce, STATX_SIZE);
	case 8: { /* lseek */
		struct file *f = fd_get(a[0]);

		if (!f)
			return -EBADF;
		if (f->kind != FILE_HOST)
			return -ESPIPE;
		return qk_hcall(QUARK_OP_LSEEK, f->handle, a[1], a[2], 0, 0, 0);
	}
	case 17: /* pread64 */
		return do_read(a[0], a[1], a[2], true, a[3]);
	case 18: /* pwrite64 */
		return do_write(a[0], a[1], a[2], true, a[3]);
	case 19: /* readv */
		return do_rwv(a[0], a[1], a[2], false, false, 0);
	case 20: /* writev */
		return do_rwv(a[0], a[1], a[2], true, false, 0);
	case 295: /* preadv */
		return do_rwv(a[0], a[1], a[2], false, true, a[3]);
	case 296: /* pwritev */
		return do_rwv(a[0], a[1], a[2], true, true, a[3]);
	case 217: { /* getdents64 */
		struct file *f = fd_get(a[0]);

		if (!f)
			return -EBADF;
		if (f->kind != FILE_HOST)
			return -ENOTDIR;
		r = qk_hcall(QUARK_OP_GETDENTS64, f->handle, qk_gpa(bounce), MIN(a[2], BOUNCE_SIZE),
			     0, 0, 0);
		if (r > 0 && qk_copy_to_user(a[1], bounce, (size_t)r) < 0)
			return -EFAULT;
		return r;
	}
	case 89: /* readlink */
	case 267: /* readlinkat */ {
		int64_t dirfd = nr == 89 ? AT_FDCWD : (int)a[0];
		uint64_t path = nr == 89 ? a[0] : a[1], buf = nr == 89 ? a[1] : a[2];
		uint64_t len = nr == 89 ? a[2] : a[3];

		if ((int64_t)len <= 0)
			return -EINVAL;
		r = path_op(QUARK_OP_READLINKAT, dirfd, path, len, 0, 0, false);
		if (r > 0 && qk_copy_to_user(buf, bounce, (size_t)r) < 0)
			return -EFAULT;
		return r;
	}
	case 21: /* access */
		return path_op(QUARK_OP_FACCESSAT, AT_FDCWD, a[0], a[1], 0, 0, false);
	case 269: /* faccessat */
		return path_op(QUARK_OP_FACCESSAT, (int)a[0], a[1], a[2], 0, 0, false);
	case 439: /* faccessat2 */
		return path_op(QUARK_OP_FACCESSAT, (int)a[0], a[1], a[2], a[3], 0,
			       a[3] & AT_EMPTY_PATH);
	case 83: /* mkdir */
		return path_op(QUARK_OP_MKDIRAT, AT_FDCWD, a[0], a[1] & 07777 & ~umask_bits, 0, 0,
			       false);
	case 258: /* mkdirat */
		return path_op(QUARK_OP_MKDIRAT, (int)a[0], a[1], a[2] & 07777 & ~umask_bits, 0, 0,
			       false);
	case 84: /* rmdir */
		return path_op(QUARK_OP_UNLINKAT, AT_FDCWD, a[0], AT_REMOVEDIR, 0, 0, false);
	case 87: /* unlink */
		return path_op(QUARK_OP_UNLINKAT, AT_FDCWD, a[0], 0, 0, 0, false);
	case 263: /* unlinkat */
		return path_op(QUARK_OP_UNLINKAT, (int)a[0], a[1], a[2], 0, 0, false);
	case 82:  /* rename */
	case 264: /* renameat */
	case 316: /* renameat2 */ {
		int64_t od = nr == 82 ? AT_FDCWD : (int)a[0], nd = nr == 82 ? AT_FDCWD : (int)a[2];
		uint64_t op = nr == 82 ? a[0] : a[1], np = nr == 82 ? a[1] : a[3];
		uint32_t oh = cwd_handle, nh = cwd_handle;
		int m;

		if (nr == 316 && a[4])
			return -EINVAL;
		n = qk_strncpy_from_user(pathbuf, op, QUARK_PATH_MAX);
		if (n <= 0)
			return n < 0 ? n : -ENOENT;
		m = qk_strncpy_from_user(pathbuf2, np, QUARK_PATH_MAX);
		if (m <= 0)
			return m < 0 ? m : -ENOENT;
		if (pathbuf[0] != '/' && (r = qk_dir_handle((int)od, &oh)) < 0)
			return r;
		if (pathbuf2[0] != '/' && (r = qk_dir_handle((int)nd, &nh)) < 0)
			return r;
		return qk_hcall(QUARK_OP_RENAMEAT, oh, qk_gpa(pathbuf), (uint64_t)n, nh,
				qk_gpa(pathbuf2), (uint64_t)m);
	}
	case 77: { /* ftruncate */
		struct file *f = fd_get(a[0]);

		if (!f)
			return -EBADF;
		if (f->kind != FILE_HOST)
			return -EINVAL;
		return qk_hcall(QUARK_OP_FTRUNCATE, f->handle, a[1], 0, 0, 0, 0);
	}
	case 74:   /* fsync */
	case 75: { /* fdatasync */
		struct file *f = fd_get(a[0]);

		if (!f)
			return -EBADF;
		return f->kind == FILE_HOST ? qk_hcall(QUARK_OP_FSYNC, f->handle, 0, 0, 0, 0, 0)
					    : -EINVAL;
	}
	case 79: /* getcwd */
		r = qk_hcall(QUARK_OP_GETPATH, cwd_handle, qk_gpa(bounce), MIN(a[1], BOUNCE_SIZE),
			     0, 0, 0);
		if (r > 0 && qk_copy_to_user(a[0], bounce, (size_t)r) < 0)
			return -EFAULT;
		return r;
	case 80: /* chdir */
		n = get_path(a[0], pathbuf);
		if (n < 0)
			return n;
		return do_chdir_handle(cwd_handle, (uint64_t)n);
	case 81: { /* fchdir */
		uint32_t h;

		r = qk_fd_host_handle((int)a[0], &h);
		if (r < 0)
			return r == -ENOTDIR ? -ENOTDIR : -EBADF;
		pathbuf[0] = '.';
		pathbuf[1] = 0;
		return do_chdir_handle(h, 1);
	}
	case 16: /* ioctl */
		return do_ioctl(a[0], a[1], a[2]);
	case 32: /* dup */ {
		struct file *f = fd_get(a[0]);

		if (!f)
			return -EBADF;
		n = fd_alloc(f, 0, false);
		if (n >= 0)
			f->refs++;
		return n;
	}
	case 33: /* dup2 */
		return do_dup3(a[0], a[1], 0, true);
	case 292: /* dup3 */
		return do_dup3(a[0], a[1], a[2], false);
	case 72: /* fcntl */
		return do_fcntl(a[0], a[1], a[2]);
	case 22: /* pipe */
		return do_pipe2(a[0], 0);
	case 293: /* pipe2 */
		return do_pipe2(a[0], a[1]);
	case 40: /* sendfile */
		return do_sendfile(a[0], a[1], a[2], a[3]);
	case 95: /* umask */
		r = umask_bits;
		umask_bits = a[0] & 0777;
		return r;
	default:
		*handled = false;
		return -ENOSYS;
	}
}
