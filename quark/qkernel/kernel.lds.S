/* SPDX-License-Identifier: MIT */
/*
 * Links QKernel at QUARK_KBASE + QUARK_KERNEL_GPA: the host copies the flat
 * image to guest-physical QUARK_KERNEL_GPA, and the boot page tables map
 * every physical page p at QUARK_KBASE + p, so link address minus
 * QUARK_KBASE is where each byte sits in guest memory. The header comes
 * first (the host reads it at a fixed place); .bss is not in the file, its
 * end is in the header and the host checks that it fits.
 */
#include "abi.h"

OUTPUT_FORMAT("elf64-x86-64")
OUTPUT_ARCH(i386:x86-64)
ENTRY(qk_start)

SECTIONS
{
	. = QUARK_KBASE + QUARK_KERNEL_GPA;
	.head : { KEEP(*(.head)) }
	.text : { *(.text .text.*) }
	.rodata : { *(.rodata .rodata.*) }
	.data : { *(.data .data.*) }
	__image_end = .;
	.bss (NOLOAD) : { *(.bss .bss.*) *(COMMON) }
	. = ALIGN(QUARK_PAGE_SIZE);
	__bss_end = .;
	/DISCARD/ : { *(.note*) *(.eh_frame*) *(.comment) }
}
ASSERT(__bss_end - QUARK_KBASE <= QUARK_KERNEL_GPA + QUARK_KERNEL_MAX, "QKernel outgrew its place")
