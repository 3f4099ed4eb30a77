/* SPDX-License-Identifier: MIT */
/*
 * libtsor.so: the LD_PRELOAD interposer. Each exported function here has
 * the name and contract of the libc call it replaces; the model, the
 * set-up protocol and the channel layout are in abi.h, the core's rules
 * in tsor-int.h.
 *
 * Hygiene (the traps listed in the design brief):
 *   - libc entry points are resolved once, with dlsym(RTLD_NEXT), under
 *     pthread_once (init()), before any wrapper does more than pass through;
 *   - a per-thread depth counter makes every wrapper a plain pass-through
 *     while the library itself is running (a dlsym() or a libc internal
 *     that calls back into an interposed name reaches libc, not us);
 *   - fd numbers are the kernel's: an accelerated connection keeps its real
 *     socket, so numbering, dup2 targets, FD_CLOEXEC and select() limits
 *     behave as without the library; the library's own descriptors (bells,
 *     socket dups, shadow epolls, the tsord connection) live above a floor
 *     (tsor_fd_hide()), so the program's next fd is the one it would get
 *     without the library (wrk, for one, sizes its event loop by that);
 *   - the core returns -errno; ret() turns it into errno/-1 here, once;
 *   - gss-style version script (tsor.map): only the interposed names are
 *     exported, everything else is hidden.
 *
 * What is accelerated: TCP sockets (AF_INET/AF_INET6, SOCK_STREAM) this
 * process created with socket(), once connect() finds a TSoR listener in
 * its network namespace, and sockets accepted from listeners registered
 * with tsord whose client asked for a channel. Everything else (UDP, Unix,
 * files, sockets inherited across exec) passes straight to libc.
 *
 * fork: the child keeps the mappings and the fd table (memory is copied),
 * so both processes can use a shared connection, but the rings are
 * single-producer single-consumer: two processes reading (or writing) one
 * connection at the same time corrupt nothing on the other side (the
 * hostile-peer rule) but may interleave or duplicate bytes between
 * themselves. The child reconnects to tsord lazily (pid check).
 * exec: channels are not inherited (bells and the connection's private
 * socket dup are close-on-exec, the memfd was closed once mapped). The
 * dup (tsor_conn_own_sock()) keeps the socket open while the connection
 * lives, as the kernel's own reference of a blocked call would; it goes
 * with the connection's last fd, so close() still sends FIN at once. An accelerated socket kept
 * across exec is a bare kernel socket in the new image: it never receives the ring's bytes and
 * whatever it writes reaches the peer as kernel data, which the peer's
 * library takes for FIN (EOF). Pass only plain sockets across exec.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <unistd.h>

#include "compiler.h"
#include "tsor-int.h"

#define EXPORT	    ATTR_EXPORT
#define QCACHE_SIZE 64
#define QCACHE_TTL  1000000000ull /* 1 s: a new listener is seen within that */
#define RETRY_NS    1000000000ull /* tsord unreachable: ask again after 1 s */
#define STACK_FILES 64

/* glibc's names, which we must define or call:
 * NOLINTBEGIN(bugprone-reserved-identifier,cert-dcl37-c,cert-dcl51-cpp,readability-identifier-naming)
 */
extern void __chk_fail(void) __attribute__((noreturn));

/*
 * With _GNU_SOURCE glibc declares the sockaddr parameters as a transparent
 * union; our definitions take the plain pointer the ABI passes. The types
 * are the same at the machine level, which is all -Wpedantic objects to.
 */
#pragma GCC diagnostic ignored "-Wpedantic"

/* The _FORTIFY_SOURCE entry points we interpose (glibc has no public prototypes). */
ssize_t __read_chk(int fd, void *buf, size_t n, size_t buflen);
ssize_t __recv_chk(int fd, void *buf, size_t n, size_t buflen, int flags);
ssize_t __recvfrom_chk(int fd, void *buf, size_t n, size_t buflen, int flags, struct sockaddr *from,
		       socklen_t *fromlen);
int __poll_chk(struct pollfd *fds, nfds_t n, int timeout, size_t fdslen);
int __ppoll_chk(struct pollfd *fds, nfds_t n, const struct timespec *ts, const sigset_t *ss,
		size_t fdslen);
/* NOLINTEND(bugprone-reserved-identifier,cert-dcl37-c,cert-dcl51-cpp,readability-identifier-naming)
 */

/* A const buffer as the iovec base the core's shared send path takes (never written). */
static inline void *unconst(const void *p)
{
	void *q;

	memcpy(&q, &p, sizeof(q));
	return q;
}

/* ============================ libc entry points ============================ */

/* Those not in tsor__libc (the core never needs them). */
static struct {
	ssize_t (*write)(int, const void *, size_t);
	ssize_t (*readv)(int, const struct iovec *, int);
	ssize_t (*writev)(int, const struct iovec *, int);
	ssize_t (*recv)(int, void *, size_t, int);
	ssize_t (*send)(int, const void *, size_t, int);
	ssize_t (*sendto)(int, const void *, size_t, int, const struct sockaddr *, socklen_t);
	ssize_t (*sendfile)(int, int, off_t *, size_t);
	int (*accept)(int, struct sockaddr *, socklen_t *);
	int (*dup)(int);
	int (*dup2)(int, int);
	int (*dup3)(int, int, int);
	int (*close_range)(unsigned, unsigned, int);
	int (*ioctl)(int, unsigned long, ...);
	int (*setsockopt)(int, int, int, const void *, socklen_t);
	int (*select)(int, fd_set *, fd_set *, fd_set *, struct timeval *);
	int (*pselect)(int, fd_set *, fd_set *, fd_set *, const struct timespec *,
		       const sigset_t *);
	int (*epoll_create)(int);
	int (*epoll_pwait)(int, struct epoll_event *, int, int, const sigset_t *);
	int (*epoll_pwait2)(int, struct epoll_event *, int, const struct timespec *,
			    const sigset_t *);
} real;

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static char sock_path[108]; /* tsord's socket, resolved once at load (init) */

/*
 * Where the library's own descriptors go (tsor_fd_hide()): half the soft
 * RLIMIT_NOFILE, at most 4096, so that a program with a small limit still
 * has most numbers to itself and a large limit does not make every fd
 * table in the process huge.
 */
static int fd_floor(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur < 64)
		return 0;
	return rl.rlim_cur / 2 > 4096 ? 4096 : (int)(rl.rlim_cur / 2);
}
static int sock_path_rc;
static __thread int depth __attribute__((tls_model("initial-exec")));
static uint64_t spin_ns;
static uint32_t ring_size;
static bool disabled; /* a libc symbol is missing: pass everything through */

#define RESOLVE(tab, name)                                       \
	do {                                                     \
		*(void **)&(tab).name = dlsym(RTLD_NEXT, #name); \
		if (!(tab).name)                                 \
			disabled = true;                         \
	} while (0)

static void release(struct tsor_file *f);
/*
 * The process the fd table belongs to: set at init and by the atfork child
 * handler. A vfork() child (or a CLONE_VM one) runs in our memory without
 * that handler, so its close()/dup2() between vfork and exec must not edit
 * the parent's table: they go straight to libc (not_ours()).
 */
static pid_t self_pid;

static void atfork_prepare(void);
static void atfork_parent(void);
static void atfork_child(void);

/* NOLINTNEXTLINE(readability-function-cognitive-complexity): RESOLVE's expansions */
static void init(void)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	depth++;
	RESOLVE(tsor__libc, socket);
	RESOLVE(tsor__libc, bind);
	RESOLVE(tsor__libc, listen);
	RESOLVE(tsor__libc, accept4);
	RESOLVE(tsor__libc, connect);
	RESOLVE(tsor__libc, close);
	RESOLVE(tsor__libc, shutdown);
	RESOLVE(tsor__libc, read);
	RESOLVE(tsor__libc, recvfrom);
	RESOLVE(tsor__libc, sendmsg);
	RESOLVE(tsor__libc, recvmsg);
	RESOLVE(tsor__libc, poll);
	RESOLVE(tsor__libc, ppoll);
	RESOLVE(tsor__libc, epoll_create1);
	RESOLVE(tsor__libc, epoll_ctl);
	RESOLVE(tsor__libc, epoll_wait);
	RESOLVE(tsor__libc, getsockname);
	RESOLVE(tsor__libc, getpeername);
	RESOLVE(tsor__libc, fcntl);
	RESOLVE(real, write);
	RESOLVE(real, readv);
	RESOLVE(real, writev);
	RESOLVE(real, recv);
	RESOLVE(real, send);
	RESOLVE(real, sendto);
	RESOLVE(real, sendfile);
	RESOLVE(real, accept);
	RESOLVE(real, dup);
	RESOLVE(real, dup2);
	RESOLVE(real, dup3);
	RESOLVE(real, ioctl);
	RESOLVE(real, setsockopt);
	RESOLVE(real, select);
	RESOLVE(real, pselect);
	RESOLVE(real, epoll_create);
	RESOLVE(real, epoll_pwait);
	/* Newer than some glibcs: optional. */
	*(void **)&real.epoll_pwait2 = dlsym(RTLD_NEXT, "epoll_pwait2");
	*(void **)&real.close_range = dlsym(RTLD_NEXT, "close_range");
	/* On one CPU a spinning waiter only delays the peer it waits for. */
	spin_ns = tsor_conn_tune(cpus > 1);
	ring_size = tsor_ring_size_clamp(tsor_env_size(
		"TSOR_RING_SIZE", (uint64_t)TSOR_RING_DEFAULT, 1, (uint64_t)TSOR_RING_MAX));
	/*
	 * Now, not at the first request: servers empty their environment
	 * before they fork workers (nginx keeps only TZ), and a worker that
	 * looked for TSOR_SOCK then would miss this process's tsord and
	 * quietly fall back on every connection.
	 */
	sock_path_rc = tsor_sock_path(sock_path, sizeof(sock_path));
	tsor_fd_set_floor(fd_floor());
	tsor_fd_set_release(release);
	self_pid = getpid();
	pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
	depth--;
}

/* Fast path of every wrapper: true when the wrapper may do its own work. */
static inline bool active(void)
{
	if (unlikely(!tsor__libc.close))
		pthread_once(&init_once, init);
	return depth == 0 && !disabled;
}

/* The one place where -errno becomes errno and -1. */
static inline long ret(long r)
{
	if (r < 0) {
		errno = (int)-r;
		return -1;
	}
	return r;
}

__attribute__((constructor)) static void tsor_ctor(void)
{
	pthread_once(&init_once, init);
}

/* ============================ tsord client ============================ */

static struct {
	pthread_mutex_t lock; /* one request in flight per process */
	int fd;		      /* connection to tsord, -1 = none */
	pid_t pid;	      /* the process that opened fd (fork check) */
	uint64_t retry_ns;    /* no tsord: do not try before this */
} cl = { PTHREAD_MUTEX_INITIALIZER, -1, 0, 0 };

static struct qentry {
	uint64_t until_ns;  /* valid before this */
	struct tsor_addr a; /* destination */
	bool listener;	    /* tsord's answer */
} qcache[QCACHE_SIZE];
static pthread_mutex_t qlock = PTHREAD_MUTEX_INITIALIZER;

static void atfork_prepare(void)
{
	pthread_mutex_lock(&cl.lock);
}

static void atfork_parent(void)
{
	pthread_mutex_unlock(&cl.lock);
}

static void atfork_child(void)
{
	/* The connection is shared with the parent: leave it to the parent
	 * (closing our copy does not affect it) and open our own later. */
	if (cl.fd >= 0)
		tsor__libc.close(cl.fd);
	cl.fd = -1;
	cl.retry_ns = 0;
	self_pid = getpid();
	pthread_mutex_unlock(&cl.lock);
}

/* A vfork child sharing our memory (see self_pid). One getpid() syscall,
 * paid only by the fd-table editors (close, dup*, fcntl dup), not by I/O. */
static bool not_ours(void)
{
	return getpid() != self_pid;
}

/* A request to tsord; locks, connects lazily. See tsor_call(). */
static int call(struct tsor_msg *m, int sendfd, struct tsor_msg *reply, int *fds, int *nfds)
{
	int ret;

	depth++;
	pthread_mutex_lock(&cl.lock);
	if (cl.fd >= 0 && cl.pid != getpid()) {
		tsor__libc.close(cl.fd);
		cl.fd = -1;
	}
	if (cl.fd < 0) {
		if (tsor_now_ns() < cl.retry_ns) {
			ret = -ENOTCONN;
			goto out;
		}
		ret = sock_path_rc;
		if (!ret)
			ret = tsor_unix_connect(sock_path);
		if (ret < 0) {
			cl.retry_ns = tsor_now_ns() + RETRY_NS;
			goto out;
		}
		cl.fd = tsor_fd_hide(ret);
		cl.pid = getpid();
	}
	/* The fds it returns are transient: conn.c maps the memfd and reopens the bells high. */
	ret = tsor_call(cl.fd, m, sendfd, reply, fds, nfds);
	if (ret == -ECONNRESET || ret == -EPIPE || ret == -EPROTO || ret == -EBADF ||
	    ret == -ENOTSOCK) {
		/* tsord went away (or the application closed our socket):
		 * start over on the next request. */
		tsor__libc.close(cl.fd);
		cl.fd = -1;
	}
out:
	pthread_mutex_unlock(&cl.lock);
	depth--;
	return ret;
}

/* why: enum tsor_cancel, so tsord counts the connection once and rightly. */
static int cancel_intent(uint64_t id, unsigned why)
{
	struct tsor_msg m, r;

	tsor_msg_init(&m, TSOR_MSG_CANCEL);
	m.id = id;
	m.val[0] = why;
	return call(&m, -1, &r, NULL, NULL);
}

/* conn.c's give-up: no accept in time, so the connection stays on kernel TCP. */
static int cancel_fallback(uint64_t id)
{
	return cancel_intent(id, TSOR_CANCEL_FALLBACK);
}

static void notify(enum tsor_msg_type type, uint64_t id, uint64_t val)
{
	struct tsor_msg m, r;

	tsor_msg_init(&m, type);
	m.id = id;
	m.val[0] = val;
	(void)call(&m, -1, &r, NULL, NULL);
}

/* Is there a TSoR listener at a (seen from fd's namespace)? Cached 1 s. */
static bool has_listener(int fd, const struct tsor_addr *a)
{
	uint64_t now = tsor_now_ns();
	struct tsor_msg m, r;
	size_t slot = (a->port * 31u + a->addr[3] + a->addr[15]) % QCACHE_SIZE;
	bool yes;
	int ret;

	pthread_mutex_lock(&qlock);
	if (qcache[slot].until_ns > now && tsor_addr_eq(&qcache[slot].a, a)) {
		yes = qcache[slot].listener;
		pthread_mutex_unlock(&qlock);
		return yes;
	}
	pthread_mutex_unlock(&qlock);
	tsor_msg_init(&m, TSOR_MSG_QUERY);
	m.addr = *a;
	ret = call(&m, fd, &r, NULL, NULL);
	if (ret != 0 && ret != -ENOENT)
		return false; /* no tsord: not cached, the retry timer limits us */
	yes = ret == 0;
	pthread_mutex_lock(&qlock);
	qcache[slot] = (struct qentry){ .until_ns = now + QCACHE_TTL, .a = *a, .listener = yes };
	pthread_mutex_unlock(&qlock);
	return yes;
}

/* ============================ files ============================ */

/* Every epoll instance we emulate, for close() of an accelerated fd. */
static struct {
	pthread_mutex_t lock;
	struct tsor_ep **v;
	size_t n, cap;
} eps = { PTHREAD_MUTEX_INITIALIZER, NULL, 0, 0 };

static void eps_add(struct tsor_ep *ep)
{
	pthread_mutex_lock(&eps.lock);
	if (eps.n == eps.cap) {
		size_t cap = eps.cap ? 2 * eps.cap : 8;
		struct tsor_ep **p =
			realloc(eps.v, cap * sizeof(*p)); /* NOLINT(bugprone-sizeof-expression) */

		if (p) {
			eps.v = p;
			eps.cap = cap;
		}
	}
	if (eps.n < eps.cap)
		eps.v[eps.n++] = ep;
	pthread_mutex_unlock(&eps.lock);
}

static void eps_del(struct tsor_ep *ep)
{
	pthread_mutex_lock(&eps.lock);
	for (size_t i = 0; i < eps.n; i++)
		if (eps.v[i] == ep)
			eps.v[i] = eps.v[--eps.n];
	pthread_mutex_unlock(&eps.lock);
}

/* The application closed fd: no epoll of ours reports it any more. */
static void eps_forget(int fd)
{
	pthread_mutex_lock(&eps.lock);
	for (size_t i = 0; i < eps.n; i++)
		tsor_ep_forget(eps.v[i], fd);
	pthread_mutex_unlock(&eps.lock);
}

/* fd became accelerated: epolls that had it as a kernel fd take it over. */
static void eps_adopt(int fd, struct tsor_file *f)
{
	pthread_mutex_lock(&eps.lock);
	for (size_t i = 0; i < eps.n; i++)
		(void)tsor_ep_adopt(eps.v[i], fd, f);
	pthread_mutex_unlock(&eps.lock);
}

/* The last reference to a file went (close of its last fd, or exit path). */
static void release(struct tsor_file *f)
{
	switch (f->kind) {
	case TSOR_FILE_CONN:
		if (atomic_load(&f->conn->state) == TSOR_CONN_UNCONFIRMED)
			(void)cancel_intent(f->conn->id, TSOR_CANCEL_UNUSED);
		else if (atomic_load(&f->conn->state) == TSOR_CONN_OPEN)
			notify(TSOR_MSG_CLOSED, f->conn->id, f->conn->bytes_sent);
		tsor_conn_close(f->conn);
		free(f->conn);
		f->conn = NULL;
		break;
	case TSOR_FILE_LISTENER:
		notify(TSOR_MSG_UNLISTEN, f->listener_id, 0);
		break;
	case TSOR_FILE_EPOLL:
		eps_del(f->ep);
		tsor_ep_destroy(f->ep);
		free(f->ep);
		f->ep = NULL;
		break;
	case TSOR_FILE_TCP:
		break;
	}
}

/* The CONN file at fd, referenced, or NULL (any other kind is not ours to handle). */
static struct tsor_file *conn_get(int fd)
{
	struct tsor_file *f = tsor_fd_get(fd);

	if (f && f->kind != TSOR_FILE_CONN) {
		tsor_file_put(f);
		return NULL;
	}
	return f;
}

static bool is_tcp(int domain, int type, int protocol)
{
	return (domain == AF_INET || domain == AF_INET6) &&
	       (type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC)) == SOCK_STREAM &&
	       (protocol == 0 || protocol == IPPROTO_TCP);
}

/* ============================ sockets ============================ */

EXPORT int socket(int domain, int type, int protocol)
{
	int fd;

	if (!active())
		return tsor__libc.socket(domain, type, protocol);
	fd = tsor__libc.socket(domain, type, protocol);
	if (fd < 0)
		return fd;
	if (is_tcp(domain, type, protocol)) {
		struct tsor_file *f = tsor_file_new(TSOR_FILE_TCP);

		if (f)
			(void)tsor_fd_install(fd, f);
	} else {
		tsor_fd_remove(fd); /* a stale entry from a close we did not see */
	}
	return fd;
}

EXPORT int listen(int fd, int backlog)
{
	struct tsor_file *f;
	struct tsor_msg m, r;
	int rc;

	if (!active())
		return tsor__libc.listen(fd, backlog);
	rc = tsor__libc.listen(fd, backlog);
	if (rc < 0)
		return rc;
	f = tsor_fd_get(fd);
	if (!f)
		return rc;
	if (f->kind == TSOR_FILE_TCP) {
		tsor_msg_init(&m, TSOR_MSG_LISTEN);
		if (call(&m, fd, &r, NULL, NULL) == 0) {
			f->listener_id = r.id;
			f->kind = TSOR_FILE_LISTENER;
		}
		eps_forget(fd); /* a listener is never adopted: drop its records */
	}
	tsor_file_put(f);
	return rc;
}

/* After a real accept of nfd on listener fd: ask tsord for a channel. */
static void accepted(int fd, int nfd, int flags)
{
	struct tsor_file *lf = tsor_fd_get(fd), *f;
	struct tsor_msg m, r;
	struct tsor_conn *c;
	int fds[TSOR_MAX_FDS], nfds = 0;

	tsor_fd_remove(nfd);
	if (!lf)
		return;
	if (lf->kind != TSOR_FILE_LISTENER)
		goto out;
	tsor_msg_init(&m, TSOR_MSG_ASK);
	if (call(&m, nfd, &r, fds, &nfds) != 0)
		goto out; /* a plain kernel client (or no tsord): kernel TCP */
	if (nfds != TSOR_MAX_FDS) {
		for (int i = 0; i < nfds; i++)
			tsor__libc.close(fds[i]);
		goto out;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		for (int i = 0; i < 3; i++)
			tsor__libc.close(fds[i]);
		goto out;
	}
	/* Failing here leaves the connector reading an unserved ring; tsord
	 * has matched already, so there is nothing better to do than to let
	 * the kernel socket carry EOF to it when we close. */
	if (tsor_conn_open(c, fds[0], &fds[1], TSOR_SIDE_ACCEPTOR, r.id)) {
		free(c);
		tsor__libc.shutdown(nfd, SHUT_RDWR);
		goto out;
	}
	atomic_store(&c->nonblock, (flags & SOCK_NONBLOCK) != 0);
	/* Out of fds: the connection polls the numbers it is given. */
	(void)tsor_conn_own_sock(c, nfd);
	f = tsor_file_new(TSOR_FILE_CONN);
	if (!f) {
		tsor_conn_close(c);
		free(c);
		goto out;
	}
	f->conn = c;
	(void)tsor_fd_install(nfd, f);
out:
	tsor_file_put(lf);
}

EXPORT int accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
	int nfd;

	if (!active())
		return tsor__libc.accept4(fd, addr, len, flags);
	nfd = tsor__libc.accept4(fd, addr, len, flags);
	if (nfd >= 0)
		accepted(fd, nfd, flags);
	return nfd;
}

EXPORT int accept(int fd, struct sockaddr *addr, socklen_t *len)
{
	int nfd;

	if (!active())
		return real.accept(fd, addr, len);
	nfd = real.accept(fd, addr, len);
	if (nfd >= 0)
		accepted(fd, nfd, 0);
	return nfd;
}

/* Binds an unbound socket to the wildcard address, port 0. 0 or -errno. */
static int bind_any(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	struct tsor_addr a;

	if (tsor__libc.getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return -errno;
	if (tsor_addr_from(&a, (struct sockaddr *)&ss, len) == 0 && a.port)
		return 0; /* already bound: the port is known */
	if (ss.ss_family == AF_INET) {
		struct sockaddr_in in = { .sin_family = AF_INET };

		return tsor__libc.bind(fd, (struct sockaddr *)&in, sizeof(in)) < 0 ? -errno : 0;
	}
	{
		struct sockaddr_in6 in6 = { .sin6_family = AF_INET6 };

		return tsor__libc.bind(fd, (struct sockaddr *)&in6, sizeof(in6)) < 0 ? -errno : 0;
	}
}

/* Before a TCP connect: maybe set up a channel. Returns the new conn or NULL. */
static struct tsor_conn *intent(int fd, const struct sockaddr *addr, socklen_t len)
{
	struct tsor_msg m, r;
	struct tsor_addr a;
	struct tsor_conn *c;
	int fds[TSOR_MAX_FDS], nfds = 0, fl;

	if (tsor_addr_from(&a, addr, len) || !a.port)
		return NULL;
	if (!has_listener(fd, &a)) {
		tsor_msg_init(&m, TSOR_MSG_FALLBACK);
		(void)call(&m, -1, &r, NULL, NULL);
		return NULL;
	}
	if (bind_any(fd))
		return NULL;
	tsor_msg_init(&m, TSOR_MSG_INTENT);
	m.addr = a;
	m.ring_size = ring_size;
	if (call(&m, fd, &r, fds, &nfds) != 0)
		return NULL;
	c = nfds == TSOR_MAX_FDS ? calloc(1, sizeof(*c)) : NULL;
	if (!c) {
		for (int i = 0; i < nfds; i++)
			tsor__libc.close(fds[i]);
		(void)cancel_intent(r.id, TSOR_CANCEL_FALLBACK);
		return NULL;
	}
	if (tsor_conn_open(c, fds[0], &fds[1], TSOR_SIDE_CONNECTOR, r.id)) {
		free(c);
		(void)cancel_intent(r.id, TSOR_CANCEL_FALLBACK);
		return NULL;
	}
	c->cancel = cancel_fallback;
	/* Out of fds: the connection polls the numbers it is given. */
	(void)tsor_conn_own_sock(c, fd);
	fl = tsor__libc.fcntl(fd, F_GETFL);
	atomic_store(&c->nonblock, fl >= 0 && (fl & O_NONBLOCK));
	return c;
}

EXPORT int connect(int fd, const struct sockaddr *addr, socklen_t len)
{
	struct tsor_file *f;
	struct tsor_conn *c;
	int rc, err;

	if (!active())
		return tsor__libc.connect(fd, addr, len);
	f = tsor_fd_get(fd);
	if (!f || f->kind != TSOR_FILE_TCP) {
		if (f)
			tsor_file_put(f);
		return tsor__libc.connect(fd, addr, len);
	}
	c = intent(fd, addr, len);
	if (c) {
		f->conn = c;
		atomic_thread_fence(memory_order_release);
		f->kind = TSOR_FILE_CONN;
	}
	rc = tsor__libc.connect(fd, addr, len);
	err = errno;
	if (c && rc < 0 && err != EINPROGRESS && err != EINTR && err != EALREADY) {
		/* The connection failed: no accept will ever ask for it. */
		f->kind = TSOR_FILE_TCP;
		(void)cancel_intent(c->id, TSOR_CANCEL_FAILED);
		tsor_conn_close(c);
		free(c);
		f->conn = NULL;
		c = NULL;
	}
	if (c) {
		eps_adopt(fd, f);
	} else {
		/* Kernel TCP for good: stop tracking it (and its epoll records). */
		eps_forget(fd);
		tsor_fd_remove(fd);
	}
	tsor_file_put(f);
	errno = err;
	return rc;
}

EXPORT int shutdown(int fd, int how)
{
	struct tsor_file *f;
	int r;

	if (!active() || !(f = conn_get(fd)))
		return tsor__libc.shutdown(fd, how);
	r = tsor_conn_shutdown(f->conn, fd, how);
	tsor_file_put(f);
	return (int)ret(r);
}

EXPORT int close(int fd)
{
	struct tsor_file *f;

	if (!active() || not_ours())
		return tsor__libc.close(fd);
	f = tsor_fd_get(fd);
	if (f) {
		if (f->kind != TSOR_FILE_EPOLL)
			eps_forget(fd);
		tsor_file_put(f);
		tsor_fd_remove(fd);
	}
	if (fd == cl.fd) {
		/* The application is closing our tsord socket (a daemon
		 * closing every fd): let it, and reconnect when needed. */
		cl.fd = -1;
	}
	return tsor__libc.close(fd);
}

EXPORT int close_range(unsigned first, unsigned last, int flags)
{
	bool a = active() && !not_ours();

	if (!real.close_range) {
		errno = ENOSYS;
		return -1;
	}
	if (a && !(flags & CLOSE_RANGE_CLOEXEC)) {
		for (unsigned fd = first; fd <= last && fd < (1u << 20); fd++) {
			struct tsor_file *f = tsor_fd_get((int)fd);

			if (f) {
				if (f->kind == TSOR_FILE_CONN || f->kind == TSOR_FILE_TCP)
					eps_forget((int)fd);
				tsor_file_put(f);
				tsor_fd_remove((int)fd);
			}
			if ((int)fd == cl.fd)
				cl.fd = -1;
		}
	}
	return real.close_range(first, last, flags);
}

/* After a successful dup of oldfd to newfd: share the file. */
static void dup_done(int oldfd, int newfd)
{
	struct tsor_file *f = tsor_fd_get(oldfd), *old = tsor_fd_get(newfd);

	if (old) {
		if (old->kind == TSOR_FILE_CONN || old->kind == TSOR_FILE_TCP)
			eps_forget(newfd); /* dup2 closed what newfd was */
		tsor_file_put(old);
	}
	if (f)
		(void)tsor_fd_install(newfd, f); /* our reference becomes the slot's */
	else
		tsor_fd_remove(newfd);
}

EXPORT int dup(int fd)
{
	bool a = active() && !not_ours();
	int n = real.dup(fd);

	if (n >= 0 && a)
		dup_done(fd, n);
	return n;
}

EXPORT int dup2(int fd, int nfd)
{
	bool a = active() && !not_ours();
	int n = real.dup2(fd, nfd);

	if (n >= 0 && fd != nfd && a)
		dup_done(fd, n);
	return n;
}

EXPORT int dup3(int fd, int nfd, int flags)
{
	bool a = active() && !not_ours();
	int n = real.dup3(fd, nfd, flags);

	if (n >= 0 && a)
		dup_done(fd, n);
	return n;
}

EXPORT int fcntl(int fd, int cmd, ...)
{
	struct tsor_file *f;
	unsigned long arg;
	va_list ap;
	int r;

	va_start(ap, cmd);
	/* Every fcntl argument is an int, a long or a pointer: one register. */
	arg = va_arg(ap, unsigned long);
	va_end(ap);
	if (!active() || ((cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC) && not_ours()))
		return tsor__libc.fcntl(fd, cmd, arg);
	r = tsor__libc.fcntl(fd, cmd, arg);
	if (r < 0)
		return r;
	if (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC) {
		dup_done(fd, r);
	} else if (cmd == F_SETFL && (f = conn_get(fd))) {
		atomic_store(&f->conn->nonblock, (arg & O_NONBLOCK) != 0);
		tsor_file_put(f);
	}
	return r;
}

EXPORT int ioctl(int fd, unsigned long req, ...)
{
	struct tsor_file *f;
	void *arg;
	va_list ap;
	int r;

	va_start(ap, req);
	arg = va_arg(ap, void *);
	va_end(ap);
	if (!active() || !(f = conn_get(fd)))
		return real.ioctl(fd, req, arg);
	if ((req == FIONREAD || req == SIOCOUTQ) &&
	    atomic_load(&f->conn->state) == TSOR_CONN_OPEN) {
		ssize_t n;

		if (req == FIONREAD) {
			n = tsor_conn_nread(f->conn);
		} else {
			n = ring_writable(&f->conn->tx);
			n = n < 0 ? 0 : (ssize_t)f->conn->map.ring_size - n;
		}
		tsor_file_put(f);
		if (!arg)
			return (int)ret(-EFAULT);
		*(int *)arg = n > INT32_MAX ? INT32_MAX : (int)n;
		return 0;
	}
	r = real.ioctl(fd, req, arg);
	if (r == 0 && req == FIONBIO && arg)
		atomic_store(&f->conn->nonblock, *(int *)arg != 0);
	tsor_file_put(f);
	return r;
}

EXPORT int setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
	struct tsor_file *f;
	bool a = active();
	int r = real.setsockopt(fd, level, name, val, len);

	if (r == 0 && a && level == SOL_SOCKET && (name == SO_RCVTIMEO || name == SO_SNDTIMEO) &&
	    val && len >= (socklen_t)sizeof(struct timeval) && (f = conn_get(fd))) {
		struct timeval tv;
		long ms;

		memcpy(&tv, val, sizeof(tv));
		ms = (long)tv.tv_sec * 1000 + tv.tv_usec / 1000;
		if (!ms && tv.tv_usec)
			ms = 1;
		ms = ms > INT32_MAX ? INT32_MAX : ms;
		if (name == SO_RCVTIMEO)
			f->conn->rcvtimeo_ms = ms ? (int)ms : -1;
		else
			f->conn->sndtimeo_ms = ms ? (int)ms : -1;
		tsor_file_put(f);
	}
	return r;
}

/* ============================ data ============================ */

/*
 * Runs the ring path for fd when it is an accelerated, open connection.
 * *handled is false when the caller must make the kernel call instead.
 */
static ssize_t ring_io(int fd, const struct iovec *iov, int iovcnt, int flags, bool send,
		       bool *handled)
{
	struct tsor_file *f;
	ssize_t r;

	*handled = false;
	if (!active() || !(f = conn_get(fd)))
		return 0;
	r = send ? tsor_conn_send(f->conn, fd, iov, iovcnt, flags)
		 : tsor_conn_recv(f->conn, fd, iov, iovcnt, flags);
	tsor_file_put(f);
	if (r == -EXDEV)
		return 0;
	*handled = true;
	return ret(r);
}

#define RING_IO(fd, iov, cnt, flags, send, kernel_call)               \
	do {                                                          \
		bool h_;                                              \
		ssize_t r_ = ring_io(fd, iov, cnt, flags, send, &h_); \
		if (h_)                                               \
			return r_;                                    \
		return kernel_call;                                   \
	} while (0)

EXPORT ssize_t read(int fd, void *buf, size_t n)
{
	struct iovec v = { buf, n };

	RING_IO(fd, &v, 1, 0, false, tsor__libc.read(fd, buf, n));
}

EXPORT ssize_t __read_chk(int fd, void *buf, size_t n, size_t buflen)
{
	if (n > buflen)
		__chk_fail();
	return read(fd, buf, n);
}

EXPORT ssize_t write(int fd, const void *buf, size_t n)
{
	struct iovec v = { unconst(buf), n };

	RING_IO(fd, &v, 1, 0, true, real.write(fd, buf, n));
}

EXPORT ssize_t readv(int fd, const struct iovec *iov, int cnt)
{
	if (cnt < 0 || cnt > IOV_MAX) {
		errno = EINVAL;
		return -1;
	}
	RING_IO(fd, iov, cnt, 0, false, real.readv(fd, iov, cnt));
}

EXPORT ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
	if (cnt < 0 || cnt > IOV_MAX) {
		errno = EINVAL;
		return -1;
	}
	RING_IO(fd, iov, cnt, 0, true, real.writev(fd, iov, cnt));
}

EXPORT ssize_t recv(int fd, void *buf, size_t n, int flags)
{
	struct iovec v = { buf, n };

	RING_IO(fd, &v, 1, flags, false, real.recv(fd, buf, n, flags));
}

EXPORT ssize_t __recv_chk(int fd, void *buf, size_t n, size_t buflen, int flags)
{
	if (n > buflen)
		__chk_fail();
	return recv(fd, buf, n, flags);
}

EXPORT ssize_t send(int fd, const void *buf, size_t n, int flags)
{
	struct iovec v = { unconst(buf), n };

	RING_IO(fd, &v, 1, flags, true, real.send(fd, buf, n, flags));
}

EXPORT ssize_t recvfrom(int fd, void *buf, size_t n, int flags, struct sockaddr *from,
			socklen_t *fromlen)
{
	struct iovec v = { buf, n };
	bool h;
	ssize_t r = ring_io(fd, &v, 1, flags, false, &h);

	if (!h)
		return tsor__libc.recvfrom(fd, buf, n, flags, from, fromlen);
	/* Connected TCP fills no address: the kernel reports length 0. */
	if (r >= 0 && from && fromlen)
		*fromlen = 0;
	return r;
}

EXPORT ssize_t __recvfrom_chk(int fd, void *buf, size_t n, size_t buflen, int flags,
			      struct sockaddr *from, socklen_t *fromlen)
{
	if (n > buflen)
		__chk_fail();
	return recvfrom(fd, buf, n, flags, from, fromlen);
}

EXPORT ssize_t sendto(int fd, const void *buf, size_t n, int flags, const struct sockaddr *to,
		      socklen_t tolen)
{
	struct iovec v = { unconst(buf), n };

	/* A connected TCP socket ignores the address, as Linux does. */
	RING_IO(fd, &v, 1, flags, true, real.sendto(fd, buf, n, flags, to, tolen));
}

EXPORT ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
	if (!msg || msg->msg_iovlen > IOV_MAX) {
		errno = msg ? EMSGSIZE : EFAULT;
		return -1;
	}
	RING_IO(fd, msg->msg_iov, (int)msg->msg_iovlen, flags, true,
		tsor__libc.sendmsg(fd, msg, flags));
}

EXPORT ssize_t recvmsg(int fd, struct msghdr *msg, int flags)
{
	bool h;
	ssize_t r;

	if (!msg || msg->msg_iovlen > IOV_MAX) {
		errno = msg ? EMSGSIZE : EFAULT;
		return -1;
	}
	r = ring_io(fd, msg->msg_iov, (int)msg->msg_iovlen, flags, false, &h);
	if (!h)
		return tsor__libc.recvmsg(fd, msg, flags);
	if (r >= 0) {
		msg->msg_namelen = 0;
		msg->msg_controllen = 0;
		msg->msg_flags = 0;
	}
	return r;
}

/* Writes v to the kernel socket fd (blocking as its flags say). Bytes
 * written or -errno. */
static ssize_t send_plain(int fd, struct iovec v)
{
	size_t done = 0, n = v.iov_len;

	while (done < n) {
		struct iovec w = { (char *)v.iov_base + done, n - done };
		struct msghdr m = { .msg_iov = &w, .msg_iovlen = 1 };
		ssize_t r = tsor__libc.sendmsg(fd, &m, 0);

		if (r < 0)
			return done ? (ssize_t)done : -errno;
		done += (size_t)r;
	}
	return (ssize_t)done;
}

EXPORT ssize_t sendfile(int out, int in, off_t *off, size_t count)
{
	struct tsor_file *f;
	size_t done = 0;
	char *buf;
	ssize_t r = 0;

	if (!active() || !(f = conn_get(out)))
		return real.sendfile(out, in, off, count);
	if (atomic_load(&f->conn->state) == TSOR_CONN_PLAIN || !(buf = malloc((size_t)64 * 1024))) {
		tsor_file_put(f);
		return real.sendfile(out, in, off, count);
	}
	while (done < count) {
		size_t want = count - done < 65536 ? count - done : 65536;
		ssize_t n = off ? pread(in, buf, want, *off) : tsor__libc.read(in, buf, want);
		struct iovec v;

		if (n < 0) {
			r = -errno;
			break;
		}
		if (n == 0)
			break;
		v = (struct iovec){ buf, (size_t)n };
		r = tsor_conn_send(f->conn, out, &v, 1, 0);
		if (r == -EXDEV && !off && lseek(in, -n, SEEK_CUR) < 0) {
			/* Fell back during the confirm wait, and the n bytes
			 * cannot go back into in: the kernel sends them. */
			r = send_plain(out, v);
			if (r > 0)
				done += (size_t)r;
			if (r != n)
				break;
			r = -EXDEV;
		} else if (r < 0 && r != -EXDEV && !off) {
			/* Nothing of this chunk went out (EAGAIN on a full
			 * ring, EPIPE): give it back, as sendfile leaves the
			 * file offset after the last byte sent. */
			(void)lseek(in, -n, SEEK_CUR);
		}
		if (r == -EXDEV) {
			/* Kernel TCP from here on: the rest is the kernel's. */
			r = real.sendfile(out, in, off, count - done);
			if (r > 0)
				done += (size_t)r;
			else if (r < 0)
				r = -errno;
			break;
		}
		if (r < 0)
			break;
		if (off)
			*off += r;
		else if (r < n)
			(void)lseek(in, r - n, SEEK_CUR); /* give back what did not fit */
		done += (size_t)r;
		if (r < n)
			break;
	}
	free(buf);
	tsor_file_put(f);
	if (done)
		return (ssize_t)done;
	return ret(r);
}

/*
 * Programs built with _FILE_OFFSET_BITS=64 call sendfile64 (nginx does);
 * without this the body of every nginx response went to the kernel socket,
 * which the peer reads as EOF. Same function where off_t is 64 bits.
 */
_Static_assert(sizeof(off_t) == sizeof(off64_t), "sendfile64 is sendfile only on LP64");
EXPORT ssize_t sendfile64(int out, int in, off64_t *off, size_t count)
{
	return sendfile(out, in, (off_t *)off, count);
}

/* ============================ readiness ============================ */

/* Looks up the CONN files of fds; true when there is at least one. */
static bool conn_files(const struct pollfd *fds, nfds_t n, struct tsor_file **files)
{
	bool any = false;

	for (nfds_t i = 0; i < n; i++) {
		files[i] = fds[i].fd >= 0 ? conn_get(fds[i].fd) : NULL;
		if (files[i] && atomic_load(&files[i]->conn->state) == TSOR_CONN_PLAIN) {
			tsor_file_put(files[i]);
			files[i] = NULL;
		}
		any |= files[i] != NULL;
	}
	return any;
}

static void put_files(struct tsor_file **files, nfds_t n)
{
	for (nfds_t i = 0; i < n; i++)
		if (files[i])
			tsor_file_put(files[i]);
}

static int poll_common(struct pollfd *fds, nfds_t n, int timeout_ms, const struct timespec *ts,
		       const sigset_t *sigmask, bool is_ppoll)
{
	struct tsor_file *stack[STACK_FILES], **files = stack;
	int r;

	if (!active() || !n)
		goto kernel;
	if (n > STACK_FILES) {
		files = malloc(n * sizeof(*files)); /* NOLINT(bugprone-sizeof-expression) */
		if (!files)
			goto kernel;
	}
	if (!conn_files(fds, n, files)) {
		if (files != stack)
			free(files);
		goto kernel;
	}
	r = tsor_poll(fds, n, files, timeout_ms, sigmask, spin_ns);
	put_files(files, n);
	if (files != stack)
		free(files);
	return (int)ret(r);
kernel:
	return is_ppoll ? tsor__libc.ppoll(fds, n, ts, sigmask)
			: tsor__libc.poll(fds, n, timeout_ms);
}

EXPORT int poll(struct pollfd *fds, nfds_t n, int timeout)
{
	return poll_common(fds, n, timeout, NULL, NULL, false);
}

EXPORT int __poll_chk(struct pollfd *fds, nfds_t n, int timeout, size_t fdslen)
{
	if (fdslen / sizeof(*fds) < n)
		__chk_fail();
	return poll(fds, n, timeout);
}

static int ts_ms(const struct timespec *ts)
{
	if (!ts)
		return -1;
	if (ts->tv_sec > INT32_MAX / 1000 - 1)
		return INT32_MAX;
	return (int)(ts->tv_sec * 1000 + (ts->tv_nsec + 999999) / 1000000);
}

EXPORT int ppoll(struct pollfd *fds, nfds_t n, const struct timespec *ts, const sigset_t *ss)
{
	return poll_common(fds, n, ts_ms(ts), ts, ss, true);
}

EXPORT int __ppoll_chk(struct pollfd *fds, nfds_t n, const struct timespec *ts, const sigset_t *ss,
		       size_t fdslen)
{
	if (fdslen / sizeof(*fds) < n)
		__chk_fail();
	return ppoll(fds, n, ts, ss);
}

/* The poll events select() asks for fd. */
static short set_events(int fd, const fd_set *rd, const fd_set *wr, const fd_set *ex)
{
	short ev = 0;

	if (rd && FD_ISSET(fd, rd))
		ev |= POLLIN;
	if (wr && FD_ISSET(fd, wr))
		ev |= POLLOUT;
	if (ex && FD_ISSET(fd, ex))
		ev |= POLLPRI;
	return ev;
}

/* Writes poll results back as select() sets; the count, or -EBADF. */
static int poll_to_sets(const struct pollfd *p, nfds_t n, fd_set *rd, fd_set *wr, fd_set *ex)
{
	int count = 0;

	if (rd)
		FD_ZERO(rd);
	if (wr)
		FD_ZERO(wr);
	if (ex)
		FD_ZERO(ex);
	for (nfds_t i = 0; i < n; i++) {
		short rv = p[i].revents;

		if (rv & POLLNVAL)
			return -EBADF;
		if (rd && (p[i].events & POLLIN) && (rv & (POLLIN | POLLHUP | POLLERR))) {
			FD_SET(p[i].fd, rd);
			count++;
		}
		if (wr && (p[i].events & POLLOUT) && (rv & (POLLOUT | POLLERR))) {
			FD_SET(p[i].fd, wr);
			count++;
		}
		if (ex && (p[i].events & POLLPRI) && (rv & POLLPRI)) {
			FD_SET(p[i].fd, ex);
			count++;
		}
	}
	return count;
}

/* True when a select() set names an accelerated, not fallen back, fd. */
static bool sets_have_conn(int nfds, const fd_set *rd, const fd_set *wr, const fd_set *ex)
{
	bool any = false;

	for (int fd = 0; fd < nfds && !any; fd++) {
		struct tsor_file *f = set_events(fd, rd, wr, ex) ? conn_get(fd) : NULL;

		if (f) {
			any = atomic_load(&f->conn->state) != TSOR_CONN_PLAIN;
			tsor_file_put(f);
		}
	}
	return any;
}

/*
 * select/pselect on top of tsor_poll when any fd in the sets is
 * accelerated (*handled), else the caller makes the kernel call.
 */
static int select_common(int nfds, fd_set *rd, fd_set *wr, fd_set *ex, int timeout_ms,
			 const sigset_t *ss, bool *handled)
{
	struct tsor_file **files = NULL;
	struct pollfd *p;
	nfds_t n = 0;
	int r = 0;

	*handled = false;
	if (!active() || nfds <= 0 || nfds > FD_SETSIZE || !sets_have_conn(nfds, rd, wr, ex))
		return 0;
	p = calloc((size_t)nfds, sizeof(*p));
	if (!p)
		return 0;
	files = calloc((size_t)nfds, sizeof(*files)); /* NOLINT(bugprone-sizeof-expression) */
	if (!files)
		goto out_free;
	for (int fd = 0; fd < nfds; fd++) {
		short ev = set_events(fd, rd, wr, ex);

		if (ev)
			p[n++] = (struct pollfd){ .fd = fd, .events = ev };
	}
	(void)conn_files(p, n, files);
	*handled = true;
	r = tsor_poll(p, n, files, timeout_ms, ss, spin_ns);
	put_files(files, n);
	if (r >= 0)
		r = poll_to_sets(p, n, rd, wr, ex);
	r = (int)ret(r);
out_free:
	free(files);
	free(p);
	return *handled ? r : 0;
}

EXPORT int select(int nfds, fd_set *rd, fd_set *wr, fd_set *ex, struct timeval *tv)
{
	uint64_t t0 = tsor_now_ns(), spent;
	bool h;
	int ms = -1, r;

	if (tv) {
		if (tv->tv_sec < 0 || tv->tv_usec < 0) {
			errno = EINVAL;
			return -1;
		}
		ms = tv->tv_sec > INT32_MAX / 1000 - 1
			     ? INT32_MAX
			     : (int)(tv->tv_sec * 1000 + (tv->tv_usec + 999) / 1000);
	}
	r = select_common(nfds, rd, wr, ex, ms, NULL, &h);
	if (!h)
		return real.select(nfds, rd, wr, ex, tv);
	if (tv) {
		/* Linux's select() leaves the time not slept in *tv. */
		int64_t left = (int64_t)tv->tv_sec * 1000000 + tv->tv_usec;

		spent = (tsor_now_ns() - t0) / 1000u;
		left = (uint64_t)left > spent ? left - (int64_t)spent : 0;
		tv->tv_sec = (time_t)(left / 1000000);
		tv->tv_usec = (suseconds_t)(left % 1000000);
	}
	return r;
}

EXPORT int pselect(int nfds, fd_set *rd, fd_set *wr, fd_set *ex, const struct timespec *ts,
		   const sigset_t *ss)
{
	bool h;
	int r = select_common(nfds, rd, wr, ex, ts_ms(ts), ss, &h);

	return h ? r : real.pselect(nfds, rd, wr, ex, ts, ss);
}

/* ============================ epoll ============================ */

static int ep_new(int epfd)
{
	struct tsor_file *f;
	struct tsor_ep *ep;

	if (epfd < 0)
		return epfd;
	ep = malloc(sizeof(*ep));
	f = ep ? tsor_file_new(TSOR_FILE_EPOLL) : NULL;
	if (!f) {
		free(ep);
		tsor_fd_remove(epfd);
		return epfd; /* no emulation: accelerated fds in it fall to the kernel */
	}
	tsor_ep_init(ep, epfd);
	f->ep = ep;
	eps_add(ep);
	(void)tsor_fd_install(epfd, f);
	return epfd;
}

EXPORT int epoll_create(int size)
{
	bool a = active();
	int fd = real.epoll_create(size);

	return a ? ep_new(fd) : fd;
}

EXPORT int epoll_create1(int flags)
{
	bool a = active();
	int fd = tsor__libc.epoll_create1(flags);

	return a ? ep_new(fd) : fd;
}

EXPORT int epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
	struct tsor_file *e, *f;
	int r;

	if (!active())
		return tsor__libc.epoll_ctl(epfd, op, fd, ev);
	f = tsor_fd_get(fd);
	if (f && f->kind == TSOR_FILE_TCP) {
		/* Not connected yet: the kernel serves it, but remember it in
		 * case connect() accelerates it (tsor_ep_adopt()). */
		r = tsor__libc.epoll_ctl(epfd, op, fd, ev);
		e = r == 0 ? tsor_fd_get(epfd) : NULL;
		if (e && e->kind == TSOR_FILE_EPOLL)
			tsor_ep_note(e->ep, op, fd, ev);
		if (e)
			tsor_file_put(e);
		tsor_file_put(f);
		return r;
	}
	if (f && f->kind != TSOR_FILE_CONN) {
		tsor_file_put(f);
		f = NULL;
	}
	if (!f)
		return tsor__libc.epoll_ctl(epfd, op, fd, ev);
	e = tsor_fd_get(epfd);
	if (!e || e->kind != TSOR_FILE_EPOLL) {
		if (e)
			tsor_file_put(e);
		tsor_file_put(f);
		return tsor__libc.epoll_ctl(epfd, op, fd, ev);
	}
	r = tsor_ep_ctl(e->ep, op, fd, f, ev);
	tsor_file_put(e);
	tsor_file_put(f);
	return (int)ret(r);
}

/* The emulated epoll at epfd when it holds accelerated fds, else NULL. */
static struct tsor_file *ep_get(int epfd)
{
	struct tsor_file *e;

	if (!active() || !(e = tsor_fd_get(epfd)))
		return NULL;
	/* An unlocked peek at n: a racing ADD is seen on the next call. */
	if (e->kind != TSOR_FILE_EPOLL || !__atomic_load_n(&e->ep->n, __ATOMIC_RELAXED)) {
		tsor_file_put(e);
		return NULL;
	}
	return e;
}

static int ep_wait(struct tsor_file *e, struct epoll_event *evs, int max, int timeout,
		   const sigset_t *ss)
{
	int r = tsor_ep_wait(e->ep, evs, max, timeout, ss, spin_ns);

	tsor_file_put(e);
	return (int)ret(r);
}

EXPORT int epoll_wait(int epfd, struct epoll_event *evs, int max, int timeout)
{
	struct tsor_file *e = ep_get(epfd);

	if (!e)
		return tsor__libc.epoll_wait(epfd, evs, max, timeout);
	return ep_wait(e, evs, max, timeout, NULL);
}

EXPORT int epoll_pwait(int epfd, struct epoll_event *evs, int max, int timeout, const sigset_t *ss)
{
	struct tsor_file *e = ep_get(epfd);

	if (!e)
		return real.epoll_pwait(epfd, evs, max, timeout, ss);
	return ep_wait(e, evs, max, timeout, ss);
}

EXPORT int epoll_pwait2(int epfd, struct epoll_event *evs, int max, const struct timespec *ts,
			const sigset_t *ss)
{
	struct tsor_file *e = ep_get(epfd);

	if (!e) {
		if (!real.epoll_pwait2) {
			errno = ENOSYS;
			return -1;
		}
		return real.epoll_pwait2(epfd, evs, max, ts, ss);
	}
	return ep_wait(e, evs, max, ts_ms(ts), ss);
}
