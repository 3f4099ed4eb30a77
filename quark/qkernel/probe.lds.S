/* SPDX-License-Identifier: MIT */
/*
 * Links the probe guest as one flat image at QUARK_IMAGE_GPA: the header
 * first (the host reads it at a fixed place), ring-0 text, then the ring-3
 * code on pages of its own, which the host maps user-accessible and
 * read-only. Preprocessed with abi.h so the layout has one source.
 */
#include "abi.h"

OUTPUT_FORMAT("elf64-x86-64")
OUTPUT_ARCH(i386:x86-64)
ENTRY(entry)

SECTIONS
{
	. = QUARK_IMAGE_GPA;
	.head : { KEEP(*(.head)) }
	.text : { *(.text) }
	. = ALIGN(QUARK_PAGE_SIZE);
	__user_start = .;
	.user : { *(.text.user) }
	. = ALIGN(QUARK_PAGE_SIZE);
	__user_end = .;
	__image_end = .;
	/DISCARD/ : { *(.data) *(.bss) *(.note*) *(.eh_frame*) *(.comment) }
}
ASSERT(__image_end <= QUARK_MEM_SIZE, "the probe image outgrew guest memory")
ASSERT(__user_end > __user_start, "the probe image has no ring-3 code")
