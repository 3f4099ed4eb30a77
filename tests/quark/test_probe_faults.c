// SPDX-License-Identifier: MIT
/*
 * Description: quark check against hostile and broken guests on a real KVM:
 * the probe prepared by qv_check_prepare() is patched in guest memory before
 * it runs (a wild instruction at the entry point, an out-of-order or unknown
 * hypercall, an `in`, a halt, a spin, a store to memory that does not exist,
 * a user page made supervisor-only, no IDT at all), and each run must end
 * with its own diagnosis, within the timeout, with the VMM unharmed.
 * Exits 77 without a usable /dev/kvm, and on PVM-style KVMs (kvm_pvm without
 * kvm_amd/kvm_intel), whose ring-0 emulation these cases do not describe.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "abi.h"
#include "check.h"
#include "x86.h"

struct fault_case {
	const char *name;		   /* what the guest does wrong */
	unsigned char code[16];		   /* bytes written at the entry point, if len */
	size_t len;			   /* of code */
	void (*patch)(unsigned char *mem); /* further changes to guest memory, or NULL */
	unsigned timeout_s;		   /* the check's limit */
	const char *want;		   /* substring of the verdict */
};

static struct quark_image_header header_of(const unsigned char *mem)
{
	struct quark_image_header h;

	memcpy(&h, mem + QUARK_IMAGE_GPA, sizeof(h));
	return h;
}

/* Clears the user bit of the first ring-3 page: iretq lands on a supervisor page. */
static void user_page_supervisor(unsigned char *mem)
{
	const struct quark_image_header h = header_of(mem);
	uint64_t pte;

	memcpy(&pte, mem + QUARK_PT_GPA + h.user_start / QUARK_PAGE_SIZE * 8, 8);
	pte &= ~QV_PTE_US;
	memcpy(mem + QUARK_PT_GPA + h.user_start / QUARK_PAGE_SIZE * 8, &pte, 8);
}

/* ...and no IDT: the #PF cannot be delivered, nor the #DF after it. */
static void no_idt(unsigned char *mem)
{
	user_page_supervisor(mem);
	memset(mem + QUARK_IDT_GPA, 0, QUARK_PAGE_SIZE);
}

/* Maps the unused page at 0xd000 to guest-physical 1 GiB, where there is no memory. */
static void map_hole(unsigned char *mem)
{
	const uint64_t pte = 0x40000000ULL | QV_PTE_P | QV_PTE_RW;

	memcpy(mem + QUARK_PT_GPA + 0xd * 8, &pte, 8);
}

static const struct fault_case cases[] = {
	{ "ud2 at the entry point",
	  { 0x0f, 0x0b },
	  2,
	  NULL,
	  10,
	  "took #UD (error 0) at 0x10030, cs 0x8, in the first instruction" },
	{ "hlt at the entry point", { 0xf4 }, 1, NULL, 10, "halted before it reported" },
	{ "DONE as the first hypercall",
	  { 0x66, 0xba, 0x13, 0x05, 0xee },
	  5,
	  NULL,
	  10,
	  "made hypercall DONE out of order" },
	{ "out to an unknown port",
	  { 0x66, 0xba, 0x99, 0x00, 0xee },
	  5,
	  NULL,
	  10,
	  "accessed I/O port 0x99 (out, 1 bytes x 1), which is no hypercall" },
	{ "in from a hypercall port",
	  { 0x66, 0xba, 0x10, 0x05, 0xec },
	  5,
	  NULL,
	  10,
	  "accessed I/O port 0x510 (in, 1 bytes x 1)" },
	{ "a store to guest-physical memory that does not exist",
	  { 0xc6, 0x04, 0x25, 0x00, 0xd0, 0x00, 0x00, 0x00 },
	  8,
	  map_hole,
	  10,
	  "touched guest-physical 0x40000000, which has no memory (KVM_EXIT_MMIO)" },
	{ "a spin at the entry point",
	  { 0xeb, 0xfe },
	  2,
	  NULL,
	  1,
	  "did not finish in time (it was in the first instruction)" },
	{ "ring-3 code on a supervisor page",
	  { 0 },
	  0,
	  user_page_supervisor,
	  10,
	  "took #PF (error 0x5) at 0x11000, cs 0x2b, in the ring-3 syscall loop (a page fault)" },
	{ "no IDT",
	  { 0 },
	  0,
	  no_idt,
	  10,
	  "triple-faulted (KVM_EXIT_SHUTDOWN) in the ring-3 syscall loop" },
};

static int run_case(const struct fault_case *fc)
{
	const struct qv_check_opts opts = {
		.device = "/dev/kvm",
		.iterations = 1000,
		.timeout_s = fc->timeout_s,
		.verbose = false,
	};
	struct qv_check_result res;
	struct qv_check *c;
	unsigned char *mem;
	size_t size;
	int rc;

	rc = qv_check_prepare(&opts, &res, &c);
	if (rc < 0) {
		printf("FAIL: %s: prepare: %s\n", fc->name, res.reason);
		return 1;
	}
	mem = qv_check_guest_memory(c, &size);
	if (fc->len) {
		const struct quark_image_header h = header_of(mem);

		memcpy(mem + h.entry, fc->code, fc->len);
	}
	if (fc->patch)
		fc->patch(mem);
	rc = qv_check_finish(c);
	if (rc < 0 || res.ok || !strstr(res.reason, fc->want)) {
		printf("FAIL: %s: rc %d, ok %d, '%s' (expected '%s')\n", fc->name, rc, res.ok,
		       res.reason, fc->want);
		return 1;
	}
	printf("PASS: %s: %s\n", fc->name, res.reason);
	return 0;
}

int main(void)
{
	int fail = 0;

	if (access("/dev/kvm", R_OK | W_OK) != 0) {
		printf("skipped: /dev/kvm: %s\n", strerror(errno));
		return 77;
	}
	if (access("/sys/module/kvm_pvm", F_OK) == 0 && access("/sys/module/kvm_amd", F_OK) != 0 &&
	    access("/sys/module/kvm_intel", F_OK) != 0) {
		printf("skipped: a PVM-style KVM (kvm_pvm): these cases assume hardware ring 0\n");
		return 77;
	}
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		fail |= run_case(&cases[i]);
	/* The VMM is unharmed: a clean check still passes after all of the above. */
	{
		const struct qv_check_opts opts = { "/dev/kvm", 1000, 10, false };
		struct qv_check_result res;

		if (qv_check_run(&opts, &res) < 0 || !res.ok) {
			printf("FAIL: a clean run after the hostile ones: %s\n", res.reason);
			fail = 1;
		} else {
			printf("PASS: a clean run after the hostile ones\n");
		}
	}
	return fail;
}
