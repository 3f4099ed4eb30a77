/* SPDX-License-Identifier: MIT */
/*
 * The ring arithmetic of the verbs transport (xport.h, "The verbs
 * transport"): where a write lands in the peer's ring, what an immediate
 * means, when credit is due. No device, no I/O: pure functions on
 * free-running u32 counters (lib/ring's scheme: size divides 2^32, so the
 * counters' own wrap-around is harmless), so the rules a hostile peer
 * must not break are unit tested here (test_tsor_xport) on machines
 * without RDMA.
 */
#include <errno.h>

#include "xport.h"

uint32_t tsor_vring_room(const struct tsor_vring_tx *t)
{
	/* Whichever of credit and completion is further behind bounds us:
	 * a staging byte is reusable only when the peer consumed it and our
	 * write of it completed (a retransmission could still read it). */
	uint32_t behind = (t->tail - t->acked) > (t->tail - t->done) ? t->acked : t->done;

	return t->size - (t->tail - behind);
}

int tsor_vring_plan(struct tsor_vring_tx *t, uint32_t len, struct tsor_vseg seg[2])
{
	uint32_t off = t->tail & (t->size - 1), first;

	if (!len || len > tsor_vring_room(t))
		return -EINVAL;
	first = t->size - off;
	t->tail += len;
	seg[0].off = off;
	if (len <= first) {
		seg[0].len = len;
		return 1;
	}
	seg[0].len = first;
	seg[1].off = 0;
	seg[1].len = len - first;
	return 2;
}

int tsor_vring_credit(struct tsor_vring_tx *t, uint32_t n)
{
	if (!n || n > t->tail - t->acked)
		return -EPROTO;
	t->acked += n;
	return 0;
}

int tsor_vring_done(struct tsor_vring_tx *t, uint32_t n)
{
	if (n > t->tail - t->done)
		return -EPROTO;
	t->done += n;
	return 0;
}

int tsor_vring_arrive(struct tsor_vring_rx *r, uint32_t n, struct tsor_vseg *seg)
{
	uint32_t off = r->tail & (r->size - 1);

	if (!n || n > r->size - (r->tail - r->head) || n > r->size - off)
		return -EPROTO;
	seg->off = off;
	seg->len = n;
	r->tail += n;
	return 0;
}

int tsor_vring_pending(const struct tsor_vring_rx *r, struct tsor_vseg seg[2])
{
	uint32_t n = r->tail - r->head, off = r->head & (r->size - 1), first = r->size - off;

	if (!n)
		return 0;
	seg[0].off = off;
	if (n <= first) {
		seg[0].len = n;
		return 1;
	}
	seg[0].len = first;
	seg[1].off = 0;
	seg[1].len = n - first;
	return 2;
}

int tsor_vring_consume(struct tsor_vring_rx *r, uint32_t n)
{
	if (n > r->tail - r->head)
		return -EINVAL;
	r->head += n;
	return 0;
}

uint32_t tsor_vring_credit_due(struct tsor_vring_rx *r)
{
	uint32_t n = r->head - r->reported;

	/* Lazy, as TSoR's window update; a drained ring reports at once, so
	 * a sender waiting for its last quarter never stalls. */
	if (!n || (n < r->size / 4 && r->head != r->tail))
		return 0;
	r->reported = r->head;
	return n;
}

uint32_t tsor_vimm(bool credit, uint32_t n)
{
	return (credit ? TSOR_VIMM_CREDIT : 0) | (n & TSOR_VIMM_LEN);
}

int tsor_vimm_decode(uint32_t imm, uint32_t size, bool *credit, uint32_t *n)
{
	*credit = imm & TSOR_VIMM_CREDIT;
	*n = imm & TSOR_VIMM_LEN;
	return *n && *n <= size ? 0 : -EPROTO;
}
