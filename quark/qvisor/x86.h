/* SPDX-License-Identifier: MIT */
/*
 * x86-64 machine set-up done by the host before the first instruction: the
 * identity page tables, GDT, TSS and IDT written into guest memory, and the
 * register state that puts a vCPU straight into 64-bit long mode. Pure
 * functions over a memory buffer and plain structs, so they are unit-tested
 * without /dev/kvm. The layout is quark/abi.h's.
 */
#ifndef QUARK_QVISOR_X86_H
#define QUARK_QVISOR_X86_H

#include <stddef.h>
#include <stdint.h>

#include <linux/kvm.h>

#include "abi.h"

/* Page-table entry bits (Intel SDM vol. 3, 4.5). */
#define QV_PTE_P  0x1ULL /* present */
#define QV_PTE_RW 0x2ULL /* writable */
#define QV_PTE_US 0x4ULL /* user-accessible */

/* Control-register and EFER bits the set-up uses. */
#define QV_CR0_PE   0x1ULL
#define QV_CR0_MP   0x2ULL
#define QV_CR0_ET   0x10ULL
#define QV_CR0_NE   0x20ULL
#define QV_CR0_WP   0x10000ULL
#define QV_CR0_PG   0x80000000ULL
#define QV_CR4_PAE  0x20ULL
#define QV_EFER_SCE 0x1ULL
#define QV_EFER_LME 0x100ULL
#define QV_EFER_LMA 0x400ULL

/*
 * Checks an image (the probe, linked into the program) against the layout:
 * magic, ABI version, size, and that the entry point, the exception stubs and
 * the ring-3 range lie inside the image and the pages reserved for it.
 * Copies the header to *hdr. Returns 0, or -EINVAL with the reason in err.
 */
int qv_x86_check_image(const void *image, size_t len, struct quark_image_header *hdr, char *err,
		       size_t errlen);

/*
 * Writes GDT, TSS, IDT and page tables for a checked image into guest
 * memory (QUARK_MEM_SIZE bytes at mem) and copies the image to
 * QUARK_IMAGE_GPA. Everything else in mem is left as it was. Returns 0, or
 * -EINVAL if mem_size is not QUARK_MEM_SIZE.
 */
int qv_x86_build(void *mem, size_t mem_size, const void *image, size_t len,
		 const struct quark_image_header *hdr);

/*
 * Turns the special registers read from a fresh vCPU into 64-bit ring 0 on
 * the tables qv_x86_build() wrote (fields KVM owns, such as apic_base, are
 * kept).
 */
void qv_x86_long_mode_sregs(struct kvm_sregs *sregs);

/* General registers for the entry point: %rip, %rsp at the kernel stack, IF = 0. */
void qv_x86_entry_regs(struct kvm_regs *regs, const struct quark_image_header *hdr);

/* A GDT descriptor (base and limit in the legacy split encoding). */
uint64_t qv_x86_gdt_entry(uint32_t base, uint32_t limit, uint8_t access, uint8_t flags);

/* The mnemonic of exception vector v ("#GP"), or "vector?" past 31. */
const char *qv_x86_vector_name(uint64_t v);

#endif /* QUARK_QVISOR_X86_H */
