/* SPDX-License-Identifier: MIT */
/*
 * The tsord message codec (frame layout in abi.h) and small helpers every
 * TSoR program shares: addresses, the socket path, environment knobs.
 * Frames come from another process, so tsor_msg_recv() validates each one
 * (tsor_msg_check()) and accepts descriptors only as SCM_RIGHTS, at most
 * TSOR_MAX_FDS, closing anything else it was handed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tsor-int.h"
#include "units.h"

struct tsor_libc tsor__libc;

uint64_t tsor_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Per-thread adaptive spin state; see tsor-int.h. */
static __thread uint64_t spin_cur = UINT64_MAX; /* current budget, UINT64_MAX = not set */
static __thread uint32_t spin_waits;		/* paces the full-budget probes */
static __thread bool spin_preempted;		/* the last spin lost its CPU */

bool tsor_spin_step(uint64_t *last, uint64_t end)
{
	uint64_t now = tsor_now_ns();

	if (now - *last > TSOR_PREEMPT_NS) {
		spin_preempted = true;
		return false;
	}
	*last = now;
	return now < end;
}

uint64_t tsor_spin_budget(uint64_t max)
{
	if (spin_cur > max)
		spin_cur = max;
	if ((++spin_waits & 15) == 0)
		return max; /* probe: would spinning pay again? */
	return spin_cur;
}

void tsor_spin_result(uint64_t max, bool hit)
{
	if (spin_preempted) {
		spin_preempted = false;
		spin_cur = 0;
	} else if (hit)
		spin_cur = max;
	else
		spin_cur = spin_cur >= 2000 ? spin_cur / 2 : 0; /* below 2 us: not worth it */
}

void tsor_msg_init(struct tsor_msg *m, enum tsor_msg_type type)
{
	memset(m, 0, sizeof(*m));
	m->magic = TSOR_MAGIC;
	m->version = TSOR_VERSION;
	m->type = (uint16_t)type;
}

int tsor_msg_check(const struct tsor_msg *m)
{
	uint32_t rs = m->ring_size;

	if (m->magic != TSOR_MAGIC || m->version != TSOR_VERSION ||
	    m->type >= TSOR_MSG_TYPE_COUNT || m->status > 0 || m->status < -4095 || m->pad)
		return -EPROTO;
	if (rs && (rs < TSOR_RING_MIN || rs > TSOR_RING_MAX || (rs & (rs - 1))))
		return -EPROTO;
	if (m->addr.family != 0 && m->addr.family != AF_INET && m->addr.family != AF_INET6)
		return -EPROTO;
	return 0;
}

int tsor_msg_send(int sock, const struct tsor_msg *m, const int *fds, int nfds)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * TSOR_MAX_FDS)];
		struct cmsghdr align;
	} u;
	struct tsor_msg copy = *m; /* a writable base for the iovec */
	size_t left = sizeof(copy);

	if (nfds < 0 || nfds > TSOR_MAX_FDS)
		return -EINVAL;
	while (left) {
		struct iovec iov = { .iov_base = (char *)&copy + (sizeof(copy) - left),
				     .iov_len = left };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
		ssize_t n;

		if (nfds) {
			struct cmsghdr *c;

			memset(&u, 0, sizeof(u));
			mh.msg_control = u.buf;
			mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
			c = CMSG_FIRSTHDR(&mh);
			c->cmsg_level = SOL_SOCKET;
			c->cmsg_type = SCM_RIGHTS;
			c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
			memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)nfds);
		}
		n = tsor__libc.sendmsg(sock, &mh, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		nfds = 0; /* the descriptors went with the first byte */
		left -= (size_t)n;
	}
	return 0;
}

/* Collects SCM_RIGHTS fds from one recvmsg; anything unexpected is closed. */
static int take_fds(struct msghdr *mh, int *fds, int *nfds)
{
	int ret = 0;

	if (mh->msg_flags & MSG_CTRUNC)
		ret = -EPROTO;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
		size_t k;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) {
			ret = -EPROTO;
			continue;
		}
		k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < k; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (*nfds < TSOR_MAX_FDS && !ret)
				fds[(*nfds)++] = fd;
			else {
				tsor__libc.close(fd);
				ret = -EPROTO;
			}
		}
	}
	return ret;
}

int tsor_msg_recv(int sock, struct tsor_msg *m, int *fds, int *nfds)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * (TSOR_MAX_FDS + 1))];
		struct cmsghdr align;
	} u;
	char *p = (char *)m;
	size_t left = sizeof(*m);
	int ret = 0;

	*nfds = 0;
	while (left) {
		struct iovec iov = { .iov_base = p, .iov_len = left };
		struct msghdr mh = { .msg_iov = &iov,
				     .msg_iovlen = 1,
				     .msg_control = u.buf,
				     .msg_controllen = sizeof(u.buf) };
		ssize_t n = tsor__libc.recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			ret = -errno;
			goto err_close;
		}
		if (n == 0) {
			ret = -ECONNRESET;
			goto err_close;
		}
		ret = take_fds(&mh, fds, nfds);
		if (ret)
			goto err_close;
		p += n;
		left -= (size_t)n;
	}
	ret = tsor_msg_check(m);
	if (ret)
		goto err_close;
	return 0;

err_close:
	for (int i = 0; i < *nfds; i++)
		tsor__libc.close(fds[i]);
	*nfds = 0;
	return ret;
}

int tsor_addr_from(struct tsor_addr *a, const struct sockaddr *sa, socklen_t len)
{
	static const uint8_t v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	memset(a, 0, sizeof(*a));
	if (!sa || len < (socklen_t)sizeof(sa_family_t))
		return -EINVAL;
	if (sa->sa_family == AF_INET) {
		struct sockaddr_in in;

		if (len < (socklen_t)sizeof(in))
			return -EINVAL;
		memcpy(&in, sa, sizeof(in));
		a->family = AF_INET;
		a->port = ntohs(in.sin_port);
		memcpy(a->addr, &in.sin_addr, 4);
		return 0;
	}
	if (sa->sa_family == AF_INET6) {
		struct sockaddr_in6 in6;

		if (len < (socklen_t)sizeof(in6))
			return -EINVAL;
		memcpy(&in6, sa, sizeof(in6));
		a->port = ntohs(in6.sin6_port);
		if (!memcmp(in6.sin6_addr.s6_addr, v4mapped, 12)) {
			a->family = AF_INET;
			memcpy(a->addr, in6.sin6_addr.s6_addr + 12, 4);
		} else {
			a->family = AF_INET6;
			memcpy(a->addr, in6.sin6_addr.s6_addr, 16);
		}
		return 0;
	}
	return -EAFNOSUPPORT;
}

bool tsor_addr_eq(const struct tsor_addr *a, const struct tsor_addr *b)
{
	return a->family == b->family && a->port == b->port &&
	       !memcmp(a->addr, b->addr, a->family == AF_INET ? 4 : 16);
}

bool tsor_addr_is_any(const struct tsor_addr *a)
{
	static const uint8_t zero[16];

	return !memcmp(a->addr, zero, a->family == AF_INET ? 4 : 16);
}

void tsor_addr_format(const struct tsor_addr *a, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN] = "?";

	if (a->family == AF_INET || a->family == AF_INET6)
		inet_ntop(a->family, a->addr, ip, sizeof(ip));
	snprintf(buf, len, a->family == AF_INET6 ? "[%s]:%u" : "%s:%u", ip, (unsigned)a->port);
}

/*
 * getenv() is safe here: nothing in TSoR calls setenv() in a process that
 * has threads (the CLI sets LD_PRELOAD and friends right before exec).
 */
int tsor_sock_path(char *buf, size_t len)
{
	const char *env = getenv("TSOR_SOCK");	     /* NOLINT(concurrency-mt-unsafe) */
	const char *xdg = getenv("XDG_RUNTIME_DIR"); /* NOLINT(concurrency-mt-unsafe) */
	int n;

	if (env && *env)
		n = snprintf(buf, len, "%s", env);
	else if (geteuid() == 0)
		n = snprintf(buf, len, "/run/tsor/tsord.sock");
	else if (xdg && *xdg)
		n = snprintf(buf, len, "%s/tsor/tsord.sock", xdg);
	else
		n = snprintf(buf, len, "/tmp/tsor-%u/tsord.sock", (unsigned)geteuid());
	if (n < 0 || (size_t)n >= len || (size_t)n >= 108 /* sun_path */)
		return -ENAMETOOLONG;
	return 0;
}

long tsor_env_long(const char *name, long def, long lo, long hi)
{
	const char *s = getenv(name); /* NOLINT(concurrency-mt-unsafe): see tsor_sock_path */
	char *end;
	long v;

	if (!s || !*s)
		return def;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v < lo || v > hi)
		return def;
	return v;
}

uint64_t tsor_env_size(const char *name, uint64_t def, uint64_t lo, uint64_t hi)
{
	const char *s = getenv(name); /* NOLINT(concurrency-mt-unsafe): see tsor_sock_path */
	uint64_t v;

	if (!s || !*s || units_parse_size(s, &v) || v < lo || v > hi)
		return def;
	return v;
}

uint32_t tsor_ring_size_clamp(uint64_t want)
{
	uint32_t s = TSOR_RING_MIN;

	while (s < want && s < TSOR_RING_MAX)
		s <<= 1;
	return s;
}
