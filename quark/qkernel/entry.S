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
 * The syscall path runs with interrupts off (SFMASK clears IF) on the one
 * kernel stack: this first slice has one vCPU and one thread, so there is
 * no per-CPU area and no swapgs; the user's %gs base is never touched.
 * `sysretq` is safe here because %rcx is always the address after the
 * user's own `syscall` instruction, hence canonical (the Intel SYSRET #GP
 * hazard needs a non-canonical one); the kernel never changes it.
 */
#include "abi.h"

#define KSTACK_SIZE (16 * 4096)

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
	/* %rdi = the boot page (virtual), set by the host. */
	lea	qk_kstack_top(%rip), %rsp
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
 * Switch to the kernel stack through a scratch word (single vCPU).
 */
	.globl	qk_syscall_entry
qk_syscall_entry:
	mov	%rsp, qk_user_rsp(%rip)
	lea	qk_kstack_top(%rip), %rsp
	pushq	$(QUARK_SEL_UDATA | 3)	/* ss */
	pushq	qk_user_rsp(%rip)	/* rsp */
	push	%r11			/* rflags */
	pushq	$(QUARK_SEL_UCODE | 3)	/* cs */
	push	%rcx			/* rip */
	pushq	$0			/* error */
	pushq	$-1			/* vector: -1 = a system call */
	push_gprs
	mov	%rsp, %rdi
	cld
	call	qk_syscall
	pop_gprs
	add	$16, %rsp
	/* Back with what the frame now says (rax = result). */
	mov	0(%rsp), %rcx		/* rip */
	mov	16(%rsp), %r11		/* rflags */
	mov	24(%rsp), %rsp		/* rsp */
	sysretq

/* First entry to ring 3: %rdi = a frame built by qk_enter_user(). */
	.globl	qk_iret_to
qk_iret_to:
	mov	%rdi, %rsp
	pop_gprs
	add	$16, %rsp
	iretq

/*
 * Exception stubs, QK_STUB_SIZE bytes apart: push a zero where the CPU
 * pushes no error code, push the vector, join the common path.
 */
#define ERRCODE_VECTORS 0x60227d00
	.p2align 4
	.globl	qk_vectors
qk_vectors:
	.set	vec, 0
	.rept	32
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
	mov	%rsp, %rdi
	cld
	call	qk_exception
	pop_gprs
	add	$16, %rsp
	iretq

	.bss
	.p2align 12
	.globl	qk_kstack_top
qk_kstack:
	.skip	KSTACK_SIZE
qk_kstack_top:
	.globl	qk_istack_top
	.skip	4096
qk_istack_top:
	.globl	qk_user_rsp
qk_user_rsp:
	.quad	0
