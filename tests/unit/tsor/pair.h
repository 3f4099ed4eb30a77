/* SPDX-License-Identifier: MIT */
/*
 * Test helper: both endpoints of one channel in this process, each with a
 * "kernel socket" (one end of an AF_UNIX socket pair), so that closing one
 * end shows the other a FIN exactly as a TCP peer's close would.
 */
#ifndef TESTS_UNIT_TSOR_PAIR_H
#define TESTS_UNIT_TSOR_PAIR_H

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tsor-int.h"

struct pair {
	struct tsor_conn c; /* connector, side 0 */
	struct tsor_conn a; /* acceptor, side 1 */
	int cfd, afd;	    /* their kernel sockets */
};

static inline int pair_open(struct pair *p, uint32_t ring_size)
{
	int memfd, sv[2], b[TSOR_BELLS], bd[TSOR_BELLS], ret;

	tsor_libc_direct();
	ret = tsor_chan_create(ring_size, 77, &memfd);
	if (ret)
		return ret;
	/* As tsord hands them out: the read ends of four pipes, to both. */
	for (int i = 0; i < TSOR_BELLS; i++) {
		int pp[2];

		if (pipe2(pp, O_NONBLOCK | O_CLOEXEC) < 0)
			return -1;
		close(pp[1]);
		b[i] = pp[0];
		bd[i] = dup(b[i]);
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	ret = tsor_conn_open(&p->c, dup(memfd), bd, TSOR_SIDE_CONNECTOR, 77);
	if (!ret)
		ret = tsor_conn_open(&p->a, memfd, b, TSOR_SIDE_ACCEPTOR, 77);
	p->cfd = sv[0];
	p->afd = sv[1];
	p->c.spin_ns = p->a.spin_ns = 0; /* sleep at once: the bell path is what is tested */
	return ret;
}

/* What tsord does when it matches the acceptor's ASK. */
static inline void pair_accept(struct pair *p)
{
	atomic_store_explicit(&p->c.map.hdr->accepted, 1, memory_order_release);
}

static inline void pair_close(struct pair *p)
{
	tsor_conn_close(&p->c);
	tsor_conn_close(&p->a);
	if (p->cfd >= 0)
		close(p->cfd);
	if (p->afd >= 0)
		close(p->afd);
}

#endif /* TESTS_UNIT_TSOR_PAIR_H */
