// SPDX-License-Identifier: MIT
/*
 * `quark run` on the host side (see run.h). The order matters for
 * security: everything that needs a wide set of system calls (opening
 * /dev/kvm, creating the VM, reading the root, resolving the program)
 * happens first; then qv_seccomp_lockdown() leaves QVisor with only what
 * the vCPU loop and the forwarded operations need, before the guest runs
 * its first instruction.
 *
 * Threads: every vCPU has its own thread (created before the lockdown,
 * waiting for its first CPU_START), and the calling thread only supervises:
 * it waits for the run's end (the first vCPU to see the program exit, a
 * guest failure, or --timeout claims it), then stops the vCPU threads
 * (immediate_exit, a signal that interrupts whatever they block in) and
 * joins them for at most a second; a thread that does not come back keeps
 * the VM's memory mapped until the process exits, never the other way.
 *
 * The vCPU loop trusts nothing the guest writes. A hypercall names a
 * guest-physical block; it must be aligned and inside memory, it is copied
 * out once, and only its `ret` word is written back. Everything the
 * operation touches is checked again by fwd.c. A guest that panics,
 * halts, triple-faults or exits in any unexpected way ends the run with a
 * one-line reason and status 125; the host process is never at risk.
 */
#include "run.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/futex.h>
#include <linux/openat2.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "abi.h"
#include "fwd.h"
#include "kvm.h"
#include "log.h"
#include "seccomp.h"
#include "x86.h"

#define QV_EXIT_TIMEOUT 124
#define PDE_PS		0x80ULL
#define TWO_MB		0x200000ULL
#define DEFAULT_PATH	"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
/*
 * How long the queue worker polls an empty ring before it sleeps: long
 * enough to cover the gap between a program's back-to-back calls (a few
 * microseconds of guest work), short enough not to burn a CPU for an idle
 * program. Quark polls far longer; a sleeping worker costs one in-kernel
 * exit (the kick) and a wake-up, not a QVisor round trip.
 */
#define QUEUE_SPIN_NS 200000

extern const unsigned char quark_kernel_image[];
extern const size_t quark_kernel_image_len;

struct run;

struct vcpu {
	struct run *r;
	unsigned id;
	int fd;
	struct kvm_run *run;
	pthread_t thread;
	bool thread_started;
	uint32_t starts; /* CPU_START tokens (futex word): a start or PARK takes one */
	int in_guest;	 /* atomic: inside KVM_RUN (a signal from outside kicks it) */
	uint64_t exits, hypercalls, waits; /* atomic: summed by --stats */
};

struct run {
	const struct qv_run_opts *o;
	struct qv_kvm kvm;
	struct qv_fwd *fwd;
	struct qv_gmem gm;
	char exe[QUARK_PATH_MAX]; /* the program's path inside the root */
	struct vcpu cpu[QUARK_MAX_CPUS];
	unsigned ncpus;
	/* The end: whoever claims it first says why and publishes the status. */
	int claimed;   /* atomic */
	int status;    /* written by the claimer before done */
	uint32_t done; /* atomic: the status is published */
	uint32_t wake; /* atomic, futex word of the supervisor: bumped by the end and by alarms */
	int stopping;  /* atomic: every vCPU thread and the queue worker return */
	/* The queue worker (abi.h, "The queue"). */
	bool queue;
	int kick_fd; /* eventfd the guest's kick signals */
	pthread_t worker;
	bool worker_started;
	uint64_t worker_ops, worker_sleeps, worker_bad;
	int vcpus_waiting;   /* vCPU threads asleep on a block's state word (atomic) */
	uint32_t threads_up; /* threads past glibc's start-up (atomic, futex word) */
	/* The program's ITIMER_REAL (QUARK_OP_ALARM): host CLOCK_MONOTONIC ns, 0 = off. */
	uint64_t alarm_ns, alarm_every; /* atomic; the supervisor raises SIGALRM */
};

static void on_stop_signal(int sig)
{
	(void)sig; /* only interrupts: KVM_RUN, a futex, a forwarded read return EINTR */
}

/*
 * Signals from outside (abi.h): the ones quark passes into the guest, and
 * the run they go to (one per process). Blocked in every thread but the
 * supervisor, so on_outside_signal() always interrupts that one.
 */
static const int outside_signals[] = { SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR2, SIGWINCH };
static struct run *outside_run;
/*
 * The kick that takes a vCPU thread out of KVM_RUN for one: SIGRTMIN, a
 * no-op handler with SA_RESTART, so that KVM_RUN returns (it answers any
 * signal with EINTR) while a host call the thread may have entered just
 * then (a forwarded read, a futex wait) restarts unseen. (SIGUSR1, without
 * SA_RESTART, is the end of the run: stop_threads().)
 */
static int kick_signal;

static void on_kick(int sig)
{
	(void)sig;
}

static struct quark_boot *boot_of(const struct run *r)
{
	return (struct quark_boot *)(void *)(r->gm.base + QUARK_BOOT_GPA);
}

/*
 * Puts sig into host_sigs and takes every vCPU running guest code out of
 * KVM_RUN, so that offer_outside_signal() interrupts it. Async-signal-safe.
 */
static void pass_in(struct run *r, int sig)
{
	/* Seq-cst, against a vCPU thread's in_guest store then host_sigs load. */
	__atomic_fetch_or(&boot_of(r)->host_sigs, 1ULL << (sig - 1), __ATOMIC_SEQ_CST);
	for (unsigned i = 0; i < r->ncpus; i++) {
		struct vcpu *v = &r->cpu[i];

		if (v->thread_started && __atomic_load_n(&v->in_guest, __ATOMIC_SEQ_CST)) {
			__atomic_store_n(&v->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
			pthread_kill(v->thread, kick_signal);
		}
	}
}

/*
 * Async-signal-safe: atomics, sigaction, raise and pthread_kill (tgkill).
 * The guest's masks are its word: a lie only keeps a signal from killing
 * the run, which a handler in the program could do anyway.
 */
static void on_outside_signal(int sig)
{
	struct run *r = outside_run;
	struct quark_boot *b = boot_of(r);
	uint64_t bit = 1ULL << (sig - 1);
	int saved = errno;

	if (__atomic_load_n(&b->sig_ignored, __ATOMIC_ACQUIRE) & bit || sig == SIGWINCH) {
		if (!(__atomic_load_n(&b->sig_caught, __ATOMIC_ACQUIRE) & bit))
			goto out; /* ignored, or SIGWINCH's default: ignore */
	}
	if (!(__atomic_load_n(&b->sig_caught, __ATOMIC_ACQUIRE) & bit)) {
		/* Its default action, on all of quark: the run ends as if the
		 * signal had killed the program (and quark with it), as before. */
		struct sigaction dfl = { .sa_handler = SIG_DFL };

		sigaction(sig, &dfl, NULL);
		raise(sig); /* delivered when this handler returns */
		goto out;
	}
	pass_in(r, sig);
out:
	errno = saved;
}

/*
 * Installs on_outside_signal() and the kick, and blocks the outside
 * signals in the calling thread (*saved: its mask before), so that every
 * thread created from now on has them blocked; the supervisor unblocks
 * them once the last one exists. After the VM exists: the handler reads
 * its boot page.
 */
static int outside_setup(struct run *r, sigset_t *saved, char *err, size_t errlen)
{
	struct sigaction kick = { .sa_handler = on_kick, .sa_flags = SA_RESTART };
	struct sigaction fwd = { .sa_handler = on_outside_signal }; /* EINTR: wait_end() loops */
	sigset_t set;

	outside_run = r;
	kick_signal = SIGRTMIN;
	sigemptyset(&kick.sa_mask);
	sigemptyset(&set);
	for (size_t i = 0; i < sizeof(outside_signals) / sizeof(outside_signals[0]); i++)
		sigaddset(&set, outside_signals[i]);
	fwd.sa_mask = set; /* one at a time */
	if (sigaction(kick_signal, &kick, NULL) == -1)
		goto err;
	for (size_t i = 0; i < sizeof(outside_signals) / sizeof(outside_signals[0]); i++)
		if (sigaction(outside_signals[i], &fwd, NULL) == -1)
			goto err;
	pthread_sigmask(SIG_BLOCK, &set, saved);
	return 0;
err:
	errbuf_set(err, errlen, "sigaction: %s", log_errstr(errno));
	return -errno;
}

/* At the end: no outside signal may reach the handler once the VM goes. */
static void outside_block(void)
{
	sigset_t set;

	sigemptyset(&set);
	for (size_t i = 0; i < sizeof(outside_signals) / sizeof(outside_signals[0]); i++)
		sigaddset(&set, outside_signals[i]);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
}

/*
 * Before KVM_RUN: a signal from outside waits in host_sigs until QKernel
 * takes it, which it does on its next way back to ring 3, so a vCPU that
 * can take an interrupt now (ring 3, IF set) gets QUARK_VEC_SIGNAL, and
 * one in QKernel asks KVM to come back as soon as it can.
 */
static void offer_outside_signal(struct vcpu *v)
{
	struct kvm_run *run = v->run;

	if (!__atomic_load_n(&boot_of(v->r)->host_sigs, __ATOMIC_SEQ_CST)) {
		run->request_interrupt_window = 0;
		return;
	}
	if (run->ready_for_interrupt_injection && run->if_flag) {
		struct kvm_interrupt irq = { .irq = QUARK_VEC_SIGNAL };

		/* EEXIST: one is already queued, which is as good. */
		(void)ioctl(v->fd, KVM_INTERRUPT, &irq);
		run->request_interrupt_window = 0;
	} else {
		run->request_interrupt_window = 1;
	}
}

static long futex_op(uint32_t *word, int op, uint32_t val, const struct timespec *ts,
		     uint32_t *word2, uint32_t val3)
{
	return syscall(SYS_futex, word, op, val, ts, word2, val3);
}

/*
 * A new thread's first steps are glibc's (rseq, set_robust_list, its
 * signal mask), system calls the seccomp filter does not allow. TSYNC puts
 * the filter on threads that have not run yet too, so lockdown waits until
 * every thread it created has reported in here (wait_threads_up()).
 */
static void thread_up(struct run *r)
{
	__atomic_fetch_add(&r->threads_up, 1, __ATOMIC_RELEASE);
	futex_op(&r->threads_up, FUTEX_WAKE_PRIVATE, INT32_MAX, NULL, NULL, 0);
}

static void wait_threads_up(struct run *r, uint32_t n)
{
	uint32_t up;

	while ((up = __atomic_load_n(&r->threads_up, __ATOMIC_ACQUIRE)) < n)
		futex_op(&r->threads_up, FUTEX_WAIT_PRIVATE, up, NULL, NULL, 0);
}

static bool claim_end(struct run *r)
{
	int expected = 0;

	return __atomic_compare_exchange_n(&r->claimed, &expected, 1, false, __ATOMIC_ACQ_REL,
					   __ATOMIC_ACQUIRE);
}

static void publish_end(struct run *r, int status)
{
	r->status = status;
	__atomic_store_n(&r->done, 1, __ATOMIC_RELEASE);
	__atomic_fetch_add(&r->wake, 1, __ATOMIC_RELEASE);
	futex_op(&r->wake, FUTEX_WAKE_PRIVATE, INT32_MAX, NULL, NULL, 0);
}

static int openat2_in(int dirfd, const char *path, uint64_t flags)
{
	struct open_how how = {
		.flags = flags | O_CLOEXEC,
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
	};

	return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
}

/*
 * The program's path inside the root: PROGRAM itself when it has a '/',
 * else the first executable regular file of that name on the program's
 * PATH, looked up inside the root as a shell would.
 */
static int resolve_program(struct run *r)
{
	const struct qv_run_opts *o = r->o;
	const char *prog = o->argv[0], *path = DEFAULT_PATH;
	char buf[QUARK_PATH_MAX];
	int root, rc = -ENOENT;

	if (strchr(prog, '/')) {
		if (strlen(prog) >= sizeof(r->exe))
			return -ENAMETOOLONG;
		memcpy(r->exe, prog, strlen(prog) + 1);
		return 0;
	}
	for (int i = 0; i < o->envc; i++)
		if (!strncmp(o->envp[i], "PATH=", 5))
			path = o->envp[i] + 5;
	root = open(o->rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (root < 0)
		return -errno;
	while (*path) {
		size_t n = strcspn(path, ":");
		struct stat st;
		int fd;

		if ((size_t)snprintf(buf, sizeof(buf), "%.*s/%s", (int)n, path, prog) <
		    sizeof(buf)) {
			fd = openat2_in(root, buf, O_PATH);
			if (fd >= 0) {
				if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
				    (st.st_mode & 0111)) {
					memcpy(r->exe, buf, strlen(buf) + 1);
					close(fd);
					rc = 0;
					break;
				}
				close(fd);
			}
		}
		path += n;
		if (*path == ':')
			path++;
	}
	close(root);
	return rc;
}

/* Copies the argument blob: exe, argv, envp, each NUL-terminated. */
static int write_args(struct run *r, struct quark_boot *b)
{
	unsigned char *blob = r->gm.base + QUARK_ARGS_GPA;
	size_t pos = 0;

	for (int i = -1; i < r->o->argc + r->o->envc; i++) {
		const char *s = i < 0		 ? r->exe
				: i < r->o->argc ? r->o->argv[i]
						 : r->o->envp[i - r->o->argc];
		size_t n = strlen(s) + 1;

		if (n > QUARK_ARGS_MAX - pos)
			return -E2BIG;
		memcpy(blob + pos, s, n);
		pos += n;
	}
	b->args_gpa = QUARK_ARGS_GPA;
	b->args_len = pos;
	b->argc = (uint32_t)r->o->argc;
	b->envc = (uint32_t)r->o->envc;
	return 0;
}

static uint64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/*
 * Guest memory before the first instruction: the kernel window's page
 * tables (2 MiB pages, supervisor only), the boot page, the arguments and
 * QKernel's image, checked against the layout first.
 */
static int build_guest(struct run *r, char *err, size_t errlen)
{
	unsigned char *m = r->gm.base;
	struct quark_kernel_header h;
	struct quark_boot *b = (struct quark_boot *)(void *)(m + QUARK_BOOT_GPA);
	uint64_t *pml4 = (uint64_t *)(void *)(m + QUARK_BOOT_PML4_GPA);
	uint64_t *pdpt = (uint64_t *)(void *)(m + QUARK_BOOT_PDPT_GPA);
	uint64_t *pd = (uint64_t *)(void *)(m + QUARK_BOOT_PD0_GPA);
	const uint64_t kbase = QUARK_KBASE + QUARK_KERNEL_GPA;
	int rc;

	memcpy(&h, quark_kernel_image, sizeof(h));
	if (quark_kernel_image_len < sizeof(h) || h.magic != QUARK_KERNEL_MAGIC ||
	    h.abi_version != QUARK_RUN_ABI_VERSION ||
	    h.image_end != QUARK_KERNEL_GPA + quark_kernel_image_len || h.bss_end < h.image_end ||
	    h.bss_end > QUARK_KERNEL_GPA + QUARK_KERNEL_MAX || h.entry < kbase ||
	    h.entry >= kbase + quark_kernel_image_len) {
		errbuf_set(err, errlen, "the embedded QKernel image does not match this QVisor");
		return -EINVAL;
	}
	memcpy(m + QUARK_KERNEL_GPA, quark_kernel_image, quark_kernel_image_len);

	/* PD0 and PD1 are adjacent: one array of 1024 entries covers 2 GiB. */
	pml4[511] = QUARK_BOOT_PDPT_GPA | QV_PTE_P | QV_PTE_RW;
	pdpt[510] = QUARK_BOOT_PD0_GPA | QV_PTE_P | QV_PTE_RW;
	pdpt[511] = QUARK_BOOT_PD1_GPA | QV_PTE_P | QV_PTE_RW;
	for (uint64_t i = 0; i * TWO_MB < r->gm.size; i++)
		pd[i] = (i * TWO_MB) | QV_PTE_P | QV_PTE_RW | PDE_PS;

	memset(b, 0, sizeof(*b));
	b->magic = QUARK_BOOT_MAGIC;
	b->abi_version = QUARK_RUN_ABI_VERSION;
	b->mem_size = r->gm.size;
	b->free_start = (h.bss_end + QUARK_PAGE_SIZE - 1) & ~(QUARK_PAGE_SIZE - 1);
	b->flags = (r->o->stats ? QUARK_BOOT_STATS : 0) | (r->o->verbose ? QUARK_BOOT_VERBOSE : 0) |
		   (r->queue ? QUARK_BOOT_QUEUE : 0);
	b->root_handle = qv_fwd_root_handle(r->fwd);
	b->cwd_handle = qv_fwd_cwd_handle(r->fwd);
	b->ncpus = r->ncpus;
	b->uid = (uint32_t)getuid();
	b->gid = (uint32_t)getgid();
	if (getrandom(b->random, sizeof(b->random), 0) != sizeof(b->random)) {
		errbuf_set(err, errlen, "getrandom: %s", log_errstr(errno));
		return -EIO;
	}
	snprintf(b->hostname, sizeof(b->hostname), "quark");
	rc = write_args(r, b);
	if (rc < 0) {
		errbuf_set(err, errlen, "the arguments and environment exceed %llu bytes",
			   QUARK_ARGS_MAX);
		return rc;
	}
	/* Last, so that the guest's clocks start as close to its first instruction as can be. */
	b->realtime_ns = clock_ns(CLOCK_REALTIME);
	b->monotonic_ns = clock_ns(CLOCK_MONOTONIC);
	return 0;
}

/* Every vCPU starts at QKernel's entry, %rdi = the boot page, %rsi = its index. */
static int set_vcpu_state(const struct vcpu *v, char *err, size_t errlen)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	struct quark_kernel_header h;

	memcpy(&h, quark_kernel_image, sizeof(h));
	if (ioctl(v->fd, KVM_GET_SREGS, &sregs) == -1) {
		errbuf_set(err, errlen, "KVM_GET_SREGS: %s", log_errstr(errno));
		return -errno;
	}
	qv_x86_long_mode_sregs(&sregs);
	sregs.cr3 = QUARK_BOOT_PML4_GPA;
	sregs.cr4 = QV_CR4_PAE | 0x200 /* OSFXSR */ | 0x400 /* OSXMMEXCPT */;
	if (ioctl(v->fd, KVM_SET_SREGS, &sregs) == -1) {
		errbuf_set(err, errlen, "KVM_SET_SREGS: %s", log_errstr(errno));
		return -errno;
	}
	memset(&regs, 0, sizeof(regs));
	regs.rip = h.entry;
	regs.rdi = QUARK_KBASE + QUARK_BOOT_GPA;
	regs.rsi = v->id;
	regs.rflags = 0x2;
	if (ioctl(v->fd, KVM_SET_REGS, &regs) == -1) {
		errbuf_set(err, errlen, "KVM_SET_REGS: %s", log_errstr(errno));
		return -errno;
	}
	return 0;
}

static const char *syscall_name(unsigned nr)
{
	static const struct {
		unsigned nr;
		const char *name;
	} names[] = {
		{ 0, "read" },
		{ 1, "write" },
		{ 2, "open" },
		{ 3, "close" },
		{ 4, "stat" },
		{ 5, "fstat" },
		{ 6, "lstat" },
		{ 8, "lseek" },
		{ 9, "mmap" },
		{ 10, "mprotect" },
		{ 11, "munmap" },
		{ 12, "brk" },
		{ 13, "rt_sigaction" },
		{ 14, "rt_sigprocmask" },
		{ 16, "ioctl" },
		{ 17, "pread64" },
		{ 18, "pwrite64" },
		{ 19, "readv" },
		{ 20, "writev" },
		{ 21, "access" },
		{ 22, "pipe" },
		{ 28, "madvise" },
		{ 32, "dup" },
		{ 33, "dup2" },
		{ 35, "nanosleep" },
		{ 39, "getpid" },
		{ 56, "clone" },
		{ 57, "fork" },
		{ 59, "execve" },
		{ 60, "exit" },
		{ 61, "wait4" },
		{ 62, "kill" },
		{ 63, "uname" },
		{ 72, "fcntl" },
		{ 79, "getcwd" },
		{ 80, "chdir" },
		{ 89, "readlink" },
		{ 96, "gettimeofday" },
		{ 102, "getuid" },
		{ 104, "getgid" },
		{ 107, "geteuid" },
		{ 108, "getegid" },
		{ 110, "getppid" },
		{ 158, "arch_prctl" },
		{ 186, "gettid" },
		{ 202, "futex" },
		{ 217, "getdents64" },
		{ 218, "set_tid_address" },
		{ 228, "clock_gettime" },
		{ 231, "exit_group" },
		{ 257, "openat" },
		{ 262, "newfstatat" },
		{ 273, "set_robust_list" },
		{ 302, "prlimit64" },
		{ 318, "getrandom" },
		{ 332, "statx" },
		{ 334, "rseq" },
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].nr == nr)
			return names[i].name;
	return NULL;
}

/* QVisor's own side of the forwarded calls: per operation, what it did. */
static void print_fwd_stats(const struct run *r)
{
	struct qv_fwd_op_stats ops[QUARK_OP_COUNT];
	uint64_t bad = __atomic_load_n(&r->worker_bad, __ATOMIC_RELAXED);

	qv_fwd_stats(r->fwd, ops);
	fprintf(stderr, "quark: stats: host operations (calls/errors/bytes):");
	for (uint32_t op = 0; op < QUARK_OP_COUNT; op++)
		if (ops[op].calls)
			fprintf(stderr, " %s=%" PRIu64 "/%" PRIu64 "/%" PRIu64, qv_fwd_op_name(op),
				ops[op].calls, ops[op].errors, ops[op].bytes);
	if (bad)
		fprintf(stderr, " bad-queue-entries=%" PRIu64, bad);
	fputc('\n', stderr);
}

static void print_stats(struct run *r, uint64_t stats_gpa)
{
	struct quark_stats st;
	const void *p = stats_gpa ? qv_gmem_ptr(&r->gm, stats_gpa, sizeof(st)) : NULL;
	uint64_t total = 0, exits = 0, hypercalls = 0, waits = 0;

	for (unsigned i = 0; i < r->ncpus; i++) {
		exits += __atomic_load_n(&r->cpu[i].exits, __ATOMIC_RELAXED);
		hypercalls += __atomic_load_n(&r->cpu[i].hypercalls, __ATOMIC_RELAXED);
		waits += __atomic_load_n(&r->cpu[i].waits, __ATOMIC_RELAXED);
	}
	fprintf(stderr,
		"quark: stats: %" PRIu64 " VM exits to QVisor, %" PRIu64 " hypercalls, %" PRIu64
		" queue waits; queue %s: %" PRIu64 " operations served by the worker, %" PRIu64
		" worker sleeps\n",
		exits, hypercalls, waits, r->queue ? "on" : "off",
		__atomic_load_n(&r->worker_ops, __ATOMIC_RELAXED),
		__atomic_load_n(&r->worker_sleeps, __ATOMIC_RELAXED));
	if (!p) {
		fprintf(stderr, "quark: stats: the guest gave no counters\n");
		return;
	}
	memcpy(&st, p, sizeof(st)); /* untrusted numbers: printed, never used to index */
	for (unsigned i = 0; i < QUARK_NR_SYSCALLS; i++)
		total += st.syscalls[i];
	fprintf(stderr,
		"quark: stats: %" PRIu64 " system calls, %" PRIu64
		" forwarded to the host, %" PRIu64 " unknown (ENOSYS), %" PRIu64 " kicks; %" PRIu64
		" page faults served, %" PRIu64 " pages in use\n",
		total, st.forwarded, st.unknown, st.kicks, st.page_faults, st.pages_used);
	fprintf(stderr, "quark: stats: by number:");
	for (unsigned i = 0; i < QUARK_NR_SYSCALLS; i++) {
		const char *n = syscall_name(i);

		if (!st.syscalls[i])
			continue;
		if (n)
			fprintf(stderr, " %s(%u)=%" PRIu64, n, i, st.syscalls[i]);
		else
			fprintf(stderr, " %u=%" PRIu64, i, st.syscalls[i]);
	}
	fputc('\n', stderr);
	print_fwd_stats(r);
	if (st.unknown) {
		fprintf(stderr, "quark: stats: unknown system calls:");
		for (unsigned i = 0; i < QUARK_UNKNOWN_KEPT && st.unknown_nr[i]; i++)
			fprintf(stderr, " %" PRIu64, st.unknown_nr[i] - 1);
		fputc('\n', stderr);
	}
}

/* The program ended: its status, with one line when a signal ended it. */
static int finish(struct run *r, const struct quark_hcall *hc)
{
	uint64_t status = hc->args[0];
	int rc;

	if (status & QUARK_EXIT_SIGNAL) {
		int sig = (int)(status & 0x7f);
		const char *abbrev = sigabbrev_np(sig);

		if (sig == SIGKILL)
			fprintf(stderr, "quark: %s: killed: out of guest memory (raise --memory)\n",
				r->exe);
		else if (hc->args[1] || hc->args[3])
			fprintf(stderr,
				"quark: %s: killed by SIG%s (%s at %#" PRIx64 ", rip %#" PRIx64
				")\n",
				r->exe, abbrev ? abbrev : "?",
				sig == SIGSEGV ? "bad access" : "fault", hc->args[2], hc->args[3]);
		else
			fprintf(stderr, "quark: %s: killed by SIG%s\n", r->exe,
				abbrev ? abbrev : "?");
		rc = 128 + sig;
	} else {
		rc = (int)(status & 0xff);
	}
	if (r->o->stats)
		print_stats(r, hc->args[1]);
	return rc;
}

static int guest_panic(struct run *r, uint32_t gpa)
{
	char msg[QUARK_PANIC_MAX + 1];
	uint64_t n = 0;

	for (; n < QUARK_PANIC_MAX; n++) {
		const char *c = qv_gmem_ptr(&r->gm, (uint64_t)gpa + n, 1);

		if (!c || !*c)
			break;
		msg[n] = (char)((*c >= 0x20 && *c < 0x7f) ? *c : '?');
	}
	msg[n] = 0;
	fprintf(stderr, "quark: %s: the guest kernel stopped: %s\n", r->exe, msg);
	return QV_EXIT_RUNTIME;
}

/* Runs one block named by the guest; false if the name itself is bad. */
static bool serve_block(struct run *r, uint64_t gpa)
{
	struct quark_hcall hc;
	unsigned char *p = (gpa & 7) ? NULL : qv_gmem_ptr(&r->gm, gpa, sizeof(hc));
	uint32_t done = QUARK_STATE_DONE;

	if (!p)
		return false;
	memcpy(&hc, p, sizeof(hc)); /* once: the guest cannot change it under us */
	/*
	 * EXIT must stop the vCPU and the others may block it: only its thread
	 * does those. After the end nothing more reaches the host.
	 */
	if (hc.op == QUARK_OP_EXIT || hc.op == QUARK_OP_FUTEX || hc.op == QUARK_OP_CPU_START ||
	    hc.op == QUARK_OP_CPU_PARK)
		hc.ret = -EINVAL;
	else if (__atomic_load_n(&r->claimed, __ATOMIC_ACQUIRE))
		hc.ret = -EINTR;
	else
		hc.ret = qv_fwd_call(r->fwd, &r->gm, &hc);
	memcpy(p + offsetof(struct quark_hcall, ret), &hc.ret, sizeof(hc.ret));
	/* ret before state: the guest reads ret once it sees DONE (acquire). */
	__atomic_store_n((uint32_t *)(void *)(p + offsetof(struct quark_hcall, state)), done,
			 __ATOMIC_RELEASE);
	/* Pairs with the barrier in wait_block() between vcpus_waiting++ and its state check. */
	atomic_thread_fence(memory_order_seq_cst);
	if (__atomic_load_n(&r->vcpus_waiting, __ATOMIC_RELAXED))
		syscall(SYS_futex, p + offsetof(struct quark_hcall, state), FUTEX_WAKE_PRIVATE, 1,
			NULL, NULL, 0);
	return true;
}

/*
 * QUARK_HC_WAIT: the guest's spin on a queued block ran out, so the vCPU
 * thread sleeps on the block's state word until the worker marks it DONE
 * (and wakes it, seeing vcpus_waiting). The sleep is sliced so that the
 * end of the run or a block that never completes (a bad name in the ring)
 * cannot hold the thread; the guest simply waits again.
 */
static void wait_block(struct vcpu *v, uint32_t gpa)
{
	struct run *r = v->r;
	uint32_t *state;
	unsigned char *p = (gpa & 7) ? NULL : qv_gmem_ptr(&r->gm, gpa, sizeof(struct quark_hcall));
	struct timespec slice = { 0, 10L * 1000 * 1000 };

	if (!p)
		return;
	state = (uint32_t *)(void *)(p + offsetof(struct quark_hcall, state));
	__atomic_fetch_add(&v->waits, 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&r->vcpus_waiting, 1, __ATOMIC_RELAXED);
	atomic_thread_fence(memory_order_seq_cst);
	if (__atomic_load_n(state, __ATOMIC_ACQUIRE) != QUARK_STATE_DONE)
		futex_op(state, FUTEX_WAIT_PRIVATE, (uint32_t)QUARK_STATE_PENDING, &slice, NULL, 0);
	__atomic_fetch_sub(&r->vcpus_waiting, 1, __ATOMIC_RELAXED);
}

static void *queue_worker(void *arg)
{
	struct run *r = arg;
	struct quark_queue *q = (struct quark_queue *)(void *)(r->gm.base + QUARK_QUEUE_GPA);
	uint64_t idle_since = clock_ns(CLOCK_MONOTONIC);
	uint32_t head = 0;

	thread_up(r);
	while (!__atomic_load_n(&r->stopping, __ATOMIC_ACQUIRE)) {
		uint32_t tail = __atomic_load_n(&q->sq_tail, __ATOMIC_ACQUIRE);
		uint64_t n;

		if (head != tail) {
			uint64_t gpa = __atomic_load_n(&q->entries[head % QUARK_QUEUE_ENTRIES],
						       __ATOMIC_RELAXED);

			/* A bad name has nobody to answer: the guest spins until --timeout. */
			__atomic_fetch_add(serve_block(r, gpa) ? &r->worker_ops : &r->worker_bad, 1,
					   __ATOMIC_RELAXED);
			head++;
			__atomic_store_n(&q->sq_head, head, __ATOMIC_RELEASE);
			idle_since = 0;
			continue;
		}
		if (!idle_since)
			idle_since = clock_ns(CLOCK_MONOTONIC);
		if (clock_ns(CLOCK_MONOTONIC) - idle_since < QUEUE_SPIN_NS) {
			__builtin_ia32_pause();
			continue;
		}
		__atomic_store_n(&q->host_idle, 1, __ATOMIC_RELAXED);
		/* Pairs with the guest's barrier between its sq_tail store and host_idle load. */
		atomic_thread_fence(memory_order_seq_cst);
		if (__atomic_load_n(&q->sq_tail, __ATOMIC_ACQUIRE) == head &&
		    !__atomic_load_n(&r->stopping, __ATOMIC_ACQUIRE)) {
			__atomic_fetch_add(&r->worker_sleeps, 1, __ATOMIC_RELAXED);
			if (read(r->kick_fd, &n, sizeof(n)) < 0 && errno != EINTR)
				break;
		}
		__atomic_store_n(&q->host_idle, 0, __ATOMIC_RELAXED);
		idle_since = clock_ns(CLOCK_MONOTONIC);
	}
	return NULL;
}

/*
 * The queue worker and its eventfd, when forwarded calls go through the
 * queue (r->queue). The kick is an ioeventfd where KVM has them
 * (register_kick()), else an exit the vCPU loop turns into the same
 * eventfd write.
 */
static int start_queue(struct run *r, char *err, size_t errlen)
{
	int rc;

	if (!r->queue)
		return 0;
	r->kick_fd = eventfd(0, EFD_CLOEXEC);
	if (r->kick_fd < 0) {
		errbuf_set(err, errlen, "eventfd: %s", log_errstr(errno));
		return -errno;
	}
	rc = pthread_create(&r->worker, NULL, queue_worker, r);
	if (rc) {
		errbuf_set(err, errlen, "queue worker: %s", log_errstr(rc));
		return -rc;
	}
	r->worker_started = true;
	return 0;
}

/*
 * The guest's kick on the worker's eventfd, once the VM exists (the worker
 * may start before it: it only reads the ring in guest memory).
 */
static void register_kick(struct run *r)
{
	struct kvm_ioeventfd ioe;

	if (!r->queue)
		return;
	memset(&ioe, 0, sizeof(ioe));
	ioe.addr = QUARK_HC_KICK;
	ioe.len = 4;
	ioe.fd = r->kick_fd;
	ioe.flags = KVM_IOEVENTFD_FLAG_PIO;
	if (ioctl(r->kvm.vm_fd, KVM_IOEVENTFD, &ioe) == -1 && r->o->verbose)
		fprintf(stderr, "quark: KVM_IOEVENTFD: %s; kicks will exit to QVisor\n",
			log_errstr(errno));
}

/* Joins t by the absolute CLOCK_REALTIME deadline; false if it did not end by then. */
static bool join_by(pthread_t t, const struct timespec *deadline)
{
	return pthread_timedjoin_np(t, NULL, deadline) == 0;
}

/*
 * Stops the worker and every vCPU thread; true when all of them ended
 * (then, and only then, the VM's memory may go).
 */
static bool stop_threads(struct run *r)
{
	struct timespec deadline;
	uint64_t one = 1;
	bool all = true;

	__atomic_store_n(&r->stopping, 1, __ATOMIC_SEQ_CST);
	for (unsigned i = 0; i < r->ncpus; i++) {
		struct vcpu *v = &r->cpu[i];

		if (!v->thread_started)
			continue;
		/* KVM_RUN returns at once from now on; a parked thread sees the token move. */
		__atomic_store_n(&v->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
		__atomic_fetch_add(&v->starts, 1, __ATOMIC_RELEASE);
		futex_op(&v->starts, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
		pthread_kill(v->thread, SIGUSR1);
	}
	if (r->worker_started) {
		if (write(r->kick_fd, &one, sizeof(one)) < 0)
			fprintf(stderr, "quark: waking the queue worker: %s\n", log_errstr(errno));
		pthread_kill(r->worker, SIGUSR1);
	}
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += 1;
	for (unsigned i = 0; i < r->ncpus; i++) {
		struct vcpu *v = &r->cpu[i];

		if (v->thread_started && join_by(v->thread, &deadline))
			v->thread_started = false;
		all &= !v->thread_started;
	}
	if (r->worker_started && join_by(r->worker, &deadline))
		r->worker_started = false;
	return all && !r->worker_started;
}

/* Takes one CPU_START token, sleeping for it; false when the run is stopping. */
static bool take_start(struct vcpu *v)
{
	for (;;) {
		uint32_t n = __atomic_load_n(&v->starts, __ATOMIC_ACQUIRE);

		if (__atomic_load_n(&v->r->stopping, __ATOMIC_ACQUIRE))
			return false;
		if (n == 0) {
			futex_op(&v->starts, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);
			continue;
		}
		if (__atomic_compare_exchange_n(&v->starts, &n, n - 1, false, __ATOMIC_ACQ_REL,
						__ATOMIC_ACQUIRE))
			return true;
	}
}

static void give_start(struct vcpu *v)
{
	__atomic_fetch_add(&v->starts, 1, __ATOMIC_RELEASE);
	futex_op(&v->starts, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

/*
 * QUARK_OP_FUTEX: the program's futex on its own memory, as the host's
 * futex on the same bytes. Every address is range-checked; the operations
 * are the ones QKernel passes on (no PI, no robust lists). A wait
 * interrupted by the end of the run returns EINTR.
 */
static int64_t guest_futex(struct vcpu *v, const struct quark_hcall *hc)
{
	const uint64_t *a = hc->args;
	uint32_t cmd = (uint32_t)a[0], val = (uint32_t)a[2], val3 = (uint32_t)a[5];
	uint32_t *w = (a[1] & 3) ? NULL : qv_gmem_ptr(&v->r->gm, a[1], 4), *w2 = NULL;
	struct timespec ts, *tsp = NULL;
	long rc;

	if (!w)
		return -EFAULT;
	switch (cmd) {
	case FUTEX_WAIT:
	case FUTEX_WAIT_BITSET:
		if (cmd == FUTEX_WAIT)
			val3 = FUTEX_BITSET_MATCH_ANY;
		if (val3 == 0)
			return -EINVAL;
		if (a[3] != UINT64_MAX) {
			/* An absolute monotonic deadline, so that a restart after EINTR keeps it.
			 */
			uint64_t ns = a[3] > (uint64_t)INT32_MAX * 1000000000ULL
					      ? (uint64_t)INT32_MAX * 1000000000ULL
					      : a[3];

			clock_gettime(CLOCK_MONOTONIC, &ts);
			ns += (uint64_t)ts.tv_nsec;
			ts.tv_sec += (time_t)(ns / 1000000000ULL);
			ts.tv_nsec = (long)(ns % 1000000000ULL);
			tsp = &ts;
		}
		do {
			rc = futex_op(w, FUTEX_WAIT_BITSET_PRIVATE, val, tsp, NULL, val3);
		} while (rc == -1 && errno == EINTR &&
			 !__atomic_load_n(&v->r->stopping, __ATOMIC_ACQUIRE));
		return rc == -1 ? -errno : 0;
	case FUTEX_WAKE:
	case FUTEX_WAKE_BITSET:
		if (cmd == FUTEX_WAKE)
			val3 = FUTEX_BITSET_MATCH_ANY;
		if (val3 == 0)
			return -EINVAL;
		rc = futex_op(w, FUTEX_WAKE_BITSET_PRIVATE, val, NULL, NULL, val3);
		return rc == -1 ? -errno : rc;
	case FUTEX_REQUEUE:
	case FUTEX_CMP_REQUEUE:
	case FUTEX_WAKE_OP:
		w2 = (a[4] & 3) ? NULL : qv_gmem_ptr(&v->r->gm, a[4], 4);
		if (!w2)
			return -EFAULT;
		/* The fourth argument is a count here (val2), passed in the pointer's place. */
		rc = syscall(SYS_futex, w, (int)cmd | FUTEX_PRIVATE_FLAG, val,
			     (unsigned long)(uint32_t)a[3], w2, val3);
		return rc == -1 ? -errno : rc;
	default:
		return -ENOSYS;
	}
}

/* A failure that ends the run (when nothing else ended it first). */
__attribute__((format(printf, 2, 3))) static void fail(struct run *r, const char *fmt, ...)
{
	va_list ap;

	if (!claim_end(r))
		return;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	publish_end(r, QV_EXIT_RUNTIME);
}

/* QUARK_OP_ALARM: the program's ITIMER_REAL, kept by the supervisor. */
static void set_alarm(struct run *r, uint64_t first_ns, uint64_t every_ns)
{
	const uint64_t max = 1ULL << 62; /* centuries: no sum below can wrap */

	__atomic_store_n(&r->alarm_every, every_ns < max ? every_ns : max, __ATOMIC_RELAXED);
	__atomic_store_n(&r->alarm_ns,
			 first_ns ? clock_ns(CLOCK_MONOTONIC) + (first_ns < max ? first_ns : max)
				  : 0,
			 __ATOMIC_RELEASE);
	/* The supervisor may sleep with the old deadline: a new wake value
	 * makes it look again, even if it had not started its wait yet. */
	__atomic_fetch_add(&r->wake, 1, __ATOMIC_RELEASE);
	futex_op(&r->wake, FUTEX_WAKE_PRIVATE, INT32_MAX, NULL, NULL, 0);
}

/*
 * An expired alarm: SIGALRM into the guest, and the next expiry (after the
 * interval, skipping any that passed) or none. A compare-exchange, since
 * the program may set a new one meanwhile. Returns the deadline now in
 * force (0 = none).
 */
static uint64_t fire_alarm(struct run *r, uint64_t when, uint64_t now)
{
	uint64_t every = __atomic_load_n(&r->alarm_every, __ATOMIC_RELAXED), next = 0;

	if (every)
		next = when + ((now - when) / every + 1) * every;
	if (__atomic_compare_exchange_n(&r->alarm_ns, &when, next, false, __ATOMIC_ACQ_REL,
					__ATOMIC_ACQUIRE))
		pass_in(r, SIGALRM);
	return __atomic_load_n(&r->alarm_ns, __ATOMIC_ACQUIRE);
}

/* Serves one QUARK_HC_CALL; false when the vCPU's thread must return. */
static bool serve_call(struct vcpu *v, uint32_t gpa)
{
	struct run *r = v->r;
	struct quark_hcall hc;
	void *p = (gpa & 7) ? NULL : qv_gmem_ptr(&r->gm, gpa, sizeof(hc));

	if (!p) {
		fail(r, "quark: %s: bad hypercall block %#x\n", r->exe, gpa);
		return false;
	}
	memcpy(&hc, p, sizeof(hc)); /* once: the guest cannot change it under us */
	__atomic_fetch_add(&v->hypercalls, 1, __ATOMIC_RELAXED);
	switch (hc.op) {
	case QUARK_OP_EXIT:
		if (claim_end(r))
			publish_end(r, finish(r, &hc));
		return false;
	case QUARK_OP_FUTEX:
		hc.ret = guest_futex(v, &hc);
		break;
	case QUARK_OP_CPU_START:
		if (hc.args[0] >= r->ncpus) {
			hc.ret = -EINVAL;
			break;
		}
		give_start(&r->cpu[hc.args[0]]);
		hc.ret = 0;
		break;
	case QUARK_OP_CPU_PARK:
		if (!take_start(v))
			return false;
		hc.ret = 0;
		break;
	case QUARK_OP_ALARM:
		set_alarm(r, hc.args[0], hc.args[1]);
		hc.ret = 0;
		break;
	default:
		/*
		 * With the queue on, the worker serves everything but the calls that
		 * block one vCPU: a block sent here instead is refused.
		 */
		if (__atomic_load_n(&r->claimed, __ATOMIC_ACQUIRE))
			return false;
		hc.ret = (r->queue && hc.op != QUARK_OP_NANOSLEEP)
				 ? -EINVAL
				 : qv_fwd_call(r->fwd, &r->gm, &hc);
		break;
	}
	memcpy((unsigned char *)p + offsetof(struct quark_hcall, ret), &hc.ret, sizeof(hc.ret));
	return true;
}

static void vcpu_loop(struct vcpu *v)
{
	struct run *r = v->r;
	struct kvm_run *run = v->run;

	for (;;) {
		uint32_t gpa;
		int rc;

		__atomic_store_n(&v->in_guest, 1, __ATOMIC_SEQ_CST);
		offer_outside_signal(v);
		rc = ioctl(v->fd, KVM_RUN, 0);
		__atomic_store_n(&v->in_guest, 0, __ATOMIC_SEQ_CST);
		if (rc == -1) {
			if (errno == EINTR) {
				if (__atomic_load_n(&r->stopping, __ATOMIC_SEQ_CST))
					return;
				/* A kick from on_outside_signal(), not the end: run on,
				 * unless stop_threads() set it in between. */
				__atomic_store_n(&run->immediate_exit, 0, __ATOMIC_SEQ_CST);
				if (__atomic_load_n(&r->stopping, __ATOMIC_SEQ_CST))
					return;
				continue;
			}
			fail(r, "quark: KVM_RUN: %s\n", log_errstr(errno));
			return;
		}
		__atomic_fetch_add(&v->exits, 1, __ATOMIC_RELAXED);
		if (run->exit_reason == KVM_EXIT_IRQ_WINDOW_OPEN)
			continue; /* ring 3 again: offer_outside_signal() injects now */
		if (run->exit_reason != KVM_EXIT_IO) {
			struct kvm_regs regs;

			memset(&regs, 0, sizeof(regs));
			ioctl(v->fd, KVM_GET_REGS, &regs);
			fail(r, "quark: %s: the guest stopped with %s (vCPU %u, rip %#llx)\n",
			     r->exe, qv_kvm_exit_name(run->exit_reason), v->id,
			     (unsigned long long)regs.rip);
			return;
		}
		/*
		 * Only a ring-0 `out` reaches here: the guest runs programs with
		 * IOPL 0 and no I/O bitmap, so a ring-3 `out` faults inside it.
		 */
		if (run->io.direction != KVM_EXIT_IO_OUT || run->io.size != 4 ||
		    run->io.count != 1) {
			fail(r, "quark: %s: the guest made an unknown port access (%#x)\n", r->exe,
			     run->io.port);
			return;
		}
		memcpy(&gpa, (unsigned char *)run + run->io.data_offset, sizeof(gpa));
		switch (run->io.port) {
		case QUARK_HC_PANIC:
			if (claim_end(r))
				publish_end(r, guest_panic(r, gpa));
			return;
		case QUARK_HC_YIELD:
			sched_yield();
			break;
		case QUARK_HC_WAIT:
			if (!r->queue)
				goto bad;
			wait_block(v, gpa);
			break;
		case QUARK_HC_KICK: {
			uint64_t one = 1;

			if (!r->queue)
				goto bad;
			if (write(r->kick_fd, &one, sizeof(one)) < 0) {
				fail(r, "quark: kicking the queue worker: %s\n", log_errstr(errno));
				return;
			}
			break;
		}
		case QUARK_HC_CALL:
			if (!serve_call(v, gpa))
				return;
			break;
		default:
			goto bad;
		}
		continue;
	bad:
		fail(r, "quark: %s: bad hypercall (port %#x, value %#x)\n", r->exe, run->io.port,
		     gpa);
		return;
	}
}

static void *vcpu_thread(void *arg)
{
	struct vcpu *v = arg;

	thread_up(v->r);
	if (take_start(v))
		vcpu_loop(v);
	return NULL;
}

/* The supervisor: the run's status, once a vCPU or --timeout ended it. */
static int wait_end(struct run *r)
{
	uint64_t deadline = r->o->timeout_s ? clock_ns(CLOCK_MONOTONIC) +
						      (uint64_t)r->o->timeout_s * 1000000000ULL
					    : 0;

	for (;;) {
		/* First: a set_alarm() or publish_end() after this load changes
		 * the word, so the wait below returns at once instead of missing it. */
		uint32_t seen = __atomic_load_n(&r->wake, __ATOMIC_ACQUIRE);
		uint64_t now = clock_ns(CLOCK_MONOTONIC);
		uint64_t alarm = __atomic_load_n(&r->alarm_ns, __ATOMIC_ACQUIRE), until;
		struct timespec ts, *tsp = NULL;

		if (__atomic_load_n(&r->done, __ATOMIC_ACQUIRE))
			break;
		if (alarm && alarm <= now)
			alarm = fire_alarm(r, alarm, now);
		if (deadline && now >= deadline) {
			if (claim_end(r)) {
				fprintf(stderr, "quark: %s: stopped after %u s (--timeout)\n",
					r->exe, r->o->timeout_s);
				publish_end(r, QV_EXIT_TIMEOUT);
			}
			deadline = 0; /* ended by someone: wait for the status */
			continue;
		}
		/* Asleep until the end, the time limit or the program's alarm. */
		until = deadline && (!alarm || deadline < alarm) ? deadline : alarm;
		if (until) {
			uint64_t left = until > now ? until - now : 0;

			ts.tv_sec = (time_t)(left / 1000000000ULL);
			ts.tv_nsec = (long)(left % 1000000000ULL);
			tsp = &ts;
		}
		futex_op(&r->wake, FUTEX_WAIT_PRIVATE, seen, tsp, NULL, 0);
	}
	return r->status;
}

static void step(const struct run *r, const char *what, uint64_t t0)
{
	if (r->o->verbose)
		fprintf(stderr, "quark: %s (%.2f ms)\n", what,
			(double)(clock_ns(CLOCK_MONOTONIC) - t0) / 1e6);
}

/* vCPUs 1..ncpus-1 and a thread for each vCPU, all before the lockdown. */
static int make_vcpus(struct run *r, char *err, size_t errlen)
{
	struct sigaction sa = { .sa_handler = on_stop_signal }; /* no SA_RESTART */
	unsigned cpuid_n;
	int rc;

	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGUSR1, &sa, NULL) == -1) {
		errbuf_set(err, errlen, "sigaction: %s", log_errstr(errno));
		return -errno;
	}
	for (unsigned i = 0; i < r->ncpus; i++) {
		struct vcpu *v = &r->cpu[i];

		v->r = r;
		v->id = i;
		if (i == 0) {
			v->fd = r->kvm.vcpu_fd;
			v->run = r->kvm.run;
		} else {
			rc = qv_kvm_add_vcpu(&r->kvm, i, &v->fd, &v->run, &cpuid_n, err, errlen);
			if (rc < 0)
				return rc;
		}
		rc = set_vcpu_state(v, err, errlen);
		if (rc < 0)
			return rc;
		rc = pthread_create(&v->thread, NULL, vcpu_thread, v);
		if (rc) {
			errbuf_set(err, errlen, "vCPU thread: %s", log_errstr(rc));
			return -rc;
		}
		v->thread_started = true;
	}
	return 0;
}

static void free_run(struct run *r)
{
	if (r->kick_fd >= 0)
		close(r->kick_fd);
	for (unsigned i = 1; i < r->ncpus; i++) {
		if (r->cpu[i].run)
			munmap(r->cpu[i].run, r->kvm.run_size);
		if (r->cpu[i].fd > 0)
			close(r->cpu[i].fd);
	}
	if (r->fwd)
		qv_fwd_close(r->fwd);
	qv_kvm_close(&r->kvm);
	free(r);
}

/*
 * KVM_CREATE_VM and vCPU 0 on a thread of their own. They are the longest
 * steps of the set-up, 45 and 18 ms in the nested bed (ftrace: 29 ms of
 * the first is the kernel starting the VM's NX-huge-page recovery thread
 * and waiting for it), and nothing QVisor does before the memory slot
 * needs the VM: qv_run() fills guest memory, sets up its signals and
 * starts the queue worker meanwhile.
 */
struct vm_maker {
	struct qv_kvm *kvm;
	int rc;		  /* the first failure's, or 0 */
	unsigned cpuid_n; /* CPUID leaves given to vCPU 0 */
	char err[256];	  /* the failure's message when rc < 0 */
};

static void *make_vm(void *arg)
{
	struct vm_maker *mk = arg;

	mk->rc = qv_kvm_create_vm_fd(mk->kvm, mk->err, sizeof(mk->err));
	if (mk->rc == 0)
		mk->rc = qv_kvm_create_vcpu(mk->kvm, &mk->cpuid_n, mk->err, sizeof(mk->err));
	return NULL;
}

/*
 * Starts make_vm() with every signal blocked, so that no handler of
 * QVisor's ever runs on it (on_outside_signal() needs the boot page).
 */
static int start_vm_maker(struct run *r, struct vm_maker *mk, pthread_t *t, char *err,
			  size_t errlen)
{
	sigset_t all, old;
	int rc;

	mk->kvm = &r->kvm;
	mk->rc = 0;
	mk->err[0] = 0;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	rc = pthread_create(t, NULL, make_vm, mk);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc) {
		errbuf_set(err, errlen, "VM thread: %s", log_errstr(rc));
		return -rc;
	}
	return 0;
}

/* Joins make_vm(); its result. */
static int join_vm_maker(pthread_t t, struct vm_maker *mk, char *err, size_t errlen)
{
	pthread_join(t, NULL);
	if (mk->rc < 0)
		errbuf_set(err, errlen, "%s", mk->err);
	return mk->rc;
}

int qv_run(const struct qv_run_opts *o)
{
	struct qv_kvm_cap caps[16];
	struct run *r = calloc(1, sizeof(*r));
	struct vm_maker mk;
	pthread_t mk_thread;
	char err[512];
	uint64_t t0 = clock_ns(CLOCK_MONOTONIC);
	sigset_t mask;
	size_t ncaps;
	int rc, status = QV_EXIT_RUNTIME;

	if (!r) {
		fprintf(stderr, "quark: out of memory\n");
		return QV_EXIT_RUNTIME;
	}
	r->o = o;
	r->kick_fd = -1;
	r->ncpus = o->cpus ? o->cpus : 1;
	/*
	 * Forwarded calls go through the queue worker when there is a second
	 * CPU (on one, the spinning vCPU and the worker would take turns at the
	 * scheduler's pace) unless asked otherwise; decided before
	 * build_guest(), which tells the guest.
	 */
	r->queue = o->queue > 0 || (o->queue < 0 && sysconf(_SC_NPROCESSORS_ONLN) >= 2);
	qv_kvm_init(&r->kvm);
	/* A closed stdout pipe is the program's EPIPE (and its SIGPIPE), never QVisor's death. */
	signal(SIGPIPE, SIG_IGN);
	rc = resolve_program(r);
	if (rc < 0) {
		fprintf(stderr, "quark: %s: %s\n", o->argv[0],
			rc == -ENOENT ? "command not found (on PATH inside the root)"
				      : log_errstr(-rc));
		status = rc == -ENOENT ? QV_EXIT_NOTFOUND : QV_EXIT_RUNTIME;
		goto out;
	}
	/* The root first: a bad --rootfs is reported as such on any host. */
	rc = qv_fwd_open(&r->fwd, o->rootfs, o->workdir, err, sizeof(err));
	if (rc < 0)
		goto err_msg;
	step(r, "root and working directory opened", t0);
	rc = qv_kvm_open(&r->kvm, o->device, err, sizeof(err));
	if (rc < 0)
		goto err_msg;
	ncaps = qv_kvm_default_caps(caps, sizeof(caps) / sizeof(caps[0]));
	rc = qv_kvm_probe_caps(&r->kvm, caps, ncaps, err, sizeof(err));
	if (rc < 0)
		goto err_msg;
	rc = start_vm_maker(r, &mk, &mk_thread, err, sizeof(err));
	if (rc < 0)
		goto err_msg;
	/*
	 * While the VM and vCPU 0 are made: the memory and its contents, the
	 * signal handlers and the queue worker.
	 */
	rc = qv_kvm_alloc_mem(&r->kvm, o->mem_size, err, sizeof(err));
	if (rc == 0) {
		r->gm.base = r->kvm.mem;
		r->gm.size = r->kvm.mem_size;
		rc = build_guest(r, err, sizeof(err));
	}
	if (rc == 0)
		step(r, "guest memory laid out", t0);
	if (rc == 0)
		rc = outside_setup(r, &mask, err, sizeof(err));
	if (rc == 0)
		rc = start_queue(r, err, sizeof(err));
	if (rc == 0)
		step(r, "queue worker started", t0);
	if (rc < 0) {
		(void)join_vm_maker(mk_thread, &mk, NULL, 0);
		goto err_msg;
	}
	rc = join_vm_maker(mk_thread, &mk, err, sizeof(err));
	if (rc == 0)
		rc = qv_kvm_set_mem(&r->kvm, err, sizeof(err));
	if (rc < 0)
		goto err_msg;
	register_kick(r);
	rc = ioctl(r->kvm.vcpu_fd, KVM_GET_TSC_KHZ, 0);
	boot_of(r)->tsc_khz = rc > 0 ? (uint64_t)rc : 0;
	step(r, "VM and vCPU created", t0);
	rc = make_vcpus(r, err, sizeof(err));
	if (rc < 0)
		goto err_msg;
	/* Every thread exists, each with the outside signals blocked: from
	 * now on they interrupt only this one (on_outside_signal()). */
	pthread_sigmask(SIG_SETMASK, &mask, NULL);
	step(r, "vCPU threads started", t0);
	wait_threads_up(r, r->ncpus + (r->worker_started ? 1 : 0));
	rc = qv_seccomp_lockdown(err, sizeof(err));
	if (rc < 0)
		goto err_msg;
	step(r, "seccomp filter installed; running", t0);
	give_start(&r->cpu[0]);
	status = wait_end(r);
	step(r, "guest finished", t0);
	goto out;

err_msg:
	fprintf(stderr, "quark: %s\n", err);
out:
	outside_block();
	/* A thread that would not stop may still touch the VM: leave it all to the exit. */
	if (stop_threads(r)) {
		step(r, "threads stopped", t0);
		free_run(r);
		if (o->verbose)
			fprintf(stderr, "quark: VM torn down (%.2f ms)\n",
				(double)(clock_ns(CLOCK_MONOTONIC) - t0) / 1e6);
	}
	return status;
}
