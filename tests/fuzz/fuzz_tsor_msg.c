// SPDX-License-Identifier: MIT
/*
 * Description: both hostile sides of the tsord protocol (tsor/abi.h), over
 * a real Unix socket pair with real descriptors, no live daemon. The first
 * input byte picks the side:
 *
 *   even: a hostile client against tsord. The input is a stream of chunks
 *   [flags][scribble][u32 if scribble bit 7][frame bytes, up to 96]; each
 *   frame is written with sendmsg(), with the descriptors the flags pick
 *   attached (none, or 1, 2, 3 or 5 descriptors, the first of a kind
 *   made once at start-up: sockets, pipes, memfds ...), and with the
 *   frame's address optionally replaced by one of our listeners' (a fuzzer
 *   cannot guess an ephemeral port). tsord's own request path
 *   (tsor_daemon_serve_one(): frame decode and validation, then the
 *   broker) serves each whole frame; every reply must decode as a valid
 *   frame, and a channel that came with one gets the u32 written at header
 *   word scribble & 63, as a hostile connector can. A trailing half frame
 *   is served after EOF.
 *
 *   odd: a hostile or confused tsord against the lib. The input is chunks
 *   [request type][fd flags][fd kinds][shape][reply: 96 bytes, fewer or
 *   more as shape says, the header made valid for the request if asked];
 *   all replies are queued first (so nothing blocks), then the lib makes
 *   one tsor_call() per chunk and treats the result as preload.c does: on
 *   success with TSOR_MAX_FDS descriptors for INTENT/ASK it maps the channel
 *   (tsor_conn_open()), otherwise it closes what came; a transport error
 *   ends the stream (the lib would reconnect).
 *
 * After each input no descriptor may remain open that was not open before
 * (received fds that are refused must be closed, by either side), and
 * ASan/UBSan watch every access.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
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
#include "log.h"
#include "tsor-int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define MAX_CHUNKS 64  /* bounds the socket buffers either side fills */
#define NPROBE	   512 /* descriptors watched for leaks above the fixed ones */

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

/* The descriptor kinds a chunk can attach. */
enum kind {
	K_NONE = 0,
	K_LISTEN4,    /* TCP listener on 127.0.0.1 */
	K_LISTEN_ANY, /* TCP listener on 0.0.0.0 (locality test) */
	K_LISTEN6,    /* TCP listener on [::], dual-stack (or -1 without IPv6) */
	K_CONN,	      /* TCP client connected to K_LISTEN4 */
	K_ACCEPTED,   /* its accepted peer: an ASK of it matches an INTENT of K_CONN */
	K_BOUND,      /* TCP socket bound, not connected */
	K_TCP,	      /* TCP socket, unbound */
	K_UDP,	      /* UDP socket, bound */
	K_UNIX,	      /* one end of a Unix socket pair */
	K_PIPE,	      /* a pipe's read end */
	K_MEMFD,      /* a memfd without seals */
	K_CHAN,	      /* a well-formed channel from tsor_chan_create() (made per use) */
	K_EVENTFD,    /* an eventfd */
	K_DEVNULL,    /* /dev/null */
	K_CHAN_BIG,   /* a well-formed channel with 64 KiB rings (made per use) */
	K_COUNT
};

static struct {
	int fd[K_COUNT];
	struct tsor_addr addr4, addr_any, addr6; /* the listeners' addresses */
	int probe_lo;				 /* lowest descriptor watched */
	bool open[NPROBE];			 /* which were open at start-up */
	bool verbose;				 /* $FUZZ_TSOR_LOG: tsord's log and the replies */
	bool ready;
} w;

static int tcp_socket(int family, const char *ip, bool do_listen, struct tsor_addr *a)
{
	struct sockaddr_storage ss = { 0 };
	socklen_t len;
	int s = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (s < 0)
		return -1;
	if (family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)&ss;

		in->sin_family = AF_INET;
		inet_pton(AF_INET, ip, &in->sin_addr);
		len = sizeof(*in);
	} else {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
		int off = 0;

		in6->sin6_family = AF_INET6;
		inet_pton(AF_INET6, ip, &in6->sin6_addr);
		len = sizeof(*in6);
		(void)setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off));
	}
	if (bind(s, (struct sockaddr *)&ss, len) < 0 || (do_listen && listen(s, 64) < 0)) {
		close(s);
		return -1;
	}
	len = sizeof(ss);
	if (a && getsockname(s, (struct sockaddr *)&ss, &len) == 0)
		(void)tsor_addr_from(a, (struct sockaddr *)&ss, len);
	return s;
}

/* Which of the watched descriptors are open, with one poll(). */
static void fd_snapshot(bool *open)
{
	struct pollfd p[NPROBE];

	for (int i = 0; i < NPROBE; i++)
		p[i] = (struct pollfd){ .fd = w.probe_lo + i };
	CHECK(poll(p, NPROBE, 0) >= 0);
	for (int i = 0; i < NPROBE; i++)
		open[i] = !(p[i].revents & POLLNVAL);
}

static void check_no_leak(void)
{
	bool now[NPROBE];

	fd_snapshot(now);
	for (int i = 0; i < NPROBE; i++) {
		if (now[i] != w.open[i]) {
			fprintf(stderr, "fd %d leaked (or closed behind our back)\n",
				w.probe_lo + i);
			abort();
		}
	}
}

static void setup(void)
{
	struct sockaddr_in to;
	int sv[2], p[2];

	tsor_libc_direct();
	w.verbose = getenv("FUZZ_TSOR_LOG") != NULL;
	log_set_level(w.verbose ? LOG_DEBUG : LOG_ERR); /* tsord warns about every bad frame */
	w.fd[K_NONE] = -1;
	w.fd[K_LISTEN4] = tcp_socket(AF_INET, "127.0.0.1", true, &w.addr4);
	w.fd[K_LISTEN_ANY] = tcp_socket(AF_INET, "0.0.0.0", true, &w.addr_any);
	w.fd[K_LISTEN6] = tcp_socket(AF_INET6, "::", true, &w.addr6);
	w.fd[K_CONN] = tcp_socket(AF_INET, "127.0.0.1", false, NULL);
	CHECK(w.fd[K_LISTEN4] >= 0 && w.fd[K_LISTEN_ANY] >= 0 && w.fd[K_CONN] >= 0);
	to = (struct sockaddr_in){ .sin_family = AF_INET, .sin_port = htons(w.addr4.port) };
	memcpy(&to.sin_addr, w.addr4.addr, 4);
	CHECK(connect(w.fd[K_CONN], (struct sockaddr *)&to, sizeof(to)) == 0);
	w.fd[K_ACCEPTED] = accept4(w.fd[K_LISTEN4], NULL, NULL, SOCK_CLOEXEC);
	w.fd[K_BOUND] = tcp_socket(AF_INET, "127.0.0.1", false, NULL);
	w.fd[K_TCP] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	w.fd[K_UDP] = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	w.fd[K_UNIX] = sv[0]; /* sv[1] stays open too, so the pair stays connected */
	CHECK(pipe2(p, O_CLOEXEC) == 0);
	w.fd[K_PIPE] = p[0]; /* p[1] leaks on purpose, for the same reason */
	w.fd[K_MEMFD] = memfd_create("fuzz", MFD_CLOEXEC);
	w.fd[K_EVENTFD] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	w.fd[K_DEVNULL] = open("/dev/null", O_RDONLY | O_CLOEXEC);
	w.fd[K_CHAN] = -1;
	w.fd[K_CHAN_BIG] = -1;
	for (int k = 1; k < K_COUNT; k++)
		CHECK(k == K_LISTEN6 || k == K_CHAN || k == K_CHAN_BIG || w.fd[k] >= 0);
	w.probe_lo = dup(0);
	if (w.probe_lo < 0)
		w.probe_lo = open("/dev/null", O_RDONLY);
	CHECK(w.probe_lo >= 0);
	close(w.probe_lo);
	fd_snapshot(w.open);
	w.ready = true;
}

/* A descriptor of kind k to attach, and whether the caller must close it. */
static int kind_fd(unsigned k, bool *owned)
{
	int fd;

	*owned = false;
	k %= K_COUNT;
	if (k != K_CHAN && k != K_CHAN_BIG)
		return w.fd[k];
	if (tsor_chan_create(k == K_CHAN ? TSOR_RING_MIN : 65536, 7, &fd))
		return -1;
	*owned = true;
	return fd;
}

/* sendmsg() of buf with nfds descriptors of the given kinds (-1s skipped). */
static void send_chunk(int sock, const uint8_t *buf, size_t len, const unsigned *kinds, int nfds)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * 8)];
		struct cmsghdr align;
	} u;
	struct iovec iov = { .iov_base = (void *)(uintptr_t)buf, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	int fds[8];
	bool owned[8];
	int n = 0;

	for (int i = 0; i < nfds && i < 8; i++) {
		int fd = kind_fd(kinds[i], &owned[n]);

		if (fd >= 0)
			fds[n++] = fd;
	}
	if (n) {
		struct cmsghdr *c;

		memset(&u, 0, sizeof(u));
		mh.msg_control = u.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)n);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)n);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)n);
	}
	/* A chunk of 0 bytes cannot carry descriptors on a stream socket. */
	if (len)
		CHECK(sendmsg(sock, &mh, MSG_NOSIGNAL | MSG_DONTWAIT) == (ssize_t)len);
	for (int i = 0; i < n; i++)
		if (owned[i])
			close(fds[i]);
}

/* ============================ hostile client -> tsord ============================ */

/*
 * Reads the replies tsord has queued, without blocking (or all of them up
 * to EOF once tsord is gone): each must be a frame its clients accept. A
 * channel that came with one may then be scribbled on, as the connector
 * (who maps it read-write) can: u32 val at header word `word`.
 */
static int read_replies(int sock, bool to_eof, int word, uint32_t val)
{
	struct pollfd p = { .fd = sock, .events = POLLIN };
	int n = 0;

	while (to_eof || (poll(&p, 1, 0) == 1 && p.revents)) {
		struct tsor_msg r;
		int got[TSOR_MAX_FDS], ngot, ret = tsor_msg_recv(sock, &r, got, &ngot);

		if (ret == -ECONNRESET)
			break; /* tsord dropped us and everything was read */
		CHECK(ret == 0);
		CHECK(ngot == 0 || ngot == TSOR_MAX_FDS);
		if (w.verbose)
			fprintf(stderr, "reply type %u status %d id %llu fds %d\n", r.type,
				r.status, (unsigned long long)r.id, ngot);
		if (ngot == TSOR_MAX_FDS && word >= 0) {
			unsigned char *h = mmap(NULL, TSOR_CHAN_HDR, PROT_READ | PROT_WRITE,
						MAP_SHARED, got[0], 0);

			CHECK(h != MAP_FAILED);
			memcpy(h + (size_t)word * 4, &val, 4);
			munmap(h, TSOR_CHAN_HDR);
		}
		for (int i = 0; i < ngot; i++)
			close(got[i]);
		n++;
	}
	return n;
}

static void fuzz_daemon(struct input *in)
{
	struct tsor_daemon *d;
	int sv[2], chunks = 0, replies = 0;
	bool alive = true;

	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	d = tsor_daemon_new();
	CHECK(d);
	tsor_daemon_add(d, sv[1]);
	while (alive && in->n && chunks < MAX_CHUNKS) {
		/* One, two, all a reply carries, and more than any request may. */
		static const int counts[4] = { 1, 2, TSOR_MAX_FDS, TSOR_MAX_FDS + 2 };
		unsigned f = take(in), sc = take(in), kinds[TSOR_MAX_FDS + 2];
		uint32_t val = 0;
		uint8_t frame[sizeof(struct tsor_msg)];
		size_t len;
		int nfds = (f & 15) ? counts[(f >> 4) & 3] : 0;

		if (sc & 0x80)
			for (int i = 0; i < 4; i++)
				val |= (uint32_t)take(in) << (8 * i);
		len = in->n < sizeof(frame) ? in->n : sizeof(frame);
		memcpy(frame, in->p, len);
		in->p += len;
		in->n -= len;
		/* Steer the destination to a listener of ours (offset 24: addr). */
		if (len == sizeof(frame) && (f >> 6)) {
			struct tsor_addr a = (f >> 6) == 1   ? w.addr4
					     : (f >> 6) == 2 ? w.addr_any
							     : w.addr6;

			if ((f >> 6) != 1) {
				/* 127.0.0.1 at that port: locality test, dual stack. */
				a.family = AF_INET;
				memcpy(a.addr, w.addr4.addr, 4);
				memset(a.addr + 4, 0, 12);
			}
			memcpy(frame + offsetof(struct tsor_msg, addr), &a, sizeof(a));
		}
		kinds[0] = f & 15;
		for (int i = 1; i < TSOR_MAX_FDS + 2; i++)
			kinds[i] = i == 1 ? K_PIPE : K_DEVNULL;
		send_chunk(sv[0], frame, len, kinds, nfds);
		chunks++;
		if (len < sizeof(frame))
			break; /* half a frame: served below, after EOF */
		/* A whole frame is queued: serving it cannot block. */
		alive = tsor_daemon_serve_one(d, 0) && !tsor_daemon_stopping(d);
		replies += read_replies(sv[0], false, (sc & 0x80) ? (int)(sc & 63) : -1, val);
	}
	CHECK(shutdown(sv[0], SHUT_WR) == 0);
	while (alive && tsor_daemon_serve_one(d, 0) && !tsor_daemon_stopping(d))
		;
	tsor_daemon_free(d); /* closes sv[1] */
	replies += read_replies(sv[0], true, -1, 0);
	CHECK(replies <= chunks);
	close(sv[0]);
}

/* ============================ hostile tsord -> lib ============================ */

static int cancel_answer;

static int fake_cancel(uint64_t id)
{
	(void)id;
	return cancel_answer;
}

/* What preload.c's accepted() and intent() do with a reply. */
static void consume_reply(enum tsor_msg_type type, const struct tsor_msg *r, int *fds, int nfds)
{
	struct tsor_conn c;
	short rev;
	int ret;

	CHECK(nfds >= 0 && nfds <= TSOR_MAX_FDS);
	if (nfds != TSOR_MAX_FDS) {
		for (int i = 0; i < nfds; i++)
			close(fds[i]);
		return;
	}
	ret = tsor_conn_open(&c, fds[0], &fds[1],
			     type == TSOR_MSG_ASK ? TSOR_SIDE_ACCEPTOR : TSOR_SIDE_CONNECTOR,
			     r->id);
	if (w.verbose)
		fprintf(stderr, "channel: %d\n", ret);
	if (ret)
		return;
	c.cancel = fake_cancel;
	CHECK(c.map.len == TSOR_CHAN_SIZE(c.map.ring_size));
	(void)tsor_conn_ready(&c, POLLIN | POLLOUT, &rev);
	(void)tsor_conn_nread(&c);
	tsor_conn_close(&c);
}

static void fuzz_client(struct input *in)
{
	int sv[2], chunks = 0;
	uint8_t types[MAX_CHUNKS];

	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	/* Queue every reply first: the calls below then never block. */
	while (in->n && chunks < MAX_CHUNKS) {
		unsigned t = take(in) % TSOR_MSG_TYPE_COUNT, f = take(in), k = take(in);
		unsigned shape = take(in), kinds[4] = { (f >> 3) & 15, k & 15, k >> 4, K_DEVNULL };
		uint8_t buf[2 * sizeof(struct tsor_msg)];
		size_t len = sizeof(struct tsor_msg);

		/* Mostly whole frames; sometimes short or long ones that
		 * leave the stream out of step. */
		if ((shape & 0xe0) == 0xc0)
			len = shape & 63;
		else if ((shape & 0xe0) == 0xe0)
			len += 1 + (shape & 31);
		len = in->n < len ? in->n : len;
		memcpy(buf, in->p, len);
		in->p += len;
		in->n -= len;
		/* Bit 7: a well-formed header answering this request. */
		if ((f & 0x80) && len >= 8) {
			struct tsor_msg h;

			tsor_msg_init(&h, (enum tsor_msg_type)t);
			memcpy(buf, &h, 8);
		}
		send_chunk(sv[1], buf, len, kinds, (int)((f & 7) % 5));
		types[chunks++] = (uint8_t)t;
	}
	cancel_answer = in->n && (take(in) & 1) ? -EALREADY : 0;
	CHECK(shutdown(sv[1], SHUT_WR) == 0);
	for (int i = 0; i < chunks; i++) {
		enum tsor_msg_type t = (enum tsor_msg_type)types[i];
		bool want = t == TSOR_MSG_INTENT || t == TSOR_MSG_ASK;
		struct tsor_msg m, r;
		int fds[TSOR_MAX_FDS], nfds = -1, ret;

		tsor_msg_init(&m, t);
		ret = tsor_call(sv[0], &m, -1, &r, want ? fds : NULL, want ? &nfds : NULL);
		if (w.verbose)
			fprintf(stderr, "call type %d: %d, %d fds\n", t, ret, nfds);
		if (ret == -ECONNRESET || ret == -EPIPE || ret == -EPROTO)
			break; /* preload.c's call() drops the connection */
		CHECK(ret <= 0 && ret >= -4095);
		if (t == TSOR_MSG_CLOSED || t == TSOR_MSG_FALLBACK) {
			CHECK(ret == 0 && (!want || nfds == 0));
			continue;
		}
		/* The transport worked: r passed tsor_msg_check() and answers m. */
		CHECK(tsor_msg_check(&r) == 0 && r.type == m.type && r.status == ret);
		if (want) {
			CHECK(ret == 0 || nfds == 0);
			if (ret == 0)
				consume_reply(t, &r, fds, nfds);
		}
	}
	close(sv[0]);
	close(sv[1]);
}

/*
 * The leak check counts every descriptor the process gains, and libFuzzer
 * gains two of its own mid-run: the pipes to llvm-symbolizer, started the
 * first time it prints a newly covered function (NEW_FUNC). -print_funcs=0,
 * appended before libFuzzer parses its flags, keeps it from doing so.
 */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static char no_funcs[] = "-print_funcs=0";
	/* Lives as long as the process, as libFuzzer expects of argv. */
	char **args = calloc((size_t)*argc + 2, sizeof(*args));

	if (!args)
		return 0;
	memcpy(args, *argv, (size_t)*argc * sizeof(*args));
	args[(*argc)++] = no_funcs;
	*argv = args;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in = { data, size };

	if (!w.ready)
		setup();
	if (!size)
		return 0;
	if (take(&in) & 1)
		fuzz_client(&in);
	else
		fuzz_daemon(&in);
	check_no_leak();
	return 0;
}
