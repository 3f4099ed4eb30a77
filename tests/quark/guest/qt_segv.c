/* SPDX-License-Identifier: MIT */
/*
 * Description: qt_segv: programs that die of a fault, one kind per mode. The
 * program installs no handler for them, so each
 * fault must end the program with the status a shell sees natively (128 +
 * the signal) and, under quark, one line on stderr naming the signal. Most
 * modes are also hostile: reading, writing or jumping into the kernel half,
 * privileged instructions (hlt, cli, in/out on the hypercall port, a control
 * register, an MSR) must be faults in ring 3, never effects.
 *
 *   qt_segv [MODE]
 *
 * MODE (default null) and the signal it must die of:
 *   null      store to address 0                              SIGSEGV
 *   kread     load from 0xffffffff80001000                    SIGSEGV
 *   kwrite    store to 0xffffffff80001000                     SIGSEGV
 *   kjump     call 0xffffffff80001000                         SIGSEGV
 *   noncanon  load from a non-canonical address (#GP)         SIGSEGV
 *   text      store into the program's own code               SIGSEGV
 *   nx        call into a writable, non-executable page       SIGSEGV
 *   stack     unbounded recursion                             SIGSEGV
 *   hlt, cli, out, in, cr3, rdmsr   privileged instructions   SIGSEGV
 *   ud2       an undefined instruction                        SIGILL
 *   div0      integer division by zero                        SIGFPE
 *   int3      a breakpoint                                    SIGTRAP
 *   badhandler  a SIGUSR1 handler at a non-canonical address,
 *             then raise(SIGUSR1): entering it faults           SIGSEGV
 *
 * Prints "qt_segv: MODE: about to fault" first (flushed). A mode that does
 * not fault prints "qt_segv: MODE: SURVIVED" and exits 1; an unknown mode
 * exits 2.
 */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Volatile so the compiler cannot see the address and turn the access into a trap of its own. */
static volatile uintptr_t kernel_addr = 0xffffffff80001000UL;
static volatile uintptr_t null_addr = 0;
static volatile uintptr_t noncanon_addr = 0x8000000000000000UL; /* with 4- and 5-level paging */
static volatile int zero = 0;

/* Bounded only by a limit no stack reaches, so the compiler sees no endless recursion. */
static volatile unsigned long depth_limit = ~0UL;

static unsigned long deep(unsigned long n)
{
	volatile char pad[4096];
	pad[0] = (char)n;
	if (n == depth_limit)
		return 0;
	return deep(n + 1) + (unsigned long)pad[0];
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "null";
	printf("qt_segv: %s: about to fault\n", mode);
	fflush(stdout);

	if (!strcmp(mode, "null")) {
		*(volatile int *)null_addr = 1;
	} else if (!strcmp(mode, "kread")) {
		printf("read %lx\n", *(volatile unsigned long *)kernel_addr);
	} else if (!strcmp(mode, "kwrite")) {
		*(volatile unsigned long *)kernel_addr = 0x5a5a5a5a5a5a5a5aUL;
	} else if (!strcmp(mode, "kjump")) {
		void (*fn)(void);
		uintptr_t a = kernel_addr;
		memcpy(&fn, &a, sizeof(fn));
		fn();
	} else if (!strcmp(mode, "noncanon")) {
		printf("read %lx\n", *(volatile unsigned long *)noncanon_addr);
	} else if (!strcmp(mode, "text")) {
		uintptr_t a;
		void *m = (void *)main;
		memcpy(&a, &m, sizeof(a));
		*(volatile unsigned char *)a = 0xcc;
	} else if (!strcmp(mode, "nx")) {
		unsigned char *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
					MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			return 2;
		p[0] = 0xc3; /* ret: harmless if it ran, which it must not */
		void (*fn)(void);
		memcpy(&fn, &p, sizeof(fn));
		fn();
	} else if (!strcmp(mode, "stack")) {
		printf("%lu\n", deep(0));
	} else if (!strcmp(mode, "hlt")) {
		__asm__ volatile("hlt");
	} else if (!strcmp(mode, "cli")) {
		__asm__ volatile("cli");
	} else if (!strcmp(mode, "out")) {
		/* 0x510: quark's hypercall port (quark/abi.h); from ring 3 it is a #GP. */
		__asm__ volatile("outb %%al, %%dx" : : "a"(0), "d"(0x510));
	} else if (!strcmp(mode, "in")) {
		unsigned char v;
		__asm__ volatile("inb %%dx, %%al" : "=a"(v) : "d"(0x510));
		printf("in %u\n", v);
	} else if (!strcmp(mode, "cr3")) {
		unsigned long v;
		__asm__ volatile("mov %%cr3, %0" : "=r"(v));
		printf("cr3 %lx\n", v);
	} else if (!strcmp(mode, "rdmsr")) {
		unsigned lo, hi;
		/* LSTAR: where the guest kernel's syscall entry is. */
		__asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(0xc0000082));
		printf("msr %x%08x\n", hi, lo);
	} else if (!strcmp(mode, "ud2")) {
		__asm__ volatile("ud2");
	} else if (!strcmp(mode, "div0")) {
		/* In assembly: gcc turns 1 / x into a comparison, with no division at all. */
		__asm__ volatile("xor %%edx, %%edx; div %%ecx" : : "a"(1), "c"(zero) : "edx");
	} else if (!strcmp(mode, "int3")) {
		__asm__ volatile("int3");
	} else if (!strcmp(mode, "badhandler")) {
		/* The raw call: glibc's sigaction would not mind, but be plain. */
		struct {
			uint64_t handler, flags, restorer, mask;
		} act = { 0x8000000000000000ULL, 0x04000000 /* SA_RESTORER */, 0x1000, 0 };

		syscall(13 /* rt_sigaction */, 10 /* SIGUSR1 */, &act, NULL, 8);
		raise(10);
	} else {
		fprintf(stderr, "qt_segv: unknown mode '%s'\n", mode);
		return 2;
	}
	printf("qt_segv: %s: SURVIVED\n", mode);
	return 1;
}
