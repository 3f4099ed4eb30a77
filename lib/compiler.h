/* SPDX-License-Identifier: MIT */
/*
 * Compiler helpers shared by every component: branch hints, attributes,
 * checked arithmetic and the READ_ONCE/WRITE_ONCE accessors used where a
 * value is read by one thread while another may write it.
 *
 * Names follow the kernel's tools/include/linux/compiler.h, minus the leading
 * double underscores, which are reserved identifiers in user space.
 */
#ifndef LIB_COMPILER_H
#define LIB_COMPILER_H

#include <stddef.h>

#define likely(x)   __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

#define ATTR_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#define ATTR_MUST_CHECK	       __attribute__((warn_unused_result))
#define ATTR_ALWAYS_INLINE     inline __attribute__((always_inline))
#define ATTR_NOINLINE	       __attribute__((noinline))
#define ATTR_COLD	       __attribute__((cold))
#define ATTR_UNUSED	       __attribute__((unused))
#define ATTR_EXPORT	       __attribute__((visibility("default")))

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define container_of(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

/* Checked size arithmetic: true when the result overflowed. */
#define check_add_overflow(a, b, d) __builtin_add_overflow(a, b, d)
#define check_mul_overflow(a, b, d) __builtin_mul_overflow(a, b, d)

/*
 * A plain access the compiler may neither tear, fuse nor elide. Relaxed atomic
 * accesses compile to ordinary moves on x86-64 and arm64, and they tell the
 * thread sanitizer that the race is intended; ordering, where it matters, is
 * given by an explicit fence or acquire/release access next to them.
 */
#define READ_ONCE(x)	 __atomic_load_n(&(x), __ATOMIC_RELAXED)
#define WRITE_ONCE(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELAXED)

#define prefetch_r(p) __builtin_prefetch((p), 0, 3)
#define prefetch_w(p) __builtin_prefetch((p), 1, 3)

#endif /* LIB_COMPILER_H */
