// SPDX-License-Identifier: MIT
/*
 * Description: quark/qvisor/x86: the probe image is accepted and bad image
 * headers are refused; the identity page tables grant each page exactly the
 * access quark/abi.h lists (walked like the MMU does); GDT, TSS, IDT and the
 * long-mode register state decode to what syscall/sysret and the probe need.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "abi.h"
#include "x86.h"

extern const unsigned char quark_probe_image[];
extern const size_t quark_probe_image_len;

static struct quark_image_header probe_header(void)
{
	struct quark_image_header h;
	char err[256];

	assert_int_equal(
		qv_x86_check_image(quark_probe_image, quark_probe_image_len, &h, err, sizeof(err)),
		0);
	return h;
}

static void test_probe_image(void **state)
{
	struct quark_image_header h = probe_header();

	(void)state;
	assert_true(h.entry > QUARK_IMAGE_GPA && h.entry < h.user_start);
	assert_true(h.user_start % QUARK_PAGE_SIZE == 0 && h.user_end % QUARK_PAGE_SIZE == 0);
	assert_true(h.image_end <= QUARK_MEM_SIZE);
	assert_true(h.vectors % QUARK_VECTOR_STRIDE == 0);
}

/* Checks one mutated header against the real image bytes; expects a refusal. */
static void expect_refused(const struct quark_image_header *h, size_t len, const char *what)
{
	unsigned char *img = calloc(1, QUARK_IMAGE_MAX + 16);
	struct quark_image_header out;
	char err[256] = "";

	assert_non_null(img);
	memcpy(img, quark_probe_image, quark_probe_image_len);
	memcpy(img, h, sizeof(*h));
	if (qv_x86_check_image(img, len, &out, err, sizeof(err)) == 0)
		fail_msg("accepted an image with %s", what);
	assert_true(strncmp(err, "guest image: ", 13) == 0);
	free(img);
}

static void test_bad_headers(void **state)
{
	const struct quark_image_header good = probe_header();
	const size_t len = quark_probe_image_len;
	struct quark_image_header h;

	(void)state;
	h = good, h.magic ^= 1, expect_refused(&h, len, "a bad magic");
	h = good, h.abi_version++, expect_refused(&h, len, "a newer ABI");
	expect_refused(&good, 8, "a truncated header");
	expect_refused(&good, QUARK_IMAGE_MAX + 1, "too many bytes");
	h = good, h.image_end = QUARK_MEM_SIZE + QUARK_PAGE_SIZE,
	expect_refused(&h, len, "end > memory");
	h = good, h.image_end = 0, expect_refused(&h, len, "end below the base");
	h = good, h.image_end = QUARK_IMAGE_GPA + QUARK_PAGE_SIZE,
	expect_refused(&h, len, "end < bytes");
	h = good, h.image_end += 8, expect_refused(&h, len, "an unaligned end");
	h = good, h.entry = QUARK_IMAGE_GPA, expect_refused(&h, len, "entry on the header");
	h = good, h.entry = good.image_end, expect_refused(&h, len, "entry past the end");
	h = good, h.entry = good.user_start, expect_refused(&h, len, "entry on a user page");
	h = good, h.vectors = good.image_end - 16, expect_refused(&h, len, "stubs past the end");
	h = good, h.vectors = UINT64_MAX - 8, expect_refused(&h, len, "stubs that wrap");
	h = good, h.user_start += 1, expect_refused(&h, len, "unaligned user pages");
	h = good, h.user_end = good.user_start, expect_refused(&h, len, "no user pages");
	h = good, h.user_end = good.image_end + QUARK_PAGE_SIZE,
	expect_refused(&h, len, "user pages past the end");
	h = good, h.user_start = QUARK_IMAGE_GPA - QUARK_PAGE_SIZE,
	expect_refused(&h, len, "user pages below the image");
}

/* Random headers: never a crash, and whatever is accepted keeps the invariants. */
static void test_random_headers(void **state)
{
	const struct quark_image_header good = probe_header();
	uint64_t x = 0x9e3779b97f4a7c15ULL;

	(void)state;
	for (int i = 0; i < 200000; i++) {
		struct quark_image_header h = good, out;
		unsigned char img[sizeof(h)];
		uint64_t *f[] = { &h.entry, &h.vectors, &h.user_start, &h.user_end, &h.image_end };

		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		/* Perturb one or two fields, by small steps or to anything. */
		*f[x % 5] = (x >> 8) & 1 ? x >> 3 : *f[x % 5] + ((x >> 16) % 0x3000) - 0x1800;
		if ((x >> 40) & 1)
			*f[(x >> 41) % 5] = (x >> 44) * QUARK_PAGE_SIZE % (QUARK_MEM_SIZE * 2);
		memcpy(img, &h, sizeof(h));
		if (qv_x86_check_image(img, sizeof(h), &out, NULL, 0) != 0)
			continue;
		assert_true(out.image_end <= QUARK_MEM_SIZE && out.image_end > QUARK_IMAGE_GPA);
		assert_true(out.entry >= QUARK_IMAGE_GPA + sizeof(h) && out.entry < out.image_end);
		assert_true(out.vectors + QUARK_NR_VECTORS * QUARK_VECTOR_STRIDE <= out.image_end);
		assert_true(out.user_start > QUARK_IMAGE_GPA && out.user_end <= out.image_end);
		assert_true(out.user_start < out.user_end);
	}
}

/* The MMU's view of va: 0 if not present, else the AND of RW and US over all levels | P. */
static uint64_t walk(const unsigned char *mem, uint64_t va)
{
	uint64_t table = QUARK_PML4_GPA, acc = QV_PTE_RW | QV_PTE_US;

	for (int level = 3; level >= 0; level--) {
		uint64_t idx = (va >> (12 + 9 * level)) & 511, e;

		memcpy(&e, mem + table + idx * 8, 8);
		if (!(e & QV_PTE_P))
			return 0;
		acc &= e;
		table = e & 0x000ffffffffff000ULL;
		if (level == 0)
			assert_int_equal(table, va & ~(QUARK_PAGE_SIZE - 1)); /* identity */
	}
	return acc | QV_PTE_P;
}

static void test_page_tables(void **state)
{
	const struct quark_image_header h = probe_header();
	const uint64_t kern = QV_PTE_P | QV_PTE_RW;
	unsigned char *mem = calloc(1, QUARK_MEM_SIZE);

	(void)state;
	assert_non_null(mem);
	assert_int_equal(
		qv_x86_build(mem, QUARK_MEM_SIZE - 1, quark_probe_image, quark_probe_image_len, &h),
		-22);
	assert_int_equal(
		qv_x86_build(mem, QUARK_MEM_SIZE, quark_probe_image, quark_probe_image_len, &h), 0);
	assert_memory_equal(mem + QUARK_IMAGE_GPA, quark_probe_image, quark_probe_image_len);

	assert_int_equal(walk(mem, 0), 0); /* null page */
	assert_int_equal(walk(mem, QUARK_GDT_GPA), kern);
	assert_int_equal(walk(mem, QUARK_TSS_GPA), kern);
	assert_int_equal(walk(mem, QUARK_IDT_GPA + 8), kern);
	for (uint64_t p = QUARK_PML4_GPA; p < QUARK_PARAMS_GPA; p += QUARK_PAGE_SIZE)
		assert_int_equal(walk(mem, p), 0); /* page tables: only the MMU reads them */
	assert_int_equal(walk(mem, QUARK_REPORT_GPA), kern);
	assert_int_equal(walk(mem, QUARK_KSTACK_TOP - 8), kern);
	assert_int_equal(walk(mem, QUARK_KSTACK_GPA), kern);
	assert_int_equal(walk(mem, QUARK_ISTACK_TOP - 8), kern);
	assert_int_equal(walk(mem, QUARK_ISTACK_TOP), 0); /* guard below the user stack */
	assert_int_equal(walk(mem, QUARK_USTACK_TOP - 8), kern | QV_PTE_US);
	assert_int_equal(walk(mem, QUARK_USTACK_TOP), 0);
	assert_int_equal(walk(mem, h.entry), kern);
	assert_int_equal(walk(mem, h.vectors), kern);
	for (uint64_t p = h.user_start; p < h.user_end; p += QUARK_PAGE_SIZE)
		assert_int_equal(walk(mem, p), QV_PTE_P | QV_PTE_US); /* user, read-only */
	assert_int_equal(walk(mem, h.image_end), 0);
	assert_int_equal(walk(mem, QUARK_MEM_SIZE - 8), 0);
	assert_int_equal(walk(mem, QUARK_MEM_SIZE), 0); /* past the one page table */
	free(mem);
}

static void test_descriptors(void **state)
{
	const struct quark_image_header h = probe_header();
	unsigned char *mem = calloc(1, QUARK_MEM_SIZE);
	uint64_t gdt[QUARK_GDT_ENTRIES], tss_rsp0, tss_ist1;
	uint16_t iomap;

	(void)state;
	assert_non_null(mem);
	/* Known encodings of a flat 64-bit kernel code and data segment. */
	assert_int_equal(qv_x86_gdt_entry(0, 0xfffff, 0x9b, 0xa), 0x00af9b000000ffffULL);
	assert_int_equal(qv_x86_gdt_entry(0, 0xfffff, 0x93, 0xc), 0x00cf93000000ffffULL);
	assert_int_equal(qv_x86_gdt_entry(0x12345678, 0x67, 0x89, 0), 0x1200893456780067ULL);

	assert_int_equal(
		qv_x86_build(mem, QUARK_MEM_SIZE, quark_probe_image, quark_probe_image_len, &h), 0);
	memcpy(gdt, mem + QUARK_GDT_GPA, sizeof(gdt));
	assert_int_equal(gdt[0], 0);
	/* DPL (bits 45-46), L (bit 53) per selector. */
	assert_int_equal((gdt[QUARK_SEL_KCODE / 8] >> 45) & 3, 0);
	assert_int_equal((gdt[QUARK_SEL_KCODE / 8] >> 53) & 1, 1);
	assert_int_equal((gdt[QUARK_SEL_KDATA / 8] >> 45) & 3, 0);
	assert_int_equal((gdt[QUARK_SEL_UDATA / 8] >> 45) & 3, 3);
	assert_int_equal((gdt[QUARK_SEL_UCODE / 8] >> 45) & 3, 3);
	assert_int_equal((gdt[QUARK_SEL_UCODE / 8] >> 53) & 1, 1);
	assert_int_equal((gdt[QUARK_SEL_UCODE32 / 8] >> 53) & 1, 0);
	/* TSS: type 9, present, base, limit 103; upper half zero. */
	assert_int_equal((gdt[QUARK_SEL_TSS / 8] >> 40) & 0xff, 0x89);
	assert_int_equal((gdt[QUARK_SEL_TSS / 8] >> 16) & 0xffffff, QUARK_TSS_GPA);
	assert_int_equal(gdt[QUARK_SEL_TSS / 8] & 0xffff, 103);
	assert_int_equal(gdt[QUARK_SEL_TSS / 8 + 1], 0);
	memcpy(&tss_rsp0, mem + QUARK_TSS_GPA + 4, 8);
	memcpy(&tss_ist1, mem + QUARK_TSS_GPA + 36, 8);
	memcpy(&iomap, mem + QUARK_TSS_GPA + 102, 2);
	assert_int_equal(tss_rsp0, QUARK_KSTACK_TOP);
	assert_int_equal(tss_ist1, QUARK_ISTACK_TOP);
	assert_int_equal(iomap, 104);

	for (uint64_t v = 0; v < QUARK_NR_VECTORS; v++) {
		const unsigned char *g = mem + QUARK_IDT_GPA + v * 16;
		uint64_t off = (uint64_t)g[0] | (uint64_t)g[1] << 8 | (uint64_t)g[6] << 16 |
			       (uint64_t)g[7] << 24;
		uint32_t hi;

		memcpy(&hi, g + 8, 4);
		off |= (uint64_t)hi << 32;
		assert_int_equal(off, h.vectors + v * QUARK_VECTOR_STRIDE);
		assert_int_equal(g[2] | g[3] << 8, QUARK_SEL_KCODE);
		assert_int_equal(g[4], v == 8 ? 1 : 0);
		assert_int_equal(g[5], 0x8e);
	}
	free(mem);
}

static void test_registers(void **state)
{
	const struct quark_image_header h = probe_header();
	struct kvm_sregs s;
	struct kvm_regs r;

	(void)state;
	memset(&s, 0xa5, sizeof(s));
	s.apic_base = 0xfee00900;
	qv_x86_long_mode_sregs(&s);
	assert_int_equal(s.apic_base, 0xfee00900); /* KVM's own fields are kept */
	assert_int_equal(s.cs.selector, QUARK_SEL_KCODE);
	assert_int_equal(s.cs.l, 1);
	assert_int_equal(s.cs.db, 0);
	assert_int_equal(s.cs.dpl, 0);
	assert_int_equal(s.ss.selector, QUARK_SEL_KDATA);
	assert_int_equal(s.ss.dpl, 0);
	assert_int_equal(s.tr.selector, QUARK_SEL_TSS);
	assert_int_equal(s.tr.type, 11);
	assert_int_equal(s.ldt.unusable, 1);
	assert_int_equal(s.gdt.base, QUARK_GDT_GPA);
	assert_int_equal(s.idt.limit, QUARK_NR_VECTORS * 16 - 1);
	assert_int_equal(s.cr3, QUARK_PML4_GPA);
	assert_true(s.cr0 & QV_CR0_PG && s.cr0 & QV_CR0_PE && s.cr0 & QV_CR0_WP);
	assert_true(s.cr4 & QV_CR4_PAE);
	assert_int_equal(s.efer, QV_EFER_LME | QV_EFER_LMA); /* SCE is the guest's to set */

	qv_x86_entry_regs(&r, &h);
	assert_int_equal(r.rip, h.entry);
	assert_int_equal(r.rsp, QUARK_KSTACK_TOP);
	assert_int_equal(r.rflags, 2);
}

static void test_vector_names(void **state)
{
	(void)state;
	assert_string_equal(qv_x86_vector_name(13), "#GP");
	assert_string_equal(qv_x86_vector_name(14), "#PF");
	assert_string_equal(qv_x86_vector_name(31), "a reserved vector");
	assert_string_equal(qv_x86_vector_name(UINT64_MAX), "vector?");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_probe_image),    cmocka_unit_test(test_bad_headers),
		cmocka_unit_test(test_random_headers), cmocka_unit_test(test_page_tables),
		cmocka_unit_test(test_descriptors),    cmocka_unit_test(test_registers),
		cmocka_unit_test(test_vector_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
