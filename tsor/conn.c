/* SPDX-License-Identifier: MIT */
/*
 * One accelerated connection's data path: copies between the application's
 * buffers and the rings, EOF and peer-death detection, and the
 * spin-then-sleep wait. The readiness rules are in tsor-int.h, the channel
 * layout and flags in abi.h.
 *
 * Waiting. A blocked call spins on the ring (memory loads only) for up to
 * spin_ns (adaptive, see tsor_spin_budget()), because a sleep and wake-up costs ~60 us on these
 * machines against < 1 us for a spinning hand-off; then it arms the ring's sleep flag
 * (ring_arm_wait(): flag, full fence, re-check) and sleeps in the real
 * poll() on [kernel socket, the bell of each direction waited for]. The
 * peer's ring wakes us through that bell only when the flag is set; the
 * kernel socket wakes us on FIN/RST. A bell is a pipe we re-opened into a
 * private non-blocking description (bell_take(), abi.h "Bells are pipes"):
 * a wake-up is one byte, a full pipe EAGAIN (ignored), and a waiter drains
 * it with non-blocking reads until EAGAIN. A reader and a writer thread of one
 * connection sleep on different bells, so neither drains the other's
 * wake-up. Each sleep is capped at WAIT_SLICE_MS and followed by a
 * re-check, so even two waiters in one direction (two threads reading one
 * socket), where one may take the other's wake-up, cost a bounded delay,
 * never a hang. Every sleep is bracketed by tsor_conn_wait_begin()/_end(),
 * which count this process's sleepers per direction; the last one to wake
 * clears the ring's flag (ring_disarm()), so that the peer stops ringing
 * the bell (a syscall on each side per message) while nobody sleeps.
 *
 * EOF. The ring is empty and either the peer's shut_wr flag is set (it
 * shut down writing after its last write, so a re-check of the ring after
 * seeing the flag sees every byte) or the kernel socket has shown FIN. The
 * peer's writes precede its shutdown()/exit, which precede the FIN, so
 * after seeing either we re-check the ring once before reporting EOF.
 *
 * Confirmation. A connector is UNCONFIRMED until tsord's match (accepted,
 * and its rx bell rung). A blocking first data call waits for it, at most
 * confirm_ns; a non-blocking one gets EAGAIN and poll/epoll hide POLLOUT
 * (tsor_conn_poll_mask()) until the match or confirm_ns after connect(),
 * when the next look cancels the intent without waiting. The wait polls
 * the socket instead of peeking it, so a pending error (a refused connect)
 * stays for the application.
 *
 * Peer death. A kernel FIN without the peer's shut_wr flag means the peer
 * closed or died: writes then fail with EPIPE (and SIGPIPE unless
 * MSG_NOSIGNAL), as kernel TCP does once the peer's RST came back.
 *
 * Relayed channels (c->relay: the other end is our node's tsord, which
 * carries the bytes to another node, xport.h) follow the same rules: that
 * tsord holds a dup of the kernel socket, so the peer's kernel FIN cannot
 * overtake the relayed bytes (it goes only after the FIN_ACK), and a
 * failed relay resets the kernel connection, which reads here as death.
 * Only our own shutdown(SHUT_WR) differs: it must not send the kernel FIN
 * early (tsor_conn_shutdown()).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "compiler.h"
#include "tsor-int.h"

#define WAIT_SLICE_MS	   100
#define CONFIRM_SLICE_MS   10
#define SPIN_US_DEFAULT	   50
#define CONFIRM_MS_DEFAULT 200

/* Set once by tsor_conn_tune() (libtsor.so's init); the defaults elsewhere. */
static uint64_t tune_spin_ns = (uint64_t)SPIN_US_DEFAULT * 1000u;
static uint64_t tune_confirm_ns = (uint64_t)CONFIRM_MS_DEFAULT * 1000000u;

uint64_t tsor_conn_tune(bool spin)
{
	tune_spin_ns = spin ? (uint64_t)tsor_env_long("TSOR_SPIN_US", SPIN_US_DEFAULT, 0,
						      TSOR_SPIN_US_MAX) *
				       1000u
			    : 0;
	tune_confirm_ns =
		(uint64_t)tsor_env_long("TSOR_CONFIRM_MS", CONFIRM_MS_DEFAULT, 1, 60000) * 1000000u;
	return tune_spin_ns;
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__asm__ __volatile__("pause" ::: "memory");
#else
	atomic_signal_fence(memory_order_seq_cst);
#endif
}

/*
 * Turns a bell received from tsord (a pipe's read end, abi.h) into a
 * private descriptor of the same pipe: open("/proc/self/fd/N") makes a new
 * open file description, so no other process can clear its O_NONBLOCK, and
 * a full pipe only ever gives us EAGAIN. O_RDWR, for both our own bells and
 * the peer's: a pipe we hold a write end of never shows POLLHUP/EOF to our
 * sleeps when the peer is gone, and never makes our wake-ups raise SIGPIPE
 * (EPIPE needs no reader left, and we are one). Closes fd. New fd or -errno.
 */
static int bell_take(int fd)
{
	char path[32];
	struct stat st;
	int fl, nfd;

	fl = tsor__libc.fcntl(fd, F_GETFL);
	if (fstat(fd, &st) < 0 || !S_ISFIFO(st.st_mode) || fl < 0 || (fl & O_ACCMODE) != O_RDONLY)
		nfd = -EPROTO; /* not what tsord hands out: refuse the channel */
	else {
		(void)snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		nfd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
		nfd = nfd < 0 ? -errno : tsor_fd_hide(nfd);
	}
	tsor__libc.close(fd);
	return nfd;
}

int tsor_conn_open(struct tsor_conn *c, int memfd, const int bells[TSOR_BELLS], int side,
		   uint64_t id)
{
	int own[TSOR_BELLS];

	size_t rlen;
	char *c2s, *s2c;
	int ret;

	memset(c, 0, sizeof(*c));
	for (int i = 0; i < TSOR_BELLS; i++)
		own[i] = -1;
	ret = 0;
	for (int i = 0; i < TSOR_BELLS; i++) {
		own[i] = bell_take(bells[i]);
		if (own[i] < 0 && !ret)
			ret = own[i];
	}
	if (ret)
		goto err_close;
	ret = tsor_chan_map(memfd, &c->map);
	if (ret)
		goto err_close;
	rlen = RING_REGION_SIZE(c->map.ring_size);
	c2s = (char *)c->map.base + TSOR_CHAN_HDR;
	s2c = c2s + rlen;
	ret = ring_attach(&c->tx, side == TSOR_SIDE_CONNECTOR ? c2s : s2c, rlen, RING_PRODUCER);
	if (!ret)
		ret = ring_attach(&c->rx, side == TSOR_SIDE_CONNECTOR ? s2c : c2s, rlen,
				  RING_CONSUMER);
	if (ret)
		goto err_unmap;
	c->side = side;
	for (int d = TSOR_RX; d <= TSOR_TX; d++) {
		c->bell[d] = own[TSOR_BELL(side, d)];
		c->peer_bell[d] = own[TSOR_BELL(1 - side, d)];
	}
	/* Producing wakes the peer's reader; consuming, the peer's writer. */
	ring_set_wake_fd(&c->tx, c->peer_bell[TSOR_RX]);
	ring_set_wake_fd(&c->rx, c->peer_bell[TSOR_TX]);
	c->id = id;
	/* Read once: tsord wrote it before handing out the channel. */
	c->relay = c->map.hdr->relay != 0;
	atomic_store(&c->state,
		     side == TSOR_SIDE_CONNECTOR ? TSOR_CONN_UNCONFIRMED : TSOR_CONN_OPEN);
	c->spin_ns = tune_spin_ns;
	c->confirm_ns = tune_confirm_ns;
	c->rcvtimeo_ms = -1;
	c->sndtimeo_ms = -1;
	c->born_ns = tsor_now_ns();
	c->sock = -1;
	pthread_mutex_init(&c->tx_lock, NULL);
	pthread_mutex_init(&c->rx_lock, NULL);
	pthread_mutex_init(&c->wait_lock, NULL);
	tsor__libc.close(memfd);
	return 0;

err_unmap:
	tsor_chan_unmap(&c->map);
err_close:
	tsor__libc.close(memfd);
	for (int i = 0; i < TSOR_BELLS; i++)
		if (own[i] >= 0)
			tsor__libc.close(own[i]);
	return ret;
}

int tsor_conn_own_sock(struct tsor_conn *c, int fd)
{
	int d = tsor__libc.fcntl(fd, F_DUPFD_CLOEXEC, 0);

	if (d < 0)
		return -errno;
	c->sock = tsor_fd_hide(d);
	return 0;
}

/* The socket our own polls and peeks use (see tsor_conn_own_sock()). */
static int ksock(const struct tsor_conn *c, int fd)
{
	return c->sock >= 0 ? c->sock : fd;
}

void tsor_conn_close(struct tsor_conn *c)
{
	if (c->sock >= 0)
		tsor__libc.close(c->sock);
	tsor_chan_unmap(&c->map);
	for (int d = TSOR_RX; d <= TSOR_TX; d++) {
		tsor__libc.close(c->bell[d]);
		tsor__libc.close(c->peer_bell[d]);
	}
	pthread_mutex_destroy(&c->tx_lock);
	pthread_mutex_destroy(&c->rx_lock);
	pthread_mutex_destroy(&c->wait_lock);
}

static bool peer_shut(const struct tsor_conn *c)
{
	/* Acquire: pairs with the peer's release store in its shutdown; its
	 * ring writes before the flag are then visible to our re-check. */
	return atomic_load_explicit(&c->map.hdr->shut_wr[1 - c->side], memory_order_acquire) != 0;
}

/* The peer closed or died: FIN without a voluntary shutdown, or an error. */
static bool peer_gone(const struct tsor_conn *c)
{
	return (atomic_load(&c->kernel_fin) && !peer_shut(c)) ||
	       (atomic_load(&c->kernel_ev) & POLLERR);
}

void tsor_conn_kernel(struct tsor_conn *c, short revents)
{
	if (revents & (POLLIN | POLLRDHUP | POLLHUP | POLLERR))
		atomic_store(&c->kernel_fin, true);
	if (revents & (POLLHUP | POLLERR))
		atomic_fetch_or(&c->kernel_ev, (short)(revents & (POLLHUP | POLLERR)));
}

/* One non-blocking look at the kernel socket; true when it showed something. */
static bool kernel_check(struct tsor_conn *c, int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN | POLLRDHUP };

	if (tsor__libc.poll(&p, 1, 0) == 1 && p.revents) {
		tsor_conn_kernel(c, p.revents);
		return true;
	}
	return false;
}

/* Empties a bell: one byte per wake-up, so read until EAGAIN (it is ours
 * and non-blocking, see bell_take()). */
static void drain_fd(int fd)
{
	char buf[256];

	/* Bounded: a peer writing as fast as we read must not keep us here;
	 * whatever is left wakes the next poll() at once, which is harmless. */
	for (int i = 0; i < 64; i++)
		if (tsor__libc.read(fd, buf, sizeof(buf)) != (ssize_t)sizeof(buf))
			break;
}

void tsor_conn_drain_bell(struct tsor_conn *c, int dir)
{
	drain_fd(c->bell[dir]);
}

void tsor_conn_drain_fd(int fd)
{
	drain_fd(fd);
}

/* UNCONFIRMED -> OPEN once tsord's match is visible; the current state. */
static int state_now(struct tsor_conn *c)
{
	int st = atomic_load(&c->state);

	/* Acquire: pairs with tsord's release store of accepted after the
	 * match; nothing else is published through it, it is a decision. */
	if (st == TSOR_CONN_UNCONFIRMED &&
	    atomic_load_explicit(&c->map.hdr->accepted, memory_order_acquire)) {
		atomic_store(&c->state, TSOR_CONN_OPEN);
		st = TSOR_CONN_OPEN;
	}
	return st;
}

int tsor_conn_ready(struct tsor_conn *c, short events, short *revents)
{
	short r = 0;
	ssize_t rd, wr;
	bool shut, eof;

	*revents = 0;
	if (state_now(c) != TSOR_CONN_OPEN)
		return -EXDEV;
	shut = peer_shut(c);
	eof = shut || atomic_load(&c->kernel_fin) || atomic_load(&c->rd_shut);
	if (events & (POLLIN | POLLRDNORM)) {
		rd = ring_readable(&c->rx);
		if (rd != 0 || eof)
			r = (short)(r | (events & (POLLIN | POLLRDNORM)));
		if (rd < 0)
			r |= POLLERR;
	}
	if ((events & POLLRDHUP) && (shut || atomic_load(&c->kernel_fin)))
		r |= POLLRDHUP;
	if (events & (POLLOUT | POLLWRNORM)) {
		wr = atomic_load(&c->wr_shut) || peer_gone(c) ? 1 : ring_writable(&c->tx);
		if (wr != 0)
			r = (short)(r | (events & (POLLOUT | POLLWRNORM)));
		if (wr < 0)
			r |= POLLERR;
	}
	r = (short)(r | (atomic_load(&c->kernel_ev) & (POLLHUP | POLLERR)));
	*revents = r;
	return 0;
}

int tsor_conn_arm(struct tsor_conn *c, short events, short *revents)
{
	if (state_now(c) != TSOR_CONN_OPEN) {
		*revents = 0;
		return -EXDEV;
	}
	/* Errors (a lying peer) show up in the readiness check below. */
	if (events & (POLLIN | POLLRDNORM))
		(void)ring_arm_wait(&c->rx);
	if (events & (POLLOUT | POLLWRNORM))
		(void)ring_arm_wait(&c->tx);
	return tsor_conn_ready(c, events, revents);
}

/* The rings whose sleep flags `events` arm, as a mask: 1 rx, 2 tx. */
static unsigned wait_dirs(short events)
{
	return ((events & (POLLIN | POLLRDNORM)) ? 1u << TSOR_RX : 0) |
	       ((events & (POLLOUT | POLLWRNORM)) ? 1u << TSOR_TX : 0);
}

void tsor_conn_wait_begin(struct tsor_conn *c, short events)
{
	unsigned dirs = wait_dirs(events);

	/* Under wait_lock, so that a last waiter's disarm below and a new
	 * waiter's count and arm are ordered: the arm always comes last. */
	pthread_mutex_lock(&c->wait_lock);
	for (int d = TSOR_RX; d <= TSOR_TX; d++)
		if (dirs & (1u << d))
			c->waiters[d]++;
	pthread_mutex_unlock(&c->wait_lock);
}

void tsor_conn_wait_end(struct tsor_conn *c, short events)
{
	unsigned dirs = wait_dirs(events);

	pthread_mutex_lock(&c->wait_lock);
	for (int d = TSOR_RX; d <= TSOR_TX; d++)
		if ((dirs & (1u << d)) && --c->waiters[d] == 0)
			/* Nobody of ours sleeps on this bell any more: an
			 * awake, busy process must not cost its peer a pipe
			 * write (and itself a drain) per message. */
			ring_disarm(d == TSOR_RX ? &c->rx : &c->tx);
	pthread_mutex_unlock(&c->wait_lock);
}

ssize_t tsor_conn_nread(struct tsor_conn *c)
{
	ssize_t n;

	if (state_now(c) != TSOR_CONN_OPEN)
		return -EXDEV;
	n = ring_readable(&c->rx);
	return n < 0 ? 0 : n;
}

bool tsor_sig_wrapping;
/* Per thread, since a signal interrupts the sleep of the thread it is
 * delivered to; initial-exec, because a handler must not allocate TLS. */
static __thread bool sig_eintr __attribute__((tls_model("initial-exec")));

void tsor_sig_note(bool restart)
{
	if (!restart)
		sig_eintr = true;
}

/*
 * Whether a sleep that poll() ended with EINTR goes on, as the kernel's
 * socket calls do (sock_intr_errno()): only without a timeout on the
 * socket (deadline_ns), and only if no handler without SA_RESTART ran.
 * When none of the wrapped handlers ran, the signal had one sigwrap.c
 * cannot see (glibc's own have SA_RESTART): restart too.
 */
static bool sig_restart(uint64_t deadline_ns)
{
	return tsor_sig_wrapping && !deadline_ns && !sig_eintr;
}

/*
 * Spins, then sleeps until `ev` may be ready or the kernel socket shows
 * something or deadline_ns (0 = none) passes. Returns 0 to re-check,
 * -ETIMEDOUT or -EINTR (a signal, when the kernel would not have
 * restarted the call).
 */
static int conn_wait(struct tsor_conn *c, int fd, short ev, uint64_t deadline_ns)
{
	uint64_t now = tsor_now_ns(), last = now, spin_end = now + tsor_spin_budget(c->spin_ns);
	struct pollfd p[3];
	nfds_t n = 1;
	short rev;
	int tmo, ret;

	for (uint32_t i = 1;; i++) {
		if (tsor_conn_ready(c, ev, &rev) || rev) {
			tsor_spin_result(c->spin_ns, true);
			return 0;
		}
		if (!tsor_spin_step(&last, spin_end))
			break;
		if ((i & 1023) == 0)
			sched_yield(); /* a peer sharing our vCPU gets to run */
		else
			cpu_relax();
	}
	tsor_spin_result(c->spin_ns, false);
	tsor_conn_wait_begin(c, ev);
	ret = 0;
	if (tsor_conn_arm(c, ev, &rev) || rev)
		goto out_end;
	now = tsor_now_ns();
	if (deadline_ns && now >= deadline_ns) {
		ret = -ETIMEDOUT;
		goto out_end;
	}
	tmo = WAIT_SLICE_MS;
	if (deadline_ns && (deadline_ns - now) / 1000000u < (uint64_t)tmo)
		tmo = (int)((deadline_ns - now) / 1000000u) + 1;
	/* Only the bells of the directions we wait for: another thread of
	 * ours may be asleep on the other one, and its wake-up is not ours to
	 * drain. */
	p[0] = (struct pollfd){ .fd = fd, .events = POLLIN | POLLRDHUP };
	if (ev & (POLLIN | POLLRDNORM))
		p[n++] = (struct pollfd){ .fd = c->bell[TSOR_RX], .events = POLLIN };
	if (ev & (POLLOUT | POLLWRNORM))
		p[n++] = (struct pollfd){ .fd = c->bell[TSOR_TX], .events = POLLIN };
	sig_eintr = false;
	if (tsor__libc.poll(p, n, tmo) < 0) {
		ret = -errno;
		if (ret == -EINTR && sig_restart(deadline_ns))
			ret = 0; /* re-check, then sleep again */
		goto out_end;
	}
	if (p[0].revents)
		tsor_conn_kernel(c, p[0].revents);
	for (nfds_t i = 1; i < n; i++)
		if (p[i].revents)
			drain_fd(p[i].fd);
out_end:
	tsor_conn_wait_end(c, ev);
	return ret;
}

/*
 * Whether the kernel socket already says the server is not on the ring:
 * data from a plain server speaking first, its EOF, or an error (refused,
 * reset). poll(), not recv(MSG_PEEK): a peek consumes a pending socket
 * error (sock_error() clears sk_err), which the application must still get
 * from SO_ERROR or from its next call on the kernel path.
 */
static bool kernel_plain(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return tsor__libc.poll(&p, 1, 0) == 1 && (p.revents & (POLLIN | POLLERR | POLLHUP));
}

uint64_t tsor_conn_confirm_deadline(const struct tsor_conn *c)
{
	return c->born_ns + c->confirm_ns;
}

int tsor_conn_confirm(struct tsor_conn *c, int fd, bool nonblock)
{
	uint64_t deadline = tsor_conn_confirm_deadline(c), now = tsor_now_ns();
	int ret;

	fd = ksock(c, fd); /* the library's own polls: never the app's number */

	/* A blocking caller may wait its full bound from now, as before: a
	 * server that accepts late (a busy loop, a backlog) is still met on
	 * the ring. Only a non-blocking one goes by the connect() deadline,
	 * because nothing else wakes its poll() to decide. */
	if (!nonblock && deadline < now + c->confirm_ns)
		deadline = now + c->confirm_ns;

	for (;;) {
		struct pollfd p[2] = { { .fd = fd, .events = POLLIN },
				       { .fd = c->bell[TSOR_RX], .events = POLLIN } };
		int ms;

		if (state_now(c) != TSOR_CONN_UNCONFIRMED)
			return 0;
		if (kernel_plain(fd))
			break;
		now = tsor_now_ns();
		if (now >= deadline)
			break;
		/* A non-blocking socket never waits for tsord: the caller
		 * says EAGAIN, and poll/epoll report it writable once the
		 * match (the rx bell) or the deadline comes. */
		if (nonblock)
			return -EAGAIN;
		ms = (int)((deadline - now) / 1000000u) + 1;
		if (ms > CONFIRM_SLICE_MS)
			ms = CONFIRM_SLICE_MS;
		if (tsor__libc.poll(p, 2, ms) < 0 && errno != EINTR)
			return -errno;
		if (p[1].revents)
			tsor_conn_drain_bell(c, TSOR_RX);
	}
	ret = c->cancel ? c->cancel(c->id) : -ENOTCONN;
	/* 0: tsord dropped the intent, no acceptor will ever get the channel.
	 * Otherwise (matched meanwhile, or tsord unreachable) the accepted
	 * flag, set by tsord before any acceptor could use the ring, decides. */
	if (ret == 0 || !atomic_load_explicit(&c->map.hdr->accepted, memory_order_acquire))
		atomic_store(&c->state, TSOR_CONN_PLAIN);
	else
		atomic_store(&c->state, TSOR_CONN_OPEN);
	return 0;
}

short tsor_conn_poll_mask(struct tsor_conn *c, int fd)
{
	if (state_now(c) != TSOR_CONN_UNCONFIRMED)
		return (short)~0;
	/* Memory and the vDSO clock only until the deadline: the kernel's
	 * own answer (data, error) reaches the application, whose next call
	 * then settles the connection. */
	if (tsor_now_ns() >= tsor_conn_confirm_deadline(c)) {
		(void)tsor_conn_confirm(c, fd, true);
		if (state_now(c) != TSOR_CONN_UNCONFIRMED)
			return (short)~0;
	}
	return (short)~(POLLOUT | POLLWRNORM | POLLWRBAND);
}

int tsor_conn_confirm_ms(const struct tsor_conn *c)
{
	uint64_t now = tsor_now_ns(), d = tsor_conn_confirm_deadline(c);

	if (atomic_load(&c->state) != TSOR_CONN_UNCONFIRMED)
		return -1;
	return now >= d ? 0 : (int)((d - now) / 1000000u) + 1;
}

static int ensure_open(struct tsor_conn *c, int fd, bool nonblock)
{
	int ret;

	if (state_now(c) == TSOR_CONN_UNCONFIRMED) {
		ret = tsor_conn_confirm(c, fd, nonblock);
		if (ret)
			return ret;
	}
	return state_now(c) == TSOR_CONN_OPEN ? 0 : -EXDEV;
}

static uint64_t deadline_of(int timeo_ms)
{
	return timeo_ms > 0 ? tsor_now_ns() + (uint64_t)timeo_ms * 1000000u : 0;
}

static size_t iov_total(const struct iovec *iov, int iovcnt)
{
	size_t t = 0;

	for (int i = 0; i < iovcnt; i++) {
		if (iov[i].iov_len > SSIZE_MAX - t)
			return SSIZE_MAX;
		t += iov[i].iov_len;
	}
	return t;
}

/* Reads (or peeks) into iov starting `skip` bytes in. Bytes or -EPROTO. */
static ssize_t rx_copy(struct tsor_conn *c, const struct iovec *iov, int iovcnt, size_t skip,
		       bool peek)
{
	size_t done = 0;

	if (peek) {
		/* ring_peek copies from the head, so peek into one buffer and
		 * scatter; MSG_PEEK is rare and this keeps the ring API small. */
		size_t want = iov_total(iov, iovcnt) - skip, off = 0;
		ssize_t n;
		char *tmp;

		if (want > c->map.ring_size)
			want = c->map.ring_size;
		tmp = malloc(want ? want : 1);
		if (!tmp)
			return -ENOMEM;
		n = ring_peek(&c->rx, tmp, want);
		for (int i = 0; n > 0 && i < iovcnt && off < (size_t)n; i++) {
			size_t len = iov[i].iov_len, k;

			if (skip >= len) {
				skip -= len;
				continue;
			}
			k = len - skip < (size_t)n - off ? len - skip : (size_t)n - off;
			memcpy((char *)iov[i].iov_base + skip, tmp + off, k);
			off += k;
			skip = 0;
		}
		free(tmp);
		return n;
	}
	for (int i = 0; i < iovcnt; i++) {
		size_t len = iov[i].iov_len;
		ssize_t n;

		if (skip >= len) {
			skip -= len;
			continue;
		}
		n = ring_read(&c->rx, (char *)iov[i].iov_base + skip, len - skip);
		if (n < 0)
			return n;
		done += (size_t)n;
		if ((size_t)n < len - skip)
			break;
		skip = 0;
	}
	return (ssize_t)done;
}

ssize_t tsor_conn_recv(struct tsor_conn *c, int fd, const struct iovec *iov, int iovcnt, int flags)
{
	bool nonblock = atomic_load(&c->nonblock) || (flags & MSG_DONTWAIT);
	bool peek = flags & MSG_PEEK, waitall = (flags & MSG_WAITALL) && !peek;
	uint64_t deadline;
	size_t total, done = 0;
	bool eof = false;
	ssize_t n, ret;

	fd = ksock(c, fd); /* the library's own polls: never the app's number */
	ret = ensure_open(c, fd, nonblock);
	if (ret)
		return ret;
	total = iov_total(iov, iovcnt);
	if (total == 0)
		return 0;
	deadline = deadline_of(c->rcvtimeo_ms);
	pthread_mutex_lock(&c->rx_lock);
	for (;;) {
		if (atomic_load(&c->rd_shut))
			break;
		n = rx_copy(c, iov, iovcnt, done, peek);
		if (n < 0) {
			/* The peer broke the ring's invariants: a reset. */
			ret = n == -ENOMEM ? n : -ECONNRESET;
			break;
		}
		done += (size_t)n;
		if (done == total || (done && !waitall))
			break;
		if (eof)
			break; /* the ring was re-checked after EOF: all drained */
		if (peer_shut(c) || atomic_load(&c->kernel_fin)) {
			eof = true;
			continue;
		}
		if (nonblock || done) {
			/* Only a syscall tells a dead peer from a quiet one. */
			if (kernel_check(c, fd)) {
				eof = atomic_load(&c->kernel_fin);
				continue;
			}
			if (nonblock) {
				if (!done)
					ret = -EAGAIN;
				break;
			}
		}
		ret = conn_wait(c, fd, POLLIN, deadline);
		if (ret == -ETIMEDOUT)
			ret = -EAGAIN; /* SO_RCVTIMEO expiry reads as EAGAIN */
		if (ret)
			break;
	}
	pthread_mutex_unlock(&c->rx_lock);
	if (done)
		return (ssize_t)done;
	return ret;
}

static ssize_t epipe(int flags)
{
	if (!(flags & MSG_NOSIGNAL))
		raise(SIGPIPE);
	return -EPIPE;
}

ssize_t tsor_conn_send(struct tsor_conn *c, int fd, const struct iovec *iov, int iovcnt, int flags)
{
	bool nonblock = atomic_load(&c->nonblock) || (flags & MSG_DONTWAIT);
	uint64_t deadline;
	size_t total, done = 0;
	ssize_t ret;

	fd = ksock(c, fd); /* the library's own polls: never the app's number */
	ret = ensure_open(c, fd, nonblock);
	if (ret)
		return ret;
	if (atomic_load(&c->wr_shut))
		return epipe(flags);
	total = iov_total(iov, iovcnt);
	if (total == 0)
		return 0;
	deadline = deadline_of(c->sndtimeo_ms);
	pthread_mutex_lock(&c->tx_lock);
	for (;;) {
		size_t skip = done, before = done;

		if (peer_gone(c)) {
			ret = -EPIPE;
			break;
		}
		for (int i = 0; i < iovcnt; i++) {
			size_t len = iov[i].iov_len;
			ssize_t n;

			if (skip >= len) {
				skip -= len;
				continue;
			}
			n = ring_write(&c->tx, (const char *)iov[i].iov_base + skip, len - skip);
			if (n < 0) {
				ret = -ECONNRESET;
				goto out;
			}
			done += (size_t)n;
			if ((size_t)n < len - skip)
				break;
			skip = 0;
		}
		c->bytes_sent += done - before;
		if (done == total)
			break;
		if (done > before)
			continue; /* the reader made room meanwhile: try again */
		if (nonblock) {
			/* Full: before EAGAIN, make sure the reader still lives. */
			if (kernel_check(c, fd) && peer_gone(c))
				ret = -EPIPE;
			else if (!done)
				ret = -EAGAIN;
			break;
		}
		ret = conn_wait(c, fd, POLLOUT, deadline);
		if (ret == -ETIMEDOUT)
			ret = -EAGAIN;
		if (ret)
			break;
	}
out:
	pthread_mutex_unlock(&c->tx_lock);
	if (done)
		return (ssize_t)done;
	return ret == -EPIPE ? epipe(flags) : ret;
}

int tsor_conn_shutdown(struct tsor_conn *c, int fd, int how)
{
	if (how != SHUT_RD && how != SHUT_WR && how != SHUT_RDWR)
		return -EINVAL;
	if (how != SHUT_RD && state_now(c) != TSOR_CONN_PLAIN) {
		atomic_store(&c->wr_shut, true);
		/* Release: our ring writes happen before the flag (abi.h). */
		atomic_store_explicit(&c->map.hdr->shut_wr[c->side], 1, memory_order_release);
		/* A peer asleep on the ring learns it now, not at the FIN.
		 * Our private non-blocking description: a full pipe is
		 * EAGAIN (a wake-up is pending anyway), never a block. */
		(void)syscall(SYS_write, c->peer_bell[TSOR_RX], "", 1);
	}
	if (how != SHUT_WR)
		atomic_store(&c->rd_shut, true);
	/*
	 * A relayed channel's bytes take a longer way than the kernel's FIN
	 * (through both tsords), and a FIN that overtook them would read as
	 * EOF at the peer with bytes still in flight. So the kernel socket
	 * keeps its write side; our flag travels behind the bytes as the
	 * relay's FIN, and the kernel FIN goes at close, once the peer's
	 * tsord has acknowledged it (xport.h, FIN_ACK).
	 */
	if (c->relay && state_now(c) != TSOR_CONN_PLAIN) {
		if (how == SHUT_WR)
			return 0;
		how = SHUT_RD;
	}
	if (tsor__libc.shutdown(fd, how) < 0)
		return -errno;
	return 0;
}
