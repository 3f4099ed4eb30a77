/* SPDX-License-Identifier: MIT */
/*
 * Description: qt_signals: signal handlers as glibc programs use them.
 * raise() and kill() run a handler with the right siginfo (SI_TKILL,
 * SI_USER) and ucontext; a blocked signal waits, shows in sigpending()
 * and runs when unblocked, before sigprocmask() returns; sa_mask and the
 * signal itself are blocked inside its handler and unblocked after;
 * SA_RESETHAND; SIG_IGN and ignoring defaults; a write into a pipe with no
 * reader runs the SIGPIPE handler and returns EPIPE; a SIGSEGV handler
 * that siglongjmp()s out of a wild write (si_addr, SEGV_MAPERR); one that
 * mprotect()s the page and returns, so the faulting store is retried with
 * every register intact (rt_sigreturn); floating point and SSE state that
 * a handler clobbers is back after it; a handler that raises another
 * signal; pthread_kill() to the calling thread; sigaltstack(): SA_ONSTACK
 * handlers on the alternate stack, SS_ONSTACK inside, EPERM to change it
 * there, ENOMEM below MINSIGSTKSZ, SS_DISABLE; the real-time interval
 * timer: setitimer/getitimer and alarm, SIGALRM into a loop without
 * system calls, periodic and one-shot, what is left, EINVAL.
 *
 * With "outside", signals sent to the process from outside (by the test
 * script: to quark, under quark run): it ignores SIGHUP, prints "ready",
 * spins in ring 3 without a system call until its SIGTERM handler ran
 * (under quark: an interrupt had to get it there), then prints "waiting"
 * and sleeps in 10 ms steps until its SIGUSR2 handler ran. With
 * "outside-default" it catches nothing, prints "ready" and sleeps: the
 * script's SIGTERM must end it as it ends a native process.
 *
 *   qt_signals [outside | outside-default]
 *
 * Exit status: 0 when every check passed, 1 otherwise.
 */
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "qt.h"

static volatile sig_atomic_t hits[65];
static volatile int last_code, last_signo, nested_seen;
static volatile uint64_t last_uc_rip;
static sigset_t mask_in_handler;
static sigjmp_buf escape;
static volatile void *fault_addr;
static char *guarded;

static void on_info(int sig, siginfo_t *si, void *ucv)
{
	ucontext_t *uc = ucv;

	hits[sig]++;
	last_signo = si->si_signo;
	last_code = si->si_code;
	last_uc_rip = (uint64_t)uc->uc_mcontext.gregs[REG_RIP];
	sigprocmask(SIG_BLOCK, NULL, &mask_in_handler);
}

static void on_plain(int sig)
{
	hits[sig]++;
}

static void on_nested(int sig)
{
	hits[sig]++;
	raise(SIGUSR2); /* its handler runs before this one returns */
	nested_seen = hits[SIGUSR2];
}

static volatile sig_atomic_t again_runs;

/* Raises itself once more while it runs: blocked until it returns. */
static void on_again(int sig)
{
	if (++again_runs == 1)
		raise(sig);
}

static void on_segv_jump(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	hits[sig]++;
	last_code = si->si_code;
	fault_addr = si->si_addr;
	siglongjmp(escape, 1);
}

static void on_segv_fix(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	hits[sig]++;
	fault_addr = si->si_addr;
	last_code = si->si_code;
	mprotect(guarded, 4096, PROT_READ | PROT_WRITE);
}

static volatile uintptr_t handler_local;
static volatile int handler_ss_flags, handler_ss_errno;

static void on_stack_probe(int sig)
{
	volatile char here = 0;
	stack_t cur, other = { .ss_size = 65536 };

	hits[sig]++;
	handler_local = (uintptr_t)&here;
	sigaltstack(NULL, &cur);
	handler_ss_flags = cur.ss_flags;
	other.ss_sp = malloc(65536);
	handler_ss_errno = sigaltstack(&other, NULL) == -1 ? errno : 0;
	free(other.ss_sp);
}

static void on_fpu(int sig)
{
	volatile double x = 1.0;

	hits[sig]++;
	for (int i = 0; i < 50; i++)
		x = x * 3.25 - 0.5; /* different values in every x87/SSE register used */
}

static void set_action(int sig, void (*h)(int), void (*ih)(int, siginfo_t *, void *), int flags,
		       const sigset_t *mask)
{
	struct sigaction sa = { 0 };

	if (ih) {
		sa.sa_sigaction = ih;
		sa.sa_flags = SA_SIGINFO | flags;
	} else {
		sa.sa_handler = h;
		sa.sa_flags = flags;
	}
	if (mask)
		sa.sa_mask = *mask;
	else
		sigemptyset(&sa.sa_mask);
	QT_CHECK(sigaction(sig, &sa, NULL) == 0, "sigaction");
}

static void basics(void)
{
	set_action(SIGUSR1, NULL, on_info, 0, NULL);
	QT_CHECK(raise(SIGUSR1) == 0 && hits[SIGUSR1] == 1, "raise() runs the handler once");
	QT_CHECK(last_signo == SIGUSR1 && last_code == SI_TKILL,
		 "raise(): si_signo SIGUSR1, si_code SI_TKILL");
	QT_CHECK(last_uc_rip != 0, "the ucontext holds the interrupted %rip");
	QT_CHECK(sigismember(&mask_in_handler, SIGUSR1) == 1,
		 "the signal is blocked inside its handler");
	QT_CHECK(kill(getpid(), SIGUSR1) == 0 && hits[SIGUSR1] == 2 && last_code == SI_USER,
		 "kill(getpid()) runs it with si_code SI_USER");
	sigset_t now;
	sigprocmask(SIG_BLOCK, NULL, &now);
	QT_CHECK(sigismember(&now, SIGUSR1) == 0, "and unblocked again after the handler");
	QT_CHECK(syscall(SYS_tgkill, getpid(), gettid(), SIGUSR1) == 0 && hits[SIGUSR1] == 3,
		 "tgkill() to this thread");
	QT_CHECK(pthread_kill(pthread_self(), SIGUSR1) == 0 && hits[SIGUSR1] == 4,
		 "pthread_kill() to this thread");
}

static void masks(void)
{
	sigset_t set, old, pend, extra;

	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	QT_CHECK(sigprocmask(SIG_BLOCK, &set, &old) == 0, "block SIGUSR1");
	raise(SIGUSR1);
	QT_CHECK(hits[SIGUSR1] == 4, "a blocked signal's handler does not run");
	QT_CHECK(sigpending(&pend) == 0 && sigismember(&pend, SIGUSR1) == 1,
		 "sigpending() shows it");
	raise(SIGUSR1); /* not queued twice: a standard signal is pending or not */
	QT_CHECK(sigprocmask(SIG_SETMASK, &old, NULL) == 0 && hits[SIGUSR1] == 5,
		 "unblocking runs it once, before sigprocmask() returns");
	QT_CHECK(sigpending(&pend) == 0 && sigismember(&pend, SIGUSR1) == 0,
		 "and it is no longer pending");

	/* sa_mask: SIGUSR2 blocked while the SIGUSR1 handler runs. */
	sigemptyset(&extra);
	sigaddset(&extra, SIGUSR2);
	set_action(SIGUSR1, NULL, on_info, 0, &extra);
	raise(SIGUSR1);
	QT_CHECK(sigismember(&mask_in_handler, SIGUSR2) == 1, "sa_mask applies in the handler");
	/* SA_NODEFER: the signal itself stays deliverable. */
	set_action(SIGUSR1, NULL, on_info, SA_NODEFER, NULL);
	raise(SIGUSR1);
	QT_CHECK(sigismember(&mask_in_handler, SIGUSR1) == 0, "SA_NODEFER leaves it unblocked");

	/* A handler that raises another signal: that one runs inside it. */
	set_action(SIGUSR2, on_plain, NULL, 0, NULL);
	set_action(SIGUSR1, on_nested, NULL, 0, NULL);
	hits[SIGUSR2] = 0;
	raise(SIGUSR1);
	QT_CHECK(nested_seen == 1, "a signal raised in a handler runs before it returns");

	/* Pending while its handler ran: delivered as that handler returns
	 * (rt_sigreturn), before the program makes another system call. */
	set_action(SIGUSR1, on_again, NULL, 0, NULL);
	raise(SIGUSR1);
	int runs = again_runs; /* no system call between raise() and here */
	QT_CHECK(runs == 2, "a signal raised inside its own handler runs right after it");

	/* SA_RESETHAND: one run, then the default again. */
	set_action(SIGUSR2, on_plain, NULL, (int)SA_RESETHAND, NULL);
	hits[SIGUSR2] = 0;
	raise(SIGUSR2);
	struct sigaction cur;
	sigaction(SIGUSR2, NULL, &cur);
	QT_CHECK(hits[SIGUSR2] == 1 && cur.sa_handler == SIG_DFL, "SA_RESETHAND");

	/* Ignored: SIG_IGN, and SIGCHLD/SIGWINCH's default. */
	signal(SIGUSR2, SIG_IGN);
	QT_CHECK(raise(SIGUSR2) == 0, "SIG_IGN: raise() returns and nothing happens");
	signal(SIGWINCH, SIG_DFL);
	QT_CHECK(raise(SIGWINCH) == 0 && raise(SIGCHLD) == 0,
		 "SIGWINCH and SIGCHLD ignored by default");
}

static void pipes(void)
{
	int p[2];

	set_action(SIGPIPE, on_plain, NULL, 0, NULL);
	QT_CHECK(pipe(p) == 0, "pipe");
	close(p[0]);
	QT_ERRNO(write(p[1], "x", 1), EPIPE, "a write with no reader fails with EPIPE");
	QT_CHECK(hits[SIGPIPE] == 1, "and the SIGPIPE handler ran");
	close(p[1]);
}

/* An address the compiler cannot see through (it would warn about 16). */
static volatile uintptr_t wild_addr = 16;

static void faults(void)
{
	volatile char *wild = (volatile char *)wild_addr;

	set_action(SIGSEGV, NULL, on_segv_jump, 0, NULL);
	if (sigsetjmp(escape, 1) == 0) {
		*wild = 1;
		QT_CHECK(0, "a write to address 16 faulted");
	}
	QT_CHECK(hits[SIGSEGV] == 1, "the SIGSEGV handler ran and siglongjmp()ed out");
	QT_CHECK(fault_addr == (void *)16 && last_code == SEGV_MAPERR,
		 "si_addr is the address, si_code SEGV_MAPERR");
	sigset_t now;
	sigprocmask(SIG_BLOCK, NULL, &now);
	QT_CHECK(sigismember(&now, SIGSEGV) == 0, "siglongjmp restored the mask");

	/* Fix the cause and return: the store is retried and completes. */
	guarded = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	QT_CHECK(guarded != MAP_FAILED, "mmap a read-only page");
	set_action(SIGSEGV, NULL, on_segv_fix, 0, NULL);
	hits[SIGSEGV] = 0;
	((volatile char *)guarded)[100] = 42;
	QT_CHECK(hits[SIGSEGV] == 1 && guarded[100] == 42,
		 "a handler that makes the page writable: the store is retried");
	QT_CHECK(fault_addr == guarded + 100 && last_code == SEGV_ACCERR,
		 "si_addr the store's address, si_code SEGV_ACCERR");
	munmap(guarded, 4096);
}

static void altstack(void)
{
	stack_t ss, cur;
	size_t size = 65536;
	char *mem = malloc(size);

	QT_CHECK(sigaltstack(NULL, &cur) == 0 && cur.ss_flags == SS_DISABLE,
		 "no alternate stack at first");
	ss = (stack_t){ .ss_sp = mem, .ss_size = 1024 };
	QT_ERRNO(sigaltstack(&ss, NULL), ENOMEM, "an alternate stack below MINSIGSTKSZ");
	ss.ss_size = size;
	QT_CHECK(sigaltstack(&ss, NULL) == 0, "sigaltstack of 64 KiB");
	QT_CHECK(sigaltstack(NULL, &cur) == 0 && cur.ss_flags == 0 && cur.ss_sp == mem &&
			 cur.ss_size == size,
		 "it reads back, not in use");

	set_action(SIGUSR1, on_stack_probe, NULL, SA_ONSTACK, NULL);
	raise(SIGUSR1);
	QT_CHECK(handler_local >= (uintptr_t)mem && handler_local < (uintptr_t)mem + size,
		 "an SA_ONSTACK handler runs on the alternate stack");
	QT_CHECK(handler_ss_flags == SS_ONSTACK, "sigaltstack() in it says SS_ONSTACK");
	QT_CHECK(handler_ss_errno == EPERM, "changing it there is EPERM");

	set_action(SIGUSR1, on_stack_probe, NULL, 0, NULL);
	raise(SIGUSR1);
	QT_CHECK(handler_local < (uintptr_t)mem || handler_local >= (uintptr_t)mem + size,
		 "a handler without SA_ONSTACK runs on the thread's stack");

	/*
	 * The classic use: a stack that cannot take a frame. A push through a
	 * non-canonical %rsp is #SS on x86-64 (SIGBUS on Linux); whichever
	 * signal the CPU's answer means, it is printed, so the native and the
	 * Quark runs are compared on it too.
	 */
	set_action(SIGSEGV, NULL, on_segv_jump, SA_ONSTACK, NULL);
	set_action(SIGBUS, NULL, on_segv_jump, SA_ONSTACK, NULL);
	hits[SIGSEGV] = hits[SIGBUS] = 0;
	if (sigsetjmp(escape, 1) == 0)
		__asm__ __volatile__("movabs $0x8000000000001000, %%rsp\n\tpushq $0" ::: "memory");
	QT_CHECK(hits[SIGSEGV] + hits[SIGBUS] == 1,
		 "a push through a non-canonical %rsp runs the SA_ONSTACK handler");
	printf("note: that was %s, si_code %d\n", hits[SIGBUS] ? "SIGBUS" : "SIGSEGV", last_code);

	ss.ss_flags = SS_DISABLE;
	QT_CHECK(sigaltstack(&ss, NULL) == 0 && sigaltstack(NULL, &cur) == 0 &&
			 cur.ss_flags == SS_DISABLE,
		 "SS_DISABLE turns it off");
	free(mem);
}

static volatile sig_atomic_t alarms;

static void on_alarm(int sig)
{
	(void)sig;
	alarms++;
}

/* Spins without a system call until *flag reaches want (or ~a minute of TSC). */
static void spin_until(volatile sig_atomic_t *flag, int want)
{
	uint64_t start = __builtin_ia32_rdtsc();

	while (*flag < want && __builtin_ia32_rdtsc() - start < (1ULL << 38))
		;
}

static void timers(void)
{
	struct itimerval it = { 0 }, old;

	QT_CHECK(getitimer(ITIMER_REAL, &old) == 0 && old.it_value.tv_sec == 0 &&
			 old.it_value.tv_usec == 0,
		 "no real-time timer at first");
	set_action(SIGALRM, on_alarm, NULL, 0, NULL);
	it.it_value.tv_usec = 50000;
	it.it_interval.tv_usec = 20000;
	QT_CHECK(setitimer(ITIMER_REAL, &it, NULL) == 0, "setitimer: 50 ms, then every 20 ms");
	QT_CHECK(getitimer(ITIMER_REAL, &old) == 0 && old.it_interval.tv_usec == 20000 &&
			 old.it_value.tv_sec == 0 && old.it_value.tv_usec > 0 &&
			 old.it_value.tv_usec <= 50000,
		 "getitimer: the interval, and what is left of the first 50 ms");
	spin_until(&alarms, 3);
	QT_CHECK(alarms >= 3, "three SIGALRMs into a loop without system calls");
	memset(&it, 0, sizeof(it));
	QT_CHECK(setitimer(ITIMER_REAL, &it, &old) == 0 && old.it_interval.tv_usec == 20000,
		 "disarming returns the old interval");
	QT_CHECK(alarm(5) == 0, "alarm(5) with no timer left returns 0");
	QT_CHECK(alarm(0) == 5, "alarm(0) returns the 5 s left");
	alarms = 0;
	alarm(1);
	spin_until(&alarms, 1);
	QT_CHECK(alarms == 1, "alarm(1) fires once");
	it.it_value.tv_usec = 1000000;
	QT_ERRNO(setitimer(ITIMER_REAL, &it, NULL), EINVAL, "a tv_usec of a million is EINVAL");
	/* Linux saturates a long timer (at 292 years) rather than refuse it. */
	it.it_value.tv_usec = 0;
	it.it_value.tv_sec = (time_t)1 << 40;
	QT_CHECK(setitimer(ITIMER_REAL, &it, NULL) == 0 && getitimer(ITIMER_REAL, &old) == 0 &&
			 old.it_value.tv_sec > ((time_t)1 << 32),
		 "a 2^40 s timer is taken and runs for centuries");
	memset(&it, 0, sizeof(it));
	QT_CHECK(setitimer(ITIMER_REAL, &it, NULL) == 0, "and is disarmed");
	QT_CHECK(alarm(UINT_MAX) == 0 && alarm(0) == UINT_MAX,
		 "alarm(UINT_MAX) keeps every second");
}

static void fpu(void)
{
	volatile double a = 1.0 / 3.0, b;

	set_action(SIGUSR1, on_fpu, NULL, 0, NULL);
	b = a * 7.0;
	raise(SIGUSR1);
	QT_CHECK(b == a * 7.0 && a == 1.0 / 3.0, "floating point values survive a handler");
}

static volatile sig_atomic_t got_term, got_usr2;

static void on_term(int sig)
{
	(void)sig;
	got_term = 1;
}

static void on_usr2(int sig)
{
	(void)sig;
	got_usr2 = 1;
}

static int outside(void)
{
	const struct timespec tick = { .tv_nsec = 10 * 1000 * 1000 };
	uint64_t start = __builtin_ia32_rdtsc();

	signal(SIGHUP, SIG_IGN);
	set_action(SIGTERM, on_term, NULL, 0, NULL);
	set_action(SIGUSR2, on_usr2, NULL, 0, NULL);
	printf("ready\n");
	/* No system call in this loop: only an interrupt can end it. */
	while (!got_term && __builtin_ia32_rdtsc() - start < (1ULL << 38))
		;
	QT_CHECK(got_term, "SIGTERM from outside ran its handler in a loop without system calls");
	printf("waiting\n");
	for (int i = 0; i < 6000 && !got_usr2; i++)
		nanosleep(&tick, NULL);
	QT_CHECK(got_usr2, "SIGUSR2 from outside ran its handler between sleeps");
	return qt_finish("qt_signals outside");
}

static int outside_default(void)
{
	const struct timespec tick = { .tv_nsec = 10 * 1000 * 1000 };

	printf("ready\n");
	for (int i = 0; i < 6000; i++)
		nanosleep(&tick, NULL);
	printf("FAIL: SIGTERM from outside did not end the program\n");
	return 1;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	if (argc > 1 && strcmp(argv[1], "outside") == 0)
		return outside();
	if (argc > 1 && strcmp(argv[1], "outside-default") == 0)
		return outside_default();
	basics();
	masks();
	pipes();
	faults();
	altstack();
	timers();
	fpu();
	return qt_finish("qt_signals");
}
