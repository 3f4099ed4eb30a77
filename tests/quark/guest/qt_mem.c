/* SPDX-License-Identifier: MIT */
/*
 * Description: qt_mem: the memory system calls a guest kernel serves itself:
 * brk growth, shrink and regrowth (fresh pages are zero), large anonymous
 * mmap touched page by page, munmap, MAP_FIXED over a live mapping, mprotect
 * (read-only, none, executable) seen through system calls that must then get
 * EFAULT, madvise(MADV_DONTNEED) zeroing, the argument errors of each, the
 * kernel half of the address space refused to every one of them, a 64 MiB
 * malloc, 100 000 small ones and 2 MiB of stack.
 *
 *   qt_mem
 *
 * Exit status: 0 when every check passed, 1 otherwise.
 */
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "qt.h"

#define PAGE 4096UL
#define MIB  (1024UL * 1024UL)
/* Where QKernel may well live; never the program's to map, move or unmap. */
#define KERNEL_ADDR 0xffffffff80000000UL

/*
 * The brk checks run before stdio has allocated anything (its buffer comes
 * from malloc, and malloc from brk), so their results wait here until then.
 */
struct early {
	const char *what; /* the check, as printed */
	int ok;		  /* whether it held */
	long got;	  /* the value seen, for a failure */
};
static struct early early[16];
static int n_early;

static void early_check(int ok, const char *what, long got)
{
	if (n_early < (int)(sizeof(early) / sizeof(early[0])))
		early[n_early++] = (struct early){ what, ok, got };
}

static uintptr_t raw_brk(uintptr_t to)
{
	return (uintptr_t)syscall(SYS_brk, to);
}

static int all_zero(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return 0;
	return 1;
}

static void brk_checks(void)
{
	uintptr_t cur = raw_brk(0);
	early_check(cur != 0, "brk(0) gives the current break", (long)cur);
	uintptr_t up = cur + MIB;
	early_check(raw_brk(up) == up, "brk grows by 1 MiB", (long)(raw_brk(0) - cur));
	/* Whole new pages past the old break must come zeroed. */
	uintptr_t first = (cur + PAGE - 1) & ~(PAGE - 1);
	early_check(all_zero((unsigned char *)first, up - first), "new brk pages are zero", 0);
	memset((void *)cur, 0xa5, up - cur);
	early_check(((unsigned char *)up)[-1] == 0xa5, "brk memory is writable to its end", 0);
	early_check(raw_brk(cur) == cur, "brk shrinks back", (long)(raw_brk(0) - cur));
	uintptr_t again = cur + 64 * 1024;
	early_check(raw_brk(again) == again, "brk grows again", (long)(raw_brk(0) - cur));
	early_check(all_zero((unsigned char *)first, again - first),
		    "pages given back and taken again are zero", 0);
	early_check(raw_brk(cur) == cur, "brk shrinks back again", (long)(raw_brk(0) - cur));
	/* Refusals return the unchanged break, not an error. */
	early_check(raw_brk(PAGE) == cur, "brk below the heap start is refused", 0);
	early_check(raw_brk(KERNEL_ADDR + PAGE) == cur, "brk into the kernel half is refused", 0);
	early_check(raw_brk(0) == cur, "the break is unchanged after the refusals", 0);
}

/* Deep enough to need 2 MiB of stack; the volatile keeps the frames real. */
static unsigned long recurse(int depth)
{
	volatile unsigned char frame[64 * 1024];
	frame[0] = (unsigned char)depth;
	frame[sizeof(frame) - 1] = (unsigned char)(depth * 3);
	if (depth == 0)
		return frame[0] + frame[sizeof(frame) - 1];
	return recurse(depth - 1) + frame[0] + frame[sizeof(frame) - 1];
}

int main(void)
{
	brk_checks();
	for (int i = 0; i < n_early; i++)
		qt_result(early[i].ok, early[i].what, "value seen %ld", early[i].got);

	/* A large anonymous mapping: zero on first touch, every page its own. */
	size_t big = 128 * MIB;
	unsigned char *p =
		mmap(NULL, big, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	QT_CHECK(p != MAP_FAILED, "mmap 128 MiB anonymous");
	if (p != MAP_FAILED) {
		QT_CHECK(((uintptr_t)p & (PAGE - 1)) == 0, "mmap result is page-aligned");
		int zero = 1, kept = 1;
		size_t touched = 32 * MIB;
		for (size_t off = 0; off < touched; off += PAGE) {
			zero &= p[off] == 0 && p[off + PAGE - 1] == 0;
			p[off] = (unsigned char)(off / PAGE * 7);
			p[off + PAGE - 1] = (unsigned char)(off / PAGE);
		}
		for (size_t off = big - MIB; off < big; off += PAGE) {
			zero &= p[off] == 0;
			p[off] = 0x3c;
		}
		for (size_t off = 0; off < touched; off += PAGE)
			kept &= p[off] == (unsigned char)(off / PAGE * 7) &&
				p[off + PAGE - 1] == (unsigned char)(off / PAGE);
		QT_CHECK(zero, "anonymous pages read zero before their first write");
		QT_CHECK(kept, "32 MiB of touched pages keep their values");
		QT_CHECK(p[big - 1] == 0 && p[big - MIB] == 0x3c,
			 "the mapping's last MiB is usable");
		QT_EQ(munmap(p, big), 0, "munmap 128 MiB");
	}

	QT_ERRNO(mmap(NULL, 0, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) == MAP_FAILED ? -1
											    : 0,
		 EINVAL, "mmap of length 0 is EINVAL");
	QT_ERRNO(mmap(NULL, PAGE, PROT_READ, MAP_ANONYMOUS, -1, 0) == MAP_FAILED ? -1 : 0, EINVAL,
		 "mmap without MAP_PRIVATE or MAP_SHARED is EINVAL");

	/* MAP_FIXED replaces exactly the pages it covers. */
	unsigned char *q =
		mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	QT_CHECK(q != MAP_FAILED, "mmap 4 pages");
	if (q == MAP_FAILED)
		return qt_finish("qt_mem");
	memset(q, 'A', 4 * PAGE);
	void *r = mmap(q + PAGE, PAGE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	QT_CHECK(r == q + PAGE, "MAP_FIXED lands at the address asked");
	QT_CHECK(all_zero(q + PAGE, PAGE), "MAP_FIXED gives a fresh zero page");
	QT_CHECK(q[0] == 'A' && q[PAGE - 1] == 'A' && q[2 * PAGE] == 'A' && q[4 * PAGE - 1] == 'A',
		 "MAP_FIXED leaves the neighbouring pages alone");

	/* A hole punched by munmap, then filled again with MAP_FIXED. */
	QT_EQ(munmap(q + 2 * PAGE, PAGE), 0, "munmap one page in the middle");
	QT_ERRNO(mprotect(q + 2 * PAGE, PAGE, PROT_READ), ENOMEM,
		 "mprotect of an unmapped page is ENOMEM");
	r = mmap(q + 2 * PAGE, PAGE, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	QT_CHECK(r == q + 2 * PAGE && all_zero(q + 2 * PAGE, PAGE),
		 "MAP_FIXED refills the hole with zeroes");
	QT_ERRNO(munmap(q + 1, PAGE), EINVAL, "munmap of an unaligned address is EINVAL");
	QT_ERRNO(munmap(q, 0), EINVAL, "munmap of length 0 is EINVAL");

	/* Protections must hold for the kernel's own accesses too: EFAULT, not a write. */
	int pfd[2];
	QT_EQ(pipe(pfd), 0, "pipe for protection checks");
	QT_EQ(mprotect(q, PAGE, PROT_READ), 0, "mprotect read-only");
	QT_CHECK(q[0] == 'A', "a read-only page still reads");
	QT_EQ(write(pfd[1], "x", 1), 1, "a byte into the pipe");
	QT_ERRNO(read(pfd[0], q, 1), EFAULT, "read(2) into a read-only page is EFAULT");
	QT_CHECK(q[0] == 'A', "the read-only page is unchanged");
	QT_EQ(mprotect(q, PAGE, PROT_NONE), 0, "mprotect PROT_NONE");
	QT_ERRNO(write(pfd[1], q, 1), EFAULT, "write(2) from a PROT_NONE page is EFAULT");
	QT_EQ(mprotect(q, PAGE, PROT_READ | PROT_WRITE), 0, "mprotect read-write again");
	q[0] = 'C';
	QT_CHECK(q[0] == 'C' && q[1] == 'A', "the page is writable again with its contents");
	QT_ERRNO(mprotect(q + 1, PAGE, PROT_READ), EINVAL,
		 "mprotect of an unaligned address is EINVAL");
	close(pfd[0]);
	close(pfd[1]);

	/* Code written at run time runs once the page is executable (what a JIT does). */
	q[3 * PAGE] = 0xb8; /* mov $42, %eax */
	q[3 * PAGE + 1] = 42;
	q[3 * PAGE + 2] = 0;
	q[3 * PAGE + 3] = 0;
	q[3 * PAGE + 4] = 0;
	q[3 * PAGE + 5] = 0xc3; /* ret */
	QT_EQ(mprotect(q + 3 * PAGE, PAGE, PROT_READ | PROT_EXEC), 0, "mprotect read-exec");
	int (*fn)(void);
	void *code = q + 3 * PAGE;
	memcpy(&fn, &code, sizeof(fn));
	QT_EQ(fn(), 42, "code in a page made executable runs");

	/* MADV_DONTNEED on private anonymous memory drops the contents. */
	memset(q + PAGE, 'B', PAGE);
	QT_EQ(madvise(q + PAGE, PAGE, MADV_DONTNEED), 0, "madvise MADV_DONTNEED");
	QT_CHECK(all_zero(q + PAGE, PAGE), "MADV_DONTNEED pages read zero");
	QT_CHECK(q[0] == 'C' && q[2 * PAGE] == 0, "MADV_DONTNEED leaves the other pages alone");
	QT_EQ(madvise(q, 4 * PAGE, MADV_NORMAL), 0, "madvise MADV_NORMAL");
	QT_EQ(madvise(q, 4 * PAGE, MADV_WILLNEED), 0, "madvise MADV_WILLNEED");
	QT_ERRNO(madvise(q + 1, PAGE, MADV_DONTNEED), EINVAL,
		 "madvise of an unaligned address is EINVAL");
	QT_EQ(munmap(q, 4 * PAGE), 0, "munmap the 4 pages");

	/*
	 * The kernel half: a hint there is ignored, MAP_FIXED, munmap and mprotect
	 * are refused. Linux says ENOMEM or EINVAL depending on the call; either
	 * is a refusal, so the line printed is the same. (With 5-level paging, as
	 * QEMU's -cpu max has, Linux takes a hint above 47 bits as leave to use
	 * all 56: the answer is high, but still in the lower half.)
	 */
	void *h = mmap((void *)KERNEL_ADDR, PAGE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	QT_CHECK(h != MAP_FAILED && (uintptr_t)h < 0x8000000000000000UL,
		 "a hint in the kernel half is not followed");
	if (h != MAP_FAILED)
		munmap(h, PAGE);
	errno = 0;
	h = mmap((void *)KERNEL_ADDR, PAGE, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	QT_CHECK(h == MAP_FAILED && (errno == ENOMEM || errno == EINVAL),
		 "MAP_FIXED in the kernel half is refused");
	errno = 0;
	int rc = munmap((void *)KERNEL_ADDR, 2 * MIB);
	QT_CHECK(rc == -1 && (errno == EINVAL || errno == ENOMEM),
		 "munmap of the kernel half is refused");
	errno = 0;
	rc = mprotect((void *)KERNEL_ADDR, PAGE, PROT_READ | PROT_WRITE | PROT_EXEC);
	QT_CHECK(rc == -1 && (errno == ENOMEM || errno == EINVAL),
		 "mprotect of the kernel half is refused");
	errno = 0;
	rc = madvise((void *)KERNEL_ADDR, PAGE, MADV_DONTNEED);
	QT_CHECK(rc == -1 && (errno == ENOMEM || errno == EINVAL),
		 "madvise of the kernel half is refused");

	/* malloc's two paths: one mmap'd block, many brk'd chunks. */
	size_t m = 64 * MIB;
	unsigned char *blk = malloc(m);
	QT_CHECK(blk != NULL, "malloc 64 MiB");
	if (blk) {
		memset(blk, 0x5a, m);
		int same = 1;
		for (size_t i = 0; i < m; i += PAGE / 2)
			same &= blk[i] == 0x5a;
		QT_CHECK(same && blk[m - 1] == 0x5a, "64 MiB of malloc'd memory holds its bytes");
		free(blk);
	}
	enum { N_SMALL = 100000 };
	unsigned char **small = malloc(N_SMALL * sizeof(*small));
	int ok = small != NULL;
	for (int i = 0; ok && i < N_SMALL; i++) {
		small[i] = malloc(48);
		ok = small[i] != NULL;
		if (ok)
			memset(small[i], i & 0xff, 48);
	}
	for (int i = 0; ok && i < N_SMALL; i++)
		ok = small[i][0] == (i & 0xff) && small[i][47] == (i & 0xff);
	for (int i = 0; small && i < N_SMALL; i++)
		free(small[i]);
	free(small);
	QT_CHECK(ok, "100000 small mallocs keep their bytes");

	unsigned long want = 0;
	for (int d = 0; d <= 32; d++)
		want += (unsigned char)d + (unsigned char)(d * 3);
	QT_EQ(recurse(32), want, "2 MiB of stack in 33 frames of 64 KiB");

	return qt_finish("qt_mem");
}
