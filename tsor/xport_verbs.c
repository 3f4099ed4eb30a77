/* SPDX-License-Identifier: MIT */
/*
 * The verbs transport (xport.h, "The verbs transport"): one reliable-
 * connected queue pair per pair of nodes, the link's byte stream written
 * with RDMA_WRITE_WITH_IMM into a ring the receiver registered for it.
 * Built only when CMake finds libibverbs; it has never run: no RDMA
 * device exists on the machines this was written on (docs/tsor.md).
 *
 *   per link: QP (RC) --- CQ (send and recv) --- completion channel
 *             rx MR: the ring the peer writes into (TSOR_VERBS_RING bytes)
 *             tx MR: staging, a mirror of the peer's ring (same offsets)
 *             TCP socket: set-up (struct vinfo both ways), then liveness
 *             epoll fd: the TCP socket and the completion channel, the one
 *             fd the relay polls
 *
 * Set-up: TCP connect (or accept) -> send our vinfo -> read the peer's ->
 * QP INIT -> RTR -> RTS -> up. Data: send() appends frames to an out queue;
 * io() copies what the peer's ring has room for into staging and posts one
 * signalled WRITE_WITH_IMM per segment; recv completions carry DATA or
 * CREDIT immediates (xport_vring.c validates each), DATA bytes are copied
 * from the rx MR into a frame assembler and handed to the relay whole. A
 * recv WR is posted again for every one consumed; senders use rnr_retry 7
 * (wait for one), so a slow receiver slows the sender, never fails it.
 * Knobs: TSOR_VERBS_DEVICE (name, default the first), TSOR_VERBS_PORT
 * (default 1), TSOR_VERBS_GID (GID index, default 0; RoCE needs a GID).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <infiniband/verbs.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tsor-int.h"
#include "xport.h"

#define VERBS_RING    (4u << 20)  /* bytes of each rx ring */
#define VERBS_SEND_WR 256	  /* outstanding writes */
#define VERBS_RECV_WR 512	  /* posted receives */
#define VINFO_MAGIC   0x54535652u /* "TSVR" */

/* What each side sends the other over TCP at set-up (network order). */
struct vinfo {
	uint32_t magic;	  /* VINFO_MAGIC */
	uint32_t qpn;	  /* queue pair number */
	uint32_t psn;	  /* first packet sequence number */
	uint32_t rkey;	  /* of the rx MR */
	uint32_t addr_hi; /* of the rx MR, high 32 bits */
	uint32_t addr_lo; /* low 32 bits */
	uint32_t size;	  /* of the rx MR, a power of two */
	uint16_t lid;	  /* port LID (InfiniBand) */
	uint16_t pad;	  /* zero */
	uint8_t gid[16];  /* port GID (RoCE) */
};

_Static_assert(sizeof(struct vinfo) == 48, "vinfo is the set-up wire format");

struct tsor_xlink {
	int tcp;		       /* set-up, then liveness */
	int ep;			       /* epoll: tcp and the completion channel */
	bool connecting;	       /* TCP connect in progress */
	bool up;		       /* QP in RTS */
	struct vinfo mine, theirs;     /* set-up messages */
	size_t sent, got;	       /* bytes of them exchanged */
	struct ibv_context *ctx;       /* device */
	struct ibv_pd *pd;	       /* protection domain */
	struct ibv_comp_channel *chan; /* completion events */
	struct ibv_cq *cq;	       /* send and recv completions */
	struct ibv_qp *qp;	       /* RC */
	struct ibv_mr *rx_mr, *tx_mr;  /* our ring, our staging */
	uint8_t *rx, *tx;	       /* their memory */
	struct tsor_vring_rx rxr;      /* our ring's counters */
	struct tsor_vring_tx txr;      /* the peer's ring, as we write it */
	int inflight;		       /* posted, uncompleted sends */
	struct tsor_xqueue q;	       /* frames not yet written */
	size_t in_have;		       /* bytes of in[] assembled */
	uint64_t tx_bytes, rx_bytes;   /* counters */
	uint8_t in[TSOR_XFRAME_MAX];   /* the frame being assembled */
};

static void vclose(struct tsor_xlink *l)
{
	if (!l)
		return;
	if (l->qp)
		ibv_destroy_qp(l->qp);
	if (l->cq)
		ibv_destroy_cq(l->cq);
	if (l->chan)
		ibv_destroy_comp_channel(l->chan);
	if (l->rx_mr)
		ibv_dereg_mr(l->rx_mr);
	if (l->tx_mr)
		ibv_dereg_mr(l->tx_mr);
	if (l->pd)
		ibv_dealloc_pd(l->pd);
	if (l->ctx)
		ibv_close_device(l->ctx);
	free(l->rx);
	free(l->tx);
	free(l->q.buf);
	if (l->ep >= 0)
		close(l->ep);
	if (l->tcp >= 0)
		close(l->tcp);
	free(l);
}

static struct ibv_context *open_device(void)
{
	const char *want = getenv("TSOR_VERBS_DEVICE"); /* NOLINT(concurrency-mt-unsafe) */
	struct ibv_device **list = ibv_get_device_list(NULL);
	struct ibv_context *ctx = NULL;

	if (!list)
		return NULL;
	for (int i = 0; list[i] && !ctx; i++)
		if (!want || !*want || !strcmp(ibv_get_device_name(list[i]), want))
			ctx = ibv_open_device(list[i]);
	ibv_free_device_list(list);
	return ctx;
}

static int post_recv(struct tsor_xlink *l)
{
	struct ibv_recv_wr wr = { .wr_id = 0 }, *bad;

	/* No SGE: a WRITE_WITH_IMM places its bytes by rkey, only the
	 * immediate comes through the receive queue. */
	return ibv_post_recv(l->qp, &wr, &bad) ? -EIO : 0;
}

/* Everything but the connection: device, memory, QP in RESET. */
static int verbs_new(int tcp, bool connecting, struct tsor_xlink **out)
{
	struct ibv_qp_init_attr qa = { .qp_type = IBV_QPT_RC,
				       .cap = { .max_send_wr = VERBS_SEND_WR,
						.max_recv_wr = VERBS_RECV_WR,
						.max_send_sge = 1,
						.max_recv_sge = 1 } };
	struct ibv_port_attr pa;
	struct epoll_event ev = { .events = EPOLLIN };
	struct tsor_xlink *l = calloc(1, sizeof(*l));
	long port = tsor_env_long("TSOR_VERBS_PORT", 1, 1, 255);
	long gidx = tsor_env_long("TSOR_VERBS_GID", 0, 0, 255);
	union ibv_gid gid;
	int ret = -ENODEV, one = 1;

	if (!l) {
		close(tcp);
		return -ENOMEM;
	}
	l->tcp = tcp;
	l->connecting = connecting;
	l->ep = epoll_create1(EPOLL_CLOEXEC);
	(void)setsockopt(tcp, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	(void)setsockopt(tcp, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	if (l->ep < 0) {
		ret = -errno;
		goto err;
	}
	l->ctx = open_device();
	if (!l->ctx)
		goto err;
	ret = -ENOMEM;
	l->pd = ibv_alloc_pd(l->ctx);
	l->chan = l->pd ? ibv_create_comp_channel(l->ctx) : NULL;
	l->cq = l->chan ? ibv_create_cq(l->ctx, VERBS_SEND_WR + VERBS_RECV_WR, l, l->chan, 0)
			: NULL;
	l->rx = aligned_alloc(4096, VERBS_RING);
	l->tx = aligned_alloc(4096, VERBS_RING);
	if (!l->cq || !l->rx || !l->tx)
		goto err;
	l->rx_mr = ibv_reg_mr(l->pd, l->rx, VERBS_RING,
			      IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE);
	l->tx_mr = ibv_reg_mr(l->pd, l->tx, VERBS_RING, IBV_ACCESS_LOCAL_WRITE);
	if (!l->rx_mr || !l->tx_mr)
		goto err;
	qa.send_cq = qa.recv_cq = l->cq;
	l->qp = ibv_create_qp(l->pd, &qa);
	if (!l->qp)
		goto err;
	ret = -EIO;
	if (ibv_query_port(l->ctx, (uint8_t)port, &pa) ||
	    ibv_query_gid(l->ctx, (uint8_t)port, (int)gidx, &gid))
		goto err;
	(void)fcntl(l->chan->fd, F_SETFL, O_NONBLOCK);
	if (ibv_req_notify_cq(l->cq, 0))
		goto err;
	ev.data.fd = l->chan->fd;
	if (epoll_ctl(l->ep, EPOLL_CTL_ADD, l->chan->fd, &ev) < 0)
		goto err;
	/* Level-triggered; POLLOUT only while the set-up is being written. */
	ev.events = EPOLLIN | EPOLLOUT;
	ev.data.fd = tcp;
	if (epoll_ctl(l->ep, EPOLL_CTL_ADD, tcp, &ev) < 0)
		goto err;
	l->rxr.size = VERBS_RING;
	l->mine = (struct vinfo){ .magic = htonl(VINFO_MAGIC),
				  .qpn = htonl(l->qp->qp_num),
				  .psn = htonl((uint32_t)tsor_now_ns() & 0xffffff),
				  .rkey = htonl(l->rx_mr->rkey),
				  .size = htonl(VERBS_RING),
				  .lid = htons(pa.lid) };
	l->mine.addr_hi = htonl((uint32_t)((uint64_t)(uintptr_t)l->rx >> 32));
	l->mine.addr_lo = htonl((uint32_t)(uintptr_t)l->rx);
	memcpy(l->mine.gid, gid.raw, 16);
	*out = l;
	return 0;

err:
	vclose(l);
	return ret;
}

static uint64_t remote_addr(const struct vinfo *v)
{
	return (uint64_t)ntohl(v->addr_hi) << 32 | ntohl(v->addr_lo);
}

/* The peer's vinfo arrived: QP INIT -> RTR -> RTS, receives posted. */
static int bring_up(struct tsor_xlink *l)
{
	long port = tsor_env_long("TSOR_VERBS_PORT", 1, 1, 255);
	long gidx = tsor_env_long("TSOR_VERBS_GID", 0, 0, 255);
	uint32_t size = ntohl(l->theirs.size);
	struct ibv_qp_attr a;
	struct ibv_port_attr pa;

	if (ntohl(l->theirs.magic) != VINFO_MAGIC || size < 4096 || size > (1u << 30) ||
	    (size & (size - 1)) || size > VERBS_RING || l->theirs.pad)
		return -EPROTO;
	if (ibv_query_port(l->ctx, (uint8_t)port, &pa))
		return -EIO;
	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_INIT;
	a.port_num = (uint8_t)port;
	a.qp_access_flags = IBV_ACCESS_REMOTE_WRITE;
	if (ibv_modify_qp(l->qp, &a,
			  IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT | IBV_QP_ACCESS_FLAGS))
		return -EIO;
	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTR;
	a.path_mtu = pa.active_mtu;
	a.dest_qp_num = ntohl(l->theirs.qpn);
	a.rq_psn = ntohl(l->theirs.psn);
	a.max_dest_rd_atomic = 1;
	a.min_rnr_timer = 12;
	a.ah_attr.port_num = (uint8_t)port;
	a.ah_attr.dlid = ntohs(l->theirs.lid);
	a.ah_attr.is_global = 1;
	a.ah_attr.grh.sgid_index = (uint8_t)gidx;
	a.ah_attr.grh.hop_limit = 64;
	memcpy(a.ah_attr.grh.dgid.raw, l->theirs.gid, 16);
	if (ibv_modify_qp(l->qp, &a,
			  IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU | IBV_QP_DEST_QPN |
				  IBV_QP_RQ_PSN | IBV_QP_MAX_DEST_RD_ATOMIC | IBV_QP_MIN_RNR_TIMER))
		return -EIO;
	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTS;
	a.timeout = 14;
	a.retry_cnt = 7;
	a.rnr_retry = 7; /* wait for the receiver's posted WRs, however long */
	a.sq_psn = ntohl(l->mine.psn);
	a.max_rd_atomic = 1;
	if (ibv_modify_qp(l->qp, &a,
			  IBV_QP_STATE | IBV_QP_TIMEOUT | IBV_QP_RETRY_CNT | IBV_QP_RNR_RETRY |
				  IBV_QP_SQ_PSN | IBV_QP_MAX_QP_RD_ATOMIC))
		return -EIO;
	for (int i = 0; i < VERBS_RECV_WR; i++)
		if (post_recv(l))
			return -EIO;
	l->txr.size = size;
	l->up = true;
	return 0;
}

static int verbs_listen(const struct tsor_addr *at, int *fd)
{
	struct ibv_context *ctx = open_device();

	/* No device: refuse now, in tsord's start-up, not per link. */
	if (!ctx)
		return -ENODEV;
	ibv_close_device(ctx);
	return tsor_xsock_listen(at, fd);
}

static int verbs_accept(int fd, struct tsor_xlink **out, struct tsor_addr *peer)
{
	int s = -1, ret = tsor_xsock_accept(fd, &s, peer);

	return ret ? ret : verbs_new(s, false, out);
}

static int verbs_connect(const struct tsor_addr *to, struct tsor_xlink **out)
{
	int s = -1, ret = tsor_xsock_connect(to, &s);

	return ret ? ret : verbs_new(s, true, out);
}

static int verbs_fd(const struct tsor_xlink *l)
{
	return l->ep;
}

static short verbs_events(const struct tsor_xlink *l)
{
	(void)l;
	return POLLIN; /* the epoll fd is readable when either inside is ready */
}

static size_t verbs_queued(const struct tsor_xlink *l)
{
	return tsor_xqueue_len(&l->q);
}

static int verbs_send(struct tsor_xlink *l, const struct tsor_xhdr *h, const void *payload)
{
	return tsor_xqueue_put(&l->q, h, payload);
}

/* One signalled WRITE_WITH_IMM: seg of staging to the same offset remotely
 * (len 0: a CREDIT, no data). wr_id carries the bytes, for done. */
static int post_write(struct tsor_xlink *l, const struct tsor_vseg *seg, uint32_t imm)
{
	struct ibv_sge sge = { .addr = (uintptr_t)(l->tx + seg->off),
			       .length = seg->len,
			       .lkey = l->tx_mr->lkey };
	struct ibv_send_wr wr = { .wr_id = seg->len,
				  .sg_list = seg->len ? &sge : NULL,
				  .num_sge = seg->len ? 1 : 0,
				  .opcode = IBV_WR_RDMA_WRITE_WITH_IMM,
				  .send_flags = IBV_SEND_SIGNALED,
				  .imm_data = htonl(imm) },
			   *bad;

	wr.wr.rdma.remote_addr = remote_addr(&l->theirs) + seg->off;
	wr.wr.rdma.rkey = ntohl(l->theirs.rkey);
	if (ibv_post_send(l->qp, &wr, &bad))
		return -EIO;
	l->inflight++;
	l->tx_bytes += seg->len;
	return 0;
}

/* Out queue -> staging -> the peer's ring, as far as room and WRs allow. */
static int push(struct tsor_xlink *l)
{
	/* Two WRs for a wrapped write, and one kept for a CREDIT. */
	while (verbs_queued(l) && l->inflight + 3 <= VERBS_SEND_WR) {
		uint32_t room = tsor_vring_room(&l->txr), n;
		struct tsor_vseg seg[2];
		int k;

		if (!room)
			break;
		n = verbs_queued(l) < room ? (uint32_t)verbs_queued(l) : room;
		k = tsor_vring_plan(&l->txr, n, seg);
		if (k < 0)
			return k;
		for (int i = 0, done = 0; i < k; done += (int)seg[i].len, i++) {
			memcpy(l->tx + seg[i].off, l->q.buf + l->q.off + done, seg[i].len);
			if (post_write(l, &seg[i], tsor_vimm(false, seg[i].len)))
				return -EIO;
		}
		l->q.off += n;
	}
	return 0;
}

/* Arrived ring bytes -> frames -> fn; then any CREDIT due. */
static int deliver(struct tsor_xlink *l, tsor_xframe_fn *fn, void *arg)
{
	struct tsor_vseg seg[2], c;
	struct tsor_xhdr h;
	uint32_t credit;
	int ret;

	for (;;) {
		size_t want = TSOR_XHDR_SIZE, take;
		int k;

		if (l->in_have >= TSOR_XHDR_SIZE) {
			ret = tsor_xhdr_decode(l->in, &h);
			if (ret)
				return ret;
			want += h.len;
		}
		if (l->in_have == want) {
			l->in_have = 0;
			ret = fn(arg, &h, l->in + TSOR_XHDR_SIZE);
			if (ret)
				return ret;
			continue;
		}
		k = tsor_vring_pending(&l->rxr, seg);
		if (!k)
			break;
		/* Copied out before parsing: the peer may still write there. */
		take = want - l->in_have < seg[0].len ? want - l->in_have : seg[0].len;
		memcpy(l->in + l->in_have, l->rx + seg[0].off, take);
		l->in_have += take;
		(void)tsor_vring_consume(&l->rxr, (uint32_t)take);
	}
	/* No send WR left: the CREDIT goes after the next completion. */
	credit = l->inflight < VERBS_SEND_WR ? tsor_vring_credit_due(&l->rxr) : 0;
	if (credit) {
		c = (struct tsor_vseg){ 0 };
		return post_write(l, &c, tsor_vimm(true, credit));
	}
	return 0;
}

static int completions(struct tsor_xlink *l)
{
	struct ibv_cq *cq;
	void *ctx;
	struct ibv_wc wc[32];
	int n;

	/* Non-blocking channel: EAGAIN means no event, which is fine. */
	while (ibv_get_cq_event(l->chan, &cq, &ctx) == 0) {
		ibv_ack_cq_events(cq, 1);
		if (ibv_req_notify_cq(l->cq, 0))
			return -EIO;
	}
	while ((n = ibv_poll_cq(l->cq, 32, wc)) > 0) {
		for (int i = 0; i < n; i++) {
			struct tsor_vseg seg;
			bool credit;
			uint32_t len;

			if (wc[i].status != IBV_WC_SUCCESS)
				return -ECONNRESET;
			if (wc[i].opcode == IBV_WC_RDMA_WRITE) {
				l->inflight--;
				if (tsor_vring_done(&l->txr, (uint32_t)wc[i].wr_id))
					return -EPROTO;
				continue;
			}
			if (wc[i].opcode != IBV_WC_RECV_RDMA_WITH_IMM ||
			    !(wc[i].wc_flags & IBV_WC_WITH_IMM))
				return -EPROTO;
			if (post_recv(l))
				return -EIO;
			if (tsor_vimm_decode(ntohl(wc[i].imm_data),
					     l->txr.size > l->rxr.size ? l->txr.size : l->rxr.size,
					     &credit, &len))
				return -EPROTO;
			if (credit ? tsor_vring_credit(&l->txr, len)
				   : tsor_vring_arrive(&l->rxr, len, &seg))
				return -EPROTO;
			if (!credit)
				l->rx_bytes += len;
		}
	}
	return n < 0 ? -EIO : 0;
}

/* Set-up over TCP: our vinfo out, theirs in, then the QP. */
static int setup(struct tsor_xlink *l)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = l->tcp };
	ssize_t n;

	if (l->connecting) {
		struct pollfd q = { .fd = l->tcp, .events = POLLOUT };
		int err = 0;
		socklen_t len = sizeof(err);

		if (poll(&q, 1, 0) != 1)
			return 0;
		if (getsockopt(l->tcp, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err)
			return err ? -err : -errno;
		l->connecting = false;
	}
	while (l->sent < sizeof(l->mine)) {
		n = send(l->tcp, (uint8_t *)&l->mine + l->sent, sizeof(l->mine) - l->sent,
			 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0)
			return errno == EAGAIN ? 0 : -errno;
		l->sent += (size_t)n;
	}
	(void)epoll_ctl(l->ep, EPOLL_CTL_MOD, l->tcp, &ev); /* written: no POLLOUT */
	while (l->got < sizeof(l->theirs)) {
		n = recv(l->tcp, (uint8_t *)&l->theirs + l->got, sizeof(l->theirs) - l->got,
			 MSG_DONTWAIT);
		if (n == 0)
			return -ECONNRESET;
		if (n < 0)
			return errno == EAGAIN ? 0 : -errno;
		l->got += (size_t)n;
	}
	return bring_up(l);
}

static int verbs_io(struct tsor_xlink *l, short revents, tsor_xframe_fn *fn, void *arg)
{
	uint8_t b;
	ssize_t n;
	int ret;

	(void)revents;
	if (!l->up) {
		ret = setup(l);
		if (ret || !l->up)
			return ret;
	}
	/* After set-up the TCP connection carries nothing: data is a
	 * protocol error, EOF the peer's end. */
	n = recv(l->tcp, &b, 1, MSG_DONTWAIT);
	if (n == 0)
		return -ECONNRESET;
	if (n > 0)
		return -EPROTO;
	if (errno != EAGAIN)
		return -errno;
	ret = completions(l);
	if (!ret)
		ret = deliver(l, fn, arg);
	if (!ret)
		ret = push(l);
	return ret;
}

static uint64_t verbs_tx(const struct tsor_xlink *l)
{
	return l->tx_bytes;
}

static uint64_t verbs_rx(const struct tsor_xlink *l)
{
	return l->rx_bytes;
}

const struct tsor_xport_ops tsor_xport_verbs = {
	.name = "verbs",
	.listen = verbs_listen,
	.accept = verbs_accept,
	.connect = verbs_connect,
	.fd = verbs_fd,
	.events = verbs_events,
	.send = verbs_send,
	.io = verbs_io,
	.queued = verbs_queued,
	.tx_bytes = verbs_tx,
	.rx_bytes = verbs_rx,
	.close = vclose,
};
