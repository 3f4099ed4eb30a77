// SPDX-License-Identifier: MIT
/*
 * Memory: physical pages, the program's address space, and user copies.
 *
 * Physical pages. Everything from boot->free_start to mem_size is the
 * kernel's to hand out. Freed pages go on a stack threaded through the
 * pages themselves (the first word of a free page points at the next);
 * pages never handed out yet are taken from a bump pointer. A page comes
 * back zeroed, so anonymous memory and fresh page tables need no extra
 * pass: a recycled page is cleared here, a bump page is zero already (the
 * host writes nothing at or above free_start, abi.h), which spares a pass
 * over every page of a program's first load, whose file pages the host
 * then fills anyway. qk_kalloc() takes contiguous runs from the same bump pointer for
 * kernel buffers that live as long as the VM (pipe buffers, the bounce
 * buffer), which is why it never frees.
 *
 * Address space. One set of 4-level page tables for the program; their
 * PML4 shares entry 511 (the kernel's window, supervisor-only) with the
 * boot tables, and entries 0..255 are the program's. What the program may
 * touch is described by a sorted array of regions (struct vma, like
 * Linux's vm_area_struct): [start, end), protection, and whether it came
 * from a file. Pages are allocated on first touch (demand paging): a ring-3
 * page fault inside a region with the right protection maps a zeroed page;
 * anywhere else it is SIGSEGV. mprotect() rewrites the present PTEs of the
 * range; PROT_NONE pages stay present but lose the user bit, so their
 * contents survive a later mprotect() back.
 *
 * Kernel access to user memory never relies on a fault: qk_user_page()
 * checks the region and its protection, faults the page in by hand if it
 * is absent, and returns its physical address, which the kernel reaches
 * through its window. A bad pointer is therefore -EFAULT, never a kernel
 * page fault, and the host is only ever given physical addresses the
 * kernel has validated (it range-checks them again anyway).
 *
 * Several threads (smp.c): a page an unmap frees while a second thread
 * exists goes on a deferred list, stamped with qk_tlb_gen, and returns to
 * the free stack only once no vCPU can still reach it (a stale TLB entry,
 * a host read in flight): qk_smp_quiet_gen() says how far that is. The
 * list is a ring of (page, generation) in kernel memory, never in the
 * pages themselves, which a stale entry could still write.
 *
 * Costs: region look-up is a binary search; mmap without a hint scans the
 * regions top-down for a gap (O(regions)); page-table walks are 4 loads.
 */
#include "kernel.h"

#define PTE_P	 0x1UL
#define PTE_RW	 0x2UL
#define PTE_US	 0x4UL
#define PTE_PS	 0x80UL
#define PTE_NX	 qk_pte_nx /* bit 63 where the CPU has NX (main.c sets EFER.NXE), else 0 */
#define PTE_ADDR 0x000ffffffffff000UL /* bits 12..51: the frame, without NX */

#define VMA_FILE 0x1 /* loaded from a file: MADV_DONTNEED keeps its contents */

struct vma {
	uint64_t start, end;
	int prot;
	int flags;
};

#define MAX_VMAS 4096

static struct vma vmas[MAX_VMAS];
static int nvmas;
static uint64_t pml4_pa;
static uint64_t bump, mem_end, free_list, pages_used;
static uint64_t brk_start, brk_cur;
uint64_t qk_tlb_gen;

/* Pages waiting for every vCPU to pass their generation (see above). */
struct deferred_page {
	uint64_t pa, gen;
};
static struct deferred_page *deferred;
static uint64_t deferred_cap, deferred_head, deferred_tail;

uint64_t qk_mm_cr3(void)
{
	return pml4_pa;
}

void qk_mm_init(void)
{
	uint64_t *boot_pml4 = qk_kva(QUARK_BOOT_PML4_GPA), *pml4;

	bump = qk_boot->free_start;
	mem_end = qk_boot->mem_size;
	pml4_pa = qk_page_alloc();
	if (!pml4_pa)
		qk_panic("no memory for the page tables");
	pml4 = qk_kva(pml4_pa);
	pml4[511] = boot_pml4[511];
	write_cr3(pml4_pa);
}

static void page_free_now(uint64_t pa)
{
	*(uint64_t *)qk_kva(pa) = free_list;
	free_list = pa;
	pages_used--;
}

/* Frees the deferred pages no vCPU can reach any more; the ring is in generation order. */
static void reclaim(void)
{
	uint64_t quiet;

	if (deferred_head == deferred_tail)
		return;
	quiet = qk_smp_quiet_gen();
	while (deferred_head != deferred_tail &&
	       deferred[deferred_head % deferred_cap].gen <= quiet) {
		page_free_now(deferred[deferred_head % deferred_cap].pa);
		deferred_head++;
	}
}

uint64_t qk_page_alloc(void)
{
	uint64_t pa;

	if (!free_list)
		reclaim();
	if (free_list) {
		pa = free_list;
		free_list = *(uint64_t *)qk_kva(pa);
		memset(qk_kva(pa), 0, PAGE_SIZE);
	} else if (bump + PAGE_SIZE <= mem_end) {
		pa = bump; /* never used: zero already (abi.h) */
		bump += PAGE_SIZE;
	} else {
		return 0;
	}
	pages_used++;
	return pa;
}

void qk_page_free(uint64_t pa)
{
	if (!qk_smp_active()) {
		page_free_now(pa);
		return;
	}
	if (!deferred) {
		/* Every page of memory fits, so the ring can never overflow. */
		deferred_cap = mem_end / PAGE_SIZE;
		deferred = qk_kalloc(deferred_cap * sizeof(*deferred));
		if (!deferred)
			qk_panic("QKernel: no memory for the deferred-free ring (raise --memory)");
	}
	deferred[deferred_tail % deferred_cap] = (struct deferred_page){ pa, qk_tlb_gen };
	deferred_tail++;
}

/*
 * A mapping was removed or narrowed: other vCPUs flush before they next
 * run the program, and the calling vCPU (in the kernel, which uses no user
 * translation) is past it already.
 */
static void tlb_changed(void)
{
	qk_tlb_gen++;
	qk_this_cpu()->quiet_gen = qk_tlb_gen;
}

uint64_t qk_pages_used(void)
{
	return pages_used;
}

void *qk_kalloc(size_t bytes)
{
	uint64_t n = PAGE_UP(bytes), pa = bump;

	if (n == 0 || n > mem_end - bump)
		return NULL;
	bump += n;
	pages_used += n / PAGE_SIZE;
	return qk_kva(pa); /* zero: the bump pointer hands out untouched memory */
}

/* The PTE for va, creating the tables on the way when create is set. */
static uint64_t *pte_of(uint64_t va, bool create)
{
	uint64_t *table = qk_kva(pml4_pa);

	for (int shift = 39; shift > 12; shift -= 9) {
		uint64_t *e = &table[(va >> shift) & 511];

		if (!(*e & PTE_P)) {
			uint64_t pa;

			if (!create || !(pa = qk_page_alloc()))
				return NULL;
			/* Upper levels allow everything; the leaf decides. */
			*e = pa | PTE_P | PTE_RW | PTE_US;
		}
		table = qk_kva(*e & PTE_ADDR);
	}
	return &table[(va >> 12) & 511];
}

static uint64_t pte_flags(int prot)
{
	if (!(prot & (PROT_READ | PROT_WRITE | PROT_EXEC)))
		return PTE_P | PTE_NX; /* present, but not for ring 3 */
	return PTE_P | PTE_US | ((prot & PROT_WRITE) ? PTE_RW : 0) |
	       ((prot & PROT_EXEC) ? 0 : PTE_NX);
}

/* Index of the region holding addr, or -1. */
static int vma_find(uint64_t addr)
{
	int lo = 0, hi = nvmas - 1;

	while (lo <= hi) {
		int mid = (lo + hi) / 2;

		if (addr < vmas[mid].start)
			hi = mid - 1;
		else if (addr >= vmas[mid].end)
			lo = mid + 1;
		else
			return mid;
	}
	return -1;
}

/* Splits the region holding addr so that addr starts one. */
static int vma_split(uint64_t addr)
{
	int i = vma_find(addr);

	if (i < 0 || vmas[i].start == addr)
		return 0;
	if (nvmas == MAX_VMAS)
		return -ENOMEM;
	memmove(&vmas[i + 1], &vmas[i], (size_t)(nvmas - i) * sizeof(vmas[0]));
	nvmas++;
	vmas[i].end = addr;
	vmas[i + 1].start = addr;
	return 0;
}

static void unmap_pages(uint64_t start, uint64_t end)
{
	bool changed = false;

	for (uint64_t va = start; va < end; va += PAGE_SIZE) {
		uint64_t *pte = pte_of(va, false);

		if (pte && (*pte & PTE_P)) {
			if (!changed)
				tlb_changed(); /* before the free: it is stamped with the new count
						*/
			changed = true;
			qk_page_free(*pte & PTE_ADDR);
			*pte = 0;
			invlpg(va);
		}
	}
}

/* Removes [start, end) from the regions, freeing its pages. */
static int vma_remove(uint64_t start, uint64_t end)
{
	int rc, i, j;

	rc = vma_split(start);
	if (rc == 0)
		rc = vma_split(end);
	if (rc < 0)
		return rc;
	for (i = 0; i < nvmas && vmas[i].end <= start; i++)
		;
	for (j = i; j < nvmas && vmas[j].start < end; j++)
		unmap_pages(vmas[j].start, vmas[j].end);
	memmove(&vmas[i], &vmas[j], (size_t)(nvmas - j) * sizeof(vmas[0]));
	nvmas -= j - i;
	return 0;
}

static bool range_free(uint64_t start, uint64_t end)
{
	for (int i = 0; i < nvmas; i++)
		if (vmas[i].start < end && start < vmas[i].end)
			return false;
	return true;
}

/* Adds [start, end) (free) as a region, merged with equal neighbours. */
static int vma_insert(uint64_t start, uint64_t end, int prot, int flags)
{
	int i = 0;

	while (i < nvmas && vmas[i].start < start)
		i++;
	if (i > 0 && vmas[i - 1].end == start && vmas[i - 1].prot == prot &&
	    vmas[i - 1].flags == flags) {
		vmas[i - 1].end = end;
		if (i < nvmas && vmas[i].start == end && vmas[i].prot == prot &&
		    vmas[i].flags == flags) {
			vmas[i - 1].end = vmas[i].end;
			memmove(&vmas[i], &vmas[i + 1], (size_t)(nvmas - i - 1) * sizeof(vmas[0]));
			nvmas--;
		}
		return 0;
	}
	if (i < nvmas && vmas[i].start == end && vmas[i].prot == prot && vmas[i].flags == flags) {
		vmas[i].start = start;
		return 0;
	}
	if (nvmas == MAX_VMAS)
		return -ENOMEM;
	memmove(&vmas[i + 1], &vmas[i], (size_t)(nvmas - i) * sizeof(vmas[0]));
	vmas[i] = (struct vma){ start, end, prot, flags };
	nvmas++;
	return 0;
}

/* The highest gap of len bytes below USER_MMAP_TOP, or 0. */
static uint64_t find_gap(uint64_t len)
{
	uint64_t top = USER_MMAP_TOP;

	for (int i = nvmas - 1; i >= 0; i--) {
		if (vmas[i].start >= top)
			continue;
		if (vmas[i].end <= top && top - vmas[i].end >= len)
			return top - len;
		top = vmas[i].start;
	}
	return top - USER_MIN >= len ? top - len : 0;
}

int qk_vm_map(uint64_t start, uint64_t len, int prot, int flags, uint64_t *out)
{
	uint64_t end;
	int rc;

	if (len == 0 || (start & ~PAGE_MASK))
		return -EINVAL;
	len = PAGE_UP(len);
	if (len == 0 || len > USER_TOP)
		return -ENOMEM;
	if (flags & (MAP_FIXED | MAP_FIXED_NOREPLACE)) {
		if (start < USER_MIN || start > USER_TOP - len)
			return (flags & MAP_FIXED) ? -EINVAL : -ENOMEM;
		if ((flags & MAP_FIXED_NOREPLACE) && !range_free(start, start + len))
			return -EEXIST;
		rc = vma_remove(start, start + len);
		if (rc < 0)
			return rc;
	} else if (!(start >= USER_MIN && start <= USER_MMAP_TOP - len &&
		     range_free(start, start + len))) {
		start = find_gap(len);
		if (!start)
			return -ENOMEM;
	}
	end = start + len;
	rc = vma_insert(start, end, prot, (flags & QK_MAP_FILE) ? VMA_FILE : 0);
	if (rc < 0)
		return rc;
	*out = start;
	return 0;
}

int qk_vm_unmap(uint64_t start, uint64_t len)
{
	if ((start & ~PAGE_MASK) || len == 0 || start >= USER_TOP || len > USER_TOP - start)
		return -EINVAL;
	return vma_remove(start, start + PAGE_UP(len));
}

int qk_vm_protect(uint64_t start, uint64_t len, int prot)
{
	uint64_t end = start + PAGE_UP(len), va;
	int rc;

	if ((start & ~PAGE_MASK) || end < start || end > USER_TOP)
		return -EINVAL;
	/* Linux: -ENOMEM if any page of the range is unmapped. */
	for (va = start; va < end;) {
		int i = vma_find(va);

		if (i < 0)
			return -ENOMEM;
		va = vmas[i].end;
	}
	rc = vma_split(start);
	if (rc == 0)
		rc = vma_split(end);
	if (rc < 0)
		return rc;
	/*
	 * Only a narrowing needs every vCPU's TLB flushed: a stale entry
	 * narrower than the new PTE faults, and the fault is retried
	 * (qk_vm_fault()), so widening (the usual mprotect of a loader or a
	 * JIT) costs nobody a flush.
	 */
	for (int i = 0; i < nvmas; i++) {
		if (vmas[i].start >= start && vmas[i].end <= end && (vmas[i].prot & ~prot)) {
			tlb_changed();
			break;
		}
	}
	for (int i = 0; i < nvmas; i++) {
		if (vmas[i].start < start || vmas[i].end > end)
			continue;
		vmas[i].prot = prot;
		for (va = vmas[i].start; va < vmas[i].end; va += PAGE_SIZE) {
			uint64_t *pte = pte_of(va, false);

			if (pte && (*pte & PTE_P)) {
				*pte = (*pte & PTE_ADDR) | pte_flags(prot);
				invlpg(va);
			}
		}
	}
	return 0;
}

int qk_vm_dontneed(uint64_t start, uint64_t len)
{
	uint64_t end = start + PAGE_UP(len);

	if ((start & ~PAGE_MASK) || end < start || end > USER_TOP)
		return -EINVAL;
	for (uint64_t va = start; va < end; va += PAGE_SIZE) {
		int i = vma_find(va);

		if (i < 0)
			return -ENOMEM;
		/* Private file mappings are copies here: dropping them would lose the file's bytes.
		 */
		if (!(vmas[i].flags & VMA_FILE))
			unmap_pages(va, va + PAGE_SIZE);
	}
	return 0;
}

void qk_vm_set_brk(uint64_t start)
{
	brk_start = brk_cur = PAGE_UP(start);
}

uint64_t qk_vm_brk(uint64_t want)
{
	uint64_t old_end = PAGE_UP(brk_cur), new_end = PAGE_UP(want), got;

	if (want < brk_start || want > USER_MMAP_TOP)
		return brk_cur;
	if (new_end > old_end) {
		if (!range_free(old_end, new_end) ||
		    qk_vm_map(old_end, new_end - old_end, PROT_READ | PROT_WRITE, MAP_FIXED, &got))
			return brk_cur;
	} else if (new_end < old_end) {
		vma_remove(new_end, old_end);
	}
	brk_cur = want;
	return brk_cur;
}

static bool prot_allows(int prot, bool write)
{
	return write ? (prot & PROT_WRITE) : (prot & (PROT_READ | PROT_WRITE | PROT_EXEC));
}

int qk_user_page(uint64_t uva, bool write, uint64_t *pa)
{
	int i = vma_find(uva);
	uint64_t *pte;

	if (uva >= USER_TOP || i < 0 || !prot_allows(vmas[i].prot, write))
		return -EFAULT;
	pte = pte_of(uva, true);
	if (!pte)
		return -ENOMEM;
	if (!(*pte & PTE_P)) {
		uint64_t page = qk_page_alloc();

		if (!page)
			return -ENOMEM;
		*pte = page | pte_flags(vmas[i].prot);
		qk_stats.page_faults++;
	}
	*pa = (*pte & PTE_ADDR) | (uva & ~PAGE_MASK);
	return 0;
}

bool qk_vm_mapped(uint64_t addr)
{
	return vma_find(addr) >= 0;
}

bool qk_vm_fault(uint64_t addr, uint64_t error)
{
	uint64_t pa;
	int rc;

	/*
	 * A protection violation on a present page: the region forbids it,
	 * unless the PTE allows it by now (another vCPU widened it and this
	 * one faulted on its stale TLB entry): drop the entry and retry.
	 */
	if (error & PTE_P) {
		uint64_t *pte = addr < USER_TOP ? pte_of(addr, false) : NULL;
		bool write = error & 0x2, fetch = error & 0x10;

		if ((error & 0x8) || !pte || !(*pte & PTE_P) || !(*pte & PTE_US) ||
		    (write && !(*pte & PTE_RW)) || (fetch && (*pte & PTE_NX)))
			return false;
		invlpg(addr);
		return true;
	}
	rc = qk_user_page(addr, (error & 0x2) != 0, &pa);
	if (rc == -ENOMEM) {
		qk_debug("quark: out of guest memory at %p", (void *)addr);
		qk_exit(QUARK_EXIT_SIGNAL | SIGKILL, addr, 0);
	}
	return rc == 0;
}

int qk_copy_from_user(void *dst, uint64_t uva, size_t len)
{
	char *d = dst;

	while (len) {
		uint64_t pa, n = MIN(len, PAGE_SIZE - (uva & ~PAGE_MASK));
		int rc = qk_user_page(uva, false, &pa);

		if (rc < 0)
			return -EFAULT;
		memcpy(d, qk_kva(pa), n);
		d += n, uva += n, len -= n;
	}
	return 0;
}

int qk_copy_to_user(uint64_t uva, const void *src, size_t len)
{
	const char *s = src;

	while (len) {
		uint64_t pa, n = MIN(len, PAGE_SIZE - (uva & ~PAGE_MASK));
		int rc = qk_user_page(uva, true, &pa);

		if (rc < 0)
			return -EFAULT;
		memcpy(qk_kva(pa), s, n);
		s += n, uva += n, len -= n;
	}
	return 0;
}

int qk_strncpy_from_user(char *dst, uint64_t uva, size_t max)
{
	size_t done = 0;

	while (done < max) {
		uint64_t pa, n = MIN(max - done, PAGE_SIZE - (uva & ~PAGE_MASK));
		const char *src;
		size_t k;

		if (qk_user_page(uva, false, &pa) < 0)
			return -EFAULT;
		src = qk_kva(pa);
		k = strnlen(src, n);
		memcpy(dst + done, src, k);
		done += k;
		if (k < n) {
			dst[done] = 0;
			return (int)done;
		}
		uva += n;
	}
	return -ENAMETOOLONG;
}

int qk_user_segs(uint64_t uva, uint64_t len, bool write, struct quark_seg *segs, int nseg,
		 uint64_t *covered)
{
	int n = 0;

	*covered = 0;
	while (len) {
		uint64_t pa, k = MIN(len, PAGE_SIZE - (uva & ~PAGE_MASK));
		int rc = qk_user_page(uva, write, &pa);

		if (rc < 0)
			return *covered ? n : -EFAULT;
		if (n > 0 && segs[n - 1].gpa + segs[n - 1].len == pa) {
			segs[n - 1].len += k;
		} else {
			if (n == nseg)
				break;
			segs[n].gpa = pa;
			segs[n].len = k;
			n++;
		}
		*covered += k;
		uva += k, len -= k;
	}
	return n;
}
