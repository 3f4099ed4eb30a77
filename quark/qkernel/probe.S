/* SPDX-License-Identifier: MIT */
/*
 * The guest of `quark check`: the smallest program that tells whether a KVM
 * can run QKernel, whose design rests on one transition being real: an
 * application's `syscall` in ring 3 entering the guest kernel in ring 0 and
 * `sysretq` coming back, with no VM exit. Some KVMs run guest ring 0 in an
 * emulator (the PVM-style /dev/kvm of our development hosts), and there the
 * LSTAR handler runs at CPL 3; this probe finds out instead of assuming.
 *
 * The host (quark/qvisor/) has already built the GDT, TSS, IDT and identity
 * page tables (quark/abi.h has the layout) and enters at `entry` in 64-bit
 * ring 0 with %rsp = QUARK_KSTACK_TOP and interrupts off. Steps, each one
 * announced in the report's `phase` first so a fault can be placed:
 *
 *   1. ring 0: store the magic and %cs, hypercall QUARK_HC_RING0 (the host
 *      checks the vCPU's CPL itself);
 *   2. `pings` empty hypercalls, which the host times: one VM exit;
 *   3. EFER.SCE, STAR, LSTAR, SFMASK, each read back into the report;
 *   4. QUARK_HC_LOOP, then iretq to ring 3, where the loop makes
 *      `iterations` syscalls; the handler checks it runs at CPL 0, counts and
 *      returns the count, which the loop checks; a last syscall carries the
 *      loop's own %cs and status back; QUARK_HC_DONE, hlt.
 *
 * Any exception lands in exc_common (ring 0, through the IDT), which copies
 * the frame into the report and makes QUARK_HC_FAULT. A fault whose %rip is
 * inside the syscall handler records the frame's %cs as the handler's: that
 * is how a handler running at CPL 3 is seen, since at CPL 3 it cannot even
 * fetch its first instruction from a supervisor page.
 *
 * No memory is written but the report; registers carry the loop state. The
 * handler uses no stack (syscall does not switch it) and only %rax, %r8.
 */
#include "abi.h"

#define R(field) (QUARK_REPORT_GPA + QUARK_R_##field)
#define P(field) (QUARK_PARAMS_GPA + QUARK_P_##field)

#define MSR_EFER   0xc0000080
#define MSR_STAR   0xc0000081
#define MSR_LSTAR  0xc0000082
#define MSR_SFMASK 0xc0000084
#define EFER_SCE   0x1

/* Vectors for which the CPU pushes an error code: 8, 10-14, 17, 21, 29, 30. */
#define ERRCODE_VECTORS 0x60227d00

	.macro hypercall port
	mov	$\port, %dx
	out	%al, %dx
	.endm

	.macro phase p
	movq	$\p, R(PHASE)
	.endm

	/* %rax = the 64-bit value of MSR \msr, stored at \dst. */
	.macro read_msr msr, dst
	mov	$\msr, %ecx
	rdmsr
	shl	$32, %rdx
	or	%rdx, %rax
	mov	%rax, \dst
	.endm

	.section .head, "a"
header:
	.long	QUARK_IMAGE_MAGIC
	.long	QUARK_ABI_VERSION
	.quad	entry
	.quad	vectors
	.quad	__user_start
	.quad	__user_end
	.quad	__image_end

	.text
	.code64
	.globl	entry
entry:
	phase	QUARK_PHASE_RING0
	movq	$QUARK_REPORT_MAGIC, R(MAGIC)
	xor	%eax, %eax
	mov	%cs, %ax
	mov	%rax, R(RING0_CS)
	hypercall QUARK_HC_RING0

	phase	QUARK_PHASE_PING
	mov	P(PINGS), %rcx
	cmp	$QUARK_PROBE_MAX_PINGS, %rcx
	jbe	1f
	mov	$QUARK_PROBE_MAX_PINGS, %ecx
1:	test	%rcx, %rcx
	jz	2f
3:	hypercall QUARK_HC_PING
	dec	%rcx
	jnz	3b
2:
	phase	QUARK_PHASE_MSR
	mov	$MSR_EFER, %ecx
	rdmsr
	or	$EFER_SCE, %eax
	wrmsr
	mov	$MSR_STAR, %ecx
	xor	%eax, %eax
	mov	$QUARK_STAR_HIGH, %edx
	wrmsr
	mov	$MSR_LSTAR, %ecx
	mov	$syscall_entry, %eax
	xor	%edx, %edx
	wrmsr
	mov	$MSR_SFMASK, %ecx
	mov	$QUARK_SFMASK, %eax
	xor	%edx, %edx
	wrmsr
	read_msr MSR_EFER, R(EFER)
	read_msr MSR_STAR, R(STAR)
	read_msr MSR_LSTAR, R(LSTAR)
	read_msr MSR_SFMASK, R(SFMASK)

	phase	QUARK_PHASE_USER
	hypercall QUARK_HC_LOOP
	mov	P(ITERATIONS), %rbx
	cmp	$QUARK_PROBE_MAX_ITERATIONS, %rbx
	jbe	1f
	mov	$QUARK_PROBE_MAX_ITERATIONS, %ebx
1:	pushq	$(QUARK_SEL_UDATA | 3)
	pushq	$QUARK_USTACK_TOP
	pushq	$0x2			/* RFLAGS: IF = 0, IOPL = 0 */
	pushq	$(QUARK_SEL_UCODE | 3)
	pushq	$user_loop
	iretq

	/*
	 * LSTAR. At CPL 0: count, return the count in %rax, sysretq (RIP from
	 * %rcx, RFLAGS from %r11, both untouched). Anywhere else: ud2, so the
	 * fault path records where and at which %cs.
	 */
syscall_entry:
	mov	%cs, %r8d
	test	$3, %r8b
	jnz	syscall_wrong_cpl
	movzwl	%r8w, %r8d
	mov	%r8, R(SYSCALL_CS)
	cmp	$QUARK_PROBE_SYS_DONE, %rax
	je	syscall_done
	incq	R(SYSCALLS)
	mov	R(SYSCALLS), %rax
	sysretq
syscall_wrong_cpl:
	ud2
syscall_entry_end:

	/* The loop's last syscall: %rdi = its %cs, %rsi = its status. */
syscall_done:
	mov	$QUARK_KSTACK_TOP, %rsp
	movzwl	%di, %edi
	mov	%rdi, R(USER_CS)
	mov	%rsi, R(USER_STATUS)
	phase	QUARK_PHASE_DONE
	hypercall QUARK_HC_DONE
halt_forever:
	hlt
	jmp	halt_forever

	/*
	 * Exception stubs, QUARK_VECTOR_STRIDE bytes apart (.org fails the build
	 * if one outgrows its slot). Each leaves the same frame: vector, error
	 * code (0 when the CPU pushes none), then the CPU's RIP, CS, RFLAGS,
	 * RSP, SS.
	 */
	.balign	QUARK_VECTOR_STRIDE
vectors:
	.set	vec, 0
	.rept	QUARK_NR_VECTORS
	.org	vectors + vec * QUARK_VECTOR_STRIDE
	.if	((ERRCODE_VECTORS >> vec) & 1) == 0
	pushq	$0
	.endif
	pushq	$vec
	jmp	exc_common
	.set	vec, vec + 1
	.endr
	.org	vectors + QUARK_NR_VECTORS * QUARK_VECTOR_STRIDE

	/* Never returns: the probe is over once anything faulted. */
exc_common:
	pop	%rax
	pop	%rbx
	mov	%rax, R(FAULT_VECTOR)
	mov	%rbx, R(FAULT_ERROR)
	mov	0(%rsp), %rcx
	mov	%rcx, R(FAULT_RIP)
	mov	8(%rsp), %rdx
	mov	%rdx, R(FAULT_CS)
	mov	16(%rsp), %rax
	mov	%rax, R(FAULT_RFLAGS)
	mov	24(%rsp), %rax
	mov	%rax, R(FAULT_RSP)
	mov	32(%rsp), %rax
	mov	%rax, R(FAULT_SS)
	mov	%cr2, %rax
	mov	%rax, R(FAULT_CR2)
	mov	R(PHASE), %rax
	mov	%rax, R(FAULT_PHASE)
	cmp	$syscall_entry, %rcx
	jb	1f
	cmp	$syscall_entry_end, %rcx
	jae	1f
	mov	%rdx, R(SYSCALL_CS)
1:	hypercall QUARK_HC_FAULT
	jmp	halt_forever

	/*
	 * Ring 3, on its own read-only user page. %rbx = iterations; %r12
	 * counts; each syscall must return exactly the count so far.
	 */
	.section .text.user, "ax"
user_loop:
	xor	%r12d, %r12d
	test	%rbx, %rbx
	jz	2f
1:	inc	%r12
	mov	$QUARK_PROBE_SYS_COUNT, %eax
	syscall
	cmp	%r12, %rax
	jne	3f
	cmp	%rbx, %r12
	jb	1b
2:	mov	$QUARK_USER_OK, %esi
	jmp	4f
3:	mov	$QUARK_USER_MISMATCH, %esi
4:	mov	%cs, %edi
	mov	$QUARK_PROBE_SYS_DONE, %eax
	syscall
	ud2

	.section .note.GNU-stack, "", @progbits
