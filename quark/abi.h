/* SPDX-License-Identifier: MIT */
/*
 * The host/guest ABI of Quark: what QVisor (host, quark/qvisor/) and the
 * code it runs in the VM (quark/qkernel/) agree on. Today the guest is the
 * ring-transition probe of `quark check`; QKernel proper will extend this
 * file, never fork it. It is included by C (the VMM, the unit tests) and by
 * the assembler and the linker-script preprocessor (the guest), so numbers
 * are written with QUARK_C() and the C-only parts sit under
 * #ifndef __ASSEMBLER__.
 *
 * Memory. One memory slot of QUARK_MEM_SIZE bytes at guest-physical 0; the
 * guest runs on an identity map (virtual = physical) that the host builds
 * before the first instruction, and the vCPU starts directly in 64-bit long
 * mode (as kvmtool and Solo5 hvt do: no real-mode boot code):
 *
 *     0x000000  not mapped: a null pointer faults
 *     0x001000  GDT (8 entries)                     supervisor, RW
 *     0x002000  TSS (RSP0, IST1)                    supervisor, RW
 *     0x003000  IDT (32 gates: the exceptions)      supervisor, RW
 *     0x004000  PML4, PDPT, PD, PT (4 pages)        not mapped: only the MMU reads them
 *     0x008000  parameters, host -> guest           supervisor, RW
 *     0x008100  report, guest -> host               supervisor, RW
 *     0x009000  kernel stack (3 pages), top 0xc000  supervisor, RW
 *     0x00c000  IST1 stack (#DF), top 0xd000        supervisor, RW
 *     0x00e000  user stack, top 0xf000              user, RW
 *     0x010000  image: header, ring-0 text          supervisor, RW
 *     user_start..user_end (from the header)        user, read-only
 *     image end .. QUARK_MEM_SIZE                   not mapped
 *
 * Only the pages listed are present, each with the least privilege it
 * needs, so a wild access by the guest faults inside the guest instead of
 * reaching memory the host reads.
 *
 * Segments. The GDT is laid out for syscall/sysret: STAR[47:32] = the
 * kernel code selector (SS = +8), STAR[63:48] = QUARK_SEL_UCODE32, from which
 * sysretq takes user SS = +8 and 64-bit user CS = +16. The 32-bit user code
 * entry exists only to make that arithmetic work.
 *
 * Hypercalls. `out %al, %dx` with %dx = a QUARK_HC_* port. The VMM refuses
 * one unless the vCPU is at CPL 0 (as Quark's QVisor refuses callers whose
 * CS DPL is not 0); an `out` from ring 3 cannot reach it anyway, since
 * IOPL = 0 and the TSS has no I/O bitmap. Arguments travel in the report
 * page, never as pointers the host would have to follow.
 *
 * The image. A flat binary linked at QUARK_IMAGE_GPA that starts with a
 * struct quark_image_header naming its entry point, its exception stubs
 * (QUARK_VECTOR_STRIDE bytes apart) and its ring-3 pages, so the host can
 * build the IDT and the user mappings without parsing ELF. The host checks
 * every field against the layout above before using it.
 *
 * Trust. The guest is hostile from its first instruction: the host copies
 * the report out of guest memory once, then range-checks every field before
 * it selects, indexes or prints anything with it.
 */
#ifndef QUARK_ABI_H
#define QUARK_ABI_H

#ifdef __ASSEMBLER__
#define QUARK_C(x) x
#else
#define QUARK_C(x) x##ULL
#endif

#define QUARK_ABI_VERSION  QUARK_C(1)
#define QUARK_IMAGE_MAGIC  QUARK_C(0x304b5251) /* "QRK0" little-endian */
#define QUARK_REPORT_MAGIC QUARK_C(0x50525130) /* "0QRP" little-endian */

/* Guest-physical layout (see the table above). */
#define QUARK_PAGE_SIZE	    QUARK_C(0x1000)
#define QUARK_MEM_SIZE	    QUARK_C(0x200000)
#define QUARK_GDT_GPA	    QUARK_C(0x1000)
#define QUARK_TSS_GPA	    QUARK_C(0x2000)
#define QUARK_IDT_GPA	    QUARK_C(0x3000)
#define QUARK_PML4_GPA	    QUARK_C(0x4000)
#define QUARK_PDPT_GPA	    QUARK_C(0x5000)
#define QUARK_PD_GPA	    QUARK_C(0x6000)
#define QUARK_PT_GPA	    QUARK_C(0x7000)
#define QUARK_PARAMS_GPA    QUARK_C(0x8000)
#define QUARK_REPORT_GPA    QUARK_C(0x8100)
#define QUARK_KSTACK_GPA    QUARK_C(0x9000)
#define QUARK_KSTACK_TOP    QUARK_C(0xc000)
#define QUARK_ISTACK_GPA    QUARK_C(0xc000)
#define QUARK_ISTACK_TOP    QUARK_C(0xd000)
#define QUARK_USTACK_GPA    QUARK_C(0xe000)
#define QUARK_USTACK_TOP    QUARK_C(0xf000)
#define QUARK_IMAGE_GPA	    QUARK_C(0x10000)
#define QUARK_IMAGE_MAX	    (QUARK_MEM_SIZE - QUARK_IMAGE_GPA)
#define QUARK_VECTOR_STRIDE QUARK_C(16)
#define QUARK_NR_VECTORS    QUARK_C(32)

/* GDT selectors (index * 8); user selectors are used with RPL 3. */
#define QUARK_SEL_KCODE	  QUARK_C(0x08)
#define QUARK_SEL_KDATA	  QUARK_C(0x10)
#define QUARK_SEL_UCODE32 QUARK_C(0x18)
#define QUARK_SEL_UDATA	  QUARK_C(0x20)
#define QUARK_SEL_UCODE	  QUARK_C(0x28)
#define QUARK_SEL_TSS	  QUARK_C(0x30) /* 16 bytes: two entries */
#define QUARK_GDT_ENTRIES QUARK_C(8)
#define QUARK_STAR_HIGH	  ((QUARK_SEL_UCODE32 << 16) | QUARK_SEL_KCODE) /* STAR[63:32] */
/* RFLAGS bits cleared on syscall entry: TF, IF, DF, NT, AC (as Linux). */
#define QUARK_SFMASK QUARK_C(0x47700)

/* Hypercall ports, in the order the probe makes them. */
#define QUARK_HC_RING0 QUARK_C(0x510) /* first words from ring 0: report magic, ring0_cs */
#define QUARK_HC_PING  QUARK_C(0x511) /* an empty round trip, timed by the host */
#define QUARK_HC_LOOP  QUARK_C(0x512) /* MSRs set; about to iretq to the ring-3 loop */
#define QUARK_HC_DONE  QUARK_C(0x513) /* the loop ended; the report is complete */
#define QUARK_HC_FAULT QUARK_C(0x514) /* an exception: the fault_* fields are filled */
#define QUARK_HC_FIRST QUARK_HC_RING0
#define QUARK_HC_LAST  QUARK_HC_FAULT

/* The probe's system calls (%rax at `syscall`). */
#define QUARK_PROBE_SYS_COUNT QUARK_C(0) /* returns the handler's new count */
#define QUARK_PROBE_SYS_DONE  QUARK_C(1) /* %rdi = user %cs, %rsi = user status */

/* Phases, stored by the guest before each step so a fault can be placed. */
#define QUARK_PHASE_NONE  QUARK_C(0) /* before the first instruction */
#define QUARK_PHASE_RING0 QUARK_C(1) /* ring-0 entry and first hypercall */
#define QUARK_PHASE_PING  QUARK_C(2) /* timed hypercall round trips */
#define QUARK_PHASE_MSR	  QUARK_C(3) /* EFER.SCE, STAR, LSTAR, SFMASK */
#define QUARK_PHASE_USER  QUARK_C(4) /* iretq to ring 3 and the syscall loop */
#define QUARK_PHASE_DONE  QUARK_C(5) /* back in ring 0 for good */
#define QUARK_PHASE_COUNT QUARK_C(6)

/* user_status values. */
#define QUARK_USER_OK	    QUARK_C(0)
#define QUARK_USER_MISMATCH QUARK_C(1) /* a syscall returned a count out of step */

/* Limits the host enforces on parameters and the guest re-checks. */
#define QUARK_PROBE_MAX_ITERATIONS QUARK_C(100000000)
#define QUARK_PROBE_MAX_PINGS	   QUARK_C(10000)

/* Byte offsets of the shared structures, for the assembler (checked below). */
#define QUARK_P_ITERATIONS   0
#define QUARK_P_PINGS	     8
#define QUARK_R_MAGIC	     0
#define QUARK_R_PHASE	     8
#define QUARK_R_RING0_CS     16
#define QUARK_R_SYSCALLS     24
#define QUARK_R_SYSCALL_CS   32
#define QUARK_R_USER_CS	     40
#define QUARK_R_USER_STATUS  48
#define QUARK_R_EFER	     56
#define QUARK_R_STAR	     64
#define QUARK_R_LSTAR	     72
#define QUARK_R_SFMASK	     80
#define QUARK_R_FAULT_VECTOR 88
#define QUARK_R_FAULT_ERROR  96
#define QUARK_R_FAULT_RIP    104
#define QUARK_R_FAULT_CS     112
#define QUARK_R_FAULT_RFLAGS 120
#define QUARK_R_FAULT_RSP    128
#define QUARK_R_FAULT_SS     136
#define QUARK_R_FAULT_CR2    144
#define QUARK_R_FAULT_PHASE  152
#define QUARK_R_SIZE	     160

#ifndef __ASSEMBLER__
#include <stddef.h>
#include <stdint.h>

/* Written by the host before the first KVM_RUN; read by the guest once. */
struct quark_probe_params {
	uint64_t iterations; /* ring-3 syscalls to make, 1..QUARK_PROBE_MAX_ITERATIONS */
	uint64_t pings;	     /* empty hypercalls to time, 0..QUARK_PROBE_MAX_PINGS */
};

/*
 * Written by the guest (ring 0 only: the page is supervisor-only), read by
 * the host after QUARK_HC_DONE or QUARK_HC_FAULT. Nothing here is trusted.
 */
struct quark_probe_report {
	uint64_t magic;	       /* QUARK_REPORT_MAGIC once the entry code ran */
	uint64_t phase;	       /* QUARK_PHASE_* the guest last entered */
	uint64_t ring0_cs;     /* %cs read by the entry code */
	uint64_t syscalls;     /* syscalls the LSTAR handler counted at CPL 0 */
	uint64_t syscall_cs;   /* %cs of the LSTAR handler: read by it, or from its fault frame */
	uint64_t user_cs;      /* %cs the ring-3 loop read after its last sysretq */
	uint64_t user_status;  /* QUARK_USER_* from the ring-3 loop */
	uint64_t efer;	       /* MSRs read back after the guest wrote them */
	uint64_t star;	       /* expected: QUARK_STAR_HIGH << 32 */
	uint64_t lstar;	       /* the handler's address */
	uint64_t sfmask;       /* expected: QUARK_SFMASK */
	uint64_t fault_vector; /* exception vector, 0..31 */
	uint64_t fault_error;  /* error code, or 0 for vectors without one */
	uint64_t fault_rip;    /* the exception frame: where it happened */
	uint64_t fault_cs;     /* ... and at which privilege (RPL of this selector) */
	uint64_t fault_rflags; /* frame RFLAGS */
	uint64_t fault_rsp;    /* frame RSP */
	uint64_t fault_ss;     /* frame SS */
	uint64_t fault_cr2;    /* CR2 (the address, for a page fault) */
	uint64_t fault_phase;  /* phase at the time of the fault */
};

/* At QUARK_IMAGE_GPA, the first bytes of the image. */
struct quark_image_header {
	uint32_t magic;	      /* QUARK_IMAGE_MAGIC */
	uint32_t abi_version; /* QUARK_ABI_VERSION */
	uint64_t entry;	      /* ring-0 entry point (%rip of the first instruction) */
	uint64_t vectors;     /* stub of vector 0; vector v at vectors + v * QUARK_VECTOR_STRIDE */
	uint64_t user_start;  /* first ring-3 page (page aligned) */
	uint64_t user_end;    /* end of the ring-3 pages (page aligned) */
	uint64_t image_end;   /* end of the image in guest memory (page aligned) */
};

_Static_assert(sizeof(struct quark_probe_params) == 16, "params layout");
_Static_assert(offsetof(struct quark_probe_params, iterations) == QUARK_P_ITERATIONS, "abi");
_Static_assert(offsetof(struct quark_probe_params, pings) == QUARK_P_PINGS, "abi");
_Static_assert(sizeof(struct quark_probe_report) == QUARK_R_SIZE, "report layout");
_Static_assert(offsetof(struct quark_probe_report, magic) == QUARK_R_MAGIC, "abi");
_Static_assert(offsetof(struct quark_probe_report, phase) == QUARK_R_PHASE, "abi");
_Static_assert(offsetof(struct quark_probe_report, ring0_cs) == QUARK_R_RING0_CS, "abi");
_Static_assert(offsetof(struct quark_probe_report, syscalls) == QUARK_R_SYSCALLS, "abi");
_Static_assert(offsetof(struct quark_probe_report, syscall_cs) == QUARK_R_SYSCALL_CS, "abi");
_Static_assert(offsetof(struct quark_probe_report, user_cs) == QUARK_R_USER_CS, "abi");
_Static_assert(offsetof(struct quark_probe_report, user_status) == QUARK_R_USER_STATUS, "abi");
_Static_assert(offsetof(struct quark_probe_report, efer) == QUARK_R_EFER, "abi");
_Static_assert(offsetof(struct quark_probe_report, star) == QUARK_R_STAR, "abi");
_Static_assert(offsetof(struct quark_probe_report, lstar) == QUARK_R_LSTAR, "abi");
_Static_assert(offsetof(struct quark_probe_report, sfmask) == QUARK_R_SFMASK, "abi");
_Static_assert(offsetof(struct quark_probe_report, fault_vector) == QUARK_R_FAULT_VECTOR, "abi");
_Static_assert(offsetof(struct quark_probe_report, fault_error) == QUARK_R_FAULT_ERROR, "abi");
_Static_assert(offsetof(struct quark_probe_report, fault_rip) == QUARK_R_FAULT_RIP, "abi");
_Static_assert(offsetof(struct quark_probe_report, fault_cs) == QUARK_R_FAULT_CS, "abi");
_Static_assert(offsetof(struct quark_probe_report, fault_rflags) == QUARK_R_FAULT_RFLAGS, "abi");
_Static_assert(offsetof(struct quark_probe_report, fault_rsp) == QUARK_R_FAULT_RSP, "abi");
_Static_assert(offsetof(struct quark_probe_report, fault_ss) == QUARK_R_FAULT_SS, "abi");
_Static_assert(offsetof(struct quark_probe_report, fault_cr2) == QUARK_R_FAULT_CR2, "abi");
_Static_assert(offsetof(struct quark_probe_report, fault_phase) == QUARK_R_FAULT_PHASE, "abi");
_Static_assert(sizeof(struct quark_image_header) == 48, "image header layout");
_Static_assert(QUARK_PARAMS_GPA + sizeof(struct quark_probe_params) <= QUARK_REPORT_GPA,
	       "params and report overlap");
_Static_assert(QUARK_REPORT_GPA + sizeof(struct quark_probe_report) <= QUARK_KSTACK_GPA,
	       "report leaves its page");
_Static_assert(QUARK_NR_VECTORS * 16 <= QUARK_PAGE_SIZE, "IDT fits its page");
_Static_assert(QUARK_GDT_ENTRIES * 8 <= QUARK_PAGE_SIZE, "GDT fits its page");
_Static_assert(QUARK_SEL_TSS / 8 + 2 <= QUARK_GDT_ENTRIES, "TSS descriptor fits the GDT");
_Static_assert(QUARK_SEL_UDATA == QUARK_SEL_UCODE32 + 8 &&
		       QUARK_SEL_UCODE == QUARK_SEL_UCODE32 + 16,
	       "sysretq derives user SS and CS from STAR[63:48]");
_Static_assert(QUARK_SEL_KDATA == QUARK_SEL_KCODE + 8,
	       "syscall derives kernel SS from STAR[47:32]");
_Static_assert(QUARK_MEM_SIZE <= 512 * QUARK_PAGE_SIZE, "one page table maps all of memory");
#endif /* __ASSEMBLER__ */

/*
 * ===========================================================================
 * `quark run`: QVisor and QKernel proper.
 * ===========================================================================
 *
 * Memory. One slot of boot->mem_size bytes (QUARK_RUN_MEM_MIN..MAX) at
 * guest-physical 0. QKernel runs in the top 2 GiB of the address space: the
 * host's boot page tables map every guest-physical page p at QUARK_KBASE + p
 * with 2 MiB supervisor pages (PML4[511] -> PDPT[510], [511]), so the kernel
 * is linked with -mcmodel=kernel at QUARK_KBASE + QUARK_KERNEL_GPA and reaches
 * all of memory through that one window. The lower half (PML4[0..255]) is
 * the program's; QKernel builds it. Guest-physical layout:
 *
 *     0x000000  nothing (mapped in the kernel's window, never used)
 *     0x001000  struct quark_boot, host -> guest, read once by the kernel
 *     0x002000  boot page tables: PML4, PDPT, PD for 0-1 GiB, PD for 1-2 GiB
 *     0x008000  struct quark_queue (QCall), shared with the host's worker
 *     0x010000  argument blob (QUARK_ARGS_MAX bytes at most)
 *     0x100000  the kernel image: struct quark_kernel_header, text, data, bss
 *     boot->free_start .. mem_size: pages the kernel allocates, all zero at
 *                the first instruction (the host writes nothing there)
 *
 * Hypercalls. `outl %eax, %dx` from ring 0 with %dx = QUARK_HC_CALL and %eax
 * = the guest-physical address of a struct quark_hcall (8-byte aligned, all
 * of it inside memory). QVisor copies the struct out once, checks it, runs
 * the operation and writes only `ret` back. Buffers are named by
 * guest-physical address and length (struct quark_seg for data), never by a
 * guest-virtual address, and every one is range-checked against mem_size
 * before the host touches it. QUARK_HC_PANIC carries the address of a
 * NUL-terminated message (at most QUARK_PANIC_MAX bytes read).
 *
 * Handles. The host keeps the files it opened for the guest in a table and
 * hands out small integers ("handles"); the guest's file descriptors are
 * QKernel's own (dup, close-on-exec, pipes live in the guest) and point at
 * handles. Handle 0, 1, 2 are the caller's stdin, stdout and stderr; the
 * root directory and the initial working directory are named in struct
 * quark_boot. A path is always resolved inside the root (openat2
 * RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS on the host): `..`, absolute
 * symlinks and symlink loops cannot leave it. Absolute paths start at the
 * root; relative ones at the directory handle given (the guest passes its
 * working directory's handle for AT_FDCWD).
 *
 * Results. Every operation returns a value >= 0 or a negative Linux errno in
 * `ret`, exactly as the system call would.
 *
 * The queue (QCall). When the boot page says QUARK_BOOT_QUEUE, a host
 * worker thread serves operations from a shared submission ring at
 * QUARK_QUEUE_GPA instead of the vCPU thread, so a forwarded call costs no
 * VM exit while the worker is awake:
 *
 *     guest: block.state = 0; entries[tail % N] = block GPA;
 *            sq_tail = tail + 1 (release); full barrier;
 *            if host_idle: outl to QUARK_HC_KICK (an ioeventfd: the exit
 *            ends in the host kernel, never in QVisor's loop);
 *            spin until block.state == QUARK_STATE_DONE (acquire), for
 *            at most QUARK_QUEUE_SPIN_US; then outl the block's GPA to
 *            QUARK_HC_WAIT, which returns once it is DONE (the vCPU
 *            thread sleeps on it, so a worker that shares its CPU runs)
 *     host:  while sq_head != sq_tail (acquire): copy the block out, run
 *            it, write ret, then state = DONE (release); sq_head++.
 *            Idle for the spin budget: host_idle = 1; full barrier;
 *            re-check sq_tail; sleep on the kick's eventfd.
 *
 * The two full barriers (Dekker's pattern) are what keep a submission
 * from being missed by a worker falling asleep. Everything in the ring is
 * as untrusted as any hypercall: indices are taken modulo N by the host,
 * and each entry is checked like a QUARK_HC_CALL block. QUARK_OP_EXIT
 * always goes through QUARK_HC_CALL (the vCPU must stop).
 *
 * Several vCPUs (`--cpus N`, at most QUARK_MAX_CPUS). QVisor creates all N
 * vCPUs before its seccomp lockdown, each with the boot state of vCPU 0 but
 * %rsi = its index, and runs only vCPU 0; vCPU i > 0 first runs when the
 * guest asks for it with QUARK_OP_CPU_START(i). Each vCPU has its own
 * thread in QVisor. QKernel runs one program thread per vCPU: a thread
 * that ends parks its vCPU (QUARK_OP_CPU_PARK returns at the next START of
 * that vCPU). START is a counting token, so a START that overtakes the
 * PARK it answers is not lost. QUARK_OP_FUTEX is the program's futex on
 * guest memory, done by the host's futex on the same bytes, so a waiting
 * thread's vCPU sleeps in the host kernel and costs nothing. These ops and
 * QUARK_OP_NANOSLEEP block the calling vCPU only: they always go through
 * QUARK_HC_CALL, never the queue, whose single worker must not sleep for
 * one thread while the others wait. QUARK_HC_YIELD gives the host CPU away
 * (a guest spinning on a lock whose holder's vCPU thread is not running).
 *
 * Signals from outside (SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR2,
 * SIGWINCH sent to quark). QKernel keeps two masks in the boot page, bit
 * sig-1 set when the program has a handler for sig (sig_caught) or
 * ignores it (sig_ignored). QVisor's handler reads them: an ignored
 * signal is dropped, one with its default action is raised again on QVisor
 * itself with that default (the run ends as if the signal had killed it),
 * and a caught one is ORed into host_sigs, after which every vCPU running
 * guest code is made to leave KVM_RUN and gets external interrupt
 * QUARK_VEC_SIGNAL as soon as it can take one (in ring 3). QKernel moves
 * host_sigs into its pending set (an atomic exchange) on that interrupt
 * and on every other way back to ring 3, so a vCPU that was inside QKernel
 * or in a host call picks it up when it returns. The masks are the guest's
 * word, hence untrusted: at worst a program keeps a signal it could have
 * caught anyway. The program's real-time interval timer (alarm,
 * setitimer ITIMER_REAL) is QVisor's: QUARK_OP_ALARM sets it, and at each
 * expiry QVisor's supervisor puts SIGALRM into host_sigs the same way,
 * whatever the program does with it (QKernel applies its action).
 */
#define QUARK_RUN_ABI_VERSION QUARK_C(3)
#define QUARK_VEC_SIGNAL      QUARK_C(32)	  /* the external interrupt of host_sigs */
#define QUARK_KERNEL_MAGIC    QUARK_C(0x314b5251) /* "QRK1" little-endian */
#define QUARK_BOOT_MAGIC      QUARK_C(0x544f4251) /* "QBOT" little-endian */

#define QUARK_KBASE	      QUARK_C(0xffffffff80000000)
#define QUARK_BOOT_GPA	      QUARK_C(0x1000)
#define QUARK_BOOT_PML4_GPA   QUARK_C(0x2000)
#define QUARK_BOOT_PDPT_GPA   QUARK_C(0x3000)
#define QUARK_BOOT_PD0_GPA    QUARK_C(0x4000)
#define QUARK_BOOT_PD1_GPA    QUARK_C(0x5000)
#define QUARK_ARGS_GPA	      QUARK_C(0x10000)
#define QUARK_ARGS_MAX	      QUARK_C(0xf0000) /* up to the kernel image */
#define QUARK_KERNEL_GPA      QUARK_C(0x100000)
#define QUARK_KERNEL_MAX      QUARK_C(0x800000)	  /* image + bss */
#define QUARK_RUN_MEM_MIN     QUARK_C(0x1000000)  /* 16 MiB */
#define QUARK_RUN_MEM_MAX     QUARK_C(0x80000000) /* 2 GiB: the kernel's window */
#define QUARK_RUN_MEM_DEFAULT QUARK_C(0x10000000) /* 256 MiB */

/* Hypercall ports of `quark run` (distinct from the probe's). */
#define QUARK_HC_CALL	    QUARK_C(0x520) /* %eax = GPA of struct quark_hcall */
#define QUARK_HC_PANIC	    QUARK_C(0x521) /* %eax = GPA of a NUL-terminated message */
#define QUARK_HC_KICK	    QUARK_C(0x522) /* wake the queue worker (value ignored) */
#define QUARK_HC_WAIT	    QUARK_C(0x523) /* %eax = GPA of a queued block: return when it is DONE */
#define QUARK_HC_YIELD	    QUARK_C(0x524)  /* sched_yield() on the host (value ignored) */
#define QUARK_QUEUE_SPIN_US QUARK_C(200)    /* the guest's spin on a queued block before WAIT */
#define QUARK_QUEUE_GPA	    QUARK_C(0x8000) /* one page: struct quark_queue */
#define QUARK_QUEUE_ENTRIES QUARK_C(256)
#define QUARK_STATE_PENDING QUARK_C(0)
#define QUARK_STATE_DONE    QUARK_C(1)
#define QUARK_PANIC_MAX	    QUARK_C(1024)

/* struct quark_hcall.op: the host operations. Arguments in args[0..5]. */
#define QUARK_OP_OPENAT	    QUARK_C(1)	/* dir_h, path_gpa, path_len, flags, mode -> handle */
#define QUARK_OP_CLOSE	    QUARK_C(2)	/* h */
#define QUARK_OP_READV	    QUARK_C(3)	/* h, segs_gpa, nsegs -> bytes */
#define QUARK_OP_WRITEV	    QUARK_C(4)	/* h, segs_gpa, nsegs -> bytes */
#define QUARK_OP_PREADV	    QUARK_C(5)	/* h, segs_gpa, nsegs, offset -> bytes */
#define QUARK_OP_PWRITEV    QUARK_C(6)	/* h, segs_gpa, nsegs, offset -> bytes */
#define QUARK_OP_FSTAT	    QUARK_C(7)	/* h, stat_gpa (struct stat, x86-64) */
#define QUARK_OP_FSTATAT    QUARK_C(8)	/* dir_h, path_gpa, path_len, stat_gpa, flags */
#define QUARK_OP_STATX	    QUARK_C(9)	/* dir_h, path_gpa, path_len, flags, mask, statx_gpa */
#define QUARK_OP_LSEEK	    QUARK_C(10) /* h, offset, whence -> new offset */
#define QUARK_OP_GETDENTS64 QUARK_C(11) /* h, buf_gpa, len -> bytes */
#define QUARK_OP_READLINKAT QUARK_C(12) /* dir_h, path_gpa, path_len, buf_gpa, buf_len -> bytes */
#define QUARK_OP_FACCESSAT  QUARK_C(13) /* dir_h, path_gpa, path_len, mode, flags */
#define QUARK_OP_MKDIRAT    QUARK_C(14) /* dir_h, path_gpa, path_len, mode */
#define QUARK_OP_UNLINKAT   QUARK_C(15) /* dir_h, path_gpa, path_len, flags (AT_REMOVEDIR) */
#define QUARK_OP_RENAMEAT   QUARK_C(16) /* old: dir_h, gpa, len; new: dir_h, gpa, len */
#define QUARK_OP_FTRUNCATE  QUARK_C(17) /* h, length */
#define QUARK_OP_IOCTL	    QUARK_C(18) /* h, request (TCGETS, TIOCGWINSZ only), buf_gpa */
#define QUARK_OP_FCNTL	    QUARK_C(19) /* h, cmd (F_GETFL, F_SETFL only), arg */
#define QUARK_OP_GETPATH    QUARK_C(20) /* h, buf_gpa, buf_len -> bytes incl. NUL ("/" = the root) */
#define QUARK_OP_GETRANDOM  QUARK_C(21) /* buf_gpa, len, flags -> bytes */
#define QUARK_OP_NANOSLEEP  QUARK_C(22) /* nanoseconds (relative, CLOCK_MONOTONIC) */
#define QUARK_OP_EXIT	    QUARK_C(23) /* status (QUARK_EXIT_*), stats_gpa or 0, fault addr, rip */
#define QUARK_OP_FSYNC	    QUARK_C(24) /* h */
#define QUARK_OP_FUTEX	    QUARK_C(25) /* cmd, gpa, val, timeout ns (~0 = none) or val2, gpa2, val3 */
#define QUARK_OP_CPU_START  QUARK_C(26) /* vCPU index: run it (first time) or end its PARK */
#define QUARK_OP_CPU_PARK   QUARK_C(27) /* sleep until this vCPU's next CPU_START */
#define QUARK_OP_ALARM	    QUARK_C(28) /* ITIMER_REAL: first expiry in ns (0 = off), interval ns */
#define QUARK_OP_COUNT	    QUARK_C(29) /* one past the last */

#define QUARK_MAX_CPUS QUARK_C(16)

#define QUARK_MAX_HANDLES QUARK_C(4096)
#define QUARK_MAX_SEGS	  QUARK_C(256)	      /* per READV/WRITEV call */
#define QUARK_MAX_IO	  QUARK_C(0x7ffff000) /* bytes per call, as Linux */
#define QUARK_PATH_MAX	  QUARK_C(4096)	      /* including the NUL the host adds */

/* QUARK_OP_EXIT status: an exit code, or a fatal signal. */
#define QUARK_EXIT_SIGNAL QUARK_C(0x100) /* | signo: killed by that signal */

/* struct quark_boot.flags */
#define QUARK_BOOT_STATS   QUARK_C(0x1) /* fill struct quark_stats at exit */
#define QUARK_BOOT_VERBOSE QUARK_C(0x2) /* the kernel may print diagnostics */
#define QUARK_BOOT_QUEUE   QUARK_C(0x4) /* a worker serves the queue at QUARK_QUEUE_GPA */

#define QUARK_NR_SYSCALLS  QUARK_C(512) /* counted by number; larger ones as unknown */
#define QUARK_UNKNOWN_KEPT QUARK_C(16)	/* distinct unknown numbers remembered */

#ifndef __ASSEMBLER__
/* At QUARK_KERNEL_GPA: the first bytes of the kernel image. */
struct quark_kernel_header {
	uint32_t magic;	      /* QUARK_KERNEL_MAGIC */
	uint32_t abi_version; /* QUARK_RUN_ABI_VERSION */
	uint64_t entry;	      /* virtual address of the first instruction (QUARK_KBASE + ...) */
	uint64_t image_end;   /* guest-physical end of the loaded bytes */
	uint64_t bss_end; /* guest-physical end of the zeroed memory after them (page aligned) */
};

/* At QUARK_BOOT_GPA, written by the host before the first instruction. */
struct quark_boot {
	uint32_t magic;	      /* QUARK_BOOT_MAGIC */
	uint32_t abi_version; /* QUARK_RUN_ABI_VERSION */
	uint64_t mem_size;    /* bytes of guest memory */
	uint64_t free_start;  /* first guest-physical byte the kernel may allocate (page aligned) */
	uint64_t flags;	      /* QUARK_BOOT_* */
	uint64_t args_gpa;    /* the blob: exe\0 argv[0]\0 ... argv[argc-1]\0 env[0]\0 ... */
	uint64_t args_len;    /* bytes in the blob, the last one a NUL */
	uint32_t argc;	      /* >= 1 */
	uint32_t envc;
	uint32_t root_handle; /* the root directory (O_PATH) */
	uint32_t cwd_handle;  /* the initial working directory (O_PATH) */
	uint32_t uid, gid;    /* what getuid() and friends answer */
	uint32_t ncpus;	      /* vCPUs created, 1..QUARK_MAX_CPUS */
	uint32_t pad;
	uint64_t tsc_khz;      /* the vCPU's TSC rate (0: unknown, clocks tick at 1 GHz) */
	uint64_t realtime_ns;  /* CLOCK_REALTIME when the host wrote this */
	uint64_t monotonic_ns; /* CLOCK_MONOTONIC then */
	uint8_t random[16];    /* for AT_RANDOM */
	char hostname[64];     /* NUL-terminated, for uname() */
	/* Signals from outside (above); written after boot, atomically. */
	uint64_t sig_caught;  /* guest: bit sig-1 = the program has a handler */
	uint64_t sig_ignored; /* guest: bit sig-1 = SIG_IGN, or a default that ignores */
	uint64_t host_sigs;   /* host: caught signals sent to quark, not yet taken */
};

/* Written by the guest, read by the host once (one operation). */
struct quark_hcall {
	uint32_t op;	  /* QUARK_OP_* */
	uint32_t state;	  /* QUARK_STATE_*: the queue worker sets DONE after ret */
	int64_t ret;	  /* written by the host: >= 0 or -errno */
	uint64_t args[6]; /* per operation (see QUARK_OP_*) */
};

/* At QUARK_QUEUE_GPA when QUARK_BOOT_QUEUE is set. */
struct quark_queue {
	uint32_t sq_tail; /* guest: next entry to fill */
	uint32_t pad0[15];
	uint32_t sq_head;   /* host: next entry to serve */
	uint32_t host_idle; /* host: 1 = the worker sleeps, kick it */
	uint32_t pad1[14];
	uint64_t entries[QUARK_QUEUE_ENTRIES]; /* GPAs of struct quark_hcall blocks */
};

/* One piece of a data buffer in guest-physical memory. */
struct quark_seg {
	uint64_t gpa;
	uint64_t len;
};

/* Filled by the guest at QUARK_OP_EXIT when QUARK_BOOT_STATS is set. Untrusted. */
struct quark_stats {
	uint64_t syscalls[QUARK_NR_SYSCALLS];	 /* by number */
	uint64_t unknown;			 /* calls answered ENOSYS */
	uint64_t unknown_nr[QUARK_UNKNOWN_KEPT]; /* the first distinct unknown numbers */
	uint64_t forwarded;			 /* operations sent to the host */
	uint64_t kicks;				 /* queue kicks (the worker was asleep) */
	uint64_t waits;				 /* queue waits (the spin ran out) */
	uint64_t page_faults;			 /* demand-paging faults served */
	uint64_t pages_used;			 /* physical pages allocated at exit */
};

_Static_assert(sizeof(struct quark_kernel_header) == 32, "kernel header layout");
_Static_assert(sizeof(struct quark_hcall) == 64, "hcall layout");
_Static_assert(sizeof(struct quark_seg) == 16, "seg layout");
_Static_assert(sizeof(struct quark_boot) <= QUARK_PAGE_SIZE, "boot page");
_Static_assert(sizeof(struct quark_queue) <= QUARK_PAGE_SIZE, "queue page");
_Static_assert(QUARK_QUEUE_GPA + QUARK_PAGE_SIZE <= QUARK_ARGS_GPA, "queue below the arguments");
_Static_assert(QUARK_ARGS_GPA + QUARK_ARGS_MAX <= QUARK_KERNEL_GPA, "args below the kernel");
#endif /* __ASSEMBLER__ */

#endif /* QUARK_ABI_H */
