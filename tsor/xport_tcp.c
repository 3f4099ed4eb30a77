/* SPDX-License-Identifier: MIT */
/*
 * The TCP transport (xport.h): one TCP connection per pair of nodes, frames
 * back to back. Non-blocking both ways, so a slow or stalled peer costs
 * tsord memory (bounded by TSOR_XQUEUE_MAX, then the link is dropped),
 * never a blocked loop.
 *
 *   out: [sent | queued frames ...........]   grows by send(), drained by io()
 *   in:  [one frame being reassembled      ]   TSOR_XFRAME_MAX bytes at most
 *
 * A frame is handed to the callback only once whole and valid; its length
 * is checked from the header before a single payload byte is awaited, so a
 * peer cannot make us buffer more than one maximal frame. TCP_NODELAY:
 * frames are written whole, and a CREDIT or small DATA must not wait for
 * Nagle.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tsor-int.h"
#include "xport.h"

struct tsor_xlink {
	int fd;			     /* the TCP connection, O_NONBLOCK */
	bool connecting;	     /* connect() in progress: POLLOUT completes it */
	struct tsor_xqueue q;	     /* frames not yet sent */
	size_t in_have;		     /* bytes of in[] received */
	uint64_t tx, rx;	     /* counters */
	uint8_t in[TSOR_XFRAME_MAX]; /* the frame being received */
};

static int sockaddr_of(const struct tsor_addr *a, struct sockaddr_storage *ss, socklen_t *len)
{
	memset(ss, 0, sizeof(*ss));
	if (a->family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)ss;

		in->sin_family = AF_INET;
		in->sin_port = htons(a->port);
		memcpy(&in->sin_addr, a->addr, 4);
		*len = sizeof(*in);
		return 0;
	}
	if (a->family == AF_INET6) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(a->port);
		memcpy(&in6->sin6_addr, a->addr, 16);
		*len = sizeof(*in6);
		return 0;
	}
	return -EAFNOSUPPORT;
}

int tsor_xsock_listen(const struct tsor_addr *at, int *fd)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int s, one = 1, ret;

	ret = sockaddr_of(at, &ss, &len);
	if (ret)
		return ret;
	s = socket(at->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -errno;
	(void)setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(s, (struct sockaddr *)&ss, len) < 0 || listen(s, 64) < 0) {
		ret = -errno;
		close(s);
		return ret;
	}
	*fd = s;
	return 0;
}

int tsor_xsock_accept(int fd, int *s, struct tsor_addr *peer)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int c = accept4(fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC), ret;

	if (c < 0)
		return -errno;
	ret = tsor_addr_from(peer, (struct sockaddr *)&ss, len);
	if (ret) {
		close(c);
		return ret;
	}
	*s = c;
	return 0;
}

int tsor_xsock_connect(const struct tsor_addr *to, int *s)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int c, ret;

	ret = sockaddr_of(to, &ss, &len);
	if (ret)
		return ret;
	c = socket(to->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c < 0)
		return -errno;
	if (connect(c, (struct sockaddr *)&ss, len) < 0 && errno != EINPROGRESS) {
		ret = -errno;
		close(c);
		return ret;
	}
	*s = c;
	return 0;
}

static int link_new(int fd, bool connecting, struct tsor_xlink **out)
{
	struct tsor_xlink *l = calloc(1, sizeof(*l));
	int one = 1;

	if (!l) {
		close(fd);
		return -ENOMEM;
	}
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	/* Dead peers: a node that vanished without a FIN shows up as an error
	 * within a minute instead of never (its streams are then reset). */
	(void)setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	l->fd = fd;
	l->connecting = connecting;
	*out = l;
	return 0;
}

static int tcp_listen(const struct tsor_addr *at, int *fd)
{
	return tsor_xsock_listen(at, fd);
}

static int tcp_accept(int fd, struct tsor_xlink **out, struct tsor_addr *peer)
{
	int s = -1, ret = tsor_xsock_accept(fd, &s, peer);

	return ret ? ret : link_new(s, false, out);
}

static int tcp_connect(const struct tsor_addr *to, struct tsor_xlink **out)
{
	int s = -1, ret = tsor_xsock_connect(to, &s);

	return ret ? ret : link_new(s, true, out);
}

static int tcp_fd(const struct tsor_xlink *l)
{
	return l->fd;
}

static short tcp_events(const struct tsor_xlink *l)
{
	return (short)(POLLIN | (l->connecting || l->q.len > l->q.off ? POLLOUT : 0));
}

static size_t tcp_queued(const struct tsor_xlink *l)
{
	return tsor_xqueue_len(&l->q);
}

static int tcp_send(struct tsor_xlink *l, const struct tsor_xhdr *h, const void *payload)
{
	return tsor_xqueue_put(&l->q, h, payload);
}

static int flush(struct tsor_xlink *l)
{
	while (l->q.off < l->q.len) {
		ssize_t n = send(l->fd, l->q.buf + l->q.off, l->q.len - l->q.off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN ? 0 : -errno;
		}
		l->q.off += (size_t)n;
		l->tx += (uint64_t)n;
	}
	l->q.off = l->q.len = 0;
	return 0;
}

/* Reads what is there; hands each whole frame to fn. */
static int receive(struct tsor_xlink *l, tsor_xframe_fn *fn, void *arg)
{
	struct tsor_xhdr h;

	/* Bounded: a peer that keeps the socket full must not keep tsord
	 * here; poll() reports the rest at once. */
	for (int round = 0; round < 64; round++) {
		size_t want = TSOR_XHDR_SIZE;
		ssize_t n;
		int ret;

		if (l->in_have >= TSOR_XHDR_SIZE) {
			ret = tsor_xhdr_decode(l->in, &h);
			if (ret)
				return ret;
			want += h.len;
		}
		if (l->in_have < want) {
			n = recv(l->fd, l->in + l->in_have, want - l->in_have, MSG_DONTWAIT);
			if (n < 0)
				return errno == EAGAIN || errno == EINTR ? 0 : -errno;
			if (n == 0)
				return -ECONNRESET;
			l->in_have += (size_t)n;
			l->rx += (uint64_t)n;
			continue; /* the header may have just completed */
		}
		l->in_have = 0;
		ret = fn(arg, &h, l->in + TSOR_XHDR_SIZE);
		if (ret)
			return ret;
	}
	return 0;
}

static int tcp_io(struct tsor_xlink *l, short revents, tsor_xframe_fn *fn, void *arg)
{
	int ret;

	if (l->connecting) {
		struct pollfd q = { .fd = l->fd, .events = POLLOUT };
		int err = 0;
		socklen_t len = sizeof(err);

		/* Asked again (the caller flushes after its pumps): only the
		 * socket itself says whether the handshake is over. */
		if (!(revents & (POLLOUT | POLLERR | POLLHUP)) || poll(&q, 1, 0) != 1)
			return 0;
		if (getsockopt(l->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
			return -errno;
		if (err)
			return -err;
		l->connecting = false;
	}
	ret = flush(l);
	if (ret)
		return ret;
	if (revents & (POLLIN | POLLERR | POLLHUP)) {
		ret = receive(l, fn, arg);
		if (ret)
			return ret;
	}
	/* Frames fn queued in reply go out now, not at the next poll. */
	return flush(l);
}

static uint64_t tcp_tx(const struct tsor_xlink *l)
{
	return l->tx;
}

static uint64_t tcp_rx(const struct tsor_xlink *l)
{
	return l->rx;
}

static void tcp_close(struct tsor_xlink *l)
{
	if (!l)
		return;
	close(l->fd);
	free(l->q.buf);
	free(l);
}

const struct tsor_xport_ops tsor_xport_tcp = {
	.name = "tcp",
	.listen = tcp_listen,
	.accept = tcp_accept,
	.connect = tcp_connect,
	.fd = tcp_fd,
	.events = tcp_events,
	.send = tcp_send,
	.io = tcp_io,
	.queued = tcp_queued,
	.tx_bytes = tcp_tx,
	.rx_bytes = tcp_rx,
	.close = tcp_close,
};
