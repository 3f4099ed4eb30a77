/* SPDX-License-Identifier: MIT */
/*
 * QKernel's internal interfaces. QKernel is freestanding C (no libc, no
 * SSE, no red zone, -mcmodel=kernel) running in guest ring 0 in the top
 * 2 GiB of the address space, where every guest-physical page p is mapped
 * at QUARK_KBASE + p (quark/abi.h). The program runs in ring 3 in the
 * lower half, in page tables QKernel builds.
 *
 * Errors are negative Linux errno values, as system calls return them.
 */
#ifndef QKERNEL_KERNEL_H
#define QKERNEL_KERNEL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "abi.h"

#define PAGE_SIZE     4096UL
#define PAGE_MASK     (~(PAGE_SIZE - 1))
#define PAGE_UP(x)    (((x) + PAGE_SIZE - 1) & PAGE_MASK)
#define PAGE_DOWN(x)  ((x)&PAGE_MASK)
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define MIN(a, b)     ((a) < (b) ? (a) : (b))
#define MAX(a, b)     ((a) > (b) ? (a) : (b))

/* Linux errno values the kernel returns (asm-generic/errno-base.h, errno.h). */
#define EPERM	     1
#define ENOENT	     2
#define ESRCH	     3
#define EINTR	     4
#define EIO	     5
#define ENOEXEC	     8
#define EBADF	     9
#define ECHILD	     10
#define EAGAIN	     11
#define ENOMEM	     12
#define EACCES	     13
#define EFAULT	     14
#define EEXIST	     17
#define ENOTDIR	     20
#define EISDIR	     21
#define EINVAL	     22
#define EMFILE	     24
#define ENOTTY	     25
#define ESPIPE	     29
#define EPIPE	     32
#define ERANGE	     34
#define ENAMETOOLONG 36
#define ENOSYS	     38
#define ELOOP	     40

/* Signals (only the fatal ones matter in this slice). */
#define SIGILL	4
#define SIGTRAP 5
#define SIGABRT 6
#define SIGBUS	7
#define SIGFPE	8
#define SIGKILL 9
#define SIGSEGV 11
#define SIGPIPE 13

/* The frame every entry to ring 0 builds (entry.S pushes it in reverse). */
struct qk_regs {
	uint64_t r15, r14, r13, r12, r11, r10, r9, r8, rbp, rdi, rsi, rdx, rcx, rbx, rax;
	uint64_t vector; /* exception vector, or -1 for a system call */
	uint64_t error;
	uint64_t rip, cs, rflags, rsp, ss;
};

/* entry.S */
void qk_reload_segments(void);
void qk_syscall_entry(void);
/* Enters ring 3 with frame (swapgs first: the caller runs on the kernel's %gs). */
__attribute__((noreturn)) void qk_iret_to(struct qk_regs *frame);
extern char qk_vectors[];
extern char qk_stacks[], qk_istacks[]; /* per vCPU: QK_KSTACK_SIZE, QK_ISTACK_SIZE bytes */
#define QK_STUB_SIZE	16
#define QK_KSTACK_SIZE	(16UL * 4096) /* entry.S: qk_start computes the top from the index */
#define QK_ISTACK_SIZE	4096
#define QK_CPU_USER_RSP 0 /* offsets entry.S reaches through %gs (smp.c asserts them) */
#define QK_CPU_KSTACK	8
#define QK_CPU_SELF	16

/*
 * smp.c: one program thread per vCPU (abi.h, "Several vCPUs"). Each vCPU
 * has one of these, reached through %gs in ring 0 (swapgs on every
 * entry from ring 3 and before every return to it).
 */
struct qk_cpu {
	uint64_t user_rsp;	 /* syscall entry's scratch for the user's %rsp */
	uint64_t kstack_top;	 /* this vCPU's kernel stack (also its TSS rsp0) */
	struct qk_cpu *self;	 /* %gs:QK_CPU_SELF */
	uint32_t index;		 /* 0 .. ncpus-1 */
	uint32_t busy;		 /* a program thread runs here */
	bool started;		 /* this vCPU has run its start-up (cpu_init) */
	bool locked;		 /* it holds the kernel lock */
	int32_t tid;		 /* the thread's id (gettid) */
	uint64_t clear_tid;	 /* set_tid_address / CLONE_CHILD_CLEARTID: 0 and wake at exit */
	uint64_t start_fs;	 /* the new thread's %fs base */
	uint64_t sig_pending;	 /* signals tkill/tgkill sent this thread (signal.c) */
	uint64_t sig_mask;	 /* the thread's blocked signals */
	uint64_t ss_sp, ss_size; /* the thread's alternate signal stack, size 0 = none */
	uint64_t tlb_gen;	 /* this vCPU's TLB holds nothing older than this generation */
	uint64_t quiet_gen;	 /* nor does anything it may still use (see smp.c) */
	struct qk_regs start;	 /* the new thread's first user frame */
	struct quark_hcall hc __attribute__((aligned(64))); /* this vCPU's hypercall block */
};

extern struct qk_cpu qk_cpus[QUARK_MAX_CPUS];
extern uint32_t qk_ncpus;

static inline struct qk_cpu *qk_this_cpu(void)
{
	struct qk_cpu *c;

	__asm__ __volatile__("mov %%gs:%c1, %0" : "=r"(c) : "i"(QK_CPU_SELF));
	return c;
}

void qk_smp_init(void);
void qk_cpu_setup(uint32_t index); /* main.c: GDT, TSS, IDT, MSRs of the calling vCPU */
/* The kernel lock: taken on every entry from ring 3, dropped around host calls. */
void qk_kernel_enter(void);
void qk_kernel_leave(void);
void qk_kernel_drop(struct qk_cpu *c, bool user_io); /* lib.c, before a host call */
void qk_kernel_retake(struct qk_cpu *c);	     /* and after it */
bool qk_smp_active(void);			     /* a second thread has ever existed */
/* The oldest generation some vCPU may still reach through a stale TLB entry or the host. */
uint64_t qk_smp_quiet_gen(void);
int64_t qk_clone(uint64_t flags, uint64_t sp, uint64_t ptid, uint64_t ctid, uint64_t tls,
		 const struct qk_regs *parent);
__attribute__((noreturn)) void qk_thread_exit(uint64_t status);
int64_t qk_futex(const uint64_t *a);
/* Kernel waits: sleep while *word == seen (the lock dropped), wake every sleeper. */
void qk_wait_word(uint32_t *word, uint32_t seen);
void qk_wake_word(uint32_t *word);
int64_t qk_live_threads(void);
__attribute__((noreturn)) void qk_ap_main(uint32_t index);

/* lib.c */
void *memcpy(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
void *memmove(void *dst, const void *src, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
size_t strnlen(const char *s, size_t max);
int strcmp(const char *a, const char *b);
int qk_vsnprintf(char *buf, size_t len, const char *fmt, va_list ap);
int qk_snprintf(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
__attribute__((noreturn, format(printf, 1, 2))) void qk_panic(const char *fmt, ...);
/* Diagnostics on stderr (handle 2) when the host asked for them. */
__attribute__((format(printf, 1, 2))) void qk_debug(const char *fmt, ...);

/* lib.c: the host, one synchronous operation per vCPU at a time. */
int64_t qk_hcall(uint32_t op, uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4,
		 uint64_t a5);
static inline uint64_t qk_gpa(const void *kva)
{
	return (uint64_t)(uintptr_t)kva - QUARK_KBASE;
}
static inline void *qk_kva(uint64_t gpa)
{
	return (void *)(uintptr_t)(gpa + QUARK_KBASE);
}

/* main.c: what the host told us, and the statistics kept for it. */
extern const struct quark_boot *qk_boot;
extern struct quark_stats qk_stats;
__attribute__((noreturn)) void qk_exit(uint64_t status, uint64_t addr, uint64_t rip);

/* mm.c: physical pages, the program's address space, user copies. */
#define PROT_READ	    0x1
#define PROT_WRITE	    0x2
#define PROT_EXEC	    0x4
#define MAP_SHARED	    0x01
#define MAP_PRIVATE	    0x02
#define MAP_FIXED	    0x10
#define MAP_ANONYMOUS	    0x20
#define MAP_GROWSDOWN	    0x100
#define MAP_DENYWRITE	    0x800
#define MAP_EXECUTABLE	    0x1000
#define MAP_NORESERVE	    0x4000
#define MAP_POPULATE	    0x8000
#define MAP_STACK	    0x20000
#define MAP_FIXED_NOREPLACE 0x100000

#define QK_MAP_FILE 0x40000000 /* internal: a private copy of a file's bytes */

#define USER_TOP       0x7ffffffff000UL /* end of the stack region */
#define USER_STACK_MAX (8UL << 20)
#define USER_MMAP_TOP  (USER_TOP - USER_STACK_MAX - (1UL << 30))
#define USER_MIN       0x10000UL

extern uint64_t qk_pte_nx; /* the PTE no-execute bit, or 0 without NX */
void qk_mm_init(void);
uint64_t qk_page_alloc(void); /* a zeroed page's physical address, or 0 */
void qk_page_free(uint64_t pa);
uint64_t qk_pages_used(void);
uint64_t qk_mm_cr3(void);   /* the program's page tables */
extern uint64_t qk_tlb_gen; /* bumped whenever a mapping is removed or narrowed */
/* Contiguous kernel memory in page multiples (never freed). */
void *qk_kalloc(size_t bytes);

int qk_vm_map(uint64_t start, uint64_t len, int prot, int flags, uint64_t *out);
int qk_vm_unmap(uint64_t start, uint64_t len);
int qk_vm_protect(uint64_t start, uint64_t len, int prot);
int qk_vm_dontneed(uint64_t start, uint64_t len);
uint64_t qk_vm_brk(uint64_t want);
void qk_vm_set_brk(uint64_t start);
/* Whether addr lies in one of the program's mappings (SEGV_ACCERR, not MAPERR). */
bool qk_vm_mapped(uint64_t addr);
/* Serves a ring-3 page fault; false = the program gets SIGSEGV. */
bool qk_vm_fault(uint64_t addr, uint64_t error);
/* A pointer the kernel may use for [uva, uva+len) of one page, faulting it in. */
int qk_user_page(uint64_t uva, bool write, uint64_t *pa);
int qk_copy_from_user(void *dst, uint64_t uva, size_t len);
int qk_copy_to_user(uint64_t uva, const void *src, size_t len);
/* A NUL-terminated string of at most max bytes (incl. NUL); -ENAMETOOLONG past it. */
int qk_strncpy_from_user(char *dst, uint64_t uva, size_t max);
/*
 * Physical segments of [uva, uva+len) for the host to fill (write = the
 * host writes into them) or read; at most nseg, merging adjacent pages.
 * Returns the number of segments and sets *covered to the bytes they hold
 * (less than len when the array ran out).
 */
int qk_user_segs(uint64_t uva, uint64_t len, bool write, struct quark_seg *segs, int nseg,
		 uint64_t *covered);

/* file.c: descriptors. */
void qk_files_init(void);
int qk_fd_host_handle(int fd, uint32_t *handle);
int64_t qk_sys_file(uint64_t nr, const uint64_t *a, bool *handled);
int qk_dir_handle(int dirfd, uint32_t *handle);
uint32_t qk_cwd_handle(void);
/* Opens a file inside the root for the loader: a host handle. */
int qk_open_exec(const char *path, uint32_t *handle);
int64_t qk_host_pread(uint32_t handle, uint64_t uva, uint64_t len, uint64_t off);
int64_t qk_host_pread_kernel(uint32_t handle, void *buf, uint64_t len, uint64_t off);

/* elf.c */
int qk_exec(const char *path, int argc, const char *const *argv, int envc, const char *const *envp,
	    struct qk_regs *frame);

/* signal.c (its essay: what is delivered, when, and the frame). */
void qk_sig_init(void);
bool qk_sig_ignored(int sig);
void qk_sig_raise(int sig); /* to the process, e.g. SIGPIPE */
/* Before a return to ring 3: a pending signal's action; true = r now enters a handler. */
bool qk_sig_deliver(struct qk_regs *r);
/* A fault of the program: its handler (true) or the end of the program. */
bool qk_sig_fault(struct qk_regs *r, int sig, int code, uint64_t addr);
int64_t qk_sys_signal(uint64_t nr, const uint64_t *a, struct qk_regs *r, bool *handled);

/* sys.c */
/* Returns nonzero when the frame must go back through iretq (not sysretq). */
int qk_syscall(struct qk_regs *r);
void qk_exception(struct qk_regs *r);
uint64_t qk_clock_ns(int clock);
/* A user struct timespec as nanoseconds from now (absolute: against clock), or -errno. */
int64_t qk_user_timeout_ns(uint64_t uva, bool absolute, int clock);
void qk_time_init(void);

/* Programs' view of time and identity. */
#define CLOCK_REALTIME	0
#define CLOCK_MONOTONIC 1

static inline uint64_t rdtsc(void)
{
	uint32_t lo, hi;

	__asm__ __volatile__("rdtsc" : "=a"(lo), "=d"(hi));
	return ((uint64_t)hi << 32) | lo;
}

static inline void wrmsr(uint32_t msr, uint64_t v)
{
	__asm__ __volatile__("wrmsr" ::"c"(msr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32)));
}

static inline uint64_t rdmsr(uint32_t msr)
{
	uint32_t lo, hi;

	__asm__ __volatile__("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
	return ((uint64_t)hi << 32) | lo;
}

static inline uint64_t read_cr2(void)
{
	uint64_t v;

	__asm__ __volatile__("mov %%cr2, %0" : "=r"(v));
	return v;
}

static inline uint64_t read_cr3(void)
{
	uint64_t v;

	__asm__ __volatile__("mov %%cr3, %0" : "=r"(v));
	return v;
}

static inline void write_cr3(uint64_t v)
{
	__asm__ __volatile__("mov %0, %%cr3" ::"r"(v) : "memory");
}

static inline void invlpg(uint64_t va)
{
	__asm__ __volatile__("invlpg (%0)" ::"r"(va) : "memory");
}

#define MSR_EFER	   0xc0000080
#define MSR_STAR	   0xc0000081
#define MSR_LSTAR	   0xc0000082
#define MSR_SFMASK	   0xc0000084
#define MSR_FS_BASE	   0xc0000100
#define MSR_GS_BASE	   0xc0000101
#define MSR_KERNEL_GS_BASE 0xc0000102

#endif /* QKERNEL_KERNEL_H */
