// SPDX-License-Identifier: MIT
/*
 * Long-mode set-up from the host (see x86.h and the layout in abi.h). The
 * descriptors are built from their fields rather than copied as magic
 * numbers, so each can be checked against the SDM where it is written.
 */
#include "x86.h"

#include <errno.h>
#include <string.h>

#include "log.h"

/* GDT access bytes: present, DPL, code/data, type. */
#define ACC_KCODE 0x9b /* P, DPL 0, S, execute/read, accessed */
#define ACC_KDATA 0x93 /* P, DPL 0, S, read/write, accessed */
#define ACC_UCODE 0xfb /* P, DPL 3, S, execute/read, accessed */
#define ACC_UDATA 0xf3 /* P, DPL 3, S, read/write, accessed */
#define ACC_TSS	  0x89 /* P, DPL 0, system, 64-bit TSS (available) */
/* GDT flag nibbles: G (4 KiB granularity), D/B, L (64-bit code). */
#define FL_CODE64 0xa /* G, L */
#define FL_CODE32 0xc /* G, D */
#define FL_DATA	  0xc /* G, B */

/* The 64-bit TSS (SDM vol. 3, 8.7). */
struct x86_tss {
	uint32_t reserved0;
	uint64_t rsp[3]; /* stack pointers for CPL 0..2 */
	uint64_t reserved1;
	uint64_t ist[7]; /* interrupt stack table, IST1..IST7 */
	uint64_t reserved2;
	uint16_t reserved3;
	uint16_t iomap_base; /* >= limit: no I/O bitmap, every port faults at CPL 3 */
} __attribute__((packed));
_Static_assert(sizeof(struct x86_tss) == 104, "64-bit TSS layout");

/* A 64-bit interrupt gate (SDM vol. 3, 6.14.1). */
struct x86_gate {
	uint16_t offset_lo;  /* handler bits 0..15 */
	uint16_t selector;   /* code segment of the handler */
	uint8_t ist;	     /* IST index, 0 = the TSS RSP for the new CPL */
	uint8_t type_attr;   /* P, DPL, type 0xe (interrupt gate: IF cleared) */
	uint16_t offset_mid; /* handler bits 16..31 */
	uint32_t offset_hi;  /* handler bits 32..63 */
	uint32_t reserved;
};
_Static_assert(sizeof(struct x86_gate) == 16, "64-bit gate layout");

#define GATE_INTR_DPL0 0x8e
#define TSS_LIMIT      (sizeof(struct x86_tss) - 1)

uint64_t qv_x86_gdt_entry(uint32_t base, uint32_t limit, uint8_t access, uint8_t flags)
{
	return (uint64_t)(limit & 0xffffu) | ((uint64_t)(base & 0xffffffu) << 16) |
	       ((uint64_t)access << 40) | ((uint64_t)((limit >> 16) & 0xfu) << 48) |
	       ((uint64_t)(flags & 0xfu) << 52) | ((uint64_t)(base >> 24) << 56);
}

static int page_aligned(uint64_t v)
{
	return (v & (QUARK_PAGE_SIZE - 1)) == 0;
}

int qv_x86_check_image(const void *image, size_t len, struct quark_image_header *hdr, char *err,
		       size_t errlen)
{
	const uint64_t base = QUARK_IMAGE_GPA;
	struct quark_image_header h;

	if (len < sizeof(h) || len > QUARK_IMAGE_MAX) {
		errbuf_set(err, errlen, "guest image: %zu bytes (expected %zu to %llu)", len,
			   sizeof(h), QUARK_IMAGE_MAX);
		return -EINVAL;
	}
	memcpy(&h, image, sizeof(h));
	if (h.magic != QUARK_IMAGE_MAGIC || h.abi_version != QUARK_ABI_VERSION) {
		errbuf_set(err, errlen,
			   "guest image: magic %#x version %u (expected %#llx version %llu)",
			   h.magic, h.abi_version, QUARK_IMAGE_MAGIC, QUARK_ABI_VERSION);
		return -EINVAL;
	}
	/* image_end bounds everything else, so check it first and alone. */
	if (!page_aligned(h.image_end) || h.image_end <= base || h.image_end > QUARK_MEM_SIZE ||
	    len > h.image_end - base) {
		errbuf_set(err, errlen, "guest image: end %#llx does not hold its %zu bytes",
			   (unsigned long long)h.image_end, len);
		return -EINVAL;
	}
	if (h.entry < base + sizeof(h) || h.entry >= h.image_end) {
		errbuf_set(err, errlen, "guest image: entry %#llx outside the image",
			   (unsigned long long)h.entry);
		return -EINVAL;
	}
	if (h.vectors < base + sizeof(h) || h.vectors > h.image_end ||
	    h.image_end - h.vectors < QUARK_NR_VECTORS * QUARK_VECTOR_STRIDE) {
		errbuf_set(err, errlen, "guest image: exception stubs at %#llx outside the image",
			   (unsigned long long)h.vectors);
		return -EINVAL;
	}
	if (!page_aligned(h.user_start) || !page_aligned(h.user_end) || h.user_start <= base ||
	    h.user_start >= h.user_end || h.user_end > h.image_end) {
		errbuf_set(err, errlen,
			   "guest image: ring-3 pages %#llx..%#llx not inside the image",
			   (unsigned long long)h.user_start, (unsigned long long)h.user_end);
		return -EINVAL;
	}
	if (h.entry >= h.user_start && h.entry < h.user_end) {
		errbuf_set(err, errlen, "guest image: entry %#llx is on a ring-3 page",
			   (unsigned long long)h.entry);
		return -EINVAL;
	}
	*hdr = h;
	return 0;
}

static void map_range(uint64_t *pt, uint64_t start, uint64_t end, uint64_t flags)
{
	for (uint64_t gpa = start; gpa < end; gpa += QUARK_PAGE_SIZE)
		pt[gpa / QUARK_PAGE_SIZE] = gpa | flags;
}

static void build_page_tables(unsigned char *mem, const struct quark_image_header *hdr)
{
	/* Upper levels allow everything; the last level grants the least. */
	const uint64_t dir = QV_PTE_P | QV_PTE_RW | QV_PTE_US;
	const uint64_t kern = QV_PTE_P | QV_PTE_RW;
	uint64_t *pml4 = (uint64_t *)(void *)(mem + QUARK_PML4_GPA);
	uint64_t *pdpt = (uint64_t *)(void *)(mem + QUARK_PDPT_GPA);
	uint64_t *pd = (uint64_t *)(void *)(mem + QUARK_PD_GPA);
	uint64_t *pt = (uint64_t *)(void *)(mem + QUARK_PT_GPA);

	memset(pml4, 0, 4 * QUARK_PAGE_SIZE);
	pml4[0] = QUARK_PDPT_GPA | dir;
	pdpt[0] = QUARK_PD_GPA | dir;
	pd[0] = QUARK_PT_GPA | dir;
	map_range(pt, QUARK_GDT_GPA, QUARK_PML4_GPA, kern);	 /* GDT, TSS, IDT */
	map_range(pt, QUARK_PARAMS_GPA, QUARK_ISTACK_TOP, kern); /* shared page, stacks */
	map_range(pt, QUARK_USTACK_GPA, QUARK_USTACK_TOP, QV_PTE_P | QV_PTE_RW | QV_PTE_US);
	map_range(pt, QUARK_IMAGE_GPA, hdr->user_start, kern);
	map_range(pt, hdr->user_start, hdr->user_end, QV_PTE_P | QV_PTE_US);
	map_range(pt, hdr->user_end, hdr->image_end, kern);
}

static void build_gdt_tss(unsigned char *mem)
{
	uint64_t *gdt = (uint64_t *)(void *)(mem + QUARK_GDT_GPA);
	struct x86_tss tss;

	memset(gdt, 0, QUARK_GDT_ENTRIES * 8);
	gdt[QUARK_SEL_KCODE / 8] = qv_x86_gdt_entry(0, 0xfffff, ACC_KCODE, FL_CODE64);
	gdt[QUARK_SEL_KDATA / 8] = qv_x86_gdt_entry(0, 0xfffff, ACC_KDATA, FL_DATA);
	gdt[QUARK_SEL_UCODE32 / 8] = qv_x86_gdt_entry(0, 0xfffff, ACC_UCODE, FL_CODE32);
	gdt[QUARK_SEL_UDATA / 8] = qv_x86_gdt_entry(0, 0xfffff, ACC_UDATA, FL_DATA);
	gdt[QUARK_SEL_UCODE / 8] = qv_x86_gdt_entry(0, 0xfffff, ACC_UCODE, FL_CODE64);
	/* A 16-byte system descriptor: the second half holds base bits 32..63 (zero). */
	gdt[QUARK_SEL_TSS / 8] = qv_x86_gdt_entry((uint32_t)QUARK_TSS_GPA, TSS_LIMIT, ACC_TSS, 0);
	gdt[QUARK_SEL_TSS / 8 + 1] = 0;

	memset(&tss, 0, sizeof(tss));
	tss.rsp[0] = QUARK_KSTACK_TOP;
	tss.ist[0] = QUARK_ISTACK_TOP;
	tss.iomap_base = sizeof(tss);
	memcpy(mem + QUARK_TSS_GPA, &tss, sizeof(tss));
}

static void build_idt(unsigned char *mem, const struct quark_image_header *hdr)
{
	for (uint64_t v = 0; v < QUARK_NR_VECTORS; v++) {
		uint64_t handler = hdr->vectors + v * QUARK_VECTOR_STRIDE;
		struct x86_gate g = {
			.offset_lo = (uint16_t)handler,
			.selector = (uint16_t)QUARK_SEL_KCODE,
			/* A double fault gets a known-good stack of its own. */
			.ist = v == 8 ? 1 : 0,
			.type_attr = GATE_INTR_DPL0,
			.offset_mid = (uint16_t)(handler >> 16),
			.offset_hi = (uint32_t)(handler >> 32),
			.reserved = 0,
		};

		memcpy(mem + QUARK_IDT_GPA + v * sizeof(g), &g, sizeof(g));
	}
}

int qv_x86_build(void *mem, size_t mem_size, const void *image, size_t len,
		 const struct quark_image_header *hdr)
{
	unsigned char *m = mem;

	if (mem_size != QUARK_MEM_SIZE || len > hdr->image_end - QUARK_IMAGE_GPA)
		return -EINVAL;
	build_page_tables(m, hdr);
	build_gdt_tss(m);
	build_idt(m, hdr);
	memcpy(m + QUARK_IMAGE_GPA, image, len);
	return 0;
}

static void set_segment(struct kvm_segment *s, uint16_t sel, int code)
{
	memset(s, 0, sizeof(*s));
	s->base = 0;
	s->limit = 0xffffffff;
	s->selector = sel;
	s->type = code ? 11 : 3; /* execute/read, accessed | read/write, accessed */
	s->present = 1;
	s->dpl = 0;
	s->db = code ? 0 : 1; /* D must be 0 when L is 1 */
	s->s = 1;
	s->l = code ? 1 : 0;
	s->g = 1;
}

void qv_x86_long_mode_sregs(struct kvm_sregs *sregs)
{
	set_segment(&sregs->cs, (uint16_t)QUARK_SEL_KCODE, 1);
	set_segment(&sregs->ds, (uint16_t)QUARK_SEL_KDATA, 0);
	sregs->es = sregs->ds;
	sregs->fs = sregs->ds;
	sregs->gs = sregs->ds;
	sregs->ss = sregs->ds;

	memset(&sregs->tr, 0, sizeof(sregs->tr));
	sregs->tr.base = QUARK_TSS_GPA;
	sregs->tr.limit = TSS_LIMIT;
	sregs->tr.selector = (uint16_t)QUARK_SEL_TSS;
	sregs->tr.type = 11; /* 64-bit TSS, busy: the state after ltr */
	sregs->tr.present = 1;

	memset(&sregs->ldt, 0, sizeof(sregs->ldt));
	sregs->ldt.type = 2;
	sregs->ldt.unusable = 1;

	sregs->gdt.base = QUARK_GDT_GPA;
	sregs->gdt.limit = (uint16_t)(QUARK_GDT_ENTRIES * 8 - 1);
	sregs->idt.base = QUARK_IDT_GPA;
	sregs->idt.limit = (uint16_t)(QUARK_NR_VECTORS * sizeof(struct x86_gate) - 1);

	sregs->cr0 = QV_CR0_PE | QV_CR0_MP | QV_CR0_ET | QV_CR0_NE | QV_CR0_WP | QV_CR0_PG;
	sregs->cr3 = QUARK_PML4_GPA;
	sregs->cr4 = QV_CR4_PAE;
	/* SCE is left to the guest: enabling syscall is part of what is probed. */
	sregs->efer = QV_EFER_LME | QV_EFER_LMA;
}

void qv_x86_entry_regs(struct kvm_regs *regs, const struct quark_image_header *hdr)
{
	memset(regs, 0, sizeof(*regs));
	regs->rip = hdr->entry;
	regs->rsp = QUARK_KSTACK_TOP;
	regs->rflags = 0x2; /* bit 1 is always set; IF = 0: no interrupts are wired */
}

const char *qv_x86_vector_name(uint64_t v)
{
	static const char *const names[] = {
		"#DE", "#DB",	   "NMI", "#BP", "#OF", "#BR", "#UD", "#NM",
		"#DF", "vector 9", "#TS", "#NP", "#SS", "#GP", "#PF", "vector 15",
		"#MF", "#AC",	   "#MC", "#XM", "#VE", "#CP",
	};

	if (v < sizeof(names) / sizeof(names[0]))
		return names[v];
	return v < QUARK_NR_VECTORS ? "a reserved vector" : "vector?";
}
