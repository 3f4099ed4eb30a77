// SPDX-License-Identifier: MIT
/*
 * Signals: actions, masks, pending sets, and the delivery of a handler
 * with Linux's x86-64 frame, so that glibc's handlers, siginfo_t,
 * ucontext_t, sigsetjmp/siglongjmp and sa_restorer (__restore_rt, which
 * calls rt_sigreturn) work unchanged.
 *
 * Where signals come from. The program itself: kill/tkill/tgkill to
 * itself or one of its threads, a write into a pipe with no reader
 * (SIGPIPE), and faults (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP). And
 * from outside: SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR2 and SIGWINCH
 * sent to quark, which QVisor passes in when the program catches them
 * (abi.h: this file publishes which it catches or ignores in the boot
 * page; QVisor ORs those it passes into host_sigs and interrupts a vCPU
 * running ring 3 with QUARK_VEC_SIGNAL); SIGALRM of the program's
 * ITIMER_REAL, which QVisor keeps (alarm, setitimer), comes the same way. A
 * blocking call is never interrupted (no EINTR, nothing to restart): a
 * signal from outside that arrives while every thread waits in one is
 * taken when one of them returns.
 *
 * Delivery happens on the way back to ring 3 (qk_sig_deliver(), called at
 * the end of every system call and of every exception from ring 3): the
 * lowest pending, unblocked signal is taken. SIG_IGN drops it; SIG_DFL
 * drops SIGCHLD, SIGCONT, SIGURG and SIGWINCH and ends the program with
 * any other (there are no stops); a handler gets this frame, built on the
 * thread's stack below the 128-byte red zone, exactly as Linux lays it out
 * (arch/x86/kernel/signal_64.c, rt_sigframe):
 *
 *   higher addresses   interrupted %rsp
 *                      128-byte red zone (left alone)
 *                      FPU state: 512 bytes of fxsave, 64-aligned
 *                      struct siginfo (128 bytes)              } struct
 *                      struct ucontext (304 bytes: flags, link, } rt_sigframe
 *                        stack, sigcontext, sigmask)            }
 *   handler's %rsp ->  return address = sa_restorer             }
 *
 * with %rdi = the signal, %rsi = &info, %rdx = &uc, %rax = 0, and
 * (%rsp + 8) 16-byte aligned, as after a call. The handler runs with the
 * mask | sa_mask | the signal itself (unless SA_NODEFER), a clean FPU,
 * and DF and TF clear. rt_sigreturn reads the ucontext back from the
 * stack (%rsp then points at it: the handler's `ret` popped the restorer's
 * address), restores every general register, the user-settable flags, the
 * mask and the FPU state, and returns through iretq, because sysretq would
 * clobber %rcx and %r11, which an interrupted fault site may need.
 *
 * The guest is hostile, also to its own kernel: every value read back
 * from the stack is checked before it reaches a register the CPU
 * validates. %rip and %rsp must be canonical user addresses (an iretq to a
 * non-canonical %rip would fault in ring 0), the flags keep IF and IOPL as
 * they are, the selectors are the user ones whatever the frame says, and
 * MXCSR's reserved bits are cleared (fxrstor faults on them). A frame that
 * cannot be written (a bad stack) or read back ends the program with
 * SIGSEGV, as Linux does. A fault whose signal is blocked or ignored ends
 * it too (Linux's force_sig), since returning would fault again forever.
 *
 * The FPU: QKernel itself touches neither x87 nor SSE and QVisor leaves
 * CR4.OSXSAVE off, so fxsave holds the whole vector state a program has.
 *
 * SA_ONSTACK handlers run on the thread's alternate stack (sigaltstack,
 * one per thread, none in a new thread), where no red zone is left: the
 * frame starts at its top, unless the thread already runs on it.
 *
 * Masks are per thread (a new thread inherits its creator's), actions per
 * process, pending sets per process (kill, SIGPIPE, signals from outside:
 * taken by the first thread that returns to ring 3 without blocking them)
 * and per thread (tkill, tgkill).
 *
 * Limits: SS_AUTODISARM is accepted and
 * ignored; no sigsuspend, sigtimedwait or signalfd; a signal sent to
 * another thread waits until that thread next leaves the kernel.
 */
#include "kernel.h"

#define NSIG	     64
#define SIG_DFL	     0
#define SIG_IGN	     1
#define SIGSTOP	     19
#define SA_NODEFER   0x40000000UL
#define SA_RESETHAND 0x80000000UL
#define SA_RESTORER  0x04000000UL
#define SA_ONSTACK   0x08000000UL
#define SS_ONSTACK   1
#define SS_DISABLE   2
#define MINSIGSTKSZ  2048
#define SI_USER	     0
#define SI_TKILL     (-6)

#define RED_ZONE      128
#define FX_SIZE	      512
#define UC_FLAGS      0x6	/* UC_SIGCONTEXT_SS | UC_STRICT_RESTORE_SS, as Linux */
#define FLAGS_USER    0x50dd5UL /* AC, RF, OF, DF, TF, SF, ZF, AF, PF, CF: FIX_EFLAGS */
#define UNBLOCKABLE   ((1UL << (SIGKILL - 1)) | (1UL << (SIGSTOP - 1)))
#define BIT(sig)      (1UL << ((sig)-1))
#define DFL_IGNORED   (BIT(17) | BIT(18) | BIT(23) | BIT(28)) /* CHLD CONT URG WINCH */
#define USER_CANON(a) ((a) < 0x800000000000UL)

struct k_sigaction {
	uint64_t handler, flags, restorer, mask;
};

/* Linux's struct sigcontext (x86-64): uc_mcontext, glibc's gregs[] order. */
struct sigcontext {
	uint64_t r8, r9, r10, r11, r12, r13, r14, r15;
	uint64_t rdi, rsi, rbp, rbx, rdx, rax, rcx, rsp, rip, eflags;
	uint16_t cs, gs, fs, ss;
	uint64_t err, trapno, oldmask, cr2;
	uint64_t fpstate; /* user address of the fxsave area, or 0 */
	uint64_t reserved1[8];
};

struct ucontext {
	uint64_t uc_flags;
	uint64_t uc_link;
	uint64_t ss_sp;
	int32_t ss_flags, ss_pad;
	uint64_t ss_size;
	struct sigcontext uc_mcontext;
	uint64_t uc_sigmask;
};

struct siginfo {
	int32_t si_signo, si_errno, si_code, pad0;
	union {
		struct {
			int32_t pid;
			uint32_t uid;
		} kill;
		uint64_t addr; /* faults */
	} f;
	uint8_t rest[128 - 24];
};

struct rt_sigframe {
	uint64_t pretcode;
	struct ucontext uc;
	struct siginfo info;
};

_Static_assert(sizeof(struct sigcontext) == 256, "Linux's struct sigcontext");
_Static_assert(sizeof(struct ucontext) == 304, "Linux's struct ucontext");
_Static_assert(sizeof(struct siginfo) == 128, "Linux's siginfo_t");
_Static_assert(sizeof(struct rt_sigframe) == 440, "Linux's rt_sigframe");

static struct k_sigaction actions[NSIG + 1];
static uint64_t pending;		 /* kill()ed, and SIGPIPE */
static struct siginfo info_of[NSIG + 1]; /* the info of each pending one */
static uint32_t mxcsr_mask = 0xffbf;

static struct quark_boot *boot_page(void)
{
	return qk_kva(QUARK_BOOT_GPA);
}

/* For QVisor (abi.h): which signals from outside the program takes. */
static void publish(void)
{
	uint64_t caught = 0, ignored = 0;

	for (int sig = 1; sig <= NSIG; sig++) {
		uint64_t h = actions[sig].handler;

		if (h > SIG_IGN)
			caught |= BIT(sig);
		else if (h == SIG_IGN || (DFL_IGNORED & BIT(sig)))
			ignored |= BIT(sig);
	}
	__atomic_store_n(&boot_page()->sig_caught, caught, __ATOMIC_RELEASE);
	__atomic_store_n(&boot_page()->sig_ignored, ignored, __ATOMIC_RELEASE);
}

bool qk_sig_ignored(int sig)
{
	return sig >= 1 && sig <= NSIG && actions[sig].handler == SIG_IGN;
}

void qk_sig_init(void)
{
	uint8_t fx_buf[FX_SIZE] __attribute__((aligned(64)));
	uint32_t m;

	/* MXCSR_MASK (fxsave offset 28): 0 means the architectural 0xffbf. */
	__asm__ __volatile__("fxsave64 %0" : "=m"(fx_buf));
	__builtin_memcpy(&m, fx_buf + 28, 4);
	if (m)
		mxcsr_mask = m;
	publish();
}

/* A signal for the whole process (kill, SIGPIPE) or one thread (tkill);
 * pid 0 is a sender outside the sandbox. */
static void raise_sig(struct qk_cpu *to, int sig, int code, int32_t pid)
{
	struct siginfo *i = &info_of[sig];

	if (actions[sig].handler == SIG_IGN ||
	    (actions[sig].handler == SIG_DFL && (DFL_IGNORED & BIT(sig))))
		return; /* discarded at once, as Linux does */
	__builtin_memset(i, 0, sizeof(*i));
	i->si_signo = sig;
	i->si_code = code;
	i->f.kill.pid = pid;
	i->f.kill.uid = pid ? qk_boot->uid : 0;
	if (to)
		to->sig_pending |= BIT(sig);
	else
		pending |= BIT(sig);
}

void qk_sig_raise(int sig)
{
	raise_sig(NULL, sig, SI_USER, 1);
}

static bool thread_of(uint64_t tid, struct qk_cpu **out)
{
	for (uint32_t i = 0; i < qk_ncpus; i++) {
		if (qk_cpus[i].busy && (uint64_t)qk_cpus[i].tid == tid) {
			*out = &qk_cpus[i];
			return true;
		}
	}
	return false;
}

static int64_t send(struct qk_cpu *to, uint64_t sig, int code)
{
	if (sig > NSIG)
		return -EINVAL;
	if (sig)
		raise_sig(to, (int)sig, code, 1);
	return 0;
}

__attribute__((noreturn)) static void die(int sig, uint64_t addr, uint64_t rip)
{
	qk_exit(QUARK_EXIT_SIGNAL | (uint64_t)sig, addr, rip);
}

/* sigaltstack's view of sp: on the thread's alternate stack, off it, or none. */
static int ss_flags_at(const struct qk_cpu *c, uint64_t sp)
{
	if (!c->ss_size)
		return SS_DISABLE;
	return sp > c->ss_sp && sp - c->ss_sp <= c->ss_size ? SS_ONSTACK : 0;
}

/* Builds the frame of a handler for sig on r's stack; false = no stack. */
static bool setup_frame(struct qk_regs *r, int sig, const struct siginfo *info)
{
	/*
	 * A copy: the user copies below may drop the kernel lock, and another
	 * thread may change the action meanwhile.
	 */
	const struct k_sigaction act = actions[sig], *a = &act;
	/* On this vCPU's stack: a user copy may drop the kernel lock. */
	uint8_t fx_buf[FX_SIZE] __attribute__((aligned(64)));
	struct rt_sigframe f;
	struct qk_cpu *c = qk_this_cpu();
	uint64_t sp = r->rsp - RED_ZONE, fx, at;
	int ss_flags = ss_flags_at(c, r->rsp);

	if (!(a->flags & SA_RESTORER))
		return false; /* x86-64 has no default return path */
	/* The handler becomes %rip for an iretq, which faults in ring 0 on a
	 * non-canonical one: such a handler is the program's SIGSEGV. */
	if (!USER_CANON(a->handler))
		return false;
	/*
	 * SA_ONSTACK: the top of the alternate stack, unless already on it,
	 * whatever %rsp holds (a stack overflow's handler is the classic use;
	 * rt_sigreturn checks %rsp if the handler returns to it).
	 */
	if ((a->flags & SA_ONSTACK) && ss_flags == 0)
		sp = c->ss_sp + c->ss_size;
	else if (!USER_CANON(r->rsp))
		return false; /* the frame would go there */
	if (sp < USER_MIN + RED_ZONE + FX_SIZE + sizeof(f) || !USER_CANON(sp))
		return false; /* the arithmetic below must not wrap */
	fx = (sp - FX_SIZE) & ~63UL;
	at = ((fx - sizeof(f)) & ~15UL) - 8;
	if (at < USER_MIN)
		return false;
	__asm__ __volatile__("fxsave64 %0" : "=m"(fx_buf));
	__builtin_memset(fx_buf + 464, 0, FX_SIZE - 464); /* no xsave magic: plain fxsave */
	if (qk_copy_to_user(fx, fx_buf, FX_SIZE) < 0)
		return false;
	__builtin_memset(&f, 0, sizeof(f));
	f.pretcode = a->restorer;
	f.uc.uc_flags = UC_FLAGS;
	f.uc.ss_sp = c->ss_sp;
	f.uc.ss_flags = ss_flags;
	f.uc.ss_size = c->ss_size;
	f.uc.uc_mcontext = (struct sigcontext){
		.r8 = r->r8,
		.r9 = r->r9,
		.r10 = r->r10,
		.r11 = r->r11,
		.r12 = r->r12,
		.r13 = r->r13,
		.r14 = r->r14,
		.r15 = r->r15,
		.rdi = r->rdi,
		.rsi = r->rsi,
		.rbp = r->rbp,
		.rbx = r->rbx,
		.rdx = r->rdx,
		.rax = r->rax,
		.rcx = r->rcx,
		.rsp = r->rsp,
		.rip = r->rip,
		.eflags = r->rflags,
		.cs = (uint16_t)r->cs,
		.ss = (uint16_t)r->ss,
		.err = r->vector == (uint64_t)-1 ? 0 : r->error,
		.trapno = r->vector == (uint64_t)-1 ? 0 : r->vector,
		.oldmask = c->sig_mask,
		.cr2 = info->si_signo == SIGSEGV || info->si_signo == SIGBUS ? info->f.addr : 0,
		.fpstate = fx,
	};
	f.uc.uc_sigmask = c->sig_mask;
	f.info = *info;
	if (qk_copy_to_user(at, &f, sizeof(f)) < 0)
		return false;

	c->sig_mask |= a->mask | ((a->flags & SA_NODEFER) ? 0 : BIT(sig));
	c->sig_mask &= ~UNBLOCKABLE;
	r->rip = a->handler;
	/* Unless another thread set a new action while the lock was dropped. */
	if ((a->flags & SA_RESETHAND) && actions[sig].handler == a->handler) {
		actions[sig].handler = SIG_DFL;
		publish();
	}
	r->rsp = at;
	r->rdi = (uint64_t)sig;
	r->rsi = at + __builtin_offsetof(struct rt_sigframe, info);
	r->rdx = at + __builtin_offsetof(struct rt_sigframe, uc);
	r->rax = 0;
	r->rflags &= ~(0x400UL /* DF */ | 0x100UL /* TF */ | 0x10000UL /* RF */);
	r->cs = QUARK_SEL_UCODE | 3;
	r->ss = QUARK_SEL_UDATA | 3;
	/* The handler starts with a clean FPU, as on Linux. */
	__asm__ __volatile__("fninit\n\tldmxcsr %0" ::"m"((uint32_t){ 0x1f80 }));
	return true;
}

/*
 * Runs sig's action with info: true when a handler frame was built. A
 * fault's death names its address and instruction, a sent signal's none.
 */
static bool act(struct qk_regs *r, int sig, const struct siginfo *info, bool fault)
{
	uint64_t h = actions[sig].handler;

	if (h == SIG_IGN || (h == SIG_DFL && (DFL_IGNORED & BIT(sig))))
		return false;
	if (h == SIG_DFL)
		die(sig, fault ? info->f.addr : 0, fault ? r->rip : 0);
	if (!setup_frame(r, sig, info))
		die(SIGSEGV, 0, r->rip);
	return true;
}

bool qk_sig_deliver(struct qk_regs *r)
{
	struct qk_cpu *c = qk_this_cpu();
	uint64_t host = __atomic_load_n(&boot_page()->host_sigs, __ATOMIC_RELAXED), ready;

	/* Signals from outside (abi.h); a plain load first, the exchange only when set. */
	if (host) {
		host = __atomic_exchange_n(&boot_page()->host_sigs, 0, __ATOMIC_ACQ_REL);
		for (int sig = 1; sig <= NSIG; sig++)
			if (host & BIT(sig))
				raise_sig(NULL, sig, SI_USER, 0);
	}
	ready = (pending | c->sig_pending) & ~c->sig_mask;
	struct siginfo info;
	int sig;

	if (!ready)
		return false;
	sig = __builtin_ctzl(ready) + 1;
	info = info_of[sig];
	if (c->sig_pending & BIT(sig))
		c->sig_pending &= ~BIT(sig);
	else
		pending &= ~BIT(sig);
	return act(r, sig, &info, false);
}

bool qk_sig_fault(struct qk_regs *r, int sig, int code, uint64_t addr)
{
	struct siginfo info;

	/* Blocked or ignored, returning would fault again: the default. */
	if ((qk_this_cpu()->sig_mask & BIT(sig)) || actions[sig].handler <= SIG_IGN)
		die(sig, addr, r->rip);
	__builtin_memset(&info, 0, sizeof(info));
	info.si_signo = sig;
	info.si_code = code;
	info.f.addr = addr;
	return act(r, sig, &info, true);
}

/* rt_sigreturn: the frame's context back into r (then iretq). */
static void sigreturn(struct qk_regs *r)
{
	uint8_t fx_buf[FX_SIZE] __attribute__((aligned(64)));
	struct ucontext uc;
	const struct sigcontext *m = &uc.uc_mcontext;

	if (qk_copy_from_user(&uc, r->rsp, sizeof(uc)) < 0 || !USER_CANON(m->rip) ||
	    !USER_CANON(m->rsp))
		die(SIGSEGV, 0, r->rip);
	if (m->fpstate) {
		if (qk_copy_from_user(fx_buf, m->fpstate, FX_SIZE) < 0)
			die(SIGSEGV, 0, r->rip);
		uint32_t mxcsr;

		__builtin_memcpy(&mxcsr, fx_buf + 24, 4); /* fxrstor faults on reserved bits */
		mxcsr &= mxcsr_mask;
		__builtin_memcpy(fx_buf + 24, &mxcsr, 4);
		__asm__ __volatile__("fxrstor64 %0" ::"m"(fx_buf));
	}
	r->r8 = m->r8, r->r9 = m->r9, r->r10 = m->r10, r->r11 = m->r11;
	r->r12 = m->r12, r->r13 = m->r13, r->r14 = m->r14, r->r15 = m->r15;
	r->rdi = m->rdi, r->rsi = m->rsi, r->rbp = m->rbp, r->rbx = m->rbx;
	r->rdx = m->rdx, r->rax = m->rax, r->rcx = m->rcx;
	r->rsp = m->rsp;
	r->rip = m->rip;
	r->rflags = (r->rflags & ~FLAGS_USER) | (m->eflags & FLAGS_USER);
	r->cs = QUARK_SEL_UCODE | 3;
	r->ss = QUARK_SEL_UDATA | 3;
	qk_this_cpu()->sig_mask = uc.uc_sigmask & ~UNBLOCKABLE;
}

/*
 * ITIMER_REAL (alarm, setitimer, getitimer): QVisor keeps the timer and
 * sends SIGALRM in at each expiry (abi.h, QUARK_OP_ALARM); this side keeps
 * the same deadline on the guest's clock to answer what is left.
 */
static uint64_t itimer_at, itimer_every; /* guest CLOCK_MONOTONIC ns, 0 = off */

static uint64_t itimer_left(void)
{
	uint64_t now = qk_clock_ns(CLOCK_MONOTONIC);

	if (!itimer_at)
		return 0;
	if (now < itimer_at)
		return itimer_at - now;
	/* Expired: a one-shot is over, a periodic one is into its next round. */
	return itimer_every ? itimer_every - (now - itimer_at) % itimer_every : 0;
}

static int64_t itimer_set(uint64_t value_ns, uint64_t every_ns)
{
	itimer_at = value_ns ? qk_clock_ns(CLOCK_MONOTONIC) + value_ns : 0;
	itimer_every = value_ns ? every_ns : 0;
	return qk_hcall(QUARK_OP_ALARM, value_ns, itimer_every, 0, 0, 0, 0);
}

/* QVisor's ceiling for a timer (146 years): no deadline sum can wrap. */
#define ITIMER_MAX_NS (1LL << 62)

/*
 * struct timeval -> ns, or -EINVAL as Linux (negative, or usec out of
 * range). Longer is taken as the ceiling, as Linux saturates at 292 years.
 */
static int64_t tv_ns(const int64_t tv[2])
{
	if (tv[0] < 0 || tv[1] < 0 || tv[1] >= 1000000)
		return -EINVAL;
	if (tv[0] >= ITIMER_MAX_NS / 1000000000L)
		return ITIMER_MAX_NS;
	return tv[0] * 1000000000L + tv[1] * 1000L;
}

static void ns_tv(uint64_t ns, int64_t tv[2])
{
	tv[0] = (int64_t)(ns / 1000000000UL);
	tv[1] = (int64_t)(ns % 1000000000UL) / 1000;
	if (ns && !tv[0] && !tv[1])
		tv[1] = 1; /* still armed: never report zero */
}

/* setitimer(ITIMER_REAL, new, old) and getitimer (new = 0). */
static int64_t itimer(uint64_t which, uint64_t new_uva, uint64_t old_uva)
{
	int64_t nv[4], ov[4];
	int64_t value = 0, every = 0;

	if (which != 0)
		return -EINVAL; /* ITIMER_VIRTUAL and ITIMER_PROF are not kept */
	if (new_uva) {
		if (qk_copy_from_user(nv, new_uva, sizeof(nv)) < 0)
			return -EFAULT;
		every = tv_ns(nv);
		value = tv_ns(nv + 2);
		if (every < 0 || value < 0)
			return -EINVAL;
	}
	if (old_uva) {
		ns_tv(itimer_at ? itimer_every : 0, ov);
		ns_tv(itimer_left(), ov + 2);
		if (qk_copy_to_user(old_uva, ov, sizeof(ov)) < 0)
			return -EFAULT;
	}
	return new_uva ? itimer_set((uint64_t)value, (uint64_t)every) : 0;
}

/* alarm(s): the seconds that were left, rounded as Linux does. */
static int64_t alarm_sec(uint32_t sec)
{
	uint64_t left = itimer_left(), r = left / 1000000000UL;
	int64_t rc;

	if (left % 1000000000UL >= 500000000UL || (left && !r))
		r++;
	/* sec is an unsigned int: 136 years at most, below the ceiling. */
	rc = itimer_set(sec * 1000000000UL, 0);
	return rc < 0 ? rc : (int64_t)r;
}

/* sigaltstack(new, old): stack_t is { void *ss_sp; int ss_flags; size_t ss_size; }. */
static int64_t altstack(uint64_t new_uva, uint64_t old_uva, const struct qk_regs *r)
{
	struct qk_cpu *c = qk_this_cpu();
	int on = ss_flags_at(c, r->rsp);
	uint64_t ss[3];

	if (new_uva) {
		if (qk_copy_from_user(ss, new_uva, sizeof(ss)) < 0)
			return -EFAULT;
		if (on == SS_ONSTACK)
			return -EPERM; /* not while running on it */
		/* Linux takes 0 or SS_ONSTACK to enable, SS_DISABLE to disable;
		 * SS_AUTODISARM (bit 31) is accepted and not acted on. */
		switch ((uint32_t)ss[1] & ~0x80000000U) {
		case SS_DISABLE:
			ss[0] = ss[2] = 0;
			break;
		case 0:
		case SS_ONSTACK:
			/* Any address, as Linux: a frame that cannot be
			 * written there ends the program with SIGSEGV. */
			if (ss[2] < MINSIGSTKSZ)
				return -ENOMEM;
			break;
		default:
			return -EINVAL;
		}
	}
	if (old_uva) {
		uint64_t o[3] = { c->ss_sp, (uint64_t)(uint32_t)on, c->ss_size };

		if (qk_copy_to_user(old_uva, o, sizeof(o)) < 0)
			return -EFAULT;
	}
	if (new_uva) {
		c->ss_sp = ss[0];
		c->ss_size = ss[2];
	}
	return 0;
}

int64_t qk_sys_signal(uint64_t nr, const uint64_t *a, struct qk_regs *r, bool *handled)
{
	struct qk_cpu *to;

	*handled = true;
	switch (nr) {
	case 13: { /* rt_sigaction */
		struct k_sigaction act_new;

		if (a[0] < 1 || a[0] > NSIG || a[3] != 8)
			return -EINVAL;
		if (a[1] && (a[0] == SIGKILL || a[0] == SIGSTOP))
			return -EINVAL;
		if (a[1] && qk_copy_from_user(&act_new, a[1], sizeof(act_new)) < 0)
			return -EFAULT;
		if (a[2] && qk_copy_to_user(a[2], &actions[a[0]], sizeof(act_new)) < 0)
			return -EFAULT;
		if (a[1]) {
			actions[a[0]] = act_new;
			publish();
			/* Setting SIG_IGN (or an ignoring default) drops a pending one. */
			if (act_new.handler == SIG_IGN ||
			    (act_new.handler == SIG_DFL && (DFL_IGNORED & BIT(a[0])))) {
				pending &= ~BIT(a[0]);
				for (uint32_t i = 0; i < qk_ncpus; i++)
					qk_cpus[i].sig_pending &= ~BIT(a[0]);
			}
		}
		return 0;
	}
	case 14: { /* rt_sigprocmask */
		uint64_t set, *mask = &qk_this_cpu()->sig_mask, old = *mask;

		if (a[3] != 8)
			return -EINVAL;
		if (a[1]) {
			if (qk_copy_from_user(&set, a[1], 8) < 0)
				return -EFAULT;
			set &= ~UNBLOCKABLE;
			if (a[0] == 0)
				*mask |= set;
			else if (a[0] == 1)
				*mask &= ~set;
			else if (a[0] == 2)
				*mask = set;
			else
				return -EINVAL;
		}
		if (a[2] && qk_copy_to_user(a[2], &old, 8) < 0)
			return -EFAULT;
		return 0;
	}
	case 127: { /* rt_sigpending */
		uint64_t set = (pending | qk_this_cpu()->sig_pending) & qk_this_cpu()->sig_mask;

		if (a[1] != 8)
			return -EINVAL;
		return qk_copy_to_user(a[0], &set, 8) < 0 ? -EFAULT : 0;
	}
	case 15: /* rt_sigreturn */
		sigreturn(r);
		return (int64_t)r->rax;
	case 131: /* sigaltstack */
		return altstack(a[0], a[1], r);
	case 37: /* alarm */
		return alarm_sec((uint32_t)a[0]);
	case 38: /* setitimer */
		return itimer(a[0], a[1], a[2]);
	case 36: /* getitimer */
		return a[1] ? itimer(a[0], 0, a[1]) : -EFAULT;
	case 62: /* kill: this process is pid 1, its group and "all" are itself */
		if ((int64_t)a[0] != 1 && a[0] != 0 && (int64_t)a[0] != -1)
			return -ESRCH;
		return send(NULL, a[1], SI_USER);
	case 200: /* tkill */
		return thread_of(a[0], &to) ? send(to, a[1], SI_TKILL) : -ESRCH;
	case 234: /* tgkill */
		return a[0] == 1 && thread_of(a[1], &to) ? send(to, a[2], SI_TKILL) : -ESRCH;
	default:
		*handled = false;
		return 0;
	}
}
