// SPDX-License-Identifier: MIT
/*
 * Description: tsord's broker over its real Unix socket, with real TCP
 * sockets: listener registration (only listening sockets), QUERY for exact
 * and wildcard listeners (a non-local destination never matches), INTENT
 * only for a bound socket, the ASK of the accepted socket matching the
 * intent (same channel, accepted flag set, data flows), a plain client's
 * ASK answered -ENOENT, CANCEL before and after the match, owner-only
 * UNLISTEN, a client's listeners dropped with its connection, and STATS.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

	/* Cancelled before the accept: the acceptor is told "plain". */
	s = bound_socket();
	assert_int_equal(req(cl, TSOR_MSG_INTENT, s, &la, 0, &r, fds, &nfds), 0);
	for (int i = 0; i < 3; i++)
		close(fds[i]);
	assert_int_equal(req(cl, TSOR_MSG_CANCEL, -1, NULL, r.id, &r, NULL, NULL), 0);
	{
		struct sockaddr_in in = sin_of("127.0.0.1", la.port);

		assert_int_equal(connect(s, (struct sockaddr *)&in, sizeof(in)), 0);
	}
	a = accept4(lst, NULL, NULL, SOCK_CLOEXEC);
	assert_int_equal(req(cl, TSOR_MSG_ASK, a, NULL, 0, &r, fds, &nfds), -ENOENT);
	close(a);
	close(s);

	/* CLOSED reports count bytes; STATS shows it all. */
	{
		struct tsor_msg m;

		tsor_msg_init(&m, TSOR_MSG_CLOSED);
		m.val[0] = 1234;
		assert_int_equal(tsor_call(cl, &m, -1, &r, NULL, NULL), 0);
	}
	assert_int_equal(req(cl, TSOR_MSG_STATS, -1, NULL, 0, &r, NULL, NULL), 0);
	assert_int_equal(r.val[TSOR_STAT_ACCEL], 1);
	assert_int_equal(r.val[TSOR_STAT_FALLBACK], 3); /* 2 unmatched ASKs + 1 cancel */
	assert_int_equal(r.val[TSOR_STAT_BYTES], 1234);
	assert_int_equal(r.val[TSOR_STAT_LISTENERS], 2);
	assert_int_equal(r.val[TSOR_STAT_INTENTS], 0);

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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_broker),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
