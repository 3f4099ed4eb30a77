// SPDX-License-Identifier: MIT
/*
 * qbench: the guest side of the Quark benchmark (bench/quark/run.sh).
 *
 * One static program, run unmodified twice in the same emulated machine:
 * natively and under `quark run`, so every number it prints has a peer
 * measured by the same code minutes apart. It measures what issue 5 asks
 * about:
 *
 *   qbench [--batches N] [--min-ms MS] [--file PATH] [TEST...]
 *       per-operation time of each TEST (default: all of them):
 *         getpid             syscall(SYS_getpid): served inside QKernel
 *         clock_gettime      the libc call: the vDSO natively, a system
 *                            call served inside QKernel under quark (no vDSO)
 *         clock_gettime_sys  syscall(SYS_clock_gettime): a real system call
 *                            on both sides
 *         pread4k            pread of 4 KiB at offsets cycling through PATH:
 *                            forwarded to the host
 *         openclose          open(PATH, O_RDONLY) + close: forwarded
 *         stat               stat(PATH) (newfstatat): forwarded
 *       Each test is calibrated (iterations doubled until the fastest of
 *       three batches takes at least MS milliseconds, default 20), then
 *       run for N batches (default 7); it prints the median, minimum and
 *       maximum of the batches' per-operation times, in ns:
 *         qbench test=pread4k iters=2048 batches=7 median_ns=... min_ns=... max_ns=...
 *
 *   qbench [--file PATH] readloop [N]
 *       N (default 100 000) 4 KiB preads back to back, for `quark run
 *       --stats` to count VM exits per forwarded call under load:
 *         qbench test=readloop reads=100000 total_ms=... per_read_ns=...
 *
 *   qbench spin getpid|clock_gettime N
 *       N raw system calls and nothing else, no output: under `quark run
 *       --stats`, compared with a program that does nothing (qtrue), shows
 *       whether in-guest system calls cost any VM exit.
 *
 *   qbench watch PROGRAM [ARG...]
 *       runs PROGRAM once (meant to be `quark run ...`) and, while it runs,
 *       reads KVM's own exit counters of every VM on the machine from
 *       debugfs (/sys/kernel/debug/kvm/PID-FD/exits, io_exits, ...; debugfs
 *       must be mounted) every 20 ms; prints the last values seen:
 *         qbench test=kvm samples=N exits=... io_exits=... irq_exits=... ...
 *       A VM's counters vanish with it, so this is a lower bound by what
 *       the last 20 ms added (the exit hypercall and teardown). These count
 *       every exit, also those KVM handles without returning to QVisor
 *       (host interrupts, ioeventfd kicks, nested page faults).
 *
 *   qbench spawn [--gap MS] N PROGRAM [ARG...]
 *       runs PROGRAM N times, one after another (fork, execv, waitpid; MS
 *       milliseconds apart, untimed, default 0), and prints the wall time
 *       of each run from fork to reaped, in µs:
 *         qbench test=spawn runs=N median_us=... min_us=... max_us=... p90_us=... all_us=a,b,...
 *       Every run must exit 0, or qbench says which did not and exits 1.
 *       Its own output goes to stdout after the children's, which keep
 *       qbench's stdout and stderr.
 *
 * Times come from clock_gettime(CLOCK_MONOTONIC) (inside the guest,
 * QKernel's clock). Absolute times in the nested bed are emulated; only
 * the ratios between the two runs mean something. Exit status: 0, 1 when a
 * test could not run (the line says why), 2 for bad usage.
 *
 * Built outside the project's flags, with the system's gcc -O2 -static
 * and no sanitizers (it runs on QKernel, which gives it no sanitizer
 * runtime): bench/quark/CMakeLists.txt.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define QB_PAGE	       4096
#define QB_FILE_PAGES  256 /* the file: 1 MiB, so preads cycle through the page cache */
#define QB_MAX_BATCHES 101
#define QB_MAX_SPAWNS  10000

/* The options of the timed tests. */
struct qb_opts {
	unsigned batches; /* batches timed after calibration */
	double min_ms;	  /* a batch's length at least this, by calibration */
	const char *file; /* the file read, opened and stat'ed */
};

/* One test: its name and the loop it times (returns 0 or a negative errno). */
struct qb_test {
	const char *name; /* as on the command line and in the output */
	int (*run)(const struct qb_opts *, long iters); /* iters operations */
};

static unsigned char qb_buf[QB_PAGE] __attribute__((aligned(QB_PAGE)));
static int qb_fd = -1; /* the file, open for pread4k */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Median of v[0..n) (sorts v). */
static double median(double *v, unsigned n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* ---- the operations ----------------------------------------------------- */

static int t_getpid(const struct qb_opts *o, long iters)
{
	(void)o;
	for (long i = 0; i < iters; i++)
		if (syscall(SYS_getpid) < 0)
			return -errno;
	return 0;
}

static int t_clock(const struct qb_opts *o, long iters)
{
	struct timespec ts;

	(void)o;
	for (long i = 0; i < iters; i++)
		if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
			return -errno;
	return 0;
}

static int t_clock_sys(const struct qb_opts *o, long iters)
{
	struct timespec ts;

	(void)o;
	for (long i = 0; i < iters; i++)
		if (syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &ts) != 0)
			return -errno;
	return 0;
}

static int t_pread(const struct qb_opts *o, long iters)
{
	(void)o;
	for (long i = 0; i < iters; i++) {
		off_t off = (off_t)(i % QB_FILE_PAGES) * QB_PAGE;
		ssize_t n = pread(qb_fd, qb_buf, QB_PAGE, off);

		if (n < 0)
			return -errno;
		if (n != QB_PAGE)
			return -EIO;
	}
	return 0;
}

static int t_openclose(const struct qb_opts *o, long iters)
{
	for (long i = 0; i < iters; i++) {
		int fd = open(o->file, O_RDONLY | O_CLOEXEC);

		if (fd < 0)
			return -errno;
		if (close(fd) != 0)
			return -errno;
	}
	return 0;
}

static int t_stat(const struct qb_opts *o, long iters)
{
	struct stat st;

	for (long i = 0; i < iters; i++)
		if (stat(o->file, &st) != 0)
			return -errno;
	return 0;
}

static const struct qb_test qb_tests[] = {
	{ "getpid", t_getpid }, { "clock_gettime", t_clock }, { "clock_gettime_sys", t_clock_sys },
	{ "pread4k", t_pread }, { "openclose", t_openclose }, { "stat", t_stat },
};
#define QB_NTESTS (sizeof(qb_tests) / sizeof(qb_tests[0]))

/* ---- set-up --------------------------------------------------------------- */

/*
 * Opens the file for pread4k, creating it (1 MiB of a pattern) when it does
 * not exist or is too short. Returns 0 or a negative errno.
 */
static int open_file(const char *path)
{
	struct stat st;

	if (qb_fd >= 0)
		return 0;
	if (stat(path, &st) != 0 || st.st_size < (off_t)QB_FILE_PAGES * QB_PAGE) {
		int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

		if (fd < 0)
			return -errno;
		for (unsigned i = 0; i < QB_FILE_PAGES; i++) {
			memset(qb_buf, (int)(i & 0xff), sizeof(qb_buf));
			if (write(fd, qb_buf, sizeof(qb_buf)) != (ssize_t)sizeof(qb_buf)) {
				int e = errno ? errno : EIO;

				close(fd);
				return -e;
			}
		}
		if (close(fd) != 0)
			return -errno;
	}
	qb_fd = open(path, O_RDONLY | O_CLOEXEC);
	return qb_fd < 0 ? -errno : 0;
}

/* ---- the timed tests ------------------------------------------------------ */

/* Runs one test: calibration, then o->batches batches; prints its line. */
static int run_test(const struct qb_test *t, const struct qb_opts *o)
{
	double per_op[QB_MAX_BATCHES] = { 0 }, lo, hi, med;
	long iters = 16;
	uint64_t t0, dt;
	int rc;

	/*
	 * Warm-up and calibration: double until a batch lasts o->min_ms, by
	 * the fastest of three tries, so that one batch slowed by the host
	 * (a descheduled vCPU of the emulated machine takes milliseconds)
	 * does not leave the test with a handful of iterations.
	 */
	for (;;) {
		uint64_t best = UINT64_MAX;

		for (int k = 0; k < 3; k++) {
			t0 = now_ns();
			rc = t->run(o, iters);
			dt = now_ns() - t0;
			if (rc < 0)
				goto fail;
			best = dt < best ? dt : best;
		}
		if ((double)best >= o->min_ms * 1e6 || iters >= (1L << 30))
			break;
		iters *= 2;
	}
	for (unsigned b = 0; b < o->batches; b++) {
		t0 = now_ns();
		rc = t->run(o, iters);
		dt = now_ns() - t0;
		if (rc < 0)
			goto fail;
		per_op[b] = (double)dt / (double)iters;
	}
	lo = hi = per_op[0];
	for (unsigned b = 1; b < o->batches; b++) {
		lo = per_op[b] < lo ? per_op[b] : lo;
		hi = per_op[b] > hi ? per_op[b] : hi;
	}
	med = median(per_op, o->batches);
	printf("qbench test=%s iters=%ld batches=%u median_ns=%.1f min_ns=%.1f max_ns=%.1f\n",
	       t->name, iters, o->batches, med, lo, hi);
	fflush(stdout);
	return 0;
fail:
	printf("qbench test=%s error=%s\n", t->name, strerror(-rc));
	fflush(stdout);
	return rc;
}

static int cmd_readloop(int argc, char **argv, const struct qb_opts *o)
{
	long n = argc > 0 ? strtol(argv[0], NULL, 10) : 100000;
	uint64_t t0, dt;
	int rc;

	if (n <= 0) {
		fprintf(stderr, "qbench: readloop: bad count '%s'\n", argv[0]);
		return 2;
	}
	rc = open_file(o->file);
	if (rc < 0) {
		printf("qbench test=readloop error=%s: %s\n", o->file, strerror(-rc));
		return 1;
	}
	t0 = now_ns();
	rc = t_pread(o, n);
	dt = now_ns() - t0;
	if (rc < 0) {
		printf("qbench test=readloop error=%s\n", strerror(-rc));
		return 1;
	}
	printf("qbench test=readloop reads=%ld total_ms=%.1f per_read_ns=%.1f\n", n,
	       (double)dt / 1e6, (double)dt / (double)n);
	return 0;
}

static int cmd_spin(int argc, char **argv)
{
	struct timespec ts;
	long n;

	if (argc != 2 || (n = strtol(argv[1], NULL, 10)) <= 0) {
		fprintf(stderr, "qbench: usage: qbench spin getpid|clock_gettime N\n");
		return 2;
	}
	if (strcmp(argv[0], "getpid") == 0) {
		for (long i = 0; i < n; i++)
			syscall(SYS_getpid);
	} else if (strcmp(argv[0], "clock_gettime") == 0) {
		for (long i = 0; i < n; i++)
			syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &ts);
	} else {
		fprintf(stderr, "qbench: spin: unknown call '%s' (getpid, clock_gettime)\n",
			argv[0]);
		return 2;
	}
	return 0;
}

static int cmd_spawn(int argc, char **argv)
{
	static double us[QB_MAX_SPAWNS], sorted[QB_MAX_SPAWNS];
	struct timespec gap = { 0, 0 };
	long n;

	if (argc >= 2 && strcmp(argv[0], "--gap") == 0) {
		long ms = strtol(argv[1], NULL, 10);

		if (ms < 0 || ms > 10000) {
			fprintf(stderr, "qbench: spawn: --gap: 0 to 10000 ms\n");
			return 2;
		}
		gap.tv_sec = ms / 1000;
		gap.tv_nsec = (ms % 1000) * 1000000;
		argc -= 2;
		argv += 2;
	}
	n = argc >= 2 ? strtol(argv[0], NULL, 10) : 0;

	if (n <= 0 || n > QB_MAX_SPAWNS) {
		fprintf(stderr,
			"qbench: usage: qbench spawn [--gap MS] N PROGRAM [ARG...] (N from 1 to %d)\n",
			QB_MAX_SPAWNS);
		return 2;
	}
	for (long i = 0; i < n; i++) {
		uint64_t t0;
		int status;
		pid_t pid;

		if (i > 0 && (gap.tv_sec || gap.tv_nsec))
			nanosleep(&gap, NULL);
		t0 = now_ns();
		pid = fork();

		if (pid < 0) {
			fprintf(stderr, "qbench: spawn: fork: %s\n", strerror(errno));
			return 1;
		}
		if (pid == 0) {
			execv(argv[1], argv + 1);
			fprintf(stderr, "qbench: spawn: %s: %s\n", argv[1], strerror(errno));
			_exit(127);
		}
		while (waitpid(pid, &status, 0) < 0)
			if (errno != EINTR) {
				fprintf(stderr, "qbench: spawn: waitpid: %s\n", strerror(errno));
				return 1;
			}
		us[i] = (double)(now_ns() - t0) / 1e3;
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
			printf("qbench test=spawn error=run %ld of %s: %s %d\n", i + 1, argv[1],
			       WIFEXITED(status) ? "exit status" : "signal",
			       WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
			return 1;
		}
	}
	memcpy(sorted, us, (size_t)n * sizeof(*us));
	double med = median(sorted, (unsigned)n);
	printf("qbench test=spawn runs=%ld median_us=%.0f min_us=%.0f max_us=%.0f p90_us=%.0f all_us=",
	       n, med, sorted[0], sorted[n - 1], sorted[(n * 9 - 1) / 10]);
	for (long i = 0; i < n; i++)
		printf("%s%.0f", i ? "," : "", us[i]);
	printf("\n");
	return 0;
}

/* KVM's per-VM statistics read by `watch` (those of all vCPUs, summed). */
static const char *const qb_kvm_stats[] = {
	"exits",      "io_exits",	   "mmio_exits",       "irq_exits",
	"halt_exits", "request_irq_exits", "irq_window_exits", "signal_exits",
	"hypercalls", "insn_emulation",	   "nested_run",       "halt_wakeup",
};
#define QB_NKVM	   (sizeof(qb_kvm_stats) / sizeof(qb_kvm_stats[0]))
#define QB_KVM_DIR "/sys/kernel/debug/kvm"

/* Reads a decimal counter file; -1 when it cannot. */
static long long read_counter(const char *dir, const char *name)
{
	char path[512], buf[32];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/%s/%s", QB_KVM_DIR, dir, name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	return strtoll(buf, NULL, 10);
}

/*
 * Sums the counters of every VM directory (PID-FD) into sum; returns the
 * number of VMs seen, 0 when a VM's files could not all be read (it is
 * being torn down: the sample is incomplete and must not replace the last
 * complete one), -1 without debugfs.
 */
static int sample_kvm(long long *sum)
{
	DIR *d = opendir(QB_KVM_DIR);
	struct dirent *e;
	int vms = 0;

	if (!d)
		return -1;
	memset(sum, 0, QB_NKVM * sizeof(*sum));
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] < '0' || e->d_name[0] > '9' || !strchr(e->d_name, '-'))
			continue;
		vms++;
		for (size_t i = 0; i < QB_NKVM; i++) {
			long long v = read_counter(e->d_name, qb_kvm_stats[i]);

			if (v < 0) {
				closedir(d);
				return 0;
			}
			sum[i] += v;
		}
	}
	closedir(d);
	return vms;
}

static int cmd_watch(int argc, char **argv)
{
	long long last[QB_NKVM], cur[QB_NKVM];
	struct timespec tick = { 0, 20L * 1000 * 1000 };
	long samples = 0;
	int status, vms, max_vms = 0;
	pid_t pid;

	if (argc < 1) {
		fprintf(stderr, "qbench: usage: qbench watch PROGRAM [ARG...]\n");
		return 2;
	}
	if (sample_kvm(cur) < 0) {
		printf("qbench test=kvm error=%s: %s (mount -t debugfs none /sys/kernel/debug)\n",
		       QB_KVM_DIR, strerror(errno));
		return 1;
	}
	memset(last, 0, sizeof(last));
	pid = fork();
	if (pid < 0) {
		fprintf(stderr, "qbench: watch: fork: %s\n", strerror(errno));
		return 1;
	}
	if (pid == 0) {
		execv(argv[0], argv);
		fprintf(stderr, "qbench: watch: %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	for (;;) {
		pid_t w = waitpid(pid, &status, WNOHANG);

		if (w == pid)
			break;
		if (w < 0 && errno != EINTR) {
			fprintf(stderr, "qbench: watch: waitpid: %s\n", strerror(errno));
			return 1;
		}
		vms = sample_kvm(cur);
		if (vms > 0) {
			memcpy(last, cur, sizeof(last));
			samples++;
			max_vms = vms > max_vms ? vms : max_vms;
		}
		nanosleep(&tick, NULL);
	}
	printf("qbench test=kvm samples=%ld vms=%d", samples, max_vms);
	for (size_t i = 0; i < QB_NKVM; i++)
		printf(" %s=%lld", qb_kvm_stats[i], last[i]);
	printf("\n");
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		printf("qbench test=kvm error=%s: %s %d\n", argv[0],
		       WIFEXITED(status) ? "exit status" : "signal",
		       WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
		return 1;
	}
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f, "Usage: qbench [--batches N] [--min-ms MS] [--file PATH] [TEST...]\n"
		   "       qbench [--file PATH] readloop [N]\n"
		   "       qbench spin getpid|clock_gettime N\n"
		   "       qbench watch PROGRAM [ARG...]\n"
		   "       qbench spawn [--gap MS] N PROGRAM [ARG...]\n"
		   "TESTs:");
	for (size_t i = 0; i < QB_NTESTS; i++)
		fprintf(f, " %s", qb_tests[i].name);
	fprintf(f, "\n(bench/quark/qbench.c, bench/quark/run.sh)\n");
}

/*
 * Parses the options before the subcommand or the tests into o. Returns the
 * index of the first argument after them, or -1 (help printed: exit 0) or
 * -2 (usage error: exit 2).
 */
static int parse_opts(int argc, char **argv, struct qb_opts *o)
{
	int i = 1;

	for (; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "--batches") == 0 && i + 1 < argc) {
			long b = strtol(argv[++i], NULL, 10);

			if (b < 1 || b > QB_MAX_BATCHES) {
				fprintf(stderr, "qbench: --batches: 1 to %d\n", QB_MAX_BATCHES);
				return -2;
			}
			o->batches = (unsigned)b;
		} else if (strcmp(argv[i], "--min-ms") == 0 && i + 1 < argc) {
			o->min_ms = strtod(argv[++i], NULL);
			if (!(o->min_ms > 0 && o->min_ms <= 10000)) {
				fprintf(stderr, "qbench: --min-ms: more than 0, at most 10000\n");
				return -2;
			}
		} else if (strcmp(argv[i], "--file") == 0 && i + 1 < argc) {
			o->file = argv[++i];
		} else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return -1;
		} else {
			fprintf(stderr, "qbench: unknown option '%s'\n", argv[i]);
			usage(stderr);
			return -2;
		}
	}
	return i;
}

/* The timed tests named in argv[i..argc) (all of them when none is). */
static int cmd_tests(int argc, char **argv, int i, const struct qb_opts *o)
{
	int r = open_file(o->file), rc = 0;

	if (r < 0) {
		printf("qbench error=%s: %s\n", o->file, strerror(-r));
		return 1;
	}
	for (int k = i; k < argc; k++) {
		size_t t = 0;

		while (t < QB_NTESTS && strcmp(argv[k], qb_tests[t].name) != 0)
			t++;
		if (t == QB_NTESTS) {
			fprintf(stderr, "qbench: unknown test '%s'\n", argv[k]);
			return 2;
		}
	}
	for (size_t t = 0; t < QB_NTESTS; t++) {
		int want = i == argc;

		for (int k = i; k < argc && !want; k++)
			want = strcmp(argv[k], qb_tests[t].name) == 0;
		if (want && run_test(&qb_tests[t], o) < 0)
			rc = 1;
	}
	return rc;
}

int main(int argc, char **argv)
{
	struct qb_opts o = { .batches = 7, .min_ms = 20, .file = "qbench.dat" };
	int i = parse_opts(argc, argv, &o);

	if (i < 0)
		return i == -1 ? 0 : 2;
	if (i < argc && strcmp(argv[i], "readloop") == 0)
		return cmd_readloop(argc - i - 1, argv + i + 1, &o);
	if (i < argc && strcmp(argv[i], "spin") == 0)
		return cmd_spin(argc - i - 1, argv + i + 1);
	if (i < argc && strcmp(argv[i], "watch") == 0)
		return cmd_watch(argc - i - 1, argv + i + 1);
	if (i < argc && strcmp(argv[i], "spawn") == 0)
		return cmd_spawn(argc - i - 1, argv + i + 1);
	return cmd_tests(argc, argv, i, &o);
}
