/* SPDX-License-Identifier: MIT */
/*
 * The sketch file format, version 1. All integers are little-endian.
 *
 *   0      struct gss_file_header  magic "GSSKETCH", version, parameters,
 *                                  counters, a table of sections, and an
 *                                  XXH3 checksum of the header itself
 *   4096   MATRIX   m * m * 64 bytes, the buckets exactly as in memory, so
 *                   the file can be mapped and queried in place
 *   ...    MASK     the query index, 2^mask_bits bytes
 *          BUFFER   left-over edges, { s, d, w } records
 *          SPILLS   spilled weights, { sid, did, w } records
 *          HUBS     { code, lvl[out], lvl[in] } records, then every hub's
 *                   sub-node codes (2^lvl - 1 a direction, in hub order)
 *          DETECT   the hub detector's counters
 *          IDS      { code, len, bytes } records
 *
 * Every section starts 64-byte aligned (MATRIX page aligned) and carries an
 * XXH3-64 checksum in the header's section table. A reader must check the
 * header checksum before trusting any field, and each section's bounds
 * before touching it. Used by gss/persist.c and the file fuzzer only.
 */
#ifndef GSS_FORMAT_H
#define GSS_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#define GSS_MAGIC	 "GSSKETCH"
#define GSS_FILE_VERSION 1
#define GSS_ENDIAN_MARK	 0x01020304u
#define GSS_MATRIX_OFF	 4096

enum {
	SEC_MATRIX = 0,
	SEC_MASK,
	SEC_BUFFER,
	SEC_SPILLS,
	SEC_HUBS,
	SEC_DETECT,
	SEC_IDS,
	SEC_COUNT,
};

struct gss_file_section {
	uint64_t offset;   /* from the start of the file */
	uint64_t length;   /* bytes */
	uint64_t checksum; /* XXH3-64 of the bytes */
};

struct gss_file_header {
	char magic[8];	       /* "GSSKETCH" */
	uint32_t version;      /* GSS_FILE_VERSION */
	uint32_t header_bytes; /* sizeof(struct gss_file_header) */
	uint32_t endian;       /* GSS_ENDIAN_MARK as written by the host */
	uint32_t flags;	       /* enum gss_flags at creation, minus GSS_F_THREADSAFE */
	uint32_t fp0;	       /* fingerprint bits at width m0 */
	uint32_t m0;	       /* width at creation */
	uint32_t r, k;	       /* addresses, candidates */
	uint32_t level;	       /* doublings since creation */
	uint32_t mask_bits;    /* log2 of the query index size */
	uint32_t cm_bits;      /* log2 of a detector row */
	uint32_t reserved;     /* 0 */
	uint64_t seed;	       /* hash seed */
	uint64_t rooms_used;   /* occupied rooms */
	uint64_t updates;      /* statistics carried across saves */
	uint64_t kicks;
	uint64_t migrated;
	uint64_t nbuffer; /* records in BUFFER */
	uint64_t nspills; /* records in SPILLS */
	uint64_t nhubs;	  /* records in HUBS */
	uint64_t nids;	  /* records in IDS */
	struct gss_file_section sec[SEC_COUNT];
	uint64_t header_checksum; /* XXH3-64 of this header with this field zero */
};

_Static_assert(sizeof(struct gss_file_header) <= GSS_MATRIX_OFF,
	       "header must fit before the matrix");
_Static_assert(sizeof(struct gss_file_header) % 8 == 0, "no tail padding");

struct rec_edge {
	uint64_t a, b; /* s, d (buffer) or sid, did (spills) */
	int64_t w;
};

struct rec_hub {
	uint64_t code;
	uint32_t lvl[2];
};

_Static_assert(offsetof(struct gss_file_header, header_checksum) + sizeof(uint64_t) ==
		       sizeof(struct gss_file_header),
	       "the checksum closes the header");

#endif /* GSS_FORMAT_H */
