// SPDX-License-Identifier: MIT
/*
 * QKernel's start: from the host's boot state (64-bit ring 0, the kernel
 * window mapped, interrupts off) to the program's first instruction.
 *
 *   1. check the boot page (magic, version) - the host wrote it, but a
 *      kernel that misreads it would misbehave in ways hard to diagnose;
 *   2. its own GDT (with the user segments sysret needs and a TSS per
 *      vCPU: ring-0 stack for exceptions from ring 3, IST1 for double
 *      faults) and IDT (the 32 exception vectors), replacing whatever the
 *      host left;
 *   3. syscall MSRs: STAR, LSTAR = entry.S, SFMASK; %gs on vCPU 0's
 *      struct qk_cpu; x87/SSE state clean;
 *   4. memory (mm.c), descriptors 0-2 (file.c), the TSC base;
 *   5. load the program (elf.c) and iretq to it.
 *
 * If loading fails the kernel says why on the program's stderr and exits
 * 127 (not found) or 126 (cannot execute), as a shell would. Other vCPUs
 * enter here too (the host's %rsi is their index) and go straight to
 * smp.c, which runs the thread that asked for them.
 */
#include "kernel.h"

#define ACC_KCODE 0x9b
#define ACC_KDATA 0x93
#define ACC_UCODE 0xfb
#define ACC_UDATA 0xf3
#define ACC_TSS	  0x89

const struct quark_boot *qk_boot;
struct quark_stats qk_stats;

struct tss64 {
	uint32_t reserved0;
	uint64_t rsp[3];
	uint64_t reserved1;
	uint64_t ist[7];
	uint64_t reserved2;
	uint16_t reserved3;
	uint16_t iomap_base;
} __attribute__((packed));

struct gate64 {
	uint16_t off_lo, sel;
	uint8_t ist, type;
	uint16_t off_mid;
	uint32_t off_hi, reserved;
};

struct dtr {
	uint16_t limit;
	uint64_t base;
} __attribute__((packed));

/* The shared segments, then one TSS descriptor (two entries) per vCPU. */
#define GDT_ENTRIES (QUARK_SEL_TSS / 8 + 2 * QUARK_MAX_CPUS)

static uint64_t gdt[GDT_ENTRIES] __attribute__((aligned(16)));
static struct tss64 tss[QUARK_MAX_CPUS] __attribute__((aligned(16)));
/* The 32 exceptions, then QUARK_VEC_SIGNAL (abi.h: signals from outside). */
static struct gate64 idt[QUARK_VEC_SIGNAL + 1] __attribute__((aligned(16)));

uint64_t qk_pte_nx;

static bool cpuid_nx(void)
{
	uint32_t a = 0x80000001, b, c = 0, d;

	__asm__ __volatile__("cpuid" : "+a"(a), "=b"(b), "+c"(c), "=d"(d));
	return d & (1u << 20);
}

static uint64_t seg(uint8_t access, uint8_t flags)
{
	/* Base 0, limit 0xfffff pages: only the access byte and L/D/G flags matter in long mode. */
	return 0xffffULL | ((uint64_t)access << 40) | (0xfULL << 48) | ((uint64_t)flags << 52);
}

static void tables_init(void)
{
	gdt[QUARK_SEL_KCODE / 8] = seg(ACC_KCODE, 0xa);
	gdt[QUARK_SEL_KDATA / 8] = seg(ACC_KDATA, 0xc);
	gdt[QUARK_SEL_UCODE32 / 8] = seg(ACC_UCODE, 0xc);
	gdt[QUARK_SEL_UDATA / 8] = seg(ACC_UDATA, 0xc);
	gdt[QUARK_SEL_UCODE / 8] = seg(ACC_UCODE, 0xa);
	for (int v = 0; v <= (int)QUARK_VEC_SIGNAL; v++) {
		uint64_t h = (uint64_t)(uintptr_t)qk_vectors + (uint64_t)v * QK_STUB_SIZE;
		/* #BP and #OF may be raised by int3/into in ring 3 (DPL 3), as on Linux. */
		uint8_t type = (v == 3 || v == 4) ? 0xee : 0x8e;

		idt[v] = (struct gate64){ (uint16_t)h,
					  QUARK_SEL_KCODE,
					  v == 8 ? 1 : 0,
					  type,
					  (uint16_t)(h >> 16),
					  (uint32_t)(h >> 32),
					  0 };
	}
	/* SCE: syscall/sysret; NXE, where the CPU has it: PROT_EXEC is enforced. */
	if (cpuid_nx())
		qk_pte_nx = 1UL << 63;
}

/*
 * The calling vCPU's own state: its TSS (ring-0 stack for exceptions from
 * ring 3, IST1 for double faults) and descriptor, the shared GDT and IDT,
 * the syscall MSRs, and %gs on its struct qk_cpu. vCPU 0 builds the shared
 * tables first (tables_init); the others only load them.
 */
void qk_cpu_setup(uint32_t index)
{
	struct tss64 *t = &tss[index];
	uint64_t ta = (uint64_t)(uintptr_t)t;
	uint16_t sel = (uint16_t)(QUARK_SEL_TSS + 16ULL * index);
	struct qk_cpu *c = &qk_cpus[index];
	struct dtr d;

	t->rsp[0] = c->kstack_top;
	t->ist[0] = (uint64_t)(uintptr_t)qk_istacks + (uint64_t)(index + 1) * QK_ISTACK_SIZE;
	t->iomap_base = sizeof(*t); /* no I/O bitmap: every port faults in ring 3 */
	gdt[sel / 8] = (sizeof(*t) - 1) | ((ta & 0xffffff) << 16) | ((uint64_t)ACC_TSS << 40) |
		       (((ta >> 24) & 0xff) << 56);
	gdt[sel / 8 + 1] = ta >> 32;
	d.limit = sizeof(gdt) - 1;
	d.base = (uint64_t)(uintptr_t)gdt;
	__asm__ __volatile__("lgdt %0" ::"m"(d));
	qk_reload_segments();
	__asm__ __volatile__("ltr %w0" ::"r"(sel));
	d.limit = sizeof(idt) - 1;
	d.base = (uint64_t)(uintptr_t)idt;
	__asm__ __volatile__("lidt %0" ::"m"(d));

	wrmsr(MSR_EFER, rdmsr(MSR_EFER) | 1 /* SCE */ | (qk_pte_nx ? 0x800 /* NXE */ : 0));
	wrmsr(MSR_STAR, (uint64_t)QUARK_STAR_HIGH << 32);
	wrmsr(MSR_LSTAR, (uint64_t)(uintptr_t)qk_syscall_entry);
	wrmsr(MSR_SFMASK, QUARK_SFMASK);
	wrmsr(MSR_FS_BASE, 0);
	/* After the segment reload (a null %gs selector may clear the base). */
	wrmsr(MSR_GS_BASE, (uint64_t)(uintptr_t)c);
	wrmsr(MSR_KERNEL_GS_BASE, 0);
	/* A clean x87 and SSE state for the program (the kernel itself uses neither). */
	__asm__ __volatile__("fninit");
	c->started = true;
}

/* When the program got its first instruction (0 = not yet), for --verbose. */
static uint64_t entered_ns;

void qk_exit(uint64_t status, uint64_t addr, uint64_t rip)
{
	if (entered_ns)
		qk_debug("QKernel: the program ran %lu us and exits with %lu, %lu pages in use",
			 (qk_clock_ns(CLOCK_MONOTONIC) - entered_ns) / 1000, status,
			 qk_pages_used());
	qk_stats.pages_used = qk_pages_used();
	qk_hcall(QUARK_OP_EXIT, status, (qk_boot->flags & QUARK_BOOT_STATS) ? qk_gpa(&qk_stats) : 0,
		 addr, rip, 0, 0);
	qk_panic("QKernel: the host returned from QUARK_OP_EXIT");
}

static void say(const char *fmt, const char *path, const char *why)
{
	static char buf[QUARK_PATH_MAX + 128];
	struct quark_seg s;
	int n = qk_snprintf(buf, sizeof(buf), fmt, path, why);

	s.gpa = qk_gpa(buf);
	s.len = (uint64_t)MIN(n, (int)sizeof(buf) - 1);
	qk_hcall(QUARK_OP_WRITEV, 2, qk_gpa(&s), 1, 0, 0, 0);
}

static const char *errname(int e)
{
	switch (e) {
	case ENOENT:
		return "No such file or directory";
	case EACCES:
		return "Permission denied";
	case ENOEXEC:
		return "Exec format error (not an x86-64 ELF executable)";
	case ENOMEM:
		return "Cannot allocate memory (raise --memory)";
	case EISDIR:
		return "Is a directory";
	case ELOOP:
		return "Too many levels of symbolic links";
	case 7:
		return "Argument list too long";
	default:
		return "cannot load it";
	}
}

void qk_main(const struct quark_boot *boot, uint32_t index);
void qk_main(const struct quark_boot *boot, uint32_t index)
{
	static const char *argv[256], *envp[512];
	static struct qk_regs frame;
	const char *blob, *p, *end, *exe;
	uint64_t boot_done;
	int rc;

	if (index != 0)
		qk_ap_main(index); /* vCPU 0 set everything up before it asked for this one */
	qk_boot = boot;
	if (boot->magic != QUARK_BOOT_MAGIC || boot->abi_version != QUARK_RUN_ABI_VERSION)
		qk_panic("QKernel: boot page magic %x version %u: built for another QVisor",
			 boot->magic, boot->abi_version);
	qk_smp_init();
	tables_init();
	qk_cpu_setup(0);
	qk_time_init();
	qk_sig_init();
	qk_mm_init();
	qk_files_init();
	boot_done = qk_clock_ns(CLOCK_MONOTONIC);

	if (boot->argc < 1 || boot->argc > ARRAY_SIZE(argv) || boot->envc > ARRAY_SIZE(envp) ||
	    boot->args_len == 0 || boot->args_len > QUARK_ARGS_MAX)
		qk_panic("QKernel: bad argument counts (%u, %u)", boot->argc, boot->envc);
	blob = qk_kva(boot->args_gpa);
	end = blob + boot->args_len;
	if (end[-1] != 0)
		qk_panic("QKernel: the argument blob is not terminated");
	p = blob;
	exe = p;
	p += strlen(p) + 1;
	for (uint32_t i = 0; i < boot->argc + boot->envc; i++) {
		if (p >= end)
			qk_panic("QKernel: the argument blob is short");
		if (i < boot->argc)
			argv[i] = p;
		else
			envp[i - boot->argc] = p;
		p += strlen(p) + 1;
	}

	rc = qk_exec(exe, (int)boot->argc, argv, (int)boot->envc, envp, &frame);
	if (rc < 0) {
		say("quark: %s: %s\n", exe, errname(-rc));
		qk_exit(rc == -ENOENT ? 127 : 126, 0, 0);
	}
	qk_debug("QKernel: booted in %lu us, %s loaded in %lu us more; entering it at %p with %lu "
		 "pages in use",
		 (boot_done - qk_boot->monotonic_ns) / 1000, exe,
		 (qk_clock_ns(CLOCK_MONOTONIC) - boot_done) / 1000, (void *)frame.rip,
		 qk_pages_used());
	entered_ns = qk_clock_ns(CLOCK_MONOTONIC);
	qk_iret_to(&frame);
}
