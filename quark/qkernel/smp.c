// SPDX-License-Identifier: MIT
/*
 * Threads on several vCPUs.
 *
 * The model is one program thread per vCPU, for as long as the thread
 * lives: clone(CLONE_THREAD) picks a parked vCPU, writes the child's first
 * user frame into that vCPU's struct qk_cpu and asks the host to run it
 * (QUARK_OP_CPU_START); a thread that exits parks its vCPU
 * (QUARK_OP_CPU_PARK) until the next clone needs it. There is no run
 * queue and no timer: the host schedules vCPU threads, and a thread that
 * blocks (a futex wait, a sleep, a forwarded read) blocks its vCPU's host
 * thread in the host kernel, which costs nothing while it sleeps. A
 * program can therefore have at most `--cpus` threads at once; one more
 * clone() gets EAGAIN, which pthread_create() reports as such.
 *
 *     vCPU 0            vCPU 1                      QVisor
 *     clone() ------------------------------------> CPU_START(1): token++
 *       returns tid     [first time: qk_ap_main]    vCPU 1's thread runs it
 *                       iret to the child's frame
 *                       ... exit() -> CPU_PARK ---> sleeps until token
 *
 * Locking. One kernel lock covers all kernel state (regions, page tables,
 * descriptors, pipes): taken on every entry from ring 3, released on the
 * way back and around every host call (lib.c), so a thread blocked in the
 * host never holds it. It is a test-and-test-and-set spin lock that gives
 * the host CPU away (QUARK_HC_YIELD) after a while: the holder's vCPU
 * thread may not be running on a host with fewer CPUs than vCPUs. State a
 * system call looked at before a host call may have changed after it;
 * the code that continues after one re-reads what it needs.
 *
 * Stale translations. There are no inter-processor interrupts, so when a
 * vCPU unmaps or narrows a mapping the others may keep a stale TLB entry
 * while they run in ring 3. Two rules make that safe for the kernel:
 *   - qk_tlb_gen counts such changes; every vCPU flushes its TLB (a CR3
 *     reload) on its way back to ring 3 when the count moved since its
 *     last flush, and records in quiet_gen the count it saw when it last
 *     entered the kernel or came back from the host;
 *   - a page freed by an unmap is not reused until every busy vCPU's
 *     quiet_gen has passed the generation of the unmap (mm.c holds it on
 *     a deferred list): until then some vCPU may still reach it through a
 *     stale entry, or the host may still be writing it for a read that
 *     vCPU forwarded (its quiet_gen only moves when the host is done;
 *     a call that gives the host no user page, a futex wait for one,
 *     counts as quiet throughout).
 * What is not covered: a thread that never enters the kernel may keep
 * using a mapping another thread removed or write-protected, until its
 * next system call or fault. Linux forbids that; here it is memory of the
 * same program that was correct a moment before, never the kernel's and
 * never another page's.
 */
#include "kernel.h"

#define CLONE_VM	     0x00000100UL
#define CLONE_FS	     0x00000200UL
#define CLONE_FILES	     0x00000400UL
#define CLONE_SIGHAND	     0x00000800UL
#define CLONE_THREAD	     0x00010000UL
#define CLONE_SYSVSEM	     0x00040000UL
#define CLONE_SETTLS	     0x00080000UL
#define CLONE_PARENT_SETTID  0x00100000UL
#define CLONE_CHILD_CLEARTID 0x00200000UL
#define CLONE_DETACHED	     0x00400000UL
#define CLONE_CHILD_SETTID   0x01000000UL

#define FUTEX_WAIT	  0
#define FUTEX_WAKE	  1
#define FUTEX_REQUEUE	  3
#define FUTEX_CMP_REQUEUE 4
#define FUTEX_WAKE_OP	  5
#define FUTEX_WAIT_BITSET 9
#define FUTEX_WAKE_BITSET 10
#define FUTEX_CMD_MASK	  0x7f
#define FUTEX_CLOCK_RT	  256

#define LOCK_SPINS 4096 /* pauses before the lock gives the host CPU away */

_Static_assert(__builtin_offsetof(struct qk_cpu, user_rsp) == QK_CPU_USER_RSP, "entry.S");
_Static_assert(__builtin_offsetof(struct qk_cpu, kstack_top) == QK_CPU_KSTACK, "entry.S");
_Static_assert(__builtin_offsetof(struct qk_cpu, self) == QK_CPU_SELF, "entry.S");

struct qk_cpu qk_cpus[QUARK_MAX_CPUS];
uint32_t qk_ncpus;

static uint32_t kernel_lock;
static int64_t live_threads; /* under the lock */
static int32_t next_tid;     /* under the lock */
static bool smp_active;	     /* a second thread has existed: frees are deferred */

void qk_smp_init(void)
{
	qk_ncpus = qk_boot->ncpus;
	if (qk_ncpus < 1 || qk_ncpus > QUARK_MAX_CPUS)
		qk_panic("QKernel: the boot page says %u vCPUs (1..%u)", qk_ncpus,
			 (unsigned)QUARK_MAX_CPUS);
	for (uint32_t i = 0; i < QUARK_MAX_CPUS; i++) {
		qk_cpus[i].self = &qk_cpus[i];
		qk_cpus[i].index = i;
		qk_cpus[i].kstack_top = (uint64_t)(uintptr_t)qk_stacks + (i + 1) * QK_KSTACK_SIZE;
	}
	/* The first thread: its tid is the process id, 1 as in a fresh PID namespace. */
	qk_cpus[0].busy = 1;
	qk_cpus[0].tid = 1;
	next_tid = 2;
	live_threads = 1;
}

static void lock(void)
{
	for (unsigned spins = 0; __atomic_exchange_n(&kernel_lock, 1, __ATOMIC_ACQUIRE);) {
		while (__atomic_load_n(&kernel_lock, __ATOMIC_RELAXED)) {
			if (++spins < LOCK_SPINS) {
				__asm__ __volatile__("pause");
				continue;
			}
			spins = 0;
			__asm__ __volatile__("outl %0, %1" ::"a"(0), "Nd"((uint16_t)QUARK_HC_YIELD)
					     : "memory");
		}
	}
}

static void unlock(void)
{
	__atomic_store_n(&kernel_lock, 0, __ATOMIC_RELEASE);
}

void qk_kernel_enter(void)
{
	struct qk_cpu *c = qk_this_cpu();

	lock();
	c->locked = true;
	/* From here until it returns to ring 3 this vCPU uses no user translation. */
	c->quiet_gen = qk_tlb_gen;
}

void qk_kernel_leave(void)
{
	struct qk_cpu *c = qk_this_cpu();

	if (c->tlb_gen != qk_tlb_gen) {
		c->tlb_gen = qk_tlb_gen;
		write_cr3(read_cr3());
	}
	c->locked = false;
	unlock();
}

/* lib.c calls these around a host call made with the lock held. */
void qk_kernel_drop(struct qk_cpu *c, bool user_io)
{
	/*
	 * A call that hands the host none of the program's pages (everything
	 * but reads and writes into user buffers) leaves this vCPU quiet for
	 * any generation while it waits: a thread asleep in a futex must not
	 * hold back the others' frees.
	 */
	if (!user_io)
		c->quiet_gen = UINT64_MAX;
	c->locked = false;
	unlock();
}

void qk_kernel_retake(struct qk_cpu *c)
{
	lock();
	c->locked = true;
	/* The host is done with whatever this vCPU handed it. */
	c->quiet_gen = qk_tlb_gen;
}

bool qk_smp_active(void)
{
	return smp_active;
}

uint64_t qk_smp_quiet_gen(void)
{
	uint64_t min = qk_tlb_gen;

	for (uint32_t i = 0; i < qk_ncpus; i++)
		if (__atomic_load_n(&qk_cpus[i].busy, __ATOMIC_RELAXED) &&
		    qk_cpus[i].quiet_gen < min)
			min = qk_cpus[i].quiet_gen;
	return min;
}

int64_t qk_live_threads(void)
{
	return live_threads;
}

/* A thread's first instruction: the frame clone() wrote, on a flushed TLB. */
__attribute__((noreturn)) static void thread_enter(struct qk_cpu *c)
{
	lock();
	c->quiet_gen = c->tlb_gen = qk_tlb_gen;
	write_cr3(qk_mm_cr3());
	wrmsr(MSR_FS_BASE, c->start_fs);
	wrmsr(MSR_KERNEL_GS_BASE, 0); /* the program's %gs base, after the swapgs */
	unlock();
	qk_iret_to(&c->start);
}

void qk_ap_main(uint32_t index)
{
	struct qk_cpu *c = &qk_cpus[index];

	if (index >= qk_ncpus || !__atomic_load_n(&c->busy, __ATOMIC_ACQUIRE))
		qk_panic("QKernel: vCPU %u started with no thread to run", index);
	qk_cpu_setup(index);
	thread_enter(c);
}

int64_t qk_clone(uint64_t flags, uint64_t sp, uint64_t ptid, uint64_t ctid, uint64_t tls,
		 const struct qk_regs *parent)
{
	const uint64_t need = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD;
	const uint64_t known = need | CLONE_SYSVSEM | CLONE_SETTLS | CLONE_PARENT_SETTID |
			       CLONE_CHILD_SETTID | CLONE_CHILD_CLEARTID | CLONE_DETACHED;
	struct qk_cpu *c = NULL;
	int64_t rc;
	int32_t tid;

	/* A new process (fork, vfork, posix_spawn) is not built: ENOSYS, counted. */
	if ((flags & need) != need)
		return -ENOSYS;
	if ((flags & ~known) != 0)
		return -EINVAL;
	if (((flags & CLONE_SETTLS) && tls >= USER_TOP) || sp >= USER_TOP)
		return -EINVAL;
	for (uint32_t i = 0; i < qk_ncpus && !c; i++)
		if (!__atomic_load_n(&qk_cpus[i].busy, __ATOMIC_RELAXED))
			c = &qk_cpus[i];
	if (!c)
		return -EAGAIN; /* every vCPU runs a thread: raise --cpus */
	tid = next_tid;
	if ((flags & CLONE_PARENT_SETTID) && qk_copy_to_user(ptid, &tid, sizeof(tid)) < 0)
		return -EFAULT;
	if ((flags & CLONE_CHILD_SETTID) && qk_copy_to_user(ctid, &tid, sizeof(tid)) < 0)
		return -EFAULT;
	next_tid++;
	c->start = *parent;
	c->start.rax = 0;
	if (sp)
		c->start.rsp = sp;
	c->start_fs = (flags & CLONE_SETTLS) ? tls : rdmsr(MSR_FS_BASE);
	c->clear_tid = (flags & CLONE_CHILD_CLEARTID) ? ctid : 0;
	c->tid = tid;
	/* A new thread starts with nothing pending and no alternate stack
	 * (Linux: CLONE_VM), and its creator's signal mask. */
	c->sig_pending = 0;
	c->sig_mask = qk_this_cpu()->sig_mask;
	c->ss_sp = 0;
	c->ss_size = 0;
	c->quiet_gen = qk_tlb_gen;
	smp_active = true;
	live_threads++;
	/* Release: the vCPU reads its frame once it sees busy (qk_ap_main, the park loop). */
	__atomic_store_n(&c->busy, 1, __ATOMIC_RELEASE);
	rc = qk_hcall(QUARK_OP_CPU_START, c->index, 0, 0, 0, 0, 0);
	if (rc < 0) {
		__atomic_store_n(&c->busy, 0, __ATOMIC_RELEASE);
		live_threads--;
		return -EAGAIN;
	}
	return tid;
}

/* Wakes up to n waiters on the user word at uva (a thread's exit, CLONE_CHILD_CLEARTID). */
static void wake_user(uint64_t uva, uint32_t n)
{
	uint64_t pa;

	if ((uva & 3) == 0 && qk_user_page(uva, false, &pa) == 0)
		qk_hcall(QUARK_OP_FUTEX, FUTEX_WAKE, pa, n, 0, 0, 0);
}

void qk_thread_exit(uint64_t status)
{
	struct qk_cpu *c = qk_this_cpu();
	uint32_t zero = 0;

	if (c->clear_tid && qk_copy_to_user(c->clear_tid, &zero, sizeof(zero)) == 0)
		wake_user(c->clear_tid, 1);
	if (--live_threads == 0)
		qk_exit(status & 0xff, 0, 0); /* the last thread: the process's status */
	c->clear_tid = 0;
	c->tid = 0;
	__atomic_store_n(&c->busy, 0, __ATOMIC_RELEASE);
	qk_kernel_leave();
	/*
	 * Parked: the host returns from PARK at the next START of this vCPU,
	 * which clone() sends only after it made the vCPU busy again.
	 */
	for (;;) {
		qk_hcall(QUARK_OP_CPU_PARK, 0, 0, 0, 0, 0, 0);
		if (__atomic_load_n(&c->busy, __ATOMIC_ACQUIRE))
			thread_enter(c);
	}
}

void qk_wait_word(uint32_t *word, uint32_t seen)
{
	qk_hcall(QUARK_OP_FUTEX, FUTEX_WAIT, qk_gpa(word), seen, ~0UL, 0, 0);
}

void qk_wake_word(uint32_t *word)
{
	qk_hcall(QUARK_OP_FUTEX, FUTEX_WAKE, qk_gpa(word), UINT32_MAX, 0, 0, 0);
}

/*
 * futex(2) on the program's memory: the word's guest-physical address goes
 * to the host, whose own futex does the compare-and-sleep atomically
 * against stores from any vCPU (they all write the same host pages).
 */
int64_t qk_futex(const uint64_t *a)
{
	uint64_t cmd = a[1] & FUTEX_CMD_MASK, pa, pa2 = 0, arg3 = ~0UL;
	int64_t ns;

	if (a[1] & ~(uint64_t)(FUTEX_CMD_MASK | 128 /* PRIVATE */ | FUTEX_CLOCK_RT))
		return -ENOSYS;
	if (a[0] & 3)
		return -EINVAL;
	switch (cmd) {
	case FUTEX_WAIT:
	case FUTEX_WAIT_BITSET:
		if (cmd == FUTEX_WAIT_BITSET && (uint32_t)a[5] == 0)
			return -EINVAL;
		if (a[3]) {
			ns = qk_user_timeout_ns(a[3], cmd == FUTEX_WAIT_BITSET,
						(a[1] & FUTEX_CLOCK_RT) ? CLOCK_REALTIME
									: CLOCK_MONOTONIC);
			if (ns < 0)
				return ns;
			arg3 = (uint64_t)ns;
		}
		break;
	case FUTEX_WAKE:
	case FUTEX_WAKE_BITSET:
		if (cmd == FUTEX_WAKE_BITSET && (uint32_t)a[5] == 0)
			return -EINVAL;
		arg3 = 0;
		break;
	case FUTEX_REQUEUE:
	case FUTEX_CMP_REQUEUE:
	case FUTEX_WAKE_OP:
		if (a[4] & 3)
			return -EINVAL;
		/* WAKE_OP writes the second word: it must be writable. */
		if (qk_user_page(a[4], cmd == FUTEX_WAKE_OP, &pa2) < 0)
			return -EFAULT;
		arg3 = (uint32_t)a[3];
		break;
	default:
		return -ENOSYS;
	}
	if (qk_user_page(a[0], cmd == FUTEX_WAKE_OP, &pa) < 0)
		return -EFAULT;
	return qk_hcall(QUARK_OP_FUTEX, cmd, pa, (uint32_t)a[2], arg3, pa2, (uint32_t)a[5]);
}
