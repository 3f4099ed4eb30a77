/* SPDX-License-Identifier: MIT */
/*
 * Description: qt_ident: identity, limits, randomness, time, thread set-up
 * and signal bookkeeping, the calls a guest kernel answers without the host
 * or with one cheap look: uname, getpid/gettid/getppid, the getuid family,
 * prlimit64, getrandom, clock_gettime/gettimeofday/time (through syscall(2),
 * not the vDSO), nanosleep/clock_nanosleep, arch_prctl, set_tid_address,
 * set_robust_list, rt_sigaction/rt_sigprocmask (recorded, never delivered).
 * Values that differ between runs (pids, times, ids) are checked, never
 * printed.
 *
 *   qt_ident
 *
 * Exit status: 0 when every check passed, 1 otherwise.
 */
#include <asm/prctl.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "qt.h"

static long long ns_of(const struct timespec *t)
{
	return (long long)t->tv_sec * 1000000000LL + t->tv_nsec;
}

static long long mono_ns(void)
{
	struct timespec t;
	syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &t);
	return ns_of(&t);
}

static void identity_checks(void)
{
	struct utsname u;
	QT_EQ(uname(&u), 0, "uname");
	QT_CHECK(u.sysname[0] && u.nodename[0] && u.release[0] && u.version[0] && u.machine[0],
		 "uname fields are non-empty");
	/* What programs (and glibc's own checks) look at; the release is the kernel's own. */
	printf("uname sysname=%s machine=%s\n", u.sysname, u.machine);
	QT_CHECK(strcmp(u.sysname, "Linux") == 0, "uname sysname is Linux");
	QT_CHECK(strcmp(u.machine, "x86_64") == 0, "uname machine is x86_64");

	long pid = syscall(SYS_getpid), tid = syscall(SYS_gettid), ppid = syscall(SYS_getppid);
	QT_CHECK(pid > 0, "getpid is positive");
	QT_CHECK(tid == pid, "gettid equals getpid in a single-threaded process");
	QT_CHECK(ppid >= 0, "getppid is not negative");
	QT_CHECK(syscall(SYS_getpid) == pid, "getpid is stable");

	long uid = syscall(SYS_getuid), euid = syscall(SYS_geteuid);
	long gid = syscall(SYS_getgid), egid = syscall(SYS_getegid);
	QT_CHECK(uid >= 0 && gid >= 0, "getuid and getgid succeed");
	QT_CHECK(uid == euid, "geteuid equals getuid (no set-id)");
	QT_CHECK(gid == egid, "getegid equals getgid (no set-id)");

	struct rlimit lim;
	QT_EQ(syscall(SYS_prlimit64, 0, RLIMIT_NOFILE, NULL, &lim), 0,
	      "prlimit64 get RLIMIT_NOFILE");
	QT_CHECK(lim.rlim_cur >= 3 && lim.rlim_cur <= lim.rlim_max, "NOFILE: 3 <= soft <= hard");
	QT_EQ(syscall(SYS_prlimit64, 0, RLIMIT_STACK, NULL, &lim), 0, "prlimit64 get RLIMIT_STACK");
	QT_CHECK(lim.rlim_cur >= 64 * 1024 && lim.rlim_cur <= lim.rlim_max,
		 "STACK: 64 KiB <= soft <= hard");
	QT_EQ(getrlimit(RLIMIT_NOFILE, &lim), 0, "getrlimit (glibc's path) RLIMIT_NOFILE");
	QT_ERRNO(syscall(SYS_prlimit64, 0, 9999, NULL, &lim), EINVAL,
		 "prlimit64 of an unknown resource is EINVAL");
}

static void random_checks(void)
{
	unsigned char a[32], b[32];
	memset(a, 0, sizeof(a));
	memset(b, 0, sizeof(b));
	QT_EQ(syscall(SYS_getrandom, a, sizeof(a), 0), 32, "getrandom 32 bytes");
	QT_EQ(syscall(SYS_getrandom, b, sizeof(b), GRND_NONBLOCK), 32, "getrandom GRND_NONBLOCK");
	int nz = 0;
	for (size_t i = 0; i < sizeof(a); i++)
		nz |= a[i];
	QT_CHECK(nz, "random bytes are not all zero");
	QT_CHECK(memcmp(a, b, sizeof(a)) != 0, "two draws differ");
	QT_EQ(syscall(SYS_getrandom, a, 0, 0), 0, "getrandom of 0 bytes returns 0");
	QT_ERRNO(syscall(SYS_getrandom, a, sizeof(a), 0x1000), EINVAL,
		 "getrandom with bad flags is EINVAL");
}

static void time_checks(void)
{
	struct timespec t0, t1, rt;
	QT_EQ(syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &t0), 0, "clock_gettime MONOTONIC");
	int mono = 1;
	long long prev = ns_of(&t0);
	for (int i = 0; i < 1000; i++) {
		long long now = mono_ns();
		mono &= now >= prev;
		prev = now;
	}
	QT_CHECK(mono, "CLOCK_MONOTONIC never goes back over 1000 reads");
	QT_CHECK(t0.tv_nsec >= 0 && t0.tv_nsec < 1000000000, "tv_nsec is in range");
	QT_EQ(syscall(SYS_clock_gettime, CLOCK_REALTIME, &rt), 0, "clock_gettime REALTIME");
	QT_CHECK(rt.tv_sec > 1577836800, "CLOCK_REALTIME is after 2020");
	QT_ERRNO(syscall(SYS_clock_gettime, 9999, &rt), EINVAL,
		 "clock_gettime of a bad clock is EINVAL");
	struct timespec lib;
	QT_EQ(clock_gettime(CLOCK_MONOTONIC, &lib), 0, "clock_gettime through glibc");
	QT_CHECK(ns_of(&lib) >= ns_of(&t0), "glibc's clock agrees with the system call's");

	struct timeval tv;
	QT_EQ(syscall(SYS_clock_gettime, CLOCK_REALTIME, &rt), 0, "clock_gettime REALTIME again");
	QT_EQ(syscall(SYS_gettimeofday, &tv, NULL), 0, "gettimeofday");
	long long diff = (long long)tv.tv_sec * 1000000 + tv.tv_usec - ns_of(&rt) / 1000;
	QT_CHECK(diff > -1000000 && diff < 1000000,
		 "gettimeofday and CLOCK_REALTIME agree within 1 s");
	QT_CHECK(tv.tv_usec >= 0 && tv.tv_usec < 1000000, "tv_usec is in range");
	time_t tt = 0;
	long t = syscall(SYS_time, &tt);
	QT_CHECK(t == tt && t >= rt.tv_sec - 1 && t <= rt.tv_sec + 1,
		 "time agrees within 1 s and fills its argument");
	QT_CHECK(syscall(SYS_time, NULL) >= t, "time(NULL) works");

	/* Sleeps must last at least what was asked. */
	long long a = mono_ns();
	QT_EQ(syscall(SYS_nanosleep, &(struct timespec){ 0, 10000000 }, NULL), 0,
	      "nanosleep 10 ms");
	long long el = mono_ns() - a;
	QT_CHECK(el >= 10000000, "nanosleep 10 ms lasts at least 10 ms");
	a = mono_ns();
	QT_EQ(syscall(SYS_clock_nanosleep, CLOCK_MONOTONIC, 0, &(struct timespec){ 0, 10000000 },
		      NULL),
	      0, "clock_nanosleep relative 10 ms");
	QT_CHECK(mono_ns() - a >= 10000000, "clock_nanosleep lasts at least 10 ms");
	syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &t1);
	t1.tv_nsec += 20000000;
	if (t1.tv_nsec >= 1000000000) {
		t1.tv_nsec -= 1000000000;
		t1.tv_sec++;
	}
	QT_EQ(syscall(SYS_clock_nanosleep, CLOCK_MONOTONIC, TIMER_ABSTIME, &t1, NULL), 0,
	      "clock_nanosleep TIMER_ABSTIME +20 ms");
	QT_CHECK(mono_ns() >= ns_of(&t1), "TIMER_ABSTIME wakes at or after the deadline");
	QT_ERRNO(syscall(SYS_nanosleep, &(struct timespec){ 0, 1000000000 }, NULL), EINVAL,
		 "nanosleep with tv_nsec of 1e9 is EINVAL");
	QT_ERRNO(syscall(SYS_nanosleep, &(struct timespec){ -1, 0 }, NULL), EINVAL,
		 "nanosleep with a negative time is EINVAL");
}

static void thread_setup_checks(void)
{
	unsigned long fs = 0, gs = 1;
	QT_EQ(syscall(SYS_arch_prctl, ARCH_GET_FS, &fs), 0, "arch_prctl ARCH_GET_FS");
	/* glibc's thread pointer is its TCB, whose first word points at itself. */
	QT_CHECK(fs != 0 && fs == (unsigned long)pthread_self(),
		 "FS base is glibc's thread pointer");
	QT_EQ(syscall(SYS_arch_prctl, ARCH_SET_FS, fs), 0,
	      "arch_prctl ARCH_SET_FS to the same value");
	QT_CHECK(syscall(SYS_arch_prctl, ARCH_GET_FS, &gs) == 0 && gs == fs,
		 "ARCH_GET_FS reads it back");
	QT_EQ(syscall(SYS_arch_prctl, ARCH_GET_GS, &gs), 0, "arch_prctl ARCH_GET_GS");
	QT_ERRNO(syscall(SYS_arch_prctl, 0x9999, &gs), EINVAL,
		 "arch_prctl with an unknown code is EINVAL");
	/* TLS still works after the round trip. */
	static __thread int tls = 41;
	tls++;
	QT_EQ(tls, 42, "thread-local storage works");

	static int ctid;
	QT_EQ(syscall(SYS_set_tid_address, &ctid), syscall(SYS_gettid),
	      "set_tid_address returns the tid");
	static struct robust_list_head head = { .list = { &head.list },
						.futex_offset = 0,
						.list_op_pending = NULL };
	QT_EQ(syscall(SYS_set_robust_list, &head, sizeof(head)), 0, "set_robust_list");
	QT_ERRNO(syscall(SYS_set_robust_list, &head, sizeof(head) + 1), EINVAL,
		 "set_robust_list with a bad size is EINVAL");
}

static void handler(int sig)
{
	(void)sig;
}

static void signal_checks(void)
{
	/* Recorded and reported back; the first slice never runs a handler. */
	struct sigaction sa = { .sa_handler = handler, .sa_flags = SA_RESTART }, old;
	sigemptyset(&sa.sa_mask);
	sigaddset(&sa.sa_mask, SIGUSR2);
	QT_EQ(sigaction(SIGUSR1, &sa, NULL), 0, "rt_sigaction installs a SIGUSR1 handler");
	QT_EQ(sigaction(SIGUSR1, NULL, &old), 0, "rt_sigaction reads it back");
	QT_CHECK(old.sa_handler == handler && (old.sa_flags & SA_RESTART) &&
			 sigismember(&old.sa_mask, SIGUSR2),
		 "handler, flags and mask are as installed");
	QT_EQ(sigaction(SIGUSR1, &(struct sigaction){ .sa_handler = SIG_DFL }, &old), 0,
	      "rt_sigaction back to SIG_DFL");
	QT_CHECK(old.sa_handler == handler, "the old action is returned");
	QT_ERRNO(sigaction(SIGKILL, &sa, NULL), EINVAL, "rt_sigaction on SIGKILL is EINVAL");
	QT_ERRNO(syscall(SYS_rt_sigaction, 99, NULL, &old, 8), EINVAL,
		 "rt_sigaction of signal 99 is EINVAL");

	sigset_t set, cur;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR2);
	QT_EQ(sigprocmask(SIG_BLOCK, &set, NULL), 0, "rt_sigprocmask SIG_BLOCK SIGUSR2");
	QT_CHECK(sigprocmask(SIG_SETMASK, NULL, &cur) == 0 && sigismember(&cur, SIGUSR2),
		 "SIGUSR2 is blocked");
	sigaddset(&set, SIGKILL);
	QT_EQ(sigprocmask(SIG_BLOCK, &set, NULL), 0, "blocking SIGKILL is ignored, not an error");
	QT_CHECK(sigprocmask(SIG_SETMASK, NULL, &cur) == 0 && !sigismember(&cur, SIGKILL),
		 "SIGKILL stays unblocked");
	QT_EQ(sigprocmask(SIG_UNBLOCK, &set, NULL), 0, "rt_sigprocmask SIG_UNBLOCK");
	QT_CHECK(sigprocmask(SIG_SETMASK, NULL, &cur) == 0 && !sigismember(&cur, SIGUSR2),
		 "SIGUSR2 is unblocked");
	QT_ERRNO(syscall(SYS_rt_sigprocmask, 99, &set, NULL, 8), EINVAL,
		 "rt_sigprocmask with a bad how is EINVAL");
}

int main(void)
{
	identity_checks();
	random_checks();
	time_checks();
	thread_setup_checks();
	signal_checks();
	return qt_finish("qt_ident");
}
