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
 *                  only read, KVM_INTERRUPT for a signal from outside),
 *                  rt_sigaction (a signal from outside the program does
 *                  not catch gets quark's default action back, then is
 *                  raised again), alarm/setitimer (cancelling the time limit),
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
 * Compiled at build time. libseccomp turns the rules below into a BPF
 * program, which costs 15 to 20 ms of an emulated CPU at every start (a
 * fifth of quark's start-up in the nested bed) although the program never
 * changes. So this file is also built, with QV_SECCOMP_GEN, as the build
 * tool qv_seccomp_gen, which runs the same rules through libseccomp once
 * and prints the program (seccomp_export_bpf()) as the C array that the
 * runtime includes (qv_filter.h) and loads with the seccomp() system call.
 * quark itself no longer links libseccomp.
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

#ifdef QV_SECCOMP_GEN
/*
 * libseccomp's header: ours is "seccomp.h" too, so quark/CMakeLists.txt
 * compiles this file without quark/qvisor on the include path.
 */
#include <linux/filter.h>
#include <seccomp.h> /* NOLINT(readability-duplicate-include): libseccomp's, not ours */
#else
#include "qv_filter.h" /* qv_filter[], written by qv_seccomp_gen */

#include <linux/seccomp.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#endif

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

/*
 * ThreadSanitizer starts a background thread of its own (in a fork child
 * too), whose first system calls are not on the list; TSYNC puts the
 * filter on it at once, and it then kills the process at a random moment
 * (test_quark_seccomp failed one run in three). Building the filter at
 * run time (libseccomp, before) took long enough for that thread to get
 * going; TSan builds now give it that time explicitly.
 */
#if defined(__SANITIZE_THREAD__)
#define QV_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define QV_TSAN 1
#endif
#endif

/* Allowed with no condition on their arguments. */
static const char *const plain[] = {
	/* forwarded operations */
	"openat2", "read", "write", "readv", "writev", "preadv", "pwritev", "pread64", "pwrite64",
	"lseek", "getdents64", "fstat", "newfstatat", "statx", "fstatfs", "readlinkat", "faccessat",
	"faccessat2", "mkdirat", "unlinkat", "renameat", "renameat2", "ftruncate", "fsync", "close",
	"getrandom", "clock_nanosleep", "nanosleep",
	/* the vCPU loop, signals, threads, time */
	"rt_sigreturn", "rt_sigprocmask", "rt_sigaction", "tgkill", "getpid", "gettid", "futex",
	"sched_yield", "restart_syscall", "clock_gettime", "gettimeofday", "alarm", "setitimer",
	"sigaltstack",
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

#ifdef QV_SECCOMP_GEN
static int allow_ioctl(scmp_filter_ctx ctx, unsigned long req)
{
	/* The request is an unsigned int to the kernel: compare those 32 bits. */
	return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
				SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffUL, req & 0xffffffffUL));
}

/* The KVM requests the vCPU loop still makes: run, read state on an exit,
 * and inject the interrupt of a signal from outside (run.c). */
static const unsigned long kvm_ioctls[] = { KVM_RUN, KVM_GET_REGS, KVM_GET_SREGS, KVM_INTERRUPT };

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

/*
 * qv_seccomp_gen: prints the filter as C. libseccomp's program is exactly
 * what seccomp_load() would install; TSYNC and no_new_privs are flags of
 * the load, which qv_seccomp_lockdown() sets itself.
 */
int main(void)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
	const char *what = "seccomp_init";
	struct sock_filter insn;
	size_t n = 0;
	FILE *tmp = NULL;
	int rc = -ENOMEM;

	if (!ctx)
		goto out;
	rc = add_rules(ctx, &what);
	if (rc)
		goto out;
	what = "tmpfile";
	tmp = tmpfile();
	if (!tmp) {
		rc = -errno;
		goto out;
	}
	what = "seccomp_export_bpf";
	rc = seccomp_export_bpf(ctx, fileno(tmp));
	if (rc)
		goto out;
	rewind(tmp);
	printf("/* Generated by qv_seccomp_gen (quark/qvisor/seccomp.c): do not edit. */\n"
	       "#include <linux/filter.h>\n\n"
	       "static struct sock_filter qv_filter[] = {\n");
	while (fread(&insn, sizeof(insn), 1, tmp) == 1) {
		printf("\t{ 0x%04x, %u, %u, 0x%08x },\n", insn.code, insn.jt, insn.jf, insn.k);
		n++;
	}
	printf("};\n");
	what = "an empty program";
	rc = n ? 0 : -EINVAL;
out:
	if (tmp)
		fclose(tmp);
	seccomp_release(ctx);
	if (rc) {
		fprintf(stderr, "qv_seccomp_gen: %s: %s\n", what, log_errstr(rc < 0 ? -rc : rc));
		return 1;
	}
	return fflush(stdout) == 0 ? 0 : 1;
}
#else
int qv_seccomp_lockdown(char *err, size_t errlen)
{
	struct sock_fprog prog = { .len = sizeof(qv_filter) / sizeof(qv_filter[0]),
				   .filter = qv_filter };
	const char *what = "PR_SET_NO_NEW_PRIVS";
	long rc;

	/* Without it an unprivileged process may not install a filter. */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1)
		goto err;
#ifdef QV_LSAN
	__lsan_do_leak_check();
#endif
#ifdef QV_TSAN
	nanosleep(&(struct timespec){ .tv_nsec = 50 * 1000 * 1000 }, NULL);
#endif
	what = "seccomp(SECCOMP_SET_MODE_FILTER, TSYNC)";
	rc = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &prog);
	if (rc > 0) {
		/* TSYNC names a thread that could not take the filter. */
		errbuf_set(err, errlen, "seccomp: thread %ld could not take the filter", rc);
		return -EAGAIN;
	}
	if (rc < 0)
		goto err;
	return 0;
err:
	rc = -errno;
	errbuf_set(err, errlen, "seccomp: %s: %s", what, log_errstr((int)rc));
	return (int)rc;
}
#endif
