// SPDX-License-Identifier: MIT
/*
 * Description: the tsord-to-tsord transport (tsor/xport.h): the frame
 * codec against a hostile peer (every field, every type's len and credit
 * rules, OPEN's addresses), the TCP link over loopback (frames of every
 * size in order both ways, a frame delivered one byte at a time, an
 * invalid header and EOF mid-frame drop the link), and the parsers of
 * --node-listen and --peer with the CIDR test the relay routes by, and
 * the ring arithmetic of the verbs transport (where writes land, what a
 * peer's immediates may say, lazy credit, counter wrap-around), which
 * runs here although no RDMA device does; and the relay against a raw
 * peer node (refused and cancelled OPENs, frames of unknown streams, a
 * protocol violation and a stranger's link dropped; a live stream: the
 * OPEN matched by an ASK, bytes both ways through a real channel, and
 * DATA beyond the grant dropping the link and resetting the kernel
 * connection under the pods).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "relay.h"
#include "tsor-int.h"
#include "xport.h"

static struct tsor_xhdr hdr(uint8_t type, uint32_t len, uint64_t stream, uint32_t credit)
{
	return (struct tsor_xhdr){ .type = type, .len = len, .stream = stream, .credit = credit };
}

/* Encodes h, decodes it back: the decoder's verdict. */
static int round_trip(const struct tsor_xhdr *h, struct tsor_xhdr *out)
{
	uint8_t b[TSOR_XHDR_SIZE];

	tsor_xhdr_encode(h, b);
	return tsor_xhdr_decode(b, out);
}

static void test_codec_valid(void **state)
{
	const struct tsor_xhdr ok[] = {
		hdr(TSOR_X_HELLO, 0, TSOR_XMAGIC, TSOR_XVERSION),
		hdr(TSOR_X_OPEN, TSOR_XOPEN_SIZE, 7, TSOR_RING_DEFAULT),
		hdr(TSOR_X_ACCEPTED, 0, 7, TSOR_RING_MIN),
		hdr(TSOR_X_DATA, 1, 7, 0),
		hdr(TSOR_X_DATA, TSOR_XDATA_MAX, UINT64_MAX, 0),
		hdr(TSOR_X_CREDIT, 0, 7, TSOR_RING_MAX),
		hdr(TSOR_X_FIN, 0, 7, 0),
		hdr(TSOR_X_FIN_ACK, 0, 7, 0),
		hdr(TSOR_X_CANCEL, 0, 7, 0),
		hdr(TSOR_X_RST, 0, 7, 0),
	};
	struct tsor_xhdr h, got;
	uint8_t b[TSOR_XHDR_SIZE];

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		h = ok[i];
		h.flags = i % 2 && h.type != TSOR_X_HELLO ? TSOR_XF_OPENER : 0;
		assert_int_equal(round_trip(&h, &got), 0);
		assert_int_equal(got.type, h.type);
		assert_int_equal(got.flags, h.flags);
		assert_int_equal(got.len, h.len);
		assert_true(got.stream == h.stream);
		assert_int_equal(got.credit, h.credit);
	}
	/* Big-endian on the wire, whatever the host. */
	h = hdr(TSOR_X_DATA, 0x0102, 0x0a0b0c0d0e0f1011ull, 0);
	tsor_xhdr_encode(&h, b);
	assert_int_equal(b[4], 0);
	assert_int_equal(b[6], 1);
	assert_int_equal(b[7], 2);
	assert_int_equal(b[8], 0x0a);
	assert_int_equal(b[15], 0x11);
}

static void test_codec_hostile(void **state)
{
	const struct tsor_xhdr bad[] = {
		hdr(TSOR_X_TYPE_COUNT, 0, 7, 0),	/* unknown type */
		hdr(TSOR_X_HELLO, 0, 7, TSOR_XVERSION), /* wrong magic */
		hdr(TSOR_X_HELLO, 0, TSOR_XMAGIC, 99),	/* another version */
		hdr(TSOR_X_HELLO, 4, TSOR_XMAGIC, TSOR_XVERSION),
		hdr(TSOR_X_OPEN, TSOR_XOPEN_SIZE - 1, 7, TSOR_RING_DEFAULT),
		hdr(TSOR_X_OPEN, TSOR_XOPEN_SIZE, 7, 5000), /* not a power of two */
		hdr(TSOR_X_OPEN, TSOR_XOPEN_SIZE, 7, TSOR_RING_MAX * 2),
		hdr(TSOR_X_OPEN, TSOR_XOPEN_SIZE, 0, TSOR_RING_DEFAULT), /* stream 0 */
		hdr(TSOR_X_ACCEPTED, 0, 7, 0),
		hdr(TSOR_X_DATA, 0, 7, 0),		    /* empty DATA */
		hdr(TSOR_X_DATA, TSOR_XDATA_MAX + 1, 7, 0), /* too long */
		hdr(TSOR_X_DATA, UINT32_MAX, 7, 0),
		hdr(TSOR_X_DATA, 10, 7, 1), /* credit on DATA */
		hdr(TSOR_X_CREDIT, 0, 7, 0),
		hdr(TSOR_X_CREDIT, 0, 7, TSOR_RING_MAX + 1),
		hdr(TSOR_X_CREDIT, 8, 7, 100),
		hdr(TSOR_X_FIN, 1, 7, 0),
		hdr(TSOR_X_RST, 0, 7, 1),
		hdr(TSOR_X_CANCEL, 0, 0, 0),
	};
	struct tsor_xhdr h, got;
	uint8_t b[TSOR_XHDR_SIZE];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(round_trip(&bad[i], &got), -EPROTO);
	/* Fields the struct cannot express: reserved bytes, unknown flags. */
	h = hdr(TSOR_X_FIN, 0, 7, 0);
	for (int off = 2; off < 4; off++) {
		tsor_xhdr_encode(&h, b);
		b[off] = 1;
		assert_int_equal(tsor_xhdr_decode(b, &got), -EPROTO);
	}
	for (int off = 20; off < 24; off++) {
		tsor_xhdr_encode(&h, b);
		b[off] = 0x80;
		assert_int_equal(tsor_xhdr_decode(b, &got), -EPROTO);
	}
	tsor_xhdr_encode(&h, b);
	b[1] = 0x02;
	assert_int_equal(tsor_xhdr_decode(b, &got), -EPROTO);
	/* HELLO never carries the opener flag. */
	h = hdr(TSOR_X_HELLO, 0, TSOR_XMAGIC, TSOR_XVERSION);
	h.flags = TSOR_XF_OPENER;
	assert_int_equal(round_trip(&h, &got), -EPROTO);
}

static struct tsor_addr v4(const char *s, uint16_t port)
{
	struct tsor_addr a = { .family = AF_INET, .port = port };

	assert_int_equal(inet_pton(AF_INET, s, a.addr), 1);
	return a;
}

static void test_open_payload(void **state)
{
	struct tsor_addr c = v4("10.1.1.2", 40000), s = v4("10.1.2.2", 80), c2, s2;
	struct tsor_addr c6 = { .family = AF_INET6, .port = 1 }, s6 = c6;
	uint8_t b[TSOR_XOPEN_SIZE], t[TSOR_XOPEN_SIZE];

	(void)state;
	tsor_xopen_encode(&c, &s, b);
	assert_int_equal(tsor_xopen_decode(b, &c2, &s2), 0);
	assert_true(tsor_addr_eq(&c, &c2));
	assert_true(tsor_addr_eq(&s, &s2));
	c6.addr[15] = 1;
	s6.addr[0] = 0xfd;
	s6.port = 443;
	tsor_xopen_encode(&c6, &s6, b);
	assert_int_equal(tsor_xopen_decode(b, &c2, &s2), 0);
	assert_int_equal(c2.family, AF_INET6);
	assert_true(tsor_addr_eq(&s6, &s2));

	tsor_xopen_encode(&c, &s, b);
	memcpy(t, b, sizeof(b));
	t[0] = 3; /* unknown family */
	assert_int_equal(tsor_xopen_decode(t, &c2, &s2), -EPROTO);
	memcpy(t, b, sizeof(b));
	t[1] = 1; /* the zero byte */
	assert_int_equal(tsor_xopen_decode(t, &c2, &s2), -EPROTO);
	memcpy(t, b, sizeof(b));
	t[TSOR_XADDR_SIZE + 2] = t[TSOR_XADDR_SIZE + 3] = 0; /* server port 0 */
	assert_int_equal(tsor_xopen_decode(t, &c2, &s2), -EPROTO);
	memcpy(t, b, sizeof(b));
	t[19] = 1; /* junk after an IPv4 address: two encodings of one address */
	assert_int_equal(tsor_xopen_decode(t, &c2, &s2), -EPROTO);
	tsor_xopen_encode(&c, &s6, t); /* mixed families */
	assert_int_equal(tsor_xopen_decode(t, &c2, &s2), -EPROTO);
}

/* ---------------------------------------------------------------- links */

struct got {
	size_t n;		/* frames received */
	struct tsor_xhdr h[64]; /* their headers */
	uint32_t sum[64];	/* a checksum of each payload */
	int refuse_at;		/* the callback refuses frame n (-1: never) */
};

static uint32_t sum(const uint8_t *p, size_t n)
{
	uint32_t s = 0;

	for (size_t i = 0; i < n; i++)
		s = s * 31 + p[i];
	return s;
}

static int on_frame(void *arg, const struct tsor_xhdr *h, const uint8_t *payload)
{
	struct got *g = arg;

	if (g->refuse_at >= 0 && (size_t)g->refuse_at == g->n)
		return -ECANCELED;
	assert_true(g->n < 64);
	g->h[g->n] = *h;
	g->sum[g->n] = sum(payload, h->len);
	g->n++;
	return 0;
}

/* Runs io on l until want frames arrived or the link fails; its result. */
static int pump(struct tsor_xlink *l, struct got *g, size_t want)
{
	const struct tsor_xport_ops *x = &tsor_xport_tcp;

	for (int i = 0; i < 2000 && (i == 0 || g->n < want); i++) {
		struct pollfd p = { .fd = x->fd(l), .events = x->events(l) };
		int ret;

		if (poll(&p, 1, 10) < 0)
			return -errno;
		ret = x->io(l, p.revents, on_frame, g);
		if (ret)
			return ret;
	}
	return 0;
}

/* A connected pair of links over loopback. */
static void link_pair(struct tsor_xlink **a, struct tsor_xlink **b)
{
	const struct tsor_xport_ops *x = &tsor_xport_tcp;
	struct tsor_addr at = v4("127.0.0.1", 1), from;
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int lfd, ret = -EAGAIN;

	at.port = 0; /* any port: the parser refuses 0, the transport takes it */
	assert_int_equal(x->listen(&at, &lfd), 0);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&sin, &len), 0);
	at.port = ntohs(sin.sin_port);
	assert_int_equal(x->connect(&at, a), 0);
	for (int i = 0; i < 200 && ret == -EAGAIN; i++) {
		struct pollfd p = { .fd = lfd, .events = POLLIN };

		(void)poll(&p, 1, 10);
		ret = x->accept(lfd, b, &from);
	}
	assert_int_equal(ret, 0);
	assert_true(tsor_addr_eq(&(struct tsor_addr){ .family = AF_INET,
						      .addr = { 127, 0, 0, 1 },
						      .port = from.port },
				 &from));
	close(lfd);
}

static void test_tcp_frames(void **state)
{
	const struct tsor_xport_ops *x = &tsor_xport_tcp;
	const uint32_t lens[] = { 1, 7, 4096, TSOR_XDATA_MAX, 100, TSOR_XDATA_MAX - 1, 3 };
	struct tsor_xlink *a, *b;
	struct got ga = { .refuse_at = -1 }, gb = { .refuse_at = -1 };
	struct tsor_xhdr h;
	uint8_t *buf = malloc(TSOR_XDATA_MAX + 1); /* b sends from buf + 1 */
	size_t nl = sizeof(lens) / sizeof(lens[0]);

	(void)state;
	assert_non_null(buf);
	for (size_t i = 0; i <= TSOR_XDATA_MAX; i++)
		buf[i] = (uint8_t)(i * 7 + 3);
	link_pair(&a, &b);
	h = hdr(TSOR_X_HELLO, 0, TSOR_XMAGIC, TSOR_XVERSION);
	assert_int_equal(x->send(a, &h, NULL), 0);
	assert_int_equal(x->send(b, &h, NULL), 0);
	for (size_t i = 0; i < nl; i++) {
		h = hdr(TSOR_X_DATA, lens[i], i + 1, 0);
		assert_int_equal(x->send(a, &h, buf), 0);
		h.flags = TSOR_XF_OPENER;
		assert_int_equal(x->send(b, &h, buf + 1), 0);
	}
	assert_true(x->queued(a) > 0);
	/* One round each at a time: either side's frames leave only in its io. */
	for (int i = 0; i < 2000 && (ga.n < nl + 1 || gb.n < nl + 1); i++) {
		assert_int_equal(pump(a, &ga, 0), 0);
		assert_int_equal(pump(b, &gb, 0), 0);
	}
	assert_int_equal(ga.n, nl + 1);
	assert_int_equal(gb.n, nl + 1);
	assert_int_equal(gb.h[0].type, TSOR_X_HELLO);
	for (size_t i = 0; i < nl; i++) {
		/* In order, whole, intact. */
		assert_int_equal(gb.h[i + 1].len, lens[i]);
		assert_true(gb.h[i + 1].stream == i + 1);
		assert_int_equal(gb.sum[i + 1], sum(buf, lens[i]));
		assert_int_equal(ga.h[i + 1].flags, TSOR_XF_OPENER);
		assert_int_equal(ga.sum[i + 1], sum(buf + 1, lens[i]));
	}
	assert_int_equal(x->queued(a), 0);
	assert_true(x->tx_bytes(a) == x->rx_bytes(b));
	assert_true(x->tx_bytes(b) == x->rx_bytes(a));
	/* The callback's refusal drops the link with its value. */
	h = hdr(TSOR_X_FIN, 0, 9, 0);
	assert_int_equal(x->send(a, &h, NULL), 0);
	assert_int_equal(pump(a, &ga, 0), 0);
	gb.refuse_at = (int)gb.n;
	assert_int_equal(pump(b, &gb, gb.n + 1), -ECANCELED);
	x->close(a);
	x->close(b);
	free(buf);
}

/* A raw peer: a plain socket connected to a link we accept. */
static void raw_pair(int *raw, struct tsor_xlink **l)
{
	const struct tsor_xport_ops *x = &tsor_xport_tcp;
	struct tsor_addr at = v4("127.0.0.1", 1), from;
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int lfd, ret = -EAGAIN;

	at.port = 0;
	assert_int_equal(x->listen(&at, &lfd), 0);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&sin, &len), 0);
	*raw = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(*raw >= 0);
	assert_int_equal(connect(*raw, (struct sockaddr *)&sin, sizeof(sin)), 0);
	for (int i = 0; i < 200 && ret == -EAGAIN; i++) {
		struct pollfd p = { .fd = lfd, .events = POLLIN };

		(void)poll(&p, 1, 10);
		ret = x->accept(lfd, l, &from);
	}
	assert_int_equal(ret, 0);
	close(lfd);
}

static void test_tcp_hostile(void **state)
{
	const struct tsor_xport_ops *x = &tsor_xport_tcp;
	struct got g = { .refuse_at = -1 };
	struct tsor_xhdr h = hdr(TSOR_X_DATA, 5, 3, 0);
	uint8_t b[TSOR_XHDR_SIZE + 5] = { 0 };
	struct tsor_xlink *l;
	int raw;

	(void)state;
	/* One byte at a time: reassembled into one frame. */
	raw_pair(&raw, &l);
	tsor_xhdr_encode(&h, b);
	memcpy(b + TSOR_XHDR_SIZE, "hello", 5);
	for (size_t i = 0; i < sizeof(b); i++) {
		assert_int_equal(write(raw, b + i, 1), 1);
		assert_int_equal(pump(l, &g, 0), 0);
		(void)usleep(1000);
	}
	assert_int_equal(pump(l, &g, 1), 0);
	assert_int_equal(g.n, 1);
	assert_int_equal(g.sum[0], sum((const uint8_t *)"hello", 5));
	/* A length beyond TSOR_XDATA_MAX: refused from the header alone,
	 * before any payload is awaited. */
	h.len = TSOR_XDATA_MAX + 1;
	tsor_xhdr_encode(&h, b);
	b[4] = 0, b[5] = 1, b[6] = 0, b[7] = 1; /* 65537, the encoder has no checks */
	assert_int_equal(write(raw, b, TSOR_XHDR_SIZE), TSOR_XHDR_SIZE);
	assert_int_equal(pump(l, &g, 2), -EPROTO);
	x->close(l);
	close(raw);

	/* EOF in the middle of a frame. */
	raw_pair(&raw, &l);
	h = hdr(TSOR_X_DATA, 5, 3, 0);
	tsor_xhdr_encode(&h, b);
	assert_int_equal(write(raw, b, TSOR_XHDR_SIZE + 2), TSOR_XHDR_SIZE + 2);
	close(raw);
	memset(&g, 0, sizeof(g));
	g.refuse_at = -1;
	assert_int_equal(pump(l, &g, 1), -ECONNRESET);
	assert_int_equal(g.n, 0);
	x->close(l);
}

static void test_parse(void **state)
{
	struct tsor_relay_peer_cfg p;
	struct tsor_addr a, in;

	(void)state;
	assert_int_equal(tsor_relay_parse_addr("10.0.0.1:7390", &a), 0);
	assert_true(tsor_addr_eq(
		&a,
		&(struct tsor_addr){ .family = AF_INET, .port = 7390, .addr = { 10, 0, 0, 1 } }));
	assert_int_equal(tsor_relay_parse_addr("[fd00::2]:1", &a), 0);
	assert_int_equal(a.family, AF_INET6);
	assert_int_equal(a.addr[0], 0xfd);
	assert_int_equal(a.addr[15], 2);
	assert_int_equal(a.port, 1);
	assert_int_equal(tsor_relay_parse_addr("10.0.0.1", &a), -EINVAL);
	assert_int_equal(tsor_relay_parse_addr("10.0.0.1:0", &a), -EINVAL);
	assert_int_equal(tsor_relay_parse_addr("10.0.0.1:65536", &a), -EINVAL);
	assert_int_equal(tsor_relay_parse_addr("10.0.0.1:80x", &a), -EINVAL);
	assert_int_equal(tsor_relay_parse_addr("host:80", &a), -EINVAL);
	assert_int_equal(tsor_relay_parse_addr("fd00::2:80", &a), -EINVAL);
	assert_int_equal(tsor_relay_parse_addr("[fd00::2:80", &a), -EINVAL);

	assert_int_equal(tsor_relay_parse_peer("10.1.2.0/24=192.168.0.2:7390", &p), 0);
	assert_int_equal(p.prefix, 24);
	assert_int_equal(p.node.port, 7390);
	in = v4("10.1.2.200", 0);
	assert_true(tsor_relay_cidr_has(&p.net, p.prefix, &in));
	in = v4("10.1.3.1", 0);
	assert_false(tsor_relay_cidr_has(&p.net, p.prefix, &in));
	assert_int_equal(tsor_relay_parse_peer("10.1.2.0/20=192.168.0.2:7390", &p), 0);
	in = v4("10.1.15.1", 0);
	assert_true(tsor_relay_cidr_has(&p.net, p.prefix, &in));
	in = v4("10.1.16.1", 0);
	assert_false(tsor_relay_cidr_has(&p.net, p.prefix, &in));
	assert_int_equal(tsor_relay_parse_peer("fd00:1::/64=[fd00::9]:7390", &p), 0);
	assert_int_equal(p.net.family, AF_INET6);
	in = v4("10.1.2.1", 0);
	assert_false(tsor_relay_cidr_has(&p.net, p.prefix, &in)); /* another family */
	assert_int_equal(tsor_relay_parse_peer("10.1.2.0/33=1.2.3.4:1", &p), -EINVAL);
	assert_int_equal(tsor_relay_parse_peer("10.1.2.0=1.2.3.4:1", &p), -EINVAL);
	assert_int_equal(tsor_relay_parse_peer("10.1.2.0/24", &p), -EINVAL);
	assert_int_equal(tsor_relay_parse_peer("10.1.2.0/24=1.2.3.4", &p), -EINVAL);
	assert_int_equal(tsor_relay_parse_peer("10.1.2.0/2x=1.2.3.4:1", &p), -EINVAL);
}

/* ------------------------------------------------------- the relay */

static bool listener_there;
static uint64_t ids;

static bool cb_has_listener(void *arg, const struct tsor_addr *server)
{
	(void)arg;
	(void)server;
	return listener_there;
}

static void cb_reply(void *arg, uint64_t client, uint64_t id, int status, uint64_t why)
{
	(void)arg;
	(void)client;
	(void)id;
	(void)status;
	(void)why;
	fail_msg("no CANCEL is deferred in this test");
}

static void cb_release(void *arg, int fd)
{
	(void)arg;
	close(fd);
}

static uint64_t cb_next_id(void *arg)
{
	(void)arg;
	return ++ids;
}

/* Runs the relay's loop for about ms milliseconds. */
static void relay_run(struct tsor_relay *r, int ms)
{
	struct pollfd p[16];

	for (int i = 0; i < ms; i++) {
		size_t n = tsor_relay_pollfds(r, p, 16);

		(void)poll(p, n, 1);
		(void)tsor_relay_service(r, p, n);
	}
}

/* Sends one frame on the raw peer socket. */
static void raw_send(int fd, struct tsor_xhdr h, const void *payload)
{
	uint8_t b[TSOR_XHDR_SIZE + TSOR_XOPEN_SIZE];

	assert_true(h.len <= TSOR_XOPEN_SIZE);
	tsor_xhdr_encode(&h, b);
	if (h.len)
		memcpy(b + TSOR_XHDR_SIZE, payload, h.len);
	assert_int_equal(write(fd, b, TSOR_XHDR_SIZE + h.len), (ssize_t)(TSOR_XHDR_SIZE + h.len));
}

/* Reads the next frame the relay sent the raw peer (header only). */
static struct tsor_xhdr raw_recv(struct tsor_relay *r, int fd)
{
	uint8_t b[TSOR_XHDR_SIZE];
	size_t have = 0;
	struct tsor_xhdr h;

	for (int i = 0; i < 2000 && have < sizeof(b); i++) {
		ssize_t n = recv(fd, b + have, sizeof(b) - have, MSG_DONTWAIT);

		if (n > 0)
			have += (size_t)n;
		else
			relay_run(r, 1);
	}
	assert_int_equal(have, sizeof(b));
	assert_int_equal(tsor_xhdr_decode(b, &h), 0);
	return h;
}

/*
 * The relay against a raw peer node (a plain socket from the configured
 * peer address): HELLO first, an OPEN without a listener refused, an OPEN
 * cancelled before its accept, frames for unknown streams answered as a
 * closed socket answers them, and a protocol violation (a second HELLO,
 * then DATA beyond any grant) drops the link.
 */
static void test_relay_peer(void **state)
{
	const struct tsor_relay_cbs cbs = { .has_listener = cb_has_listener,
					    .reply = cb_reply,
					    .release = cb_release,
					    .next_id = cb_next_id };
	struct tsor_relay_peer_cfg peer;
	struct tsor_addr at = v4("127.0.0.2", 1);
	struct sockaddr_in sin = { .sin_family = AF_INET }, lsin;
	socklen_t len = sizeof(lsin);
	struct tsor_relay *r;
	struct pollfd p[4];
	uint64_t st[TSOR_STAT_COUNT] = { 0 };
	uint8_t open[TSOR_XOPEN_SIZE];
	struct tsor_xhdr h;
	int raw;

	(void)state;
	assert_int_equal(tsor_relay_parse_peer("10.9.0.0/16=127.0.0.1:7", &peer), 0);
	at.port = 0;
	assert_int_equal(tsor_relay_new(&tsor_xport_tcp, &at, &peer, 1, &cbs, &r), 0);
	assert_non_null(r);
	/* Slot 0 is the transport listener: its port. */
	assert_true(tsor_relay_pollfds(r, p, 4) >= 1);
	assert_int_equal(getsockname(p[0].fd, (struct sockaddr *)&lsin, &len), 0);
	raw = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(raw >= 0);
	sin.sin_addr.s_addr = htonl(0x7f000001); /* from the peer's address */
	assert_int_equal(bind(raw, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(connect(raw, (struct sockaddr *)&lsin, sizeof(lsin)), 0);

	h = raw_recv(r, raw);
	assert_int_equal(h.type, TSOR_X_HELLO);
	raw_send(raw, hdr(TSOR_X_HELLO, 0, TSOR_XMAGIC, TSOR_XVERSION), NULL);
	relay_run(r, 20);
	tsor_relay_stats(r, st);
	assert_int_equal(st[TSOR_STAT_PEERS_UP], 1);
	{
		struct tsor_addr dst = v4("10.9.1.1", 80), out = v4("10.8.1.1", 80);

		assert_true(tsor_relay_routes(r, &dst));
		assert_false(tsor_relay_routes(r, &out));
	}

	/* No listener: the OPEN is answered RST, about the peer's stream. */
	tsor_xopen_encode(
		&(struct tsor_addr){ .family = AF_INET, .port = 5, .addr = { 10, 9, 0, 5 } },
		&(struct tsor_addr){ .family = AF_INET, .port = 80, .addr = { 10, 1, 0, 2 } },
		open);
	listener_there = false;
	h = hdr(TSOR_X_OPEN, TSOR_XOPEN_SIZE, 41, TSOR_RING_MIN);
	h.flags = TSOR_XF_OPENER;
	raw_send(raw, h, open);
	h = raw_recv(r, raw);
	assert_int_equal(h.type, TSOR_X_RST);
	assert_true(h.stream == 41);
	assert_int_equal(h.flags, 0);
	/* A listener: recorded, then CANCEL drops it with an RST. */
	listener_there = true;
	h = hdr(TSOR_X_OPEN, TSOR_XOPEN_SIZE, 42, TSOR_RING_MIN);
	h.flags = TSOR_XF_OPENER;
	raw_send(raw, h, open);
	h = hdr(TSOR_X_CANCEL, 0, 42, 0);
	h.flags = TSOR_XF_OPENER;
	raw_send(raw, h, NULL);
	h = raw_recv(r, raw);
	assert_int_equal(h.type, TSOR_X_RST);
	assert_true(h.stream == 42);
	/* Unknown streams: a FIN gets FIN_ACK, CREDIT nothing, DATA an RST. */
	h = hdr(TSOR_X_FIN, 0, 43, 0);
	h.flags = TSOR_XF_OPENER;
	raw_send(raw, h, NULL);
	h = raw_recv(r, raw);
	assert_int_equal(h.type, TSOR_X_FIN_ACK);
	assert_true(h.stream == 43);
	h = hdr(TSOR_X_CREDIT, 0, 44, 4096);
	raw_send(raw, h, NULL);
	h = hdr(TSOR_X_DATA, 3, 45, 0);
	raw_send(raw, h, "abc");
	h = raw_recv(r, raw);
	assert_int_equal(h.type, TSOR_X_RST); /* not about 44: CREDIT got nothing */
	assert_true(h.stream == 45);
	assert_int_equal(h.flags, TSOR_XF_OPENER); /* 45 names a stream we opened */

	/* A second HELLO is a violation: the link goes, reads see EOF. */
	raw_send(raw, hdr(TSOR_X_HELLO, 0, TSOR_XMAGIC, TSOR_XVERSION), NULL);
	relay_run(r, 20);
	tsor_relay_stats(r, st);
	assert_int_equal(st[TSOR_STAT_PEERS_UP], 0);
	{
		uint8_t b[64];
		ssize_t n;

		do
			n = recv(raw, b, sizeof(b), MSG_DONTWAIT);
		while (n > 0);
		assert_int_equal(n, 0);
	}
	close(raw);

	/* A link from an address that is no peer is closed at once. */
	raw = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	sin.sin_addr.s_addr = htonl(0x7f000003);
	assert_int_equal(bind(raw, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(connect(raw, (struct sockaddr *)&lsin, sizeof(lsin)), 0);
	relay_run(r, 20);
	{
		uint8_t b[64];

		assert_int_equal(recv(raw, b, sizeof(b), MSG_DONTWAIT), 0);
	}
	close(raw);
	tsor_relay_free(r);
}

/* Reads the next frame with its payload (up to cap bytes) from the raw peer. */
static struct tsor_xhdr raw_recv_data(struct tsor_relay *r, int fd, uint8_t *payload, size_t cap)
{
	struct tsor_xhdr h = raw_recv(r, fd);
	size_t have = 0;

	assert_true(h.len <= cap);
	for (int i = 0; i < 2000 && have < h.len; i++) {
		ssize_t n = recv(fd, payload + have, h.len - have, MSG_DONTWAIT);

		if (n > 0)
			have += (size_t)n;
		else
			relay_run(r, 1);
	}
	assert_int_equal(have, h.len);
	return h;
}

/*
 * A live relayed stream against a raw peer node: the peer's OPEN matched
 * by an accepted socket's ASK, bytes both ways through the lib's channel
 * (the peer's DATA lands in the ring, the lib's writes leave as DATA
 * within the peer's credit), then the peer sends more than it was
 * granted: the link drops and the kernel connection is reset, which the
 * client end sees as ECONNRESET.
 */
static void test_relay_stream(void **state)
{
	const struct tsor_relay_cbs cbs = { .has_listener = cb_has_listener,
					    .reply = cb_reply,
					    .release = cb_release,
					    .next_id = cb_next_id };
	struct tsor_relay_peer_cfg peer;
	struct tsor_addr at = v4("127.0.0.2", 1), cl, sv;
	struct sockaddr_in sin = { .sin_family = AF_INET }, lsin, ssin, csin;
	socklen_t len = sizeof(lsin);
	struct tsor_relay *r;
	struct pollfd p[4];
	uint8_t open[TSOR_XOPEN_SIZE], buf[TSOR_RING_MIN];
	int raw, lsock, csock, ssock, fds[TSOR_MAX_FDS];
	struct tsor_conn conn;
	struct iovec iov;
	struct tsor_xhdr h;
	uint64_t id;
	uint32_t rs;
	char c;

	(void)state;
	listener_there = true;
	assert_int_equal(tsor_relay_parse_peer("127.0.0.0/8=127.0.0.1:7", &peer), 0);
	at.port = 0;
	assert_int_equal(tsor_relay_new(&tsor_xport_tcp, &at, &peer, 1, &cbs, &r), 0);
	assert_true(tsor_relay_pollfds(r, p, 4) >= 1);
	assert_int_equal(getsockname(p[0].fd, (struct sockaddr *)&lsin, &len), 0);
	raw = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	sin.sin_addr.s_addr = htonl(0x7f000001);
	assert_int_equal(bind(raw, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(connect(raw, (struct sockaddr *)&lsin, sizeof(lsin)), 0);
	assert_int_equal(raw_recv(r, raw).type, TSOR_X_HELLO);
	raw_send(raw, hdr(TSOR_X_HELLO, 0, TSOR_XMAGIC, TSOR_XVERSION), NULL);

	/* The pods' kernel connection: a server socket and its client. */
	lsock = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	sin.sin_port = 0;
	assert_int_equal(bind(lsock, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(lsock, 1), 0);
	len = sizeof(ssin);
	assert_int_equal(getsockname(lsock, (struct sockaddr *)&ssin, &len), 0);
	csock = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(connect(csock, (struct sockaddr *)&ssin, sizeof(ssin)), 0);
	ssock = accept4(lsock, NULL, NULL, SOCK_CLOEXEC);
	assert_true(ssock >= 0);
	len = sizeof(csin);
	assert_int_equal(getsockname(csock, (struct sockaddr *)&csin, &len), 0);
	assert_int_equal(tsor_addr_from(&cl, (struct sockaddr *)&csin, sizeof(csin)), 0);
	assert_int_equal(tsor_addr_from(&sv, (struct sockaddr *)&ssin, sizeof(ssin)), 0);

	/* The peer's OPEN for exactly that tuple, then the server's ASK. */
	tsor_xopen_encode(&cl, &sv, open);
	h = hdr(TSOR_X_OPEN, TSOR_XOPEN_SIZE, 77, TSOR_RING_MIN);
	h.flags = TSOR_XF_OPENER;
	raw_send(raw, h, open);
	relay_run(r, 20);
	assert_int_equal(tsor_relay_ask(r, 1, ssock, &sv, &cl, fds, &id, &rs), -ENOENT);
	assert_int_equal(tsor_relay_ask(r, 1, ssock, &cl, &sv, fds, &id, &rs), 0);
	assert_int_equal(rs, TSOR_RING_MIN);
	h = raw_recv(r, raw);
	assert_int_equal(h.type, TSOR_X_ACCEPTED);
	assert_true(h.stream == 77);
	assert_int_equal(h.credit, TSOR_RING_MIN);
	/* The lib's end: the fds are ours now (tsor_conn_open takes them). */
	assert_int_equal(tsor_conn_open(&conn, fds[0], &fds[1], TSOR_SIDE_ACCEPTOR, id), 0);
	assert_true(conn.relay);

	/* Peer -> lib: DATA lands in the ring. */
	h = hdr(TSOR_X_DATA, 5, 77, 0);
	h.flags = TSOR_XF_OPENER;
	raw_send(raw, h, "hello");
	relay_run(r, 20);
	iov = (struct iovec){ .iov_base = buf, .iov_len = sizeof(buf) };
	assert_int_equal(tsor_conn_recv(&conn, ssock, &iov, 1, MSG_DONTWAIT), 5);
	assert_memory_equal(buf, "hello", 5);
	/* Lib -> peer: the ring's bytes leave as DATA about stream 77. */
	memcpy(buf, "world", 5);
	iov = (struct iovec){ .iov_base = buf, .iov_len = 5 };
	assert_int_equal(tsor_conn_send(&conn, ssock, &iov, 1, MSG_DONTWAIT | MSG_NOSIGNAL), 5);
	h = raw_recv_data(r, raw, buf, sizeof(buf));
	assert_int_equal(h.type, TSOR_X_DATA);
	assert_true(h.stream == 77);
	assert_int_equal(h.flags, 0);
	assert_int_equal(h.len, 5);
	assert_memory_equal(buf, "world", 5);

	/* More than granted (the ring, 5 bytes of it used): the link drops
	 * and the kernel connection is reset under both pods. */
	memset(buf, 'x', sizeof(buf));
	h = hdr(TSOR_X_DATA, TSOR_RING_MIN - 4, 77, 0);
	h.flags = TSOR_XF_OPENER;
	tsor_xhdr_encode(&h, open); /* the first 24 bytes suffice */
	assert_int_equal(write(raw, open, TSOR_XHDR_SIZE), TSOR_XHDR_SIZE);
	assert_int_equal(write(raw, buf, h.len), (ssize_t)h.len);
	relay_run(r, 50);
	{
		uint64_t st[TSOR_STAT_COUNT] = { 0 };

		tsor_relay_stats(r, st);
		assert_int_equal(st[TSOR_STAT_PEERS_UP], 0);
		assert_int_equal(st[TSOR_STAT_STREAMS], 0);
	}
	assert_int_equal(recv(csock, &c, 1, MSG_DONTWAIT), -1);
	assert_int_equal(errno, ECONNRESET);

	tsor_conn_close(&conn);
	close(csock);
	close(ssock);
	close(lsock);
	close(raw);
	tsor_relay_free(r);
}

/* ------------------------------------------------------- verbs rings */

static void test_vring(void **state)
{
	struct tsor_vring_tx t = { .size = 4096 };
	struct tsor_vring_rx r = { .size = 4096 };
	struct tsor_vseg seg[2], one;
	bool credit;
	uint32_t n;

	(void)state;
	/* A write that fits, then one the ring's end splits in two. */
	assert_int_equal(tsor_vring_room(&t), 4096);
	assert_int_equal(tsor_vring_plan(&t, 4000, seg), 1);
	assert_int_equal(seg[0].off, 0);
	assert_int_equal(seg[0].len, 4000);
	assert_int_equal(tsor_vring_room(&t), 96);
	assert_int_equal(tsor_vring_plan(&t, 97, seg), -EINVAL); /* beyond the room */
	assert_int_equal(tsor_vring_plan(&t, 0, seg), -EINVAL);
	/* The receiver takes both immediates of the first write. */
	assert_int_equal(tsor_vring_arrive(&r, 4000, &one), 0);
	assert_int_equal(one.off, 0);
	assert_int_equal(tsor_vring_consume(&r, 4000), 0);
	assert_int_equal(tsor_vring_credit_due(&r), 4000); /* drained: at once */
	/* Credit alone does not free staging: the write must complete too. */
	assert_int_equal(tsor_vring_credit(&t, 4000), 0);
	assert_int_equal(tsor_vring_room(&t), 96);
	assert_int_equal(tsor_vring_done(&t, 4000), 0);
	assert_int_equal(tsor_vring_room(&t), 4096);
	assert_int_equal(tsor_vring_plan(&t, 200, seg), 2);
	assert_int_equal(seg[0].off, 4000);
	assert_int_equal(seg[0].len, 96);
	assert_int_equal(seg[1].off, 0);
	assert_int_equal(seg[1].len, 104);
	assert_int_equal(tsor_vring_arrive(&r, 96, &one), 0);
	assert_int_equal(one.off, 4000);
	assert_int_equal(tsor_vring_arrive(&r, 104, &one), 0);
	assert_int_equal(one.off, 0);
	assert_int_equal(tsor_vring_pending(&r, seg), 2);
	assert_int_equal(seg[0].len + seg[1].len, 200);
	/* Lazy credit: less than a quarter ring with bytes still pending is
	 * not reported. */
	assert_int_equal(tsor_vring_consume(&r, 100), 0);
	assert_int_equal(tsor_vring_credit_due(&r), 0);
	assert_int_equal(tsor_vring_consume(&r, 101), -EINVAL); /* more than arrived */
	assert_int_equal(tsor_vring_consume(&r, 100), 0);
	assert_int_equal(tsor_vring_credit_due(&r), 200);
	assert_int_equal(tsor_vring_credit_due(&r), 0);

	/* Hostile immediates. */
	r = (struct tsor_vring_rx){ .size = 4096 };
	assert_int_equal(tsor_vring_arrive(&r, 0, &one), -EPROTO);
	assert_int_equal(tsor_vring_arrive(&r, 4097, &one), -EPROTO);
	assert_int_equal(tsor_vring_arrive(&r, 4000, &one), 0);
	assert_int_equal(tsor_vring_arrive(&r, 200, &one), -EPROTO); /* over the unread bytes */
	assert_int_equal(tsor_vring_consume(&r, 4000), 0);
	assert_int_equal(tsor_vring_arrive(&r, 200, &one), -EPROTO); /* across the end */
	assert_int_equal(tsor_vring_arrive(&r, 96, &one), 0);
	t = (struct tsor_vring_tx){ .size = 4096 };
	assert_int_equal(tsor_vring_credit(&t, 1), -EPROTO); /* nothing written */
	assert_int_equal(tsor_vring_plan(&t, 10, seg), 1);
	assert_int_equal(tsor_vring_credit(&t, 11), -EPROTO);
	assert_int_equal(tsor_vring_done(&t, 11), -EPROTO);
	assert_int_equal(tsor_vring_credit(&t, 10), 0);

	/* Counters wrap around 2^32 without harm (the size divides it). */
	t = (struct tsor_vring_tx){ .size = 4096,
				    .tail = UINT32_MAX - 99,
				    .acked = UINT32_MAX - 99,
				    .done = UINT32_MAX - 99 };
	assert_int_equal(tsor_vring_room(&t), 4096);
	assert_int_equal(tsor_vring_plan(&t, 300, seg), 2); /* 2^32 - 100 is 100 before the end */
	assert_int_equal(seg[0].off, 3996);
	assert_int_equal(seg[0].len, 100);
	assert_int_equal(seg[1].len, 200);
	assert_int_equal(t.tail, 200);
	assert_int_equal(tsor_vring_room(&t), 4096 - 300);

	assert_int_equal(tsor_vimm_decode(tsor_vimm(true, 1000), 4096, &credit, &n), 0);
	assert_true(credit);
	assert_int_equal(n, 1000);
	assert_int_equal(tsor_vimm_decode(tsor_vimm(false, 4096), 4096, &credit, &n), 0);
	assert_false(credit);
	assert_int_equal(tsor_vimm_decode(tsor_vimm(false, 0), 4096, &credit, &n), -EPROTO);
	assert_int_equal(tsor_vimm_decode(tsor_vimm(true, 4097), 4096, &credit, &n), -EPROTO);
	assert_int_equal(tsor_vimm_decode(0x7fffffffu, 4096, &credit, &n), -EPROTO);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_codec_valid),  cmocka_unit_test(test_codec_hostile),
		cmocka_unit_test(test_open_payload), cmocka_unit_test(test_tcp_frames),
		cmocka_unit_test(test_tcp_hostile),  cmocka_unit_test(test_parse),
		cmocka_unit_test(test_vring),	     cmocka_unit_test(test_relay_peer),
		cmocka_unit_test(test_relay_stream),
	};

	tsor_libc_direct();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
