// SPDX-License-Identifier: MIT
/*
 * Description: hostile-peer fuzzer for the tsord-to-tsord transport's
 * parsers (tsor/xport.h): the input is what a peer node sends.
 *
 *   - As a frame stream: each header goes through tsor_xhdr_decode(); a
 *     header it accepts must re-encode to the same 24 bytes (one encoding
 *     per frame), obey its type's length and credit rules, and an OPEN's
 *     payload through tsor_xopen_decode() must give addresses of one
 *     family with non-zero ports that re-encode to the same bytes.
 *   - As verbs immediates (the first byte picks the ring size): each u32
 *     drives the receiver's and the sender's ring counters through
 *     tsor_vimm_decode(), tsor_vring_arrive()/_credit(); whatever the
 *     peer claims, the receiver never holds more than its ring, a segment
 *     never crosses the ring's end, and the sender's room never exceeds
 *     the ring.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "tsor-int.h"
#include "xport.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void frames(const uint8_t *p, size_t n)
{
	while (n >= TSOR_XHDR_SIZE) {
		struct tsor_xhdr h;
		uint8_t again[TSOR_XHDR_SIZE];
		size_t len;

		if (tsor_xhdr_decode(p, &h)) {
			p++; /* resynchronise one byte on: explores more headers */
			n--;
			continue;
		}
		tsor_xhdr_encode(&h, again);
		CHECK(!memcmp(again, p, TSOR_XHDR_SIZE));
		CHECK(h.type < TSOR_X_TYPE_COUNT);
		CHECK(h.len <= TSOR_XDATA_MAX);
		CHECK(h.type == TSOR_X_HELLO || h.stream);
		p += TSOR_XHDR_SIZE;
		n -= TSOR_XHDR_SIZE;
		len = h.len < n ? h.len : n;
		if (h.type == TSOR_X_OPEN && len == TSOR_XOPEN_SIZE) {
			struct tsor_addr c, s;
			uint8_t enc[TSOR_XOPEN_SIZE];

			if (!tsor_xopen_decode(p, &c, &s)) {
				CHECK(c.family == s.family && c.port && s.port);
				tsor_xopen_encode(&c, &s, enc);
				CHECK(!memcmp(enc, p, sizeof(enc)));
			}
		}
		p += len;
		n -= len;
	}
}

static void immediates(const uint8_t *p, size_t n)
{
	uint32_t size = 4096u << (n ? p[0] % 8 : 0);
	struct tsor_vring_rx rx = { .size = size };
	struct tsor_vring_tx tx = { .size = size };

	if (n)
		p++, n--;
	while (n >= 4) {
		uint32_t imm =
			(uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
		struct tsor_vseg seg[2];
		bool credit;
		uint32_t len;

		p += 4;
		n -= 4;
		if (tsor_vimm_decode(imm, size, &credit, &len))
			continue;
		CHECK(len && len <= size);
		if (credit) {
			(void)tsor_vring_credit(&tx, len);
		} else if (!tsor_vring_arrive(&rx, len, seg)) {
			CHECK(seg[0].off + seg[0].len <= size);
			CHECK(rx.tail - rx.head <= size);
		}
		/* The local side acts too, within its own rules. */
		if (imm & 1)
			(void)tsor_vring_consume(&rx, (rx.tail - rx.head) / 2);
		(void)tsor_vring_credit_due(&rx);
		if (imm & 2 && tsor_vring_room(&tx)) {
			int k = tsor_vring_plan(&tx, tsor_vring_room(&tx) / 2 + 1, seg);

			CHECK(k == 1 || k == 2);
			for (int i = 0; i < k; i++)
				CHECK(seg[i].off + seg[i].len <= size);
			(void)tsor_vring_done(&tx, tx.tail - tx.done);
		}
		CHECK(tsor_vring_room(&tx) <= size);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	frames(data, size);
	immediates(data, size);
	return 0;
}
