/* SPDX-License-Identifier: MIT */
/*
 * Hashing primitives.
 *
 * Two kinds of hash are needed across the suite. Byte strings (node IDs, HTTP
 * header values, addresses) are hashed with XXH3 from Debian's libxxhash: fast
 * on short keys, 64-bit output, seedable. Integers that are already
 * well-distributed codes are re-randomised with hash_mix64(), the splitmix64 /
 * Stafford "variant 13" finaliser: a bijection on 64-bit values, so distinct
 * inputs never collide and a seed XORed in first gives independent families.
 *
 * fastrange64() maps a uniformly distributed 64-bit value onto [0, n) with one
 * multiply instead of a division (Lemire, "Fast Random Integer Generation in
 * an Interval", ACM TOMACS 2019). It uses the high bits of its input, so feed
 * it a hash whose high bits are good (all of the functions here qualify).
 */
#ifndef LIB_HASH_H
#define LIB_HASH_H

#include <stddef.h>
#include <stdint.h>

#include "compiler.h"

static inline uint64_t hash_mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return x;
}

/*
 * Fibonacci hashing: one multiply. The product's high bits depend on every
 * input bit, so take the high bits. Enough for inputs that are already
 * random (hash codes, fingerprints); use hash_mix64() for structured ones.
 */
static inline uint64_t hash_mul64(uint64_t x)
{
	return x * 0x9e3779b97f4a7c15ULL;
}

/* Uniform value in [0, n) from the high bits of x. */
static inline uint64_t fastrange64(uint64_t x, uint64_t n)
{
	/* __extension__: 128-bit integers are a GNU C extension, fine under -pedantic this way. */
	__extension__ typedef unsigned __int128 u128;

	return (uint64_t)(((u128)x * n) >> 64);
}

/* Uniform value in [0, n) from the high 32 bits of x; n < 2^32. */
static inline uint32_t fastrange32(uint64_t x, uint32_t n)
{
	return (uint32_t)(((x >> 32) * (uint64_t)n) >> 32);
}

/* 64-bit hash of a byte string (XXH3); len 0 is valid. */
uint64_t hash_bytes(const void *p, size_t len, uint64_t seed);

/* A 64-bit pseudo-random generator (xoshiro256**) for tests, generators and benchmarks. */
struct rng {
	uint64_t s[4]; /* state; never all zero */
};

void rng_seed(struct rng *r, uint64_t seed);
uint64_t rng_next(struct rng *r);
/* Uniform in [0, n), n > 0, without modulo bias worth measuring (fastrange). */
static inline uint64_t rng_below(struct rng *r, uint64_t n)
{
	return fastrange64(rng_next(r), n);
}
/* Uniform double in [0, 1). */
static inline double rng_unit(struct rng *r)
{
	return (double)(rng_next(r) >> 11) * 0x1.0p-53;
}

#endif /* LIB_HASH_H */
