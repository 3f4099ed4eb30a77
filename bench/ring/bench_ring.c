// SPDX-License-Identifier: MIT
/*
 * bench_ring: lib/ring between two processes against the kernel's byte
 * streams, side by side in one run: a pipe, a Unix stream socket pair and
 * TCP over loopback. Two measurements:
 *
 *   - throughput: one process writes W-byte chunks (64 B .. 64 KiB) as fast
 *     as it can, the other reads into a 64 KiB buffer; GB/s = bytes / time
 *     from the first write to the reader's "done";
 *   - round trip: 64 B ping-pong, mean time per round trip.
 *
 * The ring runs in two modes: spinning (waits spin up to ~a million pause
 * rounds before sleeping, so it never sleeps while the peer is busy) and
 * blocking (spin 0: every wait that finds nothing sleeps on the futex at
 * once). Every run forks a fresh pair of processes, pinned to CPUs 0 and 1
 * when there are two. Each cell is the median of --runs runs. A benchmark
 * measures and never fails a build: it is not registered with ctest.
 *
 *   bench_ring [--runs N] [--quick]
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ring.h"

enum kind { K_RING_SPIN = 0, K_RING_BLOCK, K_PIPE, K_UNIX, K_TCP, K_COUNT };

static const char *const kind_name[K_COUNT] = { "ring-spin", "ring-block", "pipe", "unix", "tcp" };

#define RING_BYTES (1u << 20) /* data area of each ring */
#define PIPE_BYTES (1 << 20)  /* pipes get the same buffer as the ring */
#define SPIN_MODE  (1u << 20) /* pause rounds: never sleeps while the peer runs */
#define MAX_RUNS   15
#define WAIT_MS	   10000
#define MSG	   64

/* One process's end of a duplex channel. */
struct end {
	enum kind kind;
	int wfd, rfd;	    /* pipes and sockets */
	struct ring tx, rx; /* rings */
};

/* A channel before fork: what each side will pick up. */
struct duplex {
	enum kind kind;
	int fd[4];  /* a_w, a_r, b_w, b_r (a socket appears twice) */
	void *mem;  /* rings: two regions, a->b then b->a */
	size_t len; /* one region's length */
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void die(const char *what)
{
	perror(what);
	exit(1);
}

static void pin(int cpu)
{
	cpu_set_t set;

	if (sysconf(_SC_NPROCESSORS_ONLN) < 2)
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	(void)sched_setaffinity(0, sizeof(set), &set);
}

static void tcp_pair(int out[2])
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);
	int one = 1;
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (l == -1 || bind(l, (struct sockaddr *)&sa, sizeof(sa)) == -1 || listen(l, 1) == -1 ||
	    getsockname(l, (struct sockaddr *)&sa, &sl) == -1)
		die("tcp listen");
	out[0] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (out[0] == -1 || connect(out[0], (struct sockaddr *)&sa, sizeof(sa)) == -1)
		die("tcp connect");
	out[1] = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	if (out[1] == -1)
		die("tcp accept");
	close(l);
	for (int i = 0; i < 2; i++)
		if (setsockopt(out[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) == -1)
			die("TCP_NODELAY");
}

static void duplex_open(struct duplex *d, enum kind kind)
{
	int a[2], b[2];

	memset(d, 0, sizeof(*d));
	d->kind = kind;
	switch (kind) {
	case K_RING_SPIN:
	case K_RING_BLOCK: {
		int fd = memfd_create("bench_ring", MFD_CLOEXEC);

		d->len = RING_REGION_SIZE(RING_BYTES);
		if (fd == -1 || ftruncate(fd, (off_t)(2 * d->len)) == -1)
			die("memfd");
		d->mem = mmap(NULL, 2 * d->len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (d->mem == MAP_FAILED)
			die("mmap");
		close(fd);
		/* Fault the pages in now, not inside the first timed run. */
		memset(d->mem, 0, 2 * d->len);
		break;
	}
	case K_PIPE:
		if (pipe2(a, O_CLOEXEC) == -1 || pipe2(b, O_CLOEXEC) == -1)
			die("pipe");
		(void)fcntl(a[1], F_SETPIPE_SZ, PIPE_BYTES);
		(void)fcntl(b[1], F_SETPIPE_SZ, PIPE_BYTES);
		d->fd[0] = a[1];
		d->fd[1] = b[0];
		d->fd[2] = b[1];
		d->fd[3] = a[0];
		break;
	case K_UNIX:
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, a) == -1)
			die("socketpair");
		d->fd[0] = d->fd[1] = a[0];
		d->fd[2] = d->fd[3] = a[1];
		break;
	default:
		tcp_pair(a);
		d->fd[0] = d->fd[1] = a[0];
		d->fd[2] = d->fd[3] = a[1];
		break;
	}
}

/* Side 0 formats both rings (as the creator would), side 1 attaches. */
static void end_open(struct end *e, const struct duplex *d, int side)
{
	char *m = d->mem;
	int ret;

	memset(e, 0, sizeof(*e));
	e->kind = d->kind;
	if (d->kind != K_RING_SPIN && d->kind != K_RING_BLOCK) {
		e->wfd = side ? d->fd[2] : d->fd[0];
		e->rfd = side ? d->fd[3] : d->fd[1];
		return;
	}
	if (side == 0) {
		ret = ring_init(&e->tx, m, d->len, RING_PRODUCER);
		ret = ret ? ret : ring_init(&e->rx, m + d->len, d->len, RING_CONSUMER);
	} else {
		ret = ring_attach(&e->rx, m, d->len, RING_CONSUMER);
		ret = ret ? ret : ring_attach(&e->tx, m + d->len, d->len, RING_PRODUCER);
	}
	if (ret) {
		fprintf(stderr, "ring set-up: %s\n", strerror(-ret));
		exit(1);
	}
	e->tx.spin = e->rx.spin = d->kind == K_RING_SPIN ? SPIN_MODE : 0;
}

static void duplex_close(struct duplex *d)
{
	if (d->mem) {
		munmap(d->mem, 2 * d->len);
		return;
	}
	close(d->fd[0]);
	if (d->fd[1] != d->fd[0])
		close(d->fd[1]);
	close(d->fd[2]);
	if (d->fd[3] != d->fd[2])
		close(d->fd[3]);
}

static void send_all(struct end *e, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n;

		if (e->kind == K_RING_SPIN || e->kind == K_RING_BLOCK) {
			n = ring_write(&e->tx, p, len);
			if (n >= 0 && (size_t)n < len) {
				ssize_t w = ring_wait_writable(&e->tx, WAIT_MS);

				if (w < 0) {
					errno = (int)-w;
					die("ring_wait_writable");
				}
			}
		} else {
			n = write(e->wfd, p, len);
		}
		if (n < 0) {
			if (n == -1 && errno == EINTR)
				continue;
			if (n < -1)
				errno = (int)-n;
			die("send");
		}
		p += n;
		len -= (size_t)n;
	}
}

static size_t recv_some(struct end *e, void *buf, size_t cap)
{
	ssize_t n;

	for (;;) {
		if (e->kind == K_RING_SPIN || e->kind == K_RING_BLOCK) {
			n = ring_wait_readable(&e->rx, WAIT_MS);
			if (n > 0)
				n = ring_read(&e->rx, buf, cap);
		} else {
			n = read(e->rfd, buf, cap);
		}
		if (n > 0)
			return (size_t)n;
		if (n == -1 && errno == EINTR)
			continue;
		if (n < -1)
			errno = (int)-n;
		die(n == 0 ? "recv: early EOF" : "recv");
	}
}

static void recv_exact(struct end *e, void *buf, size_t len)
{
	for (size_t got = 0; got < len;)
		got += recv_some(e, (char *)buf + got, len - got);
}

/* Forks the peer: side 1 runs fn_child, returns its pid. */
static pid_t spawn(const struct duplex *d, void (*fn_child)(struct end *, uint64_t, size_t),
		   uint64_t a, size_t b, int done_fd)
{
	pid_t pid = fork();

	if (pid == -1)
		die("fork");
	if (pid == 0) {
		struct end e;
		char c = 1;

		pin(1);
		end_open(&e, d, 1);
		fn_child(&e, a, b);
		if (write(done_fd, &c, 1) != 1)
			_exit(1);
		_exit(0);
	}
	return pid;
}

static void child_sink(struct end *e, uint64_t total, size_t unused)
{
	static char buf[1 << 16];

	(void)unused;
	while (total)
		total -= recv_some(e, buf, sizeof(buf) < total ? sizeof(buf) : (size_t)total);
}

static void child_echo(struct end *e, uint64_t rounds, size_t unused)
{
	char msg[MSG];

	(void)unused;
	for (uint64_t i = 0; i < rounds; i++) {
		recv_exact(e, msg, sizeof(msg));
		send_all(e, msg, sizeof(msg));
	}
}

static void reap(pid_t pid, int done_fd)
{
	char c;
	int st;

	if (read(done_fd, &c, 1) != 1)
		die("peer did not finish");
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "peer failed\n");
		exit(1);
	}
}

/* GB/s moving `total` bytes in `chunk`-byte writes. */
static double run_stream(enum kind kind, size_t chunk, uint64_t total)
{
	static char buf[1 << 16];
	struct duplex d;
	struct end e;
	int done[2];
	uint64_t t0, left = total;
	pid_t pid;
	double gbs;

	memset(buf, 0x5a, sizeof(buf));
	duplex_open(&d, kind);
	if (pipe2(done, O_CLOEXEC) == -1)
		die("pipe");
	end_open(&e, &d, 0);
	pid = spawn(&d, child_sink, total, 0, done[1]);
	t0 = now_ns();
	while (left) {
		size_t n = chunk < left ? chunk : (size_t)left;

		send_all(&e, buf, n);
		left -= n;
	}
	reap(pid, done[0]);
	gbs = (double)total / (double)(now_ns() - t0);
	close(done[0]);
	close(done[1]);
	duplex_close(&d);
	return gbs;
}

/* Mean round trip of a 64-byte ping-pong, in microseconds. */
static double run_pingpong(enum kind kind, uint64_t rounds)
{
	enum { WARM = 200 };
	char msg[MSG];
	struct duplex d;
	struct end e;
	int done[2];
	uint64_t t0 = 0;
	pid_t pid;
	double us;

	memset(msg, 0xa5, sizeof(msg));
	duplex_open(&d, kind);
	if (pipe2(done, O_CLOEXEC) == -1)
		die("pipe");
	end_open(&e, &d, 0);
	pid = spawn(&d, child_echo, rounds + WARM, 0, done[1]);
	for (uint64_t i = 0; i < rounds + WARM; i++) {
		if (i == WARM)
			t0 = now_ns();
		send_all(&e, msg, sizeof(msg));
		recv_exact(&e, msg, sizeof(msg));
	}
	us = (double)(now_ns() - t0) / (double)rounds / 1000.0;
	reap(pid, done[0]);
	close(done[0]);
	close(done[1]);
	duplex_close(&d);
	return us;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void print_machine(void)
{
	char line[256], model[256] = "unknown CPU";
	struct utsname u;
	FILE *f = fopen("/proc/cpuinfo", "r");

	while (f && fgets(line, sizeof(line), f)) {
		char *colon = strchr(line, ':');

		if (!strncmp(line, "model name", 10) && colon) {
			snprintf(model, sizeof(model), "%s", colon + 2);
			model[strcspn(model, "\n")] = '\0';
			break;
		}
	}
	if (f)
		fclose(f);
	if (uname(&u) == -1)
		die("uname");
	printf("machine: %s, %ld online CPUs, Linux %s; peers pinned to CPUs 0 and 1\n", model,
	       sysconf(_SC_NPROCESSORS_ONLN), u.release);
}

int main(int argc, char **argv)
{
	static const size_t chunks[] = { 64, 256, 1024, 4096, 16384, 65536 };
	double v[K_COUNT][MAX_RUNS], med[K_COUNT];
	int runs = 5, quick = 0;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--runs") && i + 1 < argc) {
			runs = (int)strtol(argv[++i], NULL, 10);
		} else if (!strcmp(argv[i], "--quick")) {
			quick = 1;
		} else {
			fprintf(stderr, "usage: %s [--runs N (1..%d)] [--quick]\n", argv[0],
				MAX_RUNS);
			return 2;
		}
	}
	if (runs < 1 || runs > MAX_RUNS) {
		fprintf(stderr, "--runs must be 1..%d\n", MAX_RUNS);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	pin(0);
	print_machine();
	printf("ring: %u KiB data area; pipe buffers %d KiB; sockets at default sizes; "
	       "median of %d runs\n\n",
	       RING_BYTES >> 10, PIPE_BYTES >> 10, runs);

	printf("throughput, GB/s (writes of the given size, reader reads up to 64 KiB)\n");
	printf("%8s", "write");
	for (int k = 0; k < K_COUNT; k++)
		printf(" %11s", kind_name[k]);
	printf(" %11s\n", "spin/tcp");
	for (size_t c = 0; c < sizeof(chunks) / sizeof(chunks[0]); c++) {
		/* Enough writes to dwarf start-up, capped so each run stays short. */
		uint64_t total = (uint64_t)chunks[c] * (quick ? 16384 : 131072);

		if (total > (quick ? 32u : 256u) << 20)
			total = (quick ? 32u : 256u) << 20;
		for (int k = 0; k < K_COUNT; k++) {
			for (int r = 0; r < runs; r++)
				v[k][r] = run_stream((enum kind)k, chunks[c], total);
			med[k] = median(v[k], runs);
		}
		printf("%7zuB", chunks[c]);
		for (int k = 0; k < K_COUNT; k++)
			printf(" %11.2f", med[k]);
		printf(" %10.1fx\n", med[K_RING_SPIN] / med[K_TCP]);
		fflush(stdout);
	}

	printf("\nround trip, 64 B ping-pong, microseconds (mean per run)\n");
	for (int k = 0; k < K_COUNT; k++)
		printf(" %11s", kind_name[k]);
	printf("\n");
	for (int k = 0; k < K_COUNT; k++) {
		uint64_t rounds = k == K_RING_SPIN ? 50000 : 5000;

		if (quick)
			rounds /= 5;
		for (int r = 0; r < runs; r++)
			v[k][r] = run_pingpong((enum kind)k, rounds);
		med[k] = median(v[k], runs);
		printf(" %11.2f", med[k]);
		fflush(stdout);
	}
	printf("\n ring-spin round trip = %.0f%% of tcp's, %.0f%% of unix's\n",
	       100 * med[K_RING_SPIN] / med[K_TCP], 100 * med[K_RING_SPIN] / med[K_UNIX]);
	return 0;
}
