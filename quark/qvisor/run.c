// SPDX-License-Identifier: MIT
/*
 * `quark run` on the host side (see run.h). The order matters for
 * security: everything that needs a wide set of system calls (opening
 * /dev/kvm, creating the VM, reading the root, resolving the program)
 * happens first; then qv_seccomp_lockdown() leaves QVisor with only what
 * the vCPU loop and the forwarded operations need, before the guest runs
 * its first instruction.
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
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
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

struct run {
	const struct qv_run_opts *o;
	struct qv_kvm kvm;
	struct qv_fwd *fwd;
	struct qv_gmem gm;
	char exe[QUARK_PATH_MAX]; /* the program's path inside the root */
	uint64_t exits, hypercalls;
	/* The queue worker (abi.h, "The queue"). */
	bool queue;
	int kick_fd; /* eventfd the guest's kick signals */
	pthread_t worker;
	bool worker_started;
	int stop; /* set by the vCPU thread (atomic), then a kick */
	uint64_t worker_ops, worker_sleeps, worker_bad, vcpu_waits;
	int vcpu_waiting; /* the vCPU thread sleeps on a block's state word (atomic) */
};

static volatile sig_atomic_t timed_out;
static struct kvm_run *volatile alarm_run;

static void on_alarm(int sig)
{
	(void)sig;
	timed_out = 1;
	if (alarm_run)
		alarm_run->immediate_exit = 1;
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
	b->uid = (uint32_t)getuid();
	b->gid = (uint32_t)getgid();
	rc = ioctl(r->kvm.vcpu_fd, KVM_GET_TSC_KHZ, 0);
	b->tsc_khz = rc > 0 ? (uint64_t)rc : 0;
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

static int set_vcpu_state(struct run *r, char *err, size_t errlen)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	struct quark_kernel_header h;

	memcpy(&h, quark_kernel_image, sizeof(h));
	if (ioctl(r->kvm.vcpu_fd, KVM_GET_SREGS, &sregs) == -1) {
		errbuf_set(err, errlen, "KVM_GET_SREGS: %s", log_errstr(errno));
		return -errno;
	}
	qv_x86_long_mode_sregs(&sregs);
	sregs.cr3 = QUARK_BOOT_PML4_GPA;
	sregs.cr4 = QV_CR4_PAE | 0x200 /* OSFXSR */ | 0x400 /* OSXMMEXCPT */;
	if (ioctl(r->kvm.vcpu_fd, KVM_SET_SREGS, &sregs) == -1) {
		errbuf_set(err, errlen, "KVM_SET_SREGS: %s", log_errstr(errno));
		return -errno;
	}
	memset(&regs, 0, sizeof(regs));
	regs.rip = h.entry;
	regs.rdi = QUARK_KBASE + QUARK_BOOT_GPA;
	regs.rflags = 0x2;
	if (ioctl(r->kvm.vcpu_fd, KVM_SET_REGS, &regs) == -1) {
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
	uint64_t total = 0;

	fprintf(stderr,
		"quark: stats: %" PRIu64 " VM exits to QVisor, %" PRIu64 " hypercalls, %" PRIu64
		" queue waits; queue %s: %" PRIu64 " operations served by the worker, %" PRIu64
		" worker sleeps\n",
		r->exits, r->hypercalls, r->vcpu_waits, r->queue ? "on" : "off",
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
	/* EXIT must stop the vCPU, which only the vCPU thread can do. */
	hc.ret = hc.op == QUARK_OP_EXIT ? -EINVAL : qv_fwd_call(r->fwd, &r->gm, &hc);
	memcpy(p + offsetof(struct quark_hcall, ret), &hc.ret, sizeof(hc.ret));
	/* ret before state: the guest reads ret once it sees DONE (acquire). */
	__atomic_store_n((uint32_t *)(void *)(p + offsetof(struct quark_hcall, state)), done,
			 __ATOMIC_RELEASE);
	/* Pairs with the barrier in wait_block() between vcpu_waiting = 1 and its state check. */
	atomic_thread_fence(memory_order_seq_cst);
	if (__atomic_load_n(&r->vcpu_waiting, __ATOMIC_RELAXED))
		syscall(SYS_futex, p + offsetof(struct quark_hcall, state), FUTEX_WAKE_PRIVATE, 1,
			NULL, NULL, 0);
	return true;
}

/*
 * QUARK_HC_WAIT: the guest's spin on a queued block ran out, so the vCPU
 * thread sleeps on the block's state word until the worker marks it DONE
 * (and wakes it, seeing vcpu_waiting). The sleep is sliced so that a
 * --timeout or a block that never completes (a bad name in the ring)
 * cannot hold the thread; the guest simply waits again.
 */
static void wait_block(struct run *r, uint32_t gpa)
{
	uint32_t *state;
	unsigned char *p = (gpa & 7) ? NULL : qv_gmem_ptr(&r->gm, gpa, sizeof(struct quark_hcall));
	struct timespec slice = { 0, 10L * 1000 * 1000 };

	if (!p)
		return;
	state = (uint32_t *)(void *)(p + offsetof(struct quark_hcall, state));
	r->vcpu_waits++;
	__atomic_store_n(&r->vcpu_waiting, 1, __ATOMIC_RELAXED);
	atomic_thread_fence(memory_order_seq_cst);
	if (__atomic_load_n(state, __ATOMIC_ACQUIRE) != QUARK_STATE_DONE)
		syscall(SYS_futex, state, FUTEX_WAIT_PRIVATE, (uint32_t)QUARK_STATE_PENDING, &slice,
			NULL, 0);
	__atomic_store_n(&r->vcpu_waiting, 0, __ATOMIC_RELAXED);
}

static void *queue_worker(void *arg)
{
	struct run *r = arg;
	struct quark_queue *q = (struct quark_queue *)(void *)(r->gm.base + QUARK_QUEUE_GPA);
	uint64_t idle_since = clock_ns(CLOCK_MONOTONIC);
	uint32_t head = 0;

	while (!__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE)) {
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
		    !__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE)) {
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
 * Decides whether forwarded calls go through the worker: it needs a second
 * CPU (on one, the spinning vCPU and the worker would take turns at the
 * scheduler's pace) unless asked for explicitly. The kick is an ioeventfd
 * where KVM has them, else an exit the vCPU loop turns into the same
 * eventfd write.
 */
static int start_queue(struct run *r, char *err, size_t errlen)
{
	struct kvm_ioeventfd ioe;
	sigset_t block, old;
	int rc;

	r->kick_fd = -1;
	r->queue = r->o->queue > 0 || (r->o->queue < 0 && sysconf(_SC_NPROCESSORS_ONLN) >= 2);
	if (!r->queue)
		return 0;
	r->kick_fd = eventfd(0, EFD_CLOEXEC);
	if (r->kick_fd < 0) {
		errbuf_set(err, errlen, "eventfd: %s", log_errstr(errno));
		return -errno;
	}
	memset(&ioe, 0, sizeof(ioe));
	ioe.addr = QUARK_HC_KICK;
	ioe.len = 4;
	ioe.fd = r->kick_fd;
	ioe.flags = KVM_IOEVENTFD_FLAG_PIO;
	if (ioctl(r->kvm.vm_fd, KVM_IOEVENTFD, &ioe) == -1 && r->o->verbose)
		fprintf(stderr, "quark: KVM_IOEVENTFD: %s; kicks will exit to QVisor\n",
			log_errstr(errno));
	/*
	 * The worker never takes SIGALRM (--timeout): the signal must interrupt
	 * KVM_RUN on the vCPU thread, the only one that leaves it unblocked.
	 */
	sigemptyset(&block);
	sigaddset(&block, SIGALRM);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	rc = pthread_create(&r->worker, NULL, queue_worker, r);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc) {
		errbuf_set(err, errlen, "queue worker: %s", log_errstr(rc));
		return -rc;
	}
	r->worker_started = true;
	return 0;
}

static void stop_queue(struct run *r)
{
	uint64_t one = 1;

	if (r->worker_started) {
		__atomic_store_n(&r->stop, 1, __ATOMIC_RELEASE);
		if (write(r->kick_fd, &one, sizeof(one)) < 0)
			fprintf(stderr, "quark: waking the queue worker: %s\n", log_errstr(errno));
		pthread_join(r->worker, NULL);
		r->worker_started = false;
	}
	if (r->kick_fd >= 0)
		close(r->kick_fd);
	r->kick_fd = -1;
}

static int vcpu_loop(struct run *r)
{
	struct kvm_run *run = r->kvm.run;

	for (;;) {
		struct quark_hcall hc;
		uint32_t gpa;
		void *p;

		if (ioctl(r->kvm.vcpu_fd, KVM_RUN, 0) == -1) {
			if (errno == EINTR) {
				if (timed_out) {
					fprintf(stderr,
						"quark: %s: stopped after %u s (--timeout)\n",
						r->exe, r->o->timeout_s);
					return QV_EXIT_TIMEOUT;
				}
				continue;
			}
			fprintf(stderr, "quark: KVM_RUN: %s\n", log_errstr(errno));
			return QV_EXIT_RUNTIME;
		}
		r->exits++;
		if (run->exit_reason != KVM_EXIT_IO) {
			struct kvm_regs regs;

			memset(&regs, 0, sizeof(regs));
			ioctl(r->kvm.vcpu_fd, KVM_GET_REGS, &regs);
			fprintf(stderr, "quark: %s: the guest stopped with %s (rip %#llx)\n",
				r->exe, qv_kvm_exit_name(run->exit_reason),
				(unsigned long long)regs.rip);
			return QV_EXIT_RUNTIME;
		}
		/*
		 * Only a ring-0 `out` reaches here: the guest runs programs with
		 * IOPL 0 and no I/O bitmap, so a ring-3 `out` faults inside it.
		 */
		if (run->io.direction != KVM_EXIT_IO_OUT || run->io.size != 4 ||
		    run->io.count != 1) {
			fprintf(stderr, "quark: %s: the guest made an unknown port access (%#x)\n",
				r->exe, run->io.port);
			return QV_EXIT_RUNTIME;
		}
		memcpy(&gpa, (unsigned char *)run + run->io.data_offset, sizeof(gpa));
		if (run->io.port == QUARK_HC_PANIC)
			return guest_panic(r, gpa);
		if (run->io.port == QUARK_HC_WAIT && r->queue) {
			wait_block(r, gpa);
			continue;
		}
		if (run->io.port == QUARK_HC_KICK && r->queue) {
			uint64_t one = 1;

			if (write(r->kick_fd, &one, sizeof(one)) < 0)
				return QV_EXIT_RUNTIME;
			continue;
		}
		p = (gpa & 7) ? NULL : qv_gmem_ptr(&r->gm, gpa, sizeof(hc));
		if (run->io.port != QUARK_HC_CALL || !p) {
			fprintf(stderr, "quark: %s: bad hypercall (port %#x, block %#x)\n", r->exe,
				run->io.port, gpa);
			return QV_EXIT_RUNTIME;
		}
		memcpy(&hc, p, sizeof(hc)); /* once: the guest cannot change it under us */
		r->hypercalls++;
		if (hc.op == QUARK_OP_EXIT)
			return finish(r, &hc);
		/*
		 * With the queue on, the worker owns r->fwd (it is single-threaded
		 * state): a block sent here instead is refused, never run beside it.
		 */
		hc.ret = r->queue ? -EINVAL : qv_fwd_call(r->fwd, &r->gm, &hc);
		memcpy((unsigned char *)p + offsetof(struct quark_hcall, ret), &hc.ret,
		       sizeof(hc.ret));
	}
}

static void step(const struct run *r, const char *what, uint64_t t0)
{
	if (r->o->verbose)
		fprintf(stderr, "quark: %s (%.2f ms)\n", what,
			(double)(clock_ns(CLOCK_MONOTONIC) - t0) / 1e6);
}

int qv_run(const struct qv_run_opts *o)
{
	struct qv_kvm_cap caps[16];
	struct run r = { .o = o, .kick_fd = -1 };
	char err[512];
	unsigned cpuid_n;
	uint64_t t0 = clock_ns(CLOCK_MONOTONIC);
	size_t ncaps;
	int rc, status = QV_EXIT_RUNTIME;

	qv_kvm_init(&r.kvm);
	/* A closed stdout pipe is the program's EPIPE (and its SIGPIPE), never QVisor's death. */
	signal(SIGPIPE, SIG_IGN);
	rc = resolve_program(&r);
	if (rc < 0) {
		fprintf(stderr, "quark: %s: %s\n", o->argv[0],
			rc == -ENOENT ? "command not found (on PATH inside the root)"
				      : log_errstr(-rc));
		return rc == -ENOENT ? QV_EXIT_NOTFOUND : QV_EXIT_RUNTIME;
	}
	rc = qv_fwd_open(&r.fwd, o->rootfs, o->workdir, err, sizeof(err));
	if (rc < 0)
		goto err_msg;
	step(&r, "root and working directory opened", t0);
	rc = qv_kvm_open(&r.kvm, o->device, err, sizeof(err));
	if (rc < 0)
		goto err_msg;
	ncaps = qv_kvm_default_caps(caps, sizeof(caps) / sizeof(caps[0]));
	rc = qv_kvm_probe_caps(&r.kvm, caps, ncaps, err, sizeof(err));
	if (rc == 0)
		rc = qv_kvm_create_vm(&r.kvm, o->mem_size, err, sizeof(err));
	if (rc == 0)
		rc = qv_kvm_create_vcpu(&r.kvm, &cpuid_n, err, sizeof(err));
	if (rc < 0)
		goto err_msg;
	step(&r, "VM and vCPU created", t0);
	r.gm.base = r.kvm.mem;
	r.gm.size = r.kvm.mem_size;
	rc = start_queue(&r, err, sizeof(err));
	if (rc == 0)
		rc = build_guest(&r, err, sizeof(err));
	if (rc == 0)
		rc = set_vcpu_state(&r, err, sizeof(err));
	if (rc < 0)
		goto err_msg;
	step(&r, "guest memory laid out", t0);
	if (o->timeout_s) {
		struct sigaction sa = { .sa_handler = on_alarm };

		alarm_run = r.kvm.run;
		sigaction(SIGALRM, &sa, NULL);
		alarm(o->timeout_s);
	}
	rc = qv_seccomp_lockdown(err, sizeof(err));
	if (rc < 0)
		goto err_msg;
	step(&r, "seccomp filter installed; running", t0);
	status = vcpu_loop(&r);
	step(&r, "guest finished", t0);
	goto out;

err_msg:
	fprintf(stderr, "quark: %s\n", err);
out:
	alarm(0);
	alarm_run = NULL;
	stop_queue(&r);
	if (r.fwd)
		qv_fwd_close(r.fwd);
	qv_kvm_close(&r.kvm);
	return status;
}
