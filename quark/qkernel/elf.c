// SPDX-License-Identifier: MIT
/*
 * Program loading: the ELF image, its interpreter, and the initial stack,
 * as Linux's binfmt_elf does it, for static, static-PIE and dynamic
 * x86-64 executables.
 *
 * Each PT_LOAD segment becomes a region at its address (plus a load bias
 * for ET_DYN: 0x555555554000 for the program, INTERP_BASE for ld.so),
 * filled from the file starting at the page that holds its first byte, as
 * a file mapping would be (so two segments sharing a page both see the
 * file's bytes there); the rest up to p_memsz is bss and stays zero. The
 * region is written while writable and then given the segment's own
 * protection. The file is read by the host straight into the new pages.
 *
 * The stack, from the top down (System V x86-64 ABI, 3.4.1):
 *
 *     16 random bytes (AT_RANDOM), "x86_64", the exe path (AT_EXECFN),
 *     the env and argv strings
 *     (padding to 16 bytes)
 *     auxv pairs ... AT_NULL
 *     envp[0..envc-1], NULL
 *     argv[0..argc-1], NULL
 *     argc                       <- %rsp, 16-byte aligned
 */
#include "kernel.h"

#define EI_NIDENT 16
#define ET_EXEC	  2
#define ET_DYN	  3
#define EM_X86_64 62
#define PT_LOAD	  1
#define PT_INTERP 3
#define PT_PHDR	  6
#define PF_X	  1
#define PF_W	  2
#define PF_R	  4

#define PROG_BIAS   0x555555554000UL
#define INTERP_BASE 0x7fffc0000000UL
#define MAX_PHDRS   64

#define AT_NULL	       0
#define AT_PHDR	       3
#define AT_PHENT       4
#define AT_PHNUM       5
#define AT_PAGESZ      6
#define AT_BASE	       7
#define AT_FLAGS       8
#define AT_ENTRY       9
#define AT_UID	       11
#define AT_EUID	       12
#define AT_GID	       13
#define AT_EGID	       14
#define AT_PLATFORM    15
#define AT_HWCAP       16
#define AT_CLKTCK      17
#define AT_SECURE      23
#define AT_RANDOM      25
#define AT_HWCAP2      26
#define AT_EXECFN      31
#define AT_MINSIGSTKSZ 51

struct elf64_ehdr {
	unsigned char e_ident[EI_NIDENT];
	uint16_t e_type, e_machine;
	uint32_t e_version;
	uint64_t e_entry, e_phoff, e_shoff;
	uint32_t e_flags;
	uint16_t e_ehsize, e_phentsize, e_phnum, e_shentsize, e_shnum, e_shstrndx;
};

struct elf64_phdr {
	uint32_t p_type, p_flags;
	uint64_t p_offset, p_vaddr, p_paddr, p_filesz, p_memsz, p_align;
};

struct image {
	struct elf64_ehdr eh;
	struct elf64_phdr ph[MAX_PHDRS];
	uint64_t bias, entry, phdr_va, end;
};

static struct image prog, interp;
static char interp_path[QUARK_PATH_MAX];

static int prot_of(uint32_t pf)
{
	return ((pf & PF_R) ? PROT_READ : 0) | ((pf & PF_W) ? PROT_WRITE : 0) |
	       ((pf & PF_X) ? PROT_EXEC : 0);
}

static int read_headers(uint32_t h, struct image *im)
{
	int64_t r = qk_host_pread_kernel(h, &im->eh, sizeof(im->eh), 0);
	uint64_t size;

	if (r < 0)
		return (int)r;
	if (r != sizeof(im->eh) || memcmp(im->eh.e_ident, "\177ELF", 4) != 0)
		return -ENOEXEC;
	if (im->eh.e_ident[4] != 2 || im->eh.e_ident[5] != 1 || im->eh.e_machine != EM_X86_64 ||
	    (im->eh.e_type != ET_EXEC && im->eh.e_type != ET_DYN) ||
	    im->eh.e_phentsize != sizeof(struct elf64_phdr) || im->eh.e_phnum == 0 ||
	    im->eh.e_phnum > MAX_PHDRS)
		return -ENOEXEC;
	size = (uint64_t)im->eh.e_phnum * sizeof(struct elf64_phdr);
	r = qk_host_pread_kernel(h, im->ph, size, im->eh.e_phoff);
	if (r < 0)
		return (int)r;
	return (uint64_t)r == size ? 0 : -ENOEXEC;
}

static int load_segments(uint32_t h, struct image *im, uint64_t bias)
{
	uint64_t lo = ~0UL;

	im->bias = im->eh.e_type == ET_DYN ? bias : 0;
	im->end = 0;
	im->phdr_va = 0;
	for (int i = 0; i < im->eh.e_phnum; i++) {
		const struct elf64_phdr *p = &im->ph[i];
		uint64_t va, start, end, off, got;
		int rc;

		if (p->p_type == PT_PHDR)
			im->phdr_va = im->bias + p->p_vaddr;
		if (p->p_type != PT_LOAD || p->p_memsz == 0)
			continue;
		if (p->p_filesz > p->p_memsz || ((p->p_vaddr - p->p_offset) & ~PAGE_MASK) ||
		    p->p_vaddr > USER_TOP || p->p_memsz > USER_TOP - p->p_vaddr)
			return -ENOEXEC;
		va = im->bias + p->p_vaddr;
		start = PAGE_DOWN(va);
		end = PAGE_UP(va + p->p_memsz);
		if (start < USER_MIN || end > USER_TOP - USER_STACK_MAX)
			return -ENOEXEC;
		rc = qk_vm_map(start, end - start, PROT_READ | PROT_WRITE, MAP_FIXED | QK_MAP_FILE,
			       &got);
		if (rc < 0)
			return rc;
		off = PAGE_DOWN(p->p_offset);
		if (p->p_filesz) {
			uint64_t want = p->p_offset + p->p_filesz - off;
			int64_t r = qk_host_pread(h, start, want, off);

			if (r < 0)
				return (int)r;
			if ((uint64_t)r != want)
				return -EIO;
		}
		rc = qk_vm_protect(start, end - start, prot_of(p->p_flags));
		if (rc < 0)
			return rc;
		if (!im->phdr_va && im->eh.e_phoff >= p->p_offset &&
		    im->eh.e_phoff < p->p_offset + p->p_filesz)
			im->phdr_va = va + (im->eh.e_phoff - p->p_offset);
		lo = MIN(lo, start);
		im->end = MAX(im->end, end);
	}
	if (lo == ~0UL)
		return -ENOEXEC;
	im->entry = im->bias + im->eh.e_entry;
	return 0;
}

static int load_file(const char *path, struct image *im, uint64_t bias, bool want_interp)
{
	uint32_t h;
	int rc = qk_open_exec(path, &h);

	if (rc < 0)
		return rc;
	rc = read_headers(h, im);
	if (rc == 0)
		rc = load_segments(h, im, bias);
	if (rc == 0 && want_interp) {
		interp_path[0] = 0;
		for (int i = 0; i < im->eh.e_phnum; i++) {
			const struct elf64_phdr *p = &im->ph[i];
			int64_t r;

			if (p->p_type != PT_INTERP)
				continue;
			if (p->p_filesz < 2 || p->p_filesz >= sizeof(interp_path)) {
				rc = -ENOEXEC;
				break;
			}
			r = qk_host_pread_kernel(h, interp_path, p->p_filesz, p->p_offset);
			if (r != (int64_t)p->p_filesz || interp_path[p->p_filesz - 1]) {
				rc = r < 0 ? (int)r : -ENOEXEC;
				break;
			}
		}
	}
	qk_hcall(QUARK_OP_CLOSE, h, 0, 0, 0, 0, 0);
	return rc;
}

/* Pushes bytes below *sp; returns their user address. */
static int push_bytes(uint64_t *sp, const void *src, size_t n, uint64_t *at)
{
	*sp -= n;
	*at = *sp;
	return qk_copy_to_user(*sp, src, n);
}

static uint64_t cpuid_edx1(void)
{
	uint32_t a = 1, b, c = 0, d;

	__asm__ __volatile__("cpuid" : "+a"(a), "=b"(b), "+c"(c), "=d"(d));
	return d;
}

int qk_exec(const char *path, int argc, const char *const *argv, int envc, const char *const *envp,
	    struct qk_regs *frame)
{
	static uint64_t words[2 * 32 + 2 * 512 + 8];
	static uint64_t argp[256], envpp[512];
	uint64_t sp = USER_TOP, got, rnd, plat, execfn, base = 0, entry;
	size_t nw = 0;
	int rc;

	if (argc > (int)ARRAY_SIZE(argp) || envc > (int)ARRAY_SIZE(envpp))
		return -7; /* E2BIG */
	rc = load_file(path, &prog, PROG_BIAS, true);
	if (rc < 0)
		return rc;
	entry = prog.entry;
	if (interp_path[0]) {
		rc = load_file(interp_path, &interp, INTERP_BASE, false);
		if (rc < 0)
			return rc;
		base = interp.bias;
		entry = interp.entry;
	}
	qk_vm_set_brk(prog.end);

	rc = qk_vm_map(USER_TOP - USER_STACK_MAX, USER_STACK_MAX, PROT_READ | PROT_WRITE, MAP_FIXED,
		       &got);
	if (rc < 0)
		return rc;
	if ((rc = push_bytes(&sp, qk_boot->random, 16, &rnd)) < 0 ||
	    (rc = push_bytes(&sp, "x86_64", 7, &plat)) < 0 ||
	    (rc = push_bytes(&sp, path, strlen(path) + 1, &execfn)) < 0)
		return rc;
	for (int i = envc - 1; i >= 0; i--)
		if ((rc = push_bytes(&sp, envp[i], strlen(envp[i]) + 1, &envpp[i])) < 0)
			return rc;
	for (int i = argc - 1; i >= 0; i--)
		if ((rc = push_bytes(&sp, argv[i], strlen(argv[i]) + 1, &argp[i])) < 0)
			return rc;

	words[nw++] = (uint64_t)argc;
	for (int i = 0; i < argc; i++)
		words[nw++] = argp[i];
	words[nw++] = 0;
	for (int i = 0; i < envc; i++)
		words[nw++] = envpp[i];
	words[nw++] = 0;
#define AUX(k, v) (words[nw++] = (k), words[nw++] = (v))
	AUX(AT_PHDR, prog.phdr_va);
	AUX(AT_PHENT, sizeof(struct elf64_phdr));
	AUX(AT_PHNUM, prog.eh.e_phnum);
	AUX(AT_PAGESZ, PAGE_SIZE);
	AUX(AT_BASE, base);
	AUX(AT_FLAGS, 0);
	AUX(AT_ENTRY, prog.entry);
	AUX(AT_UID, qk_boot->uid);
	AUX(AT_EUID, qk_boot->uid);
	AUX(AT_GID, qk_boot->gid);
	AUX(AT_EGID, qk_boot->gid);
	AUX(AT_PLATFORM, plat);
	AUX(AT_HWCAP, cpuid_edx1());
	AUX(AT_CLKTCK, 100);
	AUX(AT_SECURE, 0);
	AUX(AT_RANDOM, rnd);
	AUX(AT_HWCAP2, 0);
	AUX(AT_EXECFN, execfn);
	AUX(AT_MINSIGSTKSZ, 2048);
	AUX(AT_NULL, 0);
#undef AUX
	sp &= ~15UL;
	if (nw & 1)
		sp -= 8; /* so that %rsp (at argc) ends 16-byte aligned */
	sp -= nw * 8;
	rc = qk_copy_to_user(sp, words, nw * 8);
	if (rc < 0)
		return rc;

	memset(frame, 0, sizeof(*frame));
	frame->rip = entry;
	frame->rsp = sp;
	frame->cs = QUARK_SEL_UCODE | 3;
	frame->ss = QUARK_SEL_UDATA | 3;
	/* IF set: ring 3 takes QUARK_VEC_SIGNAL (abi.h), a signal from outside. */
	frame->rflags = 0x202;
	return 0;
}
