// SPDX-License-Identifier: MIT
/*
 * The seccomp allowlist of a running QVisor, and why each entry is there.
 *
 * After lockdown QVisor does four things: KVM_RUN on its vCPUs, the
 * forwarded operations of fwd.c, printing (stdio), and exiting. The list
 * below is exactly what those need from glibc 2.36 on x86-64, plus what
 * glibc's allocator and abort() need underneath:
 *
 *   vCPU loop      ioctl (KVM_RUN, KVM_GET_REGS and KVM_GET_SREGS, which
 *                  only read), alarm/setitimer (cancelling the time limit),
 *                  clock_gettime/gettimeofday (normally the vDSO; listed for
 *                  when it is not), rt_sigreturn (the kick and timeout
 *                  signals), rt_sigprocmask, tgkill/getpid/gettid
 *                  (pthread_kill of a vCPU thread, abort()), futex
 *                  (threads), sched_yield, restart_syscall, sigaltstack
 *                  (the sanitizers remove theirs at exit)
 *   qv_fwd_call    openat2 (every open: never open/openat, see fwd.c),
 *                  read/write and the vector forms, lseek, getdents64,
 *                  fstat/newfstatat/statx, fstatfs, readlinkat (the
 *                  /proc/self/fd names), faccessat/faccessat2, mkdirat,
 *                  unlinkat, renameat/renameat2, ftruncate, fsync, close,
 *                  fcntl (F_GETFL, F_SETFL only), ioctl (TCGETS,
 *                  TIOCGWINSZ), getrandom, clock_nanosleep/nanosleep
 *   memory         brk, mmap and mprotect without PROT_EXEC (nothing
 *                  after lockdown may create code), munmap, mremap, madvise
 *   exit           exit, exit_group
 *
 * Everything else (execve, socket, ptrace, mount, open, openat, clone,
 * kill, process_vm_writev, bpf, ...) kills the process: the default action
 * is SCMP_ACT_KILL_PROCESS, and so is the action for a foreign architecture
 * (i386 `int $0x80`, x32), which libseccomp's x86-64 filter checks first.
 * no_new_privs is set, so the filter needs no privilege, and TSYNC puts it
 * on every thread at once, so no vCPU thread escapes it.
 *
 * Paths cannot be inspected by seccomp (they are pointers), so openat2,
 * mkdirat and friends are allowed whole: confinement of paths is fwd.c's
 * RESOLVE_IN_ROOT. What seccomp adds is that a compromised QVisor cannot
 * leave the set of things QVisor does at all.
 *
 * Sanitizer builds: ASan and UBSan work within this list while nothing goes
 * wrong; their reports need more (a report after lockdown ends in SIGSYS
 * instead), and LSan's exit-time leak check (ptrace from a clone) is run
 * early, just before the filter goes on (see QV_LSAN below).
 */
#include "seccomp.h"

#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>

/*
 * libseccomp's header: ours is "seccomp.h" too, so quark/CMakeLists.txt
 * compiles this file without quark/qvisor on the include path.
 */
#include <seccomp.h> /* NOLINT(readability-duplicate-include): libseccomp's, not ours */

/*
 * LeakSanitizer checks for leaks at exit by stopping the world with ptrace
 * from a cloned task: after lockdown that is a SIGSYS. So sanitizer builds
 * run the (one and only) leak check just before the filter goes on; leaks
 * made after lockdown go unreported there, which is the price of testing
 * the real filter under ASan.
 */
#if defined(__SANITIZE_ADDRESS__)
#define QV_LSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define QV_LSAN 1
#endif
#endif
#ifdef QV_LSAN
#include <sanitizer/lsan_interface.h>
#endif

/* Allowed with no condition on their arguments. */
static const char *const plain[] = {
	/* forwarded operations */
	"openat2", "read", "write", "readv", "writev", "preadv", "pwritev", "pread64", "pwrite64",
	"lseek", "getdents64", "fstat", "newfstatat", "statx", "fstatfs", "readlinkat", "faccessat",
	"faccessat2", "mkdirat", "unlinkat", "renameat", "renameat2", "ftruncate", "fsync", "close",
	"getrandom", "clock_nanosleep", "nanosleep",
	/* the vCPU loop, signals, threads, time */
	"rt_sigreturn", "rt_sigprocmask", "tgkill", "getpid", "gettid", "futex", "sched_yield",
	"restart_syscall", "clock_gettime", "gettimeofday", "alarm", "setitimer", "sigaltstack",
	/* memory (mmap and mprotect are conditional, below) */
	"brk", "munmap", "mremap", "madvise",
	/* exit */
	"exit", "exit_group"
};

/* Allowed with conditions (see qv_seccomp_lockdown()). */
static const char *const conditional[] = { "ioctl", "mmap", "mprotect", "fcntl" };

#define N_PLAIN	      (sizeof(plain) / sizeof(plain[0]))
#define N_CONDITIONAL (sizeof(conditional) / sizeof(conditional[0]))

const char *const *qv_seccomp_allowlist(void)
{
	static const char *all[N_PLAIN + N_CONDITIONAL + 1];

	if (!all[0]) {
		memcpy(all, plain, sizeof(plain));
		memcpy(all + N_PLAIN, conditional, sizeof(conditional));
	}
	return all;
}

static int allow_ioctl(scmp_filter_ctx ctx, unsigned long req)
{
	/* The request is an unsigned int to the kernel: compare those 32 bits. */
	return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
				SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffUL, req & 0xffffffffUL));
}

/* The KVM requests the vCPU loop still makes: run, and read state on an exit. */
static const unsigned long kvm_ioctls[] = { KVM_RUN, KVM_GET_REGS, KVM_GET_SREGS };

/* Adds the allow rules; on failure *what names the one that failed. */
static int add_rules(scmp_filter_ctx ctx, const char **what)
{
	int rc;

	*what = "attributes";
	rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
	if (!rc)
		rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 1);
	if (!rc)
		rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);
	for (size_t i = 0; !rc && i < N_PLAIN; i++) {
		int nr = seccomp_syscall_resolve_name(plain[i]);

		*what = plain[i];
		rc = nr == __NR_SCMP_ERROR ? -ENOSYS : seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
	}
	if (rc)
		return rc;
	*what = "ioctl";
	rc = allow_ioctl(ctx, TCGETS);
	if (!rc)
		rc = allow_ioctl(ctx, TIOCGWINSZ);
	for (size_t i = 0; !rc && i < sizeof(kvm_ioctls) / sizeof(kvm_ioctls[0]); i++)
		rc = allow_ioctl(ctx, kvm_ioctls[i]);
	if (rc)
		return rc;
	/* No new code after lockdown: a hijacked QVisor cannot map a payload executable. */
	*what = "mmap";
	rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 1,
			      SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
	if (rc)
		return rc;
	*what = "mprotect";
	rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mprotect), 1,
			      SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
	if (rc)
		return rc;
	*what = "fcntl";
	rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(fcntl), 1,
			      SCMP_A1(SCMP_CMP_EQ, F_GETFL, 0));
	if (!rc)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(fcntl), 1,
				      SCMP_A1(SCMP_CMP_EQ, F_SETFL, 0));
	return rc;
}

int qv_seccomp_lockdown(char *err, size_t errlen)
{
	const char *what = "seccomp_init";
	scmp_filter_ctx ctx;
	int rc;

	ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
	if (!ctx) {
		errbuf_set(err, errlen, "seccomp: %s failed", what);
		return -ENOMEM;
	}
	rc = add_rules(ctx, &what);
	if (rc)
		goto err_release;
	/* libseccomp sets it too (CTL_NNP); say so explicitly, and fail clearly. */
	what = "PR_SET_NO_NEW_PRIVS";
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1) {
		rc = -errno;
		goto err_release;
	}
#ifdef QV_LSAN
	__lsan_do_leak_check();
#endif
	what = "seccomp_load";
	rc = seccomp_load(ctx);
	if (rc)
		goto err_release;
	seccomp_release(ctx);
	return 0;
err_release:
	errbuf_set(err, errlen, "seccomp: %s: %s", what, log_errstr(rc));
	seccomp_release(ctx);
	return rc < 0 ? rc : -rc;
}
