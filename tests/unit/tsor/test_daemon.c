// SPDX-License-Identifier: MIT
/*
 * Description: tsord's broker over its real Unix socket, with real TCP
 * sockets: listener registration (only listening sockets), QUERY for exact
 * and wildcard listeners (a non-local destination never matches), INTENT
 * only for a bound socket, the ASK of the accepted socket matching the
 * intent (same channel, accepted flag set, data flows), a plain client's
 * ASK answered -ENOENT, CANCEL before and after the match, owner-only
 * UNLISTEN, a client's listeners dropped with its connection, and STATS.
 * test_sec_*: the holes of the security review (docs/tsor.md, Security),
 * each failing on the tsord before it: a UDP socket's ASK, another
 * client's intent replaced or cancelled, half frames and unread replies,
 * a lingering close, squatted directories and a tsord of another uid, a
 * tsord without CAP_NET_ADMIN, STOP by another uid, per-client caps.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tsor-int.h"

static char dir[] = "/tmp/tsor-unit.XXXXXX";
static char path[108];

static void *serve(void *arg)
{
	return (void *)(intptr_t)tsor_daemon_serve(*(int *)arg);
}

static int req(int cl, enum tsor_msg_type type, int fd, const struct tsor_addr *a, uint64_t id,
	       struct tsor_msg *r, int *fds, int *nfds)
{
	struct tsor_msg m;

	tsor_msg_init(&m, type);
	if (a)
		m.addr = *a;
	m.id = id;
	return tsor_call(cl, &m, fd, r, fds, nfds);
}

/* CANCEL with its reason (abi.h's enum tsor_cancel). */
static int cancel_why(int cl, uint64_t id, unsigned why)
{
	struct tsor_msg m, r;

	tsor_msg_init(&m, TSOR_MSG_CANCEL);
	m.id = id;
	m.val[0] = why;
	return tsor_call(cl, &m, -1, &r, NULL, NULL);
}

static int tcp_listener(const char *ip, struct tsor_addr *a)
{
	struct sockaddr_in in = { .sin_family = AF_INET };
	socklen_t len = sizeof(in);
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	inet_pton(AF_INET, ip, &in.sin_addr);
	assert_int_equal(bind(s, (struct sockaddr *)&in, sizeof(in)), 0);
	assert_int_equal(listen(s, 16), 0);
	assert_int_equal(getsockname(s, (struct sockaddr *)&in, &len), 0);
	assert_int_equal(tsor_addr_from(a, (struct sockaddr *)&in, len), 0);
	return s;
}

static struct sockaddr_in sin_of(const char *ip, uint16_t port)
{
	struct sockaddr_in in = { .sin_family = AF_INET, .sin_port = htons(port) };

	inet_pton(AF_INET, ip, &in.sin_addr);
	return in;
}

static int bound_socket(void)
{
	struct sockaddr_in any = { .sin_family = AF_INET };
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_int_equal(bind(s, (struct sockaddr *)&any, sizeof(any)), 0);
	return s;
}

/*
 * A connect to la whose intent is cancelled for `why` before the SYN;
 * with `connects`, the connection is then made, accepted on lst, and its
 * ASK must find no channel.
 */
static void cancel_then_ask(int cl, int lst, const struct tsor_addr *la, unsigned why,
			    bool connects)
{
	struct sockaddr_in in = sin_of("127.0.0.1", la->port);
	int s = bound_socket(), a, fds[TSOR_MAX_FDS], nfds;
	struct tsor_msg r;

	assert_int_equal(req(cl, TSOR_MSG_INTENT, s, la, 0, &r, fds, &nfds), 0);
	for (int i = 0; i < nfds; i++)
		close(fds[i]);
	assert_int_equal(cancel_why(cl, r.id, why), 0);
	if (connects) {
		assert_int_equal(connect(s, (struct sockaddr *)&in, sizeof(in)), 0);
		a = accept4(lst, NULL, NULL, SOCK_CLOEXEC);
		assert_true(a >= 0);
		assert_int_equal(req(cl, TSOR_MSG_ASK, a, NULL, 0, &r, fds, &nfds), -ENOENT);
		close(a);
	}
	close(s);
}

static void test_broker(void **state)
{
	struct tsor_msg r;
	struct tsor_addr la, wa, other;
	struct tsor_conn cc, ac;
	int lsock, cl, cl2, lst, wild, s, a, fds[TSOR_MAX_FDS], nfds;
	uint64_t chan_id;
	pthread_t t;
	void *rv;
	char b[16];

	(void)state;
	tsor_libc_direct();
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/d/tsord.sock", dir);
	assert_int_equal(tsor_daemon_listen(path, &lsock), 0);
	assert_int_equal(pthread_create(&t, NULL, serve, &lsock), 0);
	cl = tsor_unix_connect(path);
	assert_true(cl >= 0);
	/* A second tsord at the same path is refused while this one answers. */
	assert_int_equal(tsor_daemon_listen(path, &s), -EADDRINUSE);

	assert_int_equal(req(cl, TSOR_MSG_PING, -1, NULL, 0, &r, NULL, NULL), 0);

	/* Listeners: only real listening sockets. */
	lst = tcp_listener("127.0.0.1", &la);
	s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(req(cl, TSOR_MSG_LISTEN, s, NULL, 0, &r, NULL, NULL), -EINVAL);
	assert_int_equal(req(cl, TSOR_MSG_LISTEN, -1, NULL, 0, &r, NULL, NULL), -EBADF);
	assert_int_equal(req(cl, TSOR_MSG_LISTEN, lst, NULL, 0, &r, NULL, NULL), 0);
	wild = tcp_listener("0.0.0.0", &wa);
	assert_int_equal(req(cl, TSOR_MSG_LISTEN, wild, NULL, 0, &r, NULL, NULL), 0);

	/* QUERY: exact, wildcard + local, wildcard + non-local, wrong port. */
	assert_int_equal(req(cl, TSOR_MSG_QUERY, s, &la, 0, &r, NULL, NULL), 0);
	other = wa;
	inet_pton(AF_INET, "127.0.0.1", other.addr);
	assert_int_equal(req(cl, TSOR_MSG_QUERY, s, &other, 0, &r, NULL, NULL), 0);
	inet_pton(AF_INET, "192.0.2.1", other.addr); /* TEST-NET-1: never local */
	assert_int_equal(req(cl, TSOR_MSG_QUERY, s, &other, 0, &r, NULL, NULL), -ENOENT);
	other = la;
	inet_pton(AF_INET, "127.0.0.2", other.addr); /* local, but not the bound address */
	assert_int_equal(req(cl, TSOR_MSG_QUERY, s, &other, 0, &r, NULL, NULL), -ENOENT);
	other = la;
	other.port = (uint16_t)(la.port == 65535 ? 1 : la.port + 1);
	if (other.port != wa.port)
		assert_int_equal(req(cl, TSOR_MSG_QUERY, s, &other, 0, &r, NULL, NULL), -ENOENT);

	/* INTENT needs a bound socket: the port is the key. */
	assert_int_equal(req(cl, TSOR_MSG_INTENT, s, &la, 0, &r, fds, &nfds), -EINVAL);
	close(s);
	s = bound_socket();
	assert_int_equal(req(cl, TSOR_MSG_INTENT, s, &la, 0, &r, fds, &nfds), 0);
	assert_int_equal(nfds, TSOR_MAX_FDS);
	assert_int_equal(r.ring_size, TSOR_RING_DEFAULT);
	chan_id = r.id;
	assert_int_equal(tsor_conn_open(&cc, fds[0], &fds[1], TSOR_SIDE_CONNECTOR, r.id), 0);
	assert_int_equal(atomic_load(&cc.state), TSOR_CONN_UNCONFIRMED);
	{
		struct sockaddr_in in = sin_of("127.0.0.1", la.port);

		assert_int_equal(connect(s, (struct sockaddr *)&in, sizeof(in)), 0);
	}
	a = accept4(lst, NULL, NULL, SOCK_CLOEXEC);
	assert_true(a >= 0);
	assert_int_equal(req(cl, TSOR_MSG_ASK, a, NULL, 0, &r, fds, &nfds), 0);
	assert_int_equal(r.id, chan_id);
	assert_int_equal(tsor_conn_open(&ac, fds[0], &fds[1], TSOR_SIDE_ACCEPTOR, r.id), 0);
	{
		short rev;
		char hi[] = "hi!";
		struct iovec v = { hi, 3 }, w = { b, sizeof(b) };

		assert_int_equal(tsor_conn_ready(&cc, POLLOUT, &rev), 0); /* accepted flag seen */
		assert_int_equal(tsor_conn_send(&cc, s, &v, 1, 0), 3);
		assert_int_equal(tsor_conn_recv(&ac, a, &w, 1, 0), 3);
		assert_memory_equal(b, "hi!", 3);
	}
	/* Matched: cancelling is too late. */
	assert_int_equal(req(cl, TSOR_MSG_CANCEL, -1, NULL, chan_id, &r, NULL, NULL), -EALREADY);
	tsor_conn_close(&cc);
	tsor_conn_close(&ac);
	close(a);
	close(s);

	/* A plain client: no intent, ASK says so. */
	s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	{
		struct sockaddr_in in = sin_of("127.0.0.1", la.port);

		assert_int_equal(connect(s, (struct sockaddr *)&in, sizeof(in)), 0);
	}
	a = accept4(lst, NULL, NULL, SOCK_CLOEXEC);
	assert_int_equal(req(cl, TSOR_MSG_ASK, a, NULL, 0, &r, fds, &nfds), -ENOENT);
	assert_int_equal(nfds, 0);
	close(a);
	close(s);

	/* Cancelled before the accept: the acceptor is told "plain". A
	 * connection closed before its accept counts as unused, once (not
	 * again at its late ASK), and a connect that failed not at all. */
	cancel_then_ask(cl, lst, &la, TSOR_CANCEL_FALLBACK, true);
	cancel_then_ask(cl, lst, &la, TSOR_CANCEL_UNUSED, true);
	cancel_then_ask(cl, lst, &la, TSOR_CANCEL_FAILED, false);

	/* CLOSED reports count bytes; STATS shows it all. */
	{
		struct tsor_msg m;

		tsor_msg_init(&m, TSOR_MSG_CLOSED);
		m.val[0] = 1234;
		assert_int_equal(tsor_call(cl, &m, -1, &r, NULL, NULL), 0);
	}
	assert_int_equal(req(cl, TSOR_MSG_STATS, -1, NULL, 0, &r, NULL, NULL), 0);
	assert_int_equal(r.val[TSOR_STAT_ACCEL], 1);
	/* The plain client's ASK and the first cancel; each cancelled
	 * connection's late ASK is not counted again. */
	assert_int_equal(r.val[TSOR_STAT_FALLBACK], 2);
	assert_int_equal(r.val[TSOR_STAT_BYTES], 1234);
	assert_int_equal(r.val[TSOR_STAT_LISTENERS], 2);
	assert_int_equal(r.val[TSOR_STAT_INTENTS], 0);
	assert_int_equal(req(cl, TSOR_MSG_STATS, -1, NULL, 1, &r, NULL, NULL), 0);
	assert_int_equal(r.val[TSOR_STAT_UNUSED - TSOR_STAT_PAGE], 1);

	/* Only the owner unregisters; its disconnection drops its listeners. */
	cl2 = tsor_unix_connect(path);
	assert_int_equal(req(cl, TSOR_MSG_LISTEN, lst, NULL, 0, &r, NULL, NULL), 0); /* re-listen */
	assert_int_equal(req(cl2, TSOR_MSG_UNLISTEN, -1, NULL, r.id, &r, NULL, NULL), -ENOENT);
	s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(req(cl2, TSOR_MSG_QUERY, s, &la, 0, &r, NULL, NULL), 0);
	close(cl);
	nanosleep(&(struct timespec){ .tv_nsec = 50000000 }, NULL);
	assert_int_equal(req(cl2, TSOR_MSG_QUERY, s, &la, 0, &r, NULL, NULL), -ENOENT);
	assert_int_equal(req(cl2, TSOR_MSG_STATS, -1, NULL, 0, &r, NULL, NULL), 0);
	assert_int_equal(r.val[TSOR_STAT_LISTENERS], 0);
	close(s);

	assert_int_equal(req(cl2, TSOR_MSG_STOP, -1, NULL, 0, &r, NULL, NULL), 0);
	pthread_join(t, &rv);
	assert_int_equal((intptr_t)rv, 0);
	close(cl2);
	close(lsock);
	close(lst);
	close(wild);
	unlink(path);
	snprintf(path, sizeof(path), "%s/d", dir);
	rmdir(path);
	rmdir(dir);
}

/* ======================= security review (holes 1-8) ======================= */

static double ms_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) * 1e3 + (double)(t.tv_nsec - t0->tv_nsec) / 1e6;
}

/* Raw bytes of a frame with optional fd, as a hostile client writes them. */
static void raw_send(int cl, const void *buf, size_t len, int fd)
{
	union {
		char b[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = { .iov_base = (void *)(uintptr_t)buf, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (fd >= 0) {
		struct cmsghdr *c;

		memset(&u, 0, sizeof(u));
		mh.msg_control = u.b;
		mh.msg_controllen = sizeof(u.b);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	assert_int_equal(sendmsg(cl, &mh, MSG_NOSIGNAL), (ssize_t)len);
}

static int open_fds(void)
{
	int n = 0;

	for (int fd = 0; fd < 4096; fd++)
		n += fcntl(fd, F_GETFD) >= 0;
	return n;
}

static int bound_reuse(const char *ip, uint16_t port)
{
	struct sockaddr_in in = sin_of(ip, port);
	int one = 1, s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_int_equal(setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)), 0);
	assert_int_equal(bind(s, (struct sockaddr *)&in, sizeof(in)), 0);
	return s;
}

static uint16_t port_of(int s)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	struct tsor_addr a;

	assert_int_equal(getsockname(s, (struct sockaddr *)&ss, &len), 0);
	assert_int_equal(tsor_addr_from(&a, (struct sockaddr *)&ss, len), 0);
	return a.port;
}

/* Runs fn in a child as uid 65534; its exit status (0 = pass). */
static int as_nobody(int (*fn)(void *), void *arg)
{
	int st;
	pid_t pid = fork();

	if (pid == 0) {
		if (setresgid(65534, 65534, 65534) || setresuid(65534, 65534, 65534))
			_exit(90);
		_exit(fn(arg));
	}
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 99;
}

static int nobody_stop(void *arg)
{
	struct tsor_msg r;
	int cl = tsor_unix_connect(arg);

	if (cl < 0)
		return 91;
	return req(cl, TSOR_MSG_STOP, -1, NULL, 0, &r, NULL, NULL) == -EPERM ? 0 : 92;
}

static int nobody_fake_tsord(void *arg)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int s = socket(AF_UNIX, SOCK_STREAM, 0);
	char c;

	if (strlen(arg) >= sizeof(sa.sun_path))
		return 92;
	memcpy(sa.sun_path, arg, strlen(arg) + 1);
	if (bind(s, (struct sockaddr *)&sa, sizeof(sa)) || listen(s, 4))
		return 93;
	(void)!write(STDOUT_FILENO, "", 0);
	/* Serve until the parent connected and went: accept one, wait for EOF. */
	s = accept(s, NULL, NULL);
	(void)!read(s, &c, 1);
	return 0;
}

/* A non-root tsord (no CAP_NET_ADMIN) serving one request from sv. */
static int nobody_daemon(void *arg)
{
	struct tsor_daemon *d = tsor_daemon_new();
	int sv = *(int *)arg;

	tsor_daemon_add(d, sv);
	while (tsor_daemon_serve_one(d, 0))
		;
	tsor_daemon_free(d);
	return 0;
}

/* One tsord per test, its directory reachable by uid 65534. */
static struct {
	char dir[32], path[108];
	int lsock, cl, cl2, lst;
	struct tsor_addr la;
	pthread_t t;
} S;

static int sec_setup(void **state)
{
	(void)state;
	tsor_libc_direct();
	snprintf(S.dir, sizeof(S.dir), "/tmp/tsor-sec.XXXXXX");
	if (!mkdtemp(S.dir) || chmod(S.dir, 0755))
		return -1;
	snprintf(S.path, sizeof(S.path), "%s/d/tsord.sock", S.dir);
	if (tsor_daemon_listen(S.path, &S.lsock) || pthread_create(&S.t, NULL, serve, &S.lsock))
		return -1;
	S.cl = tsor_unix_connect(S.path);
	S.cl2 = tsor_unix_connect(S.path);
	S.lst = tcp_listener("127.0.0.1", &S.la);
	return S.cl >= 0 && S.cl2 >= 0 ? 0 : -1;
}

static int sec_teardown(void **state)
{
	struct tsor_msg r;
	char cmd[200];
	void *rv;

	(void)state;
	if (req(S.cl, TSOR_MSG_STOP, -1, NULL, 0, &r, NULL, NULL) == 0)
		pthread_join(S.t, &rv);
	close(S.cl);
	close(S.cl2);
	close(S.lsock);
	close(S.lst);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", S.dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void close_all(int *fds, int n)
{
	for (int i = 0; i < n; i++)
		close(fds[i]);
}

/* 1. Only TCP sockets; an ASK only with an accepted connection. */
static void test_sec_ask_udp(void **state)
{
	struct tsor_msg r;
	struct tsor_addr la = S.la;
	int cl = S.cl, cl2 = S.cl2, lst = S.lst, s, a, u, fds[TSOR_MAX_FDS], nfds;

	(void)state;
	assert_int_equal(req(cl, TSOR_MSG_LISTEN, lst, NULL, 0, &r, NULL, NULL), 0);
	u = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_int_equal(req(cl, TSOR_MSG_LISTEN, u, NULL, 0, &r, NULL, NULL), -EINVAL);
	assert_int_equal(req(cl, TSOR_MSG_QUERY, u, &la, 0, &r, NULL, NULL), -EINVAL);
	assert_int_equal(req(cl, TSOR_MSG_INTENT, u, &la, 0, &r, fds, &nfds), -EINVAL);
	close(u);

	/* A UDP socket bound to the server's address and connected to the
	 * client's port, before the real accept: refused, and the intent
	 * still goes to the real accepted socket. */
	s = bound_socket();
	assert_int_equal(req(cl, TSOR_MSG_INTENT, s, &la, 0, &r, fds, &nfds), 0);
	close_all(fds, nfds);
	{
		struct sockaddr_in srv = sin_of("127.0.0.1", la.port), cli;
		int one = 1;

		u = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		assert_int_equal(setsockopt(u, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)), 0);
		assert_int_equal(bind(u, (struct sockaddr *)&srv, sizeof(srv)), 0);
		cli = sin_of("127.0.0.1", port_of(s));
		assert_int_equal(connect(u, (struct sockaddr *)&cli, sizeof(cli)), 0);
		assert_int_equal(req(cl2, TSOR_MSG_ASK, u, NULL, 0, &r, fds, &nfds), -EINVAL);
		assert_int_equal(nfds, 0);
		close(u);
		assert_int_equal(connect(s, (struct sockaddr *)&srv, sizeof(srv)), 0);
	}
	/* A listening socket is no accepted one either. */
	assert_int_equal(req(cl2, TSOR_MSG_ASK, lst, NULL, 0, &r, fds, &nfds), -EINVAL);
	a = accept4(lst, NULL, NULL, SOCK_CLOEXEC);
	assert_int_equal(req(cl2, TSOR_MSG_ASK, a, NULL, 0, &r, fds, &nfds), 0);
	assert_int_equal(nfds, TSOR_MAX_FDS);
	close_all(fds, nfds);
	close(a);
	close(s);

	/* The ASK's peer must be the connector's bound address: an intent
	 * bound to 127.0.0.2 does not match a connection from 127.0.0.1. */
	s = bound_reuse("127.0.0.2", 0);
	assert_int_equal(req(cl, TSOR_MSG_INTENT, s, &la, 0, &r, fds, &nfds), 0);
	close_all(fds, nfds);
	{
		uint16_t p = port_of(s);
		struct sockaddr_in srv = sin_of("127.0.0.1", la.port);
		int s1 = bound_reuse("127.0.0.1", p);

		assert_int_equal(connect(s1, (struct sockaddr *)&srv, sizeof(srv)), 0);
		a = accept4(lst, NULL, NULL, SOCK_CLOEXEC);
		assert_int_equal(req(cl2, TSOR_MSG_ASK, a, NULL, 0, &r, fds, &nfds), -ENOENT);
		close(a);
		close(s1);
	}
	close(s);
}

/* 2. Another client's intent is never replaced nor cancelled. */
static void test_sec_intent_owner(void **state)
{
	struct tsor_msg r;
	struct tsor_addr la = S.la;
	int cl = S.cl, cl2 = S.cl2, lst = S.lst, s, s2, a, fds[TSOR_MAX_FDS], nfds;
	uint64_t victim;

	(void)state;
	assert_int_equal(req(cl, TSOR_MSG_LISTEN, lst, NULL, 0, &r, NULL, NULL), 0);
	s = bound_reuse("127.0.0.1", 0);
	assert_int_equal(req(cl, TSOR_MSG_INTENT, s, &la, 0, &r, fds, &nfds), 0);
	close_all(fds, nfds);
	victim = r.id;
	{
		/* An IPv6-only socket on the client's port cannot claim an IPv4
		 * destination (the reproducer's "inject"). */
		struct sockaddr_in6 b6 = { .sin6_family = AF_INET6,
					   .sin6_port = htons(port_of(s)) };
		int one = 1, t6 = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);

		assert_int_equal(setsockopt(t6, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)), 0);
		if (bind(t6, (struct sockaddr *)&b6, sizeof(b6)) == 0)
			assert_int_equal(req(cl2, TSOR_MSG_INTENT, t6, &la, 0, &r, fds, &nfds),
					 -EINVAL);
		close(t6);
	}
	/* The exact same address (SO_REUSEADDR): -EADDRINUSE, not a replacement. */
	s2 = bound_reuse("127.0.0.1", port_of(s));
	assert_int_equal(req(cl2, TSOR_MSG_INTENT, s2, &la, 0, &r, fds, &nfds), -EADDRINUSE);
	assert_int_equal(nfds, 0);
	close(s2);
	/* CANCEL of another client's id, or of an unknown one: -ENOENT. */
	assert_int_equal(req(cl2, TSOR_MSG_CANCEL, -1, NULL, victim, &r, NULL, NULL), -ENOENT);
	assert_int_equal(req(cl, TSOR_MSG_CANCEL, -1, NULL, 999999, &r, NULL, NULL), -ENOENT);
	{
		struct sockaddr_in srv = sin_of("127.0.0.1", la.port);

		assert_int_equal(connect(s, (struct sockaddr *)&srv, sizeof(srv)), 0);
	}
	a = accept4(lst, NULL, NULL, SOCK_CLOEXEC);
	assert_int_equal(req(cl2, TSOR_MSG_ASK, a, NULL, 0, &r, fds, &nfds), 0);
	assert_int_equal(r.id, victim);
	close_all(fds, nfds);
	/* Matched: its owner hears -EALREADY. */
	assert_int_equal(req(cl, TSOR_MSG_CANCEL, -1, NULL, victim, &r, NULL, NULL), -EALREADY);
	close(a);
	close(s);
}

/* 5. Half a frame stalls nobody; nor does a client that reads no replies. */
static void test_sec_partial(void **state)
{
	struct tsor_msg r, m;
	struct timespec t0;
	int cl = S.cl, lst = S.lst, s, fds[TSOR_MAX_FDS], nfds;
	int h = tsor_unix_connect(S.path), z = tsor_unix_connect(S.path), before;

	(void)state;
	tsor_msg_init(&m, TSOR_MSG_LISTEN);
	raw_send(h, &m, 10, lst); /* the descriptor rides on the first part */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(req(cl, TSOR_MSG_PING, -1, NULL, 0, &r, NULL, NULL), 0);
	assert_true(ms_since(&t0) < 500);
	raw_send(h, (char *)&m + 10, sizeof(m) - 10, -1);
	assert_int_equal(tsor_msg_recv(h, &r, fds, &nfds), 0);
	assert_int_equal(r.status, 0);
	/* Half a frame with a descriptor, then gone: nothing leaks. */
	nanosleep(&(struct timespec){ .tv_nsec = 50000000 }, NULL);
	before = open_fds();
	s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	raw_send(h, &m, 20, s);
	close(s);
	close(h);
	nanosleep(&(struct timespec){ .tv_nsec = 100000000 }, NULL);
	assert_int_equal(open_fds(), before - 2); /* h, and tsord's end of it */
	/* z floods PINGs and reads nothing: dropped, nobody else waits. */
	tsor_msg_init(&m, TSOR_MSG_PING);
	assert_int_equal(fcntl(z, F_SETFL, O_NONBLOCK), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		struct pollfd pz = { .fd = z, .events = POLLOUT };
		ssize_t n = send(z, &m, sizeof(m), MSG_NOSIGNAL);

		if (n < 0 && errno != EAGAIN)
			break; /* EPIPE/ECONNRESET: tsord dropped us */
		assert_true(ms_since(&t0) < 10000);
		if (n < 0)
			(void)poll(&pz, 1, 10);
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < 20; i++)
		assert_int_equal(req(cl, TSOR_MSG_PING, -1, NULL, 0, &r, NULL, NULL), 0);
	assert_true(ms_since(&t0) < 1500);
	assert_int_equal(req(cl, TSOR_MSG_STATS, -1, NULL, 0, &r, NULL, NULL), 0);
	assert_int_equal(r.val[TSOR_STAT_CLIENTS], 2); /* z was dropped */
	close(z);
}

/* 8. A lingering socket whose last holder is tsord does not stall it. */
static void test_sec_linger(void **state)
{
	struct sockaddr_in srv = sin_of("127.0.0.1", S.la.port);
	struct linger lg = { 1, 3 };
	static char junk[65536];
	struct tsor_msg r, m;
	struct timespec t0;
	int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), a, fds[TSOR_MAX_FDS], nfds;

	(void)state;
	assert_int_equal(connect(c, (struct sockaddr *)&srv, sizeof(srv)), 0);
	a = accept4(S.lst, NULL, NULL, SOCK_CLOEXEC); /* never reads */
	assert_int_equal(fcntl(c, F_SETFL, O_NONBLOCK), 0);
	while (send(c, junk, sizeof(junk), MSG_NOSIGNAL) > 0)
		;
	assert_int_equal(setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
	tsor_msg_init(&m, TSOR_MSG_QUERY);
	m.addr = S.la;
	/* Part of the frame carries the socket; then it is tsord's alone. */
	raw_send(S.cl, &m, 10, c);
	nanosleep(&(struct timespec){ .tv_nsec = 20000000 }, NULL);
	close(c);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	raw_send(S.cl, (char *)&m + 10, sizeof(m) - 10, -1);
	assert_int_equal(tsor_msg_recv(S.cl, &r, fds, &nfds), 0);
	assert_int_equal(req(S.cl, TSOR_MSG_PING, -1, NULL, 0, &r, NULL, NULL), 0);
	assert_true(ms_since(&t0) < 1000);
	close(a);
}

/* 6. Squatted directories refused; a tsord of another uid not trusted. */
static void test_sec_dirs(void **state)
{
	char sub[160], fake[160];
	int s;

	(void)state;
	snprintf(sub, sizeof(sub), "%s/open", S.dir);
	assert_int_equal(mkdir(sub, 0777), 0);
	assert_int_equal(chmod(sub, 0777), 0);
	snprintf(sub, sizeof(sub), "%s/open/tsord.sock", S.dir);
	assert_int_equal(tsor_daemon_listen(sub, &s), -EACCES);
	snprintf(sub, sizeof(sub), "%s/link", S.dir);
	assert_int_equal(symlink(S.dir, sub), 0);
	snprintf(sub, sizeof(sub), "%s/link/tsord.sock", S.dir);
	assert_int_equal(tsor_daemon_listen(sub, &s), -ENOTDIR);
	assert_int_equal(tsor_dir_check("/tmp"), 0); /* root's and sticky */
	if (geteuid() != 0)
		skip();
	snprintf(sub, sizeof(sub), "%s/theirs", S.dir);
	assert_int_equal(mkdir(sub, 0755), 0);
	assert_int_equal(chown(sub, 65534, 65534), 0);
	snprintf(fake, sizeof(fake), "%s/theirs/tsord.sock", S.dir);
	assert_int_equal(tsor_daemon_listen(fake, &s), -EACCES);
	{
		/* uid 65534 runs a "tsord" there: we refuse to talk to it. */
		pid_t pid = fork();
		int st;

		if (pid == 0) {
			if (setresgid(65534, 65534, 65534) || setresuid(65534, 65534, 65534))
				_exit(90);
			_exit(nobody_fake_tsord(fake));
		}
		for (int i = 0; i < 200 && access(fake, F_OK); i++)
			nanosleep(&(struct timespec){ .tv_nsec = 10000000 }, NULL);
		assert_int_equal(tsor_unix_connect(fake), -EPERM);
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
	}
}

/* 7. A tsord without CAP_NET_ADMIN still serves its own namespace. */
static void test_sec_nonroot(void **state)
{
	struct tsor_msg r;
	int sv[2], st;
	pid_t pid;

	(void)state;
	if (geteuid() != 0)
		skip();
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	pid = fork();
	if (pid == 0) {
		close(sv[0]);
		if (setresgid(65534, 65534, 65534) || setresuid(65534, 65534, 65534))
			_exit(90);
		_exit(nobody_daemon(&sv[1]));
	}
	close(sv[1]);
	assert_int_equal(req(sv[0], TSOR_MSG_LISTEN, S.lst, NULL, 0, &r, NULL, NULL), 0);
	close(sv[0]);
	assert_int_equal(waitpid(pid, &st, 0), pid);
}

/* 4. Only root and tsord's own user may STOP it. */
static void test_sec_stop(void **state)
{
	(void)state;
	if (geteuid() != 0)
		skip();
	assert_int_equal(as_nobody(nobody_stop, S.path), 0);
}

/* Per-client caps: one client cannot make tsord hold unbounded fds. */
/*
 * The caps are read from the environment when a daemon starts: set them
 * before any daemon thread of this test exists and clear them after all
 * are joined, since getenv() and setenv() are not thread-safe (TSan).
 */
static int caps_setup(void **state)
{
	setenv("TSORD_MAX_CLIENT_INTENTS", "3", 1);
	setenv("TSORD_MAX_CLIENT_LISTENERS", "1", 1);
	return sec_setup(state);
}

static int caps_teardown(void **state)
{
	int ret = sec_teardown(state);

	unsetenv("TSORD_MAX_CLIENT_INTENTS");
	unsetenv("TSORD_MAX_CLIENT_LISTENERS");
	return ret;
}

static void test_sec_caps(void **state)
{
	char cpath[160];
	struct tsor_msg r;
	pthread_t t;
	void *rv;
	int lsock, cl, cl2, s[4], fds[TSOR_MAX_FDS], nfds;

	(void)state;
	snprintf(cpath, sizeof(cpath), "%s/caps/tsord.sock", S.dir);
	assert_int_equal(tsor_daemon_listen(cpath, &lsock), 0);
	assert_int_equal(pthread_create(&t, NULL, serve, &lsock), 0);
	cl = tsor_unix_connect(cpath);
	cl2 = tsor_unix_connect(cpath);
	assert_true(cl >= 0 && cl2 >= 0);
	/* Answered: the daemon has started, and read the knobs. */
	assert_int_equal(req(cl, TSOR_MSG_PING, -1, NULL, 0, &r, NULL, NULL), 0);
	assert_int_equal(req(cl, TSOR_MSG_LISTEN, S.lst, NULL, 0, &r, NULL, NULL), 0);
	{
		struct tsor_addr a2;
		int l2 = tcp_listener("127.0.0.1", &a2);

		assert_int_equal(req(cl, TSOR_MSG_LISTEN, l2, NULL, 0, &r, NULL, NULL), -EMFILE);
		close(l2);
	}
	for (int i = 0; i < 4; i++) {
		s[i] = bound_socket();
		assert_int_equal(req(cl, TSOR_MSG_INTENT, s[i], &S.la, 0, &r, fds, &nfds),
				 i < 3 ? 0 : -EMFILE);
		close_all(fds, nfds);
	}
	/* Another client is not affected. */
	assert_int_equal(req(cl2, TSOR_MSG_INTENT, s[3], &S.la, 0, &r, fds, &nfds), 0);
	close_all(fds, nfds);
	for (int i = 0; i < 4; i++)
		close(s[i]);
	assert_int_equal(req(cl, TSOR_MSG_STOP, -1, NULL, 0, &r, NULL, NULL), 0);
	pthread_join(t, &rv);
	close(cl);
	close(cl2);
	close(lsock);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_broker),
		cmocka_unit_test_setup_teardown(test_sec_ask_udp, sec_setup, sec_teardown),
		cmocka_unit_test_setup_teardown(test_sec_intent_owner, sec_setup, sec_teardown),
		cmocka_unit_test_setup_teardown(test_sec_partial, sec_setup, sec_teardown),
		cmocka_unit_test_setup_teardown(test_sec_linger, sec_setup, sec_teardown),
		cmocka_unit_test_setup_teardown(test_sec_dirs, sec_setup, sec_teardown),
		cmocka_unit_test_setup_teardown(test_sec_nonroot, sec_setup, sec_teardown),
		cmocka_unit_test_setup_teardown(test_sec_stop, sec_setup, sec_teardown),
		cmocka_unit_test_setup_teardown(test_sec_caps, caps_setup, caps_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
