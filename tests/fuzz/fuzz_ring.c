// SPDX-License-Identifier: MIT
/*
 * Description: hostile-peer fuzzer for lib/ring. The input picks the victim's
 * side (producer or consumer), the ring size and the victim's spin count,
 * then scripts a sequence of steps: the peer either writes an arbitrary u32
 * anywhere in the shared header, or behaves (a legitimate write, read or
 * consume through its own handle); in between, the victim calls the API.
 * The region's data area ends right before a PROT_NONE page, so any access
 * past it faults without a sanitizer. Whatever the peer does:
 *
 *   - the victim never returns more bytes than the data area holds, than it
 *     was asked for, or (consumer) than a tail the peer published covers, or
 *     (producer) than a head the peer published leaves free (the one in the
 *     header now, or the one the victim validated last: both were real);
 *   - the bytes a consumer returns are exactly the bytes at its index in the
 *     data area, and a producer's bytes land exactly at its index;
 *   - the victim writes nothing in the header but its own fields;
 *   - an -EPROTO is final: every later call on that handle returns it.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "guard.h"
#include "ring.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_IO 9000 /* more than the largest ring, so calls can ask too much */

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

/* A length biased to the interesting small values and the ring's size. */
static size_t take_len(struct input *in, uint32_t size)
{
	unsigned k = take(in);

	switch (k >> 6) {
	case 0:
		return k & 63;
	case 1:
		return size - 32 + (k & 63);
	default:
		return ((size_t)k << 8 | take(in)) % MAX_IO;
	}
}

struct world {
	struct ring v;	      /* the victim's handle */
	struct ring peer;     /* the peer's handle, for honest steps */
	struct ring_hdr *h;   /* the shared header */
	unsigned char *area;  /* the data area (ends at the guard page) */
	void *mem;	      /* the region */
	size_t len;	      /* its length */
	uint32_t size;	      /* data bytes */
	int dead;	      /* the victim has returned -EPROTO */
	unsigned char *buf;   /* MAX_IO bytes for the victim's I/O */
	unsigned char *check; /* MAX_IO bytes for expected contents */
};

/* Header words the victim may write: its index, its credit, the two flags. */
static int victim_owns(const struct world *w, size_t word)
{
	size_t off = word * 4;

	if (off == offsetof(struct ring_hdr, cons_wait) ||
	    off == offsetof(struct ring_hdr, prod_wait))
		return 1;
	if (w->v.role == RING_PRODUCER)
		return off == offsetof(struct ring_hdr, tail);
	return off == offsetof(struct ring_hdr, head) || off == offsetof(struct ring_hdr, credit);
}

static uint32_t hdr_word(const struct world *w, size_t word)
{
	uint32_t v;

	memcpy(&v, (const unsigned char *)w->h + word * 4, 4);
	return v;
}

/* Checks a victim result: -EPROTO is sticky, other errors are the caller's. */
static void verdict(struct world *w, ssize_t ret)
{
	if (ret == -EPROTO)
		w->dead = 1;
	else
		CHECK(!w->dead);
}

static void copy_area(const struct world *w, uint32_t idx, unsigned char *dst, size_t n)
{
	for (size_t i = 0; i < n; i++)
		dst[i] = w->area[(idx + i) & (w->size - 1)];
}

static void victim_step(struct world *w, struct input *in)
{
	uint32_t before[RING_HDR_SIZE / 4];
	uint32_t pos = w->v.pos;
	unsigned op = take(in) % 9;
	size_t n = take_len(in, w->size);
	ssize_t ret = 0;

	memcpy(before, w->h, sizeof(before));
	if (w->v.role == RING_PRODUCER) {
		uint32_t head = atomic_load(&w->h->head);
		uint32_t room = pos - head <= w->size ? w->size - (pos - head) : 0;
		/* Room by the head validated earlier stays usable even if the
		 * peer has since lowered head: those bytes were consumed once. */
		uint32_t seen = w->size - (pos - w->v.peer);
		uint32_t most = room > seen ? room : seen;

		for (size_t i = 0; i < n; i++)
			w->buf[i] = (unsigned char)(take(in) ^ i);
		switch (op) {
		case 0:
		case 1:
		case 2:
			ret = ring_write(&w->v, w->buf, n);
			break;
		case 3: {
			struct iovec iov[3] = { { w->buf, n / 3 },
						{ w->buf + n / 3, 0 },
						{ w->buf + n / 3, n - n / 3 } };

			ret = ring_writev(&w->v, iov, 3);
			break;
		}
		case 4:
			ret = ring_writable(&w->v);
			CHECK(ret < 0 || (size_t)ret == room);
			n = 0;
			break;
		case 5:
			ret = ring_credit(&w->v);
			CHECK(ret < 0 || (size_t)ret <= room);
			n = 0;
			break;
		case 6:
			ret = ring_wait_writable(&w->v, 0);
			CHECK(ret == -ETIMEDOUT || ret < 0 || (size_t)ret == room);
			n = 0;
			break;
		default:
			if (ring_attach(&w->v, w->mem, w->len, RING_PRODUCER) == 0)
				w->dead = 0;
			w->v.spin = n & 3;
			return;
		}
		verdict(w, ret);
		if (ret >= 0 && n) {
			CHECK((size_t)ret <= n && (size_t)ret <= most && (size_t)ret <= w->size);
			copy_area(w, pos, w->check, (size_t)ret);
			CHECK(memcmp(w->check, w->buf, (size_t)ret) == 0);
		}
	} else {
		uint32_t tail = atomic_load(&w->h->tail);
		uint32_t avail = tail - pos <= w->size ? tail - pos : 0;
		/* Bytes validated earlier stay consumable even if the peer has
		 * since lowered the tail: they were published once. */
		uint32_t seen = w->v.peer - pos;

		switch (op) {
		case 0:
		case 1:
			ret = ring_read(&w->v, w->buf, n);
			break;
		case 2:
		case 3:
			ret = ring_peek(&w->v, w->buf, n);
			break;
		case 4:
			ret = ring_consume(&w->v, n);
			CHECK(ret < 0 || n <= (avail > seen ? avail : seen));
			CHECK(seen <= w->size);
			CHECK(ret < 0 || (size_t)ret <= w->size + (size_t)n);
			n = 0;
			break;
		case 5:
			ret = ring_readable(&w->v);
			CHECK(ret < 0 || (size_t)ret == avail);
			break;
		case 6:
			ret = ring_wait_readable(&w->v, 0);
			CHECK(ret == -ETIMEDOUT || ret < 0 || (size_t)ret == avail);
			n = 0;
			break;
		case 7:
			if (ring_attach(&w->v, w->mem, w->len, RING_CONSUMER) == 0)
				w->dead = 0;
			w->v.spin = n & 3;
			return;
		default:
			ret = ring_credit(&w->v); /* the wrong side */
			CHECK(ret == -EINVAL);
			return;
		}
		verdict(w, ret);
		if (ret >= 0 && op <= 3) {
			CHECK((size_t)ret <= n && (size_t)ret <= (avail > seen ? avail : seen) &&
			      (size_t)ret <= w->size);
			copy_area(w, pos, w->check, (size_t)ret);
			CHECK(memcmp(w->check, w->buf, (size_t)ret) == 0);
		}
	}
	for (size_t i = 0; i < RING_HDR_SIZE / 4; i++)
		CHECK(victim_owns(w, i) || hdr_word(w, i) == before[i]);
}

static void peer_step(struct world *w, struct input *in, unsigned op)
{
	unsigned char tmp[256];
	size_t n = take(in);

	if (op == 0) {
		/* Anything, anywhere in the header. */
		size_t word = take(in) % (RING_HDR_SIZE / 4);
		uint32_t v = take32(in);

		memcpy((unsigned char *)w->h + word * 4, &v, 4);
		return;
	}
	/* Honest steps through the peer's own handle (which may itself have
	 * given up on forged values: that is fine, it just does nothing). */
	if (w->peer.role == RING_PRODUCER) {
		memset(tmp, (int)n, sizeof(tmp));
		(void)ring_write(&w->peer, tmp, n);
	} else if (op == 1) {
		(void)ring_read(&w->peer, tmp, n);
	} else {
		(void)ring_consume(&w->peer, n);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in = { data, size };
	struct world w = { 0 };
	struct guard_buf g;
	unsigned cfg = take(&in);
	enum ring_role vrole = (cfg & 1) ? RING_CONSUMER : RING_PRODUCER;
	enum ring_role prole = (cfg & 1) ? RING_PRODUCER : RING_CONSUMER;
	unsigned char *zero;

	w.size = RING_MIN_SIZE << ((cfg >> 1) % 7); /* 64 B .. 4 KiB */
	w.len = RING_REGION_SIZE(w.size);
	zero = calloc(1, w.len);
	w.buf = malloc(MAX_IO);
	w.check = malloc(MAX_IO);
	CHECK(zero && w.buf && w.check);
	w.mem = guard_copy(&g, zero, w.len);
	CHECK(w.mem);
	w.h = w.mem;
	w.area = (unsigned char *)w.mem + RING_HDR_SIZE;
	/* Either side may have formatted the region. */
	if (cfg & 16) {
		CHECK(ring_init(&w.v, w.mem, w.len, vrole) == 0);
		CHECK(ring_attach(&w.peer, w.mem, w.len, prole) == 0);
	} else {
		CHECK(ring_init(&w.peer, w.mem, w.len, prole) == 0);
		CHECK(ring_attach(&w.v, w.mem, w.len, vrole) == 0);
	}
	w.v.spin = (cfg >> 5) & 3;
	while (in.n) {
		unsigned op = take(&in);

		if (op < 0x60)
			peer_step(&w, &in, op % 3);
		else
			victim_step(&w, &in);
	}
	guard_free(&g);
	free(zero);
	free(w.buf);
	free(w.check);
	return 0;
}
