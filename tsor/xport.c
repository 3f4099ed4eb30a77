/* SPDX-License-Identifier: MIT */
/*
 * The transport frame codec (layout and invariants in xport.h). Pure
 * functions on byte buffers: no I/O, no state, so every rule for a
 * hostile peer is unit tested here (test_tsor_xport) and the same code
 * serves every transport.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "xport.h"

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p + 2, (uint16_t)v);
}

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)(v >> 32));
	put32(p + 4, (uint32_t)v);
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)((unsigned)p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)get16(p) << 16 | get16(p + 2);
}

static uint64_t get64(const uint8_t *p)
{
	return (uint64_t)get32(p) << 32 | get32(p + 4);
}

void tsor_xhdr_encode(const struct tsor_xhdr *h, uint8_t *out)
{
	memset(out, 0, TSOR_XHDR_SIZE);
	out[0] = h->type;
	out[1] = h->flags;
	put32(out + 4, h->len);
	put64(out + 8, h->stream);
	put32(out + 16, h->credit);
}

int tsor_xqueue_put(struct tsor_xqueue *q, const struct tsor_xhdr *h, const void *payload)
{
	size_t need = TSOR_XHDR_SIZE + h->len;

	if (tsor_xqueue_len(q) + need > TSOR_XQUEUE_MAX)
		return -ENOBUFS;
	if (q->off && q->off == q->len)
		q->off = q->len = 0;
	if (q->len + need > q->cap) {
		size_t cap = q->cap ? q->cap : (size_t)64 * 1024;
		uint8_t *p;

		/* Compact first: the sent prefix is dead space. */
		if (q->off) {
			memmove(q->buf, q->buf + q->off, q->len - q->off);
			q->len -= q->off;
			q->off = 0;
		}
		while (cap < q->len + need)
			cap *= 2;
		if (cap != q->cap) {
			p = realloc(q->buf, cap);
			if (!p)
				return -ENOMEM;
			q->buf = p;
			q->cap = cap;
		}
	}
	tsor_xhdr_encode(h, q->buf + q->len);
	if (h->len)
		memcpy(q->buf + q->len + TSOR_XHDR_SIZE, payload, h->len);
	q->len += need;
	return 0;
}

static bool ring_size_ok(uint32_t v)
{
	return v >= TSOR_RING_MIN && v <= TSOR_RING_MAX && (v & (v - 1)) == 0;
}

int tsor_xhdr_decode(const uint8_t *in, struct tsor_xhdr *h)
{
	bool ok;

	h->type = in[0];
	h->flags = in[1];
	h->len = get32(in + 4);
	h->stream = get64(in + 8);
	h->credit = get32(in + 16);
	if (get16(in + 2) || get32(in + 20) || (h->flags & ~TSOR_XF_OPENER))
		return -EPROTO;
	if (h->type != TSOR_X_HELLO && !h->stream)
		return -EPROTO;
	switch (h->type) {
	case TSOR_X_HELLO:
		ok = h->stream == TSOR_XMAGIC && !h->len && h->credit == TSOR_XVERSION && !h->flags;
		break;
	case TSOR_X_OPEN:
		ok = h->len == TSOR_XOPEN_SIZE && ring_size_ok(h->credit);
		break;
	case TSOR_X_ACCEPTED:
		ok = !h->len && ring_size_ok(h->credit);
		break;
	case TSOR_X_DATA:
		ok = h->len && h->len <= TSOR_XDATA_MAX && !h->credit;
		break;
	case TSOR_X_CREDIT:
		ok = !h->len && h->credit && h->credit <= TSOR_RING_MAX;
		break;
	case TSOR_X_FIN:
	case TSOR_X_FIN_ACK:
	case TSOR_X_CANCEL:
	case TSOR_X_RST:
		ok = !h->len && !h->credit;
		break;
	default:
		ok = false;
	}
	return ok ? 0 : -EPROTO;
}

static void addr_encode(const struct tsor_addr *a, uint8_t *out)
{
	memset(out, 0, TSOR_XADDR_SIZE);
	out[0] = a->family == AF_INET6 ? 2 : 1;
	put16(out + 2, a->port);
	memcpy(out + 4, a->addr, a->family == AF_INET6 ? 16 : 4);
}

static int addr_decode(const uint8_t *in, struct tsor_addr *a)
{
	size_t alen = in[0] == 2 ? 16 : 4;

	memset(a, 0, sizeof(*a));
	if ((in[0] != 1 && in[0] != 2) || in[1])
		return -EPROTO;
	a->family = in[0] == 2 ? AF_INET6 : AF_INET;
	a->port = get16(in + 2);
	memcpy(a->addr, in + 4, alen);
	/* IPv4: the unused 12 bytes must be zero, so that one address has
	 * one encoding (tsor_addr_eq() compares all 16). */
	for (size_t i = 4 + alen; i < TSOR_XADDR_SIZE; i++)
		if (in[i])
			return -EPROTO;
	return a->port ? 0 : -EPROTO;
}

void tsor_xopen_encode(const struct tsor_addr *client, const struct tsor_addr *server, uint8_t *out)
{
	addr_encode(client, out);
	addr_encode(server, out + TSOR_XADDR_SIZE);
}

int tsor_xopen_decode(const uint8_t *in, struct tsor_addr *client, struct tsor_addr *server)
{
	if (addr_decode(in, client) || addr_decode(in + TSOR_XADDR_SIZE, server))
		return -EPROTO;
	return client->family == server->family ? 0 : -EPROTO;
}
