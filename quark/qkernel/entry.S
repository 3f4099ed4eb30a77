/* SPDX-License-Identifier: MIT */
/*
 * QKernel's ways in and out of ring 0: the image header, the first
 * instruction, the `syscall` entry and the exception stubs.
 *
 * One frame shape for everything (struct qk_regs in kernel.h): the general
 * registers, then vector and error code, then what an exception pushes
 * (rip, cs, rflags, rsp, ss). The syscall entry builds the same frame by
 * hand, so C code sees one layout and a fatal signal or a debugging dump
 * works the same from either path.
 *
 * Each vCPU has its own kernel stack and a struct qk_cpu (kernel.h) that
 * ring 0 reaches through %gs: the usual swapgs discipline, where the
 * kernel's base sits in KERNEL_GS_BASE while ring 3 runs and every entry
 * from ring 3 (syscall, or an exception whose saved CS has RPL 3) swaps it
 * in, every return to ring 3 swaps it out. The program's own %gs base is
 * therefore in KERNEL_GS_BASE whenever the kernel runs (arch_prctl knows).
 * The syscall path runs with interrupts off (SFMASK clears IF), and
 * nothing else enters ring 0 on that stack while it does (an exception in
 * ring 0 is a kernel bug and ends in a panic). `sysretq` is safe because
 * %rcx is always the address after the user's own `syscall` instruction,
 * hence canonical (the Intel SYSRET #GP hazard needs a non-canonical one);
 * the kernel never changes it on that path: entering a signal handler and
 * rt_sigreturn, which set %rip from the program's data, leave by iretq.
 */
#include "abi.h"

#define KSTACK_SHIFT 16 /* QK_KSTACK_SIZE in kernel.h */
#define ISTACK_SIZE  4096
#define CPU_USER_RSP 0	/* QK_CPU_USER_RSP */
#define CPU_KSTACK   8	/* QK_CPU_KSTACK */
#define FRAME_CS     144 /* offsetof(struct qk_regs, cs) */

	.section .head, "a"
	.long	QUARK_KERNEL_MAGIC
	.long	QUARK_RUN_ABI_VERSION
	.quad	qk_start
	.quad	__image_end - QUARK_KBASE
	.quad	__bss_end - QUARK_KBASE

	.text
	.code64
	.globl	qk_start
qk_start:
	/*
	 * %rdi = the boot page (virtual), %rsi = this vCPU's index, both set
	 * by the host; the host checks the index against QUARK_MAX_CPUS, and
	 * so does qk_main before anything else (a wrong stack is not fatal
	 * before the first push that lands outside qk_stacks).
	 */
	cmp	$QUARK_MAX_CPUS, %rsi
	jae	1f
	lea	1(%rsi), %rax
	shl	$KSTACK_SHIFT, %rax
	lea	qk_stacks(%rip), %rsp
	add	%rax, %rsp
	xor	%ebp, %ebp
	call	qk_main
1:	hlt
	jmp	1b

/* Reload %cs after lgdt: a far return to the next instruction. */
	.globl	qk_reload_segments
qk_reload_segments:
	mov	$QUARK_SEL_KDATA, %eax
	mov	%eax, %ds
	mov	%eax, %es
	mov	%eax, %ss
	xor	%eax, %eax
	mov	%eax, %fs
	mov	%eax, %gs
	pop	%rax
	pushq	$QUARK_SEL_KCODE
	push	%rax
	lretq

	.macro push_gprs
	push	%rax
	push	%rbx
	push	%rcx
	push	%rdx
	push	%rsi
	push	%rdi
	push	%rbp
	push	%r8
	push	%r9
	push	%r10
	push	%r11
	push	%r12
	push	%r13
	push	%r14
	push	%r15
	.endm

	.macro pop_gprs
	pop	%r15
	pop	%r14
	pop	%r13
	pop	%r12
	pop	%r11
	pop	%r10
	pop	%r9
	pop	%r8
	pop	%rbp
	pop	%rdi
	pop	%rsi
	pop	%rdx
	pop	%rcx
	pop	%rbx
	pop	%rax
	.endm

/*
 * syscall: %rcx = user rip, %r11 = user rflags, %rsp still the user's.
 * Switch to this vCPU's kernel stack through its scratch word.
 */
	.globl	qk_syscall_entry
qk_syscall_entry:
	swapgs
	mov	%rsp, %gs:CPU_USER_RSP
	mov	%gs:CPU_KSTACK, %rsp
	pushq	$(QUARK_SEL_UDATA | 3)	/* ss */
	pushq	%gs:CPU_USER_RSP	/* rsp */
	push	%r11			/* rflags */
	pushq	$(QUARK_SEL_UCODE | 3)	/* cs */
	push	%rcx			/* rip */
	pushq	$0			/* error */
	pushq	$-1			/* vector: -1 = a system call */
	push_gprs
	mov	%rsp, %rdi
	cld
	call	qk_syscall
	test	%eax, %eax
	jnz	1f
	pop_gprs
	add	$16, %rsp
	/* Back with what the frame now says (rax = result). */
	mov	0(%rsp), %rcx		/* rip */
	mov	16(%rsp), %r11		/* rflags */
	swapgs
	mov	24(%rsp), %rsp		/* rsp */
	sysretq
	/*
	 * Into a signal handler or back from one (signal.c): every register
	 * as the frame says, %rcx and %r11 included, and a %rip that came
	 * from the program, which iretq checks in ring 3 (signal.c made it
	 * canonical; the frame's CS and SS are the user selectors).
	 */
1:	pop_gprs
	add	$16, %rsp
	swapgs
	iretq

/* Entry to ring 3 from a built frame: %rdi = the frame (a thread's first). */
	.globl	qk_iret_to
qk_iret_to:
	mov	%rdi, %rsp
	pop_gprs
	add	$16, %rsp
	swapgs
	iretq

/*
 * Exception stubs, QK_STUB_SIZE bytes apart: push a zero where the CPU
 * pushes no error code, push the vector, join the common path. The 33rd
 * is the external interrupt QUARK_VEC_SIGNAL (no error code), which
 * QVisor injects only while ring 3 runs (IF is clear in ring 0).
 */
#define ERRCODE_VECTORS 0x60227d00
	.p2align 4
	.globl	qk_vectors
qk_vectors:
	.set	vec, 0
	.rept	QUARK_VEC_SIGNAL + 1
	.p2align 4
	.if	((ERRCODE_VECTORS >> vec) & 1) == 0
	pushq	$0
	.endif
	pushq	$vec
	jmp	qk_exc_common
	.set	vec, vec + 1
	.endr

qk_exc_common:
	push_gprs
	testb	$3, FRAME_CS(%rsp)	/* from ring 3: take the kernel's %gs */
	jz	1f
	swapgs
1:	mov	%rsp, %rdi
	cld
	call	qk_exception
	testb	$3, FRAME_CS(%rsp)
	jz	2f
	swapgs
2:	pop_gprs
	add	$16, %rsp
	iretq

	.bss
	.p2align 12
	.globl	qk_stacks
qk_stacks:
	.skip	(1 << KSTACK_SHIFT) * QUARK_MAX_CPUS
	.globl	qk_istacks
qk_istacks:
	.skip	ISTACK_SIZE * QUARK_MAX_CPUS
