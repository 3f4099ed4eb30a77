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

#endif /* QUARK_ABI_H */
