// SPDX-License-Identifier: MIT
/*
 * Signal handlers of a preloaded program, wrapped so that an accelerated
 * read or write restarts after a signal exactly when the kernel's would.
 *
 * Why. A blocked socket call interrupted by a handler installed with
 * SA_RESTART is restarted by the kernel, unless the socket has a send or
 * receive timeout (SO_SNDTIMEO/SO_RCVTIMEO: sock_intr_errno() then says
 * EINTR); a handler without SA_RESTART makes it fail with EINTR. Programs
 * written against that (most servers install their handlers with
 * SA_RESTART and never check for EINTR) break if an accelerated read fails
 * where a kernel one would have gone on. But an accelerated connection
 * sleeps in poll() (conn.c, conn_wait()), which the kernel never restarts,
 * and poll's EINTR does not say which handler ran: the library has to find
 * out for itself.
 *
 * How. Every handler the program installs is installed in the kernel as
 * trampoline() instead, with the program's mask and flags plus SA_SIGINFO;
 * the program's handler and flags stay in slots[]. When a signal arrives,
 * the trampoline notes on its own thread (tsor_sig_note(), conn.c) that a
 * handler ran and whether that handler had SA_RESTART, then calls the
 * program's handler with the arguments the kernel gave (siginfo and the
 * real ucontext, so handlers that edit the interrupted context still
 * work). conn_wait() clears the note before it sleeps; on EINTR it
 * restarts unless a handler without SA_RESTART ran or the socket has a
 * timeout.
 *
 *   program:  sigaction(SIGUSR1, {h, SA_RESTART})
 *   kernel:   SIGUSR1 -> trampoline, SA_RESTART|SA_SIGINFO, program's mask
 *   slots[SIGUSR1] = { h, SA_RESTART }      (read back by sigaction(.., old))
 *
 * What the program sees is unchanged: sigaction() and signal() return its
 * own actions, never the trampoline; SA_RESETHAND works (the kernel resets
 * to SIG_DFL, and a query then reports what the kernel has); SIG_DFL and
 * SIG_IGN go to the kernel untouched. signal() with glibc's BSD semantics
 * (SA_RESTART unless siginterrupt() said otherwise), sysv_signal() (what
 * strict-ISO programs' signal() becomes) and siginterrupt() are
 * interposed too, because glibc implements them on an internal sigaction
 * that an interposer never sees. Handlers present before this library was
 * initialised (another library's constructor) are wrapped at load.
 *
 * Consistency. A slot's two words are read by the trampoline on any
 * thread, so writers publish them under a sequence count (odd while
 * writing), and a writer blocks every signal while it holds the count odd:
 * otherwise a signal arriving on the writing thread would spin forever in
 * its own trampoline. Readers retry while the count is odd or changed.
 *
 * Costs: nothing on the data path; two signal-mask system calls per
 * sigaction(); per delivered signal, one indirect call and a few loads.
 *
 * Not seen: handlers installed by the raw rt_sigaction system call, by
 * bsd_signal(), sigset(), and glibc's own (the setxid and cancellation
 * signals). A poll() ended by one of those alone is restarted: glibc's
 * own have SA_RESTART, and a wait that restarts wrongly is bounded by the
 * caller's data, while an EINTR the program never expects is an error.
 * Only a process's own calls edit its slots: a vfork() child sharing our
 * memory goes straight to libc.
 */
#include <dlfcn.h>
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "compiler.h"
#include "tsor-int.h"

#define EXPORT ATTR_EXPORT

/* The kernel's flag for an action with its own return trampoline; every
 * action glibc installs has it, and sigaction() reports it (x86-64 value,
 * not in the libc headers). */
#ifndef SA_RESTORER
#define SA_RESTORER 0x04000000
#endif

typedef void (*sig_fn)(int);
typedef void (*sig_info_fn)(int, siginfo_t *, void *);

/* The program's action for one signal. fn holds sa_sigaction, which is
 * sa_handler too (struct sigaction's union). */
struct sig_slot {
	_Atomic(sig_info_fn) fn; /* the program's handler, NULL = not wrapped */
	atomic_uint seq;	 /* odd while a writer updates fn and flags */
	atomic_int flags;	 /* the program's sa_flags */
};

static struct sig_slot slots[_NSIG];
static int (*real_sigaction)(int, const struct sigaction *, struct sigaction *);
static sigset_t sigintr; /* siginterrupt(sig, 1) was called: signal() without SA_RESTART */
static pid_t owner;	 /* the process whose slots these are (see vfork above) */

static inline void spin_pause(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__asm__ __volatile__("pause" ::: "memory");
#else
	atomic_signal_fence(memory_order_seq_cst);
#endif
}

static bool resolve(void)
{
	if (likely(real_sigaction))
		return true;
	*(void **)&real_sigaction = dlsym(RTLD_NEXT, "sigaction");
	return real_sigaction != NULL;
}

static void trampoline(int sig, siginfo_t *info, void *uc)
{
	struct sig_slot *s = &slots[sig];
	sig_info_fn fn;
	unsigned seq;
	int flags;

	do {
		while ((seq = atomic_load_explicit(&s->seq, memory_order_acquire)) & 1)
			spin_pause(); /* a writer, with every signal blocked */
		fn = atomic_load_explicit(&s->fn, memory_order_relaxed);
		flags = atomic_load_explicit(&s->flags, memory_order_relaxed);
		atomic_thread_fence(memory_order_acquire);
	} while (atomic_load_explicit(&s->seq, memory_order_relaxed) != seq);

	tsor_sig_note(flags & SA_RESTART);
	if (!fn) /* the program reset it while this delivery was in flight */
		return;
	if (flags & SA_SIGINFO) {
		fn(sig, info, uc);
	} else {
		union {
			sig_info_fn info;
			sig_fn plain;
		} h = { .info = fn };

		h.plain(sig);
	}
}

/* Whether this call edits the slots: a real signal, and our own process. */
static bool wraps(int sig)
{
	return sig > 0 && sig < _NSIG && sig != SIGKILL && sig != SIGSTOP &&
	       (pid_t)syscall(SYS_getpid) == owner;
}

EXPORT int sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
	struct sig_slot *s = &slots[sig > 0 && sig < _NSIG ? sig : 0];
	const struct sigaction *give = act;
	struct sigaction mine, prev;
	sigset_t all, saved;
	bool handler;
	int rc;

	if (!resolve()) {
		errno = ENOSYS;
		return -1;
	}
	if (!wraps(sig))
		return real_sigaction(sig, act, old);
	handler = act && act->sa_handler != SIG_DFL && act->sa_handler != SIG_IGN;
	if (handler) {
		mine = *act;
		mine.sa_sigaction = trampoline;
		mine.sa_flags |= SA_SIGINFO;
		give = &mine;
	}
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &saved);
	atomic_fetch_add_explicit(&s->seq, 1, memory_order_relaxed);
	/* Release: the odd count is seen before any new slot word. */
	atomic_thread_fence(memory_order_release);
	rc = real_sigaction(sig, give, &prev);
	if (rc == 0) {
		if (prev.sa_sigaction == trampoline) {
			/* Report the program's own action; the kernel adds
			 * SA_RESTORER to every action glibc installs. */
			prev.sa_sigaction = atomic_load(&s->fn);
			prev.sa_flags = atomic_load(&s->flags) | (prev.sa_flags & SA_RESTORER);
		}
		if (act) {
			atomic_store_explicit(&s->fn, handler ? act->sa_sigaction : NULL,
					      memory_order_relaxed);
			atomic_store_explicit(&s->flags, act->sa_flags, memory_order_relaxed);
		}
	}
	/* Release: the slot words are visible before the even count. */
	atomic_fetch_add_explicit(&s->seq, 1, memory_order_release);
	pthread_sigmask(SIG_SETMASK, &saved, NULL);
	if (rc == 0 && old)
		*old = prev;
	return rc;
}

/* signal() and its SysV form, as glibc builds them (sigaction flags). */
static sighandler_t set_handler(int sig, sighandler_t h, int flags, bool mask_self)
{
	struct sigaction act = { .sa_handler = h, .sa_flags = flags }, old;

	if (h == SIG_ERR || sig <= 0 || sig >= _NSIG) {
		errno = EINVAL;
		return SIG_ERR;
	}
	sigemptyset(&act.sa_mask);
	if (mask_self)
		sigaddset(&act.sa_mask, sig);
	if (sigaction(sig, &act, &old) < 0)
		return SIG_ERR;
	return old.sa_handler;
}

EXPORT sighandler_t signal(int sig, sighandler_t h)
{
	bool intr = sig > 0 && sig < _NSIG && sigismember(&sigintr, sig) == 1;

	return set_handler(sig, h, intr ? 0 : SA_RESTART, true);
}

EXPORT sighandler_t sysv_signal(int sig, sighandler_t h)
{
	return set_handler(sig, h, SA_RESETHAND | SA_NODEFER, false);
}

EXPORT sighandler_t __sysv_signal(int sig, sighandler_t h)
{
	return sysv_signal(sig, h);
}

EXPORT int siginterrupt(int sig, int interrupt)
{
	struct sigaction act = { .sa_flags = 0 };

	if (sig <= 0 || sig >= _NSIG) {
		errno = EINVAL;
		return -1;
	}
	if (sigaction(sig, NULL, &act) < 0)
		return -1;
	if (interrupt) {
		sigaddset(&sigintr, sig);
		act.sa_flags &= ~SA_RESTART;
	} else {
		sigdelset(&sigintr, sig);
		act.sa_flags |= SA_RESTART;
	}
	return sigaction(sig, &act, NULL) < 0 ? -1 : 0;
}

static void sig_atfork_child(void)
{
	owner = (pid_t)syscall(SYS_getpid);
}

/*
 * At load, before the program's main(): handlers that earlier constructors
 * installed get wrapped like later ones, so that "no wrapped handler ran"
 * (tsor_sig_restart()) only ever means one of the unseen kinds above.
 */
__attribute__((constructor)) static void sig_ctor(void)
{
	owner = (pid_t)syscall(SYS_getpid);
	if (!resolve())
		return;
	for (int sig = 1; sig < _NSIG; sig++) {
		struct sigaction cur;

		if (sig == SIGKILL || sig == SIGSTOP || real_sigaction(sig, NULL, &cur) < 0)
			continue;
		if (cur.sa_handler != SIG_DFL && cur.sa_handler != SIG_IGN)
			(void)sigaction(sig, &cur, NULL);
	}
	pthread_atfork(NULL, NULL, sig_atfork_child);
	tsor_sig_wrapping = true;
}
