// SPDX-License-Identifier: MIT
/*
 * Description: the channel a hostile tsord (or a peer that scribbles on
 * the memfd it shares) hands to libtsor.so. The input builds a memfd of
 * any size, optionally formatted as tsord formats one (tsor_chan_create()'s
 * layout at the size's ring size), patched with arbitrary u32s anywhere
 * (channel header, either ring header, data), sealed with any subset of
 * the seals; then the lib's own path maps it (tsor_conn_open(): the seal,
 * size and header checks of tsor_chan_map(), then ring_attach() of both
 * rings). It must reject cleanly, or attach rings that lie entirely
 * inside the mapping; the rest of the input then drives the connection
 * (non-blocking recv/send/peek, readiness, FIONREAD, shutdown) while the
 * peer keeps scribbling. PROT_NONE pages are put right before and after
 * the mapping when the address space there is free, so an access outside
 * it faults even though ASan does not watch mmap'd memory.
 *
 * Input: [cfg][ring size][opt][size: 2 bytes][patches][ops...]
 *   cfg bit 0: side (connector/acceptor); bits 1-4: seals SHRINK, GROW,
 *   SEAL, WRITE; bit 5: formatted; bits 6-7: size mode (exact, exact +-
 *   delta, raw, exact and one more page). opt bit 0: the kernel socket has
 *   data (a connector's confirm wait ends at once); bit 1: CANCEL answers
 *   -EALREADY (the intent was matched after all); bit 2: one bell is an
 *   eventfd (tsord hands out pipe read ends only; the lib must refuse it).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fuzz_check.h"
#include "tsor-int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define PAGE	  4096u
#define MAX_IO	  (3 * PAGE) /* more than the smallest ring holds */
#define MAX_STEPS 256

struct input {
	const uint8_t *p;
	size_t n;
};

static unsigned take(struct input *in)
{
	if (!in->n)
		return 0;
	in->n--;
	return *in->p++;
}

static uint32_t take32(struct input *in)
{
	uint32_t v = take(in);

	v |= (uint32_t)take(in) << 8;
	v |= (uint32_t)take(in) << 16;
	return v | (uint32_t)take(in) << 24;
}

static int cancel_answer;
static bool verbose; /* $FUZZ_TSOR_LOG: what the lib made of the channel */

static int fake_cancel(uint64_t id)
{
	(void)id;
	return cancel_answer;
}

/* Writes v at off of the region, if it fits (the peer's scribble). */
static void poke(unsigned char *base, size_t len, size_t off, uint32_t v)
{
	if (off <= len && len - off >= 4)
		memcpy(base + off, &v, 4);
}

/* The offset a patch selects: a region of the channel, then a word in it. */
static size_t patch_off(struct input *in, uint32_t rs)
{
	unsigned region = take(in), word = take(in);

	switch (region & 3) {
	case 0:
		return (word % (TSOR_CHAN_HDR / 4)) * 4; /* channel header */
	case 1:
		return TSOR_CHAN_HDR + (word % (RING_HDR_SIZE / 4)) * 4; /* ring c2s */
	case 2:
		return TSOR_CHAN_HDR + RING_REGION_SIZE(rs) + (word % (RING_HDR_SIZE / 4)) * 4;
	default:
		return ((size_t)word << 8 | take(in)) * 4; /* anywhere in the first 256 KiB */
	}
}

/* Formats as tsord does, for ring size rs (where the region allows). */
static void format(unsigned char *base, size_t len, uint32_t rs)
{
	struct tsor_chan h = {
		.magic = TSOR_CHAN_MAGIC, .version = TSOR_VERSION, .ring_size = rs, .id = 99
	};
	size_t rlen = RING_REGION_SIZE(rs);
	struct ring r;

	if (len < sizeof(h))
		return;
	memcpy(base, &h, sizeof(h));
	if (len >= TSOR_CHAN_HDR + rlen)
		CHECK(ring_init(&r, base + TSOR_CHAN_HDR, rlen, RING_PRODUCER) == 0);
	if (len >= TSOR_CHAN_HDR + 2 * rlen)
		CHECK(ring_init(&r, base + TSOR_CHAN_HDR + rlen, rlen, RING_CONSUMER) == 0);
}

/* A PROT_NONE page at addr if nothing is mapped there; NULL otherwise. */
static void *guard_at(void *addr)
{
	void *g = mmap(addr, PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1,
		       0);

	if (g == MAP_FAILED)
		return NULL;
	if (g != addr) { /* kernels before 4.17 ignore the flag */
		munmap(g, PAGE);
		return NULL;
	}
	return g;
}

static bool inside(const struct tsor_conn *c, const struct ring *r)
{
	const unsigned char *lo = (const unsigned char *)c->map.base + TSOR_CHAN_HDR;
	const unsigned char *hi = (const unsigned char *)c->map.base + c->map.len;

	return (const unsigned char *)r->hdr >= lo &&
	       r->data == (unsigned char *)r->hdr + RING_HDR_SIZE && r->size == c->map.ring_size &&
	       r->data + r->size <= hi;
}

static void drive(struct tsor_conn *c, struct input *in, int kfd, unsigned char *buf)
{
	unsigned char *base = c->map.base;

	for (int step = 0; in->n && step < MAX_STEPS; step++) {
		unsigned op = take(in);
		size_t n = ((size_t)take(in) << 4) % MAX_IO;
		struct iovec iov = { buf, n };
		ssize_t ret = 0;
		short rev;

		switch (op & 15) {
		case 0:
		case 1:
		case 2: { /* the peer writes anywhere in the channel */
			size_t off = patch_off(in, c->map.ring_size);

			poke(base, c->map.len, off, take32(in));
			continue;
		}
		case 3:
		case 4:
			ret = tsor_conn_recv(c, kfd, &iov, 1,
					     MSG_DONTWAIT | (op & 16 ? MSG_PEEK : 0));
			CHECK(ret <= (ssize_t)n);
			break;
		case 5:
		case 6:
			memset(buf, (int)op, n);
			ret = tsor_conn_send(c, kfd, &iov, 1, MSG_DONTWAIT | MSG_NOSIGNAL);
			CHECK(ret <= (ssize_t)n);
			break;
		case 7:
			ret = tsor_conn_ready(c, POLLIN | POLLOUT | POLLRDHUP, &rev);
			break;
		case 8:
			ret = tsor_conn_nread(c);
			CHECK(ret <= (ssize_t)c->map.ring_size);
			break;
		case 9:
			ret = tsor_conn_arm(c, (op & 16) ? POLLIN : POLLOUT, &rev);
			break;
		case 10:
			tsor_conn_drain_bell(c, (op & 16) ? TSOR_RX : TSOR_TX);
			break;
		case 11:
			tsor_conn_kernel(c, (short)(take(in) & (POLLIN | POLLHUP | POLLERR)));
			break;
		case 12:
			ret = tsor_conn_shutdown(c, kfd, (op >> 4) % 3);
			break;
		default:
			break;
		}
		if (verbose)
			fprintf(stderr, "op %u: %zd\n", op & 15, ret);
		CHECK(inside(c, &c->tx) && inside(c, &c->rx));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const unsigned seal_bits[4] = { F_SEAL_SHRINK, F_SEAL_GROW, F_SEAL_SEAL,
					       F_SEAL_WRITE };
	static unsigned char *buf;
	struct input in = { data, size };
	unsigned cfg = take(&in), sel = take(&in), opt = take(&in), seals = 0;
	uint32_t rs = TSOR_RING_MIN << (sel % 15); /* up to TSOR_RING_MAX */
	size_t len = TSOR_CHAN_SIZE(rs);
	struct tsor_conn c;
	unsigned char *base;
	int memfd, b[TSOR_BELLS], kv[2], side = cfg & 1, ret;

	if (!buf) {
		tsor_libc_direct();
		setenv("TSOR_CONFIRM_MS", "1", 1); /* a connector's wait for the match */
		verbose = getenv("FUZZ_TSOR_LOG") != NULL;
		buf = malloc(MAX_IO);
		CHECK(buf);
	}
	switch (cfg >> 6) {
	case 0:
		(void)take(&in);
		(void)take(&in);
		break;
	case 1:
		len += (size_t)(int8_t)take(&in) * 8 + (take(&in) & 7);
		break;
	case 2:
		len = (size_t)take(&in) << 8 | take(&in);
		len |= (size_t)(sel & 0xf0) << 12; /* 0 .. 1 MiB */
		for (rs = TSOR_RING_MIN; rs < TSOR_RING_MAX && TSOR_CHAN_SIZE(rs * 2) <= len;
		     rs *= 2)
			;
		break;
	default:
		len += PAGE;
		(void)take(&in);
		(void)take(&in);
		break;
	}
	for (int i = 0; i < 4; i++)
		if (cfg & (2u << i))
			seals |= seal_bits[i];
	cancel_answer = (opt & 2) ? -EALREADY : 0;

	memfd = memfd_create("fuzz-chan", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	CHECK(memfd >= 0);
	CHECK(ftruncate(memfd, (off_t)len) == 0);
	if (len) {
		base = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
		CHECK(base != MAP_FAILED);
		if (cfg & 32)
			format(base, len, rs);
		/* Patches before the lib looks: a count, then that many. */
		for (unsigned k = take(&in) % 16; k; k--) {
			size_t off = patch_off(&in, rs);

			poke(base, len, off, take32(&in));
		}
		munmap(base, len);
	}
	if (seals)
		CHECK(fcntl(memfd, F_ADD_SEALS, seals) == 0);
	for (int i = 0; i < TSOR_BELLS; i++) {
		int pp[2];

		if (i == 0 && (opt & 4)) {
			b[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
			CHECK(b[i] >= 0);
			continue;
		}
		/* As tsord makes them: the read end of a pipe. */
		CHECK(pipe2(pp, O_CLOEXEC | O_NONBLOCK) == 0);
		close(pp[1]);
		b[i] = pp[0];
	}
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, kv) == 0);

	ret = tsor_conn_open(&c, memfd, b, side, 42); /* owns memfd and the bells */
	if (verbose)
		fprintf(stderr, "size %zu seals %#x: open %d\n", len, seals, ret);
	if (ret) {
		/* Refused: every descriptor it was given is closed. */
		CHECK(ret < 0);
		CHECK(fcntl(memfd, F_GETFD) < 0);
		for (int i = 0; i < TSOR_BELLS; i++)
			CHECK(fcntl(b[i], F_GETFD) < 0);
	} else {
		/* Mapped: the memfd is closed, the bells are the connection's. */
		CHECK(fcntl(memfd, F_GETFD) < 0);
		void *lo, *hi;

		/* Accepted only as exactly what tsord makes, fully sealed,
		 * with pipes for bells. */
		CHECK(!(opt & 4));
		CHECK((seals & (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)) ==
		      (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL));
		CHECK(!(seals & F_SEAL_WRITE));
		CHECK(c.map.ring_size >= TSOR_RING_MIN && c.map.ring_size <= TSOR_RING_MAX &&
		      !(c.map.ring_size & (c.map.ring_size - 1)));
		CHECK(c.map.len == len && len == TSOR_CHAN_SIZE(c.map.ring_size));
		CHECK(inside(&c, &c.tx) && inside(&c, &c.rx) && c.tx.hdr != c.rx.hdr);
		c.cancel = fake_cancel;
		lo = guard_at((char *)c.map.base - PAGE);
		hi = guard_at((char *)c.map.base + ((c.map.len + PAGE - 1) & ~(size_t)(PAGE - 1)));
		/* Kernel data on the socket ends a connector's confirm wait
		 * at once (a plain server spoke first); sometimes. */
		if (opt & 1)
			CHECK(write(kv[1], "x", 1) == 1);
		drive(&c, &in, kv[0], buf);
		if (lo)
			munmap(lo, PAGE);
		if (hi)
			munmap(hi, PAGE);
		tsor_conn_close(&c);
		for (int i = 0; i < TSOR_BELLS; i++)
			CHECK(fcntl(b[i], F_GETFD) < 0);
	}
	close(kv[0]);
	close(kv[1]);
	return 0;
}
