// SPDX-License-Identifier: MIT
/*
 * System calls served inside the guest, and exceptions.
 *
 * qk_syscall() is reached from `syscall` with the frame of entry.S; the
 * number is in %rax, arguments in %rdi %rsi %rdx %r10 %r8 %r9, the result
 * goes back in %rax. Memory, identity, time and signal bookkeeping are
 * answered here without leaving the VM; file calls go to file.c, which
 * forwards what only the host can do. Anything else returns -ENOSYS and
 * is counted by number for `quark run --stats`.
 *
 * Time comes from the TSC: the host writes CLOCK_REALTIME and
 * CLOCK_MONOTONIC and the TSC rate into the boot page, the kernel reads
 * the TSC once at start, and every clock_gettime() is a rdtsc and a
 * division: no exit. (The boot-page stamps are taken just before the
 * first instruction, so the clocks lag the host's by the boot time, tens
 * of microseconds on hardware.)
 *
 * Threads (clone, futex, exit of one thread) are smp.c's; every call here
 * runs under the kernel lock it takes on entry.
 *
 * Signals are signal.c's: its calls are dispatched from here, and every
 * return to ring 3 (from a system call or an exception) first runs the
 * action of a pending signal, which may mean entering a handler.
 */
#include "kernel.h"

static uint64_t tsc0;
static char task_name[16] = "quark";
static char rnd_buf[65536] __attribute__((aligned(4096)));

void qk_time_init(void)
{
	tsc0 = rdtsc();
}

uint64_t qk_clock_ns(int clock)
{
	uint64_t d = rdtsc() - tsc0, khz = qk_boot->tsc_khz, ns;

	/* In two parts so that neither product overflows (hours of uptime at GHz rates). */
	ns = khz ? (d / khz) * 1000000 + ((d % khz) * 1000000) / khz : d;
	return (clock == CLOCK_REALTIME ? qk_boot->realtime_ns : qk_boot->monotonic_ns) + ns;
}

struct timespec_k {
	int64_t sec, nsec;
};

static int put_timespec(uint64_t uva, uint64_t ns)
{
	struct timespec_k ts = { (int64_t)(ns / 1000000000), (int64_t)(ns % 1000000000) };

	return qk_copy_to_user(uva, &ts, sizeof(ts));
}

static int64_t clock_of(uint64_t id)
{
	switch (id) {
	case 0: /* REALTIME */
	case 5: /* REALTIME_COARSE */
	case 8: /* REALTIME_ALARM */
		return CLOCK_REALTIME;
	case 1: /* MONOTONIC */
	case 4: /* MONOTONIC_RAW */
	case 6: /* MONOTONIC_COARSE */
	case 7: /* BOOTTIME */
	case 2: /* PROCESS_CPUTIME_ID: the guest is the process; close enough */
	case 3: /* THREAD_CPUTIME_ID */
		return CLOCK_MONOTONIC;
	default:
		return -EINVAL;
	}
}

int64_t qk_user_timeout_ns(uint64_t uva, bool absolute, int clock)
{
	struct timespec_k ts;
	uint64_t ns, now;

	if (qk_copy_from_user(&ts, uva, sizeof(ts)) < 0)
		return -EFAULT;
	if (ts.sec < 0 || ts.nsec < 0 || ts.nsec >= 1000000000)
		return -EINVAL;
	ns = (uint64_t)ts.sec * 1000000000 + (uint64_t)ts.nsec;
	if (ns > INT64_MAX)
		ns = INT64_MAX;
	if (absolute) {
		now = qk_clock_ns(clock);
		ns = ns > now ? ns - now : 0;
	}
	return (int64_t)ns;
}

static int64_t do_sleep(uint64_t req_uva, int64_t clock, bool absolute)
{
	int64_t r0 = qk_user_timeout_ns(req_uva, absolute, (int)clock);
	uint64_t ns;

	if (r0 < 0)
		return r0;
	ns = (uint64_t)r0;
	/* The host sleeps at most a second a call (fwd.h): go on until the deadline. */
	for (uint64_t end = qk_clock_ns(CLOCK_MONOTONIC) + ns, now2;;) {
		int64_t r = qk_hcall(QUARK_OP_NANOSLEEP, ns, 0, 0, 0, 0, 0);

		if (r < 0)
			return r;
		now2 = qk_clock_ns(CLOCK_MONOTONIC);
		if (now2 >= end)
			return 0;
		ns = end - now2;
	}
}

static int64_t do_mmap(uint64_t addr, uint64_t len, uint64_t prot, uint64_t flags, int64_t fd,
		       uint64_t off)
{
	uint64_t got, type = flags & 0x3;
	uint32_t h;
	int rc;

	if (len == 0 || (off & ~PAGE_MASK) || (type != MAP_PRIVATE && type != MAP_SHARED) ||
	    (prot & ~(uint64_t)(PROT_READ | PROT_WRITE | PROT_EXEC)))
		return -EINVAL;
	if (flags & MAP_ANONYMOUS)
		return (rc = qk_vm_map(addr, len, (int)prot, (int)flags, &got)) < 0 ? rc
										    : (int64_t)got;
	/* A shared writable file mapping would need the host's page cache: not in this slice. */
	if (type == MAP_SHARED && (prot & PROT_WRITE))
		return -19; /* ENODEV */
	rc = qk_fd_host_handle((int)fd, &h);
	if (rc < 0)
		return -EBADF;
	rc = qk_vm_map(addr, len, PROT_READ | PROT_WRITE, (int)flags | QK_MAP_FILE, &got);
	if (rc < 0)
		return rc;
	/* Bytes past the end of the file stay zero (Linux would SIGBUS beyond the last page). */
	if (qk_host_pread(h, got, PAGE_UP(len), off) < 0) {
		qk_vm_unmap(got, len);
		return -EACCES;
	}
	rc = qk_vm_protect(got, len, (int)prot);
	return rc < 0 ? rc : (int64_t)got;
}

static int64_t do_prlimit(uint64_t res, uint64_t new_uva, uint64_t old_uva)
{
	uint64_t lim[2] = { ~0UL, ~0UL };

	if (res >= 16)
		return -EINVAL;
	if (res == 3) /* RLIMIT_STACK */
		lim[0] = USER_STACK_MAX;
	if (res == 7) /* RLIMIT_NOFILE */
		lim[0] = lim[1] = 1024;
	if (res == 9 || res == 2) /* RLIMIT_AS, RLIMIT_DATA */
		lim[0] = lim[1] = qk_boot->mem_size;
	if (old_uva && qk_copy_to_user(old_uva, lim, sizeof(lim)) < 0)
		return -EFAULT;
	if (new_uva) {
		uint64_t want[2];

		if (qk_copy_from_user(want, new_uva, sizeof(want)) < 0)
			return -EFAULT;
		if (want[0] > want[1])
			return -EINVAL;
		if (want[1] > lim[1])
			return -EPERM;
	}
	return 0;
}

static int64_t do_uname(uint64_t uva)
{
	static char u[6][65];

	memset(u, 0, sizeof(u));
	memcpy(u[0], "Linux", 6);
	memcpy(u[1], qk_boot->hostname, strnlen(qk_boot->hostname, 64));
	memcpy(u[2], "6.1.0-quark", 12);
	memcpy(u[3], "#1 SMP QKernel", 15);
	memcpy(u[4], "x86_64", 7);
	memcpy(u[5], "(none)", 7);
	return qk_copy_to_user(uva, u, sizeof(u));
}

static void count_unknown(uint64_t nr)
{
	qk_stats.unknown++;
	for (uint64_t i = 0; i < QUARK_UNKNOWN_KEPT; i++) {
		if (qk_stats.unknown_nr[i] == nr + 1)
			return;
		if (!qk_stats.unknown_nr[i]) {
			/* Stored + 1 so that 0 means empty; the host subtracts it. */
			qk_stats.unknown_nr[i] = nr + 1;
			return;
		}
	}
}

static int64_t dispatch(uint64_t nr, const uint64_t *a, struct qk_regs *frame)
{
	bool handled;
	int64_t r, c;

	r = qk_sys_file(nr, a, &handled);
	if (handled)
		return r;
	r = qk_sys_signal(nr, a, frame, &handled);
	if (handled)
		return r;
	switch (nr) {
	case 9: /* mmap */
		return do_mmap(a[0], a[1], a[2], a[3], (int64_t)a[4], a[5]);
	case 10: /* mprotect */
		if (a[2] & ~(uint64_t)(PROT_READ | PROT_WRITE | PROT_EXEC))
			return -EINVAL;
		return qk_vm_protect(a[0], a[1], (int)a[2]);
	case 11: /* munmap */
		return qk_vm_unmap(a[0], a[1]);
	case 12: /* brk */
		return (int64_t)qk_vm_brk(a[0]);
	case 28: /* madvise */
		if (a[0] & ~PAGE_MASK)
			return -EINVAL;
		return a[2] == 4 /* MADV_DONTNEED */ ? qk_vm_dontneed(a[0], a[1]) : 0;
	case 186: /* gettid */
		return qk_this_cpu()->tid;
	case 39:  /* getpid */
	case 111: /* getpgrp */
	case 121: /* getpgid */
	case 124: /* getsid */
		return 1;
	case 110: /* getppid */
		return 0;
	case 102: /* getuid */
	case 107: /* geteuid */
		return qk_boot->uid;
	case 104: /* getgid */
	case 108: /* getegid */
		return qk_boot->gid;
	case 115: /* getgroups */
		return 0;
	case 63: /* uname */
		return do_uname(a[0]);
	case 97: /* getrlimit */
		return do_prlimit(a[0], 0, a[1]);
	case 302: /* prlimit64 */
		if (a[0] != 0 && a[0] != 1)
			return -ESRCH;
		return do_prlimit(a[1], a[2], a[3]);
	case 318: /* getrandom */
		if (a[2] & ~7UL)
			return -EINVAL;
		r = qk_hcall(QUARK_OP_GETRANDOM, qk_gpa(rnd_buf), MIN(a[1], sizeof(rnd_buf)), a[2],
			     0, 0, 0);
		if (r > 0 && qk_copy_to_user(a[0], rnd_buf, (size_t)r) < 0)
			return -EFAULT;
		return r;
	case 228: /* clock_gettime */
		c = clock_of(a[0]);
		if (c < 0)
			return c;
		return put_timespec(a[1], qk_clock_ns((int)c));
	case 229: /* clock_getres */
		c = clock_of(a[0]);
		if (c < 0)
			return c;
		return a[1] ? put_timespec(a[1], 1) : 0;
	case 96: { /* gettimeofday */
		uint64_t ns = qk_clock_ns(CLOCK_REALTIME);
		int64_t tv[2] = { (int64_t)(ns / 1000000000), (int64_t)(ns % 1000000000 / 1000) };

		if (a[0] && qk_copy_to_user(a[0], tv, sizeof(tv)) < 0)
			return -EFAULT;
		return 0;
	}
	case 201: { /* time */
		int64_t t = (int64_t)(qk_clock_ns(CLOCK_REALTIME) / 1000000000);

		if (a[0] && qk_copy_to_user(a[0], &t, sizeof(t)) < 0)
			return -EFAULT;
		return t;
	}
	case 35: /* nanosleep */
		return do_sleep(a[0], CLOCK_MONOTONIC, false);
	case 230: /* clock_nanosleep */
		c = clock_of(a[0]);
		if (c < 0)
			return c;
		return do_sleep(a[2], c, a[1] & 1);
	case 24: /* sched_yield */
		return 0;
	case 204: { /* sched_getaffinity: the vCPUs */
		uint64_t mask = (1UL << qk_ncpus) - 1;

		if (a[1] < 8 || (a[1] & 7))
			return -EINVAL;
		if (qk_copy_to_user(a[2], &mask, 8) < 0)
			return -EFAULT;
		return 8;
	}
	case 158: /* arch_prctl */
		switch (a[0]) {
		case 0x1002: /* ARCH_SET_FS */
		case 0x1001: /* ARCH_SET_GS */
			if (a[1] >= USER_TOP)
				return -EPERM;
			/* The program's %gs base waits in KERNEL_GS_BASE while the kernel runs. */
			wrmsr(a[0] == 0x1002 ? MSR_FS_BASE : MSR_KERNEL_GS_BASE, a[1]);
			return 0;
		case 0x1003:   /* ARCH_GET_FS */
		case 0x1004: { /* ARCH_GET_GS */
			uint64_t v = rdmsr(a[0] == 0x1003 ? MSR_FS_BASE : MSR_KERNEL_GS_BASE);

			return qk_copy_to_user(a[1], &v, 8);
		}
		default:
			return -EINVAL;
		}
	case 218: /* set_tid_address */
		qk_this_cpu()->clear_tid = a[0];
		return qk_this_cpu()->tid;
	case 56: /* clone: threads only */
		r = qk_clone(a[0], a[1], a[2], a[3], a[4], frame);
		if (r == -ENOSYS)
			count_unknown(nr);
		return r;
	case 273: /* set_robust_list */
		return a[1] == 24 ? 0 : -EINVAL;
	case 334: /* rseq: glibc copes without it */
		return -ENOSYS;
	case 202: /* futex */
		return qk_futex(a);
	case 221: /* fadvise64 */
		return 0;
	case 157: /* prctl */
		switch (a[0]) {
		case 15: /* PR_SET_NAME */
			r = qk_strncpy_from_user(task_name, a[1], sizeof(task_name));
			if (r == -ENAMETOOLONG) { /* Linux truncates to 15 bytes */
				task_name[sizeof(task_name) - 1] = 0;
				r = 0;
			}
			return r < 0 ? r : 0;
		case 16: /* PR_GET_NAME */
			return qk_copy_to_user(a[1], task_name, sizeof(task_name));
		case 4:	 /* PR_SET_DUMPABLE */
		case 38: /* PR_SET_NO_NEW_PRIVS: nothing in the guest can gain privileges */
			return 0;
		case 3:	 /* PR_GET_DUMPABLE */
		case 39: /* PR_GET_NO_NEW_PRIVS */
			return 1;
		default:
			return -EINVAL;
		}
	case 60: /* exit: this thread; the last one's status is the process's */
		qk_thread_exit(a[0]);
	case 231: /* exit_group */
		qk_exit(a[0] & 0xff, 0, 0);
	default:
		count_unknown(nr);
		return -ENOSYS;
	}
}

int qk_syscall(struct qk_regs *r)
{
	uint64_t nr = r->rax;
	const uint64_t a[6] = { r->rdi, r->rsi, r->rdx, r->r10, r->r8, r->r9 };
	bool iret;

	qk_kernel_enter();
	if (nr < QUARK_NR_SYSCALLS)
		qk_stats.syscalls[nr]++;
	r->rax = (uint64_t)dispatch(nr, a, r);
	/*
	 * rt_sigreturn restored %rcx and %r11, and a handler's address came
	 * from the program: both leave through iretq (sysretq would clobber
	 * the two registers, and fault in ring 0 on a non-canonical %rip).
	 */
	/* Deliver first: rt_sigreturn may have unblocked a pending signal. */
	iret = qk_sig_deliver(r) || nr == 15 /* rt_sigreturn */;
	qk_kernel_leave();
	return iret;
}

static int signal_of(uint64_t vector)
{
	switch (vector) {
	case 0:	 /* #DE */
	case 16: /* #MF */
	case 19: /* #XM */
		return SIGFPE;
	case 1: /* #DB */
	case 3: /* #BP */
		return SIGTRAP;
	case 6: /* #UD */
		return SIGILL;
	case 11:	       /* #NP */
	case 12:	       /* #SS: e.g. a push through a non-canonical %rsp */
	case 17:	       /* #AC */
		return SIGBUS; /* as Linux's do_error_trap() */
	default:	       /* #GP, #PF outside the program's memory, ... */
		return SIGSEGV;
	}
}

/* siginfo's si_code for a fault, as Linux reports it. */
static int code_of(uint64_t vector, uint64_t addr)
{
	switch (vector) {
	case 14: /* #PF: inside a mapping that forbids the access, or outside all */
		return qk_vm_mapped(addr) ? 2 /* SEGV_ACCERR */ : 1 /* SEGV_MAPERR */;
	case 0:		     /* #DE */
		return 1;    /* FPE_INTDIV */
	case 6:		     /* #UD */
		return 2;    /* ILL_ILLOPN */
	case 17:	     /* #AC */
		return 1;    /* BUS_ADRALN */
	default:	     /* #BP, #GP and the rest */
		return 0x80; /* SI_KERNEL */
	}
}

void qk_exception(struct qk_regs *r)
{
	uint64_t cr2 = r->vector == 14 ? read_cr2() : 0;

	/* A signal from outside (abi.h): taken like any other on the way back. */
	if (r->vector == QUARK_VEC_SIGNAL) {
		if ((r->cs & 3) == 3) {
			qk_kernel_enter();
			qk_sig_deliver(r);
			qk_kernel_leave();
		}
		return;
	}

	if ((r->cs & 3) == 3) {
		/*
		 * Kernel code at CPL 3: a KVM that does not really enter ring 0 on
		 * `syscall` (the PVM-style hosts of docs/quark.md) runs our entry
		 * stub in ring 3, where fetching its first instruction from a
		 * supervisor page faults. (A program that jumps there itself gets
		 * the same answer, which is the truth about this kernel too.)
		 */
		if (r->rip == (uint64_t)(uintptr_t)qk_syscall_entry)
			qk_panic(
				"the system call entry ran in ring 3 at %p: this KVM does not enter "
				"guest ring 0 on syscall ('quark check' explains)",
				(void *)r->rip);
		qk_kernel_enter();
		if (r->vector == 14 && qk_vm_fault(cr2, r->error)) {
			qk_kernel_leave();
			return;
		}
		/* A handler, or the end of the program (signal.c). */
		qk_sig_fault(r, signal_of(r->vector), code_of(r->vector, cr2),
			     r->vector == 14 ? cr2 : 0);
		qk_kernel_leave();
		return;
	}
	qk_panic("QKernel: exception %u in ring 0 at rip %p (error %lx, cr2 %p, rsp %p)",
		 (unsigned)r->vector, (void *)r->rip, r->error, (void *)cr2, (void *)r->rsp);
}
