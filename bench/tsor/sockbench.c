// SPDX-License-Identifier: MIT
/*
 * sockbench: a socket ping-pong and streaming benchmark that uses nothing
 * but the plain BSD socket API, so that it can run unmodified under
 * `tsor run --` and measure TSoR against kernel TCP loopback and Unix
 * sockets with the very same binary and the very same calls
 * (bench/tsor/run.sh drives it).
 *
 *   sockbench server   --tcp ADDR:PORT | --unix PATH [--conns N]
 *   sockbench pingpong --tcp ADDR:PORT | --unix PATH --size N
 *                      (--count N | --seconds S) [--warmup N]
 *   sockbench stream   --tcp ADDR:PORT | --unix PATH --size N
 *                      (--count N | --seconds S)
 *
 * Why a program of our own: qperf and NPtcp do their own set-up dance
 * (qperf opens a control connection and then a data connection, picks ports
 * itself), neither speaks Unix sockets, and neither reports percentiles of
 * the round trip. What TSoR promises is about the data path of one ordinary
 * connection, so that is all this does: socket, bind, listen, accept,
 * connect, read, write, shutdown, close, setsockopt(TCP_NODELAY), all
 * blocking, no poll, no threads, no fork. A preload library that gets these
 * right gets this benchmark right.
 *
 * Wire protocol (one connection per client run; the server serves
 * connections one after another, which is what a benchmark wants anyway):
 *
 *   client -> server   hello: "SKB1", u32 mode, u32 size, u32 zero
 *                      (big-endian; mode 1 = ping-pong, 2 = stream)
 *   ping-pong          client writes `size` bytes, server echoes them back,
 *                      repeated; the client closes. Every message carries
 *                      its round number in its first and last 8 bytes and
 *                      the client checks both in the echo, which catches a
 *                      lost, duplicated or torn message for the cost of two
 *                      compares instead of a memcmp of up to 64 KiB per
 *                      round (that would be a visible part of a fast
 *                      round trip).
 *   stream             client writes `size`-byte chunks, then shutdown
 *                      (SHUT_WR); the server reads to EOF (64 KiB reads, or
 *                      `size` if larger) and answers with the byte count it
 *                      got (u64, big-endian), which must match.
 *
 * What is timed: ping-pong times every round trip separately (write of the
 * whole message to the last byte of the echo read, CLOCK_MONOTONIC) after
 * --warmup untimed rounds (default 100: the first rounds pay for page
 * faults and, under TSoR, for cold rings) and reports mean, min, p50, p90,
 * p99, p99.9 and max. Stream times from the first write to the arrival of
 * the server's count, so bytes still in flight when the last write returns
 * are counted; GB/s is 10^9 bytes per second. TCP_NODELAY is set on both
 * ends of a TCP connection (as latency tools and Redis do); sockets keep
 * their default buffer sizes.
 *
 * Output: one line per client run, `sockbench key=value ...`, to stdout;
 * the server prints `sockbench listening tcp|unix ADDR` once it listens (a
 * script waits for that line rather than probing the port, which would
 * show up as an extra connection in TSoR's counters). Errors go to stderr
 * with exit status 1; the server reports a broken connection and carries
 * on with the next one.
 */
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

enum sb_mode { SB_MODE_NONE = 0, SB_MODE_PINGPONG = 1, SB_MODE_STREAM = 2, SB_MODE_SERVER };

#define SB_HELLO_LEN	16
#define SB_MAX_SIZE	(16u << 20) /* largest message: bounds the server's buffer */
#define SB_READ_CHUNK	(64u << 10) /* stream reads, as an application would do */
#define SB_MAX_SAMPLES	(64u << 20) /* 512 MiB of samples: a runaway --seconds */
#define SB_DEFAULT_WARM 100

/* What the command line asked for. */
struct sb_opts {
	enum sb_mode mode; /* the subcommand */
	int tcp;	   /* 1 = --tcp, 0 = --unix */
	const char *addr;  /* ADDR:PORT or a path, as given */
	size_t size;	   /* message or write size in bytes */
	uint64_t count;	   /* timed rounds or writes; 0 = use seconds */
	double seconds;	   /* run length when count is 0 */
	uint64_t warmup;   /* untimed ping-pong rounds before the timed ones */
	uint64_t conns;	   /* server: exit after this many connections; 0 = never */
};

/* A resolved endpoint, either family. */
struct sb_addr {
	struct sockaddr_storage ss; /* the address itself */
	socklen_t len;		    /* its length */
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void die(const char *what)
{
	fprintf(stderr, "sockbench: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void die_msg(const char *msg)
{
	fprintf(stderr, "sockbench: %s\n", msg);
	exit(1);
}

static void usage(FILE *f)
{
	fputs("usage: sockbench server   --tcp ADDR:PORT | --unix PATH [--conns N]\n"
	      "       sockbench pingpong --tcp ADDR:PORT | --unix PATH --size N\n"
	      "                          (--count N | --seconds S) [--warmup N]\n"
	      "       sockbench stream   --tcp ADDR:PORT | --unix PATH --size N\n"
	      "                          (--count N | --seconds S)\n",
	      f);
}

static void put_be32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (24 - 8 * i));
}

static uint32_t get_be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put_be64(unsigned char *p, uint64_t v)
{
	put_be32(p, (uint32_t)(v >> 32));
	put_be32(p + 4, (uint32_t)v);
}

static uint64_t get_be64(const unsigned char *p)
{
	return (uint64_t)get_be32(p) << 32 | get_be32(p + 4);
}

/*
 * Resolves ADDR:PORT ([v6]:PORT for IPv6) or a Unix path. Numeric only: a
 * benchmark that waited on DNS would time the resolver. Returns 0 or a
 * message for the user.
 */
static const char *resolve(const struct sb_opts *o, struct sb_addr *a)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC,
				  .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV };
	struct addrinfo *res;
	char host[INET6_ADDRSTRLEN + 2];
	const char *colon, *h = host;
	size_t hl;

	memset(a, 0, sizeof(*a));
	if (!o->tcp) {
		struct sockaddr_un *un = (struct sockaddr_un *)&a->ss;

		if (strlen(o->addr) >= sizeof(un->sun_path))
			return "unix socket path too long (at most 107 bytes)";
		un->sun_family = AF_UNIX;
		memcpy(un->sun_path, o->addr, strlen(o->addr) + 1);
		a->len = (socklen_t)sizeof(*un);
		return NULL;
	}
	colon = strrchr(o->addr, ':');
	if (!colon || colon == o->addr || !colon[1])
		return "bad --tcp address (expected ADDR:PORT, e.g. 127.0.0.1:7000 or [::1]:7000)";
	hl = (size_t)(colon - o->addr);
	if (hl >= sizeof(host))
		return "bad --tcp address (host part too long)";
	memcpy(host, o->addr, hl);
	host[hl] = '\0';
	if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
		host[hl - 1] = '\0';
		h = host + 1;
	}
	if (getaddrinfo(h, colon + 1, &hints, &res) != 0)
		return "bad --tcp address (expected a numeric IPv4 or IPv6 address and port)";
	memcpy(&a->ss, res->ai_addr, res->ai_addrlen);
	a->len = res->ai_addrlen;
	freeaddrinfo(res);
	return NULL;
}

static void set_nodelay(int fd)
{
	int one = 1;

	/* Without it, Nagle holds back every small echo behind a delayed ACK. */
	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) == -1)
		die("setsockopt(TCP_NODELAY)");
}

/* Writes all of buf; returns 0 or -errno (EPIPE, ECONNRESET: peer gone). */
static int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n == -1) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * Reads exactly len bytes. Returns 1 when done, 0 on EOF before the first
 * byte (a clean end between messages), -EPROTO on EOF in the middle of a
 * message, or -errno.
 */
static int read_exact(int fd, void *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = read(fd, (char *)buf + got, len - got);

		if (n == -1) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return got ? -EPROTO : 0;
		got += (size_t)n;
	}
	return 1;
}

static int listen_on(const struct sb_opts *o, const struct sb_addr *a)
{
	int one = 1;
	int fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd == -1)
		die("socket");
	if (o->tcp) {
		/* A rerun within TIME_WAIT must not fail to bind. */
		if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1)
			die("setsockopt(SO_REUSEADDR)");
	} else {
		struct stat st;

		/* A stale socket file from a killed server; never remove anything else. */
		if (lstat(o->addr, &st) == 0 && S_ISSOCK(st.st_mode))
			(void)unlink(o->addr);
	}
	if (bind(fd, (const struct sockaddr *)&a->ss, a->len) == -1) {
		fprintf(stderr, "sockbench: bind %s: %s\n", o->addr, strerror(errno));
		exit(1);
	}
	if (listen(fd, 16) == -1)
		die("listen");
	return fd;
}

/* Prints where the server listens, with the real port when given port 0. */
static void announce(const struct sb_opts *o, int fd)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char host[INET6_ADDRSTRLEN], port[16];

	if (!o->tcp) {
		printf("sockbench listening unix %s\n", o->addr);
		return;
	}
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == -1)
		die("getsockname");
	if (getnameinfo((struct sockaddr *)&ss, sl, host, sizeof(host), port, sizeof(port),
			NI_NUMERICHOST | NI_NUMERICSERV) != 0)
		die_msg("getnameinfo failed on our own address");
	printf(ss.ss_family == AF_INET6 ? "sockbench listening tcp [%s]:%s\n"
					: "sockbench listening tcp %s:%s\n",
	       host, port);
}

/* One client connection. Returns 0 or a negative errno to report. */
static int serve(int fd, int tcp, char *buf)
{
	unsigned char hello[SB_HELLO_LEN], ack[8];
	uint32_t mode, size;
	uint64_t total = 0;
	int ret;

	ret = read_exact(fd, hello, sizeof(hello));
	if (ret <= 0)
		return ret == 0 ? -EPROTO : ret;
	mode = get_be32(hello + 4);
	size = get_be32(hello + 8);
	if (memcmp(hello, "SKB1", 4) != 0 || size == 0 || size > SB_MAX_SIZE ||
	    (mode != SB_MODE_PINGPONG && mode != SB_MODE_STREAM))
		return -EBADMSG;
	if (tcp)
		set_nodelay(fd);
	if (mode == SB_MODE_PINGPONG) {
		for (;;) {
			ret = read_exact(fd, buf, size);
			if (ret <= 0)
				return ret;
			ret = write_all(fd, buf, size);
			if (ret < 0)
				return ret;
		}
	}
	for (;;) {
		size_t cap = size > SB_READ_CHUNK ? size : SB_READ_CHUNK;
		ssize_t n = read(fd, buf, cap);

		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return -errno;
		if (n == 0)
			break;
		total += (uint64_t)n;
	}
	put_be64(ack, total);
	return write_all(fd, ack, sizeof(ack));
}

static int run_server(const struct sb_opts *o, const struct sb_addr *a)
{
	char *buf = malloc(SB_MAX_SIZE);
	uint64_t served = 0;
	int lfd;

	if (!buf)
		die("malloc");
	lfd = listen_on(o, a);
	announce(o, lfd);
	while (!o->conns || served < o->conns) {
		int ret, fd = accept(lfd, NULL, NULL);

		if (fd == -1) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			die("accept");
		}
		ret = serve(fd, o->tcp, buf);
		if (ret < 0)
			fprintf(stderr, "sockbench: server: connection %" PRIu64 ": %s\n",
				served + 1,
				ret == -EBADMSG ? "not a sockbench client" : strerror(-ret));
		close(fd);
		served++;
	}
	close(lfd);
	free(buf);
	return 0;
}

static int connect_to(const struct sb_opts *o, const struct sb_addr *a, enum sb_mode mode)
{
	unsigned char hello[SB_HELLO_LEN] = "SKB1";
	int fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd == -1)
		die("socket");
	if (connect(fd, (const struct sockaddr *)&a->ss, a->len) == -1) {
		fprintf(stderr, "sockbench: connect %s: %s\n", o->addr, strerror(errno));
		exit(1);
	}
	if (o->tcp)
		set_nodelay(fd);
	put_be32(hello + 4, (uint32_t)mode);
	put_be32(hello + 8, (uint32_t)o->size);
	put_be32(hello + 12, 0);
	if (write_all(fd, hello, sizeof(hello)) < 0)
		die("write hello");
	return fd;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

/* The q-quantile (0..1) of sorted samples, nearest rank, in µs. */
static double quantile_us(const uint64_t *v, size_t n, double q)
{
	size_t i = (size_t)(q * (double)n + 0.5);

	if (i > 0)
		i--;
	if (i >= n)
		i = n - 1;
	return (double)v[i] / 1000.0;
}

static void die_io(const char *what, int ret)
{
	fprintf(stderr, "sockbench: %s: %s\n", what,
		ret == 0 ? "the server closed the connection" : strerror(-ret));
	exit(1);
}

static const char *transport(const struct sb_opts *o)
{
	return o->tcp ? "tcp" : "unix";
}

/* Round-trip times in ns, grown as a --seconds run goes on. */
struct sb_samples {
	uint64_t *v;  /* the samples, in arrival order until sorted */
	size_t n;     /* how many */
	size_t cap;   /* room in v */
	uint64_t sum; /* of all samples, for the mean */
};

static void samples_add(struct sb_samples *s, uint64_t ns)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 1u << 16;
		uint64_t *p;

		if (cap > SB_MAX_SAMPLES)
			die_msg("ping-pong: too many samples; use a shorter --seconds");
		p = realloc(s->v, cap * sizeof(*p));
		if (!p)
			die("realloc");
		s->v = p;
		s->cap = cap;
	}
	s->v[s->n++] = ns;
	s->sum += ns;
}

/*
 * One round: sends tx stamped with the round number, reads the echo into
 * rx and checks the stamps. Returns the round trip in ns; exits on error.
 */
static uint64_t pingpong_round(int fd, unsigned char *tx, unsigned char *rx, size_t size,
			       uint64_t round)
{
	/* Messages under 16 bytes carry a (truncated) round number at the start only. */
	size_t tail = size >= 16 ? size - 8 : 0;
	uint64_t t0, t1;
	int ret;

	if (size >= 8)
		put_be64(tx, round);
	else
		tx[0] = (unsigned char)round;
	if (tail)
		put_be64(tx + tail, round);
	t0 = now_ns();
	ret = write_all(fd, tx, size);
	if (ret < 0)
		die_io("write", ret);
	ret = read_exact(fd, rx, size);
	if (ret <= 0)
		die_io("read", ret);
	t1 = now_ns();
	if (size >= 8 ? get_be64(rx) != round : rx[0] != (unsigned char)round)
		die_msg("ping-pong: the echo carries the wrong round number (lost or reordered data)");
	if (tail && get_be64(rx + tail) != round)
		die_msg("ping-pong: the echo's last bytes are wrong (torn message)");
	return t1 - t0;
}

static int run_pingpong(const struct sb_opts *o, const struct sb_addr *a)
{
	struct sb_samples rtt = { 0 };
	unsigned char *tx = malloc(o->size), *rx = malloc(o->size);
	uint64_t round = 0, deadline, t_start, t_end;
	size_t n;
	int fd;

	if (!tx || !rx)
		die("malloc");
	/* A recognisable pattern, so a torn echo stands out in a debugger. */
	for (size_t i = 0; i < o->size; i++)
		tx[i] = (unsigned char)(i * 131 + 7);
	fd = connect_to(o, a, SB_MODE_PINGPONG);
	for (; round < o->warmup; round++)
		(void)pingpong_round(fd, tx, rx, o->size, round);
	t_start = now_ns();
	deadline = t_start + (uint64_t)(o->seconds * 1e9);
	while (o->count ? rtt.n < o->count : now_ns() < deadline)
		samples_add(&rtt, pingpong_round(fd, tx, rx, o->size, round++));
	t_end = now_ns();
	close(fd);
	n = rtt.n;
	if (n == 0)
		die_msg("ping-pong: no timed round (is --seconds too short?)");
	qsort(rtt.v, n, sizeof(*rtt.v), cmp_u64);
	printf("sockbench mode=pingpong transport=%s size=%zu rounds=%zu seconds=%.3f "
	       "rtt_mean_us=%.3f rtt_min_us=%.3f rtt_p50_us=%.3f rtt_p90_us=%.3f "
	       "rtt_p99_us=%.3f rtt_p999_us=%.3f rtt_max_us=%.3f rounds_per_s=%.0f\n",
	       transport(o), o->size, n, (double)(t_end - t_start) / 1e9,
	       (double)rtt.sum / (double)n / 1000.0, quantile_us(rtt.v, n, 0),
	       quantile_us(rtt.v, n, 0.5), quantile_us(rtt.v, n, 0.9), quantile_us(rtt.v, n, 0.99),
	       quantile_us(rtt.v, n, 0.999), quantile_us(rtt.v, n, 1),
	       (double)n * 1e9 / (double)(t_end - t_start));
	free(rtt.v);
	free(tx);
	free(rx);
	return 0;
}

static int run_stream(const struct sb_opts *o, const struct sb_addr *a)
{
	unsigned char *buf = malloc(o->size), ack[8];
	uint64_t writes = 0, bytes = 0, deadline, t_start, t_sent, t_end;
	int fd, ret;

	if (!buf)
		die("malloc");
	memset(buf, 0x5a, o->size);
	fd = connect_to(o, a, SB_MODE_STREAM);
	t_start = now_ns();
	deadline = t_start + (uint64_t)(o->seconds * 1e9);
	while (o->count ? writes < o->count : now_ns() < deadline) {
		ret = write_all(fd, buf, o->size);
		if (ret < 0)
			die_io("write", ret);
		writes++;
		bytes += o->size;
	}
	t_sent = now_ns();
	if (shutdown(fd, SHUT_WR) == -1)
		die("shutdown");
	ret = read_exact(fd, ack, sizeof(ack));
	if (ret <= 0)
		die_io("read the server's byte count", ret);
	t_end = now_ns();
	if (get_be64(ack) != bytes) {
		fprintf(stderr,
			"sockbench: stream: sent %" PRIu64 " bytes, the server got %" PRIu64 "\n",
			bytes, get_be64(ack));
		exit(1);
	}
	close(fd);
	printf("sockbench mode=stream transport=%s size=%zu writes=%" PRIu64 " bytes=%" PRIu64
	       " seconds=%.3f send_seconds=%.3f gb_per_s=%.3f\n",
	       transport(o), o->size, writes, bytes, (double)(t_end - t_start) / 1e9,
	       (double)(t_sent - t_start) / 1e9, (double)bytes / (double)(t_end - t_start));
	free(buf);
	return 0;
}

/* Parses a positive integer option value no larger than max; exits on error. */
static uint64_t parse_u64(const char *opt, const char *s, uint64_t max)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || v == 0 || v > max) {
		fprintf(stderr,
			"sockbench: bad %s '%s' (expected an integer from 1 to %" PRIu64 ")\n", opt,
			s, max);
		exit(2);
	}
	return v;
}

static void parse_args(int argc, char **argv, struct sb_opts *o)
{
	int i;

	memset(o, 0, sizeof(*o));
	o->warmup = SB_DEFAULT_WARM;
	if (argc < 2) {
		usage(stderr);
		exit(2);
	}
	if (!strcmp(argv[1], "server"))
		o->mode = SB_MODE_SERVER;
	else if (!strcmp(argv[1], "pingpong"))
		o->mode = SB_MODE_PINGPONG;
	else if (!strcmp(argv[1], "stream"))
		o->mode = SB_MODE_STREAM;
	else if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		usage(stdout);
		exit(0);
	} else {
		fprintf(stderr, "sockbench: unknown command '%s'\n", argv[1]);
		usage(stderr);
		exit(2);
	}
	for (i = 2; i < argc; i++) {
		const char *opt = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;

		if (!val) {
			fprintf(stderr, "sockbench: %s needs a value\n", opt);
			exit(2);
		}
		i++;
		if (!strcmp(opt, "--tcp") || !strcmp(opt, "--unix")) {
			o->tcp = !strcmp(opt, "--tcp");
			o->addr = val;
		} else if (!strcmp(opt, "--size")) {
			o->size = (size_t)parse_u64(opt, val, SB_MAX_SIZE);
		} else if (!strcmp(opt, "--count")) {
			o->count = parse_u64(opt, val, UINT64_MAX / 2);
		} else if (!strcmp(opt, "--warmup")) {
			/* 0 is allowed here: no untimed rounds. */
			o->warmup = strcmp(val, "0") ? parse_u64(opt, val, UINT32_MAX) : 0;
		} else if (!strcmp(opt, "--conns")) {
			o->conns = parse_u64(opt, val, UINT64_MAX);
		} else if (!strcmp(opt, "--seconds")) {
			char *end;

			o->seconds = strtod(val, &end);
			if (end == val || *end || !(o->seconds > 0 && o->seconds <= 86400)) {
				fprintf(stderr,
					"sockbench: bad --seconds '%s' (expected 0 < S <= 86400)\n",
					val);
				exit(2);
			}
		} else {
			fprintf(stderr, "sockbench: unknown option '%s'\n", opt);
			usage(stderr);
			exit(2);
		}
	}
	if (!o->addr) {
		fprintf(stderr, "sockbench: %s needs --tcp ADDR:PORT or --unix PATH\n", argv[1]);
		exit(2);
	}
	if (o->mode == SB_MODE_SERVER)
		return;
	if (!o->size || (!o->count) == (o->seconds <= 0)) {
		fprintf(stderr,
			"sockbench: %s needs --size and exactly one of --count or --seconds\n",
			argv[1]);
		exit(2);
	}
	if (o->count && o->count > SB_MAX_SAMPLES && o->mode == SB_MODE_PINGPONG) {
		fprintf(stderr, "sockbench: --count at most %u for pingpong\n", SB_MAX_SAMPLES);
		exit(2);
	}
}

int main(int argc, char **argv)
{
	struct sb_opts o;
	struct sb_addr a;
	const char *err;

	parse_args(argc, argv, &o);
	err = resolve(&o, &a);
	if (err) {
		fprintf(stderr, "sockbench: %s: %s\n", o.addr, err);
		return 2;
	}
	/* A peer that goes away must surface as EPIPE from write, not kill us silently. */
	signal(SIGPIPE, SIG_IGN);
	/* Line-buffered even into a file, so a script sees "listening" at once. */
	setvbuf(stdout, NULL, _IOLBF, 0);
	switch (o.mode) {
	case SB_MODE_SERVER:
		return run_server(&o, &a);
	case SB_MODE_PINGPONG:
		return run_pingpong(&o, &a);
	case SB_MODE_STREAM:
		return run_stream(&o, &a);
	default:
		return 2;
	}
}
