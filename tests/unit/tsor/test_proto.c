// SPDX-License-Identifier: MIT
/*
 * Description: the tsord frame codec and helpers: validation of every
 * header field a hostile client controls, whole frames with 0-3
 * descriptors over a Unix socket pair (short writes and EOF mid-frame),
 * too many descriptors refused and closed, address folding (IPv4-mapped
 * IPv6 meets IPv4), ring size clamping, the socket path rules and the
 * adaptive spin budget.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tsor-int.h"

static void test_check(void **state)
{
	struct tsor_msg m;

	(void)state;
	tsor_msg_init(&m, TSOR_MSG_STATS);
	assert_int_equal(tsor_msg_check(&m), 0);
	m.magic ^= 1;
	assert_int_equal(tsor_msg_check(&m), -EPROTO);
	tsor_msg_init(&m, TSOR_MSG_STATS);
	m.version = TSOR_VERSION - 1; /* an older tsord or lib */
	assert_int_equal(tsor_msg_check(&m), -EPROTO);
	tsor_msg_init(&m, TSOR_MSG_TYPE_COUNT);
	assert_int_equal(tsor_msg_check(&m), -EPROTO);
	tsor_msg_init(&m, TSOR_MSG_ASK);
	m.status = 1;
	assert_int_equal(tsor_msg_check(&m), -EPROTO);
	m.status = -4096;
	assert_int_equal(tsor_msg_check(&m), -EPROTO);
	m.status = -ENOENT;
	assert_int_equal(tsor_msg_check(&m), 0);
	m.ring_size = 4095;
	assert_int_equal(tsor_msg_check(&m), -EPROTO);
	m.ring_size = TSOR_RING_MAX * 2u;
	assert_int_equal(tsor_msg_check(&m), -EPROTO);
	m.ring_size = 65536;
	assert_int_equal(tsor_msg_check(&m), 0);
	m.addr.family = AF_UNIX;
	assert_int_equal(tsor_msg_check(&m), -EPROTO);
	m.addr.family = AF_INET6;
	m.pad = 1;
	assert_int_equal(tsor_msg_check(&m), -EPROTO);
}

static bool same_file(int a, int b)
{
	struct stat x, y;

	return fstat(a, &x) == 0 && fstat(b, &y) == 0 && x.st_ino == y.st_ino &&
	       x.st_dev == y.st_dev;
}

static void test_send_recv(void **state)
{
	struct tsor_msg m, r;
	int sv[2], fds[TSOR_MAX_FDS + 1], got[TSOR_MAX_FDS], n;

	(void)state;
	tsor_libc_direct();
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	for (int k = 0; k <= TSOR_MAX_FDS; k++) {
		for (int i = 0; i < k; i++)
			fds[i] = open("/dev/null", O_RDONLY | O_CLOEXEC);
		tsor_msg_init(&m, TSOR_MSG_INTENT);
		m.id = 0x1122334455667788ull + (uint64_t)k;
		m.val[5] = 42;
		assert_int_equal(tsor_msg_send(sv[0], &m, fds, k), 0);
		assert_int_equal(tsor_msg_recv(sv[1], &r, got, &n), 0);
		assert_int_equal(n, k);
		assert_memory_equal(&m, &r, sizeof(m));
		for (int i = 0; i < k; i++) {
			assert_true(same_file(fds[i], got[i]));
			assert_true(fcntl(got[i], F_GETFD) & FD_CLOEXEC);
			close(fds[i]);
			close(got[i]);
		}
	}
	assert_int_equal(tsor_msg_send(sv[0], &m, fds, TSOR_MAX_FDS + 1), -EINVAL);

	/* Half a frame, then EOF. */
	assert_int_equal(write(sv[0], &m, 50), 50);
	close(sv[0]);
	assert_int_equal(tsor_msg_recv(sv[1], &r, got, &n), -ECONNRESET);
	assert_int_equal(n, 0);
	close(sv[1]);
}

#define TOO_MANY (TSOR_MAX_FDS + 2)

static void test_too_many_fds(void **state)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * TOO_MANY)];
		struct cmsghdr align;
	} u;
	struct tsor_msg m, r;
	struct iovec iov = { &m, sizeof(m) };
	struct msghdr mh = { .msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = u.buf,
			     .msg_controllen = CMSG_SPACE(sizeof(int) * TOO_MANY) };
	struct cmsghdr *c;
	int sv[2], fds[TOO_MANY], got[TSOR_MAX_FDS], n, probe;

	(void)state;
	tsor_libc_direct();
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	tsor_msg_init(&m, TSOR_MSG_ASK);
	memset(&u, 0, sizeof(u));
	c = CMSG_FIRSTHDR(&mh);
	if (!c) {
		fail_msg("no room for a control message");
		return;
	}
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int) * TOO_MANY);
	for (int i = 0; i < TOO_MANY; i++)
		fds[i] = open("/dev/null", O_RDONLY | O_CLOEXEC);
	memcpy(CMSG_DATA(c), fds, sizeof(fds));
	assert_int_equal(sendmsg(sv[0], &mh, 0), (ssize_t)sizeof(m));
	for (int i = 0; i < TOO_MANY; i++)
		close(fds[i]);
	probe = open("/dev/null", O_RDONLY); /* lowest free fd before */
	close(probe);
	assert_int_equal(tsor_msg_recv(sv[1], &r, got, &n), -EPROTO);
	assert_int_equal(n, 0);
	/* Every received descriptor was closed again: no leak. */
	assert_int_equal(open("/dev/null", O_RDONLY), probe);
	close(probe);

	/* A frame with a bad magic closes what came with it too. */
	m.magic = 0;
	fds[0] = open("/dev/null", O_RDONLY | O_CLOEXEC);
	assert_int_equal(tsor_msg_send(sv[0], &m, fds, 1), 0);
	close(fds[0]);
	assert_int_equal(tsor_msg_recv(sv[1], &r, got, &n), -EPROTO);
	assert_int_equal(open("/dev/null", O_RDONLY), probe);
	close(probe);
	close(sv[0]);
	close(sv[1]);
}

static void test_addr(void **state)
{
	struct sockaddr_in in = { .sin_family = AF_INET, .sin_port = htons(6379) };
	struct sockaddr_in6 in6 = { .sin6_family = AF_INET6, .sin6_port = htons(6379) };
	struct tsor_addr a, b;
	char s[64];

	(void)state;
	inet_pton(AF_INET, "127.0.0.1", &in.sin_addr);
	inet_pton(AF_INET6, "::ffff:127.0.0.1", &in6.sin6_addr);
	assert_int_equal(tsor_addr_from(&a, (struct sockaddr *)&in, sizeof(in)), 0);
	assert_int_equal(tsor_addr_from(&b, (struct sockaddr *)&in6, sizeof(in6)), 0);
	assert_int_equal(b.family, AF_INET);
	assert_true(tsor_addr_eq(&a, &b));
	assert_false(tsor_addr_is_any(&a));
	tsor_addr_format(&a, s, sizeof(s));
	assert_string_equal(s, "127.0.0.1:6379");
	b.port = 1;
	assert_false(tsor_addr_eq(&a, &b));

	inet_pton(AF_INET6, "::1", &in6.sin6_addr);
	assert_int_equal(tsor_addr_from(&b, (struct sockaddr *)&in6, sizeof(in6)), 0);
	assert_int_equal(b.family, AF_INET6);
	assert_false(tsor_addr_eq(&a, &b));
	tsor_addr_format(&b, s, sizeof(s));
	assert_string_equal(s, "[::1]:6379");
	memset(&in6.sin6_addr, 0, 16);
	assert_int_equal(tsor_addr_from(&b, (struct sockaddr *)&in6, sizeof(in6)), 0);
	assert_true(tsor_addr_is_any(&b));

	assert_int_equal(tsor_addr_from(&a, (struct sockaddr *)&in, sizeof(in) - 1), -EINVAL);
	in.sin_family = AF_UNIX;
	assert_int_equal(tsor_addr_from(&a, (struct sockaddr *)&in, sizeof(in)), -EAFNOSUPPORT);
}

static void test_knobs(void **state)
{
	char p[108];

	(void)state;
	assert_int_equal(tsor_ring_size_clamp(0), TSOR_RING_MIN);
	assert_int_equal(tsor_ring_size_clamp(4097), 8192);
	assert_int_equal(tsor_ring_size_clamp(262144), 262144);
	assert_int_equal(tsor_ring_size_clamp(1ull << 40), TSOR_RING_MAX);
	setenv("TSOR_TEST_KNOB", "12", 1);
	assert_int_equal(tsor_env_long("TSOR_TEST_KNOB", 5, 0, 100), 12);
	setenv("TSOR_TEST_KNOB", "12x", 1);
	assert_int_equal(tsor_env_long("TSOR_TEST_KNOB", 5, 0, 100), 5);
	setenv("TSOR_TEST_KNOB", "1000", 1);
	assert_int_equal(tsor_env_long("TSOR_TEST_KNOB", 5, 0, 100), 5);
	setenv("TSOR_SOCK", "/x/y.sock", 1);
	assert_int_equal(tsor_sock_path(p, sizeof(p)), 0);
	assert_string_equal(p, "/x/y.sock");
	{
		char longp[120];

		/* sun_path holds 107 characters and the NUL. */
		memset(longp, 'a', 108);
		longp[108] = '\0';
		setenv("TSOR_SOCK", longp, 1);
		assert_int_equal(tsor_sock_path(p, sizeof(p)), -ENAMETOOLONG);
		longp[107] = '\0';
		setenv("TSOR_SOCK", longp, 1);
		assert_int_equal(tsor_sock_path(p, sizeof(p)), 0);
	}
	unsetenv("TSOR_SOCK");
	assert_int_equal(tsor_sock_path(p, sizeof(p)), 0);
	if (geteuid() == 0)
		assert_string_equal(p, "/run/tsor/tsord.sock");
}

static void test_adaptive_spin(void **state)
{
	const uint64_t max = 50000;
	int full = 0;

	(void)state;
	/* Starts at the full budget. */
	assert_int_equal(tsor_spin_budget(max), max);
	/* Misses halve it down to nothing... */
	for (int i = 0; i < 30; i++)
		tsor_spin_result(max, false);
	/* ...but one wait in 16 still probes with the full budget. */
	for (int i = 0; i < 32; i++) {
		uint64_t b = tsor_spin_budget(max);

		assert_true(b == 0 || b == max);
		full += b == max;
	}
	assert_int_equal(full, 2);
	/* A hit brings it all back at once. */
	tsor_spin_result(max, true);
	for (int i = 0; i < 15; i++)
		assert_int_equal(tsor_spin_budget(max), max);
	/* A spin that lost its CPU (a gap between two rounds) stops at once,
	 * and even a hit then leaves no budget: spinning stole from the peer. */
	{
		uint64_t last = tsor_now_ns(), end = last + 1000000000u;

		assert_true(tsor_spin_step(&last, end));
		last -= 2 * TSOR_PREEMPT_NS;
		assert_false(tsor_spin_step(&last, end));
		tsor_spin_result(max, true);
		assert_int_equal(tsor_spin_budget(max), 0);
		tsor_spin_result(max, true); /* an undisturbed hit restores it */
		assert_int_equal(tsor_spin_budget(max), max);
		last = tsor_now_ns();
		assert_false(tsor_spin_step(&last, last)); /* the deadline */
		tsor_spin_result(max, false);
	}
	/* A smaller max (TSOR_SPIN_US changed) caps it. */
	assert_int_equal(tsor_spin_budget(1000), 1000);
	tsor_spin_result(1000, false);
	assert_int_equal(tsor_spin_budget(1000) <= 1000, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_check),	     cmocka_unit_test(test_send_recv),
		cmocka_unit_test(test_too_many_fds), cmocka_unit_test(test_addr),
		cmocka_unit_test(test_knobs),	     cmocka_unit_test(test_adaptive_spin),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
