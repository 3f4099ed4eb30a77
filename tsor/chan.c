/* SPDX-License-Identifier: MIT */
/*
 * Channels: the sealed memfd holding one connection's header and two rings
 * (layout in abi.h). tsord creates and formats them; the endpoints map them
 * after checking everything they can check without trusting the peer: the
 * seals (so the size cannot change under us: a peer that could shrink the
 * file would make our next copy fault with SIGBUS), the size from fstat,
 * and that the header agrees with that size. The rings then validate every
 * index they read (lib/ring.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tsor-int.h"

#define CHAN_SEALS (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)

int tsor_chan_create(uint32_t ring_size, uint64_t id, int *memfd)
{
	size_t rlen = RING_REGION_SIZE(ring_size);
	size_t len = TSOR_CHAN_SIZE(ring_size);
	struct tsor_chan *h;
	struct ring r;
	void *base;
	int fd, ret;

	if (ring_size != tsor_ring_size_clamp(ring_size))
		return -EINVAL;
	fd = memfd_create("tsor-chan", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)len) < 0) {
		ret = -errno;
		goto err_close;
	}
	base = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (base == MAP_FAILED) {
		ret = -errno;
		goto err_close;
	}
	h = base;
	h->magic = TSOR_CHAN_MAGIC;
	h->version = TSOR_VERSION;
	h->ring_size = ring_size;
	h->id = id;
	/* Both rings formatted here, so neither endpoint formats a ring the
	 * other may already use; roles of these handles do not matter. */
	ret = ring_init(&r, (char *)base + TSOR_CHAN_HDR, rlen, RING_PRODUCER);
	if (!ret)
		ret = ring_init(&r, (char *)base + TSOR_CHAN_HDR + rlen, rlen, RING_PRODUCER);
	munmap(base, len);
	if (ret)
		goto err_close;
	if (fcntl(fd, F_ADD_SEALS, CHAN_SEALS) < 0) {
		ret = -errno;
		goto err_close;
	}
	*memfd = fd;
	return 0;

err_close:
	close(fd);
	return ret;
}

int tsor_chan_map(int memfd, struct tsor_map *m)
{
	const struct tsor_chan *h;
	struct stat st;
	uint32_t rs;
	void *base;
	int seals;

	memset(m, 0, sizeof(*m));
	seals = tsor__libc.fcntl(memfd, F_GET_SEALS);
	if (seals < 0)
		return -errno == -EINVAL ? -EPROTO : -errno;
	if ((seals & CHAN_SEALS) != CHAN_SEALS)
		return -EPROTO;
	if (fstat(memfd, &st) < 0)
		return -errno;
	if (st.st_size < (off_t)TSOR_CHAN_SIZE(TSOR_RING_MIN) ||
	    st.st_size > (off_t)TSOR_CHAN_SIZE(TSOR_RING_MAX))
		return -EPROTO;
	base = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	if (base == MAP_FAILED)
		return -errno;
	h = base;
	/* Read once: the peer can rewrite the header while we look. */
	rs = __atomic_load_n(&h->ring_size, __ATOMIC_RELAXED);
	if (__atomic_load_n(&h->magic, __ATOMIC_RELAXED) != TSOR_CHAN_MAGIC ||
	    __atomic_load_n(&h->version, __ATOMIC_RELAXED) != TSOR_VERSION ||
	    rs != tsor_ring_size_clamp(rs) || TSOR_CHAN_SIZE(rs) != (size_t)st.st_size) {
		munmap(base, (size_t)st.st_size);
		return -EPROTO;
	}
	m->base = base;
	m->len = (size_t)st.st_size;
	m->hdr = base;
	m->ring_size = rs;
	return 0;
}

void tsor_chan_unmap(struct tsor_map *m)
{
	if (m->base)
		munmap(m->base, m->len);
	memset(m, 0, sizeof(*m));
}

int tsor_chan_new(uint32_t ring_size, uint64_t id, int fds[TSOR_MAX_FDS])
{
	int ret;

	for (int k = 0; k < TSOR_MAX_FDS; k++)
		fds[k] = -1;
	ret = tsor_chan_create(ring_size, id, &fds[0]);
	if (ret)
		return ret;
	/* Bells are pipes, and both endpoints get the read end of all four
	 * (abi.h): each re-opens them into private descriptions, so no one
	 * can make another's wake-up block (an eventfd's shared O_NONBLOCK
	 * could). The write end goes at once; mode 0666 because a re-open
	 * checks the pipe's inode permissions, owned by us, not by the
	 * clients (only holders of the fd can reach it anyway). */
	for (int k = 1; k <= TSOR_BELLS; k++) {
		int pp[2];

		if (pipe2(pp, O_NONBLOCK | O_CLOEXEC) < 0) {
			ret = -errno;
			goto err_close;
		}
		close(pp[1]);
		fds[k] = pp[0];
		/* One page: a bell holds wake-ups, not data. */
		(void)fcntl(pp[0], F_SETPIPE_SZ, 4096);
		if (fchmod(pp[0], 0666) < 0) {
			ret = -errno;
			goto err_close;
		}
	}
	return 0;

err_close:
	for (int k = 0; k < TSOR_MAX_FDS; k++) {
		if (fds[k] >= 0)
			close(fds[k]);
		fds[k] = -1;
	}
	return ret;
}
