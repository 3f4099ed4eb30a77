// SPDX-License-Identifier: MIT
/*
 * Description: sockcheck, the socket-semantics suite of TSoR (issue 4).
 * One program, run twice: on plain kernel TCP and under `tsor run --`,
 * whose two outputs must be identical.
 *
 * Why a program of our own: libtsor.so takes over the TCP sockets of
 * unmodified programs, so the only specification it has is what the kernel
 * does. Real servers depend on the corners (EINPROGRESS then POLLOUT,
 * short writes then EAGAIN, EOF after SHUT_WR, an edge-triggered epoll that
 * reports once per arrival, a forked child that keeps a connection alive
 * after the parent closed its copy, EPIPE after a peer went away). Each of
 * those corners is a case here, written against the kernel first (the
 * ctest test tsor_sockcheck_kernel requires every case to pass natively),
 * and then used as the oracle for the interposer
 * (tests/integration/tsor/test_sockcheck.sh diffs the two runs).
 *
 * How it works. The runner forks one child per case, in a process group of
 * its own, with a pipe for the result and alarm() as the deadline. The
 * case forks or spawns threads for its server and client over 127.0.0.1
 * (or ::1 for the -v6 cases) and uses nothing but the ordinary socket API,
 * so an LD_PRELOAD interposer sees exactly what a real program would do.
 * A failed check writes one line to the pipe and _exit()s; a peer
 * process prefixes its line with "peer: "; a timeout writes "timed out in
 * <stage>" from the SIGALRM handler, so a hang becomes a FAIL line instead
 * of a stuck test. When the case's main process has exited, the runner
 * SIGKILLs what is left of its group and reaps it (it is the child
 * subreaper, so orphaned peers come back to it). It waits for that group
 * only and reads the pipe without waiting for EOF, so a daemon that an
 * interposer starts from inside a case (in a session of its own) can hold
 * neither the pipe nor the run. Then it prints one line:
 *
 *     case-name: ok
 *     case-name: FAIL <what differed>
 *     case-name: SKIP <why>          (the -v6 cases without an IPv6 loopback)
 *
 * The first message written wins: a peer's complaint reaches the pipe before
 * the EOF it causes on the other side can make the main process fail too.
 *
 * Why the output is normalised: the two runs are compared with diff, so a
 * line may only say what the kernel guarantees. No addresses, ports, pids,
 * timings or byte counts that depend on buffer sizes appear in an ok line,
 * and where Linux itself may legitimately answer in two ways (a killed
 * peer gives EOF or ECONNRESET, depending on whether it had unread data)
 * the case accepts both. Everything else is checked exactly: errno values by
 * name, poll and epoll masks bit for bit, byte streams position by
 * position against a fixed pseudo-random pattern and end to end with XXH3.
 *
 * Timing: no check depends on something happening fast. "Must happen" waits
 * up to seconds; "must not happen" (a second edge-triggered report) waits
 * 100 ms, which can only make a broken implementation pass, never a correct
 * one fail. The one state checked as "not ready" is a connection filled to
 * EAGAIN twice, 50 ms apart, while its reader sleeps: by then the receive
 * window is closed and nothing can free send space. The whole run takes
 * about 5 s on a 2-vCPU VM (10 s under ASan); the four bulk cases, 64 MiB
 * each way at once, are most of it.
 *
 * Where Linux surprised (and the cases say so where it matters): the first
 * connect() after a non-blocking connect completed returns 0, only the next
 * one EISCONN; POLLOUT stays set after our own SHUT_WR; a socket shows
 * POLLHUP only once both directions are shut, not when the peer closed.
 *
 *   sockcheck                 run every case
 *   sockcheck CASE...         run the named cases
 *   sockcheck --list          print the case names
 *   sockcheck -t SECONDS ...  per-case deadline (default 10)
 * Exit status: 0 when no case failed, 1 otherwise, 2 on a usage error.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/select.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/*
 * The byte stream every data-carrying case sends: PAT_LEN pseudo-random
 * bytes, stored twice in a row so that any window of up to PAT_LEN bytes
 * starting anywhere in the stream is contiguous (pat_at()). PAT_LEN is odd
 * and not a multiple of any chunk size, so a duplicated, dropped or
 * reordered chunk always lands on different bytes. 8 MiB is larger than
 * anything loopback TCP buffers, which the partial-write case relies on.
 */
#define PAT_LEN ((8u << 20) + 4099u)

#define SC_TIMEOUT_DEFAULT 10u /* seconds per case; a run takes a few in all */

static unsigned char *pat;			   /* 2 * PAT_LEN bytes, see PAT_LEN */
static unsigned case_timeout = SC_TIMEOUT_DEFAULT; /* alarm() of every case process */
static int result_fd = -1;			   /* write end of the runner's pipe, in a case */
static bool is_peer;				   /* set in forked helpers: prefixes messages */
/* What we wait for, for the timeout line. Atomic: a case's threads both set
 * it, and lock-free atomics are async-signal-safe for the handler. */
static _Atomic(const char *) stage = "start";

static const unsigned char *pat_at(uint64_t pos)
{
	return pat + pos % PAT_LEN;
}

/* The same, writable, only because struct iovec has no const variant. */
static unsigned char *pat_iov(uint64_t pos)
{
	return pat + pos % PAT_LEN;
}

static void pattern_init(void)
{
	uint64_t x = 0x9e3779b97f4a7c15ull;

	pat = malloc(2 * (size_t)PAT_LEN);
	if (!pat) {
		fprintf(stderr, "sockcheck: out of memory for the %u-byte pattern\n", PAT_LEN);
		exit(2);
	}
	for (size_t i = 0; i < PAT_LEN; i++) {
		x ^= x << 13; /* xorshift64: fast and good enough to catch misplaced bytes */
		x ^= x >> 7;
		x ^= x << 17;
		pat[i] = (unsigned char)(x >> 32);
	}
	memcpy(pat + PAT_LEN, pat, PAT_LEN);
}

/* ---- Reporting ---------------------------------------------------------- */

static void put_msg(const char *msg, size_t len)
{
	/* One write() under PIPE_BUF is atomic, so lines from peers never mix. */
	while (result_fd >= 0 && write(result_fd, msg, len) < 0 && errno == EINTR)
		;
}

/* errno as its name (ECONNRESET): the same text in every locale and libc build. */
static const char *ename(int err)
{
	const char *s = strerrorname_np(err);

	return s ? s : "unknown-errno";
}

__attribute__((format(printf, 1, 2))) static _Noreturn void fail(const char *fmt, ...)
{
	char msg[400];
	size_t n = 0;
	va_list ap;
	int r;

	if (is_peer) {
		n = strlen("peer: ");
		memcpy(msg, "peer: ", n + 1);
	}
	va_start(ap, fmt);
	r = vsnprintf(msg + n, sizeof(msg) - n - 1, fmt, ap);
	va_end(ap);
	if (r > 0)
		n += (size_t)r < sizeof(msg) - n - 1 ? (size_t)r : sizeof(msg) - n - 2;
	msg[n++] = '\n';
	put_msg(msg, n);
	_exit(1);
}

#define CHECK(cond, ...)                   \
	do {                               \
		if (!(cond))               \
			fail(__VA_ARGS__); \
	} while (0)

/* Fails with "<what>: <errno name>" unless r reports errno err. Call it on the
 * syscall's result directly, before anything else can change errno. */
static void expect_err(ssize_t r, int err, const char *what)
{
	if (r >= 0)
		fail("%s: expected %s, got success (%zd)", what, ename(err), r);
	if (errno != err)
		fail("%s: expected %s, got %s", what, ename(err), ename(errno));
}

/* expect_err() with the step named before the call runs, so that a call that
 * blocks when it should not times out with its own name. */
#define EXPECT_ERR(call, err, what)                \
	do {                                       \
		stage = (what);                    \
		expect_err((call), (err), (what)); \
	} while (0)

static void on_alarm(int sig)
{
	/* Async-signal-safe: no stdio, only memcpy/strlen/write. */
	const char *parts[3] = { is_peer ? "peer: " : "", "timed out in ", stage };
	char msg[200];
	size_t n = 0;

	(void)sig;
	for (size_t i = 0; i < ARRAY_SIZE(parts); i++) {
		size_t len = strlen(parts[i]);

		if (len > sizeof(msg) - n - 1)
			len = sizeof(msg) - n - 1;
		memcpy(msg + n, parts[i], len);
		n += len;
	}
	msg[n++] = '\n';
	put_msg(msg, n);
	_exit(1);
}

/* ---- Processes, time -------------------------------------------------------- */

/* fork() for a helper process of a case: it gets its own deadline (alarms
 * are not inherited) and reports as "peer". It ends with exit(0) or fail(). */
static pid_t xfork(void)
{
	pid_t pid;

	fflush(NULL);
	pid = fork();
	if (pid < 0)
		fail("fork: %s", ename(errno));
	if (pid == 0) {
		is_peer = true;
		alarm(case_timeout);
	}
	return pid;
}

static int xwaitpid(pid_t pid)
{
	int st;

	while (waitpid(pid, &st, 0) < 0) {
		if (errno != EINTR)
			fail("waitpid: %s", ename(errno));
	}
	return st;
}

/* Waits for a helper that must have exited 0. If it failed, its own
 * message is already in the pipe and wins; this one only backs it up. */
static void reap(pid_t pid, const char *who)
{
	int st;

	stage = "waiting for a helper process";
	st = xwaitpid(pid);
	if (WIFSIGNALED(st))
		fail("%s killed by SIG%s", who, sigabbrev_np(WTERMSIG(st)));
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		fail("%s exited with status %d", who, WEXITSTATUS(st));
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void *xmalloc(size_t n)
{
	void *p = malloc(n);

	if (!p)
		fail("out of memory (%zu bytes)", n);
	return p;
}

static pthread_t xthread(void *(*fn)(void *), void *arg)
{
	pthread_t t;
	int err = pthread_create(&t, NULL, fn, arg);

	if (err)
		fail("pthread_create: %s", ename(err));
	return t;
}

/* ---- Addresses and connections -------------------------------------------- */

struct endpoint {
	struct sockaddr_storage ss; /* address and port, as bind/connect take it */
	socklen_t len;		    /* the length that goes with it */
};

static struct sockaddr *sa(struct endpoint *ep)
{
	return (struct sockaddr *)&ep->ss;
}

static uint16_t ep_port(const struct endpoint *ep)
{
	if (ep->ss.ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)&ep->ss)->sin6_port);
	return ntohs(((const struct sockaddr_in *)&ep->ss)->sin_port);
}

static void loopback(int family, struct endpoint *ep)
{
	memset(ep, 0, sizeof(*ep));
	if (family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ep->ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_addr = in6addr_loopback;
		ep->len = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ep->ss;

		s4->sin_family = AF_INET;
		s4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		ep->len = sizeof(*s4);
	}
}

static int tcp_socket(int family, int flags)
{
	int fd = socket(family, SOCK_STREAM | flags, 0);

	if (fd < 0)
		fail("socket: %s", ename(errno));
	return fd;
}

static void xclose(int fd)
{
	if (close(fd) < 0)
		fail("close: %s", ename(errno));
}

static void local_name(int fd, struct endpoint *ep)
{
	ep->len = sizeof(ep->ss);
	if (getsockname(fd, sa(ep), &ep->len) < 0)
		fail("getsockname: %s", ename(errno));
}

static void peer_name(int fd, struct endpoint *ep)
{
	ep->len = sizeof(ep->ss);
	if (getpeername(fd, sa(ep), &ep->len) < 0)
		fail("getpeername: %s", ename(errno));
}

/* A listening socket on the loopback address, port chosen by the kernel;
 * *ep receives its address. The backlog holds every connection a case
 * makes before it accepts (many-conns makes 200). */
static int listener(int family, struct endpoint *ep)
{
	int fd = tcp_socket(family, 0);

	loopback(family, ep);
	if (bind(fd, sa(ep), ep->len) < 0)
		fail("bind: %s", ename(errno));
	if (listen(fd, 256) < 0)
		fail("listen: %s", ename(errno));
	local_name(fd, ep);
	return fd;
}

static int connect_to(struct endpoint *ep)
{
	int fd = tcp_socket(ep->ss.ss_family, 0);

	stage = "connect";
	if (connect(fd, sa(ep), ep->len) < 0)
		fail("connect: %s", ename(errno));
	return fd;
}

static int xaccept(int lfd)
{
	int fd;

	stage = "accept";
	while ((fd = accept(lfd, NULL, NULL)) < 0) {
		if (errno != EINTR)
			fail("accept: %s", ename(errno));
	}
	return fd;
}

/* A connected pair inside one process: *c connected, *s accepted. */
static void tcp_pair(int family, int *c, int *s)
{
	struct endpoint ep;
	int l = listener(family, &ep);

	*c = connect_to(&ep);
	*s = xaccept(l);
	xclose(l);
}

static void set_nonblock(int fd, bool on)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK) < 0)
		fail("fcntl O_NONBLOCK: %s", ename(errno));
}

static int get_int_opt(int fd, int level, int name, const char *what)
{
	int v = -1;
	socklen_t len = sizeof(v);

	if (getsockopt(fd, level, name, &v, &len) < 0)
		fail("getsockopt %s: %s", what, ename(errno));
	CHECK(len == sizeof(v), "getsockopt %s: optlen %u, expected %zu", what, (unsigned)len,
	      sizeof(v));
	return v;
}

static void set_int_opt(int fd, int level, int name, int v, const char *what)
{
	if (setsockopt(fd, level, name, &v, sizeof(v)) < 0)
		fail("setsockopt %s: %s", what, ename(errno));
}

static int so_error(int fd)
{
	return get_int_opt(fd, SOL_SOCKET, SO_ERROR, "SO_ERROR");
}

static int inq(int fd)
{
	int n = -1;

	if (ioctl(fd, FIONREAD, &n) < 0)
		fail("ioctl FIONREAD: %s", ename(errno));
	return n;
}

/* ---- Data ------------------------------------------------------------------ */

static void write_all(int fd, const void *buf, size_t n, const char *what)
{
	const unsigned char *p = buf;

	stage = what;
	while (n > 0) {
		ssize_t r = write(fd, p, n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			fail("%s: write: %s", what, ename(errno));
		CHECK(r > 0, "%s: write returned 0", what);
		p += r;
		n -= (size_t)r;
	}
}

static void read_exact(int fd, void *buf, size_t n, const char *what)
{
	unsigned char *p = buf;

	stage = what;
	while (n > 0) {
		ssize_t r = read(fd, p, n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			fail("%s: read: %s", what, ename(errno));
		CHECK(r > 0, "%s: EOF %zu bytes early", what, n);
		p += r;
		n -= (size_t)r;
	}
}

/* Reads n bytes and checks them against the pattern from position pos. */
static void read_pattern(int fd, uint64_t pos, size_t n, const char *what)
{
	unsigned char *buf = xmalloc(n ? n : 1);

	read_exact(fd, buf, n, what);
	CHECK(memcmp(buf, pat_at(pos), n) == 0, "%s: the bytes differ from what was sent", what);
	free(buf);
}

static void expect_eof(int fd, const char *what)
{
	char b;
	ssize_t r;

	stage = what;
	while ((r = read(fd, &b, 1)) < 0 && errno == EINTR)
		;
	if (r < 0)
		fail("%s: expected EOF, got %s", what, ename(errno));
	CHECK(r == 0, "%s: expected EOF, got data", what);
}

/* One message each way between two connected sockets. */
static void ping(int a, int b, const char *what)
{
	char buf[5];

	write_all(a, "ping", 4, what);
	read_exact(b, buf, 4, what);
	CHECK(memcmp(buf, "ping", 4) == 0, "%s: got the wrong bytes", what);
	write_all(b, "pong", 4, what);
	read_exact(a, buf, 4, what);
	CHECK(memcmp(buf, "pong", 4) == 0, "%s: got the wrong bytes back", what);
}

/* ---- poll, epoll ------------------------------------------------------------ */

/* revents as flag names, for messages that must not vary with bit values. */
static const char *poll_str(unsigned ev, char *buf, size_t len)
{
	static const struct {
		unsigned bit;
		const char *name;
	} names[] = {
		{ POLLIN, "IN" },	{ POLLPRI, "PRI" },	  { POLLOUT, "OUT" },
		{ POLLERR, "ERR" },	{ POLLHUP, "HUP" },	  { POLLNVAL, "NVAL" },
		{ POLLRDHUP, "RDHUP" }, { POLLRDNORM, "RDNORM" }, { POLLWRNORM, "WRNORM" },
	};
	size_t n = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		if (ev & names[i].bit) {
			int r = snprintf(buf + n, len - n, "%s%s", n ? "|" : "", names[i].name);

			if (r > 0 && (size_t)r < len - n)
				n += (size_t)r;
		}
	}
	return n ? buf : "none";
}

static unsigned poll1(int fd, short events, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = events };
	int r;

	while ((r = poll(&p, 1, timeout_ms)) < 0) {
		if (errno != EINTR)
			fail("poll: %s", ename(errno));
	}
	return r ? (unsigned short)p.revents : 0;
}

static void expect_revents(int fd, short events, int timeout_ms, unsigned want, const char *what)
{
	char got_s[80], want_s[80];
	unsigned got;

	stage = what;
	got = poll1(fd, events, timeout_ms);
	CHECK(got == want, "%s: poll revents %s, expected %s", what,
	      poll_str(got, got_s, sizeof(got_s)), poll_str(want, want_s, sizeof(want_s)));
}

/* Waits (up to the case deadline) until FIONREAD shows at least n bytes, so
 * that the checks that follow see a known amount of queued data. */
static void wait_inq(int fd, int n)
{
	stage = "waiting for data to arrive";
	while (inq(fd) < n) {
		poll1(fd, POLLIN, 100);
		sleep_ms(1);
	}
}

static void ep_ctl(int ep, int op, int fd, unsigned events, uint64_t tag)
{
	struct epoll_event ev = { .events = events, .data.u64 = tag };

	if (epoll_ctl(ep, op, fd, &ev) < 0)
		fail("epoll_ctl: %s", ename(errno));
}

static int ep_wait(int ep, struct epoll_event *ev, int max, int timeout_ms)
{
	int n;

	while ((n = epoll_wait(ep, ev, max, timeout_ms)) < 0) {
		if (errno != EINTR)
			fail("epoll_wait: %s", ename(errno));
	}
	return n;
}

/* One epoll_wait that must return exactly one event: tag with mask want. */
static void expect_event(int ep, int timeout_ms, uint64_t tag, unsigned want, const char *what)
{
	struct epoll_event ev[4];
	char got_s[80], want_s[80];
	int n;

	stage = what;
	n = ep_wait(ep, ev, 4, timeout_ms);
	CHECK(n == 1, "%s: epoll_wait returned %d events, expected 1", what, n);
	CHECK(ev[0].data.u64 == tag, "%s: event for the wrong descriptor", what);
	CHECK(ev[0].events == want, "%s: events %s, expected %s", what,
	      poll_str(ev[0].events, got_s, sizeof(got_s)), poll_str(want, want_s, sizeof(want_s)));
}

static void expect_no_event(int ep, int timeout_ms, const char *what)
{
	struct epoll_event ev[4];
	char s[80];
	int n;

	stage = what;
	n = ep_wait(ep, ev, 4, timeout_ms);
	CHECK(n == 0, "%s: epoll_wait reported %s, expected nothing", what,
	      poll_str(ev[0].events, s, sizeof(s)));
}

/* Writes the pattern from *pos on until the non-blocking fd says EAGAIN;
 * the first write that does not take everything must be short, not EAGAIN. */
static void fill_until_eagain(int fd, uint64_t *pos, bool expect_short, const char *what)
{
	stage = what;
	for (int i = 0;; i++) {
		ssize_t r = write(fd, pat_at(*pos), PAT_LEN);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			EXPECT_ERR(r, EAGAIN, what);
			CHECK(!expect_short || i > 0, "%s: EAGAIN without a short write first",
			      what);
			return;
		}
		CHECK(!expect_short || i > 0 || (size_t)r < PAT_LEN,
		      "%s: a non-blocking write of %u bytes took all of them", what, PAT_LEN);
		CHECK(i < 16, "%s: the connection never filled up", what);
		*pos += (uint64_t)r;
	}
}

/* Reads until EOF, checking every byte against the pattern from pos0. */
struct drain {
	int fd;	      /* the socket to drain, blocking */
	uint64_t pos; /* in: pattern position of the first byte; out: after the last */
};

static void *drain_thread(void *arg)
{
	struct drain *d = arg;
	size_t cap = (size_t)256 * 1024;
	unsigned char *buf = xmalloc(cap);

	for (;;) {
		ssize_t r = read(d->fd, buf, cap);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			fail("drain: read: %s", ename(errno));
		if (r == 0)
			break;
		CHECK(memcmp(buf, pat_at(d->pos), (size_t)r) == 0,
		      "drain: stream corrupt at some offset");
		d->pos += (uint64_t)r;
	}
	free(buf);
	return NULL;
}

/* ==== The cases ============================================================= */

/* Blocking connect/accept, then echo messages of several sizes. */
static void case_echo(int family)
{
	static const size_t sizes[] = { 1, 100, 1000, 16384, 65539 };
	struct endpoint ep;
	unsigned char *buf;
	size_t sent = 0, echoed = 0;
	int l, s;
	pid_t pid;

	l = listener(family, &ep);
	pid = xfork();
	if (pid == 0) {
		int c;

		xclose(l);
		c = connect_to(&ep);
		for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
			write_all(c, pat_at(i * 1000), sizes[i], "client write");
			read_pattern(c, i * 1000, sizes[i], "client read of the echo");
		}
		xclose(c);
		exit(0);
	}
	s = xaccept(l);
	xclose(l);
	buf = xmalloc(8192);
	for (;;) {
		ssize_t r = read(s, buf, 8192);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			fail("server read: %s", ename(errno));
		if (r == 0)
			break;
		write_all(s, buf, (size_t)r, "server echo");
		echoed += (size_t)r;
	}
	free(buf);
	for (size_t i = 0; i < ARRAY_SIZE(sizes); i++)
		sent += sizes[i];
	CHECK(echoed == sent, "server echoed %zu bytes, the client sent %zu", echoed, sent);
	xclose(s);
	reap(pid, "client");
}

/* Non-blocking connect: EINPROGRESS, then POLLOUT, SO_ERROR 0, EISCONN. */
static void case_connect_nonblock(int family)
{
	struct endpoint ep, peer;
	char buf[4];
	int l, c, s;

	l = listener(family, &ep);
	c = tcp_socket(family, SOCK_NONBLOCK);
	EXPECT_ERR(connect(c, sa(&ep), ep.len), EINPROGRESS, "non-blocking connect");
	expect_revents(c, POLLOUT, 5000, POLLOUT, "poll for the connect to complete");
	CHECK(so_error(c) == 0, "SO_ERROR after connecting: %s", ename(so_error(c)));
	/* Linux answers the first connect() after completion with 0 (that is how
	 * it reports "now connected" to a poller that asks again) and only the
	 * next with EISCONN; POSIX allows EISCONN at once. Either says
	 * "connected", so either passes; the one after must be EISCONN. */
	if (connect(c, sa(&ep), ep.len) < 0 && errno != EISCONN)
		fail("connect on a connected socket: expected 0 or EISCONN, got %s", ename(errno));
	EXPECT_ERR(connect(c, sa(&ep), ep.len), EISCONN, "connect on a connected socket");
	peer_name(c, &peer);
	CHECK(ep_port(&peer) == ep_port(&ep), "getpeername after connect: wrong port");
	s = xaccept(l);
	write_all(c, "ping", 4, "client write");
	read_exact(s, buf, 4, "server read");
	CHECK(memcmp(buf, "ping", 4) == 0, "server read the wrong bytes");
	write_all(s, "pong", 4, "server write");
	expect_revents(c, POLLIN, 5000, POLLIN, "poll for the reply");
	CHECK(read(c, buf, 4) == 4 && memcmp(buf, "pong", 4) == 0, "client read the wrong reply");
	EXPECT_ERR(read(c, buf, 4), EAGAIN, "read of the drained non-blocking socket");
	xclose(s);
	xclose(c);
	xclose(l);
}

/* Connecting to a bound port nobody listens on: ECONNREFUSED, blocking and
 * non-blocking (EINPROGRESS, then POLLOUT|POLLERR|POLLHUP and SO_ERROR). */
static void case_refused(int family)
{
	struct endpoint ep;
	int hole, c;

	/* Bound but not listening: the port stays ours, so nobody else can
	 * start listening on it during the case. */
	hole = tcp_socket(family, 0);
	loopback(family, &ep);
	if (bind(hole, sa(&ep), ep.len) < 0)
		fail("bind: %s", ename(errno));
	local_name(hole, &ep);

	c = tcp_socket(family, 0);
	stage = "blocking connect";
	EXPECT_ERR(connect(c, sa(&ep), ep.len), ECONNREFUSED, "blocking connect");
	CHECK(so_error(c) == 0, "SO_ERROR after a refused blocking connect: %s",
	      ename(so_error(c)));
	xclose(c);

	c = tcp_socket(family, SOCK_NONBLOCK);
	EXPECT_ERR(connect(c, sa(&ep), ep.len), EINPROGRESS, "non-blocking connect");
	expect_revents(c, POLLOUT, 5000, POLLOUT | POLLERR | POLLHUP,
		       "poll of the refused connect");
	CHECK(so_error(c) == ECONNREFUSED, "SO_ERROR: expected ECONNREFUSED, got %s",
	      ename(so_error(c)));
	CHECK(so_error(c) == 0, "SO_ERROR not cleared by reading it");
	xclose(c);
	xclose(hole);
}

/* Reads smaller than what was sent return exactly what was asked for; a read
 * larger than what is queued returns what is there without waiting. */
static void case_partial_read(int family)
{
	static const size_t asks[] = { 7, 1, 100, 4096, 13 };
	unsigned char buf[4096];
	size_t pos = 0;
	int c, s;

	tcp_pair(family, &c, &s);
	write_all(s, pat_at(5), 10000, "server write");
	wait_inq(c, 10000);
	for (size_t i = 0; pos < 10000; i++) {
		size_t want = asks[i % ARRAY_SIZE(asks)];
		size_t exp = want < 10000 - pos ? want : 10000 - pos;
		ssize_t r = read(c, buf, want);

		CHECK(r >= 0, "read: %s", ename(errno));
		CHECK((size_t)r == exp, "read(%zu) with %zu bytes queued returned %zd", want,
		      10000 - pos, r);
		CHECK(memcmp(buf, pat_at(5 + pos), exp) == 0, "read(%zu) got the wrong bytes",
		      want);
		pos += exp;
	}
	write_all(s, pat_at(77), 100, "server write");
	wait_inq(c, 100);
	stage = "read with more room than data";
	CHECK(read(c, buf, sizeof(buf)) == 100,
	      "read(4096) with 100 bytes queued did not return 100");
	CHECK(memcmp(buf, pat_at(77), 100) == 0, "read(4096) got the wrong bytes");
	xclose(s);
	expect_eof(c, "read after the peer closed");
	xclose(c);
}

/* A non-blocking write into a connection whose reader sleeps is short, then
 * EAGAIN, no POLLOUT while full; when the reader drains, POLLOUT comes back
 * and the whole stream arrives intact. */
static void case_partial_write(int family)
{
	struct drain d;
	uint64_t pos = 0;
	pthread_t t;
	int c, s;

	tcp_pair(family, &c, &s);
	set_nonblock(c, true);
	fill_until_eagain(c, &pos, true, "filling the connection");
	/* In-flight data may still be acknowledged just after the first EAGAIN
	 * and free some space; once the receiver's window is closed nothing
	 * moves, so fill once more and the queue is full for good. */
	sleep_ms(50);
	fill_until_eagain(c, &pos, false, "filling the connection again");
	expect_revents(c, POLLOUT, 0, 0, "poll of a full connection");

	d.fd = s;
	d.pos = 0;
	t = xthread(drain_thread, &d);
	for (uint64_t end = pos + (8u << 20); pos < end;) {
		size_t n = end - pos < (1u << 20) ? (size_t)(end - pos) : (1u << 20);
		ssize_t r;

		expect_revents(c, POLLOUT, 5000, POLLOUT, "poll for POLLOUT while the peer reads");
		r = write(c, pat_at(pos), n);
		if (r < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		CHECK(r > 0, "write after POLLOUT: %s", r < 0 ? ename(errno) : "returned 0");
		pos += (uint64_t)r;
	}
	if (shutdown(c, SHUT_WR) < 0)
		fail("shutdown: %s", ename(errno));
	stage = "joining the reader";
	pthread_join(t, NULL);
	CHECK(d.pos == pos, "the reader got %llu bytes, %llu were written",
	      (unsigned long long)d.pos, (unsigned long long)pos);
	xclose(c);
	xclose(s);
}

/* Reading an empty non-blocking socket: EAGAIN from read, readv, recv,
 * recvfrom; MSG_DONTWAIT on a blocking one too; data makes it readable. */
static void case_read_empty(int family)
{
	char buf[16];
	struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) };
	int c, s;

	tcp_pair(family, &c, &s);
	set_nonblock(c, true);
	EXPECT_ERR(read(c, buf, sizeof(buf)), EAGAIN, "read");
	EXPECT_ERR(readv(c, &iov, 1), EAGAIN, "readv");
	EXPECT_ERR(recv(c, buf, sizeof(buf), 0), EAGAIN, "recv");
	EXPECT_ERR(recvfrom(c, buf, sizeof(buf), 0, NULL, NULL), EAGAIN, "recvfrom");
	EXPECT_ERR(recv(s, buf, sizeof(buf), MSG_DONTWAIT), EAGAIN, "recv MSG_DONTWAIT");
	EXPECT_ERR(recv(s, buf, sizeof(buf), MSG_DONTWAIT | MSG_PEEK), EAGAIN,
		   "recv MSG_DONTWAIT|MSG_PEEK");
	expect_revents(c, POLLIN, 0, 0, "poll of the empty socket");
	write_all(s, "x", 1, "server write");
	expect_revents(c, POLLIN, 5000, POLLIN, "poll after the peer wrote");
	CHECK(read(c, buf, sizeof(buf)) == 1 && buf[0] == 'x', "read after POLLIN");
	EXPECT_ERR(read(c, buf, sizeof(buf)), EAGAIN, "read after draining");
	xclose(c);
	xclose(s);
}

/* shutdown(SHUT_WR): the peer reads everything then EOF, and can still
 * answer; the shut side gets EPIPE on write and reads the answer. */
static void case_half_close(int family)
{
	struct endpoint ep;
	int l, s;
	pid_t pid;

	l = listener(family, &ep);
	pid = xfork();
	if (pid == 0) {
		int c;

		xclose(l);
		c = connect_to(&ep);
		write_all(c, pat_at(11), 100000, "client request");
		if (shutdown(c, SHUT_WR) < 0)
			fail("shutdown: %s", ename(errno));
		EXPECT_ERR(write(c, "x", 1), EPIPE, "write after SHUT_WR");
		read_pattern(c, 22, 150000, "client read of the answer");
		expect_eof(c, "client read after the answer");
		xclose(c);
		exit(0);
	}
	s = xaccept(l);
	xclose(l);
	read_pattern(s, 11, 100000, "server read of the request");
	expect_eof(s, "server read after SHUT_WR");
	expect_revents(s, POLLIN | POLLOUT | POLLRDHUP, 0, POLLIN | POLLOUT | POLLRDHUP,
		       "poll of the half-closed socket");
	write_all(s, pat_at(22), 150000, "server answer");
	xclose(s);
	reap(pid, "client");
}

/* ---- Bulk transfers: 64 MiB each way at once, four sets of calls ---------- */

enum bulk_io {
	BULK_RW = 0, /* write / read */
	BULK_IOV,    /* writev / readv, several segments */
	BULK_SEND,   /* send MSG_DONTWAIT / recv MSG_WAITALL and MSG_PEEK */
	BULK_MSG,    /* sendmsg / recvmsg */
};

#define BULK_BYTES (64ull << 20)

struct bulk {
	int fd;		 /* the connection; one thread sends, the other receives */
	enum bulk_io io; /* which calls carry the data */
	uint64_t tx_off; /* pattern offset of the stream this side sends */
	uint64_t rx_off; /* pattern offset of the stream it receives */
};

static ssize_t bulk_send_once(const struct bulk *b, unsigned char *p, size_t n)
{
	struct iovec iov[3];
	struct msghdr mh = { .msg_iov = iov };
	ssize_t r;

	switch (b->io) {
	case BULK_RW:
		return write(b->fd, p, n);
	case BULK_IOV:
		iov[0] = (struct iovec){ p, n / 7 };
		iov[1] = (struct iovec){ p + n / 7, n / 3 };
		iov[2] = (struct iovec){ p + n / 7 + n / 3, n - n / 7 - n / 3 };
		return writev(b->fd, iov, 3);
	case BULK_SEND:
		r = send(b->fd, p, n, MSG_DONTWAIT);
		if (r < 0 && errno == EAGAIN) {
			char s[80];
			unsigned ev = poll1(b->fd, POLLOUT, 5000);

			CHECK(ev == POLLOUT, "send: EAGAIN, then poll gave %s",
			      poll_str(ev, s, sizeof(s)));
			errno = EINTR; /* the caller retries on EINTR */
		}
		return r;
	case BULK_MSG:
		iov[0] = (struct iovec){ p, n / 2 };
		iov[1] = (struct iovec){ p + n / 2, n - n / 2 };
		mh.msg_iovlen = 2;
		return sendmsg(b->fd, &mh, 0);
	}
	return -1;
}

static void *bulk_sender(void *arg)
{
	/* Chunk sizes are odd on purpose: no send lines up with a ring or page. */
	static const size_t chunk[] = {
		[BULK_RW] = 100003, [BULK_IOV] = 77777, [BULK_SEND] = 131071, [BULK_MSG] = 65537
	};
	const struct bulk *b = arg;
	XXH3_state_t *st = XXH3_createState();
	uint64_t pos = 0, sum;

	CHECK(st, "out of memory for XXH3");
	XXH3_64bits_reset(st);
	while (pos < BULK_BYTES) {
		size_t n =
			BULK_BYTES - pos < chunk[b->io] ? (size_t)(BULK_BYTES - pos) : chunk[b->io];
		unsigned char *p = pat_iov(b->tx_off + pos);
		ssize_t r = bulk_send_once(b, p, n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			fail("bulk send: %s", ename(errno));
		CHECK(r > 0 && (size_t)r <= n, "bulk send returned %zd for %zu bytes", r, n);
		XXH3_64bits_update(st, p, (size_t)r);
		pos += (uint64_t)r;
	}
	sum = XXH3_64bits_digest(st);
	XXH3_freeState(st);
	write_all(b->fd, &sum, sizeof(sum), "bulk checksum trailer");
	return NULL;
}

/* Receives at most want bytes into buf with the variant's calls; returns the
 * count (0 at EOF). Checks what the variant guarantees on the way. */
static size_t bulk_recv_once(const struct bulk *b, unsigned char *buf, size_t want, unsigned k)
{
	static unsigned char peeked[4096];
	struct iovec iov[4];
	struct msghdr mh = { .msg_iov = iov };
	size_t seg[4], off = 0, left = want;
	ssize_t r = -1, m;

	switch (b->io) {
	case BULK_RW:
		r = read(b->fd, buf, want);
		break;
	case BULK_IOV:
		/* Four segments, with gaps between them in buf so that filling them
		 * out of order would show; the segments are gathered back below. */
		seg[0] = 7;
		seg[1] = 1000;
		seg[2] = 30000;
		seg[3] = 60000;
		for (int i = 0; i < 4; i++) {
			size_t n = seg[i] < left ? seg[i] : left;

			iov[i] = (struct iovec){ buf + off + 64 * (size_t)i, n };
			off += n;
			left -= n;
		}
		r = readv(b->fd, iov, 4);
		if (r > 0) {
			size_t done = 0;

			for (int i = 0; i < 4 && done < (size_t)r; i++) {
				size_t n = iov[i].iov_len < (size_t)r - done ? iov[i].iov_len
									     : (size_t)r - done;

				memmove(buf + done, iov[i].iov_base, n);
				done += n;
			}
		}
		break;
	case BULK_SEND:
		if (k % 4 == 3) {
			/* A peek, then a MSG_WAITALL read of exactly what was peeked:
			 * both see the same bytes and the second consumes them. */
			m = recv(b->fd, peeked, want < sizeof(peeked) ? want : sizeof(peeked),
				 MSG_PEEK);
			if (m < 0)
				fail("recv MSG_PEEK: %s", ename(errno));
			if (m == 0)
				return 0;
			r = recv(b->fd, buf, (size_t)m, MSG_WAITALL);
			CHECK(r == m, "recv MSG_WAITALL after a %zd-byte MSG_PEEK returned %zd", m,
			      r);
			CHECK(memcmp(peeked, buf, (size_t)m) == 0,
			      "MSG_PEEK and the read after it saw different bytes");
		} else {
			r = recv(b->fd, buf, want, MSG_WAITALL);
			CHECK(r < 0 || (size_t)r == want,
			      "recv MSG_WAITALL of %zu bytes returned %zd before the end", want, r);
		}
		break;
	case BULK_MSG:
		iov[0] = (struct iovec){ buf, want / 3 };
		iov[1] = (struct iovec){ buf + want / 3, want - want / 3 };
		mh.msg_iovlen = 2;
		r = recvmsg(b->fd, &mh, 0);
		CHECK(r < 0 || mh.msg_flags == 0, "recvmsg: msg_flags 0x%x",
		      (unsigned)mh.msg_flags);
		break;
	}
	if (r < 0)
		fail("bulk receive: %s", ename(errno));
	return (size_t)r;
}

static void bulk_receiver(const struct bulk *b)
{
	static const size_t want_max[] = {
		[BULK_RW] = 65521, [BULK_IOV] = 91007, [BULK_SEND] = 50000, [BULK_MSG] = 99991
	};
	unsigned char *buf = xmalloc((size_t)128 * 1024);
	XXH3_state_t *st = XXH3_createState();
	uint64_t pos = 0, sum;

	CHECK(st, "out of memory for XXH3");
	XXH3_64bits_reset(st);
	stage = "bulk receive";
	for (unsigned k = 0; pos < BULK_BYTES; k++) {
		size_t want = BULK_BYTES - pos < want_max[b->io] ? (size_t)(BULK_BYTES - pos)
								 : want_max[b->io];
		size_t r = bulk_recv_once(b, buf, want, k);

		CHECK(r > 0, "bulk receive: EOF after %llu of %llu bytes", (unsigned long long)pos,
		      (unsigned long long)BULK_BYTES);
		CHECK(r <= want, "bulk receive: %zu bytes for a %zu-byte buffer", r, want);
		CHECK(memcmp(buf, pat_at(b->rx_off + pos), r) == 0,
		      "bulk receive: the stream differs from what was sent");
		XXH3_64bits_update(st, buf, r);
		pos += r;
	}
	read_exact(b->fd, &sum, sizeof(sum), "bulk checksum trailer");
	CHECK(sum == XXH3_64bits_digest(st), "bulk receive: checksum mismatch");
	XXH3_freeState(st);
	free(buf);
	/* The trailer was the last byte: the sender shuts down after it. */
}

/* One side of a bulk case: send and receive at the same time. */
static void bulk_side(int fd, enum bulk_io io, uint64_t tx_off, uint64_t rx_off)
{
	struct bulk b = { .fd = fd, .io = io, .tx_off = tx_off, .rx_off = rx_off };
	pthread_t t = xthread(bulk_sender, &b);

	bulk_receiver(&b);
	stage = "joining the bulk sender";
	pthread_join(t, NULL);
	if (shutdown(fd, SHUT_WR) < 0)
		fail("shutdown: %s", ename(errno));
	expect_eof(fd, "EOF after the bulk transfer");
	xclose(fd);
}

static void bulk_case(int family, enum bulk_io io)
{
	/* Different offsets per direction: a connection that loops a side's
	 * own bytes back to it fails the content check. */
	const uint64_t a = 0, b = PAT_LEN / 3;
	struct endpoint ep;
	int l, s;
	pid_t pid;

	l = listener(family, &ep);
	pid = xfork();
	if (pid == 0) {
		xclose(l);
		bulk_side(connect_to(&ep), io, a, b);
		exit(0);
	}
	s = xaccept(l);
	xclose(l);
	bulk_side(s, io, b, a);
	reap(pid, "client");
}

static void case_bulk_rw(int family)
{
	bulk_case(family, BULK_RW);
}

static void case_bulk_iov(int family)
{
	bulk_case(family, BULK_IOV);
}

static void case_bulk_send(int family)
{
	bulk_case(family, BULK_SEND);
}

static void case_bulk_msg(int family)
{
	bulk_case(family, BULK_MSG);
}

/* FIONREAD: 0 on a fresh connection, the queued count, unchanged by
 * MSG_PEEK, reduced by reads, 0 at EOF; EINVAL on a listening socket. */
static void case_fionread(int family)
{
	struct endpoint ep;
	char buf[1000];
	int c, s, l, n;

	tcp_pair(family, &c, &s);
	CHECK(inq(c) == 0, "FIONREAD on a fresh connection: %d", inq(c));
	write_all(s, pat_at(3), 1000, "server write");
	wait_inq(c, 1000);
	CHECK((n = inq(c)) == 1000, "FIONREAD with 1000 bytes queued: %d", n);
	CHECK(recv(c, buf, 10, MSG_PEEK) == 10, "recv MSG_PEEK");
	CHECK((n = inq(c)) == 1000, "FIONREAD after MSG_PEEK: %d", n);
	read_exact(c, buf, 300, "read 300");
	CHECK((n = inq(c)) == 700, "FIONREAD after reading 300 of 1000: %d", n);
	read_exact(c, buf, 700, "read 700");
	CHECK((n = inq(c)) == 0, "FIONREAD after reading everything: %d", n);
	if (shutdown(s, SHUT_WR) < 0)
		fail("shutdown: %s", ename(errno));
	expect_eof(c, "read after the peer's SHUT_WR");
	CHECK((n = inq(c)) == 0, "FIONREAD at EOF: %d", n);
	l = listener(family, &ep);
	n = -1;
	EXPECT_ERR(ioctl(l, FIONREAD, &n), EINVAL, "FIONREAD on a listening socket");
	xclose(l);
	xclose(c);
	xclose(s);
}

/* ---- Many connections, one epoll loop ------------------------------------- */

#define MANY_CONNS 200
#define MANY_MAX   3100 /* largest message: 8-byte header + payload */

struct many_conn {
	int fd;			     /* the accepted socket, -1 once closed */
	size_t got;		     /* bytes of the request read so far */
	size_t need;		     /* the request's length, known from its header */
	bool replied;		     /* the echo has been written */
	unsigned char buf[MANY_MAX]; /* the request */
};

static size_t many_len(uint32_t id)
{
	return 8 + 1 + (id * 37u) % (MANY_MAX - 9);
}

static void many_client(struct endpoint *ep)
{
	int *fds = xmalloc(MANY_CONNS * sizeof(*fds));
	unsigned char *msg = xmalloc(MANY_MAX), *back = xmalloc(MANY_MAX);

	/* All connections exist at once before any byte moves, so the server
	 * really multiplexes 200 of them. */
	for (uint32_t i = 0; i < MANY_CONNS; i++)
		fds[i] = connect_to(ep);
	for (uint32_t i = 0; i < MANY_CONNS; i++) {
		uint32_t len = (uint32_t)many_len(i);

		memcpy(msg, &i, 4);
		memcpy(msg + 4, &len, 4);
		memcpy(msg + 8, pat_at((uint64_t)i * 1000), len - 8);
		write_all(fds[i], msg, len, "client request");
	}
	for (uint32_t i = 0; i < MANY_CONNS; i++) {
		size_t len = many_len(i);

		read_exact(fds[i], back, len, "client read of the echo");
		memcpy(msg, &i, 4);
		CHECK(memcmp(back, msg, 4) == 0, "connection %u got another connection's echo", i);
		CHECK(memcmp(back + 8, pat_at((uint64_t)i * 1000), len - 8) == 0,
		      "connection %u: the echo differs", i);
		xclose(fds[i]);
	}
	free(fds);
	free(msg);
	free(back);
}

/* Reads what the connection has (edge-triggered: until EAGAIN), echoes a
 * complete request once; returns true when the client has closed. */
static bool many_serve(struct many_conn *mc)
{
	for (;;) {
		unsigned char extra;
		ssize_t r;

		if (mc->got < MANY_MAX)
			r = read(mc->fd, mc->buf + mc->got, MANY_MAX - mc->got);
		else
			r = read(mc->fd, &extra, 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno == EAGAIN)
			return false;
		if (r < 0)
			fail("server read: %s", ename(errno));
		if (r == 0) {
			CHECK(mc->replied, "a client closed before its request was complete");
			return true;
		}
		mc->got += (size_t)r;
		if (mc->got >= 8 && !mc->need) {
			uint32_t len;

			memcpy(&len, mc->buf + 4, 4);
			CHECK(len >= 9 && len <= MANY_MAX, "bad request length %u", len);
			mc->need = len;
		}
		CHECK(!mc->need || mc->got <= mc->need, "more bytes than the request held");
		if (mc->need && mc->got == mc->need && !mc->replied) {
			ssize_t w = write(mc->fd, mc->buf, mc->need);

			/* A few KiB always fit an idle connection's send buffer. */
			CHECK(w == (ssize_t)mc->need, "echo write of %zu bytes: %zd (%s)", mc->need,
			      w, w < 0 ? ename(errno) : "short");
			mc->replied = true;
		}
	}
}

static void case_many_conns(int family)
{
	struct many_conn *conns = calloc(MANY_CONNS, sizeof(*conns));
	struct epoll_event ev[64];
	struct endpoint ep;
	unsigned accepted = 0, closed = 0;
	int l, epfd;
	pid_t pid;

	CHECK(conns, "out of memory");
	l = listener(family, &ep);
	pid = xfork();
	if (pid == 0) {
		xclose(l);
		free(conns);
		many_client(&ep);
		exit(0);
	}
	set_nonblock(l, true);
	epfd = epoll_create1(EPOLL_CLOEXEC);
	CHECK(epfd >= 0, "epoll_create1: %s", ename(errno));
	ep_ctl(epfd, EPOLL_CTL_ADD, l, EPOLLIN | EPOLLET, MANY_CONNS);
	while (closed < MANY_CONNS) {
		int n = ep_wait(epfd, ev, 64, 5000);

		stage = "the epoll loop";
		CHECK(n > 0, "the epoll loop stalled");
		for (int i = 0; i < n; i++) {
			uint64_t tag = ev[i].data.u64;

			if (tag == MANY_CONNS) {
				int fd;

				while ((fd = accept4(l, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
					CHECK(accepted < MANY_CONNS, "more connections than made");
					conns[accepted].fd = fd;
					ep_ctl(epfd, EPOLL_CTL_ADD, fd,
					       EPOLLIN | EPOLLRDHUP | EPOLLET, accepted);
					accepted++;
				}
				EXPECT_ERR(fd, EAGAIN, "accept4 until the backlog is empty");
				continue;
			}
			if (conns[tag].fd >= 0 && many_serve(&conns[tag])) {
				xclose(conns[tag].fd);
				conns[tag].fd = -1;
				closed++;
			}
		}
	}
	for (unsigned i = 0; i < MANY_CONNS; i++) {
		uint32_t id;

		memcpy(&id, conns[i].buf, 4);
		CHECK(id < MANY_CONNS && conns[i].need == many_len(id),
		      "request %u has the wrong length", i);
	}
	free(conns);
	xclose(epfd);
	xclose(l);
	reap(pid, "client");
}

/* ---- epoll semantics --------------------------------------------------------- */

static int xepoll(void)
{
	int fd = epoll_create1(EPOLL_CLOEXEC);

	if (fd < 0)
		fail("epoll_create1: %s", ename(errno));
	return fd;
}

/* Level-triggered: reported on every wait while data remains; EPOLLOUT on
 * every wait while writable. */
static void case_epoll_level(int family)
{
	char buf[5];
	int c, s, ep;

	tcp_pair(family, &c, &s);
	ep = xepoll();
	ep_ctl(ep, EPOLL_CTL_ADD, s, EPOLLIN, 1);
	expect_no_event(ep, 0, "LT wait on an idle connection");
	write_all(c, "0123456789", 10, "client write");
	expect_event(ep, 5000, 1, EPOLLIN, "LT wait after data arrived");
	expect_event(ep, 0, 1, EPOLLIN, "LT second wait, data unread");
	expect_event(ep, 0, 1, EPOLLIN, "LT third wait, data unread");
	read_exact(s, buf, 5, "partial read");
	expect_event(ep, 0, 1, EPOLLIN, "LT wait after a partial read");
	read_exact(s, buf, 5, "read of the rest");
	expect_no_event(ep, 100, "LT wait after draining");
	ep_ctl(ep, EPOLL_CTL_ADD, c, EPOLLOUT, 2);
	for (int i = 0; i < 3; i++)
		expect_event(ep, 5000, 2, EPOLLOUT, "LT EPOLLOUT on a writable socket");
	xclose(ep);
	xclose(c);
	xclose(s);
}

/* Edge-triggered: one report per arrival, none for data left unread. */
static void case_epoll_edge(int family)
{
	char buf[32];
	int c, s, ep, got = 0;
	ssize_t r;

	tcp_pair(family, &c, &s);
	set_nonblock(s, true);
	ep = xepoll();
	ep_ctl(ep, EPOLL_CTL_ADD, s, EPOLLIN | EPOLLET, 1);
	expect_no_event(ep, 0, "ET wait on an idle connection");
	write_all(c, "0123456789", 10, "client write");
	expect_event(ep, 5000, 1, EPOLLIN, "ET wait after data arrived");
	expect_no_event(ep, 100, "ET second wait for the same arrival");
	read_exact(s, buf, 4, "partial read");
	expect_no_event(ep, 100, "ET wait after a partial read");
	write_all(c, "abcdefghij", 10, "client write");
	expect_event(ep, 5000, 1, EPOLLIN, "ET wait after a second arrival");
	expect_no_event(ep, 100, "ET second wait for the second arrival");
	while ((r = read(s, buf, sizeof(buf))) > 0)
		got += (int)r;
	EXPECT_ERR(r, EAGAIN, "read until EAGAIN");
	CHECK(got == 16, "drained %d bytes, expected 16", got);
	expect_no_event(ep, 100, "ET wait after draining");
	xclose(ep);
	xclose(c);
	xclose(s);
}

/* Edge-triggered EPOLLOUT: reported once when added, not again while
 * nothing changes, and again when a full connection drains. */
static void case_epoll_out(int family)
{
	struct drain d;
	struct epoll_event ev[4];
	uint64_t pos = 0;
	pthread_t t;
	int c, s, ep;

	tcp_pair(family, &c, &s);
	set_nonblock(c, true);
	ep = xepoll();
	ep_ctl(ep, EPOLL_CTL_ADD, c, EPOLLOUT | EPOLLET, 1);
	expect_event(ep, 5000, 1, EPOLLOUT, "ET EPOLLOUT when added");
	expect_no_event(ep, 100, "ET EPOLLOUT again with nothing changed");
	fill_until_eagain(c, &pos, false, "filling the connection");
	sleep_ms(50);
	fill_until_eagain(c, &pos, false, "filling the connection again");
	(void)ep_wait(ep, ev, 4, 0); /* edges from filling up do not count */
	expect_revents(c, POLLOUT, 0, 0, "poll of a full connection");
	d.fd = s;
	d.pos = 0;
	t = xthread(drain_thread, &d);
	expect_event(ep, 5000, 1, EPOLLOUT, "ET EPOLLOUT after the peer drained");
	write_all(c, pat_at(pos), 1, "write after EPOLLOUT");
	pos++;
	if (shutdown(c, SHUT_WR) < 0)
		fail("shutdown: %s", ename(errno));
	stage = "joining the reader";
	pthread_join(t, NULL);
	CHECK(d.pos == pos, "the reader got %llu bytes, %llu were written",
	      (unsigned long long)d.pos, (unsigned long long)pos);
	xclose(ep);
	xclose(c);
	xclose(s);
}

/* EPOLLRDHUP/POLLRDHUP after the peer's SHUT_WR, still writable back;
 * EPOLLHUP/POLLHUP once both directions are shut. */
static void case_epoll_rdhup(int family)
{
	char buf[4];
	int c, s, ep;

	tcp_pair(family, &c, &s);
	ep = xepoll();
	ep_ctl(ep, EPOLL_CTL_ADD, s, EPOLLIN | EPOLLRDHUP, 1);
	expect_no_event(ep, 0, "wait on an idle connection");
	if (shutdown(c, SHUT_WR) < 0)
		fail("shutdown: %s", ename(errno));
	expect_event(ep, 5000, 1, EPOLLIN | EPOLLRDHUP, "wait after the peer's SHUT_WR");
	expect_eof(s, "read after the peer's SHUT_WR");
	expect_event(ep, 0, 1, EPOLLIN | EPOLLRDHUP, "LT wait at EOF");
	expect_revents(s, POLLIN, 0, POLLIN, "poll without POLLRDHUP asked");
	write_all(s, "late", 4, "write to the half-closed peer");
	read_exact(c, buf, 4, "read on the shut side");
	CHECK(memcmp(buf, "late", 4) == 0, "read the wrong bytes on the shut side");
	expect_revents(c, POLLIN | POLLOUT | POLLRDHUP, 0, POLLOUT, "poll of the shut side");
	if (shutdown(s, SHUT_WR) < 0)
		fail("shutdown: %s", ename(errno));
	expect_event(ep, 5000, 1, EPOLLIN | EPOLLRDHUP | EPOLLHUP, "wait after both shut down");
	expect_revents(c, POLLIN | POLLRDHUP, 5000, POLLIN | POLLRDHUP | POLLHUP,
		       "poll of the side that shut first, after the peer shut too");
	xclose(ep);
	xclose(c);
	xclose(s);
}

/* A pipe and a socket in one epoll set, LT and ET mixed; ADD twice, MOD,
 * DEL and DEL of an unknown descriptor. */
static void case_epoll_mixed(int family)
{
	enum { TAG_PIPE = 10, TAG_SOCK = 20 };
	struct epoll_event ev[4];
	char buf[8];
	int c, s, ep, p[2], n;

	tcp_pair(family, &c, &s);
	if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0)
		fail("pipe2: %s", ename(errno));
	ep = xepoll();
	ep_ctl(ep, EPOLL_CTL_ADD, p[0], EPOLLIN, TAG_PIPE);
	ep_ctl(ep, EPOLL_CTL_ADD, s, EPOLLIN, TAG_SOCK);
	{
		struct epoll_event e = { .events = EPOLLIN };

		EXPECT_ERR(epoll_ctl(ep, EPOLL_CTL_ADD, s, &e), EEXIST, "EPOLL_CTL_ADD twice");
		EXPECT_ERR(epoll_ctl(ep, EPOLL_CTL_DEL, c, &e), ENOENT,
			   "EPOLL_CTL_DEL of a socket not in the set");
	}
	expect_no_event(ep, 0, "wait with nothing ready");
	write_all(p[1], "p", 1, "pipe write");
	expect_event(ep, 5000, TAG_PIPE, EPOLLIN, "wait after the pipe write");
	write_all(c, "s", 1, "socket write");
	wait_inq(s, 1);
	n = ep_wait(ep, ev, 4, 5000);
	CHECK(n == 2 && ev[0].data.u64 + ev[1].data.u64 == TAG_PIPE + TAG_SOCK &&
		      ev[0].events == EPOLLIN && ev[1].events == EPOLLIN,
	      "pipe and socket both readable: %d events, expected both EPOLLIN", n);
	CHECK(read(p[0], buf, sizeof(buf)) == 1, "pipe read");
	expect_event(ep, 5000, TAG_SOCK, EPOLLIN, "wait after draining the pipe");
	CHECK(read(s, buf, sizeof(buf)) == 1, "socket read");
	expect_no_event(ep, 100, "wait after draining both");
	ep_ctl(ep, EPOLL_CTL_MOD, s, EPOLLOUT, TAG_SOCK);
	expect_event(ep, 5000, TAG_SOCK, EPOLLOUT, "wait after EPOLL_CTL_MOD to EPOLLOUT");
	ep_ctl(ep, EPOLL_CTL_DEL, s, 0, 0);
	write_all(c, "t", 1, "socket write");
	wait_inq(s, 1);
	expect_no_event(ep, 100, "wait after EPOLL_CTL_DEL of the socket");
	/* The pipe edge-triggered, the socket (one byte unread) level-triggered. */
	ep_ctl(ep, EPOLL_CTL_MOD, p[0], EPOLLIN | EPOLLET, TAG_PIPE);
	ep_ctl(ep, EPOLL_CTL_ADD, s, EPOLLIN, TAG_SOCK);
	write_all(p[1], "q", 1, "pipe write");
	n = ep_wait(ep, ev, 4, 5000);
	CHECK(n == 2 && ev[0].data.u64 + ev[1].data.u64 == TAG_PIPE + TAG_SOCK,
	      "ET pipe + LT socket: %d events, expected both", n);
	expect_event(ep, 100, TAG_SOCK, EPOLLIN, "second wait: only the LT socket");
	xclose(ep);
	xclose(p[0]);
	xclose(p[1]);
	xclose(c);
	xclose(s);
}

/* select, pselect, poll and ppoll over a pipe, a listening socket, a
 * connected socket and a writable one. */
static void check_select(int p0, int l, int s, int c, int want_ready, struct timeval *tv,
			 bool use_pselect, const char *what)
{
	fd_set rd, wr;
	int n;

	FD_ZERO(&rd);
	FD_ZERO(&wr);
	FD_SET(p0, &rd);
	FD_SET(l, &rd);
	FD_SET(s, &rd);
	FD_SET(c, &wr);
	stage = what;
	if (use_pselect) {
		struct timespec ts = { .tv_sec = tv->tv_sec, .tv_nsec = tv->tv_usec * 1000 };
		sigset_t none;

		sigemptyset(&none);
		n = pselect(FD_SETSIZE, &rd, &wr, NULL, &ts, &none);
	} else {
		n = select(FD_SETSIZE, &rd, &wr, NULL, tv);
	}
	CHECK(n >= 0, "%s: %s", what, ename(errno));
	CHECK(n == want_ready, "%s: %d ready, expected %d", what, n, want_ready);
	CHECK(FD_ISSET(c, &wr), "%s: the connected socket is not writable", what);
	if (want_ready == 4)
		CHECK(FD_ISSET(p0, &rd) && FD_ISSET(l, &rd) && FD_ISSET(s, &rd),
		      "%s: a readable descriptor is not in the set", what);
	else
		CHECK(!FD_ISSET(p0, &rd) && !FD_ISSET(l, &rd) && !FD_ISSET(s, &rd),
		      "%s: a descriptor with nothing to read is in the set", what);
}

static void check_poll(int p0, int l, int s, int c, bool ready, int timeout_ms, bool use_ppoll,
		       const char *what)
{
	struct pollfd pf[4] = { { .fd = p0, .events = POLLIN },
				{ .fd = l, .events = POLLIN },
				{ .fd = s, .events = POLLIN },
				{ .fd = c, .events = POLLOUT } };
	int n;

	stage = what;
	if (use_ppoll) {
		struct timespec ts = { .tv_sec = timeout_ms / 1000,
				       .tv_nsec = (long)(timeout_ms % 1000) * 1000000L };

		n = ppoll(pf, 4, &ts, NULL);
	} else {
		n = poll(pf, 4, timeout_ms);
	}
	CHECK(n >= 0, "%s: %s", what, ename(errno));
	CHECK(n == (ready ? 4 : 1), "%s: %d ready, expected %d", what, n, ready ? 4 : 1);
	for (int i = 0; i < 3; i++)
		CHECK(pf[i].revents == (ready ? POLLIN : 0), "%s: descriptor %d revents 0x%x", what,
		      i, (unsigned)pf[i].revents);
	CHECK(pf[3].revents == POLLOUT, "%s: connected socket revents 0x%x", what,
	      (unsigned)pf[3].revents);
}

static void case_select_poll(int family)
{
	struct endpoint ep;
	struct timeval tv;
	char b;
	int p[2], l, c, s, k, a;

	if (pipe2(p, O_CLOEXEC) < 0)
		fail("pipe2: %s", ename(errno));
	l = listener(family, &ep);
	tcp_pair(family, &c, &s);
	tv = (struct timeval){ 0, 0 };
	check_select(p[0], l, s, c, 1, &tv, false, "select, nothing readable");
	check_poll(p[0], l, s, c, false, 0, false, "poll, nothing readable");

	write_all(p[1], "x", 1, "pipe write");
	k = connect_to(&ep); /* a pending connection makes the listener readable */
	write_all(c, "y", 1, "socket write");
	/* select/poll return as soon as one descriptor is ready (c always is),
	 * so wait until each is ready on its own: connect() can return before
	 * the handshake's last ACK has queued the connection on the listener. */
	expect_revents(l, POLLIN, 5000, POLLIN, "poll of the listener");
	wait_inq(s, 1);
	tv = (struct timeval){ 5, 0 };
	check_select(p[0], l, s, c, 4, &tv, false, "select, all readable");
	tv = (struct timeval){ 5, 0 };
	check_select(p[0], l, s, c, 4, &tv, true, "pselect, all readable");
	check_poll(p[0], l, s, c, true, 5000, false, "poll, all readable");
	check_poll(p[0], l, s, c, true, 5000, true, "ppoll, all readable");

	CHECK(read(p[0], &b, 1) == 1, "pipe read");
	a = xaccept(l);
	CHECK(read(s, &b, 1) == 1, "socket read");
	tv = (struct timeval){ 0, 100000 };
	check_select(p[0], l, s, c, 1, &tv, false, "select after draining");
	check_poll(p[0], l, s, c, false, 100, true, "ppoll after draining");
	xclose(a);
	xclose(k);
	xclose(c);
	xclose(s);
	xclose(l);
	xclose(p[0]);
	xclose(p[1]);
}

/* ---- fork, dup, close ---------------------------------------------------------- */

/* accept, fork, the child serves, the parent closes its copy at once: the
 * connection lives on until the child closes the last copy. */
static void case_fork_accept(int family)
{
	struct endpoint ep;
	int l, s, go[2];
	pid_t client, server;
	char b;

	l = listener(family, &ep);
	client = xfork();
	if (client == 0) {
		char msg[8], back[8];
		int c;

		xclose(l);
		c = connect_to(&ep);
		for (int i = 0; i < 10; i++) {
			snprintf(msg, sizeof(msg), "msg %d", i);
			write_all(c, msg, 5, "client write");
			read_exact(c, back, 5, "client read");
			msg[0] = 'M'; /* the server's mark */
			CHECK(memcmp(back, msg, 5) == 0, "round %d: wrong answer", i);
		}
		expect_eof(c, "client read after the server child closed");
		xclose(c);
		exit(0);
	}
	s = xaccept(l);
	xclose(l);
	if (pipe2(go, O_CLOEXEC) < 0)
		fail("pipe2: %s", ename(errno));
	server = xfork();
	if (server == 0) {
		char buf[5];

		xclose(go[1]);
		/* Serve only after the parent has closed its copy. */
		read_exact(go[0], &b, 1, "waiting for the parent's close");
		for (int i = 0; i < 10; i++) {
			read_exact(s, buf, 5, "server child read");
			buf[0] = 'M';
			write_all(s, buf, 5, "server child write");
		}
		xclose(s);
		exit(0);
	}
	xclose(go[0]);
	xclose(s);
	write_all(go[1], "g", 1, "go");
	xclose(go[1]);
	reap(server, "server child");
	reap(client, "client");
}

/* Parent and child both hold the listening socket: the child accepts the
 * first connection, then exits; the parent's copy still accepts. */
static void case_fork_listen(int family)
{
	struct endpoint ep;
	int l, s;
	pid_t client, server;
	char buf[8];

	l = listener(family, &ep);
	server = xfork();
	if (server == 0) {
		s = xaccept(l);
		read_exact(s, buf, 3, "child read");
		write_all(s, "kid", 3, "child write");
		xclose(s);
		xclose(l);
		exit(0);
	}
	client = xfork();
	if (client == 0) {
		int c;

		xclose(l);
		c = connect_to(&ep);
		write_all(c, "one", 3, "client write");
		read_exact(c, buf, 3, "client read");
		CHECK(memcmp(buf, "kid", 3) == 0,
		      "the first connection was not served by the child");
		expect_eof(c, "client read after the child closed");
		xclose(c);
		c = connect_to(&ep);
		write_all(c, "two", 3, "client write");
		read_exact(c, buf, 3, "client read");
		CHECK(memcmp(buf, "dad", 3) == 0,
		      "the second connection was not served by the parent");
		xclose(c);
		exit(0);
	}
	/* The parent accepts only once the child has gone, its copy closed. */
	reap(server, "child");
	s = xaccept(l);
	read_exact(s, buf, 3, "parent read");
	CHECK(memcmp(buf, "two", 3) == 0, "the parent got the wrong request");
	write_all(s, "dad", 3, "parent write");
	xclose(s);
	xclose(l);
	reap(client, "client");
}

/* The lowest descriptor at or above from that is not open. */
static int free_fd(int from)
{
	while (fcntl(from, F_GETFD) >= 0)
		from++;
	return from;
}

/* dup, dup2, dup3 keep the socket open until the last copy closes;
 * shutdown acts on the socket, not the descriptor; dup2 over a live socket
 * closes that socket. */
static void case_dup_close(int family)
{
	int c, s, d, e, f, g, c2, s2, c3, s3, fl;
	char b;

	tcp_pair(family, &c, &s);
	CHECK((d = dup(s)) >= 0, "dup: %s", ename(errno));
	xclose(s);
	ping(c, d, "through dup() after closing the original");
	e = free_fd(100);
	CHECK(dup2(d, e) == e, "dup2: %s", ename(errno));
	xclose(d);
	ping(c, e, "through dup2() after closing the source");
	f = free_fd(e + 1);
	CHECK(dup3(e, f, O_CLOEXEC) == f, "dup3: %s", ename(errno));
	CHECK((fl = fcntl(f, F_GETFD)) >= 0 && (fl & FD_CLOEXEC), "dup3 O_CLOEXEC not set");
	CHECK((fl = fcntl(e, F_GETFD)) >= 0 && !(fl & FD_CLOEXEC),
	      "dup3 set CLOEXEC on the source");
	xclose(e);
	ping(c, f, "through dup3() after closing the source");
	xclose(f);
	expect_eof(c, "read after the last copy closed");
	xclose(c);

	tcp_pair(family, &c2, &s2);
	CHECK((g = dup(s2)) >= 0, "dup: %s", ename(errno));
	if (shutdown(g, SHUT_WR) < 0)
		fail("shutdown: %s", ename(errno));
	expect_eof(c2, "read after shutdown() through one of two copies");
	EXPECT_ERR(write(s2, "x", 1), EPIPE, "write through the other copy after SHUT_WR");
	xclose(g);

	tcp_pair(family, &c3, &s3);
	CHECK(dup2(c2, s3) == s3, "dup2 over a live socket: %s", ename(errno));
	expect_eof(c3, "read after dup2() replaced the peer's descriptor");
	write_all(s3, "z", 1, "write through the replaced descriptor");
	read_exact(s2, &b, 1, "read of that write");
	CHECK(b == 'z', "dup2 over a socket: the write went to the wrong connection");
	xclose(s3);
	xclose(c3);
	xclose(c2);
	xclose(s2);
}

/* close: the peer reads what was sent, then EOF, again and again. */
static void case_close_eof(int family)
{
	int c, s;

	tcp_pair(family, &c, &s);
	write_all(s, pat_at(9), 5000, "server write");
	xclose(s);
	read_pattern(c, 9, 5000, "read of the data sent before close");
	expect_eof(c, "read after close");
	expect_eof(c, "second read after close");
	expect_revents(c, POLLIN | POLLRDHUP, 0, POLLIN | POLLRDHUP, "poll at EOF");
	set_nonblock(c, true);
	expect_eof(c, "non-blocking read after close");
	xclose(c);
}

/* The peer is SIGKILLed mid-stream: reads end in EOF or ECONNRESET (Linux
 * sends a FIN when the victim had nothing unread, an RST when it had), and
 * writes then fail with EPIPE or ECONNRESET. Both variants run. */
static void case_peer_killed(int family)
{
	for (int unread = 0; unread < 2; unread++) {
		struct endpoint ep;
		unsigned char *buf = xmalloc(65536);
		int l, s, st, i;
		ssize_t r;
		pid_t pid;

		l = listener(family, &ep);
		pid = xfork();
		if (pid == 0) {
			int c;

			xclose(l);
			c = connect_to(&ep);
			for (;;)
				write_all(c, pat_at(0), 65536, "victim write");
		}
		s = xaccept(l);
		xclose(l);
		if (unread)
			write_all(s, pat_at(1), 1000, "write the victim never reads");
		read_exact(s, buf, 65536, "read from the victim");
		if (kill(pid, SIGKILL) < 0)
			fail("kill: %s", ename(errno));
		st = xwaitpid(pid);
		CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "the victim was not killed");
		stage = "reading after the peer died";
		while ((r = read(s, buf, 65536)) > 0)
			;
		CHECK(r == 0 || errno == ECONNRESET, "read after the peer died: %s", ename(errno));
		stage = "writing after the peer died";
		for (i = 0; i < 2000; i++) {
			r = write(s, buf, 4096);
			if (r < 0)
				break;
			sleep_ms(1);
		}
		CHECK(r < 0, "writes kept succeeding after the peer died");
		CHECK(errno == EPIPE || errno == ECONNRESET, "write after the peer died: %s",
		      ename(errno));
		xclose(s);
		free(buf);
	}
}

/* Writing after the peer closed: EPIPE (the first write may still be
 * accepted; its RST makes the next fail); SIGPIPE unless MSG_NOSIGNAL. */
static void case_epipe(int family)
{
	ssize_t r = 0;
	int c, s, st;
	pid_t pid;

	tcp_pair(family, &c, &s);
	xclose(s);
	expect_eof(c, "read after the peer closed");
	stage = "writing to the closed peer";
	for (int i = 0; i < 2000 && r >= 0; i++) {
		r = write(c, "x", 1);
		if (r >= 0)
			sleep_ms(1);
	}
	EXPECT_ERR(r, EPIPE, "write after the peer closed");
	EXPECT_ERR(write(c, "x", 1), EPIPE, "second write after the peer closed");
	EXPECT_ERR(send(c, "x", 1, MSG_NOSIGNAL), EPIPE, "send MSG_NOSIGNAL");

	pid = xfork();
	if (pid == 0) {
		signal(SIGPIPE, SIG_DFL);
		EXPECT_ERR(send(c, "x", 1, MSG_NOSIGNAL), EPIPE, "send MSG_NOSIGNAL, SIGPIPE on");
		r = write(c, "x", 1);
		fail("write to a dead connection returned %zd with SIGPIPE at its default", r);
	}
	st = xwaitpid(pid);
	CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGPIPE, "the writer was not killed by SIGPIPE");
	xclose(c);
}

static bool same_name(const struct endpoint *a, const struct endpoint *b)
{
	return a->len == b->len && memcmp(&a->ss, &b->ss, a->len) == 0;
}

/* getsockname/getpeername: lengths, families, the loopback address, each
 * side's name is the other's peer name, truncation, ENOTCONN. */
static void case_names(int family)
{
	struct endpoint lep, any, acc, cs, cp, ss, sp, want;
	socklen_t full =
		family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
	struct sockaddr_storage big;
	socklen_t short_len = 4;
	int l, u, c, s;

	l = listener(family, &lep);
	CHECK(lep.len == full, "listener name length %u, expected %u", (unsigned)lep.len,
	      (unsigned)full);
	loopback(family, &want);
	CHECK(ep_port(&lep) != 0, "the listener has port 0");
	((struct sockaddr_in *)&want.ss)->sin_port = htons(ep_port(&lep)); /* same offset in v6 */
	CHECK(same_name(&lep, &want), "the listener's name is not the loopback address");
	EXPECT_ERR(getpeername(l, sa(&any), &(socklen_t){ sizeof(any.ss) }), ENOTCONN,
		   "getpeername of a listener");

	u = tcp_socket(family, 0);
	local_name(u, &any);
	loopback(family, &want);
	if (family == AF_INET)
		((struct sockaddr_in *)&want.ss)->sin_addr.s_addr = htonl(INADDR_ANY);
	else
		((struct sockaddr_in6 *)&want.ss)->sin6_addr = in6addr_any;
	CHECK(same_name(&any, &want), "an unbound socket's name is not the any address, port 0");
	EXPECT_ERR(getpeername(u, sa(&any), &(socklen_t){ sizeof(any.ss) }), ENOTCONN,
		   "getpeername of an unconnected socket");
	xclose(u);

	c = connect_to(&lep);
	acc.len = sizeof(acc.ss);
	stage = "accept";
	CHECK((s = accept(l, sa(&acc), &acc.len)) >= 0, "accept: %s", ename(errno));
	local_name(c, &cs);
	peer_name(c, &cp);
	local_name(s, &ss);
	peer_name(s, &sp);
	CHECK(cs.len == full && ep_port(&cs) != 0 && ep_port(&cs) != ep_port(&lep),
	      "the client's local name has a bad length or port");
	CHECK(same_name(&cs, &acc), "accept()'s address is not the client's local name");
	CHECK(same_name(&cs, &sp), "the server's peer name is not the client's local name");
	CHECK(same_name(&cp, &ss), "the client's peer name is not the server's local name");
	CHECK(same_name(&ss, &lep), "the accepted socket's name is not the listener's");

	memset(&big, 0xAA, sizeof(big));
	CHECK(getsockname(c, (struct sockaddr *)&big, &short_len) == 0, "getsockname: %s",
	      ename(errno));
	CHECK(short_len == full, "truncated getsockname returned length %u, expected %u",
	      (unsigned)short_len, (unsigned)full);
	CHECK(memcmp(&big, &cs.ss, 4) == 0 && ((unsigned char *)&big)[4] == 0xAA,
	      "truncated getsockname wrote the wrong bytes");
	xclose(c);
	xclose(s);
	xclose(l);
}

/* TCP_NODELAY get/set, and the other options servers read back. */
static void case_sockopts(int family)
{
	struct endpoint ep;
	int c, s, l, v = 0;

	tcp_pair(family, &c, &s);
	for (int i = 0; i < 2; i++) {
		int fd = i ? s : c;

		CHECK(get_int_opt(fd, IPPROTO_TCP, TCP_NODELAY, "TCP_NODELAY") == 0,
		      "TCP_NODELAY is on by default");
		set_int_opt(fd, IPPROTO_TCP, TCP_NODELAY, 1, "TCP_NODELAY");
		CHECK(get_int_opt(fd, IPPROTO_TCP, TCP_NODELAY, "TCP_NODELAY") == 1,
		      "TCP_NODELAY did not read back as 1");
		CHECK(get_int_opt(fd, SOL_SOCKET, SO_TYPE, "SO_TYPE") == SOCK_STREAM,
		      "SO_TYPE is not SOCK_STREAM");
		CHECK(get_int_opt(fd, SOL_SOCKET, SO_DOMAIN, "SO_DOMAIN") == family,
		      "SO_DOMAIN is not the family");
		CHECK(get_int_opt(fd, SOL_SOCKET, SO_PROTOCOL, "SO_PROTOCOL") == IPPROTO_TCP,
		      "SO_PROTOCOL is not IPPROTO_TCP");
		CHECK(get_int_opt(fd, SOL_SOCKET, SO_ACCEPTCONN, "SO_ACCEPTCONN") == 0,
		      "SO_ACCEPTCONN on a connected socket");
		CHECK(get_int_opt(fd, SOL_SOCKET, SO_KEEPALIVE, "SO_KEEPALIVE") == 0,
		      "SO_KEEPALIVE on by default");
		set_int_opt(fd, SOL_SOCKET, SO_KEEPALIVE, 1, "SO_KEEPALIVE");
		CHECK(get_int_opt(fd, SOL_SOCKET, SO_KEEPALIVE, "SO_KEEPALIVE") == 1,
		      "SO_KEEPALIVE did not read back as 1");
	}
	ping(c, s, "after setting TCP_NODELAY");
	set_int_opt(c, IPPROTO_TCP, TCP_NODELAY, 0, "TCP_NODELAY");
	CHECK(get_int_opt(c, IPPROTO_TCP, TCP_NODELAY, "TCP_NODELAY") == 0,
	      "TCP_NODELAY did not read back as 0");
	EXPECT_ERR(getsockopt(c, SOL_SOCKET, 12345, &v, &(socklen_t){ sizeof(v) }), ENOPROTOOPT,
		   "getsockopt of an unknown option");
	l = listener(family, &ep);
	CHECK(get_int_opt(l, SOL_SOCKET, SO_ACCEPTCONN, "SO_ACCEPTCONN") == 1,
	      "SO_ACCEPTCONN off on a listener");
	set_int_opt(l, SOL_SOCKET, SO_REUSEADDR, 1, "SO_REUSEADDR");
	CHECK(get_int_opt(l, SOL_SOCKET, SO_REUSEADDR, "SO_REUSEADDR") == 1,
	      "SO_REUSEADDR did not read back as 1");
	xclose(l);
	xclose(c);
	xclose(s);
}

/* sendfile from a file into a socket, with an offset pointer (the file
 * position stays) and without one (the file position advances). */
static void case_sendfile(int family)
{
	const size_t total = ((size_t)1 << 20) + 3, tail = 1000;
	struct drain d;
	pthread_t t;
	off_t off = 0;
	int c, s, mfd;

	tcp_pair(family, &c, &s);
	mfd = memfd_create("sockcheck", MFD_CLOEXEC);
	CHECK(mfd >= 0, "memfd_create: %s", ename(errno));
	write_all(mfd, pat_at(0), total + tail, "file write");
	d.fd = s;
	d.pos = 0;
	t = xthread(drain_thread, &d);
	stage = "sendfile with an offset";
	while ((size_t)off < total) {
		ssize_t r = sendfile(c, mfd, &off, total - (size_t)off);

		if (r < 0 && errno == EINTR)
			continue;
		CHECK(r > 0, "sendfile: %s", r < 0 ? ename(errno) : "returned 0");
	}
	CHECK((size_t)off == total, "sendfile left the offset at %lld, expected %zu",
	      (long long)off, total);
	CHECK(lseek(mfd, 0, SEEK_CUR) == (off_t)(total + tail),
	      "sendfile with an offset pointer moved the file position");
	CHECK(lseek(mfd, (off_t)total, SEEK_SET) == (off_t)total, "lseek: %s", ename(errno));
	stage = "sendfile from the file position";
	for (size_t sent = 0; sent < tail;) {
		ssize_t r = sendfile(c, mfd, NULL, tail - sent);

		if (r < 0 && errno == EINTR)
			continue;
		CHECK(r > 0, "sendfile: %s", r < 0 ? ename(errno) : "returned 0");
		sent += (size_t)r;
	}
	CHECK(lseek(mfd, 0, SEEK_CUR) == (off_t)(total + tail),
	      "sendfile without an offset did not advance the file position");
	if (shutdown(c, SHUT_WR) < 0)
		fail("shutdown: %s", ename(errno));
	stage = "joining the reader";
	pthread_join(t, NULL);
	CHECK(d.pos == total + tail, "the reader got %llu bytes, %zu were sent",
	      (unsigned long long)d.pos, total + tail);
	xclose(mfd);
	xclose(c);
	xclose(s);
}

/* sendfile from the file position into a non-blocking socket nobody reads,
 * until EAGAIN: the position stays right after the last byte sent (nothing
 * is taken from the file and lost), and the peer then reads exactly the
 * bytes sent, in order. */
static void case_sendfile_nonblock(int family)
{
	uint64_t sent = 0;
	struct drain d;
	pthread_t t;
	int c, s, mfd;

	tcp_pair(family, &c, &s);
	mfd = memfd_create("sockcheck", MFD_CLOEXEC);
	CHECK(mfd >= 0, "memfd_create: %s", ename(errno));
	write_all(mfd, pat_at(0), PAT_LEN, "file write");
	CHECK(lseek(mfd, 0, SEEK_SET) == 0, "lseek: %s", ename(errno));
	set_nonblock(c, true);
	stage = "sendfile until EAGAIN";
	for (;;) {
		ssize_t r = sendfile(c, mfd, NULL, PAT_LEN - sent);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			EXPECT_ERR(r, EAGAIN, "sendfile into a full socket");
			break;
		}
		CHECK(r > 0, "sendfile returned 0");
		sent += (uint64_t)r;
		CHECK(sent < PAT_LEN, "the socket took all %u bytes", PAT_LEN);
	}
	CHECK(lseek(mfd, 0, SEEK_CUR) == (off_t)sent,
	      "sendfile left the file position past the bytes it sent");
	d.fd = s;
	d.pos = 0;
	t = xthread(drain_thread, &d);
	set_nonblock(c, false);
	if (shutdown(c, SHUT_WR) < 0)
		fail("shutdown: %s", ename(errno));
	stage = "joining the reader";
	pthread_join(t, NULL);
	CHECK(d.pos == sent, "the reader got %llu bytes, %llu were sent", (unsigned long long)d.pos,
	      (unsigned long long)sent);
	xclose(mfd);
	xclose(c);
	xclose(s);
}

/* The datagram-style calls on a connected stream: recvfrom and recvmsg
 * report no source address (length 0, buffer untouched; Python's
 * recvfrom() returns None from it), sendto works without an address and,
 * on Linux, with one too (it is ignored). */
static void case_sendto_recvfrom(int family)
{
	struct sockaddr_storage from;
	struct endpoint peer;
	socklen_t from_len = sizeof(from);
	char buf[8];
	struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) };
	struct msghdr mh = {
		.msg_name = &from, .msg_namelen = sizeof(from), .msg_iov = &iov, .msg_iovlen = 1
	};
	int c, s;

	tcp_pair(family, &c, &s);
	write_all(s, "abc", 3, "server write");
	wait_inq(c, 3);
	memset(&from, 0xAA, sizeof(from));
	CHECK(recvfrom(c, buf, sizeof(buf), 0, (struct sockaddr *)&from, &from_len) == 3,
	      "recvfrom: %s", ename(errno));
	CHECK(from_len == 0, "recvfrom on a stream reported a %u-byte address", (unsigned)from_len);
	CHECK(((unsigned char *)&from)[0] == 0xAA, "recvfrom on a stream wrote an address");
	write_all(s, "def", 3, "server write");
	wait_inq(c, 3);
	CHECK(recvmsg(c, &mh, 0) == 3 && memcmp(buf, "def", 3) == 0, "recvmsg: %s", ename(errno));
	CHECK(mh.msg_namelen == 0, "recvmsg on a stream reported a %u-byte address",
	      (unsigned)mh.msg_namelen);
	CHECK(mh.msg_flags == 0, "recvmsg: msg_flags 0x%x", (unsigned)mh.msg_flags);
	CHECK(sendto(c, "g", 1, 0, NULL, 0) == 1, "sendto without an address: %s", ename(errno));
	peer_name(c, &peer);
	CHECK(sendto(c, "h", 1, 0, sa(&peer), peer.len) == 1, "sendto with the peer's address: %s",
	      ename(errno));
	read_exact(s, buf, 2, "server read");
	CHECK(memcmp(buf, "gh", 2) == 0, "sendto: the server read the wrong bytes");
	xclose(c);
	xclose(s);
}

/* SO_SNDBUF/SO_RCVBUF can be set before connect and after; reading them
 * back gives at least what was set; data still flows with small buffers. */
static void case_bufsizes(int family)
{
	struct endpoint ep;
	struct drain d;
	pthread_t t;
	int l, c, s;

	l = listener(family, &ep);
	set_int_opt(l, SOL_SOCKET, SO_RCVBUF, 16384, "SO_RCVBUF on the listener");
	c = tcp_socket(family, 0);
	set_int_opt(c, SOL_SOCKET, SO_SNDBUF, 16384, "SO_SNDBUF before connect");
	set_int_opt(c, SOL_SOCKET, SO_RCVBUF, 16384, "SO_RCVBUF before connect");
	stage = "connect";
	if (connect(c, sa(&ep), ep.len) < 0)
		fail("connect: %s", ename(errno));
	s = xaccept(l);
	set_int_opt(s, SOL_SOCKET, SO_SNDBUF, 65536, "SO_SNDBUF after accept");
	set_int_opt(s, SOL_SOCKET, SO_RCVBUF, 65536, "SO_RCVBUF after accept");
	CHECK(get_int_opt(c, SOL_SOCKET, SO_SNDBUF, "SO_SNDBUF") >= 16384,
	      "SO_SNDBUF reads back smaller");
	CHECK(get_int_opt(c, SOL_SOCKET, SO_RCVBUF, "SO_RCVBUF") >= 16384,
	      "SO_RCVBUF reads back smaller");
	CHECK(get_int_opt(s, SOL_SOCKET, SO_SNDBUF, "SO_SNDBUF") >= 65536,
	      "SO_SNDBUF reads back smaller");
	CHECK(get_int_opt(s, SOL_SOCKET, SO_RCVBUF, "SO_RCVBUF") >= 65536,
	      "SO_RCVBUF reads back smaller");
	d.fd = s;
	d.pos = 0;
	t = xthread(drain_thread, &d);
	write_all(c, pat_at(0), 512u << 10, "512 KiB through small buffers");
	if (shutdown(c, SHUT_WR) < 0)
		fail("shutdown: %s", ename(errno));
	stage = "joining the reader";
	pthread_join(t, NULL);
	CHECK(d.pos == 512u << 10, "the reader got %llu bytes of 512 KiB",
	      (unsigned long long)d.pos);
	xclose(c);
	xclose(s);
	xclose(l);
}

static void expect_flags(int fd, bool nonblock, bool cloexec, const char *what)
{
	int fl = fcntl(fd, F_GETFL), fd_fl = fcntl(fd, F_GETFD);

	CHECK(fl >= 0 && fd_fl >= 0, "%s: fcntl: %s", what, ename(errno));
	CHECK(!!(fl & O_NONBLOCK) == nonblock, "%s: O_NONBLOCK is %s", what,
	      (fl & O_NONBLOCK) ? "set" : "clear");
	CHECK(!!(fd_fl & FD_CLOEXEC) == cloexec, "%s: FD_CLOEXEC is %s", what,
	      (fd_fl & FD_CLOEXEC) ? "set" : "clear");
}

/* accept4 flags as fcntl sees them; plain accept inherits nothing from a
 * non-blocking listener; EAGAIN and POLLIN on the listener; bad flags. */
static void case_accept4(int family)
{
	struct endpoint ep;
	char b;
	int l, c1, c2, a, p, u;

	l = listener(family, &ep);
	set_nonblock(l, true);
	EXPECT_ERR(accept(l, NULL, NULL), EAGAIN, "accept on an idle non-blocking listener");
	expect_revents(l, POLLIN, 0, 0, "poll of an idle listener");
	c1 = connect_to(&ep);
	expect_revents(l, POLLIN, 5000, POLLIN, "poll of a listener with a connection pending");
	CHECK((a = accept4(l, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0, "accept4: %s",
	      ename(errno));
	expect_flags(a, true, true, "accept4(SOCK_NONBLOCK|SOCK_CLOEXEC)");
	EXPECT_ERR(read(a, &b, 1), EAGAIN, "read of the accept4 socket");
	c2 = connect_to(&ep);
	expect_revents(l, POLLIN, 5000, POLLIN, "poll of a listener with a connection pending");
	CHECK((p = accept(l, NULL, NULL)) >= 0, "accept: %s", ename(errno));
	expect_flags(p, false, false, "accept from a non-blocking listener");
	EXPECT_ERR(accept4(l, NULL, NULL, 1), EINVAL, "accept4 with an unknown flag");
	u = tcp_socket(family, SOCK_NONBLOCK | SOCK_CLOEXEC);
	expect_flags(u, true, true, "socket(SOCK_NONBLOCK|SOCK_CLOEXEC)");
	CHECK(fcntl(u, F_SETFL, 0) == 0 && fcntl(u, F_SETFD, 0) == 0, "fcntl: %s", ename(errno));
	expect_flags(u, false, false, "after clearing both with fcntl");
	set_nonblock(p, true);
	EXPECT_ERR(read(p, &b, 1), EAGAIN, "read after fcntl O_NONBLOCK");
	set_nonblock(a, false);
	expect_flags(a, false, true, "after clearing O_NONBLOCK");
	xclose(u);
	xclose(p);
	xclose(a);
	xclose(c2);
	xclose(c1);
	xclose(l);
}

/* How many descriptors below 256 are open in `now` and were not in `before`. */
static int fds_added(const uint64_t before[4], uint64_t now[4])
{
	int n = 0;

	memset(now, 0, 4 * sizeof(now[0]));
	for (int fd = 0; fd < 256; fd++)
		if (fcntl(fd, F_GETFD) >= 0)
			now[fd / 64] |= 1ULL << (fd % 64);
	for (int i = 0; i < 4; i++)
		n += __builtin_popcountll(now[i] & ~before[i]);
	return n;
}

/*
 * Descriptor numbers: the kernel hands out the lowest free number, and
 * programs rely on it (wrk sizes its event loop by three descriptors per
 * connection). Three connections with data through each (a matched
 * channel, under TSoR) add exactly their sockets to the program's low
 * descriptors, and an open() after them one more: nothing a library keeps
 * takes the program's numbers.
 */
static void case_fd_numbers(int family)
{
	uint64_t before[4] = { 0 }, now[4];
	struct endpoint ep;
	int l, s[3], probe;
	pid_t pid;

	l = listener(family, &ep);
	pid = xfork();
	if (pid == 0) {
		int c[3];

		xclose(l);
		fds_added(before, before);
		for (int i = 0; i < 3; i++) {
			c[i] = connect_to(&ep);
			write_all(c[i], pat_at(0), 1, "client write");
		}
		CHECK(fds_added(before, now) == 3,
		      "three connected sockets added %d descriptors below 256",
		      fds_added(before, now));
		for (int i = 0; i < 3; i++) {
			expect_eof(c[i], "client read after the server closed");
			xclose(c[i]);
		}
		exit(0);
	}
	fds_added(before, before);
	for (int i = 0; i < 3; i++) {
		s[i] = xaccept(l);
		read_pattern(s[i], 0, 1, "server read");
	}
	probe = open("/dev/null", O_RDONLY | O_CLOEXEC);
	CHECK(probe >= 0, "open /dev/null: %s", ename(errno));
	CHECK(fds_added(before, now) == 4,
	      "three accepted sockets and an open() added %d descriptors below 256",
	      fds_added(before, now));
	xclose(probe);
	for (int i = 0; i < 3; i++)
		xclose(s[i]);
	xclose(l);
	reap(pid, "client");
}

/* ---- Signals during a blocked call ------------------------------------------ */

static atomic_int usr1_count;

static void on_usr1(int sig)
{
	(void)sig;
	atomic_fetch_add(&usr1_count, 1);
}

/* Sends SIGUSR1 to `target` every 50 ms until stop; from the fourth on,
 * also releases the blocked call (a byte to read, or room to write), so a
 * call that was restarted returns then. Repeated signals make sure at
 * least one arrives while the target sleeps in its call. */
struct kicker {
	pthread_t target; /* the thread blocked in read or write */
	atomic_bool stop; /* set by the target once its call returned */
	int feed;	  /* write one byte here at the fourth signal, or -1 */
	int drain;	  /* keep reading this (non-blocking) from then on, or -1 */
};

static void *kick_thread(void *arg)
{
	struct kicker *k = arg;
	static char sink[1 << 16];

	for (int i = 0; !atomic_load(&k->stop); i++) {
		sleep_ms(50);
		if (atomic_load(&k->stop))
			break;
		pthread_kill(k->target, SIGUSR1);
		if (i == 3 && k->feed >= 0)
			CHECK(write(k->feed, "x", 1) == 1, "kicker write: %s", ename(errno));
		if (i >= 3 && k->drain >= 0)
			while (recv(k->drain, sink, sizeof(sink), MSG_DONTWAIT) > 0)
				;
	}
	return NULL;
}

static void set_usr1(int flags)
{
	struct sigaction sa = { .sa_handler = on_usr1, .sa_flags = flags };

	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGUSR1, &sa, NULL) < 0)
		fail("sigaction: %s", ename(errno));
}

/* One blocked read (or write, on a connection filled to EAGAIN) with
 * signals arriving; `want` 0 = it must complete, else the errno it must
 * fail with. */
static void blocked_call(int family, bool do_write, int timeo_s, int want, const char *what)
{
	struct kicker k = { .target = pthread_self(), .feed = -1, .drain = -1 };
	uint64_t pos = 0;
	pthread_t t;
	ssize_t r;
	char b;
	int c, s;

	tcp_pair(family, &c, &s);
	if (timeo_s) {
		struct timeval tv = { .tv_sec = timeo_s };

		if (setsockopt(c, SOL_SOCKET, do_write ? SO_SNDTIMEO : SO_RCVTIMEO, &tv,
			       sizeof(tv)) < 0)
			fail("setsockopt timeout: %s", ename(errno));
	}
	if (do_write) {
		set_nonblock(c, true);
		fill_until_eagain(c, &pos, false, "filling the connection");
		sleep_ms(50); /* see case_partial_write */
		fill_until_eagain(c, &pos, false, "filling the connection again");
		set_nonblock(c, false);
		k.drain = want ? -1 : s;
	} else {
		k.feed = want ? -1 : s;
	}
	atomic_store(&usr1_count, 0);
	t = xthread(kick_thread, &k);
	stage = what;
	r = do_write ? write(c, "y", 1) : read(c, &b, 1);
	atomic_store(&k.stop, true);
	pthread_join(t, NULL);
	if (want)
		expect_err(r, want, what);
	else
		CHECK(r == 1, "%s: returned %zd (%s)", what, r, r < 0 ? ename(errno) : "-");
	CHECK(atomic_load(&usr1_count) > 0, "%s: the handler never ran", what);
	xclose(c);
	xclose(s);
}

/*
 * SA_RESTART: a blocked read or write interrupted by such a handler goes
 * on; without it, or with a timeout on the socket, it fails with EINTR
 * (signal(7)). signal() is BSD's (SA_RESTART) unless siginterrupt() said
 * otherwise. And what sigaction() reports back is the program's action.
 */
static void case_sa_restart(int family)
{
	struct sigaction old;

	set_usr1(SA_RESTART);
	CHECK(sigaction(SIGUSR1, NULL, &old) == 0, "sigaction query: %s", ename(errno));
	CHECK(old.sa_handler == on_usr1, "sigaction reports another handler");
	CHECK((old.sa_flags & (SA_RESTART | SA_SIGINFO | SA_RESETHAND)) == SA_RESTART,
	      "sigaction reports flags %#x", (unsigned)old.sa_flags);
	blocked_call(family, false, 0, 0, "read, SA_RESTART");
	blocked_call(family, true, 0, 0, "write, SA_RESTART");
	blocked_call(family, false, 5, EINTR, "read, SA_RESTART, SO_RCVTIMEO");
	blocked_call(family, true, 5, EINTR, "write, SA_RESTART, SO_SNDTIMEO");
	set_usr1(0);
	blocked_call(family, false, 0, EINTR, "read, no SA_RESTART");
	blocked_call(family, true, 0, EINTR, "write, no SA_RESTART");
	CHECK(signal(SIGUSR1, on_usr1) == on_usr1, "signal() returned another handler");
	/* glibc's signal() sets SA_RESTART; ThreadSanitizer's does not: what
	 * matters is that the call follows the flags the action reports. */
	CHECK(sigaction(SIGUSR1, NULL, &old) == 0, "sigaction query: %s", ename(errno));
	blocked_call(family, false, 0, (old.sa_flags & SA_RESTART) ? 0 : EINTR,
		     "read, signal(), as its flags say");
	/* Deprecated, but still called by old programs, which is the point. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
	CHECK(siginterrupt(SIGUSR1, 1) == 0, "siginterrupt: %s", ename(errno));
#pragma GCC diagnostic pop
	blocked_call(family, false, 0, EINTR, "read, siginterrupt(1)");
	/* SA_RESETHAND: after one delivery the kernel's action is SIG_DFL. */
	set_usr1(SA_RESETHAND);
	atomic_store(&usr1_count, 0);
	raise(SIGUSR1);
	CHECK(sigaction(SIGUSR1, NULL, &old) == 0 && old.sa_handler == SIG_DFL,
	      "after SA_RESETHAND the action is not SIG_DFL");
	CHECK(atomic_load(&usr1_count) == 1, "the SA_RESETHAND handler ran %d times",
	      atomic_load(&usr1_count));
}

/* ==== The runner ============================================================= */

struct sc_case {
	const char *name;	 /* as given on the command line and printed */
	void (*run)(int family); /* fails through fail(); returns on success */
	int family;		 /* AF_INET, or AF_INET6 for the -v6 cases */
	const char *what;	 /* one line for --help */
};

static const struct sc_case cases[] = {
	{ "echo", case_echo, AF_INET, "blocking connect/accept, echo of 1 B .. 64 KiB" },
	{ "echo-v6", case_echo, AF_INET6, "the same over ::1" },
	{ "connect-nonblock", case_connect_nonblock, AF_INET,
	  "EINPROGRESS, POLLOUT, SO_ERROR 0, EISCONN" },
	{ "connect-nonblock-v6", case_connect_nonblock, AF_INET6, "the same over ::1" },
	{ "refused", case_refused, AF_INET, "ECONNREFUSED, blocking and via SO_ERROR" },
	{ "refused-v6", case_refused, AF_INET6, "the same over ::1" },
	{ "partial-read", case_partial_read, AF_INET,
	  "reads smaller and larger than what was sent" },
	{ "partial-write", case_partial_write, AF_INET,
	  "short write, EAGAIN, POLLOUT after the peer drains" },
	{ "read-empty", case_read_empty, AF_INET, "EAGAIN from every read call, MSG_DONTWAIT" },
	{ "half-close", case_half_close, AF_INET, "SHUT_WR: EOF at the peer, which still answers" },
	{ "half-close-v6", case_half_close, AF_INET6, "the same over ::1" },
	{ "bulk-rw", case_bulk_rw, AF_INET, "64 MiB each way at once, read/write, checksummed" },
	{ "bulk-iov", case_bulk_iov, AF_INET, "the same with readv/writev" },
	{ "bulk-send", case_bulk_send, AF_INET,
	  "the same with send MSG_DONTWAIT, recv MSG_WAITALL and MSG_PEEK" },
	{ "bulk-msg", case_bulk_msg, AF_INET, "the same with sendmsg/recvmsg" },
	{ "fionread", case_fionread, AF_INET, "FIONREAD through peek, reads and EOF" },
	{ "many-conns", case_many_conns, AF_INET, "200 concurrent connections, one ET epoll loop" },
	{ "epoll-level", case_epoll_level, AF_INET, "level-triggered EPOLLIN and EPOLLOUT" },
	{ "epoll-edge", case_epoll_edge, AF_INET, "edge-triggered: one report per arrival" },
	{ "epoll-out", case_epoll_out, AF_INET, "edge-triggered EPOLLOUT after a full connection" },
	{ "epoll-rdhup", case_epoll_rdhup, AF_INET, "EPOLLRDHUP, then EPOLLHUP, POLLRDHUP" },
	{ "epoll-mixed", case_epoll_mixed, AF_INET, "a pipe and a socket in one set; ADD/MOD/DEL" },
	{ "select-poll", case_select_poll, AF_INET, "select, pselect, poll, ppoll on mixed fds" },
	{ "fork-accept", case_fork_accept, AF_INET,
	  "accept, fork, the parent closes its copy, the child serves" },
	{ "fork-listen", case_fork_listen, AF_INET, "parent and child share the listener" },
	{ "dup-close", case_dup_close, AF_INET, "dup/dup2/dup3, shutdown through a copy" },
	{ "close-eof", case_close_eof, AF_INET, "close: the peer reads the data, then EOF" },
	{ "peer-killed", case_peer_killed, AF_INET,
	  "SIGKILLed peer: EOF or ECONNRESET, then EPIPE/ECONNRESET" },
	{ "epipe", case_epipe, AF_INET, "write after the peer closed: EPIPE, SIGPIPE" },
	{ "names", case_names, AF_INET, "getsockname/getpeername agree across the connection" },
	{ "names-v6", case_names, AF_INET6, "the same over ::1" },
	{ "sockopts", case_sockopts, AF_INET, "TCP_NODELAY, SO_KEEPALIVE, SO_TYPE ... read back" },
	{ "bufsizes", case_bufsizes, AF_INET, "SO_SNDBUF/SO_RCVBUF set, read back, data flows" },
	{ "sendfile", case_sendfile, AF_INET, "sendfile with and without an offset pointer" },
	{ "sendfile-nonblock", case_sendfile_nonblock, AF_INET,
	  "sendfile into a full non-blocking socket: no byte taken and lost" },
	{ "sendto-recvfrom", case_sendto_recvfrom, AF_INET,
	  "recvfrom/recvmsg report no address, sendto with and without one" },
	{ "accept4", case_accept4, AF_INET, "accept4 flags seen by fcntl, EAGAIN, EINVAL" },
	{ "fd-numbers", case_fd_numbers, AF_INET,
	  "consecutive descriptors for sockets with data, the next open() after them" },
	{ "sa-restart", case_sa_restart, AF_INET,
	  "blocked read/write and signals: SA_RESTART, EINTR, timeouts, signal()" },
};

/* True when a TCP socket can be bound to ::1 (containers often lack IPv6). */
static bool have_ipv6(void)
{
	struct sockaddr_in6 s6 = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool ok = fd >= 0 && bind(fd, (struct sockaddr *)&s6, sizeof(s6)) == 0;

	if (fd >= 0)
		close(fd);
	return ok;
}

/* The case's process: its own group (so the runner can kill what it
 * leaves), SIGPIPE ignored (writes report EPIPE), a deadline. */
static _Noreturn void case_child(const struct sc_case *c, int wfd)
{
	struct sigaction sa_alarm = { .sa_handler = on_alarm };

	setpgid(0, 0);
	result_fd = wfd;
	signal(SIGPIPE, SIG_IGN);
	sigaction(SIGALRM, &sa_alarm, NULL);
	alarm(case_timeout);
	c->run(c->family);
	exit(0);
}

/* Runs one case and prints its line; returns false when it failed. */
static bool run_case(const struct sc_case *c, bool ipv6)
{
	char msg[512];
	size_t len = 0;
	siginfo_t si;
	int pfd[2], st = 0;
	pid_t pid;
	ssize_t r;

	if (c->family == AF_INET6 && !ipv6) {
		printf("%s: SKIP no IPv6 loopback\n", c->name);
		return true;
	}
	if (pipe2(pfd, O_CLOEXEC) < 0) {
		printf("%s: FAIL pipe2: %s\n", c->name, ename(errno));
		return false;
	}
	fflush(stdout);
	pid = fork();
	if (pid < 0) {
		printf("%s: FAIL fork: %s\n", c->name, ename(errno));
		close(pfd[0]);
		close(pfd[1]);
		return false;
	}
	if (pid == 0) {
		close(pfd[0]);
		case_child(c, pfd[1]);
	}
	setpgid(pid, pid); /* also here: no window in which the group is not yet its own */
	close(pfd[1]);
	/* Wait without reaping: the zombie keeps the group id from being reused
	 * while its leftover helpers are killed. */
	while (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT) < 0 && errno == EINTR)
		;
	killpg(pid, SIGKILL);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	/* Orphaned helpers were reparented to us (child subreaper): reap them.
	 * Only the case's group, never waitpid(-1): a daemon an interposer
	 * started from inside the case (setsid, so alive and out of the group)
	 * may have been reparented to us too, and must not block the run. */
	while (waitpid(-pid, NULL, 0) > 0 || errno == EINTR)
		;
	/* Every writer of the case is dead, so its lines are all in the pipe;
	 * read without waiting for an EOF that such a daemon could withhold. */
	fcntl(pfd[0], F_SETFL, O_NONBLOCK);
	while ((r = read(pfd[0], msg + len, sizeof(msg) - 1 - len)) != 0) {
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			break;
		len += (size_t)r;
		if (len == sizeof(msg) - 1)
			break;
	}
	close(pfd[0]);
	msg[len] = '\0';
	msg[strcspn(msg, "\n")] = '\0'; /* the first message wins */

	if (WIFEXITED(st) && WEXITSTATUS(st) == 0 && len == 0) {
		printf("%s: ok\n", c->name);
		return true;
	}
	if (len > 0)
		printf("%s: FAIL %s\n", c->name, msg);
	else if (WIFSIGNALED(st))
		printf("%s: FAIL killed by SIG%s\n", c->name, sigabbrev_np(WTERMSIG(st)));
	else
		printf("%s: FAIL exit status %d\n", c->name, WEXITSTATUS(st));
	return false;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: sockcheck [-t SECONDS] [CASE...]\n"
		"       sockcheck --list | --help\n"
		"Runs socket-semantics cases over loopback TCP and prints one line per case:\n"
		"'NAME: ok', 'NAME: FAIL WHAT' or 'NAME: SKIP WHY'. Exit status 1 if any failed.\n"
		"-t: per-case deadline in seconds (default %u).\n\ncases:\n",
		SC_TIMEOUT_DEFAULT);
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
		fprintf(f, "  %-20s %s\n", cases[i].name, cases[i].what);
}

static const struct sc_case *find_case(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		if (strcmp(cases[i].name, name) == 0)
			return &cases[i];
	}
	return NULL;
}

int main(int argc, char **argv)
{
	bool failed = false, ipv6;
	int first = 1;

	if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		usage(stdout);
		return 0;
	}
	if (argc > 1 && !strcmp(argv[1], "--list")) {
		for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
			printf("%s\n", cases[i].name);
		return 0;
	}
	if (argc > 2 && !strcmp(argv[1], "-t")) {
		char *end;
		unsigned long t = strtoul(argv[2], &end, 10);

		if (*end || t == 0 || t > 3600) {
			fprintf(stderr, "sockcheck: -t '%s': expected 1..3600 seconds\n", argv[2]);
			return 2;
		}
		case_timeout = (unsigned)t;
		first = 3;
	}
	for (int i = first; i < argc; i++) {
		if (!find_case(argv[i])) {
			fprintf(stderr, "sockcheck: no case '%s' (sockcheck --list shows them)\n",
				argv[i]);
			return 2;
		}
	}
	/* Orphaned helper processes of a case come back to us to be reaped. */
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	pattern_init();
	ipv6 = have_ipv6();
	if (first == argc) {
		for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
			failed |= !run_case(&cases[i], ipv6);
	} else {
		for (int i = first; i < argc; i++)
			failed |= !run_case(find_case(argv[i]), ipv6);
	}
	free(pat);
	return failed ? 1 : 0;
}
