// SPDX-License-Identifier: MIT
/*
 * Threads: clone(CLONE_THREAD) through pthread_create, futex through
 * mutexes, condition variables, barriers and joins, thread-local storage,
 * thread ids, vCPU reuse (more threads over time than at once), memory
 * mapped and unmapped while other threads run, and how a threaded process
 * ends. Run natively and under `quark run --cpus 4`; at most 4 threads
 * (main included) exist at any moment, so quark needs no more vCPUs.
 *
 *   qt_threads                 every check below, exit 0
 *   qt_threads exit-in-thread  a second thread calls exit(5) while main waits: status 5
 *   qt_threads main-exits      main calls pthread_exit; the last thread's end is status 0
 *   qt_threads limit N         tries to hold N threads besides main at once;
 *                              prints how many it got and why the next failed
 */
#include <pthread.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "qt.h"

#define WORKERS	    3
#define INCREMENTS  20000
#define PING_ROUNDS 200

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static long counter;
static __thread int tls_slot = -1;
static pthread_barrier_t barrier;
static long main_pid;

struct worker {
	int index;
	long tid, pid;
	int tls_seen;
	int mem_ok;
};

/* Maps, fills, checks and unmaps 256 KiB blocks while the other threads do the same. */
static int churn_memory(int index)
{
	for (int round = 0; round < 40; round++) {
		size_t len = 256 * 1024;
		unsigned char *p =
			mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (p == MAP_FAILED)
			return 0;
		for (size_t i = 0; i < len; i += 4096)
			p[i] = (unsigned char)(index * 31 + round + i / 4096);
		for (size_t i = 0; i < len; i += 4096)
			if (p[i] != (unsigned char)(index * 31 + round + i / 4096))
				return 0;
		if (munmap(p, len))
			return 0;
	}
	return 1;
}

static void *work(void *arg)
{
	struct worker *w = arg;

	w->tid = syscall(SYS_gettid);
	w->pid = syscall(SYS_getpid);
	tls_slot = w->index;
	for (int i = 0; i < INCREMENTS; i++) {
		pthread_mutex_lock(&lock);
		counter++;
		pthread_mutex_unlock(&lock);
	}
	w->mem_ok = churn_memory(w->index);
	pthread_barrier_wait(&barrier);
	/* Everyone wrote their slot before the barrier: each still sees its own. */
	w->tls_seen = tls_slot;
	return (void *)(intptr_t)(100 + w->index);
}

static void check_workers(void)
{
	pthread_t t[WORKERS];
	struct worker w[WORKERS];
	int created = 0;

	main_pid = syscall(SYS_getpid);
	tls_slot = 99;
	QT_CHECK(pthread_barrier_init(&barrier, NULL, WORKERS + 1) == 0, "pthread_barrier_init");
	for (int i = 0; i < WORKERS; i++) {
		w[i] = (struct worker){ .index = i };
		if (pthread_create(&t[i], NULL, work, &w[i]) == 0)
			created++;
	}
	QT_EQ(created, WORKERS, "pthread_create of 3 workers");
	if (created != WORKERS) /* the barrier would wait for them forever */
		exit(qt_finish("qt_threads"));
	pthread_barrier_wait(&barrier);
	for (int i = 0; i < created; i++) {
		void *ret = NULL;

		QT_CHECK(pthread_join(t[i], &ret) == 0, "pthread_join");
		QT_EQ((long)(intptr_t)ret, 100L + i, "a joined thread's return value");
		QT_CHECK(w[i].pid == main_pid, "getpid in a thread is the process's");
		QT_CHECK(w[i].tid != main_pid && w[i].tid > 0, "gettid in a thread is its own");
		QT_EQ(w[i].tls_seen, i, "a worker's __thread variable is its own");
		QT_CHECK(w[i].mem_ok, "mmap/write/munmap while other threads run");
	}
	for (int i = 0; i < created; i++)
		for (int j = i + 1; j < created; j++)
			QT_CHECK(w[i].tid != w[j].tid, "thread ids differ");
	QT_EQ(counter, (long)WORKERS * INCREMENTS, "mutex-protected counter");
	QT_EQ(tls_slot, 99, "main's __thread variable untouched");
	pthread_barrier_destroy(&barrier);
}

/* Condition-variable ping-pong: every round is a futex wait and a wake each way. */
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int turn, rounds_seen;

static void *pong(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&lock);
	for (int i = 0; i < PING_ROUNDS; i++) {
		while (turn != 1)
			pthread_cond_wait(&cond, &lock);
		rounds_seen++;
		turn = 0;
		pthread_cond_signal(&cond);
	}
	pthread_mutex_unlock(&lock);
	return NULL;
}

static void check_pingpong(void)
{
	pthread_t t;

	QT_CHECK(pthread_create(&t, NULL, pong, NULL) == 0, "pthread_create (ping-pong)");
	pthread_mutex_lock(&lock);
	for (int i = 0; i < PING_ROUNDS; i++) {
		turn = 1;
		pthread_cond_signal(&cond);
		while (turn != 0)
			pthread_cond_wait(&cond, &lock);
	}
	pthread_mutex_unlock(&lock);
	pthread_join(t, NULL);
	QT_EQ(rounds_seen, PING_ROUNDS, "condition-variable ping-pong rounds");
}

static void check_timedwait(void)
{
	struct timespec start, deadline, end;
	long ms;
	int rc;

	clock_gettime(CLOCK_MONOTONIC, &start);
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_nsec += 30 * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&lock);
	do {
		rc = pthread_cond_timedwait(&cond, &lock, &deadline);
	} while (rc == 0); /* a spurious wake-up is allowed; the deadline is not moved */
	pthread_mutex_unlock(&lock);
	clock_gettime(CLOCK_MONOTONIC, &end);
	ms = (end.tv_sec - start.tv_sec) * 1000 + (end.tv_nsec - start.tv_nsec) / 1000000;
	QT_EQ(rc, ETIMEDOUT, "pthread_cond_timedwait with nobody signalling");
	QT_CHECK(ms >= 25, "the timed wait lasted its 30 ms");
}

static void *short_lived(void *arg)
{
	return arg;
}

/* More threads over time than vCPUs: each ended thread's vCPU is used again. */
static void check_reuse(void)
{
	int ok = 1;

	for (intptr_t i = 0; i < 12; i++) {
		pthread_t t;
		void *ret = NULL;

		if (pthread_create(&t, NULL, short_lived, (void *)i) != 0 ||
		    pthread_join(t, &ret) != 0 || ret != (void *)i)
			ok = 0;
	}
	QT_CHECK(ok, "12 threads created and joined one after another");
}

/* A pipe between threads: the reader waits for data, the writer for room (200 KiB > the pipe). */
static int pipe_fds[2];

static void *pipe_writer(void *arg)
{
	unsigned char buf[5000];
	long total = 0;

	(void)arg;
	for (int i = 0; i < 41; i++) {
		for (size_t j = 0; j < sizeof(buf); j++)
			buf[j] = (unsigned char)(i * 7 + j);
		for (size_t off = 0; off < sizeof(buf);) {
			ssize_t n = write(pipe_fds[1], buf + off, sizeof(buf) - off);

			if (n <= 0)
				return (void *)-1L;
			off += (size_t)n;
			total += n;
		}
	}
	close(pipe_fds[1]);
	return (void *)total;
}

static void check_pipe(void)
{
	unsigned long long h = QT_FNV_INIT, want = QT_FNV_INIT;
	unsigned char buf[3000];
	pthread_t t;
	void *written = NULL;
	long got = 0;
	ssize_t n;

	QT_CHECK(pipe(pipe_fds) == 0, "pipe");
	QT_CHECK(pthread_create(&t, NULL, pipe_writer, NULL) == 0, "pthread_create (pipe writer)");
	while ((n = read(pipe_fds[0], buf, sizeof(buf))) > 0) {
		h = qt_fnv(buf, (size_t)n, h);
		got += n;
	}
	QT_EQ(n, 0, "read from the pipe ends at EOF when the writer closes");
	pthread_join(t, &written);
	close(pipe_fds[0]);
	for (int i = 0; i < 41; i++)
		for (size_t j = 0; j < 5000; j++) {
			unsigned char c = (unsigned char)(i * 7 + j);

			want = qt_fnv(&c, 1, want);
		}
	QT_EQ(got, 205000L, "bytes through a pipe between threads");
	QT_EQ((long)written, 205000L, "bytes the writer wrote");
	QT_CHECK(h == want, "contents through the pipe");
}

static void *exit_five(void *arg)
{
	(void)arg;
	fflush(stdout);
	exit(5);
}

static void *outlive_main(void *arg)
{
	(void)arg;
	/* pthread_exit in main leaves the process running until this returns. */
	usleep(20000);
	printf("ok: a thread outlives main's pthread_exit\n");
	return NULL;
}

static int released;

static void *hold(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&lock);
	while (!released)
		pthread_cond_wait(&cond, &lock);
	pthread_mutex_unlock(&lock);
	return NULL;
}

static int limit(int n)
{
	pthread_t t[16];
	int got = 0, rc = 0;

	if (n < 1 || n > 16)
		return 2;
	/* Every thread waits until main has tried them all: they exist at once. */
	for (; got < n; got++) {
		rc = pthread_create(&t[got], NULL, hold, NULL);
		if (rc)
			break;
	}
	printf("created %d of %d threads; next: %s\n", got, n, rc ? qt_errname(rc) : "none");
	pthread_mutex_lock(&lock);
	released = 1;
	pthread_cond_broadcast(&cond);
	pthread_mutex_unlock(&lock);
	for (int i = 0; i < got; i++)
		pthread_join(t[i], NULL);
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc > 1 && !strcmp(argv[1], "exit-in-thread")) {
		pthread_t t;

		printf("ok: before exit in a thread\n");
		pthread_create(&t, NULL, exit_five, NULL);
		pthread_join(t, NULL);
		printf("FAIL: exit in a thread returned to main\n");
		return 1;
	}
	if (argc > 1 && !strcmp(argv[1], "main-exits")) {
		pthread_t t;

		pthread_create(&t, NULL, outlive_main, NULL);
		pthread_exit(NULL);
	}
	if (argc > 2 && !strcmp(argv[1], "limit"))
		return limit(atoi(argv[2]));
	check_workers();
	check_pingpong();
	check_timedwait();
	check_reuse();
	check_pipe();
	return qt_finish("qt_threads");
}
